/* TEMPORARY: weak stand-ins until the translators land. */
#include "api/messages_fmt.h"
#include "providers/anthropic_fmt.h"
#include "providers/gemini_fmt.h"
#define W __attribute__((weak))
W sy_err_t sy_anthropic_fmt_request(const char *b, size_t l, const sy_fmt_req_opts_t *o,
                                    sy_fmt_req_t *out)
{
    return SY_ERR_INTERNAL;
}
W sy_err_t sy_anthropic_fmt_response(const char *b, size_t l, const sy_fmt_resp_opts_t *o,
                                     sy_buf_t *out, sy_fmt_usage_t *u)
{
    return SY_ERR_INTERNAL;
}
W void sy_anthropic_fmt_error(int s, const char *b, size_t l, sy_buf_t *out) {}
W sy_anthropic_stream_t *sy_anthropic_stream_new(const sy_fmt_resp_opts_t *o)
{
    return NULL;
}
W void sy_anthropic_stream_free(sy_anthropic_stream_t *s) {}
W sy_err_t sy_anthropic_stream_event(sy_anthropic_stream_t *s, sy_str_t t, sy_str_t d,
                                     sy_buf_t *out)
{
    return SY_ERR_INTERNAL;
}
W bool sy_anthropic_stream_done(const sy_anthropic_stream_t *s)
{
    return false;
}
W sy_err_t sy_gemini_fmt_request(const char *b, size_t l, const sy_fmt_req_opts_t *o,
                                 sy_fmt_req_t *out)
{
    return SY_ERR_INTERNAL;
}
W sy_err_t sy_gemini_fmt_response(const char *b, size_t l, const sy_fmt_resp_opts_t *o,
                                  sy_buf_t *out, sy_fmt_usage_t *u)
{
    return SY_ERR_INTERNAL;
}
W void sy_gemini_fmt_error(int s, const char *b, size_t l, sy_buf_t *out) {}
W sy_gemini_stream_t *sy_gemini_stream_new(const sy_fmt_resp_opts_t *o)
{
    return NULL;
}
W void sy_gemini_stream_free(sy_gemini_stream_t *s) {}
W sy_err_t sy_gemini_stream_event(sy_gemini_stream_t *s, sy_str_t d, sy_buf_t *out)
{
    return SY_ERR_INTERNAL;
}
W sy_err_t sy_gemini_stream_finish(sy_gemini_stream_t *s, sy_buf_t *out)
{
    return SY_ERR_INTERNAL;
}
W sy_err_t sy_messages_fmt_request(const char *b, size_t l, sy_fmt_req_t *out)
{
    return SY_ERR_INTERNAL;
}
W sy_err_t sy_messages_fmt_response(const char *b, size_t l, const sy_fmt_resp_opts_t *o,
                                    sy_buf_t *out, sy_fmt_usage_t *u)
{
    return SY_ERR_INTERNAL;
}
W void sy_messages_fmt_error(int s, const char *b, size_t l, sy_buf_t *out) {}
W void sy_messages_fmt_error_make(const char *t, const char *m, sy_buf_t *out) {}
W sy_messages_stream_t *sy_messages_stream_new(const sy_fmt_resp_opts_t *o)
{
    return NULL;
}
W void sy_messages_stream_free(sy_messages_stream_t *s) {}
W sy_err_t sy_messages_stream_event(sy_messages_stream_t *s, sy_str_t d, sy_buf_t *out)
{
    return SY_ERR_INTERNAL;
}
W sy_err_t sy_messages_stream_finish(sy_messages_stream_t *s, sy_buf_t *out)
{
    return SY_ERR_INTERNAL;
}
