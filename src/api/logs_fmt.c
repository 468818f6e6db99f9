/* See logs_fmt.h. Every append goes through the capped buffer; the first failure is kept in
 * a small writer struct so that the builders read as straight-line code. */
#include "api/logs_fmt.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/timefmt.h"
#include "core/utf8.h"
#include "logpipe/cost.h"

typedef struct w {
    sy_buf_t *b;
    sy_err_t err;
    bool first; /* no member written yet in the current object */
} w_t;

static void raw(w_t *w, const char *s, size_t n)
{
    if (!w->err) w->err = sy_buf_append(w->b, s, n);
}

static void rawc(w_t *w, const char *s)
{
    raw(w, s, strlen(s));
}

static void key(w_t *w, const char *k)
{
    if (!w->first) raw(w, ",", 1);
    w->first = false;
    raw(w, "\"", 1);
    rawc(w, k);
    raw(w, "\":", 2);
}

static void open_obj(w_t *w)
{
    raw(w, "{", 1);
    w->first = true;
}

static void close_obj(w_t *w)
{
    raw(w, "}", 1);
    w->first = false;
}

static void str_v(w_t *w, const char *s, size_t n)
{
    if (!s) {
        rawc(w, "null");
    } else if (!w->err && sy_utf8_valid(s, n)) {
        w->err = sy_json_append_string(w->b, s, n);
    } else if (!w->err) {
        /* a body cut at log.max_body_bytes can end inside a sequence (the SQLite store keeps the
         * bytes): JSON must be UTF-8, so a bad byte becomes U+FFFD */
        char *t = sy_xmalloc(3 * n + 1);
        w->err = sy_json_append_string(w->b, t, sy_utf8_scrub(s, n, t));
        free(t);
    }
}

static void k_str(w_t *w, const char *k, sy_str_t v)
{
    key(w, k);
    str_v(w, v.ptr, v.len);
}

static void k_cstr(w_t *w, const char *k, const char *v)
{
    key(w, k);
    str_v(w, v, v ? strlen(v) : 0);
}

static void k_int(w_t *w, const char *k, int64_t v)
{
    char t[24];
    key(w, k);
    raw(w, t, (size_t)snprintf(t, sizeof t, "%lld", (long long)v));
}

/* An int64 column where SY_LOG_UNKNOWN (or any negative) is NULL. */
static void k_opt(w_t *w, const char *k, int64_t v)
{
    if (v < 0) {
        key(w, k);
        rawc(w, "null");
    } else {
        k_int(w, k, v);
    }
}

static void k_bool(w_t *w, const char *k, bool v)
{
    key(w, k);
    rawc(w, v ? "true" : "false");
}

static void k_num(w_t *w, const char *k, double v)
{
    char t[40];
    key(w, k);
    /* %.17g round-trips a double; JSON has no NaN/Inf */
    if (v != v || v > 1e300 || v < -1e300)
        rawc(w, "null");
    else
        raw(w, t, (size_t)snprintf(t, sizeof t, "%.17g", v));
}

/* A time: "<name>_at": RFC 3339 (null when unknown) and "<us_name>": the raw integer. */
static void k_time(w_t *w, const char *at_name, const char *us_name, int64_t us)
{
    key(w, at_name);
    if (us < 0) {
        rawc(w, "null");
    } else {
        char t[SY_TIMEFMT_RFC3339_LEN];
        int n = sy_timefmt_rfc3339(t, us);
        raw(w, "\"", 1);
        raw(w, t, (size_t)n);
        raw(w, "\"", 1);
    }
    k_opt(w, us_name, us);
}

/* cost_usd (exact decimal or null) and cost_nanousd (integer or null). */
static void k_cost(w_t *w, int64_t nanousd, bool with_nano)
{
    key(w, "cost_usd");
    if (nanousd < 0) {
        rawc(w, "null");
    } else {
        char t[SY_COST_USD_LEN];
        raw(w, t, (size_t)sy_cost_format_usd(t, nanousd));
    }
    if (with_nano) k_opt(w, "cost_nanousd", nanousd);
}

/* Milliseconds from µs (a JSON number, exact to the µs), or null when unknown. */
static void k_ms(w_t *w, const char *k, int64_t us)
{
    key(w, k);
    if (us < 0) {
        rawc(w, "null");
        return;
    }
    char t[32];
    int n = snprintf(t, sizeof t, "%lld", (long long)(us / 1000));
    if (us % 1000) {
        n += snprintf(t + n, sizeof t - (size_t)n, ".%03d", (int)(us % 1000));
        while (t[n - 1] == '0')
            n--;
    }
    raw(w, t, (size_t)n);
}

/* The stored metadata text is a JSON object written by the enrichment; it is embedded as an
 * object after a validating parse (anything else, which only a foreign writer could produce,
 * becomes null rather than broken JSON). */
