/* OpenAI chat completions <-> Anthropic Messages API.
 *
 * DESIGN
 * Requests are parsed with jansson and a new Anthropic body is built key by key; nothing from
 * the client is forwarded unless a rule below names it. Responses and stream events are parsed
 * with jansson; stream chunks are written by hand from a prefix serialised once per stream.
 *
 * Mapping decisions (docs/internals/ANTHROPIC.md has the full tables):
 *  - system/developer messages, wherever they stand, are hoisted into the top-level `system`
 *    string; every text (one per message, or one per text part) is joined with "\n\n".
 *  - Consecutive messages of the same Anthropic role are merged into one message (Anthropic
 *    wants user/assistant alternation). role "tool" becomes a user-role tool_result block; inside
 *    a user message tool_result blocks are kept in front of other blocks (Anthropic's rule).
 *    A message left with one plain text block is sent with string content. Empty text is
 *    dropped (Anthropic rejects empty text blocks) and a message left empty is dropped.
 *  - response_format json_schema / json_object become a forced tool whose name starts with
 *    RF_PREFIX ("sy_response_format__" + schema name, or "json_object"; cut to 64 characters).
 *    tool_choice: {"type":"tool","name":<that tool>} when the client has no tools (or chose
 *    "none"); with client tools it is {"type":"any"} (the model must call either a real tool or
 *    the format tool) unless the client named a function. The response side recognises the
 *    prefix and returns that tool's input as the assistant's text content (compact JSON; when
 *    streamed, the input_json_delta fragments become content deltas) and finish_reason "stop"
 *    unless a real tool call was made too.
 *  - thinking blocks -> message.reasoning_content (stream: delta.reasoning_content); signatures
 *    and redacted_thinking are dropped. Other block types (server tools) are ignored.
 *  - temperature above 1 (Anthropic's maximum) is clamped to 1 and named in warnings (or is a
 *    400 when unsupported parameters are rejected).
 *  - user (or safety_identifier) -> metadata.user_id. */
#include "providers/anthropic_fmt.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "providers/anthropic_fastreq.h"
#include "providers/anthropic_int.h"

#define RF_PREFIX "sy_response_format__"
#define TOOL_NAME_MAX 64
#define JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

/* ---------------------------------------------------------------- request: helpers */

typedef struct req_ctx {
    const sy_fmt_req_opts_t *o;
    sy_fmt_req_t *out;
} req_ctx_t;

__attribute__((format(printf, 3, 4))) static sy_err_t fail(req_ctx_t *c, const char *param,
                                                           const char *fmt, ...)
{
    snprintf(c->out->err_param, sizeof c->out->err_param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->out->err_msg, sizeof c->out->err_msg, fmt, ap);
    va_end(ap);
    return SY_ERR_INVALID_REQUEST;
}

static void warn(req_ctx_t *c, const char *name)
{
    char *w = c->out->warnings;
    size_t used = strlen(w), n = strlen(name);
    if (used + (used ? 1 : 0) + n + 1 > sizeof c->out->warnings) return;
    if (used) w[used++] = ',';
    memcpy(w + used, name, n + 1);
}

/* An unsupported parameter: a 400 or a warning, as the model is configured. */
static sy_err_t unsupported(req_ctx_t *c, const char *name, const char *why)
{
    if (c->o->reject_unsupported) return fail(c, name, "%s: %s", name, why);
    warn(c, name);
    return SY_OK;
}

/* Present and not null: OpenAI treats an explicit null like an absent key. */
static bool given(const json_t *v)
{
    return v && !json_is_null(v);
}

static bool is_nonneg_int(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* Top-level OpenAI parameters: the ones translated below, and the ones Anthropic lacks. */
static const char *const handled_keys[] = {
    "messages",       "model", "max_tokens",  "max_completion_tokens", "temperature",
    "top_p",          "stop",  "user",        "safety_identifier",     "stream",
    "stream_options", "tools", "tool_choice", "parallel_tool_calls",   "response_format",
};
static const char *const unsupported_keys[] = {"audio",
                                               "frequency_penalty",
                                               "function_call",
                                               "functions",
                                               "logit_bias",
                                               "logprobs",
                                               "metadata",
                                               "modalities",
                                               "n",
                                               "prediction",
                                               "presence_penalty",
                                               "prompt_cache_key",
                                               "reasoning_effort",
                                               "seed",
                                               "service_tier",
                                               "store",
                                               "top_logprobs",
                                               "verbosity",
                                               "web_search_options"};

static bool in_list(const char *const *list, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], key)) return true;
    return false;
}

#define IN_LIST(list, key) in_list(list, sizeof list / sizeof list[0], key)

/* Values of unsupported parameters that ask for nothing Anthropic lacks. */
static bool neutral_value(const char *key, const json_t *v)
{
    if (json_is_null(v)) return true;
    if (!strcmp(key, "n")) return json_is_integer(v) && json_integer_value(v) == 1;
    if (!strcmp(key, "logprobs") || !strcmp(key, "store")) return json_is_false(v);
    if (!strcmp(key, "presence_penalty") || !strcmp(key, "frequency_penalty"))
        return json_is_number(v) && json_number_value(v) == 0;
    return false;
}

static sy_err_t check_keys(req_ctx_t *c, json_t *req)
{
    const char *key;
    json_t *v;
    json_object_foreach(req, key, v)
    {
        sy_err_t err = SY_OK;
        if (IN_LIST(unsupported_keys, key)) {
            if (!neutral_value(key, v)) err = unsupported(c, key, "not supported by this model");
        } else if (!IN_LIST(handled_keys, key)) {
            err = unsupported(c, key, "unknown parameter");
        }
        if (err) return err;
    }
    return SY_OK;
}

static void apply_defaults(req_ctx_t *c, json_t *req)
{
    bool has_max = given(json_object_get(req, "max_tokens")) ||
                   given(json_object_get(req, "max_completion_tokens"));
    for (size_t i = 0; i < c->o->n_defaults; i++) {
        const sy_conf_kv_t *d = &c->o->defaults[i];
        json_t *cur = json_object_get(req, d->key);
        if (given(cur)) continue;
        /* The two spellings of the output limit count as one parameter. */
        if (has_max && (!strcmp(d->key, "max_tokens") || !strcmp(d->key, "max_completion_tokens")))
            continue;
        json_t *v = json_loads(d->json, JSON_DECODE_ANY, NULL);
        if (v) json_object_set_new(req, d->key, v);
    }
}

