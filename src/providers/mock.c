/* Built-in mock model: answers on the loop thread with timers, no network. The reply is
 * "You said: " + the last user message's text (capped at 4 KiB), so it is deterministic and
 * lets tests put any text on screen. Streams exactly as OpenAI does: role chunk, content
 * deltas, finish chunk, usage chunk when asked, [DONE].
 * DESIGN: a small state machine driven by one uv_timer; each step emits one SSE frame. The state
 * is heap-allocated and freed in the timer's close callback, so stop() can return at once. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/uuid.h"
#include "http/sse.h"
#include "providers/provider.h"

#define MOCK_REPLY_MAX 4096

typedef enum { ST_HEAD, ST_CONTENT, ST_TAIL, ST_DONE } mock_step_t;

typedef struct mock_state {
    uv_timer_t timer;
    sy_call_t *call; /* NULL once stopped */
    const sy_mock_conf_t *conf;
    mock_step_t step;
    uint32_t piece; /* next content piece */
    uint32_t n_pieces;
    size_t *cuts; /* piece i = reply[cuts[i] .. cuts[i+1]) */
    char *reply;
    size_t reply_len;
    int64_t prompt_tokens, completion_tokens;
    bool cut;   /* the reply was cut at max_tokens: finish_reason "length" */
    bool usage; /* stream: usage chunk (asked by the client, or for the log: hide_usage) */
    char id[48];
    uint64_t created;
    bool waiting; /* paused by backpressure */
    sy_buf_t out;
} mock_state_t;

static void append_text_of(sy_buf_t *b, json_t *content, bool *first)
{
    if (json_is_string(content)) {
        if (!*first) sy_buf_append(b, " ", 1);
        sy_buf_append(b, json_string_value(content), json_string_length(content));
        *first = false;
    } else if (json_is_array(content)) {
        size_t i;
        json_t *part;
        json_array_foreach(content, i, part)
        {
            json_t *text = json_object_get(part, "text");
            if (json_is_string(text)) append_text_of(b, text, first);
        }
    }
}

/* Cut s to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* max_completion_tokens, else max_tokens: a positive integer, or 0 when absent */
static int64_t max_tokens_of(json_t *doc)
{
    json_t *v = json_object_get(doc, "max_completion_tokens");
    if (!json_is_integer(v)) v = json_object_get(doc, "max_tokens");
    return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

static void build_reply(mock_state_t *st, json_t *messages, int64_t max_tokens)
{
    sy_buf_t all, last;
    sy_buf_init(&all, 64u << 20);
    sy_buf_init(&last, 64u << 20);
    size_t i;
    json_t *msg;
    json_array_foreach(messages, i, msg)
    {
        bool first = true;
        append_text_of(&all, json_object_get(msg, "content"), &first);
        json_t *role = json_object_get(msg, "role");
        if (json_is_string(role) && strcmp(json_string_value(role), "user") == 0) {
            last.len = 0;
            first = true;
            append_text_of(&last, json_object_get(msg, "content"), &first);
        }
    }
    static const char prefix[] = "You said: ";
    size_t body =
        utf8_cut(last.base ? last.base : "", last.len, MOCK_REPLY_MAX - (sizeof prefix - 1));
    st->reply = sy_xmalloc(sizeof prefix - 1 + body + 1);
    memcpy(st->reply, prefix, sizeof prefix - 1);
    if (body) memcpy(st->reply + sizeof prefix - 1, last.base, body);
    st->reply_len = sizeof prefix - 1 + body;
    /* like a real model, stop at max_tokens (4 bytes a token, as the usage estimate) */
    if (max_tokens > 0 && (uint64_t)max_tokens < (st->reply_len + 3) / 4) {
        st->reply_len = utf8_cut(st->reply, st->reply_len, (size_t)max_tokens * 4);
        st->cut = true;
    }
    st->reply[st->reply_len] = '\0';
    st->prompt_tokens =
        st->conf->prompt_tokens >= 0 ? st->conf->prompt_tokens : (int64_t)((all.len + 3) / 4);
    st->completion_tokens = st->conf->completion_tokens >= 0 ? st->conf->completion_tokens
                            : st->cut                        ? max_tokens
                                                             : (int64_t)((st->reply_len + 3) / 4);
    sy_buf_dispose(&all);
    sy_buf_dispose(&last);
    /* split into nearly equal pieces on UTF-8 boundaries; empty pieces are dropped */
    uint32_t n = st->conf->chunks ? st->conf->chunks : 1;
    st->cuts = sy_xmalloc((n + 1) * sizeof *st->cuts);
    size_t prev = 0;
    st->cuts[0] = 0;
    st->n_pieces = 0;
    for (uint32_t k = 1; k <= n; k++) {
        size_t c = (size_t)((unsigned long long)st->reply_len * k / n);
        while (c < st->reply_len && ((unsigned char)st->reply[c] & 0xC0) == 0x80)
            c++;
        if (c > prev) {
            st->cuts[++st->n_pieces] = c;
            prev = c;
        }
    }
}

static void chunk_prefix(mock_state_t *st, sy_buf_t *b)
{
    sy_buf_printf(b,
                  "{\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":%llu,\"model\":",
                  st->id, (unsigned long long)st->created);
    sy_json_append_string(b, st->call->deploy->model->name, strlen(st->call->deploy->model->name));
    sy_buf_append_c(b, ",\"service_tier\":\"default\",\"system_fingerprint\":null,\"choices\":");
}

static void usage_json(mock_state_t *st, sy_buf_t *b)
{
    sy_buf_printf(b,
                  "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld,"
                  "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
                  "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                  "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}",
                  (long long)st->prompt_tokens, (long long)st->completion_tokens,
                  (long long)(st->prompt_tokens + st->completion_tokens));
}

