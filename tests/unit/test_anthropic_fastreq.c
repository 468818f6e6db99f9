/* Differential tests of the request fast path (providers/anthropic_fastreq.c) against the jansson
 * path (sy_anthropic_fmt_request_slow): whenever the fast path accepts a body, its output must be
 * byte for byte the jansson path's, with the same out fields. Corpus: bench/chat-1k.json, the
 * requests of tests/cases/anthropic/ files (with their model defaults), generated variants, and
 * single-byte mutations and truncations (which must never crash nor be accepted when invalid). */
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

#include "providers/anthropic_fastreq.h"
#include "providers/anthropic_fmt.h"

static sy_fmt_req_opts_t opts(void)
{
    return (sy_fmt_req_opts_t){.upstream_model = "claude-sonnet-4-5", .default_max_tokens = 4096};
}

/* Runs both paths on an exact-size heap copy (so ASan sees any over-read). Returns whether the
 * fast path accepted; fails the test if it accepted and differs from the jansson path. */
static bool check(const char *body, size_t len, const sy_fmt_req_opts_t *o)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, body, len);
    sy_fmt_req_t fast, slow, pub;
    memset(&fast, 0x5a, sizeof fast);
    bool accepted = sy_anthropic_fast_request(copy, len, o, &fast);
    sy_err_t serr = sy_anthropic_fmt_request_slow(copy, len, o, &slow);
    sy_err_t perr = sy_anthropic_fmt_request(copy, len, o, &pub);
    if (accepted) {
        if (serr != SY_OK)
            fail_msg("fast path accepted what the jansson path rejects (%d, %s: %s): %.*s", serr,
                     slow.err_param, slow.err_msg, (int)len, body);
        if (fast.len != slow.len || memcmp(fast.body, slow.body, slow.len))
            fail_msg("bodies differ\n in:   %.*s\n fast: %.*s\n slow: %s", (int)len, body,
                     (int)fast.len, fast.body, slow.body);
        assert_int_equal(fast.body[fast.len], '\0');
        assert_int_equal(fast.stream, slow.stream);
        assert_int_equal(fast.include_usage, slow.include_usage);
        assert_string_equal(fast.warnings, slow.warnings);
        free(fast.body);
    }
    /* the public entry point answers as the jansson path does, whichever path ran */
    assert_int_equal(perr, serr);
    if (!serr) {
        assert_int_equal(pub.len, slow.len);
        assert_memory_equal(pub.body, slow.body, slow.len);
        assert_int_equal(pub.stream, slow.stream);
        assert_int_equal(pub.include_usage, slow.include_usage);
        assert_string_equal(pub.warnings, slow.warnings);
    } else {
        assert_string_equal(pub.err_param, slow.err_param);
    }
    free(slow.body);
    free(pub.body);
    free(copy);
    return accepted;
}

static bool check_s(const char *body, const sy_fmt_req_opts_t *o)
{
    return check(body, strlen(body), o);
}

/* Test JSON is written with single quotes; q() turns them into double quotes. */
static const char *q(const char *s)
{
    static char ring[4][8192];
    static int next;
    char *d = ring[next++ % 4];
    size_t n = strlen(s);
    assert_true(n < sizeof ring[0]);
    for (size_t i = 0; i <= n; i++)
        d[i] = s[i] == '\'' ? '"' : s[i];
    return d;
}

