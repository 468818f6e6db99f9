/* Config loader: libyaml document API, then a typed walk that reports FILE:LINE: KEY: message.
 * Unknown keys are errors, so a typo never silently falls back to a default. */
#include "conf/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"

/* limits.models / limits.per_model entries, resolved against `models:` once both are read. */
typedef struct pending_limits {
    char *model;
    int ent; /* -1: limits.models; else SY_LIMITS_ENT_* (per_model) */
    sy_conf_limits_t list;
    yaml_node_t *node;
    char key[160];
} pending_limits_t;

typedef struct walk {
    yaml_document_t *doc;
    const char *file;
    sy_conf_err_t *err;
    pending_limits_t *pend;
    size_t n_pend;
} walk_t;

static bool fail(walk_t *w, yaml_node_t *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail(walk_t *w, yaml_node_t *node, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(w->err->msg, sizeof w->err->msg, "%s:%lu: %s: %s", w->file,
             node ? (unsigned long)node->start_mark.line + 1 : 0ul, key, msg);
    return false;
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool get_uint(walk_t *w, yaml_node_t *n, const char *key, uint64_t max, uint64_t *out)
{
    const char *s = scalar(n);
    if (!s || !*s) return fail(w, n, key, "expected a non-negative integer");
    for (const char *p = s; *p; p++)
        if ((*p < '0' || *p > '9') && *p != '_')
            return fail(w, n, key, "expected a non-negative integer, got '%s'", s);
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '_') continue;
        if (v > (UINT64_MAX - 9) / 10) return fail(w, n, key, "value '%s' is too large", s);
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > max)
        return fail(w, n, key, "value %llu is too large (max %llu)", (unsigned long long)v,
                    (unsigned long long)max);
    *out = v;
    return true;
}

static bool get_u32(walk_t *w, yaml_node_t *n, const char *key, uint32_t *out)
{
    uint64_t v;
    if (!get_uint(w, n, key, UINT32_MAX, &v)) return false;
    *out = (uint32_t)v;
    return true;
}

static bool get_size(walk_t *w, yaml_node_t *n, const char *key, size_t min, size_t *out)
{
    uint64_t v;
    if (!get_uint(w, n, key, (uint64_t)1 << 40, &v)) return false;
    if (v < min) return fail(w, n, key, "must be at least %zu", min);
    *out = (size_t)v;
    return true;
}

static bool get_str(walk_t *w, yaml_node_t *n, const char *key, char **out)
{
    const char *s = scalar(n);
    if (!s || !*s) return fail(w, n, key, "expected a non-empty string");
    free(*out);
    *out = sy_xstrdup(s);
    return true;
}

/* A name that ends up in response headers (model names, deployment ids): visible ASCII and
 * UTF-8, no spaces, commas or control characters. */
static bool get_name(walk_t *w, yaml_node_t *n, const char *key, char **out)
{
    if (!get_str(w, n, key, out)) return false;
    for (const unsigned char *p = (const unsigned char *)*out; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == ',')
            return fail(w, n, key, "names cannot contain spaces, commas or control characters");
    return true;
}

static bool expect_map(walk_t *w, yaml_node_t *n, const char *key)
{
    if (!n || n->type != YAML_MAPPING_NODE) return fail(w, n, key, "expected a mapping");
    /* a key written twice is an error, as an unknown key is: the second would silently win */
    for (yaml_node_pair_t *a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++) {
        yaml_node_t *ka = yaml_document_get_node(w->doc, a->key);
        const char *sa = scalar(ka);
        if (!sa) return fail(w, ka, key, "keys must be plain strings");
        for (yaml_node_pair_t *b = n->data.mapping.pairs.start; b < a; b++) {
            const char *sb = scalar(yaml_document_get_node(w->doc, b->key));
            if (sb && !strcmp(sa, sb)) {
                char k[192];
                snprintf(k, sizeof k, "%s.%s", key, sa);
                return fail(w, ka, k, "duplicate key (first at line %lu)",
                            (unsigned long)yaml_document_get_node(w->doc, b->key)->start_mark.line +
                                1);
            }
        }
    }
    return true;
}

#define FOR_PAIRS(w, map, kname, vnode)                                                            \
    for (yaml_node_pair_t *pair_ = (map)->data.mapping.pairs.start;                                \
         pair_ < (map)->data.mapping.pairs.top; pair_++)                                           \
        for (const char *kname = scalar(yaml_document_get_node((w)->doc, pair_->key)); kname;      \
             kname = NULL)                                                                         \
            for (yaml_node_t *vnode = yaml_document_get_node((w)->doc, pair_->value); vnode;       \
                 vnode = NULL)

bool sy_config_parse_listen(sy_config_t *cfg, const char *value)
{
    const char *colon;
    char host[128];
    if (value[0] == '[') {
        const char *end = strchr(value, ']');
        if (!end || end[1] != ':' || (size_t)(end - value - 1) >= sizeof host) return false;
        memcpy(host, value + 1, (size_t)(end - value - 1));
        host[end - value - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(value, ':');
        if (!colon || (size_t)(colon - value) >= sizeof host) return false;
        memcpy(host, value, (size_t)(colon - value));
        host[colon - value] = '\0';
    }
    char *endp;
    errno = 0;
    long port = strtol(colon + 1, &endp, 10);
    if (errno || *endp || endp == colon + 1 || port < 0 || port > 65535) return false;
    if (!host[0]) strcpy(host, "0.0.0.0");
    if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
    free(cfg->listen_host);
    cfg->listen_host = sy_xstrdup(host);
    cfg->listen_port = (int)port;
    return true;
}

static bool walk_server(walk_t *w, sy_config_t *cfg, yaml_node_t *map)
{
    if (!expect_map(w, map, "server")) return false;
    FOR_PAIRS(w, map, k, v)
    {
        if (strcmp(k, "listen") == 0) {
            const char *s = scalar(v);
            if (!s || !sy_config_parse_listen(cfg, s))
                return fail(w, v, "server.listen", "expected HOST:PORT (e.g. 127.0.0.1:8080)");
        } else if (strcmp(k, "upstream_client") == 0) {
            const char *s = scalar(v);
            if (s && !strcmp(s, "auto"))
                cfg->native_http1 = true;
            else if (s && !strcmp(s, "curl"))
                cfg->native_http1 = false;
            else
                return fail(w, v, "server.upstream_client", "expected 'auto' or 'curl'");
        } else if (strcmp(k, "workers") == 0) {
            uint64_t n;
            if (!get_uint(w, v, "server.workers", 256, &n)) return false;
            cfg->workers = (int)n;
        } else if (strcmp(k, "sched_slice_us") == 0) {
            uint64_t n;
            if (!get_uint(w, v, "server.sched_slice_us", 100000, &n)) return false;
            if (n && n < 100)
                return fail(w, v, "server.sched_slice_us",
                            "expected 0 (the kernel's default) or 100..100000");
            cfg->sched_slice_us = (uint32_t)n;
        } else {
            return fail(w, v, k, "unknown key in 'server'");
        }
    }
    return true;
}

static bool get_secret_ref(walk_t *w, yaml_node_t *v, const char *key, char **value, char **ref);

static const char *const ent_names[SY_LIMITS_ENT__COUNT] = {"key", "user", "team"};

/* A limit list: one string ("100/hour") or a list of them; each through sy_limits_parse. The
 * same (kind, window) twice is refused: the request would carry the same limit twice. */
static bool get_limit_list(walk_t *w, sy_config_t *cfg, yaml_node_t *v, const char *key,
                           sy_conf_limits_t *out)
{
    yaml_node_t *items[SY_LIMITS_MAX_PER_REQUEST];
    size_t n = 0;
    if (v->type == YAML_SCALAR_NODE) {
        items[n++] = v;
    } else if (v->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            if (n == SY_LIMITS_MAX_PER_REQUEST)
                return fail(w, v, key, "at most %d limits", SY_LIMITS_MAX_PER_REQUEST);
            items[n++] = yaml_document_get_node(w->doc, *it);
        }
    } else {
        return fail(w, v, key, "expected a limit (\"100/hour\") or a list of limits");
    }
    free(out->v);
    out->v = sy_xcalloc(n ? n : 1, sizeof *out->v);
    out->n = 0;
    out->set = true;
    out->line = (int)v->start_mark.line + 1;
    for (size_t i = 0; i < n; i++) {
        const char *s = scalar(items[i]);
        char msg[200];
        if (!s) return fail(w, items[i], key, "expected a limit string such as \"100/hour\"");
        sy_limit_t l = {0};
        if (sy_limits_parse(s, &l, msg, sizeof msg))
            return fail(w, items[i], key, "'%s': %s", s, msg);
        for (size_t j = 0; j < out->n; j++)
            if (out->v[j].kind == l.kind && out->v[j].window == l.window)
                return fail(w, items[i], key, "'%s': the same kind of limit twice", s);
        out->v[out->n++] = l;
        cfg->rl.any = true;
        if ((l.kind == SY_LIMIT_TOKENS || l.kind == SY_LIMIT_BUDGET) && !cfg->rl.need_usage) {
            cfg->rl.need_usage = true;
            cfg->rl.need_usage_line = (int)items[i]->start_mark.line + 1;
        }
    }
    return true;
}

