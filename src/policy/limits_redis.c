/* Redis limits backend (several replicas share one Redis).
 *
 * DESIGN. One instance per loop thread: a hiredis async context driven by that loop through
 * hiredis' libuv adapter, so nothing ever blocks. Every admit and every finish is ONE Lua
 * script call (EVALSHA of the script loaded at connect; EVAL when the SHA is not known yet or
 * Redis answers NOSCRIPT), so check-all-then-charge-all is atomic against every replica;
 * concurrent calls pipeline on the one connection. Each call has a timer: no reply within
 * timeout_ms, a lost connection or an error reply is a backend failure, answered by the
 * fail-open/fail-closed policy and counted. An admit whose reply arrives after its timeout
 * and says Redis admitted it after all is cancelled (its token estimate refunded, its lease
 * removed), whichever way the policy answered: the request was refused, or admitted unbacked.
 * A finish is never given up on a timeout: it waits for its reply. One that failed (no
 * connection, an error reply, the connection lost before the reply) goes to a bounded retry
 * queue, sent again every second once Redis is back; one that may have been applied (handed to
 * a context that reached connected, even if it was still connecting then, and then lost or
 * answered by an error: a Lua error part-way may leave writes) is retried conservatively: it
 * only charges (refunds dropped, never applied twice). Only a context that never connected, or
 * NOSCRIPT, proves a finish did not run.
 * Concurrency slots are leases (sorted set member = lease id, score = expiry); a repeating
 * timer pushes the expiry of every live reservation's lease forward, so a crashed replica's
 * slots come back within lease_ms. A dropped connection is re-made on the next call, at most
 * once a second. The scripts implement the decision spec in docs/internals/LIMITS.md, the same
 * as limits_local.c; tests/unit/test_limits.c runs one table of cases against both. */
#include <sodium.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libuv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "policy/limits_int.h"

/* ARGV: now, lease id, lease ms, B, then per key: kind (w|c|b), limit, amount, g ms (budget:
 * period end), bucket. Returns {allowed, then per key ok, used, retry, reset}. */
static const char ADMIT_LUA[] =
    "local now, lease, lease_ms, B = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), "
    "tonumber(ARGV[4])\n"
    "local n = #KEYS\n"
    "local kind, lim, amt, g, b, used, ok, retry, newest = {}, {}, {}, {}, {}, {}, {}, {}, {}\n"
    "local allowed = 1\n"
    "for i = 1, n do\n"
    "  local a, k = 4 + (i - 1) * 5, KEYS[i]\n"
    "  kind[i], lim[i], amt[i] = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])\n"
    "  g[i], b[i] = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])\n"
    "  used[i], ok[i], retry[i], newest[i] = 0, 1, 0, -1\n"
    "  if kind[i] == 'w' then\n"
    "    local h, live, stale = redis.call('HGETALL', k), {}, {}\n"
    "    for j = 1, #h, 2 do\n"
    "      local id, c = tonumber(h[j]), tonumber(h[j + 1])\n"
    "      if id < b[i] - B then stale[#stale + 1] = h[j]\n"
    "      elseif c > 0 then\n"
    "        live[#live + 1] = {id, c}; used[i] = used[i] + c\n"
    "        if id > newest[i] then newest[i] = id end\n"
    "      end\n"
    "    end\n"
    "    if #stale > 0 then redis.call('HDEL', k, unpack(stale)) end\n"
    "    if used[i] + amt[i] > lim[i] then\n"
    "      ok[i] = 0\n"
    "      if amt[i] > lim[i] then retry[i] = -1 else\n"
    "        table.sort(live, function(x, y) return x[1] < y[1] end)\n"
    "        local rel = 0\n"
    "        for j = 1, #live do\n"
    "          rel = rel + live[j][2]\n"
    "          if used[i] - rel + amt[i] <= lim[i] then\n"
    "            retry[i] = (live[j][1] + 1 + B) * g[i] - now; break\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  elseif kind[i] == 'c' then\n"
    "    redis.call('ZREMRANGEBYSCORE', k, '-inf', now)\n"
    "    used[i] = redis.call('ZCARD', k)\n"
    "    if used[i] + 1 > lim[i] then ok[i] = 0; retry[i] = 1000 end\n"
    "  else\n"
    "    used[i] = tonumber(redis.call('GET', k) or '0')\n"
    "    if used[i] >= lim[i] then ok[i] = 0; retry[i] = g[i] - now end\n"
    "  end\n"
    "  if ok[i] == 0 then allowed = 0 end\n"
    "end\n"
    "local out = {allowed}\n"
    "for i = 1, n do\n"
    "  local a, k, reset = 4 + (i - 1) * 5, KEYS[i], 0\n"
    "  if kind[i] == 'w' then\n"
    "    if allowed == 1 and amt[i] > 0 then\n"
    "      redis.call('HINCRBY', k, ARGV[a + 5], ARGV[a + 3])\n"
    "      if b[i] > newest[i] then newest[i] = b[i] end\n"
    "      redis.call('PEXPIRE', k, string.format('%d', (newest[i] + 1 + B) * g[i] - now))\n"
    "    end\n"
    "    if newest[i] >= 0 then reset = (newest[i] + 1 + B) * g[i] - now end\n"
    "  elseif kind[i] == 'c' then\n"
    "    if allowed == 1 then\n"
    "      redis.call('ZADD', k, string.format('%d', now + lease_ms), lease)\n"
    "      redis.call('PEXPIRE', k, string.format('%d', 2 * lease_ms))\n"
    "    end\n"
    "  else\n"
    "    reset = g[i] - now\n"
    "  end\n"
    "  out[#out + 1] = ok[i]; out[#out + 1] = used[i]\n"
    "  out[#out + 1] = retry[i]; out[#out + 1] = reset\n"
    "end\n"
    "return out\n";

