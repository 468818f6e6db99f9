/* Anthropic Messages ingress <-> OpenAI chat completions. See api/messages_fmt.h.
 *
 * DESIGN
 *  - Requests are parsed with jansson, validated with Anthropic-style messages ("max_tokens: Field
 *    required", "messages.0.role: Input should be 'user' or 'assistant'") and rebuilt as an
 *    OpenAI chat request. Content that OpenAI chat cannot carry is either dropped and named in
 *    out->warnings (top_k, thinking, unknown top-level fields) or rejected (server tools, URL
 *    documents, blocks in the wrong role) so that nothing is lost silently.
 *  - Output JSON is written by dump() below rather than json_dumps(): jansson prints reals with 17
 *    significant digits (0.7 -> 0.69999999999999996); dump() prints the shortest form that reads
 *    back to the same double.
 *  - Ids: an OpenAI id "chatcmpl-XYZ" becomes "msg_XYZ" (Anthropic ids start with msg_); an id
 *    that already starts with msg_ is kept; with no upstream id, o->id is used the same way.
 *  - Tool call arguments that are not a JSON object (invalid, truncated, empty) become input {}
 *    in a non-streamed reply: Anthropic's input is always an object and a made-up key would be
 *    passed to the client's tool. A stream forwards the argument pieces as they arrive
 *    (input_json_delta), so there the client sees what the upstream sent.
 *  - tool_result blocks become OpenAI "tool" messages placed before the rest of the user message
 *    (OpenAI requires tool messages right after the assistant's tool_calls). Their text blocks
 *    are joined with "\n\n"; images inside a tool_result move to the user message that follows,
 *    since OpenAI tool messages carry text only. is_error has no OpenAI equivalent: the content
 *    is kept as is.
 *  - thinking / redacted_thinking blocks in the history are dropped without a warning: they
 *    cannot be represented and clients send them back routinely. reasoning_content (or
 *    reasoning) from the upstream becomes a thinking block with an empty signature.
 *
 * The stream translator is a small state machine: one content block open at a time (text,
 * thinking or tool_use); a new kind of delta closes the open block and starts the next index.
 * finish_reason closes the open block; message_delta + message_stop wait for [DONE] (OpenAI's
 * usage chunk comes after the finish_reason chunk) or for sy_messages_stream_finish().
 *
 * The public functions first try the fast paths of messages_fastpath.c (plain text requests,
 * replies and chunks, without a JSON tree); the jansson code below (the *_slow functions) runs
 * when they decline and stays the reference: the fast paths must produce its exact bytes. */
#include "api/messages_fmt.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "api/messages_int.h"
#include "core/json.h"

#define REQ_BODY_MAX (256u << 20) /* a translated request is at most a few % over the client's */
#define MAX_TOOL_CALLS 1024       /* parallel tool calls in one streamed reply */
#define ERR_PREFIX_MAX 200        /* bytes of a non-JSON error body quoted to the client */

/* ---- JSON output ---------------------------------------------------------------------------- */

static sy_err_t put_real(sy_buf_t *b, double v)
{
    char tmp[40];
    if (!isfinite(v)) return sy_buf_append_c(b, "null");
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*g", p, v);
        if (strtod(tmp, NULL) == v) break;
    }
    if (!strpbrk(tmp, ".eE")) strcat(tmp, ".0");
    return sy_buf_append_c(b, tmp);
}

static sy_err_t dump(sy_buf_t *b, const json_t *j)
{
    sy_err_t err = SY_OK;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        bool first = true;
        if ((err = sy_buf_append_c(b, "{"))) return err;
        json_object_foreach((json_t *)j, k, v)
        {
            if (!first && (err = sy_buf_append_c(b, ","))) return err;
            first = false;
            if ((err = sy_json_append_string(b, k, strlen(k)))) return err;
            if ((err = sy_buf_append_c(b, ":"))) return err;
            if ((err = dump(b, v))) return err;
        }
        return sy_buf_append_c(b, "}");
    }
    case JSON_ARRAY: {
        if ((err = sy_buf_append_c(b, "["))) return err;
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i && (err = sy_buf_append_c(b, ","))) return err;
            if ((err = dump(b, json_array_get(j, i)))) return err;
        }
        return sy_buf_append_c(b, "]");
    }
    case JSON_STRING:
        return sy_json_append_string(b, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return sy_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
    case JSON_REAL:
        return put_real(b, json_real_value(j));
    case JSON_TRUE:
        return sy_buf_append_c(b, "true");
    case JSON_FALSE:
        return sy_buf_append_c(b, "false");
    case JSON_NULL:
        return sy_buf_append_c(b, "null");
    }
    return SY_ERR_INTERNAL;
}

static sy_err_t put_str(sy_buf_t *b, const char *s)
{
    return sy_json_append_string(b, s, strlen(s));
}

/* "chatcmpl-XYZ" -> "msg_XYZ"; "msg_..." kept; anything else gets the msg_ prefix. */
static void msg_id(const char *src, const char *fallback, char *dst, size_t n)
{
    if (!src || !*src) src = fallback && *fallback ? fallback : "0";
    if (strncmp(src, "msg_", 4) == 0) {
        snprintf(dst, n, "%s", src);
        return;
    }
    if (strncmp(src, "chatcmpl-", 9) == 0 && src[9]) src += 9;
    snprintf(dst, n, "msg_%s", src);
}

/* ---- usage ---------------------------------------------------------------------------------- */

static int64_t int_member(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v)) return json_integer_value(v);
    if (json_is_real(v)) return (int64_t)json_real_value(v);
    return -1;
}

static void read_usage(const json_t *u, sy_fmt_usage_t *out)
{
    *out = SY_FMT_USAGE_UNKNOWN;
    if (!json_is_object(u)) return;
    out->prompt_tokens = int_member(u, "prompt_tokens");
    out->completion_tokens = int_member(u, "completion_tokens");
    json_t *pd = json_object_get(u, "prompt_tokens_details");
    if (json_is_object(pd)) {
        out->cached_tokens = int_member(pd, "cached_tokens");
        out->cache_write_tokens = int_member(pd, "cache_write_tokens");
    }
    json_t *cd = json_object_get(u, "completion_tokens_details");
    if (json_is_object(cd)) out->reasoning_tokens = int_member(cd, "reasoning_tokens");
}

