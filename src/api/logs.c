/* GET /api/v1/logs, GET /api/v1/logs/{id}, GET /api/v1/stats: the inference-log query API.
 *
 * DESIGN
 * - The loop thread only parses and validates the query string (cheap, bounded), then hands a
 *   heap job to libuv's thread pool (uv_queue_work on the worker's loop). The pool thread calls
 *   the store (which may block on disk or network) AND renders the whole JSON answer into a
 *   capped buffer, so no query work and no large serialisation runs on the loop thread. The
 *   after-work callback, back on the loop thread, only sends the bytes.
 * - Client aborts: the job owns copies of every input (the request arena may be gone before
 *   the work ends). on_abort sets job->req = NULL and uv_cancel()s the work: a job still
 *   waiting for a pool thread never runs (clients that leave do not keep the pool busy); a
 *   running one finishes. Either way after-work frees the job without touching the request.
 * - Response size is bounded: a list page stops adding rows at LIST_MAX_BYTES and returns a
 *   cursor for the rest (has_more stays true); one row is bounded by the body caps; a stats
 *   answer over STATS_MAX_BYTES is a 400 asking for a coarser bucket.
 * - Logging disabled (no store): 503 at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/logs_fmt.h"
#include "core/alloc.h"
#include "core/timefmt.h"
#include "http/query.h"
#include "store/store.h"
#include "worker.h"

#ifndef LIST_MAX_BYTES /* a unit test makes it small */
#define LIST_MAX_BYTES (8u << 20)
#endif
#define STATS_MAX_BYTES (16u << 20)
#define DEFAULT_LIMIT 50
#define MSGLEN 512

typedef enum { JOB_LIST, JOB_GET, JOB_STATS } job_kind_t;

typedef struct job {
    uv_work_t work;
    sy_http_req_t *req; /* NULL once the client went away */
    sy_store_t *store;
    job_kind_t kind;
    /* inputs (owned) */
    sy_log_filter_t filter; /* strings point into strs */
    char *strs[6];
    char cursor[SY_STORE_CURSOR_MAX];
    size_t limit;
    char id[SY_UUID_STRLEN + 1];
    sy_stats_query_t stats;
    size_t max_row_bytes; /* bound for one row with bodies */
    /* outputs */
    sy_err_t err;
    int status;
    const char *param;
    char msg[MSGLEN];
    sy_buf_t out;
} job_t;

static void job_free(job_t *j)
{
    for (size_t i = 0; i < sizeof j->strs / sizeof j->strs[0]; i++)
        free(j->strs[i]);
    sy_buf_dispose(&j->out);
    free(j);
}

/* ---- thread-pool side ---- */

static void run_list(job_t *j)
{
    sy_log_page_t page = {0};
    j->err = sy_store_query_logs(j->store, &j->filter, j->cursor[0] ? j->cursor : NULL, j->limit,
                                 &page, j->msg, sizeof j->msg);
    if (j->err) {
        if (j->err == SY_ERR_INVALID_REQUEST) j->param = "cursor";
        return;
    }
    sy_buf_t *b = &j->out;
    sy_buf_append_c(b, "{\"object\":\"list\",\"data\":[");
    const char *next = page.next_cursor[0] ? page.next_cursor : NULL;
    char cut[SY_STORE_CURSOR_MAX];
    for (size_t i = 0; i < page.n; i++) {
        size_t before = b->len;
        if (i) sy_buf_append(b, ",", 1);
        /* leave room for the closing members */
        if (sy_logs_row_json(b, page.rows[i], false) || b->len > LIST_MAX_BYTES - 256) {
            b->len = before;
            if (i == 0) {
                j->err = SY_ERR_INTERNAL; /* cannot happen: a row without bodies is small */
                snprintf(j->msg, sizeof j->msg, "a row does not fit in a list response");
                goto out;
            }
            /* the page is cut: continue after the last row sent */
            sy_store_cursor_format(cut, page.rows[i - 1]->t_received_us, page.rows[i - 1]->id);
            next = cut;
            break;
        }
    }
    sy_buf_append_c(b, "],\"next_cursor\":");
    if (next)
        sy_buf_printf(b, "\"%s\"", next); /* store cursors are [0-9a-f.-] */
    else
        sy_buf_append_c(b, "null");
    sy_buf_printf(b, ",\"has_more\":%s}", next ? "true" : "false");
out:
    sy_store_log_page_free(&page);
}

