/* Fast path of the OpenAI -> Anthropic request translation. Contract: anthropic_fastreq.h.
 *
 * DESIGN
 * sy_anthropic_fmt_request (jansson: parse, build a tree, serialise) costs ~300,000 instructions
 * for a 1 KB chat body. Most requests are plain text chat, whose translation is a reshuffle of
 * the client's own tokens, so this path validates the body once (sy_jsonv_validate: exactly
 * jansson's acceptance), walks it with a scanner that trusts that validation, and writes the
 * Anthropic body directly. It produces the same bytes as the jansson path, so the rest of the
 * gateway cannot tell which path ran; tests/unit/test_anthropic_fastreq.c checks that on a corpus
 * and on mutations of it. Anything outside the shape below returns false and the jansson path
 * decides (including every error and every warning).
 *
 * The fast shape (docs/internals/ANTHROPIC.md "Fast path"):
 *  - top-level keys, each at most once and spelled without escapes: model (any value, ignored),
 *    messages, max_tokens, max_completion_tokens, temperature, top_p, stop, user, stream,
 *    stream_options; null counts as absent, as in the jansson path;
 *  - messages: a non-empty array of objects with exactly the keys role and content (once each,
 *    unescaped); role "system", "developer", "user" or "assistant" written without escapes;
 *    content a string (empty ones are dropped like the jansson path drops them);
 *  - the used one of max_completion_tokens / max_tokens: a positive integer;
 *  - temperature, top_p: 0, 1, or a decimal 0.ddd / 1.000 in [0.001, 1] (no sign, no exponent,
 *    at most 18 significant digits and 19 decimals), reprinted as jansson does (%.17g: 0.7 ->
 *    0.69999999999999996), computed exactly with 128-bit integers instead of strtod + snprintf;
 *  - stop: a string or an array of strings; user: a string; stream: a boolean; stream_options:
 *    an object whose keys are unescaped;
 *  - model defaults only for max_tokens, max_completion_tokens, temperature, top_p, stop and user,
 *    each a single JSON value of at most 240 bytes meeting the rules above;
 *  - o->upstream_model printable ASCII without '"' and '\\'.
 * Strings are copied as tokens; a token holding a backslash is re-spelled the way jansson prints
 * the decoded string (\u escapes decoded to UTF-8 except control characters, which become \uXXXX
 * in upper case or their short escape; "\/" becomes "/"). System texts are joined inside one
 * string token with a literal \n\n, which is what encoding the joined text gives. */
#include "providers/anthropic_fastreq.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/jsonv.h"
#include "core/str.h"

/* ---------------------------------------------------------------- output buffer */

typedef struct wbuf {
    char *p;
    size_t len, cap;
} wbuf_t;

static char *room(wbuf_t *w, size_t n)
{
    if (w->cap - w->len < n) {
        size_t cap = w->cap * 2;
        if (cap < w->len + n) cap = w->len + n;
        w->p = sy_xrealloc(w->p, cap);
        w->cap = cap;
    }
    return w->p + w->len;
}

static void put(wbuf_t *w, const char *s, size_t n)
{
    memcpy(room(w, n), s, n);
    w->len += n;
}

#define PUT_LIT(w, s) put(w, s, sizeof(s) - 1)

/* ---------------------------------------------------------------- scanner (validated input) */

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* p at a string's opening quote: returns the position just past its closing quote. Keys and
 * roles are short: a byte loop finds their end before a memchr call would have paid off. */
static const char *skip_string(const char *p, const char *e)
{
    const char *lim = e - p > 16 ? p + 16 : e;
    for (p++; p < lim; p++) {
        if (*p == '"') return p + 1;
        if (*p == '\\') break;
    }
    if (p >= e) return e;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(e - p));
        if (!q) return e;
        const char *b = q;
        while (b > p && b[-1] == '\\')
            b--;
        if (!((q - b) & 1)) return q + 1;
        p = q + 1;
    }
}

/* p at the start of any value: returns the position just past it. */
static const char *skip_value(const char *p, const char *e)
{
    if (p >= e) return e;
    if (*p == '"') return skip_string(p, e);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (p < e) {
            char c = *p;
            if (c == '"') {
                p = skip_string(p, e);
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return e;
    }
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' &&
           *p != '\t')
        p++;
    return p;
}

/* Object member key: p at the key's opening quote (or anywhere else: then NULL). Sets the key's
 * contents [*k, *k + *kn) and returns the start of the value; NULL for an escaped key. */
