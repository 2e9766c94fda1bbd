/* store — the append-only event log on SQLite (WAL). See store.h. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* ---- schema ------------------------------------------------------------
 * Numbered migrations: S_migrations[i] takes user_version i to i + 1. They
 * are only ever appended to: a released step is never edited. */
static const char *const S_migrations[] = {
    /* 1: the event log. position is an INTEGER PRIMARY KEY without
     * AUTOINCREMENT, so a new row gets max(position) + 1 and nothing can
     * delete rows: positions stay gap-free, also after a rolled-back batch.
     * The CHECKs keep anything but JSON out of data and metadata. */
    "CREATE TABLE events("
    " position INTEGER PRIMARY KEY,"
    " event_id TEXT UNIQUE NOT NULL,"
    " stream_id TEXT NOT NULL,"
    " stream_version INTEGER NOT NULL,"
    " type TEXT NOT NULL,"
    " schema_version INTEGER NOT NULL,"
    " data TEXT NOT NULL CHECK (json_valid(data)),"
    " metadata TEXT NOT NULL CHECK (json_valid(metadata)),"
    " recorded_at INTEGER NOT NULL,"
    " UNIQUE(stream_id, stream_version));"
    "CREATE INDEX events_recorded_at ON events(recorded_at);"
    "CREATE INDEX events_type ON events(type);"
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
    " BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;"
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
    " BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;",

    /* 2: the vault's subject keys (wrapped is NULL once destroyed), the
     * members' password hashes (kept out of the log so they can change
     * and be erased) and the projections' checkpoints. */
    "CREATE TABLE subject_keys("
    " subject TEXT PRIMARY KEY,"
    " wrapped BLOB,"
    " created_at INTEGER,"
    " destroyed_at INTEGER);"
    "CREATE TABLE credentials("
    " user_id TEXT PRIMARY KEY,"
    " password_hash TEXT NOT NULL,"
    " updated_at INTEGER);"
    "CREATE TABLE projection_checkpoints("
    " name TEXT PRIMARY KEY,"
    " version INTEGER NOT NULL,"
    " position INTEGER NOT NULL);",

    /* 3: every append paid for two indexes nothing needs. No query reads
     * events by type; recorded_at never decreases along the log, so the
     * last event recorded by a time is found by a binary search over
     * positions (store_read_until). */
    "DROP INDEX IF EXISTS events_recorded_at;"
    "DROP INDEX IF EXISTS events_type;",

    /* 4: the consumers' checkpoints, retries and dead letters. A
     * consumer's checkpoint row moves in the same transaction as the rows
     * it writes about a delivery. consumer_actions keeps what happened to
     * deliveries that failed (retries, dead letters, the owner's retry and
     * drop), so their story can be told afterwards. */
    "CREATE TABLE IF NOT EXISTS consumer_checkpoints("
    " name TEXT PRIMARY KEY,"
    " position INTEGER NOT NULL,"
    " delivered INTEGER NOT NULL DEFAULT 0,"
    " last_success_at INTEGER,"
    " last_error TEXT,"
    " last_error_at INTEGER);"
    "CREATE TABLE IF NOT EXISTS consumer_retries("
    " consumer TEXT NOT NULL,"
    " position INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL,"
    " next_at INTEGER NOT NULL,"
    " last_error TEXT,"
    " dead_letter INTEGER,"
    " PRIMARY KEY(consumer, position));"
    "CREATE TABLE IF NOT EXISTS dead_letters("
    " id INTEGER PRIMARY KEY,"
    " consumer TEXT NOT NULL,"
    " position INTEGER NOT NULL,"
    " event_id TEXT NOT NULL,"
    " type TEXT NOT NULL,"
    " attempts INTEGER NOT NULL,"
    " error TEXT,"
    " created_at INTEGER NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'dead'"
    "  CHECK (state IN ('dead', 'retrying', 'delivered', 'dropped')),"
    " resolved_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS dead_letters_consumer ON dead_letters(consumer, state);"
    "CREATE TABLE IF NOT EXISTS consumer_actions("
    " id INTEGER PRIMARY KEY,"
    " at INTEGER NOT NULL,"
    " consumer TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " position INTEGER,"
    " dead_letter INTEGER,"
    " attempts INTEGER,"
    " detail TEXT);",

    /* 5: the events API's keys (apikeys.h): only a hash of each key. */
    "CREATE TABLE api_keys("
    " name TEXT PRIMARY KEY,"
    " key_hash BLOB UNIQUE NOT NULL,"
    " scopes TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " last_used_at INTEGER,"
    " revoked_at INTEGER);",

    /* 6: members' accounts (pending until the address is verified), their
     * single-use tokens and sessions (hashes only), and the mails sent to
     * an address a visitor can cause (the per-recipient limit). */
    "CREATE TABLE IF NOT EXISTS accounts("
    " user_id TEXT PRIMARY KEY,"
    " subject TEXT UNIQUE NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'verified')),"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS account_tokens("
    " hash BLOB PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " user_id TEXT NOT NULL,"
    " position INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS account_tokens_user ON account_tokens(user_id);"
    "CREATE TABLE IF NOT EXISTS sessions("
    " hash BLOB PRIMARY KEY,"
    " user_id TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " seen_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);"
    "CREATE TABLE IF NOT EXISTS mail_sends("
    " subject TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS mail_sends_subject ON mail_sends(subject, at);",

    /* 7: a member's changed address: the keyed hash of the one they use
     * now, when it is not the one their subject (their vault key's) was
     * made from. Sign-in, reset and sign-up find them by it. */
    "CREATE TABLE IF NOT EXISTS account_addresses("
    " user_id TEXT PRIMARY KEY,"
    " address TEXT UNIQUE NOT NULL);",
};
#define S_SCHEMA_VERSION ((int)(sizeof S_migrations / sizeof S_migrations[0]))

#define S_BUSY_MS 5000

/* ---- cached statements ------------------------------------------------ */
enum {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_FIND_EVENT,
    S_STREAM_VERSION,
    S_STREAM_LAST,
    S_INSERT,
    S_READ_STREAM,
    S_READ_ALL,
    S_READ_DATA,
    S_READ_UNTIL,
    S_TIME_AT,
    S_HEAD,
    S_LAST_TIME,
    S_NSTMT
};

