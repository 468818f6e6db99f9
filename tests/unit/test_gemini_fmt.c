#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/gemini_fmt.h"

/* ---------- helpers ---------- */

static void json_eq(const char *actual, size_t len, const char *expected)
{
    json_error_t e;
    json_t *a = json_loadb(actual, len, JSON_DECODE_ANY, &e);
    json_t *x = json_loads(expected, JSON_DECODE_ANY, &e);
    if (!x) fail_msg("bad expected JSON: %s: %s", e.text, expected);
    if (!a || !json_equal(a, x)) {
        char *xs = json_dumps(x, JSON_COMPACT | JSON_SORT_KEYS);
        char *as = a ? json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        print_error("expected: %s\nactual:   %s\n", xs, as ? as : "(invalid)");
        free(xs);
        free(as);
        json_decref(a);
        json_decref(x);
        fail();
    }
    json_decref(a);
    json_decref(x);
}

static const sy_fmt_req_opts_t plain_opts = {.upstream_model = "gemini-2.5-flash"};

static sy_err_t req_with(const sy_fmt_req_opts_t *o, const char *body, sy_fmt_req_t *out)
{
    memset(out, 0x55, sizeof *out); /* the translator must initialise every output */
    return sy_gemini_fmt_request(body, strlen(body), o, out);
}

/* Translates body and compares the upstream body with expected. */
static void req_ok(const sy_fmt_req_opts_t *o, const char *body, const char *expected)
{
    sy_fmt_req_t out;
    sy_err_t err = req_with(o, body, &out);
    if (err) fail_msg("err %d param '%s': %s", err, out.err_param, out.err_msg);
    json_eq(out.body, out.len, expected);
    assert_int_equal(strlen(out.body), out.len);
    free(out.body);
}

static void req_bad(const sy_fmt_req_opts_t *o, const char *body, sy_err_t want, const char *param)
{
    sy_fmt_req_t out;
    assert_int_equal(req_with(o, body, &out), want);
    assert_null(out.body);
    assert_string_equal(out.err_param, param);
    assert_true(strlen(out.err_msg) > 0);
}

static const sy_fmt_resp_opts_t resp_opts = {
    .id = "chatcmpl-gw1", .created = 1700000000, .model = "gem"};

static void resp_ok(const char *body, const char *expected, sy_fmt_usage_t *usage)
{
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    assert_int_equal(sy_gemini_fmt_response(body, strlen(body), &resp_opts, &b, usage), SY_OK);
    json_eq(b.base, b.len, expected);
    sy_buf_dispose(&b);
}

static void error_is(int status, const char *body, const char *expected)
{
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    sy_gemini_fmt_error(status, body, strlen(body), &b);
    json_eq(b.base, b.len, expected);
    sy_buf_dispose(&b);
}

/* Checks that out holds exactly the frames in expected ("[DONE]" literal, else JSON), then
 * empties it. */
static void frames_are(sy_buf_t *out, const char *const *expected, size_t n)
{
    size_t pos = 0, i = 0;
    while (pos < out->len) {
        assert_true(out->len - pos > 6);
        assert_memory_equal(out->base + pos, "data: ", 6);
        const char *start = out->base + pos + 6;
        const char *end = memmem(start, out->len - pos - 6, "\n\n", 2);
        assert_non_null(end);
        if (i >= n) fail_msg("extra frame: %.*s", (int)(end - start), start);
        if (strcmp(expected[i], "[DONE]") == 0)
            assert_true(end - start == 6 && memcmp(start, "[DONE]", 6) == 0);
        else
            json_eq(start, (size_t)(end - start), expected[i]);
        i++;
        pos = (size_t)(end + 2 - out->base);
    }
    if (i != n) fail_msg("got %zu frames, want %zu", i, n);
    sy_buf_reset(out);
}

static sy_err_t feed(sy_gemini_stream_t *s, const char *data, sy_buf_t *out)
{
    return sy_gemini_stream_event(s, sy_str_c(data), out);
}

/* ---------- request ---------- */

static void request_system_developer_and_text(void **state)
{
    req_ok(&plain_opts,
           "{\"model\":\"x\",\"messages\":["
           "{\"role\":\"system\",\"content\":\"Be brief.\"},"
           "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"Use \"},"
           "{\"type\":\"text\",\"text\":\"French.\"}]},"
           "{\"role\":\"user\",\"content\":\"Hi\",\"name\":\"bob\"}]}",
           "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"}]}],"
           "\"systemInstruction\":{\"parts\":[{\"text\":\"Be brief.\"},{\"text\":\"Use "
           "French.\"}]}}");
}

static void request_merges_consecutive_roles(void **state)
{
    req_ok(&plain_opts,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
           "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"b\"}]},"
           "{\"role\":\"assistant\",\"content\":\"c\"},"
           "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"d\"},"
           "{\"type\":\"refusal\",\"refusal\":\"no\"}]},"
           "{\"role\":\"assistant\",\"content\":null},"
           "{\"role\":\"user\",\"content\":\"\"},"
           "{\"role\":\"user\",\"content\":\"e\"}]}",
           "{\"contents\":["
           "{\"role\":\"user\",\"parts\":[{\"text\":\"a\"},{\"text\":\"b\"}]},"
           "{\"role\":\"model\",\"parts\":[{\"text\":\"c\"},{\"text\":\"d\"}]},"
           "{\"role\":\"user\",\"parts\":[{\"text\":\"e\"}]}]}");
}

static void request_applies_defaults(void **state)
{
    sy_conf_kv_t kv[] = {{"temperature", "0.2"}, {"max_tokens", "100"}, {"stop", "[\"END\"]"}};
    sy_fmt_req_opts_t o = {.defaults = kv, .n_defaults = 3};
    req_ok(&o,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":0.9,"
           "\"stop\":null}",
           "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"x\"}]}],"
           "\"generationConfig\":{\"temperature\":0.9,\"maxOutputTokens\":100}}");
}

static void request_images_audio_files(void **state)
{
    req_ok(&plain_opts,
           "{\"messages\":[{\"role\":\"user\",\"content\":["
           "{\"type\":\"text\",\"text\":\"What is this?\"},"
           "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0K\"}},"
           "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://ex.com/a/cat.WEBP?x=1#f\","
           "\"detail\":\"high\"}},"
           "{\"type\":\"image_url\",\"image_url\":\"http://ex.com/img\"},"
           "{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"UklGR\",\"format\":\"wav\"}},"
           "{\"type\":\"file\",\"file\":{\"filename\":\"a.pdf\","
           "\"file_data\":\"data:application/pdf;base64,JVBERi0=\"}}]}]}",
           "{\"contents\":[{\"role\":\"user\",\"parts\":["
           "{\"text\":\"What is this?\"},"
           "{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"iVBORw0K\"}},"
           "{\"fileData\":{\"mimeType\":\"image/webp\","
           "\"fileUri\":\"https://ex.com/a/cat.WEBP?x=1#f\"}},"
           "{\"fileData\":{\"mimeType\":\"image/jpeg\",\"fileUri\":\"http://ex.com/img\"}},"
           "{\"inlineData\":{\"mimeType\":\"audio/wav\",\"data\":\"UklGR\"}},"
           "{\"inlineData\":{\"mimeType\":\"application/pdf\",\"data\":\"JVBERi0=\"}}]}]}");
    req_bad(&plain_opts,
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"data:image/png,abc\"}}]}]}",
            SY_ERR_INVALID_REQUEST, "messages[0].content[0].image_url");
    req_bad(&plain_opts,
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"ftp://x/y.png\"}}]}]}",
            SY_ERR_INVALID_REQUEST, "messages[0].content[0].image_url");
    req_bad(&plain_opts, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}]}",
            SY_ERR_INVALID_REQUEST, "messages[0].content[0]");
    req_bad(
        &plain_opts,
        "{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"image_url\","
        "\"image_url\":{\"url\":\"https://x/y.png\"}}]},{\"role\":\"user\",\"content\":\"x\"}]}",
        SY_ERR_INVALID_REQUEST, "messages[0].content[0]");
}

