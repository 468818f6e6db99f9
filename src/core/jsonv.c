/* Strict one-pass JSON validator and chat-request field extractor. Contract: jsonv.h.
 *
 * DESIGN
 * An iterative parser: three goto states (value, key, after_value) and a bit stack of open
 * containers (1 = object), so the 2048 levels jansson allows cost 256 bytes of stack and no
 * recursion. Strings, which are most of a chat body, are skipped 8 bytes at a time (SWAR): only
 * '"', '\\', bytes < 0x20 and bytes >= 0x80 leave the fast loop. Everything jansson rejects that
 * a plain grammar check would not (integer / double overflow, \u0000, lone surrogates) is
 * checked where the token is scanned, on paths ordinary input does not reach.
 *
 * Chat extraction is a few hooks that only run at depth <= 3. scan() is force-inlined into both
 * entry points with a constant `out`, so sy_jsonv_validate carries none of that code. Error
 * reporting lives in one cold function so the hot loop stays small. */
#include "core/jsonv.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ONES 0x0101010101010101ull
#define HIGH 0x8080808080808080ull
#define WS_MASK ((1ull << ' ') | (1ull << '\t') | (1ull << '\n') | (1ull << '\r'))

/* 2^1024 - 2^970, halfway between DBL_MAX and 2^1024: the smallest decimal value that strtod
 * rounds to infinity (a tie rounds to even, i.e. up). 309 digits, so it is 0.<digits> * 10^309. */
static const char dbl_overflow_digits[] =
    "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017"
    "977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273"
    "854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704"
    "342711559699508093042880177904174497792";

/* Bytes that stop the plain-character loop inside a string. */
static const uint8_t str_stop[256] = {
    [0 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x80 ... 0xff] = 1,
};

__attribute__((cold, noinline, format(printf, 4, 5))) static bool
fail(sy_jsonv_err_t *err, const uint8_t *base, const uint8_t *at, const char *fmt, ...)
{
    if (!err) return false;
    int line = 1, column = 1;
    for (const uint8_t *q = base; q < at; q++) {
        if (*q == '\n') {
            line++;
            column = 1;
        } else if ((*q & 0xc0) != 0x80) {
            column++;
        }
    }
    err->position = (size_t)(at - base);
    err->line = line;
    err->column = column;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
    return false;
}

/* fail() for the scanners below, which return a position or NULL. */
#define FAIL(at, ...) (fail(err, base, (at), __VA_ARGS__), (const uint8_t *)NULL)
#define FAIL_EOF() FAIL(end, "unexpected end of input")

static inline const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end)
{
    while (p < end && *p <= ' ' && ((1ull << *p) & WS_MASK))
        p++;
    return p;
}

static inline bool is_digit(uint8_t c)
{
    return (unsigned)(c - '0') < 10u;
}

static inline int hex_value(uint8_t c)
{
    if ((unsigned)(c - '0') < 10u) return c - '0';
    c |= 0x20;
    if ((unsigned)(c - 'a') < 6u) return c - 'a' + 10;
    return -1;
}

/* Four hex digits at p (caller checked they are in bounds), or -1. */
static inline int32_t hex4(const uint8_t *p)
{
    int a = hex_value(p[0]), b = hex_value(p[1]), c = hex_value(p[2]), d = hex_value(p[3]);
    if ((a | b | c | d) < 0) return -1;
    return (a << 12) | (b << 8) | (c << 4) | d;
}

