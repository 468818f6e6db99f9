/* Differential test of the Anthropic fast paths (providers/anthropic_faststream.c): for every
 * input, sy_anthropic_fmt_response / sy_anthropic_stream_event (fast path first) must give the
 * same return code, the same output bytes, the same usage and the same stream state as the
 * jansson translators (the *_slow functions). Corpus: every reply and stream of
 * tests/cases/anthropic (as recorded, with sorted keys, and indented), the bench mock's exact
 * bytes, generated variants (escapes, unicode, empty text, large indices, unknown fields,
 * reordered and duplicated keys), every truncation and a set of byte mutations of each event, and
 * capped output buffers of every small size. */
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

#include "providers/anthropic_int.h"

static const sy_fmt_resp_opts_t RESP = {"chatcmpl-fallback", 1700000000, "claude-fallback", false};

static long n_compared;

/* ------------------------------------------------------------------ replies */

static void diff_reply_o(const char *body, size_t len, const sy_fmt_resp_opts_t *o, size_t max)
{
    sy_buf_t a, b;
    sy_buf_init(&a, max);
    sy_buf_init(&b, max);
    sy_buf_append(&a, "x", max ? 1 : 0); /* something already there: the output is appended */
    sy_buf_append(&b, "x", max ? 1 : 0);
    sy_fmt_usage_t ua, ub;
    sy_err_t ea = sy_anthropic_fmt_response(body, len, o, &a, &ua);
    sy_err_t eb = sy_anthropic_fmt_response_slow(body, len, o, &b, &ub);
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
}

static void diff_reply_c(const char *body)
{
    diff_reply(body, strlen(body));
}

/* ------------------------------------------------------------------ streams */

typedef struct ev {
    char *type;
    char *data;
    size_t len;
} ev_t;

typedef struct evs {
    ev_t *v;
    size_t n, cap;
} evs_t;

static void ev_add(evs_t *e, const char *type, const char *data, size_t len)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->v = realloc(e->v, e->cap * sizeof *e->v);
    }
    ev_t *x = &e->v[e->n++];
    x->type = strdup(type);
    x->data = malloc(len + 1);
    memcpy(x->data, data, len);
    x->data[len] = '\0';
    x->len = len;
}

static void evs_free(evs_t *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].type);
        free(e->v[i].data);
    }
    free(e->v);
    *e = (evs_t){0};
}

typedef struct pair {
    sy_anthropic_stream_t *fast, *slow;
} pair_t;

static pair_t pair_new(bool include_usage, const char *id)
{
    sy_fmt_resp_opts_t o = RESP;
    o.include_usage = include_usage;
    if (id) o.id = id;
    return (pair_t){sy_anthropic_stream_new(&o), sy_anthropic_stream_new(&o)};
}

static void pair_free(pair_t *p)
{
    sy_anthropic_stream_free(p->fast);
    sy_anthropic_stream_free(p->slow);
}

/* One event into both streams; everything observable must agree. The fast stream goes through
 * the public entry (fast path first), the slow one through the jansson translator. */
static sy_err_t diff_event(pair_t *p, const char *type, const char *data, size_t len, size_t max)
{
    sy_buf_t a, b;
    sy_buf_init(&a, max);
    sy_buf_init(&b, max);
    sy_err_t ea = sy_anthropic_stream_event(p->fast, sy_str_c(type), sy_str(data, len), &a);
    sy_err_t eb = sy_anthropic_stream_event_slow(p->slow, sy_str_c(type), sy_str(data, len), &b);
    if (ea != eb || a.len != b.len || (a.len && memcmp(a.base, b.base, a.len)))
        fail_msg("event differs (max %zu): %s %.*s\n fast %d: %.*s\n slow %d: %.*s", max, type,
                 (int)len, data, ea, (int)a.len, a.base, eb, (int)b.len, b.base);
    const sy_anthropic_stream_t *f = p->fast, *s = p->slow;
    if (f->started != s->started || f->finished != s->finished || f->done != s->done ||
        f->n_tools != s->n_tools || f->n_blocks != s->n_blocks || strcmp(f->id, s->id) ||
        strcmp(f->model, s->model) || memcmp(&f->raw, &s->raw, sizeof f->raw) ||
        memcmp(&f->usage, &s->usage, sizeof f->usage) ||
        (f->n_blocks && memcmp(f->blocks, s->blocks, f->n_blocks * sizeof *f->blocks)))
        fail_msg("stream state differs after %s %.*s", type, (int)len, data);
    n_compared++;
    sy_buf_dispose(&a);
    sy_buf_dispose(&b);
    return ea;
}

