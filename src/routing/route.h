/* Routing: one public model -> its deployments, with a strategy, retries with backoff, ordered
 * fallbacks to other models and per-deployment cooldowns (a circuit breaker).
 *
 * Two halves:
 *  - shared deployment state (sy_deploy_state_t, one per deployment, atomics only: every loop
 *    thread routes to the same deployments) and the pure decisions on it — pick a deployment,
 *    record an outcome, classify an error — with the time passed in, so tests are
 *    deterministic;
 *  - the per-request runner (sy_route_t, request arena) that drives provider calls on the loop
 *    thread and reports exactly one response to its sink.
 *
 * DESIGN (runner): attempt = one provider call. An attempt's head with status < 400 commits the
 * response: it goes to the sink and nothing is retried after that (bytes reached the client).
 * An error status or a failure before the head ends the attempt: its class decides between a
 * retry (same model, preferring a deployment not tried yet; backoff with full jitter, or the
 * upstream's Retry-After when it is not too long), a fallback (the next model of the original
 * model's `fallbacks`, with that model's own deployments and retries), or the final answer
 * (the last error goes to the sink as it is). The next attempt always starts from a timer, never
 * inside a provider callback. */
#ifndef SY_ROUTING_ROUTE_H
#define SY_ROUTING_ROUTE_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "conf/config.h"
#include "core/buf.h"
#include "providers/provider.h"

/* ---- shared deployment state ---- */

typedef struct sy_deploy_state {
    atomic_uint inflight;     /* attempts running now */
    atomic_uint fails;        /* consecutive failures */
    atomic_ullong open_until; /* cooldown end (monotonic ms); 0 = closed (healthy) */
    atomic_uint probing;      /* 1 while the half-open probe runs */
    atomic_ullong ewma_us;    /* time to response head, EWMA (alpha 0.2); 0 = no sample */
    atomic_ullong sample_ms;  /* when ewma_us last changed; older than 10 s = forgotten */
    atomic_ullong n_ok, n_fail;
} sy_deploy_state_t;

/* Allocates the state of every deployment (at start, before loop threads run); the config
 * frees it (sy_config_free). */
void sy_route_init(sy_config_t *cfg);

#define SY_ROUTE_NONE (-1)
/* Picks a deployment of m at time now_ms (monotonic). Deployments whose bit is set in `tried`
 * are avoided while any other is available. A cooling-down deployment is skipped; once its
 * cooldown ended, one request is let through as a probe (*probe = true). rnd: a uniform random
 * 32-bit value. Returns the index, or SY_ROUTE_NONE when every deployment is cooling down
 * (*retry_in_ms: until the first probe). Thread: any. */
int sy_route_pick(const sy_model_conf_t *m, uint64_t now_ms, uint32_t tried, uint32_t rnd,
                  bool *probe, uint64_t *retry_in_ms);
/* Records an attempt's end: ok (the upstream answered < 400 and the body completed) or a
 * failure of error class cls (only rate limits, server errors, timeouts and unreachable count
 * toward a cooldown). us: for a success, the time to the response head (the latency sample;
 * 0 = none); for a failure, the time the attempt took: a failure sets the latency estimate to a
 * penalty (at least 1 s, twice the previous estimate), so a failing deployment never looks
 * fast. */
void sy_route_record(const sy_deploy_conf_t *d, uint64_t now_ms, bool ok, uint32_t cls, bool probe,
                     uint64_t head_us);
/* Error class (SY_ERRCLASS_*) of a failed attempt: upstream status + error body (any JSON
 * error shape; "context_length_exceeded" codes and "prompt is too long"-style messages are
 * context-length errors), or a transport error when status is 0. */
uint32_t sy_route_classify(int status, sy_err_t err, const char *body, size_t len);

/* ---- per-request runner ---- */

typedef struct sy_route sy_route_t;

/* What the runner reports: the committed (or final) response. Same contract as the provider
 * sink (head once, data*, done once), on the loop thread; nothing after sy_route_stop. */
