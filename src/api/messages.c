/* POST /v1/messages: the Anthropic-compatible ingress. The body is checked in one pass
 * (well-formed JSON, model, messages, stream); the model's deployments decide the rest: a
 * provider that speaks Anthropic gets the client's bytes (model replaced), any other gets the
 * request translated to OpenAI chat (api/messages_fmt.h, done once, on first need) and its
 * answers converted back by the relay. Errors use Anthropic's format. The client's key may come
 * in x-api-key or Authorization: Bearer; it is never forwarded upstream. */
#include <stdio.h>
#include <string.h>

#include "api/admission.h"
#include "api/api.h"
#include "api/messages_fmt.h"
#include "api/relay.h"
#include "core/jsonv.h"
#include "worker.h"

static sy_err_t to_openai(sy_route_t *r, sy_str_t *out, char *param, size_t plen, char *msg,
                          size_t mlen)
{
    sy_fmt_req_t t;
    memset(&t, 0, sizeof t);
    sy_err_t e = sy_messages_fmt_request(r->body.ptr, r->body.len, &t);
    if (e) {
        snprintf(param, plen, "%s", t.err_param);
        snprintf(msg, mlen, "%s", t.err_msg[0] ? t.err_msg : "invalid request");
        free(t.body);
        return e;
    }
    *out = sy_str(sy_arena_strndup(r->arena, t.body, t.len), t.len);
    free(t.body);
    if (t.warnings[0]) r->warning = sy_provider_warning(r->arena, t.warnings);
    return SY_OK;
}

static bool reject(sy_http_req_t *req, sy_worker_t *w, const sy_jsonv_chat_t *v, const char *param,
                   const char *msg)
{
    sy_relay_reject(req, w, SY_FORMAT_ANTHROPIC, SY_ERR_INVALID_REQUEST, NULL, param, msg, v);
    return false;
}

static bool validate(sy_http_req_t *req, sy_worker_t *w, const sy_jsonv_chat_t *v)
{
    if (!v->is_object) return reject(req, w, v, NULL, "the request body must be a JSON object");
    if (v->model_type != SY_JSONV_STRING || v->model.len <= 2)
        return reject(req, w, v, "model", "Field required: a non-empty string");
    if (v->messages_type != SY_JSONV_ARRAY)
        return reject(req, w, v, "messages", "Field required: an array of messages");
    if (v->bad_message_index >= 0) {
        char param[48];
        snprintf(param, sizeof param, "messages.%ld", v->bad_message_index);
        return reject(req, w, v, param, "each message must be an object with a role");
    }
    if (v->stream_type != SY_JSONV_ABSENT && v->stream_type != SY_JSONV_TRUE &&
        v->stream_type != SY_JSONV_FALSE && v->stream_type != SY_JSONV_NULL)
        return reject(req, w, v, "stream", "Input should be a valid boolean");
    return true;
}

void sy_api_messages(sy_http_req_t *req, sy_worker_t *w)
{
    sy_jsonv_chat_t v;
    if (!sy_relay_scan(req, w, SY_FORMAT_ANTHROPIC, &v) || !validate(req, w, &v)) return;
    const sy_model_conf_t *model = sy_relay_find_model(req, w, SY_FORMAT_ANTHROPIC, &v);
    if (!model) return;
    sy_route_t *r = sy_arena_alloc(&req->arena, sizeof *r);
    memset(r, 0, sizeof *r);
    r->model = model;
    r->format = SY_FORMAT_ANTHROPIC;
    r->body = sy_str(req->body.base, req->body.len);
    r->to_openai = to_openai;
    r->fwd_version = sy_http_req_header(req, "anthropic-version");
    r->fwd_beta = sy_http_req_header(req, "anthropic-beta");
    r->stream = v.stream_type == SY_JSONV_TRUE;
    sy_admission_run(req, w, SY_FORMAT_ANTHROPIC, r, &v);
}
