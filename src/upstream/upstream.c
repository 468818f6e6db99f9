/* curl multi <-> libuv glue. DESIGN: curl tells us which sockets to watch (socket callback ->
 * uv_poll) and when to wake it (timer callback -> uv_timer); libuv tells curl when a socket is
 * ready (curl_multi_socket_action). Completed transfers are collected with curl_multi_info_read
 * outside any curl callback. A 0 ms curl timeout is honoured as 0 (a uv timer of 0 fires on the
 * next loop iteration), never rounded up. Easy handles are recycled through a free list. */
#include "upstream/upstream.h"

#include "upstream/h1.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

#define EASY_POOL_MAX 64
#define URL_CACHE_MAX 32

struct sy_upstream {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    CURL *pool[EASY_POOL_MAX];
    int n_pool;
    /* parsed URLs by string identity (config-owned strings): curl then skips parsing the URL
     * for every transfer */
    struct {
        const char *url;
        CURLU *h;
        sy_h1_target_t *native; /* non-NULL: the native HTTP/1.1 client runs this URL */
        bool loopback;          /* host is localhost / 127.0.0.0/8 / ::1: never via a proxy */
    } urls[URL_CACHE_MAX];
    int n_urls;
    sy_h1_t *h1; /* NULL when the native client is disabled */
    size_t active;
    bool closing;
    int handles_open;
};

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    sy_upstream_t *up;
} sock_ctx_t;

static void check_done(sy_upstream_t *up);
static size_t on_header(char *p, size_t size, size_t n, void *ud);
static size_t on_write(char *p, size_t size, size_t n, void *ud);

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_ctx_t *s = h->data;
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(s->up->multi, s->fd, flags, &running);
    check_done(s->up);
}

static void maybe_free(sy_upstream_t *up);

static void on_sock_closed(uv_handle_t *h)
{
    sock_ctx_t *s = h->data;
    sy_upstream_t *up = s->up;
    up->handles_open--;
    free(s);
    maybe_free(up);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    sy_upstream_t *up = userp;
    sock_ctx_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            if (!up->closing) curl_multi_assign(up->multi, fd, NULL);
            uv_close((uv_handle_t *)&s->poll, on_sock_closed);
        }
        return 0;
    }
    if (!s) {
        s = sy_xcalloc(1, sizeof *s);
        s->fd = fd;
        s->up = up;
        if (uv_poll_init_socket(up->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        up->handles_open++;
        curl_multi_assign(up->multi, fd, s);
    }
    int events = 0;
    if (what & CURL_POLL_IN) events |= UV_READABLE;
    if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_curl_timer(uv_timer_t *t)
{
    sy_upstream_t *up = t->data;
    int running;
    curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(up);
}

static int on_timer_update(CURLM *multi, long timeout_ms, void *userp)
{
    sy_upstream_t *up = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&up->timer);
    else
        uv_timer_start(&up->timer, on_curl_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

sy_upstream_t *sy_upstream_new(uv_loop_t *loop, bool native_http1)
{
    sy_upstream_t *up = sy_xcalloc(1, sizeof *up);
    up->loop = loop;
    if (native_http1) up->h1 = sy_h1_new(loop);
    up->multi = curl_multi_init();
    if (!up->multi) {
        free(up);
        return NULL;
    }
    uv_timer_init(loop, &up->timer);
    up->timer.data = up;
    up->handles_open = 1;
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, on_timer_update);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, 256L);
    curl_multi_setopt(up->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    return up;
}

/* Options that never change are set once per easy handle; pooled handles keep them (a
 * curl_easy_reset per call re-parses and re-applies everything). */
static CURL *new_easy(void)
{
    CURL *e = curl_easy_init();
    if (!e) return NULL;
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* SSE frames are small; curl's 16 KiB default receive buffer per open stream would cost
     * 70 MB at 5,000 streams (docs/PERFORMANCE.md) */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 2048L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    return e;
}

static void release_easy(sy_upstream_t *up, CURL *easy)
{
    if (up->n_pool < EASY_POOL_MAX && !up->closing)
        up->pool[up->n_pool++] = easy;
    else
        curl_easy_cleanup(easy);
}

/* Looks up (or parses and caches) a URL: the native target if the native client can serve it,
 * else a parsed curl URL. Both NULL when the cache is full (curl then parses the string). */
/* Whether url's host is a loopback address or name. Such calls (the chat generation's call to
 * our own listener, with the internal token; a local inference server) must not follow
 * http_proxy / ALL_PROXY from the environment to a proxy. */
static bool url_is_loopback(CURLU *h)
{
    char *host = NULL;
    if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host) return false;
    bool lb = false;
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') { /* IPv6 literal */
        host[n - 1] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host + 1, &a6) == 1)
            lb = IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    } else {
        struct in_addr a4;
        if (inet_pton(AF_INET, host, &a4) == 1)
            lb = (ntohl(a4.s_addr) >> 24) == 127;
        else
            lb = !strcasecmp(host, "localhost") ||
                 (n > 10 && !strcasecmp(host + n - 10, ".localhost"));
    }
    curl_free(host);
    return lb;
}

