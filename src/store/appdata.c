/* App data over app_exec (see appdata.h). Every statement is written once, in the SQL that
 * SQLite (3.24+) and PostgreSQL (9.5+) share: $n placeholders, text and integer values. */
#include "store/appdata.h"
#include "store/appdata_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/uuid.h"

#define T SY_APP_T
#define I SY_APP_I
#define NPARAMS SY_APP_NPARAMS

char *sy_app_dup_cell(const sy_app_rows_t *r, size_t row, size_t col)
{
    const char *v = sy_store_app_cell(r, row, col);
    return v ? sy_xstrdup(v) : NULL;
}

int64_t sy_app_i64_cell(const sy_app_rows_t *r, size_t row, size_t col)
{
    const char *v = sy_store_app_cell(r, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

/* One row expected: NOT_FOUND when none. */
sy_err_t sy_app_one_row(sy_store_t *s, const char *sql, const sy_app_param_t *p, size_t n,
                        sy_app_rows_t *rows, const char *what, char *msg, size_t msglen)
{
    sy_err_t err = sy_store_app_exec(s, sql, p, n, 1, rows, NULL, msg, msglen);
    if (err) return err;
    if (rows->n_rows == 0) {
        sy_store_app_rows_free(rows);
        return sy_store_fail(SY_ERR_NOT_FOUND, msg, msglen, "no such %s", what);
    }
    return SY_OK;
}

/* An UPDATE/DELETE that must touch one row. */
sy_err_t sy_app_change_one(sy_store_t *s, const char *sql, const sy_app_param_t *p, size_t n,
                           const char *what, char *msg, size_t msglen)
{
    int64_t changed = 0;
    sy_err_t err = sy_store_app_exec(s, sql, p, n, 0, NULL, &changed, msg, msglen);
    if (!err && changed == 0)
        err = sy_store_fail(SY_ERR_NOT_FOUND, msg, msglen, "no such %s", what);
    return err;
}

/* ---- users ---- */

#define USER_COLS "id, email, name, role, pw_hash, created_us, disabled_us, limits"

void sy_app_user_free(sy_app_user_t *u)
{
    if (!u) return;
    free(u->id);
    free(u->email);
    free(u->name);
    free(u->role);
    free(u->pw_hash);
    free(u->limits);
    free(u);
}

static sy_app_user_t *user_of(const sy_app_rows_t *r, size_t i)
{
    sy_app_user_t *u = sy_xcalloc(1, sizeof(*u));
    u->id = sy_app_dup_cell(r, i, 0);
    u->email = sy_app_dup_cell(r, i, 1);
    u->name = sy_app_dup_cell(r, i, 2);
    u->role = sy_app_dup_cell(r, i, 3);
    u->pw_hash = sy_app_dup_cell(r, i, 4);
    u->created_us = sy_app_i64_cell(r, i, 5);
    u->disabled_us = sy_app_i64_cell(r, i, 6);
    u->limits = sy_app_dup_cell(r, i, 7);
    return u;
}

sy_err_t sy_app_user_insert(sy_store_t *s, const sy_app_user_t *u, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(u->id),      T(u->email),      T(u->name),        T(u->role),
                          T(u->pw_hash), I(u->created_us), I(u->disabled_us), T(u->limits)};
    return sy_store_app_exec(
        s, "INSERT INTO users (" USER_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", p,
        NPARAMS(p), 0, NULL, NULL, msg, msglen);
}

sy_err_t sy_app_user_update(sy_store_t *s, const sy_app_user_t *u, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(u->id),      T(u->name),        T(u->role),
                          T(u->pw_hash), I(u->disabled_us), T(u->limits)};
    return sy_app_change_one(
        s,
        "UPDATE users SET name = $2, role = $3, pw_hash = $4, disabled_us = $5, "
        "limits = $6 WHERE id = $1",
        p, NPARAMS(p), "user", msg, msglen);
}

