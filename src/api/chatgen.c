/* Chat generation: the generations themselves — registry, loopback call, watchers, final row.
 * See chatgen.h (DESIGN) and docs/internals/CHAT.md, "Generation"; the routes and their store
 * jobs are in chatgen_routes.c. */
#include "api/chatgen.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/chatgen_fmt.h"
#include "api/chatgen_int.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/jsonschema.h"
#include "core/json.h"
#include "core/log.h"
#include "core/utf8.h"
#include "core/uuid.h"
#include "http/sse.h"
#include "logpipe/capture.h"
#include "logpipe/cost.h"
#include "policy/auth.h"
#include "upstream/upstream.h"
#include "worker.h"

#define TEXT_MAX SY_CHAT_CONTENT_MAX
#define REASONING_MAX (256u << 10)
#define ERRBODY_MAX 8192
/* JSON text bounds: escaping multiplies a string by at most 6 (\u00XX); a message holds the
 * content, the error and small members; an event a message or two, or a text's delta. */
#define MSG_JSON_MAX (4u << 20)
#define EVENT_JSON_MAX (2 * MSG_JSON_MAX + 65536)
#define EVENT_MAX (1u << 20) /* one SSE event of the loopback stream */
#define METRICS_EVERY_MS 250
#define CHECKPOINT_MS 2000 /* the text so far is stored this often while it grows */
#define TOKEN_LEN 64       /* hex of 32 random bytes */
#define SHUTDOWN_ERROR "interrupted: the server shut down"
#define CUT_ERROR "the answer exceeded 256 KiB and was cut"

/* ---- the internal token (per process) ---- */

static uv_once_t token_once = UV_ONCE_INIT;
static char token[TOKEN_LEN + 1];

