/* Limits: the parts both backends share — validating limits, resolving them into slots at the
 * clock's now (bucket, period), building the result from per-slot outcomes, formatting the
 * headers. DESIGN and the decision spec: docs/internals/LIMITS.md. */
#include "policy/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/str.h"
#include "policy/limits_int.h"

#define MINUTE_MS 60000ll
#define DAY_MS 86400000ll

static int64_t wall_now(void *ctx)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const sy_limits_clock_t sy_limits_wall_clock = {wall_now, NULL};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int64_t *m)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t window_ms(sy_limit_window_t w)
{
    switch (w) {
    case SY_LIMIT_MINUTE:
        return MINUTE_MS;
    case SY_LIMIT_HOUR:
        return 60 * MINUTE_MS;
    case SY_LIMIT_DAY:
        return DAY_MS;
    default:
        return 0;
    }
}

uint64_t sy_limits_scope_hash(const char *scope)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *scope; scope++)
        h = (h ^ (unsigned char)*scope) * 1099511628211ull;
    return h ? h : 1;
}

static uint64_t mix64(uint64_t x) /* splitmix64's finalizer */
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The slot key's hash without reading the key: the scope's hash mixed with what plan() puts
 * before it — kind, window, and a budget's period. The top 6 bits (the in-process backend's
 * stripe) come from the scope alone, so all limits of one scope share a stripe and an admit of
 * a key's three limits takes one lock, not three. */
static uint64_t slot_hash(uint64_t scope_hash, const sy_limits_slot_t *s, sy_limit_window_t w)
{
    const uint64_t top = 63ull << 58;
    uint64_t x = scope_hash ^ ((uint64_t)s->kind << 56 | (uint64_t)w << 48);
    if (s->kind == SY_LIMIT_BUDGET) x += (uint64_t)s->bucket * 0x9e3779b97f4a7c15ull;
    return (mix64(x) & ~top) | (mix64(scope_hash) & top);
}

static const char KIND_CODE[] = {'r', 't', 'c', 'b'};
static const char WINDOW_CODE[] = {'-', 'm', 'h', 'd', 'M'};

/* Resolves lim at now into s. SY_ERR_INVALID_REQUEST for a bad limit. */
static sy_err_t plan(sy_limits_slot_t *s, const sy_limit_t *lim, int64_t now, int64_t est)
{
    if (!lim->scope || lim->amount < 0 || strlen(lim->scope) > SY_LIMITS_SCOPE_MAX)
        return SY_ERR_INVALID_REQUEST;
    if ((unsigned)lim->kind > SY_LIMIT_BUDGET || (unsigned)lim->window > SY_LIMIT_MONTH)
        return SY_ERR_INVALID_REQUEST;
    s->amount = s->g_ms = s->bucket = s->end_ms = 0;
    s->kind = lim->kind;
    s->limit = lim->amount;
    char period[32] = "";
    switch (lim->kind) {
    case SY_LIMIT_REQUESTS:
    case SY_LIMIT_TOKENS:
        if (lim->window < SY_LIMIT_MINUTE || lim->window > SY_LIMIT_DAY)
            return SY_ERR_INVALID_REQUEST;
        s->amount = lim->kind == SY_LIMIT_REQUESTS ? 1 : est;
        s->g_ms = window_ms(lim->window) / SY_LIMITS_BUCKETS;
        s->bucket = floor_div(now, s->g_ms);
        break;
    case SY_LIMIT_CONCURRENT:
        if (lim->window != SY_LIMIT_NONE) return SY_ERR_INVALID_REQUEST;
        s->amount = 1;
        break;
    case SY_LIMIT_BUDGET: {
        int64_t day = floor_div(now, DAY_MS);
        if (lim->window == SY_LIMIT_DAY) {
            s->bucket = day;
            s->end_ms = (day + 1) * DAY_MS;
        } else if (lim->window == SY_LIMIT_MONTH) {
            int64_t y, m;
            civil_from_days(day, &y, &m);
            s->bucket = y * 12 + (m - 1);
            s->end_ms = days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * DAY_MS;
        } else {
            return SY_ERR_INVALID_REQUEST;
        }
        size_t pn = sy_u64_dec(period, (uint64_t)s->bucket); /* a day or month since 1970 */
        period[pn] = ':';
        period[pn + 1] = '\0';
        break;
    }
    }
    /* by hand: this runs for every limit of every admit */
    size_t pl = strlen(period), sl = strlen(lim->scope);
    memcpy(s->key, "sy:rl:", 6);
    s->key[6] = KIND_CODE[lim->kind];
    s->key[7] = WINDOW_CODE[lim->window];
    s->key[8] = ':';
    memcpy(s->key + 9, period, pl);
    memcpy(s->key + 9 + pl, lim->scope, sl + 1);
    s->hash = slot_hash(lim->scope_hash ? lim->scope_hash : sy_limits_scope_hash(lim->scope), s,
                        lim->window);
    return SY_OK;
}

