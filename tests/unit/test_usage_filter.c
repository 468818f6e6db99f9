/* api/usage_filter: the stream a client gets when the gateway asked for usage it did not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api/usage_filter.h"

#define ENV                                                                                        \
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
#define CH(delta, fin) "\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" fin "}]"
#define USAGE_CHUNK                                                                                \
    "data: " ENV "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":12,"         \
    "\"total_tokens\":21}}"

/* The same stream with include_usage (what the upstream sends) and without (what the client
 * must get), with event separator sep. */
static void make(char *with, char *without, size_t cap, const char *sep)
{
    const char *deltas[] = {"{\"role\":\"assistant\",\"content\":\"\"}",
                            "{\"content\":\"Hi, \\\"usage\\\":null\"}", "{\"content\":\" there\"}",
                            "{}"};
    const char *fins[] = {"null", "null", "null", "\"stop\""};
    size_t a = 0, b = 0;
    for (int i = 0; i < 4; i++) {
        char ch[256];
        snprintf(ch, sizeof ch, "\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":%s}]",
                 deltas[i], fins[i]);
        a += (size_t)snprintf(with + a, cap - a, "data: " ENV "%s,\"usage\":null}%s", ch, sep);
        b += (size_t)snprintf(without + b, cap - b, "data: " ENV "%s}%s", ch, sep);
    }
    a += (size_t)snprintf(with + a, cap - a, USAGE_CHUNK "%s", sep);
    a += (size_t)snprintf(with + a, cap - a, "data: [DONE]%s", sep);
    b += (size_t)snprintf(without + b, cap - b, "data: [DONE]%s", sep);
}

typedef struct sink {
    char buf[8192];
    size_t len;
} sink_t;

static bool collect(void *ctx, const char *p, size_t n)
{
    sink_t *s = ctx;
    assert_true(s->len + n <= sizeof s->buf);
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return true;
}

/* Feeds `in` in pieces of `step` bytes, or in two pieces cut at `cut` when step is 0. */
static void run(const char *in, size_t n, size_t cut, size_t step, sink_t *out, unsigned long *hid)
{
    sy_usage_filter_t f;
    sy_usage_filter_init(&f, 1u << 16);
    out->len = 0;
    if (step) {
        for (size_t i = 0; i < n; i += step)
            sy_usage_filter_feed(&f, in + i, n - i < step ? n - i : step, collect, out);
    } else {
        sy_usage_filter_feed(&f, in, cut, collect, out);
        sy_usage_filter_feed(&f, in + cut, n - cut, collect, out);
    }
    sy_usage_filter_finish(&f, collect, out);
    *hid = f.hidden;
    sy_usage_filter_dispose(&f);
}

static void check_all_splits(const char *sep)
{
    char with[4096], without[4096];
    make(with, without, sizeof with, sep);
    size_t n = strlen(with), m = strlen(without);
    sink_t out;
    unsigned long hid;
    for (size_t cut = 0; cut <= n; cut++) {
        run(with, n, cut, 0, &out, &hid);
        assert_int_equal(hid, 1);
        assert_int_equal(out.len, m);
        assert_memory_equal(out.buf, without, m);
    }
    for (size_t step = 1; step <= 7; step++) {
        run(with, n, 0, step, &out, &hid);
        assert_int_equal(hid, 1);
        assert_int_equal(out.len, m);
        assert_memory_equal(out.buf, without, m);
    }
    /* a stream without usage passes byte for byte */
    for (size_t cut = 0; cut <= m; cut++) {
        run(without, m, cut, 0, &out, &hid);
        assert_int_equal(hid, 0);
        assert_int_equal(out.len, m);
        assert_memory_equal(out.buf, without, m);
    }
}

static void hides_usage_every_split_lf(void **state)
{
    check_all_splits("\n\n");
}

static void hides_usage_every_split_crlf(void **state)
{
    check_all_splits("\r\n\r\n");
}

static void hides_usage_every_split_cr(void **state)
{
    check_all_splits("\r\r");
}

/* Comment lines (": …") and other fields are not data: whatever they hold ("usage":null, a
 * usage-only look-alike) passes byte for byte, before and after the filter is armed, at every
 * split; the data lines around them are still filtered. */
static void comments_untouched_every_split(void **state)
{
#define NOTE ": ping ,\"usage\":null\n"
#define FAKE ": {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n"
    const char *in = NOTE
        "\n"
        "data: {\"choices\":[{\"delta\":{}, \"finish_reason\":null}],\"usage\":null}\n" NOTE "\n"
        "event: x,\"usage\":null\n"
        "data: {\"choices\":[{\"delta\":{}, \"finish_reason\":\"stop\"}],\"usage\":null}\n\n" NOTE
        "data: {\"choices\":[{\"delta\":{}}],\"usage\":null}\n\n" FAKE "\n" NOTE "\n" USAGE_CHUNK
        "\n\n"
        ": x\n"
        "data: [DONE]\n\n";
    const char *want =
        NOTE "\n"
             "data: {\"choices\":[{\"delta\":{}, \"finish_reason\":null}]}\n" NOTE "\n"
             "event: x,\"usage\":null\n"
             "data: {\"choices\":[{\"delta\":{}, \"finish_reason\":\"stop\"}]}\n\n" NOTE
             "data: {\"choices\":[{\"delta\":{}}]}\n\n" FAKE "\n" NOTE "\n"
             ": x\n"
             "data: [DONE]\n\n";
#undef NOTE
#undef FAKE
    size_t n = strlen(in), m = strlen(want);
    sink_t out;
    unsigned long hid;
    for (size_t cut = 0; cut <= n; cut++) {
        run(in, n, cut, 0, &out, &hid);
        assert_int_equal(hid, 1);
        assert_int_equal(out.len, m);
        assert_memory_equal(out.buf, want, m);
    }
    for (size_t step = 1; step <= 7; step++) {
        run(in, n, 0, step, &out, &hid);
        assert_int_equal(hid, 1);
        assert_int_equal(out.len, m);
        assert_memory_equal(out.buf, want, m);
    }
}

