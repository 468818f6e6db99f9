/* See capture.h; rules and figures in docs/internals/CAPTURE.md.
 *
 * DESIGN
 * The loop thread only copies: the first head.max bytes into the head, later bytes into a ring
 * that always holds the last tail_max of them, so memory is bounded and the end of a stream
 * (where usage lives) is never lost. Until the first generated content is seen, each piece is
 * also scanned with memmem for a few byte patterns (plus a small carry so that a pattern split
 * across two feeds is found); afterwards a feed is two memcpy at most.
 * Everything else happens on the writer thread: head and tail are parsed with the SSE parser and
 * (per event) the fast path below or jansson into one extraction state, so a tool call started in
 * the head and continued in the tail keeps its slot. When bytes were lost in between, the head's
 * last partial event is dropped and the tail is read from its first event boundary. */
#include "logpipe/capture.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/jsonv.h"
#include "http/sse.h"

#define MAX_SLOTS 256              /* tool-call indexes / content blocks tracked per response */
#define MAX_SPACES 8               /* whitespace the first-token scan skips after ':' and '[' */
#define UNBOUNDED ((size_t)-1 / 2) /* result buffers: bounded by the captured bytes anyway */

/* ---------------------------------------------------------------- the tee (loop thread) */

void sy_capture_init(sy_capture_t *c, size_t max_head_bytes, size_t tail_bytes)
{
    memset(c, 0, sizeof *c);
    sy_buf_init(&c->head, max_head_bytes);
    c->tail_max = tail_bytes;
    c->first_offset = -1;
}

void sy_capture_dispose(sy_capture_t *c)
{
    sy_buf_dispose(&c->head);
    free(c->ring);
    c->ring = NULL;
}

