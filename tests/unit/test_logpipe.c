/* Log pipeline: queue + spool + writer (src/logpipe/pipeline.c, included to reach statics).
 * Every case runs against the real SQLite store in a temp dir, wrapped by a "fake" store whose
 * write_batch can be made to fail (outage) and which records batch sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/logpipe/pipeline.c"

/* ---- fixture: temp dir, SQLite store, failing wrapper ------------------------------------ */

#define MAX_BATCHES 4096

typedef struct fake {
    sy_store_t base;
    sy_store_t *inner;
    atomic_int fail;
    atomic_int calls;
    atomic_size_t batch_sizes[MAX_BATCHES];
} fake_t;

static sy_store_vtable_t fake_vt;

static sy_err_t fake_write_batch(sy_store_t *s, const sy_log_record_t *const *recs, size_t n,
                                 char *msg, size_t msglen)
{
    fake_t *f = (fake_t *)s;
    if (atomic_load(&f->fail)) {
        snprintf(msg, msglen, "fake outage");
        return SY_ERR_STORE;
    }
    int c = atomic_fetch_add(&f->calls, 1);
    if (c < MAX_BATCHES) atomic_store(&f->batch_sizes[c], n);
    return sy_store_write_batch(f->inner, recs, n, msg, msglen);
}

typedef struct fixture {
    char dir[64];
    char spool[96];
    char db[96];
    fake_t *fake;
} fixture_t;

static void fixture_open_store(fixture_t *fx)
{
    char msg[SY_STORE_MSGLEN];
    sy_store_conf_t sc = {.url = "sqlite:test.db", .data_dir = fx->dir};
    fx->fake = calloc(1, sizeof(*fx->fake));
    if (sy_store_open_migrated(&sc, &fx->fake->inner, msg, sizeof(msg))) fail_msg("%s", msg);
    fake_vt = sy_store_sqlite;
    fake_vt.write_batch = fake_write_batch;
    fx->fake->base.vt = &fake_vt;
}

static void fixture_close_store(fixture_t *fx)
{
    sy_store_close(fx->fake->inner);
    free(fx->fake);
    fx->fake = NULL;
}

static void fixture_init(fixture_t *fx)
{
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/sy-logpipe-test-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->spool, sizeof(fx->spool), "%s/spool", fx->dir);
    snprintf(fx->db, sizeof(fx->db), "%s/test.db", fx->dir);
    fixture_open_store(fx);
}

static void fixture_dispose(fixture_t *fx)
{
    if (fx->fake) fixture_close_store(fx);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
}

static sy_logpipe_t *open_pipe(fixture_t *fx, sy_logpipe_conf_t conf, size_t n_prod)
{
    char msg[SY_STORE_MSGLEN];
    sy_logpipe_t *p = NULL;
    conf.spool_dir = fx->spool;
    if (sy_logpipe_new(&conf, &fx->fake->base, n_prod, &p, msg, sizeof(msg))) fail_msg("%s", msg);
    return p;
}

/* A row "p<prod>-<n>" with ~1 KB of bodies. */
static void make_row(sy_log_record_t *r, char *reqid, size_t prod, size_t n)
{
    static char body[512];
    memset(body, 'b', sizeof(body));
    sy_log_record_init(r);
    sy_uuid_v7(r->id);
    sprintf(reqid, "p%zu-%zu", prod, n);
    r->request_id = sy_str_c(reqid);
    r->t_received_us = 1700000000000000LL + (int64_t)n;
    r->model = SY_STR_LIT("gpt-4o");
    r->provider = SY_STR_LIT("openai");
    r->http_status = 200;
    r->request_body = sy_str(body, sizeof(body));
    r->response_body = sy_str(body, sizeof(body));
}

static uint64_t submit_row(sy_logpipe_t *p, size_t prod, size_t n)
{
    sy_log_record_t r;
    char reqid[32];
    make_row(&r, reqid, prod, n);
    return sy_logpipe_submit(p, prod, &r);
}

/* Reads every row's request id in insertion order and checks: for each producer, rows are
 * exactly 0..count-1 in order (each once). count[i] == SIZE_MAX: whatever count was found is
 * returned in found[i]. */
