/* Helpers shared by the bench tools (mock_upstream.c, loadgen.c): fatal errors and
 * allocation that aborts on OOM. Each tool sets bench_prog before anything can fail. */
#ifndef SY_BENCH_COMMON_H
#define SY_BENCH_COMMON_H
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *bench_prog = "bench";

__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", bench_prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) abort();
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL) abort();
    return p;
}

#endif
