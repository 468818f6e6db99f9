#include "core/uuid.h"

#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "core/clock.h"

/* xoshiro256** per thread: ids need uniqueness, not secrecy; getrandom per id would cost a
 * syscall on the hot path. */
static __thread uint64_t rng_s[4];
static __thread int rng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
    if (!rng_seeded) {
        if (getrandom(rng_s, sizeof rng_s, 0) != (ssize_t)sizeof rng_s) {
            uint64_t t = sy_clock_mono_us() ^ (uint64_t)(uintptr_t)&rng_s;
            for (int i = 0; i < 4; i++)
                rng_s[i] = t = t * 6364136223846793005ull + 1442695040888963407ull;
        }
        rng_seeded = 1;
    }
    uint64_t result = rotl(rng_s[1] * 5, 7) * 9;
    uint64_t t = rng_s[1] << 17;
    rng_s[2] ^= rng_s[0];
    rng_s[3] ^= rng_s[1];
    rng_s[1] ^= rng_s[2];
    rng_s[0] ^= rng_s[3];
    rng_s[2] ^= t;
    rng_s[3] = rotl(rng_s[3], 45);
    return result;
}

void sy_rand_bytes(void *out, unsigned n)
{
    unsigned char *p = out;
    while (n) {
        uint64_t r = rng_next();
        unsigned k = n < 8 ? n : 8;
        memcpy(p, &r, k);
        p += k;
        n -= k;
    }
}

void sy_uuid_v7(char out[SY_UUID_STRLEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    uint64_t ms = sy_clock_wall_ms();
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    sy_rand_bytes(b + 6, 10);
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}