/* Spaced JSON (Python servers), usage first, a usage-only event split over lines. */
static void other_shapes(void **state)
{
    const char *in = "data: {\"id\": \"x\", \"choices\": [{\"delta\": {\"content\": \"a\"}, "
                     "\"finish_reason\" : \"stop\"}], \"usage\" :  null}\n\n"
                     "data: {\"usage\":null,\"choices\":[{\"delta\":{}}]}\n\n"
                     "data: {\"id\": \"x\", \"choices\": [ ],\n"
                     "data:  \"usage\": {\"prompt_tokens\": 1}}\n\n"
                     ": comment\n\n"
                     "data: [DONE]\n\n";
    const char *want = "data: {\"id\": \"x\", \"choices\": [{\"delta\": {\"content\": \"a\"}, "
                       "\"finish_reason\" : \"stop\"}]}\n\n"
                       "data: {\"choices\":[{\"delta\":{}}]}\n\n"
                       ": comment\n\n"
                       "data: [DONE]\n\n";
    sink_t out;
    unsigned long hid;
    for (size_t cut = 0; cut <= strlen(in); cut++) {
        run(in, strlen(in), cut, 0, &out, &hid);
        assert_int_equal(hid, 1);
        assert_int_equal(out.len, strlen(want));
        assert_memory_equal(out.buf, want, strlen(want));
    }
}

/* Bytes after "choices":[{ are forwarded as they come (no whole-event buffering). */
static void streams_partial_events(void **state)
{
    sy_usage_filter_t f;
    sy_usage_filter_init(&f, 1u << 16);
    sink_t out = {.len = 0};
    const char *a = "data: " ENV "\"choices\":[{\"delta\":{\"content\":\"hel";
    sy_usage_filter_feed(&f, a, strlen(a), collect, &out);
    assert_int_equal(out.len, strlen(a));
    const char *b = "lo\"}}],\"usa"; /* a possible ,"usage":null is held */
    sy_usage_filter_feed(&f, b, strlen(b), collect, &out);
    assert_int_equal(out.len, strlen(a) + strlen("lo\"}}]"));
    const char *c = "ge\":{\"prompt_tokens\":1}}\n\n"; /* not null: released */
    sy_usage_filter_feed(&f, c, strlen(c), collect, &out);
    assert_int_equal(out.len, strlen(a) + strlen(b) + strlen(c));
    assert_int_equal(f.hidden, 0);
    sy_usage_filter_dispose(&f);
}

/* Not armed (no finish_reason yet): even the envelope streams as it arrives. */
static void unarmed_streams_envelope(void **state)
{
    sy_usage_filter_t f;
    sy_usage_filter_init(&f, 1u << 16);
    sink_t out = {.len = 0};
    const char *a = "data: {\"id\":\"chatcmpl-1\",\"obj";
    sy_usage_filter_feed(&f, a, strlen(a), collect, &out);
    assert_int_equal(out.len, strlen(a));
    assert_false(f.armed);
    const char *b = "ect\":\"x\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
    sy_usage_filter_feed(&f, b, strlen(b), collect, &out);
    assert_true(f.armed);
    const char *c = "data: {\"id\":\"chatcmpl-1\",\"obj"; /* armed: held until "choices" */
    sy_usage_filter_feed(&f, c, strlen(c), collect, &out);
    assert_int_equal(out.len, strlen(a) + strlen(b));
    sy_usage_filter_finish(&f, collect, &out);
    assert_int_equal(out.len, strlen(a) + strlen(b) + strlen(c));
    sy_usage_filter_dispose(&f);
}

/* An event longer than the cap passes unfiltered; the filter recovers at the next event. */
static void oversized_event_passes(void **state)
{
    char in[2048];
    size_t n = (size_t)snprintf(
        in, sizeof in, "data: {\"id\":\"%0300d\",\"x\":1}\n\n" USAGE_CHUNK "\n\ndata: [DONE]\n\n",
        0);
    sy_usage_filter_t f;
    sy_usage_filter_init(&f, 64);
    sink_t out = {.len = 0};
    for (size_t i = 0; i < n; i += 16)
        sy_usage_filter_feed(&f, in + i, n - i < 16 ? n - i : 16, collect, &out);
    sy_usage_filter_finish(&f, collect, &out);
    /* the usage event is itself longer than 64 bytes: passed too */
    assert_int_equal(out.len, n);
    assert_memory_equal(out.buf, in, n);
    sy_usage_filter_dispose(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hides_usage_every_split_lf),
        cmocka_unit_test(hides_usage_every_split_crlf),
        cmocka_unit_test(hides_usage_every_split_cr),
        cmocka_unit_test(other_shapes),
        cmocka_unit_test(comments_untouched_every_split),
        cmocka_unit_test(streams_partial_events),
        cmocka_unit_test(unarmed_streams_envelope),
        cmocka_unit_test(oversized_event_passes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
