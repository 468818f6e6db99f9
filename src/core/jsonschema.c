/* JSON Schema validation (see jsonschema.h and docs/internals/JSONSCHEMA.md).
 *
 * DESIGN
 * - Compile: the schema is deep-copied, then
 *   1. a pre-pass walks every subschema position and registers resources ($id, resolved against
 *      the base URI in scope, RFC 3986 section 5.2) and anchors ($anchor, $dynamicAnchor and
 *      draft-07 "$id": "#name");
 *   2. each schema object becomes one jnode_t (cached by json_t pointer, so a subschema reached
 *      twice, or through a $ref, is compiled once and a recursive $ref is a graph edge);
 *      keyword values are checked and regexes compiled with PCRE2 (JIT);
 *   3. $refs are resolved from a queue (no recursion along ref chains): the URI part must name
 *      the root or a registered resource (anything else is remote: refused), the fragment is a
 *      JSON pointer walked in that resource or an anchor name;
 *   4. an iterative depth-first search over "same instance" edges ($ref, allOf, anyOf, oneOf,
 *      not, if/then/else, dependentSchemas) refuses a cycle: it would recurse forever without
 *      consuming the instance.
 * - Validate: a recursive walk over nodes and instance. Errors in the branches of
 *   anyOf/oneOf/not/if are evaluated "quietly" (first failure returns) and the combinator
 *   reports one error. unevaluatedProperties/unevaluatedItems use per-evaluation bit sets of
 *   the instance's member/item indexes, allocated only when some enclosing node needs them;
 *   each node evaluates into a fresh set and merges it into its caller's only when it passed,
 *   which is how annotations of failed branches are dropped. The evaluation depth is capped
 *   (MAX_EVAL_DEPTH) as a backstop for deep instances.
 * - The compiled schema is read-only after compile: validation state lives in vctx_t on the
 *   caller's stack, so one schema may be used by several threads at once. */
#include "core/jsonschema.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"

#define MAX_SCHEMA_DEPTH 256
#define MAX_EVAL_DEPTH 1000
#define MATCH_LIMIT 1000000 /* PCRE2 backtracking steps per match: no catastrophic regex */

enum {
    T_NULL = 1,
    T_BOOLEAN = 2,
    T_OBJECT = 4,
    T_ARRAY = 8,
    T_NUMBER = 16,
    T_STRING = 32,
    T_INTEGER = 64,
};
static const char *const type_names[] = {"null",   "boolean", "object", "array",
                                         "number", "string",  "integer"};

typedef struct jnode jnode_t;
typedef struct {
    const char *name; /* borrowed from the schema copy */
    size_t len;
    jnode_t *s;
} named_t;
typedef struct {
    pcre2_code *re;
    jnode_t *s;
} pat_t;
typedef struct {
    const char *name;
    size_t len;
    const json_t *req; /* array of strings */
} dreq_t;

struct jnode {
    int boolean;     /* -1: an object schema; 0: false; 1: true */
    const char *loc; /* schema location (JSON pointer), for compile errors */
    bool ref_only;   /* draft-07: $ref present, every sibling ignored */
    jnode_t *ref;
    bool has_type, has_const, unique;
    unsigned types;
    const json_t *enum_v, *const_v;
    const json_t *minimum, *maximum, *xminimum, *xmaximum, *multiple_of;
    long long min_len, max_len, min_items, max_items, min_props, max_props;
    long long min_contains, max_contains; /* -1: absent */
    pcre2_code *pattern;
    jnode_t **prefix;
    size_t nprefix;
    jnode_t *items; /* for the items after the prefix */
    jnode_t *contains;
    jnode_t *uneval_items;
    named_t *props; /* sorted by (len, bytes) */
    size_t nprops;
    pat_t *pats;
    size_t npats;
    jnode_t *additional, *prop_names, *uneval_props;
    const json_t *required;
    dreq_t *dreq;
    size_t ndreq;
    named_t *dsch;
    size_t ndsch;
    jnode_t **all_of, **any_of, **one_of;
    size_t nall, nany, none;
    jnode_t *not_, *if_, *then_, *else_;
    int mark; /* cycle search colour */
};

struct sy_jschema {
    json_t *doc;
    jnode_t *root;
    sy_arena_t arena; /* nodes, arrays, locations: freed at once */
    pcre2_code **codes;
    size_t ncodes;
    pcre2_match_context *mctx;
};

/* ---------------------------------------------------------------- compile context */

typedef struct {
    const char *uri; /* without fragment for resources; uri#name for anchors */
    json_t *j;
    const char *outer_base; /* base URI in scope around j (what compiling j starts from) */
} reg_t;

typedef struct {
    jnode_t *n;
    const char *uri; /* absolute (resolved) reference */
    const char *loc;
} pending_t;

typedef struct {
    sy_jschema_t *s;
    int draft; /* 7 or 2020 */
    char *err;
    size_t err_len;
    bool failed;
    char loc[512];
    size_t loc_len;
    sy_arena_t tmp; /* URIs and registry entries: compile time only */
    reg_t *res, *anchors;
    size_t nres, nanchors, capres, capanchors;
    pending_t *pend;
    size_t npend, cappend;
    /* json_t* -> jnode_t* (open addressing, power-of-two capacity) */
    const json_t **hkeys;
    jnode_t **hvals;
    size_t hcap, hcount;
    jnode_t **nodes;
    size_t nnodes, capnodes;
} cctx_t;

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    *cap = c;
    return sy_xrealloc(p, c * elem);
}

static void *az(sy_arena_t *a, size_t n)
{
    void *p = sy_arena_alloc(a, n ? n : 1);
    memset(p, 0, n ? n : 1);
    return p;
}

static void *cfail(cctx_t *c, const char *fmt, ...)
{
    if (c->failed) return NULL;
    c->failed = true;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* a deep location is cut so that the message itself always fits */
    snprintf(c->err, c->err_len, "at %.200s%s: %s", c->loc_len ? c->loc : "/",
             c->loc_len > 200 ? "..." : "", msg);
    return NULL;
}

/* Appends one JSON pointer segment (RFC 6901 escaping) to a bounded path; returns the old
 * length for the matching pop. A segment that does not fit is cut: the path then ends at the
 * buffer's capacity, which the error writer shows as "...". */
static size_t path_push(char *buf, size_t cap, size_t *len, const char *seg, size_t n)
{
    size_t old = *len, l = *len;
    if (l + 1 < cap) buf[l++] = '/';
    for (size_t i = 0; i < n && l + 1 < cap; i++) {
        if (seg[i] == '~' || seg[i] == '/') {
            if (l + 2 >= cap) {
                l = cap - 1;
                break;
            }
            buf[l++] = '~';
            buf[l++] = seg[i] == '~' ? '0' : '1';
        } else {
            buf[l++] = seg[i];
        }
    }
    buf[l] = '\0';
    *len = l;
    return old;
}

static void path_pop(char *buf, size_t *len, size_t old)
{
    *len = old;
    buf[old] = '\0';
}

static size_t loc_push(cctx_t *c, const char *seg)
{
    return path_push(c->loc, sizeof c->loc, &c->loc_len, seg, strlen(seg));
}

static size_t loc_push_idx(cctx_t *c, size_t i)
{
    char b[24];
    snprintf(b, sizeof b, "%zu", i);
    return loc_push(c, b);
}

/* ---------------------------------------------------------------- URIs (RFC 3986) */

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

