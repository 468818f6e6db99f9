/* Internals shared by the PostgreSQL backend's files (store/postgres*.c); nothing else
 * includes this. postgres.c: connections, errors, migrate, app data, the vtable;
 * postgres_write.c: write_batch (COPY); postgres_read.c: query_logs, get_log, query_stats;
 * postgres_rollup.c: the stats_minute rollup (maintenance, back-fill, reads). The DESIGN block
 * is in postgres.c. */
#ifndef SY_STORE_POSTGRES_INT_H
#define SY_STORE_POSTGRES_INT_H
#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/logquery.h"
#include "store/rollup.h"
#include "store/store.h"

#define MAX_IDLE_READERS 8
#define COPY_CHUNK (256u * 1024)
#define MIGRATE_LOCK_ID 7405013352017L /* pg_advisory_xact_lock key: "switchyard migrate" */
#define ROLLUP_LOCK_ID 7405013352018L  /* serialises stats_minute read-merge-writes */
#define PG_ROLLUP_VERSION 4            /* the migration that adds stats_minute */

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

typedef struct conn {
    PGconn *pg;
    bool batch_table; /* writer: the session's temp table exists */
    bool get_ready;
    bool stats_ready[4];
    uint8_t logs_ready[SY_LOGF__SLOTS / 8];
    bool roll_ready[4];     /* readers: the rollup query, by sy_stats_group_t */
    bool probe_ready;       /* readers: rows in a range, bounded */
    bool roll_get_ready;    /* writer: stats_minute rows of some minutes */
    sy_buf_t copy;          /* writer: COPY data */
    sy_buf_t tmp;           /* writer: one tags array literal; rollup parameters */
    sy_rollup_batch_t roll; /* writer: one batch's stats_minute cells (memory reused) */
    struct conn *next;
} conn_t;

typedef struct pg_store {
    sy_store_t base;
    char *url;
    char *password;         /* masked out of every message; NULL if the URL has none */
    char *dbname;           /* for messages */
    int known;              /* newest migration this binary applies */
    int64_t exact_max_rows; /* query_stats: exact over raw rows up to this many (< 0: never) */
    pthread_mutex_t wlock;
    conn_t *writer;
    pthread_mutex_t plock;
    conn_t *idle;
    int n_idle;
} pg_store_t;

/* ---- postgres.c ---------------------------------------------------------------------------- */

/* "postgres: <what>: <first line of text>" into msg, with the URL's password masked; returns
 * err. */
sy_err_t sy_pg_fail_text(pg_store_t *s, sy_err_t err, char *msg, size_t msglen, const char *what,
                         const char *text);
/* SY_ERR_STORE with libpq's message for c. */
sy_err_t sy_pg_conn_fail(pg_store_t *s, conn_t *c, char *msg, size_t msglen, const char *what);
/* SY_ERR_STORE with the server's primary message of r (else libpq's). */
sy_err_t sy_pg_res_fail(pg_store_t *s, conn_t *c, PGresult *r, char *msg, size_t msglen,
                        const char *what);
/* Runs sql (no parameters, no rows wanted); SY_OK on COMMAND_OK/TUPLES_OK. */
sy_err_t sy_pg_exec(pg_store_t *s, conn_t *c, const char *sql, char *msg, size_t msglen,
                    const char *what);
/* Prepares sql as `name` on c unless *ready (then sets it). */
sy_err_t sy_pg_prepare(pg_store_t *s, conn_t *c, bool *ready, const char *name, const char *sql,
                       char *msg, size_t msglen);
/* The writer connection (caller holds wlock), reconnected if the server went away. */
sy_err_t sy_pg_writer_ready(pg_store_t *s, char *msg, size_t msglen);
/* A reader connection from the idle pool (or a new one); give it back with _give. */
sy_err_t sy_pg_reader_take(pg_store_t *s, conn_t **out, char *msg, size_t msglen);
void sy_pg_reader_give(pg_store_t *s, conn_t *c);
/* After a failed call on reader c: true (idle pool emptied) when the connection itself was
 * lost; the caller retries once on a new connection. */
bool sy_pg_reader_lost(pg_store_t *s, conn_t *c, sy_err_t err);

/* ---- postgres_write.c ---------------------------------------------------------------------- */

/* One COPY text-format field: the escaped text, or \N for NULL / SY_LOG_UNKNOWN. */
sy_err_t sy_pg_put_str(sy_buf_t *b, sy_str_t v);
sy_err_t sy_pg_put_i64(sy_buf_t *b, int64_t v);
sy_err_t sy_pg_write_batch(sy_store_t *base, const sy_log_record_t *const *recs, size_t n,
                           char *msg, size_t msglen);

/* ---- postgres_read.c ----------------------------------------------------------------------- */

sy_err_t sy_pg_get_log(sy_store_t *base, const char *id, sy_log_record_t **out, char *msg,
                       size_t msglen);
sy_err_t sy_pg_query_logs(sy_store_t *base, const sy_log_filter_t *f, const char *cursor,
                          size_t limit, sy_log_page_t *page, char *msg, size_t msglen);
sy_err_t sy_pg_query_stats(sy_store_t *base, const sy_stats_query_t *q, sy_stats_result_t *res,
                           char *msg, size_t msglen);

/* ---- postgres_rollup.c --------------------------------------------------------------------- */

/* Folds the rows a batch inserted (ins[0..n), reordered) into stats_minute, inside the writer's
 * open transaction. */
sy_err_t sy_pg_rollup_update(pg_store_t *s, conn_t *c, const sy_log_record_t **ins, size_t n,
                             char *msg, size_t msglen);
/* Migration ROLLUP_VERSION's back-fill: every row already in inference_log, inside the
 * migration's transaction. */
sy_err_t sy_pg_rollup_backfill(pg_store_t *s, conn_t *c, char *msg, size_t msglen);
/* Whether [from, to) holds more than max rows (counts at most max + 1 index entries). */
sy_err_t sy_pg_range_exceeds(pg_store_t *s, conn_t *c, const sy_stats_query_t *q, int64_t max,
                             bool *over, char *msg, size_t msglen);
/* query_stats from stats_minute on reader c. */
sy_err_t sy_pg_rollup_stats(pg_store_t *s, conn_t *c, const sy_stats_query_t *q,
                            sy_stats_result_t *res, char *msg, size_t msglen);

#endif
