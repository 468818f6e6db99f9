/*
 * loadgen: open-loop HTTP/1.1 load generator for the Switchyard benchmark.
 *
 * DESIGN
 * Open loop, so that queueing is never hidden (no coordinated omission): request i is scheduled
 * at start + i/R, whatever happened to the requests before it. A timerfd armed at the absolute
 * time of the next scheduled request wakes the libuv loop (uv timers only have millisecond
 * resolution); on each wake-up every request that is due is sent on an idle keep-alive
 * connection, or on a new connection when all are busy (up to --max-conns; past that it waits in
 * a FIFO, still on the clock). Latency and time to first byte are measured from the scheduled
 * time, not from the moment the bytes left, and the gap between the two is reported as "send lag"
 * so that an overloaded generator shows itself. A request without an answer after --timeout-ms is
 * an error; its connection stays busy until the answer comes and is then reused, and a request
 * that waited that long for a connection is not sent at all: under overload the target sees a
 * bounded set of connections, not a storm of new ones.
 *
 * Responses are parsed incrementally: status line and headers, then Content-Length or chunked
 * bodies. In stream mode the de-chunked body is scanned as SSE, byte by byte, without buffering
 * events: every event with a data line is a frame; a frame must carry "seq":N with N the next
 * expected number, the stream must end with data: [DONE], and an event with two data lines means
 * two upstream frames were merged. Reads that delivered more than one frame are counted for
 * information only (TCP may coalesce writes on any hop).
 *
 * --expect names the stream's shape. openai (default): every data event carries "seq":N, then
 * [DONE]. translated (an Anthropic mock behind a gateway that translates to OpenAI chunks): the
 * seq travels in the content text as "seq=N" and the stream also carries exactly 2 data events
 * without one (the role chunk and the finish_reason chunk), then [DONE]. anthropic (the Anthropic
 * mock itself): "seq=N" in the text_delta events, exactly 5 events without one (message_start,
 * content_block_start, content_block_stop, message_delta, message_stop) and no [DONE]. Missing
 * framing events count as lost, extra ones as foreign.
 *
 * Other modes share the machinery: --sequential N (closed loop, one connection, back to back:
 * for instruction counts), --hold N (open N streams at --rate per second, print "ready" once every
 * stream delivered its first frame, hold them --duration seconds or until SIGTERM: for RSS), and
 * --free-port (print a free loopback TCP port).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "common.h"

#define SY_LG_HEAD_MAX 8192  /* response head cap; over it the request fails */
#define SY_LG_READ_BUF 65536 /* one shared read buffer: reads are consumed synchronously */
#define SY_LG_SWEEP_MS 10
#define SY_LG_BODY_MAX (1024 * 1024) /* --body-file cap */

enum { SY_LG_RATE, SY_LG_SEQUENTIAL, SY_LG_HOLD };

enum { RES_PENDING, RES_OK, RES_HTTP, RES_CONN, RES_TIMEOUT, RES_FIDELITY };

enum { CS_CONNECTING, CS_IDLE, CS_BUSY, CS_CLOSING };

enum {
    PS_HEAD,
    PS_CL,
    PS_EOF,
    PS_CH_SIZE,
    PS_CH_EXT,
    PS_CH_DATA,
    PS_CH_DATA_END,
    PS_CH_TRAILER,
};

typedef struct {
    uint64_t t_sched, t_sent, t_first, t_done; /* uv_hrtime() ns; 0 = not yet */
    int64_t hdr_val;                           /* --capture-header value, -1 = absent */
    uint16_t status;
    uint8_t result;
    uint8_t measured;
} sy_lg_req_t;

typedef struct sy_lg_conn_s {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    struct sy_lg_conn_s *prev, *next; /* idle list, most recently used first */
    size_t slot;                      /* index in the all-connections array */
    int state;
    int64_t req; /* request in flight, -1 = none */

    /* response parser */
    int ps;
    int status, keep_alive, has_cl, chunked, size_digits;
    uint64_t left;
    size_t head_len, trailer_line;
    uint64_t body_bytes;
    int64_t hdr_val;

    /* SSE scanner: line prefix, "seq": matcher, current event, per-stream totals */
    char lpre[16];
    size_t llen;
    int sm, seq_digits;
    int64_t seqv;
    unsigned ev_data_lines;
    int ev_done;
    int64_t ev_seq;
    int64_t next_seq;
    unsigned frames, lost, ooo, merged, foreign, read_frames, reads, multi_reads;
    unsigned others; /* data events without a seq (framing events of --expect) */
    int done_seen;

    char head[SY_LG_HEAD_MAX];
} sy_lg_conn_t;

typedef struct {
    int mode;
    const char *label;
    const char *url;
    const char *model;
    const char *capture;
    const char *header;    /* --header: one extra request header line, without CRLF */
    const char *dump;      /* --dump FILE */
    const char *body_file; /* --body-file FILE */
    const char *seq_pat;   /* --expect: marker before a frame's seq number */
    unsigned other_frames; /* --expect: data events without a seq in each stream */
    int need_done;         /* --expect: the stream ends with data: [DONE] */
    double rate, duration, warmup;
    int stream;
    unsigned frames;
    unsigned preopen, max_conns;
    uint64_t timeout_ms;
    uint64_t count;        /* --sequential / --hold */
    uint64_t warmup_count; /* --warmup-requests for --sequential */
} sy_lg_opts_t;

/* Totals over measured requests. */
typedef struct {
    uint64_t frames_expected, frames, lost, ooo, merged, foreign, reads, multi_reads, others;
    uint64_t conns_opened, conn_failures, peak_inflight;
} sy_lg_totals_t;

static sy_lg_opts_t opts = {
    .mode = SY_LG_RATE,
    .label = "run",
    .model = "bench",
    .rate = 100,
    .duration = 5,
    .frames = 20,
    .preopen = 1,
    .max_conns = 10000,
    .timeout_ms = 10000,
    .seq_pat = "\"seq\":",
    .need_done = 1,
};

static uv_loop_t *loop;
static struct sockaddr_in target;
static char *request_bytes;
static size_t request_len;
static size_t body_len; /* request body bytes */

static sy_lg_req_t *reqs;
static uint64_t n_reqs;   /* scheduled requests in total */
static uint64_t next_req; /* next request to schedule */
static uint64_t first_measured;
static uint64_t inflight; /* sent or waiting for a connection, no result yet */
static uint64_t t_start;  /* schedule origin */
static double period_ns;
static uint64_t spin_ns; /* --spin-us */
static uint64_t tick_ns; /* --tick-us */
static int schedule_done, finishing;