typedef struct sy_route_sink {
    void (*head)(sy_route_t *r, int status, sy_str_t content_type);
    bool (*data)(sy_route_t *r, const char *p, size_t n);
    void (*done)(sy_route_t *r, sy_err_t err, const char *detail);
} sy_route_sink_t;

typedef enum sy_attempt_outcome {
    SY_ATTEMPT_OK = 0,
    SY_ATTEMPT_ERROR, /* upstream error status, or failure mid-response */
    SY_ATTEMPT_TIMEOUT,
    SY_ATTEMPT_UNREACHABLE, /* connect error, reset, broken response */
    SY_ATTEMPT_CANCELLED,   /* the client went away */
    SY_ATTEMPT_COOLDOWN,    /* no deployment available (all cooling down) */
    SY_ATTEMPT_INVALID,     /* the request could not be translated for the provider */
} sy_attempt_outcome_t;

/* One attempt, as handed to the log pipeline. */
typedef struct sy_attempt {
    const sy_model_conf_t *model;
    const sy_deploy_conf_t *deploy; /* NULL for SY_ATTEMPT_COOLDOWN */
    int status;                     /* upstream HTTP status, 0 if none */
    sy_err_t err;
    sy_attempt_outcome_t outcome;
    uint32_t errclass;
    bool probe;
    uint64_t t_start_us, t_head_us, t_end_us; /* monotonic */
} sy_attempt_t;

#define SY_ROUTE_MAX_ATTEMPTS 16

struct sy_route {
    /* inputs: set before sy_route_start */
    uv_loop_t *loop;
    sy_upstream_t *upstream;
    const sy_model_conf_t *model; /* the model the client asked for */
    const char *request_id;
    sy_format_t format; /* of body */
    sy_str_t body;
    /* For a body not in OpenAI format: returns its OpenAI translation (called at most once, when
     * a deployment's provider does not accept `format`); on failure SY_ERR_INVALID_* with the
     * call's error_param/error_msg filled. */
    sy_err_t (*to_openai)(sy_route_t *r, sy_str_t *out, char *param, size_t plen, char *msg,
                          size_t mlen);
    bool stream, include_usage;
    sy_str_t fwd_version, fwd_beta; /* client headers for pass-through (see sy_call_t) */
    const char *warning; /* from the ingress's own translation (dropped parameters), or NULL */
    size_t max_error_bytes;
    sy_arena_t *arena;
    const sy_route_sink_t *sink;
    void *ctx;
    /* outputs */
    sy_call_t call; /* the current (after head: the committed) attempt; call.format tells the
                       format of what the sink receives */
    sy_attempt_t attempts[SY_ROUTE_MAX_ATTEMPTS];
    size_t n_attempts;
    int64_t retry_after_ms; /* for a final 503 from cooldowns / a final 429 */
    /* private */
    const sy_model_conf_t *cur;
    uint32_t tried;
    uint32_t retries_left;
    size_t next_fallback;
    sy_str_t openai_body;
    bool have_openai_body;
    bool active;    /* a provider call is running */
    bool committed; /* head < 400 went to the sink */
    bool error_body;
    int err_status;
    char err_ctype[64];
    sy_buf_t errbody;
    uv_timer_t *timer;
    uint32_t rng;
};

/* Starts routing. Every outcome, even an immediate failure, reaches the sink asynchronously
 * or from inside this call (done may fire before it returns). Loop thread. */
void sy_route_start(sy_route_t *r);
/* Backpressure: the sink's data returned false and the client drained. */
void sy_route_proceed(sy_route_t *r);
/* The client went away: stops the attempt or timer; no sink callback afterwards. */
void sy_route_stop(sy_route_t *r);
/* "id status ms, ..." for the x-switchyard-attempts header, into buf (NUL-terminated; size >=
 * 32). Entries are never cut: what does not fit becomes "+N more". Returns the length. */
size_t sy_route_attempts_header(const sy_route_t *r, char *buf, size_t size);

#endif
