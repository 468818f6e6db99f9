/* Instruction-count driver for the OpenAI -> Anthropic request translation (not a test; not run
 * by `make test` or bench/run.sh). Translates one body N times so that callgrind's total,
 * minus a run with N = 0, divided by N is the cost of one translation:
 *
 *   cmake -S . -B build -DSY_BENCH=ON && cmake --build build --target sy_bench_xlate_req
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
 *       build/bench/xlate_req bench/chat-1k.json 1000
 *   (and the same with 0; the difference / 1000 is the per-request figure) */
#include <stdio.h>
#include <stdlib.h>

#include "providers/anthropic_fmt.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: xlate_req BODY.json N\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    static char body[1 << 20];
    size_t len = fread(body, 1, sizeof body, f);
    fclose(f);
    long n = atol(argv[2]);
    sy_fmt_req_opts_t o = {.upstream_model = "claude-sonnet-4-5", .default_max_tokens = 4096};
    size_t total = 0;
    for (long i = 0; i < n; i++) {
        sy_fmt_req_t r;
        if (sy_anthropic_fmt_request(body, len, &o, &r)) {
            fprintf(stderr, "translation failed: %s\n", r.err_msg);
            return 1;
        }
        total += r.len;
        free(r.body);
    }
    printf("%ld translations, %zu output bytes\n", n, total);
    return 0;
}
