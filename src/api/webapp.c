/* Serves the embedded asset table (web/assets.h): the web app at "/" and "/assets/…", and the
 * OpenAPI document. See webapp.h. */
#include "api/webapp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/clock.h"
#include "web/assets.h"

/* Does the If-None-Match header list etag (or "*")? Weak validators compare equal too
 * (RFC 9110 13.1.2: If-None-Match uses the weak comparison). */
static bool etag_matches(sy_str_t inm, const char *etag)
{
    size_t el = strlen(etag);
    const char *p = inm.ptr, *e = inm.ptr + inm.len;
    while (p && p < e) {
        while (p < e && (*p == ' ' || *p == ',' || *p == '\t'))
            p++;
        if (p < e && *p == '*') return true;
        if (e - p >= 2 && p[0] == 'W' && p[1] == '/') p += 2;
        if ((size_t)(e - p) >= el && memcmp(p, etag, el) == 0) return true;
        p = memchr(p, ',', (size_t)(e - p));
    }
    return false;
}

/* Does Accept-Encoding list gzip with a q-value above 0? ("gzip", "gzip;q=0.5", not "gzip;q=0") */
static bool accepts_gzip(sy_str_t ae)
{
    const char *p = ae.ptr, *e = ae.ptr + ae.len;
    while (p && p < e) {
        const char *end = memchr(p, ',', (size_t)(e - p));
        char tok[64];
        size_t n = (size_t)((end ? end : e) - p);
        if (n >= sizeof tok) n = sizeof tok - 1;
        memcpy(tok, p, n);
        tok[n] = '\0';
        char *t = tok + strspn(tok, " \t");
        if (strncasecmp(t, "gzip", 4) == 0 && (t[4] == '\0' || strchr(" \t;", t[4]))) {
            const char *q = strstr(t, "q=");
            return !q || strtod(q + 2, NULL) > 0;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

static void serve(sy_http_req_t *req, const sy_web_asset_t *a)
{
    sy_http_header_t h[9];
    size_t n = 0;
    char ov[24]; /* every answer of the gateway carries its overhead (docs/API.md) */
    sy_api_overhead_header(&h[n++], ov, sy_clock_mono_us() - req->t_complete_us);
    h[n++] = (sy_http_header_t){SY_STR_LIT("etag"), sy_str_c(a->etag)};
    h[n++] = (sy_http_header_t){SY_STR_LIT("cache-control"),
                                a->immutable ? SY_STR_LIT("public, max-age=31536000, immutable")
                                             : SY_STR_LIT("no-cache")};
    h[n++] = (sy_http_header_t){SY_STR_LIT("x-content-type-options"), SY_STR_LIT("nosniff")};
    h[n++] = (sy_http_header_t){SY_STR_LIT("content-security-policy"), SY_STR_LIT(SY_WEBAPP_CSP)};
    h[n++] = (sy_http_header_t){SY_STR_LIT("referrer-policy"), SY_STR_LIT("no-referrer")};
    if (a->gzip) h[n++] = (sy_http_header_t){SY_STR_LIT("vary"), SY_STR_LIT("Accept-Encoding")};
    if (etag_matches(sy_http_req_header(req, "if-none-match"), a->etag)) {
        sy_http_res_send(req, 304, NULL, NULL, 0, h, n);
        return;
    }
    if (a->gzip && accepts_gzip(sy_http_req_header(req, "accept-encoding"))) {
        h[n++] = (sy_http_header_t){SY_STR_LIT("content-encoding"), SY_STR_LIT("gzip")};
        sy_http_res_send(req, 200, a->content_type, a->gzip, a->gzip_len, h, n);
        return;
    }
    sy_http_res_send(req, 200, a->content_type, a->data, a->len, h, n);
}

bool sy_webapp_handle(sy_http_req_t *req)
{
    sy_str_t p = req->path;
    bool root = sy_str_eq_c(p, "/") || sy_str_eq_c(p, "/index.html");
    bool asset = p.len > 8 && memcmp(p.ptr, "/assets/", 8) == 0;
    bool spec = sy_str_eq_c(p, "/api/v1/openapi.json");
    if (!root && !asset && !spec) return false;
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        sy_api_send_error(req, SY_ERR_METHOD_NOT_ALLOWED, NULL,
                          "method not allowed for this path; use GET");
        return true;
    }
    const sy_web_asset_t *a =
        root ? sy_web_asset_find("/index.html", 11) : sy_web_asset_find(p.ptr, p.len);
    if (!a) {
        char msg[300];
        snprintf(msg, sizeof msg, "no asset %.*s", (int)(p.len > 200 ? 200 : p.len), p.ptr);
        sy_api_send_error(req, SY_ERR_NOT_FOUND, NULL, msg);
        return true;
    }
    serve(req, a);
    return true;
}
