/* OpenAI chat completions <-> Gemini generateContent (v1beta). Pure functions over jansson trees.
 *
 * DESIGN
 * Request: the OpenAI body is parsed once, the model's defaults are filled in, and a new
 * GenerateContentRequest tree is built from it (nothing is forwarded verbatim: the two formats
 * share no field names). Decisions that are not forced by the formats:
 *  - JSON schemas (tool parameters, response_format json_schema) go to Gemini's JSON-Schema
 *    fields `parametersJsonSchema` / `responseJsonSchema`, as given. The older `parameters` /
 *    `responseSchema` take an OpenAPI subset and reject common JSON Schema keys
 *    ("additionalProperties", "$schema", "$ref"), so rewriting schemas into them would be lossy.
 *  - Gemini requires user/model alternation: consecutive contents with the same role are merged
 *    (tool results are "user" contents, so they merge with each other and with a following user
 *    message).
 *  - A parameter Gemini has no equivalent for is dropped (named in warnings) or rejected; a null
 *    value, logprobs:false and parallel_tool_calls:true ask for nothing and are ignored silently.
 * Response: tool call ids are Gemini's functionCall.id when it sends one, else "call_<k>" with k
 * the call's position in the choice (stream: in the stream). Parts marked "thought" become
 * reasoning_content. A prompt blocked before generation (promptFeedback.blockReason, no
 * candidates) becomes one choice with content "" and finish_reason "content_filter".
 * Stream: Gemini sends whole GenerateContentResponse objects per event; each is parsed and turned
 * into OpenAI chunks; function calls arrive whole, so each becomes a single tool_calls delta.
 * Thought signatures: thinking models put an opaque `thoughtSignature` on response parts, and
 * Gemini 3 rejects (400) a request whose history lacks the signature of a functionCall of the
 * current turn (https://ai.google.dev/gemini-api/docs/thought-signatures: with parallel calls
 * only the first functionCall part carries one; Gemini 2.5 accepts its absence). OpenAI has no
 * field for it, but every client echoes the tool call id unchanged, so the signature rides
 * there: a functionCall part with a signature gets the id "<id>__thought__<sig>" (id as above,
 * sig re-encoded as unpadded base64url so the id stays within [A-Za-z0-9_-]), streamed or
 * not. In a request, an assistant tool call id holding "__thought__" followed by base64 puts
 * the signature (standard padded base64 again, the same bytes) on that functionCall part;
 * anything else after the separator is not a signature and the id is used as it is. Ids are
 * not sent to Gemini either way; tool messages are matched to calls by the full id string.
 * A signature on a text part (Gemini puts one on the last part of a turn without function
 * calls) is dropped: the same page says returning those is recommended but not validated,
 * and an OpenAI message has no place for it. */
#include "providers/gemini_fmt.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* ---------- thought signatures carried in tool call ids ---------- */

/* Gemini's Part.thoughtSignature is a protobuf `bytes` field, so on the wire it is base64
 * (protobuf's JSON mapping writes the standard alphabet with padding and accepts standard or
 * URL-safe, padded or not). It travels to the client inside the tool call id as unpadded
 * base64url, whose alphabet [A-Za-z0-9_-] is what strict id checks allow (Anthropic's tool_use
 * id pattern is ^[a-zA-Z0-9_-]+$, and the /v1/messages ingress hands these ids to Anthropic
 * clients), and comes back as standard padded base64: the same bytes. */
#define SIG_SEP "__thought__"
#define SIG_SEP_LEN (sizeof SIG_SEP - 1)

static bool is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '-' || c == '_';
}

/* Length of s without up to two '=' of padding, or 0 if s is not base64 in either alphabet
 * (empty, a foreign character, or a length no encoding produces). */
static size_t b64_body_len(const char *s, size_t n)
{
    for (int pad = 0; pad < 2 && n > 0 && s[n - 1] == '='; pad++)
        n--;
    if (n == 0 || n % 4 == 1) return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_b64_char(s[i])) return 0;
    return n;
}

/* id + SIG_SEP + base64url(sig) appended to out. false (out untouched) when sig is not base64,
 * or when id itself would make the split ambiguous (the first SIG_SEP in the result must be
 * the one added here; ids Gemini and we generate never contain it). */
static bool append_signed_id(sy_buf_t *out, const char *id, size_t id_len, const char *sig,
                             size_t sig_len)
{
    size_t n = b64_body_len(sig, sig_len);
    if (n == 0) return false;
    sy_buf_append(out, id, id_len);
    sy_buf_append(out, SIG_SEP, SIG_SEP_LEN);
    const char *first = memmem(out->base, out->len, SIG_SEP, SIG_SEP_LEN);
    if ((size_t)(first - out->base) != id_len) {
        sy_buf_reset(out);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = sig[i] == '+' ? '-' : sig[i] == '/' ? '_' : sig[i];
        sy_buf_append(out, &c, 1);
    }
    return true;
}

/* The thought signature carried by a client's tool call id ("<id>__thought__<base64url>"), as
 * the standard padded base64 Gemini sent, or NULL when the id has no SIG_SEP or what follows
 * it is not base64 (such an id is used as it is and no signature is sent: an id from another
 * provider may contain the separator by chance, and Gemini 2.5 needs no signature). */
static json_t *id_signature(const char *id, size_t id_len)
{
    const char *sep = memmem(id, id_len, SIG_SEP, SIG_SEP_LEN);
    if (!sep) return NULL;
    const char *sig = sep + SIG_SEP_LEN;
    size_t n = b64_body_len(sig, id_len - (size_t)(sig - id));
    if (n == 0) return NULL;
    char *std = sy_xmalloc(n + 3);
    for (size_t i = 0; i < n; i++)
        std[i] = sig[i] == '-' ? '+' : sig[i] == '_' ? '/' : sig[i];
    size_t len = n;
    while (len % 4)
        std[len++] = '=';
    json_t *j = json_stringn(std, len);
    free(std);
    return j;
}

/* ---------- request ---------- */

/* Length of the longest prefix of s with at most max bytes that does not split a UTF-8 sequence,
 * so client-supplied text quoted in a message stays valid UTF-8. */
static int utf8_prefix(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) return (int)n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return (int)max;
}