/* ARGV: lease id, B, now, then per key: kind (t|c|b), delta (tokens) or cost (budget), admit
 * bucket, bucket now, expire-at ms. TTLs are relative (PEXPIRE): the injected clock need not be
 * Redis' clock. */
static const char FINISH_LUA[] =
    "local lease, B, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "for i = 1, #KEYS do\n"
    "  local a, k = 3 + (i - 1) * 5, KEYS[i]\n"
    "  local kind, v = ARGV[a + 1], tonumber(ARGV[a + 2])\n"
    "  local ttl = string.format('%d', tonumber(ARGV[a + 5]) - now)\n"
    "  if kind == 't' then\n"
    "    if v < 0 then\n"
    "      if tonumber(ARGV[a + 3]) >= tonumber(ARGV[a + 4]) - B then\n"
    "        local c = tonumber(redis.call('HGET', k, ARGV[a + 3]) or '0')\n"
    "        if c > 0 then\n"
    "          redis.call('HINCRBY', k, ARGV[a + 3], string.format('%d', -math.min(c, -v)))\n"
    "        end\n"
    "      end\n"
    "    elseif v > 0 then\n"
    "      redis.call('HINCRBY', k, ARGV[a + 4], ARGV[a + 2])\n"
    "      if redis.call('PTTL', k) < tonumber(ttl) then\n"
    "        redis.call('PEXPIRE', k, ttl)\n"
    "      end\n"
    "    end\n"
    "  elseif kind == 'c' then\n"
    "    redis.call('ZREM', k, lease)\n"
    "  else\n"
    "    redis.call('INCRBY', k, ARGV[a + 2])\n"
    "    redis.call('PEXPIRE', k, ttl)\n"
    "  end\n"
    "end\n"
    "return 1\n";

enum { SCRIPT_ADMIT, SCRIPT_FINISH, SCRIPT__COUNT };
static const char *const SCRIPTS[SCRIPT__COUNT] = {ADMIT_LUA, FINISH_LUA};

#define MAX_ARGS (3 + SY_LIMITS_MAX_PER_REQUEST * 6 + 4)
#define RECONNECT_MS 1000
#define RETRY_MS 1000  /* the retry queue's period */
#define RETRY_MAX 4096 /* finishes queued per loop; beyond, the oldest is given up */
#define DAY_MS 86400000ll

