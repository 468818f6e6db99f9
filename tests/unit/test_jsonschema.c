/* sy_jschema: the official JSON Schema Test Suite (Debian package json-schema-test-suite) for
 * draft-07 and draft-06, with a small explicit skip list, then our own tests for 2020-12
 * keywords (the packaged suite predates 2020-12), error paths and messages, $ref resolution and
 * refusals, and the RFC 3986 resolver (core/uri). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/jsonschema.h"
#include "core/uri.h"

#define SUITE_DIR "/usr/share/json-schema-test-suite/tests"

/* ---- the official suite ---- */

/* Cases we do not pass, each with its reason. case_desc NULL: the whole file. The counts below
 * pin this list: growing it must be a visible change to this file. */
typedef struct {
    const char *draft, *file, *case_desc, *reason;
} skip_t;

static const skip_t skips[] = {
    /* remote documents are refused by design (no network access at validation time) */
    {"draft7", "refRemote.json", NULL, "remote $ref (http://localhost:1234/...) is refused"},
    {"draft6", "refRemote.json", NULL, "remote $ref (http://localhost:1234/...) is refused"},
    {"draft7", "ref.json", "remote ref, containing refs itself",
     "needs the draft-07 meta-schema, a remote document"},
    {"draft6", "ref.json", "remote ref, containing refs itself",
     "needs the draft-06 meta-schema, a remote document"},
    /* format is an annotation only (2020-12 default; the suite marks these optional) */
    {"draft7", "optional/format", NULL, "format is not asserted"},
    {"draft6", "optional/format.json", NULL, "format is not asserted"},
    {"draft7", "optional/content.json", NULL, "contentMediaType/Encoding are annotations"},
    {"draft7", "definitions.json", NULL, "$ref to the draft-07 meta-schema, a remote document"},
    {"draft6", "definitions.json", NULL, "$ref to the draft-06 meta-schema, a remote document"},
    /* PCRE2 is not ECMA-262: it knows \Z (documented in JSONSCHEMA.md) */
    {"draft7", "optional/ecmascript-regex.json", "ECMA 262 regex non-compliance",
     "PCRE2 accepts the \\Z anchor"},
    {"draft6", "optional/ecmascript-regex.json", "ECMA 262 regex non-compliance",
     "PCRE2 accepts the \\Z anchor"},
    /* jansson refuses integers past 64 bits when parsing: these documents do not load */
    {"draft7", "optional/bignum.json", NULL, "integers past 64 bits do not parse in jansson"},
    {"draft6", "optional/bignum.json", NULL, "integers past 64 bits do not parse in jansson"},
};
#define SKIP_ENTRIES 13
#define SKIPPED_TESTS_EXPECTED 261 /* draft7 153 + draft6 108 (suite 2.0.0) */

typedef struct {
    size_t passed, skipped, failed;
    size_t skip_hits[sizeof skips / sizeof *skips];
} tally_t;

static const skip_t *skip_for(const char *draft, const char *file, const char *case_desc,
                              tally_t *t)
{
    for (size_t i = 0; i < sizeof skips / sizeof *skips; i++) {
        const skip_t *s = &skips[i];
        if (strcmp(s->draft, draft)) continue;
        size_t fl = strlen(s->file);
        bool file_ok = !strcmp(s->file, file) || (!strncmp(s->file, file, fl) && file[fl] == '/');
        if (!file_ok) continue;
        if (s->case_desc && (!case_desc || strcmp(s->case_desc, case_desc))) continue;
        t->skip_hits[i]++;
        return s;
    }
    return NULL;
}

static void run_file(const char *draft, const char *rel, const char *path, tally_t *t)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    const skip_t *whole = skip_for(draft, rel, NULL, t);
    if (!doc) {
        if (whole) {
            t->skipped++;
            return;
        }
        fail_msg("%s: does not load: %s", path, je.text);
    }
    size_t ci;
    json_t *cs;
    json_array_foreach(doc, ci, cs)
    {
        const char *cdesc = json_string_value(json_object_get(cs, "description"));
        json_t *tests = json_object_get(cs, "tests");
        const skip_t *sk = whole ? whole : skip_for(draft, rel, cdesc, t);
        if (sk) {
            t->skipped += json_array_size(tests);
            continue;
        }
        char err[512];
        sy_jschema_t *s = sy_jschema_compile_draft(json_object_get(cs, "schema"),
                                                   SY_JSCHEMA_DRAFT_07, err, sizeof err);
        if (!s) {
            print_error("FAIL %s/%s \"%s\": compile: %s\n", draft, rel, cdesc, err);
            t->failed += json_array_size(tests);
            continue;
        }
        size_t ti;
        json_t *tc;
        json_array_foreach(tests, ti, tc)
        {
            sy_jschema_error_t errs[4];
            size_t n = sy_jschema_validate(s, json_object_get(tc, "data"), errs, 4);
            bool want = json_is_true(json_object_get(tc, "valid"));
            if ((n == 0) == want) {
                t->passed++;
            } else {
                t->failed++;
                print_error("FAIL %s/%s \"%s\" / \"%s\": expected %s, got %zu errors%s%s%s\n",
                            draft, rel, cdesc,
                            json_string_value(json_object_get(tc, "description")),
                            want ? "valid" : "invalid", n, n ? " (" : "", n ? errs[0].message : "",
                            n ? ")" : "");
            }
        }
        sy_jschema_free(s);
    }
    json_decref(doc);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_dir(const char *draft, const char *dir, const char *prefix, tally_t *t)
{
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s (install json-schema-test-suite: scripts/deps.sh test)", dir);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[1024], rel[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(rel, sizeof rel, "%s%s", prefix, names[i]);
        size_t l = strlen(names[i]);
        if (l > 5 && !strcmp(names[i] + l - 5, ".json")) {
            run_file(draft, rel, path, t);
        } else {
            char sub[512];
            snprintf(sub, sizeof sub, "%s/", rel);
            run_dir(draft, path, sub, t);
        }
        free(names[i]);
    }
}

