/* ClickHouse backend of the store interface (store.h): the inference log only. query_stats is
 * in clickhouse_stats.c; what both files share: clickhouse_int.h.
 *
 * DESIGN
 *   Talks to ClickHouse over its HTTP interface with libcurl's blocking easy interface (store
 *   calls run on worker/writer threads, never a loop thread). A pool of easy handles (≤ 8 idle
 *   kept) behind plock keeps connections alive between calls; any number of threads may call
 *   at once. sy_ch_select_many runs a few SELECTs at once (query_stats: the probe beside a
 *   level read) from short-lived threads of its own, each on its own pooled handle, and joins
 *   them before it returns: a caller still sees one blocking call.
 *   Wire format: RowBinary both ways. write_batch is ONE POST of
 *   "INSERT INTO inference_log (…) FORMAT RowBinary" per batch; queries end in
 *   "FORMAT RowBinary" and the reply is decoded by the column types below. RowBinary needs no
 *   escaping (bodies are copied as they are), is byte exact (invalid UTF-8 survives) and is the
 *   cheapest format for the server to parse.
 *   SQL is kept to what ClickHouse 18.16 (Debian 12's clickhouse-server) and current releases
 *   both accept: no query parameters (literals are quoted here), no LowCardinality, no
 *   DateTime64, no CODECs, no tuple comparison, no toStartOfInterval.
 *   Idempotence: ClickHouse has no unique constraint. inference_log is a ReplacingMergeTree
 *   ordered by (t_received_us, id): a replayed row (same id, hence same receive time) collapses
 *   into one at merge time, and every read uses FINAL, so readers never see a duplicate. The
 *   duplicate does occupy disk until a merge: DEDUP_ON_WRITE is not claimed. A batch is one
 *   INSERT; ClickHouse makes it one part (atomic) when it fits one block, but current releases
 *   may split very large inserts, so ATOMIC_BATCH is not claimed either.
 *   Stats, exact path (small or unaligned ranges): computed by the server — per (bucket, group)
 *   cell the known values are collected with groupArray, sorted, and the nearest-rank element is
 *   taken (arraySort(…)[ceil(p·n/100)]). quantileExact would not do: it takes element floor(p·n)
 *   (0-based), which differs from nearest rank when p·n is an integer.
 *   Stats, rollup path (large minute-aligned ranges): stats_minute, a SummingMergeTree fed by a
 *   materialized view on inference_log (migration 3), with histogram bucket indexes computed in
 *   SQL; write_batch first drops the rows already stored (fresh_rows), because the view counts
 *   whatever is inserted while ReplacingMergeTree dedups only at merge time. Coarser levels
 *   (stats_roll, migration 4) are read without a server-side GROUP BY: the server sends each
 *   row's percentile bucket indexes, sorted, on two server threads, and the client reads the
 *   few buckets whose cells are still split over unmerged parts again with their histograms
 *   (roll_read; docs/internals/STORE.md, "Reading a level").
 *   Buckets are intDiv(t, bucket) * bucket, not t - t % bucket: 18.16's `%` by a constant gives
 *   wrong results for some divisors (t % 50000 came out as 65536 + …), intDiv is correct.
 *   Migrations: DDL is not transactional in ClickHouse. Each migration statement is idempotent
 *   (IF NOT EXISTS) or checked first, then its version is inserted into schema_migrations;
 *   the newer-schema check runs before anything is changed.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/alloc.h"
#include "store/columns.h"
#include "store/logquery.h"
#include "store/migrations.h"
#include "store/clickhouse_int.h"
#include "store/store.h"

#define MAX_IDLE_CONNS 8
#define RESP_MAX ((size_t)512 << 20) /* a reply larger than this is an error */
#define BATCH_MAX ((size_t)1 << 30)  /* RowBinary of one batch */

/* C_* column indexes: store/columns.h. */

#define COLS_NOBODIES                                                                              \
    "id, request_id, attempt, parent_id, t_received_us, t_upstream_start_us, t_first_token_us, "   \
    "t_end_us, latency_us, ttft_us, overhead_us, model, provider, upstream_model, deployment, "    \
    "status, http_status, error_type, error_message, input_tokens, output_tokens, "                \
    "cached_read_tokens, cache_write_tokens, reasoning_tokens, usage_source, cost_nanousd, "       \
    "key_id, user_id, team_id, conversation_id, message_id, experiment, variant, tags, metadata, " \
    "request_truncated, response_truncated, request_size, response_size"
#define COLS_ALL COLS_NOBODIES ", request_body, response_body"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- connections and requests ------------------------------------------------------------ */

static void conn_close(conn_t *c)
{
    if (!c) return;
    curl_easy_cleanup(c->h);
    sy_buf_dispose(&c->resp);
    sy_buf_dispose(&c->req);
    free(c);
}