static const char *member_key(const char *p, const char *e, const char **k, size_t *kn)
{
    if (p >= e || *p != '"') return NULL;
    const char *kend = skip_string(p, e);
    *k = p + 1;
    *kn = (size_t)(kend - p - 2);
    if (memchr(*k, '\\', *kn)) return NULL;
    p = skip_ws(kend, e);
    if (p >= e || *p != ':') return NULL;
    return skip_ws(p + 1, e);
}

/* A whole member: the key as member_key, the value token [*v, *ve). Leaves *pp after the value
 * and the whitespace that follows it. */
static bool next_member(const char **pp, const char *e, const char **k, size_t *kn, const char **v,
                        const char **ve)
{
    if (!(*v = member_key(*pp, e, k, kn))) return false;
    *ve = skip_value(*v, e);
    *pp = skip_ws(*ve, e);
    return *ve > *v;
}

/* After a member or element: true and *pp past a ',' (and whitespace) if another follows; false
 * at the closing bracket (*pp just past it). *bad is set if neither follows. */
static bool more(const char **pp, const char *e, char close, bool *bad)
{
    const char *p = *pp;
    if (p < e && *p == ',') {
        *pp = skip_ws(p + 1, e);
        return true;
    }
    if (p >= e || *p != close) *bad = true;
    *pp = p + 1;
    return false;
}

static bool tok_is(const char *p, const char *e, const char *lit, size_t n)
{
    return (size_t)(e - p) == n && !memcmp(p, lit, n);
}

#define TOK_IS(t, lit) tok_is((t).ptr, (t).ptr + (t).len, lit, sizeof(lit) - 1)

/* ---------------------------------------------------------------- strings as jansson prints them
 */

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

static char *put_codepoint(char *d, unsigned cp)
{
    static const char hex[] = "0123456789ABCDEF"; /* jansson: "\\u%04X" */
    switch (cp) {
    case '"':
    case '\\':
        *d++ = '\\';
        *d++ = (char)cp;
        return d;
    case '\b':
        *d++ = '\\';
        *d++ = 'b';
        return d;
    case '\f':
        *d++ = '\\';
        *d++ = 'f';
        return d;
    case '\n':
        *d++ = '\\';
        *d++ = 'n';
        return d;
    case '\r':
        *d++ = '\\';
        *d++ = 'r';
        return d;
    case '\t':
        *d++ = '\\';
        *d++ = 't';
        return d;
    }
    if (cp < 0x20) {
        memcpy(d, "\\u00", 4);
        d[4] = hex[cp >> 4];
        d[5] = hex[cp & 15];
        return d + 6;
    }
    if (cp < 0x80) {
        *d++ = (char)cp;
    } else if (cp < 0x800) {
        *d++ = (char)(0xc0 | (cp >> 6));
        *d++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *d++ = (char)(0xe0 | (cp >> 12));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *d++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *d++ = (char)(0xf0 | (cp >> 18));
        *d++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *d++ = (char)(0x80 | (cp & 0x3f));
    }
    return d;
}

/* Appends the contents [p, e) of a validated string token (no quotes) as jansson would print the
 * decoded string. Every escape is re-spelled no longer than it was, so e - p bytes suffice. */
static void put_str_inner(wbuf_t *w, const char *p, const char *e)
{
    const char *bs = memchr(p, '\\', (size_t)(e - p));
    if (!bs) {
        put(w, p, (size_t)(e - p));
        return;
    }
    char *d0 = room(w, (size_t)(e - p)), *d = d0;
    while (p < e) {
        if (bs > p) {
            memcpy(d, p, (size_t)(bs - p));
            d += bs - p;
            p = bs;
        }
        if (p >= e) break;
        char c = p[1];
        if (c == '/') {
            *d++ = '/';
            p += 2;
        } else if (c == 'u' && e - p >= 6) {
            unsigned cp = hex4(p + 2);
            p += 6;
            if (cp >= 0xd800 && cp < 0xdc00 && e - p >= 6) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (hex4(p + 2) - 0xdc00);
                p += 6;
            }
            d = put_codepoint(d, cp);
        } else {
            /* \" \\ \b \f \n \r \t: jansson's own spelling */
            *d++ = '\\';
            *d++ = c;
            p += 2;
        }
        bs = p < e ? memchr(p, '\\', (size_t)(e - p)) : NULL;
        if (!bs) bs = e;
    }
    w->len += (size_t)(d - d0);
}

