/* Native HTTP/1.1 upstream client: see h1.h for the design. */
#include "upstream/h1.h"

#include <arpa/inet.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

#define IDLE_MAX 256          /* idle connections kept per loop */
#define IDLE_TIMEOUT_MS 60000 /* an idle pooled connection is closed after this */

typedef enum { PH_CONNECT, PH_HEAD, PH_BODY, PH_IDLE } phase_t;

typedef struct h1_conn h1_conn_t;

struct sy_h1 {
    uv_loop_t *loop;
    h1_conn_t *idle; /* idle pool, most recently used first */
    size_t n_idle;
    size_t n_conns;
    bool closing;
    char readbuf[65536];
};

struct h1_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect_req;
    llhttp_t parser;
    sy_h1_t *h;
    const sy_h1_target_t *target;
    h1_conn_t *next_idle;
    sy_upstream_call_t *call; /* NULL when idle */
    phase_t phase;
    uint64_t phase_start_ms; /* loop time */
    uint64_t last_read_ms;
    uint64_t total_deadline_ms; /* 0 = none */
    uint64_t head_deadline_ms;  /* first_byte_ms from the call's start; 0 = none */
    int status;
    char field[16];
    size_t field_len;
    bool field_is_ct;
    char *field_dst; /* the call's buffer for the current header's value, or NULL */
    size_t field_dst_size;
    bool reused;
    bool got_bytes;
    bool paused;
    bool reading;
    bool message_done;
    bool keep_alive;
    bool closing;
    int closes_pending;
};

typedef struct h1_write {
    uv_write_t w;
    char *buf;
    size_t head_len; /* the request head: it holds the provider key's header line */
} h1_write_t;

/* Frees a request buffer after zeroing its head (the key must not linger in freed heap). */
static void free_request(char *buf, size_t head_len)
{
    explicit_bzero(buf, head_len);
    free(buf);
}

static llhttp_settings_t settings;

/* ---- target parsing ---- */

bool sy_h1_target_parse(const char *url, sy_h1_target_t *t)
{
    if (strncmp(url, "http://", 7) != 0) return false;
    const char *host = url + 7;
    const char *path = strchr(host, '/');
    size_t hostport_len = path ? (size_t)(path - host) : strlen(host);
    if (hostport_len == 0 || hostport_len >= sizeof t->hostport) return false;
    if (memchr(host, '@', hostport_len)) return false; /* credentials: leave to curl */
    memcpy(t->hostport, host, hostport_len);
    t->hostport[hostport_len] = '\0';
    const char *p = path ? path : "/";
    if (strlen(p) >= sizeof t->path || strpbrk(p, "# \r\n")) return false;
    strcpy(t->path, p);
    char h[256];
    int port = 80;
    const char *hp = t->hostport;
    if (hp[0] == '[') {
        const char *end = strchr(hp, ']');
        if (!end || (size_t)(end - hp - 1) >= sizeof h) return false;
        memcpy(h, hp + 1, (size_t)(end - hp - 1));
        h[end - hp - 1] = '\0';
        if (end[1] == ':')
            port = atoi(end + 2);
        else if (end[1])
            return false;
    } else {
        const char *colon = strrchr(hp, ':');
        size_t n = colon ? (size_t)(colon - hp) : strlen(hp);
        if (n >= sizeof h) return false;
        memcpy(h, hp, n);
        h[n] = '\0';
        if (colon) port = atoi(colon + 1);
    }
    if (port <= 0 || port > 65535) return false;
    if (strcmp(h, "localhost") == 0) strcpy(h, "127.0.0.1");
    memset(&t->addr, 0, sizeof t->addr);
    if (uv_ip4_addr(h, port, (struct sockaddr_in *)&t->addr) == 0) return true;
    if (uv_ip6_addr(h, port, (struct sockaddr_in6 *)&t->addr) == 0) return true;
    return false; /* a host name: curl resolves it */
}

/* ---- lifecycle ---- */

