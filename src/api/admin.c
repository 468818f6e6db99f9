/* The admin API under /api/v1/: login/logout/me, users, teams, keys, audit log; and the
 * principal check in front of /api/v1/logs and /api/v1/stats (docs/API.md, AUTH.md).
 *
 * DESIGN
 * - The loop thread only routes, parses the (bounded) JSON body, copies the credentials
 *   (API key hash or session token hash, CSRF header, client address) and throttles logins
 *   with the in-process limiter (policy/limits.h). Everything that touches the store — who the
 *   caller is, the operation, its audit row, the JSON answer — runs in ONE thread-pool job
 *   (uv_queue_work), like api/logs.c; after-work only forgets changed keys in the key cache and
 *   sends the bytes. A client that leaves: job->req = NULL and the work is cancelled if it has
 *   not started; a running job finishes (its audit row is written) and its answer is dropped.
 * - Who: an API key whose owner is an admin (Authorization: Bearer / x-api-key), or a session
 *   cookie (sy_session) plus, on every state-changing method, the session's CSRF token in
 *   x-csrf-token (compared in constant time). Admin operations need role admin; me/logout any
 *   role; logs/stats admin or viewer; the chat storage routes (api/chatapi.c, through
 *   sy_admin_run_user) any role, each user on its own data.
 * - Every admin operation (and every login, failed or not) appends an audit_log row, written
 *   in the job before the answer is sent. */
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "api/admin.h"
#include "api/api.h"
#include "api/gate.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/timefmt.h"
#include "http/query.h"
#include "policy/auth.h"
#include "policy/limits.h"
#include "store/appdata.h"
#include "worker.h"

#define MSGLEN 512
#define COOKIE "sy_session"
#define OWN_KEYS_MAX 50 /* usable keys a user may have made at /api/v1/me/keys */
#define MAX_MODELS 64

typedef enum {
    OP_LOGIN,
    OP_LOGOUT,
    OP_ME,
    OP_USERS_LIST,
    OP_USER_CREATE,
    OP_USER_UPDATE,
    OP_TEAMS_LIST,
    OP_TEAM_CREATE,
    OP_TEAM_MEMBER,
    OP_TEAM_UPDATE,
    OP_KEYS_LIST,
    OP_KEY_CREATE,
    OP_KEY_GET,
    OP_KEY_UPDATE,
    OP_KEY_REVOKE,
    OP_KEY_ROTATE,
    OP_AUDIT_LIST,
    OP_ME_KEYS_LIST, /* /api/v1/me/keys: the caller's own user keys, any role */
    OP_ME_KEY_CREATE,
    OP_ME_KEY_REVOKE,
    OP_GATE, /* only check the principal, then continue on the loop (logs, stats) */
    OP_EXT,  /* an admin operation of another file (sy_admin_run: credentials) */
} op_t;

typedef struct principal {
    bool ok;
    char actor[96]; /* "user:<id>" / "key:<id>" */
    char user_id[SY_AUTH_ID_MAX];
    char key_id[SY_AUTH_ID_MAX];
    char role[16];
    char session_hash[SY_AUTH_HEX_LEN + 1]; /* set when authenticated by a session */
} principal_t;

typedef struct sy_admin_call {
    uv_work_t work;
    sy_http_req_t *req;
    sy_worker_t *w;
    sy_auth_t *auth;
    op_t op;
    bool mutating;
    char id[SY_AUTH_ID_MAX];
    json_t *body;
    size_t audit_limit;
    /* credentials */
    char key_hash[SY_AUTH_HEX_LEN + 1];
    char sess_hash[SY_AUTH_HEX_LEN + 1];
    char csrf[SY_AUTH_TOKEN_LEN + 1];
    bool csrf_sent;
    char remote[64];
    bool secure;
    int64_t now;
    sy_admin_next_cb next; /* OP_GATE */
    sy_admin_op_cb ext;    /* OP_EXT */
    char ext_id[80];       /* OP_EXT: the path's id */
    bool any_role;         /* OP_EXT: any signed-in user (sy_admin_run_user), not only admins */
    char ctype[64];        /* set: the answer is out as this content type, not JSON */
    char disposition[160]; /* content-disposition of that answer, or "" */
    sy_admin_cont_cb cont; /* OP_EXT: runs on the loop after the job (sy_admin_run_user_then) */
    void *cont_data;
    bool continued; /* op called sy_admin_call_continue: no answer from the job */
    /* outputs */
    principal_t who;
    sy_auth_ident_t ident; /* the caller as the limits phase sees it (sy_admin_call_ident) */
    int status;
    sy_err_t err;
    char msg[MSGLEN];
    char *out; /* JSON text (malloc) */
    char cookie[200];
    char forget[2][SY_AUTH_HEX_LEN + 1];
} job_t;

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static sy_err_t fail(job_t *j, sy_err_t err, const char *fmt, const char *arg)
{
    snprintf(j->msg, sizeof j->msg, fmt, arg ? arg : "");
    return j->err = err;
}

/* ---- JSON rendering (pool thread) ---- */

static json_t *time_json(int64_t us)
{
    if (!us) return json_null();
    char t[SY_TIMEFMT_RFC3339_LEN];
    sy_timefmt_rfc3339(t, us);
    return json_string(t);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *array_text(const char *text)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    return v ? v : json_null();
}

static json_t *user_json(const sy_app_user_t *u)
{
    return json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:b, s:o}", "object", "user", "id", u->id,
                     "name", str_or_null(u->name), "email", u->email, "created_at",
                     time_json(u->created_us), "disabled_at", time_json(u->disabled_us),
                     "has_password", u->pw_hash != NULL, "limits", array_text(u->limits));
}

static json_t *team_json(const sy_app_team_t *t)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:o}", "object", "team", "id", t->id, "name", t->name,
                     "created_at", time_json(t->created_us), "limits", array_text(t->limits));
}

static json_t *key_json(const sy_app_key_t *k)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "object",
        "api_key", "id", k->id, "name", k->name, "prefix", k->prefix, "owner_user",
        str_or_null(k->owner_user), "owner_team", str_or_null(k->owner_team), "created_at",
        time_json(k->created_us), "expires_at", time_json(k->expires_us), "revoked_at",
        time_json(k->revoked_us), "last_used_at", time_json(k->last_used_us), "rotated_from",
        str_or_null(k->rotated_from), "grace_until", time_json(k->grace_until_us), "allowed_models",
        array_text(k->allowed_models), "default_tags", array_text(k->default_tags));
    json_object_set_new(o, "limits", array_text(k->limits));
    return o;
}

static void set_out(job_t *j, int status, json_t *v)
{
    j->status = status;
    j->out = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!j->out) fail(j, SY_ERR_INTERNAL, "cannot render the answer", NULL); /* a bug */
}

static json_t *list_json(json_t *data)
{
    return json_pack("{s:s, s:o}", "object", "list", "data", data);
}

/* ---- body fields (pool thread; the body was parsed on the loop) ---- */

/* Optional string field: *out NULL when absent; false (and the error set) when not a string
 * of 1..max bytes. */
static bool field_str(job_t *j, const char *name, size_t max, const char **out)
{
    json_t *v = json_object_get(j->body, name);
    *out = NULL;
    if (!v) return true;
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > max) {
        char m[96];
        snprintf(m, sizeof m, "'%s' must be a string of 1 to %zu bytes", name, max);
        fail(j, SY_ERR_INVALID_REQUEST, "%s", m);
        return false;
    }
    *out = s;
    return true;
}

/* A JSON array of distinct non-empty strings as canonical JSON text (NULL when absent or
 * null: *present tells which). */
static bool field_str_array(job_t *j, const char *name, char **out, bool *present)
{
    json_t *v = json_object_get(j->body, name);
    *out = NULL;
    *present = v != NULL;
    if (!v || json_is_null(v)) return true;
    size_t i, total = 0;
    json_t *e;
    bool ok = json_is_array(v) && json_array_size(v) <= MAX_MODELS;
    json_array_foreach(v, i, e)
    {
        const char *s = json_string_value(e);
        if (!s || !*s || strlen(s) > 200) ok = false;
        total += s ? strlen(s) + 1 : 0;
    }
    if (!ok || total >= SY_AUTH_MODELS_MAX) {
        char m[160];
        snprintf(m, sizeof m,
                 "'%s' must be null or an array of at most %d non-empty strings (200 bytes "
                 "each, %d in all)",
                 name, MAX_MODELS, SY_AUTH_MODELS_MAX - 1);
        fail(j, SY_ERR_INVALID_REQUEST, "%s", m);
        return false;
    }
    *out = json_dumps(v, JSON_COMPACT);
    return true;
}

