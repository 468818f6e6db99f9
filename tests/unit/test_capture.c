/* logpipe/capture: the tee (head + tail ring, first-token scan) and the extraction.
 * Fixtures: hand-written OpenAI and Anthropic bodies and streams, the mock provider's exact
 * stream bytes (src/providers/mock.c formats, copied), and the client responses of
 * tests/cases/openai and tests/cases/messages (read via SY_TEST_SRC). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/buf.h"
#include "core/json.h"
#include "logpipe/capture.h"

#define BIG ((size_t)1 << 20)

/* ---------------------------------------------------------------- helpers */

static void capture_str(sy_capture_t *c, const char *s, size_t n, size_t head, size_t tail,
                        size_t step)
{
    sy_capture_init(c, head, tail);
    for (size_t i = 0; i < n; i += step)
        sy_capture_feed(c, s + i, n - i < step ? n - i : step);
}

static void diff_capture(const sy_capture_t *c, int fmt, bool sse);

static void extract(const char *s, size_t n, int fmt, bool sse, size_t head, size_t tail,
                    sy_capture_result_t *r)
{
    sy_capture_t c;
    capture_str(&c, s, n, head, tail, n ? n : 1);
    sy_capture_extract(&c, fmt, sse, r);
    diff_capture(&c, fmt, sse);
    sy_capture_dispose(&c);
}

static bool buf_eq(const sy_buf_t *b, const char *s)
{
    return b->len == strlen(s) && (b->len == 0 || !memcmp(b->base, s, b->len));
}

#define assert_buf(b, s)                                                                           \
    do {                                                                                           \
        if (!buf_eq(&(b), (s)))                                                                    \
            fail_msg("%s: got \"%.*s\", want \"%s\"", #b, (int)(b).len, (b).base ? (b).base : "",  \
                     (s));                                                                         \
    } while (0)

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool results_equal(const sy_capture_result_t *a, const sy_capture_result_t *b)
{
    return str_eq(a->id, b->id) && str_eq(a->model, b->model) &&
           str_eq(a->finish_reason, b->finish_reason) && a->text.len == b->text.len &&
           (!a->text.len || !memcmp(a->text.base, b->text.base, a->text.len)) &&
           a->reasoning.len == b->reasoning.len &&
           (!a->reasoning.len || !memcmp(a->reasoning.base, b->reasoning.base, a->reasoning.len)) &&
           a->tool_calls.len == b->tool_calls.len &&
           (!a->tool_calls.len ||
            !memcmp(a->tool_calls.base, b->tool_calls.base, a->tool_calls.len)) &&
           !memcmp(&a->usage, &b->usage, sizeof a->usage) && a->usage_found == b->usage_found &&
           a->truncated == b->truncated && a->parse_failed == b->parse_failed &&
           a->total_bytes == b->total_bytes && a->n_events == b->n_events && a->n_bad == b->n_bad;
}

/* ---------------------------------------------------------------- fast path = slow path */

static long n_diffed;

static void show(const char *what, const sy_capture_result_t *r)
{
    print_message("%s: id %s model %s finish %s text[%zu] \"%.*s\" reasoning[%zu] \"%.*s\" "
                  "tools \"%.*s\" usage %lld/%lld/%lld/%lld/%lld found %d trunc %d failed %d "
                  "bytes %llu events %u bad %u\n",
                  what, r->id ? r->id : "-", r->model ? r->model : "-",
                  r->finish_reason ? r->finish_reason : "-", r->text.len, (int)r->text.len,
                  r->text.base ? r->text.base : "", r->reasoning.len, (int)r->reasoning.len,
                  r->reasoning.base ? r->reasoning.base : "", (int)r->tool_calls.len,
                  r->tool_calls.base ? r->tool_calls.base : "", (long long)r->usage.prompt_tokens,
                  (long long)r->usage.completion_tokens, (long long)r->usage.cached_tokens,
                  (long long)r->usage.cache_write_tokens, (long long)r->usage.reasoning_tokens,
                  r->usage_found, r->truncated, r->parse_failed, (unsigned long long)r->total_bytes,
                  r->n_events, r->n_bad);
}

/* sy_capture_extract (fast path first) against sy_capture_extract_slow (every event through
 * jansson): every field of the result must be the same. */
static void diff_capture(const sy_capture_t *c, int fmt, bool sse)
{
    sy_capture_result_t a, b;
    sy_capture_extract(c, fmt, sse, &a);
    sy_capture_extract_slow(c, fmt, sse, &b);
    if (!results_equal(&a, &b)) {
        show("fast", &a);
        show("slow", &b);
        size_t n = c->head.len;
        fail_msg("fast path differs (format %d, sse %d) for head[%zu]:\n%.*s", fmt, sse, n, (int)n,
                 c->head.base ? c->head.base : "");
    }
    n_diffed++;
    sy_capture_result_dispose(&a);
    sy_capture_result_dispose(&b);
}

static void diff_bytes(const char *s, size_t n, int fmt, bool sse, size_t head, size_t tail)
{
    sy_capture_t c;
    capture_str(&c, s, n, head, tail, n ? n : 1);
    diff_capture(&c, fmt, sse);
    sy_capture_dispose(&c);
}

static void assert_usage(const sy_fmt_usage_t *u, int64_t p, int64_t c, int64_t cr, int64_t cw,
                         int64_t rs)
{
    assert_int_equal(u->prompt_tokens, p);
    assert_int_equal(u->completion_tokens, c);
    assert_int_equal(u->cached_tokens, cr);
    assert_int_equal(u->cache_write_tokens, cw);
    assert_int_equal(u->reasoning_tokens, rs);
}

/* Same result for one feed, every two-piece split, and one byte at a time; the first-token
 * offset is the same too. */
static void check_splits_every(const char *s, size_t n, int fmt, bool sse, size_t head, size_t tail,
                               size_t stride)
{
    sy_capture_t c0;
    capture_str(&c0, s, n, head, tail, n ? n : 1);
    sy_capture_result_t r0;
    sy_capture_extract(&c0, fmt, sse, &r0);
    for (size_t i = 0; i <= n; i += stride) {
        sy_capture_t c;
        sy_capture_init(&c, head, tail);
        bool f1 = sy_capture_feed(&c, s, i);
        bool f2 = sy_capture_feed(&c, s + i, n - i);
        assert_int_equal(c.first_offset, c0.first_offset);
        assert_int_equal(f1 + f2, c0.first_offset >= 0);
        if (c0.first_offset >= 0) assert_true(f1 == ((size_t)c0.first_offset < i));
        sy_capture_result_t r;
        sy_capture_extract(&c, fmt, sse, &r);
        if (!results_equal(&r, &r0)) fail_msg("split at %zu of %zu differs", i, n);
        diff_capture(&c, fmt, sse);
        sy_capture_result_dispose(&r);
        sy_capture_dispose(&c);
    }
    sy_capture_t c1;
    capture_str(&c1, s, n, head, tail, 1);
    assert_int_equal(c1.first_offset, c0.first_offset);
    sy_capture_result_t r1;
    sy_capture_extract(&c1, fmt, sse, &r1);
    assert_true(results_equal(&r1, &r0));
    sy_capture_result_dispose(&r1);
    sy_capture_dispose(&c1);
    sy_capture_result_dispose(&r0);
    sy_capture_dispose(&c0);
}

static void check_splits(const char *s, size_t n, int fmt, bool sse, size_t head, size_t tail)
{
    check_splits_every(s, n, fmt, sse, head, tail, n / 1500 + 1); /* all splits below 1.5 KB */
}

/* ---------------------------------------------------------------- the mock's exact bytes */

/* The formats of src/providers/mock.c (chunk_prefix, usage_json, frame_delta, the reply). */
static void mock_prefix(sy_buf_t *b)
{
    sy_buf_append_c(b, "{\"id\":\"chatcmpl-0192abcd0192ab12\",\"object\":\"chat.completion.chunk\","
                       "\"created\":1741569952,\"model\":\"mock-1\",\"service_tier\":\"default\","
                       "\"system_fingerprint\":null,\"choices\":");
}

static void mock_usage(sy_buf_t *b, long long p, long long c)
{
    sy_buf_printf(b,
                  "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld,"
                  "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
                  "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                  "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}",
                  p, c, p + c);
}

static void mock_frame(sy_buf_t *b, const char *delta, const char *finish, bool usage)
{
    sy_buf_append_c(b, "data: ");
    mock_prefix(b);
    sy_buf_printf(b, "[{\"index\":0,\"delta\":%s,\"logprobs\":null,\"finish_reason\":%s}]", delta,
                  finish);
    if (usage) sy_buf_append_c(b, ",\"usage\":null");
    sy_buf_append_c(b, "}\n\n");
}

/* A mock stream of `chunks` content pieces of reply; *first_frame_end = end of the role frame. */
static void mock_stream(sy_buf_t *b, const char *reply, unsigned chunks, bool usage,
                        size_t *role_end)
{
    size_t n = strlen(reply);
    sy_buf_init(b, BIG * 8);
    mock_frame(b, "{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}", "null", usage);
    if (role_end) *role_end = b->len;
    size_t prev = 0;
    for (unsigned k = 1; k <= chunks; k++) {
        size_t c = n * k / chunks;
        while (c < n && ((unsigned char)reply[c] & 0xC0) == 0x80)
            c++;
        if (c <= prev) continue;
        sy_buf_t d;
        sy_buf_init(&d, BIG);
        sy_buf_append_c(&d, "{\"content\":");
        sy_json_append_string(&d, reply + prev, c - prev);
        sy_buf_append(&d, "}", 2);
        mock_frame(b, d.base, "null", usage);
        sy_buf_dispose(&d);
        prev = c;
    }
    mock_frame(b, "{}", "\"stop\"", usage);
    if (usage) {
        sy_buf_append_c(b, "data: ");
        mock_prefix(b);
        sy_buf_append_c(b, "[],\"usage\":");
        mock_usage(b, 12, (long long)(n + 3) / 4);
        sy_buf_append_c(b, "}\n\n");
    }
    sy_buf_append_c(b, "data: [DONE]\n\n");
}

