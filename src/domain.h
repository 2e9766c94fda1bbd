/* domain — the commands visitors and the owner run, one code path for the
 * CLI and the forms: validate, append the event, update the projections in
 * the same transaction.
 *
 * A domain handle owns one store connection, the vault and the
 * projections; use it from one thread at a time.
 *
 * Group commit: between domain_begin and domain_commit, any number of
 * commands share one transaction; each runs in a SAVEPOINT of its own, so
 * one refused command leaves the others in place. Outside begin/commit,
 * each command commits by itself. A command's result is durable only after
 * the commit. */
#ifndef FOLIO_DOMAIN_H
#define FOLIO_DOMAIN_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include "config.h"
#include "store.h"
#include "util.h"

typedef struct domain domain;

enum domain_rc {
    DOMAIN_ERROR = -1,
    DOMAIN_OK = 0,
    DOMAIN_INVALID = 1,            /* field errors in the result */
    DOMAIN_ALREADY_REGISTERED = 2, /* that address is a member already */
    DOMAIN_DUPLICATE = 3,          /* same contact message within 10 min: not stored again; show as success
                                    * with res->id, the original request's id */
    DOMAIN_NOT_FOUND = 4           /* forget: no such person */
};

#define DOMAIN_MAX_ERRORS 8
#define DOMAIN_MAX_CHANGED 4

typedef struct domain_field_error {
    char field[32];
    char message[160];   /* for people: "must be a valid e-mail address" */
} domain_field_error;

typedef struct domain_result {
    int rc;                        /* an enum domain_rc */
    char id[80];                   /* "user-<uuid>", "contact-<uuid>" */
    long long position;            /* of the appended event, 0 if none */
    domain_field_error errors[DOMAIN_MAX_ERRORS];
    size_t nerrors;
    /* Data names whose pages must be re-rendered after the commit
     * (e.g. "community", "stats"): pass them to site_render_affected. */
    const char *changed[DOMAIN_MAX_CHANGED];
    size_t nchanged;
    char ranked[48];               /* "community.members@RANK", changed[] may point here */
} domain_result;

typedef struct domain_register_req {
    const char *email;
    const char *display_name;
    const char *password;        /* NULL: none, or ... */
    const char *password_hash;   /* ... already hashed by domain_hash_password */
    const char *request_id;      /* metadata; may be NULL */
    const char *client;          /* metadata (client address); may be NULL */
    long long joined_ms;         /* 0: now; an import's own date (folio members import) */
    /* 1: a sign-up from the web — pending until the link mailed to the
     * address is followed (domain_verify); always DOMAIN_OK for valid
     * input, whatever is known about the address. 0: the owner's
     * registration, a member at once. */
    int verify;
} domain_register_req;

typedef struct domain_contact_req {
    const char *name;
    const char *email;
    const char *subject;         /* optional */
    const char *message;
    const char *page;            /* optional: URL path the form was on */
    const char *request_id;
    const char *client;
} domain_contact_req;

/* Opens var/folio.db (creating and migrating it) and the master key. */
int domain_open(const folio_config *cfg, domain **out, folio_err *err);
void domain_close(domain *d);
/* The clock of the contact duplicate window (NULL: the real one); tests
 * move it forward. */
void domain_set_clock(domain *d, long long (*now_ms)(void));

/* Field rules without touching the database: fills res->errors and returns
 * DOMAIN_INVALID, or DOMAIN_OK. Lets a web worker refuse bad input before
 * queueing it for the writer. Every limit is in characters (code points),
 * as a form's maxlength counts. Password: DOMAIN_PASSWORD_MIN to _MAX. */
#define DOMAIN_PASSWORD_MIN 10
#define DOMAIN_PASSWORD_MAX 1024
int domain_check_register(const domain_register_req *req, domain_result *res);
int domain_check_contact(const domain_contact_req *req, domain_result *res);
/* Argon2id (crypto_pwhash_str, interactive limits) — slow by design; run it
 * in a worker, not inside a transaction. out must hold 128 bytes. */
