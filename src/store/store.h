/* THE store interface. One const vtable per backend (store/<vendor>.c, vtable
 * sy_store_<vendor>), listed in sy_store_backends[] (store/store.c), like curl's vtls backends.
 * docs/internals/STORE.md has the schema and what every backend must provide; the conformance
 * suite tests/unit/test_store.c runs against each backend through this header only.
 *
 * Threads: every slot may block (disk, network). Call them ONLY from worker/writer threads
 * (the log writer thread, libuv's thread pool), never from a loop thread. A sy_store_t is
 * thread-safe: any number of threads may call any slot at the same time (SQLite: one writer
 * connection behind a mutex plus a pool of reader connections, so readers never wait for the
 * writer under WAL; PostgreSQL: the same shape with libpq connections).
 *
 * Errors: fallible slots return sy_err_t (SY_OK, SY_ERR_STORE, SY_ERR_STORE_SCHEMA,
 * SY_ERR_INVALID_REQUEST for a bad filter/cursor, SY_ERR_NOT_FOUND) and write a one-line,
 * human-readable reason into msg (msglen bytes, always NUL-terminated, no secrets such as
 * passwords from the URL). msg may be NULL when the caller does not want it. */
#ifndef SY_STORE_STORE_H
#define SY_STORE_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "logpipe/record.h"

#define SY_STORE_MSGLEN 256

/* Capability bits (sy_store_vtable_t.caps). */
enum {
    SY_STORE_CAP_LOGS = 1u << 0,    /* holds the inference log (every backend) */
    SY_STORE_CAP_APPDATA = 1u << 1, /* can hold app data: keys, users, … (SQLite, PostgreSQL) */
    /* write_batch is all-or-nothing (a failed batch leaves no row behind) */
    SY_STORE_CAP_ATOMIC_BATCH = 1u << 2,
    /* a duplicate row id is dropped at write time, so replaying a spool is exactly-once the
     * moment write_batch returns (ClickHouse only deduplicates eventually) */
    SY_STORE_CAP_DEDUP_ON_WRITE = 1u << 3,
    /* percentiles in query_stats are always exact (nearest rank over raw rows) */
    SY_STORE_CAP_EXACT_PERCENTILES = 1u << 4,
    /* query_stats answers large minute-aligned ranges from a per-minute rollup: counts, tokens,
     * errors, tokens/s and cost stay exact, percentiles come from histograms (within
     * SY_STORE_STATS_PCT_REL_ERROR) and the result says so (approximate_percentiles) */
    SY_STORE_CAP_STATS_ROLLUP = 1u << 5,
};

/* How to open a store. Only url is required. */
typedef struct sy_store_conf {
    /* Backend by scheme. SQLite: "sqlite:" + path; a relative path (or empty: "switchyard.db")
     * is inside data_dir. e.g. "sqlite:" → <data_dir>/switchyard.db, "sqlite:/var/x.db".
     * PostgreSQL: a libpq URI, "postgres://user:pw@host:port/db?sslmode=…" (or postgresql://). */
    const char *url;
    const char *data_dir; /* default "." */
    /* Test hook: behave as if this binary knew only migrations 1..schema_limit (0 = all known).
     * Lets the conformance suite build a "newer schema than the binary" database. */
    int schema_limit;
    int busy_timeout_ms; /* how long to wait on a locked database (0: 5000) */
    /* query_stats stays exact over raw rows while the range holds at most this many rows
     * (0: SY_STORE_STATS_EXACT_MAX_ROWS; < 0: never, i.e. every minute-aligned query uses the
     * rollup — a test hook; INT64_MAX: always exact). Backends without STATS_ROLLUP ignore it. */
    int64_t stats_exact_max_rows;
} sy_store_conf_t;

/* A store handle. Backends embed it first in their own struct. */
typedef struct sy_store {
    const struct sy_store_vtable *vt;
} sy_store_t;

/* Which rows query_logs returns. Zero-initialise, then set what you need: every NULL string,
 * every 0 time and has_status false is "no filter". Filters combine with AND. */
typedef struct sy_log_filter {
    int64_t from_us;   /* t_received_us >= from_us (0: no lower bound) */
    int64_t to_us;     /* t_received_us <  to_us (0: no upper bound) */
    const char *model; /* public model, exact */
    const char *provider;
    const char *key_id;
    const char *user_id;
    bool has_status; /* filter on status below */
    sy_log_status_t status;
    /* Substring in the request body, response body or error message; ASCII case-insensitive,
     * other characters exact. */
    const char *text;
    bool ascending; /* oldest first; default newest first */
} sy_log_filter_t;

