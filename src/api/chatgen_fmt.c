/* Chat generation's pure parts: see chatgen_fmt.h. */
#include "api/chatgen_fmt.h"
#include "api/chatgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/utf8.h"
#include "logpipe/cost.h"

/* ---- metrics ---- */

static void put_ms(sy_buf_t *b, const char *key, int64_t us)
{
    if (us < 0)
        sy_buf_printf(b, "\"%s\":null", key);
    else
        sy_buf_printf(b, "\"%s\":%lld.%03lld", key, (long long)(us / 1000), (long long)(us % 1000));
}

static void put_int(sy_buf_t *b, const char *key, int64_t v)
{
    if (v < 0)
        sy_buf_printf(b, ",\"%s\":null", key);
    else
        sy_buf_printf(b, ",\"%s\":%lld", key, (long long)v);
}

sy_err_t sy_chatgen_metrics_json(const sy_chatgen_metrics_t *m, sy_buf_t *out)
{
    size_t start = out->len;
    sy_buf_append_c(out, "{");
    put_ms(out, "ttft_ms", m->ttft_us);
    sy_buf_append_c(out, ",");
    put_ms(out, "latency_ms", m->latency_us);
    put_int(out, "input_tokens", m->input_tokens);
    put_int(out, "output_tokens", m->output_tokens);
    put_int(out, "reasoning_tokens", m->reasoning_tokens);
    int64_t gen_us = m->latency_us - m->ttft_us;
    if (m->output_tokens >= 0 && m->ttft_us >= 0 && m->latency_us >= 0 && gen_us > 0)
        sy_buf_printf(out, ",\"tokens_per_s\":%.3f",
                      (double)m->output_tokens * 1e6 / (double)gen_us);
    else
        sy_buf_append_c(out, ",\"tokens_per_s\":null");
    if (m->cost_nanousd >= 0) {
        char usd[SY_COST_USD_LEN];
        sy_cost_format_usd(usd, m->cost_nanousd);
        sy_buf_printf(out, ",\"cost_usd\":%s}", usd);
    } else {
        sy_buf_append_c(out, ",\"cost_usd\":null}");
    }
    if (out->len == out->max && out->max) { /* cut: never a broken object */
        out->len = start;
        return SY_ERR_TOO_LARGE;
    }
    return SY_OK;
}

const sy_deploy_conf_t *sy_chatgen_priced_deploy(const sy_config_t *cfg, const sy_model_conf_t *m,
                                                 const char *up_model)
{
    for (size_t f = 0; up_model[0] && f <= m->n_fallbacks; f++) {
        const sy_model_conf_t *mm =
            f ? sy_config_find_model(cfg, m->fallbacks[f - 1], strlen(m->fallbacks[f - 1])) : m;
        for (size_t i = 0; mm && i < mm->n_deployments; i++)
            if (!strcmp(mm->deployments[i].upstream_model, up_model)) return &mm->deployments[i];
    }
    return m->n_deployments ? &m->deployments[0] : NULL;
}

/* ---- the upstream request ---- */

json_t *sy_chatgen_request(const char *model, sy_app_msg_t *const *branch, size_t n,
                           const char *new_user, json_t *opts)
{
    json_t *msgs = json_array();
    const char *system = json_string_value(json_object_get(opts, "system"));
    const char *context = json_string_value(json_object_get(opts, "context"));
    if (system)
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", system));
    if (context) {
        char *t = sy_xmalloc(strlen(context) + 10);
        sprintf(t, "Context:\n%s", context);
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", t));
        free(t);
    }
    for (size_t i = 0; i < n; i++) {
        const sy_app_msg_t *m = branch[i];
        if (strcmp(m->status, "ok") && strcmp(m->status, "cancelled")) continue;
        if (strcmp(m->role, "user") && strcmp(m->role, "assistant")) continue;
        json_array_append_new(msgs,
                              json_pack("{s:s, s:s}", "role", m->role, "content", m->content));
    }
    if (new_user)
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", new_user));
    json_t *req = json_pack("{s:s, s:o, s:b, s:{s:b}}", "model", model, "messages", msgs, "stream",
                            1, "stream_options", "include_usage", 1);
    json_t *params = json_object_get(opts, "params");
    const char *k;
    json_t *v;
    json_object_foreach(params, k, v) json_object_set(req, k, v);
    json_t *rf = json_object_get(opts, "response_format");
    if (json_is_object(rf)) json_object_set(req, "response_format", rf);
    return req;
}

/* ---- the reply ---- */

