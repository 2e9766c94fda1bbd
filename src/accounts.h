/* accounts — the members' secrets that are not events: verification and
 * reset tokens, sessions, CSRF tokens, the per-recipient mail limit and
 * sign-in throttling.
 *
 * Tokens and sessions are 32 random bytes, shown to the member as 43
 * characters of unpadded base64url and stored only as their BLAKE2b hash,
 * so a copy of the database gives no one a working link or cookie. The
 * tables (accounts, account_tokens, sessions, mail_sends) come with the
 * store's migration 6; every function works inside the caller's
 * transaction on the store's connection. Times are ms since the epoch. */
#ifndef FOLIO_ACCOUNTS_H
#define FOLIO_ACCOUNTS_H

#include <sqlite3.h>
#include <stddef.h>
#include "util.h"

#define ACCOUNTS_TOKEN_LEN 43      /* base64url of 32 bytes, no padding */
#define ACCOUNTS_HASH_LEN 32

#define ACCOUNTS_VERIFY_TTL_MS (24LL * 3600 * 1000)
#define ACCOUNTS_RESET_TTL_MS (3600LL * 1000)
#define ACCOUNTS_PENDING_TTL_MS (7LL * 24 * 3600 * 1000)
#define ACCOUNTS_SESSION_IDLE_MS (14LL * 24 * 3600 * 1000)
#define ACCOUNTS_SESSION_MAX_MS (90LL * 24 * 3600 * 1000)

/* A new token: raw (shown once, NUL-terminated) and its hash (stored). */
void accounts_token_new(char raw[ACCOUNTS_TOKEN_LEN + 1],
                        unsigned char hash[ACCOUNTS_HASH_LEN]);
/* The hash of a token a visitor sent. -1 when it is not the shape of one
 * (wrong length, not base64url). */
int accounts_token_hash(const char *raw, unsigned char hash[ACCOUNTS_HASH_LEN]);

/* A new link token for an event: nonce (what the event carries, 43
 * characters) and the raw token derived from it under key (a keyed
 * hash: only who holds the site's master key can make the link), with
 * the raw token's hash as accounts_token_hash gives it. */
#define ACCOUNTS_LINK_KEY_LEN 32
void accounts_token_nonce(const unsigned char key[ACCOUNTS_LINK_KEY_LEN],
                          char nonce[ACCOUNTS_TOKEN_LEN + 1],
                          char raw[ACCOUNTS_TOKEN_LEN + 1],
                          unsigned char hash[ACCOUNTS_HASH_LEN]);
/* The raw token of an event's nonce. -1 when nonce is not the shape of
 * one. */
int accounts_token_of_nonce(const unsigned char key[ACCOUNTS_LINK_KEY_LEN],
                            const char *nonce, char raw[ACCOUNTS_TOKEN_LEN + 1]);

/* Keeps a single-use token of kind ("verify", "reset") for user_id until
 * expires_at; position: the event that carried it (0: none). */
int accounts_token_put(sqlite3 *db, const char *kind, const char *user_id,
                       const unsigned char hash[ACCOUNTS_HASH_LEN],
                       long long position, long long expires_at,
                       folio_err *err);
/* Uses up a token: 0 with user_id (80 bytes) and *position filled and the
 * token spent; 1 when it is unknown, of another kind, used or expired (all
 * one answer); -1 on error. */
int accounts_token_take(sqlite3 *db, const char *kind, const char *raw,
                        long long now, char user_id[80], long long *position,
                        folio_err *err);

/* The per-recipient mail limit: of the mails a visitor can cause, at
 * most one of a kind ("verify", "already", "reset") per
 * ACCOUNTS_MAIL_GAP_MS, and ACCOUNTS_MAIL_PER_HOUR in all an hour, to one
 * address (subject). 1: allowed, and the send is counted; 0: over the
 * limit; -1 on error. */
#define ACCOUNTS_MAIL_GAP_MS (5LL * 60 * 1000)
#define ACCOUNTS_MAIL_PER_HOUR 3
int accounts_mail_allowed(sqlite3 *db, const char *subject, const char *kind,
                          long long now, folio_err *err);

/* Sessions. new: a fresh token for user_id (raw to set as the cookie).
 * find: 1 and user_id (80 bytes) when raw is a live session (its idle
 * clock restarted), 0 when not (unknown, idle 14 days or older than 90
 * days), -1 on error. end: that session; end_all: every session of the
 * user but keep_raw's (may be NULL). */
int accounts_session_new(sqlite3 *db, const char *user_id, long long now,
                         char raw[ACCOUNTS_TOKEN_LEN + 1], folio_err *err);
int accounts_session_find(sqlite3 *db, const char *raw, long long now,
                          char user_id[80], folio_err *err);
/* find without restarting the idle clock: for readers (no write). */
int accounts_session_peek(sqlite3 *db, const char *raw, long long now,
                          char user_id[80], folio_err *err);
int accounts_session_end(sqlite3 *db, const char *raw, folio_err *err);
int accounts_session_end_all(sqlite3 *db, const char *user_id,
                             const char *keep_raw, folio_err *err);

/* The CSRF token of a session: derived from its raw token, so nothing more
 * is stored and it dies with the session. check: 1 when given matches
 * (constant time), 0 when not or absent. */
void accounts_csrf(const char *session_raw, char out[ACCOUNTS_TOKEN_LEN + 1]);
int accounts_csrf_check(const char *session_raw, const char *given);

/* Sign-in throttling in memory (per process): failures are counted per
 * key (an account's subject, a client address) in a sliding window;
 * over the limit, accounts_throttle_wait says how many seconds to wait.
 * The window ends by itself, so no one can lock a member out for good. */
typedef struct accounts_throttle accounts_throttle;
accounts_throttle *accounts_throttle_new(void);
void accounts_throttle_free(accounts_throttle *t);
/* Seconds to wait before another attempt with key (0: go ahead). */
int accounts_throttle_wait(accounts_throttle *t, const char *key, int limit,
                           long long now);
void accounts_throttle_fail(accounts_throttle *t, const char *key,
                            long long now);
#define ACCOUNTS_THROTTLE_WINDOW_MS (15LL * 60 * 1000)

#endif
