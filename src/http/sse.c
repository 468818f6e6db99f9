#include "http/sse.h"

#include <stdlib.h>
#include <string.h>

sy_err_t sy_sse_append_event(sy_buf_t *b, const char *event, const char *data, size_t len)
{
    sy_err_t err = SY_OK;
    if (event && *event) {
        if ((err = sy_buf_append(b, "event: ", 7)) || (err = sy_buf_append_c(b, event)) ||
            (err = sy_buf_append(b, "\n", 1)))
            return err;
    }
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r')
            j++;
        if ((err = sy_buf_append(b, "data: ", 6)) || (err = sy_buf_append(b, data + i, j - i)) ||
            (err = sy_buf_append(b, "\n", 1)))
            return err;
        if (j >= len) break;
        if (data[j] == '\r' && j + 1 < len && data[j + 1] == '\n') j++;
        i = j + 1;
    }
    return sy_buf_append(b, "\n", 1);
}

sy_err_t sy_sse_append_comment(sy_buf_t *b, const char *text)
{
    sy_err_t err;
    if ((err = sy_buf_append(b, ": ", 2)) || (err = sy_buf_append_c(b, text))) return err;
    return sy_buf_append(b, "\n\n", 2);
}

void sy_sse_parser_init(sy_sse_parser_t *p, size_t max_bytes,
                        void (*on_event)(void *ctx, sy_str_t type, sy_str_t data, sy_str_t id),
                        void *ctx)
{
    memset(p, 0, sizeof *p);
    sy_buf_init(&p->line, max_bytes);
    sy_buf_init(&p->data, max_bytes);
    sy_buf_init(&p->event, 256);
    sy_buf_init(&p->id, 1024);
    p->retry_ms = -1;
    p->on_event = on_event;
    p->ctx = ctx;
}

void sy_sse_parser_dispose(sy_sse_parser_t *p)
{
    sy_buf_dispose(&p->line);
    sy_buf_dispose(&p->data);
    sy_buf_dispose(&p->event);
    sy_buf_dispose(&p->id);
}

/* The data held as a view goes into the parser's own buffer (the caller's bytes are about to
 * go away, or a second line must be joined to it). */
static sy_err_t unview(sy_sse_parser_t *p)
{
    if (!p->in_view) return SY_OK;
    p->in_view = false;
    p->data.len = 0;
    return sy_buf_append(&p->data, p->view.ptr, p->view.len);
}

/* from_caller: l points into the bytes being fed (valid until the feed returns). */
static sy_err_t process_line(sy_sse_parser_t *p, const char *l, size_t n, bool from_caller)
{
    if (n == 0) {
        /* blank line: dispatch */
        if (p->have_data) {
            sy_str_t type =
                p->event.len ? sy_str(p->event.base, p->event.len) : SY_STR_LIT("message");
            sy_str_t data =
                p->in_view ? p->view : sy_str(p->data.base ? p->data.base : "", p->data.len);
            if (p->on_event)
                p->on_event(p->ctx, type, data, sy_str(p->id.base ? p->id.base : "", p->id.len));
        }
        p->data.len = 0;
        p->event.len = 0;
        p->have_data = false;
        p->in_view = false;
        return SY_OK;
    }
    if (l[0] == ':') return SY_OK; /* comment */
    const char *colon = memchr(l, ':', n);
    size_t flen = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vlen = colon ? n - flen - 1 : 0;
    if (vlen && *v == ' ') v++, vlen--;
    sy_err_t err = SY_OK;
    if (flen == 4 && !memcmp(l, "data", 4)) {
        if (!p->have_data && from_caller) {
            if (vlen > p->data.max) return SY_ERR_TOO_LARGE;
            p->in_view = true;
            p->view = sy_str(v, vlen);
        } else {
            err = unview(p);
            if (!err && p->have_data) err = sy_buf_append(&p->data, "\n", 1);
            if (!err) err = sy_buf_append(&p->data, v, vlen);
        }
        p->have_data = true;
    } else if (flen == 5 && !memcmp(l, "event", 5)) {
        p->event.len = 0;
        err = sy_buf_append(&p->event, v, vlen);
    } else if (flen == 2 && !memcmp(l, "id", 2)) {
        if (!memchr(v, '\0', vlen)) {
            p->id.len = 0;
            err = sy_buf_append(&p->id, v, vlen);
        }
    } else if (flen == 5 && !memcmp(l, "retry", 5)) {
        long r = 0;
        size_t i;
        for (i = 0; i < vlen && v[i] >= '0' && v[i] <= '9' && r < 100000000; i++)
            r = r * 10 + (v[i] - '0');
        if (i == vlen && vlen > 0) p->retry_ms = r;
    }
    return err;
}

/* The next '\n' or '\r' in [p, end), or end. memchr is vectorised; a byte loop is not. */
static const char *find_eol(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl : end;
    const char *cr = memchr(p, '\r', (size_t)(stop - p));
    return cr ? cr : stop;
}

sy_err_t sy_sse_parser_feed(sy_sse_parser_t *p, const char *buf, size_t len)
{
    size_t i = 0;
    sy_err_t err = SY_OK;
    if (p->last_cr && len > 0 && buf[0] == '\n') i = 1; /* the \n of a split \r\n */
    p->last_cr = false;
    while (i < len) {
        size_t j = (size_t)(find_eol(buf + i, buf + len) - buf);
        if (j == len) {
            err = sy_buf_append(&p->line, buf + i, len - i);
            break;
        }
        if (p->line.len) {
            if ((err = sy_buf_append(&p->line, buf + i, j - i))) break;
            err = process_line(p, p->line.base, p->line.len, false);
            p->line.len = 0;
        } else {
            err = process_line(p, buf + i, j - i, true);
        }
        if (err) break;
        if (buf[j] == '\r') {
            if (j + 1 < len && buf[j + 1] == '\n')
                j++;
            else if (j + 1 == len)
                p->last_cr = true;
        }
        i = j + 1;
    }
    /* an event still open keeps its data in the parser, not in the caller's bytes */
    sy_err_t e2 = unview(p);
    return err ? err : e2;
}

void sy_sse_boundary_feed(sy_sse_boundary_t *t, const char *p, size_t n)
{
    if (n == 0) return;
    /* count line endings at the tail, walking back until a content byte */
    int count = 0;
    size_t i = n;
    bool all = true;
    while (i > 0) {
        char c = p[i - 1];
        if (c == '\n') {
            count++;
            if (i >= 2 && p[i - 2] == '\r') i--; /* \r\n is one ending */
        } else if (c == '\r') {
            count++;
        } else {
            all = false;
            break;
        }
        i--;
    }
    if (all) {
        /* a chunk of only line endings continues the previous tail; a \n right after a
         * trailing \r completes a \r\n and is not a second ending */
        if (t->last_cr && p[0] == '\n') count--;
        t->newlines += count;
    } else {
        t->newlines = count;
    }
    t->last_cr = p[n - 1] == '\r';
}