static char *uri_resolve(sy_arena_t *a, const char *base, const char *ref)
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

/* The URI without its fragment (arena copy). */
static char *uri_strip(sy_arena_t *a, const char *u)
{
    return sy_arena_strndup(a, u, strcspn(u, "#"));
}

/* ---------------------------------------------------------------- registry, node cache */

static void reg_add(cctx_t *c, bool anchor, const char *uri, json_t *j, const char *outer)
{
    reg_t **v = anchor ? &c->anchors : &c->res;
    size_t *n = anchor ? &c->nanchors : &c->nres, *cap = anchor ? &c->capanchors : &c->capres;
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i].uri, uri)) return; /* first one wins */
    *v = grow(*v, cap, *n + 1, sizeof **v);
    (*v)[(*n)++] = (reg_t){uri, j, outer};
}

static const reg_t *reg_find(const reg_t *v, size_t n, const char *uri)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].uri, uri)) return &v[i];
    return NULL;
}

static size_t hslot(const json_t *k, size_t cap)
{
    uintptr_t h = (uintptr_t)k;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 7) & (cap - 1);
}

static jnode_t *cache_get(cctx_t *c, const json_t *k)
{
    if (!c->hcap) return NULL;
    for (size_t i = hslot(k, c->hcap);; i = (i + 1) & (c->hcap - 1)) {
        if (!c->hkeys[i]) return NULL;
        if (c->hkeys[i] == k) return c->hvals[i];
    }
}

static void cache_put(cctx_t *c, const json_t *k, jnode_t *v)
{
    if ((c->hcount + 1) * 2 > c->hcap) {
        size_t ocap = c->hcap, ncap = ocap ? ocap * 2 : 64;
        const json_t **ok = c->hkeys;
        jnode_t **ov = c->hvals;
        c->hkeys = sy_xcalloc(ncap, sizeof *c->hkeys);
        c->hvals = sy_xcalloc(ncap, sizeof *c->hvals);
        c->hcap = ncap;
        for (size_t i = 0; i < ocap; i++) {
            if (!ok[i]) continue;
            size_t j = hslot(ok[i], ncap);
            while (c->hkeys[j])
                j = (j + 1) & (ncap - 1);
            c->hkeys[j] = ok[i];
            c->hvals[j] = ov[i];
        }
        free(ok);
        free(ov);
    }
    size_t j = hslot(k, c->hcap);
    while (c->hkeys[j])
        j = (j + 1) & (c->hcap - 1);
    c->hkeys[j] = k;
    c->hvals[j] = v;
    c->hcount++;
}

/* ---------------------------------------------------------------- pre-pass */

/* The base URI in scope inside schema object j, given the one around it. */
static const char *scope_base(cctx_t *c, const json_t *j, const char *base)
{
    if (!json_is_object(j)) return base;
    const json_t *id = json_object_get(j, "$id");
    if (!json_is_string(id)) return base;
    if (c->draft == 7 && json_object_get(j, "$ref")) return base; /* ignored beside $ref */
    const char *s = json_string_value(id);
    if (s[0] == '#') return base; /* draft-07 location-independent name, not a new base */
    return uri_strip(&c->tmp, uri_resolve(&c->tmp, base, s));
}

/* Keywords whose value is one subschema, an array of them, or an object of them. */
static const char *const kw_one[] = {"additionalItems",
                                     "additionalProperties",
                                     "contains",
                                     "propertyNames",
                                     "not",
                                     "if",
                                     "then",
                                     "else",
                                     "unevaluatedItems",
                                     "unevaluatedProperties"};
static const char *const kw_arr[] = {"allOf", "anyOf", "oneOf", "prefixItems"};
static const char *const kw_map[] = {"properties", "patternProperties", "definitions",
                                     "$defs",      "dependentSchemas",  "dependencies"};

static void prewalk(cctx_t *c, json_t *j, const char *base, int depth)
{
    if (!json_is_object(j) || depth > MAX_SCHEMA_DEPTH) return;
    const char *inner = scope_base(c, j, base);
    json_t *id = json_object_get(j, "$id");
    bool id_used = json_is_string(id) && !(c->draft == 7 && json_object_get(j, "$ref"));
    if (id_used) {
        const char *s = json_string_value(id);
        char *full = uri_resolve(&c->tmp, base, s);
        if (s[0] != '#') reg_add(c, false, inner, j, base);
        const char *h = strchr(full, '#');
        if (h && h[1]) reg_add(c, true, full, j, base);
    }
    static const char *const anchor_kw[] = {"$anchor", "$dynamicAnchor"};
    for (size_t i = 0; i < 2; i++) {
        json_t *an = json_object_get(j, anchor_kw[i]);
        if (!json_is_string(an)) continue;
        size_t n = strlen(inner) + strlen(json_string_value(an)) + 2;
        char *u = sy_arena_alloc(&c->tmp, n);
        snprintf(u, n, "%s#%s", inner, json_string_value(an));
        reg_add(c, true, u, j, base);
    }
    json_t *v;
    for (size_t i = 0; i < sizeof kw_one / sizeof *kw_one; i++)
        if ((v = json_object_get(j, kw_one[i]))) prewalk(c, v, inner, depth + 1);
    v = json_object_get(j, "items");
    if (json_is_object(v)) prewalk(c, v, inner, depth + 1);
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
        prewalk(c, json_array_get(v, i), inner, depth + 1);
    for (size_t i = 0; i < sizeof kw_arr / sizeof *kw_arr; i++) {
        v = json_object_get(j, kw_arr[i]);
        for (size_t k = 0; json_is_array(v) && k < json_array_size(v); k++)
            prewalk(c, json_array_get(v, k), inner, depth + 1);
    }
    for (size_t i = 0; i < sizeof kw_map / sizeof *kw_map; i++) {
        v = json_object_get(j, kw_map[i]);
        const char *k;
        json_t *sub;
        if (json_is_object(v)) json_object_foreach(v, k, sub) prewalk(c, sub, inner, depth + 1);
    }
}

/* ---------------------------------------------------------------- node compile */

static jnode_t *compile_node(cctx_t *c, json_t *j, const char *base, int depth);

static bool get_count(cctx_t *c, json_t *j, const char *kw, long long *out)
{
    json_t *v = json_object_get(j, kw);
    *out = -1;
    if (!v) return true;
    double d = json_is_integer(v) ? (double)json_integer_value(v)
               : json_is_real(v)  ? json_real_value(v)
                                  : -1.0;
    if (!json_is_number(v) || d < 0 || d != floor(d)) {
        size_t m = loc_push(c, kw);
        cfail(c, "%s must be a non-negative integer", kw);
        path_pop(c->loc, &c->loc_len, m);
        return false;
    }
    *out = json_is_integer(v) ? (long long)json_integer_value(v)
           : d > 9e18         ? (long long)9e18
                              : (long long)d;
    return true;
}

static const json_t *get_number(cctx_t *c, json_t *j, const char *kw)
{
    json_t *v = json_object_get(j, kw);
    if (v && !json_is_number(v)) {
        size_t m = loc_push(c, kw);
        if (json_is_boolean(v) &&
            (!strcmp(kw, "exclusiveMinimum") || !strcmp(kw, "exclusiveMaximum")))
            cfail(c, "boolean %s is draft-04, which is not supported", kw);
        else
            cfail(c, "%s must be a number", kw);
        path_pop(c->loc, &c->loc_len, m);
    }
    return v;
}