static bool url_string_is_loopback(const char *url)
{
    CURLU *h = curl_url();
    bool lb = h && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK && url_is_loopback(h);
    curl_url_cleanup(h);
    return lb;
}

static int lookup_url(sy_upstream_t *up, const char *url)
{
    for (int i = 0; i < up->n_urls; i++)
        if (up->urls[i].url == url) return i;
    if (up->n_urls == URL_CACHE_MAX) return -1;
    int i = up->n_urls;
    up->urls[i].url = url;
    up->urls[i].h = NULL;
    up->urls[i].native = NULL;
    sy_h1_target_t t;
    if (up->h1 && sy_h1_target_parse(url, &t)) {
        up->urls[i].native = sy_xmalloc(sizeof t);
        *up->urls[i].native = t;
    } else {
        CURLU *h = curl_url();
        if (h && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK) {
            up->urls[i].h = h;
            up->urls[i].loopback = url_is_loopback(h);
        } else if (h)
            curl_url_cleanup(h);
    }
    up->n_urls++;
    return i;
}

static void on_watchdog_closed(uv_handle_t *h)
{
    free(h);
}

static void detach(sy_upstream_call_t *call)
{
    sy_upstream_t *up = call->up;
    curl_multi_remove_handle(up->multi, call->easy);
    release_easy(up, call->easy);
    call->easy = NULL;
    if (call->timer) {
        uv_close((uv_handle_t *)call->timer, on_watchdog_closed);
        call->timer = NULL;
    }
    up->active--;
}

static void finish(sy_upstream_call_t *call, sy_err_t err, const char *detail)
{
    call->done = true;
    call->t_end_us = sy_clock_mono_us();
    detach(call);
    call->on_done(call, err, detail);
}

static sy_err_t map_curl_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
        return SY_ERR_UPSTREAM_UNREACHABLE;
    case CURLE_OPERATION_TIMEDOUT:
        return SY_ERR_UPSTREAM_TIMEOUT;
    default:
        return SY_ERR_UPSTREAM_BROKEN;
    }
}

static void check_done(sy_upstream_t *up)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(up->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        sy_upstream_call_t *call = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
        if (!call || call->done) continue;
        CURLcode rc = msg->data.result;
        if (rc == CURLE_OK) {
            finish(call, SY_OK, NULL);
        } else if (rc == CURLE_WRITE_ERROR && call->timeout_err) {
            finish(call, call->timeout_err, "upstream timed out");
        } else {
            const char *d = call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc);
            finish(call, map_curl_error(rc), d);
        }
    }
}

/* first-byte and idle watchdog */
static void on_watchdog(uv_timer_t *t)
{
    sy_upstream_call_t *call = t->data;
    if (call->done) return;
    call->done = true;
    call->t_end_us = sy_clock_mono_us();
    detach(call); /* closes the upstream connection */
    call->on_done(call, SY_ERR_UPSTREAM_TIMEOUT,
                  call->head_seen ? "upstream was silent longer than idle_ms"
                                  : "upstream sent no response within first_byte_ms");
}

static void arm_watchdog(sy_upstream_call_t *call, uint32_t ms)
{
    if (!call->timer) return;
    if (ms)
        uv_timer_start(call->timer, on_watchdog, ms, 0);
    else
        uv_timer_stop(call->timer);
}

