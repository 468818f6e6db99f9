/* The one table from internal errors to HTTP status and OpenAI error type/code. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/json.h"

static const struct {
    int status;
    const char *type;
    const char *code;
} table[SY_ERR__COUNT] = {
    [SY_OK] = {200, NULL, NULL},
    [SY_ERR_NOMEM] = {500, "server_error", "internal_error"},
    [SY_ERR_INVALID_JSON] = {400, "invalid_request_error", "invalid_json"},
    [SY_ERR_INVALID_REQUEST] = {400, "invalid_request_error", "invalid_value"},
    [SY_ERR_MODEL_NOT_FOUND] = {404, "invalid_request_error", "model_not_found"},
    [SY_ERR_NOT_FOUND] = {404, "invalid_request_error", "not_found"},
    [SY_ERR_METHOD_NOT_ALLOWED] = {405, "invalid_request_error", "method_not_allowed"},
    [SY_ERR_HEADER_TIMEOUT] = {408, "invalid_request_error", "request_timeout"},
    [SY_ERR_TOO_LARGE] = {413, "invalid_request_error", "request_too_large"},
    [SY_ERR_HEADERS_TOO_LARGE] = {431, "invalid_request_error", "headers_too_large"},
    [SY_ERR_BAD_HTTP] = {400, "invalid_request_error", "bad_request"},
    [SY_ERR_UPSTREAM_UNREACHABLE] = {502, "upstream_error", "upstream_unreachable"},
    [SY_ERR_UPSTREAM_BROKEN] = {502, "upstream_error", "upstream_broken"},
    [SY_ERR_UPSTREAM_TIMEOUT] = {504, "timeout_error", "upstream_timeout"},
    [SY_ERR_UPSTREAM_STATUS] = {502, "upstream_error", "upstream_error"},
    [SY_ERR_SHUTTING_DOWN] = {503, "server_error", "shutting_down"},
    [SY_ERR_UNAVAILABLE] = {503, "server_error", "no_deployment_available"},
    [SY_ERR_CONFIG] = {500, "server_error", "config_error"},
    [SY_ERR_INTERNAL] = {500, "server_error", "internal_error"},
    [SY_ERR_STORE] = {503, "server_error", "store_unavailable"},
    [SY_ERR_STORE_SCHEMA] = {500, "server_error", "store_schema_too_new"},
    [SY_ERR_CORRUPT] = {500, "server_error", "corrupt_data"},
    [SY_ERR_UNAUTHORIZED] = {401, "invalid_request_error", "invalid_api_key"},
    [SY_ERR_FORBIDDEN] = {403, "invalid_request_error", "forbidden"},
    [SY_ERR_RATE_LIMITED] = {429, "rate_limit_error", "rate_limit_exceeded"},
};

int sy_api_error_status(sy_err_t err)
{
    return (unsigned)err < SY_ERR__COUNT && table[err].status ? table[err].status : 500;
}

static void error_json(sy_buf_t *b, const char *type, const char *code, const char *param,
                       const char *message)
{
    sy_buf_append_c(b, "{\"error\":{\"message\":");
    sy_json_append_string(b, message, strlen(message));
    sy_buf_append_c(b, ",\"type\":");
    sy_json_append_string(b, type, strlen(type));
    sy_buf_append_c(b, ",\"param\":");
    if (param)
        sy_json_append_string(b, param, strlen(param));
    else
        sy_buf_append_c(b, "null");
    sy_buf_append_c(b, ",\"code\":");
    if (code)
        sy_json_append_string(b, code, strlen(code));
    else
        sy_buf_append_c(b, "null");
    sy_buf_append_c(b, "}}");
}

void sy_api_error_json(sy_buf_t *b, sy_err_t err, const char *param, const char *message)
{
    if ((unsigned)err >= SY_ERR__COUNT || !table[err].type) err = SY_ERR_INTERNAL;
    error_json(b, table[err].type, table[err].code, param, message);
}

void sy_api_overhead_header(sy_http_header_t *hdr, char buf[24], uint64_t us)
{
    int n = snprintf(buf, 24, "%llu", (unsigned long long)us);
    hdr->name = SY_STR_LIT("x-switchyard-overhead-us");
    hdr->value = sy_str(buf, (size_t)n);
}

void sy_api_send_json(sy_http_req_t *req, int status, const char *body, size_t len,
                      const sy_http_header_t *extra, size_t n_extra)
{
    sy_http_header_t h[16];
    size_t n = 0;
    char ov[24];
    sy_api_overhead_header(&h[n++], ov, sy_clock_mono_us() - req->t_complete_us);
    for (size_t i = 0; i < n_extra && n < 16; i++)
        h[n++] = extra[i];
    sy_http_res_send(req, status, "application/json", body, len, h, n);
}

void sy_api_send_error_hdrs(sy_http_req_t *req, int status, const char *type, const char *code,
                            const char *param, const char *message, const sy_http_header_t *extra,
                            size_t n_extra)
{
    sy_buf_t b;
    sy_buf_init(&b, 64 * 1024);
    error_json(&b, type, code, param, message);
    sy_api_send_json(req, status, b.base, b.len, extra, n_extra);
    sy_buf_dispose(&b);
}

void sy_api_send_error_ex(sy_http_req_t *req, int status, const char *type, const char *code,
                          const char *param, const char *message)
{
    sy_api_send_error_hdrs(req, status, type, code, param, message, NULL, 0);
}

void sy_api_error_info(sy_err_t err, int *status, const char **type, const char **code)
{
    if ((unsigned)err >= SY_ERR__COUNT || !table[err].type) err = SY_ERR_INTERNAL;
    *status = table[err].status;
    *type = table[err].type;
    *code = table[err].code;
}

void sy_api_send_error(sy_http_req_t *req, sy_err_t err, const char *param, const char *message)
{
    if ((unsigned)err >= SY_ERR__COUNT || !table[err].type) err = SY_ERR_INTERNAL;
    sy_api_send_error_ex(req, table[err].status, table[err].type, table[err].code, param, message);
}
