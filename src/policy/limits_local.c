/* In-process limits backend.
 *
 * DESIGN. State is split over STRIPES stripes by a hash of the key; each stripe is a mutex and
 * a chained hash table of entries. An admit locks the distinct stripes of its slots in ascending
 * order (so two admits can never wait on each other in a cycle), checks every slot, charges
 * every slot if all admit, and unlocks: check-all-then-charge-all is atomic for any mix of keys,
 * and admits on unrelated keys rarely share a lock. A windowed entry is a ring of B+1 buckets
 * (bucket id, count) indexed by id mod (B+1). Every SWEEP_EVERY operations a stripe frees its
 * entries whose state has expired, so memory follows the keys active in the last window.
 * A windowed entry also caches its live sum and newest live bucket for the bucket they were
 * computed at: a charge or refund in that bucket updates them, anything else (a new bucket, a
 * refund that empties a bucket, a live bucket overwritten after the clock went back) drops them,
 * and the next admit walks the ring once more. So the ring is walked about once per bucket
 * width (a second for a minute window) per limit, not on every admit. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "policy/limits_int.h"

#define STRIPES 64
/* the stripe from the hash's top bits: a stripe's table indexes by the low bits */
#define STRIPE_OF(h) ((int)((h) >> 58))
_Static_assert(STRIPES == 64, "STRIPE_OF takes 6 bits");
#define SWEEP_EVERY 1024
#define RING (SY_LIMITS_BUCKETS + 1)

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    int64_t expire_ms; /* state is empty from then on (INT64_MAX: concurrency in use) */
    int64_t count;     /* concurrent: in flight; budget: spent */
    /* windowed: the live sum and newest live bucket as of bucket sum_b (-1: not known), kept
     * up to date by charges and refunds so that an admit in the same bucket reads them instead
     * of walking the ring (see DESIGN) */
    int64_t sum_b, sum, newest;
    int64_t ids[RING]; /* windowed only */
    int64_t cnt[RING];
    char key[];
} entry_t;

typedef struct stripe {
    pthread_mutex_t mu;
    entry_t **tab;
    size_t cap, len; /* cap: power of two */
    uint64_t ops;
    char pad[64];
} stripe_t;

typedef struct local {
    sy_limits_t base;
    stripe_t st[STRIPES];
} local_t;

static void grow(stripe_t *st)
{
    size_t cap = st->cap ? st->cap * 2 : 16;
    entry_t **tab = sy_xcalloc(cap, sizeof(*tab));
    for (size_t i = 0; i < st->cap; i++) {
        for (entry_t *e = st->tab[i], *nx; e; e = nx) {
            nx = e->next;
            e->next = tab[e->hash & (cap - 1)];
            tab[e->hash & (cap - 1)] = e;
        }
    }
    free(st->tab);
    st->tab = tab;
    st->cap = cap;
}

static void sweep(stripe_t *st, int64_t now)
{
    for (size_t i = 0; i < st->cap; i++) {
        for (entry_t **pp = &st->tab[i]; *pp;) {
            entry_t *e = *pp;
            if (e->expire_ms <= now) {
                *pp = e->next;
                free(e);
                st->len--;
            } else {
                pp = &e->next;
            }
        }
    }
}

static entry_t *lookup(stripe_t *st, const char *key, uint64_t h)
{
    if (st->cap)
        for (entry_t *e = st->tab[h & (st->cap - 1)]; e; e = e->next)
            if (e->hash == h && strcmp(e->key, key) == 0) return e;
    if (st->len >= st->cap) grow(st);
    size_t kl = strlen(key);
    entry_t *e = sy_xcalloc(1, sizeof(*e) + kl + 1);
    memcpy(e->key, key, kl);
    e->hash = h;
    for (int i = 0; i < RING; i++)
        e->ids[i] = -1;
    e->sum_b = -1;
    e->next = st->tab[h & (st->cap - 1)];
    st->tab[h & (st->cap - 1)] = e;
    st->len++;
    return e;
}

/* Stripe indexes of r's slots, distinct and ascending; returns how many. */
static int stripes_of(const sy_limits_resv_t *r, const uint64_t *h, int *out)
{
    int m = 0;
    for (size_t i = 0; i < r->n; i++) {
        int s = STRIPE_OF(h[i]), j = m;
        for (int k = 0; k < m; k++)
            if (out[k] == s) j = -1;
        if (j < 0) continue;
        while (j > 0 && out[j - 1] > s) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = s;
        m++;
    }
    return m;
}

/* Locks the stripes; sweeps each every SWEEP_EVERY operations, before any entry is looked up
 * (a sweep must never free an entry an operation holds). */