static sy_lg_conn_t **conns; /* every open connection */
static size_t n_conns, conns_cap;
static sy_lg_conn_t *idle_head;
static unsigned connecting_preopen;

static uint64_t *pending; /* FIFO of request indices waiting for a connection */
static size_t pending_head, pending_tail, pending_cap;

static sy_lg_totals_t totals;
static uint64_t now_ns; /* time of the read being processed */

static int timer_fd = -1;
static uv_poll_t tick_poll;
static uv_timer_t sweep_timer, end_timer;
static uv_signal_t sig_term, sig_int;
static uint64_t hold_established, hold_failed, hold_ended;
static int hold_ready;

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) abort();
    return p;
}

/* ---- connections ------------------------------------------------------------------------- */

static void dispatch(uint64_t i);
static void send_request(sy_lg_conn_t *c, uint64_t i);
static void open_conn(int64_t req);
static void check_end(void);
static void start_schedule(void);

static void idle_push(sy_lg_conn_t *c)
{
    c->state = CS_IDLE;
    c->prev = NULL;
    c->next = idle_head;
    if (idle_head != NULL) idle_head->prev = c;
    idle_head = c;
}

static void idle_remove(sy_lg_conn_t *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        idle_head = c->next;
    if (c->next != NULL) c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void finish_request(uint64_t i, int result);

/* Pops the oldest waiting request that is still worth sending: one that waited past the timeout
 * already failed, and sending it would only load the target with work nobody waits for. */
static int pending_pop(uint64_t *i)
{
    uint64_t limit = opts.timeout_ms * 1000000ULL, now = uv_hrtime();
    while (pending_head != pending_tail) {
        *i = pending[pending_head++ % pending_cap];
        if (now - reqs[*i].t_sched <= limit) return 1;
        finish_request(*i, RES_TIMEOUT);
    }
    return 0;
}

static void pending_push(uint64_t i)
{
    if (pending_tail - pending_head == pending_cap) {
        size_t cap = pending_cap ? pending_cap * 2 : 1024;
        uint64_t *p = xmalloc(cap * sizeof(*p));
        for (size_t k = 0; k < pending_tail - pending_head; k++)
            p[k] = pending[(pending_head + k) % pending_cap];
        pending_tail -= pending_head;
        pending_head = 0;
        free(pending);
        pending = p;
        pending_cap = cap;
    }
    pending[pending_tail++ % pending_cap] = i;
}

static void on_conn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void finish_request(uint64_t i, int result)
{
    sy_lg_req_t *r = &reqs[i];
    if (r->result != RES_PENDING) return;
    r->result = (uint8_t)result;
    if (r->t_done == 0) r->t_done = now_ns ? now_ns : uv_hrtime();
    inflight--;
    if (opts.mode == SY_LG_HOLD) {
        if (r->t_first == 0)
            hold_failed++; /* never delivered a frame */
        else
            hold_ended++; /* delivered, then ended while it should have been held */
    }
}

static void close_conn(sy_lg_conn_t *c, int result)
{
    if (c->state == CS_CLOSING) return;
    if (c->state == CS_IDLE) idle_remove(c);
    if (c->req >= 0) {
        if (c->state == CS_CONNECTING) totals.conn_failures++;
        finish_request((uint64_t)c->req, result);
        c->req = -1;
    }
    c->state = CS_CLOSING;
    conns[c->slot] = conns[--n_conns];
    conns[c->slot]->slot = c->slot;
    /* Reset rather than FIN: the closer of a TCP connection keeps it in TIME_WAIT for 60 s, and
     * tens of thousands of those (overload steps time out whole connection pools) make every
     * later connect() on the machine slow, for all targets. */
    if (uv_tcp_close_reset(&c->tcp, on_conn_closed) != 0)
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);

    /* A request that waited for a free connection can now have a new one. */
    uint64_t i;
    if (n_conns < opts.max_conns && !finishing && pending_pop(&i)) open_conn((int64_t)i);
    check_end();
}

static void make_idle(sy_lg_conn_t *c)
{
    uint64_t i;
    if (opts.mode == SY_LG_SEQUENTIAL) {
        c->state = CS_IDLE;
        c->prev = c->next = NULL;
        if (next_req < n_reqs) {
            c->state = CS_BUSY;
            reqs[next_req].t_sched = uv_hrtime();
            inflight++;
            send_request(c, next_req++);
        } else {
            idle_push(c);
            schedule_done = 1;
        }
        return;
    }
    if (pending_pop(&i)) {
        send_request(c, i);
        return;
    }
    idle_push(c);
}

static void reset_parser(sy_lg_conn_t *c)
{
    c->ps = PS_HEAD;
    c->status = 0;
    c->keep_alive = 1;
    c->has_cl = c->chunked = c->size_digits = 0;
    c->left = 0;
    c->head_len = c->trailer_line = 0;
    c->body_bytes = 0;
    c->hdr_val = -1;
    c->llen = 0;
    c->sm = c->seq_digits = 0;
    c->seqv = -1;
    c->ev_data_lines = 0;
    c->ev_done = 0;
    c->ev_seq = -1;
    c->next_seq = 0;
    c->frames = c->lost = c->ooo = c->merged = c->foreign = c->others = 0;
    c->read_frames = c->reads = c->multi_reads = 0;
    c->done_seen = 0;
}

static void on_write(uv_write_t *w, int status)
{
    sy_lg_conn_t *c = w->data;
    free(w);
    if (status < 0 && status != UV_ECANCELED) close_conn(c, RES_CONN);
}

static void send_request(sy_lg_conn_t *c, uint64_t i)
{
    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    uv_buf_t b = uv_buf_init(request_bytes, (unsigned)request_len);

    c->state = CS_BUSY;
    c->req = (int64_t)i;
    reset_parser(c);
    reqs[i].t_sent = uv_hrtime();
    if (uv_stream_get_write_queue_size(s) == 0) {
        int n = uv_try_write(s, &b, 1);
        if (n == (int)b.len) return;
        if (n > 0) {
            b.base += n;
            b.len -= (size_t)n;
        } else if (n != UV_EAGAIN) {
            close_conn(c, RES_CONN);
            return;
        }
    }
    uv_write_t *w = xmalloc(sizeof(*w));
    w->data = c;
    if (uv_write(w, s, &b, 1, on_write) != 0) {
        free(w);
        close_conn(c, RES_CONN);
    }
}

/* ---- response parsing -------------------------------------------------------------------- */

static void complete_response(sy_lg_conn_t *c);

static void count_read_frames(sy_lg_conn_t *c)
{
    if (c->read_frames > 0) {
        c->reads++;
        c->multi_reads += c->read_frames > 1;
    }
    c->read_frames = 0;
}

