/* projections — the read models built from the event log.
 *
 *   members  members (public: user_id, display_name, joined_at; the
 *            owner's: hidden, role) and
 *            members_private (subject, position, locale, has_password);
 *            subject is the vault's keyed hash of the normalised address
 *            and is UNIQUE: one address, one member.
 *   inbox    contact requests: contact_id, subject, received_at, status
 *            (new/handled/archived/spam), page — no plaintext.
 *   stats    counts by event type (stats_types) and by day (stats_days).
 *
 * members.name_mac (vault_name_mac of the sealed name and the name) and
 * inbox.row_mac (vault_row_mac of the event as stored and the row) let a
 * replay that keeps the tables compare rows without decrypting names or
 * parsing contact requests; they reveal nothing the rows do not.
 *
 * Each projection has a name, a code version and a checkpoint (a row in
 * projection_checkpoints) written in the same transaction as its tables.
 * Applying events and replaying the log are one code path: both read the
 * log after a position and hand each event to the same handlers, so a
 * replay equals the incremental result by construction.
 *
 * A handle works on one store connection; one thread at a time. */
#ifndef FOLIO_PROJECTIONS_H
#define FOLIO_PROJECTIONS_H

#include <cjson/cJSON.h>
#include "store.h"
#include "util.h"
#include "vault.h"

typedef struct projections projections;

enum {
    PROJ_MEMBERS = 1u << 0,
    PROJ_INBOX = 1u << 1,
    PROJ_STATS = 1u << 2,
    PROJ_ALL = (1u << 3) - 1
};

/* Opens the live read models in the store's main database: creates missing
 * tables, rebuilds a projection whose code version changed (or that has
 * no checkpoint), and catches up with the log. v may be NULL (nothing can
 * be decrypted: members are then left out). */
int projections_open(store *st, vault *v, projections **out, folio_err *err);
/* Builds private read models in the connection's temp database from the
 * events recorded at or before as_of_ms; the main database is only read.
 * Queries on the handle then answer from that copy: those of what pages
 * show (members, stats); the inbox queries fail. */
int projections_open_as_of(store *st, vault *v, long long as_of_ms,
                           projections **out, folio_err *err);
void projections_close(projections *p);

/* Projection names ("members", "inbox", "stats"), NULL-terminated. */
const char *const *projections_names(void);
/* The bit of a projection name, 0 when unknown. */
unsigned projections_bit(const char *name);

/* Applies the events after the checkpoints, inside the caller's
 * transaction (store_begin). *changed gets the PROJ_ bits whose tables
 * changed. */
int projections_catch_up(projections *p, unsigned *changed, folio_err *err);

/* Group commit (the domain's writer). Inside a write transaction:
 *   projections_tx_begin   catches up and remembers the checkpoints;
 *   projections_apply      applies an event just appended by this
 *                          connection from memory (data: its JSON, in the
 *                          current shape), inside the command's savepoint;
 *                          an event that is not the next position is read
 *                          from the log instead;
 *   projections_cmd_end    keeps (keep 1) or drops the command's events
 *                          after its savepoint was released or undone;
 *   projections_flush      writes the stats and checkpoints of the kept
 *                          commands: call it just before the commit;
 *   projections_discard    forgets them: call it after a rollback. */
int projections_tx_begin(projections *p, unsigned *changed, folio_err *err);
int projections_apply(projections *p, const store_event *ev,
                      const cJSON *data, unsigned *changed, folio_err *err);
void projections_cmd_end(projections *p, int keep);
int projections_flush(projections *p, folio_err *err);
void projections_discard(projections *p);

/* Rebuilds the projections in mask from the log, all in one write
 * transaction, so readers see the old model until it commits. Tables of
 * this program's shapes are kept and only their rows that differ from the
 * log's are written; others (and a table holding rows the log never
 * made) are dropped, made again and filled. Must be called outside a
 * transaction. */
int projections_replay(projections *p, unsigned mask, folio_err *err);

