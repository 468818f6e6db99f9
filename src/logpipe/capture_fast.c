/* The capture's fast path: common events read without a jansson tree (see the block below and
 * docs/internals/CAPTURE.md). Split from capture.c; the extraction state is in capture_int.h. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/jsonv.h"
#include "logpipe/capture_int.h"

/* ---------------------------------------------------------------- fast path (writer thread)
 *
 * The common events (OpenAI chunks with content / reasoning / tool call deltas, finish and usage
 * chunks; Anthropic message_start, content_block_start/delta/stop, message_delta, ping) are read
 * without a jansson tree: the data is checked once with sy_jsonv_validate (exactly json_loadb's
 * acceptance, so what jansson rejects still goes to the slow path and counts in n_bad), then
 * walked once in the manner of sy_json_scan_object (members as byte views, but descending into
 * choices / delta / tool_calls in the same pass instead of skipping them first, and strings
 * skipped eight bytes at a time), and strings are decoded only when they hold a backslash
 * (sy_jsonv_string_decode: the same UTF-8 as jansson, surrogate pairs included). The event is read
 * whole into a short list of actions before anything changes, so a decline (an escaped key, a
 * duplicated key we read — jansson keeps the last —, an escaped "type", a tool_use with a non-empty
 * input, a "message" event, more actions than fit) leaves the state untouched and the jansson code
 * runs for that event. OpenAI chunks repeat their envelope (the members before "choices"): see
 * fast_doc. Equality with the slow path is checked by tests/unit/test_capture.c (diff_capture,
 * fast_path_variants). */

typedef enum {
    OP_TEXT,       /* append tok to the text */
    OP_REASONING,  /* append tok to the reasoning */
    OP_ID,         /* set_once id */
    OP_MODEL,      /* set_once model */
    OP_FINISH,     /* set_last finish_reason */
    OP_SLOT,       /* sy_capture_slot_of(slot) (created, kind unchanged) */
    OP_KIND,       /* sy_capture_slot_of(slot)->kind = kind */
    OP_DELTA,      /* sy_capture_slot_of(slot): kind TOOL, has_delta */
    OP_SLOT_ID,    /* set_once slot id */
    OP_SLOT_NAME,  /* set_once slot name */
    OP_SLOT_ARGS,  /* append tok to the slot's arguments */
    OP_SLOT_INPUT, /* append tok (an object) to the slot's arguments as json_dumps writes it */
} op_kind_t;

typedef struct op {
    op_kind_t op;
    int slot;
    block_kind_t kind;
    sy_str_t tok; /* a validated string token, quotes included */
} op_t;

#define MAX_OPS 256 /* a reply's tool calls: four each */

typedef struct fast {
    op_t ops[MAX_OPS];
    int n;
    bool bad;
    bool escapes; /* the data holds a backslash somewhere (else no key needs a check) */
    bool reply;   /* a whole reply: OpenAI choices carry "message" instead of "delta" */
} fast_t;

static void add(fast_t *f, op_kind_t op, int slot, block_kind_t kind, sy_str_t tok)
{
    if (f->n == MAX_OPS) {
        f->bad = true;
        return;
    }
    f->ops[f->n++] = (op_t){op, slot, kind, tok};
}

static inline bool tok_string(sy_str_t v)
{
    return v.ptr && v.len >= 2 && v.ptr[0] == '"';
}

static inline bool tok_object(sy_str_t v)
{
    return v.ptr && v.len && v.ptr[0] == '{';
}

/* A string token, when it is one, as an op (json_is_string guards of the slow path). */
static void add_str(fast_t *f, op_kind_t op, int slot, sy_str_t v)
{
    if (tok_string(v)) add(f, op, slot, BLOCK_NONE, v);
}

/* get_count() on tokens: a non-negative integer replaces *dst. */
static bool tok_count(sy_str_t t, int64_t *dst)
{
    int64_t v;
    if (!sy_str_to_i64(t, &v) || v < 0 || v > SY_CAPTURE_TOKENS_MAX) return false;
    *dst = v;
    return true;
}