static void end_event(sy_lg_conn_t *c)
{
    sy_lg_req_t *r = &reqs[c->req];
    if (c->ev_data_lines == 0) /* comment (": keep-alive") or empty */
        goto reset;
    if (r->t_first == 0 && r->result == RES_PENDING) {
        r->t_first = now_ns;
        if (opts.mode == SY_LG_HOLD) hold_established++;
    }
    if (c->ev_data_lines > 1) c->merged++;
    if (c->ev_done) {
        c->foreign += c->done_seen; /* a second [DONE] */
        c->done_seen = 1;
    } else if (c->ev_seq >= 0) {
        c->foreign += c->done_seen; /* a frame after [DONE] */
        if (c->ev_seq == c->next_seq) {
            c->next_seq++;
        } else if (c->ev_seq > c->next_seq) {
            c->lost += (unsigned)(c->ev_seq - c->next_seq);
            c->next_seq = c->ev_seq + 1;
        } else {
            c->ooo++;
        }
        c->frames++;
    } else {
        /* framing events of --expect, or foreign (e.g. an error event): told apart at the end */
        c->foreign += c->done_seen;
        c->others++;
    }
    c->read_frames++;
reset:
    c->ev_data_lines = 0;
    c->ev_done = 0;
    c->ev_seq = -1;
}

static void end_line(sy_lg_conn_t *c)
{
    if (c->llen == 0) {
        end_event(c);
    } else if (c->llen >= 5 && memcmp(c->lpre, "data:", 5) == 0) {
        c->ev_data_lines++;
        if ((c->llen == 12 && memcmp(c->lpre, "data: [DONE]", 12) == 0) ||
            (c->llen == 11 && memcmp(c->lpre, "data:[DONE]", 11) == 0))
            c->ev_done = 1;
        else if (c->ev_seq < 0 && c->seqv >= 0)
            c->ev_seq = c->seqv;
    }
    c->llen = 0;
    c->sm = c->seq_digits = 0;
    c->seqv = -1;
}

static void scan_sse(sy_lg_conn_t *c, const char *p, size_t n)
{
    const char *pat = opts.seq_pat;
    for (size_t k = 0; k < n; k++) {
        char ch = p[k];
        if (ch == '\n') {
            end_line(c);
            continue;
        }
        if (ch == '\r') continue;
        if (c->llen < sizeof(c->lpre)) c->lpre[c->llen] = ch;
        c->llen++;
        if (c->seq_digits) {
            if (ch >= '0' && ch <= '9' && c->seqv < 100000000)
                c->seqv = c->seqv * 10 + (ch - '0');
            else
                c->seq_digits = 0;
        } else if (c->seqv < 0) {
            if (ch == pat[c->sm]) {
                if (pat[++c->sm] == '\0') {
                    c->seq_digits = 1;
                    c->seqv = 0;
                }
            } else {
                c->sm = ch == pat[0];
            }
        }
    }
}

static void on_body(sy_lg_conn_t *c, const char *p, size_t n)
{
    if (n == 0) return;
    c->body_bytes += n;
    if (opts.stream)
        scan_sse(c, p, n);
    else if (reqs[c->req].t_first == 0 && reqs[c->req].result == RES_PENDING)
        reqs[c->req].t_first = now_ns;
}

static int parse_head(sy_lg_conn_t *c)
{
    const char *h = c->head;
    const char *end = h + c->head_len;
    size_t cap_len = opts.capture ? strlen(opts.capture) : 0;

    if (c->head_len < 12 || memcmp(h, "HTTP/1.", 7) != 0) return -1;
    c->keep_alive = h[7] == '1';
    c->status = atoi(h + 9);
    for (const char *line = memchr(h, '\n', c->head_len); line != NULL && line + 1 < end;
         line = memchr(line + 1, '\n', (size_t)(end - line - 1))) {
        const char *name = line + 1;
        const char *colon = memchr(name, ':', (size_t)(end - name));
        const char *eol = memchr(name, '\n', (size_t)(end - name));
        if (colon == NULL || eol == NULL || colon > eol) continue;
        size_t nl = (size_t)(colon - name);
        const char *v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        size_t vl = (size_t)(eol - v);
        if (nl == 14 && strncasecmp(name, "content-length", 14) == 0) {
            c->has_cl = 1;
            c->left = strtoull(v, NULL, 10);
        } else if (nl == 17 && strncasecmp(name, "transfer-encoding", 17) == 0) {
            c->chunked = memmem(v, vl, "chunked", 7) != NULL;
        } else if (nl == 10 && strncasecmp(name, "connection", 10) == 0) {
            if (vl >= 5 && strncasecmp(v, "close", 5) == 0)
                c->keep_alive = 0;
            else if (vl >= 10 && strncasecmp(v, "keep-alive", 10) == 0)
                c->keep_alive = 1;
        } else if (cap_len && nl == cap_len && strncasecmp(name, opts.capture, nl) == 0) {
            c->hdr_val = strtoll(v, NULL, 10);
        }
    }
    return 0;
}

/* Feeds response bytes; returns -1 on a protocol error. Completes the request when the body
 * ends (the connection may be closed by then). */
