#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_respects_max),
        cmocka_unit_test(buf_printf_long),
        cmocka_unit_test(arena_alignment_and_large),
        cmocka_unit_test(arena_secret_zeroed_at_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
