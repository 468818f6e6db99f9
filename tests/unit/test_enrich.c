/* logpipe/enrich.c: the writer-thread transform of inference-log rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "logpipe/enrich.h"

static const char yaml[] = "models:\n  - {name: m, provider: mock}\n"
                           "prices:\n  - {model: m, input: 1.5, output: 2}\n";

typedef struct fixture {
    sy_config_t *cfg;
    sy_redact_t *redact;
    sy_log_enrich_t e;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    sy_conf_err_t err;
    f->cfg = sy_config_load_string("t.yaml", yaml, strlen(yaml), &err);
    assert_non_null(f->cfg);
    sy_redact_conf_t rc;
    memset(&rc, 0, sizeof rc);
    char msg[256];
    f->redact = sy_redact_new(&rc, msg, sizeof msg);
    assert_non_null(f->redact);
    f->e = (sy_log_enrich_t){
        .cfg = f->cfg, .redact = f->redact, .max_body_bytes = 4096, .bodies = true};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sy_redact_free(f->redact);
    sy_config_free(f->cfg);
    free(f);
    return 0;
}

/* An owned row as the relay submits it: raw request body, capture attached. */
static sy_log_record_t *row(const char *req, const char *resp, bool sse, const char *model)
{
    sy_log_record_t v;
    sy_log_record_init(&v);
    sy_uuid_v7(v.id);
    v.t_received_us = 1735689600ll * 1000000;
    v.model = sy_str_c(model);
    v.provider = SY_STR_LIT("mock");
    v.upstream_model = sy_str_c(model);
    v.request_body = sy_str_c(req);
    v.request_size = (int64_t)strlen(req);
    sy_log_aux_t *aux = sy_xmalloc(sizeof *aux);
    *aux = (sy_log_aux_t){.has_capture = true, .format = SY_CAPTURE_OPENAI, .sse = sse};
    sy_capture_init(&aux->cap, 4096, 1024);
    sy_capture_feed(&aux->cap, resp, strlen(resp));
    v.aux = aux;
    return sy_log_record_clone(&v);
}

static void json_reply_with_usage(void **state)
{
    fixture_t *f = *state;
    sy_log_record_t *r =
        row("{\"model\":\"m\",\"user\":\"u-1\",\"metadata\":{\"k\":\"v\"},\"messages\":[{\"role\":"
            "\"user\",\"content\":\"mail a@b.example\"}]}",
            "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{"
            "\"role\":\"assistant\",\"content\":\"to a@b.example\"},\"finish_reason\":\"stop\"}],"
            "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":34,\"total_tokens\":46}}",
            false, "m");
    r = sy_log_enrich_transform(&f->e, r);
    assert_null(r->aux);
    assert_int_equal(r->input_tokens, 12);
    assert_int_equal(r->output_tokens, 34);
    assert_int_equal(r->usage_source, SY_LOG_USAGE_PROVIDER);
    assert_int_equal(r->cost_nanousd, 86000);
    assert_null(strstr(r->request_body.ptr, "a@b.example"));
    assert_non_null(strstr(r->request_body.ptr, "[EMAIL]"));
    assert_null(strstr(r->response_body.ptr, "a@b.example"));
    assert_non_null(strstr(r->response_body.ptr, "\"usage\""));
    assert_non_null(r->metadata.ptr);
    assert_string_equal(r->metadata.ptr, "{\"k\":\"v\",\"user\":\"u-1\"}");
    assert_false(r->response_truncated);
    sy_log_record_free(r);
}

static void stream_without_usage_is_estimated(void **state)
{
    fixture_t *f = *state;
    sy_log_record_t *r =
        row("{\"model\":\"m\",\"stream\":true}",
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
            "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
            "\"delta\":{\"content\":\"Hello there\"}}]}\n\n"
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
            "\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
            true, "m");
    r = sy_log_enrich_transform(&f->e, r);
    assert_int_equal(r->usage_source, SY_LOG_USAGE_ESTIMATED);
    assert_int_equal(r->output_tokens, 3); /* ceil(11 / 4) */
    assert_int_equal(r->input_tokens, 7);  /* ceil(28 / 4) */
    assert_int_equal(r->cost_nanousd, 7 * 1500 + 3 * 2000);
    assert_string_equal(r->response_body.ptr, "Hello there");
    assert_null(r->metadata.ptr);
    sy_log_record_free(r);
}

static void unknown_price_is_null_and_bodies_capped(void **state)
{
    fixture_t *f = *state;
    f->e.max_body_bytes = 8;
    sy_log_record_t *r = row("{\"model\":\"other\"}",
                             "{\"choices\":[],\"usage\":{\"prompt_tokens\":1,"
                             "\"completion_tokens\":1}}",
                             false, "other");
    r = sy_log_enrich_transform(&f->e, r);
    f->e.max_body_bytes = 4096;
    assert_int_equal(r->usage_source, SY_LOG_USAGE_PROVIDER);
    assert_int_equal(r->cost_nanousd, SY_LOG_UNKNOWN);
    assert_true(r->request_truncated);
    assert_true(r->response_truncated);
    assert_true(r->request_body.len <= 8);
    assert_true(r->response_body.len <= 8);
    assert_int_equal(r->request_size, 17);
    sy_log_record_free(r);
}

