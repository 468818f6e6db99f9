/* SQLite backend of the store interface (store.h).
 *
 * DESIGN
 *   One database file (default <data_dir>/switchyard.db) in WAL mode with synchronous=NORMAL:
 *   a commit is an append to the WAL without fsync; a power loss can lose the last commits but
 *   never corrupts the file, and the log pipeline's spool covers that window.
 *   Connections: one writer connection behind wlock (migrate, write_batch) and a pool of reader
 *   connections (query_logs, get_log, query_stats) taken and returned under plock. Under WAL a
 *   reader sees the last committed snapshot and never waits for the writer, so API queries do
 *   not stall the log writer thread and vice versa. Connections are opened NOMUTEX: our own
 *   locks guarantee that one thread at a time uses a connection.
 *   Statements are prepared once per connection and reused: the INSERT on the writer;
 *   get_log, the stats query per group-by, and the logs query per combination of filters
 *   (one bit per filter, a slot per mask) on each reader.
 *   Stats: small ranges (≤ stats_exact_max_rows rows) and ranges that are not whole minutes are
 *   exact — the raw (bucket, group, latency, ttft, …) rows of the range ordered by (bucket,
 *   group), each cell's values sorted in C (nearest rank). Larger minute-aligned ranges read
 *   stats_minute (migration 3): per (minute, model, provider, key_id) counters and store/hist.h
 *   latency/TTFT histograms, kept by write_batch in the batch's transaction for the rows it
 *   actually inserted (sqlite3_changes), so a replayed id is never counted twice. Counts and
 *   sums stay exact; percentiles are within 1/128 (docs/internals/STORE.md, "Stats rollup").
 *   The backend-independent part of the rollup (cells of a batch, merging stored rows, reading
 *   rows into stats cells) is store/rollup.c, shared with PostgreSQL; query_logs' argument
 *   check and the row decode are store/logquery.c.
 */
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/utf8.h"
#include "store/columns.h"
#include "store/hist.h"
#include "store/logquery.h"
#include "store/migrations.h"
#include "store/rollup.h"
#include "store/store.h"

#define DEFAULT_FILE "switchyard.db"
#define MAX_IDLE_READERS 8
#define ROLLUP_VERSION 3 /* the migration that adds stats_minute */

/* C_* column indexes: store/columns.h. */

#define COLS_NOBODIES                                                                              \
    "id, request_id, attempt, parent_id, t_received_us, t_upstream_start_us, t_first_token_us, "   \
    "t_end_us, latency_us, ttft_us, overhead_us, model, provider, upstream_model, deployment, "    \
    "status, http_status, error_type, error_message, input_tokens, output_tokens, "                \
    "cached_read_tokens, cache_write_tokens, reasoning_tokens, usage_source, cost_nanousd, "       \
    "key_id, user_id, team_id, conversation_id, message_id, experiment, variant, tags, metadata, " \
    "request_truncated, response_truncated, request_size, response_size"
#define COLS_ALL COLS_NOBODIES ", request_body, response_body"

typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *insert;   /* writer */
    sqlite3_stmt *get;      /* readers */
    sqlite3_stmt *stats[4]; /* readers, by sy_stats_group_t */
    sqlite3_stmt *roll[4];  /* readers: the rollup query, by sy_stats_group_t */
    sqlite3_stmt *probe;    /* readers: rows in range, bounded */
    sqlite3_stmt *roll_get, *roll_upd, *roll_ins; /* writer: stats_minute maintenance */
    sqlite3_stmt **logs;          /* readers: SY_LOGF__SLOTS entries, allocated on first use */
    sy_buf_t scratch;             /* writer: tags JSON, histogram encodings */
    sy_rollup_batch_t roll_batch; /* writer: the batch's stats_minute cells (memory reused) */
    struct conn *next;            /* idle list */
} conn_t;

typedef struct sqlite_store {
    sy_store_t base;
    char *path;
    int busy_ms;
    int64_t exact_max_rows; /* query_stats: exact over raw rows up to this many (< 0: never) */
    int known;              /* newest migration this binary applies */
    pthread_mutex_t wlock;
    conn_t *writer;
    pthread_mutex_t plock;
    conn_t *idle;
    int n_idle;
} sqlite_store_t;

static sy_err_t db_fail(sqlite3 *db, char *msg, size_t msglen, const char *what)
{
    return sy_store_fail(SY_ERR_STORE, msg, msglen, "sqlite: %s: %s", what,
                         db ? sqlite3_errmsg(db) : "out of memory");
}

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void conn_close(conn_t *c)
{
    if (!c) return;
    sqlite3_finalize(c->insert);
    sqlite3_finalize(c->get);
    for (int i = 0; i < 4; i++) {
        sqlite3_finalize(c->stats[i]);
        sqlite3_finalize(c->roll[i]);
    }
    sqlite3_finalize(c->probe);
    sqlite3_finalize(c->roll_get);
    sqlite3_finalize(c->roll_upd);
    sqlite3_finalize(c->roll_ins);
    if (c->logs) {
        for (int i = 0; i < SY_LOGF__SLOTS; i++)
            sqlite3_finalize(c->logs[i]);
        free(c->logs);
    }
    sy_buf_dispose(&c->scratch);
    sy_rollup_batch_dispose(&c->roll_batch);
    sqlite3_close_v2(c->db);
    free(c);
}

/* sy_hist(value): aggregate returning the store/hist.h encoding of the non-NULL values. The
 * stats_minute back-fill (migration 3) builds its histograms with it. */
