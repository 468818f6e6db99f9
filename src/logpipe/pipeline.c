/* Log pipeline: see pipeline.h.
 *
 * DESIGN (after Redis bio.c and memcached logger.c)
 *
 *   loop thread i ──submit──▶ ring i (SPSC, lock-free, 4096 ptrs) ─┐
 *        └─ ring full ──▶ overflow list i (producer-private, ≤ N bytes) ─▶ ring i later
 *                                                                     │
 *   writer thread ◀────────────── pops every ring ◀───────────────────┘
 *     1. encode + frame (len, CRC-32) ─▶ spool segment (one write(2) per drain round)
 *        fsync policy: ALWAYS = fdatasync each round before durable[i] moves; EVERYSEC = at
 *        most once a second; NEVER = the kernel decides (kill -9 still loses nothing written)
 *     2. the records just spooled stay in memory in a bounded cache (2 × batch_rows, ≥ 256): the
 *        in-memory copy of the spool's tail, so the normal path never reads the disk back
 *     3. write_batch of up to batch_rows rows starting at the checkpoint, when batch_rows are
 *        waiting or the oldest has waited flush_ms; on success the checkpoint moves and fully
 *        checkpointed segments are deleted
 *     4. when the rows after the checkpoint are no longer all in the cache (replay at start,
 *        store outage, cache overflow), batches are read back from the spool ("backlog"):
 *        the same code path for recovery and for catching up, always in spool order.
 *
 * Why this shape:
 *   - The producer never blocks and never takes a lock: clone (one malloc + copies), one
 *     release store into its own ring, and a sem_post only when the writer announced it was
 *     going to sleep (idle flag) AND someone waits for the row (fsync always) or the ring is a
 *     quarter full; otherwise the writer's own timer picks the row up. A missed wake-up (the
 *     flag is read relaxed) costs at most SY_LOGPIPE_MAX_SLEEP_MS: the writer never sleeps
 *     longer than that.
 *   - A full ring does not lose the row: the clone moves to a producer-private overflow list
 *     (no sharing, so no lock) that the producer itself moves back into the ring on its next
 *     submit/poll; the writer takes it over only at shutdown, when producers have stopped.
 *     Past overflow_max_bytes the row is dropped and counted; the WRITER logs the
 *     rate-limited warning (a loop thread never writes to stderr for this).
 *   - One writer owns the spool, the cache and the store calls: no locks in the writer either;
 *     its only shared state is atomics (stats, durable[i]).
 *   - A store outage only delays step 3 (retry with exponential backoff); steps 1–2 go on, so
 *     memory stays bounded (cache) and the spool absorbs the outage up to its cap.
 *   - Exactly-once: rows are re-sent only from the checkpoint on, in spool order, and the
 *     store skips ids it already has (SY_STORE_CAP_DEDUP_ON_WRITE).
 *   - Durability: submit returns before the row is on disk (it must not wait for a disk).
 *     sy_logpipe_durable(i) says how far the writer got; under FSYNC_ALWAYS that point is
 *     fdatasync'ed. The crash test acknowledges a row only once durable covers it. */
#include "logpipe/pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "logpipe/queue.h"
#include "logpipe/spool.h"

#define DRAIN_ROUND 1024                     /* records popped per ring per round */
#define WARN_EVERY_US (10 * 1000000ull)      /* rate limit of repeated warnings (real time) */
#define ENC_MAX ((size_t)SY_SPOOL_MAX_FRAME) /* one encoded record */

typedef struct ovf_node {
    struct ovf_node *next;
    sy_log_record_t *r;
    size_t bytes;
} ovf_node_t;

typedef struct producer {
    sy_logq_t q;
    /* producer thread only (the writer reads the overflow list at shutdown) */
    _Alignas(64) ovf_node_t *ovf_head, *ovf_tail;
    size_t ovf_bytes;
    uint64_t seq;
    atomic_uint_fast64_t submitted; /* = seq, published for stats */
    atomic_uint_fast64_t dropped;   /* written by the producer only */
    /* writer thread */
    _Alignas(64) uint64_t consumed;
    atomic_uint_fast64_t durable;
    /* sy_logpipe_set_notify: guarded by notify_lock (rare: set at start and stop) */
    void (*notify)(void *ctx);
    void *notify_ctx;
} producer_t;

typedef struct cached {
    sy_log_record_t *r;
    uint64_t start, end; /* the frame's logical offsets */
    uint64_t t_us;       /* injected clock when spooled */
} cached_t;

