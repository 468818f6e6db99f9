/* Backend registry and the helpers every backend shares (cursor text, messages, frees). */
#include "store/store.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const sy_store_vtable_t *const sy_store_backends[] = {&sy_store_sqlite, &sy_store_postgres,
                                                      &sy_store_clickhouse, NULL};

sy_err_t sy_store_fail(sy_err_t err, char *msg, size_t msglen, const char *fmt, ...)
{
    if (msg && msglen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return err;
}

sy_err_t sy_store_open(const sy_store_conf_t *conf, sy_store_t **out, char *msg, size_t msglen)
{
    const char *url = conf->url ? conf->url : "";
    for (size_t i = 0; sy_store_backends[i]; i++) {
        const sy_store_vtable_t *vt = sy_store_backends[i];
        for (const char *sc = vt->scheme; sc; sc = sc == vt->scheme ? vt->alias : NULL) {
            size_t n = strlen(sc);
            if (strncmp(url, sc, n) == 0 && url[n] == ':') return vt->open(conf, out, msg, msglen);
        }
    }
    /* never echo the URL: it may carry a password */
    return sy_store_fail(
        SY_ERR_CONFIG, msg, msglen,
        "store: unknown URL scheme (known: sqlite, postgres, postgresql, clickhouse)");
}

sy_err_t sy_store_open_migrated(const sy_store_conf_t *conf, sy_store_t **out, char *msg,
                                size_t msglen)
{
    sy_store_t *s = NULL;
    sy_err_t err = sy_store_open(conf, &s, msg, msglen);
    if (err) return err;
    err = s->vt->migrate(s, NULL, msg, msglen);
    if (err) {
        s->vt->close(s);
        return err;
    }
    *out = s;
    return SY_OK;
}

void sy_store_app_rows_free(sy_app_rows_t *rows)
{
    for (size_t i = 0; i < rows->n_rows * rows->n_cols; i++)
        free(rows->cells[i]);
    free(rows->cells);
    memset(rows, 0, sizeof(*rows));
}

void sy_store_log_page_free(sy_log_page_t *page)
{
    for (size_t i = 0; i < page->n; i++)
        sy_log_record_free(page->rows[i]);
    free(page->rows);
    memset(page, 0, sizeof(*page));
}

void sy_store_stats_free(sy_stats_result_t *res)
{
    for (size_t i = 0; i < res->n; i++)
        free(res->rows[i].group);
    free(res->rows);
    memset(res, 0, sizeof(*res));
}

/* "<t_us>.<uuid>": the (time, id) of the last row returned. Opaque to API clients. */
void sy_store_cursor_format(char out[SY_STORE_CURSOR_MAX], int64_t t_us, const char *id)
{
    snprintf(out, SY_STORE_CURSOR_MAX, "%" PRId64 ".%s", t_us, id);
}

bool sy_store_cursor_parse(const char *cursor, int64_t *t_us, char id[SY_UUID_STRLEN + 1])
{
    const char *dot = strchr(cursor, '.');
    if (!dot || dot == cursor || dot - cursor > 18) return false;
    int64_t t = 0;
    for (const char *p = cursor; p < dot; p++) {
        if (*p < '0' || *p > '9') return false;
        t = t * 10 + (*p - '0');
    }
    if (!sy_log_uuid_valid(dot + 1, strlen(dot + 1))) return false;
    *t_us = t;
    memcpy(id, dot + 1, SY_UUID_STRLEN + 1);
    return true;
}

void sy_stats_row_set_rates(sy_stats_row_t *r, int64_t ok_output_tokens, int64_t ok_latency_us)
{
    r->ok_output_tokens = ok_output_tokens;
    r->ok_latency_us = ok_latency_us;
    r->tokens_per_s =
        ok_latency_us > 0 ? (double)ok_output_tokens * 1e6 / (double)ok_latency_us : 0.0;
    r->error_rate = r->count ? (double)r->errors / (double)r->count : 0.0;
}

sy_err_t sy_stats_query_check(const sy_stats_query_t *q, char *msg, size_t msglen)
{
    if (q->from_us < 0 || q->to_us <= q->from_us || q->bucket_us <= 0)
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen,
                             "stats: need 0 <= from < to and bucket > 0");
    /* buckets are aligned on the epoch: count those [from, to) touches (as the API does) */
    if ((q->to_us - 1) / q->bucket_us - q->from_us / q->bucket_us + 1 > SY_STORE_STATS_MAX_BUCKETS)
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "stats: more than %d buckets",
                             SY_STORE_STATS_MAX_BUCKETS);
    if ((unsigned)q->group_by > SY_STATS_GROUP_KEY)
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "stats: bad group_by");
    return SY_OK;
}
