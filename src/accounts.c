/* accounts — tokens, sessions, CSRF, mail limit, throttling (accounts.h). */
#include "accounts.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define S_B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* ---- tokens ------------------------------------------------------------ */

static int S_token_bytes(const char *s, unsigned char bytes[32]);

void accounts_token_new(char raw[ACCOUNTS_TOKEN_LEN + 1],
                        unsigned char hash[ACCOUNTS_HASH_LEN])
{
    unsigned char bytes[32];
    randombytes_buf(bytes, sizeof bytes);
    sodium_bin2base64(raw, ACCOUNTS_TOKEN_LEN + 1, bytes, sizeof bytes, S_B64);
    crypto_generichash(hash, ACCOUNTS_HASH_LEN, bytes, sizeof bytes, NULL, 0);
    sodium_memzero(bytes, sizeof bytes);
}

int accounts_token_hash(const char *raw, unsigned char hash[ACCOUNTS_HASH_LEN])
{
    unsigned char bytes[32];
    if (S_token_bytes(raw, bytes) < 0)
        return -1;
    crypto_generichash(hash, ACCOUNTS_HASH_LEN, bytes, sizeof bytes, NULL, 0);
    sodium_memzero(bytes, sizeof bytes);
    return 0;
}

/* The 32 bytes of a base64url token or nonce. */
static int S_token_bytes(const char *s, unsigned char bytes[32])
{
    size_t n = 0;
    if (!s || strlen(s) != ACCOUNTS_TOKEN_LEN ||
        sodium_base642bin(bytes, 32, s, ACCOUNTS_TOKEN_LEN, NULL, &n, NULL,
                          S_B64) != 0 ||
        n != 32)
        return -1;
    return 0;
}

static void S_derive(const unsigned char key[ACCOUNTS_LINK_KEY_LEN],
                     const unsigned char nonce[32], unsigned char raw[32])
{
    crypto_generichash(raw, 32, nonce, 32, key, ACCOUNTS_LINK_KEY_LEN);
}

void accounts_token_nonce(const unsigned char key[ACCOUNTS_LINK_KEY_LEN],
                          char nonce[ACCOUNTS_TOKEN_LEN + 1],
                          char raw[ACCOUNTS_TOKEN_LEN + 1],
                          unsigned char hash[ACCOUNTS_HASH_LEN])
{
    unsigned char n[32], bytes[32];
    randombytes_buf(n, sizeof n);
    S_derive(key, n, bytes);
    sodium_bin2base64(nonce, ACCOUNTS_TOKEN_LEN + 1, n, sizeof n, S_B64);
    sodium_bin2base64(raw, ACCOUNTS_TOKEN_LEN + 1, bytes, sizeof bytes, S_B64);
    crypto_generichash(hash, ACCOUNTS_HASH_LEN, bytes, sizeof bytes, NULL, 0);
    sodium_memzero(bytes, sizeof bytes);
}

int accounts_token_of_nonce(const unsigned char key[ACCOUNTS_LINK_KEY_LEN],
                            const char *nonce, char raw[ACCOUNTS_TOKEN_LEN + 1])
{
    unsigned char n[32], bytes[32];
    if (S_token_bytes(nonce, n) < 0)
        return -1;
    S_derive(key, n, bytes);
    sodium_bin2base64(raw, ACCOUNTS_TOKEN_LEN + 1, bytes, sizeof bytes, S_B64);
    sodium_memzero(bytes, sizeof bytes);
    return 0;
}

static int S_prep(sqlite3 *db, const char *sql, sqlite3_stmt **st,
                  folio_err *err)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return err_set(err, "accounts: %s", sqlite3_errmsg(db));
    }
    return 0;
}

/* Steps a statement that returns no rows and finalizes it. */
static int S_done(sqlite3 *db, sqlite3_stmt *st, folio_err *err)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return err_set(err, "accounts: %s", sqlite3_errmsg(db));
    return 0;
}

/* Runs st (a statement giving at most one row: user_id, then n integer
 * columns into cols) and finalizes it: 1 with a row, 0 without, -1. */
static int S_user_row(sqlite3 *db, sqlite3_stmt *st, char user_id[80],
                      long long *cols, int n, folio_err *err)
{
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        const unsigned char *u = sqlite3_column_text(st, 0);
        if (u && strlen((const char *)u) < 80) {
            memcpy(user_id, u, strlen((const char *)u) + 1);
            for (int i = 0; i < n; i++)
                cols[i] = sqlite3_column_int64(st, i + 1);
            found = 1;
        }
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return err_set(err, "accounts: %s", sqlite3_errmsg(db));
    return found;
}