typedef struct redis {
    sy_limits_t base;
    uv_loop_t *loop;
    redisAsyncContext *ac; /* NULL: not connected */
    char host[256];
    int port;
    char *password; /* NULL: no AUTH */
    bool fail_open;
    int64_t timeout_ms, lease_ms;
    char replica[40];
    uint64_t next_lease;
    uint64_t last_connect; /* ms (uv_hrtime) of the last attempt */
    bool connected;        /* connect callback said yes */
    uint64_t epoch;        /* of the current context: one more per redisAsyncConnect */
    uint64_t up_epoch;     /* the latest context that reached connected (0: none) */
    char sha[SCRIPT__COUNT][41];
    sy_limits_resv_t live; /* sentinel of the live reservations holding a lease */
    uv_timer_t refresh;
    sy_limits_resv_t retry; /* sentinel of the finishes to send again, oldest first */
    size_t n_retry;
    uv_timer_t retry_timer;
    bool freeing;     /* redis_free runs: failed finishes are given up, not queued */
    int handles_open; /* refresh and retry_timer: r is freed when both are closed */
} redis_t;

typedef struct op {
    redis_t *r;
    sy_limits_resv_t *resv;
    int script;
    sy_limits_admit_cb acb;
    void *arg;
    uv_timer_t timer;
    int refs;  /* the pending reply and the open timer */
    bool done; /* the caller's callback has fired */
    bool evaled;
    uint64_t sent_epoch; /* the context it was last handed to (0: never handed over) */
    bool not_run;        /* proven not run: NOSCRIPT, and not sent again */
    int argc;
    const char *argv[MAX_ARGS];
    size_t argvlen[MAX_ARGS];
    char nums[MAX_ARGS][24];
} op_t;

static void on_connect(const redisAsyncContext *ac, int status)
{
    redis_t *r = ac->data;
    if (status != REDIS_OK) {
        sy_log_warn("redis %s:%d: connect failed: %s", r->host, r->port, ac->errstr);
        r->ac = NULL; /* hiredis frees the context after this callback */
        r->connected = false;
        return;
    }
    sy_log_info("redis %s:%d: connected", r->host, r->port);
    r->connected = true;
    if (ac == r->ac) r->up_epoch = r->epoch;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    redis_t *r = ac->data;
    if (status != REDIS_OK)
        sy_log_warn("redis %s:%d: connection lost: %s", r->host, r->port, ac->errstr);
    if (r->ac == ac) r->ac = NULL;
    r->connected = false;
    r->sha[0][0] = r->sha[1][0] = '\0';
}

static void on_script_loaded(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply *rep = reply;
    redis_t *r = ac->data;
    int which = (int)(intptr_t)priv;
    if (rep && rep->type == REDIS_REPLY_STRING && rep->len == 40)
        memcpy(r->sha[which], rep->str, 41);
}

