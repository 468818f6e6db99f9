/* Private to providers/: the engine shared by providers that translate OpenAI chat to their own
 * wire format (anthropic.c, gemini.c). A provider supplies its translator functions (the slots
 * below) and the URL and headers; the engine runs the upstream call, translates the request,
 * turns non-streamed replies, SSE streams and error bodies into OpenAI's format, and keeps the
 * provider contract (provider.h): backpressure, stop, exactly one done.
 * A call whose format is not OpenAI (an Anthropic body for the anthropic provider) passes
 * through: only the model is spliced and the response is relayed byte for byte. */
#ifndef SY_PROVIDERS_XLATE_H
#define SY_PROVIDERS_XLATE_H
#include "providers/fmt.h"
#include "providers/provider.h"

typedef struct sy_xlate_ops {
    /* OpenAI request -> provider request (fmt.h contract). */
    sy_err_t (*request)(const char *body, size_t len, const sy_fmt_req_opts_t *o,
                        sy_fmt_req_t *out);
    /* Non-streamed 200 body -> chat.completion. */
    sy_err_t (*response)(const char *body, size_t len, const sy_fmt_resp_opts_t *o, sy_buf_t *out,
                         sy_fmt_usage_t *usage);
    /* Error body -> OpenAI error JSON. */
    void (*error)(int status, const char *body, size_t len, sy_buf_t *out);
    /* Stream translator: new, one event, end of stream (frames through [DONE] or
     * SY_ERR_UPSTREAM_BROKEN if the stream was cut), free. */
    void *(*stream_new)(const sy_fmt_resp_opts_t *o);
    sy_err_t (*stream_event)(void *s, sy_str_t type, sy_str_t data, sy_buf_t *out);
    sy_err_t (*stream_finish)(void *s, sy_buf_t *out);
    void (*stream_free)(void *s);
} sy_xlate_ops_t;

/* Starts a call: POST url with the shared headers (read-only, outlive the call) plus
 * x-request-id. A pass-through call whose client sent its own version header uses
 * headers_nover (the shared list without the provider's version header) and forwards the
 * client's version and beta headers. default_max_tokens: passed to the request translator. */
sy_err_t sy_xlate_start(sy_call_t *call, const sy_xlate_ops_t *ops, const char *url,
                        struct curl_slist *headers, struct curl_slist *headers_nover,
                        int64_t default_max_tokens);
void sy_xlate_proceed(sy_call_t *call);
void sy_xlate_stop(sy_call_t *call);

#endif