bool sy_capture_truncated(const sy_capture_t *c)
{
    return c->tail_total > c->tail_max;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* The value starting at p[i] (after a key's ':'): offset of the byte that shows it is a non-empty
 * string or array, or -1 (not one, or not decidable within these bytes). */
static long value_decides(const char *p, size_t n, size_t i)
{
    size_t k = 0;
    while (i < n && k < MAX_SPACES && is_space(p[i]))
        i++, k++;
    if (i + 1 >= n) return -1;
    if (p[i] == '"') return p[i + 1] != '"' ? (long)(i + 1) : -1;
    if (p[i] != '[') return -1;
    i++;
    k = 0;
    while (i < n && k < MAX_SPACES && is_space(p[i]))
        i++, k++;
    return i < n && p[i] != ']' && !is_space(p[i]) ? (long)i : -1;
}

static const struct {
    const char *s;
    size_t n;
    bool value; /* a key: its value must be a non-empty string or array */
} patterns[] = {
#define PAT(s, v)                                                                                  \
    {                                                                                              \
        s, sizeof(s) - 1, v                                                                        \
    }
    PAT("content\":", true),
    PAT("tool_calls\":", true),
    PAT("refusal\":", true),
    PAT("content_block_delta", false),
#undef PAT
};

/* Offset in p of the byte completing the earliest first-token pattern, or -1. */
static long scan_first(const char *p, size_t n)
{
    long best = -1;
    for (size_t k = 0; k < sizeof patterns / sizeof patterns[0]; k++) {
        size_t from = 0;
        const char *hit;
        while (from < n && (hit = memmem(p + from, n - from, patterns[k].s, patterns[k].n))) {
            size_t end = (size_t)(hit - p) + patterns[k].n;
            if (best >= 0 && (long)end > best) break;
            long at = patterns[k].value ? value_decides(p, n, end) : (long)end - 1;
            if (at >= 0) {
                if (best < 0 || at < best) best = at;
                break;
            }
            from = (size_t)(hit - p) + 1;
        }
    }
    return best;
}

/* The first-token scan of one piece; updates the carry. */
static bool detect(sy_capture_t *c, const char *p, size_t n)
{
    long at = -1;
    if (c->carry_len) {
        /* a pattern across the boundary lies within carry + the first bytes of p */
        char j[2 * SY_CAPTURE_CARRY];
        size_t m = n < SY_CAPTURE_CARRY ? n : SY_CAPTURE_CARRY;
        memcpy(j, c->carry, c->carry_len);
        memcpy(j + c->carry_len, p, m);
        long a = scan_first(j, c->carry_len + m);
        if (a >= (long)c->carry_len) at = a - (long)c->carry_len;
    }
    long b = scan_first(p, n);
    if (b >= 0 && (at < 0 || b < at)) at = b;
    if (at >= 0) {
        c->first_offset = (int64_t)c->total + at;
        return true;
    }
    if (n >= SY_CAPTURE_CARRY) {
        memcpy(c->carry, p + n - SY_CAPTURE_CARRY, SY_CAPTURE_CARRY);
        c->carry_len = SY_CAPTURE_CARRY;
    } else {
        size_t keep = c->carry_len + n > SY_CAPTURE_CARRY ? SY_CAPTURE_CARRY - n : c->carry_len;
        memmove(c->carry, c->carry + c->carry_len - keep, keep);
        memcpy(c->carry + keep, p, n);
        c->carry_len = keep + n;
    }
    return false;
}

bool sy_capture_feed(sy_capture_t *c, const void *buf, size_t n)
{
    const char *p = buf;
    bool first = false;
    if (n == 0) return false;
    if (c->first_offset < 0) first = detect(c, p, n);
    c->total += n;
    size_t room = c->head.max - c->head.len;
    if (room) {
        size_t k = n < room ? n : room;
        sy_buf_append(&c->head, p, k); /* within max: cannot fail */
        p += k;
        n -= k;
    }
    if (n == 0) return first;
    c->tail_total += n;
    if (c->tail_max == 0) return first;
    if (!c->ring) c->ring = sy_xmalloc(c->tail_max);
    if (n >= c->tail_max) {
        memcpy(c->ring, p + n - c->tail_max, c->tail_max);
        c->ring_pos = 0;
    } else {
        size_t a = c->tail_max - c->ring_pos;
        if (a > n) a = n;
        memcpy(c->ring + c->ring_pos, p, a);
        memcpy(c->ring, p + a, n - a);
        c->ring_pos = (c->ring_pos + n) % c->tail_max;
    }
    return first;
}

int64_t sy_capture_estimate_tokens(const char *text, size_t len)
{
    (void)text;
    return (int64_t)((len + 3) / 4);
}

/* ---------------------------------------------------------------- extraction (writer thread) */

typedef enum { BLOCK_NONE = 0, BLOCK_TEXT, BLOCK_THINKING, BLOCK_TOOL } block_kind_t;

typedef struct slot {
    bool used;
    block_kind_t kind; /* Anthropic content block kind */
    bool has_delta;    /* arguments came as deltas */
    char *id;
    char *name;
    sy_buf_t args;
} slot_t;

typedef struct ex {
    int format;
    bool fast; /* try the jansson-free reading of each event first */
    sy_capture_result_t *r;
    slot_t *slots; /* by tool index (OpenAI) or content block index (Anthropic), < MAX_SLOTS;
                      NULL until the first is used, grown as indexes come */
    int n_slots;   /* slots[n_slots..] are unused */
    int cap_slots; /* slots allocated (zeroed beyond n_slots) */
    int64_t in, out, cache_read, cache_write; /* Anthropic raw usage, -1 = absent */
    sy_buf_t env;      /* fast path: the previous OpenAI chunk's bytes up to its first
                          "choices"/"usage" key (its envelope); empty = none */
    unsigned env_seen; /* the top-level names (bits) read in env */
    sy_buf_t scratch;  /* fast path: '{' + the rest of a chunk after a repeated envelope */
} ex_t;

static void set_once(char **dst, json_t *v)
{
    if (!*dst && json_is_string(v)) *dst = sy_xstrndup(json_string_value(v), json_string_length(v));
}

static void set_last(char **dst, json_t *v)
{
    if (!json_is_string(v)) return;
    free(*dst);
    *dst = sy_xstrndup(json_string_value(v), json_string_length(v));
}

static void append_str(sy_buf_t *b, json_t *v)
{
    if (json_is_string(v)) sy_buf_append(b, json_string_value(v), json_string_length(v));
}

static bool get_count(json_t *o, const char *key, int64_t *dst)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *dst = json_integer_value(v);
    return true;
}

static slot_t *slot_of(ex_t *x, json_int_t i);

/* The slot for an index (a JSON integer), NULL when it is not one or out of range. */
static slot_t *slot_at(ex_t *x, json_t *index)
{
    return json_is_integer(index) ? slot_of(x, json_integer_value(index)) : NULL;
}

static slot_t *slot_of(ex_t *x, json_int_t i)
{
    if (i < 0 || i >= MAX_SLOTS) return NULL;
    if (i >= x->cap_slots) { /* most rows: none; a few blocks or calls: a few */
        int cap = x->cap_slots ? 2 * x->cap_slots : 4;
        while (cap <= i)
            cap *= 2;
        if (cap > MAX_SLOTS) cap = MAX_SLOTS;
        x->slots = sy_xrealloc(x->slots, (size_t)cap * sizeof *x->slots);
        memset(x->slots + x->cap_slots, 0, (size_t)(cap - x->cap_slots) * sizeof *x->slots);
        x->cap_slots = cap;
    }
    if (i >= x->n_slots) x->n_slots = (int)i + 1;
    slot_t *s = &x->slots[i];
    if (!s->used) {
        s->used = true;
        sy_buf_init(&s->args, UNBOUNDED);
    }
    return s;
}

/* -------- OpenAI */

static void openai_usage(ex_t *x, json_t *u)
{
    if (!json_is_object(u)) return;
    sy_fmt_usage_t *o = &x->r->usage;
    bool any = get_count(u, "prompt_tokens", &o->prompt_tokens);
    any |= get_count(u, "completion_tokens", &o->completion_tokens);
    json_t *pd = json_object_get(u, "prompt_tokens_details");
    get_count(pd, "cached_tokens", &o->cached_tokens);
    get_count(pd, "cache_write_tokens", &o->cache_write_tokens);
    get_count(json_object_get(u, "completion_tokens_details"), "reasoning_tokens",
              &o->reasoning_tokens);
    if (any) x->r->usage_found = true;
}

static void openai_tool(ex_t *x, json_t *tc, slot_t *s)
{
    if (!s) return;
    s->kind = BLOCK_TOOL;
    set_once(&s->id, json_object_get(tc, "id"));
    json_t *f = json_object_get(tc, "function");
    set_once(&s->name, json_object_get(f, "name"));
    append_str(&s->args, json_object_get(f, "arguments"));
}

/* choice 0's message (reply) or delta (chunk) */
static void openai_choice(ex_t *x, json_t *m)
{
    append_str(&x->r->text, json_object_get(m, "content"));
    append_str(&x->r->reasoning, json_object_get(m, "reasoning_content"));
    append_str(&x->r->reasoning, json_object_get(m, "reasoning"));
    json_t *tcs = json_object_get(m, "tool_calls"), *tc;
    size_t i;
    json_array_foreach(tcs, i, tc)
    {
        json_t *index = json_object_get(tc, "index");
        /* a reply's tool_calls carry no index: their position is it */
        openai_tool(x, tc, index ? slot_at(x, index) : slot_of(x, (json_int_t)i));
    }
}

static void openai_doc(ex_t *x, json_t *doc, bool chunk)
{
    set_once(&x->r->id, json_object_get(doc, "id"));
    set_once(&x->r->model, json_object_get(doc, "model"));
    json_t *choices = json_object_get(doc, "choices"), *ch;
    size_t i;
    json_array_foreach(choices, i, ch)
    {
        json_t *idx = json_object_get(ch, "index");
        if (idx ? !json_is_integer(idx) || json_integer_value(idx) != 0 : i != 0) continue;
        openai_choice(x, json_object_get(ch, chunk ? "delta" : "message"));
        set_last(&x->r->finish_reason, json_object_get(ch, "finish_reason"));
    }
    openai_usage(x, json_object_get(doc, "usage"));
}

/* -------- Anthropic */

static void anthropic_usage(ex_t *x, json_t *u)
{
    if (!json_is_object(u)) return;
    get_count(u, "input_tokens", &x->in);
    get_count(u, "output_tokens", &x->out);
    get_count(u, "cache_read_input_tokens", &x->cache_read);
    get_count(u, "cache_creation_input_tokens", &x->cache_write);
}

static void anthropic_block_start(ex_t *x, slot_t *s, json_t *b)
{
    if (!s || !json_is_object(b)) return;
    const char *t = json_string_value(json_object_get(b, "type"));
    if (!t) return;
    if (!strcmp(t, "text")) {
        s->kind = BLOCK_TEXT;
        append_str(&x->r->text, json_object_get(b, "text"));
    } else if (!strcmp(t, "thinking")) {
        s->kind = BLOCK_THINKING;
        append_str(&x->r->reasoning, json_object_get(b, "thinking"));
    } else if (!strcmp(t, "tool_use")) {
        s->kind = BLOCK_TOOL;
        set_once(&s->id, json_object_get(b, "id"));
        set_once(&s->name, json_object_get(b, "name"));
        json_t *in = json_object_get(b, "input");
        /* a stream's start block has input {} and the arguments follow as deltas; a reply's
         * block has the whole input */
        if (json_is_object(in) && json_object_size(in)) {
            char *d = json_dumps(in, JSON_COMPACT);
            if (d) sy_buf_append_c(&s->args, d);
            free(d);
        }
    }
}

static void anthropic_block_delta(ex_t *x, json_t *index, json_t *d)
{
    slot_t *s = slot_at(x, index);
    const char *t = json_string_value(json_object_get(d, "type"));
    if (!t) return;
    /* the kind comes from the delta, so a block whose start was lost still counts */
    if (!strcmp(t, "text_delta")) {
        append_str(&x->r->text, json_object_get(d, "text"));
    } else if (!strcmp(t, "thinking_delta")) {
        append_str(&x->r->reasoning, json_object_get(d, "thinking"));
    } else if (!strcmp(t, "input_json_delta") && s) {
        s->kind = BLOCK_TOOL;
        s->has_delta = true;
        append_str(&s->args, json_object_get(d, "partial_json"));
    }
}

static void anthropic_event(ex_t *x, json_t *ev)
{
    const char *t = json_string_value(json_object_get(ev, "type"));
    if (!t) return;
    if (!strcmp(t, "message_start")) {
        json_t *m = json_object_get(ev, "message");
        set_once(&x->r->id, json_object_get(m, "id"));
        set_once(&x->r->model, json_object_get(m, "model"));
        anthropic_usage(x, json_object_get(m, "usage"));
    } else if (!strcmp(t, "content_block_start")) {
        anthropic_block_start(x, slot_at(x, json_object_get(ev, "index")),
                              json_object_get(ev, "content_block"));
    } else if (!strcmp(t, "content_block_delta")) {
        anthropic_block_delta(x, json_object_get(ev, "index"), json_object_get(ev, "delta"));
    } else if (!strcmp(t, "message_delta")) {
        set_last(&x->r->finish_reason,
                 json_object_get(json_object_get(ev, "delta"), "stop_reason"));
        anthropic_usage(x, json_object_get(ev, "usage")); /* cumulative: overrides */
    } else if (!strcmp(t, "message")) {
        set_once(&x->r->id, json_object_get(ev, "id"));
        set_once(&x->r->model, json_object_get(ev, "model"));
        set_last(&x->r->finish_reason, json_object_get(ev, "stop_reason"));
        json_t *blocks = json_object_get(ev, "content"), *b;
        size_t i;
        json_array_foreach(blocks, i, b) anthropic_block_start(x, slot_of(x, (json_int_t)i), b);
        anthropic_usage(x, json_object_get(ev, "usage"));
    }
}

/* Anthropic raw counts -> OpenAI semantics (as providers/anthropic_int.h maps them). */
static void anthropic_finish(ex_t *x)
{
    sy_fmt_usage_t *u = &x->r->usage;
    if (x->in < 0 && x->out < 0 && x->cache_read < 0 && x->cache_write < 0) return;
    x->r->usage_found = true;
    u->completion_tokens = x->out;
    if (x->in >= 0) {
        int64_t cr = x->cache_read > 0 ? x->cache_read : 0;
        int64_t cw = x->cache_write > 0 ? x->cache_write : 0;
        u->prompt_tokens = x->in + cr + cw;
        u->cached_tokens = cr;
        u->cache_write_tokens = cw;
    } else {
        u->cached_tokens = x->cache_read;
        u->cache_write_tokens = x->cache_write;
    }
}

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
    OP_SLOT,       /* slot_of(slot) (created, kind unchanged) */
    OP_KIND,       /* slot_of(slot)->kind = kind */
    OP_DELTA,      /* slot_of(slot): kind TOOL, has_delta */
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

/* A JSON integer token (validated: fits in int64) -> *v; false for reals, as json_is_integer. */
static bool tok_int(sy_str_t t, int64_t *v)
{
    if (!t.ptr || !t.len) return false;
    size_t i = t.ptr[0] == '-';
    if (i == t.len) return false;
    uint64_t u = 0;
    for (; i < t.len; i++) {
        unsigned d = (unsigned)((unsigned char)t.ptr[i] - '0');
        if (d > 9) return false;
        u = u * 10 + d;
    }
    *v = t.ptr[0] == '-' ? (int64_t)(0 - u) : (int64_t)u;
    return true;
}

/* get_count() on tokens: a non-negative integer replaces *dst. */
static bool tok_count(sy_str_t t, int64_t *dst)
{
    int64_t v;
    if (!tok_int(t, &v) || v < 0) return false;
    *dst = v;
    return true;
}

/* slot_at(): the slot number of an index token, -1 when it is not an integer in range. */
static int tok_slot(sy_str_t t)
{
    int64_t v;
    return tok_int(t, &v) && v >= 0 && v < MAX_SLOTS ? (int)v : -1;
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
    if (index.ptr ? !tok_int(index, &i) || i != 0 : pos != 0) {
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
        slot_t *s = o->slot >= 0 ? slot_of(x, o->slot) : NULL;
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
static bool fast_doc(ex_t *x, sy_str_t data, bool chunk)
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

/* -------- shared */

static void on_doc(ex_t *x, json_t *doc, bool chunk)
{
    if (x->format == SY_CAPTURE_ANTHROPIC)
        anthropic_event(x, doc);
    else
        openai_doc(x, doc, chunk);
}

static void on_event(void *ctx, sy_str_t type, sy_str_t data, sy_str_t id)
{
    ex_t *x = ctx;
    x->r->n_events++;
    if (data.len == 6 && !memcmp(data.ptr, "[DONE]", 6)) return;
    if (x->fast && fast_doc(x, data, true)) return;
    x->r->n_slow++;
    json_t *doc = data.len ? json_loadb(data.ptr, data.len, 0, NULL) : NULL;
    if (!json_is_object(doc)) {
        x->r->n_bad++;
    } else {
        on_doc(x, doc, true);
    }
    json_decref(doc);
}

static void parse_sse(ex_t *x, const char *p, size_t n)
{
    sy_sse_parser_t ps;
    sy_sse_parser_init(&ps, n + 1, on_event, x);
    sy_sse_parser_feed(&ps, p, n); /* an over-long line cannot be: max is the input size */
    sy_sse_parser_dispose(&ps);    /* an unfinished last event is dropped */
}

/* Offset just past the first blank line (event boundary) in p, or n. */
static size_t first_boundary(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] == '\n' && p[i + 1] == '\n') return i + 2;
        if (p[i] == '\r' && p[i + 1] == '\r') return i + 2;
        if (p[i] == '\r' && p[i + 1] == '\n' && i + 3 < n && p[i + 2] == '\r' && p[i + 3] == '\n')
            return i + 4;
    }
    return n;
}

