/* Per-loop-thread context (h2o h2o_context_t): one libuv loop, one HTTP server listening with
 * SO_REUSEPORT, one curl multi. Handlers receive the worker of the thread they run on and
 * never share mutable state with other workers. The config is shared read-only.
 *
 * DESIGN (threads): main thread = signals + lifecycle; N worker threads = everything else.
 * The main thread talks to workers only through sy_worker_command (atomic + uv_async). */
#ifndef SY_WORKER_H
#define SY_WORKER_H
#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

#include "conf/config.h"
#include "http/server.h"
#include "upstream/upstream.h"

typedef enum { SY_WORKER_RUN = 0, SY_WORKER_DRAIN = 1, SY_WORKER_STOP = 2 } sy_worker_cmd_t;

typedef struct sy_worker {
    int index;
    const sy_config_t *cfg;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wakeup;
    uv_timer_t drain_timer;
    uv_timer_t logpoll_timer; /* moves the log producer's overflow into its ring (logpipe) */
    sy_http_server_t http;
    sy_upstream_t *upstream;
    struct sy_logpipe *logpipe; /* inference log (producer index = index), NULL when off */
    struct sy_store *store;     /* the log store, for the query API on the thread pool; or NULL */
    struct sy_auth *auth;       /* keys, sessions, login limiter (process-wide); NULL: auth off */
    struct sy_admission *admission; /* rate limits (api/admission.h); NULL: none configured */
    struct sy_creds *creds;         /* provider credentials (creds.h, process-wide), or NULL */
    /* log.fsync always: responses waiting for their row to be durable (api/relay.c), and the
     * writer's "durable moved" kick (set on the writer thread, then wakeup is sent) */
    void *durable_waiters;
    atomic_bool durable_kick;
    atomic_bool limits_kick;     /* the writer handed back limits reservations (api/admission.h) */
    struct sy_chatgen *chatgens; /* chat generations running on this loop (api/chatgen.h) */
    /* the URL of this worker's own /v1/chat/completions, which chat generations call (set on
     * first use): one string per loop, so the upstream module's URL cache keeps one entry */
    char self_url[96];
    atomic_int command;
    uv_mutex_t wakeup_lock; /* guards wakeup_open: no uv_async_send after close */
    bool wakeup_open;
    uint64_t drain_deadline_ms; /* loop time */
    bool draining;
    bool stopping;
    int start_err;   /* 0 or a uv error from binding */
    uv_sem_t *ready; /* posted once the worker listens or failed */
} sy_worker_t;

/* Starts the thread; waits until it listens. Returns 0 or a negative uv error. logpipe: the
 * inference-log pipeline this worker submits rows to as producer `index` (NULL: logging off);
 * it must outlive the worker. store: the inference-log store the /api/v1 query endpoints read
 * (thread-safe, called only from libuv's thread pool; NULL: logging off); it must outlive the
 * worker too. auth: the process-wide identity state (policy/auth.h), shared by every worker;
 * NULL when auth.mode is local. admission: the process's limits phase (api/admission.h), NULL
 * when no limit is configured; it must outlive the worker and the log pipeline. creds: the
 * provider credentials (creds.h), or NULL. */
int sy_worker_start(sy_worker_t *w, int index, const sy_config_t *cfg, struct sy_logpipe *logpipe,
                    struct sy_store *store, struct sy_auth *auth, struct sy_admission *admission,
                    struct sy_creds *creds);
/* From any thread: asks the worker to drain (finish in-flight requests until the grace period
 * ends) or to stop at once. */
void sy_worker_command(sy_worker_t *w, sy_worker_cmd_t cmd);
/* Waits for the thread to exit. */
void sy_worker_join(sy_worker_t *w);

#endif
