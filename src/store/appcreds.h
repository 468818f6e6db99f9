/* App data: provider credentials (sealed values; policy/secrets.h seals and opens them), over
 * the store's app_exec slot like store/appdata.h. Schema: store/migrations.c (migration 6),
 * meaning: docs/internals/SECRETS.md.
 *
 * Threads: every call blocks; thread pool or other non-loop threads only (or before the loops
 * start). Memory: rows returned are owned by the caller (sy_app_cred_free / _list_free).
 * Errors: sy_err_t + msg like store.h; SY_ERR_NOT_FOUND when a get/delete finds nothing. */
#ifndef SY_STORE_APPCREDS_H
#define SY_STORE_APPCREDS_H
#include "store/appdata.h"

#define SY_APP_CRED_NAME_MAX 64

typedef struct sy_app_cred {
    char *name;       /* 1..64 of [A-Za-z0-9._-] (checked by the callers) */
    char *provider;   /* free label ("openai", …) or NULL */
    char *ciphertext; /* base64 secretbox output */
    char *nonce;      /* base64 */
    char *key_id;     /* id of the master key that sealed it (hex) */
    char *last4;      /* last four characters of the value, or NULL */
    int64_t created_us;
    int64_t updated_us;
    char *updated_by; /* audit actor */
} sy_app_cred_t;

void sy_app_cred_free(sy_app_cred_t *c);
void sy_app_cred_list_free(sy_app_cred_t **v, size_t n);

/* Insert or replace by name: created_us is kept from an existing row; *created tells which. */
sy_err_t sy_app_cred_put(sy_store_t *s, const sy_app_cred_t *c, bool *created, char *msg,
                         size_t msglen);
sy_err_t sy_app_cred_get(sy_store_t *s, const char *name, sy_app_cred_t **out, char *msg,
                         size_t msglen);
/* All credentials by name (at most SY_APP_LIST_MAX). */
sy_err_t sy_app_cred_list(sy_store_t *s, sy_app_cred_t ***out, size_t *n, char *msg, size_t msglen);
sy_err_t sy_app_cred_delete(sy_store_t *s, const char *name, char *msg, size_t msglen);

/* Re-encryption in ONE statement (atomic on both backends without a client transaction):
 * every row's ciphertext/nonce/key_id becomes v[name]'s, for exactly the rows named in v whose
 * key_id is old_key_id. Fails (nothing changed) when a row of the table is not in v — a
 * credential added meanwhile. *changed: rows rewritten. Names must be of the checked charset;
 * base64 and hex values are inlined as SQL literals (no quote can occur in them). */
sy_err_t sy_app_cred_rekey(sy_store_t *s, sy_app_cred_t *const *v, size_t n, const char *old_key_id,
                           const char *new_key_id, int64_t *changed, char *msg, size_t msglen);

#endif