int domain_hash_password(const char *password, char out[128], folio_err *err);

int domain_begin(domain *d, folio_err *err);
int domain_commit(domain *d, folio_err *err);
void domain_rollback(domain *d);

/* Returns an enum domain_rc and fills res. */
int domain_register(domain *d, const domain_register_req *req,
                    domain_result *res, folio_err *err);
int domain_contact(domain *d, const domain_contact_req *req,
                   domain_result *res, folio_err *err);
/* Erases a person: destroys their subject key, records PersonForgotten
 * (without personal data), removes their projection rows, scrubs the WAL. */
int domain_forget(domain *d, const char *email, domain_result *res,
                  folio_err *err);

/* Follows a verification link: the token (single use, 24 h) makes its
 * pending sign-up a member (MemberVerified). DOMAIN_OK, or
 * DOMAIN_NOT_FOUND for a token unknown, used, expired or of someone
 * erased (one answer for all). */
int domain_verify(domain *d, const char *token, domain_result *res,
                  folio_err *err);

/* Erases the sign-ups never verified within 7 days, like domain_forget
 * (outside a group: each in a transaction of its own). *erased gets how
 * many. Run by `folio deliver` and hourly by folio-fcgi's writer. */
int domain_expire_pending(domain *d, int *erased, folio_err *err);

/* Signing in (sessions: accounts.h). login_lookup: 1 and the member's id
 * and Argon2id hash when email is a verified member with a password, 0
 * when not (unknown, pending, no password), -1 on error; verify the
 * password outside any lock. session_start: a new session token (raw, 44
 * bytes) for user_id. session_get: 1 with user_id (80 bytes) and the
 * public display name when raw is a live session (its idle clock
 * restarted), 0 when not. session_end: that session, or with everywhere
 * every session of its member. */
int domain_login_lookup(domain *d, const char *email, char user_id[80],
                        char hash[128], folio_err *err);
int domain_session_start(domain *d, const char *user_id, char raw[44],
                         folio_err *err);
int domain_session_get(domain *d, const char *raw, char user_id[80],
                       char *name, size_t namecap, folio_err *err);
int domain_session_end(domain *d, const char *raw, int everywhere,
                       folio_err *err);

/* Resetting a password. reset_request: for a verified member within the
 * per-recipient mail limit, PasswordResetRequested (its mail holds a link
 * with a single-use token valid for an hour); DOMAIN_OK whether or not the
 * address is known, DOMAIN_INVALID for one that is not an address.
 * reset_password: the token's member gets the new Argon2id hash, every
 * session of theirs ends (MemberPasswordChanged); DOMAIN_NOT_FOUND for a
 * token unknown, used or expired. */
int domain_reset_request(domain *d, const char *email, const char *request_id,
                         const char *client, domain_result *res,
                         folio_err *err);
int domain_reset_password(domain *d, const char *token,
                          const char *password_hash, domain_result *res,
                          folio_err *err);

/* A site_data_fn (ud: the domain) giving templates the public read models:
 *   community: { count, members: [{ name, joined, joined_iso }] } the newest
 *              30 (the whole list: domain_site_range)
 *   stats:     { events, members, contacts, by_day: [...] }              */
const cJSON *domain_site_data(void *ud, const char *name);
/* A site_range_fn (ud: the domain) serving community.members by rank. */
int domain_site_range(void *ud, const char *list, long long lo, long long hi,
                      cJSON **items, long long *top, folio_err *err);
/* Data names (NULL-terminated) the site may ask domain_site_data for. */
const char *const *domain_data_names(void);

/* Owner tools. */
typedef struct domain_events_query {
    const char *stream;     /* NULL: all */
    const char *type;       /* NULL: all */
    long long after;        /* position, 0: from the start */
    long long as_of_ms;     /* 0: now */
    int json;               /* JSON Lines with the whole envelope */
    long long upto;         /* position, 0: to the end */
} domain_events_query;
/* Prints events to out (personal fields decrypted for the owner,
 * "[redacted]" when forgotten), upcast to the current schema. */
