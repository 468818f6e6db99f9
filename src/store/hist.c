/* Log-linear latency histogram (hist.h). */
#include "store/hist.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define SUB_BITS 6 /* 64 sub-buckets per power of two */
#define LINEAR (1u << (SUB_BITS + 1))

uint32_t sy_hist_index(int64_t v)
{
    if (v < (int64_t)LINEAR) return v < 0 ? 0 : (uint32_t)v;
    int e = 63 - __builtin_clzll((unsigned long long)v);
    int shift = e - SUB_BITS;
    /* shift * 64 + mantissa (64..127): continuous with the linear range */
    return (uint32_t)(shift << SUB_BITS) + (uint32_t)((uint64_t)v >> shift);
}

int64_t sy_hist_value(uint32_t idx)
{
    if (idx < LINEAR) return (int64_t)idx;
    int shift = (int)(idx >> SUB_BITS) - 1;
    uint64_t m = idx - ((uint32_t)shift << SUB_BITS);
    return (int64_t)((m << shift) + (1ull << (shift - 1)));
}

void sy_hist_dispose(sy_hist_t *h)
{
    free(h->c);
    memset(h, 0, sizeof(*h));
}

void sy_hist_reset(sy_hist_t *h)
{
    if (h->uhi > h->ulo) memset(h->c + (h->ulo - h->lo), 0, (h->uhi - h->ulo) * sizeof(*h->c));
    h->total = 0;
    h->ulo = h->uhi = 0;
}

/* Buckets [a, b] (inclusive) may now hold counts. */
static void touch(sy_hist_t *h, uint32_t a, uint32_t b)
{
    if (h->ulo == h->uhi) {
        h->ulo = a;
        h->uhi = b + 1;
        return;
    }
    if (a < h->ulo) h->ulo = a;
    if (b >= h->uhi) h->uhi = b + 1;
}

/* Grows the window to hold [a, b] (inclusive), with slack so that walking up or down a few
 * octaves does not reallocate each time. */
static void cover(sy_hist_t *h, uint32_t a, uint32_t b)
{
    if (h->n && a >= h->lo && b < h->lo + h->n) return;
    uint32_t lo = h->n && h->lo < a ? h->lo : a;
    uint32_t hi = h->n && h->lo + h->n - 1 > b ? h->lo + h->n - 1 : b;
    uint32_t slack = (hi - lo + 1) / 2 + 32;
    lo = lo > slack ? lo - slack : 0;
    hi = hi + slack < SY_HIST_BUCKETS ? hi + slack : SY_HIST_BUCKETS - 1;
    uint64_t *c = sy_xcalloc(hi - lo + 1, sizeof(*c));
    if (h->n) memcpy(c + (h->lo - lo), h->c, h->n * sizeof(*c));
    free(h->c);
    h->c = c;
    h->lo = lo;
    h->n = hi - lo + 1;
}

void sy_hist_add_index(sy_hist_t *h, uint32_t idx, uint64_t count)
{
    if (idx >= SY_HIST_BUCKETS || !count) return;
    cover(h, idx, idx);
    touch(h, idx, idx);
    h->c[idx - h->lo] += count;
    h->total += count;
}

void sy_hist_add(sy_hist_t *h, int64_t v, uint64_t count)
{
    if (v >= 0) sy_hist_add_index(h, sy_hist_index(v), count);
}

void sy_hist_merge(sy_hist_t *dst, const sy_hist_t *src)
{
    if (!src->total) return;
    uint32_t a = src->ulo, b = src->uhi - 1;
    while (!src->c[a - src->lo])
        a++;
    while (!src->c[b - src->lo])
        b--;
    cover(dst, a, b);
    touch(dst, a, b);
    for (uint32_t i = a; i <= b; i++)
        dst->c[i - dst->lo] += src->c[i - src->lo];
    dst->total += src->total;
}

/* 1-based nearest rank of the p-th percentile of total values: ceil(p * total / 100) without
 * overflow for any total, p clamped to [1, 100] */
static uint64_t rank_of(uint64_t total, int p)
{
    if (p < 1) p = 1;
    if (p > 100) p = 100;
    uint64_t rank = total / 100 * (uint64_t)p + ((total % 100) * (uint64_t)p + 99) / 100;
    return rank < 1 ? 1 : rank;
}