static void diff_stream(const evs_t *e, bool include_usage)
{
    pair_t p = pair_new(include_usage, NULL);
    for (size_t i = 0; i < e->n; i++)
        diff_event(&p, e->v[i].type, e->v[i].data, e->v[i].len, 1 << 20);
    pair_free(&p);
}

/* Event i replaced by each of its mutations, after events 0..i-1 of the stream. */
static void mutate_event(const evs_t *e, size_t i, bool include_usage)
{
    static const char subst[] = {'"', '\\', '}', '{', ',', '0', 'x', ' ', (char)0x80, 0x01, 'u'};
    const ev_t *x = &e->v[i];
    char *m = malloc(x->len + 1);
    pair_t base = pair_new(include_usage, NULL);
    for (size_t k = 0; k < i; k++)
        diff_event(&base, e->v[k].type, e->v[k].data, e->v[k].len, 1 << 20);
    bool known = strcmp(x->type, "ping") != 0;
    for (size_t cut = 0; cut < x->len; cut++) { /* truncations: never valid JSON */
        pair_t p = pair_new(include_usage, NULL);
        for (size_t k = 0; k < i; k++)
            diff_event(&p, e->v[k].type, e->v[k].data, e->v[k].len, 1 << 20);
        bool done = sy_anthropic_stream_done(p.fast);
        sy_err_t err = diff_event(&p, x->type, x->data, cut, 1 << 20);
        if (known && !done && strspn(x->data, " \t\r\n") < cut)
            assert_int_equal(err, SY_ERR_UPSTREAM_BROKEN);
        pair_free(&p);
    }
    for (size_t at = 0; at < x->len; at++) {
        for (size_t j = 0; j < sizeof subst; j++) {
            if (x->data[at] == subst[j]) continue;
            memcpy(m, x->data, x->len);
            m[at] = subst[j];
            pair_t p = pair_new(include_usage, NULL);
            for (size_t k = 0; k < i; k++)
                diff_event(&p, e->v[k].type, e->v[k].data, e->v[k].len, 1 << 20);
            diff_event(&p, x->type, m, x->len, 1 << 20);
            pair_free(&p);
        }
    }
    pair_free(&base);
    free(m);
}

static void mutate_stream(const evs_t *e, bool include_usage)
{
    for (size_t i = 0; i < e->n; i++)
        mutate_event(e, i, include_usage);
}

/* The whole stream into buffers capped at every size up to the largest frame. */
static void capped_stream(const evs_t *e, bool include_usage)
{
    for (size_t max = 0; max < 700; max += 7) {
        pair_t p = pair_new(include_usage, NULL);
        for (size_t i = 0; i < e->n; i++)
            diff_event(&p, e->v[i].type, e->v[i].data, e->v[i].len, max);
        pair_free(&p);
    }
}

static void check_stream_all(const evs_t *e)
{
    diff_stream(e, false);
    diff_stream(e, true);
    capped_stream(e, true);
}

/* ------------------------------------------------------------------ the bench mock's bytes */

static void bench_events(evs_t *e, unsigned frames, const char *text_fmt)
{
    char buf[512];
    const char *start =
        "{\"type\":\"message_start\",\"message\":"
        "{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"claude-bench\",\"content\":[],\"stop_reason\":null,"
        "\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}";
    ev_add(e, "message_start", start, strlen(start));
    const char *cbs = "{\"type\":\"content_block_start\",\"index\":0,"
                      "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}";
    ev_add(e, "content_block_start", cbs, strlen(cbs));
    for (unsigned i = 0; i < frames; i++) {
        char text[256];
        snprintf(text, sizeof text, text_fmt, i);
        int n = snprintf(buf, sizeof buf,
                         "{\"type\":\"content_block_delta\","
                         "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}}",
                         text);
        ev_add(e, "content_block_delta", buf, (size_t)n);
    }
    const char *stop = "{\"type\":\"content_block_stop\",\"index\":0}";
    ev_add(e, "content_block_stop", stop, strlen(stop));
    int n = snprintf(buf, sizeof buf,
                     "{\"type\":\"message_delta\",\"delta\":"
                     "{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
                     "\"usage\":{\"output_tokens\":%u}}",
                     frames);
    ev_add(e, "message_delta", buf, (size_t)n);
    ev_add(e, "message_stop", "{\"type\":\"message_stop\"}", strlen("{\"type\":\"message_stop\"}"));
}

