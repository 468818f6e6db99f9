/* Provider "gemini": the Gemini API (generateContent, streamGenerateContent?alt=sse), reached
 * through translation (providers/gemini_fmt.h) by the shared engine (providers/xlate.h). The
 * model is part of the URL; the key goes in x-goog-api-key. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "providers/gemini_fmt.h"
#include "providers/xlate.h"

#define GEMINI_DEFAULT_BASE "https://generativelanguage.googleapis.com/v1beta"

typedef struct gemini_model {
    char *url;        /* :generateContent */
    char *url_stream; /* :streamGenerateContent?alt=sse */
    struct curl_slist *headers;
} gemini_model_t;

static void *stream_new(const sy_fmt_resp_opts_t *o)
{
    return sy_gemini_stream_new(o);
}

static sy_err_t stream_event(void *s, sy_str_t type, sy_str_t data, sy_buf_t *out)
{
    return sy_gemini_stream_event(s, data, out);
}

static sy_err_t stream_finish(void *s, sy_buf_t *out)
{
    return sy_gemini_stream_finish(s, out);
}

static void stream_free(void *s)
{
    sy_gemini_stream_free(s);
}

static const sy_xlate_ops_t ops = {
    .request = sy_gemini_fmt_request,
    .response = sy_gemini_fmt_response,
    .error = sy_gemini_fmt_error,
    .stream_new = stream_new,
    .stream_event = stream_event,
    .stream_finish = stream_finish,
    .stream_free = stream_free,
};

/* The model id goes into the URL path: keep it to characters that need no escaping. */
static bool model_id_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.' || *s == '/'))
            return false;
    return true;
}

static bool gemini_init_model(sy_deploy_conf_t *d, char *msg, size_t msglen)
{
    if (!model_id_ok(d->upstream_model)) {
        snprintf(msg, msglen, "model: '%s' is not a valid Gemini model id", d->upstream_model);
        return false;
    }
    gemini_model_t *gm = sy_xcalloc(1, sizeof *gm);
    const char *base = d->base_url ? d->base_url : GEMINI_DEFAULT_BASE;
    const char *model = d->upstream_model;
    if (!strncmp(model, "models/", 7)) model += 7;
    size_t n = strlen(base) + strlen(model) + 64;
    gm->url = sy_xmalloc(n);
    snprintf(gm->url, n, "%s/models/%s:generateContent", base, model);
    gm->url_stream = sy_xmalloc(n);
    snprintf(gm->url_stream, n, "%s/models/%s:streamGenerateContent?alt=sse", base, model);
    gm->headers = sy_provider_base_headers();
    d->provider_data = gm;
    return true;
}

static void gemini_free_model(sy_deploy_conf_t *d)
{
    gemini_model_t *gm = d->provider_data;
    if (!gm) return;
    free(gm->url);
    free(gm->url_stream);
    curl_slist_free_all(gm->headers);
    free(gm);
    d->provider_data = NULL;
}

static sy_err_t gemini_start(sy_call_t *call)
{
    const gemini_model_t *gm = call->deploy->provider_data;
    return sy_xlate_start(call, &ops, call->stream ? gm->url_stream : gm->url, gm->headers, NULL,
                          0);
}

const sy_provider_t sy_provider_gemini = {
    .name = "gemini",
    .key_header = "x-goog-api-key: ",
    .formats = 1u << SY_FORMAT_OPENAI,
    .init_model = gemini_init_model,
    .free_model = gemini_free_model,
    .start = gemini_start,
    .proceed = sy_xlate_proceed,
    .stop = sy_xlate_stop,
};