void sy_hist_percentiles(const sy_hist_t *h, const int *p, size_t n, int64_t *out)
{
    size_t k = 0;
    uint64_t seen = 0, want = n && h->total ? rank_of(h->total, p[0]) : 0;
    for (uint32_t i = h->ulo; h->total && i < h->uhi && k < n; i++) {
        seen += h->c[i - h->lo];
        while (k < n && seen >= want) {
            out[k++] = sy_hist_value(i);
            if (k < n) want = rank_of(h->total, p[k]);
        }
    }
    for (; k < n; k++) /* empty (or unreachable: total is the sum) */
        out[k] = h->total ? sy_hist_value(h->uhi - 1) : -1;
}

int64_t sy_hist_percentile(const sy_hist_t *h, int p)
{
    int64_t v;
    sy_hist_percentiles(h, &p, 1, &v);
    return v;
}

static size_t put_varint(unsigned char *p, uint64_t v)
{
    size_t k = 0;
    while (v >= 0x80) {
        p[k++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[k++] = (unsigned char)v;
    return k;
}

static bool get_varint(const unsigned char *p, size_t len, size_t *pos, uint64_t *out)
{
    if (*pos < len && p[*pos] < 0x80) { /* the common case: one byte */
        *out = p[(*pos)++];
        return true;
    }
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*pos >= len) return false;
        unsigned char b = p[(*pos)++];
        if (shift == 63 && b > 1) return false; /* bits past 64 */
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false; /* more than 10 bytes */
}

sy_err_t sy_hist_encode(const sy_hist_t *h, sy_buf_t *out)
{
    sy_err_t err;
    unsigned char *p = (unsigned char *)sy_buf_reserve(out, SY_HIST_ENCODED_MAX, &err);
    if (!p) return err;
    size_t k = 0;
    p[k++] = SY_HIST_VERSION;
    uint32_t next = 0; /* index the next gap counts from */
    for (uint32_t i = h->ulo; h->total && i < h->uhi; i++) {
        if (!h->c[i - h->lo]) continue;
        k += put_varint(p + k, i - next);
        k += put_varint(p + k, h->c[i - h->lo]);
        next = i + 1;
    }
    out->len += k;
    return SY_OK;
}

/* Adds (sign > 0) or removes the entries of the encoding up to byte stop; returns the offset
 * of the first malformed entry (len when all are well formed). *sum receives their total
 * (0 on overflow, with the offset of the entry that overflowed). */
static size_t walk(sy_hist_t *h, const unsigned char *p, size_t len, size_t stop, int sign,
                   uint64_t *sum)
{
    size_t pos = 1;
    uint64_t next = 0, total = 0;
    while (pos < len && pos < stop) {
        size_t at = pos;
        uint64_t gap, cnt;
        if (!get_varint(p, len, &pos, &gap) || !get_varint(p, len, &pos, &cnt) ||
            gap >= SY_HIST_BUCKETS || next + gap >= SY_HIST_BUCKETS || !cnt ||
            total + cnt < total) {
            *sum = total;
            return at;
        }
        total += cnt;
        uint32_t idx = (uint32_t)(next + gap);
        if (sign > 0) {
            cover(h, idx, idx);
            touch(h, idx, idx);
            h->c[idx - h->lo] += cnt;
        } else {
            h->c[idx - h->lo] -= cnt;
        }
        next = (uint64_t)idx + 1;
    }
    *sum = total;
    return len;
}

sy_err_t sy_hist_merge_encoded(sy_hist_t *h, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (!p || len < 1 || p[0] != SY_HIST_VERSION) return SY_ERR_CORRUPT;
    /* one pass that applies as it decodes; a malformed entry undoes what came before it, so
     * the histogram is unchanged on error (corruption is rare, decoding is on the hot path) */
    uint64_t sum;
    size_t bad = walk(h, p, len, len, +1, &sum);
    if (bad == len && h->total + sum >= h->total) {
        h->total += sum;
        return SY_OK;
    }
    walk(h, p, len, bad, -1, &sum);
    return SY_ERR_CORRUPT;
}
