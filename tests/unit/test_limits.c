/* policy/limits*: one table of decision cases run against the in-process and the Redis backend
 * (a real redis-server started here), a random sequence both backends must decide identically,
 * multi-threaded admission, several Redis connections (replicas) on one key, leases, and Redis
 * down / hung with fail-open and fail-closed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "policy/limits.h"
#include "redis_server.h"

#define T0 1767225600000ll /* 2026-01-01T00:00:00Z */
#define MIN_MS 60000ll
#define DAY_MS 86400000ll

static sy_test_redis_t redis;

/* ---- harness: one backend + a fake clock; calls run synchronously ---- */

typedef struct fake_clock {
    int64_t now;
} fake_clock_t;

static int64_t fake_now(void *ctx)
{
    return __atomic_load_n(&((fake_clock_t *)ctx)->now, __ATOMIC_RELAXED);
}

typedef struct harness {
    fake_clock_t clock;
    sy_limits_t *l;
    uv_loop_t *loop; /* Redis only */
} harness_t;

typedef struct call {
    bool done, ok;
    sy_limits_result_t res;
    sy_limits_resv_t *resv;
} call_t;

static void on_admit(void *arg, const sy_limits_result_t *res, sy_limits_resv_t *resv)
{
    call_t *c = arg;
    c->res = *res;
    c->resv = resv;
    c->done = true;
}

static void on_done(void *arg, bool ok)
{
    call_t *c = arg;
    c->ok = ok;
    c->done = true;
}

static void wait_call(harness_t *h, call_t *c)
{
    while (!c->done) {
        assert_non_null(h->loop); /* the in-process backend answers inline */
        uv_run(h->loop, UV_RUN_ONCE);
    }
}

static sy_limits_redis_config_t redis_cfg(int port)
{
    return (sy_limits_redis_config_t){
        .host = "127.0.0.1",
        .port = port,
        .timeout_ms = 2000,
        .replica = "t",
        /* leases are scored with the fake clock: long enough never to expire in a case */
        .lease_ms = 1000 * DAY_MS};
}

static void h_open(harness_t *h, bool use_redis)
{
    memset(h, 0, sizeof(*h));
    h->clock.now = T0;
    sy_limits_clock_t ck = {fake_now, &h->clock};
    if (!use_redis) {
        h->l = sy_limits_local_new(&ck);
        return;
    }
    assert_int_equal(sy_test_redis_cmd(redis.port, "FLUSHALL"), 0);
    h->loop = malloc(sizeof(*h->loop));
    assert_int_equal(uv_loop_init(h->loop), 0);
    sy_limits_redis_config_t cfg = redis_cfg(redis.port);
    h->l = sy_limits_redis_new(h->loop, &cfg, &ck);
}

static void h_close(harness_t *h)
{
    sy_limits_free(h->l);
    if (h->loop) {
        uv_run(h->loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(h->loop), 0);
        free(h->loop);
    }
}

static call_t h_admit(harness_t *h, const sy_limit_t *lim, size_t n, int64_t est)
{
    call_t c = {0};
    assert_int_equal(sy_limits_admit(h->l, lim, n, est, on_admit, &c), SY_OK);
    wait_call(h, &c);
    return c;
}

static void h_finish(harness_t *h, sy_limits_resv_t *v, int64_t tokens, int64_t cost)
{
    call_t c = {0};
    sy_limits_finish(h->l, v, tokens, cost, on_done, &c);
    wait_call(h, &c);
    assert_true(c.ok);
}

/* ---- the shared decision table ---- */

static const sy_limit_t LIM[] = {
    /* 0 */ {"key:a", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 3, 0},
    /* 1 */ {"key:b", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 10, 0},
    /* 2 */ {"key:b", SY_LIMIT_TOKENS, SY_LIMIT_MINUTE, 100, 0},
    /* 3 */ {"key:c", SY_LIMIT_CONCURRENT, SY_LIMIT_NONE, 2, 0},
    /* 4 */ {"key:d", SY_LIMIT_BUDGET, SY_LIMIT_DAY, 1000, 0},
    /* 5 */ {"key:d", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 100, 0},
    /* 6 */ {"key:e", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 5, 0},
    /* 7 */ {"key:f|model:m", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 1, 0},
    /* 8 */ {"team:g", SY_LIMIT_BUDGET, SY_LIMIT_MONTH, 1000, 0},
    /* 9 */ {"user:h", SY_LIMIT_REQUESTS, SY_LIMIT_HOUR, 2, 0},
    /* 10 */ {"key:e", SY_LIMIT_TOKENS, SY_LIMIT_MINUTE, 100, 0},
};

#define NO (-9) /* header absent */
#define END                                                                                        \
    {                                                                                              \
        .op = 0                                                                                    \
    }

typedef struct step {
    int64_t t; /* ms after T0 */
    char op;   /* 'a' admit, 'f' finish, 'c' cancel */
    int lim[3];
    int n;
    int64_t est;    /* admit: token estimate */
    int slot;       /* admit: where the reservation goes; finish: which one */
    int64_t tokens; /* finish */
    int64_t cost;   /* finish */
    /* admit: expected */
    bool allowed;
    int denied;
    sy_limits_reason_t reason;
    int64_t retry;
    int64_t req_rem, req_reset, tok_rem, tok_reset;
} step_t;

#define ADMIT1(T, L, EST, SLOT)                                                                    \
    .t = (T), .op = 'a', .lim = {L}, .n = 1, .est = (EST), .slot = (SLOT)
#define ADMIT2(T, L1, L2, EST, SLOT)                                                               \
    .t = (T), .op = 'a', .lim = {L1, L2}, .n = 2, .est = (EST), .slot = (SLOT)
#define OK_(RR, RS, TR, TS)                                                                        \
    .allowed = true, .denied = -1, .req_rem = (RR), .req_reset = (RS), .tok_rem = (TR),            \
    .tok_reset = (TS)
#define DENY(D, WHY, RETRY, RR, RS, TR, TS)                                                        \
    .allowed = false, .denied = (D), .reason = (WHY), .retry = (RETRY), .req_rem = (RR),           \
    .req_reset = (RS), .tok_rem = (TR), .tok_reset = (TS)
#define FINISH(T, SLOT, TOK, COST)                                                                 \
    .t = (T), .op = 'f', .slot = (SLOT), .tokens = (TOK), .cost = (COST)

/* Requests per minute: 60 buckets of 1 s; an admission counts until its bucket's end + 60 s. */
static const step_t CASE_WINDOW[] = {
    {ADMIT1(0, 0, 0, -1), OK_(2, 61000, NO, NO)},
    {ADMIT1(500, 0, 0, -1), OK_(1, 60500, NO, NO)},
    {ADMIT1(1500, 0, 0, -1), OK_(0, 60500, NO, NO)},
    {ADMIT1(2000, 0, 0, -1), DENY(0, SY_LIMITS_RATE, 59000, 0, 60000, NO, NO)},
    {ADMIT1(60999, 0, 0, -1), DENY(0, SY_LIMITS_RATE, 1, 0, 1001, NO, NO)},
    {ADMIT1(61000, 0, 0, -1), OK_(1, 61000, NO, NO)},
    {ADMIT1(61001, 0, 0, -1), OK_(0, 60999, NO, NO)},
    {ADMIT1(61002, 0, 0, -1), DENY(0, SY_LIMITS_RATE, 998, 0, 60998, NO, NO)},
    {ADMIT1(62000, 0, 0, -1), OK_(0, 61000, NO, NO)},
    END};