static int64_t nonneg(int64_t v)
{
    return v > 0 ? v : 0;
}

/* Anthropic's input_tokens excludes cache reads and writes; OpenAI's prompt_tokens includes them.
 */
static int64_t anth_input(const sy_fmt_usage_t *u)
{
    return nonneg(nonneg(u->prompt_tokens) - nonneg(u->cached_tokens) -
                  nonneg(u->cache_write_tokens));
}

static sy_err_t put_anth_usage(sy_buf_t *b, const sy_fmt_usage_t *u)
{
    return sy_buf_printf(b,
                         "{\"input_tokens\":%lld,\"cache_creation_input_tokens\":%lld,"
                         "\"cache_read_input_tokens\":%lld,\"output_tokens\":%lld}",
                         (long long)anth_input(u), (long long)nonneg(u->cache_write_tokens),
                         (long long)nonneg(u->cached_tokens),
                         (long long)nonneg(u->completion_tokens));
}

const char *sy_messages_stop_reason(const char *finish, bool saw_tool)
{
    if (finish && strcmp(finish, "length") == 0) return "max_tokens";
    if (finish && strcmp(finish, "content_filter") == 0) return "refusal";
    if (finish && (strcmp(finish, "tool_calls") == 0 || strcmp(finish, "function_call") == 0))
        return "tool_use";
    return saw_tool ? "tool_use" : "end_turn";
}

/* ---- request -------------------------------------------------------------------------------- */

static sy_err_t invalid(sy_fmt_req_t *out, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sy_err_t invalid(sy_fmt_req_t *out, const char *param, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(out->err_param, sizeof out->err_param, "%s", param);
    snprintf(out->err_msg, sizeof out->err_msg, "%s: %s", param, msg);
    return SY_ERR_INVALID_REQUEST;
}

/* Adds a name to out->warnings. Names can be client-chosen keys and the list ends up in an HTTP
 * header, so anything but [A-Za-z0-9_.-] is written as '_' and a name is cut at 40 bytes. */
void sy_messages_warn(sy_fmt_req_t *out, const char *name)
{
    size_t have = strlen(out->warnings), n = strlen(name);
    if (n > 40) n = 40;
    if (have + n + 2 > sizeof out->warnings) return;
    if (have) out->warnings[have++] = ',';
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
        out->warnings[have++] = safe ? c : '_';
    }
    out->warnings[have] = '\0';
}

static json_t *str_concat(const char *a, const char *b, const char *c, const char *d)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + 1;
    char *s = sy_xmalloc(n);
    snprintf(s, n, "%s%s%s%s", a, b, c, d);
    json_t *j = json_string(s);
    free(s);
    return j ? j : json_string("");
}

/* Appends text to a growing "\n\n"-joined string held in *acc (NULL = empty). */
static void join_text(json_t **acc, const char *text)
{
    if (!*acc) {
        *acc = json_string(text);
        return;
    }
    json_t *j = str_concat(json_string_value(*acc), "\n\n", text, "");
    json_decref(*acc);
    *acc = j;
}

/* Gets a required string member; on failure fills out and returns NULL. */
static const char *need_str(const json_t *o, const char *key, const char *path, sy_fmt_req_t *out,
                            sy_err_t *err)
{
    char p[64];
    snprintf(p, sizeof p, "%s.%s", path, key);
    json_t *v = json_object_get(o, key);
    if (!v) {
        *err = invalid(out, p, "Field required");
        return NULL;
    }
    if (!json_is_string(v)) {
        *err = invalid(out, p, "Input should be a valid string");
        return NULL;
    }
    return json_string_value(v);
}

/* image source -> OpenAI image_url part. */
static sy_err_t image_part(const json_t *blk, const char *path, sy_fmt_req_t *out, json_t *parts)
{
    char p[64];
    sy_err_t err = SY_OK;
    json_t *src = json_object_get(blk, "source");
    snprintf(p, sizeof p, "%s.source", path);
    if (!json_is_object(src)) return invalid(out, p, "Field required");
    const char *type = need_str(src, "type", p, out, &err);
    if (!type) return err;
    json_t *url;
    if (strcmp(type, "base64") == 0) {
        const char *mt = need_str(src, "media_type", p, out, &err);
        if (!mt) return err;
        const char *data = need_str(src, "data", p, out, &err);
        if (!data) return err;
        url = str_concat("data:", mt, ";base64,", data);
    } else if (strcmp(type, "url") == 0) {
        const char *u = need_str(src, "url", p, out, &err);
        if (!u) return err;
        url = json_string(u);
    } else {
        return invalid(out, p, "image source type '%s' is not supported for this model", type);
    }
    json_array_append_new(parts,
                          json_pack("{s:s,s:{s:o}}", "type", "image_url", "image_url", "url", url));
    return SY_OK;
}

static sy_err_t blocks_to_parts(const json_t *content, const char *path, sy_fmt_req_t *out,
                                json_t *parts);

/* document -> OpenAI file part (base64) or text parts (text / content sources). */
static sy_err_t document_part(const json_t *blk, const char *path, sy_fmt_req_t *out, json_t *parts)
{
    char p[64];
    sy_err_t err = SY_OK;
    json_t *src = json_object_get(blk, "source");
    snprintf(p, sizeof p, "%s.source", path);
    if (!json_is_object(src)) return invalid(out, p, "Field required");
    const char *type = need_str(src, "type", p, out, &err);
    if (!type) return err;
    if (strcmp(type, "base64") == 0) {
        const char *mt = need_str(src, "media_type", p, out, &err);
        if (!mt) return err;
        const char *data = need_str(src, "data", p, out, &err);
        if (!data) return err;
        json_t *title = json_object_get(blk, "title");
        const char *fname = json_is_string(title) ? json_string_value(title) : "document.pdf";
        json_array_append_new(parts, json_pack("{s:s,s:{s:s,s:o}}", "type", "file", "file",
                                               "filename", fname, "file_data",
                                               str_concat("data:", mt, ";base64,", data)));
        return SY_OK;
    }
    if (strcmp(type, "text") == 0) {
        const char *data = need_str(src, "data", p, out, &err);
        if (!data) return err;
        json_array_append_new(parts, json_pack("{s:s,s:s}", "type", "text", "text", data));
        return SY_OK;
    }
    if (strcmp(type, "content") == 0) {
        snprintf(p, sizeof p, "%s.source.content", path);
        return blocks_to_parts(json_object_get(src, "content"), p, out, parts);
    }
    return invalid(out, p, "document source type '%s' is not supported for this model", type);
}

