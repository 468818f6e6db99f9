/*
 * mock_upstream: a minimal, fast OpenAI-style upstream for the Switchyard benchmark.
 *
 * DESIGN
 * One libuv loop on one thread. A connection serves one request at a time (HTTP/1.1 keep-alive;
 * bytes that arrive early are kept for the next request): the head ends at CRLFCRLF, the body is
 * Content-Length bytes. POST /v1/chat/completions answers a small fixed chat.completion JSON or,
 * when the body contains "stream":true, an SSE stream in chunked transfer encoding: the head, then
 * --frames content-delta events, each its own chunk and its own write, each carrying "seq":i, then
 * "data: [DONE]" and the last chunk. The loadgen checks the seq numbers to prove that every frame
 * went through a proxy separately and in order.
 *
 * --format anthropic serves the Anthropic Messages API instead: POST /v1/messages answers a fixed
 * Message JSON or, with "stream":true, Anthropic's event sequence (message_start with usage,
 * content_block_start, --frames content_block_delta text_delta events, content_block_stop,
 * message_delta with stop_reason and usage, message_stop), each event its own chunk and write, and
 * no [DONE]. The seq number travels inside the delta text ("seq=N "), the one field a gateway that
 * translates to OpenAI's chunk format carries over (loadgen --expect translated|anthropic).
 *
 * Every response byte is rendered once at startup, so serving a request copies nothing: writes
 * point at static memory (uv_try_write first, uv_write for what the socket did not take).
 * --delay-ms delays the response head with a uv timer (never sleep: the loop keeps serving other
 * connections); --frame-gap-ms paces the frames with the same per-connection timer.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "common.h"

#define SY_MOCK_REQ_MAX (1024 * 1024) /* request head + body cap; over it the connection closes */
#define SY_MOCK_BACKLOG 4096

typedef struct {
    const char *host;
    int port;
    uint64_t delay_ms;     /* before the response head */
    uint64_t frame_gap_ms; /* between SSE frames (0: all frames back to back) */
    unsigned frames;       /* content-delta events per stream */
    int anthropic;         /* --format anthropic: serve POST /v1/messages in Anthropic's format */
} sy_mock_opts_t;

typedef struct {
    char *ptr;
    size_t len;
} sy_mock_iov_t;

/* Pre-rendered responses, shared by all connections. */
typedef struct {
    sy_mock_iov_t json;     /* full non-stream response: head + body */
    sy_mock_iov_t sse_head; /* stream response head */
    sy_mock_iov_t *frames;  /* one chunk-encoded SSE event per frame */
    unsigned n_frames;      /* events in frames[]: --frames, plus 5 framing events (anthropic) */
    sy_mock_iov_t sse_done; /* "data: [DONE]" chunk (openai) + last chunk */
    const char *path;       /* "POST <path>" is the API call */
    size_t path_len;
    sy_mock_iov_t not_found; /* 404 for other paths */
    sy_mock_iov_t health;    /* 200 for GET /healthz */
} sy_mock_replies_t;

typedef struct {
    uv_tcp_t tcp;
    uv_timer_t timer;
    char *buf; /* request bytes received and not yet consumed */
    size_t len, cap;
    unsigned next_frame; /* next SSE frame to write; n_frames == [DONE] */
    int busy;            /* a response is being produced */
    int closing;
    int open_handles;
} sy_mock_conn_t;

static sy_mock_opts_t opts = {"127.0.0.1", 0, 0, 0, 20, 0};
static sy_mock_replies_t replies;
static uv_loop_t *loop;

static sy_mock_iov_t render(const char *fmt, ...)
{
    sy_mock_iov_t v;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    v.ptr = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(v.ptr, (size_t)n + 1, fmt, ap);
    va_end(ap);
    v.len = (size_t)n;
    return v;
}

/* One SSE event as one HTTP chunk. */
static sy_mock_iov_t render_chunk(sy_mock_iov_t ev)
{
    sy_mock_iov_t c = render("%zx\r\n%s\r\n", ev.len, ev.ptr);
    free(ev.ptr);
    return c;
}

static void render_openai(void)
{
    static const char body[] =
        "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1700000000,"
        "\"model\":\"bench\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":\"Hello from the bench mock.\"},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,\"total_tokens\":11}}";

    replies.json = render("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n%s",
                          sizeof(body) - 1, body);
    replies.n_frames = opts.frames;
    replies.frames = xmalloc(sizeof(*replies.frames) * (opts.frames ? opts.frames : 1));
    for (unsigned i = 0; i < opts.frames; i++)
        replies.frames[i] = render_chunk(
            render("data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\","
                   "\"created\":1700000000,\"model\":\"bench\",\"choices\":[{\"index\":0,"
                   "\"delta\":{\"content\":\"tok%u \"},\"finish_reason\":null}],\"seq\":%u}\n\n",
                   i, i));
    replies.sse_done = render("e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n");
    replies.path = "/v1/chat/completions";
}

