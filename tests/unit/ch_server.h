/* A throwaway clickhouse-server for tests: started by the test on loopback, in a temp dir, on
 * free ports, stopped by PID. Header-only (static functions) so any test can include it.
 *
 *   sy_test_ch_t ch;
 *   if (sy_test_ch_start(&ch, err, sizeof(err))) fail;      // never skip: a missing server fails
 *   sy_test_ch_query(&ch, "CREATE DATABASE x", err, sizeof(err));
 *   ... clickhouse://127.0.0.1:<ch.http_port>/x ...
 *   sy_test_ch_stop(&ch);                                     // SIGTERM, wait, rm -rf the dir
 *
 * The config (generated in the dir) sets every listening port (http, tcp, interserver) so
 * nothing collides with a system server or another test. When run as root the server runs as
 * the `clickhouse` user the Debian package creates (the dir is chowned to it). The child gets
 * PR_SET_PDEATHSIG so a crashed test does not leave a server behind. Startup waits on GET /ping
 * with a bounded timeout (SY_TEST_CH_START_MS). The binary: $SY_CLICKHOUSE_SERVER or
 * /usr/sbin/clickhouse-server (scripts/deps.sh test installs it). */
#ifndef SY_TESTS_CH_SERVER_H
#define SY_TESTS_CH_SERVER_H
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SY_TEST_CH_START_MS 20000

typedef struct sy_test_ch {
    pid_t pid;
    int http_port, tcp_port, interserver_port;
    char dir[128];
} sy_test_ch_t;

static int sy_test_ch_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &n) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static size_t sy_test_ch_sink(char *p, size_t size, size_t n, void *ud)
{
    char *out = ud; /* keep the first bytes of the reply for error messages */
    if (out) {
        size_t have = strlen(out), k = size * n;
        if (have + k > 255) k = have < 255 ? 255 - have : 0;
        memcpy(out + have, p, k);
        out[have + k] = '\0';
    }
    return size * n;
}

/* POSTs sql to the server's HTTP interface. 0 on HTTP 200; else -1 with the reason in err. */
static int sy_test_ch_query(const sy_test_ch_t *ch, const char *sql, char *err, size_t errlen)
{
    char url[64], body[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ch->http_port);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, sql);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sy_test_ch_sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, (void *)body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    if (rc == CURLE_OK && code == 200) return 0;
    snprintf(err, errlen, "clickhouse %s: %s", rc ? curl_easy_strerror(rc) : "HTTP error", body);
    return -1;
}

static int sy_test_ch_ping(const sy_test_ch_t *ch)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ping", ch->http_port);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sy_test_ch_sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, (void *)NULL);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    return rc == CURLE_OK && code == 200 ? 0 : -1;
}