/* slot_at(): the slot number of an index token, -1 when it is not an integer in range. */
static int tok_slot(sy_str_t t)
{
    int64_t v;
    return sy_str_to_i64(t, &v) && v >= 0 && v < MAX_SLOTS ? (int)v : -1;
}

#define WS_MASK (1ull << ' ' | 1ull << '\t' | 1ull << '\n' | 1ull << '\r')

static inline const char *ws(const char *p, const char *e)
{
    while (p < e && (unsigned char)*p <= ' ' && (1ull << (unsigned char)*p & WS_MASK))
        p++;
    return p;
}

#define ONES 0x0101010101010101ull

/* Bits 0x80 set in the bytes of w equal to the byte in b (times ONES); exact for the lowest
 * such byte, which is all we use. */
static inline uint64_t bytes_eq(uint64_t w, uint64_t b)
{
    w ^= b;
    return (w - ONES) & ~w & (ONES << 7);
}

/* p at the opening '"' of a validated string: just past its closing quote. Eight bytes at a time
 * (the first '"' or '\\' of a word found by bit tricks), the rest byte by byte. */
static const char *skip_str(const char *p, const char *e)
{
    p++;
    for (;;) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        while (e - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            uint64_t m = bytes_eq(w, ONES * '"') | bytes_eq(w, ONES * '\\');
            if (m) {
                p += __builtin_ctzll(m) >> 3;
                goto hit;
            }
            p += 8;
        }
#endif
        while (p < e && *p != '"' && *p != '\\')
            p++;
        if (p >= e) return e;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    hit:
#endif
        if (*p == '"') return p + 1;
        p += 2; /* an escape: the backslash and the byte it escapes */
    }
}

static const char *skip_val(const char *p, const char *e)
{
    if (p < e && *p == '"') return skip_str(p, e);
    if (p < e && (*p == '{' || *p == '[')) {
        int depth = 0;
        while (p < e) {
            char ch = *p;
            if (ch == '"') {
                p = skip_str(p, e);
                continue;
            }
            if (ch == '{' || ch == '[')
                depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return e;
    }
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' &&
           *p != '\r')
        p++;
    return p;
}

/* A position in a validated array or object token. */
typedef struct iter {
    const char *p, *e;
} iter_t;

/* Members of a validated object: it->p after '{' or after the previous member's value. Stops
 * at the key's value (*val) without skipping it: the caller sets it->p past the value, by
 * skip_val or by reading it. At the end it->p is just past the '}'. Sets f->bad on an escaped
 * key (it may decode to a name we read). */
static bool next_member(fast_t *f, iter_t *it, sy_str_t *key, const char **val)
{
    const char *p = ws(it->p, it->e);
    if (p < it->e && *p == ',') p = ws(p + 1, it->e);
    if (p >= it->e || *p != '"') {
        it->p = p < it->e ? p + 1 : it->e;
        return false;
    }
    const char *ke = skip_str(p, it->e);
    *key = sy_str(p + 1, (size_t)(ke - p - 2));
    if (f->escapes && memchr(key->ptr, '\\', key->len)) {
        f->bad = true;
        return false;
    }
    *val = ws(ws(ke, it->e) + 1, it->e); /* past the ':' */
    return true;
}

/* Which of names[0..n) key is, -1 if none; a repeat (bit already in *seen) sets f->bad:
 * jansson keeps the last, that is the slow path's job. */
static int which(fast_t *f, sy_str_t k, const sy_str_t *names, int n, unsigned *seen)
{
    for (int i = 0; i < n; i++) {
        if (k.len == names[i].len && k.ptr[0] == names[i].ptr[0] &&
            !memcmp(k.ptr, names[i].ptr, k.len)) {
            if (*seen & 1u << i) f->bad = true;
            *seen |= 1u << i;
            return i;
        }
    }
    return -1;
}

/* The members names[0..n) of v -> vals (ptr NULL when absent); all absent when v is not an
 * object (json_object_get on a non-object is NULL). */