static void pend_add(walk_t *w, const char *model, int ent, yaml_node_t *node, const char *key,
                     sy_conf_limits_t *list)
{
    w->pend = sy_xrealloc(w->pend, (w->n_pend + 1) * sizeof *w->pend);
    pending_limits_t *p = &w->pend[w->n_pend++];
    p->model = sy_xstrdup(model);
    p->ent = ent;
    p->list = *list;
    p->node = node;
    snprintf(p->key, sizeof p->key, "%s", key);
}

/* limits.models (ent -1) or limits.per_model.<ent>: a mapping model name → limit list. */
static bool walk_model_limits(walk_t *w, sy_config_t *cfg, yaml_node_t *map, const char *prefix,
                              int ent)
{
    if (!expect_map(w, map, prefix)) return false;
    FOR_PAIRS(w, map, k, v)
    {
        char key[160];
        snprintf(key, sizeof key, "%s.%s", prefix, k);
        for (size_t i = 0; i < w->n_pend; i++)
            if (w->pend[i].ent == ent && !strcmp(w->pend[i].model, k))
                return fail(w, v, key, "duplicate model");
        sy_conf_limits_t list = {0};
        if (!get_limit_list(w, cfg, v, key, &list)) {
            free(list.v);
            return false;
        }
        pend_add(w, k, ent, v, key, &list);
    }
    return true;
}

static bool walk_entity_limits(walk_t *w, sy_config_t *cfg, yaml_node_t *map, const char *prefix,
                               bool per_model)
{
    if (!expect_map(w, map, prefix)) return false;
    FOR_PAIRS(w, map, k, v)
    {
        char key[160];
        snprintf(key, sizeof key, "%s.%s", prefix, k);
        int ent = -1;
        for (int i = 0; i < SY_LIMITS_ENT__COUNT; i++)
            if (!strcmp(k, ent_names[i])) ent = i;
        if (ent < 0) return fail(w, v, key, "unknown key (key, user, team)");
        bool ok = per_model ? walk_model_limits(w, cfg, v, key, ent)
                            : get_limit_list(w, cfg, v, key, &cfg->rl.defaults[ent]);
        if (!ok) return false;
    }
    return true;
}

static bool walk_redis(walk_t *w, sy_config_t *cfg, yaml_node_t *map)
{
    sy_ratelimit_conf_t *rl = &cfg->rl;
    if (!expect_map(w, map, "limits.redis")) return false;
    FOR_PAIRS(w, map, k, v)
    {
        char key[96];
        snprintf(key, sizeof key, "limits.redis.%s", k);
        bool ok = true;
        uint64_t u;
        const char *s = scalar(v);
        if (!strcmp(k, "host")) {
            ok = get_str(w, v, key, &rl->redis_host);
        } else if (!strcmp(k, "port")) {
            ok = get_uint(w, v, key, 65535, &u);
            if (ok && u == 0) ok = fail(w, v, key, "must be between 1 and 65535");
            rl->redis_port = (int)u;
        } else if (!strcmp(k, "password")) {
            ok = get_secret_ref(w, v, key, &rl->redis_password, NULL);
        } else if (!strcmp(k, "fail_open")) {
            if (s && !strcmp(s, "true"))
                rl->fail_open = true;
            else if (s && !strcmp(s, "false"))
                rl->fail_open = false;
            else
                ok = fail(w, v, key, "expected true or false");
        } else if (!strcmp(k, "timeout_ms")) {
            ok = get_u32(w, v, key, &rl->redis_timeout_ms);
            if (ok && (rl->redis_timeout_ms < 1 || rl->redis_timeout_ms > 60000))
                ok = fail(w, v, key, "must be between 1 and 60000");
        } else {
            ok = fail(w, v, key, "unknown key (host, port, password, fail_open, timeout_ms)");
        }
        if (!ok) return false;
    }
    return true;
}

/* The rate-limit keys of `limits:` (the others are the HTTP limits); false: not one of them. */
static bool walk_rate_limits(walk_t *w, sy_config_t *cfg, const char *k, yaml_node_t *v,
                             const char *key, bool *ok)
{
    uint64_t u;
    const char *s = scalar(v);
    if (!strcmp(k, "backend")) {
        if (s && !strcmp(s, "local"))
            cfg->rl.redis = false;
        else if (s && !strcmp(s, "redis"))
            cfg->rl.redis = true;
        else
            *ok = fail(w, v, key, "expected local or redis");
    } else if (!strcmp(k, "redis")) {
        *ok = walk_redis(w, cfg, v);
    } else if (!strcmp(k, "defaults")) {
        *ok = walk_entity_limits(w, cfg, v, key, false);
    } else if (!strcmp(k, "models")) {
        *ok = walk_model_limits(w, cfg, v, key, -1);
    } else if (!strcmp(k, "per_model")) {
        *ok = walk_entity_limits(w, cfg, v, key, true);
    } else if (!strcmp(k, "default_max_tokens")) {
        *ok = get_uint(w, v, key, 100000000, &u);
        if (*ok && u == 0) *ok = fail(w, v, key, "must be at least 1");
        cfg->rl.default_max_tokens = (int64_t)u;
    } else {
        return false;
    }
    return true;
}

/* A request's key has one owner or none: a user or a team, never both (the admin API refuses
 * that), so the merged list holds the key's limits, its owner's, and a model's limits.models
 * plus limits.per_model for the key and for that owner. The most a model adds next to an owner
 * of kind own (SY_LIMITS_ENT_USER or _TEAM); *which: that model (NULL when none adds any). */
static size_t model_extra_max(const sy_config_t *cfg, int own, const sy_model_conf_t **which)
{
    size_t best = 0;
    if (which) *which = NULL;
    for (size_t i = 0; i < cfg->n_models; i++) {
        const sy_model_conf_t *m = &cfg->models[i];
        size_t n = m->limits.n + m->per_entity[SY_LIMITS_ENT_KEY].n + m->per_entity[own].n;
        if (n > best) {
            best = n;
            if (which) *which = m;
        }
    }
    return best;
}

size_t sy_config_limits_room(const sy_config_t *cfg, int ent)
{
    const sy_conf_limits_t *d = cfg->rl.defaults;
    size_t used = 0;
    for (int own = SY_LIMITS_ENT_USER; own <= SY_LIMITS_ENT_TEAM; own++) {
        if (ent != SY_LIMITS_ENT_KEY && ent != own) continue;
        size_t u = model_extra_max(cfg, own, NULL) +
                   (ent == SY_LIMITS_ENT_KEY ? d[own].n : d[SY_LIMITS_ENT_KEY].n);
        if (u > used) used = u;
    }
    return used >= SY_LIMITS_MAX_PER_REQUEST ? 0 : SY_LIMITS_MAX_PER_REQUEST - used;
}

size_t sy_config_limits_merged(const sy_config_t *cfg, int owner, long key_n, long owner_n)
{
    const sy_conf_limits_t *d = cfg->rl.defaults;
    size_t k = key_n < 0 ? d[SY_LIMITS_ENT_KEY].n : (size_t)key_n;
    size_t o = owner_n < 0 ? d[owner].n : (size_t)owner_n;
    return k + o + model_extra_max(cfg, owner, NULL);
}

/* With defaults only, a request's list must fit (key + owner defaults + the most a model adds):
 * over it, requests would be refused (api/admission.c) rather than limits cut. */
static bool check_limits_total(walk_t *w, const sy_config_t *cfg)
{
    const sy_conf_limits_t *d = cfg->rl.defaults;
    static const char *const owner[SY_LIMITS_ENT__COUNT] = {"", "user", "team"};
    for (int own = SY_LIMITS_ENT_USER; own <= SY_LIMITS_ENT_TEAM; own++) {
        const sy_model_conf_t *m;
        size_t total = model_extra_max(cfg, own, &m) + d[SY_LIMITS_ENT_KEY].n + d[own].n;
        if (total <= SY_LIMITS_MAX_PER_REQUEST) continue;
        int line =
            d[SY_LIMITS_ENT_KEY].line > d[own].line ? d[SY_LIMITS_ENT_KEY].line : d[own].line;
        if (m) {
            const sy_conf_limits_t *ms[3] = {&m->limits, &m->per_entity[SY_LIMITS_ENT_KEY],
                                             &m->per_entity[own]};
            for (int i = 0; i < 3; i++)
                if (ms[i]->line > line) line = ms[i]->line;
        }
        snprintf(w->err->msg, sizeof w->err->msg,
                 "%s:%d: limits: a request can carry at most %d limits, but a %s's key gets %zu "
                 "(limits.defaults.key %zu + limits.defaults.%s %zu%s%s%s); shorten those lists",
                 w->file, line, SY_LIMITS_MAX_PER_REQUEST, owner[own], total,
                 d[SY_LIMITS_ENT_KEY].n, owner[own], d[own].n,
                 m ? " + the limits.models/limits.per_model lists of model '" : "",
                 m ? m->name : "", m ? "'" : "");
        return false;
    }
    return true;
}