static const char bench_reply[] =
    "{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\","
    "\"model\":\"claude-bench\",\"content\":[{\"type\":\"text\","
    "\"text\":\"Hello from the bench mock.\"}],\"stop_reason\":\"end_turn\","
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":6}}";

static void bench_mock(void **state)
{
    evs_t e = {0};
    bench_events(&e, 20, "seq=%u ");
    check_stream_all(&e);
    /* the fast path really takes every one of these events */
    sy_anthropic_stream_t *s = sy_anthropic_stream_new(&RESP);
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    for (size_t i = 0; i < e.n; i++) {
        sy_err_t err = SY_ERR_INTERNAL;
        assert_true(sy_anthropic_fast_event(s, sy_str_c(e.v[i].type),
                                            sy_str(e.v[i].data, e.v[i].len), &out, &err));
        assert_int_equal(err, SY_OK);
    }
    assert_true(sy_anthropic_stream_done(s));
    sy_anthropic_stream_free(s);
    sy_buf_reset(&out);
    sy_err_t err = SY_ERR_INTERNAL;
    sy_fmt_usage_t u;
    assert_true(
        sy_anthropic_fast_response(bench_reply, sizeof bench_reply - 1, &RESP, &out, &u, &err));
    assert_int_equal(err, SY_OK);
    sy_buf_dispose(&out);
    diff_reply(bench_reply, sizeof bench_reply - 1);
    for (size_t max = 0; max < 400; max++)
        diff_reply_o(bench_reply, sizeof bench_reply - 1, &RESP, max);
    mutate_stream(&e, true);
    evs_free(&e);
}

/* ------------------------------------------------------------------ generated variants */

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
};

static void text_variant_events(evs_t *e, const char *text, const char *delta_shape, int64_t index,
                                const char *block_type)
{
    char buf[1024];
    const char *start =
        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_\\u00e9\\/x\",\"type\":\"message\","
        "\"role\":\"assistant\",\"model\":\"claude\\t\\u001f\\u0001\",\"content\":[],\"stop_"
        "reason\":null,"
        "\"usage\":{\"input_tokens\":7,\"cache_read_input_tokens\":3,\"output_tokens\":1}}}";
    ev_add(e, "message_start", start, strlen(start));
    int n = snprintf(buf, sizeof buf,
                     "{\"type\":\"content_block_start\",\"index\":%lld,"
                     "\"content_block\":{\"type\":\"%s\",\"text\":\"\"}}",
                     (long long)index, block_type);
    ev_add(e, "content_block_start", buf, (size_t)n);
    n = snprintf(buf, sizeof buf, delta_shape, (long long)index, text);
    ev_add(e, "content_block_delta", buf, (size_t)n);
    ev_add(e, "content_block_delta", buf, (size_t)n);
    n = snprintf(buf, sizeof buf, "{\"index\":%lld,\"type\":\"content_block_stop\"}",
                 (long long)index);
    ev_add(e, "content_block_stop", buf, (size_t)n);
    const char *md = "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},"
                     "\"usage\":{\"output_tokens\":9,\"input_tokens\":-1}}";
    ev_add(e, "message_delta", md, strlen(md));
    ev_add(e, "message_stop", "{\"type\":\"message_stop\"}", strlen("{\"type\":\"message_stop\"}"));
}

static const char *const delta_shapes[] = {
    /* Anthropic's own bytes */
    "{\"type\":\"content_block_delta\",\"index\":%lld,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"%s\"}}",
    "{\"type\":\"content_block_delta\",\"index\":%lld,\"delta\":{\"type\":\"thinking_delta\","
    "\"thinking\":\"%s\"}}",
    "{\"type\":\"content_block_delta\",\"index\":%lld,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"%s\"}}",
    /* reordered keys, whitespace, unknown fields */
    "{ \"delta\" : { \"text\" : \"%2$s\" , \"type\" : \"text_delta\" } , \"index\" : %1$lld }",
    "{\"index\":%lld,\"extra\":{\"a\":[1,{\"b\":\"}\"}]},\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"%s\",\"more\":null},\"type\":\"content_block_delta\"}\n",
    "\t{\"type\":\"content_block_delta\",\"index\":%lld,\"delta\":{\"type\":\"thinking_delta\","
    "\"thinking\":\"%s\"}}  ",
    /* things the slow path reads its own way: duplicates, escaped keys and types, reals */
    "{\"type\":\"content_block_delta\",\"index\":%lld,\"index\":0,\"delta\":{\"type\":"
    "\"text_delta\",\"text\":\"%s\"}}",
    "{\"type\":\"content_block_delta\",\"index\":%lld,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"%s\",\"text\":\"second\"}}",
    "{\"type\":\"content_block_delta\",\"ind\\u0065x\":%lld,\"delta\":{\"type\":\"text_delta\","
    "\"t\\u0065xt\":\"%s\"}}",
    "{\"type\":\"content_block_delta\",\"index\":%lld,\"delta\":{\"type\":\"text\\u005fdelta\","
    "\"text\":\"%s\"}}",
    "{\"type\":\"content_block_delta\",\"index\":%lld.0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"%s\"}}",
    "{\"type\":\"content_block_delta\",\"index\":%lld,\"delta\":{\"type\":\"signature_delta\","
    "\"signature\":\"%s\"}}",
    "{\"type\":\"content_block_delta\",\"index\":%lld,\"delta\":{\"type\":\"text_delta\","
    "\"text\":[\"%s\"]}}",
    "{\"type\":\"content_block_delta\",\"index\":%lld,\"delta\":\"%s\"}",
};

