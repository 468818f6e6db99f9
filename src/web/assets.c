/* Lookup in the generated asset table (see assets.h). The table is small (tens of files): a
 * linear scan costs less than the request's parsing. */
#include "web/assets.h"

#include <string.h>

const sy_web_asset_t *sy_web_asset_find(const char *path, size_t len)
{
    for (size_t i = 0; i < sy_web_assets_count; i++) {
        const sy_web_asset_t *a = &sy_web_assets[i];
        if (strlen(a->path) == len && memcmp(a->path, path, len) == 0) return a;
    }
    return NULL;
}