/* One user-side block (text, image, document) -> OpenAI content part(s). */
static sy_err_t block_to_part(const json_t *blk, const char *type, const char *path,
                              sy_fmt_req_t *out, json_t *parts)
{
    sy_err_t err = SY_OK;
    if (strcmp(type, "text") == 0) {
        const char *text = need_str(blk, "text", path, out, &err);
        if (!text) return err;
        json_array_append_new(parts, json_pack("{s:s,s:s}", "type", "text", "text", text));
        return SY_OK;
    }
    if (strcmp(type, "image") == 0) return image_part(blk, path, out, parts);
    if (strcmp(type, "document") == 0) return document_part(blk, path, out, parts);
    return invalid(out, path, "content block type '%s' is not supported here", type);
}

/* String or array of text/image/document blocks -> parts. */
static sy_err_t blocks_to_parts(const json_t *content, const char *path, sy_fmt_req_t *out,
                                json_t *parts)
{
    sy_err_t err = SY_OK;
    if (!content) return invalid(out, path, "Field required");
    if (json_is_string(content)) {
        json_array_append_new(parts, json_pack("{s:s,s:O}", "type", "text", "text", content));
        return SY_OK;
    }
    if (!json_is_array(content)) return invalid(out, path, "Input should be a valid list");
    for (size_t i = 0; i < json_array_size(content); i++) {
        char p[64];
        json_t *blk = json_array_get(content, i);
        snprintf(p, sizeof p, "%s.%zu", path, i);
        if (!json_is_object(blk)) return invalid(out, p, "Input should be a valid dictionary");
        const char *type = need_str(blk, "type", p, out, &err);
        if (!type) return err;
        if ((err = block_to_part(blk, type, p, out, parts))) return err;
    }
    return SY_OK;
}

/* tool_result -> {"role":"tool"} appended to tools; its images go to user_parts. */
static sy_err_t tool_result(const json_t *blk, const char *path, sy_fmt_req_t *out, json_t *tools,
                            json_t *user_parts)
{
    sy_err_t err = SY_OK;
    const char *id = need_str(blk, "tool_use_id", path, out, &err);
    if (!id) return err;
    json_t *content = json_object_get(blk, "content");
    json_t *text = NULL;
    if (json_is_string(content)) {
        text = json_incref(content);
    } else if (content && !json_is_null(content)) {
        char p[64];
        snprintf(p, sizeof p, "%s.content", path);
        json_t *parts = json_array();
        if ((err = blocks_to_parts(content, p, out, parts))) {
            json_decref(parts);
            return err;
        }
        size_t i;
        json_t *part;
        json_array_foreach(parts, i, part)
        {
            json_t *t = json_object_get(part, "text");
            if (json_is_string(t))
                join_text(&text, json_string_value(t));
            else
                json_array_append(user_parts, part);
        }
        json_decref(parts);
    }
    json_array_append_new(tools, json_pack("{s:s,s:s,s:o}", "role", "tool", "tool_call_id", id,
                                           "content", text ? text : json_string("")));
    return SY_OK;
}

static sy_err_t user_message(const json_t *content, const char *path, sy_fmt_req_t *out,
                             json_t *msgs)
{
    sy_err_t err = SY_OK;
    if (json_is_string(content)) {
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "user", "content", content));
        return SY_OK;
    }
    json_t *tools = json_array(), *parts = json_array();
    for (size_t i = 0; i < json_array_size(content); i++) {
        char p[64];
        json_t *blk = json_array_get(content, i);
        snprintf(p, sizeof p, "%s.%zu", path, i);
        if (!json_is_object(blk)) {
            err = invalid(out, p, "Input should be a valid dictionary");
            goto out;
        }
        const char *type = need_str(blk, "type", p, out, &err);
        if (!type) goto out;
        if (strcmp(type, "tool_result") == 0)
            err = tool_result(blk, p, out, tools, parts);
        else if (strcmp(type, "thinking") == 0 || strcmp(type, "redacted_thinking") == 0)
            continue;
        else if (strcmp(type, "tool_use") == 0)
            err = invalid(out, p, "tool_use blocks are only allowed in assistant messages");
        else
            err = block_to_part(blk, type, p, out, parts);
        if (err) goto out;
    }
    json_array_extend(msgs, tools);
    if (json_array_size(parts) || !json_array_size(tools)) {
        json_t *c;
        json_t *first = json_array_get(parts, 0);
        if (json_array_size(parts) == 1 && json_is_string(json_object_get(first, "text")))
            c = json_incref(json_object_get(first, "text"));
        else if (json_array_size(parts) == 0)
            c = json_string("");
        else
            c = json_incref(parts);
        json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", "user", "content", c));
    }
out:
    json_decref(tools);
    json_decref(parts);
    return err;
}

static sy_err_t assistant_message(const json_t *content, const char *path, sy_fmt_req_t *out,
                                  json_t *msgs)
{
    sy_err_t err = SY_OK;
    if (json_is_string(content)) {
        json_array_append_new(msgs,
                              json_pack("{s:s,s:O}", "role", "assistant", "content", content));
        return SY_OK;
    }
    json_t *text = NULL, *calls = json_array();
    sy_buf_t args;
    sy_buf_init(&args, REQ_BODY_MAX);
    for (size_t i = 0; i < json_array_size(content); i++) {
        char p[64];
        json_t *blk = json_array_get(content, i);
        snprintf(p, sizeof p, "%s.%zu", path, i);
        if (!json_is_object(blk)) {
            err = invalid(out, p, "Input should be a valid dictionary");
            goto out;
        }
        const char *type = need_str(blk, "type", p, out, &err);
        if (!type) goto out;
        if (strcmp(type, "text") == 0) {
            const char *t = need_str(blk, "text", p, out, &err);
            if (!t) goto out;
            join_text(&text, t);
        } else if (strcmp(type, "tool_use") == 0) {
            const char *id = need_str(blk, "id", p, out, &err);
            if (!id) goto out;
            const char *name = need_str(blk, "name", p, out, &err);
            if (!name) goto out;
            json_t *input = json_object_get(blk, "input");
            sy_buf_reset(&args);
            if (!input || json_is_null(input))
                err = sy_buf_append_c(&args, "{}");
            else
                err = dump(&args, input);
            if (err) goto out;
            json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:s%}}", "id", id, "type",
                                                   "function", "function", "name", name,
                                                   "arguments", args.base, args.len));
        } else if (strcmp(type, "thinking") == 0 || strcmp(type, "redacted_thinking") == 0) {
            continue;
        } else {
            err = invalid(out, p, "content block type '%s' is not allowed in assistant messages",
                          type);
            goto out;
        }
    }
    json_t *m = json_pack("{s:s}", "role", "assistant");
    if (text)
        json_object_set(m, "content", text);
    else
        json_object_set_new(m, "content", json_array_size(calls) ? json_null() : json_string(""));
    if (json_array_size(calls)) json_object_set(m, "tool_calls", calls);
    json_array_append_new(msgs, m);
