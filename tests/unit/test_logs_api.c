/* The pure parts of the inference-log query API: timestamps (core/timefmt.c), query strings
 * (http/query.c), exact cost text (logpipe/cost.c), row and stats JSON and bucket rules
 * (api/logs_fmt.c). JSON output is checked by parsing it back with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/logs_fmt.h"
#include "core/timefmt.h"
#include "http/query.h"
#include "logpipe/cost.h"

static int64_t ts(const char *s)
{
    int64_t us = -42;
    if (!sy_timefmt_parse(sy_str_c(s), &us)) fail_msg("rejected: %s", s);
    return us;
}

static void rejected(const char *s)
{
    int64_t us = -42;
    if (sy_timefmt_parse(sy_str_c(s), &us)) fail_msg("accepted: %s -> %lld", s, (long long)us);
    assert_int_equal(us, -42);
}

static void timestamps(void **state)
{
    (void)state;
    assert_int_equal(ts("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(ts("2026-11-23T06:00:00Z"), INT64_C(1795413600000000));
    assert_int_equal(ts("2026-11-23t06:00:00z"), INT64_C(1795413600000000));
    assert_int_equal(ts("2026-11-23T07:30:00+01:30"), INT64_C(1795413600000000));
    assert_int_equal(ts("2026-11-22T22:00:00-08:00"), INT64_C(1795413600000000));
    assert_int_equal(ts("2026-11-23T06:00:00.5Z"), INT64_C(1795413600500000));
    assert_int_equal(ts("2026-11-23T06:00:00.123456Z"), INT64_C(1795413600123456));
    /* beyond µs: truncated */
    assert_int_equal(ts("2026-11-23T06:00:00.1234569Z"), INT64_C(1795413600123456));
    assert_int_equal(ts("2024-02-29T00:00:00Z"), INT64_C(1709164800000000));
    assert_int_equal(ts("9999-12-31T23:59:59.999999Z"), SY_TIMEFMT_MAX_US);
    /* integer Unix milliseconds */
    assert_int_equal(ts("1795413600000"), INT64_C(1795413600000000));
    assert_int_equal(ts("0"), 0);
    assert_int_equal(ts("1795413600123"), INT64_C(1795413600123000));

    rejected("");
    rejected("2026-11-23");
    rejected("2026-11-23T06:00:00");  /* no offset */
    rejected("2026-11-23 06:00:00Z"); /* space */
    rejected("2026-11-23T06:00Z");    /* no seconds */
    rejected("2026-02-29T00:00:00Z"); /* not a leap year */
    rejected("2026-13-01T00:00:00Z");
    rejected("2026-04-31T00:00:00Z");
    rejected("2026-11-23T24:00:00Z");
    rejected("2026-11-23T06:60:00Z");
    rejected("2026-11-23T06:00:60Z");     /* leap second */
    rejected("2026-11-23T06:00:00.Z");    /* empty fraction */
    rejected("2026-11-23T06:00:00+0100"); /* offset without colon */
    rejected("2026-11-23T06:00:00+24:00");
    rejected("2026-11-23T06:00:00Zx");     /* trailing */
    rejected("1969-12-31T23:59:59Z");      /* before the epoch */
    rejected("1970-01-01T00:30:00+01:00"); /* before the epoch too */
    rejected("-1");
    rejected("1.5");
    rejected("1e12");
    rejected("12345678901234567"); /* too many digits */
    rejected("253402300800000");   /* after 9999 */
    rejected("yesterday");

    char out[SY_TIMEFMT_RFC3339_LEN];
    assert_int_equal(sy_timefmt_rfc3339(out, INT64_C(1795413600123456)), 27);
    assert_string_equal(out, "2026-11-23T06:00:00.123456Z");
    sy_timefmt_rfc3339(out, 0);
    assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
    sy_timefmt_rfc3339(out, SY_TIMEFMT_MAX_US);
    assert_string_equal(out, "9999-12-31T23:59:59.999999Z");
    /* round trip */
    assert_int_equal(ts(out), SY_TIMEFMT_MAX_US);
}

typedef struct qcase {
    sy_arena_t arena;
    const char *bad;
    char msg[512];
} qcase_t;

static sy_err_t parse(qcase_t *q, const char *query, sy_http_param_t *p, size_t n)
{
    sy_arena_reset(&q->arena);
    q->msg[0] = 0;
    return sy_http_query_parse(sy_str_c(query), p, n, &q->arena, &q->bad, q->msg, sizeof q->msg);
}