static void verify_rows(fixture_t *fx, size_t n_prod, const size_t *count, size_t *found)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(fx->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT request_id FROM inference_log ORDER BY seq", -1, &st, NULL),
        SQLITE_OK);
    size_t *next = calloc(n_prod, sizeof(size_t));
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t prod, n;
        const char *t = (const char *)sqlite3_column_text(st, 0);
        assert_int_equal(sscanf(t, "p%zu-%zu", &prod, &n), 2);
        assert_true(prod < n_prod);
        if (n != next[prod])
            fail_msg("producer %zu: got row %zu, expected %zu", prod, n, next[prod]);
        next[prod]++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    for (size_t i = 0; i < n_prod; i++) {
        if (count[i] != SIZE_MAX) assert_int_equal(next[i], count[i]);
        if (found) found[i] = next[i];
    }
    free(next);
}

#define WAIT_UNTIL(cond)                                                                           \
    do {                                                                                           \
        int waited_ = 0;                                                                           \
        while (!(cond)) {                                                                          \
            if (++waited_ > 20000) fail_msg("timed out waiting for %s", #cond);                    \
            usleep(500);                                                                           \
        }                                                                                          \
    } while (0)

static sy_logpipe_stats_t stats_of(sy_logpipe_t *p)
{
    sy_logpipe_stats_t s;
    sy_logpipe_stats(p, &s);
    return s;
}

static size_t count_segments(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += strstr(de->d_name, ".spool") != NULL;
    if (d) closedir(d);
    return n;
}

static atomic_uint_fast64_t fake_now;
static uint64_t fake_clock(void *ctx)
{
    (void)ctx;
    return atomic_load(&fake_now);
}

/* ---- queue ------------------------------------------------------------------------------ */

static void queue_fifo_and_full(void **state)
{
    sy_logq_t q;
    sy_logq_init(&q, 5); /* → 8 */
    uintptr_t i;
    for (i = 1; i <= 8; i++)
        assert_true(sy_logq_push(&q, (void *)i));
    assert_false(sy_logq_push(&q, (void *)i));
    assert_int_equal(sy_logq_size(&q), 8);
    for (i = 1; i <= 3; i++)
        assert_ptr_equal(sy_logq_pop(&q), (void *)i);
    for (i = 9; i <= 11; i++)
        assert_true(sy_logq_push(&q, (void *)i));
    for (i = 4; i <= 11; i++)
        assert_ptr_equal(sy_logq_pop(&q), (void *)i);
    assert_null(sy_logq_pop(&q));
    sy_logq_dispose(&q);
}

static void crc32_known_answers(void **state)
{
    assert_int_equal(sy_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(sy_crc32(0, "", 0), 0);
    /* slice-by-8 vs the bitwise definition, every length/alignment up to 64 */
    unsigned char b[80];
    for (size_t i = 0; i < sizeof(b); i++)
        b[i] = (unsigned char)(i * 37 + 11);
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n <= 64; n++) {
            uint32_t c = 0xFFFFFFFFu;
            for (size_t i = 0; i < n; i++) {
                c ^= b[off + i];
                for (int k = 0; k < 8; k++)
                    c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
            assert_int_equal(sy_crc32(0, b + off, n), ~c);
            /* incremental = one shot */
            assert_int_equal(sy_crc32(sy_crc32(0, b + off, n / 3), b + off + n / 3, n - n / 3), ~c);
        }
}

/* ---- pipeline --------------------------------------------------------------------------- */

#define NPROD 4
#define PER_PROD 5000

typedef struct prod_arg {
    sy_logpipe_t *p;
    size_t idx;
} prod_arg_t;

static void *producer_main(void *arg)
{
    prod_arg_t *a = arg;
    for (size_t n = 0; n < PER_PROD; n++) {
        uint64_t seq = submit_row(a->p, a->idx, n);
        if (seq != n + 1) fail_msg("submit returned %llu", (unsigned long long)seq);
        if (n % 512 == 0) sched_yield();
    }
    return NULL;
}

static void poll_all(sy_logpipe_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sy_logpipe_poll(p, i);
}

static void producers_exactly_once_in_order(void **state)
{
    fixture_t fx;
    fixture_init(&fx);
    /* small rings so the overflow path is taken too */
    sy_logpipe_t *p = open_pipe(
        &fx, (sy_logpipe_conf_t){.ring_size = 64, .batch_rows = 500, .flush_ms = 5}, NPROD);
    pthread_t th[NPROD];
    prod_arg_t args[NPROD];
    for (size_t i = 0; i < NPROD; i++) {
        args[i] = (prod_arg_t){p, i};
        pthread_create(&th[i], NULL, producer_main, &args[i]);
    }
    for (size_t i = 0; i < NPROD; i++)
        pthread_join(th[i], NULL);
    /* the producers are done; overflow may hold rows: poll from this (now the only) thread,
     * as a loop's idle timer would */
    WAIT_UNTIL((poll_all(p, NPROD), stats_of(p).written == NPROD * PER_PROD));
    sy_logpipe_stats_t s = stats_of(p);
    assert_int_equal(s.submitted, NPROD * PER_PROD);
    assert_int_equal(s.dropped_overflow + s.dropped_spool + s.store_errors, 0);
    assert_int_equal(s.queued, 0);
    for (size_t i = 0; i < NPROD; i++)
        assert_int_equal(sy_logpipe_durable(p, i), PER_PROD);
    sy_logpipe_free(p);
    size_t want[NPROD] = {PER_PROD, PER_PROD, PER_PROD, PER_PROD};
    verify_rows(&fx, NPROD, want, NULL);
    fixture_dispose(&fx);
}

static void batching_by_count_and_time(void **state)
{
    fixture_t fx;
    fixture_init(&fx);
    atomic_store(&fake_now, 1000000000);
    sy_logpipe_t *p = open_pipe(
        &fx, (sy_logpipe_conf_t){.batch_rows = 10, .flush_ms = 1000, .now_us = fake_clock}, 1);
    for (size_t n = 0; n < 25; n++)
        submit_row(p, 0, n);
    WAIT_UNTIL(stats_of(p).written == 20);
    usleep(50 * 1000); /* time is frozen: the last 5 rows must wait */
    assert_int_equal(stats_of(p).written, 20);
    assert_int_equal(atomic_load(&fx.fake->calls), 2);
    assert_int_equal(atomic_load(&fx.fake->batch_sizes[0]), 10);
    assert_int_equal(atomic_load(&fx.fake->batch_sizes[1]), 10);
    atomic_fetch_add(&fake_now, 999000); /* not yet */
    usleep(30 * 1000);
    assert_int_equal(stats_of(p).written, 20);
    atomic_fetch_add(&fake_now, 1000);
    WAIT_UNTIL(stats_of(p).written == 25);
    assert_int_equal(atomic_load(&fx.fake->calls), 3);
    assert_int_equal(atomic_load(&fx.fake->batch_sizes[2]), 5);
    sy_logpipe_free(p);
    size_t want[1] = {25};
    verify_rows(&fx, 1, want, NULL);
    fixture_dispose(&fx);
}

static void store_outage_then_recovery(void **state)
{
    fixture_t fx;
    fixture_init(&fx);
    atomic_store(&fx.fake->fail, 1);
    sy_logpipe_t *p =
        open_pipe(&fx,
                  (sy_logpipe_conf_t){
                      .batch_rows = 100, .flush_ms = 1, .retry_min_ms = 2, .retry_max_ms = 10},
                  2);
    for (size_t n = 0; n < 3000; n++) {
        submit_row(p, 0, n);
        submit_row(p, 1, n);
        if (n % 1000 == 999) usleep(1000); /* let the writer drain: the rings hold 4096 */
    }
    WAIT_UNTIL(stats_of(p).queued == 0 && stats_of(p).store_errors >= 3);
    sy_logpipe_stats_t s = stats_of(p);
    assert_int_equal(s.written, 0);
    assert_true(s.backlog_bytes > 6000 * 1000);
    assert_int_equal(s.dropped_overflow + s.dropped_spool, 0);
    atomic_store(&fx.fake->fail, 0); /* the store is back */
    WAIT_UNTIL(stats_of(p).written == 6000);
    s = stats_of(p);
    assert_true(s.replayed > 0); /* more than the cache: read back from the spool */
    assert_int_equal(s.backlog_bytes, 0);
    sy_logpipe_free(p);
    size_t want[2] = {3000, 3000};
    verify_rows(&fx, 2, want, NULL);
    fixture_dispose(&fx);
}

/* kill -9 a child that submits rows with fsync=always and acknowledges each once durable; at
 * restart every acknowledged row is in the store exactly once, in order. */
static void crash_kill9_replay(void **state)
{
    fixture_t fx;
    fixture_init(&fx);
    fixture_close_store(&fx); /* the child opens its own */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        fixture_open_store(&fx);
        char msg[SY_STORE_MSGLEN];
        sy_logpipe_t *p = NULL;
        sy_logpipe_conf_t conf = {.spool_dir = fx.spool,
                                  .fsync = SY_LOGPIPE_FSYNC_ALWAYS,
                                  .batch_rows = 50,
                                  .flush_ms = 2};
        if (sy_logpipe_new(&conf, &fx.fake->base, 1, &p, msg, sizeof(msg))) _exit(3);
        for (uint32_t n = 0;; n++) {
            uint64_t seq = submit_row(p, 0, n);
            while (sy_logpipe_durable(p, 0) < seq)
                sched_yield();
            if (write(fds[1], &n, sizeof(n)) != sizeof(n)) _exit(4);
        }
    }
    close(fds[1]);
    uint32_t n, acked = 0;
    while (acked < 700 && read(fds[0], &n, sizeof(n)) == sizeof(n))
        acked = n + 1;
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status)) fail_msg("child exited %d", WEXITSTATUS(status));
    while (read(fds[0], &n, sizeof(n)) == sizeof(n))
        acked = n + 1;
    close(fds[0]);

    fixture_open_store(&fx);
    sy_logpipe_t *p = open_pipe(&fx, (sy_logpipe_conf_t){0}, 1);
    sy_logpipe_free(p); /* replays at start; free waits for the final batches */
    size_t want = SIZE_MAX, found;
    verify_rows(&fx, 1, &want, &found);
    assert_true(found >= acked);
    assert_true(found <= acked + 1); /* at most the one row in flight at the kill */
    fixture_dispose(&fx);
}