static int feed(sy_lg_conn_t *c, const char *p, size_t n)
{
    while (n > 0) {
        switch (c->ps) {
        case PS_HEAD: {
            size_t room = SY_LG_HEAD_MAX - c->head_len;
            size_t take = n < room ? n : room;
            size_t from = c->head_len > 3 ? c->head_len - 3 : 0;
            memcpy(c->head + c->head_len, p, take);
            c->head_len += take;
            char *e = memmem(c->head + from, c->head_len - from, "\r\n\r\n", 4);
            if (e == NULL) {
                if (c->head_len == SY_LG_HEAD_MAX) return -1;
                return 0;
            }
            size_t head_end = (size_t)(e - c->head) + 4;
            size_t used = take - (c->head_len - head_end);
            c->head_len = head_end;
            p += used;
            n -= used;
            if (parse_head(c) != 0) return -1;
            if (c->status >= 100 && c->status < 200) { /* interim response: next head */
                c->head_len = 0;
                break;
            }
            if (c->chunked) {
                c->ps = PS_CH_SIZE;
                c->left = 0;
            } else if (c->has_cl) {
                c->ps = PS_CL;
                if (c->left == 0) {
                    complete_response(c);
                    return n > 0 ? -1 : 0;
                }
            } else if (c->status == 204 || c->status == 304) {
                complete_response(c);
                return n > 0 ? -1 : 0;
            } else {
                c->ps = PS_EOF;
                c->keep_alive = 0;
            }
            break;
        }
        case PS_CL:
        case PS_CH_DATA: {
            size_t take = n < c->left ? n : (size_t)c->left;
            on_body(c, p, take);
            p += take;
            n -= take;
            c->left -= take;
            if (c->left == 0) {
                if (c->ps == PS_CH_DATA) {
                    c->ps = PS_CH_DATA_END;
                } else {
                    complete_response(c);
                    return n > 0 ? -1 : 0;
                }
            }
            break;
        }
        case PS_EOF:
            on_body(c, p, n);
            n = 0;
            break;
        case PS_CH_SIZE:
        case PS_CH_EXT: {
            char ch = *p++;
            n--;
            if (ch == '\n') {
                if (c->size_digits == 0) return -1;
                c->size_digits = 0;
                c->ps = c->left == 0 ? PS_CH_TRAILER : PS_CH_DATA;
                c->trailer_line = 0;
            } else if (ch == '\r' || c->ps == PS_CH_EXT) {
                /* skip */
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                c->ps = PS_CH_EXT;
            } else {
                int d = (ch >= '0' && ch <= '9')   ? ch - '0'
                        : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
                        : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
                                                   : -1;
                if (d < 0 || c->left > (UINT64_MAX >> 5)) return -1;
                c->left = c->left * 16 + (uint64_t)d;
                c->size_digits++;
            }
            break;
        }
        case PS_CH_DATA_END: {
            char ch = *p++;
            n--;
            if (ch == '\n')
                c->ps = PS_CH_SIZE;
            else if (ch != '\r')
                return -1;
            break;
        }
        case PS_CH_TRAILER: {
            char ch = *p++;
            n--;
            if (ch == '\n') {
                if (c->trailer_line == 0) {
                    complete_response(c);
                    return n > 0 ? -1 : 0;
                }
                c->trailer_line = 0;
            } else if (ch != '\r') {
                c->trailer_line++;
            }
            break;
        }
        }
    }
    return 0;
}

static void complete_response(sy_lg_conn_t *c)
{
    uint64_t i = (uint64_t)c->req;
    sy_lg_req_t *r = &reqs[i];
    int result = RES_OK;

    count_read_frames(c);
    if (r->result != RES_PENDING) /* the late answer to a request that timed out */
        goto recycle;
    r->t_done = now_ns;
    r->status = (uint16_t)c->status;
    r->hdr_val = c->hdr_val;
    if (r->t_first == 0 && !opts.stream) r->t_first = now_ns; /* empty body: first byte == end */
    if (c->status != 200) {
        result = RES_HTTP;
    } else if (opts.stream) {
        if (c->others > opts.other_frames)
            c->foreign += c->others - opts.other_frames;
        else
            c->lost += opts.other_frames - c->others;
        if (c->frames != opts.frames || c->next_seq != (int64_t)opts.frames ||
            c->done_seen != opts.need_done || c->lost || c->ooo || c->merged || c->foreign)
            result = RES_FIDELITY;
    } else if (c->body_bytes == 0) {
        result = RES_HTTP;
    }
    if (r->measured && opts.stream) {
        totals.frames_expected += opts.frames;
        totals.frames += c->frames;
        totals.lost += c->lost + (c->next_seq < (int64_t)opts.frames
                                      ? (unsigned)((int64_t)opts.frames - c->next_seq)
                                      : 0);
        totals.ooo += c->ooo;
        totals.merged += c->merged;
        totals.foreign += c->foreign;
        totals.others += c->others;
        totals.reads += c->reads;
        totals.multi_reads += c->multi_reads;
    }
    finish_request(i, result);
recycle:
    c->req = -1;
    if (!c->keep_alive || c->ps == PS_EOF) {
        close_conn(c, RES_CONN);
        return;
    }
    make_idle(c);
    check_end();
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char rbuf[SY_LG_READ_BUF];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    sy_lg_conn_t *c = s->data;
    now_ns = uv_hrtime();
    if (n == 0) return;
    if (n < 0) {
        if (c->req >= 0 && c->ps == PS_EOF && n == UV_EOF)
            complete_response(c);
        else
            close_conn(c, RES_CONN);
        return;
    }
    if (c->req < 0) { /* bytes while idle: the server broke the protocol */
        close_conn(c, RES_CONN);
        return;
    }
    if (feed(c, buf->base, (size_t)n) != 0) {
        close_conn(c, RES_CONN);
        return;
    }
    if (c->state == CS_BUSY) count_read_frames(c);
}

static void on_connect(uv_connect_t *cr, int status)
{
    sy_lg_conn_t *c = cr->data;
    if (c->state == CS_CLOSING) return;
    if (status < 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        if (c->req < 0) totals.conn_failures++;
        close_conn(c, RES_CONN);
    } else if (c->req >= 0) {
        send_request(c, (uint64_t)c->req);
    } else if (connecting_preopen > 0) {
        idle_push(c); /* pre-opened: waits for the clock */
    } else {
        make_idle(c);
    }
    if (connecting_preopen > 0 && --connecting_preopen == 0) {
        /* every pre-opened connection is up (or failed): start the clock */
        start_schedule();
    }
}

static void open_conn(int64_t req)
{
    sy_lg_conn_t *c = xcalloc(1, sizeof(*c));
    c->req = req;
    c->state = CS_CONNECTING;
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->connect_req.data = c;
    if (n_conns == conns_cap) {
        conns_cap = conns_cap ? conns_cap * 2 : 256;
        conns = xrealloc(conns, conns_cap * sizeof(*conns));
    }
    c->slot = n_conns;
    conns[n_conns++] = c;
    totals.conns_opened++;
    uv_tcp_nodelay(&c->tcp, 1);
    int err =
        uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&target, on_connect);
    if (err != 0) {
        totals.conn_failures++;
        close_conn(c, RES_CONN);
    }
}

/* ---- schedule ---------------------------------------------------------------------------- */

static uint64_t sched_time(uint64_t i)
{
    return t_start + (uint64_t)((double)i * period_ns);
}

static void dispatch(uint64_t i)
{
    sy_lg_req_t *r = &reqs[i];
    r->t_sched = sched_time(i);
    r->measured = i >= first_measured;
    inflight++;
    if (inflight > totals.peak_inflight) totals.peak_inflight = inflight;
    if (idle_head != NULL) {
        sy_lg_conn_t *c = idle_head;
        idle_remove(c);
        send_request(c, i);
    } else if (n_conns < opts.max_conns) {
        open_conn((int64_t)i);
    } else {
        pending_push(i);
    }
}