/* p points at a backslash inside a string. Returns the byte after the escape. */
static const uint8_t *scan_escape(const uint8_t *base, const uint8_t *p, const uint8_t *end,
                                  sy_jsonv_err_t *err)
{
    const uint8_t *q = p + 1;
    if (q == end) return FAIL_EOF();
    switch (*q) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return q + 1;
    case 'u':
        break;
    default:
        return FAIL(q, "invalid escape '\\%c'", *q >= 0x20 && *q < 0x7f ? *q : '?');
    }
    for (int i = 1; i <= 4; i++) {
        if (q + i == end) return FAIL_EOF();
        if (hex_value(q[i]) < 0) return FAIL(q + i, "invalid escape: \\u needs 4 hex digits");
    }
    int32_t u = hex4(q + 1);
    q += 5;
    if (u == 0) return FAIL(p, "\\u0000 is not allowed");
    if (u >= 0xdc00 && u <= 0xdfff) return FAIL(p, "invalid Unicode '\\u%04X'", (unsigned)u);
    if (u >= 0xd800 && u <= 0xdbff) {
        /* A high surrogate must be followed by an escaped low one. */
        if (end - q >= 6 && q[0] == '\\' && q[1] == 'u') {
            int32_t lo = hex4(q + 2);
            if (lo >= 0xdc00 && lo <= 0xdfff) return q + 6;
            if (lo < 0) return FAIL(q + 2, "invalid escape: \\u needs 4 hex digits");
            return FAIL(p, "invalid Unicode '\\u%04X\\u%04X'", (unsigned)u, (unsigned)lo);
        }
        return FAIL(p, "invalid Unicode '\\u%04X'", (unsigned)u);
    }
    return q;
}

/* p points at a byte >= 0x80 inside a string. Returns the byte after the UTF-8 sequence. */
static const uint8_t *scan_utf8(const uint8_t *base, const uint8_t *p, const uint8_t *end,
                                sy_jsonv_err_t *err)
{
    uint8_t c = p[0], lo = 0x80, hi = 0xbf;
    int need;
    if (c < 0xc2) return FAIL(p, "invalid UTF-8 byte 0x%02x in string", c);
    if (c < 0xe0) {
        need = 1;
    } else if (c < 0xf0) {
        need = 2;
        if (c == 0xe0) lo = 0xa0; /* overlong */
        if (c == 0xed) hi = 0x9f; /* UTF-16 surrogates */
    } else if (c < 0xf5) {
        need = 3;
        if (c == 0xf0) lo = 0x90; /* overlong */
        if (c == 0xf4) hi = 0x8f; /* above U+10FFFF */
    } else {
        return FAIL(p, "invalid UTF-8 byte 0x%02x in string", c);
    }
    for (int i = 1; i <= need; i++) {
        if (p + i == end) return FAIL_EOF();
        if (p[i] < lo || p[i] > hi) return FAIL(p + i, "invalid UTF-8 byte 0x%02x in string", p[i]);
        lo = 0x80;
        hi = 0xbf;
    }
    return p + need + 1;
}

/* p points just past an opening quote. Returns the byte after the closing quote; sets *esc if
 * the string holds a backslash escape. Inlined at both call sites: most strings are a few bytes
 * long and the call overhead was a quarter of the cost of a small body. */
static inline __attribute__((always_inline)) const uint8_t *
scan_string(const uint8_t *base, const uint8_t *p, const uint8_t *end, bool *esc,
            sy_jsonv_err_t *err)
{
    for (;;) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* A byte's high bit is set in m if it is < 0x20, '"', '\\' or >= 0x80; a borrow can only
         * set bits above a byte that matched, so the lowest set bit marks the first stop. */
        while (end - p >= 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            uint64_t q = v ^ (ONES * '"'), b = v ^ (ONES * '\\');
            uint64_t m = ((v - ONES * 0x20) | (q - ONES) | (b - ONES) | v) & HIGH;
            if (m) {
                p += __builtin_ctzll(m) >> 3;
                goto stop;
            }
            p += 8;
        }
#endif
        while (p < end && !str_stop[*p])
            p++;
        if (p == end) return FAIL_EOF();
    stop:
        if (*p == '"') return p + 1;
        if (*p == '\\') {
            *esc = true;
            p = scan_escape(base, p, end, err);
        } else if (*p < 0x20) {
            return FAIL(p, "control character 0x%02x in string", *p);
        } else {
            p = scan_utf8(base, p, end, err);
        }
        if (!p) return NULL;
    }
}

