/* ClickHouse backend: query_stats (store.h). DESIGN: clickhouse.c; the stats_roll reads:
 * docs/internals/STORE.md, "Reading a level". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "store/clickhouse_int.h"
#include "store/hist.h"
#include "store/store.h"

/* ---- stats ------------------------------------------------------------------------------- */

static const char *const group_col[4] = {
    [SY_STATS_GROUP_NONE] = "CAST(NULL AS Nullable(String))",
    [SY_STATS_GROUP_MODEL] = "model",
    [SY_STATS_GROUP_PROVIDER] = "provider",
    [SY_STATS_GROUP_KEY] = "key_id",
};

/* nearest rank on a sorted array alias: element ceil(p·n/100) (1-based), -1 when empty */
#define NR(arr, p)                                                                                 \
    "toInt64(if(length(" arr ") = 0, -1, " arr "[intDiv(length(" arr ") * " #p " + 99, 100)])), "

/* Exact, over raw rows (FINAL). */
static sy_err_t stats_exact(ch_store_t *s, conn_t *c, const sy_stats_query_t *qq,
                            sy_stats_result_t *res, char *msg, size_t msglen)
{
    sy_buf_t *q = &c->req;
    sy_buf_reset(q);
    /* the inner query dedups (FINAL) and buckets; the outer one aggregates per cell. Every
     * number is cast to Int64 so the reply is a fixed row layout. */
    sy_buf_printf(
        q,
        "SELECT toInt64(b), g, toInt64(count()), toInt64(countIf(status != 'ok')), "
        "toInt64(length(arraySort(groupArray(latency_us)) AS la)), " NR("la", 50) NR("la", 95)
            NR("la", 99) "toInt64(length(arraySort(groupArray(ttft_us)) AS ta)), " NR("ta", 50)
                NR("ta", 95) "toInt64(ifNull(sum(input_tokens), 0)), "
                             "toInt64(ifNull(sum(output_tokens), 0)), "
                             "toInt64(ifNull(sumIf(output_tokens, okrow), 0)), "
                             "toInt64(ifNull(sumIf(latency_us, okrow), 0)), "
                             "toInt64(ifNull(sum(cost_nanousd), -1)), "
                             "toInt64(countIf(isNull(cost_nanousd))) "
                             "FROM (SELECT intDiv(t_received_us, %" PRId64 ") * %" PRId64
                             " AS b, %s AS g, status, latency_us, ttft_us, input_tokens, "
                             "output_tokens, cost_nanousd, (status = 'ok' AND "
                             "isNotNull(output_tokens) AND isNotNull(latency_us)) AS okrow "
                             "FROM inference_log FINAL WHERE t_received_us >= %" PRId64
                             " AND t_received_us < %" PRId64 ") "
                             "GROUP BY b, g ORDER BY b, g NULLS FIRST FORMAT RowBinary",
        qq->bucket_us, qq->bucket_us, group_col[qq->group_by], qq->from_us, qq->to_us);
    sy_err_t err = sy_ch_select(s, c, msg, msglen);
    if (err) return err;
    rd_t rd = {(const unsigned char *)c->resp.base,
               (const unsigned char *)c->resp.base + c->resp.len, false};
    size_t cap = 0;
    while (rd.p < rd.end && !rd.bad) {
        sy_stats_row_t r = {0};
        r.bucket_start_us = rd_i64(&rd);
        sy_str_t g = rd_nstr(&rd);
        r.count = rd_i64(&rd);
        r.errors = rd_i64(&rd);
        (void)rd_i64(&rd); /* number of known latencies */
        r.latency_p50_us = rd_i64(&rd);
        r.latency_p95_us = rd_i64(&rd);
        r.latency_p99_us = rd_i64(&rd);
        (void)rd_i64(&rd);
        r.ttft_p50_us = rd_i64(&rd);
        r.ttft_p95_us = rd_i64(&rd);
        r.input_tokens = rd_i64(&rd);
        r.output_tokens = rd_i64(&rd);
        int64_t tok_ok = rd_i64(&rd), lat_ok = rd_i64(&rd);
        r.cost_nanousd = rd_i64(&rd);
        r.cost_unknown = rd_i64(&rd);
        if (rd.bad) break;
        r.group = g.ptr ? sy_xstrndup(g.ptr, g.len) : NULL;
        sy_stats_row_set_rates(&r, tok_ok, lat_ok);
        if (res->n == cap) {
            cap = cap ? cap * 2 : 64;
            res->rows = sy_xrealloc(res->rows, cap * sizeof(*res->rows));
        }
        res->rows[res->n++] = r;
    }
    if (rd.bad) err = sy_store_fail(SY_ERR_STORE, msg, msglen, "clickhouse: malformed stats reply");
    return err;
}