/* Tokens: reserve the estimate, refund / overrun at finish, too large. */
static const step_t CASE_TOKENS[] = {
    {ADMIT2(0, 1, 2, 60, 0), OK_(9, 61000, 40, 61000)},
    {ADMIT2(100, 1, 2, 60, -1), DENY(1, SY_LIMITS_RATE, 60900, 9, 60900, 40, 60900)},
    {FINISH(200, 0, 20, -1)}, /* refund 40 from bucket 0 */
    {ADMIT2(300, 1, 2, 60, 1), OK_(8, 60700, 20, 60700)},
    {FINISH(2500, 1, 90, -1)}, /* 30 more, charged to bucket 2: 80 in b0 + 30 in b2 */
    {ADMIT2(2600, 1, 2, 0, -1), DENY(1, SY_LIMITS_RATE, 58400, 8, 58400, 0, 60400)},
    {ADMIT2(61000, 1, 2, 70, 2), OK_(9, 61000, 0, 61000)},
    {ADMIT2(61000, 1, 2, 150, -1), DENY(1, SY_LIMITS_TOO_LARGE, -1, 9, 61000, 0, 61000)},
    {FINISH(61500, 2, -1, -1)}, /* unknown usage: the estimate stands */
    {ADMIT2(61600, 1, 2, 1, -1), DENY(1, SY_LIMITS_RATE, 1400, 9, 60400, 0, 60400)},
    {ADMIT2(63000, 1, 2, 1, 3), OK_(8, 61000, 29, 61000)},
    /* a refund to a bucket that has expired changes nothing */
    {FINISH(200000, 3, 0, -1)},
    {ADMIT2(200000, 1, 2, 100, -1), OK_(9, 61000, 0, 61000)},
    END};

/* Concurrency: released by finish and by cancel. */
static const step_t CASE_CONCURRENT[] = {
    {ADMIT1(0, 3, 0, 0), OK_(NO, NO, NO, NO)},
    {ADMIT1(0, 3, 0, 1), OK_(NO, NO, NO, NO)},
    {ADMIT1(10, 3, 0, -1), DENY(0, SY_LIMITS_RATE, 1000, NO, NO, NO, NO)},
    {.t = 20, .op = 'c', .slot = 0},
    {ADMIT1(30, 3, 0, 2), OK_(NO, NO, NO, NO)},
    {ADMIT1(40, 3, 0, -1), DENY(0, SY_LIMITS_RATE, 1000, NO, NO, NO, NO)},
    {FINISH(50, 1, 10, 10)},
    {FINISH(50, 2, 10, 10)},
    {ADMIT1(60, 3, 0, 3), OK_(NO, NO, NO, NO)},
    {ADMIT1(60, 3, 0, 4), OK_(NO, NO, NO, NO)},
    END};

/* Budgets: charged at finish, refused once spent >= budget, UTC day and month periods. */
static const step_t CASE_BUDGET[] = {
    {ADMIT2(0, 4, 5, 0, 0), OK_(99, 61000, NO, NO)},
    {FINISH(10, 0, 5, 600)},
    {ADMIT2(20, 4, 5, 0, 1), OK_(98, 60980, NO, NO)},
    {FINISH(30, 1, 5, 500)}, /* 1100: past the cap by the in-flight request's cost */
    {ADMIT2(40, 4, 5, 0, -1), DENY(0, SY_LIMITS_QUOTA, DAY_MS - 40, 98, 60960, NO, NO)},
    {ADMIT2(DAY_MS - 1, 4, 5, 0, -1), DENY(0, SY_LIMITS_QUOTA, 1, 100, 0, NO, NO)},
    {ADMIT2(DAY_MS, 4, 5, 0, 2), OK_(99, 61000, NO, NO)},
    {FINISH(DAY_MS, 2, 0, -1)}, /* unknown cost: nothing charged */
    {ADMIT1(DAY_MS + 1, 8, 0, 3), OK_(NO, NO, NO, NO)},
    {FINISH(DAY_MS + 2, 3, 0, 1000)},
    /* January has 31 days; the month budget stays spent until Feb 1 00:00 UTC */
    {ADMIT1(31 * DAY_MS - 1, 8, 0, -1), DENY(0, SY_LIMITS_QUOTA, 1, NO, NO, NO, NO)},
    {ADMIT1(31 * DAY_MS, 8, 0, -1), OK_(NO, NO, NO, NO)},
    END};

/* Several limits are checked together and charged together: a refusal charges none. */
static const step_t CASE_ATOMIC[] = {
    {ADMIT2(0, 6, 7, 0, -1), OK_(0, 61000, NO, NO)},
    {ADMIT2(0, 6, 7, 0, -1), DENY(1, SY_LIMITS_RATE, 61000, 0, 61000, NO, NO)},
    {ADMIT1(0, 6, 0, -1), OK_(3, 61000, NO, NO)},
    {ADMIT1(0, 6, 0, -1), OK_(2, 61000, NO, NO)},
    {ADMIT1(0, 6, 0, -1), OK_(1, 61000, NO, NO)},
    {ADMIT1(0, 6, 0, -1), OK_(0, 61000, NO, NO)},
    {ADMIT1(0, 6, 0, -1), DENY(0, SY_LIMITS_RATE, 61000, 0, 61000, NO, NO)},
    /* a limit the request can never pass decides the reason, whatever refused first: no
     * retry time ("try again in -1s" was said before) */
    {ADMIT2(0, 6, 10, 500, -1), DENY(1, SY_LIMITS_TOO_LARGE, -1, 0, 61000, 100, 0)},
    {ADMIT2(0, 10, 6, 500, -1), DENY(0, SY_LIMITS_TOO_LARGE, -1, 0, 61000, 100, 0)},
    /* hour window: buckets of 1 min */
    {ADMIT1(0, 9, 0, -1), OK_(1, 3660000, NO, NO)},
    {ADMIT1(30000, 9, 0, -1), OK_(0, 3630000, NO, NO)},
    {ADMIT1(60000, 9, 0, -1), DENY(0, SY_LIMITS_RATE, 3600000, 0, 3600000, NO, NO)},
    END};

static void check_header(const sy_limits_header_t *h, int64_t rem, int64_t reset)
{
    if (rem == NO) {
        assert_false(h->present);
        return;
    }
    assert_true(h->present);
    assert_int_equal(h->remaining, rem);
    assert_int_equal(h->reset_ms, reset);
}

