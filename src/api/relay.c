/* See relay.h. */
#include "api/relay.h"
#include "policy/auth.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/admission.h"
#include "api/api.h"
#include "api/gate.h"
#include "api/messages_fmt.h"
#include "api/metrics.h"
#include "api/usage_filter.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "http/sse.h"
#include "logpipe/enrich.h"
#include "logpipe/pipeline.h"
#include "worker.h"

#define CONVERT_MAX_BYTES (32u << 20) /* a non-streamed reply being converted */
#define ROUTE_HDRS (3 + SY_ADMISSION_HDR_MAX)

typedef struct relay {
    sy_route_t *route;
    sy_http_req_t *req;
    sy_worker_t *w;
    sy_format_t ingress;
    int up_status;
    bool committed; /* response head produced for the client */
    bool is_sse;
    bool error_body; /* final answer is an error status: buffering its body */
    bool convert;    /* Anthropic ingress, OpenAI-format call: convert the output */
    sy_buf_t body;   /* error body, or the non-streamed reply being converted */
    sy_buf_t out;    /* converted stream frames */
    sy_sse_parser_t sse;
    sy_messages_stream_t *ms;
    sy_err_t convert_err;
    bool convert_ended; /* an in-stream error was converted into Anthropic's error event */
    uv_timer_t *ka_timer;
    uint64_t last_data_ms;
    uint64_t t_commit_us; /* our head went out (monotonic) */
    uint64_t overhead_us;
    sy_sse_boundary_t boundary;
    /* inference log: the bytes sent to the client, teed (logpipe/capture.h) */
    sy_capture_t cap;
    bool cap_live;             /* cap holds buffers that are ours to dispose */
    bool logged;               /* the rows of this request were submitted */
    uint64_t t_first_token_us; /* monotonic; 0 = none */
    /* usage the provider asked for and the client did not (sy_call_t.hide_usage) */
    bool filter;
    sy_usage_filter_t uf;
    /* log.fsync always: the end of the response waits until the row is durable */
    bool ack_durable;
    uint64_t seq;              /* the request's last row (0: none, or dropped) */
    uint64_t wait_deadline_ms; /* loop time when a held response is given up */
    sy_log_record_t last_row;  /* the last row submitted, for a give-up row (config strings) */
    struct relay *wnext, *wprev;
    /* limits (api/admission.h): the reservation until the last log row carries it, and the
     * x-ratelimit-* headers every response of the request carries */
    sy_admission_req_t *adm;
    size_t n_lh;
    sy_http_header_t lh[SY_ADMISSION_HDR_MAX];
    char lh_buf[SY_ADMISSION_HDR_BUF];
} relay_t;

static void on_ka_closed(uv_handle_t *h)
{
    free(h);
}

/* The request's limits reservation, when no log row took it: concurrency released, usage
 * unknown (logging is off, which the config allows only without token limits and budgets). */
static void finish_admission(relay_t *c)
{
    if (!c->adm) return;
    sy_admission_end(c->adm);
    sy_admission_finish_unknown(c->adm);
    c->adm = NULL;
}

static void release(relay_t *c)
{
    finish_admission(c);
    if (c->ka_timer) {
        uv_close((uv_handle_t *)c->ka_timer, on_ka_closed);
        c->ka_timer = NULL;
    }
    sy_buf_dispose(&c->body);
    sy_buf_dispose(&c->out);
    if (c->filter) {
        sy_usage_filter_dispose(&c->uf);
        c->filter = false;
    }
    if (c->cap_live) {
        sy_capture_dispose(&c->cap);
        c->cap_live = false;
    }
    if (c->ms) {
        sy_messages_stream_free(c->ms);
        sy_sse_parser_dispose(&c->sse);
        c->ms = NULL;
    }
}

/* ---- inference log ---- */

/* Every response body byte goes through here (a filtered stream: before the filter). */
static void tee_capture(relay_t *c, const char *p, size_t n)
{
    if (c->cap_live && sy_capture_feed(&c->cap, p, n) && !c->t_first_token_us)
        c->t_first_token_us = sy_clock_mono_us();
}

static bool client_write(relay_t *c, const char *p, size_t n)
{
    tee_capture(c, p, n);
    return sy_http_res_write(c->req, p, n);
}

/* The client's share of a filtered stream (api/usage_filter.h). */
static bool filter_emit(void *ctx, const char *p, size_t n)
{
    relay_t *c = ctx;
    if (c->ka_timer) sy_sse_boundary_feed(&c->boundary, p, n);
    return sy_http_res_write(c->req, p, n);
}

static int64_t wall_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#define LOG_CAP_MARGIN 4096 /* raw bytes kept past log.max_body_bytes (see log_request) */
#define MAX_TAGS 32
#define MAX_TAG_BYTES 64

/* The row's tags: the key's default tags (auth), then x-switchyard-tags (comma-separated,
 * trimmed, empty ones skipped); at most MAX_TAGS of at most MAX_TAG_BYTES. */
