#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "api/admission.h"
#include "api/api.h"
#include "api/chatgen.h"
#include "api/relay.h"
#include "core/log.h"
#include "logpipe/pipeline.h"

#define LOGPOLL_MS 100

static void on_http_closed(sy_http_server_t *s)
{
    (void)s;
}

static void stop_now(sy_worker_t *w)
{
    if (w->stopping) return;
    w->stopping = true;
    if (w->logpipe) sy_logpipe_set_notify(w->logpipe, (size_t)w->index, NULL, NULL);
    uv_timer_stop(&w->drain_timer);
    /* chat generations still running are stored as interrupted (the pool job runs while the
     * loop closes its handles) */
    sy_chatgen_worker_stop(w);
    /* aborts what is left: handlers cancel their upstream calls in on_abort */
    sy_http_server_close(&w->http, on_http_closed);
    sy_upstream_free(w->upstream);
    w->upstream = NULL;
    if (w->admission) sy_admission_worker_close(w->admission, w->index);
    uv_close((uv_handle_t *)&w->drain_timer, NULL);
    if (w->logpipe) uv_close((uv_handle_t *)&w->logpoll_timer, NULL);
    uv_mutex_lock(&w->wakeup_lock);
    w->wakeup_open = false;
    uv_close((uv_handle_t *)&w->wakeup, NULL);
    uv_mutex_unlock(&w->wakeup_lock);
}

static void on_drain_tick(uv_timer_t *t)
{
    sy_worker_t *w = t->data;
    size_t gens = sy_chatgen_worker_busy(w);
    if ((w->http.n_active == 0 && gens == 0) || uv_now(&w->loop) >= w->drain_deadline_ms) {
        if (w->http.n_active || gens)
            sy_log_warn("worker %d: grace period over, aborting %zu request(s) and %zu chat "
                        "generation(s)",
                        w->index, w->http.n_active, gens);
        stop_now(w);
    }
}

/* An overflowed log row otherwise waits for the next submit (logpipe/pipeline.h). */
static void on_logpoll(uv_timer_t *t)
{
    sy_worker_t *w = t->data;
    sy_logpipe_poll(w->logpipe, (size_t)w->index);
    if (w->durable_waiters) sy_relay_durable_expire(w);
}

/* Writer thread (logpipe notify): this producer's durable point moved. */
static void on_durable(void *ctx)
{
    sy_worker_t *w = ctx;
    atomic_store(&w->durable_kick, true);
    uv_mutex_lock(&w->wakeup_lock);
    if (w->wakeup_open) uv_async_send(&w->wakeup);
    uv_mutex_unlock(&w->wakeup_lock);
}

/* Writer thread (api/admission.h): reservations to finish on this loop's limiter. */
static void on_limits_wake(void *ctx)
{
    sy_worker_t *w = ctx;
    atomic_store(&w->limits_kick, true);
    uv_mutex_lock(&w->wakeup_lock);
    if (w->wakeup_open) uv_async_send(&w->wakeup);
    uv_mutex_unlock(&w->wakeup_lock);
}

static void on_wakeup(uv_async_t *a)
{
    sy_worker_t *w = a->data;
    if (atomic_exchange(&w->limits_kick, false) && !w->stopping)
        sy_admission_worker_poll(w->admission, w->index);
    if (atomic_exchange(&w->durable_kick, false)) sy_relay_durable_kick(w);
    int cmd = atomic_load(&w->command);
    if (cmd == SY_WORKER_STOP) {
        stop_now(w);
    } else if (cmd == SY_WORKER_DRAIN && !w->draining) {
        w->draining = true;
        sy_http_server_drain(&w->http);
        w->drain_deadline_ms = uv_now(&w->loop) + w->cfg->shutdown_grace_ms;
        uv_timer_start(&w->drain_timer, on_drain_tick, 0, 20);
    }
}

/* The loop thread's requested time slice (struct sched_attr's sched_runtime for SCHED_OTHER,
 * honoured by EEVDF since Linux 6.12, ignored before): with a slice shorter than the other
 * threads' on its core, a loop woken by a request preempts the running one at once
 * (PREEMPT_SHORT) instead of waiting for that thread's slice to end (RUN_TO_PARITY) — which for
 * the log writer's batches was up to the kernel's 1.4 ms default. No privilege needed. glibc
 * 2.36 has no wrapper: the raw syscall with the uapi struct's first 48 bytes (VER0). */
