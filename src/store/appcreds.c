/* Provider credentials over app_exec (see appcreds.h); the same SQL on SQLite and PostgreSQL. */
#include "store/appcreds.h"

#include <inttypes.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

#define COLS "name, provider, ciphertext, nonce, key_id, last4, created_us, updated_us, updated_by"
#define TXT(v) ((sy_app_param_t){.kind = (v) ? SY_APP_TEXT : SY_APP_NULL, .text = (v)})
#define I64(v) ((sy_app_param_t){.kind = SY_APP_I64, .i64 = (v)})

void sy_app_cred_free(sy_app_cred_t *c)
{
    if (!c) return;
    free(c->name);
    free(c->provider);
    free(c->ciphertext);
    free(c->nonce);
    free(c->key_id);
    free(c->last4);
    free(c->updated_by);
    free(c);
}

void sy_app_cred_list_free(sy_app_cred_t **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        sy_app_cred_free(v[i]);
    free(v);
}

static char *cell(const sy_app_rows_t *r, size_t row, size_t col)
{
    const char *v = sy_store_app_cell(r, row, col);
    return v ? sy_xstrdup(v) : NULL;
}

static sy_app_cred_t *cred_of(const sy_app_rows_t *r, size_t i)
{
    sy_app_cred_t *c = sy_xcalloc(1, sizeof *c);
    c->name = cell(r, i, 0);
    c->provider = cell(r, i, 1);
    c->ciphertext = cell(r, i, 2);
    c->nonce = cell(r, i, 3);
    c->key_id = cell(r, i, 4);
    c->last4 = cell(r, i, 5);
    const char *t = sy_store_app_cell(r, i, 6);
    c->created_us = t ? strtoll(t, NULL, 10) : 0;
    t = sy_store_app_cell(r, i, 7);
    c->updated_us = t ? strtoll(t, NULL, 10) : 0;
    c->updated_by = cell(r, i, 8);
    return c;
}

sy_err_t sy_app_cred_put(sy_store_t *s, const sy_app_cred_t *c, bool *created, char *msg,
                         size_t msglen)
{
    sy_app_param_t p[] = {TXT(c->name),   TXT(c->provider), TXT(c->ciphertext), TXT(c->nonce),
                          TXT(c->key_id), TXT(c->last4),    I64(c->updated_us), TXT(c->updated_by)};
    sy_app_rows_t r;
    sy_err_t err = sy_store_app_exec(
        s,
        "INSERT INTO credentials (" COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)"
        " ON CONFLICT (name) DO UPDATE SET provider = excluded.provider,"
        " ciphertext = excluded.ciphertext, nonce = excluded.nonce, key_id = excluded.key_id,"
        " last4 = excluded.last4, updated_us = excluded.updated_us,"
        " updated_by = excluded.updated_by RETURNING created_us",
        p, sizeof p / sizeof p[0], 1, &r, NULL, msg, msglen);
    if (err) return err;
    const char *t = sy_store_app_cell(&r, 0, 0);
    if (created) *created = r.n_rows == 1 && t && strtoll(t, NULL, 10) == c->updated_us;
    sy_store_app_rows_free(&r);
    return SY_OK;
}

sy_err_t sy_app_cred_get(sy_store_t *s, const char *name, sy_app_cred_t **out, char *msg,
                         size_t msglen)
{
    sy_app_rows_t r;
    sy_app_param_t p[] = {TXT(name)};
    sy_err_t err = sy_store_app_exec(s, "SELECT " COLS " FROM credentials WHERE name = $1", p, 1, 1,
                                     &r, NULL, msg, msglen);
    if (err) return err;
    if (r.n_rows == 0) {
        sy_store_app_rows_free(&r);
        return sy_store_fail(SY_ERR_NOT_FOUND, msg, msglen, "no such credential");
    }
    *out = cred_of(&r, 0);
    sy_store_app_rows_free(&r);
    return SY_OK;
}

sy_err_t sy_app_cred_list(sy_store_t *s, sy_app_cred_t ***out, size_t *n, char *msg, size_t msglen)
{
    sy_app_rows_t r;
    sy_err_t err = sy_store_app_exec(s, "SELECT " COLS " FROM credentials ORDER BY name", NULL, 0,
                                     SY_APP_LIST_MAX, &r, NULL, msg, msglen);
    if (err) return err;
    sy_app_cred_t **v = sy_xcalloc(r.n_rows ? r.n_rows : 1, sizeof *v);
    for (size_t i = 0; i < r.n_rows; i++)
        v[i] = cred_of(&r, i);
    *out = v;
    *n = r.n_rows;
    sy_store_app_rows_free(&r);
    return SY_OK;
}

