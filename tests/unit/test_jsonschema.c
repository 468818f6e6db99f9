/* sy_jschema: the official JSON Schema Test Suite (Debian package json-schema-test-suite) for
 * draft-07 and draft-06, with a small explicit skip list, then our own tests for 2020-12
 * keywords (the packaged suite predates 2020-12), error paths and messages, $ref resolution and
 * refusals. The unit test includes the .c to reach the URI resolver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/jsonschema.c"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
