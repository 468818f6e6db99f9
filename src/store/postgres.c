/* PostgreSQL backend of the store interface (store.h), over libpq.
 *
 * DESIGN
 *   URL: "postgres://…" or "postgresql://…", handed to libpq as a connection URI (so sslmode,
 *   host lists, options… all work). The password never reaches an error message: messages are
 *   built from libpq's first line with the URL's password masked, and a URL libpq cannot parse
 *   is reported without its text.
 *   Connections: one writer connection behind wlock (migrate, write_batch) and a pool of reader
 *   connections (query_logs, get_log, query_stats) under plock, ≤ 8 idle kept — the shape of
 *   sqlite.c. PostgreSQL's MVCC gives readers the last committed snapshot, so a reader never
 *   sees half a batch and never waits for the writer. A connection found broken (server
 *   restart) is reset (writer) or dropped (reader) on its next use, so an outage heals itself.
 *   Statements are prepared once per connection (get_log, stats per group-by, logs per filter
 *   combination, one bit per filter as in sqlite.c).
 *   write_batch: one transaction with a COPY (text format) straight into inference_log. COPY
 *   cannot skip duplicates: when it fails on a duplicate id (spool replay), the batch is
 *   rolled back and written again through a session temp table: COPY into it, INSERT … SELECT
 *   … ON CONFLICT (id) DO NOTHING. Measured: the direct COPY is ~1.5× the temp-table path,
 *   and replays are rare (docs/internals/STORE.md). The writer runs with
 *   synchronous_commit=off — the equivalent of SQLite's synchronous=NORMAL: a commit does not
 *   wait for the WAL fsync, a server crash can lose the last ~0.6 s of commits but never
 *   corrupts, and the log pipeline's spool covers that window.
 *   Text: PostgreSQL text cannot hold NUL or invalid UTF-8 (the connection is UTF8), so such
 *   bytes are stored as U+FFFD. Everything the gateway produces is valid UTF-8 already.
 *   Stats: small ranges and ranges that are not whole minutes are exact:
 *   percentile_disc(ARRAY[.5,.95,.99]) WITHIN GROUP (ORDER BY …) per (bucket, group) — nearest
 *   rank (rank ceil(p·n), the same double arithmetic as the suite), one sort per cell, computed
 *   by the server. Larger minute-aligned ranges read the stats_minute rollup (migration 4),
 *   kept by write_batch for the rows it inserted (postgres_rollup.c, store/rollup.h).
 *   Files: this one (connections, errors, migrate, app data, the vtable), postgres_write.c,
 *   postgres_read.c, postgres_rollup.c; their shared internals in postgres_int.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/alloc.h"
#include "store/migrations.h"
#include "store/postgres_int.h"

/* ---- errors ------------------------------------------------------------------------------ */

/* "postgres: <what>: <first line of text>", with the password masked. */
sy_err_t sy_pg_fail_text(pg_store_t *s, sy_err_t err, char *msg, size_t msglen, const char *what,
                         const char *text)
{
    if (!msg || !msglen) return err;
    char line[SY_STORE_MSGLEN];
    size_t n = strcspn(text ? text : "", "\r\n");
    if (n >= sizeof(line)) n = sizeof(line) - 1;
    memcpy(line, text ? text : "", n);
    line[n] = '\0';
    if (s && s->password && *s->password) {
        size_t pl = strlen(s->password);
        for (char *p = strstr(line, s->password); p; p = strstr(p, s->password)) {
            memset(p, '*', pl);
            p += pl;
        }
    }
    return sy_store_fail(err, msg, msglen, "postgres: %s: %s", what, line);
}

sy_err_t sy_pg_conn_fail(pg_store_t *s, conn_t *c, char *msg, size_t msglen, const char *what)
{
    return sy_pg_fail_text(s, SY_ERR_STORE, msg, msglen, what,
                           c && c->pg ? PQerrorMessage(c->pg) : "out of memory");
}