/* one "data: {...}\n\n" frame for a choice delta */
static void frame_delta(mock_state_t *st, sy_buf_t *b, const char *delta_json, const char *finish)
{
    sy_buf_append(b, "data: ", 6);
    chunk_prefix(st, b);
    sy_buf_printf(b, "[{\"index\":0,\"delta\":%s,\"logprobs\":null,\"finish_reason\":%s}]",
                  delta_json, finish);
    if (st->usage) sy_buf_append_c(b, ",\"usage\":null");
    sy_buf_append(b, "}\n\n", 3);
}

static bool emit(mock_state_t *st)
{
    bool more = st->call->sink->data(st->call, st->out.base, st->out.len);
    st->out.len = 0;
    return more;
}

static void schedule(mock_state_t *st, uint64_t ms);
static void on_closed(uv_handle_t *h);

/* Runs steps until a delay or backpressure. */
static void run(mock_state_t *st)
{
    sy_call_t *call = st->call;
    while (st->call && st->step != ST_DONE) {
        if (st->waiting) return;
        switch (st->step) {
        case ST_HEAD:
            call->t_upstream_head_us = sy_clock_mono_us();
            if (!call->stream) {
                call->sink->head(call, 200, SY_STR_LIT("application/json"));
                sy_buf_printf(
                    &st->out,
                    "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":%llu,\"model\":",
                    st->id, (unsigned long long)st->created);
                sy_json_append_string(&st->out, call->deploy->model->name,
                                      strlen(call->deploy->model->name));
                sy_buf_append_c(
                    &st->out,
                    ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
                sy_json_append_string(&st->out, st->reply, st->reply_len);
                sy_buf_append_c(&st->out, ",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
                                          "\"finish_reason\":");
                sy_buf_append_c(&st->out,
                                st->cut ? "\"length\"}],\"usage\":" : "\"stop\"}],\"usage\":");
                usage_json(st, &st->out);
                sy_buf_append_c(&st->out,
                                ",\"service_tier\":\"default\",\"system_fingerprint\":null}");
                st->step = ST_DONE;
                emit(st);
                break;
            }
            call->sink->head(call, 200, SY_STR_LIT("text/event-stream; charset=utf-8"));
            if (!st->call) return;
            frame_delta(st, &st->out, "{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}",
                        "null");
            st->step = st->n_pieces ? ST_CONTENT : ST_TAIL;
            if (!emit(st)) st->waiting = true;
            break;
        case ST_CONTENT: {
            uint32_t i = st->piece++;
            sy_buf_t delta;
            sy_buf_init(&delta, MOCK_REPLY_MAX * 6 + 64);
            sy_buf_append_c(&delta, "{\"content\":");
            sy_json_append_string(&delta, st->reply + st->cuts[i], st->cuts[i + 1] - st->cuts[i]);
            sy_buf_append_c(&delta, "}");
            sy_buf_append(&delta, "", 1);
            frame_delta(st, &st->out, delta.base, "null");
            sy_buf_dispose(&delta);
            if (st->piece == st->n_pieces) st->step = ST_TAIL;
            bool more = emit(st);
            if (!st->call) return;
            if (!more) st->waiting = true;
            if (st->step == ST_CONTENT && st->conf->chunk_delay_ms) {
                if (!st->waiting) schedule(st, st->conf->chunk_delay_ms);
                return;
            }
            break;
        }
        case ST_TAIL:
            frame_delta(st, &st->out, "{}", st->cut ? "\"length\"" : "\"stop\"");
            if (st->usage) {
                sy_buf_append(&st->out, "data: ", 6);
                chunk_prefix(st, &st->out);
                sy_buf_append_c(&st->out, "[],\"usage\":");
                usage_json(st, &st->out);
                sy_buf_append(&st->out, "}\n\n", 3);
            }
            sy_buf_append_c(&st->out, "data: [DONE]\n\n");
            st->step = ST_DONE;
            emit(st);
            break;
        case ST_DONE:
            break;
        }
    }
    if (st->call && st->step == ST_DONE) {
        st->call = NULL;
        call->pstate = NULL;
        uv_close((uv_handle_t *)&st->timer, on_closed);
        call->sink->done(call, SY_OK, NULL);
    }
}

static void on_timer(uv_timer_t *t)
{
    mock_state_t *st = t->data;
    if (!st->call) return;
    st->waiting = false;
    run(st);
}

static void schedule(mock_state_t *st, uint64_t ms)
{
    st->waiting = true;
    uv_timer_start(&st->timer, on_timer, ms, 0);
}

static void on_closed(uv_handle_t *h)
{
    mock_state_t *st = h->data;
    free(st->reply);
    free(st->cuts);
    sy_buf_dispose(&st->out);
    free(st);
}

static sy_err_t mock_start(sy_call_t *call)
{
    mock_state_t *st = sy_xcalloc(1, sizeof *st);
    st->call = call;
    st->conf = &call->deploy->mock;
    /* like an OpenAI upstream asked by the gateway: usage for the log, hidden by the relay */
    st->usage = call->stream;
    call->hide_usage = call->stream && !call->include_usage;
    sy_buf_init(&st->out, MOCK_REPLY_MAX * 8 + 65536);
    char uuid[SY_UUID_STRLEN + 1];
    sy_uuid_v7(uuid);
    snprintf(st->id, sizeof st->id, "chatcmpl-%.8s%.4s%.4s", uuid, uuid + 9, uuid + 14);
    st->created = sy_clock_wall_ms() / 1000;
    /* the gateway validated the body without building a tree; the mock needs the messages */
    json_t *doc = json_loadb(call->body.ptr, call->body.len, 0, NULL);
    build_reply(st, json_object_get(doc, "messages"), max_tokens_of(doc));
    json_decref(doc);
    uv_timer_init(call->loop, &st->timer);
    st->timer.data = st;
    call->pstate = st;
    call->t_upstream_start_us = sy_clock_mono_us();
    st->step = ST_HEAD;
    /* even with zero latency, answer from the loop, not from inside the request handler */
    schedule(st, st->conf->latency_ms);
    return SY_OK;
}

static void mock_proceed(sy_call_t *call)
{
    mock_state_t *st = call->pstate;
    if (!st || !st->call || !st->waiting || uv_is_active((uv_handle_t *)&st->timer)) return;
    st->waiting = false;
    if (st->step == ST_CONTENT && st->conf->chunk_delay_ms)
        schedule(st, st->conf->chunk_delay_ms);
    else
        run(st);
}

static void mock_stop(sy_call_t *call)
{
    mock_state_t *st = call->pstate;
    if (!st) return;
    call->pstate = NULL;
    st->call = NULL;
    uv_timer_stop(&st->timer);
    uv_close((uv_handle_t *)&st->timer, on_closed);
}

const sy_provider_t sy_provider_mock = {
    .name = "mock",
    .formats = 1u << SY_FORMAT_OPENAI,
    .init_model = NULL,
    .free_model = NULL,
    .start = mock_start,
    .proceed = mock_proceed,
    .stop = mock_stop,
};