static void request_tools_and_tool_choice(void **state)
{
    const char *tools = "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                        "\"description\":\"Weather\",\"strict\":true,\"parameters\":{\"type\":"
                        "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":["
                        "\"city\"],\"additionalProperties\":false}}},"
                        "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]";
    const char *decls =
        "\"tools\":[{\"functionDeclarations\":[{\"name\":\"get_weather\",\"description\":"
        "\"Weather\",\"parametersJsonSchema\":{\"type\":\"object\",\"properties\":{\"city\":{"
        "\"type\":\"string\"}},\"required\":[\"city\"],\"additionalProperties\":false}},"
        "{\"name\":\"now\"}]}]";
    static const struct {
        const char *choice, *config;
    } cases[] = {
        {"", ""},
        {",\"tool_choice\":\"auto\"", ",\"toolConfig\":{\"functionCallingConfig\":{\"mode\":"
                                      "\"AUTO\"}}"},
        {",\"tool_choice\":\"none\"", ",\"toolConfig\":{\"functionCallingConfig\":{\"mode\":"
                                      "\"NONE\"}}"},
        {",\"tool_choice\":\"required\"", ",\"toolConfig\":{\"functionCallingConfig\":{\"mode\":"
                                          "\"ANY\"}}"},
        {",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"now\"}}",
         ",\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\","
         "\"allowedFunctionNames\":[\"now\"]}}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[2048], want[2048];
        snprintf(body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"w\"}],%s%s}",
                 tools, cases[i].choice);
        snprintf(want, sizeof want,
                 "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"w\"}]}],%s%s}", decls,
                 cases[i].config);
        req_ok(&plain_opts, body, want);
    }
    req_bad(&plain_opts,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"w\"}],\"tool_choice\":\"sometimes\"}",
            SY_ERR_INVALID_REQUEST, "tool_choice");
    req_bad(&plain_opts,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"w\"}],\"tools\":[{\"type\":"
            "\"custom\",\"custom\":{\"name\":\"x\"}}]}",
            SY_ERR_INVALID_REQUEST, "tools[0]");
}

static void request_tool_round_trip(void **state)
{
    req_ok(&plain_opts,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris and Rome?\"},"
           "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
           "{\"id\":\"call_0\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
           "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
           "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
           "\"arguments\":\"\"}}]},"
           "{\"role\":\"tool\",\"tool_call_id\":\"call_0\",\"content\":\"{\\\"temp_c\\\":21}\"},"
           "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":[{\"type\":\"text\","
           "\"text\":\"noon\"}]},"
           "{\"role\":\"user\",\"content\":\"Thanks\"}]}",
           "{\"contents\":["
           "{\"role\":\"user\",\"parts\":[{\"text\":\"Weather in Paris and Rome?\"}]},"
           "{\"role\":\"model\",\"parts\":["
           "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}}},"
           "{\"functionCall\":{\"name\":\"get_time\",\"args\":{}}}]},"
           "{\"role\":\"user\",\"parts\":["
           "{\"functionResponse\":{\"name\":\"get_weather\",\"response\":{\"temp_c\":21}}},"
           "{\"functionResponse\":{\"name\":\"get_time\",\"response\":{\"content\":\"noon\"}}},"
           "{\"text\":\"Thanks\"}]}]}");
    /* A JSON array or scalar is not an object: it is wrapped like plain text. */
    req_ok(&plain_opts,
           "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"type\":"
           "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
           "{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":\"[1,2]\"}]}",
           "{\"contents\":[{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"f\","
           "\"args\":{}}}]},{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"f\","
           "\"response\":{\"content\":\"[1,2]\"}}}]}]}");
}

/* "<id>__thought__<base64url>" ids put the signature back on their functionCall part, in
 * standard padded base64; the id is not sent and tool messages match by the full id. */
static void request_thought_signatures(void **state)
{
    req_ok(&plain_opts,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"},"
           "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
           "{\"id\":\"call_0__thought__AbC-_9\",\"type\":\"function\",\"function\":{\"name\":"
           "\"get_weather\",\"arguments\":\"{}\"}},"
           "{\"id\":\"fc-7__thought__QUJDRA\",\"type\":\"function\",\"function\":{\"name\":"
           "\"get_time\",\"arguments\":\"{}\"}},"
           "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"now\","
           "\"arguments\":\"{}\"}}]},"
           "{\"role\":\"tool\",\"tool_call_id\":\"fc-7__thought__QUJDRA\",\"content\":\"noon\"},"
           "{\"role\":\"tool\",\"tool_call_id\":\"call_0__thought__AbC-_9\",\"content\":\"sun\"},"
           "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":\"now\"}]}",
           "{\"contents\":["
           "{\"role\":\"user\",\"parts\":[{\"text\":\"Weather?\"}]},"
           "{\"role\":\"model\",\"parts\":["
           "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{}},"
           "\"thoughtSignature\":\"AbC+/9==\"},"
           "{\"functionCall\":{\"name\":\"get_time\",\"args\":{}},"
           "\"thoughtSignature\":\"QUJDRA==\"},"
           "{\"functionCall\":{\"name\":\"now\",\"args\":{}}}]},"
           "{\"role\":\"user\",\"parts\":["
           "{\"functionResponse\":{\"name\":\"get_time\",\"response\":{\"content\":\"noon\"}}},"
           "{\"functionResponse\":{\"name\":\"get_weather\",\"response\":{\"content\":\"sun\"}}},"
           "{\"functionResponse\":{\"name\":\"now\",\"response\":{\"content\":\"now\"}}}]}]}");
    /* Standard base64, padded or not, is accepted as well. */
    req_ok(&plain_opts,
           "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":["
           "{\"id\":\"a__thought__ab+/cd==\",\"type\":\"function\",\"function\":{\"name\":\"f\","
           "\"arguments\":\"{}\"}},"
           "{\"id\":\"b__thought__QUJD\",\"type\":\"function\",\"function\":{\"name\":\"g\","
           "\"arguments\":\"{}\"}}]}]}",
           "{\"contents\":[{\"role\":\"model\",\"parts\":["
           "{\"functionCall\":{\"name\":\"f\",\"args\":{}},\"thoughtSignature\":\"ab+/cd==\"},"
           "{\"functionCall\":{\"name\":\"g\",\"args\":{}},\"thoughtSignature\":\"QUJD\"}]}]}");
}

/* Whatever follows the separator that is not base64 is no signature: the id is used as it is,
 * nothing is sent, and its tool message still matches it. */
static void request_malformed_signature_suffixes(void **state)
{
    static const char *const ids[] = {
        "a__thought__",        /* empty */
        "b__thought__Q",       /* a length no base64 has */
        "c__thought__ab!c",    /* foreign character */
        "d__thought__ab=c",    /* padding inside */
        "e__thought__abc===",  /* too much padding */
        "f__thought__==",      /* padding only */
        "g__thought__ab c",    /* space */
        "h__thought__\\u00e9", /* non-ASCII */
        "__thought_QUJD",      /* no full separator */
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char body[512], want[512];
        snprintf(body, sizeof body,
                 "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"%s\","
                 "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                 "{\"role\":\"tool\",\"tool_call_id\":\"%s\",\"content\":\"1\"}]}",
                 ids[i], ids[i]);
        snprintf(want, sizeof want,
                 "{\"contents\":[{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":"
                 "\"f\",\"args\":{}}}]},{\"role\":\"user\",\"parts\":[{\"functionResponse\":{"
                 "\"name\":\"f\",\"response\":{\"content\":\"1\"}}}]}]}");
        req_ok(&plain_opts, body, want);
    }
    /* The lookup uses the full id: a tool message that dropped the suffix matches nothing. */
    req_bad(&plain_opts,
            "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a__thought__QUJD\","
            "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
            "{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":\"1\"}]}",
            SY_ERR_INVALID_REQUEST, "messages[1].tool_call_id");
}

static void request_tool_errors(void **state)
{
    req_bad(
        &plain_opts,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\","
        "\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"b\",\"content\":\"1\"}]}",
        SY_ERR_INVALID_REQUEST, "messages[2].tool_call_id");
    req_bad(&plain_opts,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\","
            "\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\","
            "\"arguments\":\"{bad\"}}]}]}",
            SY_ERR_INVALID_REQUEST, "messages[1].tool_calls[0].function.arguments");
    req_bad(&plain_opts,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\","
            "\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\","
            "\"arguments\":\"[1]\"}}]}]}",
            SY_ERR_INVALID_REQUEST, "messages[1].tool_calls[0].function.arguments");
    req_bad(&plain_opts, "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
            SY_ERR_INVALID_REQUEST, "messages[0].tool_call_id");
}

static void request_generation_config(void **state)
{
    req_ok(&plain_opts,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":0.5,"
           "\"top_p\":0.9,\"max_tokens\":10,\"max_completion_tokens\":20,\"stop\":\"END\","
           "\"seed\":42,\"n\":2,\"presence_penalty\":0.1,\"frequency_penalty\":-0.5}",
           "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"x\"}]}],"
           "\"generationConfig\":{\"temperature\":0.5,\"topP\":0.9,\"maxOutputTokens\":20,"
           "\"seed\":42,\"candidateCount\":2,\"presencePenalty\":0.1,\"frequencyPenalty\":-0.5,"
           "\"stopSequences\":[\"END\"]}}");
    req_ok(&plain_opts,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":7,"
           "\"max_completion_tokens\":null,\"stop\":[\"a\",\"b\"],\"temperature\":1}",
           "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"x\"}]}],"
           "\"generationConfig\":{\"temperature\":1,\"maxOutputTokens\":7,"
           "\"stopSequences\":[\"a\",\"b\"]}}");
    req_bad(&plain_opts,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}",
            SY_ERR_INVALID_REQUEST, "temperature");
    req_bad(&plain_opts, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":1.5}",
            SY_ERR_INVALID_REQUEST, "n");
    req_bad(&plain_opts, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}",
            SY_ERR_INVALID_REQUEST, "stop");
}

static void request_response_format(void **state)
{
    req_ok(&plain_opts,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
           "\"response_format\":{\"type\":\"json_object\"}}",
           "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"x\"}]}],"
           "\"generationConfig\":{\"responseMimeType\":\"application/json\"}}");
    req_ok(&plain_opts,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
           "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"p\","
           "\"strict\":true,\"schema\":{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
           "\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}},"
           "\"additionalProperties\":false}}}}",
           "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"x\"}]}],"
           "\"generationConfig\":{\"responseMimeType\":\"application/json\","
           "\"responseJsonSchema\":{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
           "\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}},"
           "\"additionalProperties\":false}}}");
    req_ok(&plain_opts,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
           "\"response_format\":{\"type\":\"text\"}}",
           "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"x\"}]}]}");
    req_bad(&plain_opts,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
            "\"response_format\":{\"type\":\"yaml\"}}",
            SY_ERR_INVALID_REQUEST, "response_format.type");
}

static void request_unsupported_dropped_or_rejected(void **state)
{
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                       "\"logit_bias\":{\"50256\":-100},\"logprobs\":false,"
                       "\"parallel_tool_calls\":true,\"user\":\"u-1\",\"metadata\":null,"
                       "\"reasoning_effort\":\"low\"}";
    sy_fmt_req_t out;
    assert_int_equal(req_with(&plain_opts, body, &out), SY_OK);
    assert_string_equal(out.warnings, "logit_bias,user,reasoning_effort");
    json_eq(out.body, out.len, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"x\"}]}]}");
    free(out.body);

    sy_fmt_req_opts_t o = {.reject_unsupported = true};
    req_bad(&o, body, SY_ERR_INVALID_REQUEST, "logit_bias");
    assert_int_equal(req_with(&o, body, &out), SY_ERR_INVALID_REQUEST);
    assert_string_equal(out.err_msg, "parameter 'logit_bias' is not supported by the gemini "
                                     "provider");
    /* values that ask for nothing are fine even when rejecting */
    req_ok(&o,
           "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":false,"
           "\"parallel_tool_calls\":true,\"user\":null}",
           "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"x\"}]}]}");
    req_bad(&o,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"parallel_tool_calls\":false}",
            SY_ERR_INVALID_REQUEST, "parallel_tool_calls");
}

/* Client text quoted in err_param / err_msg is cut on a UTF-8 boundary. */
static void request_error_text_stays_utf8(void **state)
{
    char body[1024] = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"";
    for (int i = 0; i < 70; i++)
        strcat(body, "\xc3\xa9"); /* 140 bytes of U+00E9 */
    strcat(body, "\":1}");
    sy_fmt_req_opts_t o = {.reject_unsupported = true};
    sy_fmt_req_t out;
    assert_int_equal(req_with(&o, body, &out), SY_ERR_INVALID_REQUEST);
    assert_int_equal(strlen(out.err_param), 62); /* 31 whole characters fit in 63 bytes */
    json_t *p = json_string(out.err_param), *m = json_string(out.err_msg);
    assert_non_null(p); /* jansson refuses invalid UTF-8 */
    assert_non_null(m);
    json_decref(p);
    json_decref(m);
}

static void request_stream_flags(void **state)
{
    sy_fmt_req_t out;
    assert_int_equal(req_with(&plain_opts,
                              "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                              "\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
                              &out),
                     SY_OK);
    assert_true(out.stream);
    assert_true(out.include_usage);
    assert_string_equal(out.warnings, "");
    json_eq(out.body, out.len, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"x\"}]}]}");
    free(out.body);
    assert_int_equal(req_with(&plain_opts,
                              "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                              "\"stream_options\":{\"include_usage\":true}}",
                              &out),
                     SY_OK);
    assert_false(out.stream);
    assert_false(out.include_usage);
    free(out.body);
    req_bad(&plain_opts, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":1}",
            SY_ERR_INVALID_REQUEST, "stream");
}

static void request_validation(void **state)
{
    req_bad(&plain_opts, "{\"messages\":", SY_ERR_INVALID_JSON, "");
    req_bad(&plain_opts, "[1]", SY_ERR_INVALID_REQUEST, "");
    req_bad(&plain_opts, "{}", SY_ERR_INVALID_REQUEST, "messages");
    req_bad(&plain_opts, "{\"messages\":[]}", SY_ERR_INVALID_REQUEST, "messages");
    req_bad(&plain_opts, "{\"messages\":{}}", SY_ERR_INVALID_REQUEST, "messages");
    req_bad(&plain_opts, "{\"messages\":[{\"role\":\"system\",\"content\":\"only\"}]}",
            SY_ERR_INVALID_REQUEST, "messages");
    req_bad(&plain_opts, "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}",
            SY_ERR_INVALID_REQUEST, "messages[0].role");
    req_bad(&plain_opts,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"content\":\"y\"}]}",
            SY_ERR_INVALID_REQUEST, "messages[1].role");
    req_bad(&plain_opts, "{\"messages\":[\"hi\"]}", SY_ERR_INVALID_REQUEST, "messages[0].role");
    req_bad(&plain_opts, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
            SY_ERR_INVALID_REQUEST, "messages[0].content");
    req_bad(&plain_opts, "{\"messages\":[{\"role\":\"user\"}]}", SY_ERR_INVALID_REQUEST,
            "messages[0].content");
}

/* ---------- response ---------- */

static void response_text_usage_and_thoughts(void **state)
{
    sy_fmt_usage_t u;
    resp_ok("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
            "{\"text\":\"Let me think.\",\"thought\":true},"
            "{\"text\":\"Hello\"},{\"text\":\" there.\"}]},\"finishReason\":\"STOP\","
            "\"index\":0,\"safetyRatings\":[{\"category\":\"HARM_CATEGORY_HARASSMENT\","
            "\"probability\":\"NEGLIGIBLE\"}]}],"
            "\"usageMetadata\":{\"promptTokenCount\":120,\"candidatesTokenCount\":5,"
            "\"totalTokenCount\":155,\"cachedContentTokenCount\":100,\"thoughtsTokenCount\":30},"
            "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"resp-1\"}",
            "{\"id\":\"resp-1\",\"object\":\"chat.completion\",\"created\":1700000000,"
            "\"model\":\"gemini-2.5-flash\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
            "\"assistant\",\"content\":\"Hello there.\",\"refusal\":null,\"reasoning_content\":"
            "\"Let me think.\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
            "\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":35,\"total_tokens\":155,"
            "\"prompt_tokens_details\":{\"cached_tokens\":100},"
            "\"completion_tokens_details\":{\"reasoning_tokens\":30}}}",
            &u);
    assert_int_equal(u.prompt_tokens, 120);
    assert_int_equal(u.completion_tokens, 35);
    assert_int_equal(u.cached_tokens, 100);
    assert_int_equal(u.cache_write_tokens, -1);
    assert_int_equal(u.reasoning_tokens, 30);
}

static void response_tool_calls(void **state)
{
    resp_ok("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
            "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}}},"
            "{\"functionCall\":{\"id\":\"fc-7\",\"name\":\"get_time\",\"args\":{}}}]},"
            "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":50,"
            "\"candidatesTokenCount\":12,\"totalTokenCount\":62}}",
            "{\"id\":\"chatcmpl-gw1\",\"object\":\"chat.completion\",\"created\":1700000000,"
            "\"model\":\"gem\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
            "\"content\":null,\"refusal\":null,\"tool_calls\":["
            "{\"id\":\"call_0\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
            "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
            "{\"id\":\"fc-7\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
            "\"arguments\":\"{}\"}}]},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}],"
            "\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":12,\"total_tokens\":62,"
            "\"prompt_tokens_details\":{\"cached_tokens\":0},"
            "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
            NULL);
}

/* A functionCall part's signature rides in the id as unpadded base64url; text part signatures
 * are dropped; a signature that is not base64, or an id that would make the split ambiguous,
 * leaves the id as it was. */
static void response_thought_signatures(void **state)
{
    resp_ok("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
            "{\"text\":\"Checking.\",\"thoughtSignature\":\"VEVYVA==\"},"
            "{\"functionCall\":{\"name\":\"a\",\"args\":{}},\"thoughtSignature\":\"ab+/cd==\"},"
            "{\"functionCall\":{\"id\":\"fc-7\",\"name\":\"b\",\"args\":{}},"
            "\"thoughtSignature\":\"QUJD\"},"
            "{\"functionCall\":{\"name\":\"c\",\"args\":{}}},"
            "{\"functionCall\":{\"name\":\"d\",\"args\":{}},\"thoughtSignature\":\"no sig!\"},"
            "{\"functionCall\":{\"name\":\"e\",\"args\":{}},\"thoughtSignature\":7},"
            "{\"functionCall\":{\"id\":\"x__thought__y\",\"name\":\"f\",\"args\":{}},"
            "\"thoughtSignature\":\"QUJD\"},"
            "{\"functionCall\":{\"id\":\"z__thought_\",\"name\":\"g\",\"args\":{}},"
            "\"thoughtSignature\":\"QUJD\"}]},"
            "\"finishReason\":\"STOP\"}]}",
            "{\"id\":\"chatcmpl-gw1\",\"object\":\"chat.completion\",\"created\":1700000000,"
            "\"model\":\"gem\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
            "\"content\":\"Checking.\",\"refusal\":null,\"tool_calls\":["
            "{\"id\":\"call_0__thought__ab-_cd\",\"type\":\"function\",\"function\":{\"name\":"
            "\"a\",\"arguments\":\"{}\"}},"
            "{\"id\":\"fc-7__thought__QUJD\",\"type\":\"function\",\"function\":{\"name\":\"b\","
            "\"arguments\":\"{}\"}},"
            "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"c\","
            "\"arguments\":\"{}\"}},"
            "{\"id\":\"call_3\",\"type\":\"function\",\"function\":{\"name\":\"d\","
            "\"arguments\":\"{}\"}},"
            "{\"id\":\"call_4\",\"type\":\"function\",\"function\":{\"name\":\"e\","
            "\"arguments\":\"{}\"}},"
            "{\"id\":\"x__thought__y\",\"type\":\"function\",\"function\":{\"name\":\"f\","
            "\"arguments\":\"{}\"}},"
            "{\"id\":\"z__thought_\",\"type\":\"function\",\"function\":{\"name\":\"g\","
            "\"arguments\":\"{}\"}}]},"
            "\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]}",
            NULL);
}

/* Response ids fed back as a request give back the exact signatures Gemini sent. */
static void thought_signature_round_trip(void **state)
{
    static const char *const sigs[] = {"Ci+/Zm9v/w==", "QUJDRA==", "QUJDREU=", "QUJD",
                                       "CiQB0e2Kb7xGk1NmVq3vXr8S"};
    enum { N = sizeof sigs / sizeof sigs[0] };
    json_t *parts = json_array();
    for (size_t i = 0; i < N; i++)
        json_array_append_new(parts, json_pack("{s:{s:s,s:{}},s:s}", "functionCall", "name", "f",
                                               "args", "thoughtSignature", sigs[i]));
    json_t *resp = json_pack("{s:[{s:{s:s,s:o},s:s}]}", "candidates", "content", "role", "model",
                             "parts", parts, "finishReason", "STOP");
    char *rbody = json_dumps(resp, JSON_COMPACT);
    json_decref(resp);
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    assert_int_equal(sy_gemini_fmt_response(rbody, strlen(rbody), &resp_opts, &b, NULL), SY_OK);
    free(rbody);
    json_t *r = json_loadb(b.base, b.len, 0, NULL);
    sy_buf_dispose(&b);
    json_t *msg = json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message");
    json_t *calls = json_object_get(msg, "tool_calls");
    assert_int_equal(json_array_size(calls), N);
    for (size_t i = 0; i < N; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(calls, i), "id"));
        for (const char *c = id; *c; c++) /* ids stay in the base64url alphabet */
            assert_true(isalnum((unsigned char)*c) || *c == '_' || *c == '-');
    }
    json_t *req = json_pack("{s:[{s:s,s:O}]}", "messages", "role", "assistant", "tool_calls",
                            json_object_get(msg, "tool_calls"));
    json_decref(r);
    char *qbody = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    sy_fmt_req_t out;
    sy_err_t err = req_with(&plain_opts, qbody, &out);
    free(qbody);
    if (err) fail_msg("err %d param '%s': %s", err, out.err_param, out.err_msg);
    json_t *g = json_loadb(out.body, out.len, 0, NULL);
    free(out.body);
    json_t *gparts = json_object_get(json_array_get(json_object_get(g, "contents"), 0), "parts");
    assert_int_equal(json_array_size(gparts), N);
    for (size_t i = 0; i < N; i++)
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(gparts, i), "thoughtSignature")),
            sigs[i]);
    json_decref(g);
}