/* Arms the timerfd at absolute time t; every interval ns after that too, when interval > 0. */
static void arm_timer(uint64_t t, uint64_t interval)
{
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t)(t / 1000000000ULL);
    its.it_value.tv_nsec = (long)(t % 1000000000ULL);
    its.it_interval.tv_sec = (time_t)(interval / 1000000000ULL);
    its.it_interval.tv_nsec = (long)(interval % 1000000000ULL);
    if (timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
        fail("timerfd_settime: %s", strerror(errno));
}

static void on_tick(uv_poll_t *h, int status, int events)
{
    uint64_t expirations;
    (void)h;
    (void)status;
    (void)events;
    if (read(timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
        fail("timerfd read: %s", strerror(errno));
    uint64_t now = uv_hrtime();
    if (spin_ns > 0 && next_req < n_reqs) {
        /* Woken early on purpose: wait out the last stretch on the CPU, so the send does not
         * carry the timer interrupt's latency (tens of microseconds in a VM). */
        uint64_t due = sched_time(next_req);
        while (now < due && due - now <= spin_ns)
            now = uv_hrtime();
    }
    while (next_req < n_reqs && sched_time(next_req) <= now)
        dispatch(next_req++);
    if (next_req < n_reqs) {
        if (spin_ns > 0) /* one-shot: re-armed for each send */
            arm_timer(sched_time(next_req) - spin_ns, 0);
        return;
    }
    uv_poll_stop(&tick_poll);
    arm_timer(0, 0); /* a zero it_value disarms */
    schedule_done = 1;
    check_end();
}

static void finish(void);

static void on_end_timer(uv_timer_t *t)
{
    (void)t;
    finish();
}

static void start_schedule(void)
{
    if (opts.mode == SY_LG_SEQUENTIAL) {
        if (idle_head == NULL) fail("could not connect to %s", opts.url);
        sy_lg_conn_t *c = idle_head;
        idle_remove(c);
        make_idle(c);
        return;
    }
    t_start = uv_hrtime() + 1000000 + spin_ns; /* 1 ms from now */
    if (uv_poll_start(&tick_poll, UV_READABLE, on_tick) != 0) fail("uv_poll_start failed");
    if (spin_ns > 0) {
        arm_timer(sched_time(0) - spin_ns, 0);
    } else {
        /* Periodic: one read per tick and no re-arming; a tick sends whatever is due. */
        uint64_t interval = (uint64_t)period_ns > tick_ns ? (uint64_t)period_ns : tick_ns;
        arm_timer(sched_time(0), interval ? interval : 1);
    }
}

/* Stops when every request has a result, or when the last one ran out of time. */
static void check_end(void)
{
    if (finishing || !schedule_done) return;
    if (opts.mode == SY_LG_HOLD) return; /* the hold timer or a signal ends it */
    if (inflight == 0) {
        finish();
    } else if (!uv_is_active((uv_handle_t *)&end_timer)) {
        uv_timer_start(&end_timer, on_end_timer, opts.timeout_ms + 100, 0);
    }
}

static void on_sweep(uv_timer_t *t)
{
    uint64_t now = uv_hrtime();
    uint64_t limit = opts.timeout_ms * 1000000ULL;
    (void)t;
    now_ns = now;
    for (size_t k = 0; k < n_conns; k++) {
        sy_lg_conn_t *c = conns[k];
        if (c->req < 0 || reqs[c->req].result != RES_PENDING ||
            now - reqs[c->req].t_sched <= limit ||
            (opts.mode == SY_LG_HOLD && reqs[c->req].t_first != 0))
            continue;
        if (opts.mode == SY_LG_SEQUENTIAL) {
            close_conn(c, RES_TIMEOUT);
            finish();
            return;
        }
        /* The request has failed; its connection stays busy until the answer arrives and is
         * then reused. Closing it would make the target abort the upstream call and the
         * loadgen open a new connection: under overload, that churn (and the TIME_WAIT
         * sockets it leaves) would hurt the later steps more than the overload itself. */
        finish_request((uint64_t)c->req, RES_TIMEOUT);
    }
    check_end();
    if (opts.mode == SY_LG_HOLD && !hold_ready && hold_established + hold_failed >= n_reqs &&
        schedule_done) {
        hold_ready = 1;
        printf("ready established=%llu failed=%llu\n", (unsigned long long)hold_established,
               (unsigned long long)hold_failed);
        fflush(stdout);
        uv_timer_start(&end_timer, on_end_timer, (uint64_t)(opts.duration * 1000), 0);
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    finish();
}

/* ---- report ------------------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double p50, p90, p99, p999, max;
} sy_lg_pct_t;

/* Nearest-rank percentiles, in microseconds; sorts v. */
static sy_lg_pct_t percentiles(uint64_t *v, size_t n)
{
    sy_lg_pct_t p = {-1, -1, -1, -1, -1};
    static const double q[] = {0.50, 0.90, 0.99, 0.999};
    double *out[] = {&p.p50, &p.p90, &p.p99, &p.p999};
    if (n == 0) return p;
    qsort(v, n, sizeof(*v), cmp_u64);
    for (size_t k = 0; k < 4; k++) {
        size_t rank = (size_t)ceil(q[k] * (double)n);
        *out[k] = (double)v[(rank ? rank : 1) - 1] / 1000.0;
    }
    p.max = (double)v[n - 1] / 1000.0;
    return p;
}

static void print_pct(const char *name, sy_lg_pct_t p)
{
    if (p.max < 0)
        printf("  %-13s n/a\n", name);
    else
        printf("  %-13s p50 %8.1f  p90 %8.1f  p99 %8.1f  p99.9 %8.1f  max %8.1f\n", name, p.p50,
               p.p90, p.p99, p.p999, p.max);
}

static void json_pct(const char *key, sy_lg_pct_t p)
{
    printf(",\"%s_p50\":%.1f,\"%s_p90\":%.1f,\"%s_p99\":%.1f,\"%s_p999\":%.1f,\"%s_max\":%.1f", key,
           p.p50, key, p.p90, key, p.p99, key, p.p999, key, p.max);
}

static void dump_requests(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "loadgen: --dump %s: %s\n", path, strerror(errno));
        return;
    }
    uint64_t t0 = first_measured < next_req ? reqs[first_measured].t_sched : 0;
    for (uint64_t i = first_measured; i < next_req; i++) {
        const sy_lg_req_t *r = &reqs[i];
        int ok = r->result == RES_OK;
        fprintf(f, "%.1f %.1f %.1f %d %lld\n", (double)(r->t_sched - t0) / 1e3,
                ok ? (double)(r->t_done - r->t_sched) / 1e3 : -1.0,
                ok ? (double)(r->t_first - r->t_sched) / 1e3 : -1.0, r->result,
                (long long)r->hdr_val);
    }
    fclose(f);
}

static void finish(void)
{
    if (finishing) return;
    finishing = 1;
    now_ns = uv_hrtime();

    uint64_t n_meas = 0, res[RES_FIDELITY + 1] = {0};
    uint64_t *lat = xmalloc((n_reqs + 1) * sizeof(*lat));
    uint64_t *ttfb = xmalloc((n_reqs + 1) * sizeof(*ttfb));
    uint64_t *lag = xmalloc((n_reqs + 1) * sizeof(*lag));
    uint64_t *hdr = xmalloc((n_reqs + 1) * sizeof(*hdr));
    size_t n_ok = 0, n_lag = 0, n_hdr = 0;
    uint64_t t_first_meas = UINT64_MAX, t_last_done = 0;

    for (uint64_t i = 0; i < next_req; i++) {
        sy_lg_req_t *r = &reqs[i];
        if (!r->measured) continue;
        n_meas++;
        res[r->result == RES_PENDING ? RES_TIMEOUT : r->result]++;
        if (r->t_sent) lag[n_lag++] = r->t_sent - r->t_sched;
        if (r->t_sched < t_first_meas) t_first_meas = r->t_sched;
        if (r->result != RES_OK) continue;
        if (r->t_done > t_last_done) t_last_done = r->t_done;
        lat[n_ok] = r->t_done - r->t_sched;
        ttfb[n_ok] = r->t_first - r->t_sched;
        n_ok++;
        if (r->hdr_val >= 0) hdr[n_hdr++] = (uint64_t)r->hdr_val * 1000;
    }
    if (opts.dump != NULL) dump_requests(opts.dump);
    uint64_t errors = res[RES_HTTP] + res[RES_CONN] + res[RES_TIMEOUT] + res[RES_FIDELITY];
    if (opts.mode == SY_LG_HOLD) errors = hold_failed;
    sy_lg_pct_t p_lat = percentiles(lat, n_ok);
    sy_lg_pct_t p_ttfb = percentiles(ttfb, n_ok);
    sy_lg_pct_t p_lag = percentiles(lag, n_lag);
    sy_lg_pct_t p_hdr = percentiles(hdr, n_hdr);
    double span = t_last_done > t_first_meas ? (double)(t_last_done - t_first_meas) / 1e9 : 0;
    const char *mode = opts.stream ? "stream" : "nonstream";

    printf("loadgen[%s]: %s %s", opts.label, mode,
           opts.mode == SY_LG_SEQUENTIAL ? "sequential"
           : opts.mode == SY_LG_HOLD     ? "hold"
                                         : "open-loop");
    if (opts.mode == SY_LG_RATE)
        printf(" %.0f req/s x %.1f s (+%.1f s warm-up)", opts.rate, opts.duration, opts.warmup);
    printf(", %llu measured, %.0f ok/s\n", (unsigned long long)n_meas,
           span > 0 ? (double)n_ok / span : 0.0);
    printf("  ok %zu  errors %llu (http %llu, conn %llu, timeout %llu, fidelity %llu)"
           "  connections opened %llu (failed %llu)  peak in flight %llu\n",
           n_ok, (unsigned long long)errors, (unsigned long long)res[RES_HTTP],
           (unsigned long long)res[RES_CONN], (unsigned long long)res[RES_TIMEOUT],
           (unsigned long long)res[RES_FIDELITY], (unsigned long long)totals.conns_opened,
           (unsigned long long)totals.conn_failures, (unsigned long long)totals.peak_inflight);
    print_pct("latency us", p_lat);
    print_pct(opts.stream ? "1st frame us" : "1st byte us", p_ttfb);
    print_pct("send lag us", p_lag);
    if (n_hdr > 0) print_pct(opts.capture, p_hdr);
    if (opts.stream && opts.mode != SY_LG_HOLD)
        printf("  frames: expected %llu received %llu lost %llu out-of-order %llu merged %llu "
               "foreign %llu; framing events %llu; reads with >1 frame %llu of %llu (info)\n",
               (unsigned long long)totals.frames_expected, (unsigned long long)totals.frames,
               (unsigned long long)totals.lost, (unsigned long long)totals.ooo,
               (unsigned long long)totals.merged, (unsigned long long)totals.foreign,
               (unsigned long long)totals.others, (unsigned long long)totals.multi_reads,
               (unsigned long long)totals.reads);
    if (opts.mode == SY_LG_HOLD)
        printf("  hold: established %llu failed %llu ended early %llu\n",
               (unsigned long long)hold_established, (unsigned long long)hold_failed,
               (unsigned long long)hold_ended);

    printf("{\"label\":\"%s\",\"mode\":\"%s\",\"rate\":%.0f,\"duration\":%.2f,\"measured\":%llu,"
           "\"ok\":%zu,\"errors\":%llu,\"err_http\":%llu,\"err_conn\":%llu,\"err_timeout\":%llu,"
           "\"err_fidelity\":%llu,\"conns\":%llu,\"conn_failures\":%llu,\"peak_inflight\":%llu,"
           "\"ok_per_s\":%.1f",
           opts.label, mode, opts.rate, opts.duration, (unsigned long long)n_meas, n_ok,
           (unsigned long long)errors, (unsigned long long)res[RES_HTTP],
           (unsigned long long)res[RES_CONN], (unsigned long long)res[RES_TIMEOUT],
           (unsigned long long)res[RES_FIDELITY], (unsigned long long)totals.conns_opened,
           (unsigned long long)totals.conn_failures, (unsigned long long)totals.peak_inflight,
           span > 0 ? (double)n_ok / span : 0.0);
    json_pct("lat", p_lat);
    json_pct("ttfb", p_ttfb);
    json_pct("lag", p_lag);
    json_pct("hdr", p_hdr);
    printf(",\"frames_expected\":%llu,\"frames\":%llu,\"lost\":%llu,\"out_of_order\":%llu,"
           "\"merged\":%llu,\"foreign\":%llu,\"other_frames\":%llu,\"reads\":%llu,"
           "\"multi_frame_reads\":%llu,\"established\":%llu,\"ended_early\":%llu,"
           "\"body_bytes\":%zu}\n",
           (unsigned long long)totals.frames_expected, (unsigned long long)totals.frames,
           (unsigned long long)totals.lost, (unsigned long long)totals.ooo,
           (unsigned long long)totals.merged, (unsigned long long)totals.foreign,
           (unsigned long long)totals.others, (unsigned long long)totals.reads,
           (unsigned long long)totals.multi_reads, (unsigned long long)hold_established,
           (unsigned long long)hold_ended, body_len);
    fflush(stdout);
    /* Reset the connections still open (see close_conn); the rest goes with the process. */
    for (size_t k = 0; k < n_conns; k++)
        if (conns[k]->state != CS_CONNECTING) uv_tcp_close_reset(&conns[k]->tcp, NULL);
    exit(0);
}

/* ---- setup ------------------------------------------------------------------------------- */

static double parse_num(const char *flag, const char *v)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *v == '\0' || *end != '\0' || d < 0 || d > 1e9)
        fail("%s: bad value '%s'", flag, v);
    return d;
}