static void test_suite(void **state)
{
    (void)state;
    assert_int_equal(sizeof skips / sizeof *skips, SKIP_ENTRIES);
    static const char *const drafts[] = {"draft7", "draft6"};
    size_t total_skipped = 0, total_passed = 0;
    tally_t t = {0};
    for (size_t i = 0; i < 2; i++) {
        char dir[256];
        snprintf(dir, sizeof dir, "%s/%s", SUITE_DIR, drafts[i]);
        tally_t before = t;
        run_dir(drafts[i], dir, "", &t);
        print_message("json-schema-test-suite %s: %zu passed, %zu skipped, %zu failed\n", drafts[i],
                      t.passed - before.passed, t.skipped - before.skipped,
                      t.failed - before.failed);
        total_passed += t.passed - before.passed;
        total_skipped += t.skipped - before.skipped;
    }
    for (size_t i = 0; i < sizeof skips / sizeof *skips; i++)
        if (!t.skip_hits[i])
            fail_msg("skip entry %s/%s \"%s\" matches nothing: remove it", skips[i].draft,
                     skips[i].file, skips[i].case_desc ? skips[i].case_desc : "*");
    assert_int_equal(t.failed, 0);
    assert_true(total_passed > 0);
    assert_int_equal(total_skipped, SKIPPED_TESTS_EXPECTED);
}

/* ---- our own tests ---- */

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (!j) fail_msg("test JSON does not parse: %s: %s", je.text, text);
    return j;
}

static sy_jschema_t *comp(const char *schema)
{
    char err[512] = "";
    json_t *j = parse(schema);
    sy_jschema_t *s = sy_jschema_compile(j, err, sizeof err);
    json_decref(j); /* the schema keeps its own copy */
    if (!s) fail_msg("schema %s does not compile: %s", schema, err);
    return s;
}

static size_t val(const sy_jschema_t *s, const char *inst, sy_jschema_error_t *errs, size_t max)
{
    json_t *j = parse(inst);
    size_t n = sy_jschema_validate(s, j, errs, max);
    json_decref(j);
    return n;
}

static void expect_valid(const char *schema, const char *inst)
{
    sy_jschema_t *s = comp(schema);
    sy_jschema_error_t e[1];
    size_t n = val(s, inst, e, 1);
    if (n)
        fail_msg("%s against %s: expected valid, got \"%s\" at \"%s\"", inst, schema, e[0].message,
                 e[0].path);
    sy_jschema_free(s);
}

/* The first error must be at path and its message contain msg. */
static void expect_invalid(const char *schema, const char *inst, const char *path, const char *msg)
{
    sy_jschema_t *s = comp(schema);
    sy_jschema_error_t e[1];
    size_t n = val(s, inst, e, 1);
    if (!n) fail_msg("%s against %s: expected invalid, got valid", inst, schema);
    if (strcmp(e[0].path, path) || !strstr(e[0].message, msg))
        fail_msg("%s against %s: expected \"%s\" at \"%s\", got \"%s\" at \"%s\"", inst, schema,
                 msg, path, e[0].message, e[0].path);
    sy_jschema_free(s);
}

static void expect_compile_error(const char *schema, const char *msg)
{
    char err[512] = "";
    json_t *j = parse(schema);
    sy_jschema_t *s = sy_jschema_compile(j, err, sizeof err);
    json_decref(j);
    if (s) fail_msg("schema %s compiled; expected error \"%s\"", schema, msg);
    if (!strstr(err, msg))
        fail_msg("schema %s: expected error \"%s\", got \"%s\"", schema, msg, err);
}

