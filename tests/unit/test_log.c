/* core/log.c: JSON lines (parsed back with jansson), text lines, module names, levels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* Runs fn with stderr sent to a temp file; returns what was written (malloc'd). */
static char *capture(void (*fn)(void))
{
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    dup2(fileno(tmp), 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long n = ftell(tmp);
    char *out = calloc(1, (size_t)n + 1);
    rewind(tmp);
    assert_int_equal(fread(out, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return out;
}

static void emit_json(void)
{
    sy_log_format = SY_LOG_JSON;
    sy_log_min_level = SY_LOG_INFO;
    sy_log_warn("quote \" backslash \\ newline \n tab \t bell \a done");
    sy_log_req_info("01a2-rid", "about one request: %d", 42);
    sy_log_debug("not shown at info");
}

static void json_lines_parse_back(void **state)
{
    char *out = capture(emit_json);
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    json_error_t e;
    json_t *a = json_loads(out, 0, &e);
    if (!a) print_error("%s: %s\n", out, e.text);
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(a, "module")), "test_log");
    assert_string_equal(json_string_value(json_object_get(a, "msg")),
                        "quote \" backslash \\ newline \n tab \t bell \a done");
    assert_null(json_object_get(a, "request_id"));
    assert_non_null(strstr(json_string_value(json_object_get(a, "ts")), "Z"));
    json_t *b = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, &e);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "request_id")), "01a2-rid");
    assert_string_equal(json_string_value(json_object_get(b, "msg")), "about one request: 42");
    assert_null(strstr(out + strlen(out) + 1, "not shown")); /* debug filtered */
    json_decref(a);
    json_decref(b);
    free(out);
}

static void emit_text(void)
{
    sy_log_format = SY_LOG_TEXT;
    sy_log_min_level = SY_LOG_DEBUG;
    sy_log_req_debug("r1", "shown at debug");
    sy_log_format = SY_LOG_JSON;
    sy_log_min_level = SY_LOG_INFO;
}

static void text_lines(void **state)
{
    char *out = capture(emit_text);
    assert_non_null(strstr(out, " debug test_log r1: shown at debug\n"));
    free(out);
}

static void module_names(void **state)
{
    char b[64];
    assert_string_equal(sy_log_module("/work/main/src/routing/route.c", b, sizeof b),
                        "routing/route");
    assert_string_equal(sy_log_module("src/main.c", b, sizeof b), "main");
    assert_string_equal(sy_log_module("/x/src/a/src/core/log.c", b, sizeof b), "core/log");
    assert_string_equal(sy_log_module("other.c", b, sizeof b), "other");
    assert_string_equal(sy_log_module("/a/b/other.h", b, sizeof b), "other.h");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_lines_parse_back),
        cmocka_unit_test(text_lines),
        cmocka_unit_test(module_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
