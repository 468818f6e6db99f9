/* Fast paths of the Anthropic Messages ingress. Contract: api/messages_int.h.
 *
 * DESIGN
 * The jansson translators in messages_fmt.c parse every request, reply and stream chunk into a
 * tree and serialise a new one (~260,000 instructions per 1 KB request, ~57,000 per streamed
 * text chunk). The common shapes are a reshuffle of tokens the client or upstream already wrote,
 * so here the input is checked once with sy_jsonv_validate (exactly json_loadb's acceptance:
 * invalid input is still rejected, by the slow path), the members read are found as raw byte
 * views, and the output is written with memcpy. Anything outside the shapes below declines and
 * the jansson path decides, including every error and every warning but the plain ones.
 *
 * Exactness rules (tests/unit/test_messages_fastpath.c checks them on a corpus and mutations):
 *  - a JSON string token without a backslash is copied as is: the slow path decodes it and
 *    sy_json_append_string re-escapes only '"', '\\' and bytes < 0x20, none of which occur raw
 *    in a valid token. With escapes it is transcoded: \/ and \uXXXX decoded to UTF-8, controls
 *    written as the short escape or lowercase \u00xx. Joined texts ("\n\n") are the tokens'
 *    insides around a literal \n\n, which is what escaping the joined text gives;
 *  - declined: an escaped key (jansson compares decoded keys), a duplicated key that is read
 *    (jansson keeps the last), an escape inside a string that is compared (role, type,
 *    finish_reason, id), reals the slow path would reprint in exponent form or from more than
 *    15 significant digits;
 *  - nothing is written and no state changes before the output space is reserved. The
 *    reservation is at least what the slow path could ask of the caller's (capped) buffer, so
 *    when it fails the slow path runs and fails or succeeds on its own.
 *
 * Stream: a chunk read whole whose only effect was its delta (one choice, no finish_reason, no
 * usage object, no error) leaves its bytes before and after the delta object in s->tpl. Servers
 * repeat those bytes in every content chunk (same id, created, model; "logprobs":null,
 * "finish_reason":null), so the next chunk is matched with two memcmp calls and only its delta
 * -- {"content":"..."} and a few literal variants -- is checked. Since the surrounding bytes are
 * those of a document already validated and the delta is a validated object, the chunk is valid
 * JSON with the same meaning as the earlier one apart from its delta. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/messages_int.h"
#include "core/alloc.h"
#include "core/jsonv.h"

#define REQ_IN_MAX (32u << 20) /* the slow path's 6x escape reservations stay under 256 MiB */
#define ID_MAX 255             /* msg_id(): char id[256] */
#define MAX_PARTS 64           /* text blocks of one message */
#define MAX_UNKNOWN 8          /* unknown top-level keys (warnings) */
#define MAX_OPS 16             /* deltas and finish reasons of one chunk */
#define FRAME_MAX 224          /* one frame without its string value */
#define START_MAX 320          /* message_start without id and model */
#define USAGE_MAX 200          /* four 20-digit numbers and their names */

/* ---------------------------------------------------------------- writing */

static inline char *put(char *d, const char *s, size_t n)
{
    memcpy(d, s, n);
    return d + n;
}

#define PUT_LIT(d, lit) put((d), (lit), sizeof(lit) - 1)

static char *put_i64(char *d, int64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) tmp[--i] = '-';
    return put(d, tmp + i, sizeof tmp - i);
}

/* One code point of a decoded string as sy_json_append_string writes it. */
static char *put_cp(char *d, uint32_t cp)
{
    static const char hex[] = "0123456789abcdef";
    if (cp >= 0x80) {
        if (cp < 0x800) {
            *d++ = (char)(0xc0 | cp >> 6);
        } else if (cp < 0x10000) {
            *d++ = (char)(0xe0 | cp >> 12);
            *d++ = (char)(0x80 | (cp >> 6 & 0x3f));
        } else {
            *d++ = (char)(0xf0 | cp >> 18);
            *d++ = (char)(0x80 | (cp >> 12 & 0x3f));
            *d++ = (char)(0x80 | (cp >> 6 & 0x3f));
        }
        *d++ = (char)(0x80 | (cp & 0x3f));
        return d;
    }
    switch (cp) {
    case '"':
        return PUT_LIT(d, "\\\"");
    case '\\':
        return PUT_LIT(d, "\\\\");
    case '\b':
        return PUT_LIT(d, "\\b");
    case '\f':
        return PUT_LIT(d, "\\f");
    case '\n':
        return PUT_LIT(d, "\\n");
    case '\r':
        return PUT_LIT(d, "\\r");
    case '\t':
        return PUT_LIT(d, "\\t");
    default:
        break;
    }
    if (cp < 0x20) {
        d = PUT_LIT(d, "\\u00");
        *d++ = hex[cp >> 4];
        *d++ = hex[cp & 15];
    } else {
        *d++ = (char)cp;
    }
    return d;
}

/* Raw bytes (a C string of the caller's) escaped: at most 6 bytes per input byte. */
static char *put_escaped(char *d, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\')
            d = put_cp(d, c);
        else
            *d++ = (char)c;
    }
    return d;
}