/* A truncated non-stream body: the last "usage": object whole in the tail (it comes after the
 * content in both formats' replies). */
static void tail_usage(ex_t *x, const char *p, size_t n)
{
    static const char key[] = "\"usage\":";
    const char *last = NULL, *h;
    size_t from = 0;
    while (from < n && (h = memmem(p + from, n - from, key, sizeof key - 1))) {
        last = h;
        from = (size_t)(h - p) + 1;
    }
    if (!last) return;
    size_t at = (size_t)(last - p) + sizeof key - 1;
    json_t *u = json_loadb(p + at, n - at, JSON_DISABLE_EOF_CHECK, NULL);
    if (json_is_object(u)) {
        if (x->format == SY_CAPTURE_ANTHROPIC)
            anthropic_usage(x, u);
        else
            openai_usage(x, u);
    }
    json_decref(u);
}

static void write_tool_calls(ex_t *x)
{
    sy_buf_t *b = &x->r->tool_calls;
    bool any = false;
    for (int i = 0; i < x->n_slots; i++) {
        slot_t *s = &x->slots[i];
        if (!s->used || s->kind != BLOCK_TOOL) continue;
        sy_buf_append_c(b, any ? ",{\"id\":" : "[{\"id\":");
        any = true;
        if (s->id)
            sy_json_append_string(b, s->id, strlen(s->id));
        else
            sy_buf_append_c(b, "null");
        sy_buf_append_c(b, ",\"type\":\"function\",\"function\":{\"name\":");
        if (s->name)
            sy_json_append_string(b, s->name, strlen(s->name));
        else
            sy_buf_append_c(b, "null");
        sy_buf_append_c(b, ",\"arguments\":");
        /* a tool_use block with an empty input and no deltas called with no arguments */
        if (x->format == SY_CAPTURE_ANTHROPIC && !s->args.len)
            sy_buf_append_c(b, "\"{}\"");
        else
            sy_json_append_string(b, s->args.base ? s->args.base : "", s->args.len);
        sy_buf_append_c(b, "}}");
    }
    if (any) sy_buf_append_c(b, "]");
}

