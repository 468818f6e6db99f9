/* The chat app's storage API (docs/API.md "Conversations", docs/internals/CHAT.md):
 *
 *   GET    /api/v1/conversations?q=&limit=&cursor=     the caller's, most recently updated first
 *   POST   /api/v1/conversations                       {title?, defaults?}
 *   GET    /api/v1/conversations/{id}                  + every message (parent ids) + current leaf
 *   PATCH  /api/v1/conversations/{id}                  {title?, archived?, defaults?,
 * current_leaf?} DELETE /api/v1/conversations/{id}                  with its messages POST
 * /api/v1/conversations/{id}/messages         {role, content, parent_id, ...} GET
 * /api/v1/conversations/{id}/export?format=json|markdown PUT|GET|DELETE /api/v1/feedback/{log_id}
 * {rating: 1|-1, comment?}
 *
 * DESIGN
 * - The loop thread routes, parses the query string and the (bounded) JSON body and checks
 *   every field's type and size, so a bad request is a 400 before any store work. The
 *   operation runs in the admin API's thread-pool job (api/admin.c, sy_admin_run_user): the
 *   same authentication (session cookie + x-csrf-token on state changes, or a user's API key),
 *   any role; viewers may only read.
 * - Ownership is in every store statement (store/appchat.h): another user's conversation is
 *   404 for every verb, the same answer as one that does not exist; admins get no exception.
 *   Feedback can be given only on an answer (log id) in one of the caller's conversations. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/admin.h"
#include "api/api.h"
#include "api/chatgen.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/timefmt.h"
#include "core/uuid.h"
#include "core/utf8.h"
#include "http/query.h"
#include "store/appchat.h"
#include "worker.h"

#define ID_MAX 63
#define MODEL_MAX 200
#define ERROR_MAX 4000
#define AUTO_TITLE_MAX 80
#define LIST_DEFAULT 50
#define BODY_MAX (64u << 20) /* bytes of an answer (a conversation, an export) */

/* ---- JSON rendering (pool thread) ---- */

static json_t *json_text(const char *text)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    return v ? v : json_null();
}

static json_t *conv_json(const sy_app_conv_t *c)
{
    return json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "object", "conversation", "id", c->id, "title",
        sy_admin_json_str(c->title), "created_at", sy_admin_json_time(c->created_us), "updated_at",
        sy_admin_json_time(c->updated_us), "archived_at", sy_admin_json_time(c->archived_us),
        "defaults", json_text(c->defaults), "current_leaf", sy_admin_json_str(c->current_leaf));
}

/* ---- messages are written straight into a buffer: a conversation may hold thousands, and a
 * jansson tree + dump of 2,000 messages cost ~70,000 instructions per message (callgrind),
 * most of a conversation read (docs/PERFORMANCE.md). ---- */

/* ,"name":"value" (or null); key is the literal ,"name": (no printf per member) */
#define KEY(name) ",\"" name "\":"
static sy_err_t put_str(sy_buf_t *b, const char *key, const char *v)
{
    sy_err_t err = sy_buf_append_c(b, key);
    if (!err) err = v ? sy_json_append_string(b, v, strlen(v)) : sy_buf_append_c(b, "null");
    return err;
}

/* One message object. params is our own compact dump of a checked object: copied as is. */
sy_err_t sy_chatapi_append_msg(sy_buf_t *b, const sy_app_msg_t *m)
{
    char t[SY_TIMEFMT_RFC3339_LEN];
    if (m->created_us) sy_timefmt_rfc3339(t, m->created_us);
    sy_err_t err = sy_buf_append_c(b, "{\"object\":\"message\"");
    if (!err) err = put_str(b, KEY("id"), m->id);
    if (!err) err = put_str(b, KEY("conversation_id"), m->conversation_id);
    if (!err) err = put_str(b, KEY("parent_id"), m->parent_id);
    if (!err) err = put_str(b, KEY("role"), m->role);
    if (!err) err = put_str(b, KEY("content"), m->content);
    if (!err) err = put_str(b, KEY("status"), m->status);
    if (!err) err = put_str(b, KEY("model"), m->model);
    if (!err) err = sy_buf_printf(b, ",\"params\":%s", m->params ? m->params : "null");
    if (!err) err = put_str(b, KEY("log_id"), m->log_id);
    if (!err) err = put_str(b, KEY("created_at"), m->created_us ? t : NULL);
    if (!err) err = put_str(b, KEY("error"), m->error);
    /* our own compact JSON texts (api/chatgen.c), copied as is */
    if (!err) err = sy_buf_printf(b, ",\"metrics\":%s", m->metrics ? m->metrics : "null");
    if (!err) err = put_str(b, KEY("request_id"), m->request_id);
    if (!err)
        err =
            sy_buf_printf(b, ",\"schema_errors\":%s", m->schema_errors ? m->schema_errors : "null");
    if (!err) err = sy_buf_append_c(b, "}");
    return err;
}