/* One (idx array, count array) histogram of a stats reply into h (NULL: skipped). */
static void rd_hist(rd_t *rd, sy_hist_t *h)
{
    uint64_t n = rd_varint(rd);
    /* n comes from the wire: bound it before n * 8 can wrap (each entry is 2 + 8 bytes) */
    if (n > SIZE_MAX / 16 || !rd_need(rd, n * 2)) {
        rd->bad = true;
        return;
    }
    const unsigned char *idx = rd->p;
    rd->p += n * 2;
    uint64_t m = rd_varint(rd);
    if (m != n || !rd_need(rd, n * 8)) {
        rd->bad = true;
        return;
    }
    if (!h) {
        rd->p += n * 8;
        return;
    }
    for (uint64_t i = 0; i < n; i++)
        sy_hist_add_index(h, (uint32_t)(idx[2 * i] | idx[2 * i + 1] << 8), rd_u64le(rd, 8));
}

#define MINUTE_US INT64_C(60000000)

/* stats_roll's levels (migration 4), coarsest first: a query reads the first whose step divides
 * its from, to and bucket and whose grouping (grp, by sy_stats_group_t; -1: none at this step)
 * serves its group_by; otherwise stats_minute, which serves every group_by. */
static const struct {
    int64_t step_us;
    int grp[4];
} levels[] = {
    {60 * MINUTE_US, {0, 1, 1, 2}},
    {5 * MINUTE_US, {0, 1, 1, 2}},
    {MINUTE_US, {0, 1, 1, -1}},
};

static const char *const roll_group_col[4] = {
    [SY_STATS_GROUP_NONE] = "CAST(NULL AS Nullable(String))",
    [SY_STATS_GROUP_MODEL] = "rmodel",
    [SY_STATS_GROUP_PROVIDER] = "rprovider",
    [SY_STATS_GROUP_KEY] = "rkey_id",
};

/* The nearest-rank p-th percentile's bucket index of one stats_roll row's histogram `m`
 * (Nested idx/cnt, idx ascending), as store/hist.h's sy_hist_percentile picks it; -1 if empty. */
#define ROLL_PCT(m, p)                                                                             \
    "if(arraySum(" m ".cnt) = 0, -1, toInt32(" m                                                   \
    ".idx[arrayFirstIndex(x -> x >= intDiv(arraySum(" m ".cnt) * " #p                              \
    " + 99, 100), arrayCumSum(" m ".cnt))])), "

#define ROLL_NUMS (8 * 8 + 5 * 4)
/* The shortest row of a reply: b, a NULL group, the numbers, hists, four empty arrays. */
#define ROLL_ROW_MIN (8 + 1 + ROLL_NUMS + 1 + 4)

/* One stats_roll row of a reply (roll_fetch): its cell, counters, and either the percentile
 * bucket indexes the server read off its histograms (!hists) or where its four histogram arrays
 * lie in the reply. Points into the reply. */
typedef struct roll_row {
    int64_t b;
    sy_str_t g; /* ptr NULL: NULL group */
    /* the 8 counters (Int64: rn, rn_err, rin_tok, rout_tok, rcost, rcost_null, rok_out,
     * rok_lat) then the 5 percentile indexes (Int32: latency p50, p95, p99, ttft p50, p95), as
     * the reply holds them: decoded when the cell is built, so a row is 56 bytes, not 128 */
    const unsigned char *nums;
    bool hists;
    const unsigned char *hist, *hist_end;
} roll_row_t;

typedef struct roll_rows {
    roll_row_t *v;
    size_t n, cap;
} roll_rows_t;

static void roll_push(roll_rows_t *rows, const roll_row_t *r)
{
    if (rows->n == rows->cap) {
        rows->cap = rows->cap ? rows->cap * 2 : 256;
        rows->v = sy_xrealloc(rows->v, rows->cap * sizeof(*rows->v));
    }
    rows->v[rows->n++] = *r;
}

