/* Configuration: a YAML file loaded once at start into an immutable sy_config_t that every loop
 * thread reads without locks. Every error names FILE:LINE and the key (libyaml marks).
 * Ownership: sy_config_load allocates; sy_config_free releases everything. */
#ifndef SY_CONF_CONFIG_H
#define SY_CONF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/limits.h"

/* Upper bound of log.max_body_bytes: a row holds two bodies of at most this (the relay keeps
 * 4 KiB more of the request for redaction), and a row must fit one spool frame
 * (SY_SPOOL_MAX_FRAME, 64 MiB) with room for redaction growth; every in-flight request also
 * keeps up to this much of its response in its capture. */
#define SY_LOG_MAX_BODY_BYTES_LIMIT (16u * 1024 * 1024)

struct sy_provider;

/* A list of limits written in config (scope NULL: the caller sets it per request). */
typedef struct sy_conf_limits {
    sy_limit_t *v;
    size_t n;
    bool set; /* written in the file (an empty list then means "none") */
    int line; /* where it was written (0: not written) */
} sy_conf_limits_t;

enum { SY_LIMITS_ENT_KEY, SY_LIMITS_ENT_USER, SY_LIMITS_ENT_TEAM, SY_LIMITS_ENT__COUNT };

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

struct sy_deploy_state;
struct sy_model_conf;
typedef struct sy_provider_key sy_provider_key_t;

/* One deployment: a provider + upstream model + key + base URL that can serve a public model.
 * A model written without `deployments:` has exactly one, built from its own keys. */
typedef struct sy_deploy_conf {
    char *id;                           /* `id:` or "<model>[i]"; in headers and logs */
    char *provider_name;                /* "openai", "anthropic", "gemini", "mock" */
    const struct sy_provider *provider; /* resolved by sy_provider_resolve() */
    void *provider_data;                /* the provider's per-deployment data (init_model) */
    char *upstream_model;               /* upstream model id (default: the public name) */
    char *upstream_model_json;          /* the same, as a quoted JSON string */
    char *base_url;                     /* without trailing '/'; NULL = the provider's default */
    char *api_key;                      /* resolved secret or NULL; never log it */
    char *api_key_ref;                  /* "env:VAR" / "credential:NAME" as written */
    char *credential;                   /* NAME of `api_key: credential:NAME`, else NULL */
    sy_provider_key_t *key; /* the key calls send, swappable at run time (providers/provider.h);
                               mutable shared state like `state`, NULL before resolve */
    uint32_t connect_ms, first_byte_ms, idle_ms, total_ms; /* per attempt; 0 = none */
    sy_conf_kv_t *defaults;
    size_t n_defaults;
    sy_mock_conf_t mock;
    uint32_t weight;         /* relative share for weighted routing (default 1) */
    bool reject_unsupported; /* unsupported_params: reject (default: drop + warning header) */
    bool stream_options;     /* openai: forward stream_options (default true) */
    const struct sy_model_conf *model; /* the public model this belongs to */
    struct sy_deploy_state *state;     /* routing state (routing/route.h), shared by threads */
    int line;                          /* where the deployment's entry starts */
    int provider_line;                 /* where its provider: key is */
} sy_deploy_conf_t;

typedef enum sy_route_strategy {
    SY_ROUTE_WEIGHTED = 0, /* weighted random */
    SY_ROUTE_LEAST_INFLIGHT,
    SY_ROUTE_LATENCY, /* lowest recent latency (EWMA) */
} sy_route_strategy_t;

/* Error classes for retry_on / fallback_on (bit set). */
enum {
    SY_ERRCLASS_RATE_LIMIT = 1u << 0,     /* 429 */
    SY_ERRCLASS_SERVER = 1u << 1,         /* 5xx from the upstream */
    SY_ERRCLASS_TIMEOUT = 1u << 2,        /* connect / first byte / idle / total timeout */
    SY_ERRCLASS_UNREACHABLE = 1u << 3,    /* connect error, reset, broken response */
    SY_ERRCLASS_CONTEXT_LENGTH = 1u << 4, /* the prompt is too long for the model */
    SY_ERRCLASS_AUTH = 1u << 5,           /* 401 / 403 from the upstream */
    SY_ERRCLASS_CLIENT = 1u << 6,         /* any other 4xx */
    SY_ERRCLASS_ALL = 0x7f,
};