static void test_keywords_2020(void **state)
{
    (void)state;
    /* prefixItems + items (rest) */
    const char *tuple = "{\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],"
                        "\"items\":false}";
    expect_valid(tuple, "[\"a\",1]");
    expect_valid(tuple, "[\"a\"]");
    expect_invalid(tuple, "[\"a\",1,null]", "/2", "false schema");
    expect_invalid(tuple, "[1]", "/0", "expected string, got integer");
    /* minContains / maxContains */
    const char *cont = "{\"contains\":{\"const\":1},\"minContains\":2,\"maxContains\":3}";
    expect_valid(cont, "[1,1,2]");
    expect_invalid(cont, "[1,2]", "", "needs at least 2");
    expect_invalid(cont, "[1,1,1,1]", "", "at most 3");
    expect_valid("{\"contains\":{\"const\":1},\"minContains\":0}", "[]");
    /* dependentRequired / dependentSchemas */
    const char *dep = "{\"dependentRequired\":{\"card\":[\"billing\"]},"
                      "\"dependentSchemas\":{\"vip\":{\"required\":[\"tier\"]}}}";
    expect_valid(dep, "{\"card\":1,\"billing\":2}");
    expect_valid(dep, "{\"billing\":2}");
    expect_invalid(dep, "{\"card\":1}", "", "\"billing\" is required when \"card\"");
    expect_invalid(dep, "{\"vip\":true}", "", "missing required property \"tier\"");
    /* $ref beside other keywords applies both (2020-12; draft-07 ignores the siblings) */
    const char *sib = "{\"$defs\":{\"s\":{\"type\":\"string\"}},\"$ref\":\"#/$defs/s\","
                      "\"maxLength\":2}";
    expect_invalid(sib, "\"abc\"", "", "longer than 2");
    expect_invalid(sib, "5", "", "expected string");
    char err[256];
    json_t *j = parse(sib);
    sy_jschema_t *s7 = sy_jschema_compile_draft(j, SY_JSCHEMA_DRAFT_07, err, sizeof err);
    assert_non_null(s7);
    json_t *abc = json_string("abc");
    assert_int_equal(sy_jschema_validate(s7, abc, NULL, 0), 0);
    json_decref(abc);
    sy_jschema_free(s7);
    json_decref(j);
    /* "$schema" picks the draft: draft-07 ignores the $ref siblings */
    expect_valid("{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
                 "\"definitions\":{\"s\":{\"type\":\"string\"}},"
                 "\"$ref\":\"#/definitions/s\",\"maxLength\":2}",
                 "\"abc\"");
    /* lengths count code points, not bytes */
    expect_valid("{\"maxLength\":2,\"minLength\":2}", "\"\xc3\xa9\xf0\x9f\x98\x80\"");
    expect_invalid("{\"maxLength\":1}", "\"\xc3\xa9\xf0\x9f\x98\x80\"", "", "longer than 1");
    /* ECMA-262 flavour: unanchored search; $ only at the very end */
    expect_valid("{\"pattern\":\"b\"}", "\"abc\"");
    expect_invalid("{\"pattern\":\"^a$\"}", "\"a\\n\"", "", "does not match the pattern");
    expect_valid("{\"pattern\":\"^\\\\u00e9$\"}", "\"\xc3\xa9\"");
    /* numbers */
    expect_valid("{\"type\":\"integer\"}", "1.0");
    expect_invalid("{\"type\":\"integer\"}", "1.5", "", "expected integer, got number");
    expect_valid("{\"multipleOf\":0.0001}", "0.0075");
    expect_invalid("{\"multipleOf\":0.0001}", "0.00751", "", "not a multiple");
    expect_valid("{\"multipleOf\":0.01}", "19.99");
    expect_valid("{\"multipleOf\":0.1}", "12345678.9");
    expect_invalid("{\"multipleOf\":0.123456789}", "1e308", "", "not a multiple");
    expect_valid("{\"multipleOf\":3}", "9007199254740993"); /* exact past 2^53 */
    expect_invalid("{\"multipleOf\":3}", "9007199254740995", "", "not a multiple");
    expect_invalid("{\"maximum\":9007199254740992}", "9007199254740993", "", "greater");
    expect_valid("{\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}", "0.5");
    expect_invalid("{\"exclusiveMinimum\":0}", "0", "", "greater than 0");
    /* enum/const compare numbers by value, not by jansson type */
    expect_valid("{\"enum\":[1,\"a\",{\"x\":[2.0]}]}", "{\"x\":[2]}");
    expect_invalid("{\"const\":{\"a\":1}}", "{\"a\":1,\"b\":2}", "", "const");
    expect_invalid("{\"uniqueItems\":true}", "[1,{\"a\":1},1.0]", "", "items 0 and 2 are equal");
    expect_invalid("{\"uniqueItems\":true}", "[{\"a\":1,\"b\":[2]},{\"b\":[2.0],\"a\":1}]", "",
                   "items 0 and 1 are equal");
    expect_valid("{\"uniqueItems\":true}", "[0,false,null,\"0\",[0],{\"0\":0},-1,0.5]");
    /* uniqueItems is O(n log n): 20,000 distinct items, then a duplicate of item 7 */
    sy_jschema_t *u = comp("{\"uniqueItems\":true}");
    json_t *big = json_array();
    for (int i = 0; i < 20000; i++)
        json_array_append_new(big, json_pack("{s:i}", "k", i));
    assert_int_equal(sy_jschema_validate(u, big, NULL, 0), 0);
    json_array_append_new(big, json_pack("{s:f}", "k", 7.0));
    sy_jschema_error_t ue[1];
    assert_int_equal(sy_jschema_validate(u, big, ue, 1), 1);
    assert_string_equal(ue[0].message, "items 7 and 20000 are equal (uniqueItems)");
    json_decref(big);
    sy_jschema_free(u);
    /* format is an annotation: not asserted */
    expect_valid("{\"format\":\"email\"}", "\"not an email\"");
}