/* A whole string token [t, te), quotes included. */
static void put_str(wbuf_t *w, const char *t, const char *te)
{
    PUT_LIT(w, "\"");
    put_str_inner(w, t + 1, te - 1);
    PUT_LIT(w, "\"");
}

/* ---------------------------------------------------------------- numbers as jansson prints them
 */

typedef unsigned __int128 u128;

static int bit_length(u128 q)
{
    uint64_t hi = (uint64_t)(q >> 64), lo = (uint64_t)q;
    if (hi) return 128 - __builtin_clzll(hi);
    return lo ? 64 - __builtin_clzll(lo) : 0;
}

/* n / 10^k (0 < n < 2^60, k <= 19, the value in [0.001, 1)) rounded to the nearest double, as
 * strtod does: *m (53 bits) * 2^-*s. */
static void decimal_to_binary(uint64_t n, int k, uint64_t *m, int *s)
{
    u128 num = (u128)n << 65, den = sy_pow10_u64[k];
    u128 q = num / den, r = num % den; /* value * 2^65 = q + r / den, q >= 2^55 */
    int drop = bit_length(q) - 53;
    uint64_t mm = (uint64_t)(q >> drop);
    u128 rest = q & (((u128)1 << drop) - 1), half = (u128)1 << (drop - 1);
    if (rest > half || (rest == half && (r || (mm & 1)))) mm++;
    if (mm == 1ull << 53) {
        mm >>= 1;
        drop++;
    }
    *m = mm;
    *s = 65 - drop;
}

/* printf("%.17g") of m * 2^-s in [0.001, 1), glibc's exact round-half-even digits: "0.ddd". */
static size_t print_g17(uint64_t m, int s, char *d)
{
    u128 two = (u128)1 << s;
    int p; /* floor(log10(value)) */
    if ((u128)m * 10 >= two)
        p = -1;
    else if ((u128)m * 100 >= two)
        p = -2;
    else if ((u128)m * 1000 >= two)
        p = -3;
    else
        return 0;
    u128 prod = (u128)m * sy_pow10_u64[16 - p];
    uint64_t digits = (uint64_t)(prod >> s);
    u128 rem = prod & (two - 1), half = two >> 1;
    if (rem > half || (rem == half && (digits & 1))) digits++;
    if (digits == sy_pow10_u64[17]) {
        digits = sy_pow10_u64[16];
        p++;
    }
    if (p == 0) {
        memcpy(d, "1.0", 3); /* "%.17g" gives "1", jansson appends ".0" */
        return 3;
    }
    char dig[17];
    for (int i = 16; i >= 0; i--) {
        dig[i] = (char)('0' + digits % 10);
        digits /= 10;
    }
    int nd = 17;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    size_t len = 0;
    d[len++] = '0';
    d[len++] = '.';
    for (int z = -p - 1; z > 0; z--)
        d[len++] = '0';
    memcpy(d + len, dig, (size_t)nd);
    return len + (size_t)nd;
}

/* The bytes jansson prints for the number token t when it lies in [0, 1] (see DESIGN); 0 when t
 * is not one of the spellings handled here. d has room for 32 bytes. */
static size_t unit_number(sy_str_t t, char *d)
{
    const char *p = t.ptr, *e = p + t.len;
    if (t.len == 1 && (*p == '0' || *p == '1')) { /* an integer stays an integer */
        d[0] = *p;
        return 1;
    }
    if (t.len < 3 || (p[0] != '0' && p[0] != '1') || p[1] != '.') return 0;
    const char *f = p + 2;
    for (const char *q = f; q < e; q++)
        if (*q < '0' || *q > '9') return 0;
    while (e > f && e[-1] == '0')
        e--;
    if (p[0] == '1' || e == f) {
        if (e != f) return 0; /* above 1: the jansson path clamps it and warns */
        memcpy(d, p[0] == '1' ? "1.0" : "0.0", 3);
        return 3;
    }
    const char *s = f;
    while (*s == '0')
        s++;
    if (s - f > 2 || e - s > 18 || e - f > 19) return 0;
    uint64_t n = 0;
    for (const char *q = s; q < e; q++)
        n = n * 10 + (uint64_t)(*q - '0');
    uint64_t m;
    int shift;
    decimal_to_binary(n, (int)(e - f), &m, &shift);
    return print_g17(m, shift, d);
}

/* A positive JSON integer token (validated, so it fits in int64). */
static bool positive_int(sy_str_t t)
{
    if (!t.len || t.ptr[0] < '1' || t.ptr[0] > '9') return false;
    for (size_t i = 1; i < t.len; i++)
        if (t.ptr[i] < '0' || t.ptr[i] > '9') return false;
    return true;
}