sy_err_t sy_app_cred_delete(sy_store_t *s, const char *name, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {TXT(name)};
    int64_t changed = 0;
    sy_err_t err = sy_store_app_exec(s, "DELETE FROM credentials WHERE name = $1", p, 1, 0, NULL,
                                     &changed, msg, msglen);
    if (!err && !changed) err = sy_store_fail(SY_ERR_NOT_FOUND, msg, msglen, "no such credential");
    return err;
}

/* Only characters that cannot end or escape an SQL string literal. */
static bool literal_ok(const char *v)
{
    if (!v || !*v) return false;
    for (; *v; v++) {
        char c = *v;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=' || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static sy_err_t put_case(sy_buf_t *b, const char *col, sy_app_cred_t *const *v, size_t n,
                         size_t field)
{
    sy_err_t err = sy_buf_append_c(b, col);
    err = err ? err : sy_buf_append_c(b, " = CASE");
    for (size_t i = 0; i < n && !err; i++) {
        const char *val = field == 0 ? v[i]->ciphertext : v[i]->nonce;
        char upd[32];
        snprintf(upd, sizeof upd, "%" PRId64, v[i]->updated_us);
        /* the row as it was listed: one set again since (same name, later updated_us) gets
         * NULL like a new one, and the statement fails instead of writing back the old value */
        err = sy_buf_append_c(b, " WHEN name = '");
        err = err ? err : sy_buf_append_c(b, v[i]->name);
        err = err ? err : sy_buf_append_c(b, "' AND updated_us = ");
        err = err ? err : sy_buf_append_c(b, upd);
        err = err ? err : sy_buf_append_c(b, " THEN '");
        err = err ? err : sy_buf_append_c(b, val);
        err = err ? err : sy_buf_append_c(b, "'");
    }
    return err ? err : sy_buf_append_c(b, " END"); /* a row not in v: NULL, refused by NOT NULL */
}

sy_err_t sy_app_cred_rekey(sy_store_t *s, sy_app_cred_t *const *v, size_t n, const char *old_key_id,
                           const char *new_key_id, int64_t *changed, char *msg, size_t msglen)
{
    *changed = 0;
    if (!literal_ok(old_key_id) || !literal_ok(new_key_id))
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "rekey: malformed key id");
    for (size_t i = 0; i < n; i++)
        if (!literal_ok(v[i]->name) || !literal_ok(v[i]->ciphertext) || !literal_ok(v[i]->nonce))
            return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen,
                                 "rekey: a name or sealed value has unexpected characters");
    if (n == 0) return SY_OK;
    sy_buf_t b;
    sy_buf_init(&b, 64u << 20);
    sy_err_t err = sy_buf_append_c(&b, "UPDATE credentials SET ");
    err = err ? err : put_case(&b, "ciphertext", v, n, 0);
    err = err ? err : sy_buf_append_c(&b, ", ");
    err = err ? err : put_case(&b, "nonce", v, n, 1);
    err = err ? err : sy_buf_append_c(&b, ", key_id = '");
    err = err ? err : sy_buf_append_c(&b, new_key_id);
    err = err ? err : sy_buf_append_c(&b, "' WHERE key_id = '");
    err = err ? err : sy_buf_append_c(&b, old_key_id);
    err = err ? err : sy_buf_append(&b, "'", 2); /* with the NUL */
    if (err) {
        sy_buf_dispose(&b);
        return sy_store_fail(SY_ERR_TOO_LARGE, msg, msglen, "rekey: too many credentials");
    }
    char why[SY_STORE_MSGLEN];
    err = sy_store_app_exec(s, b.base, NULL, 0, 0, NULL, changed, why, sizeof why);
    sy_buf_dispose(&b);
    if (err)
        return sy_store_fail(err, msg, msglen,
                             "rekey: nothing was changed (%s); was a credential set while the "
                             "rekey ran? Run it again with the gateways stopped",
                             why);
    return SY_OK;
}
