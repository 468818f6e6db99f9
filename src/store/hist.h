/* Latency histogram for the stats rollups: sparse log-linear buckets (HDR-histogram style) over
 * non-negative int64 values (µs), with a bounded relative error and a compact byte encoding.
 *
 * Buckets: a value v < 128 has its own bucket (exact). Above, every power of two [2^e, 2^(e+1))
 * is cut into 64 equal sub-buckets, so a bucket's width is at most 1/64 of its lower bound.
 * A value read back from a bucket is the bucket's midpoint: |reported - v| <= v / 128
 * (SY_HIST_REL_ERROR, 0.79 %) for every v that fell in it. 3,712 buckets cover all of int64.
 *
 * Percentiles use the same nearest-rank definition as the exact stats path: the bucket holding
 * the value at 1-based rank ceil(p/100 * n) in ascending order, reported as above. So a
 * histogram percentile differs from the exact nearest-rank value by at most SY_HIST_REL_ERROR
 * of it (and is exact below 128).
 *
 * In memory a histogram is a dense window of counters over the buckets actually touched (a cell
 * of real latencies spans a few octaves: a few hundred counters), grown on demand. Not
 * thread-safe; owned by whoever embeds it.
 *
 * Encoding (SY_HIST_VERSION 1): a version byte, then for every non-empty bucket in ascending
 * order a LEB128 varint gap (bucket index - previous index - 1; the first is the index itself)
 * and a LEB128 varint count (>= 1). An empty histogram is the version byte alone. Decoding
 * refuses (SY_ERR_CORRUPT, histogram unchanged) an unknown version, a truncated or overlong
 * varint, a zero count, an index past the last bucket, or a total that overflows. */
#ifndef SY_STORE_HIST_H
#define SY_STORE_HIST_H
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define SY_HIST_VERSION 1
#define SY_HIST_BUCKETS 3712 /* bucket indexes 0 .. SY_HIST_BUCKETS-1 */
/* Worst-case relative error of a reported value or percentile (1/128). */
#define SY_HIST_REL_ERROR (1.0 / 128.0)
/* Longest possible encoding: version + every bucket with a 2-byte gap... a 10-byte count. */
#define SY_HIST_ENCODED_MAX (1 + (size_t)SY_HIST_BUCKETS * 12)

typedef struct sy_hist {
    uint64_t *c;    /* counters for buckets [lo, lo + n) */
    uint32_t lo, n; /* window; n == 0: nothing allocated */
    uint64_t total; /* sum of all counters */
    /* every non-zero counter is a bucket in [ulo, uhi) (ulo == uhi: none since the last reset):
     * a reused histogram's window grows to every cell it ever held, while _reset, _merge,
     * the percentiles and the encoding only walk what this cell touched */
    uint32_t ulo, uhi;
} sy_hist_t;

/* Zero-initialisation is a valid empty histogram; _dispose frees, _reset empties and keeps the
 * memory. */
void sy_hist_dispose(sy_hist_t *h);
void sy_hist_reset(sy_hist_t *h);
/* Bucket index of v (v < 0 counts as 0) and the value reported for a bucket. */
uint32_t sy_hist_index(int64_t v);
int64_t sy_hist_value(uint32_t idx);
/* Counts v (negative: ignored — unknown values are not recorded) count times. */
void sy_hist_add(sy_hist_t *h, int64_t v, uint64_t count);
/* Counts bucket idx (< SY_HIST_BUCKETS; others ignored) count times: for histograms whose
 * bucket indexes were computed elsewhere (ClickHouse computes them in SQL). */
void sy_hist_add_index(sy_hist_t *h, uint32_t idx, uint64_t count);
/* dst += src. */
void sy_hist_merge(sy_hist_t *dst, const sy_hist_t *src);
/* Nearest-rank p-th percentile (0 < p <= 100) as described above; -1 when empty. */
int64_t sy_hist_percentile(const sy_hist_t *h, int p);
/* sy_hist_percentile of each of p[0, n) (ascending) into out[0, n), in one pass. */
void sy_hist_percentiles(const sy_hist_t *h, const int *p, size_t n, int64_t *out);
/* Appends the encoding to out (out's max must allow SY_HIST_ENCODED_MAX more bytes, else
 * SY_ERR_TOO_LARGE with out unchanged). */
sy_err_t sy_hist_encode(const sy_hist_t *h, sy_buf_t *out);
/* h += the decoded histogram. SY_ERR_CORRUPT (h unchanged) on malformed input. */
sy_err_t sy_hist_merge_encoded(sy_hist_t *h, const void *data, size_t len);

#endif
