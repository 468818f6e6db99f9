/* PostgreSQL backend of the store interface (store.h), over libpq.
 *
 * DESIGN
 *   URL: "postgres://…" or "postgresql://…", handed to libpq as a connection URI (so sslmode,
 *   host lists, options… all work). The password never reaches an error message: messages are
 *   built from libpq's first line with the URL's password masked, and a URL libpq cannot parse
 *   is reported without its text.
 *   Connections: one writer connection behind wlock (migrate, write_batch) and a pool of reader
 *   connections (query_logs, get_log, query_stats) under plock, ≤ 8 idle kept — the shape of
 *   sqlite.c. PostgreSQL's MVCC gives readers the last committed snapshot, so a reader never
 *   sees half a batch and never waits for the writer. A connection found broken (server
 *   restart) is reset (writer) or dropped (reader) on its next use, so an outage heals itself.
 *   Statements are prepared once per connection (get_log, stats per group-by, logs per filter
 *   combination, one bit per filter as in sqlite.c).
 *   write_batch: one transaction with a COPY (text format) straight into inference_log. COPY
 *   cannot skip duplicates: when it fails on a duplicate id (spool replay), the batch is
 *   rolled back and written again through a session temp table: COPY into it, INSERT … SELECT
 *   … ON CONFLICT (id) DO NOTHING. Measured: the direct COPY is ~1.5× the temp-table path,
 *   and replays are rare (docs/internals/STORE.md). The writer runs with
 *   synchronous_commit=off — the equivalent of SQLite's synchronous=NORMAL: a commit does not
 *   wait for the WAL fsync, a server crash can lose the last ~0.6 s of commits but never
 *   corrupts, and the log pipeline's spool covers that window.
 *   Text: PostgreSQL text cannot hold NUL or invalid UTF-8 (the connection is UTF8), so such
 *   bytes are stored as U+FFFD. Everything the gateway produces is valid UTF-8 already.
 *   Stats: percentile_disc(ARRAY[.5,.95,.99]) WITHIN GROUP (ORDER BY …) per (bucket, group) —
 *   exact nearest rank (rank ceil(p·n), the same double arithmetic as the suite), one sort
 *   per cell, computed by the server.
 */
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/utf8.h"
#include "store/columns.h"
#include "store/migrations.h"
#include "store/store.h"

#define MAX_IDLE_READERS 8
#define COPY_CHUNK (256u * 1024)
#define MIGRATE_LOCK_ID 7405013352017L /* pg_advisory_xact_lock key: "switchyard migrate" */

/* C_* column indexes: store/columns.h. */

#define COLS_HEAD                                                                                  \
    "id, request_id, attempt, parent_id, t_received_us, t_upstream_start_us, t_first_token_us, "   \
    "t_end_us, latency_us, ttft_us, overhead_us, model, provider, upstream_model, deployment, "    \
    "status, http_status, error_type, error_message, input_tokens, output_tokens, "                \
    "cached_read_tokens, cache_write_tokens, reasoning_tokens, usage_source, cost_nanousd, "       \
    "key_id, user_id, team_id, conversation_id, message_id, experiment, variant, "
#define COLS_TAIL "metadata, request_truncated, response_truncated, request_size, response_size"
/* written: tags as text[]; read: tags as a JSON array (one parser: jansson) */
#define COLS_WRITE COLS_HEAD "tags, " COLS_TAIL ", request_body, response_body"
#define COLS_NOBODIES COLS_HEAD "array_to_json(tags), " COLS_TAIL
#define COLS_ALL COLS_NOBODIES ", request_body, response_body"

/* query_logs filter bits: one prepared statement per combination */
enum {
    F_FROM = 1 << 0,
    F_TO = 1 << 1,
    F_MODEL = 1 << 2,
    F_PROVIDER = 1 << 3,
    F_KEY = 1 << 4,
    F_USER = 1 << 5,
    F_STATUS = 1 << 6,
    F_TEXT = 1 << 7,
    F_CURSOR = 1 << 8,
    F_ASC = 1 << 9,
    F__SLOTS = 1 << 10
};

typedef struct conn {
    PGconn *pg;
    bool batch_table; /* writer: the session's temp table exists */
    bool get_ready;
    bool stats_ready[4];
    uint8_t logs_ready[F__SLOTS / 8];
    sy_buf_t copy; /* writer: COPY data */
    sy_buf_t tmp;  /* writer: one tags array literal */
    struct conn *next;
} conn_t;

typedef struct pg_store {
    sy_store_t base;
    char *url;
    char *password; /* masked out of every message; NULL if the URL has none */
    char *dbname;   /* for messages */
    int known;      /* newest migration this binary applies */
    pthread_mutex_t wlock;
    conn_t *writer;
    pthread_mutex_t plock;
    conn_t *idle;
    int n_idle;
} pg_store_t;

/* ---- errors ------------------------------------------------------------------------------ */

/* "postgres: <what>: <first line of text>", with the password masked. */
static sy_err_t fail_text(pg_store_t *s, sy_err_t err, char *msg, size_t msglen, const char *what,
                          const char *text)
{
    if (!msg || !msglen) return err;
    char line[SY_STORE_MSGLEN];
    size_t n = strcspn(text ? text : "", "\r\n");
    if (n >= sizeof(line)) n = sizeof(line) - 1;
    memcpy(line, text ? text : "", n);
    line[n] = '\0';
    if (s && s->password && *s->password) {
        size_t pl = strlen(s->password);
        for (char *p = strstr(line, s->password); p; p = strstr(p, s->password)) {
            memset(p, '*', pl);
            p += pl;
        }
    }
    return sy_store_fail(err, msg, msglen, "postgres: %s: %s", what, line);
}

static sy_err_t conn_fail(pg_store_t *s, conn_t *c, char *msg, size_t msglen, const char *what)
{
    return fail_text(s, SY_ERR_STORE, msg, msglen, what,
                     c && c->pg ? PQerrorMessage(c->pg) : "out of memory");
}

static sy_err_t res_fail(pg_store_t *s, conn_t *c, PGresult *r, char *msg, size_t msglen,
                         const char *what)
{
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (primary) return fail_text(s, SY_ERR_STORE, msg, msglen, what, primary);
    return conn_fail(s, c, msg, msglen, what);
}

/* ---- connections ------------------------------------------------------------------------- */

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void on_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "relation already exists, skipping" and the like: not for stderr */
}