/* ---------------------------------------------------------------- request: messages */

/* Appends a block to the last message when it has the same role, else starts a message. */
static void push_block(json_t *msgs, const char *role, json_t *block)
{
    size_t n = json_array_size(msgs);
    json_t *last = n ? json_array_get(msgs, n - 1) : NULL;
    if (!last || strcmp(json_string_value(json_object_get(last, "role")), role)) {
        last = json_object();
        json_object_set_new(last, "role", json_string(role));
        json_object_set_new(last, "content", json_array());
        json_array_append_new(msgs, last);
    }
    json_t *content = json_object_get(last, "content");
    const char *type = json_string_value(json_object_get(block, "type"));
    if (!strcmp(type, "tool_result")) {
        /* tool_result blocks go before any other block of the user turn. */
        size_t at = 0;
        while (at < json_array_size(content) &&
               !strcmp(json_string_value(json_object_get(json_array_get(content, at), "type")),
                       "tool_result"))
            at++;
        json_array_insert_new(content, at, block);
    } else {
        json_array_append_new(content, block);
    }
}

static json_t *text_block(const char *text)
{
    return json_pack("{s:s,s:s}", "type", "text", "text", text);
}

/* image_url part -> Anthropic image block (data URL -> base64 source, http(s) -> url source). */
static sy_err_t image_block(req_ctx_t *c, json_t *part, const char *param, json_t **blockp)
{
    json_t *iu = json_object_get(part, "image_url");
    json_t *urlv = json_is_object(iu) ? json_object_get(iu, "url") : iu;
    char p[96];
    snprintf(p, sizeof p, "%s.image_url.url", param);
    if (!json_is_string(urlv)) return fail(c, p, "image_url.url must be a string");
    const char *url = json_string_value(urlv);
    if (!strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8)) {
        *blockp =
            json_pack("{s:s,s:{s:s,s:s}}", "type", "image", "source", "type", "url", "url", url);
        return SY_OK;
    }
    if (strncasecmp(url, "data:", 5)) return fail(c, p, "image URL must be http(s) or a data URL");
    const char *semi = strchr(url + 5, ';');
    const char *comma = strchr(url + 5, ',');
    if (!semi || !comma || semi > comma || strncasecmp(semi, ";base64,", 8) || semi == url + 5)
        return fail(c, p, "data URL must be data:<media type>;base64,<data>");
    char *media = sy_xstrndup(url + 5, (size_t)(semi - (url + 5)));
    *blockp = json_pack("{s:s,s:{s:s,s:s,s:s}}", "type", "image", "source", "type", "base64",
                        "media_type", media, "data", comma + 1);
    free(media);
    return SY_OK;
}

enum { ALLOW_TEXT = 1, ALLOW_IMAGE = 2 };

/* OpenAI content (string or parts) -> array of Anthropic blocks (empty text dropped). */
static sy_err_t content_blocks(req_ctx_t *c, json_t *content, size_t mi, int allow, json_t *blocks)
{
    char param[96];
    if (json_is_string(content)) {
        if (json_string_length(content))
            json_array_append_new(blocks, text_block(json_string_value(content)));
        return SY_OK;
    }
    snprintf(param, sizeof param, "messages[%zu].content", mi);
    if (!json_is_array(content)) return fail(c, param, "content must be a string or an array");
    size_t j;
    json_t *part;
    json_array_foreach(content, j, part)
    {
        snprintf(param, sizeof param, "messages[%zu].content[%zu]", mi, j);
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!type) return fail(c, param, "content part must be an object with a type");
        /* refusal parts only occur in assistant history; the text is what the model said. */
        if (!strcmp(type, "text") || !strcmp(type, "refusal")) {
            json_t *t = json_object_get(part, type);
            if (!json_is_string(t)) {
                snprintf(param, sizeof param, "messages[%zu].content[%zu].%s", mi, j, type);
                return fail(c, param, "%s must be a string", type);
            }
            if (json_string_length(t))
                json_array_append_new(blocks, text_block(json_string_value(t)));
        } else if (!strcmp(type, "image_url") && (allow & ALLOW_IMAGE)) {
            json_t *b = NULL;
            sy_err_t err = image_block(c, part, param, &b);
            if (err) return err;
            json_array_append_new(blocks, b);
        } else {
            snprintf(param, sizeof param, "messages[%zu].content[%zu].type", mi, j);
            return fail(c, param, "content part type '%s' is not supported here", type);
        }
    }
    return SY_OK;
}

static sy_err_t tool_use_blocks(req_ctx_t *c, json_t *calls, size_t mi, json_t *blocks)
{
    char param[128];
    snprintf(param, sizeof param, "messages[%zu].tool_calls", mi);
    if (!json_is_array(calls)) return fail(c, param, "tool_calls must be an array");
    size_t j;
    json_t *call;
    json_array_foreach(calls, j, call)
    {
        json_t *fn = json_object_get(call, "function");
        const char *id = json_string_value(json_object_get(call, "id"));
        const char *name = json_string_value(json_object_get(fn, "name"));
        json_t *args = json_object_get(fn, "arguments");
        snprintf(param, sizeof param, "messages[%zu].tool_calls[%zu]", mi, j);
        if (!id || !name) return fail(c, param, "a tool call needs an id and a function name");
        snprintf(param, sizeof param, "messages[%zu].tool_calls[%zu].function.arguments", mi, j);
        json_t *input;
        if (!given(args) || (json_is_string(args) && !json_string_length(args))) {
            input = json_object();
        } else if (json_is_string(args)) {
            input = json_loadb(json_string_value(args), json_string_length(args), 0, NULL);
            if (!json_is_object(input)) {
                json_decref(input);
                return fail(c, param, "arguments must be a JSON object encoded as a string");
            }
        } else {
            return fail(c, param, "arguments must be a string");
        }
        json_array_append_new(blocks, json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id", id,
                                                "name", name, "input", input));
    }
    return SY_OK;
}

