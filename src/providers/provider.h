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

/* Wire formats a call's body (and so its response) can be in. */
typedef enum sy_format {
    SY_FORMAT_OPENAI = 0,    /* OpenAI chat completions: the canonical format */
    SY_FORMAT_ANTHROPIC = 1, /* Anthropic Messages (the /v1/messages ingress) */
} sy_format_t;

typedef struct sy_call_sink {
    /* The response starts. status >= 400: what follows through data() is an error body in the
     * call's format (OpenAI error JSON for SY_FORMAT_OPENAI, the upstream's own bytes when
     * they pass through), which the sink buffers (capped) and turns into an error response at
     * done(). call->retry_after_ms is set when the upstream sent Retry-After. */
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
    const sy_deploy_conf_t *deploy; /* the deployment this attempt goes to */
    const char *request_id;
    sy_format_t format; /* of body, and of everything the provider reports */
    /* Client headers a pass-through provider forwards (the /v1/messages ingress:
     * anthropic-version, anthropic-beta); empty when absent. Values were checked by the HTTP
     * parser (no CR/LF). */
    sy_str_t fwd_version, fwd_beta;
    sy_str_t body; /* the request body in that format (the client's bytes when possible) */
    bool stream;
    bool include_usage; /* stream_options.include_usage */
    sy_arena_t *arena;  /* request arena: provider allocations that die with the request */
    const sy_call_sink_t *sink;
    void *sink_ctx;
    /* outputs: timing for the gateway-overhead figure (monotonic us) */
    uint64_t t_upstream_start_us; /* provider began the upstream call */
    uint64_t t_upstream_head_us;  /* upstream response head received */
    int64_t retry_after_ms;       /* upstream Retry-After (-1: none), valid from head() */
    bool hide_usage;      /* set by start(): an OpenAI-format stream whose client did not ask for
                             usage, for which the provider asked the upstream (or its translator)
                             for usage anyway, for the inference log. The sink hides the usage
                             chunk and the "usage":null members from the client
                             (api/usage_filter.h) */
    const char *warning;  /* dropped parameters etc. for a warning header, or NULL;
                             valid from head() (arena memory) */
    char error_param[64]; /* start() failures: see the vtable */
    char error_msg[256];
    /* provider-private */
    void *pstate;
};

typedef struct sy_provider {
    const char *name; /* the `provider:` value in config */
    /* How the deployment's key goes upstream: the header line's start ("Authorization:
     * Bearer "), to which the key is appended per call (sy_provider_request_id_header); NULL:
     * the provider sends no key. */
    const char *key_header;
    /* Bit (1u << sy_format_t) per body format start() accepts; output is in the same format.
     * Every provider accepts SY_FORMAT_OPENAI. */
    unsigned formats;
    /* Checks a deployment's config and prepares its data (d->provider_data). Called once at
     * start, before loop threads run. Returns false with a message (no file:line: the caller
     * adds it). */
    bool (*init_model)(sy_deploy_conf_t *d, char *msg, size_t msglen);
    /* Frees what init_model made. */
    void (*free_model)(sy_deploy_conf_t *d);
    /* Starts the call. An invalid request (the translation to the provider's format failed)
     * returns SY_ERR_INVALID_REQUEST with a message in call->error_msg and param in
     * call->error_param. */
    sy_err_t (*start)(sy_call_t *call);
    /* Resumes production after sink->data returned false. */
    void (*proceed)(sy_call_t *call);
    /* Cancels the call now (the client went away): closes the upstream connection; no sink
     * callback fires afterwards. Safe to call after done. */
    void (*stop)(sy_call_t *call);
} sy_provider_t;

extern const sy_provider_t sy_provider_openai;
extern const sy_provider_t sy_provider_anthropic;
extern const sy_provider_t sy_provider_gemini;
extern const sy_provider_t sy_provider_mock;

/* Provider helpers (providers/common.c) */
/* Applies the deployment's timeouts to an upstream call. */
void sy_provider_set_timeouts(sy_upstream_call_t *up, const sy_deploy_conf_t *d);
/* "x-request-id: <id>" node chained before the shared header list (arena memory). */
/* The call's body with "model" replaced by the deployment's upstream model, the deployment's
 * defaults added for keys the client did not set, and stream_options removed when the
 * deployment says so. An OpenAI-format stream whose client did not ask for usage gets
 * "stream_options":{"include_usage":true} (replacing the client's stream_options) unless the
 * deployment has stream_options: false; call->hide_usage is then set. Byte splice of the client's
 * bytes (key order, numbers and unknown fields survive); re-serialised only when a key is written
 * with escapes. Arena memory. */
sy_str_t sy_provider_splice_body(sy_call_t *call);
/* A deployment's shared upstream headers: JSON content type, no Expect. The key is not in
 * them: it is chained per call (below). Free with curl_slist_free_all. */
struct curl_slist *sy_provider_base_headers(void);
/* "dropped unsupported parameters: NAMES" for the x-switchyard-warning header, with every
 * character outside [A-Za-z0-9_.,-] replaced (names come from the client). Arena memory. */
const char *sy_provider_warning(sy_arena_t *a, const char *names);
/* node ("x-request-id: <id>", arena) → the deployment's key header, copied into the arena
 * under the key's lock (when the deployment has a key) → shared. Returns node. */
struct curl_slist *sy_provider_request_id_header(sy_call_t *call, struct curl_slist *node,
                                                 struct curl_slist *shared);

/* The deployment's upstream key (DESIGN in providers/common.c): a seqlock-guarded block per
 * deployment, created by sy_provider_resolve from `api_key: env:VAR`, empty for
 * `api_key: credential:NAME` until sy_provider_key_set. Any thread; readers never block. */
#define SY_PROVIDER_KEY_LINE_MAX 4160 /* header name + a 4096-byte key */
/* Sets (key != NULL) or clears the key of d: the next call carries it; calls already started
 * keep the copy they made. The previous value is overwritten with zeros. false: key too long
 * (nothing changed). A provider without a key header ignores it. */
bool sy_provider_key_set(sy_deploy_conf_t *d, const char *key, size_t n);
/* false (and a message for the client) when d needs a credential that is not set. */
bool sy_provider_key_ready(const sy_deploy_conf_t *d, char *msg, size_t msglen);
/* Creates d->key (with d->api_key when set; false: that key is too long) / wipes and frees it:
 * sy_provider_resolve and sy_provider_release call them. */
bool sy_provider_key_new(sy_deploy_conf_t *d);
void sy_provider_key_free(sy_deploy_conf_t *d);

/* Resolves every deployment's provider by name and runs init_model. Returns false and writes
 * "FILE:LINE: models[i].provider: ..." into err on failure. */
bool sy_provider_resolve(sy_config_t *cfg, char *err, size_t errlen);
/* Runs free_model for every resolved model. */
void sy_provider_release(sy_config_t *cfg);
/* Comma-separated list of provider names (help, messages). */
const char *sy_provider_names(void);

#endif
