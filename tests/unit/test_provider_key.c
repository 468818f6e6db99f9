/* providers/common.c: the swappable per-deployment key (sy_provider_key_*) and its per-call
 * copy chained by sy_provider_request_id_header; concurrent readers never see a torn or freed
 * line while another thread swaps it (run under ASan/TSan in CI). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/provider.h"

static sy_deploy_conf_t make_deploy(const sy_provider_t *p, const char *env_key, const char *cred)
{
    sy_deploy_conf_t d;
    memset(&d, 0, sizeof d);
    d.id = "dep";
    d.provider = p;
    d.api_key = (char *)env_key;
    d.credential = (char *)cred;
    sy_provider_key_new(&d);
    return d;
}

/* The key header line a call would send, or NULL. */
static const char *sent_key(sy_deploy_conf_t *d, sy_arena_t *a, struct curl_slist *shared)
{
    sy_call_t call;
    memset(&call, 0, sizeof call);
    call.deploy = d;
    call.arena = a;
    call.request_id = "rid-1";
    struct curl_slist *node = sy_arena_alloc(a, sizeof *node);
    struct curl_slist *h = sy_provider_request_id_header(&call, node, shared);
    assert_ptr_equal(h, node);
    assert_string_equal(h->data, "x-request-id: rid-1");
    if (h->next == shared) return NULL;
    assert_ptr_equal(h->next->next, shared);
    return h->next->data;
}

static void set_swap_clear(void **state)
{
    (void)state;
    sy_arena_t a;
    sy_arena_init(&a);
    struct curl_slist shared = {.data = "Content-Type: application/json", .next = NULL};
    sy_deploy_conf_t d = make_deploy(&sy_provider_openai, "sk-env-1", NULL);
    const char *k1 = sent_key(&d, &a, &shared);
    assert_string_equal(k1, "Authorization: Bearer sk-env-1");
    char msg[256] = "";
    assert_true(sy_provider_key_ready(&d, msg, sizeof msg)); /* env keys are always ready */
    sy_provider_key_set(&d, "sk-new-22", 9);
    /* a call already made keeps its copy; the next one carries the new key */
    assert_string_equal(k1, "Authorization: Bearer sk-env-1");
    assert_string_equal(sent_key(&d, &a, &shared), "Authorization: Bearer sk-new-22");
    sy_provider_key_set(&d, NULL, 0);
    assert_null(sent_key(&d, &a, &shared));
    sy_provider_key_free(&d);
    assert_null(d.key);

    /* other providers' header names */
    sy_deploy_conf_t an = make_deploy(&sy_provider_anthropic, "ak-1", NULL);
    assert_string_equal(sent_key(&an, &a, &shared), "x-api-key: ak-1");
    sy_provider_key_free(&an);
    sy_deploy_conf_t ge = make_deploy(&sy_provider_gemini, "gk-1", NULL);
    assert_string_equal(sent_key(&ge, &a, &shared), "x-goog-api-key: gk-1");
    sy_provider_key_free(&ge);
    /* mock sends no key, whatever is set */
    sy_deploy_conf_t mo = make_deploy(&sy_provider_mock, "mk-1", NULL);
    sy_provider_key_set(&mo, "x", 1);
    assert_null(sent_key(&mo, &a, &shared));
    sy_provider_key_free(&mo);
    /* no key block at all (a config that was never resolved): no key node */
    sy_deploy_conf_t none;
    memset(&none, 0, sizeof none);
    none.provider = &sy_provider_openai;
    assert_null(sent_key(&none, &a, &shared));
    sy_arena_dispose(&a);
}

static void credential_not_set(void **state)
{
    (void)state;
    sy_deploy_conf_t d = make_deploy(&sy_provider_openai, NULL, "openai-main");
    char msg[512] = "";
    assert_false(sy_provider_key_ready(&d, msg, sizeof msg));
    assert_non_null(
        strstr(msg, "deployment 'dep' uses credential 'openai-main', which is not set"));
    assert_non_null(strstr(msg, "PUT /api/v1/credentials/openai-main"));
    sy_provider_key_set(&d, "sk-cred", 7);
    msg[0] = '\0';
    assert_true(sy_provider_key_ready(&d, msg, sizeof msg));
    assert_string_equal(msg, "");
    sy_provider_key_free(&d);
}

#define LINE_A "Authorization: Bearer sk-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LINE_B "Authorization: Bearer sk-b"

typedef struct shared_state {
    sy_deploy_conf_t *d;
    atomic_bool stop;
    atomic_long bad, reads;
} shared_state_t;

static void *reader(void *arg)
{
    shared_state_t *st = arg;
    sy_arena_t a;
    sy_arena_init(&a);
    struct curl_slist shared = {.data = "x", .next = NULL};
    while (!atomic_load(&st->stop)) {
        for (int i = 0; i < 64; i++) {
            sy_call_t call;
            memset(&call, 0, sizeof call);
            call.deploy = st->d;
            call.arena = &a;
            call.request_id = "r";
            struct curl_slist node;
            struct curl_slist *h = sy_provider_request_id_header(&call, &node, &shared);
            const char *k = h->next != &shared ? h->next->data : NULL;
            if (!k || (strcmp(k, LINE_A) != 0 && strcmp(k, LINE_B) != 0))
                atomic_fetch_add(&st->bad, 1);
            atomic_fetch_add(&st->reads, 1);
        }
        sy_arena_reset(&a);
    }
    sy_arena_dispose(&a);
    return NULL;
}

static void concurrent_swaps(void **state)
{
    (void)state;
    sy_deploy_conf_t d = make_deploy(&sy_provider_openai, NULL, "c");
    sy_provider_key_set(&d, LINE_A + 22, strlen(LINE_A) - 22);
    shared_state_t st = {.d = &d};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, &st), 0);
    for (int i = 0; i < 20000; i++) {
        const char *line = i % 2 ? LINE_A : LINE_B;
        sy_provider_key_set(&d, line + 22, strlen(line) - 22);
    }
    atomic_store(&st.stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&st.bad), 0);
    assert_true(atomic_load(&st.reads) > 0);
    sy_provider_key_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_swap_clear),
        cmocka_unit_test(credential_not_set),
        cmocka_unit_test(concurrent_swaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