int domain_print_events(domain *d, const domain_events_query *q, FILE *out,
                        folio_err *err);
/* The envelope `folio events --json` prints, for every reader of the log
 * (webhooks, /api/events): {position, event_id, stream_id, stream_version,
 * type, schema_version (the type's current one), data, metadata,
 * recorded_at (ISO 8601 UTC)}. Takes data and meta over, also when it
 * fails (NULL: out of memory). */
cJSON *domain_envelope_json(const store_event *ev, cJSON *data, cJSON *meta);
/* Sets the type's personal fields in data, and metadata's client, to
 * "[personal]", leaving "[redacted]" ones as they are. -1: out of memory. */
int domain_mask_personal(const char *type, cJSON *data, cJSON *meta);
/* One stored event as its envelope, upcast, personal fields decrypted
 * (personal set) or "[personal]"; "[redacted]" once forgotten either way. */
int domain_event_json(domain *d, const store_event *ev, int personal,
                      cJSON **out, folio_err *err);
/* The handle's store connection, for readers of the log (same thread). */
store *domain_store(domain *d);

/* Rebuilds the named projections (all when n == 0) from the log, in one
 * transaction (projections_replay). */
int domain_replay(domain *d, const char *const *names, size_t n,
                  folio_err *err);
/* integrity_check, triggers, each projection equal to a fresh replay;
 * differences appended to report. 0: fine, 1: differs, -1: error. */
int domain_check(domain *d, buf *report, folio_err *err);
int domain_backup(domain *d, const char *path, folio_err *err);
/* A read-only copy of the site's state as it was at as_of_ms: projections
 * replayed up to then into a temporary database; the live one untouched.
 * Close it with domain_close. */
int domain_open_as_of(const folio_config *cfg, long long as_of_ms,
                      domain **out, folio_err *err);

/* The owner's decisions, each an event (CLI and admin pages alike).
 * contact_id: "contact-<id>" or the bare id; status: new, handled,
 * archived or spam; role: owner or member. DOMAIN_NOT_FOUND when there is
 * no such request or member; DOMAIN_INVALID for a value off the list.
 * Hiding keeps the account but takes the name off every public page. */
int domain_contact_mark(domain *d, const char *contact_id, const char *status,
                        domain_result *res, folio_err *err);
int domain_member_hide(domain *d, const char *email, int hidden, domain_result *res,
                       folio_err *err);
int domain_member_role(domain *d, const char *email, const char *role, domain_result *res,
                       folio_err *err);
/* The owner's views, personal fields opened ("[redacted]" once forgotten).
 * domain_inbox: [{id, name, email, subject, received, status, page,
 * message}] newest first; status and contact_id (NULL: any) filter.
 * domain_members: [{user_id, email, name, joined, hidden, role, rank}] in
 * joining order, hidden ones too. NULL with a message on error. */
cJSON *domain_inbox(domain *d, const char *status, const char *contact_id, folio_err *err);
cJSON *domain_members(domain *d, folio_err *err);

/* WAL checkpoints for a busy writer. SQLite's automatic checkpoint runs
 * inside the commit that crosses 1000 WAL pages, stalling that writer; a
 * busy one turns it off (on 0), lets another connection checkpoint in the
 * background (store_checkpoint), and itself checkpoints only when
 * domain_wal_frames says the WAL grew past what the background kept up
 * with, between two transactions, which lets the next one restart the
 * WAL from its beginning. truncate: 0 PASSIVE, 1 TRUNCATE. */
int domain_set_autocheckpoint(domain *d, int on, folio_err *err);
int domain_wal_frames(domain *d);
int domain_checkpoint(domain *d, int truncate, folio_err *err);

/* 1 when the database answers a write (for GET /health). */
int domain_writable(domain *d);
/* 1 while the disk under the database is full (store_disk_full): a
 * command failing then is answered 503, not 500. Clears by itself when
 * space returns. */
int domain_disk_full(domain *d);

