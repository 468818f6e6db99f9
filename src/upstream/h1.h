/* Native HTTP/1.1 client for plain-http upstreams at a numeric address (local inference
 * servers: vLLM, Ollama, llama.cpp on 127.0.0.1 or a LAN IP). Same call contract as
 * upstream.h (on_head / on_data / on_done, pause, cancel, timeouts); upstream.c picks it per URL
 * and uses curl for everything else (TLS, HTTP/2, host names, proxies).
 *
 * Why: libcurl costs ~70,000 instructions and two extra poll() calls per request on a reused
 * connection (docs/PERFORMANCE.md); this path costs a few thousand and no extra syscalls, which
 * is what a gateway in front of a local model spends most of its CPU on.
 *
 * DESIGN: per loop, a pool of idle keep-alive connections per target (host:port). A call takes
 * an idle connection or opens one, writes the request head and body in one write, and parses the
 * response with llhttp (HTTP_RESPONSE; chunked and content-length bodies; 1xx skipped). Body
 * pieces go to on_data as read; when on_data returns false the connection stops reading until
 * resume (at most one read buffer beyond the client's high water mark). A complete response with
 * keep-alive returns the connection to the pool; an idle pooled connection keeps reading so that
 * a server-side close is noticed. A request on a reused connection that sees EOF before any
 * response byte is retried once on a new connection (the server closed an idle keep-alive
 * connection as we sent). One uv_timer per connection enforces connect, first-byte, idle and
 * total deadlines. Cancel closes the connection at once. */
#ifndef SY_UPSTREAM_H1_H
#define SY_UPSTREAM_H1_H
#include <netinet/in.h>
#include <stdbool.h>
#include <uv.h>

#include "upstream/upstream.h"

typedef struct sy_h1_target {
    struct sockaddr_storage addr;
    char hostport[300]; /* Host header value */
    char path[1024];    /* request target, e.g. /v1/chat/completions */
} sy_h1_target_t;

typedef struct sy_h1 sy_h1_t;

/* Parses url; true if it is http:// with a numeric IPv4/IPv6 host (or localhost). */
bool sy_h1_target_parse(const char *url, sy_h1_target_t *t);

sy_h1_t *sy_h1_new(uv_loop_t *loop);
/* Closes every connection (calls in flight must have been cancelled); frees when closed. */
void sy_h1_free(sy_h1_t *h);

sy_err_t sy_h1_start(sy_h1_t *h, const sy_h1_target_t *t, sy_upstream_call_t *call);
void sy_h1_resume(sy_upstream_call_t *call);
void sy_h1_cancel(sy_upstream_call_t *call);

#endif