sy_err_t sy_app_user_get(sy_store_t *s, const char *id, const char *email, sy_app_user_t **out,
                         char *msg, size_t msglen)
{
    sy_app_rows_t r;
    sy_app_param_t p[] = {T(id ? id : email)};
    sy_err_t err = sy_app_one_row(s,
                                  id ? "SELECT " USER_COLS " FROM users WHERE id = $1"
                                     : "SELECT " USER_COLS " FROM users WHERE email = $1",
                                  p, 1, &r, "user", msg, msglen);
    if (err) return err;
    *out = user_of(&r, 0);
    sy_store_app_rows_free(&r);
    return SY_OK;
}

sy_err_t sy_app_list_n(sy_store_t *s, const char *sql, const sy_app_param_t *p, size_t n,
                       size_t max_rows, void *(*conv)(const sy_app_rows_t *, size_t), void ***out,
                       size_t *count, char *msg, size_t msglen)
{
    sy_app_rows_t r;
    sy_err_t err = sy_store_app_exec(s, sql, p, n, max_rows, &r, NULL, msg, msglen);
    if (err) return err;
    void **v = sy_xcalloc(r.n_rows ? r.n_rows : 1, sizeof(void *));
    for (size_t i = 0; i < r.n_rows; i++)
        v[i] = conv(&r, i);
    *out = v;
    *count = r.n_rows;
    sy_store_app_rows_free(&r);
    return SY_OK;
}

sy_err_t sy_app_list(sy_store_t *s, const char *sql, const sy_app_param_t *p, size_t n,
                     void *(*conv)(const sy_app_rows_t *, size_t), void ***out, size_t *count,
                     char *msg, size_t msglen)
{
    return sy_app_list_n(s, sql, p, n, SY_APP_LIST_MAX, conv, out, count, msg, msglen);
}

static void *user_conv(const sy_app_rows_t *r, size_t i)
{
    return user_of(r, i);
}

sy_err_t sy_app_user_list(sy_store_t *s, sy_app_user_t ***out, size_t *n, char *msg, size_t msglen)
{
    return sy_app_list(s, "SELECT " USER_COLS " FROM users ORDER BY created_us, id LIMIT 1000",
                       NULL, 0, user_conv, (void ***)out, n, msg, msglen);
}

sy_err_t sy_app_user_count(sy_store_t *s, const char *role, int64_t *n, char *msg, size_t msglen)
{
    sy_app_rows_t r;
    sy_app_param_t p[] = {T(role)};
    sy_err_t err =
        sy_app_one_row(s, "SELECT count(*) FROM users WHERE role = $1 AND disabled_us IS NULL", p,
                       1, &r, "count", msg, msglen);
    if (err) return err;
    *n = sy_app_i64_cell(&r, 0, 0);
    sy_store_app_rows_free(&r);
    return SY_OK;
}

/* ---- teams ---- */

#define TEAM_COLS "id, name, created_us, limits"

void sy_app_team_free(sy_app_team_t *t)
{
    if (!t) return;
    free(t->id);
    free(t->name);
    free(t->limits);
    free(t);
}

static void *team_conv(const sy_app_rows_t *r, size_t i)
{
    sy_app_team_t *t = sy_xcalloc(1, sizeof(*t));
    t->id = sy_app_dup_cell(r, i, 0);
    t->name = sy_app_dup_cell(r, i, 1);
    t->created_us = sy_app_i64_cell(r, i, 2);
    t->limits = sy_app_dup_cell(r, i, 3);
    return t;
}

sy_err_t sy_app_team_insert(sy_store_t *s, const sy_app_team_t *t, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(t->id), T(t->name), I(t->created_us), T(t->limits)};
    return sy_store_app_exec(s, "INSERT INTO teams (" TEAM_COLS ") VALUES ($1, $2, $3, $4)", p,
                             NPARAMS(p), 0, NULL, NULL, msg, msglen);
}

sy_err_t sy_app_team_update(sy_store_t *s, const sy_app_team_t *t, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(t->id), T(t->name), T(t->limits)};
    return sy_app_change_one(s, "UPDATE teams SET name = $2, limits = $3 WHERE id = $1", p,
                             NPARAMS(p), "team", msg, msglen);
}