static void hist_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sy_hist_t **hp = sqlite3_aggregate_context(ctx, sizeof(*hp));
    if (!hp) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
    if (!*hp) *hp = sy_xcalloc(1, sizeof(sy_hist_t));
    sy_hist_add(*hp, sqlite3_value_int64(argv[0]), 1);
}

static void hist_final(sqlite3_context *ctx)
{
    sy_hist_t **hp = sqlite3_aggregate_context(ctx, 0);
    sy_hist_t empty = {0}, *h = hp && *hp ? *hp : &empty;
    sy_buf_t b;
    sy_buf_init(&b, SY_HIST_ENCODED_MAX);
    if (sy_hist_encode(h, &b))
        sqlite3_result_error_nomem(ctx);
    else
        sqlite3_result_blob(ctx, b.base, (int)b.len, SQLITE_TRANSIENT);
    sy_buf_dispose(&b);
    if (hp && *hp) {
        sy_hist_dispose(*hp);
        free(*hp);
    }
}

static sy_err_t conn_open(sqlite_store_t *s, bool create, conn_t **out, char *msg, size_t msglen)
{
    conn_t *c = sy_xcalloc(1, sizeof(*c));
    sy_buf_init(&c->scratch, 1u << 20);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(s->path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        sy_err_t err = sy_store_fail(SY_ERR_STORE, msg, msglen, "sqlite: cannot open %s: %s",
                                     s->path, c->db ? sqlite3_errmsg(c->db) : "out of memory");
        conn_close(c);
        return err;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_create_function_v2(c->db, "sy_hist", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, NULL,
                               hist_step, hist_final, NULL);
    sqlite3_busy_timeout(c->db, s->busy_ms);
    /* journal_mode=WAL persists in the file; synchronous is per connection. */
    const char *pragmas =
        create ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                 "PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=8192;"
               : "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-8000; PRAGMA mmap_size=268435456;";
    if (sqlite3_exec(c->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
        sy_err_t err = db_fail(c->db, msg, msglen, "pragmas");
        conn_close(c);
        return err;
    }
    *out = c;
    return SY_OK;
}

static sy_err_t s_open(const sy_store_conf_t *conf, sy_store_t **out, char *msg, size_t msglen)
{
    const char *url = conf->url ? conf->url : "";
    if (strncmp(url, "sqlite:", 7) != 0)
        return sy_store_fail(SY_ERR_CONFIG, msg, msglen, "sqlite: URL must start with sqlite:");
    const char *p = url + 7;
    if (strncmp(p, "//", 2) == 0) p += 2; /* sqlite:///abs/path and sqlite://rel both work */
    if (!*p) p = DEFAULT_FILE;
    const char *dir = conf->data_dir && *conf->data_dir ? conf->data_dir : ".";

    sqlite_store_t *s = sy_xcalloc(1, sizeof(*s));
    s->base.vt = &sy_store_sqlite;
    if (p[0] == '/') {
        s->path = sy_xstrdup(p);
    } else {
        size_t n = strlen(dir) + strlen(p) + 2;
        s->path = sy_xmalloc(n);
        snprintf(s->path, n, "%s/%s", dir, p);
    }
    s->busy_ms = conf->busy_timeout_ms > 0 ? conf->busy_timeout_ms : 5000;
    s->exact_max_rows =
        conf->stats_exact_max_rows ? conf->stats_exact_max_rows : SY_STORE_STATS_EXACT_MAX_ROWS;
    s->known = (int)sy_store_migrations_sqlite_count;
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

static void s_close(sy_store_t *base)
{
    if (!base) return;
    sqlite_store_t *s = (sqlite_store_t *)base;
    while (s->idle) {
        conn_t *c = s->idle;
        s->idle = c->next;
        conn_close(c);
    }
    conn_close(s->writer);
    pthread_mutex_destroy(&s->wlock);
    pthread_mutex_destroy(&s->plock);
    free(s->path);
    free(s);
}

static sy_err_t reader_take(sqlite_store_t *s, conn_t **out, char *msg, size_t msglen)
{
    pthread_mutex_lock(&s->plock);
    conn_t *c = s->idle;
    if (c) {
        s->idle = c->next;
        s->n_idle--;
    }
    pthread_mutex_unlock(&s->plock);
    if (c) {
        *out = c;
        return SY_OK;
    }
    return conn_open(s, false, out, msg, msglen);
}

static void reader_give(sqlite_store_t *s, conn_t *c)
{
    pthread_mutex_lock(&s->plock);
    if (s->n_idle < MAX_IDLE_READERS) {
        c->next = s->idle;
        s->idle = c;
        s->n_idle++;
        c = NULL;
    }
    pthread_mutex_unlock(&s->plock);
    conn_close(c);
}

static sy_err_t prepare(conn_t *c, sqlite3_stmt **st, const char *sql, char *msg, size_t msglen)
{
    if (*st) return SY_OK;
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return db_fail(c->db, msg, msglen, "prepare");
    return SY_OK;
}

/* ---- migrate ----------------------------------------------------------------------------- */

static sy_err_t exec(conn_t *c, const char *sql, char *msg, size_t msglen, const char *what)
{
    char *e = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &e) == SQLITE_OK) return SY_OK;
    sy_err_t err = sy_store_fail(SY_ERR_STORE, msg, msglen, "sqlite: %s: %s", what,
                                 e ? e : sqlite3_errmsg(c->db));
    sqlite3_free(e);
    return err;
}

static sy_err_t s_migrate(sy_store_t *base, int *version, char *msg, size_t msglen)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    conn_t *c = s->writer;
    sqlite3_stmt *st = NULL;
    sy_err_t err;
    int cur = 0;

    pthread_mutex_lock(&s->wlock);
    err = exec(c, "BEGIN IMMEDIATE", msg, msglen, "begin");
    if (err) goto unlock;
    err = exec(c,
               "CREATE TABLE IF NOT EXISTS schema_migrations ("
               " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
               msg, msglen, "schema_migrations");
    if (err) goto rollback;
    if (sqlite3_prepare_v2(c->db, "SELECT coalesce(max(version), 0) FROM schema_migrations", -1,
                           &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        err = db_fail(c->db, msg, msglen, "read schema version");
        goto rollback;
    }
    cur = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (cur > s->known) {
        err = sy_store_fail(SY_ERR_STORE_SCHEMA, msg, msglen,
                            "sqlite: %s has schema version %d, newer than this binary knows (%d): "
                            "run a newer switchyard or use another database",
                            s->path, cur, s->known);
        goto rollback;
    }
    if (sqlite3_prepare_v2(c->db, "INSERT INTO schema_migrations(version, applied_at) VALUES(?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        err = db_fail(c->db, msg, msglen, "prepare");
        goto rollback;
    }
    for (int i = 0; i < s->known; i++) {
        const sy_store_migration_t *m = &sy_store_migrations_sqlite[i];
        if (m->version <= cur) continue;
        char what[128];
        snprintf(what, sizeof(what), "migration %d (%s)", m->version, m->name);
        err = exec(c, m->sql, msg, msglen, what);
        if (err) goto rollback;
        sqlite3_bind_int(st, 1, m->version);
        sqlite3_bind_int64(st, 2, wall_us());
        if (sqlite3_step(st) != SQLITE_DONE) {
            err = db_fail(c->db, msg, msglen, "record migration");
            goto rollback;
        }
        sqlite3_reset(st);
        cur = m->version;
    }
    sqlite3_finalize(st);
    st = NULL;
    err = exec(c, "COMMIT", msg, msglen, "commit");
    if (err) goto rollback;
    if (version) *version = cur;
    goto unlock;
rollback:
    sqlite3_finalize(st);
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
unlock:
    pthread_mutex_unlock(&s->wlock);
    return err;
}

/* ---- write ------------------------------------------------------------------------------- */

static void bind_str(sqlite3_stmt *st, int col, sy_str_t v)
{
    if (v.ptr)
        sqlite3_bind_text64(st, col + 1, v.ptr, v.len, SQLITE_STATIC, SQLITE_UTF8);
    else
        sqlite3_bind_null(st, col + 1);
}

static void bind_i64(sqlite3_stmt *st, int col, int64_t v)
{
    if (v == SY_LOG_UNKNOWN)
        sqlite3_bind_null(st, col + 1);
    else
        sqlite3_bind_int64(st, col + 1, v);
}

/* Tags as a JSON array (NULL when none). Tags come from a header and may hold any bytes: invalid
 * UTF-8 becomes U+FFFD so the stored JSON is always parseable. */
static sy_err_t tags_json(sy_buf_t *b, const sy_log_record_t *r)
{
    sy_buf_reset(b);
    sy_err_t err = sy_buf_append(b, "[", 1);
    char tmp[256];
    for (uint32_t i = 0; i < r->n_tags && !err; i++) {
        if (i) err = sy_buf_append(b, ",", 1);
        const char *p = r->tags[i].ptr;
        size_t n = r->tags[i].len;
        bool clean = sy_utf8_valid(p, n);
        if (clean || n > sizeof(tmp) / 3) {
            if (!clean) n = 0; /* absurdly long and broken: store an empty tag */
            if (!err) err = sy_json_append_string(b, p, n);
            continue;
        }
        size_t k = sy_utf8_scrub(p, n, tmp);
        if (!err) err = sy_json_append_string(b, tmp, k);
    }
    if (!err) err = sy_buf_append(b, "]", 1);
    return err;
}

static sy_err_t insert_one(conn_t *c, const sy_log_record_t *r, char *msg, size_t msglen)
{
    sqlite3_stmt *st = c->insert;
    sqlite3_bind_text(st, C_ID + 1, r->id, -1, SQLITE_STATIC);
    bind_str(st, C_REQUEST_ID, r->request_id);
    sqlite3_bind_int(st, C_ATTEMPT + 1, r->attempt);
    if (r->parent_id[0])
        sqlite3_bind_text(st, C_PARENT_ID + 1, r->parent_id, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, C_PARENT_ID + 1);
    /* the row's time is required for ordering: an unknown receive time sorts at 0 */
    sqlite3_bind_int64(st, C_T_RECEIVED + 1, r->t_received_us < 0 ? 0 : r->t_received_us);
    bind_i64(st, C_T_UPSTREAM_START, r->t_upstream_start_us);
    bind_i64(st, C_T_FIRST_TOKEN, r->t_first_token_us);
    bind_i64(st, C_T_END, r->t_end_us);
    bind_i64(st, C_LATENCY, r->latency_us);
    bind_i64(st, C_TTFT, r->ttft_us);
    bind_i64(st, C_OVERHEAD, r->overhead_us);
    bind_str(st, C_MODEL, r->model);
    bind_str(st, C_PROVIDER, r->provider);
    bind_str(st, C_UPSTREAM_MODEL, r->upstream_model);
    bind_str(st, C_DEPLOYMENT, r->deployment);
    sqlite3_bind_text(st, C_STATUS + 1, sy_log_status_name(r->status), -1, SQLITE_STATIC);
    if (r->http_status > 0)
        sqlite3_bind_int(st, C_HTTP_STATUS + 1, r->http_status);
    else
        sqlite3_bind_null(st, C_HTTP_STATUS + 1);
    bind_str(st, C_ERROR_TYPE, r->error_type);
    bind_str(st, C_ERROR_MESSAGE, r->error_message);
    bind_i64(st, C_INPUT_TOKENS, r->input_tokens);
    bind_i64(st, C_OUTPUT_TOKENS, r->output_tokens);
    bind_i64(st, C_CACHED_READ, r->cached_read_tokens);
    bind_i64(st, C_CACHE_WRITE, r->cache_write_tokens);
    bind_i64(st, C_REASONING, r->reasoning_tokens);
    bind_str(st, C_USAGE_SOURCE, sy_str_c(sy_log_usage_source_name(r->usage_source)));
    bind_i64(st, C_COST, r->cost_nanousd);
    bind_str(st, C_KEY_ID, r->key_id);
    bind_str(st, C_USER_ID, r->user_id);
    bind_str(st, C_TEAM_ID, r->team_id);
    bind_str(st, C_CONVERSATION_ID, r->conversation_id);
    bind_str(st, C_MESSAGE_ID, r->message_id);
    bind_str(st, C_EXPERIMENT, r->experiment);
    bind_str(st, C_VARIANT, r->variant);
    if (r->n_tags) {
        if (tags_json(&c->scratch, r))
            return sy_store_fail(SY_ERR_STORE, msg, msglen, "sqlite: tags of %s over 1 MiB", r->id);
        bind_str(st, C_TAGS, sy_str(c->scratch.base, c->scratch.len));
    } else {
        sqlite3_bind_null(st, C_TAGS + 1);
    }
    bind_str(st, C_METADATA, r->metadata);
    sqlite3_bind_int(st, C_REQ_TRUNC + 1, r->request_truncated);
    sqlite3_bind_int(st, C_RESP_TRUNC + 1, r->response_truncated);
    bind_i64(st, C_REQ_SIZE, r->request_size);
    bind_i64(st, C_RESP_SIZE, r->response_size);
    bind_str(st, C_REQ_BODY, r->request_body);
    bind_str(st, C_RESP_BODY, r->response_body);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) return db_fail(c->db, msg, msglen, "insert");
    return SY_OK;
}

/* ---- stats_minute maintenance ---------------------------------------------------------- */

/* Adds one cell of the batch to its stats_minute row (read, merge, write back; or insert). */
static sy_err_t roll_apply(conn_t *c, sy_rollup_cell_t *cell, char *msg, size_t msglen)
{
    const sy_rollup_key_t *k = &cell->key;
    sqlite3_stmt *g = c->roll_get;
    sqlite3_bind_int64(g, 1, k->minute_us);
    bind_str(g, 1, k->model); /* bind_str: 0-based column */
    bind_str(g, 2, k->provider);
    bind_str(g, 3, k->key_id);
    int rc = sqlite3_step(g);
    sy_err_t err = SY_OK;
    int64_t rowid = 0;
    if (rc == SQLITE_ROW) {
        rowid = sqlite3_column_int64(g, 0);
        int64_t v[SY_ROLLUP_NV];
        for (int i = 0; i < SY_ROLLUP_NV; i++)
            v[i] = sqlite3_column_int64(g, i + 1);
        if (sy_rollup_cell_add_stored(
                cell, v, sqlite3_column_blob(g, 9), (size_t)sqlite3_column_bytes(g, 9),
                sqlite3_column_blob(g, 10), (size_t)sqlite3_column_bytes(g, 10)))
            err = sy_store_fail(SY_ERR_CORRUPT, msg, msglen,
                                "sqlite: stats_minute row %" PRId64 ": corrupt histogram", rowid);
    } else if (rc != SQLITE_DONE) {
        err = db_fail(c->db, msg, msglen, "stats_minute read");
    }
    sqlite3_reset(g);
    sqlite3_clear_bindings(g);
    if (err) return err;

    sy_buf_reset(&c->scratch);
    size_t lat_len;
    if (sy_rollup_cell_encode(cell, &c->scratch, &lat_len))
        return sy_store_fail(SY_ERR_STORE, msg, msglen,
                             "sqlite: histogram over the scratch buffer");
    sqlite3_stmt *w = rowid ? c->roll_upd : c->roll_ins;
    for (int i = 0; i < SY_ROLLUP_NV; i++)
        sqlite3_bind_int64(w, i + 1, cell->v[i]);
    sqlite3_bind_blob(w, 9, c->scratch.base, (int)lat_len, SQLITE_STATIC);
    sqlite3_bind_blob(w, 10, c->scratch.base + lat_len, (int)(c->scratch.len - lat_len),
                      SQLITE_STATIC);
    if (rowid) {
        sqlite3_bind_int64(w, 11, rowid);
    } else {
        sqlite3_bind_int64(w, 11, k->minute_us);
        bind_str(w, 11, k->model);
        bind_str(w, 12, k->provider);
        bind_str(w, 13, k->key_id);
    }
    rc = sqlite3_step(w);
    sqlite3_reset(w);
    sqlite3_clear_bindings(w);
    return rc == SQLITE_DONE ? SY_OK : db_fail(c->db, msg, msglen, "stats_minute write");
}

/* Folds the rows this batch inserted (ins[0..n), reordered here) into stats_minute: one
 * read-merge-write per (minute, model, provider, key) cell. Runs inside the batch's
 * transaction. */
static sy_err_t roll_update(conn_t *c, const sy_log_record_t **ins, size_t n, char *msg,
                            size_t msglen)
{
    sy_err_t err = SY_OK;
    static const char *const get_sql =
        "SELECT rowid, count, errors, input_tokens, output_tokens, cost_nanousd, cost_unknown,"
        " ok_output_tokens, ok_latency_us, latency_hist, ttft_hist FROM stats_minute"
        " WHERE minute_us = ?1 AND model IS ?2 AND provider IS ?3 AND key_id IS ?4";
    static const char *const upd_sql =
        "UPDATE stats_minute SET count = ?1, errors = ?2, input_tokens = ?3, output_tokens = ?4,"
        " cost_nanousd = ?5, cost_unknown = ?6, ok_output_tokens = ?7, ok_latency_us = ?8,"
        " latency_hist = ?9, ttft_hist = ?10 WHERE rowid = ?11";
    static const char *const ins_sql =
        "INSERT INTO stats_minute(count, errors, input_tokens, output_tokens, cost_nanousd,"
        " cost_unknown, ok_output_tokens, ok_latency_us, latency_hist, ttft_hist, minute_us,"
        " model, provider, key_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
        " ?13, ?14)";
    if ((err = prepare(c, &c->roll_get, get_sql, msg, msglen)) ||
        (err = prepare(c, &c->roll_upd, upd_sql, msg, msglen)) ||
        (err = prepare(c, &c->roll_ins, ins_sql, msg, msglen)))
        return err;
    sy_rollup_batch_build(&c->roll_batch, ins, n);
    for (size_t i = 0; i < c->roll_batch.n && !err; i++)
        err = roll_apply(c, &c->roll_batch.cells[i], msg, msglen);
    return err;
}

static sy_err_t s_write_batch(sy_store_t *base, const sy_log_record_t *const *recs, size_t n,
                              char *msg, size_t msglen)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    conn_t *c = s->writer;
    sy_err_t err;
    const sy_log_record_t **ins = NULL;
    size_t n_ins = 0;
    if (n == 0) return SY_OK;
    pthread_mutex_lock(&s->wlock);
    err = prepare(c, &c->insert,
                  "INSERT INTO inference_log(" COLS_ALL ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
                  "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
                  msg, msglen);
    if (err) goto unlock;
    err = exec(c, "BEGIN IMMEDIATE", msg, msglen, "begin");
    if (err) goto unlock;
    /* only rows actually inserted reach the rollup: a replayed id (ON CONFLICT DO NOTHING,
     * zero changes) must not be counted twice */
    ins = sy_xmalloc(n * sizeof(*ins));
    for (size_t i = 0; i < n && !err; i++) {
        err = insert_one(c, recs[i], msg, msglen);
        if (!err && sqlite3_changes(c->db) == 1) ins[n_ins++] = recs[i];
    }
    if (!err && n_ins && s->known >= ROLLUP_VERSION) err = roll_update(c, ins, n_ins, msg, msglen);
    if (!err) err = exec(c, "COMMIT", msg, msglen, "commit");
    if (err) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
unlock:
    pthread_mutex_unlock(&s->wlock);
    free(ins);
    return err;
}

