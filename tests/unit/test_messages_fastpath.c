/* Differential test of the Messages ingress fast paths (api/messages_fastpath.c): for every
 * input, sy_messages_fmt_request / sy_messages_fmt_response / sy_messages_stream_event (fast path
 * first) must give the same return code, the same output bytes, the same usage / warnings and
 * the same stream state as the jansson translators (the *_slow functions).
 *
 * Corpus: every request, reply and stream of tests/cases/messages and tests/cases/openai (as
 * recorded, with sorted keys, indented, ASCII-escaped), bench/messages-1k.json, the mock
 * provider's exact bytes (a stream captured with curl from the built binary, and streams
 * rendered the way src/providers/mock.c writes them), generated requests / replies / streams
 * (unicode, escapes, reordered and duplicated keys, whitespace, unknown fields, empty strings,
 * numbers in many spellings, values of the wrong type), every truncation and a set of byte
 * mutations, and capped output buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/messages_int.h"

static const sy_fmt_resp_opts_t RESP = {"req-fallback", 1700000000, "model-fallback", true};

static long n_compared, n_fast_req, n_fast_resp;

/* ------------------------------------------------------------------ requests */

static void diff_request(const char *body, size_t len)
{
    sy_fmt_req_t a, b;
    memset(&a, 0x5a, sizeof a);
    memset(&b, 0x5a, sizeof b);
    sy_err_t ea = sy_messages_fmt_request(body, len, &a);
    sy_err_t eb = sy_messages_fmt_request_slow(body, len, &b);
    if (ea != eb || a.len != b.len || (a.len && memcmp(a.body, b.body, a.len)) ||
        (!a.body) != (!b.body) || a.stream != b.stream || a.include_usage != b.include_usage ||
        strcmp(a.warnings, b.warnings) || strcmp(a.err_param, b.err_param) ||
        strcmp(a.err_msg, b.err_msg))
        fail_msg("request differs for\n%.*s\n fast %d [%s] %.*s\n slow %d [%s] %.*s", (int)len,
                 body, ea, a.warnings, (int)a.len, a.body ? a.body : "", eb, b.warnings, (int)b.len,
                 b.body ? b.body : "");
    free(a.body);
    free(b.body);
    sy_fmt_req_t c;
    if (sy_messages_fast_request(body, len, &c)) {
        n_fast_req++;
        free(c.body);
    }
    n_compared++;
}

static void diff_request_c(const char *body)
{
    diff_request(body, strlen(body));
}

/* Every truncation and single-byte substitution of body. */
static void mutate_request(const char *body, size_t len)
{
    static const char subst[] = {'"', '\\', '}', '{', ',',        '0',
                                 'x', ' ',  ']', ':', (char)0x80, 0x01};
    char *m = malloc(len + 1);
    for (size_t cut = 0; cut < len; cut++)
        diff_request(body, cut);
    for (size_t at = 0; at < len; at++) {
        for (size_t j = 0; j < sizeof subst; j++) {
            if (body[at] == subst[j]) continue;
            memcpy(m, body, len);
            m[at] = subst[j];
            diff_request(m, len);
        }
        memcpy(m, body, at); /* deletion */
        memcpy(m + at, body + at + 1, len - at - 1);
        diff_request(m, len - 1);
    }
    free(m);
}

/* ------------------------------------------------------------------ replies */

static void diff_reply_o(const char *body, size_t len, const sy_fmt_resp_opts_t *o, size_t max)
{
    sy_buf_t a, b;
    sy_buf_init(&a, max);
    sy_buf_init(&b, max);
    sy_buf_append(&a, "x", max ? 1 : 0); /* something already there: the output is appended */
    sy_buf_append(&b, "x", max ? 1 : 0);
    sy_fmt_usage_t ua, ub;
    memset(&ua, 0x5a, sizeof ua);
    memset(&ub, 0x5a, sizeof ub);
    sy_err_t ea = sy_messages_fmt_response(body, len, o, &a, &ua);
    sy_err_t eb = sy_messages_fmt_response_slow(body, len, o, &b, &ub);
    if (ea != eb || a.len != b.len || (a.len && memcmp(a.base, b.base, a.len)) ||
        memcmp(&ua, &ub, sizeof ua))
        fail_msg("reply differs (max %zu) for\n%.*s\n fast %d: %.*s\n slow %d: %.*s", max, (int)len,
                 body, ea, (int)a.len, a.base, eb, (int)b.len, b.base);
    n_compared++;
    sy_buf_dispose(&a);
    sy_buf_dispose(&b);
}

static void diff_reply(const char *body, size_t len)
{
    diff_reply_o(body, len, &RESP, 1 << 20);
    sy_fmt_resp_opts_t o = {NULL, -5, NULL, false};
    diff_reply_o(body, len, &o, 1 << 20);
    sy_fmt_resp_opts_t o2 = {"chatcmpl-\"q\"\x01", 0, "m\\\n", false};
    diff_reply_o(body, len, &o2, 1 << 20);
    diff_reply_o(body, len, NULL, 1 << 20);
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    sy_err_t err;
    if (sy_messages_fast_response(body, len, &RESP, &out, NULL, &err)) n_fast_resp++;
    sy_buf_dispose(&out);
}

static void diff_reply_c(const char *body)
{
    diff_reply(body, strlen(body));
}

