/* The log pipeline: loop threads hand finished log records to it without ever blocking; one
 * writer thread spools them to disk and writes them to the store in batches. Nothing accepted
 * is lost: a store outage is ridden out on the spool, a crash is recovered from it at the next
 * start (replay after the checkpoint; duplicates are harmless, write_batch is idempotent by
 * row id). DESIGN: pipeline.c. Docs: docs/internals/LOGPIPE.md.
 *
 * Threads:
 *   - sy_logpipe_submit / sy_logpipe_poll: only from the producer thread that owns
 *     producer_index (one loop thread per index). Never block, no lock, no syscall except an
 *     occasional writer wake-up (sem_post) when the writer sleeps.
 *   - sy_logpipe_stats / sy_logpipe_durable: any thread.
 *   - sy_logpipe_new / sy_logpipe_free: the owner (main thread); free only after every
 *     producer has stopped submitting (joined, or otherwise synchronised with the caller). */
#ifndef SY_LOGPIPE_PIPELINE_H
#define SY_LOGPIPE_PIPELINE_H
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "logpipe/record.h"
#include "store/store.h"

/* When the spool is fdatasync'ed (Redis AOF appendfsync). */
typedef enum sy_logpipe_fsync {
    SY_LOGPIPE_FSYNC_EVERYSEC = 0, /* at most once a second: a power loss loses ≤ ~1 s */
    SY_LOGPIPE_FSYNC_ALWAYS = 1,   /* after every drain round, before it is acknowledged */
    SY_LOGPIPE_FSYNC_NEVER = 2,    /* leave it to the kernel (still survives kill -9) */
} sy_logpipe_fsync_t;

/* Configuration: zero-initialise, set spool_dir; every 0 takes the default in brackets. */
typedef struct sy_logpipe_conf {
    const char *spool_dir; /* required; created when missing */
    sy_logpipe_fsync_t fsync;
    size_t ring_size;          /* records per producer ring, rounded up to 2^k [4096] */
    size_t overflow_max_bytes; /* per producer, when its ring is full [16 MiB] */
    uint64_t segment_bytes;    /* spool segment size [64 MiB] */
    uint64_t spool_max_bytes;  /* spool cap; past it rows are dropped and counted [1 GiB] */
    size_t batch_rows;         /* write_batch at most this many rows [1000] */
    uint32_t flush_ms;         /* ... or when the oldest unsent row is this old [1000] */
    uint32_t retry_min_ms;     /* store failure: first retry delay, doubling [100] */
    uint32_t retry_max_ms;     /* ... up to [5000] */
    /* Nice value (1..19) the writer thread sets on itself (Linux: per thread) when it starts;
     * 0 leaves it at the creator's. The writer's bursts (a write_batch of 1,000 rows is tens
     * of ms of CPU) then yield to a loop thread sharing its core; the writer still gets its
     * weight's share of a busy core (nice 10: ~10 %). The gateway leaves it 0 by default
     * (near saturation nice 10 measured worse: docs/internals/LOGPIPE.md). [0] */
    int nice;
    /* Time source for flush, fsync and retry timers, in µs (monotonic). NULL: the real
     * monotonic clock. Tests inject a fake one; the writer still wakes at least every
     * SY_LOGPIPE_MAX_SLEEP_MS of real time to look at it. */
    uint64_t (*now_us)(void *ctx);
    void *clock_ctx;
    /* Optional, writer thread: called once per submitted record before it is encoded and
     * spooled (not for rows replayed from the spool). Takes ownership of r and returns the
     * record to spool (r itself, or a new owned record after freeing r). It consumes r->aux.
     * Used by the gateway to parse the response capture, compute cost and redact bodies
     * (logpipe/enrich.h), so that none of that runs on a loop thread. */
    sy_log_record_t *(*transform)(void *ctx, sy_log_record_t *r);
    /* Optional, any thread: releases r->aux of a record dropped before transform saw it
     * (overflow full, or still queued at free). r itself is freed by the pipeline. */
    void (*discard)(void *ctx, sy_log_record_t *r);
    void *hook_ctx;
} sy_logpipe_conf_t;