static sy_err_t bad(sy_fmt_req_t *out, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sy_err_t bad(sy_fmt_req_t *out, const char *param, const char *fmt, ...)
{
    snprintf(out->err_param, sizeof out->err_param, "%.*s",
             utf8_prefix(param, sizeof out->err_param - 1), param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->err_msg, sizeof out->err_msg, fmt, ap);
    va_end(ap);
    return SY_ERR_INVALID_REQUEST;
}

static void add_warning(sy_fmt_req_t *out, const char *name)
{
    size_t used = strlen(out->warnings);
    size_t need = strlen(name) + (used ? 1 : 0);
    if (used + need >= sizeof out->warnings) return; /* full: the first ones are named */
    snprintf(out->warnings + used, sizeof out->warnings - used, "%s%s", used ? "," : "", name);
}

/* Keys translated below; anything else is unsupported by this provider. */
static const char *const known_keys[] = {
    "model",
    "messages",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "seed",
    "n",
    "tools",
    "presence_penalty",
    "frequency_penalty",
    "tool_choice",
    "response_format",
};

static bool is_known_key(const char *k)
{
    for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++)
        if (strcmp(k, known_keys[i]) == 0) return true;
    return false;
}

/* Values that ask for what Gemini does anyway. */
static bool is_noop_value(const char *k, json_t *v)
{
    if (json_is_null(v)) return true;
    if (strcmp(k, "logprobs") == 0 && json_is_false(v)) return true;
    if (strcmp(k, "parallel_tool_calls") == 0 && json_is_true(v)) return true;
    return false;
}

static sy_err_t check_unsupported(json_t *req, const sy_fmt_req_opts_t *o, sy_fmt_req_t *out)
{
    const char *k;
    json_t *v;
    json_object_foreach(req, k, v)
    {
        if (is_known_key(k) || is_noop_value(k, v)) continue;
        if (o->reject_unsupported)
            return bad(out, k, "parameter '%.*s' is not supported by the gemini provider",
                       utf8_prefix(k, 60), k);
        add_warning(out, k);
    }
    return SY_OK;
}

static void apply_defaults(json_t *req, const sy_fmt_req_opts_t *o)
{
    for (size_t i = 0; i < o->n_defaults; i++) {
        const sy_conf_kv_t *kv = &o->defaults[i];
        if (json_object_get(req, kv->key)) continue;
        json_t *v = json_loads(kv->json, JSON_DECODE_ANY, NULL);
        if (v) json_object_set_new(req, kv->key, v);
    }
}

/* Appends a content {role, parts}, merging into the previous one when it has the same role.
 * Takes ownership of parts; empty parts add nothing. */
static void push_content(json_t *contents, const char *role, json_t *parts)
{
    if (json_array_size(parts) == 0) {
        json_decref(parts);
        return;
    }
    size_t n = json_array_size(contents);
    json_t *last = n ? json_array_get(contents, n - 1) : NULL;
    if (last && strcmp(json_string_value(json_object_get(last, "role")), role) == 0) {
        json_array_extend(json_object_get(last, "parts"), parts);
        json_decref(parts);
        return;
    }
    json_t *c = json_object();
    json_object_set_new(c, "role", json_string(role));
    json_object_set_new(c, "parts", parts);
    json_array_append_new(contents, c);
}

static void push_text(json_t *parts, const char *s, size_t n)
{
    if (n == 0) return; /* Gemini rejects empty text parts */
    json_t *p = json_object();
    json_object_set_new(p, "text", json_stringn(s, n));
    json_array_append_new(parts, p);
}

static void push_inline(json_t *parts, const char *mime, size_t mime_len, const char *data,
                        size_t data_len)
{
    json_t *d = json_object();
    json_object_set_new(d, "mimeType", json_stringn(mime, mime_len));
    json_object_set_new(d, "data", json_stringn(data, data_len));
    json_t *p = json_object();
    json_object_set_new(p, "inlineData", d);
    json_array_append_new(parts, p);
}

/* "data:<mime>;base64,<data>" -> inlineData part. */
static bool push_data_url(json_t *parts, const char *url, size_t len)
{
    if (len < 5 || strncasecmp(url, "data:", 5) != 0) return false;
    const char *comma = memchr(url, ',', len);
    if (!comma) return false;
    const char *meta = url + 5;
    size_t meta_len = (size_t)(comma - meta);
    static const char b64[] = ";base64";
    if (meta_len <= sizeof b64 - 1 ||
        strncasecmp(meta + meta_len - (sizeof b64 - 1), b64, sizeof b64 - 1) != 0)
        return false;
    size_t mime_len = meta_len - (sizeof b64 - 1);
    const char *semi = memchr(meta, ';', mime_len);
    if (semi) mime_len = (size_t)(semi - meta); /* drop parameters such as ;charset= */
    if (mime_len == 0) return false;
    push_inline(parts, meta, mime_len, comma + 1, len - (size_t)(comma + 1 - url));
    return true;
}

/* Gemini needs a MIME type for fileData; guess it from the URL path's extension. */
static const char *guess_mime(const char *url, size_t len)
{
    static const struct {
        const char *ext, *mime;
    } table[] = {
        {".png", "image/png"},   {".jpg", "image/jpeg"},      {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},   {".webp", "image/webp"},     {".heic", "image/heic"},
        {".heif", "image/heif"}, {".pdf", "application/pdf"},
    };
    size_t end = 0;
    while (end < len && url[end] != '?' && url[end] != '#')
        end++;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        size_t el = strlen(table[i].ext);
        if (end > el && strncasecmp(url + end - el, table[i].ext, el) == 0) return table[i].mime;
    }
    return "image/jpeg";
}