static void mutate_reply(const char *body, size_t len)
{
    static const char subst[] = {'"', '\\', '}', '{', ',',        '0',
                                 'x', ' ',  ']', '.', (char)0x80, 0x01};
    char *m = malloc(len + 1);
    for (size_t cut = 0; cut < len; cut++)
        diff_reply_o(body, cut, &RESP, 1 << 20);
    for (size_t at = 0; at < len; at++) {
        for (size_t j = 0; j < sizeof subst; j++) {
            if (body[at] == subst[j]) continue;
            memcpy(m, body, len);
            m[at] = subst[j];
            diff_reply_o(m, len, &RESP, 1 << 20);
        }
    }
    for (size_t max = 0; max < 4 * len + 2000; max += 13) /* capped buffers */
        diff_reply_o(body, len, &RESP, max);
    free(m);
}

/* ------------------------------------------------------------------ streams */

typedef struct evs {
    char **data;
    size_t *len;
    size_t n, cap;
} evs_t;

static void ev_add(evs_t *e, const char *data, size_t len)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->data = realloc(e->data, e->cap * sizeof *e->data);
        e->len = realloc(e->len, e->cap * sizeof *e->len);
    }
    e->data[e->n] = malloc(len + 1);
    memcpy(e->data[e->n], data, len);
    e->data[e->n][len] = '\0';
    e->len[e->n++] = len;
}

static void ev_add_c(evs_t *e, const char *data)
{
    ev_add(e, data, strlen(data));
}

static void evs_free(evs_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->data[i]);
    free(e->data);
    free(e->len);
    *e = (evs_t){0};
}

typedef struct pair {
    sy_messages_stream_t *fast, *slow;
} pair_t;

static pair_t pair_new(const sy_fmt_resp_opts_t *o)
{
    return (pair_t){sy_messages_stream_new(o), sy_messages_stream_new(o)};
}

static void pair_free(pair_t *p)
{
    sy_messages_stream_free(p->fast);
    sy_messages_stream_free(p->slow);
}

static void check_state(const pair_t *p, const char *what, const char *data, size_t len)
{
    const sy_messages_stream_t *f = p->fast, *s = p->slow;
    if (f->started != s->started || f->finished != s->finished || f->over != s->over ||
        f->saw_tool != s->saw_tool || strcmp(f->finish, s->finish) ||
        f->next_index != s->next_index || f->open != s->open ||
        (f->open != BLK_NONE && f->open_index != s->open_index) || f->open_tool != s->open_tool ||
        f->n_tools != s->n_tools ||
        (f->n_tools && memcmp(f->tool_block, s->tool_block, (size_t)f->n_tools * sizeof(int))) ||
        memcmp(&f->usage, &s->usage, sizeof f->usage) || strcmp(f->id, s->id) ||
        strcmp(f->model, s->model))
        fail_msg("stream state differs after %s %.*s", what, (int)len, data);
}

/* One event into both streams; everything observable must agree. */
static sy_err_t diff_event(pair_t *p, const char *data, size_t len, size_t max)
{
    sy_buf_t a, b;
    sy_buf_init(&a, max);
    sy_buf_init(&b, max);
    sy_err_t ea = sy_messages_stream_event(p->fast, sy_str(data, len), &a);
    sy_err_t eb = sy_messages_stream_event_slow(p->slow, sy_str(data, len), &b);
    if (ea != eb || a.len != b.len || (a.len && memcmp(a.base, b.base, a.len)))
        fail_msg("event differs (max %zu): %.*s\n fast %d: %.*s\n slow %d: %.*s", max, (int)len,
                 data, ea, (int)a.len, a.base, eb, (int)b.len, b.base);
    check_state(p, "event", data, len);
    n_compared++;
    sy_buf_dispose(&a);
    sy_buf_dispose(&b);
    return ea;
}

/* The upstream closed: sy_messages_stream_finish on both. */
static void diff_finish(pair_t *p)
{
    sy_buf_t a, b;
    sy_buf_init(&a, 1 << 20);
    sy_buf_init(&b, 1 << 20);
    sy_err_t ea = sy_messages_stream_finish(p->fast, &a);
    sy_err_t eb = sy_messages_stream_finish(p->slow, &b);
    if (ea != eb || a.len != b.len || (a.len && memcmp(a.base, b.base, a.len)))
        fail_msg("finish differs\n fast %d: %.*s\n slow %d: %.*s", ea, (int)a.len, a.base, eb,
                 (int)b.len, b.base);
    check_state(p, "finish", "", 0);
    sy_buf_dispose(&a);
    sy_buf_dispose(&b);
}

static void diff_stream_o(const evs_t *e, const sy_fmt_resp_opts_t *o, size_t max)
{
    pair_t p = pair_new(o);
    for (size_t i = 0; i < e->n; i++)
        diff_event(&p, e->data[i], e->len[i], max);
    diff_finish(&p);
    pair_free(&p);
}

/* Event i replaced by each of its truncations and mutations, after events 0..i-1. */
static void mutate_event(const evs_t *e, size_t i)
{
    static const char subst[] = {'"', '\\', '}', '{', ',', '0', 'x', ' ', (char)0x80, 0x01, 'u'};
    char *m = malloc(e->len[i] + 1);
    for (size_t cut = 0; cut < e->len[i]; cut++) {
        pair_t p = pair_new(&RESP);
        for (size_t k = 0; k < i; k++)
            diff_event(&p, e->data[k], e->len[k], 1 << 20);
        bool over = p.fast->over;
        sy_err_t err = diff_event(&p, e->data[i], cut, 1 << 20);
        if (!over && strspn(e->data[i], " \t\r\n") < cut) /* never valid JSON */
            assert_int_equal(err, SY_ERR_UPSTREAM_BROKEN);
        diff_finish(&p);
        pair_free(&p);
    }
    for (size_t at = 0; at < e->len[i]; at++) {
        for (size_t j = 0; j < sizeof subst; j++) {
            if (e->data[i][at] == subst[j]) continue;
            memcpy(m, e->data[i], e->len[i]);
            m[at] = subst[j];
            pair_t p = pair_new(&RESP);
            for (size_t k = 0; k < i; k++)
                diff_event(&p, e->data[k], e->len[k], 1 << 20);
            diff_event(&p, m, e->len[i], 1 << 20);
            if (i + 1 < e->n) /* and the stream goes on */
                diff_event(&p, e->data[i + 1], e->len[i + 1], 1 << 20);
            diff_finish(&p);
            pair_free(&p);
        }
    }
    free(m);
}

