/* sy_jsonv: differential tests against jansson (json_loadb flags 0, as the gateway calls it),
 * mutation/truncation sweeps, and chat-field extraction checked against a jansson reading of the
 * same body. Every document is copied into a heap block of exactly n bytes, so an ASan build
 * catches any read past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonv.h"

/* ---- helpers ---- */

static bool jansson_ok(const char *p, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb(p, n, 0, &e);
    json_decref(j);
    return j != NULL;
}

static sy_jsonv_type_t type_of(const json_t *j)
{
    if (!j) return SY_JSONV_ABSENT;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return SY_JSONV_OBJECT;
    case JSON_ARRAY:
        return SY_JSONV_ARRAY;
    case JSON_STRING:
        return SY_JSONV_STRING;
    case JSON_INTEGER:
    case JSON_REAL:
        return SY_JSONV_NUMBER;
    case JSON_TRUE:
        return SY_JSONV_TRUE;
    case JSON_FALSE:
        return SY_JSONV_FALSE;
    case JSON_NULL:
        return SY_JSONV_NULL;
    }
    return SY_JSONV_ABSENT;
}

/* Checks sy_jsonv_scan_chat's facts against what the gateway's jansson code would see. */
static void check_chat_facts(json_t *doc, const sy_jsonv_chat_t *c, const char *label)
{
    if (!json_is_object(doc)) {
        assert_false(c->is_object);
        assert_int_equal(c->model_type, SY_JSONV_ABSENT);
        assert_int_equal(c->messages_type, SY_JSONV_ABSENT);
        assert_int_equal(c->stream_type, SY_JSONV_ABSENT);
        assert_int_equal(c->stream_options_type, SY_JSONV_ABSENT);
        assert_int_equal(c->bad_message_index, -1);
        return;
    }
    assert_true(c->is_object);
    /* max_tokens / max_completion_tokens: a plain non-negative integer below 10^15, else -1 */
    const char *mk[2] = {"max_tokens", "max_completion_tokens"};
    const int64_t got[2] = {c->max_tokens, c->max_completion_tokens};
    for (int i = 0; i < 2; i++) {
        json_t *x = json_object_get(doc, mk[i]);
        int64_t want = json_is_integer(x) && json_integer_value(x) >= 0 &&
                               json_integer_value(x) < 1000000000000000ll
                           ? json_integer_value(x)
                           : -1;
        if (got[i] != want)
            fail_msg("%s: %s %lld, want %lld", label, mk[i], (long long)got[i], (long long)want);
    }
    json_t *m = json_object_get(doc, "model");
    if (c->model_type != type_of(m)) fail_msg("%s: model type %d", label, c->model_type);
    if (m) {
        assert_non_null(c->model.ptr);
        /* the span is exactly the value: it re-parses to an equal value */
        json_error_t e;
        json_t *again = json_loadb(c->model.ptr, c->model.len, JSON_DECODE_ANY, &e);
        assert_non_null(again);
        assert_true(json_equal(again, m));
        json_decref(again);
        if (json_is_string(m)) {
            char buf[4096];
            size_t len;
            assert_int_equal(c->model_has_escape, memchr(c->model.ptr, '\\', c->model.len) != NULL);
            assert_true(sy_jsonv_string_decode(c->model, buf, sizeof buf, &len));
            assert_int_equal(len, json_string_length(m));
            assert_memory_equal(buf, json_string_value(m), len);
        }
    } else {
        assert_null(c->model.ptr);
    }
    assert_int_equal(c->stream_type, type_of(json_object_get(doc, "stream")));
    json_t *so = json_object_get(doc, "stream_options");
    assert_int_equal(c->stream_options_type, type_of(so));
    assert_int_equal(c->include_usage_type, type_of(json_object_get(so, "include_usage")));
    json_t *msgs = json_object_get(doc, "messages");
    assert_int_equal(c->messages_type, type_of(msgs));
    long bad = -1;
    sy_jsonv_msg_problem_t why = SY_JSONV_MSG_OK;
    size_t count = 0;
    if (json_is_array(msgs)) {
        count = json_array_size(msgs);
        for (size_t i = 0; i < count && bad < 0; i++) {
            json_t *it = json_array_get(msgs, i);
            if (!json_is_object(it)) {
                bad = (long)i;
                why = SY_JSONV_MSG_NOT_OBJECT;
            } else if (!json_is_string(json_object_get(it, "role"))) {
                bad = (long)i;
                why = SY_JSONV_MSG_BAD_ROLE;
            }
        }
    }
    assert_int_equal(c->messages_count, count);
    if (c->bad_message_index != bad) fail_msg("%s: bad index %ld", label, c->bad_message_index);
    assert_int_equal(c->bad_message_reason, why);
}

static bool agree(const char *doc, size_t n, const char *label);

static size_t nul_quirks;

/* jansson 2.14 bug: after a number or true/false/null its lexer reads one byte ahead and puts it
 * back, but a NUL byte cannot be put back (its stream buffer uses NUL as "empty"), so a single
 * NUL right after such a token is silently dropped and "[1\0]" is accepted. sy_jsonv rejects
 * it (RFC 8259). Returns true if that explains the disagreement: we stopped at a NUL that follows
 * a number or a literal, and without that byte jansson still accepts and we agree. */
