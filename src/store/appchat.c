/* Chat app data over app_exec (see appchat.h): one SQL text for SQLite and PostgreSQL. */
#include "store/appchat.h"
#include "store/appdata_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define T SY_APP_T
#define I SY_APP_I
#define I0 SY_APP_I0
#define NPARAMS SY_APP_NPARAMS

#define CONV_COLS "id, user_id, title, created_us, updated_us, archived_us, defaults, current_leaf"
#define MSG_COLS                                                                                   \
    "id, conversation_id, parent_id, role, content, status, model, params, log_id, created_us, "   \
    "error, metrics, request_id, schema_errors, updated_us"
#define FB_COLS "log_id, user_id, rating, comment, created_us, updated_us"

void sy_app_conv_free(sy_app_conv_t *c)
{
    if (!c) return;
    free(c->id);
    free(c->user_id);
    free(c->title);
    free(c->defaults);
    free(c->current_leaf);
    free(c);
}

void sy_app_msg_free(sy_app_msg_t *m)
{
    if (!m) return;
    free(m->id);
    free(m->conversation_id);
    free(m->parent_id);
    free(m->role);
    free(m->content);
    free(m->status);
    free(m->model);
    free(m->params);
    free(m->log_id);
    free(m->error);
    free(m->metrics);
    free(m->request_id);
    free(m->schema_errors);
    free(m);
}

void sy_app_feedback_free(sy_app_feedback_t *f)
{
    if (!f) return;
    free(f->log_id);
    free(f->user_id);
    free(f->comment);
    free(f);
}

void sy_app_conv_list_free(sy_app_conv_t **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        sy_app_conv_free(v[i]);
    free(v);
}

void sy_app_msg_list_free(sy_app_msg_t **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        sy_app_msg_free(v[i]);
    free(v);
}

static void *conv_conv(const sy_app_rows_t *r, size_t i)
{
    sy_app_conv_t *c = sy_xcalloc(1, sizeof(*c));
    c->id = sy_app_dup_cell(r, i, 0);
    c->user_id = sy_app_dup_cell(r, i, 1);
    c->title = sy_app_dup_cell(r, i, 2);
    c->created_us = sy_app_i64_cell(r, i, 3);
    c->updated_us = sy_app_i64_cell(r, i, 4);
    c->archived_us = sy_app_i64_cell(r, i, 5);
    c->defaults = sy_app_dup_cell(r, i, 6);
    c->current_leaf = sy_app_dup_cell(r, i, 7);
    return c;
}

static void *msg_conv(const sy_app_rows_t *r, size_t i)
{
    sy_app_msg_t *m = sy_xcalloc(1, sizeof(*m));
    m->id = sy_app_dup_cell(r, i, 0);
    m->conversation_id = sy_app_dup_cell(r, i, 1);
    m->parent_id = sy_app_dup_cell(r, i, 2);
    m->role = sy_app_dup_cell(r, i, 3);
    m->content = sy_app_dup_cell(r, i, 4);
    m->status = sy_app_dup_cell(r, i, 5);
    m->model = sy_app_dup_cell(r, i, 6);
    m->params = sy_app_dup_cell(r, i, 7);
    m->log_id = sy_app_dup_cell(r, i, 8);
    m->created_us = sy_app_i64_cell(r, i, 9);
    m->error = sy_app_dup_cell(r, i, 10);
    m->metrics = sy_app_dup_cell(r, i, 11);
    m->request_id = sy_app_dup_cell(r, i, 12);
    m->schema_errors = sy_app_dup_cell(r, i, 13);
    m->updated_us = sy_app_i64_cell(r, i, 14);
    if (!m->updated_us) m->updated_us = m->created_us; /* a row older than the column */
    return m;
}

static sy_app_feedback_t *fb_of(const sy_app_rows_t *r, size_t i)
{
    sy_app_feedback_t *f = sy_xcalloc(1, sizeof(*f));
    f->log_id = sy_app_dup_cell(r, i, 0);
    f->user_id = sy_app_dup_cell(r, i, 1);
    f->rating = (int)sy_app_i64_cell(r, i, 2);
    f->comment = sy_app_dup_cell(r, i, 3);
    f->created_us = sy_app_i64_cell(r, i, 4);
    f->updated_us = sy_app_i64_cell(r, i, 5);
    return f;
}

/* ---- conversations ---- */

