/* See metrics.h. */
#include "api/metrics.h"
#include "api/admission.h"

#include <stdatomic.h>
#include <string.h>

#include "api/api.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "logpipe/cost.h"
#include "logpipe/pipeline.h"
#include "policy/auth.h"
#include "routing/route.h"
#include "worker.h"

/* Bucket upper bounds. Latency and time to first byte in seconds; overhead in µs. */
static const double lat_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                    1,     2.5,  5,     10,   30,  60,   300};
#define N_LAT (sizeof lat_bounds / sizeof lat_bounds[0])
static const uint64_t ov_bounds_us[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000};
#define N_OV (sizeof ov_bounds_us / sizeof ov_bounds_us[0])
/* Auth + limits: fine below 10 µs (the in-process target is 5 µs at p99), coarse up to a Redis
 * round trip or a key-store miss. */
static const uint64_t pol_bounds_ns[] = {1000,    2000,    3000,     4000,     5000,   7500,
                                         10000,   25000,   50000,    100000,   250000, 500000,
                                         1000000, 2500000, 10000000, 100000000};
#define N_POL (sizeof pol_bounds_ns / sizeof pol_bounds_ns[0])

enum { CLASS_2XX, CLASS_4XX, CLASS_5XX, CLASS_499, N_CLASS };
static const char *const class_names[N_CLASS] = {"2xx", "4xx", "5xx", "499"};
static const char *const ingress_names[2] = {"openai", "anthropic"};
static const char *const error_names[SY_METRICS_ERR__COUNT] = {
    "none",        "invalid_request", "rate_limit",  "auth",      "upstream",
    "unreachable", "timeout",         "unavailable", "midstream", "cancelled",
};

typedef struct hist {
    atomic_ullong buckets[N_LAT + 1]; /* cumulative at render time, per bucket here */
    atomic_ullong sum_us;
    atomic_ullong count;
} hist_t;

typedef struct model_metrics {
    atomic_ullong requests[2][N_CLASS];
    atomic_ullong errors[SY_METRICS_ERR__COUNT];
    hist_t latency, ttfb;
} model_metrics_t;

/* Usage from the inference log, per configured model plus one "other" slot. */
enum { TOK_INPUT, TOK_OUTPUT, TOK_CACHED_READ, TOK_CACHE_WRITE, TOK_REASONING, N_TOK };
static const char *const tok_names[N_TOK] = {"input", "output", "cached_read", "cache_write",
                                             "reasoning"};
typedef struct usage_metrics {
    atomic_ullong tokens[N_TOK];
    atomic_ullong cost_nanousd;
} usage_metrics_t;

static struct {
    const sy_config_t *cfg;
    model_metrics_t *models;
    usage_metrics_t *usage; /* n_models + 1: the last is "other" */
    atomic_ullong overhead[N_OV + 1];
    atomic_ullong overhead_sum_us, overhead_count;
    atomic_ullong policy[N_POL + 1];
    atomic_ullong policy_sum_ns, policy_count;
} M;

void sy_metrics_init(const sy_config_t *cfg)
{
    free(M.models);
    free(M.usage);
    M.cfg = cfg;
    M.models = sy_xcalloc(cfg->n_models ? cfg->n_models : 1, sizeof *M.models);
    M.usage = sy_xcalloc(cfg->n_models + 1, sizeof *M.usage);
}

void sy_metrics_log_row(const sy_log_record_t *r)
{
    if (!M.usage) return;
    size_t i = 0;
    while (i < M.cfg->n_models && !sy_str_eq_c(r->model, M.cfg->models[i].name))
        i++;
    usage_metrics_t *u = &M.usage[i]; /* i == n_models: other */
    const int64_t t[N_TOK] = {r->input_tokens, r->output_tokens, r->cached_read_tokens,
                              r->cache_write_tokens, r->reasoning_tokens};
    for (int k = 0; k < N_TOK; k++)
        if (t[k] > 0)
            atomic_fetch_add_explicit(&u->tokens[k], (unsigned long long)t[k],
                                      memory_order_relaxed);
    if (r->cost_nanousd > 0)
        atomic_fetch_add_explicit(&u->cost_nanousd, (unsigned long long)r->cost_nanousd,
                                  memory_order_relaxed);
}