static void test_unevaluated(void **state)
{
    (void)state;
    const char *basic = "{\"properties\":{\"a\":{}},\"unevaluatedProperties\":false}";
    expect_valid(basic, "{\"a\":1}");
    expect_invalid(basic, "{\"a\":1,\"b\":2}", "/b", "unevaluatedProperties");
    /* seen through allOf, $ref, dependentSchemas */
    expect_valid("{\"allOf\":[{\"properties\":{\"a\":{}}}],\"unevaluatedProperties\":false}",
                 "{\"a\":1}");
    const char *ref = "{\"$defs\":{\"base\":{\"properties\":{\"a\":{}}}},\"$ref\":\"#/$defs/base\","
                      "\"unevaluatedProperties\":false}";
    expect_valid(ref, "{\"a\":1}");
    expect_invalid(ref, "{\"a\":1,\"x\":1}", "/x", "unevaluatedProperties");
    /* a sibling's annotations are not visible to a subschema's unevaluatedProperties */
    expect_invalid("{\"properties\":{\"a\":{}},\"allOf\":[{\"unevaluatedProperties\":false}]}",
                   "{\"a\":1}", "/a", "unevaluatedProperties");
    /* annotations of failed anyOf branches are dropped */
    const char *any =
        "{\"anyOf\":[{\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"]},"
        "{\"properties\":{\"b\":{}},\"required\":[\"b\"]}],"
        "\"unevaluatedProperties\":false}";
    expect_valid(any, "{\"a\":\"x\",\"b\":2}");
    expect_invalid(any, "{\"a\":1,\"b\":2}", "/a", "unevaluatedProperties");
    /* if/then/else: a failed "if" evaluates nothing */
    const char *cond = "{\"if\":{\"properties\":{\"kind\":{\"const\":\"a\"}}},"
                       "\"then\":{\"properties\":{\"x\":{}}},\"else\":{\"properties\":{\"y\":{}}},"
                       "\"unevaluatedProperties\":false}";
    expect_valid(cond, "{\"kind\":\"a\",\"x\":1}");
    expect_invalid(cond, "{\"kind\":\"a\",\"y\":1}", "/y", "unevaluatedProperties");
    expect_invalid(cond, "{\"kind\":\"b\",\"y\":1}", "/kind", "unevaluatedProperties");
    /* oneOf: only the passing branch counts */
    expect_valid(
        "{\"oneOf\":[{\"properties\":{\"a\":{\"type\":\"string\"}}},"
        "{\"properties\":{\"a\":{\"type\":\"integer\"}}}],\"unevaluatedProperties\":false}",
        "{\"a\":1}");
    /* nested unevaluatedProperties counts as evaluating */
    expect_valid("{\"allOf\":[{\"unevaluatedProperties\":true}],\"unevaluatedProperties\":false}",
                 "{\"z\":1}");
    /* a schema, not only false */
    expect_invalid("{\"unevaluatedProperties\":{\"type\":\"integer\"}}", "{\"q\":\"s\"}", "/q",
                   "expected integer");
    /* items */
    const char *items = "{\"prefixItems\":[{\"type\":\"string\"}],\"unevaluatedItems\":false}";
    expect_valid(items, "[\"a\"]");
    expect_invalid(items, "[\"a\",1]", "/1", "unevaluatedItems");
    const char *ci =
        "{\"contains\":{\"type\":\"string\"},\"unevaluatedItems\":{\"type\":\"integer\"}}";
    expect_valid(ci, "[\"a\",1]");
    expect_invalid(ci, "[\"a\",true]", "/1", "expected integer");
    expect_valid("{\"allOf\":[{\"items\":true}],\"unevaluatedItems\":false}", "[1,2]");
}