static jnode_t *sub(cctx_t *c, json_t *j, const char *kw, const char *base, int depth)
{
    size_t m = loc_push(c, kw);
    jnode_t *n = compile_node(c, j, base, depth + 1);
    path_pop(c->loc, &c->loc_len, m);
    return n;
}

static jnode_t **sub_array(cctx_t *c, json_t *v, const char *kw, size_t *n, const char *base,
                           int depth, bool nonempty)
{
    size_t m = loc_push(c, kw);
    jnode_t **out = NULL;
    if (!json_is_array(v) || (nonempty && json_array_size(v) == 0)) {
        cfail(c, "%s must be a%s array of schemas", kw, nonempty ? " non-empty" : "n");
        goto out;
    }
    *n = json_array_size(v);
    out = az(&c->s->arena, *n * sizeof *out);
    for (size_t i = 0; i < *n && !c->failed; i++) {
        size_t m2 = loc_push_idx(c, i);
        out[i] = compile_node(c, json_array_get(v, i), base, depth + 1);
        path_pop(c->loc, &c->loc_len, m2);
    }
out:
    path_pop(c->loc, &c->loc_len, m);
    return c->failed ? NULL : out;
}

static int named_cmp(const void *a, const void *b)
{
    const named_t *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return memcmp(x->name, y->name, x->len);
}

static named_t *sub_map(cctx_t *c, json_t *v, const char *kw, size_t *n, const char *base,
                        int depth)
{
    size_t m = loc_push(c, kw);
    named_t *out = NULL;
    if (!json_is_object(v)) {
        cfail(c, "%s must be an object of schemas", kw);
        goto out;
    }
    out = az(&c->s->arena, json_object_size(v) * sizeof *out);
    const char *k;
    size_t kl;
    json_t *s;
    *n = 0;
    json_object_keylen_foreach(v, k, kl, s)
    {
        size_t m2 = path_push(c->loc, sizeof c->loc, &c->loc_len, k, kl);
        out[*n] = (named_t){k, kl, compile_node(c, s, base, depth + 1)};
        path_pop(c->loc, &c->loc_len, m2);
        if (c->failed) break;
        (*n)++;
    }
    qsort(out, *n, sizeof *out, named_cmp);
out:
    path_pop(c->loc, &c->loc_len, m);
    return c->failed ? NULL : out;
}

static pcre2_code *compile_regex(cctx_t *c, const char *re, size_t n)
{
    int ec;
    PCRE2_SIZE off;
    /* ECMA-262 flavour where PCRE2 can give it: $ only at the very end, \uXXXX escapes; no
     * PCRE2_UCP, so \d \w \b stay ASCII as in ECMA-262 (ECMA \s is wider: see the doc). */
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)re, n,
                      PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX | PCRE2_NEVER_BACKSLASH_C,
                      &ec, &off, NULL);
    if (!code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        cfail(c, "invalid regular expression: %s at offset %zu", (char *)msg, (size_t)off);
        return NULL;
    }
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* the interpreter is the fallback */
    sy_jschema_t *s = c->s;
    s->codes = sy_xrealloc(s->codes, (s->ncodes + 1) * sizeof *s->codes);
    s->codes[s->ncodes++] = code;
    return code;
}

static bool string_array(const json_t *v)
{
    if (!json_is_array(v)) return false;
    for (size_t i = 0; i < json_array_size(v); i++)
        if (!json_is_string(json_array_get(v, i))) return false;
    return true;
}

static bool compile_type(cctx_t *c, jnode_t *n, json_t *v)
{
    size_t m = loc_push(c, "type");
    size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
    n->has_type = true;
    for (size_t i = 0; i < cnt; i++) {
        json_t *t = json_is_array(v) ? json_array_get(v, i) : v;
        size_t k = 0;
        for (; json_is_string(t) && k < 7; k++)
            if (!strcmp(json_string_value(t), type_names[k])) break;
        if (!json_is_string(t) || k == 7) {
            cfail(c, "type must be one of null, boolean, object, array, number, string, integer "
                     "(or an array of them)");
            break;
        }
        n->types |= 1u << k;
    }
    path_pop(c->loc, &c->loc_len, m);
    return !c->failed;
}

static void add_pending(cctx_t *c, jnode_t *n, const char *uri)
{
    c->pend = grow(c->pend, &c->cappend, c->npend + 1, sizeof *c->pend);
    c->pend[c->npend++] = (pending_t){n, uri, sy_arena_strndup(&c->tmp, c->loc, c->loc_len)};
}

static void compile_object_kws(cctx_t *c, jnode_t *n, json_t *j, const char *base, int depth)
{
    json_t *v;
    if ((v = json_object_get(j, "properties")))
        n->props = sub_map(c, v, "properties", &n->nprops, base, depth);
    if (!c->failed && (v = json_object_get(j, "patternProperties"))) {
        size_t m = loc_push(c, "patternProperties");
        if (!json_is_object(v)) {
            cfail(c, "patternProperties must be an object of schemas");
        } else {
            n->pats = az(&c->s->arena, json_object_size(v) * sizeof *n->pats);
            const char *k;
            size_t kl;
            json_t *s;
            json_object_keylen_foreach(v, k, kl, s)
            {
                size_t m2 = path_push(c->loc, sizeof c->loc, &c->loc_len, k, kl);
                pat_t p = {compile_regex(c, k, kl), NULL};
                if (p.re) p.s = compile_node(c, s, base, depth + 1);
                path_pop(c->loc, &c->loc_len, m2);
                if (c->failed) break;
                n->pats[n->npats++] = p;
            }
        }
        path_pop(c->loc, &c->loc_len, m);
    }
    if (!c->failed && (v = json_object_get(j, "additionalProperties")))
        n->additional = sub(c, v, "additionalProperties", base, depth);
    if (!c->failed && (v = json_object_get(j, "propertyNames")))
        n->prop_names = sub(c, v, "propertyNames", base, depth);
    if (!c->failed && (v = json_object_get(j, "unevaluatedProperties")))
        n->uneval_props = sub(c, v, "unevaluatedProperties", base, depth);
    if (!c->failed && (v = json_object_get(j, "required"))) {
        if (!string_array(v)) {
            size_t m = loc_push(c, "required");
            cfail(c, "required must be an array of strings");
            path_pop(c->loc, &c->loc_len, m);
        }
        n->required = v;
    }
    if (!c->failed) get_count(c, j, "minProperties", &n->min_props);
    if (!c->failed) get_count(c, j, "maxProperties", &n->max_props);
    /* dependentRequired / dependentSchemas (2020-12) and dependencies (draft-07, both forms) */
    json_t *dr = json_object_get(j, "dependentRequired"),
           *ds = json_object_get(j, "dependentSchemas"), *dp = json_object_get(j, "dependencies");
    size_t maxd = json_object_size(dr) + json_object_size(ds) + json_object_size(dp);
    if (!c->failed && maxd) {
        n->dreq = az(&c->s->arena, maxd * sizeof *n->dreq);
        n->dsch = az(&c->s->arena, maxd * sizeof *n->dsch);
    }
    const char *dkw[] = {"dependentRequired", "dependentSchemas", "dependencies"};
    json_t *dv[] = {dr, ds, dp};
    for (int d = 0; d < 3 && !c->failed; d++) {
        if (!dv[d]) continue;
        size_t m = loc_push(c, dkw[d]);
        if (!json_is_object(dv[d])) {
            cfail(c, "%s must be an object", dkw[d]);
        } else {
            const char *k;
            size_t kl;
            json_t *s;
            json_object_keylen_foreach(dv[d], k, kl, s)
            {
                size_t m2 = path_push(c->loc, sizeof c->loc, &c->loc_len, k, kl);
                if (d != 1 && json_is_array(s)) {
                    if (!string_array(s)) cfail(c, "must be an array of strings");
                    n->dreq[n->ndreq++] = (dreq_t){k, kl, s};
                } else if (d == 0) {
                    cfail(c, "must be an array of strings");
                } else {
                    jnode_t *sn = compile_node(c, s, base, depth + 1);
                    n->dsch[n->ndsch++] = (named_t){k, kl, sn};
                }
                path_pop(c->loc, &c->loc_len, m2);
                if (c->failed) break;
            }
        }
        path_pop(c->loc, &c->loc_len, m);
    }
}