/* ---- read -------------------------------------------------------------------------------- */

static sy_str_t col_str(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return SY_STR_NULL;
    const char *p = (const char *)sqlite3_column_text(st, col);
    return sy_str(p ? p : "", (size_t)sqlite3_column_bytes(st, col));
}

static int64_t col_i64(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return SY_LOG_UNKNOWN;
    return sqlite3_column_int64(st, col);
}

static sy_str_t src_str(const sy_logrow_src_t *s, int col)
{
    return col_str((sqlite3_stmt *)s->res, col);
}

static int64_t src_i64(const sy_logrow_src_t *s, int col)
{
    return col_i64((sqlite3_stmt *)s->res, col);
}

static bool src_flag(const sy_logrow_src_t *s, int col)
{
    return sqlite3_column_int((sqlite3_stmt *)s->res, col) != 0;
}

/* The current row as an owned record (store/logquery.h). */
static sy_err_t row_to_record(sqlite3_stmt *st, bool bodies, sy_log_record_t **out, char *msg,
                              size_t msglen)
{
    sy_logrow_src_t src = {"sqlite", src_str, src_i64, src_flag, st, 0};
    return sy_logrow_decode(&src, bodies, out, msg, msglen);
}

static sy_err_t s_get_log(sy_store_t *base, const char *id, sy_log_record_t **out, char *msg,
                          size_t msglen)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    conn_t *c;
    sy_err_t err = reader_take(s, &c, msg, msglen);
    if (err) return err;
    err = prepare(c, &c->get, "SELECT " COLS_ALL " FROM inference_log WHERE id = ?", msg, msglen);
    if (err) goto out;
    sqlite3_bind_text(c->get, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(c->get);
    if (rc == SQLITE_ROW)
        err = row_to_record(c->get, true, out, msg, msglen);
    else if (rc == SQLITE_DONE)
        err = sy_store_fail(SY_ERR_NOT_FOUND, msg, msglen, "no log row with id %.40s", id);
    else
        err = db_fail(c->db, msg, msglen, "get_log");
    sqlite3_reset(c->get);
    sqlite3_clear_bindings(c->get);
out:
    reader_give(s, c);
    return err;
}

