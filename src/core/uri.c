/* RFC 3986 reference resolution (see uri.h). */
#include "core/uri.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

typedef struct {
    const char *p;
    size_t n;
    bool has;
} part_t;
typedef struct {
    part_t scheme, auth, path, query, frag;
} uri_t;

static void uri_parse(const char *u, uri_t *o)
{
    memset(o, 0, sizeof *o);
    const char *p = u, *q = u;
    if (isalpha((unsigned char)*q)) {
        q++;
        while (isalnum((unsigned char)*q) || *q == '+' || *q == '-' || *q == '.')
            q++;
        if (*q == ':') {
            o->scheme = (part_t){p, (size_t)(q - p), true};
            p = q + 1;
        }
    }
    if (p[0] == '/' && p[1] == '/') {
        p += 2;
        q = p + strcspn(p, "/?#");
        o->auth = (part_t){p, (size_t)(q - p), true};
        p = q;
    }
    q = p + strcspn(p, "?#");
    o->path = (part_t){p, (size_t)(q - p), true};
    p = q;
    if (*p == '?') {
        p++;
        q = p + strcspn(p, "#");
        o->query = (part_t){p, (size_t)(q - p), true};
        p = q;
    }
    if (*p == '#') {
        p++;
        o->frag = (part_t){p, strlen(p), true};
    }
}

/* RFC 3986 5.2.4; out has room for n + 1 bytes. */
static size_t remove_dots(const char *in, size_t n, char *out)
{
    const char *p = in, *e = in + n;
    size_t o = 0;
#define POP()                                                                                      \
    do {                                                                                           \
        while (o > 0 && out[o - 1] != '/')                                                         \
            o--;                                                                                   \
        if (o > 0) o--;                                                                            \
    } while (0)
    while (p < e) {
        size_t r = (size_t)(e - p);
        if (r >= 3 && !memcmp(p, "../", 3)) {
            p += 3;
        } else if (r >= 2 && !memcmp(p, "./", 2)) {
            p += 2;
        } else if (r >= 3 && !memcmp(p, "/./", 3)) {
            p += 2;
        } else if (r == 2 && !memcmp(p, "/.", 2)) {
            out[o++] = '/';
            p = e;
        } else if (r >= 4 && !memcmp(p, "/../", 4)) {
            p += 3;
            POP();
        } else if (r == 3 && !memcmp(p, "/..", 3)) {
            p = e;
            POP();
            out[o++] = '/';
        } else if ((r == 1 && *p == '.') || (r == 2 && !memcmp(p, "..", 2))) {
            p = e;
        } else {
            if (*p == '/') out[o++] = *p++;
            while (p < e && *p != '/')
                out[o++] = *p++;
        }
    }
#undef POP
    return o;
}

char *sy_uri_resolve(sy_arena_t *a, const char *base, const char *ref)
{
    uri_t B, R;
    uri_parse(base, &B);
    uri_parse(ref, &R);
    size_t cap = strlen(base) + strlen(ref) + 8;
    char *merged = sy_arena_alloc(a, cap), *path = sy_arena_alloc(a, cap);
    size_t plen;
    part_t scheme, auth, query;
    if (R.scheme.has) {
        scheme = R.scheme, auth = R.auth, query = R.query;
        plen = remove_dots(R.path.p, R.path.n, path);
    } else {
        scheme = B.scheme;
        if (R.auth.has) {
            auth = R.auth, query = R.query;
            plen = remove_dots(R.path.p, R.path.n, path);
        } else {
            auth = B.auth;
            if (R.path.n == 0) {
                memcpy(path, B.path.p, B.path.n);
                plen = B.path.n;
                query = R.query.has ? R.query : B.query;
            } else {
                query = R.query;
                if (R.path.p[0] == '/') {
                    plen = remove_dots(R.path.p, R.path.n, path);
                } else {
                    size_t m = 0;
                    if (B.auth.has && B.path.n == 0) {
                        merged[m++] = '/';
                    } else {
                        const char *slash = NULL;
                        for (size_t i = 0; i < B.path.n; i++)
                            if (B.path.p[i] == '/') slash = B.path.p + i;
                        if (slash) {
                            memcpy(merged, B.path.p, (size_t)(slash - B.path.p) + 1);
                            m = (size_t)(slash - B.path.p) + 1;
                        }
                    }
                    memcpy(merged + m, R.path.p, R.path.n);
                    m += R.path.n;
                    plen = remove_dots(merged, m, path);
                }
            }
        }
    }
    char *out = sy_arena_alloc(a, cap + 8);
    size_t o = 0;
#define PUT(s, n)                                                                                  \
    do {                                                                                           \
        memcpy(out + o, (s), (n));                                                                 \
        o += (n);                                                                                  \
    } while (0)
    if (scheme.has) {
        PUT(scheme.p, scheme.n);
        PUT(":", 1);
    }
    if (auth.has) {
        PUT("//", 2);
        PUT(auth.p, auth.n);
    }
    PUT(path, plen);
    if (query.has) {
        PUT("?", 1);
        PUT(query.p, query.n);
    }
    if (R.frag.has) {
        PUT("#", 1);
        PUT(R.frag.p, R.frag.n);
    }
#undef PUT
    out[o] = '\0';
    return out;
}