bool sy_chatgen_append_capped(sy_buf_t *dst, const char *s, size_t n, size_t max)
{
    size_t room = max - dst->len;
    if (n <= room) {
        sy_buf_append(dst, s, n);
        return true;
    }
    size_t k = 0;
    while (k < room) {
        size_t l = sy_utf8_seq((const unsigned char *)s + k, n - k);
        if (!l || k + l > room) break;
        k += l;
    }
    sy_buf_append(dst, s, k);
    return false;
}

char *sy_chatgen_schema_errors(const sy_jschema_t *schema, const char *text)
{
    json_error_t je;
    json_t *doc = json_loads(text, JSON_DECODE_ANY, &je);
    json_t *a = json_array();
    if (!doc) {
        char m[300];
        snprintf(m, sizeof m, "the reply is not JSON: %s", je.text);
        json_array_append_new(a, json_pack("{s:s, s:s}", "path", "", "message", m));
    } else {
        sy_jschema_error_t errs[SY_CHATGEN_SCHEMA_ERRORS_MAX];
        size_t n = sy_jschema_validate(schema, doc, errs, SY_CHATGEN_SCHEMA_ERRORS_MAX);
        for (size_t i = 0; i < n && i < SY_CHATGEN_SCHEMA_ERRORS_MAX; i++)
            json_array_append_new(
                a, json_pack("{s:s, s:s}", "path", errs[i].path, "message", errs[i].message));
    }
    json_decref(doc);
    char *out = json_array_size(a) ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return out;
}

/* ---- the generate body ---- */

static bool bad(sy_chatgen_refusal_t *why, const char *param, const char *msg)
{
    snprintf(why->param, sizeof why->param, "%s", param ? param : "");
    snprintf(why->message, sizeof why->message, "%s", msg);
    return false;
}

static bool str_ok(json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) <= max &&
           strlen(json_string_value(v)) == json_string_length(v);
}

/* Counts the compact dump's bytes and stops it past the cap: the loop's cost is bounded by the
 * cap, not by the schema (the body may be server.max_body_bytes). */
static int count_capped(const char *buf, size_t n, void *data)
{
    (void)buf;
    size_t *left = data;
    if (n > *left) return -1;
    *left -= n;
    return 0;
}

static bool schema_fits(json_t *schema)
{
    size_t left = SY_CHATGEN_SCHEMA_MAX;
    return json_dump_callback(schema, count_capped, &left, JSON_COMPACT) == 0;
}

sy_jschema_t *sy_chatgen_compile_schema(json_t *b, sy_chatgen_refusal_t *why)
{
    why->code = NULL;
    json_t *rf = json_object_get(b, "response_format");
    const char *t = json_string_value(json_object_get(rf, "type"));
    if (!t || strcmp(t, "json_schema")) return NULL;
    char err[400], m[480];
    json_t *js = json_object_get(json_object_get(rf, "json_schema"), "schema");
    sy_jschema_t *schema = sy_jschema_compile(js, err, sizeof err);
    if (!schema) {
        snprintf(m, sizeof m, "'response_format.json_schema.schema' is not a valid JSON Schema: %s",
                 err);
        why->code = "invalid_value";
        bad(why, "response_format.json_schema.schema", m);
    }
    return schema;
}