struct sy_logpipe {
    sy_logpipe_conf_t conf;
    char *spool_dir;
    sy_store_t *store;
    sy_spool_t *spool;
    size_t n_prod;
    producer_t *prod;

    pthread_t thread;
    bool started;
    sem_t wake;
    atomic_int idle;
    size_t wake_rows; /* submit wakes the idle writer once a ring holds this many (ring / 4) */
    atomic_uint_fast64_t posts; /* wake-ups posted by producers (tests read it) */
    atomic_bool stop;
    pthread_mutex_t notify_lock;
    atomic_int n_notify; /* producers with a notify: the writer skips the lock when 0 */

    /* writer thread only */
    sy_buf_t enc, rbuf;
    cached_t *cache;
    size_t cache_cap, cache_head, cache_n;
    uint64_t cursor; /* = checkpoint: everything before is in the store */
    bool in_backoff;
    uint64_t retry_at, backoff_us;
    bool unsynced;
    bool sync_failed; /* the last spool write/sync failed: retried each round, rows or not */
    uint64_t last_fsync;
    uint64_t warned_overflow, warned_spool, warn_at_overflow, warn_at_spool, warn_at_store;
    const sy_log_record_t **ptrs;
    sy_log_record_t **tmp;

    /* stats (writer writes, anyone reads) */
    atomic_uint_fast64_t written, batches, dropped_spool, dropped_corrupt, store_errors, replayed,
        spool_bytes, backlog_bytes;
};

static uint64_t real_clock(void *ctx)
{
    (void)ctx;
    return sy_clock_mono_us();
}

static uint64_t now_us(const sy_logpipe_t *p)
{
    return p->conf.now_us(p->conf.clock_ctx);
}

/* Rough heap size of an owned record, for the overflow cap. */
static size_t record_bytes(const sy_log_record_t *r)
{
    const sy_str_t *s[] = {
        &r->request_id,      &r->model,         &r->provider,   &r->upstream_model, &r->deployment,
        &r->error_type,      &r->error_message, &r->key_id,     &r->user_id,        &r->team_id,
        &r->conversation_id, &r->message_id,    &r->experiment, &r->variant,        &r->metadata,
        &r->request_body,    &r->response_body};
    size_t n = sizeof(*r) + r->n_tags * sizeof(sy_str_t);
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        n += s[i]->len + 1;
    for (uint32_t i = 0; i < r->n_tags; i++)
        n += r->tags[i].len + 1;
    return n;
}

/* ---- producer side ---------------------------------------------------------------------- */

static void wake_writer(sy_logpipe_t *p)
{
    if (atomic_load_explicit(&p->idle, memory_order_relaxed) &&
        atomic_exchange_explicit(&p->idle, 0, memory_order_acq_rel)) {
        sem_post(&p->wake);
        atomic_fetch_add_explicit(&p->posts, 1, memory_order_relaxed);
    }
}

/* Frees a record the transform never saw, with its attachment. */
static void discard(sy_logpipe_t *p, sy_log_record_t *r)
{
    if (r->aux && p->conf.discard) p->conf.discard(p->conf.hook_ctx, r);
    sy_log_record_free(r);
}

static void move_overflow(producer_t *pr)
{
    while (pr->ovf_head && sy_logq_push(&pr->q, pr->ovf_head->r)) {
        ovf_node_t *n = pr->ovf_head;
        pr->ovf_head = n->next;
        pr->ovf_bytes -= n->bytes;
        free(n);
    }
    if (!pr->ovf_head) pr->ovf_tail = NULL;
}