static void check_stream(const evs_t *e)
{
    diff_stream_o(e, &RESP, 1 << 20);
    sy_fmt_resp_opts_t o = {"", 0, "", false};
    diff_stream_o(e, &o, 1 << 20);
    sy_fmt_resp_opts_t o2 = {"msg_\"x\"\x02", 0, "m\\\t", false};
    diff_stream_o(e, &o2, 1 << 20);
    for (size_t max = 0; max < 900; max += 11) /* capped buffers */
        diff_stream_o(e, &RESP, max);
    for (size_t drop = 0; drop < e->n; drop++) { /* each event left out */
        pair_t p = pair_new(&RESP);
        for (size_t i = 0; i < e->n; i++)
            if (i != drop) diff_event(&p, e->data[i], e->len[i], 1 << 20);
        diff_finish(&p);
        pair_free(&p);
    }
}

/* ------------------------------------------------------------------ the mock provider's bytes */

/* Captured with curl from `switchyard serve` with a `provider: mock` model (chunks: 5), for
 * POST /v1/chat/completions with stream_options.include_usage: the exact bytes of each event. */
#define MOCK_HEAD                                                                                  \
    "{\"id\":\"chatcmpl-01a206d0574b76e8\",\"object\":\"chat.completion.chunk\","                  \
    "\"created\":1795410646,\"model\":\"mock-model\",\"service_tier\":\"default\","                \
    "\"system_fingerprint\":null,\"choices\":"

static const char *const mock_captured[] = {
    MOCK_HEAD "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
              "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
    MOCK_HEAD "[{\"index\":0,\"delta\":{\"content\":\"You sa\"},\"logprobs\":null,"
              "\"finish_reason\":null}],\"usage\":null}",
    MOCK_HEAD "[{\"index\":0,\"delta\":{\"content\":\"id: Hel\"},\"logprobs\":null,"
              "\"finish_reason\":null}],\"usage\":null}",
    MOCK_HEAD "[{\"index\":0,\"delta\":{\"content\":\"lo ther\"},\"logprobs\":null,"
              "\"finish_reason\":null}],\"usage\":null}",
    MOCK_HEAD "[{\"index\":0,\"delta\":{\"content\":\"e, \\\"quo\"},\"logprobs\":null,"
              "\"finish_reason\":null}],\"usage\":null}",
    MOCK_HEAD "[{\"index\":0,\"delta\":{\"content\":\"ted\\\" \xc3\xbc\"},\"logprobs\":null,"
              "\"finish_reason\":null}],\"usage\":null}",
    MOCK_HEAD "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
              "\"usage\":null}",
    MOCK_HEAD "[],\"usage\":{\"prompt_tokens\":6,\"completion_tokens\":9,\"total_tokens\":15,"
              "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
              "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
              "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}",
    "[DONE]",
};

static const char mock_reply[] =
    "{\"id\":\"chatcmpl-01a206d05765773f\",\"object\":\"chat.completion\",\"created\":1795410646,"
    "\"model\":\"mock-model\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"You said: Hello there\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":6,"
    "\"total_tokens\":9,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
    "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
    "\"service_tier\":\"default\",\"system_fingerprint\":null}";

/* A stream as src/providers/mock.c renders it (frame_delta, chunk_prefix, usage_json), with the
 * content pieces given as JSON string insides. */
static void mock_events(evs_t *e, const char *const *pieces, size_t n, bool include_usage)
{
    char buf[2048];
    const char *u = include_usage ? ",\"usage\":null" : "";
    snprintf(buf, sizeof buf,
             MOCK_HEAD "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
                       "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}]%s}",
             u);
    ev_add_c(e, buf);
    for (size_t i = 0; i < n; i++) {
        snprintf(buf, sizeof buf,
                 MOCK_HEAD "[{\"index\":0,\"delta\":{\"content\":\"%s\"},\"logprobs\":null,"
                           "\"finish_reason\":null}]%s}",
                 pieces[i], u);
        ev_add_c(e, buf);
    }
    snprintf(buf, sizeof buf,
             MOCK_HEAD
             "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]%s}",
             u);
    ev_add_c(e, buf);
    if (include_usage)
        ev_add_c(e,
                 MOCK_HEAD "[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7,"
                           "\"total_tokens\":19,\"prompt_tokens_details\":{\"cached_tokens\":4,"
                           "\"audio_tokens\":0},\"completion_tokens_details\":{"
                           "\"reasoning_tokens\":0,\"audio_tokens\":0,"
                           "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}");
    ev_add_c(e, "[DONE]");
}