out:
    json_decref(text);
    json_decref(calls);
    sy_buf_dispose(&args);
    return err;
}

static sy_err_t system_message(const json_t *sys, sy_fmt_req_t *out, json_t *msgs)
{
    sy_err_t err = SY_OK;
    if (!sys || json_is_null(sys)) return SY_OK;
    if (json_is_string(sys)) {
        if (json_string_length(sys))
            json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "system", "content", sys));
        return SY_OK;
    }
    if (!json_is_array(sys))
        return invalid(out, "system", "Input should be a valid string or list");
    json_t *text = NULL;
    for (size_t i = 0; i < json_array_size(sys); i++) {
        char p[64];
        json_t *blk = json_array_get(sys, i);
        snprintf(p, sizeof p, "system.%zu", i);
        if (!json_is_object(blk)) {
            err = invalid(out, p, "Input should be a valid dictionary");
            break;
        }
        const char *type = need_str(blk, "type", p, out, &err);
        if (!type) break;
        if (strcmp(type, "text") != 0) {
            err = invalid(out, p, "system blocks must be of type 'text'");
            break;
        }
        const char *t = need_str(blk, "text", p, out, &err);
        if (!t) break;
        join_text(&text, t);
    }
    if (!err && text && json_string_length(text))
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "system", "content", text));
    json_decref(text);
    return err;
}

static sy_err_t convert_tools(const json_t *tools, sy_fmt_req_t *out, json_t *req)
{
    sy_err_t err = SY_OK;
    if (!json_is_array(tools)) return invalid(out, "tools", "Input should be a valid list");
    json_t *arr = json_array();
    for (size_t i = 0; i < json_array_size(tools); i++) {
        char p[64];
        json_t *t = json_array_get(tools, i);
        snprintf(p, sizeof p, "tools.%zu", i);
        if (!json_is_object(t)) {
            err = invalid(out, p, "Input should be a valid dictionary");
            break;
        }
        json_t *type = json_object_get(t, "type");
        if (json_is_string(type) && strcmp(json_string_value(type), "custom") != 0) {
            err = invalid(out, p, "tool type '%s' is not supported for this model",
                          json_string_value(type));
            break;
        }
        const char *name = need_str(t, "name", p, out, &err);
        if (!name) break;
        json_t *schema = json_object_get(t, "input_schema");
        if (!json_is_object(schema)) {
            char sp[64];
            snprintf(sp, sizeof sp, "%s.input_schema", p);
            err =
                invalid(out, sp, schema ? "Input should be a valid dictionary" : "Field required");
            break;
        }
        json_t *fn = json_pack("{s:s}", "name", name);
        json_t *desc = json_object_get(t, "description");
        if (json_is_string(desc)) json_object_set(fn, "description", desc);
        json_object_set(fn, "parameters", schema);
        json_array_append_new(arr, json_pack("{s:s,s:o}", "type", "function", "function", fn));
    }
    if (!err && json_array_size(arr)) json_object_set(req, "tools", arr);
    json_decref(arr);
    return err;
}

static sy_err_t convert_tool_choice(const json_t *tc, sy_fmt_req_t *out, json_t *req)
{
    sy_err_t err = SY_OK;
    if (!json_is_object(tc))
        return invalid(out, "tool_choice", "Input should be a valid dictionary");
    const char *type = need_str(tc, "type", "tool_choice", out, &err);
    if (!type) return err;
    json_t *choice;
    if (strcmp(type, "auto") == 0) {
        choice = json_string("auto");
    } else if (strcmp(type, "any") == 0) {
        choice = json_string("required");
    } else if (strcmp(type, "none") == 0) {
        choice = json_string("none");
    } else if (strcmp(type, "tool") == 0) {
        const char *name = need_str(tc, "name", "tool_choice", out, &err);
        if (!name) return err;
        choice = json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name", name);
    } else {
        return invalid(out, "tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'");
    }
    /* OpenAI rejects tool_choice and parallel_tool_calls without tools. */
    bool have_tools = json_object_get(req, "tools") != NULL;
    if (have_tools) json_object_set(req, "tool_choice", choice);
    json_decref(choice);
    json_t *dp = json_object_get(tc, "disable_parallel_tool_use");
    if (dp && !json_is_boolean(dp) && !json_is_null(dp))
        return invalid(out, "tool_choice.disable_parallel_tool_use",
                       "Input should be a valid boolean");
    if (have_tools && json_is_true(dp))
        json_object_set_new(req, "parallel_tool_calls", json_false());
    return SY_OK;
}

