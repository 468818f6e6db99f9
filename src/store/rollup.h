/* The per-minute stats rollup shared by the SQL backends (SQLite, PostgreSQL): what one batch
 * adds to the stats_minute rows it touches, and how query_stats merges stats_minute rows into
 * (bucket, group) cells. Only the SQL that reads and writes the rows lives in the backends.
 * docs/internals/STORE.md, "Stats rollup".
 *
 * A stats_minute row is keyed by (minute, model, provider, key_id) and holds SY_ROLLUP_NV
 * counters (order of the SY_ROLLUP_* indexes below) plus two store/hist.h encodings (known
 * latencies and TTFTs). Not thread-safe; every object belongs to the one call using it. */
#ifndef SY_STORE_ROLLUP_H
#define SY_STORE_ROLLUP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "logpipe/record.h"
#include "store/hist.h"
#include "store/store.h"

#define SY_ROLLUP_MINUTE_US INT64_C(60000000)

/* Counter indexes of a stats_minute row: sums are over known values; COST sums known costs
 * and COST_UNKNOWN counts NULL ones; OK_OUT / OK_LAT are the tokens/s terms (status ok, output
 * and latency both known). */
enum {
    SY_ROLLUP_COUNT,
    SY_ROLLUP_ERRORS,
    SY_ROLLUP_IN,
    SY_ROLLUP_OUT,
    SY_ROLLUP_COST,
    SY_ROLLUP_COST_UNKNOWN,
    SY_ROLLUP_OK_OUT,
    SY_ROLLUP_OK_LAT,
    SY_ROLLUP_NV
};

/* The key of a stats_minute row. Strings are borrowed; ptr NULL = SQL NULL. */
typedef struct sy_rollup_key {
    int64_t minute_us;
    sy_str_t model, provider, key_id;
} sy_rollup_key_t;

/* The minute a record counts in (an unknown receive time is stored as 0). */
int64_t sy_rollup_minute(const sy_log_record_t *r);
/* Total order on keys: minute, then model, provider, key_id; NULL first, then bytes. */
int sy_rollup_key_cmp(const sy_rollup_key_t *a, const sy_rollup_key_t *b);

/* ---- write side: one batch's cells ---------------------------------------------------------- */

typedef struct sy_rollup_cell {
    sy_rollup_key_t key; /* borrows the batch's records */
    int64_t v[SY_ROLLUP_NV];
    sy_hist_t lat, ttft;
    void *stored; /* for the backend: e.g. which stored row this cell merged (NULL: new) */
} sy_rollup_cell_t;

typedef struct sy_rollup_batch {
    sy_rollup_cell_t *cells; /* sorted by key */
    size_t n, cap;
} sy_rollup_batch_t;

/* Folds recs (the rows a batch actually inserted; reordered here) into cells, sorted by key.
 * b may be reused: its previous cells are dropped (memory kept). Keys borrow recs' strings. */
void sy_rollup_batch_build(sy_rollup_batch_t *b, const sy_log_record_t **recs, size_t n);
void sy_rollup_batch_dispose(sy_rollup_batch_t *b);
/* The cell with key k, NULL if the batch has none. */
sy_rollup_cell_t *sy_rollup_batch_find(sy_rollup_batch_t *b, const sy_rollup_key_t *k);
/* Adds a stored row (counters in SY_ROLLUP_* order, encoded histograms) to the cell.
 * SY_ERR_CORRUPT when a histogram does not decode (the cell's histograms are then unchanged). */
sy_err_t sy_rollup_cell_add_stored(sy_rollup_cell_t *c, const int64_t v[SY_ROLLUP_NV],
                                   const void *lat, size_t lat_len, const void *ttft,
                                   size_t ttft_len);
/* Appends the latency then the TTFT encoding to out; *lat_len receives the first one's length.
 * SY_ERR_TOO_LARGE when out's max does not allow them. */
sy_err_t sy_rollup_cell_encode(const sy_rollup_cell_t *c, sy_buf_t *out, size_t *lat_len);

/* ---- read side: stats_minute rows → sy_stats_row_t cells ------------------------------------ */

/* Whether q can be answered from whole minutes (from, to and bucket multiples of a minute). */
bool sy_rollup_aligned(const sy_stats_query_t *q);

typedef struct sy_rollup_reader sy_rollup_reader_t;
/* A reader appends to res (which must be zeroed) and sets res->approximate_percentiles. */
sy_rollup_reader_t *sy_rollup_reader_new(const sy_stats_query_t *q, sy_stats_result_t *res);
/* One stats_minute row, in ascending minute order (rows of one minute in any order): group is
 * the query's group column (NULL ptr for SQL NULL or GROUP_NONE). SY_ERR_CORRUPT for a
 * histogram that does not decode. */
sy_err_t sy_rollup_reader_add(sy_rollup_reader_t *rd, int64_t minute_us, sy_str_t group,
                              const int64_t v[SY_ROLLUP_NV], const void *lat, size_t lat_len,
                              const void *ttft, size_t ttft_len);
/* Emits the last bucket's cells and frees the reader (NULL is fine). */
void sy_rollup_reader_finish(sy_rollup_reader_t *rd);

#endif
