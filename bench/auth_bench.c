/* The auth + limits hit path of a /v1 request, without the HTTP around it (docs/PERFORMANCE.md,
 * "Auth + limits on the request path"): the presented key's tag and the key cache lookup (a
 * reference, no copy), the time checks, an admit of three in-process limits (requests/minute,
 * tokens/minute, concurrent; the key's scope and its hash from the cache entry), the six
 * x-ratelimit-* header values; then the release (not timed). One thread, each call timed.
 *   auth_bench [calls]      default 1,000,000
 *   AUTH_BENCH_OLD=1        the former shape for comparison: SHA-256 of the key on every call,
 *                           the ~1.5 KB identity copied out, the scope hashed at every admit */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/admission.h"
#include "policy/auth.h"
#include "policy/limits.h"
#include "timing.h"

typedef struct call {
    sy_limits_resv_t *resv;
    sy_limits_result_t res;
} call_t;

static void on_admit(void *arg, const sy_limits_result_t *res, sy_limits_resv_t *resv)
{
    call_t *c = arg;
    c->res = *res;
    c->resv = resv;
}

int main(int argc, char **argv)
{
    size_t calls = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    bool old = getenv("AUTH_BENCH_OLD") != NULL;
    if (calls < 1000) return 2;
    sy_authconf_t conf = {.key_cache_ttl_s = 1000000};
    sy_auth_t *a = sy_auth_new(&conf, NULL);
    sy_limits_t *l = sy_limits_local_new(NULL);
    char key[SY_AUTH_KEY_LEN + 1], prefix[SY_AUTH_PREFIX_LEN + 1], hex[SY_AUTH_HEX_LEN + 1];
    sy_auth_key_new(key, prefix, hex);
    uint8_t sha[32], tag[SY_AUTH_TAG_LEN];
    sy_auth_hash_raw(key, SY_AUTH_KEY_LEN, sha);
    sy_auth_key_tag(a, key, SY_AUTH_KEY_LEN, tag);
    sy_auth_ident_t id = {.key_id = "0194f1a2-7b3c-7d4e-8f90-a1b2c3d4e5f6",
                          .user_id = "0194f1a2-7b3c-7d4e-8f90-a1b2c3d4e5f7",
                          .role = "admin",
                          .any_model = true};
    for (int e = 0; e < SY_LIMITS_ENT__COUNT; e++)
        id.limits[e].n = -1;
    sy_auth_ident_release(sy_auth_cache_put(a, tag, sha, &id, 1, sy_auth_cache_gen(a)));
    const sy_limit_t defaults[3] = {
        {NULL, SY_LIMIT_REQUESTS, SY_LIMIT_MINUTE, 100000000, 0},
        {NULL, SY_LIMIT_TOKENS, SY_LIMIT_MINUTE, 100000000000, 0},
        {NULL, SY_LIMIT_CONCURRENT, SY_LIMIT_NONE, 100000, 0},
    };
    uint64_t *ns = malloc(calls * sizeof(*ns));
    static sy_auth_ident_t copy; /* AUTH_BENCH_OLD */
    volatile size_t sink = 0;
    for (size_t i = 0; i < calls + 1000; i++) { /* 1,000 warm-up calls */
        uint64_t t0 = bench_now_ns();
        const sy_auth_ident_t *ref = NULL;
        if (old) {
            uint8_t h[32];
            sy_auth_hash_raw(key, SY_AUTH_KEY_LEN, h);
            sink += h[0];
        }
        uint8_t t[SY_AUTH_TAG_LEN];
        sy_auth_key_tag(a, key, SY_AUTH_KEY_LEN, t);
        if (sy_auth_cache_get(a, t, 2, &ref, NULL) != 1) abort();
        if (sy_auth_ident_refusal(ref, 1)) abort();
        const sy_auth_ident_t *use = ref;
        if (old) {
            copy = *ref;
            use = &copy;
        }
        sy_limit_t lim[3];
        for (int k = 0; k < 3; k++) {
            lim[k] = defaults[k];
            lim[k].scope = use->scope[SY_LIMITS_ENT_KEY];
            lim[k].scope_hash = old ? 0 : use->scope_hash[SY_LIMITS_ENT_KEY];
        }
        call_t c = {0};
        if (sy_limits_admit(l, lim, 3, 4100, on_admit, &c) || !c.resv) abort();
        sy_http_header_t hd[SY_ADMISSION_HDR_MAX];
        char hb[SY_ADMISSION_HDR_BUF];
        sink += sy_admission_headers(&c.res, hd, hb);
        uint64_t t1 = bench_now_ns();
        if (i >= 1000) ns[i - 1000] = t1 - t0;
        sy_limits_release(l, c.resv, NULL, NULL);
        sy_limits_finish(l, c.resv, 4100, -1, NULL, NULL);
        sy_auth_ident_release(ref);
    }
    (void)sink;
    qsort(ns, calls, sizeof(*ns), bench_cmp_u64);
    printf("%s: %zu calls, auth + admit of 3 limits + 6 header values: p50 %.2f us  p99 %.2f us  "
           "p99.9 %.2f us\n",
           old ? "former shape (SHA-256, identity copy, scope hashed)" : "hit path", calls,
           ns[calls / 2] / 1e3, ns[calls * 99 / 100] / 1e3, ns[calls * 999 / 1000] / 1e3);
    free(ns);
    sy_limits_free(l);
    sy_auth_free(a);
    return 0;
}