#define SY_LOGPIPE_MAX_SLEEP_MS 5

typedef struct sy_logpipe sy_logpipe_t;

/* Counters; monotonic unless said otherwise. */
typedef struct sy_logpipe_stats {
    uint64_t submitted;        /* accepted by submit (all producers) */
    uint64_t queued;           /* gauge: accepted, not yet spooled (rings + overflow) */
    uint64_t spool_bytes;      /* gauge: bytes in the spool segments */
    uint64_t backlog_bytes;    /* gauge: spooled bytes not yet confirmed by the store */
    uint64_t written;          /* rows confirmed by write_batch (replayed ones included) */
    uint64_t batches;          /* successful write_batch calls */
    uint64_t dropped_overflow; /* ring and overflow full: never reached the spool */
    uint64_t dropped_spool;    /* spool cap reached (or a record too large to encode) */
    uint64_t dropped_corrupt;  /* spooled records that failed their CRC or decode on replay */
    uint64_t store_errors;     /* failed write_batch calls */
    uint64_t replayed;         /* rows re-sent from the spool at start */
} sy_logpipe_stats_t;

/* Opens the spool (recovering it: torn tails truncated), starts the writer thread, which first
 * replays everything after the checkpoint into the store. n_producers >= 1 rings. store is
 * borrowed: it must outlive the pipeline. */
sy_err_t sy_logpipe_new(const sy_logpipe_conf_t *conf, sy_store_t *store, size_t n_producers,
                        sy_logpipe_t **out, char *msg, size_t msglen);

/* Clones r (a view is fine) and queues it for producer_index's ring; when the ring is full the
 * clone waits in the producer's overflow list (bounded by overflow_max_bytes), beyond that it
 * is dropped and counted. Returns the record's sequence number for this producer (1, 2, …)
 * or 0 when it was dropped. Never blocks; cost independent of the queue state. */
uint64_t sy_logpipe_submit(sy_logpipe_t *p, size_t producer_index, const sy_log_record_t *r);

/* Moves the producer's overflow list into its ring as far as it fits. submit does this too;
 * call it from an idle/timer callback so an overflow does not wait for the next request. */
void sy_logpipe_poll(sy_logpipe_t *p, size_t producer_index);

/* Highest sequence number of producer_index that the writer has handled: written to the spool
 * (and fdatasync'ed under FSYNC_ALWAYS; under EVERYSEC/NEVER handed to the kernel, which
 * survives kill -9 but not a power loss), or counted as dropped at the spool. A caller that
 * must not acknowledge a request before its row is durable waits for this (from its loop,
 * e.g. a timer) — submit itself never waits. */
uint64_t sy_logpipe_durable(sy_logpipe_t *p, size_t producer_index);

/* Registers fn(ctx), called on the writer thread after each drain round in which
 * durable(producer_index) moved (the spool write, and under FSYNC_ALWAYS its fdatasync, are
 * done), so that a loop waiting for durable need not poll: fn typically sets a flag and calls
 * uv_async_send. fn must be quick and must not call the pipeline. Any thread; fn NULL
 * unregisters, and once that call returned fn is not running and never runs again (a mutex,
 * taken by the writer only when some producer has a notify, guards the pair). */
void sy_logpipe_set_notify(sy_logpipe_t *p, size_t producer_index, void (*fn)(void *ctx),
                           void *ctx);

void sy_logpipe_stats(sy_logpipe_t *p, sy_logpipe_stats_t *out);

/* Stops: the writer drains every ring and overflow list, spools, fsyncs, makes a final
 * write_batch attempt for everything after the checkpoint (a failure leaves the rows in the
 * spool for the next start), then the pipeline is freed. NULL is fine. */
void sy_logpipe_free(sy_logpipe_t *p);

#endif