static void run_get(job_t *j)
{
    sy_log_record_t *r = NULL;
    j->err = sy_store_get_log(j->store, j->id, &r, j->msg, sizeof j->msg);
    if (j->err == SY_ERR_NOT_FOUND) {
        snprintf(j->msg, sizeof j->msg, "no inference-log row with id '%s'", j->id);
        j->param = "id";
    }
    if (j->err) return;
    sy_buf_dispose(&j->out);
    sy_buf_init(&j->out, j->max_row_bytes);
    if (sy_logs_row_json(&j->out, r, true)) {
        j->err = SY_ERR_INTERNAL;
        snprintf(j->msg, sizeof j->msg, "the row is larger than the response limit");
    }
    sy_log_record_free(r);
}

static void run_stats(job_t *j)
{
    sy_stats_result_t cells = {0};
    j->err = sy_store_query_stats(j->store, &j->stats, &cells, j->msg, sizeof j->msg);
    /* totals: the cells added up (exact, tokens/s included): no second query */
    sy_stats_row_t tot;
    sy_logs_stats_totals(&cells, &tot);
    sy_stats_result_t totals = {.rows = &tot, .n = 1};
    if (!j->err &&
        sy_logs_stats_json(&j->out, &j->stats, sy_logs_percentiles_kind(j->store, &cells), &cells,
                           &totals)) {
        j->err = SY_ERR_INVALID_REQUEST;
        j->param = "bucket";
        snprintf(j->msg, sizeof j->msg,
                 "the answer would exceed %u MiB; use a wider bucket, a shorter range or "
                 "another group_by",
                 STATS_MAX_BYTES >> 20);
    }
    sy_store_stats_free(&cells);
}

static void on_work(uv_work_t *wk)
{
    job_t *j = wk->data;
    switch (j->kind) {
    case JOB_LIST:
        run_list(j);
        break;
    case JOB_GET:
        run_get(j);
        break;
    case JOB_STATS:
        run_stats(j);
        break;
    }
}

/* ---- loop-thread side ---- */

static void on_client_abort(sy_http_req_t *req, void *ctx)
{
    job_t *j = ctx;
    j->req = NULL;
    /* not started yet: never run it (after-work then fires with UV_ECANCELED and frees the
     * job); already running: it finishes, and after-work drops the answer */
    uv_cancel((uv_req_t *)&j->work);
}

static void on_after_work(uv_work_t *wk, int status)
{
    job_t *j = wk->data;
    sy_http_req_t *req = j->req;
    if (req) { /* else the client went away (and the work may have been cancelled) */
        req->on_abort = NULL;
        req->hook_ctx = NULL;
        if (status) /* only on_abort cancels, so this is not expected */
            sy_api_send_error(req, SY_ERR_INTERNAL, NULL, "the query was cancelled");
        else if (j->err)
            sy_api_send_error(req, j->err, j->param, j->msg[0] ? j->msg : "query failed");
        else
            sy_api_send_json(req, 200, j->out.base, j->out.len, NULL, 0);
    }
    job_free(j);
}

static void submit(sy_http_req_t *req, sy_worker_t *w, job_t *j)
{
    j->req = req;
    j->store = w->store;
    j->work.data = j;
    int r = uv_queue_work(&w->loop, &j->work, on_work, on_after_work);
    if (r) {
        job_free(j);
        sy_api_send_error(req, SY_ERR_INTERNAL, NULL, uv_strerror(r));
        return;
    }
    req->on_abort = on_client_abort;
    req->hook_ctx = j;
}

static job_t *job_new(job_kind_t kind, size_t out_max)
{
    job_t *j = sy_xcalloc(1, sizeof *j);
    j->kind = kind;
    sy_buf_init(&j->out, out_max);
    return j;
}

static bool store_ready(sy_http_req_t *req, sy_worker_t *w)
{
    if (w->store) return true;
    sy_api_send_error_ex(req, 503, "server_error", "logging_disabled", NULL,
                         "the inference log is disabled (log.enabled: false); there is nothing to "
                         "query");
    return false;
}

static bool bad_param(sy_http_req_t *req, const char *param, const char *msg)
{
    sy_api_send_error(req, SY_ERR_INVALID_REQUEST, param, msg);
    return false;
}

/* Parses the query string into params; sends the 400 and returns false on error. */
static bool parse_query(sy_http_req_t *req, sy_http_param_t *params, size_t n)
{
    char msg[MSGLEN];
    const char *bad = NULL;
    if (sy_http_query_parse(req->query, params, n, &req->arena, &bad, msg, sizeof msg))
        return bad_param(req, bad, msg);
    return true;
}

