/* PostgreSQL backend: the stats_minute rollup (store/rollup.h; docs/internals/STORE.md,
 * "Stats rollup").
 *
 * DESIGN
 *   Maintenance runs in write_batch's transaction on the rows it actually inserted (all of a
 *   COPY that succeeded; the ids RETURNING names on the replay path). Under a transaction-level
 *   advisory lock (two gateways may share a database): read the stored rows of the batch's
 *   minutes (one SELECT, binary results), merge the ones whose key matches a cell, delete them
 *   by ctid (stable while the lock is held) and COPY the merged cells back: three round trips
 *   per batch whatever the number of cells. The table has no unique key because NULL model /
 *   provider / key_id are keys too (UNIQUE NULLS NOT DISTINCT needs PostgreSQL 15).
 *   Back-fill (migration PG_ROLLUP_VERSION): a cursor over inference_log, 10,000 rows per FETCH,
 *   each chunk folded as a batch would be.
 *   Reads: the rows of the range in minute order, streamed (single-row mode, binary) into the
 *   shared reader, so a day of rollup rows is never one result in memory. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "store/postgres_int.h"

#define BACKFILL_CHUNK 10000

/* int8 in binary format: big-endian */
static int64_t bin_i64(const PGresult *r, int row, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
    if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 8) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

