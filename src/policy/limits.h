/* Rate limits, token limits, concurrency limits and budgets: the decision engine with two
 * backends (in-process, Redis) behind one vtable. The algorithm and the decision spec both
 * backends follow are in docs/internals/LIMITS.md.
 *
 *   sy_limits_t *l = sy_limits_local_new(&clock);           // or sy_limits_redis_new(loop, ...)
 *   sy_limit_t lim[] = {{"key:k1", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 100}, ...};
 *   sy_limits_admit(l, lim, 3, est_tokens, on_admit, arg);  // cb: result + reservation
 *   ... request runs ...
 *   sy_limits_finish(l, resv, real_tokens, cost_nanousd, NULL, NULL);
 *
 * Threads: the in-process backend may be shared by every thread; a Redis backend belongs to the
 * loop thread it was created on. */
#ifndef SY_POLICY_LIMITS_H
#define SY_POLICY_LIMITS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"

typedef enum sy_limit_kind {
    SY_LIMIT_REQUESTS,   /* requests admitted per window */
    SY_LIMIT_TOKENS,     /* tokens per window: estimate at admit, reconciled at finish */
    SY_LIMIT_CONCURRENT, /* requests in flight (window: SY_LIMIT_NONE) */
    SY_LIMIT_BUDGET,     /* nano-USD spent per UTC day or month, charged at finish */
} sy_limit_kind_t;

typedef enum sy_limit_window {
    SY_LIMIT_NONE,   /* concurrent only */
    SY_LIMIT_MINUTE, /* sliding, requests/tokens */
    SY_LIMIT_HOUR,   /* sliding, requests/tokens */
    SY_LIMIT_DAY,    /* sliding for requests/tokens; the UTC calendar day for budgets */
    SY_LIMIT_MONTH,  /* budgets only: the UTC calendar month */
} sy_limit_window_t;

/* One limit. scope is the caller's string ("key:sy-ab12", "team:7|model:gpt-4o"), at most
 * SY_LIMITS_SCOPE_MAX bytes, borrowed for the duration of the admit call only. scope_hash:
 * sy_limits_scope_hash(scope) when the caller keeps it precomputed (the key cache does), or 0
 * to have the admit compute it; a wrong non-zero value puts the limit's state in the wrong
 * place of the in-process table (never shares it with another scope: keys are compared). */
typedef struct sy_limit {
    const char *scope;
    sy_limit_kind_t kind;
    sy_limit_window_t window;
    int64_t amount; /* requests, tokens, concurrent requests, or nano-USD; >= 0 */
    uint64_t scope_hash;
} sy_limit_t;

/* The hash sy_limit_t.scope_hash holds (64-bit FNV-1a of the scope, never 0). Any thread. */
uint64_t sy_limits_scope_hash(const char *scope);

#define SY_LIMITS_SCOPE_MAX 200
#define SY_LIMITS_MAX_PER_REQUEST 16
#define SY_LIMITS_BUCKETS 60         /* sub-buckets per sliding window */
#define SY_LIMITS_CONC_RETRY_MS 1000 /* Retry-After for a full concurrency limit */

/* Milliseconds since the Unix epoch (UTC). Injected so tests are deterministic. */
typedef struct sy_limits_clock {
    int64_t (*now_ms)(void *ctx);
    void *ctx;
} sy_limits_clock_t;

typedef enum sy_limits_reason {
    SY_LIMITS_OK,
    SY_LIMITS_RATE,        /* 429 rate_limit_exceeded: retry after retry_after_ms */
    SY_LIMITS_QUOTA,       /* 429 insufficient_quota: a budget is spent */
    SY_LIMITS_TOO_LARGE,   /* 429: the token estimate alone is over a token limit; never passes */
    SY_LIMITS_UNAVAILABLE, /* 503: backend unreachable and fail-closed */
} sy_limits_reason_t;

/* What the x-ratelimit-{limit,remaining,reset}-{requests,tokens} headers say. */
typedef struct sy_limits_header {
    bool present; /* false: no limit of this kind applied */
    int64_t limit;
    int64_t remaining;
    int64_t reset_ms; /* time until the limit is back to its initial state */
} sy_limits_header_t;

typedef struct sy_limits_result {
    bool allowed;
    bool unbacked; /* admitted because the backend failed open */
    int denied;    /* index of the first refusing limit, or of the first one the request can never
                      pass (TOO_LARGE wins: no retry time would be true); -1 */
    sy_limits_reason_t reason; /* of that limit (UNAVAILABLE: no index) */
    int64_t retry_after_ms;    /* largest among refusing limits; -1 = never; 0 when allowed */
    sy_limits_header_t requests, tokens; /* the limit of that kind with the least remaining */
} sy_limits_result_t;

typedef struct sy_limits sy_limits_t;
typedef struct sy_limits_resv sy_limits_resv_t;

/* Fires exactly once per admit that returned SY_OK, possibly before admit returns (always with
 * the in-process backend; with Redis when it is not connected). resv is non-NULL iff
 * result->allowed; the caller owns it and must pass it to sy_limits_finish or sy_limits_cancel
 * exactly once, on the same sy_limits_t. result is valid during the call only. */
typedef void (*sy_limits_admit_cb)(void *arg, const sy_limits_result_t *result,
                                   sy_limits_resv_t *resv);
/* Fires once when a finish has been applied (ok=false: it could not be and was given up). A
 * Redis finish that fails is retried (docs/internals/LIMITS.md): the callback then fires when
 * a retry succeeds or the finish is given up. */
typedef void (*sy_limits_done_cb)(void *arg, bool ok);

