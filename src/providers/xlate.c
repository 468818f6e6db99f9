/* The translating-provider engine (see xlate.h).
 * DESIGN: per call, one heap state (freed at done or stop; arena memory cannot be freed early
 * and streams can be long). Non-streamed replies and error bodies are buffered (capped) and
 * translated at the end, so the client's response head is produced only then; a stream's head
 * goes out when the upstream's does, and each upstream event is translated as it arrives. */
#include "providers/xlate.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "http/sse.h"

#define REPLY_MAX_BYTES (32u << 20) /* a non-streamed reply */
#define EVENT_MAX_BYTES (8u << 20)  /* one upstream SSE event */
#define ERROR_MAX_BYTES (64u << 10)

typedef struct xcall {
    sy_upstream_call_t up;
    struct curl_slist rid_node;
    struct curl_slist fwd_nodes[2]; /* pass-through: the client's anthropic-version / -beta */
    sy_call_t *call;
    const sy_xlate_ops_t *ops;
    bool passthrough;
    bool stream;
    bool include_usage;
    int status;
    bool error;      /* upstream answered >= 400 */
    bool overflow;   /* a buffered body went over its cap */
    sy_err_t ev_err; /* first translation failure in the stream */
    bool ev_ended;   /* the translator saw an in-stream error: ignore the rest */
    sy_buf_t body;   /* non-streamed reply or error body */
    sy_buf_t out;    /* translated output waiting to go to the sink */
    sy_sse_parser_t sse;
    void *st;
} xcall_t;

static void xcall_free(xcall_t *x)
{
    if (x->st) x->ops->stream_free(x->st);
    if (x->stream && !x->passthrough) sy_sse_parser_dispose(&x->sse);
    sy_buf_dispose(&x->body);
    sy_buf_dispose(&x->out);
    free(x);
}

static void resp_opts(xcall_t *x, sy_fmt_resp_opts_t *o)
{
    *o = (sy_fmt_resp_opts_t){.id = x->call->request_id,
                              .created = (int64_t)(sy_clock_wall_ms() / 1000),
                              .model = x->call->deploy->upstream_model,
                              .include_usage = x->include_usage};
}

static void on_event(void *ctx, sy_str_t type, sy_str_t data, sy_str_t id)
{
    xcall_t *x = ctx;
    if (x->ev_err || x->ev_ended) return;
    sy_err_t e = x->ops->stream_event(x->st, type, data, &x->out);
    if (e == SY_ERR_UPSTREAM_STATUS)
        x->ev_ended = true; /* the error frame is in out; the stream is over for the client */
    else if (e)
        x->ev_err = e;
}

static void on_up_head(sy_upstream_call_t *up, int status, sy_str_t content_type)
{
    xcall_t *x = up->ctx;
    sy_call_t *call = x->call;
    call->t_upstream_head_us = up->t_head_us;
    call->retry_after_ms = up->retry_after_ms;
    x->status = status;
    if (x->passthrough) {
        if (!content_type.len) content_type = SY_STR_LIT("application/json");
        call->sink->head(call, status, content_type);
        return;
    }
    if (status >= 400) {
        x->error = true;
        sy_buf_init(&x->body, ERROR_MAX_BYTES);
        return;
    }
    if (!x->stream) {
        sy_buf_init(&x->body, REPLY_MAX_BYTES);
        return;
    }
    sy_fmt_resp_opts_t o;
    resp_opts(x, &o);
    x->st = x->ops->stream_new(&o);
    sy_sse_parser_init(&x->sse, EVENT_MAX_BYTES, on_event, x);
    call->sink->head(call, 200, SY_STR_LIT("text/event-stream"));
}

static bool flush_out(xcall_t *x)
{
    if (!x->out.len) return true;
    bool more = x->call->sink->data(x->call, x->out.base, x->out.len);
    sy_buf_reset(&x->out);
    return more;
}

static bool on_up_data(sy_upstream_call_t *up, const char *p, size_t n)
{
    xcall_t *x = up->ctx;
    if (x->passthrough) return x->call->sink->data(x->call, p, n);
    if (x->error || !x->stream) {
        size_t room = x->body.max - x->body.len;
        if (n > room) x->overflow = true;
        sy_buf_append(&x->body, p, n < room ? n : room);
        return true;
    }
    if (!x->ev_err && !x->ev_ended && sy_sse_parser_feed(&x->sse, p, n))
        x->ev_err = SY_ERR_UPSTREAM_BROKEN;
    return flush_out(x);
}

/* Ends the call: done on the sink, state freed. */
static void finish(xcall_t *x, sy_err_t err, const char *detail)
{
    sy_call_t *call = x->call;
    call->pstate = NULL;
    xcall_free(x);
    call->sink->done(call, err, detail);
}

