/* Configuration: a YAML file loaded once at start into an immutable sy_config_t that every loop
 * thread reads without locks. Every error names FILE:LINE and the key (libyaml marks).
 * Ownership: sy_config_load allocates; sy_config_free releases everything. */
#ifndef SY_CONF_CONFIG_H
#define SY_CONF_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sy_provider;

/* A per-model default parameter: key and its compact JSON value, ready to splice into bodies. */
typedef struct sy_conf_kv {
    char *key;
    char *json;
} sy_conf_kv_t;

typedef struct sy_mock_conf {
    uint32_t latency_ms;     /* before the first byte */
    uint32_t chunks;         /* content deltas per streamed reply (>= 1) */
    uint32_t chunk_delay_ms; /* between deltas */
    int64_t prompt_tokens;   /* -1: estimate from the prompt */
    int64_t completion_tokens;
} sy_mock_conf_t;

typedef struct sy_model_conf {
    char *name;                         /* public name clients send */
    char *provider_name;                /* "openai", "mock", ... */
    const struct sy_provider *provider; /* resolved by sy_provider_resolve() */
    void *provider_data;                /* the provider's per-model data (init_model) */
    char *upstream_model;               /* upstream model id (default: name) */
    char *upstream_model_json;          /* the same, as a quoted JSON string */
    char *base_url;                     /* without trailing '/' */
    char *api_key;                      /* resolved secret or NULL; never log it */
    char *api_key_ref;                  /* "env:VAR" as written, for messages */
    uint32_t connect_ms, first_byte_ms, idle_ms, total_ms; /* 0 = none */
    sy_conf_kv_t *defaults;
    size_t n_defaults;
    sy_mock_conf_t mock;
    int line;          /* where the model's entry starts, for later diagnostics */
    int provider_line; /* where its provider: key is */
} sy_model_conf_t;

typedef struct sy_config {
    char *path;
    char *listen_host; /* numeric IPv4/IPv6 address */
    int listen_port;
    int workers;       /* >= 1 after load (0 in the file = one per core) */
    bool native_http1; /* server.upstream_client: auto (true) | curl (false) */
    size_t max_body_bytes;
    size_t max_header_bytes;
    uint32_t max_headers;
    uint32_t header_timeout_ms;
    uint32_t keepalive_timeout_ms;
    uint32_t sse_keepalive_ms;
    uint32_t shutdown_grace_ms;
    size_t max_upstream_error_bytes;
    sy_model_conf_t *models;
    size_t n_models;
} sy_config_t;

typedef struct sy_conf_err {
    char msg[768]; /* "FILE:LINE: KEY: message" */
} sy_conf_err_t;

/* Loads and validates FILE. Returns NULL and fills err on any error. Thread: any (at start). */
sy_config_t *sy_config_load(const char *path, sy_conf_err_t *err);
/* Same, from a string (tests); name is used in messages. */
sy_config_t *sy_config_load_string(const char *name, const char *yaml, size_t len,
                                   sy_conf_err_t *err);
void sy_config_free(sy_config_t *cfg);
/* Linear lookup by public name; NULL if unknown. */
const sy_model_conf_t *sy_config_find_model(const sy_config_t *cfg, const char *name, size_t len);
/* Parses "host:port" / "[v6]:port" into cfg fields; false on a bad value. */
bool sy_config_parse_listen(sy_config_t *cfg, const char *value);

#endif
