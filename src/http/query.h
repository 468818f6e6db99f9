/* Query-string parameters (the part of the request target after '?'), for GET APIs that take
 * a fixed set of named parameters. Pure function, any thread.
 *
 * Rules: pairs are separated by '&' (empty pairs such as "a=1&&b=2" are skipped); a pair
 * without '=' has the empty value; names and values are percent-decoded, '+' decodes to a space
 * (application/x-www-form-urlencoded, what browsers and URLSearchParams send). Rejected, with
 * a message naming the parameter: a bad escape ('%' not followed by two hex digits), an
 * escaped NUL, a name that is not in the allowed list (the message lists the allowed ones), a
 * name given twice. */
#ifndef SY_HTTP_QUERY_H
#define SY_HTTP_QUERY_H
#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"

typedef struct sy_http_param {
    const char *name; /* set by the caller: the allowed name */
    bool set;         /* out: the parameter was present */
    sy_str_t value;   /* out: decoded value, NUL-terminated, in the arena */
} sy_http_param_t;

/* Fills params[0..n) from query. On error returns SY_ERR_INVALID_REQUEST and writes the
 * reason to msg (NUL-terminated) and the offending name to *bad (arena copy, or NULL). Decoded
 * strings live in arena. */
sy_err_t sy_http_query_parse(sy_str_t query, sy_http_param_t *params, size_t n, sy_arena_t *arena,
                             const char **bad, char *msg, size_t msglen);

#endif
