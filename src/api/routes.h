/* The table of /api/v1 routes (api/routes.c): method + path template, one row per operation.
 * It is the router's single source of truth for that prefix — sy_api_handle answers 404 for a
 * path no template matches and 405 (naming the allowed methods) for a method the table does not
 * list, before any surface sees the request — and the list docs/openapi.json must describe
 * exactly (tests/unit/test_openapi.c checks both directions). Adding a route = a row here, an
 * operation in docs/openapi.json, and its handler. Immutable; any thread. */
#ifndef SY_API_ROUTES_H
#define SY_API_ROUTES_H
#include <stddef.h>

#include "core/str.h"

typedef struct sy_api_route {
    const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *path;   /* "/api/v1/keys/{id}/revoke": a {name} segment matches one segment */
} sy_api_route_t;

extern const sy_api_route_t sy_api_routes[];
extern const size_t sy_api_routes_count;

/* Does path match the template (segment by segment; "{…}" matches one non-empty segment)? */
bool sy_api_route_match(const char *tmpl, sy_str_t path);

typedef enum {
    SY_API_ROUTE_OK,        /* the table has (method, path) */
    SY_API_ROUTE_NO_PATH,   /* no template matches the path: 404 */
    SY_API_ROUTE_NO_METHOD, /* templates match, not with this method: 405 */
} sy_api_route_result_t;

/* Looks (method, path) up; on NO_METHOD writes the allowed methods ("GET, PATCH") to allowed
 * (always NUL-terminated, cut at allowed_len). HEAD is treated as GET. */
sy_api_route_result_t sy_api_route_check(const char *method, sy_str_t path, char *allowed,
                                         size_t allowed_len);

#endif
