/* Request-scoped arena (h2o h2o_mem_pool_t, nginx ngx_pool_t): many allocations, one release.
 * Never free a single allocation. The first block is embedded so that small requests do not
 * touch malloc at all. Not thread-safe: an arena belongs to one request on one loop thread. */
#ifndef SY_CORE_ARENA_H
#define SY_CORE_ARENA_H
#include <stddef.h>

#define SY_ARENA_INLINE 2048

typedef struct sy_arena_block sy_arena_block_t;
typedef struct sy_arena_wipe sy_arena_wipe_t;

typedef struct sy_arena {
    sy_arena_block_t *blocks; /* heap blocks, newest first */
    sy_arena_wipe_t *wipe;    /* allocations to zero at reset (sy_arena_alloc_secret) */
    char *cur;
    size_t left;
    char inline_buf[SY_ARENA_INLINE] __attribute__((aligned(16)));
} sy_arena_t;

void sy_arena_init(sy_arena_t *a);
/* Frees every heap block; the arena can be used again. */
void sy_arena_reset(sy_arena_t *a);
void sy_arena_dispose(sy_arena_t *a);
/* 16-byte aligned; aborts on OOM. */
void *sy_arena_alloc(sy_arena_t *a, size_t n);
char *sy_arena_strndup(sy_arena_t *a, const char *s, size_t n);
/* Like sy_arena_alloc, for bytes that hold a secret (a provider key's header line): they are
 * zeroed (explicit_bzero) when the arena is reset or disposed, before its memory is freed or
 * reused. */
void *sy_arena_alloc_secret(sy_arena_t *a, size_t n);

#endif
