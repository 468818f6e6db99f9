/* See creds.h.
 *
 * DESIGN
 * - The opened values live only in the deployments' key blocks (providers/common.c) and,
 *   briefly, in sodium_malloc memory while being applied; this object keeps the master key and,
 *   per credential name the config uses, the updated_us it last applied — so a refresh applies
 *   only what another replica changed and never reverts a newer local change: put, delete and
 *   refresh each hold the mutex across their store call and the apply.
 * - The rekey command writes the new key to "<key file>.new" (0600, atomically) BEFORE the
 *   database changes, so a crash between the two never loses the key that seals the rows; the
 *   key file is replaced (atomically) after the database statement succeeded, and only then
 *   is the .new file removed. */
#include "creds.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "providers/provider.h"

#define EXIT_CONFIG 2
#define EXIT_RUNTIME 1

typedef struct applied {
    const char *name;   /* borrowed from the config */
    int64_t updated_us; /* of the row last applied; 0: none (not set) */
} applied_t;

struct sy_creds {
    sy_master_key_t key;
    sy_config_t *cfg;
    sy_store_t *store;
    pthread_mutex_t mu;
    applied_t *applied; /* one per distinct credential name in the config */
    size_t n_applied;
};

static const char *data_dir_of(const sy_config_t *cfg)
{
    return cfg->data_dir ? cfg->data_dir : "./data";
}

static void key_path(const sy_config_t *cfg, char *out, size_t n)
{
    if (cfg->master_key_file)
        snprintf(out, n, "%s", cfg->master_key_file);
    else
        snprintf(out, n, "%s/%s", data_dir_of(cfg), SY_SECRETS_KEY_FILE);
}

static applied_t *applied_of(sy_creds_t *c, const char *name)
{
    for (size_t i = 0; i < c->n_applied; i++)
        if (!strcmp(c->applied[i].name, name)) return &c->applied[i];
    return NULL;
}

/* Sets value (NULL: clears) on every deployment using name. */
static void apply(sy_creds_t *c, const char *name, const char *value, size_t n)
{
    for (size_t i = 0; i < c->cfg->n_models; i++)
        for (size_t j = 0; j < c->cfg->models[i].n_deployments; j++) {
            sy_deploy_conf_t *d = &c->cfg->models[i].deployments[j];
            if (d->credential && !strcmp(d->credential, name)) sy_provider_key_set(d, value, n);
        }
}

json_t *sy_creds_users(const sy_creds_t *c, const char *name)
{
    json_t *a = json_array();
    for (size_t i = 0; c && i < c->cfg->n_models; i++)
        for (size_t j = 0; j < c->cfg->models[i].n_deployments; j++) {
            const sy_deploy_conf_t *d = &c->cfg->models[i].deployments[j];
            if (d->credential && !strcmp(d->credential, name))
                json_array_append_new(a, json_string(d->id));
        }
    return a;
}

sy_store_t *sy_creds_store(const sy_creds_t *c)
{
    return c->store;
}

const char *sy_creds_key_id(const sy_creds_t *c)
{
    return c->key.id;
}

/* Reads, opens and applies one credential (mutex held). SY_ERR_NOT_FOUND: not stored (the
 * deployments' keys are cleared). */
static sy_err_t load_one(sy_creds_t *c, applied_t *a, bool only_if_changed, char *msg,
                         size_t msglen)
{
    sy_app_cred_t *row = NULL;
    sy_err_t err = sy_app_cred_get(c->store, a->name, &row, msg, msglen);
    if (err == SY_ERR_NOT_FOUND) {
        if (a->updated_us) apply(c, a->name, NULL, 0);
        a->updated_us = 0;
        return err;
    }
    if (err) return err;
    if (only_if_changed && row->updated_us == a->updated_us) {
        sy_app_cred_free(row);
        return SY_OK;
    }
    char *plain = NULL;
    size_t n = 0;
    err = sy_secrets_open(&c->key, a->name, row->key_id, row->nonce, row->ciphertext, &plain, &n,
                          msg, msglen);
    if (!err) {
        apply(c, a->name, plain, n);
        a->updated_us = row->updated_us;
    }
    sy_secrets_free(plain);
    sy_app_cred_free(row);
    return err;
}

