/* SPSC ring: see queue.h. Indices grow without wrapping (size_t), slot = index & mask. */
#include "logpipe/queue.h"

#include <stdlib.h>

#include "core/alloc.h"

void sy_logq_init(sy_logq_t *q, size_t capacity)
{
    size_t cap = 2;
    while (cap < capacity)
        cap <<= 1;
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
    q->tail_cache = 0;
    q->head_cache = 0;
    q->mask = cap - 1;
    q->slots = sy_xcalloc(cap, sizeof(void *));
}

void sy_logq_dispose(sy_logq_t *q)
{
    free(q->slots);
    q->slots = NULL;
}

bool sy_logq_push(sy_logq_t *q, void *p)
{
    size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (tail - q->head_cache > q->mask) {
        /* looks full: refresh the consumer's index (acquire: its pop of that slot is done) */
        q->head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
        if (tail - q->head_cache > q->mask) return false;
    }
    q->slots[tail & q->mask] = p;
    atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
    return true;
}

void *sy_logq_pop(sy_logq_t *q)
{
    size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    if (head == q->tail_cache) {
        q->tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire);
        if (head == q->tail_cache) return NULL;
    }
    void *p = q->slots[head & q->mask];
    atomic_store_explicit(&q->head, head + 1, memory_order_release);
    return p;
}

size_t sy_logq_size(const sy_logq_t *q)
{
    size_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
    size_t head = atomic_load_explicit(&q->head, memory_order_acquire);
    return tail - head;
}