static void run_case(const step_t *steps, bool use_redis)
{
    harness_t h;
    h_open(&h, use_redis);
    sy_limits_resv_t *slots[8] = {0};
    for (int i = 0; steps[i].op; i++) {
        const step_t *s = &steps[i];
        h.clock.now = T0 + s->t;
        if (s->op == 'f' || s->op == 'c') {
            assert_non_null(slots[s->slot]);
            if (s->op == 'f') {
                h_finish(&h, slots[s->slot], s->tokens, s->cost);
            } else {
                call_t c = {0};
                sy_limits_cancel(h.l, slots[s->slot], on_done, &c);
                wait_call(&h, &c);
            }
            slots[s->slot] = NULL;
            continue;
        }
        sy_limit_t lim[3];
        for (int k = 0; k < s->n; k++)
            lim[k] = LIM[s->lim[k]];
        call_t c = h_admit(&h, lim, (size_t)s->n, s->est);
        print_message("%s step %d t=%lld\n", use_redis ? "redis" : "local", i, (long long)s->t);
        assert_int_equal(c.res.allowed, s->allowed);
        assert_int_equal(c.res.denied, s->denied);
        assert_false(c.res.unbacked);
        if (!s->allowed) {
            assert_int_equal(c.res.reason, s->reason);
            assert_int_equal(c.res.retry_after_ms, s->retry);
            assert_null(c.resv);
        } else {
            assert_int_equal(c.res.retry_after_ms, 0);
            assert_non_null(c.resv);
        }
        check_header(&c.res.requests, s->req_rem, s->req_reset);
        check_header(&c.res.tokens, s->tok_rem, s->tok_reset);
        if (c.resv) {
            if (s->slot >= 0)
                slots[s->slot] = c.resv;
            else
                h_finish(&h, c.resv, -1, -1);
        }
    }
    for (int i = 0; i < 8; i++)
        if (slots[i]) h_finish(&h, slots[i], -1, -1);
    h_close(&h);
}

static const step_t *const CASES[] = {CASE_WINDOW, CASE_TOKENS, CASE_CONCURRENT, CASE_BUDGET,
                                      CASE_ATOMIC};

static void table_local(void **state)
{
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        run_case(CASES[i], false);
}

static void table_redis(void **state)
{
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        run_case(CASES[i], true);
}

/* ---- both backends decide a random sequence identically ---- */

static void random_sequence_identical(void **state)
{
    harness_t a, b;
    h_open(&a, false);
    h_open(&b, true);
    sy_limits_resv_t *ra[16] = {0}, *rb[16] = {0};
    static const sy_limit_t pool[] = {
        {"k1", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 7, 0},
        {"k1", SY_LIMIT_TOKENS, SY_LIMIT_MINUTE, 500, 0},
        {"k2", SY_LIMIT_REQUESTS, SY_LIMIT_HOUR, 40, 0},
        {"k2", SY_LIMIT_TOKENS, SY_LIMIT_DAY, 3000, 0},
        {"k1", SY_LIMIT_CONCURRENT, SY_LIMIT_NONE, 3, 0},
        {"k3", SY_LIMIT_BUDGET, SY_LIMIT_DAY, 5000, 0},
        {"k3", SY_LIMIT_BUDGET, SY_LIMIT_MONTH, 20000, 0},
    };
    const size_t np = sizeof pool / sizeof pool[0];
    unsigned seed = 12345;
    int64_t t = T0;
    int allowed = 0, denied = 0;
    for (int i = 0; i < 600; i++) {
        t += rand_r(&seed) % 4 == 0 ? rand_r(&seed) % 20000 : rand_r(&seed) % 700;
        a.clock.now = b.clock.now = t;
        int slot = rand_r(&seed) % 16;
        if (ra[slot] && rand_r(&seed) % 2) {
            int64_t tok = rand_r(&seed) % 300 - 20, cost = rand_r(&seed) % 900 - 50;
            h_finish(&a, ra[slot], tok, cost);
            h_finish(&b, rb[slot], tok, cost);
            ra[slot] = rb[slot] = NULL;
            continue;
        }
        sy_limit_t lim[3];
        size_t n = 1 + rand_r(&seed) % 3;
        size_t first = rand_r(&seed) % np; /* distinct limits: a duplicate is refused */
        for (size_t k = 0; k < n; k++)
            lim[k] = pool[(first + k * 2) % np];
        int64_t est = rand_r(&seed) % 250;
        call_t ca = h_admit(&a, lim, n, est), cb = h_admit(&b, lim, n, est);
        if (ca.res.allowed != cb.res.allowed || ca.res.retry_after_ms != cb.res.retry_after_ms)
            print_message("step %d t=%lld n=%zu first=%zu est=%lld: local %d/%lld redis %d/%lld\n",
                          i, (long long)(t - T0), n, first, (long long)est, ca.res.allowed,
                          (long long)ca.res.retry_after_ms, cb.res.allowed,
                          (long long)cb.res.retry_after_ms);
        assert_int_equal(ca.res.allowed, cb.res.allowed);
        assert_int_equal(ca.res.denied, cb.res.denied);
        assert_int_equal(ca.res.reason, cb.res.reason);
        assert_int_equal(ca.res.retry_after_ms, cb.res.retry_after_ms);
        assert_memory_equal(&ca.res.requests, &cb.res.requests, sizeof ca.res.requests);
        assert_memory_equal(&ca.res.tokens, &cb.res.tokens, sizeof ca.res.tokens);
        ca.res.allowed ? allowed++ : denied++;
        if (!ca.res.allowed) continue;
        if (ra[slot]) {
            h_finish(&a, ra[slot], -1, -1);
            h_finish(&b, rb[slot], -1, -1);
        }
        ra[slot] = ca.resv;
        rb[slot] = cb.resv;
    }
    print_message("random: %d allowed, %d denied\n", allowed, denied);
    assert_true(allowed > 50 && denied > 50); /* the sequence exercised both outcomes */
    for (int i = 0; i < 16; i++) {
        if (ra[i]) h_finish(&a, ra[i], -1, -1);
        if (rb[i]) h_finish(&b, rb[i], -1, -1);
    }
    h_close(&a);
    h_close(&b);
}

/* ---- the sliding window's promise: never more than N in any window of length W ---- */

/* 1,000 requests spread evenly over one minute that straddles a minute boundary: a fixed window
 * would admit 200; this admits exactly 100. Then random arrivals (~300/min) for 10 minutes at
 * 50/min: no window of 60 s ever holds more than 50 admissions, and about 500 get through. */
static void any_window_exact(bool use_redis)
{
    harness_t h;
    h_open(&h, use_redis);
    const sy_limit_t rpm = {"key:straddle", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 100, 0};
    int admitted = 0;
    for (int i = 0; i < 1000; i++) {
        h.clock.now = T0 + 30000 + i * 60; /* 00:00:30 .. 00:01:29.94 */
        call_t c = h_admit(&h, &rpm, 1, 0);
        if (c.resv) {
            admitted++;
            h_finish(&h, c.resv, -1, -1);
        }
    }
    assert_int_equal(admitted, 100);

    const sy_limit_t lim = {"key:random", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 50, 0};
    int64_t at[4000];
    int n = 0;
    unsigned seed = 7;
    for (int64_t t = T0 + 1000000; t < T0 + 1600000 && n < 4000; t += rand_r(&seed) % 400) {
        h.clock.now = t;
        call_t c = h_admit(&h, &lim, 1, 0);
        if (!c.resv) continue;
        at[n++] = t;
        h_finish(&h, c.resv, -1, -1);
    }
    int full = 0;
    for (int i = 0, j = 0; i < n; i++) { /* the window [at[i], at[i] + 60 s) */
        while (j < n && at[j] < at[i] + MIN_MS)
            j++;
        assert_true(j - i <= 50);
        full += j - i == 50;
    }
    print_message("%s: %d admitted in 10 min, %d windows of 60 s hold exactly 50\n",
                  use_redis ? "redis" : "local", n, full);
    assert_true(n >= 450 && n <= 500); /* ~50 per minute: the conservative edge costs little */
    h_close(&h);
}

static void any_window_exact_local(void **state)
{
    any_window_exact(false);
}

static void any_window_exact_redis(void **state)
{
    any_window_exact(true);
}

/* ---- helpers ---- */

/* release frees the concurrency slot at once; the later finish reconciles tokens and budget
 * only (and does not release the slot twice). */