static void query_strings(void **state)
{
    (void)state;
    qcase_t q;
    sy_arena_init(&q.arena);
    sy_http_param_t p[] = {{.name = "model"}, {.name = "q"}, {.name = "limit"}};

    assert_int_equal(parse(&q, "", p, 3), SY_OK);
    assert_false(p[0].set || p[1].set || p[2].set);

    assert_int_equal(parse(&q, "model=gpt-4o&q=hello%20world%21+again&&limit=5&", p, 3), SY_OK);
    assert_true(p[0].set && p[1].set && p[2].set);
    assert_string_equal(p[0].value.ptr, "gpt-4o");
    assert_string_equal(p[1].value.ptr, "hello world! again");
    assert_int_equal(p[1].value.len, 18);
    assert_string_equal(p[2].value.ptr, "5");

    /* UTF-8 through escapes, '=' inside a value, escaped '&' and '+' */
    assert_int_equal(parse(&q, "q=caf%C3%A9%3Dx%26y%2B=z&model", p, 3), SY_OK);
    assert_string_equal(p[1].value.ptr, "caf\xc3\xa9=x&y+=z");
    assert_true(p[0].set);
    assert_int_equal(p[0].value.len, 0);
    assert_false(p[2].set);

    /* an escaped name */
    assert_int_equal(parse(&q, "mod%65l=x", p, 3), SY_OK);
    assert_string_equal(p[0].value.ptr, "x");

    assert_int_equal(parse(&q, "q=%zz", p, 3), SY_ERR_INVALID_REQUEST);
    assert_string_equal(q.bad, "q");
    assert_non_null(strstr(q.msg, "percent-escape"));
    assert_int_equal(parse(&q, "q=abc%4", p, 3), SY_ERR_INVALID_REQUEST);
    assert_int_equal(parse(&q, "q=abc%", p, 3), SY_ERR_INVALID_REQUEST);
    assert_int_equal(parse(&q, "q=a%00b", p, 3), SY_ERR_INVALID_REQUEST);
    assert_int_equal(parse(&q, "%zz=1", p, 3), SY_ERR_INVALID_REQUEST);

    assert_int_equal(parse(&q, "limit=1&limit=2", p, 3), SY_ERR_INVALID_REQUEST);
    assert_string_equal(q.bad, "limit");
    assert_non_null(strstr(q.msg, "more than once"));
    /* the same name, once escaped, is still a repeat */
    assert_int_equal(parse(&q, "q=1&%71=2", p, 3), SY_ERR_INVALID_REQUEST);
    assert_string_equal(q.bad, "q");

    assert_int_equal(parse(&q, "model=x&colour=red", p, 3), SY_ERR_INVALID_REQUEST);
    assert_string_equal(q.bad, "colour");
    assert_string_equal(q.msg, "unknown query parameter 'colour'; allowed: model, q, limit");
    /* control bytes of an unknown name are not echoed */
    assert_int_equal(parse(&q, "a%0Ab=1", p, 3), SY_ERR_INVALID_REQUEST);
    assert_string_equal(q.bad, "a?b");
    sy_arena_dispose(&q.arena);
}

