/* The response side shared by the chat ingresses (/v1/chat/completions, /v1/messages): runs a
 * routed call (routing/route.h) and relays what it reports to the client, with backpressure,
 * SSE keep-alive comments during upstream silence, error bodies rendered in the ingress's
 * format, and the upstream call stopped when the client goes away. For the Anthropic ingress
 * in front of an OpenAI-speaking provider it converts responses on the fly
 * (api/messages_fmt.h); when the provider speaks Anthropic itself, bytes pass through.
 * Inference log: every response byte sent is teed into a bounded capture, and when the
 * request ends (any path) one row per route attempt is submitted to the worker's log producer
 * (never blocks; parsing, pricing and redaction happen on the writer thread: logpipe/enrich.h).
 * DESIGN: the relay lives in the request arena; its only heap objects are the keep-alive timer
 * (closed asynchronously), conversion state and the capture buffers (moved to the log row),
 * released at the end. Every path ends in
 * exactly one of: on_done (route finished) or on_client_abort (client gone; route stopped). */
#ifndef SY_API_RELAY_H
#define SY_API_RELAY_H
#include "core/jsonv.h"
#include "http/server.h"
#include "routing/route.h"

struct sy_worker;
struct sy_admission_req;

/* Starts relaying. `ingress` is the client's format; r must be filled (inputs) except sink,
 * ctx, loop, upstream, arena and max_error_bytes, which the relay sets. adm: the request's
 * limits ticket (api/admission.h) or NULL; the relay takes it: every response carries its
 * x-ratelimit-* headers, and it is finished exactly once when the request ends. */
void sy_relay_start(sy_http_req_t *req, struct sy_worker *w, sy_format_t ingress, sy_route_t *r,
                    struct sy_admission_req *adm);

/* The first steps both ingresses share: the body is scanned in one validating pass (core/jsonv,
 * no tree), and after the ingress's own field checks the model is looked up. Each rejects the
 * request (sy_relay_reject) and returns false / NULL on failure. */
bool sy_relay_scan(sy_http_req_t *req, struct sy_worker *w, sy_format_t ingress,
                   sy_jsonv_chat_t *v);
const sy_model_conf_t *sy_relay_find_model(sy_http_req_t *req, struct sy_worker *w,
                                           sy_format_t ingress, const sy_jsonv_chat_t *v);

/* Rejects a request before routing: sends the error in the ingress's format (code: the OpenAI
 * error code when it differs from err's, else NULL) and logs its row (sy_relay_log_rejected)
 * with the model the client named when v has one (v NULL: the body did not parse). */
void sy_relay_reject(sy_http_req_t *req, struct sy_worker *w, sy_format_t ingress, sy_err_t err,
                     const char *code, const char *param, const char *message,
                     const sy_jsonv_chat_t *v);

/* One inference-log row (status error, no provider/deployment) for a request to an inference
 * endpoint that was answered with an error before routing: http_status, OpenAI-style error
 * type, message, the model as named by the client (NULL view: unknown), the raw request body
 * (whatever was received, capped). Loop thread; never blocks; no-op when logging is off. */
void sy_relay_log_rejected(sy_http_req_t *req, struct sy_worker *w, int http_status,
                           const char *type, const char *message, sy_str_t model);

/* log.fsync always: a finished request's response is held (its final chunk, or the whole
 * response when it is sent at once) until its log row is durable. The worker calls this on its
 * loop when the log writer said durable moved: every held response whose row is now durable is
 * released. */
void sy_relay_durable_kick(struct sy_worker *w);
/* The worker calls this on a timer: a held response whose row is still not durable after
 * log.ack_timeout_ms (the spool write or fdatasync keeps failing) is given up
 * (sy_http_res_fail_held: the connection closes without it), so the client sees a failed
 * request instead of hanging, or of an acknowledgement that would not be true. */
void sy_relay_durable_expire(struct sy_worker *w);

/* Sends a gateway error in the ingress's format (OpenAI error JSON, or Anthropic's). */
void sy_relay_send_error(sy_http_req_t *req, sy_format_t ingress, sy_err_t err, const char *param,
                         const char *message);

#endif