/* 'limits' of a key, user or team (ent: SY_LIMITS_ENT_*): null or an array of limit strings
 * (policy/limits.h: "100/hour", "$5/day"), each checked; for a user or a team no longer than
 * what keeps the merged list of a key that inherits limits.defaults.key within
 * SY_LIMITS_MAX_PER_REQUEST (sy_config_limits_room; the keys the entity has, and a key's own
 * list next to its owner's, are checked by fits_keys / fits_owner); canonical JSON text (NULL
 * when absent or null: *present tells which); *count: its length, -1 when null or absent. The
 * 400 names the bad entry. */
static bool field_limits(job_t *j, int ent, char **out, bool *present, long *count)
{
    json_t *v = json_object_get(j->body, "limits");
    *out = NULL;
    *present = v != NULL;
    *count = -1;
    if (!v || json_is_null(v)) return true;
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    sy_auth_limits_t l;
    char m[256];
    if (!text || sy_auth_limits_parse(text, &l, m, sizeof m)) {
        free(text);
        fail(j, SY_ERR_INVALID_REQUEST, "%s", text ? m : "'limits' cannot be read");
        return false;
    }
    *count = l.n;
    size_t room = sy_config_limits_room(j->w->cfg, ent);
    if (ent != SY_LIMITS_ENT_KEY && (size_t)l.n > room) {
        static const char *const what[SY_LIMITS_ENT__COUNT] = {"a key", "a user", "a team"};
        free(text);
        snprintf(m, sizeof m,
                 "'limits': at most %zu limits for %s with this configuration: a request carries "
                 "at most %d, and the config's defaults for the other entities and the model "
                 "limits take the rest",
                 room, what[ent], SY_LIMITS_MAX_PER_REQUEST);
        fail(j, SY_ERR_INVALID_REQUEST, "%s", m);
        return false;
    }
    *out = text;
    return true;
}

/* The length of a stored 'limits' list; -1 when there is none (the defaults apply). */
static long stored_limits_n(const char *text)
{
    sy_auth_limits_t l;
    char m[16];
    if (!text || sy_auth_limits_parse(text, &l, m, sizeof m)) return -1;
    return l.n;
}

static const char *const ent_name[SY_LIMITS_ENT__COUNT] = {"key", "user", "team"};

/* A request of a key with key_n limits of its own (-1: the defaults) whose owner, of kind
 * owner, has owner_n must carry at most SY_LIMITS_MAX_PER_REQUEST limits (api/admission.c
 * merges the lists); else the 400. which: the key named in the message ("" for the key being
 * created or changed). */
static bool fits(job_t *j, int owner, long key_n, long owner_n, const char *which)
{
    const sy_config_t *cfg = j->w->cfg;
    size_t total = sy_config_limits_merged(cfg, owner, key_n, owner_n);
    if (total <= SY_LIMITS_MAX_PER_REQUEST) return true;
    const sy_conf_limits_t *d = cfg->rl.defaults;
    size_t kn = key_n < 0 ? d[SY_LIMITS_ENT_KEY].n : (size_t)key_n;
    size_t on = owner_n < 0 ? d[owner].n : (size_t)owner_n;
    char m[MSGLEN];
    snprintf(m, sizeof m,
             "'limits': a request with %s%s would carry %zu limits (the key's %zu%s + its %s's "
             "%zu%s + up to %zu from the model limits), more than the %d a request can carry; "
             "shorten the key's or the %s's list",
             which[0] ? "key " : "this key", which, total, kn, key_n < 0 ? " (defaults)" : "",
             ent_name[owner], on, owner_n < 0 ? " (defaults)" : "", total - kn - on,
             SY_LIMITS_MAX_PER_REQUEST, ent_name[owner]);
    fail(j, SY_ERR_INVALID_REQUEST, "%s", m);
    return false;
}

/* Whether key k can still authenticate (not revoked, past its rotation grace, or expired). */
static bool key_usable(const job_t *j, const sy_app_key_t *k)
{
    return !((k->revoked_us && k->revoked_us <= j->now) ||
             (k->grace_until_us && k->grace_until_us <= j->now) ||
             (k->expires_us && k->expires_us <= j->now));
}

/* A new list of owner_n limits for a user or team (owner: SY_LIMITS_ENT_USER/_TEAM, id): every
 * key it owns that can still be used must still fit. */
static bool fits_keys(job_t *j, int owner, const char *id, long owner_n)
{
    sy_app_key_t **v = NULL;
    size_t n = 0;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err =
        sy_app_key_list(sy_auth_store(j->auth), owner == SY_LIMITS_ENT_USER ? id : NULL,
                        owner == SY_LIMITS_ENT_TEAM ? id : NULL, &v, &n, msg, sizeof msg);
    if (err) {
        fail(j, SY_ERR_STORE, "store: %s", msg);
        return false;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        const sy_app_key_t *k = v[i];
        if (!key_usable(j, k)) continue;
        char which[SY_AUTH_ID_MAX + 220];
        snprintf(which, sizeof which, "'%.200s' (%s)", k->name ? k->name : "", k->id);
        ok = fits(j, owner, stored_limits_n(k->limits), owner_n, which);
    }
    sy_app_key_list_free(v, n);
    return ok;
}

/* A key's list of key_n limits next to its owner's own list (read from the store). */
static bool fits_owner(job_t *j, const char *owner_user, const char *owner_team, long key_n)
{
    sy_store_t *s = sy_auth_store(j->auth);
    char msg[SY_STORE_MSGLEN];
    long owner_n = -1;
    sy_err_t err;
    if (!owner_user && !owner_team) /* no owner (not made by this API): nothing is merged */
        return fits(j, SY_LIMITS_ENT_USER, key_n, 0, "");
    if (owner_team) {
        sy_app_team_t *t = NULL;
        err = sy_app_team_get(s, owner_team, &t, msg, sizeof msg);
        if (!err) owner_n = stored_limits_n(t->limits);
        sy_app_team_free(t);
    } else {
        sy_app_user_t *u = NULL;
        err = sy_app_user_get(s, owner_user, NULL, &u, msg, sizeof msg);
        if (!err) owner_n = stored_limits_n(u->limits);
        sy_app_user_free(u);
    }
    if (err == SY_ERR_NOT_FOUND) {
        fail(j, err, owner_team ? "owner_team: no such team" : "owner_user: no such user", NULL);
        return false;
    }
    if (err) {
        fail(j, SY_ERR_STORE, "store: %s", msg);
        return false;
    }
    return fits(j, owner_team ? SY_LIMITS_ENT_TEAM : SY_LIMITS_ENT_USER, key_n, owner_n, "");
}

/* expires_at: RFC 3339 / Unix ms / null; or expires_in_s (> 0). *us 0: never. */
static bool field_expiry(job_t *j, int64_t *us, bool *present)
{
    json_t *at = json_object_get(j->body, "expires_at");
    json_t *in = json_object_get(j->body, "expires_in_s");
    *present = at || in;
    *us = 0;
    if (in) {
        if (!json_is_integer(in) || json_integer_value(in) < 1 ||
            json_integer_value(in) > 10LL * 366 * 86400) {
            fail(j, SY_ERR_INVALID_REQUEST, "'expires_in_s' must be 1 to 10 years in seconds",
                 NULL);
            return false;
        }
        *us = j->now + json_integer_value(in) * 1000000;
        return true;
    }
    if (!at || json_is_null(at)) return true;
    const char *s = json_string_value(at);
    if (!s || !sy_timefmt_parse(sy_str_c(s), us)) {
        fail(j, SY_ERR_INVALID_REQUEST,
             "'expires_at' must be null or an RFC 3339 timestamp such as 2027-01-01T00:00:00Z",
             NULL);
        return false;
    }
    return true;
}

static bool role_ok(const char *r)
{
    return r && (!strcmp(r, "admin") || !strcmp(r, "member") || !strcmp(r, "viewer"));
}

/* ---- who is calling (pool thread) ---- */

static void audit(job_t *j, const char *action, const char *target, json_t *detail)
{
    char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    sy_app_audit_t a = {.t_us = wall_us(),
                        .actor = j->who.actor[0] ? j->who.actor : "anonymous",
                        .action = (char *)action,
                        .target = (char *)target,
                        .remote = j->remote,
                        .detail = d};
    sy_app_audit_append(sy_auth_store(j->auth), &a, NULL, 0); /* best effort */
    free(d);
}

static bool needs_admin(op_t op);

