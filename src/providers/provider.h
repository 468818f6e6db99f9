/* THE provider vtable. One const instance per provider (providers/<vendor>.c), listed in the
 * registry (providers/registry.c), like curl's vtls backends. A provider turns one chat call into
 * upstream work and reports the upstream's response through the call's sink.
 *
 * Call protocol (all on the call's loop thread):
 *   api fills a sy_call_t and calls provider->start(call);
 *   the provider calls sink->head once, sink->data any number of times, sink->done once;
 *   when sink->data returns false the provider stops producing until provider->proceed(call);
 *   provider->stop(call) (client gone) cancels everything: no sink callback fires afterwards.
 * If start returns an error, no sink callback fires. */
#ifndef SY_PROVIDERS_PROVIDER_H
#define SY_PROVIDERS_PROVIDER_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "conf/config.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"
#include "upstream/upstream.h"

typedef struct sy_call sy_call_t;

typedef struct sy_call_sink {
    /* The response starts. status >= 400: what follows through data() is the upstream's error
     * body, which the sink buffers (capped) and turns into an error response at done(). */
    void (*head)(sy_call_t *call, int status, sy_str_t content_type);
    /* Body bytes, in order. Borrowed for the call's duration only. false = pause. */
    bool (*data)(sy_call_t *call, const char *p, size_t n);
    /* The end. err != SY_OK: failure (detail is a human-readable reason, no secrets). */
    void (*done)(sy_call_t *call, sy_err_t err, const char *detail);
} sy_call_sink_t;

struct sy_call {
    /* inputs: set by the api before start; read-only for the provider */
    uv_loop_t *loop;
    sy_upstream_t *upstream;
    const sy_model_conf_t *model;
    const char *request_id;
    sy_str_t body; /* the client's request body, as received */
    bool stream;
    bool include_usage; /* stream_options.include_usage */
    sy_arena_t *arena;  /* request arena: provider allocations that die with the request */
    const sy_call_sink_t *sink;
    void *sink_ctx;
    /* outputs: timing for the gateway-overhead figure (monotonic us) */
    uint64_t t_upstream_start_us; /* provider began the upstream call */
    uint64_t t_upstream_head_us;  /* upstream response head received */
    /* provider-private */
    void *pstate;
};

typedef struct sy_provider {
    const char *name; /* the `provider:` value in config */
    /* Checks a model's config and prepares per-model data (m->provider_data). Called once at
     * start, before loop threads run. Returns false with a message (no file:line: the caller
     * adds it). */
    bool (*init_model)(sy_model_conf_t *m, char *msg, size_t msglen);
    /* Frees what init_model made. */
    void (*free_model)(sy_model_conf_t *m);
    /* Starts the call. */
    sy_err_t (*start)(sy_call_t *call);
    /* Resumes production after sink->data returned false. */
    void (*proceed)(sy_call_t *call);
    /* Cancels the call now (the client went away): closes the upstream connection; no sink
     * callback fires afterwards. Safe to call after done. */
    void (*stop)(sy_call_t *call);
} sy_provider_t;

extern const sy_provider_t sy_provider_openai;
extern const sy_provider_t sy_provider_mock;

/* Resolves every model's provider by name and runs init_model. Returns false and writes
 * "FILE:LINE: models[i].provider: ..." into err on failure. */
bool sy_provider_resolve(sy_config_t *cfg, char *err, size_t errlen);
/* Runs free_model for every resolved model. */
void sy_provider_release(sy_config_t *cfg);
/* Comma-separated list of provider names (help, messages). */
const char *sy_provider_names(void);

#endif