static void cost_text(void **state)
{
    (void)state;
    char t[SY_COST_USD_LEN];
    struct {
        int64_t n;
        const char *s;
    } c[] = {
        {0, "0"},
        {1, "0.000000001"},
        {86000, "0.000086"},
        {7500, "0.0000075"},
        {1500000000, "1.5"},
        {1000000000, "1"},
        {123456789012, "123.456789012"},
        {INT64_MAX, "9223372036.854775807"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int n = sy_cost_format_usd(t, c[i].n);
        assert_string_equal(t, c[i].s);
        assert_int_equal(n, (int)strlen(c[i].s));
    }
}

static json_t *parse_json(const sy_buf_t *b)
{
    json_error_t e;
    json_t *j = json_loadb(b->base, b->len, 0, &e);
    if (!j) fail_msg("bad JSON (%s): %.*s", e.text, (int)b->len, b->base);
    return j;
}

static void row_json(void **state)
{
    (void)state;
    sy_log_record_t r;
    sy_log_record_init(&r);
    strcpy(r.id, "01a20736-e4f7-743e-8317-b47518d4ee94");
    strcpy(r.parent_id, "01a20736-e4f7-743e-8317-b47518d4ee93");
    r.request_id = SY_STR_LIT("req-1");
    r.attempt = 2;
    r.t_received_us = INT64_C(1795413600123456);
    r.t_end_us = INT64_C(1795413601000000);
    r.latency_us = 876544;
    r.model = SY_STR_LIT("m");
    r.provider = SY_STR_LIT("mock");
    r.status = SY_LOG_STATUS_ERROR;
    r.http_status = 502;
    r.error_type = SY_STR_LIT("upstream_error");
    r.error_message = SY_STR_LIT("bad \"gateway\"\n");
    r.input_tokens = 12;
    r.output_tokens = 0;
    r.usage_source = SY_LOG_USAGE_ESTIMATED;
    r.cost_nanousd = 7500;
    r.user_id = SY_STR_LIT("");
    sy_str_t tags[] = {SY_STR_LIT("a"), SY_STR_LIT("b c")};
    r.tags = tags;
    r.n_tags = 2;
    r.metadata = SY_STR_LIT("{\"k\":\"v\",\"n\":[1,2]}");
    r.request_body = SY_STR_LIT("{\"x\":1}");
    r.request_size = 7;
    r.response_truncated = true;

    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    assert_int_equal(sy_logs_row_json(&b, &r, false), SY_OK);
    json_t *j = parse_json(&b);
    assert_string_equal(json_string_value(json_object_get(j, "id")), r.id);
    assert_string_equal(json_string_value(json_object_get(j, "parent_id")), r.parent_id);
    assert_string_equal(json_string_value(json_object_get(j, "request_id")), "req-1");
    assert_int_equal(json_integer_value(json_object_get(j, "attempt")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "received_at")),
                        "2026-11-23T06:00:00.123456Z");
    assert_int_equal(json_integer_value(json_object_get(j, "t_received_us")), r.t_received_us);
    assert_true(json_is_null(json_object_get(j, "upstream_start_at")));
    assert_true(json_is_null(json_object_get(j, "t_upstream_start_us")));
    assert_string_equal(json_string_value(json_object_get(j, "ended_at")),
                        "2026-11-23T06:00:01.000000Z");
    assert_int_equal(json_integer_value(json_object_get(j, "latency_us")), 876544);
    assert_true(json_is_null(json_object_get(j, "ttft_us")));
    assert_string_equal(json_string_value(json_object_get(j, "status")), "error");
    assert_int_equal(json_integer_value(json_object_get(j, "http_status")), 502);
    assert_string_equal(json_string_value(json_object_get(j, "error_message")),
                        "bad \"gateway\"\n");
    assert_int_equal(json_integer_value(json_object_get(j, "input_tokens")), 12);
    assert_int_equal(json_integer_value(json_object_get(j, "output_tokens")), 0);
    assert_true(json_is_null(json_object_get(j, "reasoning_tokens")));
    assert_string_equal(json_string_value(json_object_get(j, "usage_source")), "estimated");
    assert_int_equal(json_integer_value(json_object_get(j, "cost_nanousd")), 7500);
    assert_true(json_is_real(json_object_get(j, "cost_usd")));
    /* the exact digits in the text, not a double's rendering */
    assert_non_null(memmem(b.base, b.len, "\"cost_usd\":0.0000075,", 21));
    assert_true(json_is_null(json_object_get(j, "key_id")));
    assert_string_equal(json_string_value(json_object_get(j, "user_id")), "");
    assert_int_equal(json_array_size(json_object_get(j, "tags")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "tags"), 1)), "b c");
    json_t *md = json_object_get(j, "metadata");
    assert_true(json_is_object(md));
    assert_string_equal(json_string_value(json_object_get(md, "k")), "v");
    assert_int_equal(json_integer_value(json_object_get(j, "request_size")), 7);
    assert_true(json_is_null(json_object_get(j, "response_size")));
    assert_true(json_is_false(json_object_get(j, "request_truncated")));
    assert_true(json_is_true(json_object_get(j, "response_truncated")));
    assert_null(json_object_get(j, "request_body"));
    json_decref(j);

    /* with bodies; unknown cost; a metadata text that is not an object becomes null */
    r.cost_nanousd = SY_LOG_UNKNOWN;
    r.metadata = SY_STR_LIT("[1,2");
    r.parent_id[0] = 0;
    r.http_status = 0;
    r.n_tags = 0;
    sy_buf_reset(&b);
    assert_int_equal(sy_logs_row_json(&b, &r, true), SY_OK);
    j = parse_json(&b);
    assert_string_equal(json_string_value(json_object_get(j, "request_body")), "{\"x\":1}");
    assert_true(json_is_null(json_object_get(j, "response_body")));
    assert_true(json_is_null(json_object_get(j, "cost_usd")));
    assert_true(json_is_null(json_object_get(j, "cost_nanousd")));
    assert_true(json_is_null(json_object_get(j, "metadata")));
    assert_true(json_is_null(json_object_get(j, "parent_id")));
    assert_true(json_is_null(json_object_get(j, "http_status")));
    assert_int_equal(json_array_size(json_object_get(j, "tags")), 0);
    json_decref(j);

    /* bodies cut at log.max_body_bytes may end inside a UTF-8 sequence (SQLite keeps the bytes
     * as they are): the answer is still valid UTF-8 JSON, a bad byte becomes U+FFFD */
    r.request_body = SY_STR_LIT("{\"x\":\"caf\xC3");
    r.response_body = SY_STR_LIT("a\xFF\xE2\x82\xAC"
                                 "b");
    sy_buf_reset(&b);
    assert_int_equal(sy_logs_row_json(&b, &r, true), SY_OK);
    j = parse_json(&b);
    assert_string_equal(json_string_value(json_object_get(j, "request_body")),
                        "{\"x\":\"caf\xEF\xBF\xBD");
    assert_string_equal(json_string_value(json_object_get(j, "response_body")),
                        "a\xEF\xBF\xBD\xE2\x82\xAC"
                        "b");
    json_decref(j);
    r.request_body = SY_STR_LIT("{\"x\":1}");
    r.response_body = SY_STR_NULL;

    /* a capped buffer: SY_ERR_TOO_LARGE, never an overflow */
    sy_buf_t small;
    sy_buf_init(&small, 100);
    assert_int_equal(sy_logs_row_json(&small, &r, true), SY_ERR_TOO_LARGE);
    assert_true(small.len <= 100);
    sy_buf_dispose(&small);
    sy_buf_dispose(&b);
}