static void conn_close(conn_t *c)
{
    if (!c) return;
    PQfinish(c->pg);
    sy_buf_dispose(&c->copy);
    sy_buf_dispose(&c->tmp);
    free(c);
}

/* Forgets per-session state (after a reset the server knows none of it). */
static void conn_forget(conn_t *c)
{
    c->batch_table = false;
    c->get_ready = false;
    memset(c->stats_ready, 0, sizeof(c->stats_ready));
    memset(c->logs_ready, 0, sizeof(c->logs_ready));
}

/* Runs sql (no parameters, no rows wanted); SY_OK on COMMAND_OK/TUPLES_OK. */
static sy_err_t exec(pg_store_t *s, conn_t *c, const char *sql, char *msg, size_t msglen,
                     const char *what)
{
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType st = PQresultStatus(r);
    sy_err_t err = SY_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) err = res_fail(s, c, r, msg, msglen, what);
    PQclear(r);
    return err;
}

static sy_err_t conn_setup(pg_store_t *s, conn_t *c, bool writer, char *msg, size_t msglen)
{
    PQsetNoticeProcessor(c->pg, on_notice, NULL);
    if (PQserverVersion(c->pg) < 90500)
        return sy_store_fail(SY_ERR_STORE, msg, msglen,
                             "postgres: server version %d is too old (need 9.5 or newer)",
                             PQserverVersion(c->pg));
    /* Unicode text (model names, bodies) must fit: anything but UTF8 would fail some batches
     * at random; SQL_ASCII stores the bytes as they come, which is fine. */
    const char *enc = PQparameterStatus(c->pg, "server_encoding");
    if (enc && strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0)
        return sy_store_fail(SY_ERR_STORE, msg, msglen,
                             "postgres: database %.64s has encoding %.32s; the inference log "
                             "needs UTF8 (CREATE DATABASE … ENCODING 'UTF8')",
                             s->dbname, enc);
    if (writer) return exec(s, c, "SET synchronous_commit = off", msg, msglen, "session setup");
    return SY_OK;
}

static sy_err_t conn_open(pg_store_t *s, bool writer, conn_t **out, char *msg, size_t msglen)
{
    /* later keywords override earlier ones: defaults first, then the URL, then what we need */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", "client_encoding",
                                NULL};
    const char *const vals[] = {"10", "switchyard", s->url, "UTF8", NULL};
    conn_t *c = sy_xcalloc(1, sizeof(*c));
    c->pg = PQconnectdbParams(keys, vals, 1);
    sy_err_t err;
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        err = conn_fail(s, c, msg, msglen, "cannot connect");
        conn_close(c);
        return err;
    }
    sy_buf_init(&c->copy, (size_t)1 << 30); /* PostgreSQL's own limit on one field */
    sy_buf_init(&c->tmp, (size_t)1 << 30);
    err = conn_setup(s, c, writer, msg, msglen);
    if (err) {
        conn_close(c);
        return err;
    }
    *out = c;
    return SY_OK;
}

/* The writer, reconnected if the server went away since its last use. */
static sy_err_t writer_ready(pg_store_t *s, char *msg, size_t msglen)
{
    if (!s->writer) return conn_open(s, true, &s->writer, msg, msglen);
    conn_t *c = s->writer;
    if (PQstatus(c->pg) == CONNECTION_OK) return SY_OK;
    PQreset(c->pg);
    conn_forget(c);
    if (PQstatus(c->pg) != CONNECTION_OK) return conn_fail(s, c, msg, msglen, "reconnect");
    return conn_setup(s, c, true, msg, msglen);
}

static sy_err_t reader_take(pg_store_t *s, conn_t **out, char *msg, size_t msglen)
{
    for (;;) {
        pthread_mutex_lock(&s->plock);
        conn_t *c = s->idle;
        if (c) {
            s->idle = c->next;
            s->n_idle--;
        }
        pthread_mutex_unlock(&s->plock);
        if (!c) return conn_open(s, false, out, msg, msglen);
        if (PQstatus(c->pg) == CONNECTION_OK) {
            *out = c;
            return SY_OK;
        }
        conn_close(c);
    }
}

static void reader_give(pg_store_t *s, conn_t *c)
{
    if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
        pthread_mutex_lock(&s->plock);
        if (s->n_idle < MAX_IDLE_READERS) {
            c->next = s->idle;
            s->idle = c;
            s->n_idle++;
            c = NULL;
        }
        pthread_mutex_unlock(&s->plock);
    }
    conn_close(c);
}

/* After a failed call on reader c: true (and the idle pool emptied) when the failure was the
 * connection itself — the server restarted or dropped it; the caller retries once on a new
 * connection. The other idle connections most likely died with it. */
static bool reader_lost(pg_store_t *s, conn_t *c, sy_err_t err)
{
    if (err != SY_ERR_STORE || PQstatus(c->pg) == CONNECTION_OK) return false;
    pthread_mutex_lock(&s->plock);
    conn_t *idle = s->idle;
    s->idle = NULL;
    s->n_idle = 0;
    pthread_mutex_unlock(&s->plock);
    while (idle) {
        conn_t *next = idle->next;
        conn_close(idle);
        idle = next;
    }
    return true;
}

static sy_err_t pg_open(const sy_store_conf_t *conf, sy_store_t **out, char *msg, size_t msglen)
{
    const char *url = conf->url ? conf->url : "";
    if (strncmp(url, "postgres://", 11) != 0 && strncmp(url, "postgresql://", 13) != 0)
        return sy_store_fail(SY_ERR_CONFIG, msg, msglen,
                             "postgres: URL must start with postgres:// or postgresql://");
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (!opts) {
        /* libpq's reason may quote the URL, password included: do not pass it on */
        PQfreemem(perr);
        return sy_store_fail(SY_ERR_CONFIG, msg, msglen, "postgres: malformed connection URL");
    }
    pg_store_t *s = sy_xcalloc(1, sizeof(*s));
    s->base.vt = &sy_store_postgres;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val) continue;
        if (strcmp(o->keyword, "password") == 0) s->password = sy_xstrdup(o->val);
        if (strcmp(o->keyword, "dbname") == 0) s->dbname = sy_xstrdup(o->val);
    }
    PQconninfoFree(opts);
    if (!s->dbname) s->dbname = sy_xstrdup("(default)");
    s->url = sy_xstrdup(url);
    s->known = (int)sy_store_migrations_postgres_count;
    if (conf->schema_limit > 0 && conf->schema_limit < s->known) s->known = conf->schema_limit;
    pthread_mutex_init(&s->wlock, NULL);
    pthread_mutex_init(&s->plock, NULL);
    sy_err_t err = conn_open(s, true, &s->writer, msg, msglen);
    if (err) {
        s->base.vt->close(&s->base);
        return err;
    }
    *out = &s->base;
    return SY_OK;
}