/* Opaque cursor text: at most SY_STORE_CURSOR_MAX-1 chars. */
#define SY_STORE_CURSOR_MAX 64

/* One page of query_logs: records WITHOUT bodies (sizes and truncation flags are set). Order
 * is (t_received_us, id), descending unless filter->ascending. Owned by the caller:
 * sy_store_log_page_free. */
typedef struct sy_log_page {
    sy_log_record_t **rows;
    size_t n;
    /* When more rows may follow: the cursor for the next page; "" at the end. */
    char next_cursor[SY_STORE_CURSOR_MAX];
} sy_log_page_t;

typedef enum sy_stats_group {
    SY_STATS_GROUP_NONE = 0,
    SY_STATS_GROUP_MODEL,    /* public model */
    SY_STATS_GROUP_PROVIDER, /* provider */
    SY_STATS_GROUP_KEY,      /* key_id */
} sy_stats_group_t;

typedef struct sy_stats_query {
    int64_t from_us; /* t_received_us in [from_us, to_us): required, from < to */
    int64_t to_us;
    /* Bucket width (> 0). Buckets are aligned to the epoch: start = t - t % bucket_us. */
    int64_t bucket_us;
    sy_stats_group_t group_by;
} sy_stats_query_t;

/* One (bucket, group) cell. Percentiles are nearest rank over rows whose value is known
 * (value at 1-based rank ceil(p/100 * n) in ascending order), SY_LOG_UNKNOWN when no row has
 * one. */
typedef struct sy_stats_row {
    int64_t bucket_start_us;
    char *group;       /* model / provider / key id; NULL for GROUP_NONE or a NULL column */
    int64_t count;     /* rows */
    int64_t errors;    /* rows with status != ok */
    double error_rate; /* errors / count */
    int64_t latency_p50_us, latency_p95_us, latency_p99_us;
    int64_t ttft_p50_us, ttft_p95_us;
    int64_t input_tokens; /* sums over rows where known */
    int64_t output_tokens;
    /* Σ output_tokens / Σ latency seconds, over status=ok rows with both known; 0 if none.
     * The two sums are given too, so cells can be added up exactly (e.g. totals). */
    double tokens_per_s;
    int64_t ok_output_tokens, ok_latency_us;
    int64_t cost_nanousd; /* Σ known costs; SY_LOG_UNKNOWN when no row in the cell has one */
    int64_t cost_unknown; /* rows whose cost is NULL: a total is partial when this is > 0 */
} sy_stats_row_t;

/* Rows sorted by (bucket_start_us, group) ascending, NULL group first. Empty cells are not
 * returned. Owned by the caller: sy_store_stats_free. */
typedef struct sy_stats_result {
    sy_stats_row_t *rows;
    size_t n;
    /* true: the percentiles came from the per-minute rollup's histograms and are within
     * SY_STORE_STATS_PCT_REL_ERROR of the exact nearest-rank values (see query_stats); counts,
     * errors, tokens, tokens/s and cost are exact either way. false: exact nearest rank. */
    bool approximate_percentiles;
    /* approximate only: the worst relative error of a percentile in this result; 0 means
     * SY_STORE_STATS_PCT_REL_ERROR (ClickHouse's 5 min and 1 h levels keep coarser histograms:
     * SY_STORE_STATS_PCT_REL_ERROR_COARSE). Read it through sy_stats_pct_rel_error. */
    double pct_rel_error;
} sy_stats_result_t;

/* App data (users, teams, keys, sessions, audit log: store/appdata.h) travels through one
 * primitive, app_exec: a parameterised statement in the SQL subset that SQLite and PostgreSQL
 * share ($1… placeholders, ON CONFLICT upserts, text and 64-bit integer values). The typed API
 * in store/appdata.c writes each statement once for both backends instead of two copies of
 * every query (docs/internals/AUTH.md). */
typedef enum { SY_APP_NULL = 0, SY_APP_TEXT, SY_APP_I64 } sy_app_kind_t;
typedef struct sy_app_param {
    sy_app_kind_t kind;
    const char *text; /* SY_APP_TEXT: NUL-terminated UTF-8 */
    int64_t i64;      /* SY_APP_I64 */
} sy_app_param_t;
/* Rows of an app_exec answer as text cells (integers in decimal), row-major; a cell is NULL
 * for SQL NULL. Owned by the caller: sy_store_app_rows_free. */
typedef struct sy_app_rows {
    size_t n_rows, n_cols;
    char **cells;
} sy_app_rows_t;

