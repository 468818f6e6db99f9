/* GET /v1/models, GET /v1/models/{id}, /healthz, /readyz; and GET /api/v1/models, the model
 * list of the chat app's picker and settings page (provider, deployments, price, ui). */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "api/admin.h"
#include "api/api.h"
#include "logpipe/cost.h"
#include "policy/auth.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "worker.h"

static void send_json(sy_http_req_t *req, int status, const sy_buf_t *b)
{
    char ov[24];
    sy_http_header_t h;
    sy_api_overhead_header(&h, ov, sy_clock_mono_us() - req->t_complete_us);
    sy_http_res_send(req, status, "application/json", b->base, b->len, &h, 1);
}

static void model_json(sy_buf_t *b, const sy_model_conf_t *m)
{
    sy_buf_append_c(b, "{\"id\":");
    sy_json_append_string(b, m->name, strlen(m->name));
    sy_buf_append_c(b, ",\"object\":\"model\",\"created\":0,\"owned_by\":");
    sy_json_append_string(b, m->deployments[0].provider_name,
                          strlen(m->deployments[0].provider_name));
    sy_buf_append_c(b, "}");
}

void sy_api_models(sy_http_req_t *req, sy_worker_t *w, sy_str_t id)
{
    sy_buf_t b;
    sy_buf_init(&b, 16u << 20);
    if (id.ptr) {
        const sy_model_conf_t *m = sy_config_find_model(w->cfg, id.ptr, id.len);
        if (m && req->ident && !sy_auth_model_allowed(req->ident, id)) m = NULL; /* not for it */
        if (!m) {
            char msg[300];
            snprintf(msg, sizeof msg, "The model '%.*s' does not exist",
                     (int)(id.len > 200 ? 200 : id.len), id.ptr);
            sy_api_send_error(req, SY_ERR_MODEL_NOT_FOUND, "model", msg);
        } else {
            model_json(&b, m);
            send_json(req, 200, &b);
        }
        sy_buf_dispose(&b);
        return;
    }
    sy_buf_append_c(&b, "{\"object\":\"list\",\"data\":[");
    bool first = true;
    for (size_t i = 0; i < w->cfg->n_models; i++) {
        const sy_model_conf_t *m = &w->cfg->models[i];
        if (req->ident && !sy_auth_model_allowed(req->ident, sy_str_c(m->name))) continue;
        if (!first) sy_buf_append(&b, ",", 1);
        first = false;
        model_json(&b, m);
    }
    sy_buf_append_c(&b, "]}");
    send_json(req, 200, &b);
    sy_buf_dispose(&b);
}

void sy_api_healthz(sy_http_req_t *req, sy_worker_t *w)
{
    (void)w;
    sy_buf_t b = {.base = "{\"status\":\"ok\"}", .len = 15};
    send_json(req, 200, &b);
}

void sy_api_readyz(sy_http_req_t *req, sy_worker_t *w)
{
    if (w->draining) {
        sy_buf_t b = {.base = "{\"status\":\"draining\"}", .len = 21};
        send_json(req, 503, &b);
        return;
    }
    sy_buf_t b = {.base = "{\"status\":\"ready\"}", .len = 18};
    send_json(req, 200, &b);
}

/* ---- GET /api/v1/models ---- */

/* A price in pico-USD per token as USD per million tokens (exactly: 6 decimals), or null. */
static void per_mtok(sy_buf_t *b, int64_t pico)
{
    if (pico < 0) {
        sy_buf_append_c(b, "null");
        return;
    }
    char t[48];
    int n = snprintf(t, sizeof t, "%lld.%06lld", (long long)(pico / 1000000),
                     (long long)(pico % 1000000));
    while (n > 0 && t[n - 1] == '0')
        n--;
    if (n > 0 && t[n - 1] == '.') n--;
    sy_buf_append(b, t, (size_t)n);
}