/* The answer text of a message (malloc'd), or NULL past BODY_MAX. */
static char *msg_text(const sy_app_msg_t *m)
{
    sy_buf_t b;
    sy_buf_init(&b, BODY_MAX);
    sy_err_t err = sy_chatapi_append_msg(&b, m);
    if (!err) err = sy_buf_append(&b, "", 1);
    if (err) sy_buf_dispose(&b);
    return err ? NULL : b.base;
}

static json_t *fb_json(const sy_app_feedback_t *f)
{
    return json_pack("{s:s, s:s, s:i, s:o, s:o, s:o}", "object", "feedback", "log_id", f->log_id,
                     "rating", f->rating, "comment", sy_admin_json_str(f->comment), "created_at",
                     sy_admin_json_time(f->created_us), "updated_at",
                     sy_admin_json_time(f->updated_us));
}

void sy_chatapi_store_error(sy_admin_call_t *c, sy_err_t err, const char *msg, const char *what)
{
    if (err == SY_ERR_NOT_FOUND) {
        char m[80];
        snprintf(m, sizeof m, "no such %s", what);
        return sy_admin_call_fail(c, err, m);
    }
    if (err == SY_ERR_INVALID_REQUEST) return sy_admin_call_fail(c, err, msg);
    char m[SY_STORE_MSGLEN + 16];
    snprintf(m, sizeof m, "store: %s", msg);
    sy_admin_call_fail(c, SY_ERR_STORE, m);
}

static const char *body_str(sy_admin_call_t *c, const char *name)
{
    return json_string_value(json_object_get(sy_admin_call_body(c), name));
}

/* A JSON object field as compact text (NULL when absent or null; malloc'd). */
static char *body_obj_text(sy_admin_call_t *c, const char *name)
{
    json_t *v = json_object_get(sy_admin_call_body(c), name);
    return json_is_object(v) ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

bool sy_chatapi_may_write(sy_admin_call_t *c)
{
    if (!sy_admin_call_mutating(c) || strcmp(sy_admin_call_role(c), "viewer") != 0) return true;
    sy_admin_call_fail(c, SY_ERR_FORBIDDEN, "the viewer role can only read its conversations");
    return false;
}

static sy_store_t *store_of(sy_admin_call_t *c)
{
    return sy_admin_call_store(c);
}

/* ---- operations (pool thread) ---- */

static void op_list(sy_admin_call_t *c)
{
    const char *q = body_str(c, "q"), *cursor = body_str(c, "cursor");
    size_t limit = (size_t)json_integer_value(json_object_get(sy_admin_call_body(c), "limit"));
    int64_t after_us = 0;
    const char *after_id = NULL;
    if (cursor) {
        after_us = strtoll(cursor, NULL, 10);
        after_id = strchr(cursor, '.') + 1; /* checked on the loop */
    }
    sy_app_conv_t **v = NULL;
    size_t n = 0;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = sy_app_conv_list(store_of(c), sy_admin_call_user_id(c), q, after_us, after_id,
                                    limit, &v, &n, msg, sizeof msg);
    if (err) return sy_chatapi_store_error(c, err, msg, "conversation");
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, conv_json(v[i]));
    json_t *next = json_null();
    if (n == limit) {
        char cur[96];
        snprintf(cur, sizeof cur, "%lld.%s", (long long)v[n - 1]->updated_us, v[n - 1]->id);
        next = json_string(cur);
    }
    sy_app_conv_list_free(v, n);
    sy_admin_call_answer(c, 200,
                         json_pack("{s:s, s:o, s:b, s:o}", "object", "list", "data", a, "has_more",
                                   !json_is_null(next), "next_cursor", next));
}