/* Text values as they appear inside a JSON string token. */
static const char *const texts[] = {
    "",
    "plain",
    "quote \\\" backslash \\\\ slash \\/ done",
    "caf\\u00e9 and caf\xc3\xa9",
    "emoji \\ud83d\\ude00 and \xf0\x9f\x98\x80",
    "lines\\nand\\ttabs\\r\\b\\f",
    "controls \\u0001 \\u001f \\u001F \\u007f \\u0022 \\u005c \\u002f",
    "\\u2028\\u2029 \xe2\x80\xa8",
    "\\\\",
    "\\\"",
    "end with backslash \\\\",
    "{\\\"a\\\": [1, 2]}",
    "\\uD83D\\uDE00 upper-case surrogates",
    "\x7f raw del",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
};
#define N_TEXTS (sizeof texts / sizeof *texts)

static void mock_stream(void **state)
{
    (void)state;
    evs_t e = {0};
    for (size_t i = 0; i < sizeof mock_captured / sizeof *mock_captured; i++)
        ev_add_c(&e, mock_captured[i]);
    check_stream(&e);
    for (size_t i = 0; i < e.n; i++)
        mutate_event(&e, i);

    /* the fast path takes every event of it, content chunks by the template */
    sy_messages_stream_t *s = sy_messages_stream_new(&RESP);
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    for (size_t i = 0; i < e.n; i++) {
        sy_err_t err = SY_ERR_INTERNAL;
        assert_true(sy_messages_fast_event(s, sy_str(e.data[i], e.len[i]), &out, &err));
        assert_int_equal(err, SY_OK);
        if (i == 0) assert_non_null(s->tpl);
    }
    assert_true(s->over);
    sy_messages_stream_free(s);
    sy_buf_dispose(&out);
    evs_free(&e);

    /* the non-streamed reply */
    diff_reply(mock_reply, sizeof mock_reply - 1);
    sy_buf_init(&out, 1 << 20);
    sy_err_t err = SY_ERR_INTERNAL;
    sy_fmt_usage_t u;
    assert_true(
        sy_messages_fast_response(mock_reply, sizeof mock_reply - 1, &RESP, &out, &u, &err));
    assert_int_equal(err, SY_OK);
    sy_buf_dispose(&out);
    mutate_reply(mock_reply, sizeof mock_reply - 1);

    /* rendered like mock.c with every text, with and without usage */
    for (int iu = 0; iu < 2; iu++) {
        evs_t r = {0};
        mock_events(&r, texts, N_TEXTS, iu);
        check_stream(&r);
        evs_free(&r);
    }
}

/* ------------------------------------------------------------------ generated input */

static uint64_t rng = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

typedef struct gbuf {
    char *p;
    size_t len, cap;
} gbuf_t;

static void gput(gbuf_t *g, const char *s)
{
    size_t n = strlen(s);
    if (g->len + n + 1 > g->cap) {
        g->cap = (g->len + n + 1) * 2;
        g->p = realloc(g->p, g->cap);
    }
    memcpy(g->p + g->len, s, n + 1);
    g->len += n;
}

static void ws(gbuf_t *g, int wsy)
{
    static const char *const w[] = {" ", "\n", "\t", "\r\n  ", "  "};
    if (wsy && !rnd(3)) gput(g, w[rnd(5)]);
}

static void gstr(gbuf_t *g, const char *inside)
{
    gput(g, "\"");
    gput(g, inside);
    gput(g, "\"");
}

static void gtext(gbuf_t *g)
{
    gstr(g, texts[rnd(N_TEXTS)]);
}

static void gkey(gbuf_t *g, const char *k, int wsy)
{
    ws(g, wsy);
    if (!rnd(60) && k[0] >= 'a' && k[0] <= 'z') { /* the first letter escaped */
        char tmp[80];
        snprintf(tmp, sizeof tmp, "\"\\u%04x%s\"", (unsigned)k[0], k + 1);
        gput(g, tmp);
    } else {
        gstr(g, k);
    }
    ws(g, wsy);
    gput(g, ":");
    ws(g, wsy);
}

static const char *const numbers[] = {
    "0",
    "1",
    "0.7",
    "0.70",
    "1.0",
    "-0.5",
    "2",
    "1e-3",
    "0.0001",
    "0.00001",
    "123.0",
    "1230.0",
    "-0",
    "-0.0",
    "0.0",
    "12.5",
    "1.5E2",
    "100",
    "0.1",
    "0.3",
    "0.123456789012345",
    "0.1234567890123456",
    "0.95",
    "0.05",
    "999999999999999.0",
    "9999999999999999.0",
    "-12.25",
    "0.000123",
    "3.14159",
    "1.00000000000000000001",
    "20.0",
    "-1",
};
#define N_NUMBERS (sizeof numbers / sizeof *numbers)

/* Any small value, for fields where the wrong type must be rejected the same way. */
static void gany(gbuf_t *g)
{
    switch (rnd(8)) {
    case 0:
        gtext(g);
        break;
    case 1:
        gput(g, numbers[rnd(N_NUMBERS)]);
        break;
    case 2:
        gput(g, "null");
        break;
    case 3:
        gput(g, rnd(2) ? "true" : "false");
        break;
    case 4:
        gput(g, "{}");
        break;
    case 5:
        gput(g, "[]");
        break;
    case 6:
        gput(g, "{\"a\":[1,{\"b\":\"}\"}]}");
        break;
    default:
        gput(g, "[\"x\",1]");
        break;
    }
}