sy_err_t sy_pg_res_fail(pg_store_t *s, conn_t *c, PGresult *r, char *msg, size_t msglen,
                        const char *what)
{
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (primary) return sy_pg_fail_text(s, SY_ERR_STORE, msg, msglen, what, primary);
    return sy_pg_conn_fail(s, c, msg, msglen, what);
}

/* ---- connections ------------------------------------------------------------------------- */

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void on_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "relation already exists, skipping" and the like: not for stderr */
}

static void conn_close(conn_t *c)
{
    if (!c) return;
    PQfinish(c->pg);
    sy_buf_dispose(&c->copy);
    sy_buf_dispose(&c->tmp);
    sy_rollup_batch_dispose(&c->roll);
    free(c);
}

/* Forgets per-session state (after a reset the server knows none of it). */
static void conn_forget(conn_t *c)
{
    c->batch_table = false;
    c->get_ready = false;
    memset(c->stats_ready, 0, sizeof(c->stats_ready));
    memset(c->logs_ready, 0, sizeof(c->logs_ready));
    memset(c->roll_ready, 0, sizeof(c->roll_ready));
    c->probe_ready = c->roll_get_ready = false;
}

/* Runs sql (no parameters, no rows wanted); SY_OK on COMMAND_OK/TUPLES_OK. */
sy_err_t sy_pg_exec(pg_store_t *s, conn_t *c, const char *sql, char *msg, size_t msglen,
                    const char *what)
{
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType st = PQresultStatus(r);
    sy_err_t err = SY_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        err = sy_pg_res_fail(s, c, r, msg, msglen, what);
    PQclear(r);
    return err;
}

static sy_err_t conn_setup(pg_store_t *s, conn_t *c, bool writer, char *msg, size_t msglen)
{
    PQsetNoticeProcessor(c->pg, on_notice, NULL);
    if (PQserverVersion(c->pg) < 90500)
        return sy_store_fail(SY_ERR_STORE, msg, msglen,
                             "postgres: server version %d is too old (need 9.5 or newer)",
                             PQserverVersion(c->pg));
    /* Unicode text (model names, bodies) must fit: anything but UTF8 would fail some batches
     * at random; SQL_ASCII stores the bytes as they come, which is fine. */
    const char *enc = PQparameterStatus(c->pg, "server_encoding");
    if (enc && strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0)
        return sy_store_fail(SY_ERR_STORE, msg, msglen,
                             "postgres: database %.64s has encoding %.32s; the inference log "
                             "needs UTF8 (CREATE DATABASE … ENCODING 'UTF8')",
                             s->dbname, enc);
    if (writer)
        return sy_pg_exec(s, c, "SET synchronous_commit = off", msg, msglen, "session setup");
    return SY_OK;
}

static sy_err_t conn_open(pg_store_t *s, bool writer, conn_t **out, char *msg, size_t msglen)
{
    /* later keywords override earlier ones: defaults first, then the URL, then what we need */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", "client_encoding",
                                NULL};
    const char *const vals[] = {"10", "switchyard", s->url, "UTF8", NULL};
    conn_t *c = sy_xcalloc(1, sizeof(*c));
    c->pg = PQconnectdbParams(keys, vals, 1);
    sy_err_t err;
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        err = sy_pg_conn_fail(s, c, msg, msglen, "cannot connect");
        conn_close(c);
        return err;
    }
    sy_buf_init(&c->copy, (size_t)1 << 30); /* PostgreSQL's own limit on one field */
    sy_buf_init(&c->tmp, (size_t)1 << 30);
    err = conn_setup(s, c, writer, msg, msglen);
    if (err) {
        conn_close(c);
        return err;
    }
    *out = c;
    return SY_OK;
}