/* Members' self-service (/account/). raw is the session's token: a
 * command runs only for a live session (DOMAIN_NOT_FOUND when it is not)
 * and restarts its idle clock.
 * peek: 1 with the member's id, Argon2id hash (may be NULL; "" when they
 *   have none) and public name (may be NULL) without writing, 0 when the
 *   session is not live, -1 on error: for checking a password outside
 *   the writer.
 * rename: MemberRenamed (DOMAIN_INVALID: display_name's rule); only the
 *   page that shows the member and the newest list change.
 * password: the new Argon2id hash, every other session ended
 *   (MemberPasswordChanged how "change"); the caller checked the current
 *   password.
 * delete: the erasure of domain_forget for the session's member.
 * export: 1 and {user_id, site, events: [envelopes, personal fields
 *   opened]} of every event about the member (their stream and all
 *   sealed for them), 0 when the session is not live, -1 on error. */
int domain_account_peek(domain *d, const char *raw, char user_id[80],
                        char hash[128], char *name, size_t namecap,
                        folio_err *err);
int domain_account_rename(domain *d, const char *raw, const char *display_name,
                          const char *request_id, const char *client,
                          domain_result *res, folio_err *err);
int domain_account_password(domain *d, const char *raw,
                            const char *password_hash, const char *request_id,
                            const char *client, domain_result *res,
                            folio_err *err);
int domain_account_delete(domain *d, const char *raw, domain_result *res,
                          folio_err *err);
int domain_account_export(domain *d, const char *raw, cJSON **out,
                          folio_err *err);

/* A member's new address. email_request: for a live session, a link to
 * the new address (MemberEmailChangeRequested, single use, 24 h);
 * DOMAIN_INVALID for an address that is not one or is theirs already;
 * DOMAIN_OK too when the address is another's or over the mail limit
 * (nothing sent: the answer must not tell). email_confirm: the link's
 * token makes the change (MemberEmailChanged, which tells the old
 * address); sign-in, reset and forget then go by the new address, and the
 * old one stays tied to the member (no one signs up with it).
 * DOMAIN_NOT_FOUND for a token unknown, used or expired, or an address
 * taken meanwhile. */
int domain_account_email_request(domain *d, const char *raw, const char *email,
                                 const char *request_id, const char *client,
                                 domain_result *res, folio_err *err);
int domain_account_email_confirm(domain *d, const char *token, domain_result *res,
                                 folio_err *err);
/* ---- the owner's pages (web_admin) ---- */
#include "projections.h"
#include "vault.h"
/* The handle's read models and vault, for the owner's paged views (same
 * thread as the handle). */
projections *domain_projections(domain *d);
vault *domain_vault(domain *d);
/* The member user_id as domain_members shows them (*out, a new object):
 * DOMAIN_OK, DOMAIN_NOT_FOUND or DOMAIN_ERROR. */
int domain_member_get(domain *d, const char *user_id, cJSON **out, folio_err *err);
/* Erases the member user_id exactly as domain_forget erases an address. */
int domain_member_forget(domain *d, const char *user_id, domain_result *res,
                         folio_err *err);
/* domain_backup notes each backup in var/last-backup; this reads it:
 * {at, file, bytes}, or NULL when none was noted. */
cJSON *domain_last_backup(const folio_config *cfg);
/* The member with that address: DOMAIN_OK and user_id, DOMAIN_NOT_FOUND. */
int domain_member_by_email(domain *d, const char *email, char user_id[80], folio_err *err);
/* Sign-ups not yet verified, newest first: [{user_id, email, name, joined,
 * verified: false, key}] with keys below before (0: from the newest); the
 * last row's key is the next page's before. */
cJSON *domain_pending_page(domain *d, long long before, int limit, folio_err *err);
int domain_pending_count(domain *d, long long *n, folio_err *err);
/* The data of the event at position, upcast, personal fields opened for
 * the owner ("[redacted]" once forgotten); NULL with a message. */
cJSON *domain_data_at(domain *d, long long position, folio_err *err);

#endif
