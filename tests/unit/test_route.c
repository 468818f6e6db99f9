/* routing/route.c: deployment choice, cooldown state machine, error classes. Time and
 * randomness are passed in, so every case is deterministic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routing/route.h"

static sy_config_t *load(const char *yaml)
{
    sy_conf_err_t err;
    sy_config_t *c = sy_config_load_string("t.yaml", yaml, strlen(yaml), &err);
    if (!c) print_error("%s\n", err.msg);
    assert_non_null(c);
    sy_route_init(c);
    return c;
}

static const char *two = "models:\n"
                         "  - name: m\n"
                         "    deployments:\n"
                         "      - {id: a, provider: mock, weight: 3}\n"
                         "      - {id: b, provider: mock, weight: 1}\n"
                         "    routing: {cooldown_failures: 2, cooldown_ms: 1000, STRATEGY}\n";

static sy_config_t *load_two(const char *strategy)
{
    char y[512];
    const char *at = strstr(two, "STRATEGY");
    snprintf(y, sizeof y, "%.*s%s%s", (int)(at - two), two, strategy, at + 8);
    return load(y);
}

static int pick(const sy_model_conf_t *m, uint64_t now, uint32_t tried, uint32_t rnd, bool *probe)
{
    uint64_t wait = 0;
    return sy_route_pick(m, now, tried, rnd, probe, &wait);
}

static void weighted_split_is_exact_over_the_random_range(void **state)
{
    sy_config_t *c = load_two("strategy: weighted");
    const sy_model_conf_t *m = &c->models[0];
    int counts[2] = {0, 0};
    bool probe;
    for (uint32_t r = 0; r < 4000; r++)
        counts[pick(m, 0, 0, r, &probe)]++;
    assert_int_equal(counts[0], 3000);
    assert_int_equal(counts[1], 1000);
    assert_false(probe);
    sy_config_free(c);
}

static void tried_deployments_are_avoided_while_others_remain(void **state)
{
    sy_config_t *c = load_two("strategy: weighted");
    const sy_model_conf_t *m = &c->models[0];
    bool probe;
    for (uint32_t r = 0; r < 100; r++) {
        assert_int_equal(pick(m, 0, 1u << 0, r, &probe), 1);
        assert_int_equal(pick(m, 0, 1u << 1, r, &probe), 0);
    }
    /* all tried: any of them again (retrying a single deployment) */
    int seen[2] = {0, 0};
    for (uint32_t r = 0; r < 100; r++)
        seen[pick(m, 0, 3u, r, &probe)]++;
    assert_true(seen[0] > 0 && seen[1] > 0);
    sy_config_free(c);
}

static void cooldown_opens_probes_and_closes(void **state)
{
    sy_config_t *c = load_two("strategy: weighted");
    const sy_model_conf_t *m = &c->models[0];
    const sy_deploy_conf_t *a = &m->deployments[0];
    bool probe;
    /* one failure: still in rotation; the second opens the breaker at t=100 */
    sy_route_record(a, 100, false, SY_ERRCLASS_SERVER, false, 0);
    assert_int_equal(atomic_load(&a->state->open_until), 0);
    sy_route_record(a, 100, false, SY_ERRCLASS_SERVER, false, 0);
    assert_int_equal(atomic_load(&a->state->open_until), 1100);
    for (uint32_t r = 0; r < 50; r++)
        assert_int_equal(pick(m, 500, 0, r, &probe), 1);
    /* cooldown over: the next request is the probe, and only one probe at a time */
    assert_int_equal(pick(m, 1100, 0, 0, &probe), 0);
    assert_true(probe);
    for (uint32_t r = 0; r < 50; r++) {
        assert_int_equal(pick(m, 1200, 0, r, &probe), 1);
        assert_false(probe);
    }
    /* the probe fails: open again from now */
    sy_route_record(a, 1300, false, SY_ERRCLASS_TIMEOUT, true, 0);
    assert_int_equal(atomic_load(&a->state->open_until), 2300);
    assert_int_equal(atomic_load(&a->state->probing), 0);
    assert_int_equal(pick(m, 2000, 0, 0, &probe), 1);
    /* next probe succeeds: closed, full traffic */
    assert_int_equal(pick(m, 2300, 0, 0, &probe), 0);
    assert_true(probe);
    sy_route_record(a, 2350, true, 0, true, 1000);
    assert_int_equal(atomic_load(&a->state->open_until), 0);
    assert_int_equal(atomic_load(&a->state->fails), 0);
    int counts[2] = {0, 0};
    for (uint32_t r = 0; r < 400; r++)
        counts[pick(m, 2400, 0, r, &probe)]++;
    assert_int_equal(counts[0], 300);
    sy_config_free(c);
}

