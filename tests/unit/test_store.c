/* Store CONFORMANCE suite: written against store.h only, so every backend runs the same cases.
 * A backend joins by adding a target (its vtable + a function that hands out a fresh, empty
 * database per case) to targets[] below; server backends start their server on loopback the
 * first time fresh() is called and stop it in cleanup(). SQLite: one file per case in a temp
 * dir. PostgreSQL: a server started by tests/pg_server.sh (tests/unit/pg_server.h), one
 * database per case. ClickHouse: one clickhouse-server (ch_server.h), one database per case.
 * A server that cannot start FAILS the cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ch_server.h"
#include "pg_server.h"
#include "core/alloc.h"
#include "store/appcreds.h"
#include "store/appchat.h"
#include "store/appdata.h"
#include "store/migrations.h"
#include "store/store.h"

/* ---- targets ------------------------------------------------------------------------------ */

typedef struct target {
    const char *name;
    const sy_store_vtable_t *vt;
    /* Fills conf with the open arguments of a fresh, empty database. */
    void (*fresh)(struct target *t, sy_store_conf_t *conf);
    void (*cleanup)(struct target *t); /* after every case ran (NULL: nothing) */
    const size_t *n_migrations;        /* the backend's migration list length = newest version */
    int rollup_version;                /* the migration that adds (and back-fills) stats_minute */
    int latest;
    char dir[256];
    char url[160];
    int seq;
    sy_test_pg_t pg; /* PostgreSQL target: its server */
    bool failed;     /* the server could not start: every later case fails at once */
} target_t;

static void sqlite_fresh(target_t *t, sy_store_conf_t *conf)
{
    if (!t->dir[0]) {
        snprintf(t->dir, sizeof(t->dir), "/tmp/sy-store-test-XXXXXX");
        assert_non_null(mkdtemp(t->dir));
    }
    snprintf(t->url, sizeof(t->url), "sqlite:case-%d.db", ++t->seq);
    *conf = (sy_store_conf_t){.url = t->url, .data_dir = t->dir};
}

static sy_test_ch_t ch_server;
static int ch_state; /* 0 not started, 1 running, -1 failed to start */
static char ch_err[256];

static void clickhouse_fresh(target_t *t, sy_store_conf_t *conf)
{
    if (ch_state == 0) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ch_state = sy_test_ch_start(&ch_server, ch_err, sizeof(ch_err)) == 0 ? 1 : -1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (ch_state > 0)
            fprintf(stderr, "clickhouse-server up on 127.0.0.1:%d in %ld ms\n", ch_server.http_port,
                    (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
    }
    if (ch_state < 0) fail_msg("clickhouse-server did not start: %s", ch_err);
    char sql[64], err[256];
    snprintf(sql, sizeof(sql), "CREATE DATABASE sy_case_%d", ++t->seq);
    if (sy_test_ch_query(&ch_server, sql, err, sizeof(err))) fail_msg("%s: %s", sql, err);
    snprintf(t->url, sizeof(t->url), "clickhouse://127.0.0.1:%d/sy_case_%d", ch_server.http_port,
             t->seq);
    *conf = (sy_store_conf_t){.url = t->url};
}

static void clickhouse_cleanup(target_t *t)
{
    sy_test_ch_stop(&ch_server);
    ch_state = 0;
}

static void pg_fresh(target_t *t, sy_store_conf_t *conf)
{
    if (t->failed) fail_msg("postgres: the test server did not start (see above)");
    if (!t->pg.dir[0]) {
        if (sy_test_pg_start(&t->pg)) {
            t->failed = true;
            fail_msg("postgres: could not start a test server with tests/pg_server.sh");
        }
    }
    char db[32];
    snprintf(db, sizeof(db), "sy_case_%d", ++t->seq);
    if (sy_test_pg_create_db(&t->pg, db, t->url, sizeof(t->url)))
        fail_msg("postgres: CREATE DATABASE %s failed", db);
    *conf = (sy_store_conf_t){.url = t->url};
}

static void pg_cleanup(target_t *t)
{
    sy_test_pg_stop(&t->pg);
}

static target_t targets[] = {
    {.name = "sqlite",
     .vt = &sy_store_sqlite,
     .fresh = sqlite_fresh,
     .n_migrations = &sy_store_migrations_sqlite_count,
     .rollup_version = 3},
    {.name = "postgres",
     .vt = &sy_store_postgres,
     .fresh = pg_fresh,
     .cleanup = pg_cleanup,
     .n_migrations = &sy_store_migrations_postgres_count,
     .rollup_version = 4},
    {.name = "clickhouse",
     .vt = &sy_store_clickhouse,
     .fresh = clickhouse_fresh,
     .cleanup = clickhouse_cleanup,
     .n_migrations = &sy_store_migrations_clickhouse_count,
     .rollup_version = 3},
};

/* ---- helpers ------------------------------------------------------------------------------ */

#define MSG char msg[SY_STORE_MSGLEN] = ""
#define OK(call)                                                                                   \
    do {                                                                                           \
        sy_err_t e_ = (call);                                                                      \
        if (e_) fail_msg("%s -> %d: %s", #call, e_, msg);                                          \
    } while (0)

static sy_store_t *open_migrated(const sy_store_vtable_t *vt, const sy_store_conf_t *conf)
{
    MSG;
    sy_store_t *s = NULL;
    OK(vt->open(conf, &s, msg, sizeof(msg)));
    int v = 0;
    OK(vt->migrate(s, &v, msg, sizeof(msg)));
    return s;
}

static const char *const models[] = {"gpt-4o", "claude-sonnet", "gemini-flash"};
static const char *const providers[] = {"openai", "anthropic", "gemini"};
#define T0 1700000000000000LL /* a base wall-clock time in µs */

typedef struct dataset {
    sy_log_record_t **r;
    size_t n;
} dataset_t;

/* Deterministic, varied records: NULLs, unicode, big bodies, tags, metadata, every status.
 * Record i is received at T0 + (i / 2) * 1000 µs: pairs share a time, so (time, id) order is
 * exercised. */
static sy_log_record_t *make_record(size_t i, size_t big_every)
{
    char reqid[32], key[16], user[16], errmsg[128], meta[96], conv[24];
    sy_str_t tags[3];
    char tagbuf[3][24];
    sy_log_record_t r;
    sy_log_record_init(&r);
    sy_uuid_v7(r.id);
    snprintf(reqid, sizeof(reqid), "req-%zu", i);
    r.request_id = sy_str_c(reqid);
    r.attempt = 1 + (int)(i % 3 == 2);
    r.t_received_us = T0 + (int64_t)(i / 2) * 1000;
    r.t_upstream_start_us = r.t_received_us + 50;
    r.latency_us = 1000 + (int64_t)((i * 7919) % 100000);
    r.t_end_us = r.t_received_us + r.latency_us;
    if (i % 5 != 4) { /* some rows never got a first token */
        r.ttft_us = 100 + (int64_t)((i * 104729) % 5000);
        r.t_first_token_us = r.t_received_us + r.ttft_us;
    }
    r.overhead_us = 30 + (int64_t)(i % 50);
    r.model = sy_str_c(models[i % 3]);
    r.provider = sy_str_c(providers[(i / 3) % 3]);
    r.upstream_model = i % 4 ? sy_str_c(models[i % 3]) : SY_STR_NULL;
    r.deployment = SY_STR_LIT("dep-1");
    r.status = i % 10 == 3   ? SY_LOG_STATUS_ERROR
               : i % 10 == 7 ? SY_LOG_STATUS_TIMEOUT
               : i % 25 == 1 ? SY_LOG_STATUS_CANCELLED
                             : SY_LOG_STATUS_OK;
    if (r.status != SY_LOG_STATUS_CANCELLED)
        r.http_status = r.status == SY_LOG_STATUS_OK      ? 200
                        : r.status == SY_LOG_STATUS_ERROR ? 502
                                                          : 504;
    if (r.status == SY_LOG_STATUS_ERROR) {
        r.error_type = SY_STR_LIT("upstream_error");
        snprintf(errmsg, sizeof(errmsg), "échec amont n°%zu — 上游错误 🚀 needle-%zu", i, i % 13);
        r.error_message = sy_str_c(errmsg);
    }
    if (i % 6 != 5) {
        r.input_tokens = 100 + (int64_t)i;
        r.output_tokens = (int64_t)(i % 400);
        r.cached_read_tokens = i % 2 ? 64 : 0;
        r.cache_write_tokens = i % 3 ? SY_LOG_UNKNOWN : 12;
        r.reasoning_tokens = i % 8 ? SY_LOG_UNKNOWN : 33;
        r.usage_source = i % 9 ? SY_LOG_USAGE_PROVIDER : SY_LOG_USAGE_ESTIMATED;
    }
    r.cost_nanousd = i % 4 == 0 ? SY_LOG_UNKNOWN : (int64_t)i * 1234567 % 99999999;
    snprintf(key, sizeof(key), "key-%zu", i % 5);
    r.key_id = sy_str_c(key);
    if (i % 7) {
        snprintf(user, sizeof(user), "user-%zu", i % 4);
        r.user_id = sy_str_c(user);
    }
    r.team_id = i % 2 ? SY_STR_LIT("team-ä") : SY_STR_NULL;
    if (i % 3 == 0) {
        snprintf(conv, sizeof(conv), "conv-%zu", i / 3);
        r.conversation_id = sy_str_c(conv);
        r.message_id = SY_STR_LIT("msg-1");
    }
    r.experiment = i % 11 == 0 ? SY_STR_LIT("exp") : SY_STR_NULL;
    r.variant = i % 11 == 0 ? SY_STR_LIT("B") : SY_STR_NULL;
    r.n_tags = (uint32_t)(i % 4);
    for (uint32_t k = 0; k < r.n_tags; k++) {
        snprintf(tagbuf[k], sizeof(tagbuf[k]), k == 1 ? "tag \"%u\" ü" : "t%u", (unsigned)k);
        tags[k] = sy_str_c(tagbuf[k]);
    }
    r.tags = tags;
    if (i % 2 == 0) {
        snprintf(meta, sizeof(meta), "{\"user\":\"u%zu\",\"nested\":{\"a\":[1,2]},\"s\":\"é\"}", i);
        r.metadata = sy_str_c(meta);
    }
    /* bodies: 1 KB usually, a big one every big_every rows, NULL sometimes */
    size_t blen = big_every && i % big_every == 0 ? (size_t)300 * 1024 : 1024;
    char *req = malloc(blen), *resp = malloc(blen);
    for (size_t k = 0; k < blen; k++) {
        req[k] = (char)('a' + (k + i) % 26);
        resp[k] = (char)('A' + (k * 3 + i) % 26);
    }
    int n = snprintf(req, blen, "{\"q\":\"Grüße, мир, 世界 %zu needle-%zu\"", i, i % 13);
    req[n] = ' ';
    r.request_body = sy_str(req, blen);
    r.response_body = i % 9 == 8 ? SY_STR_NULL : sy_str(resp, blen);
    r.request_size = (int64_t)blen * (i % 10 == 0 ? 3 : 1);
    r.request_truncated = i % 10 == 0;
    r.response_size = r.response_body.ptr ? (int64_t)blen : SY_LOG_UNKNOWN;
    sy_log_record_t *c = sy_log_record_clone(&r);
    free(req);
    free(resp);
    return c;
}

static dataset_t make_dataset(size_t n, size_t big_every)
{
    dataset_t d = {calloc(n, sizeof(sy_log_record_t *)), n};
    for (size_t i = 0; i < n; i++)
        d.r[i] = make_record(i, big_every);
    return d;
}

static void free_dataset(dataset_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        sy_log_record_free(d->r[i]);
    free(d->r);
}

static void write_all(const sy_store_vtable_t *vt, sy_store_t *s, const dataset_t *d)
{
    MSG;
    OK(vt->write_batch(s, (const sy_log_record_t *const *)d->r, d->n, msg, sizeof(msg)));
}

static void assert_str_same(sy_str_t a, sy_str_t b, const char *what)
{
    if ((a.ptr == NULL) != (b.ptr == NULL)) fail_msg("%s: NULL mismatch", what);
    if (a.len != b.len) fail_msg("%s: length %zu vs %zu", what, a.len, b.len);
    if (a.len && memcmp(a.ptr, b.ptr, a.len)) fail_msg("%s: bytes differ", what);
}

static void assert_record_same(const sy_log_record_t *a, const sy_log_record_t *b, bool bodies)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->parent_id, b->parent_id);
    assert_int_equal(a->attempt, b->attempt);
    assert_int_equal(a->t_received_us, b->t_received_us);
    assert_int_equal(a->t_upstream_start_us, b->t_upstream_start_us);
    assert_int_equal(a->t_first_token_us, b->t_first_token_us);
    assert_int_equal(a->t_end_us, b->t_end_us);
    assert_int_equal(a->latency_us, b->latency_us);
    assert_int_equal(a->ttft_us, b->ttft_us);
    assert_int_equal(a->overhead_us, b->overhead_us);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->http_status, b->http_status);
    assert_int_equal(a->input_tokens, b->input_tokens);
    assert_int_equal(a->output_tokens, b->output_tokens);
    assert_int_equal(a->cached_read_tokens, b->cached_read_tokens);
    assert_int_equal(a->cache_write_tokens, b->cache_write_tokens);
    assert_int_equal(a->reasoning_tokens, b->reasoning_tokens);
    assert_int_equal(a->usage_source, b->usage_source);
    assert_int_equal(a->cost_nanousd, b->cost_nanousd);
    assert_int_equal(a->request_truncated, b->request_truncated);
    assert_int_equal(a->response_truncated, b->response_truncated);
    assert_int_equal(a->request_size, b->request_size);
    assert_int_equal(a->response_size, b->response_size);
    assert_str_same(a->request_id, b->request_id, "request_id");
    assert_str_same(a->model, b->model, "model");
    assert_str_same(a->provider, b->provider, "provider");
    assert_str_same(a->upstream_model, b->upstream_model, "upstream_model");
    assert_str_same(a->deployment, b->deployment, "deployment");
    assert_str_same(a->error_type, b->error_type, "error_type");
    assert_str_same(a->error_message, b->error_message, "error_message");
    assert_str_same(a->key_id, b->key_id, "key_id");
    assert_str_same(a->user_id, b->user_id, "user_id");
    assert_str_same(a->team_id, b->team_id, "team_id");
    assert_str_same(a->conversation_id, b->conversation_id, "conversation_id");
    assert_str_same(a->message_id, b->message_id, "message_id");
    assert_str_same(a->experiment, b->experiment, "experiment");
    assert_str_same(a->variant, b->variant, "variant");
    assert_str_same(a->metadata, b->metadata, "metadata");
    assert_int_equal(a->n_tags, b->n_tags);
    for (uint32_t i = 0; i < a->n_tags; i++)
        assert_str_same(a->tags[i], b->tags[i], "tag");
    if (bodies) {
        assert_str_same(a->request_body, b->request_body, "request_body");
        assert_str_same(a->response_body, b->response_body, "response_body");
    } else {
        assert_null(b->request_body.ptr);
        assert_null(b->response_body.ptr);
    }
}

