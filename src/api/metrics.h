/* Process metrics and GET /metrics (Prometheus text exposition format 0.0.4).
 * DESIGN: one process-wide table sized from the config at start (models and deployments are
 * fixed, so every label set is bounded), updated with relaxed atomic adds from the loop threads
 * and read by whichever loop thread serves /metrics. Routing state (in-flight, cooldowns,
 * attempts per outcome) is read from the deployments' own state (routing/route.h). */
#ifndef SY_API_METRICS_H
#define SY_API_METRICS_H
#include <stdint.h>

#include "conf/config.h"
#include "core/err.h"
#include "http/server.h"
#include "logpipe/record.h"

struct sy_worker;

/* Error classes counted in switchyard_errors_total{type} (a fixed set). */
typedef enum sy_metrics_error {
    SY_METRICS_ERR_NONE = 0,
    SY_METRICS_ERR_INVALID_REQUEST, /* 4xx made by the gateway or the upstream */
    SY_METRICS_ERR_RATE_LIMIT,      /* 429 */
    SY_METRICS_ERR_AUTH,            /* 401 / 403 */
    SY_METRICS_ERR_UPSTREAM,        /* 5xx from the upstream, broken replies */
    SY_METRICS_ERR_UNREACHABLE,     /* connect errors */
    SY_METRICS_ERR_TIMEOUT,
    SY_METRICS_ERR_UNAVAILABLE, /* every deployment cooling down */
    SY_METRICS_ERR_MIDSTREAM,   /* failed after the response started */
    SY_METRICS_ERR_CANCELLED,   /* the client went away */
    SY_METRICS_ERR__COUNT
} sy_metrics_error_t;

/* Sizes the table for cfg (once, before the loop threads start). */
void sy_metrics_init(const sy_config_t *cfg);

/* One finished routed request. status: HTTP status sent (499 = client went away first);
 * durations in µs; ttfb_us 0 = no byte was sent. Loop thread. */
void sy_metrics_request(const sy_model_conf_t *m, int ingress, int status, sy_metrics_error_t error,
                        uint64_t duration_us, uint64_t ttfb_us, uint64_t overhead_us);

/* One request's time in the auth and limits phases (ns; api/gate.h), observed into
 * switchyard_policy_duration_seconds when its upstream call starts. Loop thread. */
void sy_metrics_policy(uint64_t ns);

/* The error class of a final answer (status, and err when no upstream status). */
sy_metrics_error_t sy_metrics_error_of(int status, sy_err_t err, bool committed);

/* One enriched inference-log row: adds its known token counts and cost to
 * switchyard_tokens_total{model,type} and switchyard_cost_usd_total{model} (model: the row's
 * public model when it is configured, else "other"). Any thread: the log writer thread calls
 * it (sy_log_enrich_t.on_row); relaxed atomics only, the exact nano-USD sum is kept. */
void sy_metrics_log_row(const sy_log_record_t *r);

/* GET /metrics */
void sy_api_metrics(sy_http_req_t *req, struct sy_worker *w);

#endif
