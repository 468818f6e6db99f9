/* /api/v1/stats at scale: loads N rows (default 10,000,000) spread evenly over one UTC day
 * (2026-01-01) through write_batch, then times query_stats for the dashboard's queries.
 *
 * Usage: stats_bench [-u url] [-n rows] [-b batch] [-r runs] [-d data_dir] [-s]
 *   -u  store URL (default sqlite:stats-bench.db, in data_dir; or postgresql://… / clickhouse://…,
 *       e.g. a server from tests/pg_server.sh: docs/PERFORMANCE.md)
 *   -n  rows to load (default 10000000)
 *   -b  rows per write_batch (default 10000)
 *   -r  timed runs per query after one warm-up (default 20)
 *   -d  data dir for SQLite (default /tmp/sy-stats-bench, kept between runs)
 *   -s  skip loading: reuse the rows a previous run loaded (loading 10 M rows takes minutes)
 *   -q  run only the queries whose name contains this text (e.g. "last hour")
 *   -x  force the exact path (stats_exact_max_rows = INT64_MAX): the "before" figures
 *   -o  write every cell of each query's last run to this file (TSV: query, bucket, group and
 *       the row's numbers), to compare two builds' answers with diff
 *
 * The rows are a realistic mix for stats, not for storage: 4 models on 3 providers, 50 keys,
 * log-normal latencies (median 0.4–1.6 s by model, σ 0.6) and TTFT, 3 % errors, 0.5 %
 * timeouts, 5 % unknown costs, and SMALL bodies (64 bytes each: the stats queries never read
 * bodies; store_bench measures inserts with 1 KB bodies). Deterministic (fixed seed).
 * Prints load rows/s, then per query p50/p95 ms, cells returned and whether percentiles came
 * from histograms (docs/PERFORMANCE.md, "Inference log: stats query"). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "store/store.h"

#define DAY0_US (INT64_C(1767225600) * 1000000) /* 2026-01-01T00:00:00Z */
#define DAY_US (INT64_C(86400) * 1000000)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void) /* (0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void)
{
    return sqrt(-2.0 * log(urand())) * cos(6.283185307179586 * urand());
}

static const struct {
    const char *model, *provider;
    double median_s;
    int64_t nano_per_token;
} mix[] = {
    {"gpt-4o", "openai", 1.2, 10000},
    {"gpt-4o-mini", "openai", 0.4, 600},
    {"claude-sonnet", "anthropic", 1.6, 15000},
    {"gemini-flash", "gemini", 0.6, 400},
};