static void client_errors_do_not_cool_down(void **state)
{
    sy_config_t *c = load_two("strategy: weighted");
    const sy_deploy_conf_t *a = &c->models[0].deployments[0];
    for (int i = 0; i < 10; i++)
        sy_route_record(a, 0, false, SY_ERRCLASS_CLIENT, false, 0);
    sy_route_record(a, 0, false, SY_ERRCLASS_CONTEXT_LENGTH, false, 0);
    assert_int_equal(atomic_load(&a->state->open_until), 0);
    /* and a success in between resets the count */
    sy_route_record(a, 0, false, SY_ERRCLASS_RATE_LIMIT, false, 0);
    sy_route_record(a, 0, true, 0, false, 0);
    sy_route_record(a, 0, false, SY_ERRCLASS_RATE_LIMIT, false, 0);
    assert_int_equal(atomic_load(&a->state->open_until), 0);
    sy_config_free(c);
}

static void all_cooling_down_reports_the_wait(void **state)
{
    sy_config_t *c = load_two("strategy: weighted");
    const sy_model_conf_t *m = &c->models[0];
    for (int d = 0; d < 2; d++) {
        sy_route_record(&m->deployments[d], 1000 + (uint64_t)d * 200, false, SY_ERRCLASS_SERVER,
                        false, 0);
        sy_route_record(&m->deployments[d], 1000 + (uint64_t)d * 200, false, SY_ERRCLASS_SERVER,
                        false, 0);
    }
    bool probe;
    uint64_t wait = 0;
    assert_int_equal(sy_route_pick(m, 1500, 0, 7, &probe, &wait), SY_ROUTE_NONE);
    assert_int_equal(wait, 500); /* a reopens at 2000 */
    sy_config_free(c);
}

static void least_inflight_and_latency(void **state)
{
    sy_config_t *c = load_two("strategy: least_inflight");
    const sy_model_conf_t *m = &c->models[0];
    bool probe;
    atomic_store(&m->deployments[0].state->inflight, 5);
    atomic_store(&m->deployments[1].state->inflight, 2);
    for (uint32_t r = 0; r < 20; r++)
        assert_int_equal(pick(m, 0, 0, r, &probe), 1);
    atomic_store(&m->deployments[1].state->inflight, 5); /* tie: by weight */
    int counts[2] = {0, 0};
    for (uint32_t r = 0; r < 400; r++)
        counts[pick(m, 0, 0, r, &probe)]++;
    assert_int_equal(counts[0], 300);
    sy_config_free(c);

    c = load_two("strategy: latency");
    m = &c->models[0];
    /* no samples yet: both 0, weighted; then the faster one wins */
    sy_route_record(&m->deployments[0], 0, true, 0, false, 90000);
    sy_route_record(&m->deployments[1], 0, true, 0, false, 20000);
    for (uint32_t r = 0; r < 20; r++)
        assert_int_equal(pick(m, 0, 0, r, &probe), 1);
    /* EWMA: b slows down over several samples until a is faster */
    for (int i = 0; i < 10; i++)
        sy_route_record(&m->deployments[1], 0, true, 0, false, 200000);
    assert_true(atomic_load(&m->deployments[1].state->ewma_us) > 90000);
    assert_int_equal(pick(m, 0, 0, 0, &probe), 0);
    /* a failure, even an instant one, is a penalty: a failing deployment never looks fast */
    sy_route_record(&m->deployments[0], 0, false, SY_ERRCLASS_SERVER, false, 500);
    assert_true(atomic_load(&m->deployments[0].state->ewma_us) >= 1000000);
    for (uint32_t r = 0; r < 20; r++)
        assert_int_equal(pick(m, 0, 0, r, &probe), 1);
    /* a 400 is not the deployment's fault: no penalty, no sample */
    unsigned long long before = atomic_load(&m->deployments[1].state->ewma_us);
    sy_route_record(&m->deployments[1], 0, false, SY_ERRCLASS_CLIENT, false, 5);
    assert_int_equal(atomic_load(&m->deployments[1].state->ewma_us), before);
    sy_config_free(c);
}

