/* Response capture for the inference log: what the row needs from a response, cheaply.
 * docs/internals/CAPTURE.md has the rules and the measured costs.
 *
 * Two halves, so that the loop thread does almost nothing and the log writer thread parses:
 *  1. the tee (loop thread): sy_capture_feed is called with every response body byte sent to
 *     the client. It keeps the first max_head_bytes in a head buffer and, once the head is full,
 *     the LAST tail_bytes in a ring (usage comes at the end of a stream), counts all bytes, and
 *     runs a bounded first-token scan (memmem level) for TTFT. No JSON parsing, no SSE parsing.
 *  2. the extraction (writer thread): sy_capture_extract parses head + tail (OpenAI chat or
 *     Anthropic messages, JSON or SSE) into id, model, finish reason, assistant text, reasoning,
 *     tool calls and usage. Common stream events are read without a jansson tree (validated,
 *     then scanned); anything else per event by jansson, with identical results.
 *
 * Memory: the capture owns its head and ring (heap; the head grows up to max_head_bytes, the
 * ring is allocated at tail_bytes only when the head overflows). Total memory is bounded by
 * max_head_bytes + tail_bytes whatever the response size.
 * Threads: a capture is plain data with no thread affinity. Feed it on one thread; after the
 * last feed it may be moved (struct copy) to another thread, which extracts and disposes. */
#ifndef SY_LOGPIPE_CAPTURE_H
#define SY_LOGPIPE_CAPTURE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "providers/fmt.h"

/* Longest byte window the first-token scan looks at across a feed boundary. */
#define SY_CAPTURE_CARRY 48
/* The largest token count read from an upstream's usage: more is not a real call (a faulty or
 * hostile upstream) and is treated as absent, so sums of counts (prompt + cache parts, input +
 * output for token limits, tokens × price) cannot overflow. */
#define SY_CAPTURE_TOKENS_MAX INT64_C(1000000000000)

typedef struct sy_capture {
    sy_buf_t head;        /* first bytes of the body, up to head.max */
    char *ring;           /* last tail_max bytes after the head (NULL until the head is full) */
    size_t tail_max;      /* ring capacity */
    size_t ring_pos;      /* next write position in the ring */
    uint64_t tail_total;  /* bytes fed after the head was full */
    uint64_t total;       /* all bytes fed */
    int64_t first_offset; /* stream offset of the byte that completed the first-token
                             pattern; -1 until seen */
    size_t carry_len;     /* last bytes of the previous piece (first-token scan only) */
    char carry[SY_CAPTURE_CARRY];
} sy_capture_t;

/* Prepares an empty capture. max_head_bytes may be 0 (keep only the tail); tail_bytes may be 0
 * (keep only the head). Allocates nothing yet. */
void sy_capture_init(sy_capture_t *c, size_t max_head_bytes, size_t tail_bytes);

/* Tees n response body bytes. Returns true exactly once: for the piece whose bytes complete the
 * first occurrence of generated content (the caller stamps t_first_token then). The detector is
 * a byte-pattern heuristic, the same for every format (no JSON parse):
 *   - a key ending in `content":`, `tool_calls":` or `refusal":` (so also
 *     "reasoning_content") whose value, after optional spaces, is a non-empty string ('"'
 *     followed by something else than '"') or a non-empty array ('[' followed by something
 *     else than ']');
 *   - the bytes `content_block_delta` (an Anthropic stream delta event).
 * A raw '"' cannot occur inside a JSON string (it is escaped), so text that merely mentions
 * these keys does not match. Patterns split across feeds are found (a SY_CAPTURE_CARRY-byte
 * carry). Once found, feeds only copy. Cost: memcpy plus a scan of each piece until then. */
bool sy_capture_feed(sy_capture_t *c, const void *p, size_t n);

/* Frees the buffers; the capture may be initialised again. */
void sy_capture_dispose(sy_capture_t *c);

/* True when bytes were lost between the head and the tail (the response was larger than
 * max_head_bytes + tail_bytes). */
bool sy_capture_truncated(const sy_capture_t *c);

/* Response formats sy_capture_extract understands. */
#define SY_CAPTURE_OPENAI 0    /* OpenAI chat completions (chat.completion / chunk) */
#define SY_CAPTURE_ANTHROPIC 1 /* Anthropic messages (message / stream events) */

/* What the writer thread learns from a captured response. Owned heap memory: release with
 * sy_capture_result_dispose. Strings are NUL-terminated; NULL = absent. */
typedef struct sy_capture_result {
    char *id;             /* response id ("chatcmpl-…", "msg_…") */
    char *model;          /* model the upstream reported */
    char *finish_reason;  /* as the upstream wrote it: OpenAI finish_reason ("stop", "length",
                             "tool_calls", …), Anthropic stop_reason ("end_turn", "tool_use", …);
                             the last one seen wins */
    sy_buf_t text;        /* assistant text (choice 0; for streams the concatenated deltas) */
    sy_buf_t reasoning;   /* reasoning_content / reasoning deltas, Anthropic thinking */
    sy_buf_t tool_calls;  /* JSON array text, OpenAI shape
                             [{"id":..,"type":"function","function":{"name":..,"arguments":".."}}]
                             for both formats; len 0 when there are none */
    sy_fmt_usage_t usage; /* OpenAI semantics (providers/fmt.h), -1 = absent. Anthropic is
                             converted: prompt = input + cache_read + cache_creation */
    bool usage_found;     /* the upstream reported usage */
    bool truncated;       /* bytes were lost in the middle: text, reasoning and tool calls are
                             partial (what head and tail held) */
    bool parse_failed;    /* a non-stream body was incomplete or not the expected JSON */
    uint64_t total_bytes; /* bytes fed */
    uint32_t n_events;    /* SSE events seen (head + tail) */
    uint32_t n_bad;       /* SSE events whose data was not the expected JSON (skipped) */
    uint32_t n_slow;      /* documents (events, or the non-stream body) read by jansson because
                             the fast path declined them (or sy_capture_extract_slow: all);
                             invalid JSON counts too. Diagnostics, not part of the row */
} sy_capture_result_t;

/* Parses what c holds. format: SY_CAPTURE_OPENAI or SY_CAPTURE_ANTHROPIC; sse: the body is an
 * event stream. Never fails: what cannot be read is left absent (n_bad / parse_failed say why).
 * When bytes were lost, the head is parsed up to its last complete event, and the tail from its
 * first event boundary (it may start mid-event); a non-stream body is then not parsed, except
 * that a top-level "usage" object found whole in the tail is still read.
 * Any thread; c is not modified. out is initialised by the call (dispose it afterwards). */
void sy_capture_extract(const sy_capture_t *c, int format, bool sse, sy_capture_result_t *out);

/* sy_capture_extract without the fast path: every event through jansson. The reference the
 * differential test compares sy_capture_extract with (same contract); not for production use. */
void sy_capture_extract_slow(const sy_capture_t *c, int format, bool sse, sy_capture_result_t *out);

void sy_capture_result_dispose(sy_capture_result_t *r);

/* Token estimate for text the upstream gave no usage for: ceil(len / 4) bytes, the rule the mock
 * provider uses (4 bytes a token). Deterministic; 0 for empty text. */
int64_t sy_capture_estimate_tokens(const char *text, size_t len);

#endif
