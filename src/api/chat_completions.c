/* POST /v1/chat/completions: validate, pick the model, run the provider, relay its response.
 * The relay is the sink of the provider call: it passes bytes through with backpressure,
 * injects SSE keep-alive comments during upstream silence, turns upstream error bodies into
 * OpenAI error responses and aborts the provider when the client goes away.
 * DESIGN: the chat context lives in the request arena; the only heap object is the keep-alive
 * timer (closed asynchronously). Every path ends in exactly one of: finish() (provider done)
 * or on_client_abort() (client gone; provider stopped, no more callbacks). */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/jsonv.h"
#include "core/log.h"
#include "http/sse.h"
#include "providers/provider.h"
#include "worker.h"

typedef struct chat {
    sy_call_t call;
    sy_http_req_t *req;
    sy_worker_t *w;
    int up_status;
    bool committed; /* response head produced for the client */
    bool is_sse;
    bool error_body; /* upstream answered >= 400: buffering its body */
    sy_buf_t errbody;
    uv_timer_t *ka_timer;
    uint64_t last_data_ms;
    sy_sse_boundary_t boundary;
} chat_t;

static void on_ka_closed(uv_handle_t *h)
{
    free(h);
}

static void release(chat_t *c)
{
    if (c->ka_timer) {
        uv_close((uv_handle_t *)c->ka_timer, on_ka_closed);
        c->ka_timer = NULL;
    }
    sy_buf_dispose(&c->errbody);
}

static void on_keepalive(uv_timer_t *t)
{
    chat_t *c = t->data;
    uint64_t interval = c->w->cfg->sse_keepalive_ms;
    uint64_t now = uv_now(t->loop);
    uint64_t silent = now - c->last_data_ms;
    if (silent >= interval) {
        if (sy_sse_boundary_at_event(&c->boundary) &&
            sy_http_res_backlog(c->req) < SY_HTTP_LOW_WATER) {
            static const char comment[] = ": keep-alive\n\n";
            sy_http_res_write(c->req, comment, sizeof comment - 1);
            c->last_data_ms = now;
        }
        uv_timer_start(t, on_keepalive, interval, 0);
    } else {
        uv_timer_start(t, on_keepalive, interval - silent, 0);
    }
}

/* ---- sink: what the provider reports ---- */

static void sink_head(sy_call_t *call, int status, sy_str_t content_type)
{
    chat_t *c = call->sink_ctx;
    c->up_status = status;
    if (status >= 400) {
        c->error_body = true;
        sy_buf_init(&c->errbody, c->w->cfg->max_upstream_error_bytes);
        return;
    }
    uint64_t now = sy_clock_mono_us();
    uint64_t overhead = (call->t_upstream_start_us - c->req->t_complete_us) +
                        (call->t_upstream_head_us ? now - call->t_upstream_head_us : 0);
    char ov[24];
    sy_http_header_t h[3];
    size_t n = 0;
    h[n++] = (sy_http_header_t){SY_STR_LIT("content-type"), content_type};
    sy_api_overhead_header(&h[n++], ov, overhead);
    c->is_sse =
        content_type.len >= 17 && strncasecmp(content_type.ptr, "text/event-stream", 17) == 0;
    if (c->is_sse) h[n++] = (sy_http_header_t){SY_STR_LIT("cache-control"), SY_STR_LIT("no-cache")};
    sy_http_res_head(c->req, status, h, n, -1);
    c->committed = true;
    if (c->is_sse && c->w->cfg->sse_keepalive_ms) {
        c->ka_timer = sy_xmalloc(sizeof *c->ka_timer);
        uv_timer_init(&c->w->loop, c->ka_timer);
        c->ka_timer->data = c;
        c->last_data_ms = uv_now(&c->w->loop);
        uv_timer_start(c->ka_timer, on_keepalive, c->w->cfg->sse_keepalive_ms, 0);
    }
}

static bool sink_data(sy_call_t *call, const char *p, size_t n)
{
    chat_t *c = call->sink_ctx;
    if (c->error_body) {
        size_t room = c->errbody.max - c->errbody.len;
        sy_buf_append(&c->errbody, p, n < room ? n : room); /* the rest is cut */
        return true;
    }
    if (c->ka_timer) {
        c->last_data_ms = uv_now(&c->w->loop);
        sy_sse_boundary_feed(&c->boundary, p, n);
    }
    return sy_http_res_write(c->req, p, n);
}

