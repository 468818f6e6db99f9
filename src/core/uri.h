/* URI reference resolution (RFC 3986 section 5.2), for JSON Schema $id/$ref. Hand-written:
 * curl's URL API refuses "urn:" and other non-hierarchical bases that $id may use. Pure
 * functions, any thread. */
#ifndef SY_CORE_URI_H
#define SY_CORE_URI_H
#include "core/arena.h"

/* Resolves ref against base (both NUL-terminated; base may be "" or relative, then the result
 * is too) and returns the target URI, dot segments removed, in arena memory. */
char *sy_uri_resolve(sy_arena_t *a, const char *base, const char *ref);

#endif
