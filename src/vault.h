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

/* The key the raw tokens of mailed links are derived with (a keyed hash
 * of the nonce their event carries), so the log never holds a working
 * link. 0 done, 1 when there is no master key yet, -1 on error. */
#define VAULT_LINK_KEY_LEN 32
int vault_link_key(const char *master_key_path,
                   unsigned char key[VAULT_LINK_KEY_LEN], folio_err *err);

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

/* For one pass over the whole log (a replay), shared by its threads: a window
 * onto the subject keys, read in the order they were made (about the
 * order a replay needs them in) through db, a connection of its own
 * that sees the keys the replay's transaction sees (calls take turns on
 * it, so the pass's threads may share one reader); at most 2 * half keys
 * held at a time, however many there are. Nothing may make or destroy
 * keys meanwhile. Of the vault a reader reads only the wrapping key,
 * which never changes: readers may run on other threads while the
 * vault's own thread goes on using it. */
typedef struct vault_reader vault_reader;
int vault_reader_open(const vault *v, sqlite3 *db, size_t half,
                      vault_reader **out, folio_err *err);
/* vault_open_sealed for a value sealed by made_by (ms: its event's
 * time), from the window: 0, 1 (redacted), -1, or 3 when the key is not
 * in it (an older key, a later generation): the thread that owns the
 * vault's connection then asks vault_open_sealed. */
int vault_reader_open_sealed(vault_reader *r, const char *subject,
                             const char *sealed, long long made_by,
                             char **out, folio_err *err);
/* Wipes the keys it held. */
void vault_reader_close(vault_reader *r);
/* Whether the key a value sealed by made_by was sealed under is live,
 * without opening anything: 0 live, 1 destroyed (redacted), 3 not known
 * here (ask vault_open_sealed), 4 not known yet (!wait: what it needs
 * is read by the first call that waits), -1 on error. */
int vault_reader_state(vault_reader *r, const char *subject,
                       const char *sealed, long long made_by, int wait,
                       folio_err *err);


/* A keyed hash (SipHash-2-4, 128 bits, under a key derived from the
 * master key) of a sealed value and the name it opens to: stored beside a
 * public name, it lets a replay tell that the name is the one the event
 * seals without opening it, and reveals nothing the name does not;
 * without the master key nobody can make one for another name.
 * Thread-safe. 0, or -1 out of memory (a name past 1 KiB). */
#define VAULT_NAME_MAC_LEN 16
int vault_name_mac(const vault *v, const char *sealed, const char *name,
                   size_t name_len, unsigned char out[VAULT_NAME_MAC_LEN]);
/* The same for a read model's row: a keyed hash (its own key) of
 * parts[0 .. n) (lens[i] bytes each), e.g. the event's data as stored and
 * the row's values, so a replay can tell the row is the one the event
 * makes without decoding the event. 0, or -1 out of memory. */
int vault_row_mac(const vault *v, const void *const *parts,
                  const size_t *lens, size_t n,
                  unsigned char out[VAULT_NAME_MAC_LEN]);

/* Destroys the subject's newest key (crypto-shredding). 0 done (or
 * destroyed already), 1 unknown. The
 * caller runs vault_scrub after its transaction commits. */
int vault_forget(vault *v, const char *subject, folio_err *err);
/* PRAGMA wal_checkpoint(TRUNCATE) so destroyed keys leave the WAL too. */
int vault_scrub(vault *v, folio_err *err);

#endif
