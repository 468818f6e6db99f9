/* PII and secret redaction (see redact.h and docs/internals/REDACTION.md).
 *
 * DESIGN
 * - One JIT-compiled regex per enabled pattern. Joining them all into one alternation (each in
 *   its own capture group, rc - 1 naming the winner; the code still supports groups) was
 *   measured at 18 us/KB against 2.6 us/KB split: an alternation loses PCRE2's per-pattern
 *   start optimizations and tries every alternative at every position. Patterns carry their
 *   own boundary assertions so that none matches the tail or head of a longer token.
 * - Patterns that need a rarer byte close to their start (e-mail '@' within 64 bytes; SSN '-',
 *   IPv4 '.' within 3; IPv6 ':' within 4) are run only in the windows before such bytes, with
 *   PCRE2's offset limit capping where a match may start.
 * - Checks a regex cannot express cheaply run as PCRE2 callouts right after the alternative's
 *   group closes: the Luhn check for cards (callout 1) and the digit count of international
 *   phone numbers (callout 2). A failing callout makes PCRE2 backtrack into the next
 *   alternative, so a Luhn-invalid order id can still be found by another pattern at the same
 *   position. The callout needs no per-call state; the match context is copied per call only
 *   because the offset limit lives in it.
 * - The regexes (built-in, then custom: their own groups and backreferences keep their
 *   numbers) are merged: each keeps its next match; the leftmost wins (then the longest, then
 *   the lowest regex index); regexes whose pending match starts inside the replaced span search
 *   again from its end. Each regex thus scans the input about once.
 * - Byte mode (no PCRE2_UTF): any input is valid; nothing is UTF-checked. */
#include "logpipe/redact.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define CALLOUT_LUHN 1
#define CALLOUT_PHONE_DIGITS 2
#define MAX_REGEX (SY_REDACT__BUILTIN_COUNT + SY_REDACT_MAX_CUSTOM)

typedef struct pattern {
    char *name;
    char *mask;   /* "[EMAIL]" */
    char *prefix; /* "[EMAIL:" */
    size_t mask_len, prefix_len;
    sy_redact_mode_t mode;
} pattern_t;

/* A match can only start within `dist` bytes before a byte `trigger` for which trigger_ok
 * holds; the regex is then run only in those windows (PCRE2 offset limit). */
typedef bool (*trigger_ok_fn)(const unsigned char *in, size_t len, size_t at);

/* The next window [start, *limit] (start >= from) in which a match of the pattern can start,
 * found by a cheap exact scan for what every match contains; len: no further window. The regex
 * is then run only in those windows (PCRE2 offset limit), like the trigger windows. */
typedef size_t (*first_fn)(const unsigned char *in, size_t len, size_t from, size_t *limit);

typedef struct regex {
    pcre2_code *code;
    /* built-in regex: group number -> pattern index; custom regex: group_pat[0] only */
    uint8_t group_pat[2 * SY_REDACT__BUILTIN_COUNT + 1];
    bool builtin;
    unsigned char trigger; /* 0: search the whole input */
    uint8_t dist;
    trigger_ok_fn trigger_ok;
    first_fn first; /* NULL: no candidate windows */
} regex_t;

struct sy_redact {
    regex_t rx[MAX_REGEX];
    size_t nrx;
    pattern_t pat[SY_REDACT_MAX_PATTERNS];
    size_t npat;
    uint32_t max_groups;
    pcre2_match_context *mctx_builtin; /* with the callouts; copied per call (offset limit) */
    pcre2_match_context *mctx_custom;  /* match limit, no callouts */
    unsigned char key[SY_REDACT_KEY_BYTES];
};

/* ---- pattern text ---------------------------------------------------------------------- */
// clang-format off

/* Secret formats. Each is self-contained (no capture groups) because the Bearer rule reuses
 * them in a negative lookahead. */
#define RE_ANTHROPIC "(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,}+"
/* Random keys contain a digit; slugs like sk-some-long-descriptive-name usually do not. */
#define RE_OPENAI "(?<![A-Za-z0-9_-])sk-(?!ant-)(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{20,}+"
#define RE_SY_KEY "(?<![A-Za-z0-9_-])sy-[A-Za-z0-9_-]{43,}+"
#define RE_AWS "(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"
#define RE_JWT "(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,}+\\.[A-Za-z0-9_-]++\\.[A-Za-z0-9_-]*+"
/* The token must contain a digit (so prose like "a Bearer authentication scheme" is left
 * alone); "%s" is the lookahead that leaves tokens of a more specific enabled secret format
 * to that pattern. \K keeps the word "Bearer " in the output. */