static bool jansson_nul_quirk(const char *p, size_t n, size_t pos, const char *label)
{
    if (pos == 0 || pos >= n || p[pos] != '\0' || !strchr("0123456789el", p[pos - 1])) return false;
    char *q = malloc(n);
    memcpy(q, p, pos);
    memcpy(q + pos, p + pos + 1, n - pos - 1);
    bool ok = jansson_ok(q, n - 1);
    if (ok) agree(q, n - 1, label); /* fails the test unless we agree, up to further quirks */
    free(q);
    nul_quirks += ok;
    return ok;
}

/* Runs both entry points on an exact-size heap copy and compares with jansson. Returns the
 * verdict. */
static bool agree(const char *doc, size_t n, const char *label)
{
    char *p = malloc(n ? n : 1);
    memcpy(p, doc, n);
    json_error_t je;
    json_t *j = json_loadb(p, n, 0, &je);
    sy_jsonv_err_t err = {0};
    bool ok = sy_jsonv_validate(p, n, &err);
    if (j && !ok && jansson_nul_quirk(p, n, err.position, label)) {
        /* jansson accepted an invalid document; we reject it on purpose (see above) */
    } else if (ok != (j != NULL)) {
        char shown[200];
        size_t k = n < 120 ? n : 120;
        for (size_t i = 0; i < k; i++)
            shown[i] = (unsigned char)p[i] >= 0x20 && (unsigned char)p[i] < 0x7f ? p[i] : '?';
        shown[k] = '\0';
        fail_msg("%s: jsonv says %s, jansson says %s (%s; ours: %zu %s) doc[%zu]: %s", label,
                 ok ? "valid" : "invalid", j ? "valid" : "invalid", j ? "" : je.text, err.position,
                 err.text, n, shown);
    }
    if (!ok) {
        assert_true(err.position <= n);
        assert_true(err.text[0] != '\0');
        assert_true(err.line >= 1 && err.column >= 1);
    }
    assert_false(sy_jsonv_validate(p, n, NULL) != ok);
    sy_jsonv_chat_t c;
    sy_jsonv_err_t err2 = {0};
    assert_int_equal(sy_jsonv_scan_chat(p, n, &c, &err2), ok);
    if (ok) {
        check_chat_facts(j, &c, label);
    } else {
        assert_int_equal(err2.position, err.position);
        assert_string_equal(err2.text, err.text);
    }
    json_decref(j);
    free(p);
    return ok;
}

/* ---- the table ---- */

typedef struct doc {
    char expect; /* 'y' valid, 'n' invalid (jansson agrees, checked); 'j' see J() */
    const char *s;
    size_t n;
} doc_t;

/* clang-format off */
#define Y(lit) {'y', lit, sizeof lit - 1}
#define N(lit) {'n', lit, sizeof lit - 1}
#define J(lit) {'j', lit, sizeof lit - 1} /* jansson accepts, we reject: see jansson_nul_quirk */
/* clang-format on */