static sy_err_t convert_messages(const json_t *messages, sy_fmt_req_t *out, json_t *msgs)
{
    sy_err_t err = SY_OK;
    if (!messages) return invalid(out, "messages", "Field required");
    if (!json_is_array(messages)) return invalid(out, "messages", "Input should be a valid list");
    if (json_array_size(messages) == 0)
        return invalid(out, "messages", "at least one message is required");
    for (size_t i = 0; i < json_array_size(messages); i++) {
        char p[64], cp[64];
        json_t *m = json_array_get(messages, i);
        snprintf(p, sizeof p, "messages.%zu", i);
        if (!json_is_object(m)) return invalid(out, p, "Input should be a valid dictionary");
        json_t *role = json_object_get(m, "role");
        snprintf(cp, sizeof cp, "%s.role", p);
        if (!role) return invalid(out, cp, "Field required");
        const char *r = json_is_string(role) ? json_string_value(role) : "";
        bool user = strcmp(r, "user") == 0;
        if (!user && strcmp(r, "assistant") != 0)
            return invalid(out, cp, "Input should be 'user' or 'assistant'");
        json_t *content = json_object_get(m, "content");
        snprintf(cp, sizeof cp, "%s.content", p);
        if (!content) return invalid(out, cp, "Field required");
        if (!json_is_string(content) && !json_is_array(content))
            return invalid(out, cp, "Input should be a valid string or list");
        err =
            user ? user_message(content, cp, out, msgs) : assistant_message(content, cp, out, msgs);
        if (err) return err;
    }
    return SY_OK;
}

static bool is_number(const json_t *v)
{
    return json_is_integer(v) || json_is_real(v);
}

/* Top-level fields that are handled; everything else is dropped with a warning. */
static const char *const known_fields[] = {
    "model", "max_tokens", "messages", "system",      "stop_sequences", "temperature", "top_p",
    "top_k", "metadata",   "tools",    "tool_choice", "stream",         "thinking",
};

static sy_err_t translate_request(json_t *doc, sy_fmt_req_t *out, json_t *req)
{
    sy_err_t err;
    json_t *v;

    v = json_object_get(doc, "model");
    if (!v) return invalid(out, "model", "Field required");
    if (!json_is_string(v)) return invalid(out, "model", "Input should be a valid string");
    if (!json_string_length(v))
        return invalid(out, "model", "String should have at least 1 character");
    json_object_set(req, "model", v);

    v = json_object_get(doc, "max_tokens");
    if (!v) return invalid(out, "max_tokens", "Field required");
    if (!json_is_integer(v)) return invalid(out, "max_tokens", "Input should be a valid integer");
    if (json_integer_value(v) < 1)
        return invalid(out, "max_tokens", "Input should be greater than or equal to 1");
    json_t *max_tokens = v;

    json_t *msgs = json_array();
    json_object_set_new(req, "messages", msgs);
    if ((err = system_message(json_object_get(doc, "system"), out, msgs))) return err;
    if ((err = convert_messages(json_object_get(doc, "messages"), out, msgs))) return err;
    json_object_set(req, "max_tokens", max_tokens);

    v = json_object_get(doc, "stop_sequences");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v))
            return invalid(out, "stop_sequences", "Input should be a valid list");
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!json_is_string(json_array_get(v, i))) {
                char p[64];
                snprintf(p, sizeof p, "stop_sequences.%zu", i);
                return invalid(out, p, "Input should be a valid string");
            }
        if (json_array_size(v)) json_object_set(req, "stop", v);
    }

    static const char *const numbers[] = {"temperature", "top_p"};
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++) {
        v = json_object_get(doc, numbers[i]);
        if (!v || json_is_null(v)) continue;
        if (!is_number(v)) return invalid(out, numbers[i], "Input should be a valid number");
        json_object_set(req, numbers[i], v);
    }

    v = json_object_get(doc, "top_k");
    if (v && !json_is_null(v)) sy_messages_warn(out, "top_k");

    v = json_object_get(doc, "metadata");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v))
            return invalid(out, "metadata", "Input should be a valid dictionary");
        json_t *uid = json_object_get(v, "user_id");
        if (uid && !json_is_null(uid) && !json_is_string(uid))
            return invalid(out, "metadata.user_id", "Input should be a valid string");
        if (json_is_string(uid)) json_object_set(req, "user", uid);
    }

    v = json_object_get(doc, "tools");
    if (v && !json_is_null(v) && (err = convert_tools(v, out, req))) return err;
    v = json_object_get(doc, "tool_choice");
    if (v && !json_is_null(v) && (err = convert_tool_choice(v, out, req))) return err;

    v = json_object_get(doc, "stream");
    if (v && !json_is_null(v) && !json_is_boolean(v))
        return invalid(out, "stream", "Input should be a valid boolean");
    if (json_is_true(v)) {
        out->stream = out->include_usage = true;
        json_object_set_new(req, "stream", json_true());
        json_object_set_new(req, "stream_options", json_pack("{s:b}", "include_usage", 1));
    }

    v = json_object_get(doc, "thinking");
    if (v && !json_is_null(v)) {
        json_t *t = json_object_get(v, "type");
        if (!(json_is_string(t) && strcmp(json_string_value(t), "disabled") == 0))
            sy_messages_warn(out, "thinking");
    }

    const char *key;
    json_object_foreach(doc, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof known_fields / sizeof *known_fields && !known; i++)
            known = strcmp(key, known_fields[i]) == 0;
        if (!known) sy_messages_warn(out, key);
    }
    return SY_OK;
}

sy_err_t sy_messages_fmt_request(const char *body, size_t len, sy_fmt_req_t *out)
{
    if (sy_messages_fast_request(body, len, out)) return SY_OK; /* messages_fastpath.c */
    return sy_messages_fmt_request_slow(body, len, out);
}

sy_err_t sy_messages_fmt_request_slow(const char *body, size_t len, sy_fmt_req_t *out)
{
    out->body = NULL;
    out->len = 0;
    out->stream = out->include_usage = false;
    out->warnings[0] = out->err_param[0] = out->err_msg[0] = '\0';

    json_error_t je;
    json_t *doc = json_loadb(body, len, 0, &je);
    if (!doc) {
        snprintf(out->err_msg, sizeof out->err_msg,
                 "The request body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
                 je.column);
        return SY_ERR_INVALID_JSON;
    }
    sy_err_t err;
    json_t *req = json_object();
    if (!json_is_object(doc)) {
        snprintf(out->err_msg, sizeof out->err_msg, "The request body must be a JSON object");
        err = SY_ERR_INVALID_REQUEST;
        goto out;
    }
    if ((err = translate_request(doc, out, req))) goto out;
    sy_buf_t b;
    sy_buf_init(&b, REQ_BODY_MAX);
    if ((err = dump(&b, req))) {
        sy_buf_dispose(&b);
        snprintf(out->err_msg, sizeof out->err_msg, "The request is too large");
        goto out;
    }
    out->body = b.base; /* malloc'd by sy_buf; ownership moves to the caller */
    out->len = b.len;
out:
    if (err) out->warnings[0] = '\0';
    json_decref(req);
    json_decref(doc);
    return err;
}