static void compile_array_kws(cctx_t *c, jnode_t *n, json_t *j, const char *base, int depth)
{
    json_t *items = json_object_get(j, "items"), *prefix = json_object_get(j, "prefixItems"), *v;
    if (prefix) {
        n->prefix = sub_array(c, prefix, "prefixItems", &n->nprefix, base, depth, false);
        if (!c->failed && json_is_array(items)) {
            size_t m = loc_push(c, "items");
            cfail(c, "items must be a schema when prefixItems is present");
            path_pop(c->loc, &c->loc_len, m);
        }
        if (!c->failed && items) n->items = sub(c, items, "items", base, depth);
    } else if (json_is_array(items)) {
        /* draft-07 tuple form (accepted under 2020-12 too): additionalItems is the rest */
        n->prefix = sub_array(c, items, "items", &n->nprefix, base, depth, false);
        if (!c->failed && (v = json_object_get(j, "additionalItems")))
            n->items = sub(c, v, "additionalItems", base, depth);
    } else if (items) {
        n->items = sub(c, items, "items", base, depth);
    }
    if (!c->failed && json_object_get(j, "additionalItems"))
        (void)sub(c, json_object_get(j, "additionalItems"), "additionalItems", base, depth);
    if (!c->failed && (v = json_object_get(j, "contains")))
        n->contains = sub(c, v, "contains", base, depth);
    if (!c->failed) get_count(c, j, "minContains", &n->min_contains);
    if (!c->failed) get_count(c, j, "maxContains", &n->max_contains);
    if (!c->failed) get_count(c, j, "minItems", &n->min_items);
    if (!c->failed) get_count(c, j, "maxItems", &n->max_items);
    if (!c->failed && (v = json_object_get(j, "uniqueItems"))) {
        if (!json_is_boolean(v)) {
            size_t m = loc_push(c, "uniqueItems");
            cfail(c, "uniqueItems must be a boolean");
            path_pop(c->loc, &c->loc_len, m);
        }
        n->unique = json_is_true(v);
    }
    if (!c->failed && (v = json_object_get(j, "unevaluatedItems")))
        n->uneval_items = sub(c, v, "unevaluatedItems", base, depth);
}

static jnode_t *compile_node(cctx_t *c, json_t *j, const char *base, int depth)
{
    if (c->failed) return NULL;
    jnode_t *n = cache_get(c, j);
    if (n) return n;
    if (depth > MAX_SCHEMA_DEPTH)
        return cfail(c, "schema nested more than %d levels", MAX_SCHEMA_DEPTH);
    if (!json_is_object(j) && !json_is_boolean(j))
        return cfail(c, "a schema must be an object or a boolean");
    n = az(&c->s->arena, sizeof *n);
    n->loc = sy_arena_strndup(&c->s->arena, c->loc, c->loc_len);
    n->boolean = json_is_object(j) ? -1 : json_is_true(j);
    n->min_len = n->max_len = n->min_items = n->max_items = n->min_props = n->max_props = -1;
    n->min_contains = n->max_contains = -1;
    cache_put(c, j, n);
    c->nodes = grow(c->nodes, &c->capnodes, c->nnodes + 1, sizeof *c->nodes);
    c->nodes[c->nnodes++] = n;
    if (n->boolean >= 0) return n;

    base = scope_base(c, j, base);
    json_t *v;
    if ((v = json_object_get(j, "$ref"))) {
        size_t m = loc_push(c, "$ref");
        if (!json_is_string(v))
            cfail(c, "$ref must be a string");
        else
            add_pending(c, n, uri_resolve(&c->tmp, base, json_string_value(v)));
        path_pop(c->loc, &c->loc_len, m);
        if (c->draft == 7) {
            n->ref_only = true;
            return c->failed ? NULL : n;
        }
    }
    static const char *const unsupported[] = {"$dynamicRef", "$recursiveRef"};
    for (size_t i = 0; i < 2; i++)
        if (json_object_get(j, unsupported[i]))
            return cfail(c, "%s is not supported (use $ref)", unsupported[i]);
    if ((v = json_object_get(j, "type")) && !compile_type(c, n, v)) return NULL;
    if ((v = json_object_get(j, "enum"))) {
        if (!json_is_array(v)) return cfail(c, "enum must be an array");
        n->enum_v = v;
    }
    if ((v = json_object_get(j, "const"))) {
        n->has_const = true;
        n->const_v = v;
    }
    n->minimum = get_number(c, j, "minimum");
    n->maximum = get_number(c, j, "maximum");
    n->xminimum = get_number(c, j, "exclusiveMinimum");
    n->xmaximum = get_number(c, j, "exclusiveMaximum");
    n->multiple_of = get_number(c, j, "multipleOf");
    if (c->failed) return NULL;
    if (n->multiple_of && !(json_number_value(n->multiple_of) > 0))
        return cfail(c, "multipleOf must be greater than 0");
    if (!get_count(c, j, "minLength", &n->min_len) || !get_count(c, j, "maxLength", &n->max_len))
        return NULL;
    if ((v = json_object_get(j, "pattern"))) {
        size_t m = loc_push(c, "pattern");
        if (!json_is_string(v))
            cfail(c, "pattern must be a string");
        else
            n->pattern = compile_regex(c, json_string_value(v), json_string_length(v));
        path_pop(c->loc, &c->loc_len, m);
        if (c->failed) return NULL;
    }
    compile_array_kws(c, n, j, base, depth);
    if (!c->failed) compile_object_kws(c, n, j, base, depth);
    if (!c->failed && (v = json_object_get(j, "allOf")))
        n->all_of = sub_array(c, v, "allOf", &n->nall, base, depth, true);
    if (!c->failed && (v = json_object_get(j, "anyOf")))
        n->any_of = sub_array(c, v, "anyOf", &n->nany, base, depth, true);
    if (!c->failed && (v = json_object_get(j, "oneOf")))
        n->one_of = sub_array(c, v, "oneOf", &n->none, base, depth, true);
    if (!c->failed && (v = json_object_get(j, "not"))) n->not_ = sub(c, v, "not", base, depth);
    if (!c->failed && (v = json_object_get(j, "if"))) {
        n->if_ = sub(c, v, "if", base, depth);
        if (!c->failed && (v = json_object_get(j, "then")))
            n->then_ = sub(c, v, "then", base, depth);
        if (!c->failed && (v = json_object_get(j, "else")))
            n->else_ = sub(c, v, "else", base, depth);
    }
    /* definitions are checked too, and become the nodes $refs point to */
    static const char *const defs[] = {"$defs", "definitions"};
    for (size_t i = 0; i < 2 && !c->failed; i++) {
        size_t cnt = 0;
        if ((v = json_object_get(j, defs[i]))) (void)sub_map(c, v, defs[i], &cnt, base, depth);
    }
    return c->failed ? NULL : n;
}

