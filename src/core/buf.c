#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

void sy_buf_init(sy_buf_t *b, size_t max)
{
    b->base = NULL;
    b->len = b->cap = 0;
    b->max = max;
    b->secret = false;
}

void sy_buf_dispose(sy_buf_t *b)
{
    if (b->secret && b->base) explicit_bzero(b->base, b->cap);
    free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
}

char *sy_buf_reserve(sy_buf_t *b, size_t n, sy_err_t *err)
{
    if (n > b->max || b->len > b->max - n) {
        *err = SY_ERR_TOO_LARGE;
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        if (cap > b->max) cap = b->max;
        if (b->secret && b->base) {
            char *nb = sy_xmalloc(cap);
            memcpy(nb, b->base, b->len);
            explicit_bzero(b->base, b->cap);
            free(b->base);
            b->base = nb;
        } else {
            b->base = sy_xrealloc(b->base, cap);
        }
        b->cap = cap;
    }
    *err = SY_OK;
    return b->base + b->len;
}

sy_err_t sy_buf_append(sy_buf_t *b, const void *p, size_t n)
{
    sy_err_t err;
    if (n == 0) return SY_OK;
    char *dst = sy_buf_reserve(b, n, &err);
    if (!dst) return err;
    memcpy(dst, p, n);
    b->len += n;
    return SY_OK;
}

sy_err_t sy_buf_append_c(sy_buf_t *b, const char *s)
{
    return sy_buf_append(b, s, strlen(s));
}

sy_err_t sy_buf_printf(sy_buf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return SY_ERR_INTERNAL;
    if ((size_t)n < sizeof tmp) return sy_buf_append(b, tmp, (size_t)n);
    sy_err_t err;
    char *dst = sy_buf_reserve(b, (size_t)n + 1, &err);
    if (!dst) return err;
    va_start(ap, fmt);
    vsnprintf(dst, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return SY_OK;
}

void sy_buf_consume(sy_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->base, b->base + n, b->len - n);
    b->len -= n;
}
