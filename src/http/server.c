/* HTTP/1.1 server: see server.h for the design. */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

struct sy_http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    llhttp_t parser;
    sy_http_server_t *server;
    sy_http_conn_t *prev, *next; /* server->conns */
    sy_http_conn_t *dirty_next;  /* server->dirty */
    sy_buf_t pending;            /* received bytes not yet parsed (pipelining) */
    sy_buf_t field, value;       /* header being parsed */
    sy_buf_t out;                /* corked output */
    size_t head_bytes;           /* request line + headers so far */
    size_t write_queued;         /* bytes handed to uv_write, not yet written */
    size_t headers_cap;
    sy_err_t parse_err;
    bool req_active; /* a request is being handled (dispatched, response not finished) */
    bool req_ready;  /* parser completed a message; dispatch after execute returns */
    bool in_message; /* first byte of a request seen */
    bool closing;
    bool in_process;
    bool is_dirty;
    bool keep_alive;
    bool want_drain;
    bool linger; /* after an error response: half-close and drain input before closing */
    bool lingering;
    bool overflow; /* the output cap was hit: closed at the next flush, never inside a write */
    int closes_pending;
    uv_shutdown_t shutdown_req;
    sy_http_req_t req;
};

typedef struct write_req {
    uv_write_t w;
    sy_http_conn_t *conn;
    char *base;
    size_t len;
} write_req_t;

static void conn_close(sy_http_conn_t *c);
static void conn_process(sy_http_conn_t *c);
static void conn_mark_dirty(sy_http_conn_t *c);

/* ---- status text ---- */

static const char *status_text(int s)
{
    switch (s) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return s < 300 ? "OK" : s < 500 ? "Client Error" : "Server Error";
    }
}

/* ---- output ---- */

/* Output is bounded by the producers: they stop at the high water mark (res_write returns
 * false), and the buffer's own cap (max_body + slack) catches a producer that ignores it. */
static void out_overflow(sy_http_conn_t *c)
{
    /* Closing here would run on_abort inside the producer's own write (a provider callback);
     * the flush closes the connection from the loop instead. */
    if (!c->overflow) sy_log_warn("http: output buffer overflow, closing connection");
    c->overflow = true;
    c->keep_alive = false;
    conn_mark_dirty(c);
}

static void out_append(sy_http_conn_t *c, const void *p, size_t n)
{
    if (c->overflow) return;
    if (sy_buf_append(&c->out, p, n) != SY_OK) {
        out_overflow(c);
        return;
    }
    conn_mark_dirty(c);
}

/* The producer paused at the high water mark and the backlog is low again: let it go on. */
static void maybe_drain(sy_http_conn_t *c)
{
    sy_http_req_t *req = &c->req;
    if (c->want_drain && c->out.len + c->write_queued <= SY_HTTP_LOW_WATER && c->req_active &&
        !req->ended && !c->closing) {
        c->want_drain = false;
        if (req->on_drain) req->on_drain(req, req->hook_ctx);
    }
}

static void on_write_done(uv_write_t *w, int status)
{
    write_req_t *wr = (write_req_t *)w;
    sy_http_conn_t *c = wr->conn;
    c->write_queued -= wr->len;
    free(wr->base);
    free(wr);
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->closing) return;
    maybe_drain(c);
    if (c->write_queued == 0 && c->out.len == 0 && c->req_active && c->req.ended) conn_process(c);
}

