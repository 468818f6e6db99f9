/* Chat generation's routes (chatgen.h): the loop-side checks, the thread-pool jobs that check
 * ownership and write the first rows, and the continuations that start or watch a generation
 * (chatgen.c). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/chatgen.h"
#include "api/chatgen_fmt.h"
#include "api/chatgen_int.h"
#include "core/alloc.h"
#include "core/uuid.h"
#include "worker.h"

static void genreq_free(sy_chatgen_req_t *r)
{
    if (r->live) sy_chatgen_unref(r->live);
    if (r->gen) sy_chatgen_unref(r->gen);
    sy_jschema_free(r->schema);
    free(r->body);
    free(r->user_json);
    free(r->msg_json);
    sy_app_msg_free(r->row);
    free(r);
}

static sy_app_msg_t *msg_dup(const sy_app_msg_t *m)
{
    sy_app_msg_t *c = sy_xcalloc(1, sizeof *c);
#define DUP(f) c->f = m->f ? sy_xstrdup(m->f) : NULL
    DUP(id);
    DUP(conversation_id);
    DUP(parent_id);
    DUP(role);
    DUP(content);
    DUP(status);
    DUP(model);
    DUP(params);
    DUP(log_id);
    DUP(error);
    DUP(metrics);
    DUP(request_id);
    DUP(schema_errors);
#undef DUP
    c->created_us = m->created_us;
    return c;
}

/* ---- pool thread: the generate job ---- */

/* Tests only: SWITCHYARD_TEST_GENERATE_DELAY_MS holds the job (a pool thread) after the rows
 * are written and before the generation starts on its loop, so that tests can hit that window
 * (…/stream and …/cancel on a registered placeholder) deterministically. */
static void test_delay(void)
{
    const char *v = getenv("SWITCHYARD_TEST_GENERATE_DELAY_MS");
    long ms = v ? strtol(v, NULL, 10) : 0;
    if (ms > 0 && ms <= 10000) uv_sleep((unsigned)ms);
}