static void logs_sql(unsigned mask, char *sql, size_t n)
{
    size_t k = (size_t)snprintf(sql, n, "SELECT " COLS_NOBODIES " FROM inference_log WHERE 1");
#define ADD(bit, clause)                                                                           \
    if (mask & (bit)) k += (size_t)snprintf(sql + k, n - k, " AND %s", clause)
    ADD(SY_LOGF_FROM, "t_received_us >= :from");
    ADD(SY_LOGF_TO, "t_received_us < :to");
    ADD(SY_LOGF_MODEL, "model = :model");
    ADD(SY_LOGF_PROVIDER, "provider = :provider");
    ADD(SY_LOGF_KEY, "key_id = :key");
    ADD(SY_LOGF_USER, "user_id = :user");
    ADD(SY_LOGF_STATUS, "status = :status");
    ADD(SY_LOGF_TEXT, "(request_body LIKE :text ESCAPE '\\' OR response_body LIKE :text ESCAPE '\\'"
                      " OR error_message LIKE :text ESCAPE '\\')");
    if (mask & SY_LOGF_CURSOR)
        ADD(SY_LOGF_CURSOR, (mask & SY_LOGF_ASC) ? "(t_received_us, id) > (:ct, :cid)"
                                                 : "(t_received_us, id) < (:ct, :cid)");
#undef ADD
    snprintf(sql + k, n - k, " ORDER BY t_received_us %s, id %s LIMIT :limit",
             (mask & SY_LOGF_ASC) ? "ASC" : "DESC", (mask & SY_LOGF_ASC) ? "ASC" : "DESC");
}