static void conn_flush(sy_http_conn_t *c)
{
    if (c->closing) return;
    if (c->overflow) {
        conn_close(c);
        return;
    }
    if (c->req.held) return; /* sy_http_res_release marks it dirty again */
    if (c->out.len == 0) {
        /* nothing new (an aborted response adds no final chunk): it may still be finished */
        if (c->write_queued == 0 && c->req_active && c->req.ended) conn_process(c);
        return;
    }
    size_t off = 0;
    if (c->write_queued == 0) {
        uv_buf_t b = uv_buf_init(c->out.base, (unsigned)c->out.len);
        int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (r < 0 && r != UV_EAGAIN) {
            conn_close(c);
            return;
        }
        if (r > 0) off = (size_t)r;
    }
    if (off == c->out.len) {
        c->out.len = 0;
        if (c->out.cap > 4096) sy_buf_dispose(&c->out);
    } else {
        /* hand the remainder to uv_write; the request takes the buffer if nothing was written */
        write_req_t *wr = sy_xmalloc(sizeof *wr);
        wr->conn = c;
        wr->len = c->out.len - off;
        if (off == 0) {
            wr->base = c->out.base;
            c->out.base = NULL;
            c->out.cap = 0;
        } else {
            wr->base = sy_xmalloc(wr->len);
            memcpy(wr->base, c->out.base + off, wr->len);
        }
        c->out.len = 0;
        uv_buf_t b = uv_buf_init(wr->base, (unsigned)wr->len);
        int r = uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write_done);
        if (r < 0) {
            free(wr->base);
            free(wr);
            conn_close(c);
            return;
        }
        c->write_queued += wr->len;
    }
    maybe_drain(c);
    /* a finished response whose bytes are all out: start the next request */
    if (c->write_queued == 0 && c->out.len == 0 && c->req_active && c->req.ended) conn_process(c);
}

static void flush_dirty(sy_http_server_t *s)
{
    while (s->dirty) {
        sy_http_conn_t *c = s->dirty;
        s->dirty = c->dirty_next;
        c->is_dirty = false;
        c->dirty_next = NULL;
        conn_flush(c);
    }
}

static void on_prepare(uv_prepare_t *h)
{
    flush_dirty(h->data);
}

static void on_check(uv_check_t *h)
{
    flush_dirty(h->data);
}

static void conn_mark_dirty(sy_http_conn_t *c)
{
    if (c->is_dirty || c->closing) return;
    c->is_dirty = true;
    c->dirty_next = c->server->dirty;
    c->server->dirty = c;
}

static void unlink_dirty(sy_http_conn_t *c)
{
    if (!c->is_dirty) return;
    for (sy_http_conn_t **p = &c->server->dirty; *p; p = &(*p)->dirty_next)
        if (*p == c) {
            *p = c->dirty_next;
            break;
        }
    c->is_dirty = false;
}

/* ---- response API ---- */

static void append_header(sy_buf_t *b, const char *name, size_t nlen, const char *val, size_t vlen)
{
    sy_buf_append(b, name, nlen);
    sy_buf_append(b, ": ", 2);
    sy_buf_append(b, val, vlen);
    sy_buf_append(b, "\r\n", 2);
}

void sy_http_res_head(sy_http_req_t *req, int status, const sy_http_header_t *headers, size_t n,
                      int64_t content_length)
{
    sy_http_conn_t *c = req->conn;
    if (req->head_done || req->aborted) return;
    req->head_done = true;
    req->status = status;
    req->chunked = content_length < 0;
    if (c->server->draining) c->keep_alive = false;
    char line[64];
    int len = snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, status_text(status));
    out_append(c, line, (size_t)len);
    for (size_t i = 0; i < n; i++)
        append_header(&c->out, headers[i].name.ptr, headers[i].name.len, headers[i].value.ptr,
                      headers[i].value.len);
    append_header(&c->out, "x-request-id", 12, req->request_id, strlen(req->request_id));
    if (status == 304 || status == 204) {
        /* no body, and no length: a 304's content-length would describe the cached
         * representation, which a cache could take from it (RFC 9110 8.6, 15.4.5) */
        req->chunked = false;
    } else if (req->chunked) {
        sy_buf_append_c(&c->out, "transfer-encoding: chunked\r\n");
    } else {
        len = snprintf(line, sizeof line, "content-length: %lld\r\n", (long long)content_length);
        sy_buf_append(&c->out, line, (size_t)len);
    }
    if (!c->keep_alive) sy_buf_append_c(&c->out, "connection: close\r\n");
    sy_buf_append(&c->out, "\r\n", 2);
}