static void pick(fast_t *f, sy_str_t v, const sy_str_t *names, int n, sy_str_t *vals)
{
    for (int i = 0; i < n; i++)
        vals[i] = SY_STR_NULL;
    if (f->bad || !tok_object(v)) return;
    iter_t it = {v.ptr + 1, v.ptr + v.len};
    sy_str_t k;
    const char *q;
    unsigned seen = 0;
    while (!f->bad && next_member(f, &it, &k, &q)) {
        it.p = skip_val(q, it.e);
        int w = which(f, k, names, n, &seen);
        if (w >= 0) vals[w] = sy_str(q, (size_t)(it.p - q));
    }
}

#define K(s)                                                                                       \
    {                                                                                              \
        (s), sizeof(s) - 1                                                                         \
    }
#define PICK(f, v, vals, ...)                                                                      \
    do {                                                                                           \
        static const sy_str_t names_[] = {__VA_ARGS__};                                            \
        pick((f), (v), names_, (int)(sizeof names_ / sizeof names_[0]), (vals));                   \
    } while (0)

/* -------- OpenAI, read */

static void fast_openai_usage(fast_t *f, sy_str_t u, sy_fmt_usage_t *o, bool *found)
{
    enum { PROMPT, COMPLETION, PD, CD };
    sy_str_t v[4], pd[2], cd[1];
    if (!tok_object(u)) return;
    PICK(f, u, v, K("prompt_tokens"), K("completion_tokens"), K("prompt_tokens_details"),
         K("completion_tokens_details"));
    PICK(f, v[PD], pd, K("cached_tokens"), K("cache_write_tokens"));
    PICK(f, v[CD], cd, K("reasoning_tokens"));
    if (f->bad) return;
    bool any = tok_count(v[PROMPT], &o->prompt_tokens);
    any |= tok_count(v[COMPLETION], &o->completion_tokens);
    tok_count(pd[0], &o->cached_tokens);
    tok_count(pd[1], &o->cache_write_tokens);
    tok_count(cd[0], &o->reasoning_tokens);
    if (any) *found = true;
}

#define NAMES(...)                                                                                 \
    static const sy_str_t names[] = {__VA_ARGS__};                                                 \
    enum { N_NAMES = sizeof names / sizeof names[0] }

/* Elements of the validated array at p ('['): each object element read by on_obj (which
 * returns the offset past it), other elements by on_other; returns the offset past ']'. */
static const char *each_elem(fast_t *f, const char *p, const char *e,
                             const char *(*on_obj)(fast_t *, const char *, const char *, int),
                             void (*on_other)(fast_t *, int))
{
    p++;
    for (int pos = 0; !f->bad; pos++) {
        p = ws(p, e);
        if (p < e && *p == ',') p = ws(p + 1, e);
        if (p >= e) return e;
        if (*p == ']') return p + 1;
        if (*p == '{') {
            p = on_obj(f, p, e, pos);
        } else {
            p = skip_val(p, e);
            if (on_other) on_other(f, pos);
        }
    }
    return e;
}

/* A tool call that is not an object: openai_tool() on a slot by position, kind only. */
static void openai_tool_other(fast_t *f, int pos)
{
    if (pos < MAX_SLOTS) add(f, OP_KIND, pos, BLOCK_TOOL, SY_STR_NULL);
}