static void response_finish_reasons(void **state)
{
    static const struct {
        const char *gemini, *openai;
    } cases[] = {
        {"STOP", "stop"},
        {"MAX_TOKENS", "length"},
        {"SAFETY", "content_filter"},
        {"RECITATION", "content_filter"},
        {"BLOCKLIST", "content_filter"},
        {"PROHIBITED_CONTENT", "content_filter"},
        {"SPII", "content_filter"},
        {"MALFORMED_FUNCTION_CALL", "stop"},
        {"OTHER", "stop"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[256], want[512];
        snprintf(body, sizeof body,
                 "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"t\"}]},"
                 "\"finishReason\":\"%s\",\"index\":0}]}",
                 cases[i].gemini);
        snprintf(
            want, sizeof want,
            "{\"id\":\"chatcmpl-gw1\",\"object\":\"chat.completion\",\"created\":1700000000,"
            "\"model\":\"gem\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
            "\"content\":\"t\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"%s\"}]}",
            cases[i].openai);
        sy_fmt_usage_t u;
        resp_ok(body, want, &u);
        assert_int_equal(u.prompt_tokens, -1); /* no usageMetadata */
    }
    /* a candidate stopped by safety carries no content at all */
    resp_ok("{\"candidates\":[{\"finishReason\":\"SAFETY\",\"index\":0,\"safetyRatings\":[]}]}",
            "{\"id\":\"chatcmpl-gw1\",\"object\":\"chat.completion\",\"created\":1700000000,"
            "\"model\":\"gem\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
            "\"content\":\"\",\"refusal\":null},\"logprobs\":null,"
            "\"finish_reason\":\"content_filter\"}]}",
            NULL);
}

static void response_multiple_candidates(void **state)
{
    resp_ok("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"finishReason\":"
            "\"STOP\",\"index\":0},{\"content\":{\"parts\":[{\"text\":\"b\"}]},\"finishReason\":"
            "\"MAX_TOKENS\",\"index\":1}]}",
            "{\"id\":\"chatcmpl-gw1\",\"object\":\"chat.completion\",\"created\":1700000000,"
            "\"model\":\"gem\",\"choices\":["
            "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"a\",\"refusal\":null},"
            "\"logprobs\":null,\"finish_reason\":\"stop\"},"
            "{\"index\":1,\"message\":{\"role\":\"assistant\",\"content\":\"b\",\"refusal\":null},"
            "\"logprobs\":null,\"finish_reason\":\"length\"}]}",
            NULL);
}

static void response_prompt_blocked(void **state)
{
    sy_fmt_usage_t u;
    resp_ok("{\"promptFeedback\":{\"blockReason\":\"SAFETY\",\"safetyRatings\":[]},"
            "\"usageMetadata\":{\"promptTokenCount\":8,\"totalTokenCount\":8},"
            "\"modelVersion\":\"gemini-2.5-flash\"}",
            "{\"id\":\"chatcmpl-gw1\",\"object\":\"chat.completion\",\"created\":1700000000,"
            "\"model\":\"gemini-2.5-flash\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
            "\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,"
            "\"finish_reason\":\"content_filter\"}],\"usage\":{\"prompt_tokens\":8,"
            "\"completion_tokens\":0,\"total_tokens\":8,\"prompt_tokens_details\":{"
            "\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
            &u);
    assert_int_equal(u.prompt_tokens, 8);
    assert_int_equal(u.completion_tokens, 0);
}

static void response_broken(void **state)
{
    const char *bodies[] = {"", "not json", "[]", "{\"foo\":1}", "{\"candidates\":{}}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        sy_buf_t b;
        sy_buf_init(&b, 1 << 20);
        assert_int_equal(sy_gemini_fmt_response(bodies[i], strlen(bodies[i]), &resp_opts, &b, NULL),
                         SY_ERR_UPSTREAM_BROKEN);
        assert_int_equal(b.len, 0);
        sy_buf_dispose(&b);
    }
}

/* ---------- errors ---------- */

static void errors_map_status_and_code(void **state)
{
    error_is(400,
             "{\"error\":{\"code\":400,\"message\":\"Invalid value at 'contents'\","
             "\"status\":\"INVALID_ARGUMENT\"}}",
             "{\"error\":{\"message\":\"Invalid value at 'contents'\",\"type\":"
             "\"invalid_request_error\",\"param\":null,\"code\":\"INVALID_ARGUMENT\"}}");
    error_is(400,
             "{\"error\":{\"code\":400,\"message\":\"API key not valid. Please pass a valid API "
             "key.\",\"status\":\"INVALID_ARGUMENT\",\"details\":[]}}",
             "{\"error\":{\"message\":\"API key not valid. Please pass a valid API key.\","
             "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"INVALID_ARGUMENT\"}}");
    error_is(401, "{\"error\":{\"code\":401,\"message\":\"m\",\"status\":\"UNAUTHENTICATED\"}}",
             "{\"error\":{\"message\":\"m\",\"type\":\"authentication_error\",\"param\":null,"
             "\"code\":\"UNAUTHENTICATED\"}}");
    error_is(403, "{\"error\":{\"code\":403,\"message\":\"m\",\"status\":\"PERMISSION_DENIED\"}}",
             "{\"error\":{\"message\":\"m\",\"type\":\"permission_error\",\"param\":null,"
             "\"code\":\"PERMISSION_DENIED\"}}");
    error_is(404, "{\"error\":{\"code\":404,\"message\":\"m\",\"status\":\"NOT_FOUND\"}}",
             "{\"error\":{\"message\":\"m\",\"type\":\"invalid_request_error\",\"param\":null,"
             "\"code\":\"NOT_FOUND\"}}");
    error_is(429,
             "[{\"error\":{\"code\":429,\"message\":\"Quota\",\"status\":\"RESOURCE_EXHAUSTED\"}}]",
             "{\"error\":{\"message\":\"Quota\",\"type\":\"rate_limit_error\",\"param\":null,"
             "\"code\":\"RESOURCE_EXHAUSTED\"}}");
    error_is(503, "{\"error\":{\"code\":503,\"message\":\"overloaded\"}}",
             "{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\",\"param\":null,"
             "\"code\":null}}");
    error_is(400,
             "{\"error\":{\"code\":400,\"message\":\"The input token count (1200000) exceeds the "
             "maximum number of tokens allowed (1048576).\",\"status\":\"INVALID_ARGUMENT\"}}",
             "{\"error\":{\"message\":\"The input token count (1200000) exceeds the maximum "
             "number of tokens allowed (1048576).\",\"type\":\"invalid_request_error\","
             "\"param\":null,\"code\":\"context_length_exceeded\"}}");
}

static void errors_non_json(void **state)
{
    error_is(502, "<html>\n<b>Bad\tGateway</b>\xc3\xa9</html>\n",
             "{\"error\":{\"message\":\"upstream returned HTTP 502: <html>?<b>Bad?Gateway</b>??"
             "</html>\",\"type\":\"upstream_error\",\"param\":null,\"code\":null}}");
    error_is(500, "",
             "{\"error\":{\"message\":\"upstream returned HTTP 500\",\"type\":"
             "\"upstream_error\",\"param\":null,\"code\":null}}");
    error_is(500, "{\"message\":\"x\"}",
             "{\"error\":{\"message\":\"upstream returned HTTP 500: {\\\"message\\\":\\\"x\\\"}\","
             "\"type\":\"upstream_error\",\"param\":null,\"code\":null}}");
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    sy_gemini_fmt_error(500, big, strlen(big), &b);
    json_t *j = json_loadb(b.base, b.len, 0, NULL);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    assert_int_equal(strlen(msg), strlen("upstream returned HTTP 500: ") + 200);
    json_decref(j);
    sy_buf_dispose(&b);
}

/* ---------- streaming ---------- */

#define CHUNK_HEAD                                                                                 \
    "{\"id\":\"resp-s1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"             \
    "\"model\":\"gemini-2.5-flash\","

static void stream_text_with_usage(void **state)
{
    sy_fmt_resp_opts_t o = resp_opts;
    o.include_usage = true;
    sy_gemini_stream_t *s = sy_gemini_stream_new(&o);
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    assert_int_equal(feed(s,
                          "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hmm\",\"thought\":"
                          "true}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{"
                          "\"promptTokenCount\":9,\"totalTokenCount\":9},\"modelVersion\":"
                          "\"gemini-2.5-flash\",\"responseId\":\"resp-s1\"}",
                          &out),
                     SY_OK);
    const char *f1[] = {
        CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                   "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
        CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Hmm\"},"
                   "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
    };
    frames_are(&out, f1, 2);
    /* later chunks carry other ids: the first one's is kept */
    assert_int_equal(feed(s,
                          "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"},{\"text\":"
                          "\"lo\"}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":"
                          "\"gemini-2.5-flash\",\"responseId\":\"other\"}",
                          &out),
                     SY_OK);
    const char *f2[] = {
        CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},"
                   "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
        CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},"
                   "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
    };
    frames_are(&out, f2, 2);
    assert_int_equal(feed(s,
                          "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"!\"}],\"role\":"
                          "\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{"
                          "\"promptTokenCount\":9,\"candidatesTokenCount\":3,\"totalTokenCount\":"
                          "17,\"thoughtsTokenCount\":5,\"cachedContentTokenCount\":4},"
                          "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"resp-s1\"}",
                          &out),
                     SY_OK);
    const char *f3[] = {
        CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},"
                   "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
        CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{},"
                   "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}",
    };
    frames_are(&out, f3, 2);
    assert_int_equal(sy_gemini_stream_finish(s, &out), SY_OK);
    const char *f4[] = {
        CHUNK_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":8,"
                   "\"total_tokens\":17,\"prompt_tokens_details\":{\"cached_tokens\":4},"
                   "\"completion_tokens_details\":{\"reasoning_tokens\":5}}}",
        "[DONE]",
    };
    frames_are(&out, f4, 2);
    const sy_fmt_usage_t *u = sy_gemini_stream_usage(s);
    assert_int_equal(u->prompt_tokens, 9);
    assert_int_equal(u->completion_tokens, 8);
    assert_int_equal(u->reasoning_tokens, 5);
    assert_int_equal(u->cached_tokens, 4);
    sy_buf_dispose(&out);
    sy_gemini_stream_free(s);
}