bool sy_http_res_write(sy_http_req_t *req, const void *data, size_t len)
{
    sy_http_conn_t *c = req->conn;
    if (req->aborted || req->ended || c->closing || c->overflow) return false;
    if (req->method == HTTP_HEAD) len = 0; /* head only; content-length still says the size */
    if (len > 0) {
        if (req->chunked) {
            /* chunk-size line; snprintf would cost more than the rest of this call */
            static const char hex[] = "0123456789abcdef";
            char hdr[24];
            int n = 0;
            for (int shift = 60; shift >= 0; shift -= 4)
                if ((len >> shift) || n || shift == 0) hdr[n++] = hex[(len >> shift) & 15];
            hdr[n++] = '\r';
            hdr[n++] = '\n';
            sy_err_t err;
            char *dst = sy_buf_reserve(&c->out, (size_t)n + len + 2, &err);
            if (!dst) {
                out_overflow(c);
                return false;
            }
            memcpy(dst, hdr, (size_t)n);
            memcpy(dst + n, data, len);
            memcpy(dst + n + len, "\r\n", 2);
            c->out.len += (size_t)n + len + 2;
            conn_mark_dirty(c);
        } else {
            out_append(c, data, len);
        }
    }
    if (c->closing) return false;
    if (c->out.len + c->write_queued > SY_HTTP_HIGH_WATER) {
        c->want_drain = true;
        return false;
    }
    return true;
}

/* Ends the request; the final chunk is written only when the connection stays usable. */
static void res_finish(sy_http_req_t *req)
{
    sy_http_conn_t *c = req->conn;
    req->ended = true;
    req->on_drain = NULL;
    req->on_abort = NULL;
    if (c->closing) return;
    conn_mark_dirty(c);
}

void sy_http_res_end(sy_http_req_t *req)
{
    sy_http_conn_t *c = req->conn;
    if (req->ended || req->aborted || req->end_held) return;
    if (!c->closing && req->chunked) out_append(c, "0\r\n\r\n", 5);
    if (req->held) {
        req->end_held = true; /* still active: on_abort fires if the client goes */
        return;
    }
    res_finish(req);
}

void sy_http_res_abort(sy_http_req_t *req)
{
    sy_http_conn_t *c = req->conn;
    if (req->ended || req->aborted || req->end_held) return;
    c->keep_alive = false; /* closed once what was written is flushed: no final chunk */
    if (req->held) {
        req->end_held = true;
        return;
    }
    res_finish(req);
}

void sy_http_res_hold(sy_http_req_t *req)
{
    req->held = true;
}

void sy_http_res_release(sy_http_req_t *req)
{
    if (!req->held) return;
    req->held = false;
    if (req->end_held) {
        req->end_held = false;
        res_finish(req);
    } else {
        conn_mark_dirty(req->conn);
    }
}

void sy_http_res_fail_held(sy_http_req_t *req)
{
    sy_http_conn_t *c = req->conn;
    if (!req->held) return;
    req->on_abort = NULL;
    req->on_drain = NULL;
    c->out.len = 0; /* the held bytes never go out */
    conn_close(c);
}

void sy_http_res_send(sy_http_req_t *req, int status, const char *content_type, const void *body,
                      size_t len, const sy_http_header_t *headers, size_t n)
{
    sy_http_header_t hs[16];
    size_t k = 0;
    if (content_type)
        hs[k++] = (sy_http_header_t){SY_STR_LIT("content-type"), sy_str_c(content_type)};
    for (size_t i = 0; i < n && k < 16; i++)
        hs[k++] = headers[i];
    sy_http_res_head(req, status, hs, k, (int64_t)len);
    sy_http_res_write(req, body, len);
    sy_http_res_end(req);
}

