/* bench/paired.c: pooled percentiles of interleaved one-client rounds, with a bootstrap
 * confidence interval for the difference between two gateways.
 *
 * bench/run.sh runs a base (direct to the mock) and two gateways A and B in interleaved rounds
 * (round r: base, A, B, each `--dump`ed by the loadgen to DIR/PRE-LANE-r.dump). A p99 taken per
 * round and then the median over rounds moves by hundreds of µs between runs on a VM whose host
 * stalls a vCPU for milliseconds; this pools every request of every round per lane instead (tens
 * of thousands of samples), and resamples whole rounds with replacement (the same rounds for
 * all lanes, so a round's host noise stays paired) to say how far the pooled figures could move.
 *
 *   paired DIR PRE BASE A B ROUNDS [BOOT]
 *
 * Prints one JSON line: per lane the pooled latency p50/p99 (µs), added = lane − base; for B
 * against A the differences of added p50/p99 and the ratio of added p99 with a 95 % percentile
 * interval over BOOT (default 2000) resamples (the ratio is left out when A's added p99 is not
 * positive in the whole set or in any resample: "ratio_undefined" counts those resamples); and,
 * when the dumps carry a captured header (the gateway's x-switchyard-overhead-us), its pooled
 * p50/p99 and the B − A difference. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUNDS 200

typedef struct series {
    double *v;
    size_t n, cap;
} series_t;

typedef struct lane {
    series_t lat[MAX_ROUNDS], hdr[MAX_ROUNDS];
} lane_t;

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "paired: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

static void push(series_t *s, double x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) die("out of memory", NULL);
    }
    s->v[s->n++] = x;
}

/* dump line: due_us latency_us first_us result header (latency -1 when the request failed;
 * header -1 when absent) */
static void load(lane_t *l, int r, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) die(strerror(errno), path);
    double due, lat, first, hdr;
    int res;
    while (fscanf(f, "%lf %lf %lf %d %lf", &due, &lat, &first, &res, &hdr) == 5) {
        if (res != 1 || lat < 0) continue;
        push(&l->lat[r], lat);
        if (hdr >= 0) push(&l->hdr[r], hdr);
    }
    fclose(f);
    if (l->lat[r].n == 0) die("no successful request in", path);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* nearest-rank quantile q of sorted values v[0..n) */
static double rank_q(const double *v, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return v[rank - 1];
}

/* p50 and p99 of rounds idx[0..k) of a lane's series pooled (one sort of a scratch copy);
 * -1 when there is no sample */
static void pooled(series_t *rounds, const int *idx, int k, series_t *scratch, double *p50,
                   double *p99)
{
    scratch->n = 0;
    for (int i = 0; i < k; i++) {
        series_t *s = &rounds[idx[i]];
        for (size_t j = 0; j < s->n; j++)
            push(scratch, s->v[j]);
    }
    *p50 = *p99 = -1;
    if (!scratch->n) return;
    qsort(scratch->v, scratch->n, sizeof *scratch->v, cmp_d);
    *p50 = rank_q(scratch->v, scratch->n, 0.50);
    *p99 = rank_q(scratch->v, scratch->n, 0.99);
}

typedef struct figures {
    double base50, base99, a50, a99, b50, b99, ha50, ha99, hb50, hb99;
} figures_t;

static void measure(lane_t *base, lane_t *a, lane_t *b, const int *idx, int k, series_t *sc,
                    figures_t *f)
{
    pooled(base->lat, idx, k, sc, &f->base50, &f->base99);
    pooled(a->lat, idx, k, sc, &f->a50, &f->a99);
    pooled(b->lat, idx, k, sc, &f->b50, &f->b99);
    pooled(a->hdr, idx, k, sc, &f->ha50, &f->ha99);
    pooled(b->hdr, idx, k, sc, &f->hb50, &f->hb99);
}

/* 2.5 % and 97.5 % of n values (sorted in place) */
static void interval(double *v, int n, double *lo, double *hi)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    *lo = v[(int)(0.025 * (n - 1))];
    *hi = v[(int)(0.975 * (n - 1) + 0.5)];
}