bool sy_chatgen_check_body(json_t *b, sy_chatgen_refusal_t *why)
{
    why->code = NULL;
    static const char *const known[] = {"parent_id", "content", "model",           "params",
                                        "system",    "context", "response_format", NULL};
    const char *k;
    json_t *v;
    json_object_foreach(b, k, v)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k))
            i++;
        if (!known[i]) {
            char m[96];
            snprintf(m, sizeof m, "unknown field '%.64s'", k);
            return bad(why, NULL, m);
        }
    }
    v = json_object_get(b, "parent_id");
    if (v && !json_is_null(v) &&
        !(json_is_string(v) && sy_chatapi_id_ok(json_string_value(v), json_string_length(v))))
        return bad(why, "parent_id", "'parent_id' must be a message id or null");
    json_t *content = json_object_get(b, "content");
    if (content && !str_ok(content, SY_CHAT_CONTENT_MAX))
        return bad(why, "content", "'content' must be a string of at most 262144 bytes");
    if (!content && (!v || json_is_null(v)))
        return bad(why, "parent_id",
                   "to regenerate (no 'content'), 'parent_id' must name the user message");
    v = json_object_get(b, "model");
    if (!v || !str_ok(v, SY_CHATGEN_MODEL_MAX) || !json_string_length(v))
        return bad(why, "model", "'model' is required: a configured model name");
    for (const char *const *f = (const char *const[]){"system", "context", NULL}; *f; f++) {
        v = json_object_get(b, *f);
        if (v && !json_is_null(v) && !str_ok(v, SY_CHAT_CONTENT_MAX)) {
            char m[96];
            snprintf(m, sizeof m, "'%s' must be a string of at most 262144 bytes", *f);
            return bad(why, *f, m);
        }
    }
    json_t *p = json_object_get(b, "params");
    if (p && !json_is_null(p)) {
        if (!json_is_object(p)) return bad(why, "params", "'params' must be an object");
        json_object_foreach(p, k, v)
        {
            bool num = !strcmp(k, "temperature") || !strcmp(k, "top_p");
            bool integer = !strcmp(k, "max_tokens") || !strcmp(k, "seed");
            char param[80];
            snprintf(param, sizeof param, "params.%.60s", k);
            if (!num && !integer)
                return bad(why, param, "params may be temperature, top_p, max_tokens, seed");
            if (num && !json_is_number(v))
                return bad(why, param, "temperature and top_p must be numbers");
            if (integer && !json_is_integer(v))
                return bad(why, param, "max_tokens and seed must be integers");
            if (!strcmp(k, "max_tokens") && json_integer_value(v) < 1)
                return bad(why, param, "max_tokens must be at least 1");
        }
    }
    json_t *rf = json_object_get(b, "response_format");
    if (rf && !json_is_null(rf)) {
        const char *t = json_string_value(json_object_get(rf, "type"));
        if (!json_is_object(rf) || !t ||
            (strcmp(t, "text") && strcmp(t, "json_object") && strcmp(t, "json_schema")))
            return bad(why, "response_format.type",
                       "'response_format.type' must be text, json_object or json_schema");
        if (!strcmp(t, "json_schema")) {
            json_t *js = json_object_get(rf, "json_schema");
            if (!json_is_object(js) || !str_ok(json_object_get(js, "name"), 64) ||
                !json_string_length(json_object_get(js, "name")))
                return bad(why, "response_format.json_schema.name",
                           "'response_format.json_schema' needs a 'name' (1 to 64 bytes)");
            if (!json_is_object(json_object_get(js, "schema")))
                return bad(why, "response_format.json_schema.schema",
                           "'response_format.json_schema.schema' must be a JSON Schema object");
            json_t *st = json_object_get(js, "strict");
            if (st && !json_is_boolean(st))
                return bad(why, "response_format.json_schema.strict",
                           "'strict' must be true or false");
            if (!schema_fits(json_object_get(js, "schema"))) {
                why->code = "invalid_value";
                return bad(why, "response_format.json_schema.schema",
                           "'response_format.json_schema.schema' is too large: at most 65536 "
                           "bytes of compact JSON");
            }
        }
    }
    return true;
}

/* ---- the model's ui block: hidden and locked parameters ---- */

/* The same value: numbers by value (1 and 1.0 are equal), anything else as JSON. */
static bool same_value(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

bool sy_chatgen_apply_ui(json_t *body, const sy_model_ui_t *ui, const char *model,
                         sy_chatgen_refusal_t *why)
{
    why->code = NULL;
    for (int p = 0; p < SY_UI__COUNT; p++) {
        const char *name = sy_ui_param_names[p];
        bool top = p == SY_UI_SYSTEM || p == SY_UI_RESPONSE_FORMAT;
        json_t *holder = top ? body : json_object_get(body, "params");
        if (!top && holder && !json_is_object(holder) && !json_is_null(holder))
            continue; /* check_body refuses it */
        json_t *v = json_is_object(holder) ? json_object_get(holder, name) : NULL;
        if (json_is_null(v)) v = NULL;
        char param[40], m[400];
        snprintf(param, sizeof param, "%s%s", top ? "" : "params.", name);
        if (ui->lock_json[p]) {
            json_t *lock = json_loads(ui->lock_json[p], JSON_DECODE_ANY, NULL);
            if (!lock) continue; /* made by the config loader: cannot happen */
            if (v && !same_value(v, lock)) {
                json_decref(lock);
                snprintf(m, sizeof m, "'%s' is locked to %.200s for the model '%.100s'", param,
                         ui->lock_json[p], model);
                why->code = "invalid_value";
                return bad(why, param, m);
            }
            if (!v) {
                if (!json_is_object(holder)) {
                    holder = json_object();
                    json_object_set_new(body, "params", holder);
                }
                json_object_set(holder, name, lock);
            }
            json_decref(lock);
        } else if (v && (ui->hidden & (1u << p))) {
            snprintf(m, sizeof m, "the model '%.100s' does not take '%s' (its settings hide it)",
                     model, param);
            why->code = "unsupported_parameter";
            return bad(why, param, m);
        }
    }
    return true;
}
