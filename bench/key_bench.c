/* Cost of the per-call key copy (docs/internals/SECRETS.md, "Swapping a key without a
 * restart"): sy_provider_request_id_header with a key block (seqlock read of ~70 bytes into
 * the arena) against the same call without one (what the call did before: only the
 * x-request-id node). Batches of 1,000 calls; p50/p99 of the per-call mean of a batch.
 *   key_bench [batches] [threads]   threads > 1: all on the SAME deployment (worst contention),
 *                                   while another thread swaps the key every millisecond
 *                                   (KEY_BENCH_NOSWAP=1: no swaps). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "providers/provider.h"

#define BATCH 1000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct run {
    sy_deploy_conf_t *d;
    size_t batches;
    double *ns; /* per-call mean of each batch */
} run_t;

static void *bench(void *arg)
{
    run_t *r = arg;
    sy_arena_t a;
    sy_arena_init(&a);
    struct curl_slist shared = {.data = "Content-Type: application/json", .next = NULL};
    sy_call_t call;
    memset(&call, 0, sizeof call);
    call.deploy = r->d;
    call.arena = &a;
    call.request_id = "0194f1a2-7b3c-7d4e-8f90-a1b2c3d4e5f6";
    volatile size_t sink = 0;
    for (size_t b = 0; b < r->batches; b++) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < BATCH; i++) {
            struct curl_slist node;
            struct curl_slist *h = sy_provider_request_id_header(&call, &node, &shared);
            sink += (size_t)h->next;
            if ((i & 15) == 15) sy_arena_reset(&a); /* a request's arena lives ~1 call */
        }
        r->ns[b] = (double)(now_ns() - t0) / BATCH;
    }
    (void)sink;
    sy_arena_dispose(&a);
    return NULL;
}

static atomic_bool stop_swapping;

static void *swapper(void *arg)
{
    sy_deploy_conf_t *d = arg;
    for (int i = 0; !atomic_load(&stop_swapping); i++) {
        const char *k = i % 2 ? "sk-proj-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                              : "sk-proj-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        sy_provider_key_set(d, k, strlen(k));
        usleep(1000);
    }
    return NULL;
}

/* swap: the deployment the swapper thread writes to (the measured one, or another one so that
 * the baseline runs with the same number of threads) */
static void measure(const char *what, sy_deploy_conf_t *d, sy_deploy_conf_t *swap_d, size_t batches,
                    int threads)
{
    pthread_t t[16], sw;
    run_t r[16];
    atomic_store(&stop_swapping, false);
    bool swap = !getenv("KEY_BENCH_NOSWAP");
    if (swap) pthread_create(&sw, NULL, swapper, swap_d);
    for (int i = 0; i < threads; i++) {
        r[i] = (run_t){.d = d, .batches = batches, .ns = calloc(batches, sizeof(double))};
        pthread_create(&t[i], NULL, bench, &r[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop_swapping, true);
    if (swap) pthread_join(sw, NULL);
    for (int i = 0; i < threads; i++) {
        qsort(r[i].ns, batches, sizeof(double), cmp_d);
        printf("%-34s thread %d: per call p50 %6.1f ns  p99 %6.1f ns\n", what, i,
               r[i].ns[batches / 2], r[i].ns[batches * 99 / 100]);
        free(r[i].ns);
    }
}

int main(int argc, char **argv)
{
    size_t batches = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    if (threads < 1 || threads > 16 || batches < 100) return 2;
    sy_deploy_conf_t d;
    memset(&d, 0, sizeof d);
    d.id = "bench";
    d.provider = &sy_provider_openai;
    sy_deploy_conf_t other = d;
    other.api_key = "sk-other";
    sy_provider_key_new(&other);
    /* KEY_BENCH_ONLY=before|now: one of the two (callgrind: instructions of each) */
    const char *only = getenv("KEY_BENCH_ONLY");
    if (!only || !strcmp(only, "before"))
        measure("no key block (before)", &d, &other, batches, threads);
    if (only && strcmp(only, "now")) {
        sy_provider_key_free(&other);
        return 0;
    }
    d.api_key = "sk-proj-cccccccccccccccccccccccccccccccccccccccccccc";
    sy_provider_key_new(&d);
    measure("key copied (seqlock, now)", &d, &d, batches, threads);
    sy_provider_key_free(&d);
    sy_provider_key_free(&other);
    return 0;
}
