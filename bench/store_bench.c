/* Sustained insert throughput into a store backend from one writer thread: rows/s with 1 KB
 * bodies (request and response 512 B each), batches of N rows, each batch one write_batch
 * call (one transaction). Usage: store_bench [url] [rows] [batch] [data_dir]
 * Default: sqlite:store-bench.db in a fresh temp dir, 200000 rows, batches of 1000.
 * SY_BENCH_SCHEMA_LIMIT=N: open as a binary knowing migrations 1..N only (A/B of a migration).
 * PostgreSQL: store_bench postgresql://user@127.0.0.1:<port>/db (docs/internals/STORE.md).
 * `postgresql:auto` / `clickhouse:auto`: start a throwaway server on loopback first, exactly as
 * the tests do (tests/pg_server.sh with PG_DURABLE=1, tests/unit/ch_server.h), and stop it at
 * the end. With `clickhouse:auto` the server's own ceiling is measured too: the rows just
 * written are read back as RowBinary and inserted into a copy of the table in ONE HTTP POST
 * (no client-side encoding, one part per max_insert_block_size rows). */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tests/unit/ch_server.h"
#include "../tests/unit/pg_server.h"
#include "core/buf.h"
#include "core/clock.h"
#include "store/store.h"

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    sy_buf_append(ud, p, size * n);
    return size * n;
}

/* One POST to the server's HTTP interface; the reply into out (if given). */
static int ch_post(const sy_test_ch_t *ch, const char *query, const char *data, size_t len,
                   sy_buf_t *out)
{
    char url[1024];
    CURL *h = curl_easy_init();
    char *q = curl_easy_escape(h, query, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/?database=bench&query=%s", ch->http_port, q);
    curl_free(q);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    sy_buf_t sink;
    sy_buf_init(&sink, SIZE_MAX);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out ? out : &sink);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 600000L);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK || code != 200)
        fprintf(stderr, "store_bench: clickhouse %s: %s %.*s\n", query,
                rc ? curl_easy_strerror(rc) : "HTTP error", sink.len > 200 ? 200 : (int)sink.len,
                sink.len ? (const char *)sink.base : "");
    sy_buf_dispose(&sink);
    return rc == CURLE_OK && code == 200 ? 0 : -1;
}

