/* logpipe/record: owned copies, spool encoding round trip, corrupt input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "logpipe/record.h"

static void assert_str_same(sy_str_t a, sy_str_t b)
{
    assert_int_equal(a.ptr == NULL, b.ptr == NULL);
    assert_int_equal(a.len, b.len);
    if (a.len) assert_memory_equal(a.ptr, b.ptr, a.len);
}

static void fill(sy_log_record_t *r, sy_str_t *tags)
{
    static char body[5000];
    memset(body, 'x', sizeof(body));
    body[100] = '\0'; /* bodies are length-delimited: an embedded NUL must survive */
    sy_log_record_init(r);
    sy_uuid_v7(r->id);
    sy_uuid_v7(r->parent_id);
    r->request_id = SY_STR_LIT("req-1");
    r->attempt = 2;
    r->t_received_us = 1700000000000000;
    r->t_upstream_start_us = 1700000000000100;
    r->t_end_us = 1700000000500000;
    r->latency_us = 500000;
    r->overhead_us = 120;
    r->model = SY_STR_LIT("gpt-4o");
    r->provider = SY_STR_LIT("openai");
    r->upstream_model = SY_STR_LIT("");
    r->status = SY_LOG_STATUS_TIMEOUT;
    r->http_status = 504;
    r->error_type = SY_STR_LIT("timeout_error");
    r->error_message = SY_STR_LIT("délai dépassé — 超时 🚀");
    r->input_tokens = 10;
    r->output_tokens = 0;
    r->usage_source = SY_LOG_USAGE_ESTIMATED;
    r->cost_nanousd = 0; /* free is not unknown */
    r->key_id = SY_STR_LIT("k1");
    tags[0] = SY_STR_LIT("a");
    tags[1] = SY_STR_LIT("");
    tags[2] = SY_STR_LIT("ü,\"q\"");
    r->tags = tags;
    r->n_tags = 3;
    r->metadata = SY_STR_LIT("{\"team\":\"x\",\"n\":[1,2]}");
    r->request_body = sy_str(body, sizeof(body));
    r->response_body = SY_STR_NULL;
    r->request_truncated = true;
    r->request_size = 123456;
}

static void assert_record_same(const sy_log_record_t *a, const sy_log_record_t *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->parent_id, b->parent_id);
    assert_int_equal(a->attempt, b->attempt);
    assert_int_equal(a->t_received_us, b->t_received_us);
    assert_int_equal(a->t_upstream_start_us, b->t_upstream_start_us);
    assert_int_equal(a->t_first_token_us, b->t_first_token_us);
    assert_int_equal(a->t_end_us, b->t_end_us);
    assert_int_equal(a->latency_us, b->latency_us);
    assert_int_equal(a->ttft_us, b->ttft_us);
    assert_int_equal(a->overhead_us, b->overhead_us);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->http_status, b->http_status);
    assert_int_equal(a->input_tokens, b->input_tokens);
    assert_int_equal(a->output_tokens, b->output_tokens);
    assert_int_equal(a->cached_read_tokens, b->cached_read_tokens);
    assert_int_equal(a->cache_write_tokens, b->cache_write_tokens);
    assert_int_equal(a->reasoning_tokens, b->reasoning_tokens);
    assert_int_equal(a->usage_source, b->usage_source);
    assert_int_equal(a->cost_nanousd, b->cost_nanousd);
    assert_int_equal(a->request_truncated, b->request_truncated);
    assert_int_equal(a->response_truncated, b->response_truncated);
    assert_int_equal(a->request_size, b->request_size);
    assert_int_equal(a->response_size, b->response_size);
    assert_str_same(a->request_id, b->request_id);
    assert_str_same(a->model, b->model);
    assert_str_same(a->provider, b->provider);
    assert_str_same(a->upstream_model, b->upstream_model);
    assert_str_same(a->deployment, b->deployment);
    assert_str_same(a->error_type, b->error_type);
    assert_str_same(a->error_message, b->error_message);
    assert_str_same(a->key_id, b->key_id);
    assert_str_same(a->user_id, b->user_id);
    assert_str_same(a->team_id, b->team_id);
    assert_str_same(a->conversation_id, b->conversation_id);
    assert_str_same(a->message_id, b->message_id);
    assert_str_same(a->experiment, b->experiment);
    assert_str_same(a->variant, b->variant);
    assert_str_same(a->metadata, b->metadata);
    assert_str_same(a->request_body, b->request_body);
    assert_str_same(a->response_body, b->response_body);
    assert_int_equal(a->n_tags, b->n_tags);
    for (uint32_t i = 0; i < a->n_tags; i++)
        assert_str_same(a->tags[i], b->tags[i]);
}