sy_err_t sy_limits_admit(sy_limits_t *l, const sy_limit_t *lim, size_t n, int64_t est_tokens,
                         sy_limits_admit_cb cb, void *arg)
{
    if (n == 0 || n > SY_LIMITS_MAX_PER_REQUEST || est_tokens < 0 || !cb)
        return SY_ERR_INVALID_REQUEST;
    int64_t now = l->clock.now_ms(l->clock.ctx);
    sy_limits_resv_t *r = sy_xmalloc(sizeof(*r) + n * sizeof(r->slot[0]));
    memset(r, 0, sizeof(*r));
    r->now_ms = now;
    r->est_tokens = est_tokens;
    r->n = n;
    for (size_t i = 0; i < n; i++) {
        sy_err_t err = plan(&r->slot[i], &lim[i], now, est_tokens);
        if (err) {
            free(r);
            return err;
        }
        if (lim[i].kind == SY_LIMIT_CONCURRENT) r->has_conc = true;
        for (size_t j = 0; j < i; j++) {
            if (r->slot[j].hash == r->slot[i].hash &&
                strcmp(r->slot[j].key, r->slot[i].key) == 0) { /* the same limit twice */
                free(r);
                return SY_ERR_INVALID_REQUEST;
            }
        }
    }
    return l->vt->admit(l, r, cb, arg);
}

void sy_limits_finish(sy_limits_t *l, sy_limits_resv_t *resv, int64_t tokens_used,
                      int64_t cost_nanousd, sy_limits_done_cb cb, void *arg)
{
    if (resv->unbacked) {
        free(resv);
        if (cb) cb(arg, true);
        return;
    }
    /* The slots carry what finish applies: tokens slots the difference, budget slots the cost. */
    for (size_t i = 0; i < resv->n; i++) {
        sy_limits_slot_t *s = &resv->slot[i];
        if (s->kind == SY_LIMIT_TOKENS)
            s->amount = tokens_used < 0 ? 0 : tokens_used - resv->est_tokens;
        else if (s->kind == SY_LIMIT_BUDGET)
            s->amount = cost_nanousd < 0 ? 0 : cost_nanousd;
    }
    l->vt->finish(l, resv, l->clock.now_ms(l->clock.ctx), cb, arg);
}

void sy_limits_release(sy_limits_t *l, sy_limits_resv_t *resv, sy_limits_done_cb cb, void *arg)
{
    size_t nc = 0;
    for (size_t i = 0; i < resv->n; i++)
        nc += resv->slot[i].kind == SY_LIMIT_CONCURRENT;
    if (resv->unbacked || nc == 0) {
        if (cb) cb(arg, true);
        return;
    }
    /* The concurrency slots move to a reservation of their own that a finish applies and frees;
     * it takes resv's place in the backend's list of live reservations (the Redis lease). */
    sy_limits_resv_t *c = sy_xmalloc(sizeof(*c) + nc * sizeof(c->slot[0]));
    *c = *resv;
    c->n = 0;
    size_t k = 0;
    for (size_t i = 0; i < resv->n; i++) {
        if (resv->slot[i].kind == SY_LIMIT_CONCURRENT)
            c->slot[c->n++] = resv->slot[i];
        else
            resv->slot[k++] = resv->slot[i];
    }
    resv->n = k;
    resv->has_conc = false;
    if (resv->prev) {
        resv->prev->next = c;
        resv->next->prev = c;
    }
    resv->prev = resv->next = NULL;
    l->vt->finish(l, c, l->clock.now_ms(l->clock.ctx), cb, arg);
}

void sy_limits_discard(sy_limits_resv_t *resv)
{
    free(resv);
}

void sy_limits_cancel(sy_limits_t *l, sy_limits_resv_t *resv, sy_limits_done_cb cb, void *arg)
{
    sy_limits_finish(l, resv, 0, 0, cb, arg);
}

void sy_limits_free(sy_limits_t *l)
{
    if (l) l->vt->free(l);
}