static char *read_file(const char *rel, size_t *len)
{
    const char *src = getenv("SY_TEST_SRC");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", src ? src : ".", rel);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* ------------------------------------------------------------------ fixed inputs */

static void bench_body_is_fast(void **state)
{
    size_t len;
    char *b = read_file("bench/chat-1k.json", &len);
    sy_fmt_req_opts_t o = opts();
    assert_true(check(b, len, &o));
    free(b);
}

/* Shapes the fast path must take (so the differential tests below are not vacuous). */
static void accepted_shapes(void **state)
{
    sy_fmt_req_opts_t o = opts();
    static const char *const in[] = {
        "{'model':'m','messages':[{'role':'user','content':'Hi'}]}",
        "{'messages':[{'role':'user','content':'Hi'}]}",
        " {\n 'model' : 'gpt-4o' ,\t'messages' : [ { 'content' : 'Hi' , 'role' : 'user' } ] }\r\n",
        "{'model':'m','messages':[{'role':'system','content':'S'},{'role':'developer','content':'D'"
        "},"
        "{'role':'user','content':'a'},{'role':'user','content':'b'},{'role':'assistant',"
        "'content':''},{'role':'user','content':'c'},{'role':'system','content':''},"
        "{'role':'assistant','content':'x'},{'role':'system','content':'T'},"
        "{'role':'assistant','content':'y'}]}",
        "{'model':'m','messages':[{'role':'system','content':'only system'}]}",
        "{'model':'m','messages':[{'role':'user','content':''}]}",
        "{'model':'m','messages':[{'role':'user','content':'Hi'}],'max_tokens':256,"
        "'temperature':0.7,'top_p':0.9,'stop':['\\n\\nHuman:','END'],'user':'u-1',"
        "'stream':true,'stream_options':{'include_usage':true}}",
        "{'model':'m','messages':[{'role':'user','content':'Hi'}],'max_completion_tokens':9,"
        "'max_tokens':'ignored','temperature':1,'top_p':0,'stop':'x','stream':false,"
        "'stream_options':{'include_usage':true,'other':[1,{'a':'}'}]}}",
        "{'model':null,'messages':[{'role':'user','content':'Hi'}],'max_tokens':null,"
        "'temperature':null,'top_p':null,'stop':null,'user':null,'stream':null,"
        "'stream_options':null}",
        "{'model':{'nested':['x']},'messages':[{'role':'user','content':'Hi'}],'stop':[],"
        "'temperature':0.0,'top_p':1.000}",
        "{'messages':[{'role':'user','content':'\\u00e9\\u00E9 \\ud83d\\ude00 \\/ \\' \\\\ "
        "\\b\\f\\n\\r\\t \\u0001\\u001f\\u007f \\u2028 \\u0022\\u005c\\u002f caf\xc3\xa9 "
        "\xe2\x82\xac \xf0\x9f\x98\x80'},{'role':'system','content':'a\\u000ab'},"
        "{'role':'system','content':'\\ud800\\udc00'}],'user':'\\u0041','stop':'\\/'}",
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        if (!check_s(q(in[i]), &o)) fail_msg("fast path declined %s", q(in[i]));
}

/* Outside the fast shape: the fast path declines and the jansson path decides. */
static void declined_shapes(void **state)
{
    sy_fmt_req_opts_t o = opts();
    static const char *const in[] = {
        "",
        "[]",
        "{}",
        "{'messages':[]}",
        "{'messages':null}",
        "{'messages':'x'}",
        "{'messages':[{'role':'user','content':'Hi'}],'seed':1}",
        "{'messages':[{'role':'user','content':'Hi'}],'temperature':1.5}",
        "{'messages':[{'role':'user','content':'Hi'}],'temperature':2.5}",
        "{'messages':[{'role':'user','content':'Hi'}],'temperature':-0}",
        "{'messages':[{'role':'user','content':'Hi'}],'temperature':1e0}",
        "{'messages':[{'role':'user','content':'Hi'}],'temperature':0.0001}",
        "{'messages':[{'role':'user','content':'Hi'}],'temperature':'0.5'}",
        "{'messages':[{'role':'user','content':'Hi'}],'max_tokens':0}",
        "{'messages':[{'role':'user','content':'Hi'}],'max_tokens':10.0}",
        "{'messages':[{'role':'user','content':'Hi'}],'max_completion_tokens':-1,'max_tokens':5}",
        "{'messages':[{'role':'user','content':'Hi'}],'stop':[1]}",
        "{'messages':[{'role':'user','content':'Hi'}],'stream':1}",
        "{'messages':[{'role':'user','content':'Hi'}],'stream_options':true}",
        "{'messages':[{'role':'user','content':'Hi'}],'stream':true,"
        "'stream_options':{'include\\u005fusage':true}}",
        "{'messages':[{'role':'user','content':'Hi'}],'user':5}",
        "{'messages':[{'role':'user','content':'Hi'}],'tools':[]}",
        "{'messages':[{'role':'user','content':'a'}],'messages':[{'role':'user','content':'b'}]}",
        "{'messages':[{'role':'user','content':'Hi'}],'temperature':0.1,'temperature':0.2}",
        "{'m\\u0065ssages':[{'role':'user','content':'Hi'}]}",
        "{'messages':[{'role':'user','content':[{'type':'text','text':'Hi'}]}]}",
        "{'messages':[{'role':'user','content':null}]}",
        "{'messages':[{'role':'assistant','content':null}]}",
        "{'messages':[{'role':'user'}]}",
        "{'messages':[{'role':'user','content':'Hi','name':'bob'}]}",
        "{'messages':[{'role':'tool','content':'Hi','tool_call_id':'t'}]}",
        "{'messages':[{'role':'u\\u0073er','content':'Hi'}]}",
        "{'messages':[{'role':'User','content':'Hi'}]}",
        "{'messages':[{'role':'user','content':'a','content':'b'}]}",
        "{'messages':['x']}",
        "{'messages':[{'role':'user','content':'Hi'}]} x",
        "{'messages':[{'role':'user','content':'\\u0000'}]}",
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        const char *b = q(in[i]);
        sy_fmt_req_t r;
        if (sy_anthropic_fast_request(b, strlen(b), &o, &r)) fail_msg("fast path took %s", b);
        check_s(b, &o);
    }
    assert_false(sy_anthropic_fast_request(NULL, 0, &o, &(sy_fmt_req_t){0}));
    /* an upstream model that jansson would escape */
    const char *b = q("{'messages':[{'role':'user','content':'Hi'}]}");
    o.upstream_model = "a\"b";
    assert_false(check_s(b, &o));
    o.upstream_model = NULL;
    assert_true(check_s(b, &o));
}

/* temperature / top_p: jansson reprints reals with %.17g; the fast path computes that itself. */
static void numbers_as_jansson_prints_them(void **state)
{
    sy_fmt_req_opts_t o = opts();
    char b[256];
    int accepted = 0;
    for (int i = 0; i <= 1000; i++) {
        snprintf(b, sizeof b,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"temperature\":%d.%03d,"
                 "\"top_p\":0.%d}",
                 i / 1000, i % 1000, i);
        accepted += check_s(b, &o);
    }
    assert_true(accepted >= 1000);
    /* long spellings, as jansson itself writes them into model defaults (0.3 -> 0.299...) */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 3000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int zeros = (int)(x % 3), digits = 1 + (int)((x >> 8) % (zeros ? 19 - zeros : 18));
        char frac[40];
        int n = 0;
        for (int z = 0; z < zeros; z++)
            frac[n++] = '0';
        uint64_t y = x;
        for (int d = 0; d < digits; d++, y /= 7)
            frac[n++] = (char)('0' + (d == 0 ? 1 + y % 9 : y % 10));
        frac[n] = '\0';
        snprintf(b, sizeof b,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"temperature\":0.%s}",
                 frac);
        if (!check_s(b, &o)) fail_msg("declined %s", b);
    }
    static const char *const edge[] = {"0.99999999999999999", "0.9999999999999999",
                                       "0.99999999999999994", "0.001", "0.0010000000000000000",
                                       "0.5", "0.125",
                                       /* exact ties at the 17th digit: glibc rounds half to even */
                                       "0.100009918212890625", "0.100002288818359375",
                                       "0.0100040435791015625", "0.0100002288818359375"};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        snprintf(b, sizeof b,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"top_p\":%s}", edge[i]);
        if (!check_s(b, &o)) fail_msg("declined %s", b);
    }
    /* outside the handled spellings: declined, the jansson path prints them */
    static const char *const other[] = {"0.00100000000000000002", "0.0009",
                                        "0.1000000000000000055511151231257827"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        snprintf(b, sizeof b,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"top_p\":%s}", other[i]);
        if (check_s(b, &o)) fail_msg("took %s", b);
    }
}