/* (bucket, group) ascending, NULL group first, groups bytewise: ClickHouse's ORDER BY b, g
 * NULLS FIRST */
static int cmp_roll_row(const void *pa, const void *pb)
{
    const roll_row_t *a = pa, *b = pb;
    if (a->b != b->b) return a->b < b->b ? -1 : 1;
    if (!a->g.ptr || !b->g.ptr) return (a->g.ptr != NULL) - (b->g.ptr != NULL);
    size_t n = a->g.len < b->g.len ? a->g.len : b->g.len;
    int c = memcmp(a->g.ptr, b->g.ptr, n);
    if (c) return c;
    return (a->g.len > b->g.len) - (a->g.len < b->g.len);
}

/* End of the cell that starts at rows[i] (rows sorted). */
static size_t roll_cell_end(const roll_rows_t *rows, size_t i)
{
    size_t k = i + 1;
    while (k < rows->n && !cmp_roll_row(&rows->v[i], &rows->v[k]))
        k++;
    return k;
}

static int64_t pct_value(int32_t idx)
{
    return idx < 0 ? -1 : sy_hist_value((uint32_t)idx);
}

/* The cell of rows[0, n) (one cell): the counters summed; the percentiles the server's when the
 * cell is one row without histograms, else from the rows' histograms merged here (every row then
 * has them: roll_read sees to it; *bad otherwise). */
static sy_stats_row_t roll_cell(const roll_row_t *rows, size_t n, sy_hist_t *lat, sy_hist_t *ttft,
                                bool *bad)
{
    sy_stats_row_t r = {0};
    int64_t v[8] = {0};
    for (size_t i = 0; i < n; i++) {
        rd_t rd = {rows[i].nums, rows[i].nums + ROLL_NUMS, false};
        for (size_t j = 0; j < 8; j++)
            v[j] += rd_i64(&rd);
    }
    if (n == 1 && !rows[0].hists) {
        rd_t rd = {rows[0].nums + 64, rows[0].nums + ROLL_NUMS, false};
        r.latency_p50_us = pct_value((int32_t)(uint32_t)rd_u64le(&rd, 4));
        r.latency_p95_us = pct_value((int32_t)(uint32_t)rd_u64le(&rd, 4));
        r.latency_p99_us = pct_value((int32_t)(uint32_t)rd_u64le(&rd, 4));
        r.ttft_p50_us = pct_value((int32_t)(uint32_t)rd_u64le(&rd, 4));
        r.ttft_p95_us = pct_value((int32_t)(uint32_t)rd_u64le(&rd, 4));
    } else {
        sy_hist_reset(lat);
        sy_hist_reset(ttft);
        for (size_t i = 0; i < n; i++) {
            rd_t rd = {rows[i].hist, rows[i].hist_end, !rows[i].hists};
            rd_hist(&rd, lat);
            rd_hist(&rd, ttft);
            if (rd.bad) *bad = true;
        }
        static const int lp[3] = {50, 95, 99}, tp[2] = {50, 95};
        int64_t lv[3], tv[2];
        sy_hist_percentiles(lat, lp, 3, lv);
        sy_hist_percentiles(ttft, tp, 2, tv);
        r.latency_p50_us = lv[0];
        r.latency_p95_us = lv[1];
        r.latency_p99_us = lv[2];
        r.ttft_p50_us = tv[0];
        r.ttft_p95_us = tv[1];
    }
    r.bucket_start_us = rows[0].b;
    r.count = v[0];
    r.errors = v[1];
    r.input_tokens = v[2];
    r.output_tokens = v[3];
    r.cost_nanousd = v[4];
    r.cost_unknown = v[5];
    if (r.cost_unknown == r.count) r.cost_nanousd = SY_LOG_UNKNOWN; /* no known cost */
    sy_stats_row_set_rates(&r, v[6], v[7]);
    return r;
}

static bool roll_sorted(const roll_rows_t *rows)
{
    for (size_t i = 1; i < rows->n; i++)
        if (cmp_roll_row(&rows->v[i - 1], &rows->v[i]) > 0) return false;
    return true;
}

