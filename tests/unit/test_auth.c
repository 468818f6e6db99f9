/* policy/auth: key format and hashing, the key cache (TTL, negative entries, forget,
 * collisions), time validity and the model allow-list. */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "policy/auth.h"
#include "policy/limits.h"
#include "store/appdata.h"

static sy_authconf_t conf = {.mode = SY_AUTH_REQUIRED, .key_cache_ttl_s = 10};

static void key_format_and_hash(void **state)
{
    (void)state;
    sy_auth_t *a = sy_auth_new(&conf, NULL);
    char k1[SY_AUTH_KEY_LEN + 1], p1[SY_AUTH_PREFIX_LEN + 1], h1[SY_AUTH_HEX_LEN + 1];
    char k2[SY_AUTH_KEY_LEN + 1], p2[SY_AUTH_PREFIX_LEN + 1], h2[SY_AUTH_HEX_LEN + 1];
    sy_auth_key_new(k1, p1, h1);
    sy_auth_key_new(k2, p2, h2);
    assert_int_equal(strlen(k1), SY_AUTH_KEY_LEN);
    assert_memory_equal(k1, "sy-", 3);
    assert_true(sy_auth_key_well_formed(sy_str_c(k1)));
    assert_string_not_equal(k1, k2);
    assert_memory_equal(p1, k1, SY_AUTH_PREFIX_LEN);
    assert_int_equal(strlen(p1), SY_AUTH_PREFIX_LEN);
    /* the hash is SHA-256 of the whole key, hex */
    uint8_t raw[32];
    char hex[65];
    crypto_hash_sha256(raw, (const unsigned char *)k1, SY_AUTH_KEY_LEN);
    sodium_bin2hex(hex, sizeof hex, raw, 32);
    assert_string_equal(h1, hex);
    /* sha256("abc") */
    sy_auth_hash_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_false(sy_auth_key_well_formed(sy_str_c("sy-short")));
    assert_false(
        sy_auth_key_well_formed(sy_str_c("sk-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")));
    assert_false(
        sy_auth_key_well_formed(sy_str_c("sy-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+")));
    char t[SY_AUTH_TOKEN_LEN + 1];
    sy_auth_token_new(t);
    assert_int_equal(strlen(t), SY_AUTH_TOKEN_LEN);
    sy_auth_free(a);
}