static const doc_t docs[] = {
    /* structure */
    Y("[]"),
    Y("{}"),
    Y(" \t\r\n[ \t\r\n] \t\r\n"),
    Y("[[[[]]]]"),
    Y("[1,2,3]"),
    Y("[[],{},[{}],{\"a\":[]}]"),
    Y("{\"a\":{\"b\":[1,{\"c\":null}]},\"d\":[true,false,null]}"),
    Y("{\"a\":1,\"a\":2}"),
    Y("{\"\":0}"),
    Y("{ \"a\" : 1 , \"b\" : [ 1 , 2 ] }"),
    Y("{\n  \"model\": \"x\",\n  \"messages\": [\n    {\"role\": \"user\"}\n  ]\n}\n"),
    N(""),
    N(" "),
    N("\n\t "),
    N("1"),
    N("-1"),
    N("\"a\""),
    N("true"),
    N("null"),
    N("["),
    N("]"),
    N("{"),
    N("}"),
    N("[1"),
    N("[1,"),
    N("{\"a\""),
    N("{\"a\":"),
    N("{\"a\":1"),
    N("{\"a\":1,"),
    N("[1,]"),
    N("[,1]"),
    N("[,]"),
    N("[1,,2]"),
    N("{\"a\":1,}"),
    N("{,}"),
    N("{\"a\"}"),
    N("{\"a\":}"),
    N("{\"a\" 1}"),
    N("{\"a\"::1}"),
    N("{1:1}"),
    N("{null:1}"),
    N("{'a':1}"),
    N("['a']"),
    N("{\"a\":1 \"b\":2}"),
    N("{\"a\":1;\"b\":2}"),
    N("[1:2]"),
    N("[\"a\":1]"),
    N("{\"a\":1}}"),
    N("[1]]"),
    N("[]]"),
    N("[][]"),
    N("{}{}"),
    N("[] x"),
    N("[]\x00"),
    N("\x00[]"),
    N("[]\f"),
    N("[\f]"),
    N("[\v]"),
    N("[\xa0]"),
    N("[\xc2\xa0]"),
    N("\xef\xbb\xbf[]"),
    N("[/* c */]"),
    N("// c\n[]"),
    N("[1]#"),
    N("[1 2]"),
    N("[\"a\" \"b\"]"),
    N("[\"a\"\x00]"),
    J("[1\x00]"),
    J("[true\x00,null\x00]"),
    J("{\"a\":-1.5e3\x00 }"),
    N("[1\x00\x00]"),
    N("[1 \x00]"),
    N("[\xc3\xa9]"),
    N("[\x80]"),
    /* literals */
    Y("[true,false,null]"),
    N("[tru]"),
    N("[truex]"),
    N("[true1]"),
    N("[nul]"),
    N("[nulll]"),
    N("[fals]"),
    N("[True]"),
    N("[NULL]"),
    N("[NaN]"),
    N("[Infinity]"),
    N("[-Infinity]"),
    N("[undefined]"),
    /* numbers */
    Y("[0]"),
    Y("[-0]"),
    Y("[-0.0e-0]"),
    Y("[0.0]"),
    Y("[0e0]"),
    Y("[0E+1]"),
    Y("[1.5]"),
    Y("[-1.5e10]"),
    Y("[1E+2]"),
    Y("[1e-2]"),
    Y("[123e65]"),
    Y("[1E22]"),
    Y("[20e1]"),
    Y("[0.1e1]"),
    Y("[-123]"),
    Y("[123456789]"),
    Y("[1234567890123456789]"),
    Y("[9223372036854775807]"),
    Y("[-9223372036854775808]"),
    Y("[1e-400]"),
    Y("[-1e-400]"),
    Y("[0e99999999999999999999]"),
    Y("[0.000e400]"),
    Y("[1.7976931348623157e308]"),
    Y("[1.7976931348623158e308]"),
    Y("[-1.7976931348623157e308]"),
    Y("[0.00001e313]"),
    Y("[123.456e-789]"),
    Y("[100000000000000000000.0]"),
    Y("[1e308]"),
    N("[1e309]"),
    N("[-1e309]"),
    N("[1.8e308]"),
    N("[0.00002e313]"),
    N("[1e99999999999999999999]"),
    N("[10000000000000000000000000000000000000000000000000000000000000000000000000000000000"
      "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
      "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
      "0000000000000000000000000000000000000000000000000000000000000000000.0]"),
    N("[9223372036854775808]"),
    N("[-9223372036854775809]"),
    N("[9999999999999999999]"),
    N("[100000000000000000000]"),
    N("[01]"),
    N("[-01]"),
    N("[00]"),
    N("[-00]"),
    N("[00.5]"),
    N("[1.]"),
    N("[1.e5]"),
    N("[.5]"),
    N("[-.5]"),
    N("[+1]"),
    N("[-]"),
    N("[--1]"),
    N("[1e]"),
    N("[1e+]"),
    N("[1E-]"),
    N("[1e+-1]"),
    N("[1ee1]"),
    N("[1.5.3]"),
    N("[0x10]"),
    N("[1_000]"),
    N("[1e5.5]"),
    N("[- 1]"),
    N("[1,-]"),
    N("[-"),
    N("[1."),
    N("[1e"),
    N("[1e-"),
    /* strings and escapes */
    Y("[\"\"]"),
    Y("[\"a\"]"),
    Y("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"),
    Y("[\"\\u0041\"]"),
    Y("[\"\\u00e9\\u00E9\"]"),
    Y("[\"\\u20ac\"]"),
    Y("[\"\\uD834\\uDD1E\"]"),
    Y("[\"\\ud834\\udd1e\"]"),
    Y("[\"\\uDBFF\\uDFFF\"]"),
    Y("[\"\\uFFFF\\uFFFE\"]"),
    Y("[\"\\u0001\\u001f\"]"),
    Y("[\"\\u002F\"]"),
    Y("[\"\x7f\"]"),
    Y("[\"a/b\"]"),
    Y("[\"0123456789abcdef\\n0123456789abcdef\\\"\"]"),
    Y("[\"abcdefghijklmnop\\\"qr\"]"),
    Y("{\"\\u0061\":1,\"a\\tb\":2}"),
    N("[\"\\u0000\"]"),
    N("[\"a\\u0000b\"]"),
    N("{\"\\u0000\":1}"),
    N("[\"\\uD800\"]"),
    N("[\"\\uDC00\"]"),
    N("[\"\\uDFFF\"]"),
    N("[\"\\uDBFF\"]"),
    N("[\"\\uD800\\uD800\"]"),
    N("[\"\\uDC00\\uD800\"]"),
    N("[\"\\uD800x\"]"),
    N("[\"\\uD800\\u0041\"]"),
    N("[\"\\uD800\\n\"]"),
    N("[\"\\uD800\\\"]"),
    N("[\"\\uD800\\u12\"]"),
    N("[\"\\u12\"]"),
    N("[\"\\u12G4\"]"),
    N("[\"\\u-123\"]"),
    N("[\"\\U0041\"]"),
    N("[\"\\x41\"]"),
    N("[\"\\a\"]"),
    N("[\"\\'\"]"),
    N("[\"\\0\"]"),
    N("[\"\\\"]"),
    N("[\"\\"),
    N("[\"\\u"),
    N("[\"\\u00"),
    N("[\"abc"),
    N("[\"abc]"),
    N("[\"\x00\"]"),
    N("[\"\t\"]"),
    N("[\"\n\"]"),
    N("[\"\r\"]"),
    N("[\"\x1f\"]"),
    N("[\"0123456789abcdef\x01\"]"),
    N("{\"a\nb\":1}"),
    /* UTF-8 */
    Y("[\"\xc3\xa9\"]"),
    Y("[\"\xe2\x82\xac\"]"),
    Y("[\"\xf0\x9d\x84\x9e\"]"),
    Y("[\"\xf4\x8f\xbf\xbf\"]"),
    Y("[\"\xef\xbf\xbf\"]"),
    Y("[\"\xed\x9f\xbf\"]"),
    Y("[\"\xee\x80\x80\"]"),
    Y("[\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xf0\x90\x80\x80\"]"),
    Y("[\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"]"),
    Y("{\"\xc3\xa9\":\"\xc3\xa9\"}"),
    N("[\"\xc0\xaf\"]"),
    N("[\"\xc1\xbf\"]"),
    N("[\"\xe0\x80\xaf\"]"),
    N("[\"\xe0\x9f\xbf\"]"),
    N("[\"\xed\xa0\x80\"]"),
    N("[\"\xed\xbf\xbf\"]"),
    N("[\"\xed\xa0\xbd\xed\xb8\x80\"]"),
    N("[\"\xf0\x80\x80\xaf\"]"),
    N("[\"\xf0\x8f\xbf\xbf\"]"),
    N("[\"\xf4\x90\x80\x80\"]"),
    N("[\"\xf5\x80\x80\x80\"]"),
    N("[\"\xf8\x88\x80\x80\x80\"]"),
    N("[\"\xfe\"]"),
    N("[\"\xff\"]"),
    N("[\"\x80\"]"),
    N("[\"\xbf\"]"),
    N("[\"\xc3\"]"),
    N("[\"\xe2\x82\"]"),
    N("[\"\xf0\x9d\x84\"]"),
    N("[\"\xc3\x28\"]"),
    N("[\"\xe2\x28\xa1\"]"),
    N("[\"\xe2\x82\x28\"]"),
    N("[\"\xf0\x28\x8c\xbc\"]"),
    N("[\"\xf0\x90\x28\xbc\"]"),
    N("[\"\xf0\x90\x8c\x28\"]"),
    N("[\"\xc3"),
    N("[\"0123456789abcdef\xc3\xa9\xff\"]"),
    N("{\"\xff\":1}"),
    /* chat-shaped bodies */
    Y("{\"model\":\"bench\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}"),
    Y("{\"mod\\u0065l\":\"x\",\"messages\":[]}"),
    Y("{\"model\":\"a\",\"model\":{\"b\":[1]},\"stream\":true,\"stream_options\":"
      "{\"include_usage\":false}}"),
    Y("{\"messages\":[{\"role\":\"user\"},7,{\"role\":null}],\"messages\":[{},{\"role\":\"x\"}]}"),
    N("{\"model\":\"bench\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]"),
    N("{\"model\":\"bench\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}}}"),
};

