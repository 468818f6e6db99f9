/* store/hist.{c,h}: bucket layout, error bound, nearest-rank percentiles, merge, encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/hist.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t nearest_rank(const int64_t *sorted, size_t n, int p)
{
    size_t rank = (size_t)ceil((double)p / 100.0 * (double)n);
    return sorted[rank ? rank - 1 : 0];
}

/* every value is reported within v/128, values below 128 exactly; indexes are monotonic and
 * continuous; the top of int64 has a bucket */
static void hist_error_bound(void **state)
{
    (void)state;
    uint32_t prev = 0;
    for (int64_t v = 0; v < 1 << 20; v++) {
        uint32_t i = sy_hist_index(v);
        assert_true(i == prev || i == prev + 1);
        prev = i;
        int64_t r = sy_hist_value(i);
        if (v < 128) assert_int_equal(r, v);
        assert_true(llabs(r - v) * 128 <= v);
    }
    for (int k = 0; k < 1000000; k++) {
        int64_t v = (int64_t)(next_rand() >> (next_rand() % 63 + 1));
        int64_t r = sy_hist_value(sy_hist_index(v));
        assert_true((double)llabs(r - v) <= (double)v * SY_HIST_REL_ERROR);
    }
    assert_int_equal(sy_hist_index(INT64_MAX), SY_HIST_BUCKETS - 1);
    assert_int_equal(sy_hist_index(-5), 0);
}

/* percentiles are the nearest-rank value of the same data within the bound */
static void hist_percentile_rank(void **state)
{
    (void)state;
    sy_hist_t h = {0};
    assert_int_equal(sy_hist_percentile(&h, 50), -1);
    sy_hist_add(&h, -1, 1); /* unknown: not counted */
    assert_int_equal(h.total, 0);
    /* small exact values: nearest rank semantics exactly (1..10: p50 = 5, p95 = 10, p10 = 1) */
    for (int v = 10; v >= 1; v--)
        sy_hist_add(&h, v, 1);
    assert_int_equal(sy_hist_percentile(&h, 50), 5);
    assert_int_equal(sy_hist_percentile(&h, 95), 10);
    assert_int_equal(sy_hist_percentile(&h, 10), 1);
    assert_int_equal(sy_hist_percentile(&h, 11), 2);
    assert_int_equal(sy_hist_percentile(&h, 100), 10);
    sy_hist_dispose(&h);

    enum { N = 20001 };
    static int64_t v[N];
    for (size_t n = 1; n <= N; n = n * 3 + 1) {
        sy_hist_reset(&h);
        for (size_t i = 0; i < n; i++) {
            /* skewed: mostly 100 ms – 2 s, a long tail to 60 s */
            uint64_t r = next_rand();
            v[i] = r % 10 == 0 ? (int64_t)(r % 60000000) : 100000 + (int64_t)(r % 1900000);
            sy_hist_add(&h, v[i], 1);
        }
        qsort(v, n, sizeof(*v), cmp_i64);
        for (int p = 1; p <= 100; p++) {
            int64_t want = nearest_rank(v, n, p), got = sy_hist_percentile(&h, p);
            assert_true((double)llabs(got - want) <= (double)want * SY_HIST_REL_ERROR);
        }
    }
    sy_hist_dispose(&h);
}

/* merging histograms equals one histogram of all values, whatever the windows */
static void hist_merge(void **state)
{
    (void)state;
    sy_hist_t a = {0}, b = {0}, all = {0}, empty = {0};
    for (int i = 0; i < 5000; i++) {
        int64_t x = (int64_t)(next_rand() % 1000), y = (int64_t)(next_rand() % 100000000);
        sy_hist_add(&a, x, 1);
        sy_hist_add(&b, y, 2);
        sy_hist_add(&all, x, 1);
        sy_hist_add(&all, y, 2);
    }
    sy_hist_merge(&a, &empty);
    sy_hist_merge(&empty, &b); /* into a never-allocated one */
    sy_hist_merge(&a, &b);
    assert_int_equal(a.total, all.total);
    assert_int_equal(empty.total, b.total);
    for (int p = 1; p <= 100; p++)
        assert_int_equal(sy_hist_percentile(&a, p), sy_hist_percentile(&all, p));
    for (uint32_t i = 0; i < SY_HIST_BUCKETS; i++) {
        uint64_t ca = i >= a.lo && i < a.lo + a.n ? a.c[i - a.lo] : 0;
        uint64_t cb = i >= all.lo && i < all.lo + all.n ? all.c[i - all.lo] : 0;
        assert_int_equal(ca, cb);
    }
    sy_hist_dispose(&a);
    sy_hist_dispose(&b);
    sy_hist_dispose(&all);
    sy_hist_dispose(&empty);
}

/* A histogram reused over cells (reset in between; its window keeps every cell's range) gives
 * each cell the same percentiles, merge and encoding as a fresh one. */