static void op_create(sy_admin_call_t *c)
{
    if (!sy_chatapi_may_write(c)) return;
    char id[SY_UUID_STRLEN + 1];
    sy_uuid_v7(id);
    int64_t now = sy_admin_call_now(c);
    char *defaults = body_obj_text(c, "defaults");
    sy_app_conv_t conv = {.id = id,
                          .user_id = (char *)sy_admin_call_user_id(c),
                          .title = (char *)body_str(c, "title"),
                          .created_us = now,
                          .updated_us = now,
                          .defaults = defaults};
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = sy_app_conv_insert(store_of(c), &conv, msg, sizeof msg);
    if (err)
        sy_chatapi_store_error(c, err, msg, "conversation");
    else
        sy_admin_call_answer(c, 201, conv_json(&conv));
    free(defaults);
}

/* The conversation of the path (owned by the caller) or a 404 answered. */
sy_app_conv_t *sy_chatapi_load_conv(sy_admin_call_t *c)
{
    sy_app_conv_t *conv = NULL;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = sy_app_conv_get(store_of(c), sy_admin_call_id(c), sy_admin_call_user_id(c),
                                   &conv, msg, sizeof msg);
    if (err) sy_chatapi_store_error(c, err, msg, "conversation");
    return conv;
}

/* The message the client shows as the end of its branch: the stored current leaf when it is
 * still a message of the conversation, else the newest message (NULL: none). */
static const sy_app_msg_t *current_leaf(const sy_app_conv_t *conv, sy_app_msg_t **v, size_t n)
{
    for (size_t i = 0; conv->current_leaf && i < n; i++)
        if (!strcmp(v[i]->id, conv->current_leaf)) return v[i];
    return n ? v[n - 1] : NULL;
}

/* The conversation with its computed current leaf and every message (malloc'd text), or NULL
 * past BODY_MAX. */
static char *full_text(sy_app_conv_t *conv, sy_app_msg_t **v, size_t n)
{
    json_t *o = conv_json(conv);
    const sy_app_msg_t *leaf = current_leaf(conv, v, n);
    json_object_set_new(o, "current_leaf", sy_admin_json_str(leaf ? leaf->id : NULL));
    char *head = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    sy_buf_t b;
    sy_buf_init(&b, BODY_MAX);
    /* head is "{...}": continue the object after its last member */
    sy_err_t err = head ? sy_buf_append(&b, head, strlen(head) - 1) : SY_ERR_INTERNAL;
    free(head);
    if (!err) err = sy_buf_append_c(&b, ",\"messages\":[");
    for (size_t i = 0; !err && i < n; i++) {
        if (i) err = sy_buf_append_c(&b, ",");
        if (!err) err = sy_chatapi_append_msg(&b, v[i]);
    }
    if (!err) err = sy_buf_append(&b, "]}", 3);
    if (err) sy_buf_dispose(&b);
    return err ? NULL : b.base;
}

static void answer_text(sy_admin_call_t *c, int status, char *text, const char *ctype,
                        const char *disposition)
{
    if (text)
        sy_admin_call_answer_text(c, status, text, ctype, disposition);
    else
        sy_admin_call_fail(c, SY_ERR_TOO_LARGE, "the answer would be larger than 64 MiB");
}

static void op_get(sy_admin_call_t *c)
{
    sy_app_conv_t *conv = sy_chatapi_load_conv(c);
    if (!conv) return;
    sy_app_msg_t **v = NULL;
    size_t n = 0;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = sy_app_msg_list(store_of(c), conv->id, &v, &n, msg, sizeof msg);
    if (err)
        sy_chatapi_store_error(c, err, msg, "conversation");
    else
        answer_text(c, 200, full_text(conv, v, n), NULL, NULL);
    sy_app_msg_list_free(v, n);
    sy_app_conv_free(conv);
}

