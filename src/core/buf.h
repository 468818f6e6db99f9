/* Growable byte buffer with an explicit maximum (curl dynbuf). Appending past the maximum fails
 * with SY_ERR_TOO_LARGE and leaves the buffer unchanged: no client or upstream can make us grow
 * without bound. The buffer owns its heap memory; sy_buf_dispose frees it. Not thread-safe. */
#ifndef SY_CORE_BUF_H
#define SY_CORE_BUF_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

typedef struct sy_buf {
    char *base;
    size_t len;
    size_t cap;
    size_t max;  /* hard limit on len */
    bool secret; /* may hold a secret: growth and dispose leave no copy in freed heap */
} sy_buf_t;

void sy_buf_init(sy_buf_t *b, size_t max);
/* Marks b as one that may hold a secret (an HTTP request body, received bytes: a credential
 * PUT): growing copies into a new block and zeroes the old one before freeing it (realloc
 * would leave the old bytes in freed heap), and sy_buf_dispose zeroes the block. Zeroing what
 * is in use stays the owner's job. */
static inline void sy_buf_set_secret(sy_buf_t *b)
{
    b->secret = true;
}
void sy_buf_dispose(sy_buf_t *b);
/* Keeps the allocation, forgets the contents. */
static inline void sy_buf_reset(sy_buf_t *b)
{
    b->len = 0;
}
sy_err_t sy_buf_append(sy_buf_t *b, const void *p, size_t n);
sy_err_t sy_buf_append_c(sy_buf_t *b, const char *s);
sy_err_t sy_buf_printf(sy_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ensures room for n more bytes and returns a pointer to them (caller then adds n to len). */
char *sy_buf_reserve(sy_buf_t *b, size_t n, sy_err_t *err);
/* Removes the first n bytes. */
void sy_buf_consume(sy_buf_t *b, size_t n);

#endif
