/* See admission.h (DESIGN there). */
#include "api/admission.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/gate.h"
#include "api/messages_fmt.h"
#include "api/relay.h"
#include "core/alloc.h"
#include "core/log.h"
#include "logpipe/enrich.h"
#include "policy/auth.h"
#include "worker.h"

typedef struct inbox {
    uv_mutex_t mu;
    sy_admission_req_t *head; /* settled tickets for this worker's Redis limiter */
    bool open;
    void (*wake)(void *);
    void *wake_ctx;
    sy_limits_t *redis; /* loop thread only */
} inbox_t;

struct sy_admission {
    const sy_config_t *cfg;
    sy_limits_t *local; /* backend local; NULL with redis */
    int n_workers;
    inbox_t *inbox;
    atomic_uint_fast64_t admitted, denied[4], fail_open, fail_closed;
    /* the finish counters of Redis limiters already freed (sy_admission_worker_close) */
    atomic_uint_fast64_t finish_failed, finish_lost;
};

struct sy_admission_req {
    sy_admission_t *a;
    sy_limits_t *l;
    int worker;
    sy_limits_resv_t *resv;
    /* while a Redis admit is in flight */
    sy_http_req_t *req; /* NULL once the client went away */
    struct sy_worker *w;
    sy_format_t ingress;
    sy_route_t *route;
    int64_t est;
    sy_limit_t lim[SY_LIMITS_MAX_PER_REQUEST];
    size_t n;
    /* the scopes built per request: key, user, team each | model, and the model */
    char scope[4][SY_LIMITS_SCOPE_MAX + 1];
    size_t n_scopes;
    sy_limits_result_t res;
    /* settled by the writer thread (Redis: queued for the loop) */
    int64_t tokens, cost;
    sy_admission_req_t *next;
};

sy_admission_t *sy_admission_new(const sy_config_t *cfg, int n_workers)
{
    if (!cfg->rl.any) return NULL;
    sy_admission_t *a = sy_xcalloc(1, sizeof(*a));
    a->cfg = cfg;
    a->n_workers = n_workers;
    a->inbox = sy_xcalloc((size_t)n_workers, sizeof(*a->inbox));
    for (int i = 0; i < n_workers; i++)
        uv_mutex_init(&a->inbox[i].mu);
    if (!cfg->rl.redis) a->local = sy_limits_local_new(NULL);
    return a;
}

void sy_admission_free(sy_admission_t *a)
{
    if (!a) return;
    for (int i = 0; i < a->n_workers; i++)
        uv_mutex_destroy(&a->inbox[i].mu);
    free(a->inbox);
    if (a->local) sy_limits_free(a->local);
    free(a);
}

void sy_admission_stats(sy_admission_t *a, sy_admission_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->admitted = atomic_load_explicit(&a->admitted, memory_order_relaxed);
    for (int i = 0; i < 4; i++)
        out->denied[i] = atomic_load_explicit(&a->denied[i], memory_order_relaxed);
    out->fail_open = atomic_load_explicit(&a->fail_open, memory_order_relaxed);
    out->fail_closed = atomic_load_explicit(&a->fail_closed, memory_order_relaxed);
    out->local = a->local != NULL;
    if (a->local) out->local_entries = sy_limits_local_entries(a->local);
    out->finish_failed = atomic_load_explicit(&a->finish_failed, memory_order_relaxed);
    out->finish_lost = atomic_load_explicit(&a->finish_lost, memory_order_relaxed);
    for (int i = 0; i < a->n_workers; i++) { /* the mutex keeps a worker's limiter alive */
        inbox_t *ib = &a->inbox[i];
        uv_mutex_lock(&ib->mu);
        if (ib->redis) {
            sy_limits_stats_t st;
            sy_limits_get_stats(ib->redis, &st);
            out->finish_failed += st.finish_failed;
            out->finish_lost += st.finish_lost;
        }
        uv_mutex_unlock(&ib->mu);
    }
}

/* ---- per worker ---- */