typedef struct sy_store_vtable {
    const char *name;   /* "sqlite" */
    const char *scheme; /* URL scheme selecting this backend: "sqlite" */
    const char *alias;  /* a second scheme selecting it ("postgresql"), NULL if none */
    unsigned caps;      /* SY_STORE_CAP_* */

    /* Connects/opens. Does NOT migrate: call migrate before anything else. On error *out is
     * untouched and nothing needs closing. */
    sy_err_t (*open)(const sy_store_conf_t *conf, sy_store_t **out, char *msg, size_t msglen);
    /* Closes and frees (NULL is fine). No other call may be in flight. */
    void (*close)(sy_store_t *s);
    /* Brings the schema to the newest version this binary knows, applying each missing
     * migration in order and recording it in schema_migrations(version, applied_at).
     * Idempotent. A database whose version is newer than the binary knows is refused:
     * SY_ERR_STORE_SCHEMA, with both versions in msg, and nothing is changed. *version (may be
     * NULL) receives the resulting schema version. */
    sy_err_t (*migrate)(sy_store_t *s, int *version, char *msg, size_t msglen);
    /* Inserts n records in one transaction. Idempotent by record id: a row whose id exists
     * already is skipped, not an error (spool replay). Records are borrowed for the call. */
    sy_err_t (*write_batch)(sy_store_t *s, const sy_log_record_t *const *recs, size_t n, char *msg,
                            size_t msglen);
    /* Up to limit (1..1000) rows matching f, after cursor (NULL or "" = first page). A cursor
     * is only valid with the same filter. SY_ERR_INVALID_REQUEST for a malformed cursor or
     * limit. page is filled on success (free it with sy_store_log_page_free). */
    sy_err_t (*query_logs)(sy_store_t *s, const sy_log_filter_t *f, const char *cursor,
                           size_t limit, sy_log_page_t *page, char *msg, size_t msglen);
    /* One row with its bodies. SY_ERR_NOT_FOUND when no row has that id. *out is an owned
     * record (sy_log_record_free). */
    sy_err_t (*get_log)(sy_store_t *s, const char *id, sy_log_record_t **out, char *msg,
                        size_t msglen);
    /* Aggregates over [from, to): see sy_stats_row_t. SY_ERR_INVALID_REQUEST for a bad range
     * or bucket, or more than SY_STORE_STATS_MAX_BUCKETS buckets.
     * Backends with STATS_ROLLUP answer from their per-minute rollup when from, to and bucket
     * are whole minutes and the range holds more than stats_exact_max_rows rows; then
     * out->approximate_percentiles is true and every percentile is within
     * SY_STORE_STATS_PCT_REL_ERROR (relative) of the exact nearest-rank value; everything else
     * in the row is exact. Otherwise the answer is computed exactly over raw rows. */
    sy_err_t (*query_stats)(sy_store_t *s, const sy_stats_query_t *q, sy_stats_result_t *out,
                            char *msg, size_t msglen);
    /* APPDATA backends only (NULL otherwise). Runs one statement with params $1..$n (n <= 16)
     * on the writer connection (app data is small; one connection keeps reads after writes
     * consistent). Rows beyond max_rows are an error (SY_ERR_STORE), so callers bound their
     * queries with LIMIT. rows may be NULL when no rows are wanted; *changes (may be NULL)
     * receives the rows an INSERT/UPDATE/DELETE touched. A unique-constraint violation is
     * SY_ERR_INVALID_REQUEST ("already exists"). */
    sy_err_t (*app_exec)(sy_store_t *s, const char *sql, const sy_app_param_t *params, size_t n,
                         size_t max_rows, sy_app_rows_t *rows, int64_t *changes, char *msg,
                         size_t msglen);
} sy_store_vtable_t;

#define SY_STORE_APP_MAX_PARAMS 16

#define SY_STORE_STATS_MAX_BUCKETS 10000
/* Default stats_exact_max_rows: the exact path reads ~0.5 M raw rows/s on the shared 2-core dev
 * VM (SQLite), so 100,000 rows stay ~200 ms; above, the rollup answers (docs/PERFORMANCE.md). */
#define SY_STORE_STATS_EXACT_MAX_ROWS 100000
/* Worst relative error of a rollup percentile (store/hist.h: 1/128 = 0.79 %). */
#define SY_STORE_STATS_PCT_REL_ERROR (1.0 / 128.0)
/* ... of one from 16 sub-buckets per octave reported at a fine bucket's midpoint: 2.5/64 = 3.9 % */
#define SY_STORE_STATS_PCT_REL_ERROR_COARSE (2.5 / 64.0)