static void table_agrees_with_jansson(void **state)
{
    size_t valid = 0;
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        char label[32];
        snprintf(label, sizeof label, "docs[%zu]", i);
        bool j = jansson_ok(docs[i].s, docs[i].n);
        if (j != (docs[i].expect != 'n'))
            fail_msg("%s: table says %c but jansson disagrees", label, docs[i].expect);
        bool ok = agree(docs[i].s, docs[i].n, label);
        assert_int_equal(ok, docs[i].expect == 'y');
        valid += ok;
    }
    print_message("%zu documents (%zu valid)\n", sizeof docs / sizeof docs[0], valid);
    assert_true(sizeof docs / sizeof docs[0] >= 150);
}

/* ---- generated documents: depth, overflow boundaries ---- */

static char *nested(int depth, const char *inner)
{
    size_t il = strlen(inner);
    char *b = malloc(2 * (size_t)depth + il + 1);
    memset(b, '[', (size_t)depth);
    memcpy(b + depth, inner, il);
    memset(b + depth + il, ']', (size_t)depth);
    b[2 * depth + il] = '\0';
    return b;
}

static void depth_limit_matches_jansson(void **state)
{
    static const char *inners[] = {"", "1", "{}", "{\"a\":1}", "[]", "\"x\""};
    for (int d = 2040; d <= 2052; d++) {
        for (size_t k = 0; k < sizeof inners / sizeof inners[0]; k++) {
            char *b = nested(d, inners[k]);
            char label[48];
            snprintf(label, sizeof label, "depth %d + %s", d, inners[k]);
            agree(b, strlen(b), label);
            free(b);
        }
    }
    char *b = nested(2048, "");
    assert_true(sy_jsonv_validate(b, strlen(b), NULL));
    free(b);
    b = nested(2049, "");
    sy_jsonv_err_t err;
    assert_false(sy_jsonv_validate(b, strlen(b), &err));
    assert_int_equal(err.position, 2048);
    assert_string_equal(err.text, "maximum parsing depth reached");
    free(b);

    /* objects and arrays interleaved, so the container bit stack crosses word boundaries */
    for (int d = 1020; d <= 1026; d++) {
        size_t cap = (size_t)d * 8 + 16, len = 0;
        char *s = malloc(cap);
        for (int i = 0; i < d; i++) {
            memcpy(s + len, "{\"k\":[", 6);
            len += 6;
        }
        s[len++] = '0';
        for (int i = 0; i < d; i++) {
            memcpy(s + len, "]}", 2);
            len += 2;
        }
        char label[32];
        snprintf(label, sizeof label, "mixed %d", d);
        agree(s, len, label);
        size_t inner = 6 * (size_t)d + 1; /* the innermost "]}" */
        s[inner] = '}';                   /* wrong closers deep inside */
        s[inner + 1] = ']';
        agree(s, len, label);
        free(s);
    }
}

static const char max_digits[] =
    "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017"
    "977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273"
    "854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704"
    "342711559699508093042880177904174497792";