static uint32_t parse_tags(sy_http_req_t *req, sy_str_t **out)
{
    sy_str_t h = sy_http_req_header(req, "x-switchyard-tags");
    const char *dt = req->ident ? req->ident->tags : "";
    if ((!h.ptr || !h.len) && !*dt) return 0;
    sy_str_t *tags = sy_arena_alloc(&req->arena, MAX_TAGS * sizeof *tags);
    uint32_t n = 0;
    for (; *dt && n < MAX_TAGS; dt += strlen(dt) + 1) {
        size_t l = strlen(dt);
        tags[n++] = sy_str(dt, l > MAX_TAG_BYTES ? MAX_TAG_BYTES : l);
    }
    if (!h.ptr) h = sy_str("", 0);
    size_t i = 0;
    while (i < h.len && n < MAX_TAGS) {
        size_t j = i;
        while (j < h.len && h.ptr[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && (h.ptr[a] == ' ' || h.ptr[a] == '\t'))
            a++;
        while (b > a && (h.ptr[b - 1] == ' ' || h.ptr[b - 1] == '\t'))
            b--;
        if (b > a) tags[n++] = sy_str(h.ptr + a, b - a > MAX_TAG_BYTES ? MAX_TAG_BYTES : b - a);
        i = j + 1;
    }
    *out = tags;
    return n;
}

/* Headers that link a call to the caller's objects (a conversation and message of a chat app,
 * an experiment and its variant) and land in the row's columns of the same names. */
static const struct link_header {
    const char *name;
    size_t off; /* offsetof(sy_log_record_t, column) */
} link_headers[] = {
    {"x-switchyard-conversation-id", offsetof(sy_log_record_t, conversation_id)},
    {"x-switchyard-message-id", offsetof(sy_log_record_t, message_id)},
    {"x-switchyard-experiment", offsetof(sy_log_record_t, experiment)},
    {"x-switchyard-variant", offsetof(sy_log_record_t, variant)},
};
#define MAX_LINK_BYTES 128

/* 1..MAX_LINK_BYTES visible ASCII characters: an id is never silently cut or mangled. */
static bool link_value_ok(sy_str_t v)
{
    if (v.len == 0 || v.len > MAX_LINK_BYTES) return false;
    for (size_t i = 0; i < v.len; i++)
        if ((unsigned char)v.ptr[i] <= 0x20 || (unsigned char)v.ptr[i] >= 0x7f) return false;
    return true;
}

static void fill_links(sy_log_record_t *rec, sy_http_req_t *req)
{
    for (size_t i = 0; i < sizeof link_headers / sizeof link_headers[0]; i++) {
        sy_str_t v = sy_http_req_header(req, link_headers[i].name);
        if (v.ptr && link_value_ok(v)) *(sy_str_t *)((char *)rec + link_headers[i].off) = v;
    }
}

static sy_log_status_t status_of_outcome(sy_attempt_outcome_t o)
{
    switch (o) {
    case SY_ATTEMPT_OK:
        return SY_LOG_STATUS_OK;
    case SY_ATTEMPT_TIMEOUT:
        return SY_LOG_STATUS_TIMEOUT;
    case SY_ATTEMPT_CANCELLED:
        return SY_LOG_STATUS_CANCELLED;
    default:
        return SY_LOG_STATUS_ERROR;
    }
}

#define WALL(m) ((m) ? wall_now - (int64_t)(mono_now - (m)) : SY_LOG_UNKNOWN)

/* The fields every row of a request shares: request id, received time, tags, the raw request
 * body (capped: the writer redacts, then caps at max_body_bytes; the margin keeps a secret
 * across the cap whole while the patterns run). */
static void fill_request(sy_log_record_t *rec, sy_http_req_t *req, const sy_logconf_t *lc,
                         uint64_t mono_now, int64_t wall_now)
{
    sy_str_t *tags = NULL;
    uint32_t n_tags = parse_tags(req, &tags);
    size_t body_cap = lc->max_body_bytes + LOG_CAP_MARGIN;
    size_t blen = req->body.len;
    rec->request_id = sy_str_c(req->request_id);
    rec->t_received_us = WALL(req->t_begin_us); /* the request's first byte */
    rec->tags = tags;
    rec->n_tags = n_tags;
    fill_links(rec, req);
    rec->request_body =
        sy_str(req->body.base ? req->body.base : "", blen > body_cap ? body_cap : blen);
    rec->request_size = (int64_t)blen;
    if (req->ident) { /* the arena copy outlives the submit, which clones the record */
        rec->key_id = sy_str_c(req->ident->key_id);
        if (req->ident->user_id[0]) rec->user_id = sy_str_c(req->ident->user_id);
        if (req->ident->team_id[0]) rec->team_id = sy_str_c(req->ident->team_id);
    }
}

/* A new row id, or for a chat generation's call the id it chose up front (api/chatgen.h): the
 * answer's log_id names the row that carries the response. */
static void row_id(sy_log_record_t *rec, const sy_http_req_t *req)
{
    if (req->ident && req->ident->row_id[0])
        snprintf(rec->id, sizeof rec->id, "%s", req->ident->row_id);
    else
        sy_uuid_v7(rec->id);
}

void sy_relay_log_rejected(sy_http_req_t *req, sy_worker_t *w, int http_status, const char *type,
                           const char *message, sy_str_t model)
{
    if (!w->logpipe) return;
    uint64_t mono_now = sy_clock_mono_us();
    int64_t wall_now = wall_now_us();
    if (!req->request_id[0]) sy_uuid_v7(req->request_id); /* rejected by the HTTP layer */
    sy_log_record_t rec;
    sy_log_record_init(&rec);
    row_id(&rec, req);
    rec.attempt = 1;
    fill_request(&rec, req, &w->cfg->log, mono_now, wall_now);
    rec.model = model;
    rec.t_end_us = wall_now;
    rec.latency_us = (int64_t)(mono_now - req->t_begin_us);
    /* all of it is ours: no upstream was involved */
    rec.overhead_us = req->t_complete_us ? (int64_t)(mono_now - req->t_complete_us) : 0;
    rec.status = SY_LOG_STATUS_ERROR;
    rec.http_status = http_status;
    rec.error_type = sy_str_c(type);
    rec.error_message = sy_str_c(message);
    sy_logpipe_submit(w->logpipe, (size_t)w->index, &rec);
}

/* One row per attempt; the last one carries the response. Loop thread; never blocks (submit
 * only clones and queues). status/http/err/detail describe the request's end as the client saw
 * it; err_body: the upstream error body relayed, or NULL. */
static void log_request(relay_t *c, sy_log_status_t status, int http, sy_err_t err,
                        const char *detail, const sy_buf_t *err_body)
{
    if (c->logged || !c->w->logpipe) return;
    c->logged = true;
    sy_route_t *r = c->route;
    sy_http_req_t *req = c->req;
    const sy_logconf_t *lc = &c->w->cfg->log;
    uint64_t mono_now = sy_clock_mono_us();
    int64_t wall_now = wall_now_us();
    size_t n = r->n_attempts ? r->n_attempts : 1;
    char first_id[SY_UUID_STRLEN + 1] = "";
    for (size_t i = 0; i < n; i++) {
        const sy_attempt_t *a = r->n_attempts ? &r->attempts[i] : NULL;
        bool last = i + 1 == n;
        sy_log_record_t rec;
        sy_log_record_init(&rec);
        if (last)
            row_id(&rec, req);
        else
            sy_uuid_v7(rec.id);
        if (i == 0)
            memcpy(first_id, rec.id, sizeof first_id);
        else
            memcpy(rec.parent_id, first_id, sizeof first_id);
        fill_request(&rec, req, lc, mono_now, wall_now);
        rec.attempt = (int32_t)(i + 1);
        rec.model = sy_str_c(r->model->name);
        if (a && a->deploy) {
            rec.provider = sy_str_c(a->deploy->provider_name);
            rec.upstream_model = sy_str_c(a->deploy->upstream_model);
            rec.deployment = sy_str_c(a->deploy->id);
        }
        if (a && a->t_start_us) rec.t_upstream_start_us = WALL(a->t_start_us);
        sy_log_aux_t *aux = NULL;
        if (last) {
            rec.t_end_us = wall_now;
            rec.latency_us = (int64_t)(mono_now - req->t_begin_us);
            if (c->t_first_token_us) {
                rec.t_first_token_us = WALL(c->t_first_token_us);
                rec.ttft_us = (int64_t)(c->t_first_token_us - req->t_begin_us);
            }
            rec.overhead_us = (int64_t)(c->committed || !r->n_attempts
                                            ? c->overhead_us
                                            : r->attempts[0].t_start_us - req->t_complete_us);
            rec.status = status;
            rec.http_status = http;
            if (status != SY_LOG_STATUS_OK) {
                int st;
                const char *type, *code;
                sy_api_error_info(err ? err : SY_ERR_UPSTREAM_STATUS, &st, &type, &code);
                rec.error_type =
                    status == SY_LOG_STATUS_CANCELLED ? SY_STR_LIT("cancelled") : sy_str_c(type);
                if (detail) rec.error_message = sy_str_c(detail);
            }
            if (err_body && err_body->len) {
                rec.response_body = sy_str(err_body->base, err_body->len);
                rec.response_size = (int64_t)err_body->len;
            }
            if (c->cap_live && c->cap.total) {
                aux = sy_xmalloc(sizeof *aux);
                *aux = (sy_log_aux_t){.cap = c->cap,
                                      .has_capture = true,
                                      .format = c->ingress == SY_FORMAT_ANTHROPIC
                                                    ? SY_CAPTURE_ANTHROPIC
                                                    : SY_CAPTURE_OPENAI,
                                      .sse = c->is_sse};
                c->cap_live = false; /* moved: the writer thread disposes it */
            }
            if (c->adm) { /* concurrency now; tokens and cost from this row */
                if (!aux) aux = sy_xcalloc(1, sizeof *aux);
                sy_admission_end(c->adm);
                sy_admission_attach(c->adm, aux);
                c->adm = NULL;
            }
            rec.aux = aux;
        } else {
            rec.t_end_us = WALL(a->t_end_us);
            rec.latency_us = (int64_t)(a->t_end_us - req->t_begin_us);
            rec.status = status_of_outcome(a->outcome);
            rec.http_status = a->status;
            int st;
            const char *type, *code;
            sy_api_error_info(a->err ? a->err : SY_ERR_UPSTREAM_STATUS, &st, &type, &code);
            rec.error_type = sy_str_c(type);
        }
        if (last && c->ack_durable) { /* what sy_relay_durable_expire may need */
            sy_log_record_init(&c->last_row);
            memcpy(c->last_row.id, rec.id, sizeof rec.id);
            c->last_row.attempt = rec.attempt;
            c->last_row.http_status = rec.http_status;
            c->last_row.model = rec.model; /* config strings: they outlive the request */
            c->last_row.provider = rec.provider;
            c->last_row.upstream_model = rec.upstream_model;
            c->last_row.deployment = rec.deployment;
        }
        /* a dropped row's aux is released by the pipeline's discard hook */
        uint64_t seq = sy_logpipe_submit(c->w->logpipe, (size_t)c->w->index, &rec);
        if (seq > c->seq) c->seq = seq;
    }
}

/* ---- errors in the ingress's format ---- */

static void send_error_h(sy_http_req_t *req, sy_format_t ingress, sy_err_t err, const char *param,
                         const char *message, const sy_http_header_t *h, size_t nh)
{
    int status;
    const char *type, *code;
    sy_api_error_info(err, &status, &type, &code);
    if (ingress == SY_FORMAT_OPENAI) {
        sy_api_send_error_hdrs(req, status, type, code, param, message, h, nh);
        return;
    }
    sy_buf_t b;
    sy_buf_init(&b, 64 * 1024);
    char msg[512];
    if (param && strncmp(message, param, strlen(param)) != 0)
        snprintf(msg, sizeof msg, "%s: %s", param, message);
    else
        snprintf(msg, sizeof msg, "%s", message);
    sy_messages_fmt_error_make(sy_messages_fmt_error_type(status), msg, &b);
    sy_api_send_json(req, status, b.base, b.len, h, nh);
    sy_buf_dispose(&b);
}

void sy_relay_send_error(sy_http_req_t *req, sy_format_t ingress, sy_err_t err, const char *param,
                         const char *message)
{
    send_error_h(req, ingress, err, param, message, NULL, 0);
}

/* The model as the client named it (decoded), or a NULL view when it is not a usable string. */
static sy_str_t client_model(sy_http_req_t *req, const sy_jsonv_chat_t *v, bool *bad)
{
    *bad = false;
    if (!v || v->model_type != SY_JSONV_STRING || v->model.len < 2) return SY_STR_NULL;
    if (!v->model_has_escape) return sy_str(v->model.ptr + 1, v->model.len - 2);
    char *dec = sy_arena_alloc(&req->arena, v->model.len);
    size_t len;
    if (!sy_jsonv_string_decode(v->model, dec, v->model.len, &len)) {
        *bad = true;
        return SY_STR_NULL;
    }
    return sy_str(dec, len);
}

void sy_relay_reject(sy_http_req_t *req, sy_worker_t *w, sy_format_t ingress, sy_err_t err,
                     const char *code, const char *param, const char *message,
                     const sy_jsonv_chat_t *v)
{
    int status;
    const char *type, *tcode;
    sy_api_error_info(err, &status, &type, &tcode);
    if (code && ingress == SY_FORMAT_OPENAI)
        sy_api_send_error_ex(req, status, type, code, param, message);
    else
        sy_relay_send_error(req, ingress, err, param, message);
    bool bad;
    sy_relay_log_rejected(req, w, status, type, message, client_model(req, v, &bad));
}

bool sy_relay_scan(sy_http_req_t *req, sy_worker_t *w, sy_format_t ingress, sy_jsonv_chat_t *v)
{
    for (size_t i = 0; i < sizeof link_headers / sizeof link_headers[0]; i++) {
        sy_str_t h = sy_http_req_header(req, link_headers[i].name);
        if (h.ptr && !link_value_ok(h)) {
            char msg[200];
            snprintf(msg, sizeof msg, "header %s must be 1 to %d visible ASCII characters",
                     link_headers[i].name, MAX_LINK_BYTES);
            sy_relay_reject(req, w, ingress, SY_ERR_INVALID_REQUEST, NULL, NULL, msg, NULL);
            return false;
        }
    }
    if (req->body.len == 0) {
        sy_relay_reject(req, w, ingress, SY_ERR_INVALID_JSON, NULL, NULL,
                        "the request body is empty; expected a JSON object", NULL);
        return false;
    }
    sy_jsonv_err_t e;
    if (!sy_jsonv_scan_chat(req->body.base, req->body.len, v, &e)) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "We could not parse the JSON body of your request: %s (at byte %zu, line %d, "
                 "column %d)",
                 e.text, e.position, e.line, e.column);
        sy_relay_reject(req, w, ingress, SY_ERR_INVALID_JSON, NULL, NULL, msg, NULL);
        return false;
    }
    return true;
}

