/* PII and secret redaction, applied to every body before it is written anywhere (log rows,
 * spool, diagnostics).
 *
 * A redactor is compiled once at start from a sy_redact_conf_t and is immutable afterwards: any
 * number of threads may call sy_redact_apply on the same redactor at the same time (the compiled
 * PCRE2 code and the match contexts are only read; each call allocates its own match data, one
 * malloc). The pattern rules are in docs/internals/REDACTION.md.
 *
 * Input is treated as bytes: patterns are compiled without PCRE2_UTF, so invalid UTF-8, NUL
 * bytes and binary data are safe and never rejected; \w, \d and boundaries are ASCII, and bytes
 * >= 0x80 count as letters only inside e-mail addresses. */
#ifndef SY_LOGPIPE_REDACT_H
#define SY_LOGPIPE_REDACT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* What happens to a match. The zero value is MASK, so a zeroed config masks everything. */
typedef enum sy_redact_mode {
    SY_REDACT_MASK = 0, /* replaced by its label: "[EMAIL]" */
    SY_REDACT_HASH,     /* replaced by label + keyed hash: "[EMAIL:3f2a9c1b8e7d6a54]": 8 bytes of
                         * keyed BLAKE2b over the normalized value, in hex; equal values give
                         * equal hashes under one key, so rows still join */
    SY_REDACT_OFF,      /* not looked for at all (costs nothing) */
} sy_redact_mode_t;

/* Built-in patterns; the order is the order of precedence when two start at the same byte. */
typedef enum sy_redact_builtin {
    SY_REDACT_BEARER,    /* "Bearer <token>": the word is kept, the token replaced */
    SY_REDACT_ANTHROPIC, /* sk-ant-... */
    SY_REDACT_OPENAI,    /* sk-..., sk-proj-..., sk-svcacct-... */
    SY_REDACT_SY_KEY,    /* Switchyard virtual keys: sy- + 43 or more base64url chars */
    SY_REDACT_AWS,       /* AWS access key ids: AKIA/ASIA + 16 */
    SY_REDACT_JWT,       /* eyJ....  three base64url segments */
    SY_REDACT_EMAIL,
    SY_REDACT_CARD, /* 13-19 digits, Luhn-valid, first digit 2-6 */
    SY_REDACT_SSN,  /* AAA-GG-SSSS, invalid ranges excluded */
    SY_REDACT_PHONE,
    SY_REDACT_IPV6,
    SY_REDACT_IPV4,
    SY_REDACT__BUILTIN_COUNT
} sy_redact_builtin_t;

#define SY_REDACT_MAX_CUSTOM 32
#define SY_REDACT_MAX_PATTERNS (SY_REDACT__BUILTIN_COUNT + SY_REDACT_MAX_CUSTOM)
#define SY_REDACT_KEY_BYTES 32 /* key of the keyed hash (BLAKE2b, libsodium crypto_generichash) */
#define SY_REDACT_HASH_HEX 16  /* hex digits of the 8-byte keyed hash shown in hash mode */

/* A pattern from config. Strings are only read during sy_redact_new (copied). */
typedef struct sy_redact_custom {
    const char *name;  /* for errors and stats; required */
    const char *regex; /* PCRE2 syntax, byte mode ((*UTF) is refused); must not match "" only */
    const char *label; /* replacement label without brackets; NULL = name in upper case */
    sy_redact_mode_t mode;
} sy_redact_custom_t;

/* Configuration; fill it in place (a zeroed struct = every built-in masked, no custom patterns,
 * no key). */
typedef struct sy_redact_conf {
    sy_redact_mode_t builtin[SY_REDACT__BUILTIN_COUNT];
    const sy_redact_custom_t *custom;
    size_t ncustom;
    /* Required when any pattern is in hash mode. Keep it secret and stable: hashes join across
     * rows only while the key is the same; with the key, short values (SSNs, phone numbers)
     * can be recovered by brute force. */
    unsigned char hash_key[SY_REDACT_KEY_BYTES];
    bool hash_key_set;
    /* PCRE2 match limit per search for custom patterns (0 = 1,000,000): a runaway regex makes
     * sy_redact_apply fail instead of spinning. */
    uint32_t match_limit;
} sy_redact_conf_t;

/* Per-call counts. sy_redact_apply ADDS to them (zero it first), so one struct can sum the
 * request and the response of a call. Index: sy_redact_builtin_t, then custom patterns in
 * config order from SY_REDACT__BUILTIN_COUNT. */
typedef struct sy_redact_stats {
    uint32_t count[SY_REDACT_MAX_PATTERNS];
    uint32_t total;
    bool truncated; /* the output hit out->max */
} sy_redact_stats_t;

typedef struct sy_redact sy_redact_t;

/* Compiles the enabled patterns with JIT (one regex per built-in pattern, one per custom
 * pattern; a pattern in off mode is not compiled into the scan). Returns NULL and writes a one-line
 * message to err on a bad custom regex (with the pattern name and offset), too many custom
 * patterns, a missing name, or hash mode without a key. Call at start, from any thread. */
sy_redact_t *sy_redact_new(const sy_redact_conf_t *conf, char *err, size_t errlen);
void sy_redact_free(sy_redact_t *r);

/* Appends the redacted form of in[0..len) to out. Any thread; r is not modified.
 * Each compiled regex scans the input about once (e-mail, SSN, IPv4 and IPv6 only around the
 * bytes '@', '-', '.', ':'); where matches overlap, the one that starts first wins, then the
 * longer one, then the lower stats index (built-ins in enum order, then custom patterns).
 * Returns:
 *   SY_OK
 *   SY_ERR_TOO_LARGE  the output reached out->max: out holds a redacted prefix (never half a
 *                     label, never unredacted text) and stats->truncated is set;
 *   SY_ERR_INTERNAL   a custom regex hit its match limit or a PCRE2 error: out holds the
 *                     redacted prefix up to that point; the rest is NOT appended.
 * In every case what was appended to out is safe to write. stats may be NULL. */
sy_err_t sy_redact_apply(const sy_redact_t *r, const char *in, size_t len, sy_buf_t *out,
                         sy_redact_stats_t *stats);

/* Name of pattern idx (stats index): "email", "card", ... or the custom pattern's name. NULL if
 * idx is out of range. */
const char *sy_redact_pattern_name(const sy_redact_t *r, size_t idx);
/* Number of stats slots in use: SY_REDACT__BUILTIN_COUNT + number of custom patterns. */
size_t sy_redact_pattern_count(const sy_redact_t *r);

/* Config helpers for the YAML binding. Return false on an unknown name. */
bool sy_redact_builtin_from_name(const char *name, sy_redact_builtin_t *out);
const char *sy_redact_builtin_name(sy_redact_builtin_t b);
bool sy_redact_mode_from_name(const char *name, sy_redact_mode_t *out); /* mask|hash|off */

#endif
