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

static sy_err_t process_line(sy_sse_parser_t *p, const char *l, size_t n)
{
    if (n == 0) {
        /* blank line: dispatch */
        if (p->have_data) {
            sy_str_t type =
                p->event.len ? sy_str(p->event.base, p->event.len) : SY_STR_LIT("message");
            if (p->on_event)
                p->on_event(p->ctx, type, sy_str(p->data.base ? p->data.base : "", p->data.len),
                            sy_str(p->id.base ? p->id.base : "", p->id.len));
        }
        p->data.len = 0;
        p->event.len = 0;
        p->have_data = false;
        return SY_OK;
    }
    if (l[0] == ':') return SY_OK; /* comment */
    const char *colon = memchr(l, ':', n);
    size_t flen = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vlen = colon ? n - flen - 1 : 0;
    if (vlen && *v == ' ') v++, vlen--;
    sy_str_t f = sy_str(l, flen);
    sy_err_t err = SY_OK;
    if (sy_str_eq_c(f, "data")) {
        if (p->have_data) err = sy_buf_append(&p->data, "\n", 1);
        if (!err) err = sy_buf_append(&p->data, v, vlen);
        p->have_data = true;
    } else if (sy_str_eq_c(f, "event")) {
        p->event.len = 0;
        err = sy_buf_append(&p->event, v, vlen);
    } else if (sy_str_eq_c(f, "id")) {
        if (!memchr(v, '\0', vlen)) {
            p->id.len = 0;
            err = sy_buf_append(&p->id, v, vlen);
        }
    } else if (sy_str_eq_c(f, "retry")) {
        long r = 0;
        size_t i;
        for (i = 0; i < vlen && v[i] >= '0' && v[i] <= '9' && r < 100000000; i++)
            r = r * 10 + (v[i] - '0');
        if (i == vlen && vlen > 0) p->retry_ms = r;
    }
    return err;
}

sy_err_t sy_sse_parser_feed(sy_sse_parser_t *p, const char *buf, size_t len)
{
    size_t i = 0;
    if (p->last_cr && len > 0 && buf[0] == '\n') i = 1; /* the \n of a split \r\n */
    p->last_cr = false;
    while (i < len) {
        /* find the next line terminator */
        size_t j = i;
        while (j < len && buf[j] != '\n' && buf[j] != '\r')
            j++;
        if (j == len) {
            return sy_buf_append(&p->line, buf + i, len - i);
        }
        sy_err_t err;
        if (p->line.len) {
            if ((err = sy_buf_append(&p->line, buf + i, j - i))) return err;
            err = process_line(p, p->line.base, p->line.len);
            p->line.len = 0;
        } else {
            err = process_line(p, buf + i, j - i);
        }
        if (err) return err;
        if (buf[j] == '\r') {
            if (j + 1 < len && buf[j + 1] == '\n')
                j++;
            else if (j + 1 == len)
                p->last_cr = true;
        }
        i = j + 1;
    }
    return SY_OK;
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