#define PLAIN_HEAD                                                                                 \
    "{\"id\":\"chatcmpl-gw1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"        \
    "\"model\":\"gem\","

static void stream_parallel_tool_calls_without_usage(void **state)
{
    sy_gemini_stream_t *s = sy_gemini_stream_new(&resp_opts);
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    assert_int_equal(feed(s,
                          "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":"
                          "\"get_weather\",\"args\":{\"city\":\"Paris\"}}},{\"functionCall\":{"
                          "\"name\":\"get_weather\",\"args\":{\"city\":\"Rome\"}}}],\"role\":"
                          "\"model\"},\"index\":0}]}",
                          &out),
                     SY_OK);
    assert_int_equal(feed(s,
                          "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"id\":"
                          "\"x9\",\"name\":\"now\"}}],\"role\":\"model\"},\"finishReason\":"
                          "\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":20,"
                          "\"candidatesTokenCount\":15,\"totalTokenCount\":35}}",
                          &out),
                     SY_OK);
    assert_int_equal(sy_gemini_stream_finish(s, &out), SY_OK);
    const char *f[] = {
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                   "\"logprobs\":null,\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":"
                   "\"call_0\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                   "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},\"logprobs\":null,"
                   "\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":"
                   "\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                   "\"arguments\":\"{\\\"city\\\":\\\"Rome\\\"}\"}}]},\"logprobs\":null,"
                   "\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":2,\"id\":"
                   "\"x9\",\"type\":\"function\",\"function\":{\"name\":\"now\","
                   "\"arguments\":\"{}\"}}]},\"logprobs\":null,\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                   "\"finish_reason\":\"tool_calls\"}]}",
        "[DONE]",
    };
    frames_are(&out, f, 6);
    assert_int_equal(sy_gemini_stream_usage(s)->completion_tokens, 15);
    sy_buf_dispose(&out);
    sy_gemini_stream_free(s);
}