/* The writer, reconnected if the server went away since its last use. */
sy_err_t sy_pg_writer_ready(pg_store_t *s, char *msg, size_t msglen)
{
    if (!s->writer) return conn_open(s, true, &s->writer, msg, msglen);
    conn_t *c = s->writer;
    if (PQstatus(c->pg) == CONNECTION_OK) return SY_OK;
    PQreset(c->pg);
    conn_forget(c);
    if (PQstatus(c->pg) != CONNECTION_OK) return sy_pg_conn_fail(s, c, msg, msglen, "reconnect");
    return conn_setup(s, c, true, msg, msglen);
}

sy_err_t sy_pg_reader_take(pg_store_t *s, conn_t **out, char *msg, size_t msglen)
{
    for (;;) {
        pthread_mutex_lock(&s->plock);
        conn_t *c = s->idle;
        if (c) {
            s->idle = c->next;
            s->n_idle--;
        }
        pthread_mutex_unlock(&s->plock);
        if (!c) return conn_open(s, false, out, msg, msglen);
        if (PQstatus(c->pg) == CONNECTION_OK) {
            *out = c;
            return SY_OK;
        }
        conn_close(c);
    }
}

void sy_pg_reader_give(pg_store_t *s, conn_t *c)
{
    if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
        pthread_mutex_lock(&s->plock);
        if (s->n_idle < MAX_IDLE_READERS) {
            c->next = s->idle;
            s->idle = c;
            s->n_idle++;
            c = NULL;
        }
        pthread_mutex_unlock(&s->plock);
    }
    conn_close(c);
}

/* After a failed call on reader c: true (and the idle pool emptied) when the failure was the
 * connection itself — the server restarted or dropped it; the caller retries once on a new
 * connection. The other idle connections most likely died with it. */
bool sy_pg_reader_lost(pg_store_t *s, conn_t *c, sy_err_t err)
{
    if (err != SY_ERR_STORE || PQstatus(c->pg) == CONNECTION_OK) return false;
    pthread_mutex_lock(&s->plock);
    conn_t *idle = s->idle;
    s->idle = NULL;
    s->n_idle = 0;
    pthread_mutex_unlock(&s->plock);
    while (idle) {
        conn_t *next = idle->next;
        conn_close(idle);
        idle = next;
    }
    return true;
}

static sy_err_t pg_open(const sy_store_conf_t *conf, sy_store_t **out, char *msg, size_t msglen)
{
    const char *url = conf->url ? conf->url : "";
    if (strncmp(url, "postgres://", 11) != 0 && strncmp(url, "postgresql://", 13) != 0)
        return sy_store_fail(SY_ERR_CONFIG, msg, msglen,
                             "postgres: URL must start with postgres:// or postgresql://");
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (!opts) {
        /* libpq's reason may quote the URL, password included: do not pass it on */
        PQfreemem(perr);
        return sy_store_fail(SY_ERR_CONFIG, msg, msglen, "postgres: malformed connection URL");
    }
    pg_store_t *s = sy_xcalloc(1, sizeof(*s));
    s->base.vt = &sy_store_postgres;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val) continue;
        if (strcmp(o->keyword, "password") == 0) s->password = sy_xstrdup(o->val);
        if (strcmp(o->keyword, "dbname") == 0) s->dbname = sy_xstrdup(o->val);
    }
    PQconninfoFree(opts);
    if (!s->dbname) s->dbname = sy_xstrdup("(default)");
    s->url = sy_xstrdup(url);
    s->known = (int)sy_store_migrations_postgres_count;
    if (conf->schema_limit > 0 && conf->schema_limit < s->known) s->known = conf->schema_limit;
    s->exact_max_rows =
        conf->stats_exact_max_rows ? conf->stats_exact_max_rows : SY_STORE_STATS_EXACT_MAX_ROWS;
    pthread_mutex_init(&s->wlock, NULL);
    pthread_mutex_init(&s->plock, NULL);
    sy_err_t err = conn_open(s, true, &s->writer, msg, msglen);
    if (err) {
        s->base.vt->close(&s->base);
        return err;
    }
    *out = &s->base;
    return SY_OK;
}