/* Connects (or reconnects) when not connected and the last attempt is RECONNECT_MS old. */
static void ensure_connected(redis_t *r)
{
    if (r->ac) return;
    uint64_t now = uv_hrtime() / 1000000; /* uv_now is stale after a blocking caller */
    if (r->last_connect && now - r->last_connect < RECONNECT_MS) return;
    r->last_connect = now;
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (!ac) return;
    if (ac->err || redisLibuvAttach(ac, r->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        return;
    }
    ac->data = r;
    r->epoch++;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    if (r->password) /* first on the connection; a NOAUTH/WRONGPASS reply fails the calls */
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", r->password);
    for (int i = 0; i < SCRIPT__COUNT; i++)
        redisAsyncCommand(ac, on_script_loaded, (void *)(intptr_t)i, "SCRIPT LOAD %s", SCRIPTS[i]);
}

static void op_unref(op_t *op)
{
    if (--op->refs > 0) return;
    free(op->resv); /* NULL once handed to the caller */
    free(op);
}

static void on_timer_close(uv_handle_t *h)
{
    op_unref(h->data);
}

static void live_add(redis_t *r, sy_limits_resv_t *v)
{
    v->next = r->live.next;
    v->prev = &r->live;
    r->live.next->prev = v;
    r->live.next = v;
}

static void live_remove(sy_limits_resv_t *v)
{
    if (!v->prev) return;
    v->prev->next = v->next;
    v->next->prev = v->prev;
    v->prev = v->next = NULL;
}

static void finish_failed(redis_t *r, sy_limits_resv_t *v, bool conservative);

/* Whether a finish that got no success reply may have run anyway. It was handed to hiredis on
 * a context that later reached connected (even when it was still connecting at the time: the
 * script goes out once it connects), and the connection went away before the reply, or Redis
 * answered an error (a Lua error part-way may leave earlier writes applied): maybe. Proven not
 * run: never handed over, a context that never connected (its queued commands never went
 * out), or NOSCRIPT without a resend. Contexts are one at a time and a dead one's callbacks
 * fire before the next is made, so "the latest connected context is this one or later" is
 * exact for this one. */
static bool maybe_applied(const redis_t *r, const op_t *op)
{
    return op->sent_epoch && !op->not_run && r->up_epoch >= op->sent_epoch;
}

/* Fires the caller's callback once: a result (rep != NULL, parsed) or a backend failure. */
static void complete(op_t *op, redisReply *rep)
{
    redis_t *r = op->r;
    op->done = true;
    uv_timer_stop(&op->timer);
    uv_close((uv_handle_t *)&op->timer, on_timer_close);
    if (op->script == SCRIPT_FINISH) {
        sy_limits_resv_t *v = op->resv;
        op->resv = NULL;
        if (rep && rep->type == REDIS_REPLY_INTEGER) {
            if (v->dcb) v->dcb(v->dcb_arg, true);
            free(v);
            return;
        }
        /* retried; conservatively (only what charges) unless it cannot have run */
        finish_failed(r, v, maybe_applied(r, op));
        return;
    }
    sy_limits_resv_t *v = op->resv;
    sy_limits_result_t res;
    sy_limits_outcome_t o[SY_LIMITS_MAX_PER_REQUEST];
    bool valid = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 + 4 * v->n;
    for (size_t i = 0; valid && i < rep->elements; i++)
        if (rep->element[i]->type != REDIS_REPLY_INTEGER) valid = false;
    if (!valid) {
        sy_limits__failed(&r->base, r->fail_open, &res);
        if (res.allowed) {
            /* fail-open: the caller gets v unbacked; the op keeps a copy, so that a late reply
             * saying Redis admitted (and charged) it after all is undone (on_reply) */
            size_t sz = sizeof(*v) + v->n * sizeof(v->slot[0]);
            sy_limits_resv_t *copy = sy_xmalloc(sz);
            memcpy(copy, v, sz);
            copy->prev = copy->next = NULL;
            v->unbacked = true;
            op->resv = copy;
        }
        op->acb(op->arg, &res, res.allowed ? v : NULL);
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        redisReply **e = &rep->element[1 + 4 * i];
        o[i] =
            (sy_limits_outcome_t){e[0]->integer != 0, e[1]->integer, e[2]->integer, e[3]->integer};
    }
    sy_limits__result(&r->base, v, o, &res);
    if (res.allowed) {
        op->resv = NULL;
        if (v->has_conc) live_add(r, v);
    }
    op->acb(op->arg, &res, res.allowed ? v : NULL);
}

/* hiredis 0.14's libuv adapter drops poll errors, so a refused or unanswered connect is never
 * reported: when a call times out before the connection is up, the context is dropped (its
 * pending calls fail now) and the next call, a second later, connects again. */
static void drop_if_connecting(redis_t *r)
{
    if (!r->ac || r->connected) return;
    sy_log_warn("redis %s:%d: no connection within %lld ms", r->host, r->port,
                (long long)r->timeout_ms);
    redisAsyncContext *ac = r->ac;
    r->ac = NULL;
    redisAsyncFree(ac);
}

static void on_timeout(uv_timer_t *t)
{
    op_t *op = t->data;
    redis_t *r = op->r;
    /* a finish waits for its reply: it may be applied late, and applying it again could
     * refund twice (dropping the context below answers it as failed when it never went out) */
    if (!op->done && op->script != SCRIPT_FINISH) complete(op, NULL);
    drop_if_connecting(r);
}

static int send_op(op_t *op);

/* An admit's reply that says every limit admitted (and so charged) the request. */
static bool late_admitted(const op_t *op, const redisReply *rep)
{
    const sy_limits_resv_t *v = op->resv;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 1 + 4 * v->n) return false;
    for (size_t i = 0; i < v->n; i++) {
        const redisReply *e = rep->element[1 + 4 * i];
        if (e->type != REDIS_REPLY_INTEGER || e->integer == 0) return false;
    }
    return true;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    op_t *op = priv;
    redisReply *rep = reply;
    if (!op->done) {
        if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0 &&
            !op->evaled) {
            op->r->sha[op->script][0] = '\0';
            if (send_op(op) == 0) return; /* the new reply owns this reference */
            rep = NULL;
            op->not_run = true; /* NOSCRIPT: it did not run; not sent again */
        }
        if (rep && rep->type == REDIS_REPLY_ERROR) {
            /* a script error part-way may have applied writes: see maybe_applied */
            sy_log_warn("redis error reply: %.*s", (int)rep->len, rep->str);
        }
        complete(op, rep && rep->type != REDIS_REPLY_ERROR ? rep : NULL);
    } else if (op->script == SCRIPT_ADMIT && op->resv && late_admitted(op, rep)) {
        /* timed out while Redis admitted and charged it after all: undo what a cancel undoes
         * (the token estimate, the concurrency lease). Refused (fail-closed), so a slow Redis
         * does not leave a lease per 503 for lease_ms; admitted unbacked (fail-open: op->resv
         * is the op's copy), so the charges match what the request's finish will apply —
         * nothing. The request counts stay charged, as for any cancelled request (with
         * fail-open the request did run). */
        sy_limits_resv_t *v = op->resv;
        op->resv = NULL;
        sy_limits_cancel(&op->r->base, v, NULL, NULL);
    }
    op_unref(op);
}