/* (time, id) order, as query_logs promises */
static int cmp_time_id(const void *x, const void *y)
{
    const sy_log_record_t *a = *(sy_log_record_t *const *)x, *b = *(sy_log_record_t *const *)y;
    if (a->t_received_us != b->t_received_us) return a->t_received_us < b->t_received_us ? -1 : 1;
    return strcmp(a->id, b->id);
}

typedef bool (*pred_t)(const sy_log_record_t *r, const void *arg);

/* Pages through query_logs with `limit` and checks that the rows are exactly the dataset's rows
 * matching pred, each once, in (time, id) order (asc or desc). Returns the number of rows. */
static size_t check_listing(const sy_store_vtable_t *vt, sy_store_t *s, const dataset_t *d,
                            const sy_log_filter_t *f, size_t limit, pred_t pred, const void *arg)
{
    MSG;
    sy_log_record_t **want = malloc((d->n + 1) * sizeof(*want));
    size_t nw = 0;
    for (size_t i = 0; i < d->n; i++)
        if (!pred || pred(d->r[i], arg)) want[nw++] = d->r[i];
    qsort(want, nw, sizeof(*want), cmp_time_id);
    size_t got = 0;
    char cursor[SY_STORE_CURSOR_MAX] = "";
    for (int pages = 0;; pages++) {
        sy_log_page_t page;
        OK(vt->query_logs(s, f, cursor, limit, &page, msg, sizeof(msg)));
        assert_true(page.n <= limit);
        for (size_t k = 0; k < page.n; k++, got++) {
            assert_true(got < nw);
            const sy_log_record_t *w = want[f->ascending ? got : nw - 1 - got];
            if (strcmp(w->id, page.rows[k]->id))
                fail_msg("row %zu: want %s got %s", got, w->id, page.rows[k]->id);
            assert_record_same(w, page.rows[k], false);
        }
        strcpy(cursor, page.next_cursor);
        bool more = page.next_cursor[0] != '\0';
        if (more) assert_int_equal(page.n, limit);
        sy_store_log_page_free(&page);
        if (!more) break;
        assert_true(pages < 100000);
    }
    assert_int_equal(got, nw);
    free(want);
    return got;
}

static size_t count_rows(const sy_store_vtable_t *vt, sy_store_t *s)
{
    MSG;
    sy_log_filter_t f = {0};
    char cursor[SY_STORE_CURSOR_MAX] = "";
    size_t n = 0;
    for (;;) {
        sy_log_page_t page;
        OK(vt->query_logs(s, &f, cursor, SY_STORE_LOGS_MAX_LIMIT, &page, msg, sizeof(msg)));
        n += page.n;
        strcpy(cursor, page.next_cursor);
        sy_store_log_page_free(&page);
        if (!cursor[0]) return n;
    }
}

/* ---- conformance cases -------------------------------------------------------------------- */

static void c_migrations_idempotent(target_t *t)
{
    MSG;
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = NULL;
    int v = -1;
    OK(t->vt->open(&conf, &s, msg, sizeof(msg)));
    OK(t->vt->migrate(s, &v, msg, sizeof(msg)));
    assert_int_equal(v, t->latest);
    OK(t->vt->migrate(s, &v, msg, sizeof(msg)));
    assert_int_equal(v, t->latest);
    t->vt->close(s);
    s = open_migrated(t->vt, &conf);
    dataset_t d = make_dataset(10, 0);
    write_all(t->vt, s, &d);
    OK(t->vt->migrate(s, &v, msg, sizeof(msg)));
    assert_int_equal(v, t->latest);
    assert_int_equal(count_rows(t->vt, s), 10);
    t->vt->close(s);
    free_dataset(&d);
}

static void c_migrations_stepwise(target_t *t)
{
    MSG;
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    /* an older binary creates the database; the current one upgrades it */
    for (int limit = 1; limit <= t->latest; limit++) {
        conf.schema_limit = limit;
        sy_store_t *s = NULL;
        int v = -1;
        OK(t->vt->open(&conf, &s, msg, sizeof(msg)));
        OK(t->vt->migrate(s, &v, msg, sizeof(msg)));
        assert_int_equal(v, limit);
        t->vt->close(s);
    }
}

static void c_newer_schema_refused(target_t *t)
{
    MSG;
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = open_migrated(t->vt, &conf);
    dataset_t d = make_dataset(3, 0);
    write_all(t->vt, s, &d);
    t->vt->close(s);
    /* a binary that knows one migration fewer must refuse, change nothing, and say why */
    conf.schema_limit = t->latest - 1;
    s = NULL;
    OK(t->vt->open(&conf, &s, msg, sizeof(msg)));
    int v = -7;
    assert_int_equal(t->vt->migrate(s, &v, msg, sizeof(msg)), SY_ERR_STORE_SCHEMA);
    assert_int_equal(v, -7);
    char want[64];
    snprintf(want, sizeof(want), "schema version %d, newer than this binary knows (%d)", t->latest,
             t->latest - 1);
    if (!strstr(msg, want)) fail_msg("message lacks '%s': %s", want, msg);
    t->vt->close(s);
    /* sy_store_open_migrated refuses the same way; the data is intact for the newer binary */
    s = NULL;
    assert_int_equal(sy_store_open_migrated(&conf, &s, msg, sizeof(msg)), SY_ERR_STORE_SCHEMA);
    assert_null(s);
    conf.schema_limit = 0;
    s = open_migrated(t->vt, &conf);
    assert_int_equal(count_rows(t->vt, s), 3);
    t->vt->close(s);
    free_dataset(&d);
}

static void c_batch_roundtrip(target_t *t)
{
    MSG;
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = open_migrated(t->vt, &conf);
    dataset_t d = make_dataset(1000, 97);
    write_all(t->vt, s, &d);
    /* every row with its bodies, field by field */
    for (size_t i = 0; i < d.n; i++) {
        sy_log_record_t *got = NULL;
        OK(t->vt->get_log(s, d.r[i]->id, &got, msg, sizeof(msg)));
        assert_record_same(d.r[i], got, true);
        sy_log_record_free(got);
    }
    /* and the listing without bodies */
    sy_log_filter_t f = {0};
    check_listing(t->vt, s, &d, &f, 1000, NULL, NULL);
    /* writing the same batch again (spool replay) adds nothing */
    write_all(t->vt, s, &d);
    assert_int_equal(count_rows(t->vt, s), 1000);
    /* an empty batch is fine */
    OK(t->vt->write_batch(s, NULL, 0, msg, sizeof(msg)));
    t->vt->close(s);
    free_dataset(&d);
}

static void c_get_log_missing(target_t *t)
{
    MSG;
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = open_migrated(t->vt, &conf);
    sy_log_record_t *got = NULL;
    assert_int_equal(
        t->vt->get_log(s, "0190aaaa-0000-7000-8000-000000000000", &got, msg, sizeof(msg)),
        SY_ERR_NOT_FOUND);
    assert_null(got);
    t->vt->close(s);
}

typedef struct fspec {
    sy_log_filter_t f;
} fspec_t;

static bool str_is(sy_str_t s, const char *c)
{
    return c ? sy_str_eq_c(s, c) && s.ptr : true;
}

static bool contains_ci(sy_str_t hay, const char *needle)
{
    size_t n = strlen(needle);
    if (!hay.ptr) return false;
    for (size_t i = 0; i + n <= hay.len; i++)
        if (strncasecmp(hay.ptr + i, needle, n) == 0) return true;
    return false;
}

/* The reference implementation of sy_log_filter_t. */
static bool match_filter(const sy_log_record_t *r, const void *arg)
{
    const sy_log_filter_t *f = arg;
    if (f->from_us && r->t_received_us < f->from_us) return false;
    if (f->to_us && r->t_received_us >= f->to_us) return false;
    if (!str_is(r->model, f->model) || !str_is(r->provider, f->provider) ||
        !str_is(r->key_id, f->key_id) || !str_is(r->user_id, f->user_id))
        return false;
    if (f->has_status && r->status != f->status) return false;
    if (f->text && !contains_ci(r->request_body, f->text) &&
        !contains_ci(r->response_body, f->text) && !contains_ci(r->error_message, f->text))
        return false;
    return true;
}

