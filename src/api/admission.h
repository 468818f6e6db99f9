/* The limits phase of /v1 inference requests (docs/internals/LIMITS.md, "Wiring"): after auth
 * and model resolution, before routing, a request is checked against its list of limits (the
 * key's, its owner user's or team's, the model's, per (entity, model)), admitted or refused with
 * a 429/503 in the ingress's format; its reservation is then finished exactly once: the
 * concurrency part when the response ends (loop thread), tokens and cost from the enriched
 * inference-log row (the same numbers as the row) on the writer thread.
 *
 * DESIGN
 * - One sy_admission_t per process. Backend `local`: one in-process limiter shared by every
 *   thread; the writer thread finishes reservations on it directly. Backend `redis`: one
 *   limiter per worker loop, created on that loop's thread; the writer thread hands finished
 *   reservations back to the loop that owns them through a per-worker inbox (mutex + intrusive
 *   list of the reservations themselves, so no allocation and no bound to overflow: it never
 *   holds more than the requests that worker admitted) and the worker's async wakeup.
 * - A request's ticket (sy_admission_req_t, heap) lives from admit to finish. Paths: refused
 *   (nothing reserved); client gone while a Redis admit is in flight (cancelled on the answer);
 *   relay end (sy_admission_end: concurrency released; then either attached to the last log row
 *   — sy_admission_attach — or, without an inference log, finished at once with unknown usage);
 *   a dropped log row finishes with unknown usage (the estimate stands, no cost).
 * - Shutdown: a worker closes its inbox (sy_admission_worker_close) after its requests were
 *   aborted; tickets settled later are discarded. The process object is freed after the log
 *   pipeline has stopped, so a settle never sees a freed limiter. */
#ifndef SY_API_ADMISSION_H
#define SY_API_ADMISSION_H
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "conf/config.h"
#include "core/jsonv.h"
#include "http/server.h"
#include "policy/limits.h"
#include "routing/route.h"

struct sy_worker;
struct sy_log_aux;

typedef struct sy_admission sy_admission_t;
typedef struct sy_admission_req sy_admission_req_t;

/* Counters for /metrics (relaxed atomics; any thread). */
typedef struct sy_admission_stats {
    uint64_t admitted;
    uint64_t denied[4]; /* rate, quota, too_large, unavailable */
    uint64_t fail_open, fail_closed;
    uint64_t finish_failed, finish_lost; /* Redis finishes: failed attempts (retried), given up */
    bool local;
    uint64_t local_entries; /* in-process backend: keys held */
} sy_admission_stats_t;

/* Main thread, before the workers start: NULL when no limit is configured anywhere. */
sy_admission_t *sy_admission_new(const sy_config_t *cfg, int n_workers);
/* Main thread, after every worker was joined and the log pipeline stopped. */
void sy_admission_free(sy_admission_t *a);
void sy_admission_stats(sy_admission_t *a, sy_admission_stats_t *out);

/* Worker loop thread, at start: creates the worker's Redis limiter (backend redis); wake(ctx)
 * is called from the writer thread to make the loop call sy_admission_worker_poll. */
void sy_admission_worker_init(sy_admission_t *a, int idx, uv_loop_t *loop, void (*wake)(void *),
                              void *ctx);
/* Worker loop thread, on its wakeup: finishes the reservations the writer thread handed back. */
void sy_admission_worker_poll(sy_admission_t *a, int idx);
/* Worker loop thread, at stop, after its requests were aborted: closes the inbox, frees the
 * worker's limiter (the loop must run once more). */
void sy_admission_worker_close(sy_admission_t *a, int idx);

/* Loop thread: the limits phase. Admitted: sy_relay_start(req, w, ingress, r, ticket).
 * Refused: the 429/503 is sent and the rejected row logged. No limits (a NULL w->admission):
 * straight to the relay with a NULL ticket. v: the scanned body (max_tokens). */
void sy_admission_run(sy_http_req_t *req, struct sy_worker *w, sy_format_t ingress, sy_route_t *r,
                      const sy_jsonv_chat_t *v);

/* The x-ratelimit-* headers of a result (only the kinds that applied): writes up to 6 headers
 * into h, their values into buf; returns how many. */
#define SY_ADMISSION_HDR_MAX 6
#define SY_ADMISSION_HDR_BUF (6 * 32)
size_t sy_admission_headers(const sy_limits_result_t *res, sy_http_header_t *h,
                            char buf[SY_ADMISSION_HDR_BUF]);
const sy_limits_result_t *sy_admission_result(const sy_admission_req_t *t);

/* Loop thread: the response is over; releases the concurrency part now. Then exactly one of:
 * sy_admission_attach (a log row will tell the usage) or sy_admission_finish_unknown. */
void sy_admission_end(sy_admission_req_t *t);
/* Moves the ticket onto the row's aux (aux->settle); the ticket is no longer the caller's. */
void sy_admission_attach(sy_admission_req_t *t, struct sy_log_aux *aux);
/* Finishes with unknown usage and cost (no log row); frees the ticket. Loop thread. */
void sy_admission_finish_unknown(sy_admission_req_t *t);

#endif
