/* Small pieces every HTTP provider needs. */
#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "providers/provider.h"

void sy_provider_set_timeouts(sy_upstream_call_t *up, const sy_deploy_conf_t *d)
{
    up->connect_ms = d->connect_ms;
    up->first_byte_ms = d->first_byte_ms;
    up->idle_ms = d->idle_ms;
    up->total_ms = d->total_ms;
}

struct curl_slist *sy_provider_base_headers(void)
{
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
    return curl_slist_append(l, "Expect:"); /* no 100-continue round trip */
}

/* DESIGN (the swappable key)
 * A credential set through the admin API must reach new calls without a restart, while loop
 * threads read the key on every call and curl reads a header list until the request is sent.
 * So the key is not in the shared list: each call copies the current header line ("<prefix>
 * <key>", ~60-100 bytes) into its request arena and chains it as one node. The line lives in
 * two fixed buffers inside the deployment's key block, guarded by a latch seqlock: readers
 * never write shared memory and never wait — they read the copy the sequence points to and
 * retry only if a writer moved the sequence meanwhile (rare: writes are admin actions), and a
 * writer (serialised on a mutex) rewrites one copy while readers are sent to the other.
 * Nothing is ever freed while the gateway runs, so there is nothing to retire: memory is one
 * block per deployment (~8.4 KB) whatever the number of rotations, and an old value is
 * overwritten (zeroed) in place. The buffer is an array of atomic words written with release
 * stores and read with acquire loads (plain moves on x86), one of the C11 formulations of
 * seqlocks in Boehm, "Can seqlocks get along with programming language memory models?" (2012):
 * no data race, and ThreadSanitizer understands it (it does not support fences). A first
 * version took a mutex per call: 46 ns uncontended, but 2-4 µs per call at p99 with two threads
 * on one deployment (bench/key_bench.c); a plain seqlock made readers spin while a preempted
 * writer held the sequence odd. */
#define KEY_WORDS ((SY_PROVIDER_KEY_LINE_MAX + 7) / 8)

struct sy_provider_key {
    pthread_mutex_t wmu;  /* writers only */
    _Atomic uint64_t seq; /* bumped twice per update; readers use copy seq & 1 */
    struct {
        _Atomic uint64_t len; /* bytes of the line; 0: no key */
        _Atomic uint64_t words[KEY_WORDS];
    } copy[2];
};

static void copy_store(sy_provider_key_t *k, int c, const char *line, size_t len)
{
    size_t old = atomic_load_explicit(&k->copy[c].len, memory_order_relaxed);
    size_t n = (len > old ? len : old) + 7; /* zero what the old value used beyond the new */
    for (size_t i = 0; i < n / 8; i++) {
        uint64_t w = 0;
        if (i * 8 < len) memcpy(&w, line + i * 8, len - i * 8 < 8 ? len - i * 8 : 8);
        atomic_store_explicit(&k->copy[c].words[i], w, memory_order_release);
        sodium_memzero(&w, sizeof w);
    }
    atomic_store_explicit(&k->copy[c].len, len, memory_order_release);
}

/* The latch variant of the seqlock (Linux's raw_write_seqcount_latch): readers are sent to one
 * copy while the other is rewritten, so a writer preempted half-way never makes them wait. */
static void key_store(sy_provider_key_t *k, const char *line, size_t len)
{
    pthread_mutex_lock(&k->wmu);
    uint64_t s = atomic_load_explicit(&k->seq, memory_order_relaxed);
    atomic_store_explicit(&k->seq, s + 1, memory_order_relaxed); /* readers → copy 1 */
    copy_store(k, 0, line, len); /* release stores: a reader that sees one sees seq s+1 */
    atomic_store_explicit(&k->seq, s + 2, memory_order_release); /* readers → copy 0 */
    copy_store(k, 1, line, len);
    pthread_mutex_unlock(&k->wmu);
}

/* A consistent copy of the line in arena memory, or NULL when there is no key. */
static char *key_load(sy_provider_key_t *k, sy_arena_t *a, size_t *out_len)
{
    char *buf = NULL;
    size_t cap = 0;
    for (;;) {
        uint64_t s1 = atomic_load_explicit(&k->seq, memory_order_acquire);
        int c = (int)(s1 & 1);
        size_t len = atomic_load_explicit(&k->copy[c].len, memory_order_acquire);
        if (len > SY_PROVIDER_KEY_LINE_MAX) continue; /* cannot happen: the check retries */
        if (len && len + 1 > cap) {
            cap = len + 1;
            buf = sy_arena_alloc_secret(a, (cap + 7) & ~(size_t)7); /* zeroed with the arena */
        }
        /* whole words: buf has room up to len + 1 rounded up to 8 */
        for (size_t i = 0; i * 8 < len; i++) {
            uint64_t w = atomic_load_explicit(&k->copy[c].words[i], memory_order_acquire);
            memcpy(buf + i * 8, &w, 8);
        }
        /* the acquire loads above keep this one after them */
        if (atomic_load_explicit(&k->seq, memory_order_relaxed) != s1) continue; /* rare */
        if (!len) return NULL;
        buf[len] = '\0';
        *out_len = len;
        return buf;
    }
}