static void buckets(void **state)
{
    (void)state;
    int64_t s = 0;
    assert_true(sy_logs_bucket_parse(SY_STR_LIT("60s"), &s) && s == 60);
    assert_true(sy_logs_bucket_parse(SY_STR_LIT("5m"), &s) && s == 300);
    assert_true(sy_logs_bucket_parse(SY_STR_LIT("1h"), &s) && s == 3600);
    assert_true(sy_logs_bucket_parse(SY_STR_LIT("1d"), &s) && s == 86400);
    assert_true(sy_logs_bucket_parse(SY_STR_LIT("90"), &s) && s == 90);
    assert_true(sy_logs_bucket_parse(SY_STR_LIT("366d"), &s) && s == 366 * 86400);
    s = -1;
    assert_false(sy_logs_bucket_parse(SY_STR_LIT(""), &s));
    assert_false(sy_logs_bucket_parse(SY_STR_LIT("0"), &s));
    assert_false(sy_logs_bucket_parse(SY_STR_LIT("0s"), &s));
    assert_false(sy_logs_bucket_parse(SY_STR_LIT("h"), &s));
    assert_false(sy_logs_bucket_parse(SY_STR_LIT("1w"), &s));
    assert_false(sy_logs_bucket_parse(SY_STR_LIT("-5m"), &s));
    assert_false(sy_logs_bucket_parse(SY_STR_LIT("1.5h"), &s));
    assert_false(sy_logs_bucket_parse(SY_STR_LIT("367d"), &s));
    assert_false(sy_logs_bucket_parse(SY_STR_LIT("99999999999999d"), &s));
    assert_int_equal(s, -1);

    const int64_t H = INT64_C(3600000000), D = 24 * H;
    int64_t t0 = INT64_C(1795413600000000); /* 06:00 */
    assert_int_equal(sy_logs_bucket_count(t0, t0 + H, 60000000), 60);
    assert_int_equal(sy_logs_bucket_count(t0 + 1, t0 + H, 60000000), 60);
    assert_int_equal(sy_logs_bucket_count(t0 + 1, t0 + H + 1, 60000000), 61);
    assert_int_equal(sy_logs_bucket_count(t0, t0 + 1, D), 1);
    /* defaults: at most 300 aligned buckets, the smallest nice width */
    assert_int_equal(sy_logs_bucket_default(t0, t0 + H), 15);       /* 240 buckets */
    assert_int_equal(sy_logs_bucket_default(t0, t0 + D), 300);      /* 288 */
    assert_int_equal(sy_logs_bucket_default(t0, t0 + 7 * D), 3600); /* 168 */
    assert_int_equal(sy_logs_bucket_default(t0, t0 + 60000000), 1);
    /* 300 s exactly at 1 s would be 301 aligned buckets when not aligned */
    assert_int_equal(sy_logs_bucket_default(t0 + 1, t0 + 300000001), 5);
    assert_int_equal(sy_logs_bucket_default(0, INT64_C(253402300799999999)), 366 * 86400);

    sy_stats_group_t g;
    assert_true(sy_logs_group_parse(SY_STR_LIT("provider"), &g) && g == SY_STATS_GROUP_PROVIDER);
    assert_true(sy_logs_group_parse(SY_STR_LIT("none"), &g) && g == SY_STATS_GROUP_NONE);
    assert_false(sy_logs_group_parse(SY_STR_LIT("user"), &g));
    assert_string_equal(sy_logs_group_name(SY_STATS_GROUP_KEY), "key");
}

