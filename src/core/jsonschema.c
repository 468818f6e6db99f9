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
 * - Validate (jsonschema_validate.c): a recursive walk over nodes and instance. Errors in the
 *   branches of anyOf/oneOf/not/if are evaluated "quietly" (first failure returns) and the
 *   combinator reports one error. unevaluatedProperties/unevaluatedItems use per-evaluation bit
 * sets of the instance's member/item indexes, allocated only when some enclosing node needs them;
 *   each node evaluates into a fresh set and merges it into its caller's only when it passed,
 *   which is how annotations of failed branches are dropped. The evaluation depth is capped
 *   (MAX_EVAL_DEPTH) as a backstop for deep instances.
 * - The compiled schema is read-only after compile: validation state lives in vctx_t on the
 *   caller's stack, so one schema may be used by several threads at once. */
#include "core/jsonschema.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/jsonschema_int.h"
#include "core/uri.h"

#define MAX_SCHEMA_DEPTH 256
#define MATCH_LIMIT 1000000     /* PCRE2 backtracking steps per match: no catastrophic regex */
#define MAX_SCHEMA_NODES 10000  /* compiled schema objects/booleans */
#define MAX_SCHEMA_PATTERNS 256 /* pattern + patternProperties regexes */
#define MAX_SCHEMA_BYTES 65536  /* the schema as compact JSON */

/* ---------------------------------------------------------------- compile context */

const char *const sy_jschema_type_names[7] = {"null",   "boolean", "object", "array",
                                              "number", "string",  "integer"};

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

size_t sy_jschema_path_push(char *buf, size_t cap, size_t *len, const char *seg, size_t n)
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

void sy_jschema_path_pop(char *buf, size_t *len, size_t old)
{
    *len = old;
    buf[old] = '\0';
}

static size_t loc_push(cctx_t *c, const char *seg)
{
    return sy_jschema_path_push(c->loc, sizeof c->loc, &c->loc_len, seg, strlen(seg));
}

static size_t loc_push_idx(cctx_t *c, size_t i)
{
    char b[24];
    snprintf(b, sizeof b, "%zu", i);
    return loc_push(c, b);
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
    return uri_strip(&c->tmp, sy_uri_resolve(&c->tmp, base, s));
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
        char *full = sy_uri_resolve(&c->tmp, base, s);
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
        sy_jschema_path_pop(c->loc, &c->loc_len, m);
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
        sy_jschema_path_pop(c->loc, &c->loc_len, m);
    }
    return v;
}

static jnode_t *sub(cctx_t *c, json_t *j, const char *kw, const char *base, int depth)
{
    size_t m = loc_push(c, kw);
    jnode_t *n = compile_node(c, j, base, depth + 1);
    sy_jschema_path_pop(c->loc, &c->loc_len, m);
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
        sy_jschema_path_pop(c->loc, &c->loc_len, m2);
    }
out:
    sy_jschema_path_pop(c->loc, &c->loc_len, m);
    return c->failed ? NULL : out;
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
        size_t m2 = sy_jschema_path_push(c->loc, sizeof c->loc, &c->loc_len, k, kl);
        out[*n] = (named_t){k, kl, compile_node(c, s, base, depth + 1)};
        sy_jschema_path_pop(c->loc, &c->loc_len, m2);
        if (c->failed) break;
        (*n)++;
    }
    qsort(out, *n, sizeof *out, named_cmp);
out:
    sy_jschema_path_pop(c->loc, &c->loc_len, m);
    return c->failed ? NULL : out;
}

static pcre2_code *compile_regex(cctx_t *c, const char *re, size_t n)
{
    int ec;
    PCRE2_SIZE off;
    if (c->s->ncodes >= MAX_SCHEMA_PATTERNS) {
        cfail(c, "schema has more than %d regular expressions", MAX_SCHEMA_PATTERNS);
        return NULL;
    }
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
            if (!strcmp(json_string_value(t), sy_jschema_type_names[k])) break;
        if (!json_is_string(t) || k == 7) {
            cfail(c, "type must be one of null, boolean, object, array, number, string, integer "
                     "(or an array of them)");
            break;
        }
        n->types |= 1u << k;
    }
    sy_jschema_path_pop(c->loc, &c->loc_len, m);
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
                size_t m2 = sy_jschema_path_push(c->loc, sizeof c->loc, &c->loc_len, k, kl);
                pat_t p = {compile_regex(c, k, kl), NULL};
                if (p.re) p.s = compile_node(c, s, base, depth + 1);
                sy_jschema_path_pop(c->loc, &c->loc_len, m2);
                if (c->failed) break;
                n->pats[n->npats++] = p;
            }
        }
        sy_jschema_path_pop(c->loc, &c->loc_len, m);
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
            sy_jschema_path_pop(c->loc, &c->loc_len, m);
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
                size_t m2 = sy_jschema_path_push(c->loc, sizeof c->loc, &c->loc_len, k, kl);
                if (d != 1 && json_is_array(s)) {
                    if (!string_array(s)) cfail(c, "must be an array of strings");
                    n->dreq[n->ndreq++] = (dreq_t){k, kl, s};
                } else if (d == 0) {
                    cfail(c, "must be an array of strings");
                } else {
                    jnode_t *sn = compile_node(c, s, base, depth + 1);
                    n->dsch[n->ndsch++] = (named_t){k, kl, sn};
                }
                sy_jschema_path_pop(c->loc, &c->loc_len, m2);
                if (c->failed) break;
            }
        }
        sy_jschema_path_pop(c->loc, &c->loc_len, m);
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
            sy_jschema_path_pop(c->loc, &c->loc_len, m);
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
            sy_jschema_path_pop(c->loc, &c->loc_len, m);
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
    if (c->nnodes >= MAX_SCHEMA_NODES)
        return cfail(c, "schema has more than %d subschemas", MAX_SCHEMA_NODES);
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
            add_pending(c, n, sy_uri_resolve(&c->tmp, base, json_string_value(v)));
        sy_jschema_path_pop(c->loc, &c->loc_len, m);
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
        sy_jschema_path_pop(c->loc, &c->loc_len, m);
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
    size_t bytes = json_dumpb(schema, NULL, 0, JSON_COMPACT);
    if (bytes > MAX_SCHEMA_BYTES) {
        snprintf(err, err_len, "at /: schema is larger than %d bytes as compact JSON",
                 MAX_SCHEMA_BYTES);
        return NULL;
    }
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