bool sy_provider_key_set(sy_deploy_conf_t *d, const char *key, size_t n)
{
    sy_provider_key_t *k = d->key;
    if (!k || !d->provider || !d->provider->key_header) return true;
    size_t pn = strlen(d->provider->key_header);
    if (key && pn + n > SY_PROVIDER_KEY_LINE_MAX) return false;
    char line[SY_PROVIDER_KEY_LINE_MAX];
    size_t len = 0;
    if (key) {
        memcpy(line, d->provider->key_header, pn);
        memcpy(line + pn, key, n);
        len = pn + n;
    }
    key_store(k, line, len);
    sodium_memzero(line, len);
    return true;
}

bool sy_provider_key_ready(const sy_deploy_conf_t *d, char *msg, size_t msglen)
{
    if (!d->credential || !d->key || !d->provider || !d->provider->key_header) return true;
    uint64_t sq = atomic_load_explicit(&d->key->seq, memory_order_acquire);
    if (atomic_load_explicit(&d->key->copy[sq & 1].len, memory_order_relaxed) != 0) return true;
    snprintf(msg, msglen,
             "deployment '%s' uses credential '%s', which is not set (or cannot be opened "
             "with this gateway's master key); an admin can set it with PUT "
             "/api/v1/credentials/%s",
             d->id, d->credential, d->credential);
    return false;
}

bool sy_provider_key_new(sy_deploy_conf_t *d)
{
    d->key = sy_xcalloc(1, sizeof *d->key);
    pthread_mutex_init(&d->key->wmu, NULL);
    return !d->api_key || sy_provider_key_set(d, d->api_key, strlen(d->api_key));
}

void sy_provider_key_free(sy_deploy_conf_t *d)
{
    if (!d->key) return;
    pthread_mutex_destroy(&d->key->wmu);
    sodium_memzero(d->key, sizeof *d->key);
    free(d->key);
    d->key = NULL;
}

const char *sy_provider_warning(sy_arena_t *a, const char *names)
{
    char w[320];
    int n = snprintf(w, sizeof w, "dropped unsupported parameters: %s", names);
    if (n < 0) return NULL;
    if ((size_t)n >= sizeof w) n = (int)sizeof w - 1;
    for (int i = (int)sizeof "dropped unsupported parameters: " - 1; i < n; i++) {
        char c = w[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == ','))
            w[i] = '_'; /* client-chosen names end up in a header: no CR/LF, no oddities */
    }
    return sy_arena_strndup(a, w, (size_t)n);
}

struct curl_slist *sy_provider_request_id_header(sy_call_t *call, struct curl_slist *node,
                                                 struct curl_slist *shared)
{
    static const char name[] = "x-request-id: ";
    size_t il = strlen(call->request_id);
    char *rid = sy_arena_alloc(call->arena, sizeof name + il);
    memcpy(rid, name, sizeof name - 1); /* not snprintf: ~650 instructions less per call */
    memcpy(rid + sizeof name - 1, call->request_id, il + 1);
    node->data = rid;
    node->next = shared;
    sy_provider_key_t *k = call->deploy->key;
    size_t len;
    char *line = k ? key_load(k, call->arena, &len) : NULL;
    if (line) {
        struct curl_slist *kn = sy_arena_alloc(call->arena, sizeof *kn);
        kn->data = line;
        kn->next = shared;
        node->next = kn;
    }
    return node;
}

#define INCLUDE_USAGE "{\"include_usage\":true}"

/* The gateway asks for stream usage the client did not ask for (see provider.h). */
static bool wants_injected_usage(const sy_call_t *call)
{
    return call->format == SY_FORMAT_OPENAI && call->stream && !call->include_usage &&
           call->deploy->stream_options;
}

/* One edit of the client's bytes: [from, to) replaced by text (NULL = removed). */
typedef struct edit {
    size_t from, to;
    const char *text;
} edit_t;

typedef struct splice {
    const sy_deploy_conf_t *model;
    const char *base;
    size_t len;
    edit_t edits[8];
    size_t n_edits;
    bool overflow;
    bool *present;     /* per default: the client set it */
    bool inject_usage; /* stream_options becomes {"include_usage":true} */
    bool have_stream_options;
} splice_t;

