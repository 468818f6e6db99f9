/* Cost of the limiter (docs/internals/LIMITS.md).
 *   limits_bench local [iterations] [threads]
 *     In-process backend: per request one admit of 3 limits (requests/min and tokens/min of one
 *     of 1,000 keys, concurrency of key x model) and its finish; p50/p99/p99.9 of admit and of
 *     admit+finish, per thread, all threads hitting the same backend.
 *   limits_bench redis <port> [iterations] [pipeline]
 *     Redis backend on 127.0.0.1:<port>: round trip of one admit (sequential), then admits/s
 *     with <pipeline> calls in flight on one connection. Uses (and FLUSHes nothing in) a
 *     scratch key space under sy:rl:. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/limits.h"
#include "timing.h"

static void report(const char *what, uint64_t *ns, size_t n)
{
    qsort(ns, n, sizeof(*ns), bench_cmp_u64);
    printf("%-28s p50 %6.2f us  p99 %6.2f us  p99.9 %7.2f us\n", what, ns[n / 2] / 1e3,
           ns[n * 99 / 100] / 1e3, ns[n * 999 / 1000] / 1e3);
}

typedef struct call {
    int done, allowed;
    sy_limits_resv_t *resv;
} call_t;

static void on_admit(void *arg, const sy_limits_result_t *res, sy_limits_resv_t *resv)
{
    call_t *c = arg;
    c->done++;
    c->allowed += res->allowed;
    c->resv = resv;
}

typedef struct pipe {
    sy_limits_t *l;
    int done, allowed;
} pipe_t;

static void on_admit_finish(void *arg, const sy_limits_result_t *res, sy_limits_resv_t *resv)
{
    pipe_t *p = arg;
    p->done++;
    p->allowed += res->allowed;
    if (resv) sy_limits_finish(p->l, resv, 420, 1000, NULL, NULL);
}

static void fill_limits(sy_limit_t lim[3], char *key, char *km, size_t i)
{
    snprintf(key, 32, "key:sy-%zu", i % 1000);
    snprintf(km, 48, "key:sy-%zu|model:gpt-4o", i % 1000);
    lim[0] = (sy_limit_t){key, SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 1000000000, 0};
    lim[1] = (sy_limit_t){key, SY_LIMIT_TOKENS, SY_LIMIT_MINUTE, 1000000000000, 0};
    lim[2] = (sy_limit_t){km, SY_LIMIT_CONCURRENT, SY_LIMIT_NONE, 1000, 0};
}

typedef struct thr {
    sy_limits_t *l;
    size_t iters, seed;
    uint64_t *admit_ns, *pair_ns;
} thr_t;

static void *local_thread(void *arg)
{
    thr_t *t = arg;
    char key[32], km[48];
    sy_limit_t lim[3];
    for (size_t i = 0; i < t->iters; i++) {
        fill_limits(lim, key, km, i * 7919 + t->seed);
        call_t c = {0};
        uint64_t t0 = bench_now_ns();
        sy_limits_admit(t->l, lim, 3, 500, on_admit, &c);
        uint64_t t1 = bench_now_ns();
        if (c.resv) sy_limits_finish(t->l, c.resv, 420, 1000, NULL, NULL);
        uint64_t t2 = bench_now_ns();
        if (!c.allowed) fprintf(stderr, "limits_bench: unexpected refusal\n"), exit(1);
        t->admit_ns[i] = t1 - t0;
        t->pair_ns[i] = t2 - t0;
    }
    return NULL;
}

static int bench_local(size_t iters, int threads)
{
    sy_limits_t *l = sy_limits_local_new(NULL);
    thr_t t[16];
    pthread_t th[16];
    for (int i = 0; i < threads; i++) {
        t[i] = (thr_t){l, iters, (size_t)i * 104729, calloc(iters, 8), calloc(iters, 8)};
        pthread_create(&th[i], NULL, local_thread, &t[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    printf("in-process, %d thread(s), %zu requests each, 3 limits, 1,000 keys\n", threads, iters);
    for (int i = 0; i < threads; i++) {
        char what[64];
        snprintf(what, sizeof what, "thread %d admit", i);
        report(what, t[i].admit_ns, iters);
        snprintf(what, sizeof what, "thread %d admit+finish", i);
        report(what, t[i].pair_ns, iters);
        free(t[i].admit_ns);
        free(t[i].pair_ns);
    }
    printf("keys held: %zu\n", sy_limits_local_entries(l));
    sy_limits_free(l);
    return 0;
}

static int bench_redis(int port, size_t iters, size_t pipeline)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    sy_limits_redis_config_t cfg = {.host = "127.0.0.1", .port = port, .timeout_ms = 5000};
    sy_limits_t *l = sy_limits_redis_new(&loop, &cfg, NULL);
    char key[32], km[48];
    sy_limit_t lim[3];
    uint64_t *rt = calloc(iters, 8);
    for (size_t i = 0; i < iters + 100; i++) { /* the first 100 warm up (connect, load) */
        fill_limits(lim, key, km, i);
        call_t c = {0};
        uint64_t t0 = bench_now_ns();
        sy_limits_admit(l, lim, 3, 500, on_admit, &c);
        while (!c.done)
            uv_run(&loop, UV_RUN_ONCE);
        if (i >= 100) rt[i - 100] = bench_now_ns() - t0;
        if (!c.allowed) fprintf(stderr, "limits_bench: refused (redis down?)\n"), exit(1);
        sy_limits_finish(l, c.resv, 420, 1000, NULL, NULL);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    printf("redis 127.0.0.1:%d, 3 limits, sequential admits\n", port);
    report("admit round trip", rt, iters);
    pipe_t many = {l, 0, 0};
    uint64_t t0 = bench_now_ns();
    size_t total = 0;
    while (total < iters) {
        size_t base = (size_t)many.done;
        for (size_t k = 0; k < pipeline; k++) {
            fill_limits(lim, key, km, total + k);
            sy_limits_admit(l, lim, 3, 500, on_admit_finish, &many);
        }
        while ((size_t)many.done < base + pipeline)
            uv_run(&loop, UV_RUN_ONCE);
        total += pipeline;
    }
    double s = (bench_now_ns() - t0) / 1e9;
    if ((size_t)many.allowed != total) fprintf(stderr, "limits_bench: refusals\n"), exit(1);
    printf("pipelined (%zu in flight): %.0f admit+finish pairs/s on one connection (%.1f us "
           "each)\n",
           pipeline, total / s, s * 1e6 / total);
    free(rt);
    sy_limits_free(l);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "local") == 0) {
        size_t iters = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
        int threads = argc > 3 ? atoi(argv[3]) : 1;
        if (!iters || threads < 1 || threads > 16) return 2;
        return bench_local(iters, threads);
    }
    if (argc > 2 && strcmp(argv[1], "redis") == 0) {
        size_t iters = argc > 3 ? strtoull(argv[3], NULL, 10) : 20000;
        size_t pipeline = argc > 4 ? strtoull(argv[4], NULL, 10) : 64;
        if (!iters || !pipeline) return 2;
        return bench_redis(atoi(argv[2]), iters, pipeline);
    }
    fprintf(stderr, "usage: limits_bench local [iterations] [threads]\n"
                    "       limits_bench redis <port> [iterations] [pipeline]\n");
    return 2;
}
