/* TEMPORARY: weak stand-ins until the Anthropic translator lands. */
#include "providers/anthropic_fmt.h"
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