void sy_limits_get_stats(const sy_limits_t *l, sy_limits_stats_t *out)
{
    out->admitted = __atomic_load_n(&l->admitted, __ATOMIC_RELAXED);
    out->denied = __atomic_load_n(&l->denied, __ATOMIC_RELAXED);
    out->fail_open = __atomic_load_n(&l->fail_open, __ATOMIC_RELAXED);
    out->fail_closed = __atomic_load_n(&l->fail_closed, __ATOMIC_RELAXED);
    out->finish_failed = __atomic_load_n(&l->finish_failed, __ATOMIC_RELAXED);
    out->finish_lost = __atomic_load_n(&l->finish_lost, __ATOMIC_RELAXED);
}

void sy_limits__win_check(const sy_limits_slot_t *s, const int64_t *ids, const int64_t *cnt, int m,
                          int64_t now, sy_limits_outcome_t *o)
{
    o->used = 0;
    for (int j = 0; j < m; j++)
        o->used += cnt[j];
    o->ok = o->used + s->amount <= s->limit;
    o->retry_ms = 0;
    if (o->ok) return;
    if (s->amount > s->limit) {
        o->retry_ms = -1;
        return;
    }
    int64_t released = 0;
    for (int j = 0; j < m; j++) {
        released += cnt[j];
        if (o->used - released + s->amount <= s->limit) {
            o->retry_ms = (ids[j] + 1 + SY_LIMITS_BUCKETS) * s->g_ms - now;
            return;
        }
    }
}

int64_t sy_limits__win_reset(const sy_limits_slot_t *s, int64_t newest, int64_t now)
{
    return newest < 0 ? 0 : (newest + 1 + SY_LIMITS_BUCKETS) * s->g_ms - now;
}

static void pick_header(sy_limits_header_t *h, const sy_limits_slot_t *s,
                        const sy_limits_outcome_t *o, bool allowed)
{
    int64_t rem = s->limit - o->used - (allowed ? s->amount : 0);
    if (rem < 0) rem = 0;
    if (h->present && (rem > h->remaining || (rem == h->remaining && o->reset_ms <= h->reset_ms)))
        return;
    h->present = true;
    h->limit = s->limit;
    h->remaining = rem;
    h->reset_ms = o->reset_ms;
}

void sy_limits__result(sy_limits_t *l, const sy_limits_resv_t *r, const sy_limits_outcome_t *o,
                       sy_limits_result_t *res)
{
    memset(res, 0, sizeof(*res));
    res->allowed = true;
    res->denied = -1;
    for (size_t i = 0; i < r->n; i++)
        if (!o[i].ok) res->allowed = false;
    for (size_t i = 0; i < r->n; i++) {
        const sy_limits_slot_t *s = &r->slot[i];
        if (s->kind == SY_LIMIT_REQUESTS) pick_header(&res->requests, s, &o[i], res->allowed);
        if (s->kind == SY_LIMIT_TOKENS) pick_header(&res->tokens, s, &o[i], res->allowed);
        if (o[i].ok) continue;
        /* the reason is the first refusing limit's, except that one that can never pass (retry
         * -1: the request alone is over it) wins over any other: a retry time would be a lie */
        bool never = o[i].retry_ms < 0;
        if (res->denied < 0 || (never && res->retry_after_ms >= 0)) {
            res->denied = (int)i;
            res->reason = s->kind == SY_LIMIT_BUDGET ? SY_LIMITS_QUOTA
                          : never                    ? SY_LIMITS_TOO_LARGE
                                                     : SY_LIMITS_RATE;
        }
        if (res->retry_after_ms >= 0)
            res->retry_after_ms =
                never || o[i].retry_ms > res->retry_after_ms ? o[i].retry_ms : res->retry_after_ms;
    }
    sy_limits__count(res->allowed ? &l->admitted : &l->denied);
}

void sy_limits__failed(sy_limits_t *l, bool fail_open, sy_limits_result_t *res)
{
    memset(res, 0, sizeof(*res));
    res->denied = -1;
    if (fail_open) {
        res->allowed = true;
        res->unbacked = true;
        sy_limits__count(&l->fail_open);
    } else {
        res->reason = SY_LIMITS_UNAVAILABLE;
        res->retry_after_ms = 1000;
        sy_limits__count(&l->fail_closed);
    }
}