static void bind_named_text(sqlite3_stmt *st, const char *name, const char *v, void (*dtor)(void *))
{
    int i = sqlite3_bind_parameter_index(st, name);
    if (i) sqlite3_bind_text(st, i, v, -1, dtor);
}

static void bind_named_i64(sqlite3_stmt *st, const char *name, int64_t v)
{
    int i = sqlite3_bind_parameter_index(st, name);
    if (i) sqlite3_bind_int64(st, i, v);
}

/* '%' + text with LIKE's metacharacters escaped + '%'. Caller frees. */
static char *like_pattern(const char *t)
{
    size_t n = strlen(t);
    char *p = sy_xmalloc(2 * n + 3), *d = p;
    *d++ = '%';
    for (; *t; t++) {
        if (*t == '%' || *t == '_' || *t == '\\') *d++ = '\\';
        *d++ = *t;
    }
    *d++ = '%';
    *d = '\0';
    return p;
}

static sy_err_t s_query_logs(sy_store_t *base, const sy_log_filter_t *f, const char *cursor,
                             size_t limit, sy_log_page_t *page, char *msg, size_t msglen)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sy_logquery_t lq;
    sy_err_t err = sy_logquery_init(&lq, f, cursor, limit, page, msg, msglen);
    if (err) return err;
    unsigned mask = lq.mask;
    conn_t *c;
    err = reader_take(s, &c, msg, msglen);
    if (err) {
        sy_store_log_page_free(page);
        return err;
    }
    if (!c->logs) c->logs = sy_xcalloc(SY_LOGF__SLOTS, sizeof(*c->logs));
    char sql[2048];
    logs_sql(mask, sql, sizeof(sql));
    err = prepare(c, &c->logs[mask], sql, msg, msglen);
    if (err) {
        sy_store_log_page_free(page);
        goto out;
    }
    sqlite3_stmt *st = c->logs[mask];
    bind_named_i64(st, ":from", f->from_us);
    bind_named_i64(st, ":to", f->to_us);
    bind_named_text(st, ":model", f->model, SQLITE_STATIC);
    bind_named_text(st, ":provider", f->provider, SQLITE_STATIC);
    bind_named_text(st, ":key", f->key_id, SQLITE_STATIC);
    bind_named_text(st, ":user", f->user_id, SQLITE_STATIC);
    if (lq.status) bind_named_text(st, ":status", lq.status, SQLITE_STATIC);
    if (f->text) {
        char *pat = like_pattern(f->text);
        bind_named_text(st, ":text", pat, SQLITE_TRANSIENT);
        free(pat);
    }
    bind_named_i64(st, ":ct", lq.cursor_t);
    if (mask & SY_LOGF_CURSOR) bind_named_text(st, ":cid", lq.cursor_id, SQLITE_STATIC);
    bind_named_i64(st, ":limit", (int64_t)limit + 1); /* one more tells whether a page follows */

    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sy_logquery_page_full(&lq, page)) break;
        err = row_to_record(st, false, &page->rows[page->n], msg, msglen);
        if (err) break;
        page->n++;
    }
    if (!err && rc != SQLITE_ROW && rc != SQLITE_DONE) err = db_fail(c->db, msg, msglen, "logs");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (err) sy_store_log_page_free(page);
