/* Instruction-count driver for the Anthropic Messages ingress (api/messages_fmt.c), not a test:
 * translates a request body, the mock provider's exact non-streamed reply and the mock's exact
 * chunk stream (role chunk, `frames` content chunks, finish chunk, usage chunk, [DONE]) N times.
 *
 *   xlate_messages [N=1000] [request|response|stream|all] [frames=20, max 200] [BODY.json]
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out build/bench/xlate_messages 1000 stream
 *   callgrind_annotate --inclusive=yes cg.out | grep -E 'sy_messages_(fmt_request|fmt_response|
 *       stream_event)'
 *
 * The default request is bench/messages-1k.json. Prints a checksum of the output so the work
 * cannot be optimised away. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/messages_fmt.h"

#define MAX_FRAMES 200

/* The mock's chunk head (src/providers/mock.c chunk_prefix) for a model named "mock-model". */
#define HEAD                                                                                       \
    "{\"id\":\"chatcmpl-01a206d0574b76e8\",\"object\":\"chat.completion.chunk\","                  \
    "\"created\":1795410646,\"model\":\"mock-model\",\"service_tier\":\"default\","                \
    "\"system_fingerprint\":null,\"choices\":"

static const char reply[] =
    "{\"id\":\"chatcmpl-01a206d05765773f\",\"object\":\"chat.completion\",\"created\":1795410646,"
    "\"model\":\"mock-model\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"You said: Hello there\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":6,"
    "\"total_tokens\":9,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
    "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
    "\"service_tier\":\"default\",\"system_fingerprint\":null}";

static char events[MAX_FRAMES + 4][640];

static size_t render_events(unsigned frames)
{
    size_t k = 0;
    snprintf(events[k++], sizeof events[0], "%s",
             HEAD "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
                  "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}");
    for (unsigned i = 0; i < frames; i++)
        snprintf(events[k++], sizeof events[0],
                 HEAD "[{\"index\":0,\"delta\":{\"content\":\"seq=%u \"},\"logprobs\":null,"
                      "\"finish_reason\":null}],\"usage\":null}",
                 i);
    snprintf(events[k++], sizeof events[0], "%s",
             HEAD "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                  "\"usage\":null}");
    snprintf(events[k++], sizeof events[0],
             HEAD "[],\"usage\":{\"prompt_tokens\":25,\"completion_tokens\":%u,"
                  "\"total_tokens\":%u,\"prompt_tokens_details\":{\"cached_tokens\":0,"
                  "\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,"
                  "\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
                  "\"rejected_prediction_tokens\":0}}}",
             frames, 25 + frames);
    snprintf(events[k++], sizeof events[0], "%s", "[DONE]");
    return k;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    static char body[1 << 20];
    *len = fread(body, 1, sizeof body, f);
    fclose(f);
    return body;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    const char *mode = argc > 2 ? argv[2] : "all";
    unsigned frames = argc > 3 ? (unsigned)atoi(argv[3]) : 20;
    if (frames > MAX_FRAMES) frames = MAX_FRAMES;
    size_t body_len;
    char *body = read_file(argc > 4 ? argv[4] : "bench/messages-1k.json", &body_len);
    bool all = strcmp(mode, "all") == 0;
    bool do_req = all || strcmp(mode, "request") == 0;
    bool do_resp = all || strcmp(mode, "response") == 0;
    bool do_stream = all || strcmp(mode, "stream") == 0;
    size_t n_events = render_events(frames);
    sy_fmt_resp_opts_t o = {"req-bench", 1700000000, "mock-model", true};
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    unsigned long sum = 0;
    for (long r = 0; r < n; r++) {
        if (do_req) {
            sy_fmt_req_t t;
            if (sy_messages_fmt_request(body, body_len, &t)) {
                fprintf(stderr, "request: %s\n", t.err_msg);
                return 1;
            }
            sum += t.len;
            free(t.body);
        }
        if (do_resp) {
            sy_buf_reset(&out);
            if (sy_messages_fmt_response(reply, sizeof reply - 1, &o, &out, NULL)) {
                fprintf(stderr, "response: error\n");
                return 1;
            }
            sum += out.len;
        }
        if (do_stream) {
            sy_messages_stream_t *s = sy_messages_stream_new(&o);
            for (size_t i = 0; i < n_events; i++) {
                sy_buf_reset(&out);
                sy_err_t err = sy_messages_stream_event(s, sy_str_c(events[i]), &out);
                if (err) {
                    fprintf(stderr, "stream event %zu: error %d\n", i, err);
                    return 1;
                }
                sum += out.len;
            }
            sy_buf_reset(&out);
            if (sy_messages_stream_finish(s, &out)) return 1;
            sy_messages_stream_free(s);
        }
    }
    printf("%lu\n", sum);
    sy_buf_dispose(&out);
    return 0;
}