static sy_err_t authenticate(job_t *j)
{
    sy_store_t *s = sy_auth_store(j->auth);
    principal_t *p = &j->who;
    char msg[SY_STORE_MSGLEN];
    if (j->key_hash[0]) {
        sy_auth_ident_t id;
        sy_err_t err = sy_auth_load_key(j->auth, j->key_hash, j->now, &id, msg, sizeof msg);
        if (err == SY_ERR_NOT_FOUND)
            return fail(j, SY_ERR_UNAUTHORIZED, "Incorrect API key provided.", NULL);
        if (err) return fail(j, SY_ERR_STORE, "the key store is unavailable: %s", msg);
        const char *why = sy_auth_ident_refusal(&id, j->now);
        if (why) return fail(j, SY_ERR_UNAUTHORIZED, "%s", why);
        if (!id.user_id[0] && (!needs_admin(j->op) || (j->op == OP_EXT && j->any_role)))
            return fail(j, SY_ERR_FORBIDDEN,
                        "the chat API needs a user: sign in or use a user's API key (a team key "
                        "has no conversations, feedback or settings)",
                        NULL);
        if (!id.user_id[0])
            return fail(j, SY_ERR_FORBIDDEN, "a team key cannot call the admin API", NULL);
        snprintf(p->actor, sizeof p->actor, "key:%s", id.key_id);
        memcpy(p->user_id, id.user_id, sizeof p->user_id);
        memcpy(p->key_id, id.key_id, sizeof p->key_id);
        snprintf(p->role, sizeof p->role, "%s", id.role);
        j->ident = id;
        p->ok = true;
        return SY_OK;
    }
    if (!j->sess_hash[0])
        return fail(j, SY_ERR_UNAUTHORIZED,
                    "Sign in (POST /api/v1/auth/login) or send an API key as "
                    "'Authorization: Bearer sy-…'.",
                    NULL);
    sy_app_session_t *x = NULL;
    sy_app_user_t *u = NULL;
    sy_err_t err = sy_app_session_get(s, j->sess_hash, &x, msg, sizeof msg);
    if (err == SY_ERR_NOT_FOUND || (!err && x->expires_us <= j->now)) {
        sy_app_session_free(x);
        return fail(j, SY_ERR_UNAUTHORIZED, "the session has expired; sign in again", NULL);
    }
    if (err) return fail(j, SY_ERR_STORE, "the session store is unavailable: %s", msg);
    err = sy_app_user_get(s, x->user_id, NULL, &u, msg, sizeof msg);
    if (err || u->disabled_us) {
        fail(j, SY_ERR_UNAUTHORIZED, "the session's user is disabled or gone", NULL);
        goto out;
    }
    /* CSRF: a browser sends the cookie on its own; only our page can read the token */
    if (j->mutating && (!j->csrf_sent || strlen(x->csrf) != strlen(j->csrf) ||
                        sodium_memcmp(x->csrf, j->csrf, strlen(j->csrf)) != 0)) {
        fail(j, SY_ERR_FORBIDDEN,
             "missing or wrong CSRF token: send the csrf_token from the login answer in an "
             "x-csrf-token header",
             NULL);
        goto out;
    }
    snprintf(p->actor, sizeof p->actor, "user:%s", u->id);
    snprintf(p->user_id, sizeof p->user_id, "%s", u->id);
    snprintf(p->role, sizeof p->role, "%s", u->role);
    memcpy(p->session_hash, j->sess_hash, sizeof p->session_hash);
    sy_auth_ident_from_user(&j->ident, u);
    p->ok = true;
    j->err = SY_OK;
out:
    sy_app_session_free(x);
    sy_app_user_free(u);
    return j->err;
}

/* ---- operations (pool thread) ---- */

/* A real Argon2id hash of a random password, verified against when the email is unknown. */
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[SY_AUTH_PWHASH_MAX];
static void make_dummy_hash(void)
{
    char pw[SY_AUTH_TOKEN_LEN + 1];
    sy_auth_token_new(pw);
    if (sy_auth_password_hash(pw, dummy_hash)) dummy_hash[0] = '\0';
}

static void op_login(job_t *j)
{
    sy_store_t *s = sy_auth_store(j->auth);
    const char *email = NULL, *pw = NULL;
    if (!field_str(j, "email", 320, &email) || !field_str(j, "password", 1024, &pw)) return;
    if (!email || !pw) {
        fail(j, SY_ERR_INVALID_REQUEST, "'email' and 'password' are required", NULL);
        return;
    }
    sy_app_user_t *u = NULL;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = sy_app_user_get(s, NULL, email, &u, msg, sizeof msg);
    if (err && err != SY_ERR_NOT_FOUND) {
        fail(j, SY_ERR_STORE, "the user store is unavailable: %s", msg);
        return;
    }
    /* same work whether or not the user exists, so timing does not tell */
    pthread_once(&dummy_once, make_dummy_hash);
    bool good = sy_auth_password_verify(u && u->pw_hash ? u->pw_hash : dummy_hash, pw) && u &&
                u->pw_hash && !u->disabled_us;
    if (!good) {
        audit(j, "auth.login_failed", email, NULL);
        fail(j, SY_ERR_UNAUTHORIZED, "wrong email or password", NULL);
        sy_app_user_free(u);
        return;
    }
    char token[SY_AUTH_TOKEN_LEN + 1], csrf[SY_AUTH_TOKEN_LEN + 1], th[SY_AUTH_HEX_LEN + 1];
    sy_auth_token_new(token);
    sy_auth_token_new(csrf);
    sy_auth_hash_hex(token, SY_AUTH_TOKEN_LEN, th);
    uint32_t ttl = sy_auth_conf(j->auth)->session_ttl_s;
    sy_app_session_t x = {.token_hash = th,
                          .user_id = u->id,
                          .csrf = csrf,
                          .created_us = j->now,
                          .expires_us = j->now + (int64_t)ttl * 1000000};
    err = sy_app_session_insert(s, &x, msg, sizeof msg);
    if (err) {
        fail(j, SY_ERR_STORE, "cannot create the session: %s", msg);
    } else {
        snprintf(j->cookie, sizeof j->cookie,
                 COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%u%s", token, ttl,
                 j->secure ? "; Secure" : "");
        snprintf(j->who.actor, sizeof j->who.actor, "user:%s", u->id);
        audit(j, "auth.login", u->id, NULL);
        set_out(j, 200,
                json_pack("{s:o, s:s, s:o}", "user", user_json(u), "csrf_token", csrf, "expires_at",
                          time_json(x.expires_us)));
    }
    sodium_memzero(token, sizeof token);
    sy_app_user_free(u);
}

static void op_logout(job_t *j)
{
    if (!j->who.session_hash[0]) {
        fail(j, SY_ERR_INVALID_REQUEST, "logout ends a browser session; this call used an API key",
             NULL);
        return;
    }
    sy_app_session_delete(sy_auth_store(j->auth), j->who.session_hash, NULL, 0);
    snprintf(j->cookie, sizeof j->cookie,
             COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
             j->secure ? "; Secure" : "");
    audit(j, "auth.logout", j->who.user_id, NULL);
    set_out(j, 200, json_pack("{s:b}", "ok", 1));
}

static void op_me(job_t *j)
{
    sy_app_user_t *u = NULL;
    char msg[SY_STORE_MSGLEN];
    if (sy_app_user_get(sy_auth_store(j->auth), j->who.user_id, NULL, &u, msg, sizeof msg)) {
        fail(j, SY_ERR_NOT_FOUND, "the caller's user is gone", NULL);
        return;
    }
    json_t *o = user_json(u);
    json_object_set_new(o, "role", json_string(u->role));
    json_object_set_new(o, "via", json_string(j->who.session_hash[0] ? "session" : "api_key"));
    if (j->who.key_id[0]) json_object_set_new(o, "key_id", json_string(j->who.key_id));
    set_out(j, 200, o);
    sy_app_user_free(u);
}

static void store_fail(job_t *j, sy_err_t err, const char *msg)
{
    if (err == SY_ERR_NOT_FOUND || err == SY_ERR_INVALID_REQUEST)
        fail(j, err, "%s", msg);
    else
        fail(j, SY_ERR_STORE, "store: %s", msg);
}

static void op_users_list(job_t *j)
{
    sy_app_user_t **v = NULL;
    size_t n = 0;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = sy_app_user_list(sy_auth_store(j->auth), &v, &n, msg, sizeof msg);
    if (err) return store_fail(j, err, msg);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = user_json(v[i]);
        json_object_set_new(o, "role", json_string(v[i]->role));
        json_array_append_new(a, o);
    }
    sy_app_user_list_free(v, n);
    set_out(j, 200, list_json(a));
}

static void op_user_insert(job_t *j, const char *email, const char *name, const char *role,
                           const char *pw, char *limits);

static void op_user_create(job_t *j)
{
    const char *email, *name, *role, *pw;
    char *limits = NULL;
    bool has_limits;
    long nl;
    if (!field_str(j, "email", 320, &email) || !field_str(j, "name", 200, &name) ||
        !field_str(j, "role", 16, &role) || !field_str(j, "password", 1024, &pw) ||
        !field_limits(j, SY_LIMITS_ENT_USER, &limits, &has_limits, &nl))
        return;
    op_user_insert(j, email, name, role, pw, limits);
    free(limits);
}