/* ---------------------------------------------------------------- $ref resolution */

static bool pct_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p != '%') {
            *o++ = *p;
            continue;
        }
        if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2])) return false;
        char h[3] = {p[1], p[2], 0};
        *o++ = (char)strtol(h, NULL, 16);
        p += 2;
    }
    *o = '\0';
    return true;
}

static void resolve_refs(cctx_t *c)
{
    for (size_t i = 0; i < c->npend && !c->failed; i++) {
        pending_t p = c->pend[i];
        memcpy(c->loc, p.loc, strlen(p.loc) + 1);
        c->loc_len = strlen(p.loc);
        const char *h = strchr(p.uri, '#');
        char *res_uri = uri_strip(&c->tmp, p.uri);
        char *frag = sy_arena_strndup(&c->tmp, h ? h + 1 : "", h ? strlen(h + 1) : 0);
        const reg_t *r = reg_find(c->res, c->nres, res_uri);
        if (!r) {
            cfail(c,
                  "remote or unknown $ref \"%.200s\" is not supported (only references "
                  "within the schema)",
                  p.uri);
            return;
        }
        json_t *t = r->j;
        const char *base = r->outer_base;
        if (!pct_decode(frag)) {
            cfail(c, "bad %%-escape in $ref \"%.200s\"", p.uri);
            return;
        }
        if (frag[0] == '/') {
            char *tok = frag + 1;
            for (;;) {
                char *end = strchr(tok, '/');
                if (end) *end = '\0';
                /* RFC 6901: ~1 then ~0 */
                char *o = tok;
                for (char *q = tok; *q; q++) {
                    if (*q == '~' && (q[1] == '0' || q[1] == '1')) {
                        *o++ = q[1] == '0' ? '~' : '/';
                        q++;
                    } else {
                        *o++ = *q;
                    }
                }
                *o = '\0';
                base = scope_base(c, t, base);
                json_t *next = NULL;
                if (json_is_object(t)) {
                    next = json_object_get(t, tok);
                } else if (json_is_array(t)) {
                    char *e;
                    unsigned long idx = strtoul(tok, &e, 10);
                    if (*tok && !*e && isdigit((unsigned char)*tok)) next = json_array_get(t, idx);
                }
                if (!next) {
                    cfail(c, "$ref \"%.200s\" points to nothing", p.uri);
                    return;
                }
                t = next;
                if (!end) break;
                tok = end + 1;
            }
        } else if (frag[0]) {
            size_t n = strlen(res_uri) + strlen(frag) + 2;
            char *a = sy_arena_alloc(&c->tmp, n);
            snprintf(a, n, "%s#%s", res_uri, frag);
            const reg_t *an = reg_find(c->anchors, c->nanchors, a);
            if (!an) {
                cfail(c, "$ref \"%.200s\": no such anchor", p.uri);
                return;
            }
            t = an->j;
            base = an->outer_base;
        }
        jnode_t *target = cache_get(c, t);
        if (!target) {
            /* not at a keyword position (e.g. "#/x/y"): compiled here, located by the ref */
            size_t n = strlen(frag);
            memcpy(c->loc, frag, n + 1 < sizeof c->loc ? n + 1 : sizeof c->loc - 1);
            c->loc[sizeof c->loc - 1] = '\0';
            c->loc_len = strlen(c->loc);
            target = compile_node(c, t, base, 0);
        }
        p.n->ref = target;
    }
}

/* A cycle through "same instance" edges recurses forever: refused at compile time. */
static jnode_t *edge(const jnode_t *n, size_t i)
{
    jnode_t *fixed[5] = {n->ref, n->not_, n->if_, n->then_, n->else_};
    if (i < 5) return fixed[i];
    i -= 5;
    if (n->ref_only) return NULL;
    if (i < n->nall) return n->all_of[i];
    i -= n->nall;
    if (i < n->nany) return n->any_of[i];
    i -= n->nany;
    if (i < n->none) return n->one_of[i];
    i -= n->none;
    if (i < n->ndsch) return n->dsch[i].s;
    return NULL;
}

static size_t nedges(const jnode_t *n)
{
    return n->ref_only ? 5 : 5 + n->nall + n->nany + n->none + n->ndsch;
}

static bool find_cycle(cctx_t *c)
{
    typedef struct {
        jnode_t *n;
        size_t i;
    } frame_t;
    frame_t *st = sy_xmalloc((c->nnodes + 1) * sizeof *st);
    bool found = false;
    for (size_t k = 0; k < c->nnodes && !found; k++) {
        if (c->nodes[k]->mark) continue;
        size_t sp = 0;
        st[sp++] = (frame_t){c->nodes[k], 0};
        c->nodes[k]->mark = 1;
        while (sp && !found) {
            frame_t *f = &st[sp - 1];
            if (f->i >= nedges(f->n)) {
                f->n->mark = 2;
                sp--;
                continue;
            }
            jnode_t *e = edge(f->n, f->i++);
            if (!e || e->mark == 2) continue;
            if (e->mark == 1) {
                snprintf(c->err, c->err_len,
                         "at %s: $ref cycle without progress (the schema would recurse forever "
                         "on the same value)",
                         e->loc[0] ? e->loc : "/");
                found = true;
                break;
            }
            e->mark = 1;
            st[sp++] = (frame_t){e, 0};
        }
    }
    free(st);
    return found;
}

static int draft_of(const json_t *schema, sy_jschema_draft_t want, char *err, size_t err_len)
{
    const json_t *v = json_is_object(schema) ? json_object_get(schema, "$schema") : NULL;
    if (!v) return want == SY_JSCHEMA_DRAFT_07 ? 7 : 2020;
    const char *s = json_string_value(v);
    if (!s) {
        snprintf(err, err_len, "at /$schema: must be a string");
        return 0;
    }
    if (strstr(s, "json-schema.org/")) {
        if (strstr(s, "/draft-07/") || strstr(s, "/draft-06/")) return 7;
        if (strstr(s, "/draft/2020-12/") || strstr(s, "/draft/2019-09/")) return 2020;
    }
    snprintf(err, err_len,
             "at /$schema: unsupported \"%.150s\" (supported: draft 2020-12, 2019-09, draft-07, "
             "draft-06)",
             s);
    return 0;
}

sy_jschema_t *sy_jschema_compile_draft(const json_t *schema, sy_jschema_draft_t want, char *err,
                                       size_t err_len)
{
    int draft = draft_of(schema, want, err, err_len);
    if (!draft) return NULL;
    sy_jschema_t *s = sy_xcalloc(1, sizeof *s);
    sy_arena_init(&s->arena);
    s->doc = json_deep_copy(schema);
    if (!s->doc) {
        snprintf(err, err_len, "at /: not a JSON value");
        sy_jschema_free(s);
        return NULL;
    }
    cctx_t c = {.s = s, .draft = draft, .err = err, .err_len = err_len};
    sy_arena_init(&c.tmp);
    const char *root_base = scope_base(&c, s->doc, "");
    if (!strcmp(root_base, "") || !json_is_object(s->doc)) reg_add(&c, false, "", s->doc, "");
    prewalk(&c, s->doc, "", 0);
    s->root = compile_node(&c, s->doc, "", 0);
    if (!c.failed) resolve_refs(&c);
    bool bad = c.failed || find_cycle(&c);
    free(c.res);
    free(c.anchors);
    free(c.pend);
    free(c.hkeys);
    free(c.hvals);
    free(c.nodes);
    sy_arena_dispose(&c.tmp);
    if (bad) {
        sy_jschema_free(s);
        return NULL;
    }
    s->mctx = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(s->mctx, MATCH_LIMIT);
    return s;
}

