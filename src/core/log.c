#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

sy_log_level_t sy_log_min_level = SY_LOG_INFO;
sy_log_format_t sy_log_format = SY_LOG_JSON;

const char *sy_log_module(const char *file, char *buf, size_t size)
{
    const char *p = file, *s;
    while ((s = strstr(p, "src/")) != NULL) /* the last "src/" */
        p = s + 4;
    if (p == file) {
        const char *slash = strrchr(file, '/');
        p = slash ? slash + 1 : file;
    }
    size_t n = strlen(p);
    if (n > 2 && p[n - 2] == '.' && p[n - 1] == 'c') n -= 2;
    if (n >= size) n = size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* Appends s as JSON string contents (no quotes) to line[*o..cap), never past cap. */
static void put_escaped(char *line, size_t *o, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s && *o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            line[(*o)++] = '\\';
            line[(*o)++] = (char)c;
        } else if (c == '\n') {
            line[(*o)++] = '\\';
            line[(*o)++] = 'n';
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(line + *o, "\\u00", 4);
            line[*o + 4] = hex[c >> 4];
            line[*o + 5] = hex[c & 15];
            *o += 6;
        } else {
            line[(*o)++] = (char)c;
        }
    }
}

void sy_log_at(sy_log_level_t level, const char *file, const char *request_id, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < sy_log_min_level) return;
    char msg[1024], mod[64], ts[40], line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
    sy_log_module(file, mod, sizeof mod);
    size_t o = 0, cap = sizeof line - 2;
    if (sy_log_format == SY_LOG_TEXT) {
        int n = snprintf(line, cap, "%s %s %s%s%s: %s", ts, names[level], mod,
                         request_id ? " " : "", request_id ? request_id : "", msg);
        o = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap;
    } else {
        int n =
            snprintf(line, cap, "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":\"", ts, names[level]);
        o = (size_t)n;
        put_escaped(line, &o, cap, mod);
        if (request_id) {
            memcpy(line + o, "\",\"request_id\":\"", 16);
            o += 16;
            put_escaped(line, &o, cap, request_id);
        }
        memcpy(line + o, "\",\"msg\":\"", 9);
        o += 9;
        put_escaped(line, &o, cap - 2, msg);
        line[o++] = '"';
        line[o++] = '}';
    }
    line[o++] = '\n';
    fwrite(line, 1, o, stderr); /* one fwrite: lines from threads do not interleave */
}
