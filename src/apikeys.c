/* apikeys — keys for /api/events, stored hashed. See apikeys.h. */
#include "apikeys.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

static const struct {
    const char *name;
    unsigned bit;
} S_scopes[] = {
    {"events:read", APIKEYS_EVENTS_READ},
    {"personal:read", APIKEYS_PERSONAL_READ},
};
#define S_NSCOPES (sizeof S_scopes / sizeof S_scopes[0])

static const char S_prefix[] = "folio_";
#define S_PREFIX_LEN (sizeof S_prefix - 1)
#define S_RANDOM_BYTES 32

unsigned apikeys_scope_bit(const char *name)
{
    for (size_t i = 0; name && i < S_NSCOPES; i++)
        if (!strcmp(S_scopes[i].name, name))
            return S_scopes[i].bit;
    return 0;
}

void apikeys_scopes_text(unsigned scopes, char *out, size_t cap)
{
    size_t n = 0;
    if (cap)
        out[0] = '\0';
    for (size_t i = 0; i < S_NSCOPES; i++) {
        if (!(scopes & S_scopes[i].bit))
            continue;
        int w = snprintf(out + n, cap - n, "%s%s", n ? " " : "", S_scopes[i].name);
        if (w < 0 || (size_t)w >= cap - n)
            return;
        n += (size_t)w;
    }
}

static unsigned S_scopes_parse(const char *text)
{
    unsigned bits = 0;
    char word[32];
    while (text && *text) {
        size_t n = strcspn(text, " ");
        if (n && n < sizeof word) {
            memcpy(word, text, n);
            word[n] = '\0';
            bits |= apikeys_scope_bit(word);
        }
        text += n;
        text += strspn(text, " ");
    }
    return bits;
}

int apikeys_name_ok(const char *name)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    size_t n = name ? strlen(name) : 0;
    return n > 0 && n <= APIKEYS_NAME_MAX && strspn(name, ok) == n;
}

int apikeys_key_shape(const char *key)
{
    static const char b64url[] = "abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    return key && strlen(key) == APIKEYS_KEY_LEN &&
           !strncmp(key, S_prefix, S_PREFIX_LEN) &&
           strspn(key + S_PREFIX_LEN, b64url) == APIKEYS_KEY_LEN - S_PREFIX_LEN;
}

void apikeys_hash(const char *key, size_t len, unsigned char out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)key, len, NULL, 0);
}

/* Prepares sql; -1 with SQLite's message. */
static int S_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st,
                     folio_err *err)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return err_set(err, "API keys: %s", sqlite3_errmsg(db));
    return 0;
}

/* Steps a statement that returns no rows, then finalizes it. */
static int S_run(sqlite3 *db, sqlite3_stmt *st, folio_err *err)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return err_set(err, "API keys: %s", sqlite3_errmsg(db));
    return 0;
}

int apikeys_create(sqlite3 *db, const char *name, unsigned scopes,
                   char key[APIKEYS_KEY_LEN + 1], folio_err *err)
{
    if (!apikeys_name_ok(name))
        return err_set(err, "name: 1 to %d letters, digits, '.', '_' or '-'",
                       APIKEYS_NAME_MAX);
    if (!scopes)
        return err_set(err, "a key needs a scope");
    unsigned char rnd[S_RANDOM_BYTES], hash[32];
    randombytes_buf(rnd, sizeof rnd);
    memcpy(key, S_prefix, S_PREFIX_LEN);
    sodium_bin2base64(key + S_PREFIX_LEN, APIKEYS_KEY_LEN + 1 - S_PREFIX_LEN, rnd,
                      sizeof rnd, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(rnd, sizeof rnd);
    apikeys_hash(key, APIKEYS_KEY_LEN, hash);
    char scope_text[64];
    apikeys_scopes_text(scopes, scope_text, sizeof scope_text);
    sqlite3_stmt *st = NULL;
    if (S_prepare(db, "INSERT INTO api_keys(name, key_hash, scopes, created_at)"
                  " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(name) DO NOTHING",
                  &st, err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, hash, sizeof hash, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, scope_text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, util_now_ms());
    if (S_run(db, st, err) != 0)
        return -1;
    return sqlite3_changes(db) == 1 ? 0 : 1;
}

int apikeys_revoke(sqlite3 *db, const char *name, folio_err *err)
{
    sqlite3_stmt *st = NULL;
    if (S_prepare(db, "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?2)"
                  " WHERE name = ?1", &st, err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, util_now_ms());
    if (S_run(db, st, err) != 0)
        return -1;
    return sqlite3_changes(db) == 1 ? 0 : 1;
}

int apikeys_list(sqlite3 *db, int (*fn)(void *ud, const apikeys_info *k),
                 void *ud, folio_err *err)
{
    sqlite3_stmt *st = NULL;
    if (S_prepare(db, "SELECT name, scopes, created_at, coalesce(last_used_at, 0),"
                  " coalesce(revoked_at, 0) FROM api_keys ORDER BY rowid",
                  &st, err) != 0)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        apikeys_info k = {
            .name = (const char *)sqlite3_column_text(st, 0),
            .scopes = S_scopes_parse((const char *)sqlite3_column_text(st, 1)),
            .created_at = sqlite3_column_int64(st, 2),
            .last_used_at = sqlite3_column_int64(st, 3),
            .revoked_at = sqlite3_column_int64(st, 4)};
        if (k.name && fn(ud, &k) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return err_set(err, "API keys: %s", sqlite3_errmsg(db));
    return 0;
}

int apikeys_check(sqlite3 *db, const char *key, char name[APIKEYS_NAME_MAX + 1],
                  unsigned *scopes, folio_err *err)
{
    name[0] = '\0';
    *scopes = 0;
    if (!apikeys_key_shape(key))
        return 1;
    unsigned char hash[32];
    apikeys_hash(key, strlen(key), hash);
    sqlite3_stmt *st = NULL;
    if (S_prepare(db, "SELECT name, scopes FROM api_keys WHERE key_hash = ?1"
                  " AND revoked_at IS NULL", &st, err) != 0)
        return -1;
    sqlite3_bind_blob(st, 1, hash, sizeof hash, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = 1;
    if (rc == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(st, 0);
        snprintf(name, APIKEYS_NAME_MAX + 1, "%s", n ? n : "");
        *scopes = S_scopes_parse((const char *)sqlite3_column_text(st, 1));
        found = 0;
    } else if (rc != SQLITE_DONE) {
        err_set(err, "API keys: %s", sqlite3_errmsg(db));
        found = -1;
    }
    sqlite3_finalize(st);
    return found;
}

int apikeys_touch(sqlite3 *db, const char *name, long long now_ms,
                  folio_err *err)
{
    sqlite3_stmt *st = NULL;
    if (S_prepare(db, "UPDATE api_keys SET last_used_at = ?2 WHERE name = ?1",
                  &st, err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    return S_run(db, st, err);
}
