/* The Anthropic-compatible ingress (POST /v1/messages) in front of providers that speak OpenAI
 * chat: Anthropic request -> OpenAI chat request, and OpenAI responses, stream chunks and errors
 * -> Anthropic's. Pure translation (no I/O), see providers/fmt.h. Thread: any. */
#ifndef SY_API_MESSAGES_FMT_H
#define SY_API_MESSAGES_FMT_H
#include "providers/fmt.h"

/* Anthropic Messages request -> OpenAI chat request (model kept as the client wrote it; for a
 * stream, stream_options.include_usage is set so usage can be reported). Validates what the
 * Messages API requires (model, max_tokens, messages). SY_OK or SY_ERR_INVALID_JSON /
 * SY_ERR_INVALID_REQUEST with err_param/err_msg. */
sy_err_t sy_messages_fmt_request(const char *body, size_t len, sy_fmt_req_t *out);
/* OpenAI chat.completion -> Anthropic Message JSON appended to out. usage may be NULL.
 * SY_ERR_UPSTREAM_BROKEN if body is not a chat completion. */
sy_err_t sy_messages_fmt_response(const char *body, size_t len, const sy_fmt_resp_opts_t *o,
                                  sy_buf_t *out, sy_fmt_usage_t *usage);
/* An error (OpenAI error JSON, or any body) with its HTTP status -> Anthropic error JSON
 * {"type":"error","error":{"type","message"}} appended to out. The type comes from the status
 * (400 invalid_request_error, 401 authentication_error, 403 permission_error, 404
 * not_found_error, 413 request_too_large, 429 rate_limit_error, 529 overloaded_error, else
 * api_error). */
void sy_messages_fmt_error(int status, const char *body, size_t len, sy_buf_t *out);
/* Anthropic's error type for an HTTP status (the table above; 503 -> overloaded_error). */
const char *sy_messages_fmt_error_type(int status);
/* Appends {"type":"error","error":{"type":TYPE,"message":MESSAGE}}. */
void sy_messages_fmt_error_make(const char *type, const char *message, sy_buf_t *out);

/* Streaming: OpenAI chunk events (data of each SSE event, "[DONE]" included) -> Anthropic
 * events ("event: NAME\ndata: {...}\n\n"): message_start, content_block_start/delta/stop for
 * text and tool_use blocks, message_delta (stop_reason, usage), message_stop. */
typedef struct sy_messages_stream sy_messages_stream_t;
sy_messages_stream_t *sy_messages_stream_new(const sy_fmt_resp_opts_t *o);
void sy_messages_stream_free(sy_messages_stream_t *s);
/* SY_OK; SY_ERR_UPSTREAM_STATUS for an in-stream OpenAI error object (out holds an Anthropic
 * `error` event; the stream is over); SY_ERR_UPSTREAM_BROKEN for unparseable data. */
sy_err_t sy_messages_stream_event(sy_messages_stream_t *s, sy_str_t data, sy_buf_t *out);
/* The upstream ended. If [DONE] or a finish_reason was seen: closes open blocks, appends
 * message_delta + message_stop if not yet sent, returns SY_OK; else SY_ERR_UPSTREAM_BROKEN. */
sy_err_t sy_messages_stream_finish(sy_messages_stream_t *s, sy_buf_t *out);
const sy_fmt_usage_t *sy_messages_stream_usage(const sy_messages_stream_t *s);

#endif