void sy_admission_worker_init(sy_admission_t *a, int idx, uv_loop_t *loop, void (*wake)(void *),
                              void *ctx)
{
    inbox_t *ib = &a->inbox[idx];
    if (a->cfg->rl.redis) {
        const sy_ratelimit_conf_t *rl = &a->cfg->rl;
        sy_limits_redis_config_t rc = {.host = rl->redis_host,
                                       .port = rl->redis_port,
                                       .password = rl->redis_password,
                                       .fail_open = rl->fail_open,
                                       .timeout_ms = rl->redis_timeout_ms};
        ib->redis = sy_limits_redis_new(loop, &rc, NULL);
    }
    uv_mutex_lock(&ib->mu);
    ib->wake = wake;
    ib->wake_ctx = ctx;
    ib->open = true;
    uv_mutex_unlock(&ib->mu);
}

static sy_admission_req_t *inbox_take(inbox_t *ib)
{
    uv_mutex_lock(&ib->mu);
    sy_admission_req_t *t = ib->head;
    ib->head = NULL;
    uv_mutex_unlock(&ib->mu);
    return t;
}

void sy_admission_worker_poll(sy_admission_t *a, int idx)
{
    inbox_t *ib = &a->inbox[idx];
    for (sy_admission_req_t *t = inbox_take(ib), *next; t; t = next) {
        next = t->next;
        sy_limits_finish(t->l, t->resv, t->tokens, t->cost, NULL, NULL);
        free(t);
    }
}

void sy_admission_worker_close(sy_admission_t *a, int idx)
{
    inbox_t *ib = &a->inbox[idx];
    uv_mutex_lock(&ib->mu);
    ib->open = false;
    uv_mutex_unlock(&ib->mu);
    sy_admission_worker_poll(a, idx); /* applied as far as the backend still can */
    uv_mutex_lock(&ib->mu);
    sy_limits_t *l = ib->redis;
    ib->redis = NULL;
    uv_mutex_unlock(&ib->mu);
    if (!l) return;
    sy_limits_free(l); /* gives up queued finishes (counted); the memory goes with the loop */
    sy_limits_stats_t st;
    sy_limits_get_stats(l, &st); /* still allocated until its handles' close callbacks run */
    atomic_fetch_add_explicit(&a->finish_failed, st.finish_failed, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->finish_lost, st.finish_lost, memory_order_relaxed);
}

/* ---- settling ---- */

/* Writer thread (or any thread, for a dropped row): the row's usage and cost. */
static void on_settle(void *arg, int64_t tokens, int64_t cost)
{
    sy_admission_req_t *t = arg;
    sy_admission_t *a = t->a;
    if (t->l == a->local) { /* in-process: thread-safe, applied here */
        sy_limits_finish(t->l, t->resv, tokens, cost, NULL, NULL);
        free(t);
        return;
    }
    t->tokens = tokens;
    t->cost = cost;
    inbox_t *ib = &a->inbox[t->worker];
    uv_mutex_lock(&ib->mu);
    bool open = ib->open;
    if (open) {
        t->next = ib->head;
        ib->head = t;
        ib->wake(ib->wake_ctx);
    }
    uv_mutex_unlock(&ib->mu);
    if (!open) { /* the worker and its limiter are gone */
        sy_limits_discard(t->resv);
        free(t);
    }
}

void sy_admission_end(sy_admission_req_t *t)
{
    sy_limits_release(t->l, t->resv, NULL, NULL);
}

void sy_admission_attach(sy_admission_req_t *t, sy_log_aux_t *aux)
{
    aux->settle = on_settle;
    aux->settle_arg = t;
}

void sy_admission_finish_unknown(sy_admission_req_t *t)
{
    sy_limits_finish(t->l, t->resv, -1, -1, NULL, NULL);
    free(t);
}

const sy_limits_result_t *sy_admission_result(const sy_admission_req_t *t)
{
    return &t->res;
}

/* ---- headers ---- */