const sy_model_conf_t *sy_relay_find_model(sy_http_req_t *req, sy_worker_t *w, sy_format_t ingress,
                                           const sy_jsonv_chat_t *v)
{
    bool bad;
    sy_str_t name = client_model(req, v, &bad);
    if (bad) {
        sy_relay_reject(req, w, ingress, SY_ERR_INVALID_REQUEST, NULL, "model",
                        "'model' is not a valid string", NULL);
        return NULL;
    }
    const sy_model_conf_t *model = sy_config_find_model(w->cfg, name.ptr, name.len);
    if (!model) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "The model '%.*s' does not exist or you do not have access to it.",
                 (int)(name.len > 200 ? 200 : name.len), name.ptr);
        sy_relay_reject(req, w, ingress, SY_ERR_MODEL_NOT_FOUND, NULL,
                        ingress == SY_FORMAT_OPENAI ? "model" : NULL, msg, v);
    } else if (req->ident && !sy_auth_model_allowed(req->ident, name)) {
        char msg[300];
        snprintf(msg, sizeof msg, "This API key is not allowed to use the model '%.*s'.",
                 (int)(name.len > 200 ? 200 : name.len), name.ptr);
        sy_relay_reject(req, w, ingress, SY_ERR_FORBIDDEN, "model_not_allowed",
                        ingress == SY_FORMAT_OPENAI ? "model" : NULL, msg, v);
        return NULL;
    }
    return model;
}

