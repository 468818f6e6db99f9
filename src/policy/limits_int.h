/* Private to src/policy/limits*.c: what a backend sees. The decision spec is in
 * docs/internals/LIMITS.md; limits.c turns limits into slots and slot outcomes into a result,
 * so the backends only count and charge. */
#ifndef SY_POLICY_LIMITS_INT_H
#define SY_POLICY_LIMITS_INT_H
#include <stdbool.h>
#include <stdint.h>

#include "policy/limits.h"

#define SY_LIMITS_KEY_MAX 256
_Static_assert(9 + 21 + SY_LIMITS_SCOPE_MAX + 1 <= SY_LIMITS_KEY_MAX, "key room");

/* One limit resolved at the admit time. */
typedef struct sy_limits_slot {
    char key[SY_LIMITS_KEY_MAX]; /* "sy:rl:<kind><window>:[<period>:]<scope>", NUL-terminated */
    uint64_t hash; /* of the key: the scope's hash mixed with kind, window and period; the top
                      6 bits depend on the scope only */
    sy_limit_kind_t kind;
    int64_t limit;
    int64_t amount; /* charged at admit: 1 (requests, concurrent), estimate (tokens), 0 (budget) */
    int64_t g_ms;   /* windowed: bucket width (window / SY_LIMITS_BUCKETS) */
    int64_t bucket; /* windowed: floor(now / g_ms) at admit; budget: period id */
    int64_t end_ms; /* budget: end of the period (exclusive) */
} sy_limits_slot_t;

/* The backend vtable (curl's vtls_int.h shape): one const instance per backend. Every slot is
 * called by the wrappers in limits.c, which validate input and resolve the slots first. */
typedef struct sy_limits_backend {
    const char *name;
    /* Checks resv's slots at resv->now_ms and, if all admit, charges them; calls cb once (the
     * in-process backend before returning). Takes ownership of resv (frees it when denied). */
    sy_err_t (*admit)(sy_limits_t *l, sy_limits_resv_t *resv, sy_limits_admit_cb cb, void *arg);
    /* Applies a finish at now_ms and frees resv; cb may be NULL. */
    void (*finish)(sy_limits_t *l, sy_limits_resv_t *resv, int64_t now_ms, sy_limits_done_cb cb,
                   void *arg);
    /* Frees the backend. Redis: pending callbacks fire with a backend failure; the loop must
     * run afterwards to close its handles. */
    void (*free)(sy_limits_t *l);
} sy_limits_backend_t;

/* Per-limit outcome of a check (see the spec). */
typedef struct sy_limits_outcome {
    bool ok;
    int64_t used;     /* before this request's charge */
    int64_t retry_ms; /* when !ok; -1 = never */
    int64_t reset_ms; /* after the charge (if allowed) */
} sy_limits_outcome_t;

struct sy_limits_resv {
    sy_limits_resv_t *prev, *next; /* a backend's list of live reservations (Redis leases) */
    int64_t now_ms;                /* admit time */
    int64_t est_tokens;
    bool unbacked; /* admitted by fail-open: finish does nothing */
    bool has_conc;
    /* Redis, once finished: when (the clock at sy_limits_finish; a retry applies it as of then),
     * whether a retry may only charge (an earlier attempt may have been applied: refunds are
     * dropped, never applied twice), and the caller's callback */
    int64_t fin_ms;
    bool conservative;
    sy_limits_done_cb dcb;
    void *dcb_arg;
    char lease[64]; /* Redis: this reservation's concurrency lease id */
    size_t n;
    sy_limits_slot_t slot[]; /* n */
};

struct sy_limits {
    const sy_limits_backend_t *vt;
    sy_limits_clock_t clock;
    uint64_t admitted, denied, fail_open, fail_closed; /* __atomic relaxed */
    uint64_t finish_failed, finish_lost;               /* Redis finishes (sy_limits_stats_t) */
};

static inline void sy_limits__count(uint64_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* Windowed check from the live buckets (ids ascending, counts > 0, ids >= b - B). */
void sy_limits__win_check(const sy_limits_slot_t *s, const int64_t *ids, const int64_t *cnt, int m,
                          int64_t now, sy_limits_outcome_t *o);
/* reset for a windowed slot whose newest live bucket is newest (-1 = none). */
int64_t sy_limits__win_reset(const sy_limits_slot_t *s, int64_t newest, int64_t now);

/* Builds the result from per-slot outcomes and counts admitted/denied. */
void sy_limits__result(sy_limits_t *l, const sy_limits_resv_t *r, const sy_limits_outcome_t *o,
                       sy_limits_result_t *res);
/* The result of a backend failure (fail open or closed), counted. */
void sy_limits__failed(sy_limits_t *l, bool fail_open, sy_limits_result_t *res);

extern const sy_limits_backend_t sy_limits_local_backend;
extern const sy_limits_backend_t sy_limits_redis_backend;

#endif