static void gblock(gbuf_t *g, int wsy, bool assistant)
{
    int kind = rnd(12);
    gput(g, "{");
    if (kind < 7) {
        bool text_first = rnd(2);
        if (text_first) {
            gkey(g, "text", wsy);
            gtext(g);
            gput(g, ",");
        }
        gkey(g, "type", wsy);
        gstr(g, rnd(30) ? "text" : "t\\u0065xt");
        if (!text_first && rnd(30)) {
            gput(g, ",");
            gkey(g, "text", wsy);
            if (rnd(25))
                gtext(g);
            else
                gany(g);
        }
        if (!rnd(4)) {
            gput(g, ",");
            gkey(g, "cache_control", wsy);
            gput(g, "{\"type\":\"ephemeral\"}");
        }
        if (!rnd(20)) { /* a duplicated text */
            gput(g, ",");
            gkey(g, "text", wsy);
            gtext(g);
        }
    } else if (kind < 9) {
        gkey(g, "type", wsy);
        gstr(g, rnd(2) ? "thinking" : "redacted_thinking");
        gput(g, ",");
        gkey(g, "thinking", wsy);
        gtext(g);
    } else if (kind == 9) {
        gkey(g, "type", wsy);
        gstr(g, "image");
        gput(g, ",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"AAAA\"}");
    } else if (kind == 10) {
        gkey(g, "type", wsy);
        gstr(g, assistant ? "tool_use" : "tool_result");
        gput(g, assistant ? ",\"id\":\"t1\",\"name\":\"f\",\"input\":{\"a\":1}"
                          : ",\"tool_use_id\":\"t1\",\"content\":\"r\"");
    } else {
        gkey(g, "type", wsy);
        gany(g);
    }
    ws(g, wsy);
    gput(g, "}");
}

static void gcontent(gbuf_t *g, int wsy, bool assistant)
{
    int k = rnd(10);
    if (k < 4) {
        gtext(g);
    } else if (k < 9) {
        gput(g, "[");
        int n = (int)rnd(4);
        for (int i = 0; i < n; i++) {
            if (i) gput(g, ",");
            ws(g, wsy);
            gblock(g, wsy, assistant);
        }
        ws(g, wsy);
        gput(g, "]");
    } else {
        gany(g);
    }
}

static void gmessage(gbuf_t *g, int wsy)
{
    if (!rnd(40)) {
        gany(g);
        return;
    }
    bool assistant = rnd(2);
    gput(g, "{");
    bool content_first = rnd(3) == 0;
    if (content_first) {
        gkey(g, "content", wsy);
        gcontent(g, wsy, assistant);
        gput(g, ",");
    }
    gkey(g, "role", wsy);
    int r = rnd(40);
    gstr(g, r == 0 ? "system" : r == 1 ? "us\\u0065r" : assistant ? "assistant" : "user");
    if (!content_first && rnd(40)) {
        gput(g, ",");
        gkey(g, "content", wsy);
        gcontent(g, wsy, assistant);
    }
    if (!rnd(8)) {
        gput(g, ",");
        gkey(g, "name", wsy);
        gtext(g);
    }
    if (!rnd(40)) {
        gput(g, ",");
        gkey(g, "role", wsy);
        gstr(g, "user");
    }
    ws(g, wsy);
    gput(g, "}");
}

static void gsystem(gbuf_t *g, int wsy)
{
    int k = rnd(6);
    if (k < 3) {
        gtext(g);
    } else if (k < 5) {
        gput(g, "[");
        int n = (int)rnd(4);
        for (int i = 0; i < n; i++) {
            if (i) gput(g, ",");
            if (rnd(12)) {
                gput(g, "{\"type\":\"text\",\"text\":");
                gtext(g);
                if (!rnd(3)) gput(g, ",\"cache_control\":{\"type\":\"ephemeral\"}");
                gput(g, "}");
            } else {
                gblock(g, wsy, false);
            }
        }
        gput(g, "]");
    } else {
        gany(g);
    }
}

static void gfield(gbuf_t *g, int f, int wsy)
{
    static const char *const unknown[] = {
        "service_tier",         "container",
        "mcp_servers",          "context_management",
        "x-\"odd\" key\\u00e9", "a_really_long_unknown_parameter_name_over_forty_bytes"};
    switch (f) {
    case 0:
        gkey(g, "model", wsy);
        if (rnd(15))
            gstr(g, rnd(3) ? "claude-sonnet-4-5" : texts[rnd(N_TEXTS)]);
        else
            gany(g);
        break;
    case 1:
        gkey(g, "max_tokens", wsy);
        if (rnd(10))
            gput(g, rnd(2) ? "1024" : "1");
        else
            gput(g, rnd(2) ? "0" : rnd(2) ? "-1" : rnd(2) ? "1.5" : "\"1\"");
        break;
    case 2: {
        gkey(g, "messages", wsy);
        if (!rnd(30)) {
            gany(g);
            break;
        }
        gput(g, "[");
        int n = (int)rnd(5) + (rnd(20) ? 1 : 0);
        for (int i = 0; i < n; i++) {
            if (i) gput(g, ",");
            ws(g, wsy);
            gmessage(g, wsy);
        }
        ws(g, wsy);
        gput(g, "]");
        break;
    }
    case 3:
        gkey(g, "system", wsy);
        gsystem(g, wsy);
        break;
    case 4:
        gkey(g, "stop_sequences", wsy);
        if (rnd(8)) {
            gput(g, "[");
            int n = (int)rnd(4);
            for (int i = 0; i < n; i++) {
                if (i) gput(g, ",");
                if (rnd(15))
                    gtext(g);
                else
                    gany(g);
            }
            gput(g, "]");
        } else {
            gany(g);
        }
        break;
    case 5:
    case 6:
        gkey(g, f == 5 ? "temperature" : "top_p", wsy);
        if (rnd(10))
            gput(g, numbers[rnd(N_NUMBERS)]);
        else
            gany(g);
        break;
    case 7:
        gkey(g, "top_k", wsy);
        gany(g);
        break;
    case 8:
        gkey(g, "metadata", wsy);
        if (rnd(6)) {
            gput(g, "{");
            if (rnd(5)) {
                gkey(g, "user_id", wsy);
                if (rnd(6))
                    gtext(g);
                else
                    gany(g);
            }
            if (!rnd(4)) gput(g, rnd(2) ? ",\"other\":1" : ",\"user_id\":\"again\"");
            gput(g, "}");
        } else {
            gany(g);
        }
        break;
    case 9:
        gkey(g, "stream", wsy);
        if (rnd(8))
            gput(g, rnd(2) ? "true" : "false");
        else
            gany(g);
        break;
    case 10:
        gkey(g, unknown[rnd(sizeof unknown / sizeof *unknown)], wsy);
        gany(g);
        break;
    case 11:
        gkey(g, "thinking", wsy);
        gput(g, rnd(2) ? "{\"type\":\"disabled\"}" : "{\"type\":\"enabled\",\"budget_tokens\":9}");
        break;
    default:
        gkey(g, rnd(2) ? "tools" : "tool_choice", wsy);
        gput(g, rnd(2) ? "[]" : "null");
        break;
    }
}