static uint32_t hex4(const char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = (unsigned char)p[i];
        v = v << 4 | (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* The inside of a validated string token (no quotes), re-escaped as the slow path's decode +
 * sy_json_append_string would. Never longer than the input. */
static char *put_inner(char *d, const char *p, size_t n)
{
    const char *bs;
    while (n && (bs = memchr(p, '\\', n))) {
        d = put(d, p, (size_t)(bs - p));
        n -= (size_t)(bs - p);
        p = bs;
        char e = p[1];
        if (e != 'u') {
            if (e == '/')
                *d++ = '/';
            else
                d = put(d, p, 2); /* \" \\ \b \f \n \r \t: written the same way */
            p += 2;
            n -= 2;
            continue;
        }
        uint32_t cp = hex4(p + 2);
        p += 6;
        n -= 6;
        if (cp >= 0xd800 && cp < 0xdc00) { /* the validator guarantees the low half follows */
            cp = 0x10000 + ((cp - 0xd800) << 10) + (hex4(p + 2) - 0xdc00);
            p += 6;
            n -= 6;
        }
        d = put_cp(d, cp);
    }
    return put(d, p, n);
}

/* A validated string token (quotes included) as the slow path writes its value. */
static char *put_string(char *d, sy_str_t tok)
{
    *d++ = '"';
    d = put_inner(d, tok.ptr + 1, tok.len - 2);
    *d++ = '"';
    return d;
}

/* ---------------------------------------------------------------- reading (validated input) */

static inline bool is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && is_ws(*p))
        p++;
    return p;
}

/* p at a string's opening quote: the position just past its closing quote. */
static const char *skip_string(const char *p, const char *e)
{
    for (p++;;) {
        const char *q = memchr(p, '"', (size_t)(e - p));
        if (!q) return e;
        const char *b = q;
        while (b > p && b[-1] == '\\')
            b--;
        if (!((q - b) & 1)) return q + 1;
        p = q + 1;
    }
}

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
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return e;
    }
    while (p < e && *p != ',' && *p != '}' && *p != ']' && !is_ws(*p))
        p++;
    return p;
}

/* Elements of a validated array token: it->p after '[' or after the previous element. */
typedef struct iter {
    const char *p, *e;
} iter_t;

static iter_t iter_of(sy_str_t arr)
{
    return (iter_t){arr.ptr + 1, arr.ptr + arr.len};
}

static bool next_elem(iter_t *it, sy_str_t *v)
{
    const char *p = skip_ws(it->p, it->e);
    if (p < it->e && *p == ',') p = skip_ws(p + 1, it->e);
    if (p >= it->e || *p == ']') return false;
    const char *ve = skip_value(p, it->e);
    *v = sy_str(p, (size_t)(ve - p));
    it->p = ve;
    return true;
}

static bool empty_array(sy_str_t arr)
{
    iter_t it = iter_of(arr);
    sy_str_t v;
    return !next_elem(&it, &v);
}

/* Members of a validated object token, as iter_t over its bytes: key (raw, between the quotes)
 * and value token. */
static bool next_member(iter_t *it, sy_str_t *key, sy_str_t *v)
{
    const char *p = skip_ws(it->p, it->e);
    if (p < it->e && *p == ',') p = skip_ws(p + 1, it->e);
    if (p >= it->e || *p != '"') return false;
    const char *ke = skip_string(p, it->e);
    *key = sy_str(p + 1, (size_t)(ke - p - 2));
    p = skip_ws(skip_ws(ke, it->e) + 1, it->e); /* past the ':' */
    const char *ve = skip_value(p, it->e);
    *v = sy_str(p, (size_t)(ve - p));
    it->p = ve;
    return true;
}

/* The members `names` of a validated object token -> vals (ptr NULL when absent). False when it
 * is not an object, has an escaped key ("te\u0078t" is "text" to jansson) or repeats a picked
 * key (jansson's last-wins is the slow path's job). */
static bool pick(sy_str_t obj, const sy_str_t *names, size_t n, sy_str_t *vals)
{
    for (size_t i = 0; i < n; i++)
        vals[i] = SY_STR_NULL;
    const char *p = skip_ws(obj.ptr, obj.ptr + obj.len);
    if (p >= obj.ptr + obj.len || *p != '{') return false;
    iter_t it = {p + 1, obj.ptr + obj.len};
    sy_str_t k, v;
    while (next_member(&it, &k, &v)) {
        if (memchr(k.ptr, '\\', k.len)) return false;
        for (size_t i = 0; i < n; i++) {
            if (sy_str_eq(k, names[i])) {
                if (vals[i].ptr) return false;
                vals[i] = v;
                break;
            }
        }
    }
    return true;
}

static inline bool is_string(sy_str_t v)
{
    return v.len >= 2 && v.ptr[0] == '"';
}

static inline bool is_object(sy_str_t v)
{
    return v.len && v.ptr[0] == '{';
}

static inline bool is_array(sy_str_t v)
{
    return v.len && v.ptr[0] == '[';
}

static inline bool is_number(sy_str_t v)
{
    return v.len && (v.ptr[0] == '-' || (unsigned)(v.ptr[0] - '0') < 10);
}

/* Present and not null (jansson: the key exists and !json_is_null). */
static inline bool given(sy_str_t v)
{
    return v.ptr && !(v.len == 4 && !memcmp(v.ptr, "null", 4));
}

static inline bool has_escape(sy_str_t v)
{
    return memchr(v.ptr, '\\', v.len) != NULL;
}

/* A string token without escapes equals lit. */
static inline bool str_is(sy_str_t tok, const char *lit, size_t n)
{
    return tok.len == n + 2 && tok.ptr[0] == '"' && !memcmp(tok.ptr + 1, lit, n);
}

#define STR_IS(tok, lit) str_is((tok), (lit), sizeof(lit) - 1)

/* int_member() of messages_fmt.c: an integer, -1 for a non-number; false for a real (the slow
 * path truncates it; left to it). */
static bool count_member(sy_str_t v, int64_t *out)
{
    *out = -1;
    if (!v.ptr || !is_number(v)) return true;
    return sy_str_to_i64(v, out); /* false past int64: jansson refuses it, the slow path decides */
}