static off_t segment_size(const char *dir, char *path, size_t n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    off_t size = -1;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".spool")) {
            snprintf(path, n, "%s/%s", dir, de->d_name);
            struct stat st;
            stat(path, &st);
            size = st.st_size;
        }
    closedir(d);
    return size;
}

static void torn_tail_truncated(void **state)
{
    /* three kinds of torn tail: half a header, a header promising more than is there, a whole
     * frame with a wrong CRC */
    for (int kind = 0; kind < 3; kind++) {
        fixture_t fx;
        fixture_init(&fx);
        atomic_store(&fx.fake->fail, 1);
        sy_logpipe_t *p = open_pipe(&fx, (sy_logpipe_conf_t){.retry_min_ms = 1}, 1);
        for (size_t n = 0; n < 10; n++)
            submit_row(p, 0, n);
        sy_logpipe_free(p); /* the final attempt fails: the rows stay in the spool */
        char path[256];
        off_t size = segment_size(fx.spool, path, sizeof(path));
        assert_true(size > 10 * 1000);
        unsigned char junk[8 + 40] = {0};
        size_t junk_n = kind == 0 ? 5 : kind == 1 ? 8 + 10 : sizeof(junk);
        junk[0] = 40;   /* length 40 */
        junk[4] = 0x12; /* a CRC that does not match */
        int fd = open(path, O_WRONLY | O_APPEND);
        assert_int_equal(write(fd, junk, junk_n), (ssize_t)junk_n);
        close(fd);

        atomic_store(&fx.fake->fail, 0);
        p = open_pipe(&fx, (sy_logpipe_conf_t){0}, 1);
        WAIT_UNTIL(stats_of(p).written == 10);
        assert_int_equal(stats_of(p).dropped_corrupt, 0);
        submit_row(p, 0, 10); /* appends after the cut, not after the junk */
        sy_logpipe_free(p);
        size_t want[1] = {11};
        verify_rows(&fx, 1, want, NULL);
        /* reopen: nothing left to replay, nothing more truncated */
        sy_spool_t *sp;
        sy_spool_recovery_t rec;
        sy_spool_conf_t sc = {.dir = fx.spool};
        assert_int_equal(sy_spool_open(&sc, &sp, &rec, NULL, 0), SY_OK);
        assert_int_equal(rec.truncated_bytes, 0);
        assert_int_equal(rec.checkpoint, rec.end);
        sy_spool_close(sp);
        fixture_dispose(&fx);
    }
}

