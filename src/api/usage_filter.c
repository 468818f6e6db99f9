/* See usage_filter.h. */
#include "api/usage_filter.h"

#include <string.h>

void sy_usage_filter_init(sy_usage_filter_t *f, size_t max_event_bytes)
{
    memset(f, 0, sizeof *f);
    f->line_end = true; /* the stream starts at an event boundary */
    f->max_event_bytes = max_event_bytes;
    sy_buf_init(&f->held, max_event_bytes);
}

void sy_usage_filter_dispose(sy_usage_filter_t *f)
{
    sy_buf_dispose(&f->held);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The first `key` (quotes included) followed by optional whitespace and ':'; *val = the value's
 * first byte after whitespace (may be end). NULL when there is none. */
static const char *find_key(const char *p, const char *end, const char *key, size_t klen,
                            const char **val)
{
    const char *s = p;
    while (s < end && (s = memmem(s, (size_t)(end - s), key, klen)) != NULL) {
        const char *v = s + klen;
        while (v < end && is_ws(*v))
            v++;
        if (v < end && *v == ':') {
            v++;
            while (v < end && is_ws(*v))
                v++;
            *val = v;
            return s;
        }
        s++;
    }
    return NULL;
}

/* One whole event (its blank line included): dropped, cut, or passed. */
static bool event(sy_usage_filter_t *f, const char *e, size_t len, sy_usage_filter_emit_cb emit,
                  void *ctx)
{
    const char *end = e + len, *v;
    const char *k = find_key(e, end, "\"usage\"", 7, &v);
    if (!k) return emit(ctx, e, len);
    if (end - v >= 4 && memcmp(v, "null", 4) == 0) {
        /* cut the member and one comma next to it */
        const char *from = k, *to = v + 4, *b = k;
        while (b > e && is_ws(b[-1]))
            b--;
        if (b > e && b[-1] == ',') {
            from = b - 1;
        } else {
            const char *a = to;
            while (a < end && is_ws(*a))
                a++;
            if (a < end && *a == ',') to = a + 1;
        }
        bool ok = emit(ctx, e, (size_t)(from - e));
        return emit(ctx, to, (size_t)(end - to)) && ok;
    }
    const char *cv;
    if (v < end && *v == '{' && find_key(e, end, "\"choices\"", 9, &cv) && cv < end && *cv == '[') {
        cv++;
        while (cv < end && is_ws(*cv))
            cv++;
        if (cv < end && *cv == ']') {
            f->hidden++;
            f->skip_lf = end[-1] == '\r'; /* a '\n' right after belongs to this blank line */
            return true;
        }
    }
    return emit(ctx, e, len);
}

/* The event ending at p + len, whose first bytes may be held from earlier pieces. */
static bool event_end(sy_usage_filter_t *f, const char *p, size_t len, sy_usage_filter_emit_cb emit,
                      void *ctx)
{
    if (f->oversized) {
        f->oversized = false;
        return emit(ctx, p, len);
    }
    if (!f->held.len) return event(f, p, len, emit, ctx);
    bool ok;
    if (sy_buf_append(&f->held, p, len)) { /* over the cap: pass it through as it is */
        ok = emit(ctx, f->held.base, f->held.len);
        ok = emit(ctx, p, len) && ok;
    } else {
        ok = event(f, f->held.base, f->held.len, emit, ctx);
    }
    sy_buf_reset(&f->held);
    return ok;
}

bool sy_usage_filter_feed(sy_usage_filter_t *f, const char *p, size_t n,
                          sy_usage_filter_emit_cb emit, void *ctx)
{
    bool ok = true;
    size_t seg = 0; /* start of the current event's bytes in p */
    for (size_t i = 0; i < n; i++) {
        /* most bytes are neither CR nor LF: one compare each */
        if ((unsigned char)p[i] > '\r') {
            f->line_end = f->cr = f->skip_lf = false;
            continue;
        }
        char ch = p[i];
        bool drop = f->skip_lf;
        f->skip_lf = false;
        if (ch != '\n' && ch != '\r') {
            f->line_end = f->cr = false;
            continue;
        }
        if (ch == '\n' && f->cr) { /* the second half of a CRLF */
            f->cr = false;
            if (drop && i == seg) seg = i + 1;
            continue;
        }
        f->cr = ch == '\r';
        if (!f->line_end) {
            f->line_end = true;
            continue;
        }
        ok = event_end(f, p + seg, i + 1 - seg, emit, ctx) && ok; /* a blank line */
        seg = i + 1;
    }
    if (seg < n) {
        if (f->oversized) return emit(ctx, p + seg, n - seg) && ok;
        if (sy_buf_append(&f->held, p + seg, n - seg)) {
            /* the event is too long to hold: pass what we have and the rest of it */
            f->oversized = true;
            ok = emit(ctx, f->held.base, f->held.len) && ok;
            sy_buf_reset(&f->held);
            ok = emit(ctx, p + seg, n - seg) && ok;
        }
    }
    return ok;
}

bool sy_usage_filter_finish(sy_usage_filter_t *f, sy_usage_filter_emit_cb emit, void *ctx)
{
    bool ok = true;
    if (f->held.len) ok = emit(ctx, f->held.base, f->held.len);
    sy_buf_reset(&f->held);
    return ok;
}