/* Streamed calls: each functionCall part's own signature in its id, across events; a text
 * part's signature (and a signature-only empty text part) emits nothing extra. */
static void stream_thought_signatures(void **state)
{
    sy_gemini_stream_t *s = sy_gemini_stream_new(&resp_opts);
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    assert_int_equal(feed(s,
                          "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hm.\","
                          "\"thoughtSignature\":\"VEVYVA==\"},{\"functionCall\":{\"name\":\"a\","
                          "\"args\":{}},\"thoughtSignature\":\"ab+/cd==\"},{\"functionCall\":{"
                          "\"name\":\"b\",\"args\":{}}}],\"role\":\"model\"},\"index\":0}]}",
                          &out),
                     SY_OK);
    assert_int_equal(feed(s,
                          "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"id\":"
                          "\"x9\",\"name\":\"c\",\"args\":{}},\"thoughtSignature\":\"QUJD\"},"
                          "{\"text\":\"\",\"thoughtSignature\":\"QUJD\"}],\"role\":\"model\"},"
                          "\"finishReason\":\"STOP\",\"index\":0}]}",
                          &out),
                     SY_OK);
    assert_int_equal(sy_gemini_stream_finish(s, &out), SY_OK);
    const char *f[] = {
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                   "\"logprobs\":null,\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hm.\"},"
                   "\"logprobs\":null,\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":"
                   "\"call_0__thought__ab-_cd\",\"type\":\"function\",\"function\":{\"name\":"
                   "\"a\",\"arguments\":\"{}\"}}]},\"logprobs\":null,\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":"
                   "\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"b\","
                   "\"arguments\":\"{}\"}}]},\"logprobs\":null,\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":2,\"id\":"
                   "\"x9__thought__QUJD\",\"type\":\"function\",\"function\":{\"name\":\"c\","
                   "\"arguments\":\"{}\"}}]},\"logprobs\":null,\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                   "\"finish_reason\":\"tool_calls\"}]}",
        "[DONE]",
    };
    frames_are(&out, f, 7);
    sy_buf_dispose(&out);
    sy_gemini_stream_free(s);
}