static void spool_cap_drops_counted(void **state)
{
    fixture_t fx;
    fixture_init(&fx);
    atomic_store(&fx.fake->fail, 1);
    sy_logpipe_t *p = open_pipe(
        &fx,
        (sy_logpipe_conf_t){.spool_max_bytes = 20000, .segment_bytes = 4096, .retry_min_ms = 1}, 1);
    for (size_t n = 0; n < 50; n++)
        submit_row(p, 0, n);
    WAIT_UNTIL(stats_of(p).queued == 0);
    sy_logpipe_stats_t s = stats_of(p);
    assert_true(s.dropped_spool > 0);
    assert_true(s.dropped_spool < 50);
    assert_true(s.spool_bytes <= 20000);
    assert_true(count_segments(fx.spool) > 1);
    uint64_t kept = 50 - s.dropped_spool;
    sy_logpipe_free(p);
    atomic_store(&fx.fake->fail, 0);
    p = open_pipe(&fx, (sy_logpipe_conf_t){0}, 1);
    sy_logpipe_free(p);
    size_t want[1] = {kept}; /* the first rows, in order; the rest were dropped */
    verify_rows(&fx, 1, want, NULL);
    assert_int_equal(count_segments(fx.spool), 1); /* checkpointed segments deleted */
    fixture_dispose(&fx);
}