static void test_refs(void **state)
{
    (void)state;
    /* pointer escapes: ~1 is '/', ~0 is '~', then %-decoding */
    const char *esc = "{\"$defs\":{\"a/b\":{\"type\":\"string\"},\"c~d\":{\"type\":\"integer\"},"
                      "\"e%f\":{\"type\":\"null\"}},\"properties\":{"
                      "\"x\":{\"$ref\":\"#/$defs/a~1b\"},\"y\":{\"$ref\":\"#/$defs/c~0d\"},"
                      "\"z\":{\"$ref\":\"#/$defs/e%25f\"}}}";
    expect_valid(esc, "{\"x\":\"s\",\"y\":1,\"z\":null}");
    expect_invalid(esc, "{\"y\":\"s\"}", "/y", "expected integer");
    expect_invalid(esc, "{\"z\":1}", "/z", "expected null");
    /* draft-07 "definitions" and a ref to the root */
    const char *tree = "{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
                       "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}},"
                       "\"additionalProperties\":false}";
    expect_valid(tree, "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[]},{\"v\":3}]}");
    expect_invalid(tree, "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[{\"w\":1}]}]}", "/kids/0/kids/0/w",
                   "not allowed");
    /* $id-relative refs and $anchor within one document */
    const char *ids = "{\"$id\":\"https://example.com/schemas/root.json\","
                      "\"$defs\":{\"A\":{\"$id\":\"other.json\",\"type\":\"integer\","
                      "\"$defs\":{\"B\":{\"$anchor\":\"bee\",\"type\":\"string\"}}},"
                      "\"C\":{\"$id\":\"/abs/c.json\",\"type\":\"null\"}},"
                      "\"properties\":{\"a\":{\"$ref\":\"other.json\"},"
                      "\"b\":{\"$ref\":\"other.json#bee\"},"
                      "\"b2\":{\"$ref\":\"https://example.com/schemas/other.json#/$defs/B\"},"
                      "\"c\":{\"$ref\":\"../abs/c.json\"}}}";
    expect_valid(ids, "{\"a\":1,\"b\":\"s\",\"b2\":\"t\",\"c\":null}");
    expect_invalid(ids, "{\"b\":1}", "/b", "expected string");
    expect_invalid(ids, "{\"c\":1}", "/c", "expected null");
    /* a $ref resolves against the $id beside it; sub-resources are found by their URI */
    const char *rel = "{\"$id\":\"http://example.com/d1.json\",\"properties\":{\"foo\":{"
                      "\"$id\":\"d2.json\",\"$defs\":{\"inner\":{\"properties\":{\"bar\":{"
                      "\"type\":\"string\"}}}},\"$ref\":\"#/$defs/inner\"}},\"$ref\":\"d2.json\"}";
    expect_valid(rel, "{\"foo\":{\"bar\":\"a\"},\"bar\":\"a\"}");
    expect_invalid(rel, "{\"foo\":{\"bar\":1},\"bar\":\"a\"}", "/foo/bar", "expected string");
    expect_invalid(rel, "{\"foo\":{\"bar\":\"a\"},\"bar\":1}", "/bar", "expected string");
    /* a URN base (no hierarchy): fragment references still work */
    expect_invalid(
        "{\"$id\":\"urn:uuid:deadbeef-1234-ffff-ffff-4321feebdaed\",\"properties\":{"
        "\"foo\":{\"$ref\":\"urn:uuid:deadbeef-1234-ffff-ffff-4321feebdaed#/$defs/bar\"}},"
        "\"$defs\":{\"bar\":{\"type\":\"string\"}}}",
        "{\"foo\":12}", "/foo", "expected string");
    /* a $ref'd schema does not see the annotations of its siblings */
    expect_invalid("{\"$defs\":{\"A\":{\"unevaluatedProperties\":false}},"
                   "\"properties\":{\"p\":{\"type\":\"string\"}},\"$ref\":\"#/$defs/A\"}",
                   "{\"p\":\"m\"}", "/p", "unevaluatedProperties");
    /* a "$ref" inside enum data is data, not a reference */
    const char *naive =
        "{\"$defs\":{\"s\":{\"type\":\"string\"}},\"enum\":[{\"$ref\":\"#/$defs/s\"}]}";
    expect_invalid(naive, "\"str\"", "", "enum");
    expect_valid(naive, "{\"$ref\":\"#/$defs/s\"}");
    /* draft-07 location-independent "$id": "#name" */
    expect_valid("{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
                 "\"definitions\":{\"x\":{\"$id\":\"#foo\",\"type\":\"integer\"}},"
                 "\"properties\":{\"p\":{\"$ref\":\"#foo\"}}}",
                 "{\"p\":3}");
    /* a ref into a non-keyword location is compiled on demand */
    expect_invalid("{\"x-lib\":{\"int\":{\"type\":\"integer\"}},\"$ref\":\"#/x-lib/int\"}", "\"s\"",
                   "", "expected integer");
    /* a legit recursion (progress through properties) is fine; a deep instance hits the cap */
    const char *list = "{\"$defs\":{\"n\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/n\"}}},"
                       "\"$ref\":\"#/$defs/n\"}";
    sy_jschema_t *s = comp(list);
    json_t *deep = json_array(), *cur = deep;
    for (int i = 0; i < 100; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    assert_int_equal(sy_jschema_validate(s, deep, NULL, 0), 0);
    for (int i = 0; i < 2000; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    sy_jschema_error_t e[2];
    assert_int_equal(sy_jschema_validate(s, deep, e, 2), 1);
    assert_non_null(strstr(e[0].message, "nested more than 1000 levels"));
    assert_int_equal(strlen(e[0].path), 255); /* a long path is cut with "..." */
    assert_string_equal(e[0].path + 252, "...");
    json_decref(deep);
    sy_jschema_free(s);
}

static void test_compile_errors(void **state)
{
    (void)state;
    expect_compile_error("5", "at /: a schema must be an object or a boolean");
    expect_compile_error("{\"properties\":{\"x\":{\"type\":\"strin\"}}}",
                         "at /properties/x/type: type must be one of");
    expect_compile_error("{\"properties\":{\"a/b\":{\"minLength\":-1}}}",
                         "at /properties/a~1b/minLength: minLength must be a non-negative integer");
    expect_compile_error("{\"pattern\":\"(\"}", "at /pattern: invalid regular expression");
    expect_compile_error("{\"patternProperties\":{\"[\":{}}}", "at /patternProperties/[: invalid");
    expect_compile_error("{\"$ref\":5}", "at /$ref: $ref must be a string");
    expect_compile_error("{\"$ref\":\"#/$defs/nope\"}",
                         "at /$ref: $ref \"#/$defs/nope\" points to nothing");
    expect_compile_error("{\"$ref\":\"#nope\"}", "no such anchor");
    expect_compile_error("{\"$ref\":\"#/%zz\"}", "bad %-escape");
    expect_compile_error("{\"$ref\":\"https://example.com/s.json\"}",
                         "at /$ref: remote or unknown $ref \"https://example.com/s.json\"");
    expect_compile_error("{\"properties\":{\"p\":{\"$ref\":\"other.json\"}}}",
                         "at /properties/p/$ref: remote or unknown $ref \"other.json\"");
    expect_compile_error("{\"x\":{\"type\":5},\"$ref\":\"#/x\"}", "at /x/type: type must be");
    expect_compile_error("{\"x\":3,\"$ref\":\"#/x\"}", "a schema must be an object or a boolean");
    expect_compile_error("{\"$dynamicRef\":\"#a\"}", "$dynamicRef is not supported");
    expect_compile_error("{\"exclusiveMaximum\":true,\"maximum\":3}", "draft-04");
    expect_compile_error("{\"multipleOf\":0}", "at /: multipleOf must be greater than 0");
    expect_compile_error("{\"anyOf\":[]}", "at /anyOf: anyOf must be a non-empty array");
    expect_compile_error("{\"required\":[1]}",
                         "at /required: required must be an array of strings");
    expect_compile_error("{\"$schema\":\"http://json-schema.org/draft-04/schema#\"}",
                         "at /$schema: unsupported");
    expect_compile_error("{\"enum\":{}}", "enum must be an array");
    expect_compile_error("{\"prefixItems\":[{}],\"items\":[{}]}", "items must be a schema");
    expect_compile_error("{\"dependentRequired\":{\"a\":[1]}}",
                         "at /dependentRequired/a: must be an array of strings");
    /* cycles that make no progress: refused, whether or not reachable from the root */
    expect_compile_error("{\"$ref\":\"#\"}", "$ref cycle without progress");
    expect_compile_error("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"allOf\":[{\"$ref\":"
                         "\"#/$defs/a\"}]}}}",
                         "$ref cycle without progress");
    expect_compile_error("{\"anyOf\":[{\"type\":\"null\"},{\"not\":{\"$ref\":\"#\"}}]}",
                         "$ref cycle without progress");
    /* nesting cap */
    char deep[4000] = "";
    for (int i = 0; i < 300; i++)
        strcat(deep, "{\"not\":");
    strcat(deep, "{}");
    for (int i = 0; i < 300; i++)
        strcat(deep, "}");
    expect_compile_error(deep, "schema nested more than 256 levels");
    /* true / false schemas */
    expect_valid("true", "{\"anything\":1}");
    expect_invalid("false", "1", "", "false schema");
}

static void test_errors(void **state)
{
    (void)state;
    /* a typical strict structured-output schema */
    const char *schema =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"name\",\"tags\","
        "\"address\"],\"properties\":{\"name\":{\"type\":\"string\"},"
        "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"]}},"
        "\"address\":{\"anyOf\":[{\"$ref\":\"#/$defs/addr\"},{\"type\":\"null\"}]}},"
        "\"$defs\":{\"addr\":{\"type\":\"object\",\"additionalProperties\":false,"
        "\"required\":[\"city\"],\"properties\":{\"city\":{\"type\":\"string\"}}}}}";
    sy_jschema_t *s = comp(schema);
    assert_int_equal(val(s, "{\"name\":\"n\",\"tags\":[\"a\"],\"address\":null}", NULL, 0), 0);
    assert_int_equal(val(s, "{\"name\":\"n\",\"tags\":[],\"address\":{\"city\":\"x\"}}", NULL, 0),
                     0);
    sy_jschema_error_t e[8];
    size_t n =
        val(s, "{\"name\":1,\"tags\":[\"a\",\"c\",2],\"address\":{\"zip\":1},\"x~/\":0}", e, 8);
    assert_int_equal(n, 7);
    assert_string_equal(e[0].path, "/name");
    assert_string_equal(e[0].message, "expected string, got integer");
    assert_string_equal(e[1].path, "/tags/1");
    assert_string_equal(e[1].message, "value is not one of the enum values");
    assert_string_equal(e[2].path, "/tags/2");
    assert_string_equal(e[2].message, "expected string, got integer");
    assert_string_equal(e[3].path, "/tags/2");
    /* anyOf [object ref, null] failed: the one branch that admits an object explains */
    assert_string_equal(e[4].path, "/address");
    assert_string_equal(e[4].message, "missing required property \"city\"");
    assert_string_equal(e[5].path, "/address/zip");
    assert_string_equal(e[5].message, "property is not allowed (additionalProperties)");
    assert_string_equal(e[6].path, "/x~0~1");
    assert_string_equal(e[6].message, "property is not allowed (additionalProperties)");
    /* no single candidate: the combinator's own error */
    n = val(s, "{\"name\":\"n\",\"tags\":[],\"address\":5}", e, 8);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].path, "/address");
    assert_string_equal(e[0].message, "value matches none of the 2 anyOf schemas");
    /* at most max written, all counted */
    memset(e, 0x5a, sizeof e);
    assert_int_equal(
        val(s, "{\"name\":1,\"tags\":[\"a\",\"c\",2],\"address\":{\"zip\":1},\"x~/\":0}", e, 2), 7);
    assert_string_equal(e[1].path, "/tags/1");
    assert_int_equal((unsigned char)e[2].path[0], 0x5a);
    assert_int_equal(val(s, "[]", NULL, 5), 1); /* errs NULL: counted only */
    assert_int_equal(sy_jschema_validate(s, NULL, e, 8), 1);
    assert_string_equal(e[0].path, "");
    assert_string_equal(e[0].message, "no JSON value");
    n = val(s, "{}", e, 8);
    assert_int_equal(n, 3);
    assert_string_equal(e[0].path, "");
    assert_string_equal(e[0].message, "missing required property \"name\"");
    sy_jschema_free(s);
    /* oneOf with two matches names them */
    expect_invalid("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", "1", "",
                   "more than one oneOf schema (0 and 1)");
    expect_invalid("{\"not\":{\"type\":\"string\"}}", "\"s\"", "", "must not match");
    expect_invalid(
        "{\"if\":{\"minimum\":10},\"then\":{\"multipleOf\":10},\"else\":{\"maximum\":5}}", "7", "",
        "greater than the maximum 5");
    expect_invalid("{\"propertyNames\":{\"maxLength\":3}}", "{\"long-name\":1}", "/long-name",
                   "longer than 3");
    expect_invalid("{\"minProperties\":2}", "{\"a\":1}", "", "fewer than 2 properties");
    /* a catastrophic regex gives up with an error instead of hanging */
    expect_invalid("{\"pattern\":\"^(a+)+$\"}",
                   "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\"", "", "gave up");
}