static const sy_deploy_conf_t *first_user(const sy_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_models; i++)
        for (size_t j = 0; j < cfg->models[i].n_deployments; j++)
            if (cfg->models[i].deployments[j].credential &&
                !strcmp(cfg->models[i].deployments[j].credential, name))
                return &cfg->models[i].deployments[j];
    return NULL;
}

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "switchyard: cannot create the data directory %s: %s\n", dir, strerror(errno));
    return EXIT_RUNTIME;
}

/* The master key for serve (create: true) and rekey (false). */
static int load_key(const sy_config_t *cfg, bool create, sy_master_key_t *k, char *path,
                    size_t pathlen, bool *from_env)
{
    key_path(cfg, path, pathlen);
    const char *env = getenv(SY_SECRETS_ENV);
    if (env && !*env) env = NULL;
    *from_env = env != NULL;
    if (!env && create && !cfg->master_key_file && make_dir(data_dir_of(cfg))) return EXIT_RUNTIME;
    bool created = false;
    char msg[1024];
    sy_err_t err = sy_secrets_key_load(env, path, create, k, &created, msg, sizeof msg);
    if (err) {
        fprintf(stderr, "switchyard: master key: %s\n", msg);
        return err == SY_ERR_CONFIG || err == SY_ERR_NOT_FOUND ? EXIT_CONFIG : EXIT_RUNTIME;
    }
    if (created)
        fprintf(stderr,
                "switchyard: created the master key file %s (mode 0600): back it up; without "
                "it the stored provider credentials cannot be opened\n",
                path);
    return 0;
}

int sy_creds_start(sy_creds_t **out, sy_config_t *cfg, sy_store_t *store)
{
    *out = NULL;
    if (cfg->auth.mode != SY_AUTH_REQUIRED && !cfg->uses_credentials) return 0;
    if (!store || !(store->vt->caps & SY_STORE_CAP_APPDATA)) {
        if (!cfg->uses_credentials) return 0; /* auth refuses this store by itself */
        const sy_deploy_conf_t *d = NULL;
        for (size_t i = 0; !d && i < cfg->n_models; i++)
            for (size_t j = 0; !d && j < cfg->models[i].n_deployments; j++)
                if (cfg->models[i].deployments[j].credential) d = &cfg->models[i].deployments[j];
        fprintf(stderr,
                "%s:%d: api_key: credentials are kept in the store, which needs log.store sqlite: "
                "or postgres:// (and log.enabled true)\n",
                cfg->path, d->line);
        return EXIT_CONFIG;
    }
    sy_creds_t *c = sy_xcalloc(1, sizeof *c);
    c->cfg = cfg;
    c->store = store;
    pthread_mutex_init(&c->mu, NULL);
    char path[4096];
    bool from_env;
    int rc = load_key(cfg, true, &c->key, path, sizeof path, &from_env);
    if (rc) goto fail;
    size_t total = 0;
    for (size_t i = 0; i < cfg->n_models; i++)
        total += cfg->models[i].n_deployments;
    c->applied = sy_xcalloc(total ? total : 1, sizeof *c->applied);
    for (size_t i = 0; i < cfg->n_models; i++)
        for (size_t j = 0; j < cfg->models[i].n_deployments; j++) {
            const char *name = cfg->models[i].deployments[j].credential;
            if (name && !applied_of(c, name))
                c->applied[c->n_applied++] = (applied_t){.name = name};
        }
    for (size_t i = 0; i < c->n_applied; i++) {
        char msg[1024];
        const sy_deploy_conf_t *d = first_user(cfg, c->applied[i].name);
        sy_err_t err = load_one(c, &c->applied[i], false, msg, sizeof msg);
        if (err == SY_ERR_NOT_FOUND) {
            fprintf(stderr,
                    "%s:%d: api_key: warning: credential '%s' is not set: deployment '%s' answers "
                    "503 until an admin sets it (PUT /api/v1/credentials/%s)\n",
                    cfg->path, d->line, c->applied[i].name, d->id, c->applied[i].name);
        } else if (err) {
            fprintf(stderr, "%s:%d: api_key: %s\n", cfg->path, d->line, msg);
            rc = err == SY_ERR_STORE ? EXIT_RUNTIME : EXIT_CONFIG;
            goto fail;
        }
    }
    *out = c;
    return 0;
fail:
    sy_creds_free(c);
    return rc;
}

void sy_creds_free(sy_creds_t *c)
{
    if (!c) return;
    sy_secrets_key_wipe(&c->key);
    pthread_mutex_destroy(&c->mu);
    free(c->applied);
    free(c);
}

