/* OpenAI chat completions <-> Gemini generateContent / streamGenerateContent?alt=sse
 * (https://ai.google.dev/api/generate-content). Pure translation, see providers/fmt.h. */
#ifndef SY_PROVIDERS_GEMINI_FMT_H
#define SY_PROVIDERS_GEMINI_FMT_H
#include "providers/fmt.h"

/* OpenAI chat request body -> GenerateContentRequest body (the model goes in the URL, not the
 * body; o->upstream_model is unused here). SY_OK, or SY_ERR_INVALID_JSON /
 * SY_ERR_INVALID_REQUEST with out->err_param/err_msg set. */
sy_err_t sy_gemini_fmt_request(const char *body, size_t len, const sy_fmt_req_opts_t *o,
                               sy_fmt_req_t *out);
/* GenerateContentResponse (non-streamed 200 body) -> OpenAI chat.completion JSON appended to
 * out. A prompt blocked by safety (promptFeedback.blockReason, no candidates) becomes a
 * completion with finish_reason "content_filter" and empty content. usage may be NULL.
 * SY_ERR_UPSTREAM_BROKEN if the body is not a GenerateContentResponse. */
sy_err_t sy_gemini_fmt_response(const char *body, size_t len, const sy_fmt_resp_opts_t *o,
                                sy_buf_t *out, sy_fmt_usage_t *usage);
/* Any upstream error (status >= 400, body as received, maybe not JSON) -> OpenAI error JSON
 * appended to out; the provider's message kept; code "context_length_exceeded" when the error
 * says the input is too long, else the provider's status string (e.g. "INVALID_ARGUMENT"). */
void sy_gemini_fmt_error(int status, const char *body, size_t len, sy_buf_t *out);

/* Streaming: each SSE event's data is one GenerateContentResponse -> OpenAI chunk frames. */
typedef struct sy_gemini_stream sy_gemini_stream_t;
sy_gemini_stream_t *sy_gemini_stream_new(const sy_fmt_resp_opts_t *o);
void sy_gemini_stream_free(sy_gemini_stream_t *s);
/* One upstream event. SY_OK; SY_ERR_UPSTREAM_STATUS for an in-stream error object (out holds
 * one OpenAI error frame, the stream is over); SY_ERR_UPSTREAM_BROKEN for unparseable data. */
sy_err_t sy_gemini_stream_event(sy_gemini_stream_t *s, sy_str_t data, sy_buf_t *out);
/* The upstream closed the stream. If a finishReason was seen: appends the usage chunk (when
 * include_usage) and "data: [DONE]\n\n" and returns SY_OK; else SY_ERR_UPSTREAM_BROKEN and
 * appends nothing. */
sy_err_t sy_gemini_stream_finish(sy_gemini_stream_t *s, sy_buf_t *out);
const sy_fmt_usage_t *sy_gemini_stream_usage(const sy_gemini_stream_t *s);

#endif
