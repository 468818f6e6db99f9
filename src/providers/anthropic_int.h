/* Private to providers/anthropic_fmt.c and providers/anthropic_faststream.c (and their unit
 * tests): the stream state both translate with, the small helpers both need, and the two
 * translators' entry points.
 *
 * sy_anthropic_fmt_response and sy_anthropic_stream_event (anthropic_fmt.h) first try the fast
 * paths below; when a fast path declines, the jansson translators (the *_slow functions) run. A
 * fast path either produces exactly the bytes, return code and state change the slow path would
 * produce, or declines without touching anything. Thread: as fmt.h (any; one stream per
 * thread). */
#ifndef SY_PROVIDERS_ANTHROPIC_INT_H
#define SY_PROVIDERS_ANTHROPIC_INT_H
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "providers/anthropic_fmt.h"

/* Kinds of content blocks seen in a stream. */
enum { B_OTHER, B_TEXT, B_THINKING, B_TOOL, B_FORMAT };

typedef struct block {
    int64_t index; /* Anthropic's content block index */
    int kind;
    int tool; /* B_TOOL: OpenAI tool_calls index */
} block_t;

/* Anthropic's raw counts; the cache buckets are not part of input_tokens. */
typedef struct raw_usage {
    int64_t input, output, cache_read, cache_write;
} raw_usage_t;

struct sy_anthropic_stream {
    int64_t created;
    bool include_usage;
    char *id;
    char *model;
    char *prefix;    /* "{"id":..,"object":..,"created":..,"model":..," of every chunk */
    char *head;      /* fast path: "data: " prefix "\"choices\":[{\"index\":0,\"delta\":"; */
    size_t head_len; /*   NULL whenever prefix is (re)set to NULL */
    bool started;    /* role chunk sent */
    bool finished;   /* finish_reason chunk sent */
    bool done;
    int n_tools; /* real tool calls so far */
    block_t *blocks;
    size_t n_blocks, cap_blocks;
    raw_usage_t raw;
    sy_fmt_usage_t usage;
};

/* Anthropic stop_reason (NULL if absent) -> OpenAI finish_reason. */
static inline const char *sy_anthropic_finish_reason(const char *stop_reason, bool tool_calls)
{
    if (!stop_reason) return "stop";
    if (!strcmp(stop_reason, "max_tokens")) return "length";
    if (!strcmp(stop_reason, "tool_use")) return tool_calls ? "tool_calls" : "stop";
    if (!strcmp(stop_reason, "refusal")) return "content_filter";
    /* end_turn, stop_sequence, pause_turn and anything new */
    return "stop";
}

static inline sy_fmt_usage_t sy_anthropic_map_usage(const raw_usage_t *r)
{
    sy_fmt_usage_t u = SY_FMT_USAGE_UNKNOWN;
    u.prompt_tokens = r->input + r->cache_read + r->cache_write;
    u.completion_tokens = r->output;
    u.cached_tokens = r->cache_read;
    u.cache_write_tokens = r->cache_write;
    return u; /* reasoning_tokens stays -1: Anthropic does not count thinking apart */
}

/* Appends a new block to s->blocks. */
void sy_anthropic_stream_push_block(sy_anthropic_stream_t *s, block_t b);
/* The most recent block with this index, or NULL. */
block_t *sy_anthropic_stream_find_block(sy_anthropic_stream_t *s, int64_t index);

/* The jansson translators: same contracts as sy_anthropic_fmt_response /
 * sy_anthropic_stream_event. Exposed for the differential tests. */
sy_err_t sy_anthropic_fmt_response_slow(const char *body, size_t len, const sy_fmt_resp_opts_t *o,
                                        sy_buf_t *out, sy_fmt_usage_t *usage);
sy_err_t sy_anthropic_stream_event_slow(sy_anthropic_stream_t *s, sy_str_t type, sy_str_t data,
                                        sy_buf_t *out);

/* Fast paths (anthropic_faststream.c). Return true when they handled the input, with *err set
 * to the result; false when the slow path must run (out, *usage and s are then untouched). */
bool sy_anthropic_fast_response(const char *body, size_t len, const sy_fmt_resp_opts_t *o,
                                sy_buf_t *out, sy_fmt_usage_t *usage, sy_err_t *err);
bool sy_anthropic_fast_event(sy_anthropic_stream_t *s, sy_str_t type, sy_str_t data, sy_buf_t *out,
                             sy_err_t *err);

#endif