out:
    reader_give(s, c);
    return err;
}

/* ---- stats ------------------------------------------------------------------------------- */

typedef struct vec {
    int64_t *v;
    size_t n, cap;
} vec_t;

static void vec_push(vec_t *a, int64_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 1024;
        a->v = sy_xrealloc(a->v, a->cap * sizeof(*a->v));
    }
    a->v[a->n++] = x;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank on sorted values: the value at 1-based rank ceil(p/100 * n). */
static int64_t pct(const vec_t *a, int p)
{
    if (!a->n) return SY_LOG_UNKNOWN;
    size_t rank = ((size_t)p * a->n + 99) / 100;
    if (rank < 1) rank = 1;
    return a->v[rank - 1];
}

typedef struct cell {
    sy_stats_row_t row;
    vec_t lat, ttft;
    int64_t tok_out_ok, lat_ok_us;
    bool open;
} cell_t;

static void cell_finish(cell_t *c, sy_stats_result_t *res, size_t *cap)
{
    if (!c->open) return;
    if (c->lat.n) qsort(c->lat.v, c->lat.n, sizeof(int64_t), cmp_i64);
    if (c->ttft.n) qsort(c->ttft.v, c->ttft.n, sizeof(int64_t), cmp_i64);
    sy_stats_row_t *r = &c->row;
    r->latency_p50_us = pct(&c->lat, 50);
    r->latency_p95_us = pct(&c->lat, 95);
    r->latency_p99_us = pct(&c->lat, 99);
    r->ttft_p50_us = pct(&c->ttft, 50);
    r->ttft_p95_us = pct(&c->ttft, 95);
    sy_stats_row_set_rates(r, c->tok_out_ok, c->lat_ok_us);
    if (res->n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        res->rows = sy_xrealloc(res->rows, *cap * sizeof(*res->rows));
    }
    res->rows[res->n++] = *r;
    c->lat.n = c->ttft.n = 0;
    c->open = false;
}

