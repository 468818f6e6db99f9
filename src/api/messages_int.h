/* Private to api/messages_fmt.c and api/messages_fastpath.c (and their unit tests): the stream
 * state both share, the fast paths and the jansson translators behind them. Not part of the
 * api/messages_fmt.h interface.
 *
 * sy_messages_fmt_request, sy_messages_fmt_response and sy_messages_stream_event first try the
 * fast paths below; when a fast path declines, the jansson translators (the *_slow functions)
 * run. A fast path either produces exactly the bytes, return code, usage and state change the
 * slow path would, or declines without touching its outputs or the stream state. */
#ifndef SY_API_MESSAGES_INT_H
#define SY_API_MESSAGES_INT_H
#include <stdbool.h>
#include <stddef.h>

#include "api/messages_fmt.h"

enum block_kind { BLK_NONE, BLK_TEXT, BLK_THINKING, BLK_TOOL };

struct sy_messages_stream {
    char *id;      /* fallback id (o->id) */
    char *model;   /* fallback model (o->model) */
    bool started;  /* message_start sent */
    bool finished; /* a finish_reason was seen */
    bool over;     /* message_stop or an error event sent */
    bool saw_tool;
    char finish[32]; /* OpenAI finish_reason */
    int next_index;  /* next Anthropic content block index */
    enum block_kind open;
    int open_index;
    int open_tool;   /* OpenAI tool call index of the open tool_use block */
    int *tool_block; /* OpenAI tool call index -> block index, -1 = not started */
    int n_tools;
    sy_fmt_usage_t usage;
    sy_buf_t frames; /* frames of one call, appended to the caller's buffer at once */
    /* Fast path only (messages_fastpath.c): the bytes before and after the delta object of the
     * last chunk it read whole whose only effect was its delta. A chunk with the same bytes
     * around its delta needs only the delta read. tpl = head bytes then tail bytes; NULL if
     * none. */
    char *tpl;
    size_t tpl_head, tpl_tail;
};

/* The jansson translators: the public functions without their fast paths. Same contracts as in
 * api/messages_fmt.h; the differential tests call them directly. */
sy_err_t sy_messages_fmt_request_slow(const char *body, size_t len, sy_fmt_req_t *out);
sy_err_t sy_messages_fmt_response_slow(const char *body, size_t len, const sy_fmt_resp_opts_t *o,
                                       sy_buf_t *out, sy_fmt_usage_t *usage);
sy_err_t sy_messages_stream_event_slow(sy_messages_stream_t *s, sy_str_t data, sy_buf_t *out);

/* Shared by both paths (messages_fmt.c). */
/* Anthropic stop_reason for an OpenAI finish_reason (NULL: none seen). */
const char *sy_messages_stop_reason(const char *finish, bool saw_tool);
/* Adds a (sanitised, cut) parameter name to out->warnings. */
void sy_messages_warn(sy_fmt_req_t *out, const char *name);

/* Fast paths (messages_fastpath.c). Pure; any thread. */
/* True with *out filled as sy_messages_fmt_request_slow would fill it on success (out->body
 * malloc'd, the caller frees it); false for anything outside the fast shape, including every
 * error (out untouched). */
bool sy_messages_fast_request(const char *body, size_t len, sy_fmt_req_t *out);
/* True when handled, with *err the result; false when the slow path must run (out and *usage
 * untouched). */
bool sy_messages_fast_response(const char *body, size_t len, const sy_fmt_resp_opts_t *o,
                               sy_buf_t *out, sy_fmt_usage_t *usage, sy_err_t *err);
/* Likewise for one stream event; s is untouched when it returns false. */
bool sy_messages_fast_event(sy_messages_stream_t *s, sy_str_t data, sy_buf_t *out, sy_err_t *err);

#endif