/* After the whole file: model limits name real models; token limits and budgets need usage,
 * which the inference log computes; the defaults fit in one request's list. */
static bool resolve_limits(walk_t *w, sy_config_t *cfg)
{
    for (size_t i = 0; i < w->n_pend; i++) {
        pending_limits_t *p = &w->pend[i];
        sy_model_conf_t *m =
            (sy_model_conf_t *)sy_config_find_model(cfg, p->model, strlen(p->model));
        if (!m) return fail(w, p->node, p->key, "no model named '%s' in 'models'", p->model);
        sy_conf_limits_t *dst = p->ent < 0 ? &m->limits : &m->per_entity[p->ent];
        *dst = p->list;
        p->list.v = NULL;
    }
    if (!check_limits_total(w, cfg)) return false;
    if (cfg->rl.need_usage && !cfg->log.enabled) {
        snprintf(w->err->msg, sizeof w->err->msg,
                 "%s:%d: limits: token limits and budgets are reconciled from the inference "
                 "log's usage and cost; set log.enabled: true (or remove them)",
                 w->file, cfg->rl.need_usage_line);
        return false;
    }
    return true;
}

static void pend_free(walk_t *w)
{
    for (size_t i = 0; i < w->n_pend; i++) {
        free(w->pend[i].model);
        free(w->pend[i].list.v);
    }
    free(w->pend);
}

static bool walk_limits(walk_t *w, sy_config_t *cfg, yaml_node_t *map)
{
    if (!expect_map(w, map, "limits")) return false;
    FOR_PAIRS(w, map, k, v)
    {
        char key[96];
        snprintf(key, sizeof key, "limits.%s", k);
        bool ok = true;
        if (walk_rate_limits(w, cfg, k, v, key, &ok))
            ;
        else if (strcmp(k, "max_body_bytes") == 0)
            ok = get_size(w, v, key, 64, &cfg->max_body_bytes);
        else if (strcmp(k, "max_header_bytes") == 0)
            ok = get_size(w, v, key, 1024, &cfg->max_header_bytes);
        else if (strcmp(k, "max_headers") == 0) {
            ok = get_u32(w, v, key, &cfg->max_headers);
            if (ok && cfg->max_headers < 8) ok = fail(w, v, key, "must be at least 8");
        } else if (strcmp(k, "header_timeout_ms") == 0)
            ok = get_u32(w, v, key, &cfg->header_timeout_ms);
        else if (strcmp(k, "keepalive_timeout_ms") == 0)
            ok = get_u32(w, v, key, &cfg->keepalive_timeout_ms);
        else if (strcmp(k, "sse_keepalive_ms") == 0)
            ok = get_u32(w, v, key, &cfg->sse_keepalive_ms);
        else if (strcmp(k, "shutdown_grace_ms") == 0)
            ok = get_u32(w, v, key, &cfg->shutdown_grace_ms);
        else if (strcmp(k, "max_upstream_error_bytes") == 0)
            ok = get_size(w, v, key, 256, &cfg->max_upstream_error_bytes);
        else if (strcmp(k, "max_live_generations_per_user") == 0) {
            ok = get_u32(w, v, key, &cfg->max_live_generations_per_user);
            if (ok && (cfg->max_live_generations_per_user < 1 ||
                       cfg->max_live_generations_per_user > 1000))
                ok = fail(w, v, key, "must be 1 to 1000");
        } else
            ok = fail(w, v, key,
                      "unknown key (backend, redis, defaults, models, per_model, "
                      "default_max_tokens, max_body_bytes, max_header_bytes, max_headers, "
                      "header_timeout_ms, keepalive_timeout_ms, sse_keepalive_ms, "
                      "shutdown_grace_ms, max_upstream_error_bytes, "
                      "max_live_generations_per_user)");
        if (!ok) return false;
    }
    return true;
}

static void deploy_free(sy_deploy_conf_t *d)
{
    free(d->state); /* routing state (routing/route.c), if it was made */
    free(d->id);
    free(d->provider_name);
    free(d->upstream_model);
    free(d->upstream_model_json);
    free(d->base_url);
    if (d->api_key) {
        memset(d->api_key, 0, strlen(d->api_key));
        free(d->api_key);
    }
    free(d->api_key_ref);
    free(d->credential);
    for (size_t j = 0; j < d->n_defaults; j++) {
        free(d->defaults[j].key);
        free(d->defaults[j].json);
    }
    free(d->defaults);
}

static bool walk_timeouts(walk_t *w, sy_deploy_conf_t *m, yaml_node_t *map, const char *prefix)
{
    if (!expect_map(w, map, prefix)) return false;
    FOR_PAIRS(w, map, k, v)
    {
        char key[160];
        snprintf(key, sizeof key, "%s.%s", prefix, k);
        uint32_t *dst = strcmp(k, "connect_ms") == 0      ? &m->connect_ms
                        : strcmp(k, "first_byte_ms") == 0 ? &m->first_byte_ms
                        : strcmp(k, "idle_ms") == 0       ? &m->idle_ms
                        : strcmp(k, "total_ms") == 0      ? &m->total_ms
                                                          : NULL;
        if (!dst)
            return fail(w, v, key,
                        "unknown timeout (connect_ms, first_byte_ms, idle_ms, total_ms)");
        if (!get_u32(w, v, key, dst)) return false;
    }
    return true;
}

static bool walk_mock(walk_t *w, sy_deploy_conf_t *m, yaml_node_t *map, const char *prefix)
{
    if (!expect_map(w, map, prefix)) return false;
    FOR_PAIRS(w, map, k, v)
    {
        char key[160];
        snprintf(key, sizeof key, "%s.%s", prefix, k);
        uint64_t n;
        bool ok = true;
        if (strcmp(k, "latency_ms") == 0)
            ok = get_u32(w, v, key, &m->mock.latency_ms);
        else if (strcmp(k, "chunk_delay_ms") == 0)
            ok = get_u32(w, v, key, &m->mock.chunk_delay_ms);
        else if (strcmp(k, "chunks") == 0) {
            ok = get_uint(w, v, key, 100000, &n);
            if (ok && n == 0) ok = fail(w, v, key, "must be at least 1");
            m->mock.chunks = (uint32_t)n;
        } else if (strcmp(k, "prompt_tokens") == 0) {
            ok = get_uint(w, v, key, 1u << 30, &n);
            m->mock.prompt_tokens = (int64_t)n;
        } else if (strcmp(k, "completion_tokens") == 0) {
            ok = get_uint(w, v, key, 1u << 30, &n);
            m->mock.completion_tokens = (int64_t)n;
        } else
            ok = fail(w, v, key, "unknown key in 'mock'");
        if (!ok) return false;
    }
    return true;
}

/* YAML scalar -> JSON text: numbers, booleans and null stay typed; other plain scalars and every
 * quoted scalar become strings. Sequences and mappings become arrays and objects. */
static json_t *yaml_to_json(walk_t *w, yaml_node_t *n, int depth)
{
    if (!n || depth > 16) return NULL;
    if (n->type == YAML_SCALAR_NODE) {
        const char *s = (const char *)n->data.scalar.value;
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
            if (!strcmp(s, "true")) return json_true();
            if (!strcmp(s, "false")) return json_false();
            if (!strcmp(s, "null") || !strcmp(s, "~")) return json_null();
            json_error_t e;
            json_t *num = json_loads(s, JSON_DECODE_ANY, &e);
            if (num && json_is_number(num)) return num;
            json_decref(num);
        }
        return json_string(s);
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            json_t *v = yaml_to_json(w, yaml_document_get_node(w->doc, *it), depth + 1);
            if (!v) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, v);
        }
        return a;
    }
    json_t *o = json_object();
    FOR_PAIRS(w, n, k, v)
    {
        json_t *jv = yaml_to_json(w, v, depth + 1);
        if (!jv) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, k, jv);
    }
    return o;
}

const char *const sy_ui_param_names[SY_UI__COUNT] = {"temperature", "top_p",  "max_tokens",
                                                     "seed",        "system", "response_format"};