static int load(sy_store_t *s, size_t rows, size_t batch)
{
    char msg[SY_STORE_MSGLEN], body[64];
    memset(body, 'x', sizeof(body));
    sy_log_record_t *recs = calloc(batch, sizeof(*recs));
    const sy_log_record_t **ptrs = calloc(batch, sizeof(*ptrs));
    char(*keys)[16] = calloc(batch, 16);
    uint64_t t0 = sy_clock_mono_us();
    for (size_t done = 0; done < rows;) {
        size_t n = rows - done < batch ? rows - done : batch;
        for (size_t i = 0; i < n; i++) {
            sy_log_record_t *r = &recs[i];
            size_t k = done + i;
            sy_log_record_init(r);
            sy_uuid_v7(r->id);
            int m = (int)(urand() * 10) % 4; /* uneven: 0 and 1 twice as often */
            if (urand() < 0.33) m = m < 2 ? m : m - 2;
            snprintf(keys[i], 16, "key-%02d", (int)(urand() * 50));
            r->t_received_us = DAY0_US + (int64_t)((double)k * (double)DAY_US / (double)rows);
            double lat_s = mix[m].median_s * exp(0.6 * gauss());
            double u = urand();
            r->status = u < 0.03    ? SY_LOG_STATUS_ERROR
                        : u < 0.035 ? SY_LOG_STATUS_TIMEOUT
                                    : SY_LOG_STATUS_OK;
            if (r->status == SY_LOG_STATUS_TIMEOUT) lat_s = 60.0;
            if (r->status == SY_LOG_STATUS_ERROR) lat_s *= 0.1;
            r->latency_us = (int64_t)(lat_s * 1e6);
            if (r->status == SY_LOG_STATUS_OK)
                r->ttft_us = (int64_t)(lat_s * 1e6 * (0.1 + 0.3 * urand()));
            r->t_end_us = r->t_received_us + r->latency_us;
            r->overhead_us = 90;
            r->model = sy_str_c(mix[m].model);
            r->provider = sy_str_c(mix[m].provider);
            r->upstream_model = r->model;
            r->deployment = SY_STR_LIT("dep-1");
            r->http_status = r->status == SY_LOG_STATUS_OK ? 200 : 502;
            if (r->status == SY_LOG_STATUS_OK) {
                r->input_tokens = 50 + (int64_t)(urand() * 2000);
                r->output_tokens = (int64_t)(lat_s * 60 * (0.5 + urand()));
                r->usage_source = SY_LOG_USAGE_PROVIDER;
                r->cost_nanousd = urand() < 0.05 ? SY_LOG_UNKNOWN
                                                 : (r->input_tokens + 4 * r->output_tokens) *
                                                       mix[m].nano_per_token / 1000;
            }
            r->key_id = sy_str_c(keys[i]);
            r->user_id = SY_STR_LIT("user-1");
            r->request_body = sy_str(body, sizeof(body));
            r->response_body = sy_str(body, sizeof(body));
            r->request_size = r->response_size = sizeof(body);
            ptrs[i] = r;
        }
        if (sy_store_write_batch(s, ptrs, n, msg, sizeof(msg))) {
            fprintf(stderr, "stats_bench: write_batch: %s\n", msg);
            return 1;
        }
        done += n;
        if (done % 1000000 < n)
            fprintf(stderr, "  loaded %zu rows (%.0f rows/s)\n", done,
                    (double)done * 1e6 / (double)(sy_clock_mono_us() - t0));
    }
    double secs = (double)(sy_clock_mono_us() - t0) / 1e6;
    printf("load: %zu rows in batches of %zu: %.1f s, %.0f rows/s\n", rows, batch, secs,
           (double)rows / secs);
    free(recs);
    free(ptrs);
    free(keys);
    return 0;
}

/* CPU time of this process: for SQLite (in-process) the query's own cost, whatever the load of
 * the shared machine; for server backends only the client's share. */
static uint64_t cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void dump_cells(FILE *f, const char *name, const sy_stats_result_t *res)
{
    for (size_t j = 0; j < res->n; j++) {
        const sy_stats_row_t *r = &res->rows[j];
        fprintf(f,
                "%s\t%" PRId64 "\t%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64
                "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64
                "\t%" PRId64 "\t%" PRId64 "\n",
                name, r->bucket_start_us, r->group ? r->group : "NULL", r->count, r->errors,
                r->latency_p50_us, r->latency_p95_us, r->latency_p99_us, r->ttft_p50_us,
                r->ttft_p95_us, r->input_tokens, r->output_tokens, r->ok_output_tokens,
                r->ok_latency_us, r->cost_nanousd, r->cost_unknown);
    }
}