static bool int_overflows(const uint8_t *digits, size_t n, bool neg)
{
    if (n != 19) return n > 19;
    return memcmp(digits, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0;
}

/* Whether strtod would overflow on the real number with integer digits ip[0..ni), fraction
 * digits fp..fe (fp NULL if none) and decimal exponent e. */
static bool real_overflows(const uint8_t *ip, size_t ni, const uint8_t *fp, const uint8_t *fe,
                           int64_t e)
{
    /* mag: decimal exponent of the first significant digit; overflow needs mag >= 308. The
     * significant digits are [d, dend) followed by [next, next_end) if next is set. */
    int64_t mag;
    const uint8_t *d, *dend, *next = NULL, *next_end = NULL;
    if (ip[0] != '0') {
        mag = (int64_t)ni - 1 + e;
        d = ip;
        dend = ip + ni;
        next = fp;
        next_end = fe;
    } else {
        if (e <= 308 || !fp) return false; /* value < 10^e */
        d = fp;
        while (d < fe && *d == '0')
            d++;
        if (d == fe) return false; /* zero */
        mag = e - 1 - (d - fp);
        dend = fe;
    }
    if (mag != 308) return mag > 308;
    /* Same magnitude as the threshold: compare the digit strings as fractions 0.ddd. */
    size_t ti = 0, tn = sizeof dbl_overflow_digits - 1;
    for (;;) {
        if (d == dend) {
            if (!next) return ti == tn; /* shorter: less unless equal (the last digit is 2) */
            d = next;
            dend = next_end;
            next = NULL;
            continue;
        }
        if (ti == tn) {
            if (*d != '0') return true;
        } else {
            if (*d != (uint8_t)dbl_overflow_digits[ti]) return *d > dbl_overflow_digits[ti];
            ti++;
        }
        d++;
    }
}

/* p points at '-' or a digit. Returns the byte after the number. */
static const uint8_t *scan_number(const uint8_t *base, const uint8_t *p, const uint8_t *end,
                                  sy_jsonv_err_t *err)
{
    const uint8_t *start = p;
    bool neg = *p == '-';
    if (neg && ++p == end) return FAIL_EOF();
    const uint8_t *ip = p;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) return FAIL(p, "invalid number: leading zero");
    } else if (is_digit(*p)) {
        do
            p++;
        while (p < end && is_digit(*p));
    } else {
        return FAIL(p, "invalid number");
    }
    size_t ni = (size_t)(p - ip);
    if (p == end || (*p != '.' && (*p | 0x20) != 'e')) {
        if (ni >= 19 && int_overflows(ip, ni, neg))
            return FAIL(start, neg ? "too big negative integer" : "too big integer");
        return p;
    }
    const uint8_t *fp = NULL, *fe = NULL;
    if (*p == '.') {
        fp = ++p;
        if (p == end) return FAIL_EOF();
        if (!is_digit(*p)) return FAIL(p, "invalid number: digit expected after '.'");
        do
            p++;
        while (p < end && is_digit(*p));
        fe = p;
    }
    int64_t e = 0;
    if (p < end && (*p | 0x20) == 'e') {
        bool eneg = false;
        if (++p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p == end) return FAIL_EOF();
        if (!is_digit(*p)) return FAIL(p, "invalid number: digit expected in exponent");
        do {
            if (e < 1000000000) e = e * 10 + (*p - '0'); /* saturate: only the sign matters */
            p++;
        } while (p < end && is_digit(*p));
        if (eneg) e = -e;
    }
    if (real_overflows(ip, ni, fp, fe, e)) return FAIL(start, "real number overflow");
    return p;
}

/* ---- chat extraction ---- */

enum {
    K_NONE,
    K_MODEL,
    K_MESSAGES,
    K_STREAM,
    K_STREAM_OPTIONS,
    K_INCLUDE_USAGE,
    K_ROLE,
    K_MAX_TOKENS,
    K_MAX_COMPLETION_TOKENS
};
enum { C_OTHER, C_MESSAGES, C_STREAM_OPTIONS, C_MESSAGE };

typedef struct chat_state {
    sy_jsonv_chat_t *out;
    uint8_t pending;    /* K_*: the tracked key whose value comes next */
    uint8_t ctx2;       /* C_*: what the container open at level 2 is */
    uint8_t ctx3;       /* C_*: what the container open at level 3 is */
    uint8_t role;       /* type of the current message's "role" (last one wins) */
    const uint8_t *num; /* start of the top-level value of a max_tokens key, if a number */
} chat_state_t;

