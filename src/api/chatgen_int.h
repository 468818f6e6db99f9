/* Private to api/chatgen.c and api/chatgen_routes.c: the request state a route hands from the
 * loop to its thread-pool job and back, and what the routes use of a generation. Loop threads
 * unless said otherwise. */
#ifndef SY_API_CHATGEN_INT_H
#define SY_API_CHATGEN_INT_H
#include <stdbool.h>

#include "core/jsonschema.h"
#include "http/server.h"
#include "policy/auth.h"
#include "store/appchat.h"

struct sy_worker;
struct sy_chatgen;

#define SY_CHATGEN_ID_MAX 63
/* SSE clients (the POST's and re-attaches) per generation; beyond it, and beyond the user's
 * live generations (limits.max_live_generations_per_user, counted in the registry from the
 * generate job's reservation until the final row is stored): 429 rate_limit_error with
 * Retry-After: 1. */
#define SY_CHATGEN_WATCHERS_MAX 16

/* which route */
enum { SY_CHATGEN_GENERATE, SY_CHATGEN_STREAM, SY_CHATGEN_CANCEL };

typedef struct sy_chatgen_req {
    int kind;
    size_t max_body;
    const sy_model_conf_t *model;
    /* STREAM/CANCEL: the registry's generation when the request came, or NULL */
    struct sy_chatgen *live;
    /* GENERATE: the placeholder the job registered (a reference), or NULL; too_many: the job
     * found the user's cap reached (the continuation answers 429) */
    struct sy_chatgen *gen;
    bool too_many;
    unsigned max_live; /* limits.max_live_generations_per_user */
    char mid[SY_CHATGEN_ID_MAX + 1];
    /* job outputs */
    char conv_id[SY_CHATGEN_ID_MAX + 1];
    char *body;
    size_t body_len;
    char *user_json, *msg_json; /* rendered messages (the stored one for STREAM/CANCEL) */
    sy_app_msg_t *row;          /* GENERATE: the assistant placeholder */
    sy_jschema_t *schema;       /* GENERATE: response_format's json_schema, compiled */
    sy_auth_ident_t ident;
} sy_chatgen_req_t;

/* A reference to the live (or just finished) generation of message id, or NULL. Any thread. */
struct sy_chatgen *sy_chatgen_find(const char *id, size_t len);
/* Registers a placeholder for answer id (pool thread, before its row is written) so that a
 * …/stream or …/cancel arriving before sy_chatgen_start finds it: a re-attach waits, a cancel
 * is kept and applied when it starts (no call, stored cancelled). start_json: the assistant
 * message as it will be stored (copied). NULL when user_id has max_live live
 * generations already (counted under the registry's lock). Returns a reference for the caller
 * (sy_chatgen_start takes it). Any thread. */
struct sy_chatgen *sy_chatgen_reserve(const char *user_id, unsigned max_live, const char *id,
                                      const char *conv_id, const char *start_json);
/* Ends a placeholder that will not start (its job failed): watchers get final_json (copied) as
 * the final message; the registry forgets it. The caller still drops its own reference. Any
 * thread. */
void sy_chatgen_abandon(struct sy_chatgen *g, const char *final_json);
/* Drops a reference (from find, or one the caller holds). Any thread. */
void sy_chatgen_unref(struct sy_chatgen *g);
/* Starts the generation r's job prepared (r->gen, the placeholder), owned by w's loop; takes
 * r's placeholder, row, body, schema and identity. req: the POST's client (becomes a watcher)
 * or NULL. A cancel that reached the placeholder stores it cancelled without a call. */
void sy_chatgen_start(struct sy_worker *w, sy_chatgen_req_t *r, sy_http_req_t *req);
/* Attaches req (on w's loop) as a watcher: SSE head + start {user_json or null, the assistant
 * message}, everything so far, then the rest; cancel_waiter: only the final row, as
 * 200 {"message"}. False (nothing sent): g has SY_CHATGEN_WATCHERS_MAX SSE watchers already
 * (cancel waiters are not counted). */
bool sy_chatgen_watch(struct sy_chatgen *g, sy_http_req_t *req, struct sy_worker *w,
                      const char *user_json, bool cancel_waiter);
/* True while g has not finished; cancel: also asks its loop to stop the call. Any loop. */
bool sy_chatgen_cancel(struct sy_chatgen *g, bool cancel);
/* 429 rate_limit_error, Retry-After: 1: too many SSE clients on one answer (watchers) or too
 * many live generations for the user (max_live, for the message). */
void sy_chatgen_send_too_many(sy_http_req_t *req, bool watchers, unsigned max_live);
/* A stored answer as SSE: start then done at once. */
void sy_chatgen_send_stored(sy_http_req_t *req, const char *msg_json);
/* A message as its JSON object (malloc'd; "null" past the bound). Any thread. */
char *sy_chatgen_render(const sy_app_msg_t *m);

#endif