int sy_ui_param(const char *name, size_t len)
{
    for (int i = 0; i < SY_UI__COUNT; i++)
        if (strlen(sy_ui_param_names[i]) == len && !memcmp(sy_ui_param_names[i], name, len))
            return i;
    return -1;
}

#define UI_PARAMS "temperature, top_p, max_tokens, seed, system, response_format"

/* A locked value of parameter p that generation could send; NULL when it is fine, else why. */
static const char *ui_lock_bad(int p, const json_t *v)
{
    double x = json_number_value(v);
    switch (p) {
    case SY_UI_TEMPERATURE:
        return json_is_number(v) && x >= 0 && x <= 2 ? NULL : "must be a number from 0 to 2";
    case SY_UI_TOP_P:
        return json_is_number(v) && x >= 0 && x <= 1 ? NULL : "must be a number from 0 to 1";
    case SY_UI_MAX_TOKENS:
        return json_is_integer(v) && json_integer_value(v) >= 1 ? NULL
                                                                : "must be an integer of 1 or more";
    case SY_UI_SEED:
        return json_is_integer(v) ? NULL : "must be an integer";
    case SY_UI_SYSTEM:
        return json_is_string(v) ? NULL : "must be a string";
    default: {
        const char *t = json_string_value(json_object_get(v, "type"));
        if (!t || (strcmp(t, "text") && strcmp(t, "json_object") && strcmp(t, "json_schema")))
            return "must be an object with \"type\": text, json_object or json_schema";
        if (!strcmp(t, "json_schema") && !json_is_object(json_object_get(v, "json_schema")))
            return "a json_schema response_format needs a \"json_schema\" object";
        return NULL;
    }
    }
}

/* models[i].ui.lock: {name: value} */
static bool walk_ui_lock(walk_t *w, sy_model_ui_t *ui, yaml_node_t *map, const char *prefix)
{
    if (!expect_map(w, map, prefix)) return false;
    FOR_PAIRS(w, map, k, v)
    {
        char key[240];
        snprintf(key, sizeof key, "%s.%s", prefix, k);
        int p = sy_ui_param(k, strlen(k));
        if (p < 0) return fail(w, v, key, "not a parameter (" UI_PARAMS ")");
        if (ui->locked & (1u << p)) return fail(w, v, key, "locked twice");
        json_t *j = yaml_to_json(w, v, 0);
        const char *why = j ? ui_lock_bad(p, j) : "cannot be expressed as JSON";
        if (why) {
            json_decref(j);
            return fail(w, v, key, "%s", why);
        }
        char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        json_decref(j);
        ui->lock_json[p] = sy_xstrdup(text);
        free(text);
        ui->locked |= 1u << p;
    }
    return true;
}

/* models[i].ui: {hide: [names], lock: {name: value}} */
static bool walk_ui(walk_t *w, sy_model_ui_t *ui, yaml_node_t *map, const char *prefix)
{
    if (!expect_map(w, map, prefix)) return false;
    FOR_PAIRS(w, map, k, v)
    {
        char key[200];
        snprintf(key, sizeof key, "%s.%s", prefix, k);
        if (!strcmp(k, "hide")) {
            if (v->type != YAML_SEQUENCE_NODE)
                return fail(w, v, key, "expected a list of parameter names (" UI_PARAMS ")");
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++) {
                yaml_node_t *n = yaml_document_get_node(w->doc, *it);
                const char *s = scalar(n);
                int p = s ? sy_ui_param(s, strlen(s)) : -1;
                if (p < 0)
                    return fail(w, n, key, "'%s' is not a parameter (" UI_PARAMS ")", s ? s : "");
                if (ui->hidden & (1u << p)) return fail(w, n, key, "'%s' is listed twice", s);
                ui->hidden |= 1u << p;
            }
        } else if (!strcmp(k, "lock")) {
            if (!walk_ui_lock(w, ui, v, key)) return false;
        } else {
            return fail(w, v, key, "unknown key (hide, lock)");
        }
    }
    return true;
}

static bool walk_defaults(walk_t *w, sy_deploy_conf_t *m, yaml_node_t *map, const char *prefix)
{
    if (!expect_map(w, map, prefix)) return false;
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    m->defaults = sy_xcalloc(n ? n : 1, sizeof *m->defaults);
    FOR_PAIRS(w, map, k, v)
    {
        char key[160];
        snprintf(key, sizeof key, "%s.%s", prefix, k);
        for (const char *q = k; *q; q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                  (*q >= '0' && *q <= '9') || *q == '_' || *q == '-'))
                return fail(w, v, key, "parameter names are letters, digits, '_' and '-'");
        if (!strcmp(k, "model") || !strcmp(k, "messages") || !strcmp(k, "stream"))
            return fail(w, v, key, "'%s' cannot have a default", k);
        json_t *j = yaml_to_json(w, v, 0);
        if (!j) return fail(w, v, key, "value cannot be expressed as JSON");
        char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(j);
        m->defaults[m->n_defaults].key = sy_xstrdup(k);
        m->defaults[m->n_defaults].json = sy_xstrdup(text);
        free(text);
        m->n_defaults++;
    }
    return true;
}

/* A credential name: 1..64 of [A-Za-z0-9._-] (the admin API checks the same). */
bool sy_config_credential_name_ok(const char *s, size_t n)
{
    if (n < 1 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool resolve_key_ref(walk_t *w, sy_deploy_conf_t *m, yaml_node_t *v, const char *key)
{
    const char *ref = scalar(v);
    if (ref && !strncmp(ref, "credential:", 11)) {
        if (!sy_config_credential_name_ok(ref + 11, strlen(ref + 11)))
            return fail(w, v, key, "a credential name is 1 to 64 letters, digits, '.', '_' or '-'");
        m->api_key_ref = sy_xstrdup(ref);
        m->credential = sy_xstrdup(ref + 11);
        return true;
    }
    if (!ref || strncmp(ref, "env:", 4) != 0 || !ref[4])
        return fail(w, v, key,
                    "expected a reference 'env:VARIABLE' or 'credential:NAME' (keys are never "
                    "written in config)");
    const char *val = getenv(ref + 4);
    if (!val || !*val) return fail(w, v, key, "environment variable %s is not set", ref + 4);
    m->api_key_ref = sy_xstrdup(ref);
    m->api_key = sy_xstrdup(val);
    return true;
}

static void deploy_init(sy_deploy_conf_t *d, int line)
{
    d->line = line;
    d->mock = (sy_mock_conf_t){.latency_ms = 0,
                               .chunks = 8,
                               .chunk_delay_ms = 0,
                               .prompt_tokens = -1,
                               .completion_tokens = -1};
    d->connect_ms = 10000;
    d->first_byte_ms = 120000;
    d->idle_ms = 120000;
    d->total_ms = 600000;
    d->weight = 1;
    d->stream_options = true;
}

#define DEPLOY_KEYS                                                                                \
    "provider, model, base_url, api_key, timeouts, defaults, mock, weight, unsupported_params, "   \
    "stream_options"

/* One deployment key. Returns 1 (handled), 0 (error reported), -1 (not a deployment key). */
static int deploy_key(walk_t *w, sy_deploy_conf_t *d, const char *k, yaml_node_t *v,
                      const char *key, yaml_node_t **mock_node)
{
    bool ok = true;
    if (!strcmp(k, "provider")) {
        ok = get_str(w, v, key, &d->provider_name);
        d->provider_line = (int)v->start_mark.line + 1;
    } else if (!strcmp(k, "model"))
        ok = get_str(w, v, key, &d->upstream_model);
    else if (!strcmp(k, "base_url")) {
        ok = get_str(w, v, key, &d->base_url);
        if (ok && strncmp(d->base_url, "http://", 7) && strncmp(d->base_url, "https://", 8))
            ok = fail(w, v, key, "must start with http:// or https://");
        if (ok) {
            size_t n = strlen(d->base_url);
            while (n > 0 && d->base_url[n - 1] == '/')
                d->base_url[--n] = '\0';
        }
    } else if (!strcmp(k, "api_key"))
        ok = resolve_key_ref(w, d, v, key);
    else if (!strcmp(k, "timeouts"))
        ok = walk_timeouts(w, d, v, key);
    else if (!strcmp(k, "defaults"))
        ok = walk_defaults(w, d, v, key);
    else if (!strcmp(k, "mock")) {
        *mock_node = v;
        ok = walk_mock(w, d, v, key);
    } else if (!strcmp(k, "weight")) {
        ok = get_u32(w, v, key, &d->weight);
        if (ok && (d->weight == 0 || d->weight > 1000000))
            ok = fail(w, v, key, "must be between 1 and 1000000");
    } else if (!strcmp(k, "unsupported_params")) {
        const char *s = scalar(v);
        if (s && !strcmp(s, "drop"))
            d->reject_unsupported = false;
        else if (s && !strcmp(s, "reject"))
            d->reject_unsupported = true;
        else
            ok = fail(w, v, key, "expected 'drop' or 'reject'");
    } else if (!strcmp(k, "stream_options")) {
        const char *s = scalar(v);
        if (s && !strcmp(s, "true"))
            d->stream_options = true;
        else if (s && !strcmp(s, "false"))
            d->stream_options = false;
        else
            ok = fail(w, v, key, "expected true or false");
    } else
        return -1;
    return ok ? 1 : 0;
}

/* After a deployment's keys: required keys and derived fields. */
static bool deploy_finish(walk_t *w, sy_deploy_conf_t *d, const char *model_name, yaml_node_t *map,
                          const char *prefix, yaml_node_t *mock_node)
{
    char key[160];
    if (!d->provider_name) {
        snprintf(key, sizeof key, "%s.provider", prefix);
        return fail(w, map, key, "required");
    }
    if (mock_node && strcmp(d->provider_name, "mock") != 0) {
        snprintf(key, sizeof key, "%s.mock", prefix);
        return fail(w, mock_node, key, "only valid with provider: mock");
    }
    if (!d->upstream_model) d->upstream_model = sy_xstrdup(model_name);
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    sy_json_append_string(&b, d->upstream_model, strlen(d->upstream_model));
    d->upstream_model_json = sy_xstrndup(b.base, b.len);
    sy_buf_dispose(&b);
    return true;
}

static bool get_errclasses(walk_t *w, yaml_node_t *v, const char *key, uint32_t *out)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } names[] = {
        {"rate_limit", SY_ERRCLASS_RATE_LIMIT},
        {"server_error", SY_ERRCLASS_SERVER},
        {"timeout", SY_ERRCLASS_TIMEOUT},
        {"unreachable", SY_ERRCLASS_UNREACHABLE},
        {"context_length", SY_ERRCLASS_CONTEXT_LENGTH},
        {"auth", SY_ERRCLASS_AUTH},
        {"client_error", SY_ERRCLASS_CLIENT},
        {"any", SY_ERRCLASS_ALL},
    };
    if (!v || v->type != YAML_SEQUENCE_NODE)
        return fail(w, v, key,
                    "expected a list of error classes (rate_limit, server_error, timeout, "
                    "unreachable, context_length, auth, client_error, any)");
    uint32_t bits = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *n = yaml_document_get_node(w->doc, *it);
        const char *s = scalar(n);
        size_t i;
        for (i = 0; s && i < sizeof names / sizeof names[0]; i++)
            if (!strcmp(names[i].name, s)) break;
        if (!s || i == sizeof names / sizeof names[0])
            return fail(w, n, key,
                        "unknown error class '%s' (rate_limit, server_error, timeout, "
                        "unreachable, context_length, auth, client_error, any)",
                        s ? s : "?");
        bits |= names[i].bit;
    }
    *out = bits;
    return true;
}

