#include "core/arena.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

struct sy_arena_block {
    sy_arena_block_t *next;
    size_t size;
    char data[] __attribute__((aligned(16)));
};

struct sy_arena_wipe {
    sy_arena_wipe_t *next;
    void *p;
    size_t n;
};

#define BLOCK_SIZE 16384

void sy_arena_init(sy_arena_t *a)
{
    a->blocks = NULL;
    a->wipe = NULL;
    a->cur = a->inline_buf;
    a->left = sizeof a->inline_buf;
}

void sy_arena_reset(sy_arena_t *a)
{
    for (sy_arena_wipe_t *w = a->wipe; w; w = w->next) /* the records live in the arena too */
        explicit_bzero(w->p, w->n);
    sy_arena_block_t *b = a->blocks;
    while (b) {
        sy_arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    sy_arena_init(a);
}

void sy_arena_dispose(sy_arena_t *a)
{
    sy_arena_reset(a);
}

void *sy_arena_alloc(sy_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n > a->left) {
        size_t size = n > BLOCK_SIZE / 2 ? n : BLOCK_SIZE;
        sy_arena_block_t *b = sy_xmalloc(sizeof *b + size);
        b->size = size;
        b->next = a->blocks;
        a->blocks = b;
        if (size == n) return b->data; /* dedicated block: keep the current one for small allocs */
        a->cur = b->data;
        a->left = size;
    }
    void *p = a->cur;
    a->cur += n;
    a->left -= n;
    return p;
}

char *sy_arena_strndup(sy_arena_t *a, const char *s, size_t n)
{
    char *p = sy_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *sy_arena_alloc_secret(sy_arena_t *a, size_t n)
{
    void *p = sy_arena_alloc(a, n);
    sy_arena_wipe_t *w = sy_arena_alloc(a, sizeof *w);
    *w = (sy_arena_wipe_t){a->wipe, p, n};
    a->wipe = w;
    return p;
}