static void append_system(sy_buf_t *sys, const char *text, size_t len)
{
    if (!len) return;
    if (sys->len) sy_buf_append(sys, "\n\n", 2);
    sy_buf_append(sys, text, len);
}

static sy_err_t translate_message(req_ctx_t *c, json_t *m, size_t i, json_t *msgs, sy_buf_t *sys)
{
    char param[96];
    snprintf(param, sizeof param, "messages[%zu]", i);
    if (!json_is_object(m)) return fail(c, param, "each message must be an object");
    snprintf(param, sizeof param, "messages[%zu].role", i);
    const char *role = json_string_value(json_object_get(m, "role"));
    if (!role) return fail(c, param, "role must be a string");
    json_t *content = json_object_get(m, "content");
    json_t *blocks = json_array();
    sy_err_t err = SY_OK;
    const char *to = NULL;

    if (!strcmp(role, "system") || !strcmp(role, "developer")) {
        err = content_blocks(c, content, i, ALLOW_TEXT, blocks);
        size_t j;
        json_t *b;
        json_array_foreach(blocks, j, b)
        {
            json_t *t = json_object_get(b, "text");
            append_system(sys, json_string_value(t), json_string_length(t));
        }
    } else if (!strcmp(role, "user")) {
        err = content_blocks(c, content, i, ALLOW_TEXT | ALLOW_IMAGE, blocks);
        to = "user";
    } else if (!strcmp(role, "assistant")) {
        json_t *calls = json_object_get(m, "tool_calls");
        if (given(content)) err = content_blocks(c, content, i, ALLOW_TEXT, blocks);
        if (!err && given(calls)) err = tool_use_blocks(c, calls, i, blocks);
        to = "assistant";
    } else if (!strcmp(role, "tool")) {
        const char *id = json_string_value(json_object_get(m, "tool_call_id"));
        snprintf(param, sizeof param, "messages[%zu].tool_call_id", i);
        if (!id) {
            err = fail(c, param, "a tool message needs a tool_call_id");
        } else {
            json_t *res = json_pack("{s:s,s:s}", "type", "tool_result", "tool_use_id", id);
            if (json_is_string(content)) {
                json_object_set(res, "content", content);
            } else {
                json_t *parts = json_array();
                err = content_blocks(c, content, i, ALLOW_TEXT, parts);
                json_object_set_new(res, "content", parts);
            }
            json_array_append_new(blocks, res);
        }
        to = "user";
    } else {
        err = fail(c, param, "unsupported role '%s'", role);
    }
    if (!err && to) {
        size_t j;
        json_t *b;
        json_array_foreach(blocks, j, b) push_block(msgs, to, json_incref(b));
    }
    json_decref(blocks);
    return err;
}

/* A message whose only block is plain text is sent with string content. */
static void collapse_text_messages(json_t *msgs)
{
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        json_t *content = json_object_get(m, "content");
        json_t *b = json_array_get(content, 0);
        if (json_array_size(content) == 1 && json_object_size(b) == 2 &&
            !strcmp(json_string_value(json_object_get(b, "type")), "text"))
            json_object_set(m, "content", json_object_get(b, "text"));
    }
}

/* ---------------------------------------------------------------- request: tools */

static sy_err_t translate_tools(req_ctx_t *c, json_t *tools, json_t *dst)
{
    if (!json_is_array(tools)) return fail(c, "tools", "tools must be an array");
    char param[64];
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        const char *type = json_string_value(json_object_get(t, "type"));
        snprintf(param, sizeof param, "tools[%zu].type", i);
        if (!type || strcmp(type, "function"))
            return fail(c, param, "only tools of type 'function' are supported");
        json_t *fn = json_object_get(t, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        snprintf(param, sizeof param, "tools[%zu].function.name", i);
        if (!name) return fail(c, param, "a function tool needs a name");
        json_t *out = json_pack("{s:s}", "name", name);
        json_t *desc = json_object_get(fn, "description");
        if (json_is_string(desc)) json_object_set(out, "description", desc);
        json_t *params = json_object_get(fn, "parameters");
        if (json_is_object(params))
            json_object_set(out, "input_schema", params);
        else
            json_object_set_new(out, "input_schema",
                                json_pack("{s:s,s:{}}", "type", "object", "properties"));
        json_array_append_new(dst, out);
    }
    return SY_OK;
}

static sy_err_t translate_tool_choice(req_ctx_t *c, json_t *tc, json_t **outp)
{
    const char *s = json_string_value(tc);
    if (s) {
        const char *type = !strcmp(s, "auto")       ? "auto"
                           : !strcmp(s, "required") ? "any"
                           : !strcmp(s, "none")     ? "none"
                                                    : NULL;
        if (!type) return fail(c, "tool_choice", "tool_choice must be auto, required or none");
        *outp = json_pack("{s:s}", "type", type);
        return SY_OK;
    }
    const char *type = json_string_value(json_object_get(tc, "type"));
    const char *name = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
    if (!type || strcmp(type, "function") || !name)
        return fail(c, "tool_choice", "tool_choice must name a function");
    *outp = json_pack("{s:s,s:s}", "type", "tool", "name", name);
    return SY_OK;
}

/* response_format -> the forced tool (see DESIGN). *toolp stays NULL for "text". */
static sy_err_t response_format_tool(req_ctx_t *c, json_t *rf, json_t **toolp)
{
    *toolp = NULL;
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (!type) return fail(c, "response_format", "response_format must have a type");
    if (!strcmp(type, "text")) return SY_OK;
    const char *name = "json_object";
    json_t *schema = NULL;
    const char *desc = "Respond by calling this tool with a JSON object.";
    if (!strcmp(type, "json_schema")) {
        json_t *js = json_object_get(rf, "json_schema");
        name = json_string_value(json_object_get(js, "name"));
        if (!name) return fail(c, "response_format.json_schema.name", "json_schema needs a name");
        schema = json_object_get(js, "schema");
        if (schema && !json_is_object(schema))
            return fail(c, "response_format.json_schema.schema", "schema must be an object");
        if (json_is_string(json_object_get(js, "description")))
            desc = json_string_value(json_object_get(js, "description"));
        else
            desc = "Respond by calling this tool with a JSON object that matches its schema.";
    } else if (strcmp(type, "json_object")) {
        return fail(c, "response_format.type", "unsupported response_format type '%s'", type);
    }
    char tname[TOOL_NAME_MAX + 1];
    snprintf(tname, sizeof tname, RF_PREFIX "%s", name);
    *toolp = json_pack("{s:s,s:s}", "name", tname, "description", desc);
    if (schema)
        json_object_set(*toolp, "input_schema", schema);
    else
        json_object_set_new(*toolp, "input_schema", json_pack("{s:s}", "type", "object"));
    return SY_OK;
}