static void cache_ttl_negative_forget(void **state)
{
    (void)state;
    sy_auth_t *a = sy_auth_new(&conf, NULL);
    char k[SY_AUTH_KEY_LEN + 1], p[SY_AUTH_PREFIX_LEN + 1], h[SY_AUTH_HEX_LEN + 1];
    sy_auth_key_new(k, p, h);
    uint8_t raw[32], tag[SY_AUTH_TAG_LEN], tag2[SY_AUTH_TAG_LEN];
    sy_auth_hash_raw(k, SY_AUTH_KEY_LEN, raw);
    sy_auth_key_tag(a, k, SY_AUTH_KEY_LEN, tag);
    sy_auth_key_tag(a, k, SY_AUTH_KEY_LEN, tag2);
    assert_memory_equal(tag, tag2, SY_AUTH_TAG_LEN); /* deterministic within the process */
    sy_auth_ident_t id = {.key_id = "k1", .user_id = "u1", .any_model = true};
    const sy_auth_ident_t *out = NULL, *ref;
    assert_int_equal(sy_auth_cache_get(a, tag, 1000, &out, NULL), -1);
    ref = sy_auth_cache_put(a, tag, raw, &id, 1000, sy_auth_cache_gen(a));
    assert_non_null(ref);
    assert_string_equal(ref->scope[SY_LIMITS_ENT_KEY], "key:k1"); /* built once, at insertion */
    assert_string_equal(ref->scope[SY_LIMITS_ENT_USER], "user:u1");
    assert_string_equal(ref->scope[SY_LIMITS_ENT_TEAM], "");
    assert_true(ref->scope_hash[SY_LIMITS_ENT_KEY] == sy_limits_scope_hash("key:k1"));
    assert_true(ref->scope_hash[SY_LIMITS_ENT_TEAM] == 0);
    sy_auth_ident_release(ref);
    assert_int_equal(sy_auth_cache_get(a, tag, 1000 + 9999999, &out, NULL), 1);
    assert_string_equal(out->key_id, "k1");
    assert_ptr_equal(out, ref); /* a reference to the entry, not a copy */
    assert_int_equal(sy_auth_cache_get(a, tag, 1000 + 10000000, &ref, NULL), -1); /* TTL over */
    /* forgotten while a request still holds it: the reference stays readable (ASan checks) */
    sy_auth_cache_forget(a, h);
    assert_string_equal(out->key_id, "k1");
    sy_auth_ident_release(out);
    assert_int_equal(sy_auth_cache_get(a, tag, 1000, &out, NULL), -1);
    assert_null(sy_auth_cache_put(a, tag, raw, NULL, 1000, sy_auth_cache_gen(a))); /* no key */
    assert_int_equal(sy_auth_cache_get(a, tag, 2000, &out, NULL), 0);
    /* a different tag in the same slot replaces the entry, and never matches the old one */
    uint8_t other[SY_AUTH_TAG_LEN];
    memcpy(other, tag, sizeof other);
    other[SY_AUTH_TAG_LEN - 1] ^= 1;
    assert_int_equal(sy_auth_cache_get(a, other, 2000, &out, NULL), -1);
    ref = sy_auth_cache_put(a, other, raw, &id, 2000, sy_auth_cache_gen(a));
    assert_int_equal(sy_auth_cache_get(a, tag, 2000, &out, NULL), -1);
    assert_int_equal(sy_auth_cache_get(a, other, 2000, &out, NULL), 1);
    sy_auth_ident_release(out);
    /* replaced while referenced: the old entry lives until its last reference goes */
    const sy_auth_ident_t *ref2 = sy_auth_cache_put(a, tag, raw, &id, 2000, sy_auth_cache_gen(a));
    assert_string_equal(ref->key_id, "k1");
    sy_auth_ident_release(ref);
    sy_auth_ident_release(ref2);
    /* a forged key (same length and prefix, one character changed) does not hit */
    char forged[SY_AUTH_KEY_LEN + 1];
    memcpy(forged, k, sizeof forged);
    forged[10] = forged[10] == 'A' ? 'B' : 'A';
    uint8_t ftag[SY_AUTH_TAG_LEN];
    sy_auth_key_tag(a, forged, SY_AUTH_KEY_LEN, ftag);
    assert_int_equal(sy_auth_cache_get(a, tag, 2000, &out, NULL), 1);
    sy_auth_ident_release(out);
    assert_int_equal(sy_auth_cache_get(a, ftag, 2000, &out, NULL), -1);
    /* another process (another tag key) gives another tag for the same key */
    sy_auth_t *b = sy_auth_new(&conf, NULL);
    uint8_t btag[SY_AUTH_TAG_LEN];
    sy_auth_key_tag(b, k, SY_AUTH_KEY_LEN, btag);
    assert_memory_not_equal(tag, btag, SY_AUTH_TAG_LEN);
    sy_auth_free(b);
    /* a lookup that began before a forget does not cache its (stale) answer, but the caller
     * still gets the identity it loaded */
    uint64_t g = sy_auth_cache_gen(a);
    sy_auth_cache_forget(a, h);
    ref = sy_auth_cache_put(a, tag, raw, &id, 3000, g);
    assert_non_null(ref);
    assert_string_equal(ref->key_id, "k1");
    sy_auth_ident_release(ref);
    assert_int_equal(sy_auth_cache_get(a, tag, 3000, &out, NULL), -1);
    assert_null(sy_auth_cache_put(a, tag, raw, NULL, 3000, g)); /* stale negative: dropped */
    ref = sy_auth_cache_put(a, tag, raw, &id, 3000, sy_auth_cache_gen(a));
    sy_auth_ident_release(ref);
    assert_int_equal(sy_auth_cache_get(a, tag, 3000, &out, NULL), 1);
    sy_auth_ident_release(out);
    sy_auth_free(a);
}

/* Readers hold references while another thread replaces and forgets the entry: every reference
 * stays readable until released, and the last release frees it (run under TSan/ASan:
 * -DCMAKE_C_FLAGS=-fsanitize=thread). */
typedef struct churn {
    sy_auth_t *a;
    uint8_t tag[SY_AUTH_TAG_LEN], raw[32];
    char hex[SY_AUTH_HEX_LEN + 1];
    atomic_bool stop;
    atomic_int hits;
} churn_t;

