/* The JSON of the inference-log API (GET /api/v1/logs, /api/v1/logs/{id}, /api/v1/stats) and
 * its parameter rules, as pure functions so that unit tests reach them without a server.
 * Any thread (the handlers in api/logs.c call them on libuv's thread pool). docs/API.md
 * describes the shapes. */
#ifndef SY_API_LOGS_FMT_H
#define SY_API_LOGS_FMT_H
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "logpipe/record.h"
#include "store/store.h"

/* Largest accepted bucket: 366 days. */
#define SY_LOGS_MAX_BUCKET_S (366 * 86400)
/* The default bucket gives at most this many buckets over the range. */
#define SY_LOGS_DEFAULT_BUCKETS 300

/* Appends one row as a JSON object: every column with its name (times as RFC 3339 plus the
 * raw *_us integer, cost as cost_usd exact decimal plus cost_nanousd, unknown values null,
 * tags an array, metadata the object itself). with_bodies: also request_body/response_body
 * (strings, null when not stored). SY_ERR_TOO_LARGE when b's maximum would be exceeded (b may
 * then hold a partial object: cut it back to its old length). */
sy_err_t sy_logs_row_json(sy_buf_t *b, const sy_log_record_t *r, bool with_bodies);

/* Where the stats percentiles come from, for the "percentiles" field: "exact" (nearest rank
 * over raw rows) or "approximate" (the store's rollup histograms, within
 * SY_STORE_STATS_PCT_REL_ERROR). */
const char *sy_logs_percentiles_kind(const sy_store_t *s, const sy_stats_result_t *res);

/* The totals of a stats answer: the cells' additive fields summed (count, errors, tokens, the
 * ok-row sums behind tokens_per_s, known cost and unknown-cost rows), so they are exact without
 * a second store query. cost_nanousd stays SY_LOG_UNKNOWN when no cell has a known cost. */
void sy_logs_stats_totals(const sy_stats_result_t *cells, sy_stats_row_t *tot);

/* Appends the whole /api/v1/stats answer. cells: query_stats over q; totals: query_stats over
 * the whole range in one bucket with no grouping (its first row, or none when the range is
 * empty). SY_ERR_TOO_LARGE when b's maximum would be exceeded. */
sy_err_t sy_logs_stats_json(sy_buf_t *b, const sy_stats_query_t *q, const char *percentiles,
                            const sy_stats_result_t *cells, const sy_stats_result_t *totals);

/* Names for group_by: "none", "model", "provider", "key"; parse returns false when unknown. */
const char *sy_logs_group_name(sy_stats_group_t g);
bool sy_logs_group_parse(sy_str_t s, sy_stats_group_t *g);

/* A bucket width: "60s", "5m", "1h", "1d" or whole seconds "300"; 1 s .. SY_LOGS_MAX_BUCKET_S.
 * false when malformed or out of range. */
bool sy_logs_bucket_parse(sy_str_t s, int64_t *seconds);
/* The smallest "nice" width (1, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h,
 * 1, 2, 7, 14, 30, 91, 183, 366 d) that splits [from_us, to_us) into at most
 * SY_LOGS_DEFAULT_BUCKETS epoch-aligned buckets (the widest one when none does). */
int64_t sy_logs_bucket_default(int64_t from_us, int64_t to_us);
/* Epoch-aligned buckets that [from_us, to_us) touches with this width. */
int64_t sy_logs_bucket_count(int64_t from_us, int64_t to_us, int64_t bucket_us);

#endif
