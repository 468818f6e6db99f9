/* See usage_filter.h. */
#include "api/usage_filter.h"

#include <stdint.h>
#include <string.h>

enum { M_HEAD, M_CAND, M_PASS };

static const char CHOICES[] = "\"choices\""; /* 9 bytes */
static const char USAGE[] = "\"usage\"";     /* 7 bytes */

void sy_usage_filter_init(sy_usage_filter_t *f, size_t max_event_bytes)
{
    memset(f, 0, sizeof *f);
    f->line_end = true; /* the stream starts at an event boundary */
    f->mode = M_PASS;   /* not armed: events stream from their first byte */
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

/* The first `key` in [s, end): memchr for its rarest byte key[pivot], then a compare (glibc's
 * memmem walks short needles byte by byte; memchr is vectorised). */
static const char *find_lit(const char *s, const char *end, const char *key, size_t klen,
                            size_t pivot)
{
    const char *c = s + pivot;
    while (c < end && (c = memchr(c, key[pivot], (size_t)(end - c))) != NULL) {
        const char *k = c - pivot;
        if (k + klen <= end && k[0] == key[0] && k[klen - 1] == key[klen - 1] &&
            memcmp(k, key, klen) == 0)
            return k;
        c++;
    }
    return NULL;
}
#define FIND_USAGE(s, end) find_lit(s, end, USAGE, 7, 4)     /* 'g' */
#define FIND_CHOICES(s, end) find_lit(s, end, CHOICES, 9, 2) /* 'h' */

/* The first `key` (quotes included) followed by optional whitespace and ':'; *val = the value's
 * first byte after whitespace (may be end). NULL when there is none. */
static const char *find_key(const char *p, const char *end, const char *key, size_t klen,
                            const char **val)
{
    const char *s = p;
    while (s < end && (s = find_lit(s, end, key, klen, klen == 7 ? 4 : 2)) != NULL) {
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

/* find_key, only inside `data:` lines of the event bytes [p, end) (which start at a line
 * start): a comment (": …") or another field's line is never touched. */
static const char *find_key_data(const char *p, const char *end, const char *key, size_t klen,
                                 const char **val)
{
    for (const char *ls = p; ls < end;) {
        const char *le = ls;
        while (le < end && *le != '\n' && *le != '\r')
            le++;
        const char *k;
        if (le - ls >= 5 && memcmp(ls, "data:", 5) == 0 &&
            (k = find_key(ls + 5, le, key, klen, val)) != NULL)
            return k;
        ls = le + 1;
    }
    return NULL;
}

/* Bytes with a "usage":null member cut out (with one comma next to it), else unchanged. */
static bool emit_cut(const char *e, size_t len, sy_usage_filter_emit_cb emit, void *ctx,
                     const char **usage_val)
{
    const char *end = e + len, *v;
    const char *k = find_key_data(e, end, USAGE, 7, &v);
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
    if (find_key_data(e, end, USAGE, 7, &v) && v < end && *v == '{' &&
        find_key_data(e, end, CHOICES, 9, &cv) && cv < end && *cv == '[') {
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

/* One feed's state. */
typedef struct feed {
    sy_usage_filter_t *f;
    const char *p;
    size_t n;
    size_t run; /* M_PASS: first byte not yet emitted; M_HEAD/M_CAND: first byte not held */
    sy_usage_filter_emit_cb emit;
    void *ctx;
    bool ok;
    size_t line_start; /* where the current line starts in p; SIZE_MAX: in an earlier piece */
} feed_t;

/* Whether the current line is a `data:` line: its first five bytes (f->lhead holds those of a
 * line that began in an earlier piece). A line not yet five bytes long counts as not data: it
 * cannot hold a match yet. */
static bool in_data_line(const feed_t *d)
{
    const sy_usage_filter_t *f = d->f;
    char h[5];
    size_t k = 0, from = 0;
    if (d->line_start == SIZE_MAX) {
        memcpy(h, f->lhead, f->nlhead);
        k = f->nlhead;
    } else {
        from = d->line_start;
    }
    while (k < 5 && from < d->n)
        h[k++] = d->p[from++];
    return k == 5 && memcmp(h, "data:", 5) == 0;
}

static void out(feed_t *d, const char *p, size_t n)
{
    if (!n) return;
    d->ok = d->emit(d->ctx, p, n) && d->ok;
}

/* Ordinary chunk decided at p[i] ("choices":[ followed by something else than ']'): the
 * envelope goes out (a "usage":null in it cut), the rest of the event streams. */
static void to_pass(feed_t *d, size_t i)
{
    sy_usage_filter_t *f = d->f;
    const char *uv;
    if (f->held.len) {
        if (!sy_buf_append(&f->held, d->p + d->run, i - d->run)) {
            d->ok = emit_cut(f->held.base, f->held.len, d->emit, d->ctx, &uv) && d->ok;
        } else { /* over the cap: as it is */
            out(d, f->held.base, f->held.len);
            out(d, d->p + d->run, i - d->run);
        }
        d->run = i;
    } else if (FIND_USAGE(d->p + d->run, d->p + i)) {
        d->ok = emit_cut(d->p + d->run, i - d->run, d->emit, d->ctx, &uv) && d->ok;
        d->run = i;
    } /* else the envelope stays in the run: one write with the rest */
    sy_buf_reset(&f->held);
    f->mode = M_PASS;
    f->um = 0;
}

/* A started ,"usage":null match (its bytes from earlier pieces in pend) meets byte i. */
static void pend_step(feed_t *d, size_t *i)
{
    sy_usage_filter_t *f = d->f;
    char ch = d->p[*i];
    int r = match_usage_null(f, ch);
    if (r == 0 && f->npend < sizeof f->pend) {
        f->pend[f->npend++] = ch;
        d->run = ++*i;
    } else if (r == 1) { /* "usage":null with its comma: dropped */
        f->um = 0;
        f->npend = 0;
        d->run = ++*i;
    } else { /* not it: the held bytes go out, this byte is looked at again */
        out(d, f->pend, f->npend);
        f->npend = 0;
        f->um = 0;
    }
}

/* A ,"usage":null that may begin at c and run past the piece's end: held in pend. */
static void hold_tail(feed_t *d, const char *c)
{
    sy_usage_filter_t *f = d->f;
    const char *end = d->p + d->n;
    if (end - c > (ptrdiff_t)sizeof f->pend) return;
    f->um = 0;
    for (const char *q = c; q < end; q++)
        if (match_usage_null(f, *q) != 0) { /* mismatch (a whole match ends at a newline) */
            f->um = 0;
            return;
        }
    out(d, d->p + d->run, (size_t)(c - d->p) - d->run);
    memcpy(f->pend, c, (size_t)(end - c));
    f->npend = (unsigned)(end - c);
    d->run = d->n;
}

static const char FINISH[] = "\"finish_reason\""; /* 15 bytes */

/* Before the first finish_reason the usage chunk cannot come (OpenAI sends it after the last
 * choice finished): events stream from their first byte. A finish_reason whose value is not
 * null arms the filter (a value cut by the piece's end too: holding costs only latency). */
static void maybe_arm(sy_usage_filter_t *f, const char *s, const char *end)
{
    const char *k = find_lit(s, end, FINISH, 15, 1); /* 'f' */
    for (; k; k = find_lit(k + 1, end, FINISH, 15, 1)) {
        const char *q = k + 15;
        while (q < end && (is_ws(*q) || *q == ':'))
            q++;
        if (q == end || *q != 'n') {
            f->armed = true;
            return;
        }
    }
}

/* M_PASS over [i, lim) (no newline inside): cut every ,"usage":null. */
static void pass_segment(feed_t *d, size_t i, size_t lim)
{
    sy_usage_filter_t *f = d->f;
    const char *s = d->p + i, *end = d->p + lim, *k;
    if (!in_data_line(d)) return; /* comments and other fields pass untouched */
    while (s < end && (k = FIND_USAGE(s, end)) != NULL) {
        s = k + 1;
        const char *c = k;
        while (c > d->p + d->run && is_ws(c[-1]))
            c--;
        if (c == d->p + d->run || c[-1] != ',') continue;
        c--;
        const char *q = k + 7; /* ws* ':' ws* "null", compared in place */
        while (q < end && is_ws(*q))
            q++;
        if (q < end && *q != ':') continue;
        if (q < end) q++;
        while (q < end && is_ws(*q))
            q++;
        size_t room = (size_t)(end - q);
        if (memcmp(q, "null", room < 4 ? room : 4) != 0) continue;
        if (room >= 4) {
            out(d, d->p + d->run, (size_t)(c - d->p) - d->run);
            d->run = (size_t)(q + 4 - d->p);
            s = q + 4;
        } else if (lim == d->n) { /* it may go on in the next piece */
            hold_tail(d, c);
            return;
        }
    }
    if (lim == d->n && d->run < d->n) { /* a match may start in the last bytes */
        const char *from = d->p + (d->n - d->run > sizeof f->pend ? d->n - sizeof f->pend : d->run);
        const char *c = memrchr(from, ',', (size_t)(end - from));
        if (c) hold_tail(d, c);
    }
}

/* M_HEAD over [i, lim): look for "choices":[ X. Returns where to go on. */
static size_t head_segment(feed_t *d, size_t i, size_t lim)
{
    sy_usage_filter_t *f = d->f;
    const char *s = d->p + i, *end = d->p + lim, *k;
    if (!in_data_line(d)) return lim; /* held with its event; decided at the blank line */
    while (s < end && (k = FIND_CHOICES(s, end)) != NULL) {
        f->cm = 9;
        const char *q = k + 9;
        for (; q < end; q++) {
            int r = match_choices(f, *q);
            if (r == 2) {
                to_pass(d, (size_t)(q - d->p));
                pass_segment(d, (size_t)(q - d->p), lim);
                return lim;
            }
            if (r == 1) {
                f->mode = M_CAND;
                return lim;
            }
            if (f->cm < 9) break;
        }
        if (q == end) return lim; /* undecided: the byte-wise path goes on (cm kept) */
        s = k + 1;
    }
    f->cm = 0; /* a "choices" may begin in the last 8 bytes */
    size_t from = lim - i > 8 ? lim - 8 : i;
    if ((size_t)(s - d->p) > from) from = (size_t)(s - d->p);
    for (size_t q = from; q < lim; q++)
        match_choices(f, d->p[q]);
    return lim;
}

/* A newline byte at i: line and event boundaries. */
static void newline(feed_t *d, size_t i, int tail_lf)
{
    sy_usage_filter_t *f = d->f;
    char ch = d->p[i];
    d->line_start = i + 1;
    f->nlhead = 0;
    if (ch == '\n' && f->cr) { /* the second half of a CRLF */
        f->cr = false;
        if (tail_lf && i == d->run && f->mode == M_HEAD && !f->held.len) {
            /* the '\n' of the previous event's blank line: its fate is that event's */
            if (tail_lf == 1) out(d, d->p + i, 1);
            d->run = i + 1;
        }
        return;
    }
    f->cr = ch == '\r';
    if (!f->line_end) {
        f->line_end = true;
        return;
    }
    /* a blank line: the event ends here */
    const char *e = d->p + d->run;
    size_t len = i + 1 - d->run;
    if (f->mode == M_PASS) {
        out(d, f->pend, f->npend);
        out(d, e, len);
        f->skip_lf = ch == '\r';
    } else if (f->held.len) {
        if (sy_buf_append(&f->held, e, len)) {
            out(d, f->held.base, f->held.len);
            out(d, e, len);
            f->skip_lf = ch == '\r';
        } else {
            d->ok = whole_event(f, f->held.base, f->held.len, d->emit, d->ctx) && d->ok;
        }
        sy_buf_reset(&f->held);
    } else {
        d->ok = whole_event(f, e, len, d->emit, d->ctx) && d->ok;
    }
    f->npend = 0;
    f->um = 0;
    d->run = i + 1;
    f->mode = f->armed ? M_HEAD : M_PASS;
    f->cm = 0;
}

static size_t next_newline(const char *p, size_t i, size_t n)
{
    const char *a = memchr(p + i, '\n', n - i);
    size_t lim = a ? (size_t)(a - p) : n;
    const char *b = memchr(p + i, '\r', lim - i);
    return b ? (size_t)(b - p) : lim;
}

bool sy_usage_filter_feed(sy_usage_filter_t *f, const char *p, size_t n,
                          sy_usage_filter_emit_cb emit, void *ctx)
{
    feed_t d = {.f = f,
                .p = p,
                .n = n,
                .run = 0,
                .emit = emit,
                .ctx = ctx,
                .ok = true,
                .line_start = SIZE_MAX};
    /* this piece, and a key across the last piece's end (not when that ended a line) */
    if (!f->armed && n && !f->line_end) {
        char join[30];
        size_t k = n < 15 ? n : 15;
        memcpy(join, f->tail, f->ntail);
        memcpy(join + f->ntail, p, k);
        maybe_arm(f, join, join + f->ntail + k);
    }
    if (!f->armed && n) {
        maybe_arm(f, p, p + n);
        size_t t = n < 15 ? n : 15;
        if (n < 15 && f->ntail + n > 15) { /* keep the last 15 bytes of the stream */
            memmove(f->tail, f->tail + (f->ntail + n - 15), 15 - n);
            f->ntail = (unsigned)(15 - n);
        } else if (n >= 15) {
            f->ntail = 0;
        }
        memcpy(f->tail + f->ntail, p + n - t, t);
        f->ntail += (unsigned)t;
    }
    size_t i = 0;
    while (i < n) {
        char ch = p[i];
        int tail_lf = f->skip_lf;
        f->skip_lf = 0;
        if (f->mode == M_PASS && f->um) { /* a match from the last piece goes on */
            size_t before = i;
            pend_step(&d, &i);
            if (i == before && ch != '\n' && ch != '\r') {
                f->line_end = f->cr = false;
                if (ch != ',') i++; /* stays in the run */
            } else if (i != before && (ch == '\n' || ch == '\r')) {
                newline(&d, before, tail_lf); /* whitespace inside the match */
            }
            continue;
        }
        if (f->mode == M_HEAD && f->cm) { /* a "choices" from the last piece goes on */
            int r = match_choices(f, ch);
            if (r == 2) {
                to_pass(&d, i);
                continue;
            }
            if (r == 1) f->mode = M_CAND;
            if (ch == '\n' || ch == '\r')
                newline(&d, i, tail_lf);
            else
                f->line_end = f->cr = false;
            i++;
            continue;
        }
        if (ch == '\n' || ch == '\r') {
            newline(&d, i, tail_lf);
            i++;
            continue;
        }
        size_t lim = next_newline(p, i, n);
        f->line_end = f->cr = false;
        if (f->mode == M_PASS)
            pass_segment(&d, i, lim);
        else if (f->mode == M_HEAD)
            lim = head_segment(&d, i, lim);
        i = lim;
    }
    /* the first bytes of the line going on into the next piece */
    size_t from = d.line_start == SIZE_MAX ? 0 : d.line_start;
    if (d.line_start != SIZE_MAX) f->nlhead = 0;
    while (f->nlhead < 5 && from < n)
        f->lhead[f->nlhead++] = p[from++];
    if (d.run < n) {
        if (f->mode == M_PASS)
            out(&d, p + d.run, n - d.run);
        else
            d.ok = hold(f, p + d.run, n - d.run, emit, ctx) && d.ok;
    }
    return d.ok;
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
