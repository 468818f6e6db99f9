/* The admin API under /api/v1/ (api/admin.c; docs/API.md). Loop thread only. */
#ifndef SY_API_ADMIN_H
#define SY_API_ADMIN_H
#include <stdbool.h>

#include <jansson.h>

#include "core/err.h"
#include "http/server.h"

struct sy_worker;

/* Handles the request when its path is an admin route (auth/login|logout|me, users, teams,
 * keys, audit) and returns true; false: not an admin path, route it elsewhere. */
bool sy_admin_handle(sy_http_req_t *req, struct sy_worker *w);

typedef void (*sy_admin_next_cb)(sy_http_req_t *req, struct sy_worker *w);
/* Lets the request continue with next (on the loop thread) when the caller is an admin or a
 * viewer — checked on the thread pool; answers 401/403 itself otherwise. Auth off: next at
 * once. */
void sy_admin_gate(sy_http_req_t *req, struct sy_worker *w, sy_admin_next_cb next);

/* ---- admin operations kept in other files (api/admin_creds.c) ----
 * sy_admin_run queues op on the thread pool; the job first authenticates the caller exactly like
 * the admin API's own routes (admin API key, or session + CSRF token on mutating methods) and
 * requires the admin role, then calls op, which must answer (sy_admin_call_answer) or fail
 * (sy_admin_call_fail) and audit (sy_admin_call_audit). The job owns body (NULL or a JSON
 * object; decref'd after the answer) and copies id (up to 79 bytes). Loop thread only. */
typedef struct sy_admin_call sy_admin_call_t;
typedef void (*sy_admin_op_cb)(sy_admin_call_t *c);
void sy_admin_run(sy_http_req_t *req, struct sy_worker *w, sy_admin_op_cb op, json_t *body,
                  sy_str_t id);
/* The same for operations any signed-in user may call (api/chatapi.c): the caller is
 * authenticated the same way (a key must belong to a user) but any role passes; op checks what
 * the role may do. */
void sy_admin_run_user(sy_http_req_t *req, struct sy_worker *w, sy_admin_op_cb op, json_t *body,
                       sy_str_t id);
/* The same with a continuation on the loop thread: cont(req, w, data, continued) is called
 * exactly once after the job. continued true: op called sy_admin_call_continue (and answered
 * nothing); req is NULL when the client went away meanwhile (what op did still stands, e.g.
 * rows it wrote). continued false: the job answered (or failed, or was cancelled before op
 * ran) and cont only releases data; req is NULL then. Data belongs to the caller. */
typedef void (*sy_admin_cont_cb)(sy_http_req_t *req, struct sy_worker *w, void *data,
                                 bool continued);
void sy_admin_run_user_then(sy_http_req_t *req, struct sy_worker *w, sy_admin_op_cb op,
                            json_t *body, sy_str_t id, sy_admin_cont_cb cont, void *data);
/* Inside op (pool thread): */
void *sy_admin_call_data(const sy_admin_call_t *c); /* run_user_then's data */
void sy_admin_call_continue(sy_admin_call_t *c);    /* no answer: cont takes over */
/* The caller's identity as the /v1 limits phase uses it: a key's (with its owner's limits), or
 * for a session the user's own limits and no key (policy/auth.h). */
const struct sy_auth_ident *sy_admin_call_ident(const sy_admin_call_t *c);
const char *sy_admin_call_id(const sy_admin_call_t *c);
json_t *sy_admin_call_body(const sy_admin_call_t *c);
const char *sy_admin_call_actor(const sy_admin_call_t *c); /* "user:<id>" / "key:<id>" */
int64_t sy_admin_call_now(const sy_admin_call_t *c);       /* wall clock µs */
struct sy_worker *sy_admin_call_worker(const sy_admin_call_t *c);
/* Appends an audit_log row (detail: owned, may be NULL; never put a secret in it). */
void sy_admin_call_audit(sy_admin_call_t *c, const char *action, const char *target,
                         json_t *detail);
/* The answer: status + JSON (owned); sent with cache-control: no-store. */
void sy_admin_call_answer(sy_admin_call_t *c, int status, json_t *v);
/* An answer already rendered: body (malloc'd, NUL-terminated, owned) sent as content_type
 * (NULL: JSON, exactly like sy_admin_call_answer), with a content-disposition header when
 * disposition is not NULL; cache-control: no-store. */
void sy_admin_call_answer_text(sy_admin_call_t *c, int status, char *body, const char *content_type,
                               const char *disposition);
/* The caller: its user id, role ("admin" | "member" | "viewer"), whether the method changes
 * state (POST, PUT, PATCH, DELETE), and the app-data store. */
const char *sy_admin_call_user_id(const sy_admin_call_t *c);
const char *sy_admin_call_role(const sy_admin_call_t *c);
bool sy_admin_call_mutating(const sy_admin_call_t *c);
struct sy_store *sy_admin_call_store(const sy_admin_call_t *c);
/* An OpenAI-style error answer (errors.c maps err to the status). */
void sy_admin_call_fail(sy_admin_call_t *c, sy_err_t err, const char *msg);

/* The admin API's JSON conventions: a time (µs since the epoch; 0 → null) as RFC 3339; a
 * string or null. New references. */
json_t *sy_admin_json_time(int64_t us);
json_t *sy_admin_json_str(const char *s);

/* /api/v1/credentials[/{name}] (api/admin_creds.c): routes the request; true when handled. */
bool sy_admin_creds_handle(sy_http_req_t *req, struct sy_worker *w, sy_str_t name, sy_str_t rest);
/* /api/v1/conversations[/{id}[/messages|export]] and /api/v1/feedback/{log_id}
 * (api/chatapi.c): a is "conversations" or "feedback"; routes the request; true when handled. */
bool sy_chatapi_handle(sy_http_req_t *req, struct sy_worker *w, sy_str_t a, sy_str_t id,
                       sy_str_t rest);

#endif