static void lock_all(local_t *lo, const int *idx, int m, int64_t now)
{
    for (int i = 0; i < m; i++) {
        stripe_t *st = &lo->st[idx[i]];
        pthread_mutex_lock(&st->mu);
        if (++st->ops % SWEEP_EVERY == 0) sweep(st, now);
    }
}

static void unlock_all(local_t *lo, const int *idx, int m)
{
    for (int i = m; i-- > 0;)
        pthread_mutex_unlock(&lo->st[idx[i]].mu);
}

/* Live buckets of e at bucket b, ascending: ids >= b - B with a count. Returns the number. */
static int live_buckets(const entry_t *e, int64_t b, int64_t *ids, int64_t *cnt)
{
    int m = 0;
    for (int i = 0; i < RING; i++) {
        if (e->ids[i] < b - SY_LIMITS_BUCKETS || e->cnt[i] <= 0) continue;
        int j = m++;
        while (j > 0 && ids[j - 1] > e->ids[i]) {
            ids[j] = ids[j - 1];
            cnt[j] = cnt[j - 1];
            j--;
        }
        ids[j] = e->ids[i];
        cnt[j] = e->cnt[i];
    }
    return m;
}

static void win_charge(entry_t *e, const sy_limits_slot_t *s, int64_t b, int64_t amount)
{
    int i = (int)(b % RING);
    if (e->ids[i] != b) {
        if (e->ids[i] >= b - SY_LIMITS_BUCKETS) e->sum_b = -1; /* a live bucket dropped */
        e->ids[i] = b;
        e->cnt[i] = 0;
    }
    e->cnt[i] += amount;
    if (e->sum_b == b) {
        e->sum += amount;
        if (b > e->newest) e->newest = b;
    } else {
        e->sum_b = -1;
    }
    int64_t end = (b + 1 + SY_LIMITS_BUCKETS) * s->g_ms;
    if (end > e->expire_ms) e->expire_ms = end;
}

static sy_err_t local_admit(sy_limits_t *l, sy_limits_resv_t *r, sy_limits_admit_cb cb, void *arg)
{
    local_t *lo = (local_t *)l;
    uint64_t h[SY_LIMITS_MAX_PER_REQUEST] = {0};
    entry_t *e[SY_LIMITS_MAX_PER_REQUEST];
    int64_t newest[SY_LIMITS_MAX_PER_REQUEST];
    /* all of [0, m) is set below; zeroed so -O3 cannot see an uninitialised read */
    sy_limits_outcome_t o[SY_LIMITS_MAX_PER_REQUEST] = {0};
    int idx[SY_LIMITS_MAX_PER_REQUEST];
    int64_t now = r->now_ms;
    for (size_t i = 0; i < r->n; i++)
        h[i] = r->slot[i].hash;
    int m = stripes_of(r, h, idx);
    lock_all(lo, idx, m, now);
    bool allowed = true;
    for (size_t i = 0; i < r->n; i++) {
        const sy_limits_slot_t *s = &r->slot[i];
        e[i] = lookup(&lo->st[STRIPE_OF(h[i])], s->key, h[i]);
        o[i] = (sy_limits_outcome_t){.ok = true};
        newest[i] = -1;
        switch (s->kind) {
        case SY_LIMIT_REQUESTS:
        case SY_LIMIT_TOKENS: {
            /* the common case needs only the sum and the newest bucket; the ordered walk
             * (for Retry-After) only when refused */
            int64_t used = 0;
            if (e[i]->sum_b == s->bucket) {
                used = e[i]->sum;
                newest[i] = e[i]->newest;
            } else {
                for (int k = 0; k < RING; k++) {
                    if (e[i]->ids[k] < s->bucket - SY_LIMITS_BUCKETS || e[i]->cnt[k] <= 0) continue;
                    used += e[i]->cnt[k];
                    if (e[i]->ids[k] > newest[i]) newest[i] = e[i]->ids[k];
                }
                e[i]->sum_b = s->bucket;
                e[i]->sum = used;
                e[i]->newest = newest[i];
            }
            if (used + s->amount <= s->limit) {
                o[i].used = used;
                break;
            }
            int64_t ids[RING], cnt[RING];
            int nl = live_buckets(e[i], s->bucket, ids, cnt);
            sy_limits__win_check(s, ids, cnt, nl, now, &o[i]);
            break;
        }
        case SY_LIMIT_CONCURRENT:
            o[i].used = e[i]->count;
            o[i].ok = o[i].used + 1 <= s->limit;
            o[i].retry_ms = o[i].ok ? 0 : SY_LIMITS_CONC_RETRY_MS;
            break;
        case SY_LIMIT_BUDGET:
            o[i].used = e[i]->count;
            o[i].ok = o[i].used < s->limit;
            o[i].retry_ms = o[i].ok ? 0 : s->end_ms - now;
            break;
        }
        if (!o[i].ok) allowed = false;
    }
    for (size_t i = 0; i < r->n; i++) {
        const sy_limits_slot_t *s = &r->slot[i];
        switch (s->kind) {
        case SY_LIMIT_REQUESTS:
        case SY_LIMIT_TOKENS:
            if (allowed && s->amount > 0) {
                win_charge(e[i], s, s->bucket, s->amount);
                if (s->bucket > newest[i]) newest[i] = s->bucket;
            }
            o[i].reset_ms = sy_limits__win_reset(s, newest[i], now);
            break;
        case SY_LIMIT_CONCURRENT:
            if (allowed) {
                e[i]->count++;
                e[i]->expire_ms = INT64_MAX;
            }
            break;
        case SY_LIMIT_BUDGET:
            if (e[i]->expire_ms < s->end_ms) e[i]->expire_ms = s->end_ms;
            o[i].reset_ms = s->end_ms - now;
            break;
        }
    }
    unlock_all(lo, idx, m);
    sy_limits_result_t res;
    sy_limits__result(l, r, o, &res);
    if (!allowed) {
        free(r);
        r = NULL;
    }
    cb(arg, &res, r);
    return SY_OK;
}

