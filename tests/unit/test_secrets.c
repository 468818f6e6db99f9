/* policy/secrets: master key parsing, key file creation/mode checks/atomic replace, secretbox
 * round trip, wrong key, tampering, last4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/secrets.h"

static char dir[64];

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void parse_forms(void **state)
{
    (void)state;
    sy_master_key_t a, b, c;
    char msg[256];
    /* 32 bytes 0x00..0x1f as hex, base64, url-safe base64 without padding */
    assert_int_equal(sy_secrets_key_parse("000102030405060708090a0b0c0d0e0f101112131415161718191a1b"
                                          "1c1d1e1f\n",
                                          &a, msg, sizeof msg),
                     SY_OK);
    assert_int_equal(
        sy_secrets_key_parse("  AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", &b, msg, sizeof msg),
        SY_OK);
    assert_int_equal(
        sy_secrets_key_parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", &c, msg, sizeof msg),
        SY_OK);
    for (int i = 0; i < 32; i++)
        assert_int_equal(a.k[i], i);
    assert_memory_equal(a.k, b.k, 32);
    assert_memory_equal(a.k, c.k, 32);
    assert_string_equal(a.id, b.id);
    assert_int_equal(strlen(a.id), SY_SECRETS_KEYID_LEN);
    /* the id is not the key's first bytes */
    assert_string_not_equal(a.id, "0001020304050607");
    /* wrong lengths, bad characters */
    assert_int_equal(sy_secrets_key_parse("00010203", &a, msg, sizeof msg), SY_ERR_CONFIG);
    assert_non_null(strstr(msg, "32 bytes"));
    assert_int_equal(sy_secrets_key_parse("zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b"
                                          "1c1d1e1f",
                                          &a, msg, sizeof msg),
                     SY_ERR_CONFIG);
    assert_int_equal(sy_secrets_key_parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==", &a,
                                          msg, sizeof msg),
                     SY_ERR_CONFIG); /* 34 bytes */
    assert_int_equal(sy_secrets_key_parse("", &a, msg, sizeof msg), SY_ERR_CONFIG);
}

static void roundtrip_and_wrong_key(void **state)
{
    (void)state;
    sy_master_key_t k, other;
    sy_secrets_key_generate(&k);
    sy_secrets_key_generate(&other);
    assert_string_not_equal(k.id, other.id);
    const char *value = "sk-test-0123456789abcdefWXYZ";
    sy_sealed_t s1, s2;
    sy_secrets_seal(&k, value, strlen(value), &s1);
    sy_secrets_seal(&k, value, strlen(value), &s2);
    assert_string_equal(s1.key_id, k.id);
    assert_string_not_equal(s1.nonce, s2.nonce); /* a fresh nonce per value */
    assert_string_not_equal(s1.ciphertext, s2.ciphertext);
    assert_null(strstr(s1.ciphertext, "sk-test"));
    char *plain = NULL, msg[256];
    size_t n = 0;
    assert_int_equal(
        sy_secrets_open(&k, "c1", s1.key_id, s1.nonce, s1.ciphertext, &plain, &n, msg, sizeof msg),
        SY_OK);
    assert_int_equal(n, strlen(value));
    assert_string_equal(plain, value);
    sy_secrets_free(plain);
    /* another key: a clear message naming the key id, not garbage */
    assert_int_equal(sy_secrets_open(&other, "c1", s1.key_id, s1.nonce, s1.ciphertext, &plain, &n,
                                     msg, sizeof msg),
                     SY_ERR_CONFIG);
    assert_null(plain);
    assert_non_null(strstr(msg, "another master key"));
    assert_non_null(strstr(msg, s1.key_id));
    assert_non_null(strstr(msg, "'c1'"));
    /* the id matches but the key does not (a forged id): the MAC refuses */
    assert_int_equal(sy_secrets_open(&other, "c1", other.id, s1.nonce, s1.ciphertext, &plain, &n,
                                     msg, sizeof msg),
                     SY_ERR_CORRUPT);
    /* one flipped byte of ciphertext; the nonce of another value; bad base64 */
    char *ct = strdup(s1.ciphertext);
    ct[3] = ct[3] == 'A' ? 'B' : 'A';
    assert_int_equal(sy_secrets_open(&k, "c1", k.id, s1.nonce, ct, &plain, &n, msg, sizeof msg),
                     SY_ERR_CORRUPT);
    assert_non_null(strstr(msg, "does not authenticate"));
    free(ct);
    assert_int_equal(
        sy_secrets_open(&k, "c1", k.id, s2.nonce, s1.ciphertext, &plain, &n, msg, sizeof msg),
        SY_ERR_CORRUPT);
    assert_int_equal(
        sy_secrets_open(&k, "c1", k.id, "!!", s1.ciphertext, &plain, &n, msg, sizeof msg),
        SY_ERR_CORRUPT);
    assert_int_equal(
        sy_secrets_open(&k, "c1", NULL, s1.nonce, s1.ciphertext, &plain, &n, msg, sizeof msg),
        SY_ERR_CONFIG);
    /* empty and maximal values */
    sy_sealed_t e;
    sy_secrets_seal(&k, "", 0, &e);
    assert_int_equal(
        sy_secrets_open(&k, "e", e.key_id, e.nonce, e.ciphertext, &plain, &n, msg, sizeof msg),
        SY_OK);
    assert_int_equal(n, 0);
    assert_string_equal(plain, "");
    sy_secrets_free(plain);
    sy_secrets_sealed_dispose(&e);
    char *big = malloc(SY_SECRETS_VALUE_MAX);
    memset(big, 'q', SY_SECRETS_VALUE_MAX);
    sy_secrets_seal(&k, big, SY_SECRETS_VALUE_MAX, &e);
    assert_int_equal(
        sy_secrets_open(&k, "b", e.key_id, e.nonce, e.ciphertext, &plain, &n, msg, sizeof msg),
        SY_OK);
    assert_int_equal(n, SY_SECRETS_VALUE_MAX);
    assert_memory_equal(plain, big, SY_SECRETS_VALUE_MAX);
    sy_secrets_free(plain);
    sy_secrets_sealed_dispose(&e);
    free(big);
    sy_secrets_sealed_dispose(&s1);
    sy_secrets_sealed_dispose(&s2);
    sy_secrets_key_wipe(&k);
    for (size_t i = 0; i < sizeof k; i++)
        assert_int_equal(((unsigned char *)&k)[i], 0);
}