/* The chat web app's per-turn parameters a model's `ui:` block can hide or lock (issue 6). */
typedef enum sy_ui_param {
    SY_UI_TEMPERATURE,
    SY_UI_TOP_P,
    SY_UI_MAX_TOKENS,
    SY_UI_SEED,
    SY_UI_SYSTEM,
    SY_UI_RESPONSE_FORMAT,
    SY_UI__COUNT
} sy_ui_param_t;

/* Their names as the API spells them ("temperature", "top_p", "max_tokens", "seed", "system",
 * "response_format"), indexed by sy_ui_param_t. */
extern const char *const sy_ui_param_names[SY_UI__COUNT];

/* A model's `ui: {hide: [names], lock: {name: value}}` (default: nothing hidden or locked).
 * Hidden: the UI does not show the control and generation refuses the parameter (400: the
 * model does not take it). Locked: the parameter always has this value: generation applies it
 * and refuses another one (400). A parameter may be both (fixed and not shown: sending the
 * locked value is accepted). Immutable after load; any thread. */
typedef struct sy_model_ui {
    uint32_t hidden;               /* bit (1u << SY_UI_*) per hidden parameter */
    uint32_t locked;               /* bit per locked parameter */
    char *lock_json[SY_UI__COUNT]; /* compact JSON of each locked value; NULL: not locked.
                                      temperature 0..2 and top_p 0..1 are numbers, max_tokens
                                      an integer >= 1, seed an integer, system a string,
                                      response_format an object {"type": "text" | "json_object" |
                                      "json_schema", ...} */
} sy_model_ui_t;

/* The sy_ui_param_t of a name (len bytes), or -1 when it is not one of them. */
int sy_ui_param(const char *name, size_t len);

/* A public model: the name clients send, its deployments and how to route between them. */
typedef struct sy_model_conf {
    char *name;
    sy_deploy_conf_t *deployments;
    size_t n_deployments;
    sy_route_strategy_t strategy;
    uint32_t retries;            /* further attempts after the first (default: deployments - 1) */
    uint32_t backoff_ms;         /* first retry delay, doubled per retry, full jitter */
    uint32_t max_backoff_ms;     /* cap of the delay */
    uint32_t max_retry_after_ms; /* a longer upstream Retry-After is not waited for */
    uint32_t retry_on;           /* SY_ERRCLASS_* bits */
    uint32_t cooldown_failures;  /* consecutive failures that cool a deployment down; 0 = off */
    uint32_t cooldown_ms;        /* how long before a half-open probe */
    char **fallbacks;            /* public model names, in order */
    size_t n_fallbacks;
    const struct sy_model_conf **fallback_models; /* resolved at load */
    uint32_t fallback_on;                         /* SY_ERRCLASS_* bits */
    int line;
    sy_conf_limits_t limits; /* limits.models.<name>: global across callers */
    sy_conf_limits_t per_entity[SY_LIMITS_ENT__COUNT]; /* limits.per_model.<key|user|team>.<name> */
    sy_model_ui_t ui; /* `ui:` of the model: the chat app's hidden and locked parameters */
} sy_model_conf_t;

/* A price: USD per million tokens, held exactly as pico-USD per token (6 decimals of USD per
 * million tokens). -1 = unknown (the cost of usage that needs it is then unknown, never guessed).
 */
