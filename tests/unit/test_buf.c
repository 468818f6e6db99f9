#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <malloc.h>
#include <stdbool.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"

static void buf_respects_max(void **state)
{
    sy_buf_t b;
    sy_buf_init(&b, 10);
    assert_int_equal(sy_buf_append(&b, "hello", 5), SY_OK);
    assert_int_equal(sy_buf_append(&b, "world", 5), SY_OK);
    assert_int_equal(b.len, 10);
    assert_int_equal(sy_buf_append(&b, "!", 1), SY_ERR_TOO_LARGE);
    assert_int_equal(b.len, 10); /* unchanged on failure */
    assert_memory_equal(b.base, "helloworld", 10);
    sy_buf_consume(&b, 5);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.base, "world", 5);
    assert_int_equal(sy_buf_printf(&b, "%d", 12345), SY_OK);
    assert_memory_equal(b.base, "world12345", 10);
    assert_int_equal(sy_buf_printf(&b, "%d", 1), SY_ERR_TOO_LARGE);
    sy_buf_dispose(&b);
}

static void buf_printf_long(void **state)
{
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(sy_buf_printf(&b, "<%s>", big), SY_OK);
    assert_int_equal(b.len, sizeof big + 1);
    assert_int_equal(b.base[0], '<');
    assert_int_equal(b.base[b.len - 1], '>');
    sy_buf_dispose(&b);
}

static void arena_alignment_and_large(void **state)
{
    sy_arena_t a;
    sy_arena_init(&a);
    for (int i = 0; i < 1000; i++) {
        char *p = sy_arena_alloc(&a, (size_t)(i % 37) + 1);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)(i % 37) + 1);
    }
    char *big = sy_arena_alloc(&a, 100000);
    memset(big, 1, 100000);
    char *s = sy_arena_strndup(&a, "abcdef", 3);
    assert_string_equal(s, "abc");
    sy_arena_reset(&a);
    assert_null(a.blocks);
    sy_arena_dispose(&a);
}

/* A secret in the arena's inline block (memory that stays valid after the reset, and is
 * reused by the next request on the connection) is zero after the reset; plain allocations
 * are left as they were (nothing is wiped that need not be). */
static void arena_secret_zeroed_at_reset(void **state)
{
    (void)state;
    sy_arena_t a;
    sy_arena_init(&a);
    char *plain = sy_arena_alloc(&a, 16);
    memcpy(plain, "not-a-secret-xx", 16);
    char *s1 = sy_arena_alloc_secret(&a, 48);
    memcpy(s1, "Authorization: Bearer sk-0123456789abcdef0123456", 48);
    for (int i = 0; i < 100; i++) /* a heap block or two as well */
        memcpy(sy_arena_alloc_secret(&a, 300), "x", 1);
    char *s2 = sy_arena_alloc_secret(&a, 24);
    memcpy(s2, "x-api-key: sk-ant-012345", 24);
    ptrdiff_t o1 = s1 - a.inline_buf;
    assert_true(o1 > 0 && o1 + 48 <= SY_ARENA_INLINE);
    sy_arena_reset(&a);
    for (int i = 0; i < 48; i++)
        assert_int_equal(a.inline_buf[o1 + i], 0);
    assert_memory_equal(a.inline_buf, "not-a-secret-xx", 16);
    assert_null(a.wipe);
    sy_arena_dispose(&a);
}

/* realloc and free are wrapped (tests/unit/CMakeLists.txt: -Wl,--wrap): while `watch` is set,
 * a block that still holds SECRET when it is freed or handed to realloc (which may move it and
 * leave the old bytes in freed heap) is counted. */
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
static const char SECRET[] = "sk-secret-0123456789abcdef";
static bool watch;
static int leaked;

static void check_block(void *p)
{
    if (!watch || !p) return;
    size_t n = malloc_usable_size(p);
    if (memmem(p, n, SECRET, sizeof SECRET - 1)) leaked++;
}

void *__wrap_realloc(void *p, size_t n)
{
    check_block(p);
    return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
    check_block(p);
    __real_free(p);
}

/* A credential PUT body that arrives in several reads grows the request body (and the
 * connection's received bytes): a buffer marked secret leaves no copy of it in freed heap when
 * it grows or is disposed. An unmarked one still uses realloc. */
static void buf_secret_growth_wiped(void **state)
{
    (void)state;
    for (int secret = 1; secret >= 0; secret--) {
        sy_buf_t b;
        sy_buf_init(&b, 1 << 20);
        if (secret) sy_buf_set_secret(&b);
        leaked = 0;
        watch = true;
        assert_int_equal(sy_buf_append_c(&b, "{\"value\":\""), SY_OK);
        assert_int_equal(sy_buf_append_c(&b, SECRET), SY_OK);
        for (int i = 0; i < 200; i++) /* several growths: 256 -> 512 -> ... */
            assert_int_equal(sy_buf_append_c(&b, "0123456789abcdef0123456789abcdef"), SY_OK);
        assert_non_null(memmem(b.base, b.len, SECRET, sizeof SECRET - 1)); /* still there */
        if (secret) {
            assert_int_equal(leaked, 0);
            explicit_bzero(b.base, b.len); /* the owner wipes what is in use */
        } else {
            assert_true(leaked > 0); /* the test sees the leak it guards against */
        }
        sy_buf_dispose(&b);
        watch = false;
    }
    /* dispose of a marked buffer zeroes it even when the owner did not */
    sy_buf_t b;
    sy_buf_init(&b, 4096);
    sy_buf_set_secret(&b);
    assert_int_equal(sy_buf_append_c(&b, SECRET), SY_OK);
    leaked = 0;
    watch = true;
    sy_buf_dispose(&b);
    watch = false;
    assert_int_equal(leaked, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_respects_max),          cmocka_unit_test(buf_printf_long),
        cmocka_unit_test(arena_alignment_and_large), cmocka_unit_test(arena_secret_zeroed_at_reset),
        cmocka_unit_test(buf_secret_growth_wiped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