/* Response headers every routed answer carries (at most ROUTE_HDRS); returns how many were
 * written into h. */
static size_t route_headers(relay_t *c, sy_http_header_t *h, char *attempts, size_t alen, char *ra,
                            size_t ralen)
{
    size_t n = 0;
    sy_route_t *r = c->route;
    size_t al = sy_route_attempts_header(r, attempts, alen);
    if (al) h[n++] = (sy_http_header_t){SY_STR_LIT("x-switchyard-attempts"), sy_str(attempts, al)};
    const char *warn = r->call.warning ? r->call.warning : r->warning;
    if (warn) h[n++] = (sy_http_header_t){SY_STR_LIT("x-switchyard-warning"), sy_str_c(warn)};
    if (r->retry_after_ms >= 0 && !c->committed && (c->error_body || !c->convert)) {
        int k = snprintf(ra, ralen, "%llu", (unsigned long long)((r->retry_after_ms + 999) / 1000));
        h[n++] = (sy_http_header_t){SY_STR_LIT("retry-after"), sy_str(ra, (size_t)k)};
    }
    for (size_t i = 0; i < c->n_lh; i++)
        h[n++] = c->lh[i];
    return n;
}

/* ---- keep-alive comments on silent streams ---- */

static void on_keepalive(uv_timer_t *t)
{
    relay_t *c = t->data;
    uint64_t interval = c->w->cfg->sse_keepalive_ms;
    uint64_t now = uv_now(t->loop);
    uint64_t silent = now - c->last_data_ms;
    if (silent >= interval) {
        if (sy_sse_boundary_at_event(&c->boundary) &&
            sy_http_res_backlog(c->req) < SY_HTTP_LOW_WATER) {
            static const char comment[] = ": keep-alive\n\n";
            sy_http_res_write(c->req, comment, sizeof comment - 1);
            c->last_data_ms = now;
        }
        uv_timer_start(t, on_keepalive, interval, 0);
    } else {
        uv_timer_start(t, on_keepalive, interval - silent, 0);
    }
}

