/* PostgreSQL backend: write_batch (COPY in text format, the temp-table path for replays).
 * DESIGN in postgres.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/utf8.h"
#include "store/postgres_int.h"

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

sy_err_t sy_pg_put_str(sy_buf_t *b, sy_str_t v)
{
    return v.ptr ? put_text(b, v.ptr, v.len) : sy_buf_append(b, "\\N", 2);
}

sy_err_t sy_pg_put_i64(sy_buf_t *b, int64_t v)
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
    if (!err) err = sy_pg_put_str(b, (v));                                                         \
    TAB()
#define I64(v)                                                                                     \
    if (!err) err = sy_pg_put_i64(b, (v));                                                         \
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
    if (!err) err = sy_pg_put_str(b, r->response_body);
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
        return sy_pg_conn_fail(s, c, msg, msglen, "copy");
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
        sy_err_t err = sy_pg_res_fail(s, c, r, msg, msglen, "copy");
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
        err = sy_pg_conn_fail(s, c, msg, msglen, "copy end");
    while ((r = PQgetResult(c->pg))) {
        if (!err && PQresultStatus(r) != PGRES_COMMAND_OK) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            *dup = state && strcmp(state, "23505") == 0;
            err = sy_pg_res_fail(s, c, r, msg, msglen, "copy");
        }
        PQclear(r);
    }
    return err;
}

static int cmp_id(const void *a, const void *b)
{
    return strcasecmp((*(const sy_log_record_t *const *)a)->id,
                      (*(const sy_log_record_t *const *)b)->id);
}

/* INSERT … SELECT from the batch table, skipping stored ids (and repeats inside the batch);
 * ins[0..*n_ins) receives the records of the rows actually inserted, for the rollup. */
static sy_err_t insert_new(pg_store_t *s, conn_t *c, const sy_log_record_t *const *recs, size_t n,
                           const sy_log_record_t **ins, size_t *n_ins, char *msg, size_t msglen)
{
    PGresult *r = PQexec(c->pg, "INSERT INTO inference_log (" COLS_WRITE ") SELECT " COLS_WRITE
                                " FROM pg_temp.sy_batch ON CONFLICT (id) DO NOTHING RETURNING id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        sy_err_t err = sy_pg_res_fail(s, c, r, msg, msglen, "insert");
        PQclear(r);
        return err;
    }
    const sy_log_record_t **byid = sy_xmalloc(n * sizeof(*byid));
    memcpy(byid, recs, n * sizeof(*byid));
    qsort(byid, n, sizeof(*byid), cmp_id);
    *n_ins = 0;
    sy_log_record_t key;
    const sy_log_record_t *kp = &key;
    for (int i = 0; i < PQntuples(r) && *n_ins < n; i++) {
        snprintf(key.id, sizeof(key.id), "%s", PQgetvalue(r, i, 0));
        const sy_log_record_t **hit = bsearch(&kp, byid, n, sizeof(*byid), cmp_id);
        if (hit) ins[(*n_ins)++] = *hit;
    }
    free(byid);
    PQclear(r);
    return SY_OK;
}

/* Fast path: COPY straight into inference_log (one pass, no second copy of the rows). A
 * duplicate id makes that COPY fail with unique_violation — only on spool replay — and the
 * batch is then written again the idempotent way: COPY into the session's temp table, then
 * INSERT … SELECT … ON CONFLICT (id) DO NOTHING (which also skips duplicates inside the batch). */
static sy_err_t write_once(pg_store_t *s, const sy_log_record_t *const *recs, size_t n,
                           const sy_log_record_t **ins, char *msg, size_t msglen)
{
    bool dup = false;
    size_t n_ins = 0;
    sy_err_t err = sy_pg_writer_ready(s, msg, msglen);
    if (err) goto unlock;
    conn_t *c = s->writer;
    err = sy_pg_exec(s, c, "BEGIN", msg, msglen, "begin");
    if (!err) err = copy_rows(s, c, "inference_log", recs, n, &dup, msg, msglen);
    /* the COPY went through: every row was new */
    if (!err && s->known >= PG_ROLLUP_VERSION) {
        memcpy(ins, recs, n * sizeof(*ins));
        err = sy_pg_rollup_update(s, c, ins, n, msg, msglen);
    }
    if (!err) err = sy_pg_exec(s, c, "COMMIT", msg, msglen, "commit");
    if (!err || !dup) goto done;

    PQclear(PQexec(c->pg, "ROLLBACK"));
    if (!c->batch_table) {
        /* LIKE copies the columns and NOT NULLs, not the indexes: COPY into it is cheap */
        err = sy_pg_exec(s, c,
                         "CREATE TEMP TABLE IF NOT EXISTS sy_batch (LIKE inference_log) "
                         "ON COMMIT DELETE ROWS",
                         msg, msglen, "batch table");
        if (err) goto unlock;
        c->batch_table = true;
    }
    err = sy_pg_exec(s, c, "BEGIN", msg, msglen, "begin");
    if (!err) err = copy_rows(s, c, "pg_temp.sy_batch", recs, n, &dup, msg, msglen);
    if (!err) err = insert_new(s, c, recs, n, ins, &n_ins, msg, msglen);
    if (!err && s->known >= PG_ROLLUP_VERSION)
        err = sy_pg_rollup_update(s, c, ins, n_ins, msg, msglen);
    if (!err) err = sy_pg_exec(s, c, "COMMIT", msg, msglen, "commit");
done:
    if (err && PQstatus(c->pg) == CONNECTION_OK) PQclear(PQexec(c->pg, "ROLLBACK"));
unlock:
    return err;
}

sy_err_t sy_pg_write_batch(sy_store_t *base, const sy_log_record_t *const *recs, size_t n,
                           char *msg, size_t msglen)
{
    pg_store_t *s = (pg_store_t *)base;
    if (n == 0) return SY_OK;
    const sy_log_record_t **ins = sy_xmalloc(n * sizeof(*ins)); /* rows inserted: the rollup's */
    pthread_mutex_lock(&s->wlock);
    sy_err_t err = write_once(s, recs, n, ins, msg, msglen);
    /* The connection died under us (server restart, idle timeout): reconnect and write again.
     * Safe even if the lost COMMIT did happen — the batch is idempotent by id. */
    if (err == SY_ERR_STORE && s->writer && PQstatus(s->writer->pg) != CONNECTION_OK)
        err = write_once(s, recs, n, ins, msg, msglen);
    pthread_mutex_unlock(&s->wlock);
    free(ins);
    return err;
}
