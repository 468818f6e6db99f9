/* The embedded web app and the OpenAPI document (api/webapp.c; docs/internals/CHAT.md,
 * "Serving the app"). Loop thread only; nothing blocks: the bytes are in the binary. */
#ifndef SY_API_WEBAPP_H
#define SY_API_WEBAPP_H
#include <stdbool.h>

#include "http/server.h"

/* Content-Security-Policy of every page and asset: same-origin scripts, styles, images and
 * fetches only; no inline script, no eval, no plugins, not framable. */
#define SY_WEBAPP_CSP                                                                              \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "                  \
    "form-action 'self'; frame-ancestors 'none'; object-src 'none'"

/* Serves GET/HEAD "/" (index.html), "/assets/…" and "/api/v1/openapi.json" from the embedded
 * table and returns true; false when the path is none of those (route it elsewhere). A method
 * other than GET/HEAD is 405; an unknown asset 404. Answers carry ETag (304 on a matching
 * If-None-Match), Cache-Control (immutable for content-hashed names, else no-cache), the gzip
 * copy when the client accepts it (Vary: Accept-Encoding), X-Content-Type-Options: nosniff and
 * the CSP above. */
bool sy_webapp_handle(sy_http_req_t *req);

#endif