static void release_then_finish(bool use_redis)
{
    harness_t h;
    h_open(&h, use_redis);
    const sy_limit_t lim[] = {{"key:rel", SY_LIMIT_CONCURRENT, SY_LIMIT_NONE, 1, 0},
                              {"key:rel", SY_LIMIT_TOKENS, SY_LIMIT_MINUTE, 1000, 0},
                              {"key:rel", SY_LIMIT_BUDGET, SY_LIMIT_DAY, 100, 0}};
    call_t a = h_admit(&h, lim, 3, 600);
    assert_true(a.res.allowed);
    assert_false(h_admit(&h, lim, 3, 10).res.allowed); /* the slot is taken */
    call_t r = {0};
    sy_limits_release(h.l, a.resv, on_done, &r);
    wait_call(&h, &r);
    assert_true(r.ok);
    call_t b = h_admit(&h, lim, 3, 400); /* 600 + 400 tokens: exactly the limit */
    assert_true(b.res.allowed);
    assert_int_equal(b.res.tokens.remaining, 0);
    call_t r2 = {0};
    sy_limits_release(h.l, a.resv, on_done, &r2); /* nothing left to release */
    wait_call(&h, &r2);
    h_finish(&h, a.resv, 100, 100);                    /* refund 500, spend the whole budget */
    assert_false(h_admit(&h, lim, 3, 10).res.allowed); /* b still holds the slot */
    h_finish(&h, b.resv, 400, 0);
    call_t c = h_admit(&h, lim, 3, 10);
    assert_false(c.res.allowed);
    assert_int_equal(c.res.reason, SY_LIMITS_QUOTA);
    h.clock.now += DAY_MS;
    c = h_admit(&h, lim, 3, 10);
    assert_true(c.res.allowed);
    sy_limits_release(h.l, c.resv, NULL, NULL);
    sy_limits_cancel(h.l, c.resv, NULL, NULL);
    c = h_admit(&h, lim, 3, 10); /* the released slot is free again */
    assert_true(c.res.allowed);
    assert_int_equal(c.res.tokens.remaining, 990); /* the first 10 were refunded by cancel */
    h_finish(&h, c.resv, 10, 0);
    h_close(&h);
}

static void release_local(void **state)
{
    (void)state;
    release_then_finish(false);
}

static void release_redis(void **state)
{
    (void)state;
    release_then_finish(true);
}

/* core/str.h sy_u64_dec, which writes the x-ratelimit-* numbers: the same text as printf */
static void decimal_numbers(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ull;
    char a[32], b[32];
    for (int i = 0; i < 200000; i++) {
        uint64_t v;
        if (i < 1000)
            v = (uint64_t)i;
        else if (i < 1040)
            v = i % 2 ? UINT64_MAX / (1ull << (i - 1000) % 64) : 1000000000000000000ull;
        else {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
            v = x >> (x % 64);
        }
        size_t n = sy_u64_dec(a, v);
        a[n] = '\0';
        snprintf(b, sizeof b, "%llu", (unsigned long long)v);
        assert_string_equal(a, b);
    }
}

static void reset_format(void **state)
{
    static const struct {
        int64_t ms;
        const char *s;
    } cases[] = {{-5, "0s"},
                 {0, "0s"},
                 {20, "20ms"},
                 {999, "999ms"},
                 {1000, "1s"},
                 {1500, "1.5s"},
                 {1234, "1.234s"},
                 {59999, "59.999s"},
                 {60000, "1m0s"},
                 {360000, "6m0s"},
                 {61000, "1m1s"},
                 {3600000, "1h0m0s"},
                 {3661500, "1h1m1.5s"},
                 {86400000, "24h0m0s"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[SY_LIMITS_RESET_LEN];
        int n = sy_limits_format_reset(out, cases[i].ms);
        assert_string_equal(out, cases[i].s);
        assert_int_equal(n, (int)strlen(cases[i].s));
    }
    assert_int_equal(sy_limits_retry_after_s(-1), -1);
    assert_int_equal(sy_limits_retry_after_s(0), 1);
    assert_int_equal(sy_limits_retry_after_s(1), 1);
    assert_int_equal(sy_limits_retry_after_s(1000), 1);
    assert_int_equal(sy_limits_retry_after_s(1001), 2);
}

static void parse_one_line(void **state)
{
    static const struct {
        const char *text;
        sy_limit_kind_t kind;
        sy_limit_window_t window;
        int64_t amount;
    } ok[] = {
        {"100/hour", SY_LIMIT_REQUESTS, SY_LIMIT_HOUR, 100},
        {"100 requests/hour", SY_LIMIT_REQUESTS, SY_LIMIT_HOUR, 100},
        {" 3 req / m ", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 3},
        {"1 request/day", SY_LIMIT_REQUESTS, SY_LIMIT_DAY, 1},
        {"60000 tokens/minute", SY_LIMIT_TOKENS, SY_LIMIT_MINUTE, 60000},
        {"2000000 tok/d", SY_LIMIT_TOKENS, SY_LIMIT_DAY, 2000000},
        {"10 concurrent", SY_LIMIT_CONCURRENT, SY_LIMIT_NONE, 10},
        {"$5/day", SY_LIMIT_BUDGET, SY_LIMIT_DAY, 5000000000},
        {"$0.25/month", SY_LIMIT_BUDGET, SY_LIMIT_MONTH, 250000000},
        {"$0.000000001 / mo", SY_LIMIT_BUDGET, SY_LIMIT_MONTH, 1},
        {"$123456789.5/day", SY_LIMIT_BUDGET, SY_LIMIT_DAY, 123456789500000000},
        {"0/minute", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 0},
    };
    char err[200];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        sy_limit_t l = {0};
        assert_int_equal(sy_limits_parse(ok[i].text, &l, err, sizeof err), SY_OK);
        assert_int_equal(l.kind, ok[i].kind);
        assert_int_equal(l.window, ok[i].window);
        assert_int_equal(l.amount, ok[i].amount);
    }
    static const char *const bad[] = {
        "",
        "100",
        "100/",
        "100/week",
        "100/hours",
        "-1/minute",
        "1e3/hour",
        "100 tokens",
        "$5",
        "$5/hour",
        "$.5/day",
        "$5./day",
        "$0.0000000001/day",
        "$1234567890/day",
        "5 concurrent/minute",
        "10 concurrents",
        "100/hour extra",
        "9999999999999999999/minute",
        "100 apples/hour",
        "100/month",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sy_limit_t l;
        err[0] = '\0';
        assert_int_equal(sy_limits_parse(bad[i], &l, err, sizeof err), SY_ERR_CONFIG);
        assert_non_null(strstr(err, "bad limit"));
    }
}

