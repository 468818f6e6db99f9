/* Auth phase for /v1 (see gate.h).
 *
 * DESIGN
 * - Hot path: the presented key's tag (keyed SipHash-128, no SHA-256), a read of the
 *   process-wide cache (policy/auth.h), expiry/revocation checked against the wall clock; the
 *   request keeps a reference to the cached identity (no copy), dropped when the request's
 *   memory is released (req->on_release). No allocation, no store call.
 * - Miss: the key's SHA-256 (the stored form); a heap job goes to libuv's thread pool
 *   (uv_queue_work), which loads the key and its owner from the store; the after-work callback
 *   caches the answer (negative too) and either continues the request or sends the 401. A client
 * that leaves meanwhile: on_abort clears job->req and cancels the work if it has not started
 * (logs.c uses the same pattern).
 * - 401s are not written to the inference log: unauthenticated traffic must not be able to
 *   fill it. */
#include "api/gate.h"

#include <sodium.h>
#include <stdio.h>
#include <strings.h>
#include <string.h>
#include <sys/time.h>

#include "api/chatgen.h"
#include "api/relay.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "policy/auth.h"
#include "worker.h"

typedef struct gate_job {
    uv_work_t work;
    sy_http_req_t *req; /* NULL once the client went away */
    sy_worker_t *w;
    sy_format_t ingress;
    sy_gate_next_cb next;
    char hash_hex[SY_AUTH_HEX_LEN + 1];
    uint8_t hash[32];
    uint8_t tag[SY_AUTH_TAG_LEN];
    uint64_t gen; /* the cache generation when the lookup began */
    sy_err_t err;
    char msg[SY_STORE_MSGLEN];
    sy_auth_ident_t ident;
} gate_job_t;

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

sy_str_t sy_gate_presented_key(const sy_http_req_t *req)
{
    sy_str_t h = sy_http_req_header(req, "authorization");
    if (h.ptr && h.len > 7 && strncasecmp(h.ptr, "Bearer ", 7) == 0) {
        sy_str_t k = sy_str(h.ptr + 7, h.len - 7);
        while (k.len && k.ptr[0] == ' ')
            k = sy_str(k.ptr + 1, k.len - 1);
        return k;
    }
    h = sy_http_req_header(req, "x-api-key");
    return h.ptr ? h : SY_STR_NULL;
}

static void refuse(sy_http_req_t *req, sy_format_t ingress, const char *why)
{
    sy_relay_send_error(req, ingress, SY_ERR_UNAUTHORIZED, NULL, why);
}

static void on_release(sy_http_req_t *req)
{
    sy_auth_ident_release(req->ident);
    req->ident = NULL;
}

/* Checks ident (a cache reference, consumed) in time and continues or refuses. */
static void admit(sy_http_req_t *req, sy_worker_t *w, sy_format_t ingress,
                  const sy_auth_ident_t *ident, sy_gate_next_cb next)
{
    const char *why = sy_auth_ident_refusal(ident, wall_us());
    if (why) {
        sy_auth_ident_release(ident);
        return refuse(req, ingress, why);
    }
    req->ident = ident;
    req->on_release = on_release;
    sy_gate_span_close(req);
    next(req, w);
}

static void on_work(uv_work_t *wk)
{
    gate_job_t *j = wk->data;
    j->err =
        sy_auth_load_key(j->w->auth, j->hash_hex, wall_us(), &j->ident, j->msg, sizeof(j->msg));
}

static void on_client_abort(sy_http_req_t *req, void *ctx)
{
    (void)req;
    gate_job_t *j = ctx;
    j->req = NULL;
    uv_cancel((uv_req_t *)&j->work);
}

