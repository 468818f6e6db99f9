/* Strict validating JSON scanner for the hot path.
 *
 * One pass over the bytes, no heap allocation, no tree: it answers "would jansson accept this
 * body?" and, for chat requests, pulls out the few top-level facts the gateway checks, so a
 * body we forward untouched is never parsed into jansson objects.
 *
 * Accepts exactly what json_loadb(p, n, 0, &e) accepts (jansson 2.14, flags 0), checked by a
 * differential test (tests/unit/test_jsonv.c):
 *  - RFC 8259 grammar; the top-level value must be an object or an array (no JSON_DECODE_ANY);
 *    whitespace is space, tab, CR, LF only; no BOM, comments, trailing commas, NaN/Infinity;
 *    nothing but whitespace after the top-level value;
 *  - strings: no raw byte < 0x20, strict UTF-8 (no overlong forms, no encoded surrogates, nothing
 *    above U+10FFFF), only the escapes \" \\ \/ \b \f \n \r \t \uXXXX, no lone surrogate in
 *    \u escapes, no \u0000 (jansson needs JSON_ALLOW_NUL for that);
 *  - numbers: no leading zeros, no "1." / ".5" / "+1"; an integer (no fraction, no exponent)
 *    must fit in a signed 64-bit integer and a real must not overflow a double (jansson fails
 *    with "too big integer" / "real number overflow"); underflow to 0 is fine;
 *  - nesting: every value counts one level, top-level value = 1, at most SY_JSONV_MAX_DEPTH.
 * Duplicate keys are allowed; for the extracted fields the last one wins, as in jansson.
 *
 * All functions are pure (no global state) and may be called from any thread. Input is a
 * {ptr,len} byte range; it need not be NUL-terminated and is never read outside [p, p+n). */
#ifndef SY_CORE_JSONV_H
#define SY_CORE_JSONV_H
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "core/str.h"

/* jansson's JSON_PARSER_MAX_DEPTH. */
#define SY_JSONV_MAX_DEPTH 2048

/* Where and why a document was rejected. */
typedef struct sy_jsonv_err {
    size_t position; /* byte offset of the offending byte; n if the input ended too early */
    int line;        /* 1-based line of position */
    int column;      /* 1-based column of position, in characters (UTF-8 sequences count 1) */
    char text[96];   /* jansson-like message, NUL-terminated, e.g. "invalid escape" */
} sy_jsonv_err_t;

/* Type of an extracted value. ABSENT (0) = the key was not present. */
typedef enum sy_jsonv_type {
    SY_JSONV_ABSENT = 0,
    SY_JSONV_OBJECT,
    SY_JSONV_ARRAY,
    SY_JSONV_STRING,
    SY_JSONV_NUMBER,
    SY_JSONV_TRUE,
    SY_JSONV_FALSE,
    SY_JSONV_NULL,
} sy_jsonv_type_t;

/* Why messages[bad_message_index] is unacceptable. */
typedef enum sy_jsonv_msg_problem {
    SY_JSONV_MSG_OK = 0,     /* no bad message */
    SY_JSONV_MSG_NOT_OBJECT, /* the element is not an object */
    SY_JSONV_MSG_BAD_ROLE,   /* the element has no "role" member, or it is not a string */
} sy_jsonv_msg_problem_t;

/* Facts about a /v1/chat/completions body. Only top-level members are looked at ("model"
 * nested anywhere deeper is ignored); for every duplicated key the last occurrence wins. Keys are
 * compared after decoding escapes, so "mod\u0065l" is "model". All fields are zero/ABSENT when
 * the top-level value is an array. */
typedef struct sy_jsonv_chat {
    bool is_object;                      /* the top-level value is an object */
    sy_jsonv_type_t model_type;          /* type of "model" */
    sy_str_t model;                      /* raw bytes of the "model" value, a view into the input:
                                            for a string the whole token including the quotes
                                            ("\"gpt-4o\""); SY_STR_NULL if absent */
    bool model_has_escape;               /* the model string contains a backslash: decode it with
                                            sy_jsonv_string_decode; otherwise the name is simply
                                            model.ptr + 1, model.len - 2 */
    sy_jsonv_type_t stream_type;         /* type of "stream" */
    sy_jsonv_type_t stream_options_type; /* type of "stream_options" */
    sy_jsonv_type_t include_usage_type;  /* type of "stream_options"."include_usage"; ABSENT
                                            unless stream_options is an object holding it */
    sy_jsonv_type_t messages_type;       /* type of "messages" */
    size_t messages_count;               /* its number of elements when it is an array */
    long bad_message_index;              /* first element that is not an object or lacks a string
                                            "role" (last "role" wins); -1 if none */
    sy_jsonv_msg_problem_t bad_message_reason; /* what is wrong with it; MSG_OK if none */
    int64_t max_tokens;            /* top-level "max_tokens" when an integer 0 ≤ n < 10^15
                                      written without fraction or exponent, else -1 (absent,
                                      another type, negative, 1.0, 1e3, …); the last one wins */
    int64_t max_completion_tokens; /* "max_completion_tokens", the same way */
} sy_jsonv_chat_t;

/* Validates the whole document p[0..n). Returns true if jansson (flags 0) would accept it.
 * On false, fills *err if err is not NULL. Cost: a few instructions per byte, no allocation;
 * uses ~300 bytes of stack. */
bool sy_jsonv_validate(const char *p, size_t n, sy_jsonv_err_t *err);

/* Same validation as sy_jsonv_validate, and in the same pass fills *out with the chat-request
 * facts above. Returns false (and fills *err if not NULL) on invalid JSON, in which case *out is
 * unspecified. A valid body that is not a proper chat request (model missing, messages not an
 * array, ...) returns true: the caller judges the facts. out->model points into p. */
bool sy_jsonv_scan_chat(const char *p, size_t n, sy_jsonv_chat_t *out, sy_jsonv_err_t *err);

/* Decodes a JSON string token (with its quotes, e.g. chat.model) into UTF-8 in out[0..cap).
 * The result is not NUL-terminated; *len receives its length. Never writes more than
 * token.len - 2 bytes, so cap >= token.len always suffices. Returns false if the token is not a
 * quoted string with valid escapes (bad escape, lone surrogate) or if out is too small. Raw
 * bytes are copied as they are: pass tokens that came out of a successful scan. */
bool sy_jsonv_string_decode(sy_str_t token, char *out, size_t cap, size_t *len);

#endif
