/* Chat generation (issue 6; docs/internals/CHAT.md "Generation", docs/API.md):
 *
 *   POST /api/v1/conversations/{id}/generate               SSE: start, delta*, metrics*, done
 *   GET  /api/v1/conversations/{id}/messages/{mid}/stream  re-attach (same SSE)
 *   POST /api/v1/conversations/{id}/messages/{mid}/cancel  stop; 200 {"message": final row}
 *
 * DESIGN
 * - Loopback: a generation calls the gateway's own listener (POST /v1/chat/completions,
 *   stream, include_usage) with the loop's upstream client (the native HTTP/1.1 client for a
 *   numeric address), so the answer takes exactly the path of any /v1 call: the gate, the
 *   limits phase, routing with retries and fallbacks, the relay and its inference-log row. The
 *   request carries x-switchyard-internal (a random per-process token, compared in constant
 *   time, never logged) and x-switchyard-generation (the answer's message id): the gate then
 *   acts as the generation's user (its identity, loaded by the chat API's thread-pool job, is
 *   held by the generation), and the relay gives the call's last log row the id the generation
 *   chose up front (the message's log_id). Any other request with the header is a 401.
 * - Owned by the server: a generation lives on the loop of the worker that took the POST, in
 *   a process-wide registry (mutex) keyed by message id. Clients are watchers: the POST's
 *   client and any GET …/stream client, on any loop thread; each has a uv_async_t on its own
 *   loop, sent under the generation's lock, so a loop never blocks and never touches another
 *   loop's handles. A watcher leaving never stops the generation.
 * - Text so far is kept (at most SY_CHAT_CONTENT_MAX bytes: beyond it the call is stopped and
 *   the answer stored as an error "cut"). Nothing is written per token: a checkpoint of the
 *   text every 2 s while it grows, and the final row, one UPDATE … WHERE status = 'streaming' on
 *   the thread pool (written exactly once).
 * - Stop: the upstream call is cancelled (its connection closes; the relay on the other end
 *   logs the row as cancelled) and the partial text stored as "cancelled". Shutdown: at the
 *   end of the grace period (sy_chatgen_worker_stop) running generations are stored as error.
 * Threads: everything runs on loop threads except the store work (uv_queue_work). */
#ifndef SY_API_CHATGEN_H
#define SY_API_CHATGEN_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/admin.h"
#include "core/buf.h"
#include "http/server.h"
#include "store/appchat.h"

struct sy_worker;
struct sy_auth_ident;

/* Routes generate / messages/{mid}/stream / messages/{mid}/cancel of conversation conv
 * (rest: the path after the conversation id). True when handled. Loop thread. */
bool sy_chatgen_handle(sy_http_req_t *req, struct sy_worker *w, sy_str_t conv, sy_str_t rest);

/* The gate's hook: when req carries x-switchyard-internal, *ident is set to a reference to the
 * identity of the live generation the request names (NULL: the token or the generation is
 * wrong: refuse with 401) and true is returned; false: not an internal request. Any loop. */
bool sy_chatgen_internal_ident(const sy_http_req_t *req, const struct sy_auth_ident **ident);

/* Generations running on w's loop (drain waits for them). Loop thread of w. */
size_t sy_chatgen_worker_busy(const struct sy_worker *w);
/* End of the grace period: every generation of w is stopped and stored as error. Must be
 * called before the worker frees its upstream client. Loop thread of w. */
void sy_chatgen_worker_stop(struct sy_worker *w);

/* ---- shared with api/chatapi.c (the storage API's job helpers) ---- */
sy_err_t sy_chatapi_append_msg(sy_buf_t *b, const sy_app_msg_t *m);
bool sy_chatapi_may_write(sy_admin_call_t *c);
sy_app_conv_t *sy_chatapi_load_conv(sy_admin_call_t *c);
void sy_chatapi_store_error(sy_admin_call_t *c, sy_err_t err, const char *msg, const char *what);
char *sy_chatapi_auto_title(const char *content);
/* 1..63 of [A-Za-z0-9_-]: the ids in chat paths and bodies. */
bool sy_chatapi_id_ok(const char *p, size_t n);

#endif