static const char *const stats_sql[4] = {
#define STATS_SQL(grp)                                                                             \
    "SELECT t_received_us - (t_received_us % :bucket) AS b, " grp " AS g, status, latency_us, "    \
    "ttft_us, input_tokens, output_tokens, cost_nanousd FROM inference_log "                       \
    "WHERE t_received_us >= :from AND t_received_us < :to ORDER BY b, g"
    [SY_STATS_GROUP_NONE] = STATS_SQL("NULL"),
    [SY_STATS_GROUP_MODEL] = STATS_SQL("model"),
    [SY_STATS_GROUP_PROVIDER] = STATS_SQL("provider"),
    [SY_STATS_GROUP_KEY] = STATS_SQL("key_id"),
#undef STATS_SQL
};

/* Exact: every raw row of the range, percentiles by sorting each cell's values. */
static sy_err_t stats_exact(conn_t *c, const sy_stats_query_t *q, sy_stats_result_t *res, char *msg,
                            size_t msglen)
{
    sy_err_t err = prepare(c, &c->stats[q->group_by], stats_sql[q->group_by], msg, msglen);
    if (err) return err;
    sqlite3_stmt *st = c->stats[q->group_by];
    bind_named_i64(st, ":bucket", q->bucket_us);
    bind_named_i64(st, ":from", q->from_us);
    bind_named_i64(st, ":to", q->to_us);

    cell_t cell = {0};
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t b = sqlite3_column_int64(st, 0);
        sy_str_t g = col_str(st, 1);
        bool same = cell.open && cell.row.bucket_start_us == b &&
                    ((!g.ptr && !cell.row.group) ||
                     (g.ptr && cell.row.group && strlen(cell.row.group) == g.len &&
                      memcmp(cell.row.group, g.ptr, g.len) == 0));
        if (!same) {
            cell_finish(&cell, res, &cap);
            memset(&cell.row, 0, sizeof(cell.row));
            cell.row.bucket_start_us = b;
            cell.row.group = g.ptr ? sy_xstrndup(g.ptr, g.len) : NULL;
            cell.row.cost_nanousd = SY_LOG_UNKNOWN;
            cell.tok_out_ok = cell.lat_ok_us = 0;
            cell.open = true;
        }
        sy_stats_row_t *r = &cell.row;
        r->count++;
        bool ok = sy_str_eq_c(col_str(st, 2), "ok");
        if (!ok) r->errors++;
        int64_t lat = col_i64(st, 3), ttft = col_i64(st, 4), in = col_i64(st, 5),
                out = col_i64(st, 6), cost = col_i64(st, 7);
        if (lat >= 0) vec_push(&cell.lat, lat);
        if (ttft >= 0) vec_push(&cell.ttft, ttft);
        if (in >= 0) r->input_tokens += in;
        if (out >= 0) r->output_tokens += out;
        if (ok && out >= 0 && lat >= 0) {
            cell.tok_out_ok += out;
            cell.lat_ok_us += lat;
        }
        if (cost >= 0)
            r->cost_nanousd = (r->cost_nanousd < 0 ? 0 : r->cost_nanousd) + cost;
        else
            r->cost_unknown++;
    }
    cell_finish(&cell, res, &cap);
    free(cell.lat.v);
    free(cell.ttft.v);
    if (rc != SQLITE_DONE) err = db_fail(c->db, msg, msglen, "stats");
    sqlite3_reset(st);
    return err;
}

/* ---- stats from the rollup --------------------------------------------------------------- */

static const char *const roll_sql[4] = {
#define ROLL_SQL(grp)                                                                              \
    "SELECT minute_us, " grp ", count, errors, input_tokens, output_tokens, cost_nanousd, "        \
    "cost_unknown, ok_output_tokens, ok_latency_us, latency_hist, ttft_hist FROM stats_minute "    \
    "WHERE minute_us >= :from AND minute_us < :to ORDER BY minute_us"
    [SY_STATS_GROUP_NONE] = ROLL_SQL("NULL"),
    [SY_STATS_GROUP_MODEL] = ROLL_SQL("model"),
    [SY_STATS_GROUP_PROVIDER] = ROLL_SQL("provider"),
    [SY_STATS_GROUP_KEY] = ROLL_SQL("key_id"),
#undef ROLL_SQL
};

/* From stats_minute, in minute order, through the shared reader (store/rollup.h). */
static sy_err_t stats_rollup(conn_t *c, const sy_stats_query_t *q, sy_stats_result_t *res,
                             char *msg, size_t msglen)
{
    sy_err_t err = prepare(c, &c->roll[q->group_by], roll_sql[q->group_by], msg, msglen);
    if (err) return err;
    sqlite3_stmt *st = c->roll[q->group_by];
    bind_named_i64(st, ":from", q->from_us);
    bind_named_i64(st, ":to", q->to_us);
    sy_rollup_reader_t *rd = sy_rollup_reader_new(q, res);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t m = sqlite3_column_int64(st, 0), v[SY_ROLLUP_NV];
        for (int i = 0; i < SY_ROLLUP_NV; i++)
            v[i] = sqlite3_column_int64(st, i + 2);
        if (sy_rollup_reader_add(rd, m, col_str(st, 1), v, sqlite3_column_blob(st, 10),
                                 (size_t)sqlite3_column_bytes(st, 10), sqlite3_column_blob(st, 11),
                                 (size_t)sqlite3_column_bytes(st, 11))) {
            err = sy_store_fail(SY_ERR_CORRUPT, msg, msglen,
                                "sqlite: stats_minute: corrupt histogram at minute %" PRId64, m);
            break;
        }
    }
    if (!err && rc != SQLITE_DONE) err = db_fail(c->db, msg, msglen, "stats rollup");
    sy_rollup_reader_finish(rd);
    sqlite3_reset(st);
    return err;
}