static void ring_full_overflow_then_drops(void **state)
{
    fixture_t fx;
    fixture_init(&fx);
    sy_log_record_t r;
    char reqid[32];
    make_row(&r, reqid, 0, 0);
    sy_log_record_t *c = sy_log_record_clone(&r);
    size_t bytes = record_bytes(c);
    sy_log_record_free(c);
    char msg[SY_STORE_MSGLEN];
    sy_logpipe_t *p;
    sy_logpipe_conf_t conf = {
        .spool_dir = fx.spool, .ring_size = 4, .overflow_max_bytes = 5 * bytes + bytes / 2};
    assert_int_equal(create(&conf, &fx.fake->base, 1, &p, msg, sizeof(msg)), SY_OK);
    /* no writer yet: 4 fit the ring, 5 the overflow list, the rest are dropped */
    for (size_t n = 0; n < 20; n++) {
        uint64_t seq = submit_row(p, 0, n);
        assert_int_equal(seq, n < 9 ? n + 1 : 0);
    }
    sy_logpipe_stats_t s = stats_of(p);
    assert_int_equal(s.submitted, 9);
    assert_int_equal(s.queued, 9);
    assert_int_equal(s.dropped_overflow, 11);
    assert_int_equal(p->prod[0].ovf_bytes, 5 * bytes);
    assert_int_equal(start(p, msg, sizeof(msg)), SY_OK);
    WAIT_UNTIL(sy_logpipe_durable(p, 0) == 4); /* the ring drained; overflow waits for poll */
    WAIT_UNTIL((sy_logpipe_poll(p, 0), sy_logpipe_durable(p, 0) == 9));
    assert_null(p->prod[0].ovf_head);
    assert_int_equal(submit_row(p, 0, 9), 10);
    sy_logpipe_free(p);
    size_t want[1] = {10};
    verify_rows(&fx, 1, want, NULL);
    fixture_dispose(&fx);
}

static void shutdown_drains(void **state)
{
    fixture_t fx;
    fixture_init(&fx);
    /* nothing is due before an hour; free must still write everything */
    sy_logpipe_t *p = open_pipe(
        &fx, (sy_logpipe_conf_t){.batch_rows = 100000, .flush_ms = 3600000, .segment_bytes = 65536},
        2);
    for (size_t n = 0; n < 3000; n++) {
        submit_row(p, 0, n);
        submit_row(p, 1, n);
    }
    sy_logpipe_free(p);
    size_t want[2] = {3000, 3000};
    verify_rows(&fx, 2, want, NULL);
    assert_int_equal(count_segments(fx.spool), 1);
    fixture_dispose(&fx);
}