static void op_user_insert(job_t *j, const char *email, const char *name, const char *role,
                           const char *pw, char *limits)
{
    if (!email || !strchr(email, '@')) {
        fail(j, SY_ERR_INVALID_REQUEST, "'email' is required and must contain '@'", NULL);
        return;
    }
    if (!role) role = "member";
    if (!role_ok(role)) {
        fail(j, SY_ERR_INVALID_REQUEST, "'role' must be admin, member or viewer", NULL);
        return;
    }
    if (pw && strlen(pw) < 12) {
        fail(j, SY_ERR_INVALID_REQUEST, "'password' must be at least 12 characters", NULL);
        return;
    }
    char hash[SY_AUTH_PWHASH_MAX], id[SY_UUID_STRLEN + 1], msg[SY_STORE_MSGLEN];
    if (pw && sy_auth_password_hash(pw, hash)) {
        fail(j, SY_ERR_INTERNAL, "cannot hash the password", NULL);
        return;
    }
    sy_uuid_v7(id);
    sy_app_user_t u = {.id = id,
                       .email = (char *)email,
                       .name = (char *)name,
                       .role = (char *)role,
                       .pw_hash = pw ? hash : NULL,
                       .created_us = j->now,
                       .limits = limits};
    sy_err_t err = sy_app_user_insert(sy_auth_store(j->auth), &u, msg, sizeof msg);
    if (err == SY_ERR_INVALID_REQUEST)
        return (void)fail(j, err, "a user with the email '%s' exists already", email);
    if (err) return store_fail(j, err, msg);
    audit(j, "user.create", id, json_pack("{s:s, s:s}", "email", email, "role", role));
    json_t *o = user_json(&u);
    json_object_set_new(o, "role", json_string(role));
    set_out(j, 201, o);
}

static void op_user_update(job_t *j)
{
    sy_store_t *s = sy_auth_store(j->auth);
    char msg[SY_STORE_MSGLEN];
    sy_app_user_t *u = NULL;
    sy_err_t err = sy_app_user_get(s, j->id, NULL, &u, msg, sizeof msg);
    if (err) return store_fail(j, err, err == SY_ERR_NOT_FOUND ? "no such user" : msg);
    const char *role, *name, *pw;
    char hash[SY_AUTH_PWHASH_MAX], *limits = NULL;
    bool has_limits;
    long nl;
    json_t *dis = json_object_get(j->body, "disabled");
    if (!field_str(j, "role", 16, &role) || !field_str(j, "name", 200, &name) ||
        !field_str(j, "password", 1024, &pw) ||
        !field_limits(j, SY_LIMITS_ENT_USER, &limits, &has_limits, &nl) ||
        (has_limits && !fits_keys(j, SY_LIMITS_ENT_USER, u->id, nl)))
        goto out;
    if (has_limits) free(u->limits), u->limits = limits, limits = NULL;
    if ((role && !role_ok(role)) || (dis && !json_is_boolean(dis)) || (pw && strlen(pw) < 12)) {
        fail(j, SY_ERR_INVALID_REQUEST,
             "'role' must be admin, member or viewer, 'disabled' a boolean, 'password' 12 "
             "characters or more",
             NULL);
        goto out;
    }
    if (role) free(u->role), u->role = sy_xstrdup(role);
    if (name) free(u->name), u->name = sy_xstrdup(name);
    if (dis) u->disabled_us = json_is_true(dis) ? (u->disabled_us ? u->disabled_us : j->now) : 0;
    if (pw) {
        if (sy_auth_password_hash(pw, hash)) {
            fail(j, SY_ERR_INTERNAL, "cannot hash the password", NULL);
            goto out;
        }
        free(u->pw_hash);
        u->pw_hash = sy_xstrdup(hash);
    }
    err = sy_app_user_update(s, u, msg, sizeof msg);
    if (err) {
        store_fail(j, err, msg);
        goto out;
    }
    audit(j, "user.update", u->id,
          json_pack("{s:s, s:b, s:b}", "role", u->role, "disabled", u->disabled_us != 0,
                    "password_changed", pw != NULL));
    json_t *o = user_json(u);
    json_object_set_new(o, "role", json_string(u->role));
    set_out(j, 200, o);
out:
    free(limits);
    sy_app_user_free(u);
}

static void op_teams_list(job_t *j)
{
    sy_app_team_t **v = NULL;
    size_t n = 0;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = sy_app_team_list(sy_auth_store(j->auth), &v, &n, msg, sizeof msg);
    if (err) return store_fail(j, err, msg);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, team_json(v[i]));
    sy_app_team_list_free(v, n);
    set_out(j, 200, list_json(a));
}

static void op_team_create(job_t *j)
{
    const char *name;
    char *limits = NULL;
    bool has_limits;
    long nl;
    if (!field_str(j, "name", 200, &name) ||
        !field_limits(j, SY_LIMITS_ENT_TEAM, &limits, &has_limits, &nl))
        return;
    if (!name) return (void)fail(j, SY_ERR_INVALID_REQUEST, "'name' is required", NULL);
    char id[SY_UUID_STRLEN + 1], msg[SY_STORE_MSGLEN];
    sy_uuid_v7(id);
    sy_app_team_t t = {.id = id, .name = (char *)name, .created_us = j->now, .limits = limits};
    sy_err_t err = sy_app_team_insert(sy_auth_store(j->auth), &t, msg, sizeof msg);
    if (err == SY_ERR_INVALID_REQUEST)
        fail(j, err, "a team named '%s' exists already", name);
    else if (err)
        store_fail(j, err, msg);
    else {
        audit(j, "team.create", id,
              json_pack("{s:s, s:o}", "name", name, "limits", array_text(limits)));
        set_out(j, 201, team_json(&t));
    }
    free(limits);
}

/* PATCH /api/v1/teams/<id>: name, limits. Keys of the team see new limits within
 * auth.key_cache_ttl_s (their cache entries carry them). */
static void op_team_update(job_t *j)
{
    sy_store_t *s = sy_auth_store(j->auth);
    char msg[SY_STORE_MSGLEN], *limits = NULL;
    sy_app_team_t *t = NULL;
    sy_err_t err = sy_app_team_get(s, j->id, &t, msg, sizeof msg);
    if (err) return store_fail(j, err, err == SY_ERR_NOT_FOUND ? "no such team" : msg);
    const char *name;
    bool has_limits;
    long nl;
    if (!field_str(j, "name", 200, &name) ||
        !field_limits(j, SY_LIMITS_ENT_TEAM, &limits, &has_limits, &nl) ||
        (has_limits && !fits_keys(j, SY_LIMITS_ENT_TEAM, t->id, nl)))
        goto out;
    if (name) free(t->name), t->name = sy_xstrdup(name);
    if (has_limits) free(t->limits), t->limits = limits, limits = NULL;
    err = sy_app_team_update(s, t, msg, sizeof msg);
    if (err == SY_ERR_INVALID_REQUEST) {
        fail(j, err, "a team named '%s' exists already", t->name);
        goto out;
    }
    if (err) {
        store_fail(j, err, msg);
        goto out;
    }
    audit(j, "team.update", t->id,
          json_pack("{s:s, s:o}", "name", t->name, "limits", array_text(t->limits)));
    set_out(j, 200, team_json(t));
out:
    free(limits);
    sy_app_team_free(t);
}

static void op_team_member(job_t *j)
{
    const char *user, *role;
    if (!field_str(j, "user_id", 64, &user) || !field_str(j, "role", 16, &role)) return;
    if (!user) return (void)fail(j, SY_ERR_INVALID_REQUEST, "'user_id' is required", NULL);
    if (!role) role = "member";
    if (!role_ok(role))
        return (void)fail(j, SY_ERR_INVALID_REQUEST, "'role' must be admin, member or viewer",
                          NULL);
    char msg[SY_STORE_MSGLEN];
    sy_app_user_t *u = NULL;
    sy_err_t err = sy_app_user_get(sy_auth_store(j->auth), user, NULL, &u, msg, sizeof msg);
    sy_app_user_free(u);
    if (err) return store_fail(j, err, err == SY_ERR_NOT_FOUND ? "no such user" : msg);
    sy_app_team_t *t = NULL;
    err = sy_app_team_get(sy_auth_store(j->auth), j->id, &t, msg, sizeof msg);
    sy_app_team_free(t);
    if (err) return store_fail(j, err, err == SY_ERR_NOT_FOUND ? "no such team" : msg);
    err = sy_app_team_member_put(sy_auth_store(j->auth), j->id, user, role, msg, sizeof msg);
    if (err) return store_fail(j, err, msg);
    audit(j, "team.member", j->id, json_pack("{s:s, s:s}", "user_id", user, "role", role));
    set_out(j, 200, json_pack("{s:s, s:s, s:s}", "team_id", j->id, "user_id", user, "role", role));
}