static void op_generate(sy_admin_call_t *c)
{
    sy_chatgen_req_t *r = sy_admin_call_data(c);
    if (!sy_chatapi_may_write(c)) return;
    json_t *body = sy_admin_call_body(c);
    const char *model = json_string_value(json_object_get(body, "model"));
    /* a user key's allow-list, before any row or SSE (a session may use every model) */
    if (!sy_auth_model_allowed(sy_admin_call_ident(c), sy_str_c(model))) {
        char m[300];
        snprintf(m, sizeof m, "This API key is not allowed to use the model '%.200s'.", model);
        return sy_admin_call_answer(c, 403,
                                    json_pack("{s:{s:s, s:s, s:s, s:s}}", "error", "message", m,
                                              "type", "invalid_request_error", "param", "model",
                                              "code", "model_not_allowed"));
    }
    /* the schema: deep copy + a PCRE2 compile per pattern, here rather than on the loop; a bad
     * one is a 400 before any row or SSE */
    sy_chatgen_refusal_t why;
    r->schema = sy_chatgen_compile_schema(body, &why);
    if (why.code)
        return sy_admin_call_answer(c, 400,
                                    json_pack("{s:{s:s, s:s, s:s, s:s}}", "error", "message",
                                              why.message, "type", "invalid_request_error", "param",
                                              why.param, "code", why.code));
    sy_app_conv_t *conv = sy_chatapi_load_conv(c);
    if (!conv) return;
    sy_store_t *s = sy_admin_call_store(c);
    const char *parent = json_string_value(json_object_get(body, "parent_id"));
    const char *content = json_string_value(json_object_get(body, "content"));
    char msg[SY_STORE_MSGLEN];
    sy_app_msg_t **v = NULL, **branch = NULL;
    size_t n = 0, depth = 0;
    char *params = NULL;
    json_t *req = NULL;
    sy_err_t err = sy_app_msg_list(s, conv->id, &v, &n, msg, sizeof msg);
    if (err) goto fail;
    if (n + (content ? 2 : 1) > SY_CHAT_MESSAGES_MAX) {
        sy_admin_call_fail(c, SY_ERR_INVALID_REQUEST,
                           "this conversation has reached its limit of 5000 messages; start a "
                           "new one");
        goto out;
    }
    /* the branch: parent up to its root (bounded by n: a cycle cannot loop) */
    branch = sy_xcalloc(n ? n : 1, sizeof *branch);
    const sy_app_msg_t *p = NULL;
    for (size_t i = 0; parent && i < n && !p; i++)
        if (!strcmp(v[i]->id, parent)) p = v[i];
    if (parent && !p) {
        sy_admin_call_fail(c, SY_ERR_INVALID_REQUEST,
                           "'parent_id' is not a message of this conversation");
        goto out;
    }
    if (!content && strcmp(p->role, "user")) {
        sy_admin_call_fail(c, SY_ERR_INVALID_REQUEST,
                           "to regenerate (no 'content'), 'parent_id' must be a user message");
        goto out;
    }
    for (const sy_app_msg_t *m = p; m && depth < n;) {
        branch[depth++] = (sy_app_msg_t *)m;
        const sy_app_msg_t *up = NULL;
        for (size_t i = 0; m->parent_id && i < n && !up; i++)
            if (!strcmp(v[i]->id, m->parent_id)) up = v[i];
        m = up;
    }
    for (size_t i = 0; i < depth / 2; i++) { /* root first */
        sy_app_msg_t *t = branch[i];
        branch[i] = branch[depth - 1 - i];
        branch[depth - 1 - i] = t;
    }
    req = sy_chatgen_request(model, branch, depth, content, body);
    r->body = json_dumps(req, JSON_COMPACT);
    r->body_len = r->body ? strlen(r->body) : 0;
    if (!r->body || r->body_len > r->max_body) {
        sy_admin_call_fail(c, SY_ERR_INVALID_REQUEST,
                           "the conversation is too long for one request (server.max_body_bytes)");
        goto out;
    }
    r->ident = *sy_admin_call_ident(c);
    json_t *pj = json_object_get(body, "params");
    params = json_is_object(pj) && json_object_size(pj)
                 ? json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS)
                 : NULL;
    int64_t now = sy_admin_call_now(c);
    char uid[SY_UUID_STRLEN + 1], aid[SY_UUID_STRLEN + 1], rid[SY_UUID_STRLEN + 1];
    sy_uuid_v7(rid);
    sy_uuid_v7(uid);
    sy_uuid_v7(aid);
    sy_app_msg_t am = {.id = aid,
                       .conversation_id = conv->id,
                       .parent_id = content ? uid : (char *)parent,
                       .role = "assistant",
                       .content = "",
                       .status = "streaming",
                       .model = (char *)model,
                       .params = params,
                       .request_id = rid,
                       .created_us = now + (content ? 1 : 0)};
    r->msg_json = sy_chatgen_render(&am);
    /* registered before the rows exist: whoever reads the streaming row finds the generation */
    r->gen = sy_chatgen_reserve(sy_admin_call_user_id(c), r->max_live, aid, conv->id, r->msg_json);
    if (!r->gen) {
        r->too_many = true; /* the continuation answers 429 with Retry-After */
        sy_admin_call_continue(c);
        goto out;
    }
    if (content) {
        sy_app_msg_t um = {.id = uid,
                           .conversation_id = conv->id,
                           .parent_id = (char *)parent,
                           .role = "user",
                           .content = (char *)content,
                           .status = "ok",
                           .model = (char *)model,
                           .params = params,
                           .created_us = now};
        /* room 2: the question is refused when its answer would not fit */
        if ((err = sy_app_msg_insert(s, &um, 2, msg, sizeof msg))) goto abandon;
        r->user_json = sy_chatgen_render(&um);
        if (!conv->title) conv->title = sy_chatapi_auto_title(content);
    }
    if ((err = sy_app_msg_insert(s, &am, 1, msg, sizeof msg))) goto abandon;
    r->row = msg_dup(&am);
    free(conv->current_leaf);
    conv->current_leaf = sy_xstrdup(aid);
    conv->updated_us = now;
    if ((err = sy_app_conv_update(s, conv, msg, sizeof msg))) {
        /* the row exists: end it (and any re-attached client) rather than leave it streaming */
        am.status = "error";
        am.error = "the answer could not be started";
        char m2[SY_STORE_MSGLEN];
        sy_app_msg_finish(s, &am, m2, sizeof m2);
        goto abandon;
    }
    test_delay();
    snprintf(r->conv_id, sizeof r->conv_id, "%s", conv->id);
    sy_admin_call_continue(c);
    goto out;