static void gen_request(gbuf_t *g)
{
    int wsy = rnd(3) == 0;
    int order[16], n = 0;
    /* the required fields nearly always, the others sometimes */
    for (int f = 0; f < 13; f++) {
        int keep = f <= 2 ? rnd(40) != 0 : f <= 9 ? rnd(3) == 0 : rnd(8) == 0;
        if (keep) order[n++] = f;
    }
    if (!rnd(15) && n) { /* a duplicated key */
        int dup = order[rnd((unsigned)n)];
        order[n++] = dup;
    }
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rnd((unsigned)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    g->len = 0;
    ws(g, wsy);
    gput(g, "{");
    for (int i = 0; i < n; i++) {
        if (i) gput(g, ",");
        gfield(g, order[i], wsy);
        ws(g, wsy);
    }
    gput(g, "}");
    ws(g, wsy);
}

static void request_variants(void **state)
{
    (void)state;
    gbuf_t g = {0};
    long before = n_fast_req;
    for (int i = 0; i < 60000; i++) {
        gen_request(&g);
        diff_request(g.p, g.len);
    }
    fprintf(stderr, "generated requests: %ld of 60000 took the fast path\n", n_fast_req - before);
    assert_true(n_fast_req - before > 4000);
    /* numbers one by one in a minimal request */
    for (size_t i = 0; i < N_NUMBERS; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"hi\"}],\"temperature\":%s,\"top_p\":%s}",
                 numbers[i], numbers[(i + 7) % N_NUMBERS]);
        diff_request_c(body);
    }
    /* random decimal spellings */
    for (int i = 0; i < 20000; i++) {
        char num[64], body[256];
        int n = 0, ip = (int)rnd(4), fp = 1 + (int)rnd(17);
        if (!rnd(4)) num[n++] = '-';
        if (ip == 0) {
            num[n++] = '0';
        } else {
            num[n++] = (char)('1' + rnd(9));
            for (int k = 1; k < ip; k++)
                num[n++] = (char)('0' + rnd(10));
        }
        num[n++] = '.';
        for (int k = 0; k < fp; k++)
            num[n++] = (char)('0' + (rnd(3) ? rnd(10) : 0));
        num[n] = '\0';
        snprintf(body, sizeof body,
                 "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"hi\"}],\"temperature\":%s}",
                 num);
        diff_request_c(body);
    }
    free(g.p);
}

static void request_mutations(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64,\"system\":[{\"type\":\"text\","
        "\"text\":\"Be "
        "brief\"},{\"type\":\"text\",\"text\":\"caf\\u00e9\"}],\"messages\":[{\"role\":"
        "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":"
        "\"b\"}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"x\"},{\"type\":"
        "\"text\",\"text\":\"c\"}]}],\"temperature\":0.5,\"stop_sequences\":[\"\\n\"],"
        "\"metadata\":{\"user_id\":\"u\"},\"stream\":true,\"top_k\":3,\"extra\":null}",
        "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        sy_fmt_req_t c;
        assert_true(sy_messages_fast_request(bodies[i], strlen(bodies[i]), &c));
        free(c.body);
        mutate_request(bodies[i], strlen(bodies[i]));
    }
}

/* ------------------------------------------------------------------ generated replies */

