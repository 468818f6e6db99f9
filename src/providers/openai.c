/* Provider "openai": OpenAI and every OpenAI-compatible server (vLLM, Ollama, llama.cpp,
 * Together, ...). The client's body is forwarded byte for byte except the "model" string token
 * (replaced by the upstream id) and the model's configured defaults the client did not set
 * (appended before the closing brace): no re-serialisation, so unknown fields, key order and
 * number formatting survive. The response is passed through as it arrives. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "providers/provider.h"

typedef struct openai_model {
    char *url;
    struct curl_slist *headers; /* shared, read-only after start: content-type, auth, Expect */
} openai_model_t;

typedef struct openai_call {
    sy_upstream_call_t up;
    struct curl_slist rid_node; /* per-call x-request-id header, chained to the shared list */
    sy_call_t *call;
} openai_call_t;

static bool openai_init_model(sy_deploy_conf_t *m, char *msg, size_t msglen)
{
    if (!m->base_url) {
        snprintf(msg, msglen,
                 "base_url: required for provider openai (e.g. https://api.openai.com/v1)");
        return false;
    }
    openai_model_t *om = sy_xcalloc(1, sizeof *om);
    size_t n = strlen(m->base_url) + sizeof "/chat/completions";
    om->url = sy_xmalloc(n);
    snprintf(om->url, n, "%s/chat/completions", m->base_url);
    om->headers = sy_provider_base_headers();
    m->provider_data = om;
    return true;
}

static void openai_free_model(sy_deploy_conf_t *m)
{
    openai_model_t *om = m->provider_data;
    if (!om) return;
    free(om->url);
    curl_slist_free_all(om->headers);
    free(om);
    m->provider_data = NULL;
}

static void on_up_head(sy_upstream_call_t *up, int status, sy_str_t content_type)
{
    openai_call_t *oc = up->ctx;
    oc->call->t_upstream_head_us = up->t_head_us;
    oc->call->retry_after_ms = up->retry_after_ms;
    if (!content_type.len) content_type = SY_STR_LIT("application/json");
    oc->call->sink->head(oc->call, status, content_type);
}

static bool on_up_data(sy_upstream_call_t *up, const char *p, size_t n)
{
    openai_call_t *oc = up->ctx;
    return oc->call->sink->data(oc->call, p, n);
}

static void on_up_done(sy_upstream_call_t *up, sy_err_t err, const char *detail)
{
    openai_call_t *oc = up->ctx;
    sy_call_t *call = oc->call;
    call->pstate = NULL;
    if (!err && !up->head_seen) err = SY_ERR_UPSTREAM_BROKEN;
    call->sink->done(call, err, detail);
}

static sy_err_t openai_start(sy_call_t *call)
{
    const openai_model_t *om = call->deploy->provider_data;
    openai_call_t *oc = sy_arena_alloc(call->arena, sizeof *oc);
    memset(oc, 0, sizeof *oc);
    oc->call = call;
    sy_str_t body = sy_provider_splice_body(call);
    sy_upstream_call_t *up = &oc->up;
    up->url = om->url;
    up->headers = sy_provider_request_id_header(call, &oc->rid_node, om->headers);
    up->body = body.ptr;
    up->body_len = body.len;
    sy_provider_set_timeouts(up, call->deploy);
    up->on_head = on_up_head;
    up->on_data = on_up_data;
    up->on_done = on_up_done;
    up->ctx = oc;
    call->t_upstream_start_us = sy_clock_mono_us();
    call->pstate = oc; /* before the start: on_done may run inside it (a synchronous failure) */
    sy_err_t err = sy_upstream_start(call->upstream, up);
    if (err) call->pstate = NULL;
    return err;
}

static void openai_proceed(sy_call_t *call)
{
    openai_call_t *oc = call->pstate;
    if (oc) sy_upstream_resume(&oc->up);
}

static void openai_stop(sy_call_t *call)
{
    openai_call_t *oc = call->pstate;
    if (!oc) return;
    call->pstate = NULL;
    sy_upstream_cancel(&oc->up);
}

const sy_provider_t sy_provider_openai = {
    .name = "openai",
    .key_header = "Authorization: Bearer ",
    .formats = 1u << SY_FORMAT_OPENAI,
    .init_model = openai_init_model,
    .free_model = openai_free_model,
    .start = openai_start,
    .proceed = openai_proceed,
    .stop = openai_stop,
};