/* The shapes of https://docs.anthropic.com/en/api/messages and .../messages-streaming. */
static void render_anthropic(void)
{
    static const char body[] =
        "{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"claude-bench\",\"content\":[{\"type\":\"text\","
        "\"text\":\"Hello from the bench mock.\"}],\"stop_reason\":\"end_turn\","
        "\"stop_sequence\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":6}}";
    unsigned k = 0;

    replies.json = render("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n%s",
                          sizeof(body) - 1, body);
    replies.n_frames = opts.frames + 5;
    replies.frames = xmalloc(sizeof(*replies.frames) * replies.n_frames);
    replies.frames[k++] = render_chunk(
        render("event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
               "{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\","
               "\"model\":\"claude-bench\",\"content\":[],\"stop_reason\":null,"
               "\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"));
    replies.frames[k++] = render_chunk(
        render("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
               "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"));
    for (unsigned i = 0; i < opts.frames; i++)
        replies.frames[k++] = render_chunk(
            render("event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                   "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"seq=%u \"}}\n\n",
                   i));
    replies.frames[k++] = render_chunk(render(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"));
    replies.frames[k++] =
        render_chunk(render("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
                            "{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
                            "\"usage\":{\"output_tokens\":%u}}\n\n",
                            opts.frames));
    replies.frames[k++] =
        render_chunk(render("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    replies.sse_done = render("0\r\n\r\n");
    replies.path = "/v1/messages";
}

static void render_replies(void)
{
    if (opts.anthropic)
        render_anthropic();
    else
        render_openai();
    replies.path_len = strlen(replies.path);
    replies.sse_head = render("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                              "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n");
    replies.not_found = render("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                               "Content-Length: 21\r\n\r\n{\"error\":\"not found\"}");
    replies.health = render("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            "Content-Length: 15\r\n\r\n{\"status\":\"ok\"}");
}

static void on_handle_closed(uv_handle_t *h)
{
    sy_mock_conn_t *c = h->data;
    if (--c->open_handles == 0) {
        free(c->buf);
        free(c);
    }
}

static void close_conn(sy_mock_conn_t *c)
{
    if (c->closing) return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_write(uv_write_t *w, int status)
{
    sy_mock_conn_t *c = w->data;
    free(w);
    if (status < 0 && status != UV_ECANCELED) close_conn(c);
}

/* Writes static bytes: a direct syscall when nothing is queued, else (or for the rest) a uv_write
 * that points at the same static memory. */
static void send_static(sy_mock_conn_t *c, const sy_mock_iov_t *v)
{
    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    uv_buf_t b = uv_buf_init(v->ptr, (unsigned)v->len);

    if (c->closing) return;
    if (uv_stream_get_write_queue_size(s) == 0) {
        int n = uv_try_write(s, &b, 1);
        if (n == (int)b.len) return;
        if (n > 0) {
            b.base += n;
            b.len -= (size_t)n;
        } else if (n != UV_EAGAIN) {
            close_conn(c);
            return;
        }
    }
    uv_write_t *w = xmalloc(sizeof(*w));
    w->data = c;
    if (uv_write(w, s, &b, 1, on_write) != 0) {
        free(w);
        close_conn(c);
    }
}

static void try_serve(sy_mock_conn_t *c);

static void finish_response(sy_mock_conn_t *c)
{
    c->busy = 0;
    try_serve(c);
}

static void on_frame_timer(uv_timer_t *t)
{
    sy_mock_conn_t *c = t->data;
    if (c->next_frame < replies.n_frames) {
        send_static(c, &replies.frames[c->next_frame++]);
        return;
    }
    uv_timer_stop(t);
    send_static(c, &replies.sse_done);
    finish_response(c);
}

static void start_stream(sy_mock_conn_t *c)
{
    send_static(c, &replies.sse_head);
    if (opts.frame_gap_ms == 0) {
        for (unsigned i = 0; i < replies.n_frames; i++)
            send_static(c, &replies.frames[i]);
        send_static(c, &replies.sse_done);
        finish_response(c);
        return;
    }
    c->next_frame = 0;
    if (replies.n_frames > 0) send_static(c, &replies.frames[c->next_frame++]);
    uv_timer_start(&c->timer, on_frame_timer, opts.frame_gap_ms, opts.frame_gap_ms);
}

static void on_delay_json(uv_timer_t *t)
{
    sy_mock_conn_t *c = t->data;
    send_static(c, &replies.json);
    finish_response(c);
}

static void on_delay_stream(uv_timer_t *t)
{
    start_stream(t->data);
}

/* Case-insensitive search for a header name at the start of a line; returns its value. */
static const char *find_header(const char *head, size_t len, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl + 1 < len; i++) {
        if ((i == 0 || head[i - 1] == '\n') && strncasecmp(head + i, name, nl) == 0 &&
            head[i + nl] == ':')
            return head + i + nl + 1;
    }
    return NULL;
}

static void try_serve(sy_mock_conn_t *c)
{
    if (c->busy || c->closing || c->len < 4) return;
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (end == NULL) return;
    size_t head_len = (size_t)(end - c->buf) + 4;
    size_t body_len = 0;
    const char *cl = find_header(c->buf, head_len, "content-length");
    if (cl != NULL) body_len = strtoul(cl, NULL, 10);
    if (body_len > SY_MOCK_REQ_MAX) {
        close_conn(c);
        return;
    }
    if (c->len < head_len + body_len) return;

    const char *body = c->buf + head_len;
    size_t pl = replies.path_len;
    int is_chat = c->len > pl + 6 && memcmp(c->buf, "POST ", 5) == 0 &&
                  memcmp(c->buf + 5, replies.path, pl) == 0 &&
                  (c->buf[5 + pl] == ' ' || c->buf[5 + pl] == '?');
    int is_health = memcmp(c->buf, "GET /healthz ", 13) == 0;
    int stream = is_chat && (memmem(body, body_len, "\"stream\":true", 13) != NULL ||
                             memmem(body, body_len, "\"stream\": true", 14) != NULL);

    c->len -= head_len + body_len;
    memmove(c->buf, c->buf + head_len + body_len, c->len);
    c->busy = 1;

    if (!is_chat) {
        send_static(c, is_health ? &replies.health : &replies.not_found);
        finish_response(c);
    } else if (opts.delay_ms > 0) {
        uv_update_time(loop); /* the delay counts from now, not from the start of this loop turn */
        uv_timer_start(&c->timer, stream ? on_delay_stream : on_delay_json, opts.delay_ms, 0);
    } else if (stream) {
        start_stream(c);
    } else {
        send_static(c, &replies.json);
        finish_response(c);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    sy_mock_conn_t *c = h->data;
    (void)suggested;
    if (c->cap - c->len < 4096) {
        c->cap = c->cap ? c->cap * 2 : 8192;
        c->buf = xrealloc(c->buf, c->cap);
    }
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    sy_mock_conn_t *c = s->data;
    (void)buf;
    if (n < 0) {
        close_conn(c);
        return;
    }
    c->len += (size_t)n;
    if (c->len > SY_MOCK_REQ_MAX + 65536) {
        close_conn(c);
        return;
    }
    try_serve(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0) return;
    sy_mock_conn_t *c = xmalloc(sizeof(*c));
    memset(c, 0, sizeof(*c));
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        close_conn(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) close_conn(c);
}

static uint64_t parse_num(const char *flag, const char *v)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *v == '\0' || *end != '\0' || n > 1000000000ULL)
        fail("%s: bad value '%s'", flag, v);
    return n;
}

static void usage(void)
{
    fputs("usage: mock_upstream [--host 127.0.0.1] [--port N (0 = any)] [--delay-ms N]\n"
          "                     [--frames N (20)] [--frame-gap-ms N (0)]\n"
          "                     [--format openai|anthropic (openai)]\n"
          "Prints 'mock_upstream: listening on http://HOST:PORT' on stdout when ready.\n",
          stderr);
}

int main(int argc, char **argv)
{
    bench_prog = "mock_upstream";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        }
        if (v == NULL) fail("%s: missing value (see --help)", a);
        if (strcmp(a, "--host") == 0)
            opts.host = v;
        else if (strcmp(a, "--port") == 0)
            opts.port = (int)parse_num(a, v);
        else if (strcmp(a, "--delay-ms") == 0)
            opts.delay_ms = parse_num(a, v);
        else if (strcmp(a, "--frames") == 0)
            opts.frames = (unsigned)parse_num(a, v);
        else if (strcmp(a, "--frame-gap-ms") == 0)
            opts.frame_gap_ms = parse_num(a, v);
        else if (strcmp(a, "--format") == 0) {
            if (strcmp(v, "openai") != 0 && strcmp(v, "anthropic") != 0)
                fail("--format: openai or anthropic, got '%s'", v);
            opts.anthropic = strcmp(v, "anthropic") == 0;
        } else
            fail("unknown flag %s (see --help)", a);
        i++;
    }
    if (opts.port > 65535) fail("--port: out of range");
    if (opts.frames > 100000) fail("--frames: at most 100000");

    signal(SIGPIPE, SIG_IGN);
    render_replies();
    loop = uv_default_loop();

    uv_tcp_t server;
    struct sockaddr_in addr;
    int err = uv_ip4_addr(opts.host, opts.port, &addr);
    if (err == 0) err = uv_tcp_init(loop, &server);
    if (err == 0) err = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (err == 0) err = uv_listen((uv_stream_t *)&server, SY_MOCK_BACKLOG, on_connection);
    if (err != 0) fail("listen on %s:%d: %s", opts.host, opts.port, uv_strerror(err));

    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &blen);
    printf("mock_upstream: listening on http://%s:%d (delay %llu ms, %u frames, gap %llu ms, "
           "POST %s)\n",
           opts.host, ntohs(((struct sockaddr_in *)&bound)->sin_port),
           (unsigned long long)opts.delay_ms, opts.frames, (unsigned long long)opts.frame_gap_ms,
           replies.path);
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
