/* Cost of PII redaction per KB of text (not a test; not run by `make test` or bench/run.sh).
 *
 *   cmake -S . -B build -DSY_BENCH=ON && cmake --build build --target sy_bench_redact
 *   build/bench/redact_bench                      # ns/KB table, wall clock
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null build/bench/redact_bench pii 200
 *   (and the same with 0; the difference / (200 * KB per body) is instructions/KB; a third
 *   argument "hash" puts every pattern in hash mode)
 *
 * The bodies are chat text of ~4 KB built from the paragraphs below: "clean" has no PII,
 * "pii" has one e-mail, phone, card, IP, key, ... between each two paragraphs (about one every
 * 150 bytes: far more than real traffic, an upper bound on the cost of replacing). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logpipe/redact.h"

static const char *const prose[] = {
    "Sure! Here is a summary of the quarterly report. Revenue grew 12.5% year over year, driven "
    "mostly by the enterprise segment, while churn fell to 2.1%. ",
    "To fix the build, upgrade to version 3.11.4 and run `pip install -r requirements.txt` again; "
    "the error at 12:30:45 came from an outdated lockfile. ",
    "```python\ndef add(a, b):\n    return a + b  # see issue 4521\n```\n",
    "The meeting is moved to 2024-03-18 at 10:00. Please review the draft before then and leave "
    "comments inline. ",
    "In Rust you would write `std::collections::HashMap::new()` and iterate with `for (k, v) in "
    "&map`. ",
    "{\"role\": \"assistant\", \"content\": \"The answer is 42.\", \"id\": "
    "\"123e4567-e89b-12d3-a456-426614174000\"} ",
    "Order 1234567812345678 was shipped on Monday; tracking should update within 24 hours. ",
    "The commit d41d8cd98f00b204e9800998ecf8427e touched 17 files and 1,204 lines. ",
};

static const char *const pii[] = {
    "Contact me at jane.doe@example.com. ",
    "My number is (415) 555-2671. ",
    "Card 4111 1111 1111 1111 exp 12/27. ",
    "The server is at 10.20.30.40. ",
    "Use key sk-proj-abc123DEF456ghi789JKL012mno345PQR678 please. ",
    "SSN 123-45-6789 on file. ",
    "Authorization: Bearer ya29.a0AfH6SMBx1234567890abcdef ",
    "IPv6 2001:db8::8a2e:370:7334 is down. ",
    "Call +44 20 7183 8750 tomorrow. ",
};

static size_t build(char *out, size_t cap, int with_pii)
{
    size_t len = 0, i = 0;
    for (;;) {
        const char *s = prose[i % (sizeof prose / sizeof prose[0])];
        if (with_pii && i > 0) { /* one item between paragraphs */
            const char *p = pii[i % (sizeof pii / sizeof pii[0])];
            if (len + strlen(p) >= cap) break;
            memcpy(out + len, p, strlen(p));
            len += strlen(p);
        }
        if (len + strlen(s) >= cap) break;
        memcpy(out + len, s, strlen(s));
        len += strlen(s);
        i++;
    }
    return len;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per KB for running each redactor in rs[0..n) over body, summed. */
static double measure(sy_redact_t *const *rs, size_t n, const char *body, size_t len)
{
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    long iters = 0;
    double t0 = now_ns(), t;
    do {
        for (int k = 0; k < 100; k++, iters++) {
            for (size_t j = 0; j < n; j++) {
                sy_buf_reset(&out);
                if (sy_redact_apply(rs[j], body, len, &out, NULL)) abort();
            }
        }
        t = now_ns();
    } while (t - t0 < 3e8);
    sy_buf_dispose(&out);
    return (t - t0) / (double)iters / ((double)len / 1024.0);
}

static sy_redact_t *make(const sy_redact_conf_t *c)
{
    char err[256];
    sy_redact_t *r = sy_redact_new(c, err, sizeof err);
    if (!r) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    return r;
}