static int sy_test_ch_write_config(const sy_test_ch_t *ch)
{
    char path[192];
    snprintf(path, sizeof(path), "%s/config.xml", ch->dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    /* users, profiles and quotas live in the same file (users_config points at it) */
    fprintf(f,
            "<?xml version=\"1.0\"?>\n<yandex>\n"
            "  <logger><level>warning</level><log>%1$s/server.log</log>"
            "<errorlog>%1$s/server.err.log</errorlog></logger>\n"
            "  <listen_host>127.0.0.1</listen_host>\n"
            "  <http_port>%2$d</http_port>\n  <tcp_port>%3$d</tcp_port>\n"
            "  <interserver_http_port>%4$d</interserver_http_port>\n"
            "  <path>%1$s/data/</path>\n  <tmp_path>%1$s/tmp/</tmp_path>\n"
            "  <user_files_path>%1$s/user_files/</user_files_path>\n"
            "  <format_schema_path>%1$s/format_schemas/</format_schema_path>\n"
            "  <mark_cache_size>67108864</mark_cache_size>\n"
            "  <uncompressed_cache_size>67108864</uncompressed_cache_size>\n"
            "  <max_concurrent_queries>100</max_concurrent_queries>\n"
            "  <users_config>%1$s/config.xml</users_config>\n"
            "  <default_profile>default</default_profile>\n"
            "  <default_database>default</default_database>\n"
            "  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default>"
            "</profiles>\n"
            "  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>"
            "<profile>default</profile><quota>default</quota></default></users>\n"
            "  <quotas><default></default></quotas>\n"
            "</yandex>\n",
            ch->dir, ch->http_port, ch->tcp_port, ch->interserver_port);
    return fclose(f) == 0 ? 0 : -1;
}

static void sy_test_ch_rmdir(const char *dir)
{
    char cmd[192];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static long sy_test_ch_ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void sy_test_ch_halt(sy_test_ch_t *ch);

static void sy_test_ch_stop(sy_test_ch_t *ch)
{
    sy_test_ch_halt(ch);
    if (ch->dir[0]) sy_test_ch_rmdir(ch->dir);
    ch->dir[0] = '\0';
}

/* Starts clickhouse-server on the dir, ports and config.xml already in ch (by sy_test_ch_try,
 * or kept by sy_test_ch_halt); waits for /ping. */
static int sy_test_ch_spawn(sy_test_ch_t *ch, char *err, size_t errlen)
{
    const char *bin = getenv("SY_CLICKHOUSE_SERVER");
    if (!bin || !*bin) bin = "/usr/sbin/clickhouse-server";
    uid_t uid = 0;
    gid_t gid = 0;
    if (geteuid() == 0) { /* do not run a server as root: use the package's user */
        struct passwd *pw = getpwnam("clickhouse");
        if (!pw) {
            snprintf(err, errlen, "running as root and no 'clickhouse' user to run the server");
            return -1;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
        if (chown(ch->dir, uid, gid)) {
            snprintf(err, errlen, "chown %s: %s", ch->dir, strerror(errno));
            return -1;
        }
        char cfg[192];
        snprintf(cfg, sizeof(cfg), "%s/config.xml", ch->dir);
        if (chown(cfg, uid, gid)) {
            snprintf(err, errlen, "chown %s: %s", cfg, strerror(errno));
            return -1;
        }
    }
    char cfgarg[224], out[192];
    snprintf(cfgarg, sizeof(cfgarg), "--config-file=%s/config.xml", ch->dir);
    snprintf(out, sizeof(out), "%s/stdout.log", ch->dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (uid && (setgroups(0, NULL) || setgid(gid) || setuid(uid))) _exit(126);
        /* after setuid: a credential change clears the parent-death signal */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(125);
        if (chdir(ch->dir) != 0) _exit(124);
        execl(bin, bin, cfgarg, (char *)NULL);
        _exit(127);
    }
    ch->pid = pid;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (sy_test_ch_ping(ch) == 0) return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            ch->pid = 0;
            snprintf(err, errlen, "clickhouse-server exited (status %d) during startup: see %s", st,
                     out);
            return -1;
        }
        if (sy_test_ch_ms_since(&t0) > SY_TEST_CH_START_MS) {
            snprintf(err, errlen, "clickhouse-server did not answer /ping within %d ms: see %s",
                     SY_TEST_CH_START_MS, out);
            return -1;
        }
        usleep(25000);
    }
}

/* Stops the server (SIGTERM, then SIGKILL after 15 s) but keeps its dir, ports and data:
 * sy_test_ch_spawn starts it again on the same ones (a store outage for tests). */
static void sy_test_ch_halt(sy_test_ch_t *ch)
{
    if (ch->pid <= 0) return;
    kill(ch->pid, SIGTERM);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int st;
    while (waitpid(ch->pid, &st, WNOHANG) == 0) {
        if (sy_test_ch_ms_since(&t0) > 15000) {
            kill(ch->pid, SIGKILL);
            waitpid(ch->pid, &st, 0);
            break;
        }
        usleep(20000);
    }
    ch->pid = 0;
}

/* One attempt on fresh ports. */
static int sy_test_ch_try(sy_test_ch_t *ch, char *err, size_t errlen)
{
    const char *bin = getenv("SY_CLICKHOUSE_SERVER");
    if (!bin || !*bin) bin = "/usr/sbin/clickhouse-server";
    if (access(bin, X_OK) != 0) {
        snprintf(err, errlen, "%s not found: run scripts/deps.sh test (clickhouse-server)", bin);
        return -1;
    }
    snprintf(ch->dir, sizeof(ch->dir), "/tmp/sy-ch-XXXXXX");
    if (!mkdtemp(ch->dir)) {
        snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
        ch->dir[0] = '\0';
        return -1;
    }
    ch->http_port = sy_test_ch_free_port();
    ch->tcp_port = sy_test_ch_free_port();
    ch->interserver_port = sy_test_ch_free_port();
    if (ch->http_port < 0 || ch->tcp_port < 0 || ch->interserver_port < 0 ||
        ch->http_port == ch->tcp_port || ch->tcp_port == ch->interserver_port ||
        ch->http_port == ch->interserver_port || sy_test_ch_write_config(ch)) {
        snprintf(err, errlen, "could not pick ports or write %s/config.xml", ch->dir);
        return -1;
    }
    return sy_test_ch_spawn(ch, err, errlen);
}

/* Starts a server; 0 when /ping answers. A port taken between picking and binding is retried
 * with new ports (3 attempts). On failure the dir of the last attempt is kept for its logs. */
static int sy_test_ch_start(sy_test_ch_t *ch, char *err, size_t errlen)
{
    memset(ch, 0, sizeof(*ch));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int attempt = 0; attempt < 3; attempt++) {
        if (sy_test_ch_try(ch, err, errlen) == 0) return 0;
        if (ch->pid > 0) { /* hung: stop it, keep nothing running */
            kill(ch->pid, SIGKILL);
            waitpid(ch->pid, NULL, 0);
            ch->pid = 0;
        }
        if (attempt < 2 && ch->dir[0]) sy_test_ch_rmdir(ch->dir);
    }
    return -1;
}

#endif