static void put_int(wbuf_t *w, int64_t v)
{
    char tmp[24];
    int i = (int)sizeof tmp;
    uint64_t u = (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    put(w, tmp + i, sizeof tmp - (size_t)i);
}

/* ---------------------------------------------------------------- request */

enum {
    K_MODEL,
    K_MESSAGES,
    K_MAX_TOKENS,
    K_MAX_COMPLETION_TOKENS,
    K_TEMPERATURE,
    K_TOP_P,
    K_STOP,
    K_USER,
    K_STREAM,
    K_STREAM_OPTIONS,
    K_COUNT
};

static const struct {
    const char *name;
    size_t len;
} fast_keys[K_COUNT] = {
#define KEY(s)                                                                                     \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
    KEY("model"),       KEY("messages"),       KEY("max_tokens"), KEY("max_completion_tokens"),
    KEY("temperature"), KEY("top_p"),          KEY("stop"),       KEY("user"),
    KEY("stream"),      KEY("stream_options"),
#undef KEY
};

static int key_index(const char *k, size_t n)
{
    for (int i = 0; i < K_COUNT; i++)
        if (fast_keys[i].len == n && !memcmp(fast_keys[i].name, k, n)) return i;
    return -1;
}

/* Present and not null (the jansson path's given()). */
static bool given(sy_str_t t)
{
    return t.ptr && !TOK_IS(t, "null");
}

/* A model default's JSON text as one trimmed, valid value token; false if it is not exactly one
 * valid JSON value (json_loads would fail and the default would not apply) or is too long. */
static bool default_token(const char *json, sy_str_t *t)
{
    char tmp[256];
    size_t n = strlen(json);
    if (n > sizeof tmp - 2) return false;
    tmp[0] = '[';
    memcpy(tmp + 1, json, n);
    tmp[n + 1] = ']';
    if (!sy_jsonv_validate(tmp, n + 2, NULL)) return false;
    const char *e = json + n, *v = skip_ws(json, e);
    const char *ve = skip_value(v, e);
    if (ve == v || skip_ws(ve, e) != e) return false;
    *t = sy_str(v, (size_t)(ve - v));
    return true;
}

enum { R_SYSTEM, R_USER, R_ASSISTANT };

/* A message with non-empty text: role and string contents (between the quotes). */
typedef struct entry {
    int role;
    const char *p, *e;
} entry_t;

typedef struct entries {
    entry_t *v;
    size_t n, cap;
    entry_t local[32];
} entries_t;

static void push_entry(entries_t *es, int role, const char *p, const char *e)
{
    if (es->n == es->cap) {
        size_t cap = es->cap * 2;
        entry_t *v = sy_xmalloc(cap * sizeof *v);
        memcpy(v, es->v, es->n * sizeof *v);
        if (es->v != es->local) free(es->v);
        es->v = v;
        es->cap = cap;
    }
    es->v[es->n++] = (entry_t){role, p, e};
}

static int role_of(const char *p, const char *e)
{
    if (tok_is(p, e, "\"user\"", 6)) return R_USER;
    if (tok_is(p, e, "\"assistant\"", 11)) return R_ASSISTANT;
    if (tok_is(p, e, "\"system\"", 8) || tok_is(p, e, "\"developer\"", 11)) return R_SYSTEM;
    return -1;
}

/* messages (p at its '[') -> entries (empty texts dropped); returns the position just past the
 * array, NULL outside the fast shape. */
static const char *scan_messages(const char *p, const char *e, entries_t *es)
{
    p = skip_ws(p + 1, e);
    if (p < e && *p == ']') return NULL; /* empty: the jansson path's 400 */
    bool bad = false;
    do {
        if (p >= e || *p != '{') return NULL;
        p = skip_ws(p + 1, e);
        const char *role = NULL, *role_e = NULL, *content = NULL, *content_e = NULL;
        if (p < e && *p == '}') return NULL;
        do {
            const char *k, *v, *ve;
            size_t kn;
            if (!next_member(&p, e, &k, &kn, &v, &ve)) return NULL;
            if (tok_is(k, k + kn, "role", 4) && !role) {
                role = v;
                role_e = ve;
            } else if (tok_is(k, k + kn, "content", 7) && !content) {
                content = v;
                content_e = ve;
            } else {
                return NULL;
            }
        } while (more(&p, e, '}', &bad));
        if (bad || !role || !content || *content != '"') return NULL;
        int r = role_of(role, role_e);
        if (r < 0) return NULL;
        if (content_e - content > 2) push_entry(es, r, content + 1, content_e - 1);
        p = skip_ws(p, e);
    } while (more(&p, e, ']', &bad));
    return bad ? NULL : p;
}

/* stop: a string or an array of strings -> "stop_sequences" (nothing for []). */
static bool put_stop(wbuf_t *w, sy_str_t t)
{
    const char *p = t.ptr, *e = t.ptr + t.len;
    if (*p == '"') {
        PUT_LIT(w, ",\"stop_sequences\":[");
        put_str(w, p, e);
        PUT_LIT(w, "]");
        return true;
    }
    if (*p != '[') return false;
    p = skip_ws(p + 1, e);
    if (p < e && *p == ']') return true;
    size_t mark = w->len;
    PUT_LIT(w, ",\"stop_sequences\":[");
    bool bad = false, first = true;
    do {
        if (p >= e || *p != '"') {
            w->len = mark;
            return false;
        }
        const char *se = skip_string(p, e);
        if (!first) PUT_LIT(w, ",");
        first = false;
        put_str(w, p, se);
        p = skip_ws(se, e);
    } while (more(&p, e, ']', &bad));
    PUT_LIT(w, "]");
    return !bad;
}

/* stream_options: an object with unescaped keys; the last include_usage wins. */
static bool scan_stream_options(sy_str_t t, bool *include_usage)
{
    const char *p = t.ptr, *e = t.ptr + t.len;
    *include_usage = false;
    if (*p != '{') return false;
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}') return true;
    bool bad = false;
    do {
        const char *k, *v, *ve;
        size_t kn;
        if (!next_member(&p, e, &k, &kn, &v, &ve)) return false;
        if (tok_is(k, k + kn, "include_usage", 13)) *include_usage = tok_is(v, ve, "true", 4);
    } while (more(&p, e, '}', &bad));
    return !bad;
}

