/* Chat generation's pure parts (api/chatgen.c runs them): the upstream request built from a
 * branch, the checks of a generate body, the metrics JSON, the deployment an answer is priced
 * for, the capped text and the JSON Schema errors of a reply. No I/O, no loop; any thread;
 * unit-tested in tests/unit/test_chatgen.c. */
#ifndef SY_API_CHATGEN_FMT_H
#define SY_API_CHATGEN_FMT_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/buf.h"
#include "core/jsonschema.h"
#include "store/appchat.h"

#define SY_CHATGEN_MODEL_MAX 200          /* bytes of a model name */
#define SY_CHATGEN_SCHEMA_ERRORS_MAX 20   /* schema errors stored per answer */
#define SY_CHATGEN_SCHEMA_MAX (64u << 10) /* compact JSON bytes of a json_schema schema */

/* The upstream request body: model, stream with usage, messages = system (opts "system"),
 * the context block (opts "context", as a second system message "Context:\n…"), the branch
 * (user/assistant messages, oldest first; those with a status other than ok or cancelled are
 * left out), then new_user (NULL: regenerate, the branch already ends with the user message);
 * opts "params" (temperature, top_p, max_tokens, seed) and "response_format" as given. Returns
 * a new JSON object. */
json_t *sy_chatgen_request(const char *model, sy_app_msg_t *const *branch, size_t n,
                           const char *new_user, json_t *opts);

/* Why a generate body is refused: param ("" for none), message, and the OpenAI error code
 * (NULL: the table's for 400). */
typedef struct sy_chatgen_refusal {
    char param[80];
    char message[512];
    const char *code;
} sy_chatgen_refusal_t;
/* Checks a generate body (docs/API.md, "Generating answers"): known fields only, types and
 * sizes, params, response_format (a json_schema's schema at most SY_CHATGEN_SCHEMA_MAX bytes of
 * compact JSON: code "invalid_value"). It does not compile the schema: cheap enough for a loop
 * thread (the size check stops at the cap). False fills why. */
bool sy_chatgen_check_body(json_t *body, sy_chatgen_refusal_t *why);
/* The json_schema of a checked body's response_format, compiled (the caller frees it), or NULL:
 * no json_schema (why->code NULL), or it does not compile (why filled, code "invalid_value").
 * Deep copy plus a PCRE2 compile per pattern: thread pool only, never on a loop thread. */
sy_jschema_t *sy_chatgen_compile_schema(json_t *body, sy_chatgen_refusal_t *why);

/* The model's `ui:` block applied to a generate body (before sy_chatgen_check_body, which then
 * checks the result): a locked parameter sent with another value (numbers compare by value) is
 * refused (code "invalid_value", param "params.temperature", "system", …); one not sent is set
 * to its locked value (in "params", created when absent, or at the top level for system and
 * response_format); a hidden, unlocked parameter that is sent is refused (code
 * "unsupported_parameter"). model: the name, for the messages. False fills why. */
bool sy_chatgen_apply_ui(json_t *body, const sy_model_ui_t *ui, const char *model,
                         sy_chatgen_refusal_t *why);

/* An answer's metrics; a negative value means unknown (JSON null). */
typedef struct sy_chatgen_metrics {
    int64_t ttft_us, latency_us;
    int64_t input_tokens, output_tokens, reasoning_tokens;
    int64_t cost_nanousd;
} sy_chatgen_metrics_t;
/* The message's "metrics" object as compact JSON: ttft_ms, latency_ms (3 decimals), tokens,
 * tokens_per_s = output / (latency − ttft) (null when unknown or not positive), cost_usd (exact
 * decimal, null when unknown). */
sy_err_t sy_chatgen_metrics_json(const sy_chatgen_metrics_t *m, sy_buf_t *out);

/* The deployment whose upstream model answered (up_model: the stream's "model"; the model's
 * fallbacks are searched too), for the price; the model's first deployment when none matches. */
const sy_deploy_conf_t *sy_chatgen_priced_deploy(const sy_config_t *cfg, const sy_model_conf_t *m,
                                                 const char *up_model);

/* Appends whole UTF-8 characters of s[0..n) to dst, up to max bytes in all: false when
 * something did not fit (never half a character). */
bool sy_chatgen_append_capped(sy_buf_t *dst, const char *s, size_t n, size_t max);

/* The reply checked against a compiled JSON Schema: NULL when it validates, else a JSON array
 * of {path, message} (at most SY_CHATGEN_SCHEMA_ERRORS_MAX; malloc'd). A reply that is not JSON
 * is one error at path "". */
char *sy_chatgen_schema_errors(const sy_jschema_t *schema, const char *text);

#endif