static void observe(hist_t *h, uint64_t us)
{
    size_t i = 0;
    while (i < N_LAT && (double)us > lat_bounds[i] * 1e6)
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

/* An unlabelled histogram (n bounds + the +Inf slot, per-bucket counts): one observation. */
static void plain_observe(atomic_ullong *buckets, const uint64_t *bounds, size_t n,
                          atomic_ullong *sum, atomic_ullong *count, uint64_t v)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    atomic_fetch_add_explicit(&buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(sum, v, memory_order_relaxed);
    atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
}

sy_metrics_error_t sy_metrics_error_of(int status, sy_err_t err, bool committed)
{
    if (committed && err) return SY_METRICS_ERR_MIDSTREAM;
    if (status == 499) return SY_METRICS_ERR_CANCELLED;
    if (status < 400) return SY_METRICS_ERR_NONE;
    if (err == SY_ERR_UPSTREAM_TIMEOUT || status == 504) return SY_METRICS_ERR_TIMEOUT;
    if (err == SY_ERR_UPSTREAM_UNREACHABLE) return SY_METRICS_ERR_UNREACHABLE;
    if (err == SY_ERR_UNAVAILABLE) return SY_METRICS_ERR_UNAVAILABLE;
    if (status == 429) return SY_METRICS_ERR_RATE_LIMIT;
    if (status == 401 || status == 403) return SY_METRICS_ERR_AUTH;
    if (status >= 500) return SY_METRICS_ERR_UPSTREAM;
    return SY_METRICS_ERR_INVALID_REQUEST;
}

void sy_metrics_request(const sy_model_conf_t *m, int ingress, int status, sy_metrics_error_t error,
                        uint64_t duration_us, uint64_t ttfb_us, uint64_t overhead_us)
{
    if (!M.models || !m) return;
    model_metrics_t *mm = &M.models[m - M.cfg->models];
    int cls = status == 499   ? CLASS_499
              : status >= 500 ? CLASS_5XX
              : status >= 400 ? CLASS_4XX
                              : CLASS_2XX;
    atomic_fetch_add_explicit(&mm->requests[ingress ? 1 : 0][cls], 1, memory_order_relaxed);
    if (error) atomic_fetch_add_explicit(&mm->errors[error], 1, memory_order_relaxed);
    observe(&mm->latency, duration_us);
    if (ttfb_us) observe(&mm->ttfb, ttfb_us);
    plain_observe(M.overhead, ov_bounds_us, N_OV, &M.overhead_sum_us, &M.overhead_count,
                  overhead_us);
}

void sy_metrics_policy(uint64_t ns)
{
    plain_observe(M.policy, pol_bounds_ns, N_POL, &M.policy_sum_ns, &M.policy_count, ns);
}

/* ---- exposition ---- */

static unsigned long long rd(atomic_ullong *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* A label value (model names and deployment ids from config), escaped as the format says. */
static void label(sy_buf_t *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') sy_buf_append(b, "\\", 1);
        if (*v == '\n') {
            sy_buf_append_c(b, "\\n");
            continue;
        }
        sy_buf_append(b, v, 1);
    }
}

static void head(sy_buf_t *b, const char *name, const char *type, const char *help)
{
    sy_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric of one unlabelled sample. */
static void metric(sy_buf_t *b, const char *name, const char *type, const char *help, uint64_t v)
{
    head(b, name, type, help);
    sy_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* A counter with one label over a fixed set of values (n of them). */
static void labelled(sy_buf_t *b, const char *name, const char *help, const char *label,
                     const char *const *values, const uint64_t *counts, size_t n)
{
    head(b, name, "counter", help);
    for (size_t i = 0; i < n; i++)
        sy_buf_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, values[i],
                      (unsigned long long)counts[i]);
}

static void hist_lines(sy_buf_t *b, const char *name, const char *model, hist_t *h)
{
    unsigned long long cum = 0;
    for (size_t i = 0; i <= N_LAT; i++) {
        cum += rd(&h->buckets[i]);
        sy_buf_printf(b, "%s_bucket{model=\"", name);
        label(b, model);
        if (i < N_LAT)
            sy_buf_printf(b, "\",le=\"%g\"} %llu\n", lat_bounds[i], cum);
        else
            sy_buf_printf(b, "\",le=\"+Inf\"} %llu\n", cum);
    }
    sy_buf_printf(b, "%s_sum{model=\"", name);
    label(b, model);
    sy_buf_printf(b, "\"} %.6f\n", (double)rd(&h->sum_us) / 1e6);
    sy_buf_printf(b, "%s_count{model=\"", name);
    label(b, model);
    sy_buf_printf(b, "\"} %llu\n", rd(&h->count));
}

/* An unlabelled histogram: per-bucket counts (n bounds + the +Inf slot) in units of 1/scale s.
 * The buckets are read before the sum and the count, so _count is never below +Inf's. */
static void plain_hist(sy_buf_t *b, const char *name, atomic_ullong *buckets,
                       const uint64_t *bounds, size_t n, double scale, atomic_ullong *sum,
                       atomic_ullong *count)
{
    unsigned long long cum = 0;
    for (size_t i = 0; i <= n; i++) {
        cum += rd(&buckets[i]);
        if (i < n)
            sy_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, (double)bounds[i] / scale, cum);
        else
            sy_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, cum);
    }
    sy_buf_printf(b, "%s_sum %.9f\n%s_count %llu\n", name, (double)rd(sum) / scale, name,
                  rd(count));
}

