/* Routing decisions and the per-request attempt runner (see route.h for the DESIGN). */

#include "routing/route.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"

/* ---- shared deployment state ---- */

void sy_route_init(sy_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_models; i++)
        for (size_t j = 0; j < cfg->models[i].n_deployments; j++)
            cfg->models[i].deployments[j].state = sy_xcalloc(1, sizeof(sy_deploy_state_t));
}

#define HEALTH_CLASSES                                                                             \
    (SY_ERRCLASS_RATE_LIMIT | SY_ERRCLASS_SERVER | SY_ERRCLASS_TIMEOUT | SY_ERRCLASS_UNREACHABLE)

/* A latency estimate older than this is forgotten (counts as 0: the deployment is tried
 * again), so one bad moment does not exclude a deployment for good. */
#define LATENCY_TTL_MS 10000

/* Chooses among the candidate indexes by the model's strategy. */
static int choose(const sy_model_conf_t *m, const int *cand, size_t n, uint32_t rnd,
                  uint64_t now_ms)
{
    if (n == 1) return cand[0];
    int best[32];
    size_t nb = 0;
    if (m->strategy == SY_ROUTE_WEIGHTED) {
        memcpy(best, cand, n * sizeof *cand);
        nb = n;
    } else {
        unsigned long long best_v = ~0ull;
        for (size_t k = 0; k < n; k++) {
            sy_deploy_state_t *st = m->deployments[cand[k]].state;
            unsigned long long v;
            if (m->strategy == SY_ROUTE_LEAST_INFLIGHT)
                v = atomic_load(&st->inflight);
            else {
                uint64_t at = atomic_load(&st->sample_ms);
                v = now_ms > at && now_ms - at > LATENCY_TTL_MS ? 0 : atomic_load(&st->ewma_us);
            }
            if (v < best_v) {
                best_v = v;
                nb = 0;
            }
            if (v == best_v) best[nb++] = cand[k];
        }
    }
    /* weighted random among the best */
    uint64_t total = 0;
    for (size_t k = 0; k < nb; k++)
        total += m->deployments[best[k]].weight;
    uint64_t x = total ? rnd % total : 0;
    for (size_t k = 0; k < nb; k++) {
        uint32_t w = m->deployments[best[k]].weight;
        if (x < w) return best[k];
        x -= w;
    }
    return best[nb - 1];
}

static bool take_probe(sy_deploy_state_t *st)
{
    unsigned expected = 0;
    return atomic_compare_exchange_strong(&st->probing, &expected, 1);
}

int sy_route_pick(const sy_model_conf_t *m, uint64_t now_ms, uint32_t tried, uint32_t rnd,
                  bool *probe, uint64_t *retry_in_ms)
{
    size_t n = m->n_deployments < 32 ? m->n_deployments : 32;
    int fresh[32], used[32];
    size_t nf = 0, nu = 0;
    uint64_t soonest = UINT64_MAX;
    *probe = false;
    /* a deployment whose cooldown ended gets the next request as its probe */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            sy_deploy_state_t *st = m->deployments[i].state;
            uint64_t ou = atomic_load(&st->open_until);
            bool was_tried = (tried >> i) & 1u;
            if (!ou) {
                if (pass == 0) {
                    if (was_tried)
                        used[nu++] = (int)i;
                    else
                        fresh[nf++] = (int)i;
                }
                continue;
            }
            if (now_ms < ou) {
                if (pass == 0 && ou - now_ms < soonest) soonest = ou - now_ms;
                continue;
            }
            if ((pass == 0) == was_tried) continue; /* untried ones first */
            if (take_probe(st)) {
                *probe = true;
                return (int)i;
            }
            if (pass == 0 && soonest > 1000) soonest = 1000; /* a probe is running */
        }
    if (nf) return choose(m, fresh, nf, rnd, now_ms);
    if (nu) return choose(m, used, nu, rnd, now_ms);
    *retry_in_ms = soonest == UINT64_MAX ? 1000 : soonest;
    return SY_ROUTE_NONE;
}