/* An upstream error body: passed through when it is OpenAI-shaped, else wrapped. */
static void send_upstream_error(chat_t *c)
{
    sy_http_req_t *req = c->req;
    json_error_t e;
    json_t *doc = c->errbody.len ? json_loadb(c->errbody.base, c->errbody.len, 0, &e) : NULL;
    json_t *err = doc ? json_object_get(doc, "error") : NULL;
    if (json_is_object(err)) {
        char ov[24];
        sy_http_header_t h;
        sy_api_overhead_header(&h, ov, c->call.t_upstream_start_us - req->t_complete_us);
        sy_http_res_send(req, c->up_status, "application/json", c->errbody.base, c->errbody.len, &h,
                         1);
    } else {
        /* keep a printable prefix of the body for the message */
        char snippet[201];
        size_t k = 0;
        for (size_t i = 0; i < c->errbody.len && k < 200; i++) {
            unsigned char ch = (unsigned char)c->errbody.base[i];
            snippet[k++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
        }
        snippet[k] = '\0';
        char msg[320];
        snprintf(msg, sizeof msg, "upstream returned HTTP %d: %s", c->up_status,
                 k ? snippet : "(empty body)");
        sy_api_send_error_ex(req, c->up_status, "upstream_error", "upstream_error", NULL, msg);
    }
    json_decref(doc);
}

static void sink_done(sy_call_t *call, sy_err_t err, const char *detail)
{
    chat_t *c = call->sink_ctx;
    sy_http_req_t *req = c->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    if (c->error_body) {
        send_upstream_error(c);
    } else if (!err) {
        sy_http_res_end(req);
    } else if (!c->committed) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s: %s",
                 err == SY_ERR_UPSTREAM_TIMEOUT       ? "upstream timed out"
                 : err == SY_ERR_UPSTREAM_UNREACHABLE ? "upstream unreachable"
                                                      : "upstream failed",
                 detail ? detail : "no detail");
        sy_api_send_error(req, err, NULL, msg);
    } else {
        /* committed to 200: tell SSE clients in-band, then end */
        if (c->is_sse) {
            sy_buf_t b;
            sy_buf_init(&b, 4096);
            sy_buf_append_c(&b, "data: ");
            sy_api_error_json(&b, err, NULL, detail ? detail : "upstream failed mid-stream");
            sy_buf_append_c(&b, "\n\n");
            sy_http_res_write(req, b.base, b.len);
            sy_buf_dispose(&b);
        }
        sy_log_warn("request %s: upstream failed after the response started: %s", req->request_id,
                    detail ? detail : "?");
        sy_http_res_end(req);
    }
    release(c);
}

static const sy_call_sink_t chat_sink = {
    .head = sink_head,
    .data = sink_data,
    .done = sink_done,
};

static void on_client_drain(sy_http_req_t *req, void *ctx)
{
    chat_t *c = ctx;
    c->call.model->provider->proceed(&c->call);
}

static void on_client_abort(sy_http_req_t *req, void *ctx)
{
    chat_t *c = ctx;
    c->call.model->provider->stop(&c->call);
    release(c);
}

/* ---- validation ---- */

static bool fail(sy_http_req_t *req, sy_err_t err, const char *param, const char *msg)
{
    sy_api_send_error(req, err, param, msg);
    return false;
}

static bool missing(sy_http_req_t *req, const char *param, const char *msg)
{
    sy_api_send_error_ex(req, 400, "invalid_request_error", "missing_field", param, msg);
    return false;
}

static bool bool_or_null(sy_jsonv_type_t t)
{
    return t == SY_JSONV_ABSENT || t == SY_JSONV_TRUE || t == SY_JSONV_FALSE || t == SY_JSONV_NULL;
}

/* One pass over the body (core/jsonv: strict validation + the few fields the gateway needs);
 * no parse tree is built for a body that is forwarded as it is. */