static void key_file_create_mode_reuse(void **state)
{
    (void)state;
    char p[128], msg[512];
    path_of(p, sizeof p, "master.key");
    sy_master_key_t k1, k2;
    bool created = false;
    /* not there, create false: NOT_FOUND with a message naming the file */
    assert_int_equal(sy_secrets_key_load(NULL, p, false, &k1, &created, msg, sizeof msg),
                     SY_ERR_NOT_FOUND);
    assert_non_null(strstr(msg, p));
    assert_int_equal(sy_secrets_key_load(NULL, p, true, &k1, &created, msg, sizeof msg), SY_OK);
    assert_true(created);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* the second start reads the same key */
    assert_int_equal(sy_secrets_key_load(NULL, p, true, &k2, &created, msg, sizeof msg), SY_OK);
    assert_false(created);
    assert_memory_equal(k1.k, k2.k, 32);
    assert_string_equal(k1.id, k2.id);
    /* group/world readable: refused with the chmod to run */
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(sy_secrets_key_load(NULL, p, true, &k2, &created, msg, sizeof msg),
                     SY_ERR_CONFIG);
    assert_non_null(strstr(msg, "chmod 600"));
    assert_int_equal(chmod(p, 0604), 0);
    assert_int_equal(sy_secrets_key_load(NULL, p, true, &k2, &created, msg, sizeof msg),
                     SY_ERR_CONFIG);
    assert_int_equal(chmod(p, 0600), 0);
    /* the environment wins over the file */
    assert_int_equal(sy_secrets_key_load("000102030405060708090a0b0c0d0e0f101112131415161718191a1b"
                                         "1c1d1e1f",
                                         p, true, &k2, &created, msg, sizeof msg),
                     SY_OK);
    assert_int_equal(k2.k[31], 31);
    assert_int_equal(sy_secrets_key_load("short", p, true, &k2, &created, msg, sizeof msg),
                     SY_ERR_CONFIG);
    assert_non_null(strstr(msg, SY_SECRETS_ENV));
    /* atomic replace: new content, still 0600, no temporary left behind */
    sy_master_key_t k3;
    sy_secrets_key_generate(&k3);
    assert_int_equal(sy_secrets_key_write(p, &k3, msg, sizeof msg), SY_OK);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(sy_secrets_key_load(NULL, p, false, &k2, &created, msg, sizeof msg), SY_OK);
    assert_memory_equal(k2.k, k3.k, 32);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", dir);
    FILE *f = popen(cmd, "r");
    int count = -1;
    assert_int_equal(fscanf(f, "%d", &count), 1);
    pclose(f);
    assert_int_equal(count, 0);
    /* garbage in the file: a message naming the file */
    FILE *g = fopen(p, "w");
    fputs("not a key\n", g);
    fclose(g);
    assert_int_equal(sy_secrets_key_load(NULL, p, true, &k2, &created, msg, sizeof msg),
                     SY_ERR_CONFIG);
    assert_non_null(strstr(msg, p));
    /* a directory that does not exist: a clear error, no crash */
    char q[160];
    path_of(q, sizeof q, "missing/master.key");
    assert_int_equal(sy_secrets_key_load(NULL, q, true, &k2, &created, msg, sizeof msg),
                     SY_ERR_CONFIG);
    assert_non_null(strstr(msg, "cannot create"));
}

static void last4(void **state)
{
    (void)state;
    char out[5];
    sy_secrets_last4("sk-abcdefgh1234", 15, out);
    assert_string_equal(out, "1234");
    sy_secrets_last4("short-12345", 11, out); /* under 12 bytes: nothing */
    assert_string_equal(out, "");
    sy_secrets_last4("sk-abcdefgh12\xc3\xa9", 15, out); /* not ASCII: nothing */
    assert_string_equal(out, "");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/sy_secrets_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_forms),
        cmocka_unit_test(roundtrip_and_wrong_key),
        cmocka_unit_test(key_file_create_mode_reuse),
        cmocka_unit_test(last4),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return rc;
}