static void clone_is_independent(void **state)
{
    sy_log_record_t r;
    sy_str_t tags[3];
    fill(&r, tags);
    sy_log_record_t *c = sy_log_record_clone(&r);
    assert_record_same(&r, c);
    assert_ptr_not_equal(c->model.ptr, r.model.ptr);
    assert_int_equal(c->model.ptr[c->model.len], '\0'); /* owned strings are NUL-terminated */
    sy_log_record_t *nb = sy_log_record_clone_nobodies(c);
    assert_null(nb->request_body.ptr);
    assert_int_equal(nb->request_size, 123456);
    assert_true(nb->request_truncated);
    assert_str_same(nb->tags[2], r.tags[2]);
    sy_log_record_free(nb);
    sy_log_record_free(c);
}

static void init_is_all_unknown(void **state)
{
    sy_log_record_t r;
    sy_log_record_init(&r);
    assert_int_equal(r.cost_nanousd, SY_LOG_UNKNOWN);
    assert_int_equal(r.ttft_us, SY_LOG_UNKNOWN);
    assert_int_equal(r.response_size, SY_LOG_UNKNOWN);
    assert_int_equal(r.attempt, 1);
    assert_null(r.model.ptr);
}

static void encode_decode_round_trip(void **state)
{
    sy_log_record_t r, *d = NULL;
    sy_str_t tags[3];
    fill(&r, tags);
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    assert_int_equal(sy_log_record_encode(&r, &b), SY_OK);
    assert_int_equal((unsigned char)b.base[0], SY_LOG_RECORD_VERSION);
    assert_int_equal(sy_log_record_decode(b.base, b.len, &d), SY_OK);
    assert_record_same(&r, d);
    sy_log_record_free(d);

    /* a minimal record (everything NULL/unknown, no parent, no tags) too */
    sy_log_record_t m;
    sy_log_record_init(&m);
    sy_uuid_v7(m.id);
    sy_buf_reset(&b);
    assert_int_equal(sy_log_record_encode(&m, &b), SY_OK);
    assert_int_equal(sy_log_record_decode(b.base, b.len, &d), SY_OK);
    assert_record_same(&m, d);
    assert_null(d->tags);
    sy_log_record_free(d);

    /* two records back to back: each decodes from its own span */
    sy_buf_reset(&b);
    assert_int_equal(sy_log_record_encode(&r, &b), SY_OK);
    size_t first = b.len;
    assert_int_equal(sy_log_record_encode(&m, &b), SY_OK);
    assert_int_equal(sy_log_record_decode(b.base + first, b.len - first, &d), SY_OK);
    assert_string_equal(d->id, m.id);
    sy_log_record_free(d);
    sy_buf_dispose(&b);
}