/* Every key (owner_user NULL) or one user's. */
static void op_keys_list(job_t *j, const char *owner_user)
{
    sy_app_key_t **v = NULL;
    size_t n = 0;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err =
        sy_app_key_list(sy_auth_store(j->auth), owner_user, NULL, &v, &n, msg, sizeof msg);
    if (err) return store_fail(j, err, msg);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, key_json(v[i]));
    sy_app_key_list_free(v, n);
    set_out(j, 200, list_json(a));
}

/* Inserts a new key (row filled by the caller except id, prefix, hash, created) and answers
 * with it and, this once, its plaintext. */
static void create_key(job_t *j, sy_app_key_t *k, const char *action, json_t *detail)
{
    char key[SY_AUTH_KEY_LEN + 1], prefix[SY_AUTH_PREFIX_LEN + 1], hash[SY_AUTH_HEX_LEN + 1];
    char id[SY_UUID_STRLEN + 1], msg[SY_STORE_MSGLEN];
    sy_auth_key_new(key, prefix, hash);
    sy_uuid_v7(id);
    k->id = id;
    k->prefix = prefix;
    k->hash = hash;
    k->created_us = j->now;
    sy_err_t err = sy_app_key_insert(sy_auth_store(j->auth), k, msg, sizeof msg);
    if (err) {
        json_decref(detail);
        store_fail(j, err, msg);
    } else {
        audit(j, action, id, detail);
        json_t *o = key_json(k);
        json_object_set_new(o, "key", json_string(key));
        set_out(j, 201, o);
    }
    k->id = k->prefix = k->hash = NULL;
    sodium_memzero(key, sizeof key);
}

/* Creates a key for owner_user or owner_team (exactly one; checked to exist) after checking
 * that its limits (key_n of its own, -1: the defaults) fit next to the owner's; answers 201 with
 * the plaintext key once. The admin's POST /api/v1/keys and a user's POST /api/v1/me/keys. */
static void key_create_for(job_t *j, const char *name, const char *owner_user,
                           const char *owner_team, int64_t exp, char *models, char *tags,
                           char *limits, long key_n)
{
    if (!fits_owner(j, owner_user, owner_team, key_n)) return;
    sy_app_key_t k = {.name = (char *)(name ? name : "unnamed"),
                      .owner_user = (char *)owner_user,
                      .owner_team = (char *)owner_team,
                      .expires_us = exp,
                      .allowed_models = models,
                      .default_tags = tags,
                      .limits = limits};
    create_key(j, &k, "key.create",
               json_pack("{s:s, s:o, s:o}", "name", k.name, "allowed_models", array_text(models),
                         "limits", array_text(limits)));
}

static void op_key_create(job_t *j)
{
    const char *name, *owner_user, *owner_team;
    char *models = NULL, *tags = NULL, *limits = NULL;
    bool has_models, has_tags, has_exp, has_limits;
    int64_t exp;
    long nl;
    if (!field_str(j, "name", 200, &name) || !field_str(j, "owner_user", 64, &owner_user) ||
        !field_str(j, "owner_team", 64, &owner_team) ||
        !field_str_array(j, "allowed_models", &models, &has_models) ||
        !field_str_array(j, "default_tags", &tags, &has_tags) || !field_expiry(j, &exp, &has_exp) ||
        !field_limits(j, SY_LIMITS_ENT_KEY, &limits, &has_limits, &nl))
        goto out;
    if (owner_user && owner_team) {
        fail(j, SY_ERR_INVALID_REQUEST, "give owner_user or owner_team, not both", NULL);
        goto out;
    }
    if (!owner_user && !owner_team) owner_user = j->who.user_id;
    key_create_for(j, name, owner_user, owner_team, exp, models, tags, limits, nl);
out:
    free(models);
    free(tags);
    free(limits);
}

static sy_app_key_t *load_key(job_t *j)
{
    sy_app_key_t *k = NULL;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = sy_app_key_get(sy_auth_store(j->auth), j->id, &k, msg, sizeof msg);
    if (err) store_fail(j, err, err == SY_ERR_NOT_FOUND ? "no such key" : msg);
    return k;
}

static void save_key(job_t *j, sy_app_key_t *k, const char *action, json_t *detail)
{
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = sy_app_key_update(sy_auth_store(j->auth), k, msg, sizeof msg);
    if (err) {
        json_decref(detail);
        return store_fail(j, err, msg);
    }
    snprintf(j->forget[0], sizeof j->forget[0], "%s", k->hash);
    audit(j, action, k->id, detail);
    set_out(j, 200, key_json(k));
}

static void op_key_get(job_t *j)
{
    sy_app_key_t *k = load_key(j);
    if (k) set_out(j, 200, key_json(k));
    sy_app_key_free(k);
}

static void op_key_update(job_t *j)
{
    sy_app_key_t *k = load_key(j);
    if (!k) return;
    const char *name;
    char *models = NULL, *tags = NULL, *limits = NULL;
    bool has_models, has_tags, has_exp, has_limits;
    int64_t exp;
    long nl;
    if (!field_str(j, "name", 200, &name) ||
        !field_str_array(j, "allowed_models", &models, &has_models) ||
        !field_str_array(j, "default_tags", &tags, &has_tags) || !field_expiry(j, &exp, &has_exp) ||
        !field_limits(j, SY_LIMITS_ENT_KEY, &limits, &has_limits, &nl) ||
        (has_limits && !fits_owner(j, k->owner_user, k->owner_team, nl)))
        goto out;
    if (has_limits) free(k->limits), k->limits = limits, limits = NULL;
    if (name) free(k->name), k->name = sy_xstrdup(name);
    if (has_models) free(k->allowed_models), k->allowed_models = models, models = NULL;
    if (has_tags) free(k->default_tags), k->default_tags = tags, tags = NULL;
    if (has_exp) k->expires_us = exp;
    save_key(j, k, "key.update",
             json_pack("{s:o, s:o, s:o}", "allowed_models", array_text(k->allowed_models),
                       "expires_at", time_json(k->expires_us), "limits", array_text(k->limits)));
out:
    free(models);
    free(tags);
    free(limits);
    sy_app_key_free(k);
}

/* owner_user: only a key of this user (another's is "no such key", like a missing one). */
static void op_key_revoke(job_t *j, const char *owner_user)
{
    sy_app_key_t *k = load_key(j);
    if (!k) return;
    if (owner_user && (!k->owner_user || strcmp(k->owner_user, owner_user) != 0))
        fail(j, SY_ERR_NOT_FOUND, "no such key", NULL);
    else {
        if (!k->revoked_us) k->revoked_us = j->now;
        save_key(j, k, "key.revoke", NULL);
    }
    sy_app_key_free(k);
}

/* ---- the caller's own keys (/api/v1/me/keys; any role, viewers read only) ---- */

/* Creating or revoking one's own keys needs a signed-in session (cookie + CSRF token, checked
 * by the caller): a leaked restricted API key (a few models, a short expiry, tight limits) must
 * not mint a broader one, or revoke its owner's other keys. Listing stays open to API keys. */
static bool may_change_own(job_t *j)
{
    if (!j->who.session_hash[0]) {
        fail(j, SY_ERR_FORBIDDEN,
             "creating or revoking your own keys needs a signed-in session (cookie and CSRF "
             "token); an API key cannot do it",
             NULL);
        return false;
    }
    if (strcmp(j->who.role, "viewer") != 0) return true;
    fail(j, SY_ERR_FORBIDDEN, "the viewer role cannot create or revoke keys", NULL);
    return false;
}

/* A user has at most OWN_KEYS_MAX usable keys of their own, so that one user cannot fill the
 * admin's key listing (newest 1,000). */