static const char *openai_tool_obj(fast_t *f, const char *p, const char *e, int pos)
{
    NAMES(K("index"), K("id"), K("function"));
    sy_str_t v[N_NAMES] = {SY_STR_NULL, SY_STR_NULL, SY_STR_NULL}, fn[2];
    iter_t it = {p + 1, e};
    sy_str_t k;
    const char *q;
    unsigned seen = 0;
    while (!f->bad && next_member(f, &it, &k, &q)) {
        it.p = skip_val(q, e);
        int w = which(f, k, names, N_NAMES, &seen);
        if (w >= 0) v[w] = sy_str(q, (size_t)(it.p - q));
    }
    int slot = v[0].ptr ? tok_slot(v[0]) : pos < MAX_SLOTS ? pos : -1;
    if (slot < 0) return it.p;
    PICK(f, v[2], fn, K("name"), K("arguments"));
    add(f, OP_KIND, slot, BLOCK_TOOL, SY_STR_NULL);
    add_str(f, OP_SLOT_ID, slot, v[1]);
    add_str(f, OP_SLOT_NAME, slot, fn[0]);
    add_str(f, OP_SLOT_ARGS, slot, fn[1]);
    return it.p;
}

/* choice.delta or choice.message (p at '{'): text and reasoning after the walk, in the slow
 * path's order ("refusal" is not read, as there). */
static const char *openai_message(fast_t *f, const char *p, const char *e)
{
    NAMES(K("content"), K("reasoning_content"), K("reasoning"), K("tool_calls"));
    sy_str_t v[3] = {SY_STR_NULL, SY_STR_NULL, SY_STR_NULL};
    iter_t it = {p + 1, e};
    sy_str_t k;
    const char *q;
    unsigned seen = 0;
    while (!f->bad && next_member(f, &it, &k, &q)) {
        int w = which(f, k, names, N_NAMES, &seen);
        if (w == 3 && *q == '[') {
            it.p = each_elem(f, q, e, openai_tool_obj, openai_tool_other);
        } else {
            it.p = skip_val(q, e);
            if (w >= 0 && w < 3) v[w] = sy_str(q, (size_t)(it.p - q));
        }
    }
    add_str(f, OP_TEXT, -1, v[0]);
    add_str(f, OP_REASONING, -1, v[1]);
    add_str(f, OP_REASONING, -1, v[2]);
    return it.p;
}

/* A choice object: read, then dropped again (ops rolled back) unless it is choice 0. */
static const char *openai_choice_obj(fast_t *f, const char *p, const char *e, int pos)
{
    static const sy_str_t chunk_names[] = {K("index"), K("delta"), K("finish_reason")},
                          reply_names[] = {K("index"), K("message"), K("finish_reason")};
    const sy_str_t *names = f->reply ? reply_names : chunk_names;
    sy_str_t index = SY_STR_NULL, finish = SY_STR_NULL;
    int n0 = f->n;
    iter_t it = {p + 1, e};
    sy_str_t k;
    const char *q;
    unsigned seen = 0;
    while (!f->bad && next_member(f, &it, &k, &q)) {
        int w = which(f, k, names, 3, &seen);
        if (w == 1 && *q == '{') {
            it.p = openai_message(f, q, e);
        } else {
            it.p = skip_val(q, e);
            if (w == 0) index = sy_str(q, (size_t)(it.p - q));
            if (w == 2) finish = sy_str(q, (size_t)(it.p - q));
        }
    }
    int64_t i;
    if (index.ptr ? !sy_str_to_i64(index, &i) || i != 0 : pos != 0) {
        f->n = n0;
        return it.p;
    }
    add_str(f, OP_FINISH, -1, finish);
    return it.p;
}

/* The chunk or reply doc (from '{') read from `from` (just after the '{', or at a member key with
 * the names in `seen` already read before it). *cut receives the offset in doc of the first
 * "choices" or "usage" key when it follows other members only (0 otherwise), *cut_seen the
 * names read before it: the envelope, which the next chunk may repeat byte for byte. */