static void c_filters(target_t *t)
{
    MSG;
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = open_migrated(t->vt, &conf);
    dataset_t d = make_dataset(600, 0);
    write_all(t->vt, s, &d);
    sy_log_filter_t cases[] = {
        {.from_us = T0 + 50 * 1000, .to_us = T0 + 120 * 1000},
        {.from_us = T0 + 290 * 1000},
        {.to_us = T0 + 3 * 1000},
        {.model = "claude-sonnet"},
        {.provider = "gemini"},
        {.has_status = true, .status = SY_LOG_STATUS_OK},
        {.has_status = true, .status = SY_LOG_STATUS_ERROR},
        {.has_status = true, .status = SY_LOG_STATUS_TIMEOUT},
        {.has_status = true, .status = SY_LOG_STATUS_CANCELLED},
        {.key_id = "key-3"},
        {.user_id = "user-2"},
        {.text = "NEEDLE-7\""}, /* in request bodies only (the quote follows in the JSON) */
        {.text = "上游错误"},   /* in error messages only */
        {.text = "100%_\\"},    /* LIKE metacharacters are literal: matches nothing */
        {.model = "gpt-4o",
         .provider = "openai",
         .has_status = true,
         .status = SY_LOG_STATUS_OK,
         .from_us = T0 + 10 * 1000,
         .to_us = T0 + 250 * 1000,
         .ascending = true},
        {.key_id = "key-1", .user_id = "user-1", .text = "needle-1"},
        {.model = "no-such-model"},
    };
    size_t nonempty = 0;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        size_t n = check_listing(t->vt, s, &d, &cases[c], 1000, match_filter, &cases[c]);
        nonempty += n > 0;
        cases[c].ascending = !cases[c].ascending;
        check_listing(t->vt, s, &d, &cases[c], 1000, match_filter, &cases[c]);
    }
    assert_int_equal(nonempty, sizeof(cases) / sizeof(cases[0]) - 2);
    /* a malformed cursor and a bad limit are the caller's fault */
    sy_log_filter_t f = {0};
    sy_log_page_t page;
    assert_int_equal(t->vt->query_logs(s, &f, "garbage", 10, &page, msg, sizeof(msg)),
                     SY_ERR_INVALID_REQUEST);
    assert_int_equal(t->vt->query_logs(s, &f, NULL, 0, &page, msg, sizeof(msg)),
                     SY_ERR_INVALID_REQUEST);
    assert_int_equal(
        t->vt->query_logs(s, &f, NULL, SY_STORE_LOGS_MAX_LIMIT + 1, &page, msg, sizeof(msg)),
        SY_ERR_INVALID_REQUEST);
    t->vt->close(s);
    free_dataset(&d);
}

static void c_pagination(target_t *t)
{
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = open_migrated(t->vt, &conf);
    dataset_t d = make_dataset(1000, 0);
    write_all(t->vt, s, &d);
    size_t limits[] = {1, 2, 37, 500, 999, 1000};
    for (size_t k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
        sy_log_filter_t f = {.ascending = k % 2};
        if (limits[k] == 1) f.model = "gpt-4o"; /* keep the 1-row-page case short */
        check_listing(t->vt, s, &d, &f, limits[k], match_filter, &f);
    }
    sy_log_filter_t f = {.provider = "openai", .has_status = true, .status = SY_LOG_STATUS_OK};
    check_listing(t->vt, s, &d, &f, 13, match_filter, &f);
    f.ascending = true;
    check_listing(t->vt, s, &d, &f, 13, match_filter, &f);
    t->vt->close(s);
    free_dataset(&d);
}

/* ---- stats -------------------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t nearest_rank(int64_t *v, size_t n, double p)
{
    if (!n) return SY_LOG_UNKNOWN;
    qsort(v, n, sizeof(*v), cmp_i64);
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    return v[rank ? rank - 1 : 0];
}

static sy_str_t group_of(const sy_log_record_t *r, sy_stats_group_t g)
{
    switch (g) {
    case SY_STATS_GROUP_MODEL:
        return r->model;
    case SY_STATS_GROUP_PROVIDER:
        return r->provider;
    case SY_STATS_GROUP_KEY:
        return r->key_id;
    default:
        return SY_STR_NULL;
    }
}

/* Recomputes one result row from the dataset and compares every figure. */
/* A percentile from the rollup: within the documented relative bound of the exact one. */
static void assert_pct(int64_t got, int64_t want, double bound)
{
    if (bound == 0 || want < 0) {
        assert_int_equal(got, want);
        return;
    }
    if ((double)llabs(got - want) > (double)want * bound)
        fail_msg("percentile %lld not within %.2f %% of exact %lld", (long long)got, 100 * bound,
                 (long long)want);
}

/* Recomputes one result row from the dataset and compares every figure: exactly, except the
 * percentiles when the result says they came from histograms. */
static void check_stats_row_pct(const dataset_t *d, const sy_stats_query_t *q,
                                const sy_stats_row_t *row, double bound)
{
    int64_t *lat = malloc(d->n * sizeof(int64_t)), *ttft = malloc(d->n * sizeof(int64_t));
    size_t nl = 0, nt = 0;
    int64_t count = 0, errors = 0, in = 0, out = 0, cost = SY_LOG_UNKNOWN, cost_unknown = 0;
    int64_t tok_ok = 0, lat_ok = 0;
    for (size_t i = 0; i < d->n; i++) {
        const sy_log_record_t *r = d->r[i];
        int64_t t = r->t_received_us;
        if (t < q->from_us || t >= q->to_us || t - t % q->bucket_us != row->bucket_start_us)
            continue;
        sy_str_t g = group_of(r, q->group_by);
        if ((g.ptr == NULL) != (row->group == NULL)) continue;
        if (g.ptr && !sy_str_eq_c(g, row->group)) continue;
        count++;
        if (r->status != SY_LOG_STATUS_OK) errors++;
        if (r->latency_us >= 0) lat[nl++] = r->latency_us;
        if (r->ttft_us >= 0) ttft[nt++] = r->ttft_us;
        if (r->input_tokens >= 0) in += r->input_tokens;
        if (r->output_tokens >= 0) out += r->output_tokens;
        if (r->status == SY_LOG_STATUS_OK && r->output_tokens >= 0 && r->latency_us >= 0) {
            tok_ok += r->output_tokens;
            lat_ok += r->latency_us;
        }
        if (r->cost_nanousd >= 0)
            cost = (cost < 0 ? 0 : cost) + r->cost_nanousd;
        else
            cost_unknown++;
    }
    assert_true(count > 0); /* empty cells are never returned */
    assert_int_equal(row->count, count);
    assert_int_equal(row->errors, errors);
    assert_true(fabs(row->error_rate - (double)errors / (double)count) < 1e-9);
    assert_int_equal(row->input_tokens, in);
    assert_int_equal(row->output_tokens, out);
    assert_int_equal(row->cost_nanousd, cost);
    assert_int_equal(row->cost_unknown, cost_unknown);
    double tps = lat_ok ? (double)tok_ok * 1e6 / (double)lat_ok : 0.0;
    assert_true(fabs(row->tokens_per_s - tps) <= 1e-6 * (tps + 1));
    assert_pct(row->latency_p50_us, nearest_rank(lat, nl, 50), bound);
    assert_pct(row->latency_p95_us, nearest_rank(lat, nl, 95), bound);
    assert_pct(row->latency_p99_us, nearest_rank(lat, nl, 99), bound);
    assert_pct(row->ttft_p50_us, nearest_rank(ttft, nt, 50), bound);
    assert_pct(row->ttft_p95_us, nearest_rank(ttft, nt, 95), bound);
    free(lat);
    free(ttft);
}

static void check_stats_row(const dataset_t *d, const sy_stats_query_t *q,
                            const sy_stats_row_t *row)
{
    check_stats_row_pct(d, q, row, 0);
}

static void c_stats(target_t *t)
{
    MSG;
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = open_migrated(t->vt, &conf);
    dataset_t d = make_dataset(1000, 0);
    write_all(t->vt, s, &d);
    /* T0 is a multiple of 100 ms; from/to cut buckets at both ends */
    sy_stats_query_t qs[] = {
        {T0, T0 + 500 * 1000, 100 * 1000, SY_STATS_GROUP_NONE},
        {T0 + 7000, T0 + 333 * 1000, 50 * 1000, SY_STATS_GROUP_MODEL},
        {T0, T0 + 1000 * 1000, 1000 * 1000, SY_STATS_GROUP_PROVIDER},
        {T0 - 5000, T0 + 100 * 1000, 20 * 1000, SY_STATS_GROUP_KEY},
    };
    for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        sy_stats_result_t res;
        OK(t->vt->query_stats(s, &qs[k], &res, msg, sizeof(msg)));
        assert_false(res.approximate_percentiles); /* small data: always exact */
        int64_t total = 0;
        for (size_t i = 0; i < res.n; i++) {
            check_stats_row(&d, &qs[k], &res.rows[i]);
            total += res.rows[i].count;
            if (i) { /* sorted by (bucket, group), NULL group first */
                const sy_stats_row_t *a = &res.rows[i - 1], *b = &res.rows[i];
                assert_true(a->bucket_start_us < b->bucket_start_us ||
                            (a->bucket_start_us == b->bucket_start_us && b->group &&
                             (!a->group || strcmp(a->group, b->group) < 0)));
            }
        }
        int64_t want = 0;
        for (size_t i = 0; i < d.n; i++)
            want += d.r[i]->t_received_us >= qs[k].from_us && d.r[i]->t_received_us < qs[k].to_us;
        assert_int_equal(total, want);
        assert_true(res.n > 0);
        sy_store_stats_free(&res);
    }
    /* an empty range gives no rows; bad queries are refused */
    sy_stats_result_t res;
    sy_stats_query_t empty = {T0 + 2000000000, T0 + 2000001000, 1000, SY_STATS_GROUP_NONE};
    OK(t->vt->query_stats(s, &empty, &res, msg, sizeof(msg)));
    assert_int_equal(res.n, 0);
    sy_store_stats_free(&res);
    sy_stats_query_t bad[] = {
        {T0, T0, 1000, SY_STATS_GROUP_NONE},
        {T0, T0 + 1000, 0, SY_STATS_GROUP_NONE},
        {T0, T0 + 100000000, 1, SY_STATS_GROUP_NONE},
    };
    for (size_t k = 0; k < 3; k++)
        assert_int_equal(t->vt->query_stats(s, &bad[k], &res, msg, sizeof(msg)),
                         SY_ERR_INVALID_REQUEST);
    t->vt->close(s);
    free_dataset(&d);
}

static void c_cost_null(target_t *t)
{
    MSG;
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = open_migrated(t->vt, &conf);
    /* bucket A: every cost unknown; bucket B: one free (0) and one unknown; C: known only */
    int64_t costs[] = {SY_LOG_UNKNOWN, SY_LOG_UNKNOWN, 0, SY_LOG_UNKNOWN, 5, 7};
    sy_log_record_t *recs[6];
    for (int i = 0; i < 6; i++) {
        sy_log_record_t r;
        sy_log_record_init(&r);
        sy_uuid_v7(r.id);
        r.t_received_us = T0 + (i / 2) * 1000000;
        r.model = SY_STR_LIT("m");
        r.cost_nanousd = costs[i];
        recs[i] = sy_log_record_clone(&r);
    }
    OK(t->vt->write_batch(s, (const sy_log_record_t *const *)recs, 6, msg, sizeof(msg)));
    for (int i = 0; i < 6; i++) { /* NULL stays NULL, 0 stays 0 */
        sy_log_record_t *got = NULL;
        OK(t->vt->get_log(s, recs[i]->id, &got, msg, sizeof(msg)));
        assert_int_equal(got->cost_nanousd, costs[i]);
        assert_int_equal(got->input_tokens, SY_LOG_UNKNOWN);
        assert_int_equal(got->latency_us, SY_LOG_UNKNOWN);
        assert_int_equal(got->usage_source, SY_LOG_USAGE_NONE);
        assert_null(got->request_body.ptr);
        sy_log_record_free(got);
    }
    sy_stats_query_t q = {T0, T0 + 3000000, 1000000, SY_STATS_GROUP_NONE};
    sy_stats_result_t res;
    OK(t->vt->query_stats(s, &q, &res, msg, sizeof(msg)));
    assert_int_equal(res.n, 3);
    assert_int_equal(res.rows[0].cost_nanousd, SY_LOG_UNKNOWN);
    assert_int_equal(res.rows[0].cost_unknown, 2);
    assert_int_equal(res.rows[1].cost_nanousd, 0);
    assert_int_equal(res.rows[1].cost_unknown, 1);
    assert_int_equal(res.rows[2].cost_nanousd, 12);
    assert_int_equal(res.rows[2].cost_unknown, 0);
    assert_int_equal(res.rows[0].latency_p50_us, SY_LOG_UNKNOWN); /* no latency known */
    assert_true(res.rows[0].tokens_per_s == 0.0);
    sy_store_stats_free(&res);
    for (int i = 0; i < 6; i++)
        sy_log_record_free(recs[i]);
    t->vt->close(s);
}

/* ---- stats through the rollup ---------------------------------------------------------------- */

#define T1 INT64_C(1700000040000000) /* a whole minute */
#define MIN_US INT64_C(60000000)
#define H0 (T1 - 14 * MIN_US) /* a whole hour */