#define RE_BEARER_FMT                                                                              \
    "(?<![A-Za-z0-9_])(?i:bearer)[ \\t]++\\K%s"                                                     \
    "(?=[A-Za-z0-9._~+/-]*[0-9])[A-Za-z0-9._~+/-]{8,}+=*+"

#define EM_LOCAL "A-Za-z0-9_%+\\x80-\\xff-"
#define EM_LABEL "[A-Za-z0-9\\x80-\\xff](?:[A-Za-z0-9\\x80-\\xff-]{0,61}[A-Za-z0-9\\x80-\\xff])?"
#define RE_EMAIL                                                                                   \
    "(?<![." EM_LOCAL "])[" EM_LOCAL "][." EM_LOCAL "]{0,63}+@(?:" EM_LABEL "\\.)+"                \
    "(?:[A-Za-z]{2,24}|xn--[A-Za-z0-9-]{1,59})(?![A-Za-z0-9\\x80-\\xff-]|\\.[A-Za-z0-9])"

/* 13-19 digits, first digit 2-6 (Mastercard 2-series, Amex/Diners/JCB, Visa, Mastercard,
 * Discover/UnionPay/Maestro), contiguous or in the printed groupings 4-4-4-4(-3) / 4-6-5
 * (a grouped number must not continue with another separated digit group on either side);
 * Luhn is checked by callout 1. */
#define RE_CARD                                                                                    \
    "(?<![A-Za-z0-9_-])(?=[2-6])(?>[0-9]{13,19}+(?![A-Za-z0-9_])"                                  \
    "|(?<![0-9][ -])(?:[0-9]{4}[ -][0-9]{4}[ -][0-9]{4}[ -][0-9]{1,4}(?:[ -][0-9]{3})?"            \
    "|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5})(?![A-Za-z0-9_]|[ -][0-9]))"

/* Area 000, 666 and 900-999, group 00 and serial 0000 are never issued. */
#define RE_SSN                                                                                     \
    "(?<![A-Za-z0-9_-])(?!000|666|9)[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}(?![A-Za-z0-9_-])"

/* +CC then digits, optionally separated by one space, dot or dash, area code optionally in
 * parentheses; 8-15 digits in all (callout 2). */
#define RE_PHONE_INTL                                                                              \
    "(?<![A-Za-z0-9_+])\\+[1-9](?:[ .-]?(?:\\([0-9]{1,4}\\)|[0-9])){6,19}+"                        \
    "(?![A-Za-z0-9_]|[.-][0-9])"
/* North American Numbering Plan, separators required: area code and exchange start 2-9. */
#define RE_PHONE_NANP                                                                              \
    "(?<![A-Za-z0-9_+.-])(?:1[ .-]?)?(?:\\([2-9][0-9]{2}\\)[ .-]?|[2-9][0-9]{2}[ .-])"             \
    "[2-9][0-9]{2}[ .-][0-9]{4}(?![A-Za-z0-9_-]|\\.[0-9])"

#define OCT "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#define IPV4 OCT "(?:\\." OCT "){3}"
#define RE_IPV4 "(?<![A-Za-z0-9_]|[0-9]\\.)" IPV4 "(?![A-Za-z0-9_]|\\.[0-9])"

#define H "[0-9A-Fa-f]{1,4}"
/* Must contain a decimal digit (keeps "::", "a::b", "dead::beef" in code) and a colon within
 * the first five characters (cheap reject of hex-looking words). Eight groups or one "::";
 * times like 12:30:45 and MAC addresses have neither. */
#define RE_IPV6                                                                                    \
    "(?<![A-Za-z0-9_:.])(?=[0-9A-Fa-f]{0,4}:)(?=[0-9A-Fa-f:]*[0-9])(?:"                            \
    "(?:" H ":){6}" IPV4                                                                           \
    "|::(?:[Ff]{4}(?::0{1,4})?:)?" IPV4                                                            \
    "|(?:" H ":){1,4}:" IPV4                                                                       \
    "|(?:" H ":){7}" H                                                                             \
    "|(?:" H ":){1,7}:"                                                                            \
    "|(?:" H ":){1,6}:" H                                                                          \
    "|(?:" H ":){1,5}(?::" H "){1,2}"                                                              \
    "|(?:" H ":){1,4}(?::" H "){1,3}"                                                              \
    "|(?:" H ":){1,3}(?::" H "){1,4}"                                                              \
    "|(?:" H ":){1,2}(?::" H "){1,5}"                                                              \
    "|" H ":(?::" H "){1,6}"                                                                       \
    "|:(?:(?::" H "){1,7}|:)"                                                                      \
    ")(?![A-Za-z0-9_:]|\\.[0-9])"
// clang-format on