static void *churn_reader(void *arg)
{
    churn_t *c = arg;
    while (!atomic_load(&c->stop)) {
        const sy_auth_ident_t *id = NULL;
        if (sy_auth_cache_get(c->a, c->tag, 1000, &id, NULL) == 1) {
            if (strcmp(id->key_id, "k1") != 0 || strcmp(id->scope[0], "key:k1") != 0) abort();
            atomic_fetch_add(&c->hits, 1);
            sy_auth_ident_release(id);
        }
    }
    return NULL;
}

/* Past key_cache_ttl_s a key's entry is served while one reload runs, for at most
 * min(TTL, 2 s) more; then it is a miss; a failed reload, or one whose answer was dropped because
 * a forget moved the generation, lets the next stale hit ask again; "no such key" is never
 * served stale. */
static void cache_stale_while_reload(void **state)
{
    (void)state;
    sy_auth_t *a = sy_auth_new(&conf, NULL); /* key_cache_ttl_s 10: the grace is 2 s */
    char k[SY_AUTH_KEY_LEN + 1], p[SY_AUTH_PREFIX_LEN + 1], h[SY_AUTH_HEX_LEN + 1];
    sy_auth_key_new(k, p, h);
    uint8_t raw[32], tag[SY_AUTH_TAG_LEN], sha[32];
    sy_auth_hash_raw(k, SY_AUTH_KEY_LEN, raw);
    sy_auth_key_tag(a, k, SY_AUTH_KEY_LEN, tag);
    sy_auth_ident_t id = {.key_id = "k1", .any_model = true};
    const sy_auth_ident_t *out = NULL;
    sy_auth_ident_release(sy_auth_cache_put(a, tag, raw, &id, 1000, sy_auth_cache_gen(a)));
    const uint64_t ttl = 10000000, grace = SY_AUTH_STALE_GRACE_US;
    memset(sha, 0, sizeof sha);
    assert_int_equal(sy_auth_cache_get(a, tag, 1000 + ttl - 1, &out, sha), 1); /* fresh */
    sy_auth_ident_release(out);
    assert_int_equal(sy_auth_cache_get(a, tag, 1000 + ttl, &out, sha), 2); /* stale: reload */
    assert_memory_equal(sha, raw, 32);
    assert_string_equal(out->key_id, "k1");
    sy_auth_ident_release(out);
    /* one reload at a time: the others are served without asking */
    assert_int_equal(sy_auth_cache_get(a, tag, 1000 + ttl + 5, &out, sha), 1);
    sy_auth_ident_release(out);
    assert_int_equal(sy_auth_cache_get(a, tag, 1000 + ttl + 5, &out, NULL), -1); /* strict */
    assert_int_equal(sy_auth_cache_get(a, tag, 1000 + ttl + grace - 1, &out, sha), 1);
    sy_auth_ident_release(out);
    assert_int_equal(sy_auth_cache_get(a, tag, 1000 + ttl + grace, &out, sha), -1); /* too old */
    /* the reload failed: the next stale hit asks again */
    sy_auth_cache_refresh_failed(a, tag);
    assert_int_equal(sy_auth_cache_get(a, tag, 1000 + ttl + 9, &out, sha), 2);
    sy_auth_ident_release(out);
    /* the reload's answer dropped because a forget (of another key) moved the generation: the
     * mark goes with it, so the next stale hit asks again instead of riding out the grace */
    uint64_t gen = sy_auth_cache_gen(a);
    sy_auth_cache_forget(a, "00000000000000000000000000000000000000000000000000000000000000ff");
    sy_auth_ident_release(sy_auth_cache_put(a, tag, raw, &id, 1000 + ttl + 10, gen));
    assert_int_equal(sy_auth_cache_get(a, tag, 1000 + ttl + 11, &out, sha), 2);
    sy_auth_ident_release(out);
    /* the reload's answer replaces the entry: fresh again, a new reference */
    sy_auth_ident_t id2 = {.key_id = "k2", .any_model = true};
    sy_auth_ident_release(
        sy_auth_cache_put(a, tag, raw, &id2, 1000 + ttl + 12, sy_auth_cache_gen(a)));
    assert_int_equal(sy_auth_cache_get(a, tag, 1000 + ttl + 13, &out, sha), 1);
    assert_string_equal(out->key_id, "k2");
    sy_auth_ident_release(out);
    /* the key was revoked meanwhile: the reload caches "no such key", which ages out strictly */
    sy_auth_ident_release(
        sy_auth_cache_put(a, tag, raw, NULL, 1000 + 2 * ttl, sy_auth_cache_gen(a)));
    assert_int_equal(sy_auth_cache_get(a, tag, 1000 + 2 * ttl + 1, &out, sha), 0);
    assert_int_equal(sy_auth_cache_get(a, tag, 1000 + 3 * ttl, &out, sha), -1);
    sy_auth_cache_stats_t st;
    sy_auth_cache_stats(a, &st);
    assert_int_equal(st.hits, 7); /* fresh, reload, stale, stale, reload, reload, fresh */
    assert_int_equal(st.stale, 5);
    assert_int_equal(st.reloads, 3);
    assert_int_equal(st.misses, 3); /* strict, too old, aged-out "no such key" */
    assert_int_equal(st.negative, 1);
    sy_auth_free(a);
}