/* What a rebuild holds in memory, however long the log: at most `rows`
 * members_private rows (0: the default, 36 MiB of them), written in
 * sorted runs, and a window of 2 * `keys` subject keys per thread (0: the
 * default, 16384); a name whose key is not in it costs a query. Tests
 * make both tiny. Process-wide; set before opening. */
void projections_set_bounds(size_t rows, size_t keys);

/* Compares the live tables with a replay of the log (projections_replay's
 * that keeps them, its changes counted and rolled back; or one into
 * temporary tables compared row for row); checks versions and checkpoints
 * too. Differences are appended to report, one a line, a table's rows not
 * in the replay and missing from it counted. 0 equal, 1 differs, -1
 * error. Nothing is written. */
int projections_check(projections *p, buf *report, folio_err *err);

/* Queries (in the caller's transaction when there is one). */
/* 1 when subject is a member, 0 when not, -1 on error; user_id (80 bytes,
 * may be NULL) gets the member's id. */
int projections_member_of(projections *p, const char *subject,
                          char user_id[80], folio_err *err);
/* The owner's views. Each row is handed to fn (its strings valid during
 * the call); a non-zero return from fn stops with -1. Return the number of
 * rows, or -1. */
typedef struct projections_inbox_row {
    long long position, received_at;
    const char *contact_id, *status, *page; /* page may be NULL */
} projections_inbox_row;
typedef int (*projections_inbox_fn)(void *ud, const projections_inbox_row *r,
                                    folio_err *err);
/* Newest first; status and contact_id (NULL: any) filter. */
int projections_inbox_rows(projections *p, const char *status, const char *contact_id,
                           projections_inbox_fn fn, void *ud, folio_err *err);
typedef struct projections_member_row {
    long long position, joined_at, rank;
    const char *user_id, *display_name, *role;
    int hidden;
} projections_member_row;
typedef int (*projections_member_fn)(void *ud, const projections_member_row *r,
                                     folio_err *err);
/* Oldest first; user_id (NULL: all) filters. */
int projections_member_rows(projections *p, const char *user_id, projections_member_fn fn,
                            void *ud, folio_err *err);

/* 1 and the member's public display name (cut to cap bytes) when user_id
 * is a listed member, 0 when not, -1 on error. */
int projections_member_name(projections *p, const char *user_id, char *name,
                            size_t cap, folio_err *err);
/* {count, members: [{name, joined, joined_iso}]}: the newest
 * PROJECTIONS_COMMUNITY_RECENT members, newest first. */
#define PROJECTIONS_COMMUNITY_RECENT 30
#define PROJECTIONS_COMMUNITY_RECENT_S "30"
cJSON *projections_community(projections *p, folio_err *err);
/* Members by rank (1 the oldest; a site_range_fn's contract): *top the
 * number of members, *items those ranked lo..hi newest first as
 * {name, joined, joined_iso, rank}. */
int projections_members_range(projections *p, long long lo, long long hi, cJSON **items,
                              long long *top, folio_err *err);
/* {events, members, contacts, by_type: {TYPE: n}, by_day: [{day, events}]}
 * (by_day: the last 30 days with events, newest first). */
cJSON *projections_stats(projections *p, folio_err *err);

/* The owner's pages (admin): a page of at most limit rows, newest first,
 * with positions below before (0: from the newest) — keyset pagination,
 * so a page costs the same at any depth. name_like: a LIKE pattern on the
 * public display name ('\\' escapes), NULL: all. Return the rows, or -1. */
int projections_inbox_page(projections *p, const char *status, long long before, int limit,
                           projections_inbox_fn fn, void *ud, folio_err *err);
/* Requests by status: new, handled, archived, spam. */
int projections_inbox_counts(projections *p, long long counts[4], folio_err *err);
int projections_members_page(projections *p, const char *name_like, long long before,
                             int limit, projections_member_fn fn, void *ud, folio_err *err);
int projections_member_count(projections *p, long long *n, folio_err *err);
/* [{name, version, code_version, current, position}]: each projection's
 * checkpoint beside the version this program builds. */
cJSON *projections_versions(projections *p, folio_err *err);

#endif
