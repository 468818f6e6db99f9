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

static bool openai_init_model(sy_model_conf_t *m, char *msg, size_t msglen)
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
    om->headers = curl_slist_append(NULL, "Content-Type: application/json");
    om->headers = curl_slist_append(om->headers, "Expect:"); /* no 100-continue round trip */
    if (m->api_key) {
        size_t kn = strlen(m->api_key) + sizeof "Authorization: Bearer ";
        char *h = sy_xmalloc(kn);
        snprintf(h, kn, "Authorization: Bearer %s", m->api_key);
        om->headers = curl_slist_append(om->headers, h);
        memset(h, 0, kn);
        free(h);
    }
    m->provider_data = om;
    return true;
}

static void openai_free_model(sy_model_conf_t *m)
{
    openai_model_t *om = m->provider_data;
    if (!om) return;
    free(om->url);
    curl_slist_free_all(om->headers);
    free(om);
    m->provider_data = NULL;
}

typedef struct splice {
    const sy_model_conf_t *model;
    sy_str_t model_tokens[8];
    size_t n_model;
    bool *present; /* per default: the client set it */
} splice_t;

static bool on_member(void *ctx, const sy_json_member_t *m)
{
    splice_t *s = ctx;
    if (sy_str_eq_c(m->key, "model")) {
        if (s->n_model < 8) s->model_tokens[s->n_model++] = m->value;
        return true;
    }
    for (size_t i = 0; i < s->model->n_defaults; i++)
        if (sy_str_eq_c(m->key, s->model->defaults[i].key)) s->present[i] = true;
    return true;
}

/* Builds the upstream body in the request arena. Returns false if the scanner could not
 * locate the fields (a key written with escapes): the caller then re-serialises. */
static bool splice_body(sy_call_t *call, sy_str_t *out)
{
    const sy_model_conf_t *m = call->model;
    bool present[m->n_defaults + 1];
    memset(present, 0, sizeof present);
    splice_t s = {.model = m, .n_model = 0, .present = present};
    size_t close_pos;
    if (!sy_json_scan_object(call->body.ptr, call->body.len, on_member, &s, &close_pos) ||
        s.n_model == 0)
        return false;
    size_t ulen = strlen(m->upstream_model_json);
    size_t extra = 0;
    for (size_t i = 0; i < m->n_defaults; i++)
        if (!present[i]) extra += strlen(m->defaults[i].key) + strlen(m->defaults[i].json) + 5;
    size_t cap = call->body.len + s.n_model * ulen + extra + 1;
    char *dst = sy_arena_alloc(call->arena, cap);
    size_t o = 0, pos = 0;
    const char *src = call->body.ptr;
    for (size_t k = 0; k < s.n_model; k++) {
        size_t at = (size_t)(s.model_tokens[k].ptr - src);
        memcpy(dst + o, src + pos, at - pos);
        o += at - pos;
        memcpy(dst + o, m->upstream_model_json, ulen);
        o += ulen;
        pos = at + s.model_tokens[k].len;
    }
    memcpy(dst + o, src + pos, close_pos - pos);
    o += close_pos - pos;
    for (size_t i = 0; i < m->n_defaults; i++) {
        if (present[i]) continue;
        o += (size_t)sprintf(dst + o, ",\"%s\":%s", m->defaults[i].key, m->defaults[i].json);
    }
    memcpy(dst + o, src + close_pos, call->body.len - close_pos);
    o += call->body.len - close_pos;
    *out = sy_str(dst, o);
    return true;
}

/* Fallback for bodies the scanner cannot splice: set the fields on the parsed document. */
static sy_str_t reserialise(sy_call_t *call)
{
    const sy_model_conf_t *m = call->model;
    json_t *doc = json_loadb(call->body.ptr, call->body.len, 0, NULL);
    if (!doc) doc = json_object();
    json_object_set_new(doc, "model", json_string(m->upstream_model));
    for (size_t i = 0; i < m->n_defaults; i++) {
        if (json_object_get(doc, m->defaults[i].key)) continue;
        json_t *v = json_loads(m->defaults[i].json, JSON_DECODE_ANY, NULL);
        if (v) json_object_set_new(doc, m->defaults[i].key, v);
    }
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    size_t n = strlen(text);
    char *dst = sy_arena_strndup(call->arena, text, n);
    free(text);
    return sy_str(dst, n);
}

static void on_up_head(sy_upstream_call_t *up, int status, sy_str_t content_type)
{
    openai_call_t *oc = up->ctx;
    oc->call->t_upstream_head_us = up->t_head_us;
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
    const openai_model_t *om = call->model->provider_data;
    openai_call_t *oc = sy_arena_alloc(call->arena, sizeof *oc);
    memset(oc, 0, sizeof *oc);
    oc->call = call;
    sy_str_t body;
    if (!splice_body(call, &body)) body = reserialise(call);
    size_t rl = strlen(call->request_id) + sizeof "x-request-id: ";
    char *rid = sy_arena_alloc(call->arena, rl);
    snprintf(rid, rl, "x-request-id: %s", call->request_id);
    oc->rid_node.data = rid;
    oc->rid_node.next = om->headers;
    sy_upstream_call_t *up = &oc->up;
    up->url = om->url;
    up->headers = &oc->rid_node;
    up->body = body.ptr;
    up->body_len = body.len;
    up->connect_ms = call->model->connect_ms;
    up->first_byte_ms = call->model->first_byte_ms;
    up->idle_ms = call->model->idle_ms;
    up->total_ms = call->model->total_ms;
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
    .init_model = openai_init_model,
    .free_model = openai_free_model,
    .start = openai_start,
    .proceed = openai_proceed,
    .stop = openai_stop,
};