static void gen_reply(gbuf_t *g)
{
    int wsy = rnd(3) == 0;
    g->len = 0;
    gput(g, "{");
    bool first = true;
#define SEP()                                                                                      \
    do {                                                                                           \
        if (!first) gput(g, ",");                                                                  \
        first = false;                                                                             \
    } while (0)
    if (rnd(8)) {
        SEP();
        gkey(g, "id", wsy);
        static const char *const ids[] = {"chatcmpl-abc", "msg_abc",          "", "chatcmpl-", "x",
                                          "caf\\u00e9",   "chatcmpl-\xc3\xa9"};
        if (rnd(10))
            gstr(g, ids[rnd(7)]);
        else
            gany(g);
    }
    if (rnd(3)) {
        SEP();
        gput(g, "\"object\":\"chat.completion\",\"created\":1741569952");
    }
    if (rnd(8)) {
        SEP();
        gkey(g, "model", wsy);
        if (rnd(10))
            gtext(g);
        else
            gany(g);
    }
    if (rnd(20)) {
        SEP();
        gkey(g, "choices", wsy);
        gput(g, "[");
        int n = rnd(8) ? 1 : (int)rnd(3);
        for (int i = 0; i < n; i++) {
            if (i) gput(g, ",");
            if (!rnd(30)) {
                gany(g);
                continue;
            }
            gput(g, "{\"index\":");
            gput(g, i ? "1" : "0");
            gput(g, ",");
            gkey(g, "message", wsy);
            if (rnd(20)) {
                gput(g, "{\"role\":\"assistant\"");
                if (rnd(6)) {
                    gput(g, ",");
                    gkey(g, "content", wsy);
                    int k = rnd(10);
                    if (k < 7)
                        gtext(g);
                    else if (k == 7)
                        gput(g, "[{\"type\":\"text\",\"text\":\"part\"}]");
                    else
                        gany(g);
                }
                if (rnd(2)) {
                    gput(g, ",");
                    gkey(g, "refusal", wsy);
                    if (rnd(2))
                        gput(g, "null");
                    else
                        gtext(g);
                }
                if (!rnd(3)) {
                    gput(g, ",");
                    gkey(g, rnd(2) ? "reasoning_content" : "reasoning", wsy);
                    if (rnd(5))
                        gtext(g);
                    else
                        gany(g);
                }
                if (!rnd(4)) {
                    gput(g, ",");
                    gkey(g, "tool_calls", wsy);
                    gput(g, rnd(3) ? "[]"
                                   : "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":"
                                     "\"f\",\"arguments\":\"{}\"}}]");
                }
                if (!rnd(20)) gput(g, ",\"function_call\":{\"name\":\"f\",\"arguments\":\"{}\"}");
                if (!rnd(8)) gput(g, ",\"annotations\":[]");
                if (!rnd(30)) gput(g, ",\"content\":\"dup\"");
                gput(g, "}");
            } else {
                gany(g);
            }
            gput(g, ",\"logprobs\":null,");
            gkey(g, "finish_reason", wsy);
            static const char *const fr[] = {"stop",
                                             "length",
                                             "tool_calls",
                                             "content_filter",
                                             "function_call",
                                             "st\\u006fp",
                                             "a_finish_reason_longer_than_thirty_two_bytes"};
            if (rnd(6))
                gstr(g, fr[rnd(7)]);
            else
                gany(g);
            gput(g, "}");
        }
        gput(g, "]");
    }
    if (rnd(4)) {
        SEP();
        gkey(g, "usage", wsy);
        if (rnd(10)) {
            char u[512];
            snprintf(u, sizeof u,
                     "{\"prompt_tokens\":%s,\"completion_tokens\":%s,\"total_tokens\":9%s%s}",
                     rnd(8) ? "19" : numbers[rnd(N_NUMBERS)], rnd(8) ? "10" : "\"x\"",
                     rnd(2) ? ",\"prompt_tokens_details\":{\"cached_tokens\":4,"
                              "\"cache_write_tokens\":2}"
                            : "",
                     rnd(2) ? ",\"completion_tokens_details\":{\"reasoning_tokens\":3}" : "");
            gput(g, u);
        } else {
            gany(g);
        }
    }
    if (!rnd(6)) {
        SEP();
        gput(g, "\"system_fingerprint\":\"fp\",\"service_tier\":\"default\"");
    }
#undef SEP
    ws(g, wsy);
    gput(g, "}");
}

static void reply_variants(void **state)
{
    (void)state;
    gbuf_t g = {0};
    long before = n_fast_resp;
    for (int i = 0; i < 20000; i++) {
        gen_reply(&g);
        diff_reply(g.p, g.len);
    }
    fprintf(stderr, "generated replies: %ld of 20000 took the fast path\n", n_fast_resp - before);
    assert_true(n_fast_resp - before > 2000);
    free(g.p);
}

/* ------------------------------------------------------------------ generated streams */