/* read_usage() of messages_fmt.c on a usage object token. */
static bool read_usage(sy_str_t u, sy_fmt_usage_t *out)
{
    static const sy_str_t names[] = {SY_STR_LIT("prompt_tokens"), SY_STR_LIT("completion_tokens"),
                                     SY_STR_LIT("prompt_tokens_details"),
                                     SY_STR_LIT("completion_tokens_details")};
    static const sy_str_t pd_names[] = {SY_STR_LIT("cached_tokens"),
                                        SY_STR_LIT("cache_write_tokens")};
    static const sy_str_t cd_name = SY_STR_LIT("reasoning_tokens");
    sy_str_t v[4], pd[2], cd;
    sy_fmt_usage_t r = SY_FMT_USAGE_UNKNOWN;
    if (!pick(u, names, 4, v) || !count_member(v[0], &r.prompt_tokens) ||
        !count_member(v[1], &r.completion_tokens))
        return false;
    if (is_object(v[2]) &&
        (!pick(v[2], pd_names, 2, pd) || !count_member(pd[0], &r.cached_tokens) ||
         !count_member(pd[1], &r.cache_write_tokens)))
        return false;
    if (is_object(v[3]) &&
        (!pick(v[3], &cd_name, 1, &cd) || !count_member(cd, &r.reasoning_tokens)))
        return false;
    *out = r;
    return true;
}

static int64_t nonneg(int64_t v)
{
    return v > 0 ? v : 0;
}

/* put_anth_usage() of messages_fmt.c. */
static char *put_anth_usage(char *d, const sy_fmt_usage_t *u)
{
    int64_t in =
        nonneg(nonneg(u->prompt_tokens) - nonneg(u->cached_tokens) - nonneg(u->cache_write_tokens));
    d = PUT_LIT(d, "{\"input_tokens\":");
    d = put_i64(d, in);
    d = PUT_LIT(d, ",\"cache_creation_input_tokens\":");
    d = put_i64(d, nonneg(u->cache_write_tokens));
    d = PUT_LIT(d, ",\"cache_read_input_tokens\":");
    d = put_i64(d, nonneg(u->cached_tokens));
    d = PUT_LIT(d, ",\"output_tokens\":");
    d = put_i64(d, nonneg(u->completion_tokens));
    return PUT_LIT(d, "}");
}

/* msg_id() of messages_fmt.c, written as a JSON string: src (bytes of an unescaped id token, or
 * NULL) or else the fallback C string; "chatcmpl-" becomes "msg_", cut at ID_MAX bytes. */
static char *put_msg_id(char *d, const char *src, size_t n, const char *fallback)
{
    if (!src || !n) {
        src = fallback && *fallback ? fallback : "0";
        n = strlen(src);
    }
    *d++ = '"';
    size_t room = ID_MAX;
    if (!(n >= 4 && !memcmp(src, "msg_", 4))) {
        if (n > 9 && !memcmp(src, "chatcmpl-", 9)) {
            src += 9;
            n -= 9;
        }
        d = PUT_LIT(d, "msg_");
        room -= 4;
    }
    d = put_escaped(d, src, n < room ? n : room);
    *d++ = '"';
    return d;
}

/* Space for n bytes in out; NULL when the buffer cannot take them (see DESIGN). */
static char *room(sy_buf_t *out, size_t n)
{
    sy_err_t err;
    return sy_buf_reserve(out, n, &err);
}

/* ---------------------------------------------------------------- numbers */

/* The bytes the slow path's dump() prints for a number token (integers as they are; reals in
 * the shortest form that reads back, put_real()), or 0 to decline. d has room for 48 bytes.
 * Reals: no exponent and at most 15 significant digits. Such a decimal D is the only decimal of
 * at most 15 digits that reads back to its double (DBL_DIG), so put_real's loop stops at D's own
 * digits; %g then writes them in fixed notation when the decimal exponent X satisfies
 * -4 <= X < digits, else in exponent form (declined). */
static size_t number_bytes(sy_str_t t, char *d)
{
    const char *p = t.ptr, *e = t.ptr + t.len;
    bool neg = *p == '-';
    const char *dot = memchr(p, '.', t.len);
    if (memchr(p, 'e', t.len) || memchr(p, 'E', t.len)) return 0;
    if (!dot) {
        if (t.len > 40) return 0;
        if (t.len == 2 && neg && p[1] == '0') { /* -0 is the integer 0 */
            d[0] = '0';
            return 1;
        }
        memcpy(d, p, t.len);
        return t.len;
    }
    char dig[64];
    size_t nd = 0, ni = 0; /* digits, of which ni before the point */
    for (const char *q = p + neg; q < e; q++) {
        if (q == dot) continue;
        if (nd == sizeof dig) return 0;
        dig[nd++] = *q;
        if (q < dot) ni++;
    }
    size_t f = 0, l = nd;
    while (f < nd && dig[f] == '0')
        f++;
    size_t n = 0;
    if (neg) d[n++] = '-';
    if (f == nd) { /* 0.0 / -0.0 */
        memcpy(d + n, "0.0", 3);
        return n + 3;
    }
    while (dig[l - 1] == '0')
        l--;
    long P = (long)(l - f), X = (long)ni - 1 - (long)f;
    if (P > 15 || X < -4 || X >= P) return 0;
    if (X >= 0) {
        memcpy(d + n, dig + f, (size_t)X + 1);
        n += (size_t)X + 1;
        d[n++] = '.';
        if (P > X + 1) {
            memcpy(d + n, dig + f + X + 1, (size_t)(P - X - 1));
            n += (size_t)(P - X - 1);
        } else {
            d[n++] = '0'; /* "%g" wrote no point: put_real appends ".0" */
        }
    } else {
        d[n++] = '0';
        d[n++] = '.';
        for (long z = -X - 1; z > 0; z--)
            d[n++] = '0';
        memcpy(d + n, dig + f, (size_t)P);
        n += (size_t)P;
    }
    return n;
}

/* ---------------------------------------------------------------- request */

typedef struct wbuf {
    char *p;
    size_t len, cap;
} wbuf_t;

