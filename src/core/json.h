/* Small JSON helpers for the hot path, where a full jansson parse/serialise would cost too much
 * or would rewrite bytes we must forward untouched:
 *  - a top-level member scanner that reports where each member's key and value lie in the
 *    original bytes, so a field can be replaced without re-serialising the document;
 *  - a string escaper that appends a quoted JSON string to a capped buffer.
 * The scanner assumes its input already passed a validating parser (jansson). */
#ifndef SY_CORE_JSON_H
#define SY_CORE_JSON_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/str.h"

typedef struct sy_json_member {
    sy_str_t key;   /* raw key bytes between the quotes (escapes not decoded) */
    sy_str_t value; /* the whole value token(s), e.g. "\"gpt-4o\"" or "{...}" */
    bool key_escaped;
} sy_json_member_t;

/* Scans a top-level JSON object. Calls on_member for each member in document order; stops early
 * if it returns false. *close_pos receives the offset of the closing '}'. Returns false if the
 * input is not a well-formed object. */
bool sy_json_scan_object(const char *p, size_t n,
                         bool (*on_member)(void *ctx, const sy_json_member_t *m), void *ctx,
                         size_t *close_pos);

/* Appends s (UTF-8, len bytes) as a quoted, escaped JSON string. */
sy_err_t sy_json_append_string(sy_buf_t *b, const char *s, size_t len);

#endif