static void overflow_drained_at_shutdown(void **state)
{
    fixture_t fx;
    fixture_init(&fx);
    char msg[SY_STORE_MSGLEN];
    sy_logpipe_t *p;
    sy_logpipe_conf_t conf = {.spool_dir = fx.spool, .ring_size = 2};
    assert_int_equal(create(&conf, &fx.fake->base, 1, &p, msg, sizeof(msg)), SY_OK);
    for (size_t n = 0; n < 50; n++)
        assert_int_equal(submit_row(p, 0, n), n + 1);
    assert_int_equal(start(p, msg, sizeof(msg)), SY_OK);
    sy_logpipe_free(p);
    size_t want[1] = {50};
    verify_rows(&fx, 1, want, NULL);
    fixture_dispose(&fx);
}

/* transform / discard: each submitted row's aux reaches exactly one of them. */
static atomic_int n_transformed, n_discarded;

static sy_log_record_t *count_transform(void *ctx, sy_log_record_t *r)
{
    assert_ptr_equal(ctx, &n_transformed);
    assert_non_null(r->aux);
    free(r->aux);
    r->aux = NULL;
    atomic_fetch_add(&n_transformed, 1);
    return r;
}

static void count_discard(void *ctx, sy_log_record_t *r)
{
    free(r->aux);
    r->aux = NULL;
    atomic_fetch_add(&n_discarded, 1);
}

static uint64_t submit_aux_row(sy_logpipe_t *p, size_t n)
{
    sy_log_record_t r;
    char reqid[32];
    make_row(&r, reqid, 0, n);
    r.aux = malloc(16);
    return sy_logpipe_submit(p, 0, &r);
}

static void transform_and_discard_hooks(void **state)
{
    fixture_t fx;
    fixture_init(&fx);
    char msg[SY_STORE_MSGLEN];
    sy_logpipe_t *p;
    sy_logpipe_conf_t conf = {.spool_dir = fx.spool,
                              .ring_size = 4,
                              .overflow_max_bytes = 1,
                              .transform = count_transform,
                              .discard = count_discard,
                              .hook_ctx = &n_transformed};
    atomic_store(&n_transformed, 0);
    atomic_store(&n_discarded, 0);
    assert_int_equal(create(&conf, &fx.fake->base, 1, &p, msg, sizeof(msg)), SY_OK);
    for (size_t n = 0; n < 6; n++)
        assert_int_equal(submit_aux_row(p, n), n < 4 ? n + 1 : 0);
    assert_int_equal(atomic_load(&n_discarded), 2); /* overflow full: dropped at submit */
    assert_int_equal(start(p, msg, sizeof(msg)), SY_OK);
    WAIT_UNTIL(sy_logpipe_durable(p, 0) == 4);
    assert_int_equal(atomic_load(&n_transformed), 4);
    sy_logpipe_free(p);
    size_t want[1] = {4};
    verify_rows(&fx, 1, want, NULL);

    /* never started: what is still queued at free is discarded */
    assert_int_equal(create(&conf, &fx.fake->base, 1, &p, msg, sizeof(msg)), SY_OK);
    for (size_t n = 0; n < 3; n++)
        submit_aux_row(p, n);
    sy_logpipe_free(p);
    assert_int_equal(atomic_load(&n_discarded), 5);
    assert_int_equal(atomic_load(&n_transformed), 4);
    fixture_dispose(&fx);
}

/* conf.nice: the writer thread lowers its own priority (read inside the transform, which runs
 * on the writer); the thread that created the pipeline keeps its nice. nice 0: unchanged. */
static atomic_int writer_nice_seen;

static sy_log_record_t *nice_transform(void *ctx, sy_log_record_t *r)
{
    errno = 0;
    int v = getpriority(PRIO_PROCESS, (id_t)gettid());
    atomic_store(&writer_nice_seen, errno ? -100 : v);
    free(r->aux);
    r->aux = NULL;
    return r;
}

