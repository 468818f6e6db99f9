/* Cost of a call from the price table in config (`prices:`). Pure functions; any thread.
 * Prices are exact (pico-USD per token); a cost is int64 nano-USD, rounded half up from the
 * exact pico-USD sum. When a price the usage needs is unknown, the cost is unknown (-1): never a
 * guessed number. */
#ifndef SY_LOGPIPE_COST_H
#define SY_LOGPIPE_COST_H
#include <stdint.h>

#include "conf/config.h"

/* Usage in OpenAI's semantics (as providers/fmt.h): prompt_tokens counts cached and
 * cache-written input too; completion_tokens counts reasoning. -1 = not reported. */
typedef struct sy_cost_usage {
    int64_t prompt_tokens;
    int64_t completion_tokens;
    int64_t cached_tokens;
    int64_t cache_write_tokens;
} sy_cost_usage_t;

/* The price in force at at_us (UTC µs) for an upstream model: among entries with this model and
 * either this provider or no provider, the latest `from` not after at_us; an entry naming the
 * provider wins over one that does not, at the same date. NULL if none. */
const sy_price_t *sy_cost_find_price(const sy_config_t *cfg, const char *provider,
                                     const char *model, int64_t at_us);

/* nano-USD for the usage at price p, or -1 when unknown: no price, no usage, or a bucket with
 * tokens whose price is not set (cached/cache-write tokens need their own price). */
int64_t sy_cost_nanousd(const sy_price_t *p, const sy_cost_usage_t *u);

/* Room for the longest formatted cost ("9223372036.854775807") and its NUL. */
#define SY_COST_USD_LEN 24

/* Writes nanousd (>= 0) as an exact decimal USD amount, digits only, no exponent and no
 * trailing fraction zeros: 86000 → "0.000086", 1500000000 → "1.5", 0 → "0". Never goes through
 * a double, so the text is exactly the stored integer / 1e9. Returns the length. */
int sy_cost_format_usd(char out[SY_COST_USD_LEN], int64_t nanousd);

#endif