static inline bool key_is(sy_str_t k, const char *lit, size_t n)
{
    return k.len == n && memcmp(k.ptr, lit, n) == 0;
}
#define KEY_IS(k, lit) key_is((k), lit, sizeof lit - 1)

/* tok..after is a key token; depth is the level of the object holding it (1..3). */
static inline void on_key(chat_state_t *cs, size_t depth, const uint8_t *tok, const uint8_t *after,
                          bool esc)
{
    if ((depth == 2 && cs->ctx2 != C_STREAM_OPTIONS) || (depth == 3 && cs->ctx3 != C_MESSAGE))
        return;
    char buf[24]; /* longer than any key we look for */
    sy_str_t k = sy_str((const char *)tok + 1, (size_t)(after - tok) - 2);
    if (__builtin_expect(esc, 0)) {
        size_t len;
        k = sy_jsonv_string_decode(sy_str((const char *)tok, (size_t)(after - tok)), buf,
                                   sizeof buf, &len)
                ? sy_str(buf, len)
                : SY_STR_NULL;
    }
    uint8_t pending = K_NONE;
    if (depth == 1) {
        if (KEY_IS(k, "model"))
            pending = K_MODEL;
        else if (KEY_IS(k, "messages"))
            pending = K_MESSAGES;
        else if (KEY_IS(k, "stream"))
            pending = K_STREAM;
        else if (KEY_IS(k, "stream_options"))
            pending = K_STREAM_OPTIONS;
        else if (KEY_IS(k, "max_tokens"))
            pending = K_MAX_TOKENS;
        else if (KEY_IS(k, "max_completion_tokens"))
            pending = K_MAX_COMPLETION_TOKENS;
    } else if (depth == 2) {
        if (KEY_IS(k, "include_usage")) pending = K_INCLUDE_USAGE;
    } else if (KEY_IS(k, "role")) {
        pending = K_ROLE;
    }
    cs->pending = pending;
}

/* A value of the given type starts at tok, inside depth (1..3) open containers. */
static inline void on_value(chat_state_t *cs, size_t depth, sy_jsonv_type_t type,
                            const uint8_t *tok)
{
    sy_jsonv_chat_t *o = cs->out;
    uint8_t ctx = C_OTHER; /* what a container opened by this value is */
    if (depth == 1) {
        switch (cs->pending) {
        case K_MODEL:
            o->model_type = type;
            o->model = sy_str((const char *)tok, 0); /* len set when the value ends */
            o->model_has_escape = false;
            break;
        case K_MESSAGES:
            o->messages_type = type;
            o->messages_count = 0;
            o->bad_message_index = -1;
            o->bad_message_reason = SY_JSONV_MSG_OK;
            if (type == SY_JSONV_ARRAY) ctx = C_MESSAGES;
            break;
        case K_STREAM:
            o->stream_type = type;
            break;
        case K_MAX_TOKENS:
        case K_MAX_COMPLETION_TOKENS:
            cs->num = type == SY_JSONV_NUMBER ? tok : NULL;
            *(cs->pending == K_MAX_TOKENS ? &o->max_tokens : &o->max_completion_tokens) = -1;
            break;
        case K_STREAM_OPTIONS:
            o->stream_options_type = type;
            o->include_usage_type = SY_JSONV_ABSENT;
            if (type == SY_JSONV_OBJECT) ctx = C_STREAM_OPTIONS;
            break;
        }
        cs->ctx2 = ctx;
    } else if (depth == 2) {
        if (cs->ctx2 == C_MESSAGES) {
            size_t i = o->messages_count++;
            if (type == SY_JSONV_OBJECT) {
                ctx = C_MESSAGE;
                cs->role = SY_JSONV_ABSENT;
            } else if (o->bad_message_index < 0) {
                o->bad_message_index = (long)i;
                o->bad_message_reason = SY_JSONV_MSG_NOT_OBJECT;
            }
        } else if (cs->ctx2 == C_STREAM_OPTIONS && cs->pending == K_INCLUDE_USAGE) {
            o->include_usage_type = type;
        }
        cs->ctx3 = ctx;
    } else if (cs->ctx3 == C_MESSAGE && cs->pending == K_ROLE) {
        cs->role = (uint8_t)type;
    }
}