static void pg_close(sy_store_t *base)
{
    if (!base) return;
    pg_store_t *s = (pg_store_t *)base;
    while (s->idle) {
        conn_t *c = s->idle;
        s->idle = c->next;
        conn_close(c);
    }
    conn_close(s->writer);
    pthread_mutex_destroy(&s->wlock);
    pthread_mutex_destroy(&s->plock);
    if (s->password) memset(s->password, 0, strlen(s->password));
    if (s->url) memset(s->url, 0, strlen(s->url));
    free(s->password);
    free(s->url);
    free(s->dbname);
    free(s);
}

/* ---- migrate ----------------------------------------------------------------------------- */

static sy_err_t pg_migrate(sy_store_t *base, int *version, char *msg, size_t msglen)
{
    pg_store_t *s = (pg_store_t *)base;
    PGresult *r = NULL;
    sy_err_t err;
    int cur = 0;

    pthread_mutex_lock(&s->wlock);
    err = writer_ready(s, msg, msglen);
    if (err) goto unlock;
    conn_t *c = s->writer;
    err = exec(s, c, "BEGIN", msg, msglen, "begin");
    if (err) goto unlock;
    /* two gateways starting at once: the second waits, then finds nothing to do */
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%ld)", MIGRATE_LOCK_ID);
    err = exec(s, c, sql, msg, msglen, "migration lock");
    if (err) goto rollback;
    err = exec(s, c,
               "CREATE TABLE IF NOT EXISTS schema_migrations ("
               " version integer PRIMARY KEY, applied_at bigint NOT NULL)",
               msg, msglen, "schema_migrations");
    if (err) goto rollback;
    r = PQexec(c->pg, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        err = res_fail(s, c, r, msg, msglen, "read schema version");
        goto rollback;
    }
    cur = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    if (cur > s->known) {
        err = sy_store_fail(SY_ERR_STORE_SCHEMA, msg, msglen,
                            "postgres: database %.64s has schema version %d, newer than this "
                            "binary knows (%d): run a newer switchyard or use another database",
                            s->dbname, cur, s->known);
        goto rollback;
    }
    for (int i = 0; i < s->known; i++) {
        const sy_store_migration_t *m = &sy_store_migrations_postgres[i];
        if (m->version <= cur) continue;
        char what[128];
        snprintf(what, sizeof(what), "migration %d (%s)", m->version, m->name);
        err = exec(s, c, m->sql, msg, msglen, what);
        if (err) goto rollback;
        snprintf(sql, sizeof(sql),
                 "INSERT INTO schema_migrations(version, applied_at) VALUES (%d, %" PRId64 ")",
                 m->version, wall_us());
        err = exec(s, c, sql, msg, msglen, "record migration");
        if (err) goto rollback;
        cur = m->version;
    }
    /* the batch temp table copies inference_log's columns: rebuild it after a change */
    err = exec(s, c, "DROP TABLE IF EXISTS pg_temp.sy_batch", msg, msglen, "drop batch table");
    if (err) goto rollback;
    c->batch_table = false;
    err = exec(s, c, "COMMIT", msg, msglen, "commit");
    if (err) goto rollback;
    if (version) *version = cur;
    goto unlock;
rollback:
    PQclear(r);
    PQclear(PQexec(s->writer->pg, "ROLLBACK"));
unlock:
    pthread_mutex_unlock(&s->wlock);
    return err;
}

/* ---- write ------------------------------------------------------------------------------- */

/* Appends bytes as one COPY text-format field: backslash, newline, CR and tab escaped; NUL and
 * invalid UTF-8 become U+FFFD (text cannot hold them). */
static sy_err_t put_text(sy_buf_t *b, const char *src, size_t n)
{
    sy_err_t err;
    char *d = sy_buf_reserve(b, n * 3 + 1, &err); /* worst case: every byte → U+FFFD */
    if (!d) return err;
    char *start = d;
    const unsigned char *p = (const unsigned char *)src;
    for (size_t i = 0; i < n;) {
        unsigned char ch = p[i];
        if (ch >= 0x20 && ch < 0x80 && ch != '\\') {
            *d++ = (char)ch;
            i++;
            continue;
        }
        switch (ch) {
        case '\\':
            *d++ = '\\', *d++ = '\\', i++;
            continue;
        case '\n':
            *d++ = '\\', *d++ = 'n', i++;
            continue;
        case '\r':
            *d++ = '\\', *d++ = 'r', i++;
            continue;
        case '\t':
            *d++ = '\\', *d++ = 't', i++;
            continue;
        case 0:
            memcpy(d, "\xEF\xBF\xBD", 3), d += 3, i++;
            continue;
        default:
            break;
        }
        size_t l = sy_utf8_seq(p + i, n - i);
        if (l) {
            memcpy(d, p + i, l);
            d += l;
            i += l;
        } else {
            memcpy(d, "\xEF\xBF\xBD", 3);
            d += 3;
            i++;
        }
    }
    b->len += (size_t)(d - start);
    return SY_OK;
}

static sy_err_t put_str(sy_buf_t *b, sy_str_t v)
{
    return v.ptr ? put_text(b, v.ptr, v.len) : sy_buf_append(b, "\\N", 2);
}

static sy_err_t put_i64(sy_buf_t *b, int64_t v)
{
    if (v == SY_LOG_UNKNOWN) return sy_buf_append(b, "\\N", 2);
    char tmp[24];
    int k = sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) tmp[--k] = '-';
    return sy_buf_append(b, tmp + k, sizeof(tmp) - (size_t)k);
}