static bool walk_routing(walk_t *w, sy_model_conf_t *m, yaml_node_t *map, const char *prefix,
                         bool *retries_set, bool *cooldown_set)
{
    if (!expect_map(w, map, prefix)) return false;
    FOR_PAIRS(w, map, k, v)
    {
        char key[160];
        snprintf(key, sizeof key, "%s.%s", prefix, k);
        bool ok = true;
        if (!strcmp(k, "strategy")) {
            const char *s = scalar(v);
            if (s && !strcmp(s, "weighted"))
                m->strategy = SY_ROUTE_WEIGHTED;
            else if (s && !strcmp(s, "least_inflight"))
                m->strategy = SY_ROUTE_LEAST_INFLIGHT;
            else if (s && !strcmp(s, "latency"))
                m->strategy = SY_ROUTE_LATENCY;
            else
                ok = fail(w, v, key, "expected weighted, least_inflight or latency");
        } else if (!strcmp(k, "retries")) {
            uint64_t n;
            ok = get_uint(w, v, key, 10, &n);
            m->retries = (uint32_t)n;
            *retries_set = true;
        } else if (!strcmp(k, "backoff_ms"))
            ok = get_u32(w, v, key, &m->backoff_ms);
        else if (!strcmp(k, "max_backoff_ms"))
            ok = get_u32(w, v, key, &m->max_backoff_ms);
        else if (!strcmp(k, "max_retry_after_ms"))
            ok = get_u32(w, v, key, &m->max_retry_after_ms);
        else if (!strcmp(k, "retry_on"))
            ok = get_errclasses(w, v, key, &m->retry_on);
        else if (!strcmp(k, "cooldown_failures")) {
            ok = get_u32(w, v, key, &m->cooldown_failures);
            *cooldown_set = true;
        } else if (!strcmp(k, "cooldown_ms"))
            ok = get_u32(w, v, key, &m->cooldown_ms);
        else if (!strcmp(k, "fallback_on"))
            ok = get_errclasses(w, v, key, &m->fallback_on);
        else if (!strcmp(k, "fallbacks")) {
            if (v->type != YAML_SEQUENCE_NODE)
                return fail(w, v, key, "expected a list of model names");
            size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            m->fallbacks = sy_xcalloc(n ? n : 1, sizeof *m->fallbacks);
            for (size_t i = 0; i < n; i++) {
                yaml_node_t *it = yaml_document_get_node(w->doc, v->data.sequence.items.start[i]);
                const char *s = scalar(it);
                if (!s || !*s) return fail(w, it, key, "expected a model name");
                m->fallbacks[m->n_fallbacks++] = sy_xstrdup(s);
            }
        } else
            ok = fail(w, v, key,
                      "unknown key (strategy, retries, backoff_ms, max_backoff_ms, "
                      "max_retry_after_ms, retry_on, cooldown_failures, cooldown_ms, fallbacks, "
                      "fallback_on)");
        if (!ok) return false;
    }
    return true;
}

static bool walk_deployments(walk_t *w, sy_model_conf_t *m, yaml_node_t *seq, const char *prefix)
{
    if (seq->type != YAML_SEQUENCE_NODE ||
        seq->data.sequence.items.top == seq->data.sequence.items.start ||
        seq->data.sequence.items.top - seq->data.sequence.items.start > 32)
        return fail(w, seq, prefix, "expected a list of 1 to 32 deployments");
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    m->deployments = sy_xcalloc(n, sizeof *m->deployments);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, seq->data.sequence.items.start[i]);
        sy_deploy_conf_t *d = &m->deployments[i];
        m->n_deployments = i + 1;
        char dprefix[128];
        snprintf(dprefix, sizeof dprefix, "%s[%zu]", prefix, i);
        if (!expect_map(w, item, dprefix)) return false;
        deploy_init(d, (int)item->start_mark.line + 1);
        yaml_node_t *mock_node = NULL;
        FOR_PAIRS(w, item, k, v)
        {
            char key[192];
            snprintf(key, sizeof key, "%s.%s", dprefix, k);
            if (!strcmp(k, "id")) {
                if (!get_name(w, v, key, &d->id)) return false;
                continue;
            }
            int r = deploy_key(w, d, k, v, key, &mock_node);
            if (r == 0) return false;
            if (r < 0) return fail(w, v, key, "unknown key (id, " DEPLOY_KEYS ")");
        }
        if (!deploy_finish(w, d, m->name ? m->name : "", item, dprefix, mock_node)) return false;
        for (size_t j = 0; d->id && j < i; j++)
            if (m->deployments[j].id && !strcmp(m->deployments[j].id, d->id))
                return fail(w, item, dprefix, "duplicate deployment id '%s'", d->id);
    }
    return true;
}