/* The container at level 3 closes. */
static inline void on_close3(chat_state_t *cs)
{
    sy_jsonv_chat_t *o = cs->out;
    if (cs->ctx3 == C_MESSAGE && cs->role != SY_JSONV_STRING && o->bad_message_index < 0) {
        o->bad_message_index = (long)o->messages_count - 1;
        o->bad_message_reason = SY_JSONV_MSG_BAD_ROLE;
    }
}

/* ---- the parser ---- */

static inline __attribute__((always_inline)) bool scan(const char *doc, size_t n,
                                                       sy_jsonv_chat_t *out, sy_jsonv_err_t *err)
{
    const uint8_t *const base = (const uint8_t *)doc;
    const uint8_t *const end = base + n;
    const uint8_t *p = skip_ws(base, end), *tok;
    uint64_t objects[SY_JSONV_MAX_DEPTH / 64]; /* bit d: the container at level d+1 is {} */
    size_t depth = 0;                          /* open containers */
    bool esc = false, is_object;
    sy_jsonv_type_t type;
    chat_state_t cs = {.out = out};

    if (out) {
        memset(out, 0, sizeof *out);
        out->bad_message_index = -1;
        out->max_tokens = out->max_completion_tokens = -1;
    }
    if (p == end) return fail(err, base, p, "'[' or '{' expected, got end of input");
    if (*p != '{' && *p != '[') return fail(err, base, p, "'[' or '{' expected");
    if (out) out->is_object = *p == '{';

value: /* p: first byte of a value, whitespace skipped */
    if (p == end) return fail(err, base, p, "unexpected end of input");
    if (depth >= SY_JSONV_MAX_DEPTH) return fail(err, base, p, "maximum parsing depth reached");
    tok = p;
    switch (*p) {
    case '"':
        esc = false;
        p = scan_string(base, p + 1, end, &esc, err);
        if (!p) return false;
        type = SY_JSONV_STRING;
        break;
    case '{':
    case '[':
        is_object = *p == '{';
        if (out && depth >= 1 && depth <= 3)
            on_value(&cs, depth, is_object ? SY_JSONV_OBJECT : SY_JSONV_ARRAY, tok);
        if (is_object)
            objects[depth >> 6] |= 1ull << (depth & 63);
        else
            objects[depth >> 6] &= ~(1ull << (depth & 63));
        depth++;
        p = skip_ws(p + 1, end);
        if (p == end) return fail(err, base, p, "unexpected end of input");
        if (*p == (is_object ? '}' : ']')) {
            p++;
            goto closed;
        }
        if (is_object) goto key;
        goto value;
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0) return fail(err, base, p, "invalid token");
        p += 4;
        type = SY_JSONV_TRUE;
        break;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0) return fail(err, base, p, "invalid token");
        p += 5;
        type = SY_JSONV_FALSE;
        break;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0) return fail(err, base, p, "invalid token");
        p += 4;
        type = SY_JSONV_NULL;
        break;
    case '-':
    case '0' ... '9':
        p = scan_number(base, p, end, err);
        if (!p) return false;
        type = SY_JSONV_NUMBER;
        break;
    default:
        return fail(err, base, p, "invalid token");
    }
    if (out && depth >= 1 && depth <= 3) on_value(&cs, depth, type, tok);