static sy_err_t push_image(json_t *parts, json_t *item, const char *param, sy_fmt_req_t *out)
{
    json_t *iu = json_object_get(item, "image_url");
    json_t *u = json_is_object(iu) ? json_object_get(iu, "url") : iu;
    if (!json_is_string(u))
        return bad(out, param, "%s must be a string or an object with a url", param);
    const char *url = json_string_value(u);
    size_t len = json_string_length(u);
    if (len >= 5 && strncasecmp(url, "data:", 5) == 0) {
        if (!push_data_url(parts, url, len))
            return bad(out, param, "%s: data URL must be data:<mime type>;base64,<data>", param);
        return SY_OK;
    }
    if ((len > 7 && strncasecmp(url, "http://", 7) == 0) ||
        (len > 8 && strncasecmp(url, "https://", 8) == 0)) {
        json_t *f = json_object();
        json_object_set_new(f, "mimeType", json_string(guess_mime(url, len)));
        json_object_set_new(f, "fileUri", json_stringn(url, len));
        json_t *p = json_object();
        json_object_set_new(p, "fileData", f);
        json_array_append_new(parts, p);
        return SY_OK;
    }
    return bad(out, param, "%s must be an http(s) URL or a base64 data URL", param);
}

/* Content (string or array of parts) -> Gemini parts. allow_media: user messages may carry
 * images, audio and files; system, assistant and tool messages carry text only. */
static sy_err_t content_parts(json_t *content, json_t *parts, bool allow_media, int msg_i,
                              sy_fmt_req_t *out)
{
    char param[64];
    if (json_is_string(content)) {
        push_text(parts, json_string_value(content), json_string_length(content));
        return SY_OK;
    }
    snprintf(param, sizeof param, "messages[%d].content", msg_i);
    if (!json_is_array(content))
        return bad(out, param, "%s must be a string or an array of content parts", param);
    size_t j;
    json_t *item;
    json_array_foreach(content, j, item)
    {
        snprintf(param, sizeof param, "messages[%d].content[%zu]", msg_i, j);
        const char *type = json_string_value(json_object_get(item, "type"));
        if (!json_is_object(item) || !type)
            return bad(out, param, "%s must be an object with a type", param);
        if (strcmp(type, "text") == 0) {
            json_t *t = json_object_get(item, "text");
            if (!json_is_string(t)) return bad(out, param, "%s.text must be a string", param);
            push_text(parts, json_string_value(t), json_string_length(t));
            continue;
        }
        if (strcmp(type, "refusal") == 0 && !allow_media) continue; /* assistant history */
        if (!allow_media)
            return bad(out, param, "content part type '%.*s' is not allowed in this message",
                       utf8_prefix(type, 40), type);
        if (strcmp(type, "image_url") == 0) {
            snprintf(param, sizeof param, "messages[%d].content[%zu].image_url", msg_i, j);
            sy_err_t err = push_image(parts, item, param, out);
            if (err) return err;
        } else if (strcmp(type, "input_audio") == 0) {
            json_t *a = json_object_get(item, "input_audio");
            const char *data = json_string_value(json_object_get(a, "data"));
            const char *fmt = json_string_value(json_object_get(a, "format"));
            if (!data || !fmt)
                return bad(out, param, "%s.input_audio needs data and format", param);
            char mime[48];
            int ml = snprintf(mime, sizeof mime, "audio/%s", fmt);
            push_inline(parts, mime, (size_t)ml < sizeof mime ? (size_t)ml : sizeof mime - 1, data,
                        strlen(data));
        } else if (strcmp(type, "file") == 0) {
            json_t *fd = json_object_get(json_object_get(item, "file"), "file_data");
            if (!json_is_string(fd) ||
                !push_data_url(parts, json_string_value(fd), json_string_length(fd)))
                return bad(out, param, "%s: only file.file_data (a base64 data URL) is supported",
                           param);
        } else {
            return bad(out, param, "content part type '%.*s' is not supported",
                       utf8_prefix(type, 40), type);
        }
    }
    return SY_OK;
}

/* Joins the text of a tool message's content (string or text parts). */
static sy_err_t tool_text(json_t *content, int msg_i, sy_fmt_req_t *out, sy_buf_t *b)
{
    if (json_is_string(content))
        return sy_buf_append(b, json_string_value(content), json_string_length(content));
    char param[64];
    snprintf(param, sizeof param, "messages[%d].content", msg_i);
    if (!json_is_array(content))
        return bad(out, param, "%s must be a string or an array of text parts", param);
    size_t j;
    json_t *item;
    json_array_foreach(content, j, item)
    {
        json_t *t = json_object_get(item, "text");
        if (!json_is_string(t)) return bad(out, param, "%s may hold text parts only", param);
        sy_buf_append(b, json_string_value(t), json_string_length(t));
    }
    return SY_OK;
}