/* ---- response ------------------------------------------------------------------------------- */

/* message.content as a string: a string, or the text parts of an array joined. */
static json_t *content_text(const json_t *c)
{
    if (json_is_string(c)) return json_incref((json_t *)c);
    if (!json_is_array(c)) return NULL;
    json_t *acc = json_string("");
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part)
    {
        json_t *t = json_object_get(part, "text");
        if (!json_is_string(t)) continue;
        json_t *n = str_concat(json_string_value(acc), json_string_value(t), "", "");
        json_decref(acc);
        acc = n;
    }
    return acc;
}

static json_t *reasoning_of(const json_t *m)
{
    json_t *r = json_object_get(m, "reasoning_content");
    if (!json_is_string(r)) r = json_object_get(m, "reasoning");
    return json_is_string(r) && json_string_length(r) ? r : NULL;
}

/* Tool call arguments -> input object; anything but a JSON object becomes {} (see DESIGN). */
static json_t *parse_arguments(const json_t *args)
{
    json_t *in = NULL;
    if (json_is_string(args))
        in = json_loadb(json_string_value(args), json_string_length(args), 0, NULL);
    else if (json_is_object(args))
        in = json_incref((json_t *)args);
    if (!json_is_object(in)) {
        json_decref(in);
        in = json_object();
    }
    return in;
}

static json_t *tool_use_block(const json_t *id, const json_t *fn, size_t i)
{
    char fallback[32];
    snprintf(fallback, sizeof fallback, "call_%zu", i);
    json_t *name = json_object_get(fn, "name");
    return json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id",
                     json_is_string(id) ? json_string_value(id) : fallback, "name",
                     json_is_string(name) ? json_string_value(name) : "", "input",
                     parse_arguments(json_object_get(fn, "arguments")));
}

sy_err_t sy_messages_fmt_response(const char *body, size_t len, const sy_fmt_resp_opts_t *o,
                                  sy_buf_t *out, sy_fmt_usage_t *usage)
{
    sy_err_t err;
    if (sy_messages_fast_response(body, len, o, out, usage, &err)) return err;
    return sy_messages_fmt_response_slow(body, len, o, out, usage);
}

sy_err_t sy_messages_fmt_response_slow(const char *body, size_t len, const sy_fmt_resp_opts_t *o,
                                       sy_buf_t *out, sy_fmt_usage_t *usage)
{
    sy_err_t err = SY_ERR_UPSTREAM_BROKEN;
    json_t *doc = json_loadb(body, len, 0, NULL), *msg = NULL;
    json_t *choices = json_object_get(doc, "choices");
    json_t *choice = json_array_get(choices, 0);
    json_t *m = json_object_get(choice, "message");
    if (!json_is_object(doc) || !json_is_object(m)) goto out;

    char id[256];
    json_t *jid = json_object_get(doc, "id"), *model = json_object_get(doc, "model");
    msg_id(json_is_string(jid) ? json_string_value(jid) : NULL, o ? o->id : NULL, id, sizeof id);
    const char *model_s = json_is_string(model) ? json_string_value(model)
                          : o && o->model       ? o->model
                                                : "";

    json_t *content = json_array();
    json_t *r = reasoning_of(m);
    if (r)
        json_array_append_new(content, json_pack("{s:s,s:O,s:s}", "type", "thinking", "thinking", r,
                                                 "signature", ""));
    json_t *text = content_text(json_object_get(m, "content"));
    json_t *refusal = json_object_get(m, "refusal");
    bool refused = false;
    if ((!text || !json_string_length(text)) && json_is_string(refusal) &&
        json_string_length(refusal)) {
        json_decref(text);
        text = json_incref(refusal);
        refused = true;
    }
    if (text && json_string_length(text))
        json_array_append_new(content, json_pack("{s:s,s:O}", "type", "text", "text", text));
    json_decref(text);

    bool saw_tool = false;
    json_t *calls = json_object_get(m, "tool_calls");
    size_t i;
    json_t *call;
    json_array_foreach(calls, i, call)
    {
        json_t *fn = json_object_get(call, "function");
        if (!json_is_object(fn)) continue;
        json_array_append_new(content, tool_use_block(json_object_get(call, "id"), fn, i));
        saw_tool = true;
    }
    json_t *fc = json_object_get(m, "function_call"); /* legacy functions API */
    if (json_is_object(fc)) {
        json_array_append_new(content, tool_use_block(NULL, fc, 0));
        saw_tool = true;
    }

    json_t *fr = json_object_get(choice, "finish_reason");
    const char *reason =
        refused
            ? "refusal"
            : sy_messages_stop_reason(json_is_string(fr) ? json_string_value(fr) : NULL, saw_tool);

    sy_fmt_usage_t u;
    read_usage(json_object_get(doc, "usage"), &u);
    if (usage) *usage = u;

    msg =
        json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:n}", "id", id, "type", "message", "role", "assistant",
                  "model", model_s, "content", content, "stop_reason", reason, "stop_sequence");
    json_object_set_new(msg, "usage",
                        json_pack("{s:I,s:I,s:I,s:I}", "input_tokens", (json_int_t)anth_input(&u),
                                  "cache_creation_input_tokens",
                                  (json_int_t)nonneg(u.cache_write_tokens),
                                  "cache_read_input_tokens", (json_int_t)nonneg(u.cached_tokens),
                                  "output_tokens", (json_int_t)nonneg(u.completion_tokens)));
    size_t mark = out->len;
    if ((err = dump(out, msg))) out->len = mark;
out:
    json_decref(msg);
    json_decref(doc);
    return err;
}

/* ---- errors --------------------------------------------------------------------------------- */

const char *sy_messages_fmt_error_type(int status)
{
    switch (status) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503: /* ours: every deployment cooling down */
    case 529:
        return "overloaded_error";
    default:
        return "api_error";
    }
}

