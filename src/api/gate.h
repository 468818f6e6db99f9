/* The auth phase of /v1 (docs/internals/AUTH.md): finds the API key in `Authorization: Bearer`
 * or `x-api-key`, checks it against the key cache, and on a miss asks the store on libuv's
 * thread pool while the request waits (the loop never blocks). Loop thread only. */
#ifndef SY_API_GATE_H
#define SY_API_GATE_H
#include "core/clock.h"
#include "http/server.h"
#include "providers/provider.h"

struct sy_worker;

/* Continues the request once it is authenticated (req->ident set). */
typedef void (*sy_gate_next_cb)(sy_http_req_t *req, struct sy_worker *w);

/* Runs next at once when auth is off (w->auth NULL) or the key is cached; later from the
 * thread pool's after-work callback after a store lookup; never when the request is refused
 * (401 in the ingress's error format, sent here) or the client went away meanwhile. */
void sy_gate_v1(sy_http_req_t *req, struct sy_worker *w, sy_format_t ingress, sy_gate_next_cb next);

/* Policy timing (switchyard_policy_duration_seconds, api/metrics.h): the auth phase and the
 * limits phase each open a span when they start and close it when the request moves on, so a
 * request's time in them (a key-store miss and a Redis round trip included) is summed; the
 * relay observes the sum when the upstream call starts. Loop thread. */
static inline void sy_gate_span_open(sy_http_req_t *req, uint64_t now_ns)
{
    req->policy_t0_ns = now_ns;
    req->policy_timed = true;
}

static inline void sy_gate_span_close(sy_http_req_t *req)
{
    if (!req->policy_t0_ns) return;
    req->policy_ns += sy_clock_mono_ns() - req->policy_t0_ns;
    req->policy_t0_ns = 0;
}

/* The presented API key (Bearer or x-api-key), or a NULL view. */
sy_str_t sy_gate_presented_key(const sy_http_req_t *req);

#endif