/* ------------------------------------------------------------------ case files */

static int case_files_checked, case_files_fast;

static void run_case(const char *name, json_t *c)
{
    json_t *req = json_object_get(c, "request");
    if (!json_is_object(req)) return;
    json_t *model = json_object_get(c, "model");
    json_t *defs = json_object_get(model, "defaults");
    sy_conf_kv_t kv[16];
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(defs, k, v)
    {
        assert_true(n < 16);
        kv[n].key = (char *)k;
        kv[n].json = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); /* as config.c does */
        n++;
    }
    sy_fmt_req_opts_t o = opts();
    o.defaults = kv;
    o.n_defaults = n;
    json_t *up = json_object_get(model, "model");
    if (json_is_string(up)) o.upstream_model = json_string_value(up);
    static const size_t flags[] = {JSON_COMPACT, JSON_INDENT(2), JSON_COMPACT | JSON_SORT_KEYS,
                                   JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH};
    bool fast = false;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        char *b = json_dumps(req, flags[i]);
        fast |= check_s(b, &o);
        o.reject_unsupported = true;
        check_s(b, &o);
        o.reject_unsupported = false;
        free(b);
    }
    (void)name;
    case_files_checked++;
    case_files_fast += fast;
    for (size_t i = 0; i < n; i++)
        free(kv[i].json);
}