/* tags as a text[] literal: {"a","b \"c\""} (elements quoted, \ and " escaped) */
static sy_err_t put_tags(conn_t *c, const sy_log_record_t *r)
{
    if (!r->n_tags) return sy_buf_append(&c->copy, "\\N", 2);
    sy_buf_t *t = &c->tmp;
    sy_buf_reset(t);
    sy_err_t err = sy_buf_append(t, "{", 1);
    for (uint32_t i = 0; i < r->n_tags && !err; i++) {
        if (i) err = sy_buf_append(t, ",", 1);
        if (!err) err = sy_buf_append(t, "\"", 1);
        const char *p = r->tags[i].ptr;
        for (size_t k = 0, run = 0; !err && k <= r->tags[i].len; k++) {
            if (k < r->tags[i].len && p[k] != '"' && p[k] != '\\') continue;
            err = sy_buf_append(t, p + run, k - run);
            if (!err && k < r->tags[i].len)
                err = sy_buf_append(t, p[k] == '"' ? "\\\"" : "\\\\", 2);
            run = k + 1;
        }
        if (!err) err = sy_buf_append(t, "\"", 1);
    }
    if (!err) err = sy_buf_append(t, "}", 1);
    if (!err) err = put_text(&c->copy, t->base, t->len);
    return err;
}

static sy_err_t put_row(conn_t *c, const sy_log_record_t *r)
{
    sy_buf_t *b = &c->copy;
    sy_err_t err = SY_OK;
#define TAB()                                                                                      \
    if (!err) err = sy_buf_append(b, "\t", 1)
#define STR(v)                                                                                     \
    if (!err) err = put_str(b, (v));                                                               \
    TAB()
#define I64(v)                                                                                     \
    if (!err) err = put_i64(b, (v));                                                               \
    TAB()
    STR(sy_str_c(r->id));
    STR(r->request_id);
    I64(r->attempt);
    STR(r->parent_id[0] ? sy_str_c(r->parent_id) : SY_STR_NULL);
    /* the row's time is required for ordering: an unknown receive time sorts at 0 */
    I64(r->t_received_us < 0 ? 0 : r->t_received_us);
    I64(r->t_upstream_start_us);
    I64(r->t_first_token_us);
    I64(r->t_end_us);
    I64(r->latency_us);
    I64(r->ttft_us);
    I64(r->overhead_us);
    STR(r->model);
    STR(r->provider);
    STR(r->upstream_model);
    STR(r->deployment);
    STR(sy_str_c(sy_log_status_name(r->status)));
    I64(r->http_status > 0 ? r->http_status : SY_LOG_UNKNOWN);
    STR(r->error_type);
    STR(r->error_message);
    I64(r->input_tokens);
    I64(r->output_tokens);
    I64(r->cached_read_tokens);
    I64(r->cache_write_tokens);
    I64(r->reasoning_tokens);
    STR(sy_str_c(sy_log_usage_source_name(r->usage_source)));
    I64(r->cost_nanousd);
    STR(r->key_id);
    STR(r->user_id);
    STR(r->team_id);
    STR(r->conversation_id);
    STR(r->message_id);
    STR(r->experiment);
    STR(r->variant);
    if (!err) err = put_tags(c, r);
    TAB();
    STR(r->metadata);
    STR(sy_str_c(r->request_truncated ? "t" : "f"));
    STR(sy_str_c(r->response_truncated ? "t" : "f"));
    I64(r->request_size);
    I64(r->response_size);
    STR(r->request_body);
    if (!err) err = put_str(b, r->response_body);
    if (!err) err = sy_buf_append(b, "\n", 1);
#undef TAB
#undef STR
#undef I64
    return err;
}

/* Sends what is buffered as COPY data. */
static sy_err_t copy_flush(pg_store_t *s, conn_t *c, char *msg, size_t msglen)
{
    if (!c->copy.len) return SY_OK;
    if (PQputCopyData(c->pg, c->copy.base, (int)c->copy.len) != 1)
        return conn_fail(s, c, msg, msglen, "copy");
    sy_buf_reset(&c->copy);
    return SY_OK;
}

/* COPY … FROM STDIN of n records into `table`. *dup is set when the COPY failed on a unique
 * violation (a row id already stored). */
static sy_err_t copy_rows(pg_store_t *s, conn_t *c, const char *table,
                          const sy_log_record_t *const *recs, size_t n, bool *dup, char *msg,
                          size_t msglen)
{
    char sql[sizeof(COLS_WRITE) + 64];
    snprintf(sql, sizeof(sql), "COPY %s (" COLS_WRITE ") FROM STDIN", table);
    PGresult *r = PQexec(c->pg, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        sy_err_t err = res_fail(s, c, r, msg, msglen, "copy");
        PQclear(r);
        return err;
    }
    PQclear(r);
    sy_err_t err = SY_OK;
    sy_buf_reset(&c->copy);
    for (size_t i = 0; i < n && !err; i++) {
        err = put_row(c, recs[i]);
        if (err)
            sy_store_fail(err, msg, msglen, "postgres: row %s does not fit a COPY buffer",
                          recs[i]->id);
        else if (c->copy.len >= COPY_CHUNK)
            err = copy_flush(s, c, msg, msglen);
    }
    if (!err) err = copy_flush(s, c, msg, msglen);
    /* ending with an error message aborts the COPY (and so the transaction) */
    if (PQputCopyEnd(c->pg, err ? "switchyard: batch aborted" : NULL) != 1 && !err)
        err = conn_fail(s, c, msg, msglen, "copy end");
    while ((r = PQgetResult(c->pg))) {
        if (!err && PQresultStatus(r) != PGRES_COMMAND_OK) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            *dup = state && strcmp(state, "23505") == 0;
            err = res_fail(s, c, r, msg, msglen, "copy");
        }
        PQclear(r);
    }
    return err;
}

/* Fast path: COPY straight into inference_log (one pass, no second copy of the rows). A
 * duplicate id makes that COPY fail with unique_violation — only on spool replay — and the
 * batch is then written again the idempotent way: COPY into the session's temp table, then
 * INSERT … SELECT … ON CONFLICT (id) DO NOTHING (which also skips duplicates inside the batch). */
