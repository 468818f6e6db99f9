#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/uuid.h"

static void uuid_v7_format_and_order(void **state)
{
    char a[SY_UUID_STRLEN + 1], b[SY_UUID_STRLEN + 1];
    uint64_t before = sy_clock_wall_ms();
    sy_uuid_v7(a);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[8], '-');
    assert_int_equal(a[13], '-');
    assert_int_equal(a[14], '7');               /* version */
    assert_true(strchr("89ab", a[19]) != NULL); /* variant */
    /* the first 48 bits are the Unix time in ms */
    char hex[13];
    memcpy(hex, a, 8);
    memcpy(hex + 8, a + 9, 4);
    hex[12] = '\0';
    uint64_t ms = strtoull(hex, NULL, 16);
    assert_true(ms >= before && ms <= sy_clock_wall_ms());
    sy_uuid_v7(b);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(uuid_v7_format_and_order)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