static void stream_variants(void **state)
{
    static const int64_t indices[] = {0, 1, 7, 123456789012345678, INT64_MAX, -3};
    static const char *const block_types[] = {"text", "thinking", "server_tool_use"};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++)
        for (size_t d = 0; d < sizeof delta_shapes / sizeof delta_shapes[0]; d++)
            for (size_t i = 0; i < sizeof indices / sizeof indices[0]; i++)
                for (size_t b = 0; b < sizeof block_types / sizeof block_types[0]; b++) {
                    evs_t e = {0};
                    text_variant_events(&e, texts[t], delta_shapes[d], indices[i], block_types[b]);
                    diff_stream(&e, false);
                    diff_stream(&e, true);
                    evs_free(&e);
                }
    /* one variant with every mutation */
    evs_t e = {0};
    text_variant_events(&e, texts[4], delta_shapes[0], 3, "text");
    mutate_stream(&e, false);
    capped_stream(&e, false);
    evs_free(&e);
}

/* Odd framing events: unnamed, restated, escaped, out of order. */
static void stream_framing_variants(void **state)
{
    static const char *const evs[][2] = {
        {"ping", "{\"type\": \"ping\"}"},
        {"ping", "not json"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":5,\"delta\":"
                                "{\"type\":\"text_delta\",\"text\":\"no such block\"}}"},
        {"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"},
        {"content_block_stop", "[]"},
        {"message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":null},"
                          "\"usage\":{\"output_tokens\":3.5,\"cache_creation_input_tokens\":4}}"},
        {"message_delta", "{\"delta\":[],\"usage\":[]}"},
        {"message_delta", "{\"delta\":{\"stop_reason\":\"end\\u005fturn\"}}"},
        {"message_delta", "{\"delta\":{\"stop_reason\":\"refusal\"},\"usage\":{\"output_tokens\":"
                          "1,\"output_tokens\":2}}"},
        {"message_start",
         "{\"message\":{\"id\":7,\"model\":null,\"usage\":{\"input_tokens\":-0}}}"},
        {"message_start", "{\"message\":{\"id\":\"second\",\"model\":\"m2\"}}"},
        {"message_start", "{\"message\":[]}"},
        {"content_block_start",
         "{\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\","
         "\"name\":\"sy_response_format__x\",\"input\":{}}}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":"
                                "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}"},
        {"content_block_start",
         "{\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t2\","
         "\"name\":\"get\",\"input\":{}}}"},
        {"content_block_delta",
         "{\"type\":\"content_block_delta\",\"index\":3,\"delta\":"
         "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"b\\\":1\"}}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":3,\"delta\":"
                                "{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}"},
        {"content_block_start", "{\"index\":4,\"content_block\":{\"type\":\"te\\u0078t\"}}"},
        {"content_block_start", "{\"index\":4,\"content_block\":{\"type\":5}}"},
        {"content_block_start", "{\"index\":4,\"content_block\":{}}"},
        {"content_block_start", "{\"index\":\"4\",\"content_block\":{}}"},
        {"message", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                    "{\"type\":\"text_delta\",\"text\":\"unnamed\"}}"},
        {"some_future_event", "garbage"},
        {"message_delta", "{\"delta\":{\"stop_reason\":\"tool_use\"}}"},
        {"message_stop", " {\"type\":\"message_stop\",\"x\":1} "},
        {"message_stop", "{\"type\":\"message_stop\"}"},
    };
    size_t n = sizeof evs / sizeof evs[0];
    /* every suffix of the list, so each event also meets a fresh stream */
    for (size_t from = 0; from < n; from++)
        for (int usage = 0; usage < 2; usage++) {
            evs_t e = {0};
            for (size_t i = from; i < n; i++)
                ev_add(&e, evs[i][0], evs[i][1], strlen(evs[i][1]));
            diff_stream(&e, usage);
            if (from == 0) capped_stream(&e, usage);
            evs_free(&e);
        }
    /* an id that needs escaping in the chunk prefix */
    pair_t p = pair_new(true, "id \"with\" \x01 controls/");
    diff_event(&p, "content_block_start", evs[12][1], strlen(evs[12][1]), 1 << 20);
    diff_event(&p, "message_stop", "{}", 2, 1 << 20);
    pair_free(&p);
}

