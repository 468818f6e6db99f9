/* The log spool: an append-only, crash-safe journal of encoded log records on disk, in
 * segment files, plus a checkpoint (the spool offset up to which every record is known to be
 * in the store). docs/internals/LOGPIPE.md describes the format.
 *
 * Offsets are LOGICAL: a segment file is named after the offset of its first byte
 * (<dir>/<20-digit base>.spool), so an offset names one frame across every segment, past and
 * future. A frame is: u32 payload length (LE) | u32 CRC-32 of the payload (LE) | payload
 * (the bytes of sy_log_record_encode; the spool itself does not interpret them).
 *
 * Threads: a sy_spool_t is used by ONE thread at a time (the log writer thread); nothing here
 * is thread-safe. Every call may block on disk I/O: never call from a loop thread.
 * Errors: sy_err_t plus a one-line reason in msg (msg may be NULL). */
#ifndef SY_LOGPIPE_SPOOL_H
#define SY_LOGPIPE_SPOOL_H
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* Largest accepted payload; a header claiming more is corruption. */
#define SY_SPOOL_MAX_FRAME (64u * 1024 * 1024)
#define SY_SPOOL_FRAME_HEADER 8

typedef struct sy_spool_conf {
    const char *dir;        /* created (one level, 0700) when missing */
    uint64_t segment_bytes; /* rotate to a new segment past this size (0: 64 MiB) */
    uint64_t max_bytes;     /* cap on all segments together (0: 1 GiB) */
} sy_spool_conf_t;

typedef struct sy_spool sy_spool_t;

/* What sy_spool_open found. */
typedef struct sy_spool_recovery {
    uint64_t checkpoint;      /* where replay starts */
    uint64_t end;             /* logical end of the spool */
    uint64_t truncated_bytes; /* torn/corrupt tail bytes cut off (kill -9 mid-write) */
    unsigned segments;        /* segment files kept */
} sy_spool_recovery_t;

/* Opens (and recovers) the spool in conf->dir: reads the checkpoint, scans every segment
 * checking each frame's length and CRC, truncates a segment at its first bad frame, deletes
 * segments that are entirely before the checkpoint. rec may be NULL. */
sy_err_t sy_spool_open(const sy_spool_conf_t *conf, sy_spool_t **out, sy_spool_recovery_t *rec,
                       char *msg, size_t msglen);
/* Flushes buffered frames (no fsync) and frees. NULL is fine. */
void sy_spool_close(sy_spool_t *sp);

/* Frames payload and buffers it at the end of the spool (rotating the segment when full).
 * SY_ERR_TOO_LARGE when the spool would pass max_bytes or n > SY_SPOOL_MAX_FRAME (nothing is
 * appended). *end_off = logical offset just past the new frame. Buffered frames reach the
 * kernel at sy_spool_flush (or when the buffer passes 1 MiB). */
sy_err_t sy_spool_append(sy_spool_t *sp, const void *payload, size_t n, uint64_t *end_off,
                         char *msg, size_t msglen);
/* write(2)s buffered frames: once it returns SY_OK they survive a kill -9 of the process. On an
 * I/O error (disk full) the frames stay buffered and the next flush retries. */
sy_err_t sy_spool_flush(sy_spool_t *sp, char *msg, size_t msglen);
/* flush + fdatasync of the current segment: the frames survive a power loss. */
sy_err_t sy_spool_sync(sy_spool_t *sp, char *msg, size_t msglen);

/* Reads the frame at logical offset off (a frame boundary at or after the checkpoint) into
 * payload (reset first). Gaps between segments are skipped: *frame_off is where the frame read
 * actually starts, *next_off just past it. SY_ERR_NOT_FOUND at the end of the spool;
 * SY_ERR_CORRUPT for a frame that fails its CRC (*next_off is then the end of that segment, so
 * the caller can skip it). */
sy_err_t sy_spool_read(sy_spool_t *sp, uint64_t off, sy_buf_t *payload, uint64_t *frame_off,
                       uint64_t *next_off, char *msg, size_t msglen);

/* Records that everything before off is in the store: writes the checkpoint file (not fsynced:
 * losing it only replays rows again, which the store ignores by id) and deletes segments that
 * end at or before off (never the segment being written). */
sy_err_t sy_spool_checkpoint(sy_spool_t *sp, uint64_t off, char *msg, size_t msglen);

uint64_t sy_spool_end(const sy_spool_t *sp);          /* logical end, buffered frames included */
uint64_t sy_spool_checkpointed(const sy_spool_t *sp); /* last checkpoint */
uint64_t sy_spool_bytes(const sy_spool_t *sp);        /* bytes in all segments (the cap's unit) */

/* CRC-32 (IEEE 802.3, as zlib's crc32) of n bytes; crc = 0 to start. */
uint32_t sy_crc32(uint32_t crc, const void *p, size_t n);

#endif