static void encode_respects_buffer_cap(void **state)
{
    sy_log_record_t r;
    sy_str_t tags[3];
    fill(&r, tags);
    sy_buf_t b;
    sy_buf_init(&b, 1000); /* the body alone is 5000 bytes */
    assert_int_equal(sy_log_record_encode(&r, &b), SY_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    sy_buf_dispose(&b);
}

static void decode_corrupt_fails_cleanly(void **state)
{
    sy_log_record_t r, *d = NULL;
    sy_str_t tags[3];
    fill(&r, tags);
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    assert_int_equal(sy_log_record_encode(&r, &b), SY_OK);
    unsigned char *p = (unsigned char *)b.base;
    size_t n = b.len;

    /* every truncation fails (never reads past the end: ASan checks) */
    for (size_t k = 0; k < n; k++) {
        unsigned char *copy = malloc(k ? k : 1);
        memcpy(copy, p, k);
        assert_int_equal(sy_log_record_decode(copy, k, &d), SY_ERR_CORRUPT);
        assert_null(d);
        free(copy);
    }
    /* trailing garbage */
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, p, n);
    longer[n] = 0;
    assert_int_equal(sy_log_record_decode(longer, n + 1, &d), SY_ERR_CORRUPT);
    free(longer);
    /* unknown version */
    p[0] = 99;
    assert_int_equal(sy_log_record_decode(p, n, &d), SY_ERR_CORRUPT);
    p[0] = SY_LOG_RECORD_VERSION;
    /* bad id */
    p[1] = 'Z';
    assert_int_equal(sy_log_record_decode(p, n, &d), SY_ERR_CORRUPT);
    p[1] = (unsigned char)r.id[0];
    assert_int_equal(sy_log_record_decode(p, n, &d), SY_OK);
    sy_log_record_free(d);
    d = NULL;
    /* out-of-range status: offset 1 + 36 + 1 + 36 + 4 + 4 */
    size_t st = 1 + 36 + 1 + 36 + 8;
    p[st] = 7;
    assert_int_equal(sy_log_record_decode(p, n, &d), SY_ERR_CORRUPT);
    p[st] = SY_LOG_STATUS_TIMEOUT;
    /* random byte flips: decode either succeeds or fails cleanly, never crashes */
    srand(42);
    for (int i = 0; i < 2000; i++) {
        size_t at = (size_t)rand() % n;
        unsigned char old = p[at];
        p[at] = (unsigned char)rand();
        if (sy_log_record_decode(p, n, &d) == SY_OK) {
            sy_log_record_free(d);
        } else {
            assert_null(d);
        }
        d = NULL;
        p[at] = old;
    }
    sy_buf_dispose(&b);
}

static void decode_huge_tag_count(void **state)
{
    sy_log_record_t m, *d = NULL;
    sy_log_record_init(&m);
    sy_uuid_v7(m.id);
    sy_buf_t b;
    sy_buf_init(&b, 4096);
    assert_int_equal(sy_log_record_encode(&m, &b), SY_OK);
    /* the tag count is the last 4 bytes of a tagless record */
    memset(b.base + b.len - 4, 0xff, 4);
    assert_int_equal(sy_log_record_decode(b.base, b.len, &d), SY_ERR_CORRUPT);
    memset(b.base + b.len - 4, 0, 4);
    b.base[b.len - 4] = 5; /* 5 tags claimed, none present */
    assert_int_equal(sy_log_record_decode(b.base, b.len, &d), SY_ERR_CORRUPT);
    /* a string length past the end */
    sy_buf_reset(&b);
    m.model = SY_STR_LIT("m");
    assert_int_equal(sy_log_record_encode(&m, &b), SY_OK);
    for (size_t i = 0; i + 5 <= b.len; i++) {
        if (memcmp(b.base + i, "\x01\x00\x00\x00m", 5) == 0) b.base[i + 2] = 0x7f;
    }
    assert_int_equal(sy_log_record_decode(b.base, b.len, &d), SY_ERR_CORRUPT);
    assert_null(d);
    sy_buf_dispose(&b);
}

static void enum_names(void **state)
{
    sy_log_status_t s;
    assert_true(sy_log_status_parse(SY_STR_LIT("cancelled"), &s));
    assert_int_equal(s, SY_LOG_STATUS_CANCELLED);
    assert_false(sy_log_status_parse(SY_STR_LIT("nope"), &s));
    assert_string_equal(sy_log_status_name(SY_LOG_STATUS_TIMEOUT), "timeout");
    sy_log_usage_source_t u;
    assert_true(sy_log_usage_source_parse(SY_STR_NULL, &u));
    assert_int_equal(u, SY_LOG_USAGE_NONE);
    assert_true(sy_log_usage_source_parse(SY_STR_LIT("provider"), &u));
    assert_int_equal(u, SY_LOG_USAGE_PROVIDER);
    assert_null(sy_log_usage_source_name(SY_LOG_USAGE_NONE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_is_all_unknown),
        cmocka_unit_test(clone_is_independent),
        cmocka_unit_test(encode_decode_round_trip),
        cmocka_unit_test(encode_respects_buffer_cap),
        cmocka_unit_test(decode_corrupt_fails_cleanly),
        cmocka_unit_test(decode_huge_tag_count),
        cmocka_unit_test(enum_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