static void reply_variants(void **state)
{
    char body[4096];
    static const char *const shapes[] = {
        "{\"id\":\"msg_1\",\"type\":\"message\",\"model\":\"claude\",\"content\":[{\"type\":"
        "\"text\",\"text\":\"%s\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":5,"
        "\"output_tokens\":6}}",
        "{\"usage\":{\"output_tokens\":6,\"cache_read_input_tokens\":9,"
        "\"cache_creation_input_tokens\":2,\"input_tokens\":5,\"x\":1.5},\"content\":[ {\"text\":"
        "\"%s\",\"type\":\"text\",\"citations\":[]} , {\"type\":\"text\",\"text\":\"%1$s\"} ],"
        "\"stop_reason\":\"max_tokens\",\"model\":\"m\\u00e9\",\"id\":\"i\\/d\",\"role\":"
        "\"assistant\"}",
        "{\"content\":[{\"type\":\"thinking\",\"thinking\":\"%s\",\"signature\":\"x\"},{\"type\":"
        "\"redacted_thinking\",\"data\":\"y\"},{\"type\":\"text\",\"text\":\"%1$s\"}],"
        "\"stop_reason\":\"refusal\"}",
        "{\"content\":[{\"type\":\"text\"},{\"type\":\"text\",\"text\":5},{\"type\":\"thinking\","
        "\"thinking\":\"\"},{\"text\":\"%s\"},7,null],\"id\":null,\"type\":null,\"usage\":null}",
        "{\"content\":[{\"type\":\"text\",\"text\":\"%s\"},{\"type\":\"tool_use\",\"id\":\"t\","
        "\"name\":\"get\",\"input\":{\"a\":1}}],\"stop_reason\":\"tool_use\"}",
        "{\"content\":[{\"type\":\"text\",\"text\":\"%s\"}],\"content\":[],\"id\":\"dup\"}",
        "{\"content\":[{\"type\":\"text\",\"text\":\"%s\",\"text\":\"dup\"}]}",
        "{\"type\":\"mess\\u0061ge\",\"content\":[{\"type\":\"text\",\"text\":\"%s\"}]}",
        "{\"type\":\"error\",\"content\":[{\"type\":\"text\",\"text\":\"%s\"}]}",
        "{\"type\":7,\"content\":[{\"type\":\"text\",\"text\":\"%s\"}],\"stop_reason\":\"a_very_"
        "long_"
        "stop_reason_that_is_not_known_at_all\"}",
        "{\"content\":{\"type\":\"text\",\"text\":\"%s\"}}",
        "[{\"content\":[{\"type\":\"text\",\"text\":\"%s\"}]}]",
        "{\"content\":[{\"type\":\"text\",\"text\":\"%s\"}],\"usage\":{\"input_tokens\":1,"
        "\"input_tokens\":2}}",
        "{\"content\":[{\"typ\\u0065\":\"text\",\"text\":\"%s\"}]}",
        "{\"content\":[{\"type\":\"te\\u0078t\",\"text\":\"%s\"}]}",
    };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int n = snprintf(body, sizeof body, shapes[s], texts[t]);
            diff_reply(body, (size_t)n);
        }
    /* many blocks: more than the fast path collects */
    size_t n = (size_t)snprintf(body, sizeof body, "{\"content\":[");
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "%s{\"type\":\"text\",\"text\":\"b%d\"}",
                              i ? "," : "", i);
    n += (size_t)snprintf(body + n, sizeof body - n, "]}");
    diff_reply(body, n);
    /* every truncation and mutation of a reply */
    static const char subst[] = {'"', '\\', '}', ']', ',', '0', 'x', (char)0xff, 0x1f};
    n = (size_t)snprintf(body, sizeof body, shapes[1], texts[3]);
    char m[4096];
    for (size_t cut = 0; cut < n; cut++) {
        diff_reply(body, cut);
        sy_buf_t out;
        sy_buf_init(&out, 1 << 16);
        assert_int_equal(sy_anthropic_fmt_response(body, cut, &RESP, &out, NULL),
                         SY_ERR_UPSTREAM_BROKEN);
        sy_buf_dispose(&out);
    }
    for (size_t at = 0; at < n; at++)
        for (size_t j = 0; j < sizeof subst; j++) {
            memcpy(m, body, n);
            m[at] = subst[j];
            diff_reply(m, n);
        }
}