after_value: /* p: just past a complete value */
    if (depth == 0) {
        p = skip_ws(p, end);
        if (p != end) return fail(err, base, p, "end of file expected");
        return true;
    }
    if (out && depth == 1 && cs.pending == K_MODEL) {
        out->model.len = (size_t)(p - (const uint8_t *)out->model.ptr);
        out->model_has_escape = out->model_type == SY_JSONV_STRING && esc;
    } else if (out && depth == 1 && cs.num &&
               (cs.pending == K_MAX_TOKENS || cs.pending == K_MAX_COMPLETION_TOKENS)) {
        int64_t v = 0;
        const uint8_t *d = cs.num + (*cs.num == '-'), *q = d; /* -0 is 0, as jansson reads it */
        for (; q < p && is_digit(*q) && q - d < 15; q++)      /* below 10^15 */
            v = v * 10 + (*q - '0');
        *(cs.pending == K_MAX_TOKENS ? &out->max_tokens : &out->max_completion_tokens) =
            q == p && (d == cs.num || v == 0) ? v : -1;
        cs.num = NULL;
    }
    p = skip_ws(p, end);
    if (p == end) return fail(err, base, p, "unexpected end of input");
    is_object = (objects[(depth - 1) >> 6] >> ((depth - 1) & 63)) & 1;
    if (*p == ',') {
        p = skip_ws(p + 1, end);
        if (p == end) return fail(err, base, p, "unexpected end of input");
        if (is_object) goto key;
        goto value;
    }
    if (*p == (is_object ? '}' : ']')) {
        p++;
        goto closed;
    }
    return fail(err, base, p, is_object ? "',' or '}' expected" : "',' or ']' expected");

closed: /* p: just past the bracket closing the container at level depth */
    if (out && depth == 3) on_close3(&cs);
    depth--;
    goto after_value;

key: /* p: first non-whitespace byte where an object key must start */
    if (*p != '"') return fail(err, base, p, "string or '}' expected");
    tok = p;
    bool key_esc = false;
    p = scan_string(base, p + 1, end, &key_esc, err);
    if (!p) return false;
    if (out && depth <= 3) on_key(&cs, depth, tok, p, key_esc);
    p = skip_ws(p, end);
    if (p == end) return fail(err, base, p, "unexpected end of input");
    if (*p != ':') return fail(err, base, p, "':' expected");
    p = skip_ws(p + 1, end);
    goto value;
}

bool sy_jsonv_validate(const char *p, size_t n, sy_jsonv_err_t *err)
{
    return scan(p, n, NULL, err);
}

bool sy_jsonv_scan_chat(const char *p, size_t n, sy_jsonv_chat_t *out, sy_jsonv_err_t *err)
{
    return scan(p, n, out, err);
}

bool sy_jsonv_string_decode(sy_str_t token, char *out, size_t cap, size_t *len)
{
    const uint8_t *p = (const uint8_t *)token.ptr;
    if (token.len < 2 || p[0] != '"' || p[token.len - 1] != '"') return false;
    const uint8_t *end = p + token.len - 1;
    size_t o = 0;
    for (p++; p < end;) {
        if (*p != '\\') {
            if (o == cap) return false;
            out[o++] = (char)*p++;
            continue;
        }
        if (end - p < 2) return false;
        uint8_t c = p[1];
        int32_t u;
        p += 2;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            u = c;
            break;
        case 'b':
            u = '\b';
            break;
        case 'f':
            u = '\f';
            break;
        case 'n':
            u = '\n';
            break;
        case 'r':
            u = '\r';
            break;
        case 't':
            u = '\t';
            break;
        case 'u':
            if (end - p < 4 || (u = hex4(p)) < 0) return false;
            p += 4;
            if (u >= 0xdc00 && u <= 0xdfff) return false;
            if (u >= 0xd800 && u <= 0xdbff) {
                int32_t lo;
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return false;
                lo = hex4(p + 2);
                if (lo < 0xdc00 || lo > 0xdfff) return false;
                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
            break;
        default:
            return false;
        }
        size_t need = u < 0x80 ? 1 : u < 0x800 ? 2 : u < 0x10000 ? 3 : 4;
        if (cap - o < need) return false;
        switch (need) {
        case 1:
            out[o++] = (char)u;
            break;
        case 2:
            out[o++] = (char)(0xc0 | (u >> 6));
            out[o++] = (char)(0x80 | (u & 0x3f));
            break;
        case 3:
            out[o++] = (char)(0xe0 | (u >> 12));
            out[o++] = (char)(0x80 | ((u >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (u & 0x3f));
            break;
        default:
            out[o++] = (char)(0xf0 | (u >> 18));
            out[o++] = (char)(0x80 | ((u >> 12) & 0x3f));
            out[o++] = (char)(0x80 | ((u >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (u & 0x3f));
            break;
        }
    }
    *len = o;
    return true;
}
