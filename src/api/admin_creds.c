/* /api/v1/credentials: provider credentials through the admin API (docs/API.md,
 * docs/internals/SECRETS.md).
 *
 *   PUT    /api/v1/credentials/{name}  {"value": "...", "provider": "openai"?}  create/replace
 *   GET    /api/v1/credentials         list (never a value: last4 only)
 *   GET    /api/v1/credentials/{name}
 *   DELETE /api/v1/credentials/{name}
 *
 * The loop thread routes and checks the name and the body's shape; the job (api/admin.c,
 * sy_admin_run) authenticates an admin, then seals, stores and applies (creds.h) on the thread
 * pool, audits, and renders the answer. The value is wiped from the request body and the parsed
 * JSON as soon as it has been sealed. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/admin.h"
#include "api/api.h"
#include "creds.h"
#include "store/appcreds.h"
#include "worker.h"

#define PROVIDER_MAX 64

static json_t *cred_json(const sy_creds_t *creds, const sy_app_cred_t *c)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:o, s:o, s:s, s:b, s:o, s:o, s:o, s:o}", "object", "credential", "name",
        c->name, "provider", sy_admin_json_str(c->provider), "last4", sy_admin_json_str(c->last4),
        "master_key_id", c->key_id, "master_key_current",
        !strcmp(c->key_id, sy_creds_key_id(creds)), "created_at", sy_admin_json_time(c->created_us),
        "updated_at", sy_admin_json_time(c->updated_us), "updated_by",
        sy_admin_json_str(c->updated_by), "deployments", sy_creds_users(creds, c->name));
    return o;
}

static sy_creds_t *creds_of(sy_admin_call_t *c)
{
    return sy_admin_call_worker(c)->creds;
}

static void store_error(sy_admin_call_t *c, sy_err_t err, const char *msg)
{
    if (err == SY_ERR_NOT_FOUND) return sy_admin_call_fail(c, err, "no such credential");
    char m[SY_STORE_MSGLEN + 16];
    snprintf(m, sizeof m, "store: %s", msg);
    sy_admin_call_fail(c, SY_ERR_STORE, m);
}

static void op_list(sy_admin_call_t *c)
{
    sy_app_cred_t **v = NULL;
    size_t n = 0;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = sy_app_cred_list(sy_creds_store(creds_of(c)), &v, &n, msg, sizeof msg);
    if (err) return store_error(c, err, msg);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, cred_json(creds_of(c), v[i]));
    sy_app_cred_list_free(v, n);
    sy_admin_call_audit(c, "credentials.list", NULL, NULL);
    sy_admin_call_answer(c, 200, json_pack("{s:s, s:o}", "object", "list", "data", a));
}

static void op_get(sy_admin_call_t *c)
{
    sy_app_cred_t *row = NULL;
    char msg[SY_STORE_MSGLEN];
    const char *name = sy_admin_call_id(c);
    sy_err_t err = sy_app_cred_get(sy_creds_store(creds_of(c)), name, &row, msg, sizeof msg);
    if (err) return store_error(c, err, msg);
    sy_admin_call_audit(c, "credential.get", name, NULL);
    sy_admin_call_answer(c, 200, cred_json(creds_of(c), row));
    sy_app_cred_free(row);
}

static void op_delete(sy_admin_call_t *c)
{
    char msg[SY_STORE_MSGLEN];
    const char *name = sy_admin_call_id(c);
    sy_err_t err = sy_creds_delete(creds_of(c), name, msg, sizeof msg);
    if (err) return store_error(c, err, msg);
    json_t *users = sy_creds_users(creds_of(c), name);
    sy_admin_call_audit(c, "credential.delete", name, json_pack("{s:O}", "deployments", users));
    sy_admin_call_answer(c, 200,
                         json_pack("{s:s, s:s, s:b, s:o}", "object", "credential", "name", name,
                                   "deleted", 1, "deployments", users));
}

static void op_put(sy_admin_call_t *c)
{
    json_t *body = sy_admin_call_body(c);
    json_t *jv = json_object_get(body, "value");
    const char *provider = json_string_value(json_object_get(body, "provider"));
    const char *name = sy_admin_call_id(c);
    char msg[SY_STORE_MSGLEN];
    bool created = false;
    sy_app_cred_t *row = NULL;
    sy_err_t err =
        sy_creds_put(creds_of(c), name, provider, json_string_value(jv), json_string_length(jv),
                     sy_admin_call_actor(c), sy_admin_call_now(c), &created, &row, msg, sizeof msg);
    /* the plaintext is sealed (or the call failed): leave no copy in the parsed body */
    sodium_memzero((char *)json_string_value(jv), json_string_length(jv));
    if (err) return store_error(c, err, msg);
    json_t *users = sy_creds_users(creds_of(c), name);
    sy_admin_call_audit(c, "credential.set", name,
                        json_pack("{s:o, s:b, s:O}", "provider", sy_admin_json_str(provider),
                                  "created", created, "deployments", users));
    json_decref(users);
    sy_admin_call_answer(c, created ? 201 : 200, cred_json(creds_of(c), row));
    sy_app_cred_free(row);
}