sy_err_t sy_creds_put(sy_creds_t *c, const char *name, const char *provider, const char *value,
                      size_t n, const char *actor, int64_t now_us, bool *created,
                      sy_app_cred_t **out, char *msg, size_t msglen)
{
    sy_sealed_t s;
    sy_secrets_seal(&c->key, value, n, &s);
    char last4[5];
    sy_secrets_last4(value, n, last4);
    sy_app_cred_t row = {.name = (char *)name,
                         .provider = (char *)provider,
                         .ciphertext = s.ciphertext,
                         .nonce = s.nonce,
                         .key_id = s.key_id,
                         .last4 = last4[0] ? last4 : NULL,
                         .updated_us = now_us,
                         .updated_by = (char *)actor};
    pthread_mutex_lock(&c->mu);
    sy_err_t err = sy_app_cred_put(c->store, &row, created, msg, msglen);
    if (!err) err = sy_app_cred_get(c->store, name, out, msg, msglen);
    if (!err) {
        apply(c, name, value, n);
        applied_t *a = applied_of(c, name);
        if (a) a->updated_us = (*out)->updated_us;
    }
    pthread_mutex_unlock(&c->mu);
    sy_secrets_sealed_dispose(&s);
    return err;
}

sy_err_t sy_creds_delete(sy_creds_t *c, const char *name, char *msg, size_t msglen)
{
    pthread_mutex_lock(&c->mu);
    sy_err_t err = sy_app_cred_delete(c->store, name, msg, msglen);
    if (!err) {
        apply(c, name, NULL, 0);
        applied_t *a = applied_of(c, name);
        if (a) a->updated_us = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return err;
}

void sy_creds_refresh(sy_creds_t *c)
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_applied; i++) {
        char msg[1024];
        sy_err_t err = load_one(c, &c->applied[i], true, msg, sizeof msg);
        if (err && err != SY_ERR_NOT_FOUND)
            sy_log_warn("credential refresh: %s", msg); /* the key in use stays */
    }
    pthread_mutex_unlock(&c->mu);
}

/* ---- rekey ---- */

static int rekey_usage(const char *what)
{
    fprintf(stderr,
            "switchyard: rekey: %s (usage: switchyard rekey --config FILE [--new-key-file F]; "
            "or the new key in SWITCHYARD_NEW_MASTER_KEY)\n",
            what);
    return EXIT_CONFIG;
}

