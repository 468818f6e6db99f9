/* api/chatgen_fmt.c, the pure parts of chat generation: the upstream request built from a branch,
 * the metrics JSON, the deployment a price is looked up for, the capped text, schema errors
 * (api/chatgen_fmt.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api/chatgen_fmt.h"

static sy_app_msg_t mk(const char *role, const char *content, const char *status)
{
    return (sy_app_msg_t){
        .role = (char *)role, .content = (char *)content, .status = (char *)status};
}

static char *dump(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(v);
    return s;
}

static void t_request_branch(void **state)
{
    (void)state;
    sy_app_msg_t a = mk("user", "hi", "ok"), b = mk("assistant", "hello", "ok"),
                 c = mk("user", "again", "ok"), d = mk("assistant", "boom", "error"),
                 e = mk("assistant", "half", "cancelled");
    sy_app_msg_t *branch[] = {&a, &b, &c, &d, &e};
    json_t *opts = json_loads("{\"system\":\"be brief\",\"context\":\"doc text\","
                              "\"params\":{\"temperature\":0.5,\"max_tokens\":9,\"seed\":3},"
                              "\"response_format\":{\"type\":\"json_object\"},\"model\":\"x\"}",
                              0, NULL);
    char *s = dump(sy_chatgen_request("m", branch, 5, "new q", opts));
    assert_string_equal(
        s, "{\"max_tokens\":9,\"messages\":["
           "{\"content\":\"be brief\",\"role\":\"system\"},"
           "{\"content\":\"Context:\\ndoc text\",\"role\":\"system\"},"
           "{\"content\":\"hi\",\"role\":\"user\"},{\"content\":\"hello\",\"role\":\"assistant\"},"
           "{\"content\":\"again\",\"role\":\"user\"},"
           "{\"content\":\"half\",\"role\":\"assistant\"},"
           "{\"content\":\"new q\",\"role\":\"user\"}],"
           "\"model\":\"m\",\"response_format\":{\"type\":\"json_object\"},\"seed\":3,"
           "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"temperature\":0.5}");
    free(s);
    json_decref(opts);
}

static void t_request_regenerate(void **state)
{
    (void)state;
    sy_app_msg_t a = mk("user", "hi", "ok"), sys = mk("system", "ignored", "ok"),
                 st = mk("assistant", "", "streaming");
    sy_app_msg_t *branch[] = {&sys, &a, &st};
    json_t *opts = json_object();
    char *s = dump(sy_chatgen_request("m", branch, 3, NULL, opts));
    assert_string_equal(s, "{\"messages\":[{\"content\":\"hi\",\"role\":\"user\"}],\"model\":\"m\","
                           "\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    free(s);
    json_decref(opts);
}

static void metrics_is(const sy_chatgen_metrics_t *m, const char *want)
{
    sy_buf_t b;
    sy_buf_init(&b, 1024);
    assert_int_equal(sy_chatgen_metrics_json(m, &b), SY_OK);
    sy_buf_append(&b, "", 1);
    assert_string_equal(b.base, want);
    sy_buf_dispose(&b);
}

static void t_metrics(void **state)
{
    (void)state;
    /* 120 tokens between ttft 250 ms and latency 1.45 s: 100 tokens/s */
    sy_chatgen_metrics_t m = {250000, 1450000, 12, 120, 30, 86000};
    metrics_is(&m, "{\"ttft_ms\":250.000,\"latency_ms\":1450.000,\"input_tokens\":12,"
                   "\"output_tokens\":120,\"reasoning_tokens\":30,\"tokens_per_s\":100.000,"
                   "\"cost_usd\":0.000086}");
    /* nothing arrived: no ttft, so no rate; unknown cost and reasoning */
    sy_chatgen_metrics_t n = {-1, 3500, 5, 0, -1, -1};
    metrics_is(&n, "{\"ttft_ms\":null,\"latency_ms\":3.500,\"input_tokens\":5,"
                   "\"output_tokens\":0,\"reasoning_tokens\":null,\"tokens_per_s\":null,"
                   "\"cost_usd\":null}");
    /* all text in the first chunk: latency == ttft, the rate is not defined */
    sy_chatgen_metrics_t o = {1000, 1000, 1, 7, -1, 0};
    metrics_is(&o, "{\"ttft_ms\":1.000,\"latency_ms\":1.000,\"input_tokens\":1,"
                   "\"output_tokens\":7,\"reasoning_tokens\":null,\"tokens_per_s\":null,"
                   "\"cost_usd\":0}");
}