static void stream_finish_reasons_and_blocked(void **state)
{
    sy_gemini_stream_t *s = sy_gemini_stream_new(&resp_opts);
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    assert_int_equal(feed(s,
                          "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},"
                          "\"finishReason\":\"MAX_TOKENS\"}]}",
                          &out),
                     SY_OK);
    const char *f[] = {
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                   "\"logprobs\":null,\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"logprobs\":null,"
                   "\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                   "\"finish_reason\":\"length\"}]}",
    };
    frames_are(&out, f, 3);
    sy_gemini_stream_free(s);

    sy_fmt_resp_opts_t o = resp_opts;
    o.include_usage = true;
    s = sy_gemini_stream_new(&o);
    assert_int_equal(feed(s,
                          "{\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"},"
                          "\"usageMetadata\":{\"promptTokenCount\":6,\"totalTokenCount\":6}}",
                          &out),
                     SY_OK);
    assert_int_equal(sy_gemini_stream_finish(s, &out), SY_OK);
    const char *g[] = {
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                   "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                   "\"finish_reason\":\"content_filter\"}],\"usage\":null}",
        PLAIN_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":6,\"completion_tokens\":0,"
                   "\"total_tokens\":6,\"prompt_tokens_details\":{\"cached_tokens\":0},"
                   "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
        "[DONE]",
    };
    frames_are(&out, g, 4);
    sy_buf_dispose(&out);
    sy_gemini_stream_free(s);
}