/* Sends op (EVALSHA, or EVAL when the SHA is unknown). 0, or -1 when not connected. */
static int send_op(op_t *op)
{
    redis_t *r = op->r;
    ensure_connected(r);
    if (!r->ac) return -1;
    if (r->sha[op->script][0]) {
        op->argv[0] = "EVALSHA";
        op->argv[1] = r->sha[op->script];
    } else {
        op->argv[0] = "EVAL";
        op->argv[1] = SCRIPTS[op->script];
        op->evaled = true;
    }
    op->argvlen[0] = strlen(op->argv[0]);
    op->argvlen[1] = strlen(op->argv[1]);
    if (redisAsyncCommandArgv(r->ac, on_reply, op, op->argc, op->argv, op->argvlen) != REDIS_OK)
        return -1;
    op->sent_epoch = r->epoch;
    op->not_run = false;
    return 0;
}

static void add_arg(op_t *op, const char *s)
{
    op->argv[op->argc] = s;
    op->argvlen[op->argc] = strlen(s);
    op->argc++;
}

static void add_num(op_t *op, int64_t v)
{
    snprintf(op->nums[op->argc], sizeof op->nums[0], "%lld", (long long)v);
    add_arg(op, op->nums[op->argc]);
}

static op_t *op_new(redis_t *r, sy_limits_resv_t *v, int script)
{
    op_t *op = sy_xcalloc(1, sizeof(*op));
    op->r = r;
    op->resv = v;
    op->script = script;
    op->argc = 2; /* command and script/SHA, filled by send_op */
    return op;
}

/* Sends op and arms its timer; on a send failure completes it at once (callback inline). */
static void start_op(op_t *op)
{
    uv_timer_init(op->r->loop, &op->timer);
    op->timer.data = op;
    op->refs = 2;
    if (send_op(op) != 0) {
        op->refs--; /* no reply will come */
        complete(op, NULL);
        return;
    }
    uv_update_time(op->r->loop); /* the loop's cached time may be old: a long callback ran */
    uv_timer_start(&op->timer, on_timeout, (uint64_t)op->r->timeout_ms, 0);
}

static sy_err_t redis_admit(sy_limits_t *l, sy_limits_resv_t *v, sy_limits_admit_cb cb, void *arg)
{
    redis_t *r = (redis_t *)l;
    if (v->has_conc)
        snprintf(v->lease, sizeof v->lease, "%s:%llu", r->replica,
                 (unsigned long long)++r->next_lease);
    op_t *op = op_new(r, v, SCRIPT_ADMIT);
    op->acb = cb;
    op->arg = arg;
    add_num(op, (int64_t)v->n);
    for (size_t i = 0; i < v->n; i++)
        add_arg(op, v->slot[i].key);
    add_num(op, v->now_ms);
    add_arg(op, v->lease);
    add_num(op, r->lease_ms);
    add_num(op, SY_LIMITS_BUCKETS);
    for (size_t i = 0; i < v->n; i++) {
        const sy_limits_slot_t *s = &v->slot[i];
        bool win = s->kind == SY_LIMIT_REQUESTS || s->kind == SY_LIMIT_TOKENS;
        add_arg(op, win ? "w" : s->kind == SY_LIMIT_CONCURRENT ? "c" : "b");
        add_num(op, s->limit);
        add_num(op, s->amount);
        add_num(op, s->kind == SY_LIMIT_BUDGET ? s->end_ms : s->g_ms);
        add_num(op, s->bucket);
    }
    start_op(op);
    return SY_OK;
}

