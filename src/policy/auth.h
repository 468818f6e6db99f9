/* Identity primitives: virtual API keys (generate, hash), session tokens, Argon2id passwords,
 * and the process-wide key cache the gateway's hot path reads (docs/internals/AUTH.md).
 *
 * DESIGN
 * - A key is "sy-" + base64url(32 random bytes) = 46 characters. Only its SHA-256 (hex) is
 *   stored; a presented key is hashed, looked up by hash, and the hash compared with
 *   sodium_memcmp (constant time) before it is trusted.
 * - The cache maps a presented key to what it grants (sy_auth_ident_t), or to "no such key"
 *   (negative entry, so a flood of wrong keys does not reach the store). It is indexed by the
 *   key's tag: SipHash-2-4 with a 128-bit output (crypto_shorthash_siphashx24) under a random
 *   key drawn when the process starts — a keyed PRF about ten times cheaper than SHA-256, so a
 *   cache hit never computes SHA-256. A hit needs the whole 16-byte tag to be equal
 *   (sodium_memcmp, constant time); without the process key nobody can make a key whose tag
 *   equals a cached one other than by chance (2^-128 per try). A miss computes the SHA-256 (the
 *   stored form) and asks the store as before; the entry keeps that SHA-256 so that a
 *   revoke/rotate (which knows only the hash) can forget it.
 * - Direct-mapped: SY_AUTH_CACHE_SLOTS slots indexed by the tag's first bytes, one entry each,
 *   a collision replaces; so memory is bounded and a lookup is O(1) under one mutex. An entry
 *   is used for key_cache_ttl_s after it was loaded, then served stale for at most 2 s more
 *   (SY_AUTH_STALE_GRACE_US, less for a shorter TTL) while one background reload runs (so a busy
 * key's requests never wait for the store when its entry ages out); validity in time (expiry,
 * revocation, the rotation grace) is checked on every use against the wall clock, so an expired key
 * stops at once even when cached. A revoke/rotate through this process's admin API forgets the
 * entry at once (a scan of the slots for its SHA-256); one made on another replica takes effect
 *   within key_cache_ttl_s plus at most 2 s.
 * - Entries are refcounted: a hit returns a reference to the entry's identity (no copy), which
 *   the request holds until it ends (sy_auth_ident_release); an entry replaced, forgotten or
 *   expired meanwhile stays alive until its last reference is dropped. The identity also holds
 *   what the limits phase needs, built once per entry: the scope strings "key:<id>",
 *   "user:<id>", "team:<id>" and their hashes (sy_limits_scope_hash).
 * Threads: every function may be called from any thread (the cache has its own lock);
 * sy_auth_load_key and the password functions block (store, Argon2id): thread pool only. */
#ifndef SY_POLICY_AUTH_H
#define SY_POLICY_AUTH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf/config.h"
#include "core/err.h"
#include "core/str.h"
#include "store/store.h"

#define SY_AUTH_KEY_LEN 46    /* "sy-" + 43 */
#define SY_AUTH_PREFIX_LEN 11 /* "sy-" + 8: shown in lists, not enough to use the key */
#define SY_AUTH_HEX_LEN 64    /* SHA-256 as lowercase hex */
#define SY_AUTH_TOKEN_LEN 43  /* base64url of 32 random bytes (session, CSRF) */
#define SY_AUTH_ID_MAX 64
#define SY_AUTH_MODELS_MAX 512 /* bytes of a key's allowed-model list, NUL-separated */
#define SY_AUTH_CACHE_SLOTS 4096
#define SY_AUTH_PRESENTED_MAX 256      /* a presented key longer than this is refused unread */
#define SY_AUTH_TAG_LEN 16             /* the cache index of a presented key (keyed SipHash-128) */
#define SY_AUTH_STALE_GRACE_US 2000000 /* a key's entry served past its TTL while reloading */
#define SY_AUTH_SCOPE_MAX (SY_AUTH_ID_MAX + 8) /* "team:" + id */

/* An entity's own limits (admin API `limits`): n = -1 when it has none of its own (the config's
 * limits.defaults apply), 0 for an explicit empty list (no limits). Scopes are NULL. */
#define SY_AUTH_LIMITS_MAX 8
typedef struct sy_auth_limits {
    int n;
    sy_limit_t v[SY_AUTH_LIMITS_MAX];
} sy_auth_limits_t;