static void op_update(sy_admin_call_t *c)
{
    if (!sy_chatapi_may_write(c)) return;
    sy_app_conv_t *conv = sy_chatapi_load_conv(c);
    if (!conv) return;
    json_t *body = sy_admin_call_body(c), *v;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = SY_OK;
    if ((v = json_object_get(body, "title"))) {
        free(conv->title);
        conv->title = json_is_string(v) ? sy_xstrdup(json_string_value(v)) : NULL;
    }
    if ((v = json_object_get(body, "archived")))
        conv->archived_us =
            json_is_true(v) ? (conv->archived_us ? conv->archived_us : sy_admin_call_now(c)) : 0;
    if ((v = json_object_get(body, "defaults"))) {
        free(conv->defaults);
        conv->defaults = body_obj_text(c, "defaults");
    }
    if ((v = json_object_get(body, "current_leaf"))) {
        sy_app_msg_t *m = NULL;
        err = sy_app_msg_get(store_of(c), conv->id, json_string_value(v), &m, msg, sizeof msg);
        sy_app_msg_free(m);
        if (err == SY_ERR_NOT_FOUND) {
            sy_admin_call_fail(c, SY_ERR_INVALID_REQUEST,
                               "'current_leaf' is not a message of this conversation");
            goto out;
        }
        if (err) goto fail;
        free(conv->current_leaf);
        conv->current_leaf = sy_xstrdup(json_string_value(v));
    }
    conv->updated_us = sy_admin_call_now(c);
    err = sy_app_conv_update(store_of(c), conv, msg, sizeof msg);
    if (!err) {
        sy_admin_call_answer(c, 200, conv_json(conv));
        goto out;
    }
fail:
    sy_chatapi_store_error(c, err, msg, "conversation");
out:
    sy_app_conv_free(conv);
}

static void op_delete(sy_admin_call_t *c)
{
    if (!sy_chatapi_may_write(c)) return;
    char msg[SY_STORE_MSGLEN];
    const char *id = sy_admin_call_id(c);
    sy_err_t err = sy_app_conv_delete(store_of(c), id, sy_admin_call_user_id(c), msg, sizeof msg);
    if (err) return sy_chatapi_store_error(c, err, msg, "conversation");
    sy_admin_call_answer(
        c, 200,
        json_pack("{s:s, s:s, s:b}", "object", "conversation.deleted", "id", id, "deleted", 1));
}

/* A title from the first user message: its first line, at most AUTO_TITLE_MAX bytes, cut at a
 * character boundary. */
char *sy_chatapi_auto_title(const char *content)
{
    size_t n = 0, len = strlen(content);
    while (n < len && content[n] != '\n' && n < AUTO_TITLE_MAX) {
        size_t k = sy_utf8_seq((const unsigned char *)content + n, len - n);
        if (!k || n + k > AUTO_TITLE_MAX) break;
        n += k;
    }
    return n ? sy_xstrndup(content, n) : NULL;
}

static void op_msg_add(sy_admin_call_t *c)
{
    if (!sy_chatapi_may_write(c)) return;
    sy_app_conv_t *conv = sy_chatapi_load_conv(c);
    if (!conv) return;
    sy_store_t *s = store_of(c);
    char msg[SY_STORE_MSGLEN], id[SY_UUID_STRLEN + 1];
    const char *parent = body_str(c, "parent_id");
    char *params = body_obj_text(c, "params");
    sy_err_t err = SY_OK;
    if (parent) {
        sy_app_msg_t *p = NULL;
        err = sy_app_msg_get(s, conv->id, parent, &p, msg, sizeof msg);
        sy_app_msg_free(p);
        if (err == SY_ERR_NOT_FOUND) {
            sy_admin_call_fail(c, SY_ERR_INVALID_REQUEST,
                               "'parent_id' is not a message of this conversation");
            goto out;
        }
        if (err) goto fail;
    }
    sy_uuid_v7(id);
    int64_t now = sy_admin_call_now(c);
    const char *status = body_str(c, "status");
    sy_app_msg_t m = {.id = id,
                      .conversation_id = conv->id,
                      .parent_id = (char *)parent,
                      .role = (char *)body_str(c, "role"),
                      .content = (char *)body_str(c, "content"),
                      .status = (char *)(status ? status : "ok"),
                      .model = (char *)body_str(c, "model"),
                      .params = params,
                      .created_us = now,
                      .error = (char *)body_str(c, "error")};
    err = sy_app_msg_insert(s, &m, 1, msg, sizeof msg); /* refused at the 5,000 messages */
    if (err) goto fail;
    free(conv->current_leaf);
    conv->current_leaf = sy_xstrdup(id);
    conv->updated_us = now;
    if (!conv->title && !strcmp(m.role, "user")) conv->title = sy_chatapi_auto_title(m.content);
    err = sy_app_conv_update(s, conv, msg, sizeof msg);
    if (err) goto fail;
    answer_text(c, 201, msg_text(&m), NULL, NULL);
    goto out;
fail:
    sy_chatapi_store_error(c, err, msg, "conversation");
out:
    free(params);
    sy_app_conv_free(conv);
}