static void on_conn_closed(uv_handle_t *hd)
{
    h1_conn_t *c = hd->data;
    if (--c->closes_pending > 0) return;
    sy_h1_t *h = c->h;
    h->n_conns--;
    free(c);
    if (h->closing && h->n_conns == 0) free(h);
}

static void pool_remove(h1_conn_t *c)
{
    for (h1_conn_t **p = &c->h->idle; *p; p = &(*p)->next_idle)
        if (*p == c) {
            *p = c->next_idle;
            c->h->n_idle--;
            break;
        }
    c->next_idle = NULL;
}

static void conn_close(h1_conn_t *c)
{
    if (c->closing) return;
    c->closing = true;
    if (c->phase == PH_IDLE) pool_remove(c);
    if (c->call) {
        c->call->h1conn = NULL;
        c->call = NULL;
    }
    c->closes_pending = 2;
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void finish_call(sy_upstream_call_t *call, sy_err_t err, const char *detail)
{
    call->done = true;
    call->h1conn = NULL;
    call->t_end_us = sy_clock_mono_us();
    call->on_done(call, err, detail);
}

static void fail(h1_conn_t *c, sy_err_t err, const char *detail)
{
    sy_upstream_call_t *call = c->call;
    conn_close(c);
    if (call) finish_call(call, err, detail);
}

/* ---- timers: one per connection; deadlines are checked when it fires ---- */

static void on_timer(uv_timer_t *t);

/* The deadline that applies in the current phase (0 = none). */
static uint64_t current_deadline(h1_conn_t *c, const char **why)
{
    sy_upstream_call_t *call = c->call;
    uint64_t d = 0;
    *why = "upstream timed out";
    if (c->phase == PH_IDLE) return c->phase_start_ms + IDLE_TIMEOUT_MS;
    if (c->phase == PH_CONNECT && call->connect_ms) {
        d = c->phase_start_ms + call->connect_ms;
        *why = "upstream connect timed out (connect_ms)";
    }
    if (c->phase != PH_BODY && c->head_deadline_ms && (!d || c->head_deadline_ms < d)) {
        d = c->head_deadline_ms;
        *why = "upstream sent no response within first_byte_ms";
    }
    if (c->phase == PH_BODY && call->idle_ms) {
        d = c->last_read_ms + call->idle_ms;
        *why = "upstream was silent longer than idle_ms";
    }
    if (c->total_deadline_ms && (!d || c->total_deadline_ms < d)) {
        d = c->total_deadline_ms;
        *why = "upstream exceeded total_ms";
    }
    return d;
}

static void arm(h1_conn_t *c)
{
    const char *why;
    uint64_t due = current_deadline(c, &why);
    uint64_t now = uv_now(c->h->loop);
    if (!due) {
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    h1_conn_t *c = t->data;
    if (c->closing) return;
    const char *why;
    uint64_t due = current_deadline(c, &why);
    if (due && uv_now(c->h->loop) >= due) {
        if (c->phase == PH_IDLE)
            conn_close(c);
        else
            fail(c, SY_ERR_UPSTREAM_TIMEOUT, why);
        return;
    }
    arm(c); /* activity moved the deadline (idle gap): sleep until the new one */
}

/* ---- response parsing ---- */

#define CONN(p) ((h1_conn_t *)(p)->data)

static int on_message_begin(llhttp_t *p)
{
    h1_conn_t *c = CONN(p);
    c->field_len = 0;
    c->field_is_ct = false;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    h1_conn_t *c = CONN(p);
    size_t room = sizeof c->field - c->field_len;
    size_t k = n < room ? n : room;
    memcpy(c->field + c->field_len, at, k);
    c->field_len += n; /* may exceed the buffer: then it is not content-type */
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    h1_conn_t *c = CONN(p);
    c->field_is_ct = c->field_len == 12 && strncasecmp(c->field, "content-type", 12) == 0;
    c->field_dst = NULL;
    if (c->call) {
        if (c->field_is_ct) {
            c->field_dst = c->call->content_type;
            c->field_dst_size = sizeof c->call->content_type;
        } else if (c->field_len == 11 && strncasecmp(c->field, "retry-after", 11) == 0) {
            c->field_dst = c->call->retry_after;
            c->field_dst_size = sizeof c->call->retry_after;
        } else if (c->field_len == 14 && strncasecmp(c->field, "retry-after-ms", 14) == 0) {
            c->field_dst = c->call->retry_after_ms_h;
            c->field_dst_size = sizeof c->call->retry_after_ms_h;
        }
        if (c->field_dst) c->field_dst[0] = '\0';
    }
    c->field_len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    h1_conn_t *c = CONN(p);
    if (!c->field_dst || !c->call) return 0;
    char *ct = c->field_dst;
    size_t len = strlen(ct), room = c->field_dst_size - 1 - len;
    size_t k = n < room ? n : room;
    memcpy(ct + len, at, k);
    ct[len + k] = '\0';
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    h1_conn_t *c = CONN(p);
    c->status = p->status_code;
    sy_upstream_call_t *call = c->call;
    if (c->status < 200 || !call) return 0; /* 1xx: an interim response, skipped */
    call->status = c->status;
    call->retry_after_ms = sy_upstream_retry_after_ms(call->retry_after, call->retry_after_ms_h);
    call->head_seen = true;
    call->t_head_us = sy_clock_mono_us();
    c->phase = PH_BODY;
    c->last_read_ms = uv_now(c->h->loop);
    arm(c);
    call->in_callback = true;
    call->on_head(call, c->status, sy_str_c(call->content_type));
    call->in_callback = false;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    h1_conn_t *c = CONN(p);
    sy_upstream_call_t *call = c->call;
    if (c->status < 200 || !call) return 0;
    if (!call->t_first_data_us) call->t_first_data_us = sy_clock_mono_us();
    call->in_callback = true;
    bool more = call->on_data(call, at, n);
    call->in_callback = false;
    if (!more) c->paused = true;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    h1_conn_t *c = CONN(p);
    if (c->status < 200) return 0;
    c->message_done = true;
    c->keep_alive = llhttp_should_keep_alive(p);
    return HPE_PAUSED;
}

/* ---- I/O ---- */

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    h1_conn_t *c = hd->data;
    buf->base = c->h->readbuf;
    buf->len = sizeof c->h->readbuf;
}

static void start_reading(h1_conn_t *c);
static void send_request(h1_conn_t *c);
static h1_conn_t *conn_new(sy_h1_t *h, const sy_h1_target_t *t);

/* The response is complete: the connection goes back to the pool or is closed. */
static void complete(h1_conn_t *c, bool clean)
{
    sy_upstream_call_t *call = c->call;
    c->call = NULL;
    if (clean && c->keep_alive && !c->h->closing && c->h->n_idle < IDLE_MAX) {
        llhttp_reset(&c->parser);
        c->phase = PH_IDLE;
        c->phase_start_ms = uv_now(c->h->loop);
        c->message_done = false;
        c->paused = false;
        c->next_idle = c->h->idle;
        c->h->idle = c;
        c->h->n_idle++;
        start_reading(c); /* notice a server-side close while idle */
        arm(c);
    } else {
        conn_close(c);
    }
    finish_call(call, SY_OK, NULL);
}

static void retry_on_new_connection(h1_conn_t *old)
{
    sy_upstream_call_t *call = old->call;
    const sy_h1_target_t *t = old->target;
    sy_h1_t *h = old->h;
    uint64_t total = old->total_deadline_ms, head = old->head_deadline_ms;
    conn_close(old);
    call->h1_retried = true;
    h1_conn_t *c = conn_new(h, t);
    if (!c) {
        finish_call(call, SY_ERR_UPSTREAM_UNREACHABLE, "cannot open a connection");
        return;
    }
    c->call = call;
    call->h1conn = c;
    c->total_deadline_ms = total;
    c->head_deadline_ms = head;
    arm(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    h1_conn_t *c = s->data;
    if (c->closing || nread == 0) return;
    if (c->phase == PH_IDLE) {
        conn_close(c); /* EOF (server closed an idle connection) or unexpected bytes */
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF && c->got_bytes) {
            llhttp_finish(&c->parser); /* a body delimited by the close completes here */
            if (c->message_done) {
                complete(c, false);
                return;
            }
        }
        if (!c->got_bytes && c->reused && !c->call->h1_retried) {
            retry_on_new_connection(c);
            return;
        }
        fail(c, SY_ERR_UPSTREAM_BROKEN,
             c->got_bytes ? "upstream closed the connection before the response was complete"
                          : "upstream closed the connection without a response");
        return;
    }
    c->got_bytes = true;
    if (c->phase == PH_BODY) c->last_read_ms = uv_now(c->h->loop);
    llhttp_errno_t e = llhttp_execute(&c->parser, buf->base, (size_t)nread);
    if (c->closing) return; /* cancelled from a callback */
    if (e == HPE_PAUSED && c->message_done) {
        const char *pos = llhttp_get_error_pos(&c->parser);
        bool extra = pos && pos < buf->base + nread;
        complete(c, !extra);
        return;
    }
    if (e != HPE_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, "invalid HTTP response from upstream: %s",
                 llhttp_get_error_reason(&c->parser) ? llhttp_get_error_reason(&c->parser) : "?");
        fail(c, SY_ERR_UPSTREAM_BROKEN, msg);
        return;
    }
    if (c->paused && c->reading) {
        uv_read_stop(s);
        c->reading = false;
    }
}