static const char mock_reply[] =
    "You said: what is the \"capital\" of France? \xc3\xa9t\xc3\xa9 \\ "
    "line\nbreak, and twenty pieces of text to stream.";

static void mock_stream_usage(void **state)
{
    sy_buf_t b;
    size_t role_end;
    mock_stream(&b, mock_reply, 20, true, &role_end);
    sy_capture_result_t r;
    extract(b.base, b.len, SY_CAPTURE_OPENAI, true, BIG, 16384, &r);
    assert_string_equal(r.id, "chatcmpl-0192abcd0192ab12");
    assert_string_equal(r.model, "mock-1");
    assert_string_equal(r.finish_reason, "stop");
    assert_buf(r.text, mock_reply);
    assert_int_equal(r.reasoning.len, 0);
    assert_int_equal(r.tool_calls.len, 0);
    assert_true(r.usage_found);
    assert_usage(&r.usage, 12, (int64_t)(strlen(mock_reply) + 3) / 4, 0, -1, 0);
    assert_false(r.truncated);
    assert_int_equal(r.n_events, 24);
    assert_int_equal(r.n_bad, 0);
    assert_int_equal(r.total_bytes, b.len);
    sy_capture_result_dispose(&r);

    /* first token: not the role chunk (content ""), but the first content chunk */
    sy_capture_t c;
    sy_capture_init(&c, BIG, 16384);
    assert_false(sy_capture_feed(&c, b.base, role_end));
    assert_true(sy_capture_feed(&c, b.base + role_end, b.len - role_end));
    const char *first = strstr(b.base + role_end, "\"content\":\"") + 11;
    assert_int_equal(c.first_offset, first - b.base);
    sy_capture_dispose(&c);
    check_splits(b.base, b.len, SY_CAPTURE_OPENAI, true, BIG, 16384);
    sy_buf_dispose(&b);
}

static void mock_stream_no_usage(void **state)
{
    sy_buf_t b;
    mock_stream(&b, mock_reply, 20, false, NULL);
    sy_capture_result_t r;
    extract(b.base, b.len, SY_CAPTURE_OPENAI, true, BIG, 16384, &r);
    assert_buf(r.text, mock_reply);
    assert_false(r.usage_found);
    assert_usage(&r.usage, -1, -1, -1, -1, -1);
    /* the row then says usage_source=estimated with the mock's own rule */
    assert_int_equal(sy_capture_estimate_tokens(r.text.base, r.text.len),
                     (int64_t)(strlen(mock_reply) + 3) / 4);
    sy_capture_result_dispose(&r);
    sy_buf_dispose(&b);
}

static void mock_nonstream(void **state)
{
    static const char body[] =
        "{\"id\":\"chatcmpl-0192abcd0192ab12\",\"object\":\"chat.completion\",\"created\":"
        "1741569952,"
        "\"model\":\"mock-1\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":\"You said: hi\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":3,"
        "\"total_tokens\":6,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
        "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},\"service_tier\":"
        "\"default\",\"system_fingerprint\":null}";
    sy_capture_t c;
    sy_capture_init(&c, BIG, 16384);
    assert_true(sy_capture_feed(&c, body, sizeof body - 1));
    sy_capture_result_t r;
    sy_capture_extract(&c, SY_CAPTURE_OPENAI, false, &r);
    assert_buf(r.text, "You said: hi");
    assert_string_equal(r.finish_reason, "stop");
    assert_usage(&r.usage, 3, 3, 0, -1, 0);
    assert_false(r.parse_failed);
    sy_capture_result_dispose(&r);
    sy_capture_dispose(&c);
    check_splits(body, sizeof body - 1, SY_CAPTURE_OPENAI, false, BIG, 16384);
    /* head only, tail only, tiny ring: complete when head + tail hold everything */
    check_splits(body, sizeof body - 1, SY_CAPTURE_OPENAI, false, 100, sizeof body);
    check_splits(body, sizeof body - 1, SY_CAPTURE_OPENAI, false, 0, sizeof body);
}

/* ---------------------------------------------------------------- OpenAI */
/* Token counts past SY_CAPTURE_TOKENS_MAX (a faulty or hostile upstream) count as absent, on
 * both readings (extract() compares them): sums of counts cannot overflow. */
static void absurd_usage_ignored(void **state)
{
    (void)state;
    static const char oa[] =
        "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
        "\"assistant\",\"content\":\"x\"},\"finish_reason\":\"stop\"}],\"usage\":{"
        "\"prompt_tokens\":1000000000001,\"completion_tokens\":1000000000000,"
        "\"prompt_tokens_details\":{\"cached_tokens\":9223372036854775807}}}";
    static const char an[] =
        "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
        "\"text\":\"x\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":"
        "9223372036854775807,\"output_tokens\":7,\"cache_read_input_tokens\":"
        "9223372036854775807}}";
    sy_capture_result_t r;
    extract(oa, sizeof oa - 1, SY_CAPTURE_OPENAI, false, BIG, 16384, &r);
    assert_int_equal(r.usage.prompt_tokens, -1);
    assert_int_equal(r.usage.completion_tokens, SY_CAPTURE_TOKENS_MAX); /* the largest kept */
    assert_int_equal(r.usage.cached_tokens, -1);
    sy_capture_result_dispose(&r);
    extract(an, sizeof an - 1, SY_CAPTURE_ANTHROPIC, false, BIG, 16384, &r);
    assert_int_equal(r.usage.completion_tokens, 7);
    assert_int_equal(r.usage.prompt_tokens, -1);
    assert_int_equal(r.usage.cached_tokens, -1);
    sy_capture_result_dispose(&r);
    /* Past int64: 25 digits (2^64 * 100000 + 9, which a wrapping scan reads as 9, under the cap)
     * and 20 digits (2^64 + 9), non-streamed and streamed, OpenAI and Anthropic: absent. */
    static const char *const big[] = {"1844674407370955161600009", "18446744073709551625"};
    for (size_t i = 0; i < 2; i++) {
        char b[1024];
        int n = snprintf(b, sizeof b,
                         "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":"
                         "{\"role\":\"assistant\",\"content\":\"x\"},\"finish_reason\":\"stop\"}],"
                         "\"usage\":{\"prompt_tokens\":%s,\"completion_tokens\":%s}}",
                         big[i], big[i]);
        extract(b, (size_t)n, SY_CAPTURE_OPENAI, false, BIG, 16384, &r);
        assert_int_equal(r.usage.prompt_tokens, -1);
        assert_int_equal(r.usage.completion_tokens, -1);
        sy_capture_result_dispose(&r);
        n = snprintf(b, sizeof b,
                     "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{"
                     "\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}\n\n"
                     "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
                     "\"usage\":{\"prompt_tokens\":%s,\"completion_tokens\":%s}}\n\n"
                     "data: [DONE]\n\n",
                     big[i], big[i]);
        extract(b, (size_t)n, SY_CAPTURE_OPENAI, true, BIG, 16384, &r);
        assert_int_equal(r.usage.prompt_tokens, -1);
        assert_int_equal(r.usage.completion_tokens, -1);
        sy_capture_result_dispose(&r);
        n = snprintf(b, sizeof b,
                     "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{"
                     "\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
                     "\"usage\":{\"input_tokens\":%s,\"output_tokens\":1}}}\n\n"
                     "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{"
                     "\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":%s}}\n\n"
                     "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
                     big[i], big[i]);
        extract(b, (size_t)n, SY_CAPTURE_ANTHROPIC, true, BIG, 16384, &r);
        assert_int_not_equal(r.usage.prompt_tokens, 9);
        assert_true(r.usage.prompt_tokens == -1);
        assert_true(r.usage.completion_tokens == -1 || r.usage.completion_tokens == 1);
        sy_capture_result_dispose(&r);
    }
}

#define EV(name, data) "event: " name "\ndata: " data "\n\n"

/* sy_str_to_i64, which the fast walkers use for counts and indexes, at the int64 bounds: a scan
 * that wraps modulo 2^64 reads 1844674407370955161600042 (25 digits, 100000 * 2^64 + 42) as 42,
 * under SY_CAPTURE_TOKENS_MAX. (sy_jsonv_validate refuses such documents before the walk, like
 * jansson; absurd_usage_ignored checks the extraction of 25- and 20-digit counts.) */
static void str_to_i64_bounds(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_false(sy_str_to_i64(SY_STR_LIT("1844674407370955161600042"), &v));
    assert_false(sy_str_to_i64(SY_STR_LIT("12345678901234567890"), &v)); /* 20 digits */
    assert_false(sy_str_to_i64(SY_STR_LIT("9223372036854775808"), &v));  /* INT64_MAX + 1 */
    assert_false(sy_str_to_i64(SY_STR_LIT("-9223372036854775809"), &v));
    assert_false(sy_str_to_i64(SY_STR_LIT("1.5"), &v));
    assert_false(sy_str_to_i64(SY_STR_LIT("-"), &v));
    assert_false(sy_str_to_i64(SY_STR_NULL, &v));
    assert_true(v == 0); /* untouched on refusal */
    assert_true(sy_str_to_i64(SY_STR_LIT("9223372036854775807"), &v));
    assert_true(v == INT64_MAX);
    assert_true(sy_str_to_i64(SY_STR_LIT("-9223372036854775808"), &v));
    assert_true(v == INT64_MIN);
    assert_true(sy_str_to_i64(SY_STR_LIT("0000000000000000042"), &v)); /* 19 digits */
    assert_true(v == 42);
}