static bool walk_model(walk_t *w, sy_model_conf_t *m, yaml_node_t *map, size_t idx)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "models[%zu]", idx);
    if (!expect_map(w, map, prefix)) return false;
    m->line = (int)map->start_mark.line + 1;
    m->backoff_ms = 200;
    m->max_backoff_ms = 5000;
    m->max_retry_after_ms = 30000;
    m->retry_on =
        SY_ERRCLASS_RATE_LIMIT | SY_ERRCLASS_SERVER | SY_ERRCLASS_TIMEOUT | SY_ERRCLASS_UNREACHABLE;
    m->fallback_on = SY_ERRCLASS_RATE_LIMIT | SY_ERRCLASS_SERVER | SY_ERRCLASS_TIMEOUT |
                     SY_ERRCLASS_UNREACHABLE | SY_ERRCLASS_CONTEXT_LENGTH;
    m->cooldown_ms = 30000;
    bool retries_set = false, cooldown_set = false;
    /* the name first: deployments default their upstream model to it */
    FOR_PAIRS(w, map, k, v)
    {
        if (!strcmp(k, "name")) {
            char key[96];
            snprintf(key, sizeof key, "%s.name", prefix);
            if (!get_name(w, v, key, &m->name)) return false;
        }
    }
    if (!m->name) {
        char key[96];
        snprintf(key, sizeof key, "%s.name", prefix);
        return fail(w, map, key, "required");
    }
    sy_deploy_conf_t inline_d;
    memset(&inline_d, 0, sizeof inline_d);
    deploy_init(&inline_d, m->line);
    yaml_node_t *mock_node = NULL, *inline_key = NULL, *deps_node = NULL;
    FOR_PAIRS(w, map, k, v)
    {
        char key[160];
        snprintf(key, sizeof key, "%s.%s", prefix, k);
        if (!strcmp(k, "name")) continue;
        if (!strcmp(k, "routing")) {
            if (!walk_routing(w, m, v, key, &retries_set, &cooldown_set)) goto fail_inline;
            continue;
        }
        if (!strcmp(k, "deployments")) {
            deps_node = v;
            if (!walk_deployments(w, m, v, key)) goto fail_inline;
            continue;
        }
        if (!strcmp(k, "ui")) {
            if (!walk_ui(w, &m->ui, v, key)) goto fail_inline;
            continue;
        }
        int r = deploy_key(w, &inline_d, k, v, key, &mock_node);
        if (r == 0) goto fail_inline;
        if (r < 0) {
            fail(w, v, key, "unknown key (name, routing, deployments, ui, " DEPLOY_KEYS ")");
            goto fail_inline;
        }
        if (!inline_key) inline_key = v;
    }
    if (deps_node && inline_key) {
        char key[160];
        snprintf(key, sizeof key, "%s.deployments", prefix);
        fail(w, inline_key, key,
             "a model has either deployments: or its own provider keys, not both");
        goto fail_inline;
    }
    if (!deps_node) {
        if (!deploy_finish(w, &inline_d, m->name, map, prefix, mock_node)) goto fail_inline;
        m->deployments = sy_xcalloc(1, sizeof *m->deployments);
        m->deployments[0] = inline_d;
        m->n_deployments = 1;
    }
    for (size_t i = 0; i < m->n_deployments; i++) {
        sy_deploy_conf_t *d = &m->deployments[i];
        d->model = m;
        if (!d->id) {
            size_t n = strlen(m->name) + 24;
            d->id = sy_xmalloc(n);
            if (m->n_deployments == 1)
                snprintf(d->id, n, "%s", m->name);
            else
                snprintf(d->id, n, "%s[%zu]", m->name, i);
        }
    }
    if (!retries_set) m->retries = (uint32_t)(m->n_deployments - 1);
    if (!cooldown_set) m->cooldown_failures = m->n_deployments > 1 ? 3 : 0;
    return true;
fail_inline:
    deploy_free(&inline_d);
    return false;
}

static bool walk_models(walk_t *w, sy_config_t *cfg, yaml_node_t *seq)
{
    if (!seq || seq->type != YAML_SEQUENCE_NODE)
        return fail(w, seq, "models", "expected a list of models");
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    cfg->models = sy_xcalloc(n ? n : 1, sizeof *cfg->models);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, seq->data.sequence.items.start[i]);
        sy_model_conf_t *m = &cfg->models[i];
        cfg->n_models = i + 1;
        if (!walk_model(w, m, item, i)) return false;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->models[j].name, m->name)) {
                char key[64];
                snprintf(key, sizeof key, "models[%zu].name", i);
                return fail(w, item, key, "duplicate model name '%s' (first at line %d)", m->name,
                            cfg->models[j].line);
            }
    }
    /* fallbacks name other models; resolved once all are known */
    for (size_t i = 0; i < n; i++) {
        sy_model_conf_t *m = &cfg->models[i];
        if (!m->n_fallbacks) continue;
        m->fallback_models = sy_xcalloc(m->n_fallbacks, sizeof *m->fallback_models);
        for (size_t j = 0; j < m->n_fallbacks; j++) {
            const sy_model_conf_t *f =
                sy_config_find_model(cfg, m->fallbacks[j], strlen(m->fallbacks[j]));
            char key[96];
            snprintf(key, sizeof key, "models[%zu].routing.fallbacks[%zu]", i, j);
            yaml_node_t *item = yaml_document_get_node(w->doc, seq->data.sequence.items.start[i]);
            if (!f) return fail(w, item, key, "unknown model '%s'", m->fallbacks[j]);
            if (f == m) return fail(w, item, key, "a model cannot fall back to itself");
            m->fallback_models[j] = f;
        }
    }
    return true;
}

/* "3", "0.075", "1.25e0" is refused: plain decimals only, at most 6 decimals, so the price is
 * held exactly as pico-USD per token (USD per million tokens x 1e6). */
static bool get_price(walk_t *w, yaml_node_t *n, const char *key, int64_t *out)
{
    const char *s = scalar(n);
    if (!s || !*s) return fail(w, n, key, "expected USD per million tokens, e.g. 3 or 0.075");
    int64_t whole = 0, frac = 0;
    int fd = -1;
    for (const char *p = s; *p; p++) {
        if (*p == '.' && fd < 0) {
            fd = 0;
            continue;
        }
        if (*p < '0' || *p > '9')
            return fail(w, n, key, "expected a plain decimal number of USD per million tokens");
        if (fd >= 0) {
            if (++fd > 6) return fail(w, n, key, "at most 6 decimals");
            frac = frac * 10 + (*p - '0');
        } else {
            if (whole > 1000000000) return fail(w, n, key, "price too large");
            whole = whole * 10 + (*p - '0');
        }
    }
    for (int i = fd < 0 ? 0 : fd; i < 6; i++)
        frac *= 10;
    *out = whole * 1000000 + frac;
    return true;
}

/* YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC. */
static bool get_date(walk_t *w, yaml_node_t *n, const char *key, int64_t *out_us)
{
    const char *s = scalar(n);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, mo, d, h = 0, mi = 0, se = 0;
    char z = 0;
    int k = s ? sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z) : 0;
    bool ok = s && ((k == 3 && strlen(s) == 10) || (k == 7 && z == 'Z' && strlen(s) == 20));
    if (!ok || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return fail(w, n, key, "expected a UTC date: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    if (t < 0) return fail(w, n, key, "date out of range");
    *out_us = (int64_t)t * 1000000;
    return true;
}

static bool walk_prices(walk_t *w, sy_config_t *cfg, yaml_node_t *seq)
{
    if (!seq || seq->type != YAML_SEQUENCE_NODE)
        return fail(w, seq, "prices", "expected a list of prices");
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    cfg->prices = sy_xcalloc(n ? n : 1, sizeof *cfg->prices);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, seq->data.sequence.items.start[i]);
        sy_price_t *pr = &cfg->prices[i];
        cfg->n_prices = i + 1;
        *pr = (sy_price_t){.input = -1, .output = -1, .cached_input = -1, .cache_write = -1};
        char prefix[48];
        snprintf(prefix, sizeof prefix, "prices[%zu]", i);
        if (!expect_map(w, item, prefix)) return false;
        pr->line = (int)item->start_mark.line + 1;
        FOR_PAIRS(w, item, k, v)
        {
            char key[96];
            snprintf(key, sizeof key, "%s.%s", prefix, k);
            bool ok;
            if (!strcmp(k, "model"))
                ok = get_str(w, v, key, &pr->model);
            else if (!strcmp(k, "provider"))
                ok = get_str(w, v, key, &pr->provider);
            else if (!strcmp(k, "from"))
                ok = get_date(w, v, key, &pr->from_us);
            else if (!strcmp(k, "input"))
                ok = get_price(w, v, key, &pr->input);
            else if (!strcmp(k, "output"))
                ok = get_price(w, v, key, &pr->output);
            else if (!strcmp(k, "cached_input"))
                ok = get_price(w, v, key, &pr->cached_input);
            else if (!strcmp(k, "cache_write"))
                ok = get_price(w, v, key, &pr->cache_write);
            else
                ok = fail(w, v, key,
                          "unknown key (model, provider, from, input, output, cached_input, "
                          "cache_write)");
            if (!ok) return false;
        }
        if (!pr->model) {
            char key[64];
            snprintf(key, sizeof key, "%s.model", prefix);
            return fail(w, item, key, "required");
        }
        for (size_t j = 0; j < i; j++) {
            const sy_price_t *o = &cfg->prices[j];
            bool same_provider =
                (!o->provider && !pr->provider) ||
                (o->provider && pr->provider && !strcmp(o->provider, pr->provider));
            if (same_provider && !strcmp(o->model, pr->model) && o->from_us == pr->from_us)
                return fail(w, item, prefix,
                            "a second price for '%s' from the same date (first at line %d)",
                            pr->model, o->line);
        }
    }
    return true;
}

