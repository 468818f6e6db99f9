/* HTTP/1.1 server on libuv + llhttp, one instance per loop thread.
 *
 * DESIGN
 * - Each loop thread owns one sy_http_server_t with its own listening socket (SO_REUSEPORT:
 *   the kernel spreads connections over the threads; no shared accept lock).
 * - A connection handles one request at a time. When a request is complete, the parser pauses;
 *   pipelined bytes wait in conn->pending (capped) until the response has ended. Reading goes on
 *   while a request is in flight so that a client disconnect is seen at once (on_abort).
 * - Responses are corked: every sy_http_res_* call appends to the connection's output buffer,
 *   and the server flushes all dirty connections once per loop iteration (uv_prepare before the
 *   loop blocks, uv_check after I/O callbacks). A streamed chunk costs one write syscall and the
 *   head, the first chunk and the end of a short response go out together.
 * - Backpressure (h2o generator contract): sy_http_res_write returns false when more than
 *   SY_HTTP_HIGH_WATER bytes are waiting for the socket; the producer then stops, and the
 *   on_drain hook fires once the backlog falls under SY_HTTP_LOW_WATER.
 * - Memory: request-scoped data (headers, path) lives in the request arena, reset after each
 *   response; body and output buffers are capped (max_body_bytes; high water mark).
 * Threads: everything here runs on the owning loop thread. */
#ifndef SY_HTTP_SERVER_H
#define SY_HTTP_SERVER_H
#include <llhttp.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "core/uuid.h"

#define SY_HTTP_HIGH_WATER (64 * 1024)
#define SY_HTTP_LOW_WATER (16 * 1024)
/* Cap of one connection's output buffer beyond the high water mark: one write may add a whole
 * buffered reply (a translated non-streamed answer is at most ~2 x 32 MiB). */
#define SY_HTTP_OUT_MIN_CAP (80u << 20)

typedef struct sy_http_server sy_http_server_t;
typedef struct sy_http_conn sy_http_conn_t;
typedef struct sy_http_req sy_http_req_t;

typedef struct sy_http_header {
    sy_str_t name;
    sy_str_t value;
} sy_http_header_t;

typedef struct sy_http_limits {
    size_t max_body_bytes;
    size_t max_header_bytes; /* request line + all header lines */
    uint32_t max_headers;
    uint32_t header_timeout_ms;    /* first byte of a request -> body complete */
    uint32_t keepalive_timeout_ms; /* idle between requests */
} sy_http_limits_t;

/* Called on the loop thread when a request (head and body) has been received. The handler
 * owns the response from then on and must end it (sy_http_res_end / sy_http_res_send), unless
 * on_abort fires first. */
typedef void (*sy_http_handler_cb)(sy_http_req_t *req, void *ctx);

struct sy_http_req {
    sy_http_conn_t *conn;
    sy_arena_t arena; /* request-scoped; reset after the response ends */
    uint8_t method;   /* llhttp_method_t */
    sy_str_t path;    /* without the query string */
    sy_str_t query;
    sy_http_header_t *headers;
    size_t n_headers;
    sy_buf_t body;          /* capped at max_body_bytes */
    uint64_t t_begin_us;    /* first byte of the request (monotonic) */
    uint64_t t_complete_us; /* body complete */
    /* Time in the auth and limits phases (api/gate.h, sy_gate_span_*): the open span's start
     * (0: none open) and the closed spans' sum, in monotonic ns; policy_timed: a phase ran. */
    uint64_t policy_t0_ns, policy_ns;
    bool policy_timed;
    char request_id[130]; /* client's valid x-request-id, else a UUIDv7 */
    int status;           /* response status once the head was produced */
    bool head_done;       /* head produced (maybe not yet flushed) */
    bool chunked;
    bool ended;
    bool aborted;
    bool held;     /* sy_http_res_hold: output not flushed until sy_http_res_release */
    bool end_held; /* an end (or abort) requested while held */
    /* Hooks set by the handler. on_drain: output backlog fell under the low water mark after a
     * write returned false. on_abort: the client went away before the response ended; the
     * handler must stop all work on this request and never touch req again. */
    void (*on_drain)(sy_http_req_t *req, void *ctx);
    void (*on_abort)(sy_http_req_t *req, void *ctx);
    void *hook_ctx;
    /* Who sent the request, set by the auth phase (api/gate.c): a reference into the key cache
     * that on_release drops; NULL when auth is off (auth.mode local) or not yet checked. */
    const struct sy_auth_ident *ident;
    /* Called once on the loop thread when the request's memory is released (before the next
     * request on the connection, or when the connection closes); NULL: nothing to do. */
    void (*on_release)(sy_http_req_t *req);
};