/* The server alone: the table's rows as RowBinary, re-inserted into a copy in one POST. */
static void ch_ceiling(const sy_test_ch_t *ch, size_t rows)
{
    sy_buf_t dump;
    sy_buf_init(&dump, SIZE_MAX);
    if (ch_post(ch, "CREATE TABLE ceiling AS inference_log", "", 0, NULL) ||
        ch_post(ch, "SELECT * FROM inference_log FORMAT RowBinary", "", 0, &dump)) {
        sy_buf_dispose(&dump);
        return;
    }
    uint64_t a = sy_clock_mono_us();
    if (ch_post(ch, "INSERT INTO ceiling FORMAT RowBinary", dump.base, dump.len, NULL) == 0)
        printf("store_bench: clickhouse server ceiling: %zu rows (%.1f MB RowBinary) in one "
               "INSERT: %.0f rows/s\n",
               rows, dump.len / 1e6, rows * 1e6 / (double)(sy_clock_mono_us() - a));
    sy_buf_dispose(&dump);
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "sqlite:store-bench.db";
    size_t rows = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
    size_t batch = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000;
    char dir[] = "/tmp/sy-store-bench-XXXXXX";
    const char *data_dir = argc > 4 ? argv[4] : mkdtemp(dir);
    if (!data_dir || !rows || !batch) return 2;

    sy_test_pg_t pg = {0};
    sy_test_ch_t ch = {0};
    char auto_url[256], err[256];
    bool pg_auto = !strcmp(url, "postgresql:auto"), ch_auto = !strcmp(url, "clickhouse:auto");
    if (pg_auto) {
        setenv("PG_DURABLE", "1", 1); /* a benchmark: fsync on, as in production */
        if (sy_test_pg_start(&pg)) return 1;
        url = pg.url;
    } else if (ch_auto) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        if (sy_test_ch_start(&ch, err, sizeof(err)) ||
            sy_test_ch_query(&ch, "CREATE DATABASE bench", err, sizeof(err))) {
            fprintf(stderr, "store_bench: %s\n", err);
            sy_test_ch_stop(&ch);
            return 1;
        }
        snprintf(auto_url, sizeof(auto_url), "clickhouse://127.0.0.1:%d/bench", ch.http_port);
        url = auto_url;
    }
    char msg[SY_STORE_MSGLEN];
    sy_store_conf_t conf = {.url = url, .data_dir = data_dir};
    /* A/B of a migration's write cost: act as a binary knowing only migrations 1..N (e.g. the
     * schema before the stats rollup: SQLite 2, PostgreSQL 3) */
    if (getenv("SY_BENCH_SCHEMA_LIMIT")) conf.schema_limit = atoi(getenv("SY_BENCH_SCHEMA_LIMIT"));
    sy_store_t *s = NULL;
    if (sy_store_open_migrated(&conf, &s, msg, sizeof(msg))) {
        fprintf(stderr, "store_bench: %s\n", msg);
        return 1;
    }
    static const char *const models[] = {"gpt-4o", "claude-sonnet", "gemini-flash"};
    char req[512], resp[512];
    memset(req, 'q', sizeof(req));
    memset(resp, 'r', sizeof(resp));
    sy_str_t tags[2] = {SY_STR_LIT("bench"), SY_STR_LIT("team-a")};
    sy_log_record_t *recs = calloc(batch, sizeof(*recs));
    const sy_log_record_t **ptrs = calloc(batch, sizeof(*ptrs));
    char(*keys)[16] = calloc(batch, 16);
    uint64_t t0 = sy_clock_mono_us(), write_us = 0;
    int64_t now = (int64_t)sy_clock_wall_ms() * 1000;
    for (size_t done = 0; done < rows;) {
        size_t n = rows - done < batch ? rows - done : batch;
        for (size_t i = 0; i < n; i++) {
            sy_log_record_t *r = &recs[i];
            size_t k = done + i;
            sy_log_record_init(r);
            sy_uuid_v7(r->id);
            snprintf(keys[i], 16, "key-%zu", k % 50);
            r->request_id = sy_str(r->id, SY_UUID_STRLEN);
            r->t_received_us = now + (int64_t)k;
            r->t_end_us = r->t_received_us + 800000;
            r->latency_us = 800000;
            r->ttft_us = 200000;
            r->overhead_us = 90;
            r->model = sy_str_c(models[k % 3]);
            r->provider = SY_STR_LIT("openai");
            r->upstream_model = r->model;
            r->deployment = SY_STR_LIT("dep-1");
            r->http_status = 200;
            r->input_tokens = 120;
            r->output_tokens = 300;
            r->usage_source = SY_LOG_USAGE_PROVIDER;
            r->cost_nanousd = 4500;
            r->key_id = sy_str_c(keys[i]);
            r->user_id = SY_STR_LIT("user-1");
            r->tags = tags;
            r->n_tags = 2;
            r->metadata = SY_STR_LIT("{\"app\":\"bench\"}");
            r->request_body = sy_str(req, sizeof(req));
            r->response_body = sy_str(resp, sizeof(resp));
            r->request_size = r->response_size = 512;
            ptrs[i] = r;
        }
        uint64_t a = sy_clock_mono_us();
        if (sy_store_write_batch(s, ptrs, n, msg, sizeof(msg))) {
            fprintf(stderr, "store_bench: %s\n", msg);
            return 1;
        }
        write_us += sy_clock_mono_us() - a;
        done += n;
    }
    uint64_t total_us = sy_clock_mono_us() - t0;
    /* a server URL may carry user:password@ — print the scheme and what follows the '@' */
    const char *at = strrchr(url, '@'), *sep = strstr(url, "://");
    char shown[256];
    if (at && sep && sep < at)
        snprintf(shown, sizeof(shown), "%.*s://…@%s", (int)(sep - url), url, at + 1);
    else
        snprintf(shown, sizeof(shown), "%s", url);
    printf("store_bench: %s: %zu rows, batches of %zu, 1 KB bodies: %.0f rows/s in write_batch "
           "(%.0f rows/s including record building)\n",
           shown, rows, batch, rows * 1e6 / (double)write_us, rows * 1e6 / (double)total_us);
    sy_store_close(s);
    if (ch_auto) ch_ceiling(&ch, rows);
    if (ch_auto) sy_test_ch_stop(&ch);
    if (pg_auto) sy_test_pg_stop(&pg);
    free(recs);
    free(ptrs);
    free(keys);
    if (argc <= 4) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
        if (system(cmd) != 0) return 1;
    }
    return 0;
}