/* Merges the sorted runs a and b into a (b's array is freed): a grows in place (realloc) and
 * the merge runs from the back, so no third array of a day's cells is allocated and touched. */
static void roll_merge(roll_rows_t *a, roll_rows_t *b)
{
    if (!a->n) {
        free(a->v);
        *a = *b;
        *b = (roll_rows_t){0};
        return;
    }
    if (a->cap < a->n + b->n) {
        a->cap = a->n + b->n;
        a->v = sy_xrealloc(a->v, a->cap * sizeof(*a->v));
    }
    size_t i = a->n, j = b->n, n = a->n + b->n;
    while (j > 0) /* what is left of a when b is done is already in place */
        a->v[--n] = i > 0 && cmp_roll_row(&a->v[i - 1], &b->v[j - 1]) > 0 ? a->v[--i] : b->v[--j];
    a->n += b->n;
    free(b->v);
    *b = (roll_rows_t){0};
}

/* The rows of c's reply (columns: b, g, the 8 counters, 5 percentile bucket indexes (Int32),
 * hists (UInt8), the latency and TTFT histograms), pointing into the reply, merged into out
 * (sorted by (bucket, group)). A reply the server sorted (ORDER BY b, g NULLS FIRST) is not
 * sorted again: qsort of a day's 14,400 cells was a quarter of the client's time. */
static sy_err_t roll_decode(const conn_t *c, roll_rows_t *out, char *msg, size_t msglen)
{
    rd_t rd = {(const unsigned char *)c->resp.base,
               (const unsigned char *)c->resp.base + c->resp.len, false};
    /* room for as many rows as the reply can hold (pages never touched cost nothing): no
     * realloc copying a growing array of a day's cells */
    roll_rows_t run = {0};
    run.cap = c->resp.len / ROLL_ROW_MIN + 1;
    run.v = sy_xmalloc(run.cap * sizeof(*run.v));
    while (rd.p < rd.end && !rd.bad) {
        roll_row_t r;
        r.b = rd_i64(&rd);
        r.g = rd_nstr(&rd);
        r.nums = rd.p;
        if (!rd_need(&rd, ROLL_NUMS)) break;
        rd.p += ROLL_NUMS;
        r.hists = rd_u64le(&rd, 1) != 0;
        r.hist = rd.p;
        rd_hist(&rd, NULL);
        rd_hist(&rd, NULL);
        r.hist_end = rd.p;
        if (!rd.bad) roll_push(&run, &r);
    }
    if (rd.bad) {
        free(run.v);
        return sy_store_fail(SY_ERR_STORE, msg, msglen, "clickhouse: malformed stats reply");
    }
    if (!roll_sorted(&run)) qsort(run.v, run.n, sizeof(*run.v), cmp_roll_row);
    roll_merge(out, &run);
    return SY_OK;
}

/* A level read on two threads: 18.16 sizes max_threads by physical cores (1 on the 2-vCPU dev
 * VM), and splits a read among threads only from 163,840 rows (a day of 5 min key cells is
 * 16,000 rows in ~60 granules of 256). Both settings exist in 18.16 and current releases. */
#define ROLL_SETTINGS "max_threads=2&merge_tree_min_rows_for_concurrent_read=2048"

/* Most buckets a second read may name (~20 bytes of SQL each: well under ClickHouse's
 * max_query_size of 256 KiB); beyond, every row's histograms are read instead. */
#define ROLL_BUCKETS_MAX 2000

/* The SQL of one read of a stats_roll level into q, NOT grouped by the server (18.16's sumMap
 * over the histograms of a day's 14,400 key cells took seconds, an ORDER BY of the arrays 0.4 s).
 * hists false: each row's percentiles (ROLL_PCT), no histograms; true: the histograms, only of
 * the rows whose t_us is one of buckets[0, nb) when nb. False if the SQL is too long. */