/* The worst relative error of res's percentiles: 0 when exact. */
static inline double sy_stats_pct_rel_error(const sy_stats_result_t *res)
{
    if (!res->approximate_percentiles) return 0;
    return res->pct_rel_error > 0 ? res->pct_rel_error : SY_STORE_STATS_PCT_REL_ERROR;
}
#define SY_STORE_LOGS_MAX_LIMIT 1000

extern const sy_store_vtable_t sy_store_sqlite;
/* "postgres://" or "postgresql://" + a libpq connection URI (store/postgres.c). */
extern const sy_store_vtable_t sy_store_postgres;
/* clickhouse://[user[:password]@]host[:port][/database] (HTTP interface; port 8123, database
 * "default" unless given). Inference log only: caps LOGS | STATS_ROLLUP. */
extern const sy_store_vtable_t sy_store_clickhouse;
/* NULL-terminated list of compiled-in backends. */
extern const sy_store_vtable_t *const sy_store_backends[];

/* Picks the backend by conf->url's scheme and opens it (does not migrate). SY_ERR_CONFIG for an
 * unknown scheme. */
sy_err_t sy_store_open(const sy_store_conf_t *conf, sy_store_t **out, char *msg, size_t msglen);
/* sy_store_open + migrate: what the gateway does at start. */
sy_err_t sy_store_open_migrated(const sy_store_conf_t *conf, sy_store_t **out, char *msg,
                                size_t msglen);

/* snprintf into msg when msg != NULL; returns err. */
sy_err_t sy_store_fail(sy_err_t err, char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Thin dispatchers to s->vt (same contracts as the slots). */
static inline void sy_store_close(sy_store_t *s)
{
    if (s) s->vt->close(s);
}
static inline sy_err_t sy_store_write_batch(sy_store_t *s, const sy_log_record_t *const *recs,
                                            size_t n, char *msg, size_t msglen)
{
    return s->vt->write_batch(s, recs, n, msg, msglen);
}
static inline sy_err_t sy_store_query_logs(sy_store_t *s, const sy_log_filter_t *f,
                                           const char *cursor, size_t limit, sy_log_page_t *page,
                                           char *msg, size_t msglen)
{
    return s->vt->query_logs(s, f, cursor, limit, page, msg, msglen);
}
static inline sy_err_t sy_store_get_log(sy_store_t *s, const char *id, sy_log_record_t **out,
                                        char *msg, size_t msglen)
{
    return s->vt->get_log(s, id, out, msg, msglen);
}
static inline sy_err_t sy_store_query_stats(sy_store_t *s, const sy_stats_query_t *q,
                                            sy_stats_result_t *out, char *msg, size_t msglen)
{
    return s->vt->query_stats(s, q, out, msg, msglen);
}

static inline sy_err_t sy_store_app_exec(sy_store_t *s, const char *sql,
                                         const sy_app_param_t *params, size_t n, size_t max_rows,
                                         sy_app_rows_t *rows, int64_t *changes, char *msg,
                                         size_t msglen)
{
    if (!s->vt->app_exec)
        return sy_store_fail(SY_ERR_STORE, msg, msglen,
                             "%s cannot hold app data (users, keys): use sqlite or postgres",
                             s->vt->name);
    return s->vt->app_exec(s, sql, params, n, max_rows, rows, changes, msg, msglen);
}
/* Cell (row, col) of an app_exec answer, NULL for SQL NULL. */
static inline const char *sy_store_app_cell(const sy_app_rows_t *r, size_t row, size_t col)
{
    return r->cells[row * r->n_cols + col];
}
void sy_store_app_rows_free(sy_app_rows_t *rows);

/* Frees what query_logs / query_stats returned and zeroes the struct. */
void sy_store_log_page_free(sy_log_page_t *page);
void sy_store_stats_free(sy_stats_result_t *res);

/* Helpers for backends. */
/* Sets ok_output_tokens, ok_latency_us and from them tokens_per_s; error_rate from count and
 * errors. */
void sy_stats_row_set_rates(sy_stats_row_t *r, int64_t ok_output_tokens, int64_t ok_latency_us);
/* Checks a stats query as every backend must (0 <= from < to, bucket > 0, at most
 * SY_STORE_STATS_MAX_BUCKETS epoch-aligned buckets, a known group_by): SY_ERR_INVALID_REQUEST
 * with the reason in msg. */
sy_err_t sy_stats_query_check(const sy_stats_query_t *q, char *msg, size_t msglen);
/* Cursor text for a row and back. parse: false when malformed. */
void sy_store_cursor_format(char out[SY_STORE_CURSOR_MAX], int64_t t_us, const char *id);
bool sy_store_cursor_parse(const char *cursor, int64_t *t_us, char id[SY_UUID_STRLEN + 1]);

#endif