uint64_t sy_logpipe_submit(sy_logpipe_t *p, size_t producer_index, const sy_log_record_t *r)
{
    producer_t *pr = &p->prod[producer_index];
    sy_log_record_t *c = sy_log_record_clone(r);
    if (pr->ovf_head) move_overflow(pr);
    if (pr->ovf_head || !sy_logq_push(&pr->q, c)) {
        size_t bytes = record_bytes(c);
        if (pr->ovf_bytes + bytes > p->conf.overflow_max_bytes) {
            discard(p, c);
            atomic_store_explicit(&pr->dropped,
                                  atomic_load_explicit(&pr->dropped, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
            return 0;
        }
        ovf_node_t *n = sy_xmalloc(sizeof(*n));
        *n = (ovf_node_t){NULL, c, bytes};
        if (pr->ovf_tail)
            pr->ovf_tail->next = n;
        else
            pr->ovf_head = n;
        pr->ovf_tail = n;
        pr->ovf_bytes += bytes;
    }
    pr->seq++;
    atomic_store_explicit(&pr->submitted, pr->seq, memory_order_relaxed);
    /* Wake the writer only when someone waits for the row (fsync always: the response is held
     * until it is durable) or the ring is filling up; otherwise the writer's own timer
     * (<= SY_LOGPIPE_MAX_SLEEP_MS) picks the row up. A wake per row made the loop thread pay a
     * futex call per request and, on a core shared with the writer, let the writer preempt the
     * loop before the response's last bytes were written (docs/internals/LOGPIPE.md, "Wake-ups").
     */
    if (p->conf.fsync == SY_LOGPIPE_FSYNC_ALWAYS || pr->ovf_head ||
        sy_logq_size(&pr->q) >= p->wake_rows)
        wake_writer(p);
    return pr->seq;
}

void sy_logpipe_poll(sy_logpipe_t *p, size_t producer_index)
{
    producer_t *pr = &p->prod[producer_index];
    if (pr->ovf_head) {
        move_overflow(pr);
        wake_writer(p);
    }
}

void sy_logpipe_set_notify(sy_logpipe_t *p, size_t producer_index, void (*fn)(void *ctx), void *ctx)
{
    producer_t *pr = &p->prod[producer_index];
    pthread_mutex_lock(&p->notify_lock);
    if (!pr->notify != !fn) atomic_fetch_add(&p->n_notify, fn ? 1 : -1);
    pr->notify = fn;
    pr->notify_ctx = fn ? ctx : NULL;
    pthread_mutex_unlock(&p->notify_lock);
}

uint64_t sy_logpipe_durable(sy_logpipe_t *p, size_t producer_index)
{
    return atomic_load_explicit(&p->prod[producer_index].durable, memory_order_acquire);
}

void sy_logpipe_stats(sy_logpipe_t *p, sy_logpipe_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < p->n_prod; i++) {
        uint64_t durable = atomic_load(&p->prod[i].durable);
        uint64_t sub = atomic_load(&p->prod[i].submitted);
        out->submitted += sub;
        out->queued += sub > durable ? sub - durable : 0;
        out->dropped_overflow += atomic_load(&p->prod[i].dropped);
    }
    out->spool_bytes = atomic_load(&p->spool_bytes);
    out->backlog_bytes = atomic_load(&p->backlog_bytes);
    out->written = atomic_load(&p->written);
    out->batches = atomic_load(&p->batches);
    out->dropped_spool = atomic_load(&p->dropped_spool);
    out->dropped_corrupt = atomic_load(&p->dropped_corrupt);
    out->store_errors = atomic_load(&p->store_errors);
    out->replayed = atomic_load(&p->replayed);
}

/* ---- writer: spooling ------------------------------------------------------------------- */

static cached_t *cache_at(sy_logpipe_t *p, size_t i)
{
    return &p->cache[(p->cache_head + i) % p->cache_cap];
}

static void cache_pop(sy_logpipe_t *p, bool free_rec)
{
    if (free_rec) sy_log_record_free(cache_at(p, 0)->r);
    p->cache_head = (p->cache_head + 1) % p->cache_cap;
    p->cache_n--;
}

static void spool_one(sy_logpipe_t *p, producer_t *pr, sy_log_record_t *r, uint64_t now)
{
    char msg[SY_STORE_MSGLEN];
    uint64_t end;
    pr->consumed++;
    if (p->conf.transform) r = p->conf.transform(p->conf.hook_ctx, r);
    sy_buf_reset(&p->enc);
    if (sy_log_record_encode(r, &p->enc) ||
        sy_spool_append(p->spool, p->enc.base, p->enc.len, &end, msg, sizeof(msg))) {
        atomic_fetch_add(&p->dropped_spool, 1);
        sy_log_record_free(r);
        return;
    }
    if (p->cache_n == p->cache_cap) cache_pop(p, true); /* still on disk: read back later */
    *cache_at(p, p->cache_n++) = (cached_t){r, end - SY_SPOOL_FRAME_HEADER - p->enc.len, end, now};
}

/* Pops every ring (and, when stopping, every overflow list); one write(2); fsync per policy;
 * then publishes durable[i]. Returns the number of records handled. */
static size_t drain(sy_logpipe_t *p, bool stopping, uint64_t now)
{
    size_t total = 0;
    for (size_t i = 0; i < p->n_prod; i++) {
        producer_t *pr = &p->prod[i];
        for (size_t k = 0; k < DRAIN_ROUND; k++) {
            sy_log_record_t *r = sy_logq_pop(&pr->q);
            if (!r && stopping && pr->ovf_head) { /* producers are gone: take the overflow */
                ovf_node_t *n = pr->ovf_head;
                pr->ovf_head = n->next;
                if (!pr->ovf_head) pr->ovf_tail = NULL;
                pr->ovf_bytes -= n->bytes;
                r = n->r;
                free(n);
            }
            if (!r) break;
            spool_one(p, pr, r, now);
            total++;
        }
    }
    if (!total && !p->sync_failed) return 0;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = p->conf.fsync == SY_LOGPIPE_FSYNC_ALWAYS
                       ? sy_spool_sync(p->spool, msg, sizeof(msg))
                       : sy_spool_flush(p->spool, msg, sizeof(msg));
    if (err) {
        /* frames stay buffered and durable does not move past them; retried at the next round
         * even when no row comes (a response held for durability waits on it) */
        if (!p->sync_failed) sy_log_warn("logpipe: %s (retrying)", msg);
        p->sync_failed = true;
        return total;
    }
    if (p->sync_failed) sy_log_warn("logpipe: spool write recovered");
    p->sync_failed = false;
    p->unsynced = p->conf.fsync != SY_LOGPIPE_FSYNC_ALWAYS;
    if (!p->unsynced) p->last_fsync = now;
    bool notify = atomic_load_explicit(&p->n_notify, memory_order_relaxed) > 0;
    if (notify) pthread_mutex_lock(&p->notify_lock);
    for (size_t i = 0; i < p->n_prod; i++) {
        producer_t *pr = &p->prod[i];
        uint64_t before = atomic_load_explicit(&pr->durable, memory_order_relaxed);
        atomic_store_explicit(&pr->durable, pr->consumed, memory_order_release);
        if (notify && pr->notify && pr->consumed != before) pr->notify(pr->notify_ctx);
    }
    if (notify) pthread_mutex_unlock(&p->notify_lock);
    atomic_store(&p->spool_bytes, sy_spool_bytes(p->spool));
    return total;
}

/* ---- writer: feeding the store ---------------------------------------------------------- */

/* Moves the checkpoint and publishes the gauges that depend on it. Called BEFORE batch_ok
 * counts the rows as written: a reader that sees `written` cover a row then also sees a
 * backlog that no longer holds it (seq_cst atomics). The other order left backlog_bytes stale
 * until the writer's next round, which a loaded machine can delay by many milliseconds. */
static void checkpoint(sy_logpipe_t *p, uint64_t off)
{
    char msg[SY_STORE_MSGLEN];
    p->cursor = off;
    if (sy_spool_checkpoint(p->spool, off, msg, sizeof(msg))) sy_log_warn("logpipe: %s", msg);
    atomic_store(&p->spool_bytes, sy_spool_bytes(p->spool));
    atomic_store(&p->backlog_bytes, sy_spool_end(p->spool) - off);
}

static void batch_failed(sy_logpipe_t *p, uint64_t now, const char *msg)
{
    atomic_fetch_add(&p->store_errors, 1);
    uint64_t min = (uint64_t)p->conf.retry_min_ms * 1000,
             max = (uint64_t)p->conf.retry_max_ms * 1000;
    p->backoff_us = p->in_backoff ? p->backoff_us * 2 : min;
    if (p->backoff_us > max) p->backoff_us = max;
    p->in_backoff = true;
    p->retry_at = now + p->backoff_us;
    uint64_t real = sy_clock_mono_us();
    if (real - p->warn_at_store >= WARN_EVERY_US || !p->warn_at_store) {
        p->warn_at_store = real;
        sy_log_warn("logpipe: store write failed (%s); rows stay in the spool, retrying in %" PRIu64
                    " ms",
                    msg, p->backoff_us / 1000);
    }
}

static void batch_ok(sy_logpipe_t *p, size_t n)
{
    atomic_fetch_add(&p->written, n);
    atomic_fetch_add(&p->batches, 1);
    if (p->in_backoff) sy_log_info("logpipe: store is back; catching up from the spool");
    p->in_backoff = false;
}

/* One write_batch if one is due. final: ignore timers and backoff. Returns true when it called
 * the store (or skipped corrupt frames), i.e. when the caller should loop again at once; *failed
 * says whether the store refused. */
static bool feed(sy_logpipe_t *p, uint64_t now, bool final, bool *failed)
{
    char msg[SY_STORE_MSGLEN] = "";
    *failed = false;
    uint64_t end = sy_spool_end(p->spool);
    atomic_store(&p->backlog_bytes, end - p->cursor);
    if (p->cursor >= end) return false;
    if (!final && p->in_backoff && now < p->retry_at) return false;
    size_t max = p->conf.batch_rows;

    if (p->cache_n && cache_at(p, 0)->start == p->cursor) {
        bool due = final || p->cache_n >= max || p->cache_n == p->cache_cap ||
                   now - cache_at(p, 0)->t_us >= (uint64_t)p->conf.flush_ms * 1000;
        if (!due) return false;
        size_t k = p->cache_n < max ? p->cache_n : max;
        for (size_t i = 0; i < k; i++)
            p->ptrs[i] = cache_at(p, i)->r;
        if (sy_store_write_batch(p->store, p->ptrs, k, msg, sizeof(msg))) {
            batch_failed(p, now, msg);
            *failed = true;
            return true;
        }
        uint64_t off = cache_at(p, k - 1)->end;
        for (size_t i = 0; i < k; i++)
            cache_pop(p, true);
        checkpoint(p, off);
        batch_ok(p, k);
        return true;
    }

    /* backlog: read back from the spool up to the cached tail */
    uint64_t limit = p->cache_n ? cache_at(p, 0)->start : end, off = p->cursor, fo, next;
    size_t k = 0;
    bool skipped = false;
    while (k < max && off < limit) {
        sy_err_t err = sy_spool_read(p->spool, off, &p->rbuf, &fo, &next, msg, sizeof(msg));
        if (err == SY_ERR_NOT_FOUND) break;
        if (err == SY_OK && fo >= limit) break;
        if (err == SY_OK) err = sy_log_record_decode(p->rbuf.base, p->rbuf.len, &p->tmp[k]);
        if (err == SY_OK)
            k++;
        else {
            sy_log_warn("logpipe: skipping unreadable spooled record at %" PRIu64 ": %s", fo,
                        err == SY_ERR_CORRUPT && msg[0] ? msg : "decode failed");
            atomic_fetch_add(&p->dropped_corrupt, 1);
            skipped = true;
            if (err != SY_ERR_CORRUPT && err != SY_OK) {
                /* an I/O error: stop here, retry later */
                break;
            }
        }
        off = next;
    }
    if (k == 0) {
        if (off != p->cursor) checkpoint(p, off);
        return skipped;
    }
    for (size_t i = 0; i < k; i++)
        p->ptrs[i] = p->tmp[i];
    sy_err_t err = sy_store_write_batch(p->store, p->ptrs, k, msg, sizeof(msg));
    for (size_t i = 0; i < k; i++)
        sy_log_record_free(p->tmp[i]);
    if (err) {
        batch_failed(p, now, msg);
        *failed = true;
        return true;
    }
    atomic_fetch_add(&p->replayed, k);
    checkpoint(p, off);
    batch_ok(p, k);
    return true;
}

/* ---- writer thread ---------------------------------------------------------------------- */

static void warn_drops(sy_logpipe_t *p)
{
    uint64_t ovf = 0, sp = atomic_load(&p->dropped_spool), real = sy_clock_mono_us();
    for (size_t i = 0; i < p->n_prod; i++)
        ovf += atomic_load_explicit(&p->prod[i].dropped, memory_order_relaxed);
    if (ovf != p->warned_overflow && real - p->warn_at_overflow >= WARN_EVERY_US) {
        sy_log_warn("logpipe: %" PRIu64 " log rows dropped: queue and overflow full (total %" PRIu64
                    ")",
                    ovf - p->warned_overflow, ovf);
        p->warned_overflow = ovf;
        p->warn_at_overflow = real;
    }
    if (sp != p->warned_spool && real - p->warn_at_spool >= WARN_EVERY_US) {
        sy_log_warn("logpipe: %" PRIu64 " log rows dropped: spool full (%" PRIu64
                    " bytes, cap %" PRIu64 "; total %" PRIu64 ")",
                    sp - p->warned_spool, sy_spool_bytes(p->spool), p->conf.spool_max_bytes, sp);
        p->warned_spool = sp;
        p->warn_at_spool = real;
    }
}

static bool rings_empty(sy_logpipe_t *p)
{
    for (size_t i = 0; i < p->n_prod; i++)
        if (sy_logq_size(&p->prod[i].q)) return false;
    return true;
}

/* µs until the next timer (flush, retry, fsync), capped at SY_LOGPIPE_MAX_SLEEP_MS. */
static uint64_t sleep_us(sy_logpipe_t *p, uint64_t now)
{
    uint64_t best = SY_LOGPIPE_MAX_SLEEP_MS * 1000ull, at = UINT64_MAX;
    if (p->cache_n && !p->in_backoff) at = cache_at(p, 0)->t_us + (uint64_t)p->conf.flush_ms * 1000;
    if (p->in_backoff && p->retry_at < at) at = p->retry_at;
    if (p->unsynced && p->conf.fsync == SY_LOGPIPE_FSYNC_EVERYSEC && p->last_fsync + 1000000 < at)
        at = p->last_fsync + 1000000;
    if (at != UINT64_MAX) {
        uint64_t d = at > now ? at - now : 0;
        if (d < best) best = d;
    }
    return best;
}

/* Lower this thread's priority (conf.nice): on Linux setpriority(PRIO_PROCESS, tid) acts on
 * one thread, so the loop threads keep theirs. A failure only costs latency: warn, go on. */
static void lower_priority(int nice)
{
    if (nice <= 0) return;
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), nice))
        sy_log_warn("logpipe: writer thread nice %d: %s", nice, strerror(errno));
}