static void on_after_work(uv_work_t *wk, int status)
{
    gate_job_t *j = wk->data;
    sy_http_req_t *req = j->req;
    const sy_auth_ident_t *ref = NULL;
    if (!status && (j->err == SY_OK || j->err == SY_ERR_NOT_FOUND))
        ref = sy_auth_cache_put(j->w->auth, j->tag, j->hash, j->err ? NULL : &j->ident,
                                sy_clock_mono_us(), j->gen);
    else /* the entry (if any) stays as it was; a later stale hit asks again */
        sy_auth_cache_refresh_failed(j->w->auth, j->tag);
    if (req) {
        req->on_abort = NULL;
        req->hook_ctx = NULL;
        if (status)
            sy_relay_send_error(req, j->ingress, SY_ERR_INTERNAL, NULL, "the lookup was cancelled");
        else if (j->err == SY_ERR_NOT_FOUND)
            refuse(req, j->ingress, "Incorrect API key provided.");
        else if (j->err)
            sy_relay_send_error(req, j->ingress, SY_ERR_STORE, NULL,
                                "the key store is unavailable; try again");
        else {
            admit(req, j->w, j->ingress, ref, j->next);
            ref = NULL;
        }
    }
    sy_auth_ident_release(ref);
    free(j);
}

/* Queues the store lookup of the key with this tag and SHA-256 on the thread pool. req: the
 * request waiting for it (a miss), or NULL for a background reload (a stale hit). NULL when it
 * could not be queued (a reload's entry is then marked for another try). */
static gate_job_t *lookup(sy_worker_t *w, sy_http_req_t *req, sy_format_t ingress,
                          sy_gate_next_cb next, const uint8_t tag[SY_AUTH_TAG_LEN],
                          const uint8_t hash[32])
{
    gate_job_t *j = sy_xcalloc(1, sizeof(*j));
    memcpy(j->tag, tag, SY_AUTH_TAG_LEN);
    j->req = req;
    j->w = w;
    j->ingress = ingress;
    j->next = next;
    memcpy(j->hash, hash, 32);
    j->gen = sy_auth_cache_gen(w->auth);
    sodium_bin2hex(j->hash_hex, sizeof(j->hash_hex), hash, 32);
    j->work.data = j;
    if (uv_queue_work(&w->loop, &j->work, on_work, on_after_work)) {
        free(j);
        if (!req) sy_auth_cache_refresh_failed(w->auth, tag);
        return NULL;
    }
    return j;
}

void sy_gate_v1(sy_http_req_t *req, sy_worker_t *w, sy_format_t ingress, sy_gate_next_cb next)
{
    if (!w->auth) return next(req, w);
    uint64_t now_ns = sy_clock_mono_ns();
    sy_gate_span_open(req, now_ns);
    const sy_auth_ident_t *gen = NULL; /* the server's own chat generation (api/chatgen.h) */
    if (sy_chatgen_internal_ident(req, &gen)) {
        if (!gen) return refuse(req, ingress, "Incorrect API key provided.");
        return admit(req, w, ingress, gen, next);
    }
    sy_str_t key = sy_gate_presented_key(req);
    if (!key.ptr || key.len == 0)
        return refuse(req, ingress,
                      "You didn't provide an API key. Send it as 'Authorization: Bearer sy-…' "
                      "or in an 'x-api-key' header.");
    /* the well-formedness check waits for a miss: a cached key was checked before it was
     * cached, and a malformed one cannot share its tag (see auth.h) */
    if (key.len > SY_AUTH_PRESENTED_MAX) return refuse(req, ingress, "Incorrect API key provided.");
    uint8_t tag[SY_AUTH_TAG_LEN];
    sy_auth_key_tag(w->auth, key.ptr, key.len, tag);
    const sy_auth_ident_t *ident = NULL;
    uint8_t hash[32];
    int hit = sy_auth_cache_get(w->auth, tag, now_ns / 1000u, &ident, hash);
    if (hit == 2) { /* served from the cache while one reload runs in the background */
        lookup(w, NULL, ingress, next, tag, hash);
        return admit(req, w, ingress, ident, next);
    }
    if (hit == 1) return admit(req, w, ingress, ident, next);
    if (hit == 0 || !sy_auth_key_well_formed(key))
        return refuse(req, ingress, "Incorrect API key provided.");
    sy_auth_hash_raw(key.ptr, key.len, hash);
    gate_job_t *j = lookup(w, req, ingress, next, tag, hash);
    if (!j) return sy_relay_send_error(req, ingress, SY_ERR_INTERNAL, NULL, "the lookup failed");
    req->on_abort = on_client_abort;
    req->hook_ctx = j;
}