conn_t *sy_ch_conn_take(ch_store_t *s)
{
    pthread_mutex_lock(&s->plock);
    conn_t *c = s->idle;
    if (c) {
        s->idle = c->next;
        s->n_idle--;
    }
    pthread_mutex_unlock(&s->plock);
    if (c) return c;
    c = sy_xcalloc(1, sizeof(*c));
    c->h = curl_easy_init();
    if (!c->h) abort(); /* out of memory */
    sy_buf_init(&c->resp, RESP_MAX);
    sy_buf_init(&c->req, BATCH_MAX);
    return c;
}

void sy_ch_conn_give(ch_store_t *s, conn_t *c)
{
    /* do not keep a huge batch or reply buffer alive in the pool */
    if (c->req.cap > ((size_t)16 << 20) || c->resp.cap > ((size_t)16 << 20)) {
        conn_close(c);
        return;
    }
    pthread_mutex_lock(&s->plock);
    if (s->n_idle < MAX_IDLE_CONNS) {
        c->next = s->idle;
        s->idle = c;
        s->n_idle++;
        c = NULL;
    }
    pthread_mutex_unlock(&s->plock);
    conn_close(c);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    sy_buf_t *b = ud;
    if (sy_buf_append(b, p, size * n)) return 0; /* over RESP_MAX: abort the transfer */
    return size * n;
}

/* POSTs c->req (SQL text, or rows when url is insert_url) and leaves the reply in c->resp.
 * Anything but HTTP 200 is an error whose message is the server's first line. */
static sy_err_t ch_post(ch_store_t *s, conn_t *c, const char *url, char *msg, size_t msglen)
{
    CURL *h = c->h;
    sy_buf_reset(&c->resp);
    curl_easy_reset(h);
    struct curl_slist *hdr = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->req.base ? c->req.base : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->req.len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->resp);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms ? c->timeout_ms : s->timeout_ms);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    if (s->userpwd) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERPWD, s->userpwd);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hdr);
    if (rc != CURLE_OK) {
        if (rc == CURLE_WRITE_ERROR)
            return sy_store_fail(SY_ERR_STORE, msg, msglen, "clickhouse: reply over %zu MiB",
                                 RESP_MAX >> 20);
        return sy_store_fail(SY_ERR_STORE, msg, msglen, "clickhouse: %s", curl_easy_strerror(rc));
    }
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200) return SY_OK;
    size_t n = 0;
    while (n < c->resp.len && c->resp.base[n] != '\n' && n < 200)
        n++;
    return sy_store_fail(SY_ERR_STORE, msg, msglen, "clickhouse: HTTP %ld: %.*s", code, (int)n,
                         c->resp.base ? c->resp.base : "");
}

/* Runs one SQL statement (no FORMAT clause needed for DDL). */
static sy_err_t ch_sql(ch_store_t *s, conn_t *c, const char *sql, char *msg, size_t msglen)
{
    sy_buf_reset(&c->req);
    if (sy_buf_append_c(&c->req, sql))
        return sy_store_fail(SY_ERR_STORE, msg, msglen, "clickhouse: query too large");
    return ch_post(s, c, s->url, msg, msglen);
}

/* Appends a single-quoted ClickHouse string literal. */
static void append_literal(sy_buf_t *b, const char *v)
{
    sy_buf_append(b, "'", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '\'' || *p == '\\') sy_buf_append(b, "\\", 1);
        sy_buf_append(b, p, 1);
    }
    sy_buf_append(b, "'", 1);
}

/* ---- open / close ------------------------------------------------------------------------ */