static sy_err_t assistant_parts(json_t *m, int i, json_t *parts, json_t *call_names,
                                sy_fmt_req_t *out)
{
    char param[96];
    json_t *content = json_object_get(m, "content");
    if (content && !json_is_null(content)) {
        sy_err_t err = content_parts(content, parts, false, i, out);
        if (err) return err;
    }
    json_t *calls = json_object_get(m, "tool_calls");
    if (!calls || json_is_null(calls)) return SY_OK;
    snprintf(param, sizeof param, "messages[%d].tool_calls", i);
    if (!json_is_array(calls)) return bad(out, param, "%s must be an array", param);
    size_t j;
    json_t *tc;
    json_array_foreach(calls, j, tc)
    {
        snprintf(param, sizeof param, "messages[%d].tool_calls[%zu]", i, j);
        json_t *fn = json_object_get(tc, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        json_t *idj = json_object_get(tc, "id");
        const char *id = json_string_value(idj);
        if (!name || !id) return bad(out, param, "%s needs an id and function.name", param);
        json_t *a = json_object_get(fn, "arguments");
        json_t *args;
        if (!a || json_is_null(a) || (json_is_string(a) && json_string_length(a) == 0)) {
            args = json_object();
        } else {
            args = json_is_string(a)
                       ? json_loadb(json_string_value(a), json_string_length(a), 0, NULL)
                       : NULL;
            if (!json_is_object(args)) {
                json_decref(args);
                snprintf(param, sizeof param, "messages[%d].tool_calls[%zu].function.arguments", i,
                         j);
                return bad(out, param, "%s must be a JSON object encoded as a string", param);
            }
        }
        json_t *call = json_object();
        json_object_set_new(call, "name", json_string(name));
        json_object_set_new(call, "args", args);
        json_t *p = json_object();
        json_object_set_new(p, "functionCall", call);
        /* The signature goes back on the part it came on; Gemini 3 rejects a turn whose first
         * functionCall lacks it. The id itself is still not sent (functionCall.id is
         * optional), and call_names is keyed by the full id, suffix included: the client
         * echoes the same string as tool_call_id. */
        json_t *sig = id_signature(id, json_string_length(idj));
        if (sig) json_object_set_new(p, "thoughtSignature", sig);
        json_array_append_new(parts, p);
        json_object_set_new(call_names, id, json_string(name)); /* a reused id: latest wins */
    }
    return SY_OK;
}

static sy_err_t tool_part(json_t *m, int i, json_t *parts, json_t *call_names, sy_fmt_req_t *out)
{
    char param[64];
    snprintf(param, sizeof param, "messages[%d].tool_call_id", i);
    const char *id = json_string_value(json_object_get(m, "tool_call_id"));
    if (!id) return bad(out, param, "%s must be a string", param);
    json_t *name = json_object_get(call_names, id);
    if (!name)
        return bad(out, param, "tool_call_id '%.*s' matches no earlier assistant tool call",
                   utf8_prefix(id, 80), id);
    sy_buf_t text;
    sy_buf_init(&text, SIZE_MAX);
    sy_err_t err = tool_text(json_object_get(m, "content"), i, out, &text);
    if (err) {
        sy_buf_dispose(&text);
        return err;
    }
    json_t *resp = json_loadb(text.base ? text.base : "", text.len, 0, NULL);
    if (!json_is_object(resp)) {
        json_decref(resp);
        resp = json_object();
        json_object_set_new(resp, "content", json_stringn(text.base ? text.base : "", text.len));
    }
    sy_buf_dispose(&text);
    json_t *fr = json_object();
    json_object_set(fr, "name", name);
    json_object_set_new(fr, "response", resp);
    json_t *p = json_object();
    json_object_set_new(p, "functionResponse", fr);
    json_array_append_new(parts, p);
    return SY_OK;
}

static sy_err_t translate_messages(json_t *msgs, json_t *g, sy_fmt_req_t *out)
{
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return bad(out, "messages", "messages must be a non-empty array");
    json_t *contents = json_array();
    json_object_set_new(g, "contents", contents);
    json_t *sys = json_array();
    json_t *call_names = json_object();
    sy_err_t err = SY_OK;
    size_t idx;
    json_t *m;
    json_array_foreach(msgs, idx, m)
    {
        int i = (int)idx;
        char param[64];
        snprintf(param, sizeof param, "messages[%d].role", i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!json_is_object(m) || !role) {
            err = bad(out, param, "messages[%d] must be an object with a role", i);
            goto out;
        }
        json_t *content = json_object_get(m, "content");
        json_t *parts = json_array();
        const char *grole = "user";
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            err = content_parts(content, parts, false, i, out);
            if (!err) {
                /* one systemInstruction part per message */
                sy_buf_t b;
                sy_buf_init(&b, SIZE_MAX);
                size_t k;
                json_t *p;
                json_array_foreach(parts, k, p)
                {
                    json_t *t = json_object_get(p, "text");
                    sy_buf_append(&b, json_string_value(t), json_string_length(t));
                }
                push_text(sys, b.base, b.len);
                sy_buf_dispose(&b);
            }
            json_decref(parts);
            if (err) goto out;
            continue;
        } else if (strcmp(role, "user") == 0) {
            err = content_parts(content, parts, true, i, out);
        } else if (strcmp(role, "assistant") == 0) {
            grole = "model";
            err = assistant_parts(m, i, parts, call_names, out);
        } else if (strcmp(role, "tool") == 0) {
            err = tool_part(m, i, parts, call_names, out);
        } else {
            json_decref(parts);
            err = bad(out, param,
                      "unsupported role '%.*s' (expected system, developer, user, "
                      "assistant or tool)",
                      utf8_prefix(role, 40), role);
            goto out;
        }
        if (err) {
            json_decref(parts);
            goto out;
        }
        push_content(contents, grole, parts);
    }
    if (json_array_size(contents) == 0) {
        err = bad(out, "messages",
                  "messages must include at least one non-empty user or "
                  "assistant message");
        goto out;
    }
    if (json_array_size(sys)) {
        json_t *si = json_object();
        json_object_set(si, "parts", sys);
        json_object_set_new(g, "systemInstruction", si);
    }
out:
    json_decref(sys);
    json_decref(call_names);
    return err;
}

static sy_err_t translate_tools(json_t *req, json_t *g, sy_fmt_req_t *out)
{
    json_t *tools = json_object_get(req, "tools");
    if (tools && !json_is_null(tools)) {
        if (!json_is_array(tools)) return bad(out, "tools", "tools must be an array");
        json_t *decls = json_array();
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t)
        {
            char param[48];
            snprintf(param, sizeof param, "tools[%zu]", i);
            const char *type = json_string_value(json_object_get(t, "type"));
            json_t *fn = json_object_get(t, "function");
            const char *name = json_string_value(json_object_get(fn, "name"));
            if (!type || strcmp(type, "function") != 0 || !name) {
                json_decref(decls);
                return bad(out, param,
                           "%s must be {\"type\":\"function\",\"function\":{\"name\""
                           ",...}}",
                           param);
            }
            json_t *d = json_object();
            json_object_set_new(d, "name", json_string(name));
            json_t *desc = json_object_get(fn, "description");
            if (json_is_string(desc)) json_object_set(d, "description", desc);
            json_t *params = json_object_get(fn, "parameters");
            if (json_is_object(params)) json_object_set(d, "parametersJsonSchema", params);
            json_array_append_new(decls, d);
        }
        if (json_array_size(decls)) {
            json_t *tool = json_object();
            json_object_set_new(tool, "functionDeclarations", decls);
            json_t *arr = json_array();
            json_array_append_new(arr, tool);
            json_object_set_new(g, "tools", arr);
        } else {
            json_decref(decls);
        }
    }

    json_t *tc = json_object_get(req, "tool_choice");
    if (!tc || json_is_null(tc)) return SY_OK;
    json_t *fcc = json_object();
    const char *s = json_string_value(tc);
    const char *fname = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
    if (s && strcmp(s, "auto") == 0) {
        json_object_set_new(fcc, "mode", json_string("AUTO"));
    } else if (s && strcmp(s, "none") == 0) {
        json_object_set_new(fcc, "mode", json_string("NONE"));
    } else if (s && strcmp(s, "required") == 0) {
        json_object_set_new(fcc, "mode", json_string("ANY"));
    } else if (json_is_object(tc) && fname) {
        json_object_set_new(fcc, "mode", json_string("ANY"));
        json_t *names = json_array();
        json_array_append_new(names, json_string(fname));
        json_object_set_new(fcc, "allowedFunctionNames", names);
    } else {
        json_decref(fcc);
        return bad(out, "tool_choice",
                   "tool_choice must be \"auto\", \"none\", \"required\" or "
                   "{\"type\":\"function\",\"function\":{\"name\":...}}");
    }
    json_t *cfg = json_object();
    json_object_set_new(cfg, "functionCallingConfig", fcc);
    json_object_set_new(g, "toolConfig", cfg);
    return SY_OK;
}

