/* Fast paths for the Anthropic response and stream translators. Contract: anthropic_int.h.
 *
 * DESIGN
 * The jansson translators in anthropic_fmt.c parse every upstream body and event into a tree
 * (~17,000 instructions per stream event, ~44,000 per reply before anything is written). The
 * common shapes need none of that: the data is checked once with sy_jsonv_validate (the same
 * acceptance as jansson's json_loadb, so invalid input is still rejected, by the slow path),
 * the few members we read are found with sy_json_scan_object as raw byte views, and the output is
 * written with memcpy into space reserved once.
 *
 * Exactness rules (the differential test in tests/unit/test_anthropic_faststream.c checks them):
 *  - a JSON string token is copied as it is when it holds no backslash: the slow path decodes it
 *    and re-escapes only '"', '\\' and bytes < 0x20, none of which occur raw in a valid token.
 *    With escapes it is transcoded: \/ and \uXXXX decoded, and re-escaped the way the slow path
 *    writes (sy_json_append_string: lowercase \u00xx for stream deltas; jansson's json_dumps:
 *    uppercase \u00XX for the reply and the chunk prefix);
 *  - anything whose meaning the slow path decides differently is declined: an escaped key, a
 *    duplicated key we read (jansson keeps the last), a string value we compare (type,
 *    stop_reason) that holds an escape, a non-integer index, tool_use blocks, unnamed events;
 *  - nothing is written and no state changes before the output space is reserved, with one byte
 *    to spare (sy_buf_printf in the slow path may ask one more than it writes): when a capped
 *    buffer cannot take it the slow path runs and decides the error itself. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/jsonv.h"
#include "core/str.h"
#include "providers/anthropic_int.h"

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

/* Room for a frame's fixed tail: ,"logprobs":null,"finish_reason":"content_filter"}],"usage":null}
 * plus the short delta wrappers. */
#define TAIL_MAX 96
#define WRAP_MAX 64
/* {"prompt_tokens":..,"completion_tokens":..,"total_tokens":..,"prompt_tokens_details":
 * {"cached_tokens":..,"cache_write_tokens":..}} with five 20-character numbers. */
#define USAGE_MAX 224

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

/* One code point of a decoded string, escaped as both serialisers do: \" \\ \b \f \n \r \t,
 * other controls as \u00xx in the given hex case, everything else as UTF-8. */
static char *put_cp(char *d, uint32_t cp, const char *hex)
{
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

/* Raw bytes (a decoded C string) escaped: at most 6 bytes per input byte. */
static char *put_escaped(char *d, const char *s, size_t n, const char *hex)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\')
            d = put_cp(d, c, hex);
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

/* The inside of a validated string token (no quotes), re-escaped in place of the slow path's
 * decode + escape. Never longer than the input. */
static char *put_transcoded(char *d, const char *p, size_t n, const char *hex)
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
        d = put_cp(d, cp, hex);
    }
    return put(d, p, n);
}

/* A validated string token (with its quotes) as the slow path would write its value. */
static char *put_string(char *d, sy_str_t tok, const char *hex)
{
    if (!memchr(tok.ptr, '\\', tok.len)) return put(d, tok.ptr, tok.len);
    *d++ = '"';
    d = put_transcoded(d, tok.ptr + 1, tok.len - 2, hex);
    *d++ = '"';
    return d;
}

/* Space for n bytes (plus the spare byte, see DESIGN); NULL when the buffer cannot take it. */
static char *room(sy_buf_t *out, size_t n)
{
    sy_err_t err;
    return sy_buf_reserve(out, n + 1, &err);
}

/* ---------------------------------------------------------------- reading */

typedef struct pick {
    const sy_str_t *names;
    size_t n;
    sy_str_t *vals;
    bool bad;
} pick_t;

static bool on_pick(void *ctx, const sy_json_member_t *m)
{
    pick_t *p = ctx;
    if (m->key_escaped) { /* "te\u0078t" is "text" to jansson */
        p->bad = true;
        return false;
    }
    for (size_t i = 0; i < p->n; i++) {
        if (m->key.len == p->names[i].len && !memcmp(m->key.ptr, p->names[i].ptr, m->key.len)) {
            if (p->vals[i].ptr) { /* a duplicate: jansson's last-wins is the slow path's job */
                p->bad = true;
                return false;
            }
            p->vals[i] = m->value;
            break;
        }
    }
    return true;
}