static bool db_name_ok(const char *p, size_t n)
{
    if (!n || n > 64) return false;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
              (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
            return false;
    return true;
}

static void ch_close(sy_store_t *base);

/* clickhouse://[user[:password]@]host[:port][/database]: HTTP interface, port 8123 and
 * database "default" unless given. */
static sy_err_t ch_open(const sy_store_conf_t *conf, sy_store_t **out, char *msg, size_t msglen)
{
    const char *url = conf->url ? conf->url : "";
    if (strncmp(url, "clickhouse://", 13) != 0)
        return sy_store_fail(SY_ERR_CONFIG, msg, msglen,
                             "clickhouse: URL must look like clickhouse://host:port/database");
    pthread_once(&curl_once, curl_init_once);
    const char *p = url + 13;
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *at = memchr(p, '@', (size_t)(end - p));
    char *userpwd = NULL;
    if (at) {
        /* percent-decoding is left out on purpose: keep user names and passwords plain */
        userpwd = sy_xstrndup(p, (size_t)(at - p));
        if (!strchr(userpwd, ':')) {
            char *u = sy_xmalloc(strlen(userpwd) + 2);
            sprintf(u, "%s:", userpwd);
            free(userpwd);
            userpwd = u;
        }
        p = at + 1;
    }
    const char *db = slash && slash[1] ? slash + 1 : "default";
    size_t hostlen = (size_t)(end - p);
    if (!hostlen || hostlen > 255 || !db_name_ok(db, strlen(db))) {
        free(userpwd);
        return sy_store_fail(SY_ERR_CONFIG, msg, msglen,
                             "clickhouse: bad URL (want clickhouse://host:port/database, database "
                             "of [A-Za-z0-9_])");
    }
    /* a port is given as host:port or [v6]:port */
    const char *rb = p[0] == '[' ? memchr(p, ']', hostlen) : NULL;
    bool has_port =
        p[0] == '[' ? (rb && rb + 1 < end && rb[1] == ':') : memchr(p, ':', hostlen) != NULL;
    ch_store_t *s = sy_xcalloc(1, sizeof(*s));
    s->base.vt = &sy_store_clickhouse;
    s->userpwd = userpwd;
    s->db = sy_xstrdup(db);
    size_t n = hostlen + strlen(db) + 64;
    s->url = sy_xmalloc(n);
    snprintf(s->url, n, "http://%.*s%s/?database=%s", (int)hostlen, p, has_port ? "" : ":8123", db);
    CURL *h = curl_easy_init();
    if (!h) abort();
    char *q = curl_easy_escape(h, "INSERT INTO inference_log (" COLS_ALL ") FORMAT RowBinary", 0);
    curl_easy_cleanup(h);
    n = strlen(s->url) + strlen(q) + 16;
    s->insert_url = sy_xmalloc(n);
    snprintf(s->insert_url, n, "%s&query=%s", s->url, q);
    curl_free(q);
    s->known = (int)sy_store_migrations_clickhouse_count;
    if (conf->schema_limit > 0 && conf->schema_limit < s->known) s->known = conf->schema_limit;
    s->exact_max_rows =
        conf->stats_exact_max_rows ? conf->stats_exact_max_rows : SY_STORE_STATS_EXACT_MAX_ROWS;
    s->timeout_ms = 60000;
    pthread_mutex_init(&s->plock, NULL);

    /* fail at open, not at the first write, when the server is not there */
    conn_t *c = sy_ch_conn_take(s);
    sy_err_t err = ch_sql(s, c, "SELECT 1", msg, msglen);
    sy_ch_conn_give(s, c);
    if (err) {
        ch_close(&s->base);
        return err;
    }
    *out = &s->base;
    return SY_OK;
}

static void ch_close(sy_store_t *base)
{
    if (!base) return;
    ch_store_t *s = (ch_store_t *)base;
    while (s->idle) {
        conn_t *c = s->idle;
        s->idle = c->next;
        conn_close(c);
    }
    pthread_mutex_destroy(&s->plock);
    free(s->url);
    free(s->insert_url);
    free(s->userpwd);
    free(s->db);
    free(s);
}

/* ---- RowBinary decoding ------------------------------------------------------------------ */

static int64_t rd_ni64(rd_t *r)
{
    return rd_null(r) ? SY_LOG_UNKNOWN : rd_i64(r);
}

static void copy_uuid(sy_str_t v, char out[SY_UUID_STRLEN + 1])
{
    out[0] = '\0';
    if (v.ptr && v.len == SY_UUID_STRLEN) {
        memcpy(out, v.ptr, SY_UUID_STRLEN);
        out[SY_UUID_STRLEN] = '\0';
    }
}

/* Decodes one inference_log row (COLS_NOBODIES, or COLS_ALL when bodies) into an owned record. */
static sy_err_t rd_record(rd_t *rd, bool bodies, sy_log_record_t **out, char *msg, size_t msglen)
{
    sy_log_record_t r;
    sy_log_record_init(&r);
    copy_uuid(rd_str(rd), r.id);
    r.request_id = rd_nstr(rd);
    r.attempt = (int32_t)rd_u64le(rd, 4);
    copy_uuid(rd_nstr(rd), r.parent_id);
    r.t_received_us = rd_i64(rd);
    r.t_upstream_start_us = rd_ni64(rd);
    r.t_first_token_us = rd_ni64(rd);
    r.t_end_us = rd_ni64(rd);
    r.latency_us = rd_ni64(rd);
    r.ttft_us = rd_ni64(rd);
    r.overhead_us = rd_ni64(rd);
    r.model = rd_nstr(rd);
    r.provider = rd_nstr(rd);
    r.upstream_model = rd_nstr(rd);
    r.deployment = rd_nstr(rd);
    if (!sy_log_status_parse(rd_str(rd), &r.status)) r.status = SY_LOG_STATUS_ERROR;
    r.http_status = rd_null(rd) ? 0 : (int32_t)rd_u64le(rd, 4);
    r.error_type = rd_nstr(rd);
    r.error_message = rd_nstr(rd);
    r.input_tokens = rd_ni64(rd);
    r.output_tokens = rd_ni64(rd);
    r.cached_read_tokens = rd_ni64(rd);
    r.cache_write_tokens = rd_ni64(rd);
    r.reasoning_tokens = rd_ni64(rd);
    if (!sy_log_usage_source_parse(rd_nstr(rd), &r.usage_source))
        r.usage_source = SY_LOG_USAGE_NONE;
    r.cost_nanousd = rd_ni64(rd);
    r.key_id = rd_nstr(rd);
    r.user_id = rd_nstr(rd);
    r.team_id = rd_nstr(rd);
    r.conversation_id = rd_nstr(rd);
    r.message_id = rd_nstr(rd);
    r.experiment = rd_nstr(rd);
    r.variant = rd_nstr(rd);
    uint64_t nt = rd_varint(rd);
    sy_str_t *tv = NULL;
    if (nt > SY_LOG_MAX_TAGS) rd->bad = true;
    if (!rd->bad && nt) {
        tv = sy_xmalloc(nt * sizeof(*tv));
        for (uint64_t i = 0; i < nt; i++)
            tv[i] = rd_str(rd);
        r.tags = tv;
        r.n_tags = (uint32_t)nt;
    }
    r.metadata = rd_nstr(rd);
    r.request_truncated = rd_u64le(rd, 1) != 0;
    r.response_truncated = rd_u64le(rd, 1) != 0;
    r.request_size = rd_ni64(rd);
    r.response_size = rd_ni64(rd);
    if (bodies) {
        r.request_body = rd_nstr(rd);
        r.response_body = rd_nstr(rd);
    }
    if (rd->bad) {
        free(tv);
        return sy_store_fail(SY_ERR_CORRUPT, msg, msglen, "clickhouse: truncated or malformed row");
    }
    *out = bodies ? sy_log_record_clone(&r) : sy_log_record_clone_nobodies(&r);
    free(tv);
    return SY_OK;
}

/* ---- migrate ----------------------------------------------------------------------------- */

static sy_err_t read_version(ch_store_t *s, conn_t *c, int *cur, char *msg, size_t msglen)
{
    sy_err_t err = ch_sql(
        s, c, "SELECT toInt64(max(version)) FROM schema_migrations FORMAT RowBinary", msg, msglen);
    if (err) return err;
    rd_t rd = {(const unsigned char *)c->resp.base,
               (const unsigned char *)c->resp.base + c->resp.len, false};
    int64_t v = rd_i64(&rd);
    if (rd.bad || rd.p != rd.end)
        return sy_store_fail(SY_ERR_STORE, msg, msglen, "clickhouse: unreadable schema version");
    *cur = (int)v;
    return SY_OK;
}

static sy_err_t ch_migrate(sy_store_t *base, int *version, char *msg, size_t msglen)
{
    ch_store_t *s = (ch_store_t *)base;
    conn_t *c = sy_ch_conn_take(s);
    /* a back-fill (migration 3) reads every stored row: minutes, not the 60 s of a query */
    c->timeout_ms = 3600 * 1000L;
    int cur = 0;
    sy_err_t err = ch_sql(s, c,
                          "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, "
                          "applied_at Int64) ENGINE = MergeTree() ORDER BY version",
                          msg, msglen);
    if (!err) err = read_version(s, c, &cur, msg, msglen);
    if (err) goto out;
    if (cur > s->known) {
        err = sy_store_fail(SY_ERR_STORE_SCHEMA, msg, msglen,
                            "clickhouse: database %s has schema version %d, newer than this binary "
                            "knows (%d): run a newer switchyard or use another database",
                            s->db, cur, s->known);
        goto out;
    }
    for (int i = 0; i < s->known; i++) {
        const sy_store_migration_t *m = &sy_store_migrations_clickhouse[i];
        if (m->version <= cur) continue;
        /* statements are separated by ";\n" (the HTTP interface runs one per request) */
        const char *p = m->sql;
        while (*p && !err) {
            const char *e = strstr(p, ";\n");
            size_t n = e ? (size_t)(e - p) : strlen(p);
            char *one = sy_xstrndup(p, n);
            char m2[SY_STORE_MSGLEN];
            err = ch_sql(s, c, one, m2, sizeof(m2));
            /* a half-applied migration (crash before its version row) is re-run: an ALTER that
             * finds its column already there is done, not failed */
            if (err && strncmp(one, "ALTER", 5) == 0 && strstr(m2, "Code: 44,")) err = SY_OK;
            if (err)
                sy_store_fail(err, msg, msglen, "migration %d (%s): %s", m->version, m->name, m2);
            free(one);
            p = e ? e + 2 : p + n;
        }
        if (err) goto out;
        char sql[160];
        snprintf(sql, sizeof(sql),
                 "INSERT INTO schema_migrations (version, applied_at) VALUES (%d, %" PRId64 ")",
                 m->version, wall_us());
        err = ch_sql(s, c, sql, msg, msglen);
        if (err) goto out;
        cur = m->version;
    }
    if (version) *version = cur;
out:
    c->timeout_ms = 0;
    sy_ch_conn_give(s, c);
    return err;
}

/* ---- write ------------------------------------------------------------------------------- */

static void w_varint(sy_buf_t *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (unsigned char)(v & 0x7F);
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    sy_buf_append(b, tmp, n);
}

static void w_le(sy_buf_t *b, uint64_t v, size_t n)
{
    unsigned char tmp[8];
    for (size_t i = 0; i < n; i++)
        tmp[i] = (unsigned char)(v >> (8 * i));
    sy_buf_append(b, tmp, n);
}

static void w_str(sy_buf_t *b, sy_str_t v)
{
    w_varint(b, v.len);
    sy_buf_append(b, v.ptr, v.len);
}

static void w_nstr(sy_buf_t *b, sy_str_t v)
{
    w_le(b, v.ptr ? 0 : 1, 1);
    if (v.ptr) w_str(b, v);
}

static void w_ni64(sy_buf_t *b, int64_t v)
{
    w_le(b, v == SY_LOG_UNKNOWN ? 1 : 0, 1);
    if (v != SY_LOG_UNKNOWN) w_le(b, (uint64_t)v, 8);
}

static void w_record(sy_buf_t *b, const sy_log_record_t *r)
{
    w_str(b, sy_str(r->id, strlen(r->id)));
    w_nstr(b, r->request_id);
    w_le(b, (uint32_t)r->attempt, 4);
    w_nstr(b, r->parent_id[0] ? sy_str(r->parent_id, strlen(r->parent_id)) : SY_STR_NULL);
    /* the row's time is required for ordering: an unknown receive time sorts at 0 */
    w_le(b, (uint64_t)(r->t_received_us < 0 ? 0 : r->t_received_us), 8);
    w_ni64(b, r->t_upstream_start_us);
    w_ni64(b, r->t_first_token_us);
    w_ni64(b, r->t_end_us);
    w_ni64(b, r->latency_us);
    w_ni64(b, r->ttft_us);
    w_ni64(b, r->overhead_us);
    w_nstr(b, r->model);
    w_nstr(b, r->provider);
    w_nstr(b, r->upstream_model);
    w_nstr(b, r->deployment);
    w_str(b, sy_str_c(sy_log_status_name(r->status)));
    w_le(b, r->http_status > 0 ? 0 : 1, 1);
    if (r->http_status > 0) w_le(b, (uint32_t)r->http_status, 4);
    w_nstr(b, r->error_type);
    w_nstr(b, r->error_message);
    w_ni64(b, r->input_tokens);
    w_ni64(b, r->output_tokens);
    w_ni64(b, r->cached_read_tokens);
    w_ni64(b, r->cache_write_tokens);
    w_ni64(b, r->reasoning_tokens);
    w_nstr(b, sy_str_c(sy_log_usage_source_name(r->usage_source)));
    w_ni64(b, r->cost_nanousd);
    w_nstr(b, r->key_id);
    w_nstr(b, r->user_id);
    w_nstr(b, r->team_id);
    w_nstr(b, r->conversation_id);
    w_nstr(b, r->message_id);
    w_nstr(b, r->experiment);
    w_nstr(b, r->variant);
    w_varint(b, r->n_tags);
    for (uint32_t i = 0; i < r->n_tags; i++)
        w_str(b, r->tags[i]);
    w_nstr(b, r->metadata);
    w_le(b, r->request_truncated ? 1 : 0, 1);
    w_le(b, r->response_truncated ? 1 : 0, 1);
    w_ni64(b, r->request_size);
    w_ni64(b, r->response_size);
    w_nstr(b, r->request_body);
    w_nstr(b, r->response_body);
}

/* Upper bound of w_record's output: fixed-width fields plus every string with its length. */
static size_t rec_bound(const sy_log_record_t *r)
{
    const sy_str_t *v[] = {
        &r->request_id,      &r->model,         &r->provider,   &r->upstream_model, &r->deployment,
        &r->error_type,      &r->error_message, &r->key_id,     &r->user_id,        &r->team_id,
        &r->conversation_id, &r->message_id,    &r->experiment, &r->variant,        &r->metadata,
        &r->request_body,    &r->response_body};
    size_t n = 512;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        n += v[i]->len + 10;
    for (uint32_t i = 0; i < r->n_tags; i++)
        n += r->tags[i].len + 10;
    return n;
}

static int64_t t_of(const sy_log_record_t *r)
{
    return r->t_received_us < 0 ? 0 : r->t_received_us; /* as w_record sends it */
}

static int cmp_rec_key(const void *pa, const void *pb)
{
    const sy_log_record_t *a = *(const sy_log_record_t *const *)pa,
                          *b = *(const sy_log_record_t *const *)pb;
    if (t_of(a) != t_of(b)) return t_of(a) < t_of(b) ? -1 : 1;
    return strcmp(a->id, b->id);
}

#define DEDUP_CHUNK 4000 /* ids per IN list: ~160 KB of SQL, under max_query_size (256 KiB) */

/* Marks stored[j] for the rows of sorted[i, i+k) that the server has. With ids: the query lists
 * them (IN); without: it reads every stored (time, id) of the time window, at most cap rows
 * (*capped when it hit cap: the window holds other rows, ask again with ids). */
static sy_err_t mark_stored(ch_store_t *s, conn_t *c, const sy_log_record_t **sorted, size_t i,
                            size_t k, bool ids, size_t cap, bool *capped, bool *stored, char *msg,
                            size_t msglen)
{
    sy_buf_t *q = &c->req;
    sy_buf_reset(q);
    sy_buf_printf(q,
                  "SELECT t_received_us, id FROM inference_log WHERE t_received_us >= %" PRId64
                  " AND t_received_us <= %" PRId64,
                  t_of(sorted[i]), t_of(sorted[i + k - 1]));
    if (ids) {
        sy_buf_append_c(q, " AND id IN (");
        for (size_t j = 0; j < k; j++) {
            if (j) sy_buf_append(q, ",", 1);
            append_literal(q, sorted[i + j]->id);
        }
        sy_buf_append_c(q, ")");
    } else {
        sy_buf_printf(q, " LIMIT %zu", cap);
    }
    if (sy_buf_append_c(q, " FORMAT RowBinary"))
        return sy_store_fail(SY_ERR_STORE, msg, msglen, "clickhouse: dedup query too large");
    sy_err_t err = sy_ch_select(s, c, msg, msglen);
    if (err) return err;
    rd_t rd = {(const unsigned char *)c->resp.base,
               (const unsigned char *)c->resp.base + c->resp.len, false};
    size_t got = 0;
    while (rd.p < rd.end) {
        sy_log_record_t key;
        const sy_log_record_t *kp = &key;
        key.t_received_us = rd_i64(&rd);
        sy_str_t id = rd_str(&rd);
        if (rd.bad) return sy_store_fail(SY_ERR_STORE, msg, msglen, "clickhouse: bad id reply");
        got++;
        if (id.len != SY_UUID_STRLEN) continue; /* not one of ours */
        memcpy(key.id, id.ptr, SY_UUID_STRLEN);
        key.id[SY_UUID_STRLEN] = '\0';
        const sy_log_record_t **hit = bsearch(&kp, sorted + i, k, sizeof(*sorted), cmp_rec_key);
        if (hit) stored[hit - sorted] = true;
    }
    *capped = !ids && got >= cap;
    return SY_OK;
}

/* The rows of recs whose (receive time, id) is not stored yet, each once, into fresh (n slots);
 * the stats rollup's materialized view counts what is inserted, so a replayed row must not be
 * sent again. Usually ONE query: the stored (time, id) pairs of the batch's time window (new
 * rows: none; a replay: about the batch). When that window holds more than 4× the batch (a
 * batch spanning a long outage, a row with an unknown time), the ids are asked for instead,
 * DEDUP_CHUNK per query. Each query costs a round trip that dominates (~100 ms on the loaded
 * dev VM), hence not one per 1,000 rows. */
static sy_err_t fresh_rows(ch_store_t *s, conn_t *c, const sy_log_record_t *const *recs, size_t n,
                           const sy_log_record_t **fresh, size_t *n_fresh, char *msg, size_t msglen)
{
    const sy_log_record_t **sorted = sy_xmalloc(n * sizeof(*sorted));
    memcpy(sorted, recs, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), cmp_rec_key);
    size_t m = 0; /* duplicates inside the batch: keep one */
    for (size_t i = 0; i < n; i++)
        if (!m || cmp_rec_key(&sorted[m - 1], &sorted[i]) != 0) sorted[m++] = sorted[i];
    bool *stored = sy_xcalloc(m ? m : 1, sizeof(*stored));
    bool capped = false;
    sy_err_t err = mark_stored(s, c, sorted, 0, m, false, 4 * m + 16, &capped, stored, msg, msglen);
    for (size_t i = 0; capped && i < m && !err; i += DEDUP_CHUNK) {
        size_t k = m - i < DEDUP_CHUNK ? m - i : DEDUP_CHUNK;
        err = mark_stored(s, c, sorted, i, k, true, 0, &capped, stored, msg, msglen);
        capped = true; /* keep going over the chunks */
    }
    *n_fresh = 0;
    for (size_t i = 0; i < m && !err; i++)
        if (!stored[i]) fresh[(*n_fresh)++] = sorted[i];
    free(stored);
    free(sorted);
    return err;
}