static bool own_keys_room(job_t *j)
{
    sy_app_key_t **v = NULL;
    size_t n = 0, usable = 0;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err =
        sy_app_key_list(sy_auth_store(j->auth), j->who.user_id, NULL, &v, &n, msg, sizeof msg);
    if (err) {
        store_fail(j, err, msg);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        usable += key_usable(j, v[i]);
    sy_app_key_list_free(v, n);
    if (usable < OWN_KEYS_MAX) return true;
    char m[160];
    snprintf(m, sizeof m,
             "you already have %d usable keys of your own, the most allowed: revoke one first",
             OWN_KEYS_MAX);
    fail(j, SY_ERR_INVALID_REQUEST, "%s", m);
    return false;
}

/* POST /api/v1/me/keys {"name", "expires_at"? | "expires_in_s"?, "models"?}: a key of the
 * caller's own, with the config's default limits (a user cannot choose a key's limits) and no
 * default tags. */
static void op_me_key_create(job_t *j)
{
    if (!may_change_own(j)) return;
    const char *k;
    json_t *v;
    json_object_foreach(j->body, k, v)
    {
        if (strcmp(k, "name") && strcmp(k, "expires_at") && strcmp(k, "expires_in_s") &&
            strcmp(k, "models")) {
            char m[160];
            snprintf(m, sizeof m,
                     "unknown field '%.60s': a key of your own takes name, expires_at (or "
                     "expires_in_s) and models",
                     k);
            fail(j, SY_ERR_INVALID_REQUEST, "%s", m);
            return;
        }
    }
    const char *name;
    char *models = NULL;
    bool has_models, has_exp;
    int64_t exp;
    if (!field_str(j, "name", 200, &name) || !field_str_array(j, "models", &models, &has_models) ||
        !field_expiry(j, &exp, &has_exp))
        goto out;
    size_t i;
    json_array_foreach(json_object_get(j->body, "models"), i, v)
    {
        const char *m = json_string_value(v);
        if (!sy_config_find_model(j->w->cfg, m, strlen(m))) {
            char msg[300];
            snprintf(msg, sizeof msg, "models[%zu]: no model named '%.200s' is configured", i, m);
            fail(j, SY_ERR_INVALID_REQUEST, "%s", msg);
            goto out;
        }
    }
    if (own_keys_room(j))
        key_create_for(j, name, j->who.user_id, NULL, exp, models, NULL, NULL, -1);
out:
    free(models);
}

static void op_key_rotate(job_t *j)
{
    sy_app_key_t *old = load_key(j);
    if (!old) return;
    json_t *g = json_object_get(j->body, "grace_s");
    int64_t grace = sy_auth_conf(j->auth)->rotate_grace_s;
    if (g && (!json_is_integer(g) || json_integer_value(g) < 0 ||
              json_integer_value(g) > 30LL * 86400)) {
        fail(j, SY_ERR_INVALID_REQUEST, "'grace_s' must be 0 to 2592000 seconds", NULL);
        goto out;
    }
    if (g) grace = json_integer_value(g);
    if (old->revoked_us || (old->grace_until_us && old->grace_until_us <= j->now)) {
        fail(j, SY_ERR_INVALID_REQUEST, "the key is revoked or already rotated out", NULL);
        goto out;
    }
    sy_app_key_t k = {.name = old->name,
                      .owner_user = old->owner_user,
                      .owner_team = old->owner_team,
                      .expires_us = old->expires_us,
                      .rotated_from = old->id,
                      .allowed_models = old->allowed_models,
                      .default_tags = old->default_tags,
                      .limits = old->limits};
    create_key(j, &k, "key.rotate", json_pack("{s:s, s:I}", "old_key", old->id, "grace_s", grace));
    if (j->err) goto out;
    /* the old key stays valid until the grace deadline (0 s: ends now) */
    old->grace_until_us = j->now + grace * 1000000;
    if (!old->grace_until_us) old->grace_until_us = 1;
    char msg[SY_STORE_MSGLEN];
    if (sy_app_key_update(sy_auth_store(j->auth), old, msg, sizeof msg) == SY_OK)
        snprintf(j->forget[0], sizeof j->forget[0], "%s", old->hash);
out:
    sy_app_key_free(old);
}

static void op_audit_list(job_t *j)
{
    sy_app_audit_t **v = NULL;
    size_t n = 0;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err =
        sy_app_audit_list(sy_auth_store(j->auth), j->audit_limit, &v, &n, msg, sizeof msg);
    if (err) return store_fail(j, err, msg);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *detail = v[i]->detail ? json_loads(v[i]->detail, 0, NULL) : NULL;
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:o}", "object", "audit_event", "id",
                         v[i]->id, "time", time_json(v[i]->t_us), "actor", v[i]->actor, "action",
                         v[i]->action, "target", str_or_null(v[i]->target), "remote",
                         str_or_null(v[i]->remote), "detail", detail ? detail : json_null()));
    }
    sy_app_audit_list_free(v, n);
    set_out(j, 200, list_json(a));
}

static bool needs_admin(op_t op)
{
    return op != OP_ME && op != OP_LOGOUT && op != OP_GATE && op != OP_LOGIN &&
           op != OP_ME_KEYS_LIST && op != OP_ME_KEY_CREATE && op != OP_ME_KEY_REVOKE;
}

static void on_work(uv_work_t *wk)
{
    job_t *j = wk->data;
    j->now = wall_us();
    if (j->op == OP_LOGIN) return op_login(j);
    if (authenticate(j)) return;
    if (needs_admin(j->op) && !(j->op == OP_EXT && j->any_role) &&
        strcmp(j->who.role, "admin") != 0) {
        fail(j, SY_ERR_FORBIDDEN, "this call needs the admin role", NULL);
        return;
    }
    if (j->op == OP_GATE && strcmp(j->who.role, "admin") && strcmp(j->who.role, "viewer")) {
        fail(j, SY_ERR_FORBIDDEN, "the inference log is readable by the admin and viewer roles",
             NULL);
        return;
    }
    switch (j->op) {
    case OP_LOGIN:
    case OP_GATE:
        break;
    case OP_LOGOUT:
        return op_logout(j);
    case OP_ME:
        return op_me(j);
    case OP_USERS_LIST:
        op_users_list(j);
        if (!j->err)
            audit(j, "users.list", j->id[0] ? j->id : NULL, NULL); /* reads are audited too */
        break;
    case OP_USER_CREATE:
        return op_user_create(j);
    case OP_USER_UPDATE:
        return op_user_update(j);
    case OP_TEAMS_LIST:
        op_teams_list(j);
        if (!j->err)
            audit(j, "teams.list", j->id[0] ? j->id : NULL, NULL); /* reads are audited too */
        break;
    case OP_TEAM_CREATE:
        return op_team_create(j);
    case OP_TEAM_MEMBER:
        return op_team_member(j);
    case OP_TEAM_UPDATE:
        return op_team_update(j);
    case OP_KEYS_LIST:
        op_keys_list(j, NULL);
        if (!j->err)
            audit(j, "keys.list", j->id[0] ? j->id : NULL, NULL); /* reads are audited too */
        break;
    case OP_ME_KEYS_LIST:
        op_keys_list(j, j->who.user_id);
        if (!j->err) audit(j, "keys.list", j->who.user_id, NULL);
        break;
    case OP_ME_KEY_CREATE:
        return op_me_key_create(j);
    case OP_ME_KEY_REVOKE:
        if (may_change_own(j)) op_key_revoke(j, j->who.user_id);
        break;
    case OP_KEY_CREATE:
        return op_key_create(j);
    case OP_KEY_GET:
        op_key_get(j);
        if (!j->err) audit(j, "key.get", j->id[0] ? j->id : NULL, NULL); /* reads are audited too */
        break;
    case OP_KEY_UPDATE:
        return op_key_update(j);
    case OP_KEY_REVOKE:
        return op_key_revoke(j, NULL);
    case OP_KEY_ROTATE:
        return op_key_rotate(j);
    case OP_EXT:
        return j->ext(j);
    case OP_AUDIT_LIST:
        op_audit_list(j);
        if (!j->err)
            audit(j, "audit.list", j->id[0] ? j->id : NULL, NULL); /* reads are audited too */
        break;
    }
}

/* ---- operations of other files (admin.h, sy_admin_run) ---- */

const char *sy_admin_call_id(const sy_admin_call_t *c)
{
    return c->ext_id;
}

json_t *sy_admin_call_body(const sy_admin_call_t *c)
{
    return c->body;
}

const char *sy_admin_call_actor(const sy_admin_call_t *c)
{
    return c->who.actor;
}

int64_t sy_admin_call_now(const sy_admin_call_t *c)
{
    return c->now;
}

struct sy_worker *sy_admin_call_worker(const sy_admin_call_t *c)
{
    return c->w;
}

void sy_admin_call_audit(sy_admin_call_t *c, const char *action, const char *target, json_t *detail)
{
    audit(c, action, target, detail);
}

void sy_admin_call_answer(sy_admin_call_t *c, int status, json_t *v)
{
    set_out(c, status, v);
}

void sy_admin_call_answer_text(sy_admin_call_t *c, int status, char *body, const char *content_type,
                               const char *disposition)
{
    c->status = status;
    c->out = body;
    snprintf(c->ctype, sizeof c->ctype, "%s", content_type ? content_type : "");
    snprintf(c->disposition, sizeof c->disposition, "%s", disposition ? disposition : "");
}

