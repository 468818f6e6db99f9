/* Allocation that never returns NULL: out of memory aborts here, in one place (STYLE: Memory 3). */
#ifndef SY_CORE_ALLOC_H
#define SY_CORE_ALLOC_H
#include <stddef.h>

void *sy_xmalloc(size_t n);
void *sy_xcalloc(size_t n, size_t size);
void *sy_xrealloc(void *p, size_t n);
char *sy_xstrdup(const char *s);
char *sy_xstrndup(const char *s, size_t n);

#endif