static void t_deploy_of(void **state)
{
    (void)state;
    const char *y = "models:\n"
                    "  - name: a\n    provider: mock\n    routing: {fallbacks: [b]}\n"
                    "  - name: b\n    provider: mock\n    model: up-b\n";
    sy_conf_err_t err;
    sy_config_t *cfg = sy_config_load_string("t.yaml", y, strlen(y), &err);
    if (!cfg) print_error("%s\n", err.msg);
    assert_non_null(cfg);
    const sy_model_conf_t *a = sy_config_find_model(cfg, "a", 1);
    const sy_model_conf_t *b = sy_config_find_model(cfg, "b", 1);
    assert_ptr_equal(sy_chatgen_priced_deploy(cfg, a, "up-b"),
                     &b->deployments[0]); /* a fallback answered */
    assert_ptr_equal(sy_chatgen_priced_deploy(cfg, a, "a"), &a->deployments[0]);
    assert_ptr_equal(sy_chatgen_priced_deploy(cfg, a, ""), &a->deployments[0]);
    assert_ptr_equal(sy_chatgen_priced_deploy(cfg, a, "unknown"), &a->deployments[0]);
    sy_config_free(cfg);
}

static void t_append_capped(void **state)
{
    (void)state;
    sy_buf_t b;
    sy_buf_init(&b, 8);
    assert_true(sy_chatgen_append_capped(&b, "abcd", 4, 8));
    /* "é" is 2 bytes: "ab" + "é" = 4 more fit exactly; then "€" (3 bytes) does not */
    assert_false(sy_chatgen_append_capped(&b, "ab\xc3\xa9\xe2\x82\xac", 7, 8));
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.base, "abcdab\xc3\xa9", 8);
    sy_buf_dispose(&b);
    sy_buf_init(&b, 8);
    assert_false(
        sy_chatgen_append_capped(&b, "abcdefg\xc3\xa9", 9, 8)); /* never half a character */
    assert_int_equal(b.len, 7);
    sy_buf_dispose(&b);
}

static void t_schema_errors(void **state)
{
    (void)state;
    json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"n\":{\"type\":"
                                "\"integer\"}},\"required\":[\"n\"]}",
                                0, NULL);
    char err[200];
    sy_jschema_t *s = sy_jschema_compile(schema, err, sizeof err);
    assert_non_null(s);
    assert_null(sy_chatgen_schema_errors(s, "{\"n\": 3}"));
    char *e = sy_chatgen_schema_errors(s, "{\"n\": \"three\"}");
    assert_non_null(e);
    json_t *a = json_loads(e, 0, NULL);
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "path")), "/n");
    json_decref(a);
    free(e);
    e = sy_chatgen_schema_errors(s, "You said: hi");
    a = json_loads(e, 0, NULL);
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "path")), "");
    assert_non_null(
        strstr(json_string_value(json_object_get(json_array_get(a, 0), "message")), "not JSON"));
    json_decref(a);
    free(e);
    sy_jschema_free(s);
    json_decref(schema);
}

/* The model's ui block: locked values applied or checked (numbers by value), hidden refused. */
static void t_apply_ui(void **state)
{
    (void)state;
    sy_model_ui_t ui = {0};
    ui.locked = (1u << SY_UI_TEMPERATURE) | (1u << SY_UI_SYSTEM) | (1u << SY_UI_RESPONSE_FORMAT);
    ui.hidden = (1u << SY_UI_SEED) | (1u << SY_UI_SYSTEM);
    ui.lock_json[SY_UI_TEMPERATURE] = "1";
    ui.lock_json[SY_UI_SYSTEM] = "\"be exact\"";
    ui.lock_json[SY_UI_RESPONSE_FORMAT] = "{\"type\":\"json_object\"}";
    sy_chatgen_refusal_t why;
    /* nothing sent: the locked values are set */
    json_t *b = json_pack("{s:s, s:s}", "content", "hi", "model", "m");
    assert_true(sy_chatgen_apply_ui(b, &ui, "m", &why));
    char *d = dump(b);
    assert_string_equal(d,
                        "{\"content\":\"hi\",\"model\":\"m\",\"params\":{\"temperature\":1},"
                        "\"response_format\":{\"type\":\"json_object\"},\"system\":\"be exact\"}");
    free(d);
    /* the same values sent (1.0 for 1; a hidden but locked system with its value): kept */
    b = json_pack("{s:{s:f, s:i}, s:s, s:n}", "params", "temperature", 1.0, "max_tokens", 5,
                  "system", "be exact", "response_format");
    assert_true(sy_chatgen_apply_ui(b, &ui, "m", &why));
    d = dump(b);
    assert_string_equal(d,
                        "{\"params\":{\"max_tokens\":5,\"temperature\":1.0},"
                        "\"response_format\":{\"type\":\"json_object\"},\"system\":\"be exact\"}");
    free(d);
    /* another value: 400 invalid_value naming the parameter */
    b = json_pack("{s:{s:f}}", "params", "temperature", 0.5);
    assert_false(sy_chatgen_apply_ui(b, &ui, "m", &why));
    assert_string_equal(why.param, "params.temperature");
    assert_string_equal(why.code, "invalid_value");
    assert_non_null(strstr(why.message, "locked to 1"));
    json_decref(b);
    b = json_pack("{s:{s:s}}", "response_format", "type", "text");
    assert_false(sy_chatgen_apply_ui(b, &ui, "m", &why));
    assert_string_equal(why.param, "response_format");
    json_decref(b);
    /* a hidden parameter sent: refused */
    b = json_pack("{s:{s:i}}", "params", "seed", 7);
    assert_false(sy_chatgen_apply_ui(b, &ui, "m", &why));
    assert_string_equal(why.param, "params.seed");
    assert_string_equal(why.code, "unsupported_parameter");
    json_decref(b);
    /* a hidden one sent as null is not sent; a bad params type is left to check_body */
    b = json_pack("{s:{s:n}}", "params", "seed");
    assert_true(sy_chatgen_apply_ui(b, &ui, "m", &why));
    json_decref(b);
    b = json_pack("{s:s}", "params", "x");
    assert_true(sy_chatgen_apply_ui(b, &ui, "m", &why));
    json_decref(b);
    /* no ui: nothing changes */
    sy_model_ui_t none = {0};
    b = json_pack("{s:{s:i}}", "params", "seed", 7);
    assert_true(sy_chatgen_apply_ui(b, &none, "m", &why));
    d = dump(b);
    assert_string_equal(d, "{\"params\":{\"seed\":7}}");
    free(d);
}

