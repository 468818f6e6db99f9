/* API surfaces: the HTTP handler that routes requests to one file per surface, and the one
 * table that maps internal errors to HTTP status + OpenAI error JSON. Runs on loop threads;
 * the handler context is the thread's sy_worker_t. */
#ifndef SY_API_API_H
#define SY_API_API_H
#include "core/err.h"
#include "http/server.h"

struct sy_worker;

/* sy_http_handler_cb: routes one request. ctx is the sy_worker_t. */
void sy_api_handle(sy_http_req_t *req, void *ctx);
/* sy_http_server_t.on_reject: a row for an inference request the HTTP layer refused (413). */
void sy_api_on_reject(sy_http_req_t *req, int status, const char *type, const char *message,
                      void *ctx);

/* Sends OpenAI's error JSON {"error":{"message","type","param","code"}} with the status, type
 * and code that the table assigns to err. param may be NULL. */
void sy_api_send_error(sy_http_req_t *req, sy_err_t err, const char *param, const char *message);
/* Same with explicit status/type/code (for upstream errors and special cases). */
void sy_api_send_error_ex(sy_http_req_t *req, int status, const char *type, const char *code,
                          const char *param, const char *message);
/* Same with extra response headers (at most 15). */
void sy_api_send_error_hdrs(sy_http_req_t *req, int status, const char *type, const char *code,
                            const char *param, const char *message, const sy_http_header_t *extra,
                            size_t n_extra);
/* Sends a complete application/json response with the overhead header and extra headers. */
void sy_api_send_json(sy_http_req_t *req, int status, const char *body, size_t len,
                      const sy_http_header_t *extra, size_t n_extra);
/* The table's status, OpenAI type and code for err. */
void sy_api_error_info(sy_err_t err, int *status, const char **type, const char **code);
/* Appends the error object JSON to b (used for in-stream SSE error events too). */
void sy_api_error_json(sy_buf_t *b, sy_err_t err, const char *param, const char *message);
/* HTTP status for err. */
int sy_api_error_status(sy_err_t err);
/* Writes "x-switchyard-overhead-us" into hdr, using buf for the value. */
void sy_api_overhead_header(sy_http_header_t *hdr, char buf[24], uint64_t us);

/* Surfaces */
void sy_api_chat_completions(sy_http_req_t *req, struct sy_worker *w);
void sy_api_messages(sy_http_req_t *req, struct sy_worker *w);
void sy_api_models(sy_http_req_t *req, struct sy_worker *w, sy_str_t id);
/* GET /api/v1/models: every configured model with its provider, deployments, price and the chat
 * app's ui block (docs/API.md). Any signed-in user (session or a user's key); open in
 * auth.mode local. */
void sy_api_models_list(sy_http_req_t *req, struct sy_worker *w);
void sy_api_healthz(sy_http_req_t *req, struct sy_worker *w);
void sy_api_readyz(sy_http_req_t *req, struct sy_worker *w);
/* The inference-log query API (api/logs.c): the store runs on libuv's thread pool. */
void sy_api_logs(sy_http_req_t *req, struct sy_worker *w);
void sy_api_log_get(sy_http_req_t *req, struct sy_worker *w, sy_str_t id);
void sy_api_stats(sy_http_req_t *req, struct sy_worker *w);

#endif