static void test_uri_resolve(void **state)
{
    (void)state;
    sy_arena_t a;
    sy_arena_init(&a);
    /* RFC 3986 5.4.1 normal examples */
    const char *base = "http://a/b/c/d;p?q";
    static const char *const cases[][2] = {
        {"g:h", "g:h"},
        {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},
        {"//g", "http://g"},
        {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"},
        {"g#s", "http://a/b/c/g#s"},
        {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},
        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},
        {"../../g", "http://a/g"},
        {"../../../g", "http://a/g"},
        {"/./g", "http://a/g"},
        {"g.", "http://a/b/c/g."},
        {"./../g", "http://a/b/g"},
        {"g;x=1/../y", "http://a/b/c/y"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_string_equal(sy_uri_resolve(&a, base, cases[i][0]), cases[i][1]);
    assert_string_equal(sy_uri_resolve(&a, "urn:example:root", "#/a"), "urn:example:root#/a");
    assert_string_equal(sy_uri_resolve(&a, "", "#/a"), "#/a");
    sy_arena_dispose(&a);
}

/* One compiled schema, several threads validating at once (the schema is read-only after
 * compile); also prints the cost per validation of a typical structured-output answer. */
static const char *const so_schema =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"title\",\"steps\","
    "\"rating\"],\"properties\":{\"title\":{\"type\":\"string\",\"maxLength\":200},"
    "\"rating\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":5},"
    "\"steps\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/step\"}}},"
    "\"$defs\":{\"step\":{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"text\",\"minutes\",\"kind\"],\"properties\":{"
    "\"text\":{\"type\":\"string\",\"pattern\":\"^[A-Z]\"},\"minutes\":{\"type\":[\"number\","
    "\"null\"]},\"kind\":{\"enum\":[\"prep\",\"cook\",\"rest\"]}}}}}";

typedef struct {
    const sy_jschema_t *s;
    const json_t *good, *bad;
    size_t wrong;
} th_arg_t;

static void *th_main(void *p)
{
    th_arg_t *a = p;
    sy_jschema_error_t e[4];
    for (int i = 0; i < 2000; i++) {
        if (sy_jschema_validate(a->s, a->good, e, 4) != 0) a->wrong++;
        if (sy_jschema_validate(a->s, a->bad, e, 4) != 2) a->wrong++;
    }
    return NULL;
}

static json_t *so_instance(int steps, bool bad)
{
    json_t *arr = json_array();
    for (int i = 0; i < steps; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:f, s:s}", "text",
                           bad && i == 3 ? "lower case step" : "Chop the onions finely", "minutes",
                           2.5, "kind", bad && i == 5 ? "fry" : "prep"));
    return json_pack("{s:s, s:o, s:i}", "title", "Onion soup", "steps", arr, "rating", 4);
}