sy_err_t sy_app_team_list(sy_store_t *s, sy_app_team_t ***out, size_t *n, char *msg, size_t msglen)
{
    return sy_app_list(s, "SELECT " TEAM_COLS " FROM teams ORDER BY created_us, id LIMIT 1000",
                       NULL, 0, team_conv, (void ***)out, n, msg, msglen);
}

sy_err_t sy_app_team_get(sy_store_t *s, const char *id, sy_app_team_t **out, char *msg,
                         size_t msglen)
{
    sy_app_rows_t r;
    sy_app_param_t p[] = {T(id)};
    sy_err_t err = sy_app_one_row(s, "SELECT " TEAM_COLS " FROM teams WHERE id = $1", p, 1, &r,
                                  "team", msg, msglen);
    if (err) return err;
    *out = team_conv(&r, 0);
    sy_store_app_rows_free(&r);
    return SY_OK;
}

sy_err_t sy_app_team_member_put(sy_store_t *s, const char *team_id, const char *user_id,
                                const char *role, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(team_id), T(user_id), T(role)};
    return sy_store_app_exec(s,
                             "INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, "
                             "$3) ON CONFLICT (team_id, user_id) DO UPDATE SET role = $3",
                             p, NPARAMS(p), 0, NULL, NULL, msg, msglen);
}

static void *str_conv(const sy_app_rows_t *r, size_t i)
{
    return sy_app_dup_cell(r, i, 0);
}

sy_err_t sy_app_team_members_of(sy_store_t *s, const char *user_id, char ***team_ids, size_t *n,
                                char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(user_id)};
    return sy_app_list(
        s, "SELECT team_id FROM team_members WHERE user_id = $1 ORDER BY team_id LIMIT 1000", p, 1,
        str_conv, (void ***)team_ids, n, msg, msglen);
}

/* ---- keys ---- */

#define KEY_COLS                                                                                   \
    "id, name, prefix, hash, owner_user, owner_team, expires_us, revoked_us, rotated_from, "       \
    "grace_until_us, allowed_models, default_tags, created_us, last_used_us, limits"

void sy_app_key_free(sy_app_key_t *k)
{
    if (!k) return;
    free(k->id);
    free(k->name);
    free(k->prefix);
    free(k->hash);
    free(k->owner_user);
    free(k->owner_team);
    free(k->rotated_from);
    free(k->allowed_models);
    free(k->default_tags);
    free(k->limits);
    free(k);
}

static void *key_conv(const sy_app_rows_t *r, size_t i)
{
    sy_app_key_t *k = sy_xcalloc(1, sizeof(*k));
    k->id = sy_app_dup_cell(r, i, 0);
    k->name = sy_app_dup_cell(r, i, 1);
    k->prefix = sy_app_dup_cell(r, i, 2);
    k->hash = sy_app_dup_cell(r, i, 3);
    k->owner_user = sy_app_dup_cell(r, i, 4);
    k->owner_team = sy_app_dup_cell(r, i, 5);
    k->expires_us = sy_app_i64_cell(r, i, 6);
    k->revoked_us = sy_app_i64_cell(r, i, 7);
    k->rotated_from = sy_app_dup_cell(r, i, 8);
    k->grace_until_us = sy_app_i64_cell(r, i, 9);
    k->allowed_models = sy_app_dup_cell(r, i, 10);
    k->default_tags = sy_app_dup_cell(r, i, 11);
    k->created_us = sy_app_i64_cell(r, i, 12);
    k->last_used_us = sy_app_i64_cell(r, i, 13);
    k->limits = sy_app_dup_cell(r, i, 14);
    return k;
}

sy_err_t sy_app_key_insert(sy_store_t *s, const sy_app_key_t *k, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {
        T(k->id),           T(k->name),           T(k->prefix),         T(k->hash),
        T(k->owner_user),   T(k->owner_team),     I(k->expires_us),     I(k->revoked_us),
        T(k->rotated_from), I(k->grace_until_us), T(k->allowed_models), T(k->default_tags),
        I(k->created_us),   I(k->last_used_us),   T(k->limits)};
    return sy_store_app_exec(s,
                             "INSERT INTO api_keys (" KEY_COLS ") VALUES ($1, $2, $3, $4, $5, $6, "
                             "$7, $8, $9, $10, $11, $12, $13, $14, $15)",
                             p, NPARAMS(p), 0, NULL, NULL, msg, msglen);
}

