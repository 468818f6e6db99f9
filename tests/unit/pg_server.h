/* A throwaway PostgreSQL server for tests, started on loopback by tests/pg_server.sh (see that
 * script: free port, temp dir, runs as the `postgres` user when we are root, stopped by PID,
 * a watchdog cleans up if the test process dies). Header-only so any test can include it:
 *
 *   sy_test_pg_t pg;
 *   if (sy_test_pg_start(&pg)) fail...;          // never skip: a missing server is a failure
 *   sy_test_pg_create_db(&pg, "case_1", url, sizeof(url));   // fresh database, its URL
 *   sy_test_pg_stop(&pg);
 *
 * The script is found through $SY_TEST_SRC (set by ctest) or SY_SOURCE_DIR (compiled in). */
#ifndef SY_TESTS_PG_SERVER_H
#define SY_TESTS_PG_SERVER_H
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct sy_test_pg {
    char dir[256];
    char url[256]; /* the `postgres` database, superuser switchyard, no password */
    int port;
    int pid; /* postmaster */
} sy_test_pg_t;

static inline const char *sy_test_pg_script(char *buf, size_t n)
{
    const char *src = getenv("SY_TEST_SRC");
#ifdef SY_SOURCE_DIR
    if (!src || !*src) src = SY_SOURCE_DIR;
#endif
    snprintf(buf, n, "%s/tests/pg_server.sh", src && *src ? src : ".");
    return buf;
}

/* Starts a server in a fresh /tmp dir. 0 on success; -1 with the reason on stderr. */
static inline int sy_test_pg_start(sy_test_pg_t *pg)
{
    char script[512], cmd[1024], line[512];
    memset(pg, 0, sizeof(*pg));
    snprintf(pg->dir, sizeof(pg->dir), "/tmp/sy-pg-XXXXXX");
    if (!mkdtemp(pg->dir)) {
        perror("sy_test_pg_start: mkdtemp");
        return -1;
    }
    snprintf(cmd, sizeof(cmd), "'%s' start '%s' %d", sy_test_pg_script(script, sizeof(script)),
             pg->dir, (int)getpid());
    FILE *f = popen(cmd, "r");
    if (!f) {
        perror("sy_test_pg_start: popen");
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "PG_URL=", 7) == 0) snprintf(pg->url, sizeof(pg->url), "%s", line + 7);
        if (strncmp(line, "PG_PORT=", 8) == 0) pg->port = atoi(line + 8);
        if (strncmp(line, "PG_PID=", 7) == 0) pg->pid = atoi(line + 7);
    }
    int rc = pclose(f);
    if (rc != 0 || !pg->url[0] || !pg->pid) {
        fprintf(stderr, "sy_test_pg_start: %s failed (exit %d)\n", cmd, rc);
        return -1;
    }
    return 0;
}

/* Stops the server (by its PID, via the script) and removes its directory. */
static inline void sy_test_pg_stop(sy_test_pg_t *pg)
{
    char script[512], cmd[1024];
    if (!pg->dir[0]) return;
    snprintf(cmd, sizeof(cmd), "'%s' stop '%s'", sy_test_pg_script(script, sizeof(script)),
             pg->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "sy_test_pg_stop: %s failed\n", cmd);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pg->dir);
        if (system(cmd) != 0) fprintf(stderr, "sy_test_pg_stop: could not remove %s\n", pg->dir);
    }
    pg->dir[0] = '\0';
}

/* Runs one SQL command as the superuser on the `postgres` database. 0 or -1 (stderr). */
static inline int sy_test_pg_exec(const sy_test_pg_t *pg, const char *sql)
{
    PGconn *c = PQconnectdb(pg->url);
    int rc = -1;
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "sy_test_pg_exec: connect: %s", PQerrorMessage(c));
    } else {
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
            rc = 0;
        else
            fprintf(stderr, "sy_test_pg_exec: %s: %s", sql, PQerrorMessage(c));
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

/* Creates database `name` (an SQL identifier) and writes its URL. 0 or -1. */
static inline int sy_test_pg_create_db(const sy_test_pg_t *pg, const char *name, char *url,
                                       size_t n)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
    if (sy_test_pg_exec(pg, sql)) return -1;
    snprintf(url, n, "postgresql://switchyard@127.0.0.1:%d/%s", pg->port, name);
    return 0;
}

#endif