static void local_finish(sy_limits_t *l, sy_limits_resv_t *r, int64_t now, sy_limits_done_cb cb,
                         void *arg)
{
    local_t *lo = (local_t *)l;
    uint64_t h[SY_LIMITS_MAX_PER_REQUEST] = {0};
    int idx[SY_LIMITS_MAX_PER_REQUEST];
    for (size_t i = 0; i < r->n; i++)
        h[i] = r->slot[i].hash;
    int m = stripes_of(r, h, idx);
    lock_all(lo, idx, m, now);
    for (size_t i = 0; i < r->n; i++) {
        const sy_limits_slot_t *s = &r->slot[i];
        if (s->kind == SY_LIMIT_REQUESTS || (s->kind != SY_LIMIT_CONCURRENT && s->amount == 0))
            continue;
        entry_t *e = lookup(&lo->st[STRIPE_OF(h[i])], s->key, h[i]);
        switch (s->kind) {
        case SY_LIMIT_TOKENS: {
            int64_t bnow = now / s->g_ms, k = s->bucket % RING;
            if (s->amount > 0) {
                win_charge(e, s, bnow, s->amount);
            } else if (s->bucket >= bnow - SY_LIMITS_BUCKETS && e->ids[k] == s->bucket) {
                int64_t d = -s->amount < e->cnt[k] ? -s->amount : e->cnt[k];
                e->cnt[k] -= d;
                /* the cached sum counts every bucket from sum_b - B on that has a count */
                if (e->sum_b >= 0 && s->bucket >= e->sum_b - SY_LIMITS_BUCKETS) {
                    if (e->cnt[k] > 0)
                        e->sum -= d;
                    else
                        e->sum_b = -1; /* the newest live bucket may have changed */
                }
            }
            break;
        }
        case SY_LIMIT_CONCURRENT:
            if (e->count > 0) e->count--;
            if (e->count == 0) e->expire_ms = 0;
            break;
        case SY_LIMIT_BUDGET:
            e->count += s->amount;
            if (e->expire_ms < s->end_ms) e->expire_ms = s->end_ms;
            break;
        default:
            break;
        }
    }
    unlock_all(lo, idx, m);
    free(r);
    if (cb) cb(arg, true);
}

static void local_free(sy_limits_t *l)
{
    local_t *lo = (local_t *)l;
    for (int i = 0; i < STRIPES; i++) {
        sweep(&lo->st[i], INT64_MAX);
        free(lo->st[i].tab);
        pthread_mutex_destroy(&lo->st[i].mu);
    }
    free(lo);
}

const sy_limits_backend_t sy_limits_local_backend = {
    .name = "local",
    .admit = local_admit,
    .finish = local_finish,
    .free = local_free,
};

size_t sy_limits_local_entries(sy_limits_t *l)
{
    local_t *lo = (local_t *)l;
    size_t n = 0;
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_lock(&lo->st[i].mu);
        n += lo->st[i].len;
        pthread_mutex_unlock(&lo->st[i].mu);
    }
    return n;
}

sy_limits_t *sy_limits_local_new(const sy_limits_clock_t *clock)
{
    local_t *lo = sy_xcalloc(1, sizeof(*lo));
    lo->base.vt = &sy_limits_local_backend;
    lo->base.clock = clock ? *clock : sy_limits_wall_clock;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&lo->st[i].mu, NULL);
    return &lo->base;
}