/* Copies a number (or integer) parameter into generationConfig. */
static sy_err_t gen_number(json_t *req, const char *key, json_t *gen, const char *gkey,
                           bool integer, sy_fmt_req_t *out)
{
    json_t *v = json_object_get(req, key);
    if (!v || json_is_null(v)) return SY_OK;
    if (integer ? !json_is_integer(v) : !json_is_number(v))
        return bad(out, key, "%s must be %s", key, integer ? "an integer" : "a number");
    json_object_set(gen, gkey, v);
    return SY_OK;
}

static sy_err_t translate_generation(json_t *req, json_t *g, sy_fmt_req_t *out)
{
    json_t *gen = json_object();
    sy_err_t err;
    /* max_completion_tokens supersedes the deprecated max_tokens */
    const char *max_key = json_is_null(json_object_get(req, "max_completion_tokens")) ||
                                  !json_object_get(req, "max_completion_tokens")
                              ? "max_tokens"
                              : "max_completion_tokens";
    if ((err = gen_number(req, "temperature", gen, "temperature", false, out)) ||
        (err = gen_number(req, "top_p", gen, "topP", false, out)) ||
        (err = gen_number(req, max_key, gen, "maxOutputTokens", true, out)) ||
        (err = gen_number(req, "seed", gen, "seed", true, out)) ||
        (err = gen_number(req, "n", gen, "candidateCount", true, out)) ||
        (err = gen_number(req, "presence_penalty", gen, "presencePenalty", false, out)) ||
        (err = gen_number(req, "frequency_penalty", gen, "frequencyPenalty", false, out)))
        goto out;

    json_t *stop = json_object_get(req, "stop");
    if (json_is_string(stop)) {
        if (json_string_length(stop)) {
            json_t *a = json_array();
            json_array_append(a, stop);
            json_object_set_new(gen, "stopSequences", a);
        }
    } else if (json_is_array(stop)) {
        size_t i;
        json_t *s;
        json_array_foreach(stop, i, s)
        {
            if (!json_is_string(s)) {
                err = bad(out, "stop", "stop must be a string or an array of strings");
                goto out;
            }
        }
        if (json_array_size(stop)) json_object_set(gen, "stopSequences", stop);
    } else if (stop && !json_is_null(stop)) {
        err = bad(out, "stop", "stop must be a string or an array of strings");
        goto out;
    }

    json_t *rf = json_object_get(req, "response_format");
    if (rf && !json_is_null(rf)) {
        const char *type = json_string_value(json_object_get(rf, "type"));
        if (!type) {
            err = bad(out, "response_format", "response_format must be an object with a type");
            goto out;
        }
        if (strcmp(type, "json_object") == 0) {
            json_object_set_new(gen, "responseMimeType", json_string("application/json"));
        } else if (strcmp(type, "json_schema") == 0) {
            json_t *js = json_object_get(rf, "json_schema");
            if (!json_is_object(js)) {
                err = bad(out, "response_format.json_schema",
                          "response_format.json_schema must be an object");
                goto out;
            }
            json_object_set_new(gen, "responseMimeType", json_string("application/json"));
            json_t *schema = json_object_get(js, "schema");
            if (json_is_object(schema)) json_object_set(gen, "responseJsonSchema", schema);
        } else if (strcmp(type, "text") != 0) {
            err = bad(out, "response_format.type",
                      "response_format.type must be text, json_object or json_schema");
            goto out;
        }
    }
    if (json_object_size(gen)) json_object_set(g, "generationConfig", gen);
out:
    json_decref(gen);
    return err;
}

sy_err_t sy_gemini_fmt_request(const char *body, size_t len, const sy_fmt_req_opts_t *o,
                               sy_fmt_req_t *out)
{
    out->body = NULL;
    out->len = 0;
    out->stream = false;
    out->include_usage = false;
    out->warnings[0] = out->err_param[0] = out->err_msg[0] = '\0';

    json_error_t je;
    json_t *req = json_loadb(body, len, 0, &je);
    if (!req) {
        snprintf(out->err_msg, sizeof out->err_msg, "invalid JSON at line %d, column %d: %s",
                 je.line, je.column, je.text);
        return SY_ERR_INVALID_JSON;
    }
    json_t *g = json_object();
    sy_err_t err;
    if (!json_is_object(req)) {
        err = bad(out, "", "the request body must be a JSON object");
        goto out;
    }
    apply_defaults(req, o);

    json_t *stream = json_object_get(req, "stream");
    if (stream && !json_is_null(stream) && !json_is_boolean(stream)) {
        err = bad(out, "stream", "stream must be a boolean");
        goto out;
    }
    out->stream = json_is_true(stream);
    json_t *so = json_object_get(req, "stream_options");
    if (so && !json_is_null(so) && !json_is_object(so)) {
        err = bad(out, "stream_options", "stream_options must be an object");
        goto out;
    }
    out->include_usage = out->stream && json_is_true(json_object_get(so, "include_usage"));

    if ((err = check_unsupported(req, o, out)) ||
        (err = translate_messages(json_object_get(req, "messages"), g, out)) ||
        (err = translate_tools(req, g, out)) || (err = translate_generation(req, g, out)))
        goto out;

    out->body = json_dumps(g, JSON_COMPACT);
    out->len = strlen(out->body);
out:
    if (err) out->warnings[0] = '\0';
    json_decref(g);
    json_decref(req);
    return err;
}

/* ---------- response ---------- */