static void case_files(void **state)
{
    const char *src = getenv("SY_TEST_SRC");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/cases/anthropic", src ? src : ".");
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < 6 || strcmp(e->d_name + nl - 5, ".json") != 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        json_error_t je;
        json_t *c = json_load_file(path, 0, &je);
        if (!c) fail_msg("%s: %s", path, je.text);
        run_case(e->d_name, c);
        json_decref(c);
    }
    closedir(d);
    assert_true(case_files_checked >= 16);
    assert_true(case_files_fast >= 8); /* text_basic, stream_*, multi_turn_merge, defaults, ... */
}

/* ------------------------------------------------------------------ generated variants */

typedef struct gen {
    char *b;
    size_t len, cap;
} gen_t;

static void g_put(gen_t *g, const char *s)
{
    size_t n = strlen(s);
    if (g->len + n + 1 > g->cap) {
        g->cap = (g->len + n + 1) * 2;
        g->b = realloc(g->b, g->cap);
    }
    memcpy(g->b + g->len, s, n + 1);
    g->len += n;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (unsigned)(rng % n);
}

#define PICK(a) (a)[rnd(sizeof(a) / sizeof(a)[0])]

static const char *const texts[] = {
    "\"\"",
    "\"Hi\"",
    "\"Hello, world.\"",
    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
    "\"\\u00e9\\u20AC\\ud83d\\ude00\"",
    "\"quote \\\" backslash \\\\ slash \\/ end\"",
    "\"ctl \\b\\f\\n\\r\\t \\u0001 \\u001F \\u001f \\u007f\"",
    "\"\\u0022\\u005C\\u002F\\u0041\"",
    "\"line1\\nline2\\n\\nline3\"",
    "\"a long text that goes past the sixteen byte short-string loop, with \\\"quotes\\\"\"",
    "\"0123456789abcdef\\\\\"",
    "\"\\\\\\\\\\\"\"",
};
static const char *const roles[] = {"system",    "developer", "user",
                                    "assistant", "user",      "assistant"};
