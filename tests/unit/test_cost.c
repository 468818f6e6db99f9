/* logpipe/cost.c and the `prices:` config section. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "logpipe/cost.h"

static sy_config_t *load(const char *yaml, sy_conf_err_t *err)
{
    return sy_config_load_string("t.yaml", yaml, strlen(yaml), err);
}

static const char *base = "models:\n  - {name: m, provider: mock}\nprices:\n";

static sy_config_t *load_prices(const char *prices)
{
    char y[4096];
    snprintf(y, sizeof y, "%s%s", base, prices);
    sy_conf_err_t err;
    sy_config_t *c = load(y, &err);
    if (!c) print_error("%s\n", err.msg);
    assert_non_null(c);
    return c;
}

#define DAY_US (86400ll * 1000000)
#define T2025 (1735689600ll * 1000000) /* 2025-01-01T00:00:00Z */

static void exact_prices_and_costs(void **state)
{
    sy_config_t *c = load_prices("  - {model: claude-sonnet-4-5, input: 3, output: 15, "
                                 "cached_input: 0.30, cache_write: 3.75}\n"
                                 "  - {model: gemini-2.0-flash-lite, input: 0.075, output: 0.30}\n"
                                 "  - {model: cheap, input: 0.000001, output: 0}\n");
    const sy_price_t *p = sy_cost_find_price(c, "anthropic", "claude-sonnet-4-5", T2025);
    assert_non_null(p);
    assert_int_equal(p->input, 3000000); /* pico-USD per token */
    assert_int_equal(p->cached_input, 300000);
    assert_int_equal(p->cache_write, 3750000);
    /* Anthropic's own example shape: 1,000 uncached + 2,000 cache read + 500 cache write in,
     * 300 out: 1000*3 + 2000*0.3 + 500*3.75 + 300*15 = 3000 + 600 + 1875 + 4500 = 9975 µUSD */
    sy_cost_usage_t u = {3500, 300, 2000, 500};
    assert_int_equal(sy_cost_nanousd(p, &u), 9975000);
    /* 100 tokens at $0.075/M = 7.5 µUSD exactly */
    p = sy_cost_find_price(c, NULL, "gemini-2.0-flash-lite", T2025);
    sy_cost_usage_t g = {100, 0, 0, 0};
    assert_int_equal(sy_cost_nanousd(p, &g), 7500);
    /* 1 token at $0.000001/M = 1e-12 USD: rounds to 0 nano-USD; 500 tokens to 1 (half up) */
    p = sy_cost_find_price(c, NULL, "cheap", T2025);
    sy_cost_usage_t one = {1, 0, 0, 0}, five = {500, 0, 0, 0};
    assert_int_equal(sy_cost_nanousd(p, &one), 0);
    assert_int_equal(sy_cost_nanousd(p, &five), 1);
    sy_config_free(c);
}

static void unknown_is_never_guessed(void **state)
{
    sy_config_t *c = load_prices("  - {model: gpt-4o, input: 2.5, output: 10}\n");
    const sy_price_t *p = sy_cost_find_price(c, "openai", "gpt-4o", T2025);
    sy_cost_usage_t cached = {1000, 10, 200, 0}; /* no cached_input price */
    assert_int_equal(sy_cost_nanousd(p, &cached), -1);
    sy_cost_usage_t no_usage = {-1, -1, -1, -1};
    assert_int_equal(sy_cost_nanousd(p, &no_usage), -1);
    sy_cost_usage_t bad = {10, 1, 20, 0}; /* more cached than prompt */
    assert_int_equal(sy_cost_nanousd(p, &bad), -1);
    assert_null(sy_cost_find_price(c, "openai", "gpt-4o-mini", T2025));
    assert_int_equal(sy_cost_nanousd(NULL, &cached), -1);
    sy_config_t *o = load_prices("  - {model: half, input: 1}\n");
    sy_cost_usage_t out = {10, 5, 0, 0}; /* output price unknown */
    assert_int_equal(sy_cost_nanousd(sy_cost_find_price(o, NULL, "half", 0), &out), -1);
    sy_cost_usage_t in_only = {10, 0, 0, 0};
    assert_int_equal(sy_cost_nanousd(sy_cost_find_price(o, NULL, "half", 0), &in_only), 10000);
    sy_config_free(o);
    sy_config_free(c);
}

static void effective_dates_and_providers(void **state)
{
    sy_config_t *c =
        load_prices("  - {model: m1, input: 1, output: 1}\n"
                    "  - {model: m1, from: 2025-01-01, input: 2, output: 2}\n"
                    "  - {model: m1, from: '2025-06-01T12:00:00Z', input: 3, output: 3}\n"
                    "  - {model: m1, provider: azure, from: 2025-01-01, input: 9, output: 9}\n");
    assert_int_equal(sy_cost_find_price(c, "openai", "m1", T2025 - 1)->input, 1000000);
    assert_int_equal(sy_cost_find_price(c, "openai", "m1", T2025)->input, 2000000);
    assert_int_equal(sy_cost_find_price(c, "openai", "m1", T2025 + 200 * DAY_US)->input, 3000000);
    /* a provider-specific price wins at its date; later general prices still win by date */
    assert_int_equal(sy_cost_find_price(c, "azure", "m1", T2025 + DAY_US)->input, 9000000);
    assert_int_equal(sy_cost_find_price(c, "azure", "m1", T2025 + 200 * DAY_US)->input, 3000000);
    sy_config_free(c);
}

static void bad_price_config(void **state)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"  - {model: x, input: 1.0000001}\n", "t.yaml:4: prices[0].input: at most 6 decimals"},
        {"  - {model: x, input: 1e3}\n", "prices[0].input: expected a plain decimal"},
        {"  - {model: x, input: -1}\n", "prices[0].input: expected a plain decimal"},
        {"  - {input: 1}\n", "prices[0].model: required"},
        {"  - {model: x, from: 2025-13-01}\n", "prices[0].from: expected a UTC date"},
        {"  - {model: x, from: yesterday}\n", "prices[0].from: expected a UTC date"},
        {"  - {model: x, colour: red}\n", "prices[0].colour: unknown key"},
        {"  - {model: x, input: 1}\n  - {model: x, input: 2}\n",
         "prices[1]: a second price for 'x' from the same date (first at line 4)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char y[1024];
        snprintf(y, sizeof y, "%s%s", base, cases[i].yaml);
        sy_conf_err_t err = {{0}};
        sy_config_t *c = load(y, &err);
        if (c || !strstr(err.msg, cases[i].want)) {
            print_error("case %zu: got '%s', want '%s'\n", i, c ? "(loaded)" : err.msg,
                        cases[i].want);
            sy_config_free(c);
            fail();
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_prices_and_costs),
        cmocka_unit_test(unknown_is_never_guessed),
        cmocka_unit_test(effective_dates_and_providers),
        cmocka_unit_test(bad_price_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
