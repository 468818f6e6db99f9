#include "core/json.h"

static size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* p[i] == '"'; returns the offset just past the closing quote, or n on error. */
static size_t skip_string(const char *p, size_t n, size_t i, bool *escaped)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\') {
            if (escaped) *escaped = true;
            i++;
        } else if (p[i] == '"') {
            return i + 1;
        }
    }
    return n;
}

static size_t skip_value(const char *p, size_t n, size_t i)
{
    if (i >= n) return n;
    if (p[i] == '"') return skip_string(p, n, i, NULL);
    if (p[i] == '{' || p[i] == '[') {
        int depth = 0;
        while (i < n) {
            char c = p[i];
            if (c == '"') {
                i = skip_string(p, n, i, NULL);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0) return i + 1;
            }
            i++;
        }
        return n;
    }
    /* number, true, false, null */
    while (i < n && p[i] != ',' && p[i] != '}' && p[i] != ']' && p[i] != ' ' && p[i] != '\t' &&
           p[i] != '\n' && p[i] != '\r')
        i++;
    return i;
}

bool sy_json_scan_object(const char *p, size_t n,
                         bool (*on_member)(void *ctx, const sy_json_member_t *m), void *ctx,
                         size_t *close_pos)
{
    size_t i = skip_ws(p, n, 0);
    if (i >= n || p[i] != '{') return false;
    i = skip_ws(p, n, i + 1);
    bool stopped = false;
    if (i < n && p[i] == '}') goto close;
    for (;;) {
        if (i >= n || p[i] != '"') return false;
        sy_json_member_t m = {.key_escaped = false};
        size_t kend = skip_string(p, n, i, &m.key_escaped);
        if (kend >= n) return false;
        m.key = sy_str(p + i + 1, kend - i - 2);
        i = skip_ws(p, n, kend);
        if (i >= n || p[i] != ':') return false;
        i = skip_ws(p, n, i + 1);
        size_t vend = skip_value(p, n, i);
        if (vend > n || vend == i) return false;
        m.value = sy_str(p + i, vend - i);
        if (!stopped && on_member && !on_member(ctx, &m)) stopped = true;
        i = skip_ws(p, n, vend);
        if (i < n && p[i] == ',') {
            i = skip_ws(p, n, i + 1);
            continue;
        }
        break;
    }
close:
    if (i >= n || p[i] != '}') return false;
    if (close_pos) *close_pos = i;
    return true;
}

sy_err_t sy_json_append_string(sy_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    sy_err_t err;
    /* worst case: every byte becomes \u00XX */
    char *d = sy_buf_reserve(b, len * 6 + 2, &err);
    if (!d) return err;
    char *start = d;
    *d++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            *d++ = '\\';
            *d++ = '"';
            break;
        case '\\':
            *d++ = '\\';
            *d++ = '\\';
            break;
        case '\n':
            *d++ = '\\';
            *d++ = 'n';
            break;
        case '\r':
            *d++ = '\\';
            *d++ = 'r';
            break;
        case '\t':
            *d++ = '\\';
            *d++ = 't';
            break;
        case '\b':
            *d++ = '\\';
            *d++ = 'b';
            break;
        case '\f':
            *d++ = '\\';
            *d++ = 'f';
            break;
        default:
            if (c < 0x20) {
                *d++ = '\\';
                *d++ = 'u';
                *d++ = '0';
                *d++ = '0';
                *d++ = hex[c >> 4];
                *d++ = hex[c & 15];
            } else {
                *d++ = (char)c;
            }
        }
    }
    *d++ = '"';
    b->len += (size_t)(d - start);
    return SY_OK;
}
