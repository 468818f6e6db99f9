/* The inference log as the gateway runs it: opens and migrates the store, compiles the
 * redactor from `log.redact`, and starts the pipeline (logpipe/pipeline.h) with one producer
 * per worker and the enrichment hook (logpipe/enrich.h). Main thread only, at start and at
 * shutdown (after every worker has been joined). */
#ifndef SY_INFLOG_H
#define SY_INFLOG_H
#include "conf/config.h"
#include "logpipe/enrich.h"
#include "logpipe/pipeline.h"
#include "store/store.h"

typedef struct sy_inflog {
    sy_store_t *store;
    sy_redact_t *redact;
    sy_logpipe_t *pipe;
    sy_log_enrich_t enrich;
} sy_inflog_t;

/* Starts everything for n_workers producers. On failure prints one line to stderr
 * ("FILE:LINE: log.redact...: message" for config problems) and returns the exit code (2 for
 * configuration and schema errors, 1 for runtime failures); 0 on success. Logging disabled:
 * returns 0 with everything NULL. */
int sy_inflog_start(sy_inflog_t *l, const sy_config_t *cfg, size_t n_workers);
/* What check-config can verify without touching the disk: the `log.redact` section compiles.
 * Prints the same message as sy_inflog_start and returns its exit code, or 0. */
int sy_inflog_check(const sy_config_t *cfg);
/* Drains the pipeline (final store write), frees everything. Safe on a zeroed struct. */
void sy_inflog_stop(sy_inflog_t *l);

#endif