static void pg_close(sy_store_t *base)
{
    if (!base) return;
    pg_store_t *s = (pg_store_t *)base;
    while (s->idle) {
        conn_t *c = s->idle;
        s->idle = c->next;
        conn_close(c);
    }
    conn_close(s->writer);
    pthread_mutex_destroy(&s->wlock);
    pthread_mutex_destroy(&s->plock);
    if (s->password) memset(s->password, 0, strlen(s->password));
    if (s->url) memset(s->url, 0, strlen(s->url));
    free(s->password);
    free(s->url);
    free(s->dbname);
    free(s);
}

/* ---- migrate ----------------------------------------------------------------------------- */

static sy_err_t pg_migrate(sy_store_t *base, int *version, char *msg, size_t msglen)
{
    pg_store_t *s = (pg_store_t *)base;
    PGresult *r = NULL;
    sy_err_t err;
    int cur = 0;

    pthread_mutex_lock(&s->wlock);
    err = sy_pg_writer_ready(s, msg, msglen);
    if (err) goto unlock;
    conn_t *c = s->writer;
    err = sy_pg_exec(s, c, "BEGIN", msg, msglen, "begin");
    if (err) goto unlock;
    /* two gateways starting at once: the second waits, then finds nothing to do */
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%ld)", MIGRATE_LOCK_ID);
    err = sy_pg_exec(s, c, sql, msg, msglen, "migration lock");
    if (err) goto rollback;
    err = sy_pg_exec(s, c,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     " version integer PRIMARY KEY, applied_at bigint NOT NULL)",
                     msg, msglen, "schema_migrations");
    if (err) goto rollback;
    r = PQexec(c->pg, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        err = sy_pg_res_fail(s, c, r, msg, msglen, "read schema version");
        goto rollback;
    }
    cur = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    if (cur > s->known) {
        err = sy_store_fail(SY_ERR_STORE_SCHEMA, msg, msglen,
                            "postgres: database %.64s has schema version %d, newer than this "
                            "binary knows (%d): run a newer switchyard or use another database",
                            s->dbname, cur, s->known);
        goto rollback;
    }
    for (int i = 0; i < s->known; i++) {
        const sy_store_migration_t *m = &sy_store_migrations_postgres[i];
        if (m->version <= cur) continue;
        char what[128];
        snprintf(what, sizeof(what), "migration %d (%s)", m->version, m->name);
        err = sy_pg_exec(s, c, m->sql, msg, msglen, what);
        if (!err && m->version == PG_ROLLUP_VERSION) err = sy_pg_rollup_backfill(s, c, msg, msglen);
        if (err) goto rollback;
        snprintf(sql, sizeof(sql),
                 "INSERT INTO schema_migrations(version, applied_at) VALUES (%d, %" PRId64 ")",
                 m->version, wall_us());
        err = sy_pg_exec(s, c, sql, msg, msglen, "record migration");
        if (err) goto rollback;
        cur = m->version;
    }
    /* the batch temp table copies inference_log's columns: rebuild it after a change */
    err =
        sy_pg_exec(s, c, "DROP TABLE IF EXISTS pg_temp.sy_batch", msg, msglen, "drop batch table");
    if (err) goto rollback;
    c->batch_table = false;
    err = sy_pg_exec(s, c, "COMMIT", msg, msglen, "commit");
    if (err) goto rollback;
    if (version) *version = cur;
    goto unlock;
rollback:
    PQclear(r);
    PQclear(PQexec(s->writer->pg, "ROLLBACK"));
unlock:
    pthread_mutex_unlock(&s->wlock);
    return err;
}