static void fast_openai(fast_t *f, sy_str_t doc, const char *from, unsigned seen, sy_fmt_usage_t *u,
                        bool *found, size_t *cut, unsigned *cut_seen)
{
    NAMES(K("id"), K("model"), K("choices"), K("usage"));
    sy_str_t v[N_NAMES] = {SY_STR_NULL, SY_STR_NULL, SY_STR_NULL, SY_STR_NULL};
    const char *e = doc.ptr + doc.len;
    iter_t it = {from, e};
    sy_str_t k;
    const char *q;
    bool first = true;
    *cut = 0;
    while (!f->bad && next_member(f, &it, &k, &q)) {
        unsigned before = seen;
        int w = which(f, k, names, N_NAMES, &seen);
        if (w >= 2 && !(before & 12u) && !first && !*cut) {
            *cut = (size_t)(k.ptr - 1 - doc.ptr);
            *cut_seen = before;
        }
        first = false;
        if (w == 2 && *q == '[') {
            it.p = each_elem(f, q, e, openai_choice_obj, NULL);
        } else {
            it.p = skip_val(q, e);
            if (w >= 0) v[w] = sy_str(q, (size_t)(it.p - q));
        }
    }
    add_str(f, OP_ID, -1, v[0]);
    add_str(f, OP_MODEL, -1, v[1]);
    fast_openai_usage(f, v[3], u, found);
}

/* -------- Anthropic, read */

static bool tok_is(sy_str_t t, const char *lit)
{
    size_t n = strlen(lit);
    return t.len == n + 2 && !memcmp(t.ptr + 1, lit, n);
}

static void fast_anthropic_usage(fast_t *f, sy_str_t u, int64_t raw[4])
{
    sy_str_t v[4];
    if (!tok_object(u)) return;
    PICK(f, u, v, K("input_tokens"), K("output_tokens"), K("cache_read_input_tokens"),
         K("cache_creation_input_tokens"));
    if (f->bad) return;
    for (int i = 0; i < 4; i++)
        tok_count(v[i], &raw[i]);
}

/* An object token with no member. */
static bool tok_empty_object(sy_str_t v)
{
    const char *p = ws(v.ptr + 1, v.ptr + v.len);
    return p < v.ptr + v.len && *p == '}';
}

/* A decoded, NUL-terminated copy of a validated string token; *len its length. */
static char *dup_tok_len(sy_str_t tok, size_t *len)
{
    char *s = sy_xmalloc(tok.len);
    size_t n = tok.len - 2;
    if (!memchr(tok.ptr + 1, '\\', n))
        memcpy(s, tok.ptr + 1, n);
    else if (!sy_jsonv_string_decode(tok, s, tok.len, &n))
        n = 0; /* unreachable for validated tokens */
    s[n] = '\0';
    *len = n;
    return s;
}

static char *dup_tok(sy_str_t tok)
{
    size_t n;
    return dup_tok_len(tok, &n);
}

#define MAX_DUMP_DEPTH 32
#define MAX_DUMP_KEYS 64

/* The decoded string s as jansson's dump_string writes it without flags: '"', '\\' and control
 * bytes escaped (\u00XX in upper case), everything else (UTF-8, '/', DEL) as is. */
static void dump_string(sy_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    sy_buf_append_c(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\b' ? "\\b"
                          : c == '\f' ? "\\f"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                                      : NULL;
        if (esc) {
            sy_buf_append_c(b, esc);
        } else if (c < 0x20) {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sy_buf_append(b, u, 6);
        } else {
            sy_buf_append(b, s + i, 1);
        }
    }
    sy_buf_append_c(b, "\"");
}

/* The validated value at p written to out (NULL: only checked) exactly as
 * json_dumps(JSON_COMPACT) writes what json_loadb made of it; returns the byte past the value,
 * or NULL when unsure: a real (jansson reprints it as %.17g), an escaped or repeated key (the
 * first position with the last value), too deep or too many members. */