static void request_slice(uint32_t us)
{
    /* only for the normal policy: an operator's chrt / CPUSchedulingPolicy= stays as it is */
    if (!us || sched_getscheduler(0) != SCHED_OTHER) return;
    struct {
        uint32_t size, policy;
        uint64_t flags;
        int32_t nice;
        uint32_t priority;
        uint64_t runtime, deadline, period;
    } attr = {.size = 48,
              .policy = SCHED_OTHER,
              .nice = getpriority(PRIO_PROCESS, 0),
              .runtime = (uint64_t)us * 1000u};
    _Static_assert(sizeof attr == 48, "SCHED_ATTR_SIZE_VER0");
    if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0)
        sy_log_debug("sched_setattr (slice %u us): %s", us, strerror(errno));
}

static void thread_main(void *arg)
{
    sy_worker_t *w = arg;
    char name[16]; /* as `top -H` and /proc/PID/task/TID/comm show it (15 bytes at most) */
    snprintf(name, sizeof name, "sy-loop-%d", w->index);
    pthread_setname_np(pthread_self(), name);
    request_slice(w->cfg->sched_slice_us);
    sy_http_limits_t limits = {
        .max_body_bytes = w->cfg->max_body_bytes,
        .max_header_bytes = w->cfg->max_header_bytes,
        .max_headers = w->cfg->max_headers,
        .header_timeout_ms = w->cfg->header_timeout_ms,
        .keepalive_timeout_ms = w->cfg->keepalive_timeout_ms,
    };
    uv_loop_init(&w->loop);
    w->loop.data = w;
    w->upstream = sy_upstream_new(&w->loop, w->cfg->native_http1);
    w->start_err = w->upstream
                       ? sy_http_server_init(&w->http, &w->loop, &limits, w->cfg->listen_host,
                                             w->cfg->listen_port, sy_api_handle, w)
                       : UV_ENOMEM;
    if (w->start_err) {
        if (w->upstream) sy_upstream_free(w->upstream);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
        uv_sem_post(w->ready);
        return;
    }
    w->http.on_reject = sy_api_on_reject;
    uv_async_init(&w->loop, &w->wakeup, on_wakeup);
    w->wakeup.data = w;
    uv_mutex_lock(&w->wakeup_lock);
    w->wakeup_open = true;
    uv_mutex_unlock(&w->wakeup_lock);
    uv_timer_init(&w->loop, &w->drain_timer);
    w->drain_timer.data = w;
    if (w->admission) sy_admission_worker_init(w->admission, w->index, &w->loop, on_limits_wake, w);
    if (w->logpipe && w->cfg->log.fsync == SY_FSYNC_ALWAYS)
        sy_logpipe_set_notify(w->logpipe, (size_t)w->index, on_durable, w);
    if (w->logpipe) {
        uv_timer_init(&w->loop, &w->logpoll_timer);
        w->logpoll_timer.data = w;
        uv_timer_start(&w->logpoll_timer, on_logpoll, LOGPOLL_MS, LOGPOLL_MS);
    }
    uv_sem_post(w->ready);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&w->loop) != 0)
        sy_log_warn("worker %d: loop closed with open handles", w->index);
}

int sy_worker_start(sy_worker_t *w, int index, const sy_config_t *cfg, struct sy_logpipe *logpipe,
                    struct sy_store *store, struct sy_auth *auth, struct sy_admission *admission,
                    struct sy_creds *creds)
{
    memset(w, 0, sizeof *w);
    w->index = index;
    w->cfg = cfg;
    w->logpipe = logpipe;
    w->store = store;
    w->auth = auth;
    w->admission = admission;
    w->creds = creds;
    uv_mutex_init(&w->wakeup_lock);
    uv_sem_t ready;
    uv_sem_init(&ready, 0);
    w->ready = &ready;
    int r = uv_thread_create(&w->thread, thread_main, w);
    if (r) {
        uv_sem_destroy(&ready);
        return r;
    }
    uv_sem_wait(&ready);
    uv_sem_destroy(&ready);
    w->ready = NULL;
    if (w->start_err) {
        uv_thread_join(&w->thread);
        return w->start_err;
    }
    return 0;
}

void sy_worker_command(sy_worker_t *w, sy_worker_cmd_t cmd)
{
    int cur = atomic_load(&w->command);
    if ((int)cmd > cur) atomic_store(&w->command, (int)cmd);
    uv_mutex_lock(&w->wakeup_lock);
    if (w->wakeup_open) uv_async_send(&w->wakeup);
    uv_mutex_unlock(&w->wakeup_lock);
}

void sy_worker_join(sy_worker_t *w)
{
    uv_thread_join(&w->thread);
    uv_mutex_destroy(&w->wakeup_lock);
}