sy_jschema_t *sy_jschema_compile(const json_t *schema, char *err, size_t err_len)
{
    return sy_jschema_compile_draft(schema, SY_JSCHEMA_DRAFT_AUTO, err, err_len);
}

void sy_jschema_free(sy_jschema_t *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->ncodes; i++)
        pcre2_code_free(s->codes[i]);
    free(s->codes);
    pcre2_match_context_free(s->mctx);
    json_decref(s->doc);
    sy_arena_dispose(&s->arena);
    free(s);
}

/* ---------------------------------------------------------------- validation */

typedef struct {
    unsigned char *bits; /* one per member/item of the instance, in iteration order */
    size_t n;
} annot_t;

typedef struct {
    const sy_jschema_t *s;
    sy_jschema_error_t *errs;
    size_t max, count;
    int quiet, depth;
    pcre2_match_data *md;
    char path[1024];
    size_t plen;
} vctx_t;

static void verr(vctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void verr(vctx_t *c, const char *fmt, ...)
{
    if (c->quiet) return;
    if (c->count < c->max) {
        sy_jschema_error_t *e = &c->errs[c->count];
        if (c->plen < sizeof e->path) {
            memcpy(e->path, c->path, c->plen + 1);
        } else {
            memcpy(e->path, c->path, sizeof e->path - 4);
            memcpy(e->path + sizeof e->path - 4, "...", 4);
        }
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof e->message, fmt, ap);
        va_end(ap);
    }
    c->count++;
}

static size_t vpush(vctx_t *c, const char *seg, size_t n)
{
    return path_push(c->path, sizeof c->path, &c->plen, seg, n);
}

static size_t vpush_idx(vctx_t *c, size_t i)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%zu", i);
    return vpush(c, b, (size_t)n);
}

static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    /* long double holds every int64 and double exactly on x86-64 */
    long double x = json_is_integer(a) ? (long double)json_integer_value(a) : json_real_value(a);
    long double y = json_is_integer(b) ? (long double)json_integer_value(b) : json_real_value(b);
    return (x > y) - (x < y);
}

static bool jeq(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) return num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b)) return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               !memcmp(json_string_value(a), json_string_value(b), json_string_length(a));
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b)) return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!jeq(json_array_get(a, i), json_array_get(b, i))) return false;
        return true;
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b)) return false;
        const char *k;
        size_t kl;
        json_t *v;
        json_object_keylen_foreach((json_t *)a, k, kl, v)
        {
            json_t *w = json_object_getn(b, k, kl);
            if (!w || !jeq(v, w)) return false;
        }
        return true;
    }
    default:
        return true;
    }
}

static bool is_integral(const json_t *j)
{
    if (json_is_integer(j)) return true;
    double d = json_real_value(j);
    return json_is_real(j) && isfinite(d) && d == floor(d);
}

static bool is_multiple(const json_t *x, const json_t *m)
{
    if (json_is_integer(x) && json_is_integer(m)) {
        json_int_t mv = json_integer_value(m);
        return mv == 1 || json_integer_value(x) % mv == 0;
    }
    double xv = json_number_value(x), mv = json_number_value(m);
    if (is_integral(x) && is_integral(m) && fabs(xv) < 9e18 && fabs(mv) < 9e18)
        return (long long)xv % (long long)mv == 0;
    double q = xv / mv;
    if (!isfinite(q)) return false;
    /* the quotient of two decimals carries rounding error of a few ulps */
    return fabs(q - nearbyint(q)) <= 8 * DBL_EPSILON * fmax(1.0, fabs(q));
}

/* A hash consistent with jeq: numbers by value (1 and 1.0 alike), objects order-free. */
static uint64_t jhash(const json_t *j)
{
    uint64_t h = 1469598103934665603ull;
#define MIX(x) (h = (h ^ (uint64_t)(x)) * 1099511628211ull)
    switch (json_typeof(j)) {
    case JSON_STRING:
        MIX('s');
        for (size_t i = 0; i < json_string_length(j); i++)
            MIX((unsigned char)json_string_value(j)[i]);
        break;
    case JSON_INTEGER:
    case JSON_REAL: {
        double d = json_number_value(j);
        MIX('n');
        if (json_is_integer(j)) {
            MIX((uint64_t)json_integer_value(j));
        } else if (is_integral(j) && fabs(d) < 9e18) {
            MIX((uint64_t)(long long)d);
        } else {
            uint64_t bits;
            memcpy(&bits, &d, sizeof bits);
            MIX(bits);
        }
        break;
    }
    case JSON_ARRAY:
        MIX('a');
        for (size_t i = 0; i < json_array_size(j); i++)
            MIX(jhash(json_array_get(j, i)));
        break;
    case JSON_OBJECT: {
        uint64_t sum = 0;
        const char *k;
        size_t kl;
        json_t *v;
        json_object_keylen_foreach((json_t *)j, k, kl, v)
        {
            uint64_t kh = 1469598103934665603ull;
            for (size_t i = 0; i < kl; i++)
                kh = (kh ^ (unsigned char)k[i]) * 1099511628211ull;
            sum += (kh ^ jhash(v)) * 0x9E3779B97F4A7C15ull;
        }
        MIX('o');
        MIX(sum);
        break;
    }
    default:
        MIX(json_typeof(j));
    }
#undef MIX
    return h;
}

typedef struct {
    uint64_t h;
    size_t i;
} hidx_t;

static int hidx_cmp(const void *a, const void *b)
{
    const hidx_t *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* uniqueItems in O(n log n): sort by hash, compare only within equal-hash runs. Reports the
 * pair with the smallest second index among those found. */
static bool find_duplicate(const json_t *arr, size_t *a_out, size_t *b_out)
{
    size_t n = json_array_size(arr);
    hidx_t *v = sy_xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (hidx_t){jhash(json_array_get(arr, i)), i};
    qsort(v, n, sizeof *v, hidx_cmp);
    bool found = false;
    for (size_t s = 0; s < n;) {
        size_t e = s + 1;
        while (e < n && v[e].h == v[s].h)
            e++;
        for (size_t x = s; x < e; x++)
            for (size_t y = x + 1; y < e; y++)
                if ((!found || v[y].i < *b_out) &&
                    jeq(json_array_get(arr, v[x].i), json_array_get(arr, v[y].i))) {
                    found = true;
                    *a_out = v[x].i;
                    *b_out = v[y].i;
                }
        s = e;
    }
    free(v);
    return found;
}

static unsigned type_bit(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_NULL:
        return T_NULL;
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOLEAN;
    case JSON_OBJECT:
        return T_OBJECT;
    case JSON_ARRAY:
        return T_ARRAY;
    case JSON_STRING:
        return T_STRING;
    default:
        return is_integral(j) ? T_NUMBER | T_INTEGER : T_NUMBER;
    }
}