static sy_err_t ch_write_batch(sy_store_t *base, const sy_log_record_t *const *recs, size_t n,
                               char *msg, size_t msglen)
{
    ch_store_t *s = (ch_store_t *)base;
    if (n == 0) return SY_OK;
    conn_t *c = sy_ch_conn_take(s);
    sy_err_t err = SY_OK;
    const sy_log_record_t **fresh = NULL;
    if (s->known >= 3) { /* the rollup exists: send each row once */
        fresh = sy_xmalloc(n * sizeof(*fresh));
        err = fresh_rows(s, c, recs, n, fresh, &n, msg, msglen);
        recs = fresh;
        if (err || n == 0) goto out;
    }
    sy_buf_reset(&c->req);
    for (size_t i = 0; i < n; i++) {
        /* the w_* appends ignore sy_buf's refusal: check the bound before each row instead */
        if (c->req.len + rec_bound(recs[i]) > BATCH_MAX) {
            err = sy_store_fail(SY_ERR_STORE, msg, msglen,
                                "clickhouse: batch over %zu MiB: write smaller batches",
                                BATCH_MAX >> 20);
            break;
        }
        w_record(&c->req, recs[i]);
    }
    if (!err) err = ch_post(s, c, s->insert_url, msg, msglen);
out:
    free(fresh);
    sy_ch_conn_give(s, c);
    return err;
}