static const char *const S_sql[S_NSTMT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT store_append",
    [S_RELEASE] = "RELEASE store_append",
    [S_ROLLBACK_TO] = "ROLLBACK TO store_append",
    [S_FIND_EVENT] = "SELECT position, stream_id FROM events WHERE event_id = ?1",
    [S_STREAM_LAST] = "SELECT stream_version, position, recorded_at FROM"
                      " events WHERE stream_id = ?1 ORDER BY stream_version"
                      " DESC LIMIT 1",
    [S_STREAM_VERSION] =
        "SELECT max(stream_version) FROM events WHERE stream_id = ?1",
    [S_INSERT] = "INSERT INTO events(event_id, stream_id, stream_version, type,"
                 " schema_version, data, metadata, recorded_at)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_READ_STREAM] = "SELECT position, event_id, stream_id, stream_version,"
                      " type, schema_version, data, metadata, recorded_at"
                      " FROM events WHERE stream_id = ?1"
                      " ORDER BY stream_version",
    [S_READ_ALL] = "SELECT position, event_id, stream_id, stream_version,"
                   " type, schema_version, data, metadata, recorded_at"
                   " FROM events WHERE position > ?1 ORDER BY position"
                   " LIMIT ?2",
    [S_READ_DATA] = "SELECT position, type, schema_version, data,"
                    " recorded_at FROM events WHERE position > ?1 AND"
                    " position <= ?2 ORDER BY position",
    /* A prefix of the log: everything up to the last event recorded by
     * then (found by S_TIME_AT), so an as-of view never has a later event
     * without an earlier. */
    [S_READ_UNTIL] = "SELECT position, event_id, stream_id, stream_version,"
                     " type, schema_version, data, metadata, recorded_at"
                     " FROM events WHERE position <= ?1 ORDER BY position",
    [S_TIME_AT] = "SELECT recorded_at FROM events WHERE position <= ?1"
                  " ORDER BY position DESC LIMIT 1",
    [S_HEAD] = "SELECT coalesce(max(position), 0) FROM events",
    [S_LAST_TIME] = "SELECT recorded_at FROM events ORDER BY position DESC"
                    " LIMIT 1",
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_NSTMT];
    int readonly;
    long long last_stamp; /* recorded_at of this handle's last append */
    int wal_frames;       /* after the last commit (autocheckpoint off) */
    /* last_stamp is the newest recorded_at in the log (or above it, after
     * an append undone by a savepoint) while the transaction that made it
     * lasts: SQLite's data version changes with every commit. */
    int stamp_ok;
    unsigned stamp_version;
    int full;             /* a write failed for want of space, none since */
};

unsigned store_data_version(sqlite3 *db)
{
    unsigned u = 0;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_DATA_VERSION, &u) !=
        SQLITE_OK)
        return 0;
    return u;
}


/* SQLite says SQLITE_FULL for a write that hit ENOSPC; an fsync or a
 * truncate that did is an I/O error carrying the errno. */
static int S_is_full(sqlite3 *db)
{
    int code = sqlite3_extended_errcode(db) & 0xff;
    return code == SQLITE_FULL ||
           (code == SQLITE_IOERR && sqlite3_system_errno(db) == ENOSPC);
}

static int S_db_err(store *s, folio_err *err, const char *what)
{
    int code = sqlite3_extended_errcode(s->db);
    if (S_is_full(s->db)) {
        s->full = 1;
        return err_set(err, "%s: %s (disk full)", what, sqlite3_errmsg(s->db));
    }
    if ((code & 0xff) == SQLITE_BUSY)
        return err_set(err, "%s: the database is busy (another process kept "
                       "it locked for %d ms)", what, S_BUSY_MS);
    return err_set(err, "%s: %s", what, sqlite3_errmsg(s->db));
}

/* The cached statement, or a fresh one when the cached one is in use (a
 * read callback calling back into the store). *fresh tells the caller to
 * finalize it. */
static sqlite3_stmt *S_stmt(store *s, int which, int *fresh, folio_err *err)
{
    *fresh = 0;
    if (!s->stmt[which]) {
        if (sqlite3_prepare_v3(s->db, S_sql[which], -1,
                               SQLITE_PREPARE_PERSISTENT, &s->stmt[which],
                               NULL) != SQLITE_OK) {
            S_db_err(s, err, "preparing a statement");
            return NULL;
        }
        return s->stmt[which];
    }
    if (!sqlite3_stmt_busy(s->stmt[which]))
        return s->stmt[which];
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, S_sql[which], -1, &st, NULL) != SQLITE_OK) {
        S_db_err(s, err, "preparing a statement");
        return NULL;
    }
    *fresh = 1;
    return st;
}

