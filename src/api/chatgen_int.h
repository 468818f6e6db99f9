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

/* which route */
enum { SY_CHATGEN_GENERATE, SY_CHATGEN_STREAM, SY_CHATGEN_CANCEL };

typedef struct sy_chatgen_req {
    int kind;
    size_t max_body;
    const sy_model_conf_t *model;
    /* STREAM/CANCEL: the registry's generation when the request came, or NULL */
    struct sy_chatgen *live;
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
/* Drops a reference (from find, or one the caller holds). Any thread. */
void sy_chatgen_unref(struct sy_chatgen *g);
/* Starts the generation r's job prepared, owned by w's loop; takes r's row, body, schema,
 * rendered assistant message and identity. req: the POST's client (becomes a watcher) or NULL. */
void sy_chatgen_start(struct sy_worker *w, sy_chatgen_req_t *r, sy_http_req_t *req);
/* Attaches req (on w's loop) as a watcher: SSE head + start {user_json or null, the assistant
 * message}, everything so far, then the rest; cancel_waiter: only the final row, as
 * 200 {"message"}. */
void sy_chatgen_watch(struct sy_chatgen *g, sy_http_req_t *req, struct sy_worker *w,
                      const char *user_json, bool cancel_waiter);
/* True while g has not finished; cancel: also asks its loop to stop the call. Any loop. */
bool sy_chatgen_cancel(struct sy_chatgen *g, bool cancel);
/* A stored answer as SSE: start then done at once. */
void sy_chatgen_send_stored(sy_http_req_t *req, const char *msg_json);
/* A message as its JSON object (malloc'd; "null" past the bound). Any thread. */
char *sy_chatgen_render(const sy_app_msg_t *m);

#endif