static const struct {
    const char *name;
    const char *label;
} builtin_info[SY_REDACT__BUILTIN_COUNT] = {
    [SY_REDACT_BEARER] = {"bearer", "BEARER_TOKEN"},
    [SY_REDACT_ANTHROPIC] = {"anthropic_key", "ANTHROPIC_KEY"},
    [SY_REDACT_OPENAI] = {"openai_key", "OPENAI_KEY"},
    [SY_REDACT_SY_KEY] = {"switchyard_key", "SWITCHYARD_KEY"},
    [SY_REDACT_AWS] = {"aws_access_key", "AWS_ACCESS_KEY"},
    [SY_REDACT_JWT] = {"jwt", "JWT"},
    [SY_REDACT_EMAIL] = {"email", "EMAIL"},
    [SY_REDACT_CARD] = {"card", "CARD"},
    [SY_REDACT_SSN] = {"ssn", "SSN"},
    [SY_REDACT_PHONE] = {"phone", "PHONE"},
    [SY_REDACT_IPV6] = {"ipv6", "IPV6"},
    [SY_REDACT_IPV4] = {"ipv4", "IPV4"},
};

/* ---- callouts -------------------------------------------------------------------------- */

static bool luhn_ok(const unsigned char *p, size_t n)
{
    unsigned sum = 0, digits = 0;
    for (size_t i = n; i-- > 0;) {
        if (p[i] < '0' || p[i] > '9') continue;
        unsigned d = p[i] - '0';
        if (digits++ & 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
    }
    return digits >= 13 && digits <= 19 && sum % 10 == 0;
}

static size_t count_digits(const unsigned char *p, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        d += p[i] >= '0' && p[i] <= '9';
    return d;
}

/* Runs right after an alternative's group closed: capture_last is that group. Returns 0 to go
 * on, 1 to fail here and backtrack. */
static int on_callout(pcre2_callout_block *cb, void *data)
{
    (void)data;
    uint32_t g = cb->capture_last;
    const unsigned char *s = cb->subject + cb->offset_vector[2 * g];
    size_t n = cb->offset_vector[2 * g + 1] - cb->offset_vector[2 * g];
    switch (cb->callout_number) {
    case CALLOUT_LUHN:
        return luhn_ok(s, n) ? 0 : 1;
    case CALLOUT_PHONE_DIGITS: {
        size_t d = count_digits(s, n);
        return d >= 8 && d <= 15 ? 0 : 1;
    }
    default:
        return 0;
    }
}

/* ---- building ---------------------------------------------------------------------------- */

bool sy_redact_builtin_from_name(const char *name, sy_redact_builtin_t *out)
{
    for (int i = 0; i < SY_REDACT__BUILTIN_COUNT; i++) {
        if (strcmp(name, builtin_info[i].name) == 0) {
            *out = (sy_redact_builtin_t)i;
            return true;
        }
    }
    return false;
}

const char *sy_redact_builtin_name(sy_redact_builtin_t b)
{
    return (unsigned)b < SY_REDACT__BUILTIN_COUNT ? builtin_info[b].name : NULL;
}

bool sy_redact_mode_from_name(const char *name, sy_redact_mode_t *out)
{
    static const char *const names[] = {"mask", "hash", "off"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (sy_redact_mode_t)i;
            return true;
        }
    }
    return false;
}

static void set_pattern(pattern_t *p, const char *name, const char *label, sy_redact_mode_t mode)
{
    size_t n = strlen(label);
    p->name = sy_xstrdup(name);
    p->mask = sy_xmalloc(n + 3);
    p->mask_len = (size_t)snprintf(p->mask, n + 3, "[%s]", label);
    p->prefix = sy_xmalloc(n + 3);
    p->prefix_len = (size_t)snprintf(p->prefix, n + 3, "[%s:", label);
    p->mode = mode;
}

/* Growable string for assembling the alternation (startup only). */
typedef struct {
    char *p;
    size_t len, cap;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = sy_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static pcre2_code *compile(const char *re, const char *what, uint32_t opts, char *err,
                           size_t errlen)
{
    int ec;
    PCRE2_SIZE off;
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                      PCRE2_NEVER_UTF | PCRE2_NEVER_BACKSLASH_C | opts, &ec, &off, NULL);
    if (!code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, errlen, "redaction pattern '%s': %s at offset %zu", what, (char *)msg,
                 (size_t)off);
        return NULL;
    }
    /* Without JIT (unsupported CPU) the interpreter runs the same code, only slower. */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    return code;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* '.' or '-' between two digits (IPv4, SSN). */
static bool digit_sep_digit(const unsigned char *in, size_t len, size_t at)
{
    return at > 0 && at + 1 < len && is_digit(in[at - 1]) && is_digit(in[at + 1]);
}