/* ---- read -------------------------------------------------------------------------------- */

/* Runs the query in c->req (a SELECT ending in FORMAT RowBinary). wait_end_of_query makes the
 * server buffer the result, so an error after the first rows is an HTTP error, not a silently
 * truncated 200. */
sy_err_t sy_ch_select_with(ch_store_t *s, conn_t *c, const char *settings, char *msg, size_t msglen)
{
    char url[768];
    snprintf(url, sizeof(url), "%s&wait_end_of_query=1%s%s", s->url, settings ? "&" : "",
             settings ? settings : "");
    return ch_post(s, c, url, msg, msglen);
}

sy_err_t sy_ch_select(ch_store_t *s, conn_t *c, char *msg, size_t msglen)
{
    return sy_ch_select_with(s, c, NULL, msg, msglen);
}

/* One SELECT of sy_ch_select_many, on its own thread. */
typedef struct select_job {
    ch_store_t *s;
    conn_t *c;
    const char *settings;
    sy_err_t err;
    char msg[256];
} select_job_t;

static void *select_job_run(void *p)
{
    select_job_t *j = p;
    j->err = sy_ch_select_with(j->s, j->c, j->settings, j->msg, sizeof(j->msg));
    return NULL;
}

sy_err_t sy_ch_select_many(ch_store_t *s, conn_t *const *cs, const char *const *settings, size_t n,
                           char *msg, size_t msglen)
{
    enum { MANY_MAX = 4 };
    if (n > MANY_MAX) abort(); /* a caller's bug */
    /* a thread per extra SELECT, each on its own pooled handle: blocking transfers keep their
     * handle's kept-alive connection (a curl multi handle would close its connections) */
    select_job_t job[MANY_MAX];
    pthread_t th[MANY_MAX];
    bool started[MANY_MAX] = {false};
    for (size_t i = 0; i < n; i++) {
        job[i] = (select_job_t){s, cs[i], settings ? settings[i] : NULL, SY_OK, ""};
        if (i > 0) started[i] = pthread_create(&th[i], NULL, select_job_run, &job[i]) == 0;
    }
    for (size_t i = 0; i < n; i++) /* the first here, and any whose thread did not start */
        if (!started[i]) select_job_run(&job[i]);
    for (size_t i = 1; i < n; i++)
        if (started[i]) pthread_join(th[i], NULL);
    for (size_t i = 0; i < n; i++)
        if (job[i].err) return sy_store_fail(job[i].err, msg, msglen, "%s", job[i].msg);
    return SY_OK;
}

