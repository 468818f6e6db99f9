/* Translation-lane micro driver for callgrind: feeds the bench mock's exact Anthropic replies
 * (bench/mock_upstream.c --format anthropic, 20 text_delta frames) through the response and
 * stream translators N times.
 *
 *   xlate_anthropic [N=1000] [stream|response|both] [include_usage 0|1] [frames=20, max 200]
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out build/bench/xlate_anthropic 1000
 *   callgrind_annotate --inclusive=yes cg.out | grep -E 'sy_anthropic_(stream_event|fmt_response)'
 *
 * Prints a checksum of the output so the work cannot be optimised away. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/anthropic_fmt.h"

#define MAX_FRAMES 200

static unsigned frames = 20;

static const char reply[] =
    "{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\","
    "\"model\":\"claude-bench\",\"content\":[{\"type\":\"text\","
    "\"text\":\"Hello from the bench mock.\"}],\"stop_reason\":\"end_turn\","
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":6}}";

typedef struct {
    const char *type;
    char data[256];
} event_t;

static event_t events[MAX_FRAMES + 5];

static size_t render_events(void)
{
    size_t k = 0;
    events[k].type = "message_start";
    snprintf(events[k++].data, sizeof events[0].data, "%s",
             "{\"type\":\"message_start\",\"message\":"
             "{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\","
             "\"model\":\"claude-bench\",\"content\":[],\"stop_reason\":null,"
             "\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}");
    events[k].type = "content_block_start";
    snprintf(events[k++].data, sizeof events[0].data, "%s",
             "{\"type\":\"content_block_start\",\"index\":0,"
             "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
    for (unsigned i = 0; i < frames; i++) {
        events[k].type = "content_block_delta";
        snprintf(events[k++].data, sizeof events[0].data,
                 "{\"type\":\"content_block_delta\","
                 "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"seq=%u \"}}",
                 i);
    }
    events[k].type = "content_block_stop";
    snprintf(events[k++].data, sizeof events[0].data, "%s",
             "{\"type\":\"content_block_stop\",\"index\":0}");
    events[k].type = "message_delta";
    snprintf(events[k++].data, sizeof events[0].data,
             "{\"type\":\"message_delta\",\"delta\":"
             "{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
             "\"usage\":{\"output_tokens\":%u}}",
             frames);
    events[k].type = "message_stop";
    snprintf(events[k++].data, sizeof events[0].data, "%s", "{\"type\":\"message_stop\"}");
    return k;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    const char *mode = argc > 2 ? argv[2] : "both";
    bool include_usage = argc > 3 && atoi(argv[3]);
    if (argc > 4) frames = (unsigned)atoi(argv[4]);
    if (frames > MAX_FRAMES) frames = MAX_FRAMES;
    bool do_stream = strcmp(mode, "response") != 0, do_resp = strcmp(mode, "stream") != 0;
    size_t n_events = render_events();
    sy_fmt_resp_opts_t o = {"chatcmpl-bench", 1700000000, "claude-bench", include_usage};
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    unsigned long sum = 0;
    for (long r = 0; r < n; r++) {
        if (do_stream) {
            sy_anthropic_stream_t *s = sy_anthropic_stream_new(&o);
            for (size_t i = 0; i < n_events; i++) {
                sy_buf_reset(&out);
                sy_err_t err = sy_anthropic_stream_event(s, sy_str_c(events[i].type),
                                                         sy_str_c(events[i].data), &out);
                if (err) {
                    fprintf(stderr, "stream event %zu: error %d\n", i, err);
                    return 1;
                }
                sum += out.len;
            }
            sy_anthropic_stream_free(s);
        }
        if (do_resp) {
            sy_buf_reset(&out);
            sy_fmt_usage_t u;
            if (sy_anthropic_fmt_response(reply, sizeof reply - 1, &o, &out, &u)) {
                fprintf(stderr, "response: error\n");
                return 1;
            }
            sum += out.len;
        }
    }
    printf("%lu\n", sum);
    sy_buf_dispose(&out);
    return 0;
}
