/* A throwaway redis-server for tests, on a free loopback port, no persistence, in a fresh /tmp
 * dir. Header-only:
 *
 *   sy_test_redis_t rs;
 *   if (sy_test_redis_start(&rs, 0, NULL)) fail...;  // never skip: a missing server fails
 *   ... 127.0.0.1:rs.port ...
 *   sy_test_redis_stop(&rs);                     // by its PID
 *
 * The child gets PR_SET_PDEATHSIG, so the server dies with the test process. */
#ifndef SY_TESTS_REDIS_SERVER_H
#define SY_TESTS_REDIS_SERVER_H
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct sy_test_redis {
    char dir[64];
    int port;
    pid_t pid;
} sy_test_redis_t;

static inline int sy_test_redis_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

/* Runs one command on a short-lived blocking connection (tests only), after AUTH when password
 * is set. 0 or -1. */
static inline int sy_test_redis_cmd_auth(int port, const char *password, const char *cmd)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    int rc = -1;
    if (c && !c->err && password) {
        redisReply *r = redisCommand(c, "AUTH %s", password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            redisFree(c);
            c = NULL;
        }
        if (r) freeReplyObject(r);
    }
    if (c && !c->err) {
        redisReply *r = redisCommand(c, cmd);
        rc = r && r->type != REDIS_REPLY_ERROR ? 0 : -1;
        if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    return rc;
}

static inline int sy_test_redis_cmd(int port, const char *cmd)
{
    return sy_test_redis_cmd_auth(port, NULL, cmd);
}

/* Starts a server (on port, or a free one when 0; requiring password when not NULL). 0 on
 * success; -1 with the reason on stderr. */
static inline int sy_test_redis_start(sy_test_redis_t *rs, int port, const char *password)
{
    memset(rs, 0, sizeof(*rs));
    rs->port = port ? port : sy_test_redis_free_port();
    snprintf(rs->dir, sizeof rs->dir, "/tmp/sy-redis-XXXXXX");
    if (rs->port <= 0 || !mkdtemp(rs->dir)) {
        perror("sy_test_redis_start");
        return -1;
    }
    char p[16], log[96];
    snprintf(p, sizeof p, "%d", rs->port);
    snprintf(log, sizeof log, "%s/redis.log", rs->dir);
    pid_t parent = getpid();
    rs->pid = fork();
    if (rs->pid < 0) {
        perror("sy_test_redis_start: fork");
        return -1;
    }
    if (rs->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        const char *argv[] = {
            "redis-server", "--port",    p,       "--bind",
            "127.0.0.1",    "--save",    "",      "--appendonly",
            "no",           "--dir",     rs->dir, "--daemonize",
            "no",           "--logfile", log,     password ? "--requirepass" : NULL,
            password,       NULL};
        execvp("redis-server", (char *const *)argv);
        perror("sy_test_redis_start: exec redis-server");
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        if (sy_test_redis_cmd_auth(rs->port, password, "PING") == 0) return 0;
        int st;
        if (waitpid(rs->pid, &st, WNOHANG) == rs->pid) {
            fprintf(stderr, "sy_test_redis_start: redis-server exited (status %d)\n", st);
            rs->pid = 0;
            return -1;
        }
        usleep(50000);
    }
    fprintf(stderr, "sy_test_redis_start: redis-server on port %d did not answer\n", rs->port);
    return -1;
}

static inline void sy_test_redis_stop(sy_test_redis_t *rs)
{
    if (rs->pid > 0) {
        kill(rs->pid, SIGTERM);
        waitpid(rs->pid, NULL, 0);
        rs->pid = 0;
    }
    if (rs->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", rs->dir);
        if (system(cmd) != 0) fprintf(stderr, "sy_test_redis_stop: could not remove %s\n", rs->dir);
        rs->dir[0] = '\0';
    }
}

#endif