static void attempts_header_never_cuts_an_entry(void **state)
{
    sy_config_t *c = load("models:\n  - name: a-rather-long-model-name-for-the-header-test\n"
                          "    provider: mock\n");
    sy_route_t r;
    memset(&r, 0, sizeof r);
    r.n_attempts = 12;
    for (size_t i = 0; i < r.n_attempts; i++) {
        r.attempts[i].model = &c->models[0];
        r.attempts[i].deploy = &c->models[0].deployments[0];
        r.attempts[i].status = 500;
        r.attempts[i].outcome = SY_ATTEMPT_ERROR;
        r.attempts[i].t_start_us = 1000;
        r.attempts[i].t_end_us = 3000;
    }
    char buf[200];
    size_t n = sy_route_attempts_header(&r, buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    assert_true(n < sizeof buf);
    assert_non_null(strstr(buf, "a-rather-long-model-name-for-the-header-test 500 2ms, "));
    const char *more = strstr(buf, " more");
    assert_non_null(more);
    assert_int_equal(more[5], '\0');
    char big[4096];
    sy_route_attempts_header(&r, big, sizeof big);
    assert_null(strstr(big, "more"));
    sy_config_free(c);
}

static void error_classes(void **state)
{
    assert_int_equal(sy_route_classify(429, SY_ERR_UPSTREAM_STATUS, "{}", 2),
                     SY_ERRCLASS_RATE_LIMIT);
    assert_int_equal(sy_route_classify(500, SY_ERR_UPSTREAM_STATUS, NULL, 0), SY_ERRCLASS_SERVER);
    assert_int_equal(sy_route_classify(529, SY_ERR_UPSTREAM_STATUS, NULL, 0), SY_ERRCLASS_SERVER);
    assert_int_equal(sy_route_classify(401, SY_ERR_UPSTREAM_STATUS, NULL, 0), SY_ERRCLASS_AUTH);
    assert_int_equal(sy_route_classify(404, SY_ERR_UPSTREAM_STATUS, NULL, 0), SY_ERRCLASS_CLIENT);
    assert_int_equal(sy_route_classify(408, SY_ERR_UPSTREAM_STATUS, NULL, 0), SY_ERRCLASS_TIMEOUT);
    assert_int_equal(sy_route_classify(0, SY_ERR_UPSTREAM_TIMEOUT, NULL, 0), SY_ERRCLASS_TIMEOUT);
    assert_int_equal(sy_route_classify(0, SY_ERR_UPSTREAM_UNREACHABLE, NULL, 0),
                     SY_ERRCLASS_UNREACHABLE);
    assert_int_equal(sy_route_classify(0, SY_ERR_UPSTREAM_BROKEN, NULL, 0),
                     SY_ERRCLASS_UNREACHABLE);
    static const char *ctx[] = {
        "{\"error\":{\"code\":\"context_length_exceeded\",\"message\":\"x\"}}",
        "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"prompt "
        "is too long: 250000 tokens > 200000 maximum\"}}",
        "{\"error\":{\"code\":400,\"message\":\"The input token count (1200000) exceeds the "
        "maximum number of tokens allowed (1048576).\",\"status\":\"INVALID_ARGUMENT\"}}",
        "This model's maximum context length is 8192 tokens",
    };
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(sy_route_classify(400, SY_ERR_UPSTREAM_STATUS, ctx[i], strlen(ctx[i])),
                         SY_ERRCLASS_CONTEXT_LENGTH);
    const char *plain = "{\"error\":{\"message\":\"temperature must be <= 2\"}}";
    assert_int_equal(sy_route_classify(400, SY_ERR_UPSTREAM_STATUS, plain, strlen(plain)),
                     SY_ERRCLASS_CLIENT);
    /* a 429 that mentions tokens is still a rate limit */
    const char *rl = "{\"error\":{\"message\":\"too many tokens per minute\"}}";
    assert_int_equal(sy_route_classify(429, SY_ERR_UPSTREAM_STATUS, rl, strlen(rl)),
                     SY_ERRCLASS_RATE_LIMIT);
}

static void retry_after_parsing(void **state)
{
    assert_int_equal(sy_upstream_retry_after_ms("1", NULL), 1000);
    assert_int_equal(sy_upstream_retry_after_ms("0.25", ""), 250);
    assert_int_equal(sy_upstream_retry_after_ms("2", "150"), 150);
    assert_int_equal(sy_upstream_retry_after_ms("", ""), -1);
    assert_int_equal(sy_upstream_retry_after_ms("soon", NULL), -1);
    assert_int_equal(sy_upstream_retry_after_ms("-3", NULL), -1);
    assert_int_equal(sy_upstream_retry_after_ms("0x10", NULL), -1);
    assert_int_equal(sy_upstream_retry_after_ms("1e3", NULL), -1);
    assert_int_equal(sy_upstream_retry_after_ms("99999999", NULL), 24ll * 3600 * 1000);
    assert_int_equal(sy_upstream_retry_after_ms("1", "0x10"), 1000);
    assert_int_equal(sy_upstream_retry_after_ms("Fri, 01 Jan 2100 00:00:00 GMT", NULL),
                     24ll * 3600 * 1000);
    /* an HTTP-date in the past means now */
    assert_int_equal(sy_upstream_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(weighted_split_is_exact_over_the_random_range),
        cmocka_unit_test(tried_deployments_are_avoided_while_others_remain),
        cmocka_unit_test(cooldown_opens_probes_and_closes),
        cmocka_unit_test(client_errors_do_not_cool_down),
        cmocka_unit_test(all_cooling_down_reports_the_wait),
        cmocka_unit_test(least_inflight_and_latency),
        cmocka_unit_test(error_classes),
        cmocka_unit_test(attempts_header_never_cuts_an_entry),
        cmocka_unit_test(retry_after_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