static void openai_nonstream_tools(void **state)
{
    static const char body[] =
        "{\n  \"id\": \"chatcmpl-x\",\n  \"model\": \"gpt-4o\",\n  \"choices\": [{\"index\": 0, "
        "\"message\": {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": "
        "\"call_1\", \"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
        "\"arguments\": \"{\\\"city\\\":\\\"Paris\\\"}\"}}, {\"id\": \"call_2\", \"type\": "
        "\"function\", \"function\": {\"name\": \"get_time\", \"arguments\": \"{}\"}}]}, "
        "\"finish_reason\": \"tool_calls\"}],\n  \"usage\": {\"prompt_tokens\": 100, "
        "\"completion_tokens\": 20, \"prompt_tokens_details\": {\"cached_tokens\": 64}, "
        "\"completion_tokens_details\": {\"reasoning_tokens\": 5}}\n}\n";
    sy_capture_result_t r;
    extract(body, sizeof body - 1, SY_CAPTURE_OPENAI, false, BIG, 16384, &r);
    assert_string_equal(r.id, "chatcmpl-x");
    assert_string_equal(r.model, "gpt-4o");
    assert_string_equal(r.finish_reason, "tool_calls");
    assert_int_equal(r.text.len, 0);
    assert_buf(r.tool_calls, "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":"
                             "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
                             "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":"
                             "\"get_time\",\"arguments\":\"{}\"}}]");
    assert_usage(&r.usage, 100, 20, 64, -1, 5);
    sy_capture_result_dispose(&r);
    /* pretty-printed: the first-token scan skips the spaces */
    sy_capture_t c;
    capture_str(&c, body, sizeof body - 1, BIG, 0, sizeof body - 1);
    const char *tc = strstr(body, "\"tool_calls\": [{");
    assert_int_equal(c.first_offset, tc + 15 - body);
    sy_capture_dispose(&c);
}

#define CHUNK(delta, finish)                                                                       \
    "data: {\"id\":\"chatcmpl-p\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","      \
    "\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish "}]}\n\n"

static const char parallel_tools[] = CHUNK("{\"role\":\"assistant\",\"content\":null}", "null")
    CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":"
          "{\"name\":\"get_weather\",\"arguments\":\"\"}}]}",
          "null") CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"ci\"}}]}",
                        "null")
        CHUNK("{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":"
              "{\"name\":\"get_time\",\"arguments\":\"{\\\"tz\"}}]}",
              "null") CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                            "\"ty\\\":\\\"Paris\\\"}\"}}]}",
                            "null") CHUNK("{\"tool_calls\":[{\"index\":1,\"function\":{"
                                          "\"arguments\":\"\\\":\\\"CET\\\"}\"}}]}",
                                          "null")
            CHUNK("{}", "\"tool_calls\"") "data: "
                                          "{\"id\":\"chatcmpl-p\",\"choices\":[],\"usage\":{"
                                          "\"prompt_tokens\":50,"
                                          "\"completion_tokens\":30,\"prompt_tokens_details\":{"
                                          "\"cached_tokens\":0,"
                                          "\"cache_write_tokens\":7}}}\n\ndata: [DONE]\n\n";

static void openai_parallel_tools(void **state)
{
    sy_capture_result_t r;
    extract(parallel_tools, sizeof parallel_tools - 1, SY_CAPTURE_OPENAI, true, BIG, 16384, &r);
    assert_string_equal(r.finish_reason, "tool_calls");
    assert_buf(r.tool_calls, "[{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":"
                             "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
                             "{\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":"
                             "\"get_time\",\"arguments\":\"{\\\"tz\\\":\\\"CET\\\"}\"}}]");
    assert_int_equal(r.text.len, 0);
    assert_usage(&r.usage, 50, 30, 0, 7, -1);
    sy_capture_result_dispose(&r);
    check_splits(parallel_tools, sizeof parallel_tools - 1, SY_CAPTURE_OPENAI, true, BIG, 16384);
    /* the role chunk's "content":null is not a token; the first tool_calls chunk is */
    sy_capture_t c;
    capture_str(&c, parallel_tools, sizeof parallel_tools - 1, BIG, 0, 1);
    assert_int_equal(c.first_offset,
                     strstr(parallel_tools, "\"tool_calls\":[") + 14 - parallel_tools);
    sy_capture_dispose(&c);
}

static const char reasoning_stream[] = CHUNK(
    "{\"role\":\"assistant\",\"content\":\"\",\"reasoning_content\":\"\"}",
    "null") CHUNK("{\"reasoning_content\":\"Let me think\"}",
                  "null") CHUNK("{\"reasoning_content\":\" step by step.\"}",
                                "null") CHUNK("{\"content\":\"Four\"}", "null")
    CHUNK("{\"content\":\".\"}",
          "\"stop\"") "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":"
                      "40,\"completion_tokens_details\":{\"reasoning_tokens\":38}}}\n\n"
                      "data: [DONE]\n\n";

static void openai_reasoning(void **state)
{
    sy_capture_result_t r;
    extract(reasoning_stream, sizeof reasoning_stream - 1, SY_CAPTURE_OPENAI, true, BIG, 16384, &r);
    assert_buf(r.reasoning, "Let me think step by step.");
    assert_buf(r.text, "Four.");
    assert_usage(&r.usage, 9, 40, -1, -1, 38);
    sy_capture_result_dispose(&r);
    sy_capture_t c;
    capture_str(&c, reasoning_stream, sizeof reasoning_stream - 1, BIG, 0, 7);
    assert_int_equal(c.first_offset, strstr(reasoning_stream, "Let me") - reasoning_stream);
    sy_capture_dispose(&c);
    check_splits(reasoning_stream, sizeof reasoning_stream - 1, SY_CAPTURE_OPENAI, true, BIG,
                 16384);
}

/* ---------------------------------------------------------------- Anthropic */

static const char anthropic_message[] =
    "{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-"
    "5\","
    "\"content\":[{\"type\":\"thinking\",\"thinking\":\"Hmm.\",\"signature\":\"sig\"},"
    "{\"type\":\"text\",\"text\":\"Checking.\"},{\"type\":\"tool_use\",\"id\":\"toolu_1\","
    "\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}},{\"type\":\"tool_use\",\"id\":"
    "\"toolu_2\",\"name\":\"now\",\"input\":{}}],\"stop_reason\":\"tool_use\","
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":200,"
    "\"cache_read_input_tokens\":1000,\"output_tokens\":42}}";

static void anthropic_nonstream(void **state)
{
    sy_capture_result_t r;
    extract(anthropic_message, sizeof anthropic_message - 1, SY_CAPTURE_ANTHROPIC, false, BIG,
            16384, &r);
    assert_string_equal(r.id, "msg_01");
    assert_string_equal(r.model, "claude-sonnet-4-5");
    assert_string_equal(r.finish_reason, "tool_use");
    assert_buf(r.text, "Checking.");
    assert_buf(r.reasoning, "Hmm.");
    assert_buf(r.tool_calls, "[{\"id\":\"toolu_1\",\"type\":\"function\",\"function\":{\"name\":"
                             "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
                             "{\"id\":\"toolu_2\",\"type\":\"function\",\"function\":{\"name\":"
                             "\"now\",\"arguments\":\"{}\"}}]");
    /* prompt = input + cache read + cache creation (OpenAI semantics) */
    assert_true(r.usage_found);
    assert_usage(&r.usage, 1210, 42, 1000, 200, -1);
    sy_capture_result_dispose(&r);
    check_splits(anthropic_message, sizeof anthropic_message - 1, SY_CAPTURE_ANTHROPIC, false, BIG,
                 64);
}

static const char anthropic_stream[] = EV(
    "message_start",
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_s\",\"type\":\"message\",\"role\":"
    "\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"stop_reason\":null,"
    "\"usage\":{\"input_tokens\":41,\"cache_creation_input_tokens\":3,"
    "\"cache_read_input_tokens\":100,\"output_tokens\":1}}}") EV("ping", "{\"type\":\"ping\"}")
    EV("content_block_start",
       "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\","
       "\"thinking\":\"\"}}")
        EV("content_block_delta",
           "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\","
           "\"thinking\":\"2 + 2\"}}")
            EV("content_block_delta",
               "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
               "\"signature_delta\",\"signature\":\"abc\"}}")
                EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}") EV(
                    "content_block_start",
                    "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":"
                    "\"text\",\"text\":\"\"}}")
                    EV("content_block_delta",
                       "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
                       "\"text_delta\",\"text\":\"It is 4.\"}}")
                        EV("content_block_start",
                           "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{"
                           "\"type\":\"tool_use\",\"id\":\"toolu_9\",\"name\":\"calc\","
                           "\"input\":{}}}")
                            EV("content_block_delta",
                               "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{"
                               "\"type\":\"input_json_delta\",\"partial_json\":\"\"}}")
                                EV("content_block_delta",
                                   "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{"
                                   "\"type\":\"input_json_delta\",\"partial_json\":"
                                   "\"{\\\"expr\\\": \"}}")
                                    EV("content_block_delta",
                                       "{\"type\":\"content_block_delta\",\"index\":2,"
                                       "\"delta\":{\"type\":\"input_json_delta\","
                                       "\"partial_json\":\"\\\"2+2\\\"}\"}}")
                                        EV("content_block_stop",
                                           "{\"type\":\"content_block_stop\",\"index\":2}")
                                            EV("message_delta",
                                               "{\"type\":\"message_delta\",\"delta\":{"
                                               "\"stop_reason\":\"tool_use\",\"stop_sequence\":"
                                               "null},\"usage\":{\"output_tokens\":77}}")
                                                EV("message_stop", "{\"type\":\"message_stop\"}");

