/* Instruction-count driver for the inference-log capture (src/logpipe/capture.c; not a test, not
 * run by `make test` or bench/run.sh). Mode "feed": N times, one 20-chunk stream in the mock
 * provider's exact frames (role chunk, 20 content chunks, finish + usage + [DONE]) fed one frame
 * per call, as the relay would, with init and dispose: the loop thread's cost. Mode "extract":
 * N extractions of that captured stream: the writer thread's cost (mode "extract-slow": the same
 * without the fast path, every event through jansson). Mode "filter": N times the same stream
 * through the relay's usage filter (src/api/usage_filter.c: the usage the gateway asked for is
 * hidden from the client), one feed per frame, init to dispose. Modes "reply" / "reply-slow":
 * N extractions of the mock provider's non-streamed OpenAI reply (595 bytes, one feed), with
 * and without the fast path; "reply-anthropic" / "reply-anthropic-slow": the same for an
 * Anthropic message with a text block and a tool_use block; "reply-small" / "reply-small-slow":
 * bench/mock_upstream.c's 272-byte reply, the one scenario (g) of bench/run.sh logs. Callgrind's
 * total minus a run with N = 0, divided by N, is the per-stream figure:
 *
 *   cmake -S . -B build -DSY_BENCH=ON && cmake --build build --target sy_bench_capture_feed
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null build/bench/capture_feed feed 1000
 *   (and the same with 0; the difference / 1000 is the per-stream figure) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/usage_filter.h"
#include "core/buf.h"
#include "core/json.h"
#include "logpipe/capture.h"

#define PREFIX                                                                                     \
    "{\"id\":\"chatcmpl-0192abcd0192ab12\",\"object\":\"chat.completion.chunk\",\"created\":"      \
    "1741569952,\"model\":\"mock-1\",\"service_tier\":\"default\",\"system_fingerprint\":null,"    \
    "\"choices\":"

static void frame(sy_buf_t *b, const char *delta, const char *finish)
{
    sy_buf_printf(b,
                  "data: " PREFIX "[{\"index\":0,\"delta\":%s,\"logprobs\":null,"
                  "\"finish_reason\":%s}],\"usage\":null}\n\n",
                  delta, finish);
}

static bool count_bytes(void *ctx, const char *p, size_t n)
{
    (void)p;
    *(size_t *)ctx += n;
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: capture_feed feed|extract|extract-slow|filter|reply|reply-slow|"
                        "reply-anthropic|reply-anthropic-slow|reply-small|reply-small-slow N\n");
        return 2;
    }
    bool one_reply = !strncmp(argv[1], "reply", 5);
    bool anthropic = !strncmp(argv[1], "reply-anthropic", 15);
    /* reply-small, reply-small-slow: see small_reply below */
    size_t ml = strlen(argv[1]);
    bool slow = ml > 5 && !strcmp(argv[1] + ml - 5, "-slow");
    bool extract = one_reply || !strcmp(argv[1], "extract") || !strcmp(argv[1], "extract-slow");
    bool filter = !strcmp(argv[1], "filter");
    size_t emitted = 0;
    long n = atol(argv[2]);
    static const char reply[] = "You said: Write a haiku about load balancers, in twenty "
                                "pieces, so that every chunk carries a few words of text.";
    sy_buf_t pieces[22];
    for (int i = 0; i < 22; i++)
        sy_buf_init(&pieces[i], 1 << 16);
    frame(&pieces[0], "{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}", "null");
    size_t len = sizeof reply - 1, prev = 0;
    for (int k = 1; k <= 20; k++) {
        size_t c = len * (size_t)k / 20;
        sy_buf_t d;
        sy_buf_init(&d, 1 << 16);
        sy_buf_append_c(&d, "{\"content\":");
        sy_json_append_string(&d, reply + prev, c - prev);
        sy_buf_append(&d, "}", 2);
        frame(&pieces[k], d.base, "null");
        sy_buf_dispose(&d);
        prev = c;
    }
    frame(&pieces[21], "{}", "\"stop\"");
    sy_buf_append_c(&pieces[21],
                    "data: " PREFIX "[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":"
                    "26,\"total_tokens\":38,\"prompt_tokens_details\":{\"cached_tokens\":0,"
                    "\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,"
                    "\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
                    "\"rejected_prediction_tokens\":0}}}\n\ndata: [DONE]\n\n");
    size_t bytes = 0;
    for (int i = 0; i < 22; i++)
        bytes += pieces[i].len;

    /* the mock's non-stream reply (src/providers/mock.c) and an Anthropic message */
    static const char openai_reply[] =
        "{\"id\":\"chatcmpl-0192abcd0192ab12\",\"object\":\"chat.completion\",\"created\":"
        "1741569952,\"model\":\"mock-1\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
        "\"assistant\",\"content\":\"You said: Write a haiku about load balancers.\",\"refusal\":"
        "null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{"
        "\"prompt_tokens\":12,\"completion_tokens\":11,\"total_tokens\":23,"
        "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
        "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},\"service_tier\":"
        "\"default\",\"system_fingerprint\":null}";
    static const char anthropic_reply[] =
        "{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"claude-sonnet-4-5\",\"content\":[{\"type\":\"text\",\"text\":\"I will check "
        "the weather in Paris.\"},{\"type\":\"tool_use\",\"id\":\"toolu_01A09q90qw90lq917835lq9\","
        "\"name\":\"get_weather\",\"input\":{\"location\":\"Paris, France\",\"unit\":"
        "\"celsius\"}}],\"stop_reason\":\"tool_use\",\"stop_sequence\":null,\"usage\":{"
        "\"input_tokens\":472,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
        "\"output_tokens\":89}}";
    /* bench/mock_upstream.c's reply: what scenario (g) of bench/run.sh logs */
    static const char small_reply[] =
        "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1700000000,"
        "\"model\":\"bench\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":\"Hello from the bench mock.\"},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,\"total_tokens\":11}}";
    bool small = !strncmp(argv[1], "reply-small", 11);
    const char *one = anthropic ? anthropic_reply : small ? small_reply : openai_reply;
    if (one_reply) bytes = strlen(one);

    long firsts = 0, found = 0;
    sy_capture_t keep;
    sy_capture_init(&keep, 64 << 10, 16 << 10);
    if (one_reply)
        sy_capture_feed(&keep, one, strlen(one));
    else
        for (int i = 0; i < 22; i++)
            sy_capture_feed(&keep, pieces[i].base, pieces[i].len);
    int fmt = anthropic ? SY_CAPTURE_ANTHROPIC : SY_CAPTURE_OPENAI;
    for (long it = 0; it < n; it++) {
        if (filter) {
            sy_usage_filter_t f;
            sy_usage_filter_init(&f, 1u << 20);
            for (int i = 0; i < 22; i++)
                sy_usage_filter_feed(&f, pieces[i].base, pieces[i].len, count_bytes, &emitted);
            sy_usage_filter_finish(&f, count_bytes, &emitted);
            found += (long)f.hidden;
            sy_usage_filter_dispose(&f);
            continue;
        }
        if (extract) {
            sy_capture_result_t r;
            if (slow)
                sy_capture_extract_slow(&keep, fmt, !one_reply, &r);
            else
                sy_capture_extract(&keep, fmt, !one_reply, &r);
            found += r.usage_found;
            sy_capture_result_dispose(&r);
            continue;
        }
        sy_capture_t c;
        sy_capture_init(&c, 64 << 10, 16 << 10);
        for (int i = 0; i < 22; i++)
            firsts += sy_capture_feed(&c, pieces[i].base, pieces[i].len);
        sy_capture_dispose(&c);
    }
    printf("%ld %s, %s of %zu bytes in %d feeds, first tokens %ld, usage found %ld, "
           "filtered bytes out %zu\n",
           n, argv[1], one_reply ? "reply" : "stream", bytes, one_reply ? 1 : 22, firsts, found,
           emitted);
    sy_capture_dispose(&keep);
    for (int i = 0; i < 22; i++)
        sy_buf_dispose(&pieces[i]);
    return 0;
}