/* What a valid key grants; plain data. The cache hands out references (sy_auth_cache_get). */
typedef struct sy_auth_ident {
    char key_id[SY_AUTH_ID_MAX];
    char user_id[SY_AUTH_ID_MAX]; /* owner user, or "" */
    char team_id[SY_AUTH_ID_MAX]; /* owner team, or "" */
    char role[16];                /* the owner user's role ("admin" …), "" for team keys */
    bool owner_disabled;
    bool any_model;                  /* no allow-list */
    char models[SY_AUTH_MODELS_MAX]; /* allowed models, each NUL-terminated, "" ends */
    char tags[SY_AUTH_MODELS_MAX];   /* default tags, same layout */
    int64_t expires_us, revoked_us, grace_until_us; /* 0: never */
    sy_auth_limits_t limits[SY_LIMITS_ENT__COUNT];  /* the key's, its user's, its team's */
    /* Filled by sy_auth_cache_put: "key:<key_id>", "user:<user_id>", "team:<team_id>" ("" when
     * that id is ""), and each one's sy_limits_scope_hash (0 for ""). */
    char scope[SY_LIMITS_ENT__COUNT][SY_AUTH_SCOPE_MAX];
    uint64_t scope_hash[SY_LIMITS_ENT__COUNT];
    /* Only for a chat generation's identity (sy_auth_ident_new, api/chatgen.h): the id the
     * call's last inference-log row gets (the answer's log_id); "" otherwise. */
    char row_id[40];
} sy_auth_ident_t;

typedef struct sy_auth sy_auth_t;
struct sy_app_key;
struct sy_app_user;
struct sy_limits;

/* New cache + login limiter. store: the app-data store (NULL in local mode). */
sy_auth_t *sy_auth_new(const sy_authconf_t *conf, sy_store_t *store);
void sy_auth_free(sy_auth_t *a);
sy_store_t *sy_auth_store(const sy_auth_t *a);
const sy_authconf_t *sy_auth_conf(const sy_auth_t *a);
/* The in-process limiter used for login throttling (policy/limits.h). */
struct sy_limits *sy_auth_login_limits(sy_auth_t *a);

/* Keys and tokens. key_new writes a fresh key, its visible prefix and its hash (all
 * NUL-terminated). hash_hex: SHA-256 of data as hex; hash_raw: the 32 bytes. */
void sy_auth_key_new(char key[SY_AUTH_KEY_LEN + 1], char prefix[SY_AUTH_PREFIX_LEN + 1],
                     char hash[SY_AUTH_HEX_LEN + 1]);
bool sy_auth_key_well_formed(sy_str_t key);
void sy_auth_hash_hex(const void *data, size_t len, char hex[SY_AUTH_HEX_LEN + 1]);
void sy_auth_hash_raw(const void *data, size_t len, uint8_t out[32]);
void sy_auth_token_new(char out[SY_AUTH_TOKEN_LEN + 1]);

/* Argon2id (crypto_pwhash_str, interactive limits). hash: SY_AUTH_PWHASH_MAX bytes.
 * Thread pool only (tens of ms, 64 MiB). */
#define SY_AUTH_PWHASH_MAX 128
sy_err_t sy_auth_password_hash(const char *pw, char hash[SY_AUTH_PWHASH_MAX]);
bool sy_auth_password_verify(const char *hash, const char *pw);

/* The cache index of a presented key (see DESIGN): keyed SipHash-128 under this process's
 * random key. Any thread. */
void sy_auth_key_tag(const sy_auth_t *a, const void *key, size_t len, uint8_t tag[SY_AUTH_TAG_LEN]);

/* Cache lookup by tag: 1 = hit, a key (*out: a reference to the cached identity, valid until
 * sy_auth_ident_release), 0 = hit, no such key, -1 = miss (ask the store). now_mono_us: a
 * monotonic clock. Never computes SHA-256.
 * refresh_sha256 non-NULL: a key's entry past key_cache_ttl_s (by less than
 * min(TTL, SY_AUTH_STALE_GRACE_US)) is still a hit, and
 * the first such lookup returns 2 with the key's SHA-256 in refresh_sha256: that caller reloads
 * the key from the store (its answer replaces the entry through put; a failed reload calls
 * sy_auth_cache_refresh_failed) while every request keeps being served from the cache. NULL:
 * an entry past its TTL is a miss. */
