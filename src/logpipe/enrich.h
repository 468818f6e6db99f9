/* Writer-thread enrichment of inference-log rows: the pipeline's transform hook
 * (sy_logpipe_conf_t.transform). A loop thread submits a row with the raw request body and,
 * attached as r->aux, the response capture (sy_log_aux_t); on the writer thread this module
 * parses the capture (usage, text, tool calls), estimates tokens when the upstream gave none,
 * prices the call and redacts and caps both bodies, so none of that costs the request.
 * Docs: docs/internals/LOGPIPE.md ("Enrichment").
 *
 * Threads: sy_log_enrich_t is immutable after setup; transform runs on the writer thread,
 * discard on any thread. */
#ifndef SY_LOGPIPE_ENRICH_H
#define SY_LOGPIPE_ENRICH_H
#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "logpipe/capture.h"
#include "logpipe/record.h"
#include "logpipe/redact.h"

/* What a producer attaches to a row (heap, sy_xmalloc; the hook frees it). */
typedef struct sy_log_aux {
    sy_capture_t cap; /* the response bytes sent to the client (moved in; disposed here) */
    bool has_capture; /* false: response_body of the row is used as is (e.g. an error body) */
    int format;       /* SY_CAPTURE_OPENAI / SY_CAPTURE_ANTHROPIC */
    bool sse;         /* the response was an event stream */
    /* Optional: told the row's usage once it is known, exactly once: from the transform with
     * the tokens (input + output, as the row has them; -1 unknown) and cost (nano-USD, as the
     * row; -1 unknown), or from the discard hook with -1, -1 when the row is dropped. The rate
     * limiter reconciles its reservation here (api/admission.h). Writer thread (transform) or
     * any thread (discard). */
    void (*settle)(void *arg, int64_t tokens, int64_t cost_nanousd);
    void *settle_arg;
} sy_log_aux_t;

typedef struct sy_log_enrich {
    const sy_config_t *cfg;    /* prices */
    const sy_redact_t *redact; /* NULL: no redaction */
    size_t max_body_bytes;     /* cap per stored body */
    bool bodies;               /* false: bodies are not stored (sizes still are) */
    /* Optional: sees every enriched row (writer thread) before it is spooled, e.g. the token
     * and cost counters of /metrics. Must not keep r. */
    void (*on_row)(const sy_log_record_t *r);
} sy_log_enrich_t;

/* Transform hook: ctx is a sy_log_enrich_t. Takes ownership of r and r->aux; returns a new
 * owned record. Never fails. */
sy_log_record_t *sy_log_enrich_transform(void *ctx, sy_log_record_t *r);
/* Discard hook: releases r->aux. */
void sy_log_enrich_discard(void *ctx, sy_log_record_t *r);

#endif