static void k_metadata(w_t *w, sy_str_t md)
{
    key(w, "metadata");
    json_t *doc = md.ptr ? json_loadb(md.ptr, md.len, 0, NULL) : NULL;
    if (json_is_object(doc))
        raw(w, md.ptr, md.len);
    else
        rawc(w, "null");
    json_decref(doc);
}

sy_err_t sy_logs_row_json(sy_buf_t *b, const sy_log_record_t *r, bool with_bodies)
{
    w_t w = {.b = b};
    open_obj(&w);
    k_cstr(&w, "object", "inference_log");
    k_cstr(&w, "id", r->id);
    k_str(&w, "request_id", r->request_id);
    k_int(&w, "attempt", r->attempt);
    k_cstr(&w, "parent_id", r->parent_id[0] ? r->parent_id : NULL);
    k_time(&w, "received_at", "t_received_us", r->t_received_us);
    k_time(&w, "upstream_start_at", "t_upstream_start_us", r->t_upstream_start_us);
    k_time(&w, "first_token_at", "t_first_token_us", r->t_first_token_us);
    k_time(&w, "ended_at", "t_end_us", r->t_end_us);
    k_opt(&w, "latency_us", r->latency_us);
    k_opt(&w, "ttft_us", r->ttft_us);
    k_opt(&w, "overhead_us", r->overhead_us);
    k_str(&w, "model", r->model);
    k_str(&w, "provider", r->provider);
    k_str(&w, "upstream_model", r->upstream_model);
    k_str(&w, "deployment", r->deployment);
    k_cstr(&w, "status", sy_log_status_name(r->status));
    k_opt(&w, "http_status", r->http_status > 0 ? r->http_status : SY_LOG_UNKNOWN);
    k_str(&w, "error_type", r->error_type);
    k_str(&w, "error_message", r->error_message);
    k_opt(&w, "input_tokens", r->input_tokens);
    k_opt(&w, "output_tokens", r->output_tokens);
    k_opt(&w, "cached_read_tokens", r->cached_read_tokens);
    k_opt(&w, "cache_write_tokens", r->cache_write_tokens);
    k_opt(&w, "reasoning_tokens", r->reasoning_tokens);
    k_cstr(&w, "usage_source", sy_log_usage_source_name(r->usage_source));
    k_cost(&w, r->cost_nanousd, true);
    k_str(&w, "key_id", r->key_id);
    k_str(&w, "user_id", r->user_id);
    k_str(&w, "team_id", r->team_id);
    k_str(&w, "conversation_id", r->conversation_id);
    k_str(&w, "message_id", r->message_id);
    k_str(&w, "experiment", r->experiment);
    k_str(&w, "variant", r->variant);
    key(&w, "tags");
    raw(&w, "[", 1);
    for (uint32_t i = 0; i < r->n_tags; i++) {
        if (i) raw(&w, ",", 1);
        str_v(&w, r->tags[i].ptr ? r->tags[i].ptr : "", r->tags[i].len);
    }
    raw(&w, "]", 1);
    k_metadata(&w, r->metadata);
    k_opt(&w, "request_size", r->request_size);
    k_opt(&w, "response_size", r->response_size);
    k_bool(&w, "request_truncated", r->request_truncated);
    k_bool(&w, "response_truncated", r->response_truncated);
    if (with_bodies) {
        k_str(&w, "request_body", r->request_body);
        k_str(&w, "response_body", r->response_body);
    }
    close_obj(&w);
    return w.err;
}

const char *sy_logs_percentiles_kind(const sy_store_t *s, const sy_stats_result_t *res)
{
    (void)s;
    return res->approximate_percentiles ? "approximate" : "exact";
}

void sy_logs_stats_totals(const sy_stats_result_t *cells, sy_stats_row_t *tot)
{
    memset(tot, 0, sizeof *tot);
    tot->cost_nanousd = SY_LOG_UNKNOWN;
    int64_t tok = 0, lat = 0;
    for (size_t i = 0; i < cells->n; i++) {
        const sy_stats_row_t *c = &cells->rows[i];
        tot->count += c->count;
        tot->errors += c->errors;
        tot->input_tokens += c->input_tokens;
        tot->output_tokens += c->output_tokens;
        tot->cost_unknown += c->cost_unknown;
        tok += c->ok_output_tokens;
        lat += c->ok_latency_us;
        if (c->cost_nanousd != SY_LOG_UNKNOWN)
            tot->cost_nanousd =
                (tot->cost_nanousd == SY_LOG_UNKNOWN ? 0 : tot->cost_nanousd) + c->cost_nanousd;
    }
    sy_stats_row_set_rates(tot, tok, lat);
}