int main(int argc, char **argv)
{
    const char *url = "sqlite:stats-bench.db", *data_dir = "/tmp/sy-stats-bench";
    size_t rows = 10000000, batch = 10000;
    int runs = 20, opt;
    bool skip = false, exact = false;
    const char *only = NULL, *dump_path = NULL;
    while ((opt = getopt(argc, argv, "u:n:b:r:d:sq:xo:")) != -1) {
        switch (opt) {
        case 'u':
            url = optarg;
            break;
        case 'n':
            rows = strtoull(optarg, NULL, 10);
            break;
        case 'b':
            batch = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 's':
            skip = true;
            break;
        case 'q':
            only = optarg;
            break;
        case 'x':
            exact = true;
            break;
        case 'o':
            dump_path = optarg;
            break;
        default:
            fprintf(stderr, "usage: stats_bench [-u url] [-n rows] [-b batch] [-r runs] "
                            "[-d data_dir] [-s] [-q text] [-x] [-o file]\n");
            return 2;
        }
    }
    if (!rows || !batch || runs < 1 || runs > 1000) return 2;
    FILE *dump = dump_path ? fopen(dump_path, "w") : NULL;
    if (dump_path && !dump) {
        perror(dump_path);
        return 1;
    }
    mkdir(data_dir, 0755);
    char msg[SY_STORE_MSGLEN];
    sy_store_conf_t conf = {.url = url, .data_dir = data_dir};
    if (exact) conf.stats_exact_max_rows = INT64_MAX;
    sy_store_t *s = NULL;
    uint64_t m0 = sy_clock_mono_us();
    if (sy_store_open_migrated(&conf, &s, msg, sizeof(msg))) {
        fprintf(stderr, "stats_bench: %s\n", msg);
        return 1;
    }
    printf("open + migrate: %.1f s\n", (double)(sy_clock_mono_us() - m0) / 1e6);
    if (!skip && load(s, rows, batch)) return 1;

    static const struct {
        const char *name;
        int64_t from, to, bucket;
        sy_stats_group_t g;
    } qs[] = {
        {"day / 1 h, group none", DAY0_US, DAY0_US + DAY_US, 3600000000LL, SY_STATS_GROUP_NONE},
        {"day / 1 h, group model", DAY0_US, DAY0_US + DAY_US, 3600000000LL, SY_STATS_GROUP_MODEL},
        {"day / 1 h, group key", DAY0_US, DAY0_US + DAY_US, 3600000000LL, SY_STATS_GROUP_KEY},
        {"day / 5 min, group none", DAY0_US, DAY0_US + DAY_US, 300000000LL, SY_STATS_GROUP_NONE},
        {"day / 5 min, group model", DAY0_US, DAY0_US + DAY_US, 300000000LL, SY_STATS_GROUP_MODEL},
        {"day / 5 min, group key", DAY0_US, DAY0_US + DAY_US, 300000000LL, SY_STATS_GROUP_KEY},
        {"last hour / 1 min, group none", DAY0_US + DAY_US - 3600000000LL, DAY0_US + DAY_US,
         60000000LL, SY_STATS_GROUP_NONE},
        {"last hour / 1 min, group model", DAY0_US + DAY_US - 3600000000LL, DAY0_US + DAY_US,
         60000000LL, SY_STATS_GROUP_MODEL},
    };
    uint64_t *t = calloc((size_t)runs, sizeof(*t)), *cpu = calloc((size_t)runs, sizeof(*cpu));
    printf("%-32s %9s %9s %9s %7s %10s %s\n", "query", "p50 ms", "p95 ms", "cpu p50", "cells",
           "rows", "pct");
    for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        if (only && !strstr(qs[k].name, only)) continue;
        sy_stats_query_t q = {qs[k].from, qs[k].to, qs[k].bucket, qs[k].g};
        sy_stats_result_t res;
        int64_t total = 0;
        bool approx = false;
        size_t cells = 0;
        for (int i = -1; i < runs; i++) { /* run -1 is the warm-up */
            uint64_t a = sy_clock_mono_us(), ca = cpu_us();
            if (sy_store_query_stats(s, &q, &res, msg, sizeof(msg))) {
                fprintf(stderr, "stats_bench: %s: %s\n", qs[k].name, msg);
                return 1;
            }
            if (i >= 0) {
                t[i] = sy_clock_mono_us() - a;
                cpu[i] = cpu_us() - ca;
            }
            cells = res.n;
            approx = res.approximate_percentiles;
            total = 0;
            for (size_t j = 0; j < res.n; j++)
                total += res.rows[j].count;
            if (dump && i == runs - 1) dump_cells(dump, qs[k].name, &res);
            sy_store_stats_free(&res);
        }
        qsort(t, (size_t)runs, sizeof(*t), cmp_u64);
        qsort(cpu, (size_t)runs, sizeof(*cpu), cmp_u64);
        /* nearest rank, as everywhere else */
        uint64_t p50 = t[(runs * 50 + 99) / 100 - 1], p95 = t[(runs * 95 + 99) / 100 - 1];
        printf("%-32s %9.1f %9.1f %9.1f %7zu %10" PRId64 " %s\n", qs[k].name, (double)p50 / 1000.0,
               (double)p95 / 1000.0, (double)cpu[(runs * 50 + 99) / 100 - 1] / 1000.0, cells, total,
               approx ? "histogram" : "exact");
        fflush(stdout);
    }
    free(t);
    free(cpu);
    if (dump && fclose(dump)) perror(dump_path);
    sy_store_close(s);
    return 0;
}