/* tools, tool_choice, parallel_tool_calls and response_format together. */
static sy_err_t translate_tooling(req_ctx_t *c, json_t *req, json_t *dst)
{
    json_t *tools = json_object_get(req, "tools");
    json_t *tc = json_object_get(req, "tool_choice");
    json_t *ptc = json_object_get(req, "parallel_tool_calls");
    json_t *rf = json_object_get(req, "response_format");
    json_t *atools = json_array(), *choice = NULL, *rftool = NULL;
    sy_err_t err = SY_OK;

    if (given(tools)) err = translate_tools(c, tools, atools);
    if (!err && given(tc)) err = translate_tool_choice(c, tc, &choice);
    if (!err && given(rf)) err = response_format_tool(c, rf, &rftool);
    if (!err && given(ptc) && !json_is_boolean(ptc))
        err = fail(c, "parallel_tool_calls", "parallel_tool_calls must be a boolean");
    if (err) goto out;

    bool client_tools = json_array_size(atools) > 0;
    if (!client_tools && choice) {
        /* OpenAI rejects a tool_choice without tools, except the harmless ones. */
        const char *t = json_string_value(json_object_get(choice, "type"));
        if (strcmp(t, "auto") && strcmp(t, "none")) {
            err = fail(c, "tool_choice", "tool_choice needs tools");
            goto out;
        }
        json_decref(choice);
        choice = NULL;
    }
    if (rftool) {
        const char *t = choice ? json_string_value(json_object_get(choice, "type")) : "auto";
        if (!client_tools || !strcmp(t, "none")) {
            json_decref(choice);
            choice =
                json_pack("{s:s,s:O}", "type", "tool", "name", json_object_get(rftool, "name"));
        } else if (strcmp(t, "tool")) {
            json_decref(choice);
            choice = json_pack("{s:s}", "type", "any");
        }
        json_array_append(atools, rftool);
    }
    if (!json_array_size(atools)) goto out;
    if (json_is_false(ptc)) {
        if (!choice) choice = json_pack("{s:s}", "type", "auto");
        if (strcmp(json_string_value(json_object_get(choice, "type")), "none"))
            json_object_set_new(choice, "disable_parallel_tool_use", json_true());
    }
    json_object_set(dst, "tools", atools);
    if (choice) json_object_set(dst, "tool_choice", choice);
out:
    json_decref(atools);
    json_decref(choice);
    json_decref(rftool);
    return err;
}

/* ---------------------------------------------------------------- request: scalars */

static sy_err_t translate_scalars(req_ctx_t *c, json_t *req, json_t *dst)
{
    json_t *v;
    /* max_tokens: max_completion_tokens (the current name) wins over max_tokens. */
    json_t *mct = json_object_get(req, "max_completion_tokens");
    json_t *mt = json_object_get(req, "max_tokens");
    const char *mname = given(mct) ? "max_completion_tokens" : "max_tokens";
    v = given(mct) ? mct : mt;
    if (given(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return fail(c, mname, "%s must be a positive integer", mname);
        json_object_set(dst, "max_tokens", v);
    } else {
        json_object_set_new(
            dst, "max_tokens",
            json_integer(c->o->default_max_tokens > 0 ? c->o->default_max_tokens : 4096));
    }

    v = json_object_get(req, "temperature");
    if (given(v)) {
        if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 2)
            return fail(c, "temperature", "temperature must be a number between 0 and 2");
        if (json_number_value(v) > 1) {
            sy_err_t err = unsupported(c, "temperature", "this model accepts at most 1");
            if (err) return err;
            json_object_set_new(dst, "temperature", json_real(1.0));
        } else {
            json_object_set(dst, "temperature", v);
        }
    }
    v = json_object_get(req, "top_p");
    if (given(v)) {
        if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1)
            return fail(c, "top_p", "top_p must be a number between 0 and 1");
        json_object_set(dst, "top_p", v);
    }
    v = json_object_get(req, "stop");
    if (json_is_string(v)) {
        json_object_set_new(dst, "stop_sequences", json_pack("[O]", v));
    } else if (json_is_array(v)) {
        size_t i;
        json_t *s;
        json_array_foreach(v, i, s) if (!json_is_string(s)) return fail(
            c, "stop", "stop must be a string or an array of strings");
        if (json_array_size(v)) json_object_set(dst, "stop_sequences", v);
    } else if (given(v)) {
        return fail(c, "stop", "stop must be a string or an array of strings");
    }
    v = json_object_get(req, "user");
    if (!given(v)) v = json_object_get(req, "safety_identifier");
    if (json_is_string(v)) {
        json_object_set_new(dst, "metadata", json_pack("{s:O}", "user_id", v));
    } else if (given(v)) {
        return fail(c, "user", "user must be a string");
    }
    v = json_object_get(req, "stream");
    if (given(v) && !json_is_boolean(v)) return fail(c, "stream", "stream must be a boolean");
    c->out->stream = json_is_true(v);
    if (c->out->stream) json_object_set_new(dst, "stream", json_true());
    v = json_object_get(req, "stream_options");
    if (given(v) && !json_is_object(v))
        return fail(c, "stream_options", "stream_options must be an object");
    c->out->include_usage = c->out->stream && json_is_true(json_object_get(v, "include_usage"));
    return SY_OK;
}

