/* Master key and secretbox sealing (see secrets.h). */
#include "policy/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"

#define B64 sodium_base64_VARIANT_ORIGINAL
#define KEY_FILE_MAX 256 /* a key file is one short line */

static sy_err_t failf(sy_err_t err, char *msg, size_t msglen, const char *fmt, const char *a,
                      const char *b)
{
    if (msg && msglen) snprintf(msg, msglen, fmt, a ? a : "", b ? b : "");
    return err;
}

static void key_id(sy_master_key_t *k)
{
    static const char ctx[] = "switchyard master key id";
    unsigned char h[SY_SECRETS_KEYID_LEN / 2];
    crypto_generichash(h, sizeof h, (const unsigned char *)ctx, sizeof ctx - 1, k->k, sizeof k->k);
    sodium_bin2hex(k->id, sizeof k->id, h, sizeof h);
}

static void init_sodium(void)
{
    if (sodium_init() < 0) abort(); /* no usable randomness: nothing secure can be done */
}

void sy_secrets_key_generate(sy_master_key_t *k)
{
    init_sodium();
    randombytes_buf(k->k, sizeof k->k);
    key_id(k);
}

void sy_secrets_key_wipe(sy_master_key_t *k)
{
    sodium_memzero(k, sizeof *k);
}

sy_err_t sy_secrets_key_parse(const char *text, sy_master_key_t *k, char *msg, size_t msglen)
{
    init_sodium();
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    size_t n = strlen(text);
    while (n && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\n' ||
                 text[n - 1] == '\r'))
        n--;
    size_t got = 0;
    const char *end = NULL;
    int ok = -1;
    if (n == 2 * SY_SECRETS_KEY_BYTES) {
        ok = sodium_hex2bin(k->k, sizeof k->k, text, n, NULL, &got, &end);
    } else {
        static const int variants[] = {
            sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
            sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
        for (size_t i = 0; i < 4 && ok != 0; i++) {
            ok = sodium_base642bin(k->k, sizeof k->k, text, n, NULL, &got, &end, variants[i]);
            if (ok == 0 && end != text + n) ok = -1;
        }
    }
    if (ok != 0 || got != SY_SECRETS_KEY_BYTES || end != text + n) {
        sodium_memzero(k, sizeof *k);
        return failf(SY_ERR_CONFIG, msg, msglen,
                     "the master key must be 32 bytes written as 64 hex digits or as base64 "
                     "(e.g. the output of: head -c32 /dev/urandom | base64)%s%s",
                     NULL, NULL);
    }
    key_id(k);
    return SY_OK;
}

/* Writes "<base64 key>\n" to fd. */
static bool write_key_line(int fd, const sy_master_key_t *k)
{
    char line[sodium_base64_ENCODED_LEN(SY_SECRETS_KEY_BYTES, B64) + 1];
    sodium_bin2base64(line, sizeof line, k->k, sizeof k->k, B64);
    size_t n = strlen(line);
    line[n++] = '\n';
    bool ok = write(fd, line, n) == (ssize_t)n && fsync(fd) == 0;
    sodium_memzero(line, sizeof line);
    return ok;
}

static sy_err_t fsync_dir(const char *path, char *msg, size_t msglen)
{
    char *copy = sy_xstrdup(path);
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    sy_err_t err = SY_OK;
    if (dfd < 0 || fsync(dfd) != 0)
        err = failf(SY_ERR_CONFIG, msg, msglen, "%s: cannot sync its directory: %s", path,
                    strerror(errno));
    if (dfd >= 0) close(dfd);
    free(copy);
    return err;
}

/* Creates path with a new key, never overwriting: the key goes to a private temporary file
 * (0600, synced) that is then link()ed to path — atomic create-if-absent, so a process that loses
 * a first-start race, or starts after a crash, never finds a half-written file. EEXIST →
 * SY_ERR_NOT_FOUND so the caller reads the file the other process made. */