static sy_err_t ch_get_log(sy_store_t *base, const char *id, sy_log_record_t **out, char *msg,
                           size_t msglen)
{
    ch_store_t *s = (ch_store_t *)base;
    if (!id || !sy_log_uuid_valid(id, strlen(id)))
        return sy_store_fail(SY_ERR_NOT_FOUND, msg, msglen, "no log row with id %.40s",
                             id ? id : "");
    conn_t *c = sy_ch_conn_take(s);
    sy_buf_t *q = &c->req;
    sy_buf_reset(q);
    /* No FINAL: duplicates of an id are identical rows (spool replay), so LIMIT 1 is exact, and
     * without FINAL the server reads the id column first (PREWHERE) and the bodies of the one
     * matching granule only. With FINAL 18.16 reads every column of the table: 110 ms per call
     * on a 1,000-row test table with 300 KB bodies, vs a few ms. */
    sy_buf_append_c(q, "SELECT " COLS_ALL " FROM inference_log PREWHERE id = ");
    append_literal(q, id);
    sy_buf_append_c(q, " LIMIT 1 FORMAT RowBinary");
    sy_err_t err = sy_ch_select(s, c, msg, msglen);
    if (!err) {
        if (!c->resp.len) {
            err = sy_store_fail(SY_ERR_NOT_FOUND, msg, msglen, "no log row with id %.40s", id);
        } else {
            rd_t rd = {(const unsigned char *)c->resp.base,
                       (const unsigned char *)c->resp.base + c->resp.len, false};
            err = rd_record(&rd, true, out, msg, msglen);
        }
    }
    sy_ch_conn_give(s, c);
    return err;
}

