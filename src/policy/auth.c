/* Keys, tokens, passwords and the key cache (see auth.h for the design). */
#include "policy/auth.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/alloc.h"
#include "core/uuid.h"
#include "policy/limits.h"
#include "store/appdata.h"

typedef struct entry {
    uint8_t tag[SY_AUTH_TAG_LEN]; /* the index and the hit check */
    uint8_t sha[32];              /* the stored form: what a forget names */
    uint64_t loaded_us;
    bool found;
    bool refreshing;  /* a stale hit asked for a reload that has not come back (under lock) */
    atomic_uint refs; /* the slot's, and one per request holding ident */
    sy_auth_ident_t ident;
} entry_t;

struct sy_auth {
    sy_authconf_t conf;
    sy_store_t *store;
    sy_limits_t *login;
    pthread_mutex_t lock;
    uint64_t gen;                                          /* under lock: bumped by every forget */
    uint8_t tag_key[crypto_shorthash_siphashx24_KEYBYTES]; /* random, per process */
    entry_t *slots[SY_AUTH_CACHE_SLOTS];
    sy_auth_cache_stats_t stats; /* under lock */
};

sy_auth_t *sy_auth_new(const sy_authconf_t *conf, sy_store_t *store)
{
    if (sodium_init() < 0) abort(); /* no usable randomness: nothing secure can be done */
    sy_auth_t *a = sy_xcalloc(1, sizeof(*a));
    a->conf = *conf;
    a->store = store;
    a->login = sy_limits_local_new(NULL);
    pthread_mutex_init(&a->lock, NULL);
    randombytes_buf(a->tag_key, sizeof(a->tag_key));
    return a;
}

void sy_auth_free(sy_auth_t *a)
{
    if (!a) return;
    for (size_t i = 0; i < SY_AUTH_CACHE_SLOTS; i++)
        if (a->slots[i]) sy_auth_ident_release(&a->slots[i]->ident);
    sy_limits_free(a->login);
    pthread_mutex_destroy(&a->lock);
    sodium_memzero(a->tag_key, sizeof(a->tag_key));
    free(a);
}

sy_store_t *sy_auth_store(const sy_auth_t *a)
{
    return a->store;
}
const sy_authconf_t *sy_auth_conf(const sy_auth_t *a)
{
    return &a->conf;
}
struct sy_limits *sy_auth_login_limits(sy_auth_t *a)
{
    return a->login;
}

/* ---- keys, tokens ---- */