static void anthropic_stream_events(void **state)
{
    sy_capture_result_t r;
    extract(anthropic_stream, sizeof anthropic_stream - 1, SY_CAPTURE_ANTHROPIC, true, BIG, 16384,
            &r);
    assert_string_equal(r.id, "msg_s");
    assert_string_equal(r.model, "claude-sonnet-4-5-20250929");
    assert_string_equal(r.finish_reason, "tool_use");
    assert_buf(r.reasoning, "2 + 2");
    assert_buf(r.text, "It is 4.");
    assert_buf(r.tool_calls, "[{\"id\":\"toolu_9\",\"type\":\"function\",\"function\":{\"name\":"
                             "\"calc\",\"arguments\":\"{\\\"expr\\\": \\\"2+2\\\"}\"}}]");
    /* input from message_start, output from message_delta (cumulative) */
    assert_usage(&r.usage, 144, 77, 100, 3, -1);
    assert_int_equal(r.n_bad, 0);
    sy_capture_result_dispose(&r);
    sy_capture_t c;
    capture_str(&c, anthropic_stream, sizeof anthropic_stream - 1, BIG, 0, 5);
    const char *d = strstr(anthropic_stream, "content_block_delta");
    assert_int_equal(c.first_offset, d + 18 - anthropic_stream);
    sy_capture_dispose(&c);
    check_splits(anthropic_stream, sizeof anthropic_stream - 1, SY_CAPTURE_ANTHROPIC, true, BIG,
                 16384);
    check_splits(anthropic_stream, sizeof anthropic_stream - 1, SY_CAPTURE_ANTHROPIC, true, 300,
                 400);
}

/* ---------------------------------------------------------------- truncation */