int sy_auth_cache_get(sy_auth_t *a, const uint8_t tag[SY_AUTH_TAG_LEN], uint64_t now_mono_us,
                      const sy_auth_ident_t **out, uint8_t refresh_sha256[32]);
/* Lookups since start (switchyard_auth_cache_lookups_total): hits (stale ones included),
 * "no such key" hits, misses; of the hits, those served stale and the reloads they started. */
typedef struct sy_auth_cache_stats {
    uint64_t hits, negative, misses, stale, reloads;
} sy_auth_cache_stats_t;
void sy_auth_cache_stats(sy_auth_t *a, sy_auth_cache_stats_t *out);

/* A reload asked for by a stale hit failed: the next stale hit asks again. */
void sy_auth_cache_refresh_failed(sy_auth_t *a, const uint8_t tag[SY_AUTH_TAG_LEN]);
/* The cache's generation: it changes on every forget. Read it before a store lookup and pass
 * it to put, which then does not cache the answer if a forget happened meanwhile (a lookup that
 * began before a revoke must not cache the key as still valid). */
uint64_t sy_auth_cache_gen(sy_auth_t *a);
/* Caches the store's answer for the key with this tag and SHA-256 (ident NULL: "no such key");
 * fills the identity's scopes. Returns a reference to the identity as cached (NULL for "no such
 * key"), which the caller releases — also when the generation moved past gen and the answer
 * was therefore not cached. */
const sy_auth_ident_t *sy_auth_cache_put(sy_auth_t *a, const uint8_t tag[SY_AUTH_TAG_LEN],
                                         const uint8_t sha256[32], const sy_auth_ident_t *ident,
                                         uint64_t now_mono_us, uint64_t gen);
/* Drops a reference from sy_auth_cache_get/put (NULL: nothing). Any thread. */
void sy_auth_ident_release(const sy_auth_ident_t *ident);
/* Forgets the entry of the key with this SHA-256 (hex), if cached, and moves the generation. */
void sy_auth_cache_forget(sy_auth_t *a, const char *hash_hex);

/* Thread pool: loads the key with this hash and its owner from the store. SY_ERR_NOT_FOUND
 * when there is none. Also records last_used_us (so last use is exact to key_cache_ttl_s). */
sy_err_t sy_auth_load_key(sy_auth_t *a, const char *hash_hex, int64_t now_us, sy_auth_ident_t *out,
                          char *msg, size_t msglen);
/* Parses an entity's stored limits (a JSON array of sy_limits_parse strings; NULL: out->n = -1,
 * inherit). SY_ERR_INVALID_REQUEST with a message naming the bad entry ("limits[1]: '…': …").
 * Any thread. */
sy_err_t sy_auth_limits_parse(const char *json_text, sy_auth_limits_t *out, char *err,
                              size_t errlen);
/* Fills ident from a key row and its owner (NULL for a team key); limits from both. */
void sy_auth_ident_from(sy_auth_ident_t *out, const struct sy_app_key *k,
                        const struct sy_app_user *owner);

/* Fills ident for a user signed in without a key (a session): no key scope, the user's own
 * limits, any model. */
void sy_auth_ident_from_user(sy_auth_ident_t *out, const struct sy_app_user *u);
/* A refcounted identity outside the cache (scopes filled), one reference for the caller; for
 * the server's own chat generations (api/chatgen.h), which act as the signed-in user. Released
 * with sy_auth_ident_release. Any thread. */
const sy_auth_ident_t *sy_auth_ident_new(const sy_auth_ident_t *src);
/* One more reference to ident (NULL: nothing); returns ident. Any thread. */
const sy_auth_ident_t *sy_auth_ident_ref(const sy_auth_ident_t *ident);

/* NULL when ident may be used at now_us, else why not ("expired", "revoked", …). */
const char *sy_auth_ident_refusal(const sy_auth_ident_t *ident, int64_t now_us);
bool sy_auth_model_allowed(const sy_auth_ident_t *ident, sy_str_t model);

/* First start (blocking; before the loops run): when no enabled admin exists, creates one
 * (email SWITCHYARD_ADMIN_EMAIL or admin@localhost) with a password and an API key, taken from
 * SWITCHYARD_ADMIN_PASSWORD / SWITCHYARD_ADMIN_KEY when set (then never printed), else
 * generated and printed once to out. */
sy_err_t sy_auth_bootstrap(sy_auth_t *a, FILE *out, char *msg, size_t msglen);

#endif