const char *sy_admin_call_user_id(const sy_admin_call_t *c)
{
    return c->who.user_id;
}

const char *sy_admin_call_role(const sy_admin_call_t *c)
{
    return c->who.role;
}

bool sy_admin_call_mutating(const sy_admin_call_t *c)
{
    return c->mutating;
}

sy_store_t *sy_admin_call_store(const sy_admin_call_t *c)
{
    return sy_auth_store(c->auth);
}

void sy_admin_call_fail(sy_admin_call_t *c, sy_err_t err, const char *msg)
{
    fail(c, err, "%s", msg);
}

const sy_auth_ident_t *sy_admin_call_ident(const sy_admin_call_t *c)
{
    return &c->ident;
}

void *sy_admin_call_data(const sy_admin_call_t *c)
{
    return c->cont_data;
}

void sy_admin_call_continue(sy_admin_call_t *c)
{
    c->continued = true;
}

json_t *sy_admin_json_time(int64_t us)
{
    return time_json(us);
}

json_t *sy_admin_json_str(const char *s)
{
    return str_or_null(s);
}

/* ---- loop thread ---- */

static void job_free(job_t *j)
{
    if (j->op == OP_EXT && j->body) {
        /* e.g. a credential's value, when the caller was refused before the operation ran */
        const char *k;
        json_t *v;
        json_object_foreach(j->body, k, v)
        {
            if (json_is_string(v))
                sodium_memzero((char *)json_string_value(v), json_string_length(v));
        }
    }
    json_decref(j->body);
    free(j->out);
    sodium_memzero(j->csrf, sizeof j->csrf);
    free(j);
}

static void on_client_abort(sy_http_req_t *req, void *ctx)
{
    (void)req;
    job_t *j = ctx;
    j->req = NULL;
    uv_cancel((uv_req_t *)&j->work);
}

static void on_after_work(uv_work_t *wk, int status)
{
    job_t *j = wk->data;
    sy_http_req_t *req = j->req;
    for (int i = 0; i < 2; i++)
        if (j->forget[i][0]) sy_auth_cache_forget(j->auth, j->forget[i]);
    if (j->cont && !status && !j->err && j->continued) {
        if (req) {
            req->on_abort = NULL;
            req->hook_ctx = NULL;
        }
        sy_admin_cont_cb cont = j->cont;
        void *data = j->cont_data;
        sy_worker_t *w = j->w;
        job_free(j);
        cont(req, w, data, true);
        return;
    }
    if (j->cont) j->cont(NULL, j->w, j->cont_data, false); /* the job answers below */
    if (req) {
        req->on_abort = NULL;
        req->hook_ctx = NULL;
        if (status) {
            sy_api_send_error(req, SY_ERR_INTERNAL, NULL, "the call was cancelled");
        } else if (j->err) {
            sy_api_send_error(req, j->err, NULL, j->msg);
        } else if (j->op == OP_GATE) {
            sy_admin_next_cb next = j->next;
            sy_worker_t *w = j->w;
            job_free(j);
            next(req, w); /* e.g. the logs query, which queues its own work */
            return;
        } else {
            sy_http_header_t h[4];
            size_t n = 0;
            if (j->cookie[0])
                h[n++] = (sy_http_header_t){SY_STR_LIT("set-cookie"), sy_str_c(j->cookie)};
            h[n++] = (sy_http_header_t){SY_STR_LIT("cache-control"), SY_STR_LIT("no-store")};
            if (j->disposition[0])
                h[n++] =
                    (sy_http_header_t){SY_STR_LIT("content-disposition"), sy_str_c(j->disposition)};
            char ov[24];
            if (j->ctype[0]) {
                sy_api_overhead_header(&h[n++], ov, sy_clock_mono_us() - req->t_complete_us);
                sy_http_res_send(req, j->status, j->ctype, j->out, strlen(j->out), h, n);
            } else
                sy_api_send_json(req, j->status, j->out, strlen(j->out), h, n);
        }
    }
    job_free(j);
}

/* Copies the caller's credentials into the job. */
static void read_credentials(sy_http_req_t *req, job_t *j)
{
    sy_str_t key = sy_gate_presented_key(req);
    if (key.ptr && key.len && key.len <= SY_AUTH_PRESENTED_MAX) {
        /* a malformed key hashes to something no row has: the job answers 401 */
        sy_auth_hash_hex(key.ptr, key.len, j->key_hash);
        return;
    }
    sy_str_t c = sy_http_req_header(req, "cookie");
    for (size_t i = 0; c.ptr && i + sizeof(COOKIE) <= c.len; i++) {
        if ((i == 0 || c.ptr[i - 1] == ' ' || c.ptr[i - 1] == ';') &&
            memcmp(c.ptr + i, COOKIE "=", sizeof(COOKIE)) == 0) {
            size_t s = i + sizeof(COOKIE), e = s;
            while (e < c.len && c.ptr[e] != ';')
                e++;
            if (e - s == SY_AUTH_TOKEN_LEN) sy_auth_hash_hex(c.ptr + s, e - s, j->sess_hash);
            break;
        }
    }
    sy_str_t t = sy_http_req_header(req, "x-csrf-token");
    if (t.ptr && t.len == SY_AUTH_TOKEN_LEN) {
        memcpy(j->csrf, t.ptr, t.len);
        j->csrf_sent = true;
    }
}

static void submit(sy_http_req_t *req, sy_worker_t *w, job_t *j)
{
    j->req = req;
    j->w = w;
    j->auth = w->auth;
    j->mutating = j->op != OP_GATE && req->method != HTTP_GET && req->method != HTTP_HEAD;
    sy_http_req_peer(req, j->remote, sizeof j->remote);
    sy_str_t proto = sy_http_req_header(req, "x-forwarded-proto");
    j->secure = proto.ptr && proto.len == 5 && strncasecmp(proto.ptr, "https", 5) == 0;
    read_credentials(req, j);
    j->work.data = j;
    int r = uv_queue_work(&w->loop, &j->work, on_work, on_after_work);
    if (r) {
        job_free(j);
        sy_api_send_error(req, SY_ERR_INTERNAL, NULL, uv_strerror(r));
        return;
    }
    req->on_abort = on_client_abort;
    req->hook_ctx = j;
}

static bool method_is(const sy_http_req_t *req, llhttp_method_t m)
{
    return req->method == (uint8_t)m;
}

typedef struct login_state {
    bool done, allowed;
    int64_t retry_ms;
    sy_limits_resv_t *resv;
} login_state_t;

static void on_login_admit(void *arg, const sy_limits_result_t *r, sy_limits_resv_t *resv)
{
    login_state_t *st = arg;
    st->done = true;
    st->allowed = r->allowed;
    st->retry_ms = r->retry_after_ms;
    st->resv = resv;
}

/* Login throttling, per account and per client address (in-process limiter; every attempt
 * counts). false: the 429 was sent. */
