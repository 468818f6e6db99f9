/* Private to src/core/jsonschema.c (compile) and jsonschema_validate.c: the compiled form.
 * One jnode_t per schema object (or boolean schema); the graph may be cyclic through $ref. */
#ifndef SY_CORE_JSONSCHEMA_INT_H
#define SY_CORE_JSONSCHEMA_INT_H
#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/arena.h"
#include "core/jsonschema.h"

enum {
    T_NULL = 1,
    T_BOOLEAN = 2,
    T_OBJECT = 4,
    T_ARRAY = 8,
    T_NUMBER = 16,
    T_STRING = 32,
    T_INTEGER = 64,
};
/* names of the type bits, in bit order */
extern const char *const sy_jschema_type_names[7];

typedef struct jnode jnode_t;
typedef struct {
    const char *name; /* borrowed from the schema copy */
    size_t len;
    jnode_t *s;
} named_t;
typedef struct {
    pcre2_code *re;
    jnode_t *s;
} pat_t;
typedef struct {
    const char *name;
    size_t len;
    const json_t *req; /* array of strings */
} dreq_t;

struct jnode {
    int boolean;     /* -1: an object schema; 0: false; 1: true */
    const char *loc; /* schema location (JSON pointer), for compile errors */
    bool ref_only;   /* draft-07: $ref present, every sibling ignored */
    jnode_t *ref;
    bool has_type, has_const, unique;
    unsigned types;
    const json_t *enum_v, *const_v;
    const json_t *minimum, *maximum, *xminimum, *xmaximum, *multiple_of;
    long long min_len, max_len, min_items, max_items, min_props, max_props;
    long long min_contains, max_contains; /* -1: absent */
    pcre2_code *pattern;
    jnode_t **prefix;
    size_t nprefix;
    jnode_t *items; /* for the items after the prefix */
    jnode_t *contains;
    jnode_t *uneval_items;
    named_t *props; /* sorted by (len, bytes) */
    size_t nprops;
    pat_t *pats;
    size_t npats;
    jnode_t *additional, *prop_names, *uneval_props;
    const json_t *required;
    dreq_t *dreq;
    size_t ndreq;
    named_t *dsch;
    size_t ndsch;
    jnode_t **all_of, **any_of, **one_of;
    size_t nall, nany, none;
    jnode_t *not_, *if_, *then_, *else_;
    int mark; /* cycle search colour */
};

struct sy_jschema {
    json_t *doc;
    jnode_t *root;
    sy_arena_t arena; /* nodes, arrays, locations: freed at once */
    pcre2_code **codes;
    size_t ncodes;
    pcre2_match_context *mctx;
};

/* Order of the properties/dependentSchemas arrays (sorted for binary search): length, bytes. */
static inline int named_cmp(const void *a, const void *b)
{
    const named_t *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return memcmp(x->name, y->name, x->len);
}

/* Appends one JSON pointer segment (RFC 6901 escaping) to a bounded path; returns the old
 * length for the matching pop. A segment that does not fit is cut: the path then ends at the
 * buffer's capacity, which the error writer shows as "...". */
size_t sy_jschema_path_push(char *buf, size_t cap, size_t *len, const char *seg, size_t n);
void sy_jschema_path_pop(char *buf, size_t *len, size_t old);

#endif