static void hist_reuse(void **state)
{
    (void)state;
    sy_buf_t e1, e2;
    sy_buf_init(&e1, 4 * SY_HIST_ENCODED_MAX);
    sy_buf_init(&e2, 4 * SY_HIST_ENCODED_MAX);
    sy_hist_t reused = {0};
    for (int cell = 0; cell < 50; cell++) {
        sy_hist_t fresh = {0}, m1 = {0}, m2 = {0};
        sy_hist_reset(&reused);
        int64_t base = cell % 2 ? 10 : 50000000; /* far apart: the window spans both */
        int n = cell % 7;                        /* some cells empty */
        for (int i = 0; i < n * 40; i++) {
            int64_t v = base + (int64_t)(next_rand() % 100000);
            sy_hist_add(&reused, v, 1 + (uint64_t)(i % 3));
            sy_hist_add(&fresh, v, 1 + (uint64_t)(i % 3));
        }
        assert_int_equal(reused.total, fresh.total);
        static const int ps[5] = {1, 50, 95, 99, 100};
        int64_t a[5], b[5];
        sy_hist_percentiles(&reused, ps, 5, a);
        sy_hist_percentiles(&fresh, ps, 5, b);
        assert_memory_equal(a, b, sizeof a);
        sy_hist_merge(&m1, &reused);
        sy_hist_merge(&m2, &fresh);
        sy_buf_reset(&e1);
        sy_buf_reset(&e2);
        assert_int_equal(sy_hist_encode(&m1, &e1), SY_OK);
        assert_int_equal(sy_hist_encode(&reused, &e2), SY_OK);
        assert_int_equal(e1.len, e2.len);
        assert_memory_equal(e1.base, e2.base, e1.len);
        sy_buf_reset(&e2);
        assert_int_equal(sy_hist_encode(&fresh, &e2), SY_OK);
        assert_int_equal(e1.len, e2.len);
        assert_memory_equal(e1.base, e2.base, e1.len);
        sy_hist_dispose(&fresh);
        sy_hist_dispose(&m1);
        sy_hist_dispose(&m2);
    }
    sy_hist_dispose(&reused);
    sy_buf_dispose(&e1);
    sy_buf_dispose(&e2);
}

static void hist_roundtrip(void **state)
{
    (void)state;
    sy_buf_t buf;
    sy_buf_init(&buf, 4 * SY_HIST_ENCODED_MAX);
    sy_hist_t h = {0}, back = {0};
    /* empty */
    assert_int_equal(sy_hist_encode(&h, &buf), SY_OK);
    assert_int_equal(buf.len, 1);
    assert_int_equal(sy_hist_merge_encoded(&back, buf.base, buf.len), SY_OK);
    assert_int_equal(back.total, 0);
    /* extremes and a huge count */
    sy_hist_add(&h, 0, 1);
    sy_hist_add(&h, INT64_MAX, 3);
    sy_hist_add(&h, 1234567, UINT64_C(1) << 40);
    for (int i = 0; i < 3000; i++)
        sy_hist_add(&h, (int64_t)(next_rand() % 5000000), 1);
    sy_buf_reset(&buf);
    assert_int_equal(sy_hist_encode(&h, &buf), SY_OK);
    assert_int_equal(sy_hist_merge_encoded(&back, buf.base, buf.len), SY_OK);
    assert_int_equal(back.total, h.total);
    for (int p = 1; p <= 100; p++)
        assert_int_equal(sy_hist_percentile(&back, p), sy_hist_percentile(&h, p));
    /* merging the encoding twice doubles every count */
    assert_int_equal(sy_hist_merge_encoded(&back, buf.base, buf.len), SY_OK);
    assert_int_equal(back.total, 2 * h.total);
    sy_hist_dispose(&back);
    /* compact: 30 latencies of one minute cell take well under 100 bytes */
    sy_hist_reset(&h);
    for (int i = 0; i < 30; i++)
        sy_hist_add(&h, 400000 + (int64_t)(next_rand() % 800000), 1);
    sy_buf_reset(&buf);
    assert_int_equal(sy_hist_encode(&h, &buf), SY_OK);
    assert_true(buf.len < 100);
    /* a buffer without room for the worst case refuses, unchanged */
    sy_buf_t small;
    sy_buf_init(&small, 64);
    assert_int_equal(sy_hist_encode(&h, &small), SY_ERR_TOO_LARGE);
    assert_int_equal(small.len, 0);
    sy_buf_dispose(&small);
    sy_hist_dispose(&h);
    sy_buf_dispose(&buf);
}

static void hist_corrupt(void **state)
{
    (void)state;
    sy_hist_t h = {0};
    sy_hist_add(&h, 500, 7);
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"", 0},                                                          /* no version */
        {"\x02", 1},                                                      /* unknown version */
        {"\x01\x05", 2},                                                  /* gap, no count */
        {"\x01\x05\x00", 3},                                              /* zero count */
        {"\x01\x80", 2},                                                  /* truncated varint */
        {"\x01\x80\x1d\x01", 4},                                          /* index 3712 */
        {"\x01\xff\x1c\x01\x00\x01", 6},                                  /* 3711, then past */
        {"\x01\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 13},     /* 11-byte varint */
        {"\x01\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 12},         /* > 64 bits */
        {"\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x01", 14}, /* total overflows */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sy_hist_merge_encoded(&h, bad[i].bytes, bad[i].len), SY_ERR_CORRUPT);
        assert_int_equal(h.total, 7); /* unchanged */
        assert_int_equal(sy_hist_percentile(&h, 50), sy_hist_value(sy_hist_index(500)));
    }
    assert_int_equal(sy_hist_merge_encoded(&h, NULL, 0), SY_ERR_CORRUPT);
    /* the largest index is valid */
    assert_int_equal(sy_hist_merge_encoded(&h, "\x01\xff\x1c\x01", 4), SY_OK);
    assert_int_equal(h.total, 8);
    assert_int_equal(sy_hist_percentile(&h, 100), sy_hist_value(SY_HIST_BUCKETS - 1));
    sy_hist_dispose(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hist_error_bound), cmocka_unit_test(hist_percentile_rank),
        cmocka_unit_test(hist_merge),       cmocka_unit_test(hist_roundtrip),
        cmocka_unit_test(hist_reuse),       cmocka_unit_test(hist_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