/* Prepares sql as `name` on c unless *ready. */
sy_err_t sy_pg_prepare(pg_store_t *s, conn_t *c, bool *ready, const char *name, const char *sql,
                       char *msg, size_t msglen)
{
    if (*ready) return SY_OK;
    PGresult *r = PQprepare(c->pg, name, sql, 0, NULL);
    sy_err_t err = SY_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        err = sy_pg_res_fail(s, c, r, msg, msglen, "prepare");
    else
        *ready = true;
    PQclear(r);
    return err;
}

/* ---- app data ---------------------------------------------------------------------------- */

static sy_err_t pg_app_exec(sy_store_t *base, const char *sql, const sy_app_param_t *params,
                            size_t n, size_t max_rows, sy_app_rows_t *rows, int64_t *changes,
                            char *msg, size_t msglen)
{
    pg_store_t *s = (pg_store_t *)base;
    if (n > SY_STORE_APP_MAX_PARAMS)
        return sy_store_fail(SY_ERR_INTERNAL, msg, msglen, "postgres: too many parameters");
    const char *vals[SY_STORE_APP_MAX_PARAMS];
    char nums[SY_STORE_APP_MAX_PARAMS][24];
    for (size_t i = 0; i < n; i++) {
        if (params[i].kind == SY_APP_TEXT) {
            vals[i] = params[i].text;
        } else if (params[i].kind == SY_APP_I64) {
            snprintf(nums[i], sizeof(nums[i]), "%" PRId64, params[i].i64);
            vals[i] = nums[i];
        } else {
            vals[i] = NULL;
        }
    }
    if (rows) memset(rows, 0, sizeof(*rows));
    pthread_mutex_lock(&s->wlock);
    sy_err_t err = sy_pg_writer_ready(s, msg, msglen);
    if (err) goto out;
    PGresult *r = PQexecParams(s->writer->pg, sql, (int)n, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "23505") == 0)
            err = sy_pg_fail_text(s, SY_ERR_INVALID_REQUEST, msg, msglen, "already exists",
                                  PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
        else
            err = sy_pg_res_fail(s, s->writer, r, msg, msglen, "app data");
    } else if (rows && st == PGRES_TUPLES_OK) {
        size_t nr = (size_t)PQntuples(r), nc = (size_t)PQnfields(r);
        if (nr > max_rows) {
            err =
                sy_store_fail(SY_ERR_STORE, msg, msglen, "postgres: more than %zu rows", max_rows);
        } else {
            rows->n_rows = nr;
            rows->n_cols = nc;
            rows->cells = nr && nc ? sy_xcalloc(nr * nc, sizeof(char *)) : NULL;
            for (size_t i = 0; i < nr; i++)
                for (size_t k = 0; k < nc; k++)
                    if (!PQgetisnull(r, (int)i, (int)k))
                        rows->cells[i * nc + k] = sy_xstrndup(
                            PQgetvalue(r, (int)i, (int)k), (size_t)PQgetlength(r, (int)i, (int)k));
        }
    }
    if (!err && changes) {
        const char *t = PQcmdTuples(r);
        *changes = t && *t ? strtoll(t, NULL, 10) : 0;
    }
    PQclear(r);
out:
    pthread_mutex_unlock(&s->wlock);
    return err;
}

const sy_store_vtable_t sy_store_postgres = {
    .name = "postgres",
    .scheme = "postgres",
    .alias = "postgresql",
    .caps = SY_STORE_CAP_LOGS | SY_STORE_CAP_APPDATA | SY_STORE_CAP_ATOMIC_BATCH |
            SY_STORE_CAP_DEDUP_ON_WRITE | SY_STORE_CAP_STATS_ROLLUP,
    .open = pg_open,
    .close = pg_close,
    .migrate = pg_migrate,
    .write_batch = sy_pg_write_batch,
    .query_logs = sy_pg_query_logs,
    .get_log = sy_pg_get_log,
    .query_stats = sy_pg_query_stats,
    .app_exec = pg_app_exec,
};