static bool login_allowed(sy_http_req_t *req, sy_worker_t *w, json_t *body)
{
    const sy_authconf_t *c = sy_auth_conf(w->auth);
    char acct[SY_LIMITS_SCOPE_MAX], ip[96], peer[64];
    const char *email = json_string_value(json_object_get(body, "email"));
    snprintf(acct, sizeof acct, "login:acct:%.180s", email ? email : "");
    for (char *p = acct; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    sy_http_req_peer(req, peer, sizeof peer);
    snprintf(ip, sizeof ip, "login:ip:%s", peer);
    sy_limit_t lim[2] = {{acct, SY_LIMIT_REQUESTS, SY_LIMIT_HOUR, c->login_per_account, 0},
                         {ip, SY_LIMIT_REQUESTS, SY_LIMIT_HOUR, c->login_per_ip, 0}};
    login_state_t st = {0};
    sy_limits_t *l = sy_auth_login_limits(w->auth);
    /* the in-process backend answers before admit returns */
    if (sy_limits_admit(l, lim, 2, 0, on_login_admit, &st) || !st.done) {
        sy_api_send_error(req, SY_ERR_INTERNAL, NULL, "login throttling failed");
        return false;
    }
    if (st.resv) sy_limits_finish(l, st.resv, 0, -1, NULL, NULL);
    if (st.allowed) return true;
    char ra[24];
    snprintf(ra, sizeof ra, "%lld", (long long)sy_limits_retry_after_s(st.retry_ms));
    sy_http_header_t h = {SY_STR_LIT("retry-after"), sy_str_c(ra)};
    int status;
    const char *type, *code;
    sy_api_error_info(SY_ERR_RATE_LIMITED, &status, &type, &code);
    sy_api_send_error_hdrs(req, status, type, code, NULL,
                           "too many sign-in attempts for this account or address; try later", &h,
                           1);
    return false;
}

void sy_admin_gate(sy_http_req_t *req, sy_worker_t *w, sy_admin_next_cb next)
{
    if (!w->auth) return next(req, w);
    job_t *j = sy_xcalloc(1, sizeof *j);
    j->op = OP_GATE;
    j->next = next;
    submit(req, w, j);
}

/* Splits "/api/v1/<a>[/<id>[/<b>]]" after the prefix. */
static void split(sy_str_t rest, sy_str_t *a, sy_str_t *id, sy_str_t *b)
{
    *a = *id = *b = SY_STR_NULL;
    const char *p = rest.ptr, *end = rest.ptr + rest.len;
    const char *s1 = memchr(p, '/', rest.len);
    *a = sy_str(p, (size_t)((s1 ? s1 : end) - p));
    if (!s1) return;
    const char *s2 = memchr(s1 + 1, '/', (size_t)(end - s1 - 1));
    *id = sy_str(s1 + 1, (size_t)((s2 ? s2 : end) - s1 - 1));
    if (s2) *b = sy_str(s2 + 1, (size_t)(end - s2 - 1));
}

static bool id_ok(sy_str_t id)
{
    if (id.len == 0 || id.len >= SY_AUTH_ID_MAX) return false;
    for (size_t i = 0; i < id.len; i++) {
        char c = id.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static void run_ext(sy_http_req_t *req, sy_worker_t *w, sy_admin_op_cb op, json_t *body,
                    sy_str_t id, bool any_role, sy_admin_cont_cb cont, void *data)
{
    job_t *j = sy_xcalloc(1, sizeof *j);
    j->cont = cont;
    j->cont_data = data;
    j->op = OP_EXT;
    j->ext = op;
    j->body = body;
    j->any_role = any_role;
    if (id.ptr)
        memcpy(j->ext_id, id.ptr, id.len < sizeof j->ext_id ? id.len : sizeof j->ext_id - 1);
    submit(req, w, j);
}

void sy_admin_run(sy_http_req_t *req, sy_worker_t *w, sy_admin_op_cb op, json_t *body, sy_str_t id)
{
    run_ext(req, w, op, body, id, false, NULL, NULL);
}

void sy_admin_run_user(sy_http_req_t *req, sy_worker_t *w, sy_admin_op_cb op, json_t *body,
                       sy_str_t id)
{
    run_ext(req, w, op, body, id, true, NULL, NULL);
}

void sy_admin_run_user_then(sy_http_req_t *req, sy_worker_t *w, sy_admin_op_cb op, json_t *body,
                            sy_str_t id, sy_admin_cont_cb cont, void *data)
{
    run_ext(req, w, op, body, id, true, cont, data);
}

bool sy_admin_handle(sy_http_req_t *req, sy_worker_t *w)
{
    sy_str_t p = req->path;
    if (p.len < 8 || memcmp(p.ptr, "/api/v1/", 8) != 0) return false;
    sy_str_t a, id, b;
    split(sy_str(p.ptr + 8, p.len - 8), &a, &id, &b);
    bool get = method_is(req, HTTP_GET), post = method_is(req, HTTP_POST),
         patch = method_is(req, HTTP_PATCH);
    int op = -1;
    const char *allowed = "GET";
    if (sy_str_eq_c(a, "auth") && !b.ptr) {
        allowed = sy_str_eq_c(id, "me") ? "GET" : "POST";
        if (sy_str_eq_c(id, "login") && post) op = OP_LOGIN;
        if (sy_str_eq_c(id, "logout") && post) op = OP_LOGOUT;
        if (sy_str_eq_c(id, "me") && get) op = OP_ME;
        if (!sy_str_eq_c(id, "login") && !sy_str_eq_c(id, "logout") && !sy_str_eq_c(id, "me"))
            return false;
    } else if (sy_str_eq_c(a, "users")) {
        if (!id.ptr) {
            allowed = "GET, POST";
            op = get ? OP_USERS_LIST : post ? OP_USER_CREATE : -1;
        } else if (!b.ptr) {
            allowed = "PATCH";
            op = patch ? OP_USER_UPDATE : -1;
        } else {
            return false;
        }
    } else if (sy_str_eq_c(a, "teams")) {
        if (!id.ptr) {
            allowed = "GET, POST";
            op = get ? OP_TEAMS_LIST : post ? OP_TEAM_CREATE : -1;
        } else if (!b.ptr) {
            allowed = "PATCH";
            op = patch ? OP_TEAM_UPDATE : -1;
        } else if (sy_str_eq_c(b, "members")) {
            allowed = "POST";
            op = post ? OP_TEAM_MEMBER : -1;
        } else {
            return false;
        }
    } else if (sy_str_eq_c(a, "keys")) {
        if (!id.ptr) {
            allowed = "GET, POST";
            op = get ? OP_KEYS_LIST : post ? OP_KEY_CREATE : -1;
        } else if (!b.ptr) {
            allowed = "GET, PATCH";
            op = get ? OP_KEY_GET : patch ? OP_KEY_UPDATE : -1;
        } else if (sy_str_eq_c(b, "revoke") || sy_str_eq_c(b, "rotate")) {
            allowed = "POST";
            op = post ? (sy_str_eq_c(b, "revoke") ? OP_KEY_REVOKE : OP_KEY_ROTATE) : -1;
        } else {
            return false;
        }
    } else if (sy_str_eq_c(a, "me") && sy_str_eq_c(id, "keys")) {
        if (!b.ptr) {
            allowed = "GET, POST";
            op = get ? OP_ME_KEYS_LIST : post ? OP_ME_KEY_CREATE : -1;
            id = SY_STR_NULL;
        } else {
            const char *slash = memchr(b.ptr, '/', b.len);
            if (!slash ||
                !sy_str_eq_c(sy_str(slash + 1, (size_t)(b.ptr + b.len - slash - 1)), "revoke"))
                return false;
            allowed = "POST";
            op = post ? OP_ME_KEY_REVOKE : -1;
            id = sy_str(b.ptr, (size_t)(slash - b.ptr));
        }
    } else if (sy_str_eq_c(a, "credentials")) {
        return sy_admin_creds_handle(req, w, id, b);
    } else if (sy_str_eq_c(a, "conversations") || sy_str_eq_c(a, "feedback")) {
        return sy_chatapi_handle(req, w, a, id, b);
    } else if (sy_str_eq_c(a, "audit") && !id.ptr) {
        op = get ? OP_AUDIT_LIST : -1;
    } else {
        return false;
    }
    if (op < 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "method not allowed for this path; use %s", allowed);
        sy_api_send_error(req, SY_ERR_METHOD_NOT_ALLOWED, NULL, msg);
        return true;
    }
    if (!w->auth) {
        sy_api_send_error(req, SY_ERR_NOT_FOUND, NULL,
                          "users, teams and keys exist only when auth.mode is required (this "
                          "gateway runs with auth.mode local)");
        return true;
    }
    if (id.ptr && !id_ok(id)) {
        sy_api_send_error(req, SY_ERR_INVALID_REQUEST, "id", "malformed id");
        return true;
    }
    json_t *body = NULL;
    if (post || patch) {
        json_error_t e;
        body = req->body.len ? json_loadb(req->body.base, req->body.len, 0, &e) : json_object();
        if (!json_is_object(body)) {
            json_decref(body);
            sy_api_send_error(req, SY_ERR_INVALID_JSON, NULL,
                              "the body must be a JSON object (or empty)");
            return true;
        }
    }
    size_t limit = 100;
    if (op == OP_AUDIT_LIST) {
        sy_http_param_t prm[] = {{.name = "limit"}};
        const char *bad = NULL;
        char msg[MSGLEN];
        if (sy_http_query_parse(req->query, prm, 1, &req->arena, &bad, msg, sizeof msg)) {
            sy_api_send_error(req, SY_ERR_INVALID_REQUEST, bad, msg);
            return true;
        }
        if (prm[0].set) {
            char num[8] = "";
            size_t n = prm[0].value.len < 7 ? prm[0].value.len : 7;
            memcpy(num, prm[0].value.ptr, n);
            char *end;
            long v = strtol(num, &end, 10);
            if (!n || *end || v < 1 || v > SY_APP_LIST_MAX) {
                sy_api_send_error(req, SY_ERR_INVALID_REQUEST, "limit",
                                  "'limit' must be an integer from 1 to 1000");
                return true;
            }
            limit = (size_t)v;
        }
    }
    if (op == OP_LOGIN && !login_allowed(req, w, body)) {
        json_decref(body);
        return true;
    }
    job_t *j = sy_xcalloc(1, sizeof *j);
    j->op = (op_t)op;
    j->body = body;
    j->audit_limit = limit;
    if (id.ptr) memcpy(j->id, id.ptr, id.len);
    submit(req, w, j);
    return true;
}
