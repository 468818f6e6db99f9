/* Outbound HTTP calls on the loop thread: libcurl's multi interface driven by libuv
 * (uv_poll per socket, one uv_timer for curl's timeouts), one sy_upstream_t per loop thread.
 * Connections are reused across calls (curl's per-multi connection cache); TLS and HTTP/2 come
 * from curl.
 *
 * One call = callbacks on head / data / done, all on the loop thread:
 *   on_head  once, when the upstream's final status line and headers have arrived;
 *   on_data  for each piece of body as curl reads it; return false to pause the transfer
 *            (it stops reading from the socket until sy_upstream_resume);
 *   on_done  exactly once, unless sy_upstream_cancel was called first, after which no callback
 *            fires. err is SY_OK for a complete transfer.
 * Never call sy_upstream_cancel from inside this call's own callbacks: return from the callback
 * and cancel later, or use the err/pause contract (curl forbids removing a transfer from inside
 * its own callback). */
#ifndef SY_UPSTREAM_UPSTREAM_H
#define SY_UPSTREAM_UPSTREAM_H
#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"
#include "core/str.h"

typedef struct sy_upstream sy_upstream_t;
typedef struct sy_upstream_call sy_upstream_call_t;

struct sy_upstream_call {
    /* set by the caller before sy_upstream_start */
    const char *url;
    struct curl_slist *headers; /* owned by the caller; must outlive the call */
    const char *body;           /* owned by the caller; must outlive the call */
    size_t body_len;
    uint32_t connect_ms, first_byte_ms, idle_ms, total_ms; /* 0 = no limit */
    void (*on_head)(sy_upstream_call_t *call, int status, sy_str_t content_type);
    bool (*on_data)(sy_upstream_call_t *call, const char *data, size_t len);
    void (*on_done)(sy_upstream_call_t *call, sy_err_t err, const char *detail);
    void *ctx;
    /* never through a proxy from http_proxy/ALL_PROXY (curl): for a call to our own listener
     * on a non-loopback address; loopback hosts (localhost, 127.0.0.0/8, ::1) never are */
    bool direct;
    /* filled in */
    int status;
    int64_t retry_after_ms; /* from Retry-After / retry-after-ms; -1 when absent (set at head) */
    uint64_t t_start_us, t_head_us, t_first_data_us, t_end_us;
    /* private */
    sy_upstream_t *up;
    void *h1conn;         /* native client connection (h1.c), or NULL */
    const void *h1target; /* native client target, or NULL when curl runs the call */
    bool h1_retried;      /* already retried once after a stale keep-alive connection */
    CURL *easy;
    uv_timer_t *timer; /* first-byte / idle watchdog; heap, closed asynchronously */
    char content_type[128];
    char retry_after[40]; /* raw header values, parsed at head */
    char retry_after_ms_h[24];
    char errbuf[CURL_ERROR_SIZE];
    bool head_seen;
    bool pause_next;
    bool paused;
    bool in_callback;
    bool done;
    sy_err_t timeout_err;
};

/* Per loop thread. native_http1: serve plain-http URLs with a numeric host with the native
 * HTTP/1.1 client (h1.h) instead of curl. Returns NULL on failure (curl_multi_init failed). */
sy_upstream_t *sy_upstream_new(uv_loop_t *loop, bool native_http1);
/* Cancels every call still running (no callbacks) and frees after the handles close. */
void sy_upstream_free(sy_upstream_t *up);

/* Starts a call. On error the callbacks never fire. */
sy_err_t sy_upstream_start(sy_upstream_t *up, sy_upstream_call_t *call);
/* Resumes a transfer paused by on_data returning false. May deliver data synchronously. */
void sy_upstream_resume(sy_upstream_call_t *call);
/* Aborts the transfer and closes its connection now; no callback fires afterwards. */
void sy_upstream_cancel(sy_upstream_call_t *call);
/* Parses Retry-After (delta-seconds, fractional seconds accepted, or an HTTP-date) and
 * retry-after-ms (preferred when both are present) into milliseconds; -1 when absent or bad. */
int64_t sy_upstream_retry_after_ms(const char *retry_after, const char *retry_after_ms);
/* Number of curl calls in flight (diagnostics). */
size_t sy_upstream_active(const sy_upstream_t *up);

#endif
