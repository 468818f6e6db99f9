/* Internals shared by logpipe/capture.c (the tee, the jansson extraction, the driver) and
 * logpipe/capture_fast.c (the jansson-free reading of common events); nothing else includes
 * this. Writer thread only. */
#ifndef SY_LOGPIPE_CAPTURE_INT_H
#define SY_LOGPIPE_CAPTURE_INT_H
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/str.h"
#include "logpipe/capture.h"

#define MAX_SLOTS 256              /* tool-call indexes / content blocks tracked per response */
#define UNBOUNDED ((size_t)-1 / 2) /* result buffers: bounded by the captured bytes anyway */

typedef enum { BLOCK_NONE = 0, BLOCK_TEXT, BLOCK_THINKING, BLOCK_TOOL } block_kind_t;

typedef struct slot {
    bool used;
    block_kind_t kind; /* Anthropic content block kind */
    bool has_delta;    /* arguments came as deltas */
    char *id;
    char *name;
    sy_buf_t args;
} slot_t;

typedef struct ex {
    int format;
    bool fast; /* try the jansson-free reading of each event first */
    sy_capture_result_t *r;
    slot_t *slots; /* by tool index (OpenAI) or content block index (Anthropic), < MAX_SLOTS;
                      NULL until the first is used, grown as indexes come */
    int n_slots;   /* slots[n_slots..] are unused */
    int cap_slots; /* slots allocated (zeroed beyond n_slots) */
    int64_t in, out, cache_read, cache_write; /* Anthropic raw usage, -1 = absent */
    sy_buf_t env;      /* fast path: the previous OpenAI chunk's bytes up to its first
                          "choices"/"usage" key (its envelope); empty = none */
    unsigned env_seen; /* the top-level names (bits) read in env */
    sy_buf_t scratch;  /* fast path: '{' + the rest of a chunk after a repeated envelope */
} ex_t;

/* The slot for index i (created on first use; NULL when i is out of [0, MAX_SLOTS)). */
slot_t *sy_capture_slot_of(ex_t *x, int64_t i);
/* An event (chunk) or a whole non-stream reply read without jansson; false (nothing changed)
 * when the jansson path must run (capture_fast.c). */
bool sy_capture_fast_doc(ex_t *x, sy_str_t data, bool chunk);

#endif