static void stream_errors(void **state)
{
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);

    /* closed before any finishReason */
    sy_gemini_stream_t *s = sy_gemini_stream_new(&resp_opts);
    assert_int_equal(
        feed(s, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}", &out), SY_OK);
    sy_buf_reset(&out);
    assert_int_equal(sy_gemini_stream_finish(s, &out), SY_ERR_UPSTREAM_BROKEN);
    assert_int_equal(out.len, 0);
    sy_gemini_stream_free(s);

    /* an error object in the stream */
    s = sy_gemini_stream_new(&resp_opts);
    assert_int_equal(feed(s,
                          "{\"error\":{\"code\":503,\"message\":\"The model is overloaded.\","
                          "\"status\":\"UNAVAILABLE\"}}",
                          &out),
                     SY_ERR_UPSTREAM_STATUS);
    const char *f[] = {"{\"error\":{\"message\":\"The model is overloaded.\",\"type\":"
                       "\"server_error\",\"param\":null,\"code\":\"UNAVAILABLE\"}}"};
    frames_are(&out, f, 1);
    assert_int_equal(sy_gemini_stream_finish(s, &out), SY_ERR_UPSTREAM_BROKEN);
    sy_gemini_stream_free(s);

    /* garbage */
    s = sy_gemini_stream_new(&resp_opts);
    assert_int_equal(feed(s, "{\"candidates\":[", &out), SY_ERR_UPSTREAM_BROKEN);
    assert_int_equal(feed(s, "[DONE]", &out), SY_ERR_UPSTREAM_BROKEN);
    assert_int_equal(feed(s, "{\"something\":1}", &out), SY_ERR_UPSTREAM_BROKEN);
    assert_int_equal(feed(s, "{\"candidates\":[{\"index\":99}]}", &out), SY_ERR_UPSTREAM_BROKEN);
    assert_int_equal(out.len, 0);
    sy_gemini_stream_free(s);

    /* a frame that does not fit the caller's cap is not written partially */
    sy_buf_t small;
    sy_buf_init(&small, 64);
    s = sy_gemini_stream_new(&resp_opts);
    assert_int_equal(
        feed(s, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}", &small),
        SY_ERR_TOO_LARGE);
    assert_int_equal(small.len, 0);
    sy_gemini_stream_free(s);
    sy_buf_dispose(&small);
    sy_buf_dispose(&out);
}

static void stream_two_candidates(void **state)
{
    sy_gemini_stream_t *s = sy_gemini_stream_new(&resp_opts);
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    assert_int_equal(feed(s,
                          "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"index\":"
                          "0},{\"content\":{\"parts\":[{\"text\":\"b\"}]},\"index\":1,"
                          "\"finishReason\":\"STOP\"}]}",
                          &out),
                     SY_OK);
    const char *f[] = {
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                   "\"logprobs\":null,\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"logprobs\":null,"
                   "\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":1,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                   "\"logprobs\":null,\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":1,\"delta\":{\"content\":\"b\"},\"logprobs\":null,"
                   "\"finish_reason\":null}]}",
        PLAIN_HEAD "\"choices\":[{\"index\":1,\"delta\":{},\"logprobs\":null,"
                   "\"finish_reason\":\"stop\"}]}",
    };
    frames_are(&out, f, 5);
    sy_buf_dispose(&out);
    sy_gemini_stream_free(s);
}

/* ---------- tests/cases/gemini: every case file replayed through the translator ---------- */

/* Expected-vs-actual with the case placeholders of tests/cases/README.md. */
static bool match(json_t *want, json_t *got)
{
    const char *ph = json_string_value(want);
    if (ph && ph[0] == '$') {
        if (strcmp(ph, "$any") == 0) return got != NULL;
        if (strcmp(ph, "$string") == 0) return json_is_string(got);
        if (strcmp(ph, "$number") == 0) return json_is_number(got);
        if (strcmp(ph, "$id") == 0) return json_is_string(got) && json_string_length(got) > 0;
    }
    if (json_is_object(want)) {
        if (!json_is_object(got) || json_object_size(want) != json_object_size(got)) return false;
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
            if (!match(v, json_object_get(got, k))) return false;
        }
        return true;
    }
    if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(want) != json_array_size(got)) return false;
        for (size_t i = 0; i < json_array_size(want); i++)
            if (!match(json_array_get(want, i), json_array_get(got, i))) return false;
        return true;
    }
    return json_equal(want, got);
}

static void must_match(const char *file, const char *what, json_t *want, const char *got,
                       size_t len)
{
    json_t *g = json_loadb(got, len, JSON_DECODE_ANY, NULL);
    if (!match(want, g)) {
        char *ws = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        print_error("%s: %s differs\nexpected: %s\nactual:   %.*s\n", file, what, ws, (int)len,
                    got);
        free(ws);
        json_decref(g);
        fail();
    }
    json_decref(g);
}