static void cache_references_across_threads(void **state)
{
    (void)state;
    churn_t c = {.a = sy_auth_new(&conf, NULL)};
    char k[SY_AUTH_KEY_LEN + 1], p[SY_AUTH_PREFIX_LEN + 1];
    sy_auth_key_new(k, p, c.hex);
    sy_auth_hash_raw(k, SY_AUTH_KEY_LEN, c.raw);
    sy_auth_key_tag(c.a, k, SY_AUTH_KEY_LEN, c.tag);
    sy_auth_ident_t id = {.key_id = "k1", .any_model = true};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn_reader, &c);
    for (int i = 0; i < 20000; i++) {
        const sy_auth_ident_t *ref =
            sy_auth_cache_put(c.a, c.tag, c.raw, &id, 1000, sy_auth_cache_gen(c.a));
        if (i % 3 == 0) sy_auth_cache_forget(c.a, c.hex);
        sy_auth_ident_release(ref);
    }
    atomic_store(&c.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_true(atomic_load(&c.hits) > 0);
    sy_auth_free(c.a);
}

static void validity_and_models(void **state)
{
    (void)state;
    sy_app_key_t k = {.id = "k",
                      .owner_user = "u",
                      .allowed_models = "[\"gpt-4o\",\"mock\"]",
                      .expires_us = 5000,
                      .grace_until_us = 0};
    sy_app_user_t u = {.id = "u", .role = "admin"};
    sy_auth_ident_t id;
    sy_auth_ident_from(&id, &k, &u);
    assert_string_equal(id.role, "admin");
    assert_false(id.any_model);
    assert_true(sy_auth_model_allowed(&id, sy_str_c("mock")));
    assert_true(sy_auth_model_allowed(&id, sy_str_c("gpt-4o")));
    assert_false(sy_auth_model_allowed(&id, sy_str_c("gpt-4")));
    assert_false(sy_auth_model_allowed(&id, sy_str_c("mock2")));
    assert_null(sy_auth_ident_refusal(&id, 4999));
    assert_non_null(strstr(sy_auth_ident_refusal(&id, 5000), "expired"));
    id.revoked_us = 100;
    assert_non_null(strstr(sy_auth_ident_refusal(&id, 200), "revoked"));
    id.revoked_us = 0;
    id.expires_us = 0;
    id.grace_until_us = 300;
    assert_null(sy_auth_ident_refusal(&id, 299));
    assert_non_null(strstr(sy_auth_ident_refusal(&id, 300), "rotated"));
    k.allowed_models = NULL;
    u.disabled_us = 1;
    sy_auth_ident_from(&id, &k, &u);
    assert_true(id.any_model);
    assert_true(sy_auth_model_allowed(&id, sy_str_c("anything")));
    assert_non_null(strstr(sy_auth_ident_refusal(&id, 1), "disabled"));
}

/* A chat generation's identity (api/chatgen.h): a session user, outside the cache, refcounted. */
static void ident_for_user(void **state)
{
    (void)state;
    sy_app_user_t u = {.id = "u1", .role = "member", .limits = "[\"1/minute\"]"};
    sy_auth_ident_t id;
    sy_auth_ident_from_user(&id, &u);
    assert_string_equal(id.key_id, "");
    assert_string_equal(id.user_id, "u1");
    assert_string_equal(id.role, "member");
    assert_true(id.any_model);
    assert_int_equal(id.limits[SY_LIMITS_ENT_KEY].n, -1);
    assert_int_equal(id.limits[SY_LIMITS_ENT_USER].n, 1);
    assert_int_equal(id.limits[SY_LIMITS_ENT_TEAM].n, -1);
    snprintf(id.row_id, sizeof id.row_id, "row-1");
    const sy_auth_ident_t *a = sy_auth_ident_new(&id);
    assert_string_equal(a->scope[SY_LIMITS_ENT_KEY], ""); /* no key: no key limits */
    assert_string_equal(a->scope[SY_LIMITS_ENT_USER], "user:u1");
    assert_int_equal(a->scope_hash[SY_LIMITS_ENT_USER], sy_limits_scope_hash("user:u1"));
    assert_string_equal(a->row_id, "row-1");
    assert_ptr_equal(sy_auth_ident_ref(a), a);
    assert_null(sy_auth_ident_ref(NULL));
    sy_auth_ident_release(a);
    assert_string_equal(a->user_id, "u1"); /* still held once (ASan would see a free) */
    sy_auth_ident_release(a);
}

