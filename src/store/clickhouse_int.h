/* Internals shared by the ClickHouse backend's files (store/clickhouse*.c); nothing else
 * includes this. clickhouse.c: connections, open, migrate, write_batch, query_logs, get_log, the
 * vtable (its DESIGN block covers both files); clickhouse_stats.c: query_stats (exact path,
 * stats_minute and the stats_roll levels). */
#ifndef SY_STORE_CLICKHOUSE_INT_H
#define SY_STORE_CLICKHOUSE_INT_H
#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/str.h"
#include "store/store.h"

typedef struct conn {
    CURL *h;
    sy_buf_t resp;   /* reply body */
    sy_buf_t req;    /* request body: SQL or RowBinary rows */
    long timeout_ms; /* 0: the store's */
    struct conn *next;
} conn_t;

typedef struct ch_store {
    sy_store_t base;
    char *url;              /* http://host:port/?database=<db> (no credentials) */
    char *insert_url;       /* url + &query=INSERT … FORMAT RowBinary */
    char *userpwd;          /* "user:password" or NULL */
    char *db;               /* database name, for messages */
    int known;              /* newest migration this binary applies */
    int64_t exact_max_rows; /* query_stats: exact over raw rows up to this many (< 0: never) */
    long timeout_ms;
    pthread_mutex_t plock;
    conn_t *idle;
    int n_idle;
} ch_store_t;

/* A pooled connection (≤ 8 idle kept); give it back when done with its reply. */
conn_t *sy_ch_conn_take(ch_store_t *s);
void sy_ch_conn_give(ch_store_t *s, conn_t *c);
/* POSTs c->req (a SELECT … FORMAT RowBinary) and waits for the whole reply in c->resp. */
sy_err_t sy_ch_select(ch_store_t *s, conn_t *c, char *msg, size_t msglen);
/* The same with query settings as URL parameters ("name=value&name=value"; NULL: none). */
sy_err_t sy_ch_select_with(ch_store_t *s, conn_t *c, const char *settings, char *msg,
                           size_t msglen);
/* Several SELECTs at once (≤ 4; a thread each but the first, one pooled connection each):
 * cs[i]->req with settings[i] (settings or its elements may be NULL). Waits for every reply; the
 * first error in cs order is returned. */
sy_err_t sy_ch_select_many(ch_store_t *s, conn_t *const *cs, const char *const *settings, size_t n,
                           char *msg, size_t msglen);
sy_err_t sy_ch_query_stats(sy_store_t *base, const sy_stats_query_t *qq, sy_stats_result_t *res,
                           char *msg, size_t msglen);

/* ---- RowBinary decoding ------------------------------------------------------------------ */

typedef struct rd {
    const unsigned char *p, *end;
    bool bad;
} rd_t;

static inline bool rd_need(rd_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return false;
    }
    return true;
}

static inline uint64_t rd_u64le(rd_t *r, size_t n)
{
    if (!rd_need(r, n)) return 0;
    uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&v, r->p, n); /* n <= 8: the low bytes, as the loop below */
    r->p += n;
    return v;
#endif
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    return v;
}

static inline uint64_t rd_varint(rd_t *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (!rd_need(r, 1)) return 0;
        unsigned char b = *r->p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) return v;
    }
    r->bad = true;
    return 0;
}

static inline bool rd_null(rd_t *r)
{
    return rd_u64le(r, 1) != 0;
}

static inline sy_str_t rd_str(rd_t *r)
{
    uint64_t n = rd_varint(r);
    if (!rd_need(r, n)) return SY_STR_NULL;
    sy_str_t v = sy_str((const char *)r->p, n);
    r->p += n;
    return v;
}

static inline sy_str_t rd_nstr(rd_t *r)
{
    return rd_null(r) ? SY_STR_NULL : rd_str(r);
}

static inline int64_t rd_i64(rd_t *r)
{
    return (int64_t)rd_u64le(r, 8);
}

#endif