static void truncated_stream(void **state)
{
    /* 400 content chunks (~100 KB): head 4 KiB, tail 2 KiB */
    char reply[6000];
    for (size_t i = 0; i < sizeof reply - 1; i++)
        reply[i] = (char)('a' + i % 26);
    reply[sizeof reply - 1] = '\0';
    sy_buf_t b;
    mock_stream(&b, reply, 400, true, NULL);
    assert_true(b.len > 50000);
    sy_capture_t c;
    capture_str(&c, b.base, b.len, 4096, 2048, 1000);
    assert_true(sy_capture_truncated(&c));
    assert_true(c.head.len == 4096 && c.ring);
    sy_capture_result_t r;
    sy_capture_extract(&c, SY_CAPTURE_OPENAI, true, &r);
    assert_true(r.truncated);
    assert_true(r.usage_found);
    assert_usage(&r.usage, 12, (int64_t)(strlen(reply) + 3) / 4, 0, -1, 0);
    assert_string_equal(r.finish_reason, "stop");
    assert_string_equal(r.id, "chatcmpl-0192abcd0192ab12");
    assert_true(r.text.len > 0 && r.text.len < strlen(reply));
    assert_memory_equal(r.text.base, reply, 10); /* the head's pieces come first */
    assert_int_equal(r.total_bytes, b.len);
    sy_capture_result_dispose(&r);
    sy_capture_dispose(&c);
    /* the same by any feed size */
    check_splits(b.base, b.len, SY_CAPTURE_OPENAI, true, 4096, 2048);
    sy_buf_dispose(&b);

    /* Anthropic: message_start in the head, message_delta in the tail */
    sy_buf_t a;
    sy_buf_init(&a, BIG);
    const char *s = anthropic_stream;
    const char *mid =
        strstr(s, "event: content_block_start\ndata: {\"type\":\"content_block_start\","
                  "\"index\":1");
    sy_buf_append(&a, s, (size_t)(mid - s));
    for (int i = 0; i < 300; i++)
        sy_buf_append_c(&a, EV("content_block_delta",
                               "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
                               "\"text_delta\",\"text\":\"blah \"}}"));
    sy_buf_append_c(&a, mid);
    sy_capture_result_t ra;
    extract(a.base, a.len, SY_CAPTURE_ANTHROPIC, true, 1024, 2048, &ra);
    assert_true(ra.truncated);
    assert_usage(&ra.usage, 144, 77, 100, 3, -1);
    assert_string_equal(ra.finish_reason, "tool_use");
    assert_true(ra.text.len > 0);
    sy_capture_result_dispose(&ra);
    sy_buf_dispose(&a);

    /* a truncated non-stream body: no parse; usage still read whole from the tail */
    sy_buf_t nb;
    sy_buf_init(&nb, BIG);
    sy_buf_append_c(&nb, "{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":{\"content\":\"");
    for (int i = 0; i < 2000; i++)
        sy_buf_append_c(&nb, "text \\\"usage\\\": ");
    sy_buf_append_c(&nb, "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,"
                         "\"completion_tokens\":8000}}");
    sy_capture_result_t rn;
    extract(nb.base, nb.len, SY_CAPTURE_OPENAI, false, 1024, 1024, &rn);
    assert_true(rn.truncated && rn.parse_failed);
    assert_usage(&rn.usage, 5, 8000, -1, -1, -1);
    sy_capture_result_dispose(&rn);
    extract(nb.base, nb.len - 40, SY_CAPTURE_OPENAI, false, 1024, 1024, &rn); /* usage cut */
    assert_false(rn.usage_found);
    assert_usage(&rn.usage, -1, -1, -1, -1, -1);
    sy_capture_result_dispose(&rn);
    sy_buf_dispose(&nb);
}

/* Head 0: the ring alone, at every size, so the tail starts at every byte of the stream. */
static void tail_mid_event(void **state)
{
    sy_buf_t b;
    mock_stream(&b, mock_reply, 20, true, NULL);
    const char *usage_ev =
        strstr(b.base, "data: {\"id\":\"chatcmpl-0192abcd0192ab12\","
                       "\"object\":\"chat.completion.chunk\",\"created\":"
                       "1741569952,\"model\":\"mock-1\",\"service_tier\":"
                       "\"default\",\"system_fingerprint\":null,\"choices\":[],");
    assert_non_null(usage_ev);
    size_t need = b.len - (size_t)(usage_ev - b.base);
    for (size_t t = 1; t < b.len; t++) {
        sy_capture_result_t r;
        extract(b.base, b.len, SY_CAPTURE_OPENAI, true, 0, t, &r);
        assert_true(r.truncated);
        /* the event just before the usage one ends with "\n\n": usage is found once the tail
         * starts at or before that blank line */
        assert_int_equal(r.usage_found, t >= need + 2);
        assert_int_equal(r.n_bad, 0); /* a partial first event is skipped, never misread */
        if (r.text.len)
            assert_non_null(memmem(mock_reply, strlen(mock_reply), r.text.base, r.text.len));
        sy_capture_result_dispose(&r);
    }
    sy_buf_dispose(&b);
}

/* ---------------------------------------------------------------- robustness */

static uint32_t rng = 12345;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void mutate_one(const char *s, size_t n, int fmt, bool sse)
{
    char *m = malloc(n + 16);
    for (int k = 0; k < 300; k++) {
        memcpy(m, s, n);
        size_t len = n;
        int edits = 1 + (int)(next_rand() % 4);
        for (int e = 0; e < edits && len; e++) {
            size_t at = next_rand() % len;
            switch (next_rand() % 4) {
            case 0:
                m[at] = (char)next_rand();
                break;
            case 1:
                memmove(m + at, m + at + 1, len - at - 1), len--;
                break;
            case 2:
                len = at;
                break;
            default:
                m[at] = "\"{}[]:,\\\n\r0"[next_rand() % 12];
                break;
            }
        }
        size_t head = next_rand() % 2 ? BIG : next_rand() % (n + 1);
        size_t tail = next_rand() % (n + 1);
        sy_capture_t c;
        capture_str(&c, m, len, head, tail, 1 + next_rand() % 64);
        diff_capture(&c, fmt, sse);
        diff_capture(&c, 1 - fmt, !sse); /* the wrong format / framing too */
        diff_capture(&c, 1 - fmt, sse);
        sy_capture_dispose(&c);
    }
    free(m);
}

static void mutations_never_crash(void **state)
{
    sy_buf_t b;
    mock_stream(&b, mock_reply, 5, true, NULL);
    mutate_one(b.base, b.len, SY_CAPTURE_OPENAI, true);
    sy_buf_dispose(&b);
    mutate_one(parallel_tools, sizeof parallel_tools - 1, SY_CAPTURE_OPENAI, true);
    mutate_one(reasoning_stream, sizeof reasoning_stream - 1, SY_CAPTURE_OPENAI, true);
    mutate_one(anthropic_stream, sizeof anthropic_stream - 1, SY_CAPTURE_ANTHROPIC, true);
    mutate_one(anthropic_message, sizeof anthropic_message - 1, SY_CAPTURE_ANTHROPIC, false);
    /* odd shapes: wrong types everywhere */
    static const char *odd[] = {
        "data: {\"choices\":{\"0\":1},\"usage\":[1]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":-1},{\"index\":"
        "9999999999},{\"index\":\"0\"},{\"index\":255,\"function\":{\"arguments\":7}}],"
        "\"content\":5}}],\"usage\":{\"prompt_tokens\":-4,\"completion_tokens\":1.5}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":300,"
        "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"x\"}}\n\n",
        "data: [DONE]\n\ndata: \n\ndata: null\n\ndata: []\n\n:comment\n\n",
        "",
        "\n\n\n\n\r\r\r\n",
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        for (int f = 0; f < 2; f++) {
            sy_capture_result_t r;
            extract(odd[i], strlen(odd[i]), f, true, BIG, 64, &r);
            assert_int_equal(r.usage.prompt_tokens, -1);
            sy_capture_result_dispose(&r);
            extract(odd[i], strlen(odd[i]), f, false, BIG, 64, &r);
            assert_true(r.parse_failed);
            sy_capture_result_dispose(&r);
        }
}

/* The first-token scan (one pass over the colons) against the four-memmem scan it replaced,
 * kept here as the reference: random pieces built from the patterns, near misses, spaces and
 * brackets, each fed whole into a fresh capture. */
static long ref_value_decides(const char *p, size_t n, size_t i)
{
    size_t k = 0;
    while (i < n && k < 8 && strchr(" \t\n\r", p[i]) && p[i])
        i++, k++;
    if (i + 1 >= n) return -1;
    if (p[i] == '"') return p[i + 1] != '"' ? (long)(i + 1) : -1;
    if (p[i] != '[') return -1;
    i++;
    k = 0;
    while (i < n && k < 8 && strchr(" \t\n\r", p[i]) && p[i])
        i++, k++;
    return i < n && p[i] != ']' && !(strchr(" \t\n\r", p[i]) && p[i]) ? (long)i : -1;
}

static long ref_scan_first(const char *p, size_t n)
{
    static const struct {
        const char *s;
        bool value;
    } pats[] = {{"content\":", true},
                {"tool_calls\":", true},
                {"refusal\":", true},
                {"content_block_delta", false}};
    long best = -1;
    for (size_t k = 0; k < 4; k++) {
        size_t from = 0, pn = strlen(pats[k].s);
        const char *hit;
        while (from < n && (hit = memmem(p + from, n - from, pats[k].s, pn))) {
            size_t end = (size_t)(hit - p) + pn;
            long at = pats[k].value ? ref_value_decides(p, n, end) : (long)end - 1;
            if (at >= 0) {
                if (best < 0 || at < best) best = at;
                break;
            }
            from = (size_t)(hit - p) + 1;
        }
    }
    return best;
}

static void first_token_scan_equals_reference(void **state)
{
    (void)state;
    static const char *const frags[] = {
        "\"content\":",
        "\"content\": \"",
        "\"content\":\"\"",
        "\"content\":null",
        "\"tool_calls\":[",
        "\"tool_calls\": [ ]",
        "\"tool_calls\":[{",
        "refusal\":\"no",
        "reasoning_content\":\"x",
        "content_block_delta",
        "content_block_del",
        "\"",
        ":",
        "[",
        "]",
        " ",
        "\n",
        "\"x\":1,",
        "tent\":\"",
        "\"refusal\":   \"",
        "{",
        "}",
        "\":\"",
        "content\"",
    };
    unsigned seed = 12345;
    char buf[512];
    size_t compared = 0, found = 0;
    for (int t = 0; t < 50000; t++) {
        size_t n = 0;
        int k = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 10;
        for (int i = 0; i < k; i++) {
            const char *f = frags[((seed = seed * 1103515245u + 12345u) >> 16) %
                                  (sizeof frags / sizeof frags[0])];
            size_t fl = strlen(f);
            if (n + fl > sizeof buf) break;
            memcpy(buf + n, f, fl);
            n += fl;
        }
        sy_capture_t c;
        sy_capture_init(&c, 1024, 0);
        if (n) sy_capture_feed(&c, buf, n);
        long ref = n ? ref_scan_first(buf, n) : -1;
        if (c.first_offset != ref)
            fail_msg("piece '%.*s': first_offset %ld, reference %ld", (int)n, buf,
                     (long)c.first_offset, ref);
        compared++;
        found += ref >= 0;
        sy_capture_dispose(&c);
    }
    assert_int_equal(compared, 50000);
    assert_true(found > 10000 && found < 45000); /* both outcomes well covered */
}

static void estimate(void **state)
{
    assert_int_equal(sy_capture_estimate_tokens("", 0), 0);
    assert_int_equal(sy_capture_estimate_tokens("a", 1), 1);
    assert_int_equal(sy_capture_estimate_tokens("abcd", 4), 1);
    assert_int_equal(sy_capture_estimate_tokens("abcde", 5), 2);
    assert_int_equal(sy_capture_estimate_tokens("\xc3\xa9\xc3\xa9", 4), 1); /* bytes, not chars */
}

/* ---------------------------------------------------------------- tests/cases responses */

/* The client response of a case as bytes: a JSON body (compact) or SSE frames. */
static bool case_bytes(json_t *resp, sy_buf_t *out, bool *sse)
{
    json_t *body = json_object_get(resp, "body"), *frames = json_object_get(resp, "sse");
    sy_buf_init(out, BIG);
    if (json_is_object(body)) {
        char *d = json_dumps(body, JSON_COMPACT);
        sy_buf_append_c(out, d);
        free(d);
        *sse = false;
        return true;
    }
    if (!json_is_array(frames)) return false;
    size_t i;
    json_t *f;
    json_array_foreach(frames, i, f)
    {
        const char *ev = json_string_value(json_object_get(f, "event"));
        if (ev) sy_buf_printf(out, "event: %s\n", ev);
        json_t *data = json_object_get(f, "data");
        char *d =
            json_is_string(data) ? strdup(json_string_value(data)) : json_dumps(data, JSON_COMPACT);
        sy_buf_append_c(out, "data: ");
        sy_buf_append_c(out, d);
        sy_buf_append_c(out, "\n\n");
        free(d);
    }
    *sse = true;
    return true;
}

static int case_dir(const char *sub)
{
    const char *src = getenv("SY_TEST_SRC");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/cases/%s", src ? src : ".", sub);
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < 6 || strcmp(e->d_name + nl - 5, ".json") != 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        json_t *doc = json_load_file(path, 0, NULL);
        if (!doc) fail_msg("cannot parse %s", path);
        json_t *resp = json_object_get(doc, "response");
        json_t *st = json_object_get(resp, "status");
        sy_buf_t b;
        bool sse;
        /* only successful replies are model output; the ingress decides the format */
        const char *ingress = json_string_value(json_object_get(doc, "ingress"));
        int fmt =
            ingress && !strcmp(ingress, "anthropic") ? SY_CAPTURE_ANTHROPIC : SY_CAPTURE_OPENAI;
        if (json_integer_value(st) == 200 && case_bytes(resp, &b, &sse)) {
            sy_capture_result_t r;
            extract(b.base, b.len, fmt, sse, BIG, 16384, &r);
            assert_false(r.parse_failed);
            assert_int_equal(r.n_bad, 0);
            assert_non_null(r.id);
            /* every case reply states usage except OpenAI streams without include_usage */
            json_t *usage = json_object_get(json_object_get(doc, "response"), "body");
            if (!sse) assert_int_equal(r.usage_found, json_object_get(usage, "usage") != NULL);
            /* the fast path reads every case reply itself */
            if (r.n_slow) fail_msg("%s: %u documents left to jansson", e->d_name, r.n_slow);
            /* the first-token scan fires exactly when there is generated output */
            sy_capture_t c;
            capture_str(&c, b.base, b.len, BIG, 16384, b.len);
            bool output = r.text.len || r.reasoning.len || r.tool_calls.len;
            if ((c.first_offset >= 0) != output)
                fail_msg("%s: first token %lld, output %d", e->d_name, (long long)c.first_offset,
                         output);
            sy_capture_dispose(&c);
            sy_capture_result_dispose(&r);
            /* every split for small replies; about 300 split points for long ones */
            size_t stride = b.len / 300 + 1;
            check_splits_every(b.base, b.len, fmt, sse, BIG, 16384, stride);
            check_splits_every(b.base, b.len, fmt, sse, b.len / 3, b.len / 3, stride);
            sy_buf_dispose(&b);
            count++;
        }
        json_decref(doc);
    }
    closedir(d);
    return count;
}

static void case_files(void **state)
{
    assert_true(case_dir("openai") >= 5);
    assert_true(case_dir("messages") >= 10);
}

/* A few cases checked field by field. */
static void case_values(void **state)
{
    const char *src = getenv("SY_TEST_SRC");
    char path[512];
    struct {
        const char *file;
        int fmt;
        const char *text, *tools_prefix;
        int64_t prompt, completion;
    } want[] = {
        {"openai/stream_tool_calls.json", SY_CAPTURE_OPENAI, "",
         "[{\"id\":\"call_abc123\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
         "\"arguments\":\"{\\\"location\\\":\\\"Paris\\\"}\"}},{\"id\":\"call_def456\"",
         -2, -2},
        {"openai/stream_passthrough_usage.json", SY_CAPTURE_OPENAI, "One, two, three.", "", -2, -2},
        {"messages/stream_tool_use.json", SY_CAPTURE_ANTHROPIC, "Checking both.",
         "[{\"id\":\"call_p1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
         "\"arguments\":\"{\\\"location\\\": \\\"Paris, France\\\"}\"}},{\"id\":\"call_r2\"",
         -2, -2},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        snprintf(path, sizeof path, "%s/tests/cases/%s", src ? src : ".", want[i].file);
        json_t *doc = json_load_file(path, 0, NULL);
        assert_non_null(doc);
        sy_buf_t b;
        bool sse;
        assert_true(case_bytes(json_object_get(doc, "response"), &b, &sse));
        sy_capture_result_t r;
        extract(b.base, b.len, want[i].fmt, sse, BIG, 16384, &r);
        assert_buf(r.text, want[i].text);
        if (strlen(want[i].tools_prefix) > r.tool_calls.len ||
            memcmp(r.tool_calls.base ? r.tool_calls.base : "", want[i].tools_prefix,
                   strlen(want[i].tools_prefix)))
            fail_msg("%s: tool calls %.*s", want[i].file, (int)r.tool_calls.len, r.tool_calls.base);
        sy_capture_result_dispose(&r);
        sy_buf_dispose(&b);
        json_decref(doc);
    }
}

/* ---------------------------------------------------------------- generated variants */

/* Streams as lists of event data (one JSON text each), read both ways after transformations. */
static const char *const openai_events[] = {
    "{\"id\":\"chatcmpl-v\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-"
    "4o\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}"
    ","
    "\"finish_reason\":null}],\"usage\":null}",
    "{\"id\":\"chatcmpl-v\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-"
    "4o\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ "
    "\\/ \\b\\f\\n\\r\\t \\u0001 \\u2028 \xc3\xa9\xf0\x9f\x98\x80 \xe2\x82\xac\"},"
    "\"finish_reason\":null}]}",
    "{\"id\":\"chatcmpl-v\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":"
    "\"th\\u0069nk"
    "\",\"reasoning\":\" more\"}},{\"index\":1,\"delta\":{\"content\":\"other choice\"}}]}",
    "{\"id\":\"chatcmpl-v\",\"choices\":[{\"index\":1,\"delta\":{\"content\":\"1 "
    "first\"}},{\"index\":"
    "0,\"delta\":{\"content\":\" zero\",\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":"
    "\"function\",\"function\":{\"name\":\"get_\\u0077eather\",\"arguments\":\"\"}},{\"index\":2,"
    "\"id\":\"call_c\",\"function\":{\"name\":\"third\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
    "\"arguments\":"
    "\"{\\\"city\\\":\\\"P\\u00e4ris \\ud83c\\udf1f\\\"}\"}},{\"index\":2,\"function\":{"
    "\"arguments\":\":1}\"}},{\"index\":1,\"id\":\"call_b\",\"function\":{\"name\":\"b\"}}]}}]}",
    "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"noindex\",\"function\":{\"name\":\"n\","
    "\"arguments\":\"{}\"}},7,null]},\"finish_reason\":null},{\"delta\":{\"content\":\"pos1\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}],"
    "\"usage\":null,\"obfuscation\":\"x\"}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":26,\"total_tokens\":38,"
    "\"prompt_tokens_details\":{\"cached_tokens\":3,\"cache_write_tokens\":2,\"audio_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":5}}}",
    "{\"choices\":[{\"index\":0.0,\"delta\":{\"content\":\"real index\"}}],\"usage\":{"
    "\"prompt_tokens\":1e2,\"completion_tokens\":-1,\"prompt_tokens_details\":[]}}",
    "{\"model\":7,\"id\":null,\"choices\":{\"index\":0},\"usage\":[]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":7,\"tool_calls\":{\"index\":0}},"
    "\"finish_reason\":5}],\"usage\":{\"prompt_tokens\":9223372036854775807,"
    "\"completion_tokens\":0}}",
};

