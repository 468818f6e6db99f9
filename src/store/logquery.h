/* Private to store/: what the backends' query_logs / get_log share, so the three do not repeat
 * it (docs/internals/STORE.md). The SQL itself stays in each backend: their dialects differ
 * (named binds, $n, quoted literals) and so do their text searches.
 *   - sy_logquery_init: query_logs' arguments checked as store.h says (limit, cursor, status) and
 *     described once: the set of filters that apply (one bit each: SQLite and PostgreSQL prepare
 *     one statement per combination), the parsed cursor, the status name;
 *   - sy_logquery_page_full: page assembly (the query asks for limit + 1 rows: the extra one only
 *     says that a next page exists);
 *   - sy_logrow_decode: one result row (inference_log columns in store/columns.h order, tags as
 *     a JSON array text) into an owned record, through a small column-reader vtable (SQLite
 *     statement, PostgreSQL result). ClickHouse reads RowBinary sequentially instead. */
#ifndef SY_STORE_LOGQUERY_H
#define SY_STORE_LOGQUERY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"
#include "store/store.h"

/* query_logs filter bits */
enum {
    SY_LOGF_FROM = 1 << 0,
    SY_LOGF_TO = 1 << 1,
    SY_LOGF_MODEL = 1 << 2,
    SY_LOGF_PROVIDER = 1 << 3,
    SY_LOGF_KEY = 1 << 4,
    SY_LOGF_USER = 1 << 5,
    SY_LOGF_STATUS = 1 << 6,
    SY_LOGF_TEXT = 1 << 7,
    SY_LOGF_CURSOR = 1 << 8,
    SY_LOGF_ASC = 1 << 9,
    SY_LOGF__SLOTS = 1 << 10 /* combinations */
};

typedef struct sy_logquery {
    const sy_log_filter_t *f; /* borrowed */
    size_t limit;             /* 1..SY_STORE_LOGS_MAX_LIMIT */
    unsigned mask;            /* SY_LOGQ_* filters that apply */
    int64_t cursor_t;         /* SY_LOGF_CURSOR: after (or before) this row */
    char cursor_id[SY_UUID_STRLEN + 1];
    const char *status; /* SY_LOGF_STATUS: the status name */
} sy_logquery_t;

/* Checks and describes the arguments; on success page is zeroed with room for limit rows (free
 * it with sy_store_log_page_free). SY_ERR_INVALID_REQUEST for a bad limit, cursor or status. */
sy_err_t sy_logquery_init(sy_logquery_t *q, const sy_log_filter_t *f, const char *cursor,
                          size_t limit, sy_log_page_t *page, char *msg, size_t msglen);
/* Called before adding a row: true when the page holds limit rows already — the row at hand is
 * the extra one, so next_cursor is set from the page's last row and the caller stops. */
bool sy_logquery_page_full(const sy_logquery_t *q, sy_log_page_t *page);

/* Reads the columns of one result row by store/columns.h index. */
typedef struct sy_logrow_src {
    const char *backend; /* for messages: "sqlite" */
    /* text, ptr NULL for SQL NULL */
    sy_str_t (*str)(const struct sy_logrow_src *s, int col);
    /* integer, SY_LOG_UNKNOWN for SQL NULL */
    int64_t (*i64)(const struct sy_logrow_src *s, int col);
    /* boolean column (truncation flags) */
    bool (*flag)(const struct sy_logrow_src *s, int col);
    const void *res; /* the backend's result (statement) */
    int row;         /* its row, where the result holds several */
} sy_logrow_src_t;

/* The row as an owned record (with or without the two bodies). SY_ERR_CORRUPT when the tags
 * column is not a JSON array. */
sy_err_t sy_logrow_decode(const sy_logrow_src_t *src, bool bodies, sy_log_record_t **out, char *msg,
                          size_t msglen);

#endif