size_t sy_http_res_backlog(const sy_http_req_t *req)
{
    return req->conn->out.len + req->conn->write_queued;
}

sy_str_t sy_http_req_header(const sy_http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (sy_str_ieq_c(req->headers[i].name, name)) return req->headers[i].value;
    return SY_STR_NULL;
}

/* ---- errors produced by the server itself (before any handler) ---- */

static void send_plain_error(sy_http_conn_t *c, int status, const char *type, const char *code,
                             const char *msg)
{
    char body[512];
    int n =
        snprintf(body, sizeof body,
                 "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"param\":null,\"code\":\"%s\"}}",
                 msg, type, code);
    sy_http_req_t *req = &c->req;
    if (!req->request_id[0]) sy_uuid_v7(req->request_id);
    c->keep_alive = false;
    c->linger = true;
    c->req_active = true;
    c->server->n_active++;
    char ov[24];
    uint64_t t0 = req->t_begin_us ? req->t_begin_us : sy_clock_mono_us();
    int ovn = snprintf(ov, sizeof ov, "%llu", (unsigned long long)(sy_clock_mono_us() - t0));
    sy_http_header_t h = {SY_STR_LIT("x-switchyard-overhead-us"), sy_str(ov, (size_t)ovn)};
    sy_http_res_send(req, status, "application/json", body, (size_t)n, &h, 1);
}

void sy_http_req_peer(const sy_http_req_t *req, char *out, size_t outlen)
{
    struct sockaddr_storage sa;
    int len = sizeof sa;
    if (outlen) out[0] = '\0';
    if (!req->conn || uv_tcp_getpeername(&req->conn->tcp, (struct sockaddr *)&sa, &len)) return;
    if (sa.ss_family == AF_INET)
        uv_ip4_name((const struct sockaddr_in *)&sa, out, outlen);
    else if (sa.ss_family == AF_INET6)
        uv_ip6_name((const struct sockaddr_in6 *)&sa, out, outlen);
}

void sy_http_req_wipe_input(sy_http_req_t *req)
{
    sy_http_conn_t *c = req->conn;
    if (!c) return;
    explicit_bzero(c->server->readbuf, sizeof c->server->readbuf);
    sy_buf_t *p = &c->pending; /* keep the pipelined bytes still to parse, zero the rest */
    if (p->base && p->cap > p->len) explicit_bzero(p->base + p->len, p->cap - p->len);
}

/* ---- request lifecycle ---- */

static void req_release(sy_http_req_t *r)
{
    void (*cb)(sy_http_req_t *) = r->on_release;
    r->on_release = NULL;
    if (cb) cb(r);
}

static void req_reset(sy_http_conn_t *c)
{
    sy_http_req_t *r = &c->req;
    req_release(r);
    sy_arena_reset(&r->arena);
    r->method = 0;
    r->path = r->query = SY_STR_NULL;
    r->headers = NULL;
    r->n_headers = 0;
    c->headers_cap = 0;
    sy_buf_reset(&r->body);
    if (r->body.cap > 65536) sy_buf_dispose(&r->body);
    r->t_begin_us = r->t_complete_us = 0;
    r->policy_t0_ns = r->policy_ns = 0;
    r->policy_timed = false;
    r->request_id[0] = '\0';
    r->status = 0;
    r->head_done = r->chunked = r->ended = r->aborted = r->held = r->end_held = false;
    r->on_drain = r->on_abort = NULL;
    r->hook_ctx = NULL;
    r->ident = NULL;
    c->head_bytes = 0;
    c->parse_err = SY_OK;
    c->in_message = false;
    c->want_drain = false;
}

static void arm_timer(sy_http_conn_t *c, uint32_t ms);

static void on_timer(uv_timer_t *t)
{
    sy_http_conn_t *c = t->data;
    if (c->lingering) {
        conn_close(c);
        return;
    }
    if (c->closing || c->req_active) return;
    if (c->in_message) {
        send_plain_error(c, 408, "invalid_request_error", "request_timeout",
                         "the request was not received in time");
        return;
    }
    conn_close(c); /* idle keep-alive connection */
}