static void on_up_done(sy_upstream_call_t *up, sy_err_t err, const char *detail)
{
    xcall_t *x = up->ctx;
    sy_call_t *call = x->call;
    if (!err && !up->head_seen) err = SY_ERR_UPSTREAM_BROKEN;
    if (x->passthrough) return finish(x, err, detail);
    if (x->error) {
        /* even a cut error body is reported with its status */
        sy_buf_t b;
        sy_buf_init(&b, ERROR_MAX_BYTES + 1024);
        x->ops->error(x->status, x->body.base ? x->body.base : "", x->body.len, &b);
        call->sink->head(call, x->status, SY_STR_LIT("application/json"));
        call->sink->data(call, b.base, b.len);
        sy_buf_dispose(&b);
        return finish(x, SY_OK, NULL);
    }
    if (err) return finish(x, err, detail);
    if (!x->stream) {
        if (x->overflow) return finish(x, SY_ERR_UPSTREAM_BROKEN, "upstream reply too large");
        sy_fmt_resp_opts_t o;
        resp_opts(x, &o);
        sy_buf_t b;
        sy_buf_init(&b, REPLY_MAX_BYTES * 2);
        sy_err_t e = x->ops->response(x->body.base ? x->body.base : "", x->body.len, &o, &b, NULL);
        if (e) {
            sy_buf_dispose(&b);
            return finish(x, SY_ERR_UPSTREAM_BROKEN,
                          "the upstream reply is not in the provider's format");
        }
        call->sink->head(call, 200, SY_STR_LIT("application/json"));
        call->sink->data(call, b.base, b.len);
        sy_buf_dispose(&b);
        return finish(x, SY_OK, NULL);
    }
    /* the upstream stream ended */
    if (x->ev_ended) {
        flush_out(x);
        return finish(x, SY_OK, NULL);
    }
    if (x->ev_err) {
        flush_out(x);
        return finish(x, x->ev_err, "the upstream stream could not be parsed");
    }
    sy_err_t e = x->ops->stream_finish(x->st, &x->out);
    flush_out(x);
    if (e) return finish(x, e, "the upstream stream ended before its final event");
    finish(x, SY_OK, NULL);
}

/* "name: value" in the arena, as a node in front of next. */
static struct curl_slist *fwd_node(sy_call_t *call, struct curl_slist *node, const char *name,
                                   sy_str_t value, struct curl_slist *next)
{
    size_t nl = strlen(name), n = nl + 2 + value.len + 1;
    char *h = sy_arena_alloc(call->arena, n);
    memcpy(h, name, nl);
    memcpy(h + nl, ": ", 2);
    memcpy(h + nl + 2, value.ptr, value.len);
    h[n - 1] = '\0';
    node->data = h;
    node->next = next;
    return node;
}

sy_err_t sy_xlate_start(sy_call_t *call, const sy_xlate_ops_t *ops, const char *url,
                        struct curl_slist *headers, struct curl_slist *headers_nover,
                        int64_t default_max_tokens)
{
    const sy_deploy_conf_t *d = call->deploy;
    sy_str_t body;
    xcall_t *x = sy_xcalloc(1, sizeof *x);
    x->call = call;
    x->ops = ops;
    x->passthrough = call->format != SY_FORMAT_OPENAI;
    x->stream = call->stream;
    x->include_usage = call->include_usage;
    sy_buf_init(&x->body, 0);
    sy_buf_init(&x->out, 16u << 20);
    if (x->passthrough) {
        body = sy_provider_splice_body(call);
    } else {
        sy_fmt_req_opts_t o = {.upstream_model = d->upstream_model,
                               .defaults = d->defaults,
                               .n_defaults = d->n_defaults,
                               .default_max_tokens = default_max_tokens,
                               .reject_unsupported = d->reject_unsupported};
        sy_fmt_req_t r;
        memset(&r, 0, sizeof r);
        sy_err_t e = ops->request(call->body.ptr, call->body.len, &o, &r);
        if (e) {
            snprintf(call->error_param, sizeof call->error_param, "%s", r.err_param);
            snprintf(call->error_msg, sizeof call->error_msg, "%s",
                     r.err_msg[0] ? r.err_msg : "the request cannot be translated");
            free(r.body);
            xcall_free(x);
            return e == SY_ERR_INVALID_JSON ? e : SY_ERR_INVALID_REQUEST;
        }
        body = sy_str(sy_arena_strndup(call->arena, r.body, r.len), r.len);
        free(r.body);
        x->stream = r.stream;
        x->include_usage = r.include_usage;
        if (x->stream && !x->include_usage) {
            /* the upstream always reports usage: emit OpenAI's usage chunk for the log, the
             * relay hides it from the client (provider.h, hide_usage) */
            x->include_usage = true;
            call->hide_usage = true;
        }
        if (r.warnings[0]) call->warning = sy_provider_warning(call->arena, r.warnings);
    }
    sy_upstream_call_t *up = &x->up;
    up->url = url;
    if (x->passthrough && headers_nover && call->fwd_version.len) {
        headers =
            fwd_node(call, &x->fwd_nodes[0], "anthropic-version", call->fwd_version, headers_nover);
    }
    if (x->passthrough && call->fwd_beta.len)
        headers = fwd_node(call, &x->fwd_nodes[1], "anthropic-beta", call->fwd_beta, headers);
    up->headers = sy_provider_request_id_header(call, &x->rid_node, headers);
    up->body = body.ptr;
    up->body_len = body.len;
    sy_provider_set_timeouts(up, d);
    up->on_head = on_up_head;
    up->on_data = on_up_data;
    up->on_done = on_up_done;
    up->ctx = x;
    call->t_upstream_start_us = sy_clock_mono_us();
    call->pstate = x; /* before the start: on_done may run inside it */
    sy_err_t err = sy_upstream_start(call->upstream, up);
    if (err) {
        call->pstate = NULL;
        xcall_free(x);
    }
    return err;
}

void sy_xlate_proceed(sy_call_t *call)
{
    xcall_t *x = call->pstate;
    if (x) sy_upstream_resume(&x->up);
}

void sy_xlate_stop(sy_call_t *call)
{
    xcall_t *x = call->pstate;
    if (!x) return;
    call->pstate = NULL;
    sy_upstream_cancel(&x->up);
    xcall_free(x);
}