struct sy_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_prepare_t flush_prepare;
    uv_check_t flush_check;
    sy_http_limits_t limits;
    sy_http_handler_cb handler;
    void *handler_ctx;
    /* Optional (set after init): the server itself answers a request whose head was parsed
     * with an error (413: body over max_body_bytes) without calling the handler. Called just
     * before that error is sent, with the request as far as it was received (path, headers,
     * the body bytes so far); req must not be answered or kept. */
    void (*on_reject)(sy_http_req_t *req, int status, const char *type, const char *message,
                      void *ctx);
    sy_http_conn_t *conns; /* every open connection (intrusive list) */
    sy_http_conn_t *dirty; /* connections with unflushed output */
    size_t n_conns;
    size_t n_active; /* requests being handled */
    bool listening;
    bool draining;
    int handles_open;
    void (*on_closed)(sy_http_server_t *s); /* after sy_http_server_close: all handles closed */
    char readbuf[65536];                    /* shared by all connections of this loop */
};

/* Binds host:port (SO_REUSEPORT) and starts accepting. Returns 0 or a negative uv error. */
int sy_http_server_init(sy_http_server_t *s, uv_loop_t *loop, const sy_http_limits_t *limits,
                        const char *host, int port, sy_http_handler_cb handler, void *ctx);
/* Stops accepting and closes idle connections; busy ones close after their response. */
void sy_http_server_drain(sy_http_server_t *s);
/* Aborts every remaining request (on_abort fires) and closes all handles; on_closed fires once
 * everything is closed. */
void sy_http_server_close(sy_http_server_t *s, void (*on_closed)(sy_http_server_t *s));

/* Zeroes the bytes of this request still held in the server's input buffers: the loop's shared
 * read buffer and the connection's buffer of received bytes (its unparsed pipelined requests
 * are kept). For a request whose body holds a secret (a provider credential), once its body has
 * been parsed; the request's own body (req->body) is the caller's to wipe. Loop thread. */
void sy_http_req_wipe_input(sy_http_req_t *req);

/* The client's IP address as text ("127.0.0.1", "::1"); "" when unknown. */
void sy_http_req_peer(const sy_http_req_t *req, char *out, size_t outlen);

/* Looks up a request header (case-insensitive); returns an empty view with ptr NULL if absent. */
sy_str_t sy_http_req_header(const sy_http_req_t *req, const char *name);

/* Produces the response head. headers: extra headers (not content-length / transfer-encoding /
 * connection / x-request-id, which the server writes). content_length < 0 means chunked. */
void sy_http_res_head(sy_http_req_t *req, int status, const sy_http_header_t *headers, size_t n,
                      int64_t content_length);
/* Appends body bytes (copied). Returns false when the producer should pause until on_drain. */
bool sy_http_res_write(sy_http_req_t *req, const void *data, size_t len);
/* Ends the response. The request must not be touched after this call. */
void sy_http_res_end(sy_http_req_t *req);
/* Holds the response's output: what is written from now on (a final chunk, a whole response
 * sent with sy_http_res_send) stays in the connection's buffer, and an end or abort is deferred,
 * until sy_http_res_release. Meanwhile the request is still active: on_abort fires if the
 * client goes away (then release must not be called). Used to acknowledge a request only once
 * its log row is durable (api/relay.c). */
void sy_http_res_hold(sy_http_req_t *req);
void sy_http_res_release(sy_http_req_t *req);
/* Gives up a held response: nothing written since the hold (nor anything still unflushed)
 * reaches the client; the connection is closed at once, so the client sees a failed request,
 * not an acknowledgement. on_abort does not fire. The request must not be touched after. */
void sy_http_res_fail_held(sy_http_req_t *req);
/* Ends a response that failed midway: what was written is flushed, then the connection is
 * closed without the final chunk, so the client sees an incomplete transfer (never a
 * well-formed truncated body). The request must not be touched after this call. */
void sy_http_res_abort(sy_http_req_t *req);
/* Head + whole body + end in one call. */
void sy_http_res_send(sy_http_req_t *req, int status, const char *content_type, const void *body,
                      size_t len, const sy_http_header_t *headers, size_t n);
/* Bytes produced but not yet accepted by the socket. */
size_t sy_http_res_backlog(const sy_http_req_t *req);

#endif