static void arm_timer(sy_http_conn_t *c, uint32_t ms)
{
    if (ms)
        uv_timer_start(&c->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&c->timer);
}

static void on_shutdown(uv_shutdown_t *sr, int status)
{
    (void)sr;
    (void)status; /* the linger timer or the client's EOF closes the connection */
}

/* Closing right after an error response while the client is still sending (an oversized body)
 * would make the kernel answer with RST, which can destroy the response before the client reads
 * it. So half-close, discard input until EOF, and close after at most one second (nginx
 * lingering_close). */
static void start_linger(sy_http_conn_t *c)
{
    c->lingering = true;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_close(c);
        return;
    }
    if (!uv_is_active((uv_handle_t *)&c->tcp)) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timer, 1000, 0);
}

/* After a response has been fully written: reset and parse what is pending. */
static void req_finish(sy_http_conn_t *c)
{
    c->req_active = false;
    c->server->n_active--;
    if (!c->keep_alive || c->server->draining) {
        if (c->linger && !c->server->draining)
            start_linger(c);
        else
            conn_close(c);
        return;
    }
    req_reset(c);
    llhttp_resume(&c->parser);
    arm_timer(c, c->server->limits.keepalive_timeout_ms);
}

static void dispatch(sy_http_conn_t *c)
{
    sy_http_req_t *r = &c->req;
    r->conn = c;
    c->req_active = true;
    c->server->n_active++;
    uv_timer_stop(&c->timer);
    if (!r->request_id[0]) sy_uuid_v7(r->request_id);
    c->server->handler(r, c->server->handler_ctx);
}

/* Feeds bytes to llhttp. Returns the number consumed; sets req_ready or parse_err. */
static size_t feed(sy_http_conn_t *c, const char *data, size_t len)
{
    llhttp_errno_t e = llhttp_execute(&c->parser, data, len);
    if (e == HPE_OK) return len;
    if (e == HPE_PAUSED) {
        const char *pos = llhttp_get_error_pos(&c->parser);
        return pos ? (size_t)(pos - data) : len;
    }
    if (!c->parse_err) c->parse_err = SY_ERR_BAD_HTTP;
    return len;
}

static void handle_parse_error(sy_http_conn_t *c)
{
    c->pending.len = 0;
    switch (c->parse_err) {
    case SY_ERR_HEADERS_TOO_LARGE:
        send_plain_error(c, 431, "invalid_request_error", "headers_too_large",
                         "request headers are larger than the configured limit");
        break;
    case SY_ERR_TOO_LARGE:
        if (c->server->on_reject && c->req.path.ptr) /* before the send resets nothing yet */
            c->server->on_reject(&c->req, 413, "invalid_request_error",
                                 "request body is larger than the configured limit",
                                 c->server->handler_ctx);
        send_plain_error(c, 413, "invalid_request_error", "request_too_large",
                         "request body is larger than the configured limit");
        break;
    default: {
        char msg[200];
        snprintf(msg, sizeof msg, "malformed HTTP request: %s",
                 llhttp_errno_name(llhttp_get_errno(&c->parser)));
        send_plain_error(c, 400, "invalid_request_error", "bad_request", msg);
    }
    }
}

/* Parses buffered input while no request is in flight. Re-entrancy safe: a response that ends
 * synchronously inside the handler is picked up by the outer loop. */