typedef struct sy_price {
    char *provider;       /* NULL = any provider */
    char *model;          /* upstream model id */
    int64_t from_us;      /* effective from (UTC, µs since the epoch); 0 = always */
    int64_t input;        /* uncached input tokens */
    int64_t output;       /* output tokens, reasoning included */
    int64_t cached_input; /* input read from the provider's cache */
    int64_t cache_write;  /* input written to the provider's cache */
    int line;
} sy_price_t;

/* `log:` — the inference log. Names in redact_modes / custom patterns are checked against the
 * redaction module when the pipeline starts (main.c), with their lines for the message. */
typedef struct sy_conf_named {
    char *name;
    char *value;
    int line;
} sy_conf_named_t;

typedef struct sy_conf_redact_custom {
    char *name, *pattern, *mode, *label; /* label, mode: NULL = defaults */
    int line;
} sy_conf_redact_custom_t;

typedef enum sy_fsync_policy {
    SY_FSYNC_EVERYSEC = 0,
    SY_FSYNC_ALWAYS,
    SY_FSYNC_NEVER,
} sy_fsync_policy_t;

typedef struct sy_logconf {
    bool enabled;             /* log.enabled (default true) */
    char *store_url;          /* log.store: "sqlite:" (default), "sqlite:PATH", "postgres://…",
                                 "clickhouse://…" — a secret may be in it: never log it */
    char *store_url_ref;      /* "env:VAR" as written, when the URL came from the environment */
    bool bodies;              /* log.bodies: keep request/response bodies (default true) */
    size_t max_body_bytes;    /* log.max_body_bytes: cap per body (default 65536, at most
                                 SY_LOG_MAX_BODY_BYTES_LIMIT) */
    uint32_t batch_rows;      /* log.batch_rows (default 1000) */
    uint32_t batch_ms;        /* log.batch_ms (default 1000) */
    sy_fsync_policy_t fsync;  /* log.fsync: always | everysec | never */
    uint32_t ack_timeout_ms;  /* log.ack_timeout_ms: fsync always, longest wait for a row to be
                                 durable before the response is given up (default 30000) */
    uint32_t writer_nice;     /* log.writer_nice: 0..19, the writer thread's nice (default 0:
                                 the process's own; 10 measured worse near saturation) */
    char *spool_dir;          /* log.spool_dir (default <data_dir>/spool) */
    uint64_t spool_max_bytes; /* log.spool_max_bytes (default 1 GiB) */
    sy_conf_named_t *redact_modes; /* log.redact.<pattern>: mask | hash | off */
    size_t n_redact_modes;
    sy_conf_redact_custom_t *redact_custom; /* log.redact.custom */
    size_t n_redact_custom;
    char *redact_hash_key; /* resolved log.redact.hash_key (env:VAR); never log it */
    int line;
} sy_logconf_t;

typedef enum sy_auth_mode {
    SY_AUTH_REQUIRED = 0, /* default: every /v1 and /api/v1 call needs a key or a session */
    SY_AUTH_LOCAL,        /* explicit single-user mode: no key, no login (loopback use) */
} sy_auth_mode_t;

typedef struct sy_authconf {
    sy_auth_mode_t mode;        /* auth.mode: required | local */
    uint32_t key_cache_ttl_s;   /* auth.key_cache_ttl_s (default 10): a key revoked on another
                                   replica stops working within this time */
    uint32_t session_ttl_s;     /* auth.session_ttl_s (default 43200) */
    uint32_t rotate_grace_s;    /* auth.rotate_grace_s: default grace of a rotated key (3600) */
    uint32_t login_per_account; /* auth.login_attempts_per_account per 15 min (default 5) */
    uint32_t login_per_ip;      /* auth.login_attempts_per_ip per 15 min (default 20) */
} sy_authconf_t;

