/* See query.h. */
#include "http/query.h"

#include <stdio.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes p[0..n) into an arena string; false on a bad escape or an escaped NUL. */
static bool decode(const char *p, size_t n, sy_arena_t *a, sy_str_t *out)
{
    char *d = sy_arena_alloc(a, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n) return false;
            int hi = hexval(p[i + 1]), lo = hexval(p[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        d[k++] = c;
    }
    d[k] = 0;
    *out = sy_str(d, k);
    return true;
}

sy_err_t sy_http_query_parse(sy_str_t query, sy_http_param_t *params, size_t n, sy_arena_t *arena,
                             const char **bad, char *msg, size_t msglen)
{
    *bad = NULL;
    for (size_t k = 0; k < n; k++) {
        params[k].set = false;
        params[k].value = SY_STR_NULL;
    }
    const char *p = query.ptr, *end = query.ptr + query.len;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if (pe == p) {
            p = pe + 1;
            continue;
        }
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        sy_str_t name, value;
        if (!decode(p, (size_t)((eq ? eq : pe) - p), arena, &name)) {
            snprintf(msg, msglen, "malformed percent-escape in a query parameter name");
            return SY_ERR_INVALID_REQUEST;
        }
        size_t k = 0;
        while (k < n && !sy_str_eq_c(name, params[k].name))
            k++;
        if (k == n) {
            char shown[65]; /* printable ASCII only: the name is client text */
            size_t m = 0;
            for (; m < name.len && m < 64; m++)
                shown[m] = name.ptr[m] >= 0x20 && name.ptr[m] < 0x7f ? name.ptr[m] : '?';
            shown[m] = 0;
            *bad = sy_arena_strndup(arena, shown, m);
            int w = snprintf(msg, msglen, "unknown query parameter '%s'; allowed: ", shown);
            for (size_t j = 0; j < n && w >= 0 && (size_t)w < msglen; j++)
                w += snprintf(msg + w, msglen - (size_t)w, "%s%s", j ? ", " : "", params[j].name);
            return SY_ERR_INVALID_REQUEST;
        }
        *bad = params[k].name;
        if (params[k].set) {
            snprintf(msg, msglen, "query parameter '%s' is given more than once", params[k].name);
            return SY_ERR_INVALID_REQUEST;
        }
        if (!decode(eq ? eq + 1 : pe, eq ? (size_t)(pe - eq - 1) : 0, arena, &value)) {
            snprintf(msg, msglen, "malformed percent-escape in query parameter '%s'",
                     params[k].name);
            return SY_ERR_INVALID_REQUEST;
        }
        params[k].set = true;
        params[k].value = value;
        p = pe + 1;
    }
    *bad = NULL;
    return SY_OK;
}