/* The additive fields shared by a cell and the totals. */
static void stats_common(w_t *w, const sy_stats_row_t *r)
{
    k_int(w, "count", r->count);
    k_int(w, "errors", r->errors);
    k_num(w, "error_rate", r->count ? (double)r->errors / (double)r->count : 0);
    k_int(w, "input_tokens", r->input_tokens);
    k_int(w, "output_tokens", r->output_tokens);
    k_num(w, "tokens_per_s", r->tokens_per_s);
    k_cost(w, r->cost_nanousd, true);
    k_int(w, "cost_unknown_rows", r->cost_unknown);
}

static void stats_cell(w_t *w, const sy_stats_row_t *r)
{
    open_obj(w);
    k_time(w, "bucket_start", "bucket_start_us", r->bucket_start_us);
    k_cstr(w, "group", r->group);
    stats_common(w, r);
    key(w, "latency_ms");
    open_obj(w);
    k_ms(w, "p50", r->latency_p50_us);
    k_ms(w, "p95", r->latency_p95_us);
    k_ms(w, "p99", r->latency_p99_us);
    close_obj(w);
    key(w, "ttft_ms");
    open_obj(w);
    k_ms(w, "p50", r->ttft_p50_us);
    k_ms(w, "p95", r->ttft_p95_us);
    close_obj(w);
    close_obj(w);
}

sy_err_t sy_logs_stats_json(sy_buf_t *b, const sy_stats_query_t *q, const char *percentiles,
                            const sy_stats_result_t *cells, const sy_stats_result_t *totals)
{
    w_t w = {.b = b};
    open_obj(&w);
    k_cstr(&w, "object", "stats");
    k_time(&w, "from", "from_us", q->from_us);
    k_time(&w, "to", "to_us", q->to_us);
    k_int(&w, "bucket_seconds", q->bucket_us / 1000000);
    k_cstr(&w, "group_by", sy_logs_group_name(q->group_by));
    k_cstr(&w, "percentiles", percentiles);
    if (cells->approximate_percentiles)
        k_num(&w, "percentile_max_rel_error", sy_stats_pct_rel_error(cells));
    key(&w, "data");
    raw(&w, "[", 1);
    for (size_t i = 0; i < cells->n && !w.err; i++) {
        if (i) raw(&w, ",", 1);
        stats_cell(&w, &cells->rows[i]);
    }
    raw(&w, "]", 1);
    key(&w, "totals");
    sy_stats_row_t none = {.cost_nanousd = SY_LOG_UNKNOWN};
    open_obj(&w);
    stats_common(&w, totals->n ? &totals->rows[0] : &none);
    close_obj(&w);
    close_obj(&w);
    return w.err;
}

static const char *const group_names[] = {"none", "model", "provider", "key"};

const char *sy_logs_group_name(sy_stats_group_t g)
{
    return (unsigned)g < 4 ? group_names[g] : "none";
}

bool sy_logs_group_parse(sy_str_t s, sy_stats_group_t *g)
{
    for (int i = 0; i < 4; i++)
        if (sy_str_eq_c(s, group_names[i])) {
            *g = (sy_stats_group_t)i;
            return true;
        }
    return false;
}

bool sy_logs_bucket_parse(sy_str_t s, int64_t *seconds)
{
    if (!s.ptr || s.len == 0 || s.len > 12) return false;
    int64_t v = 0, unit = 1;
    size_t n = s.len;
    switch (s.ptr[n - 1]) {
    case 's':
        unit = 1, n--;
        break;
    case 'm':
        unit = 60, n--;
        break;
    case 'h':
        unit = 3600, n--;
        break;
    case 'd':
        unit = 86400, n--;
        break;
    default:
        break;
    }
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9') return false;
        v = v * 10 + (s.ptr[i] - '0');
    }
    v *= unit;
    if (v < 1 || v > SY_LOGS_MAX_BUCKET_S) return false;
    *seconds = v;
    return true;
}

int64_t sy_logs_bucket_count(int64_t from_us, int64_t to_us, int64_t bucket_us)
{
    if (to_us <= from_us || bucket_us <= 0) return 0;
    return (to_us - 1) / bucket_us - from_us / bucket_us + 1;
}

int64_t sy_logs_bucket_default(int64_t from_us, int64_t to_us)
{
    static const int64_t nice[] = {
        1,     5,         10,        15,         30,         60,         120,         300,
        600,   900,       1800,      3600,       7200,       10800,      21600,       43200,
        86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400, 183 * 86400, 366 * 86400};
    size_t n = sizeof nice / sizeof nice[0];
    for (size_t i = 0; i < n; i++)
        if (sy_logs_bucket_count(from_us, to_us, nice[i] * 1000000) <= SY_LOGS_DEFAULT_BUCKETS)
            return nice[i];
    return nice[n - 1];
}