int accounts_token_put(sqlite3 *db, const char *kind, const char *user_id,
                       const unsigned char hash[ACCOUNTS_HASH_LEN],
                       long long position, long long expires_at,
                       folio_err *err)
{
    sqlite3_stmt *st;
    if (S_prep(db, "INSERT INTO account_tokens (hash, kind, user_id, position,"
               " expires_at) VALUES (?1, ?2, ?3, ?4, ?5)", &st, err) < 0)
        return -1;
    sqlite3_bind_blob(st, 1, hash, ACCOUNTS_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, position);
    sqlite3_bind_int64(st, 5, expires_at);
    return S_done(db, st, err);
}

int accounts_token_take(sqlite3 *db, const char *kind, const char *raw,
                        long long now, char user_id[80], long long *position,
                        folio_err *err)
{
    unsigned char hash[ACCOUNTS_HASH_LEN];
    if (accounts_token_hash(raw, hash) < 0)
        return 1;
    sqlite3_stmt *st;
    /* spent by deleting it: a used token and a forged one look the same */
    if (S_prep(db, "DELETE FROM account_tokens WHERE hash = ?1 AND kind = ?2"
               " RETURNING user_id, position, expires_at", &st, err) < 0)
        return -1;
    sqlite3_bind_blob(st, 1, hash, sizeof hash, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    long long cols[2] = {0, 0};
    int found = S_user_row(db, st, user_id, cols, 2, err);
    if (found < 0)
        return -1;
    if (position)
        *position = cols[0];
    return found && cols[1] > now ? 0 : 1;
}

/* ---- the per-recipient mail limit -------------------------------------- */

int accounts_mail_allowed(sqlite3 *db, const char *subject, const char *kind,
                          long long now, folio_err *err)
{
    sqlite3_stmt *st;
    if (S_prep(db, "SELECT count(*), coalesce(max(CASE WHEN kind = ?3 THEN at"
               " END), 0) FROM mail_sends WHERE subject = ?1 AND at > ?2",
               &st, err) < 0)
        return -1;
    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now - 3600LL * 1000);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    long long n = 0, last = 0;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
        last = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return err_set(err, "accounts: %s", sqlite3_errmsg(db));
    if (n >= ACCOUNTS_MAIL_PER_HOUR || (last && now - last < ACCOUNTS_MAIL_GAP_MS))
        return 0;
    /* an hour later a row says nothing: drop the old ones as we go */
    if (S_prep(db, "DELETE FROM mail_sends WHERE subject = ?1 AND at <= ?2",
               &st, err) < 0)
        return -1;
    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now - 3600LL * 1000);
    if (S_done(db, st, err) < 0 ||
        S_prep(db, "INSERT INTO mail_sends (subject, kind, at) VALUES (?1,"
               " ?3, ?2)", &st, err) < 0)
        return -1;
    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    return S_done(db, st, err) < 0 ? -1 : 1;
}

/* ---- sessions ------------------------------------------------------------ */

