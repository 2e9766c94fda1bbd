/* vault — personal data at rest.
 *
 * A site master key (var/master.key, 32 random bytes, mode 0600, made on
 * first use) wraps one key per data subject; subject keys live wrapped in
 * the database (table subject_keys). Personal fields are sealed with
 * crypto_secretbox under the subject key. A data subject is identified by
 * a keyed hash (BLAKE2b under a key derived from the master key) of the
 * normalised e-mail address, so no address is stored in the clear and
 * uniqueness can be checked without decrypting.
 *
 * Forgetting a subject destroys its key: with secure_delete on and a
 * TRUNCATE checkpoint after, the key is gone from the database file and
 * WAL, and everything sealed under it reads as redacted. */
#ifndef FOLIO_VAULT_H
#define FOLIO_VAULT_H

#include <sqlite3.h>
#include "util.h"

typedef struct vault vault;

#define VAULT_SUBJECT_LEN 64   /* hex of a 32-byte keyed hash */

/* Loads (or creates, mode 0600) the master key. db is the store's
 * connection; the vault's tables come with the store's migrations. */
int vault_open(const char *master_key_path, sqlite3 *db, vault **out,
               folio_err *err);
void vault_close(vault *v);

/* Trims and lower-cases an address into out. -1 if it does not fit. */
int vault_normalise_email(const char *email, char *out, size_t outlen);
/* Subject id (hex) of a normalised address. */
void vault_subject(const vault *v, const char *norm_email,
                   char out[VAULT_SUBJECT_LEN + 1]);

/* Seals plaintext for subject (creating its key if needed; inside the
 * caller's transaction). *out is "v1:" + base64(nonce|ciphertext), malloc'd,
 * or "v2:N:" + ... under key generation N: a subject that was forgotten
 * gets a new key (generation 2, 3, ...), and what was sealed under the
 * destroyed one stays redacted. */
int vault_seal(vault *v, const char *subject, const char *plain, char **out,
               folio_err *err);
/* Opens a sealed value. Returns 0 and *out (malloc'd), 1 when the subject's
 * key is destroyed (redacted: *out = NULL), -1 on error. */
int vault_open_sealed(vault *v, const char *subject, const char *sealed,
                      char **out, folio_err *err);
/* The state of subject's newest key: 0 never made, 1 live, 2 destroyed
 * (no new generation yet), -1 on error. Inside a transaction the unwrapped key is kept for the seals
 * that follow (see vault_end_tx). */
int vault_subject_state(vault *v, const char *subject, folio_err *err);
/* Drops (wipes) the keys kept in memory for the transaction. Call it when
 * a transaction ends: another process may erase a subject between two. */
void vault_end_tx(vault *v);

/* For one pass over the whole log inside one transaction (a replay):
 * every subject key read at once, so opening a sealed value needs no
 * query; vault_unload (before the transaction ends) wipes and drops them.
 * Nothing may make or destroy keys in between. Two calls, so the caller
 * can work meanwhile: start sizes the table and, given db2 (another
 * connection to the database that sees the same keys; may be NULL),
 * starts a thread that reads half of them through it; finish reads the
 * rest on the caller's thread and waits. Nothing may use the vault in
 * between (vault_unload ends a preload too). */
int vault_preload_start(vault *v, sqlite3 *db2, folio_err *err);
int vault_preload_finish(vault *v, folio_err *err);
void vault_unload(vault *v);
/* vault_open_sealed from the preloaded keys only, safe to call from other
 * threads between vault_preload_finish and vault_unload (it reads, never
 * writes, the vault). 3 when the key was not preloaded (a later key
 * generation, or no preload): the caller's thread asks vault_open_sealed. */
int vault_open_preloaded(const vault *v, const char *subject,
                         const char *sealed, char **out, folio_err *err);

/* Destroys the subject's newest key (crypto-shredding). 0 done (or
 * destroyed already), 1 unknown. The
 * caller runs vault_scrub after its transaction commits. */
int vault_forget(vault *v, const char *subject, folio_err *err);
/* PRAGMA wal_checkpoint(TRUNCATE) so destroyed keys leave the WAL too. */
int vault_scrub(vault *v, folio_err *err);

#endif