sy_err_t sy_app_conv_insert(sy_store_t *s, const sy_app_conv_t *c, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(c->id),          T(c->user_id),     T(c->title),    I0(c->created_us),
                          I0(c->updated_us), I(c->archived_us), T(c->defaults), T(c->current_leaf)};
    return sy_store_app_exec(
        s, "INSERT INTO conversations (" CONV_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", p,
        NPARAMS(p), 0, NULL, NULL, msg, msglen);
}

sy_err_t sy_app_conv_get(sy_store_t *s, const char *id, const char *user_id, sy_app_conv_t **out,
                         char *msg, size_t msglen)
{
    sy_app_rows_t r;
    sy_app_param_t p[] = {T(id), T(user_id)};
    sy_err_t err =
        sy_app_one_row(s, "SELECT " CONV_COLS " FROM conversations WHERE id = $1 AND user_id = $2",
                       p, NPARAMS(p), &r, "conversation", msg, msglen);
    if (err) return err;
    *out = conv_conv(&r, 0);
    sy_store_app_rows_free(&r);
    return SY_OK;
}

sy_err_t sy_app_conv_update(sy_store_t *s, const sy_app_conv_t *c, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(c->id),       T(c->user_id),      T(c->title),      I(c->archived_us),
                          T(c->defaults), T(c->current_leaf), I0(c->updated_us)};
    return sy_app_change_one(s,
                             "UPDATE conversations SET title = $3, archived_us = $4, "
                             "defaults = $5, current_leaf = $6, updated_us = $7 "
                             "WHERE id = $1 AND user_id = $2",
                             p, NPARAMS(p), "conversation", msg, msglen);
}

sy_err_t sy_app_conv_delete(sy_store_t *s, const char *id, const char *user_id, char *msg,
                            size_t msglen)
{
    /* Messages first, then the conversation: a failure between the two leaves a visible,
     * still-deletable conversation, never messages that nothing reaches. */
    sy_app_param_t p[] = {T(id), T(user_id)};
    sy_err_t err = sy_store_app_exec(s,
                                     "DELETE FROM messages WHERE conversation_id = $1 AND "
                                     "conversation_id IN (SELECT id FROM conversations "
                                     "WHERE id = $1 AND user_id = $2)",
                                     p, NPARAMS(p), 0, NULL, NULL, msg, msglen);
    if (err) return err;
    return sy_app_change_one(s, "DELETE FROM conversations WHERE id = $1 AND user_id = $2", p,
                             NPARAMS(p), "conversation", msg, msglen);
}

/* q as a LIKE pattern matching q anywhere, with %, _ and \ escaped by \ (the SQL lower()s it). */
static char *like_pattern(const char *q)
{
    size_t n = strlen(q);
    char *out = sy_xmalloc(2 * n + 3), *o = out;
    *o++ = '%';
    for (const char *c = q; *c; c++) {
        if (*c == '%' || *c == '_' || *c == '\\') *o++ = '\\';
        *o++ = *c;
    }
    *o++ = '%';
    *o = 0;
    return out;
}

sy_err_t sy_app_conv_list(sy_store_t *s, const char *user_id, const char *q,
                          int64_t after_updated_us, const char *after_id, size_t limit,
                          sy_app_conv_t ***out, size_t *n, char *msg, size_t msglen)
{
    if (limit < 1 || limit > SY_CHAT_LIST_MAX)
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "limit must be 1 to %d",
                             SY_CHAT_LIST_MAX);
    bool search = q && *q, page = after_id != NULL;
    char *pat = search ? like_pattern(q) : NULL;
    /* PostgreSQL must see every bound parameter in the text (it infers their types), so the
     * placeholders are numbered by what this call uses. */
    sy_app_param_t p[5] = {T(user_id), I0((int64_t)limit)};
    size_t np = 2;
    char cur[96] = "", find[256] = "";
    if (page) {
        snprintf(cur, sizeof cur,
                 " AND (c.updated_us < $%zu OR (c.updated_us = $%zu AND c.id < $%zu))", np + 1,
                 np + 1, np + 2);
        p[np++] = I0(after_updated_us);
        p[np++] = T(after_id);
    }
    if (search) {
        snprintf(
            find, sizeof find,
            " AND (lower(c.title) LIKE lower($%zu) ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m"
            " WHERE m.conversation_id = c.id AND lower(m.content) LIKE lower($%zu) ESCAPE '\\'))",
            np + 1, np + 1);
        p[np++] = T(pat);
    }
    char sql[640];
    snprintf(sql, sizeof sql,
             "SELECT " CONV_COLS " FROM conversations c WHERE c.user_id = $1%s%s "
             "ORDER BY c.updated_us DESC, c.id DESC LIMIT $2",
             cur, find);
    sy_err_t err =
        sy_app_list_n(s, sql, p, np, SY_CHAT_LIST_MAX, conv_conv, (void ***)out, n, msg, msglen);
    free(pat);
    return err;
}