sy_err_t sy_anthropic_fmt_request(const char *body, size_t len, const sy_fmt_req_opts_t *o,
                                  sy_fmt_req_t *out)
{
    if (sy_anthropic_fast_request(body, len, o, out)) return SY_OK; /* anthropic_fastreq.c */
    return sy_anthropic_fmt_request_slow(body, len, o, out);
}

sy_err_t sy_anthropic_fmt_request_slow(const char *body, size_t len, const sy_fmt_req_opts_t *o,
                                       sy_fmt_req_t *out)
{
    memset(out, 0, sizeof *out);
    req_ctx_t ctx = {o, out}, *c = &ctx;
    json_error_t jerr;
    json_t *req = json_loadb(body, len, 0, &jerr);
    if (!req) {
        snprintf(out->err_msg, sizeof out->err_msg, "invalid JSON: %s (line %d, column %d)",
                 jerr.text, jerr.line, jerr.column);
        return SY_ERR_INVALID_JSON;
    }
    json_t *dst = json_object(), *msgs = json_array();
    sy_buf_t sys;
    sy_buf_init(&sys, (size_t)-1 / 2);
    sy_err_t err = SY_OK;
    if (!json_is_object(req)) {
        err = fail(c, "", "the request body must be a JSON object");
        goto out;
    }
    apply_defaults(c, req);
    if ((err = check_keys(c, req))) goto out;

    json_t *in = json_object_get(req, "messages");
    if (!json_is_array(in) || !json_array_size(in)) {
        err = fail(c, "messages", "messages must be a non-empty array");
        goto out;
    }
    size_t i;
    json_t *m;
    json_array_foreach(in, i, m) if ((err = translate_message(c, m, i, msgs, &sys))) goto out;
    collapse_text_messages(msgs);

    json_object_set_new(dst, "model", json_string(o->upstream_model ? o->upstream_model : ""));
    if ((err = translate_scalars(c, req, dst))) goto out;
    if (sys.len) json_object_set_new(dst, "system", json_stringn(sys.base, sys.len));
    json_object_set(dst, "messages", msgs);
    if ((err = translate_tooling(c, req, dst))) goto out;

    out->body = json_dumps(dst, JSON_FLAGS);
    out->len = strlen(out->body);
out:
    if (err) {
        out->stream = out->include_usage = false;
        out->warnings[0] = '\0';
    }
    sy_buf_dispose(&sys);
    json_decref(msgs);
    json_decref(dst);
    json_decref(req);
    return err;
}

/* ---------------------------------------------------------------- errors */

static const struct {
    const char *anthropic;
    const char *openai;
} error_types[] = {
    {"invalid_request_error", "invalid_request_error"},
    {"authentication_error", "authentication_error"},
    {"permission_error", "permission_error"},
    {"not_found_error", "invalid_request_error"}, /* OpenAI: unknown model is a 404 of this type */
    {"request_too_large", "invalid_request_error"},
    {"rate_limit_error", "rate_limit_error"},
    {"billing_error", "insufficient_quota"},
    {"timeout_error", "timeout_error"},
    {"api_error", "server_error"},
    {"overloaded_error", "server_error"},
};

static const char *openai_error_type(const char *type, int status)
{
    for (size_t i = 0; i < sizeof error_types / sizeof error_types[0]; i++)
        if (!strcmp(error_types[i].anthropic, type)) return error_types[i].openai;
    return status >= 400 && status < 500 ? "invalid_request_error" : "server_error";
}

static bool says_too_long(const char *msg)
{
    static const char *const needles[] = {"prompt is too long", "too many tokens", "context window",
                                          "context limit"};
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        if (strcasestr(msg, needles[i])) return true;
    return false;
}

static sy_err_t append_error(sy_buf_t *out, const char *message, const char *type, const char *code)
{
    size_t mark = out->len;
    sy_err_t err = sy_buf_append_c(out, "{\"error\":{\"message\":");
    if (!err) err = sy_json_append_string(out, message, strlen(message));
    if (!err) err = sy_buf_append_c(out, ",\"type\":");
    if (!err) err = sy_json_append_string(out, type, strlen(type));
    if (!err) err = sy_buf_append_c(out, ",\"param\":null,\"code\":");
    if (!err && code) err = sy_json_append_string(out, code, strlen(code));
    if (!err && !code) err = sy_buf_append_c(out, "null");
    if (!err) err = sy_buf_append_c(out, "}}");
    if (err) out->len = mark;
    return err;
}

/* An Anthropic error object {"type","message"} -> OpenAI error JSON. false if not that shape. */
static bool append_anthropic_error(sy_buf_t *out, json_t *e, int status)
{
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (!type || !msg) return false;
    append_error(out, msg, openai_error_type(type, status),
                 says_too_long(msg) ? "context_length_exceeded" : type);
    return true;
}

void sy_anthropic_fmt_error(int status, const char *body, size_t len, sy_buf_t *out)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    bool done = append_anthropic_error(out, json_object_get(doc, "error"), status);
    json_decref(doc);
    if (done) return;
    /* Not Anthropic's error shape (a proxy page, an empty body): quote up to 200 bytes of it,
     * whitespace runs folded into one space, other unprintable bytes (and all non-ASCII, which
     * may be cut mid-character) as '?'. */
    char msg[256];
    int n = snprintf(msg, sizeof msg, "upstream returned HTTP %d: ", status);
    size_t take = len < 200 ? len : 200;
    for (size_t i = 0; i < take; i++) {
        unsigned char ch = (unsigned char)body[i];
        if (isspace(ch)) {
            if (msg[n - 1] != ' ') msg[n++] = ' ';
        } else {
            msg[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
        }
    }
    while (msg[n - 1] == ' ')
        n--;
    if (msg[n - 1] == ':') n--;
    msg[n] = '\0';
    append_error(out, msg, "upstream_error", NULL);
}

/* ---------------------------------------------------------------- responses: shared */

/* sy_anthropic_finish_reason, raw_usage_t and sy_anthropic_map_usage: anthropic_int.h. */

