/* See usage_filter.h. */
#include "api/usage_filter.h"

#include <string.h>

enum { M_HEAD, M_CAND, M_PASS };

static const char CHOICES[] = "\"choices\""; /* 9 bytes */
static const char USAGE[] = "\"usage\"";     /* 7 bytes */

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

/* Bytes with a "usage":null member cut out (with one comma next to it), else unchanged. */
static bool emit_cut(const char *e, size_t len, sy_usage_filter_emit_cb emit, void *ctx,
                     const char **usage_val)
{
    const char *end = e + len, *v;
    const char *k = find_key(e, end, USAGE, 7, &v);
    *usage_val = k ? v : NULL;
    if (!k || end - v < 4 || memcmp(v, "null", 4) != 0) return emit(ctx, e, len);
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

/* One whole held event (its blank line included): dropped, cut, or passed. */
static bool whole_event(sy_usage_filter_t *f, const char *e, size_t len,
                        sy_usage_filter_emit_cb emit, void *ctx)
{
    const char *end = e + len, *v, *cv;
    /* usage-only: "usage" is an object and "choices" an empty array */
    if (find_key(e, end, USAGE, 7, &v) && v < end && *v == '{' &&
        find_key(e, end, CHOICES, 9, &cv) && cv < end && *cv == '[') {
        cv++;
        while (cv < end && is_ws(*cv))
            cv++;
        if (cv < end && *cv == ']') {
            f->hidden++;
            f->skip_lf = end[-1] == '\r' ? 2 : 0; /* a '\n' right after belongs to it */
            return true;
        }
    }
    f->skip_lf = end[-1] == '\r' ? 1 : 0;
    return emit_cut(e, len, emit, ctx, &v);
}

/* Head matcher: `"choices"` ws* ':' ws* '[' ws* X. Returns 1 for X == ']' (a usage-only
 * candidate), 2 for another X (an ordinary chunk), 0 while undecided. */
static int match_choices(sy_usage_filter_t *f, char ch)
{
    int s = f->cm;
    if (s < 9) {
        if (ch == CHOICES[s])
            f->cm = s + 1;
        else
            f->cm = ch == '"';
        return 0;
    }
    if (is_ws(ch)) return 0;
    if (s == 9 && ch == ':') {
        f->cm = 10;
        return 0;
    }
    if (s == 10 && ch == '[') {
        f->cm = 11;
        return 0;
    }
    if (s == 11) return ch == ']' ? 1 : 2;
    f->cm = ch == '"';
    return 0;
}

/* Streaming matcher: ',' ws* `"usage"` ws* ':' ws* `null`. Returns 1 when matched, -1 on a
 * mismatch of a started match, 0 otherwise (um == 0: idle). */
static int match_usage_null(sy_usage_filter_t *f, char ch)
{
    int s = f->um;
    if (s == 0) {
        if (ch == ',') f->um = 1;
        return 0;
    }
    if (s == 1 || s == 9 || s == 10) { /* whitespace allowed here */
        if (is_ws(ch)) return 0;
        if (s == 1 && ch == '"') {
            f->um = 3; /* USAGE[0] matched */
            return 0;
        }
        if (s == 9 && ch == ':') {
            f->um = 10;
            return 0;
        }
        if (s == 10 && ch == 'n') {
            f->um = 11;
            return 0;
        }
        return -1;
    }
    if (s < 9) { /* 2 + k: USAGE[k] next */
        if (ch != USAGE[s - 2]) return -1;
        f->um = s + 1;
        return 0;
    }
    static const char NULL_[] = "null";
    if (ch != NULL_[s - 10]) return -1;
    if (s == 13) return 1;
    f->um = s + 1;
    return 0;
}

/* Holds bytes of an undecided event; past the cap the event passes through unfiltered. */
static bool hold(sy_usage_filter_t *f, const char *p, size_t n, sy_usage_filter_emit_cb emit,
                 void *ctx)
{
    if (!sy_buf_append(&f->held, p, n)) return true;
    bool ok = emit(ctx, f->held.base, f->held.len);
    sy_buf_reset(&f->held);
    f->mode = M_PASS;
    f->um = 0;
    return emit(ctx, p, n) && ok;
}

bool sy_usage_filter_feed(sy_usage_filter_t *f, const char *p, size_t n,
                          sy_usage_filter_emit_cb emit, void *ctx)
{
    bool ok = true;
    size_t run = 0; /* M_PASS: first byte not yet emitted; M_HEAD/M_CAND: first byte not held */
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        int tail_lf = f->skip_lf;
        f->skip_lf = 0;
        if (f->mode == M_HEAD) {
            int r = match_choices(f, ch);
            if (r == 2) { /* an ordinary chunk: release what was held, stream the rest */
                const char *uv;
                if (f->held.len && !sy_buf_append(&f->held, p + run, i - run))
                    ok = emit_cut(f->held.base, f->held.len, emit, ctx, &uv) && ok;
                else if (f->held.len) { /* over the cap: as it is */
                    ok = emit(ctx, f->held.base, f->held.len) && ok;
                    ok = emit(ctx, p + run, i - run) && ok;
                } else {
                    ok = emit_cut(p + run, i - run, emit, ctx, &uv) && ok;
                }
                run = i;
                sy_buf_reset(&f->held);
                f->mode = M_PASS;
                f->um = 0;
            } else if (r == 1) {
                f->mode = M_CAND;
            }
        } else if (f->mode == M_PASS && (f->um || ch == ',')) {
            if (f->um == 0) { /* a match may start: emit up to here */
                ok = emit(ctx, p + run, i - run) && ok;
                f->npend = 0;
            }
            int r = match_usage_null(f, ch);
            if (r == 0 && f->npend < sizeof f->pend) {
                f->pend[f->npend++] = ch;
                run = i + 1;
            } else if (r == 1) { /* "usage":null with its comma: dropped */
                f->um = 0;
                f->npend = 0;
                run = i + 1;
            } else { /* not it: the held bytes go out, this byte is looked at again */
                if (f->npend) ok = emit(ctx, f->pend, f->npend) && ok;
                f->npend = 0;
                f->um = 0;
                run = i;
                if (ch == ',') {
                    i--;
                    continue;
                }
            }
        }
        /* event boundaries: a blank line */
        if ((unsigned char)ch > '\r' || (ch != '\n' && ch != '\r')) {
            f->line_end = f->cr = false;
            continue;
        }
        if (ch == '\n' && f->cr) { /* the second half of a CRLF */
            f->cr = false;
            if (tail_lf && i == run && f->mode == M_HEAD && !f->held.len) {
                /* the '\n' of the previous event's blank line: its fate is that event's */
                if (tail_lf == 1) ok = emit(ctx, p + i, 1) && ok;
                run = i + 1;
            }
            continue;
        }
        f->cr = ch == '\r';
        if (!f->line_end) {
            f->line_end = true;
            continue;
        }
        f->skip_lf = 0;
        if (f->mode == M_PASS) {
            if (f->npend) ok = emit(ctx, f->pend, f->npend) && ok;
            f->npend = 0;
            f->um = 0;
            ok = emit(ctx, p + run, i + 1 - run) && ok;
            f->skip_lf = ch == '\r';
        } else if (f->held.len) {
            if (sy_buf_append(&f->held, p + run, i + 1 - run)) {
                ok = emit(ctx, f->held.base, f->held.len) && ok;
                ok = emit(ctx, p + run, i + 1 - run) && ok;
                f->skip_lf = ch == '\r';
            } else {
                ok = whole_event(f, f->held.base, f->held.len, emit, ctx) && ok;
            }
            sy_buf_reset(&f->held);
        } else {
            ok = whole_event(f, p + run, i + 1 - run, emit, ctx) && ok;
        }
        run = i + 1;
        f->mode = M_HEAD;
        f->cm = 0;
    }
    if (run < n) {
        if (f->mode == M_PASS)
            ok = emit(ctx, p + run, n - run) && ok;
        else
            ok = hold(f, p + run, n - run, emit, ctx) && ok;
    }
    return ok;
}

bool sy_usage_filter_finish(sy_usage_filter_t *f, sy_usage_filter_emit_cb emit, void *ctx)
{
    bool ok = true;
    if (f->held.len) ok = emit(ctx, f->held.base, f->held.len);
    if (f->npend) ok = emit(ctx, f->pend, f->npend) && ok;
    sy_buf_reset(&f->held);
    f->npend = 0;
    return ok;
}
