/* App data: chat conversations, their messages (a tree: parent ids, siblings are branches) and
 * answer feedback, over the store's app_exec slot like store/appdata.h (SQLite and PostgreSQL;
 * the same SQL text on both). Schema: store/migrations.c (SQLite 8-10, PostgreSQL 7-9); meaning:
 * docs/internals/CHAT.md.
 *
 * Ownership is part of every conversation statement: a call names the owner's user id and a
 * conversation of another user is SY_ERR_NOT_FOUND, exactly like one that does not exist.
 * Messages are reached through their conversation (the API checks the conversation first).
 *
 * Threads: every call blocks; thread pool or other non-loop threads only.
 * Memory: rows returned are owned by the caller (the _free / _list_free functions, which take
 * NULL). Strings are heap, NUL-terminated, NULL for SQL NULL; times are µs since the epoch,
 * 0 for NULL. Errors: sy_err_t + msg like store.h. */
#ifndef SY_STORE_APPCHAT_H
#define SY_STORE_APPCHAT_H
#include "store/appdata.h"

/* Bounds (the API refuses larger inputs with 400 before calling the store). */
#define SY_CHAT_TITLE_MAX 200            /* bytes */
#define SY_CHAT_CONTENT_MAX (256 * 1024) /* bytes of one message */
#define SY_CHAT_JSON_MAX (16 * 1024)     /* bytes of a params / defaults JSON text */
#define SY_CHAT_MESSAGES_MAX 5000        /* messages in one conversation */
#define SY_CHAT_LIST_MAX 200             /* conversations in one page */
#define SY_CHAT_QUERY_MAX 200            /* bytes of a search string */
#define SY_CHAT_COMMENT_MAX 4000         /* bytes of a feedback comment */

typedef struct sy_app_conv {
    char *id; /* UUIDv7 */
    char *user_id;
    char *title; /* NULL: untitled */
    int64_t created_us;
    int64_t updated_us;  /* last change (rename, new message): the sidebar's order */
    int64_t archived_us; /* 0: not archived */
    char *defaults;      /* JSON object (model, params) or NULL */
    char *current_leaf;  /* message id the client shows as the end of its branch, or NULL */
} sy_app_conv_t;

typedef struct sy_app_msg {
    char *id; /* UUIDv7 */
    char *conversation_id;
    char *parent_id; /* NULL: a root */
    char *role;      /* "user" | "assistant" | "system" | "tool" */
    char *content;
    char *status; /* "ok" | "streaming" | "cancelled" | "error" */
    char *model;
    char *params; /* JSON object or NULL */
    char *log_id; /* inference-log row id (assistant messages) or NULL */
    int64_t created_us;
    char *error; /* error text when status is "error", else NULL */
    /* generated answers (docs/internals/CHAT.md, "Generation"), else NULL: */
    char *metrics;       /* JSON object: ttft_ms, latency_ms, tokens, tokens_per_s, cost_usd */
    char *request_id;    /* the gateway request id of the call */
    char *schema_errors; /* JSON array of {path, message}: the reply fails its json_schema */
    int64_t updated_us;  /* read only: the last write (insert, checkpoint); insert sets it to
                            created_us */
} sy_app_msg_t;

/* The error of an answer left streaming by a previous run of the server. */
#define SY_CHAT_INTERRUPTED "interrupted: the server restarted"
/* A streaming answer's generation writes the row at least every 2 s (api/chatgen.c, its
 * checkpoints); one without a write for this long belongs to a process that is gone. The
 * sweep (sy_app_msg_interrupt_stale) runs at start-up and every SY_CHAT_SWEEP_MS. */
#define SY_CHAT_STALE_MS 15000
#define SY_CHAT_SWEEP_MS 5000

typedef struct sy_app_feedback {
    char *log_id;
    char *user_id;
    int rating;    /* +1 or -1 */
    char *comment; /* or NULL */
    int64_t created_us;
    int64_t updated_us;
} sy_app_feedback_t;

void sy_app_conv_free(sy_app_conv_t *c);
void sy_app_msg_free(sy_app_msg_t *m);
void sy_app_feedback_free(sy_app_feedback_t *f);
void sy_app_conv_list_free(sy_app_conv_t **v, size_t n);
void sy_app_msg_list_free(sy_app_msg_t **v, size_t n);

/* Conversations. insert: every field of c (id, user_id, created_us, updated_us required).
 * get: the conversation id of user_id. update: writes title, archived_us, defaults,
 * current_leaf and updated_us of (c->id, c->user_id). delete: the conversation of user_id,
 * then its messages (a crash between the two leaves messages no conversation reaches; feedback
 * rows stay: they describe log rows). */
