/* UUIDv7 (RFC 9562): 48-bit Unix ms timestamp, version 7, 74 random bits. Thread-safe (a
 * per-thread generator seeded from getrandom). Output: 36 chars + NUL. */
#ifndef SY_CORE_UUID_H
#define SY_CORE_UUID_H

#define SY_UUID_STRLEN 36

void sy_uuid_v7(char out[SY_UUID_STRLEN + 1]);
/* n random bytes from the per-thread generator (not for secrets). */
void sy_rand_bytes(void *out, unsigned n);

#endif
