/* OpenAI chat completions <-> Anthropic Messages API (https://docs.anthropic.com/en/api/messages).
 * Pure translation, see providers/fmt.h. */
#ifndef SY_PROVIDERS_ANTHROPIC_FMT_H
#define SY_PROVIDERS_ANTHROPIC_FMT_H
#include "providers/fmt.h"

/* OpenAI chat request body -> Anthropic Messages request body. SY_OK, or SY_ERR_INVALID_JSON /
 * SY_ERR_INVALID_REQUEST with out->err_param/err_msg set. */
sy_err_t sy_anthropic_fmt_request(const char *body, size_t len, const sy_fmt_req_opts_t *o,
                                  sy_fmt_req_t *out);
/* Anthropic Message (non-streamed 200 body) -> OpenAI chat.completion JSON appended to out.
 * usage (may be NULL) receives the mapped usage. SY_ERR_UPSTREAM_BROKEN if the body is not a
 * message. */
sy_err_t sy_anthropic_fmt_response(const char *body, size_t len, const sy_fmt_resp_opts_t *o,
                                   sy_buf_t *out, sy_fmt_usage_t *usage);
/* Any upstream error (status >= 400, body as received, maybe not JSON) -> OpenAI error JSON
 * {"error":{"message","type","param","code"}} appended to out. The provider's message is kept;
 * code is "context_length_exceeded" when the error says the prompt is too long, else the
 * provider's error type. */
void sy_anthropic_fmt_error(int status, const char *body, size_t len, sy_buf_t *out);

/* Streaming: Anthropic SSE events -> OpenAI chat.completion.chunk frames ("data: {...}\n\n"). */
typedef struct sy_anthropic_stream sy_anthropic_stream_t;
sy_anthropic_stream_t *sy_anthropic_stream_new(const sy_fmt_resp_opts_t *o);
void sy_anthropic_stream_free(sy_anthropic_stream_t *s);
/* One upstream event (type = SSE event name, data = its data). Appends complete frames to out.
 * After message_stop, out has received everything through "data: [DONE]\n\n".
 * Returns SY_OK; SY_ERR_UPSTREAM_STATUS for an `error` event (out then holds one frame
 * "data: {"error":{...}}\n\n" in OpenAI's error shape and the stream is over);
 * SY_ERR_UPSTREAM_BROKEN for an event that cannot be parsed. `ping` produces nothing. */
sy_err_t sy_anthropic_stream_event(sy_anthropic_stream_t *s, sy_str_t type, sy_str_t data,
                                   sy_buf_t *out);
/* True once message_stop (or an error event) was seen. */
bool sy_anthropic_stream_done(const sy_anthropic_stream_t *s);
/* Usage as known so far (message_start + message_delta). */
const sy_fmt_usage_t *sy_anthropic_stream_usage(const sy_anthropic_stream_t *s);

#endif
