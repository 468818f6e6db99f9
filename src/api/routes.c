/* The /api/v1 route table (see routes.h). Keep it in the order of docs/API.md. */
#include "api/routes.h"

#include <stdio.h>
#include <string.h>

const sy_api_route_t sy_api_routes[] = {
    {"GET", "/api/v1/openapi.json"},
    /* inference log */
    {"GET", "/api/v1/logs"},
    {"GET", "/api/v1/logs/{id}"},
    {"GET", "/api/v1/stats"},
    /* authentication */
    {"POST", "/api/v1/auth/login"},
    {"POST", "/api/v1/auth/logout"},
    {"GET", "/api/v1/auth/me"},
    /* the caller's own keys, the model list (any role) */
    {"GET", "/api/v1/me/keys"},
    {"POST", "/api/v1/me/keys"},
    {"POST", "/api/v1/me/keys/{id}/revoke"},
    {"GET", "/api/v1/models"},
    /* admin */
    {"GET", "/api/v1/users"},
    {"POST", "/api/v1/users"},
    {"PATCH", "/api/v1/users/{id}"},
    {"GET", "/api/v1/teams"},
    {"POST", "/api/v1/teams"},
    {"PATCH", "/api/v1/teams/{id}"},
    {"POST", "/api/v1/teams/{id}/members"},
    {"GET", "/api/v1/keys"},
    {"POST", "/api/v1/keys"},
    {"GET", "/api/v1/keys/{id}"},
    {"PATCH", "/api/v1/keys/{id}"},
    {"POST", "/api/v1/keys/{id}/revoke"},
    {"POST", "/api/v1/keys/{id}/rotate"},
    {"GET", "/api/v1/credentials"},
    {"GET", "/api/v1/credentials/{name}"},
    {"PUT", "/api/v1/credentials/{name}"},
    {"DELETE", "/api/v1/credentials/{name}"},
    {"GET", "/api/v1/audit"},
    /* chat */
    {"GET", "/api/v1/conversations"},
    {"POST", "/api/v1/conversations"},
    {"GET", "/api/v1/conversations/{id}"},
    {"PATCH", "/api/v1/conversations/{id}"},
    {"DELETE", "/api/v1/conversations/{id}"},
    {"POST", "/api/v1/conversations/{id}/messages"},
    {"GET", "/api/v1/conversations/{id}/export"},
    {"POST", "/api/v1/conversations/{id}/generate"},
    {"GET", "/api/v1/conversations/{id}/messages/{mid}/stream"},
    {"POST", "/api/v1/conversations/{id}/messages/{mid}/cancel"},
    {"GET", "/api/v1/feedback/{log_id}"},
    {"PUT", "/api/v1/feedback/{log_id}"},
    {"DELETE", "/api/v1/feedback/{log_id}"},
};
const size_t sy_api_routes_count = sizeof(sy_api_routes) / sizeof(sy_api_routes[0]);

bool sy_api_route_match(const char *tmpl, sy_str_t path)
{
    const char *t = tmpl, *p = path.ptr, *pe = path.ptr + path.len;
    while (*t) {
        if (*t == '{') {
            const char *close = strchr(t, '}');
            if (!close) return false;
            const char *seg = p;
            while (p < pe && *p != '/')
                p++;
            if (p == seg) return false; /* an empty segment names nothing */
            t = close + 1;
            continue;
        }
        if (p == pe || *p != *t) return false;
        p++;
        t++;
    }
    return p == pe;
}

sy_api_route_result_t sy_api_route_check(const char *method, sy_str_t path, char *allowed,
                                         size_t allowed_len)
{
    if (!strcmp(method, "HEAD")) method = "GET";
    bool path_known = false;
    size_t used = 0;
    if (allowed_len) allowed[0] = '\0';
    for (size_t i = 0; i < sy_api_routes_count; i++) {
        const sy_api_route_t *r = &sy_api_routes[i];
        if (!sy_api_route_match(r->path, path)) continue;
        if (!strcmp(r->method, method)) return SY_API_ROUTE_OK;
        path_known = true;
        if (used < allowed_len) {
            int n =
                snprintf(allowed + used, allowed_len - used, "%s%s", used ? ", " : "", r->method);
            if (n > 0) used += (size_t)n;
        }
    }
    return path_known ? SY_API_ROUTE_NO_METHOD : SY_API_ROUTE_NO_PATH;
}
