/* Hides the stream usage the gateway asked for and the client did not.
 *
 * When a client streams an OpenAI chat completion without stream_options.include_usage, the
 * provider asks the upstream for usage anyway (sy_call_t.hide_usage): the log row then gets the
 * provider's numbers instead of an estimate. The upstream's answer then differs from what the
 * client asked for in two ways (OpenAI's documented behaviour): every chunk carries
 * "usage":null, and one extra chunk with "choices":[] and the usage comes before [DONE]. This
 * filter, between the upstream bytes and the client, restores the stream the client would have
 * got without include_usage: the usage-only event is dropped, and a "usage":null member is cut
 * out of the other events (with its comma); every other byte passes unchanged, in order.
 *
 * DESIGN: SSE events are found by their blank line (\n\n, \r\r, \r\n\r\n, mixed). An event
 * complete in the piece fed is written from the caller's bytes (zero copy: one or two slices);
 * only the bytes of an event still incomplete at the end of a piece are copied (held until its
 * blank line arrives, so a client never sees half of an event that might need an edit). An
 * event longer than max_event_bytes is passed through unfiltered (never held unbounded). The
 * patterns are safe on JSON bytes: inside a string a '"' is always escaped, so `"usage"` followed
 * by ':' and `"choices"` followed by ':' are keys, never text.
 * Loop thread only; no allocation besides the held event. */
#ifndef SY_API_USAGE_FILTER_H
#define SY_API_USAGE_FILTER_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* Receives the client's bytes; returns false when the client is full (backpressure). */
typedef bool (*sy_usage_filter_emit_cb)(void *ctx, const char *p, size_t n);

typedef struct sy_usage_filter {
    sy_buf_t held;  /* the incomplete event at the end of the last piece */
    bool line_end;  /* the last byte seen ended a line */
    bool cr;        /* the last byte seen was '\r' (a '\n' after it belongs to it) */
    bool skip_lf;   /* a dropped event ended at '\r': drop a '\n' that follows */
    bool oversized; /* the current event went over the cap: pass it through */
    size_t max_event_bytes;
    unsigned long hidden; /* usage-only events dropped (tests) */
} sy_usage_filter_t;

void sy_usage_filter_init(sy_usage_filter_t *f, size_t max_event_bytes);
void sy_usage_filter_dispose(sy_usage_filter_t *f);
/* Feeds upstream bytes; emits the client's bytes (any number of calls, in order). Returns the
 * AND of the emit results (true when nothing was emitted). */
bool sy_usage_filter_feed(sy_usage_filter_t *f, const char *p, size_t n,
                          sy_usage_filter_emit_cb emit, void *ctx);
/* End of stream: emits a held incomplete event unchanged. */
bool sy_usage_filter_finish(sy_usage_filter_t *f, sy_usage_filter_emit_cb emit, void *ctx);

#endif