static void real_overflow_boundary_matches_jansson(void **state)
{
    /* The threshold 2^1024 - 2^970 written many ways, and its neighbours. */
    const char *forms[] = {
        "[%s]",
        "[%s.0]",
        "[%s.000001]",
        "[-%s]",
        "[%.308s.%se0]",
        "[0.%se309]",
        "[0.0%se310]",
        "[%.1s.%se308]",
        "[%.5s.%se304]",
        "[%.300s.%se8]",
        "[%.309s0e-1]",
        "[%s0e-1]",
        "[%s00000000000000000000001e-22]",
    };
    char num[400], prev[400], next[400], doc[900];
    snprintf(num, sizeof num, "%s", max_digits);
    size_t len = strlen(num);
    /* prev = threshold - 1, next = threshold + 1 (last digit is 2) */
    memcpy(prev, num, len + 1);
    prev[len - 1] = '1';
    memcpy(next, num, len + 1);
    next[len - 1] = '3';
    const char *vals[] = {num, prev, next};
    int valid = 0, invalid = 0;
    for (size_t v = 0; v < 3; v++) {
        for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
            const char *s = vals[v];
            int k;
            if (strstr(forms[f], "%.308s.%s"))
                k = snprintf(doc, sizeof doc, forms[f], s, s + 308);
            else if (strstr(forms[f], "%.1s.%s"))
                k = snprintf(doc, sizeof doc, forms[f], s, s + 1);
            else if (strstr(forms[f], "%.5s.%s"))
                k = snprintf(doc, sizeof doc, forms[f], s, s + 5);
            else if (strstr(forms[f], "%.300s.%s"))
                k = snprintf(doc, sizeof doc, forms[f], s, s + 300);
            else
                k = snprintf(doc, sizeof doc, forms[f], s);
            char label[48];
            snprintf(label, sizeof label, "overflow form %zu value %zu", f, v);
            if (agree(doc, (size_t)k, label))
                valid++;
            else
                invalid++;
        }
    }
    assert_true(valid > 0 && invalid > 0);
}

/* ---- mutation sweeps ---- */

static const char *seeds[] = {
    "{\"model\":\"bench\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}",
    ("{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
     "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
     "[{\"type\":\"text\",\"text\":\"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \xf0\x9f\x98\x80\"}]}],"
     "\"temperature\":0.7,\"max_tokens\":-12,\"top_p\":1e-3,\"n\":1}"),
    "[1,-0.5e+7,true,false,null,\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",{},[],{\"a\":[{}]},12345678901234]",
    "{\"mod\\u0065l\":\"m\\u002dx\",\"messages\":[{\"role\":\"a\"},{\"x\":{\"role\":1}}]}",
    " { \"a\" : [ 1 , 2 ] , \"\xe6\x97\xa5\" : \"\xe2\x82\xac\xed\x9f\xbf\xf4\x8f\xbf\xbf\" } ",
    "[\"0123456789abcdef0123456789\\u0041\\uD834\\uDD1E\",9223372036854775807,1.5E308]",
};

static const unsigned char replacements[] = {
    0x00, 0x09, 0x0a, 0x0c, 0x1f, ' ',  '"',  '\\', ',',  ':',  '[',  ']',  '{',  '}',  '/',
    '0',  '1',  '9',  '-',  '+',  '.',  'e',  'E',  'u',  'a',  't',  'n',  'D',  0x7f, 0x80,
    0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xc3, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff,
};

static void single_byte_mutations_agree(void **state)
{
    size_t runs = 0, valid = 0;
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        const char *seed = seeds[s];
        size_t n = strlen(seed);
        char label[64];
        snprintf(label, sizeof label, "seed %zu", s);
        assert_true(agree(seed, n, label));
        char *b = malloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            for (size_t r = 0; r < sizeof replacements; r++) {
                memcpy(b, seed, n);
                b[i] = (char)replacements[r];
                snprintf(label, sizeof label, "seed %zu byte %zu := 0x%02x", s, i, replacements[r]);
                valid += agree(b, n, label);
                runs++;
            }
            /* delete byte i, and duplicate it */
            memcpy(b, seed, i);
            memcpy(b + i, seed + i + 1, n - i - 1);
            snprintf(label, sizeof label, "seed %zu delete %zu", s, i);
            valid += agree(b, n - 1, label);
            memcpy(b, seed, i + 1);
            memcpy(b + i + 1, seed + i, n - i);
            snprintf(label, sizeof label, "seed %zu dup %zu", s, i);
            valid += agree(b, n + 1, label);
            runs += 2;
        }
        for (size_t len = 0; len < n; len++) {
            snprintf(label, sizeof label, "seed %zu truncated to %zu", s, len);
            valid += agree(seed, len, label);
            runs++;
        }
        free(b);
    }
    print_message("%zu mutated documents (%zu valid); %zu times jansson accepted a NUL after a "
                  "number/literal\n",
                  runs, valid, nul_quirks);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void random_multi_mutations_agree(void **state)
{
    static const char *pieces[] = {
        "\"",
        "\\",
        "\\u",
        "\\uD800",
        "\\uDC00",
        "\\u0000",
        "\xc3\xa9",
        "\xed\xa0\x80",
        ",",
        ":",
        "[",
        "]",
        "{",
        "}",
        "-0",
        "1e400",
        "00",
        "true",
        " ",
        "\\n",
        "9223372036854775808",
        "0.5",
        "\"role\":",
        "\"model\":",
        "null",
    };
    size_t valid = 0, runs = 20000;
    char b[1024];
    for (size_t it = 0; it < runs; it++) {
        const char *seed = seeds[next_random() % (sizeof seeds / sizeof seeds[0])];
        size_t n = strlen(seed);
        memcpy(b, seed, n);
        int edits = 1 + (int)(next_random() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = n ? next_random() % n : 0;
            switch (next_random() % 3) {
            case 0:
                b[at] = (char)replacements[next_random() % sizeof replacements];
                break;
            case 1: { /* insert a piece */
                const char *pc = pieces[next_random() % (sizeof pieces / sizeof pieces[0])];
                size_t pl = strlen(pc);
                if (n + pl > sizeof b) break;
                memmove(b + at + pl, b + at, n - at);
                memcpy(b + at, pc, pl);
                n += pl;
                break;
            }
            default: { /* delete a short run */
                size_t dl = 1 + next_random() % 4;
                if (at + dl > n) dl = n - at;
                memmove(b + at, b + at + dl, n - at - dl);
                n -= dl;
                break;
            }
            }
        }
        char label[48];
        snprintf(label, sizeof label, "random %zu", it);
        valid += agree(b, n, label);
    }
    print_message("%zu random mutations (%zu valid)\n", runs, valid);
}