/* The first ':' of an IPv6 address has a hex digit or ':' on each side, or starts "::". */
static bool ipv6_colon(const unsigned char *in, size_t len, size_t at)
{
    if (at + 1 >= len) return false;
    unsigned char n = in[at + 1];
    return (n == ':' || is_hex(n)) && (n == ':' || (at > 0 && is_hex(in[at - 1])));
}

/* ---- prefilters (first_fn) --------------------------------------------------------------
 * PCRE2's own start search for these patterns steps byte by byte through text ('s', 'e', 'b'
 * and digits are common), 6-25 instructions per byte each; memchr on a rarer byte of the
 * pattern's literal is vectorized. Each returns a lower bound of any match's start: exact. */

/* First occurrence at or after from of lit (n bytes), found by memchr of lit[k]. */
static size_t find_lit(const unsigned char *in, size_t len, size_t from, const char *lit, size_t n,
                       size_t k)
{
    size_t i = from + k;
    while (i < len) {
        const unsigned char *p = memchr(in + i, lit[k], len - i);
        if (!p) break;
        size_t at = (size_t)(p - in) - k;
        if (at + n <= len && !memcmp(in + at, lit, n)) return at;
        i = (size_t)(p - in) + 1;
    }
    return len;
}

static size_t first_anthropic(const unsigned char *in, size_t len, size_t from, size_t *limit)
{
    return *limit = find_lit(in, len, from, "sk-ant-", 7, 2);
}

static size_t first_sk(const unsigned char *in, size_t len, size_t from, size_t *limit)
{
    return *limit = find_lit(in, len, from, "sk-", 3, 2);
}

static size_t first_sy(const unsigned char *in, size_t len, size_t from, size_t *limit)
{
    return *limit = find_lit(in, len, from, "sy-", 3, 2);
}

static size_t first_aws(const unsigned char *in, size_t len, size_t from, size_t *limit)
{
    size_t a = find_lit(in, len, from, "AKIA", 4, 1), b = find_lit(in, len, from, "ASIA", 4, 1);
    return *limit = a < b ? a : b;
}

static size_t first_jwt(const unsigned char *in, size_t len, size_t from, size_t *limit)
{
    return *limit = find_lit(in, len, from, "eyJ", 3, 2);
}

/* "bearer" in any case, found by memchr of 'b' and of 'B'. */
static size_t first_bearer_c(const unsigned char *in, size_t len, size_t from, int b)
{
    for (size_t i = from; i + 6 <= len; i++) {
        const unsigned char *p = memchr(in + i, b, len - 5 - i);
        if (!p) break;
        i = (size_t)(p - in);
        if ((p[1] | 0x20) == 'e' && (p[2] | 0x20) == 'a' && (p[3] | 0x20) == 'r' &&
            (p[4] | 0x20) == 'e' && (p[5] | 0x20) == 'r')
            return i;
    }
    return len;
}

static size_t first_bearer(const unsigned char *in, size_t len, size_t from, size_t *limit)
{
    size_t a = first_bearer_c(in, len, from, 'b'), b = first_bearer_c(in, len, from, 'B');
    return *limit = a < b ? a : b;
}

/* Offset of the first decimal digit at or after i (len: none), eight bytes at a time: a word
 * has a byte in '0'..'9' iff the "has between" bit trick sets its high bit. */
static size_t next_digit(const unsigned char *in, size_t len, size_t i)
{
    const uint64_t ones = ~(uint64_t)0 / 255, high = ones * 128, low7 = ones * 127;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, in + i, 8);
        uint64_t x = w & low7;
        if (((ones * (127 + '9' + 1) - x) & ~w & (x + ones * (127 - ('0' - 1))) & high) != 0) break;
    }
    while (i < len && !is_digit(in[i]))
        i++;
    return i;
}

static size_t digits_end(const unsigned char *in, size_t len, size_t i)
{
    while (i < len && is_digit(in[i]))
        i++;
    return i;
}

/* A card starts a run of digits (its lookbehind) with four digits, the first 2-6 (RE_CARD:
 * 13-19 contiguous digits or a group of 4 first). */
static size_t first_card(const unsigned char *in, size_t len, size_t from, size_t *limit)
{
    for (size_t i = next_digit(in, len, from); i < len; i = next_digit(in, len, i)) {
        size_t j = digits_end(in, len, i);
        if (j - i >= 4 && in[i] >= '2' && in[i] <= '6') return *limit = i;
        i = j;
    }
    return *limit = len;
}

/* RE_PHONE_INTL starts with "+" and a digit 1-9; RE_PHONE_NANP contains the exchange and line
 * [2-9][0-9]{2}[ .-][0-9]{4} and starts at most 8 bytes before it ("1 (415) "). */
