/* Provider credentials at rest: the master key and libsodium secretbox (docs/internals/SECRETS.md).
 *
 * DESIGN
 * - The master key is 32 random bytes. It comes from the environment (SWITCHYARD_MASTER_KEY:
 *   64 hex digits, or standard/url-safe base64 with or without padding) or from a key file
 *   (one line, standard base64, mode 0600). A missing key file is created (O_CREAT|O_EXCL,
 *   0600); an existing one that is readable by group or others is refused.
 * - Every value is sealed with crypto_secretbox_easy (XSalsa20-Poly1305) under a fresh random
 *   nonce. Stored: base64(nonce), base64(ciphertext+MAC) and the key id, 8 bytes (16 hex) of
 *   BLAKE2b keyed with the key over "switchyard master key id": it names the key without
 *   revealing it, so a value sealed under another key is reported as such, not as "corrupt".
 * - Plaintexts returned by sy_secrets_open live in sodium_malloc memory (guard pages, wiped on
 *   free): release them with sy_secrets_free.
 * Threads: every function may be called from any thread; the key is read-only after load.
 * Nothing here logs; messages never contain a key or a plaintext. */
#ifndef SY_POLICY_SECRETS_H
#define SY_POLICY_SECRETS_H
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define SY_SECRETS_KEY_BYTES 32
#define SY_SECRETS_KEYID_LEN 16   /* hex characters */
#define SY_SECRETS_VALUE_MAX 4096 /* longest credential value, bytes */
#define SY_SECRETS_ENV "SWITCHYARD_MASTER_KEY"
#define SY_SECRETS_NEW_ENV "SWITCHYARD_NEW_MASTER_KEY"
#define SY_SECRETS_KEY_FILE "master.key" /* default file name in the data directory */

typedef struct sy_master_key {
    unsigned char k[SY_SECRETS_KEY_BYTES];
    char id[SY_SECRETS_KEYID_LEN + 1];
} sy_master_key_t;

/* A sealed value, as stored: base64 text, heap; free with sy_secrets_sealed_dispose. */
typedef struct sy_sealed {
    char *nonce;
    char *ciphertext;
    char key_id[SY_SECRETS_KEYID_LEN + 1];
} sy_sealed_t;

/* A new random key (randombytes_buf). */
void sy_secrets_key_generate(sy_master_key_t *k);
/* Parses text (surrounding whitespace ignored) as 64 hex digits or base64 of 32 bytes. */
sy_err_t sy_secrets_key_parse(const char *text, sy_master_key_t *k, char *msg, size_t msglen);
/* Wipes the key. */
void sy_secrets_key_wipe(sy_master_key_t *k);

/* Loads the master key: from env_value when not NULL, else from path, creating the file with
 * a new key when it does not exist and create is true (*created tells). Refuses (SY_ERR_CONFIG)
 * a key file that group or others can read, naming the file and the chmod to run. */
sy_err_t sy_secrets_key_load(const char *env_value, const char *path, bool create,
                             sy_master_key_t *k, bool *created, char *msg, size_t msglen);
/* Writes k to path atomically: a temporary file in the same directory (0600, fsync), rename
 * over path, fsync of the directory. */
sy_err_t sy_secrets_key_write(const char *path, const sy_master_key_t *k, char *msg, size_t msglen);

/* Seals plain[0..n) under k. */
void sy_secrets_seal(const sy_master_key_t *k, const char *plain, size_t n, sy_sealed_t *out);
void sy_secrets_sealed_dispose(sy_sealed_t *s);
/* Opens a stored value. A key id that is not k's → SY_ERR_CONFIG ("sealed under another master
 * key"); bad base64 or a failed MAC → SY_ERR_CORRUPT. *plain is NUL-terminated sodium_malloc
 * memory; free with sy_secrets_free. name is only used in messages. */
sy_err_t sy_secrets_open(const sy_master_key_t *k, const char *name, const char *key_id,
                         const char *nonce, const char *ciphertext, char **plain, size_t *n,
                         char *msg, size_t msglen);
void sy_secrets_free(char *plain);

/* The last four characters of a value for display: "" when the value is shorter than 12
 * bytes (four would be too much of it) or they are not printable ASCII. */
void sy_secrets_last4(const char *plain, size_t n, char out[5]);

#endif