static void ui_json(sy_buf_t *b, const sy_model_ui_t *ui)
{
    sy_buf_append_c(b, "{\"hidden\":[");
    for (int p = 0, first = 1; p < SY_UI__COUNT; p++) {
        if (!(ui->hidden & (1u << p))) continue;
        if (!first) sy_buf_append_c(b, ",");
        first = 0;
        sy_json_append_string(b, sy_ui_param_names[p], strlen(sy_ui_param_names[p]));
    }
    sy_buf_append_c(b, "],\"locked\":{");
    for (int p = 0, first = 1; p < SY_UI__COUNT; p++) {
        if (!ui->lock_json[p]) continue;
        if (!first) sy_buf_append_c(b, ",");
        first = 0;
        sy_json_append_string(b, sy_ui_param_names[p], strlen(sy_ui_param_names[p]));
        sy_buf_append_c(b, ":");
        sy_buf_append_c(b, ui->lock_json[p]); /* compact JSON made at config load */
    }
    sy_buf_append_c(b, "}}");
}

/* The list (docs/API.md "Models for the chat app"): the provider and the price are the first
 * deployment's (the price in force now from the config's price table); only the models ident
 * may use (a user key's allow-list; NULL: all); NUL-terminated. */
static void api_models_json(sy_buf_t *b, const sy_config_t *cfg, const sy_auth_ident_t *ident)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t now = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
    sy_buf_append_c(b, "{\"object\":\"list\",\"data\":[");
    bool first = true;
    for (size_t i = 0; i < cfg->n_models; i++) {
        const sy_model_conf_t *m = &cfg->models[i];
        const sy_deploy_conf_t *d = &m->deployments[0];
        if (ident && !sy_auth_model_allowed(ident, sy_str_c(m->name))) continue;
        if (!first) sy_buf_append_c(b, ",");
        first = false;
        sy_buf_append_c(b, "{\"id\":");
        sy_json_append_string(b, m->name, strlen(m->name));
        sy_buf_append_c(b, ",\"provider\":");
        sy_json_append_string(b, d->provider_name, strlen(d->provider_name));
        sy_buf_printf(b, ",\"deployments\":%zu,\"price\":", m->n_deployments);
        const sy_price_t *pr = sy_cost_find_price(
            cfg, d->provider_name, d->upstream_model ? d->upstream_model : m->name, now);
        if (!pr) {
            sy_buf_append_c(b, "null");
        } else {
            sy_buf_append_c(b, "{\"input_per_mtok\":");
            per_mtok(b, pr->input);
            sy_buf_append_c(b, ",\"output_per_mtok\":");
            per_mtok(b, pr->output);
            sy_buf_append_c(b, ",\"cached_input_per_mtok\":");
            per_mtok(b, pr->cached_input);
            sy_buf_append_c(b, "}");
        }
        sy_buf_append_c(b, ",\"ui\":");
        ui_json(b, &m->ui);
        sy_buf_append_c(b, "}");
    }
    sy_buf_append_c(b, "]}");
    sy_buf_append(b, "", 1);
}

/* Thread pool, after the admin API authenticated the caller (any role). */
static void op_api_models(sy_admin_call_t *c)
{
    sy_buf_t b;
    sy_buf_init(&b, 16u << 20);
    api_models_json(&b, sy_admin_call_worker(c)->cfg, sy_admin_call_ident(c));
    sy_admin_call_answer_text(c, 200, b.base, NULL, NULL); /* takes the malloc'd bytes */
}

void sy_api_models_list(sy_http_req_t *req, sy_worker_t *w)
{
    if (w->auth) return sy_admin_run_user(req, w, op_api_models, NULL, SY_STR_NULL);
    /* auth.mode local: nobody to authenticate, nothing to read from the store */
    sy_buf_t b;
    sy_buf_init(&b, 16u << 20);
    api_models_json(&b, w->cfg, NULL);
    b.len--; /* the NUL */
    send_json(req, 200, &b);
    sy_buf_dispose(&b);
}