static void writer_nice(void **state)
{
    errno = 0;
    int own = getpriority(PRIO_PROCESS, (id_t)gettid());
    assert_int_equal(errno, 0);
    assert_true(own < 15); /* else the test cannot tell */
    const int nices[] = {15, 0};
    for (size_t i = 0; i < 2; i++) {
        fixture_t fx;
        fixture_init(&fx);
        char msg[SY_STORE_MSGLEN];
        sy_logpipe_t *p;
        sy_logpipe_conf_t conf = {.spool_dir = fx.spool,
                                  .nice = nices[i],
                                  .transform = nice_transform,
                                  .discard = count_discard};
        atomic_store(&writer_nice_seen, -99);
        assert_int_equal(sy_logpipe_new(&conf, &fx.fake->base, 1, &p, msg, sizeof(msg)), SY_OK);
        assert_int_equal(submit_aux_row(p, 0), 1);
        WAIT_UNTIL(sy_logpipe_durable(p, 0) == 1);
        assert_int_equal(atomic_load(&writer_nice_seen), nices[i] ? nices[i] : own);
        sy_logpipe_free(p);
        errno = 0;
        assert_int_equal(getpriority(PRIO_PROCESS, (id_t)gettid()), own);
        fixture_dispose(&fx);
    }
}

/* notify: called on the writer after durable moved, for its producer only; dropped rows at
 * the spool cap move durable too; unregistered means never called again. */
typedef struct notify_probe {
    sy_logpipe_t *p;
    atomic_int calls;
    atomic_uint_fast64_t seen; /* durable(0) read inside the callback */
    pthread_t main_thread;
    atomic_int on_main; /* calls made on the caller's thread (must stay 0) */
} notify_probe_t;

static void on_notify(void *ctx)
{
    notify_probe_t *n = ctx;
    if (pthread_equal(pthread_self(), n->main_thread)) atomic_fetch_add(&n->on_main, 1);
    atomic_store(&n->seen, sy_logpipe_durable(n->p, 0));
    atomic_fetch_add(&n->calls, 1);
}

static void durable_notify(void **state)
{
    fixture_t fx;
    fixture_init(&fx);
    atomic_store(&fx.fake->fail, 1); /* store down: the spool fills up to its cap */
    notify_probe_t n = {.main_thread = pthread_self()};
    sy_logpipe_t *p = open_pipe(&fx,
                                (sy_logpipe_conf_t){.fsync = SY_LOGPIPE_FSYNC_ALWAYS,
                                                    .spool_max_bytes = 20000,
                                                    .segment_bytes = 4096,
                                                    .retry_min_ms = 1},
                                2);
    n.p = p;
    sy_logpipe_set_notify(p, 0, on_notify, &n);
    uint64_t last = 0;
    for (size_t k = 0; k < 50; k++)
        last = submit_row(p, 0, k);
    assert_int_equal(last, 50);
    /* every row handled, most of them dropped at the cap: durable passes them, notify says so */
    WAIT_UNTIL(atomic_load(&n.seen) == 50);
    assert_true(stats_of(p).dropped_spool > 0);
    assert_int_equal(sy_logpipe_durable(p, 0), 50);
    assert_true(atomic_load(&n.calls) >= 1);
    assert_int_equal(atomic_load(&n.on_main), 0);
    /* the other producer's rows do not call producer 0's notify */
    int calls = atomic_load(&n.calls);
    for (size_t k = 0; k < 10; k++)
        submit_row(p, 1, k);
    WAIT_UNTIL(sy_logpipe_durable(p, 1) == 10);
    assert_int_equal(atomic_load(&n.calls), calls);
    /* unregistered: never called again */
    sy_logpipe_set_notify(p, 0, NULL, NULL);
    for (size_t k = 50; k < 60; k++)
        submit_row(p, 0, k);
    WAIT_UNTIL(sy_logpipe_durable(p, 0) == 60);
    assert_int_equal(atomic_load(&n.calls), calls);
    assert_int_equal(atomic_load(&n.seen), 50);
    assert_int_equal(atomic_load(&p->n_notify), 0);
    sy_logpipe_free(p);
    fixture_dispose(&fx);
}

