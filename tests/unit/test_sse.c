#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "http/sse.h"

typedef struct events {
    char log[4096];
    size_t len;
    int n;
} events_t;

static void on_event(void *ctx, sy_str_t type, sy_str_t data, sy_str_t id)
{
    events_t *e = ctx;
    e->len +=
        (size_t)snprintf(e->log + e->len, sizeof e->log - e->len, "[%.*s|%.*s|%.*s]", (int)type.len,
                         type.ptr, (int)data.len, data.ptr, (int)id.len, id.ptr);
    e->n++;
}

static const char stream[] = ": comment\r\n"
                             "data: {\"a\":1}\n\n"
                             "event: ping\r\ndata: x\r\ndata:y\r\nid: 7\r\n\r\n"
                             "data\n\n"
                             "retry: 1500\rdata: cr only\r\r"
                             "data: [DONE]\n\n"
                             "data: partial-without-end";

static const char expected[] = "[message|{\"a\":1}|][ping|x\ny|7][message||7][message|cr only|7]"
                               "[message|[DONE]|7]";

static void parse_whole(void **state)
{
    events_t e = {0};
    sy_sse_parser_t p;
    sy_sse_parser_init(&p, 65536, on_event, &e);
    assert_int_equal(sy_sse_parser_feed(&p, stream, sizeof stream - 1), SY_OK);
    assert_string_equal(e.log, expected);
    assert_int_equal(p.retry_ms, 1500);
    sy_sse_parser_dispose(&p);
}

/* the same events whatever the split: every split point, and byte by byte */
static void parse_every_split(void **state)
{
    size_t n = sizeof stream - 1;
    for (size_t cut = 0; cut <= n; cut++) {
        events_t e = {0};
        sy_sse_parser_t p;
        sy_sse_parser_init(&p, 65536, on_event, &e);
        assert_int_equal(sy_sse_parser_feed(&p, stream, cut), SY_OK);
        assert_int_equal(sy_sse_parser_feed(&p, stream + cut, n - cut), SY_OK);
        assert_string_equal(e.log, expected);
        sy_sse_parser_dispose(&p);
    }
    events_t e = {0};
    sy_sse_parser_t p;
    sy_sse_parser_init(&p, 65536, on_event, &e);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sy_sse_parser_feed(&p, stream + i, 1), SY_OK);
    assert_string_equal(e.log, expected);
    sy_sse_parser_dispose(&p);
}

static void parse_limit(void **state)
{
    events_t e = {0};
    sy_sse_parser_t p;
    sy_sse_parser_init(&p, 16, on_event, &e);
    const char big[] = "data: 0123456789abcdefghij";
    assert_int_equal(sy_sse_parser_feed(&p, big, 10), SY_OK);
    assert_int_equal(sy_sse_parser_feed(&p, big + 10, sizeof big - 11), SY_ERR_TOO_LARGE);
    sy_sse_parser_dispose(&p);
}

static void writer_round_trip(void **state)
{
    sy_buf_t b;
    sy_buf_init(&b, 4096);
    assert_int_equal(sy_sse_append_event(&b, NULL, "{\"x\":1}", 7), SY_OK);
    assert_int_equal(sy_sse_append_event(&b, "error", "line1\nline2\r\nline3", 18), SY_OK);
    assert_int_equal(sy_sse_append_comment(&b, "keep-alive"), SY_OK);
    const char want[] = "data: {\"x\":1}\n\nevent: error\ndata: line1\ndata: line2\ndata: line3\n\n"
                        ": keep-alive\n\n";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.base, want, b.len);
    events_t e = {0};
    sy_sse_parser_t p;
    sy_sse_parser_init(&p, 4096, on_event, &e);
    assert_int_equal(sy_sse_parser_feed(&p, b.base, b.len), SY_OK);
    assert_string_equal(e.log, "[message|{\"x\":1}|][error|line1\nline2\nline3|]");
    sy_sse_parser_dispose(&p);
    sy_buf_dispose(&b);
}

static void boundary_tracking(void **state)
{
    sy_sse_boundary_t t = SY_SSE_BOUNDARY_INIT;
    assert_true(sy_sse_boundary_at_event(&t));
    sy_sse_boundary_feed(&t, "data: abc", 9);
    assert_false(sy_sse_boundary_at_event(&t));
    sy_sse_boundary_feed(&t, "\n", 1);
    assert_false(sy_sse_boundary_at_event(&t));
    sy_sse_boundary_feed(&t, "\n", 1);
    assert_true(sy_sse_boundary_at_event(&t));
    sy_sse_boundary_feed(&t, "data: x\r", 8);
    assert_false(sy_sse_boundary_at_event(&t));
    sy_sse_boundary_feed(&t, "\n", 1); /* completes \r\n: still one line ending */
    assert_false(sy_sse_boundary_at_event(&t));
    sy_sse_boundary_feed(&t, "\r\n", 2);
    assert_true(sy_sse_boundary_at_event(&t));
    sy_sse_boundary_feed(&t, "data: a\n\ndata: b\n", 17);
    assert_false(sy_sse_boundary_at_event(&t));
    sy_sse_boundary_feed(&t, "data: a\n\n", 9);
    assert_true(sy_sse_boundary_at_event(&t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_whole),       cmocka_unit_test(parse_every_split),
        cmocka_unit_test(parse_limit),       cmocka_unit_test(writer_round_trip),
        cmocka_unit_test(boundary_tracking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