/* Space for n more bytes; the caller adds what it wrote to len. */
static char *wroom(wbuf_t *w, size_t n)
{
    if (w->cap - w->len < n) {
        size_t cap = w->cap * 2;
        if (cap < w->len + n) cap = w->len + n;
        w->p = sy_xrealloc(w->p, cap);
        w->cap = cap;
    }
    return w->p + w->len;
}

static void wput(wbuf_t *w, const char *s, size_t n)
{
    memcpy(wroom(w, n), s, n);
    w->len += n;
}

#define WLIT(w, s) wput(w, s, sizeof(s) - 1)

/* The inside of a string token, transcoded (never longer than the token). */
static void wput_inner(wbuf_t *w, sy_str_t tok)
{
    char *d = wroom(w, tok.len);
    w->len += (size_t)(put_inner(d, tok.ptr + 1, tok.len - 2) - d);
}

static void wput_string(wbuf_t *w, sy_str_t tok)
{
    char *d = wroom(w, tok.len);
    w->len += (size_t)(put_string(d, tok) - d);
}

enum {
    K_MODEL,
    K_MAX_TOKENS,
    K_MESSAGES,
    K_SYSTEM,
    K_STOP_SEQUENCES,
    K_TEMPERATURE,
    K_TOP_P,
    K_TOP_K,
    K_METADATA,
    K_STREAM,
    K_COUNT
};

static const sy_str_t req_keys[K_COUNT] = {
    SY_STR_LIT("model"),  SY_STR_LIT("max_tokens"),     SY_STR_LIT("messages"),
    SY_STR_LIT("system"), SY_STR_LIT("stop_sequences"), SY_STR_LIT("temperature"),
    SY_STR_LIT("top_p"),  SY_STR_LIT("top_k"),          SY_STR_LIT("metadata"),
    SY_STR_LIT("stream"),
};

typedef struct top {
    sy_str_t v[K_COUNT];
    sy_str_t unknown[MAX_UNKNOWN]; /* keys the slow path warns about, in document order */
    size_t n_unknown;
} top_t;

static bool key_is(sy_str_t k, const char *lit)
{
    return k.len == strlen(lit) && !memcmp(k.ptr, lit, k.len);
}

/* The top-level members; false for escaped or repeated keys and for the keys only the slow
 * path handles (tools, tool_choice, thinking). */
static bool scan_top(const char *body, size_t len, top_t *t)
{
    const char *p = skip_ws(body, body + len);
    iter_t it = {p + 1, body + len};
    sy_str_t k, v;
    memset(t, 0, sizeof *t);
    while (next_member(&it, &k, &v)) {
        if (memchr(k.ptr, '\\', k.len)) return false;
        int i;
        for (i = 0; i < K_COUNT && !sy_str_eq(k, req_keys[i]); i++)
            ;
        if (i < K_COUNT) {
            if (t->v[i].ptr) return false;
            t->v[i] = v;
            continue;
        }
        if (key_is(k, "tools") || key_is(k, "tool_choice") || key_is(k, "thinking")) return false;
        if (t->n_unknown == MAX_UNKNOWN) return false;
        for (size_t j = 0; j < t->n_unknown; j++)
            if (sy_str_eq(k, t->unknown[j])) return false; /* jansson keeps one member */
        t->unknown[t->n_unknown++] = k;
    }
    return true;
}

/* The text blocks of a content or system array (thinking blocks skipped when allowed); false
 * for any other block or anything the slow path reads differently. */
static bool text_blocks(sy_str_t arr, bool thinking_ok, sy_str_t *parts, size_t *n)
{
    static const sy_str_t names[] = {SY_STR_LIT("type"), SY_STR_LIT("text")};
    iter_t it = iter_of(arr);
    sy_str_t blk, v[2];
    *n = 0;
    while (next_elem(&it, &blk)) {
        if (!is_object(blk) || !pick(blk, names, 2, v) || !is_string(v[0])) return false;
        if (STR_IS(v[0], "text")) {
            if (!is_string(v[1]) || *n == MAX_PARTS) return false;
            parts[(*n)++] = v[1];
        } else if (!thinking_ok ||
                   !(STR_IS(v[0], "thinking") || STR_IS(v[0], "redacted_thinking"))) {
            return false;
        }
    }
    return true;
}

/* "t1\n\nt2..." as one JSON string. */
static void wput_joined(wbuf_t *w, const sy_str_t *parts, size_t n)
{
    WLIT(w, "\"");
    for (size_t i = 0; i < n; i++) {
        if (i) WLIT(w, "\\n\\n");
        wput_inner(w, parts[i]);
    }
    WLIT(w, "\"");
}

static bool put_message(wbuf_t *w, sy_str_t msg)
{
    static const sy_str_t names[] = {SY_STR_LIT("role"), SY_STR_LIT("content")};
    sy_str_t v[2], parts[MAX_PARTS];
    size_t n;
    if (!is_object(msg) || !pick(msg, names, 2, v)) return false;
    bool user = STR_IS(v[0], "user");
    if (!user && !STR_IS(v[0], "assistant")) return false;
    if (user)
        WLIT(w, "{\"role\":\"user\",\"content\":");
    else
        WLIT(w, "{\"role\":\"assistant\",\"content\":");
    if (is_string(v[1])) {
        wput_string(w, v[1]);
    } else if (!is_array(v[1]) || !text_blocks(v[1], true, parts, &n)) {
        return false;
    } else if (!user || n < 2) {
        wput_joined(w, parts, n); /* assistant texts are joined; one user text is a string */
    } else {
        WLIT(w, "[");
        for (size_t i = 0; i < n; i++) {
            if (i) WLIT(w, ",");
            WLIT(w, "{\"type\":\"text\",\"text\":");
            wput_string(w, parts[i]);
            WLIT(w, "}");
        }
        WLIT(w, "]");
    }
    WLIT(w, "}");
    return true;
}