static void parse_url(const char *url, char **host_port, const char **path)
{
    if (strncmp(url, "http://", 7) != 0) fail("--url must start with http://");
    const char *hp = url + 7;
    const char *slash = strchr(hp, '/');
    *path = slash ? slash : "/";
    size_t hl = slash ? (size_t)(slash - hp) : strlen(hp);
    *host_port = xmalloc(hl + 1);
    memcpy(*host_port, hp, hl);
    (*host_port)[hl] = '\0';
    char *colon = strrchr(*host_port, ':');
    if (colon == NULL) fail("--url needs an explicit port");
    char host[64];
    size_t n = (size_t)(colon - *host_port);
    if (n >= sizeof(host)) fail("--url: host too long");
    memcpy(host, *host_port, n);
    host[n] = '\0';
    if (uv_ip4_addr(host, atoi(colon + 1), &target) != 0)
        fail("--url: host must be an IPv4 address, got '%s'", host);
}

/* The request body: the default one-line chat, or --body-file (a JSON object without "model"
 * and "stream"), with "model" put first and "stream":true appended. */
static char *build_body(void)
{
    const char *stream = opts.stream ? ",\"stream\":true" : "";
    if (opts.body_file == NULL) {
        const char *fmt = "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":"
                          "\"Say hello to the benchmark.\"}]%s}";
        int n = snprintf(NULL, 0, fmt, opts.model, stream);
        char *b = xmalloc((size_t)n + 1);
        snprintf(b, (size_t)n + 1, fmt, opts.model, stream);
        return b;
    }
    FILE *f = fopen(opts.body_file, "rb");
    if (f == NULL) fail("--body-file %s: %s", opts.body_file, strerror(errno));
    char *text = xmalloc(SY_LG_BODY_MAX + 1);
    size_t n = fread(text, 1, SY_LG_BODY_MAX + 1, f);
    fclose(f);
    if (n > SY_LG_BODY_MAX) fail("--body-file: over %d bytes", SY_LG_BODY_MAX);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ' || text[n - 1] == '\r'))
        n--;
    text[n] = '\0';
    size_t open = strspn(text, " \t\r\n");
    if (text[open] != '{' || n < open + 2 || text[n - 1] != '}')
        fail("--body-file: expected one JSON object");
    const char *rest = text + open + 1; /* members after '{', up to the closing '}' */
    int rest_len = (int)(n - 1 - (open + 1));
    int empty = rest_len == (int)strspn(rest, " \t\r\n") || rest_len == 0;
    const char *fmt = "{\"model\":\"%s\"%s%.*s%s}";
    int bl = snprintf(NULL, 0, fmt, opts.model, empty ? "" : ",", rest_len, rest, stream);
    char *b = xmalloc((size_t)bl + 1);
    snprintf(b, (size_t)bl + 1, fmt, opts.model, empty ? "" : ",", rest_len, rest, stream);
    free(text);
    return b;
}

