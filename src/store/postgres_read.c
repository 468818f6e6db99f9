/* PostgreSQL backend: query_logs, get_log, query_stats. DESIGN in postgres.c. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/utf8.h"
#include "store/columns.h"
#include "store/logquery.h"
#include "store/postgres_int.h"

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

static sy_str_t src_str(const sy_logrow_src_t *s, int col)
{
    return col_str(s->res, s->row, col);
}

static int64_t src_i64(const sy_logrow_src_t *s, int col)
{
    return col_i64(s->res, s->row, col);
}

static bool src_flag(const sy_logrow_src_t *s, int col)
{
    return !PQgetisnull(s->res, s->row, col) && PQgetvalue(s->res, s->row, col)[0] == 't';
}

/* Row `row` of res as an owned record (store/logquery.h). */
static sy_err_t row_to_record(const PGresult *res, int row, bool bodies, sy_log_record_t **out,
                              char *msg, size_t msglen)
{
    sy_logrow_src_t src = {"postgres", src_str, src_i64, src_flag, res, row};
    return sy_logrow_decode(&src, bodies, out, msg, msglen);
}

sy_err_t sy_pg_get_log(sy_store_t *base, const char *id, sy_log_record_t **out, char *msg,
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
    sy_err_t err = sy_pg_reader_take(s, &c, msg, msglen);
    if (err) return err;
    err = sy_pg_prepare(s, c, &c->get_ready, "get",
                        "SELECT " COLS_ALL " FROM inference_log WHERE id = $1::uuid", msg, msglen);
    if (err) goto out;
    const char *params[1] = {id};
    PGresult *r = PQexecPrepared(c->pg, "get", 1, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        err = sy_pg_res_fail(s, c, r, msg, msglen, "get_log");
    else if (PQntuples(r) == 0)
        err = sy_store_fail(SY_ERR_NOT_FOUND, msg, msglen, "no log row with id %.40s", id);
    else
        err = row_to_record(r, 0, true, out, msg, msglen);
    PQclear(r);
out:
    if (!retried && sy_pg_reader_lost(s, c, err)) {
        sy_pg_reader_give(s, c);
        retried = true;
        goto again;
    }
    sy_pg_reader_give(s, c);
    return err;
}

/* The query for a filter mask, with $1… in the order logs_params fills them. */
static void logs_sql(unsigned mask, char *sql, size_t n)
{
    int p = 0;
    size_t k = (size_t)snprintf(sql, n, "SELECT " COLS_NOBODIES " FROM inference_log WHERE true");
#define ADD(bit, fmt)                                                                              \
    if (mask & (bit)) k += (size_t)snprintf(sql + k, n - k, fmt, ++p)
    ADD(SY_LOGF_FROM, " AND t_received_us >= $%d::bigint");
    ADD(SY_LOGF_TO, " AND t_received_us < $%d::bigint");
    ADD(SY_LOGF_MODEL, " AND model = $%d");
    ADD(SY_LOGF_PROVIDER, " AND provider = $%d");
    ADD(SY_LOGF_KEY, " AND key_id = $%d");
    ADD(SY_LOGF_USER, " AND user_id = $%d");
    ADD(SY_LOGF_STATUS, " AND status = $%d");
    /* ASCII case-insensitive: lower() under the C collation folds A-Z only; the needle comes
     * lowered the same way. strpos: no pattern metacharacters to escape. */
    if (mask & SY_LOGF_TEXT) {
        p++;
        k += (size_t)snprintf(sql + k, n - k,
                              " AND (strpos(lower(request_body COLLATE \"C\"), $%d) > 0"
                              " OR strpos(lower(response_body COLLATE \"C\"), $%d) > 0"
                              " OR strpos(lower(error_message COLLATE \"C\"), $%d) > 0)",
                              p, p, p);
    }
    if (mask & SY_LOGF_CURSOR) {
        p += 2;
        k +=
            (size_t)snprintf(sql + k, n - k, " AND (t_received_us, id) %c ($%d::bigint, $%d::uuid)",
                             (mask & SY_LOGF_ASC) ? '>' : '<', p - 1, p);
    }
#undef ADD
    snprintf(sql + k, n - k, " ORDER BY t_received_us %s, id %s LIMIT $%d::bigint",
             (mask & SY_LOGF_ASC) ? "ASC" : "DESC", (mask & SY_LOGF_ASC) ? "ASC" : "DESC", p + 1);
}

sy_err_t sy_pg_query_logs(sy_store_t *base, const sy_log_filter_t *f, const char *cursor,
                          size_t limit, sy_log_page_t *page, char *msg, size_t msglen)
{
    pg_store_t *s = (pg_store_t *)base;
    sy_logquery_t lq;
    sy_err_t err = sy_logquery_init(&lq, f, cursor, limit, page, msg, msglen);
    if (err) return err;
    /* stored text is valid UTF-8, so a filter that is not matches nothing (and the server
     * would reject it as a parameter) */
    const char *strs[] = {f->model, f->provider, f->key_id, f->user_id, f->text};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strs[i] && !sy_utf8_valid(strs[i], strlen(strs[i]))) return SY_OK;

    unsigned mask = lq.mask;
    /* parameters in logs_sql's order */
    const char *params[12];
    char from[24], to[24], ctext[24], lim[24];
    char *needle = NULL;
    int np = 0;
    if (mask & SY_LOGF_FROM)
        snprintf(from, sizeof(from), "%" PRId64, f->from_us), params[np++] = from;
    if (mask & SY_LOGF_TO) snprintf(to, sizeof(to), "%" PRId64, f->to_us), params[np++] = to;
    if (mask & SY_LOGF_MODEL) params[np++] = f->model;
    if (mask & SY_LOGF_PROVIDER) params[np++] = f->provider;
    if (mask & SY_LOGF_KEY) params[np++] = f->key_id;
    if (mask & SY_LOGF_USER) params[np++] = f->user_id;
    if (mask & SY_LOGF_STATUS) params[np++] = lq.status;
    if (mask & SY_LOGF_TEXT) {
        needle = sy_xstrdup(f->text);
        for (char *p = needle; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        params[np++] = needle;
    }
    if (mask & SY_LOGF_CURSOR) {
        snprintf(ctext, sizeof(ctext), "%" PRId64, lq.cursor_t);
        params[np++] = ctext;
        params[np++] = lq.cursor_id;
    }
    snprintf(lim, sizeof(lim), "%zu", limit + 1); /* one more tells whether a page follows */
    params[np++] = lim;

    conn_t *c;
    bool retried = false;
again:
    err = sy_pg_reader_take(s, &c, msg, msglen);
    if (err) {
        free(needle);
        sy_store_log_page_free(page);
        return err;
    }
    char name[16], sql[2048];
    snprintf(name, sizeof(name), "logs%u", mask);
    bool ready = c->logs_ready[mask / 8] & (1u << (mask % 8));
    if (!ready) logs_sql(mask, sql, sizeof(sql));
    err = sy_pg_prepare(s, c, &ready, name, sql, msg, msglen);
    if (err) goto out;
    c->logs_ready[mask / 8] |= (uint8_t)(1u << (mask % 8));
    PGresult *r = PQexecPrepared(c->pg, name, np, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        err = sy_pg_res_fail(s, c, r, msg, msglen, "logs");
        PQclear(r);
        goto out;
    }
    for (int i = 0; i < PQntuples(r) && !err && !sy_logquery_page_full(&lq, page); i++) {
        err = row_to_record(r, i, false, &page->rows[page->n], msg, msglen);
        if (!err) page->n++;
    }
    PQclear(r);
out:
    /* a lost connection fails before any row was read: the page is still empty */
    if (!retried && sy_pg_reader_lost(s, c, err)) {
        sy_pg_reader_give(s, c);
        retried = true;
        goto again;
    }
    if (err) sy_store_log_page_free(page);
    free(needle);
    sy_pg_reader_give(s, c);
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

sy_err_t sy_pg_query_stats(sy_store_t *base, const sy_stats_query_t *q, sy_stats_result_t *res,
                           char *msg, size_t msglen)
{
    pg_store_t *s = (pg_store_t *)base;
    memset(res, 0, sizeof(*res));
    sy_err_t err = sy_stats_query_check(q, msg, msglen);
    if (err) return err;

    conn_t *c;
    bool retried = false;
again:
    err = sy_pg_reader_take(s, &c, msg, msglen);
    if (err) return err;
    /* the rollup holds whole minutes: only minute-aligned queries can use it, and only when
     * the range is big enough for the exact path to be slow */
    bool rollup =
        s->known >= PG_ROLLUP_VERSION && sy_rollup_aligned(q) && s->exact_max_rows != INT64_MAX;
    if (rollup && s->exact_max_rows >= 0)
        err = sy_pg_range_exceeds(s, c, q, s->exact_max_rows, &rollup, msg, msglen);
    if (err) goto out;
    if (rollup) {
        err = sy_pg_rollup_stats(s, c, q, res, msg, msglen);
        if (err) sy_store_stats_free(res);
        goto out;
    }
    char name[16];
    snprintf(name, sizeof(name), "stats%d", (int)q->group_by);
    err = sy_pg_prepare(s, c, &c->stats_ready[q->group_by], name, stats_sql[q->group_by], msg,
                        msglen);
    if (err) goto out;
    char bucket[24], from[24], to[24];
    snprintf(bucket, sizeof(bucket), "%" PRId64, q->bucket_us);
    snprintf(from, sizeof(from), "%" PRId64, q->from_us);
    snprintf(to, sizeof(to), "%" PRId64, q->to_us);
    const char *params[3] = {bucket, from, to};
    PGresult *r = PQexecPrepared(c->pg, name, 3, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        err = sy_pg_res_fail(s, c, r, msg, msglen, "stats");
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
    if (!retried && sy_pg_reader_lost(s, c, err)) {
        sy_pg_reader_give(s, c);
        retried = true;
        goto again;
    }
    sy_pg_reader_give(s, c);
    return err;
}