static void add_edit(splice_t *s, size_t from, size_t to, const char *text)
{
    /* full, or overlapping the previous edit (duplicate keys share a comma): re-serialise */
    if (s->n_edits == 8 || (s->n_edits && from < s->edits[s->n_edits - 1].to)) {
        s->overflow = true;
        return;
    }
    s->edits[s->n_edits++] = (edit_t){from, to, text};
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The span of a whole member with one adjacent comma, so that removing it leaves valid JSON. */
static void remove_member(splice_t *s, const sy_json_member_t *m)
{
    size_t from = (size_t)(m->key.ptr - 1 - s->base);
    size_t to = (size_t)(m->value.ptr + m->value.len - s->base);
    size_t i = from;
    while (i > 0 && is_ws(s->base[i - 1]))
        i--;
    if (i > 0 && s->base[i - 1] == ',') {
        from = i - 1;
    } else {
        size_t j = to;
        while (j < s->len && is_ws(s->base[j]))
            j++;
        if (j < s->len && s->base[j] == ',') to = j + 1;
    }
    add_edit(s, from, to, NULL);
}

static bool on_member(void *ctx, const sy_json_member_t *m)
{
    splice_t *s = ctx;
    if (sy_str_eq_c(m->key, "model")) {
        size_t at = (size_t)(m->value.ptr - s->base);
        add_edit(s, at, at + m->value.len, s->model->upstream_model_json);
        return true;
    }
    if (sy_str_eq_c(m->key, "stream_options")) {
        if (s->inject_usage) {
            size_t at = (size_t)(m->value.ptr - s->base);
            add_edit(s, at, at + m->value.len, INCLUDE_USAGE);
            s->have_stream_options = true;
        } else if (!s->model->stream_options) {
            remove_member(s, m);
        }
        return true;
    }
    for (size_t i = 0; i < s->model->n_defaults; i++)
        if (sy_str_eq_c(m->key, s->model->defaults[i].key)) s->present[i] = true;
    return true;
}

/* Builds the upstream body in the request arena. Returns false if the scanner could not
 * locate the fields (a key written with escapes, too many edits): the caller re-serialises. */
static bool splice_body(sy_call_t *call, sy_str_t *out)
{
    const sy_deploy_conf_t *m = call->deploy;
    bool present[m->n_defaults + 1];
    memset(present, 0, sizeof present);
    splice_t s = {.model = m,
                  .base = call->body.ptr,
                  .len = call->body.len,
                  .present = present,
                  .inject_usage = wants_injected_usage(call)};
    size_t close_pos;
    if (!sy_json_scan_object(call->body.ptr, call->body.len, on_member, &s, &close_pos) ||
        s.overflow || s.n_edits == 0)
        return false;
    bool have_model = false;
    size_t extra = 0;
    for (size_t k = 0; k < s.n_edits; k++)
        if (s.edits[k].text) {
            extra += strlen(s.edits[k].text);
            have_model |= s.edits[k].text == m->upstream_model_json;
        }
    if (!have_model) return false;
    bool append_usage = s.inject_usage && !s.have_stream_options;
    if (append_usage) extra += sizeof ",\"stream_options\":" INCLUDE_USAGE;
    for (size_t i = 0; i < m->n_defaults; i++)
        if (!present[i]) extra += strlen(m->defaults[i].key) + strlen(m->defaults[i].json) + 5;
    size_t cap = call->body.len + extra + 1;
    char *dst = sy_arena_alloc(call->arena, cap);
    size_t o = 0, pos = 0;
    const char *src = call->body.ptr;
    for (size_t k = 0; k < s.n_edits; k++) { /* edits come in document order */
        const edit_t *e = &s.edits[k];
        memcpy(dst + o, src + pos, e->from - pos);
        o += e->from - pos;
        if (e->text) {
            size_t tl = strlen(e->text);
            memcpy(dst + o, e->text, tl);
            o += tl;
        }
        pos = e->to;
    }
    memcpy(dst + o, src + pos, close_pos - pos);
    o += close_pos - pos;
    for (size_t i = 0; i < m->n_defaults; i++) {
        if (present[i]) continue;
        o += (size_t)sprintf(dst + o, ",\"%s\":%s", m->defaults[i].key, m->defaults[i].json);
    }
    if (append_usage) {
        static const char so[] = ",\"stream_options\":" INCLUDE_USAGE;
        memcpy(dst + o, so, sizeof so - 1);
        o += sizeof so - 1;
    }
    memcpy(dst + o, src + close_pos, call->body.len - close_pos);
    o += call->body.len - close_pos;
    *out = sy_str(dst, o);
    return true;
}

/* Fallback for bodies the scanner cannot splice: set the fields on the parsed document. */
static sy_str_t reserialise(sy_call_t *call)
{
    const sy_deploy_conf_t *m = call->deploy;
    json_t *doc = json_loadb(call->body.ptr, call->body.len, 0, NULL);
    if (!doc) doc = json_object();
    json_object_set_new(doc, "model", json_string(m->upstream_model));
    if (wants_injected_usage(call))
        json_object_set_new(doc, "stream_options", json_pack("{s:b}", "include_usage", 1));
    else if (!m->stream_options)
        json_object_del(doc, "stream_options");
    for (size_t i = 0; i < m->n_defaults; i++) {
        if (json_object_get(doc, m->defaults[i].key)) continue;
        json_t *v = json_loads(m->defaults[i].json, JSON_DECODE_ANY, NULL);
        if (v) json_object_set_new(doc, m->defaults[i].key, v);
    }
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    size_t n = strlen(text);
    char *dst = sy_arena_strndup(call->arena, text, n);
    free(text);
    return sy_str(dst, n);
}

sy_str_t sy_provider_splice_body(sy_call_t *call)
{
    sy_str_t body;
    call->hide_usage = wants_injected_usage(call);
    if (!splice_body(call, &body)) body = reserialise(call);
    return body;
}
