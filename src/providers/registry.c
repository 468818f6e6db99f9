#include <stdio.h>
#include <string.h>

#include "providers/provider.h"

static const sy_provider_t *const available_providers[] = {
    &sy_provider_openai, &sy_provider_anthropic, &sy_provider_gemini, &sy_provider_mock, NULL,
};

const char *sy_provider_names(void)
{
    return "openai, anthropic, gemini, mock";
}

bool sy_provider_resolve(sy_config_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->n_models; i++)
        for (size_t j = 0; j < cfg->models[i].n_deployments; j++) {
            sy_deploy_conf_t *m = &cfg->models[i].deployments[j];
            const sy_provider_t *p = NULL;
            for (const sy_provider_t *const *it = available_providers; *it; it++)
                if (strcmp((*it)->name, m->provider_name) == 0) p = *it;
            char where[64];
            if (cfg->models[i].n_deployments == 1 && m->line == cfg->models[i].line)
                snprintf(where, sizeof where, "models[%zu]", i);
            else
                snprintf(where, sizeof where, "models[%zu].deployments[%zu]", i, j);
            if (!p) {
                snprintf(err, errlen, "%s:%d: %s.provider: unknown provider '%s' (known: %s)",
                         cfg->path, m->provider_line ? m->provider_line : m->line, where,
                         m->provider_name, sy_provider_names());
                return false;
            }
            char msg[400] = "";
            if (p->init_model && !p->init_model(m, msg, sizeof msg)) {
                snprintf(err, errlen, "%s:%d: %s: %s", cfg->path, m->line, where, msg);
                return false;
            }
            m->provider = p;
            if (!sy_provider_key_new(m)) {
                snprintf(err, errlen, "%s:%d: %s.api_key: the key is longer than %d bytes",
                         cfg->path, m->line, where, SY_PROVIDER_KEY_LINE_MAX - 64);
                return false;
            }
        }
    return true;
}

void sy_provider_release(sy_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_models; i++)
        for (size_t j = 0; j < cfg->models[i].n_deployments; j++) {
            sy_deploy_conf_t *m = &cfg->models[i].deployments[j];
            if (m->provider && m->provider->free_model) m->provider->free_model(m);
            sy_provider_key_free(m);
            m->provider = NULL;
        }
}