static const char *role_title(const char *role)
{
    if (!strcmp(role, "user")) return "User";
    if (!strcmp(role, "assistant")) return "Assistant";
    if (!strcmp(role, "system")) return "System";
    return "Tool";
}

/* Markdown of the current branch: root to the current leaf, one section per message; NULL
 * when it would exceed BODY_MAX. */
static char *markdown(const sy_app_conv_t *conv, sy_app_msg_t **v, size_t n)
{
    const sy_app_msg_t **path = sy_xcalloc(n ? n : 1, sizeof *path);
    size_t depth = 0;
    for (const sy_app_msg_t *m = current_leaf(conv, v, n); m && depth < n;) {
        path[depth++] = m;
        const sy_app_msg_t *up = NULL;
        for (size_t i = 0; m->parent_id && i < n && !up; i++)
            if (!strcmp(v[i]->id, m->parent_id)) up = v[i];
        m = up;
    }
    sy_buf_t b;
    sy_buf_init(&b, BODY_MAX);
    sy_err_t err = sy_buf_printf(&b, "# %s\n", conv->title ? conv->title : "Untitled conversation");
    while (!err && depth--) {
        const sy_app_msg_t *m = path[depth];
        err = sy_buf_printf(&b, "\n## %s%s%s%s%s\n\n", role_title(m->role), m->model ? " (" : "",
                            m->model ? m->model : "", m->model ? ")" : "",
                            strcmp(m->status, "ok")
                                ? (!strcmp(m->status, "error")       ? " — error"
                                   : !strcmp(m->status, "cancelled") ? " — cancelled"
                                                                     : " — streaming")
                                : "");
        if (!err) err = sy_buf_append_c(&b, m->content);
        if (!err) err = sy_buf_append_c(&b, "\n");
        if (!err && m->error) err = sy_buf_printf(&b, "\n> Error: %s\n", m->error);
    }
    free(path);
    if (!err) err = sy_buf_append(&b, "", 1);
    if (err) {
        sy_buf_dispose(&b);
        return NULL;
    }
    return b.base; /* the buffer's bytes become the answer */
}

static void op_export(sy_admin_call_t *c)
{
    sy_app_conv_t *conv = sy_chatapi_load_conv(c);
    if (!conv) return;
    sy_app_msg_t **v = NULL;
    size_t n = 0;
    char msg[SY_STORE_MSGLEN], disp[160];
    sy_err_t err = sy_app_msg_list(store_of(c), conv->id, &v, &n, msg, sizeof msg);
    if (err) {
        sy_chatapi_store_error(c, err, msg, "conversation");
    } else if (!strcmp(body_str(c, "format"), "markdown")) {
        snprintf(disp, sizeof disp, "attachment; filename=\"conversation-%s.md\"", conv->id);
        answer_text(c, 200, markdown(conv, v, n), "text/markdown; charset=utf-8", disp);
    } else {
        snprintf(disp, sizeof disp, "attachment; filename=\"conversation-%s.json\"", conv->id);
        answer_text(c, 200, full_text(conv, v, n), "application/json", disp);
    }
    sy_app_msg_list_free(v, n);
    sy_app_conv_free(conv);
}

static void op_fb_put(sy_admin_call_t *c)
{
    if (!sy_chatapi_may_write(c)) return;
    sy_store_t *s = store_of(c);
    const char *log_id = sy_admin_call_id(c), *user = sy_admin_call_user_id(c);
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = sy_app_msg_owns_log(s, log_id, user, msg, sizeof msg);
    if (err == SY_ERR_NOT_FOUND)
        return sy_admin_call_fail(c, err, "no answer with this log id in your conversations");
    if (err) return sy_chatapi_store_error(c, err, msg, "answer");
    sy_app_feedback_t f = {
        .log_id = (char *)log_id,
        .user_id = (char *)user,
        .rating = (int)json_integer_value(json_object_get(sy_admin_call_body(c), "rating")),
        .comment = (char *)body_str(c, "comment"),
        .updated_us = sy_admin_call_now(c)};
    bool created = false;
    err = sy_app_feedback_put(s, &f, &created, msg, sizeof msg);
    if (err) return sy_chatapi_store_error(c, err, msg, "feedback");
    sy_app_feedback_t *row = NULL;
    err = sy_app_feedback_get(s, log_id, user, &row, msg, sizeof msg);
    if (err) return sy_chatapi_store_error(c, err, msg, "feedback");
    sy_admin_call_answer(c, created ? 201 : 200, fb_json(row));
    sy_app_feedback_free(row);
}