/* ---- Anthropic ingress over an OpenAI-format call: stream conversion ---- */

static void on_openai_event(void *ctx, sy_str_t type, sy_str_t data, sy_str_t id)
{
    relay_t *c = ctx;
    if (c->convert_err || c->convert_ended) return;
    sy_err_t e = sy_messages_stream_event(c->ms, data, &c->out);
    if (e == SY_ERR_UPSTREAM_STATUS)
        c->convert_ended = true; /* the error event is in out: the stream is over */
    else if (e)
        c->convert_err = e;
}

static bool write_out(relay_t *c)
{
    bool more = true;
    if (c->out.len) {
        more = client_write(c, c->out.base, c->out.len);
        sy_sse_boundary_feed(&c->boundary, c->out.base, c->out.len);
        sy_buf_reset(&c->out);
    }
    return more;
}

/* ---- route sink ---- */

static void sink_head(sy_route_t *r, int status, sy_str_t content_type)
{
    relay_t *c = r->ctx;
    c->up_status = status;
    if (status >= 400) {
        c->error_body = true;
        sy_buf_init(&c->body, c->w->cfg->max_upstream_error_bytes);
        return;
    }
    for (size_t i = 0; i < content_type.len; i++)
        if ((unsigned char)content_type.ptr[i] < 0x20 || content_type.ptr[i] == 0x7f) {
            content_type = SY_STR_LIT("application/octet-stream"); /* never echo CR/LF */
            break;
        }
    c->is_sse =
        content_type.len >= 17 && strncasecmp(content_type.ptr, "text/event-stream", 17) == 0;
    c->convert = c->ingress == SY_FORMAT_ANTHROPIC && r->call.format == SY_FORMAT_OPENAI;
    if (c->is_sse && r->call.hide_usage && c->ingress == SY_FORMAT_OPENAI &&
        r->call.format == SY_FORMAT_OPENAI) {
        sy_usage_filter_init(&c->uf, 1u << 20);
        c->filter = true;
    }
    if (c->convert && !c->is_sse) {
        sy_buf_init(&c->body, CONVERT_MAX_BYTES); /* answered whole at done */
        return;
    }
    if (c->convert) {
        sy_fmt_resp_opts_t o = {.id = r->request_id,
                                .created = (int64_t)(sy_clock_wall_ms() / 1000),
                                .model = r->call.deploy->upstream_model,
                                .include_usage = true};
        c->ms = sy_messages_stream_new(&o);
        sy_sse_parser_init(&c->sse, 4u << 20, on_openai_event, c);
        sy_buf_init(&c->out, 16u << 20);
    }
    uint64_t now = sy_clock_mono_us();
    /* ours: before the first attempt, preparing this attempt's upstream call (a translation),
     * and from the upstream head to here; not the upstream's time nor earlier attempts' */
    const sy_attempt_t *last = &r->attempts[r->n_attempts - 1];
    uint64_t prep = r->call.t_upstream_start_us > last->t_start_us
                        ? r->call.t_upstream_start_us - last->t_start_us
                        : 0;
    uint64_t overhead = (r->attempts[0].t_start_us - c->req->t_complete_us) + prep +
                        (r->call.t_upstream_head_us ? now - r->call.t_upstream_head_us : 0);
    c->t_commit_us = now;
    c->overhead_us = overhead;
    char ov[24], attempts[2048], ra[24];
    sy_http_header_t h[3 + ROUTE_HDRS];
    size_t n = 0;
    h[n++] = (sy_http_header_t){SY_STR_LIT("content-type"), content_type};
    sy_api_overhead_header(&h[n++], ov, overhead);
    if (c->is_sse) h[n++] = (sy_http_header_t){SY_STR_LIT("cache-control"), SY_STR_LIT("no-cache")};
    c->committed = true;
    n += route_headers(c, h + n, attempts, sizeof attempts, ra, sizeof ra);
    sy_http_res_head(c->req, status, h, n, -1);
    if (c->is_sse && c->w->cfg->sse_keepalive_ms) {
        c->ka_timer = sy_xmalloc(sizeof *c->ka_timer);
        uv_timer_init(&c->w->loop, c->ka_timer);
        c->ka_timer->data = c;
        c->last_data_ms = uv_now(&c->w->loop);
        uv_timer_start(c->ka_timer, on_keepalive, c->w->cfg->sse_keepalive_ms, 0);
    }
}

