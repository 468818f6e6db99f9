/* HTTP server tests: a real server on a loop thread, a blocking-socket client in the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/server.h"

static uv_loop_t loop;
static sy_http_server_t server;
static uv_thread_t thread;
static uv_async_t stop_async;
static int port;
static atomic_int aborted;
static atomic_size_t max_backlog;
static atomic_size_t big_sent;

#define BIG_TOTAL (64u << 20) /* more than loopback socket buffers can absorb */

typedef struct big {
    sy_http_req_t *req;
    size_t sent;
} big_t;

static void big_pump(sy_http_req_t *req, void *ctx)
{
    big_t *b = ctx;
    static char chunk[16384];
    memset(chunk, 'z', sizeof chunk);
    while (b->sent < BIG_TOTAL) {
        b->sent += sizeof chunk;
        bool more = sy_http_res_write(req, chunk, sizeof chunk);
        size_t backlog = sy_http_res_backlog(req);
        if (backlog > max_backlog) max_backlog = backlog;
        if (!more) return; /* wait for on_drain */
    }
    big_sent = b->sent;
    sy_http_res_end(req);
}

static void on_abort_flag(sy_http_req_t *req, void *ctx)
{
    aborted = 1;
}

/* /held-ok and /held-fail: the whole response is written while held; 50 ms later it is
 * released, or given up (sy_http_res_fail_held: nothing of it may reach the client). */
