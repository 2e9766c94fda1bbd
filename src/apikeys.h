/* apikeys — the keys that open /api/events.
 *
 * A key is "folio_" + base64url (no padding) of 32 random bytes, shown
 * once when it is made. Only its BLAKE2b hash is stored (table api_keys,
 * migration 5): keys are random, so a plain hash cannot be searched back
 * and needs no slow password hash. A key has a unique name (what logs and
 * `folio apikey list` show), scopes, and once revoked opens nothing.
 *
 * Scopes: events:read (read the log; personal fields "[personal]") and
 * personal:read (personal fields decrypted; /api/events needs events:read
 * as well). */
#ifndef FOLIO_APIKEYS_H
#define FOLIO_APIKEYS_H

#include <sqlite3.h>
#include <stddef.h>
#include "util.h"

enum apikeys_scope {
    APIKEYS_EVENTS_READ = 1u,
    APIKEYS_PERSONAL_READ = 2u
};

#define APIKEYS_KEY_LEN 49    /* "folio_" + 43 */
#define APIKEYS_NAME_MAX 64

/* The bit of a scope name, 0 for an unknown one. */
unsigned apikeys_scope_bit(const char *name);
/* "events:read personal:read" (space-separated) into out. */
void apikeys_scopes_text(unsigned scopes, char *out, size_t cap);
/* 1 when name is 1 to 64 of [A-Za-z0-9._-]. */
int apikeys_name_ok(const char *name);
/* 1 when key has the shape of a folio key (nothing else is looked up). */
int apikeys_key_shape(const char *key);
/* BLAKE2b-256 of the key text. */
void apikeys_hash(const char *key, size_t len, unsigned char out[32]);

/* Makes a key; key receives it (NUL-terminated). 1: the name is taken
 * (revoked keys keep theirs). */
int apikeys_create(sqlite3 *db, const char *name, unsigned scopes,
                   char key[APIKEYS_KEY_LEN + 1], folio_err *err);
/* 1: no key of that name. Revoking twice is not an error. */
int apikeys_revoke(sqlite3 *db, const char *name, folio_err *err);

typedef struct apikeys_info {
    const char *name;
    unsigned scopes;
    long long created_at, last_used_at, revoked_at;   /* ms; 0: never */
} apikeys_info;
/* Every key, in the order they were made; fn returns non-zero to stop. */
int apikeys_list(sqlite3 *db, int (*fn)(void *ud, const apikeys_info *k),
                 void *ud, folio_err *err);

/* 0: a live key (name and scopes filled); 1: unknown or revoked; -1 on
 * error. */
int apikeys_check(sqlite3 *db, const char *key, char name[APIKEYS_NAME_MAX + 1],
                  unsigned *scopes, folio_err *err);
/* Records that the key was used at now_ms. */
int apikeys_touch(sqlite3 *db, const char *name, long long now_ms,
                  folio_err *err);

#endif