sy_err_t sy_app_key_update(sy_store_t *s, const sy_app_key_t *k, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(k->id),           T(k->name),           I(k->expires_us),
                          I(k->revoked_us),   I(k->grace_until_us), T(k->allowed_models),
                          T(k->default_tags), T(k->limits)};
    return sy_app_change_one(
        s,
        "UPDATE api_keys SET name = $2, expires_us = $3, revoked_us = $4, "
        "grace_until_us = $5, allowed_models = $6, default_tags = $7, limits = $8 "
        "WHERE id = $1",
        p, NPARAMS(p), "key", msg, msglen);
}

static sy_err_t key_by(sy_store_t *s, const char *sql, const char *v, sy_app_key_t **out, char *msg,
                       size_t msglen)
{
    sy_app_rows_t r;
    sy_app_param_t p[] = {T(v)};
    sy_err_t err = sy_app_one_row(s, sql, p, 1, &r, "key", msg, msglen);
    if (err) return err;
    *out = key_conv(&r, 0);
    sy_store_app_rows_free(&r);
    return SY_OK;
}

sy_err_t sy_app_key_get(sy_store_t *s, const char *id, sy_app_key_t **out, char *msg, size_t msglen)
{
    return key_by(s, "SELECT " KEY_COLS " FROM api_keys WHERE id = $1", id, out, msg, msglen);
}

sy_err_t sy_app_key_find_hash(sy_store_t *s, const char *hash, sy_app_key_t **out, char *msg,
                              size_t msglen)
{
    return key_by(s, "SELECT " KEY_COLS " FROM api_keys WHERE hash = $1", hash, out, msg, msglen);
}

sy_err_t sy_app_key_list(sy_store_t *s, const char *owner_user, const char *owner_team,
                         sy_app_key_t ***out, size_t *n, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(owner_user ? owner_user : owner_team)};
    const char *sql = owner_user   ? "SELECT " KEY_COLS " FROM api_keys WHERE owner_user = $1 "
                                     "ORDER BY created_us DESC, id DESC LIMIT 1000"
                      : owner_team ? "SELECT " KEY_COLS " FROM api_keys WHERE owner_team = $1 "
                                     "ORDER BY created_us DESC, id DESC LIMIT 1000"
                                   : "SELECT " KEY_COLS " FROM api_keys "
                                     "ORDER BY created_us DESC, id DESC LIMIT 1000";
    return sy_app_list(s, sql, p, owner_user || owner_team ? 1 : 0, key_conv, (void ***)out, n, msg,
                       msglen);
}

sy_err_t sy_app_key_touch(sy_store_t *s, const char *id, int64_t t_us, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(id), I(t_us)};
    return sy_app_change_one(s, "UPDATE api_keys SET last_used_us = $2 WHERE id = $1", p, 2, "key",
                             msg, msglen);
}

/* ---- sessions ---- */

void sy_app_session_free(sy_app_session_t *x)
{
    if (!x) return;
    free(x->token_hash);
    free(x->user_id);
    free(x->csrf);
    free(x);
}

sy_err_t sy_app_session_insert(sy_store_t *s, const sy_app_session_t *x, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(x->token_hash), T(x->user_id), T(x->csrf), I(x->created_us),
                          I(x->expires_us)};
    return sy_store_app_exec(s,
                             "INSERT INTO sessions (token_hash, user_id, csrf, created_us, "
                             "expires_us) VALUES ($1, $2, $3, $4, $5)",
                             p, NPARAMS(p), 0, NULL, NULL, msg, msglen);
}