static void bad_limits_rejected(void **state)
{
    harness_t h;
    h_open(&h, false);
    call_t c = {0};
    char long_scope[SY_LIMITS_SCOPE_MAX + 2];
    memset(long_scope, 'x', sizeof long_scope - 1);
    long_scope[sizeof long_scope - 1] = '\0';
    const sy_limit_t bad[] = {
        {NULL, SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 1, 0},
        {long_scope, SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 1, 0},
        {"k", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, -1, 0},
        {"k", SY_LIMIT_REQUESTS, SY_LIMIT_MONTH, 1, 0},
        {"k", SY_LIMIT_REQUESTS, SY_LIMIT_NONE, 1, 0},
        {"k", SY_LIMIT_CONCURRENT, SY_LIMIT_MINUTE, 1, 0},
        {"k", SY_LIMIT_BUDGET, SY_LIMIT_HOUR, 1, 0},
        {"k", (sy_limit_kind_t)9, SY_LIMIT_MINUTE, 1, 0},
    };
    const sy_limit_t twice[] = {{"k", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 1, 0},
                                {"j", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 1, 0},
                                {"k", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 5, 0}};
    assert_int_equal(sy_limits_admit(h.l, twice, 3, 0, on_admit, &c), SY_ERR_INVALID_REQUEST);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sy_limits_admit(h.l, &bad[i], 1, 0, on_admit, &c), SY_ERR_INVALID_REQUEST);
    assert_int_equal(sy_limits_admit(h.l, LIM, 0, 0, on_admit, &c), SY_ERR_INVALID_REQUEST);
    assert_int_equal(sy_limits_admit(h.l, LIM, 1, -1, on_admit, &c), SY_ERR_INVALID_REQUEST);
    assert_false(c.done); /* an error return never calls back */
    h_close(&h);
}

/* Expired state is evicted: a thousand one-off keys leave nothing behind after the window. */
static void local_evicts_expired(void **state)
{
    harness_t h;
    h_open(&h, false);
    for (int i = 0; i < 5000; i++) {
        char scope[32];
        snprintf(scope, sizeof scope, "k%d", i);
        sy_limit_t lim = {scope, SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 1, 0};
        call_t c = h_admit(&h, &lim, 1, 0);
        assert_true(c.res.allowed);
        h_finish(&h, c.resv, -1, -1);
    }
    assert_int_equal(sy_limits_local_entries(h.l), 5000);
    h.clock.now += 2 * MIN_MS;         /* every k-key's window is over */
    for (int i = 0; i < 200000; i++) { /* ~3,000 operations per stripe: each sweeps */
        char scope[16];
        snprintf(scope, sizeof scope, "n%d", i % 5000);
        sy_limit_t lim = {scope, SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 1000, 0};
        call_t c = h_admit(&h, &lim, 1, 0);
        assert_true(c.res.allowed);
        h_finish(&h, c.resv, -1, -1);
    }
    assert_int_equal(sy_limits_local_entries(h.l), 5000); /* only the n-keys are left */
    h_close(&h);
}

/* ---- in-process: many threads, exact counts ---- */

typedef struct thr {
    sy_limits_t *l;
    int id, admits, allowed;
} thr_t;

static void *admit_thread(void *arg)
{
    thr_t *t = arg;
    char own[32];
    snprintf(own, sizeof own, "thread:%d", t->id);
    const sy_limit_t lim[] = {
        {"key:shared", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 1000, 0},
        {"key:shared", SY_LIMIT_TOKENS, SY_LIMIT_MINUTE, 1000000, 0},
        {own, SY_LIMIT_CONCURRENT, SY_LIMIT_NONE, 1, 0},
    };
    for (int i = 0; i < t->admits; i++) {
        call_t c = {0};
        assert_int_equal(sy_limits_admit(t->l, lim, 3, 10, on_admit, &c), SY_OK);
        assert_true(c.done);
        if (!c.res.allowed) continue;
        t->allowed++;
        call_t d = {0};
        sy_limits_finish(t->l, c.resv, 7, -1, on_done, &d);
        assert_true(d.done);
    }
    return NULL;
}

