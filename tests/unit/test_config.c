#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "providers/provider.h"

static sy_config_t *load(const char *yaml, sy_conf_err_t *err)
{
    return sy_config_load_string("t.yaml", yaml, strlen(yaml), err);
}

static void full_config(void **state)
{
    setenv("SY_TEST_KEY", "sk-test-123", 1);
    const char *y =
        "server:\n"
        "  listen: 0.0.0.0:9090\n"
        "  workers: 3\n"
        "  sched_slice_us: 250\n"
        "limits:\n"
        "  max_body_bytes: 1_048_576\n"
        "  sse_keepalive_ms: 500\n"
        "  max_live_generations_per_user: 9\n"
        "models:\n"
        "  - name: gpt\n"
        "    provider: openai\n"
        "    model: gpt-4o-mini\n"
        "    base_url: https://api.openai.com/v1/\n"
        "    api_key: env:SY_TEST_KEY\n"
        "    timeouts: {connect_ms: 100, first_byte_ms: 200, idle_ms: 300, total_ms: 400}\n"
        "    defaults:\n"
        "      temperature: 0.5\n"
        "      user: \"42\"\n"
        "      stop: [a, b]\n"
        "      logprobs: true\n"
        "  - name: m\n"
        "    provider: mock\n"
        "    mock: {latency_ms: 5, chunks: 3, chunk_delay_ms: 1, prompt_tokens: 7}\n";
    sy_conf_err_t err;
    sy_config_t *c = load(y, &err);
    assert_non_null(c);
    assert_string_equal(c->listen_host, "0.0.0.0");
    assert_int_equal(c->listen_port, 9090);
    assert_int_equal(c->workers, 3);
    assert_int_equal(c->sched_slice_us, 250);
    assert_int_equal(c->max_body_bytes, 1048576);
    assert_int_equal(c->sse_keepalive_ms, 500);
    assert_int_equal(c->max_live_generations_per_user, 9);
    assert_int_equal(c->max_header_bytes, 16384); /* default */
    assert_int_equal(c->n_models, 2);
    sy_deploy_conf_t *g = &c->models[0].deployments[0];
    assert_int_equal(c->models[0].n_deployments, 1);
    assert_int_equal(c->models[0].retries, 0);           /* one deployment: no retries */
    assert_int_equal(c->models[0].cooldown_failures, 0); /* and no cooldown */
    assert_string_equal(g->id, c->models[0].name);
    assert_ptr_equal(g->model, &c->models[0]);
    assert_string_equal(g->upstream_model, "gpt-4o-mini");
    assert_string_equal(g->upstream_model_json, "\"gpt-4o-mini\"");
    assert_string_equal(g->base_url, "https://api.openai.com/v1");
    assert_string_equal(g->api_key, "sk-test-123");
    assert_int_equal(g->connect_ms, 100);
    assert_int_equal(g->total_ms, 400);
    assert_int_equal(g->n_defaults, 4);
    assert_string_equal(g->defaults[0].json, "0.5");
    assert_string_equal(g->defaults[1].json, "\"42\"");
    assert_string_equal(g->defaults[2].json, "[\"a\",\"b\"]");
    assert_string_equal(g->defaults[3].json, "true");
    assert_int_equal(g->line, 10);
    sy_deploy_conf_t *m = &c->models[1].deployments[0];
    assert_string_equal(m->upstream_model, "m");
    assert_int_equal(m->mock.chunks, 3);
    assert_int_equal(m->mock.prompt_tokens, 7);
    assert_int_equal(m->mock.completion_tokens, -1);
    assert_ptr_equal(sy_config_find_model(c, "m", 1), &c->models[1]);
    assert_null(sy_config_find_model(c, "x", 1));
    char msg[512];
    assert_true(sy_provider_resolve(c, msg, sizeof msg));
    assert_ptr_equal(g->provider, &sy_provider_openai);
    assert_ptr_equal(m->provider, &sy_provider_mock);
    sy_provider_release(c);
    sy_config_free(c);
}

typedef struct bad_case {
    const char *yaml;
    const char *want; /* the error message must contain this */
} bad_case_t;