sy_err_t sy_app_session_get(sy_store_t *s, const char *token_hash, sy_app_session_t **out,
                            char *msg, size_t msglen)
{
    sy_app_rows_t r;
    sy_app_param_t p[] = {T(token_hash)};
    sy_err_t err =
        sy_app_one_row(s,
                       "SELECT token_hash, user_id, csrf, created_us, expires_us FROM sessions "
                       "WHERE token_hash = $1",
                       p, 1, &r, "session", msg, msglen);
    if (err) return err;
    sy_app_session_t *x = sy_xcalloc(1, sizeof(*x));
    x->token_hash = sy_app_dup_cell(&r, 0, 0);
    x->user_id = sy_app_dup_cell(&r, 0, 1);
    x->csrf = sy_app_dup_cell(&r, 0, 2);
    x->created_us = sy_app_i64_cell(&r, 0, 3);
    x->expires_us = sy_app_i64_cell(&r, 0, 4);
    sy_store_app_rows_free(&r);
    *out = x;
    return SY_OK;
}

sy_err_t sy_app_session_delete(sy_store_t *s, const char *token_hash, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(token_hash)};
    return sy_app_change_one(s, "DELETE FROM sessions WHERE token_hash = $1", p, 1, "session", msg,
                             msglen);
}

/* ---- audit log ---- */

void sy_app_audit_free(sy_app_audit_t *a)
{
    if (!a) return;
    free(a->id);
    free(a->actor);
    free(a->action);
    free(a->target);
    free(a->remote);
    free(a->detail);
    free(a);
}

static void *audit_conv(const sy_app_rows_t *r, size_t i)
{
    sy_app_audit_t *a = sy_xcalloc(1, sizeof(*a));
    a->id = sy_app_dup_cell(r, i, 0);
    a->t_us = sy_app_i64_cell(r, i, 1);
    a->actor = sy_app_dup_cell(r, i, 2);
    a->action = sy_app_dup_cell(r, i, 3);
    a->target = sy_app_dup_cell(r, i, 4);
    a->remote = sy_app_dup_cell(r, i, 5);
    a->detail = sy_app_dup_cell(r, i, 6);
    return a;
}

sy_err_t sy_app_audit_append(sy_store_t *s, const sy_app_audit_t *a, char *msg, size_t msglen)
{
    char id[SY_UUID_STRLEN + 1];
    if (a->id && *a->id)
        snprintf(id, sizeof(id), "%s", a->id);
    else
        sy_uuid_v7(id);
    sy_app_param_t p[] = {{.kind = SY_APP_TEXT, .text = id},
                          I(a->t_us),
                          T(a->actor),
                          T(a->action),
                          T(a->target),
                          T(a->remote),
                          T(a->detail)};
    return sy_store_app_exec(s,
                             "INSERT INTO audit_log (id, t_us, actor, action, target, remote, "
                             "detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                             p, NPARAMS(p), 0, NULL, NULL, msg, msglen);
}

sy_err_t sy_app_audit_list(sy_store_t *s, size_t limit, sy_app_audit_t ***out, size_t *n, char *msg,
                           size_t msglen)
{
    if (limit < 1 || limit > SY_APP_LIST_MAX)
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "limit must be 1 to %d",
                             SY_APP_LIST_MAX);
    sy_app_param_t p[] = {I((int64_t)limit)};
    return sy_app_list(s,
                       "SELECT id, t_us, actor, action, target, remote, detail FROM audit_log "
                       "ORDER BY t_us DESC, id DESC LIMIT $1",
                       p, 1, audit_conv, (void ***)out, n, msg, msglen);
}

/* ---- list frees ---- */

#define LIST_FREE(fn, type, one)                                                                   \
    void fn(type **v, size_t n)                                                                    \
    {                                                                                              \
        for (size_t i = 0; v && i < n; i++)                                                        \
            one(v[i]);                                                                             \
        free(v);                                                                                   \
    }
LIST_FREE(sy_app_user_list_free, sy_app_user_t, sy_app_user_free)
LIST_FREE(sy_app_team_list_free, sy_app_team_t, sy_app_team_free)
LIST_FREE(sy_app_key_list_free, sy_app_key_t, sy_app_key_free)
LIST_FREE(sy_app_audit_list_free, sy_app_audit_t, sy_app_audit_free)
LIST_FREE(sy_app_str_list_free, char, free)