static void stats_json(void **state)
{
    (void)state;
    sy_stats_row_t rows[2] = {
        {.bucket_start_us = INT64_C(1795413600000000),
         .group = "m",
         .count = 4,
         .errors = 1,
         .error_rate = 0.25,
         .latency_p50_us = 1500,
         .latency_p95_us = 2000,
         .latency_p99_us = 2001,
         .ttft_p50_us = 1000,
         .ttft_p95_us = SY_LOG_UNKNOWN,
         .input_tokens = 36,
         .output_tokens = 102,
         .tokens_per_s = 12.5,
         .cost_nanousd = 258000,
         .cost_unknown = 1},
        {.bucket_start_us = INT64_C(1795413660000000),
         .count = 1,
         .latency_p50_us = SY_LOG_UNKNOWN,
         .latency_p95_us = SY_LOG_UNKNOWN,
         .latency_p99_us = SY_LOG_UNKNOWN,
         .ttft_p50_us = SY_LOG_UNKNOWN,
         .ttft_p95_us = SY_LOG_UNKNOWN,
         .cost_nanousd = SY_LOG_UNKNOWN,
         .cost_unknown = 1},
    };
    sy_stats_row_t tot = {.count = 5,
                          .errors = 1,
                          .input_tokens = 36,
                          .output_tokens = 102,
                          .tokens_per_s = 10,
                          .cost_nanousd = 258000,
                          .cost_unknown = 2};
    sy_stats_result_t cells = {rows, 2, false, 0}, totals = {&tot, 1, false, 0};
    sy_stats_query_t q = {.from_us = INT64_C(1795413600000000),
                          .to_us = INT64_C(1795417200000000),
                          .bucket_us = 60000000,
                          .group_by = SY_STATS_GROUP_MODEL};
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    assert_int_equal(sy_logs_stats_json(&b, &q, "exact", &cells, &totals), SY_OK);
    json_t *j = parse_json(&b);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "stats");
    assert_string_equal(json_string_value(json_object_get(j, "from")),
                        "2026-11-23T06:00:00.000000Z");
    assert_int_equal(json_integer_value(json_object_get(j, "bucket_seconds")), 60);
    assert_string_equal(json_string_value(json_object_get(j, "group_by")), "model");
    assert_string_equal(json_string_value(json_object_get(j, "percentiles")), "exact");
    assert_null(json_object_get(j, "percentile_max_rel_error"));
    json_t *d = json_object_get(j, "data");
    assert_int_equal(json_array_size(d), 2);
    json_t *c0 = json_array_get(d, 0), *c1 = json_array_get(d, 1);
    assert_string_equal(json_string_value(json_object_get(c0, "group")), "m");
    assert_int_equal(json_integer_value(json_object_get(c0, "count")), 4);
    assert_true(json_real_value(json_object_get(c0, "error_rate")) == 0.25);
    assert_true(json_real_value(json_object_get(json_object_get(c0, "latency_ms"), "p50")) == 1.5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c0, "latency_ms"), "p95")),
                     2);
    assert_non_null(memmem(b.base, b.len, "\"p99\":2.001", 11));
    assert_true(json_is_null(json_object_get(json_object_get(c0, "ttft_ms"), "p95")));
    assert_non_null(memmem(b.base, b.len, "\"cost_usd\":0.000258,", 20));
    assert_int_equal(json_integer_value(json_object_get(c0, "cost_unknown_rows")), 1);
    assert_true(json_is_null(json_object_get(c1, "group")));
    assert_true(json_is_null(json_object_get(c1, "cost_usd")));
    assert_true(json_is_null(json_object_get(json_object_get(c1, "latency_ms"), "p50")));
    assert_string_equal(json_string_value(json_object_get(c1, "bucket_start")),
                        "2026-11-23T06:01:00.000000Z");
    json_t *t = json_object_get(j, "totals");
    assert_int_equal(json_integer_value(json_object_get(t, "count")), 5);
    assert_true(json_real_value(json_object_get(t, "error_rate")) == 0.2);
    assert_true(json_number_value(json_object_get(t, "tokens_per_s")) == 10);
    assert_int_equal(json_integer_value(json_object_get(t, "cost_unknown_rows")), 2);
    assert_null(json_object_get(t, "latency_ms"));
    json_decref(j);

    /* an empty range: no cells, zero totals, unknown cost */
    sy_stats_result_t none = {NULL, 0, true, 0};
    sy_buf_reset(&b);
    assert_int_equal(sy_logs_stats_json(&b, &q, "approximate", &none, &none), SY_OK);
    j = parse_json(&b);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 0);
    t = json_object_get(j, "totals");
    assert_int_equal(json_integer_value(json_object_get(t, "count")), 0);
    assert_true(json_is_null(json_object_get(t, "cost_usd")));
    /* approximate: the bound is stated, the fine one by default, a coarse level's when set */
    assert_true(json_real_value(json_object_get(j, "percentile_max_rel_error")) == 1.0 / 128);
    json_decref(j);
    none.pct_rel_error = 2.5 / 64;
    sy_buf_reset(&b);
    assert_int_equal(sy_logs_stats_json(&b, &q, "approximate", &none, &none), SY_OK);
    j = parse_json(&b);
    assert_true(json_real_value(json_object_get(j, "percentile_max_rel_error")) == 2.5 / 64);
    json_decref(j);
    sy_buf_dispose(&b);
}