static bool roll_sql(sy_buf_t *q, const sy_stats_query_t *qq, int grp, int64_t step, bool hists,
                     const int64_t *buckets, size_t nb)
{
    const char *g = roll_group_col[qq->group_by];
    sy_buf_reset(q);
    sy_buf_printf(q,
                  "SELECT toInt64(intDiv(t_us, %" PRId64 ") * %" PRId64
                  ") AS b, %s AS g, toInt64(rn), toInt64(rn_err), rin_tok, rout_tok, rcost, "
                  "toInt64(rcost_null), rok_out, rok_lat, ",
                  qq->bucket_us, qq->bucket_us, g);
    if (hists)
        sy_buf_append_c(q, "toInt32(-1), toInt32(-1), toInt32(-1), toInt32(-1), toInt32(-1), "
                           "toUInt8(1), rlatMap.idx, rlatMap.cnt, rttftMap.idx, rttftMap.cnt");
    else
        sy_buf_append_c(
            q, ROLL_PCT("rlatMap", 50) ROLL_PCT("rlatMap", 95) ROLL_PCT("rlatMap",
                                                                        99) ROLL_PCT("rttftMap", 50)
                   ROLL_PCT("rttftMap", 95) "toUInt8(0), emptyArrayUInt16(), emptyArrayUInt64(), "
                                            "emptyArrayUInt16(), emptyArrayUInt64()");
    sy_buf_printf(q,
                  " FROM stats_roll WHERE grp = %d AND step_us = %" PRId64 " AND t_us >= %" PRId64
                  " AND t_us < %" PRId64,
                  grp, step, qq->from_us, qq->to_us);
    for (size_t i = 0; i < nb; i++)
        sy_buf_printf(q, "%s%" PRId64, i ? ", " : " AND t_us IN (", buckets[i]);
    if (nb) sy_buf_append_c(q, ")");
    /* sorted by the server unless the rows carry every histogram (an ORDER BY moving those
     * arrays took 0.4 s on a day of key cells) */
    if (!hists || nb) sy_buf_append_c(q, " ORDER BY b, g NULLS FIRST");
    return sy_buf_append_c(q, " FORMAT RowBinary") == 0;
}

/* One read (roll_sql) on c, its rows merged into out (pointing into c's reply, sorted). */
static sy_err_t roll_fetch(ch_store_t *s, conn_t *c, const sy_stats_query_t *qq, int grp,
                           int64_t step, bool hists, const int64_t *buckets, size_t nb,
                           roll_rows_t *out, char *msg, size_t msglen)
{
    if (!roll_sql(&c->req, qq, grp, step, hists, buckets, nb))
        return sy_store_fail(SY_ERR_STORE, msg, msglen, "clickhouse: stats query too long");
    sy_err_t err = sy_ch_select_with(s, c, ROLL_SETTINGS, msg, msglen);
    return err ? err : roll_decode(c, out, msg, msglen);
}

/* The cells of rows (sorted) into res, in their order. */
static sy_err_t roll_cells(const roll_rows_t *rows, sy_stats_result_t *res, char *msg,
                           size_t msglen)
{
    sy_hist_t lat = {0}, ttft = {0};
    bool bad = false;
    /* at most a cell per row: one allocation instead of a doubling array */
    res->rows = rows->n ? sy_xmalloc(rows->n * sizeof(*res->rows)) : NULL;
    for (size_t i = 0, k; !bad && i < rows->n; i = k) {
        k = roll_cell_end(rows, i);
        sy_stats_row_t r = roll_cell(rows->v + i, k - i, &lat, &ttft, &bad);
        r.group = rows->v[i].g.ptr ? sy_xstrndup(rows->v[i].g.ptr, rows->v[i].g.len) : NULL;
        res->rows[res->n++] = r;
    }
    sy_hist_dispose(&lat);
    sy_hist_dispose(&ttft);
    return bad ? sy_store_fail(SY_ERR_STORE, msg, msglen, "clickhouse: bad stats cell") : SY_OK;
}

/* The probe of query_stats: at most max + 1 rows of the range counted (no FINAL: an estimate
 * suffices), so that small ranges are answered exactly. */
static void probe_sql(sy_buf_t *q, const sy_stats_query_t *qq, int64_t max)
{
    sy_buf_reset(q);
    sy_buf_printf(q,
                  "SELECT toInt64(count()) FROM (SELECT 1 FROM inference_log WHERE "
                  "t_received_us >= %" PRId64 " AND t_received_us < %" PRId64 " LIMIT %" PRId64
                  ") FORMAT RowBinary",
                  qq->from_us, qq->to_us, max + 1);
}