void sy_api_metrics(sy_http_req_t *req, sy_worker_t *w)
{
    const sy_config_t *cfg = w->cfg;
    sy_buf_t b;
    sy_buf_init(&b, 64u << 20);
    head(&b, "switchyard_requests_total", "counter",
         "Routed chat requests by model, ingress and status class (499: client went away).");
    for (size_t i = 0; M.models && i < cfg->n_models; i++)
        for (int g = 0; g < 2; g++)
            for (int k = 0; k < N_CLASS; k++) {
                sy_buf_append_c(&b, "switchyard_requests_total{model=\"");
                label(&b, cfg->models[i].name);
                sy_buf_printf(&b, "\",ingress=\"%s\",code=\"%s\"} %llu\n", ingress_names[g],
                              class_names[k], rd(&M.models[i].requests[g][k]));
            }
    head(&b, "switchyard_errors_total", "counter",
         "Failed routed requests by model and error type.");
    for (size_t i = 0; M.models && i < cfg->n_models; i++)
        for (int e = 1; e < SY_METRICS_ERR__COUNT; e++) {
            sy_buf_append_c(&b, "switchyard_errors_total{model=\"");
            label(&b, cfg->models[i].name);
            sy_buf_printf(&b, "\",type=\"%s\"} %llu\n", error_names[e], rd(&M.models[i].errors[e]));
        }
    head(&b, "switchyard_request_duration_seconds", "histogram",
         "Time from the request read to the response end, by model.");
    for (size_t i = 0; M.models && i < cfg->n_models; i++)
        hist_lines(&b, "switchyard_request_duration_seconds", cfg->models[i].name,
                   &M.models[i].latency);
    head(&b, "switchyard_time_to_first_byte_seconds", "histogram",
         "Time from the request read to the first response byte, by model.");
    for (size_t i = 0; M.models && i < cfg->n_models; i++)
        hist_lines(&b, "switchyard_time_to_first_byte_seconds", cfg->models[i].name,
                   &M.models[i].ttfb);
    head(&b, "switchyard_gateway_overhead_seconds", "histogram",
         "The gateway's own processing time per request (not waiting on the upstream).");
    plain_hist(&b, "switchyard_gateway_overhead_seconds", M.overhead, ov_bounds_us, N_OV, 1e6,
               &M.overhead_sum_us, &M.overhead_count);
    head(&b, "switchyard_policy_duration_seconds", "histogram",
         "Time a request spent in the auth and limits phases before its upstream call (a "
         "key-store miss and a Redis limiter's round trip included).");
    plain_hist(&b, "switchyard_policy_duration_seconds", M.policy, pol_bounds_ns, N_POL, 1e9,
               &M.policy_sum_ns, &M.policy_count);
    head(&b, "switchyard_upstream_attempts_total", "counter",
         "Upstream attempts by deployment and result.");
    for (size_t i = 0; i < cfg->n_models; i++)
        for (size_t j = 0; j < cfg->models[i].n_deployments; j++) {
            const sy_deploy_conf_t *d = &cfg->models[i].deployments[j];
            if (!d->state) continue;
            for (int ok = 0; ok < 2; ok++) {
                sy_buf_append_c(&b, "switchyard_upstream_attempts_total{deployment=\"");
                label(&b, d->id);
                sy_buf_printf(&b, "\",result=\"%s\"} %llu\n", ok ? "ok" : "failure",
                              ok ? rd(&d->state->n_ok) : rd(&d->state->n_fail));
            }
        }
    head(&b, "switchyard_deployment_inflight", "gauge", "Upstream attempts running now.");
    for (size_t i = 0; i < cfg->n_models; i++)
        for (size_t j = 0; j < cfg->models[i].n_deployments; j++) {
            const sy_deploy_conf_t *d = &cfg->models[i].deployments[j];
            if (!d->state) continue;
            sy_buf_append_c(&b, "switchyard_deployment_inflight{deployment=\"");
            label(&b, d->id);
            sy_buf_printf(&b, "\"} %u\n", atomic_load(&d->state->inflight));
        }
    head(&b, "switchyard_deployment_cooling_down", "gauge",
         "1 while a deployment is out of rotation after consecutive failures.");
    for (size_t i = 0; i < cfg->n_models; i++)
        for (size_t j = 0; j < cfg->models[i].n_deployments; j++) {
            const sy_deploy_conf_t *d = &cfg->models[i].deployments[j];
            if (!d->state) continue;
            sy_buf_append_c(&b, "switchyard_deployment_cooling_down{deployment=\"");
            label(&b, d->id);
            sy_buf_printf(&b, "\"} %d\n", atomic_load(&d->state->open_until) ? 1 : 0);
        }
    /* the "other" bucket must not collide with a configured model's name */
    const char *other = "other";
    for (size_t i = 0; i < cfg->n_models; i++)
        if (strcmp(cfg->models[i].name, other) == 0) other = "(other)";
    head(&b, "switchyard_tokens_total", "counter",
         "Tokens in inference-log rows by public model and type (0 while logging is off).");
    for (size_t i = 0; M.usage && i <= cfg->n_models; i++)
        for (int k = 0; k < N_TOK; k++) {
            sy_buf_append_c(&b, "switchyard_tokens_total{model=\"");
            label(&b, i < cfg->n_models ? cfg->models[i].name : other);
            sy_buf_printf(&b, "\",type=\"%s\"} %llu\n", tok_names[k], rd(&M.usage[i].tokens[k]));
        }
    head(&b, "switchyard_cost_usd_total", "counter",
         "Known cost of inference-log rows in USD by public model (unpriced rows add nothing).");
    for (size_t i = 0; M.usage && i <= cfg->n_models; i++) {
        char usd[SY_COST_USD_LEN];
        sy_cost_format_usd(usd, (int64_t)rd(&M.usage[i].cost_nanousd));
        sy_buf_append_c(&b, "switchyard_cost_usd_total{model=\"");
        label(&b, i < cfg->n_models ? cfg->models[i].name : other);
        sy_buf_printf(&b, "\"} %s\n", usd);
    }
    if (w->logpipe) {
        sy_logpipe_stats_t ls;
        sy_logpipe_stats(w->logpipe, &ls); /* atomics only: fine on a loop thread */
        metric(&b, "switchyard_log_rows_submitted_total", "counter",
               "Inference-log rows accepted by the pipeline.", ls.submitted);
        metric(&b, "switchyard_log_rows_written_total", "counter",
               "Inference-log rows confirmed by the store (replayed ones included).", ls.written);
        labelled(&b, "switchyard_log_rows_dropped_total",
                 "Inference-log rows lost: queue overflow, spool cap, corrupt spool records.",
                 "reason", (const char *const[]){"overflow", "spool", "corrupt"},
                 (const uint64_t[]){ls.dropped_overflow, ls.dropped_spool, ls.dropped_corrupt}, 3);
        metric(&b, "switchyard_log_store_errors_total", "counter", "Failed store batch writes.",
               ls.store_errors);
        metric(&b, "switchyard_log_queue_rows", "gauge", "Rows accepted but not yet spooled.",
               ls.queued);
        metric(&b, "switchyard_log_spool_bytes", "gauge", "Bytes in the spool segments.",
               ls.spool_bytes);
        metric(&b, "switchyard_log_backlog_bytes", "gauge",
               "Spooled bytes not yet confirmed by the store.", ls.backlog_bytes);
    }
    if (w->auth) {
        sy_auth_cache_stats_t cs;
        sy_auth_cache_stats(w->auth, &cs);
        labelled(&b, "switchyard_auth_cache_lookups_total",
                 "API-key cache lookups by result (hit: a key, stale ones included; negative: a "
                 "cached no-such-key; miss: not cached — a well-formed key then waits for the "
                 "store).",
                 "result", (const char *const[]){"hit", "negative", "miss"},
                 (const uint64_t[]){cs.hits, cs.negative, cs.misses}, 3);
        metric(&b, "switchyard_auth_cache_stale_hits_total", "counter",
               "Hits on a key's entry past auth.key_cache_ttl_s, served while it is reloaded.",
               cs.stale);
        metric(&b, "switchyard_auth_cache_reloads_total", "counter",
               "Background reloads of stale key entries from the store.", cs.reloads);
    }
    if (w->admission) {
        sy_admission_stats_t as;
        sy_admission_stats(w->admission, &as);
        metric(&b, "switchyard_limits_admitted_total", "counter",
               "Requests admitted by the limits phase (fail-open admissions included).",
               as.admitted);
        labelled(&b, "switchyard_limits_denied_total",
                 "Requests refused by the limits phase, by reason.", "reason",
                 (const char *const[]){"rate", "quota", "too_large", "unavailable"}, as.denied, 4);
        labelled(&b, "switchyard_limits_backend_failures_total",
                 "Limiter backend unreachable (Redis): requests admitted (open) or refused "
                 "(closed).",
                 "mode", (const char *const[]){"open", "closed"},
                 (const uint64_t[]){as.fail_open, as.fail_closed}, 2);
        if (!as.local) {
            metric(&b, "switchyard_limits_finish_failures_total", "counter",
                   "Redis: attempts to apply a finish (refund, overrun, budget spend, lease "
                   "release) that failed; each is queued and sent again.",
                   as.finish_failed);
            metric(&b, "switchyard_limits_finish_lost_total", "counter",
                   "Redis: finishes given up (retry queue full, or shutdown with them queued).",
                   as.finish_lost);
        }
        if (as.local) {
            metric(&b, "switchyard_limits_local_entries", "gauge",
                   "Keys held by the in-process limiter.", as.local_entries);
        }
    }
    char ov[24];
    sy_http_header_t h;
    sy_api_overhead_header(&h, ov, 0);
    sy_http_res_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.base, b.len, &h, 1);
    sy_buf_dispose(&b);
}