static sy_err_t write_once(pg_store_t *s, const sy_log_record_t *const *recs, size_t n, char *msg,
                           size_t msglen)
{
    bool dup = false;
    sy_err_t err = writer_ready(s, msg, msglen);
    if (err) goto unlock;
    conn_t *c = s->writer;
    err = exec(s, c, "BEGIN", msg, msglen, "begin");
    if (!err) err = copy_rows(s, c, "inference_log", recs, n, &dup, msg, msglen);
    if (!err) err = exec(s, c, "COMMIT", msg, msglen, "commit");
    if (!err || !dup) goto done;

    PQclear(PQexec(c->pg, "ROLLBACK"));
    if (!c->batch_table) {
        /* LIKE copies the columns and NOT NULLs, not the indexes: COPY into it is cheap */
        err = exec(s, c,
                   "CREATE TEMP TABLE IF NOT EXISTS sy_batch (LIKE inference_log) "
                   "ON COMMIT DELETE ROWS",
                   msg, msglen, "batch table");
        if (err) goto unlock;
        c->batch_table = true;
    }
    err = exec(s, c, "BEGIN", msg, msglen, "begin");
    if (!err) err = copy_rows(s, c, "pg_temp.sy_batch", recs, n, &dup, msg, msglen);
    if (!err)
        err = exec(s, c,
                   "INSERT INTO inference_log (" COLS_WRITE ") SELECT " COLS_WRITE
                   " FROM pg_temp.sy_batch ON CONFLICT (id) DO NOTHING",
                   msg, msglen, "insert");
    if (!err) err = exec(s, c, "COMMIT", msg, msglen, "commit");
done:
    if (err && PQstatus(c->pg) == CONNECTION_OK) PQclear(PQexec(c->pg, "ROLLBACK"));
unlock:
    return err;
}

static sy_err_t pg_write_batch(sy_store_t *base, const sy_log_record_t *const *recs, size_t n,
                               char *msg, size_t msglen)
{
    pg_store_t *s = (pg_store_t *)base;
    if (n == 0) return SY_OK;
    pthread_mutex_lock(&s->wlock);
    sy_err_t err = write_once(s, recs, n, msg, msglen);
    /* The connection died under us (server restart, idle timeout): reconnect and write again.
     * Safe even if the lost COMMIT did happen — the batch is idempotent by id. */
    if (err == SY_ERR_STORE && s->writer && PQstatus(s->writer->pg) != CONNECTION_OK)
        err = write_once(s, recs, n, msg, msglen);
    pthread_mutex_unlock(&s->wlock);
    return err;
}

/* ---- read -------------------------------------------------------------------------------- */

static sy_str_t col_str(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) return SY_STR_NULL;
    return sy_str(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

static int64_t col_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) return SY_LOG_UNKNOWN;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void col_uuid(const PGresult *r, int row, int col, char out[SY_UUID_STRLEN + 1])
{
    sy_str_t v = col_str(r, row, col);
    out[0] = '\0';
    if (v.ptr && v.len == SY_UUID_STRLEN) {
        memcpy(out, v.ptr, SY_UUID_STRLEN);
        out[SY_UUID_STRLEN] = '\0';
    }
}

/* Row `row` of res as an owned record. */
static sy_err_t row_to_record(const PGresult *res, int row, bool bodies, sy_log_record_t **out,
                              char *msg, size_t msglen)
{
    sy_log_record_t r;
    sy_log_record_init(&r);
    col_uuid(res, row, C_ID, r.id);
    r.request_id = col_str(res, row, C_REQUEST_ID);
    r.attempt = (int)col_i64(res, row, C_ATTEMPT);
    col_uuid(res, row, C_PARENT_ID, r.parent_id);
    r.t_received_us = col_i64(res, row, C_T_RECEIVED);
    r.t_upstream_start_us = col_i64(res, row, C_T_UPSTREAM_START);
    r.t_first_token_us = col_i64(res, row, C_T_FIRST_TOKEN);
    r.t_end_us = col_i64(res, row, C_T_END);
    r.latency_us = col_i64(res, row, C_LATENCY);
    r.ttft_us = col_i64(res, row, C_TTFT);
    r.overhead_us = col_i64(res, row, C_OVERHEAD);
    r.model = col_str(res, row, C_MODEL);
    r.provider = col_str(res, row, C_PROVIDER);
    r.upstream_model = col_str(res, row, C_UPSTREAM_MODEL);
    r.deployment = col_str(res, row, C_DEPLOYMENT);
    if (!sy_log_status_parse(col_str(res, row, C_STATUS), &r.status))
        r.status = SY_LOG_STATUS_ERROR;
    int64_t hs = col_i64(res, row, C_HTTP_STATUS);
    r.http_status = hs < 0 ? 0 : (int)hs; /* NULL → 0, as on SQLite */
    r.error_type = col_str(res, row, C_ERROR_TYPE);
    r.error_message = col_str(res, row, C_ERROR_MESSAGE);
    r.input_tokens = col_i64(res, row, C_INPUT_TOKENS);
    r.output_tokens = col_i64(res, row, C_OUTPUT_TOKENS);
    r.cached_read_tokens = col_i64(res, row, C_CACHED_READ);
    r.cache_write_tokens = col_i64(res, row, C_CACHE_WRITE);
    r.reasoning_tokens = col_i64(res, row, C_REASONING);
    if (!sy_log_usage_source_parse(col_str(res, row, C_USAGE_SOURCE), &r.usage_source))
        r.usage_source = SY_LOG_USAGE_NONE;
    r.cost_nanousd = col_i64(res, row, C_COST);
    r.key_id = col_str(res, row, C_KEY_ID);
    r.user_id = col_str(res, row, C_USER_ID);
    r.team_id = col_str(res, row, C_TEAM_ID);
    r.conversation_id = col_str(res, row, C_CONVERSATION_ID);
    r.message_id = col_str(res, row, C_MESSAGE_ID);
    r.experiment = col_str(res, row, C_EXPERIMENT);
    r.variant = col_str(res, row, C_VARIANT);
    r.metadata = col_str(res, row, C_METADATA);
    r.request_truncated =
        col_str(res, row, C_REQ_TRUNC).ptr && PQgetvalue(res, row, C_REQ_TRUNC)[0] == 't';
    r.response_truncated =
        col_str(res, row, C_RESP_TRUNC).ptr && PQgetvalue(res, row, C_RESP_TRUNC)[0] == 't';
    r.request_size = col_i64(res, row, C_REQ_SIZE);
    r.response_size = col_i64(res, row, C_RESP_SIZE);
    if (bodies) {
        r.request_body = col_str(res, row, C_REQ_BODY);
        r.response_body = col_str(res, row, C_RESP_BODY);
    }

    json_t *tags = NULL;
    sy_str_t *tv = NULL;
    sy_str_t tj = col_str(res, row, C_TAGS);
    if (tj.ptr) {
        tags = json_loadb(tj.ptr, tj.len, 0, NULL);
        if (!json_is_array(tags)) {
            json_decref(tags);
            return sy_store_fail(SY_ERR_CORRUPT, msg, msglen, "postgres: row %s: tags not an array",
                                 r.id);
        }
        size_t n = json_array_size(tags);
        tv = sy_xmalloc((n ? n : 1) * sizeof(*tv));
        for (size_t i = 0; i < n; i++) {
            json_t *t = json_array_get(tags, i);
            tv[i] = json_is_string(t) ? sy_str(json_string_value(t), json_string_length(t))
                                      : SY_STR_LIT("");
        }
        r.tags = tv;
        r.n_tags = (uint32_t)n;
    }
    *out = bodies ? sy_log_record_clone(&r) : sy_log_record_clone_nobodies(&r);
    free(tv);
    json_decref(tags);
    return SY_OK;
}

