/* switchyard: command line, config, loop threads, signals. Thin by design. */
#include <curl/curl.h>
#include <jansson.h>
#include <llhttp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api/admission.h"
#include "api/metrics.h"
#include "conf/config.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "creds.h"
#include "inflog.h"
#include "policy/auth.h"
#include "providers/provider.h"
#include "routing/route.h"
#include "store/appchat.h"
#include "worker.h"

#define EXIT_USAGE 2

static const char usage[] =
    "usage: switchyard <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve [--config FILE] [--listen HOST:PORT] [--workers N] [--log-level LEVEL]\n"
    "        [--log-format json|text]\n"
    "                        run the gateway (default config: switchyard.yaml)\n"
    "  check-config FILE     validate a config file and exit\n"
    "  rekey --config FILE [--new-key-file F]\n"
    "                        re-encrypt the stored provider credentials under a new master\n"
    "                        key (F, or SWITCHYARD_NEW_MASTER_KEY, or a generated one) and\n"
    "                        replace the key file; stop the gateways first\n"
    "  version               print the version and library versions\n"
    "  --help                show this help\n"
    "\n"
    "LEVEL is one of debug, info, warn, error. Exit codes: 0 ok, 1 runtime failure,\n"
    "2 usage or configuration error.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "switchyard: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see switchyard --help)\n");
    return EXIT_USAGE;
}

static sy_config_t *load_config(const char *path)
{
    sy_conf_err_t err;
    sy_config_t *cfg = sy_config_load(path, &err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.msg); /* FILE:LINE: KEY: message, as compilers print */
        return NULL;
    }
    char msg[768];
    if (!sy_provider_resolve(cfg, msg, sizeof msg)) {
        fprintf(stderr, "%s\n", msg);
        sy_provider_release(cfg);
        sy_config_free(cfg);
        return NULL;
    }
    sy_route_init(cfg);
    sy_metrics_init(cfg);
    return cfg;
}