static const char *const anthropic_events[] = {
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_v\",\"type\":\"message\",\"role\":"
    "\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"usage\":{"
    "\"input_tokens\":41,\"cache_creation_input_tokens\":3,\"cache_read_input_tokens\":100,"
    "\"output_tokens\":1}}}",
    "{\"type\":\"ping\"}",
    "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\","
    "\"thinking\":\"pre \\u00e9\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\","
    "\"thinking\":\"2 + 2 \\ud83e\\udd14\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\","
    "\"signature\":\"abc\"}}",
    "{\"type\":\"content_block_stop\",\"index\":0}",
    "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":"
    "\"\"}}",
    "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"It is \\\"4\\\".\\n\xe2\x82\xac \\u20ac \\ud83d\\ude00\"}}",
    "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":"
    "\"toolu_9\",\"name\":\"calc\",\"input\":{}}}",
    "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"{\\\"expr\\\": \"}}",
    "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"\\\"2+2\\\"}\"}}",
    "{\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":"
    "\"toolu_a\",\"name\":\"full\",\"input\":{\"x\":[1,2]}}}",
    "{\"type\":\"content_block_delta\",\"index\":300,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"lost\"}}",
    "{\"type\":\"content_block_delta\",\"index\":1.5,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"!\"}}",
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},"
    "\"usage\":{\"output_tokens\":77}}",
    "{\"type\":\"message\",\"id\":\"msg_w\",\"content\":[{\"type\":\"text\",\"text\":\"whole\"}]}",
    "{\"type\":\"message_stop\"}",
};

/* Keys in reverse order, at every level. */
static json_t *reversed(json_t *v)
{
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) json_array_append_new(a, reversed(e));
        return a;
    }
    if (!json_is_object(v)) return json_incref(v);
    const char *keys[64];
    size_t n = 0;
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) if (n < 64) keys[n++] = k;
    json_t *o = json_object();
    while (n--)
        json_object_set_new(o, keys[n], reversed(json_object_get(v, keys[n])));
    return o;
}

/* Unknown members added to every object (before and after the known ones). */
static json_t *with_unknown(json_t *v)
{
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) json_array_append_new(a, with_unknown(e));
        return a;
    }
    if (!json_is_object(v)) return json_incref(v);
    json_t *o = json_pack("{s:{s:[i,s,n]}}", "a_unknown", "z", 1, "\xc3\xa9}\"{", "a");
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) json_object_set_new(o, k, with_unknown(e));
    json_object_set_new(o, "zz_unknown", json_string("]},\\\""));
    return o;
}

#define N_FORMS 11

/* Event data in form `form`: re-serialised (compact, spaced, indented, ASCII-only with \u
 * escapes and surrogate pairs, sorted, reversed, with unknown members) or edited as text
 * (escaped key, duplicated key, leading whitespace). */
static void form_of(const char *ev, int form, sy_buf_t *out)
{
    sy_buf_init(out, BIG);
    json_t *doc = json_loads(ev, 0, NULL);
    assert_non_null(doc);
    json_t *t = NULL;
    size_t flags = JSON_COMPACT;
    switch (form) {
    case 0:
        sy_buf_append_c(out, ev);
        break;
    case 1:
        flags = 0;
        break;
    case 2:
        flags = JSON_INDENT(2);
        break;
    case 3:
        flags = JSON_COMPACT | JSON_ENSURE_ASCII;
        break;
    case 4:
        flags = JSON_COMPACT | JSON_SORT_KEYS;
        break;
    case 5:
        t = reversed(doc);
        break;
    case 6:
        t = with_unknown(doc);
        break;
    case 7:
        flags = JSON_INDENT(1) | JSON_ENSURE_ASCII | JSON_SORT_KEYS;
        break;
    default:
        break;
    }
    if (form >= 1 && form <= 7) {
        char *d = json_dumps(t ? t : doc, flags);
        sy_buf_append_c(out, d);
        free(d);
    } else if (form >= 8) {
        /* text edits on the first key of the first object holding one of these */
        static const char *keys[] = {"\"content\":", "\"type\":",  "\"index\":", "\"delta\":",
                                     "\"choices\":", "\"usage\":", "\"id\":"};
        const char *at = NULL, *key = NULL;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0] && !at; k++)
            if ((at = strstr(ev, keys[k]))) key = keys[k];
        if (!at || form == 10) {
            sy_buf_append_c(out, " \r\n\t");
            sy_buf_append_c(out, ev);
            sy_buf_append_c(out, "\n ");
        } else if (form == 8) { /* the key escaped: \u0065 is 'e', \u0069 'i' ... */
            sy_buf_append(out, ev, (size_t)(at - ev) + 2);
            sy_buf_printf(out, "\\u%04x", (unsigned char)key[2]);
            sy_buf_append_c(out, at + 3);
        } else { /* the key twice: jansson keeps the last */
            const char *open = at;
            while (open > ev && *open != '{')
                open--;
            sy_buf_append(out, ev, (size_t)(open - ev) + 1);
            sy_buf_append_c(out, key);
            sy_buf_append_c(out, "\"dup\",");
            sy_buf_append_c(out, open + 1);
        }
    }
    json_decref(t);
    json_decref(doc);
}

/* One SSE frame with data (each line of it a data: line). */
static void frame_of(sy_buf_t *b, const char *data, size_t n)
{
    size_t i = 0;
    do {
        const char *nl = memchr(data + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - data) : n;
        sy_buf_append_c(b, "data: ");
        sy_buf_append(b, data + i, end - i);
        sy_buf_append_c(b, "\n");
        i = end + 1;
    } while (i <= n && memchr(data + i - 1, '\n', 1));
    sy_buf_append_c(b, "\n");
}

static void diff_stream(const sy_buf_t *s, int fmt)
{
    diff_bytes(s->base, s->len, fmt, true, BIG, 16384);
    diff_bytes(s->base, s->len, fmt, true, s->len / 3, s->len / 3); /* truncated */
}

static void variants_of(const char *const *evs, size_t n, int fmt)
{
    /* every event in one form; then the forms mixed (event i in form i + k) */
    for (int mix = 0; mix < 2; mix++)
        for (int k = 0; k < N_FORMS; k++) {
            sy_buf_t s;
            sy_buf_init(&s, BIG * 8);
            for (size_t i = 0; i < n; i++) {
                sy_buf_t d;
                form_of(evs[i], mix ? (int)(i + (size_t)k) % N_FORMS : k, &d);
                frame_of(&s, d.base, d.len);
                frame_of(&s, d.base, d.len); /* twice: the second may take a shortcut */
                sy_buf_dispose(&d);
            }
            sy_buf_append_c(&s, "data: [DONE]\n\n");
            diff_stream(&s, fmt);
            sy_buf_dispose(&s);
        }
    /* each event truncated at every byte, and mutated, between whole neighbours */
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(evs[i]);
        const char *before = evs[i ? i - 1 : n - 1], *after = evs[(i + 1) % n];
        char *m = malloc(len + 1);
        for (size_t cut = 0; cut <= len + 300; cut++) {
            size_t ml = cut <= len ? cut : len;
            memcpy(m, evs[i], len);
            if (cut > len) { /* mutations */
                int edits = 1 + (int)(next_rand() % 3);
                for (int e = 0; e < edits; e++) {
                    size_t at = next_rand() % len;
                    m[at] = next_rand() % 2 ? "\"{}[]:,\\ 0a-.e\x80\xff"[next_rand() % 17]
                                            : (char)next_rand();
                }
            }
            sy_buf_t s;
            sy_buf_init(&s, BIG);
            frame_of(&s, before, strlen(before));
            frame_of(&s, evs[i], len);
            /* the data may hold a raw newline now: one data: line anyway (SSE splits it) */
            sy_buf_append_c(&s, "data: ");
            sy_buf_append(&s, m, ml);
            sy_buf_append_c(&s, "\n\n");
            frame_of(&s, after, strlen(after));
            diff_bytes(s.base, s.len, fmt, true, BIG, 16384);
            sy_buf_dispose(&s);
        }
        free(m);
    }
}

