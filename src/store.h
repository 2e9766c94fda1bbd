/* store — the append-only event log on SQLite (WAL).
 *
 * Schema and numbered migrations are applied in one transaction at open; a
 * database whose schema is newer than this program is refused. The events
 * table refuses UPDATE and DELETE (triggers: "the event log is
 * append-only"). Positions are gap-free and ascending: SQLite has one
 * writer and every write transaction is BEGIN IMMEDIATE.
 *
 * A store handle is one SQLite connection: use it from one thread at a
 * time. Open one per thread. */
#ifndef FOLIO_STORE_H
#define FOLIO_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include "util.h"

typedef struct store store;

enum store_rc {
    STORE_OK = 0,
    STORE_ERROR = -1,
    STORE_CONFLICT = 1   /* expected version did not match */
};

/* Expected version for store_append: one of these or an exact version
 * (>= 0; a stream's first event has version 0... so an exact N means "the
 * stream's last version is N"). */
#define STORE_ANY (-1LL)
#define STORE_NO_STREAM (-2LL)
#define STORE_STREAM_EXISTS (-3LL)

typedef struct store_opts {
    int sync_full;   /* synchronous=FULL (1) or NORMAL (0) */
    int readonly;
} store_opts;

typedef struct store_event {
    long long position;
    char event_id[37];       /* UUID text */
    const char *stream_id;
    long long stream_version;
    const char *type;
    int schema_version;
    const char *data;        /* JSON text */
    const char *metadata;    /* JSON text */
    long long recorded_at;   /* ms since the epoch, UTC */
} store_event;

typedef struct store_new_event {
    const char *event_id;    /* NULL: a new UUIDv7 (time-ordered) */
    const char *type;
    int schema_version;
    const char *data;        /* JSON text */
    const char *metadata;    /* JSON text, NULL: {} */
} store_new_event;

/* opts NULL: synchronous FULL, read-write. */
int store_open(const char *path, const store_opts *opts, store **out,
               folio_err *err);
void store_close(store *s);
/* A second, read-only connection to s's database file, for another thread
 * (WAL: it reads while s writes). Fails for a database without a file. */
int store_open_reader(store *s, store **out, folio_err *err);
/* The connection, for modules that keep tables in the same database and
 * write them in the same transaction (projections, vault, credentials). */
sqlite3 *store_db(store *s);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Appends outside an explicit
 * transaction run in one of their own; inside one (or inside the caller's
 * SAVEPOINT) an append is a savepoint of its own and does not commit.
 * Start write transactions with store_begin: one begun by a bare SAVEPOINT
 * is deferred and can meet SQLITE_BUSY at its first write. */
int store_begin(store *s, folio_err *err);
int store_commit(store *s, folio_err *err);
void store_rollback(store *s);
int store_in_tx(store *s);

/* Appends n events to one stream atomically. expected is checked against
 * the stream's current version; a mismatch returns STORE_CONFLICT and
 * writes nothing. An event whose event_id is already stored is not stored
 * again: the call returns STORE_OK and positions[i] is the original
 * position. positions (may be NULL) receives each event's position. */
int store_append(store *s, const char *stream_id, long long expected,
                 const store_new_event *evs, size_t n, long long *positions,
                 folio_err *err);

/* Visits events; the callback returns 0 to go on, anything else stops the
 * read and is returned. Event fields are valid during the callback only. */
typedef int (*store_event_fn)(void *ud, const store_event *ev);
int store_read_stream(store *s, const char *stream_id, store_event_fn fn,
                      void *ud, folio_err *err);
/* A stream's last event (found through the stream index): 1 found, 0 no
 * such stream, -1 error. */
typedef struct store_last {
    long long version, position, recorded_at;
} store_last;
int store_stream_last(store *s, const char *stream_id, store_last *last,
                      folio_err *err);
/* Events with position > after, at most limit (0: no limit), in order;
 * *last gets the last position visited (or after). */
int store_read_all(store *s, long long after, size_t limit, store_event_fn fn,
                   void *ud, long long *last, folio_err *err);
/* The events of stream_id and those whose data contains needle or
 * needle2 (may be NULL; a subject, say), in order; fn as above. */
int store_read_mentioning(store *s, const char *stream_id, const char *needle,
                          const char *needle2, store_event_fn fn, void *ud,
                          folio_err *err);
/* The events with after < position <= upto, in order, with only position,
 * type, schema_version, data and recorded_at (event_id is empty, stream_id
 * and metadata NULL): a replay reads a million rows. */
