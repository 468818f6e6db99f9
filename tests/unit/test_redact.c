#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logpipe/redact.h"

static sy_redact_t *make(const sy_redact_conf_t *c)
{
    char err[256];
    sy_redact_t *r = sy_redact_new(c, err, sizeof err);
    if (!r) fail_msg("sy_redact_new: %s", err);
    return r;
}

static sy_redact_t *make_default(void)
{
    sy_redact_conf_t c = {0};
    return make(&c);
}

/* Redacts a NUL-terminated string; the result is valid until the next call. */
static const char *red(const sy_redact_t *r, const char *s)
{
    static char res[8192];
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    sy_err_t err = sy_redact_apply(r, s, strlen(s), &b, NULL);
    if (err) fail_msg("sy_redact_apply(\"%s\") = %d", s, err);
    snprintf(res, sizeof res, "%.*s", (int)b.len, b.base ? b.base : "");
    sy_buf_dispose(&b);
    return res;
}

/* Each true positive must be replaced in full, inside a sentence; each false positive must
 * come back unchanged. */
static void check(const sy_redact_t *r, const char *label, const char *const *tp, size_t ntp,
                  const char *const *fp, size_t nfp)
{
    char in[1024], want[1024];
    for (size_t i = 0; i < ntp; i++) {
        snprintf(in, sizeof in, "see %s, thanks", tp[i]);
        snprintf(want, sizeof want, "see %s, thanks", label);
        const char *got = red(r, in);
        if (strcmp(got, want) != 0) fail_msg("true positive %s: \"%s\" -> \"%s\"", label, in, got);
    }
    for (size_t i = 0; i < nfp; i++) {
        snprintf(in, sizeof in, "see %s, thanks", fp[i]);
        const char *got = red(r, in);
        if (strcmp(got, in) != 0) fail_msg("false positive %s: \"%s\" -> \"%s\"", label, in, got);
    }
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define CHECK(r, label, tp, fp) check(r, label, tp, N(tp), fp, N(fp))

/* Strings that look a bit like everything and must never be redacted. */
static const char *const common_fp[] = {
    "123e4567-e89b-12d3-a456-426614174000",     /* UUID */
    "d41d8cd98f00b204e9800998ecf8427e",         /* md5 */
    "da39a3ee5e6b4b0d3255bfef95601890afd80709", /* sha1 */
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "2024-01-15T12:30:45.123Z",
    "12:30:45",
    "1.2.3",
    "v2.10.4-rc.1",
    "order 1234567812345678",
    "1700000000000",
    "std::vector<int>",
    "@Override",
    "decorator @app.route('/')",
    "x = a@b",
    "ThisIsJustACamelCaseIdentifierWithNoSecrets",
    "price: $1,234.56",
    "tokens: 1024",
};

static void common_false_positives(void **state)
{
    sy_redact_t *r = make_default();
    check(r, "", NULL, 0, common_fp, N(common_fp));
    sy_redact_free(r);
}

static void emails(void **state)
{
    sy_redact_t *r = make_default();
    static const char *const tp[] = {
        "alice@example.com",
        "Bob.Smith+tag@mail.example.co.uk",
        "x_y-z@sub-domain.example.io",
        "jos\xc3\xa9@ex\xc3\xa4mple.com", /* UTF-8 in local part and domain */
        "USER@EXAMPLE.ORG",
        "first.last@xn--bcher-kva.example",
    };
    static const char *const fp[] = {
        "a@b",     "user@localhost", "lodash@4.17.21",        "npm i react@18.2.0",
        "foo@bar", "@media screen",  "git tag v1@2024-01-01",
    };
    CHECK(r, "[EMAIL]", tp, fp);
    /* Sentence punctuation after the address stays. */
    assert_string_equal(red(r, "mail alice@example.com."), "mail [EMAIL].");
    assert_string_equal(red(r, "<alice@example.com>"), "<[EMAIL]>");
    sy_redact_free(r);
}

static void cards(void **state)
{
    sy_redact_t *r = make_default();
    static const char *const tp[] = {
        "4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111",     "5500 0000 0000 0004",
        "378282246310005",  "3782 822463 10005",   "6011111111111117",        "2223000048400011",
        "4222222222222",    "4111111111111111110", "4111 1111 1111 1111 110",
    };
    static const char *const fp[] = {
        "4111111111111112",      /* Luhn fails */
        "4111 1111 1111 1112",   /* Luhn fails, grouped */
        "1234567812345678",      /* Luhn fails, starts with 1 */
        "1000000000000009",      /* Luhn-valid but first digit 1 (not a payment card) */
        "7000000000000005",      /* first digit 7 */
        "ORD-4111111111111111",  /* part of an id */
        "41111111111111111111",  /* 20 digits */
        "411111111111",          /* 12 digits */
        "4111 1111 1111 1111 1", /* 17 digits in an odd grouping, Luhn fails */
        "41 11 11 11 11 11 11 11",
    };
    CHECK(r, "[CARD]", tp, fp);
    sy_redact_free(r);
}

static void ssns(void **state)
{
    sy_redact_t *r = make_default();
    static const char *const tp[] = {"123-45-6789", "078-05-1120", "665-01-0001", "899-99-9999"};
    static const char *const fp[] = {
        "000-12-3456", "666-12-3456", "900-12-3456",  "999-12-3456", "123-00-4567",
        "123-45-0000", "123456789",   "123-45-67890", "2023-01-15",  "x123-45-6789",
    };
    CHECK(r, "[SSN]", tp, fp);
    sy_redact_free(r);
}

static void phones(void **state)
{
    sy_redact_t *r = make_default();
    static const char *const tp[] = {
        "+1 415 555 2671", "+14155552671",      "+44 20 7183 8750", "+49 (30) 1234567",
        "(415) 555-2671",  "415-555-2671",      "415.555.2671",     "415 555 2671",
        "1-800-555-0199",  "+33 1 42 68 53 00",
    };
    static const char *const fp[] = {
        "4155552671",        /* unformatted 10 digits: an order id as far as we know */
        "+123",              /* too short */
        "+1234567890123456", /* 16 digits: over E.164 */
        "123-456-7890",      /* area code cannot start with 1 */
        "415-155-2671",      /* exchange cannot start with 1 */
        "x+12345678",        /* arithmetic */
        "2024-01-15",
        "415-555-26710",
        "3.14159.2653",
    };
    CHECK(r, "[PHONE]", tp, fp);
    sy_redact_free(r);
}

static void ipv4(void **state)
{
    sy_redact_t *r = make_default();
    static const char *const tp[] = {"10.0.0.1", "192.168.1.254", "255.255.255.255", "8.8.8.8",
                                     "0.0.0.0"};
    static const char *const fp[] = {
        "1.2.3.4.5", "256.1.1.1",   "10.0.19045.3803",
        "192.168.1", "01.02.03.04", "Chrome/120.0.6099.109",
        "v1.2.3.4",  "1.2.3.4a",
    };
    CHECK(r, "[IPV4]", tp, fp);
    assert_string_equal(red(r, "connect 10.0.0.1:8080 now"), "connect [IPV4]:8080 now");
    assert_string_equal(red(r, "net 10.0.0.0/8."), "net [IPV4]/8.");
    sy_redact_free(r);
}

static void ipv6(void **state)
{
    sy_redact_t *r = make_default();
    static const char *const tp[] = {
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "2001:db8::8a2e:370:7334",
        "2001:db8::1",
        "::1",
        "fe80::1",
        "::ffff:192.168.1.1",
        "64:ff9b::192.0.2.33",
        "2001:DB8:0:0:8:800:200C:417A",
        "1::",
    };
    static const char *const fp[] = {
        "12:30:45", "12:30:45.123",      "::",    "a::b",    "dead::beef", "Foo::bar",
        "std::io",  "00:1a:2b:3c:4d:5e", "1:2:3", "1::2::3",
    };
    CHECK(r, "[IPV6]", tp, fp);
    assert_string_equal(red(r, "ping fe80::1%eth0"), "ping [IPV6]%eth0");
    assert_string_equal(red(r, "[2001:db8::1]:443"), "[[IPV6]]:443");
    sy_redact_free(r);
}

static void secrets(void **state)
{
    sy_redact_t *r = make_default();
    static const char *const openai[] = {
        "sk-proj-abc123DEF456ghi789JKL012mno345PQR678stu901",
        "sk-AbCdEfGh1234567890IjKlMnOpQrStUvWxYz1234567890ab",
        "sk-svcacct-Zx9_Yw8-Vu7Ts6Rq5Po4Nm3Lk2Ji1",
    };
    static const char *const openai_fp[] = {
        "sk-learn",
        "task-management-system-design-v2-final",
        "sk-this-is-a-long-descriptive-slug",
        "sk-short123",
    };
    CHECK(r, "[OPENAI_KEY]", openai, openai_fp);

    static const char *const ant[] = {
        "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
        "AbCdEfGhIjKlMnOpQrStUvWxYzAA",
        "sk-ant-admin01-abcdefghijklmnopqrstuvwxyz",
    };
    static const char *const ant_fp[] = {"sk-ant-short", "desk-ant-api03-abcdefghijklmnopqrstuvwx"};
    CHECK(r, "[ANTHROPIC_KEY]", ant, ant_fp);

    static const char *const aws[] = {"AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A"};
    static const char *const aws_fp[] = {"AKIAIOSFODNN7EXAMPL", "XAKIAIOSFODNN7EXAMPLE",
                                         "akiaiosfodnn7example", "AKIAIOSFODNN7EXAMPLEX"};
    CHECK(r, "[AWS_ACCESS_KEY]", aws, aws_fp);

    static const char *const jwt[] = {
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
        "aWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", /* alg none: empty signature */
    };
    static const char *const jwt_fp[] = {"eyJhbGciOiJIUzI1NiJ9", "eyJ.foo.bar",
                                         "heyJhbGciOiJIUzI1.a.b"};
    CHECK(r, "[JWT]", jwt, jwt_fp);

    static const char *const sy[] = {"sy-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbCDe",
                                     "sy-0123456789012345678901234567890123456789012345678901"};
    static const char *const sy_fp[] = {"sy-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbCD",
                                        "easy-going", "sy-config"};
    CHECK(r, "[SWITCHYARD_KEY]", sy, sy_fp);
    sy_redact_free(r);
}

static void bearer(void **state)
{
    sy_redact_t *r = make_default();
    assert_string_equal(red(r, "Authorization: Bearer abc123.def456-ghi~jkl/mno+pqr=="),
                        "Authorization: Bearer [BEARER_TOKEN]");
    assert_string_equal(red(r, "authorization: bearer 0123456789abcdef\r\n"),
                        "authorization: bearer [BEARER_TOKEN]\r\n");
    assert_string_equal(red(r, "\"Authorization\": \"Bearer ya29.a0AfH6SMBx1234567\""),
                        "\"Authorization\": \"Bearer [BEARER_TOKEN]\"");
    /* A token of a more specific format is labelled by that format. */
    assert_string_equal(red(r, "Bearer sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123"),
                        "Bearer [ANTHROPIC_KEY]");
    assert_string_equal(red(r, "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), "Bearer [JWT]");
    /* ...unless that pattern is off: then the Bearer rule still catches it. */
    sy_redact_conf_t c = {0};
    c.builtin[SY_REDACT_ANTHROPIC] = SY_REDACT_OFF;
    sy_redact_t *r2 = make(&c);
    assert_string_equal(red(r2, "Bearer sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123"),
                        "Bearer [BEARER_TOKEN]");
    assert_string_equal(red(r2, "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123"),
                        "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123");
    sy_redact_free(r2);
    static const char *const fp[] = {"uses a Bearer token", "Bearer authentication scheme",
                                     "Bearer 1234", "the bearer of bad news", "Bearer"};
    check(r, "", NULL, 0, fp, N(fp));
    sy_redact_free(r);
}

static void overlapping(void **state)
{
    sy_redact_t *r = make_default();
    /* An address whose local part looks like a phone number is one e-mail. */
    assert_string_equal(red(r, "415-555-2671@example.com"), "[EMAIL]");
    /* Adjacent matches, no separator between them. */
    assert_string_equal(red(r, "alice@example.com,10.0.0.1,123-45-6789"), "[EMAIL],[IPV4],[SSN]");
    /* A Luhn-invalid card does not hide anything else, and a following valid one is found. */
    assert_string_equal(red(r, "4111111111111112, 4111111111111111"), "4111111111111112, [CARD]");
    assert_string_equal(red(r, "4111111111111111 5500000000000004"), "[CARD] [CARD]");
    /* A grouped card inside a longer run of digit groups is not taken apart. */
    assert_string_equal(red(r, "12 4111 1111 1111 1111"), "12 4111 1111 1111 1111");
    sy_redact_free(r);
}

/* The secret, card and phone patterns run only in windows found by a cheap scan (a literal's
 * rare byte, digit runs): decoys before a match, literals at the very start and end, case. */
static void prefilter_windows(void **state)
{
    (void)state;
    sy_redact_t *r = make_default();
    const char *key = "sk-proj-abc123DEF456ghi789JKL012mno345PQR678";
    char in[512], want[512];
    /* failed candidates first: "task-", "disk-", a short sk- token, then the key */
    snprintf(in, sizeof in, "task-list disk-io sk-short %s", key);
    assert_string_equal(red(r, in), "task-list disk-io sk-short [OPENAI_KEY]");
    /* at offset 0 and running to the end of the input */
    assert_string_equal(red(r, key), "[OPENAI_KEY]");
    snprintf(in, sizeof in, "x%s", key); /* glued to a letter: not a key */
    assert_string_equal(red(r, in), in);
    assert_string_equal(red(r, "AKIAIOSFODNN7EXAMPLE"), "[AWS_ACCESS_KEY]");
    assert_string_equal(red(r, "AKIA ASIA ASIAIOSFODNN7EXAMPLE"), "AKIA ASIA [AWS_ACCESS_KEY]");
    assert_string_equal(red(r, "ey eyJ eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"), "ey eyJ [JWT]");
    /* bearer in any case, after decoy 'b'/'B' words */
    assert_string_equal(red(r, "bear Bearing BEARER x bEaReR tok3n-abcdef12"),
                        "bear Bearing BEARER x bEaReR [BEARER_TOKEN]");
    assert_string_equal(red(r, "Bearer"), "Bearer");
    /* cards after digit runs that are not candidates (first digit 1, 7-9; fewer than 4) */
    assert_string_equal(red(r, "1234 9999 77 4111111111111111"), "1234 9999 77 [CARD]");
    assert_string_equal(red(r, "2024, 4111 1111 1111 1111"), "2024, [CARD]");
    assert_string_equal(red(r, "2024 4111 1111 1111 1111"), "2024 4111 1111 1111 1111");
    assert_string_equal(red(r, "4111111111111111"), "[CARD]");
    /* phones: decoy '+' and separated digits, then both forms; at the very start and end */
    assert_string_equal(red(r, "a+b +0 12-3456 call +1 415 555 2671"),
                        "a+b +0 12-3456 call [PHONE]");
    assert_string_equal(red(r, "1 (415) 555-2671"), "[PHONE]");
    assert_string_equal(red(r, "x 415.555.2671"), "x [PHONE]");
    assert_string_equal(red(r, "+44 20 7946 0958"), "[PHONE]");
    /* a long input whose only match is near the end */
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(in + n, sizeof in - n, "sk-%d ", i);
    snprintf(want, sizeof want, "%s[PHONE]", in);
    snprintf(in + n, sizeof in - n, "(415) 555-2671");
    assert_string_equal(red(r, in), want);
    sy_redact_free(r);
}

static void hash_mode(void **state)
{
    sy_redact_conf_t c = {0};
    for (int i = 0; i < SY_REDACT__BUILTIN_COUNT; i++)
        c.builtin[i] = SY_REDACT_HASH;
    for (int i = 0; i < SY_REDACT_KEY_BYTES; i++)
        c.hash_key[i] = (unsigned char)i;
    c.hash_key_set = true;
    sy_redact_t *r = make(&c);

    char a[128], b[128];
    snprintf(a, sizeof a, "%s", red(r, "mail alice@example.com"));
    assert_int_equal(strlen(a), strlen("mail [EMAIL:0123456789abcdef]"));
    assert_memory_equal(a, "mail [EMAIL:", 12);
    assert_int_equal(a[strlen(a) - 1], ']');
    /* Equal values (after normalisation) join... */
    snprintf(b, sizeof b, "%s", red(r, "mail Alice@EXAMPLE.com"));
    assert_string_equal(a, b);
    /* ...different ones do not. */
    snprintf(b, sizeof b, "%s", red(r, "mail bob@example.com"));
    assert_string_not_equal(a, b);
    /* Phones in different formats are one number. */
    snprintf(a, sizeof a, "%s", red(r, "(415) 555-2671"));
    snprintf(b, sizeof b, "%s", red(r, "+1 415.555.2671"));
    assert_string_equal(a, b);
    assert_memory_equal(a, "[PHONE:", 7);
    /* Cards with and without spaces. */
    snprintf(a, sizeof a, "%s", red(r, "4111 1111 1111 1111"));
    snprintf(b, sizeof b, "%s", red(r, "4111111111111111"));
    assert_string_equal(a, b);
    /* Bearer keeps its word in hash mode too. */
    snprintf(a, sizeof a, "%s", red(r, "Bearer abcdef0123456789"));
    assert_memory_equal(a, "Bearer [BEARER_TOKEN:", 21);

    /* Another key: other hashes. */
    snprintf(a, sizeof a, "%s", red(r, "alice@example.com"));
    c.hash_key[0] ^= 1;
    sy_redact_t *r2 = make(&c);
    snprintf(b, sizeof b, "%s", red(r2, "alice@example.com"));
    assert_string_not_equal(a, b);
    assert_memory_equal(b, "[EMAIL:", 7);
    sy_redact_free(r2);
    sy_redact_free(r);

    /* Hash mode without a key is a configuration error. */
    c.hash_key_set = false;
    char err[256];
    assert_null(sy_redact_new(&c, err, sizeof err));
    assert_non_null(strstr(err, "key"));
}

static void off_mode(void **state)
{
    sy_redact_conf_t c = {0};
    c.builtin[SY_REDACT_EMAIL] = SY_REDACT_OFF;
    sy_redact_t *r = make(&c);
    assert_string_equal(red(r, "alice@example.com 10.0.0.1"), "alice@example.com [IPV4]");
    sy_redact_free(r);

    for (int i = 0; i < SY_REDACT__BUILTIN_COUNT; i++)
        c.builtin[i] = SY_REDACT_OFF;
    r = make(&c);
    const char *s = "alice@example.com 10.0.0.1 4111111111111111 Bearer abc123456789";
    assert_string_equal(red(r, s), s);
    sy_redact_free(r);
}

static void custom_patterns(void **state)
{
    sy_redact_custom_t cu[] = {
        {.name = "order_id", .regex = "ORD-[0-9]{6}\\b"},
        {.name = "employee", .regex = "\\bEMP([A-Z])\\1[0-9]{4}\\b", .label = "STAFF"},
        {.name = "ticket", .regex = "TCK-[0-9]+", .mode = SY_REDACT_HASH},
        {.name = "unused", .regex = "never", .mode = SY_REDACT_OFF},
        {.name = "example", .regex = "example"},
        {.name = "long", .regex = "zed@example\\.com and more"},
    };
    sy_redact_conf_t c = {.custom = cu, .ncustom = N(cu), .hash_key_set = true};
    sy_redact_t *r = make(&c);
    assert_string_equal(red(r, "order ORD-123456 shipped"), "order [ORDER_ID] shipped");
    assert_string_equal(red(r, "order ORD-1234567 shipped"), "order ORD-1234567 shipped");
    assert_string_equal(red(r, "by EMPAA1234 and EMPAB1234"), "by [STAFF] and EMPAB1234");
    const char *t = red(r, "TCK-42");
    assert_int_equal(strlen(t), strlen("[TICKET:0123456789abcdef]"));
    assert_string_equal(red(r, "never"), "never");
    /* Overlap: the earlier start wins; at the same start the longer one wins. */
    assert_string_equal(red(r, "mail alice@example.com"), "mail [EMAIL]");
    assert_string_equal(red(r, "an example"), "an [EXAMPLE]");
    assert_string_equal(red(r, "zed@example.com and more"), "[LONG]");
    assert_string_equal(red(r, "zed@example.com only"), "[EMAIL] only");

    sy_redact_stats_t st = {0};
    sy_buf_t b;
    sy_buf_init(&b, 4096);
    const char *s = "ORD-000001 ORD-000002 alice@example.com";
    assert_int_equal(sy_redact_apply(r, s, strlen(s), &b, &st), SY_OK);
    assert_int_equal(st.total, 3);
    assert_int_equal(st.count[SY_REDACT_EMAIL], 1);
    assert_int_equal(st.count[SY_REDACT__BUILTIN_COUNT], 2);
    assert_string_equal(sy_redact_pattern_name(r, SY_REDACT__BUILTIN_COUNT), "order_id");
    assert_string_equal(sy_redact_pattern_name(r, SY_REDACT_EMAIL), "email");
    assert_int_equal(sy_redact_pattern_count(r), SY_REDACT__BUILTIN_COUNT + N(cu));
    assert_null(sy_redact_pattern_name(r, SY_REDACT__BUILTIN_COUNT + N(cu)));
    sy_buf_dispose(&b);
    sy_redact_free(r);
}

static void custom_errors(void **state)
{
    char err[256];
    sy_redact_custom_t bad = {.name = "order_id", .regex = "ORD-(\\d+"};
    sy_redact_conf_t c = {.custom = &bad, .ncustom = 1};
    assert_null(sy_redact_new(&c, err, sizeof err));
    assert_non_null(strstr(err, "'order_id'"));
    assert_non_null(strstr(err, "missing closing parenthesis"));
    assert_non_null(strstr(err, "offset"));

    bad.regex = "(*UTF)x";
    assert_null(sy_redact_new(&c, err, sizeof err));
    assert_non_null(strstr(err, "'order_id'"));

    bad.mode = SY_REDACT_OFF; /* an unused pattern is still validated */
    bad.regex = "[z-a]";
    assert_null(sy_redact_new(&c, err, sizeof err));
    assert_non_null(strstr(err, "range out of order"));

    bad.name = NULL;
    bad.regex = "x";
    assert_null(sy_redact_new(&c, err, sizeof err));
    assert_non_null(strstr(err, "name"));

    sy_redact_custom_t many[SY_REDACT_MAX_CUSTOM + 1];
    for (size_t i = 0; i < N(many); i++)
        many[i] = (sy_redact_custom_t){.name = "x", .regex = "x"};
    c.custom = many;
    c.ncustom = N(many);
    assert_null(sy_redact_new(&c, err, sizeof err));
    assert_non_null(strstr(err, "at most"));
}

static void custom_runaway(void **state)
{
    sy_redact_custom_t cu = {.name = "slow", .regex = "(a|aa)+$"};
    sy_redact_conf_t c = {.custom = &cu, .ncustom = 1, .match_limit = 10000};
    sy_redact_t *r = make(&c);
    char in[200];
    int n = snprintf(in, sizeof in, "alice@example.com ");
    memset(in + n, 'a', 100);
    in[n + 100] = 'b';
    sy_buf_t b;
    sy_buf_init(&b, 4096);
    assert_int_equal(sy_redact_apply(r, in, (size_t)n + 101, &b, NULL), SY_ERR_INTERNAL);
    /* Whatever was appended is redacted. */
    assert_null(memmem(b.base ? b.base : "", b.len, "alice", 5));
    sy_buf_dispose(&b);
    sy_redact_free(r);
}

static void output_cap(void **state)
{
    sy_redact_t *r = make_default();
    sy_buf_t b;
    sy_redact_stats_t st = {0};
    const char *s = "hello alice@example.com world";

    sy_buf_init(&b, 10); /* "hello " fits, "[EMAIL]" does not: never half a label */
    assert_int_equal(sy_redact_apply(r, s, strlen(s), &b, &st), SY_ERR_TOO_LARGE);
    assert_true(st.truncated);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.base, "hello ", 6);
    sy_buf_dispose(&b);

    sy_buf_init(&b, 16); /* plain text after a label is cut at the byte */
    assert_int_equal(sy_redact_apply(r, s, strlen(s), &b, NULL), SY_ERR_TOO_LARGE);
    assert_int_equal(b.len, 16);
    assert_memory_equal(b.base, "hello [EMAIL] wo", 16);
    sy_buf_dispose(&b);

    sy_buf_init(&b, 19); /* exactly enough */
    memset(&st, 0, sizeof st);
    assert_int_equal(sy_redact_apply(r, s, strlen(s), &b, &st), SY_OK);
    assert_false(st.truncated);
    assert_int_equal(b.len, 19);
    sy_buf_dispose(&b);

    /* Appends after what is already there. */
    sy_buf_init(&b, 100);
    sy_buf_append_c(&b, "req: ");
    assert_int_equal(sy_redact_apply(r, s, strlen(s), &b, NULL), SY_OK);
    assert_memory_equal(b.base, "req: hello [EMAIL] world", b.len);
    sy_buf_dispose(&b);
    sy_redact_free(r);
}

static void bytes_and_edges(void **state)
{
    sy_redact_t *r = make_default();
    sy_buf_t b;
    sy_buf_init(&b, 4096);
    /* Invalid UTF-8 and NUL bytes around matches. */
    static const char in[] = "\xff\xfe\x00 alice@example.com \xc3\x28 10.0.0.1\x80";
    static const char want[] = "\xff\xfe\x00 [EMAIL] \xc3\x28 [IPV4]\x80";
    assert_int_equal(sy_redact_apply(r, in, sizeof in - 1, &b, NULL), SY_OK);
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.base, want, sizeof want - 1);
    /* Empty input. */
    sy_buf_reset(&b);
    sy_redact_stats_t st = {0};
    assert_int_equal(sy_redact_apply(r, "", 0, &b, &st), SY_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(st.total, 0);
    /* A match at the very end, and input that is only a match. */
    assert_string_equal(red(r, "10.0.0.1"), "[IPV4]");
    assert_string_equal(red(r, "x 123-45-6789"), "x [SSN]");
    /* Every byte value, no crash, nothing lost. */
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    sy_buf_reset(&b);
    assert_int_equal(sy_redact_apply(r, all, sizeof all, &b, NULL), SY_OK);
    assert_int_equal(b.len, sizeof all);
    sy_buf_dispose(&b);
    sy_redact_free(r);
}

static void one_megabyte(void **state)
{
    sy_redact_t *r = make_default();
    size_t cap = 1 << 20, len = 0, planted = 0;
    char *in = malloc(cap);
    static const char *const filler[] = {
        "The quick brown fox jumps over the lazy dog. ",
        "Version 1.2.3 was released on 2024-01-15 at 12:30:45 UTC. ",
        "Order 1234567812345678 ships today; see id 123e4567-e89b-12d3-a456-426614174000. ",
        "def f(x): return x @ w + b  # matrix product\n",
    };
    while (len + 200 < cap) {
        const char *f = filler[len % N(filler)];
        memcpy(in + len, f, strlen(f));
        len += strlen(f);
        if (len % 7 == 0) {
            int n = sprintf(in + len, "mail user%zu@example.com now. ", planted);
            len += (size_t)n;
            planted++;
        }
    }
    sy_buf_t b;
    sy_buf_init(&b, 2 * cap);
    sy_redact_stats_t st = {0};
    assert_int_equal(sy_redact_apply(r, in, len, &b, &st), SY_OK);
    assert_true(planted > 100);
    assert_int_equal(st.total, planted);
    assert_int_equal(st.count[SY_REDACT_EMAIL], planted);
    assert_null(memmem(b.base, b.len, "@example.com", 12));
    sy_buf_dispose(&b);
    free(in);
    sy_redact_free(r);
}

static void names(void **state)
{
    sy_redact_builtin_t b;
    sy_redact_mode_t m;
    assert_true(sy_redact_builtin_from_name("email", &b));
    assert_int_equal(b, SY_REDACT_EMAIL);
    assert_true(sy_redact_builtin_from_name("anthropic_key", &b));
    assert_int_equal(b, SY_REDACT_ANTHROPIC);
    assert_false(sy_redact_builtin_from_name("nope", &b));
    assert_string_equal(sy_redact_builtin_name(SY_REDACT_IPV6), "ipv6");
    assert_true(sy_redact_mode_from_name("hash", &m));
    assert_int_equal(m, SY_REDACT_HASH);
    assert_false(sy_redact_mode_from_name("HASH", &m));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(common_false_positives),
        cmocka_unit_test(emails),
        cmocka_unit_test(cards),
        cmocka_unit_test(ssns),
        cmocka_unit_test(phones),
        cmocka_unit_test(ipv4),
        cmocka_unit_test(ipv6),
        cmocka_unit_test(secrets),
        cmocka_unit_test(bearer),
        cmocka_unit_test(overlapping),
        cmocka_unit_test(prefilter_windows),
        cmocka_unit_test(hash_mode),
        cmocka_unit_test(off_mode),
        cmocka_unit_test(custom_patterns),
        cmocka_unit_test(custom_errors),
        cmocka_unit_test(custom_runaway),
        cmocka_unit_test(output_cap),
        cmocka_unit_test(bytes_and_edges),
        cmocka_unit_test(one_megabyte),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
