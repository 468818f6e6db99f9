/* Provider "anthropic": the Messages API. OpenAI-format calls are translated
 * (providers/anthropic_fmt.h) by the shared engine (providers/xlate.h); Anthropic-format calls
 * (the /v1/messages ingress) pass through byte for byte with only the model replaced, so
 * thinking blocks and their signatures survive. Keys go in x-api-key with anthropic-version. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "providers/anthropic_fmt.h"
#include "providers/xlate.h"

#define ANTHROPIC_DEFAULT_BASE "https://api.anthropic.com/v1"
#define ANTHROPIC_VERSION "2023-06-01"
#define ANTHROPIC_DEFAULT_MAX_TOKENS 4096

typedef struct anthropic_model {
    char *url;
    struct curl_slist *headers;       /* with anthropic-version */
    struct curl_slist *headers_nover; /* without: the /v1/messages client's own is forwarded */
} anthropic_model_t;

static void *stream_new(const sy_fmt_resp_opts_t *o)
{
    return sy_anthropic_stream_new(o);
}

static sy_err_t stream_event(void *s, sy_str_t type, sy_str_t data, sy_buf_t *out)
{
    return sy_anthropic_stream_event(s, type, data, out);
}

static sy_err_t stream_finish(void *s, sy_buf_t *out)
{
    return sy_anthropic_stream_done(s) ? SY_OK : SY_ERR_UPSTREAM_BROKEN;
}

static void stream_free(void *s)
{
    sy_anthropic_stream_free(s);
}

static const sy_xlate_ops_t ops = {
    .request = sy_anthropic_fmt_request,
    .response = sy_anthropic_fmt_response,
    .error = sy_anthropic_fmt_error,
    .stream_new = stream_new,
    .stream_event = stream_event,
    .stream_finish = stream_finish,
    .stream_free = stream_free,
};

static bool anthropic_init_model(sy_deploy_conf_t *d, char *msg, size_t msglen)
{
    anthropic_model_t *am = sy_xcalloc(1, sizeof *am);
    const char *base = d->base_url ? d->base_url : ANTHROPIC_DEFAULT_BASE;
    size_t n = strlen(base) + sizeof "/messages";
    am->url = sy_xmalloc(n);
    snprintf(am->url, n, "%s/messages", base);
    am->headers_nover = sy_provider_base_headers();
    am->headers = sy_provider_base_headers();
    am->headers = curl_slist_append(am->headers, "anthropic-version: " ANTHROPIC_VERSION);
    d->provider_data = am;
    return true;
}

static void anthropic_free_model(sy_deploy_conf_t *d)
{
    anthropic_model_t *am = d->provider_data;
    if (!am) return;
    free(am->url);
    curl_slist_free_all(am->headers);
    curl_slist_free_all(am->headers_nover);
    free(am);
    d->provider_data = NULL;
}

static sy_err_t anthropic_start(sy_call_t *call)
{
    const anthropic_model_t *am = call->deploy->provider_data;
    return sy_xlate_start(call, &ops, am->url, am->headers, am->headers_nover,
                          ANTHROPIC_DEFAULT_MAX_TOKENS);
}

const sy_provider_t sy_provider_anthropic = {
    .name = "anthropic",
    .key_header = "x-api-key: ",
    .formats = (1u << SY_FORMAT_OPENAI) | (1u << SY_FORMAT_ANTHROPIC),
    .init_model = anthropic_init_model,
    .free_model = anthropic_free_model,
    .start = anthropic_start,
    .proceed = sy_xlate_proceed,
    .stop = sy_xlate_stop,
};