int store_read_data(store *s, long long after, long long upto,
                    store_event_fn fn, void *ud, folio_err *err);
/* Events recorded at or before until_ms, in order. recorded_at never
 * decreases along the log (a clock stepping back does not show), so this
 * is always a prefix of the log. */
int store_read_until(store *s, long long until_ms, store_event_fn fn, void *ud,
                     folio_err *err);
/* *pos gets the last position recorded at or before until_ms (0: none). */
int store_position_at(store *s, long long until_ms, long long *pos,
                      folio_err *err);
long long store_head(store *s);  /* last position, 0 when empty */

/* Online backup (sqlite3_backup) to path; consistent while others write. */
int store_backup(store *s, const char *path, folio_err *err);
/* PRAGMA integrity_check plus the append-only triggers; problems are
 * appended to report one a line. 0: fine, 1: problems, -1: error. */
int store_check(store *s, buf *report, folio_err *err);

/* ---- restoring a backup ----
 * A folio store is an SQLite file with the events table, a schema version
 * from 1 to this program's, and clean checks (store_check). Files are
 * verified as one file, without a -wal beside them: what a backup is. */
typedef struct store_file_info {
    int schema_version;
    long long events;
} store_file_info;
/* 0: path is a folio store (info filled, may be NULL); -1: it is not, or
 * cannot be read, and err says which and why. */
int store_verify_file(const char *path, store_file_info *info, folio_err *err);
/* 1 when another process has the database at db_path open (folio-fcgi, a
 * build, a backup), 0 when none has, -1 on error. Call it only while this
 * process has no connection to that database open. */
int store_in_use(const char *db_path, folio_err *err);
/* Replaces the database at db_path by a copy of the backup at from: the
 * copy is made beside it (0600) and verified before anything else is
 * touched; the current database, if any, is first kept as a consistent
 * copy named in kept ("" when there was none); then the copy is renamed
 * into place. Refuses while another process has the database open unless
 * force is set (that process keeps writing to the old file until it
 * restarts). */
int store_restore(const char *db_path, const char *from, int force,
                  char *kept, size_t keptcap, store_file_info *info,
                  folio_err *err);

/* SQLite's data version of db's main database: it changes with every commit,
 * this connection's or another's, and stays put inside one transaction — so
 * a cache stamped with it knows when another writer has been. */
unsigned store_data_version(sqlite3 *db);

/* A new random UUID (v4) as text. */
void store_uuid(char out[37]);
/* A new time-ordered UUID (v7) as text: ids made one after another sort
 * one after another, so an index on them grows at its right edge. */
void store_uuid_v7(char out[37]);

/* recorded_at of the last event this handle appended (0: none yet). */
long long store_last_recorded_at(store *s);

/* Disk full. store_disk_full: 1 when a write on s failed for want of
 * space (SQLITE_FULL, or an I/O error with ENOSPC) and neither a commit
 * nor free space on the database's filesystem has come since, or when
 * that filesystem is nearly full now. store_space_low: the latter alone,
 * for any path (thread-safe). store_err_disk_full: the message of a failed
 * call says the disk was full (errors from other modules' statements on
 * store_db carry SQLite's "database or disk is full"). */
int store_disk_full(store *s);
int store_space_low(const char *path);
int store_err_disk_full(const folio_err *err);

/* Whether commits on this handle checkpoint the WAL themselves (SQLite's
 * automatic checkpoint, the default). A busy writer turns it off and has
 * another connection run store_checkpoint instead. */
int store_set_autocheckpoint(store *s, int on, folio_err *err);
/* Copies the WAL back into the database: truncate 0 is PASSIVE (never
 * waits, does what readers and writers allow), 1 TRUNCATE (waits for
 * them, then empties the WAL file). *wal_frames (may be NULL) gets the
 * frames in the WAL before the call. */
int store_checkpoint(store *s, int truncate, int *wal_frames,
                     folio_err *err);
/* Frames in the WAL after this handle's last commit, while its automatic
 * checkpoint is off (0 otherwise). */
int store_wal_frames(store *s);

/* Events with position < before (0: from the head), newest first, at most
 * limit (0: no limit); stream_id and type (NULL: any) filter exactly. */
int store_read_back(store *s, long long before, size_t limit, const char *stream_id,
                    const char *type, store_event_fn fn, void *ud, folio_err *err);

#endif