static size_t first_phone(const unsigned char *in, size_t len, size_t from, size_t *limit)
{
    size_t plus = len;
    for (size_t i = from; i + 1 < len; i++) {
        const unsigned char *p = memchr(in + i, '+', len - 1 - i);
        if (!p) break;
        i = (size_t)(p - in);
        if (p[1] >= '1' && p[1] <= '9') {
            plus = i;
            break;
        }
    }
    size_t i = next_digit(in, len, from);
    for (; i < plus; i = next_digit(in, len, i)) {
        size_t j = digits_end(in, len, i);
        if (j - i >= 3 && j + 4 < len && (in[j] == ' ' || in[j] == '.' || in[j] == '-') &&
            in[j - 3] >= '2' && in[j - 3] <= '9' && is_digit(in[j + 1]) && is_digit(in[j + 2]) &&
            is_digit(in[j + 3]) && is_digit(in[j + 4]))
            break;
        i = j;
    }
    if (i >= plus) return *limit = plus; /* (len when neither) */
    size_t exch = digits_end(in, len, i) - 3;
    *limit = exch;
    return exch >= from + 8 ? exch - 8 : from;
}

static const first_fn first_of[SY_REDACT__BUILTIN_COUNT] = {
    [SY_REDACT_BEARER] = first_bearer, [SY_REDACT_ANTHROPIC] = first_anthropic,
    [SY_REDACT_OPENAI] = first_sk,     [SY_REDACT_SY_KEY] = first_sy,
    [SY_REDACT_AWS] = first_aws,       [SY_REDACT_JWT] = first_jwt,
    [SY_REDACT_CARD] = first_card,     [SY_REDACT_PHONE] = first_phone,
};

/* Built-in regexes. A group may join several patterns in one alternation, but measured, one
 * regex per pattern is fastest (each keeps PCRE2's own start optimizations: first-byte memchr
 * for the secrets, start bitmaps for the rest), and patterns that need a byte near their start
 * are run only around that byte. All built-ins in one alternation cost 18 us/KB, one per
 * pattern 2.6 us/KB (docs/internals/REDACTION.md). Order = precedence on ties. */
static const struct {
    sy_redact_builtin_t pat[6];
    size_t n;
    unsigned char trigger;
    uint8_t dist;
    trigger_ok_fn ok;
} groups[] = {
    {{SY_REDACT_BEARER}, 1, 0, 0, NULL},
    {{SY_REDACT_ANTHROPIC}, 1, 0, 0, NULL},
    {{SY_REDACT_OPENAI}, 1, 0, 0, NULL},
    {{SY_REDACT_SY_KEY}, 1, 0, 0, NULL},
    {{SY_REDACT_AWS}, 1, 0, 0, NULL},
    {{SY_REDACT_JWT}, 1, 0, 0, NULL},
    {{SY_REDACT_EMAIL}, 1, '@', 64, NULL}, /* local part <= 64 bytes */
    {{SY_REDACT_CARD}, 1, 0, 0, NULL},
    {{SY_REDACT_SSN}, 1, '-', 3, digit_sep_digit},
    {{SY_REDACT_PHONE}, 1, 0, 0, NULL},
    {{SY_REDACT_IPV6}, 1, ':', 4, ipv6_colon}, /* RE_IPV6 asserts a ':' in the first 5 */
    {{SY_REDACT_IPV4}, 1, '.', 3, digit_sep_digit},
};

