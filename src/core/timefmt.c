/* See timefmt.h. glibc's timegm/gmtime_r do the calendar arithmetic; this file only checks the
 * text strictly (timegm would silently normalise "02-30" into March). */
#include "core/timefmt.h"

#include <stdio.h>
#include <time.h>

/* n decimal digits at s[*i] into *v; false unless all n are digits. */
static bool digits(sy_str_t s, size_t *i, int n, int *v)
{
    if (*i + (size_t)n > s.len) return false;
    int x = 0;
    for (int k = 0; k < n; k++) {
        char c = s.ptr[*i + (size_t)k];
        if (c < '0' || c > '9') return false;
        x = x * 10 + (c - '0');
    }
    *i += (size_t)n;
    *v = x;
    return true;
}

static bool expect(sy_str_t s, size_t *i, char c)
{
    if (*i >= s.len || s.ptr[*i] != c) return false;
    (*i)++;
    return true;
}

static int month_days(int y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

static bool parse_millis(sy_str_t s, int64_t *us)
{
    if (s.len == 0 || s.len > 15) return false; /* 15 digits covers year 9999 */
    int64_t ms = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9') return false;
        ms = ms * 10 + (s.ptr[i] - '0');
    }
    if (ms > SY_TIMEFMT_MAX_US / 1000) return false;
    *us = ms * 1000;
    return true;
}

bool sy_timefmt_parse(sy_str_t s, int64_t *us)
{
    if (!s.ptr) return false;
    if (s.len && s.len <= 15 && s.ptr[0] >= '0' && s.ptr[0] <= '9' && !memchr(s.ptr, '-', s.len))
        return parse_millis(s, us);
    size_t i = 0;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    if (!digits(s, &i, 4, &y) || !expect(s, &i, '-') || !digits(s, &i, 2, &mo) ||
        !expect(s, &i, '-') || !digits(s, &i, 2, &d))
        return false;
    if (i >= s.len || (s.ptr[i] != 'T' && s.ptr[i] != 't')) return false;
    i++;
    if (!digits(s, &i, 2, &h) || !expect(s, &i, ':') || !digits(s, &i, 2, &mi) ||
        !expect(s, &i, ':') || !digits(s, &i, 2, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 || sec > 59)
        return false;
    int64_t frac = 0;
    if (i < s.len && s.ptr[i] == '.') {
        i++;
        size_t n = 0;
        for (; i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9'; i++, n++)
            if (n < 6) frac = frac * 10 + (s.ptr[i] - '0');
        if (n == 0) return false;
        for (; n < 6; n++)
            frac *= 10;
    }
    int off = 0; /* seconds east of UTC */
    if (i < s.len && (s.ptr[i] == 'Z' || s.ptr[i] == 'z')) {
        i++;
    } else if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-')) {
        int sign = s.ptr[i++] == '-' ? -1 : 1, oh, om;
        if (!digits(s, &i, 2, &oh) || !expect(s, &i, ':') || !digits(s, &i, 2, &om) || oh > 23 ||
            om > 59)
            return false;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return false;
    }
    if (i != s.len) return false;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm) - off;
    if (t < 0) return false;
    int64_t v = t * 1000000 + frac;
    if (v > SY_TIMEFMT_MAX_US) return false;
    *us = v;
    return true;
}

int sy_timefmt_rfc3339(char out[SY_TIMEFMT_RFC3339_LEN], int64_t us)
{
    if (us < 0) us = 0;
    if (us > SY_TIMEFMT_MAX_US) us = SY_TIMEFMT_MAX_US;
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    return snprintf(out, SY_TIMEFMT_RFC3339_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                    (int)(us % 1000000));
}
