/* api/webapp.c's header parsing (If-None-Match, Accept-Encoding), reached by including the .c,
 * and the embedded table's rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/webapp.c"

#define S(lit) sy_str(lit, sizeof(lit) - 1)

static void test_etag_matches(void **state)
{
    (void)state;
    const char *tag = "\"0123abcd\"";
    assert_true(etag_matches(S("\"0123abcd\""), tag));
    assert_true(etag_matches(S("W/\"0123abcd\""), tag));
    assert_true(etag_matches(S("\"x\", \"0123abcd\""), tag));
    assert_true(etag_matches(S("\"x\",W/\"0123abcd\""), tag));
    assert_true(etag_matches(S("*"), tag));
    assert_false(etag_matches(S("\"0123abc\""), tag));
    assert_false(etag_matches(S("0123abcd"), tag)); /* unquoted */
    assert_false(etag_matches(S("\"0123abcd"), tag));
    assert_false(etag_matches(S(""), tag));
    assert_false(etag_matches(SY_STR_NULL, tag));
    assert_false(etag_matches(S(",,, ,"), tag));
    assert_false(etag_matches(S("W/"), tag));
}

static void test_accepts_gzip(void **state)
{
    (void)state;
    assert_true(accepts_gzip(S("gzip")));
    assert_true(accepts_gzip(S("gzip, deflate, br")));
    assert_true(accepts_gzip(S("br;q=1.0, GZIP;q=0.5")));
    assert_true(accepts_gzip(S("deflate,gzip")));
    assert_false(accepts_gzip(S("gzip;q=0")));
    assert_false(accepts_gzip(S("gzip;q=0.000")));
    assert_false(accepts_gzip(S("x-gzip")));
    assert_false(accepts_gzip(S("gzipper")));
    assert_false(accepts_gzip(S("br, deflate")));
    assert_false(accepts_gzip(S("")));
    assert_false(accepts_gzip(SY_STR_NULL));
    /* a token longer than the copy buffer is cut, not overrun */
    char big[300];
    memset(big, 'a', sizeof big);
    assert_false(accepts_gzip(sy_str(big, sizeof big)));
}

static void test_table_rows(void **state)
{
    (void)state;
    assert_true(sy_web_assets_count >= 4);
    for (size_t i = 0; i < sy_web_assets_count; i++) {
        const sy_web_asset_t *a = &sy_web_assets[i];
        assert_int_equal(a->path[0], '/');
        assert_int_equal(strlen(a->etag), 34);
        if (a->gzip) {
            assert_true(a->gzip_len < a->len);
            assert_int_equal(a->gzip[0], 0x1f); /* gzip magic */
            assert_int_equal(a->gzip[1], 0x8b);
        }
        /* no dotfiles, no duplicates */
        assert_null(strstr(a->path, "/."));
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(sy_web_assets[k].path, a->path);
    }
    /* the bundle (webapp/build.mjs): app-<16 hex>.js and .css, named by their content hash, so
     * served immutable; the page naming them is not */
    size_t js = 0, css = 0;
    for (size_t i = 0; i < sy_web_assets_count; i++) {
        const sy_web_asset_t *a = &sy_web_assets[i];
        size_t n = strlen(a->path);
        if (strncmp(a->path, "/assets/app-", 12)) continue;
        if (n > 3 && !strcmp(a->path + n - 3, ".js")) {
            assert_string_equal(a->content_type, "text/javascript; charset=utf-8");
            js++;
        } else if (n > 4 && !strcmp(a->path + n - 4, ".css")) {
            assert_string_equal(a->content_type, "text/css; charset=utf-8");
            css++;
        } else {
            continue;
        }
        assert_true(a->immutable);
        assert_ptr_equal(sy_web_asset_find(a->path, n), a);
    }
    assert_int_equal(js, 1);
    assert_int_equal(css, 1);
    const sy_web_asset_t *page = sy_web_asset_find("/index.html", 11);
    assert_non_null(page);
    assert_string_equal(page->content_type, "text/html; charset=utf-8");
    assert_false(page->immutable);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etag_matches),
        cmocka_unit_test(test_accepts_gzip),
        cmocka_unit_test(test_table_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
