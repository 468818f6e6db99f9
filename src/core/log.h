/* Process log on stderr, one line per call, with level and thread-safe writes.
 * Never pass secrets (API keys, Authorization values) to these functions. */
#ifndef SY_CORE_LOG_H
#define SY_CORE_LOG_H

typedef enum { SY_LOG_DEBUG, SY_LOG_INFO, SY_LOG_WARN, SY_LOG_ERROR } sy_log_level_t;

extern sy_log_level_t sy_log_min_level;

void sy_log(sy_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sy_log_info(...) sy_log(SY_LOG_INFO, __VA_ARGS__)
#define sy_log_warn(...) sy_log(SY_LOG_WARN, __VA_ARGS__)
#define sy_log_error(...) sy_log(SY_LOG_ERROR, __VA_ARGS__)
#define sy_log_debug(...)                                                                          \
    do {                                                                                           \
        if (sy_log_min_level <= SY_LOG_DEBUG) sy_log(SY_LOG_DEBUG, __VA_ARGS__);                   \
    } while (0)

#endif