/* 3,000 varied records over 3 hours from T1 (one every 3.6 s), cut into batches of 500 */
static dataset_t rollup_dataset(void)
{
    dataset_t d = make_dataset(3000, 0);
    for (size_t i = 0; i < d.n; i++)
        d.r[i]->t_received_us = T1 + (int64_t)i * 3600000;
    return d;
}

static void write_batches(const sy_store_vtable_t *vt, sy_store_t *s, const dataset_t *d,
                          size_t from, size_t to, size_t batch)
{
    MSG;
    for (size_t i = from; i < to; i += batch) {
        size_t n = to - i < batch ? to - i : batch;
        OK(vt->write_batch(s, (const sy_log_record_t *const *)d->r + i, n, msg, sizeof(msg)));
    }
}

/* stats_exact_max_rows of check_rollup_queries' probed handle: between the rollup dataset's
 * 2-hour ranges (~2,000 rows) and its 3-hour ones (3,000) */
#define PROBED_MAX 2500

/* Every aligned query on a handle forced onto the rollup: counts/tokens/errors/cost exact,
 * percentiles within the bound; the same through the exact handle; an unaligned query exact.
 * probed (NULL: none), a handle with stats_exact_max_rows = PROBED_MAX: the same cells as the
 * forced handle when its probe finds more rows in the range, as the exact handle otherwise.
 * d holds the rows the database should contain (n of them). */
static void check_rollup_queries(target_t *t, sy_store_t *roll, sy_store_t *exact,
                                 sy_store_t *probed, const dataset_t *d)
{
    MSG;
    bool has_rollup = t->vt->caps & SY_STORE_CAP_STATS_ROLLUP;
    sy_stats_query_t qs[] = {
        {T1, T1 + 180 * MIN_US, 60 * MIN_US, SY_STATS_GROUP_NONE},
        {T1, T1 + 180 * MIN_US, 5 * MIN_US, SY_STATS_GROUP_MODEL},
        {T1 + MIN_US, T1 + 121 * MIN_US, MIN_US, SY_STATS_GROUP_KEY},
        {T1 - 60 * MIN_US, T1 + 240 * MIN_US, 10 * MIN_US, SY_STATS_GROUP_PROVIDER},
        {T1 + 7 * MIN_US, T1 + 100 * MIN_US + 5000, 7 * MIN_US, SY_STATS_GROUP_MODEL}, /* cut */
        /* every level of a backend with several (ClickHouse: 1 h and 5 min by none / model /
         * key, 1 min by none / provider, 1 min by key from the per-minute table); H0 is a
         * whole hour, T1 is not even a whole 5 minutes */
        {H0, H0 + 240 * MIN_US, 60 * MIN_US, SY_STATS_GROUP_KEY},
        {H0, H0 + 240 * MIN_US, 120 * MIN_US, SY_STATS_GROUP_MODEL},
        {H0, H0 + 240 * MIN_US, 60 * MIN_US, SY_STATS_GROUP_NONE},
        {H0 - 60 * MIN_US, H0 + 240 * MIN_US, 5 * MIN_US, SY_STATS_GROUP_NONE},
        {H0, H0 + 240 * MIN_US, 15 * MIN_US, SY_STATS_GROUP_PROVIDER},
        {H0, H0 + 180 * MIN_US, 5 * MIN_US, SY_STATS_GROUP_KEY},
        {T1 + MIN_US, T1 + 121 * MIN_US, MIN_US, SY_STATS_GROUP_NONE},
        {T1 + MIN_US, T1 + 121 * MIN_US, 2 * MIN_US, SY_STATS_GROUP_PROVIDER},
    };
    for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        bool aligned = qs[k].to_us % MIN_US == 0;
        sy_stats_result_t a, b;
        OK(t->vt->query_stats(roll, &qs[k], &a, msg, sizeof(msg)));
        OK(t->vt->query_stats(exact, &qs[k], &b, msg, sizeof(msg)));
        assert_int_equal(a.approximate_percentiles, has_rollup && aligned);
        assert_false(b.approximate_percentiles);
        assert_int_equal(a.n, b.n);
        int64_t total = 0, want = 0;
        for (size_t i = 0; i < a.n; i++) {
            check_stats_row_pct(d, &qs[k], &a.rows[i], sy_stats_pct_rel_error(&a));
            check_stats_row(d, &qs[k], &b.rows[i]);
            assert_int_equal(a.rows[i].bucket_start_us, b.rows[i].bucket_start_us);
            assert_true((!a.rows[i].group && !b.rows[i].group) ||
                        (a.rows[i].group && b.rows[i].group &&
                         strcmp(a.rows[i].group, b.rows[i].group) == 0));
            total += a.rows[i].count;
        }
        for (size_t i = 0; i < d->n; i++)
            want += d->r[i]->t_received_us >= qs[k].from_us && d->r[i]->t_received_us < qs[k].to_us;
        assert_int_equal(total, want);
        assert_true(a.n > 0);
        if (probed) {
            sy_stats_result_t p;
            OK(t->vt->query_stats(probed, &qs[k], &p, msg, sizeof(msg)));
            const sy_stats_result_t *w = has_rollup && aligned && want > PROBED_MAX ? &a : &b;
            assert_int_equal(p.approximate_percentiles, w->approximate_percentiles);
            assert_int_equal(p.n, w->n);
            for (size_t i = 0; i < p.n; i++) {
                const sy_stats_row_t *x = &p.rows[i], *y = &w->rows[i];
                assert_int_equal(x->bucket_start_us, y->bucket_start_us);
                assert_true((!x->group && !y->group) ||
                            (x->group && y->group && strcmp(x->group, y->group) == 0));
                assert_int_equal(x->count, y->count);
                assert_int_equal(x->errors, y->errors);
                assert_int_equal(x->latency_p50_us, y->latency_p50_us);
                assert_int_equal(x->latency_p95_us, y->latency_p95_us);
                assert_int_equal(x->latency_p99_us, y->latency_p99_us);
                assert_int_equal(x->ttft_p50_us, y->ttft_p50_us);
                assert_int_equal(x->ttft_p95_us, y->ttft_p95_us);
                assert_int_equal(x->cost_nanousd, y->cost_nanousd);
            }
            sy_store_stats_free(&p);
        }
        sy_store_stats_free(&a);
        sy_store_stats_free(&b);
    }
}

static void c_stats_rollup(target_t *t)
{
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *exact = open_migrated(t->vt, &conf);
    conf.stats_exact_max_rows = -1; /* every aligned query through the rollup */
    sy_store_t *roll = open_migrated(t->vt, &conf);
    conf.stats_exact_max_rows = PROBED_MAX; /* the probe decides, per query */
    sy_store_t *probed = open_migrated(t->vt, &conf);
    dataset_t d = rollup_dataset();
    write_batches(t->vt, roll, &d, 0, d.n, 500);
    check_rollup_queries(t, roll, exact, probed, &d);
    t->vt->close(probed);
    t->vt->close(roll);
    t->vt->close(exact);
    free_dataset(&d);
}

/* Cells split over several inserts and not merged yet: every row written twice apart (even
 * rows, then odd rows), so a cell of a level is two rows or more; on ClickHouse with stats_roll's
 * merges stopped, checked (the reads must add the rows of a cell up: counts exact,
 * percentiles within the bound, on the levels' own buckets as on wider ones). */
static void c_stats_unmerged(target_t *t)
{
    MSG;
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *exact = open_migrated(t->vt, &conf);
    conf.stats_exact_max_rows = -1;
    sy_store_t *roll = open_migrated(t->vt, &conf);
    bool ch = t->vt == &sy_store_clickhouse;
    char sql[512], err[256];
    if (ch) {
        snprintf(sql, sizeof(sql), "SYSTEM STOP MERGES sy_case_%d.stats_roll", t->seq);
        if (sy_test_ch_query(&ch_server, sql, err, sizeof(err))) fail_msg("%s: %s", sql, err);
    }
    dataset_t d = rollup_dataset();
    const sy_log_record_t **half = calloc(d.n, sizeof(*half));
    for (size_t pass = 0; pass < 2; pass++) {
        size_t n = 0;
        for (size_t i = pass; i < d.n; i += 2)
            half[n++] = d.r[i];
        for (size_t i = 0; i < n; i += 500)
            OK(t->vt->write_batch(roll, half + i, n - i < 500 ? n - i : 500, msg, sizeof(msg)));
    }
    free(half);
    if (ch) { /* cells really are split: more level rows than cells (NULL-safe count) */
        snprintf(sql, sizeof(sql),
                 "SELECT throwIf((SELECT count() FROM sy_case_%d.stats_roll) <= (SELECT "
                 "uniqExact(grp, step_us, t_us, ifNull(rmodel, ''), isNull(rmodel), "
                 "ifNull(rprovider, ''), isNull(rprovider), ifNull(rkey_id, ''), "
                 "isNull(rkey_id)) FROM sy_case_%d.stats_roll))",
                 t->seq, t->seq);
        if (sy_test_ch_query(&ch_server, sql, err, sizeof(err))) fail_msg("%s: %s", sql, err);
    }
    check_rollup_queries(t, roll, exact, NULL, &d);
    if (ch) {
        snprintf(sql, sizeof(sql), "SYSTEM START MERGES sy_case_%d.stats_roll", t->seq);
        if (sy_test_ch_query(&ch_server, sql, err, sizeof(err))) fail_msg("%s: %s", sql, err);
    }
    t->vt->close(roll);
    t->vt->close(exact);
    free_dataset(&d);
}

/* Spool replay: the same rows written again (whole batches, a batch straddling old and new
 * rows, duplicates inside one batch) are counted once, by the rollup as by the raw rows. */
static void c_stats_duplicates(target_t *t)
{
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *exact = open_migrated(t->vt, &conf);
    conf.stats_exact_max_rows = -1;
    sy_store_t *roll = open_migrated(t->vt, &conf);
    dataset_t d = rollup_dataset();
    write_batches(t->vt, roll, &d, 0, 2000, 500);
    write_batches(t->vt, roll, &d, 0, 2000, 500);     /* replay */
    write_batches(t->vt, roll, &d, 1500, 2500, 1000); /* half old, half new */
    /* one batch holding every remaining row twice */
    const sy_log_record_t *twice[1000];
    for (size_t i = 0; i < 500; i++)
        twice[2 * i] = twice[2 * i + 1] = d.r[2500 + i];
    MSG;
    OK(t->vt->write_batch(roll, twice, 1000, msg, sizeof(msg)));
    /* two stored rows 3 hours apart: a time window holding far more rows than the batch */
    const sy_log_record_t *ends[2] = {d.r[0], d.r[d.n - 1]};
    OK(t->vt->write_batch(roll, ends, 2, msg, sizeof(msg)));
    write_batches(t->vt, roll, &d, 0, d.n, 3000); /* everything again */
    check_rollup_queries(t, roll, exact, NULL, &d);
    t->vt->close(roll);
    t->vt->close(exact);
    free_dataset(&d);
}

/* Rows written before the rollup's migration are in the stats after it (the back-fill), and
 * rows written after it add to them. */
static void c_stats_backfill(target_t *t)
{
    MSG;
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    conf.schema_limit = t->rollup_version - 1;
    sy_store_t *old = NULL;
    OK(t->vt->open(&conf, &old, msg, sizeof(msg)));
    int v = 0;
    OK(t->vt->migrate(old, &v, msg, sizeof(msg)));
    assert_int_equal(v, t->rollup_version - 1);
    dataset_t d = rollup_dataset();
    write_batches(t->vt, old, &d, 0, 2000, 500);
    t->vt->close(old);
    conf.schema_limit = 0;
    sy_store_t *exact = open_migrated(t->vt, &conf);
    conf.stats_exact_max_rows = -1;
    sy_store_t *roll = open_migrated(t->vt, &conf);
    write_batches(t->vt, roll, &d, 1000, d.n, 500); /* 1000 replayed, 1000 new */
    check_rollup_queries(t, roll, exact, NULL, &d);
    t->vt->close(roll);
    t->vt->close(exact);
    free_dataset(&d);
}

typedef struct conc {
    target_t *t;
    sy_store_t *s;
    dataset_t *d;
    size_t batch;
    /* shared between the threads: atomics (TSan-clean, no lost increments) */
    _Atomic int done;
    _Atomic int reader_errors;
} conc_t;

