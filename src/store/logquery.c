/* See logquery.h. */
#include "store/logquery.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "store/columns.h"

sy_err_t sy_logquery_init(sy_logquery_t *q, const sy_log_filter_t *f, const char *cursor,
                          size_t limit, sy_log_page_t *page, char *msg, size_t msglen)
{
    memset(q, 0, sizeof(*q));
    memset(page, 0, sizeof(*page));
    if (limit < 1 || limit > SY_STORE_LOGS_MAX_LIMIT)
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "limit must be 1..%d",
                             SY_STORE_LOGS_MAX_LIMIT);
    bool has_cursor = cursor && *cursor;
    if (has_cursor && !sy_store_cursor_parse(cursor, &q->cursor_t, q->cursor_id))
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "malformed cursor");
    if (f->has_status && (unsigned)f->status >= SY_LOG_STATUS__COUNT)
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "unknown status filter");
    q->f = f;
    q->limit = limit;
    q->mask = (f->from_us ? SY_LOGF_FROM : 0) | (f->to_us ? SY_LOGF_TO : 0) |
              (f->model ? SY_LOGF_MODEL : 0) | (f->provider ? SY_LOGF_PROVIDER : 0) |
              (f->key_id ? SY_LOGF_KEY : 0) | (f->user_id ? SY_LOGF_USER : 0) |
              (f->has_status ? SY_LOGF_STATUS : 0) | (f->text ? SY_LOGF_TEXT : 0) |
              (has_cursor ? SY_LOGF_CURSOR : 0) | (f->ascending ? SY_LOGF_ASC : 0);
    if (f->has_status) q->status = sy_log_status_name(f->status);
    page->rows = sy_xmalloc(limit * sizeof(*page->rows));
    return SY_OK;
}

bool sy_logquery_page_full(const sy_logquery_t *q, sy_log_page_t *page)
{
    if (page->n < q->limit) return false;
    const sy_log_record_t *last = page->rows[page->n - 1];
    sy_store_cursor_format(page->next_cursor, last->t_received_us, last->id);
    return true;
}

static void get_uuid(const sy_logrow_src_t *s, int col, char out[SY_UUID_STRLEN + 1])
{
    sy_str_t v = s->str(s, col);
    out[0] = '\0';
    if (v.ptr && v.len == SY_UUID_STRLEN) {
        memcpy(out, v.ptr, SY_UUID_STRLEN);
        out[SY_UUID_STRLEN] = '\0';
    }
}

sy_err_t sy_logrow_decode(const sy_logrow_src_t *s, bool bodies, sy_log_record_t **out, char *msg,
                          size_t msglen)
{
    sy_log_record_t r;
    sy_log_record_init(&r);
    get_uuid(s, C_ID, r.id);
    r.request_id = s->str(s, C_REQUEST_ID);
    int64_t attempt = s->i64(s, C_ATTEMPT);
    r.attempt = attempt < 0 ? 0 : (int)attempt;
    get_uuid(s, C_PARENT_ID, r.parent_id);
    r.t_received_us = s->i64(s, C_T_RECEIVED);
    r.t_upstream_start_us = s->i64(s, C_T_UPSTREAM_START);
    r.t_first_token_us = s->i64(s, C_T_FIRST_TOKEN);
    r.t_end_us = s->i64(s, C_T_END);
    r.latency_us = s->i64(s, C_LATENCY);
    r.ttft_us = s->i64(s, C_TTFT);
    r.overhead_us = s->i64(s, C_OVERHEAD);
    r.model = s->str(s, C_MODEL);
    r.provider = s->str(s, C_PROVIDER);
    r.upstream_model = s->str(s, C_UPSTREAM_MODEL);
    r.deployment = s->str(s, C_DEPLOYMENT);
    if (!sy_log_status_parse(s->str(s, C_STATUS), &r.status)) r.status = SY_LOG_STATUS_ERROR;
    int64_t hs = s->i64(s, C_HTTP_STATUS);
    r.http_status = hs < 0 ? 0 : (int)hs; /* NULL (none sent) → 0 */
    r.error_type = s->str(s, C_ERROR_TYPE);
    r.error_message = s->str(s, C_ERROR_MESSAGE);
    r.input_tokens = s->i64(s, C_INPUT_TOKENS);
    r.output_tokens = s->i64(s, C_OUTPUT_TOKENS);
    r.cached_read_tokens = s->i64(s, C_CACHED_READ);
    r.cache_write_tokens = s->i64(s, C_CACHE_WRITE);
    r.reasoning_tokens = s->i64(s, C_REASONING);
    if (!sy_log_usage_source_parse(s->str(s, C_USAGE_SOURCE), &r.usage_source))
        r.usage_source = SY_LOG_USAGE_NONE;
    r.cost_nanousd = s->i64(s, C_COST);
    r.key_id = s->str(s, C_KEY_ID);
    r.user_id = s->str(s, C_USER_ID);
    r.team_id = s->str(s, C_TEAM_ID);
    r.conversation_id = s->str(s, C_CONVERSATION_ID);
    r.message_id = s->str(s, C_MESSAGE_ID);
    r.experiment = s->str(s, C_EXPERIMENT);
    r.variant = s->str(s, C_VARIANT);
    r.metadata = s->str(s, C_METADATA);
    r.request_truncated = s->flag(s, C_REQ_TRUNC);
    r.response_truncated = s->flag(s, C_RESP_TRUNC);
    r.request_size = s->i64(s, C_REQ_SIZE);
    r.response_size = s->i64(s, C_RESP_SIZE);
    if (bodies) {
        r.request_body = s->str(s, C_REQ_BODY);
        r.response_body = s->str(s, C_RESP_BODY);
    }

    json_t *tags = NULL;
    sy_str_t *tv = NULL;
    sy_str_t tj = s->str(s, C_TAGS);
    if (tj.ptr) {
        tags = json_loadb(tj.ptr, tj.len, 0, NULL);
        if (!json_is_array(tags)) {
            json_decref(tags);
            return sy_store_fail(SY_ERR_CORRUPT, msg, msglen, "%s: row %s: tags not a JSON array",
                                 s->backend, r.id);
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