static void read_usage(json_t *u, raw_usage_t *r)
{
    json_t *v;
    if (is_nonneg_int(v = json_object_get(u, "input_tokens"))) r->input = json_integer_value(v);
    if (is_nonneg_int(v = json_object_get(u, "output_tokens"))) r->output = json_integer_value(v);
    if (is_nonneg_int(v = json_object_get(u, "cache_read_input_tokens")))
        r->cache_read = json_integer_value(v);
    if (is_nonneg_int(v = json_object_get(u, "cache_creation_input_tokens")))
        r->cache_write = json_integer_value(v);
}

static sy_err_t append_usage(sy_buf_t *out, const sy_fmt_usage_t *u)
{
    return sy_buf_printf(out,
                         "{\"prompt_tokens\":%" PRId64 ",\"completion_tokens\":%" PRId64
                         ",\"total_tokens\":%" PRId64 ",\"prompt_tokens_details\":{"
                         "\"cached_tokens\":%" PRId64 ",\"cache_write_tokens\":%" PRId64 "}}",
                         u->prompt_tokens, u->completion_tokens,
                         u->prompt_tokens + u->completion_tokens, u->cached_tokens,
                         u->cache_write_tokens);
}

static bool is_format_tool(const char *name)
{
    return name && !strncmp(name, RF_PREFIX, sizeof RF_PREFIX - 1);
}

/* ---------------------------------------------------------------- response */

sy_err_t sy_anthropic_fmt_response(const char *body, size_t len, const sy_fmt_resp_opts_t *o,
                                   sy_buf_t *out, sy_fmt_usage_t *usage)
{
    sy_err_t err;
    if (sy_anthropic_fast_response(body, len, o, out, usage, &err)) return err;
    return sy_anthropic_fmt_response_slow(body, len, o, out, usage);
}

sy_err_t sy_anthropic_fmt_response_slow(const char *body, size_t len, const sy_fmt_resp_opts_t *o,
                                        sy_buf_t *out, sy_fmt_usage_t *usage)
{
    if (usage) *usage = SY_FMT_USAGE_UNKNOWN;
    json_t *doc = json_loadb(body, len, 0, NULL);
    json_t *content = json_object_get(doc, "content");
    const char *type = json_string_value(json_object_get(doc, "type"));
    if (!json_is_array(content) || (type && strcmp(type, "message"))) {
        json_decref(doc);
        return SY_ERR_UPSTREAM_BROKEN;
    }
    sy_buf_t text, thinking;
    sy_buf_init(&text, (size_t)-1 / 2);
    sy_buf_init(&thinking, (size_t)-1 / 2);
    bool any_text = false;
    json_t *calls = json_array();
    size_t i;
    json_t *b;
    json_array_foreach(content, i, b)
    {
        const char *bt = json_string_value(json_object_get(b, "type"));
        if (!bt) continue;
        if (!strcmp(bt, "text")) {
            json_t *t = json_object_get(b, "text");
            sy_buf_append(&text, json_string_value(t), json_string_length(t));
            any_text = true;
        } else if (!strcmp(bt, "thinking")) {
            json_t *t = json_object_get(b, "thinking");
            sy_buf_append(&thinking, json_string_value(t), json_string_length(t));
        } else if (!strcmp(bt, "tool_use")) {
            const char *name = json_string_value(json_object_get(b, "name"));
            json_t *input = json_object_get(b, "input");
            char *args = input ? json_dumps(input, JSON_FLAGS | JSON_ENCODE_ANY) : NULL;
            if (!args) args = sy_xstrdup("{}");
            if (is_format_tool(name)) {
                sy_buf_append_c(&text, args);
                any_text = true;
            } else {
                const char *id = json_string_value(json_object_get(b, "id"));
                json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id ? id : "",
                                                       "type", "function", "function", "name",
                                                       name ? name : "", "arguments", args));
            }
            free(args);
        }
    }

    bool has_calls = json_array_size(calls) > 0;
    json_t *msg = json_pack("{s:s}", "role", "assistant");
    if (any_text || !has_calls)
        json_object_set_new(msg, "content", json_stringn(text.base ? text.base : "", text.len));
    else
        json_object_set_new(msg, "content", json_null());
    if (thinking.len)
        json_object_set_new(msg, "reasoning_content", json_stringn(thinking.base, thinking.len));
    json_object_set_new(msg, "refusal", json_null());
    if (has_calls) json_object_set(msg, "tool_calls", calls);

    const char *id = json_string_value(json_object_get(doc, "id"));
    const char *model = json_string_value(json_object_get(doc, "model"));
    const char *stop = json_string_value(json_object_get(doc, "stop_reason"));
    json_t *res =
        json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:n,s:s}]}", "id", id ? id : (o->id ? o->id : ""),
                  "object", "chat.completion", "created", (json_int_t)o->created, "model",
                  model ? model : (o->model ? o->model : ""), "choices", "index", 0, "message", msg,
                  "logprobs", "finish_reason", sy_anthropic_finish_reason(stop, has_calls));
    json_t *u = json_object_get(doc, "usage");
    sy_err_t err = SY_OK;
    size_t mark = out->len;
    char *s = json_dumps(res, JSON_FLAGS);
    size_t n = strlen(s);
    if (json_is_object(u)) {
        /* usage is written by hand so that all translators print it the same way */
        raw_usage_t r = {0, 0, 0, 0};
        read_usage(u, &r);
        sy_fmt_usage_t mu = sy_anthropic_map_usage(&r);
        if (usage) *usage = mu;
        err = sy_buf_append(out, s, n - 1);
        if (!err) err = sy_buf_append_c(out, ",\"usage\":");
        if (!err) err = append_usage(out, &mu);
        if (!err) err = sy_buf_append_c(out, "}");
    } else {
        err = sy_buf_append(out, s, n);
    }
    if (err) out->len = mark;
    free(s);
    json_decref(res);
    json_decref(calls);
    sy_buf_dispose(&text);
    sy_buf_dispose(&thinking);
    json_decref(doc);
    return err;
}

/* ---------------------------------------------------------------- stream */

/* block_t and struct sy_anthropic_stream: anthropic_int.h. */