static void b64url(const uint8_t *bin, size_t n, char *out, size_t outlen)
{
    sodium_bin2base64(out, outlen, bin, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void sy_auth_hash_raw(const void *data, size_t len, uint8_t out[32])
{
    crypto_hash_sha256(out, data, len);
}

void sy_auth_hash_hex(const void *data, size_t len, char hex[SY_AUTH_HEX_LEN + 1])
{
    uint8_t h[32];
    sy_auth_hash_raw(data, len, h);
    sodium_bin2hex(hex, SY_AUTH_HEX_LEN + 1, h, sizeof(h));
}

void sy_auth_key_new(char key[SY_AUTH_KEY_LEN + 1], char prefix[SY_AUTH_PREFIX_LEN + 1],
                     char hash[SY_AUTH_HEX_LEN + 1])
{
    uint8_t r[32];
    randombytes_buf(r, sizeof(r));
    memcpy(key, "sy-", 3);
    b64url(r, sizeof(r), key + 3, SY_AUTH_KEY_LEN - 3 + 1);
    sodium_memzero(r, sizeof(r));
    memcpy(prefix, key, SY_AUTH_PREFIX_LEN);
    prefix[SY_AUTH_PREFIX_LEN] = '\0';
    sy_auth_hash_hex(key, SY_AUTH_KEY_LEN, hash);
}

bool sy_auth_key_well_formed(sy_str_t key)
{
    /* base64url alphabet; a table, not range tests: every authenticated request runs this */
    static const bool b64url_char[256] = {
        ['-'] = 1, ['_'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
        ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
        ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
        ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
        ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1,
        ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
        ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
        ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1};
    if (key.len != SY_AUTH_KEY_LEN || memcmp(key.ptr, "sy-", 3) != 0) return false;
    bool ok = true;
    for (size_t i = 3; i < key.len; i++)
        ok &= b64url_char[(unsigned char)key.ptr[i]];
    return ok;
}

void sy_auth_token_new(char out[SY_AUTH_TOKEN_LEN + 1])
{
    uint8_t r[32];
    randombytes_buf(r, sizeof(r));
    b64url(r, sizeof(r), out, SY_AUTH_TOKEN_LEN + 1);
    sodium_memzero(r, sizeof(r));
}

sy_err_t sy_auth_password_hash(const char *pw, char hash[SY_AUTH_PWHASH_MAX])
{
    _Static_assert(crypto_pwhash_STRBYTES <= SY_AUTH_PWHASH_MAX, "pwhash string size");
    if (crypto_pwhash_str(hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return SY_ERR_INTERNAL; /* out of memory for the 64 MiB work area */
    return SY_OK;
}

bool sy_auth_password_verify(const char *hash, const char *pw)
{
    return hash && crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

/* ---- cache ---- */

void sy_auth_key_tag(const sy_auth_t *a, const void *key, size_t len, uint8_t tag[SY_AUTH_TAG_LEN])
{
    _Static_assert(crypto_shorthash_siphashx24_BYTES == SY_AUTH_TAG_LEN, "tag size");
    crypto_shorthash_siphashx24(tag, key, len, a->tag_key);
}

static size_t slot_of(const uint8_t tag[SY_AUTH_TAG_LEN])
{
    return ((size_t)tag[0] << 8 | tag[1]) % SY_AUTH_CACHE_SLOTS;
}

static entry_t *entry_of(const sy_auth_ident_t *ident)
{
    return (entry_t *)((char *)ident - offsetof(entry_t, ident));
}

void sy_auth_ident_release(const sy_auth_ident_t *ident)
{
    if (!ident) return;
    entry_t *e = entry_of(ident);
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) free(e);
}

/* How long past its TTL a key's entry is still served while it is reloaded: long enough for a
 * store lookup, short enough that a revocation made on another replica is not held up by it. */
static uint64_t stale_grace_us(uint64_t ttl_us)
{
    return ttl_us < SY_AUTH_STALE_GRACE_US ? ttl_us : SY_AUTH_STALE_GRACE_US;
}

int sy_auth_cache_get(sy_auth_t *a, const uint8_t tag[SY_AUTH_TAG_LEN], uint64_t now_mono_us,
                      const sy_auth_ident_t **out, uint8_t refresh_sha256[32])
{
    int r = -1;
    uint64_t ttl = (uint64_t)a->conf.key_cache_ttl_s * 1000000;
    pthread_mutex_lock(&a->lock);
    entry_t *e = a->slots[slot_of(tag)];
    if (e && sodium_memcmp(e->tag, tag, SY_AUTH_TAG_LEN) == 0) {
        /* a put on another thread may be stamped after the caller read its clock */
        uint64_t age = now_mono_us > e->loaded_us ? now_mono_us - e->loaded_us : 0;
        if (age < ttl)
            r = e->found;
        else if (e->found && refresh_sha256 && age < ttl + stale_grace_us(ttl)) {
            /* stale: still served while one reload runs, so requests never queue behind it */
            r = 1;
            if (!e->refreshing) {
                e->refreshing = true;
                memcpy(refresh_sha256, e->sha, 32);
                r = 2;
            }
        }
        if (r >= 1) {
            atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
            *out = &e->ident;
        }
        if (age >= ttl && r >= 1) a->stats.stale++;
        if (r == 2) a->stats.reloads++;
    }
    if (r == 1 || r == 2)
        a->stats.hits++;
    else if (r == 0)
        a->stats.negative++;
    else
        a->stats.misses++;
    pthread_mutex_unlock(&a->lock);
    return r;
}

void sy_auth_cache_stats(sy_auth_t *a, sy_auth_cache_stats_t *out)
{
    pthread_mutex_lock(&a->lock);
    *out = a->stats;
    pthread_mutex_unlock(&a->lock);
}

void sy_auth_cache_refresh_failed(sy_auth_t *a, const uint8_t tag[SY_AUTH_TAG_LEN])
{
    pthread_mutex_lock(&a->lock);
    entry_t *e = a->slots[slot_of(tag)];
    if (e && sodium_memcmp(e->tag, tag, SY_AUTH_TAG_LEN) == 0) e->refreshing = false;
    pthread_mutex_unlock(&a->lock);
}

uint64_t sy_auth_cache_gen(sy_auth_t *a)
{
    pthread_mutex_lock(&a->lock);
    uint64_t g = a->gen;
    pthread_mutex_unlock(&a->lock);
    return g;
}

/* The limits phase's scopes, once per entry ("key:" + id; "" for no id). */
static void fill_scopes(sy_auth_ident_t *id)
{
    static const char *const prefix[SY_LIMITS_ENT__COUNT] = {"key:", "user:", "team:"};
    const char *ids[SY_LIMITS_ENT__COUNT] = {id->key_id, id->user_id, id->team_id};
    for (int e = 0; e < SY_LIMITS_ENT__COUNT; e++) {
        id->scope[e][0] = '\0';
        id->scope_hash[e] = 0;
        if (!ids[e][0]) continue;
        snprintf(id->scope[e], sizeof(id->scope[e]), "%s%s", prefix[e], ids[e]);
        id->scope_hash[e] = sy_limits_scope_hash(id->scope[e]);
    }
}

const sy_auth_ident_t *sy_auth_cache_put(sy_auth_t *a, const uint8_t tag[SY_AUTH_TAG_LEN],
                                         const uint8_t sha256[32], const sy_auth_ident_t *ident,
                                         uint64_t now_mono_us, uint64_t gen)
{
    entry_t *e = sy_xmalloc(sizeof(*e));
    memcpy(e->tag, tag, SY_AUTH_TAG_LEN);
    memcpy(e->sha, sha256, 32);
    e->loaded_us = now_mono_us;
    e->found = ident != NULL;
    e->refreshing = false;
    if (ident) {
        e->ident = *ident;
        fill_scopes(&e->ident);
    } else {
        memset(&e->ident, 0, sizeof(e->ident));
    }
    /* the caller's reference (found only), and the slot's if it is cached */
    atomic_init(&e->refs, e->found ? 1u : 0u);
    entry_t *old = NULL;
    bool cached = false;
    pthread_mutex_lock(&a->lock);
    entry_t *cur = a->slots[slot_of(tag)];
    if (a->gen == gen) {
        old = cur;
        a->slots[slot_of(tag)] = e;
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
        cached = true;
    } else if (cur && sodium_memcmp(cur->tag, tag, SY_AUTH_TAG_LEN) == 0) {
        cur->refreshing = false; /* a reload's answer dropped: the next stale hit asks again */
    }
    pthread_mutex_unlock(&a->lock);
    if (old) sy_auth_ident_release(&old->ident);
    /* Past the unlock a cached "no such key" entry belongs to the slot alone: another thread
     * may replace it and free it at any moment, so decide from the argument, not from e. */
    if (!ident) {
        if (!cached) free(e);
        return NULL;
    }
    return &e->ident; /* the caller's reference keeps it alive */
}

void sy_auth_cache_forget(sy_auth_t *a, const char *hash_hex)
{
    uint8_t h[32];
    if (!hash_hex ||
        sodium_hex2bin(h, sizeof(h), hash_hex, strlen(hash_hex), NULL, NULL, NULL) != 0)
        return;
    entry_t *old = NULL;
    /* the cache is indexed by the tag, which cannot be derived from the hash: a scan (admin
     * revoke/rotate only; 4,096 pointer reads) */
    pthread_mutex_lock(&a->lock);
    a->gen++;
    for (size_t i = 0; i < SY_AUTH_CACHE_SLOTS && !old; i++) {
        entry_t *e = a->slots[i];
        if (e && memcmp(e->sha, h, 32) == 0) {
            old = e;
            a->slots[i] = NULL;
        }
    }
    pthread_mutex_unlock(&a->lock);
    if (old) sy_auth_ident_release(&old->ident);
}

/* ---- identities ---- */

static void copy_id(char *dst, const char *src)
{
    snprintf(dst, SY_AUTH_ID_MAX, "%s", src ? src : "");
}

/* A JSON array of strings (NULL: none) into NUL-separated names ending with "". */
static void string_list(char *out, size_t cap, const char *json)
{
    out[0] = '\0';
    if (!json) return;
    json_t *arr = json_loads(json, 0, NULL);
    size_t used = 0, i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *m = json_string_value(v);
        size_t n = m ? strlen(m) : 0;
        if (!n || used + n + 2 > cap) continue; /* the admin API caps the list */
        memcpy(out + used, m, n + 1);
        used += n + 1;
        out[used] = '\0';
    }
    json_decref(arr);
}

sy_err_t sy_auth_limits_parse(const char *text, sy_auth_limits_t *out, char *err, size_t errlen)
{
    out->n = -1;
    if (!text) return SY_OK;
    json_t *a = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    sy_err_t e = SY_OK;
    if (!json_is_array(a) || json_array_size(a) > SY_AUTH_LIMITS_MAX) {
        snprintf(err, errlen,
                 "'limits' must be null or an array of at most %d limit strings such as "
                 "\"100/hour\"",
                 SY_AUTH_LIMITS_MAX);
        e = SY_ERR_INVALID_REQUEST;
        goto out;
    }
    out->n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        const char *s = json_string_value(v);
        char m[160];
        sy_limit_t l = {0};
        if (!s) {
            snprintf(err, errlen, "limits[%zu]: expected a string such as \"100/hour\"", i);
            e = SY_ERR_INVALID_REQUEST;
            goto out;
        }
        if (sy_limits_parse(s, &l, m, sizeof(m))) {
            snprintf(err, errlen, "limits[%zu]: '%.64s': %s", i, s, m);
            e = SY_ERR_INVALID_REQUEST;
            goto out;
        }
        for (int j = 0; j < out->n; j++)
            if (out->v[j].kind == l.kind && out->v[j].window == l.window) {
                snprintf(err, errlen, "limits[%zu]: '%.64s': the same kind of limit twice", i, s);
                e = SY_ERR_INVALID_REQUEST;
                goto out;
            }
        out->v[out->n++] = l;
    }
out:
    if (e) out->n = -1;
    json_decref(a);
    return e;
}

void sy_auth_ident_from(sy_auth_ident_t *out, const sy_app_key_t *k, const sy_app_user_t *owner)
{
    memset(out, 0, sizeof(*out));
    for (int e = 0; e < SY_LIMITS_ENT__COUNT; e++)
        out->limits[e].n = -1;
    copy_id(out->key_id, k->id);
    copy_id(out->user_id, k->owner_user);
    copy_id(out->team_id, k->owner_team);
    if (owner) {
        snprintf(out->role, sizeof(out->role), "%s", owner->role ? owner->role : "");
        out->owner_disabled = owner->disabled_us != 0;
    }
    out->expires_us = k->expires_us;
    out->revoked_us = k->revoked_us;
    out->grace_until_us = k->grace_until_us;
    out->any_model = !k->allowed_models;
    string_list(out->models, sizeof(out->models), k->allowed_models);
    char m[200];
    sy_auth_limits_parse(k->limits, &out->limits[SY_LIMITS_ENT_KEY], m, sizeof(m));
    if (owner) sy_auth_limits_parse(owner->limits, &out->limits[SY_LIMITS_ENT_USER], m, sizeof(m));
    string_list(out->tags, sizeof(out->tags), k->default_tags);
}

void sy_auth_ident_from_user(sy_auth_ident_t *out, const sy_app_user_t *u)
{
    memset(out, 0, sizeof(*out));
    for (int e = 0; e < SY_LIMITS_ENT__COUNT; e++)
        out->limits[e].n = -1;
    copy_id(out->user_id, u->id);
    snprintf(out->role, sizeof(out->role), "%s", u->role ? u->role : "");
    out->owner_disabled = u->disabled_us != 0;
    out->any_model = true;
    char m[200];
    sy_auth_limits_parse(u->limits, &out->limits[SY_LIMITS_ENT_USER], m, sizeof(m));
}

const sy_auth_ident_t *sy_auth_ident_new(const sy_auth_ident_t *src)
{
    entry_t *e = sy_xcalloc(1, sizeof(*e));
    e->found = true;
    e->ident = *src;
    fill_scopes(&e->ident);
    atomic_init(&e->refs, 1u);
    return &e->ident;
}

const sy_auth_ident_t *sy_auth_ident_ref(const sy_auth_ident_t *ident)
{
    if (ident) atomic_fetch_add_explicit(&entry_of(ident)->refs, 1, memory_order_relaxed);
    return ident;
}

sy_err_t sy_auth_load_key(sy_auth_t *a, const char *hash_hex, int64_t now_us, sy_auth_ident_t *out,
                          char *msg, size_t msglen)
{
    sy_app_key_t *k = NULL;
    sy_app_user_t *u = NULL;
    sy_err_t err = sy_app_key_find_hash(a->store, hash_hex, &k, msg, msglen);
    if (err) return err;
    /* the lookup was by hash; compare once more in constant time before trusting the row */
    if (!k->hash || strlen(k->hash) != SY_AUTH_HEX_LEN ||
        sodium_memcmp(k->hash, hash_hex, SY_AUTH_HEX_LEN) != 0) {
        sy_app_key_free(k);
        return SY_ERR_NOT_FOUND;
    }
    if (k->owner_user) {
        err = sy_app_user_get(a->store, k->owner_user, NULL, &u, msg, msglen);
        if (err == SY_ERR_NOT_FOUND) err = SY_OK; /* owner deleted: a key without a role */
        if (err) goto out;
    }
    sy_auth_ident_from(out, k, u);
    if (k->owner_team) { /* the team's own limits travel with its keys */
        sy_app_team_t *t = NULL;
        err = sy_app_team_get(a->store, k->owner_team, &t, msg, msglen);
        if (err == SY_OK) {
            char m[200];
            sy_auth_limits_parse(t->limits, &out->limits[SY_LIMITS_ENT_TEAM], m, sizeof(m));
        }
        sy_app_team_free(t);
        if (err == SY_ERR_NOT_FOUND) err = SY_OK;
        if (err) goto out;
    }
    sy_app_key_touch(a->store, k->id, now_us, NULL, 0); /* best effort */
out:
    sy_app_key_free(k);
    sy_app_user_free(u);
    return err;
}

const char *sy_auth_ident_refusal(const sy_auth_ident_t *id, int64_t now_us)
{
    if (id->revoked_us && id->revoked_us <= now_us) return "the API key has been revoked";
    if (id->expires_us && id->expires_us <= now_us) return "the API key has expired";
    if (id->grace_until_us && id->grace_until_us <= now_us)
        return "the API key was rotated and its grace period is over";
    if (id->owner_disabled) return "the API key's owner is disabled";
    return NULL;
}

bool sy_auth_model_allowed(const sy_auth_ident_t *id, sy_str_t model)
{
    if (id->any_model) return true;
    for (const char *m = id->models; *m; m += strlen(m) + 1)
        if (sy_str_eq_c(model, m)) return true;
    return false;
}

/* ---- first start ---- */

sy_err_t sy_auth_bootstrap(sy_auth_t *a, FILE *out, char *msg, size_t msglen)
{
    int64_t n = 0;
    sy_err_t err = sy_app_user_count(a->store, "admin", &n, msg, msglen);
    if (err || n > 0) return err;
    const char *env_pw = getenv("SWITCHYARD_ADMIN_PASSWORD");
    const char *env_key = getenv("SWITCHYARD_ADMIN_KEY");
    const char *env_email = getenv("SWITCHYARD_ADMIN_EMAIL");
    if (env_key && !sy_auth_key_well_formed(sy_str_c(env_key)))
        return sy_store_fail(SY_ERR_CONFIG, msg, msglen,
                             "SWITCHYARD_ADMIN_KEY must be 'sy-' followed by 43 base64url "
                             "characters (e.g. from a previous first start)");
    if (env_pw && strlen(env_pw) < 12)
        return sy_store_fail(SY_ERR_CONFIG, msg, msglen,
                             "SWITCHYARD_ADMIN_PASSWORD must be at least 12 characters");
    char pw[SY_AUTH_TOKEN_LEN + 1], key[SY_AUTH_KEY_LEN + 1], prefix[SY_AUTH_PREFIX_LEN + 1];
    char hash[SY_AUTH_HEX_LEN + 1], pwhash[SY_AUTH_PWHASH_MAX];
    if (env_pw)
        snprintf(pw, sizeof(pw), "%s", ""); /* unused */
    else
        sy_auth_token_new(pw);
    if (env_key) {
        memcpy(key, env_key, SY_AUTH_KEY_LEN + 1);
        memcpy(prefix, key, SY_AUTH_PREFIX_LEN);
        prefix[SY_AUTH_PREFIX_LEN] = '\0';
        sy_auth_hash_hex(key, SY_AUTH_KEY_LEN, hash);
    } else {
        sy_auth_key_new(key, prefix, hash);
    }
    err = sy_auth_password_hash(env_pw ? env_pw : pw, pwhash);
    if (err) return sy_store_fail(err, msg, msglen, "cannot hash the admin password");
    char uid[SY_UUID_STRLEN + 1], kid[SY_UUID_STRLEN + 1];
    sy_uuid_v7(uid);
    sy_uuid_v7(kid);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t now = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
    const char *email = env_email && *env_email ? env_email : "admin@localhost";
    sy_app_user_t u = {.id = uid,
                       .email = (char *)email,
                       .name = "Administrator",
                       .role = "admin",
                       .pw_hash = pwhash,
                       .created_us = now};
    err = sy_app_user_insert(a->store, &u, msg, msglen);
    if (err) goto out;
    sy_app_key_t k = {.id = kid,
                      .name = "admin (first start)",
                      .prefix = prefix,
                      .hash = hash,
                      .owner_user = uid,
                      .created_us = now};
    err = sy_app_key_insert(a->store, &k, msg, msglen);
    if (err) goto out;
    sy_app_audit_t au = {
        .t_us = now, .actor = "system", .action = "admin.bootstrap", .target = uid, .remote = ""};
    sy_app_audit_append(a->store, &au, NULL, 0);
    fprintf(out, "switchyard: first start: created the admin user %s\n", email);
    if (env_pw)
        fprintf(out, "  password: from SWITCHYARD_ADMIN_PASSWORD\n");
    else
        fprintf(out, "  password: %s   (shown once: store it now)\n", pw);
    if (env_key)
        fprintf(out, "  API key:  from SWITCHYARD_ADMIN_KEY (%s…)\n", prefix);
    else
        fprintf(out, "  API key:  %s   (shown once: store it now)\n", key);
    fflush(out);
out:
    sodium_memzero(pw, sizeof(pw));
    sodium_memzero(key, sizeof(key));
    return err;
}