static void *writer_main(void *arg)
{
    sy_logpipe_t *p = arg;
    char msg[SY_STORE_MSGLEN];
    bool failed;
    pthread_setname_np(pthread_self(), "sy-logwriter");
    lower_priority(p->conf.nice);
    for (;;) {
        bool stopping = atomic_load(&p->stop);
        uint64_t now = now_us(p);
        size_t n = drain(p, stopping, now);
        if (p->unsynced && p->conf.fsync == SY_LOGPIPE_FSYNC_EVERYSEC &&
            now - p->last_fsync >= 1000000) {
            if (sy_spool_sync(p->spool, msg, sizeof(msg)) == SY_OK) p->unsynced = false;
            p->last_fsync = now;
        }
        warn_drops(p);
        if (stopping && n == 0) break;
        bool fed = feed(p, now, false, &failed);
        if (n || fed) continue;
        uint64_t us = sleep_us(p, now);
        if (!us) continue;
        atomic_store(&p->idle, 1);
        if (!rings_empty(p) || atomic_load(&p->stop)) {
            atomic_store(&p->idle, 0);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)(us % 1000000) * 1000;
        ts.tv_sec += (time_t)(us / 1000000) + ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        while (sem_clockwait(&p->wake, CLOCK_MONOTONIC, &ts) && errno == EINTR)
            ;
        atomic_store(&p->idle, 0);
    }
    /* shutdown: everything is spooled; make it durable, then one attempt per batch */
    if (sy_spool_sync(p->spool, msg, sizeof(msg))) sy_log_warn("logpipe: %s", msg);
    p->unsynced = false;
    while (feed(p, now_us(p), true, &failed) && !failed)
        ;
    uint64_t left = sy_spool_end(p->spool) - p->cursor;
    if (left)
        sy_log_warn("logpipe: stopping with %" PRIu64
                    " spooled bytes not in the store; they are replayed at the next start",
                    left);
    atomic_store(&p->backlog_bytes, left);
    warn_drops(p);
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static sy_err_t create(const sy_logpipe_conf_t *conf, sy_store_t *store, size_t n_producers,
                       sy_logpipe_t **out, char *msg, size_t msglen)
{
    *out = NULL;
    if (!conf->spool_dir || !conf->spool_dir[0] || !n_producers) {
        if (msg) snprintf(msg, msglen, "logpipe: spool_dir and at least one producer required");
        return SY_ERR_CONFIG;
    }
    sy_logpipe_t *p = sy_xcalloc(1, sizeof(*p));
    p->conf = *conf;
    sy_logpipe_conf_t *c = &p->conf;
    p->spool_dir = sy_xstrdup(conf->spool_dir);
    c->spool_dir = p->spool_dir;
    if (!c->ring_size) c->ring_size = 4096;
    if (!c->overflow_max_bytes) c->overflow_max_bytes = 16u << 20;
    if (!c->batch_rows) c->batch_rows = 1000;
    if (!c->flush_ms) c->flush_ms = 1000;
    if (!c->retry_min_ms) c->retry_min_ms = 100;
    if (!c->retry_max_ms) c->retry_max_ms = 5000;
    if (!c->spool_max_bytes) c->spool_max_bytes = 1ull << 30;
    if (!c->now_us) c->now_us = real_clock;

    sy_spool_conf_t sc = {
        .dir = c->spool_dir, .segment_bytes = c->segment_bytes, .max_bytes = c->spool_max_bytes};
    sy_spool_recovery_t rec;
    sy_err_t err = sy_spool_open(&sc, &p->spool, &rec, msg, msglen);
    if (err) {
        free(p->spool_dir);
        free(p);
        return err;
    }
    if (rec.end > rec.checkpoint || rec.truncated_bytes)
        sy_log_info("logpipe: spool %s: replaying %" PRIu64 " bytes after the checkpoint (%" PRIu64
                    " torn bytes truncated)",
                    c->spool_dir, rec.end - rec.checkpoint, rec.truncated_bytes);
    p->cursor = rec.checkpoint;
    p->store = store;
    p->n_prod = n_producers;
    p->prod = aligned_alloc(64, ((n_producers * sizeof(producer_t) + 63) / 64) * 64);
    if (!p->prod) abort();
    memset(p->prod, 0, n_producers * sizeof(producer_t));
    for (size_t i = 0; i < n_producers; i++)
        sy_logq_init(&p->prod[i].q, c->ring_size);
    p->wake_rows = (p->prod[0].q.mask + 1) / 4;
    sy_buf_init(&p->enc, ENC_MAX);
    sy_buf_init(&p->rbuf, SY_SPOOL_MAX_FRAME);
    p->cache_cap = 2 * c->batch_rows < 256 ? 256 : 2 * c->batch_rows;
    p->cache = sy_xcalloc(p->cache_cap, sizeof(*p->cache));
    p->ptrs = sy_xcalloc(c->batch_rows, sizeof(*p->ptrs));
    p->tmp = sy_xcalloc(c->batch_rows, sizeof(*p->tmp));
    sem_init(&p->wake, 0, 0);
    pthread_mutex_init(&p->notify_lock, NULL);
    p->last_fsync = now_us(p);
    atomic_store(&p->spool_bytes, sy_spool_bytes(p->spool));
    *out = p;
    return SY_OK;
}

static sy_err_t start(sy_logpipe_t *p, char *msg, size_t msglen)
{
    int rc = pthread_create(&p->thread, NULL, writer_main, p);
    if (rc) {
        if (msg) snprintf(msg, msglen, "logpipe: pthread_create: %s", strerror(rc));
        return SY_ERR_INTERNAL;
    }
    p->started = true;
    return SY_OK;
}

sy_err_t sy_logpipe_new(const sy_logpipe_conf_t *conf, sy_store_t *store, size_t n_producers,
                        sy_logpipe_t **out, char *msg, size_t msglen)
{
    sy_err_t err = create(conf, store, n_producers, out, msg, msglen);
    if (err) return err;
    err = start(*out, msg, msglen);
    if (err) {
        sy_logpipe_free(*out);
        *out = NULL;
    }
    return err;
}

void sy_logpipe_free(sy_logpipe_t *p)
{
    if (!p) return;
    atomic_store(&p->stop, true);
    if (p->started) {
        sem_post(&p->wake);
        pthread_join(p->thread, NULL);
    }
    while (p->cache_n)
        cache_pop(p, true);
    for (size_t i = 0; i < p->n_prod; i++) {
        producer_t *pr = &p->prod[i];
        sy_log_record_t *r;
        while ((r = sy_logq_pop(&pr->q)))
            discard(p, r);
        while (pr->ovf_head) {
            ovf_node_t *n = pr->ovf_head;
            pr->ovf_head = n->next;
            discard(p, n->r);
            free(n);
        }
        sy_logq_dispose(&pr->q);
    }
    sy_spool_close(p->spool);
    sem_destroy(&p->wake);
    pthread_mutex_destroy(&p->notify_lock);
    sy_buf_dispose(&p->enc);
    sy_buf_dispose(&p->rbuf);
    free(p->cache);
    free(p->ptrs);
    free(p->tmp);
    free(p->prod);
    free(p->spool_dir);
    free(p);
}