sy_anthropic_stream_t *sy_anthropic_stream_new(const sy_fmt_resp_opts_t *o)
{
    sy_anthropic_stream_t *s = sy_xcalloc(1, sizeof *s);
    s->created = o->created;
    s->include_usage = o->include_usage;
    s->id = sy_xstrdup(o->id ? o->id : "");
    s->model = sy_xstrdup(o->model ? o->model : "");
    s->usage = SY_FMT_USAGE_UNKNOWN;
    return s;
}

void sy_anthropic_stream_free(sy_anthropic_stream_t *s)
{
    if (!s) return;
    free(s->id);
    free(s->model);
    free(s->prefix);
    free(s->head);
    free(s->blocks);
    free(s);
}

bool sy_anthropic_stream_done(const sy_anthropic_stream_t *s)
{
    return s->done;
}

const sy_fmt_usage_t *sy_anthropic_stream_usage(const sy_anthropic_stream_t *s)
{
    return &s->usage;
}

static const char *chunk_prefix(sy_anthropic_stream_t *s)
{
    if (s->prefix) return s->prefix;
    json_t *p = json_pack("{s:s,s:s,s:I,s:s}", "id", s->id, "object", "chat.completion.chunk",
                          "created", (json_int_t)s->created, "model", s->model);
    char *t = json_dumps(p, JSON_FLAGS);
    json_decref(p);
    t[strlen(t) - 1] = ','; /* open the object for more members */
    s->prefix = t;
    return t;
}

/* One chunk frame: delta_json is a complete JSON object; finish may be NULL. */
static sy_err_t chunk(sy_anthropic_stream_t *s, sy_buf_t *out, const char *delta_json,
                      const char *finish)
{
    return sy_buf_printf(out,
                         "data: %s\"choices\":[{\"index\":0,\"delta\":%s,\"logprobs\":null,"
                         "\"finish_reason\":%s%s%s}]%s}\n\n",
                         chunk_prefix(s), delta_json, finish ? "\"" : "", finish ? finish : "null",
                         finish ? "\"" : "", s->include_usage ? ",\"usage\":null" : "");
}

/* A chunk whose delta is {"<key>":<string>}. */
static sy_err_t string_delta(sy_anthropic_stream_t *s, sy_buf_t *out, const char *key, json_t *str)
{
    sy_buf_t d;
    sy_buf_init(&d, (size_t)-1 / 2);
    sy_buf_printf(&d, "{\"%s\":", key);
    sy_json_append_string(&d, json_string_value(str), json_string_length(str));
    sy_buf_append(&d, "}", 2); /* with the NUL */
    sy_err_t err = chunk(s, out, d.base, NULL);
    sy_buf_dispose(&d);
    return err;
}

static sy_err_t start(sy_anthropic_stream_t *s, sy_buf_t *out)
{
    if (s->started) return SY_OK;
    s->started = true;
    return chunk(s, out, "{\"role\":\"assistant\",\"content\":\"\"}", NULL);
}

block_t *sy_anthropic_stream_find_block(sy_anthropic_stream_t *s, int64_t index)
{
    for (size_t i = s->n_blocks; i-- > 0;)
        if (s->blocks[i].index == index) return &s->blocks[i];
    return NULL;
}

static sy_err_t on_message_start(sy_anthropic_stream_t *s, json_t *ev, sy_buf_t *out)
{
    json_t *m = json_object_get(ev, "message");
    if (!json_is_object(m)) return SY_ERR_UPSTREAM_BROKEN;
    const char *id = json_string_value(json_object_get(m, "id"));
    const char *model = json_string_value(json_object_get(m, "model"));
    if (!s->started) {
        if (id) {
            free(s->id);
            s->id = sy_xstrdup(id);
        }
        if (model) {
            free(s->model);
            s->model = sy_xstrdup(model);
        }
        free(s->prefix);
        s->prefix = NULL;
        free(s->head);
        s->head = NULL;
    }
    json_t *u = json_object_get(m, "usage");
    if (json_is_object(u)) {
        read_usage(u, &s->raw);
        s->usage = sy_anthropic_map_usage(&s->raw);
    }
    return start(s, out);
}

static sy_err_t on_block_start(sy_anthropic_stream_t *s, json_t *ev, sy_buf_t *out)
{
    json_t *idx = json_object_get(ev, "index");
    json_t *cb = json_object_get(ev, "content_block");
    if (!json_is_integer(idx) || !json_is_object(cb)) return SY_ERR_UPSTREAM_BROKEN;
    sy_err_t err = start(s, out);
    if (err) return err;
    const char *type = json_string_value(json_object_get(cb, "type"));
    block_t b = {json_integer_value(idx), B_OTHER, -1};
    if (!type) {
        /* unknown: ignored */
    } else if (!strcmp(type, "text")) {
        b.kind = B_TEXT;
    } else if (!strcmp(type, "thinking")) {
        b.kind = B_THINKING;
    } else if (!strcmp(type, "tool_use")) {
        const char *name = json_string_value(json_object_get(cb, "name"));
        const char *id = json_string_value(json_object_get(cb, "id"));
        if (is_format_tool(name)) {
            b.kind = B_FORMAT;
        } else {
            b.kind = B_TOOL;
            b.tool = s->n_tools++;
            json_t *d = json_pack("{s:[{s:i,s:s,s:s,s:{s:s,s:s}}]}", "tool_calls", "index", b.tool,
                                  "id", id ? id : "", "type", "function", "function", "name",
                                  name ? name : "", "arguments", "");
            char *dj = json_dumps(d, JSON_FLAGS);
            err = chunk(s, out, dj, NULL);
            free(dj);
            json_decref(d);
        }
    }
    sy_anthropic_stream_push_block(s, b);
    return err;
}

void sy_anthropic_stream_push_block(sy_anthropic_stream_t *s, block_t b)
{
    if (s->n_blocks == s->cap_blocks) {
        s->cap_blocks = s->cap_blocks ? s->cap_blocks * 2 : 4;
        s->blocks = sy_xrealloc(s->blocks, s->cap_blocks * sizeof *s->blocks);
    }
    s->blocks[s->n_blocks++] = b;
}

