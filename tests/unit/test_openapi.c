/* The OpenAPI document (docs/openapi.json) against the router's route table (api/routes.c):
 * it parses, is OpenAPI 3.1, every route the router knows is described and every described
 * operation is a route (so neither can rot), path parameters are declared, every $ref resolves,
 * and the copy embedded in the binary is the file. Also the table lookup itself (404 / 405). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/routes.h"
#include "web/assets.h"

static json_t *load_doc(void)
{
    json_error_t e;
    json_t *doc = json_load_file(SY_SOURCE_DIR "/docs/openapi.json", JSON_REJECT_DUPLICATES, &e);
    if (!doc) fail_msg("docs/openapi.json: line %d: %s", e.line, e.text);
    return doc;
}

static void lower(const char *in, char *out, size_t n)
{
    size_t i = 0;
    for (; in[i] && i + 1 < n; i++)
        out[i] = (char)((in[i] >= 'A' && in[i] <= 'Z') ? in[i] + 32 : in[i]);
    out[i] = '\0';
}

static void test_parses_and_is_31(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    const char *v = json_string_value(json_object_get(doc, "openapi"));
    assert_non_null(v);
    assert_int_equal(strncmp(v, "3.1.", 4), 0);
    assert_non_null(json_string_value(json_object_get(json_object_get(doc, "info"), "title")));
    assert_true(json_is_object(json_object_get(doc, "paths")));
    json_decref(doc);
}

static void test_every_route_documented(void **state)
{
    (void)state;
    json_t *doc = load_doc(), *paths = json_object_get(doc, "paths");
    for (size_t i = 0; i < sy_api_routes_count; i++) {
        char m[16];
        lower(sy_api_routes[i].method, m, sizeof m);
        json_t *op = json_object_get(json_object_get(paths, sy_api_routes[i].path), m);
        if (!json_is_object(op))
            fail_msg("route %s %s is not in docs/openapi.json", sy_api_routes[i].method,
                     sy_api_routes[i].path);
        if (!json_is_object(json_object_get(op, "responses")))
            fail_msg("%s %s has no responses", m, sy_api_routes[i].path);
    }
    json_decref(doc);
}

static bool in_table(const char *method, const char *path)
{
    for (size_t i = 0; i < sy_api_routes_count; i++)
        if (!strcasecmp(sy_api_routes[i].method, method) && !strcmp(sy_api_routes[i].path, path))
            return true;
    return false;
}

static void test_every_operation_routed(void **state)
{
    (void)state;
    static const char *methods[] = {"get",   "put",  "post",    "delete",
                                    "patch", "head", "options", "trace"};
    json_t *doc = load_doc(), *paths = json_object_get(doc, "paths");
    const char *path;
    json_t *item;
    size_t ops = 0;
    json_object_foreach(paths, path, item)
    {
        const char *k;
        json_t *op;
        json_object_foreach(item, k, op)
        {
            bool is_method = false;
            for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
                is_method |= !strcmp(k, methods[i]);
            if (!is_method) continue;
            ops++;
            if (!in_table(k, path))
                fail_msg("docs/openapi.json describes %s %s, which the router does not have", k,
                         path);
            /* each {param} of the path is declared as a path parameter */
            for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{')) {
                const char *e = strchr(p, '}');
                assert_non_null(e);
                bool found = false;
                size_t i;
                json_t *prm;
                json_array_foreach(json_object_get(op, "parameters"), i, prm)
                {
                    const char *name = json_string_value(json_object_get(prm, "name"));
                    const char *in = json_string_value(json_object_get(prm, "in"));
                    found |= name && in && !strcmp(in, "path") &&
                             strlen(name) == (size_t)(e - p - 1) &&
                             !strncmp(name, p + 1, e - p - 1);
                }
                if (!found) fail_msg("%s %s does not declare its path parameter", k, path);
            }
        }
    }
    assert_int_equal(ops, sy_api_routes_count);
    json_decref(doc);
}

/* every "$ref": "#/components/…" points at something */
static void check_refs(json_t *root, json_t *v)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) check_refs(root, x);
        return;
    }
    if (!json_is_object(v)) return;
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x)
    {
        if (!strcmp(k, "$ref")) {
            const char *ref = json_string_value(x);
            assert_non_null(ref);
            assert_int_equal(strncmp(ref, "#/", 2), 0);
            char buf[256];
            snprintf(buf, sizeof buf, "%s", ref + 2);
            json_t *cur = root;
            for (char *save = NULL, *seg = strtok_r(buf, "/", &save); seg;
                 seg = strtok_r(NULL, "/", &save))
                cur = json_object_get(cur, seg);
            if (!cur) fail_msg("dangling $ref %s", ref);
        } else {
            check_refs(root, x);
        }
    }
}

static void test_refs_resolve(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    check_refs(doc, doc);
    json_decref(doc);
}

static void test_embedded_copy_is_the_file(void **state)
{
    (void)state;
    FILE *f = fopen(SY_SOURCE_DIR "/docs/openapi.json", "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    const sy_web_asset_t *a = sy_web_asset_find("/api/v1/openapi.json", 20);
    assert_non_null(a);
    assert_string_equal(a->content_type, "application/json");
    assert_int_equal(a->len, n);
    assert_memory_equal(a->data, buf, n);
    assert_non_null(sy_web_asset_find("/index.html", 11));
    assert_null(sy_web_asset_find("/index.htm", 10));
}

static void test_route_check(void **state)
{
    (void)state;
    char allowed[64];
#define CHECK(m, p) sy_api_route_check(m, sy_str_c(p), allowed, sizeof allowed)
    assert_int_equal(CHECK("GET", "/api/v1/keys"), SY_API_ROUTE_OK);
    assert_int_equal(CHECK("HEAD", "/api/v1/keys"), SY_API_ROUTE_OK);
    assert_int_equal(CHECK("POST", "/api/v1/keys/abc/revoke"), SY_API_ROUTE_OK);
    assert_int_equal(CHECK("GET", "/api/v1/keys/abc/revoke"), SY_API_ROUTE_NO_METHOD);
    assert_string_equal(allowed, "POST");
    assert_int_equal(CHECK("PUT", "/api/v1/keys/abc"), SY_API_ROUTE_NO_METHOD);
    assert_string_equal(allowed, "GET, PATCH");
    assert_int_equal(CHECK("GET", "/api/v1/keys//revoke"), SY_API_ROUTE_NO_PATH);
    assert_int_equal(CHECK("GET", "/api/v1/keys/a/b"), SY_API_ROUTE_NO_PATH);
    assert_int_equal(CHECK("GET", "/api/v1/nope"), SY_API_ROUTE_NO_PATH);
    assert_int_equal(CHECK("GET", "/api/v1"), SY_API_ROUTE_NO_PATH);
    assert_int_equal(CHECK("GET", "/api/v1/logs/"), SY_API_ROUTE_NO_PATH);
    assert_int_equal(CHECK("DELETE", "/api/v1/conversations/0190"), SY_API_ROUTE_OK);
    assert_int_equal(CHECK("GET", "/api/v1/conversations/0190/export"), SY_API_ROUTE_OK);
    assert_int_equal(CHECK("PUT", "/api/v1/feedback/x"), SY_API_ROUTE_OK);
#undef CHECK
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parses_and_is_31),
        cmocka_unit_test(test_every_route_documented),
        cmocka_unit_test(test_every_operation_routed),
        cmocka_unit_test(test_refs_resolve),
        cmocka_unit_test(test_embedded_copy_is_the_file),
        cmocka_unit_test(test_route_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
