/* Bounded single-producer / single-consumer ring of pointers (lock-free), one per loop thread:
 * the loop thread pushes owned log records, the log writer thread pops them. Model: the
 * classic Lamport ring with cached indices (each side keeps a private copy of the other side's
 * index and re-reads the shared one only when the ring looks full/empty), so a push is a few
 * plain loads/stores plus one release store: no lock, no syscall, no RMW instruction.
 *
 * Threads: exactly one thread may call push (the producer) and exactly one thread may call pop
 * (the consumer) at a time; size may be called from any thread (an estimate). init/dispose when
 * no other thread uses the ring. The ring stores pointers and owns nothing: dispose does not
 * free what is still queued (pop it first). */
#ifndef SY_LOGPIPE_QUEUE_H
#define SY_LOGPIPE_QUEUE_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define SY_LOGQ_CACHELINE 64

typedef struct sy_logq {
    /* consumer side */
    _Alignas(SY_LOGQ_CACHELINE) atomic_size_t head; /* next slot to pop */
    size_t tail_cache;                              /* consumer's last view of tail */
    /* producer side */
    _Alignas(SY_LOGQ_CACHELINE) atomic_size_t tail; /* next slot to push */
    size_t head_cache;                              /* producer's last view of head */
    /* read-only after init */
    _Alignas(SY_LOGQ_CACHELINE) size_t mask;
    void **slots;
} sy_logq_t;

/* capacity is rounded up to a power of two (minimum 2). Never fails (OOM aborts). */
void sy_logq_init(sy_logq_t *q, size_t capacity);
void sy_logq_dispose(sy_logq_t *q);

/* Producer: false when the ring is full (p is then not queued; the caller still owns it). */
bool sy_logq_push(sy_logq_t *q, void *p);
/* Consumer: the oldest pointer, or NULL when the ring is empty. p pushed must not be NULL. */
void *sy_logq_pop(sy_logq_t *q);
/* Any thread: number of queued pointers (exact when neither side runs). */
size_t sy_logq_size(const sy_logq_t *q);

#endif