static bool translate(const char *body, size_t len, wbuf_t *w, sy_fmt_req_t *out)
{
    static const sy_str_t uid_name = SY_STR_LIT("user_id");
    top_t t;
    if (!scan_top(body, len, &t)) return false;
    sy_str_t *v = t.v;

    /* model: a non-empty string */
    if (!is_string(v[K_MODEL]) || v[K_MODEL].len == 2) return false;
    /* max_tokens: a positive integer */
    int64_t mt;
    if (!v[K_MAX_TOKENS].ptr || !sy_str_to_i64(v[K_MAX_TOKENS], &mt) || mt < 1) return false;
    if (!is_array(v[K_MESSAGES]) || empty_array(v[K_MESSAGES])) return false;
    char temp[48], top_p[48];
    size_t temp_n = 0, top_p_n = 0;
    if (given(v[K_TEMPERATURE]) &&
        (!is_number(v[K_TEMPERATURE]) || !(temp_n = number_bytes(v[K_TEMPERATURE], temp))))
        return false;
    if (given(v[K_TOP_P]) &&
        (!is_number(v[K_TOP_P]) || !(top_p_n = number_bytes(v[K_TOP_P], top_p))))
        return false;
    sy_str_t uid = SY_STR_NULL;
    if (given(v[K_METADATA])) {
        if (!is_object(v[K_METADATA]) || !pick(v[K_METADATA], &uid_name, 1, &uid)) return false;
        if (given(uid) && !is_string(uid)) return false;
    }
    bool stream = false;
    if (given(v[K_STREAM])) {
        if (v[K_STREAM].len == 4 && !memcmp(v[K_STREAM].ptr, "true", 4))
            stream = true;
        else if (!(v[K_STREAM].len == 5 && !memcmp(v[K_STREAM].ptr, "false", 5)))
            return false;
    }

    WLIT(w, "{\"model\":");
    wput_string(w, v[K_MODEL]);
    WLIT(w, ",\"messages\":[");
    bool first = true;
    if (given(v[K_SYSTEM])) {
        sy_str_t sys = v[K_SYSTEM], parts[MAX_PARTS];
        size_t n;
        if (is_string(sys)) {
            if (sys.len > 2) {
                WLIT(w, "{\"role\":\"system\",\"content\":");
                wput_string(w, sys);
                WLIT(w, "}");
                first = false;
            }
        } else if (!is_array(sys) || !text_blocks(sys, false, parts, &n)) {
            return false;
        } else if (n > 1 || (n == 1 && parts[0].len > 2)) { /* "" + "\n\n" + "" is not empty */
            WLIT(w, "{\"role\":\"system\",\"content\":");
            wput_joined(w, parts, n);
            WLIT(w, "}");
            first = false;
        }
    }
    iter_t it = iter_of(v[K_MESSAGES]);
    sy_str_t msg;
    while (next_elem(&it, &msg)) {
        if (!first) WLIT(w, ",");
        first = false;
        if (!put_message(w, msg)) return false;
    }
    WLIT(w, "],\"max_tokens\":");
    wput(w, v[K_MAX_TOKENS].ptr, v[K_MAX_TOKENS].len);

    if (given(v[K_STOP_SEQUENCES])) {
        sy_str_t seq = v[K_STOP_SEQUENCES], s;
        if (!is_array(seq)) return false;
        it = iter_of(seq);
        bool any = false;
        while (next_elem(&it, &s)) {
            if (!is_string(s)) return false;
            if (any)
                WLIT(w, ",");
            else
                WLIT(w, ",\"stop\":[");
            any = true;
            wput_string(w, s);
        }
        if (any) WLIT(w, "]");
    }
    if (temp_n) {
        WLIT(w, ",\"temperature\":");
        wput(w, temp, temp_n);
    }
    if (top_p_n) {
        WLIT(w, ",\"top_p\":");
        wput(w, top_p, top_p_n);
    }
    if (is_string(uid)) {
        WLIT(w, ",\"user\":");
        wput_string(w, uid);
    }
    if (stream) WLIT(w, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
    WLIT(w, "}");

    out->stream = out->include_usage = stream;
    out->warnings[0] = out->err_param[0] = out->err_msg[0] = '\0';
    if (given(v[K_TOP_K])) sy_messages_warn(out, "top_k");
    for (size_t i = 0; i < t.n_unknown; i++) {
        char k[48]; /* sy_messages_warn keeps 40 bytes */
        size_t kn = t.unknown[i].len < sizeof k - 1 ? t.unknown[i].len : sizeof k - 1;
        memcpy(k, t.unknown[i].ptr, kn);
        k[kn] = '\0';
        sy_messages_warn(out, k);
    }
    return true;
}

bool sy_messages_fast_request(const char *body, size_t len, sy_fmt_req_t *out)
{
    if (!body || len > REQ_IN_MAX || !sy_jsonv_validate(body, len, NULL)) return false;
    const char *p = skip_ws(body, body + len);
    if (p == body + len || *p != '{') return false; /* an array: the slow path's 400 */
    sy_fmt_req_t r;
    wbuf_t w = {sy_xmalloc(len + 128), 0, len + 128};
    if (!translate(body, len, &w, &r)) {
        free(w.p);
        return false;
    }
    out->body = w.p;
    out->len = w.len;
    out->stream = r.stream;
    out->include_usage = r.include_usage;
    out->err_param[0] = out->err_msg[0] = '\0';
    memcpy(out->warnings, r.warnings, strlen(r.warnings) + 1);
    return true;
}

/* ---------------------------------------------------------------- response */

bool sy_messages_fast_response(const char *body, size_t len, const sy_fmt_resp_opts_t *o,
                               sy_buf_t *out, sy_fmt_usage_t *usage, sy_err_t *err)
{
    static const sy_str_t names[] = {SY_STR_LIT("id"), SY_STR_LIT("model"), SY_STR_LIT("choices"),
                                     SY_STR_LIT("usage")};
    static const sy_str_t choice_names[] = {SY_STR_LIT("message"), SY_STR_LIT("finish_reason")};
    static const sy_str_t msg_names[] = {
        SY_STR_LIT("content"),   SY_STR_LIT("refusal"),    SY_STR_LIT("reasoning_content"),
        SY_STR_LIT("reasoning"), SY_STR_LIT("tool_calls"), SY_STR_LIT("function_call")};
    enum { ID, MODEL, CHOICES, USAGE };
    enum { CONTENT, REFUSAL, REASONING_CONTENT, REASONING, TOOL_CALLS, FUNCTION_CALL };
    sy_str_t v[4], c[2], m[6], choice;
    if (!body || !sy_jsonv_validate(body, len, NULL) || !pick(sy_str(body, len), names, 4, v))
        return false;
    if (!is_array(v[CHOICES])) return false;
    iter_t it = iter_of(v[CHOICES]);
    if (!next_elem(&it, &choice) || !is_object(choice) || !pick(choice, choice_names, 2, c) ||
        !is_object(c[0]) || !pick(c[0], msg_names, 6, m))
        return false;
    /* tool calls and content part arrays: the slow path */
    if ((is_array(m[TOOL_CALLS]) && !empty_array(m[TOOL_CALLS])) || is_object(m[FUNCTION_CALL]) ||
        is_array(m[CONTENT]))
        return false;
    sy_str_t think = is_string(m[REASONING_CONTENT]) ? m[REASONING_CONTENT] : m[REASONING];
    if (!is_string(think) || think.len == 2) think = SY_STR_NULL;
    sy_str_t text = is_string(m[CONTENT]) ? m[CONTENT] : SY_STR_NULL;
    bool refused = false;
    if ((!text.ptr || text.len == 2) && is_string(m[REFUSAL]) && m[REFUSAL].len > 2) {
        text = m[REFUSAL];
        refused = true;
    }
    if (text.len == 2) text = SY_STR_NULL;
    const char *reason;
    if (refused) {
        reason = "refusal";
    } else if (is_string(c[1])) {
        char fr[32]; /* cut: no mapped name is that long, so a cut one maps like the whole */
        size_t n = c[1].len - 2 < sizeof fr ? c[1].len - 2 : sizeof fr - 1;
        if (has_escape(c[1])) return false;
        memcpy(fr, c[1].ptr + 1, n);
        fr[n] = '\0';
        reason = sy_messages_stop_reason(fr, false);
    } else {
        reason = sy_messages_stop_reason(NULL, false);
    }
    if (is_string(v[ID]) && (has_escape(v[ID]) || v[ID].len > ID_MAX + 2)) return false;
    sy_fmt_usage_t u = SY_FMT_USAGE_UNKNOWN;
    if (is_object(v[USAGE]) && !read_usage(v[USAGE], &u)) return false;

    const char *fid = o ? o->id : NULL;
    const char *fmodel = o && o->model ? o->model : "";
    size_t fmodel_len = strlen(fmodel);
    /* the slow path asks for 6 bytes per string byte + 2 (sy_json_append_string) */
    size_t max = 512 + 4 * USAGE_MAX + 6 * (ID_MAX + 2);
    max += 6 * (is_string(v[MODEL]) ? v[MODEL].len : fmodel_len + 2);
    max += 6 * (text.len + think.len + 2);
    char *d0 = room(out, max);
    if (!d0) return false;

    char *d = PUT_LIT(d0, "{\"id\":");
    d = is_string(v[ID]) ? put_msg_id(d, v[ID].ptr + 1, v[ID].len - 2, fid)
                         : put_msg_id(d, NULL, 0, fid);
    d = PUT_LIT(d, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    if (is_string(v[MODEL])) {
        d = put_string(d, v[MODEL]);
    } else {
        *d++ = '"';
        d = put_escaped(d, fmodel, fmodel_len);
        *d++ = '"';
    }
    d = PUT_LIT(d, ",\"content\":[");
    if (think.ptr) {
        d = PUT_LIT(d, "{\"type\":\"thinking\",\"thinking\":");
        d = put_string(d, think);
        d = PUT_LIT(d, ",\"signature\":\"\"}");
    }
    if (text.ptr) {
        if (think.ptr) *d++ = ',';
        d = PUT_LIT(d, "{\"type\":\"text\",\"text\":");
        d = put_string(d, text);
        *d++ = '}';
    }
    d = PUT_LIT(d, "],\"stop_reason\":\"");
    d = put(d, reason, strlen(reason));
    d = PUT_LIT(d, "\",\"stop_sequence\":null,\"usage\":");
    d = put_anth_usage(d, &u);
    *d++ = '}';
    out->len = (size_t)(d - out->base);
    if (usage) *usage = u;
    *err = SY_OK;
    return true;
}

/* ---------------------------------------------------------------- stream */

enum op_kind { OP_THINKING, OP_TEXT, OP_FINISH };

typedef struct op {
    enum op_kind kind;
    sy_str_t tok; /* string token (finish: unescaped) */
} op_t;

static char *put_frame_head(char *d, const char *event, size_t n)
{
    d = PUT_LIT(d, "event: ");
    d = put(d, event, n);
    return PUT_LIT(d, "\ndata: ");
}

#define FRAME_HEAD(d, ev) put_frame_head((d), (ev), sizeof(ev) - 1)

/* message_start() of messages_fmt.c; id and model are tokens of the chunk or SY_STR_NULL. */
static char *put_message_start(sy_messages_stream_t *s, char *d, sy_str_t id, sy_str_t model)
{
    s->started = true;
    d = FRAME_HEAD(d, "message_start");
    d = PUT_LIT(d, "{\"type\":\"message_start\",\"message\":{\"id\":");
    d = id.ptr ? put_msg_id(d, id.ptr + 1, id.len - 2, s->id) : put_msg_id(d, NULL, 0, s->id);
    d = PUT_LIT(d, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    if (model.ptr) {
        d = put_string(d, model);
    } else {
        *d++ = '"';
        d = put_escaped(d, s->model, strlen(s->model));
        *d++ = '"';
    }
    d = PUT_LIT(d, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                   "\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}}\n\n");
    return d;
}

static size_t message_start_max(const sy_messages_stream_t *s, sy_str_t model)
{
    return START_MAX + 6 * (ID_MAX + 2) + (model.ptr ? model.len : 6 * strlen(s->model) + 2);
}

static char *put_close_block(sy_messages_stream_t *s, char *d)
{
    if (s->open == BLK_NONE) return d;
    d = FRAME_HEAD(d, "content_block_stop");
    d = PUT_LIT(d, "{\"type\":\"content_block_stop\",\"index\":");
    d = put_i64(d, s->open_index);
    d = PUT_LIT(d, "}\n\n");
    s->open = BLK_NONE;
    return d;
}

/* text_delta() of messages_fmt.c for a string token. */
static char *put_text_delta(sy_messages_stream_t *s, char *d, enum block_kind kind, sy_str_t tok)
{
    if (tok.len == 2) return d;
    if (s->open != kind) {
        d = put_close_block(s, d);
        s->open = kind;
        s->open_index = s->next_index++;
        d = FRAME_HEAD(d, "content_block_start");
        d = PUT_LIT(d, "{\"type\":\"content_block_start\",\"index\":");
        d = put_i64(d, s->open_index);
        if (kind == BLK_TEXT)
            d = PUT_LIT(d, ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
        else
            d = PUT_LIT(d, ",\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\","
                           "\"signature\":\"\"}}\n\n");
    }
    d = FRAME_HEAD(d, "content_block_delta");
    d = PUT_LIT(d, "{\"type\":\"content_block_delta\",\"index\":");
    d = put_i64(d, s->open_index);
    if (kind == BLK_TEXT)
        d = PUT_LIT(d, ",\"delta\":{\"type\":\"text_delta\",\"text\":");
    else
        d = PUT_LIT(d, ",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":");
    d = put_string(d, tok);
    return PUT_LIT(d, "}}\n\n");
}

static char *put_finish(sy_messages_stream_t *s, char *d, sy_str_t tok)
{
    size_t n = tok.len - 2;
    if (n >= sizeof s->finish) n = sizeof s->finish - 1; /* snprintf's cut */
    memcpy(s->finish, tok.ptr + 1, n);
    s->finish[n] = '\0';
    s->finished = true;
    return put_close_block(s, d);
}

static bool commit(sy_buf_t *out, const char *d, sy_err_t *err)
{
    out->len = (size_t)(d - out->base);
    *err = SY_OK;
    return true;
}

/* [DONE]: message_end() of messages_fmt.c. */
static bool fast_done(sy_messages_stream_t *s, sy_buf_t *out, sy_err_t *err)
{
    char *d = room(out, message_start_max(s, SY_STR_NULL) + 3 * FRAME_MAX + USAGE_MAX);
    if (!d) return false;
    if (!s->started) d = put_message_start(s, d, SY_STR_NULL, SY_STR_NULL);
    d = put_close_block(s, d);
    d = FRAME_HEAD(d, "message_delta");
    d = PUT_LIT(d, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"");
    const char *reason = sy_messages_stop_reason(s->finished ? s->finish : NULL, s->saw_tool);
    d = put(d, reason, strlen(reason));
    d = PUT_LIT(d, "\",\"stop_sequence\":null},\"usage\":");
    if (s->usage.prompt_tokens >= 0 || s->usage.completion_tokens >= 0)
        d = put_anth_usage(d, &s->usage);
    else
        d = PUT_LIT(d, "{\"output_tokens\":0}");
    d = PUT_LIT(d, "}\n\n");
    d = FRAME_HEAD(d, "message_stop");
    d = PUT_LIT(d, "{\"type\":\"message_stop\"}\n\n");
    s->over = true;
    return commit(out, d, err);
}

/* The delta object of a chunk: its effects appended to ops; false to decline. */
static bool read_delta(sy_str_t delta, op_t *ops, size_t *n)
{
    static const sy_str_t names[] = {SY_STR_LIT("reasoning_content"), SY_STR_LIT("reasoning"),
                                     SY_STR_LIT("content"), SY_STR_LIT("tool_calls")};
    sy_str_t v[4];
    if (!pick(delta, names, 4, v) || (is_array(v[3]) && !empty_array(v[3]))) return false;
    sy_str_t r = is_string(v[0]) ? v[0] : v[1];
    if (*n + 2 > MAX_OPS) return false;
    if (is_string(r) && r.len > 2) ops[(*n)++] = (op_t){OP_THINKING, r};
    if (is_string(v[2]) && v[2].len > 2) ops[(*n)++] = (op_t){OP_TEXT, v[2]};
    return true;
}

/* A whole chunk, read member by member. */
static bool fast_chunk(sy_messages_stream_t *s, sy_str_t data, sy_buf_t *out, sy_err_t *err)
{
    static const sy_str_t names[] = {SY_STR_LIT("error"), SY_STR_LIT("choices"),
                                     SY_STR_LIT("usage"), SY_STR_LIT("id"), SY_STR_LIT("model")};
    static const sy_str_t choice_names[] = {SY_STR_LIT("index"), SY_STR_LIT("delta"),
                                            SY_STR_LIT("finish_reason")};
    enum { ERROR, CHOICES, USAGE, ID, MODEL };
    sy_str_t v[5], c[3], ch, delta = SY_STR_NULL;
    const char *p = skip_ws(data.ptr, data.ptr + data.len);
    if (p == data.ptr + data.len || *p != '{' || !sy_jsonv_validate(data.ptr, data.len, NULL) ||
        !pick(data, names, 5, v))
        return false;
    if (given(v[ERROR])) return false; /* the error event: the slow path */
    if (given(v[CHOICES]) && !is_array(v[CHOICES])) return false;
    sy_fmt_usage_t u = s->usage;
    bool has_usage = is_object(v[USAGE]);
    if (has_usage && !read_usage(v[USAGE], &u)) return false;
    op_t ops[MAX_OPS];
    size_t n_ops = 0, n_choices = 0, bytes = 0;
    bool only_delta = !has_usage; /* the chunk's only effect is its one delta (see DESIGN) */
    if (is_array(v[CHOICES])) {
        iter_t it = iter_of(v[CHOICES]);
        while (next_elem(&it, &ch)) {
            n_choices++;
            if (!is_object(ch)) continue; /* jansson finds no members in it */
            if (!pick(ch, choice_names, 3, c)) return false;
            int64_t idx;
            if (c[0].ptr && is_number(c[0])) {
                if (!sy_str_to_i64(c[0], &idx)) return false; /* real or past int64: slow path */
                if (idx != 0) continue;                       /* n > 1: first only */
            }
            if (is_object(c[1])) {
                if (!read_delta(c[1], ops, &n_ops)) return false;
                delta = c[1];
            } else {
                only_delta = false;
            }
            if (is_string(c[2])) {
                if (has_escape(c[2]) || n_ops == MAX_OPS) return false;
                ops[n_ops++] = (op_t){OP_FINISH, c[2]};
                only_delta = false;
            }
        }
    }
    if (n_choices != 1 || !delta.ptr) only_delta = false;
    for (size_t i = 0; i < n_ops; i++)
        bytes += ops[i].tok.len;
    sy_str_t id = is_string(v[ID]) ? v[ID] : SY_STR_NULL;
    sy_str_t model = is_string(v[MODEL]) ? v[MODEL] : SY_STR_NULL;
    if (!s->started && id.ptr && (has_escape(id) || id.len > ID_MAX + 2)) return false;
    size_t max = bytes + n_ops * 3 * FRAME_MAX + (s->started ? 0 : message_start_max(s, model));
    char *d = room(out, max);
    if (!d) return false;

    if (!s->started) d = put_message_start(s, d, id, model);
    if (has_usage) s->usage = u;
    for (size_t i = 0; i < n_ops; i++) {
        if (ops[i].kind == OP_FINISH)
            d = put_finish(s, d, ops[i].tok);
        else
            d = put_text_delta(s, d, ops[i].kind == OP_TEXT ? BLK_TEXT : BLK_THINKING, ops[i].tok);
    }
    if (only_delta) { /* remember the bytes around the delta for the next chunk */
        size_t head = (size_t)(delta.ptr - data.ptr);
        size_t tail = data.len - head - delta.len;
        if (!s->tpl || s->tpl_head != head || s->tpl_tail != tail ||
            memcmp(s->tpl, data.ptr, head) || memcmp(s->tpl + head, delta.ptr + delta.len, tail)) {
            free(s->tpl);
            s->tpl = sy_xmalloc(head + tail);
            memcpy(s->tpl, data.ptr, head);
            memcpy(s->tpl + head, delta.ptr + delta.len, tail);
            s->tpl_head = head;
            s->tpl_tail = tail;
        }
    }
    return commit(out, d, err);
}

/* The delta layouts servers send in content chunks, matched literally. */
static const struct {
    const char *lit;
    size_t len;
    enum block_kind kind;
} delta_heads[] = {
#define DH(s, k)                                                                                   \
    {                                                                                              \
        s, sizeof(s) - 1, k                                                                        \
    }
    DH("{\"content\":", BLK_TEXT),
    DH("{\"role\":\"assistant\",\"content\":", BLK_TEXT), /* Ollama: the role in every chunk */
    DH("{\"reasoning_content\":", BLK_THINKING),
    DH("{\"reasoning\":", BLK_THINKING),
#undef DH
};

/* A chunk with the bytes of s->tpl around a delta of a literal layout (see DESIGN). */
static bool fast_template(sy_messages_stream_t *s, sy_str_t data, sy_buf_t *out, sy_err_t *err)
{
    size_t head = s->tpl_head, tail = s->tpl_tail;
    if (data.len < head + tail + 4 || memcmp(data.ptr, s->tpl, head) ||
        memcmp(data.ptr + data.len - tail, s->tpl + head, tail))
        return false;
    sy_str_t delta = sy_str(data.ptr + head, data.len - head - tail);
    size_t k;
    for (k = 0; k < sizeof delta_heads / sizeof *delta_heads; k++)
        if (delta.len > delta_heads[k].len + 2 &&
            !memcmp(delta.ptr, delta_heads[k].lit, delta_heads[k].len))
            break;
    if (k == sizeof delta_heads / sizeof *delta_heads) return false;
    const char *q = delta.ptr + delta_heads[k].len, *end = delta.ptr + delta.len;
    if (*q != '"' || skip_string(q, end) != end - 1 || end[-1] != '}' ||
        !sy_jsonv_validate(delta.ptr, delta.len, NULL))
        return false;
    sy_str_t tok = sy_str(q, (size_t)(end - 1 - q));
    char *d = room(out, tok.len + 3 * FRAME_MAX);
    if (!d) return false;
    d = put_text_delta(s, d, delta_heads[k].kind, tok);
    return commit(out, d, err);
}

bool sy_messages_fast_event(sy_messages_stream_t *s, sy_str_t data, sy_buf_t *out, sy_err_t *err)
{
    if (s->over) {
        *err = SY_OK;
        return true;
    }
    if (data.len == 6 && !memcmp(data.ptr, "[DONE]", 6)) return fast_done(s, out, err);
    if (s->tpl && fast_template(s, data, out, err)) return true;
    return fast_chunk(s, data, out, err);
}