static void on_held_timer(uv_timer_t *t)
{
    sy_http_req_t *req = t->data;
    if (sy_str_eq_c(req->path, "/held-ok"))
        sy_http_res_release(req);
    else
        sy_http_res_fail_held(req);
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

static void handler(sy_http_req_t *req, void *ctx)
{
    if (sy_str_eq_c(req->path, "/held-ok") || sy_str_eq_c(req->path, "/held-fail")) {
        sy_http_res_hold(req);
        sy_http_res_send(req, 200, "text/plain", "DURABLE-OK", 10, NULL, 0);
        uv_timer_t *t = malloc(sizeof *t);
        uv_timer_init(&loop, t);
        t->data = req;
        uv_timer_start(t, on_held_timer, 50, 0);
        return;
    }
    if (sy_str_eq_c(req->path, "/hang")) {
        req->on_abort = on_abort_flag;
        return;
    }
    if (sy_str_eq_c(req->path, "/big")) {
        big_t *b = sy_arena_alloc(&req->arena, sizeof *b);
        b->req = req;
        b->sent = 0;
        req->on_drain = big_pump;
        req->on_abort = on_abort_flag;
        req->hook_ctx = b;
        sy_http_res_head(req, 200, NULL, 0, -1);
        big_pump(req, b);
        return;
    }
    if (sy_str_eq_c(req->path, "/stream")) {
        sy_http_res_head(req, 200, NULL, 0, -1);
        sy_http_res_write(req, "one,", 4);
        sy_http_res_write(req, "two,", 4);
        sy_http_res_write(req, "three", 5);
        sy_http_res_end(req);
        return;
    }
    char out[70000];
    sy_str_t xa = sy_http_req_header(req, "X-A");
    int n = snprintf(out, sizeof out, "%s %.*s q=%.*s a=%.*s body=%.*s",
                     llhttp_method_name((llhttp_method_t)req->method), (int)req->path.len,
                     req->path.ptr, (int)req->query.len, req->query.ptr, (int)xa.len, xa.ptr,
                     (int)req->body.len, req->body.base);
    sy_http_res_send(req, 200, "text/plain", out, (size_t)n, NULL, 0);
}

static void on_stop(uv_async_t *a)
{
    sy_http_server_close(&server, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static void loop_main(void *arg)
{
    uv_run(&loop, UV_RUN_DEFAULT);
}

static int setup(void **state)
{
    uv_loop_init(&loop);
    sy_http_limits_t lim = {.max_body_bytes = 1000,
                            .max_header_bytes = 2048,
                            .max_headers = 20,
                            .header_timeout_ms = 300,
                            .keepalive_timeout_ms = 5000};
    /* port 0: the kernel picks; read it back */
    assert_int_equal(sy_http_server_init(&server, &loop, &lim, "127.0.0.1", 0, handler, NULL), 0);
    struct sockaddr_in sa;
    int len = sizeof sa;
    uv_tcp_getsockname(&server.listener, (struct sockaddr *)&sa, &len);
    port = ntohs(sa.sin_port);
    uv_async_init(&loop, &stop_async, on_stop);
    uv_thread_create(&thread, loop_main, NULL);
    return 0;
}

static int teardown(void **state)
{
    uv_async_send(&stop_async);
    uv_thread_join(&thread);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

/* reads until EOF (or 3 s of silence) */
static size_t read_all(int fd, char *out, size_t cap)
{
    size_t len = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 3000) <= 0) break;
        ssize_t r = recv(fd, out + len, cap - 1 - len, 0);
        if (r <= 0) break;
        len += (size_t)r;
        if (len >= cap - 1) break;
    }
    out[len] = '\0';
    return len;
}

static char *exchange(const char *req, char *out, size_t cap)
{
    int fd = dial();
    send_all(fd, req, strlen(req));
    read_all(fd, out, cap);
    close(fd);
    return out;
}

static void get_with_query_and_generated_id(void **state)
{
    char out[8192];
    exchange("GET /hello?x=1 HTTP/1.1\r\nHost: a\r\nX-A: va\r\nConnection: close\r\n\r\n", out,
             sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(out, "content-type: text/plain\r\n"));
    assert_non_null(strstr(out, "connection: close\r\n"));
    assert_non_null(strstr(out, "\r\n\r\nGET /hello q=x=1 a=va body="));
    char *rid = strstr(out, "x-request-id: ");
    assert_non_null(rid);
    assert_int_equal(strchr(rid, '\r') - rid - 14, 36);
    assert_int_equal(rid[14 + 14], '7');
}

static void client_request_id_kept_or_replaced(void **state)
{
    char out[8192];
    exchange("GET / HTTP/1.1\r\nx-request-id: my-id_1\r\nConnection: close\r\n\r\n", out,
             sizeof out);
    assert_non_null(strstr(out, "x-request-id: my-id_1\r\n"));
    exchange("GET / HTTP/1.1\r\nx-request-id: has space\r\nConnection: close\r\n\r\n", out,
             sizeof out);
    assert_null(strstr(out, "has space"));
    assert_non_null(strstr(out, "x-request-id: "));
}

static void post_bodies_fixed_and_chunked(void **state)
{
    char out[8192];
    exchange("POST /p HTTP/1.1\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world", out,
             sizeof out);
    assert_non_null(strstr(out, "POST /p q= a= body=hello world"));
    exchange("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
             "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
             out, sizeof out);
    assert_non_null(strstr(out, "POST /c q= a= body=hello world"));
}

static void pipelined_requests_answer_in_order(void **state)
{
    char out[16384];
    exchange("GET /first HTTP/1.1\r\n\r\nPOST /second HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
             "GET /stream HTTP/1.1\r\n\r\nGET /third HTTP/1.1\r\nConnection: close\r\n\r\n",
             out, sizeof out);
    char *a = strstr(out, "GET /first");
    char *b = strstr(out, "POST /second q= a= body=abc");
    char *s = strstr(out, "4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n");
    char *c = strstr(out, "GET /third");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(s);
    assert_non_null(c);
    assert_true(a < b && b < s && s < c);
}

static void limits_give_clear_errors(void **state)
{
    char out[8192];
    char big[4096];
    snprintf(big, sizeof big, "GET / HTTP/1.1\r\nX-Big: %03000d\r\n\r\n", 0);
    exchange(big, out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 431 "));
    assert_non_null(strstr(out, "\"code\":\"headers_too_large\""));

    char many[4096] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 30; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "H%d: v\r\n", i);
    strcat(many, "\r\n");
    exchange(many, out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 431 "));

    /* body over max_body_bytes (1000): rejected from Content-Length, before reading it */
    char body[3000];
    int n = snprintf(body, sizeof body, "POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n");
    memset(body + n, 'b', 2000);
    body[n + 2000] = '\0';
    exchange(body, out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 413 "));
    assert_non_null(strstr(out, "\"type\":\"invalid_request_error\""));

    /* chunked body over the limit */
    char chunked[4000];
    n = snprintf(chunked, sizeof chunked,
                 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n");
    memset(chunked + n, 'c', 2000);
    strcpy(chunked + n + 2000, "\r\n0\r\n\r\n");
    exchange(chunked, out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 413 "));

    exchange("NOT-HTTP\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 400 "));
    /* request smuggling: both Content-Length and Transfer-Encoding */
    exchange("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 400 "));
}

static void slow_head_times_out(void **state)
{
    char out[4096];
    int fd = dial();
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n", 25); /* never finished */
    read_all(fd, out, sizeof out);
    close(fd);
    assert_non_null(strstr(out, "HTTP/1.1 408 "));
}

static void http10_closes(void **state)
{
    char out[4096];
    exchange("GET / HTTP/1.0\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(out, "connection: close"));
}

static void client_disconnect_fires_on_abort(void **state)
{
    aborted = 0;
    int fd = dial();
    send_all(fd, "GET /hang HTTP/1.1\r\n\r\n", 22);
    usleep(50000);
    assert_int_equal(aborted, 0);
    close(fd);
    for (int i = 0; i < 100 && !aborted; i++)
        usleep(2000);
    assert_int_equal(aborted, 1);
}

/* A held response is sent whole once released; given up, the connection closes with none of
 * it (the client must not take it for an acknowledgement). */
static void held_response_released_or_failed(void **state)
{
    char out[4096];
    exchange("GET /held-ok HTTP/1.1\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    assert_non_null(strstr(out, "DURABLE-OK"));
    exchange("GET /held-fail HTTP/1.1\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_string_equal(out, "");
    /* the server keeps serving */
    exchange("GET /held-ok HTTP/1.1\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "DURABLE-OK"));
}

/* A slow reader: the producer must pause at the high water mark, so memory stays bounded. */
static void backpressure_bounds_the_backlog(void **state)
{
    max_backlog = 0;
    big_sent = 0;
    int fd = dial();
    send_all(fd, "GET /big HTTP/1.1\r\nConnection: close\r\n\r\n", 40);
    usleep(200000); /* let the server fill every buffer */
    assert_true(max_backlog > 0);
    assert_true(max_backlog <= SY_HTTP_HIGH_WATER + 16384 + 64);
    size_t got = 0;
    char buf[65536];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    assert_int_equal(big_sent, BIG_TOTAL);
    assert_true(got > BIG_TOTAL); /* body plus chunk framing */
    assert_true(max_backlog <= SY_HTTP_HIGH_WATER + 16384 + 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_with_query_and_generated_id),
        cmocka_unit_test(client_request_id_kept_or_replaced),
        cmocka_unit_test(post_bodies_fixed_and_chunked),
        cmocka_unit_test(pipelined_requests_answer_in_order),
        cmocka_unit_test(limits_give_clear_errors),
        cmocka_unit_test(slow_head_times_out),
        cmocka_unit_test(http10_closes),
        cmocka_unit_test(client_disconnect_fires_on_abort),
        cmocka_unit_test(held_response_released_or_failed),
        cmocka_unit_test(backpressure_bounds_the_backlog),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