static void start_reading(h1_conn_t *c)
{
    if (c->reading || c->closing) return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = true;
}

static void on_write_done(uv_write_t *w, int status)
{
    h1_write_t *hw = (h1_write_t *)w;
    h1_conn_t *c = w->data;
    free_request(hw->buf, hw->head_len);
    free(hw);
    if (status < 0 && status != UV_ECANCELED && !c->closing && c->call) {
        if (c->reused && !c->call->h1_retried && !c->got_bytes)
            retry_on_new_connection(c);
        else
            fail(c, SY_ERR_UPSTREAM_BROKEN, "writing the request to the upstream failed");
    }
}

static void send_request(h1_conn_t *c)
{
    sy_upstream_call_t *call = c->call;
    const sy_h1_target_t *t = c->target;
    size_t hdr_len = 0;
    for (const struct curl_slist *l = call->headers; l; l = l->next)
        hdr_len += strlen(l->data) + 2;
    size_t cap = 64 + strlen(t->path) + strlen(t->hostport) + hdr_len + 48 + call->body_len;
    char *buf = sy_xmalloc(cap);
    int n = snprintf(buf, cap, "POST %s HTTP/1.1\r\nHost: %s\r\n", t->path, t->hostport);
    size_t o = (size_t)n;
    for (const struct curl_slist *l = call->headers; l; l = l->next) {
        const char *colon = strchr(l->data, ':');
        if (!colon || colon[1] == '\0') continue; /* "Name:" removes a header in curl: skip */
        size_t k = strlen(l->data);
        memcpy(buf + o, l->data, k);
        o += k;
        memcpy(buf + o, "\r\n", 2);
        o += 2;
    }
    o += (size_t)snprintf(buf + o, cap - o, "Content-Length: %zu\r\n\r\n", call->body_len);
    size_t head_len = o;
    memcpy(buf + o, call->body, call->body_len);
    o += call->body_len;
    c->phase = PH_HEAD;
    c->got_bytes = false;
    c->message_done = false;
    c->status = 0;
    start_reading(c);
    arm(c);
    uv_buf_t b = uv_buf_init(buf, (unsigned)o);
    int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (r == (int)o) {
        free_request(buf, head_len);
        return;
    }
    if (r < 0 && r != UV_EAGAIN) {
        free_request(buf, head_len);
        if (c->reused && !call->h1_retried)
            retry_on_new_connection(c);
        else
            fail(c, SY_ERR_UPSTREAM_BROKEN, "writing the request to the upstream failed");
        return;
    }
    size_t off = r > 0 ? (size_t)r : 0;
    h1_write_t *hw = sy_xmalloc(sizeof *hw);
    hw->buf = buf;
    hw->head_len = head_len;
    hw->w.data = c;
    b = uv_buf_init(buf + off, (unsigned)(o - off));
    if (uv_write(&hw->w, (uv_stream_t *)&c->tcp, &b, 1, on_write_done) != 0) {
        free_request(buf, head_len);
        free(hw);
        fail(c, SY_ERR_UPSTREAM_BROKEN, "writing the request to the upstream failed");
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    h1_conn_t *c = req->data;
    if (c->closing || !c->call) return;
    if (status < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "cannot connect to %s: %s", c->target->hostport,
                 uv_strerror(status));
        fail(c, SY_ERR_UPSTREAM_UNREACHABLE, msg);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    send_request(c);
}

static h1_conn_t *conn_new(sy_h1_t *h, const sy_h1_target_t *t)
{
    h1_conn_t *c = sy_xcalloc(1, sizeof *c);
    c->h = h;
    c->target = t;
    uv_tcp_init(h->loop, &c->tcp);
    uv_timer_init(h->loop, &c->timer);
    c->tcp.data = c->timer.data = c->connect_req.data = c;
    llhttp_init(&c->parser, HTTP_RESPONSE, &settings);
    c->parser.data = c;
    h->n_conns++;
    c->phase = PH_CONNECT;
    c->phase_start_ms = uv_now(h->loop);
    if (uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&t->addr, on_connect) !=
        0) {
        c->closes_pending = 2;
        c->closing = true;
        uv_close((uv_handle_t *)&c->timer, on_conn_closed);
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return NULL;
    }
    return c;
}

