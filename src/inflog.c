/* See inflog.h. */
#include "inflog.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/metrics.h"
#include "core/log.h"

#define EXIT_CONFIG 2
#define EXIT_RUNTIME 1

static const char *data_dir_of(const sy_config_t *cfg)
{
    return cfg->data_dir ? cfg->data_dir : "./data";
}

static int config_error(const sy_config_t *cfg, int line, const char *key, const char *msg)
{
    fprintf(stderr, "%s:%d: %s: %s\n", cfg->path ? cfg->path : "config", line, key, msg);
    return EXIT_CONFIG;
}

static int build_redactor(sy_inflog_t *l, const sy_config_t *cfg)
{
    const sy_logconf_t *lc = &cfg->log;
    sy_redact_conf_t rc;
    memset(&rc, 0, sizeof rc);
    char key[160], err[512];
    for (size_t i = 0; i < lc->n_redact_modes; i++) {
        const sy_conf_named_t *m = &lc->redact_modes[i];
        snprintf(key, sizeof key, "log.redact.%s", m->name);
        sy_redact_builtin_t b;
        sy_redact_mode_t mode;
        if (!sy_redact_builtin_from_name(m->name, &b)) {
            char names[512] = "unknown pattern (";
            for (int k = 0; k < SY_REDACT__BUILTIN_COUNT; k++) {
                strncat(names, sy_redact_builtin_name((sy_redact_builtin_t)k),
                        sizeof names - strlen(names) - 1);
                strncat(names, ", ", sizeof names - strlen(names) - 1);
            }
            strncat(names, "hash_key, custom)", sizeof names - strlen(names) - 1);
            return config_error(cfg, m->line, key, names);
        }
        if (!sy_redact_mode_from_name(m->value, &mode))
            return config_error(cfg, m->line, key, "mode must be mask, hash or off");
        rc.builtin[b] = mode;
    }
    sy_redact_custom_t custom[SY_REDACT_MAX_CUSTOM];
    if (lc->n_redact_custom > SY_REDACT_MAX_CUSTOM)
        return config_error(cfg, lc->redact_custom[SY_REDACT_MAX_CUSTOM].line, "log.redact.custom",
                            "too many custom patterns (at most 32)");
    for (size_t i = 0; i < lc->n_redact_custom; i++) {
        const sy_conf_redact_custom_t *c = &lc->redact_custom[i];
        custom[i] = (sy_redact_custom_t){.name = c->name, .regex = c->pattern, .label = c->label};
        if (c->mode && !sy_redact_mode_from_name(c->mode, &custom[i].mode)) {
            snprintf(key, sizeof key, "log.redact.custom[%zu].mode", i);
            return config_error(cfg, c->line, key, "mode must be mask, hash or off");
        }
    }
    rc.custom = custom;
    rc.ncustom = lc->n_redact_custom;
    if (lc->redact_hash_key) {
        if (sodium_init() < 0) return EXIT_RUNTIME;
        crypto_generichash(rc.hash_key, sizeof rc.hash_key,
                           (const unsigned char *)lc->redact_hash_key, strlen(lc->redact_hash_key),
                           NULL, 0);
        rc.hash_key_set = true;
    }
    l->redact = sy_redact_new(&rc, err, sizeof err);
    sodium_memzero(rc.hash_key, sizeof rc.hash_key);
    if (!l->redact) {
        /* the message names the pattern; point at the custom entry when it is one */
        int line = lc->line;
        snprintf(key, sizeof key, "log.redact");
        for (size_t i = 0; i < lc->n_redact_custom; i++)
            if (lc->redact_custom[i].name && strstr(err, lc->redact_custom[i].name)) {
                line = lc->redact_custom[i].line;
                snprintf(key, sizeof key, "log.redact.custom[%zu]", i);
                break;
            }
        return config_error(cfg, line, key, err);
    }
    return 0;
}

int sy_inflog_check(const sy_config_t *cfg)
{
    if (!cfg->log.enabled) return 0;
    sy_inflog_t l;
    memset(&l, 0, sizeof l);
    int rc = build_redactor(&l, cfg);
    sy_redact_free(l.redact);
    return rc;
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "switchyard: cannot create %s: %s\n", path, strerror(errno));
    return EXIT_RUNTIME;
}

int sy_inflog_start(sy_inflog_t *l, const sy_config_t *cfg, size_t n_workers)
{
    memset(l, 0, sizeof *l);
    const sy_logconf_t *lc = &cfg->log;
    if (!lc->enabled) return 0;
    int rc = build_redactor(l, cfg);
    if (rc) goto fail;
    const char *dd = data_dir_of(cfg);
    if ((rc = make_dir(dd))) goto fail;

    char msg[SY_STORE_MSGLEN];
    sy_store_conf_t sc = {.url = lc->store_url ? lc->store_url : "sqlite:", .data_dir = dd};
    sy_err_t err = sy_store_open_migrated(&sc, &l->store, msg, sizeof msg);
    if (err) {
        fprintf(stderr, "switchyard: log store: %s\n", msg);
        rc = err == SY_ERR_STORE_SCHEMA || err == SY_ERR_CONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
        goto fail;
    }

    char spool[4096];
    if (lc->spool_dir)
        snprintf(spool, sizeof spool, "%s", lc->spool_dir);
    else
        snprintf(spool, sizeof spool, "%s/spool", dd);
    l->enrich = (sy_log_enrich_t){.cfg = cfg,
                                  .redact = l->redact,
                                  .max_body_bytes = lc->max_body_bytes,
                                  .bodies = lc->bodies,
                                  .on_row = sy_metrics_log_row};
    sy_logpipe_conf_t pc = {
        .spool_dir = spool,
        .fsync = lc->fsync == SY_FSYNC_ALWAYS  ? SY_LOGPIPE_FSYNC_ALWAYS
                 : lc->fsync == SY_FSYNC_NEVER ? SY_LOGPIPE_FSYNC_NEVER
                                               : SY_LOGPIPE_FSYNC_EVERYSEC,
        .spool_max_bytes = lc->spool_max_bytes,
        .batch_rows = lc->batch_rows,
        .flush_ms = lc->batch_ms,
        .nice = (int)lc->writer_nice,
        .transform = sy_log_enrich_transform,
        .discard = sy_log_enrich_discard,
        .hook_ctx = &l->enrich,
    };
    err = sy_logpipe_new(&pc, l->store, n_workers, &l->pipe, msg, sizeof msg);
    if (err) {
        fprintf(stderr, "switchyard: log pipeline: %s\n", msg);
        rc = EXIT_RUNTIME;
        goto fail;
    }
    return 0;
fail:
    sy_inflog_stop(l);
    return rc;
}

void sy_inflog_stop(sy_inflog_t *l)
{
    sy_logpipe_free(l->pipe);
    if (l->store) sy_store_close(l->store);
    sy_redact_free(l->redact);
    memset(l, 0, sizeof *l);
}