static void conn_process(sy_http_conn_t *c)
{
    if (c->req_active && c->req.ended && c->write_queued == 0 && c->out.len == 0) req_finish(c);
    if (c->in_process || c->closing) return;
    c->in_process = true;
    while (!c->closing && !c->req_active && c->pending.len > 0) {
        size_t used = feed(c, c->pending.base, c->pending.len);
        sy_buf_consume(&c->pending, used);
        if (c->parse_err) {
            handle_parse_error(c);
            break;
        }
        if (c->req_ready) {
            c->req_ready = false;
            dispatch(c);
            if (c->req_active && c->req.ended && c->write_queued == 0 && c->out.len == 0 &&
                !c->is_dirty)
                req_finish(c);
        }
    }
    c->in_process = false;
}

/* ---- llhttp callbacks ---- */

#define CONN(p) ((sy_http_conn_t *)(p)->data)

static int count_head(sy_http_conn_t *c, size_t n)
{
    c->head_bytes += n;
    if (c->head_bytes > c->server->limits.max_header_bytes) {
        c->parse_err = SY_ERR_HEADERS_TOO_LARGE;
        return -1;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    sy_http_conn_t *c = CONN(p);
    c->in_message = true;
    c->req.t_begin_us = sy_clock_mono_us();
    c->field.len = c->value.len = 0;
    arm_timer(c, c->server->limits.header_timeout_ms);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    sy_http_conn_t *c = CONN(p);
    if (count_head(c, n)) return -1;
    return sy_buf_append(&c->value, at, n) ? -1 : 0;
}

static int on_url_complete(llhttp_t *p)
{
    sy_http_conn_t *c = CONN(p);
    sy_http_req_t *r = &c->req;
    char *u = sy_arena_strndup(&r->arena, c->value.base ? c->value.base : "", c->value.len);
    char *q = memchr(u, '?', c->value.len);
    if (q) {
        r->path = sy_str(u, (size_t)(q - u));
        r->query = sy_str(q + 1, c->value.len - (size_t)(q - u) - 1);
    } else {
        r->path = sy_str(u, c->value.len);
    }
    c->value.len = 0;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    sy_http_conn_t *c = CONN(p);
    if (count_head(c, n)) return -1;
    return sy_buf_append(&c->field, at, n) ? -1 : 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    sy_http_conn_t *c = CONN(p);
    if (count_head(c, n)) return -1;
    return sy_buf_append(&c->value, at, n) ? -1 : 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    sy_http_conn_t *c = CONN(p);
    sy_http_req_t *r = &c->req;
    if (r->n_headers >= c->server->limits.max_headers) {
        c->parse_err = SY_ERR_HEADERS_TOO_LARGE;
        return -1;
    }
    if (r->n_headers == c->headers_cap) {
        size_t cap = c->headers_cap ? c->headers_cap * 2 : 16;
        sy_http_header_t *h = sy_arena_alloc(&r->arena, cap * sizeof *h);
        if (r->n_headers) memcpy(h, r->headers, r->n_headers * sizeof *h);
        r->headers = h;
        c->headers_cap = cap;
    }
    sy_http_header_t *h = &r->headers[r->n_headers++];
    h->name = sy_str(sy_arena_strndup(&r->arena, c->field.base ? c->field.base : "", c->field.len),
                     c->field.len);
    h->value = sy_str(sy_arena_strndup(&r->arena, c->value.base ? c->value.base : "", c->value.len),
                      c->value.len);
    c->field.len = c->value.len = 0;
    return 0;
}

static bool valid_request_id(sy_str_t v)
{
    if (v.len == 0 || v.len > 128) return false;
    for (size_t i = 0; i < v.len; i++)
        if ((unsigned char)v.ptr[i] <= 0x20 || (unsigned char)v.ptr[i] >= 0x7f) return false;
    return true;
}

static int on_headers_complete(llhttp_t *p)
{
    sy_http_conn_t *c = CONN(p);
    sy_http_req_t *r = &c->req;
    r->method = (uint8_t)llhttp_get_method(p);
    sy_str_t rid = sy_http_req_header(r, "x-request-id");
    if (valid_request_id(rid)) {
        memcpy(r->request_id, rid.ptr, rid.len);
        r->request_id[rid.len] = '\0';
    }
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > c->server->limits.max_body_bytes) {
        c->parse_err = SY_ERR_TOO_LARGE;
        return -1;
    }
    /* the header scratch buffers are not needed until the next request: do not keep them
     * for the life of a long stream */
    sy_buf_dispose(&c->field);
    sy_buf_dispose(&c->value);
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0) {
        sy_err_t err;
        sy_buf_reserve(&r->body, (size_t)p->content_length, &err);
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    sy_http_conn_t *c = CONN(p);
    if (sy_buf_append(&c->req.body, at, n)) {
        c->parse_err = SY_ERR_TOO_LARGE;
        return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    sy_http_conn_t *c = CONN(p);
    c->req.t_complete_us = sy_clock_mono_us();
    c->keep_alive = llhttp_should_keep_alive(p);
    c->req_ready = true;
    return HPE_PAUSED;
}

static llhttp_settings_t parser_settings;

/* ---- connection I/O ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    sy_http_conn_t *c = h->data;
    buf->base = c->server->readbuf;
    buf->len = sizeof c->server->readbuf;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    sy_http_conn_t *c = stream->data;
    if (nread == 0) return;
    if (nread < 0) {
        /* EOF or error: the client is gone; an unfinished response is aborted */
        conn_close(c);
        return;
    }
    if (c->closing || c->lingering) return;
    const char *data = buf->base;
    size_t len = (size_t)nread;
    if (!c->req_active && c->pending.len == 0) {
        /* fast path: parse straight from the shared read buffer */
        c->in_process = true;
        size_t used = feed(c, data, len);
        c->in_process = false;
        data += used;
        len -= used;
        if (c->parse_err) {
            handle_parse_error(c);
            return;
        }
        if (len && sy_buf_append(&c->pending, data, len)) {
            c->parse_err = SY_ERR_TOO_LARGE;
            handle_parse_error(c);
            return;
        }
        if (c->req_ready) {
            c->req_ready = false;
            dispatch(c);
        }
        conn_process(c);
        return;
    }
    if (c->parse_err) return; /* an error response is on its way; ignore the rest */
    if (sy_buf_append(&c->pending, data, len)) {
        /* a client pipelining more than we hold while a request runs: stop reading from it */
        uv_read_stop(stream);
        return;
    }
    conn_process(c);
}

