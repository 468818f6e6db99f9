/* The inference-log row as an owned record: one wide, append-only row per call and per retry
 * attempt (docs/internals/STORE.md lists every field and its column).
 *
 * Ownership: a record made by sy_log_record_clone or sy_log_record_decode is ONE heap
 * allocation — the struct, the tags array and every string's bytes — released by
 * sy_log_record_free. A record you fill yourself on the stack (strings pointing into a request
 * arena) is a "view": pass it to clone to get an owned copy that outlives the request.
 *
 * Conventions:
 *   - strings are sy_str_t views; ptr == NULL means NULL (unknown / not applicable), which is
 *     different from an empty string. Strings are UTF-8 (bodies: already redacted text).
 *     In owned records every string is also NUL-terminated (len is still authoritative).
 *   - int64 fields use SY_LOG_UNKNOWN (-1) for NULL: times, durations, token counts, cost,
 *     sizes.
 *   - times are wall-clock microseconds since the Unix epoch; durations are microseconds.
 *   - cost is int64 NANO-USD (1e-9 USD), SY_LOG_UNKNOWN when any price needed is unknown:
 *     never a guessed number. Nano, not micro: a 100-token call on a $0.075/M model costs
 *     7.5 µUSD; micro-USD would round it by 7 %. int64 nano-USD still holds 9.2e9 USD per row
 *     and per sum.
 * Thread-safety: a record is plain data; an owned record may move between threads. */
#ifndef SY_LOGPIPE_RECORD_H
#define SY_LOGPIPE_RECORD_H
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "core/uuid.h"

#define SY_LOG_UNKNOWN (-1)
/* Encoding version written as the first byte by sy_log_record_encode. */
#define SY_LOG_RECORD_VERSION 1
/* Decode refuses more tags than this (a corrupt count must not allocate gigabytes). */
#define SY_LOG_MAX_TAGS 1024

/* How the call ended. Stored as text: "ok", "error", "cancelled", "timeout". */
typedef enum sy_log_status {
    SY_LOG_STATUS_OK = 0,
    SY_LOG_STATUS_ERROR = 1,     /* upstream or gateway error (http_status/error_* say which) */
    SY_LOG_STATUS_CANCELLED = 2, /* the client went away */
    SY_LOG_STATUS_TIMEOUT = 3,   /* an upstream or gateway timeout fired */
    SY_LOG_STATUS__COUNT
} sy_log_status_t;

/* Where the token counts came from. Stored as text "provider" / "estimated" / NULL. */
typedef enum sy_log_usage_source {
    SY_LOG_USAGE_NONE = 0,      /* no usage at all (every count is SY_LOG_UNKNOWN) */
    SY_LOG_USAGE_PROVIDER = 1,  /* the upstream reported it */
    SY_LOG_USAGE_ESTIMATED = 2, /* the upstream gave none; the gateway estimated */
    SY_LOG_USAGE__COUNT
} sy_log_usage_source_t;