int main(int argc, char **argv)
{
    static char clean[4096], dirty[4096];
    size_t clean_len = build(clean, sizeof clean, 0);
    size_t dirty_len = build(dirty, sizeof dirty, 1);

    sy_redact_conf_t conf = {0};
    sy_redact_t *def = make(&conf);

    if (argc >= 3) { /* callgrind mode: KIND N [hash] */
        if (argc >= 4 && strcmp(argv[3], "hash") == 0) {
            sy_redact_free(def);
            sy_redact_conf_t h = {.hash_key_set = true};
            for (int i = 0; i < SY_REDACT__BUILTIN_COUNT; i++)
                h.builtin[i] = SY_REDACT_HASH;
            def = make(&h);
        }
        const char *body = strcmp(argv[1], "pii") == 0 ? dirty : clean;
        size_t len = strcmp(argv[1], "pii") == 0 ? dirty_len : clean_len;
        long n = atol(argv[2]);
        sy_buf_t out;
        sy_buf_init(&out, 1 << 20);
        sy_redact_stats_t st = {0};
        for (long i = 0; i < n; i++) {
            sy_buf_reset(&out);
            if (sy_redact_apply(def, body, len, &out, &st)) abort();
        }
        printf("%ld x %zu bytes (%.2f KB), %u matches\n", n, len, (double)len / 1024, st.total);
        sy_buf_dispose(&out);
        sy_redact_free(def);
        return 0;
    }

    sy_redact_stats_t st = {0};
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    sy_redact_apply(def, dirty, dirty_len, &out, &st);
    printf("bodies: clean %zu bytes, pii %zu bytes with %u matches\n", clean_len, dirty_len,
           st.total);
    sy_buf_dispose(&out);

    /* Variants: everything masked (default), everything hashed, all off (copy only), default +
     * two custom patterns, and one redactor per built-in pattern run one after the other (what
     * separate passes would cost instead of the single alternation). */
    sy_redact_conf_t hc = {.hash_key_set = true};
    for (int i = 0; i < SY_REDACT__BUILTIN_COUNT; i++)
        hc.builtin[i] = SY_REDACT_HASH;
    sy_redact_t *hash = make(&hc);
    sy_redact_conf_t oc = {0};
    for (int i = 0; i < SY_REDACT__BUILTIN_COUNT; i++)
        oc.builtin[i] = SY_REDACT_OFF;
    sy_redact_t *off = make(&oc);
    sy_redact_custom_t cu[] = {{.name = "order_id", .regex = "\\bORD-[0-9]{6,10}\\b"},
                               {.name = "employee", .regex = "\\bEMP[0-9]{5}\\b"}};
    sy_redact_conf_t cc = {.custom = cu, .ncustom = 2};
    sy_redact_t *cust = make(&cc);
    sy_redact_t *single[SY_REDACT__BUILTIN_COUNT];
    for (int i = 0; i < SY_REDACT__BUILTIN_COUNT; i++) {
        sy_redact_conf_t sc = oc;
        sc.builtin[i] = SY_REDACT_MASK;
        single[i] = make(&sc);
    }

    struct {
        const char *name;
        sy_redact_t *const *rs;
        size_t n;
    } v[] = {
        {"default (all mask)", &def, 1},
        {"all hash", &hash, 1},
        {"all off (copy)", &off, 1},
        {"default + 2 custom", &cust, 1},
        {"12 separate passes", single, SY_REDACT__BUILTIN_COUNT},
    };
    printf("%-22s %14s %14s\n", "variant", "clean ns/KB", "pii ns/KB");
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        printf("%-22s %14.0f %14.0f\n", v[i].name, measure(v[i].rs, v[i].n, clean, clean_len),
               measure(v[i].rs, v[i].n, dirty, dirty_len));
    printf("per pattern alone (clean ns/KB):\n");
    for (int i = 0; i < SY_REDACT__BUILTIN_COUNT; i++)
        printf("  %-16s %8.0f\n", sy_redact_builtin_name((sy_redact_builtin_t)i),
               measure(&single[i], 1, clean, clean_len));
    for (int i = 0; i < SY_REDACT__BUILTIN_COUNT; i++)
        sy_redact_free(single[i]);
    sy_redact_free(def);
    sy_redact_free(hash);
    sy_redact_free(off);
    sy_redact_free(cust);
    return 0;
}