void sy_route_record(const sy_deploy_conf_t *d, uint64_t now_ms, bool ok, uint32_t cls, bool probe,
                     uint64_t us)
{
    sy_deploy_state_t *st = d->state;
    const sy_model_conf_t *m = d->model;
    bool healthy = ok || !(cls & HEALTH_CLASSES); /* a 400 is the request's fault */
    unsigned long long old = atomic_load(&st->ewma_us);
    if (ok && us) {
        atomic_store(&st->ewma_us, old ? (old * 4 + us) / 5 : us);
        atomic_store(&st->sample_ms, now_ms);
    } else if (!healthy) {
        /* a failure is a slow answer: never let a failing deployment look fast (an instant
         * 500, or a timeout that leaves no sample at all) */
        unsigned long long pen = old * 2;
        if (pen < us) pen = us;
        if (pen < 1000000) pen = 1000000; /* at least 1 s */
        if (pen > 600000000ull) pen = 600000000ull;
        atomic_store(&st->ewma_us, pen);
        atomic_store(&st->sample_ms, now_ms);
    }
    if (healthy) {
        atomic_fetch_add(&st->n_ok, 1);
        atomic_store(&st->fails, 0);
        if (probe || atomic_load(&st->open_until)) {
            atomic_store(&st->open_until, 0);
            if (probe) sy_log_info("deployment %s: probe succeeded, back in rotation", d->id);
        }
        if (probe) atomic_store(&st->probing, 0);
        return;
    }
    atomic_fetch_add(&st->n_fail, 1);
    unsigned fails = atomic_fetch_add(&st->fails, 1) + 1;
    if (probe) {
        atomic_store(&st->open_until, now_ms + (m->cooldown_ms ? m->cooldown_ms : 1));
        atomic_store(&st->probing, 0);
        sy_log_warn("deployment %s: probe failed, cooling down for %u ms", d->id, m->cooldown_ms);
    } else if (m->cooldown_failures && fails >= m->cooldown_failures &&
               !atomic_load(&st->open_until)) {
        atomic_store(&st->open_until, now_ms + (m->cooldown_ms ? m->cooldown_ms : 1));
        sy_log_warn("deployment %s: %u consecutive failures, cooling down for %u ms", d->id, fails,
                    m->cooldown_ms);
    }
}

uint32_t sy_route_classify(int status, sy_err_t err, const char *body, size_t len)
{
    if (!status) {
        if (err == SY_ERR_UPSTREAM_TIMEOUT) return SY_ERRCLASS_TIMEOUT;
        if (err == SY_ERR_INTERNAL) return SY_ERRCLASS_SERVER;
        return SY_ERRCLASS_UNREACHABLE;
    }
    if (status == 400 || status == 413 || status == 422) {
        static const char *const pats[] = {
            "context_length_exceeded",
            "context length",
            "context window",
            "prompt is too long",
            "maximum context",
            "too many tokens",
            "exceeds the maximum number of tokens",
        };
        char tmp[4096];
        size_t n = len < sizeof tmp - 1 ? len : sizeof tmp - 1;
        if (body && n) {
            memcpy(tmp, body, n);
            tmp[n] = '\0';
            for (size_t i = 0; i < n; i++)
                if (!tmp[i]) tmp[i] = ' ';
            for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++)
                if (strcasestr(tmp, pats[i])) return SY_ERRCLASS_CONTEXT_LENGTH;
        }
    }
    if (status == 429) return SY_ERRCLASS_RATE_LIMIT;
    if (status == 408) return SY_ERRCLASS_TIMEOUT;
    if (status >= 500) return SY_ERRCLASS_SERVER;
    if (status == 401 || status == 403) return SY_ERRCLASS_AUTH;
    return SY_ERRCLASS_CLIENT;
}

/* ---- per-request runner ---- */

static _Thread_local uint32_t rng_state;

