/* Provider credentials as the gateway runs them (docs/internals/SECRETS.md): the master key,
 * the credentials the config refers to (`api_key: credential:NAME`) opened and put into the
 * deployments' swappable keys (providers/provider.h, sy_provider_key_set), later changes
 * through the admin API (api/admin_creds.c) or another replica (sy_creds_refresh), and the
 * `switchyard rekey` command.
 *
 * Threads: sy_creds_start / _free on the main thread (before the workers / after they are
 * joined); sy_creds_put, _delete and _refresh block on the store: thread pool or main thread
 * only; they serialise on the object's mutex. */
#ifndef SY_CREDS_H
#define SY_CREDS_H
#include <jansson.h>
#include <stdint.h>

#include "conf/config.h"
#include "policy/secrets.h"
#include "store/appcreds.h"
#include "store/store.h"

typedef struct sy_creds sy_creds_t;

/* Loads the master key (SWITCHYARD_MASTER_KEY, else secrets.master_key_file, default
 * <data_dir>/master.key, created on first start) and applies every credential the config
 * uses. A credential not in the store: a warning naming the deployment (FILE:LINE); the
 * deployment answers 503 until it is set. One that cannot be opened (another master key,
 * damaged): an error, exit code 2. Needed when auth.mode is required (the API can set
 * credentials) or the config uses credentials; store must have APPDATA then (exit 2 with a
 * message otherwise). *out NULL: nothing to do (local mode, no credential references).
 * Returns 0 or the exit code; prints its messages to stderr, never a secret. */
int sy_creds_start(sy_creds_t **out, sy_config_t *cfg, sy_store_t *store);
void sy_creds_free(sy_creds_t *c);

/* Seals value under the master key, writes it (insert or replace) and sets it on every
 * deployment using name. *created tells insert from replace; *out: the stored row (caller
 * frees). */
sy_err_t sy_creds_put(sy_creds_t *c, const char *name, const char *provider, const char *value,
                      size_t n, const char *actor, int64_t now_us, bool *created,
                      sy_app_cred_t **out, char *msg, size_t msglen);
/* Deletes the row and clears the key of every deployment using name. */
sy_err_t sy_creds_delete(sy_creds_t *c, const char *name, char *msg, size_t msglen);
/* Re-reads every credential the config uses and applies the ones changed since they were
 * applied here (by another replica); logs a warning for one that cannot be opened. */
void sy_creds_refresh(sy_creds_t *c);
/* The ids of the deployments using name (a new JSON array). */
json_t *sy_creds_users(const sy_creds_t *c, const char *name);
sy_store_t *sy_creds_store(const sy_creds_t *c);
/* The id of the master key in use (hex). */
const char *sy_creds_key_id(const sy_creds_t *c);

/* `switchyard rekey --config FILE [--new-key-file F]` (argv after "rekey"): re-seals every
 * credential under a new master key (SWITCHYARD_NEW_MASTER_KEY, or a new random key), in one
 * statement, then replaces the key file atomically. Returns the exit code. */
int sy_creds_rekey_main(int argc, char **argv);

#endif