static const char *dump_compact(const char *p, const char *e, sy_buf_t *out, int depth)
{
    p = ws(p, e);
    if (p >= e) return NULL;
    if (*p == '"') {
        const char *q = skip_str(p, e);
        sy_str_t tok = sy_str(p, (size_t)(q - p));
        if (!out) return q;
        if (!memchr(p, '\\', tok.len)) {
            sy_buf_append(out, p, tok.len); /* raw UTF-8, no control byte: dumped as is */
        } else {
            char *d = dup_tok_len(tok, &tok.len);
            dump_string(out, d, tok.len);
            free(d);
        }
        return q;
    }
    if (*p == '{' || *p == '[') {
        bool obj = *p == '{';
        const char *keys[MAX_DUMP_KEYS];
        size_t klen[MAX_DUMP_KEYS];
        int nk = 0;
        if (depth >= MAX_DUMP_DEPTH) return NULL;
        if (out) sy_buf_append(out, p, 1);
        p = ws(p + 1, e);
        for (bool first = true; p < e && *p != (obj ? '}' : ']'); first = false) {
            if (*p == ',') p = ws(p + 1, e);
            if (out && !first) sy_buf_append_c(out, ",");
            if (obj) {
                const char *ke = skip_str(p, e);
                size_t kl = (size_t)(ke - p);
                if (nk == MAX_DUMP_KEYS || memchr(p, '\\', kl)) return NULL;
                for (int i = 0; i < nk; i++)
                    if (klen[i] == kl && !memcmp(keys[i], p, kl)) return NULL;
                keys[nk] = p, klen[nk++] = kl;
                if (out) {
                    sy_buf_append(out, p, kl);
                    sy_buf_append_c(out, ":");
                }
                p = ws(ke, e) + 1; /* past the ':' */
            }
            p = dump_compact(p, e, out, depth + 1);
            if (!p) return NULL;
            p = ws(p, e);
        }
        if (p >= e) return NULL;
        if (out) sy_buf_append(out, p, 1);
        return p + 1;
    }
    const char *q = skip_val(p, e);
    bool number = *p == '-' || (*p >= '0' && *p <= '9'); /* else true, false, null */
    for (const char *c = p; number && c < q; c++)
        if (*c == '.' || *c == 'e' || *c == 'E') return NULL; /* a real */
    if (out) {
        if (q - p == 2 && p[0] == '-' && p[1] == '0')
            sy_buf_append_c(out, "0"); /* the integer 0 */
        else
            sy_buf_append(out, p, (size_t)(q - p));
    }
    return q;
}

static void fast_anthropic_start(fast_t *f, int slot, sy_str_t b)
{
    sy_str_t v[6];
    if (slot < 0 || !tok_object(b)) return;
    PICK(f, b, v, K("type"), K("text"), K("thinking"), K("id"), K("name"), K("input"));
    if (f->bad || !tok_string(v[0])) return;
    if (memchr(v[0].ptr, '\\', v[0].len)) {
        f->bad = true;
        return;
    }
    if (tok_is(v[0], "text")) {
        add(f, OP_KIND, slot, BLOCK_TEXT, SY_STR_NULL);
        add_str(f, OP_TEXT, -1, v[1]);
    } else if (tok_is(v[0], "thinking")) {
        add(f, OP_KIND, slot, BLOCK_THINKING, SY_STR_NULL);
        add_str(f, OP_REASONING, -1, v[2]);
    } else if (tok_is(v[0], "tool_use")) {
        bool input = tok_object(v[5]) && !tok_empty_object(v[5]);
        if (input && !dump_compact(v[5].ptr, v[5].ptr + v[5].len, NULL, 0)) {
            f->bad = true; /* its json_dumps text is not sure */
            return;
        }
        add(f, OP_KIND, slot, BLOCK_TOOL, SY_STR_NULL);
        add_str(f, OP_SLOT_ID, slot, v[3]);
        add_str(f, OP_SLOT_NAME, slot, v[4]);
        if (input) add(f, OP_SLOT_INPUT, slot, BLOCK_NONE, v[5]);
    }
}

static void fast_anthropic_delta(fast_t *f, int slot, sy_str_t d)
{
    sy_str_t v[4];
    if (slot >= 0) add(f, OP_SLOT, slot, BLOCK_NONE, SY_STR_NULL);
    PICK(f, d, v, K("type"), K("text"), K("thinking"), K("partial_json"));
    if (f->bad || !tok_string(v[0])) return;
    if (memchr(v[0].ptr, '\\', v[0].len)) {
        f->bad = true;
        return;
    }
    if (tok_is(v[0], "text_delta")) {
        add_str(f, OP_TEXT, -1, v[1]);
    } else if (tok_is(v[0], "thinking_delta")) {
        add_str(f, OP_REASONING, -1, v[2]);
    } else if (tok_is(v[0], "input_json_delta") && slot >= 0) {
        add(f, OP_DELTA, slot, BLOCK_TOOL, SY_STR_NULL);
        add_str(f, OP_SLOT_ARGS, slot, v[3]);
    }
}