static void S_done(sqlite3_stmt *st, int fresh)
{
    if (fresh) {
        sqlite3_finalize(st);
    } else {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* Runs a cached statement that returns no rows. */
static int S_exec(store *s, int which, const char *what, folio_err *err)
{
    int fresh;
    sqlite3_stmt *st = S_stmt(s, which, &fresh, err);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    S_done(st, fresh);
    if (rc != SQLITE_DONE)
        return S_db_err(s, err, what);
    return 0;
}

/* ---- open, migrate, close --------------------------------------------- */

/* Some steps of opening (switching a new file to WAL, reading the schema
 * while another process recovers the WAL) answer SQLITE_BUSY at once,
 * without the busy handler: so processes starting together on a new site
 * do not fail, such a step is tried again until S_BUSY_MS have passed. */
static int S_retry(long long start)
{
    if (util_now_ms() - start >= S_BUSY_MS)
        return 0;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return 1;
}

static int S_is_busy(int rc)
{
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

static int S_user_version(store *s, int *v, folio_err *err)
{
    long long start = util_now_ms();
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) !=
        SQLITE_OK)
        return S_db_err(s, err, "reading the schema version");
    int rc;
    while ((rc = sqlite3_step(st)) != SQLITE_ROW && S_is_busy(rc) &&
           S_retry(start))
        sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return S_db_err(s, err, "reading the schema version");
    return 0;
}

static int S_exec_sql(store *s, const char *sql, const char *what,
                      folio_err *err)
{
    long long start = util_now_ms();
    char *msg = NULL;
    int rc;
    while ((rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg)) != SQLITE_OK &&
           S_is_busy(rc) && S_retry(start)) {
        sqlite3_free(msg);
        msg = NULL;
    }
    if (rc != SQLITE_OK) {
        int code = sqlite3_extended_errcode(s->db);
        if ((code & 0xff) == SQLITE_BUSY) {
            sqlite3_free(msg);
            return S_db_err(s, err, what);
        }
        err_set(err, "%s: %s", what, msg ? msg : sqlite3_errstr(code));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int S_too_new(int v, folio_err *err)
{
    return err_set(err, "the database has schema version %d but this folio "
                   "knows only up to %d: it was written by a newer folio; "
                   "upgrade folio (or open a backup from before)", v,
                   S_SCHEMA_VERSION);
}

/* Applies the missing migrations in one write transaction, re-reading the
 * version under the lock since another process may have migrated first. */
static int S_migrate(store *s, folio_err *err)
{
    int v = 0;
    if (S_user_version(s, &v, err) != 0)
        return -1;
    if (v > S_SCHEMA_VERSION)
        return S_too_new(v, err);
    if (v == S_SCHEMA_VERSION)
        return 0;
    if (s->readonly)
        return err_set(err, "the database has schema version %d, this folio "
                       "needs %d: open it once read-write to migrate it", v,
                       S_SCHEMA_VERSION);
    if (S_exec_sql(s, "BEGIN IMMEDIATE", "migrating the database", err) != 0)
        return -1;
    if (S_user_version(s, &v, err) != 0)
        goto fail;
    if (v > S_SCHEMA_VERSION) {
        S_too_new(v, err);
        goto fail;
    }
    for (; v < S_SCHEMA_VERSION; v++) {
        char what[64];
        snprintf(what, sizeof what, "migration %d", v + 1);
        if (S_exec_sql(s, S_migrations[v], what, err) != 0)
            goto fail;
    }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", S_SCHEMA_VERSION);
    if (S_exec_sql(s, sql, "migrating the database", err) != 0)
        goto fail;
    if (S_exec_sql(s, "COMMIT", "migrating the database", err) != 0)
        goto fail;
    return 0;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* The database holds wrapped keys and sealed personal data: owner-only
 * from the first byte. SQLite would create it 0644 (less the umask), and
 * gives its -wal and -shm the database file's mode, so creating the file
 * ourselves covers all three; files an older folio left readable by others
 * are tightened. By path only: closing a descriptor of a file this process
 * has open in SQLite would drop SQLite's locks on it. */
static int S_tighten(const char *path, int create, folio_err *err)
{
    if (create) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd); /* a new file: nobody has it open */
            return 0;
        }
        if (errno != EEXIST)
            return err_set(err, "%s: %s", path, strerror(errno));
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT && !create ? 0 : err_set(err, "%s: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode) && (st.st_mode & 077) && st.st_uid == geteuid() &&
        chmod(path, st.st_mode & 0700) != 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    return 0;
}

static int S_is_file_path(const char *path)
{
    return path[0] && strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0;
}

static int S_private_files(const char *path, folio_err *err)
{
    if (!S_is_file_path(path))
        return 0;
    static const char *const sfx[] = {"-wal", "-shm"};
    char side[4096];
    if (S_tighten(path, 1, err) != 0)
        return -1;
    for (size_t i = 0; i < 2; i++)
        if (util_path(side, sizeof side, err, "%s%s", path, sfx[i]) != 0 ||
            S_tighten(side, 0, err) != 0)
            return -1;
    return 0;
}

static int S_pragmas(store *s, const store_opts *o, folio_err *err)
{
    if (sqlite3_busy_timeout(s->db, S_BUSY_MS) != SQLITE_OK)
        return S_db_err(s, err, "setting the busy timeout");
    /* recursive_triggers: without it, INSERT OR REPLACE deletes a row
     * without firing the append-only trigger. secure_delete: erased keys
     * are overwritten, not left in free space. */
    /* temp_store: the statement journal of every savepoint (a command,
     * an append) stays in memory instead of a temporary file. */
    const char *common = "PRAGMA foreign_keys = ON;"
                         "PRAGMA recursive_triggers = ON;"
                         "PRAGMA secure_delete = ON;"
                         "PRAGMA temp_store = MEMORY;";
    if (S_exec_sql(s, common, "setting up the database", err) != 0)
        return -1;
    if (o->readonly)
        return 0;
    if (S_exec_sql(s, "PRAGMA journal_mode = WAL", "switching to WAL", err) != 0)
        return -1;
    return S_exec_sql(s, o->sync_full ? "PRAGMA synchronous = FULL"
                                      : "PRAGMA synchronous = NORMAL",
                      "setting synchronous", err);
}

int store_open(const char *path, const store_opts *opts, store **out,
               folio_err *err)
{
    static const store_opts defaults = {1, 0};
    const store_opts *o = opts ? opts : &defaults;
    *out = NULL;
    if (sodium_init() < 0)
        return err_set(err, "libsodium could not be initialised");
    store *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(err, "out of memory");
    s->readonly = o->readonly;
    int flags = o->readonly ? SQLITE_OPEN_READONLY
                            : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    flags |= SQLITE_OPEN_NOMUTEX; /* one thread at a time, by contract */
    if (!o->readonly && S_private_files(path, err) != 0)
        goto fail;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        if (s->db)
            err_set(err, "%s: %s", path, sqlite3_errmsg(s->db));
        else
            err_set(err, "%s: out of memory", path);
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if (S_pragmas(s, o, err) != 0 || S_migrate(s, err) != 0) {
        err_prefix(err, "%s", path);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    store_close(s);
    return -1;
}

int store_open_reader(store *s, store **out, folio_err *err)
{
    *out = NULL;
    const char *path = sqlite3_db_filename(s->db, "main");
    if (!path || !*path)
        return err_set(err, "the database has no file to open again");
    static const store_opts ro = {0, 1};
    return store_open(path, &ro, out, err);
}

void store_close(store *s)
{
    if (!s)
        return;
    if (s->db && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    for (int i = 0; i < S_NSTMT; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close_v2(s->db);
    free(s);
}

sqlite3 *store_db(store *s) { return s->db; }

/* ---- transactions ----------------------------------------------------- */
int store_begin(store *s, folio_err *err)
{
    if (store_in_tx(s))
        return err_set(err, "a transaction is already open");
    return S_exec(s, S_BEGIN, "starting a write transaction", err);
}

int store_commit(store *s, folio_err *err)
{
    if (!store_in_tx(s))
        return err_set(err, "no transaction is open");
    if (S_exec(s, S_COMMIT, "committing", err) != 0) {
        store_rollback(s);
        return -1;
    }
    s->full = 0;
    return 0;
}

/* Below this much free space the next commit may well not fit: a group's
 * WAL frames and the checkpoint's growth of the database. */
#define S_SPACE_MIN (64 * 1024)

int store_space_low(const char *path)
{
    struct statvfs v;
    if (!path || !path[0] || statvfs(path, &v) != 0)
        return 0; /* unknown: let the write tell */
    return (unsigned long long)v.f_bavail * v.f_frsize < S_SPACE_MIN;
}

int store_disk_full(store *s)
{
    const char *path = sqlite3_db_filename(s->db, "main");
    int low = store_space_low(path);
    if (s->full && !low && path && path[0])
        s->full = 0; /* space came back: let the next write try */
    return s->full || low;
}

int store_err_disk_full(const folio_err *err)
{
    return err && (strstr(err->msg, sqlite3_errstr(SQLITE_FULL)) ||
                   strstr(err->msg, "(disk full)"));
}

void store_rollback(store *s)
{
    if (store_in_tx(s) && S_exec(s, S_ROLLBACK, "rolling back", NULL) != 0)
        /* A failed ROLLBACK leaves nothing better to do than the plain one,
         * which also works when the cached statement cannot run. */
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Any open transaction counts, also one a caller began with SAVEPOINT. */
int store_in_tx(store *s) { return !sqlite3_get_autocommit(s->db); }

/* ---- append ----------------------------------------------------------- */
static int S_check_args(const char *stream_id, long long expected,
                        const store_new_event *evs, size_t n, folio_err *err)
{
    if (!stream_id || !*stream_id)
        return err_set(err, "append: the stream id is empty");
    if (expected < STORE_STREAM_EXISTS)
        return err_set(err, "append to %s: %lld is not an expected version",
                       stream_id, expected);
    if (n > 0 && !evs)
        return err_set(err, "append to %s: no events given", stream_id);
    for (size_t i = 0; i < n; i++) {
        if (!evs[i].type || !*evs[i].type || !evs[i].data)
            return err_set(err, "append to %s: event %zu lacks a type or data",
                           stream_id, i);
        if (evs[i].event_id &&
            (!*evs[i].event_id || strlen(evs[i].event_id) > 36))
            return err_set(err, "append to %s: event id \"%.40s\" must be 1 "
                           "to 36 characters", stream_id, evs[i].event_id);
        if (evs[i].schema_version < 1)
            return err_set(err, "append to %s: %s has schema version %d",
                           stream_id, evs[i].type, evs[i].schema_version);
    }
    return 0;
}

/* Positions of the events already stored (idempotent retries) into pos[i],
 * 0 for new ones; *nnew counts the new ones. An id stored in another
 * stream is an error: it is not the same event. */
static int S_find_stored(store *s, const char *stream_id,
                         const store_new_event *evs, size_t n, long long *pos,
                         size_t *nnew, folio_err *err)
{
    *nnew = 0;
    for (size_t i = 0; i < n; i++) {
        pos[i] = 0;
        if (!evs[i].event_id) {
            (*nnew)++;
            continue;
        }
        int fresh;
        sqlite3_stmt *st = S_stmt(s, S_FIND_EVENT, &fresh, err);
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, evs[i].event_id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *other = (const char *)sqlite3_column_text(st, 1);
            if (!other || strcmp(other, stream_id) != 0) {
                err_set(err, "append to %s: event %s is already stored in "
                        "stream %s", stream_id, evs[i].event_id,
                        other ? other : "?");
                S_done(st, fresh);
                return -1;
            }
            pos[i] = sqlite3_column_int64(st, 0);
        } else if (rc == SQLITE_DONE) {
            (*nnew)++;
        }
        S_done(st, fresh);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return S_db_err(s, err, "append: looking up an event id");
    }
    return 0;
}

static int S_stream_version(store *s, const char *stream_id, long long *v,
                            folio_err *err)
{
    int fresh;
    sqlite3_stmt *st = S_stmt(s, S_STREAM_VERSION, &fresh, err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, stream_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_type(st, 0) == SQLITE_NULL
                 ? -1 : sqlite3_column_int64(st, 0);
    S_done(st, fresh);
    if (rc != SQLITE_ROW)
        return S_db_err(s, err, "append: reading the stream version");
    return 0;
}

int store_stream_last(store *s, const char *stream_id, store_last *last,
                      folio_err *err)
{
    int fresh;
    sqlite3_stmt *st = S_stmt(s, S_STREAM_LAST, &fresh, err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, stream_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        last->version = sqlite3_column_int64(st, 0);
        last->position = sqlite3_column_int64(st, 1);
        last->recorded_at = sqlite3_column_int64(st, 2);
    }
    S_done(st, fresh);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return S_db_err(s, err, "reading a stream's last event");
    return rc == SQLITE_ROW;
}

/* recorded_at never goes down along the log, even when the clock steps
 * back: "as of" a time is then always a prefix of the log. */
static int S_stamp(store *s, long long *now, folio_err *err)
{
    *now = util_now_ms();
    if (s->stamp_ok && !sqlite3_get_autocommit(s->db) &&
        s->stamp_version == store_data_version(s->db)) {
        if (s->last_stamp > *now)
            *now = s->last_stamp;
        return 0;
    }
    int fresh;
    sqlite3_stmt *st = S_stmt(s, S_LAST_TIME, &fresh, err);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > *now)
        *now = sqlite3_column_int64(st, 0);
    S_done(st, fresh);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return S_db_err(s, err, "append: reading the last time");
    return 0;
}

static int S_expected_ok(long long expected, long long current)
{
    switch (expected) {
    case STORE_ANY: return 1;
    case STORE_NO_STREAM: return current < 0;
    case STORE_STREAM_EXISTS: return current >= 0;
    default: return current == expected;
    }
}

static int S_conflict(const char *stream_id, long long expected,
                      long long current, folio_err *err)
{
    char want[48];
    if (expected == STORE_NO_STREAM)
        snprintf(want, sizeof want, "no stream");
    else if (expected == STORE_STREAM_EXISTS)
        snprintf(want, sizeof want, "an existing stream");
    else
        snprintf(want, sizeof want, "version %lld", expected);
    if (current < 0)
        err_set(err, "%s: expected %s but the stream does not exist",
                stream_id, want);
    else
        err_set(err, "%s: expected %s but the stream is at version %lld",
                stream_id, want, current);
    return STORE_CONFLICT;
}

static int S_insert(store *s, const char *stream_id, long long version,
                    const store_new_event *ev, long long now, long long *pos,
                    folio_err *err)
{
    char uuid[37];
    const char *id = ev->event_id;
    if (!id) {
        store_uuid_v7(uuid);
        id = uuid;
    }
    int fresh;
    sqlite3_stmt *st = S_stmt(s, S_INSERT, &fresh, err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, version);
    sqlite3_bind_text(st, 4, ev->type, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, ev->schema_version);
    sqlite3_bind_text(st, 6, ev->data, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, ev->metadata ? ev->metadata : "{}", -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, now);
    int rc = sqlite3_step(st);
    S_done(st, fresh);
    if (rc == SQLITE_DONE) {
        *pos = sqlite3_last_insert_rowid(s->db);
        return 0;
    }
    int code = sqlite3_extended_errcode(s->db);
    /* Someone else took the version between our check and the insert: only
     * possible when the caller's transaction did not hold the write lock. */
    if (code == SQLITE_CONSTRAINT_UNIQUE &&
        strstr(sqlite3_errmsg(s->db), "stream_version"))
        return err_set(err, "%s: version %lld was taken by another writer",
                       stream_id, version), STORE_CONFLICT;
    if (code == SQLITE_CONSTRAINT_CHECK)
        return err_set(err, "append to %s: %s: data and metadata must be JSON",
                       stream_id, ev->type);
    return S_db_err(s, err, "append");
}

/* The body of an append, inside a transaction or savepoint the caller
 * undoes when this does not return STORE_OK. */
static int S_append_tx(store *s, const char *stream_id, long long expected,
                       const store_new_event *evs, size_t n, long long *pos,
                       folio_err *err)
{
    size_t nnew;
    if (S_find_stored(s, stream_id, evs, n, pos, &nnew, err) != 0)
        return STORE_ERROR;
    if (nnew == 0)
        return STORE_OK; /* a retry of an append that went through */
    long long current = -1;
    if (S_stream_version(s, stream_id, &current, err) != 0)
        return STORE_ERROR;
    if (!S_expected_ok(expected, current))
        return S_conflict(stream_id, expected, current, err);
    long long now;
    if (S_stamp(s, &now, err) != 0)
        return STORE_ERROR;
    for (size_t i = 0; i < n; i++) {
        if (pos[i])
            continue;
        int rc = S_insert(s, stream_id, ++current, &evs[i], now, &pos[i], err);
        if (rc != 0)
            return rc == STORE_CONFLICT ? STORE_CONFLICT : STORE_ERROR;
    }
    s->last_stamp = now;
    s->stamp_ok = !sqlite3_get_autocommit(s->db);
    s->stamp_version = store_data_version(s->db);
    return STORE_OK;
}

int store_append(store *s, const char *stream_id, long long expected,
                 const store_new_event *evs, size_t n, long long *positions,
                 folio_err *err)
{
    if (S_check_args(stream_id, expected, evs, n, err) != 0)
        return STORE_ERROR;
    if (n == 0)
        return STORE_OK;
    long long one, *pos = positions;
    if (!pos) {
        pos = n == 1 ? &one : malloc(n * sizeof *pos);
        if (!pos)
            return err_set(err, "out of memory"), STORE_ERROR;
    }
    /* Inside the caller's transaction (or savepoint) the append is a
     * savepoint of its own: a conflict undoes just this append. One event
     * needs none: its INSERT is the append's only write, and a statement
     * that fails leaves nothing behind. */
    int nested = store_in_tx(s);
    int rc;
    if (nested && n == 1) {
        rc = S_append_tx(s, stream_id, expected, evs, n, pos, err);
        goto out;
    }
    if (S_exec(s, nested ? S_SAVEPOINT : S_BEGIN, "append: starting", err)) {
        rc = STORE_ERROR;
        goto out;
    }
    rc = S_append_tx(s, stream_id, expected, evs, n, pos, err);
    if (rc == STORE_OK) {
        if (S_exec(s, nested ? S_RELEASE : S_COMMIT, "append: committing",
                   err) == 0)
            goto out;
        rc = STORE_ERROR;
    }
    if (nested) {
        if (S_exec(s, S_ROLLBACK_TO, "append: undoing", NULL) != 0 ||
            S_exec(s, S_RELEASE, "append: undoing", NULL) != 0)
            rc = STORE_ERROR;
    } else {
        store_rollback(s);
    }
out:
    if (pos != positions && pos != &one)
        free(pos);
    return rc;
}

/* ---- reading ---------------------------------------------------------- */
static int S_visit(store *s, sqlite3_stmt *st, store_event_fn fn, void *ud,
                   long long *last, folio_err *err)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_event ev;
        ev.position = sqlite3_column_int64(st, 0);
        const char *id = (const char *)sqlite3_column_text(st, 1);
        size_t idlen = id ? (size_t)sqlite3_column_bytes(st, 1) : 0;
        if (idlen >= sizeof ev.event_id)
            idlen = sizeof ev.event_id - 1;
        memcpy(ev.event_id, id ? id : "", idlen);
        ev.event_id[idlen] = '\0';
        ev.stream_id = (const char *)sqlite3_column_text(st, 2);
        ev.stream_version = sqlite3_column_int64(st, 3);
        ev.type = (const char *)sqlite3_column_text(st, 4);
        ev.schema_version = sqlite3_column_int(st, 5);
        ev.data = (const char *)sqlite3_column_text(st, 6);
        ev.metadata = (const char *)sqlite3_column_text(st, 7);
        ev.recorded_at = sqlite3_column_int64(st, 8);
        if (!ev.stream_id || !ev.type || !ev.data || !ev.metadata)
            return err_set(err, "reading event %lld: out of memory",
                           ev.position);
        if (last)
            *last = ev.position;
        int r = fn(ud, &ev);
        if (r != 0)
            return r;
    }
    if (rc != SQLITE_DONE)
        return S_db_err(s, err, "reading events");
    return 0;
}

int store_read_stream(store *s, const char *stream_id, store_event_fn fn,
                      void *ud, folio_err *err)
{
    int fresh;
    sqlite3_stmt *st = S_stmt(s, S_READ_STREAM, &fresh, err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, stream_id, -1, SQLITE_STATIC);
    int rc = S_visit(s, st, fn, ud, NULL, err);
    S_done(st, fresh);
    return rc;
}

int store_read_all(store *s, long long after, size_t limit, store_event_fn fn,
                   void *ud, long long *last, folio_err *err)
{
    if (last)
        *last = after;
    int fresh;
    sqlite3_stmt *st = S_stmt(s, S_READ_ALL, &fresh, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, after);
    /* A negative LIMIT is no limit in SQLite. */
    sqlite3_bind_int64(st, 2, limit ? (long long)limit : -1);
    int rc = S_visit(s, st, fn, ud, last, err);
    S_done(st, fresh);
    return rc;
}

int store_read_mentioning(store *s, const char *stream_id, const char *needle,
                          const char *needle2, store_event_fn fn, void *ud,
                          folio_err *err)
{
    sqlite3_stmt *st = NULL;
    /* rare (a member's data request): prepared when asked, the log
     * scanned inside SQLite rather than row by row in C */
    if (sqlite3_prepare_v2(s->db, "SELECT position, event_id, stream_id,"
                           " stream_version, type, schema_version, data,"
                           " metadata, recorded_at FROM events WHERE"
                           " stream_id = ?1 OR instr(data, ?2) > 0 OR"
                           " instr(data, ?3) > 0 ORDER BY position", -1, &st,
                           NULL) != SQLITE_OK)
        return S_db_err(s, err, "preparing a statement");
    sqlite3_bind_text(st, 1, stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, needle, -1, SQLITE_STATIC);
    if (needle2 && *needle2)
        sqlite3_bind_text(st, 3, needle2, -1, SQLITE_STATIC);
    int rc = S_visit(s, st, fn, ud, NULL, err);
    sqlite3_finalize(st);
    return rc;
}

int store_read_data(store *s, long long after, long long upto,
                    store_event_fn fn, void *ud, folio_err *err)
{
    int fresh;
    sqlite3_stmt *st = S_stmt(s, S_READ_DATA, &fresh, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, upto);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_event ev = {.position = sqlite3_column_int64(st, 0)};
        ev.type = (const char *)sqlite3_column_text(st, 1);
        ev.schema_version = sqlite3_column_int(st, 2);
        ev.data = (const char *)sqlite3_column_text(st, 3);
        ev.recorded_at = sqlite3_column_int64(st, 4);
        if (!ev.type || !ev.data) {
            rc = SQLITE_NOMEM;
            break;
        }
        int r = fn(ud, &ev);
        if (r != 0) {
            S_done(st, fresh);
            return r;
        }
    }
    S_done(st, fresh);
    if (rc != SQLITE_DONE)
        return S_db_err(s, err, "reading events");
    return 0;
}

/* The recorded_at of the event at position pos (or the nearest before). */
static int S_time_at(store *s, long long pos, long long *t, folio_err *err)
{
    int fresh;
    sqlite3_stmt *st = S_stmt(s, S_TIME_AT, &fresh, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, pos);
    int rc = sqlite3_step(st);
    *t = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    S_done(st, fresh);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return S_db_err(s, err, "reading events");
    return 0;
}

int store_position_at(store *s, long long until_ms, long long *pos,
                      folio_err *err)
{
    /* recorded_at never decreases along the log: the last position
     * recorded by until_ms by bisection, about 20 lookups for a million */
    long long lo = 0, hi = store_head(s);
    while (lo < hi) {
        long long mid = lo + (hi - lo + 1) / 2, t;
        if (S_time_at(s, mid, &t, err) != 0)
            return -1;
        if (t <= until_ms)
            lo = mid;
        else
            hi = mid - 1;
    }
    *pos = lo;
    return 0;
}

int store_read_until(store *s, long long until_ms, store_event_fn fn, void *ud,
                     folio_err *err)
{
    long long lo;
    if (store_position_at(s, until_ms, &lo, err) != 0)
        return -1;
    if (lo == 0)
        return 0;
    int fresh;
    sqlite3_stmt *st = S_stmt(s, S_READ_UNTIL, &fresh, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, lo);
    int rc = S_visit(s, st, fn, ud, NULL, err);
    S_done(st, fresh);
    return rc;
}

long long store_head(store *s)
{
    int fresh;
    sqlite3_stmt *st = S_stmt(s, S_HEAD, &fresh, NULL);
    if (!st)
        return 0;
    long long head = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        head = sqlite3_column_int64(st, 0);
    S_done(st, fresh);
    return head;
}

long long store_last_recorded_at(store *s) { return s->last_stamp; }

/* ---- checkpoints ------------------------------------------------------ */
static int S_wal_hook(void *ud, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    if (!strcmp(name, "main"))
        ((store *)ud)->wal_frames = frames;
    return SQLITE_OK;
}

int store_set_autocheckpoint(store *s, int on, folio_err *err)
{
    s->wal_frames = 0;
    /* 1000 pages is SQLite's default; the automatic checkpoint is itself a
     * WAL hook, which ours replaces */
    if (on)
        return sqlite3_wal_autocheckpoint(s->db, 1000) == SQLITE_OK
                   ? 0 : S_db_err(s, err, "setting the WAL checkpoint");
    sqlite3_wal_hook(s->db, S_wal_hook, s);
    return 0;
}

int store_wal_frames(store *s) { return s->wal_frames; }

int store_checkpoint(store *s, int truncate, int *wal_frames, folio_err *err)
{
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(s->db, "main",
                                       truncate ? SQLITE_CHECKPOINT_TRUNCATE
                                                : SQLITE_CHECKPOINT_PASSIVE,
                                       &log, &done);
    if (wal_frames)
        *wal_frames = log;
    if (rc == SQLITE_BUSY && !truncate)
        return 0; /* PASSIVE does what it can: nothing to report */
    if (rc != SQLITE_OK)
        return S_db_err(s, err, "checkpointing the WAL");
    return 0;
}

/* ---- backup and check ------------------------------------------------- */

/* The copy holds wrapped keys and sealed personal data: owner-only from
 * the first byte, written beside its final name and renamed into place. */
int store_backup(store *s, const char *path, folio_err *err)
{
    if (store_in_tx(s))
        return err_set(err, "backup: commit or roll back the open "
                       "transaction first");
    char tmp[4096];
    if (util_path(tmp, sizeof tmp, err, "%s.tmp-%ld", path, (long)getpid()))
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, "%s: %s", tmp, strerror(errno));
    close(fd);
    sqlite3 *dst = NULL;
    int rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", s->db, "main");
        if (!b) {
            rc = sqlite3_errcode(dst);
        } else {
            /* One step: the whole copy is read from one snapshot, which in
             * WAL mode does not stop other connections writing. */
            rc = sqlite3_backup_step(b, -1);
            int frc = sqlite3_backup_finish(b);
            rc = rc == SQLITE_DONE ? frc : rc;
        }
    }
    if (rc != SQLITE_OK)
        err_set(err, "backup to %s: %s", path,
                dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
    /* The copy is in WAL mode like its source: closing it folds the WAL
     * back in so the backup is one file. */
    if (sqlite3_close(dst) != SQLITE_OK && rc == SQLITE_OK) {
        err_set(err, "backup to %s: could not close the copy", path);
        rc = SQLITE_ERROR;
    }
    if (rc == SQLITE_OK) {
        fd = open(tmp, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0) {
            err_set(err, "%s: %s", tmp, strerror(errno));
            rc = SQLITE_ERROR;
        }
        if (fd >= 0)
            close(fd);
    }
    if (rc == SQLITE_OK && rename(tmp, path) != 0) {
        err_set(err, "%s: %s", path, strerror(errno));
        rc = SQLITE_ERROR;
    }
    if (rc != SQLITE_OK) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int S_check_rows(store *s, const char *sql, buf *report, int *bad,
                        folio_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return S_db_err(s, err, "check");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (line && strcmp(line, "ok") == 0)
            continue;
        *bad = 1;
        if (buf_printf(report, "%s\n", line ? line : "?") != 0) {
            sqlite3_finalize(st);
            return err_set(err, "out of memory");
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return S_db_err(s, err, "check");
    return 0;
}

int store_check(store *s, buf *report, folio_err *err)
{
    int bad = 0;
    static const char *const checks[] = {
        "PRAGMA integrity_check",
        "SELECT 'trigger ' || t.name || ' is missing: the event log is not "
        "protected against ' || t.what"
        " FROM (SELECT 'events_no_update' AS name, 'UPDATE' AS what"
        "       UNION ALL SELECT 'events_no_delete', 'DELETE') AS t"
        " WHERE NOT EXISTS (SELECT 1 FROM sqlite_master m WHERE"
        "  m.type = 'trigger' AND m.name = t.name AND m.tbl_name = 'events'"
        "  AND m.sql LIKE '%RAISE(ABORT, ''the event log is append-only'')%')",
        "SELECT 'positions have gaps: ' || count(*) || ' events up to "
        "position ' || max(position) FROM events"
        " HAVING count(*) <> coalesce(max(position), 0)",
        "SELECT 'stream ' || stream_id || ' has gaps in its versions'"
        " FROM events GROUP BY stream_id"
        " HAVING count(*) <> max(stream_version) + 1 OR min(stream_version) <> 0",
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        if (S_check_rows(s, checks[i], report, &bad, err) != 0)
            return -1;
    return bad;
}

static void S_uuid_text(unsigned char b[16], char out[37])
{
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 9562 variant */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

void store_uuid(char out[37])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    S_uuid_text(b, out);
}

/* Event ids the store makes itself are UUIDv7: the time in front keeps
 * the event_id index appending at its end instead of touching a random
 * page per insert, which is what made appends to a big log slow. */
void store_uuid_v7(char out[37])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    unsigned long long ms = (unsigned long long)util_now_ms();
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x70); /* version 7 */
    S_uuid_text(b, out);
}

/* ---- restoring a backup ------------------------------------------------ */

#define S_SQLITE_MAGIC "SQLite format 3"  /* and its NUL: 16 bytes */

static int S_sqlite_header(const char *path, const char *name, folio_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, "%s: %s", name, strerror(errno));
    char head[100];
    ssize_t n;
    while ((n = read(fd, head, sizeof head)) < 0 && errno == EINTR)
        ;
    int e = errno;
    close(fd);
    if (n < 0)
        return err_set(err, "%s: %s", name, strerror(e));
    if (n < (ssize_t)sizeof head || memcmp(head, S_SQLITE_MAGIC, 16) != 0)
        return err_set(err, "%s is not a folio backup: not an SQLite database", name);
    return 0;
}

/* path as an SQLite URI opening it as one immutable file: no locks taken,
 * no -wal or -shm looked for or made beside it. */
static char *S_immutable_uri(const char *path)
{
    buf b = BUF_INIT;
    int rc = buf_puts(&b, "file:");
    if (rc == 0)
        rc = buf_add_pct(&b, path, "/");
    if (rc == 0)
        rc = buf_puts(&b, "?immutable=1");
    if (rc != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

static int S_one_int(sqlite3 *db, const char *sql, long long *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* The checks on an open file; name is what messages call it. */
static int S_verify_db(sqlite3 *db, const char *name, store_file_info *info,
                       folio_err *err)
{
    long long v = 0, cols = 0, n = 0;
    if (S_one_int(db, "PRAGMA user_version", &v) != SQLITE_OK)
        return err_set(err, "%s is not a folio backup: %s", name, sqlite3_errmsg(db));
    if (S_one_int(db, "SELECT count(*) FROM pragma_table_info('events') WHERE name IN"
                  " ('position','event_id','stream_id','stream_version','type',"
                  "'schema_version','data','metadata','recorded_at')", &cols) != SQLITE_OK)
        return err_set(err, "%s is not a folio backup: %s", name, sqlite3_errmsg(db));
    if (v < 1 || cols != 9)
        return err_set(err, "%s is not a folio backup: an SQLite database without "
                       "folio's event log", name);
    if (v > S_SCHEMA_VERSION)
        return err_set(err, "%s has schema version %lld but this folio knows only "
                       "up to %d: restore it with the newer folio that wrote it",
                       name, v, S_SCHEMA_VERSION);
    store tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.db = db;
    tmp.readonly = 1;
    buf report = BUF_INIT;
    int bad = store_check(&tmp, &report, err);
    if (bad == 1)
        err_set(err, "%s fails its checks (a damaged copy?):\n%s", name,
                report.ptr ? report.ptr : "");
    buf_free(&report);
    if (bad != 0)
        return bad < 0 ? err_prefix(err, "%s", name) : -1;
    if (S_one_int(db, "SELECT count(*) FROM events", &n) != SQLITE_OK)
        return err_set(err, "%s: %s", name, sqlite3_errmsg(db));
    if (info) {
        info->schema_version = (int)v;
        info->events = n;
    }
    return 0;
}

static int S_verify_as(const char *path, const char *name, store_file_info *info,
                       folio_err *err)
{
    if (S_sqlite_header(path, name, err) != 0)
        return -1;
    char *uri = S_immutable_uri(path);
    if (!uri)
        return err_set(err, "out of memory");
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    free(uri);
    if (rc != SQLITE_OK)
        err_set(err, "%s: %s", name, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    else
        rc = S_verify_db(db, name, info, err) == 0 ? SQLITE_OK : SQLITE_ERROR;
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

int store_verify_file(const char *path, store_file_info *info, folio_err *err)
{
    return S_verify_as(path, path, info, err);
}

/* Every SQLite connection to a WAL database holds a read lock on the
 * "dead man switch" byte of the -shm file for as long as it is open. The
 * descriptor opened here to ask is closed again, which drops every lock
 * this process holds on the file: hence no connection of our own may be
 * open (store.h). */
#define S_SHM_DMS_OFFSET 128

int store_in_use(const char *db_path, folio_err *err)
{
    char shm[4096];
    if (util_path(shm, sizeof shm, err, "%s-shm", db_path) != 0)
        return -1;
    int fd = open(shm, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : err_set(err, "%s: %s", shm, strerror(errno));
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = S_SHM_DMS_OFFSET;
    fl.l_len = 1;
    int rc = fcntl(fd, F_GETLK, &fl);
    int e = errno;
    close(fd);
    if (rc != 0)
        return err_set(err, "%s: %s", shm, strerror(e));
    return fl.l_type != F_UNLCK;
}

static int S_fsync_path(const char *path, int dir, folio_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return err_set(err, "%s: %s", path, strerror(e));
    }
    close(fd);
    return 0;
}

/* Copies from to a new file to (0600, never an existing one), on disk. */
static int S_copy_file(const char *from, const char *to, folio_err *err)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return err_set(err, "%s: %s", from, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        int e = errno;
        close(in);
        return err_set(err, "%s: %s", to, strerror(e));
    }
    static char chunk[1 << 16];  /* one restore at a time: a CLI */
    ssize_t n;
    int rc = 0;
    while ((n = read(in, chunk, sizeof chunk)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || util_write_all(out, chunk, (size_t)n) != 0) {
            rc = err_set(err, "copying %s to %s: %s", from, to, strerror(errno));
            break;
        }
    }
    if (rc == 0 && fsync(out) != 0)
        rc = err_set(err, "%s: %s", to, strerror(errno));
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = err_set(err, "%s: %s", to, strerror(errno));
    if (rc != 0)
        unlink(to);
    return rc;
}

/* The current database as kept: a consistent copy through the backup API,
 * or, when it cannot be opened (damage is a reason to restore), the files
 * as they are. */
static int S_keep_current(const char *db_path, char *kept, size_t cap,
                          folio_err *err)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || !strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm))
        return err_set(err, "cannot read the clock");
    /* two restores within a second keep two copies, never one over the
     * other */
    if (util_path(kept, cap, err, "%s.before-restore-%s", db_path, stamp) != 0)
        return -1;
    for (int n = 2; access(kept, F_OK) == 0; n++) {
        if (n > 99)
            return err_set(err, "%s exists already: wait a second and try again", kept);
        if (util_path(kept, cap, err, "%s.before-restore-%s-%d", db_path, stamp, n) != 0)
            return -1;
    }
    store *s = NULL;
    folio_err e2;
    if (store_open(db_path, NULL, &s, &e2) == 0 && store_backup(s, kept, &e2) == 0) {
        store_close(s);
        return 0;
    }
    store_close(s);
    char side[4096], kside[4096];
    if (S_copy_file(db_path, kept, err) != 0)
        return err_prefix(err, "keeping the current database (%s)", e2.msg);
    if (util_path(side, sizeof side, err, "%s-wal", db_path) != 0 ||
        util_path(kside, sizeof kside, err, "%s-wal", kept) != 0)
        return -1;
    if (util_is_file(side) && S_copy_file(side, kside, err) != 0)
        return -1;
    return 0;
}

/* Run as root (sudo folio restore), the files made here would be root's,
 * and folio-fcgi, running as the site's user, could not open the store:
 * they get the owner of the directory that holds it. */
static int S_own_like_dir(const char *path, const char *dir, folio_err *err)
{
    struct stat st;
    if (geteuid() != 0)
        return 0;
    if (stat(dir, &st) != 0)
        return err_set(err, "%s: %s", dir, strerror(errno));
    if (chown(path, st.st_uid, st.st_gid) != 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    return 0;
}

/* A -wal left beside the new file would be replayed into it. */
static int S_drop_sidecars(const char *db_path, folio_err *err)
{
    static const char *const sfx[] = {"-wal", "-shm"};
    char side[4096];
    for (size_t i = 0; i < 2; i++) {
        if (util_path(side, sizeof side, err, "%s%s", db_path, sfx[i]) != 0)
            return -1;
        if (unlink(side) != 0 && errno != ENOENT)
            return err_set(err, "%s: %s", side, strerror(errno));
    }
    return 0;
}

int store_restore(const char *db_path, const char *from, int force,
                  char *kept, size_t keptcap, store_file_info *info,
                  folio_err *err)
{
    if (keptcap)
        kept[0] = '\0';
    if (S_sqlite_header(from, from, err) != 0)
        return -1;
    int busy = store_in_use(db_path, err);
    if (busy < 0)
        return -1;
    if (busy && !force)
        return err_set(err, "%s is open in another process (folio-fcgi?): stop "
                       "it first (systemctl stop folio-fcgi), or pass --force",
                       db_path);
    char tmp[4096], dir[4096];
    if (util_path(tmp, sizeof tmp, err, "%s.restore-%ld", db_path, (long)getpid()) != 0 ||
        util_path(dir, sizeof dir, err, "%s", db_path) != 0)
        return -1;
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    /* The copy is what gets verified: the file read is the file installed. */
    if (S_copy_file(from, tmp, err) != 0)
        return -1;
    if (S_verify_as(tmp, from, info, err) != 0)
        goto fail;
    if (S_own_like_dir(tmp, dir, err) != 0)
        goto fail;
    if (util_is_file(db_path) && (S_keep_current(db_path, kept, keptcap, err) != 0 ||
                                  S_own_like_dir(kept, dir, err) != 0))
        goto fail;
    if (S_drop_sidecars(db_path, err) != 0)
        goto fail;
    if (rename(tmp, db_path) != 0) {
        err_set(err, "%s: %s", db_path, strerror(errno));
        goto fail;
    }
    return S_fsync_path(dir, 1, err);
fail:
    unlink(tmp);
    return -1;
}

/* ---- reading backwards, for the owner's log page ----------------------- */

int store_read_back(store *s, long long before, size_t limit, const char *stream_id,
                    const char *type, store_event_fn fn, void *ud, folio_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT position, event_id, stream_id, stream_version,"
                           " type, schema_version, data, metadata, recorded_at FROM events"
                           " WHERE position < ?1 AND (?2 IS NULL OR stream_id = ?2) AND"
                           " (?3 IS NULL OR type = ?3) ORDER BY position DESC LIMIT ?4",
                           -1, &st, NULL) != SQLITE_OK)
        return S_db_err(s, err, "reading events");
    sqlite3_bind_int64(st, 1, before > 0 ? before : (long long)(~0ULL >> 1));
    if (stream_id)
        sqlite3_bind_text(st, 2, stream_id, -1, SQLITE_STATIC);
    if (type)
        sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, limit ? (long long)limit : -1);
    int rc = S_visit(s, st, fn, ud, NULL, err);
    sqlite3_finalize(st);
    return rc;
}