static void *writer_main(void *arg)
{
    conc_t *c = arg;
    char msg[SY_STORE_MSGLEN];
    for (size_t i = 0; i < c->d->n; i += c->batch)
        if (c->t->vt->write_batch(c->s, (const sy_log_record_t *const *)c->d->r + i, c->batch, msg,
                                  sizeof(msg)))
            c->reader_errors += 1000;
    c->done = 1;
    return NULL;
}

static void *reader_main(void *arg)
{
    conc_t *c = arg;
    char msg[SY_STORE_MSGLEN];
    size_t last = 0;
    while (!c->done) {
        /* counts only grow, and a batch is never seen half-written */
        sy_stats_query_t q = {T0, T0 + 10000000000LL, 10000000000LL, SY_STATS_GROUP_NONE};
        sy_stats_result_t res;
        if (c->t->vt->query_stats(c->s, &q, &res, msg, sizeof(msg))) {
            c->reader_errors++;
            continue;
        }
        size_t n = res.n ? (size_t)res.rows[0].count : 0;
        sy_store_stats_free(&res);
        if (n < last || n % c->batch) c->reader_errors++;
        last = n;
        sy_log_filter_t f = {.model = "gpt-4o"};
        sy_log_page_t page;
        if (c->t->vt->query_logs(c->s, &f, NULL, 50, &page, msg, sizeof(msg)))
            c->reader_errors++;
        else
            sy_store_log_page_free(&page);
    }
    return NULL;
}