static void build_request(void)
{
    char *host_port;
    const char *path;
    parse_url(opts.url, &host_port, &path);
    char *body = build_body();
    body_len = strlen(body);
    const char *fmt = "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                      "Accept: %s\r\n%s%sContent-Length: %zu\r\n\r\n%s";
    const char *accept = opts.stream ? "text/event-stream" : "application/json";
    const char *hdr = opts.header ? opts.header : "", *crlf = opts.header ? "\r\n" : "";
    int n = snprintf(NULL, 0, fmt, path, host_port, accept, hdr, crlf, body_len, body);
    request_bytes = xmalloc((size_t)n + 1);
    snprintf(request_bytes, (size_t)n + 1, fmt, path, host_port, accept, hdr, crlf, body_len, body);
    request_len = (size_t)n;
    free(body);
    free(host_port);
}

static int print_free_port(void)
{
    uv_tcp_t t;
    struct sockaddr_in a;
    struct sockaddr_storage b;
    int len = sizeof(b);
    uv_ip4_addr("127.0.0.1", 0, &a);
    if (uv_tcp_init(loop, &t) != 0 || uv_tcp_bind(&t, (const struct sockaddr *)&a, 0) != 0 ||
        uv_tcp_getsockname(&t, (struct sockaddr *)&b, &len) != 0)
        fail("cannot bind a loopback port");
    printf("%d\n", ntohs(((struct sockaddr_in *)&b)->sin_port));
    return 0;
}

/* Spins on the CPU for secs seconds and counts the gaps between two clock reads longer than
 * 100 us: time the process did not run although it never yielded (interrupts, or, in a VM, the
 * host running something else). The noise floor of a latency measurement on this core. */
static int stall_probe(double secs)
{
    uint64_t start = uv_hrtime(), end = start + (uint64_t)(secs * 1e9), prev = start;
    uint64_t n = 0, total = 0, longest = 0;
    for (;;) {
        uint64_t now = uv_hrtime();
        if (now - prev > 100000) {
            n++;
            total += now - prev;
            if (now - prev > longest) longest = now - prev;
        }
        prev = now;
        if (now >= end) break;
    }
    printf("stall probe: %llu stalls > 100 us in %.1f s, %.2f%% of the time, longest %.0f us\n",
           (unsigned long long)n, secs, 100.0 * (double)total / (double)(end - start),
           (double)longest / 1e3);
    printf("{\"stalls\":%llu,\"stalls_per_s\":%.1f,\"stalled_pct\":%.2f,\"longest_us\":%.0f}\n",
           (unsigned long long)n, (double)n / secs, 100.0 * (double)total / (double)(end - start),
           (double)longest / 1e3);
    return 0;
}