static void producer_cut_counts_as_truncated(void **state)
{
    fixture_t *f = *state;
    sy_log_record_t *r = row("{\"model\":\"m\"", "{\"choices\":[]}", false, "m");
    r->request_size = 5000; /* the relay kept only a prefix */
    r = sy_log_enrich_transform(&f->e, r);
    assert_true(r->request_truncated);
    assert_false(r->response_truncated);
    assert_int_equal(r->request_size, 5000);
    sy_log_record_free(r);
}

static void discard_releases_the_capture(void **state)
{
    fixture_t *f = *state;
    sy_log_record_t *r = row("{}", "{\"choices\":[]}", false, "m");
    sy_log_enrich_discard(&f->e, r); /* ASan: nothing leaks */
    assert_null(r->aux);
    sy_log_record_free(r);
}

/* The limits reservation's hook: told the row's tokens and cost once, or -1/-1 when dropped. */
typedef struct settled {
    int calls;
    int64_t tokens, cost;
} settled_t;

static void on_settle(void *arg, int64_t tokens, int64_t cost)
{
    settled_t *s = arg;
    s->calls++;
    s->tokens = tokens;
    s->cost = cost;
}

static void settle_hook_gets_the_row_numbers_once(void **state)
{
    fixture_t *f = *state;
    settled_t s = {0};
    sy_log_record_t *r = row("{\"model\":\"m\"}",
                             "{\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
                             "\"completion_tokens\":34,\"total_tokens\":46}}",
                             false, "m");
    ((sy_log_aux_t *)r->aux)->settle = on_settle;
    ((sy_log_aux_t *)r->aux)->settle_arg = &s;
    r = sy_log_enrich_transform(&f->e, r);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.tokens, 46);
    assert_int_equal(s.cost, r->cost_nanousd);
    assert_int_equal(s.cost, 86000);
    sy_log_record_free(r);
    /* no usage, no capture (an error row): unknown */
    s = (settled_t){0};
    sy_log_record_t v;
    sy_log_record_init(&v);
    v.model = SY_STR_LIT("m");
    v.status = SY_LOG_STATUS_ERROR;
    sy_log_aux_t *aux = sy_xcalloc(1, sizeof *aux);
    aux->settle = on_settle;
    aux->settle_arg = &s;
    v.aux = aux;
    r = sy_log_enrich_transform(&f->e, sy_log_record_clone(&v));
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.tokens, -1);
    assert_int_equal(s.cost, -1);
    sy_log_record_free(r);
    /* dropped before the transform */
    s = (settled_t){0};
    r = row("{}", "{\"choices\":[]}", false, "m");
    ((sy_log_aux_t *)r->aux)->settle = on_settle;
    ((sy_log_aux_t *)r->aux)->settle_arg = &s;
    sy_log_enrich_discard(&f->e, r);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.tokens, -1);
    assert_int_equal(s.cost, -1);
    sy_log_record_free(r);
}

/* `metadata`/`user` are looked for as keys: `"role":"user"` alone must not make the writer
 * parse the body (it did: every chat body), a key with spaces before the colon must. */
static void metadata_only_from_keys(void **state)
{
    fixture_t *f = *state;
    const char *reply = "{\"choices\":[]}";
    sy_log_record_t *r =
        row("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", reply, false,
            "m");
    r = sy_log_enrich_transform(&f->e, r);
    assert_null(r->metadata.ptr);
    sy_log_record_free(r);
    r = row("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"user\" \n :\"u-2\"}", reply,
            false, "m");
    r = sy_log_enrich_transform(&f->e, r);
    assert_non_null(r->metadata.ptr);
    assert_string_equal(r->metadata.ptr, "{\"user\":\"u-2\"}");
    sy_log_record_free(r);
    r = row("{\"metadata\"\t:{\"a\":1},\"messages\":[]}", reply, false, "m");
    r = sy_log_enrich_transform(&f->e, r);
    assert_non_null(r->metadata.ptr);
    assert_string_equal(r->metadata.ptr, "{\"a\":1}");
    sy_log_record_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metadata_only_from_keys),
        cmocka_unit_test(json_reply_with_usage),
        cmocka_unit_test(stream_without_usage_is_estimated),
        cmocka_unit_test(unknown_price_is_null_and_bodies_capped),
        cmocka_unit_test(producer_cut_counts_as_truncated),
        cmocka_unit_test(discard_releases_the_capture),
        cmocka_unit_test(settle_hook_gets_the_row_numbers_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
