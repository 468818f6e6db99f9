/* The web app's files, embedded at build time: cmake/embed_assets.cmake turns every file under
 * web/ (served at "/" + its path) and docs/openapi.json (served at /api/v1/openapi.json) into
 * the generated table sy_web_assets (build/generated/web_assets.c; never edited, never
 * committed, so it cannot go stale). api/webapp.c serves it. Immutable, any thread. */
#ifndef SY_WEB_ASSETS_H
#define SY_WEB_ASSETS_H
#include <stdbool.h>
#include <stddef.h>

typedef struct sy_web_asset {
    const char *path;         /* URL path, "/index.html", "/assets/app.js" */
    const char *content_type; /* from the extension, with charset for text */
    const unsigned char *data;
    size_t len;
    const unsigned char *gzip; /* gzip copy, or NULL when it would not save 10 % */
    size_t gzip_len;
    const char *etag; /* "\"<32 hex of the SHA-256>\"", quotes included */
    bool immutable;   /* the name carries a content hash (app-3f2a9c1b.js): cache forever */
} sy_web_asset_t;

extern const sy_web_asset_t sy_web_assets[];
extern const size_t sy_web_assets_count;

/* The asset served at path (exact, case-sensitive), or NULL. */
const sy_web_asset_t *sy_web_asset_find(const char *path, size_t len);

#endif
