/* App data: users, teams, virtual API keys, sessions and the audit log, over the store's
 * app_exec slot (SQLite and PostgreSQL: caps APPDATA). Schema: store/migrations.c, meaning:
 * docs/internals/AUTH.md.
 *
 * Threads: like every store call these block; call them only from libuv's thread pool or other
 * non-loop threads (and at start-up before the loops run).
 * Memory: every struct returned is owned by the caller and freed with its _free function
 * (which takes NULL). Strings are heap, NUL-terminated, NULL for SQL NULL; times are µs since
 * the epoch, 0 for NULL ("never"/"unknown").
 * Errors: sy_err_t + msg like store.h; SY_ERR_NOT_FOUND when a get finds nothing;
 * SY_ERR_INVALID_REQUEST when an insert hits a unique constraint (duplicate email, name). */
#ifndef SY_STORE_APPDATA_H
#define SY_STORE_APPDATA_H
#include "store/store.h"

/* Row limits of the list calls (admin lists are small; larger sets need paging later). */
#define SY_APP_LIST_MAX 1000

typedef struct sy_app_user {
    char *id;
    char *email;
    char *name;
    char *role;    /* "admin" | "member" | "viewer" */
    char *pw_hash; /* crypto_pwhash_str output (Argon2id), NULL: no password login */
    int64_t created_us;
    int64_t disabled_us;
    char *limits; /* JSON array of limit strings ("100/hour"); NULL: the config's defaults */
} sy_app_user_t;

typedef struct sy_app_team {
    char *id;
    char *name;
    int64_t created_us;
    char *limits; /* as sy_app_user_t.limits */
} sy_app_team_t;

typedef struct sy_app_key {
    char *id;
    char *name;
    char *prefix; /* the visible start of the key ("sy-AbCd1234"), never enough to use it */
    char *hash;   /* SHA-256 of the whole key, 64 lowercase hex */
    char *owner_user;
    char *owner_team;
    int64_t expires_us;
    int64_t revoked_us;
    char *rotated_from;     /* the key this one replaced */
    int64_t grace_until_us; /* set on the OLD key when rotated: valid until then */
    char *allowed_models;   /* JSON array of public model names; NULL: every model */
    char *default_tags;     /* JSON array of strings; NULL: none */
    int64_t created_us;
    int64_t last_used_us;
    char *limits; /* as sy_app_user_t.limits */
} sy_app_key_t;

typedef struct sy_app_session {
    char *token_hash; /* SHA-256 of the cookie token, hex */
    char *user_id;
    char *csrf;
    int64_t created_us;
    int64_t expires_us;
} sy_app_session_t;

typedef struct sy_app_audit {
    char *id; /* UUIDv7 */
    int64_t t_us;
    char *actor;  /* "user:<id>" or "key:<id>" or "system" */
    char *action; /* "key.create", "user.create", "auth.login", … */
    char *target;
    char *remote; /* client address */
    char *detail; /* JSON object or NULL */
} sy_app_audit_t;

void sy_app_user_free(sy_app_user_t *u);
void sy_app_team_free(sy_app_team_t *t);
void sy_app_key_free(sy_app_key_t *k);
void sy_app_session_free(sy_app_session_t *x);
void sy_app_audit_free(sy_app_audit_t *a);

/* Users. insert: u->id, email, role, created_us required. update: writes name, role, pw_hash,
 * disabled_us of the row with u->id (SY_ERR_NOT_FOUND if none). get: by id, or by email when
 * id is NULL. count: users with that role that are not disabled. */
sy_err_t sy_app_user_insert(sy_store_t *s, const sy_app_user_t *u, char *msg, size_t msglen);
sy_err_t sy_app_user_update(sy_store_t *s, const sy_app_user_t *u, char *msg, size_t msglen);
sy_err_t sy_app_user_get(sy_store_t *s, const char *id, const char *email, sy_app_user_t **out,
                         char *msg, size_t msglen);
sy_err_t sy_app_user_list(sy_store_t *s, sy_app_user_t ***out, size_t *n, char *msg, size_t msglen);
sy_err_t sy_app_user_count(sy_store_t *s, const char *role, int64_t *n, char *msg, size_t msglen);

/* Teams and membership (put: insert or change the member's role). */
sy_err_t sy_app_team_insert(sy_store_t *s, const sy_app_team_t *t, char *msg, size_t msglen);
/* Sets name and limits. */
sy_err_t sy_app_team_update(sy_store_t *s, const sy_app_team_t *t, char *msg, size_t msglen);
sy_err_t sy_app_team_list(sy_store_t *s, sy_app_team_t ***out, size_t *n, char *msg, size_t msglen);
sy_err_t sy_app_team_get(sy_store_t *s, const char *id, sy_app_team_t **out, char *msg,
                         size_t msglen);
sy_err_t sy_app_team_member_put(sy_store_t *s, const char *team_id, const char *user_id,
                                const char *role, char *msg, size_t msglen);
/* The teams user_id belongs to (ids), at most SY_APP_LIST_MAX. */
sy_err_t sy_app_team_members_of(sy_store_t *s, const char *user_id, char ***team_ids, size_t *n,
                                char *msg, size_t msglen);

/* Keys. update: writes name, expires_us, revoked_us, grace_until_us, allowed_models,
 * default_tags of k->id. find_hash: the key whose hash is hash (hex). list: all keys, or those
 * owned by owner_user when it is not NULL, newest first. touch: sets last_used_us. */
sy_err_t sy_app_key_insert(sy_store_t *s, const sy_app_key_t *k, char *msg, size_t msglen);
sy_err_t sy_app_key_update(sy_store_t *s, const sy_app_key_t *k, char *msg, size_t msglen);
sy_err_t sy_app_key_get(sy_store_t *s, const char *id, sy_app_key_t **out, char *msg,
                        size_t msglen);
sy_err_t sy_app_key_find_hash(sy_store_t *s, const char *hash, sy_app_key_t **out, char *msg,
                              size_t msglen);
sy_err_t sy_app_key_list(sy_store_t *s, const char *owner_user, const char *owner_team,
                         sy_app_key_t ***out, size_t *n, char *msg, size_t msglen);
sy_err_t sy_app_key_touch(sy_store_t *s, const char *id, int64_t t_us, char *msg, size_t msglen);

/* Sessions: get by token hash (expired rows are returned too: the caller checks the time). */
sy_err_t sy_app_session_insert(sy_store_t *s, const sy_app_session_t *x, char *msg, size_t msglen);
sy_err_t sy_app_session_get(sy_store_t *s, const char *token_hash, sy_app_session_t **out,
                            char *msg, size_t msglen);
sy_err_t sy_app_session_delete(sy_store_t *s, const char *token_hash, char *msg, size_t msglen);

/* Audit log: append one row (a->id empty/NULL: a new UUIDv7 is assigned); list the newest
 * limit (1..SY_APP_LIST_MAX) rows, newest first. */
sy_err_t sy_app_audit_append(sy_store_t *s, const sy_app_audit_t *a, char *msg, size_t msglen);
sy_err_t sy_app_audit_list(sy_store_t *s, size_t limit, sy_app_audit_t ***out, size_t *n, char *msg,
                           size_t msglen);

/* Free an array returned by a list call, each element and the array. */
void sy_app_user_list_free(sy_app_user_t **v, size_t n);
void sy_app_team_list_free(sy_app_team_t **v, size_t n);
void sy_app_key_list_free(sy_app_key_t **v, size_t n);
void sy_app_audit_list_free(sy_app_audit_t **v, size_t n);
void sy_app_str_list_free(char **v, size_t n);

#endif