static sy_str_t bin_str(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) return SY_STR_NULL;
    return sy_str(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

/* bytea as a COPY text field: \\x + hex (the backslash escaped for COPY) */
static sy_err_t put_bytea(sy_buf_t *b, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sy_err_t err;
    char *d = sy_buf_reserve(b, 3 + 2 * n, &err);
    if (!d) return err;
    *d++ = '\\', *d++ = '\\', *d++ = 'x';
    for (size_t i = 0; i < n; i++) {
        *d++ = hex[p[i] >> 4];
        *d++ = hex[p[i] & 15];
    }
    b->len += 3 + 2 * n;
    return SY_OK;
}

static sy_err_t copy_send(pg_store_t *s, conn_t *c, char *msg, size_t msglen)
{
    if (c->copy.len && PQputCopyData(c->pg, c->copy.base, (int)c->copy.len) != 1)
        return sy_pg_conn_fail(s, c, msg, msglen, "stats_minute copy");
    sy_buf_reset(&c->copy);
    return SY_OK;
}

/* COPY of every cell of c->roll (merged with what was stored) into stats_minute. */
static sy_err_t copy_cells(pg_store_t *s, conn_t *c, char *msg, size_t msglen)
{
    PGresult *r = PQexec(c->pg, "COPY stats_minute (minute_us, model, provider, key_id, count,"
                                " errors, input_tokens, output_tokens, cost_nanousd, cost_unknown,"
                                " ok_output_tokens, ok_latency_us, latency_hist, ttft_hist)"
                                " FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        sy_err_t err = sy_pg_res_fail(s, c, r, msg, msglen, "stats_minute copy");
        PQclear(r);
        return err;
    }
    PQclear(r);
    sy_err_t err = SY_OK;
    sy_buf_t *b = &c->copy, *h = &c->tmp;
    sy_buf_reset(b);
    for (size_t i = 0; i < c->roll.n && !err; i++) {
        sy_rollup_cell_t *cell = &c->roll.cells[i];
        size_t lat_len;
        sy_buf_reset(h);
        err = sy_rollup_cell_encode(cell, h, &lat_len);
        if (!err) err = sy_pg_put_i64(b, cell->key.minute_us);
        sy_str_t keys[3] = {cell->key.model, cell->key.provider, cell->key.key_id};
        for (int k = 0; k < 3 && !err; k++) {
            err = sy_buf_append(b, "\t", 1);
            if (!err) err = sy_pg_put_str(b, keys[k]);
        }
        for (int k = 0; k < SY_ROLLUP_NV && !err; k++) {
            err = sy_buf_append(b, "\t", 1);
            if (!err) err = sy_pg_put_i64(b, cell->v[k]);
        }
        if (!err) err = sy_buf_append(b, "\t", 1);
        if (!err) err = put_bytea(b, (const unsigned char *)h->base, lat_len);
        if (!err) err = sy_buf_append(b, "\t", 1);
        if (!err) err = put_bytea(b, (const unsigned char *)h->base + lat_len, h->len - lat_len);
        if (!err) err = sy_buf_append(b, "\n", 1);
        if (err)
            sy_store_fail(err, msg, msglen, "postgres: stats_minute row over the COPY buffer");
        else if (b->len >= COPY_CHUNK)
            err = copy_send(s, c, msg, msglen);
    }
    if (!err) err = copy_send(s, c, msg, msglen);
    if (PQputCopyEnd(c->pg, err ? "switchyard: rollup aborted" : NULL) != 1 && !err)
        err = sy_pg_conn_fail(s, c, msg, msglen, "stats_minute copy end");
    while ((r = PQgetResult(c->pg))) {
        if (!err && PQresultStatus(r) != PGRES_COMMAND_OK)
            err = sy_pg_res_fail(s, c, r, msg, msglen, "stats_minute copy");
        PQclear(r);
    }
    return err;
}

/* Merges the stored rows of c->roll's keys into its cells and deletes them (their merged
 * versions are written back by copy_cells). */
static sy_err_t merge_stored(pg_store_t *s, conn_t *c, char *msg, size_t msglen)
{
    sy_buf_t *p = &c->tmp;
    sy_buf_reset(p);
    sy_err_t err = sy_buf_append(p, "{", 1);
    int64_t last = 0;
    for (size_t i = 0; i < c->roll.n && !err; i++) { /* cells are sorted by minute first */
        int64_t m = c->roll.cells[i].key.minute_us;
        if (i && m == last) continue;
        err = sy_buf_printf(p, "%s%" PRId64, i ? "," : "", m);
        last = m;
    }
    if (!err) err = sy_buf_append(p, "}", 2); /* with the NUL */
    if (err) return sy_store_fail(err, msg, msglen, "postgres: too many minutes in one batch");
    err = sy_pg_prepare(s, c, &c->roll_get_ready, "roll_get",
                        "SELECT ctid, minute_us, model, provider, key_id, count, errors,"
                        " input_tokens, output_tokens, cost_nanousd, cost_unknown,"
                        " ok_output_tokens, ok_latency_us, latency_hist, ttft_hist"
                        " FROM stats_minute WHERE minute_us = ANY($1::bigint[])",
                        msg, msglen);
    if (err) return err;
    const char *params[1] = {p->base};
    PGresult *r = PQexecPrepared(c->pg, "roll_get", 1, params, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        err = sy_pg_res_fail(s, c, r, msg, msglen, "stats_minute read");
        PQclear(r);
        return err;
    }
    /* the ctids of the matched rows, as a tid[] literal */
    sy_buf_t *tids = &c->copy;
    sy_buf_reset(tids);
    err = sy_buf_append(tids, "{", 1);
    size_t matched = 0;
    for (int i = 0; i < PQntuples(r) && !err; i++) {
        sy_rollup_key_t k = {bin_i64(r, i, 1), bin_str(r, i, 2), bin_str(r, i, 3),
                             bin_str(r, i, 4)};
        sy_rollup_cell_t *cell = sy_rollup_batch_find(&c->roll, &k);
        if (!cell) continue; /* another key in the same minute */
        int64_t v[SY_ROLLUP_NV];
        for (int j = 0; j < SY_ROLLUP_NV; j++)
            v[j] = bin_i64(r, i, 5 + j);
        if (sy_rollup_cell_add_stored(cell, v, PQgetvalue(r, i, 13), (size_t)PQgetlength(r, i, 13),
                                      PQgetvalue(r, i, 14), (size_t)PQgetlength(r, i, 14))) {
            err = sy_store_fail(SY_ERR_CORRUPT, msg, msglen,
                                "postgres: stats_minute at minute %" PRId64 ": corrupt histogram",
                                k.minute_us);
            break;
        }
        /* tid in binary: block (uint32) and offset (uint16), big-endian */
        const unsigned char *t = (const unsigned char *)PQgetvalue(r, i, 0);
        uint32_t blk = (uint32_t)t[0] << 24 | (uint32_t)t[1] << 16 | (uint32_t)t[2] << 8 | t[3];
        unsigned off = (unsigned)t[4] << 8 | t[5];
        err = sy_buf_printf(tids, "%s\"(%u,%u)\"", matched++ ? "," : "", blk, off);
    }
    PQclear(r);
    if (!err) err = sy_buf_append(tids, "}", 2);
    if (err || !matched) return err;
    params[0] = tids->base;
    r = PQexecParams(c->pg, "DELETE FROM stats_minute WHERE ctid = ANY($1::tid[])", 1, NULL, params,
                     NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        err = sy_pg_res_fail(s, c, r, msg, msglen, "stats_minute delete");
    PQclear(r);
    return err;
}

sy_err_t sy_pg_rollup_update(pg_store_t *s, conn_t *c, const sy_log_record_t **ins, size_t n,
                             char *msg, size_t msglen)
{
    if (!n) return SY_OK;
    char sql[64];
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%ld)", ROLLUP_LOCK_ID);
    sy_err_t err = sy_pg_exec(s, c, sql, msg, msglen, "rollup lock");
    if (err) return err;
    sy_rollup_batch_build(&c->roll, ins, n);
    err = merge_stored(s, c, msg, msglen);
    if (!err) err = copy_cells(s, c, msg, msglen);
    return err;
}

sy_err_t sy_pg_rollup_backfill(pg_store_t *s, conn_t *c, char *msg, size_t msglen)
{
    sy_err_t err = sy_pg_exec(s, c,
                              "DECLARE sy_backfill NO SCROLL CURSOR FOR SELECT t_received_us,"
                              " model, provider, key_id, status, latency_us, ttft_us,"
                              " input_tokens, output_tokens, cost_nanousd FROM inference_log",
                              msg, msglen, "rollup back-fill");
    if (err) return err;
    sy_log_record_t *recs = sy_xmalloc(BACKFILL_CHUNK * sizeof(*recs));
    const sy_log_record_t **ptrs = sy_xmalloc(BACKFILL_CHUNK * sizeof(*ptrs));
    for (;;) {
        PGresult *r = PQexecParams(c->pg, "FETCH FORWARD 10000 FROM sy_backfill", 0, NULL, NULL,
                                   NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            err = sy_pg_res_fail(s, c, r, msg, msglen, "rollup back-fill");
            PQclear(r);
            break;
        }
        int n = PQntuples(r);
        for (int i = 0; i < n; i++) {
            sy_log_record_t *x = &recs[i];
            sy_log_record_init(x);
            x->t_received_us = bin_i64(r, i, 0);
            x->model = bin_str(r, i, 1);
            x->provider = bin_str(r, i, 2);
            x->key_id = bin_str(r, i, 3);
            if (!sy_log_status_parse(bin_str(r, i, 4), &x->status)) x->status = SY_LOG_STATUS_ERROR;
            int64_t *f[] = {&x->latency_us, &x->ttft_us, &x->input_tokens, &x->output_tokens,
                            &x->cost_nanousd};
            for (int k = 0; k < 5; k++)
                *f[k] = PQgetisnull(r, i, 5 + k) ? SY_LOG_UNKNOWN : bin_i64(r, i, 5 + k);
            ptrs[i] = x;
        }
        if (n) err = sy_pg_rollup_update(s, c, ptrs, (size_t)n, msg, msglen);
        PQclear(r);
        if (err || n < BACKFILL_CHUNK) break;
    }
    free(recs);
    free(ptrs);
    if (!err) err = sy_pg_exec(s, c, "CLOSE sy_backfill", msg, msglen, "rollup back-fill");
    return err;
}

/* ---- read ----------------------------------------------------------------------------------- */

static const char *const roll_sql[4] = {
#define ROLL_SQL(grp)                                                                              \
    "SELECT minute_us, " grp ", count, errors, input_tokens, output_tokens, cost_nanousd,"         \
    " cost_unknown, ok_output_tokens, ok_latency_us, latency_hist, ttft_hist FROM stats_minute"    \
    " WHERE minute_us >= $1::bigint AND minute_us < $2::bigint ORDER BY minute_us"
    [SY_STATS_GROUP_NONE] = ROLL_SQL("NULL::text"),
    [SY_STATS_GROUP_MODEL] = ROLL_SQL("model"),
    [SY_STATS_GROUP_PROVIDER] = ROLL_SQL("provider"),
    [SY_STATS_GROUP_KEY] = ROLL_SQL("key_id"),
#undef ROLL_SQL
};

sy_err_t sy_pg_rollup_stats(pg_store_t *s, conn_t *c, const sy_stats_query_t *q,
                            sy_stats_result_t *res, char *msg, size_t msglen)
{
    char name[16], from[24], to[24];
    snprintf(name, sizeof(name), "roll%d", (int)q->group_by);
    sy_err_t err =
        sy_pg_prepare(s, c, &c->roll_ready[q->group_by], name, roll_sql[q->group_by], msg, msglen);
    if (err) return err;
    snprintf(from, sizeof(from), "%" PRId64, q->from_us);
    snprintf(to, sizeof(to), "%" PRId64, q->to_us);
    const char *params[2] = {from, to};
    if (!PQsendQueryPrepared(c->pg, name, 2, params, NULL, NULL, 1) || !PQsetSingleRowMode(c->pg))
        return sy_pg_conn_fail(s, c, msg, msglen, "stats rollup");
    sy_rollup_reader_t *rd = sy_rollup_reader_new(q, res);
    PGresult *r;
    /* read every result to the end, even after an error, so the connection is usable again */
    while ((r = PQgetResult(c->pg))) {
        ExecStatusType st = PQresultStatus(r);
        if (err || st == PGRES_TUPLES_OK) { /* TUPLES_OK: the empty end of the rows */
        } else if (st != PGRES_SINGLE_TUPLE) {
            err = sy_pg_res_fail(s, c, r, msg, msglen, "stats rollup");
        } else {
            int64_t m = bin_i64(r, 0, 0), v[SY_ROLLUP_NV];
            for (int j = 0; j < SY_ROLLUP_NV; j++)
                v[j] = bin_i64(r, 0, 2 + j);
            if (sy_rollup_reader_add(rd, m, bin_str(r, 0, 1), v, PQgetvalue(r, 0, 10),
                                     (size_t)PQgetlength(r, 0, 10), PQgetvalue(r, 0, 11),
                                     (size_t)PQgetlength(r, 0, 11)))
                err = sy_store_fail(SY_ERR_CORRUPT, msg, msglen,
                                    "postgres: stats_minute: corrupt histogram at minute %" PRId64,
                                    m);
        }
        PQclear(r);
    }
    sy_rollup_reader_finish(rd);
    return err;
}

/* Whether [from, to) holds more than max rows: counts at most max + 1 index entries. */
sy_err_t sy_pg_range_exceeds(pg_store_t *s, conn_t *c, const sy_stats_query_t *q, int64_t max,
                             bool *over, char *msg, size_t msglen)
{
    sy_err_t err = sy_pg_prepare(s, c, &c->probe_ready, "probe",
                                 "SELECT count(*) FROM (SELECT 1 FROM inference_log WHERE"
                                 " t_received_us >= $1::bigint AND t_received_us < $2::bigint"
                                 " LIMIT $3::bigint) x",
                                 msg, msglen);
    if (err) return err;
    char from[24], to[24], lim[24];
    snprintf(from, sizeof(from), "%" PRId64, q->from_us);
    snprintf(to, sizeof(to), "%" PRId64, q->to_us);
    snprintf(lim, sizeof(lim), "%" PRId64, max + 1);
    const char *params[3] = {from, to, lim};
    PGresult *r = PQexecPrepared(c->pg, "probe", 3, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        *over = strtoll(PQgetvalue(r, 0, 0), NULL, 10) > max;
    else
        err = sy_pg_res_fail(s, c, r, msg, msglen, "stats probe");
    PQclear(r);
    return err;
}