/* ---- messages ---- */

sy_err_t sy_app_msg_insert(sy_store_t *s, const sy_app_msg_t *m, int room, char *msg, size_t msglen)
{
    /* One statement: the count and the insert cannot be split by a concurrent append (SQLite
     * serializes writers; PostgreSQL evaluates the count in the INSERT's snapshot, see
     * docs/internals/CHAT.md "Bounds"). The casts give PostgreSQL the parameter types a
     * SELECT list does not. */
    sy_app_param_t p[] = {
        T(m->id),          T(m->conversation_id),
        T(m->parent_id),   T(m->role),
        T(m->content),     T(m->status),
        T(m->model),       T(m->params),
        T(m->log_id),      I0(m->created_us),
        T(m->error),       T(m->metrics),
        T(m->request_id),  T(m->schema_errors),
        I0(m->created_us), I0((int64_t)SY_CHAT_MESSAGES_MAX - (room < 1 ? 1 : room))};
    int64_t n = 0;
    sy_err_t err = sy_store_app_exec(
        s,
        "INSERT INTO messages (" MSG_COLS ") SELECT CAST($1 AS text), CAST($2 AS text), "
        "CAST($3 AS text), CAST($4 AS text), CAST($5 AS text), CAST($6 AS text), "
        "CAST($7 AS text), CAST($8 AS text), CAST($9 AS text), CAST($10 AS bigint), "
        "CAST($11 AS text), CAST($12 AS text), CAST($13 AS text), CAST($14 AS text), "
        "CAST($15 AS bigint) WHERE (SELECT count(*) FROM messages WHERE conversation_id = $2) "
        "<= CAST($16 AS bigint)",
        p, NPARAMS(p), 0, NULL, &n, msg, msglen);
    if (err) return err;
    if (n == 0)
        return sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen,
                             "this conversation has reached its limit of %d messages; start a "
                             "new one",
                             SY_CHAT_MESSAGES_MAX);
    return SY_OK;
}

sy_err_t sy_app_msg_finish(sy_store_t *s, const sy_app_msg_t *m, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(m->content),       T(m->status),          T(m->log_id),
                          T(m->error),         T(m->metrics),         T(m->request_id),
                          T(m->schema_errors), T(m->conversation_id), T(m->id)};
    return sy_app_change_one(s,
                             "UPDATE messages SET content = $1, status = $2, log_id = $3, "
                             "error = $4, metrics = $5, request_id = $6, schema_errors = $7 "
                             "WHERE conversation_id = $8 AND id = $9 AND status = 'streaming'",
                             p, NPARAMS(p), "streaming message", msg, msglen);
}

sy_err_t sy_app_msg_checkpoint(sy_store_t *s, const char *conv_id, const char *id,
                               const char *content, int64_t now_us, char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(content), T(conv_id), T(id), I0(now_us)};
    return sy_store_app_exec(s,
                             "UPDATE messages SET content = coalesce($1, content), updated_us = $4 "
                             "WHERE conversation_id = $2 AND id = $3 AND status = 'streaming'",
                             p, NPARAMS(p), 0, NULL, NULL, msg, msglen);
}

sy_err_t sy_app_msg_interrupt_stale(sy_store_t *s, int64_t before_us, int64_t *n, char *msg,
                                    size_t msglen)
{
    sy_app_param_t p[] = {T(SY_CHAT_INTERRUPTED), I0(before_us)};
    return sy_store_app_exec(s,
                             "UPDATE messages SET status = 'error', error = $1 "
                             "WHERE status = 'streaming' AND coalesce(updated_us, created_us) < $2",
                             p, NPARAMS(p), 0, NULL, n, msg, msglen);
}