/* value: visible ASCII only — it becomes an HTTP header line (no CR/LF, no NUL, no spaces). */
static bool value_ok(const char *v, size_t n)
{
    if (n < 1 || n > SY_SECRETS_VALUE_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x21 || v[i] > 0x7e) return false;
    return true;
}

static bool label_ok(const char *v)
{
    size_t n = strlen(v);
    if (n < 1 || n > PROVIDER_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e) return false;
    return true;
}

static bool put_body(sy_http_req_t *req, json_t **out)
{
    json_error_t e;
    json_t *body = req->body.len ? json_loadb(req->body.base, req->body.len, 0, &e) : NULL;
    /* the raw bytes hold the value: wipe them now that they are parsed (or refused), here and
     * in the server's input buffers */
    if (req->body.base) sodium_memzero(req->body.base, req->body.len);
    sy_http_req_wipe_input(req);
    *out = NULL;
    if (!json_is_object(body)) {
        json_decref(body);
        sy_api_send_error(req, SY_ERR_INVALID_JSON, NULL,
                          "the body must be a JSON object {\"value\": \"...\", \"provider\": ...}");
        return false;
    }
    json_t *v = json_object_get(body, "value"), *p = json_object_get(body, "provider");
    const char *bad = NULL, *why = NULL;
    if (!json_is_string(v) || !value_ok(json_string_value(v), json_string_length(v))) {
        bad = "value";
        why = "'value' is required: a string of 1 to 4096 visible ASCII characters (no spaces "
              "or control characters)";
    } else if (p && !json_is_null(p) && (!json_is_string(p) || !label_ok(json_string_value(p)))) {
        bad = "provider";
        why = "'provider' must be a string of 1 to 64 printable ASCII characters (or null)";
    } else {
        const char *k;
        json_t *x;
        json_object_foreach(body, k, x)
        {
            if (strcmp(k, "value") && strcmp(k, "provider")) {
                bad = k;
                why = "unknown field: the body has 'value' and optionally 'provider'";
                break;
            }
        }
    }
    if (bad) {
        char m[200];
        snprintf(m, sizeof m, "%s", why);
        bool unknown = strcmp(bad, "value") && strcmp(bad, "provider");
        if (json_is_string(v)) sodium_memzero((char *)json_string_value(v), json_string_length(v));
        json_decref(body);
        sy_api_send_error(req, SY_ERR_INVALID_REQUEST, unknown ? NULL : bad, m);
        return false;
    }
    *out = body;
    return true;
}

bool sy_admin_creds_handle(sy_http_req_t *req, sy_worker_t *w, sy_str_t name, sy_str_t rest)
{
    if (rest.ptr) return false;
    int m = req->method;
    sy_admin_op_cb op = NULL;
    const char *allowed;
    if (!name.ptr) {
        allowed = "GET";
        if (m == HTTP_GET) op = op_list;
    } else {
        allowed = "GET, PUT, DELETE";
        if (m == HTTP_GET) op = op_get;
        if (m == HTTP_PUT) op = op_put;
        if (m == HTTP_DELETE) op = op_delete;
    }
    if (!op) {
        char msg[96];
        snprintf(msg, sizeof msg, "method not allowed for this path; use %s", allowed);
        sy_api_send_error(req, SY_ERR_METHOD_NOT_ALLOWED, NULL, msg);
        return true;
    }
    if (!w->auth || !w->creds) {
        sy_api_send_error(req, SY_ERR_NOT_FOUND, NULL,
                          "credentials are managed through the admin API only when auth.mode is "
                          "required (this gateway runs with auth.mode local)");
        return true;
    }
    if (name.ptr && !sy_config_credential_name_ok(name.ptr, name.len)) {
        sy_api_send_error(req, SY_ERR_INVALID_REQUEST, "name",
                          "a credential name is 1 to 64 letters, digits, '.', '_' or '-'");
        return true;
    }
    json_t *body = NULL;
    if (op == op_put && !put_body(req, &body)) return true;
    sy_admin_run(req, w, op, body, name);
    return true;
}
