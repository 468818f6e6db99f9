#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "core/json.h"

typedef struct seen {
    char keys[16][32];
    char values[16][128];
    int n;
} seen_t;

static bool collect(void *ctx, const sy_json_member_t *m)
{
    seen_t *s = ctx;
    snprintf(s->keys[s->n], 32, "%.*s", (int)m->key.len, m->key.ptr);
    snprintf(s->values[s->n], 128, "%.*s", (int)m->value.len, m->value.ptr);
    s->n++;
    return true;
}

static void scan_members_with_exact_spans(void **state)
{
    const char *doc =
        " {\"model\" : \"gpt-4o\",\n \"messages\":[{\"role\":\"user\",\"content\":\"a}\\\"]\"}],"
        "\"n\":1.5e3,\"x\":{\"y\":[1,{}]},\"t\":true,\"z\":null } ";
    seen_t s = {0};
    size_t close;
    assert_true(sy_json_scan_object(doc, strlen(doc), collect, &s, &close));
    assert_int_equal(s.n, 6);
    assert_string_equal(s.keys[0], "model");
    assert_string_equal(s.values[0], "\"gpt-4o\"");
    assert_string_equal(s.keys[1], "messages");
    assert_string_equal(s.values[1], "[{\"role\":\"user\",\"content\":\"a}\\\"]\"}]");
    assert_string_equal(s.values[2], "1.5e3");
    assert_string_equal(s.values[3], "{\"y\":[1,{}]}");
    assert_string_equal(s.values[4], "true");
    assert_string_equal(s.values[5], "null");
    assert_int_equal(doc[close], '}');
    assert_int_equal(close, strlen(doc) - 2);
}

static void scan_rejects_non_objects(void **state)
{
    size_t close;
    assert_false(sy_json_scan_object("[1,2]", 5, NULL, NULL, &close));
    assert_false(sy_json_scan_object("{\"a\":1", 6, NULL, NULL, &close));
    assert_false(sy_json_scan_object("", 0, NULL, NULL, &close));
    assert_true(sy_json_scan_object("{}", 2, NULL, NULL, &close));
    assert_int_equal(close, 1);
}

static void escape_round_trips_through_jansson(void **state)
{
    const char raw[] = "q\"b\\s/\n\r\t\b\f\x01\x1f é €";
    sy_buf_t b;
    sy_buf_init(&b, 4096);
    assert_int_equal(sy_json_append_string(&b, raw, sizeof raw - 1), SY_OK);
    json_error_t e;
    json_t *j = json_loadb(b.base, b.len, JSON_DECODE_ANY, &e);
    assert_non_null(j);
    assert_true(json_is_string(j));
    assert_int_equal(json_string_length(j), sizeof raw - 1);
    assert_memory_equal(json_string_value(j), raw, sizeof raw - 1);
    json_decref(j);
    sy_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scan_members_with_exact_spans),
        cmocka_unit_test(scan_rejects_non_objects),
        cmocka_unit_test(escape_round_trips_through_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