static void local_threads_exact(void **state)
{
    fake_clock_t ck = {T0};
    sy_limits_clock_t clock = {fake_now, &ck};
    sy_limits_t *l = sy_limits_local_new(&clock);
    enum { N = 8, M = 3000 };
    thr_t t[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        t[i] = (thr_t){l, i, M, 0};
        assert_int_equal(pthread_create(&th[i], NULL, admit_thread, &t[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        total += t[i].allowed;
    }
    assert_int_equal(total, 1000);
    sy_limits_stats_t st;
    sy_limits_get_stats(l, &st);
    assert_int_equal(st.admitted, 1000);
    assert_int_equal(st.denied, N * M - 1000);
    /* tokens were reconciled to 7 per request: 7,000 of 1,000,000 used */
    call_t c = {0};
    const sy_limit_t tok = {"key:shared", SY_LIMIT_TOKENS, SY_LIMIT_MINUTE, 1000000, 0};
    sy_limits_admit(l, &tok, 1, 0, on_admit, &c);
    assert_true(c.res.allowed);
    assert_int_equal(c.res.tokens.remaining, 1000000 - 7000);
    sy_limits_cancel(l, c.resv, NULL, NULL);
    sy_limits_free(l);
}

/* ---- Redis: replicas on one key ---- */

typedef struct replica {
    int port, id, admits;
    const sy_limit_t *lim;
    size_t n;
    int64_t est;
    fake_clock_t *clock;
    int answered, allowed;
    sy_limits_resv_t *resv[400];
    pthread_barrier_t *all_admitted; /* nobody releases before every replica is answered */
} replica_t;

static void on_replica_admit(void *arg, const sy_limits_result_t *res, sy_limits_resv_t *resv)
{
    replica_t *r = arg;
    r->answered++;
    assert_false(res->unbacked);
    if (!res->allowed) return;
    r->resv[r->allowed++] = resv;
}

/* One replica: its own loop and connection; fires every admit at once (pipelined). */
static void *replica_thread(void *arg)
{
    replica_t *r = arg;
    uv_loop_t loop;
    uv_loop_init(&loop);
    sy_limits_redis_config_t cfg = redis_cfg(r->port);
    char name[16];
    snprintf(name, sizeof name, "r%d", r->id);
    cfg.replica = name;
    cfg.timeout_ms = 10000;
    sy_limits_clock_t ck = {fake_now, r->clock};
    sy_limits_t *l = sy_limits_redis_new(&loop, &cfg, &ck);
    for (int i = 0; i < r->admits; i++)
        assert_int_equal(sy_limits_admit(l, r->lim, r->n, r->est, on_replica_admit, r), SY_OK);
    while (r->answered < r->admits)
        uv_run(&loop, UV_RUN_ONCE);
    pthread_barrier_wait(r->all_admitted);
    call_t c = {0};
    for (int i = 0; i < r->allowed; i++) {
        c.done = false;
        sy_limits_cancel(l, r->resv[i], on_done, &c);
        while (!c.done)
            uv_run(&loop, UV_RUN_ONCE);
        assert_true(c.ok);
    }
    sy_limits_free(l);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return NULL;
}

static int hammer(const sy_limit_t *lim, size_t n, int64_t est, int replicas, int each)
{
    fake_clock_t clock = {T0 + 12345};
    replica_t r[8];
    pthread_t th[8];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)replicas);
    for (int i = 0; i < replicas; i++) {
        r[i] = (replica_t){redis.port, i, each, lim, n, est, &clock, 0, 0, {0}, &bar};
        assert_int_equal(pthread_create(&th[i], NULL, replica_thread, &r[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < replicas; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].answered, each);
        total += r[i].allowed;
    }
    pthread_barrier_destroy(&bar);
    return total;
}

static void redis_replicas_exact(void **state)
{
    assert_int_equal(sy_test_redis_cmd(redis.port, "FLUSHALL"), 0);
    const sy_limit_t rpm = {"key:replicas", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 100, 0};
    assert_int_equal(hammer(&rpm, 1, 0, 3, 334), 100); /* 1,002 requests over 3 replicas */
    const sy_limit_t tpm[] = {
        {"key:tok", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 1000000, 0},
        {"key:tok", SY_LIMIT_TOKENS, SY_LIMIT_MINUTE, 10000, 0},
    };
    assert_int_equal(hammer(tpm, 2, 300, 4, 50), 33); /* 10000 / 300 */
    const sy_limit_t conc = {"key:conc", SY_LIMIT_CONCURRENT, SY_LIMIT_NONE, 17, 0};
    assert_int_equal(hammer(&conc, 1, 0, 3, 100), 17); /* nobody finishes */
}

/* ---- Redis: unreachable, hung, back ---- */

static void redis_down_fail_closed_and_open(void **state)
{
    int port = sy_test_redis_free_port(); /* nothing listens there */
    for (int open_ = 0; open_ <= 1; open_++) {
        harness_t h = {.clock.now = T0};
        h.loop = malloc(sizeof(*h.loop));
        uv_loop_init(h.loop);
        sy_limits_redis_config_t cfg = redis_cfg(port);
        cfg.fail_open = open_;
        cfg.timeout_ms = 100;
        sy_limits_clock_t ck = {fake_now, &h.clock};
        h.l = sy_limits_redis_new(h.loop, &cfg, &ck);
        for (int i = 0; i < 3; i++) {
            call_t c = h_admit(&h, LIM, 1, 0);
            assert_int_equal(c.res.allowed, open_);
            if (open_) {
                assert_true(c.res.unbacked);
                assert_false(c.res.requests.present);
                h_finish(&h, c.resv, 10, 10); /* nothing to release: ok */
            } else {
                assert_int_equal(c.res.reason, SY_LIMITS_UNAVAILABLE);
                assert_int_equal(c.res.denied, -1);
                assert_null(c.resv);
            }
        }
        sy_limits_stats_t st;
        sy_limits_get_stats(h.l, &st);
        assert_int_equal(st.fail_open, open_ ? 3 : 0);
        assert_int_equal(st.fail_closed, open_ ? 0 : 3);
        assert_int_equal(st.admitted + st.denied, 0);
        h_close(&h);
    }
}

/* A Redis harness whose calls time out after 150 ms. */
static void h_open_redis_150ms(harness_t *h)
{
    h_open(h, true);
    sy_limits_redis_config_t cfg = redis_cfg(redis.port);
    sy_limits_free(h->l);
    cfg.timeout_ms = 150;
    sy_limits_clock_t ck = {fake_now, &h->clock};
    h->l = sy_limits_redis_new(h->loop, &cfg, &ck);
}

static void redis_hung_times_out_then_recovers(void **state)
{
    harness_t h;
    h_open_redis_150ms(&h);
    call_t c = h_admit(&h, LIM, 1, 0); /* connected and working */
    assert_true(c.res.allowed);
    h_finish(&h, c.resv, -1, -1);
    assert_int_equal(kill(redis.pid, SIGSTOP), 0);
    uint64_t t0 = uv_hrtime();
    c = h_admit(&h, LIM, 1, 0);
    uint64_t waited_ms = (uv_hrtime() - t0) / 1000000;
    assert_int_equal(kill(redis.pid, SIGCONT), 0);
    assert_false(c.res.allowed);
    assert_int_equal(c.res.reason, SY_LIMITS_UNAVAILABLE);
    assert_true(waited_ms >= 140 && waited_ms < 2000);
    /* the late reply is ignored (it charged the counter: conservative); the next call works */
    c = h_admit(&h, LIM, 1, 0);
    assert_true(c.res.allowed);
    assert_int_equal(c.res.requests.remaining, 0); /* 3: the first, the late one, this one */
    h_finish(&h, c.resv, -1, -1);

    /* Redis restarts on the same port: the connection is re-made (at most once a second) */
    int port = redis.port;
    sy_test_redis_stop(&redis);
    c = h_admit(&h, LIM, 1, 0);
    assert_int_equal(c.res.reason, SY_LIMITS_UNAVAILABLE);
    assert_int_equal(sy_test_redis_start(&redis, port, NULL), 0);
    usleep(1100 * 1000);
    c = h_admit(&h, LIM, 1, 0); /* fresh server: the script is loaded again */
    assert_true(c.res.allowed);
    assert_false(c.res.unbacked);
    assert_int_equal(c.res.requests.remaining, 2);
    h_finish(&h, c.resv, -1, -1);
    /* SCRIPT FLUSH: EVALSHA answers NOSCRIPT, the call falls back to EVAL */
    assert_int_equal(sy_test_redis_cmd(redis.port, "SCRIPT FLUSH"), 0);
    c = h_admit(&h, LIM, 1, 0);
    assert_true(c.res.allowed);
    assert_int_equal(c.res.requests.remaining, 1);
    h_finish(&h, c.resv, -1, -1);
    h_close(&h);
}

/* An admit that timed out (refused: fail-closed) but that Redis ran and admitted after all is
 * cancelled when its late reply comes: its concurrency lease is not left to block the key. */
static void redis_late_admit_cancelled(void **state)
{
    (void)state;
    harness_t h;
    h_open_redis_150ms(&h);
    call_t held = h_admit(&h, &LIM[3], 1, 0); /* one of the key's 2 slots, kept */
    assert_true(held.res.allowed);
    assert_int_equal(kill(redis.pid, SIGSTOP), 0);
    call_t c = h_admit(&h, &LIM[3], 1, 0);
    assert_int_equal(kill(redis.pid, SIGCONT), 0);
    assert_false(c.res.allowed);
    assert_int_equal(c.res.reason, SY_LIMITS_UNAVAILABLE);
    /* a round trip on another key: the late reply (admitted: slot 2) comes before its reply,
     * so the cancel has been sent by the time it returns */
    call_t u = h_admit(&h, &LIM[0], 1, 0);
    assert_true(u.res.allowed);
    h_finish(&h, u.resv, -1, -1);
    c = h_admit(&h, &LIM[3], 1, 0); /* the slot is free again */
    assert_true(c.res.allowed);
    h_finish(&h, c.resv, -1, -1);
    h_finish(&h, held.resv, -1, -1);
    h_close(&h);
}

/* The same with fail-open: the admit that timed out was handed out unbacked (its finish does
 * nothing), so what Redis charged for it when it ran late is undone when the late reply comes:
 * the token estimate refunded, the lease removed. Before, both stayed: the key lost a slot
 * until the lease expired and the estimate counted for a window. */
static void redis_late_admit_refunded_fail_open(void **state)
{
    (void)state;
    harness_t h;
    h_open(&h, true);
    sy_limits_free(h.l);
    sy_limits_redis_config_t cfg = redis_cfg(redis.port);
    cfg.timeout_ms = 150;
    cfg.fail_open = true;
    sy_limits_clock_t ck = {fake_now, &h.clock};
    h.l = sy_limits_redis_new(h.loop, &cfg, &ck);
    /* LIM[2], LIM[3]: 100 tokens/minute on key:b, 2 concurrent on key:c */
    call_t held = h_admit(&h, &LIM[3], 1, 0); /* one of the 2 slots, kept */
    assert_true(held.res.allowed);
    assert_int_equal(kill(redis.pid, SIGSTOP), 0);
    call_t c = h_admit(&h, &LIM[2], 2, 60);
    assert_int_equal(kill(redis.pid, SIGCONT), 0);
    assert_true(c.res.allowed);
    assert_true(c.res.unbacked);
    h_finish(&h, c.resv, 100, -1);         /* unbacked: applies nothing */
    call_t u = h_admit(&h, &LIM[0], 1, 0); /* a round trip: the late reply came before it */
    assert_true(u.res.allowed);
    h_finish(&h, u.resv, -1, -1);
    c = h_admit(&h, &LIM[2], 2, 60); /* 60 tokens and the second slot: both were given back */
    assert_true(c.res.allowed);
    assert_false(c.res.unbacked);
    assert_int_equal(c.res.tokens.remaining, 40);
    call_t d = h_admit(&h, &LIM[3], 1, 0); /* held + c: the key is full */
    assert_false(d.res.allowed);
    h_finish(&h, c.resv, -1, -1);
    h_finish(&h, held.resv, -1, -1);
    sy_limits_stats_t st;
    sy_limits_get_stats(h.l, &st);
    assert_int_equal(st.fail_open, 1);
    h_close(&h);
}

static void run_for_ms(harness_t *h, int ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000;
    while (uv_hrtime() < end) {
        uv_run(h->loop, UV_RUN_NOWAIT);
        usleep(5000);
    }
}

/* A finish that fails (here Redis refuses scripts: out of memory) is not lost: it is queued and
 * sent again once Redis works, so the budget spend it carries counts. Before, the spend was
 * dropped and the budget never saw it. */
static void redis_finish_retried(void **state)
{
    (void)state;
    harness_t h;
    h_open(&h, true);
    static const sy_limit_t budget[] = {{"key:f", SY_LIMIT_BUDGET, SY_LIMIT_DAY, 1000, 0},
                                        {"key:f", SY_LIMIT_TOKENS, SY_LIMIT_MINUTE, 1000, 0}};
    call_t c = h_admit(&h, budget, 2, 300);
    assert_true(c.res.allowed);
    assert_int_equal(sy_test_redis_cmd(redis.port, "CONFIG SET maxmemory 1"), 0);
    call_t d = {0};
    sy_limits_finish(h.l, c.resv, 500, 1000, on_done, &d); /* the whole budget, 200 tokens over */
    run_for_ms(&h, 300);
    assert_false(d.done); /* failed and queued, not given up */
    sy_limits_stats_t st;
    sy_limits_get_stats(h.l, &st);
    assert_int_equal(st.finish_failed, 1);
    assert_int_equal(st.finish_lost, 0);
    assert_int_equal(sy_test_redis_cmd(redis.port, "CONFIG SET maxmemory 0"), 0);
    wait_call(&h, &d); /* the retry, within a second */
    assert_true(d.ok);
    c = h_admit(&h, budget, 2, 0);
    assert_false(c.res.allowed);
    assert_int_equal(c.res.reason, SY_LIMITS_QUOTA); /* the spend counted */
    c = h_admit(&h, &budget[1], 1, 0);
    assert_true(c.res.allowed);
    assert_int_equal(c.res.tokens.remaining, 500); /* 300 estimate + 200 overrun */
    h_finish(&h, c.resv, 0, -1);
    sy_limits_get_stats(h.l, &st);
    assert_int_equal(st.finish_failed, 1);
    assert_int_equal(st.finish_lost, 0);
    h_close(&h);
}

static void on_keepalive(uv_timer_t *t)
{
    (void)t;
}

/* The connection is lost after a finish was sent: it may have been applied, so the retry only
 * charges. The budget spend and the concurrency release land; the token refund (estimate 300,
 * used 100) is dropped rather than risk giving 200 back twice. */
static void redis_finish_retried_conservatively(void **state)
{
    (void)state;
    harness_t h;
    h_open(&h, true);
    uv_timer_t keep; /* the retry timer does not keep a loop alive (the gateway's server does) */
    uv_timer_init(h.loop, &keep);
    uv_timer_start(&keep, on_keepalive, 10, 10);
    static const sy_limit_t lim[] = {{"key:g", SY_LIMIT_BUDGET, SY_LIMIT_DAY, 1000, 0},
                                     {"key:g", SY_LIMIT_TOKENS, SY_LIMIT_MINUTE, 1000, 0},
                                     {"key:g", SY_LIMIT_CONCURRENT, SY_LIMIT_NONE, 1, 0}};
    call_t c = h_admit(&h, lim, 3, 300);
    assert_true(c.res.allowed);
    usleep(1100 * 1000); /* the reconnect below is allowed at most once a second */
    /* the gateway's connection goes away (SKIPME: not this command's own) */
    assert_int_equal(sy_test_redis_cmd(redis.port, "CLIENT KILL TYPE normal"), 0);
    call_t d = {0};
    sy_limits_finish(h.l, c.resv, 100, 1000, on_done, &d); /* sent on the dead connection */
    wait_call(&h, &d);
    assert_true(d.ok); /* retried once the connection was made again */
    sy_limits_stats_t st;
    sy_limits_get_stats(h.l, &st);
    assert_int_equal(st.finish_failed, 1);
    c = h_admit(&h, &lim[1], 2, 0); /* the slot is free, the 300 tokens still counted */
    assert_true(c.res.allowed);
    assert_int_equal(c.res.tokens.remaining, 700);
    h_finish(&h, c.resv, 0, -1);
    c = h_admit(&h, lim, 1, 0);
    assert_int_equal(c.res.reason, SY_LIMITS_QUOTA); /* the spend counted */
    uv_close((uv_handle_t *)&keep, NULL);
    h_close(&h);
}

/* The fd of this process's TCP connection to 127.0.0.1:port (the limiter's Redis context), or
 * -1 when there is none. */
static int redis_conn_fd(int port)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int found = -1;
    for (struct dirent *e; found < 0 && (e = readdir(d));) {
        int fd = atoi(e->d_name);
        struct sockaddr_in a;
        socklen_t al = sizeof a;
        if (fd > 2 && getpeername(fd, (struct sockaddr *)&a, &al) == 0 && a.sin_family == AF_INET &&
            ntohs(a.sin_port) == port)
            found = fd;
    }
    closedir(d);
    return found;
}

/* A finish handed to hiredis while its context is still connecting; the context then connects
 * and the script reaches Redis (stopped: it runs later), but the connection is lost before the
 * reply. It may have been applied, so the retry must only charge. Before, "the connection was
 * not up when it was sent" counted as "not applied": the retry refunded the tokens twice. */
static void redis_finish_retried_conservatively_after_connecting(void **state)
{
    (void)state;
    harness_t h;
    h_open(&h, true);
    uv_timer_t keep;
    uv_timer_init(h.loop, &keep);
    uv_timer_start(&keep, on_keepalive, 10, 10);
    static const sy_limit_t lim[] = {{"key:h", SY_LIMIT_BUDGET, SY_LIMIT_DAY, 5000, 0},
                                     {"key:h", SY_LIMIT_TOKENS, SY_LIMIT_MINUTE, 1000, 0}};
    call_t c = h_admit(&h, lim, 2, 300);
    assert_true(c.res.allowed);
    assert_int_equal(sy_test_redis_cmd(redis.port, "CLIENT KILL TYPE normal"), 0);
    run_for_ms(&h, 100); /* the loss is seen: no context */
    assert_int_equal(redis_conn_fd(redis.port), -1);
    usleep(1100 * 1000); /* a reconnect is allowed at most once a second */
    assert_int_equal(kill(redis.pid, SIGSTOP), 0);
    call_t d = {0};
    sy_limits_finish(h.l, c.resv, 100, 1000, on_done, &d); /* sent on a connecting context */
    run_for_ms(&h, 200); /* connected (the kernel's backlog) and the script written */
    int fd = redis_conn_fd(redis.port);
    assert_true(fd >= 0);
    assert_int_equal(shutdown(fd, SHUT_RD), 0); /* the reply will never be read */
    run_for_ms(&h, 100);
    assert_false(d.done);                          /* failed and queued */
    assert_int_equal(kill(redis.pid, SIGCONT), 0); /* Redis runs the script now */
    wait_call(&h, &d);
    assert_true(d.ok);
    sy_limits_stats_t st;
    sy_limits_get_stats(h.l, &st);
    assert_int_equal(st.finish_failed, 1);
    c = h_admit(&h, &lim[1], 1, 0); /* 300 - 200 refunded once: 100 used */
    assert_true(c.res.allowed);
    assert_int_equal(c.res.tokens.remaining, 900);
    h_finish(&h, c.resv, 0, -1);
    uv_close((uv_handle_t *)&keep, NULL);
    h_close(&h);
}

/* ---- Redis: concurrency leases ---- */

static sy_limits_t *lease_replica(uv_loop_t *loop, fake_clock_t *clock, int64_t lease_ms,
                                  const char *name)
{
    uv_loop_init(loop);
    sy_limits_redis_config_t cfg = redis_cfg(redis.port);
    cfg.lease_ms = lease_ms;
    cfg.replica = name;
    sy_limits_clock_t ck = {fake_now, clock};
    return sy_limits_redis_new(loop, &cfg, &ck);
}

static call_t admit_on(sy_limits_t *l, uv_loop_t *loop, const sy_limit_t *lim)
{
    harness_t h = {.l = l, .loop = loop};
    return h_admit(&h, lim, 1, 0);
}

static void close_replica(sy_limits_t *l, uv_loop_t *loop)
{
    sy_limits_free(l);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

static void redis_leases(void **state)
{
    assert_int_equal(sy_test_redis_cmd(redis.port, "FLUSHALL"), 0);
    fake_clock_t clock = {T0};
    const sy_limit_t conc = {"key:lease", SY_LIMIT_CONCURRENT, SY_LIMIT_NONE, 1, 0};
    uv_loop_t la, lb;
    /* A crashed replica (its loop never runs again) holds the only slot until its lease ends */
    sy_limits_t *a = lease_replica(&la, &clock, 1000, "A");
    sy_limits_t *b = lease_replica(&lb, &clock, 1000, "B");
    call_t c = admit_on(a, &la, &conc);
    assert_true(c.res.allowed);
    clock.now = T0 + 999;
    assert_false(admit_on(b, &lb, &conc).res.allowed);
    clock.now = T0 + 1001;
    call_t d = admit_on(b, &lb, &conc);
    assert_true(d.res.allowed);
    sy_limits_cancel(b, d.resv, NULL, NULL);
    close_replica(a, &la); /* frees A's live reservation */
    close_replica(b, &lb);

    /* A live replica refreshes its lease every lease_ms/3 */
    assert_int_equal(sy_test_redis_cmd(redis.port, "FLUSHALL"), 0);
    clock.now = T0;
    a = lease_replica(&la, &clock, 300, "A");
    b = lease_replica(&lb, &clock, 300, "B");
    c = admit_on(a, &la, &conc);
    assert_true(c.res.allowed);
    clock.now = T0 + 200;
    uint64_t t0 = uv_hrtime();
    while (uv_hrtime() - t0 < 250 * 1000000ull) { /* the 100 ms refresh timer fires */
        uv_run(&la, UV_RUN_NOWAIT);
        usleep(5000);
    }
    const sy_limit_t other = {"key:other", SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 100, 0};
    call_t o = admit_on(a, &la, &other); /* after A's refresh on the same connection */
    sy_limits_cancel(a, o.resv, NULL, NULL);
    clock.now = T0 + 400; /* past the first lease, inside the refreshed one (T0 + 500) */
    assert_false(admit_on(b, &lb, &conc).res.allowed);
    clock.now = T0 + 501;
    d = admit_on(b, &lb, &conc);
    assert_true(d.res.allowed);
    /* finish releases at once */
    call_t e = {0};
    harness_t ha = {.l = a, .loop = &la};
    sy_limits_finish(a, c.resv, -1, -1, on_done, &e);
    wait_call(&ha, &e);
    sy_limits_cancel(b, d.resv, NULL, NULL);
    call_t f = admit_on(b, &lb, &conc);
    assert_true(f.res.allowed);
    sy_limits_cancel(b, f.resv, NULL, NULL);
    close_replica(a, &la);
    close_replica(b, &lb);
}

/* A server that requires a password: AUTH is sent first on every connection; a wrong password
 * is a backend failure, not an admission. */
static void redis_password(void **state)
{
    sy_test_redis_t rs;
    assert_int_equal(sy_test_redis_start(&rs, 0, "s3cret pass"), 0);
    for (int good = 0; good <= 1; good++) {
        harness_t h = {.clock.now = T0};
        h.loop = malloc(sizeof(*h.loop));
        uv_loop_init(h.loop);
        sy_limits_redis_config_t cfg = redis_cfg(rs.port);
        cfg.password = good ? "s3cret pass" : "wrong";
        sy_limits_clock_t ck = {fake_now, &h.clock};
        h.l = sy_limits_redis_new(h.loop, &cfg, &ck);
        call_t c = h_admit(&h, LIM, 1, 0);
        assert_int_equal(c.res.allowed, good);
        if (good) {
            assert_int_equal(c.res.requests.remaining, 2);
            h_finish(&h, c.resv, -1, -1);
        } else {
            assert_int_equal(c.res.reason, SY_LIMITS_UNAVAILABLE);
        }
        h_close(&h);
    }
    sy_test_redis_stop(&rs);
}

static int start_redis(void **state)
{
    if (sy_test_redis_start(&redis, 0, NULL)) {
        fprintf(stderr, "test_limits: cannot start redis-server (scripts/deps.sh test)\n");
        return -1;
    }
    return 0;
}

static int stop_redis(void **state)
{
    sy_test_redis_stop(&redis);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decimal_numbers),
        cmocka_unit_test(reset_format),
        cmocka_unit_test(parse_one_line),
        cmocka_unit_test(bad_limits_rejected),
        cmocka_unit_test(table_local),
        cmocka_unit_test(table_redis),
        cmocka_unit_test(release_local),
        cmocka_unit_test(release_redis),
        cmocka_unit_test(random_sequence_identical),
        cmocka_unit_test(any_window_exact_local),
        cmocka_unit_test(any_window_exact_redis),
        cmocka_unit_test(local_evicts_expired),
        cmocka_unit_test(local_threads_exact),
        cmocka_unit_test(redis_replicas_exact),
        cmocka_unit_test(redis_down_fail_closed_and_open),
        cmocka_unit_test(redis_leases),
        cmocka_unit_test(redis_password),
        cmocka_unit_test(redis_hung_times_out_then_recovers),
        cmocka_unit_test(redis_late_admit_cancelled),
        cmocka_unit_test(redis_late_admit_refunded_fail_open),
        cmocka_unit_test(redis_finish_retried),
        cmocka_unit_test(redis_finish_retried_conservatively),
        cmocka_unit_test(redis_finish_retried_conservatively_after_connecting),
    };
    return cmocka_run_group_tests(tests, start_redis, stop_redis);
}