static void extract(const sy_capture_t *c, int format, bool sse, bool fast,
                    sy_capture_result_t *out)
{
    memset(out, 0, sizeof *out);
    sy_buf_init(&out->text, UNBOUNDED);
    sy_buf_init(&out->reasoning, UNBOUNDED);
    sy_buf_init(&out->tool_calls, UNBOUNDED);
    out->usage = SY_FMT_USAGE_UNKNOWN;
    out->total_bytes = c->total;
    out->truncated = sy_capture_truncated(c);

    ex_t x = {.format = format,
              .fast = fast,
              .r = out,
              .in = -1,
              .out = -1,
              .cache_read = -1,
              .cache_write = -1};
    sy_buf_init(&x.env, UNBOUNDED);
    sy_buf_init(&x.scratch, UNBOUNDED);

    /* the tail in order, contiguous after the head when nothing was lost */
    size_t tail_len = c->tail_total < c->tail_max ? (size_t)c->tail_total : c->tail_max;
    size_t head_len = out->truncated ? 0 : c->head.len;
    /* a body that fit in the head is read in place */
    char *buf = tail_len ? sy_xmalloc(head_len + tail_len + 1) : NULL;
    const char *all = buf ? buf : out->truncated || !c->head.base ? "" : c->head.base;
    if (buf && head_len) memcpy(buf, c->head.base, head_len);
    size_t at = head_len;
    if (tail_len) {
        size_t start = c->tail_total <= c->tail_max ? 0 : c->ring_pos;
        size_t a = c->tail_max - start < tail_len ? c->tail_max - start : tail_len;
        memcpy(buf + at, c->ring + start, a);
        memcpy(buf + at + a, c->ring, tail_len - a);
    }
    size_t n = at + tail_len;

    if (!out->truncated) {
        if (sse) {
            parse_sse(&x, all, n);
        } else if (!fast || !fast_doc(&x, sy_str(all, n), false)) {
            out->n_slow++;
            json_t *doc = json_loadb(all, n, 0, NULL);
            if (json_is_object(doc))
                on_doc(&x, doc, false);
            else
                out->parse_failed = true;
            json_decref(doc);
        }
    } else if (sse) {
        parse_sse(&x, c->head.base ? c->head.base : "", c->head.len);
        size_t b = first_boundary(all, n);
        parse_sse(&x, all + b, n - b);
    } else {
        out->parse_failed = true;
        tail_usage(&x, all, n);
    }
    if (format == SY_CAPTURE_ANTHROPIC) anthropic_finish(&x);
    write_tool_calls(&x);

    for (int i = 0; i < x.n_slots; i++) {
        free(x.slots[i].id);
        free(x.slots[i].name);
        sy_buf_dispose(&x.slots[i].args);
    }
    free(x.slots);
    sy_buf_dispose(&x.env);
    sy_buf_dispose(&x.scratch);
    free(buf);
}

void sy_capture_extract(const sy_capture_t *c, int format, bool sse, sy_capture_result_t *out)
{
    extract(c, format, sse, true, out);
}

void sy_capture_extract_slow(const sy_capture_t *c, int format, bool sse, sy_capture_result_t *out)
{
    extract(c, format, sse, false, out);
}

void sy_capture_result_dispose(sy_capture_result_t *r)
{
    free(r->id);
    free(r->model);
    free(r->finish_reason);
    sy_buf_dispose(&r->text);
    sy_buf_dispose(&r->reasoning);
    sy_buf_dispose(&r->tool_calls);
    memset(r, 0, sizeof *r);
}