/* env:VAR -> its value (NULL with an error when unset); a literal is refused for secrets. */
static bool get_secret_ref(walk_t *w, yaml_node_t *v, const char *key, char **value, char **ref)
{
    const char *s = scalar(v);
    if (!s || strncmp(s, "env:", 4) != 0 || !s[4])
        return fail(w, v, key,
                    "expected a reference 'env:VARIABLE' (secrets are never written in config)");
    const char *val = getenv(s + 4);
    if (!val || !*val) return fail(w, v, key, "environment variable %s is not set", s + 4);
    free(*value);
    *value = sy_xstrdup(val);
    if (ref) {
        free(*ref);
        *ref = sy_xstrdup(s);
    }
    return true;
}

static bool walk_redact_custom(walk_t *w, sy_conf_redact_custom_t *c, yaml_node_t *it,
                               const char *p)
{
    FOR_PAIRS(w, it, ck, cv)
    {
        char ckey[160];
        snprintf(ckey, sizeof ckey, "%s.%s", p, ck);
        char **dst = !strcmp(ck, "name")      ? &c->name
                     : !strcmp(ck, "pattern") ? &c->pattern
                     : !strcmp(ck, "mode")    ? &c->mode
                     : !strcmp(ck, "label")   ? &c->label
                                              : NULL;
        if (!dst) return fail(w, cv, ckey, "unknown key (name, pattern, mode, label)");
        if (!get_str(w, cv, ckey, dst)) return false;
    }
    return true;
}

static bool walk_redact(walk_t *w, sy_logconf_t *l, yaml_node_t *map)
{
    if (!expect_map(w, map, "log.redact")) return false;
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    l->redact_modes = sy_xcalloc(n ? n : 1, sizeof *l->redact_modes);
    FOR_PAIRS(w, map, k, v)
    {
        char key[128];
        snprintf(key, sizeof key, "log.redact.%s", k);
        if (!strcmp(k, "hash_key")) {
            if (!get_secret_ref(w, v, key, &l->redact_hash_key, NULL)) return false;
        } else if (!strcmp(k, "custom")) {
            if (v->type != YAML_SEQUENCE_NODE)
                return fail(w, v, key, "expected a list of {name, pattern, mode, label}");
            size_t m = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            l->redact_custom = sy_xcalloc(m ? m : 1, sizeof *l->redact_custom);
            for (size_t i = 0; i < m; i++) {
                yaml_node_t *it = yaml_document_get_node(w->doc, v->data.sequence.items.start[i]);
                sy_conf_redact_custom_t *c = &l->redact_custom[i];
                l->n_redact_custom = i + 1;
                char p[96];
                snprintf(p, sizeof p, "log.redact.custom[%zu]", i);
                if (!expect_map(w, it, p)) return false;
                c->line = (int)it->start_mark.line + 1;
                if (!walk_redact_custom(w, c, it, p)) return false;
                if (!c->name || !c->pattern) {
                    char ckey[160];
                    snprintf(ckey, sizeof ckey, "%s.%s", p, c->name ? "pattern" : "name");
                    return fail(w, it, ckey, "required");
                }
            }
        } else {
            const char *s = scalar(v);
            if (!s || (strcmp(s, "mask") && strcmp(s, "hash") && strcmp(s, "off")))
                return fail(w, v, key, "expected mask, hash or off");
            sy_conf_named_t *e = &l->redact_modes[l->n_redact_modes++];
            e->name = sy_xstrdup(k);
            e->value = sy_xstrdup(s);
            e->line = (int)v->start_mark.line + 1;
        }
    }
    return true;
}

static bool walk_log(walk_t *w, sy_config_t *cfg, yaml_node_t *map)
{
    sy_logconf_t *l = &cfg->log;
    if (!expect_map(w, map, "log")) return false;
    l->line = (int)map->start_mark.line + 1;
    FOR_PAIRS(w, map, k, v)
    {
        char key[96];
        snprintf(key, sizeof key, "log.%s", k);
        bool ok = true;
        const char *s = scalar(v);
        if (!strcmp(k, "enabled") || !strcmp(k, "bodies")) {
            bool *dst = !strcmp(k, "enabled") ? &l->enabled : &l->bodies;
            if (s && !strcmp(s, "true"))
                *dst = true;
            else if (s && !strcmp(s, "false"))
                *dst = false;
            else
                ok = fail(w, v, key, "expected true or false");
        } else if (!strcmp(k, "store")) {
            if (s && !strncmp(s, "env:", 4))
                ok = get_secret_ref(w, v, key, &l->store_url, &l->store_url_ref);
            else if (s && (!strncmp(s, "sqlite:", 7) || !strncmp(s, "postgres://", 11) ||
                           !strncmp(s, "postgresql://", 13) || !strncmp(s, "clickhouse://", 13))) {
                if (strchr(s, '@') && strncmp(s, "sqlite:", 7) != 0)
                    ok = fail(w, v, key,
                              "credentials in a store URL belong in the environment: use "
                              "env:VARIABLE");
                else
                    ok = get_str(w, v, key, &l->store_url);
            } else
                ok = fail(w, v, key,
                          "expected sqlite:[PATH], postgres://..., clickhouse://... or "
                          "env:VARIABLE");
        } else if (!strcmp(k, "max_body_bytes")) {
            ok = get_size(w, v, key, 0, &l->max_body_bytes);
            if (ok && l->max_body_bytes > SY_LOG_MAX_BODY_BYTES_LIMIT)
                ok = fail(w, v, key, "must be at most %u (16 MiB)", SY_LOG_MAX_BODY_BYTES_LIMIT);
        } else if (!strcmp(k, "batch_rows")) {
            ok = get_u32(w, v, key, &l->batch_rows);
            if (ok && (l->batch_rows < 1 || l->batch_rows > 100000))
                ok = fail(w, v, key, "must be between 1 and 100000");
        } else if (!strcmp(k, "batch_ms")) {
            ok = get_u32(w, v, key, &l->batch_ms);
            if (ok && (l->batch_ms < 1 || l->batch_ms > 600000))
                ok = fail(w, v, key, "must be between 1 and 600000");
        } else if (!strcmp(k, "fsync")) {
            if (s && !strcmp(s, "always"))
                l->fsync = SY_FSYNC_ALWAYS;
            else if (s && !strcmp(s, "everysec"))
                l->fsync = SY_FSYNC_EVERYSEC;
            else if (s && !strcmp(s, "never"))
                l->fsync = SY_FSYNC_NEVER;
            else
                ok = fail(w, v, key, "expected always, everysec or never");
        } else if (!strcmp(k, "ack_timeout_ms")) {
            ok = get_u32(w, v, key, &l->ack_timeout_ms);
            if (ok && (l->ack_timeout_ms < 100 || l->ack_timeout_ms > 3600000))
                ok = fail(w, v, key, "must be between 100 and 3600000");
        } else if (!strcmp(k, "writer_nice")) {
            ok = get_u32(w, v, key, &l->writer_nice);
            if (ok && l->writer_nice > 19) ok = fail(w, v, key, "must be between 0 and 19");
        } else if (!strcmp(k, "spool_dir"))
            ok = get_str(w, v, key, &l->spool_dir);
        else if (!strcmp(k, "spool_max_bytes")) {
            size_t n = 0;
            ok = get_size(w, v, key, 1u << 20, &n);
            l->spool_max_bytes = n;
        } else if (!strcmp(k, "redact"))
            ok = walk_redact(w, l, v);
        else
            ok = fail(w, v, key,
                      "unknown key (enabled, store, bodies, max_body_bytes, batch_rows, batch_ms, "
                      "fsync, ack_timeout_ms, writer_nice, spool_dir, spool_max_bytes, redact)");
        if (!ok) return false;
    }
    return true;
}

static bool walk_secrets(walk_t *w, sy_config_t *cfg, yaml_node_t *map)
{
    if (!expect_map(w, map, "secrets")) return false;
    FOR_PAIRS(w, map, k, v)
    {
        bool ok;
        if (!strcmp(k, "master_key_file"))
            ok = get_str(w, v, "secrets.master_key_file", &cfg->master_key_file);
        else if (!strcmp(k, "refresh_s"))
            ok = get_u32(w, v, "secrets.refresh_s", &cfg->secrets_refresh_s);
        else
            ok = fail(w, v, "secrets", "unknown key '%s' (master_key_file, refresh_s)", k);
        if (!ok) return false;
    }
    return true;
}