/* Whether a finish sends slot s: requests never change at finish, nor a zero amount; a
 * conservative retry (an earlier attempt may have been applied) sends no refund. */
static bool finish_sends(const sy_limits_resv_t *v, const sy_limits_slot_t *s)
{
    if (s->kind == SY_LIMIT_REQUESTS) return false;
    if (s->kind == SY_LIMIT_CONCURRENT) return true;
    return s->amount > 0 || (s->amount < 0 && !v->conservative);
}

/* Sends the finish of v (fin_ms, dcb set); v is freed when it is applied or given up. */
static void send_finish(redis_t *r, sy_limits_resv_t *v)
{
    int64_t now = v->fin_ms;
    op_t *op = op_new(r, v, SCRIPT_FINISH);
    size_t nk = 0;
    int nk_at = op->argc;
    add_num(op, 0);
    for (size_t i = 0; i < v->n; i++) {
        const sy_limits_slot_t *s = &v->slot[i];
        if (!finish_sends(v, s)) continue;
        add_arg(op, s->key);
        nk++;
    }
    if (nk == 0) {
        free(op);
        if (v->dcb) v->dcb(v->dcb_arg, true);
        free(v);
        return;
    }
    add_arg(op, v->lease);
    add_num(op, SY_LIMITS_BUCKETS);
    add_num(op, now);
    for (size_t i = 0; i < v->n; i++) {
        const sy_limits_slot_t *s = &v->slot[i];
        if (!finish_sends(v, s)) continue;
        int64_t bnow = s->g_ms ? now / s->g_ms : 0;
        add_arg(op, s->kind == SY_LIMIT_TOKENS ? "t" : s->kind == SY_LIMIT_CONCURRENT ? "c" : "b");
        add_num(op, s->amount);
        add_num(op, s->bucket);
        add_num(op, bnow);
        add_num(op, s->kind == SY_LIMIT_TOKENS ? (bnow + 1 + SY_LIMITS_BUCKETS) * s->g_ms
                                               : s->end_ms + DAY_MS);
    }
    snprintf(op->nums[nk_at], sizeof op->nums[0], "%zu", nk);
    op->argvlen[nk_at] = strlen(op->nums[nk_at]);
    start_op(op);
}

static void give_up(redis_t *r, sy_limits_resv_t *v)
{
    sy_limits__count(&r->base.finish_lost);
    if (v->dcb) v->dcb(v->dcb_arg, false);
    free(v);
}

static void on_retry(uv_timer_t *t)
{
    redis_t *r = t->data;
    ensure_connected(r);
    if (!r->ac || !r->connected) return; /* next tick */
    /* detach the queue: what fails again is queued anew, for the next tick */
    sy_limits_resv_t *first = r->retry.next, *end = &r->retry;
    r->retry.prev->next = NULL;
    r->retry.next = r->retry.prev = &r->retry;
    size_t n = r->n_retry;
    r->n_retry = 0;
    for (sy_limits_resv_t *v = first, *next; v && v != end; v = next) {
        next = v->next;
        v->prev = v->next = NULL;
        send_finish(r, v);
    }
    sy_log_info("redis %s:%d: %zu failed limit finishes sent again", r->host, r->port, n);
    if (!r->n_retry) uv_timer_stop(&r->retry_timer);
}

/* A finish that failed: queued to be sent again (the oldest given up beyond RETRY_MAX). */
static void finish_failed(redis_t *r, sy_limits_resv_t *v, bool conservative)
{
    sy_limits__count(&r->base.finish_failed);
    if (conservative) v->conservative = true;
    if (r->freeing) return give_up(r, v);
    if (r->n_retry == RETRY_MAX) {
        sy_limits_resv_t *old = r->retry.next;
        live_remove(old);
        r->n_retry--;
        give_up(r, old);
    }
    v->prev = r->retry.prev; /* append */
    v->next = &r->retry;
    r->retry.prev->next = v;
    r->retry.prev = v;
    if (r->n_retry++ == 0) uv_timer_start(&r->retry_timer, on_retry, RETRY_MS, RETRY_MS);
}