/* ---- errors ---- */

static void error_positions(void **state)
{
    static const struct {
        const char *s;
        size_t pos;
        int line, column;
    } cases[] = {
        {"", 0, 1, 1},
        {"  1", 2, 1, 3},
        {"[1,]", 3, 1, 4},
        {"[\"a\x01\"]", 3, 1, 4},
        {"[] x", 3, 1, 4},
        {"[\"abc", 5, 1, 6},
        {"{\"a\":1 \"b\":2}", 7, 1, 8},
        {"[\n  x]", 4, 2, 3},
        {"[\"\xc3\xa9\",\n\"\xc3\xa9\xff\"]", 10, 2, 3},
        {"[\"\\q\"]", 3, 1, 4},
        {"[\"\\uD800\"]", 2, 1, 3},
        {"[01]", 2, 1, 3},
        {"[9223372036854775808]", 1, 1, 2},
        {"[1e999]", 1, 1, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sy_jsonv_err_t err;
        assert_false(sy_jsonv_validate(cases[i].s, strlen(cases[i].s), &err));
        if (err.position != cases[i].pos || err.line != cases[i].line ||
            err.column != cases[i].column)
            fail_msg("case %zu: got %zu %d:%d (%s)", i, err.position, err.line, err.column,
                     err.text);
    }
    sy_jsonv_err_t err;
    assert_false(sy_jsonv_validate("[\"\\u0000\"]", 10, &err));
    assert_string_equal(err.text, "\\u0000 is not allowed");
    assert_false(sy_jsonv_validate("[1e309]", 7, &err));
    assert_string_equal(err.text, "real number overflow");
    assert_false(sy_jsonv_validate("[\"\\uDC01\"]", 10, &err));
    assert_string_equal(err.text, "invalid Unicode '\\uDC01'");
}

/* ---- extraction ---- */

static sy_jsonv_chat_t chat(const char *doc)
{
    sy_jsonv_chat_t c;
    sy_jsonv_err_t err;
    if (!sy_jsonv_scan_chat(doc, strlen(doc), &c, &err))
        fail_msg("unexpected error at %zu: %s", err.position, err.text);
    agree(doc, strlen(doc), doc); /* and the same facts as jansson */
    return c;
}

static void assert_span(sy_str_t s, const char *want)
{
    assert_non_null(s.ptr);
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

static void chat_basic(void **state)
{
    sy_jsonv_chat_t c =
        chat("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
             "\"hi\"}],\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    assert_true(c.is_object);
    assert_int_equal(c.model_type, SY_JSONV_STRING);
    assert_span(c.model, "\"gpt-4o\"");
    assert_false(c.model_has_escape);
    assert_int_equal(c.messages_type, SY_JSONV_ARRAY);
    assert_int_equal(c.messages_count, 1);
    assert_int_equal(c.bad_message_index, -1);
    assert_int_equal(c.bad_message_reason, SY_JSONV_MSG_OK);
    assert_int_equal(c.stream_type, SY_JSONV_TRUE);
    assert_int_equal(c.stream_options_type, SY_JSONV_OBJECT);
    assert_int_equal(c.include_usage_type, SY_JSONV_TRUE);

    c = chat("{}");
    assert_true(c.is_object);
    assert_int_equal(c.model_type, SY_JSONV_ABSENT);
    assert_null(c.model.ptr);
    assert_int_equal(c.messages_type, SY_JSONV_ABSENT);
    assert_int_equal(c.stream_type, SY_JSONV_ABSENT);
    assert_int_equal(c.bad_message_index, -1);

    c = chat("[{\"model\":\"x\",\"messages\":[1]}]");
    assert_false(c.is_object);
    assert_int_equal(c.model_type, SY_JSONV_ABSENT);
    assert_int_equal(c.messages_type, SY_JSONV_ABSENT);
}

static void chat_model_last_wins_and_types(void **state)
{
    sy_jsonv_chat_t c = chat("{\"model\":\"a\",\"x\":1,\"model\" : \"b\" }");
    assert_span(c.model, "\"b\"");
    c = chat("{\"model\":\"a\\n\",\"model\":\"b\"}");
    assert_false(c.model_has_escape);
    c = chat("{\"model\":\"b\",\"model\":\"a\\n\"}");
    assert_true(c.model_has_escape);
    c = chat("{\"model\":5}");
    assert_int_equal(c.model_type, SY_JSONV_NUMBER);
    assert_span(c.model, "5");
    c = chat("{\"model\":-1.5e3 }");
    assert_span(c.model, "-1.5e3");
    c = chat("{\"model\":null}");
    assert_int_equal(c.model_type, SY_JSONV_NULL);
    c = chat("{\"model\":false}");
    assert_int_equal(c.model_type, SY_JSONV_FALSE);
    c = chat("{\"model\":{\"model\":\"inner\",\"a\":[1,{}]}}");
    assert_int_equal(c.model_type, SY_JSONV_OBJECT);
    assert_span(c.model, "{\"model\":\"inner\",\"a\":[1,{}]}");
    c = chat("{\"model\":[\"a\"],\"stream\":false}");
    assert_int_equal(c.model_type, SY_JSONV_ARRAY);
    assert_span(c.model, "[\"a\"]");
    assert_int_equal(c.stream_type, SY_JSONV_FALSE);
    c = chat("{\"model\":\"\"}");
    assert_span(c.model, "\"\"");
    /* nested "model" keys are not the model */
    c = chat("{\"x\":{\"model\":\"n\"},\"messages\":[{\"role\":\"user\",\"model\":\"z\"}],"
             "\"y\":[{\"model\":1}]}");
    assert_int_equal(c.model_type, SY_JSONV_ABSENT);
    assert_null(c.model.ptr);
}

static void chat_escaped_keys_and_model(void **state)
{
    sy_jsonv_chat_t c = chat("{\"mod\\u0065l\":\"gpt\\u002d4\\/o\"}");
    assert_int_equal(c.model_type, SY_JSONV_STRING);
    assert_true(c.model_has_escape);
    char buf[32];
    size_t len;
    assert_true(sy_jsonv_string_decode(c.model, buf, sizeof buf, &len));
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "gpt-4/o", 7);
    c = chat("{\"\\u006d\\u006F\\u0064\\u0065\\u006c\":1,\"\\u0073tream\":true}");
    assert_int_equal(c.model_type, SY_JSONV_NUMBER);
    assert_int_equal(c.stream_type, SY_JSONV_TRUE);
    c = chat("{\"model\\n\":1,\"modelx\":2,\"Model\":3,\"mode\":4,"
             "\"a-very-long-key-with-an-escape\\n-that-does-not-fit\":5}");
    assert_int_equal(c.model_type, SY_JSONV_ABSENT);
    c = chat("{\"messages\":[{\"r\\u006fle\":\"user\"}],\"stream_options\":{\"include_\\u0075sage\""
             ":null}}");
    assert_int_equal(c.bad_message_index, -1);
    assert_int_equal(c.include_usage_type, SY_JSONV_NULL);
}

static void chat_messages(void **state)
{
    sy_jsonv_chat_t c = chat("{\"messages\":[{\"role\":\"user\"},1,{}]}");
    assert_int_equal(c.messages_count, 3);
    assert_int_equal(c.bad_message_index, 1);
    assert_int_equal(c.bad_message_reason, SY_JSONV_MSG_NOT_OBJECT);
    c = chat("{\"messages\":[{\"role\":\"user\"},{\"content\":\"x\"},2]}");
    assert_int_equal(c.bad_message_index, 1);
    assert_int_equal(c.bad_message_reason, SY_JSONV_MSG_BAD_ROLE);
    c = chat("{\"messages\":[{\"role\":1}]}");
    assert_int_equal(c.bad_message_index, 0);
    assert_int_equal(c.bad_message_reason, SY_JSONV_MSG_BAD_ROLE);
    c = chat("{\"messages\":[{\"role\":1,\"role\":\"user\"}]}");
    assert_int_equal(c.bad_message_index, -1);
    c = chat("{\"messages\":[{\"role\":\"user\",\"role\":null}]}");
    assert_int_equal(c.bad_message_index, 0);
    c = chat("{\"messages\":[{\"content\":{\"role\":\"x\"}}]}");
    assert_int_equal(c.bad_message_index, 0);
    assert_int_equal(c.bad_message_reason, SY_JSONV_MSG_BAD_ROLE);
    c = chat("{\"messages\":[[{\"role\":\"x\"}]]}");
    assert_int_equal(c.bad_message_index, 0);
    assert_int_equal(c.bad_message_reason, SY_JSONV_MSG_NOT_OBJECT);
    c = chat("{\"messages\":[1],\"messages\":[{\"role\":\"a\"},{\"role\":\"b\"}]}");
    assert_int_equal(c.messages_count, 2);
    assert_int_equal(c.bad_message_index, -1);
    c = chat("{\"messages\":[{\"role\":\"a\"}],\"messages\":{}}");
    assert_int_equal(c.messages_type, SY_JSONV_OBJECT);
    assert_int_equal(c.messages_count, 0);
    assert_int_equal(c.bad_message_index, -1);
    c = chat("{\"messages\":[]}");
    assert_int_equal(c.messages_type, SY_JSONV_ARRAY);
    assert_int_equal(c.messages_count, 0);
    c = chat("{\"x\":{\"messages\":[1]},\"messages\":\"no\"}");
    assert_int_equal(c.messages_type, SY_JSONV_STRING);
    assert_int_equal(c.bad_message_index, -1);
}

static void chat_stream_options(void **state)
{
    sy_jsonv_chat_t c = chat("{\"stream_options\":null}");
    assert_int_equal(c.stream_options_type, SY_JSONV_NULL);
    assert_int_equal(c.include_usage_type, SY_JSONV_ABSENT);
    c = chat("{\"stream_options\":{\"include_usage\":1},\"stream_options\":{}}");
    assert_int_equal(c.stream_options_type, SY_JSONV_OBJECT);
    assert_int_equal(c.include_usage_type, SY_JSONV_ABSENT);
    c = chat("{\"stream_options\":{\"x\":{\"include_usage\":true}},\"include_usage\":true}");
    assert_int_equal(c.include_usage_type, SY_JSONV_ABSENT);
    c = chat("{\"stream_options\":{\"include_usage\":true,\"include_usage\":\"no\"}}");
    assert_int_equal(c.include_usage_type, SY_JSONV_STRING);
    c = chat("{\"stream_options\":[{\"include_usage\":true}]}");
    assert_int_equal(c.stream_options_type, SY_JSONV_ARRAY);
    assert_int_equal(c.include_usage_type, SY_JSONV_ABSENT);
    c = chat("{\"stream\":null,\"stream\":\"yes\"}");
    assert_int_equal(c.stream_type, SY_JSONV_STRING);
}

static void chat_max_tokens(void **state)
{
    sy_jsonv_chat_t c = chat("{\"model\":\"m\"}");
    assert_int_equal(c.max_tokens, -1);
    assert_int_equal(c.max_completion_tokens, -1);
    c = chat("{\"max_tokens\":100,\"max_completion_tokens\":0}");
    assert_int_equal(c.max_tokens, 100);
    assert_int_equal(c.max_completion_tokens, 0);
    c = chat("{\"max_tokens\":7,\"max_tokens\":9}");
    assert_int_equal(c.max_tokens, 9); /* the last wins, as in jansson */
    c = chat("{\"max_tokens\":-1}");
    assert_int_equal(c.max_tokens, -1);
    c = chat("{\"max_tokens\":-0}");
    assert_int_equal(c.max_tokens, 0);
    c = chat("{\"max_tokens\":1.5}");
    assert_int_equal(c.max_tokens, -1);
    c = chat("{\"max_tokens\":1e3}");
    assert_int_equal(c.max_tokens, -1);
    c = chat("{\"max_tokens\":\"100\"}");
    assert_int_equal(c.max_tokens, -1);
    c = chat("{\"max_tokens\":{\"max_tokens\":5}}");
    assert_int_equal(c.max_tokens, -1);
    c = chat("{\"x\":{\"max_tokens\":5},\"messages\":[{\"role\":\"user\",\"max_tokens\":6}]}");
    assert_int_equal(c.max_tokens, -1); /* only the top level counts */
    c = chat("{\"max_tokens\":999999999999999}");
    assert_int_equal(c.max_tokens, 999999999999999ll);
    c = chat("{\"max_tokens\":1000000000000000}");
    assert_int_equal(c.max_tokens, -1);
    c = chat("{\"max_tokens\":12,\"max_tokens\":null}");
    assert_int_equal(c.max_tokens, -1);
}

static void string_decode(void **state)
{
    char out[64];
    size_t len;
    assert_true(sy_jsonv_string_decode(SY_STR_LIT("\"\""), out, 0, &len));
    assert_int_equal(len, 0);
    assert_true(sy_jsonv_string_decode(SY_STR_LIT("\"a\\\"\\\\\\/\\b\\f\\n\\r\\tz\""), out,
                                       sizeof out, &len));
    assert_int_equal(len, 10);
    assert_memory_equal(out, "a\"\\/\b\f\n\r\tz", 10);
    assert_true(sy_jsonv_string_decode(SY_STR_LIT("\"\\u00e9\\u20AC\\uD834\\uDD1E\xc3\xa9\""), out,
                                       sizeof out, &len));
    assert_int_equal(len, 2 + 3 + 4 + 2);
    assert_memory_equal(out, "\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\xc3\xa9", len);
    /* cap */
    sy_str_t t = SY_STR_LIT("\"\\uD834\\uDD1E\"");
    assert_false(sy_jsonv_string_decode(t, out, 3, &len));
    assert_true(sy_jsonv_string_decode(t, out, 4, &len));
    assert_false(sy_jsonv_string_decode(SY_STR_LIT("\"abc\""), out, 2, &len));
    assert_true(sy_jsonv_string_decode(SY_STR_LIT("\"abc\""), out, 3, &len));
    /* malformed tokens */
    assert_false(sy_jsonv_string_decode(SY_STR_LIT("abc"), out, sizeof out, &len));
    assert_false(sy_jsonv_string_decode(SY_STR_LIT("\""), out, sizeof out, &len));
    assert_false(sy_jsonv_string_decode(SY_STR_LIT("\"\\\""), out, sizeof out, &len));
    assert_false(sy_jsonv_string_decode(SY_STR_LIT("\"\\x\""), out, sizeof out, &len));
    assert_false(sy_jsonv_string_decode(SY_STR_LIT("\"\\u12\""), out, sizeof out, &len));
    assert_false(sy_jsonv_string_decode(SY_STR_LIT("\"\\uD800\""), out, sizeof out, &len));
    assert_false(sy_jsonv_string_decode(SY_STR_LIT("\"\\uDC00\""), out, sizeof out, &len));
    assert_false(sy_jsonv_string_decode(SY_STR_LIT("\"\\uD800\\u0041\""), out, sizeof out, &len));
    assert_false(sy_jsonv_string_decode(SY_STR_NULL, out, sizeof out, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_agrees_with_jansson),
        cmocka_unit_test(depth_limit_matches_jansson),
        cmocka_unit_test(real_overflow_boundary_matches_jansson),
        cmocka_unit_test(single_byte_mutations_agree),
        cmocka_unit_test(random_multi_mutations_agree),
        cmocka_unit_test(error_positions),
        cmocka_unit_test(chat_basic),
        cmocka_unit_test(chat_model_last_wins_and_types),
        cmocka_unit_test(chat_escaped_keys_and_model),
        cmocka_unit_test(chat_messages),
        cmocka_unit_test(chat_stream_options),
        cmocka_unit_test(chat_max_tokens),
        cmocka_unit_test(string_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