static void test_threads_and_cost(void **state)
{
    (void)state;
    sy_jschema_t *s = comp(so_schema);
    json_t *good = so_instance(20, false), *bad = so_instance(20, true);
    sy_jschema_error_t e[4];
    assert_int_equal(sy_jschema_validate(s, good, e, 4), 0);
    assert_int_equal(sy_jschema_validate(s, bad, e, 4), 2);
    assert_string_equal(e[0].path, "/steps/3/text");
    assert_string_equal(e[1].path, "/steps/5/kind");
    pthread_t th[4];
    th_arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (th_arg_t){s, good, bad, 0};
        assert_int_equal(pthread_create(&th[i], NULL, th_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].wrong, 0);
    }
    char *text = json_dumps(good, JSON_COMPACT);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(sy_jschema_validate(s, good, NULL, 0), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 2000; i++) {
        char err[256];
        json_t *j = json_loads(so_schema, 0, NULL);
        sy_jschema_t *c = sy_jschema_compile(j, err, sizeof err);
        assert_non_null(c);
        sy_jschema_free(c);
        json_decref(j);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double cus = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3;
    print_message("validate a %zu-byte answer (20 steps): %.2f us; parse+compile the schema: "
                  "%.2f us\n",
                  strlen(text), us / 5000, cus / 2000);
    free(text);
    json_decref(good);
    json_decref(bad);
    sy_jschema_free(s);
}