static const char *type_name(const json_t *j)
{
    unsigned b = type_bit(j);
    if (b & T_INTEGER) return "integer";
    for (int k = 0; k < 7; k++)
        if (b == 1u << k) return type_names[k];
    return "?";
}

static void annot_init(annot_t *a, const json_t *j)
{
    a->n = json_is_object(j) ? json_object_size(j) : json_array_size(j);
    a->bits = sy_xcalloc(a->n ? a->n : 1, 1);
}

static void annot_mark(annot_t *a, size_t i)
{
    if (a && i < a->n) a->bits[i] = 1;
}

static int re_match(vctx_t *c, const pcre2_code *re, const char *s, size_t n)
{
    if (!c->md) c->md = pcre2_match_data_create(1, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, c->md, c->s->mctx);
    if (rc >= 0) return 1;
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    return -1;
}

static const named_t *find_named(const named_t *v, size_t n, const char *k, size_t kl)
{
    size_t lo = 0, hi = n;
    named_t key = {k, kl, NULL};
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = named_cmp(&key, &v[mid]);
        if (!r) return &v[mid];
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static bool v_node(vctx_t *c, const jnode_t *n, const json_t *j, annot_t *out);

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            ok = false;                                                                            \
            if (c->quiet) goto done;                                                               \
        }                                                                                          \
    } while (0)

static bool v_string(vctx_t *c, const jnode_t *n, const json_t *j)
{
    bool ok = true;
    const char *s = json_string_value(j);
    size_t len = json_string_length(j);
    if (n->min_len >= 0 || n->max_len >= 0) {
        size_t cp = 0; /* code points: jansson strings are valid UTF-8 */
        for (size_t i = 0; i < len; i++)
            cp += ((unsigned char)s[i] & 0xC0) != 0x80;
        if (n->min_len >= 0 && cp < (size_t)n->min_len) {
            verr(c, "string is shorter than %lld characters", n->min_len);
            CHECK(false);
        }
        if (n->max_len >= 0 && cp > (size_t)n->max_len) {
            verr(c, "string is longer than %lld characters", n->max_len);
            CHECK(false);
        }
    }
    if (n->pattern) {
        int r = re_match(c, n->pattern, s, len);
        if (r <= 0) {
            verr(c, r < 0 ? "pattern matching gave up (too complex)"
                          : "string does not match the pattern");
            CHECK(false);
        }
    }
done:
    return ok;
}

static bool v_number(vctx_t *c, const jnode_t *n, const json_t *j)
{
    bool ok = true;
    if (n->minimum && num_cmp(j, n->minimum) < 0) {
        verr(c, "value is less than the minimum %g", json_number_value(n->minimum));
        CHECK(false);
    }
    if (n->maximum && num_cmp(j, n->maximum) > 0) {
        verr(c, "value is greater than the maximum %g", json_number_value(n->maximum));
        CHECK(false);
    }
    if (n->xminimum && num_cmp(j, n->xminimum) <= 0) {
        verr(c, "value must be greater than %g", json_number_value(n->xminimum));
        CHECK(false);
    }
    if (n->xmaximum && num_cmp(j, n->xmaximum) >= 0) {
        verr(c, "value must be less than %g", json_number_value(n->xmaximum));
        CHECK(false);
    }
    if (n->multiple_of && !is_multiple(j, n->multiple_of)) {
        verr(c, "value is not a multiple of %g", json_number_value(n->multiple_of));
        CHECK(false);
    }
done:
    return ok;
}

static bool v_array(vctx_t *c, const jnode_t *n, const json_t *j, annot_t *a)
{
    bool ok = true;
    size_t len = json_array_size(j);
    if (n->min_items >= 0 && len < (size_t)n->min_items) {
        verr(c, "array has fewer than %lld items", n->min_items);
        CHECK(false);
    }
    if (n->max_items >= 0 && len > (size_t)n->max_items) {
        verr(c, "array has more than %lld items", n->max_items);
        CHECK(false);
    }
    if (n->unique && len > 1) {
        size_t a_i, b_i;
        if (find_duplicate(j, &a_i, &b_i)) {
            verr(c, "items %zu and %zu are equal (uniqueItems)", a_i, b_i);
            CHECK(false);
        }
    }
    for (size_t i = 0; i < len; i++) {
        const jnode_t *s = i < n->nprefix ? n->prefix[i] : n->items;
        if (!s) break;
        size_t m = vpush_idx(c, i);
        bool r = v_node(c, s, json_array_get(j, i), NULL);
        path_pop(c->path, &c->plen, m);
        annot_mark(a, i);
        CHECK(r);
    }
    if (n->contains) {
        size_t found = 0;
        c->quiet++;
        for (size_t i = 0; i < len; i++)
            if (v_node(c, n->contains, json_array_get(j, i), NULL)) {
                found++;
                annot_mark(a, i);
            }
        c->quiet--;
        long long lo = n->min_contains >= 0 ? n->min_contains : 1;
        if (found < (size_t)lo) {
            verr(c, "array has %zu items matching \"contains\", needs at least %lld", found, lo);
            CHECK(false);
        }
        if (n->max_contains >= 0 && found > (size_t)n->max_contains) {
            verr(c, "array has %zu items matching \"contains\", allows at most %lld", found,
                 n->max_contains);
            CHECK(false);
        }
    }
done:
    return ok;
}

static bool v_object(vctx_t *c, const jnode_t *n, const json_t *j, annot_t *a)
{
    bool ok = true;
    size_t size = json_object_size(j);
    if (n->min_props >= 0 && size < (size_t)n->min_props) {
        verr(c, "object has fewer than %lld properties", n->min_props);
        CHECK(false);
    }
    if (n->max_props >= 0 && size > (size_t)n->max_props) {
        verr(c, "object has more than %lld properties", n->max_props);
        CHECK(false);
    }
    for (size_t i = 0; n->required && i < json_array_size(n->required); i++) {
        const json_t *r = json_array_get(n->required, i);
        if (!json_object_getn(j, json_string_value(r), json_string_length(r))) {
            verr(c, "missing required property \"%.100s\"", json_string_value(r));
            CHECK(false);
        }
    }
    for (size_t d = 0; d < n->ndreq; d++) {
        if (!json_object_getn(j, n->dreq[d].name, n->dreq[d].len)) continue;
        const json_t *req = n->dreq[d].req;
        for (size_t i = 0; i < json_array_size(req); i++) {
            const json_t *r = json_array_get(req, i);
            if (!json_object_getn(j, json_string_value(r), json_string_length(r))) {
                verr(c, "property \"%.80s\" is required when \"%.80s\" is present",
                     json_string_value(r), n->dreq[d].name);
                CHECK(false);
            }
        }
    }
    bool per_key = n->nprops || n->npats || n->additional || n->prop_names;
    const char *k;
    size_t kl, idx = 0;
    json_t *v;
    if (per_key) {
        json_object_keylen_foreach((json_t *)j, k, kl, v)
        {
            size_t m = vpush(c, k, kl), i = idx++;
            bool matched = false, kok = true;
            const named_t *p = find_named(n->props, n->nprops, k, kl);
            if (p) {
                matched = true;
                annot_mark(a, i);
                kok &= v_node(c, p->s, v, NULL);
            }
            for (size_t q = 0; q < n->npats && (kok || !c->quiet); q++) {
                int r = re_match(c, n->pats[q].re, k, kl);
                if (r < 0) {
                    verr(c, "patternProperties matching gave up (too complex)");
                    kok = false;
                }
                if (r <= 0) continue;
                matched = true;
                annot_mark(a, i);
                kok &= v_node(c, n->pats[q].s, v, NULL);
            }
            if (!matched && n->additional && (kok || !c->quiet)) {
                annot_mark(a, i);
                if (n->additional->boolean == 0) {
                    verr(c, "property is not allowed (additionalProperties)");
                    kok = false;
                } else {
                    kok &= v_node(c, n->additional, v, NULL);
                }
            }
            if (n->prop_names && (kok || !c->quiet)) {
                json_t *name = json_stringn_nocheck(k, kl);
                kok &= v_node(c, n->prop_names, name, NULL);
                json_decref(name);
            }
            path_pop(c->path, &c->plen, m);
            CHECK(kok);
        }
    }
done:
    return ok;
}

