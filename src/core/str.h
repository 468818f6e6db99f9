/* String views: {ptr,len}, no NUL assumption (wire data is never NUL-terminated). */
#ifndef SY_CORE_STR_H
#define SY_CORE_STR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

typedef struct sy_str {
    const char *ptr;
    size_t len;
} sy_str_t;

#define SY_STR_LIT(s) ((sy_str_t){(s), sizeof(s) - 1})
#define SY_STR_NULL ((sy_str_t){NULL, 0})

static inline sy_str_t sy_str(const char *p, size_t n)
{
    return (sy_str_t){p, n};
}

static inline sy_str_t sy_str_c(const char *s)
{
    return (sy_str_t){s, s ? strlen(s) : 0};
}

static inline bool sy_str_eq(sy_str_t a, sy_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool sy_str_eq_c(sy_str_t a, const char *b)
{
    return sy_str_eq(a, sy_str_c(b));
}

/* ASCII case-insensitive equality (header names). */
static inline bool sy_str_ieq_c(sy_str_t a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && strncasecmp(a.ptr, b, n) == 0;
}

/* 10^0 … 10^19: every power of ten a uint64_t holds. */
static const uint64_t sy_pow10_u64[20] = {1ull,
                                          10ull,
                                          100ull,
                                          1000ull,
                                          10000ull,
                                          100000ull,
                                          1000000ull,
                                          10000000ull,
                                          100000000ull,
                                          1000000000ull,
                                          10000000000ull,
                                          100000000000ull,
                                          1000000000000ull,
                                          10000000000000ull,
                                          100000000000000ull,
                                          1000000000000000ull,
                                          10000000000000000ull,
                                          100000000000000000ull,
                                          1000000000000000000ull,
                                          10000000000000000000ull};

/* Writes v in decimal (no NUL) into out (room for 20 digits); returns the length. For hot paths
 * where snprintf's format parsing would cost more than the number. */
static inline size_t sy_u64_dec(char *out, uint64_t v)
{
    /* two digits per division, written from the end (the length is counted first) */
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930"
                                   "31323334353637383940414243444546474849505152535455565758596061"
                                   "62636465666768697071727374757677787980818283848586878889909192"
                                   "93949596979899";
    /* digits from the bit length (log10(2) ≈ 1233/4096), corrected by one comparison */
    size_t n = (size_t)(((64 - __builtin_clzll(v | 1)) * 1233) >> 12);
    n += (v | 1) >= sy_pow10_u64[n]; /* v | 1: 0 has one digit; same answer for the others */
    char *d = out + n;
    while (v >= 100) {
        uint64_t r = v % 100;
        v /= 100;
        d -= 2;
        memcpy(d, pairs + 2 * r, 2);
    }
    if (v >= 10)
        memcpy(d - 2, pairs + 2 * v, 2);
    else
        d[-1] = (char)('0' + v);
    return n;
}

/* A JSON integer token ("-"? digits) -> *v. False for anything else, and for a value that does
 * not fit int64 (more than 19 digits, or above INT64_MAX / below INT64_MIN), which jansson
 * refuses too: a wrapped value must never pass for a plausible count. */
static inline bool sy_str_to_i64(sy_str_t t, int64_t *v)
{
    size_t i = t.len && t.ptr[0] == '-';
    bool neg = i;
    if (i == t.len || t.len - i > 19) return false;
    uint64_t u = 0; /* 19 digits fit: < 10^19 < 2^64 */
    for (; i < t.len; i++) {
        unsigned d = (unsigned)((unsigned char)t.ptr[i] - '0');
        if (d > 9) return false;
        u = u * 10 + d;
    }
    if (u > (uint64_t)INT64_MAX + neg) return false;
    *v = neg ? (int64_t)(0 - u) : (int64_t)u;
    return true;
}

#endif