static void op_fb_get(sy_admin_call_t *c)
{
    sy_app_feedback_t *row = NULL;
    char msg[SY_STORE_MSGLEN];
    sy_err_t err = sy_app_feedback_get(store_of(c), sy_admin_call_id(c), sy_admin_call_user_id(c),
                                       &row, msg, sizeof msg);
    if (err) return sy_chatapi_store_error(c, err, msg, "feedback");
    sy_admin_call_answer(c, 200, fb_json(row));
    sy_app_feedback_free(row);
}

static void op_fb_delete(sy_admin_call_t *c)
{
    if (!sy_chatapi_may_write(c)) return;
    char msg[SY_STORE_MSGLEN];
    const char *log_id = sy_admin_call_id(c);
    sy_err_t err =
        sy_app_feedback_delete(store_of(c), log_id, sy_admin_call_user_id(c), msg, sizeof msg);
    if (err) return sy_chatapi_store_error(c, err, msg, "feedback");
    sy_admin_call_answer(
        c, 200,
        json_pack("{s:s, s:s, s:b}", "object", "feedback.deleted", "log_id", log_id, "deleted", 1));
}

/* ---- request checks (loop thread) ---- */

bool sy_chatapi_id_ok(const char *p, size_t n)
{
    if (n == 0 || n > ID_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

static bool one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(s, *set)) return true;
    return false;
}

typedef struct field {
    const char *name;
    enum { F_STR, F_ID, F_OBJ, F_BOOL, F_RATING } kind;
    size_t max;              /* F_STR: bytes */
    bool required, nullable; /* nullable: JSON null accepted (means "none") */
    bool empty_ok;           /* F_STR: "" accepted */
    const char *const *set;  /* F_STR: allowed values, or NULL */
} field_t;

/* Checks body against the fields (unknown fields refused); writes the 400 message to msg and
 * the field to *bad. */
static bool body_ok(json_t *body, const field_t *f, size_t nf, const char **bad, char *msg,
                    size_t msglen)
{
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        size_t i = 0;
        while (i < nf && strcmp(f[i].name, k))
            i++;
        if (i == nf) {
            *bad = k;
            snprintf(msg, msglen, "unknown field '%.64s'", k);
            return false;
        }
    }
    for (size_t i = 0; i < nf; i++) {
        v = json_object_get(body, f[i].name);
        *bad = f[i].name;
        if (!v || json_is_null(v)) {
            if (f[i].required || (v && !f[i].nullable)) {
                snprintf(msg, msglen, v ? "'%s' cannot be null" : "'%s' is required", f[i].name);
                return false;
            }
            continue;
        }
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        switch (f[i].kind) {
        case F_STR:
            if (!s || n > f[i].max || (!n && !f[i].empty_ok) || strlen(s) != n ||
                (f[i].set && !one_of(s, f[i].set))) {
                snprintf(msg, msglen, "'%s' must be a string of %s to %zu bytes without NUL%s",
                         f[i].name, f[i].empty_ok ? "0" : "1", f[i].max,
                         f[i].set ? " and one of the documented values" : "");
                return false;
            }
            break;
        case F_ID:
            if (!s || !sy_chatapi_id_ok(s, n)) {
                snprintf(msg, msglen, "'%s' must be an id (1 to 63 letters, digits, '-', '_')",
                         f[i].name);
                return false;
            }
            break;
        case F_OBJ: {
            char *text = json_is_object(v) ? json_dumps(v, JSON_COMPACT) : NULL;
            bool ok = text && strlen(text) <= SY_CHAT_JSON_MAX;
            free(text);
            if (!ok) {
                snprintf(msg, msglen, "'%s' must be a JSON object of at most %d bytes", f[i].name,
                         SY_CHAT_JSON_MAX);
                return false;
            }
            break;
        }
        case F_BOOL:
            if (!json_is_boolean(v)) {
                snprintf(msg, msglen, "'%s' must be true or false", f[i].name);
                return false;
            }
            break;
        case F_RATING:
            if (!json_is_integer(v) ||
                (json_integer_value(v) != 1 && json_integer_value(v) != -1)) {
                snprintf(msg, msglen, "'%s' must be 1 (thumbs up) or -1 (thumbs down)", f[i].name);
                return false;
            }
            break;
        }
    }
    *bad = NULL;
    return true;
}