static const char *map_finish(const char *reason, bool tool_calls)
{
    if (!reason || strcmp(reason, "STOP") == 0) return tool_calls ? "tool_calls" : "stop";
    if (strcmp(reason, "MAX_TOKENS") == 0) return "length";
    static const char *const filtered[] = {
        "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"};
    for (size_t i = 0; i < sizeof filtered / sizeof filtered[0]; i++)
        if (strcmp(reason, filtered[i]) == 0) return "content_filter";
    return tool_calls ? "tool_calls" : "stop";
}

static int64_t int_or(json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static void map_usage(json_t *um, sy_fmt_usage_t *u)
{
    int64_t thoughts = int_or(um, "thoughtsTokenCount", 0);
    u->prompt_tokens = int_or(um, "promptTokenCount", 0) + int_or(um, "toolUsePromptTokenCount", 0);
    u->completion_tokens = int_or(um, "candidatesTokenCount", 0) + thoughts;
    u->cached_tokens = int_or(um, "cachedContentTokenCount", 0);
    u->cache_write_tokens = -1;
    u->reasoning_tokens = thoughts;
}

static json_t *usage_json(const sy_fmt_usage_t *u)
{
    json_t *pd = json_object();
    json_object_set_new(pd, "cached_tokens", json_integer(u->cached_tokens));
    json_t *cd = json_object();
    json_object_set_new(cd, "reasoning_tokens", json_integer(u->reasoning_tokens));
    json_t *j = json_object();
    json_object_set_new(j, "prompt_tokens", json_integer(u->prompt_tokens));
    json_object_set_new(j, "completion_tokens", json_integer(u->completion_tokens));
    json_object_set_new(j, "total_tokens", json_integer(u->prompt_tokens + u->completion_tokens));
    json_object_set_new(j, "prompt_tokens_details", pd);
    json_object_set_new(j, "completion_tokens_details", cd);
    return j;
}

/* One OpenAI tool call from a part holding a functionCall; k numbers the calls. The part's
 * thoughtSignature, if any, rides in the id (see append_signed_id). */
static json_t *tool_call_json(json_t *part, size_t k, bool with_index)
{
    json_t *fc = json_object_get(part, "functionCall");
    json_t *id = json_object_get(fc, "id");
    json_t *args = json_object_get(fc, "args");
    char *a = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_t *fn = json_object();
    json_t *name = json_object_get(fc, "name");
    json_object_set_new(fn, "name", json_is_string(name) ? json_incref(name) : json_string(""));
    json_object_set_new(fn, "arguments", json_string(a ? a : "{}"));
    free(a);
    json_t *tc = json_object();
    if (with_index) json_object_set_new(tc, "index", json_integer((json_int_t)k));
    char buf[32];
    const char *idp = buf;
    size_t id_len;
    if (json_is_string(id) && json_string_length(id)) {
        idp = json_string_value(id);
        id_len = json_string_length(id);
    } else {
        id_len = (size_t)snprintf(buf, sizeof buf, "call_%zu", k);
    }
    json_t *sig = json_object_get(part, "thoughtSignature");
    sy_buf_t sid;
    sy_buf_init(&sid, SIZE_MAX);
    if (json_is_string(sig) &&
        append_signed_id(&sid, idp, id_len, json_string_value(sig), json_string_length(sig)))
        json_object_set_new(tc, "id", json_stringn(sid.base, sid.len));
    else
        json_object_set_new(tc, "id", json_stringn(idp, id_len));
    sy_buf_dispose(&sid);
    json_object_set_new(tc, "type", json_string("function"));
    json_object_set_new(tc, "function", fn);
    return tc;
}

static json_t *message_choice(json_t *cand, size_t fallback_index)
{
    sy_buf_t text, thought;
    sy_buf_init(&text, SIZE_MAX);
    sy_buf_init(&thought, SIZE_MAX);
    json_t *calls = json_array();
    json_t *parts = json_object_get(json_object_get(cand, "content"), "parts");
    size_t i;
    json_t *p;
    json_array_foreach(parts, i, p)
    {
        json_t *t = json_object_get(p, "text");
        json_t *fc = json_object_get(p, "functionCall");
        if (json_is_string(t)) {
            /* A thoughtSignature on a text part is dropped: see the DESIGN block. */
            sy_buf_t *dst = json_is_true(json_object_get(p, "thought")) ? &thought : &text;
            sy_buf_append(dst, json_string_value(t), json_string_length(t));
        } else if (json_is_object(fc)) {
            json_array_append_new(calls, tool_call_json(p, json_array_size(calls), false));
        }
    }
    bool has_calls = json_array_size(calls) > 0;
    json_t *msg = json_object();
    json_object_set_new(msg, "role", json_string("assistant"));
    if (text.len || !has_calls)
        json_object_set_new(msg, "content", json_stringn(text.base ? text.base : "", text.len));
    else
        json_object_set_new(msg, "content", json_null());
    json_object_set_new(msg, "refusal", json_null());
    if (thought.len)
        json_object_set_new(msg, "reasoning_content", json_stringn(thought.base, thought.len));
    if (has_calls) json_object_set(msg, "tool_calls", calls);
    json_decref(calls);
    sy_buf_dispose(&text);
    sy_buf_dispose(&thought);

    json_t *c = json_object();
    json_object_set_new(c, "index",
                        json_integer((json_int_t)int_or(cand, "index", (int64_t)fallback_index)));
    json_object_set_new(c, "message", msg);
    json_object_set_new(c, "logprobs", json_null());
    json_object_set_new(c, "finish_reason",
                        json_string(map_finish(
                            json_string_value(json_object_get(cand, "finishReason")), has_calls)));
    return c;
}

static const char *blocked_reason(json_t *resp)
{
    json_t *cands = json_object_get(resp, "candidates");
    if (json_array_size(cands)) return NULL;
    return json_string_value(
        json_object_get(json_object_get(resp, "promptFeedback"), "blockReason"));
}

/* Appends prefix + compact JSON + suffix in one step: a frame is added whole or not at all. */
static sy_err_t append_json(sy_buf_t *out, json_t *j, const char *prefix, const char *suffix)
{
    if (!prefix) prefix = "";
    if (!suffix) suffix = "";
    char *s = json_dumps(j, JSON_COMPACT);
    size_t np = strlen(prefix), ns = strlen(s), nx = strlen(suffix);
    sy_err_t err = SY_OK;
    char *dst = sy_buf_reserve(out, np + ns + nx, &err);
    if (dst) {
        memcpy(dst, prefix, np);
        memcpy(dst + np, s, ns);
        memcpy(dst + np + ns, suffix, nx);
        out->len += np + ns + nx;
    }
    free(s);
    return err;
}

sy_err_t sy_gemini_fmt_response(const char *body, size_t len, const sy_fmt_resp_opts_t *o,
                                sy_buf_t *out, sy_fmt_usage_t *usage)
{
    if (usage) *usage = SY_FMT_USAGE_UNKNOWN;
    json_t *resp = json_loadb(body, len, 0, NULL);
    json_t *cands = json_object_get(resp, "candidates");
    const char *blocked = blocked_reason(resp);
    if (!json_is_object(resp) || (!json_is_array(cands) && !blocked)) {
        json_decref(resp);
        return SY_ERR_UPSTREAM_BROKEN;
    }
    const char *rid = json_string_value(json_object_get(resp, "responseId"));
    const char *mv = json_string_value(json_object_get(resp, "modelVersion"));
    json_t *r = json_object();
    json_object_set_new(r, "id", json_string(rid ? rid : o->id ? o->id : ""));
    json_object_set_new(r, "object", json_string("chat.completion"));
    json_object_set_new(r, "created", json_integer((json_int_t)o->created));
    json_object_set_new(r, "model", json_string(mv ? mv : o->model ? o->model : ""));
    json_t *choices = json_array();
    if (blocked) {
        /* Nothing was generated: report an empty, filtered answer rather than an error, so the
         * client sees the same shape OpenAI uses for its own content filter. */
        json_t *msg = json_object();
        json_object_set_new(msg, "role", json_string("assistant"));
        json_object_set_new(msg, "content", json_string(""));
        json_object_set_new(msg, "refusal", json_null());
        json_t *c = json_object();
        json_object_set_new(c, "index", json_integer(0));
        json_object_set_new(c, "message", msg);
        json_object_set_new(c, "logprobs", json_null());
        json_object_set_new(c, "finish_reason", json_string("content_filter"));
        json_array_append_new(choices, c);
    } else {
        size_t i;
        json_t *cand;
        json_array_foreach(cands, i, cand) json_array_append_new(choices, message_choice(cand, i));
    }
    json_object_set_new(r, "choices", choices);
    json_t *um = json_object_get(resp, "usageMetadata");
    if (json_is_object(um)) {
        sy_fmt_usage_t u;
        map_usage(um, &u);
        json_object_set_new(r, "usage", usage_json(&u));
        if (usage) *usage = u;
    }
    sy_err_t err = append_json(out, r, NULL, NULL);
    json_decref(r);
    json_decref(resp);
    return err;
}

/* ---------- errors ---------- */

static const char *error_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 429:
        return "rate_limit_error";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0) return true;
    return false;
}