static void copy_header_value(char *dst, size_t size, const char *v, size_t vl)
{
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    if (vl >= size) vl = size - 1;
    memcpy(dst, v, vl);
    dst[vl] = '\0';
}

/* A plain decimal number (digits, at most one '.'), as Retry-After delta-seconds are. */
static bool is_decimal(const char *s)
{
    bool digit = false, dot = false;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9')
            digit = true;
        else if (*s == '.' && !dot)
            dot = true;
        else
            return false;
    }
    return digit;
}

#define RETRY_AFTER_MAX_MS (24ll * 3600 * 1000) /* longer is nonsense: clamp */

int64_t sy_upstream_retry_after_ms(const char *retry_after, const char *retry_after_ms)
{
    if (retry_after_ms && is_decimal(retry_after_ms)) {
        double v = strtod(retry_after_ms, NULL);
        return v < (double)RETRY_AFTER_MAX_MS ? (int64_t)v : RETRY_AFTER_MAX_MS;
    }
    if (!retry_after || !retry_after[0]) return -1;
    if (is_decimal(retry_after)) {
        double v = strtod(retry_after, NULL) * 1000;
        return v < (double)RETRY_AFTER_MAX_MS ? (int64_t)v : RETRY_AFTER_MAX_MS;
    }
    if (!((retry_after[0] >= 'A' && retry_after[0] <= 'Z') ||
          (retry_after[0] >= 'a' && retry_after[0] <= 'z')))
        return -1; /* an HTTP-date starts with the day name */
    time_t when = curl_getdate(retry_after, NULL);
    if (when < 0) return -1;
    int64_t ms = ((int64_t)when - (int64_t)time(NULL)) * 1000;
    return ms < 0 ? 0 : ms > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : ms;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    sy_upstream_call_t *call = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* status line: "HTTP/1.1 200 OK" or "HTTP/2 200" */
        const char *sp = memchr(p, ' ', len);
        call->status = sp ? atoi(sp + 1) : 0;
        call->content_type[0] = '\0';
        call->retry_after[0] = '\0';
        call->retry_after_ms_h[0] = '\0';
    } else if (len > 13 && strncasecmp(p, "content-type:", 13) == 0) {
        const char *v = p + 13;
        size_t vl = len - 13;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl >= sizeof call->content_type) vl = sizeof call->content_type - 1;
        memcpy(call->content_type, v, vl);
        call->content_type[vl] = '\0';
    } else if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        copy_header_value(call->retry_after, sizeof call->retry_after, p + 12, len - 12);
    } else if (len > 15 && strncasecmp(p, "retry-after-ms:", 15) == 0) {
        copy_header_value(call->retry_after_ms_h, sizeof call->retry_after_ms_h, p + 15, len - 15);
    } else if ((len == 2 && p[0] == '\r') || (len == 1 && p[0] == '\n')) {
        if (call->status >= 200 && !call->head_seen) {
            call->retry_after_ms =
                sy_upstream_retry_after_ms(call->retry_after, call->retry_after_ms_h);
            call->head_seen = true;
            call->t_head_us = sy_clock_mono_us();
            arm_watchdog(call, call->idle_ms);
            call->in_callback = true;
            call->on_head(call, call->status, sy_str_c(call->content_type));
            call->in_callback = false;
        }
    }
    return len;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    sy_upstream_call_t *call = ud;
    size_t len = size * n;
    if (call->timeout_err) return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    if (call->pause_next) {
        /* curl keeps this piece and hands it to us again after sy_upstream_resume */
        call->pause_next = false;
        call->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (!call->t_first_data_us) call->t_first_data_us = sy_clock_mono_us();
    arm_watchdog(call, call->idle_ms);
    call->in_callback = true;
    bool more = call->on_data(call, p, len);
    call->in_callback = false;
    if (!more) call->pause_next = true;
    return len;
}

static void reset_call(sy_upstream_t *up, sy_upstream_call_t *call)
{
    call->up = up;
    call->easy = NULL;
    call->h1conn = NULL;
    call->h1target = NULL;
    call->timer = NULL;
    call->status = 0;
    call->head_seen = call->pause_next = call->paused = call->done = call->in_callback = false;
    call->timeout_err = SY_OK;
    call->errbuf[0] = '\0';
    call->content_type[0] = '\0';
    call->retry_after[0] = '\0';
    call->retry_after_ms_h[0] = '\0';
    call->retry_after_ms = -1;
    call->t_start_us = sy_clock_mono_us();
    call->t_head_us = call->t_first_data_us = call->t_end_us = 0;
}