/* ------------------------------------------------------------------ tests/cases/anthropic */

static void case_file(const char *path)
{
    json_error_t je;
    json_t *c = json_load_file(path, 0, &je);
    if (!c) fail_msg("%s: %s", path, je.text);
    json_t *r = json_object_get(c, "upstream_response");
    static const size_t flags[] = {JSON_COMPACT | JSON_PRESERVE_ORDER,
                                   JSON_COMPACT | JSON_SORT_KEYS,
                                   JSON_INDENT(2) | JSON_PRESERVE_ORDER};
    for (size_t f = 0; f < 3; f++) {
        json_t *body = json_object_get(r, "body");
        if (body) {
            char *b = json_dumps(body, flags[f] | JSON_ENCODE_ANY);
            diff_reply_c(b);
            free(b);
        }
        const char *raw = json_string_value(json_object_get(r, "raw"));
        if (raw) diff_reply_c(raw);
        json_t *sse = json_object_get(r, "sse");
        if (!json_is_array(sse)) continue;
        evs_t e = {0};
        size_t i;
        json_t *x;
        json_array_foreach(sse, i, x)
        {
            const char *type = json_string_value(json_object_get(x, "event"));
            json_t *data = json_object_get(x, "data");
            char *d = json_is_string(data) ? strdup(json_string_value(data))
                                           : json_dumps(data, flags[f] | JSON_ENCODE_ANY);
            ev_add(&e, type ? type : "message", d, strlen(d));
            free(d);
        }
        check_stream_all(&e);
        if (f == 0) mutate_stream(&e, false);
        evs_free(&e);
    }
    json_decref(c);
}

static void case_files(void **state)
{
    const char *src = getenv("SY_TEST_SRC");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/cases/anthropic", src ? src : ".");
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
    assert_true(count >= 20);
}

/* Counts past int64 (more than 19 digits) are refused, not wrapped: 2^64 * 100000 + 9 wraps to
 * 9, which would slip under SY_CAPTURE_TOKENS_MAX. The usage keeps what it had (absent). */
static void usage_overflow(void **state)
{
    static const char *const counts[] = {"1844674407370955161600009", /* 25 digits, wraps to 9 */
                                         "18446744073709551625",      /* 20 digits, 2^64 + 9 */
                                         "9223372036854775808"};      /* 19 digits, INT64_MAX + 1 */
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        char start[512], delta[256];
        snprintf(start, sizeof start,
                 "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":"
                 "\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],"
                 "\"usage\":{\"input_tokens\":%s,\"output_tokens\":1}}}",
                 counts[i]);
        snprintf(delta, sizeof delta,
                 "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
                 "\"usage\":{\"output_tokens\":%s}}",
                 counts[i]);
        pair_t p = pair_new(true, NULL);
        diff_event(&p, "message_start", start, strlen(start), 1 << 20);
        diff_event(&p, "message_delta", delta, strlen(delta), 1 << 20);
        /* fast path alone (the public entry falls back to the slow one only when it declines) */
        sy_anthropic_stream_t *f = p.fast;
        assert_true(f->raw.input != 9 && f->raw.output != 9);
        assert_true(f->raw.input < 0 || f->raw.input <= INT64_C(1000000000000));
        assert_true(f->raw.output < 0 || f->raw.output <= INT64_C(1000000000000));
        pair_free(&p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bench_mock),
        cmocka_unit_test(stream_variants),
        cmocka_unit_test(stream_framing_variants),
        cmocka_unit_test(reply_variants),
        cmocka_unit_test(case_files),
        cmocka_unit_test(usage_overflow),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fprintf(stderr, "anthropic fast path: %ld differential comparisons\n", n_compared);
    return rc;
}