/* Totals are the cells added up: counts, tokens, the ok sums behind tokens/s, known cost. */
static void stats_totals(void **state)
{
    (void)state;
    sy_stats_row_t rows[3] = {
        {.count = 4,
         .errors = 1,
         .input_tokens = 36,
         .output_tokens = 102,
         .ok_output_tokens = 100,
         .ok_latency_us = 2000000,
         .cost_nanousd = 258000,
         .cost_unknown = 1},
        {.count = 1, .cost_nanousd = SY_LOG_UNKNOWN, .cost_unknown = 1},
        {.count = 5,
         .input_tokens = 4,
         .output_tokens = 8,
         .ok_output_tokens = 8,
         .ok_latency_us = 2000000,
         .cost_nanousd = 2},
    };
    sy_stats_result_t cells = {rows, 3, false, 0};
    sy_stats_row_t t;
    sy_logs_stats_totals(&cells, &t);
    assert_int_equal(t.count, 10);
    assert_int_equal(t.errors, 1);
    assert_true(t.error_rate == 0.1);
    assert_int_equal(t.input_tokens, 40);
    assert_int_equal(t.output_tokens, 110);
    assert_true(t.tokens_per_s == 27.0); /* 108 tokens over 4 s, not the mean of 50 and 4 */
    assert_int_equal(t.cost_nanousd, 258002);
    assert_int_equal(t.cost_unknown, 2);
    sy_stats_result_t unknown = {&rows[1], 1, false, 0};
    sy_logs_stats_totals(&unknown, &t);
    assert_int_equal(t.cost_nanousd, SY_LOG_UNKNOWN);
    sy_stats_result_t none = {NULL, 0, false, 0};
    sy_logs_stats_totals(&none, &t);
    assert_int_equal(t.count, 0);
    assert_true(t.tokens_per_s == 0);
    assert_int_equal(t.cost_nanousd, SY_LOG_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timestamps),   cmocka_unit_test(query_strings),
        cmocka_unit_test(cost_text),    cmocka_unit_test(row_json),
        cmocka_unit_test(buckets),      cmocka_unit_test(stats_json),
        cmocka_unit_test(stats_totals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