static json_t *openai_error(const char *message, const char *type, const char *code)
{
    json_t *e = json_object();
    json_object_set_new(e, "message", json_string(message));
    json_object_set_new(e, "type", json_string(type));
    json_object_set_new(e, "param", json_null());
    json_object_set_new(e, "code", code ? json_string(code) : json_null());
    json_t *j = json_object();
    json_object_set_new(j, "error", e);
    return j;
}

/* Gemini {"error":{"code","message","status"}} (the stream endpoint without alt=sse wraps it in
 * an array) -> OpenAI error object, or NULL if err is not that shape. */
static json_t *map_error(int status, json_t *doc)
{
    if (json_is_array(doc)) doc = json_array_get(doc, 0);
    json_t *e = json_object_get(doc, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (!json_is_object(e) || !msg) return NULL;
    if (status <= 0) status = (int)int_or(e, "code", 500);
    const char *code = json_string_value(json_object_get(e, "status"));
    if (contains_ci(msg, "input token count") && contains_ci(msg, "exceeds the maximum"))
        code = "context_length_exceeded";
    return openai_error(msg, error_type(status), code);
}

void sy_gemini_fmt_error(int status, const char *body, size_t len, sy_buf_t *out)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    json_t *j = map_error(status, doc);
    json_decref(doc);
    if (!j) {
        char msg[256];
        int n = snprintf(msg, sizeof msg, "upstream returned HTTP %d", status);
        size_t start = 0;
        while (start < len && isspace((unsigned char)body[start]))
            start++;
        size_t take = len - start < 200 ? len - start : 200;
        while (take && isspace((unsigned char)body[start + take - 1]))
            take--;
        if (take) {
            n += snprintf(msg + n, sizeof msg - (size_t)n, ": ");
            for (size_t i = 0; i < take; i++) {
                unsigned char c = (unsigned char)body[start + i];
                msg[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?'; /* ASCII keeps it valid UTF-8 */
            }
            msg[n] = '\0';
        }
        j = openai_error(msg, "upstream_error", NULL);
    }
    append_json(out, j, NULL, NULL);
    json_decref(j);
}

/* ---------- streaming ---------- */

#define MAX_CANDIDATES 8 /* Gemini's candidateCount limit */

struct sy_gemini_stream {
    char *id;
    char *model;
    int64_t created;
    bool include_usage;
    bool seen_first;
    bool finished; /* a finishReason (or a blocked prompt) was seen */
    bool failed;   /* an error event ended the stream */
    bool role_sent[MAX_CANDIDATES];
    bool called[MAX_CANDIDATES];    /* a tool call was emitted for this choice */
    size_t n_calls[MAX_CANDIDATES]; /* tool call index, per choice */
    sy_fmt_usage_t usage;
};

sy_gemini_stream_t *sy_gemini_stream_new(const sy_fmt_resp_opts_t *o)
{
    sy_gemini_stream_t *s = sy_xcalloc(1, sizeof *s);
    s->id = sy_xstrdup(o->id ? o->id : "");
    s->model = sy_xstrdup(o->model ? o->model : "");
    s->created = o->created;
    s->include_usage = o->include_usage;
    s->usage = SY_FMT_USAGE_UNKNOWN;
    return s;
}

void sy_gemini_stream_free(sy_gemini_stream_t *s)
{
    if (!s) return;
    free(s->id);
    free(s->model);
    free(s);
}

const sy_fmt_usage_t *sy_gemini_stream_usage(const sy_gemini_stream_t *s)
{
    return &s->usage;
}

static json_t *chunk_base(const sy_gemini_stream_t *s)
{
    json_t *c = json_object();
    json_object_set_new(c, "id", json_string(s->id));
    json_object_set_new(c, "object", json_string("chat.completion.chunk"));
    json_object_set_new(c, "created", json_integer((json_int_t)s->created));
    json_object_set_new(c, "model", json_string(s->model));
    return c;
}

/* Emits one chunk with a single choice; takes ownership of delta. */
static sy_err_t emit(const sy_gemini_stream_t *s, sy_buf_t *out, size_t index, json_t *delta,
                     const char *finish)
{
    json_t *ch = json_object();
    json_object_set_new(ch, "index", json_integer((json_int_t)index));
    json_object_set_new(ch, "delta", delta);
    json_object_set_new(ch, "logprobs", json_null());
    json_object_set_new(ch, "finish_reason", finish ? json_string(finish) : json_null());
    json_t *choices = json_array();
    json_array_append_new(choices, ch);
    json_t *c = chunk_base(s);
    json_object_set_new(c, "choices", choices);
    if (s->include_usage) json_object_set_new(c, "usage", json_null());
    sy_err_t err = append_json(out, c, "data: ", "\n\n");
    json_decref(c);
    return err;
}

static sy_err_t emit_role(sy_gemini_stream_t *s, sy_buf_t *out, size_t index)
{
    if (s->role_sent[index]) return SY_OK;
    s->role_sent[index] = true;
    json_t *d = json_object();
    json_object_set_new(d, "role", json_string("assistant"));
    json_object_set_new(d, "content", json_string(""));
    return emit(s, out, index, d, NULL);
}

static sy_err_t stream_candidate(sy_gemini_stream_t *s, json_t *cand, size_t pos, sy_buf_t *out)
{
    int64_t index = int_or(cand, "index", (int64_t)pos);
    if (index < 0 || index >= MAX_CANDIDATES) return SY_ERR_UPSTREAM_BROKEN;
    size_t ix = (size_t)index;
    sy_err_t err = emit_role(s, out, ix);
    json_t *parts = json_object_get(json_object_get(cand, "content"), "parts");
    size_t i;
    json_t *p;
    json_array_foreach(parts, i, p)
    {
        if (err) return err;
        json_t *t = json_object_get(p, "text");
        json_t *fc = json_object_get(p, "functionCall");
        json_t *d = NULL;
        if (json_is_string(t) && json_string_length(t)) {
            d = json_object();
            bool thought = json_is_true(json_object_get(p, "thought"));
            json_object_set(d, thought ? "reasoning_content" : "content", t);
        } else if (json_is_object(fc)) {
            json_t *calls = json_array();
            json_array_append_new(calls, tool_call_json(p, s->n_calls[ix]++, true));
            d = json_object();
            json_object_set_new(d, "tool_calls", calls);
            s->called[ix] = true;
        }
        if (d) err = emit(s, out, ix, d, NULL);
    }
    if (err) return err;
    const char *fr = json_string_value(json_object_get(cand, "finishReason"));
    if (fr) {
        s->finished = true;
        err = emit(s, out, ix, json_object(), map_finish(fr, s->called[ix]));
    }
    return err;
}

sy_err_t sy_gemini_stream_event(sy_gemini_stream_t *s, sy_str_t data, sy_buf_t *out)
{
    json_t *ev = json_loadb(data.ptr, data.len, 0, NULL);
    if (json_is_array(ev) && json_array_size(ev) == 1) { /* tolerate the non-SSE framing */
        json_t *only = json_incref(json_array_get(ev, 0));
        json_decref(ev);
        ev = only;
    }
    if (!json_is_object(ev)) {
        json_decref(ev);
        return SY_ERR_UPSTREAM_BROKEN;
    }
    sy_err_t err = SY_OK;
    json_t *e = map_error(0, ev);
    if (e) {
        s->failed = true;
        err = append_json(out, e, "data: ", "\n\n");
        json_decref(e);
        json_decref(ev);
        return err ? err : SY_ERR_UPSTREAM_STATUS;
    }
    if (!s->seen_first) {
        s->seen_first = true;
        const char *rid = json_string_value(json_object_get(ev, "responseId"));
        const char *mv = json_string_value(json_object_get(ev, "modelVersion"));
        if (rid) {
            free(s->id);
            s->id = sy_xstrdup(rid);
        }
        if (mv) {
            free(s->model);
            s->model = sy_xstrdup(mv);
        }
    }
    json_t *um = json_object_get(ev, "usageMetadata");
    if (json_is_object(um)) map_usage(um, &s->usage);

    json_t *cands = json_object_get(ev, "candidates");
    if (blocked_reason(ev)) {
        err = emit_role(s, out, 0);
        if (!err) err = emit(s, out, 0, json_object(), "content_filter");
        s->finished = true;
    } else if (json_is_array(cands)) {
        size_t i;
        json_t *cand;
        json_array_foreach(cands, i, cand)
        {
            err = stream_candidate(s, cand, i, out);
            if (err) break;
        }
    } else if (!json_is_object(um)) {
        err = SY_ERR_UPSTREAM_BROKEN; /* neither candidates, feedback nor usage */
    }
    json_decref(ev);
    return err;
}

sy_err_t sy_gemini_stream_finish(sy_gemini_stream_t *s, sy_buf_t *out)
{
    if (!s->finished || s->failed) return SY_ERR_UPSTREAM_BROKEN;
    sy_err_t err = SY_OK;
    if (s->include_usage) {
        sy_fmt_usage_t u = s->usage;
        if (u.prompt_tokens < 0) map_usage(NULL, &u); /* never reported: zeros */
        json_t *c = chunk_base(s);
        json_object_set_new(c, "choices", json_array());
        json_object_set_new(c, "usage", usage_json(&u));
        err = append_json(out, c, "data: ", "\n\n");
        json_decref(c);
    }
    if (!err) err = sy_buf_append_c(out, "data: [DONE]\n\n");
    return err;
}