static bool sink_data(sy_route_t *r, const char *p, size_t n)
{
    relay_t *c = r->ctx;
    if (c->error_body || (c->convert && !c->is_sse)) {
        size_t room = c->body.max - c->body.len;
        if (n > room && !c->error_body) c->convert_err = SY_ERR_TOO_LARGE;
        sy_buf_append(&c->body, p, n < room ? n : room); /* an error body is cut */
        return true;
    }
    if (c->ka_timer) c->last_data_ms = uv_now(&c->w->loop);
    if (c->convert) {
        if (!c->convert_err && sy_sse_parser_feed(&c->sse, p, n)) c->convert_err = SY_ERR_TOO_LARGE;
        return write_out(c);
    }
    if (c->filter) { /* the capture sees the usage the client does not */
        tee_capture(c, p, n);
        return sy_usage_filter_feed(&c->uf, p, n, filter_emit, c);
    }
    if (c->ka_timer) sy_sse_boundary_feed(&c->boundary, p, n);
    return client_write(c, p, n);
}

/* A final upstream error body, rendered for the ingress. */
static void send_upstream_error(relay_t *c)
{
    sy_http_req_t *req = c->req;
    char attempts[2048], ra[24];
    sy_http_header_t h[ROUTE_HDRS];
    size_t nh = route_headers(c, h, attempts, sizeof attempts, ra, sizeof ra);
    json_t *doc = c->body.len ? json_loadb(c->body.base, c->body.len, 0, NULL) : NULL;
    json_t *err = doc ? json_object_get(doc, "error") : NULL;
    bool anthropic_shaped = json_is_object(err) && json_is_string(json_object_get(doc, "type"));
    bool openai_shaped = json_is_object(err) && !anthropic_shaped;
    if (c->ingress == SY_FORMAT_ANTHROPIC) {
        if (anthropic_shaped) {
            sy_api_send_json(req, c->up_status, c->body.base, c->body.len, h, nh);
        } else {
            sy_buf_t b;
            sy_buf_init(&b, 64 * 1024 + 1024);
            sy_messages_fmt_error(c->up_status, c->body.base ? c->body.base : "", c->body.len, &b);
            sy_api_send_json(req, c->up_status, b.base, b.len, h, nh);
            sy_buf_dispose(&b);
        }
    } else if (openai_shaped) {
        sy_api_send_json(req, c->up_status, c->body.base, c->body.len, h, nh);
    } else {
        /* keep a printable prefix of the body for the message */
        char snippet[201];
        size_t k = 0;
        for (size_t i = 0; i < c->body.len && k < 200; i++) {
            unsigned char ch = (unsigned char)c->body.base[i];
            snippet[k++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
        }
        snippet[k] = '\0';
        char msg[320];
        snprintf(msg, sizeof msg, "upstream returned HTTP %d: %s", c->up_status,
                 k ? snippet : "(empty body)");
        sy_api_send_error_hdrs(req, c->up_status, "upstream_error", "upstream_error", NULL, msg, h,
                               nh);
    }
    json_decref(doc);
}

/* Anthropic ingress, non-streamed OpenAI-format reply: convert it whole. */
/* Returns false when the reply could not be converted (a 502 went out instead). */
static bool send_converted(relay_t *c)
{
    sy_route_t *r = c->route;
    sy_buf_t b;
    sy_buf_init(&b, CONVERT_MAX_BYTES);
    sy_fmt_resp_opts_t o = {.id = r->request_id,
                            .created = (int64_t)(sy_clock_wall_ms() / 1000),
                            .model = r->call.deploy->upstream_model};
    sy_err_t e = c->convert_err;
    if (!e)
        e = sy_messages_fmt_response(c->body.base ? c->body.base : "", c->body.len, &o, &b, NULL);
    if (e) {
        sy_buf_dispose(&b);
        send_error_h(c->req, c->ingress, SY_ERR_UPSTREAM_BROKEN, NULL,
                     "the upstream reply could not be converted to an Anthropic message", NULL, 0);
        return false;
    }
    char attempts[2048], ra[24];
    sy_http_header_t h[ROUTE_HDRS];
    size_t nh = route_headers(c, h, attempts, sizeof attempts, ra, sizeof ra);
    tee_capture(c, b.base, b.len);
    sy_api_send_json(c->req, c->up_status, b.base, b.len, h, nh);
    sy_buf_dispose(&b);
    return true;
}

static void stream_error_event(relay_t *c, sy_err_t err, const char *detail)
{
    sy_buf_t b;
    sy_buf_init(&b, 8192);
    const char *msg = detail ? detail : "upstream failed mid-stream";
    if (c->ingress == SY_FORMAT_ANTHROPIC) {
        sy_buf_append_c(&b, "event: error\ndata: ");
        sy_messages_fmt_error_make(err == SY_ERR_UPSTREAM_TIMEOUT ? "api_error" : "api_error", msg,
                                   &b);
        sy_buf_append_c(&b, "\n\n");
    } else {
        sy_buf_append_c(&b, "data: ");
        sy_api_error_json(&b, err, NULL, msg);
        sy_buf_append_c(&b, "\n\n");
    }
    sy_http_res_write(c->req, b.base, b.len);
    sy_buf_dispose(&b);
}

/* The metrics of one finished request (status 499: the client went away first). */
static void account(relay_t *c, int status, sy_err_t err)
{
    sy_route_t *r = c->route;
    uint64_t now = sy_clock_mono_us();
    uint64_t total = now - c->req->t_complete_us;
    uint64_t overhead = c->overhead_us;
    if (!c->committed && r->n_attempts)
        overhead = r->attempts[0].t_start_us - c->req->t_complete_us;
    uint64_t ttfb = c->committed    ? c->t_commit_us - c->req->t_complete_us
                    : status == 499 ? 0
                                    : total;
    sy_metrics_request(r->model, c->ingress == SY_FORMAT_ANTHROPIC, status,
                       sy_metrics_error_of(status, err, c->committed), total, ttfb, overhead);
}

/* ---- durable acknowledgement (log.fsync always) ---- */

static void wait_unlink(relay_t *c)
{
    if (c->wprev)
        c->wprev->wnext = c->wnext;
    else
        c->w->durable_waiters = c->wnext;
    if (c->wnext) c->wnext->wprev = c->wprev;
    c->wnext = c->wprev = NULL;
}

static void on_wait_abort(sy_http_req_t *req, void *ctx)
{
    (void)req;
    wait_unlink(ctx); /* the row is submitted; nothing else is left to do */
}

/* The response's end is held (sy_http_res_hold): released now if the row is durable, else when
 * the writer's notify says so (sy_relay_durable_kick). A dropped row (seq 0) does not wait. */
static void wait_durable(relay_t *c)
{
    if (!c->seq || sy_logpipe_durable(c->w->logpipe, (size_t)c->w->index) >= c->seq) {
        sy_http_res_release(c->req);
        return;
    }
    c->wait_deadline_ms = uv_now(&c->w->loop) + c->w->cfg->log.ack_timeout_ms;
    c->wprev = NULL;
    c->wnext = c->w->durable_waiters;
    if (c->wnext) c->wnext->wprev = c;
    c->w->durable_waiters = c;
    c->req->on_abort = on_wait_abort;
    c->req->hook_ctx = c;
}

void sy_relay_durable_kick(sy_worker_t *w)
{
    if (!w->logpipe) return;
    uint64_t d = sy_logpipe_durable(w->logpipe, (size_t)w->index);
    relay_t *next;
    for (relay_t *c = w->durable_waiters; c; c = next) {
        next = c->wnext;
        if (c->seq > d) continue;
        wait_unlink(c);
        c->req->on_abort = NULL;
        sy_http_res_release(c->req);
    }
}

/* The row of a response given up after log.ack_timeout_ms. The request's own row went to the
 * pipeline before the wait and cannot be changed (it may be in the store already): it tells
 * what the upstream and the gateway did. This second row, linked to it by parent_id, tells what
 * the client got: not the end. Same request id and attempt, status error, error_type
 * "log_not_durable", no body, no tokens and a cost of 0 (the call's usage and cost are on the
 * first row, so sums are not doubled). */
static void log_given_up(relay_t *c)
{
    const sy_log_record_t *last = &c->last_row;
    if (!last->id[0]) return;
    uint64_t mono_now = sy_clock_mono_us();
    int64_t wall_now = wall_now_us();
    sy_log_record_t rec;
    sy_log_record_init(&rec);
    sy_uuid_v7(rec.id);
    memcpy(rec.parent_id, last->id, sizeof rec.parent_id);
    fill_request(&rec, c->req, &c->w->cfg->log, mono_now, wall_now);
    rec.request_body = SY_STR_NULL; /* on the first row already */
    rec.attempt = last->attempt;
    rec.model = last->model;
    rec.provider = last->provider;
    rec.upstream_model = last->upstream_model;
    rec.deployment = last->deployment;
    rec.t_end_us = wall_now;
    rec.latency_us = (int64_t)(mono_now - c->req->t_begin_us);
    rec.status = SY_LOG_STATUS_ERROR;
    rec.http_status = last->http_status; /* the status line the client did get */
    rec.error_type = SY_STR_LIT("log_not_durable");
    rec.error_message = SY_STR_LIT("response given up after log.ack_timeout_ms: its log row "
                                   "could not be made durable, the client did not get the end");
    rec.cost_nanousd = 0;
    sy_logpipe_submit(c->w->logpipe, (size_t)c->w->index, &rec);
}

void sy_relay_durable_expire(sy_worker_t *w)
{
    uint64_t now = uv_now(&w->loop);
    relay_t *next;
    for (relay_t *c = w->durable_waiters; c; c = next) {
        next = c->wnext;
        if (now < c->wait_deadline_ms) continue;
        wait_unlink(c);
        sy_log_req_warn(c->req->request_id,
                        "log row not durable after %u ms (log.ack_timeout_ms; spool write "
                        "failing?): closing the connection without the response",
                        (unsigned)w->cfg->log.ack_timeout_ms);
        log_given_up(c);
        sy_http_res_fail_held(c->req); /* frees the request (and c) once closed */
    }
}

static void sink_done(sy_route_t *r, sy_err_t err, const char *detail)
{
    relay_t *c = r->ctx;
    sy_http_req_t *req = c->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    c->ack_durable = c->w->logpipe && c->w->cfg->log.fsync == SY_FSYNC_ALWAYS;
    if (c->ack_durable) sy_http_res_hold(req); /* what is written from here waits */
    if (c->error_body)
        account(c, c->up_status, SY_ERR_UPSTREAM_STATUS);
    else if (c->committed || (c->convert && !err))
        account(c, c->up_status, c->committed ? err : SY_OK);
    else
        account(c, sy_api_error_status(err), err);
    if (c->error_body) {
        log_request(c, SY_LOG_STATUS_ERROR, c->up_status, SY_ERR_UPSTREAM_STATUS, NULL, &c->body);
        send_upstream_error(c);
    } else if (!c->committed && c->convert && !err) {
        if (send_converted(c))
            log_request(c, SY_LOG_STATUS_OK, c->up_status, SY_OK, NULL, NULL);
        else
            log_request(c, SY_LOG_STATUS_ERROR, sy_api_error_status(SY_ERR_UPSTREAM_BROKEN),
                        SY_ERR_UPSTREAM_BROKEN, "the upstream reply could not be converted", NULL);
    } else if (!c->committed) {
        char msg[512];
        const char *param = NULL;
        if (err == SY_ERR_INVALID_REQUEST || err == SY_ERR_INVALID_JSON) {
            snprintf(msg, sizeof msg, "%s", detail ? detail : "invalid request");
            if (r->call.error_param[0]) param = r->call.error_param;
        } else if (err == SY_ERR_UNAVAILABLE) {
            snprintf(msg, sizeof msg, "%s", detail ? detail : "no deployment available");
        } else {
            snprintf(msg, sizeof msg, "%s: %s",
                     err == SY_ERR_UPSTREAM_TIMEOUT       ? "upstream timed out"
                     : err == SY_ERR_UPSTREAM_UNREACHABLE ? "upstream unreachable"
                                                          : "upstream failed",
                     detail ? detail : "no detail");
        }
        log_request(c, err == SY_ERR_UPSTREAM_TIMEOUT ? SY_LOG_STATUS_TIMEOUT : SY_LOG_STATUS_ERROR,
                    sy_api_error_status(err), err, msg, NULL);
        char attempts[2048], ra[24];
        sy_http_header_t h[ROUTE_HDRS];
        size_t nh = route_headers(c, h, attempts, sizeof attempts, ra, sizeof ra);
        send_error_h(req, c->ingress, err, param, msg, h, nh);
    } else {
        if (c->filter) sy_usage_filter_finish(&c->uf, filter_emit, c);
        if (c->convert && !err && c->convert_ended) {
            write_out(c);
        } else if (c->convert && !err) {
            if (c->convert_err)
                err = c->convert_err;
            else if ((err = sy_messages_stream_finish(c->ms, &c->out)) == SY_OK)
                write_out(c);
            if (err) detail = "the upstream stream could not be converted";
        }
        if (err) {
            sy_log_req_warn(req->request_id, "upstream failed after the response started: %s",
                            detail ? detail : "?");
            log_request(
                c, err == SY_ERR_UPSTREAM_TIMEOUT ? SY_LOG_STATUS_TIMEOUT : SY_LOG_STATUS_ERROR,
                c->up_status, err, detail, NULL);
            if (!c->is_sse) {
                /* a cut JSON body must not look complete: close without the final chunk */
                sy_http_res_abort(req);
                goto out;
            }
            stream_error_event(c, err, detail); /* SSE clients are told in-band */
        }
        log_request(c, SY_LOG_STATUS_OK, c->up_status, SY_OK, NULL, NULL);
        sy_http_res_end(req);
    }
out:
    release(c);
    if (c->ack_durable) wait_durable(c);
}

static const sy_route_sink_t relay_sink = {
    .head = sink_head,
    .data = sink_data,
    .done = sink_done,
};

static void on_client_drain(sy_http_req_t *req, void *ctx)
{
    relay_t *c = ctx;
    sy_route_proceed(c->route);
}

static void on_client_abort(sy_http_req_t *req, void *ctx)
{
    relay_t *c = ctx;
    sy_route_stop(c->route);
    account(c, 499, SY_OK);
    log_request(c, SY_LOG_STATUS_CANCELLED, c->committed ? c->up_status : 0, SY_OK,
                "the client went away", NULL);
    release(c);
}

void sy_relay_start(sy_http_req_t *req, sy_worker_t *w, sy_format_t ingress, sy_route_t *r,
                    sy_admission_req_t *adm)
{
    relay_t *c = sy_arena_alloc(&req->arena, sizeof *c);
    memset(c, 0, sizeof *c);
    c->adm = adm;
    if (adm) c->n_lh = sy_admission_headers(sy_admission_result(adm), c->lh, c->lh_buf);
    if (req->policy_timed) { /* auth and limits are behind it: their time, headers included */
        sy_gate_span_close(req);
        sy_metrics_policy(req->policy_ns);
    }
    c->route = r;
    c->req = req;
    c->w = w;
    c->ingress = ingress;
    c->boundary = SY_SSE_BOUNDARY_INIT;
    if (w->logpipe) {
        sy_capture_init(&c->cap, w->cfg->log.max_body_bytes + LOG_CAP_MARGIN, 16u << 10);
        c->cap_live = true;
    }
    sy_buf_init(&c->body, 0);
    sy_buf_init(&c->out, 16u << 20);
    r->loop = &w->loop;
    r->upstream = w->upstream;
    r->arena = &req->arena;
    r->request_id = req->request_id;
    r->max_error_bytes = w->cfg->max_upstream_error_bytes;
    r->sink = &relay_sink;
    r->ctx = c;
    req->on_abort = on_client_abort;
    req->on_drain = on_client_drain;
    req->hook_ctx = c;
    sy_route_start(r);
}