static void usage(void)
{
    fputs(
        "usage: loadgen --url http://127.0.0.1:PORT/v1/chat/completions [options]\n"
        "  --rate R            open loop: R requests/s (default 100); with --hold: connections/s\n"
        "  --duration S        measured seconds (default 5); with --hold: seconds to hold\n"
        "  --warmup S          seconds of load before measuring, results discarded (default 0)\n"
        "  --stream            ask for SSE and check frame fidelity\n"
        "  --frames N          SSE frames each stream must deliver (default 20)\n"
        "  --conns N           connections opened before the clock starts (default 1)\n"
        "  --max-conns N       connection cap; past it requests queue (default 10000)\n"
        "  --timeout-ms N      a request without a result after this is an error (10000)\n"
        "  --spin-us N         wake N us early and spin to the scheduled time (low rates only)\n"
        "  --tick-us N         send in batches at most every N us (high rates: fewer wake-ups)\n"
        "  --model NAME        model field of the request body (default bench)\n"
        "  --body-file FILE    request body: a JSON object without model and stream (default:\n"
        "                      a one-line chat message)\n"
        "  --expect SHAPE      stream shape: openai (\"seq\":N in every event, then [DONE]),\n"
        "                      translated (seq=N in the content, + role and finish chunks),\n"
        "                      anthropic (seq=N in text_delta, + 5 framing events, no [DONE])\n"
        "  --label NAME        name printed with the results\n"
        "  --capture-header H  report percentiles of a numeric response header\n"
        "  --header 'N: V'     one extra request header (e.g. an Authorization key)\n"
        "  --dump FILE         write one line per measured request: due time (us from the first),\n"
        "                      latency, first byte (us), result (1 = ok), --capture-header value "
        "(-1)\n"
        "  --sequential N      closed loop instead: N requests back to back on one connection\n"
        "  --warmup-requests N with --sequential: requests sent first and not measured\n"
        "  --hold N            open N streams at --rate/s, print 'ready ...', hold --duration s\n"
        "  --free-port         print a free 127.0.0.1 TCP port and exit\n"
        "  --stall-probe S     spin S seconds, report gaps > 100 us (this core's noise floor)\n"
        "Prints a summary (microseconds) and one JSON line.\n",
        stderr);
}

int main(int argc, char **argv)
{
    bench_prog = "loadgen";
    int free_port = 0;
    loop = uv_default_loop();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else if (strcmp(a, "--stream") == 0) {
            opts.stream = 1;
            continue;
        } else if (strcmp(a, "--free-port") == 0) {
            free_port = 1;
            continue;
        }
        if (strcmp(a, "--stall-probe") == 0 && v != NULL) return stall_probe(parse_num(a, v));
        if (v == NULL) fail("%s: missing value (see --help)", a);
        i++;
        if (strcmp(a, "--url") == 0)
            opts.url = v;
        else if (strcmp(a, "--rate") == 0)
            opts.rate = parse_num(a, v);
        else if (strcmp(a, "--duration") == 0)
            opts.duration = parse_num(a, v);
        else if (strcmp(a, "--warmup") == 0)
            opts.warmup = parse_num(a, v);
        else if (strcmp(a, "--frames") == 0)
            opts.frames = (unsigned)parse_num(a, v);
        else if (strcmp(a, "--conns") == 0)
            opts.preopen = (unsigned)parse_num(a, v);
        else if (strcmp(a, "--max-conns") == 0)
            opts.max_conns = (unsigned)parse_num(a, v);
        else if (strcmp(a, "--timeout-ms") == 0)
            opts.timeout_ms = (uint64_t)parse_num(a, v);
        else if (strcmp(a, "--spin-us") == 0)
            spin_ns = (uint64_t)parse_num(a, v) * 1000;
        else if (strcmp(a, "--tick-us") == 0)
            tick_ns = (uint64_t)parse_num(a, v) * 1000;
        else if (strcmp(a, "--model") == 0)
            opts.model = v;
        else if (strcmp(a, "--body-file") == 0)
            opts.body_file = v;
        else if (strcmp(a, "--expect") == 0) {
            if (strcmp(v, "openai") == 0) {
                opts.seq_pat = "\"seq\":", opts.other_frames = 0, opts.need_done = 1;
            } else if (strcmp(v, "translated") == 0) {
                opts.seq_pat = "seq=", opts.other_frames = 2, opts.need_done = 1;
            } else if (strcmp(v, "anthropic") == 0) {
                opts.seq_pat = "seq=", opts.other_frames = 5, opts.need_done = 0;
            } else {
                fail("--expect: openai, translated or anthropic, got '%s'", v);
            }
        } else if (strcmp(a, "--label") == 0)
            opts.label = v;
        else if (strcmp(a, "--capture-header") == 0)
            opts.capture = v;
        else if (strcmp(a, "--header") == 0)
            opts.header = v;
        else if (strcmp(a, "--dump") == 0)
            opts.dump = v;
        else if (strcmp(a, "--sequential") == 0) {
            opts.mode = SY_LG_SEQUENTIAL;
            opts.count = (uint64_t)parse_num(a, v);
        } else if (strcmp(a, "--warmup-requests") == 0)
            opts.warmup_count = (uint64_t)parse_num(a, v);
        else if (strcmp(a, "--hold") == 0) {
            opts.mode = SY_LG_HOLD;
            opts.count = (uint64_t)parse_num(a, v);
        } else
            fail("unknown flag %s (see --help)", a);
    }
    if (free_port) return print_free_port();
    if (opts.url == NULL) fail("--url is required (see --help)");
    if (opts.rate <= 0) fail("--rate must be > 0");
    if (opts.max_conns == 0) fail("--max-conns must be > 0");

    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    build_request();

    switch (opts.mode) {
    case SY_LG_RATE:
        n_reqs = (uint64_t)ceil(opts.rate * (opts.warmup + opts.duration));
        first_measured = (uint64_t)ceil(opts.rate * opts.warmup);
        break;
    case SY_LG_SEQUENTIAL:
        n_reqs = opts.count + opts.warmup_count;
        first_measured = opts.warmup_count;
        opts.preopen = 1;
        break;
    case SY_LG_HOLD:
        n_reqs = opts.count;
        first_measured = 0;
        opts.preopen = 0;
        opts.max_conns = (unsigned)(opts.count + 1);
        break;
    }
    if (n_reqs == 0) fail("nothing to send");
    period_ns = 1e9 / opts.rate;
    reqs = xcalloc(n_reqs, sizeof(*reqs));
    if (opts.mode == SY_LG_SEQUENTIAL)
        for (uint64_t i = 0; i < n_reqs; i++)
            reqs[i].measured = i >= first_measured;

    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd < 0) fail("timerfd_create: %s", strerror(errno));
    uv_poll_init(loop, &tick_poll, timer_fd);
    uv_timer_init(loop, &sweep_timer);
    uv_timer_init(loop, &end_timer);
    uv_timer_start(&sweep_timer, on_sweep, SY_LG_SWEEP_MS, SY_LG_SWEEP_MS);
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);

    if (opts.preopen > 0) {
        connecting_preopen = opts.preopen;
        for (unsigned k = 0; k < opts.preopen; k++)
            open_conn(-1);
    } else {
        start_schedule();
    }
    uv_run(loop, UV_RUN_DEFAULT);
    finish();
    return 0;
}