int accounts_session_new(sqlite3 *db, const char *user_id, long long now,
                         char raw[ACCOUNTS_TOKEN_LEN + 1], folio_err *err)
{
    unsigned char hash[ACCOUNTS_HASH_LEN];
    accounts_token_new(raw, hash);
    sqlite3_stmt *st;
    if (S_prep(db, "INSERT INTO sessions (hash, user_id, created_at, seen_at)"
               " VALUES (?1, ?2, ?3, ?3)", &st, err) < 0)
        return -1;
    sqlite3_bind_blob(st, 1, hash, sizeof hash, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    return S_done(db, st, err);
}

/* A live session's user: touch restarts its idle clock. */
static int S_session_user(sqlite3 *db, const char *raw, long long now,
                          int touch, char user_id[80], folio_err *err)
{
    unsigned char hash[ACCOUNTS_HASH_LEN];
    if (accounts_token_hash(raw, hash) < 0)
        return 0;
    sqlite3_stmt *st;
    if (S_prep(db, touch ? "UPDATE sessions SET seen_at = ?4 WHERE hash = ?1"
                           " AND seen_at > ?2 AND created_at > ?3"
                           " RETURNING user_id"
                         : "SELECT user_id FROM sessions WHERE hash = ?1"
                           " AND seen_at > ?2 AND created_at > ?3",
               &st, err) < 0)
        return -1;
    sqlite3_bind_blob(st, 1, hash, sizeof hash, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now - ACCOUNTS_SESSION_IDLE_MS);
    sqlite3_bind_int64(st, 3, now - ACCOUNTS_SESSION_MAX_MS);
    if (touch)
        sqlite3_bind_int64(st, 4, now);
    return S_user_row(db, st, user_id, NULL, 0, err);
}

int accounts_session_find(sqlite3 *db, const char *raw, long long now,
                          char user_id[80], folio_err *err)
{
    return S_session_user(db, raw, now, 1, user_id, err);
}

int accounts_session_peek(sqlite3 *db, const char *raw, long long now,
                          char user_id[80], folio_err *err)
{
    return S_session_user(db, raw, now, 0, user_id, err);
}

int accounts_session_end(sqlite3 *db, const char *raw, folio_err *err)
{
    unsigned char hash[ACCOUNTS_HASH_LEN];
    if (accounts_token_hash(raw, hash) < 0)
        return 0;
    sqlite3_stmt *st;
    if (S_prep(db, "DELETE FROM sessions WHERE hash = ?1", &st, err) < 0)
        return -1;
    sqlite3_bind_blob(st, 1, hash, sizeof hash, SQLITE_TRANSIENT);
    return S_done(db, st, err);
}

int accounts_session_end_all(sqlite3 *db, const char *user_id,
                             const char *keep_raw, folio_err *err)
{
    unsigned char hash[ACCOUNTS_HASH_LEN] = {0};
    int keep = keep_raw && accounts_token_hash(keep_raw, hash) == 0;
    sqlite3_stmt *st;
    if (S_prep(db, "DELETE FROM sessions WHERE user_id = ?1 AND hash IS NOT ?2",
               &st, err) < 0)
        return -1;
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
    if (keep)
        sqlite3_bind_blob(st, 2, hash, sizeof hash, SQLITE_TRANSIENT);
    return S_done(db, st, err);
}

/* ---- CSRF ------------------------------------------------------------------ */

void accounts_csrf(const char *session_raw, char out[ACCOUNTS_TOKEN_LEN + 1])
{
    static const char ctx[] = "folio csrf v1";
    unsigned char mac[32];
    crypto_generichash(mac, sizeof mac, (const unsigned char *)session_raw,
                       session_raw ? strlen(session_raw) : 0,
                       (const unsigned char *)ctx, sizeof ctx - 1);
    sodium_bin2base64(out, ACCOUNTS_TOKEN_LEN + 1, mac, sizeof mac, S_B64);
}

int accounts_csrf_check(const char *session_raw, const char *given)
{
    if (!session_raw || !given || strlen(given) != ACCOUNTS_TOKEN_LEN)
        return 0;
    char want[ACCOUNTS_TOKEN_LEN + 1];
    accounts_csrf(session_raw, want);
    return sodium_memcmp(want, given, ACCOUNTS_TOKEN_LEN) == 0;
}

/* ---- throttling -------------------------------------------------------------- */

#define S_TH_SIZE 4096 /* entries (power of two); the oldest gives way */

typedef struct S_th_entry {
    uint64_t key; /* 0: empty */
    int fails;
    long long start;
} S_th_entry;

struct accounts_throttle {
    pthread_mutex_t mu;
    unsigned char k[crypto_shorthash_KEYBYTES];
    S_th_entry e[S_TH_SIZE];
};

accounts_throttle *accounts_throttle_new(void)
{
    accounts_throttle *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return NULL;
    }
    crypto_shorthash_keygen(t->k);
    return t;
}

void accounts_throttle_free(accounts_throttle *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* The entry of key (made, or taken from the stalest of its probe run). */
static S_th_entry *S_th_slot(accounts_throttle *t, const char *key,
                             long long now, int make)
{
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)key, strlen(key), t->k);
    uint64_t k;
    memcpy(&k, h, sizeof k);
    k |= 1; /* never 0 */
    S_th_entry *victim = NULL;
    for (unsigned i = 0; i < 8; i++) {
        S_th_entry *e = &t->e[(k + i) & (S_TH_SIZE - 1)];
        if (e->key == k) {
            if (now - e->start >= ACCOUNTS_THROTTLE_WINDOW_MS) {
                e->fails = 0;
                e->start = now;
            }
            return e;
        }
        if (!victim || !e->key || e->start < victim->start)
            victim = e;
    }
    if (!make)
        return NULL;
    victim->key = k;
    victim->fails = 0;
    victim->start = now;
    return victim;
}

int accounts_throttle_wait(accounts_throttle *t, const char *key, int limit,
                           long long now)
{
    pthread_mutex_lock(&t->mu);
    S_th_entry *e = S_th_slot(t, key, now, 0);
    int wait = 0;
    if (e && e->fails >= limit)
        wait = (int)((e->start + ACCOUNTS_THROTTLE_WINDOW_MS - now + 999) / 1000);
    pthread_mutex_unlock(&t->mu);
    return wait > 0 ? wait : 0;
}

void accounts_throttle_fail(accounts_throttle *t, const char *key,
                            long long now)
{
    pthread_mutex_lock(&t->mu);
    S_th_entry *e = S_th_slot(t, key, now, 1);
    if (e)
        e->fails++;
    pthread_mutex_unlock(&t->mu);
}