static bool build_builtin(sy_redact_t *r, const sy_redact_conf_t *conf, char *err, size_t errlen)
{
    static const char *const re[SY_REDACT__BUILTIN_COUNT] = {
        [SY_REDACT_ANTHROPIC] = RE_ANTHROPIC,
        [SY_REDACT_OPENAI] = RE_OPENAI,
        [SY_REDACT_SY_KEY] = RE_SY_KEY,
        [SY_REDACT_AWS] = RE_AWS,
        [SY_REDACT_JWT] = RE_JWT,
        [SY_REDACT_EMAIL] = RE_EMAIL,
        [SY_REDACT_CARD] = RE_CARD,
        [SY_REDACT_SSN] = RE_SSN,
        [SY_REDACT_IPV6] = RE_IPV6,
        [SY_REDACT_IPV4] = RE_IPV4,
    };
    for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
        regex_t *x = &r->rx[r->nrx];
        sbuf_t b = {0};
        uint32_t g = 0;
        for (size_t k = 0; k < groups[gi].n; k++) {
            sy_redact_builtin_t i = groups[gi].pat[k];
            if (conf->builtin[i] == SY_REDACT_OFF) continue;
            if (i == SY_REDACT_BEARER) {
                /* Leave "Bearer sk-ant-..." to the key pattern when that one is on. */
                sbuf_t ex = {0};
                sb_add(&ex, "");
                static const int specific[] = {SY_REDACT_ANTHROPIC, SY_REDACT_OPENAI,
                                               SY_REDACT_SY_KEY, SY_REDACT_AWS, SY_REDACT_JWT};
                for (size_t j = 0; j < sizeof specific / sizeof specific[0]; j++) {
                    if (conf->builtin[specific[j]] == SY_REDACT_OFF) continue;
                    sb_add(&ex, ex.len ? "|" : "(?!");
                    sb_add(&ex, re[specific[j]]);
                }
                if (ex.len) sb_add(&ex, ")");
                size_t n = strlen(RE_BEARER_FMT) + ex.len + 1;
                char *bearer = sy_xmalloc(n);
                snprintf(bearer, n, RE_BEARER_FMT, ex.p);
                sb_add(&b, b.len ? "|(" : "(");
                sb_add(&b, bearer);
                sb_add(&b, ")");
                free(bearer);
                free(ex.p);
                x->group_pat[++g] = (uint8_t)i;
            } else if (i == SY_REDACT_PHONE) {
                sb_add(&b, b.len ? "|(" : "(");
                sb_add(&b, RE_PHONE_INTL ")(?C2)|(" RE_PHONE_NANP ")");
                x->group_pat[++g] = (uint8_t)i;
                x->group_pat[++g] = (uint8_t)i;
            } else {
                sb_add(&b, b.len ? "|(" : "(");
                sb_add(&b, re[i]);
                sb_add(&b, i == SY_REDACT_CARD ? ")(?C1)" : ")");
                x->group_pat[++g] = (uint8_t)i;
            }
        }
        if (g == 0) continue; /* every pattern of the group is off */
        x->code = compile(b.p, "built-in",
                          groups[gi].trigger || (groups[gi].n == 1 && first_of[groups[gi].pat[0]])
                              ? PCRE2_USE_OFFSET_LIMIT
                              : 0,
                          err, errlen);
        free(b.p);
        if (!x->code) return false;
        x->builtin = true;
        x->trigger = groups[gi].trigger;
        x->dist = groups[gi].dist;
        x->trigger_ok = groups[gi].ok;
        /* a one-pattern group starts where its pattern's prefilter says */
        x->first = groups[gi].n == 1 ? first_of[groups[gi].pat[0]] : NULL;
        r->nrx++;
    }
    return true;
}

sy_redact_t *sy_redact_new(const sy_redact_conf_t *conf, char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        snprintf(err, errlen, "redaction: libsodium failed to initialize");
        return NULL;
    }
    if (conf->ncustom > SY_REDACT_MAX_CUSTOM) {
        snprintf(err, errlen, "redaction: %zu custom patterns (at most %d)", conf->ncustom,
                 SY_REDACT_MAX_CUSTOM);
        return NULL;
    }
    bool want_key = false;
    for (int i = 0; i < SY_REDACT__BUILTIN_COUNT; i++)
        want_key |= conf->builtin[i] == SY_REDACT_HASH;
    for (size_t i = 0; i < conf->ncustom; i++)
        want_key |= conf->custom[i].mode == SY_REDACT_HASH;
    if (want_key && !conf->hash_key_set) {
        snprintf(err, errlen, "redaction: hash mode needs a %d-byte hash key", SY_REDACT_KEY_BYTES);
        return NULL;
    }

    sy_redact_t *r = sy_xcalloc(1, sizeof *r);
    memcpy(r->key, conf->hash_key, sizeof r->key);
    for (int i = 0; i < SY_REDACT__BUILTIN_COUNT; i++)
        set_pattern(&r->pat[r->npat++], builtin_info[i].name, builtin_info[i].label,
                    conf->builtin[i]);
    if (!build_builtin(r, conf, err, errlen)) goto fail;

    for (size_t i = 0; i < conf->ncustom; i++) {
        const sy_redact_custom_t *c = &conf->custom[i];
        if (!c->name || !*c->name || !c->regex) {
            snprintf(err, errlen, "redaction: custom pattern %zu needs a name and a regex", i + 1);
            goto fail;
        }
        char label[64];
        if (c->label) {
            snprintf(label, sizeof label, "%s", c->label);
        } else {
            size_t k = 0;
            for (; c->name[k] && k < sizeof label - 1; k++)
                label[k] =
                    (char)(c->name[k] >= 'a' && c->name[k] <= 'z' ? c->name[k] - 32 : c->name[k]);
            label[k] = '\0';
        }
        set_pattern(&r->pat[r->npat], c->name, label, c->mode);
        pcre2_code *code = compile(c->regex, c->name, 0, err, errlen);
        if (!code) goto fail;
        if (c->mode == SY_REDACT_OFF) { /* validated, not searched */
            pcre2_code_free(code);
        } else {
            regex_t *x = &r->rx[r->nrx++];
            x->code = code;
            x->group_pat[0] = (uint8_t)r->npat;
        }
        r->npat++;
    }
    for (size_t i = 0; i < r->nrx; i++) {
        uint32_t cap = 0;
        pcre2_pattern_info(r->rx[i].code, PCRE2_INFO_CAPTURECOUNT, &cap);
        if (cap + 1 > r->max_groups) r->max_groups = cap + 1;
    }
    r->mctx_builtin = pcre2_match_context_create(NULL);
    r->mctx_custom = pcre2_match_context_create(NULL);
    if (!r->mctx_builtin || !r->mctx_custom) abort();
    pcre2_set_callout(r->mctx_builtin, on_callout, NULL);
    pcre2_set_match_limit(r->mctx_custom, conf->match_limit ? conf->match_limit : 1000000);
    return r;