/* *exact: the probe's reply on c counts at most max rows. */
static sy_err_t probe_reply(const conn_t *c, int64_t max, bool *exact, char *msg, size_t msglen)
{
    rd_t rd = {(const unsigned char *)c->resp.base,
               (const unsigned char *)c->resp.base + c->resp.len, false};
    int64_t rows = rd_i64(&rd);
    if (rd.bad) return sy_store_fail(SY_ERR_STORE, msg, msglen, "clickhouse: bad count");
    *exact = rows <= max;
    return SY_OK;
}

/* The probe alone, on c (when nothing can run beside it). */
static sy_err_t probe_run(ch_store_t *s, conn_t *c, const sy_stats_query_t *qq, bool *exact,
                          char *msg, size_t msglen)
{
    probe_sql(&c->req, qq, s->exact_max_rows);
    sy_err_t err = sy_ch_select(s, c, msg, msglen);
    return err ? err : probe_reply(c, s->exact_max_rows, exact, msg, msglen);
}

/* A query served by a stats_roll level. When the bucket is the level's step a cell is ONE row
 * once merged, and the first read returns only each row's counters and percentiles (a few
 * numbers, not its histograms), on two server threads (ROLL_SETTINGS), while the probe runs
 * beside it on a second connection (probe: *exact when it counts at most exact_max_rows rows;
 * nothing else is then returned). The buckets where a cell has several rows (parts not merged
 * yet: usually a few buckets at the edges of recent inserts) are then read again with their
 * histograms, on that second connection (the first reply stays in use), and their cells merged
 * here. A bucket spanning several steps reads every row's histograms at once. */
static sy_err_t roll_read(ch_store_t *s, conn_t *c, const sy_stats_query_t *qq, int grp,
                          int64_t step, bool probe, bool *exact, sy_stats_result_t *res, char *msg,
                          size_t msglen)
{
    roll_rows_t rows = {0};
    int64_t *again = NULL; /* the buckets to read again, ascending */
    size_t na = 0;
    conn_t *c2 = NULL;
    bool all = qq->bucket_us != step;
    sy_err_t err = SY_OK;
    *exact = false;
    if (all) {
        if (probe) err = probe_run(s, c, qq, exact, msg, msglen);
        if (!err && !*exact)
            err = roll_fetch(s, c, qq, grp, step, true, NULL, 0, &rows, msg, msglen);
    } else {
        c2 = sy_ch_conn_take(s);
        if (!roll_sql(&c->req, qq, grp, step, false, NULL, 0))
            err = sy_store_fail(SY_ERR_STORE, msg, msglen, "clickhouse: stats query too long");
        if (probe) probe_sql(&c2->req, qq, s->exact_max_rows);
        conn_t *cs[2] = {c, c2};
        const char *set[2] = {ROLL_SETTINGS, NULL};
        if (!err)
            err = probe ? sy_ch_select_many(s, cs, set, 2, msg, msglen)
                        : sy_ch_select_with(s, c, ROLL_SETTINGS, msg, msglen);
        if (!err && probe) err = probe_reply(c2, s->exact_max_rows, exact, msg, msglen);
        if (!err && !*exact) err = roll_decode(c, &rows, msg, msglen);
    }
    for (size_t i = 0, k; !err && !*exact && !all && i < rows.n; i = k) {
        k = roll_cell_end(&rows, i);
        if (k - i > 1 && (!na || again[na - 1] != rows.v[i].b)) {
            again = sy_xrealloc(again, (na + 1) * sizeof(*again));
            again[na++] = rows.v[i].b;
        }
    }
    if (na > ROLL_BUCKETS_MAX) { /* mostly unmerged: every row's histograms */
        rows.n = 0;
        err = roll_fetch(s, c, qq, grp, step, true, NULL, 0, &rows, msg, msglen);
    } else if (na) { /* drop those buckets' rows, read them again */
        size_t kept = 0, j = 0;
        for (size_t i = 0; i < rows.n; i++) {
            while (j < na && again[j] < rows.v[i].b)
                j++;
            if (j == na || again[j] != rows.v[i].b) rows.v[kept++] = rows.v[i];
        }
        rows.n = kept;
        err = roll_fetch(s, c2, qq, grp, step, true, again, na, &rows, msg, msglen);
    }
    if (!err && !*exact) err = roll_cells(&rows, res, msg, msglen);
    free(rows.v);
    free(again);
    if (c2) sy_ch_conn_give(s, c2);
    return err;
}

