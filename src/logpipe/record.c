/* Owned inference-log records and their spool encoding.
 *
 * Layout of an owned record (one malloc): [sy_log_record_t][sy_str_t tags[n]][string bytes, each
 * NUL-terminated]. The field tables below drive clone, encode and decode alike, so a new field
 * is added in one place (plus a new SY_LOG_RECORD_VERSION when the encoding changes). */
#include "logpipe/record.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define FIELD_STR(f) offsetof(sy_log_record_t, f)
static const size_t str_fields[] = {
    FIELD_STR(request_id),     FIELD_STR(model),           FIELD_STR(provider),
    FIELD_STR(upstream_model), FIELD_STR(deployment),      FIELD_STR(error_type),
    FIELD_STR(error_message),  FIELD_STR(key_id),          FIELD_STR(user_id),
    FIELD_STR(team_id),        FIELD_STR(conversation_id), FIELD_STR(message_id),
    FIELD_STR(experiment),     FIELD_STR(variant),         FIELD_STR(metadata),
    FIELD_STR(request_body),   FIELD_STR(response_body),
};
#define N_STR (sizeof(str_fields) / sizeof(str_fields[0]))
/* the two body fields are the last two entries */
#define N_STR_NOBODIES (N_STR - 2)

static const size_t i64_fields[] = {
    FIELD_STR(t_received_us),      FIELD_STR(t_upstream_start_us), FIELD_STR(t_first_token_us),
    FIELD_STR(t_end_us),           FIELD_STR(latency_us),          FIELD_STR(ttft_us),
    FIELD_STR(overhead_us),        FIELD_STR(input_tokens),        FIELD_STR(output_tokens),
    FIELD_STR(cached_read_tokens), FIELD_STR(cache_write_tokens),  FIELD_STR(reasoning_tokens),
    FIELD_STR(cost_nanousd),       FIELD_STR(request_size),        FIELD_STR(response_size),
};
#define N_I64 (sizeof(i64_fields) / sizeof(i64_fields[0]))

static inline sy_str_t *str_at(sy_log_record_t *r, size_t off)
{
    return (sy_str_t *)((char *)r + off);
}
static inline const sy_str_t *cstr_at(const sy_log_record_t *r, size_t off)
{
    return (const sy_str_t *)((const char *)r + off);
}
static inline int64_t *i64_at(sy_log_record_t *r, size_t off)
{
    return (int64_t *)((char *)r + off);
}
static inline const int64_t *ci64_at(const sy_log_record_t *r, size_t off)
{
    return (const int64_t *)((const char *)r + off);
}

void sy_log_record_init(sy_log_record_t *r)
{
    memset(r, 0, sizeof(*r));
    r->attempt = 1;
    for (size_t i = 0; i < N_I64; i++)
        *i64_at(r, i64_fields[i]) = SY_LOG_UNKNOWN;
}

static char *put_str(char *dst, sy_str_t *field, sy_str_t src)
{
    if (!src.ptr) {
        *field = SY_STR_NULL;
        return dst;
    }
    if (src.len) memcpy(dst, src.ptr, src.len);
    dst[src.len] = '\0';
    *field = sy_str(dst, src.len);
    return dst + src.len + 1;
}

static sy_log_record_t *clone_n(const sy_log_record_t *r, size_t nstr)
{
    size_t total = sizeof(sy_log_record_t) + (size_t)r->n_tags * sizeof(sy_str_t);
    for (size_t i = 0; i < nstr; i++) {
        const sy_str_t *s = cstr_at(r, str_fields[i]);
        if (s->ptr) total += s->len + 1;
    }
    for (uint32_t i = 0; i < r->n_tags; i++)
        total += r->tags[i].len + 1;

    sy_log_record_t *c = sy_xmalloc(total);
    *c = *r;
    sy_str_t *tags = (sy_str_t *)(c + 1);
    char *p = (char *)(tags + r->n_tags);
    for (size_t i = 0; i < N_STR; i++) {
        sy_str_t src = i < nstr ? *cstr_at(r, str_fields[i]) : SY_STR_NULL;
        p = put_str(p, str_at(c, str_fields[i]), src);
    }
    for (uint32_t i = 0; i < r->n_tags; i++) {
        sy_str_t t = r->tags[i];
        if (!t.ptr) t = SY_STR_LIT(""); /* tags are never NULL */
        p = put_str(p, &tags[i], t);
    }
    c->tags = r->n_tags ? tags : NULL;
    c->id[SY_UUID_STRLEN] = '\0';
    c->parent_id[SY_UUID_STRLEN] = '\0';
    return c;
}

