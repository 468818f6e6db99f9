/* JSON Schema validation (draft 2020-12 and draft-07/06) on jansson values, for structured
 * output (response_format json_schema). See docs/internals/JSONSCHEMA.md for what is supported.
 *
 * Compile once, validate many times. A compiled schema is immutable: any number of threads may
 * validate with it at once. Nothing here blocks or does I/O; remote $refs are refused at compile
 * time. Validation of one instance allocates only small per-call state (PCRE2 match data,
 * annotation bit sets for unevaluated*), all freed before it returns. */
#ifndef SY_CORE_JSONSCHEMA_H
#define SY_CORE_JSONSCHEMA_H
#include <jansson.h>
#include <stddef.h>

typedef struct sy_jschema sy_jschema_t;

/* One validation error: path is the RFC 6901 JSON pointer of the instance location ("" = the
 * whole document; truncated with "..." past 255 bytes), message a short English sentence. */
typedef struct {
    char path[256];
    char message[256];
} sy_jschema_error_t;

/* Which draft's rules apply when the schema has no (recognised) "$schema". */
typedef enum sy_jschema_draft {
    SY_JSCHEMA_DRAFT_AUTO = 0, /* from "$schema"; without one, 2020-12 */
    SY_JSCHEMA_DRAFT_07,       /* draft-07 (and draft-06): $ref siblings are ignored */
    SY_JSCHEMA_DRAFT_2020_12,
} sy_jschema_draft_t;

/* Compiles (checks) a schema; NULL + a message "at /properties/x: ..." in err when it is not a
 * valid schema of the supported drafts (bad keyword value, invalid regex, unresolvable or
 * remote $ref, $ref cycle without progress, nesting past 256 levels, over 64 KiB as compact JSON,
 * over 10,000 subschemas or 256 regexes). The schema is copied
 * (the caller keeps its reference). Any thread. */
sy_jschema_t *sy_jschema_compile(const json_t *schema, char *err, size_t err_len);

/* Same, with the draft to assume when "$schema" is absent (the official test suite is per
 * draft). */
sy_jschema_t *sy_jschema_compile_draft(const json_t *schema, sy_jschema_draft_t draft, char *err,
                                       size_t err_len);

/* Validates; returns the number of errors found (0 = valid), writing at most max of them to
 * errs (errs may be NULL when max is 0; instance NULL is one error at ""). Errors inside
 * anyOf/oneOf/not/if branches are not listed one by one: the combinator reports one error,
 * or, when exactly one anyOf/oneOf branch admits the value's type, that branch's errors.
 * Evaluation nested past 1000 levels (schema nodes, so about 500 instance levels through a
 * recursive $ref) counts as one error. Past 1,000,000 schema node visits or 10,000,000 regex
 * steps (a $ref DAG reached along exponentially many paths), validation stops with the single
 * error "schema evaluation too expensive" at "". Any thread; s is not modified. */
size_t sy_jschema_validate(const sy_jschema_t *s, const json_t *instance, sy_jschema_error_t *errs,
                           size_t max);

/* Frees a compiled schema; NULL is fine. */
void sy_jschema_free(sy_jschema_t *s);

#endif
