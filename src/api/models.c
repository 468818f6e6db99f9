/* GET /v1/models, GET /v1/models/{id}, /healthz, /readyz. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "policy/auth.h"
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