sy_err_t sy_app_conv_insert(sy_store_t *s, const sy_app_conv_t *c, char *msg, size_t msglen);
sy_err_t sy_app_conv_get(sy_store_t *s, const char *id, const char *user_id, sy_app_conv_t **out,
                         char *msg, size_t msglen);
sy_err_t sy_app_conv_update(sy_store_t *s, const sy_app_conv_t *c, char *msg, size_t msglen);
sy_err_t sy_app_conv_delete(sy_store_t *s, const char *id, const char *user_id, char *msg,
                            size_t msglen);

/* A page of user_id's conversations, most recently updated first (ties: id descending).
 * q: NULL/"" for all, else a case-insensitive substring (ASCII case folding on SQLite, full
 * on PostgreSQL) of the title or of any message's content; '%', '_' and '\' in q match
 * themselves. Cursor: the (updated_us, id) of the last row of the previous page; after_id NULL
 * for the first page. limit 1..SY_CHAT_LIST_MAX. */
sy_err_t sy_app_conv_list(sy_store_t *s, const char *user_id, const char *q,
                          int64_t after_updated_us, const char *after_id, size_t limit,
                          sy_app_conv_t ***out, size_t *n, char *msg, size_t msglen);

/* Messages. insert: every field of m (id, conversation_id, role, content, status, created_us
 * required); the caller checked the conversation's owner and the parent. The insert is
 * conditional in one statement: it happens only while the conversation holds at most
 * SY_CHAT_MESSAGES_MAX - room messages (room 1: space for this one; 2: also for the answer that
 * follows it), else SY_ERR_INVALID_REQUEST with the limit's message. get: message id of
 * conversation conv_id. list: every message of conv_id, oldest first (at most
 * SY_CHAT_MESSAGES_MAX). count: how many conv_id has. */
sy_err_t sy_app_msg_insert(sy_store_t *s, const sy_app_msg_t *m, int room, char *msg,
                           size_t msglen);
sy_err_t sy_app_msg_get(sy_store_t *s, const char *conv_id, const char *id, sy_app_msg_t **out,
                        char *msg, size_t msglen);
sy_err_t sy_app_msg_list(sy_store_t *s, const char *conv_id, sy_app_msg_t ***out, size_t *n,
                         char *msg, size_t msglen);
sy_err_t sy_app_msg_count(sy_store_t *s, const char *conv_id, int64_t *n, char *msg, size_t msglen);
/* The final row of a generated answer, written once: content, status, log_id, error, metrics,
 * request_id and schema_errors of message (m->conversation_id, m->id), which must still be
 * "streaming" (SY_ERR_NOT_FOUND otherwise, so a second write changes nothing). */
sy_err_t sy_app_msg_finish(sy_store_t *s, const sy_app_msg_t *m, char *msg, size_t msglen);
/* A streaming answer's text so far (a crash then loses only what came after) and its liveness:
 * content (NULL: unchanged) and updated_us = now_us of (conv_id, id) while it is still
 * "streaming"; after the final row it changes nothing. */
sy_err_t sy_app_msg_checkpoint(sy_store_t *s, const char *conv_id, const char *id,
                               const char *content, int64_t now_us, char *msg, size_t msglen);
/* Every message still "streaming" whose last write (updated_us, else created_us) is before
 * before_us becomes "error" with SY_CHAT_INTERRUPTED: its generation stopped writing (the
 * server or replica running it died). *n: how many (may be NULL). */
sy_err_t sy_app_msg_interrupt_stale(sy_store_t *s, int64_t before_us, int64_t *n, char *msg,
                                    size_t msglen);
/* SY_OK when a message of one of user_id's conversations carries log_id (the user may rate
 * that answer), SY_ERR_NOT_FOUND otherwise. */
sy_err_t sy_app_msg_owns_log(sy_store_t *s, const char *log_id, const char *user_id, char *msg,
                             size_t msglen);

/* Feedback. put: insert (created_us = updated_us = f->updated_us; f->created_us is ignored),
 * or replace rating/comment/updated_us of (log_id, user_id), keeping created_us; *created tells
 * which (a replacement in the same µs as the first rating reads as created). get/delete: NOT_FOUND
 * when the user has none. */
sy_err_t sy_app_feedback_put(sy_store_t *s, const sy_app_feedback_t *f, bool *created, char *msg,
                             size_t msglen);
sy_err_t sy_app_feedback_get(sy_store_t *s, const char *log_id, const char *user_id,
                             sy_app_feedback_t **out, char *msg, size_t msglen);
sy_err_t sy_app_feedback_delete(sy_store_t *s, const char *log_id, const char *user_id, char *msg,
                                size_t msglen);

#endif