static const char *const roles[] = {"user", "assistant", "system", "tool", NULL};
static const char *const statuses[] = {"ok", "streaming", "cancelled", "error", NULL};

static const field_t create_fields[] = {
    {"title", F_STR, SY_CHAT_TITLE_MAX, false, true, false, NULL},
    {"defaults", F_OBJ, 0, false, true, false, NULL},
};
static const field_t update_fields[] = {
    {"title", F_STR, SY_CHAT_TITLE_MAX, false, true, false, NULL},
    {"archived", F_BOOL, 0, false, false, false, NULL},
    {"defaults", F_OBJ, 0, false, true, false, NULL},
    {"current_leaf", F_ID, 0, false, false, false, NULL},
};
static const field_t message_fields[] = {
    {"role", F_STR, 16, true, false, false, roles},
    {"content", F_STR, SY_CHAT_CONTENT_MAX, true, false, true, NULL},
    {"parent_id", F_ID, 0, false, true, false, NULL},
    {"status", F_STR, 16, false, false, false, statuses},
    {"model", F_STR, MODEL_MAX, false, true, false, NULL},
    {"params", F_OBJ, 0, false, true, false, NULL},
    {"error", F_STR, ERROR_MAX, false, true, false, NULL},
};
static const field_t feedback_fields[] = {
    {"rating", F_RATING, 0, true, false, false, NULL},
    {"comment", F_STR, SY_CHAT_COMMENT_MAX, false, true, true, NULL},
};
#define NF(a) (sizeof(a) / sizeof((a)[0]))

static bool send_405(sy_http_req_t *req, const char *allowed)
{
    char msg[96];
    snprintf(msg, sizeof msg, "method not allowed for this path; use %s", allowed);
    sy_api_send_error(req, SY_ERR_METHOD_NOT_ALLOWED, NULL, msg);
    return true;
}

static bool send_400(sy_http_req_t *req, const char *param, const char *msg)
{
    sy_api_send_error(req, SY_ERR_INVALID_REQUEST, param, msg);
    return true;
}

/* The list's and the export's query parameters as a JSON object for the job; NULL: the 400
 * was sent. */
static json_t *query_json(sy_http_req_t *req, bool export)
{
    sy_http_param_t prm[3] = {{.name = "q"}, {.name = "limit"}, {.name = "cursor"}};
    if (export) prm[0].name = "format";
    size_t np = export ? 1 : 3;
    const char *bad = NULL;
    char msg[512];
    if (sy_http_query_parse(req->query, prm, np, &req->arena, &bad, msg, sizeof msg)) {
        send_400(req, bad, msg);
        return NULL;
    }
    if (export) {
        const char *f = prm[0].set ? prm[0].value.ptr : "json";
        if (strcmp(f, "json") && strcmp(f, "markdown")) {
            send_400(req, "format", "'format' must be json or markdown");
            return NULL;
        }
        return json_pack("{s:s}", "format", f);
    }
    long limit = LIST_DEFAULT;
    if (prm[1].set) {
        char *end;
        limit = strtol(prm[1].value.ptr, &end, 10);
        if (!prm[1].value.len || *end || prm[1].value.len > 4 || limit < 1 ||
            limit > SY_CHAT_LIST_MAX) {
            send_400(req, "limit", "'limit' must be an integer from 1 to 200");
            return NULL;
        }
    }
    if (prm[0].set &&
        (prm[0].value.len > SY_CHAT_QUERY_MAX || strlen(prm[0].value.ptr) != prm[0].value.len ||
         !sy_utf8_valid(prm[0].value.ptr, prm[0].value.len))) {
        send_400(req, "q", "'q' must be UTF-8 text of at most 200 bytes");
        return NULL;
    }
    if (prm[2].set) {
        const char *v = prm[2].value.ptr, *dot = strchr(v, '.');
        char *end;
        long long us = strtoll(v, &end, 10);
        if (!dot || end != dot || dot == v || us < 0 ||
            !sy_chatapi_id_ok(dot + 1, prm[2].value.len - (size_t)(dot + 1 - v))) {
            send_400(req, "cursor", "'cursor' must be a next_cursor from a previous page");
            return NULL;
        }
    }
    json_t *o = json_pack("{s:I}", "limit", (json_int_t)limit);
    if (prm[0].set && prm[0].value.len) json_object_set_new(o, "q", json_string(prm[0].value.ptr));
    if (prm[2].set) json_object_set_new(o, "cursor", json_string(prm[2].value.ptr));
    return o;
}