/* models[].ui: the chat app's hidden and locked parameters (issue 6). */
static void model_ui_section(void **state)
{
    (void)state;
    sy_conf_err_t err;
    sy_config_t *c = load("models:\n"
                          "  - name: a\n"
                          "    provider: mock\n"
                          "    ui:\n"
                          "      hide: [seed, system]\n"
                          "      lock: {temperature: 1, max_tokens: 256, response_format: {type: "
                          "json_object}, seed: 7}\n"
                          "  - {name: b, provider: mock}\n",
                          &err);
    if (!c) print_error("%s\n", err.msg);
    assert_non_null(c);
    assert_int_equal(c->sched_slice_us, 100);              /* default */
    assert_int_equal(c->max_live_generations_per_user, 4); /* the chat app's default */
    const sy_model_ui_t *ui = &sy_config_find_model(c, "a", 1)->ui;
    assert_int_equal(ui->hidden, (1u << SY_UI_SEED) | (1u << SY_UI_SYSTEM));
    assert_int_equal(ui->locked, (1u << SY_UI_TEMPERATURE) | (1u << SY_UI_MAX_TOKENS) |
                                     (1u << SY_UI_RESPONSE_FORMAT) | (1u << SY_UI_SEED));
    assert_string_equal(ui->lock_json[SY_UI_TEMPERATURE], "1");
    assert_string_equal(ui->lock_json[SY_UI_MAX_TOKENS], "256");
    assert_string_equal(ui->lock_json[SY_UI_RESPONSE_FORMAT], "{\"type\":\"json_object\"}");
    assert_string_equal(ui->lock_json[SY_UI_SEED], "7");
    assert_null(ui->lock_json[SY_UI_TOP_P]);
    const sy_model_ui_t *none = &sy_config_find_model(c, "b", 1)->ui;
    assert_int_equal(none->hidden | none->locked, 0);
    assert_int_equal(sy_ui_param("top_p", 5), SY_UI_TOP_P);
    assert_int_equal(sy_ui_param("top_k", 5), -1);
    assert_string_equal(sy_ui_param_names[SY_UI_RESPONSE_FORMAT], "response_format");
    sy_config_free(c);

    static const bad_case_t cases[] = {
        {"models:\n  - name: a\n    provider: mock\n    ui: [seed]\n",
         "t.yaml:4: models[0].ui: expected a mapping"},
        {"models:\n  - name: a\n    provider: mock\n    ui:\n      hide: seed\n",
         "t.yaml:5: models[0].ui.hide: expected a list of parameter names (temperature, top_p, "
         "max_tokens, seed, system, response_format)"},
        {"models:\n  - name: a\n    provider: mock\n    ui:\n      hide: [seed, top_k]\n",
         "t.yaml:5: models[0].ui.hide: 'top_k' is not a parameter"},
        {"models:\n  - name: a\n    provider: mock\n    ui:\n      hide: [seed, seed]\n",
         "t.yaml:5: models[0].ui.hide: 'seed' is listed twice"},
        {"models:\n  - name: a\n    provider: mock\n    ui:\n      lock:\n        top_k: 3\n",
         "t.yaml:6: models[0].ui.lock.top_k: not a parameter"},
        {"models:\n  - name: a\n    provider: mock\n    ui:\n      lock: {temperature: 3}\n",
         "t.yaml:5: models[0].ui.lock.temperature: must be a number from 0 to 2"},
        {"models:\n  - name: a\n    provider: mock\n    ui:\n      lock: {top_p: hot}\n",
         "t.yaml:5: models[0].ui.lock.top_p: must be a number from 0 to 1"},
        {"models:\n  - name: a\n    provider: mock\n    ui:\n      lock: {max_tokens: 0}\n",
         "t.yaml:5: models[0].ui.lock.max_tokens: must be an integer of 1 or more"},
        {"models:\n  - name: a\n    provider: mock\n    ui:\n      lock: {seed: 1.5}\n",
         "t.yaml:5: models[0].ui.lock.seed: must be an integer"},
        {"models:\n  - name: a\n    provider: mock\n    ui:\n      lock: {system: [x]}\n",
         "t.yaml:5: models[0].ui.lock.system: must be a string"},
        {"models:\n  - name: a\n    provider: mock\n    ui:\n      lock:\n"
         "        response_format: {type: yaml}\n",
         "t.yaml:6: models[0].ui.lock.response_format: must be an object with \"type\""},
        {"models:\n  - name: a\n    provider: mock\n    ui:\n      lock:\n"
         "        response_format: {type: json_schema}\n",
         "t.yaml:6: models[0].ui.lock.response_format: a json_schema response_format needs"},
        {"models:\n  - name: a\n    provider: mock\n    ui:\n      show: [seed]\n",
         "t.yaml:5: models[0].ui.show: unknown key (hide, lock)"},
        {"models:\n  - name: a\n    provider: mock\n    uix: 1\n",
         "t.yaml:4: models[0].uix: unknown key (name, routing, deployments, ui, "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sy_conf_err_t e = {{0}};
        sy_config_t *bad = load(cases[i].yaml, &e);
        if (bad || !strstr(e.msg, cases[i].want)) {
            print_error("case %zu: got '%s', want '%s'\n", i, bad ? "(loaded)" : e.msg,
                        cases[i].want);
            fail();
        }
    }
}

static void errors_name_file_line_and_key(void **state)
{
    unsetenv("SY_TEST_MISSING");
    static const bad_case_t cases[] = {
        {"models:\n  - name: a\n    provider: mock\n    bogus: 1\n",
         "t.yaml:4: models[0].bogus: unknown key"},
        {"server:\n  listen: nope\nmodels: []\n", "t.yaml:2: server.listen: expected HOST:PORT"},
        {"server:\n  workers: -1\nmodels: []\n",
         "t.yaml:2: server.workers: expected a non-negative integer"},
        {"limits:\n  max_body_bytes: 12\nmodels:\n  - {name: a, provider: mock}\n",
         "t.yaml:2: limits.max_body_bytes: must be at least 64"},
        {"limits:\n  max_live_generations_per_user: 0\nmodels:\n  - {name: a, provider: mock}\n",
         "t.yaml:2: limits.max_live_generations_per_user: must be 1 to 1000"},
        {"models:\n  - name: a\n    provider: mock\n  - name: a\n    provider: mock\n",
         "t.yaml:4: models[1].name: duplicate model name 'a' (first at line 2)"},
        {"models:\n  - provider: mock\n", "t.yaml:2: models[0].name: required"},
        {"models:\n  - name: a\n", "t.yaml:2: models[0].provider: required"},
        {"models:\n  - name: a\n    provider: openai\n    base_url: http://x\n    api_key: "
         "sk-literal\n",
         "t.yaml:5: models[0].api_key: expected a reference 'env:VARIABLE'"},
        {"models:\n  - name: a\n    provider: openai\n    base_url: http://x\n    api_key: "
         "env:SY_TEST_MISSING\n",
         "t.yaml:5: models[0].api_key: environment variable SY_TEST_MISSING is not set"},
        {"models:\n  - name: a\n    provider: openai\n    base_url: ftp://x\n",
         "t.yaml:4: models[0].base_url: must start with http:// or https://"},
        {"models:\n  - name: a\n    provider: openai\n    mock: {chunks: 2}\n",
         "t.yaml:4: models[0].mock: only valid with provider: mock"},
        {"models:\n  - name: a\n    provider: mock\n    mock: {chunks: 0}\n",
         "t.yaml:4: models[0].mock.chunks: must be at least 1"},
        {"models:\n  - name: a\n    provider: mock\n    timeouts: {soon: 1}\n",
         "t.yaml:4: models[0].timeouts.soon: unknown timeout"},
        {"models:\n  - name: a\n    provider: mock\n    defaults: {model: x}\n",
         "t.yaml:4: models[0].defaults.model: 'model' cannot have a default"},
        {"models: [\n", "t.yaml:2: (yaml):"},
        {"", "t.yaml:1: (root): the file is empty"},
        {"server: {}\n", "t.yaml:1: models: at least one model is required"},
        {"colour: blue\nmodels: []\n", "t.yaml:1: colour: unknown top-level key"},
        {"models:\n  - name: a\n    provider: mock\n    defaults: {\"a\\\"b\": 1}\n",
         "t.yaml:4: models[0].defaults.a\"b: parameter names are letters"},
        {"server:\n  upstream_client: fast\nmodels: []\n",
         "t.yaml:2: server.upstream_client: expected 'auto' or 'curl'"},
        {"server:\n  sched_slice_us: 50\nmodels: []\n",
         "t.yaml:2: server.sched_slice_us: expected 0 (the kernel's default) or 100..100000"},
        {"models:\n  - name: a\n    deployments: []\n",
         "t.yaml:3: models[0].deployments: expected a list of 1 to 32 deployments"},
        {"models:\n  - name: a\n    provider: mock\n    deployments:\n      - provider: mock\n",
         "t.yaml:3: models[0].deployments: a model has either deployments: or its own provider "
         "keys"},
        {"models:\n  - name: a\n    deployments:\n      - {provider: mock, weight: 0}\n",
         "t.yaml:4: models[0].deployments[0].weight: must be between 1 and 1000000"},
        {"models:\n  - name: a\n    deployments:\n      - {model: x}\n",
         "t.yaml:4: models[0].deployments[0].provider: required"},
        {"models:\n  - name: a\n    deployments:\n      - {provider: mock, colour: red}\n",
         "t.yaml:4: models[0].deployments[0].colour: unknown key"},
        {"models:\n  - name: a\n    deployments:\n      - {id: x, provider: mock}\n      - {id: "
         "x, provider: mock}\n",
         "t.yaml:5: models[0].deployments[1]: duplicate deployment id 'x'"},
        {"models:\n  - name: a\n    provider: mock\n    routing: {strategy: fastest}\n",
         "t.yaml:4: models[0].routing.strategy: expected weighted, least_inflight or latency"},
        {"models:\n  - name: a\n    provider: mock\n    routing: {retry_on: [oops]}\n",
         "t.yaml:4: models[0].routing.retry_on: unknown error class 'oops'"},
        {"models:\n  - name: a\n    provider: mock\n    routing: {fallbacks: [b]}\n",
         "t.yaml:2: models[0].routing.fallbacks[0]: unknown model 'b'"},
        {"models:\n  - name: a\n    provider: mock\n    routing: {fallbacks: [a]}\n",
         "t.yaml:2: models[0].routing.fallbacks[0]: a model cannot fall back to itself"},
        {"models:\n  - name: a\n    provider: mock\n    unsupported_params: ignore\n",
         "t.yaml:4: models[0].unsupported_params: expected 'drop' or 'reject'"},
        {"models:\n  - name: a\n    provider: mock\n    defaults: {top_p: 1, top_p: 2}\n",
         "t.yaml:4: models[0].defaults.top_p: duplicate key (first at line 4)"},
        {"models:\n  - name: a\n    provider: mock\n    provider: openai\n",
         "t.yaml:4: models[0].provider: duplicate key (first at line 3)"},
        {"models: [{name: a, provider: mock}]\nlog: {store: 'postgres://u:pw@h/db'}\n",
         "t.yaml:2: log.store: credentials in a store URL belong in the environment"},
        {"models: [{name: a, provider: mock}]\nlog: {store: mysql://h}\n",
         "t.yaml:2: log.store: expected sqlite:[PATH], postgres://"},
        {"models: [{name: a, provider: mock}]\nlog: {fsync: sometimes}\n",
         "t.yaml:2: log.fsync: expected always, everysec or never"},
        {"models: [{name: a, provider: mock}]\nlog: {max_body_bytes: 16777217}\n",
         "t.yaml:2: log.max_body_bytes: must be at most 16777216 (16 MiB)"},
        {"models: [{name: a, provider: mock}]\nlog:\n  max_body_bytes: 1_000_000_000\n",
         "t.yaml:3: log.max_body_bytes: must be at most 16777216 (16 MiB)"},
        {"models: [{name: a, provider: mock}]\nlog: {ack_timeout_ms: 50}\n",
         "t.yaml:2: log.ack_timeout_ms: must be between 100 and 3600000"},
        {"models: [{name: a, provider: mock}]\nlog: {writer_nice: 20}\n",
         "t.yaml:2: log.writer_nice: must be between 0 and 19"},
        {"models: [{name: a, provider: mock}]\nlog: {writer_nice: -1}\n",
         "t.yaml:2: log.writer_nice"},
        {"models: [{name: a, provider: mock}]\nlog: {redact: {email: blur}}\n",
         "t.yaml:2: log.redact.email: expected mask, hash or off"},
        {"models: [{name: a, provider: mock}]\nlog: {redact: {hash_key: abc}}\n",
         "t.yaml:2: log.redact.hash_key: expected a reference 'env:VARIABLE'"},
        {"models: [{name: a, provider: mock}]\nlog: {redact: {custom: [{name: x}]}}\n",
         "log.redact.custom[0].pattern: required"},
        {"models: [{name: a, provider: mock}]\nlog: {batch_rows: 0}\n",
         "t.yaml:2: log.batch_rows: must be between 1 and 100000"},
        {"models: [{name: a, provider: mock}]\nlog: {colour: red}\n",
         "t.yaml:2: log.colour: unknown key"},
        {"models:\n  - name: a\n    provider: mock\n    routing: {retries: 11}\n",
         "t.yaml:4: models[0].routing.retries: value 11 is too large (max 10)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sy_conf_err_t err = {{0}};
        sy_config_t *c = load(cases[i].yaml, &err);
        if (c || !strstr(err.msg, cases[i].want)) {
            print_error("case %zu: got '%s', want '%s'\n", i, c ? "(loaded)" : err.msg,
                        cases[i].want);
            fail();
        }
    }
}

static void deployments_and_routing(void **state)
{
    setenv("SY_TEST_KEY", "sk-test-123", 1);
    const char *y = "models:\n"
                    "  - name: smart\n"
                    "    deployments:\n"
                    "      - {id: a, provider: openai, model: gpt-4o, base_url: 'http://x/v1', "
                    "weight: 3, api_key: 'env:SY_TEST_KEY'}\n"
                    "      - provider: anthropic\n"
                    "        model: claude-sonnet-4-5\n"
                    "        unsupported_params: reject\n"
                    "        defaults: {max_tokens: 1000}\n"
                    "    routing:\n"
                    "      strategy: latency\n"
                    "      retries: 4\n"
                    "      backoff_ms: 10\n"
                    "      cooldown_failures: 2\n"
                    "      cooldown_ms: 500\n"
                    "      retry_on: [rate_limit, timeout]\n"
                    "      fallbacks: [big]\n"
                    "      fallback_on: [context_length]\n"
                    "  - name: big\n"
                    "    provider: gemini\n"
                    "    model: gemini-2.5-pro\n"
                    "    stream_options: false\n"
                    "    deployments_unused_marker: 1\n";
    sy_conf_err_t err;
    sy_config_t *c = load(y, &err);
    assert_null(c); /* the marker is an unknown key: checks the message names it */
    assert_non_null(strstr(err.msg, "t.yaml:22: models[1].deployments_unused_marker"));
    char *ok = strdup(y);
    *strstr(ok, "    deployments_unused_marker") = '\0';
    c = load(ok, &err);
    free(ok);
    assert_non_null(c);
    sy_model_conf_t *s = &c->models[0];
    assert_int_equal(s->n_deployments, 2);
    assert_string_equal(s->deployments[0].id, "a");
    assert_string_equal(s->deployments[1].id, "smart[1]");
    assert_int_equal(s->deployments[0].weight, 3);
    assert_int_equal(s->deployments[1].weight, 1);
    assert_true(s->deployments[1].reject_unsupported);
    assert_false(s->deployments[0].reject_unsupported);
    assert_int_equal(s->deployments[1].line, 5);
    assert_int_equal(s->strategy, SY_ROUTE_LATENCY);
    assert_int_equal(s->retries, 4);
    assert_int_equal(s->backoff_ms, 10);
    assert_int_equal(s->cooldown_failures, 2);
    assert_int_equal(s->cooldown_ms, 500);
    assert_int_equal(s->retry_on, SY_ERRCLASS_RATE_LIMIT | SY_ERRCLASS_TIMEOUT);
    assert_int_equal(s->fallback_on, SY_ERRCLASS_CONTEXT_LENGTH);
    assert_int_equal(s->n_fallbacks, 1);
    assert_ptr_equal(s->fallback_models[0], &c->models[1]);
    assert_false(c->models[1].deployments[0].stream_options);
    assert_true(s->deployments[0].stream_options);
    char msg[512];
    assert_true(sy_provider_resolve(c, msg, sizeof msg));
    assert_ptr_equal(s->deployments[1].provider, &sy_provider_anthropic);
    assert_ptr_equal(c->models[1].deployments[0].provider, &sy_provider_gemini);
    sy_provider_release(c);
    sy_config_free(c);
}

static void log_section(void **state)
{
    setenv("SY_TEST_PG", "postgres://u:secret@127.0.0.1:5432/db", 1);
    setenv("SY_TEST_HASHKEY", "0123456789abcdef0123456789abcdef", 1);
    const char *y = "models:\n  - {name: m, provider: mock}\n"
                    "data_dir: /var/lib/sy\n"
                    "log:\n"
                    "  store: env:SY_TEST_PG\n"
                    "  bodies: false\n"
                    "  max_body_bytes: 1024\n"
                    "  batch_rows: 500\n"
                    "  batch_ms: 200\n"
                    "  fsync: always\n"
                    "  spool_dir: /tmp/spool\n"
                    "  spool_max_bytes: 2097152\n"
                    "  redact:\n"
                    "    email: hash\n"
                    "    ipv4: off\n"
                    "    hash_key: env:SY_TEST_HASHKEY\n"
                    "    custom:\n"
                    "      - {name: order, pattern: 'ORD-[0-9]{8}', label: ORDER}\n"
                    "  ack_timeout_ms: 5000\n"
                    "  writer_nice: 19\n";
    sy_conf_err_t err;
    sy_config_t *c = load(y, &err);
    if (!c) print_error("%s\n", err.msg);
    assert_non_null(c);
    const sy_logconf_t *l = &c->log;
    assert_true(l->enabled);
    assert_string_equal(c->data_dir, "/var/lib/sy");
    assert_string_equal(l->store_url, "postgres://u:secret@127.0.0.1:5432/db");
    assert_string_equal(l->store_url_ref, "env:SY_TEST_PG");
    assert_false(l->bodies);
    assert_int_equal(l->max_body_bytes, 1024);
    assert_int_equal(l->batch_rows, 500);
    assert_int_equal(l->batch_ms, 200);
    assert_int_equal(l->fsync, SY_FSYNC_ALWAYS);
    assert_string_equal(l->spool_dir, "/tmp/spool");
    assert_int_equal(l->spool_max_bytes, 2097152);
    assert_int_equal(l->ack_timeout_ms, 5000);
    assert_int_equal(l->writer_nice, 19);
    assert_int_equal(l->n_redact_modes, 2);
    assert_string_equal(l->redact_modes[0].name, "email");
    assert_string_equal(l->redact_modes[0].value, "hash");
    assert_int_equal(l->redact_modes[1].line, 15);
    assert_int_equal(l->n_redact_custom, 1);
    assert_string_equal(l->redact_custom[0].pattern, "ORD-[0-9]{8}");
    assert_null(l->redact_custom[0].mode);
    assert_string_equal(l->redact_hash_key, "0123456789abcdef0123456789abcdef");
    sy_config_free(c);
    /* defaults */
    c = load("models:\n  - {name: m, provider: mock}\n", &err);
    assert_non_null(c);
    assert_true(c->log.enabled && c->log.bodies);
    assert_null(c->log.store_url);
    assert_int_equal(c->log.fsync, SY_FSYNC_EVERYSEC);
    assert_int_equal(c->log.batch_rows, 1000);
    assert_int_equal(c->log.ack_timeout_ms, 30000);
    assert_int_equal(c->log.writer_nice, 0);
    assert_int_equal(c->log.max_body_bytes, 65536);
    sy_config_free(c);
    /* the largest body cap accepted */
    c = load("models:\n  - {name: m, provider: mock}\nlog: {max_body_bytes: 16777216}\n", &err);
    assert_non_null(c);
    assert_int_equal(c->log.max_body_bytes, 16777216);
    sy_config_free(c);
}

static void auth_section(void **state)
{
    sy_conf_err_t err;
    sy_config_t *c = load("models:\n  - {name: m, provider: mock}\n", &err);
    assert_non_null(c);
    assert_int_equal(c->auth.mode, SY_AUTH_REQUIRED); /* required by default */
    assert_int_equal(c->auth.key_cache_ttl_s, 10);
    assert_int_equal(c->auth.session_ttl_s, 43200);
    assert_int_equal(c->auth.rotate_grace_s, 3600);
    assert_int_equal(c->auth.login_per_account, 5);
    assert_int_equal(c->auth.login_per_ip, 20);
    sy_config_free(c);
    c = load("models:\n  - {name: m, provider: mock}\n"
             "auth:\n  mode: local\n  key_cache_ttl_s: 2\n  session_ttl_s: 60\n"
             "  rotate_grace_s: 5\n  login_attempts_per_account: 3\n"
             "  login_attempts_per_ip: 9\n",
             &err);
    if (!c) print_error("%s\n", err.msg);
    assert_non_null(c);
    assert_int_equal(c->auth.mode, SY_AUTH_LOCAL);
    assert_int_equal(c->auth.key_cache_ttl_s, 2);
    assert_int_equal(c->auth.session_ttl_s, 60);
    assert_int_equal(c->auth.rotate_grace_s, 5);
    assert_int_equal(c->auth.login_per_account, 3);
    assert_int_equal(c->auth.login_per_ip, 9);
    sy_config_free(c);
    assert_null(load("models:\n  - {name: m, provider: mock}\nauth:\n  mode: open\n", &err));
    assert_non_null(strstr(err.msg, ":4: auth.mode: expected required or local"));
    assert_null(
        load("models:\n  - {name: m, provider: mock}\nauth:\n  key_cache_ttl_s: 0\n", &err));
    assert_non_null(strstr(err.msg, "auth.key_cache_ttl_s: must be between 1 and 31536000"));
    assert_null(load("models:\n  - {name: m, provider: mock}\nauth:\n  nope: 1\n", &err));
    assert_non_null(strstr(err.msg, "auth.nope: unknown key"));
}

/* api_key: credential:NAME and the secrets: section (docs/internals/SECRETS.md). */
static void secrets_and_credentials(void **state)
{
    sy_conf_err_t err;
    sy_config_t *c = load("models:\n  - {name: m, provider: mock}\n", &err);
    assert_non_null(c);
    assert_false(c->uses_credentials);
    assert_null(c->master_key_file);
    assert_int_equal(c->secrets_refresh_s, 30);
    sy_config_free(c);
    c = load("secrets:\n  master_key_file: /k/master.key\n  refresh_s: 0\n"
             "models:\n  - name: a\n    provider: openai\n    base_url: http://x\n"
             "    api_key: credential:openai-main.v2_x\n",
             &err);
    if (!c) print_error("%s\n", err.msg);
    assert_non_null(c);
    assert_true(c->uses_credentials);
    assert_string_equal(c->master_key_file, "/k/master.key");
    assert_int_equal(c->secrets_refresh_s, 0);
    const sy_deploy_conf_t *d = &c->models[0].deployments[0];
    assert_string_equal(d->credential, "openai-main.v2_x");
    assert_string_equal(d->api_key_ref, "credential:openai-main.v2_x");
    assert_null(d->api_key);
    sy_config_free(c);
    static const char *const bad[][2] = {
        {"credential:", "t.yaml:5: models[0].api_key: a credential name is 1 to 64"},
        {"credential:has space", "t.yaml:5: models[0].api_key: a credential name"},
        {"credential:a/b", "t.yaml:5: models[0].api_key: a credential name"},
        {"credential:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
         "a credential name"}, /* 65 */
        {"sk-literal", "expected a reference 'env:VARIABLE' or 'credential:NAME'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char y[400];
        snprintf(y, sizeof y,
                 "models:\n  - name: a\n    provider: openai\n    base_url: http://x\n"
                 "    api_key: '%s'\n",
                 bad[i][0]);
        assert_null(load(y, &err));
        if (!strstr(err.msg, bad[i][1])) {
            print_error("case %zu: got '%s'\n", i, err.msg);
            fail();
        }
    }
    /* 64 characters is the longest name */
    c = load("models:\n  - name: a\n    provider: openai\n    base_url: http://x\n"
             "    api_key: "
             "credential:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
             &err);
    assert_non_null(c);
    sy_config_free(c);
    assert_null(load("models:\n  - {name: m, provider: mock}\nsecrets:\n  bogus: 1\n", &err));
    assert_non_null(strstr(err.msg, "t.yaml:4: secrets: unknown key 'bogus'"));
    assert_null(load("models:\n  - {name: m, provider: mock}\nsecrets: [1]\n", &err));
}

static void unknown_provider_names_line(void **state)
{
    sy_conf_err_t err;
    sy_config_t *c =
        load("models:\n  - name: a\n    provider: mock\n  - name: b\n    provider: acme\n", &err);
    assert_non_null(c);
    char msg[512];
    assert_false(sy_provider_resolve(c, msg, sizeof msg));
    assert_non_null(strstr(msg, "t.yaml:5: models[1].provider: unknown provider 'acme'"));
    sy_provider_release(c);
    sy_config_free(c);
    c = load("models:\n  - name: a\n    provider: openai\n", &err);
    assert_non_null(c);
    assert_false(sy_provider_resolve(c, msg, sizeof msg));
    assert_non_null(strstr(msg, "t.yaml:2: models[0]: base_url: required"));
    sy_provider_release(c);
    sy_config_free(c);
}

static void listen_forms(void **state)
{
    sy_config_t c = {0};
    assert_true(sy_config_parse_listen(&c, "[::1]:8081"));
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 8081);
    assert_true(sy_config_parse_listen(&c, "localhost:1"));
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_true(sy_config_parse_listen(&c, ":80"));
    assert_string_equal(c.listen_host, "0.0.0.0");
    assert_false(sy_config_parse_listen(&c, "127.0.0.1:70000"));
    assert_false(sy_config_parse_listen(&c, "127.0.0.1"));
    assert_false(sy_config_parse_listen(&c, "127.0.0.1:x"));
    free(c.listen_host);
}

/* nine distinct (kind, window) pairs: the longest list one entity can have */
#define NINE_LIMITS                                                                                \
    "[\"1/minute\", \"1/hour\", \"1/day\", \"1 tokens/minute\", \"1 tokens/hour\", "               \
    "\"1 tokens/day\", \"1 concurrent\", \"$1/day\", \"$1/month\"]"

static void limits_section(void **state)
{
    sy_conf_err_t err;
    setenv("SY_TEST_REDIS_PW", "s3cret", 1);
    sy_config_t *c = load("limits:\n"
                          "  backend: redis\n"
                          "  redis: {host: 10.0.0.5, port: 6380, password: env:SY_TEST_REDIS_PW,"
                          " fail_open: true, timeout_ms: 250}\n"
                          "  default_max_tokens: 1000\n"
                          "  defaults:\n"
                          "    user: \"100/hour\"\n"
                          "    key: [\"600/minute\", \"200000 tokens/minute\", \"10 concurrent\","
                          " \"$20/day\"]\n"
                          "    team: [\"$500/month\"]\n"
                          "  models:\n"
                          "    m: [\"1000/minute\"]\n"
                          "  per_model:\n"
                          "    key: {m: [\"60/minute\"]}\n"
                          "models:\n  - {name: m, provider: mock}\n  - {name: n, provider: mock}\n",
                          &err);
    if (!c) print_error("%s\n", err.msg);
    assert_non_null(c);
    const sy_ratelimit_conf_t *rl = &c->rl;
    assert_true(rl->redis && rl->any && rl->need_usage && rl->fail_open);
    assert_string_equal(rl->redis_host, "10.0.0.5");
    assert_int_equal(rl->redis_port, 6380);
    assert_string_equal(rl->redis_password, "s3cret");
    assert_int_equal(rl->redis_timeout_ms, 250);
    assert_int_equal(rl->default_max_tokens, 1000);
    assert_int_equal(rl->defaults[SY_LIMITS_ENT_USER].n, 1);
    assert_int_equal(rl->defaults[SY_LIMITS_ENT_USER].v[0].kind, SY_LIMIT_REQUESTS);
    assert_int_equal(rl->defaults[SY_LIMITS_ENT_USER].v[0].window, SY_LIMIT_HOUR);
    assert_int_equal(rl->defaults[SY_LIMITS_ENT_USER].v[0].amount, 100);
    assert_int_equal(rl->defaults[SY_LIMITS_ENT_KEY].n, 4);
    assert_int_equal(rl->defaults[SY_LIMITS_ENT_KEY].v[3].kind, SY_LIMIT_BUDGET);
    assert_int_equal(rl->defaults[SY_LIMITS_ENT_KEY].v[3].amount, 20000000000ll);
    assert_int_equal(rl->defaults[SY_LIMITS_ENT_TEAM].v[0].window, SY_LIMIT_MONTH);
    const sy_model_conf_t *m = sy_config_find_model(c, "m", 1);
    assert_int_equal(m->limits.n, 1);
    assert_int_equal(m->limits.v[0].amount, 1000);
    assert_int_equal(m->per_entity[SY_LIMITS_ENT_KEY].n, 1);
    assert_int_equal(m->per_entity[SY_LIMITS_ENT_KEY].v[0].amount, 60);
    assert_int_equal(sy_config_find_model(c, "n", 1)->limits.n, 0);
    /* room for an entity's own list (admin API): 16 − the other entity's default − the most a
     * model adds next to it. key: user side 1 + (1 + 1), team side 1 + (1 + 1) → 13; user: key 4
     * + (1 + 1) → 10 */
    assert_int_equal(sy_config_limits_room(c, SY_LIMITS_ENT_KEY), 13);
    assert_int_equal(sy_config_limits_room(c, SY_LIMITS_ENT_USER), 10);
    assert_int_equal(sy_config_limits_room(c, SY_LIMITS_ENT_TEAM), 10);
    /* a request's merged list (the admin API's check): key + owner (own list, or the default
     * when -1) + the most a model adds for that owner (m: 1 + 1 for the key) */
    assert_int_equal(sy_config_limits_merged(c, SY_LIMITS_ENT_USER, -1, -1), 4 + 1 + 2);
    assert_int_equal(sy_config_limits_merged(c, SY_LIMITS_ENT_USER, 8, 7), 8 + 7 + 2);
    assert_int_equal(sy_config_limits_merged(c, SY_LIMITS_ENT_USER, -1, 0), 4 + 0 + 2);
    assert_int_equal(sy_config_limits_merged(c, SY_LIMITS_ENT_TEAM, 0, -1), 0 + 1 + 2);
    sy_config_free(c);
    /* defaults: no limits at all, local backend */
    c = load("models:\n  - {name: m, provider: mock}\n", &err);
    assert_false(c->rl.any || c->rl.redis);
    assert_int_equal(c->rl.default_max_tokens, 4096);
    assert_int_equal(c->rl.redis_port, 6379);
    sy_config_free(c);
    static const bad_case_t bad[] = {
        {"limits:\n  defaults:\n    user: [\"100/hour\", \"100/fortnight\"]\nmodels:\n  - {name: "
         "m, provider: mock}\n",
         "t.yaml:3: limits.defaults.user: '100/fortnight': "},
        {"limits:\n  defaults:\n    group: \"1/minute\"\nmodels:\n  - {name: m, provider: mock}\n",
         "t.yaml:3: limits.defaults.group: unknown key (key, user, team)"},
        {"limits:\n  defaults:\n    key: [\"1/minute\", \"2/minute\"]\nmodels:\n  - {name: m, "
         "provider: mock}\n",
         "t.yaml:3: limits.defaults.key: '2/minute': the same kind of limit twice"},
        {"limits:\n  models:\n    nope: [\"1/minute\"]\nmodels:\n  - {name: m, provider: mock}\n",
         "t.yaml:3: limits.models.nope: no model named 'nope' in 'models'"},
        {"limits:\n  per_model:\n    key: {nope: \"1/minute\"}\nmodels:\n  - {name: m, provider: "
         "mock}\n",
         "t.yaml:3: limits.per_model.key.nope: no model named 'nope' in 'models'"},
        {"limits:\n  backend: memcached\nmodels:\n  - {name: m, provider: mock}\n",
         "t.yaml:2: limits.backend: expected local or redis"},
        {"limits:\n  redis: {password: hunter2}\nmodels:\n  - {name: m, provider: mock}\n",
         "t.yaml:2: limits.redis.password: expected a reference 'env:VARIABLE'"},
        {"limits:\n  redis: {port: 0}\nmodels:\n  - {name: m, provider: mock}\n",
         "t.yaml:2: limits.redis.port: must be between 1 and 65535"},
        {"limits:\n  default_max_tokens: 0\nmodels:\n  - {name: m, provider: mock}\n",
         "t.yaml:2: limits.default_max_tokens: must be at least 1"},
        {"limits:\n  defaults:\n    key: {a: 1}\nmodels:\n  - {name: m, provider: mock}\n",
         "t.yaml:3: limits.defaults.key: expected a limit (\"100/hour\") or a list of limits"},
        {"log: {enabled: false}\nlimits:\n  defaults:\n    key: [\"1/minute\", \"$1/day\"]\n"
         "models:\n  - {name: m, provider: mock}\n",
         "t.yaml:4: limits: token limits and budgets are reconciled from the inference log"},
        /* the defaults alone would make a request carry more than 16 limits */
        {"limits:\n  defaults:\n    key: " NINE_LIMITS "\n    user: " NINE_LIMITS
         "\nmodels:\n  - {name: m, provider: mock}\n",
         "t.yaml:4: limits: a request can carry at most 16 limits, but a user's key gets 18 "
         "(limits.defaults.key 9 + limits.defaults.user 9); shorten those lists"},
        {"limits:\n  defaults:\n    team: " NINE_LIMITS "\n  models:\n    m: " NINE_LIMITS
         "\nmodels:\n  - {name: m, provider: mock}\n",
         "t.yaml:5: limits: a request can carry at most 16 limits, but a team's key gets 18 "
         "(limits.defaults.key 0 + limits.defaults.team 9 + the limits.models/limits.per_model "
         "lists of model 'm')"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(load(bad[i].yaml, &err));
        if (!strstr(err.msg, bad[i].want))
            fail_msg("case %zu: want '%s' in '%s'", i, bad[i].want, err.msg);
    }
    /* requests and concurrency only: fine without the log */
    c = load("log: {enabled: false}\nlimits:\n  defaults:\n    key: [\"1/minute\", \"2 "
             "concurrent\"]\nmodels:\n  - {name: m, provider: mock}\n",
             &err);
    assert_non_null(c);
    sy_config_free(c);
}

static void example_config_is_valid(void **state)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/config/switchyard.example.yaml", getenv("SY_TEST_SRC"));
    sy_conf_err_t err;
    sy_config_t *c = sy_config_load(path, &err);
    if (!c) print_error("%s\n", err.msg);
    assert_non_null(c);
    char msg[512];
    assert_true(sy_provider_resolve(c, msg, sizeof msg));
    assert_non_null(sy_config_find_model(c, "mock", 4));
    sy_provider_release(c);
    sy_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_config),
        cmocka_unit_test(secrets_and_credentials),
        cmocka_unit_test(errors_name_file_line_and_key),
        cmocka_unit_test(deployments_and_routing),
        cmocka_unit_test(log_section),
        cmocka_unit_test(auth_section),
        cmocka_unit_test(limits_section),
        cmocka_unit_test(model_ui_section),
        cmocka_unit_test(unknown_provider_names_line),
        cmocka_unit_test(listen_forms),
        cmocka_unit_test(example_config_is_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