static int cmd_version(void)
{
    printf("switchyard %s (libuv %s, %s, jansson %s, llhttp %d.%d.%d)\n", SY_VERSION,
           uv_version_string(), curl_version(), JANSSON_VERSION, LLHTTP_VERSION_MAJOR,
           LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
    return 0;
}

static int cmd_check_config(int argc, char **argv)
{
    if (argc != 1) return usage_error("check-config takes exactly one FILE%s", "");
    sy_config_t *cfg = load_config(argv[0]);
    if (!cfg) return EXIT_USAGE;
    int rc = sy_inflog_check(cfg);
    if (rc) {
        sy_provider_release(cfg);
        sy_config_free(cfg);
        return rc;
    }
    printf("%s: ok (%zu model%s)\n", argv[0], cfg->n_models, cfg->n_models == 1 ? "" : "s");
    sy_provider_release(cfg);
    sy_config_free(cfg);
    return 0;
}

typedef struct server_state {
    sy_worker_t *workers;
    int n;
    int signals;
    uv_signal_t sigterm, sigint;
    uv_timer_t *refresh; /* credentials refresh, or NULL */
    uv_timer_t *sweep;   /* chat answers left streaming by a dead process, or NULL */
} server_state_t;

typedef struct refresh {
    uv_timer_t timer;
    uv_work_t work;
    bool busy;
    sy_creds_t *creds;
} refresh_t;

static void on_refresh_work(uv_work_t *w)
{
    refresh_t *r = w->data;
    sy_creds_refresh(r->creds); /* blocks on the store: thread pool */
}

static void on_refresh_done(uv_work_t *w, int status)
{
    (void)status;
    refresh_t *r = w->data;
    r->busy = false;
}

static void on_refresh_timer(uv_timer_t *t)
{
    refresh_t *r = t->data;
    if (r->busy) return;
    r->work.data = r;
    if (uv_queue_work(t->loop, &r->work, on_refresh_work, on_refresh_done) == 0) r->busy = true;
}

/* Chat answers left "streaming" by a process that died (this one before a restart, or another
 * replica on the same database): those whose row has not been written for SY_CHAT_STALE_MS
 * become "error" (docs/internals/CHAT.md, "Store writes"). At start-up and every
 * SY_CHAT_SWEEP_MS, on the thread pool. */
typedef struct sweep {
    uv_timer_t timer;
    uv_work_t work;
    bool busy;
    sy_store_t *store;
} sweep_t;

static void sweep_stale(sy_store_t *store)
{
    char msg[SY_STORE_MSGLEN];
    int64_t n = 0;
    int64_t before = (int64_t)sy_clock_wall_ms() * 1000 - SY_CHAT_STALE_MS * 1000ll;
    if (sy_app_msg_interrupt_stale(store, before, &n, msg, sizeof msg))
        sy_log_warn("chat: marking interrupted answers failed: %s", msg);
    else if (n)
        sy_log_info("chat: %lld answer(s) left streaming by a stopped process marked as error",
                    (long long)n);
}

static void on_sweep_work(uv_work_t *w)
{
    sweep_stale(((sweep_t *)w->data)->store);
}

static void on_sweep_done(uv_work_t *w, int status)
{
    (void)status;
    ((sweep_t *)w->data)->busy = false;
}

static void on_sweep_timer(uv_timer_t *t)
{
    sweep_t *sw = t->data;
    if (sw->busy) return;
    sw->work.data = sw;
    if (uv_queue_work(t->loop, &sw->work, on_sweep_work, on_sweep_done) == 0) sw->busy = true;
}

static void on_signal(uv_signal_t *h, int signum)
{
    server_state_t *st = h->data;
    st->signals++;
    sy_log_info("received %s, %s", signum == SIGTERM ? "SIGTERM" : "SIGINT",
                st->signals == 1 ? "draining" : "stopping now");
    for (int i = 0; i < st->n; i++)
        sy_worker_command(&st->workers[i], st->signals == 1 ? SY_WORKER_DRAIN : SY_WORKER_STOP);
    if (st->signals == 1) return;
    uv_close((uv_handle_t *)&st->sigterm, NULL);
    uv_close((uv_handle_t *)&st->sigint, NULL);
}

typedef struct joiner {
    uv_thread_t thread;
    server_state_t *st;
    uv_async_t *done;
} joiner_t;

static void join_all(void *arg)
{
    joiner_t *j = arg;
    for (int i = 0; i < j->st->n; i++)
        sy_worker_join(&j->st->workers[i]);
    uv_async_send(j->done);
}

static void on_all_joined(uv_async_t *a)
{
    server_state_t *st = a->data;
    if (!uv_is_closing((uv_handle_t *)&st->sigterm)) uv_close((uv_handle_t *)&st->sigterm, NULL);
    if (!uv_is_closing((uv_handle_t *)&st->sigint)) uv_close((uv_handle_t *)&st->sigint, NULL);
    if (st->refresh) uv_close((uv_handle_t *)st->refresh, NULL);
    if (st->sweep) uv_close((uv_handle_t *)st->sweep, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static bool parse_level(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            sy_log_min_level = (sy_log_level_t)i;
            return true;
        }
    return false;
}

static int cmd_serve(int argc, char **argv)
{
    const char *config_path = "switchyard.yaml";
    const char *listen = NULL;
    long workers = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--config") || !strcmp(a, "--listen") || !strcmp(a, "--workers") ||
            !strcmp(a, "--log-level") || !strcmp(a, "--log-format")) {
            if (!val) return usage_error("option '%s' needs a value", a);
            i++;
            if (!strcmp(a, "--config"))
                config_path = val;
            else if (!strcmp(a, "--listen"))
                listen = val;
            else if (!strcmp(a, "--log-format")) {
                if (!strcmp(val, "json"))
                    sy_log_format = SY_LOG_JSON;
                else if (!strcmp(val, "text"))
                    sy_log_format = SY_LOG_TEXT;
                else
                    return usage_error("bad --log-format '%s' (json, text)", val);
            } else if (!strcmp(a, "--log-level")) {
                if (!parse_level(val))
                    return usage_error("bad --log-level '%s' (debug, info, warn, error)", val);
            } else {
                char *end;
                workers = strtol(val, &end, 10);
                if (*end || end == val || workers < 1 || workers > 256)
                    return usage_error("bad --workers '%s' (1..256)", val);
            }
        } else {
            return usage_error("unknown option '%s' for serve", a);
        }
    }
    sy_config_t *cfg = load_config(config_path);
    if (!cfg) return EXIT_USAGE;
    if (listen && !sy_config_parse_listen(cfg, listen)) {
        sy_provider_release(cfg);
        sy_config_free(cfg);
        return usage_error("bad --listen '%s' (HOST:PORT)", listen);
    }
    if (workers > 0) cfg->workers = (int)workers;

    sy_inflog_t inflog;
    int lrc = sy_inflog_start(&inflog, cfg, (size_t)cfg->workers);
    if (lrc) {
        sy_provider_release(cfg);
        sy_config_free(cfg);
        return lrc;
    }

    /* before the first-start admin: a refused master key must not cost its one-time secrets */
    sy_creds_t *creds = NULL;
    int crc = sy_creds_start(&creds, cfg, inflog.store);
    if (crc) {
        sy_inflog_stop(&inflog);
        sy_provider_release(cfg);
        sy_config_free(cfg);
        return crc;
    }

    sy_auth_t *auth = NULL;
    if (cfg->auth.mode == SY_AUTH_REQUIRED) {
        char msg[SY_STORE_MSGLEN];
        if (!inflog.store || !(inflog.store->vt->caps & SY_STORE_CAP_APPDATA)) {
            fprintf(stderr, "switchyard: auth.mode required keeps users and API keys in the store, "
                            "which needs log.store sqlite: or postgres:// (and log.enabled true); "
                            "or set auth: {mode: local} for single-user use without keys\n");
            sy_creds_free(creds);
            sy_inflog_stop(&inflog);
            sy_provider_release(cfg);
            sy_config_free(cfg);
            return EXIT_USAGE;
        }
        auth = sy_auth_new(&cfg->auth, inflog.store);
        if (sy_auth_bootstrap(auth, stderr, msg, sizeof msg)) {
            fprintf(stderr, "switchyard: first-start admin: %s\n", msg);
            sy_auth_free(auth);
            sy_creds_free(creds);
            sy_inflog_stop(&inflog);
            sy_provider_release(cfg);
            sy_config_free(cfg);
            return 1;
        }
        sweep_stale(inflog.store); /* before the workers start; then every SY_CHAT_SWEEP_MS */
    }

    sy_admission_t *admission = sy_admission_new(cfg, cfg->workers);
    server_state_t st = {.n = cfg->workers};
    st.workers = sy_xcalloc((size_t)st.n, sizeof *st.workers);
    int started = 0, rc = 0;
    for (; started < st.n; started++) {
        int r = sy_worker_start(&st.workers[started], started, cfg, inflog.pipe, inflog.store, auth,
                                admission, creds);
        if (r) {
            fprintf(stderr, "switchyard: cannot listen on %s:%d: %s\n", cfg->listen_host,
                    cfg->listen_port, uv_strerror(r));
            rc = 1;
            break;
        }
    }
    uv_loop_t *loop = uv_default_loop();
    uv_signal_init(loop, &st.sigterm);
    uv_signal_init(loop, &st.sigint);
    st.sigterm.data = st.sigint.data = &st;
    uv_signal_start(&st.sigterm, on_signal, SIGTERM);
    uv_signal_start(&st.sigint, on_signal, SIGINT);
    /* credentials changed by another replica: re-read them now and then (docs/internals/SECRETS.md)
     */
    refresh_t refresh = {.creds = creds};
    if (creds && cfg->uses_credentials && cfg->secrets_refresh_s) {
        uv_timer_init(loop, &refresh.timer);
        refresh.timer.data = &refresh;
        uv_timer_start(&refresh.timer, on_refresh_timer, cfg->secrets_refresh_s * 1000ull,
                       cfg->secrets_refresh_s * 1000ull);
        st.refresh = &refresh.timer;
    }
    sweep_t sweep = {.store = inflog.store};
    if (auth) {
        uv_timer_init(loop, &sweep.timer);
        sweep.timer.data = &sweep;
        uv_timer_start(&sweep.timer, on_sweep_timer, SY_CHAT_SWEEP_MS, SY_CHAT_SWEEP_MS);
        st.sweep = &sweep.timer;
    }
    st.n = started;
    if (rc) {
        for (int i = 0; i < st.n; i++)
            sy_worker_command(&st.workers[i], SY_WORKER_STOP);
    } else {
        fprintf(stderr, "switchyard: listening on http://%s%s%s:%d (%d worker%s)\n",
                strchr(cfg->listen_host, ':') ? "[" : "", cfg->listen_host,
                strchr(cfg->listen_host, ':') ? "]" : "", cfg->listen_port, st.n,
                st.n == 1 ? "" : "s");
    }
    /* join the workers on a helper thread so that the main loop keeps handling signals */
    uv_async_t done;
    uv_async_init(loop, &done, on_all_joined);
    done.data = &st;
    joiner_t j = {.st = &st, .done = &done};
    uv_thread_create(&j.thread, join_all, &j);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_thread_join(&j.thread);
    uv_loop_close(loop);
    free(st.workers);
    sy_creds_free(creds); /* the loop has run to its end: no refresh job is left */
    sy_auth_free(auth);
    sy_inflog_stop(&inflog);      /* every worker has been joined: no producer left */
    sy_admission_free(admission); /* after the writer settled every reservation */
    sy_provider_release(cfg);
    sy_config_free(cfg);
    if (!rc) sy_log_info("stopped");
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        if (argc > 2) return usage_error("version takes no arguments%s", "");
        return cmd_version();
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    if (!strcmp(cmd, "serve"))
        rc = cmd_serve(argc - 2, argv + 2);
    else if (!strcmp(cmd, "rekey"))
        rc = sy_creds_rekey_main(argc - 2, argv + 2);
    else if (!strcmp(cmd, "check-config"))
        rc = cmd_check_config(argc - 2, argv + 2);
    else
        rc = usage_error("unknown command '%s'", cmd);
    curl_global_cleanup();
    return rc;
}