bool sy_chatapi_handle(sy_http_req_t *req, sy_worker_t *w, sy_str_t a, sy_str_t id, sy_str_t rest)
{
    int m = req->method == HTTP_HEAD ? HTTP_GET : req->method; /* as the route table */
    sy_admin_op_cb op = NULL;
    const field_t *fields = NULL;
    size_t nf = 0;
    bool query = false, export = false;
    if (sy_str_eq_c(a, "feedback")) {
        if (!id.ptr || rest.ptr) return false;
        if (m == HTTP_GET) op = op_fb_get;
        if (m == HTTP_PUT) op = op_fb_put, fields = feedback_fields, nf = NF(feedback_fields);
        if (m == HTTP_DELETE) op = op_fb_delete;
        if (!op) return send_405(req, "GET, PUT, DELETE");
    } else if (!id.ptr) {
        if (m == HTTP_GET) op = op_list, query = true;
        if (m == HTTP_POST) op = op_create, fields = create_fields, nf = NF(create_fields);
        if (!op) return send_405(req, "GET, POST");
    } else if (!rest.ptr) {
        if (m == HTTP_GET) op = op_get;
        if (m == HTTP_PATCH) op = op_update, fields = update_fields, nf = NF(update_fields);
        if (m == HTTP_DELETE) op = op_delete;
        if (!op) return send_405(req, "GET, PATCH, DELETE");
    } else if (sy_str_eq_c(rest, "generate") ||
               (rest.len > 9 && memcmp(rest.ptr, "messages/", 9) == 0)) {
        if (!w->auth) return false;
        return sy_chatgen_handle(req, w, id, rest);
    } else if (sy_str_eq_c(rest, "messages")) {
        if (m != HTTP_POST) return send_405(req, "POST");
        op = op_msg_add, fields = message_fields, nf = NF(message_fields);
    } else if (sy_str_eq_c(rest, "export")) {
        if (m != HTTP_GET) return send_405(req, "GET");
        op = op_export, query = export = true;
    } else {
        return false;
    }
    if (!w->auth) {
        sy_api_send_error(req, SY_ERR_NOT_FOUND, NULL,
                          "conversations and feedback exist only when auth.mode is required "
                          "(this gateway runs with auth.mode local)");
        return true;
    }
    if (id.ptr && !sy_chatapi_id_ok(id.ptr, id.len)) return send_400(req, "id", "malformed id");
    json_t *body = NULL;
    if (fields) {
        json_error_t e;
        body = req->body.len ? json_loadb(req->body.base, req->body.len, 0, &e) : json_object();
        if (!json_is_object(body)) {
            json_decref(body);
            sy_api_send_error(req, SY_ERR_INVALID_JSON, NULL, "the body must be a JSON object");
            return true;
        }
        const char *bad = NULL;
        char msg[256];
        if (fields == message_fields && json_object_get(body, "log_id")) {
            /* only generation sets it: feedback may name only one's own generated answers */
            json_decref(body);
            return send_400(req, "log_id",
                            "'log_id' is set by the server on generated answers (POST "
                            "/api/v1/conversations/{id}/generate); a posted message cannot "
                            "carry one");
        }
        if (!body_ok(body, fields, nf, &bad, msg, sizeof msg)) {
            char param[72];
            snprintf(param, sizeof param, "%.64s", bad ? bad : "");
            json_decref(body);
            return send_400(req, param[0] ? param : NULL, msg);
        }
    } else if (query && !(body = query_json(req, export))) {
        return true;
    }
    sy_admin_run_user(req, w, op, body, id);
    return true;
}
