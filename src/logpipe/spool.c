/* Spool: see spool.h.
 *
 * DESIGN. Segments are kept in an array sorted by base offset; the last one is the write
 * segment (one O_APPEND fd). Appends go to a write buffer that one write(2) hands to the kernel
 * (the writer thread appends a whole drain round, then flushes once). Recovery reads frames
 * with pread and checks length + CRC only (decoding is the reader's job); the first bad frame
 * of a segment and everything after it is cut off with ftruncate — that is what a kill -9 or
 * power loss in the middle of a write(2) leaves. The checkpoint is 16 bytes written in place
 * (offset u64 | CRC-32 of it | magic); a torn or missing checkpoint reads as 0, which replays
 * everything still on disk: safe, because write_batch is idempotent by row id. */
#include "logpipe/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"

#define CK_MAGIC 0x4b435953u /* "SYCK" */
#define WBUF_FLUSH (1u << 20)

typedef struct segment {
    uint64_t base;
    uint64_t size; /* bytes, buffered ones included for the write segment */
} segment_t;

struct sy_spool {
    char *dir;
    uint64_t segment_bytes;
    uint64_t max_bytes;
    segment_t *segs; /* sorted by base; segs[n_segs-1] is being written */
    size_t n_segs, cap_segs;
    int wfd;
    int ckfd;
    int rfd;         /* reader's open segment, -1 none */
    uint64_t r_base; /* base of that segment */
    uint64_t checkpoint;
    uint64_t total;
    sy_buf_t wbuf;
    bool dirty; /* written since the last fdatasync */
};

/* ---- CRC-32 ----------------------------------------------------------------------------- */

/* Slice-by-8 (Intel's table method): ~8x the byte-at-a-time loop, no new dependency. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

uint32_t sy_crc32(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const unsigned char *s = p;
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = crc ^ ((uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 |
                             (uint32_t)s[3] << 24);
        crc = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^
              crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24] ^ crc_table[3][s[4]] ^
              crc_table[2][s[5]] ^ crc_table[1][s[6]] ^ crc_table[0][s[7]];
        s += 8;
        n -= 8;
    }
    while (n--)
        crc = crc_table[0][(crc ^ *s++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void seg_path(const sy_spool_t *sp, uint64_t base, char *out, size_t n)
{
    snprintf(out, n, "%s/%020" PRIu64 ".spool", sp->dir, base);
}

static sy_err_t io_fail(char *msg, size_t msglen, const char *what, const char *path)
{
    if (msg) snprintf(msg, msglen, "spool: %s %s: %s", what, path, strerror(errno));
    return SY_ERR_INTERNAL;
}

static bool pread_all(int fd, void *p, size_t n, uint64_t off)
{
    char *c = p;
    while (n) {
        ssize_t r = pread(fd, c, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        c += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return true;
}

static int cmp_seg(const void *a, const void *b)
{
    uint64_t x = ((const segment_t *)a)->base, y = ((const segment_t *)b)->base;
    return x < y ? -1 : x > y;
}

static void add_seg(sy_spool_t *sp, uint64_t base, uint64_t size)
{
    if (sp->n_segs == sp->cap_segs) {
        sp->cap_segs = sp->cap_segs ? sp->cap_segs * 2 : 8;
        sp->segs = sy_xrealloc(sp->segs, sp->cap_segs * sizeof(*sp->segs));
    }
    sp->segs[sp->n_segs++] = (segment_t){base, size};
}

static void drop_seg(sy_spool_t *sp, size_t i)
{
    char path[4096];
    seg_path(sp, sp->segs[i].base, path, sizeof(path));
    if (sp->rfd >= 0 && sp->r_base == sp->segs[i].base) {
        close(sp->rfd);
        sp->rfd = -1;
    }
    if (unlink(path) && errno != ENOENT) sy_log_warn("spool: unlink %s: %s", path, strerror(errno));
    sp->total -= sp->segs[i].size;
    memmove(&sp->segs[i], &sp->segs[i + 1], (sp->n_segs - i - 1) * sizeof(*sp->segs));
    sp->n_segs--;
}

/* Walks the frames of one segment; cuts it at the first bad one. Returns the valid size. */
static sy_err_t scan_segment(sy_spool_t *sp, uint64_t base, uint64_t *size_io, uint64_t *truncated,
                             char *msg, size_t msglen)
{
    char path[4096];
    seg_path(sp, base, path, sizeof(path));
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return io_fail(msg, msglen, "open", path);
    uint64_t size = *size_io, pos = 0;
    sy_buf_t b;
    sy_buf_init(&b, SY_SPOOL_MAX_FRAME);
    while (pos < size) {
        unsigned char h[SY_SPOOL_FRAME_HEADER];
        if (size - pos < sizeof(h) || !pread_all(fd, h, sizeof(h), pos)) break;
        uint32_t len = get_u32(h), crc = get_u32(h + 4);
        if (len == 0 || len > SY_SPOOL_MAX_FRAME || size - pos - sizeof(h) < len) break;
        sy_err_t e = SY_OK;
        sy_buf_reset(&b);
        char *dst = sy_buf_reserve(&b, len, &e);
        if (e || !pread_all(fd, dst, len, pos + sizeof(h))) break;
        if (sy_crc32(0, dst, len) != crc) break;
        pos += sizeof(h) + len;
    }
    sy_buf_dispose(&b);
    if (pos < size) {
        sy_log_warn("spool: %s: torn or corrupt record at byte %" PRIu64 ", truncating %" PRIu64
                    " bytes",
                    path, pos, size - pos);
        if (ftruncate(fd, (off_t)pos)) {
            sy_err_t e = io_fail(msg, msglen, "truncate", path);
            close(fd);
            return e;
        }
        *truncated += size - pos;
    }
    close(fd);
    *size_io = pos;
    return SY_OK;
}