void sy_messages_fmt_error_make(const char *type, const char *message, sy_buf_t *out)
{
    size_t mark = out->len;
    if (sy_buf_append_c(out, "{\"type\":\"error\",\"error\":{\"type\":") || put_str(out, type) ||
        sy_buf_append_c(out, ",\"message\":") || put_str(out, message) ||
        sy_buf_append_c(out, "}}"))
        out->len = mark;
}

/* error.message / error (string) / message of an error body, or NULL. */
static const char *error_message(json_t *doc)
{
    json_t *e = json_object_get(doc, "error");
    json_t *msg = json_is_object(e) ? json_object_get(e, "message") : e;
    if (!json_is_string(msg)) msg = json_object_get(doc, "message");
    if (!json_is_string(msg)) msg = json_object_get(doc, "detail"); /* FastAPI-based servers */
    return json_is_string(msg) && json_string_length(msg) ? json_string_value(msg) : NULL;
}

void sy_messages_fmt_error(int status, const char *body, size_t len, sy_buf_t *out)
{
    json_t *doc = len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *msg = error_message(doc);
    char tmp[ERR_PREFIX_MAX + 64];
    if (!msg) {
        /* Quote a printable ASCII prefix of whatever came back. */
        int n = snprintf(tmp, sizeof tmp, "upstream returned HTTP %d", status);
        size_t k = 0;
        while (k < len && (body[k] == ' ' || body[k] == '\n' || body[k] == '\r' || body[k] == '\t'))
            k++;
        if (k < len) {
            tmp[n++] = ':';
            tmp[n++] = ' ';
            for (size_t c = 0; k < len && c < ERR_PREFIX_MAX; k++, c++) {
                unsigned char ch = (unsigned char)body[k];
                tmp[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
            }
            while (tmp[n - 1] == ' ')
                n--;
            tmp[n] = '\0';
        }
        msg = tmp;
    }
    sy_messages_fmt_error_make(sy_messages_fmt_error_type(status), msg, out);
    json_decref(doc);
}

/* ---- stream --------------------------------------------------------------------------------- */

sy_messages_stream_t *sy_messages_stream_new(const sy_fmt_resp_opts_t *o)
{
    sy_messages_stream_t *s = sy_xcalloc(1, sizeof *s);
    s->id = sy_xstrdup(o && o->id ? o->id : "");
    s->model = sy_xstrdup(o && o->model ? o->model : "");
    s->open = BLK_NONE;
    s->usage = SY_FMT_USAGE_UNKNOWN;
    sy_buf_init(&s->frames, SIZE_MAX);
    return s;
}

void sy_messages_stream_free(sy_messages_stream_t *s)
{
    if (!s) return;
    free(s->id);
    free(s->model);
    free(s->tool_block);
    free(s->tpl);
    sy_buf_dispose(&s->frames);
    free(s);
}

const sy_fmt_usage_t *sy_messages_stream_usage(const sy_messages_stream_t *s)
{
    return &s->usage;
}

static void frame_begin(sy_messages_stream_t *s, const char *event)
{
    sy_buf_printf(&s->frames, "event: %s\ndata: ", event);
}

static void frame_end(sy_messages_stream_t *s)
{
    sy_buf_append_c(&s->frames, "\n\n");
}

static void message_start(sy_messages_stream_t *s, const json_t *chunk)
{
    if (s->started) return;
    s->started = true;
    char id[256];
    json_t *jid = json_object_get(chunk, "id"), *model = json_object_get(chunk, "model");
    msg_id(json_is_string(jid) ? json_string_value(jid) : NULL, s->id, id, sizeof id);
    frame_begin(s, "message_start");
    sy_buf_append_c(&s->frames, "{\"type\":\"message_start\",\"message\":{\"id\":");
    put_str(&s->frames, id);
    sy_buf_append_c(&s->frames, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    put_str(&s->frames, json_is_string(model) ? json_string_value(model) : s->model);
    sy_buf_append_c(&s->frames, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                                "\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}}");
    frame_end(s);
}

static void close_block(sy_messages_stream_t *s)
{
    if (s->open == BLK_NONE) return;
    frame_begin(s, "content_block_stop");
    sy_buf_printf(&s->frames, "{\"type\":\"content_block_stop\",\"index\":%d}", s->open_index);
    frame_end(s);
    s->open = BLK_NONE;
}

static void open_block(sy_messages_stream_t *s, enum block_kind kind, const char *id,
                       const char *name)
{
    close_block(s);
    s->open = kind;
    s->open_index = s->next_index++;
    frame_begin(s, "content_block_start");
    sy_buf_printf(&s->frames, "{\"type\":\"content_block_start\",\"index\":%d,\"content_block\":",
                  s->open_index);
    if (kind == BLK_TEXT) {
        sy_buf_append_c(&s->frames, "{\"type\":\"text\",\"text\":\"\"}}");
    } else if (kind == BLK_THINKING) {
        sy_buf_append_c(&s->frames,
                        "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}");
    } else {
        sy_buf_append_c(&s->frames, "{\"type\":\"tool_use\",\"id\":");
        put_str(&s->frames, id);
        sy_buf_append_c(&s->frames, ",\"name\":");
        put_str(&s->frames, name);
        sy_buf_append_c(&s->frames, ",\"input\":{}}}");
    }
    frame_end(s);
}

static void block_delta(sy_messages_stream_t *s, int index, const char *dtype, const char *field,
                        const json_t *str)
{
    frame_begin(s, "content_block_delta");
    sy_buf_printf(&s->frames,
                  "{\"type\":\"content_block_delta\",\"index\":%d,\"delta\":{\"type\":\"%s\","
                  "\"%s\":",
                  index, dtype, field);
    sy_json_append_string(&s->frames, json_string_value(str), json_string_length(str));
    sy_buf_append_c(&s->frames, "}}");
    frame_end(s);
}

static void text_delta(sy_messages_stream_t *s, enum block_kind kind, const json_t *str)
{
    if (!json_is_string(str) || !json_string_length(str)) return;
    if (s->open != kind) open_block(s, kind, NULL, NULL);
    if (kind == BLK_TEXT)
        block_delta(s, s->open_index, "text_delta", "text", str);
    else
        block_delta(s, s->open_index, "thinking_delta", "thinking", str);
}

static sy_err_t tool_deltas(sy_messages_stream_t *s, const json_t *calls)
{
    size_t i;
    json_t *tc;
    json_array_foreach(calls, i, tc)
    {
        json_t *ji = json_object_get(tc, "index");
        json_t *id = json_object_get(tc, "id");
        json_int_t idx = json_is_integer(ji) ? json_integer_value(ji) : (json_int_t)i;
        /* Without an index (some OpenAI-compatible servers), a new id is a new call. */
        if (!ji && json_is_string(id) && idx < s->n_tools && s->tool_block[idx] >= 0)
            idx = s->n_tools;
        if (idx < 0 || idx >= MAX_TOOL_CALLS) return SY_ERR_UPSTREAM_BROKEN;
        if (idx >= s->n_tools) {
            int n = (int)idx + 1;
            s->tool_block = sy_xrealloc(s->tool_block, (size_t)n * sizeof *s->tool_block);
            for (int k = s->n_tools; k < n; k++)
                s->tool_block[k] = -1;
            s->n_tools = n;
        }
        json_t *fn = json_object_get(tc, "function");
        if (s->tool_block[idx] < 0) {
            char fallback[32];
            snprintf(fallback, sizeof fallback, "call_%d", (int)idx);
            json_t *name = json_object_get(fn, "name");
            open_block(s, BLK_TOOL, json_is_string(id) ? json_string_value(id) : fallback,
                       json_is_string(name) ? json_string_value(name) : "");
            s->open_tool = (int)idx;
            s->tool_block[idx] = s->open_index;
            s->saw_tool = true;
        }
        json_t *args = json_object_get(fn, "arguments");
        if (json_is_string(args) && json_string_length(args))
            /* A piece for a tool call whose block was already closed keeps its own index: SDKs
             * accumulate by index, so the arguments still land in the right block. */
            block_delta(s, s->tool_block[idx], "input_json_delta", "partial_json", args);
    }
    return SY_OK;
}

static void message_end(sy_messages_stream_t *s)
{
    close_block(s);
    frame_begin(s, "message_delta");
    sy_buf_append_c(&s->frames, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":");
    put_str(&s->frames, sy_messages_stop_reason(s->finished ? s->finish : NULL, s->saw_tool));
    sy_buf_append_c(&s->frames, ",\"stop_sequence\":null},\"usage\":");
    if (s->usage.prompt_tokens >= 0 || s->usage.completion_tokens >= 0)
        put_anth_usage(&s->frames, &s->usage);
    else
        sy_buf_append_c(&s->frames, "{\"output_tokens\":0}");
    sy_buf_append_c(&s->frames, "}");
    frame_end(s);
    frame_begin(s, "message_stop");
    sy_buf_append_c(&s->frames, "{\"type\":\"message_stop\"}");
    frame_end(s);
    s->over = true;
}

static sy_err_t flush(sy_messages_stream_t *s, sy_buf_t *out, sy_err_t err)
{
    sy_err_t e = sy_buf_append(out, s->frames.base, s->frames.len);
    sy_buf_reset(&s->frames);
    return e ? e : err;
}

static sy_err_t stream_chunk(sy_messages_stream_t *s, json_t *doc)
{
    json_t *e = json_object_get(doc, "error");
    if (e && !json_is_null(e)) {
        const char *msg = error_message(doc);
        sy_buf_t b;
        sy_buf_init(&b, SIZE_MAX);
        sy_messages_fmt_error_make("api_error", msg ? msg : "upstream error", &b);
        frame_begin(s, "error");
        sy_buf_append(&s->frames, b.base, b.len);
        frame_end(s);
        sy_buf_dispose(&b);
        s->over = true;
        return SY_ERR_UPSTREAM_STATUS;
    }
    json_t *choices = json_object_get(doc, "choices");
    if (choices && !json_is_null(choices) && !json_is_array(choices)) return SY_ERR_UPSTREAM_BROKEN;
    message_start(s, doc);

    json_t *u = json_object_get(doc, "usage");
    if (json_is_object(u)) read_usage(u, &s->usage);

    size_t i;
    json_t *ch;
    json_array_foreach(choices, i, ch)
    {
        json_t *ci = json_object_get(ch, "index");
        if (json_is_integer(ci) && json_integer_value(ci) != 0) continue; /* n > 1: first only */
        json_t *d = json_object_get(ch, "delta");
        if (json_is_object(d)) {
            json_t *r = json_object_get(d, "reasoning_content");
            if (!json_is_string(r)) r = json_object_get(d, "reasoning");
            text_delta(s, BLK_THINKING, r);
            text_delta(s, BLK_TEXT, json_object_get(d, "content"));
            json_t *calls = json_object_get(d, "tool_calls");
            if (json_is_array(calls)) {
                sy_err_t err = tool_deltas(s, calls);
                if (err) return err;
            }
        }
        json_t *fr = json_object_get(ch, "finish_reason");
        if (json_is_string(fr)) {
            snprintf(s->finish, sizeof s->finish, "%s", json_string_value(fr));
            s->finished = true;
            close_block(s);
        }
    }
    return SY_OK;
}

sy_err_t sy_messages_stream_event(sy_messages_stream_t *s, sy_str_t data, sy_buf_t *out)
{
    sy_err_t err;
    if (sy_messages_fast_event(s, data, out, &err)) return err; /* messages_fastpath.c */
    return sy_messages_stream_event_slow(s, data, out);
}

sy_err_t sy_messages_stream_event_slow(sy_messages_stream_t *s, sy_str_t data, sy_buf_t *out)
{
    if (s->over) return SY_OK;
    if (sy_str_eq_c(data, "[DONE]")) {
        if (!s->started) message_start(s, NULL);
        message_end(s);
        return flush(s, out, SY_OK);
    }
    json_t *doc = json_loadb(data.ptr, data.len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return SY_ERR_UPSTREAM_BROKEN;
    }
    sy_err_t err = stream_chunk(s, doc);
    json_decref(doc);
    return flush(s, out, err); /* frames are whole even when a later part was broken */
}

sy_err_t sy_messages_stream_finish(sy_messages_stream_t *s, sy_buf_t *out)
{
    if (s->over) return SY_OK;
    if (!s->finished) return SY_ERR_UPSTREAM_BROKEN;
    message_end(s);
    return flush(s, out, SY_OK);
}