static void and_eq (sy_buf_t * q, const char *col, const char *v)
{
    if (!v) return;
    sy_buf_printf(q, " AND %s = ", col);
    append_literal(q, v);
}

static sy_err_t ch_query_logs(sy_store_t *base, const sy_log_filter_t *f, const char *cursor,
                              size_t limit, sy_log_page_t *page, char *msg, size_t msglen)
{
    ch_store_t *s = (ch_store_t *)base;
    sy_logquery_t lq;
    sy_err_t err = sy_logquery_init(&lq, f, cursor, limit, page, msg, msglen);
    if (err) return err;
    int64_t ct = lq.cursor_t;
    const char *cid = lq.cursor_id;
    bool has_cursor = lq.mask & SY_LOGF_CURSOR;

    conn_t *c = sy_ch_conn_take(s);
    sy_buf_t *q = &c->req;
    sy_buf_reset(q);
    sy_buf_append_c(q, "SELECT " COLS_NOBODIES " FROM inference_log FINAL WHERE 1");
    if (f->from_us) sy_buf_printf(q, " AND t_received_us >= %" PRId64, f->from_us);
    if (f->to_us) sy_buf_printf(q, " AND t_received_us < %" PRId64, f->to_us);
    and_eq (q, "model", f->model);
    and_eq (q, "provider", f->provider);
    and_eq (q, "key_id", f->key_id);
    and_eq (q, "user_id", f->user_id);
    and_eq (q, "status", lq.status);
    if (f->text) {
        /* positionCaseInsensitive folds ASCII only and compares other bytes exactly: the
         * contract. A NULL column gives NULL → 0 → no match. */
        static const char *const cols[] = {"request_body", "response_body", "error_message"};
        sy_buf_append_c(q, " AND (");
        for (int i = 0; i < 3; i++) {
            sy_buf_printf(q, "%sifNull(positionCaseInsensitive(%s, ", i ? " OR " : "", cols[i]);
            append_literal(q, f->text);
            sy_buf_append_c(q, "), 0) > 0");
        }
        sy_buf_append_c(q, ")");
    }
    if (has_cursor) { /* (t, id) < (ct, cid) spelled out: 18.16 has no tuple comparison */
        const char *op = f->ascending ? ">" : "<";
        sy_buf_printf(
            q, " AND (t_received_us %s %" PRId64 " OR (t_received_us = %" PRId64 " AND id %s ", op,
            ct, ct, op);
        append_literal(q, cid);
        sy_buf_append_c(q, "))");
    }
    const char *dir = f->ascending ? "ASC" : "DESC";
    err = sy_buf_printf(q, " ORDER BY t_received_us %s, id %s LIMIT %zu FORMAT RowBinary", dir, dir,
                        limit + 1); /* one more tells whether a page follows */
    if (err) {
        err = sy_store_fail(SY_ERR_INVALID_REQUEST, msg, msglen, "filter too large");
        goto out;
    }
    err = sy_ch_select(s, c, msg, msglen);
    if (err) goto out;
    rd_t rd = {(const unsigned char *)c->resp.base,
               (const unsigned char *)c->resp.base + c->resp.len, false};
    while (rd.p < rd.end && !sy_logquery_page_full(&lq, page)) {
        err = rd_record(&rd, false, &page->rows[page->n], msg, msglen);
        if (err) break;
        page->n++;
    }
out:
    if (err) sy_store_log_page_free(page);
    sy_ch_conn_give(s, c);
    return err;
}

const sy_store_vtable_t sy_store_clickhouse = {
    .name = "clickhouse",
    .scheme = "clickhouse",
    /* no APPDATA (no transactions or constraints), no DEDUP_ON_WRITE (ReplacingMergeTree dedups
     * at merge; reads use FINAL), no ATOMIC_BATCH (large inserts may be split into parts) */
    .caps = SY_STORE_CAP_LOGS | SY_STORE_CAP_STATS_ROLLUP,
    .open = ch_open,
    .close = ch_close,
    .migrate = ch_migrate,
    .write_batch = ch_write_batch,
    .query_logs = ch_query_logs,
    .get_log = ch_get_log,
    .query_stats = sy_ch_query_stats,
};