/* fdatasync fails while fail_sync is set (the test links with -Wl,--wrap=fdatasync) */
static atomic_int fail_sync;
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_fdatasync(int fd)
{
    if (atomic_load(&fail_sync)) {
        errno = EIO;
        return -1;
    }
    return __real_fdatasync(fd);
}

/* A failed fdatasync is retried without waiting for another row: durable (and so a response
 * held under fsync always) moves once the disk recovers. */
static void failed_sync_retried(void **state)
{
    fixture_t fx;
    fixture_init(&fx);
    notify_probe_t n = {.main_thread = pthread_self()};
    sy_logpipe_t *p = open_pipe(&fx, (sy_logpipe_conf_t){.fsync = SY_LOGPIPE_FSYNC_ALWAYS}, 1);
    n.p = p;
    sy_logpipe_set_notify(p, 0, on_notify, &n);
    atomic_store(&fail_sync, 1);
    assert_int_equal(submit_row(p, 0, 0), 1);
    usleep(50000);
    assert_int_equal(sy_logpipe_durable(p, 0), 0); /* not on disk: not durable */
    atomic_store(&fail_sync, 0);
    WAIT_UNTIL(sy_logpipe_durable(p, 0) == 1); /* no new row needed */
    WAIT_UNTIL(atomic_load(&n.seen) == 1);
    sy_logpipe_set_notify(p, 0, NULL, NULL);
    sy_logpipe_free(p);
    fixture_dispose(&fx);
}

/* Under fsync everysec/never a submit does not wake the writer (no futex call on the loop
 * thread, no writer preempting the loop before the response is out): the writer's own timer
 * (<= SY_LOGPIPE_MAX_SLEEP_MS) spools the rows. Under fsync always, where the response waits
 * for its row, submit wakes the idle writer at once. */
static void wake_only_when_waited_for(void **state)
{
    (void)state;
    fixture_t fx;
    fixture_init(&fx);
    sy_logpipe_t *p = open_pipe(&fx, (sy_logpipe_conf_t){.fsync = SY_LOGPIPE_FSYNC_EVERYSEC}, 1);
    usleep(20000); /* the writer is asleep */
    uint64_t seq = 0;
    for (size_t i = 0; i < 10; i++) {
        seq = submit_row(p, 0, i);
        usleep(2000);
    }
    assert_int_equal(atomic_load(&p->posts), 0);
    WAIT_UNTIL(sy_logpipe_durable(p, 0) >= seq); /* picked up by the writer's timer */
    assert_int_equal(p->wake_rows, 1024);        /* a ring a quarter full (4096 / 4) wakes it */
    sy_logpipe_free(p);
    fixture_dispose(&fx);

    fixture_init(&fx);
    p = open_pipe(&fx, (sy_logpipe_conf_t){.fsync = SY_LOGPIPE_FSYNC_ALWAYS}, 1);
    for (size_t i = 0; i < 20; i++) {
        usleep(2000);
        seq = submit_row(p, 0, i);
        WAIT_UNTIL(sy_logpipe_durable(p, 0) >= seq);
    }
    assert_true(atomic_load(&p->posts) >= 1); /* most submits found the writer asleep */
    sy_logpipe_free(p);
    fixture_dispose(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(queue_fifo_and_full),
        cmocka_unit_test(crc32_known_answers),
        cmocka_unit_test(crash_kill9_replay), /* first: fork before any thread exists */
        cmocka_unit_test(producers_exactly_once_in_order),
        cmocka_unit_test(batching_by_count_and_time),
        cmocka_unit_test(store_outage_then_recovery),
        cmocka_unit_test(torn_tail_truncated),
        cmocka_unit_test(spool_cap_drops_counted),
        cmocka_unit_test(ring_full_overflow_then_drops),
        cmocka_unit_test(overflow_drained_at_shutdown),
        cmocka_unit_test(shutdown_drains),
        cmocka_unit_test(transform_and_discard_hooks),
        cmocka_unit_test(durable_notify),
        cmocka_unit_test(failed_sync_retried),
        cmocka_unit_test(wake_only_when_waited_for),
        cmocka_unit_test(writer_nice),
    };
    const char *only =
        getenv("SY_LOGPIPE_TEST_FILTER"); /* cmocka wildcards: one case, e.g. under load */
    if (only && *only) cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
