/* POST /v1/chat/completions: validate in one pass without building a tree, find the model,
 * then route the call and relay the response (api/relay.h). */
#include <stdio.h>
#include <string.h>

#include "api/admission.h"
#include "api/api.h"
#include "api/relay.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/jsonv.h"
#include "core/log.h"
#include "http/sse.h"
#include "providers/provider.h"
#include "worker.h"

/* ---- validation ---- */

/* Sends the error and logs the rejection's row (api/relay.h). */
static bool reject(sy_http_req_t *req, sy_worker_t *w, const sy_jsonv_chat_t *v, sy_err_t err,
                   const char *code, const char *param, const char *msg)
{
    sy_relay_reject(req, w, SY_FORMAT_OPENAI, err, code, param, msg, v);
    return false;
}

static bool bool_or_null(sy_jsonv_type_t t)
{
    return t == SY_JSONV_ABSENT || t == SY_JSONV_TRUE || t == SY_JSONV_FALSE || t == SY_JSONV_NULL;
}

/* One pass over the body (core/jsonv: strict validation + the few fields the gateway needs);
 * no parse tree is built for a body that is forwarded as it is. */
static bool validate(sy_http_req_t *req, sy_worker_t *w, const sy_jsonv_chat_t *v)
{
    char msg[256], param[48];
    if (!v->is_object)
        return reject(req, w, v, SY_ERR_INVALID_REQUEST, NULL, NULL,
                      "the request body must be a JSON object");
    if (v->model_type == SY_JSONV_ABSENT)
        return reject(req, w, v, SY_ERR_INVALID_REQUEST, "missing_field", "model",
                      "you must provide a model parameter");
    if (v->model_type != SY_JSONV_STRING || v->model.len <= 2)
        return reject(req, w, v, SY_ERR_INVALID_REQUEST, NULL, "model",
                      "'model' must be a non-empty string");
    if (v->messages_type == SY_JSONV_ABSENT)
        return reject(req, w, v, SY_ERR_INVALID_REQUEST, "missing_field", "messages",
                      "you must provide a messages parameter");
    if (v->messages_type != SY_JSONV_ARRAY || v->messages_count == 0)
        return reject(req, w, v, SY_ERR_INVALID_REQUEST, NULL, "messages",
                      "'messages' must be a non-empty array");
    if (v->bad_message_index >= 0) {
        if (v->bad_message_reason == SY_JSONV_MSG_NOT_OBJECT) {
            snprintf(param, sizeof param, "messages[%ld]", v->bad_message_index);
            snprintf(msg, sizeof msg, "'%s' must be an object", param);
        } else {
            snprintf(param, sizeof param, "messages[%ld].role", v->bad_message_index);
            snprintf(msg, sizeof msg, "'%s' is required and must be a string", param);
        }
        return reject(req, w, v, SY_ERR_INVALID_REQUEST, NULL, param, msg);
    }
    if (!bool_or_null(v->stream_type))
        return reject(req, w, v, SY_ERR_INVALID_REQUEST, NULL, "stream",
                      "'stream' must be a boolean");
    if (v->stream_options_type != SY_JSONV_ABSENT && v->stream_options_type != SY_JSONV_OBJECT &&
        v->stream_options_type != SY_JSONV_NULL)
        return reject(req, w, v, SY_ERR_INVALID_REQUEST, NULL, "stream_options",
                      "'stream_options' must be an object");
    if (!bool_or_null(v->include_usage_type))
        return reject(req, w, v, SY_ERR_INVALID_REQUEST, NULL, "stream_options.include_usage",
                      "'stream_options.include_usage' must be a boolean");
    return true;
}

void sy_api_chat_completions(sy_http_req_t *req, sy_worker_t *w)
{
    sy_jsonv_chat_t v;
    if (!sy_relay_scan(req, w, SY_FORMAT_OPENAI, &v) || !validate(req, w, &v)) return;
    const sy_model_conf_t *model = sy_relay_find_model(req, w, SY_FORMAT_OPENAI, &v);
    if (!model) return;
    sy_route_t *r = sy_arena_alloc(&req->arena, sizeof *r);
    memset(r, 0, sizeof *r);
    r->model = model;
    r->format = SY_FORMAT_OPENAI;
    r->body = sy_str(req->body.base, req->body.len);
    r->stream = v.stream_type == SY_JSONV_TRUE;
    r->include_usage = r->stream && v.include_usage_type == SY_JSONV_TRUE;
    sy_admission_run(req, w, SY_FORMAT_OPENAI, r, &v);
}
