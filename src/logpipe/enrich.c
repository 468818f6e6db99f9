/* See enrich.h. */
#include "logpipe/enrich.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "logpipe/cost.h"

/* Whether the JSON text has the quoted string q followed (after optional whitespace) by ':',
 * i.e. used as an object key somewhere. A cheap pre-check, not a parse: a string value that
 * contains `"user":` passes too, which only costs a parse. `"user"` alone would not do: every
 * chat body has `"role":"user"`, and parsing it for nothing cost ~16,000 instructions a row. */
static bool has_key(const sy_str_t body, const char *q, size_t qlen)
{
    const char *p = body.ptr, *end = body.ptr + body.len;
    while ((p = memmem(p, (size_t)(end - p), q, qlen))) {
        p += qlen;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        if (p < end && *p == ':') return true;
    }
    return false;
}

/* The request's `metadata` object, with its `user` string added as "user" when the body has
 * one (as JSON text, heap, or NULL). Only bodies with either key are parsed, so the common case
 * costs a few memmem. A capped (cut) body does not parse and yields nothing. */
static char *request_metadata(const sy_str_t body)
{
    if (!body.ptr || (!has_key(body, "\"metadata\"", 10) && !has_key(body, "\"user\"", 6)))
        return NULL;
    json_t *doc = json_loadb(body.ptr, body.len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    json_t *md = json_object_get(doc, "metadata");
    json_t *user = json_object_get(doc, "user");
    json_t *out = json_is_object(md) ? json_deep_copy(md) : json_object();
    if (json_is_string(user) && !json_object_get(out, "user")) json_object_set(out, "user", user);
    char *text = json_object_size(out) ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    json_decref(doc);
    return text;
}

static void free_aux(sy_log_aux_t *a)
{
    if (!a) return;
    if (a->settle) a->settle(a->settle_arg, -1, -1); /* a dropped row: usage never known */
    if (a->has_capture) sy_capture_dispose(&a->cap);
    free(a);
}

void sy_log_enrich_discard(void *ctx, sy_log_record_t *r)
{
    (void)ctx;
    free_aux(r->aux);
    r->aux = NULL;
}

/* error.message of an upstream error body (OpenAI and Anthropic shapes), heap, or NULL. */
static char *error_message_of(sy_str_t body)
{
    if (!body.ptr || body.len == 0 || body.len > (64u << 10)) return NULL;
    json_t *doc = json_loadb(body.ptr, body.len, 0, NULL);
    json_t *m = json_object_get(json_object_get(doc, "error"), "message");
    char *out = json_is_string(m) ? strdup(json_string_value(m)) : NULL;
    json_decref(doc);
    return out;
}

/* Redacts in[0..n) into out (capped at out->max); returns whether anything was cut. */
static bool redact_body(const sy_log_enrich_t *e, const char *in, size_t n, sy_buf_t *out)
{
    if (e->redact) {
        sy_err_t err = sy_redact_apply(e->redact, in, n, out, NULL);
        return err != SY_OK;
    }
    size_t k = n < out->max ? n : out->max;
    sy_buf_append(out, in, k);
    return k < n;
}

static void use_usage(sy_log_record_t *v, const sy_fmt_usage_t *u)
{
    v->input_tokens = u->prompt_tokens;
    v->output_tokens = u->completion_tokens;
    v->cached_read_tokens = u->cached_tokens;
    v->cache_write_tokens = u->cache_write_tokens;
    v->reasoning_tokens = u->reasoning_tokens;
    v->usage_source = SY_LOG_USAGE_PROVIDER;
}

sy_log_record_t *sy_log_enrich_transform(void *ctx, sy_log_record_t *r)
{
    const sy_log_enrich_t *e = ctx;
    sy_log_aux_t *aux = r->aux;
    sy_log_record_t v = *r;
    v.aux = NULL;

    sy_capture_result_t cr;
    bool have_cr = false;
    sy_buf_t resp_raw; /* the response text to store, before redaction */
    sy_buf_init(&resp_raw, 0);
    sy_str_t resp = v.response_body;
    bool resp_cut = v.response_truncated;
    if (aux && aux->has_capture) {
        sy_capture_extract(&aux->cap, aux->format, aux->sse, &cr);
        have_cr = true;
        v.response_size = (int64_t)aux->cap.total;
        resp_cut = sy_capture_truncated(&aux->cap);
        if (cr.usage_found) use_usage(&v, &cr.usage);
        if (aux->sse || resp_cut) {
            /* streams: the reassembled text, then the tool calls */
            sy_buf_init(&resp_raw, cr.text.len + cr.tool_calls.len + 1);
            if (cr.text.len) sy_buf_append(&resp_raw, cr.text.base, cr.text.len);
            if (cr.tool_calls.len) {
                if (resp_raw.len) sy_buf_append(&resp_raw, "\n", 1);
                sy_buf_append(&resp_raw, cr.tool_calls.base, cr.tool_calls.len);
            }
            resp = sy_str(resp_raw.base ? resp_raw.base : "", resp_raw.len);
        } else {
            resp = sy_str(aux->cap.head.base ? aux->cap.head.base : "", aux->cap.head.len);
        }
        if (!cr.usage_found && v.status == SY_LOG_STATUS_OK) {
            v.output_tokens = sy_capture_estimate_tokens(cr.text.base, cr.text.len) +
                              sy_capture_estimate_tokens(cr.reasoning.base, cr.reasoning.len) +
                              sy_capture_estimate_tokens(cr.tool_calls.base, cr.tool_calls.len);
            v.input_tokens = v.request_body.ptr ? sy_capture_estimate_tokens(v.request_body.ptr,
                                                                             v.request_body.len)
                                                : SY_LOG_UNKNOWN;
            v.usage_source = SY_LOG_USAGE_ESTIMATED;
        }
    }

    /* cost: only from known usage and a known price, never guessed. A row without usage keeps
     * what its producer set: NULL, or the 0 of a give-up row (relay.c: its call's cost is on
     * the call's own row). */
    if (v.usage_source != SY_LOG_USAGE_NONE) v.cost_nanousd = SY_LOG_UNKNOWN;
    if (v.usage_source != SY_LOG_USAGE_NONE && v.upstream_model.ptr) {
        const sy_price_t *p =
            sy_cost_find_price(e->cfg, v.provider.ptr, v.upstream_model.ptr, v.t_received_us);
        if (p) {
            sy_cost_usage_t u = {v.input_tokens, v.output_tokens, v.cached_read_tokens,
                                 v.cache_write_tokens};
            v.cost_nanousd = sy_cost_nanousd(p, &u);
        }
    }

    /* metadata from the request, redacted like the bodies (it is client text) */
    sy_buf_t md_b;
    sy_buf_init(&md_b, 64u << 10);
    char *md = v.metadata.ptr ? NULL : request_metadata(v.request_body);
    if (md) {
        if (!redact_body(e, md, strlen(md), &md_b)) v.metadata = sy_str(md_b.base, md_b.len);
        free(md);
    }

    /* an upstream error's own message, when the relay had none (redacted: it may quote input) */
    sy_buf_t em_b;
    sy_buf_init(&em_b, 1024);
    char *em = !v.error_message.ptr && v.status == SY_LOG_STATUS_ERROR && !have_cr
                   ? error_message_of(v.response_body)
                   : NULL;
    if (em) {
        redact_body(e, em, strlen(em), &em_b);
        if (em_b.len) v.error_message = sy_str(em_b.base, em_b.len);
        free(em);
    }

    sy_buf_t req_b, resp_b;
    sy_buf_init(&req_b, e->max_body_bytes);
    sy_buf_init(&resp_b, e->max_body_bytes);
    if (v.request_size < 0 && v.request_body.ptr) v.request_size = (int64_t)v.request_body.len;
    if (v.response_size < 0 && resp.ptr) v.response_size = (int64_t)resp.len;
    if (e->bodies && v.request_body.ptr) {
        /* cut here, or already by the producer (it keeps the cap plus a margin) */
        bool cut = v.request_size >= 0 && (size_t)v.request_size > v.request_body.len;
        v.request_truncated |=
            redact_body(e, v.request_body.ptr, v.request_body.len, &req_b) || cut;
        v.request_body = sy_str(req_b.base ? req_b.base : "", req_b.len);
    } else {
        v.request_body = SY_STR_NULL;
    }
    if (e->bodies && resp.ptr) {
        v.response_truncated = resp_cut | redact_body(e, resp.ptr, resp.len, &resp_b);
        v.response_body = sy_str(resp_b.base ? resp_b.base : "", resp_b.len);
    } else {
        v.response_body = SY_STR_NULL;
        v.response_truncated = resp_cut;
    }

    sy_log_record_t *out = sy_log_record_clone(&v);
    out->aux = NULL;
    if (e->on_row) e->on_row(out);
    if (aux && aux->settle) {
        int64_t tokens = v.input_tokens >= 0 && v.output_tokens >= 0
                             ? v.input_tokens + v.output_tokens
                             : SY_LOG_UNKNOWN;
        aux->settle(aux->settle_arg, tokens, v.cost_nanousd);
        aux->settle = NULL;
    }
    sy_buf_dispose(&req_b);
    sy_buf_dispose(&resp_b);
    sy_buf_dispose(&md_b);
    sy_buf_dispose(&em_b);
    sy_buf_dispose(&resp_raw);
    if (have_cr) sy_capture_result_dispose(&cr);
    free_aux(aux);
    sy_log_record_free(r);
    return out;
}