abandon : {
    char *fin = sy_chatgen_render(&am);
    sy_chatgen_abandon(r->gen, fin);
    free(fin);
}
fail:
    sy_chatapi_store_error(c, err, msg, "conversation");
out:
    json_decref(req);
    free(params);
    free(branch);
    sy_app_msg_list_free(v, n);
    sy_app_conv_free(conv);
}

/* STREAM and CANCEL: the conversation is the caller's and holds the message. */
static void op_message(sy_admin_call_t *c)
{
    sy_chatgen_req_t *r = sy_admin_call_data(c);
    if (r->kind == SY_CHATGEN_CANCEL && !sy_chatapi_may_write(c)) return;
    sy_app_conv_t *conv = sy_chatapi_load_conv(c);
    if (!conv) return;
    sy_app_msg_t *m = NULL;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = sy_app_msg_get(sy_admin_call_store(c), conv->id, r->mid, &m, msg, sizeof msg);
    sy_app_conv_free(conv);
    if (err) return sy_chatapi_store_error(c, err, msg, "message");
    if (!r->live && !strcmp(m->status, "streaming") &&
        m->updated_us < sy_admin_call_now(c) - SY_CHAT_STALE_MS * 1000) {
        /* no live generation here and no write for a while: a process that died left it (the
         * sweep stores it so soon). A fresh one is another replica's live answer: as it is. */
        free(m->status);
        m->status = sy_xstrdup("error");
        free(m->error);
        m->error = sy_xstrdup(SY_CHAT_INTERRUPTED);
    }
    r->msg_json = sy_chatgen_render(m);
    bool finished = strcmp(m->status, "streaming") != 0;
    sy_app_msg_free(m);
    if (r->kind == SY_CHATGEN_CANCEL && !r->live && finished)
        return sy_admin_call_answer(c, 409,
                                    json_pack("{s:{s:s, s:s, s:n, s:s}}", "error", "message",
                                              "the answer is not streaming any more", "type",
                                              "invalid_request_error", "param", "code",
                                              "conflict"));
    sy_admin_call_continue(c);
}

/* ---- loop side of the routes ---- */

static void on_generate_cont(sy_http_req_t *req, sy_worker_t *w, void *data, bool continued)
{
    sy_chatgen_req_t *r = data;
    if (continued && r->too_many) {
        if (req) sy_chatgen_send_too_many(req, false, r->max_live);
    } else if (continued) {
        sy_chatgen_start(w, r, req);
    }
    genreq_free(r);
}

static void on_message_cont(sy_http_req_t *req, sy_worker_t *w, void *data, bool continued)
{
    sy_chatgen_req_t *r = data;
    if (!continued || !req) return genreq_free(r);
    struct sy_chatgen *g = r->live;
    bool live = g && sy_chatgen_cancel(g, r->kind == SY_CHATGEN_CANCEL);
    if (r->kind == SY_CHATGEN_CANCEL) {
        if (live)
            sy_chatgen_watch(g, req, w, NULL, true);
        else
            sy_api_send_error_ex(req, 409, "invalid_request_error", "conflict", NULL,
                                 "the answer is not streaming any more");
    } else if (g) {
        /* a finished one sends start + done at once */
        if (!sy_chatgen_watch(g, req, w, NULL, false)) sy_chatgen_send_too_many(req, true, 0);
    } else {
        sy_chatgen_send_stored(req, r->msg_json);
    }
    genreq_free(r);
}