/* ---- cost caps ---- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Validating j with s stops, within 5 s, with the one budget error. */
static void expect_too_expensive(const sy_jschema_t *s, const json_t *j, const char *what)
{
    sy_jschema_error_t e[4];
    double t0 = now_s();
    assert_int_equal(sy_jschema_validate(s, j, e, 4), 1);
    double dt = now_s() - t0;
    assert_string_equal(e[0].path, "");
    assert_string_equal(e[0].message, "schema evaluation too expensive");
    print_message("%s: stopped after %.3f s\n", what, dt);
    assert_true(dt < 5.0);
}

/* $defs a0 = base, a_k = {kw: [{$ref a_(k-1)}, {$ref a_(k-1)}]}: compiled once per node, but
 * reached along 2^k paths. Without the step budget k=24 took seconds and k=80 forever. */
static void expect_dag_too_expensive(const char *kw, const char *base, const char *inst)
{
    enum { K = 80 };
    char *buf = malloc(16384);
    assert_non_null(buf);
    int len = snprintf(buf, 16384, "{\"$ref\":\"#/$defs/a%d\",\"$defs\":{\"a0\":%s", K, base);
    for (int k = 1; k <= K; k++)
        len += snprintf(buf + len, 16384 - (size_t)len,
                        ",\"a%d\":{\"%s\":[{\"$ref\":\"#/$defs/a%d\"},{\"$ref\":\"#/$defs/a%d\"}]}",
                        k, kw, k - 1, k - 1);
    snprintf(buf + len, 16384 - (size_t)len, "}}");
    sy_jschema_t *s = comp(buf);
    json_t *j = parse(inst);
    expect_too_expensive(s, j, kw);
    json_decref(j);
    sy_jschema_free(s);
    free(buf);
}

static void test_cost_caps(void **state)
{
    (void)state;
    expect_dag_too_expensive("anyOf", "{\"not\":{}}", "1");
    expect_dag_too_expensive("allOf", "{\"type\":\"integer\"}", "1");
    /* a small DAG is still validated normally */
    expect_valid("{\"$defs\":{\"a\":{\"type\":\"integer\"},\"b\":{\"allOf\":[{\"$ref\":\"#/$defs/"
                 "a\"},{\"$ref\":\"#/$defs/a\"}]}},\"$ref\":\"#/$defs/b\"}",
                 "3");
    /* regex steps add up over matches: each string below makes the match give up, and the total
     * cap stops the whole validation after a few of them instead of 200 */
    {
        sy_jschema_t *s = comp("{\"items\":{\"pattern\":\"^(a|a)*$\"}}");
        json_t *arr = json_array();
        for (int i = 0; i < 200; i++)
            json_array_append_new(arr, json_string("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"));
        expect_too_expensive(s, arr, "200 catastrophic matches");
        sy_jschema_error_t e[4];
        /* one such match alone still gives the per-match error */
        json_t *one = json_array();
        json_array_append_new(one, json_string("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"));
        assert_int_equal(sy_jschema_validate(s, one, e, 4), 1);
        assert_string_equal(e[0].path, "/0");
        assert_string_equal(e[0].message, "pattern matching gave up (too complex)");
        json_decref(one);
        json_decref(arr);
        sy_jschema_free(s);
    }
    /* compile-time caps: subschemas, regexes, size */
    {
        size_t cap = 10002 * 3 + 64;
        char *b = malloc(cap);
        assert_non_null(b);
        size_t at = (size_t)sprintf(b, "{\"anyOf\":[{}");
        for (int i = 0; i < 10000; i++)
            at += (size_t)sprintf(b + at, ",{}");
        strcpy(b + at, "]}");
        expect_compile_error(b, "schema has more than 10000 subschemas");
        free(b);
        json_t *props = json_object();
        for (int i = 0; i < 257; i++) {
            char k[16];
            snprintf(k, sizeof k, "p%d", i);
            json_object_set_new(props, k, json_pack("{s:s}", "pattern", "^x"));
        }
        json_t *sch = json_pack("{s:o}", "properties", props);
        char err[256] = "";
        assert_null(sy_jschema_compile(sch, err, sizeof err));
        assert_non_null(strstr(err, "schema has more than 256 regular expressions"));
        json_decref(sch);
        json_t *en = json_array();
        for (int i = 0; i < 7000; i++)
            json_array_append_new(en, json_string("abcdefgh"));
        sch = json_pack("{s:o}", "enum", en);
        assert_null(sy_jschema_compile(sch, err, sizeof err));
        assert_string_equal(err, "at /: schema is larger than 65536 bytes as compact JSON");
        json_decref(sch);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite),          cmocka_unit_test(test_keywords_2020),
        cmocka_unit_test(test_unevaluated),    cmocka_unit_test(test_refs),
        cmocka_unit_test(test_compile_errors), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_uri_resolve),    cmocka_unit_test(test_threads_and_cost),
        cmocka_unit_test(test_cost_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