static sy_err_t on_block_delta(sy_anthropic_stream_t *s, json_t *ev, sy_buf_t *out)
{
    json_t *idx = json_object_get(ev, "index");
    json_t *d = json_object_get(ev, "delta");
    if (!json_is_integer(idx) || !json_is_object(d)) return SY_ERR_UPSTREAM_BROKEN;
    const char *type = json_string_value(json_object_get(d, "type"));
    block_t *b = sy_anthropic_stream_find_block(s, json_integer_value(idx));
    if (!type || !b) return SY_OK;
    json_t *v;
    if (!strcmp(type, "text_delta") && json_is_string(v = json_object_get(d, "text")))
        return json_string_length(v) ? string_delta(s, out, "content", v) : SY_OK;
    if (!strcmp(type, "thinking_delta") && json_is_string(v = json_object_get(d, "thinking")))
        return json_string_length(v) ? string_delta(s, out, "reasoning_content", v) : SY_OK;
    if (!strcmp(type, "input_json_delta") &&
        json_is_string(v = json_object_get(d, "partial_json"))) {
        if (!json_string_length(v)) return SY_OK;
        if (b->kind == B_FORMAT) return string_delta(s, out, "content", v);
        if (b->kind != B_TOOL) return SY_OK;
        sy_buf_t dj;
        sy_buf_init(&dj, (size_t)-1 / 2);
        sy_buf_printf(&dj, "{\"tool_calls\":[{\"index\":%d,\"function\":{\"arguments\":", b->tool);
        sy_json_append_string(&dj, json_string_value(v), json_string_length(v));
        sy_buf_append(&dj, "}}]}", 5); /* with the NUL */
        sy_err_t err = chunk(s, out, dj.base, NULL);
        sy_buf_dispose(&dj);
        return err;
    }
    return SY_OK; /* signature_delta, citations_delta, anything new */
}

static sy_err_t on_message_delta(sy_anthropic_stream_t *s, json_t *ev, sy_buf_t *out)
{
    json_t *u = json_object_get(ev, "usage");
    if (json_is_object(u)) {
        read_usage(u, &s->raw); /* output_tokens is cumulative; input/cache may be restated */
        s->usage = sy_anthropic_map_usage(&s->raw);
    }
    const char *stop =
        json_string_value(json_object_get(json_object_get(ev, "delta"), "stop_reason"));
    if (!stop || s->finished) return SY_OK;
    sy_err_t err = start(s, out);
    if (err) return err;
    s->finished = true;
    return chunk(s, out, "{}", sy_anthropic_finish_reason(stop, s->n_tools > 0));
}

static sy_err_t on_message_stop(sy_anthropic_stream_t *s, sy_buf_t *out)
{
    sy_err_t err = start(s, out);
    if (!err && !s->finished) {
        s->finished = true;
        err = chunk(s, out, "{}", "stop");
    }
    if (!err && s->include_usage) {
        sy_fmt_usage_t u = s->usage;
        if (u.prompt_tokens < 0) u = sy_anthropic_map_usage(&s->raw);
        err = sy_buf_printf(out, "data: %s\"choices\":[],\"usage\":", chunk_prefix(s));
        if (!err) err = append_usage(out, &u);
        if (!err) err = sy_buf_append_c(out, "}\n\n");
    }
    if (!err) err = sy_buf_append_c(out, "data: [DONE]\n\n");
    if (!err) s->done = true;
    return err;
}

static sy_err_t on_error(sy_anthropic_stream_t *s, json_t *ev, sy_buf_t *out)
{
    s->done = true;
    sy_err_t err = sy_buf_append_c(out, "data: ");
    if (!err && !append_anthropic_error(out, json_object_get(ev, "error"), 0))
        err = append_error(out, "upstream stream error", "server_error", NULL);
    if (!err) err = sy_buf_append_c(out, "\n\n");
    return err ? err : SY_ERR_UPSTREAM_STATUS;
}

sy_err_t sy_anthropic_stream_event(sy_anthropic_stream_t *s, sy_str_t type, sy_str_t data,
                                   sy_buf_t *out)
{
    if (s->done) return SY_OK;
    sy_err_t err;
    if (sy_anthropic_fast_event(s, type, data, out, &err)) return err;
    return sy_anthropic_stream_event_slow(s, type, data, out);
}

sy_err_t sy_anthropic_stream_event_slow(sy_anthropic_stream_t *s, sy_str_t type, sy_str_t data,
                                        sy_buf_t *out)
{
    if (s->done) return SY_OK;
    if (sy_str_eq_c(type, "ping")) return SY_OK;
    static const char *const known[] = {"message_start",
                                        "content_block_start",
                                        "content_block_delta",
                                        "content_block_stop",
                                        "message_delta",
                                        "message_stop",
                                        "error",
                                        "message"};
    size_t k;
    for (k = 0; k < sizeof known / sizeof known[0]; k++)
        if (sy_str_eq_c(type, known[k])) break;
    if (k == sizeof known / sizeof known[0]) return SY_OK; /* a new event type: ignore */

    json_t *ev = json_loadb(data.ptr, data.len, 0, NULL);
    if (!json_is_object(ev)) {
        json_decref(ev);
        return SY_ERR_UPSTREAM_BROKEN;
    }
    /* Without an `event:` line the SSE type is "message"; the data names the event. */
    const char *t = known[k];
    if (!strcmp(t, "message")) {
        t = json_string_value(json_object_get(ev, "type"));
        if (!t) t = "";
    }
    size_t mark = out->len;
    sy_err_t err = SY_OK;
    if (!strcmp(t, "message_start"))
        err = on_message_start(s, ev, out);
    else if (!strcmp(t, "content_block_start"))
        err = on_block_start(s, ev, out);
    else if (!strcmp(t, "content_block_delta"))
        err = on_block_delta(s, ev, out);
    else if (!strcmp(t, "message_delta"))
        err = on_message_delta(s, ev, out);
    else if (!strcmp(t, "message_stop"))
        err = on_message_stop(s, out);
    else if (!strcmp(t, "error"))
        err = on_error(s, ev, out);
    /* content_block_stop, ping (unnamed) and unknown types produce nothing */
    if (err && err != SY_ERR_UPSTREAM_STATUS) out->len = mark; /* never a partial frame */
    json_decref(ev);
    return err;
}
