/* See cost.h. */
#include "logpipe/cost.h"

#include <stdio.h>
#include <string.h>

const sy_price_t *sy_cost_find_price(const sy_config_t *cfg, const char *provider,
                                     const char *model, int64_t at_us)
{
    const sy_price_t *best = NULL;
    for (size_t i = 0; i < cfg->n_prices; i++) {
        const sy_price_t *p = &cfg->prices[i];
        if (strcmp(p->model, model) != 0) continue;
        if (p->provider && (!provider || strcmp(p->provider, provider) != 0)) continue;
        if (p->from_us > at_us) continue;
        if (!best || p->from_us > best->from_us ||
            (p->from_us == best->from_us && p->provider && !best->provider))
            best = p;
    }
    return best;
}

/* tokens x price into *sum (pico-USD); false when the price is needed and unknown. Overflow is
 * not a concern: 1e12 tokens x 1e15 pico-USD would be, no real call is. */
static int add(__int128 *sum, int64_t tokens, int64_t price)
{
    if (tokens <= 0) return 1;
    if (price < 0) return 0;
    *sum += (__int128)tokens * price;
    return 1;
}

int64_t sy_cost_nanousd(const sy_price_t *p, const sy_cost_usage_t *u)
{
    if (!p || u->prompt_tokens < 0 || u->completion_tokens < 0) return -1;
    int64_t cached = u->cached_tokens > 0 ? u->cached_tokens : 0;
    int64_t written = u->cache_write_tokens > 0 ? u->cache_write_tokens : 0;
    int64_t plain = u->prompt_tokens - cached - written;
    if (plain < 0) return -1; /* inconsistent usage: not a number to bill */
    __int128 pico = 0;
    if (!add(&pico, plain, p->input) || !add(&pico, cached, p->cached_input) ||
        !add(&pico, written, p->cache_write) || !add(&pico, u->completion_tokens, p->output))
        return -1;
    return (int64_t)((pico + 500) / 1000);
}

int sy_cost_format_usd(char out[SY_COST_USD_LEN], int64_t nanousd)
{
    if (nanousd < 0) nanousd = 0;
    int n = snprintf(out, SY_COST_USD_LEN, "%lld", (long long)(nanousd / 1000000000));
    int64_t frac = nanousd % 1000000000;
    if (frac == 0) return n;
    char digits[10];
    snprintf(digits, sizeof digits, "%09lld", (long long)frac);
    int k = 9;
    while (digits[k - 1] == '0')
        k--;
    return n + snprintf(out + n, SY_COST_USD_LEN - (size_t)n, ".%.*s", k, digits);
}
