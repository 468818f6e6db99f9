/* Routes a request to its surface by method and path. */
#include <stdio.h>

#include "api/api.h"
#include "api/admin.h"
#include "api/gate.h"
#include "api/metrics.h"
#include "api/relay.h"
#include "api/routes.h"
#include "api/webapp.h"
#include "worker.h"

static bool method_is(const sy_http_req_t *req, llhttp_method_t m)
{
    return req->method == (uint8_t)m;
}

static void wrong_method(sy_http_req_t *req, const char *allowed)
{
    char msg[128];
    snprintf(msg, sizeof msg, "method not allowed for this path; use %s", allowed);
    sy_api_send_error(req, SY_ERR_METHOD_NOT_ALLOWED, NULL, msg);
}

static void no_route(sy_http_req_t *req)
{
    char msg[300];
    snprintf(msg, sizeof msg, "no route for %s %.*s",
             llhttp_method_name((llhttp_method_t)req->method),
             (int)(req->path.len > 200 ? 200 : req->path.len), req->path.ptr);
    sy_api_send_error(req, SY_ERR_NOT_FOUND, NULL, msg);
}

static void next_chat(sy_http_req_t *req, sy_worker_t *w)
{
    sy_api_chat_completions(req, w);
}
static void next_messages(sy_http_req_t *req, sy_worker_t *w)
{
    sy_api_messages(req, w);
}
static void next_models(sy_http_req_t *req, sy_worker_t *w)
{
    sy_str_t p = req->path;
    sy_api_models(req, w, p.len > 11 ? sy_str(p.ptr + 11, p.len - 11) : SY_STR_NULL);
}

static void next_logs(sy_http_req_t *req, sy_worker_t *w)
{
    sy_api_logs(req, w);
}
static void next_log_get(sy_http_req_t *req, sy_worker_t *w)
{
    sy_api_log_get(req, w, sy_str(req->path.ptr + 13, req->path.len - 13));
}
static void next_stats(sy_http_req_t *req, sy_worker_t *w)
{
    sy_api_stats(req, w);
}

void sy_api_handle(sy_http_req_t *req, void *ctx)
{
    sy_worker_t *w = ctx;
    sy_str_t p = req->path;
    if (sy_str_eq_c(p, "/v1/chat/completions")) {
        if (!method_is(req, HTTP_POST)) return wrong_method(req, "POST");
        return sy_gate_v1(req, w, SY_FORMAT_OPENAI, next_chat);
    }
    if (sy_str_eq_c(p, "/v1/messages")) {
        if (!method_is(req, HTTP_POST)) return wrong_method(req, "POST");
        return sy_gate_v1(req, w, SY_FORMAT_ANTHROPIC, next_messages);
    }
    if (sy_str_eq_c(p, "/v1/models")) {
        if (!method_is(req, HTTP_GET)) return wrong_method(req, "GET");
        return sy_gate_v1(req, w, SY_FORMAT_OPENAI, next_models);
    }
    if (p.len > 11 && memcmp(p.ptr, "/v1/models/", 11) == 0) {
        if (!method_is(req, HTTP_GET)) return wrong_method(req, "GET");
        return sy_gate_v1(req, w, SY_FORMAT_OPENAI, next_models);
    }
    if (sy_str_eq_c(p, "/metrics")) {
        if (!method_is(req, HTTP_GET)) return wrong_method(req, "GET");
        return sy_api_metrics(req, w);
    }
    if (p.len >= 7 && memcmp(p.ptr, "/api/v1", 7) == 0 && (p.len == 7 || p.ptr[7] == '/')) {
        /* the route table (api/routes.c) decides 404/405 for the whole prefix */
        char allowed[64];
        sy_api_route_result_t rr = sy_api_route_check(
            llhttp_method_name((llhttp_method_t)req->method), p, allowed, sizeof allowed);
        if (rr == SY_API_ROUTE_NO_METHOD) return wrong_method(req, allowed);
        if (rr == SY_API_ROUTE_NO_PATH) return no_route(req);
    }
    if (sy_webapp_handle(req)) return; /* "/", "/assets/…", /api/v1/openapi.json */
    if (sy_str_eq_c(p, "/api/v1/logs")) {
        if (!method_is(req, HTTP_GET)) return wrong_method(req, "GET");
        return sy_admin_gate(req, w, next_logs);
    }
    if (p.len > 13 && memcmp(p.ptr, "/api/v1/logs/", 13) == 0) {
        if (!method_is(req, HTTP_GET)) return wrong_method(req, "GET");
        return sy_admin_gate(req, w, next_log_get);
    }
    if (sy_str_eq_c(p, "/api/v1/models")) /* the route table allows GET only */
        return sy_api_models_list(req, w);
    if (sy_str_eq_c(p, "/api/v1/stats")) {
        if (!method_is(req, HTTP_GET)) return wrong_method(req, "GET");
        return sy_admin_gate(req, w, next_stats);
    }
    if (sy_str_eq_c(p, "/healthz")) {
        if (!method_is(req, HTTP_GET) && !method_is(req, HTTP_HEAD))
            return wrong_method(req, "GET");
        return sy_api_healthz(req, w);
    }
    if (sy_str_eq_c(p, "/readyz")) {
        if (!method_is(req, HTTP_GET) && !method_is(req, HTTP_HEAD))
            return wrong_method(req, "GET");
        return sy_api_readyz(req, w);
    }
    if (sy_admin_handle(req, w)) return;
    no_route(req);
}

void sy_api_on_reject(sy_http_req_t *req, int status, const char *type, const char *message,
                      void *ctx)
{
    if (!method_is(req, HTTP_POST)) return; /* only the inference endpoints get rows */
    if (sy_str_eq_c(req->path, "/v1/chat/completions") || sy_str_eq_c(req->path, "/v1/messages"))
        sy_relay_log_rejected(req, ctx, status, type, message, SY_STR_NULL);
}