/* Prepares sql as `name` on c unless *ready. */
static sy_err_t prepare(pg_store_t *s, conn_t *c, bool *ready, const char *name, const char *sql,
                        char *msg, size_t msglen)
{
    if (*ready) return SY_OK;
    PGresult *r = PQprepare(c->pg, name, sql, 0, NULL);
    sy_err_t err = SY_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        err = res_fail(s, c, r, msg, msglen, "prepare");
    else
        *ready = true;
    PQclear(r);
    return err;
}

static sy_err_t pg_get_log(sy_store_t *base, const char *id, sy_log_record_t **out, char *msg,
                           size_t msglen)
{
    pg_store_t *s = (pg_store_t *)base;
    /* the column is a uuid: anything else cannot be there (and would be a type error) */
    if (!id || !sy_log_uuid_valid(id, strlen(id)))
        return sy_store_fail(SY_ERR_NOT_FOUND, msg, msglen, "no log row with id %.40s",
                             id ? id : "");
    conn_t *c;
    bool retried = false;
again:;
    sy_err_t err = reader_take(s, &c, msg, msglen);
    if (err) return err;
    err = prepare(s, c, &c->get_ready, "get",
                  "SELECT " COLS_ALL " FROM inference_log WHERE id = $1::uuid", msg, msglen);
    if (err) goto out;
    const char *params[1] = {id};
    PGresult *r = PQexecPrepared(c->pg, "get", 1, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        err = res_fail(s, c, r, msg, msglen, "get_log");
    else if (PQntuples(r) == 0)
        err = sy_store_fail(SY_ERR_NOT_FOUND, msg, msglen, "no log row with id %.40s", id);
    else
        err = row_to_record(r, 0, true, out, msg, msglen);
    PQclear(r);
out:
    if (!retried && reader_lost(s, c, err)) {
        reader_give(s, c);
        retried = true;
        goto again;
    }
    reader_give(s, c);
    return err;
}

/* The query for a filter mask, with $1… in the order logs_params fills them. */
static void logs_sql(unsigned mask, char *sql, size_t n)
{
    int p = 0;
    size_t k = (size_t)snprintf(sql, n, "SELECT " COLS_NOBODIES " FROM inference_log WHERE true");
#define ADD(bit, fmt)                                                                              \
    if (mask & (bit)) k += (size_t)snprintf(sql + k, n - k, fmt, ++p)
    ADD(F_FROM, " AND t_received_us >= $%d::bigint");
    ADD(F_TO, " AND t_received_us < $%d::bigint");
    ADD(F_MODEL, " AND model = $%d");
    ADD(F_PROVIDER, " AND provider = $%d");
    ADD(F_KEY, " AND key_id = $%d");
    ADD(F_USER, " AND user_id = $%d");
    ADD(F_STATUS, " AND status = $%d");
    /* ASCII case-insensitive: lower() under the C collation folds A-Z only; the needle comes
     * lowered the same way. strpos: no pattern metacharacters to escape. */
    if (mask & F_TEXT) {
        p++;
        k += (size_t)snprintf(sql + k, n - k,
                              " AND (strpos(lower(request_body COLLATE \"C\"), $%d) > 0"
                              " OR strpos(lower(response_body COLLATE \"C\"), $%d) > 0"
                              " OR strpos(lower(error_message COLLATE \"C\"), $%d) > 0)",
                              p, p, p);
    }
    if (mask & F_CURSOR) {
        p += 2;
        k +=
            (size_t)snprintf(sql + k, n - k, " AND (t_received_us, id) %c ($%d::bigint, $%d::uuid)",
                             (mask & F_ASC) ? '>' : '<', p - 1, p);
    }
#undef ADD
    snprintf(sql + k, n - k, " ORDER BY t_received_us %s, id %s LIMIT $%d::bigint",
             (mask & F_ASC) ? "ASC" : "DESC", (mask & F_ASC) ? "ASC" : "DESC", p + 1);
}

static sy_err_t pg_query_logs(sy_store_t *base, const sy_log_filter_t *f, const char *cursor,
                              size_t limit, sy_log_page_t *page, char *msg, size_t msglen)
{
    pg_store_t *s = (pg_store_t *)base;
    int64_t ct = 0;
    char cid[SY_UUID_STRLEN + 1];
    memset(page, 0, sizeof(*page));
    if (limit < 1 || limit > SY_STORE_LOGS_MAX_LIMIT)
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "limit must be 1..%d",
                             SY_STORE_LOGS_MAX_LIMIT);
    bool has_cursor = cursor && *cursor;
    if (has_cursor && !sy_store_cursor_parse(cursor, &ct, cid))
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "malformed cursor");
    if (f->has_status && (unsigned)f->status >= SY_LOG_STATUS__COUNT)
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "unknown status filter");

    /* stored text is valid UTF-8, so a filter that is not matches nothing (and the server
     * would reject it as a parameter) */
    const char *strs[] = {f->model, f->provider, f->key_id, f->user_id, f->text};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strs[i] && !sy_utf8_valid(strs[i], strlen(strs[i]))) return SY_OK;

    unsigned mask = (f->from_us ? F_FROM : 0) | (f->to_us ? F_TO : 0) | (f->model ? F_MODEL : 0) |
                    (f->provider ? F_PROVIDER : 0) | (f->key_id ? F_KEY : 0) |
                    (f->user_id ? F_USER : 0) | (f->has_status ? F_STATUS : 0) |
                    (f->text ? F_TEXT : 0) | (has_cursor ? F_CURSOR : 0) |
                    (f->ascending ? F_ASC : 0);
    /* parameters in logs_sql's order */
    const char *params[12];
    char from[24], to[24], ctext[24], lim[24];
    char *needle = NULL;
    int np = 0;
    if (mask & F_FROM) snprintf(from, sizeof(from), "%" PRId64, f->from_us), params[np++] = from;
    if (mask & F_TO) snprintf(to, sizeof(to), "%" PRId64, f->to_us), params[np++] = to;
    if (mask & F_MODEL) params[np++] = f->model;
    if (mask & F_PROVIDER) params[np++] = f->provider;
    if (mask & F_KEY) params[np++] = f->key_id;
    if (mask & F_USER) params[np++] = f->user_id;
    if (mask & F_STATUS) params[np++] = sy_log_status_name(f->status);
    if (mask & F_TEXT) {
        needle = sy_xstrdup(f->text);
        for (char *p = needle; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        params[np++] = needle;
    }
    if (mask & F_CURSOR) {
        snprintf(ctext, sizeof(ctext), "%" PRId64, ct);
        params[np++] = ctext;
        params[np++] = cid;
    }
    snprintf(lim, sizeof(lim), "%zu", limit + 1); /* one more tells whether a page follows */
    params[np++] = lim;

    conn_t *c;
    bool retried = false;
again:;
    sy_err_t err = reader_take(s, &c, msg, msglen);
    if (err) {
        free(needle);
        return err;
    }
    char name[16], sql[2048];
    snprintf(name, sizeof(name), "logs%u", mask);
    bool ready = c->logs_ready[mask / 8] & (1u << (mask % 8));
    if (!ready) logs_sql(mask, sql, sizeof(sql));
    err = prepare(s, c, &ready, name, sql, msg, msglen);
    if (err) goto out;
    c->logs_ready[mask / 8] |= (uint8_t)(1u << (mask % 8));
    PGresult *r = PQexecPrepared(c->pg, name, np, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        err = res_fail(s, c, r, msg, msglen, "logs");
        PQclear(r);
        goto out;
    }
    int nt = PQntuples(r);
    size_t take = (size_t)nt > limit ? limit : (size_t)nt;
    page->rows = sy_xmalloc((take ? take : 1) * sizeof(*page->rows));
    for (size_t i = 0; i < take && !err; i++) {
        err = row_to_record(r, (int)i, false, &page->rows[i], msg, msglen);
        if (!err) page->n++;
    }
    if (!err && (size_t)nt > limit) {
        const sy_log_record_t *last = page->rows[page->n - 1];
        sy_store_cursor_format(page->next_cursor, last->t_received_us, last->id);
    }
    PQclear(r);
    if (err) sy_store_log_page_free(page);
out:
    if (!retried && reader_lost(s, c, err)) {
        reader_give(s, c);
        retried = true;
        goto again;
    }
    free(needle);
    reader_give(s, c);
    return err;
}

