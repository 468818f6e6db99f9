/* One error enum for the whole program. Fallible functions return sy_err_t; 0 is success.
 * src/api/errors.c maps each value to an HTTP status and an OpenAI error type/code. */
#ifndef SY_CORE_ERR_H
#define SY_CORE_ERR_H

typedef enum sy_err {
    SY_OK = 0,
    SY_ERR_NOMEM,                /* never returned: allocation failure aborts (sy_xmalloc) */
    SY_ERR_INVALID_JSON,         /* 400: body is not valid JSON */
    SY_ERR_INVALID_REQUEST,      /* 400: a field is missing or has a wrong type/value */
    SY_ERR_MODEL_NOT_FOUND,      /* 404: unknown public model name */
    SY_ERR_NOT_FOUND,            /* 404: unknown path */
    SY_ERR_METHOD_NOT_ALLOWED,   /* 405 */
    SY_ERR_HEADER_TIMEOUT,       /* 408: request head not received in time */
    SY_ERR_TOO_LARGE,            /* 413: body over limit (also: a capped buffer overflowed) */
    SY_ERR_HEADERS_TOO_LARGE,    /* 431 */
    SY_ERR_BAD_HTTP,             /* 400: HTTP framing error from llhttp */
    SY_ERR_UPSTREAM_UNREACHABLE, /* 502: connect, DNS or TLS failure */
    SY_ERR_UPSTREAM_BROKEN,      /* 502: upstream closed early or sent garbage */
    SY_ERR_UPSTREAM_TIMEOUT,     /* 504 */
    SY_ERR_UPSTREAM_STATUS,      /* upstream answered 4xx/5xx: its status is passed through */
    SY_ERR_SHUTTING_DOWN,        /* 503 */
    SY_ERR_UNAVAILABLE,          /* 503: every deployment of the model is cooling down */
    SY_ERR_CONFIG,               /* configuration error (startup only) */
    SY_ERR_INTERNAL,             /* 500: a bug or an unexpected library failure */
    SY_ERR_STORE,                /* 503: the store failed (I/O, SQL, connection, busy) */
    SY_ERR_STORE_SCHEMA,         /* 500: the database schema is newer than this binary knows */
    SY_ERR_CORRUPT,              /* 500: stored/spooled data failed to decode (bad version,
                                    truncated, out-of-range field) */
    SY_ERR_UNAUTHORIZED,         /* 401: missing or invalid API key / session */
    SY_ERR_FORBIDDEN,            /* 403: authenticated but not allowed (role, model, CSRF) */
    SY_ERR_RATE_LIMITED,         /* 429: too many attempts (login throttling) */
    SY_ERR__COUNT
} sy_err_t;

#endif