static void run_case(const char *file, json_t *c)
{
    json_t *model = json_object_get(c, "model");
    assert_string_equal(json_string_value(json_object_get(c, "ingress")), "openai");
    assert_string_equal(json_string_value(json_object_get(model, "provider")), "gemini");
    const char *up_model = json_string_value(json_object_get(model, "model"));
    sy_conf_kv_t kv[16];
    size_t n_kv = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(model, "defaults"), k, v)
    {
        assert_true(n_kv < 16);
        kv[n_kv].key = (char *)k;
        kv[n_kv++].json = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    const char *unsup = json_string_value(json_object_get(model, "unsupported_params"));
    sy_fmt_req_opts_t o = {.upstream_model = up_model,
                           .defaults = kv,
                           .n_defaults = n_kv,
                           .reject_unsupported = unsup && strcmp(unsup, "reject") == 0};
    char *body = json_dumps(json_object_get(c, "request"), JSON_COMPACT);
    sy_fmt_req_t out;
    sy_err_t err = sy_gemini_fmt_request(body, strlen(body), &o, &out);
    free(body);
    for (size_t i = 0; i < n_kv; i++)
        free(kv[i].json);

    json_t *ureq = json_object_get(c, "upstream_request");
    json_t *uresp = json_object_get(c, "upstream_response");
    json_t *resp = json_object_get(c, "response");
    int status = (int)json_integer_value(json_object_get(resp, "status"));
    json_t *want_headers = json_object_get(resp, "headers");
    if (!ureq) { /* refused before any upstream call */
        if (err == SY_OK) fail_msg("%s: request accepted, case expects a refusal", file);
        assert_int_equal(status, 400);
        json_t *e = json_object_get(json_object_get(resp, "body"), "error");
        assert_string_equal(json_string_value(json_object_get(e, "message")), out.err_msg);
        const char *param = json_string_value(json_object_get(e, "param"));
        assert_string_equal(param ? param : "", out.err_param);
        return;
    }
    if (err) fail_msg("%s: err %d %s: %s", file, err, out.err_param, out.err_msg);
    char path[256];
    snprintf(path, sizeof path, "/models/%s:%s", up_model,
             out.stream ? "streamGenerateContent?alt=sse" : "generateContent");
    assert_string_equal(json_string_value(json_object_get(ureq, "path")), path);
    must_match(file, "upstream body", json_object_get(ureq, "body"), out.body, out.len);
    free(out.body);
    assert_int_equal(out.warnings[0] != '\0',
                     json_object_get(want_headers, "x-switchyard-warning") != NULL);

    sy_buf_t b;
    sy_buf_init(&b, 1 << 22);
    int up_status = (int)json_integer_value(json_object_get(uresp, "status"));
    json_t *sse = json_object_get(uresp, "sse");
    if (up_status >= 400) {
        assert_int_equal(status, up_status);
        char *ub = json_dumps(json_object_get(uresp, "body"), JSON_COMPACT);
        sy_gemini_fmt_error(up_status, ub, strlen(ub), &b);
        free(ub);
        must_match(file, "error body", json_object_get(resp, "body"), b.base, b.len);
    } else if (!sse) {
        assert_int_equal(status, 200);
        char *ub = json_dumps(json_object_get(uresp, "body"), JSON_COMPACT);
        sy_fmt_resp_opts_t ro = {.id = "chatcmpl-case", .created = 1, .model = "case-model"};
        assert_int_equal(sy_gemini_fmt_response(ub, strlen(ub), &ro, &b, NULL), SY_OK);
        free(ub);
        must_match(file, "response body", json_object_get(resp, "body"), b.base, b.len);
    } else {
        assert_int_equal(status, 200);
        sy_fmt_resp_opts_t ro = {.id = "chatcmpl-case",
                                 .created = 1,
                                 .model = "case-model",
                                 .include_usage = out.include_usage};
        sy_gemini_stream_t *s = sy_gemini_stream_new(&ro);
        size_t i;
        json_t *ev;
        err = SY_OK;
        json_array_foreach(sse, i, ev)
        {
            char *d = json_dumps(json_object_get(ev, "data"), JSON_COMPACT | JSON_ENCODE_ANY);
            err = sy_gemini_stream_event(s, sy_str_c(d), &b);
            free(d);
            if (err) break;
        }
        if (!err) assert_int_equal(sy_gemini_stream_finish(s, &b), SY_OK);
        sy_gemini_stream_free(s);
        json_t *frames = json_object_get(resp, "sse");
        size_t pos = 0, n = 0;
        while (pos < b.len) {
            const char *start = b.base + pos + 6;
            const char *end = memmem(start, b.len - pos - 6, "\n\n", 2);
            assert_non_null(end);
            json_t *want = json_object_get(json_array_get(frames, n), "data");
            if (!want) fail_msg("%s: extra frame %.*s", file, (int)(end - start), start);
            if (json_is_string(want))
                assert_true((size_t)(end - start) == json_string_length(want) &&
                            memcmp(start, json_string_value(want), json_string_length(want)) == 0);
            else
                must_match(file, "stream frame", want, start, (size_t)(end - start));
            n++;
            pos = (size_t)(end + 2 - b.base);
        }
        assert_int_equal(n, json_array_size(frames));
    }
    sy_buf_dispose(&b);
}

static void case_files(void **state)
{
    const char *src = getenv("SY_TEST_SRC");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/cases/gemini", src ? src : ".");
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < 6 || strcmp(e->d_name + nl - 5, ".json") != 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        json_error_t je;
        json_t *c = json_load_file(path, 0, &je);
        if (!c) fail_msg("%s: %s", path, je.text);
        run_case(e->d_name, c);
        json_decref(c);
        count++;
    }
    closedir(d);
    assert_true(count >= 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_system_developer_and_text),
        cmocka_unit_test(request_merges_consecutive_roles),
        cmocka_unit_test(request_applies_defaults),
        cmocka_unit_test(request_images_audio_files),
        cmocka_unit_test(request_tools_and_tool_choice),
        cmocka_unit_test(request_tool_round_trip),
        cmocka_unit_test(request_thought_signatures),
        cmocka_unit_test(request_malformed_signature_suffixes),
        cmocka_unit_test(request_tool_errors),
        cmocka_unit_test(request_generation_config),
        cmocka_unit_test(request_response_format),
        cmocka_unit_test(request_unsupported_dropped_or_rejected),
        cmocka_unit_test(request_error_text_stays_utf8),
        cmocka_unit_test(request_stream_flags),
        cmocka_unit_test(request_validation),
        cmocka_unit_test(response_text_usage_and_thoughts),
        cmocka_unit_test(response_tool_calls),
        cmocka_unit_test(response_thought_signatures),
        cmocka_unit_test(thought_signature_round_trip),
        cmocka_unit_test(response_finish_reasons),
        cmocka_unit_test(response_multiple_candidates),
        cmocka_unit_test(response_prompt_blocked),
        cmocka_unit_test(response_broken),
        cmocka_unit_test(errors_map_status_and_code),
        cmocka_unit_test(errors_non_json),
        cmocka_unit_test(stream_text_with_usage),
        cmocka_unit_test(stream_parallel_tool_calls_without_usage),
        cmocka_unit_test(stream_thought_signatures),
        cmocka_unit_test(stream_finish_reasons_and_blocked),
        cmocka_unit_test(stream_errors),
        cmocka_unit_test(stream_two_candidates),
        cmocka_unit_test(case_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