static bool walk_auth(walk_t *w, sy_config_t *cfg, yaml_node_t *map)
{
    sy_authconf_t *a = &cfg->auth;
    if (!expect_map(w, map, "auth")) return false;
    FOR_PAIRS(w, map, k, v)
    {
        char key[96];
        snprintf(key, sizeof key, "auth.%s", k);
        bool ok = true;
        const char *s = scalar(v);
        uint32_t *u = NULL;
        if (!strcmp(k, "mode")) {
            if (s && !strcmp(s, "required"))
                a->mode = SY_AUTH_REQUIRED;
            else if (s && !strcmp(s, "local"))
                a->mode = SY_AUTH_LOCAL;
            else
                ok = fail(w, v, key, "expected required or local");
        } else if (!strcmp(k, "key_cache_ttl_s"))
            u = &a->key_cache_ttl_s;
        else if (!strcmp(k, "session_ttl_s"))
            u = &a->session_ttl_s;
        else if (!strcmp(k, "rotate_grace_s"))
            u = &a->rotate_grace_s;
        else if (!strcmp(k, "login_attempts_per_account"))
            u = &a->login_per_account;
        else if (!strcmp(k, "login_attempts_per_ip"))
            u = &a->login_per_ip;
        else
            ok = fail(w, v, key,
                      "unknown key (mode, key_cache_ttl_s, session_ttl_s, rotate_grace_s, "
                      "login_attempts_per_account, login_attempts_per_ip)");
        if (ok && u) {
            ok = get_u32(w, v, key, u);
            if (ok && (*u < 1 || *u > 31536000))
                ok = fail(w, v, key, "must be between 1 and 31536000");
        }
        if (!ok) return false;
    }
    return true;
}

static void set_defaults(sy_config_t *cfg)
{
    cfg->auth.mode = SY_AUTH_REQUIRED;
    cfg->auth.key_cache_ttl_s = 10;
    cfg->auth.session_ttl_s = 43200;
    cfg->auth.rotate_grace_s = 3600;
    cfg->auth.login_per_account = 5;
    cfg->auth.login_per_ip = 20;
    cfg->secrets_refresh_s = 30;
    cfg->listen_host = sy_xstrdup("127.0.0.1");
    cfg->listen_port = 8080;
    cfg->workers = 0;
    cfg->native_http1 = true;
    cfg->sched_slice_us = 100;
    cfg->max_body_bytes = 4u << 20;
    cfg->max_header_bytes = 16384;
    cfg->max_headers = 100;
    cfg->header_timeout_ms = 10000;
    cfg->keepalive_timeout_ms = 60000;
    cfg->sse_keepalive_ms = 15000;
    cfg->shutdown_grace_ms = 30000;
    cfg->max_live_generations_per_user = 4;
    cfg->max_upstream_error_bytes = 65536;
    cfg->log.enabled = true;
    cfg->log.bodies = true;
    cfg->log.max_body_bytes = 65536;
    cfg->log.batch_rows = 1000;
    cfg->log.batch_ms = 1000;
    cfg->log.fsync = SY_FSYNC_EVERYSEC;
    cfg->log.ack_timeout_ms = 30000;
    cfg->log.spool_max_bytes = 1ull << 30;
    cfg->rl.redis_host = sy_xstrdup("127.0.0.1");
    cfg->rl.redis_port = 6379;
    cfg->rl.redis_timeout_ms = 100;
    cfg->rl.default_max_tokens = 4096;
}

sy_config_t *sy_config_load_string(const char *name, const char *text, size_t len,
                                   sy_conf_err_t *err)
{
    sy_config_t *cfg = sy_xcalloc(1, sizeof *cfg);
    cfg->path = sy_xstrdup(name);
    set_defaults(cfg);
    yaml_parser_t parser;
    yaml_document_t doc;
    walk_t w = {.doc = &doc, .file = name, .err = err};
    bool ok = false;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err->msg, sizeof err->msg, "%s:%lu: (yaml): %s %s", name,
                 (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "syntax error",
                 parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        sy_config_free(cfg);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        snprintf(err->msg, sizeof err->msg, "%s:1: (root): the file is empty", name);
        goto out;
    }
    if (!expect_map(&w, root, "(root)")) goto out;
    bool have_models = false;
    FOR_PAIRS(&w, root, k, v)
    {
        bool r;
        if (!strcmp(k, "server"))
            r = walk_server(&w, cfg, v);
        else if (!strcmp(k, "limits"))
            r = walk_limits(&w, cfg, v);
        else if (!strcmp(k, "prices"))
            r = walk_prices(&w, cfg, v);
        else if (!strcmp(k, "log"))
            r = walk_log(&w, cfg, v);
        else if (!strcmp(k, "auth"))
            r = walk_auth(&w, cfg, v);
        else if (!strcmp(k, "data_dir"))
            r = get_str(&w, v, "data_dir", &cfg->data_dir);
        else if (!strcmp(k, "secrets"))
            r = walk_secrets(&w, cfg, v);
        else if (!strcmp(k, "models")) {
            have_models = true;
            r = walk_models(&w, cfg, v);
        } else
            r = fail(&w, v, k,
                     "unknown top-level key (server, limits, models, prices, log, auth, secrets, "
                     "data_dir)");
        if (!r) goto out;
    }
    if (!have_models || cfg->n_models == 0) {
        fail(&w, root, "models", "at least one model is required");
        goto out;
    }
    if (!resolve_limits(&w, cfg)) goto out;
    for (size_t i = 0; i < cfg->n_models; i++)
        for (size_t j = 0; j < cfg->models[i].n_deployments; j++)
            if (cfg->models[i].deployments[j].credential) cfg->uses_credentials = true;
    if (cfg->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->workers = n > 0 ? (int)n : 1;
    }
    ok = true;
out:
    pend_free(&w);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (!ok) {
        sy_config_free(cfg);
        return NULL;
    }
    return cfg;
}

sy_config_t *sy_config_load(const char *path, sy_conf_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err->msg, sizeof err->msg, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    sy_buf_t b;
    sy_buf_init(&b, 16u << 20);
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (sy_buf_append(&b, tmp, n)) {
            fclose(f);
            sy_buf_dispose(&b);
            snprintf(err->msg, sizeof err->msg, "%s: file is larger than 16 MiB", path);
            return NULL;
        }
    }
    fclose(f);
    sy_config_t *cfg = sy_config_load_string(path, b.base ? b.base : "", b.len, err);
    sy_buf_dispose(&b);
    return cfg;
}

void sy_config_free(sy_config_t *cfg)
{
    if (!cfg) return;
    for (size_t i = 0; i < cfg->n_models; i++) {
        sy_model_conf_t *m = &cfg->models[i];
        free(m->name);
        for (size_t j = 0; j < m->n_deployments; j++)
            deploy_free(&m->deployments[j]);
        free(m->deployments);
        for (size_t j = 0; j < m->n_fallbacks; j++)
            free(m->fallbacks[j]);
        free(m->fallbacks);
        free(m->fallback_models);
        free(m->limits.v);
        for (int e = 0; e < SY_LIMITS_ENT__COUNT; e++)
            free(m->per_entity[e].v);
        for (int p = 0; p < SY_UI__COUNT; p++)
            free(m->ui.lock_json[p]);
    }
    for (int e = 0; e < SY_LIMITS_ENT__COUNT; e++)
        free(cfg->rl.defaults[e].v);
    free(cfg->rl.redis_host);
    if (cfg->rl.redis_password) {
        memset(cfg->rl.redis_password, 0, strlen(cfg->rl.redis_password));
        free(cfg->rl.redis_password);
    }
    free(cfg->models);
    for (size_t i = 0; i < cfg->n_prices; i++) {
        free(cfg->prices[i].provider);
        free(cfg->prices[i].model);
    }
    free(cfg->prices);
    sy_logconf_t *l = &cfg->log;
    if (l->store_url) {
        memset(l->store_url, 0, strlen(l->store_url)); /* may hold a password */
        free(l->store_url);
    }
    free(l->store_url_ref);
    free(l->spool_dir);
    for (size_t i = 0; i < l->n_redact_modes; i++) {
        free(l->redact_modes[i].name);
        free(l->redact_modes[i].value);
    }
    free(l->redact_modes);
    for (size_t i = 0; i < l->n_redact_custom; i++) {
        free(l->redact_custom[i].name);
        free(l->redact_custom[i].pattern);
        free(l->redact_custom[i].mode);
        free(l->redact_custom[i].label);
    }
    free(l->redact_custom);
    if (l->redact_hash_key) {
        memset(l->redact_hash_key, 0, strlen(l->redact_hash_key));
        free(l->redact_hash_key);
    }
    free(cfg->data_dir);
    free(cfg->master_key_file);
    free(cfg->listen_host);
    free(cfg->path);
    free(cfg);
}

const sy_model_conf_t *sy_config_find_model(const sy_config_t *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->n_models; i++) {
        const char *n = cfg->models[i].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0) return &cfg->models[i];
    }
    return NULL;
}