static sy_err_t create_key_file(const char *path, sy_master_key_t *k, char *msg, size_t msglen)
{
    size_t n = strlen(path) + 32;
    char *tmp = sy_xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp); /* a leftover of this pid's crashed predecessor */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        sy_err_t err = failf(SY_ERR_CONFIG, msg, msglen,
                             "%s: cannot create the master key file: %s", path, strerror(errno));
        free(tmp);
        return err;
    }
    sy_secrets_key_generate(k);
    bool ok = fchmod(fd, 0600) == 0 && write_key_line(fd, k) && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (ok && link(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    unlink(tmp);
    free(tmp);
    if (!ok) {
        sy_secrets_key_wipe(k);
        if (e == EEXIST) return SY_ERR_NOT_FOUND;
        return failf(SY_ERR_CONFIG, msg, msglen, "%s: cannot write the master key file: %s", path,
                     strerror(e));
    }
    return fsync_dir(path, msg, msglen);
}

static sy_err_t read_key_file(const char *path, sy_master_key_t *k, char *msg, size_t msglen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return failf(errno == ENOENT ? SY_ERR_NOT_FOUND : SY_ERR_CONFIG, msg, msglen,
                     "%s: cannot open the master key file: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return failf(SY_ERR_CONFIG, msg, msglen, "%s: the master key file is not a regular file%s",
                     path, NULL);
    }
    if (st.st_uid != geteuid()) {
        close(fd);
        return failf(SY_ERR_CONFIG, msg, msglen,
                     "%s: the master key file belongs to another user; refusing to use it%s", path,
                     NULL);
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        return failf(SY_ERR_CONFIG, msg, msglen,
                     "%s: the master key file is readable or writable by group or others; "
                     "refusing to use it (run: chmod 600 %s)",
                     path, path);
    }
    char buf[KEY_FILE_MAX + 1];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0 || n > KEY_FILE_MAX) {
        sodium_memzero(buf, sizeof buf);
        return failf(SY_ERR_CONFIG, msg, msglen, "%s: cannot read the master key file%s", path,
                     n < 0 ? "" : " (too long)");
    }
    buf[n] = '\0';
    char why[256];
    sy_err_t err = sy_secrets_key_parse(buf, k, why, sizeof why);
    sodium_memzero(buf, sizeof buf);
    if (err) return failf(err, msg, msglen, "%s: %s", path, why);
    return SY_OK;
}

sy_err_t sy_secrets_key_load(const char *env_value, const char *path, bool create,
                             sy_master_key_t *k, bool *created, char *msg, size_t msglen)
{
    init_sodium();
    if (created) *created = false;
    if (env_value) {
        char why[256];
        sy_err_t err = sy_secrets_key_parse(env_value, k, why, sizeof why);
        if (err) return failf(err, msg, msglen, "%s: %s", SY_SECRETS_ENV, why);
        return SY_OK;
    }
    sy_err_t err = read_key_file(path, k, msg, msglen);
    if (err != SY_ERR_NOT_FOUND || !create) return err;
    err = create_key_file(path, k, msg, msglen);
    if (err == SY_ERR_NOT_FOUND) return read_key_file(path, k, msg, msglen); /* lost a race */
    if (!err && created) *created = true;
    return err;
}

sy_err_t sy_secrets_key_write(const char *path, const sy_master_key_t *k, char *msg, size_t msglen)
{
    size_t n = strlen(path) + 16;
    char *tmp = sy_xmalloc(n);
    snprintf(tmp, n, "%s.tmpXXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    sy_err_t err = SY_OK;
    if (fd < 0) {
        err = failf(SY_ERR_CONFIG, msg, msglen, "%s: cannot create a temporary file: %s", path,
                    strerror(errno));
        goto out;
    }
    bool ok = fchmod(fd, 0600) == 0 && write_key_line(fd, k);
    int e = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        if (ok) e = errno;
        unlink(tmp);
        err = failf(SY_ERR_CONFIG, msg, msglen, "%s: cannot write the master key file: %s", path,
                    strerror(e));
        goto out;
    }
    err = fsync_dir(path, msg, msglen);
out:
    free(tmp);
    return err;
}