/* A json_schema body: check_body bounds the schema's size without compiling it (cheap on a
 * loop); compile_schema (the generate job, a pool thread) compiles it or says why not. */
static json_t *schema_body(json_t *schema)
{
    return json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:o}}}", "content", "x", "model", "m",
                     "response_format", "type", "json_schema", "json_schema", "name", "r", "schema",
                     schema);
}

static void t_schema_check_and_compile(void **state)
{
    (void)state;
    sy_chatgen_refusal_t why;
    /* a bad pattern passes the loop's check: compiling is the job's */
    json_t *b = schema_body(json_pack("{s:{s:{}}}", "patternProperties", "("));
    assert_true(sy_chatgen_check_body(b, &why));
    assert_null(sy_chatgen_compile_schema(b, &why));
    assert_string_equal(why.code, "invalid_value");
    assert_string_equal(why.param, "response_format.json_schema.schema");
    assert_non_null(strstr(why.message, "not a valid JSON Schema"));
    json_decref(b);
    /* a good one compiles and validates */
    b = schema_body(json_pack("{s:s}", "type", "object"));
    assert_true(sy_chatgen_check_body(b, &why));
    sy_jschema_t *s = sy_chatgen_compile_schema(b, &why);
    assert_non_null(s);
    assert_null(why.code);
    assert_null(sy_chatgen_schema_errors(s, "{}"));
    sy_jschema_free(s);
    json_decref(b);
    /* no json_schema: NULL and no refusal */
    b = json_pack("{s:s, s:s, s:{s:s}}", "content", "x", "model", "m", "response_format", "type",
                  "json_object");
    assert_null(sy_chatgen_compile_schema(b, &why));
    assert_null(why.code);
    json_decref(b);
    /* the size cap: exactly at 64 KiB of compact JSON passes, one byte more is refused */
    size_t fixed = strlen("{\"description\":\"\"}");
    char *pad = malloc(SY_CHATGEN_SCHEMA_MAX);
    memset(pad, 'a', SY_CHATGEN_SCHEMA_MAX - fixed);
    pad[SY_CHATGEN_SCHEMA_MAX - fixed] = '\0';
    b = schema_body(json_pack("{s:s}", "description", pad));
    assert_true(sy_chatgen_check_body(b, &why));
    json_decref(b);
    pad[SY_CHATGEN_SCHEMA_MAX - fixed] = 'a';
    pad[SY_CHATGEN_SCHEMA_MAX - fixed + 1] = '\0';
    b = schema_body(json_pack("{s:s}", "description", pad));
    assert_false(sy_chatgen_check_body(b, &why));
    assert_string_equal(why.code, "invalid_value");
    assert_string_equal(why.param, "response_format.json_schema.schema");
    assert_non_null(strstr(why.message, "too large"));
    json_decref(b);
    free(pad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_request_branch), cmocka_unit_test(t_request_regenerate),
        cmocka_unit_test(t_metrics),        cmocka_unit_test(t_deploy_of),
        cmocka_unit_test(t_append_capped),  cmocka_unit_test(t_schema_errors),
        cmocka_unit_test(t_apply_ui),       cmocka_unit_test(t_schema_check_and_compile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
