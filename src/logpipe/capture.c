/* See capture.h; rules and figures in docs/internals/CAPTURE.md.
 *
 * DESIGN
 * The loop thread only copies: the first head.max bytes into the head, later bytes into a ring
 * that always holds the last tail_max of them, so memory is bounded and the end of a stream
 * (where usage lives) is never lost. Until the first generated content is seen, each piece is
 * also scanned with memmem for a few byte patterns (plus a small carry so that a pattern split
 * across two feeds is found); afterwards a feed is two memcpy at most.
 * Everything else happens on the writer thread: head and tail are parsed with the SSE parser and
 * (per event) the fast path (capture_fast.c) or jansson into one extraction state, so a tool call
 * started in the head and continued in the tail keeps its slot. When bytes were lost in between,
 * the head's last partial event is dropped and the tail is read from its first event boundary. */
#include "logpipe/capture.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/jsonv.h"
#include "http/sse.h"
#include "logpipe/capture_int.h"

#define MAX_SPACES 8 /* whitespace the first-token scan skips after ':' and '[' */

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

/* The first-token patterns: the keys content, tool_calls and refusal (`<key>":`, the value a
 * non-empty string or array) and the Anthropic event name content_block_delta. */
static const struct {
    const char *s;
    size_t n;
} keys[] = {{"content\"", 8}, {"tool_calls\"", 11}, {"refusal\"", 8}};
#define BLOCK_DELTA "content_block_delta"

/* Offset in p of the byte completing the earliest first-token pattern, or -1. One pass over the
 * key patterns: each ends in `":`, so only the colons are visited (memchr) and the bytes before
 * them compared; the first key whose value decides wins (a later key's colon cannot lie before
 * an earlier key's deciding byte: only spaces, '"' or '[' are between them). It was four memmem
 * passes (~2,150 instructions per 272-byte reply on the loop thread; docs/PERFORMANCE.md). */
static long scan_first(const char *p, size_t n)
{
    long best = -1;
    const char *e = p + n;
    for (const char *q = p + 1; q < e && (q = memchr(q, ':', (size_t)(e - q))); q++) {
        if (q[-1] != '"') continue;
        size_t i = (size_t)(q - p); /* the colon */
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            if (i < keys[k].n || memcmp(q - keys[k].n, keys[k].s, keys[k].n)) continue;
            best = value_decides(p, n, i + 1);
            break;
        }
        if (best >= 0) break;
    }
    const char *hit =
        memmem(p, best >= 0 ? (size_t)best + 1 : n, BLOCK_DELTA, sizeof BLOCK_DELTA - 1);
    if (hit) {
        long at = (long)(hit - p) + (long)sizeof BLOCK_DELTA - 2;
        if (best < 0 || at < best) best = at;
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
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > SY_CAPTURE_TOKENS_MAX)
        return false;
    *dst = json_integer_value(v);
    return true;
}

/* The slot for an index (a JSON integer), NULL when it is not one or out of range. */
static slot_t *slot_at(ex_t *x, json_t *index)
{
    return json_is_integer(index) ? sy_capture_slot_of(x, json_integer_value(index)) : NULL;
}

slot_t *sy_capture_slot_of(ex_t *x, int64_t i)
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
        openai_tool(x, tc, index ? slot_at(x, index) : sy_capture_slot_of(x, (json_int_t)i));
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
        json_array_foreach(blocks, i, b)
            anthropic_block_start(x, sy_capture_slot_of(x, (json_int_t)i), b);
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
    if (x->fast && sy_capture_fast_doc(x, data, true)) return;
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
        } else if (!fast || !sy_capture_fast_doc(&x, sy_str(all, n), false)) {
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
