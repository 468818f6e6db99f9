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
 * DESIGN: a state machine per SSE event (events end at a blank line: \n\n, \r\r, \r\n\r\n,
 * mixed), driven by memchr (newlines, and the rare byte of each literal it looks for). Every
 * event streams as it arrives (no whole-event buffering: a client sees half an event when the
 * upstream sent half), except that a possible `,"usage":null` (whitespace allowed) is held while
 * it matches and dropped when it does. Once a non-null finish_reason was seen (OpenAI sends the
 * usage chunk after the last choice finished) the filter is armed: from then on an event's first
 * bytes are held until its `"choices":[` is followed by something: `]` makes it a usage-only
 * candidate, held whole and dropped at its blank line when its "usage" is an object; anything
 * else releases the held bytes and the rest streams. Armed events without "choices" (`[DONE]`,
 * comments) are held whole — they are short. Held bytes are capped at max_event_bytes (past it
 * the event passes unfiltered). Limits: a usage-only chunk before any finish_reason, and a
 * "usage":null written as an object's first member while not armed, pass unchanged. The
 * patterns are safe on JSON bytes: inside a string a '"' is always escaped, so `"usage"`,
 * `"choices"` or `"finish_reason"` followed by ':' is a key. Only `data:` lines are looked
 * into: a comment (": …"), `event:`, `id:` or `retry:` line passes byte for byte whatever it
 * holds (a line's first five bytes decide, carried across pieces).
 * Loop thread only; no allocation besides the held event. */
#ifndef SY_API_USAGE_FILTER_H
#define SY_API_USAGE_FILTER_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* Receives the client's bytes; returns false when the client is full (backpressure). */
typedef bool (*sy_usage_filter_emit_cb)(void *ctx, const char *p, size_t n);

typedef struct sy_usage_filter {
    sy_buf_t held; /* the undecided start of the current event */
    bool line_end; /* the last byte seen ended a line */
    bool cr;       /* the last byte seen was '\r' (a '\n' after it belongs to it) */
    int skip_lf;   /* the last event ended at '\r': a '\n' next is its own (1 pass, 2 drop) */
    int mode;      /* head (undecided) / candidate (usage-only?) / pass (streaming) */
    bool armed;    /* a finish_reason was seen: the usage chunk may come */
    char tail[15]; /* not armed: the stream's last bytes (a key across two pieces) */
    unsigned ntail;
    int cm, um;    /* matcher states: "choices":[  and  ,"usage":null */
    char pend[32]; /* bytes of a started ,"usage":null match */
    unsigned npend;
    char lhead[5]; /* the current line's first bytes (up to 5): is it a `data:` line? */
    unsigned nlhead;
    size_t max_event_bytes;
    unsigned long hidden; /* usage-only events dropped (tests) */
} sy_usage_filter_t;

void sy_usage_filter_init(sy_usage_filter_t *f, size_t max_event_bytes);
void sy_usage_filter_dispose(sy_usage_filter_t *f);
/* Feeds upstream bytes; emits the client's bytes (any number of calls, in order). Returns the
 * AND of the emit results (true when nothing was emitted). */
bool sy_usage_filter_feed(sy_usage_filter_t *f, const char *p, size_t n,
                          sy_usage_filter_emit_cb emit, void *ctx);
/* End of stream: emits held bytes of an incomplete event unchanged. */
bool sy_usage_filter_finish(sy_usage_filter_t *f, sy_usage_filter_emit_cb emit, void *ctx);

#endif