fail:
    sy_redact_free(r);
    return NULL;
}

void sy_redact_free(sy_redact_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nrx; i++)
        pcre2_code_free(r->rx[i].code);
    for (size_t i = 0; i < SY_REDACT_MAX_PATTERNS; i++) {
        free(r->pat[i].name);
        free(r->pat[i].mask);
        free(r->pat[i].prefix);
    }
    pcre2_match_context_free(r->mctx_builtin);
    pcre2_match_context_free(r->mctx_custom);
    free(r);
}

const char *sy_redact_pattern_name(const sy_redact_t *r, size_t idx)
{
    return idx < r->npat ? r->pat[idx].name : NULL;
}

size_t sy_redact_pattern_count(const sy_redact_t *r)
{
    return r->npat;
}

/* ---- applying ---------------------------------------------------------------------------- */

typedef struct next {
    size_t start, end;
    int pat; /* -1: no further match */
} next_t;

static int find(const sy_redact_t *r, size_t i, const char *in, size_t len, size_t from,
                pcre2_match_data *md, pcre2_match_context *mctx, next_t *nx)
{
    const regex_t *x = &r->rx[i];
    const unsigned char *u = (const unsigned char *)in;
    int rc = PCRE2_ERROR_NOMATCH;
    nx->pat = -1;
    if (from >= len) return 0;
    if (x->first) {
        /* candidate windows, left to right: the first match found is the leftmost */
        size_t scan = from, start, limit;
        while (scan < len && (start = x->first(u, len, scan, &limit)) < len) {
            pcre2_set_offset_limit(mctx, limit);
            rc = pcre2_match(x->code, u, len, start, PCRE2_NOTEMPTY, md, mctx);
            if (rc != PCRE2_ERROR_NOMATCH) break;
            scan = limit + 1;
        }
    } else if (!x->trigger) {
        /* A set offset limit is an error for code compiled without PCRE2_USE_OFFSET_LIMIT. */
        pcre2_set_offset_limit(mctx, PCRE2_UNSET);
        rc = pcre2_match(x->code, u, len, from, PCRE2_NOTEMPTY, md,
                         x->builtin ? mctx : r->mctx_custom);
    } else {
        /* Every match starts at most dist bytes before a trigger byte: search only the windows
         * [trigger - dist, trigger] (the offset limit caps the start), left to right, so the
         * first match found is the leftmost. */
        size_t lo = from, scan = from;
        while (scan < len) {
            const unsigned char *t = memchr(u + scan, x->trigger, len - scan);
            if (!t) break;
            size_t at = (size_t)(t - u);
            scan = at + 1;
            if (x->trigger_ok && !x->trigger_ok(u, len, at)) continue;
            size_t start = at > x->dist ? at - x->dist : 0;
            if (start < lo) start = lo;
            pcre2_set_offset_limit(mctx, at);
            rc = pcre2_match(x->code, u, len, start, PCRE2_NOTEMPTY, md, mctx);
            if (rc != PCRE2_ERROR_NOMATCH) break;
            lo = at + 1;
        }
    }
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) return rc;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    nx->start = ov[0];
    nx->end = ov[1];
    /* Alternatives have no inner groups, so exactly one group is set: the highest, rc - 1. */
    nx->pat = x->builtin ? x->group_pat[rc - 1] : x->group_pat[0];
    return 0;
}