/* A content block of a whole message (p at '{'), its position the slot. */
static const char *anthropic_block_obj(fast_t *f, const char *p, const char *e, int pos)
{
    const char *q = skip_val(p, e);
    fast_anthropic_start(f, pos < MAX_SLOTS ? pos : -1, sy_str(p, (size_t)(q - p)));
    return q;
}

static void fast_anthropic(fast_t *f, sy_str_t doc, int64_t raw[4])
{
    enum { TYPE, MESSAGE, INDEX, BLOCK, DELTA, USAGE, ID, MODEL, STOP, CONTENT };
    sy_str_t v[10];
    PICK(f, doc, v, K("type"), K("message"), K("index"), K("content_block"), K("delta"), K("usage"),
         K("id"), K("model"), K("stop_reason"), K("content"));
    if (f->bad || !tok_string(v[TYPE])) return;
    sy_str_t t = v[TYPE];
    if (memchr(t.ptr, '\\', t.len)) {
        f->bad = true;
    } else if (tok_is(t, "message_start")) {
        sy_str_t m[3];
        PICK(f, v[MESSAGE], m, K("id"), K("model"), K("usage"));
        add_str(f, OP_ID, -1, m[0]);
        add_str(f, OP_MODEL, -1, m[1]);
        fast_anthropic_usage(f, m[2], raw);
    } else if (tok_is(t, "content_block_start")) {
        fast_anthropic_start(f, v[INDEX].ptr ? tok_slot(v[INDEX]) : -1, v[BLOCK]);
    } else if (tok_is(t, "content_block_delta")) {
        fast_anthropic_delta(f, v[INDEX].ptr ? tok_slot(v[INDEX]) : -1, v[DELTA]);
    } else if (tok_is(t, "message_delta")) {
        sy_str_t d[1];
        PICK(f, v[DELTA], d, K("stop_reason"));
        add_str(f, OP_FINISH, -1, d[0]);
        fast_anthropic_usage(f, v[USAGE], raw);
    } else if (tok_is(t, "message")) { /* a whole reply (or such an event) */
        add_str(f, OP_ID, -1, v[ID]);
        add_str(f, OP_MODEL, -1, v[MODEL]);
        add_str(f, OP_FINISH, -1, v[STOP]);
        /* non-object blocks: the slow path makes their slot, with no kind: nothing to see */
        if (v[CONTENT].ptr && v[CONTENT].ptr[0] == '[')
            each_elem(f, v[CONTENT].ptr, v[CONTENT].ptr + v[CONTENT].len, anthropic_block_obj,
                      NULL);
        fast_anthropic_usage(f, v[USAGE], raw);
    }
}

/* -------- apply */

/* The decoded bytes of a validated string token appended to b. */
static void append_tok(sy_buf_t *b, sy_str_t tok)
{
    size_t n = tok.len - 2;
    if (!memchr(tok.ptr + 1, '\\', n)) {
        sy_buf_append(b, tok.ptr + 1, n);
        return;
    }
    sy_err_t err;
    char *d = sy_buf_reserve(b, tok.len, &err); /* unbounded: cannot fail */
    if (d && sy_jsonv_string_decode(tok, d, tok.len, &n)) b->len += n;
}

static void tok_once(char **dst, sy_str_t tok)
{
    if (!*dst) *dst = dup_tok(tok);
}

