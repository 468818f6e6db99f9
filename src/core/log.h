/* Process log on stderr, one line per call, thread-safe (one write per line).
 * Format (sy_log_format): JSON lines by default —
 *   {"ts":"2026-11-23T05:36:32.123Z","level":"warn","module":"routing/route",
 *    "request_id":"01a2...","msg":"..."}
 * (request_id only when known) — or plain text for a terminal (--log-format text).
 * The module is the source file under src/, without ".c" (from __FILE__).
 * Never pass secrets (API keys, Authorization values) to these functions. */
#ifndef SY_CORE_LOG_H
#define SY_CORE_LOG_H
#include <stddef.h>

typedef enum { SY_LOG_DEBUG, SY_LOG_INFO, SY_LOG_WARN, SY_LOG_ERROR } sy_log_level_t;
typedef enum { SY_LOG_JSON = 0, SY_LOG_TEXT } sy_log_format_t;

extern sy_log_level_t sy_log_min_level;
extern sy_log_format_t sy_log_format;

/* file: __FILE__ of the caller; request_id: NULL when the line is not about one request. */
void sy_log_at(sy_log_level_t level, const char *file, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define sy_log(level, ...) sy_log_at((level), __FILE__, NULL, __VA_ARGS__)
#define sy_log_info(...) sy_log_at(SY_LOG_INFO, __FILE__, NULL, __VA_ARGS__)
#define sy_log_warn(...) sy_log_at(SY_LOG_WARN, __FILE__, NULL, __VA_ARGS__)
#define sy_log_error(...) sy_log_at(SY_LOG_ERROR, __FILE__, NULL, __VA_ARGS__)
#define sy_log_debug(...)                                                                          \
    do {                                                                                           \
        if (sy_log_min_level <= SY_LOG_DEBUG)                                                      \
            sy_log_at(SY_LOG_DEBUG, __FILE__, NULL, __VA_ARGS__);                                  \
    } while (0)
/* The same about one request. */
#define sy_log_req_info(rid, ...) sy_log_at(SY_LOG_INFO, __FILE__, (rid), __VA_ARGS__)
#define sy_log_req_warn(rid, ...) sy_log_at(SY_LOG_WARN, __FILE__, (rid), __VA_ARGS__)
#define sy_log_req_debug(rid, ...)                                                                 \
    do {                                                                                           \
        if (sy_log_min_level <= SY_LOG_DEBUG)                                                      \
            sy_log_at(SY_LOG_DEBUG, __FILE__, (rid), __VA_ARGS__);                                 \
    } while (0)

/* "src/routing/route.c" (any prefix) -> "routing/route"; into buf. Exposed for tests. */
const char *sy_log_module(const char *file, char *buf, size_t size);

#endif