/* A time parameter (RFC 3339 or Unix ms) into *us. */
static bool time_param(sy_http_req_t *req, const sy_http_param_t *p, int64_t *us)
{
    if (sy_timefmt_parse(p->value, us)) return true;
    char msg[MSGLEN];
    snprintf(msg, sizeof msg,
             "'%s' must be an RFC 3339 timestamp (e.g. 2026-11-23T06:00:00Z, "
             "2026-11-23T07:00:00.5+01:00) or integer Unix milliseconds, not before 1970",
             p->name);
    return bad_param(req, p->name, msg);
}

/* A non-empty text parameter, copied for the job (NULL when absent). */
static bool text_param(sy_http_req_t *req, const sy_http_param_t *p, job_t *j, size_t slot,
                       const char **out)
{
    if (!p->set) return true;
    if (p->value.len == 0 || p->value.len > 1024) {
        char msg[MSGLEN];
        snprintf(msg, sizeof msg, "'%s' must be 1 to 1024 bytes", p->name);
        return bad_param(req, p->name, msg);
    }
    j->strs[slot] = sy_xstrndup(p->value.ptr, p->value.len);
    *out = j->strs[slot];
    return true;
}

enum {
    P_FROM,
    P_TO,
    P_MODEL,
    P_PROVIDER,
    P_STATUS,
    P_KEY,
    P_USER,
    P_Q,
    P_ORDER,
    P_LIMIT,
    P_CURSOR
};

void sy_api_logs(sy_http_req_t *req, sy_worker_t *w)
{
    if (!store_ready(req, w)) return;
    sy_http_param_t p[] = {
        [P_FROM] = {.name = "from"},     [P_TO] = {.name = "to"},
        [P_MODEL] = {.name = "model"},   [P_PROVIDER] = {.name = "provider"},
        [P_STATUS] = {.name = "status"}, [P_KEY] = {.name = "key"},
        [P_USER] = {.name = "user"},     [P_Q] = {.name = "q"},
        [P_ORDER] = {.name = "order"},   [P_LIMIT] = {.name = "limit"},
        [P_CURSOR] = {.name = "cursor"},
    };
    if (!parse_query(req, p, sizeof p / sizeof p[0])) return;
    job_t *j = job_new(JOB_LIST, LIST_MAX_BYTES);
    sy_log_filter_t *f = &j->filter;
    j->limit = DEFAULT_LIMIT;
    if ((p[P_FROM].set && !time_param(req, &p[P_FROM], &f->from_us)) ||
        (p[P_TO].set && !time_param(req, &p[P_TO], &f->to_us)))
        goto fail;
    if (p[P_TO].set && f->to_us == 0) { /* the store reads to_us 0 as "no upper bound" */
        bad_param(req, "to", "'to' must be after 1970-01-01T00:00:00Z");
        goto fail;
    }
    if (p[P_FROM].set && p[P_TO].set && f->to_us <= f->from_us) {
        bad_param(req, "to", "'to' must be after 'from'");
        goto fail;
    }
    if (!text_param(req, &p[P_MODEL], j, 0, &f->model) ||
        !text_param(req, &p[P_PROVIDER], j, 1, &f->provider) ||
        !text_param(req, &p[P_KEY], j, 2, &f->key_id) ||
        !text_param(req, &p[P_USER], j, 3, &f->user_id) ||
        !text_param(req, &p[P_Q], j, 4, &f->text))
        goto fail;
    if (p[P_STATUS].set) {
        if (!sy_log_status_parse(p[P_STATUS].value, &f->status)) {
            bad_param(req, "status", "'status' must be one of ok, error, cancelled, timeout");
            goto fail;
        }
        f->has_status = true;
    }
    if (p[P_ORDER].set) {
        if (sy_str_eq_c(p[P_ORDER].value, "asc")) {
            f->ascending = true;
        } else if (!sy_str_eq_c(p[P_ORDER].value, "desc")) {
            bad_param(req, "order", "'order' must be asc or desc");
            goto fail;
        }
    }
    if (p[P_LIMIT].set) {
        sy_str_t v = p[P_LIMIT].value;
        size_t n = 0, i = 0;
        for (; i < v.len && i < 5 && v.ptr[i] >= '0' && v.ptr[i] <= '9'; i++)
            n = n * 10 + (size_t)(v.ptr[i] - '0');
        if (v.len == 0 || i != v.len || n < 1 || n > SY_STORE_LOGS_MAX_LIMIT) {
            bad_param(req, "limit", "'limit' must be an integer from 1 to 1000");
            goto fail;
        }
        j->limit = n;
    }
    if (p[P_CURSOR].set) {
        int64_t t;
        char id[SY_UUID_STRLEN + 1];
        if (p[P_CURSOR].value.len >= SY_STORE_CURSOR_MAX ||
            (p[P_CURSOR].value.len && !sy_store_cursor_parse(p[P_CURSOR].value.ptr, &t, id))) {
            bad_param(req, "cursor", "malformed 'cursor'; pass next_cursor from a previous page");
            goto fail;
        }
        memcpy(j->cursor, p[P_CURSOR].value.ptr, p[P_CURSOR].value.len + 1);
    }
    submit(req, w, j);
    return;
fail:
    job_free(j);
}