/* The members `names` of a validated object (value token or whole document) -> vals (ptr NULL
 * when absent); *end (may be NULL) receives the offset just past the closing '}'. False when it
 * is not an object, has an escaped key, or repeats a picked key. */
static bool pick(sy_str_t obj, const sy_str_t *names, size_t n, sy_str_t *vals, size_t *end)
{
    for (size_t i = 0; i < n; i++)
        vals[i] = SY_STR_NULL;
    pick_t c = {names, n, vals, false};
    size_t close;
    if (!sy_json_scan_object(obj.ptr, obj.len, on_pick, &c, &close) || c.bad) return false;
    if (end) *end = close + 1;
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

static inline bool has_escape(sy_str_t v)
{
    return memchr(v.ptr, '\\', v.len) != NULL;
}

/* A string token without escapes equals lit. */
static inline bool str_is(sy_str_t tok, const char *lit, size_t n)
{
    return tok.len == n + 2 && !memcmp(tok.ptr + 1, lit, n);
}

#define DATA_IS(v, lit) ((v).len == sizeof(lit) - 1 && !memcmp((v).ptr, (lit), sizeof(lit) - 1))

#define STR_IS(tok, lit) str_is((tok), (lit), sizeof(lit) - 1)

/* A JSON integer token -> *v. False for reals and non-numbers, which jansson's json_is_integer
 * rejects too, and for integers past int64 (more than 19 digits, or overflowing). The events are
 * validated first (sy_jsonv_validate refuses such integers as jansson does), but the count scan
 * does not rely on it: a wrapped count could slip under SY_CAPTURE_TOKENS_MAX. */
static bool int_token(sy_str_t t, int64_t *v)
{
    return sy_str_to_i64(t, v);
}

/* read_usage() of anthropic_fmt.c: non-negative integer counts replace the ones in *r. */
static bool read_usage(sy_str_t usage, raw_usage_t *r)
{
    static const sy_str_t names[] = {
        SY_STR_LIT("input_tokens"),
        SY_STR_LIT("output_tokens"),
        SY_STR_LIT("cache_read_input_tokens"),
        SY_STR_LIT("cache_creation_input_tokens"),
    };
    sy_str_t v[4];
    if (!pick(usage, names, 4, v, NULL)) return false;
    int64_t *dst[4] = {&r->input, &r->output, &r->cache_read, &r->cache_write};
    for (int i = 0; i < 4; i++) {
        int64_t x;
        if (v[i].ptr && int_token(v[i], &x) && x >= 0) *dst[i] = x;
    }
    return true;
}

/* A decoded, NUL-terminated copy of a validated string token. */
static char *decode_dup(sy_str_t tok)
{
    char *s = sy_xmalloc(tok.len);
    size_t n = tok.len - 2;
    if (!has_escape(tok))
        memcpy(s, tok.ptr + 1, n);
    else if (!sy_jsonv_string_decode(tok, s, tok.len, &n))
        n = 0; /* unreachable for validated tokens */
    s[n] = '\0';
    return s;
}

static char *put_usage(char *d, const sy_fmt_usage_t *u)
{
    d = PUT_LIT(d, "{\"prompt_tokens\":");
    d = put_i64(d, u->prompt_tokens);
    d = PUT_LIT(d, ",\"completion_tokens\":");
    d = put_i64(d, u->completion_tokens);
    d = PUT_LIT(d, ",\"total_tokens\":");
    d = put_i64(d, (int64_t)((uint64_t)u->prompt_tokens + (uint64_t)u->completion_tokens));
    d = PUT_LIT(d, ",\"prompt_tokens_details\":{\"cached_tokens\":");
    d = put_i64(d, u->cached_tokens);
    d = PUT_LIT(d, ",\"cache_write_tokens\":");
    d = put_i64(d, u->cache_write_tokens);
    return PUT_LIT(d, "}}");
}

/* ---------------------------------------------------------------- response */

#define MAX_PIECES 16

typedef struct pieces {
    sy_str_t tok[MAX_PIECES]; /* string tokens, quotes included */
    size_t n, bytes;
    bool nonempty;
} pieces_t;

static bool add_piece(pieces_t *p, sy_str_t tok)
{
    if (p->n == MAX_PIECES) return false;
    p->tok[p->n++] = tok;
    p->bytes += tok.len;
    if (tok.len > 2) p->nonempty = true;
    return true;
}

/* The concatenated values as one JSON string, escaped as jansson writes it. */
static char *put_pieces(char *d, const pieces_t *p)
{
    *d++ = '"';
    for (size_t i = 0; i < p->n; i++) {
        sy_str_t t = p->tok[i];
        if (has_escape(t))
            d = put_transcoded(d, t.ptr + 1, t.len - 2, hex_upper);
        else
            d = put(d, t.ptr + 1, t.len - 2);
    }
    *d++ = '"';
    return d;
}

/* The content array: text and thinking blocks collected, other block types skipped; false for a
 * tool_use block or anything the slow path might read differently. */
static bool read_content(sy_str_t arr, pieces_t *text, pieces_t *thinking)
{
    static const sy_str_t names[] = {SY_STR_LIT("type"), SY_STR_LIT("text"),
                                     SY_STR_LIT("thinking")};
    const char *p = arr.ptr;
    size_t n = arr.len, i = 1;
    for (;;) {
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
            i++;
        if (i >= n) return false;
        if (p[i] == ']') return true;
        if (p[i] == ',') {
            i++;
            continue;
        }
        if (p[i] != '{') return false; /* a non-object element: rare, left to jansson */
        sy_str_t v[3];
        size_t end;
        if (!pick(sy_str(p + i, n - i), names, 3, v, &end)) return false;
        i += end;
        if (!is_string(v[0])) continue; /* no type: skipped */
        if (has_escape(v[0])) return false;
        if (STR_IS(v[0], "text")) {
            if (is_string(v[1]) && !add_piece(text, v[1])) return false;
        } else if (STR_IS(v[0], "thinking")) {
            if (is_string(v[2]) && !add_piece(thinking, v[2])) return false;
        } else if (STR_IS(v[0], "tool_use")) {
            return false;
        }
    }
}

bool sy_anthropic_fast_response(const char *body, size_t len, const sy_fmt_resp_opts_t *o,
                                sy_buf_t *out, sy_fmt_usage_t *usage, sy_err_t *err)
{
    static const sy_str_t names[] = {SY_STR_LIT("id"),          SY_STR_LIT("type"),
                                     SY_STR_LIT("model"),       SY_STR_LIT("content"),
                                     SY_STR_LIT("stop_reason"), SY_STR_LIT("usage")};
    enum { ID, TYPE, MODEL, CONTENT, STOP, USAGE };
    sy_str_t v[6];
    if (!sy_jsonv_validate(body, len, NULL) || !pick(sy_str(body, len), names, 6, v, NULL))
        return false;
    if (!v[CONTENT].len || v[CONTENT].ptr[0] != '[') return false;
    if (is_string(v[TYPE]) && (has_escape(v[TYPE]) || !STR_IS(v[TYPE], "message"))) return false;
    char stop[32];
    const char *stopp = NULL;
    if (is_string(v[STOP])) {
        if (has_escape(v[STOP])) return false;
        size_t sn = v[STOP].len - 2;
        if (sn >= sizeof stop) sn = sizeof stop - 1; /* longer than any name we map: "stop" */
        memcpy(stop, v[STOP].ptr + 1, sn);
        stop[sn] = '\0';
        stopp = stop;
    }
    pieces_t text = {.n = 0}, thinking = {.n = 0};
    if (!read_content(v[CONTENT], &text, &thinking)) return false;
    raw_usage_t r = {0, 0, 0, 0};
    bool has_usage = is_object(v[USAGE]);
    if (has_usage && !read_usage(v[USAGE], &r)) return false;

    const char *fid = o->id ? o->id : "", *fmodel = o->model ? o->model : "";
    size_t fid_len = strlen(fid), fmodel_len = strlen(fmodel);
    size_t max = 256 + USAGE_MAX + text.bytes + thinking.bytes;
    max += is_string(v[ID]) ? v[ID].len : 6 * fid_len + 2;
    max += is_string(v[MODEL]) ? v[MODEL].len : 6 * fmodel_len + 2;
    char *d0 = room(out, max);
    if (!d0) return false;

    char *d = PUT_LIT(d0, "{\"id\":");
    if (is_string(v[ID])) {
        d = put_string(d, v[ID], hex_upper);
    } else {
        *d++ = '"';
        d = put_escaped(d, fid, fid_len, hex_upper);
        *d++ = '"';
    }
    d = PUT_LIT(d, ",\"object\":\"chat.completion\",\"created\":");
    d = put_i64(d, o->created);
    d = PUT_LIT(d, ",\"model\":");
    if (is_string(v[MODEL])) {
        d = put_string(d, v[MODEL], hex_upper);
    } else {
        *d++ = '"';
        d = put_escaped(d, fmodel, fmodel_len, hex_upper);
        *d++ = '"';
    }
    d = PUT_LIT(d, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    d = put_pieces(d, &text); /* without tool calls the content is a string even if empty */
    if (thinking.nonempty) {
        d = PUT_LIT(d, ",\"reasoning_content\":");
        d = put_pieces(d, &thinking);
    }
    d = PUT_LIT(d, ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"");
    const char *fr = sy_anthropic_finish_reason(stopp, false);
    d = put(d, fr, strlen(fr));
    d = PUT_LIT(d, "\"}]");
    if (usage) *usage = SY_FMT_USAGE_UNKNOWN;
    if (has_usage) {
        sy_fmt_usage_t mu = sy_anthropic_map_usage(&r);
        if (usage) *usage = mu;
        d = PUT_LIT(d, ",\"usage\":");
        d = put_usage(d, &mu);
    }
    *d++ = '}';
    out->len = (size_t)(d - out->base);
    *err = SY_OK;
    return true;
}

/* ---------------------------------------------------------------- stream */

#define CHOICES "\"choices\":[{\"index\":0,\"delta\":"

/* s->prefix exactly as chunk_prefix() in anthropic_fmt.c serialises it with jansson, and the
 * head of every chunk frame built from it. */
static void make_head(sy_anthropic_stream_t *s)
{
    if (s->head) return;
    if (!s->prefix) {
        size_t il = strlen(s->id), ml = strlen(s->model);
        char *p = sy_xmalloc(128 + 6 * (il + ml)), *d = p;
        d = PUT_LIT(d, "{\"id\":\"");
        d = put_escaped(d, s->id, il, hex_upper);
        d = PUT_LIT(d, "\",\"object\":\"chat.completion.chunk\",\"created\":");
        d = put_i64(d, s->created);
        d = PUT_LIT(d, ",\"model\":\"");
        d = put_escaped(d, s->model, ml, hex_upper);
        d = PUT_LIT(d, "\",");
        *d = '\0';
        s->prefix = p;
    }
    size_t pl = strlen(s->prefix);
    char *h = sy_xmalloc(6 + pl + sizeof CHOICES), *d = h;
    d = PUT_LIT(d, "data: ");
    d = put(d, s->prefix, pl);
    d = PUT_LIT(d, CHOICES);
    *d = '\0';
    s->head = h;
    s->head_len = (size_t)(d - h);
}

/* The end of a frame, after its delta: what chunk() in anthropic_fmt.c prints. */
static char *put_tail(const sy_anthropic_stream_t *s, char *d, const char *finish)
{
    d = PUT_LIT(d, ",\"logprobs\":null,\"finish_reason\":");
    if (finish) {
        *d++ = '"';
        d = put(d, finish, strlen(finish));
        *d++ = '"';
    } else {
        d = PUT_LIT(d, "null");
    }
    d = PUT_LIT(d, "}]");
    if (s->include_usage) d = PUT_LIT(d, ",\"usage\":null");
    return PUT_LIT(d, "}\n\n");
}

/* A whole frame with a literal delta. */
static char *put_frame(const sy_anthropic_stream_t *s, char *d, const char *delta, size_t n,
                       const char *finish)
{
    d = put(d, s->head, s->head_len);
    d = put(d, delta, n);
    return put_tail(s, d, finish);
}

#define ROLE_DELTA "{\"role\":\"assistant\",\"content\":\"\"}"

/* start() of anthropic_fmt.c; room for one frame must be reserved. */
static char *put_start(sy_anthropic_stream_t *s, char *d)
{
    if (s->started) return d;
    s->started = true;
    return put_frame(s, d, ROLE_DELTA, sizeof ROLE_DELTA - 1, NULL);
}

static size_t frame_max(const sy_anthropic_stream_t *s)
{
    return s->head_len + WRAP_MAX + TAIL_MAX;
}

static bool done_ok(sy_err_t *err)
{
    *err = SY_OK;
    return true;
}

static bool commit(sy_buf_t *out, const char *d, sy_err_t *err)
{
    out->len = (size_t)(d - out->base);
    return done_ok(err);
}

/* The data of a known event is a JSON object: the slow path's json_loadb + json_is_object. */
static bool valid_object(sy_str_t data)
{
    size_t i = 0;
    while (i < data.len && (data.ptr[i] == ' ' || data.ptr[i] == '\t' || data.ptr[i] == '\n' ||
                            data.ptr[i] == '\r'))
        i++;
    return i < data.len && data.ptr[i] == '{' && sy_jsonv_validate(data.ptr, data.len, NULL);
}

enum { D_TEXT, D_THINKING, D_INPUT_JSON, D_OTHER };

/* The byte shape Anthropic sends, {"type":"content_block_delta","index":N,"delta":{"type":
 * "text_delta","text":"..."}} (or thinking_delta / input_json_delta), matched literally: no
 * member scan, and only the delta object needs validating (the rest is literal bytes and a
 * plain integer). False: any other shape, left to the member scan. */
static bool match_delta(sy_str_t data, int64_t *index, int *kind, sy_str_t *tok)
{
    static const char head[] = "{\"type\":\"content_block_delta\",\"index\":";
    static const char mid[] = ",\"delta\":";
    static const struct {
        const char *lit;
        size_t len;
    } inner[] = {
        {"{\"type\":\"text_delta\",\"text\":", sizeof "{\"type\":\"text_delta\",\"text\":" - 1},
        {"{\"type\":\"thinking_delta\",\"thinking\":",
         sizeof "{\"type\":\"thinking_delta\",\"thinking\":" - 1},
        {"{\"type\":\"input_json_delta\",\"partial_json\":",
         sizeof "{\"type\":\"input_json_delta\",\"partial_json\":" - 1},
    };
    const char *p = data.ptr, *end = data.ptr + data.len;
    if (data.len < sizeof head || memcmp(p, head, sizeof head - 1)) return false;
    p += sizeof head - 1;
    const char *digits = p;
    uint64_t u = 0;
    while (p < end && (unsigned)(*p - '0') < 10)
        u = u * 10 + (unsigned)(*p++ - '0');
    size_t nd = (size_t)(p - digits);
    if (nd == 0 || nd > 18 || (nd > 1 && *digits == '0')) return false; /* 18 digits fit int64 */
    if ((size_t)(end - p) < sizeof mid - 1 || memcmp(p, mid, sizeof mid - 1)) return false;
    p += sizeof mid - 1;
    const char *obj = p;
    int k;
    for (k = 0; k < 3; k++)
        if ((size_t)(end - p) > inner[k].len && !memcmp(p, inner[k].lit, inner[k].len)) break;
    if (k == 3) return false;
    p += inner[k].len;
    if (*p != '"') return false;
    /* the closing quote: the first '"' not preceded by an odd run of backslashes */
    const char *q = p + 1;
    for (;;) {
        q = memchr(q, '"', (size_t)(end - q));
        if (!q) return false;
        const char *b = q;
        while (b > p + 1 && b[-1] == '\\')
            b--;
        if (((q - b) & 1) == 0) break;
        q++;
    }
    if (end - q != 3 || q[1] != '}' || q[2] != '}') return false;
    if (!sy_jsonv_validate(obj, (size_t)(end - 1 - obj), NULL)) return false;
    *index = (int64_t)u;
    *kind = k;
    *tok = sy_str(p, (size_t)(q + 1 - p));
    return true;
}

/* content_block_delta by member scan: reordered or extra keys, whitespace. */
static bool scan_delta(sy_str_t data, int64_t *index, int *kind, sy_str_t *tok)
{
    static const sy_str_t ev_names[] = {SY_STR_LIT("index"), SY_STR_LIT("delta")};
    static const sy_str_t names[] = {SY_STR_LIT("type"), SY_STR_LIT("text"), SY_STR_LIT("thinking"),
                                     SY_STR_LIT("partial_json")};
    sy_str_t ev[2], v[4];
    if (!valid_object(data) || !pick(data, ev_names, 2, ev, NULL) || !int_token(ev[0], index) ||
        !is_object(ev[1]))
        return false;
    if (!pick(ev[1], names, 4, v, NULL) || !is_string(v[0]) || has_escape(v[0])) return false;
    if (STR_IS(v[0], "text_delta"))
        *kind = D_TEXT;
    else if (STR_IS(v[0], "thinking_delta"))
        *kind = D_THINKING;
    else if (STR_IS(v[0], "input_json_delta"))
        *kind = D_INPUT_JSON;
    else
        *kind = D_OTHER;
    *tok = *kind == D_OTHER ? SY_STR_NULL : v[1 + *kind];
    /* a delta whose value is not a string makes the slow path try the other types: left to it */
    return *kind == D_OTHER || is_string(*tok);
}

static bool fast_block_delta(sy_anthropic_stream_t *s, sy_str_t data, sy_buf_t *out, sy_err_t *err)
{
    int64_t index;
    int kind;
    sy_str_t val;
    if (!match_delta(data, &index, &kind, &val) && !scan_delta(data, &index, &kind, &val))
        return false;
    block_t *b = sy_anthropic_stream_find_block(s, index);
    if (!b || kind == D_OTHER) return done_ok(err); /* signature_delta, citations_delta, new */
    const char *key = NULL; /* delta member; NULL: a tool_calls arguments fragment */
    size_t key_len = 0;
    if (kind == D_TEXT)
        key = "content";
    else if (kind == D_THINKING)
        key = "reasoning_content";
    else if (b->kind == B_FORMAT)
        key = "content";
    if (val.len == 2) return done_ok(err); /* empty fragments are skipped */
    if (!key && b->kind != B_TOOL) return done_ok(err);
    make_head(s);
    char *d = room(out, frame_max(s) + val.len);
    if (!d) return false;
    d = put(d, s->head, s->head_len);
    if (key) {
        key_len = strlen(key);
        *d++ = '{';
        *d++ = '"';
        d = put(d, key, key_len);
        *d++ = '"';
        *d++ = ':';
        d = put_string(d, val, hex_lower);
        *d++ = '}';
    } else {
        d = PUT_LIT(d, "{\"tool_calls\":[{\"index\":");
        d = put_i64(d, b->tool);
        d = PUT_LIT(d, ",\"function\":{\"arguments\":");
        d = put_string(d, val, hex_lower);
        d = PUT_LIT(d, "}}]}");
    }
    d = put_tail(s, d, NULL);
    return commit(out, d, err);
}

static bool fast_block_start(sy_anthropic_stream_t *s, sy_str_t data, sy_buf_t *out, sy_err_t *err)
{
    static const sy_str_t ev_names[] = {SY_STR_LIT("index"), SY_STR_LIT("content_block")};
    static const sy_str_t type_name = SY_STR_LIT("type");
    sy_str_t ev[2], type;
    block_t b = {0, B_OTHER, -1};
    if (!pick(data, ev_names, 2, ev, NULL) || !int_token(ev[0], &b.index) || !is_object(ev[1]) ||
        !pick(ev[1], &type_name, 1, &type, NULL))
        return false;
    if (is_string(type)) {
        if (has_escape(type) || STR_IS(type, "tool_use")) return false;
        if (STR_IS(type, "text"))
            b.kind = B_TEXT;
        else if (STR_IS(type, "thinking"))
            b.kind = B_THINKING;
    }
    char *d = NULL;
    if (!s->started) {
        make_head(s);
        if (!(d = room(out, frame_max(s)))) return false;
        d = put_start(s, d);
    }
    sy_anthropic_stream_push_block(s, b);
    return d ? commit(out, d, err) : done_ok(err);
}

static bool fast_message_start(sy_anthropic_stream_t *s, sy_str_t data, sy_buf_t *out,
                               sy_err_t *err)
{
    static const sy_str_t ev_name = SY_STR_LIT("message");
    static const sy_str_t names[] = {SY_STR_LIT("id"), SY_STR_LIT("model"), SY_STR_LIT("usage")};
    sy_str_t m, v[3];
    if (!pick(data, &ev_name, 1, &m, NULL) || !is_object(m) || !pick(m, names, 3, v, NULL))
        return false;
    raw_usage_t raw = s->raw;
    bool has_usage = is_object(v[2]);
    if (has_usage && !read_usage(v[2], &raw)) return false;
    char *d = NULL;
    if (!s->started) {
        /* the prefix is rendered after the commit point: reserve for its longest form */
        size_t idl = is_string(v[0]) ? v[0].len : strlen(s->id);
        size_t ml = is_string(v[1]) ? v[1].len : strlen(s->model);
        if (!(d = room(out, 256 + 6 * (idl + ml) + WRAP_MAX + TAIL_MAX))) return false;
        if (is_string(v[0])) {
            free(s->id);
            s->id = decode_dup(v[0]);
        }
        if (is_string(v[1])) {
            free(s->model);
            s->model = decode_dup(v[1]);
        }
        free(s->prefix);
        s->prefix = NULL;
        free(s->head);
        s->head = NULL;
        make_head(s);
    }
    if (has_usage) {
        s->raw = raw;
        s->usage = sy_anthropic_map_usage(&s->raw);
    }
    if (!d) return done_ok(err);
    d = put_start(s, d);
    return commit(out, d, err);
}

static bool fast_message_delta(sy_anthropic_stream_t *s, sy_str_t data, sy_buf_t *out,
                               sy_err_t *err)
{
    static const sy_str_t ev_names[] = {SY_STR_LIT("delta"), SY_STR_LIT("usage")};
    static const sy_str_t stop_name = SY_STR_LIT("stop_reason");
    sy_str_t ev[2], st = SY_STR_NULL;
    if (!pick(data, ev_names, 2, ev, NULL)) return false;
    if (is_object(ev[0]) && !pick(ev[0], &stop_name, 1, &st, NULL)) return false;
    raw_usage_t raw = s->raw;
    bool has_usage = is_object(ev[1]);
    if (has_usage && !read_usage(ev[1], &raw)) return false;
    char stop[32];
    bool emit = is_string(st) && !s->finished;
    char *d = NULL;
    if (emit) {
        if (has_escape(st)) return false;
        size_t sn = st.len - 2;
        if (sn >= sizeof stop) sn = sizeof stop - 1; /* longer than any name we map: "stop" */
        memcpy(stop, st.ptr + 1, sn);
        stop[sn] = '\0';
        make_head(s);
        if (!(d = room(out, 2 * frame_max(s)))) return false;
    }
    if (has_usage) { /* output_tokens is cumulative; input/cache may be restated */
        s->raw = raw;
        s->usage = sy_anthropic_map_usage(&s->raw);
    }
    if (!emit) return done_ok(err);
    d = put_start(s, d);
    s->finished = true;
    d = put_frame(s, d, "{}", 2, sy_anthropic_finish_reason(stop, s->n_tools > 0));
    return commit(out, d, err);
}

static bool fast_message_stop(sy_anthropic_stream_t *s, sy_buf_t *out, sy_err_t *err)
{
    make_head(s);
    size_t pl = s->head_len - (sizeof "data: " - 1) - (sizeof CHOICES - 1);
    char *d = room(out, 2 * frame_max(s) + pl + 64 + USAGE_MAX);
    if (!d) return false;
    d = put_start(s, d);
    if (!s->finished) {
        s->finished = true;
        d = put_frame(s, d, "{}", 2, "stop");
    }
    if (s->include_usage) {
        sy_fmt_usage_t u = s->usage;
        if (u.prompt_tokens < 0) u = sy_anthropic_map_usage(&s->raw);
        d = PUT_LIT(d, "data: ");
        d = put(d, s->prefix, pl);
        d = PUT_LIT(d, "\"choices\":[],\"usage\":");
        d = put_usage(d, &u);
        d = PUT_LIT(d, "}\n\n");
    }
    d = PUT_LIT(d, "data: [DONE]\n\n");
    s->done = true;
    return commit(out, d, err);
}

bool sy_anthropic_fast_event(sy_anthropic_stream_t *s, sy_str_t type, sy_str_t data, sy_buf_t *out,
                             sy_err_t *err)
{
    if (s->done) return done_ok(err);
    if (type.len == 4 && !memcmp(type.ptr, "ping", 4)) return done_ok(err);
    if (sy_str_eq_c(type, "content_block_delta")) return fast_block_delta(s, data, out, err);
    if (DATA_IS(data, "{\"type\":\"content_block_stop\",\"index\":0}") ||
        DATA_IS(data, "{\"type\":\"message_stop\"}")) {
        /* the exact bytes Anthropic sends: valid, nothing to read */
    } else if (!valid_object(data)) {
        return false;
    }
    if (sy_str_eq_c(type, "content_block_stop")) return done_ok(err);
    if (sy_str_eq_c(type, "content_block_start")) return fast_block_start(s, data, out, err);
    if (sy_str_eq_c(type, "message_start")) return fast_message_start(s, data, out, err);
    if (sy_str_eq_c(type, "message_delta")) return fast_message_delta(s, data, out, err);
    if (sy_str_eq_c(type, "message_stop")) return fast_message_stop(s, out, err);
    return false; /* error, the unnamed "message" and new event types */
}