/* Whether [from, to) holds more than max rows: counts at most max + 1 index entries. */
static sy_err_t range_exceeds(conn_t *c, const sy_stats_query_t *q, int64_t max, bool *over,
                              char *msg, size_t msglen)
{
    sy_err_t err = prepare(c, &c->probe,
                           "SELECT count(*) FROM (SELECT 1 FROM inference_log WHERE t_received_us"
                           " >= :from AND t_received_us < :to LIMIT :lim)",
                           msg, msglen);
    if (err) return err;
    bind_named_i64(c->probe, ":from", q->from_us);
    bind_named_i64(c->probe, ":to", q->to_us);
    bind_named_i64(c->probe, ":lim", max + 1);
    if (sqlite3_step(c->probe) == SQLITE_ROW)
        *over = sqlite3_column_int64(c->probe, 0) > max;
    else
        err = db_fail(c->db, msg, msglen, "stats probe");
    sqlite3_reset(c->probe);
    return err;
}

static sy_err_t s_query_stats(sy_store_t *base, const sy_stats_query_t *q, sy_stats_result_t *res,
                              char *msg, size_t msglen)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    memset(res, 0, sizeof(*res));
    sy_err_t err = sy_stats_query_check(q, msg, msglen);
    if (err) return err;
    conn_t *c;
    err = reader_take(s, &c, msg, msglen);
    if (err) return err;
    /* the rollup holds whole minutes: only minute-aligned queries can use it, and only when
     * the range is big enough for the exact path to be slow */
    bool rollup = s->known >= ROLLUP_VERSION && sy_rollup_aligned(q);
    if (rollup && s->exact_max_rows == INT64_MAX) rollup = false; /* "always exact" */
    if (rollup && s->exact_max_rows >= 0)
        err = range_exceeds(c, q, s->exact_max_rows, &rollup, msg, msglen);
    if (!err)
        err = rollup ? stats_rollup(c, q, res, msg, msglen) : stats_exact(c, q, res, msg, msglen);
    if (err) sy_store_stats_free(res);
    reader_give(s, c);
    return err;
}

/* ---- app data ---------------------------------------------------------------------------- */

static sy_err_t s_app_exec(sy_store_t *base, const char *sql, const sy_app_param_t *params,
                           size_t n, size_t max_rows, sy_app_rows_t *rows, int64_t *changes,
                           char *msg, size_t msglen)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st = NULL;
    sy_err_t err = SY_OK;
    size_t cap = 0;
    if (rows) memset(rows, 0, sizeof(*rows));
    pthread_mutex_lock(&s->wlock);
    conn_t *c = s->writer;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        err = db_fail(c->db, msg, msglen, "prepare");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char name[8];
        snprintf(name, sizeof(name), "$%zu", i + 1);
        int idx = sqlite3_bind_parameter_index(st, name);
        if (!idx) continue; /* a parameter the statement does not use */
        if (params[i].kind == SY_APP_TEXT)
            sqlite3_bind_text(st, idx, params[i].text, -1, SQLITE_STATIC);
        else if (params[i].kind == SY_APP_I64)
            sqlite3_bind_int64(st, idx, params[i].i64);
        else
            sqlite3_bind_null(st, idx);
    }
    int rc;
    size_t ncol = (size_t)sqlite3_column_count(st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!rows) continue;
        if (rows->n_rows >= max_rows) {
            err = sy_store_fail(SY_ERR_STORE, msg, msglen, "sqlite: more than %zu rows", max_rows);
            goto out;
        }
        rows->n_cols = ncol;
        if ((rows->n_rows + 1) * ncol > cap) {
            cap = cap ? cap * 2 : ncol * 8;
            rows->cells = sy_xrealloc(rows->cells, cap * sizeof(char *));
        }
        for (size_t k = 0; k < ncol; k++) {
            const unsigned char *t = sqlite3_column_text(st, (int)k);
            rows->cells[rows->n_rows * ncol + k] =
                t ? sy_xstrndup((const char *)t, (size_t)sqlite3_column_bytes(st, (int)k)) : NULL;
        }
        rows->n_rows++;
    }
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        err = sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "already exists (%s)",
                            sqlite3_errmsg(c->db));
        goto out;
    }
    if (rc != SQLITE_DONE) {
        err = db_fail(c->db, msg, msglen, "app data");
        goto out;
    }
    if (changes) *changes = sqlite3_changes64(c->db);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->wlock);
    if (err && rows) sy_store_app_rows_free(rows);
    return err;
}

const sy_store_vtable_t sy_store_sqlite = {
    .name = "sqlite",
    .scheme = "sqlite",
    .caps = SY_STORE_CAP_LOGS | SY_STORE_CAP_APPDATA | SY_STORE_CAP_ATOMIC_BATCH |
            SY_STORE_CAP_DEDUP_ON_WRITE | SY_STORE_CAP_STATS_ROLLUP,
    .open = s_open,
    .close = s_close,
    .migrate = s_migrate,
    .write_batch = s_write_batch,
    .query_logs = s_query_logs,
    .get_log = s_get_log,
    .query_stats = s_query_stats,
    .app_exec = s_app_exec,
};