/* Plain text can be cut anywhere: a prefix of unmatched text is still unmatched text. */
static sy_err_t put_plain(sy_buf_t *out, const char *p, size_t n)
{
    size_t room = out->max > out->len ? out->max - out->len : 0;
    if (n <= room) return sy_buf_append(out, p, n);
    (void)sy_buf_append(out, p, room);
    return SY_ERR_TOO_LARGE;
}

static size_t normalize(int pat, const char *p, size_t n, char *dst, size_t cap)
{
    size_t k = 0;
    switch (pat) {
    case SY_REDACT_EMAIL:
    case SY_REDACT_IPV6:
        for (size_t i = 0; i < n && k < cap; i++)
            dst[k++] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
        return k;
    case SY_REDACT_PHONE:
    case SY_REDACT_CARD:
    case SY_REDACT_SSN:
        for (size_t i = 0; i < n && k < cap; i++)
            if (p[i] >= '0' && p[i] <= '9') dst[k++] = p[i];
        if (pat == SY_REDACT_PHONE && k == 11 && dst[0] == '1') { /* NANP: drop the 1 */
            memmove(dst, dst + 1, 10);
            k = 10;
        }
        return k;
    default:
        return (size_t)-1;
    }
}

static sy_err_t put_match(const sy_redact_t *r, int pat, const char *p, size_t n, sy_buf_t *out)
{
    const pattern_t *pt = &r->pat[pat];
    if (pt->mode != SY_REDACT_HASH) return sy_buf_append(out, pt->mask, pt->mask_len);

    /* Keyed BLAKE2b (libsodium crypto_generichash) with an 8-byte output: a PRF like
     * HMAC-SHA-256 (which libsodium runs as four SHA-256 blocks per short value; BLAKE2b two). */
    unsigned char mac[SY_REDACT_HASH_HEX / 2];
    char norm[256];
    size_t nn = n <= sizeof norm ? normalize(pat, p, n, norm, sizeof norm) : (size_t)-1;
    if (nn != (size_t)-1)
        crypto_generichash(mac, sizeof mac, (const unsigned char *)norm, nn, r->key, sizeof r->key);
    else
        crypto_generichash(mac, sizeof mac, (const unsigned char *)p, n, r->key, sizeof r->key);
    char tail[SY_REDACT_HASH_HEX + 2];
    sodium_bin2hex(tail, sizeof tail, mac, SY_REDACT_HASH_HEX / 2);
    tail[SY_REDACT_HASH_HEX] = ']';
    /* All or nothing: never half a label. */
    if (out->len + pt->prefix_len + SY_REDACT_HASH_HEX + 1 > out->max) return SY_ERR_TOO_LARGE;
    sy_buf_append(out, pt->prefix, pt->prefix_len);
    return sy_buf_append(out, tail, SY_REDACT_HASH_HEX + 1);
}

sy_err_t sy_redact_apply(const sy_redact_t *r, const char *in, size_t len, sy_buf_t *out,
                         sy_redact_stats_t *stats)
{
    sy_err_t err = SY_OK;
    if (r->nrx == 0) {
        err = put_plain(out, in, len);
        goto out;
    }
    pcre2_match_data *md = pcre2_match_data_create(r->max_groups, NULL);
    pcre2_match_context *mctx = pcre2_match_context_copy(r->mctx_builtin);
    if (!md || !mctx) abort();
    next_t nx[MAX_REGEX];
    for (size_t i = 0; i < r->nrx; i++) {
        if (find(r, i, in, len, 0, md, mctx, &nx[i]) < 0) {
            err = SY_ERR_INTERNAL;
            goto done;
        }
    }
    size_t pos = 0;
    for (;;) {
        int best = -1;
        for (size_t i = 0; i < r->nrx; i++) {
            if (nx[i].pat < 0) continue;
            if (best < 0 || nx[i].start < nx[best].start ||
                (nx[i].start == nx[best].start && nx[i].end > nx[best].end))
                best = (int)i;
        }
        if (best < 0) break;
        next_t m = nx[best];
        if ((err = put_plain(out, in + pos, m.start - pos))) goto done;
        if ((err = put_match(r, m.pat, in + m.start, m.end - m.start, out))) goto done;
        if (stats) {
            stats->count[m.pat]++;
            stats->total++;
        }
        pos = m.end;
        for (size_t i = 0; i < r->nrx; i++) {
            if (nx[i].pat >= 0 && nx[i].start < pos &&
                find(r, i, in, len, pos, md, mctx, &nx[i]) < 0) {
                err = SY_ERR_INTERNAL;
                goto done;
            }
        }
    }
    err = put_plain(out, in + pos, len - pos);
done:
    pcre2_match_data_free(md);
    pcre2_match_context_free(mctx);
out:
    if (err == SY_ERR_TOO_LARGE && stats) stats->truncated = true;
    return err;
}