void sy_secrets_seal(const sy_master_key_t *k, const char *plain, size_t n, sy_sealed_t *out)
{
    unsigned char nonce[crypto_secretbox_NONCEBYTES];
    randombytes_buf(nonce, sizeof nonce);
    size_t cn = n + crypto_secretbox_MACBYTES;
    unsigned char *c = sy_xmalloc(cn);
    crypto_secretbox_easy(c, (const unsigned char *)plain, n, nonce, k->k);
    size_t nl = sodium_base64_ENCODED_LEN(sizeof nonce, B64);
    size_t cl = sodium_base64_ENCODED_LEN(cn, B64);
    out->nonce = sy_xmalloc(nl);
    out->ciphertext = sy_xmalloc(cl);
    sodium_bin2base64(out->nonce, nl, nonce, sizeof nonce, B64);
    sodium_bin2base64(out->ciphertext, cl, c, cn, B64);
    memcpy(out->key_id, k->id, sizeof out->key_id);
    free(c);
}

void sy_secrets_sealed_dispose(sy_sealed_t *s)
{
    free(s->nonce);
    free(s->ciphertext);
    s->nonce = s->ciphertext = NULL;
}

sy_err_t sy_secrets_open(const sy_master_key_t *k, const char *name, const char *kid,
                         const char *nonce_b64, const char *ct_b64, char **plain, size_t *n,
                         char *msg, size_t msglen)
{
    *plain = NULL;
    if (!kid || strcmp(kid, k->id) != 0)
        return failf(SY_ERR_CONFIG, msg, msglen,
                     "credential '%s' was sealed under another master key (key id %s); start with "
                     "the master key it was written with, or set the credential again",
                     name, kid ? kid : "none");
    unsigned char nonce[crypto_secretbox_NONCEBYTES];
    size_t got = 0;
    size_t ctl = ct_b64 ? strlen(ct_b64) : 0;
    size_t cap = ctl / 4 * 3 + 3;
    if (!nonce_b64 || !ct_b64 ||
        sodium_base642bin(nonce, sizeof nonce, nonce_b64, strlen(nonce_b64), NULL, &got, NULL,
                          B64) != 0 ||
        got != sizeof nonce || cap > SY_SECRETS_VALUE_MAX * 2 + 64)
        return failf(SY_ERR_CORRUPT, msg, msglen, "credential '%s': the stored value is damaged%s",
                     name, NULL);
    unsigned char *c = sy_xmalloc(cap);
    size_t cn = 0;
    sy_err_t err = SY_OK;
    if (sodium_base642bin(c, cap, ct_b64, ctl, NULL, &cn, NULL, B64) != 0 ||
        cn < crypto_secretbox_MACBYTES) {
        err = failf(SY_ERR_CORRUPT, msg, msglen, "credential '%s': the stored value is damaged%s",
                    name, NULL);
        goto out;
    }
    size_t pn = cn - crypto_secretbox_MACBYTES;
    char *p = sodium_malloc(pn + 1);
    if (!p) abort(); /* out of memory aborts in one place: same rule as sy_xmalloc */
    if (crypto_secretbox_open_easy((unsigned char *)p, c, cn, nonce, k->k) != 0) {
        sodium_free(p);
        err = failf(SY_ERR_CORRUPT, msg, msglen,
                    "credential '%s': the stored value does not authenticate under the master "
                    "key (damaged or tampered with)%s",
                    name, NULL);
        goto out;
    }
    p[pn] = '\0';
    *plain = p;
    if (n) *n = pn;
out:
    free(c);
    return err;
}

void sy_secrets_free(char *plain)
{
    if (plain) sodium_free(plain);
}

void sy_secrets_last4(const char *plain, size_t n, char out[5])
{
    out[0] = '\0';
    if (n < 12) return; /* four characters of a short value are too much of it */
    for (size_t i = n - 4; i < n; i++)
        if (plain[i] < 0x21 || plain[i] > 0x7e) return; /* printable ASCII only */
    memcpy(out, plain + n - 4, 4);
    out[4] = '\0';
}