static void apply(ex_t *x, const fast_t *f)
{
    for (int i = 0; i < f->n; i++) {
        const op_t *o = &f->ops[i];
        slot_t *s = o->slot >= 0 ? sy_capture_slot_of(x, o->slot) : NULL;
        switch (o->op) {
        case OP_TEXT:
            append_tok(&x->r->text, o->tok);
            break;
        case OP_REASONING:
            append_tok(&x->r->reasoning, o->tok);
            break;
        case OP_ID:
            tok_once(&x->r->id, o->tok);
            break;
        case OP_MODEL:
            tok_once(&x->r->model, o->tok);
            break;
        case OP_FINISH:
            free(x->r->finish_reason);
            x->r->finish_reason = dup_tok(o->tok);
            break;
        case OP_SLOT:
            break;
        case OP_KIND:
            s->kind = o->kind;
            break;
        case OP_DELTA:
            s->kind = BLOCK_TOOL;
            s->has_delta = true;
            break;
        case OP_SLOT_ID:
            tok_once(&s->id, o->tok);
            break;
        case OP_SLOT_NAME:
            tok_once(&s->name, o->tok);
            break;
        case OP_SLOT_ARGS:
            append_tok(&s->args, o->tok);
            break;
        case OP_SLOT_INPUT:
            dump_compact(o->tok.ptr, o->tok.ptr + o->tok.len, &s->args, 0); /* checked */
            break;
        }
    }
}

/* An event (chunk) or a whole non-stream reply read without jansson; false (nothing changed)
 * when the slow path must run. */
bool sy_capture_fast_doc(ex_t *x, sy_str_t data, bool chunk)
{
    const char *e = data.ptr + data.len;
    const char *p = ws(data.ptr, e);
    if (p == e || *p != '{') return false;
    /* The chunks of a stream repeat their envelope (id, object, created, model, ...). When this
     * one starts with the previous chunk's envelope byte for byte, only the rest is validated
     * and walked: the envelope ends just before a member key, after complete members, so the
     * chunk is valid exactly when '{' + the rest is, and the envelope's members were read. */
    size_t skip = 0, len = (size_t)(e - p);
    if (chunk && x->env.len && x->env.len < len && p[x->env.len] == '"' &&
        !memcmp(p, x->env.base, x->env.len)) {
        skip = x->env.len;
        sy_err_t err;
        sy_buf_reset(&x->scratch);
        char *d = sy_buf_reserve(&x->scratch, len - skip + 1, &err); /* unbounded */
        d[0] = '{';
        memcpy(d + 1, p + skip, len - skip);
        if (!sy_jsonv_validate(d, len - skip + 1, NULL)) return false;
    } else if (!sy_jsonv_validate(data.ptr, data.len, NULL)) {
        return false;
    }
    while (e[-1] != '}') /* valid: only whitespace after the object */
        e--;
    data = sy_str(p, (size_t)(e - p));
    fast_t f;
    f.n = 0;
    f.bad = false;
    f.escapes = memchr(p + skip, '\\', data.len - skip) != NULL;
    f.reply = !chunk;
    if (x->format == SY_CAPTURE_ANTHROPIC) {
        int64_t raw[4] = {x->in, x->out, x->cache_read, x->cache_write};
        fast_anthropic(&f, data, raw);
        if (f.bad) return false;
        apply(x, &f);
        x->in = raw[0], x->out = raw[1], x->cache_read = raw[2], x->cache_write = raw[3];
    } else {
        sy_fmt_usage_t u = x->r->usage;
        bool found = x->r->usage_found;
        size_t cut;
        unsigned cut_seen = 0;
        fast_openai(&f, data, skip ? p + skip : p + 1, skip ? x->env_seen : 0, &u, &found, &cut,
                    &cut_seen);
        if (f.bad) return false;
        apply(x, &f);
        x->r->usage = u;
        x->r->usage_found = found;
        if (chunk && !skip) { /* what this chunk's envelope was (the ids it holds are set now) */
            sy_buf_reset(&x->env);
            sy_buf_append(&x->env, p, cut);
            x->env_seen = cut_seen;
        }
    }
    return true;
}
