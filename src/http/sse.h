/* Server-Sent Events (WHATWG HTML "event stream") framing: a writer, an incremental parser, and
 * a cheap event-boundary tracker for pass-through streams. No I/O; callers own the buffers. */
#ifndef SY_HTTP_SSE_H
#define SY_HTTP_SSE_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/str.h"

/* Appends one event: optional "event: NAME" line, the data split on line breaks into "data:"
 * lines, and the blank line that ends the event. */
sy_err_t sy_sse_append_event(sy_buf_t *b, const char *event, const char *data, size_t len);
/* Appends ": TEXT\n\n" (a comment; clients ignore it). */
sy_err_t sy_sse_append_comment(sy_buf_t *b, const char *text);

/* Incremental parser. Feed bytes in any split; on_event fires for each complete event with its
 * type ("message" when absent), data (lines joined by '\n') and last event id. Views are valid
 * only during the callback. Comments and unknown fields are ignored; "retry" is reported in
 * retry_ms. A line or an event larger than max_bytes fails with SY_ERR_TOO_LARGE. */
typedef struct sy_sse_parser {
    sy_buf_t line;
    sy_buf_t data;
    sy_buf_t event;
    sy_buf_t id;
    bool have_data;
    bool last_cr; /* previous chunk ended with '\r' (a "\r\n" may be split) */
    /* The common event has one data line inside one fed chunk: it is reported as a view into
     * the caller's bytes, copied into `data` only when a second line comes or the feed ends. */
    bool in_view;
    sy_str_t view;
    long retry_ms;
    void (*on_event)(void *ctx, sy_str_t type, sy_str_t data, sy_str_t id);
    void *ctx;
} sy_sse_parser_t;

void sy_sse_parser_init(sy_sse_parser_t *p, size_t max_bytes,
                        void (*on_event)(void *ctx, sy_str_t type, sy_str_t data, sy_str_t id),
                        void *ctx);
void sy_sse_parser_dispose(sy_sse_parser_t *p);
sy_err_t sy_sse_parser_feed(sy_sse_parser_t *p, const char *buf, size_t len);

/* Tracks whether a byte stream is between events (after a blank line, or nothing sent yet), so
 * that a keep-alive comment can be injected without splitting an event. Start with 2. */
typedef struct sy_sse_boundary {
    int newlines; /* consecutive line endings at the tail of the stream */
    bool last_cr;
} sy_sse_boundary_t;

#define SY_SSE_BOUNDARY_INIT ((sy_sse_boundary_t){2, false})

void sy_sse_boundary_feed(sy_sse_boundary_t *t, const char *p, size_t n);
static inline bool sy_sse_boundary_at_event(const sy_sse_boundary_t *t)
{
    return t->newlines >= 2;
}

#endif
