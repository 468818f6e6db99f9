/* A throwaway clickhouse-server for the end-to-end tests (node), through ch_server.h: starts it
 * on free loopback ports in a temp dir, creates the database `e2e`, prints
 *   CH_HTTP_PORT=<port>
 *   CH_PID=<pid>
 *   ready
 * then obeys one command per line on stdin: `halt` (stop the server, keep its data and ports;
 * answers `halted`), `start` (start it again on them; answers `started CH_PID=<pid>` or
 * `error <reason>`). At EOF on stdin (the test ended, or died) the server is stopped and its dir
 * removed; the server also gets SIGTERM if this process dies (PR_SET_PDEATHSIG). */
#include <stdio.h>
#include <string.h>

#include "ch_server.h"

int main(void)
{
    sy_test_ch_t ch;
    char err[256], line[64];
    if (sy_test_ch_start(&ch, err, sizeof(err)) ||
        sy_test_ch_query(&ch, "CREATE DATABASE e2e", err, sizeof(err))) {
        fprintf(stderr, "ch_server: %s\n", err);
        sy_test_ch_stop(&ch);
        return 1;
    }
    printf("CH_HTTP_PORT=%d\nCH_PID=%d\nready\n", ch.http_port, (int)ch.pid);
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) {
        if (!strncmp(line, "halt", 4)) {
            sy_test_ch_halt(&ch);
            printf("halted\n");
        } else if (!strncmp(line, "start", 5)) {
            if (sy_test_ch_spawn(&ch, err, sizeof(err)))
                printf("error %s\n", err);
            else
                printf("started CH_PID=%d\n", (int)ch.pid);
        } else {
            printf("error unknown command\n");
        }
        fflush(stdout);
    }
    sy_test_ch_stop(&ch);
    return 0;
}