/* Counters (relaxed atomics; read from any thread). */
typedef struct sy_limits_stats {
    uint64_t admitted, denied;
    uint64_t fail_open, fail_closed; /* backend unreachable: admitted / refused */
    uint64_t finish_failed;          /* Redis: finish attempts that failed (each is retried) */
    uint64_t finish_lost; /* Redis: finishes given up (retry queue full, or the backend freed
                             with them pending): their refund, overrun or spend is lost */
} sy_limits_stats_t;

/* Config for the Redis backend (a struct only; not read from YAML yet). */
typedef struct sy_limits_redis_config {
    const char *host;     /* "127.0.0.1" (TCP; hiredis 0.14 has no TLS) */
    int port;             /* 6379 */
    const char *password; /* NULL: no AUTH; copied */
    bool fail_open;       /* admit when Redis is unreachable (default false: refuse, 503) */
    int64_t timeout_ms;   /* no reply within this → unreachable; default 100 */
    int64_t lease_ms;    /* concurrency lease lifetime; refreshed every lease_ms/3; default 30000 */
    const char *replica; /* lease id prefix, unique per process, ≤ 39 bytes (longer is cut);
                            default "<hostname>:<pid>" */
} sy_limits_redis_config_t;

/* The default clock: CLOCK_REALTIME in ms. */
extern const sy_limits_clock_t sy_limits_wall_clock;

/* In-process backend, shared by all threads. clock is copied; NULL = wall clock. */
sy_limits_t *sy_limits_local_new(const sy_limits_clock_t *clock);

/* Keys the in-process backend holds now (for metrics and tests). Any thread. */
size_t sy_limits_local_entries(sy_limits_t *l);

/* Redis backend bound to loop (call everything on that loop's thread). Starts connecting at
 * once; never blocks. clock NULL = wall clock. */
sy_limits_t *sy_limits_redis_new(uv_loop_t *loop, const sy_limits_redis_config_t *cfg,
                                 const sy_limits_clock_t *clock);

/* Checks lim[0..n) at the clock's now; see sy_limits_admit_cb. est_tokens (>= 0) is charged to
 * every token limit. Returns SY_ERR_INVALID_REQUEST (and never calls cb) when n is 0 or over
 * SY_LIMITS_MAX_PER_REQUEST, a scope is missing or too long, an amount is negative, a
 * kind/window pair is not allowed, or the same (scope, kind, window) appears twice. */
sy_err_t sy_limits_admit(sy_limits_t *l, const sy_limit_t *lim, size_t n, int64_t est_tokens,
                         sy_limits_admit_cb cb, void *arg);

/* Reconciles and releases: tokens_used < 0 = unknown (the estimate stands), cost_nanousd < 0 =
 * unknown (nothing charged). Consumes resv. cb may be NULL. */
void sy_limits_finish(sy_limits_t *l, sy_limits_resv_t *resv, int64_t tokens_used,
                      int64_t cost_nanousd, sy_limits_done_cb cb, void *arg);

/* The request's response has ended but its usage and cost are not known yet: releases its
 * concurrency now (the lease, on Redis); resv stays owned by the caller and must still be passed
 * to sy_limits_finish (which then reconciles tokens and budgets only) or sy_limits_cancel.
 * Does nothing when there is no concurrency limit, or when called twice. Same thread rules as
 * finish; cb may be NULL. */
void sy_limits_release(sy_limits_t *l, sy_limits_resv_t *resv, sy_limits_done_cb cb, void *arg);

/* Frees a reservation without applying it, for when its backend is gone (a Redis backend freed
 * at shutdown). Only for a reservation that was released (sy_limits_release) or has no
 * concurrency limit; any thread. */
void sy_limits_discard(sy_limits_resv_t *resv);

/* The request never ran: releases concurrency and refunds the token estimate (finish with 0
 * tokens and no cost). */
void sy_limits_cancel(sy_limits_t *l, sy_limits_resv_t *resv, sy_limits_done_cb cb, void *arg);

/* Frees the backend. In-process: every reservation must have been finished. Redis: calls still
 * in flight complete as backend failures, reservations still live are freed (do not finish them
 * afterwards), and the loop must run once more to close the handles. */
void sy_limits_free(sy_limits_t *l);

void sy_limits_get_stats(const sy_limits_t *l, sy_limits_stats_t *out);

/* Parses a limit written in one line, for config: sets out->kind, window and amount (not
 * scope). Forms: "<n>/<window>" or "<n> requests/<window>" (requests), "<n> tokens/<window>",
 * "<n> concurrent", "$<usd>/day" or "$<usd>/month" (budget, up to 9 decimals, exact: nano-USD).
 * <window>: minute|min|m, hour|h, day|d. Examples: "100/hour", "60000 tokens/minute",
 * "10 concurrent", "$5/day", "$0.25/month". Returns SY_ERR_CONFIG with a message in err
 * (errlen bytes) when the text is not one of these. Any thread. */
sy_err_t sy_limits_parse(const char *text, sy_limit_t *out, char *err, size_t errlen);

/* Room for the longest reset text and its NUL. */
#define SY_LIMITS_RESET_LEN 32

/* Writes a duration as OpenAI's x-ratelimit-reset-* headers do (Go's time.Duration form):
 * 0 → "0s", 20 → "20ms", 1000 → "1s", 1500 → "1.5s", 360000 → "6m0s", 3600000 → "1h0m0s".
 * Negative is written as "0s". Returns the length. */
int sy_limits_format_reset(char out[SY_LIMITS_RESET_LEN], int64_t ms);

/* Retry-After header value: whole seconds, rounded up, at least 1 (ms < 0: no header, -1). */
int64_t sy_limits_retry_after_s(int64_t ms);

#endif