sy_err_t sy_app_msg_get(sy_store_t *s, const char *conv_id, const char *id, sy_app_msg_t **out,
                        char *msg, size_t msglen)
{
    sy_app_rows_t r;
    sy_app_param_t p[] = {T(conv_id), T(id)};
    sy_err_t err = sy_app_one_row(
        s, "SELECT " MSG_COLS " FROM messages WHERE conversation_id = $1 AND id = $2", p,
        NPARAMS(p), &r, "message", msg, msglen);
    if (err) return err;
    *out = msg_conv(&r, 0);
    sy_store_app_rows_free(&r);
    return SY_OK;
}

#define STR_(x) #x
#define STR(x) STR_(x)

sy_err_t sy_app_msg_list(sy_store_t *s, const char *conv_id, sy_app_msg_t ***out, size_t *n,
                         char *msg, size_t msglen)
{
    sy_app_param_t p[] = {T(conv_id)};
    return sy_app_list_n(s,
                         "SELECT " MSG_COLS " FROM messages WHERE conversation_id = $1 "
                         "ORDER BY created_us, id LIMIT " STR(SY_CHAT_MESSAGES_MAX),
                         p, 1, SY_CHAT_MESSAGES_MAX, msg_conv, (void ***)out, n, msg, msglen);
}

sy_err_t sy_app_msg_count(sy_store_t *s, const char *conv_id, int64_t *n, char *msg, size_t msglen)
{
    sy_app_rows_t r;
    sy_app_param_t p[] = {T(conv_id)};
    sy_err_t err = sy_app_one_row(s, "SELECT count(*) FROM messages WHERE conversation_id = $1", p,
                                  1, &r, "count", msg, msglen);
    if (err) return err;
    *n = sy_app_i64_cell(&r, 0, 0);
    sy_store_app_rows_free(&r);
    return SY_OK;
}

sy_err_t sy_app_msg_owns_log(sy_store_t *s, const char *log_id, const char *user_id, char *msg,
                             size_t msglen)
{
    sy_app_rows_t r;
    sy_app_param_t p[] = {T(log_id), T(user_id)};
    sy_err_t err = sy_app_one_row(s,
                                  "SELECT 1 FROM messages m JOIN conversations c "
                                  "ON c.id = m.conversation_id "
                                  "WHERE m.log_id = $1 AND c.user_id = $2 AND m.role = 'assistant' "
                                  "LIMIT 1",
                                  p, NPARAMS(p), &r, "answer", msg, msglen);
    if (!err) sy_store_app_rows_free(&r);
    return err;
}

/* ---- feedback ---- */

sy_err_t sy_app_feedback_put(sy_store_t *s, const sy_app_feedback_t *f, bool *created, char *msg,
                             size_t msglen)
{
    /* A new row is created at f->updated_us. RETURNING gives the row's created_us: ours when
     * the row is new, the first rating's when
     * the upsert replaced it (one round trip, no read-then-write race). */
    sy_app_rows_t r;
    sy_app_param_t p[] = {T(f->log_id),  T(f->user_id),     I0(f->rating),
                          T(f->comment), I0(f->updated_us), I0(f->updated_us)};
    sy_err_t err = sy_app_one_row(
        s,
        "INSERT INTO feedback (" FB_COLS ") VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (log_id, user_id) DO UPDATE SET rating = excluded.rating, "
        "comment = excluded.comment, updated_us = excluded.updated_us RETURNING created_us",
        p, NPARAMS(p), &r, "feedback", msg, msglen);
    if (err) return err;
    if (created) *created = sy_app_i64_cell(&r, 0, 0) == f->updated_us;
    sy_store_app_rows_free(&r);
    return SY_OK;
}

sy_err_t sy_app_feedback_get(sy_store_t *s, const char *log_id, const char *user_id,
                             sy_app_feedback_t **out, char *msg, size_t msglen)
{
    sy_app_rows_t r;
    sy_app_param_t p[] = {T(log_id), T(user_id)};
    sy_err_t err =
        sy_app_one_row(s, "SELECT " FB_COLS " FROM feedback WHERE log_id = $1 AND user_id = $2", p,
                       NPARAMS(p), &r, "feedback", msg, msglen);
    if (err) return err;
    *out = fb_of(&r, 0);
    sy_store_app_rows_free(&r);
    return SY_OK;
}

sy_err_t sy_app_feedback_delete(sy_store_t *s, const char *log_id, const char *user_id, char *msg,
                                size_t msglen)
{
    sy_app_param_t p[] = {T(log_id), T(user_id)};
    return sy_app_change_one(s, "DELETE FROM feedback WHERE log_id = $1 AND user_id = $2", p,
                             NPARAMS(p), "feedback", msg, msglen);
}