static const char *const ws[] = {"", "", "", " ", "\n", "\t", "\r\n  "};

static const char *const f_max[] = {NULL, "256", "1", "null", "9223372036854775807", "0", "1.0"};
static const char *const f_temp[] = {NULL,    "0",    "1",   "0.7",  "0.25", "1.0",    "0.0",
                                     "0.123", "null", "1.5", "1e-1", "0.05", "0.0001", "\"0.5\""};
static const char *const f_topp[] = {NULL, "0.9", "1", "0.95", "null", "2"};
static const char *const f_stop[] = {NULL,  "\"x\"", "[\"a\",\"b\\n\"]", "[]",         "null",
                                     "[1]", "[ ]",   "[\"\"]",           "\"\\u00e9\""};
static const char *const f_user[] = {NULL, "\"u-1\"", "null", "\"\\u0041\\/\"", "1"};
static const char *const f_stream[] = {NULL, "true", "false", "null", "0"};
static const char *const f_sopts[] = {NULL,
                                      "{\"include_usage\":true}",
                                      "{\"include_usage\":false}",
                                      "{}",
                                      "null",
                                      "{\"include_usage\":true,\"include_usage\":false}",
                                      "{\"x\":[1,{\"y\":\"}\"}],\"include_usage\":true}",
                                      "[]"};
static const char *const f_model[] = {NULL, "\"gpt-4o\"", "null", "7", "{\"a\":[]}"};
static const char *const f_extra[] = {NULL, NULL, NULL, NULL, "\"seed\":1", "\"n\":1"};

/* Model defaults as config.c writes them (jansson-compact). */
static const sy_conf_kv_t def_pool[] = {
    {"max_tokens", "1024"},
    {"max_completion_tokens", "77"},
    {"temperature", "0.29999999999999999"},
    {"temperature", "1"},
    {"top_p", "0.90000000000000002"},
    {"stop", "[\"\\n\\nUser:\"]"},
    {"stop", "\"END\""},
    {"user", "\"default-user\""},
    {"temperature", "null"},
    {"seed", "1"},
    {"max_tokens", "0"},
    {"temperature", "1.5"},
};

static void put_member(gen_t *g, bool *first, const char *key, const char *val)
{
    if (!*first) g_put(g, ",");
    *first = false;
    g_put(g, PICK(ws));
    g_put(g, "\"");
    g_put(g, key);
    g_put(g, "\"");
    g_put(g, PICK(ws));
    g_put(g, ":");
    g_put(g, PICK(ws));
    g_put(g, val);
    g_put(g, PICK(ws));
}

static void generate(gen_t *g)
{
    g->len = 0;
    g_put(g, "{");
    const char *keys[] = {"model",       "max_tokens", "max_completion_tokens",
                          "temperature", "top_p",      "stop",
                          "user",        "stream",     "stream_options"};
    const char *vals[] = {PICK(f_model), PICK(f_max),    rnd(4) ? NULL : PICK(f_max),
                          PICK(f_temp),  PICK(f_topp),   PICK(f_stop),
                          PICK(f_user),  PICK(f_stream), PICK(f_sopts)};
    unsigned msg_at = rnd(10);
    bool first = true;
    for (unsigned i = 0; i <= 9; i++) {
        if (i == msg_at) {
            if (!first) g_put(g, ",");
            first = false;
            g_put(g, "\"messages\":[");
            unsigned n = 1 + rnd(6);
            for (unsigned m = 0; m < n; m++) {
                if (m) g_put(g, ",");
                g_put(g, PICK(ws));
                g_put(g, "{");
                bool mf = true;
                char role[32];
                snprintf(role, sizeof role, "\"%s\"", PICK(roles));
                if (rnd(2)) {
                    put_member(g, &mf, "role", role);
                    put_member(g, &mf, "content", PICK(texts));
                } else {
                    put_member(g, &mf, "content", PICK(texts));
                    put_member(g, &mf, "role", role);
                }
                g_put(g, "}");
            }
            g_put(g, "]");
        }
        if (i < 9 && vals[i]) put_member(g, &first, keys[i], vals[i]);
    }
    const char *extra = PICK(f_extra);
    if (extra) {
        g_put(g, ",");
        g_put(g, extra);
    }
    g_put(g, "}");
}

