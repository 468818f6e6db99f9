/* The admin API under /api/v1/ (api/admin.c; docs/API.md). Loop thread only. */
#ifndef SY_API_ADMIN_H
#define SY_API_ADMIN_H
#include <stdbool.h>

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

#endif