bool sy_chatgen_handle(sy_http_req_t *req, sy_worker_t *w, sy_str_t conv, sy_str_t rest)
{
    bool post = req->method == HTTP_POST;
    int kind;
    sy_str_t mid = SY_STR_NULL;
    if (sy_str_eq_c(rest, "generate")) {
        kind = SY_CHATGEN_GENERATE;
    } else {
        sy_str_t tail = sy_str(rest.ptr + 9, rest.len - 9); /* after "messages/" */
        const char *slash = memchr(tail.ptr, '/', tail.len);
        if (!slash) return false;
        mid = sy_str(tail.ptr, (size_t)(slash - tail.ptr));
        sy_str_t verb = sy_str(slash + 1, tail.len - mid.len - 1);
        if (sy_str_eq_c(verb, "stream"))
            kind = SY_CHATGEN_STREAM;
        else if (sy_str_eq_c(verb, "cancel"))
            kind = SY_CHATGEN_CANCEL;
        else
            return false;
    }
    bool want_post = kind != SY_CHATGEN_STREAM;
    int m = req->method == HTTP_HEAD ? HTTP_GET : req->method;
    if (want_post ? !post : m != HTTP_GET) {
        sy_api_send_error(req, SY_ERR_METHOD_NOT_ALLOWED, NULL,
                          want_post ? "method not allowed for this path; use POST"
                                    : "method not allowed for this path; use GET");
        return true;
    }
    if (!sy_chatapi_id_ok(conv.ptr, conv.len) || (mid.ptr && !sy_chatapi_id_ok(mid.ptr, mid.len))) {
        sy_api_send_error(req, SY_ERR_INVALID_REQUEST, "id", "malformed id");
        return true;
    }
    sy_chatgen_req_t *r = sy_xcalloc(1, sizeof *r);
    r->kind = kind;
    r->max_body = w->cfg->max_body_bytes;
    r->max_live = w->cfg->max_live_generations_per_user;
    json_t *body = NULL;
    if (kind == SY_CHATGEN_GENERATE) {
        body = req->body.len ? json_loadb(req->body.base, req->body.len, 0, NULL) : NULL;
        if (!json_is_object(body)) {
            json_decref(body);
            free(r);
            sy_api_send_error(req, SY_ERR_INVALID_JSON, NULL, "the body must be a JSON object");
            return true;
        }
        sy_chatgen_refusal_t why;
        json_t *mv = json_object_get(body, "model");
        r->model = json_is_string(mv)
                       ? sy_config_find_model(w->cfg, json_string_value(mv), json_string_length(mv))
                       : NULL;
        if ((r->model && !sy_chatgen_apply_ui(body, &r->model->ui, r->model->name, &why)) ||
            !sy_chatgen_check_body(body, &why)) {
            json_decref(body);
            free(r);
            if (why.code)
                sy_api_send_error_ex(req, 400, "invalid_request_error", why.code,
                                     why.param[0] ? why.param : NULL, why.message);
            else
                sy_api_send_error(req, SY_ERR_INVALID_REQUEST, why.param[0] ? why.param : NULL,
                                  why.message);
            return true;
        }
        if (!r->model) {
            json_decref(body);
            genreq_free(r);
            sy_api_send_error(req, SY_ERR_MODEL_NOT_FOUND, "model",
                              "The model does not exist: it is not configured on this gateway.");
            return true;
        }
        sy_admin_run_user_then(req, w, op_generate, body, conv, on_generate_cont, r);
        return true;
    }
    memcpy(r->mid, mid.ptr, mid.len);
    r->live = sy_chatgen_find(mid.ptr, mid.len);
    sy_admin_run_user_then(req, w, op_message, kind == SY_CHATGEN_CANCEL ? json_object() : NULL,
                           conv, on_message_cont, r);
    return true;
}