static void gen_chunk(gbuf_t *g, const char *head, int wsy)
{
    g->len = 0;
    int k = rnd(20);
    if (k == 0) {
        gput(g, "{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}");
        return;
    }
    if (k == 1) {
        gput(g, "{");
        gput(g, head);
        gput(g, "\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":");
        gput(g, rnd(6) ? "7" : numbers[rnd(N_NUMBERS)]);
        gput(g, ",\"prompt_tokens_details\":{\"cached_tokens\":2}}}");
        return;
    }
    gput(g, "{");
    gput(g, head);
    gkey(g, "choices", wsy);
    gput(g, "[");
    int n = rnd(12) ? 1 : (int)rnd(3);
    for (int i = 0; i < n; i++) {
        if (i) gput(g, ",");
        gput(g, "{\"index\":");
        gput(g, i && rnd(2) ? "1" : rnd(15) ? "0" : "0.0");
        gput(g, ",");
        gkey(g, "delta", wsy);
        int d = rnd(16);
        if (d < 7) {
            gput(g, "{\"content\":");
            gtext(g);
            gput(g, "}");
        } else if (d == 7) {
            gput(g, "{\"role\":\"assistant\",\"content\":");
            gtext(g);
            gput(g, "}");
        } else if (d == 8) {
            gput(g, rnd(2) ? "{\"reasoning_content\":" : "{\"reasoning\":");
            gtext(g);
            gput(g, "}");
        } else if (d == 9) {
            gput(g, "{}");
        } else if (d == 10) {
            gput(g, "{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\","
                    "\"arguments\":\"{\\\"a\\\"\"}}]}");
        } else if (d == 11) {
            gput(g, "{");
            gkey(g, "content", wsy);
            gtext(g);
            gput(g, ",");
            gkey(g, rnd(2) ? "reasoning_content" : "content", wsy);
            gtext(g);
            gput(g, "}");
        } else if (d == 12) {
            gput(g, "{\"content\":");
            gany(g);
            gput(g, "}");
        } else if (d == 13) {
            gput(g, "{\"content\":\"a\",\"content\":\"b\"}");
        } else {
            gany(g);
        }
        gput(g, ",\"logprobs\":null,");
        gkey(g, "finish_reason", wsy);
        int f = rnd(10);
        gput(g, f < 7 ? "null" : f == 7 ? "\"stop\"" : f == 8 ? "\"length\"" : "\"tool_calls\"");
        gput(g, "}");
    }
    gput(g, "]");
    if (rnd(2)) gput(g, ",\"usage\":null");
    ws(g, wsy);
    gput(g, "}");
}

static void stream_variants(void **state)
{
    (void)state;
    static const char *const heads[] = {
        "\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",",
        "\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":2,\"model\":\"m\",",
        "\"id\":\"x\\u00e9\",\"model\":\"caf\\u00e9\\n\",",
        "",
        "\"model\":1,\"id\":null,",
        "\"system_fingerprint\":\"fp_ollama\",",
    };
    gbuf_t g = {0};
    for (int i = 0; i < 6000; i++) {
        pair_t p = pair_new(&RESP);
        int n = 1 + (int)rnd(8);
        int wsy = rnd(4) == 0;
        const char *head = heads[rnd(6)];
        for (int k = 0; k < n; k++) {
            if (rnd(5) == 0) head = heads[rnd(6)]; /* the bytes around the delta change */
            gen_chunk(&g, head, wsy);
            diff_event(&p, g.p, g.len, rnd(10) ? 1 << 20 : rnd(600));
        }
        if (rnd(3)) diff_event(&p, "[DONE]", 6, 1 << 20);
        diff_finish(&p);
        pair_free(&p);
    }
    free(g.p);
}

/* ------------------------------------------------------------------ tests/cases */

static void case_file(const char *path)
{
    json_error_t je;
    json_t *c = json_load_file(path, 0, &je);
    if (!c) fail_msg("%s: %s", path, je.text);
    static const size_t flags[] = {JSON_COMPACT | JSON_PRESERVE_ORDER,
                                   JSON_COMPACT | JSON_SORT_KEYS,
                                   JSON_INDENT(2) | JSON_PRESERVE_ORDER,
                                   JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER};
    json_t *req = json_object_get(c, "request");
    json_t *r = json_object_get(c, "upstream_response");
    for (size_t f = 0; f < sizeof flags / sizeof *flags; f++) {
        if (json_is_object(req)) {
            char *b = json_dumps(req, flags[f]);
            diff_request_c(b);
            if (f == 0) {
                /* with stream on and off, and an unknown field */
                json_t *v = json_deep_copy(req);
                json_object_set_new(v, "stream",
                                    json_boolean(!json_is_true(json_object_get(req, "stream"))));
                json_object_set_new(v, "service_tier", json_string("auto"));
                char *b2 = json_dumps(v, flags[f]);
                diff_request_c(b2);
                free(b2);
                json_decref(v);
            }
            free(b);
        }
        json_t *body = json_object_get(r, "body");
        if (body) {
            char *b = json_dumps(body, flags[f] | JSON_ENCODE_ANY);
            diff_reply_c(b);
            free(b);
        }
        json_t *sse = json_object_get(r, "sse");
        if (!json_is_array(sse)) continue;
        evs_t e = {0};
        size_t i;
        json_t *x;
        json_array_foreach(sse, i, x)
        {
            json_t *data = json_object_get(x, "data");
            char *d = json_is_string(data) ? strdup(json_string_value(data))
                                           : json_dumps(data, flags[f] | JSON_ENCODE_ANY);
            ev_add_c(&e, d);
            free(d);
        }
        check_stream(&e);
        if (f == 0) {
            for (size_t k = 0; k < e.n; k++)
                mutate_event(&e, k);
        }
        evs_free(&e);
    }
    json_decref(c);
}

static int case_dir(const char *sub)
{
    const char *src = getenv("SY_TEST_SRC");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/cases/%s", src ? src : ".", sub);
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < 6 || strcmp(e->d_name + nl - 5, ".json") != 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        case_file(path);
        count++;
    }
    closedir(d);
    return count;
}

static void case_files(void **state)
{
    (void)state;
    long req0 = n_fast_req, resp0 = n_fast_resp;
    assert_true(case_dir("messages") >= 18);
    assert_true(n_fast_req > req0 && n_fast_resp > resp0);
    case_dir("openai");
    /* the bench request */
    const char *src = getenv("SY_TEST_SRC");
    char path[512];
    snprintf(path, sizeof path, "%s/bench/messages-1k.json", src ? src : ".");
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    static char body[1 << 16];
    size_t len = fread(body, 1, sizeof body, f);
    fclose(f);
    sy_fmt_req_t c;
    assert_true(sy_messages_fast_request(body, len, &c));
    free(c.body);
    diff_request(body, len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(case_files),        cmocka_unit_test(mock_stream),
        cmocka_unit_test(request_mutations), cmocka_unit_test(request_variants),
        cmocka_unit_test(reply_variants),    cmocka_unit_test(stream_variants),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fprintf(stderr, "messages fast path: %ld differential comparisons\n", n_compared);
    return rc;
}