size_t sy_admission_headers(const sy_limits_result_t *res, sy_http_header_t *h,
                            char buf[SY_ADMISSION_HDR_BUF])
{
    static const sy_str_t names[2][3] = {
        {SY_STR_LIT("x-ratelimit-limit-requests"), SY_STR_LIT("x-ratelimit-remaining-requests"),
         SY_STR_LIT("x-ratelimit-reset-requests")},
        {SY_STR_LIT("x-ratelimit-limit-tokens"), SY_STR_LIT("x-ratelimit-remaining-tokens"),
         SY_STR_LIT("x-ratelimit-reset-tokens")}};
    size_t n = 0;
    char *p = buf;
    for (int k = 0; k < 2; k++) {
        const sy_limits_header_t *x = k ? &res->tokens : &res->requests;
        if (!x->present) continue;
        size_t len = sy_u64_dec(p, (uint64_t)(x->limit > 0 ? x->limit : 0));
        h[n++] = (sy_http_header_t){names[k][0], sy_str(p, len)};
        p += 32;
        len = sy_u64_dec(p, (uint64_t)(x->remaining > 0 ? x->remaining : 0));
        h[n++] = (sy_http_header_t){names[k][1], sy_str(p, len)};
        p += 32;
        len = (size_t)sy_limits_format_reset(p, x->reset_ms);
        h[n++] = (sy_http_header_t){names[k][2], sy_str(p, len)};
        p += 32;
    }
    return n;
}

/* ---- the limit list ---- */

/* A new scope "<a><sep><b>" (cut at SY_LIMITS_SCOPE_MAX); returns it. By hand, not snprintf:
 * this runs for every request with per-model limits. */
static const char *new_scope(sy_admission_req_t *t, const char *a, const char *sep, const char *b)
{
    char *d = t->scope[t->n_scopes++];
    size_t n = 0;
    for (const char *part[3] = {a, sep, b}, **p = part; p < part + 3; p++) {
        size_t l = strlen(*p);
        if (l > SY_LIMITS_SCOPE_MAX - n) l = SY_LIMITS_SCOPE_MAX - n;
        memcpy(d + n, *p, l);
        n += l;
    }
    d[n] = '\0';
    return d;
}

/* Appends l[0..n) with this scope (scope_hash 0: the admit computes it). False when the list
 * would go over SY_LIMITS_MAX_PER_REQUEST (nothing is cut silently: the caller refuses). */
static bool add(sy_admission_req_t *t, const sy_limit_t *l, size_t n, const char *scope,
                uint64_t scope_hash)
{
    if (n > SY_LIMITS_MAX_PER_REQUEST - t->n) return false;
    for (size_t i = 0; i < n; i++) {
        sy_limit_t *d = &t->lim[t->n++];
        *d = l[i];
        d->scope = scope;
        d->scope_hash = scope_hash;
    }
    return true;
}

/* Precedence (docs/internals/LIMITS.md): an entity's own list replaces the default for that
 * entity; model limits and per-(entity, model) defaults always add. The entity scopes come
 * ready from the key cache (sy_auth_ident_t.scope). False when the merged list is longer than
 * SY_LIMITS_MAX_PER_REQUEST. */
static bool build(sy_admission_req_t *t, const sy_config_t *cfg, const sy_auth_ident_t *id,
                  const sy_model_conf_t *m)
{
    for (int e = 0; e < SY_LIMITS_ENT__COUNT; e++) {
        const char *scope = !id ? (e == SY_LIMITS_ENT_KEY ? "key:local" : "") : id->scope[e];
        if (!scope[0]) continue;
        const sy_conf_limits_t *d = &cfg->rl.defaults[e];
        bool own = id && id->limits[e].n >= 0;
        size_t n = own ? (size_t)id->limits[e].n : d->n;
        size_t pm = m->per_entity[e].n;
        if (!n && !pm) continue;
        if (!add(t, own ? id->limits[e].v : d->v, n, scope, id ? id->scope_hash[e] : 0))
            return false;
        if (pm && !add(t, m->per_entity[e].v, pm, new_scope(t, scope, "|model:", m->name), 0))
            return false;
    }
    if (m->limits.n && !add(t, m->limits.v, m->limits.n, new_scope(t, "model:", "", m->name), 0))
        return false;
    return true;
}