static bool v_unevaluated(vctx_t *c, const jnode_t *n, const json_t *j, annot_t *a)
{
    bool ok = true;
    if (n->uneval_props && json_is_object(j)) {
        const char *k;
        size_t kl, idx = 0;
        json_t *v;
        json_object_keylen_foreach((json_t *)j, k, kl, v)
        {
            size_t i = idx++;
            if (a->bits[i]) continue;
            size_t m = vpush(c, k, kl);
            bool r;
            if (n->uneval_props->boolean == 0) {
                verr(c, "property is not allowed (unevaluatedProperties)");
                r = false;
            } else {
                r = v_node(c, n->uneval_props, v, NULL);
            }
            path_pop(c->path, &c->plen, m);
            a->bits[i] = 1;
            CHECK(r);
        }
    }
    if (n->uneval_items && json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (a->bits[i]) continue;
            size_t m = vpush_idx(c, i);
            bool r;
            if (n->uneval_items->boolean == 0) {
                verr(c, "item is not allowed (unevaluatedItems)");
                r = false;
            } else {
                r = v_node(c, n->uneval_items, json_array_get(j, i), NULL);
            }
            path_pop(c->path, &c->plen, m);
            a->bits[i] = 1;
            CHECK(r);
        }
    }
done:
    return ok;
}

/* Runs sub-schema s on the same instance; its annotations join a when it passes. */
static bool v_inplace(vctx_t *c, const jnode_t *s, const json_t *j, annot_t *a, bool quiet)
{
    c->quiet += quiet;
    bool r = v_node(c, s, j, a);
    c->quiet -= quiet;
    return r;
}

static bool v_node(vctx_t *c, const jnode_t *n, const json_t *j, annot_t *out)
{
    if (n->boolean == 1) return true;
    if (n->boolean == 0) {
        verr(c, "no value is allowed here (false schema)");
        return false;
    }
    if (c->depth >= MAX_EVAL_DEPTH) {
        verr(c, "evaluation nested more than %d levels", MAX_EVAL_DEPTH);
        return false;
    }
    c->depth++;
    bool ok = true;
    annot_t own = {0}, *a = NULL;
    bool container = json_is_object(j) || json_is_array(j);
    if (container && (out || n->uneval_props || n->uneval_items)) {
        annot_init(&own, j);
        a = &own;
    }
    if (n->ref) CHECK(v_node(c, n->ref, j, a));
    if (n->ref_only) goto done;
    if (n->has_type && !(n->types & type_bit(j))) {
        char want[80] = "";
        for (int k = 0; k < 7; k++)
            if (n->types & (1u << k)) {
                if (want[0]) strcat(want, "|");
                strcat(want, type_names[k]);
            }
        verr(c, "expected %s, got %s", want[0] ? want : "no type at all", type_name(j));
        CHECK(false);
    }
    if (n->enum_v) {
        bool in = false;
        for (size_t i = 0; !in && i < json_array_size(n->enum_v); i++)
            in = jeq(j, json_array_get(n->enum_v, i));
        if (!in) verr(c, "value is not one of the enum values");
        CHECK(in);
    }
    if (n->has_const && !jeq(j, n->const_v)) {
        verr(c, "value does not equal the const value");
        CHECK(false);
    }
    switch (json_typeof(j)) {
    case JSON_STRING:
        CHECK(v_string(c, n, j));
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        CHECK(v_number(c, n, j));
        break;
    case JSON_ARRAY:
        CHECK(v_array(c, n, j, a));
        break;
    case JSON_OBJECT:
        CHECK(v_object(c, n, j, a));
        for (size_t d = 0; d < n->ndsch; d++)
            if (json_object_getn(j, n->dsch[d].name, n->dsch[d].len))
                CHECK(v_inplace(c, n->dsch[d].s, j, a, false));
        break;
    default:
        break;
    }
    for (size_t i = 0; i < n->nall; i++)
        CHECK(v_inplace(c, n->all_of[i], j, a, false));
    if (n->nany) {
        bool any = false;
        for (size_t i = 0; i < n->nany && (!any || a); i++)
            any |= v_inplace(c, n->any_of[i], j, a, true);
        if (!any) verr(c, "value matches none of the %zu anyOf schemas", n->nany);
        CHECK(any);
    }
    if (n->none) {
        size_t hits = 0, first = 0, second = 0;
        for (size_t i = 0; i < n->none && (hits < 2 || a); i++) {
            /* only one branch may pass, so annotations are taken from a scratch set first */
            annot_t tmp = {0};
            if (a) annot_init(&tmp, j);
            if (v_inplace(c, n->one_of[i], j, a ? &tmp : NULL, true)) {
                if (hits == 0)
                    first = i;
                else if (hits == 1)
                    second = i;
                hits++;
                if (a && hits == 1)
                    for (size_t b = 0; b < a->n; b++)
                        a->bits[b] |= tmp.bits[b];
            }
            free(tmp.bits);
        }
        if (hits == 0)
            verr(c, "value matches none of the %zu oneOf schemas", n->none);
        else if (hits > 1)
            verr(c, "value matches more than one oneOf schema (%zu and %zu)", first, second);
        CHECK(hits == 1);
    }
    if (n->not_ && v_inplace(c, n->not_, j, NULL, true)) {
        verr(c, "value must not match the \"not\" schema");
        CHECK(false);
    }
    if (n->if_) {
        if (v_inplace(c, n->if_, j, a, true)) {
            if (n->then_) CHECK(v_inplace(c, n->then_, j, a, false));
        } else if (n->else_) {
            CHECK(v_inplace(c, n->else_, j, a, false));
        }
    }
    if (a) CHECK(v_unevaluated(c, n, j, a));
done:
    if (a) {
        if (ok && out)
            for (size_t b = 0; b < a->n; b++)
                out->bits[b] |= a->bits[b];
        free(own.bits);
    }
    c->depth--;
    return ok;
}

size_t sy_jschema_validate(const sy_jschema_t *s, const json_t *instance, sy_jschema_error_t *errs,
                           size_t max)
{
    vctx_t c = {.s = s, .errs = errs, .max = errs ? max : 0};
    bool ok = v_node(&c, s->root, instance, NULL);
    if (!ok && c.count == 0) { /* cannot happen: every failure writes an error; be safe */
        if (c.max) snprintf(errs[0].message, sizeof errs[0].message, "value is not valid");
        if (c.max) errs[0].path[0] = '\0';
        c.count = 1;
    }
    pcre2_match_data_free(c.md);
    return ok ? 0 : c.count;
}