void sy_api_log_get(sy_http_req_t *req, sy_worker_t *w, sy_str_t id)
{
    if (!store_ready(req, w)) return;
    if (req->query.len) {
        sy_api_send_error(req, SY_ERR_INVALID_REQUEST, NULL,
                          "GET /api/v1/logs/{id} takes no query parameters");
        return;
    }
    if (!sy_log_uuid_valid(id.ptr, id.len)) {
        sy_api_send_error(req, SY_ERR_INVALID_REQUEST, "id",
                          "malformed log id: expected a lower-case UUID such as "
                          "0190b7a8-1c2d-7e3f-8a9b-0c1d2e3f4a5b");
        return;
    }
    /* bodies are capped at log.max_body_bytes each; JSON escaping can grow a byte to 6 */
    size_t cap = w->cfg->log.max_body_bytes;
    job_t *j = job_new(JOB_GET, 0);
    j->max_row_bytes = (1u << 20) + 2 * 6 * cap + 3 * (64u << 10);
    memcpy(j->id, id.ptr, id.len);
    submit(req, w, j);
}

enum { S_FROM, S_TO, S_BUCKET, S_GROUP };

void sy_api_stats(sy_http_req_t *req, sy_worker_t *w)
{
    if (!store_ready(req, w)) return;
    sy_http_param_t p[] = {
        {.name = "from"}, {.name = "to"}, {.name = "bucket"}, {.name = "group_by"}};
    if (!parse_query(req, p, 4)) return;
    sy_stats_query_t q = {0};
    if (!p[S_FROM].set || !p[S_TO].set) {
        const char *which = p[S_FROM].set ? "to" : "from";
        char msg[MSGLEN];
        snprintf(msg, sizeof msg, "'%s' is required (RFC 3339 or Unix milliseconds)", which);
        bad_param(req, which, msg);
        return;
    }
    if (!time_param(req, &p[S_FROM], &q.from_us) || !time_param(req, &p[S_TO], &q.to_us)) return;
    if (q.to_us <= q.from_us) {
        bad_param(req, "to", "'to' must be after 'from'");
        return;
    }
    int64_t bucket_s;
    if (p[S_BUCKET].set) {
        if (!sy_logs_bucket_parse(p[S_BUCKET].value, &bucket_s)) {
            bad_param(req, "bucket",
                      "'bucket' must be a width such as 60s, 5m, 1h, 1d or whole seconds, "
                      "from 1 s to 366 d");
            return;
        }
    } else {
        bucket_s = sy_logs_bucket_default(q.from_us, q.to_us);
    }
    q.bucket_us = bucket_s * 1000000;
    int64_t nb = sy_logs_bucket_count(q.from_us, q.to_us, q.bucket_us);
    if (nb > SY_STORE_STATS_MAX_BUCKETS) {
        char msg[MSGLEN];
        snprintf(msg, sizeof msg,
                 "the range needs %lld buckets of %llds; at most %d: use a wider bucket or a "
                 "shorter range",
                 (long long)nb, (long long)bucket_s, SY_STORE_STATS_MAX_BUCKETS);
        bad_param(req, "bucket", msg);
        return;
    }
    if (p[S_GROUP].set && !sy_logs_group_parse(p[S_GROUP].value, &q.group_by)) {
        bad_param(req, "group_by", "'group_by' must be one of none, model, provider, key");
        return;
    }
    job_t *j = job_new(JOB_STATS, STATS_MAX_BYTES);
    j->stats = q;
    submit(req, w, j);
}
