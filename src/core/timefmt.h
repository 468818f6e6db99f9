/* Timestamps on the API surface: RFC 3339 text and Unix milliseconds in, RFC 3339 with
 * microseconds out. Pure functions, any thread. Times are wall-clock microseconds since the
 * Unix epoch (as in the inference log, logpipe/record.h). */
#ifndef SY_CORE_TIMEFMT_H
#define SY_CORE_TIMEFMT_H
#include <stdbool.h>
#include <stdint.h>

#include "core/str.h"

/* Largest accepted time: 9999-12-31T23:59:59.999999Z. */
#define SY_TIMEFMT_MAX_US INT64_C(253402300799999999)
/* Room for "YYYY-MM-DDTHH:MM:SS.ffffffZ" and its NUL. */
#define SY_TIMEFMT_RFC3339_LEN 28

/* Parses s into *us. Accepted:
 *  - RFC 3339 date-time: "2026-11-23T06:00:00Z", "2026-11-23t06:00:00.5+01:30" (T/Z in either
 *    case, any number of fraction digits, kept to the microsecond by truncation, offset Z or
 *    ±HH:MM); fields are range-checked (month days, leap years; no leap second 60);
 *  - an integer count of Unix milliseconds: "1795500000000" (digits only).
 * The result must lie in [1970-01-01T00:00:00Z, SY_TIMEFMT_MAX_US]. false on anything else
 * (*us untouched). */
bool sy_timefmt_parse(sy_str_t s, int64_t *us);

/* Writes us (0..SY_TIMEFMT_MAX_US) as "YYYY-MM-DDTHH:MM:SS.ffffffZ" into out (NUL-terminated);
 * returns the length (27). */
int sy_timefmt_rfc3339(char out[SY_TIMEFMT_RFC3339_LEN], int64_t us);

#endif
