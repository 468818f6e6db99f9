/* Log pipeline: producer cost per sy_logpipe_submit and sustained rows/s into a store through
 * the pipeline (queue → spool → write_batch). docs/internals/LOGPIPE.md records the figures.
 * Usage: logpipe_bench [rows] [always|everysec|never] [store url] [data_dir]
 * Default: 200000 rows, everysec, sqlite:logpipe-bench.db in a fresh /tmp dir.
 * Submits are timed in bursts of 1000 that fit the ring (the producer waits between bursts
 * until the writer has taken them, as a loop thread would not), so the figure is the cost
 * of the common path; the rows/s figure is end to end: first submit → last row committed.
 * For instruction counts: valgrind --tool=callgrind --toggle-collect=sy_logpipe_submit. */
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "logpipe/pipeline.h"

#define BURST 1000

int main(int argc, char **argv)
{
    size_t rows = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
    const char *pol = argc > 2 ? argv[2] : "everysec";
    const char *url = argc > 3 ? argv[3] : "sqlite:logpipe-bench.db";
    char dir[] = "/tmp/sy-logpipe-bench-XXXXXX";
    const char *data_dir = argc > 4 ? argv[4] : mkdtemp(dir);
    if (!data_dir || !rows) return 2;
    sy_logpipe_fsync_t fsync = !strcmp(pol, "always")  ? SY_LOGPIPE_FSYNC_ALWAYS
                               : !strcmp(pol, "never") ? SY_LOGPIPE_FSYNC_NEVER
                                                       : SY_LOGPIPE_FSYNC_EVERYSEC;
    char msg[SY_STORE_MSGLEN], spool[512];
    snprintf(spool, sizeof(spool), "%s/spool", data_dir);
    sy_store_conf_t sc = {.url = url, .data_dir = data_dir};
    sy_store_t *s = NULL;
    if (sy_store_open_migrated(&sc, &s, msg, sizeof(msg))) {
        fprintf(stderr, "logpipe_bench: %s\n", msg);
        return 1;
    }
    sy_logpipe_conf_t conf = {.spool_dir = spool, .fsync = fsync};
    sy_logpipe_t *p = NULL;
    if (sy_logpipe_new(&conf, s, 1, &p, msg, sizeof(msg))) {
        fprintf(stderr, "logpipe_bench: %s\n", msg);
        return 1;
    }
    static const char *const models[] = {"gpt-4o", "claude-sonnet", "gemini-flash"};
    char req[512], resp[512], key[16];
    memset(req, 'q', sizeof(req));
    memset(resp, 'r', sizeof(resp));
    sy_str_t tags[2] = {SY_STR_LIT("bench"), SY_STR_LIT("team-a")};
    int64_t now = (int64_t)sy_clock_wall_ms() * 1000;
    uint64_t submit_ns = 0, t0 = sy_clock_mono_us(), seq = 0;
    for (size_t done = 0; done < rows;) {
        size_t n = rows - done < BURST ? rows - done : BURST;
        sy_log_record_t recs[BURST];
        for (size_t i = 0; i < n; i++) { /* build the views outside the timed part */
            sy_log_record_t *r = &recs[i];
            size_t k = done + i;
            sy_log_record_init(r);
            sy_uuid_v7(r->id);
            r->request_id = sy_str(r->id, SY_UUID_STRLEN);
            r->t_received_us = now + (int64_t)k;
            r->t_end_us = r->t_received_us + 800000;
            r->latency_us = 800000;
            r->ttft_us = 200000;
            r->model = sy_str_c(models[k % 3]);
            r->provider = SY_STR_LIT("openai");
            r->upstream_model = r->model;
            r->http_status = 200;
            r->input_tokens = 120;
            r->output_tokens = 300;
            r->usage_source = SY_LOG_USAGE_PROVIDER;
            r->cost_nanousd = 4500;
            snprintf(key, sizeof(key), "key-%zu", k % 50);
            r->key_id = sy_str_c(key);
            r->tags = tags;
            r->n_tags = 2;
            r->metadata = SY_STR_LIT("{\"app\":\"bench\"}");
            r->request_body = sy_str(req, sizeof(req));
            r->response_body = sy_str(resp, sizeof(resp));
            r->request_size = r->response_size = 512;
        }
        /* wait until the ring has room for the burst */
        while (seq - sy_logpipe_durable(p, 0) > 4096 - BURST)
            usleep(100); /* not a spin: on a 2-vCPU box it would steal the writer's CPU */
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (size_t i = 0; i < n; i++)
            seq = sy_logpipe_submit(p, 0, &recs[i]);
        clock_gettime(CLOCK_MONOTONIC, &b);
        submit_ns += (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000u + (uint64_t)b.tv_nsec -
                     (uint64_t)a.tv_nsec;
        done += n;
    }
    sy_logpipe_stats_t st;
    do {
        usleep(200);
        sy_logpipe_stats(p, &st);
    } while (st.written < rows);
    uint64_t t1 = sy_clock_mono_us();
    printf("rows %zu  fsync %s  submit %.0f ns/row  end-to-end %.0f rows/s  batches %" PRIu64
           "  dropped %" PRIu64 "\n",
           rows, pol, (double)submit_ns / (double)rows, (double)rows * 1e6 / (double)(t1 - t0),
           st.batches, st.dropped_overflow + st.dropped_spool);
    sy_logpipe_free(p);
    sy_store_close(s);
    return 0;
}