static sy_err_t open_write_seg(sy_spool_t *sp, char *msg, size_t msglen)
{
    char path[4096];
    seg_path(sp, sp->segs[sp->n_segs - 1].base, path, sizeof(path));
    sp->wfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (sp->wfd < 0) return io_fail(msg, msglen, "open", path);
    return SY_OK;
}

static bool read_checkpoint(int fd, uint64_t *off)
{
    unsigned char b[16];
    if (!pread_all(fd, b, sizeof(b), 0)) return false;
    if (get_u32(b + 12) != CK_MAGIC || sy_crc32(0, b, 8) != get_u32(b + 8)) return false;
    *off = (uint64_t)get_u32(b) | (uint64_t)get_u32(b + 4) << 32;
    return true;
}

/* ---- API -------------------------------------------------------------------------------- */

sy_err_t sy_spool_open(const sy_spool_conf_t *conf, sy_spool_t **out, sy_spool_recovery_t *rec,
                       char *msg, size_t msglen)
{
    sy_err_t err = SY_OK;
    sy_spool_t *sp = sy_xcalloc(1, sizeof(*sp));
    sp->dir = sy_xstrdup(conf->dir);
    sp->segment_bytes = conf->segment_bytes ? conf->segment_bytes : 64ull << 20;
    sp->max_bytes = conf->max_bytes ? conf->max_bytes : 1ull << 30;
    sp->wfd = sp->ckfd = sp->rfd = -1;
    sy_buf_init(&sp->wbuf, (size_t)-1);
    uint64_t truncated = 0;

    if (mkdir(sp->dir, 0700) && errno != EEXIST) {
        err = io_fail(msg, msglen, "mkdir", sp->dir);
        goto out;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/checkpoint", sp->dir);
    sp->ckfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (sp->ckfd < 0) {
        err = io_fail(msg, msglen, "open", path);
        goto out;
    }
    if (!read_checkpoint(sp->ckfd, &sp->checkpoint)) sp->checkpoint = 0;

    DIR *d = opendir(sp->dir);
    if (!d) {
        err = io_fail(msg, msglen, "opendir", sp->dir);
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        size_t nl = strlen(de->d_name);
        if (nl != 26 || strcmp(de->d_name + 20, ".spool")) continue;
        uint64_t base = strtoull(de->d_name, &end, 10);
        if (end != de->d_name + 20) continue;
        struct stat st;
        seg_path(sp, base, path, sizeof(path));
        if (stat(path, &st)) continue;
        add_seg(sp, base, (uint64_t)st.st_size);
    }
    closedir(d);
    if (sp->n_segs) qsort(sp->segs, sp->n_segs, sizeof(*sp->segs), cmp_seg);

    uint64_t last_end = sp->checkpoint;
    for (size_t i = 0; i < sp->n_segs; i++) {
        err = scan_segment(sp, sp->segs[i].base, &sp->segs[i].size, &truncated, msg, msglen);
        if (err) goto out;
        sp->total += sp->segs[i].size;
        if (sp->segs[i].base + sp->segs[i].size > last_end)
            last_end = sp->segs[i].base + sp->segs[i].size;
    }
    /* segments wholly before the checkpoint (or empty) are done */
    for (size_t i = 0; i < sp->n_segs;) {
        if (sp->segs[i].base + sp->segs[i].size <= sp->checkpoint || sp->segs[i].size == 0)
            drop_seg(sp, i);
        else
            i++;
    }
    if (sp->n_segs && sp->checkpoint < sp->segs[0].base) sp->checkpoint = sp->segs[0].base;
    if (sp->checkpoint > last_end) sp->checkpoint = last_end;
    if (!sp->n_segs) add_seg(sp, last_end, 0);
    err = open_write_seg(sp, msg, msglen);
    if (err) goto out;
    if (rec) {
        rec->checkpoint = sp->checkpoint;
        rec->end = sy_spool_end(sp);
        rec->truncated_bytes = truncated;
        rec->segments = (unsigned)sp->n_segs;
    }
out:
    if (err) {
        sy_spool_close(sp);
        sp = NULL;
    }
    *out = sp;
    return err;
}

void sy_spool_close(sy_spool_t *sp)
{
    if (!sp) return;
    if (sp->wfd >= 0) {
        if (sy_spool_flush(sp, NULL, 0)) sy_log_warn("spool: final flush failed");
        close(sp->wfd);
    }
    if (sp->ckfd >= 0) close(sp->ckfd);
    if (sp->rfd >= 0) close(sp->rfd);
    sy_buf_dispose(&sp->wbuf);
    free(sp->segs);
    free(sp->dir);
    free(sp);
}

sy_err_t sy_spool_flush(sy_spool_t *sp, char *msg, size_t msglen)
{
    size_t done = 0;
    while (done < sp->wbuf.len) {
        ssize_t w = write(sp->wfd, sp->wbuf.base + done, sp->wbuf.len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            /* keep what was not written; a partial frame on disk is a torn tail only if we
             * crash before the retry completes it (O_APPEND: the retry continues it) */
            sy_buf_consume(&sp->wbuf, done);
            sp->dirty = true;
            return io_fail(msg, msglen, "write", sp->dir);
        }
        done += (size_t)w;
    }
    if (done) sp->dirty = true;
    sy_buf_reset(&sp->wbuf);
    return SY_OK;
}

sy_err_t sy_spool_sync(sy_spool_t *sp, char *msg, size_t msglen)
{
    sy_err_t err = sy_spool_flush(sp, msg, msglen);
    if (err) return err;
    if (sp->dirty) {
        if (fdatasync(sp->wfd)) return io_fail(msg, msglen, "fdatasync", sp->dir);
        sp->dirty = false;
    }
    return SY_OK;
}

static sy_err_t rotate(sy_spool_t *sp, char *msg, size_t msglen)
{
    sy_err_t err = sy_spool_sync(sp, msg, msglen);
    if (err) return err;
    close(sp->wfd);
    sp->wfd = -1;
    segment_t *last = &sp->segs[sp->n_segs - 1];
    add_seg(sp, last->base + last->size, 0);
    return open_write_seg(sp, msg, msglen);
}

sy_err_t sy_spool_append(sy_spool_t *sp, const void *payload, size_t n, uint64_t *end_off,
                         char *msg, size_t msglen)
{
    uint64_t frame = SY_SPOOL_FRAME_HEADER + (uint64_t)n;
    if (n == 0 || n > SY_SPOOL_MAX_FRAME || sp->total + frame > sp->max_bytes) {
        if (msg) snprintf(msg, msglen, "spool: full (%" PRIu64 " bytes)", sp->total);
        return SY_ERR_TOO_LARGE;
    }
    segment_t *last = &sp->segs[sp->n_segs - 1];
    if (last->size && last->size + frame > sp->segment_bytes) {
        sy_err_t err = rotate(sp, msg, msglen);
        if (err) return err;
        last = &sp->segs[sp->n_segs - 1];
    }
    unsigned char h[SY_SPOOL_FRAME_HEADER];
    put_u32(h, (uint32_t)n);
    put_u32(h + 4, sy_crc32(0, payload, n));
    sy_buf_append(&sp->wbuf, h, sizeof(h));
    sy_buf_append(&sp->wbuf, payload, n);
    last->size += frame;
    sp->total += frame;
    *end_off = last->base + last->size;
    if (sp->wbuf.len >= WBUF_FLUSH) return sy_spool_flush(sp, msg, msglen);
    return SY_OK;
}

sy_err_t sy_spool_read(sy_spool_t *sp, uint64_t off, sy_buf_t *payload, uint64_t *frame_off,
                       uint64_t *next_off, char *msg, size_t msglen)
{
    sy_err_t err = sy_spool_flush(sp, msg, msglen);
    if (err) return err;
    size_t i = 0;
    while (i < sp->n_segs && sp->segs[i].base + sp->segs[i].size <= off)
        i++;
    if (i == sp->n_segs) return SY_ERR_NOT_FOUND;
    segment_t *s = &sp->segs[i];
    if (off < s->base) off = s->base; /* a gap left by a deleted or truncated segment */
    char path[4096];
    seg_path(sp, s->base, path, sizeof(path));
    if (sp->rfd < 0 || sp->r_base != s->base) {
        if (sp->rfd >= 0) close(sp->rfd);
        sp->rfd = open(path, O_RDONLY | O_CLOEXEC);
        if (sp->rfd < 0) return io_fail(msg, msglen, "open", path);
        sp->r_base = s->base;
    }
    *frame_off = off;
    *next_off = s->base + s->size;
    unsigned char h[SY_SPOOL_FRAME_HEADER];
    uint64_t pos = off - s->base;
    if (s->size - pos < sizeof(h) || !pread_all(sp->rfd, h, sizeof(h), pos)) goto corrupt;
    uint32_t len = get_u32(h);
    if (len == 0 || len > SY_SPOOL_MAX_FRAME || s->size - pos - sizeof(h) < len) goto corrupt;
    sy_buf_reset(payload);
    char *dst = sy_buf_reserve(payload, len, &err);
    if (err) goto corrupt;
    if (!pread_all(sp->rfd, dst, len, pos + sizeof(h))) goto corrupt;
    if (sy_crc32(0, dst, len) != get_u32(h + 4)) goto corrupt;
    payload->len = len;
    *next_off = off + sizeof(h) + len;
    return SY_OK;
corrupt:
    if (msg) snprintf(msg, msglen, "spool: %s: bad record at byte %" PRIu64, path, pos);
    return SY_ERR_CORRUPT;
}

sy_err_t sy_spool_checkpoint(sy_spool_t *sp, uint64_t off, char *msg, size_t msglen)
{
    unsigned char b[16];
    put_u32(b, (uint32_t)off);
    put_u32(b + 4, (uint32_t)(off >> 32));
    put_u32(b + 8, sy_crc32(0, b, 8));
    put_u32(b + 12, CK_MAGIC);
    if (pwrite(sp->ckfd, b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return io_fail(msg, msglen, "write checkpoint in", sp->dir);
    sp->checkpoint = off;
    while (sp->n_segs > 1 && sp->segs[0].base + sp->segs[0].size <= off)
        drop_seg(sp, 0);
    return SY_OK;
}

uint64_t sy_spool_end(const sy_spool_t *sp)
{
    const segment_t *last = &sp->segs[sp->n_segs - 1];
    return last->base + last->size;
}

uint64_t sy_spool_checkpointed(const sy_spool_t *sp)
{
    return sp->checkpoint;
}

uint64_t sy_spool_bytes(const sy_spool_t *sp)
{
    return sp->total;
}