/* xorshift64*: reproducible resamples */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: paired DIR PRE BASE A B ROUNDS [BOOT]\n");
        return 2;
    }
    const char *dir = argv[1], *pre = argv[2], *names[3] = {argv[3], argv[4], argv[5]};
    int rounds = atoi(argv[6]), boot = argc > 7 ? atoi(argv[7]) : 2000;
    if (rounds < 2 || rounds > MAX_ROUNDS) die("ROUNDS must be 2..200", argv[6]);
    if (boot < 100) die("BOOT must be at least 100", argc > 7 ? argv[7] : NULL);
    static lane_t lanes[3];
    char path[4096];
    for (int l = 0; l < 3; l++)
        for (int r = 0; r < rounds; r++) {
            snprintf(path, sizeof path, "%s/%s-%s-%d.dump", dir, pre, names[l], r + 1);
            load(&lanes[l], r, path);
        }
    int idx[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        idx[r] = r;
    series_t sc = {0};
    figures_t all;
    measure(&lanes[0], &lanes[1], &lanes[2], idx, rounds, &sc, &all);
    bool has_hdr = all.ha99 >= 0 && all.hb99 >= 0;

    double *d50 = malloc((size_t)boot * sizeof(double)),
           *d99 = malloc((size_t)boot * sizeof(double)),
           *ratio = malloc((size_t)boot * sizeof(double)),
           *h99 = malloc((size_t)boot * sizeof(double));
    if (!d50 || !d99 || !ratio || !h99) die("out of memory", NULL);
    int n_ratio = 0; /* resamples where A's added p99 was > 0, so the ratio is defined */
    for (int i = 0; i < boot; i++) {
        for (int r = 0; r < rounds; r++)
            idx[r] = (int)(next_u32() % (uint32_t)rounds);
        figures_t f;
        measure(&lanes[0], &lanes[1], &lanes[2], idx, rounds, &sc, &f);
        double aa99 = f.a99 - f.base99, ab99 = f.b99 - f.base99;
        d50[i] = (f.b50 - f.base50) - (f.a50 - f.base50);
        d99[i] = ab99 - aa99;
        if (aa99 > 0) ratio[n_ratio++] = ab99 / aa99;
        h99[i] = has_hdr ? f.hb99 - f.ha99 : 0;
    }
    double d50lo, d50hi, d99lo, d99hi, rlo, rhi, hlo, hhi;
    interval(d50, boot, &d50lo, &d50hi);
    interval(d99, boot, &d99lo, &d99hi);
    rlo = rhi = 0;
    if (n_ratio) interval(ratio, n_ratio, &rlo, &rhi);
    interval(h99, boot, &hlo, &hhi);
    size_t n[3] = {0, 0, 0};
    for (int l = 0; l < 3; l++)
        for (int r = 0; r < rounds; r++)
            n[l] += lanes[l].lat[r].n;
    double aa99 = all.a99 - all.base99, ab99 = all.b99 - all.base99;
    printf("{\"rounds\":%d,\"boot\":%d,\"n_base\":%zu,\"n_a\":%zu,\"n_b\":%zu,"
           "\"base_p50\":%.1f,\"base_p99\":%.1f,\"a_p50\":%.1f,\"a_p99\":%.1f,\"b_p50\":%.1f,"
           "\"b_p99\":%.1f,\"a_added_p50\":%.1f,\"a_added_p99\":%.1f,\"b_added_p50\":%.1f,"
           "\"b_added_p99\":%.1f,\"d_added_p50\":%.1f,\"d_added_p50_lo\":%.1f,"
           "\"d_added_p50_hi\":%.1f,\"d_added_p99\":%.1f,\"d_added_p99_lo\":%.1f,"
           "\"d_added_p99_hi\":%.1f,\"ratio_undefined\":%d",
           rounds, boot, n[0], n[1], n[2], all.base50, all.base99, all.a50, all.a99, all.b50,
           all.b99, all.a50 - all.base50, aa99, all.b50 - all.base50, ab99, all.b50 - all.a50,
           d50lo, d50hi, ab99 - aa99, d99lo, d99hi, boot - n_ratio);
    /* the ratio only where it exists: A's added p99 > 0 in the whole set and every resample */
    if (aa99 > 0 && n_ratio == boot)
        printf(",\"ratio_added_p99\":%.4f,\"ratio_added_p99_lo\":%.4f,\"ratio_added_p99_hi\":%.4f",
               ab99 / aa99, rlo, rhi);
    if (has_hdr)
        printf(",\"a_hdr_p50\":%.0f,\"a_hdr_p99\":%.0f,\"b_hdr_p50\":%.0f,\"b_hdr_p99\":%.0f,"
               "\"d_hdr_p99\":%.0f,\"d_hdr_p99_lo\":%.0f,\"d_hdr_p99_hi\":%.0f",
               all.ha50, all.ha99, all.hb50, all.hb99, all.hb99 - all.ha99, hlo, hhi);
    printf("}\n");
    free(sc.v);
    free(d50);
    free(d99);
    free(ratio);
    free(h99);
    for (int l = 0; l < 3; l++)
        for (int r = 0; r < rounds; r++) {
            free(lanes[l].lat[r].v);
            free(lanes[l].hdr[r].v);
        }
    return 0;
}