/* ---- API ---- */

sy_h1_t *sy_h1_new(uv_loop_t *loop)
{
    if (!settings.on_message_complete) {
        llhttp_settings_init(&settings);
        settings.on_message_begin = on_message_begin;
        settings.on_header_field = on_header_field;
        settings.on_header_field_complete = on_header_field_complete;
        settings.on_header_value = on_header_value;
        settings.on_headers_complete = on_headers_complete;
        settings.on_body = on_body;
        settings.on_message_complete = on_message_complete;
    }
    sy_h1_t *h = sy_xcalloc(1, sizeof *h);
    h->loop = loop;
    return h;
}

void sy_h1_free(sy_h1_t *h)
{
    h->closing = true;
    while (h->idle)
        conn_close(h->idle);
    if (h->n_conns == 0) free(h);
}

sy_err_t sy_h1_start(sy_h1_t *h, const sy_h1_target_t *t, sy_upstream_call_t *call)
{
    h1_conn_t *c = NULL;
    for (h1_conn_t **p = &h->idle; *p; p = &(*p)->next_idle)
        if ((*p)->target == t) {
            c = *p;
            *p = c->next_idle;
            h->n_idle--;
            c->next_idle = NULL;
            break;
        }
    call->h1target = t;
    call->h1_retried = false;
    uint64_t now = uv_now(h->loop);
    if (!c) {
        c = conn_new(h, t);
        if (!c) return SY_ERR_UPSTREAM_UNREACHABLE;
    } else {
        c->reused = true;
    }
    c->call = call;
    call->h1conn = c;
    c->total_deadline_ms = call->total_ms ? now + call->total_ms : 0;
    c->head_deadline_ms = call->first_byte_ms ? now + call->first_byte_ms : 0;
    if (c->reused)
        send_request(c);
    else
        arm(c);
    return SY_OK;
}

void sy_h1_resume(sy_upstream_call_t *call)
{
    h1_conn_t *c = call->h1conn;
    if (!c || c->closing) return;
    c->paused = false;
    start_reading(c);
}

void sy_h1_cancel(sy_upstream_call_t *call)
{
    h1_conn_t *c = call->h1conn;
    call->done = true;
    call->t_end_us = sy_clock_mono_us();
    call->h1conn = NULL;
    if (c) conn_close(c);
}
