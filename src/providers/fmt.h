/* Wire-format translation between OpenAI chat completions (the gateway's canonical format) and
 * provider formats. Translators are pure functions: no I/O, no loop, no globals; jansson inside.
 * Thread: any. Each provider format lives in its own module (providers/anthropic_fmt.c,
 * providers/gemini_fmt.c; the Anthropic-compatible ingress in api/messages_fmt.c); this header
 * holds only the types they share.
 *
 * Streams: a translator keeps a small state object; every upstream SSE event is fed in and zero
 * or more complete output frames are appended to the caller's buffer (never a partial frame). */
#ifndef SY_PROVIDERS_FMT_H
#define SY_PROVIDERS_FMT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

/* How to translate a request. */
typedef struct sy_fmt_req_opts {
    const char *upstream_model;   /* model id the upstream expects (replaces the client's) */
    const sy_conf_kv_t *defaults; /* model defaults (key + compact JSON), applied to the OpenAI
                                     request for keys the client did not set */
    size_t n_defaults;
    int64_t default_max_tokens; /* Anthropic: max_tokens when neither the client nor the
                                   defaults set one */
    bool reject_unsupported;    /* true: an unsupported parameter is a 400;
                                   false: it is dropped and named in warnings */
} sy_fmt_req_opts_t;

/* A translated request. */
typedef struct sy_fmt_req {
    char *body; /* out: malloc'd upstream JSON body (caller frees); NULL on error */
    size_t len;
    bool stream;        /* out: the client asked for a stream */
    bool include_usage; /* out: the client asked for stream usage (stream_options.include_usage) */
    char warnings[256]; /* out: comma-separated dropped parameter names, "" if none */
    char err_param[64]; /* on SY_ERR_INVALID_REQUEST: offending parameter ("" if none) */
    char err_msg[256];  /*   and a message for the client */
} sy_fmt_req_t;

/* Token usage in OpenAI's semantics; -1 = not reported. */
typedef struct sy_fmt_usage {
    int64_t prompt_tokens;      /* all input tokens, cached ones included */
    int64_t completion_tokens;  /* all output tokens, reasoning included */
    int64_t cached_tokens;      /* input read from the provider's prompt cache */
    int64_t cache_write_tokens; /* input written to the provider's prompt cache */
    int64_t reasoning_tokens;   /* thinking tokens (part of completion_tokens) */
} sy_fmt_usage_t;

#define SY_FMT_USAGE_UNKNOWN ((sy_fmt_usage_t){-1, -1, -1, -1, -1})

/* How to shape a translated response. */
typedef struct sy_fmt_resp_opts {
    const char *id;     /* response id when the upstream gives none */
    int64_t created;    /* unix seconds for OpenAI's "created" */
    const char *model;  /* model name to report when the upstream gives none */
    bool include_usage; /* stream: emit OpenAI's final usage chunk (choices: []) */
} sy_fmt_resp_opts_t;

#endif