sy_err_t sy_upstream_start(sy_upstream_t *up, sy_upstream_call_t *call)
{
    reset_call(up, call);
    int u = lookup_url(up, call->url);
    if (u >= 0 && up->urls[u].native) {
        return sy_h1_start(up->h1, up->urls[u].native, call);
    }
    CURL *e = up->n_pool ? up->pool[--up->n_pool] : new_easy();
    if (!e) return SY_ERR_INTERNAL;
    call->easy = e;
    CURLU *cu = u >= 0 ? up->urls[u].h : NULL;
    bool loopback = call->direct;
    if (cu) {
        curl_easy_setopt(e, CURLOPT_CURLU, cu);
        loopback |= up->urls[u].loopback;
    } else {
        curl_easy_setopt(e, CURLOPT_CURLU, NULL);
        curl_easy_setopt(e, CURLOPT_URL, call->url);
        loopback = loopback || url_string_is_loopback(call->url);
    }
    /* "*": no proxy for this call; NULL: curl's default (the no_proxy environment variable) */
    curl_easy_setopt(e, CURLOPT_NOPROXY, loopback ? "*" : NULL);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_PRIVATE, call);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)call->connect_ms); /* 0 = default */
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)call->total_ms);          /* 0 = none */
    if (call->first_byte_ms || call->idle_ms) {
        call->timer = sy_xmalloc(sizeof *call->timer);
        uv_timer_init(up->loop, call->timer);
        call->timer->data = call;
        arm_watchdog(call, call->first_byte_ms);
    } else {
        call->timer = NULL;
    }
    if (curl_multi_add_handle(up->multi, e) != CURLM_OK) {
        if (call->timer) {
            uv_close((uv_handle_t *)call->timer, on_watchdog_closed);
            call->timer = NULL;
        }
        release_easy(up, e);
        call->easy = NULL;
        return SY_ERR_INTERNAL;
    }
    up->active++;
    return SY_OK;
}

void sy_upstream_resume(sy_upstream_call_t *call)
{
    if (call->h1target) {
        if (!call->done) sy_h1_resume(call);
        return;
    }
    if (call->done || !call->easy) return;
    call->pause_next = false;
    if (!call->paused) return;
    call->paused = false;
    curl_easy_pause(call->easy, CURLPAUSE_CONT);
    /* curl may have delivered data and even completed inside curl_easy_pause */
    if (call->up) check_done(call->up);
}

void sy_upstream_cancel(sy_upstream_call_t *call)
{
    if (call->h1target) {
        if (!call->done) sy_h1_cancel(call);
        return;
    }
    if (call->done || !call->easy) return;
    call->done = true;
    call->t_end_us = sy_clock_mono_us();
    detach(call);
}

size_t sy_upstream_active(const sy_upstream_t *up)
{
    return up->active;
}

static void maybe_free(sy_upstream_t *up)
{
    if (up->closing && up->handles_open == 0) free(up);
}

static void on_up_timer_closed(uv_handle_t *h)
{
    sy_upstream_t *up = h->data;
    up->handles_open--;
    maybe_free(up);
}

void sy_upstream_free(sy_upstream_t *up)
{
    up->closing = true;
    for (int i = 0; i < up->n_pool; i++)
        curl_easy_cleanup(up->pool[i]);
    up->n_pool = 0;
    /* closes cached connections; curl's socket callback closes their polls */
    curl_multi_cleanup(up->multi);
    up->multi = NULL;
    for (int i = 0; i < up->n_urls; i++) {
        if (up->urls[i].h) curl_url_cleanup(up->urls[i].h);
        free(up->urls[i].native);
    }
    up->n_urls = 0;
    if (up->h1) sy_h1_free(up->h1);
    up->h1 = NULL;
    uv_timer_stop(&up->timer);
    uv_close((uv_handle_t *)&up->timer, on_up_timer_closed);
}
