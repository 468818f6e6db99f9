/* Sustained insert throughput into a store backend from one writer thread: rows/s with 1 KB
 * bodies (request and response 512 B each), batches of N rows, each batch one write_batch
 * call (one transaction). Usage: store_bench [url] [rows] [batch] [data_dir]
 * Default: sqlite:store-bench.db in a fresh temp dir, 200000 rows, batches of 1000.
 * PostgreSQL: store_bench postgresql://user@127.0.0.1:<port>/db (docs/internals/STORE.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "store/store.h"

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "sqlite:store-bench.db";
    size_t rows = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
    size_t batch = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000;
    char dir[] = "/tmp/sy-store-bench-XXXXXX";
    const char *data_dir = argc > 4 ? argv[4] : mkdtemp(dir);
    if (!data_dir || !rows || !batch) return 2;

    char msg[SY_STORE_MSGLEN];
    sy_store_conf_t conf = {.url = url, .data_dir = data_dir};
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
