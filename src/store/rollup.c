/* The per-minute stats rollup shared by SQLite and PostgreSQL (rollup.h).
 *
 * DESIGN
 *   Write: the rows a batch inserted are sorted by (minute, model, provider, key_id) and folded
 *   into one cell per key; the backend reads the stored rows of those keys, adds them
 *   (sy_rollup_cell_add_stored) and writes the cells back — all in the batch's transaction.
 *   Read: stats_minute rows arrive in minute order, so the cells of one bucket are complete when
 *   the bucket changes; only that bucket's cells (one per group, found through a small open
 *   addressing table) are open at a time, and they are emitted sorted by group. */
#include "store/rollup.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

int64_t sy_rollup_minute(const sy_log_record_t *r)
{
    int64_t t = r->t_received_us < 0 ? 0 : r->t_received_us; /* as the backends store it */
    return t - t % SY_ROLLUP_MINUTE_US;
}

/* NULL first, then bytes (memcmp, shorter first on a common prefix) */
static int cmp_str(sy_str_t a, sy_str_t b)
{
    if (!a.ptr || !b.ptr) return (a.ptr != NULL) - (b.ptr != NULL);
    int c = memcmp(a.ptr, b.ptr, a.len < b.len ? a.len : b.len);
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

int sy_rollup_key_cmp(const sy_rollup_key_t *a, const sy_rollup_key_t *b)
{
    if (a->minute_us != b->minute_us) return a->minute_us < b->minute_us ? -1 : 1;
    int c = cmp_str(a->model, b->model);
    if (!c) c = cmp_str(a->provider, b->provider);
    if (!c) c = cmp_str(a->key_id, b->key_id);
    return c;
}

static sy_rollup_key_t key_of(const sy_log_record_t *r)
{
    return (sy_rollup_key_t){sy_rollup_minute(r), r->model, r->provider, r->key_id};
}

static int cmp_rec(const void *pa, const void *pb)
{
    sy_rollup_key_t a = key_of(*(const sy_log_record_t *const *)pa),
                    b = key_of(*(const sy_log_record_t *const *)pb);
    return sy_rollup_key_cmp(&a, &b);
}

static void cell_add(sy_rollup_cell_t *c, const sy_log_record_t *r)
{
    bool ok = r->status == SY_LOG_STATUS_OK;
    c->v[SY_ROLLUP_COUNT]++;
    c->v[SY_ROLLUP_ERRORS] += !ok;
    if (r->input_tokens >= 0) c->v[SY_ROLLUP_IN] += r->input_tokens;
    if (r->output_tokens >= 0) c->v[SY_ROLLUP_OUT] += r->output_tokens;
    if (r->cost_nanousd >= 0)
        c->v[SY_ROLLUP_COST] += r->cost_nanousd;
    else
        c->v[SY_ROLLUP_COST_UNKNOWN]++;
    if (ok && r->output_tokens >= 0 && r->latency_us >= 0) {
        c->v[SY_ROLLUP_OK_OUT] += r->output_tokens;
        c->v[SY_ROLLUP_OK_LAT] += r->latency_us;
    }
    sy_hist_add(&c->lat, r->latency_us, 1);
    sy_hist_add(&c->ttft, r->ttft_us, 1);
}

void sy_rollup_batch_build(sy_rollup_batch_t *b, const sy_log_record_t **recs, size_t n)
{
    for (size_t i = 0; i < b->n; i++) {
        sy_hist_reset(&b->cells[i].lat);
        sy_hist_reset(&b->cells[i].ttft);
    }
    b->n = 0;
    qsort(recs, n, sizeof(*recs), cmp_rec);
    for (size_t i = 0; i < n; i++) {
        sy_rollup_key_t k = key_of(recs[i]);
        if (!b->n || sy_rollup_key_cmp(&b->cells[b->n - 1].key, &k) != 0) {
            if (b->n == b->cap) {
                size_t nc = b->cap ? b->cap * 2 : 16;
                b->cells = sy_xrealloc(b->cells, nc * sizeof(*b->cells));
                memset(b->cells + b->cap, 0, (nc - b->cap) * sizeof(*b->cells));
                b->cap = nc;
            }
            sy_rollup_cell_t *c = &b->cells[b->n++];
            c->key = k;
            memset(c->v, 0, sizeof(c->v));
            c->stored = NULL;
        }
        cell_add(&b->cells[b->n - 1], recs[i]);
    }
}

void sy_rollup_batch_dispose(sy_rollup_batch_t *b)
{
    for (size_t i = 0; i < b->cap; i++) {
        sy_hist_dispose(&b->cells[i].lat);
        sy_hist_dispose(&b->cells[i].ttft);
    }
    free(b->cells);
    memset(b, 0, sizeof(*b));
}

sy_rollup_cell_t *sy_rollup_batch_find(sy_rollup_batch_t *b, const sy_rollup_key_t *k)
{
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = sy_rollup_key_cmp(&b->cells[mid].key, k);
        if (c == 0) return &b->cells[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

sy_err_t sy_rollup_cell_add_stored(sy_rollup_cell_t *c, const int64_t v[SY_ROLLUP_NV],
                                   const void *lat, size_t lat_len, const void *ttft,
                                   size_t ttft_len)
{
    sy_hist_t l = {0}, t = {0};
    sy_err_t err = sy_hist_merge_encoded(&l, lat, lat_len);
    if (!err) err = sy_hist_merge_encoded(&t, ttft, ttft_len);
    if (!err) {
        sy_hist_merge(&c->lat, &l);
        sy_hist_merge(&c->ttft, &t);
        for (int i = 0; i < SY_ROLLUP_NV; i++)
            c->v[i] += v[i];
    }
    sy_hist_dispose(&l);
    sy_hist_dispose(&t);
    return err;
}

sy_err_t sy_rollup_cell_encode(const sy_rollup_cell_t *c, sy_buf_t *out, size_t *lat_len)
{
    size_t start = out->len;
    sy_err_t err = sy_hist_encode(&c->lat, out);
    if (err) return err;
    *lat_len = out->len - start;
    err = sy_hist_encode(&c->ttft, out);
    if (err) out->len = start;
    return err;
}

/* ---- read ----------------------------------------------------------------------------------- */

bool sy_rollup_aligned(const sy_stats_query_t *q)
{
    return q->from_us % SY_ROLLUP_MINUTE_US == 0 && q->to_us % SY_ROLLUP_MINUTE_US == 0 &&
           q->bucket_us % SY_ROLLUP_MINUTE_US == 0;
}

/* One open cell of the bucket being read; kept (with its histograms' memory) across buckets. */
typedef struct rcell {
    sy_stats_row_t row;
    size_t glen;   /* strlen(row.group) */
    uint32_t hash; /* of the group (0 for NULL) */
    int64_t cost_known, tok_out_ok, lat_ok_us;
    sy_hist_t lat, ttft;
} rcell_t;

struct sy_rollup_reader {
    int64_t bucket_us, bucket;
    sy_stats_result_t *res;
    size_t res_cap;
    rcell_t *cells;
    size_t n, alloc;
    uint32_t *slots; /* cell index + 1; 0 = empty */
    size_t nslots;
};

static int cmp_rcell(const void *pa, const void *pb)
{
    const char *a = ((const rcell_t *)pa)->row.group, *b = ((const rcell_t *)pb)->row.group;
    if (!a || !b) return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/* Appends the bucket's cells to res in group order and empties the set. */
static void flush(sy_rollup_reader_t *rd)
{
    sy_stats_result_t *res = rd->res;
    qsort(rd->cells, rd->n, sizeof(*rd->cells), cmp_rcell);
    for (size_t i = 0; i < rd->n; i++) {
        rcell_t *c = &rd->cells[i];
        sy_stats_row_t *r = &c->row;
        r->latency_p50_us = sy_hist_percentile(&c->lat, 50);
        r->latency_p95_us = sy_hist_percentile(&c->lat, 95);
        r->latency_p99_us = sy_hist_percentile(&c->lat, 99);
        r->ttft_p50_us = sy_hist_percentile(&c->ttft, 50);
        r->ttft_p95_us = sy_hist_percentile(&c->ttft, 95);
        sy_stats_row_set_rates(r, c->tok_out_ok, c->lat_ok_us);
        if (!c->cost_known) r->cost_nanousd = SY_LOG_UNKNOWN;
        if (res->n == rd->res_cap) {
            rd->res_cap = rd->res_cap ? rd->res_cap * 2 : 64;
            res->rows = sy_xrealloc(res->rows, rd->res_cap * sizeof(*res->rows));
        }
        res->rows[res->n++] = *r;
        r->group = NULL; /* owned by res now */
        sy_hist_reset(&c->lat);
        sy_hist_reset(&c->ttft);
    }
    rd->n = 0;
    memset(rd->slots, 0, rd->nslots * sizeof(*rd->slots));
}

sy_rollup_reader_t *sy_rollup_reader_new(const sy_stats_query_t *q, sy_stats_result_t *res)
{
    sy_rollup_reader_t *rd = sy_xcalloc(1, sizeof(*rd));
    rd->bucket_us = q->bucket_us;
    rd->res = res;
    rd->nslots = 64;
    rd->slots = sy_xcalloc(rd->nslots, sizeof(*rd->slots));
    res->approximate_percentiles = true;
    return rd;
}

static uint32_t hash_group(sy_str_t g)
{
    if (!g.ptr) return 0;
    uint32_t h = 2166136261u; /* FNV-1a; |1 keeps it apart from NULL's 0 */
    for (size_t k = 0; k < g.len; k++)
        h = (h ^ (unsigned char)g.ptr[k]) * 16777619u;
    return h | 1;
}

/* The open cell of group g in the current bucket, created if new. */
static rcell_t *cell_for(sy_rollup_reader_t *rd, sy_str_t g)
{
    uint32_t h = hash_group(g);
    size_t mask = rd->nslots - 1, sl = h & mask;
    for (; rd->slots[sl]; sl = (sl + 1) & mask) {
        rcell_t *x = &rd->cells[rd->slots[sl] - 1];
        if (x->hash == h && (!g.ptr || (x->row.group && x->glen == g.len &&
                                        memcmp(x->row.group, g.ptr, g.len) == 0)))
            return x;
    }
    if (rd->n == rd->alloc) {
        size_t na = rd->alloc ? rd->alloc * 2 : 16;
        rd->cells = sy_xrealloc(rd->cells, na * sizeof(*rd->cells));
        memset(rd->cells + rd->alloc, 0, (na - rd->alloc) * sizeof(*rd->cells));
        rd->alloc = na;
    }
    rcell_t *nc = &rd->cells[rd->n++];
    memset(&nc->row, 0, sizeof(nc->row));
    nc->row.bucket_start_us = rd->bucket;
    nc->row.group = g.ptr ? sy_xstrndup(g.ptr, g.len) : NULL;
    nc->glen = g.len;
    nc->hash = h;
    nc->cost_known = nc->tok_out_ok = nc->lat_ok_us = 0;
    rd->slots[sl] = (uint32_t)rd->n;
    if (2 * rd->n > rd->nslots) { /* keep the table at most half full: rebuild it twice as big */
        rd->nslots *= 2;
        rd->slots = sy_xrealloc(rd->slots, rd->nslots * sizeof(*rd->slots));
        memset(rd->slots, 0, rd->nslots * sizeof(*rd->slots));
        for (size_t k = 0; k < rd->n; k++) {
            size_t t = rd->cells[k].hash & (rd->nslots - 1);
            while (rd->slots[t])
                t = (t + 1) & (rd->nslots - 1);
            rd->slots[t] = (uint32_t)(k + 1);
        }
    }
    return nc;
}

sy_err_t sy_rollup_reader_add(sy_rollup_reader_t *rd, int64_t minute_us, sy_str_t group,
                              const int64_t v[SY_ROLLUP_NV], const void *lat, size_t lat_len,
                              const void *ttft, size_t ttft_len)
{
    int64_t b = minute_us - minute_us % rd->bucket_us;
    if (rd->n && b != rd->bucket) flush(rd);
    rd->bucket = b;
    rcell_t *cell = cell_for(rd, group);
    sy_stats_row_t *r = &cell->row;
    if (sy_hist_merge_encoded(&cell->lat, lat, lat_len) ||
        sy_hist_merge_encoded(&cell->ttft, ttft, ttft_len))
        return SY_ERR_CORRUPT;
    r->count += v[SY_ROLLUP_COUNT];
    r->errors += v[SY_ROLLUP_ERRORS];
    r->input_tokens += v[SY_ROLLUP_IN];
    r->output_tokens += v[SY_ROLLUP_OUT];
    r->cost_nanousd += v[SY_ROLLUP_COST];
    r->cost_unknown += v[SY_ROLLUP_COST_UNKNOWN];
    cell->cost_known += v[SY_ROLLUP_COUNT] - v[SY_ROLLUP_COST_UNKNOWN];
    cell->tok_out_ok += v[SY_ROLLUP_OK_OUT];
    cell->lat_ok_us += v[SY_ROLLUP_OK_LAT];
    return SY_OK;
}

void sy_rollup_reader_finish(sy_rollup_reader_t *rd)
{
    if (!rd) return;
    flush(rd);
    for (size_t i = 0; i < rd->alloc; i++) {
        sy_hist_dispose(&rd->cells[i].lat);
        sy_hist_dispose(&rd->cells[i].ttft);
        free(rd->cells[i].row.group); /* cells left open by an error */
    }
    free(rd->cells);
    free(rd->slots);
    free(rd);
}