static void c_concurrent(target_t *t)
{
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = open_migrated(t->vt, &conf);
    dataset_t d = make_dataset(3000, 0);
    conc_t c = {.t = t, .s = s, .d = &d, .batch = 100};
    pthread_t w, r[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&r[i], NULL, reader_main, &c);
    pthread_create(&w, NULL, writer_main, &c);
    pthread_join(w, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(r[i], NULL);
    assert_int_equal(atomic_load(&c.reader_errors), 0);
    assert_int_equal(count_rows(t->vt, s), d.n);
    t->vt->close(s);
    free_dataset(&d);
}

/* App data (store/appdata.h) on APPDATA backends: users, teams, keys, sessions and the audit
 * log round-trip; duplicates are INVALID_REQUEST, a missing row NOT_FOUND, updates persist.
 * Backends without APPDATA refuse app_exec with a clear message. */
static void c_appdata(target_t *t)
{
    MSG;
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = open_migrated(t->vt, &conf);
    if (!(t->vt->caps & SY_STORE_CAP_APPDATA)) {
        assert_null(t->vt->app_exec);
        assert_int_equal(sy_store_app_exec(s, "SELECT 1", NULL, 0, 1, NULL, NULL, msg, sizeof(msg)),
                         SY_ERR_STORE);
        assert_non_null(strstr(msg, "cannot hold app data"));
        t->vt->close(s);
        return;
    }
    sy_app_user_t u = {.id = "u1",
                       .email = "a@example.com",
                       .name = "Ann",
                       .role = "admin",
                       .pw_hash = "$argon2id$v=19$x",
                       .created_us = 1000,
                       .limits = "[\"100/hour\"]"};
    OK(sy_app_user_insert(s, &u, msg, sizeof(msg)));
    sy_app_user_t u2 = {.id = "u2", .email = "a@example.com", .role = "member", .created_us = 2000};
    assert_int_equal(sy_app_user_insert(s, &u2, msg, sizeof(msg)), SY_ERR_INVALID_REQUEST);
    u2.email = "b@example.com";
    OK(sy_app_user_insert(s, &u2, msg, sizeof(msg)));
    sy_app_user_t *got = NULL;
    OK(sy_app_user_get(s, NULL, "a@example.com", &got, msg, sizeof(msg)));
    assert_string_equal(got->id, "u1");
    assert_string_equal(got->name, "Ann");
    assert_string_equal(got->pw_hash, "$argon2id$v=19$x");
    assert_int_equal(got->created_us, 1000);
    assert_int_equal(got->disabled_us, 0);
    assert_string_equal(got->limits, "[\"100/hour\"]");
    sy_app_user_free(got);
    assert_int_equal(sy_app_user_get(s, "nope", NULL, &got, msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    int64_t n = -1;
    OK(sy_app_user_count(s, "admin", &n, msg, sizeof(msg)));
    assert_int_equal(n, 1);
    u.disabled_us = 5000;
    u.role = "viewer";
    u.limits = "[]"; /* an explicit empty list: no limits, not the defaults */
    OK(sy_app_user_update(s, &u, msg, sizeof(msg)));
    OK(sy_app_user_count(s, "admin", &n, msg, sizeof(msg)));
    assert_int_equal(n, 0);
    OK(sy_app_user_get(s, "u1", NULL, &got, msg, sizeof(msg)));
    assert_string_equal(got->role, "viewer");
    assert_int_equal(got->disabled_us, 5000);
    assert_string_equal(got->limits, "[]");
    sy_app_user_free(got);
    sy_app_user_t **users = NULL;
    size_t nu = 0;
    OK(sy_app_user_list(s, &users, &nu, msg, sizeof(msg)));
    assert_int_equal(nu, 2);
    assert_string_equal(users[1]->email, "b@example.com");
    assert_null(users[1]->pw_hash);
    assert_null(users[1]->limits);
    sy_app_user_list_free(users, nu);

    sy_app_team_t tm = {.id = "t1", .name = "research", .created_us = 10};
    OK(sy_app_team_insert(s, &tm, msg, sizeof(msg)));
    assert_int_equal(sy_app_team_insert(s, &tm, msg, sizeof(msg)), SY_ERR_INVALID_REQUEST);
    sy_app_team_t *gt = NULL;
    OK(sy_app_team_get(s, "t1", &gt, msg, sizeof(msg)));
    assert_string_equal(gt->name, "research");
    assert_int_equal(gt->created_us, 10);
    assert_null(gt->limits);
    sy_app_team_free(gt);
    tm.limits = "[\"$500/month\"]";
    tm.name = "research2";
    OK(sy_app_team_update(s, &tm, msg, sizeof(msg)));
    OK(sy_app_team_get(s, "t1", &gt, msg, sizeof(msg)));
    assert_string_equal(gt->name, "research2");
    assert_string_equal(gt->limits, "[\"$500/month\"]");
    sy_app_team_free(gt);
    tm.id = "t9";
    assert_int_equal(sy_app_team_update(s, &tm, msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    assert_int_equal(sy_app_team_get(s, "t9", &gt, msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    OK(sy_app_team_member_put(s, "t1", "u2", "member", msg, sizeof(msg)));
    OK(sy_app_team_member_put(s, "t1", "u2", "admin", msg, sizeof(msg))); /* upsert */
    char **teams = NULL;
    size_t nt = 0;
    OK(sy_app_team_members_of(s, "u2", &teams, &nt, msg, sizeof(msg)));
    assert_int_equal(nt, 1);
    assert_string_equal(teams[0], "t1");
    sy_app_str_list_free(teams, nt);

    sy_app_key_t k = {.id = "k1",
                      .name = "ci",
                      .prefix = "sy-AbCdEf12",
                      .hash = "00ff",
                      .owner_user = "u2",
                      .expires_us = 9000000,
                      .allowed_models = "[\"gpt-4o\"]",
                      .default_tags = "[\"ci\"]",
                      .created_us = 100,
                      .limits = "[\"10 concurrent\",\"$5/day\"]"};
    OK(sy_app_key_insert(s, &k, msg, sizeof(msg)));
    sy_app_key_t k2 = {.id = "k2",
                       .name = "team",
                       .prefix = "sy-x",
                       .hash = "11ee",
                       .owner_team = "t1",
                       .rotated_from = "k1",
                       .created_us = 200};
    OK(sy_app_key_insert(s, &k2, msg, sizeof(msg)));
    k2.id = "k3"; /* same hash */
    assert_int_equal(sy_app_key_insert(s, &k2, msg, sizeof(msg)), SY_ERR_INVALID_REQUEST);
    sy_app_key_t *gk = NULL;
    OK(sy_app_key_find_hash(s, "00ff", &gk, msg, sizeof(msg)));
    assert_string_equal(gk->id, "k1");
    assert_string_equal(gk->allowed_models, "[\"gpt-4o\"]");
    assert_string_equal(gk->default_tags, "[\"ci\"]");
    assert_string_equal(gk->limits, "[\"10 concurrent\",\"$5/day\"]");
    free(gk->limits);
    gk->limits = NULL; /* back to the defaults */
    assert_int_equal(gk->expires_us, 9000000);
    assert_null(gk->owner_team);
    assert_int_equal(gk->revoked_us, 0);
    gk->revoked_us = 777;
    gk->grace_until_us = 888;
    free(gk->allowed_models);
    gk->allowed_models = NULL;
    OK(sy_app_key_update(s, gk, msg, sizeof(msg)));
    sy_app_key_free(gk);
    OK(sy_app_key_touch(s, "k1", 4242, msg, sizeof(msg)));
    OK(sy_app_key_get(s, "k1", &gk, msg, sizeof(msg)));
    assert_int_equal(gk->revoked_us, 777);
    assert_int_equal(gk->grace_until_us, 888);
    assert_int_equal(gk->last_used_us, 4242);
    assert_null(gk->allowed_models);
    assert_null(gk->limits);
    sy_app_key_free(gk);
    assert_int_equal(sy_app_key_find_hash(s, "abcd", &gk, msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    assert_int_equal(sy_app_key_touch(s, "zz", 1, msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    sy_app_key_t **keys = NULL;
    size_t nk = 0;
    OK(sy_app_key_list(s, NULL, NULL, &keys, &nk, msg, sizeof(msg)));
    assert_int_equal(nk, 2);
    assert_string_equal(keys[0]->id, "k2"); /* newest first */
    assert_string_equal(keys[0]->rotated_from, "k1");
    sy_app_key_list_free(keys, nk);
    OK(sy_app_key_list(s, "u2", NULL, &keys, &nk, msg, sizeof(msg)));
    assert_int_equal(nk, 1);
    assert_string_equal(keys[0]->id, "k1");
    sy_app_key_list_free(keys, nk);
    OK(sy_app_key_list(s, NULL, "t1", &keys, &nk, msg, sizeof(msg)));
    assert_int_equal(nk, 1);
    assert_string_equal(keys[0]->id, "k2");
    sy_app_key_list_free(keys, nk);

    sy_app_session_t x = {
        .token_hash = "aa", .user_id = "u1", .csrf = "c1", .created_us = 1, .expires_us = 99};
    OK(sy_app_session_insert(s, &x, msg, sizeof(msg)));
    sy_app_session_t *gx = NULL;
    OK(sy_app_session_get(s, "aa", &gx, msg, sizeof(msg)));
    assert_string_equal(gx->user_id, "u1");
    assert_string_equal(gx->csrf, "c1");
    assert_int_equal(gx->expires_us, 99);
    sy_app_session_free(gx);
    OK(sy_app_session_delete(s, "aa", msg, sizeof(msg)));
    assert_int_equal(sy_app_session_get(s, "aa", &gx, msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    assert_int_equal(sy_app_session_delete(s, "aa", msg, sizeof(msg)), SY_ERR_NOT_FOUND);

    for (int i = 0; i < 5; i++) {
        char target[8];
        snprintf(target, sizeof(target), "k%d", i);
        sy_app_audit_t a = {.t_us = 100 + i,
                            .actor = "user:u1",
                            .action = "key.create",
                            .target = target,
                            .remote = "127.0.0.1",
                            .detail = i == 4 ? "{\"name\":\"x\"}" : NULL};
        OK(sy_app_audit_append(s, &a, msg, sizeof(msg)));
    }
    sy_app_audit_t **au = NULL;
    size_t na = 0;
    OK(sy_app_audit_list(s, 3, &au, &na, msg, sizeof(msg)));
    assert_int_equal(na, 3);
    assert_int_equal(au[0]->t_us, 104);
    assert_string_equal(au[0]->target, "k4");
    assert_string_equal(au[0]->detail, "{\"name\":\"x\"}");
    assert_null(au[1]->detail);
    assert_string_equal(au[2]->remote, "127.0.0.1");
    assert_int_equal(strlen(au[0]->id), SY_UUID_STRLEN);
    sy_app_audit_list_free(au, na);
    assert_int_equal(sy_app_audit_list(s, 0, &au, &na, msg, sizeof(msg)), SY_ERR_INVALID_REQUEST);
    t->vt->close(s);
}

/* Provider credentials (store/appcreds.h) on APPDATA backends: upsert keeps created_us and
 * reports created/replaced, list by name, delete, and the one-statement rekey (only rows of the
 * old key id; a row missing from the new values fails the whole statement, nothing changed). */
static void c_credentials(target_t *t)
{
    MSG;
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = open_migrated(t->vt, &conf);
    if (!(t->vt->caps & SY_STORE_CAP_APPDATA)) {
        t->vt->close(s);
        return;
    }
    bool created = false;
    sy_app_cred_t c = {.name = "openai-main",
                       .provider = "openai",
                       .ciphertext = "Q1Q=",
                       .nonce = "Tk9OQ0U=",
                       .key_id = "00112233aabbccdd",
                       .last4 = "wxyz",
                       .updated_us = 1000,
                       .updated_by = "key:k1"};
    OK(sy_app_cred_put(s, &c, &created, msg, sizeof(msg)));
    assert_true(created);
    sy_app_cred_t c2 = {.name = "b.other_2",
                        .ciphertext = "Yg==",
                        .nonce = "bg==",
                        .key_id = "00112233aabbccdd",
                        .updated_us = 1500};
    OK(sy_app_cred_put(s, &c2, &created, msg, sizeof(msg)));
    assert_true(created);
    c.ciphertext = "Q1QtMg==";
    c.last4 = "abcd";
    c.updated_us = 2000;
    c.updated_by = "user:u1";
    OK(sy_app_cred_put(s, &c, &created, msg, sizeof(msg)));
    assert_false(created);
    sy_app_cred_t *got = NULL;
    OK(sy_app_cred_get(s, "openai-main", &got, msg, sizeof(msg)));
    assert_string_equal(got->provider, "openai");
    assert_string_equal(got->ciphertext, "Q1QtMg==");
    assert_string_equal(got->nonce, "Tk9OQ0U=");
    assert_string_equal(got->key_id, "00112233aabbccdd");
    assert_string_equal(got->last4, "abcd");
    assert_int_equal(got->created_us, 1000);
    assert_int_equal(got->updated_us, 2000);
    assert_string_equal(got->updated_by, "user:u1");
    sy_app_cred_free(got);
    assert_int_equal(sy_app_cred_get(s, "nope", &got, msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    sy_app_cred_t **v = NULL;
    size_t n = 0;
    OK(sy_app_cred_list(s, &v, &n, msg, sizeof(msg)));
    assert_int_equal(n, 2);
    assert_string_equal(v[0]->name, "b.other_2");
    assert_null(v[0]->provider);
    assert_null(v[0]->last4);
    assert_string_equal(v[1]->name, "openai-main");
    /* rekey: a value list missing one row of the old key fails and changes nothing */
    v[0]->ciphertext = (free(v[0]->ciphertext), sy_xstrdup("TkVXMA=="));
    v[0]->nonce = (free(v[0]->nonce), sy_xstrdup("bjA="));
    v[1]->ciphertext = (free(v[1]->ciphertext), sy_xstrdup("TkVXMQ=="));
    v[1]->nonce = (free(v[1]->nonce), sy_xstrdup("bjE="));
    int64_t changed = -1;
    assert_int_not_equal(sy_app_cred_rekey(s, v + 1, 1, "00112233aabbccdd", "ffeeddcc00000000",
                                           &changed, msg, sizeof(msg)),
                         SY_OK);
    assert_non_null(strstr(msg, "nothing was changed"));
    OK(sy_app_cred_get(s, "openai-main", &got, msg, sizeof(msg)));
    assert_string_equal(got->key_id, "00112233aabbccdd");
    assert_string_equal(got->ciphertext, "Q1QtMg==");
    sy_app_cred_free(got);
    /* a row set again after the listing (a later updated_us) is not overwritten with the
     * listed value: the whole rekey fails */
    v[1]->updated_us += 1;
    assert_int_not_equal(sy_app_cred_rekey(s, v, 2, "00112233aabbccdd", "ffeeddcc00000000",
                                           &changed, msg, sizeof(msg)),
                         SY_OK);
    v[1]->updated_us -= 1;
    OK(sy_app_cred_get(s, "b.other_2", &got, msg, sizeof(msg)));
    assert_string_equal(got->key_id, "00112233aabbccdd");
    sy_app_cred_free(got);
    /* an unsafe literal is refused before any SQL */
    char *keep = v[0]->name;
    v[0]->name = "x'y";
    assert_int_equal(sy_app_cred_rekey(s, v, 2, "00112233aabbccdd", "ffeeddcc00000000", &changed,
                                       msg, sizeof(msg)),
                     SY_ERR_INVALID_REQUEST);
    v[0]->name = keep;
    OK(sy_app_cred_rekey(s, v, 2, "00112233aabbccdd", "ffeeddcc00000000", &changed, msg,
                         sizeof(msg)));
    assert_int_equal(changed, 2);
    OK(sy_app_cred_get(s, "openai-main", &got, msg, sizeof(msg)));
    assert_string_equal(got->key_id, "ffeeddcc00000000");
    assert_string_equal(got->ciphertext, "TkVXMQ==");
    assert_string_equal(got->nonce, "bjE=");
    assert_int_equal(got->updated_us, 2000); /* rekey is not an update of the value */
    sy_app_cred_free(got);
    /* a second rekey from the old id finds nothing to do */
    OK(sy_app_cred_rekey(s, v, 2, "00112233aabbccdd", "ffeeddcc00000000", &changed, msg,
                         sizeof(msg)));
    assert_int_equal(changed, 0);
    sy_app_cred_list_free(v, n);
    OK(sy_app_cred_delete(s, "b.other_2", msg, sizeof(msg)));
    assert_int_equal(sy_app_cred_delete(s, "b.other_2", msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    OK(sy_app_cred_list(s, &v, &n, msg, sizeof(msg)));
    assert_int_equal(n, 1);
    sy_app_cred_list_free(v, n);
    t->vt->close(s);
}

/* ---- the table and the runner --------------------------------------------------------------- */

/* Chat (store/appchat.h) on APPDATA backends: conversations are reached only with their
 * owner's id (another user's is NOT_FOUND for get, update, delete), pages are most recently
 * updated first with a keyset cursor, search matches titles and message text case-insensitively
 * with LIKE wildcards taken literally, messages keep their parent ids (branches), delete takes
 * the messages with it, and feedback upserts per (log id, user) keeping created_us. */
static void c_chat(target_t *t)
{
    MSG;
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = open_migrated(t->vt, &conf);
    if (!(t->vt->caps & SY_STORE_CAP_APPDATA)) {
        t->vt->close(s);
        return;
    }
    /* five conversations of u1 (updated 100..500), one of u2 */
    const char *titles[] = {"Alpha plan", "beta 100% sure", "Gamma", NULL, "under_score"};
    char ids[5][8];
    for (int i = 0; i < 5; i++) {
        snprintf(ids[i], sizeof ids[i], "c%d", i);
        sy_app_conv_t c = {.id = ids[i],
                           .user_id = "u1",
                           .title = (char *)titles[i],
                           .created_us = 10 + i,
                           .updated_us = 100 * (i + 1),
                           .defaults = i == 0 ? "{\"model\":\"m\"}" : NULL};
        OK(sy_app_conv_insert(s, &c, msg, sizeof(msg)));
    }
    sy_app_conv_t other = {
        .id = "c9", .user_id = "u2", .title = "Alpha of u2", .created_us = 1, .updated_us = 900};
    OK(sy_app_conv_insert(s, &other, msg, sizeof(msg)));
    assert_int_equal(sy_app_conv_insert(s, &other, msg, sizeof(msg)), SY_ERR_INVALID_REQUEST);
    sy_app_conv_t *c = NULL;
    OK(sy_app_conv_get(s, "c0", "u1", &c, msg, sizeof(msg)));
    assert_string_equal(c->title, "Alpha plan");
    assert_string_equal(c->defaults, "{\"model\":\"m\"}");
    assert_int_equal(c->created_us, 10);
    assert_int_equal(c->updated_us, 100);
    assert_int_equal(c->archived_us, 0);
    assert_null(c->current_leaf);
    sy_app_conv_free(c);
    c = NULL;
    assert_int_equal(sy_app_conv_get(s, "c9", "u1", &c, msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    assert_null(c);
    /* pages of 2, newest first: c4 c3 | c2 c1 | c0 */
    const char *want[] = {"c4", "c3", "c2", "c1", "c0"};
    int64_t after_us = 0;
    char after_id[8] = "";
    size_t seen = 0;
    for (int page = 0; page < 3; page++) {
        sy_app_conv_t **v = NULL;
        size_t n = 0;
        OK(sy_app_conv_list(s, "u1", NULL, after_us, page ? after_id : NULL, 2, &v, &n, msg,
                            sizeof(msg)));
        assert_int_equal(n, page < 2 ? 2 : 1);
        for (size_t i = 0; i < n; i++)
            assert_string_equal(v[i]->id, want[seen++]);
        after_us = v[n - 1]->updated_us;
        snprintf(after_id, sizeof after_id, "%s", v[n - 1]->id);
        sy_app_conv_list_free(v, n);
    }
    assert_int_equal(seen, 5);
    sy_app_conv_t **v = NULL;
    size_t n = 0;
    assert_int_equal(sy_app_conv_list(s, "u1", NULL, 0, NULL, 0, &v, &n, msg, sizeof(msg)),
                     SY_ERR_INVALID_REQUEST);
    assert_int_equal(
        sy_app_conv_list(s, "u1", NULL, 0, NULL, SY_CHAT_LIST_MAX + 1, &v, &n, msg, sizeof(msg)),
        SY_ERR_INVALID_REQUEST);
    /* messages: a root, two answers (a regeneration branch), a follow-up under the second */
    sy_app_msg_t m[] = {
        {.id = "m1",
         .conversation_id = "c2",
         .role = "user",
         .content = "Tell me about ZEBRAS",
         .status = "ok",
         .created_us = 1000},
        {.id = "m2",
         .conversation_id = "c2",
         .parent_id = "m1",
         .role = "assistant",
         .content = "first answer",
         .status = "ok",
         .model = "m",
         .params = "{\"temperature\":0.5}",
         .log_id = "0190a000-0000-7000-8000-000000000001",
         .created_us = 1001},
        {.id = "m3",
         .conversation_id = "c2",
         .parent_id = "m1",
         .role = "assistant",
         .content = "second answer",
         .status = "error",
         .error = "upstream failed",
         .log_id = "0190a000-0000-7000-8000-000000000002",
         .created_us = 1002},
        {.id = "m4",
         .conversation_id = "c2",
         .parent_id = "m3",
         .role = "user",
         .content = "50% off_x",
         .status = "ok",
         .created_us = 1003},
    };
    for (size_t i = 0; i < 4; i++)
        OK(sy_app_msg_insert(s, &m[i], 1, msg, sizeof(msg)));
    sy_app_msg_t bad = {.id = "m5",
                        .conversation_id = "c2",
                        .role = "robot",
                        .content = "x",
                        .status = "ok",
                        .created_us = 1};
    assert_int_not_equal(sy_app_msg_insert(s, &bad, 1, msg, sizeof(msg)), SY_OK); /* CHECK */
    sy_app_msg_t **mv = NULL;
    size_t nm = 0;
    OK(sy_app_msg_list(s, "c2", &mv, &nm, msg, sizeof(msg)));
    assert_int_equal(nm, 4);
    assert_string_equal(mv[0]->id, "m1");
    assert_null(mv[0]->parent_id);
    assert_string_equal(mv[1]->parent_id, "m1");
    assert_string_equal(mv[2]->parent_id, "m1");
    assert_string_equal(mv[2]->status, "error");
    assert_string_equal(mv[2]->error, "upstream failed");
    assert_string_equal(mv[1]->params, "{\"temperature\":0.5}");
    assert_string_equal(mv[1]->model, "m");
    assert_int_equal(mv[3]->created_us, 1003);
    sy_app_msg_list_free(mv, nm);
    sy_app_msg_t *gm = NULL;
    OK(sy_app_msg_get(s, "c2", "m2", &gm, msg, sizeof(msg)));
    assert_string_equal(gm->log_id, "0190a000-0000-7000-8000-000000000001");
    sy_app_msg_free(gm);
    gm = NULL;
    assert_int_equal(sy_app_msg_get(s, "c1", "m2", &gm, msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    int64_t count = 0;
    OK(sy_app_msg_count(s, "c2", &count, msg, sizeof(msg)));
    assert_int_equal(count, 4);
    OK(sy_app_msg_owns_log(s, "0190a000-0000-7000-8000-000000000001", "u1", msg, sizeof(msg)));
    assert_int_equal(
        sy_app_msg_owns_log(s, "0190a000-0000-7000-8000-000000000001", "u2", msg, sizeof(msg)),
        SY_ERR_NOT_FOUND);
    /* search: title (case-insensitive), message text, wildcards literal, owner only */
    struct {
        const char *q;
        const char *ids;
    } sq[] = {{"alpha", "c0"},  {"ZEBRA", "c2"},  {"zebras", "c2"}, {"100%", "c1"},
              {"%", "c2,c1"},   {"_", "c4,c2"},   {"r_s", "c4"},    {"nothing", ""},
              {"answer", "c2"}, {"a", "c2,c1,c0"}};
    for (size_t k = 0; k < sizeof sq / sizeof sq[0]; k++) {
        OK(sy_app_conv_list(s, "u1", sq[k].q, 0, NULL, 50, &v, &n, msg, sizeof(msg)));
        char got[64] = "";
        for (size_t i = 0; i < n; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? "," : "", v[i]->id);
        if (strcmp(got, sq[k].ids))
            fail_msg("search '%s': got '%s', want '%s'", sq[k].q, got, sq[k].ids);
        sy_app_conv_list_free(v, n);
    }
    /* a generated answer: placeholder streaming, final row written once; start-up marks the
     * ones a crash left streaming */
    sy_app_msg_t gen = {.id = "g1",
                        .conversation_id = "c3",
                        .role = "assistant",
                        .content = "",
                        .status = "streaming",
                        .model = "m",
                        .request_id = "r-1",
                        .created_us = 3000};
    OK(sy_app_msg_insert(s, &gen, 1, msg, sizeof(msg)));
    gen.id = "g2";
    OK(sy_app_msg_insert(s, &gen, 1, msg, sizeof(msg)));
    gen.id = "g3"; /* another replica's live answer: written recently */
    OK(sy_app_msg_insert(s, &gen, 1, msg, sizeof(msg)));
    sy_app_msg_t fin = gen;
    fin.id = "g1";
    fin.content = "qq";
    fin.status = "cancelled";
    fin.log_id = "0190a000-0000-7000-8000-000000000009";
    fin.metrics = "{\"ttft_ms\":1.5}";
    fin.schema_errors = "[{\"path\":\"\",\"message\":\"x\"}]";
    OK(sy_app_msg_finish(s, &fin, msg, sizeof(msg)));
    fin.status = "ok";
    assert_int_equal(sy_app_msg_finish(s, &fin, msg, sizeof(msg)), SY_ERR_NOT_FOUND); /* once */
    fin.conversation_id = "c2";
    fin.id = "g2";
    assert_int_equal(sy_app_msg_finish(s, &fin, msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    OK(sy_app_msg_checkpoint(s, "c3", "g2", "so far", 4000, msg, sizeof(msg)));
    OK(sy_app_msg_checkpoint(s, "c3", "g1", "late", 4000, msg, sizeof(msg))); /* final: no change */
    OK(sy_app_msg_checkpoint(s, "c3", "g3", "alive", 5000, msg, sizeof(msg)));
    OK(sy_app_msg_checkpoint(s, "c3", "g3", NULL, 9000, msg, sizeof(msg))); /* only the time */
    OK(sy_app_msg_get(s, "c3", "g3", &gm, msg, sizeof(msg)));
    assert_string_equal(gm->content, "alive");
    assert_int_equal(gm->updated_us, 9000);
    assert_int_equal(gm->created_us, 3000);
    sy_app_msg_free(gm);
    OK(sy_app_msg_get(s, "c3", "g2", &gm, msg, sizeof(msg)));
    assert_int_equal(gm->updated_us, 4000);
    sy_app_msg_free(gm);
    int64_t nint = -1;
    OK(sy_app_msg_interrupt_stale(s, 4000, &nint, msg, sizeof(msg))); /* strictly before */
    assert_int_equal(nint, 0);
    OK(sy_app_msg_interrupt_stale(s, 8000, &nint, msg, sizeof(msg))); /* g2, not g3 */
    assert_int_equal(nint, 1);
    OK(sy_app_msg_get(s, "c3", "g3", &gm, msg, sizeof(msg)));
    assert_string_equal(gm->status, "streaming");
    sy_app_msg_free(gm);
    OK(sy_app_msg_interrupt_stale(s, 9001, &nint, msg, sizeof(msg)));
    assert_int_equal(nint, 1);
    /* the 5,000-message cap is part of the insert: room 2 (a question and its answer) is refused
     * at 4,999, room 1 at 5,000 */
    for (int i = 0; i < SY_CHAT_MESSAGES_MAX - 1; i++) {
        char id[16];
        snprintf(id, sizeof id, "cap%d", i);
        sy_app_msg_t cm = {.id = id,
                           .conversation_id = "c5",
                           .role = "user",
                           .content = "x",
                           .status = "ok",
                           .created_us = 10000 + i};
        OK(sy_app_msg_insert(s, &cm, 1, msg, sizeof(msg)));
    }
    sy_app_msg_t last = {.id = "cap-last",
                         .conversation_id = "c5",
                         .role = "user",
                         .content = "x",
                         .status = "ok",
                         .created_us = 20000};
    assert_int_equal(sy_app_msg_insert(s, &last, 2, msg, sizeof(msg)), SY_ERR_INVALID_REQUEST);
    assert_non_null(strstr(msg, "limit of 5000 messages"));
    OK(sy_app_msg_insert(s, &last, 1, msg, sizeof(msg))); /* the 5,000th */
    last.id = "cap-over";
    assert_int_equal(sy_app_msg_insert(s, &last, 1, msg, sizeof(msg)), SY_ERR_INVALID_REQUEST);
    OK(sy_app_msg_count(s, "c5", &count, msg, sizeof(msg)));
    assert_int_equal(count, SY_CHAT_MESSAGES_MAX);
    OK(sy_app_msg_get(s, "c3", "g1", &gm, msg, sizeof(msg)));
    assert_string_equal(gm->status, "cancelled");
    assert_string_equal(gm->content, "qq");
    assert_string_equal(gm->log_id, "0190a000-0000-7000-8000-000000000009");
    assert_string_equal(gm->metrics, "{\"ttft_ms\":1.5}");
    assert_string_equal(gm->request_id, "r-1");
    assert_string_equal(gm->schema_errors, "[{\"path\":\"\",\"message\":\"x\"}]");
    assert_null(gm->error);
    sy_app_msg_free(gm);
    OK(sy_app_msg_get(s, "c3", "g2", &gm, msg, sizeof(msg)));
    assert_string_equal(gm->status, "error");
    assert_string_equal(gm->error, SY_CHAT_INTERRUPTED);
    assert_string_equal(gm->content, "so far"); /* the last checkpoint */
    assert_null(gm->metrics);
    sy_app_msg_free(gm);
    gm = NULL;
    /* update: rename + current leaf; another user's is NOT_FOUND and changes nothing */
    OK(sy_app_conv_get(s, "c2", "u1", &c, msg, sizeof(msg)));
    free(c->title);
    c->title = sy_xstrdup("Zebras");
    c->current_leaf = sy_xstrdup("m4");
    c->updated_us = 2000;
    c->archived_us = 1500;
    OK(sy_app_conv_update(s, c, msg, sizeof(msg)));
    free(c->user_id);
    c->user_id = sy_xstrdup("u2");
    assert_int_equal(sy_app_conv_update(s, c, msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    sy_app_conv_free(c);
    OK(sy_app_conv_get(s, "c2", "u1", &c, msg, sizeof(msg)));
    assert_string_equal(c->title, "Zebras");
    assert_string_equal(c->current_leaf, "m4");
    assert_int_equal(c->updated_us, 2000);
    assert_int_equal(c->archived_us, 1500);
    sy_app_conv_free(c);
    OK(sy_app_conv_list(s, "u1", NULL, 0, NULL, 1, &v, &n, msg, sizeof(msg)));
    assert_int_equal(n, 1);
    assert_string_equal(v[0]->id, "c2"); /* most recently updated */
    sy_app_conv_list_free(v, n);
    /* feedback: insert, replace (created kept), per user, delete */
    bool created = false;
    sy_app_feedback_t f = {.log_id = "0190a000-0000-7000-8000-000000000001",
                           .user_id = "u1",
                           .rating = 1,
                           .comment = "good",
                           .created_us = 3000,
                           .updated_us = 3000};
    OK(sy_app_feedback_put(s, &f, &created, msg, sizeof(msg)));
    assert_true(created);
    f.rating = -1;
    f.comment = NULL;
    f.created_us = f.updated_us = 3500;
    OK(sy_app_feedback_put(s, &f, &created, msg, sizeof(msg)));
    assert_false(created);
    f.user_id = "u2";
    f.rating = 1;
    OK(sy_app_feedback_put(s, &f, &created, msg, sizeof(msg)));
    assert_true(created);
    f.rating = 2;
    assert_int_not_equal(sy_app_feedback_put(s, &f, &created, msg, sizeof(msg)), SY_OK);
    sy_app_feedback_t *gf = NULL;
    OK(sy_app_feedback_get(s, "0190a000-0000-7000-8000-000000000001", "u1", &gf, msg, sizeof(msg)));
    assert_int_equal(gf->rating, -1);
    assert_null(gf->comment);
    assert_int_equal(gf->created_us, 3000);
    assert_int_equal(gf->updated_us, 3500);
    sy_app_feedback_free(gf);
    OK(sy_app_feedback_delete(s, "0190a000-0000-7000-8000-000000000001", "u1", msg, sizeof(msg)));
    assert_int_equal(
        sy_app_feedback_get(s, "0190a000-0000-7000-8000-000000000001", "u1", &gf, msg, sizeof(msg)),
        SY_ERR_NOT_FOUND);
    assert_int_equal(
        sy_app_feedback_delete(s, "0190a000-0000-7000-8000-000000000001", "u1", msg, sizeof(msg)),
        SY_ERR_NOT_FOUND);
    OK(sy_app_feedback_get(s, "0190a000-0000-7000-8000-000000000001", "u2", &gf, msg, sizeof(msg)));
    assert_int_equal(gf->rating, 1);
    sy_app_feedback_free(gf);
    /* delete: another user's is NOT_FOUND; the owner's takes its messages */
    assert_int_equal(sy_app_conv_delete(s, "c2", "u2", msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    OK(sy_app_conv_delete(s, "c2", "u1", msg, sizeof(msg)));
    assert_int_equal(sy_app_conv_get(s, "c2", "u1", &c, msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    OK(sy_app_msg_count(s, "c2", &count, msg, sizeof(msg)));
    assert_int_equal(count, 0);
    assert_int_equal(sy_app_conv_delete(s, "c2", "u1", msg, sizeof(msg)), SY_ERR_NOT_FOUND);
    OK(sy_app_conv_get(s, "c9", "u2", &c, msg, sizeof(msg)));
    sy_app_conv_free(c);
    t->vt->close(s);
}

typedef struct conformance_case {
    const char *name;
    void (*fn)(target_t *t);
} conformance_case_t;

static const conformance_case_t cases[] = {
    {"migrations_idempotent", c_migrations_idempotent},
    {"migrations_stepwise", c_migrations_stepwise},
    {"newer_schema_refused", c_newer_schema_refused},
    {"batch_roundtrip_1000", c_batch_roundtrip},
    {"get_log_missing", c_get_log_missing},
    {"filters", c_filters},
    {"pagination", c_pagination},
    {"stats", c_stats},
    {"cost_null", c_cost_null},
    {"stats_rollup", c_stats_rollup},
    {"stats_duplicates", c_stats_duplicates},
    {"stats_unmerged", c_stats_unmerged},
    {"stats_backfill", c_stats_backfill},
    {"concurrent_writer_readers", c_concurrent},
    {"appdata", c_appdata},
    {"credentials", c_credentials},
    {"chat", c_chat},
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

typedef struct run {
    target_t *t;
    const conformance_case_t *c;
} run_t;

static void run_case(void **state)
{
    run_t *r = *state;
    r->c->fn(r->t);
}

/* PostgreSQL only: the server drops every connection of the store (restart, admin, idle
 * timeout); the next write and the next reads reconnect by themselves — the log pipeline's
 * outage handling relies on a store that heals without being reopened. */
static void pg_reconnect(void **state)
{
    MSG;
    target_t *t = NULL;
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
        if (targets[i].vt == &sy_store_postgres) t = &targets[i];
    assert_non_null(t);
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = open_migrated(t->vt, &conf);
    dataset_t d = make_dataset(200, 0);
    OK(t->vt->write_batch(s, (const sy_log_record_t *const *)d.r, 100, msg, sizeof(msg)));
    assert_int_equal(count_rows(t->vt, s), 100); /* a reader connection now sits in the pool */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
             "'sy_case_%d' AND pid <> pg_backend_pid()",
             t->seq);
    assert_int_equal(sy_test_pg_exec(&t->pg, sql), 0);
    usleep(100 * 1000);
    OK(t->vt->write_batch(s, (const sy_log_record_t *const *)d.r + 100, 100, msg, sizeof(msg)));
    assert_int_equal(count_rows(t->vt, s), 200);
    sy_log_record_t *got = NULL;
    OK(t->vt->get_log(s, d.r[150]->id, &got, msg, sizeof(msg)));
    assert_record_same(d.r[150], got, true);
    sy_log_record_free(got);
    t->vt->close(s);
    free_dataset(&d);
}

/* PostgreSQL only: COPY's escapes (backslash, tab, newline, CR, "\N", array syntax in tags)
 * round-trip exactly; NUL and invalid UTF-8, which text cannot hold, arrive as U+FFFD instead
 * of failing the batch; a filter that is not UTF-8 matches nothing. */
/* SQLite migration 7: the key and user indexes are partial (rows without a key / user are not in
 * them), and query_logs' key and user filters still search them, not the table. */
static void sqlite_partial_indexes(void **state)
{
    (void)state;
    target_t *t = &targets[0];
    assert_ptr_equal(t->vt, &sy_store_sqlite);
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = open_migrated(t->vt, &conf);
    dataset_t d = make_dataset(100, 0); /* every 7th row has no user */
    write_all(t->vt, s, &d);
    free_dataset(&d);
    t->vt->close(s);

    char path[512];
    snprintf(path, sizeof(path), "%s/%s", t->dir, conf.url + strlen("sqlite:"));
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    static const struct {
        const char *where, *index, *partial;
    } want[] = {
        {"key_id = 'key-1'", "inference_log_key", "WHERE key_id IS NOT NULL"},
        {"user_id = 'user-1' AND t_received_us >= 0 AND (t_received_us, id) < (9e18, 'z')",
         "inference_log_user", "WHERE user_id IS NOT NULL"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "EXPLAIN QUERY PLAN SELECT id FROM inference_log WHERE 1 AND %s"
                 " ORDER BY t_received_us DESC, id DESC LIMIT 50",
                 want[i].where);
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        bool used = false;
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *detail = (const char *)sqlite3_column_text(st, 3);
            if (detail && strstr(detail, want[i].index)) used = true;
        }
        sqlite3_finalize(st);
        if (!used) fail_msg("%s does not use %s", want[i].where, want[i].index);
        snprintf(sql, sizeof(sql), "SELECT sql FROM sqlite_master WHERE name = '%s'",
                 want[i].index);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_non_null(strstr((const char *)sqlite3_column_text(st, 0), want[i].partial));
        sqlite3_finalize(st);
    }
    /* the rows without a user are found by the table, not lost: 100 rows, i % 7 == 0 → 15 */
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM inference_log WHERE user_id IS NULL",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 15);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void pg_text_escapes(void **state)
{
    MSG;
    target_t *t = NULL;
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
        if (targets[i].vt == &sy_store_postgres) t = &targets[i];
    assert_non_null(t);
    sy_store_conf_t conf;
    t->fresh(t, &conf);
    sy_store_t *s = open_migrated(t->vt, &conf);
    static const char req[] = "a\\b\tc\nd\re\\N {x,\"y\"} \\.";
    static const char resp[] = "x\0y\xffz";
    sy_str_t tags[] = {SY_STR_LIT("back\\slash,{x}"), SY_STR_LIT("bad\xff"), SY_STR_LIT("NULL"),
                       SY_STR_LIT(""), SY_STR_LIT("tab\there")};
    sy_log_record_t r;
    sy_log_record_init(&r);
    sy_uuid_v7(r.id);
    r.t_received_us = T0;
    r.request_body = sy_str(req, sizeof(req) - 1);
    r.response_body = sy_str(resp, sizeof(resp) - 1);
    r.error_message = SY_STR_LIT("line1\nline2\\N");
    r.metadata = SY_STR_LIT("{\"a\":\"\\\\n\"}");
    r.model = SY_STR_LIT("\\N");
    r.tags = tags;
    r.n_tags = 5;
    const sy_log_record_t *one = &r;
    OK(t->vt->write_batch(s, &one, 1, msg, sizeof(msg)));
    sy_log_record_t *got = NULL;
    OK(t->vt->get_log(s, r.id, &got, msg, sizeof(msg)));
    assert_str_same(got->request_body, r.request_body, "request_body");
    assert_str_same(got->response_body, SY_STR_LIT("x\xEF\xBF\xBDy\xEF\xBF\xBDz"), "response_body");
    assert_str_same(got->error_message, r.error_message, "error_message");
    assert_str_same(got->metadata, r.metadata, "metadata");
    assert_str_same(got->model, r.model, "model");
    assert_int_equal(got->n_tags, 5);
    assert_str_same(got->tags[0], tags[0], "tag 0");
    assert_str_same(got->tags[1], SY_STR_LIT("bad\xEF\xBF\xBD"), "tag 1");
    assert_str_same(got->tags[2], tags[2], "tag 2");
    assert_str_same(got->tags[3], tags[3], "tag 3");
    assert_str_same(got->tags[4], tags[4], "tag 4");
    sy_log_record_free(got);
    sy_log_filter_t f = {.text = "\\B\tC\nD"};
    sy_log_page_t page;
    OK(t->vt->query_logs(s, &f, NULL, 10, &page, msg, sizeof(msg)));
    assert_int_equal(page.n, 1);
    sy_store_log_page_free(&page);
    f = (sy_log_filter_t){.model = "\\N"};
    OK(t->vt->query_logs(s, &f, NULL, 10, &page, msg, sizeof(msg)));
    assert_int_equal(page.n, 1);
    sy_store_log_page_free(&page);
    f = (sy_log_filter_t){.text = "y\xff"};
    OK(t->vt->query_logs(s, &f, NULL, 10, &page, msg, sizeof(msg)));
    assert_int_equal(page.n, 0);
    sy_store_log_page_free(&page);
    t->vt->close(s);
    /* a database that cannot hold Unicode is refused at open, saying why */
    assert_int_equal(sy_test_pg_exec(&t->pg, "CREATE DATABASE sy_latin1 ENCODING 'LATIN1' "
                                             "TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"),
                     0);
    char url[160];
    snprintf(url, sizeof(url), "postgresql://switchyard@127.0.0.1:%d/sy_latin1", t->pg.port);
    conf = (sy_store_conf_t){.url = url};
    s = NULL;
    assert_int_equal(t->vt->open(&conf, &s, msg, sizeof(msg)), SY_ERR_STORE);
    assert_null(s);
    if (!strstr(msg, "LATIN1") || !strstr(msg, "UTF8")) fail_msg("unclear message: %s", msg);
}

/* Not backend-specific, but store-level: URL scheme dispatch and cursor text. */
static void registry_and_cursor(void **state)
{
    char msg[SY_STORE_MSGLEN];
    sy_store_t *s = NULL;
    sy_store_conf_t conf = {.url = "mysql://u:secret@h/db"};
    assert_int_equal(sy_store_open(&conf, &s, msg, sizeof(msg)), SY_ERR_CONFIG);
    assert_null(strstr(msg, "secret"));
    /* postgres:// and postgresql:// both reach the PostgreSQL backend; a refused connection
     * and a malformed URL are reported without the password */
    const char *pg_urls[] = {"postgres://u:s3cretpw@127.0.0.1:1/db?connect_timeout=2",
                             "postgresql://u:s3cretpw@127.0.0.1:1/db?connect_timeout=2",
                             "postgresql://u:s3cretpw@127.0.0.1:1/db?bogus%zz=s3cretpw"};
    for (size_t i = 0; i < sizeof(pg_urls) / sizeof(pg_urls[0]); i++) {
        conf.url = pg_urls[i];
        msg[0] = '\0';
        sy_err_t e = sy_store_open(&conf, &s, msg, sizeof(msg));
        assert_true(e == SY_ERR_STORE || e == SY_ERR_CONFIG);
        assert_non_null(strstr(msg, "postgres"));
        if (strstr(msg, "s3cretpw")) fail_msg("password in message: %s", msg);
    }
    char cur[SY_STORE_CURSOR_MAX], id[SY_UUID_STRLEN + 1];
    int64_t tt;
    sy_store_cursor_format(cur, 1700000000000001, "0190aaaa-0000-7000-8000-00000000000f");
    assert_true(sy_store_cursor_parse(cur, &tt, id));
    assert_int_equal(tt, 1700000000000001);
    assert_string_equal(id, "0190aaaa-0000-7000-8000-00000000000f");
    assert_false(sy_store_cursor_parse("1.abc", &tt, id));
    assert_false(sy_store_cursor_parse(".0190aaaa-0000-7000-8000-00000000000f", &tt, id));
    assert_false(sy_store_cursor_parse("99999999999999999999.0190aaaa-0000-7000-8000-00000000000f",
                                       &tt, id));
    assert_true(sy_store_backends[0] == &sy_store_sqlite);
}

int main(void)
{
    size_t nt = sizeof(targets) / sizeof(targets[0]);
    struct CMUnitTest *tests = calloc(nt * N_CASES + 4, sizeof(*tests));
    run_t *runs = calloc(nt * N_CASES, sizeof(*runs));
    char(*names)[96] = calloc(nt * N_CASES, sizeof(*names));
    size_t n = 0;
    for (size_t i = 0; i < nt; i++) {
        targets[i].latest = (int)*targets[i].n_migrations;
        for (size_t k = 0; k < N_CASES; k++, n++) {
            runs[n] = (run_t){&targets[i], &cases[k]};
            snprintf(names[n], sizeof(names[n]), "%s/%s", targets[i].name, cases[k].name);
            tests[n] = (struct CMUnitTest){names[n], run_case, NULL, NULL, &runs[n]};
        }
    }
    tests[n++] = (struct CMUnitTest){"registry_and_cursor", registry_and_cursor, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"postgres/reconnect", pg_reconnect, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"postgres/text_escapes", pg_text_escapes, NULL, NULL, NULL};
    tests[n++] =
        (struct CMUnitTest){"sqlite/partial_indexes", sqlite_partial_indexes, NULL, NULL, NULL};
    /* e.g. SY_STORE_TEST_FILTER="sqlite/stats*": one backend's cases while developing */
    if (getenv("SY_STORE_TEST_FILTER")) cmocka_set_test_filter(getenv("SY_STORE_TEST_FILTER"));
    int rc = _cmocka_run_group_tests("store_conformance", tests, n, NULL, NULL);
    for (size_t i = 0; i < nt; i++) {
        if (targets[i].cleanup) targets[i].cleanup(&targets[i]);
        if (targets[i].dir[0]) {
            char cmd[320];
            snprintf(cmd, sizeof(cmd), "rm -rf '%s'", targets[i].dir);
            if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", targets[i].dir);
        }
    }
    free(tests);
    free(runs);
    free(names);
    return rc;
}