/* ---- stats ------------------------------------------------------------------------------- */

/* One row per (bucket, group). percentile_disc is nearest rank: the value at rank ceil(p·n)
 * (PostgreSQL's orderedsetaggs.c), NULLs ignored, NULL when no row has a value. */
static const char *const stats_sql[4] = {
#define STATS_SQL(grp)                                                                             \
    "SELECT b, g, count(*), count(*) FILTER (WHERE status <> 'ok'),"                               \
    " percentile_disc('{0.5,0.95,0.99}'::float8[]) WITHIN GROUP (ORDER BY latency_us),"            \
    " percentile_disc('{0.5,0.95}'::float8[]) WITHIN GROUP (ORDER BY ttft_us),"                    \
    " sum(input_tokens), sum(output_tokens),"                                                      \
    " sum(output_tokens) FILTER (WHERE ok), sum(latency_us) FILTER (WHERE ok),"                    \
    " sum(cost_nanousd), count(*) FILTER (WHERE cost_nanousd IS NULL)"                             \
    " FROM (SELECT t_received_us - t_received_us % $1::bigint AS b, " grp " AS g, status,"         \
    " latency_us, ttft_us, input_tokens, output_tokens, cost_nanousd,"                             \
    " status = 'ok' AND output_tokens IS NOT NULL AND latency_us IS NOT NULL AS ok"                \
    " FROM inference_log WHERE t_received_us >= $2::bigint AND t_received_us < $3::bigint) x"      \
    " GROUP BY b, g ORDER BY b, g COLLATE \"C\" NULLS FIRST"
    [SY_STATS_GROUP_NONE] = STATS_SQL("NULL::text"),
    [SY_STATS_GROUP_MODEL] = STATS_SQL("model"),
    [SY_STATS_GROUP_PROVIDER] = STATS_SQL("provider"),
    [SY_STATS_GROUP_KEY] = STATS_SQL("key_id"),
#undef STATS_SQL
};

/* "{1,2,NULL}" → want values (SY_LOG_UNKNOWN for NULL or a NULL array). */
static void parse_i64_array(const PGresult *r, int row, int col, int64_t *out, int want)
{
    for (int i = 0; i < want; i++)
        out[i] = SY_LOG_UNKNOWN;
    if (PQgetisnull(r, row, col)) return;
    const char *p = PQgetvalue(r, row, col);
    if (*p == '{') p++;
    for (int i = 0; i < want && *p && *p != '}'; i++) {
        char *end;
        if (strncmp(p, "NULL", 4) == 0) {
            end = (char *)p + 4;
        } else {
            out[i] = strtoll(p, &end, 10);
            if (end == p) return;
        }
        p = *end == ',' ? end + 1 : end;
    }
}

static sy_err_t pg_query_stats(sy_store_t *base, const sy_stats_query_t *q, sy_stats_result_t *res,
                               char *msg, size_t msglen)
{
    pg_store_t *s = (pg_store_t *)base;
    memset(res, 0, sizeof(*res));
    if (q->from_us < 0 || q->to_us <= q->from_us || q->bucket_us <= 0)
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen,
                             "stats: need 0 <= from < to and bucket > 0");
    if ((q->to_us - 1) / q->bucket_us - q->from_us / q->bucket_us + 1 > SY_STORE_STATS_MAX_BUCKETS)
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "stats: more than %d buckets",
                             SY_STORE_STATS_MAX_BUCKETS);
    if ((unsigned)q->group_by > SY_STATS_GROUP_KEY)
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "stats: bad group_by");

    conn_t *c;
    bool retried = false;