sy_log_record_t *sy_log_record_clone(const sy_log_record_t *r)
{
    return clone_n(r, N_STR);
}

sy_log_record_t *sy_log_record_clone_nobodies(const sy_log_record_t *r)
{
    return clone_n(r, N_STR_NOBODIES);
}

void sy_log_record_free(sy_log_record_t *r)
{
    free(r);
}

/* ---- encoding ---------------------------------------------------------------------------- */

#define STR_NULL_LEN 0xFFFFFFFFu
#define FLAG_REQ_TRUNC 1u
#define FLAG_RESP_TRUNC 2u

static void le_put(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t le_get(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

typedef struct enc {
    unsigned char *p;
} enc_t;

static void enc_u(enc_t *e, uint64_t v, int n)
{
    le_put(e->p, v, n);
    e->p += n;
}

static void enc_bytes(enc_t *e, const void *p, size_t n)
{
    if (n) memcpy(e->p, p, n);
    e->p += n;
}

static void enc_str(enc_t *e, sy_str_t s)
{
    if (!s.ptr) {
        enc_u(e, STR_NULL_LEN, 4);
        return;
    }
    enc_u(e, (uint32_t)s.len, 4);
    enc_bytes(e, s.ptr, s.len);
}

sy_err_t sy_log_record_encode(const sy_log_record_t *r, sy_buf_t *out)
{
    size_t parent_len = strnlen(r->parent_id, SY_UUID_STRLEN);
    /* version, id(36), parent(1+len), attempt, http_status, status, usage, flags */
    size_t size = 1 + SY_UUID_STRLEN + 1 + parent_len + 4 + 4 + 3 + 8 * N_I64 + 4 * N_STR + 4;
    for (size_t i = 0; i < N_STR; i++) {
        const sy_str_t *s = cstr_at(r, str_fields[i]);
        if (s->ptr) {
            if (s->len >= STR_NULL_LEN) return SY_ERR_TOO_LARGE;
            size += s->len;
        }
    }
    for (uint32_t i = 0; i < r->n_tags; i++)
        size += 4 + r->tags[i].len;

    sy_err_t err = SY_OK;
    unsigned char *base = (unsigned char *)sy_buf_reserve(out, size, &err);
    if (err) return err;
    enc_t e = {base};
    enc_u(&e, SY_LOG_RECORD_VERSION, 1);
    enc_bytes(&e, r->id, SY_UUID_STRLEN);
    enc_u(&e, parent_len, 1);
    enc_bytes(&e, r->parent_id, parent_len);
    enc_u(&e, (uint32_t)r->attempt, 4);
    enc_u(&e, (uint32_t)r->http_status, 4);
    enc_u(&e, (unsigned)r->status, 1);
    enc_u(&e, (unsigned)r->usage_source, 1);
    enc_u(&e,
          (r->request_truncated ? FLAG_REQ_TRUNC : 0) |
              (r->response_truncated ? FLAG_RESP_TRUNC : 0),
          1);
    for (size_t i = 0; i < N_I64; i++)
        enc_u(&e, (uint64_t)*ci64_at(r, i64_fields[i]), 8);
    for (size_t i = 0; i < N_STR; i++)
        enc_str(&e, *cstr_at(r, str_fields[i]));
    enc_u(&e, r->n_tags, 4);
    for (uint32_t i = 0; i < r->n_tags; i++)
        enc_str(&e, r->tags[i].ptr ? r->tags[i] : SY_STR_LIT(""));
    out->len += (size_t)(e.p - base);
    return SY_OK;
}

typedef struct dec {
    const unsigned char *p, *end;
    bool bad;
} dec_t;

static uint64_t dec_u(dec_t *d, int n)
{
    if (d->bad || (size_t)(d->end - d->p) < (size_t)n) {
        d->bad = true;
        return 0;
    }
    uint64_t v = le_get(d->p, n);
    d->p += n;
    return v;
}

static const unsigned char *dec_bytes(dec_t *d, size_t n)
{
    if (d->bad || (size_t)(d->end - d->p) < n) {
        d->bad = true;
        return NULL;
    }
    const unsigned char *p = d->p;
    d->p += n;
    return p;
}

static sy_str_t dec_str(dec_t *d, bool allow_null)
{
    uint32_t len = (uint32_t)dec_u(d, 4);
    if (d->bad) return SY_STR_NULL;
    if (len == STR_NULL_LEN) {
        if (!allow_null) d->bad = true;
        return SY_STR_NULL;
    }
    const unsigned char *p = dec_bytes(d, len);
    return p ? sy_str((const char *)p, len) : SY_STR_NULL;
}

static bool hexlow(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool sy_log_uuid_valid(const char *s, size_t n)
{
    if (n != SY_UUID_STRLEN) return false;
    for (size_t i = 0; i < n; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return false;
        } else if (!hexlow(s[i])) {
            return false;
        }
    }
    return true;
}

sy_err_t sy_log_record_decode(const void *buf, size_t n, sy_log_record_t **out)
{
    dec_t d = {buf, (const unsigned char *)buf + n, false};
    sy_log_record_t r;
    sy_str_t *tags = NULL;
    sy_err_t err = SY_ERR_CORRUPT;

    sy_log_record_init(&r);
    if (dec_u(&d, 1) != SY_LOG_RECORD_VERSION) goto out;
    const unsigned char *id = dec_bytes(&d, SY_UUID_STRLEN);
    if (!id || !sy_log_uuid_valid((const char *)id, SY_UUID_STRLEN)) goto out;
    memcpy(r.id, id, SY_UUID_STRLEN);
    size_t plen = (size_t)dec_u(&d, 1);
    const unsigned char *parent = dec_bytes(&d, plen);
    if (d.bad || (plen && !sy_log_uuid_valid((const char *)parent, plen))) goto out;
    memcpy(r.parent_id, parent, plen);
    r.attempt = (int32_t)(uint32_t)dec_u(&d, 4);
    r.http_status = (int32_t)(uint32_t)dec_u(&d, 4);
    uint64_t status = dec_u(&d, 1), usage = dec_u(&d, 1), flags = dec_u(&d, 1);
    if (d.bad || status >= SY_LOG_STATUS__COUNT || usage >= SY_LOG_USAGE__COUNT ||
        (flags & ~(uint64_t)(FLAG_REQ_TRUNC | FLAG_RESP_TRUNC)) || r.attempt < 0 ||
        r.http_status < 0 || r.http_status > 999)
        goto out;
    r.status = (sy_log_status_t)status;
    r.usage_source = (sy_log_usage_source_t)usage;
    r.request_truncated = flags & FLAG_REQ_TRUNC;
    r.response_truncated = flags & FLAG_RESP_TRUNC;
    for (size_t i = 0; i < N_I64; i++) {
        int64_t v = (int64_t)dec_u(&d, 8);
        if (v < SY_LOG_UNKNOWN) d.bad = true;
        *i64_at(&r, i64_fields[i]) = v;
    }
    for (size_t i = 0; i < N_STR; i++)
        *str_at(&r, str_fields[i]) = dec_str(&d, true);
    uint32_t nt = (uint32_t)dec_u(&d, 4);
    /* each tag takes at least 4 bytes: a count the input cannot hold is corrupt */
    if (d.bad || nt > SY_LOG_MAX_TAGS || (size_t)(d.end - d.p) < (size_t)nt * 4) goto out;
    if (nt) tags = sy_xmalloc(nt * sizeof(*tags));
    for (uint32_t i = 0; i < nt; i++)
        tags[i] = dec_str(&d, false);
    if (d.bad || d.p != d.end) goto out;
    r.tags = tags;
    r.n_tags = nt;
    *out = sy_log_record_clone(&r);
    err = SY_OK;
out:
    free(tags);
    return err;
}

/* ---- enum names -------------------------------------------------------------------------- */

static const char *const status_names[SY_LOG_STATUS__COUNT] = {"ok", "error", "cancelled",
                                                               "timeout"};
static const char *const usage_names[SY_LOG_USAGE__COUNT] = {NULL, "provider", "estimated"};

const char *sy_log_status_name(sy_log_status_t s)
{
    return (unsigned)s < SY_LOG_STATUS__COUNT ? status_names[s] : "error";
}

bool sy_log_status_parse(sy_str_t s, sy_log_status_t *out)
{
    for (int i = 0; i < SY_LOG_STATUS__COUNT; i++) {
        if (sy_str_eq_c(s, status_names[i])) {
            *out = (sy_log_status_t)i;
            return true;
        }
    }
    return false;
}

const char *sy_log_usage_source_name(sy_log_usage_source_t u)
{
    return (unsigned)u < SY_LOG_USAGE__COUNT ? usage_names[u] : NULL;
}

bool sy_log_usage_source_parse(sy_str_t s, sy_log_usage_source_t *out)
{
    if (!s.ptr) {
        *out = SY_LOG_USAGE_NONE;
        return true;
    }
    for (int i = 1; i < SY_LOG_USAGE__COUNT; i++) {
        if (sy_str_eq_c(s, usage_names[i])) {
            *out = (sy_log_usage_source_t)i;
            return true;
        }
    }
    return false;
}