static uint32_t next_rand(void)
{
    uint32_t x = rng_state;
    if (!x) x = (uint32_t)sy_clock_mono_us() ^ (uint32_t)(uintptr_t)&rng_state ^ 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

static void start_attempt(sy_route_t *r);

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void release(sy_route_t *r)
{
    if (r->timer) {
        uv_close((uv_handle_t *)r->timer, on_timer_closed);
        r->timer = NULL;
    }
    sy_buf_dispose(&r->errbody);
}

static void on_timer(uv_timer_t *t)
{
    start_attempt(t->data);
}

static void schedule(sy_route_t *r, uint64_t delay_ms)
{
    if (!r->timer) {
        r->timer = sy_xmalloc(sizeof *r->timer);
        uv_timer_init(r->loop, r->timer);
        r->timer->data = r;
    }
    uv_timer_start(r->timer, on_timer, delay_ms, 0);
}

static void log_attempt(const sy_route_t *r, const sy_attempt_t *a)
{
    /* a debug line; the inference-log rows are made from r->attempts by api/relay.c */
    sy_log_req_debug(
        r->request_id, "attempt %zu: model=%s deployment=%s status=%d outcome=%d ms=%llu",
        (size_t)(a - r->attempts) + 1, a->model->name, a->deploy ? a->deploy->id : "-", a->status,
        (int)a->outcome, (unsigned long long)((a->t_end_us - a->t_start_us) / 1000));
}

static sy_attempt_outcome_t outcome_of(uint32_t cls)
{
    if (cls & SY_ERRCLASS_TIMEOUT) return SY_ATTEMPT_TIMEOUT;
    if (cls & SY_ERRCLASS_UNREACHABLE) return SY_ATTEMPT_UNREACHABLE;
    return SY_ATTEMPT_ERROR;
}

static void finish_final(sy_route_t *r, sy_err_t err, const char *detail)
{
    const sy_route_sink_t *sink = r->sink;
    if (r->error_body) {
        sink->head(r, r->err_status, sy_str_c(r->err_ctype));
        if (r->errbody.len) sink->data(r, r->errbody.base, r->errbody.len);
        release(r);
        sink->done(r, SY_OK, NULL);
    } else {
        release(r);
        sink->done(r, err ? err : SY_ERR_UPSTREAM_BROKEN, detail);
    }
}

/* Is there a deployment of the current model not tried yet that could take a request now? */
static bool have_untried(const sy_route_t *r, uint64_t now_ms)
{
    for (size_t i = 0; i < r->cur->n_deployments && i < 32; i++) {
        if ((r->tried >> i) & 1u) continue;
        sy_deploy_state_t *st = r->cur->deployments[i].state;
        uint64_t ou = atomic_load(&st->open_until);
        if (!ou || (now_ms >= ou && !atomic_load(&st->probing))) return true;
    }
    return false;
}

/* After a failed attempt (nothing sent to the client yet): retry, fall back, or answer. */
static void decide(sy_route_t *r, uint32_t cls, sy_err_t err, const char *detail)
{
    uint64_t now_ms = sy_clock_mono_us() / 1000;
    if (r->n_attempts < SY_ROUTE_MAX_ATTEMPTS) {
        if ((cls & r->cur->retry_on) && r->retries_left > 0) {
            int64_t ra = r->error_body ? r->call.retry_after_ms : -1;
            if (have_untried(r, now_ms)) { /* another deployment: no reason to wait */
                r->retries_left--;
                schedule(r, 0);
                return;
            }
            /* the upstream's Retry-After when it is not too long, else backoff */
            unsigned k = 0;
            for (size_t i = 0; i < r->n_attempts; i++)
                if (r->attempts[i].model == r->cur) k++;
            uint64_t cap = (uint64_t)r->cur->backoff_ms << (k > 16 ? 16 : (k ? k - 1 : 0));
            if (cap > r->cur->max_backoff_ms) cap = r->cur->max_backoff_ms;
            uint64_t delay = ra >= 0 && ra <= (int64_t)r->cur->max_retry_after_ms
                                 ? (uint64_t)ra
                                 : (cap ? next_rand() % (cap + 1) : 0);
            r->retries_left--;
            schedule(r, delay);
            return;
        }
        if ((cls & r->model->fallback_on) && r->next_fallback < r->model->n_fallbacks) {
            r->retry_after_ms = -1;
            r->cur = r->model->fallback_models[r->next_fallback++];
            r->tried = 0;
            r->retries_left = r->cur->retries;
            schedule(r, 0);
            return;
        }
    }
    if (r->error_body && r->call.retry_after_ms >= 0) r->retry_after_ms = r->call.retry_after_ms;
    finish_final(r, err, detail);
}

static sy_attempt_t *current(sy_route_t *r)
{
    return &r->attempts[r->n_attempts - 1];
}

static void att_head(sy_call_t *call, int status, sy_str_t content_type)
{
    sy_route_t *r = call->sink_ctx;
    sy_attempt_t *a = current(r);
    a->status = status;
    a->t_head_us = sy_clock_mono_us();
    if (status < 400) {
        r->committed = true;
        r->sink->head(r, status, content_type);
        return;
    }
    r->error_body = true;
    r->err_status = status;
    size_t n =
        content_type.len < sizeof r->err_ctype - 1 ? content_type.len : sizeof r->err_ctype - 1;
    memcpy(r->err_ctype, content_type.ptr, n);
    r->err_ctype[n] = '\0';
    sy_buf_reset(&r->errbody);
}

static bool att_data(sy_call_t *call, const char *p, size_t n)
{
    sy_route_t *r = call->sink_ctx;
    if (r->error_body) {
        size_t room = r->errbody.max - r->errbody.len;
        sy_buf_append(&r->errbody, p, n < room ? n : room); /* the rest is cut */
        return true;
    }
    return r->sink->data(r, p, n);
}

static void att_done(sy_call_t *call, sy_err_t err, const char *detail)
{
    sy_route_t *r = call->sink_ctx;
    sy_attempt_t *a = current(r);
    r->active = false;
    a->t_end_us = sy_clock_mono_us();
    a->err = err;
    atomic_fetch_sub(&a->deploy->state->inflight, 1);
    uint64_t head_us = a->t_head_us ? a->t_head_us - a->t_start_us : 0;
    uint64_t now_ms = a->t_end_us / 1000;
    if (r->committed) {
        uint32_t cls = err ? sy_route_classify(0, err, NULL, 0) : 0;
        a->outcome = err ? outcome_of(cls) : SY_ATTEMPT_OK;
        a->errclass = cls;
        sy_route_record(a->deploy, now_ms, !err, cls, a->probe,
                        err ? a->t_end_us - a->t_start_us : head_us);
        log_attempt(r, a);
        release(r);
        r->sink->done(r, err, detail);
        return;
    }
    uint32_t cls;
    if (r->error_body) {
        cls = sy_route_classify(r->err_status, SY_ERR_UPSTREAM_STATUS, r->errbody.base,
                                r->errbody.len);
        err = SY_ERR_UPSTREAM_STATUS;
    } else {
        if (!err) err = SY_ERR_UPSTREAM_BROKEN; /* done without a head */
        cls = sy_route_classify(0, err, NULL, 0);
    }
    a->errclass = cls;
    a->outcome = outcome_of(cls);
    sy_route_record(a->deploy, now_ms, false, cls, a->probe, a->t_end_us - a->t_start_us);
    log_attempt(r, a);
    decide(r, cls, err, detail);
}

static const sy_call_sink_t attempt_sink = {
    .head = att_head,
    .data = att_data,
    .done = att_done,
};

static void start_attempt(sy_route_t *r)
{
    uint64_t now_us = sy_clock_mono_us();
    bool probe = false;
    uint64_t wait_ms = 0;
    int i = sy_route_pick(r->cur, now_us / 1000, r->tried, next_rand(), &probe, &wait_ms);
    sy_attempt_t *a = &r->attempts[r->n_attempts++];
    memset(a, 0, sizeof *a);
    a->model = r->cur;
    a->t_start_us = now_us;
    r->error_body = false;
    if (i == SY_ROUTE_NONE) {
        a->outcome = SY_ATTEMPT_COOLDOWN;
        a->err = SY_ERR_UNAVAILABLE;
        a->errclass = SY_ERRCLASS_UNREACHABLE;
        a->t_end_us = now_us;
        log_attempt(r, a);
        r->retry_after_ms = (int64_t)wait_ms;
        if (r->n_attempts < SY_ROUTE_MAX_ATTEMPTS &&
            (r->model->fallback_on & SY_ERRCLASS_UNREACHABLE) &&
            r->next_fallback < r->model->n_fallbacks) {
            r->retry_after_ms = -1;
            r->cur = r->model->fallback_models[r->next_fallback++];
            r->tried = 0;
            r->retries_left = r->cur->retries;
            schedule(r, 0);
            return;
        }
        char msg[256];
        snprintf(msg, sizeof msg,
                 "every deployment of model '%s' is cooling down after failures; retry in %llu ms",
                 r->cur->name, (unsigned long long)wait_ms);
        finish_final(r, SY_ERR_UNAVAILABLE, msg);
        return;
    }
    const sy_deploy_conf_t *d = &r->cur->deployments[i];
    r->tried |= 1u << (i & 31);
    a->deploy = d;
    a->probe = probe;
    sy_call_t *call = &r->call;
    memset(call, 0, sizeof *call);
    call->loop = r->loop;
    call->upstream = r->upstream;
    call->deploy = d;
    call->request_id = r->request_id;
    call->arena = r->arena;
    call->sink = &attempt_sink;
    call->sink_ctx = r;
    call->stream = r->stream;
    call->include_usage = r->include_usage;
    call->retry_after_ms = -1;
    if (d->provider->formats & (1u << r->format)) {
        call->format = r->format;
        call->body = r->body;
        call->fwd_version = r->fwd_version;
        call->fwd_beta = r->fwd_beta;
    } else {
        if (!r->have_openai_body) {
            sy_err_t e =
                r->to_openai(r, &r->openai_body, call->error_param, sizeof call->error_param,
                             call->error_msg, sizeof call->error_msg);
            if (e) {
                if (probe) atomic_store(&d->state->probing, 0); /* not a verdict on d */
                a->outcome = SY_ATTEMPT_INVALID;
                a->err = e;
                a->t_end_us = sy_clock_mono_us();
                log_attempt(r, a);
                finish_final(r, e, call->error_msg);
                return;
            }
            r->have_openai_body = true;
        }
        call->format = SY_FORMAT_OPENAI;
        call->body = r->openai_body;
        call->include_usage = r->stream; /* the translation asks for usage */
    }
    atomic_fetch_add(&d->state->inflight, 1);
    r->active = true;
    /* a credential not set yet: this deployment cannot be called (another may) */
    sy_err_t err = sy_provider_key_ready(d, call->error_msg, sizeof call->error_msg)
                       ? d->provider->start(call)
                       : SY_ERR_UNAVAILABLE;
    if (err) {
        r->active = false;
        atomic_fetch_sub(&d->state->inflight, 1);
        if (probe) atomic_store(&d->state->probing, 0);
        a->err = err;
        a->t_end_us = sy_clock_mono_us();
        if (err == SY_ERR_INVALID_REQUEST || err == SY_ERR_INVALID_JSON) {
            a->outcome = SY_ATTEMPT_INVALID;
            log_attempt(r, a);
            finish_final(r, err, call->error_msg[0] ? call->error_msg : "invalid request");
            return;
        }
        uint32_t cls = sy_route_classify(0, err, NULL, 0);
        a->errclass = cls;
        a->outcome = outcome_of(cls);
        log_attempt(r, a);
        decide(r, cls, err,
               call->error_msg[0] ? call->error_msg : "could not start the upstream call");
    }
}

void sy_route_start(sy_route_t *r)
{
    r->cur = r->model;
    r->tried = 0;
    r->retries_left = r->model->retries;
    r->next_fallback = 0;
    r->n_attempts = 0;
    r->retry_after_ms = -1;
    sy_buf_init(&r->errbody, r->max_error_bytes ? r->max_error_bytes : 65536);
    start_attempt(r);
}

void sy_route_proceed(sy_route_t *r)
{
    if (r->active) r->call.deploy->provider->proceed(&r->call);
}

void sy_route_stop(sy_route_t *r)
{
    if (r->active) {
        r->active = false;
        r->call.deploy->provider->stop(&r->call);
        sy_attempt_t *a = current(r);
        atomic_fetch_sub(&a->deploy->state->inflight, 1);
        if (a->probe) atomic_store(&a->deploy->state->probing, 0);
        a->outcome = SY_ATTEMPT_CANCELLED;
        a->t_end_us = sy_clock_mono_us();
        log_attempt(r, a);
    }
    release(r);
}

size_t sy_route_attempts_header(const sy_route_t *r, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_attempts; i++) {
        const sy_attempt_t *a = &r->attempts[i];
        const char *what = NULL;
        switch (a->outcome) {
        case SY_ATTEMPT_TIMEOUT:
            what = "timeout";
            break;
        case SY_ATTEMPT_UNREACHABLE:
            what = a->status ? NULL : "unreachable";
            break;
        case SY_ATTEMPT_COOLDOWN:
            what = "cooldown";
            break;
        case SY_ATTEMPT_CANCELLED:
            what = "cancelled";
            break;
        case SY_ATTEMPT_INVALID:
            what = "invalid";
            break;
        default:
            break;
        }
        const char *id = a->deploy ? a->deploy->id : a->model->name;
        size_t idlen = strlen(id), wlen = what ? strlen(what) : 0;
        uint64_t end = a->t_end_us ? a->t_end_us : (a->t_head_us ? a->t_head_us : a->t_start_us);
        /* ", " id " " what " " ms "ms": at most 2 + idlen + 1 + 20 + 1 + 20 + 2 */
        if (o + idlen + wlen + 64 >= size) {
            /* no room for this entry: say how many are left out, never cut one */
            if (o + 32 < size) {
                if (i) buf[o++] = ',', buf[o++] = ' ';
                buf[o++] = '+';
                o += sy_u64_dec(buf + o, r->n_attempts - i);
                memcpy(buf + o, " more", 5);
                o += 5;
            }
            break;
        }
        if (i) buf[o++] = ',', buf[o++] = ' ';
        memcpy(buf + o, id, idlen);
        o += idlen;
        buf[o++] = ' ';
        if (what) {
            memcpy(buf + o, what, wlen);
            o += wlen;
        } else {
            o += sy_u64_dec(buf + o, (uint64_t)(a->status > 0 ? a->status : 0));
        }
        buf[o++] = ' ';
        o += sy_u64_dec(buf + o, (end - a->t_start_us) / 1000);
        buf[o++] = 'm';
        buf[o++] = 's';
    }
    buf[o] = '\0';
    return o;
}