/* ---- refusal ---- */

static const char *const kind_unit[] = {"requests", "tokens", "concurrent requests", "USD"};
static const char *const window_name[] = {"", "minute", "hour", "day", "month"};

static void refuse(sy_admission_req_t *t)
{
    sy_http_req_t *req = t->req;
    const sy_limits_result_t *res = &t->res;
    const sy_limit_t *l = res->denied >= 0 ? &t->lim[res->denied] : NULL;
    char msg[512], what[300] = "";
    if (l && l->kind == SY_LIMIT_BUDGET)
        snprintf(what, sizeof what, "$%lld.%09lld per %s for %s",
                 (long long)(l->amount / 1000000000), (long long)(l->amount % 1000000000),
                 window_name[l->window], l->scope);
    else if (l && l->kind == SY_LIMIT_CONCURRENT)
        snprintf(what, sizeof what, "%lld concurrent requests for %s", (long long)l->amount,
                 l->scope);
    else if (l)
        snprintf(what, sizeof what, "%lld %s per %s for %s", (long long)l->amount,
                 kind_unit[l->kind], window_name[l->window], l->scope);
    int status = 429;
    const char *type = "rate_limit_exceeded", *code = "rate_limit_exceeded";
    int64_t ra = sy_limits_retry_after_s(res->retry_after_ms);
    switch (res->reason) {
    case SY_LIMITS_QUOTA:
        type = code = "insufficient_quota";
        snprintf(msg, sizeof msg,
                 "You exceeded your current quota: the budget of %s is spent. It resets in %llds.",
                 what, (long long)ra);
        break;
    case SY_LIMITS_TOO_LARGE:
        code = "request_too_large";
        if (l && l->kind == SY_LIMIT_REQUESTS) { /* "0/minute": a key switched off */
            snprintf(msg, sizeof msg, "The limit of %s admits no request.", what);
            break;
        }
        snprintf(msg, sizeof msg,
                 "This request alone (an estimated %lld tokens: max_tokens plus the prompt) "
                 "exceeds the token limit of %s; lower max_tokens or the prompt.",
                 (long long)t->est, what);
        break;
    case SY_LIMITS_UNAVAILABLE:
        status = 503;
        type = "server_error";
        code = "rate_limiter_unavailable";
        snprintf(msg, sizeof msg,
                 "The rate limiter's store is unreachable and limits.redis.fail_open is false; "
                 "try again shortly.");
        break;
    default:
        snprintf(msg, sizeof msg, "Rate limit reached: %s. Please try again in %llds.", what,
                 (long long)ra);
        break;
    }
    sy_http_header_t h[SY_ADMISSION_HDR_MAX + 1];
    char hb[SY_ADMISSION_HDR_BUF], rab[24];
    size_t nh = sy_admission_headers(res, h, hb);
    if (ra > 0) {
        int k = snprintf(rab, sizeof rab, "%lld", (long long)ra);
        h[nh++] = (sy_http_header_t){SY_STR_LIT("retry-after"), sy_str(rab, (size_t)k)};
    }
    if (t->ingress == SY_FORMAT_ANTHROPIC) {
        sy_buf_t b;
        sy_buf_init(&b, 4096);
        sy_messages_fmt_error_make(sy_messages_fmt_error_type(status), msg, &b);
        sy_api_send_json(req, status, b.base, b.len, h, nh);
        sy_buf_dispose(&b);
    } else {
        sy_api_send_error_hdrs(req, status, type, code, NULL, msg, h, nh);
    }
    sy_relay_log_rejected(req, t->w, status, type, msg, sy_str_c(t->route->model->name));
}

/* ---- admission ---- */

static void on_admit_abort(sy_http_req_t *req, void *ctx)
{
    (void)req;
    sy_admission_req_t *t = ctx;
    t->req = NULL; /* the answer cancels what it reserved */
}