static void fast_path_variants(void **state)
{
    n_diffed = 0;
    variants_of(openai_events, sizeof openai_events / sizeof openai_events[0], SY_CAPTURE_OPENAI);
    variants_of(anthropic_events, sizeof anthropic_events / sizeof anthropic_events[0],
                SY_CAPTURE_ANTHROPIC);
    /* the mock's exact stream, and the other fixtures, both formats */
    sy_buf_t b;
    mock_stream(&b, mock_reply, 20, true, NULL);
    diff_stream(&b, SY_CAPTURE_OPENAI);
    diff_stream(&b, SY_CAPTURE_ANTHROPIC);
    sy_buf_dispose(&b);
    diff_bytes(anthropic_stream, sizeof anthropic_stream - 1, SY_CAPTURE_OPENAI, true, BIG, 16384);
    diff_bytes(parallel_tools, sizeof parallel_tools - 1, SY_CAPTURE_ANTHROPIC, true, BIG, 16384);
    print_message("fast path compared with jansson on %ld extractions\n", n_diffed);
    assert_true(n_diffed > 5000);
}

/* ---------------------------------------------------------------- non-stream replies */

/* Whole replies, written with ' for " (replaced before use; no fixture needs a '). */
static const char *const openai_replies[] = {
    /* the mock's reply */
    "{'id':'chatcmpl-0192abcd0192ab12','object':'chat.completion','created':1741569952,'model':"
    "'mock-1','choices':[{'index':0,'message':{'role':'assistant','content':'You said: hi',"
    "'refusal':null,'annotations':[]},'logprobs':null,'finish_reason':'stop'}],'usage':{"
    "'prompt_tokens':3,'completion_tokens':3,'total_tokens':6,'prompt_tokens_details':{"
    "'cached_tokens':0,'audio_tokens':0},'completion_tokens_details':{'reasoning_tokens':0,"
    "'audio_tokens':0,'accepted_prediction_tokens':0,'rejected_prediction_tokens':0}},"
    "'service_tier':'default','system_fingerprint':null}",
    /* tool calls, reasoning, cache details */
    "{'id':'chatcmpl-t','model':'gpt-4o','choices':[{'index':0,'message':{'role':'assistant',"
    "'content':null,'reasoning_content':'think \\u00e9','reasoning':' more','tool_calls':[{'id':"
    "'call_1','type':'function','function':{'name':'get_weather','arguments':"
    "'{\\'city\\':\\'Paris\\'}'}},{'id':'call_2','type':'function','function':{'name':"
    "'get_time','arguments':'{}'}},{'id':'call_3','type':'function','function':{'name':'n\\u00e4',"
    "'arguments':'{\\'s\\':\\'\\\\u00e9 \\\\n\\'}'}}]},'finish_reason':'tool_calls'}],'usage':{"
    "'prompt_tokens':100,'completion_tokens':20,'prompt_tokens_details':{'cached_tokens':64,"
    "'cache_write_tokens':7},'completion_tokens_details':{'reasoning_tokens':5}}}",
    /* several choices, index 0 not first; one without index; two with index 0 */
    "{'id':'c-m','model':'m','choices':[{'index':1,'message':{'content':'one','tool_calls':[{"
    "'id':'x','function':{'name':'x','arguments':'1'}}]},'finish_reason':'length'},{'index':0,"
    "'message':{'content':'zero'},'finish_reason':'stop'},{'message':{'content':'pos2'}},{"
    "'index':0,'message':{'content':' again','tool_calls':[{'id':'y','function':{'name':'y',"
    "'arguments':'2'}}]},'finish_reason':null}]}",
    "{'choices':[{'message':{'content':'no index, position 0'},'finish_reason':'stop'},{"
    "'message':{'content':'position 1'}}],'usage':{'prompt_tokens':1}}",
    /* refusal (not read), escapes and unicode everywhere */
    "{'id':'c\\u002dr\\/x','model':'gpt\\u00e9','choices':[{'index':0,'message':{'role':"
    "'assistant','content':null,'refusal':'I cannot.'},'finish_reason':'st\\u006fp'}]}",
    "{'id':'c-u','choices':[{'index':0,'message':{'content':'caf\\u00e9 \\ud83d\\ude00 "
    "\\\\'q\\\\' \\\\\\\\ \\/ \\b\\f\\n\\r\\t \\u0001 \\u2028 \xc3\xa9\xf0\x9f\x98\x80 "
    "\xe2\x82\xac','reasoning':'r\\u00e9'}}]}",
    /* tool calls with index members, odd entries, odd types */
    "{'choices':[{'index':0,'message':{'tool_calls':[{'index':3,'id':'i3','function':{'name':"
    "'three','arguments':'a'}},7,null,{'id':'p3','function':{'name':'pos3','arguments':'b'}},{"
    "'index':300,'id':'big'},{'index':1.0,'id':'real'},{'index':-1},{'id':5,'function':[]},{"
    "'function':{'name':null,'arguments':7}},{'type':'function','function':{'arguments':''}}]}"
    "}]}",
    /* huge and wrong-typed counts */
    "{'id':'c-h','choices':[{'index':0,'message':{'content':'h'}}],'usage':{'prompt_tokens':"
    "9223372036854775807,'completion_tokens':-9223372036854775808,'prompt_tokens_details':{"
    "'cached_tokens':1e3,'cache_write_tokens':'2'},'completion_tokens_details':{"
    "'reasoning_tokens':1.0}}}",
    "{'id':'c-r','choices':[{'index':0.0,'message':{'content':'real index'}}],'usage':{"
    "'prompt_tokens':12,'completion_tokens':null,'prompt_tokens_details':null,"
    "'completion_tokens_details':[]}}",
    /* missing or null parts */
    "{'id':null,'model':7,'choices':null,'usage':null}",
    "{'choices':[{'index':0,'message':null,'finish_reason':null}]}",
    "{'choices':[{'index':0}],'usage':{}}",
    "{'choices':{'index':0,'message':{'content':'not an array'}},'usage':[]}",
    "{'choices':[[],'x',{'index':0,'message':{'content':7,'reasoning_content':[],'tool_calls':{}"
    "}}]}",
    "{}",
    /* not a reply at all */
    "[{'choices':[]}]",
    "'just a string'",
    "null",
    "{'choices':[{'index':0,'message':{'content':'x'}}]} trailing",
    "{'id':'c-big','usage':{'prompt_tokens':9223372036854775808}}",
    "{'id':'c-nul','choices':[{'index':0,'message':{'content':'a\\u0000b'}}]}",
};

static const char *const anthropic_replies[] = {
    /* text + tool_use with a nested input in every JSON type */
    "{'id':'msg_1','type':'message','role':'assistant','model':'claude-x','content':[{'type':"
    "'text','text':'Let me look.'},{'type':'tool_use','id':'toolu_1','name':'lookup','input':{"
    "'q':'x\\ny \\u00e9 \\ud83d\\ude00 \\u001f \\u007f \\'q\\' \\\\\\\\ \\/ "
    "\xe2\x82\xac','n':[1,-2,0,"
    "-0,{'b':null,'c':true,'d':false}],'e':{},'f':[],'g':{'h':{'i':[[[]]]}},'k':"
    "9223372036854775807}}],'stop_reason':'tool_use','stop_sequence':null,'usage':{"
    "'input_tokens':472,'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"
    "'output_tokens':89}}",
    /* thinking, redacted thinking, unknown blocks, non-object blocks, empty and odd inputs */
    "{'id':'msg_2','type':'message','model':'claude-y','content':[{'type':'thinking','thinking':"
    "'hmm \\u00e9','signature':'s'},{'type':'redacted_thinking','data':'xx'},7,null,{'type':"
    "'server_tool_use','id':'srv','name':'web','input':{'q':1}},{'type':'tool_use','id':'t0',"
    "'name':'none','input':{}},{'type':'tool_use','id':'t1','name':'arr','input':[1]},{'type':"
    "'tool_use','id':'t2','name':'str','input':'s'},{'type':'tool_use','name':'noid'},{'type':"
    "'text','text':' and text'},{'text':'no type'}],'stop_reason':'end_turn','usage':{"
    "'input_tokens':10,'output_tokens':2}}",
    /* inputs whose json_dumps text the fast path leaves to jansson */
    "{'id':'msg_3','type':'message','content':[{'type':'tool_use','id':'t','name':'real','input':"
    "{'x':1.5,'y':2e3}}],'usage':{'input_tokens':1,'output_tokens':1}}",
    "{'id':'msg_4','type':'message','content':[{'type':'tool_use','id':'t','name':'dup','input':"
    "{'a':1,'b':{'c':1,'c':2},'a':3}}]}",
    "{'id':'msg_5','type':'message','content':[{'type':'tool_use','id':'t','name':'key','input':"
    "{'k\\u0065y':1}}]}",
    /* usage variants; a missing stop_reason; escapes in the envelope */
    "{'id':'msg\\u005f6','type':'message','model':'c\\/m','content':[],'stop_reason':null,"
    "'usage':{'cache_read_input_tokens':5,'output_tokens':3}}",
    "{'id':'msg_7','type':'message','content':null,'usage':{'input_tokens':-1,'output_tokens':"
    "1.0,'cache_creation_input_tokens':9223372036854775807}}",
    "{'type':'message','usage':null}",
    /* other types as a body */
    "{'type':'message_start','message':{'id':'msg_8','model':'m','usage':{'input_tokens':3}}}",
    "{'type':'content_block_delta','index':0,'delta':{'type':'text_delta','text':'d'}}",
    "{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}",
    "{'id':'msg_9','content':[{'type':'text','text':'no type member'}]}",
    "{'type':7}",
    "{'id':'msg_e','type':'message','content':[{'type':'t\\u0065xt','text':'escaped type'}]}",
};