int sy_creds_rekey_main(int argc, char **argv)
{
    const char *config_path = NULL, *new_file = NULL;
    for (int i = 0; i < argc; i++) {
        if (i + 1 >= argc) return rekey_usage("an option needs a value");
        if (!strcmp(argv[i], "--config"))
            config_path = argv[++i];
        else if (!strcmp(argv[i], "--new-key-file"))
            new_file = argv[++i];
        else
            return rekey_usage("unknown option");
    }
    if (!config_path) return rekey_usage("--config is required");
    const char *new_env = getenv(SY_SECRETS_NEW_ENV);
    if (new_env && !*new_env) new_env = NULL;
    if (new_env && new_file) return rekey_usage("give the new key one way, not both");
    sy_conf_err_t cerr;
    sy_config_t *cfg = sy_config_load(config_path, &cerr);
    if (!cfg) {
        fprintf(stderr, "%s\n", cerr.msg);
        return EXIT_CONFIG;
    }
    int rc = EXIT_CONFIG;
    sy_store_t *store = NULL;
    sy_app_cred_t **v = NULL, **redo = NULL;
    size_t n = 0;
    sy_master_key_t oldk, newk;
    memset(&oldk, 0, sizeof oldk);
    memset(&newk, 0, sizeof newk);
    char path[4096], newpath[4200] = "", msg[1024];
    bool old_env;
    if ((rc = load_key(cfg, false, &oldk, path, sizeof path, &old_env))) goto out;
    rc = EXIT_CONFIG;
    bool generated = false;
    if (new_env || new_file) {
        bool created;
        if (sy_secrets_key_load(new_env, new_file, false, &newk, &created, msg, sizeof msg)) {
            fprintf(stderr, "switchyard: rekey: new master key: %s\n", msg);
            goto out;
        }
    } else if (old_env) {
        fprintf(stderr,
                "switchyard: rekey: the master key comes from %s: give the new one in "
                "%s or --new-key-file (a generated key would have nowhere to go)\n",
                SY_SECRETS_ENV, SY_SECRETS_NEW_ENV);
        goto out;
    } else {
        sy_secrets_key_generate(&newk);
        generated = true;
    }
    if (!strcmp(newk.id, oldk.id)) {
        fprintf(stderr, "switchyard: rekey: the new master key is the current one\n");
        goto out;
    }
    if (!cfg->log.enabled) {
        fprintf(stderr, "switchyard: rekey: log.enabled is false: there is no store\n");
        goto out;
    }
    sy_store_conf_t sc = {.url = cfg->log.store_url ? cfg->log.store_url : "sqlite:",
                          .data_dir = data_dir_of(cfg)};
    sy_err_t err = sy_store_open_migrated(&sc, &store, msg, sizeof msg);
    if (err || !(store->vt->caps & SY_STORE_CAP_APPDATA)) {
        fprintf(stderr, "switchyard: rekey: store: %s\n",
                err ? msg : "this store cannot hold credentials");
        rc = err == SY_ERR_STORE ? EXIT_RUNTIME : EXIT_CONFIG;
        goto out;
    }
    if ((err = sy_app_cred_list(store, &v, &n, msg, sizeof msg))) {
        fprintf(stderr, "switchyard: rekey: %s\n", msg);
        rc = EXIT_RUNTIME;
        goto out;
    }
    size_t todo = 0, already = 0;
    redo = sy_xcalloc(n ? n : 1, sizeof *redo);
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(v[i]->key_id, newk.id)) {
            already++;
            continue;
        }
        char *plain = NULL;
        size_t pn = 0;
        if (sy_secrets_open(&oldk, v[i]->name, v[i]->key_id, v[i]->nonce, v[i]->ciphertext, &plain,
                            &pn, msg, sizeof msg)) {
            fprintf(stderr, "switchyard: rekey: %s; nothing was changed\n", msg);
            goto out;
        }
        sy_sealed_t s;
        sy_secrets_seal(&newk, plain, pn, &s);
        sy_secrets_free(plain);
        free(v[i]->ciphertext);
        free(v[i]->nonce);
        v[i]->ciphertext = s.ciphertext;
        v[i]->nonce = s.nonce;
        redo[todo++] = v[i]; /* owned by v */
    }
    /* the new key is on disk before any row depends on it */
    if (!(old_env && (new_env || new_file))) {
        snprintf(newpath, sizeof newpath, "%s.new", path);
        if (sy_secrets_key_write(newpath, &newk, msg, sizeof msg)) {
            fprintf(stderr, "switchyard: rekey: %s; nothing was changed\n", msg);
            newpath[0] = '\0';
            rc = EXIT_RUNTIME;
            goto out;
        }
    }
    int64_t changed = 0;
    if ((err = sy_app_cred_rekey(store, redo, todo, oldk.id, newk.id, &changed, msg, sizeof msg))) {
        fprintf(stderr, "switchyard: rekey: %s\n", msg);
        if (newpath[0]) unlink(newpath);
        rc = EXIT_RUNTIME;
        goto out;
    }
    if (newpath[0]) {
        /* atomic replace of the key file; the .new copy goes only once that worked */
        if (sy_secrets_key_write(path, &newk, msg, sizeof msg)) {
            fprintf(stderr,
                    "switchyard: rekey: the credentials are sealed under the new key, which is in "
                    "%s, but %s; move that file to %s by hand before starting\n",
                    newpath, msg, path);
            rc = EXIT_RUNTIME;
            goto out;
        }
        unlink(newpath);
    }
    printf("rekey: %lld credential%s re-encrypted under master key %s (was %s)%s\n",
           (long long)changed, changed == 1 ? "" : "s", newk.id, oldk.id,
           already ? "; some were already under the new key" : "");
    if (!old_env)
        printf("rekey: %s now holds the new key%s\n", path, generated ? " (generated)" : "");
    else
        printf("rekey: set %s to the new key before starting the gateway\n", SY_SECRETS_ENV);
    rc = 0;
out:
    free(redo);
    sy_app_cred_list_free(v, n);
    if (store) sy_store_close(store);
    sy_secrets_key_wipe(&oldk);
    sy_secrets_key_wipe(&newk);
    sy_config_free(cfg);
    return rc;
}