static bool validate(sy_http_req_t *req, const sy_jsonv_chat_t *v)
{
    char msg[256], param[48];
    if (!v->is_object)
        return fail(req, SY_ERR_INVALID_REQUEST, NULL, "the request body must be a JSON object");
    if (v->model_type == SY_JSONV_ABSENT)
        return missing(req, "model", "you must provide a model parameter");
    if (v->model_type != SY_JSONV_STRING || v->model.len <= 2)
        return fail(req, SY_ERR_INVALID_REQUEST, "model", "'model' must be a non-empty string");
    if (v->messages_type == SY_JSONV_ABSENT)
        return missing(req, "messages", "you must provide a messages parameter");
    if (v->messages_type != SY_JSONV_ARRAY || v->messages_count == 0)
        return fail(req, SY_ERR_INVALID_REQUEST, "messages",
                    "'messages' must be a non-empty array");
    if (v->bad_message_index >= 0) {
        if (v->bad_message_reason == SY_JSONV_MSG_NOT_OBJECT) {
            snprintf(param, sizeof param, "messages[%ld]", v->bad_message_index);
            snprintf(msg, sizeof msg, "'%s' must be an object", param);
        } else {
            snprintf(param, sizeof param, "messages[%ld].role", v->bad_message_index);
            snprintf(msg, sizeof msg, "'%s' is required and must be a string", param);
        }
        return fail(req, SY_ERR_INVALID_REQUEST, param, msg);
    }
    if (!bool_or_null(v->stream_type))
        return fail(req, SY_ERR_INVALID_REQUEST, "stream", "'stream' must be a boolean");
    if (v->stream_options_type != SY_JSONV_ABSENT && v->stream_options_type != SY_JSONV_OBJECT &&
        v->stream_options_type != SY_JSONV_NULL)
        return fail(req, SY_ERR_INVALID_REQUEST, "stream_options",
                    "'stream_options' must be an object");
    if (!bool_or_null(v->include_usage_type))
        return fail(req, SY_ERR_INVALID_REQUEST, "stream_options.include_usage",
                    "'stream_options.include_usage' must be a boolean");
    return true;
}

void sy_api_chat_completions(sy_http_req_t *req, sy_worker_t *w)
{
    if (req->body.len == 0) {
        sy_api_send_error(req, SY_ERR_INVALID_JSON, NULL,
                          "the request body is empty; expected a JSON object");
        return;
    }
    sy_jsonv_chat_t v;
    sy_jsonv_err_t e;
    if (!sy_jsonv_scan_chat(req->body.base, req->body.len, &v, &e)) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "We could not parse the JSON body of your request: %s (at byte %zu, line %d, "
                 "column %d)",
                 e.text, e.position, e.line, e.column);
        sy_api_send_error(req, SY_ERR_INVALID_JSON, NULL, msg);
        return;
    }
    if (!validate(req, &v)) return;
    const char *model_name = v.model.ptr + 1;
    size_t model_len = v.model.len - 2;
    if (v.model_has_escape) {
        char *dec = sy_arena_alloc(&req->arena, v.model.len);
        if (!sy_jsonv_string_decode(v.model, dec, v.model.len, &model_len)) {
            sy_api_send_error(req, SY_ERR_INVALID_REQUEST, "model",
                              "'model' is not a valid string");
            return;
        }
        model_name = dec;
    }
    const sy_model_conf_t *model = sy_config_find_model(w->cfg, model_name, model_len);
    if (!model) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "The model '%.*s' does not exist or you do not have access to it.",
                 (int)(model_len > 200 ? 200 : model_len), model_name);
        sy_api_send_error(req, SY_ERR_MODEL_NOT_FOUND, "model", msg);
        return;
    }
    chat_t *c = sy_arena_alloc(&req->arena, sizeof *c);
    memset(c, 0, sizeof *c);
    c->req = req;
    c->w = w;
    c->boundary = SY_SSE_BOUNDARY_INIT;
    sy_buf_init(&c->errbody, 0);
    sy_call_t *call = &c->call;
    call->loop = &w->loop;
    call->upstream = w->upstream;
    call->model = model;
    call->request_id = req->request_id;
    call->body = sy_str(req->body.base, req->body.len);
    call->stream = v.stream_type == SY_JSONV_TRUE;
    call->include_usage = call->stream && v.include_usage_type == SY_JSONV_TRUE;
    call->arena = &req->arena;
    call->sink = &chat_sink;
    call->sink_ctx = c;
    req->on_abort = on_client_abort;
    req->on_drain = on_client_drain;
    req->hook_ctx = c;
    sy_err_t err = model->provider->start(call);
    if (err) {
        req->on_abort = NULL;
        req->on_drain = NULL;
        release(c);
        sy_api_send_error(req, err, NULL, "could not start the upstream call");
    }
}