static void redis_finish(sy_limits_t *l, sy_limits_resv_t *v, int64_t now, sy_limits_done_cb cb,
                         void *arg)
{
    redis_t *r = (redis_t *)l;
    live_remove(v);
    v->fin_ms = now;
    v->dcb = cb;
    v->dcb_arg = arg;
    send_finish(r, v);
}

static void on_refresh(uv_timer_t *t)
{
    redis_t *r = t->data;
    if (!r->ac || !r->connected) return;
    char score[24], ttl[24];
    snprintf(score, sizeof score, "%lld",
             (long long)(r->base.clock.now_ms(r->base.clock.ctx) + r->lease_ms));
    snprintf(ttl, sizeof ttl, "%lld", (long long)(2 * r->lease_ms));
    for (sy_limits_resv_t *v = r->live.next; v != &r->live; v = v->next) {
        for (size_t i = 0; i < v->n; i++) {
            if (v->slot[i].kind != SY_LIMIT_CONCURRENT) continue;
            redisAsyncCommand(r->ac, NULL, NULL, "ZADD %s XX %s %s", v->slot[i].key, score,
                              v->lease);
            redisAsyncCommand(r->ac, NULL, NULL, "PEXPIRE %s %s", v->slot[i].key, ttl);
        }
    }
}

static void on_handle_close(uv_handle_t *h)
{
    redis_t *r = h->data;
    if (--r->handles_open > 0) return;
    if (r->password) sodium_memzero(r->password, strlen(r->password));
    free(r->password);
    free(r);
}

static void redis_free(sy_limits_t *l)
{
    redis_t *r = (redis_t *)l;
    r->freeing = true;
    while (r->live.next != &r->live) {
        sy_limits_resv_t *v = r->live.next;
        live_remove(v);
        free(v);
    }
    while (r->retry.next != &r->retry) {
        sy_limits_resv_t *v = r->retry.next;
        live_remove(v);
        give_up(r, v);
    }
    r->n_retry = 0;
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        redisAsyncFree(ac); /* pending replies fire with NULL: backend failure (given up) */
    }
    uv_close((uv_handle_t *)&r->refresh, on_handle_close);
    uv_close((uv_handle_t *)&r->retry_timer, on_handle_close);
}

const sy_limits_backend_t sy_limits_redis_backend = {
    .name = "redis",
    .admit = redis_admit,
    .finish = redis_finish,
    .free = redis_free,
};

sy_limits_t *sy_limits_redis_new(uv_loop_t *loop, const sy_limits_redis_config_t *cfg,
                                 const sy_limits_clock_t *clock)
{
    redis_t *r = sy_xcalloc(1, sizeof(*r));
    r->base.vt = &sy_limits_redis_backend;
    r->base.clock = clock ? *clock : sy_limits_wall_clock;
    r->loop = loop;
    snprintf(r->host, sizeof r->host, "%s", cfg->host ? cfg->host : "127.0.0.1");
    r->port = cfg->port ? cfg->port : 6379;
    r->password = cfg->password ? sy_xstrdup(cfg->password) : NULL;
    r->fail_open = cfg->fail_open;
    r->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 100;
    r->lease_ms = cfg->lease_ms > 0 ? cfg->lease_ms : 30000;
    if (cfg->replica) {
        snprintf(r->replica, sizeof r->replica, "%s", cfg->replica);
    } else {
        char host[24] = "";
        gethostname(host, sizeof host - 1);
        snprintf(r->replica, sizeof r->replica, "%s:%d", host, (int)getpid());
    }
    r->live.next = r->live.prev = &r->live;
    r->retry.next = r->retry.prev = &r->retry;
    uv_timer_init(loop, &r->retry_timer);
    r->retry_timer.data = r;
    uv_unref((uv_handle_t *)&r->retry_timer);
    r->handles_open = 2;
    uv_timer_init(loop, &r->refresh);
    r->refresh.data = r;
    uint64_t every = (uint64_t)(r->lease_ms / 3 > 10 ? r->lease_ms / 3 : 10);
    uv_timer_start(&r->refresh, on_refresh, every, every);
    uv_unref((uv_handle_t *)&r->refresh);
    ensure_connected(r);
    return &r->base;
}