static void make_token(void)
{
    if (sodium_init() < 0) abort();
    uint8_t raw[TOKEN_LEN / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(token, sizeof token, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
}

/* ---- generations and watchers ---- */

typedef struct sy_chatgen gen_t;

typedef struct watcher {
    struct watcher *next, *prev; /* the generation's list (under its lock) */
    gen_t *g;                    /* a reference */
    sy_http_req_t *req;          /* NULL once gone */
    uv_async_t async;            /* on the watcher's loop; sent under g->lock */
    bool linked;
    bool cancel_waiter; /* the cancel route: answers 200 {"message"} at the end, no SSE */
    size_t sent, sent_reasoning;
    unsigned ka_seen; /* the generation's keep-alive count last written */
    uint64_t last_metrics_ms;
    char metrics_sent[320];
} watcher_t;

struct sy_chatgen {
    gen_t *rnext, *rprev; /* registry (under reg_lock) */
    gen_t *wnext, *wprev; /* the owner worker's list (owner loop) */
    atomic_uint refs;
    sy_worker_t *w; /* owner; NULL while a placeholder (sy_chatgen_reserve) */
    char id[SY_CHATGEN_ID_MAX + 1], conv_id[SY_CHATGEN_ID_MAX + 1];
    char user_id[SY_AUTH_ID_MAX]; /* whose: the per-user cap counts the registry by it */
    const sy_model_conf_t *model;
    const sy_auth_ident_t *ident; /* the gate acts as this identity (set under lock) */
    sy_app_msg_t *row;            /* the assistant message (owned), final fields set at the end */
    uv_mutex_t lock;
    /* under lock */
    sy_buf_t text, reasoning;
    bool done;
    char *start_json; /* the assistant message as at the start (status streaming) */
    char *final_json; /* the final message, once done */
    char metrics[320];
    watcher_t *watchers;
    unsigned n_streams; /* watchers that are SSE clients (capped: SY_CHATGEN_WATCHERS_MAX) */
    bool cmd_open;
    unsigned ka; /* keep-alive ticks: watchers write ": keep-alive" when it moves */
    /* owner loop */
    atomic_int stop; /* 0, or why to stop: STOP_* */
    uv_async_t cmd;
    uv_timer_t ka_timer; /* checkpoints; sse_keepalive_ms without new text: a keep-alive */
    uint64_t last_text_ms, last_ka_ms;
    uint64_t last_checkpoint_ms;
    size_t checkpointed; /* text bytes the last checkpoint stored */
    bool checkpointing;  /* a checkpoint job is queued or running */
    sy_upstream_call_t call;
    bool running, finishing;
    bool called; /* the loopback call was started (else no tokens, no cost) */
    char *body;
    size_t body_len;
    struct curl_slist *hdrs;
    sy_sse_parser_t sse;
    bool sse_live;
    sy_buf_t errbody;
    char stream_error[512];
    uint64_t t0_us, t_first_us, t_end_us;
    int64_t in_tok, out_tok, reas_tok, cached_tok;
    char up_model[128];
    uint64_t last_metrics_us;
    uv_work_t work;
    sy_jschema_t *schema; /* response_format json_schema, compiled; or NULL */
    sy_app_msg_t fin;     /* the final row's fields (borrowed pointers) for the pool job */
    char *fin_json;
};

enum { STOP_NONE = 0, STOP_CANCEL, STOP_CUT, STOP_SHUTDOWN };

static uv_mutex_t reg_lock;
static uv_once_t reg_once = UV_ONCE_INIT;
static gen_t *reg_head;

static void reg_init(void)
{
    uv_mutex_init(&reg_lock);
}

void sy_chatgen_unref(gen_t *g)
{
    if (atomic_fetch_sub(&g->refs, 1) != 1) return;
    sy_auth_ident_release(g->ident);
    sy_jschema_free(g->schema);
    sy_app_msg_free(g->row);
    sy_buf_dispose(&g->text);
    sy_buf_dispose(&g->reasoning);
    free(g->start_json);
    free(g->final_json);
    uv_mutex_destroy(&g->lock);
    free(g);
}

/* A reference to the live (or just finished) generation of message id, or NULL. */
gen_t *sy_chatgen_find(const char *id, size_t len)
{
    uv_once(&reg_once, reg_init);
    gen_t *found = NULL;
    uv_mutex_lock(&reg_lock);
    for (gen_t *g = reg_head; g; g = g->rnext)
        if (strlen(g->id) == len && !memcmp(g->id, id, len)) {
            atomic_fetch_add(&g->refs, 1);
            found = g;
            break;
        }
    uv_mutex_unlock(&reg_lock);
    return found;
}

/* Wakes every watcher (lock held). */
static void notify_locked(gen_t *g)
{
    for (watcher_t *x = g->watchers; x; x = x->next)
        uv_async_send(&x->async);
}

static void reg_remove(gen_t *g)
{
    uv_mutex_lock(&reg_lock);
    if (g->rprev)
        g->rprev->rnext = g->rnext;
    else
        reg_head = g->rnext;
    if (g->rnext) g->rnext->rprev = g->rprev;
    uv_mutex_unlock(&reg_lock);
}

gen_t *sy_chatgen_reserve(const char *user_id, unsigned max_live, const char *id,
                          const char *conv_id, const char *start_json)
{
    uv_once(&reg_once, reg_init);
    gen_t *g = sy_xcalloc(1, sizeof *g);
    atomic_init(&g->refs, 2); /* the registry's and the caller's */
    snprintf(g->id, sizeof g->id, "%s", id);
    snprintf(g->conv_id, sizeof g->conv_id, "%s", conv_id);
    snprintf(g->user_id, sizeof g->user_id, "%s", user_id);
    uv_mutex_init(&g->lock);
    sy_buf_init(&g->text, TEXT_MAX);
    sy_buf_init(&g->reasoning, REASONING_MAX);
    sy_buf_init(&g->errbody, ERRBODY_MAX);
    g->start_json = sy_xstrdup(start_json);
    snprintf(g->metrics, sizeof g->metrics, "null");
    unsigned live = 0;
    uv_mutex_lock(&reg_lock);
    for (gen_t *o = reg_head; o; o = o->rnext)
        live += !strcmp(o->user_id, user_id);
    if (live < max_live) {
        g->rnext = reg_head;
        if (reg_head) reg_head->rprev = g;
        reg_head = g;
    }
    uv_mutex_unlock(&reg_lock);
    if (live < max_live) return g;
    atomic_store(&g->refs, 1);
    sy_chatgen_unref(g);
    return NULL;
}

void sy_chatgen_abandon(gen_t *g, const char *final_json)
{
    uv_mutex_lock(&g->lock);
    g->final_json = sy_xstrdup(final_json);
    g->done = true;
    notify_locked(g);
    uv_mutex_unlock(&g->lock);
    reg_remove(g);
    sy_chatgen_unref(g); /* the registry's */
}

bool sy_chatgen_internal_ident(const sy_http_req_t *req, const sy_auth_ident_t **ident)
{
    sy_str_t t = sy_http_req_header(req, "x-switchyard-internal");
    if (!t.ptr) return false;
    *ident = NULL;
    uv_once(&token_once, make_token);
    if (t.len != TOKEN_LEN || sodium_memcmp(t.ptr, token, TOKEN_LEN) != 0) return true;
    sy_str_t id = sy_http_req_header(req, "x-switchyard-generation");
    gen_t *g = id.ptr ? sy_chatgen_find(id.ptr, id.len) : NULL;
    if (!g) return true;
    uv_mutex_lock(&g->lock);
    *ident = g->ident ? sy_auth_ident_ref(g->ident) : NULL; /* NULL: a placeholder */
    uv_mutex_unlock(&g->lock);
    sy_chatgen_unref(g);
    return true;
}

/* ---- metrics ---- */

/* The metrics so far (t_end 0: still running). */
static void metrics_now(gen_t *g, uint64_t t_end, sy_chatgen_metrics_t *m)
{
    uint64_t now = t_end ? t_end : sy_clock_mono_us();
    m->ttft_us = g->t_first_us ? (int64_t)(g->t_first_us - g->t0_us) : -1;
    m->latency_us = (int64_t)(now - g->t0_us);
    m->input_tokens = g->in_tok;
    m->output_tokens = g->out_tok;
    m->reasoning_tokens = g->reas_tok;
    m->cost_nanousd = -1;
    if (!t_end || !g->called) return;
    /* no usage from the upstream: estimated, as the log does (logpipe/capture.h) */
    if (m->input_tokens < 0) m->input_tokens = sy_capture_estimate_tokens(g->body, g->body_len);
    if (m->output_tokens < 0)
        m->output_tokens =
            sy_capture_estimate_tokens(g->text.base ? g->text.base : "", g->text.len);
    const sy_config_t *cfg = g->w->cfg;
    const sy_deploy_conf_t *d = sy_chatgen_priced_deploy(cfg, g->model, g->up_model);
    const sy_price_t *p = d ? sy_cost_find_price(cfg, d->provider_name, d->upstream_model,
                                                 (int64_t)sy_clock_wall_ms() * 1000)
                            : NULL;
    sy_cost_usage_t u = {m->input_tokens, m->output_tokens, g->cached_tok, -1};
    m->cost_nanousd = p ? sy_cost_nanousd(p, &u) : -1;
}

static void metrics_text(gen_t *g, uint64_t t_end, char *out, size_t len)
{
    sy_chatgen_metrics_t m;
    metrics_now(g, t_end, &m);
    sy_buf_t b;
    sy_buf_init(&b, len - 1);
    if (sy_chatgen_metrics_json(&m, &b) == SY_OK && b.len < len) {
        memcpy(out, b.base, b.len);
        out[b.len] = '\0';
    } else {
        snprintf(out, len, "null");
    }
    sy_buf_dispose(&b);
}

char *sy_chatgen_render(const sy_app_msg_t *m)
{
    sy_buf_t b;
    sy_buf_init(&b, MSG_JSON_MAX);
    sy_err_t err = sy_chatapi_append_msg(&b, m);
    if (!err) err = sy_buf_append(&b, "", 1);
    if (err) {
        sy_buf_dispose(&b);
        return sy_xstrdup("null");
    }
    return b.base;
}

/* ---- watchers (any loop) ---- */

static void sse_event(sy_buf_t *b, const char *event, const char *data, size_t len)
{
    if (sy_sse_append_event(b, event, data, len)) sy_log_warn("chat: an SSE event was cut");
}

static void on_watcher_closed(uv_handle_t *h)
{
    watcher_t *x = h->data;
    sy_chatgen_unref(x->g);
    free(x);
}

/* The watcher is done (its request ended or went away). */
static void watcher_close(watcher_t *x)
{
    gen_t *g = x->g;
    uv_mutex_lock(&g->lock);
    if (x->linked) {
        if (x->prev)
            x->prev->next = x->next;
        else
            g->watchers = x->next;
        if (x->next) x->next->prev = x->prev;
        x->linked = false;
        if (!x->cancel_waiter) g->n_streams--;
    }
    uv_mutex_unlock(&g->lock);
    if (x->req) {
        x->req->on_abort = NULL;
        x->req->hook_ctx = NULL;
        x->req = NULL;
    }
    uv_close((uv_handle_t *)&x->async, on_watcher_closed);
}

static void on_watcher_abort(sy_http_req_t *req, void *ctx)
{
    watcher_t *x = ctx;
    x->req = NULL;
    (void)req;
    watcher_close(x);
}

/* Appends a delta event with bytes [*sent, len) of src (JSON-escaped) under key. */
static void delta_event(sy_buf_t *out, const char *key, const sy_buf_t *src, size_t *sent)
{
    if (src->len <= *sent) return;
    sy_buf_t d;
    sy_buf_init(&d, 6 * (TEXT_MAX > REASONING_MAX ? TEXT_MAX : REASONING_MAX) + 64);
    sy_buf_printf(&d, "{\"%s\":", key);
    sy_json_append_string(&d, src->base + *sent, src->len - *sent);
    sy_buf_append_c(&d, "}");
    sse_event(out, "delta", d.base, d.len);
    sy_buf_dispose(&d);
    *sent = src->len;
}

static void on_watcher_wake(uv_async_t *a)
{
    watcher_t *x = a->data;
    gen_t *g = x->g;
    if (!x->req) return;
    sy_buf_t out, fin;
    sy_buf_init(&out, EVENT_JSON_MAX);
    sy_buf_init(&fin, EVENT_JSON_MAX);
    bool done;
    uv_mutex_lock(&g->lock);
    done = g->done;
    if (!x->cancel_waiter) {
        /* whole characters only: the text is appended in whole characters */
        delta_event(&out, "reasoning", &g->reasoning, &x->sent_reasoning);
        delta_event(&out, "text", &g->text, &x->sent);
        if (!out.len && x->ka_seen != g->ka && !done) sy_buf_append_c(&out, ": keep-alive\n\n");
        x->ka_seen = g->ka;
        uint64_t now = uv_now(a->loop);
        if (!done && now - x->last_metrics_ms >= METRICS_EVERY_MS &&
            strcmp(x->metrics_sent, g->metrics)) {
            x->last_metrics_ms = now;
            memcpy(x->metrics_sent, g->metrics, sizeof x->metrics_sent);
            sse_event(&out, "metrics", g->metrics, strlen(g->metrics));
        }
    }
    if (done) sy_buf_printf(&fin, "{\"message\":%s}", g->final_json);
    uv_mutex_unlock(&g->lock);
    sy_http_req_t *req = x->req;
    if (done) { /* the request ends here: unhook it first */
        req->on_abort = NULL;
        req->hook_ctx = NULL;
        x->req = NULL;
    }
    if (!done) {
        if (out.len) sy_http_res_write(req, out.base, out.len);
    } else if (x->cancel_waiter) {
        sy_api_send_json(req, 200, fin.base, fin.len, NULL, 0);
    } else {
        sse_event(&out, "done", fin.base, fin.len);
        sy_http_res_write(req, out.base, out.len);
        sy_http_res_end(req);
    }
    sy_buf_dispose(&out);
    sy_buf_dispose(&fin);
    if (done) watcher_close(x);
}

/* Attaches req (on w's loop) to g: SSE head + start (user_json may be NULL), then everything
 * so far and what follows; a cancel waiter gets only the final row. */
bool sy_chatgen_watch(gen_t *g, sy_http_req_t *req, sy_worker_t *w, const char *user_json,
                      bool cancel_waiter)
{
    if (!cancel_waiter) { /* a place among the SSE watchers, before anything is sent */
        uv_mutex_lock(&g->lock);
        bool room = g->n_streams < SY_CHATGEN_WATCHERS_MAX;
        g->n_streams += room;
        uv_mutex_unlock(&g->lock);
        if (!room) return false;
    }
    watcher_t *x = sy_xcalloc(1, sizeof *x);
    atomic_fetch_add(&g->refs, 1);
    x->g = g;
    x->req = req;
    x->cancel_waiter = cancel_waiter;
    uv_async_init(&w->loop, &x->async, on_watcher_wake);
    x->async.data = x;
    if (!cancel_waiter) {
        sy_http_header_t h[] = {{SY_STR_LIT("content-type"), SY_STR_LIT("text/event-stream")},
                                {SY_STR_LIT("cache-control"), SY_STR_LIT("no-store")}};
        sy_http_res_head(req, 200, h, 2, -1);
        sy_buf_t b;
        sy_buf_init(&b, EVENT_JSON_MAX);
        uv_mutex_lock(&g->lock);
        sy_buf_printf(&b, "{\"user_message\":%s,\"assistant_message\":%s}",
                      user_json ? user_json : "null", g->start_json);
        uv_mutex_unlock(&g->lock);
        sy_buf_t ev;
        sy_buf_init(&ev, b.len + 64);
        sse_event(&ev, "start", b.base, b.len);
        sy_http_res_write(req, ev.base, ev.len);
        sy_buf_dispose(&ev);
        sy_buf_dispose(&b);
    }
    req->on_abort = on_watcher_abort;
    req->on_drain = NULL;
    req->hook_ctx = x;
    uv_mutex_lock(&g->lock);
    x->next = g->watchers;
    if (g->watchers) g->watchers->prev = x;
    g->watchers = x;
    x->linked = true;
    uv_async_send(&x->async); /* what there is so far (or the end) */
    uv_mutex_unlock(&g->lock);
    return true;
}

/* ---- the generation (owner loop) ---- */

static void maybe_checkpoint(gen_t *g, uint64_t now_ms);

/* Every min(sse_keepalive_ms, CHECKPOINT_MS): a checkpoint when due; and a keep-alive after
 * sse_keepalive_ms without new text (proxies drop SSE connections that stay silent while a
 * model thinks; the relay's keep-alive comments end at the loopback's parser, so watchers get
 * their own). */
static void on_tick(uv_timer_t *t)
{
    gen_t *g = t->data;
    uint64_t now = uv_now(t->loop), ka = g->w->cfg->sse_keepalive_ms;
    maybe_checkpoint(g, now);
    uint64_t quiet_since = g->last_text_ms > g->last_ka_ms ? g->last_text_ms : g->last_ka_ms;
    if (!ka || now - quiet_since < ka) return;
    g->last_ka_ms = now;
    uv_mutex_lock(&g->lock);
    g->ka++;
    notify_locked(g);
    uv_mutex_unlock(&g->lock);
}

typedef struct checkpoint {
    uv_work_t work;
    gen_t *g; /* a reference */
    char *text;
} checkpoint_t;

static void on_checkpoint_work(uv_work_t *wk)
{
    checkpoint_t *k = wk->data;
    char msg[SY_STORE_MSGLEN];
    if (sy_app_msg_checkpoint(sy_auth_store(k->g->w->auth), k->g->conv_id, k->g->id, k->text,
                              (int64_t)sy_clock_wall_ms() * 1000, msg, sizeof msg))
        sy_log_warn("chat: checkpoint of answer %s failed: %s", k->g->id, msg);
}

static void on_checkpoint_done(uv_work_t *wk, int status)
{
    (void)status;
    checkpoint_t *k = wk->data;
    k->g->checkpointing = false;
    sy_chatgen_unref(k->g);
    free(k->text);
    free(k);
}

/* Every CHECKPOINT_MS one job stores the text when it grew, else only the row's update time
 * (status still streaming: the final row's UPDATE makes a later checkpoint match nothing, so
 * the order does not matter). The update time tells other replicas' sweeps that this answer
 * is alive (SY_CHAT_STALE_MS), so it is written even while the model is silent. */
static void maybe_checkpoint(gen_t *g, uint64_t now_ms)
{
    if (g->checkpointing || g->finishing || now_ms - g->last_checkpoint_ms < CHECKPOINT_MS) return;
    uv_mutex_lock(&g->lock);
    size_t len = g->text.len;
    char *text = len > g->checkpointed ? sy_xstrndup(g->text.base, len) : NULL;
    uv_mutex_unlock(&g->lock);
    checkpoint_t *k = sy_xcalloc(1, sizeof *k);
    k->g = g;
    k->text = text;
    k->work.data = k;
    atomic_fetch_add(&g->refs, 1);
    if (uv_queue_work(&g->w->loop, &k->work, on_checkpoint_work, on_checkpoint_done)) {
        sy_chatgen_unref(g);
        free(text);
        free(k);
        return;
    }
    g->checkpointing = true;
    g->checkpointed = len;
    g->last_checkpoint_ms = now_ms;
}

static void on_ka_closed(uv_handle_t *h)
{
    sy_chatgen_unref(h->data);
}

static void on_cmd_closed(uv_handle_t *h)
{
    sy_chatgen_unref(h->data);
}

static void gen_release_call(gen_t *g)
{
    free(g->body);
    g->body = NULL;
    curl_slist_free_all(g->hdrs);
    g->hdrs = NULL;
    if (g->sse_live) sy_sse_parser_dispose(&g->sse);
    g->sse_live = false;
    sy_buf_dispose(&g->errbody);
}

static void on_finish_work(uv_work_t *wk)
{
    gen_t *g = wk->data;
    char msg[SY_STORE_MSGLEN];
    if (g->schema && !strcmp(g->fin.status, "ok")) /* validating 256 KiB: not on the loop */
        g->row->schema_errors = g->fin.schema_errors =
            sy_chatgen_schema_errors(g->schema, g->fin.content);
    sy_store_t *s = sy_auth_store(g->w->auth);
    sy_err_t err = sy_app_msg_finish(s, &g->fin, msg, sizeof msg);
    if (err)
        sy_log_warn("chat: storing answer %s failed: %s", g->id,
                    err == SY_ERR_NOT_FOUND ? "it is no longer streaming (deleted?)" : msg);
    g->fin_json = sy_chatgen_render(&g->fin);
}

static void on_finish_done(uv_work_t *wk, int status)
{
    (void)status;
    gen_t *g = wk->data;
    uv_mutex_lock(&g->lock);
    g->final_json = g->fin_json;
    g->fin_json = NULL;
    g->done = true;
    g->cmd_open = false;
    notify_locked(g);
    uv_mutex_unlock(&g->lock);
    reg_remove(g);
    sy_chatgen_unref(g); /* the registry's */
    sy_worker_t *w = g->w;
    if (g->wprev)
        g->wprev->wnext = g->wnext;
    else
        w->chatgens = g->wnext;
    if (g->wnext) g->wnext->wprev = g->wprev;
    uv_close((uv_handle_t *)&g->cmd, on_cmd_closed);
    uv_close((uv_handle_t *)&g->ka_timer, on_ka_closed);
}

/* The end, once: the final row goes to the store on the thread pool. status: ok | cancelled |
 * error; error text or NULL. */
static void finish(gen_t *g, const char *status, const char *error)
{
    if (g->finishing) return;
    g->finishing = true;
    g->running = false;
    g->t_end_us = sy_clock_mono_us();
    char metrics[320];
    metrics_text(g, g->t_end_us, metrics, sizeof metrics);
    sy_app_msg_t *row = g->row;
    uv_mutex_lock(&g->lock);
    free(row->content);
    row->content = sy_xstrndup(g->text.base ? g->text.base : "", g->text.len);
    memcpy(g->metrics, metrics, sizeof g->metrics);
    uv_mutex_unlock(&g->lock);
    free(row->status);
    row->status = sy_xstrdup(status);
    free(row->error);
    row->error = error ? sy_xstrdup(error) : NULL;
    free(row->metrics);
    row->metrics = sy_xstrdup(metrics);
    /* the log row exists once the gateway answered the call (a head: the relay logs refusals
     * too). A call stopped before its head may have left a row (the relay logs a client abort)
     * or not (it never reached the relay): no log_id then, rather than one naming nothing. */
    free(row->log_id);
    row->log_id = g->call.t_head_us || g->call.status ? sy_xstrdup(g->ident->row_id) : NULL;
    g->fin = *row;
    gen_release_call(g);
    g->work.data = g;
    int qe = uv_queue_work(&g->w->loop, &g->work, on_finish_work, on_finish_done);
    if (qe) { /* never with valid arguments; the row stays streaming (fixed at start-up) */
        sy_log_warn("chat: answer %s not stored: %s", g->id, uv_strerror(qe));
        g->fin_json = sy_chatgen_render(&g->fin);
        on_finish_done(&g->work, 0);
    }
}

static void stop_call(gen_t *g, int why)
{
    if (!g->running) return;
    sy_upstream_cancel(&g->call);
    finish(g, why == STOP_CANCEL ? "cancelled" : "error",
           why == STOP_CANCEL ? NULL
           : why == STOP_CUT  ? CUT_ERROR
                              : SHUTDOWN_ERROR);
}

static void on_cmd(uv_async_t *a)
{
    gen_t *g = a->data;
    int why = atomic_load(&g->stop);
    if (why) stop_call(g, why);
}

static int64_t int_or(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

static void on_sse_event(void *ctx, sy_str_t type, sy_str_t data, sy_str_t id)
{
    (void)type;
    (void)id;
    gen_t *g = ctx;
    if (g->finishing || (data.len == 6 && !memcmp(data.ptr, "[DONE]", 6))) return;
    json_t *o = json_loadb(data.ptr, data.len, 0, NULL);
    if (!json_is_object(o)) goto out;
    json_t *e = json_object_get(o, "error");
    if (e) {
        const char *m = json_string_value(json_object_get(e, "message"));
        snprintf(g->stream_error, sizeof g->stream_error, "%s",
                 m ? m : "the upstream failed mid-stream");
        goto out;
    }
    const char *model = json_string_value(json_object_get(o, "model"));
    if (model && !g->up_model[0]) snprintf(g->up_model, sizeof g->up_model, "%s", model);
    json_t *u = json_object_get(o, "usage");
    if (json_is_object(u)) {
        g->in_tok = int_or(u, "prompt_tokens");
        g->out_tok = int_or(u, "completion_tokens");
        g->reas_tok = int_or(json_object_get(u, "completion_tokens_details"), "reasoning_tokens");
        g->cached_tok = int_or(json_object_get(u, "prompt_tokens_details"), "cached_tokens");
    }
    json_t *delta = json_object_get(json_array_get(json_object_get(o, "choices"), 0), "delta");
    json_t *text = json_object_get(delta, "content");
    json_t *reas = json_object_get(delta, "reasoning_content");
    if (!reas) reas = json_object_get(delta, "reasoning");
    size_t tn = json_string_length(text), rn = json_string_length(reas);
    if (!tn && !rn) goto out;
    uint64_t now = sy_clock_mono_us();
    if (tn && !g->t_first_us) g->t_first_us = now;
    g->last_text_ms = uv_now(&g->w->loop);
    maybe_checkpoint(g, g->last_text_ms);
    bool fits = true;
    char metrics[320] = "";
    if (now - g->last_metrics_us >= METRICS_EVERY_MS * 1000) {
        g->last_metrics_us = now;
        metrics_text(g, 0, metrics, sizeof metrics);
    }
    uv_mutex_lock(&g->lock);
    if (tn) fits = sy_chatgen_append_capped(&g->text, json_string_value(text), tn, TEXT_MAX);
    if (rn) sy_chatgen_append_capped(&g->reasoning, json_string_value(reas), rn, REASONING_MAX);
    if (metrics[0]) memcpy(g->metrics, metrics, sizeof g->metrics);
    notify_locked(g);
    uv_mutex_unlock(&g->lock);
    if (!fits) { /* cannot cancel inside the call's callback: from the loop's next turn */
        atomic_store(&g->stop, STOP_CUT);
        uv_async_send(&g->cmd);
    }
out:
    json_decref(o);
}

/* Nothing to do at the head: call->status tells on_up_data an error body from the stream. */
static void on_up_head(sy_upstream_call_t *call, int status, sy_str_t ctype)
{
    (void)call;
    (void)status;
    (void)ctype;
}

static bool on_up_data(sy_upstream_call_t *call, const char *p, size_t n)
{
    gen_t *g = call->ctx;
    if (g->finishing) return true;
    if (call->status >= 400) {
        size_t room = g->errbody.max - g->errbody.len;
        sy_buf_append(&g->errbody, p, n < room ? n : room);
        return true;
    }
    if (sy_sse_parser_feed(&g->sse, p, n) && !g->stream_error[0])
        snprintf(g->stream_error, sizeof g->stream_error, "the answer stream was malformed");
    return true;
}

static void on_up_done(sy_upstream_call_t *call, sy_err_t err, const char *detail)
{
    gen_t *g = call->ctx;
    char msg[600];
    if (call->status >= 400) {
        json_t *o = g->errbody.len ? json_loadb(g->errbody.base, g->errbody.len, 0, NULL) : NULL;
        const char *m = json_string_value(json_object_get(json_object_get(o, "error"), "message"));
        snprintf(msg, sizeof msg, "%s", m ? m : "the gateway refused the call");
        json_decref(o);
        char full[640];
        snprintf(full, sizeof full, "HTTP %d: %s", call->status, msg);
        return finish(g, "error", full);
    }
    if (err && g->w->draining) /* the worker serving the call reached its grace end first */
        return finish(g, "error", SHUTDOWN_ERROR);
    if (err) {
        snprintf(msg, sizeof msg, "the call failed: %s", detail ? detail : "no detail");
        return finish(g, "error", msg);
    }
    if (atomic_load(&g->stop) == STOP_CUT) return finish(g, "error", CUT_ERROR);
    if (g->stream_error[0]) return finish(g, "error", g->stream_error);
    finish(g, "ok", NULL);
}

/* http://<our listener>/v1/chat/completions: loopback for a wildcard address. */
static void listener_url(sy_worker_t *w, char *out, size_t len)
{
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "127.0.0.1";
    int port = w->cfg->listen_port;
    bool v6 = false;
    if (uv_tcp_getsockname(&w->http.listener, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            port = ntohs(a->sin_port);
            if (a->sin_addr.s_addr != htonl(INADDR_ANY))
                inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            port = ntohs(a->sin6_port);
            v6 = true;
            if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr))
                snprintf(host, sizeof host, "::1");
            else
                inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        }
    }
    snprintf(out, len,
             v6 ? "http://[%s]:%d/v1/chat/completions" : "http://%s:%d/v1/chat/completions", host,
             port);
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value)
{
    char line[256];
    snprintf(line, sizeof line, "%s: %s", name, value);
    return curl_slist_append(l, line);
}

/* Starts the generation the job prepared (owner = w); req: the POST's client or NULL. */
void sy_chatgen_start(sy_worker_t *w, sy_chatgen_req_t *r, sy_http_req_t *req)
{
    uv_once(&token_once, make_token);
    gen_t *g = r->gen; /* the placeholder the job registered: r's reference becomes the command
                        * handle's, plus one for the timer */
    r->gen = NULL;
    atomic_fetch_add(&g->refs, 1);
    g->w = w;
    g->model = r->model;
    sy_uuid_v7(r->ident.row_id);
    g->row = r->row;
    r->row = NULL;
    g->schema = r->schema;
    r->schema = NULL;
    g->in_tok = g->out_tok = g->reas_tok = g->cached_tok = -1;
    g->body = r->body;
    g->body_len = r->body_len;
    r->body = NULL;
    uv_async_init(&w->loop, &g->cmd, on_cmd);
    g->cmd.data = g;
    uv_timer_init(&w->loop, &g->ka_timer);
    g->ka_timer.data = g;
    g->last_text_ms = g->last_checkpoint_ms = uv_now(&w->loop);
    uint64_t ka = w->cfg->sse_keepalive_ms;
    uint64_t tick = ka && ka < CHECKPOINT_MS ? ka : CHECKPOINT_MS;
    uv_timer_start(&g->ka_timer, on_tick, tick, tick);
    g->wnext = w->chatgens;
    if (g->wnext) g->wnext->wprev = g;
    w->chatgens = g;
    uv_mutex_lock(&g->lock);
    g->ident = sy_auth_ident_new(&r->ident);
    g->cmd_open = true; /* from now on a cancel sends the command */
    uv_mutex_unlock(&g->lock);
    if (req && !sy_chatgen_watch(g, req, w, r->user_json, false))
        sy_chatgen_send_too_many(req, true, 0); /* re-attaches took every place meanwhile */
    g->t0_us = sy_clock_mono_us();
    if (atomic_load(&g->stop)) /* cancelled while a placeholder: no call at all */
        return finish(g, "cancelled", NULL);
    if (!w->self_url[0]) listener_url(w, w->self_url, sizeof w->self_url);
    g->hdrs = curl_slist_append(NULL, "content-type: application/json");
    g->hdrs = curl_slist_append(g->hdrs, "accept: text/event-stream");
    g->hdrs = add_header(g->hdrs, "x-switchyard-internal", token);
    g->hdrs = add_header(g->hdrs, "x-switchyard-generation", g->id);
    g->hdrs = add_header(g->hdrs, "x-switchyard-conversation-id", g->conv_id);
    g->hdrs = add_header(g->hdrs, "x-switchyard-message-id", g->id);
    g->hdrs = add_header(g->hdrs, "x-request-id", g->row->request_id);
    sy_sse_parser_init(&g->sse, EVENT_MAX, on_sse_event, g);
    g->sse_live = true;
    g->call = (sy_upstream_call_t){.url = w->self_url,
                                   .direct = true, /* the internal token never goes to a proxy */
                                   .headers = g->hdrs,
                                   .body = g->body,
                                   .body_len = g->body_len,
                                   .connect_ms = 10000,
                                   .on_head = on_up_head,
                                   .on_data = on_up_data,
                                   .on_done = on_up_done,
                                   .ctx = g};
    g->running = true;
    sy_err_t err = w->upstream && !w->draining ? sy_upstream_start(w->upstream, &g->call)
                                               : SY_ERR_SHUTTING_DOWN;
    g->called = !err;
    if (err) {
        g->running = false;
        finish(g, "error", "the gateway could not start the call (shutting down?)");
    }
}

size_t sy_chatgen_worker_busy(const sy_worker_t *w)
{
    size_t n = 0;
    for (const gen_t *g = w->chatgens; g; g = g->wnext)
        n++;
    return n;
}

void sy_chatgen_worker_stop(sy_worker_t *w)
{
    for (gen_t *g = w->chatgens; g; g = g->wnext)
        stop_call(g, STOP_SHUTDOWN);
}

bool sy_chatgen_cancel(gen_t *g, bool cancel)
{
    uv_mutex_lock(&g->lock);
    bool live = !g->done;
    if (live && cancel) { /* a placeholder reads stop when it starts */
        atomic_store(&g->stop, STOP_CANCEL);
        if (g->cmd_open) uv_async_send(&g->cmd);
    }
    uv_mutex_unlock(&g->lock);
    return live;
}

void sy_chatgen_send_too_many(sy_http_req_t *req, bool watchers, unsigned max_live)
{
    char m[160];
    if (watchers)
        snprintf(m, sizeof m, "this answer already has %d clients streaming it; close one",
                 SY_CHATGEN_WATCHERS_MAX);
    else
        snprintf(m, sizeof m,
                 "you have %u answers being generated; wait for one to finish or stop it",
                 max_live);
    sy_http_header_t h[] = {{SY_STR_LIT("retry-after"), SY_STR_LIT("1")}};
    sy_api_send_error_hdrs(req, 429, "rate_limit_error",
                           watchers ? "too_many_watchers" : "too_many_generations", NULL, m, h, 1);
}

void sy_chatgen_send_stored(sy_http_req_t *req, const char *msg_json)
{
    sy_http_header_t h[] = {{SY_STR_LIT("content-type"), SY_STR_LIT("text/event-stream")},
                            {SY_STR_LIT("cache-control"), SY_STR_LIT("no-store")}};
    sy_buf_t b, ev;
    sy_buf_init(&b, EVENT_JSON_MAX);
    sy_buf_init(&ev, 2 * EVENT_JSON_MAX);
    sy_buf_printf(&b, "{\"user_message\":null,\"assistant_message\":%s}", msg_json);
    sse_event(&ev, "start", b.base, b.len);
    sy_buf_reset(&b);
    sy_buf_printf(&b, "{\"message\":%s}", msg_json);
    sse_event(&ev, "done", b.base, b.len);
    sy_http_res_head(req, 200, h, 2, -1);
    sy_http_res_write(req, ev.base, ev.len);
    sy_http_res_end(req);
    sy_buf_dispose(&b);
    sy_buf_dispose(&ev);
}
