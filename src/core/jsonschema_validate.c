/* JSON Schema validation: the walk over a compiled schema (see jsonschema.c's DESIGN block and
 * docs/internals/JSONSCHEMA.md). All state is in vctx_t on the caller's stack: a compiled
 * schema is shared read-only by any number of threads. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/jsonschema_int.h"

#define MAX_EVAL_DEPTH 1000
/* Per-validation budget: $ref DAGs (a schema node reached by many paths) and many regex
 * matches must not multiply into unbounded work. Past either cap, validation stops with the
 * single error "schema evaluation too expensive" at "". See docs/internals/JSONSCHEMA.md. */
#define MAX_EVAL_STEPS 1000000ull /* schema node visits */
#define MAX_RE_STEPS 10000000ull  /* PCRE2 match-limit steps, summed over the matches */
#define RE_FIRST_LIMIT 10000u     /* a match is tried with this limit first, then x4 */
#define RE_MATCH_LIMIT 1000000u   /* per match (the compiled schema's context says the same) */

typedef struct {
    unsigned char *bits; /* one per member/item of the instance, in iteration order */
    size_t n;
} annot_t;

typedef struct {
    const sy_jschema_t *s;
    sy_jschema_error_t *errs;
    size_t max, count;
    int quiet, depth;
    unsigned long long steps, re_steps;
    bool exhausted; /* a budget ran out: every further node fails at once */
    pcre2_match_data *md;
    pcre2_match_context *mctx; /* per-call copy: its limit follows the budget left */
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
    return sy_jschema_path_push(c->path, sizeof c->path, &c->plen, seg, n);
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
        if (b == 1u << k) return sy_jschema_type_names[k];
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

/* 1 match, 0 no match, -1 gave up (too complex for one match, or the budget ran out). PCRE2
 * does not report the steps a match used, so a match runs with a small limit first and again
 * with four times the limit each time it hits it; the limits of the attempts that hit theirs
 * are charged (a lower bound within 4x of the work done), plus 1 per match. */
static int re_match(vctx_t *c, const pcre2_code *re, const char *s, size_t n)
{
    if (c->exhausted) return -1;
    if (!c->md) c->md = pcre2_match_data_create(1, NULL);
    if (!c->mctx) c->mctx = pcre2_match_context_copy(c->s->mctx);
    if (!c->md || !c->mctx) return -1;
    for (uint32_t lim = RE_FIRST_LIMIT;;
         lim = lim * 4 > RE_MATCH_LIMIT ? RE_MATCH_LIMIT : lim * 4) {
        unsigned long long left = MAX_RE_STEPS - c->re_steps;
        uint32_t use = left < lim ? (uint32_t)left : lim;
        pcre2_set_match_limit(c->mctx, use);
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, c->md, c->mctx);
        if (rc != PCRE2_ERROR_MATCHLIMIT) {
            c->re_steps += c->re_steps < MAX_RE_STEPS;
            if (rc >= 0) return 1;
            return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
        }
        c->re_steps += use;
        if (c->re_steps >= MAX_RE_STEPS) {
            c->exhausted = true;
            return -1;
        }
        if (lim == RE_MATCH_LIMIT) return -1;
    }
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
        sy_jschema_path_pop(c->path, &c->plen, m);
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
            sy_jschema_path_pop(c->path, &c->plen, m);
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
            sy_jschema_path_pop(c->path, &c->plen, m);
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
            sy_jschema_path_pop(c->path, &c->plen, m);
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

/* Whether n's "type" (looked up through $refs) admits j; true when n says nothing. */
static bool accepts_type(const jnode_t *n, const json_t *j)
{
    for (int hops = 0; n && hops < 32; hops++) {
        if (n->boolean >= 0) return n->boolean == 1;
        if (n->has_type && !n->ref_only) return (n->types & type_bit(j)) != 0;
        n = n->ref;
    }
    return true;
}

/* No branch of anyOf/oneOf passed. When exactly one branch admits the value's type (the usual
 * {"anyOf": [{...object...}, {"type": "null"}]}), its own errors say more than "matches none":
 * it is run again, loudly. */
static void explain_none(vctx_t *c, jnode_t *const *br, size_t nb, const json_t *j, const char *kw)
{
    if (c->quiet) return;
    size_t cand = 0, which = 0;
    for (size_t i = 0; i < nb; i++)
        if (accepts_type(br[i], j)) {
            cand++;
            which = i;
        }
    if (cand == 1 && !v_node(c, br[which], j, NULL)) return;
    verr(c, "value matches none of the %zu %s schemas", nb, kw);
}

static bool v_node(vctx_t *c, const jnode_t *n, const json_t *j, annot_t *out)
{
    if (c->exhausted) return false;
    if (++c->steps > MAX_EVAL_STEPS) {
        c->exhausted = true;
        return false;
    }
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
                strcat(want, sy_jschema_type_names[k]);
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
        if (!any) explain_none(c, n->any_of, n->nany, j, "anyOf");
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
            explain_none(c, n->one_of, n->none, j, "oneOf");
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
    if (!instance) { /* e.g. a failed parse passed straight in */
        verr(&c, "no JSON value");
        return 1;
    }
    bool ok = v_node(&c, s->root, instance, NULL);
    if (c.exhausted) { /* whatever was found so far is partial: one clear error instead */
        c.count = 0;
        c.quiet = 0;
        c.plen = 0;
        c.path[0] = '\0';
        verr(&c, "schema evaluation too expensive");
        ok = false;
    }
    if (!ok && c.count == 0) { /* cannot happen: every failure writes an error; be safe */
        if (c.max) snprintf(errs[0].message, sizeof errs[0].message, "value is not valid");
        if (c.max) errs[0].path[0] = '\0';
        c.count = 1;
    }
    pcre2_match_data_free(c.md);
    pcre2_match_context_free(c.mctx);
    return ok ? 0 : c.count;
}