static void on_admit(void *arg, const sy_limits_result_t *res, sy_limits_resv_t *resv)
{
    sy_admission_req_t *t = arg;
    sy_admission_t *a = t->a;
    t->res = *res;
    t->resv = resv;
    if (res->allowed) {
        atomic_fetch_add_explicit(&a->admitted, 1, memory_order_relaxed);
        if (res->unbacked) atomic_fetch_add_explicit(&a->fail_open, 1, memory_order_relaxed);
    } else {
        int k = res->reason == SY_LIMITS_QUOTA         ? 1
                : res->reason == SY_LIMITS_TOO_LARGE   ? 2
                : res->reason == SY_LIMITS_UNAVAILABLE ? 3
                                                       : 0;
        atomic_fetch_add_explicit(&a->denied[k], 1, memory_order_relaxed);
        if (k == 3) atomic_fetch_add_explicit(&a->fail_closed, 1, memory_order_relaxed);
    }
    sy_http_req_t *req = t->req;
    if (req && req->on_abort == on_admit_abort) {
        req->on_abort = NULL;
        req->hook_ctx = NULL;
    }
    if (!req) { /* the client left while Redis answered */
        if (resv) sy_limits_cancel(t->l, resv, NULL, NULL);
        free(t);
        return;
    }
    if (!res->allowed) {
        refuse(t);
        free(t);
        return;
    }
    t->req = NULL;
    sy_relay_start(req, t->w, t->ingress, t->route, t);
}

void sy_admission_run(sy_http_req_t *req, sy_worker_t *w, sy_format_t ingress, sy_route_t *r,
                      const sy_jsonv_chat_t *v)
{
    sy_admission_t *a = w->admission;
    if (!a) return sy_relay_start(req, w, ingress, r, NULL);
    sy_gate_span_open(req, sy_clock_mono_ns()); /* closed by the relay start */
    /* not calloc: the scope buffers are written before they are read */
    sy_admission_req_t *t = sy_xmalloc(sizeof(*t));
    t->a = a;
    t->worker = w->index;
    t->l = a->local ? a->local : a->inbox[w->index].redis;
    t->resv = NULL;
    t->req = req;
    t->w = w;
    t->ingress = ingress;
    t->route = r;
    t->n = t->n_scopes = 0;
    t->next = NULL;
    if (!build(t, w->cfg, req->ident, r->model)) {
        /* the admin API and the config loader refuse lists that could get here; what remains
         * (a key, its user and its team each with a long list of its own) is refused rather
         * than admitted with some limits silently left out */
        _Static_assert(SY_LIMITS_MAX_PER_REQUEST == 16, "the message below says 16");
        sy_log_at(SY_LOG_ERROR, __FILE__, req->request_id,
                  "key %s: more than %d limits apply (key, user, team and model lists "
                  "together); the request is refused",
                  req->ident ? req->ident->key_id : "local", SY_LIMITS_MAX_PER_REQUEST);
        free(t);
        return sy_relay_reject(req, w, ingress, SY_ERR_INTERNAL, NULL, NULL,
                               "more than 16 rate limits apply to this request (the key's, its "
                               "user's, its team's and the model's together); an administrator "
                               "must shorten one of those lists",
                               NULL);
    }
    if (t->n == 0) {
        free(t);
        return sy_relay_start(req, w, ingress, r, NULL);
    }
    /* the estimate: the completion cap the client set (or the config's default) plus the
     * prompt at ~4 bytes per token of the request body */
    int64_t mt = v->max_completion_tokens >= 0 ? v->max_completion_tokens
                 : v->max_tokens >= 0          ? v->max_tokens
                                               : w->cfg->rl.default_max_tokens;
    t->est = mt + (int64_t)(req->body.len / 4);
    req->on_abort = on_admit_abort;
    req->hook_ctx = t;
    sy_err_t e = sy_limits_admit(t->l, t->lim, t->n, t->est, on_admit, t);
    if (e) { /* a list the engine refuses: a config bug, never the client's */
        req->on_abort = NULL;
        req->hook_ctx = NULL;
        free(t);
        sy_relay_reject(req, w, ingress, SY_ERR_INTERNAL, NULL, NULL,
                        "the configured limits for this request are invalid", NULL);
    }
}