static void entity_limits(void **state)
{
    (void)state;
    sy_auth_limits_t l;
    char m[256];
    assert_int_equal(sy_auth_limits_parse(NULL, &l, m, sizeof m), SY_OK);
    assert_int_equal(l.n, -1); /* inherit the defaults */
    assert_int_equal(sy_auth_limits_parse("[]", &l, m, sizeof m), SY_OK);
    assert_int_equal(l.n, 0); /* explicitly none */
    assert_int_equal(sy_auth_limits_parse("[\"5/minute\",\"$1.5/day\"]", &l, m, sizeof m), SY_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.v[1].kind, SY_LIMIT_BUDGET);
    assert_int_equal(l.v[1].amount, 1500000000);
    assert_int_equal(sy_auth_limits_parse("[\"5/minute\",\"7/fortnight\"]", &l, m, sizeof m),
                     SY_ERR_INVALID_REQUEST);
    assert_non_null(strstr(m, "limits[1]: '7/fortnight': "));
    assert_int_equal(l.n, -1);
    assert_int_equal(sy_auth_limits_parse("[\"5/minute\",\"6/min\"]", &l, m, sizeof m),
                     SY_ERR_INVALID_REQUEST);
    assert_non_null(strstr(m, "limits[1]: '6/min': the same kind of limit twice"));
    assert_int_equal(sy_auth_limits_parse("[5]", &l, m, sizeof m), SY_ERR_INVALID_REQUEST);
    assert_non_null(strstr(m, "limits[0]: expected a string"));
    assert_int_equal(sy_auth_limits_parse("{\"a\":1}", &l, m, sizeof m), SY_ERR_INVALID_REQUEST);
    assert_int_equal(
        sy_auth_limits_parse("[\"1/m\",\"1/h\",\"1/d\",\"1 tokens/m\",\"1 tokens/h\","
                             "\"1 tokens/d\",\"1 concurrent\",\"$1/day\",\"$1/month\"]",
                             &l, m, sizeof m),
        SY_ERR_INVALID_REQUEST); /* 9 > SY_AUTH_LIMITS_MAX */
    /* ident_from: the key's and the owner's own lists */
    sy_app_key_t k = {.id = "k", .owner_user = "u", .limits = "[\"3/minute\"]"};
    sy_app_user_t u = {.id = "u", .role = "member"};
    sy_auth_ident_t id;
    sy_auth_ident_from(&id, &k, &u);
    assert_int_equal(id.limits[SY_LIMITS_ENT_KEY].n, 1);
    assert_int_equal(id.limits[SY_LIMITS_ENT_KEY].v[0].amount, 3);
    assert_int_equal(id.limits[SY_LIMITS_ENT_USER].n, -1);
    assert_int_equal(id.limits[SY_LIMITS_ENT_TEAM].n, -1);
}

static void passwords(void **state)
{
    (void)state;
    if (sodium_init() < 0) fail();
    char h[SY_AUTH_PWHASH_MAX];
    assert_int_equal(sy_auth_password_hash("correct horse battery", h), SY_OK);
    assert_memory_equal(h, "$argon2id$", 10);
    assert_true(sy_auth_password_verify(h, "correct horse battery"));
    assert_false(sy_auth_password_verify(h, "correct horse batterz"));
    assert_false(sy_auth_password_verify(NULL, "x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_format_and_hash),
        cmocka_unit_test(cache_ttl_negative_forget),
        cmocka_unit_test(cache_stale_while_reload),
        cmocka_unit_test(cache_references_across_threads),
        cmocka_unit_test(validity_and_models),
        cmocka_unit_test(entity_limits),
        cmocka_unit_test(ident_for_user),
        cmocka_unit_test(passwords),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