static void on_conn_closed(uv_handle_t *h)
{
    sy_http_conn_t *c = h->data;
    if (--c->closes_pending > 0) return;
    sy_http_server_t *s = c->server;
    sy_buf_dispose(&c->pending);
    sy_buf_dispose(&c->field);
    sy_buf_dispose(&c->value);
    sy_buf_dispose(&c->out);
    sy_buf_dispose(&c->req.body);
    req_release(&c->req);
    sy_arena_dispose(&c->req.arena);
    free(c);
    s->handles_open--;
    if (s->handles_open == 0 && s->on_closed) s->on_closed(s);
}

static void conn_close(sy_http_conn_t *c)
{
    if (c->closing) return;
    sy_http_server_t *s = c->server;
    sy_http_req_t *r = &c->req;
    if (c->req_active && !r->ended) {
        r->aborted = true;
        void (*cb)(sy_http_req_t *, void *) = r->on_abort;
        r->on_abort = NULL;
        r->on_drain = NULL;
        if (cb) cb(r, r->hook_ctx);
    }
    c->closing = true;
    if (c->req_active) {
        c->req_active = false;
        s->n_active--;
    }
    unlink_dirty(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->n_conns--;
    c->closes_pending = 2;
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
    sy_http_server_t *s = server->data;
    if (status < 0) return;
    sy_http_conn_t *c = sy_xcalloc(1, sizeof *c);
    c->server = s;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->closes_pending = 1;
        s->handles_open++;
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    uv_tcp_nodelay(&c->tcp, 1);
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    sy_buf_init(&c->pending, s->limits.max_body_bytes + s->limits.max_header_bytes);
    sy_buf_init(&c->field, s->limits.max_header_bytes);
    sy_buf_init(&c->value, s->limits.max_header_bytes);
    /* producers stop at the high water mark; what one write may add at once is a whole
     * buffered reply (a translated non-streamed answer, bounded upstream at 32 MiB) */
    size_t big = s->limits.max_body_bytes > SY_HTTP_OUT_MIN_CAP ? s->limits.max_body_bytes
                                                                : SY_HTTP_OUT_MIN_CAP;
    sy_buf_init(&c->out, SY_HTTP_HIGH_WATER + big + 65536);
    sy_buf_init(&c->req.body, s->limits.max_body_bytes);
    sy_buf_set_secret(&c->pending); /* a credential PUT's body passes through both */
    sy_buf_set_secret(&c->req.body);
    sy_arena_init(&c->req.arena);
    c->req.conn = c;
    c->keep_alive = true;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    s->handles_open++;
    arm_timer(c, s->limits.keepalive_timeout_ms);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- server ---- */

static int open_listen_socket(const char *host, int port, uv_os_sock_t *out)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (uv_ip4_addr(host, port, a4) == 0) {
        slen = sizeof *a4;
    } else if (uv_ip6_addr(host, port, a6) == 0) {
        slen = sizeof *a6;
    } else {
        return UV_EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, slen) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *out = fd;
    return 0;
}

int sy_http_server_init(sy_http_server_t *s, uv_loop_t *loop, const sy_http_limits_t *limits,
                        const char *host, int port, sy_http_handler_cb handler, void *ctx)
{
    if (!parser_settings.on_message_complete) {
        llhttp_settings_init(&parser_settings);
        parser_settings.on_message_begin = on_message_begin;
        parser_settings.on_url = on_url;
        parser_settings.on_url_complete = on_url_complete;
        parser_settings.on_header_field = on_header_field;
        parser_settings.on_header_value = on_header_value;
        parser_settings.on_header_value_complete = on_header_value_complete;
        parser_settings.on_headers_complete = on_headers_complete;
        parser_settings.on_body = on_body;
        parser_settings.on_message_complete = on_message_complete;
    }
    memset(s, 0, offsetof(sy_http_server_t, readbuf));
    s->loop = loop;
    s->limits = *limits;
    s->handler = handler;
    s->handler_ctx = ctx;
    uv_os_sock_t fd = -1;
    int r = open_listen_socket(host, port, &fd);
    if (r) return r;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->handles_open++;
    if ((r = uv_tcp_open(&s->listener, fd)) ||
        (r = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection))) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        s->handles_open--;
        return r;
    }
    s->listening = true;
    uv_prepare_init(loop, &s->flush_prepare);
    uv_check_init(loop, &s->flush_check);
    s->flush_prepare.data = s->flush_check.data = s;
    uv_prepare_start(&s->flush_prepare, on_prepare);
    uv_check_start(&s->flush_check, on_check);
    s->handles_open += 2;
    return 0;
}

static void on_server_handle_closed(uv_handle_t *h)
{
    sy_http_server_t *s = h->data;
    s->handles_open--;
    if (s->handles_open == 0 && s->on_closed) s->on_closed(s);
}

void sy_http_server_drain(sy_http_server_t *s)
{
    if (s->draining) return;
    s->draining = true;
    if (s->listening) {
        s->listening = false;
        uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    }
    sy_http_conn_t *c = s->conns;
    while (c) {
        sy_http_conn_t *next = c->next;
        if (!c->req_active && !c->in_message)
            conn_close(c);
        else
            c->keep_alive = false;
        c = next;
    }
}

void sy_http_server_close(sy_http_server_t *s, void (*on_closed)(sy_http_server_t *s))
{
    s->on_closed = on_closed;
    sy_http_server_drain(s);
    flush_dirty(s);
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->flush_prepare, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->flush_check, on_server_handle_closed);
}