/* `limits:` — rate limits, token limits, concurrency and budgets (docs/internals/LIMITS.md). */
typedef struct sy_ratelimit_conf {
    bool redis;                 /* limits.backend: local (false, default) | redis */
    char *redis_host;           /* limits.redis.host (default 127.0.0.1) */
    int redis_port;             /* limits.redis.port (default 6379) */
    char *redis_password;       /* limits.redis.password: resolved env:VAR; never log it */
    bool fail_open;             /* limits.redis.fail_open (default false) */
    uint32_t redis_timeout_ms;  /* limits.redis.timeout_ms (default 100) */
    int64_t default_max_tokens; /* limits.default_max_tokens: the estimate's completion part when
                                   the request names no max_tokens (default 4096) */
    sy_conf_limits_t defaults[SY_LIMITS_ENT__COUNT]; /* limits.defaults.<key|user|team> */
    bool any;        /* at least one limit is configured anywhere in the file */
    bool need_usage; /* a token limit or a budget is configured (needs the inference log) */
    int need_usage_line;
} sy_ratelimit_conf_t;

typedef struct sy_config {
    char *path;
    char *listen_host; /* numeric IPv4/IPv6 address */
    int listen_port;
    int workers;       /* >= 1 after load (0 in the file = one per core) */
    bool native_http1; /* server.upstream_client: auto (true) | curl (false) */
    uint32_t
        sched_slice_us; /* server.sched_slice_us: loop threads' requested slice; 0 = kernel's */
    size_t max_body_bytes;
    size_t max_header_bytes;
    uint32_t max_headers;
    uint32_t header_timeout_ms;
    uint32_t keepalive_timeout_ms;
    uint32_t sse_keepalive_ms;
    uint32_t shutdown_grace_ms;
    size_t max_upstream_error_bytes;
    /* limits.max_live_generations_per_user: chat answers one user may have generating at once
     * (api/chatgen.c; 1..1000, default 4) */
    uint32_t max_live_generations_per_user;
    sy_model_conf_t *models;
    size_t n_models;
    sy_price_t *prices; /* `prices:`, in file order */
    size_t n_prices;
    char *data_dir; /* data_dir: (default ./data) for the SQLite file, the spool, keys */
    sy_logconf_t log;
    sy_authconf_t auth;
    sy_ratelimit_conf_t rl;
    char *master_key_file;      /* secrets.master_key_file (default <data_dir>/master.key) */
    bool uses_credentials;      /* some deployment says api_key: credential:NAME */
    uint32_t secrets_refresh_s; /* secrets.refresh_s: re-read credentials (default 30; 0 off) */
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

/* How many limits an entity's own list (admin API `limits` of a key, user or team; ent:
 * SY_LIMITS_ENT_*) may hold so that no request's merged list (docs/internals/LIMITS.md) can go
 * over SY_LIMITS_MAX_PER_REQUEST while the other entity of the request (a key's owner, or an
 * owner's key) uses the config's defaults: SY_LIMITS_MAX_PER_REQUEST minus that default minus
 * the most limits a model adds (limits.models + limits.per_model). The loader refuses a config
 * where the defaults alone go over, so this is at least defaults[ent].n. Any thread. */
size_t sy_config_limits_room(const sy_config_t *cfg, int ent);
/* The most limits a request of a key can carry (docs/internals/LIMITS.md, "The limit list of a
 * request"): the key's list + its owner's list + the most a model adds for an owner of kind owner
 * (SY_LIMITS_ENT_USER or _TEAM: limits.models + limits.per_model.key + limits.per_model.<owner>).
 * key_n / owner_n: the length of the entity's own list, or -1 when it has none (the config's
 * limits.defaults.<entity> applies). The admin API refuses a change that makes this exceed
 * SY_LIMITS_MAX_PER_REQUEST for any key. Any thread. */
size_t sy_config_limits_merged(const sy_config_t *cfg, int owner, long key_n, long owner_n);
/* A credential name: 1..64 characters of [A-Za-z0-9._-]. */
bool sy_config_credential_name_ok(const char *s, size_t n);
/* Parses "host:port" / "[v6]:port" into cfg fields; false on a bad value. */
bool sy_config_parse_listen(sy_config_t *cfg, const char *value);

#endif