/* From the rollups: a stats_roll level when one serves the query (roll_read), else stats_minute,
 * whose (minute, model, provider, key) cells the server sums per query cell (GROUP BY, sumMap);
 * the percentiles are read off the histograms here. probe: the probe decides first (*exact:
 * the range is small, answer it exactly; res is then empty). */
static sy_err_t stats_rollup(ch_store_t *s, conn_t *c, const sy_stats_query_t *qq, bool probe,
                             bool *exact, sy_stats_result_t *res, char *msg, size_t msglen)
{
    int64_t step = 0;
    int grp = -1;
    for (size_t i = 0; s->known >= 4 && grp < 0 && i < sizeof(levels) / sizeof(levels[0]); i++) {
        step = levels[i].step_us;
        if (qq->from_us % step == 0 && qq->to_us % step == 0 && qq->bucket_us % step == 0)
            grp = levels[i].grp[qq->group_by];
    }
    res->approximate_percentiles = true;
    res->pct_rel_error = grp >= 0 && step > MINUTE_US ? SY_STORE_STATS_PCT_REL_ERROR_COARSE
                                                      : SY_STORE_STATS_PCT_REL_ERROR;
    if (grp >= 0) return roll_read(s, c, qq, grp, step, probe, exact, res, msg, msglen);
    *exact = false;
    sy_err_t err = probe ? probe_run(s, c, qq, exact, msg, msglen) : SY_OK;
    if (err || *exact) return err;
    sy_buf_t *q = &c->req;
    sy_buf_reset(q);
    sy_buf_printf(q,
                  "SELECT toInt64(intDiv(minute_us, %" PRId64 ") * %" PRId64 ") AS b, %s AS g, "
                  "toInt64(sum(n)), toInt64(sum(n_err)), toInt64(sum(in_tok)), "
                  "toInt64(sum(out_tok)), toInt64(sum(cost)), toInt64(sum(cost_null)), "
                  "toInt64(sum(ok_out)), toInt64(sum(ok_lat)), toInt32(-1), toInt32(-1), "
                  "toInt32(-1), toInt32(-1), toInt32(-1), toUInt8(1), sumMap(latMap.idx, "
                  "latMap.cnt), sumMap(ttftMap.idx, ttftMap.cnt) FROM stats_minute WHERE "
                  "minute_us >= %" PRId64 " AND minute_us < %" PRId64
                  " GROUP BY b, g FORMAT RowBinary",
                  qq->bucket_us, qq->bucket_us, group_col[qq->group_by], qq->from_us, qq->to_us);
    roll_rows_t rows = {0};
    err = sy_ch_select(s, c, msg, msglen);
    if (!err) err = roll_decode(c, &rows, msg, msglen);
    if (!err) err = roll_cells(&rows, res, msg, msglen);
    free(rows.v);
    return err;
}

sy_err_t sy_ch_query_stats(sy_store_t *base, const sy_stats_query_t *qq, sy_stats_result_t *res,
                           char *msg, size_t msglen)
{
    ch_store_t *s = (ch_store_t *)base;
    memset(res, 0, sizeof(*res));
    sy_err_t err = sy_stats_query_check(qq, msg, msglen);
    if (err) return err;

    conn_t *c = sy_ch_conn_take(s);
    /* whole minutes only, and only when the range is big enough for the exact path to be slow
     * (the probe, run beside the level reads when it can: probe_sql) */
    bool rollup = s->known >= 3 && qq->from_us % MINUTE_US == 0 && qq->to_us % MINUTE_US == 0 &&
                  qq->bucket_us % MINUTE_US == 0;
    if (rollup && s->exact_max_rows == INT64_MAX) rollup = false; /* "always exact" */
    bool exact = !rollup;
    if (rollup) err = stats_rollup(s, c, qq, s->exact_max_rows >= 0, &exact, res, msg, msglen);
    if (!err && exact) {
        sy_store_stats_free(res); /* a probe that found a small range: res is empty */
        err = stats_exact(s, c, qq, res, msg, msglen);
    }
    if (err) sy_store_stats_free(res);
    sy_ch_conn_give(s, c);
    return err;
}