static void generated_variants(void **state)
{
    gen_t g = {0};
    int accepted = 0, total = 20000;
    for (int i = 0; i < total; i++) {
        generate(&g);
        sy_fmt_req_opts_t o = opts();
        sy_conf_kv_t defs[3];
        o.n_defaults = rnd(3) ? 0 : 1 + rnd(3);
        for (size_t d = 0; d < o.n_defaults; d++)
            defs[d] = PICK(def_pool);
        o.defaults = defs;
        o.reject_unsupported = rnd(4) == 0;
        o.default_max_tokens = rnd(4) == 0 ? 0 : rnd(2) ? 4096 : 8192;
        accepted += check(g.b, g.len, &o);
    }
    free(g.b);
    print_message("fast path took %d of %d generated requests\n", accepted, total);
    assert_true(accepted > total / 20);
}

/* ------------------------------------------------------------------ mutations */

static void mutate_all(const char *body, size_t len, const sy_fmt_req_opts_t *o)
{
    static const char bytes[] = {'"', '\\', '{', '}',        '[',        ']',       ',',
                                 ':', ' ',  '0', '9',        'a',        'u',       '.',
                                 '-', 'e',  0,   (char)0x80, (char)0xc3, (char)0xff};
    char *m = malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        memcpy(m, body, len);
        for (size_t j = 0; j < sizeof bytes; j++) {
            if (body[i] == bytes[j]) continue;
            m[i] = bytes[j];
            check(m, len, o);
        }
        check(body, i, o);  /* truncation */
        memcpy(m, body, i); /* deletion */
        memcpy(m + i, body + i + 1, len - i - 1);
        check(m, len - 1, o);
    }
    free(m);
}

static void mutations_never_crash_nor_differ(void **state)
{
    size_t len;
    char *b = read_file("bench/chat-1k.json", &len);
    sy_fmt_req_opts_t o = opts();
    mutate_all(b, len, &o);
    free(b);
    static const char *const small[] = {
        "{'model':'m','messages':[{'role':'system','content':'S\\u00e9'},{'role':'user','content':"
        "'a\\\\b\\/'},{'role':'user','content':'\\ud83d\\ude00'}],'max_tokens':12,"
        "'temperature':0.25,'top_p':1,'stop':['x','y'],'user':'u','stream':true,"
        "'stream_options':{'include_usage':true}}",
    };
    sy_conf_kv_t defs[] = {{"temperature", "0.29999999999999999"}, {"stop", "[\"\\n\"]"}};
    o.defaults = defs;
    o.n_defaults = 2;
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        const char *s = q(small[i]);
        mutate_all(s, strlen(s), &o);
    }
    /* a mutated default is just as harmless */
    sy_conf_kv_t bad[] = {{"temperature", "0.5,"},
                          {"stop", "[\"a\"]]"},
                          {"user", "\"a"},
                          {"temperature", " 0.5 "},
                          {"stop", "[\"\\u0000\"]"}};
    const char *s = q("{'messages':[{'role':'user','content':'Hi'}]}");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.defaults = &bad[i];
        o.n_defaults = 1;
        check_s(s, &o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bench_body_is_fast),
        cmocka_unit_test(accepted_shapes),
        cmocka_unit_test(declined_shapes),
        cmocka_unit_test(numbers_as_jansson_prints_them),
        cmocka_unit_test(case_files),
        cmocka_unit_test(generated_variants),
        cmocka_unit_test(mutations_never_crash_nor_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