typedef struct sy_log_record {
    /* ids */
    char id[SY_UUID_STRLEN + 1];        /* UUIDv7 of this row (required, lower-case) */
    sy_str_t request_id;                /* the gateway request id (shared by retry attempts) */
    int32_t attempt;                    /* 1 for the first upstream attempt, 2 for a retry, … */
    char parent_id[SY_UUID_STRLEN + 1]; /* row id of the attempt this one retries; "" = none */

    /* time: wall-clock µs since the epoch, SY_LOG_UNKNOWN when the point was never reached */
    int64_t t_received_us;       /* request head received (the row's time for queries) */
    int64_t t_upstream_start_us; /* upstream call started */
    int64_t t_first_token_us;    /* first content byte/token from the upstream */
    int64_t t_end_us;            /* last byte sent to the client / call ended */
    int64_t latency_us;          /* end - received */
    int64_t ttft_us;             /* first token - received */
    int64_t overhead_us;         /* time spent in the gateway itself */

    /* routing */
    sy_str_t model;          /* public model name the client asked for */
    sy_str_t provider;       /* provider name (openai, anthropic, …) */
    sy_str_t upstream_model; /* model name sent upstream */
    sy_str_t deployment;     /* deployment id */

    /* outcome */
    sy_log_status_t status;
    int32_t http_status; /* status sent to the client; 0 = none (client gone before head) */
    sy_str_t error_type; /* OpenAI-style error type, NULL when ok */
    sy_str_t error_message;

    /* usage: SY_LOG_UNKNOWN when not known */
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t cached_read_tokens;
    int64_t cache_write_tokens;
    int64_t reasoning_tokens;
    sy_log_usage_source_t usage_source;

    /* cost: nano-USD, SY_LOG_UNKNOWN = NULL (see above) */
    int64_t cost_nanousd;

    /* who */
    sy_str_t key_id;
    sy_str_t user_id;
    sy_str_t team_id;
    sy_str_t conversation_id;
    sy_str_t message_id;
    sy_str_t experiment;
    sy_str_t variant;
    const sy_str_t *tags; /* n_tags strings (none NULL) */
    uint32_t n_tags;
    sy_str_t metadata; /* JSON object text, or NULL */

    /* bodies: redacted text, capped; *_size is the original size in bytes before capping */
    sy_str_t request_body;
    sy_str_t response_body;
    bool request_truncated;
    bool response_truncated;
    int64_t request_size;
    int64_t response_size;

    /* Not encoded, not stored: a producer's attachment for the pipeline's transform hook
     * (sy_logpipe_conf_t.transform), e.g. the raw response capture. clone copies the pointer,
     * decode and init set NULL. The hook (or discard, for a row dropped before it) owns it. */
    void *aux;
} sy_log_record_t;

/* Sets every field to its NULL/unknown value: strings NULL, int64 SY_LOG_UNKNOWN, attempt 1,
 * status ok, http_status 0, no tags, ids "". */
void sy_log_record_init(sy_log_record_t *r);

/* An owned copy of r (a view or an owned record) in one allocation. Never fails (OOM aborts). */
sy_log_record_t *sy_log_record_clone(const sy_log_record_t *r);

/* Same, but without the two bodies (request_body/response_body NULL; sizes and truncation
 * flags kept). Used for list views. */
sy_log_record_t *sy_log_record_clone_nobodies(const sy_log_record_t *r);

/* Frees an owned record (NULL is fine). Never call it on a view. */
void sy_log_record_free(sy_log_record_t *r);

/* Appends the compact binary encoding of r to out (version byte SY_LOG_RECORD_VERSION first,
 * little-endian fixed-width integers, strings as u32 length + bytes, 0xFFFFFFFF = NULL).
 * SY_ERR_TOO_LARGE when out's maximum would be exceeded (out is then unchanged). The encoding
 * is self-delimiting but carries no checksum: the spool frames and checksums it. */
sy_err_t sy_log_record_encode(const sy_log_record_t *r, sy_buf_t *out);

/* Decodes exactly n bytes made by sy_log_record_encode into a new owned record (*out).
 * SY_ERR_CORRUPT, *out untouched, nothing allocated, on anything malformed: unknown version,
 * truncation, trailing bytes, out-of-range enum, bad UUID, too many tags. */
sy_err_t sy_log_record_decode(const void *p, size_t n, sy_log_record_t **out);

/* Text names for the enums ("ok", "provider", …; usage NONE → NULL) and the reverse (false
 * when unknown). */
const char *sy_log_status_name(sy_log_status_t s);
bool sy_log_status_parse(sy_str_t s, sy_log_status_t *out);
const char *sy_log_usage_source_name(sy_log_usage_source_t u);
bool sy_log_usage_source_parse(sy_str_t s, sy_log_usage_source_t *out);

/* True when s is a 36-char lower-case hex UUID string (any version). */
bool sy_log_uuid_valid(const char *s, size_t n);

#endif