int sy_limits_format_reset(char out[SY_LIMITS_RESET_LEN], int64_t ms)
{
    /* by hand, not snprintf: it runs for two headers of every limited response */
    size_t len = 0;
    if (ms <= 0) {
        memcpy(out, "0s", 3);
        return 2;
    }
    if (ms < 1000) {
        len = sy_u64_dec(out, (uint64_t)ms);
        memcpy(out + len, "ms", 3);
        return (int)len + 2;
    }
    int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
    if (h) {
        len += sy_u64_dec(out + len, (uint64_t)h);
        out[len++] = 'h';
    }
    if (h || m) {
        len += sy_u64_dec(out + len, (uint64_t)m);
        out[len++] = 'm';
    }
    len += sy_u64_dec(out + len, (uint64_t)s);
    if (frac) {
        char f[3] = {(char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                     (char)('0' + frac % 10)};
        size_t fl = f[2] != '0' ? 3 : f[1] != '0' ? 2 : 1;
        out[len++] = '.';
        memcpy(out + len, f, fl);
        len += fl;
    }
    out[len++] = 's';
    out[len] = '\0';
    return (int)len;
}

int64_t sy_limits_retry_after_s(int64_t ms)
{
    if (ms < 0) return -1;
    int64_t s = (ms + 999) / 1000;
    return s < 1 ? 1 : s;
}

/* Reads digits (at most 18) into *v; returns the text after them, or NULL. */
static const char *read_count(const char *p, int64_t *v, int *ndigits)
{
    int n = 0;
    *v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (++n > 18) return NULL;
        *v = *v * 10 + (*p - '0');
    }
    if (ndigits) *ndigits = n;
    return n ? p : NULL;
}

static const char *skip_spaces(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

/* Matches one of the words (NUL-separated list ending in an empty word) followed by a
 * non-letter; returns the text after it or NULL. */
static const char *match_word(const char *p, const char *words)
{
    for (const char *w = words; *w; w += strlen(w) + 1) {
        size_t n = strlen(w);
        if (strncmp(p, w, n) == 0 && !(p[n] >= 'a' && p[n] <= 'z')) return p + n;
    }
    return NULL;
}

/* Reads "/<window>" (budgets: day or month; rates: minute, hour or day); returns the text after
 * it or NULL. */
static const char *read_window(const char *p, bool budget, sy_limit_window_t *w)
{
    static const struct {
        const char *words;
        sy_limit_window_t window;
        bool rate, budget;
    } windows[] = {
        {"minute\0min\0m\0", SY_LIMIT_MINUTE, true, false},
        {"hour\0h\0", SY_LIMIT_HOUR, true, false},
        {"day\0d\0", SY_LIMIT_DAY, true, true},
        {"month\0mo\0", SY_LIMIT_MONTH, false, true},
    };
    p = skip_spaces(p);
    if (*p++ != '/') return NULL;
    p = skip_spaces(p);
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        const char *q = match_word(p, windows[i].words);
        if (q && (budget ? windows[i].budget : windows[i].rate)) {
            *w = windows[i].window;
            return q;
        }
    }
    return NULL;
}

sy_err_t sy_limits_parse(const char *text, sy_limit_t *out, char *err, size_t errlen)
{
    const char *p = skip_spaces(text), *q;
    int64_t v = 0;
    out->window = SY_LIMIT_NONE;
    if (*p == '$') { /* budget: exact decimal USD → nano-USD */
        int whole_digits;
        if (!(p = read_count(p + 1, &v, &whole_digits)) || whole_digits > 9) goto bad;
        int64_t frac = 0;
        int fd = 0;
        if (*p == '.') {
            for (p++; *p >= '0' && *p <= '9'; p++) {
                if (++fd > 9) goto bad;
                frac = frac * 10 + (*p - '0');
            }
            if (!fd) goto bad;
        }
        for (int k = fd; k < 9; k++)
            frac *= 10;
        out->kind = SY_LIMIT_BUDGET;
        out->amount = v * 1000000000 + frac;
        if (!(q = read_window(p, true, &out->window))) goto bad;
    } else {
        if (!(p = read_count(p, &v, NULL))) goto bad;
        out->amount = v;
        out->kind = SY_LIMIT_REQUESTS;
        p = skip_spaces(p);
        if ((q = match_word(p, "concurrent\0"))) {
            out->kind = SY_LIMIT_CONCURRENT;
            p = skip_spaces(q);
            if (*p) goto bad;
            return SY_OK;
        }
        if ((q = match_word(p, "requests\0request\0req\0")))
            p = skip_spaces(q);
        else if ((q = match_word(p, "tokens\0token\0tok\0"))) {
            out->kind = SY_LIMIT_TOKENS;
            p = skip_spaces(q);
        }
        if (!(q = read_window(p, false, &out->window))) goto bad;
    }
    if (*skip_spaces(q)) goto bad;
    return SY_OK;
bad:
    snprintf(err, errlen,
             "bad limit \"%.60s\": expected e.g. \"100/hour\", \"60000 tokens/minute\", "
             "\"10 concurrent\", \"$5/day\" or \"$0.25/month\"",
             text);
    return SY_ERR_CONFIG;
}