/* A fixture with ' as ". */
static char *unquote(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; *p; p++)
        if (*p == '\'') *p = '"';
    return d;
}

/* Keys rotated by r at every level (another member order). */
static json_t *rotated(json_t *v, size_t r)
{
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) json_array_append_new(a, rotated(e, r));
        return a;
    }
    if (!json_is_object(v)) return json_incref(v);
    const char *keys[64];
    size_t n = 0;
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) if (n < 64) keys[n++] = k;
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        const char *key = keys[(i + r) % n];
        json_object_set_new(o, key, rotated(json_object_get(v, key), r));
    }
    return o;
}

/* How many of a body's extractions took the fast path (n_slow 0): diffed in both formats. */
static void diff_reply(const char *s, size_t n, int fmt, long *fast)
{
    sy_capture_t c;
    capture_str(&c, s, n, BIG, 16384, n ? n : 1);
    diff_capture(&c, fmt, false);
    diff_capture(&c, 1 - fmt, false);
    sy_capture_result_t r;
    sy_capture_extract(&c, fmt, false, &r);
    if (fast) *fast += r.n_slow == 0;
    sy_capture_result_dispose(&r);
    sy_capture_dispose(&c);
}

static void reply_variants_of(const char *const *docs, size_t n, int fmt)
{
    long fast = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        char *doc = unquote(docs[i]);
        size_t len = strlen(doc);
        diff_reply(doc, len, fmt, NULL);
        diff_bytes(doc, len, fmt, false, len / 3, len / 3); /* bytes lost: tail usage only */
        json_t *j = json_loads(doc, JSON_DECODE_ANY, NULL);
        if (json_is_object(j)) {
            /* the forms of the stream test, and three more member orders */
            for (int k = 0; k < N_FORMS; k++) {
                sy_buf_t d;
                form_of(doc, k, &d);
                diff_reply(d.base, d.len, fmt, &fast);
                total++;
                sy_buf_dispose(&d);
            }
            for (size_t r = 1; r <= 3; r++) {
                json_t *t = rotated(j, r);
                char *d = json_dumps(t, JSON_COMPACT);
                diff_reply(d, strlen(d), fmt, &fast);
                total++;
                free(d);
                json_decref(t);
            }
        }
        json_decref(j);
        /* truncated at every byte, then mutated */
        char *m = malloc(len + 1);
        for (size_t cut = 0; cut < len + 300; cut++) {
            size_t ml = cut < len ? cut : len;
            memcpy(m, doc, len);
            if (cut >= len) {
                int edits = 1 + (int)(next_rand() % 3);
                for (int e = 0; e < edits; e++) {
                    size_t at = next_rand() % len;
                    m[at] = next_rand() % 2 ? "\"{}[]:,\\ 0a-.e\x80\xff"[next_rand() % 17]
                                            : (char)next_rand();
                }
            }
            diff_reply(m, ml, fmt, NULL);
        }
        free(m);
        free(doc);
    }
    print_message("format %d: %ld of %ld reply forms read without jansson\n", fmt, fast, total);
}

/* Every extraction of a reply through the fast path equals jansson's, field by field. */
static void fast_path_replies(void **state)
{
    n_diffed = 0;
    reply_variants_of(openai_replies, sizeof openai_replies / sizeof openai_replies[0],
                      SY_CAPTURE_OPENAI);
    reply_variants_of(anthropic_replies, sizeof anthropic_replies / sizeof anthropic_replies[0],
                      SY_CAPTURE_ANTHROPIC);
    print_message("non-stream fast path compared with jansson on %ld extractions\n", n_diffed);
    assert_true(n_diffed > 20000);
}

/* The fast path reads the common replies itself (n_slow 0) and leaves what it cannot be sure of
 * to jansson (n_slow 1), with the values the slow path gives. */
static void fast_path_reply_taken(void **state)
{
    struct {
        const char *doc;
        int fmt;
        unsigned slow;
        const char *tools;
    } want[] = {
        {openai_replies[0], SY_CAPTURE_OPENAI, 0, ""},
        {openai_replies[1], SY_CAPTURE_OPENAI, 0,
         "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
         "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},{\"id\":\"call_2\",\"type\":"
         "\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}},{\"id\":"
         "\"call_3\",\"type\":\"function\",\"function\":{\"name\":\"n\xc3\xa4\",\"arguments\":"
         "\"{\\\"s\\\":\\\"\\\\u00e9 \\\\n\\\"}\"}}]"},
        {openai_replies[2], SY_CAPTURE_OPENAI, 0,
         "[{\"id\":\"y\",\"type\":\"function\",\"function\":{\"name\":\"y\",\"arguments\":\"2\"}}"
         "]"},
        {anthropic_message, SY_CAPTURE_ANTHROPIC, 0, NULL},
        {anthropic_replies[0], SY_CAPTURE_ANTHROPIC, 0,
         "[{\"id\":\"toolu_1\",\"type\":\"function\",\"function\":{\"name\":\"lookup\","
         "\"arguments\":\"{\\\"q\\\":\\\"x\\\\ny \xc3\xa9 \xf0\x9f\x98\x80 \\\\u001F \x7f "
         "\\\\\\\"q\\\\\\\" \\\\\\\\\\\\\\\\ / "
         "\xe2\x82\xac\\\",\\\"n\\\":[1,-2,0,0,{\\\"b\\\":null,"
         "\\\"c\\\":true,\\\"d\\\":false}],\\\"e\\\":{},\\\"f\\\":[],\\\"g\\\":{\\\"h\\\":{"
         "\\\"i\\\":[[[]]]}},\\\"k\\\":9223372036854775807}\"}}]"},
        {anthropic_replies[1], SY_CAPTURE_ANTHROPIC, 0, NULL},
        {anthropic_replies[2], SY_CAPTURE_ANTHROPIC, 1,
         "[{\"id\":\"t\",\"type\":\"function\",\"function\":{\"name\":\"real\",\"arguments\":"
         "\"{\\\"x\\\":1.5,\\\"y\\\":2000.0}\"}}]"},
        {anthropic_replies[3], SY_CAPTURE_ANTHROPIC, 1,
         "[{\"id\":\"t\",\"type\":\"function\",\"function\":{\"name\":\"dup\",\"arguments\":"
         "\"{\\\"a\\\":3,\\\"b\\\":{\\\"c\\\":2}}\"}}]"},
        {anthropic_replies[4], SY_CAPTURE_ANTHROPIC, 1, NULL},
        {anthropic_replies[13], SY_CAPTURE_ANTHROPIC, 1, NULL}, /* an escaped block type */
        {openai_replies[16], SY_CAPTURE_OPENAI, 1, ""}, /* invalid: jansson says parse_failed */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *doc = unquote(want[i].doc);
        sy_capture_result_t r;
        extract(doc, strlen(doc), want[i].fmt, false, BIG, 16384, &r);
        if (r.n_slow != want[i].slow) fail_msg("reply %zu: n_slow %u", i, r.n_slow);
        if (want[i].tools && !buf_eq(&r.tool_calls, want[i].tools))
            fail_msg("reply %zu: tool calls %.*s", i, (int)r.tool_calls.len,
                     r.tool_calls.base ? r.tool_calls.base : "");
        sy_capture_result_dispose(&r);
        free(doc);
    }
    /* a few values read by the fast path */
    char *doc = unquote(openai_replies[2]);
    sy_capture_result_t r;
    extract(doc, strlen(doc), SY_CAPTURE_OPENAI, false, BIG, 16384, &r);
    assert_buf(r.text, "zero again");
    assert_string_equal(r.finish_reason, "stop");
    assert_int_equal(r.n_slow, 0);
    sy_capture_result_dispose(&r);
    free(doc);
    doc = unquote(anthropic_replies[1]);
    extract(doc, strlen(doc), SY_CAPTURE_ANTHROPIC, false, BIG, 16384, &r);
    assert_buf(r.reasoning, "hmm \xc3\xa9");
    assert_buf(r.text, " and text");
    assert_buf(r.tool_calls, "[{\"id\":\"t0\",\"type\":\"function\",\"function\":{\"name\":"
                             "\"none\",\"arguments\":\"{}\"}},{\"id\":\"t1\",\"type\":\"function\","
                             "\"function\":{\"name\":\"arr\",\"arguments\":\"{}\"}},{\"id\":"
                             "\"t2\",\"type\":\"function\",\"function\":{\"name\":\"str\","
                             "\"arguments\":\"{}\"}},{\"id\":null,\"type\":\"function\","
                             "\"function\":{\"name\":\"noid\",\"arguments\":\"{}\"}}]");
    assert_usage(&r.usage, 10, 2, 0, 0, -1);
    assert_int_equal(r.n_slow, 0);
    sy_capture_result_dispose(&r);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mock_stream_usage),
        cmocka_unit_test(mock_stream_no_usage),
        cmocka_unit_test(mock_nonstream),
        cmocka_unit_test(absurd_usage_ignored),
        cmocka_unit_test(str_to_i64_bounds),
        cmocka_unit_test(openai_nonstream_tools),
        cmocka_unit_test(openai_parallel_tools),
        cmocka_unit_test(openai_reasoning),
        cmocka_unit_test(anthropic_nonstream),
        cmocka_unit_test(anthropic_stream_events),
        cmocka_unit_test(truncated_stream),
        cmocka_unit_test(tail_mid_event),
        cmocka_unit_test(mutations_never_crash),
        cmocka_unit_test(estimate),
        cmocka_unit_test(first_token_scan_equals_reference),
        cmocka_unit_test(case_files),
        cmocka_unit_test(case_values),
        cmocka_unit_test(fast_path_variants),
        cmocka_unit_test(fast_path_replies),
        cmocka_unit_test(fast_path_reply_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