static bool plain_ascii(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\') return false;
    return true;
}

/* Writes the whole body; false (w partly written) outside the fast shape. */
static bool translate(const char *body, size_t len, const sy_fmt_req_opts_t *o, wbuf_t *w,
                      entries_t *es, bool *stream, bool *include_usage)
{
    const char *p = body, *e = body + len;
    sy_str_t tok[K_COUNT] = {{0}};

    /* top level */
    p = skip_ws(p, e);
    if (p >= e || *p != '{') return false;
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}') return false; /* no messages */
    bool bad = false, have_messages = false;
    do {
        const char *k, *v, *ve;
        size_t kn;
        if (!(v = member_key(p, e, &k, &kn))) return false;
        int i = key_index(k, kn);
        if (i < 0 || tok[i].ptr) return false;
        /* messages is walked once, here (no default can replace it) */
        if (i == K_MESSAGES && v < e && *v == '[') {
            if (!(ve = scan_messages(v, e, es))) return false;
            have_messages = true;
        } else {
            ve = skip_value(v, e);
        }
        if (ve <= v) return false;
        tok[i] = sy_str(v, (size_t)(ve - v));
        p = skip_ws(ve, e);
    } while (more(&p, e, '}', &bad));
    if (bad || !have_messages) return false;

    /* model defaults (the jansson path's apply_defaults) */
    bool has_max = given(tok[K_MAX_TOKENS]) || given(tok[K_MAX_COMPLETION_TOKENS]);
    for (size_t i = 0; i < o->n_defaults; i++) {
        const sy_conf_kv_t *d = &o->defaults[i];
        int k = key_index(d->key, strlen(d->key));
        if (k < 0 || k == K_MODEL || k == K_MESSAGES || k == K_STREAM || k == K_STREAM_OPTIONS)
            return false;
        if (given(tok[k])) continue;
        if (has_max && (k == K_MAX_TOKENS || k == K_MAX_COMPLETION_TOKENS)) continue;
        if (!default_token(d->json, &tok[k])) return false;
    }

    const char *model = o->upstream_model ? o->upstream_model : "";
    if (!plain_ascii(model)) return false;
    PUT_LIT(w, "{\"model\":\"");
    put(w, model, strlen(model));
    PUT_LIT(w, "\",\"max_tokens\":");
    sy_str_t mt =
        given(tok[K_MAX_COMPLETION_TOKENS]) ? tok[K_MAX_COMPLETION_TOKENS] : tok[K_MAX_TOKENS];
    if (given(mt)) {
        if (!positive_int(mt)) return false;
        put(w, mt.ptr, mt.len);
    } else {
        put_int(w, o->default_max_tokens > 0 ? o->default_max_tokens : 4096);
    }
    char num[32];
    size_t nl;
    if (given(tok[K_TEMPERATURE])) {
        if (!(nl = unit_number(tok[K_TEMPERATURE], num))) return false;
        PUT_LIT(w, ",\"temperature\":");
        put(w, num, nl);
    }
    if (given(tok[K_TOP_P])) {
        if (!(nl = unit_number(tok[K_TOP_P], num))) return false;
        PUT_LIT(w, ",\"top_p\":");
        put(w, num, nl);
    }
    if (given(tok[K_STOP]) && !put_stop(w, tok[K_STOP])) return false;
    if (given(tok[K_USER])) {
        sy_str_t u = tok[K_USER];
        if (*u.ptr != '"') return false;
        PUT_LIT(w, ",\"metadata\":{\"user_id\":");
        put_str(w, u.ptr, u.ptr + u.len);
        PUT_LIT(w, "}");
    }
    *stream = false;
    if (given(tok[K_STREAM])) {
        if (TOK_IS(tok[K_STREAM], "true"))
            *stream = true;
        else if (!TOK_IS(tok[K_STREAM], "false"))
            return false;
    }
    if (*stream) PUT_LIT(w, ",\"stream\":true");
    bool iu = false;
    if (given(tok[K_STREAM_OPTIONS]) && !scan_stream_options(tok[K_STREAM_OPTIONS], &iu))
        return false;
    *include_usage = *stream && iu;

    /* system: every system/developer text joined with "\n\n" */
    bool sys = false;
    for (size_t i = 0; i < es->n; i++) {
        if (es->v[i].role != R_SYSTEM) continue;
        if (!sys)
            PUT_LIT(w, ",\"system\":\"");
        else
            PUT_LIT(w, "\\n\\n");
        sys = true;
        put_str_inner(w, es->v[i].p, es->v[i].e);
    }
    if (sys) PUT_LIT(w, "\"");

    /* messages: runs of the same role merged; a run of one text is sent as a string */
    PUT_LIT(w, ",\"messages\":[");
    bool first = true;
    for (size_t i = 0; i < es->n;) {
        int r = es->v[i].role;
        if (r == R_SYSTEM) {
            i++;
            continue;
        }
        size_t j = i + 1, n = 1;
        for (; j < es->n && (es->v[j].role == r || es->v[j].role == R_SYSTEM); j++)
            n += es->v[j].role == r;
        if (!first) PUT_LIT(w, ",");
        first = false;
        if (r == R_USER)
            PUT_LIT(w, "{\"role\":\"user\",\"content\":");
        else
            PUT_LIT(w, "{\"role\":\"assistant\",\"content\":");
        if (n == 1) {
            PUT_LIT(w, "\"");
            put_str_inner(w, es->v[i].p, es->v[i].e);
            PUT_LIT(w, "\"}");
        } else {
            PUT_LIT(w, "[");
            bool bfirst = true;
            for (size_t x = i; x < j; x++) {
                if (es->v[x].role != r) continue;
                if (!bfirst) PUT_LIT(w, ",");
                bfirst = false;
                PUT_LIT(w, "{\"type\":\"text\",\"text\":\"");
                put_str_inner(w, es->v[x].p, es->v[x].e);
                PUT_LIT(w, "\"}");
            }
            PUT_LIT(w, "]}");
        }
        i = j;
    }
    PUT_LIT(w, "]}");
    return true;
}

bool sy_anthropic_fast_request(const char *body, size_t len, const sy_fmt_req_opts_t *o,
                               sy_fmt_req_t *out)
{
    if (!body || !sy_jsonv_validate(body, len, NULL)) return false;
    size_t cap = len + 256 + (o->upstream_model ? strlen(o->upstream_model) : 0);
    wbuf_t w = {sy_xmalloc(cap), 0, cap};
    entries_t es = {.cap = sizeof es.local / sizeof es.local[0]};
    es.v = es.local;
    bool stream = false, include_usage = false;
    bool ok = translate(body, len, o, &w, &es, &stream, &include_usage);
    if (es.v != es.local) free(es.v);
    if (!ok) {
        free(w.p);
        return false;
    }
    PUT_LIT(&w, "\0");
    memset(out, 0, sizeof *out);
    out->body = w.p;
    out->len = w.len - 1;
    out->stream = stream;
    out->include_usage = include_usage;
    return true;
}