again:;
    sy_err_t err = reader_take(s, &c, msg, msglen);
    if (err) return err;
    char name[16];
    snprintf(name, sizeof(name), "stats%d", (int)q->group_by);
    err = prepare(s, c, &c->stats_ready[q->group_by], name, stats_sql[q->group_by], msg, msglen);
    if (err) goto out;
    char bucket[24], from[24], to[24];
    snprintf(bucket, sizeof(bucket), "%" PRId64, q->bucket_us);
    snprintf(from, sizeof(from), "%" PRId64, q->from_us);
    snprintf(to, sizeof(to), "%" PRId64, q->to_us);
    const char *params[3] = {bucket, from, to};
    PGresult *r = PQexecPrepared(c->pg, name, 3, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        err = res_fail(s, c, r, msg, msglen, "stats");
        PQclear(r);
        goto out;
    }
    int nt = PQntuples(r);
    res->rows = sy_xcalloc(nt ? (size_t)nt : 1, sizeof(*res->rows));
    for (int i = 0; i < nt; i++) {
        sy_stats_row_t *row = &res->rows[res->n++];
        int64_t lat[3], ttft[2];
        row->bucket_start_us = col_i64(r, i, 0);
        row->group = PQgetisnull(r, i, 1) ? NULL : sy_xstrdup(PQgetvalue(r, i, 1));
        row->count = col_i64(r, i, 2);
        row->errors = col_i64(r, i, 3);
        parse_i64_array(r, i, 4, lat, 3);
        parse_i64_array(r, i, 5, ttft, 2);
        row->latency_p50_us = lat[0];
        row->latency_p95_us = lat[1];
        row->latency_p99_us = lat[2];
        row->ttft_p50_us = ttft[0];
        row->ttft_p95_us = ttft[1];
        /* sums over no known value are NULL: 0 */
        row->input_tokens = PQgetisnull(r, i, 6) ? 0 : col_i64(r, i, 6);
        row->output_tokens = PQgetisnull(r, i, 7) ? 0 : col_i64(r, i, 7);
        int64_t tok_ok = PQgetisnull(r, i, 8) ? 0 : col_i64(r, i, 8);
        int64_t lat_ok = PQgetisnull(r, i, 9) ? 0 : col_i64(r, i, 9);
        row->cost_nanousd = col_i64(r, i, 10); /* NULL: no row has a cost */
        row->cost_unknown = col_i64(r, i, 11);
        sy_stats_row_set_rates(row, tok_ok, lat_ok);
    }
    PQclear(r);
out:
    if (!retried && reader_lost(s, c, err)) {
        reader_give(s, c);
        retried = true;
        goto again;
    }
    reader_give(s, c);
    return err;
}

/* ---- app data ---------------------------------------------------------------------------- */

static sy_err_t pg_app_exec(sy_store_t *base, const char *sql, const sy_app_param_t *params,
                            size_t n, size_t max_rows, sy_app_rows_t *rows, int64_t *changes,
                            char *msg, size_t msglen)
{
    pg_store_t *s = (pg_store_t *)base;
    if (n > SY_STORE_APP_MAX_PARAMS)
        return sy_store_fail(SY_ERR_INTERNAL, msg, msglen, "postgres: too many parameters");
    const char *vals[SY_STORE_APP_MAX_PARAMS];
    char nums[SY_STORE_APP_MAX_PARAMS][24];
    for (size_t i = 0; i < n; i++) {
        if (params[i].kind == SY_APP_TEXT) {
            vals[i] = params[i].text;
        } else if (params[i].kind == SY_APP_I64) {
            snprintf(nums[i], sizeof(nums[i]), "%" PRId64, params[i].i64);
            vals[i] = nums[i];
        } else {
            vals[i] = NULL;
        }
    }
    if (rows) memset(rows, 0, sizeof(*rows));
    pthread_mutex_lock(&s->wlock);
    sy_err_t err = writer_ready(s, msg, msglen);
    if (err) goto out;
    PGresult *r = PQexecParams(s->writer->pg, sql, (int)n, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "23505") == 0)
            err = fail_text(s, SY_ERR_INVALID_REQUEST, msg, msglen, "already exists",
                            PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
        else
            err = res_fail(s, s->writer, r, msg, msglen, "app data");
    } else if (rows && st == PGRES_TUPLES_OK) {
        size_t nr = (size_t)PQntuples(r), nc = (size_t)PQnfields(r);
        if (nr > max_rows) {
            err =
                sy_store_fail(SY_ERR_STORE, msg, msglen, "postgres: more than %zu rows", max_rows);
        } else {
            rows->n_rows = nr;
            rows->n_cols = nc;
            rows->cells = nr && nc ? sy_xcalloc(nr * nc, sizeof(char *)) : NULL;
            for (size_t i = 0; i < nr; i++)
                for (size_t k = 0; k < nc; k++)
                    if (!PQgetisnull(r, (int)i, (int)k))
                        rows->cells[i * nc + k] = sy_xstrndup(
                            PQgetvalue(r, (int)i, (int)k), (size_t)PQgetlength(r, (int)i, (int)k));
        }
    }
    if (!err && changes) {
        const char *t = PQcmdTuples(r);
        *changes = t && *t ? strtoll(t, NULL, 10) : 0;
    }
    PQclear(r);
out:
    pthread_mutex_unlock(&s->wlock);
    return err;
}

const sy_store_vtable_t sy_store_postgres = {
    .name = "postgres",
    .scheme = "postgres",
    .alias = "postgresql",
    .caps = SY_STORE_CAP_LOGS | SY_STORE_CAP_APPDATA | SY_STORE_CAP_ATOMIC_BATCH |
            SY_STORE_CAP_DEDUP_ON_WRITE | SY_STORE_CAP_EXACT_PERCENTILES,
    .open = pg_open,
    .close = pg_close,
    .migrate = pg_migrate,
    .write_batch = pg_write_batch,
    .query_logs = pg_query_logs,
    .get_log = pg_get_log,
    .query_stats = pg_query_stats,
    .app_exec = pg_app_exec,
};
