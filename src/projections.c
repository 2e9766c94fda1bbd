/* projections — read models built from the event log (see projections.h). */
/* SQLite's session extension (in the library, declared when asked for):
 * folio check counts the rows a replay changes through it. */
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include "projections.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "events.h"
#include "jarena.h"

/* ---- definitions ------------------------------------------------------ */

/* DDL and DML are templates: %1$s is the schema ("main", "temp"), %2$s a
 * table suffix ("" or "__chk"), so the live tables, a check's scratch
 * tables and an as-of copy share every statement.
 *
 * Rows are keyed by the position of the event that made them (the rowid),
 * so a rebuild appends in order instead of inserting at random (but for
 * members_private, see below). The one secondary index, on contact ids,
 * exists while a rebuild fills its table: the ids are time-ordered
 * (UUIDv7), so it grows at its end as the rows come. */
typedef struct S_def {
    const char *name;
    unsigned bit;
    int version; /* bump when the tables or handlers change: rebuilt at open */
    const char *tables[3];
    const char *ddl[3];
    const char *idx[3];
    /* a replay that keeps the tables (S_keep_*): the owner's decisions a
     * table holds put back as a fresh table has them, but where the notes
     * will set them again, and the tables of counts emptied */
    const char *reset[3];
    const char *fill[3]; /* tables of counts, once the notes are applied */
    const char *fin[3];  /* then what a fresh table still needs */
} S_def;

/* Ids and hashes are stored in their binary form when they have folio's
 * shapes (S_key_bin): BLOB columns. */
static const S_def S_defs[] = {
    /* members_private is keyed by subject (one address, one member: the
     * backstop of the domain's check) and has no rowid: a rebuild sorts
     * its rows by subject in memory and appends them (S_memp_drain), which
     * is several times faster than a separate unique index over a table
     * in position order, and a third smaller. The member's user id is in
     * members, found by position. */
    /* name_mac: vault_name_mac of the sealed name the row's display_name
     * was opened from, so a replay that keeps the table compares names
     * without opening them (S_C_NAME) */
    {"members", PROJ_MEMBERS, 9, {"members", "members_private", NULL},
     {"CREATE TABLE %1$s.members%2$s (position INTEGER PRIMARY KEY,"
      " user_id BLOB NOT NULL, display_name TEXT NOT NULL,"
      " joined_at INTEGER NOT NULL, hidden INTEGER NOT NULL DEFAULT 0,"
      " role TEXT NOT NULL DEFAULT 'member', name_mac BLOB NOT NULL)",
      "CREATE TABLE %1$s.members_private%2$s (subject BLOB PRIMARY KEY,"
      " position INTEGER NOT NULL, locale TEXT NOT NULL,"
      " has_password INTEGER NOT NULL) WITHOUT ROWID",
      NULL},
     /* user_id: the owner's decisions find their member, and counting
      * members (a new member's rank, the pages' count) reads this index,
      * a few pages, not the names; hidden: only the hidden members, so
      * the members shown are counted as all but those, and a rebuild
      * (nobody hidden until the owner's decisions at its end) writes no
      * entry there for each of a million members; role: likewise the
      * owners, so a replay puts roles right without reading every row */
     {"CREATE INDEX %1$s.members%2$s_hidden ON members%2$s (hidden)"
      " WHERE hidden <> 0; CREATE INDEX %1$s.members%2$s_role ON"
      " members%2$s (role) WHERE role <> 'member'",
      "CREATE INDEX %1$s.members%2$s_user ON members%2$s (user_id)", NULL},
     {"UPDATE %1$s.members%2$s SET hidden = 0 WHERE hidden <> 0 AND user_id"
      " NOT IN (SELECT id FROM temp.proj_state WHERE kind = 1)",
      "UPDATE %1$s.members%2$s SET role = 'member' WHERE role <> 'member'"
      " AND user_id NOT IN (SELECT id FROM temp.proj_state WHERE kind = 2)",
      NULL},
     {NULL, NULL, NULL},
     {NULL, NULL, NULL}},
    /* No dedupe hash here: the domain finds a duplicate request through
     * the log's own stream index (its stream is named after the hash). */
    /* The owner's inbox pages (admin) walk one status newest first
     * (status_position) and show how many requests each status holds:
     * counting 100,000 rows took 50 to 150 ms a page, so inbox_counts
     * keeps the numbers (a row per status with any), moved by triggers
     * with every row the handlers insert, update or delete; a rebuild
     * counts its rows once they are all in (the notes applied) and makes
     * the triggers then, instead of a trigger's statement per row. */
    /* row_mac: vault_row_mac of the event's data as stored and the row's
     * values (S_inb_mac), so a replay that keeps the table checks a row
     * without parsing its event (S_raw_same) */
    {"inbox", PROJ_INBOX, 8, {"inbox", "inbox_counts", NULL},
     {"CREATE TABLE %1$s.inbox%2$s (position INTEGER PRIMARY KEY,"
      " contact_id BLOB NOT NULL, subject BLOB NOT NULL,"
      " received_at INTEGER NOT NULL,"
      " status TEXT NOT NULL CHECK (status IN ('new', 'handled',"
      " 'archived', 'spam')),"
      " page TEXT, row_mac BLOB NOT NULL)",
      "CREATE TABLE %1$s.inbox_counts%2$s (status TEXT PRIMARY KEY,"
      " n INTEGER NOT NULL) WITHOUT ROWID",
      NULL},
     {"CREATE UNIQUE INDEX %1$s.inbox%2$s_contact ON inbox%2$s (contact_id)",
      "CREATE INDEX %1$s.inbox%2$s_status ON inbox%2$s (status, position)",
      NULL},
     {"UPDATE %1$s.inbox%2$s SET status = 'new' WHERE status IN ('handled',"
      " 'archived', 'spam') AND contact_id NOT IN (SELECT id FROM"
      " temp.proj_state WHERE kind = 0)",
      NULL, NULL},
     {"DELETE FROM %1$s.inbox_counts%2$s; INSERT INTO"
      " %1$s.inbox_counts%2$s (status, n) SELECT status, count(*) FROM"
      " %1$s.inbox%2$s GROUP BY status",
      NULL, NULL},
     {"CREATE TRIGGER %1$s.inbox%2$s_count_ins AFTER INSERT ON inbox%2$s BEGIN"
      " INSERT INTO inbox_counts%2$s VALUES (NEW.status, 1)"
      " ON CONFLICT (status) DO UPDATE SET n = n + 1; END;"
      "CREATE TRIGGER %1$s.inbox%2$s_count_del AFTER DELETE ON inbox%2$s BEGIN"
      " UPDATE inbox_counts%2$s SET n = n - 1 WHERE status = OLD.status;"
      " DELETE FROM inbox_counts%2$s WHERE status = OLD.status AND n = 0; END;"
      "CREATE TRIGGER %1$s.inbox%2$s_count_upd AFTER UPDATE OF status ON inbox%2$s"
      " WHEN NEW.status <> OLD.status BEGIN"
      " UPDATE inbox_counts%2$s SET n = n - 1 WHERE status = OLD.status;"
      " DELETE FROM inbox_counts%2$s WHERE status = OLD.status AND n = 0;"
      " INSERT INTO inbox_counts%2$s VALUES (NEW.status, 1)"
      " ON CONFLICT (status) DO UPDATE SET n = n + 1; END", NULL, NULL}},
    {"stats", PROJ_STATS, 1, {"stats_types", "stats_days", NULL},
     {"CREATE TABLE %1$s.stats_types%2$s (type TEXT PRIMARY KEY,"
      " count INTEGER NOT NULL)",
      "CREATE TABLE %1$s.stats_days%2$s (day TEXT NOT NULL,"
      " type TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (day, type))",
      NULL},
     {NULL, NULL, NULL},
     {"DELETE FROM %1$s.stats_types%2$s; DELETE FROM %1$s.stats_days%2$s",
      NULL, NULL},
     {NULL, NULL, NULL},
     {NULL, NULL, NULL}},
};
#define S_NDEFS (sizeof S_defs / sizeof S_defs[0])

static const char *const S_names[] = {"members", "inbox", "stats", NULL};

/* Erasures and "handled" marks are collected while events stream by (in
 * temp tables of the connection, inside the same transaction) and applied
 * once at the end of the batch. An erasure removes the person's rows made
 * before it (a person erased may come back later, under a new key: their
 * rows after the erasure stay), and of the owner's decisions (a request's
 * status, a member hidden, a role: proj_state) only the latest by position
 * counts, so applying these at the end gives the same tables as applying
 * them in order. proj_forgotten keeps each subject's latest erasure. */
static const char S_pending_ddl[] =
    "CREATE TEMP TABLE IF NOT EXISTS proj_forgotten (subject BLOB PRIMARY"
    " KEY, position INTEGER NOT NULL); CREATE TEMP TABLE IF NOT EXISTS"
    " proj_state (kind INTEGER NOT NULL, id BLOB NOT NULL, position INTEGER"
    " NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, id))";
/* proj_state: the owner's decisions, the latest by position of each kind
 * and id, so applying them at the end of a batch equals applying them in
 * order. */
enum { S_ST_STATUS, S_ST_HIDDEN, S_ST_ROLE, S_ST_NAME, S_ST_NAME_MAC };

enum {
    W_MEM_INS, W_MEMP_INS, W_INB_INS, W_MEM_ROWS, W_MEMP_ROWS, W_INB_ROWS,
    W_FORGOT, W_HANDLED,
    W_MEM_DEL, W_MEMP_DEL, W_INB_DEL, W_INB_DEL_AT, W_INB_DONE, W_MEM_STATE,
    W_TYPE_ADD, W_DAY_ADD,
    W_MEM_PUT, W_INB_PUT, W_MEMP_PUT, W_MEM_PUT1, W_INB_PUT1,
    W_MEM_SCAN, W_INB_SCAN, W_MEMP_SCAN,
    W_COUNT
};

static const char *const S_wsql[W_COUNT] = {
    [W_MEM_INS] =
        "INSERT INTO %1$s.members%2$s (position, user_id, display_name,"
        " joined_at, name_mac) VALUES (?1, ?2, ?3, ?4, ?5)",
    [W_MEMP_INS] =
        "INSERT INTO %1$s.members_private%2$s (subject, position, locale,"
        " has_password) VALUES (?1, ?2, ?3, ?4)",
    [W_INB_INS] =
        "INSERT INTO %1$s.inbox%2$s (position, contact_id, subject,"
        " received_at, status, page, row_mac) VALUES (?1, ?2, ?3, ?4, 'new',"
        " ?5, ?6)",
    /* a rebuild's rows: from memory, through folio_rows. A broken row
     * fails the whole rebuild, so no statement needs undoing by itself:
     * OR FAIL spares SQLite the statement journal, which keeps a copy of
     * every page a statement changes that was there before it, in memory
     * (temp_store): all of members_private for a run of rows that goes
     * between earlier runs (S_memp_drain). */
    [W_MEM_ROWS] =
        "INSERT OR FAIL INTO %1$s.members%2$s (position, user_id,"
        " display_name, joined_at, name_mac) SELECT c0, c1, c2, c3, c4 FROM"
        " folio_rows",
    [W_INB_ROWS] =
        "INSERT OR FAIL INTO %1$s.inbox%2$s (position, contact_id, subject,"
        " received_at, status, page, row_mac) SELECT c0, c1, c2, c3, 'new',"
        " c4, c5 FROM folio_rows",
    [W_MEMP_ROWS] =
        "INSERT OR FAIL INTO %1$s.members_private%2$s (subject, position,"
        " locale, has_password) SELECT c0, c1, c2, c3 FROM folio_rows",
    [W_FORGOT] = "INSERT INTO temp.proj_forgotten (subject, position)"
                 " VALUES (?1, ?2) ON CONFLICT (subject) DO UPDATE SET"
                 " position = max(position, excluded.position)",
    [W_HANDLED] = "INSERT INTO temp.proj_state (kind, id, position, value)"
                  " VALUES (?3, ?1, ?2, ?4) ON CONFLICT (kind, id) DO UPDATE"
                  " SET position = excluded.position, value = excluded.value"
                  " WHERE excluded.position > position",
    [W_MEM_DEL] =
        "DELETE FROM %1$s.members%2$s WHERE position IN (SELECT m.position"
        " FROM %1$s.members_private%2$s AS m JOIN temp.proj_forgotten AS f"
        " ON m.subject = f.subject WHERE m.position < f.position)",
    [W_MEMP_DEL] =
        "DELETE FROM %1$s.members_private%2$s WHERE subject IN (SELECT"
        " subject FROM temp.proj_forgotten) AND position < (SELECT"
        " f.position FROM temp.proj_forgotten AS f WHERE f.subject ="
        " members_private%2$s.subject)",
    [W_INB_DEL] =
        "DELETE FROM %1$s.inbox%2$s WHERE subject IN (SELECT subject FROM"
        " temp.proj_forgotten) AND position < (SELECT f.position FROM"
        " temp.proj_forgotten AS f WHERE f.subject = inbox%2$s.subject)",
    [W_INB_DEL_AT] = "DELETE FROM %1$s.inbox%2$s WHERE position = ?1 AND"
                     " subject = ?2",
    [W_INB_DONE] =
        "UPDATE %1$s.inbox%2$s SET status = (SELECT value FROM"
        " temp.proj_state WHERE kind = 0 AND id = inbox%2$s.contact_id)"
        " WHERE contact_id IN (SELECT id FROM temp.proj_state WHERE kind = 0)"
        " AND status IS NOT (SELECT value FROM temp.proj_state WHERE kind = 0"
        " AND id = inbox%2$s.contact_id)",
    /* these two write only the rows whose values change: a replay that
     * keeps the tables (S_keep_*) writes nothing where they are right */
    [W_MEM_STATE] =
        "UPDATE %1$s.members%2$s AS m SET hidden = coalesce(s.h, m.hidden),"
        " role = coalesce(s.r, m.role), display_name = coalesce(s.n,"
        " m.display_name), name_mac = coalesce(s.m, m.name_mac) FROM (SELECT"
        " id, max(CASE kind WHEN 1 THEN CAST(value AS INTEGER) END) AS h,"
        " max(CASE kind WHEN 2 THEN value END) AS r, max(CASE kind WHEN 3"
        " THEN value END) AS n, max(CASE kind WHEN 4 THEN value END) AS m"
        " FROM temp.proj_state WHERE kind IN (1, 2, 3, 4) GROUP BY id) AS s"
        " WHERE m.user_id = s.id AND (m.hidden IS NOT coalesce(s.h, m.hidden)"
        " OR m.role IS NOT coalesce(s.r, m.role) OR m.display_name IS NOT"
        " coalesce(s.n, m.display_name) OR m.name_mac IS NOT coalesce(s.m,"
        " m.name_mac))",
    [W_TYPE_ADD] =
        "INSERT INTO %1$s.stats_types%2$s (type, count) VALUES (?1, ?2)"
        " ON CONFLICT (type) DO UPDATE SET count = count + excluded.count",
    [W_DAY_ADD] =
        "INSERT INTO %1$s.stats_days%2$s (day, type, count) VALUES (?1, ?2,"
        " ?3) ON CONFLICT (day, type) DO UPDATE SET"
        " count = count + excluded.count",
    /* a replay that keeps the tables (S_keep_*): the rows that differ,
     * written over what the table holds at their keys, and the table's
     * rows beside the replay's, in key order */
    [W_MEM_PUT] =
        "INSERT OR REPLACE INTO %1$s.members%2$s (position, user_id,"
        " display_name, joined_at, name_mac) SELECT c0, c1, c2, c3, c4 FROM"
        " folio_rows",
    [W_INB_PUT] =
        "INSERT OR REPLACE INTO %1$s.inbox%2$s (position, contact_id,"
        " subject, received_at, status, page, row_mac) SELECT c0, c1, c2,"
        " c3, 'new', c4, c5 FROM folio_rows",
    [W_MEMP_PUT] =
        "INSERT OR REPLACE INTO %1$s.members_private%2$s (subject, position,"
        " locale, has_password) SELECT c0, c1, c2, c3 FROM folio_rows",
    [W_MEM_PUT1] =
        "INSERT OR REPLACE INTO %1$s.members%2$s (position, user_id,"
        " display_name, joined_at, name_mac) VALUES (?1, ?2, ?3, ?4, ?5)",
    [W_INB_PUT1] =
        "INSERT OR REPLACE INTO %1$s.inbox%2$s (position, contact_id,"
        " subject, received_at, status, page, row_mac) VALUES (?1, ?2, ?3,"
        " ?4, 'new', ?5, ?6)",
    [W_MEM_SCAN] = "SELECT position, user_id, display_name, joined_at,"
                   " name_mac FROM %1$s.members%2$s WHERE position >= ?1"
                   " ORDER BY position",
    [W_INB_SCAN] = "SELECT position, contact_id, subject, received_at, page,"
                   " row_mac FROM %1$s.inbox%2$s WHERE position >= ?1 ORDER"
                   " BY position",
    [W_MEMP_SCAN] = "SELECT subject, position, locale, has_password FROM"
                    " %1$s.members_private%2$s WHERE subject >= ?1 ORDER BY"
                    " subject",
};

/* ---- stored forms ------------------------------------------------------
 * Ids and hashes of folio's own shapes are stored in binary: a UUID as
 * its 16 bytes, a subject (a keyed hash: 64 lower-case hex digits) as
 * its 32. A rebuild is mostly writing, and these are most of the bytes.
 * Any other value (ids of events written by hand) stays text: each value
 * has one stored form, and a BLOB never equals a TEXT. */
#define S_KEY_MAX 32

/* A lower-case hex digit's value plus one; 0 for anything else. A table:
 * digits and letters come mixed at random, and branches on them miss. */
static const unsigned char S_hex1[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
    ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16};

/* n bytes from 2n hex digits at s: 0, or nonzero when one is not. */
static unsigned S_unhex(const char *s, size_t n, unsigned char *out)
{
    unsigned ok = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned hi = S_hex1[(unsigned char)s[2 * i]];
        unsigned lo = S_hex1[(unsigned char)s[2 * i + 1]];
        ok &= (hi != 0) & (lo != 0);
        out[i] = (unsigned char)((hi - 1) << 4 | ((lo - 1) & 15));
    }
    return !ok;
}

/* The binary form of s in out: its length, or 0 when s stays text. */
static size_t S_key_bin(const char *s, unsigned char out[S_KEY_MAX])
{
    size_t len = strlen(s);
    if (len == 64)
        return S_unhex(s, 32, out) ? 0 : 32;
    if (len != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' ||
        s[23] != '-')
        return 0;
    unsigned bad = S_unhex(s, 4, out) | S_unhex(s + 9, 2, out + 4) |
                   S_unhex(s + 14, 2, out + 6) | S_unhex(s + 19, 2, out + 8) |
                   S_unhex(s + 24, 6, out + 10);
    return bad ? 0 : 16;
}

/* Binds s (may be NULL) in its stored form; scratch keeps the binary form
 * until the statement has run. */
static void S_bind_key(sqlite3_stmt *st, int i, const char *s,
                       unsigned char scratch[S_KEY_MAX])
{
    size_t n = s ? S_key_bin(s, scratch) : 0;
    if (n)
        sqlite3_bind_blob(st, i, scratch, (int)n, SQLITE_STATIC);
    else if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Column col back as the text it was stored from (cap >= 65). */
static void S_key_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *b = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (sqlite3_column_type(st, col) != SQLITE_BLOB || !b ||
        (n != 16 && n != 32)) {
        const char *t = (const char *)sqlite3_column_text(st, col);
        snprintf(out, cap, "%s", t ? t : "");
        return;
    }
    size_t k = 0;
    for (int i = 0; i < n && k + 3 < cap; i++) {
        if (n == 16 && (i == 4 || i == 6 || i == 8 || i == 10))
            out[k++] = '-';
        out[k++] = hex[b[i] >> 4];
        out[k++] = hex[b[i] & 15];
    }
    out[k] = '\0';
}

/* ---- rows from memory ---------------------------------------------------
 * Binding a rebuild's rows to multi-row VALUES cost SQLite twice what the
 * inserts themselves take. folio_rows is a virtual table (eponymous: no
 * CREATE VIRTUAL TABLE) over rows this thread holds in memory (S_vsrc):
 * INSERT ... SELECT c0, c1, ... FROM folio_rows takes a whole batch in one
 * step, a function call per value. */
typedef struct S_rows S_rows;
struct S_rows {
    size_t n;
    /* sets ctx's result to column col of row (SQLITE_STATIC values) */
    void (*col)(const S_rows *r, size_t row, int col, sqlite3_context *ctx);
    const void *a, *b, *c; /* the caller's */
};

static _Thread_local const S_rows *S_vsrc;

typedef struct S_vcur {
    sqlite3_vtab_cursor base;
    const S_rows *src;
    size_t row;
} S_vcur;

static int S_vconnect(sqlite3 *db, void *aux, int argc,
                      const char *const *argv, sqlite3_vtab **out,
                      char **errmsg)
{
    (void)aux;
    (void)argc;
    (void)argv;
    (void)errmsg;
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(c0, c1, c2, c3, c4,"
                                      " c5)");
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_vtab *t = sqlite3_malloc(sizeof *t);
    if (!t)
        return SQLITE_NOMEM;
    memset(t, 0, sizeof *t);
    *out = t;
    return SQLITE_OK;
}

static int S_vdisconnect(sqlite3_vtab *t)
{
    sqlite3_free(t);
    return SQLITE_OK;
}

static int S_vbest(sqlite3_vtab *t, sqlite3_index_info *ii)
{
    (void)t;
    ii->estimatedCost = 1e6;
    return SQLITE_OK;
}

static int S_vopen(sqlite3_vtab *t, sqlite3_vtab_cursor **out)
{
    (void)t;
    S_vcur *c = sqlite3_malloc(sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    *out = &c->base;
    return SQLITE_OK;
}

static int S_vclose(sqlite3_vtab_cursor *c)
{
    sqlite3_free(c);
    return SQLITE_OK;
}

static int S_vfilter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr,
                     int argc, sqlite3_value **argv)
{
    (void)idx;
    (void)idxstr;
    (void)argc;
    (void)argv;
    S_vcur *c = (S_vcur *)cur;
    c->src = S_vsrc;
    c->row = 0;
    return SQLITE_OK;
}

static int S_vnext(sqlite3_vtab_cursor *cur)
{
    ((S_vcur *)cur)->row++;
    return SQLITE_OK;
}

static int S_veof(sqlite3_vtab_cursor *cur)
{
    const S_vcur *c = (const S_vcur *)cur;
    return !c->src || c->row >= c->src->n;
}

static int S_vcolumn(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i)
{
    const S_vcur *c = (const S_vcur *)cur;
    c->src->col(c->src, c->row, i, ctx);
    return SQLITE_OK;
}

static int S_vrowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    *rowid = (sqlite3_int64)((const S_vcur *)cur)->row;
    return SQLITE_OK;
}

static const sqlite3_module S_vmodule = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only */
    .xConnect = S_vconnect,
    .xBestIndex = S_vbest,
    .xDisconnect = S_vdisconnect,
    .xDestroy = S_vdisconnect,
    .xOpen = S_vopen,
    .xClose = S_vclose,
    .xFilter = S_vfilter,
    .xNext = S_vnext,
    .xEof = S_veof,
    .xColumn = S_vcolumn,
    .xRowid = S_vrowid,
};

/* Runs st (an INSERT ... FROM folio_rows) over rows. */
static int S_vrun(sqlite3 *db, sqlite3_stmt *st, const S_rows *rows,
                  folio_err *err)
{
    S_vsrc = rows;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    S_vsrc = NULL;
    if (rc != SQLITE_DONE)
        return err_set(err, "projections: write: %s", sqlite3_errmsg(db));
    return 0;
}

/* ---- stats accumulator ------------------------------------------------ */

/* Counts are summed in memory while events stream by and written once at
 * the end, so a replay of a million events costs a handful of upserts
 * instead of two per event. Incremental updates use the same path. */
typedef struct S_cell {
    long long day; /* days since the epoch; -1: empty */
    size_t type;   /* index into types */
    long long n;
} S_cell;

typedef struct S_acc {
    char **types;
    long long *type_n;
    size_t ntypes, captypes;
    size_t last_type;
    S_cell *cells;
    size_t ncells, cap; /* cap: a power of two */
} S_acc;

static void S_acc_free(S_acc *a)
{
    for (size_t i = 0; i < a->ntypes; i++)
        free(a->types[i]);
    free(a->types);
    free(a->type_n);
    free(a->cells);
    memset(a, 0, sizeof *a);
}

static int S_acc_type(S_acc *a, const char *type, size_t *idx)
{
    if (a->last_type < a->ntypes && !strcmp(a->types[a->last_type], type)) {
        *idx = a->last_type;
        return 0;
    }
    for (size_t i = 0; i < a->ntypes; i++)
        if (!strcmp(a->types[i], type)) {
            *idx = a->last_type = i;
            return 0;
        }
    if (a->ntypes == a->captypes) {
        size_t nc = a->captypes ? a->captypes * 2 : 8;
        char **t = realloc(a->types, nc * sizeof *t);
        if (!t)
            return -1;
        a->types = t;
        long long *n = realloc(a->type_n, nc * sizeof *n);
        if (!n)
            return -1;
        a->type_n = n;
        a->captypes = nc;
    }
    if (!(a->types[a->ntypes] = util_strdup(type)))
        return -1;
    a->type_n[a->ntypes] = 0;
    *idx = a->last_type = a->ntypes++;
    return 0;
}

static size_t S_hash(long long day, size_t type)
{
    uint64_t h = (uint64_t)day * 0x9E3779B97F4A7C15ull ^ (uint64_t)type;
    return (size_t)(h ^ (h >> 29));
}

static int S_acc_grow(S_acc *a)
{
    size_t nc = a->cap ? a->cap * 2 : 64;
    S_cell *cells = malloc(nc * sizeof *cells);
    if (!cells)
        return -1;
    for (size_t i = 0; i < nc; i++)
        cells[i].day = -1;
    for (size_t i = 0; i < a->cap; i++) {
        if (a->cells[i].day < 0)
            continue;
        size_t j = S_hash(a->cells[i].day, a->cells[i].type) & (nc - 1);
        while (cells[j].day >= 0)
            j = (j + 1) & (nc - 1);
        cells[j] = a->cells[i];
    }
    free(a->cells);
    a->cells = cells;
    a->cap = nc;
    return 0;
}

/* Counts n events of type index t on day. */
static int S_acc_cell(S_acc *a, size_t t, long long day, long long n)
{
    if (2 * (a->ncells + 1) > a->cap && S_acc_grow(a) < 0)
        return -1;
    size_t j = S_hash(day, t) & (a->cap - 1);
    while (a->cells[j].day >= 0) {
        if (a->cells[j].day == day && a->cells[j].type == t) {
            a->cells[j].n += n;
            return 0;
        }
        j = (j + 1) & (a->cap - 1);
    }
    a->cells[j] = (S_cell){day, t, n};
    a->ncells++;
    return 0;
}

static int S_acc_add(S_acc *a, const char *type, long long recorded_at)
{
    size_t t;
    if (S_acc_type(a, type, &t) < 0)
        return -1;
    a->type_n[t]++;
    long long day = recorded_at >= 0 ? recorded_at / 86400000 : 0;
    return S_acc_cell(a, t, day, 1);
}

/* Adds the counts of src to dst (a rebuild's threads count apart). */
static int S_acc_merge(S_acc *dst, const S_acc *src)
{
    for (size_t i = 0; i < src->ntypes; i++) {
        size_t t;
        if (S_acc_type(dst, src->types[i], &t) < 0)
            return -1;
        dst->type_n[t] += src->type_n[i];
    }
    for (size_t i = 0; i < src->cap; i++) {
        const S_cell *c = &src->cells[i];
        size_t t;
        if (c->day < 0)
            continue;
        if (S_acc_type(dst, src->types[c->type], &t) < 0 ||
            S_acc_cell(dst, t, c->day, c->n) < 0)
            return -1;
    }
    return 0;
}

static void S_day_text(long long day, char out[16])
{
    time_t t = (time_t)(day * 86400);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        strcpy(out, "1970-01-01");
        return;
    }
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* ---- the handle ------------------------------------------------------- */

/* A members_private row a rebuild holds back (S_memp_drain): the subject
 * in its stored form, in the row when binary (sorting moves it along, so
 * the rows are read in order at the end, not gathered from all over the
 * arena), else in the writer's marena like the locale (kept once for all
 * the rows that have it). 56 bytes: the more rows a run holds in its
 * memory, the fewer runs (S_hold_max). */
typedef struct S_mrow {
    uint64_t key; /* the subject's first 8 bytes, big-endian: sorts first */
    long long position;
    union {
        unsigned char sub[S_KEY_MAX]; /* bin: the subject */
        size_t at;                    /* else: its marena offset */
    } subject;
    uint32_t locale; /* marena offset, NUL-terminated */
    uint32_t subject_len : 30, bin : 1, has_password : 1;
} S_mrow;

static const void *S_mrow_subject(const S_mrow *m, const char *arena)
{
    return m->bin ? (const void *)m->subject.sub
                  : (const void *)(arena + m->subject.at);
}

typedef struct S_irow {
    uint64_t key;
    long long position;
} S_irow;

typedef struct S_writer {
    sqlite3 *db;
    char schema[8], suffix[8];
    unsigned mask;
    sqlite3_stmt *st[W_COUNT];
    S_acc acc;
    int defer; /* a rebuild: members_private rows wait in mb */
    struct S_mbucket *mb; /* S_MBUCKETS of them, made on first use */
    size_t nheld; /* rows in mb: written when S_hold_max are */
    buf marena;
    size_t locales[4], nlocales; /* marena offsets of locales seen */
    /* a rebuild: each inbox row's subject (S_key8) and position, so an
     * erasure finds its person's requests without a scan (S_irows_erase) */
    S_irow *irows;
    size_t nirows, capirows;
    /* a replay that keeps the tables of these projections (S_keep_*), and
     * the rows it made of each kept table (S_KEEP_ of it) */
    unsigned keep;
    long long made[3];
    /* a check's record of the changes (S_check_kept), watched for size */
    sqlite3_session *sess;
    int sess_full;
    /* the last drain of a kept members_private, when no earlier one wrote
     * to it: another connection (the rebuild's second), which sees the
     * table as this one does, so a second thread compares half of it */
    sqlite3 *rd;
    int memp_drains;
} S_writer;

/* The tables a replay keeps and compares row by row: their rows made. */
enum { S_KEEP_MEM, S_KEEP_INB, S_KEEP_MEMP };

enum { Q_MEMBER_OF, Q_MEMBER_NAME, Q_COUNT };

/* An event a command applied from memory, counted in the stats and the
 * checkpoints once the command is kept (projections_cmd_end). */
#define S_MAX_STAGED 4
typedef struct S_staged {
    const char *type; /* the registry's name: static */
    long long recorded_at, position;
} S_staged;

struct projections {
    store *st;
    sqlite3 *db;
    vault *v;
    char schema[8];
    int as_of;
    S_writer live;
    sqlite3_stmt *q[Q_COUNT];
    sqlite3_stmt *cp_load, *cp_save;
    const events_type *t_user, *t_contact, *t_handled, *t_forgot;
    const events_type *t_verified; /* MemberVerified: a member goes public */
    const events_type *t_status, *t_hidden, *t_role;
    const events_type *t_renamed; /* MemberRenamed: a member's own choice */
    /* rows noted in temp.proj_forgotten / proj_handled, not yet applied */
    long long notes;
    /* Within one write transaction (projections_tx_begin .. flush or
     * discard): every projection is at position cp, counting the kept
     * commands whose stats (live.acc) and checkpoints are still to be
     * written. */
    int in_tx, cp_dirty, broken;
    long long cp;
    S_staged staged[S_MAX_STAGED];
    size_t nstaged;
    sqlite3_session *sess; /* a check's (S_check_kept), during it */
    unsigned held; /* the projections the handle's tables hold */
};

const char *const *projections_names(void) { return S_names; }

unsigned projections_bit(const char *name)
{
    for (size_t i = 0; i < S_NDEFS; i++)
        if (!strcmp(S_defs[i].name, name))
            return S_defs[i].bit;
    return 0;
}

static int S_sqlerr(sqlite3 *db, folio_err *err, const char *what)
{
    return err_set(err, "%s: %s", what, sqlite3_errmsg(db));
}

static int S_exec(sqlite3 *db, const char *sql, folio_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(err, "projections: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Runs one DDL/DML template for schema and suffix. */
static int S_exec_t(sqlite3 *db, const char *tmpl, const char *schema,
                    const char *suffix, folio_err *err)
{
    char sql[2048];
    int n = snprintf(sql, sizeof sql, tmpl, schema, suffix);
    if (n < 0 || (size_t)n >= sizeof sql)
        return err_set(err, "projections: statement too long");
    return S_exec(db, sql, err);
}

static void S_writer_init(S_writer *w, sqlite3 *db, const char *schema,
                          const char *suffix, unsigned mask)
{
    memset(w, 0, sizeof *w);
    w->db = db;
    snprintf(w->schema, sizeof w->schema, "%s", schema);
    snprintf(w->suffix, sizeof w->suffix, "%s", suffix);
    w->mask = mask;
}

/* Statements go stale when a replay drops tables: drop them, they are
 * prepared again on next use. */
static void S_writer_finalize(S_writer *w)
{
    for (size_t i = 0; i < W_COUNT; i++) {
        sqlite3_finalize(w->st[i]);
        w->st[i] = NULL;
    }
}

/* arr with room for element n (*cap elements of size bytes; min at
 * first), or NULL when memory runs out (arr is left as it was). */
static void *S_room(void *arr, size_t n, size_t *cap, size_t size,
                    size_t min)
{
    if (n < *cap)
        return arr;
    size_t nc = *cap ? *cap * 2 : min;
    void *p = nc <= SIZE_MAX / size ? realloc(arr, nc * size) : NULL;
    if (p)
        *cap = nc;
    return p;
}

/* members_private rows held by a rebuild, by the first byte of their
 * stored subject (text subjects first: SQLite sorts TEXT before BLOB), so
 * the sort at the end goes bucket by bucket (S_memp_drain). */
#define S_MBUCKETS 257
typedef struct S_mbucket {
    S_mrow *rows;
    size_t n, cap;
    S_mrow *differ; /* a kept table's: the rows to write (S_memp_differ) */
    size_t nd;
} S_mbucket;

static size_t S_mbucket_of(const S_mrow *r)
{
    return r->bin ? 1 + (size_t)(r->key >> 56) : 0;
}

/* A rebuild sorts the members_private rows it holds (S_memp_drain) and
 * appends them; a table too large for one sort is written in several
 * sorted runs of S_hold_max rows (the later ones go between the rows of
 * the earlier, which costs more than an append), so memory stays bounded
 * however long the log. 36 MiB of rows: one run for 670,000 members. A
 * replay that keeps the table compares each run with all of it (S_keep_memp)
 * while the other thread waits: a million events' members in one run
 * take half the time of two. */
#define S_HOLD_BYTES (36u << 20)
static size_t S_hold_max = S_HOLD_BYTES / sizeof(S_mrow);
_Static_assert(sizeof(S_mrow) == 56, "a members_private row held: 56 bytes");

/* Keys a generation of a rebuild's thread's window (S_keys). */
static size_t S_keys_half = 16384;

void projections_set_bounds(size_t rows, size_t keys)
{
    S_hold_max = rows ? rows : S_HOLD_BYTES / sizeof(S_mrow);
    S_keys_half = keys ? keys : 16384;
}

static void S_mb_free(S_writer *w)
{
    for (size_t b = 0; w->mb && b < S_MBUCKETS; b++) {
        free(w->mb[b].rows);
        free(w->mb[b].differ);
    }
    free(w->mb);
    w->mb = NULL;
    w->nlocales = 0;
    w->nheld = 0;
}

static void S_writer_free(S_writer *w)
{
    S_writer_finalize(w);
    S_acc_free(&w->acc);
    S_mb_free(w);
    buf_free(&w->marena);
    free(w->irows);
    w->irows = NULL;
    w->nirows = w->capirows = 0;
}

/* The first 8 bytes of a stored form (zero-padded), big-endian. */
static uint64_t S_key8(const void *p, size_t len)
{
    uint64_t k = 0;
    for (size_t i = 0; i < 8 && i < len; i++)
        k |= (uint64_t)((const unsigned char *)p)[i] << (56 - 8 * i);
    return k;
}

static int S_memp_drain(S_writer *w, folio_err *err);

/* Holds a members_private row back for S_memp_drain: the subject in its
 * stored form (len bytes; bin: a BLOB). */
static int S_memp_hold(S_writer *w, long long position, const void *subject,
                       size_t len, int bin, const char *locale,
                       int has_password, folio_err *err)
{
    if (!w->mb && !(w->mb = calloc(S_MBUCKETS, sizeof *w->mb)))
        return err_set(err, "projections: out of memory");
    if (len >= 1u << 30 || w->marena.len > UINT32_MAX - 64)
        return err_set(err, "projections: event %lld: a subject too long",
                       position);
    S_mrow row;
    S_mrow *r = &row;
    memset(r, 0, sizeof *r);
    r->bin = bin && len <= S_KEY_MAX;
    r->subject_len = (uint32_t)len;
    r->position = position;
    r->has_password = has_password != 0;
    r->key = S_key8(subject, len);
    if (r->bin) {
        memcpy(r->subject.sub, subject, len);
    } else {
        r->subject.at = w->marena.len;
        if (buf_add(&w->marena, subject, len) < 0)
            return err_set(err, "projections: out of memory");
    }
    size_t i = 0, locale_len = strlen(locale);
    while (i < w->nlocales &&
           strcmp(w->marena.ptr + w->locales[i], locale) != 0)
        i++;
    if (i == w->nlocales) {
        i = w->nlocales < 4 ? w->nlocales++ : 3;
        w->locales[i] = w->marena.len;
        if (buf_add(&w->marena, locale, locale_len) < 0 ||
            buf_putc(&w->marena, '\0') < 0)
            return err_set(err, "projections: out of memory");
    }
    r->locale = (uint32_t)w->locales[i];
    S_mbucket *mb = &w->mb[S_mbucket_of(r)];
    S_mrow *rows = S_room(mb->rows, mb->n, &mb->cap, sizeof row, 64);
    if (!rows)
        return err_set(err, "projections: out of memory");
    mb->rows = rows;
    mb->rows[mb->n++] = row;
    return ++w->nheld < S_hold_max ? 0 : S_memp_drain(w, err);
}

/* SQLite's order of the primary key: TEXT before BLOB, each by memcmp
 * (BINARY collation), a prefix first. */
static int S_mrow_cmp(const void *a, const void *b, void *arena)
{
    const S_mrow *x = a, *y = b;
    if (x->bin != y->bin)
        return x->bin ? 1 : -1;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    size_t n = x->subject_len < y->subject_len ? x->subject_len
                                               : y->subject_len;
    int c = memcmp(S_mrow_subject(x, arena), S_mrow_subject(y, arena), n);
    if (c)
        return c;
    return x->subject_len < y->subject_len   ? -1
           : x->subject_len > y->subject_len ? 1
                                             : 0;
}

/* Statement `which` of S_wsql for schema and suffix, prepared on db, or
 * NULL. */
static sqlite3_stmt *S_wprep(sqlite3 *db, int which, const char *schema,
                             const char *suffix, folio_err *err)
{
    char sql[1024];
    sqlite3_stmt *st = NULL;
    int n = snprintf(sql, sizeof sql, S_wsql[which], schema, suffix);
    if (n < 0 || (size_t)n >= sizeof sql) {
        err_set(err, "projections: statement too long");
        return NULL;
    }
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
                           NULL) != SQLITE_OK) {
        S_sqlerr(db, err, "projections: prepare");
        return NULL;
    }
    return st;
}

static sqlite3_stmt *S_w(S_writer *w, int which, folio_err *err)
{
    if (!w->st[which])
        w->st[which] = S_wprep(w->db, which, w->schema, w->suffix, err);
    return w->st[which];
}

/* Steps a bound write statement to completion and resets it. */
static int S_run(S_writer *w, sqlite3_stmt *st, folio_err *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return S_sqlerr(w->db, err, "projections: write");
    return 0;
}

/* Sorts one bucket's rows as S_mrow_cmp does: a radix sort on the key's
 * upper 32 bits in 8-bit digits, then the runs that tie there by qsort.
 * qsort alone when there is no memory for the radix sort. */
static void S_mrow_sort(S_mrow *rows, size_t n, const char *arena)
{
    if (n < 2)
        return;
    S_mrow *tmp = malloc(n * sizeof *tmp);
    if (!tmp) {
        qsort_r(rows, n, sizeof *rows, S_mrow_cmp, (void *)arena);
        return;
    }
    S_mrow *src = rows, *dst = tmp;
    for (int shift = 32; shift < 64; shift += 8) {
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++)
            count[(src[i].key >> shift) & 0xff]++;
        if (count[(src[0].key >> shift) & 0xff] == n)
            continue; /* one digit for all: nothing to move */
        size_t sum = 0;
        for (size_t d = 0; d < 256; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i].key >> shift) & 0xff]++] = src[i];
        S_mrow *t = src;
        src = dst;
        dst = t;
    }
    if (src != rows)
        memcpy(rows, src, n * sizeof *rows);
    /* runs that tie on the upper 32 bits: one or two rows for hashes, but
     * text subjects may share long prefixes */
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && rows[j].key >> 32 == rows[i].key >> 32; j++)
            ;
        if (j - i > 1)
            qsort_r(rows + i, j - i, sizeof *rows, S_mrow_cmp,
                    (void *)arena);
    }
    free(tmp);
}

/* The buckets sorted one after another on a thread of their own while
 * S_memp_drain writes those already sorted. */
static int S_memp_differ(sqlite3_stmt *st, S_mbucket *mb, const char *arena,
                         folio_err *err);

typedef struct S_msort {
    S_mbucket *mb;
    const char *arena;
    /* W_MEMP_SCAN on the writer's other connection (S_writer.rd): this
     * thread compares the odd buckets too; NULL: the writer compares */
    sqlite3_stmt *scan;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t done; /* buckets sorted (and compared, the odd ones by scan) */
    int failed;
    folio_err err;
} S_msort;

static int S_msort_compares(const S_msort *ms, size_t b)
{
    return ms->scan && (b & 1);
}

static void *S_msort_main(void *ud)
{
    S_msort *ms = ud;
    for (size_t b = 0; b < S_MBUCKETS; b++) {
        S_mrow_sort(ms->mb[b].rows, ms->mb[b].n, ms->arena);
        folio_err err;
        int bad = S_msort_compares(ms, b) && ms->mb[b].n &&
                  S_memp_differ(ms->scan, &ms->mb[b], ms->arena, &err) < 0;
        pthread_mutex_lock(&ms->mu);
        if (bad) {
            ms->failed = 1;
            ms->err = err;
        }
        ms->done = b + 1;
        pthread_cond_signal(&ms->cv);
        pthread_mutex_unlock(&ms->mu);
    }
    return NULL;
}

/* Column col of members_private row `row` of a bucket (S_rows: a the
 * rows, b the writer's marena). */
static void S_memp_col(const S_rows *r, size_t row, int col,
                       sqlite3_context *ctx)
{
    const S_mrow *m = &((const S_mrow *)r->a)[row];
    const char *a = r->b;
    switch (col) {
    case 0:
        if (m->bin)
            sqlite3_result_blob(ctx, m->subject.sub, (int)m->subject_len,
                                SQLITE_STATIC);
        else
            sqlite3_result_text(ctx, a + m->subject.at, (int)m->subject_len,
                                SQLITE_STATIC);
        break;
    case 1:
        sqlite3_result_int64(ctx, m->position);
        break;
    case 2:
        sqlite3_result_text(ctx, a + m->locale, -1, SQLITE_STATIC);
        break;
    default:
        sqlite3_result_int(ctx, m->has_password);
    }
}

/* 1 when column i of st is of type and holds the n bytes at v. */
static int S_same_val(sqlite3_stmt *st, int i, int type, const void *v,
                      size_t n)
{
    if (sqlite3_column_type(st, i) != type)
        return 0;
    if (type == SQLITE_NULL)
        return 1;
    const void *q = type == SQLITE_BLOB
                        ? sqlite3_column_blob(st, i)
                        : (const void *)sqlite3_column_text(st, i);
    return (size_t)sqlite3_column_bytes(st, i) == n &&
           (n == 0 || (q && memcmp(q, v, n) == 0));
}

static int S_same_int(sqlite3_stmt *st, int i, long long v)
{
    return sqlite3_column_type(st, i) == SQLITE_INTEGER &&
           sqlite3_column_int64(st, i) == v;
}

/* Where the table's row under st sorts beside m (SQLite's order of the
 * key: NULL and numbers, TEXT, then BLOB; each by memcmp, a prefix
 * first): < 0 before, 0 the same subject, > 0 after. */
static int S_mrow_vs(sqlite3_stmt *st, const S_mrow *m, const char *arena)
{
    int t = sqlite3_column_type(st, 0);
    if (t != SQLITE_TEXT && t != SQLITE_BLOB)
        return -1;
    int bin = t == SQLITE_BLOB;
    if (bin != (int)m->bin)
        return bin ? 1 : -1;
    const void *q = bin ? sqlite3_column_blob(st, 0)
                        : (const void *)sqlite3_column_text(st, 0);
    size_t qn = (size_t)sqlite3_column_bytes(st, 0), mn = m->subject_len;
    int c = qn && mn ? memcmp(q, S_mrow_subject(m, arena), qn < mn ? qn : mn)
                     : 0;
    if (c)
        return c;
    return qn < mn ? -1 : qn > mn ? 1 : 0;
}

/* A check's record of the rows a replay changed (S_check_kept) holds
 * each changed row: past the memory of the members_private rows a rebuild
 * holds (S_hold_max), or 16 MiB, the check stops (-1, and sess_full) and
 * compares fresh tables instead, in bounded memory. */
static int S_sess_check(S_writer *w, folio_err *err)
{
    size_t cap = S_hold_max * sizeof(S_mrow);
    if (cap > 16u << 20)
        cap = 16u << 20;
    if (!w->sess || sqlite3session_memory_used(w->sess) <= (sqlite3_int64)cap)
        return 0;
    w->sess_full = 1;
    return err_set(err, "projections: too many rows differ to count here");
}

/* A replay that keeps members_private (see S_keep_differ): a sorted
 * bucket's rows beside the table's (through st, a W_MEMP_SCAN on some
 * connection) from the first of them on, and those it lacks or holds
 * otherwise kept in mb->differ. */
static int S_memp_differ(sqlite3_stmt *st, S_mbucket *mb, const char *arena,
                         folio_err *err)
{
    if (!st)
        return -1;
    const S_mrow *first = &mb->rows[0];
    if (first->bin)
        sqlite3_bind_blob(st, 1, first->subject.sub, (int)first->subject_len,
                          SQLITE_STATIC);
    else
        sqlite3_bind_text(st, 1, arena + first->subject.at,
                          (int)first->subject_len, SQLITE_STATIC);
    size_t cap = 0;
    int rc = sqlite3_step(st), res = 0;
    for (size_t i = 0; res == 0 && i < mb->n &&
                       (rc == SQLITE_ROW || rc == SQLITE_DONE);) {
        const S_mrow *m = &mb->rows[i];
        int c = rc == SQLITE_ROW ? S_mrow_vs(st, m, arena) : 1;
        if (c < 0) {
            rc = sqlite3_step(st);
            continue;
        }
        if (c > 0 || !S_same_int(st, 1, m->position) ||
            !S_same_val(st, 2, SQLITE_TEXT, arena + m->locale,
                        strlen(arena + m->locale)) ||
            !S_same_int(st, 3, m->has_password)) {
            S_mrow *d = S_room(mb->differ, mb->nd, &cap, sizeof *d, 64);
            if (!d)
                res = err_set(err, "projections: out of memory");
            else
                (mb->differ = d)[mb->nd++] = *m;
        }
        i++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (res == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        res = S_sqlerr(sqlite3_db_handle(st), err, "projections: replay");
    return res;
}

/* Writes a compared bucket's rows that differ (S_memp_differ) over the
 * table's. */
static int S_keep_memp(S_writer *w, S_mbucket *mb, folio_err *err)
{
    w->made[S_KEEP_MEMP] += (long long)mb->n;
    int res = 0;
    if (mb->nd) {
        S_rows rows = {mb->nd, S_memp_col, mb->differ, w->marena.ptr, NULL};
        sqlite3_stmt *st = S_w(w, W_MEMP_PUT, err);
        res = st ? S_vrun(w->db, st, &rows, err) : -1;
    }
    free(mb->differ);
    mb->differ = NULL;
    mb->nd = 0;
    return res == 0 ? S_sess_check(w, err) : res;
}

/* Writes the members_private rows held back, in key order (appends),
 * bucket after bucket, each as soon as the sorting thread is done with
 * it; the sort is then hidden behind the writing. */
static int S_memp_drain(S_writer *w, folio_err *err)
{
    if (!w->mb)
        return 0;
    S_msort ms = {.mb = w->mb, .arena = w->marena.ptr};
    folio_err serr;
    if ((w->keep & PROJ_MEMBERS) && w->rd && !w->memp_drains)
        ms.scan = S_wprep(w->rd, W_MEMP_SCAN, w->schema, w->suffix, &serr);
    w->memp_drains++;
    pthread_t t;
    int threaded = 0;
    if (pthread_mutex_init(&ms.mu, NULL) == 0) {
        if (pthread_cond_init(&ms.cv, NULL) == 0) {
            threaded = pthread_create(&t, NULL, S_msort_main, &ms) == 0;
            if (!threaded)
                pthread_cond_destroy(&ms.cv);
        }
        if (!threaded)
            pthread_mutex_destroy(&ms.mu);
    }
    sqlite3_stmt *st = S_w(w, W_MEMP_ROWS, err);
    int rc = st ? 0 : -1;
    for (size_t b = 0; b < S_MBUCKETS; b++) {
        if (threaded) {
            pthread_mutex_lock(&ms.mu);
            while (ms.done <= b)
                pthread_cond_wait(&ms.cv, &ms.mu);
            if (rc == 0 && ms.failed) {
                *err = ms.err;
                rc = -1;
            }
            pthread_mutex_unlock(&ms.mu);
        } else {
            S_mrow_sort(w->mb[b].rows, w->mb[b].n, w->marena.ptr);
        }
        if (rc == 0 && w->mb[b].n && (w->keep & PROJ_MEMBERS)) {
            if (!(threaded && S_msort_compares(&ms, b)))
                rc = S_memp_differ(S_w(w, W_MEMP_SCAN, err), &w->mb[b],
                                   w->marena.ptr, err);
            if (rc == 0)
                rc = S_keep_memp(w, &w->mb[b], err);
        } else if (rc == 0 && w->mb[b].n) {
            S_rows rows = {w->mb[b].n, S_memp_col, w->mb[b].rows,
                           w->marena.ptr, NULL};
            rc = S_vrun(w->db, st, &rows, err);
        }
    }
    if (threaded) {
        pthread_join(t, NULL);
        pthread_cond_destroy(&ms.cv);
        pthread_mutex_destroy(&ms.mu);
    }
    sqlite3_finalize(ms.scan);
    S_mb_free(w);
    buf_free(&w->marena);
    return rc;
}

static int S_acc_flush(S_writer *w, S_acc *a, folio_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < a->ntypes && rc == 0; i++) {
        if (!a->type_n[i])
            continue;
        sqlite3_stmt *st = S_w(w, W_TYPE_ADD, err);
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, a->types[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, a->type_n[i]);
        rc = S_run(w, st, err);
    }
    for (size_t i = 0; i < a->cap && rc == 0; i++) {
        if (a->cells[i].day < 0)
            continue;
        char day[16];
        S_day_text(a->cells[i].day, day);
        sqlite3_stmt *st = S_w(w, W_DAY_ADD, err);
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, day, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, a->types[a->cells[i].type], -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, a->cells[i].n);
        rc = S_run(w, st, err);
    }
    return rc;
}

/* Runs statement `which` of w; sets bit in *changed if it changed rows. */
static int S_run_w(S_writer *w, int which, unsigned bit, unsigned *changed,
                   folio_err *err)
{
    sqlite3_stmt *st = S_w(w, which, err);
    if (!st || S_run(w, st, err) < 0)
        return -1;
    if (sqlite3_changes(w->db) > 0)
        *changed |= bit;
    return 0;
}

/* Applies what a batch collected (stats counts, erasures, handled marks)
 * to w's tables for the projections in mask, and empties the collections.
 * acc may belong to another writer. */
static int S_flush_notes(projections *p, S_writer *w, unsigned mask,
                         unsigned *changed, folio_err *err);

static int S_flush(projections *p, S_writer *w, S_acc *acc, unsigned mask,
                   unsigned *changed, folio_err *err)
{
    int rc = 0;
    if ((mask & PROJ_STATS) && acc->ntypes) {
        rc = S_acc_flush(w, acc, err);
        *changed |= PROJ_STATS;
    }
    S_acc_free(acc);
    return rc < 0 ? -1 : S_flush_notes(p, w, mask, changed, err);
}

/* The erasures and handled marks noted so far, applied. Nothing noted is
 * the common case: then nothing runs (these statements scan the inbox). */
/* An erasure a rebuild noted (temp.proj_forgotten), for S_irows_erase. */
typedef struct S_gone {
    uint64_t key; /* S_key8 of the subject */
    long long position;
    sqlite3_value *subject;
} S_gone;

static void S_gone_free(S_gone *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sqlite3_value_free(g[i].subject);
    free(g);
}

/* The erasures noted so far into *out (*n of them, subjects copied). */
static int S_gone_load(sqlite3 *db, S_gone **out, size_t *n, folio_err *err)
{
    sqlite3_stmt *q = NULL;
    S_gone *g = NULL;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, "SELECT subject, position FROM"
                               " temp.proj_forgotten", -1, &q,
                           NULL) != SQLITE_OK)
        return S_sqlerr(db, err, "projections: erasures");
    int rc = 0, step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        S_gone *ng = S_room(g, *n, &cap, sizeof *g, 64);
        sqlite3_value *v = ng ? sqlite3_value_dup(sqlite3_column_value(q, 0))
                              : NULL;
        if (ng)
            g = ng;
        if (!v) {
            rc = err_set(err, "projections: out of memory");
            break;
        }
        g[*n] = (S_gone){S_key8(sqlite3_value_blob(v),
                                (size_t)sqlite3_value_bytes(v)),
                         sqlite3_column_int64(q, 1), v};
        (*n)++;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = S_sqlerr(db, err, "projections: erasures");
    sqlite3_finalize(q);
    *out = g;
    return rc;
}

static size_t S_gone_hash(uint64_t key, size_t nslot)
{
    return (size_t)(key * 0x9E3779B97F4A7C15ull) & (nslot - 1);
}

/* W_INB_DEL without its scan of the inbox, for a rebuild: the rows whose
 * subject starts as an erased person's (irows against a small hash of the
 * erasures) are deleted by position, the whole subject compared by
 * SQLite. */
static int S_irows_erase(S_writer *w, unsigned *changed, folio_err *err)
{
    S_gone *g;
    size_t n, nslot = 16, *slot = NULL;
    int rc = S_gone_load(w->db, &g, &n, err);
    while (nslot < 4 * n)
        nslot *= 2;
    if (rc == 0 && n && !(slot = calloc(nslot, sizeof *slot)))
        rc = err_set(err, "projections: out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t h = S_gone_hash(g[i].key, nslot);
        while (slot[h])
            h = (h + 1) & (nslot - 1);
        slot[h] = i + 1;
    }
    sqlite3_stmt *del = rc == 0 && n ? S_w(w, W_INB_DEL_AT, err) : NULL;
    if (rc == 0 && n && !del)
        rc = -1;
    for (size_t r = 0; rc == 0 && n && r < w->nirows; r++) {
        const S_irow *ir = &w->irows[r];
        for (size_t h = S_gone_hash(ir->key, nslot); rc == 0 && slot[h];
             h = (h + 1) & (nslot - 1)) {
            const S_gone *e = &g[slot[h] - 1];
            if (e->key != ir->key || ir->position >= e->position)
                continue;
            sqlite3_bind_int64(del, 1, ir->position);
            sqlite3_bind_value(del, 2, e->subject);
            rc = S_run(w, del, err);
            if (rc == 0 && sqlite3_changes(w->db) > 0)
                *changed |= PROJ_INBOX;
        }
    }
    S_gone_free(g, n);
    free(slot);
    free(w->irows);
    w->irows = NULL;
    w->nirows = w->capirows = 0;
    return rc;
}

static int S_flush_notes(projections *p, S_writer *w, unsigned mask,
                         unsigned *changed, folio_err *err)
{
    if (!p->notes)
        return 0;
    int rc = 0;
    if (rc == 0 && (mask & PROJ_MEMBERS))
        rc = S_run_w(w, W_MEM_DEL, PROJ_MEMBERS, changed, err) ||
             S_run_w(w, W_MEMP_DEL, PROJ_MEMBERS, changed, err) ||
             S_run_w(w, W_MEM_STATE, PROJ_MEMBERS, changed, err) ? -1 : 0;
    if (rc == 0 && (mask & PROJ_INBOX))
        rc = (w->defer ? S_irows_erase(w, changed, err)
                       : S_run_w(w, W_INB_DEL, PROJ_INBOX, changed, err)) ||
             S_run_w(w, W_INB_DONE, PROJ_INBOX, changed, err) ? -1 : 0;
    if (rc == 0 && sqlite3_exec(w->db, "DELETE FROM temp.proj_forgotten;"
                                       " DELETE FROM temp.proj_state",
                                NULL, NULL, NULL) != SQLITE_OK)
        rc = S_sqlerr(w->db, err, "projections: pending changes");
    if (rc == 0)
        p->notes = 0;
    return rc;
}

/* ---- event handlers ---------------------------------------------------
 * An event is handled in two steps: decoding (JSON, upcast, checks, the
 * member's name opened, stats counted) into an S_op, and writing the op
 * to the tables. Live commands and catch-ups run both at once; a rebuild
 * decodes on a second thread while this one reads the log and writes
 * (S_pipe), through the same two functions, so replay equals the
 * incremental result by construction. */

enum { S_OP_NONE, S_OP_MEMBER, S_OP_CONTACT, S_OP_STATE, S_OP_FORGOT };
/* the strings of an op: offsets into its arena (S_NOSTR: none). F_ID is
 * the user or contact id and F_SUBJECT the subject, both in their stored
 * form (S_put_key: decoded on the reading threads, not by the writer);
 * F_SEALED a member's name still sealed (late or lazy, below), with
 * F_STEXT, the subject as text; F_MAC the opened name's vault_name_mac
 * (binary, like a key). */
enum { F_ID, F_SUBJECT, F_STEXT, F_NAME, F_SEALED, F_LOCALE, F_PAGE, F_MAC,
       F_RAW, F_RMAC, F_N };
#define S_NOSTR ((size_t)-1)

typedef struct S_op {
    int kind, has_password;
    int skind; /* S_OP_STATE: an S_ST_ kind, its value in F_PAGE */
    /* the name left sealed: late, its key was not in the reading thread's
     * window (the writing thread opens it); lazy, its key is live and a
     * replay that keeps members compares it with the row's by the row's
     * name_mac, opening it only when they differ (S_open_lazy) */
    unsigned char late, lazy;
    /* lazy, but whether its key is live was not known yet when it was
     * decoded (the writer reads the destroyed keys meanwhile): the writer
     * asks before it uses the op (S_batch_sure) */
    unsigned char unsure;
    /* a contact request left undecoded (a replay that keeps the inbox):
     * F_RAW its event's data as stored, compared with the row by the
     * row's row_mac (S_raw_same), decoded only when they differ
     * (S_decode_raw); skey8, the row's subject's S_key8, once it matched */
    unsigned char raw;
    int schema_version;
    uint64_t skey8;
    long long position, recorded_at;
    size_t f[F_N];
    unsigned char klen[F_N]; /* a stored form's bytes; 0: text */
} S_op;

static const char *S_field(const cJSON *data, const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(data, name);
    return cJSON_IsString(f) ? f->valuestring : NULL;
}

static int S_need(const store_event *ev, const char *name, const char *val,
                  folio_err *err)
{
    if (val)
        return 0;
    return err_set(err, "event %lld (%s) has no '%s'", ev->position,
                   ev->type, name);
}

/* Copies s (may be NULL) into the arena as field f of op. */
static int S_put(S_op *op, int f, buf *arena, const char *s, folio_err *err)
{
    if (!s) {
        op->f[f] = S_NOSTR;
        return 0;
    }
    op->f[f] = arena->len;
    if (buf_add(arena, s, strlen(s) + 1) < 0)
        return err_set(err, "projections: out of memory");
    return 0;
}

static int S_put_bin(S_op *op, int f, buf *arena, const unsigned char *bin,
                     size_t n, folio_err *err);

/* Puts s (not NULL) into the arena as field f in its stored form. */
static int S_put_key(S_op *op, int f, buf *arena, const char *s,
                     folio_err *err)
{
    unsigned char bin[S_KEY_MAX];
    size_t n = S_key_bin(s, bin);
    return n ? S_put_bin(op, f, arena, bin, n, err)
             : S_put(op, f, arena, s, err);
}

/* Puts the n bytes at bin into the arena as field f, bound as a BLOB. */
static int S_put_bin(S_op *op, int f, buf *arena, const unsigned char *bin,
                     size_t n, folio_err *err)
{
    op->f[f] = arena->len;
    op->klen[f] = (unsigned char)n;
    if (buf_add(arena, (const char *)bin, n) < 0)
        return err_set(err, "projections: out of memory");
    return 0;
}

/* The vault_name_mac of name (opened from sealed) into mac. */
static int S_name_mac(const projections *p, const char *sealed,
                      const char *name, unsigned char mac[VAULT_NAME_MAC_LEN],
                      folio_err *err)
{
    if (vault_name_mac(p->v, sealed, name, strlen(name), mac) < 0)
        return err_set(err, "projections: out of memory");
    return 0;
}

/* Puts name (may be NULL: nothing) and its vault_name_mac with sealed
 * into the arena as F_NAME and F_MAC. */
static int S_put_name(const projections *p, S_op *op, buf *arena,
                      const char *sealed, const char *name, folio_err *err)
{
    if (!name)
        return 0;
    unsigned char mac[VAULT_NAME_MAC_LEN];
    if (S_name_mac(p, sealed, name, mac, err) < 0)
        return -1;
    return S_put(op, F_NAME, arena, name, err) ||
                   S_put_bin(op, F_MAC, arena, mac, sizeof mac, err)
               ? -1
               : 0;
}

/* Binds field f of op, put by S_put_key. */
static void S_bind_opkey(sqlite3_stmt *st, int i, const S_op *op, int f,
                         const buf *arena)
{
    if (op->f[f] == S_NOSTR)
        return;
    if (op->klen[f])
        sqlite3_bind_blob(st, i, arena->ptr + op->f[f], op->klen[f],
                          SQLITE_STATIC);
    else
        sqlite3_bind_text(st, i, arena->ptr + op->f[f], -1, SQLITE_STATIC);
}

static const char *S_str(const S_op *op, int f, const buf *arena)
{
    return op->f[f] == S_NOSTR ? NULL : arena->ptr + op->f[f];
}

/* Wipes what an arena held (members' names) and empties it. */
static void S_arena_clear(buf *arena)
{
    if (arena->ptr && arena->len)
        sodium_memzero(arena->ptr, arena->len);
    arena->len = 0;
}

/* The event's subject and sealed display_name, and the name opened
 * through vr (or the vault): 0 opened into *name (malloc'd), 2 left
 * sealed, its key live (lazy: only asked of vr whether it is), 4 left
 * sealed, whether its key is live not known yet, 3 the key is not in
 * vr's window (the writing thread opens it), 1 nothing to open (no
 * vault, or the key destroyed), -1 on error. */
static int S_open_name(projections *p, vault_reader *vr, int lazy,
                       const store_event *ev, const char *subject,
                       const char *sealed, char **name, folio_err *err)
{
    *name = NULL;
    if (S_need(ev, "subject", subject, err) ||
        S_need(ev, "display_name", sealed, err))
        return -1;
    if (!p->v)
        return 1;
    int r;
    if (vr && lazy) {
        r = vault_reader_state(vr, subject, sealed, ev->recorded_at, 0, err);
        r = r == 0 ? 2 : r;
    } else {
        r = vr ? vault_reader_open_sealed(vr, subject, sealed,
                                          ev->recorded_at, name, err)
               : vault_open_sealed(p->v, subject, sealed, name, err);
    }
    if (r < 0)
        return err_prefix(err, "event %lld", ev->position);
    return r;
}

/* Frees a name S_open_name or S_open_late opened, wiped first. */
static void S_name_free(char *name)
{
    if (name) {
        sodium_memzero(name, strlen(name));
        free(name);
    }
}

/* What a member's event (UserRegistered, MemberVerified) gives the
 * tables: its data's fields as S_field and cJSON_IsTrue read them
 * (S_reg_of), or as S_reg_scan finds them in the data as stored. */
typedef struct S_reg {
    const char *user_id, *subject, *sealed, *locale; /* NULL: none */
    int has_password, pending;
    double joined_at; /* 0: none */
} S_reg;

static void S_reg_of(const cJSON *data, S_reg *r)
{
    r->user_id = S_field(data, "user_id");
    r->subject = S_field(data, "subject");
    r->sealed = S_field(data, "display_name");
    r->locale = S_field(data, "locale");
    r->has_password = cJSON_IsTrue(cJSON_GetObjectItem(data, "has_password"));
    r->pending = cJSON_IsTrue(cJSON_GetObjectItem(data, "pending"));
    const cJSON *joined = cJSON_GetObjectItemCaseSensitive(data, "joined_at");
    r->joined_at = cJSON_IsNumber(joined) && joined->valuedouble > 0
                       ? joined->valuedouble
                       : 0;
}

/* ---- members' events as stored -------------------------------------------
 * The log holds events' data as cJSON prints it unformatted: a flat
 * object, "key":value without spaces. Parsing 600,000 members' events
 * into trees was about 15 % of a replay's CPU for five strings and two
 * flags. S_reg_scan reads just those from such data, in place; anything
 * it was not written for (an escape, a number, a nested value, a field of
 * S_reg under another case or twice, trailing bytes, a field longer than
 * its scratch) returns 1, and the event is parsed with cJSON as before,
 * so what it does read is what cJSON would have. */
enum { R_USER, R_SUBJECT, R_NAME, R_LOCALE, R_PASSWORD, R_PENDING, R_JOINED,
       R_N };
static const struct {
    const char *name;
    size_t len;
} S_reg_keys[R_N] = {
#define S_REG_KEY(s) {s, sizeof s - 1}
    S_REG_KEY("user_id"), S_REG_KEY("subject"), S_REG_KEY("display_name"),
    S_REG_KEY("locale"), S_REG_KEY("has_password"), S_REG_KEY("pending"),
    S_REG_KEY("joined_at")};
#undef S_REG_KEY

/* The key of s's n bytes: its R_, -1 another, -2 one of them in another
 * case (cJSON_GetObjectItem would find it). */
static int S_reg_key(const char *s, size_t n)
{
    for (int k = 0; k < R_N; k++)
        if (S_reg_keys[k].len == n && memcmp(s, S_reg_keys[k].name, n) == 0)
            return k;
    for (int k = 0; k < R_N; k++)
        if (S_reg_keys[k].len == n &&
            strncasecmp(s, S_reg_keys[k].name, n) == 0)
            return -2;
    return -1;
}

/* Past the string s points into (after its opening quote): the byte
 * after its closing quote, *n its length; NULL when it holds an escape
 * (or does not end). Other bytes cJSON copies as they are, control
 * characters too (the log's CHECK (json_valid) keeps those out). */
static const char *S_scan_str(const char *s, size_t *n)
{
    const char *end = strchr(s, '"');
    if (!end || memchr(s, '\\', (size_t)(end - s)))
        return NULL;
    *n = (size_t)(end - s);
    return end + 1;
}

/* Value k (a string of n bytes at v) into r through scratch (cap bytes,
 * *used taken): 0, or 1 when it does not fit. */
static int S_reg_str(S_reg *r, int k, const char *v, size_t n, char *scratch,
                     size_t cap, size_t *used)
{
    if (k < 0)
        return 0;
    if (k > R_LOCALE || n >= cap - *used)
        return 1;
    char *to = scratch + *used;
    memcpy(to, v, n);
    to[n] = '\0';
    *used += n + 1;
    const char **f[] = {&r->user_id, &r->subject, &r->sealed, &r->locale};
    *f[k] = to;
    return 0;
}

/* A flag or null value at s for key k (-1: another): past it, or NULL. */
static const char *S_reg_word(S_reg *r, int k, const char *s)
{
    int t = strncmp(s, "true", 4) == 0;
    size_t n = t ? 4 : strncmp(s, "false", 5) == 0 ? 5
                   : strncmp(s, "null", 4) == 0    ? 4
                                                   : 0;
    if (!n || (k >= 0 && k != R_PASSWORD && k != R_PENDING) ||
        (k >= 0 && n == 4 && !t))
        return NULL;
    if (k == R_PASSWORD)
        r->has_password = t;
    else if (k == R_PENDING)
        r->pending = t;
    return s + n;
}

/* 0: r holds data's fields (its strings in scratch); 1: read it with
 * cJSON (see above). */
static int S_reg_scan(const char *s, char *scratch, size_t cap, S_reg *r)
{
    memset(r, 0, sizeof *r);
    unsigned seen = 0;
    size_t used = 0, n;
    if (*s++ != '{')
        return 1;
    for (;;) {
        const char *key = s + 1;
        if (*s != '"' || !(s = S_scan_str(key, &n)) || *s++ != ':')
            return 1;
        int k = S_reg_key(key, n);
        if (k == -2 || (k >= 0 && (seen & (1u << k))))
            return 1;
        if (k >= 0)
            seen |= 1u << k;
        if (*s == '"') {
            const char *v = s + 1;
            if (!(s = S_scan_str(v, &n)) ||
                S_reg_str(r, k, v, n, scratch, cap, &used))
                return 1;
        } else if (!(s = S_reg_word(r, k, s))) {
            return 1;
        }
        if (*s == '}')
            return s[1] != '\0';
        if (*s++ != ',')
            return 1;
    }
}

static int S_dec_registered(projections *p, vault_reader *vr, int lazy,
                            const store_event *ev, const S_reg *reg,
                            S_op *op, buf *arena, folio_err *err)
{
    const char *user_id = reg->user_id, *locale = reg->locale;
    const char *subject = reg->subject, *sealed = reg->sealed;
    char *name;
    if (S_need(ev, "user_id", user_id, err))
        return -1;
    /* A forgotten person (key destroyed) is no member of any state of the
     * site, not even an earlier one. */
    int r = S_open_name(p, vr, lazy, ev, subject, sealed, &name, err);
    if (r < 0 || r == 1)
        return r < 0 ? -1 : 0;
    int kept = r >= 2; /* still sealed */
    op->late = r == 3;
    op->lazy = r == 2 || r == 4;
    op->unsure = r == 4;
    int rc = S_put_key(op, F_ID, arena, user_id, err) ||
             S_put_key(op, F_SUBJECT, arena, subject, err) ||
             S_put(op, F_STEXT, arena, kept ? subject : NULL, err) ||
             S_put_name(p, op, arena, sealed, name, err) ||
             S_put(op, F_SEALED, arena, kept ? sealed : NULL, err) ||
             S_put(op, F_LOCALE, arena, locale ? locale : "en", err)
                 ? -1 : 0;
    S_name_free(name);
    op->has_password = reg->has_password;
    /* a member brought from elsewhere joined when the owner's list says */
    if (reg->joined_at > 0)
        op->recorded_at = (long long)reg->joined_at;
    if (rc == 0)
        op->kind = S_OP_MEMBER;
    return rc;
}

/* A value of a row as vault_row_mac takes it: its type, then its bytes. */
typedef struct S_val {
    int type; /* SQLITE_BLOB, SQLITE_TEXT, SQLITE_NULL */
    const void *p;
    size_t n;
} S_val;

/* An inbox row's MAC (without a vault: zeros, for an as-of copy nobody
 * replays) from the event's data as stored and the row's values. */
static int S_inb_mac(const vault *v, long long position, const char *data,
                     const S_val *cid, const S_val *subject,
                     long long received_at, const S_val *page,
                     unsigned char mac[VAULT_NAME_MAC_LEN])
{
    memset(mac, 0, VAULT_NAME_MAC_LEN);
    if (!v)
        return 0;
    unsigned char nums[16], types[3];
    for (int i = 0; i < 8; i++) {
        nums[i] = (unsigned char)((uint64_t)position >> (8 * i));
        nums[8 + i] = (unsigned char)((uint64_t)received_at >> (8 * i));
    }
    const S_val *vals[3] = {cid, subject, page};
    for (int i = 0; i < 3; i++)
        types[i] = (unsigned char)vals[i]->type;
    const void *parts[6] = {nums, types, data, cid->p, subject->p, page->p};
    size_t lens[6] = {sizeof nums, sizeof types, strlen(data), cid->n,
                      subject->n, page->n};
    return vault_row_mac(v, parts, lens, 6, mac);
}

/* Field f of op as an S_val (a key's stored form, a string, or NULL). */
static S_val S_op_val(const S_op *op, int f, const buf *arena)
{
    if (op->f[f] == S_NOSTR)
        return (S_val){SQLITE_NULL, "", 0};
    const char *p = arena->ptr + op->f[f];
    if (op->klen[f])
        return (S_val){SQLITE_BLOB, p, op->klen[f]};
    return (S_val){SQLITE_TEXT, p, strlen(p)};
}

static int S_dec_contact(const projections *p, const store_event *ev,
                         const cJSON *data, S_op *op, buf *arena,
                         folio_err *err)
{
    const char *contact_id = S_field(data, "contact_id");
    const char *subject = S_field(data, "subject");
    if (S_need(ev, "contact_id", contact_id, err) ||
        S_need(ev, "subject", subject, err))
        return -1;
    if (S_put_key(op, F_ID, arena, contact_id, err) ||
        S_put_key(op, F_SUBJECT, arena, subject, err) ||
        S_put(op, F_PAGE, arena, S_field(data, "page"), err))
        return -1;
    S_val cid = S_op_val(op, F_ID, arena), sub = S_op_val(op, F_SUBJECT, arena),
          page = S_op_val(op, F_PAGE, arena);
    unsigned char mac[VAULT_NAME_MAC_LEN];
    if (S_inb_mac(p->v, op->position, ev->data, &cid, &sub, op->recorded_at,
                  &page, mac) < 0)
        return err_set(err, "projections: out of memory");
    if (S_put_bin(op, F_RMAC, arena, mac, sizeof mac, err) < 0)
        return -1;
    op->kind = S_OP_CONTACT;
    return 0;
}

/* A value noted for the end of the batch (see S_pending_ddl). */
static int S_dec_note(const store_event *ev, const cJSON *data, int kind,
                      const char *field, S_op *op, buf *arena, folio_err *err)
{
    const char *v = S_field(data, field);
    if (S_need(ev, field, v, err) ||
        S_put_key(op, kind == S_OP_FORGOT ? F_SUBJECT : F_ID, arena, v, err))
        return -1;
    op->kind = kind;
    return 0;
}

/* An owner's decision (see proj_state): the latest value of one kind for
 * one id. */
static int S_dec_state(const store_event *ev, const cJSON *data, int skind,
                       const char *idfield, const char *value, S_op *op,
                       buf *arena, folio_err *err)
{
    const char *v = S_field(data, idfield);
    if (S_need(ev, idfield, v, err) || S_need(ev, "value", value, err) ||
        S_put_key(op, F_ID, arena, v, err) ||
        S_put(op, F_PAGE, arena, value, err))
        return -1;
    op->kind = S_OP_STATE;
    op->skind = skind;
    return 0;
}

/* A member's new name: the latest by position, like an owner's decision
 * (S_ST_NAME), its value opened here, or by the writing thread when the
 * key is not in the reading thread's window (F_SEALED, as for a member).
 * A name sealed under a destroyed key renames no one. */
static int S_dec_renamed(projections *p, vault_reader *vr,
                         const store_event *ev, const cJSON *data, S_op *op,
                         buf *arena, folio_err *err)
{
    const char *subject = S_field(data, "subject");
    const char *sealed = S_field(data, "display_name");
    char *name;
    int r = S_open_name(p, vr, 0, ev, subject, sealed, &name, err);
    if (r < 0 || r == 1)
        return r < 0 ? -1 : 0;
    int rc = S_dec_state(ev, data, S_ST_NAME, "user_id",
                         r == 3 ? "" : name, op, arena, err);
    op->late = r == 3;
    unsigned char mac[VAULT_NAME_MAC_LEN];
    if (rc == 0 && r == 0 && S_name_mac(p, sealed, name, mac, err) < 0)
        rc = -1;
    if (rc == 0 && r == 0 && S_put_bin(op, F_MAC, arena, mac, sizeof mac, err))
        rc = -1;
    if (rc == 0 && r == 3 &&
        (S_put(op, F_STEXT, arena, subject, err) ||
         S_put(op, F_SEALED, arena, sealed, err)))
        rc = -1;
    S_name_free(name);
    return rc;
}

static void S_op_init(S_op *op, const store_event *ev)
{
    memset(op, 0, sizeof *op);
    for (size_t i = 0; i < F_N; i++)
        op->f[i] = S_NOSTR;
    op->kind = S_OP_NONE;
    op->position = ev->position;
    op->recorded_at = ev->recorded_at;
}

/* A member's event (t: UserRegistered or MemberVerified) into op. */
static int S_dec_member(projections *p, vault_reader *vr, int lazy,
                        const store_event *ev, const events_type *t,
                        const S_reg *reg, S_op *op, buf *arena,
                        folio_err *err)
{
    /* a sign-up waiting for its address to be verified is no member yet */
    if (t == p->t_user && reg->pending)
        return 0;
    return S_dec_registered(p, vr, lazy, ev, reg, op, arena, err);
}

/* Decodes event ev of type t, its data in the current shape, into op.
 * Names are opened through vr (a thread's window onto the keys, S_pipe),
 * or when NULL through the vault (the connection's own thread only); lazy
 * (with vr): members' names are left sealed where their keys are live. */
static int S_decode_data(projections *p, vault_reader *vr, int lazy,
                         const store_event *ev,
                         const events_type *t, const cJSON *data, S_op *op,
                         buf *arena, folio_err *err)
{
    S_op_init(op, ev);
    if (t == p->t_user || t == p->t_verified) {
        S_reg reg;
        S_reg_of(data, &reg);
        return S_dec_member(p, vr, lazy, ev, t, &reg, op, arena, err);
    }
    if (t == p->t_contact)
        return S_dec_contact(p, ev, data, op, arena, err);
    if (t == p->t_handled)
        return S_dec_state(ev, data, S_ST_STATUS, "contact_id", "handled", op,
                           arena, err);
    if (t == p->t_status)
        return S_dec_state(ev, data, S_ST_STATUS, "contact_id",
                           S_field(data, "status"), op, arena, err);
    if (t == p->t_hidden) {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(data, "hidden");
        return S_dec_state(ev, data, S_ST_HIDDEN, "user_id",
                           cJSON_IsTrue(h) ? "1" : "0", op, arena, err);
    }
    if (t == p->t_role)
        return S_dec_state(ev, data, S_ST_ROLE, "user_id",
                           S_field(data, "role"), op, arena, err);
    if (t == p->t_renamed)
        return S_dec_renamed(p, vr, ev, data, op, arena, err);
    if (t == p->t_forgot)
        return S_dec_note(ev, data, S_OP_FORGOT, "subject", op, arena, err);
    return 0;
}

/* ---- cJSON in an arena --------------------------------------------------
 * cJSON takes every node and string from malloc, and a rebuild parses a
 * million events: malloc and free were a third of decoding. While a
 * thread decodes a rebuild's range it has entered an arena (jarena.h);
 * an event's tree is dropped by emptying it. */
#define S_JARENA_CAP (256u * 1024)

static _Thread_local jarena *S_jown; /* the arena of the range this thread decodes */

/* Drops a tree parsed by this thread: in its range's arena, by emptying
 * it. A tree parsed anywhere else (say, inside a site render's arena) is
 * deleted: that arena is not ours to empty. */
static void S_jdelete(cJSON *tree)
{
    jarena *a = jarena_current();
    if (a && a == S_jown)
        jarena_reset(a);
    else
        cJSON_Delete(tree);
}

/* A contact request left undecoded (S_op.raw). */
static int S_raw_op(const store_event *ev, S_op *op, buf *arena,
                    folio_err *err)
{
    memset(op, 0, sizeof *op);
    for (size_t i = 0; i < F_N; i++)
        op->f[i] = S_NOSTR;
    op->kind = S_OP_CONTACT;
    op->raw = 1;
    op->position = ev->position;
    op->recorded_at = ev->recorded_at;
    op->schema_version = ev->schema_version;
    return S_put(op, F_RAW, arena, ev->data, err);
}

/* 1 when a member's event ev of type t may be read as stored
 * (S_reg_scan): in the current shape, or UserRegistered v1, whose only
 * upcaster (2 is current) adds the locale "en" that S_dec_registered
 * gives a member without one. */
static int S_member_scan(const projections *p, const events_type *t,
                         const store_event *ev)
{
    if (t != p->t_user && t != p->t_verified)
        return 0;
    return ev->schema_version == t->version ||
           (t == p->t_user && t->version == 2 && ev->schema_version == 1);
}

/* Decodes one event for the projections in `active`: counts it in acc,
 * parses and upcasts its data when a table wants it; in a replay that
 * keeps tables (keep), members' names stay sealed (S_op.lazy) and
 * contact requests undecoded (S_op.raw). */
static int S_decode(projections *p, vault_reader *vr, unsigned keep,
                    S_acc *acc, const store_event *ev, unsigned active,
                    S_op *op, buf *arena, unsigned *changed, folio_err *err)
{
    op->kind = S_OP_NONE;
    if (active & PROJ_STATS) {
        if (S_acc_add(acc, ev->type, ev->recorded_at) < 0)
            return err_set(err, "projections: out of memory");
        *changed |= PROJ_STATS;
    }
    const events_type *t = events_find(ev->type);
    unsigned wants = 0;
    if (!t)
        return 0;
    if (t == p->t_user || t == p->t_verified)
        wants = PROJ_MEMBERS;
    else if (t == p->t_contact || t == p->t_handled || t == p->t_status)
        wants = PROJ_INBOX;
    else if (t == p->t_hidden || t == p->t_role || t == p->t_renamed)
        wants = PROJ_MEMBERS;
    else if (t == p->t_forgot)
        wants = PROJ_MEMBERS | PROJ_INBOX;
    if (!(wants & active))
        return 0;
    if ((keep & PROJ_INBOX) && t == p->t_contact && p->v)
        return S_raw_op(ev, op, arena, err);
    if (S_member_scan(p, t, ev)) {
        S_reg reg;
        char scratch[1024];
        if (S_reg_scan(ev->data, scratch, sizeof scratch, &reg) == 0) {
            S_op_init(op, ev);
            /* scratch holds ids and sealed values: nothing to wipe */
            return S_dec_member(p, vr, (keep & PROJ_MEMBERS) != 0, ev, t,
                                &reg, op, arena, err);
        }
    }
    cJSON *data = cJSON_Parse(ev->data);
    if (!cJSON_IsObject(data)) {
        S_jdelete(data);
        return err_set(err, "event %lld (%s): data is not a JSON object",
                       ev->position, ev->type);
    }
    int rc = 0;
    if (ev->schema_version != t->version &&
        events_upcast(t, ev->schema_version, data, err) < 0)
        rc = err_prefix(err, "event %lld", ev->position);
    else
        rc = S_decode_data(p, vr, (keep & PROJ_MEMBERS) != 0, ev, t, data, op,
                           arena, err);
    S_jdelete(data);
    return rc;
}

/* S_memp_hold for an op's member. */
static int S_memp_hold_op(S_writer *w, const S_op *op, const buf *arena,
                          folio_err *err)
{
    const char *subject = arena->ptr + op->f[F_SUBJECT];
    size_t len = op->klen[F_SUBJECT] ? op->klen[F_SUBJECT] : strlen(subject);
    return S_memp_hold(w, op->position, subject, len, op->klen[F_SUBJECT] != 0,
                       S_str(op, F_LOCALE, arena), op->has_password, err);
}

/* Keeps an inbox row's subject and position for S_irows_erase. */
static int S_irows_hold(S_writer *w, const S_op *op, const buf *arena,
                        folio_err *err)
{
    S_irow *rows = S_room(w->irows, w->nirows, &w->capirows,
                          sizeof *rows, 4096);
    if (!rows)
        return err_set(err, "projections: out of memory");
    w->irows = rows;
    uint64_t key = op->skey8;
    if (!op->raw) {
        const char *subject = arena->ptr + op->f[F_SUBJECT];
        size_t len = op->klen[F_SUBJECT] ? op->klen[F_SUBJECT]
                                         : strlen(subject);
        key = S_key8(subject, len);
    }
    w->irows[w->nirows++] = (S_irow){key, op->position};
    return 0;
}

/* The name an op left sealed (S_open_name's 3), opened by the thread
 * that owns the vault: 0 into *opened (NULL when the op had it open), 1
 * its key destroyed, -1 on error. */
static int S_open_late(projections *p, const S_op *op, const buf *arena,
                       char **opened, folio_err *err)
{
    *opened = NULL;
    const char *sealed = S_str(op, F_SEALED, arena);
    if (!sealed)
        return 0;
    int r = vault_open_sealed(p->v, S_str(op, F_STEXT, arena), sealed, opened,
                              err);
    return r < 0 ? err_prefix(err, "event %lld", op->position) : r;
}

/* The columns of a batch's rows as W_MEM_ROWS (S_mem_cols) and
 * W_INB_ROWS (S_inb_cols) read them, in order. */
/* C_NAME and C_MAC: a member's name and its MAC, C_NAME first (as C_STR
 * and C_KEY, but for a lazy op: S_op_same). */
enum { C_POSITION, C_TIME, C_KEY, C_STR, C_NAME, C_MAC };
typedef struct S_col {
    int kind, field; /* field: the op's F_ for C_KEY, C_STR and C_NAME */
} S_col;
static const S_col S_mem_cols[] = {
    {C_POSITION, 0}, {C_KEY, F_ID}, {C_NAME, F_NAME}, {C_TIME, 0},
    {C_MAC, F_MAC}};
static const S_col S_inb_cols[] = {
    {C_POSITION, 0}, {C_KEY, F_ID}, {C_KEY, F_SUBJECT}, {C_TIME, 0},
    {C_STR, F_PAGE}, {C_KEY, F_RMAC}};

/* 1 when the row's name (column name) and its MAC (column i) are those
 * of lazy op's sealed name: the MAC made again from the row's name, the
 * name not opened. */
static int S_lazy_same(sqlite3_stmt *st, int name, int i, const S_op *op,
                       const buf *arena, const vault *v)
{
    const char *text = (const char *)sqlite3_column_text(st, name);
    if (!v || !text || sqlite3_column_type(st, name) != SQLITE_TEXT)
        return 0;
    unsigned char mac[VAULT_NAME_MAC_LEN];
    /* out of memory: differs, and the writer that opens it says so */
    return vault_name_mac(v, S_str(op, F_SEALED, arena), text,
                          (size_t)sqlite3_column_bytes(st, name), mac) == 0 &&
           S_same_val(st, i, SQLITE_BLOB, mac, sizeof mac);
}

/* 1 when st's row holds op's columns cols[0 .. ncols) as S_op_col
 * gives them (v: the vault, for a lazy op's name). */
static int S_op_same(sqlite3_stmt *st, const S_op *op, const buf *arena,
                     const S_col *cols, size_t ncols, const vault *v)
{
    int name = -1;
    for (size_t k = 0; k < ncols; k++) {
        const S_col *c = &cols[k];
        int i = (int)k, same;
        if (c->kind == C_NAME)
            name = i;
        if ((c->kind == C_NAME || c->kind == C_MAC) && op->lazy)
            same = c->kind == C_NAME ||
                   (name >= 0 && S_lazy_same(st, name, i, op, arena, v));
        else if (c->kind == C_POSITION)
            same = S_same_int(st, i, op->position);
        else if (c->kind == C_TIME)
            same = S_same_int(st, i, op->recorded_at);
        else {
            S_val x = S_op_val(op, c->field, arena);
            same = S_same_val(st, i, x.type, x.p, x.n);
        }
        if (!same)
            return 0;
    }
    return 1;
}

/* The table's first row at or after position through scan (W_*_SCAN):
 * 1 with *out on it (the caller resets it), 0 none, -1 on error. */
static int S_keep_at(S_writer *w, int scan, long long position,
                     sqlite3_stmt **out, folio_err *err)
{
    sqlite3_stmt *st = *out = S_w(w, scan, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, position);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : S_sqlerr(w->db, err, "projections: replay");
}

/* A replay that keeps the inbox (S_keep_*): 1 when the table's row at
 * op's position is the one op makes, 0 when not, -1 on error. */
static int S_keep_same_contact(S_writer *w, const S_op *op, const buf *arena,
                               folio_err *err)
{
    sqlite3_stmt *st;
    int r = S_keep_at(w, W_INB_SCAN, op->position, &st, err);
    if (r <= 0)
        return r;
    r = S_op_same(st, op, arena, S_inb_cols,
                  sizeof S_inb_cols / sizeof S_inb_cols[0], NULL);
    sqlite3_reset(st);
    return r;
}

/* A replay that keeps members (S_keep_*): 1 when the table's row at
 * op's position is the one op makes under name and mac, 0 when not, -1 on
 * error. */
static int S_keep_same_member(S_writer *w, const S_op *op, const buf *arena,
                              const char *name, const unsigned char *mac,
                              folio_err *err)
{
    sqlite3_stmt *st;
    int r = S_keep_at(w, W_MEM_SCAN, op->position, &st, err);
    if (r <= 0)
        return r;
    S_val id = S_op_val(op, F_ID, arena);
    r = S_same_int(st, 0, op->position) &&
        S_same_val(st, 1, id.type, id.p, id.n) &&
        S_same_val(st, 2, SQLITE_TEXT, name, strlen(name)) &&
        S_same_int(st, 3, op->recorded_at) &&
        S_same_val(st, 4, SQLITE_BLOB, mac, VAULT_NAME_MAC_LEN);
    sqlite3_reset(st);
    return r;
}

static int S_write_member(projections *p, S_writer *w, const S_op *op,
                          const buf *arena, folio_err *err)
{
    const char *name = S_str(op, F_NAME, arena);
    const unsigned char *mac = (const unsigned char *)S_str(op, F_MAC, arena);
    unsigned char late_mac[VAULT_NAME_MAC_LEN];
    char *opened;
    int r = S_open_late(p, op, arena, &opened, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (opened) {
        name = opened;
        mac = late_mac;
    }
    int rc = -1, keep = (w->keep & PROJ_MEMBERS) != 0, same = 0;
    if (opened && S_name_mac(p, S_str(op, F_SEALED, arena), opened,
                             late_mac, err) < 0)
        goto out;
    if (keep && (same = S_keep_same_member(w, op, arena, name, mac, err)) < 0)
        goto out;
    sqlite3_stmt *st = same ? NULL : S_w(w, keep ? W_MEM_PUT1 : W_MEM_INS, err);
    if (!same && !st)
        goto out;
    w->made[S_KEEP_MEM] += keep;
    if (st) {
        sqlite3_bind_int64(st, 1, op->position);
        S_bind_opkey(st, 2, op, F_ID, arena);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, op->recorded_at);
        sqlite3_bind_blob(st, 5, mac, VAULT_NAME_MAC_LEN, SQLITE_STATIC);
        if (S_run(w, st, err) < 0)
            goto out;
    }
    if (w->defer) {
        rc = S_memp_hold_op(w, op, arena, err);
        goto out;
    }
    if (!(st = S_w(w, W_MEMP_INS, err)))
        goto out;
    S_bind_opkey(st, 1, op, F_SUBJECT, arena);
    sqlite3_bind_int64(st, 2, op->position);
    sqlite3_bind_text(st, 3, S_str(op, F_LOCALE, arena), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, op->has_password);
    rc = S_run(w, st, err);
out:
    S_name_free(opened);
    return rc;
}

static int S_write_contact(S_writer *w, const S_op *op, const buf *arena,
                           folio_err *err)
{
    int keep = (w->keep & PROJ_INBOX) != 0, same = 0;
    if (keep && (same = S_keep_same_contact(w, op, arena, err)) < 0)
        return -1;
    w->made[S_KEEP_INB] += keep;
    if (same)
        return S_irows_hold(w, op, arena, err);
    sqlite3_stmt *st = S_w(w, keep ? W_INB_PUT1 : W_INB_INS, err);
    if (!st)
        return -1;
    const char *page = S_str(op, F_PAGE, arena);
    sqlite3_bind_int64(st, 1, op->position);
    S_bind_opkey(st, 2, op, F_ID, arena);
    S_bind_opkey(st, 3, op, F_SUBJECT, arena);
    sqlite3_bind_int64(st, 4, op->recorded_at);
    if (page)
        sqlite3_bind_text(st, 5, page, -1, SQLITE_STATIC);
    S_bind_opkey(st, 6, op, F_RMAC, arena);
    if (S_run(w, st, err) < 0)
        return -1;
    return w->defer ? S_irows_hold(w, op, arena, err) : 0;
}

static int S_write_note(projections *p, S_writer *w, const S_op *op,
                        const buf *arena, folio_err *err)
{
    int forgot = op->kind == S_OP_FORGOT;
    const char *value = S_str(op, F_PAGE, arena);
    const unsigned char *mac = (const unsigned char *)S_str(op, F_MAC, arena);
    unsigned char late_mac[VAULT_NAME_MAC_LEN];
    char *opened = NULL; /* a renaming whose key the reader lacked */
    int r = forgot ? 0 : S_open_late(p, op, arena, &opened, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (opened) {
        value = opened;
        mac = late_mac;
    }
    int rc = opened && S_name_mac(p, S_str(op, F_SEALED, arena), opened,
                                  late_mac, err) < 0
                 ? -1 : 0;
    sqlite3_stmt *st = rc ? NULL : S_w(w, forgot ? W_FORGOT : W_HANDLED, err);
    rc = -1;
    if (st) {
        S_bind_opkey(st, 1, op, forgot ? F_SUBJECT : F_ID, arena);
        sqlite3_bind_int64(st, 2, op->position);
        if (!forgot) {
            sqlite3_bind_int(st, 3, op->skind);
            sqlite3_bind_text(st, 4, value, -1, SQLITE_STATIC);
        }
        rc = S_run(w, st, err);
    }
    /* a new name comes with its MAC (S_ST_NAME_MAC, at the same position) */
    if (rc == 0 && !forgot && op->skind == S_ST_NAME) {
        S_bind_opkey(st, 1, op, F_ID, arena);
        sqlite3_bind_int64(st, 2, op->position);
        sqlite3_bind_int(st, 3, S_ST_NAME_MAC);
        sqlite3_bind_blob(st, 4, mac, VAULT_NAME_MAC_LEN, SQLITE_STATIC);
        rc = S_run(w, st, err);
    }
    S_name_free(opened);
    if (rc < 0)
        return -1;
    p->notes++;
    return 0;
}

/* Writes a decoded event to w's tables. */
static int S_write(projections *p, S_writer *w, const S_op *op,
                   const buf *arena, unsigned *changed, folio_err *err)
{
    switch (op->kind) {
    case S_OP_MEMBER:
        if (S_write_member(p, w, op, arena, err) < 0)
            return -1;
        *changed |= PROJ_MEMBERS;
        return 0;
    case S_OP_CONTACT:
        if (S_write_contact(w, op, arena, err) < 0)
            return -1;
        *changed |= PROJ_INBOX;
        return 0;
    case S_OP_STATE:
    case S_OP_FORGOT:
        return S_write_note(p, w, op, arena, err);
    default:
        return 0;
    }
}

/* The handlers for the tables (stats aside) of event ev of type t, its
 * data in the current shape: decoded and written at once. */
static int S_apply_data(projections *p, S_writer *w, const store_event *ev,
                        const events_type *t, const cJSON *data,
                        unsigned *changed, folio_err *err)
{
    S_op op;
    buf arena = BUF_INIT;
    int rc = S_decode_data(p, NULL, 0, ev, t, data, &op, &arena, err);
    if (rc == 0)
        rc = S_write(p, w, &op, &arena, changed, err);
    S_arena_clear(&arena);
    buf_free(&arena);
    return rc;
}

/* ---- reading the log into a writer ------------------------------------ */

typedef struct S_feed {
    projections *p;
    S_writer *w;
    long long cp[S_NDEFS];  /* an event applies to projection i after cp[i] */
    unsigned changed;
    folio_err err;
    int failed;
    buf arena; /* one event's strings (sequential feeds) */
    struct S_pipe *pipe; /* a rebuild's decoding thread, or NULL */
    vault_reader *vr;    /* a sequential rebuild's window onto the keys */
} S_feed;

int projections_flush(projections *p, folio_err *err);

static unsigned S_active(const S_feed *f, long long position)
{
    unsigned active = 0;
    for (size_t i = 0; i < S_NDEFS; i++)
        if ((f->w->mask & S_defs[i].bit) && position > f->cp[i])
            active |= S_defs[i].bit;
    return active;
}

static int S_feed_event(void *ud, const store_event *ev)
{
    S_feed *f = ud;
    unsigned active = S_active(f, ev->position);
    if (!active)
        return 0;
    S_op op;
    int rc = S_decode(f->p, f->vr, 0, &f->w->acc, ev, active, &op,
                      &f->arena, &f->changed, &f->err);
    if (rc == 0)
        rc = S_write(f->p, f->w, &op, &f->arena, &f->changed, &f->err);
    S_arena_clear(&f->arena);
    if (rc < 0) {
        f->failed = 1;
        return -1;
    }
    return 0;
}

static int S_feed_done(S_feed *f, int rc, folio_err *err)
{
    buf_free(&f->arena);
    if (f->failed) {
        *err = f->err;
        return -1;
    }
    return rc != 0 ? -1 : 0;
}

/* ---- a rebuild on two threads -------------------------------------------
 * Reading the log and decoding it (JSON, upcasts, opening members' names)
 * is more than half of a rebuild's work and needs no write: both threads
 * do it, each through its own connection (WAL: the helper's reads the
 * same log while this one writes; events up to `end` never change), in
 * ranges of S_BATCH positions that each claims in turn. Only this thread
 * writes, range after range in log order; it decodes a range itself
 * whenever the next one to write is not ready, so neither core waits
 * while there is work. Both threads open members' names through one
 * window onto the keys (vault_reader; they are never more than S_SLOTS
 * ranges apart, and a name whose key is not in it is opened by the
 * writer), and the helper counts the stats in an S_acc of its own,
 * merged once it is joined. S_SLOTS ranges decoded ahead keep the
 * helper busy while this thread drops the old tables at the start, reads
 * the destroyed keys (S_batch_sure) and writes a sorted run of
 * members_private in the middle (S_memp_drain): 32 of them hide most of
 * the 0.1 s the destroyed keys take at a million events, for about 7 MB. */
#define S_BATCH 1024
#define S_SLOTS 32

enum { B_FREE, B_BUSY, B_READY };

typedef struct S_batch {
    int state;
    size_t n;
    S_op op[S_BATCH];
    buf arena;
    unsigned changed;
    int failed;
    folio_err err;
    /* a replay that keeps the tables: the thread that decoded the range
     * compared its rows with the tables' too (marked), and these differ */
    int marked;
    unsigned char differs[S_BATCH];
} S_batch;

/* A rebuild's window onto the subject keys (S_keys_half keys a
 * generation, about 3.5 MB for the two), shared by its threads, where a
 * member's key is found while the events are read in the order the keys
 * were made, through a connection of its own. */
typedef struct S_keyring {
    store *st;
    vault_reader *vr;
} S_keyring;

typedef struct S_pipe {
    S_feed *f;
    store *rd;               /* the helper's connection */
    int own_rd;              /* opened here: closed here */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    S_batch *b;              /* range k decodes into b[k % S_SLOTS] */
    long long end;           /* the last position to read */
    long long nranges, claimed, written;
    int quit;
    S_acc acc;               /* the helper's counts */
    S_keyring keys;          /* both threads' window onto the keys */
} S_pipe;

/* Field f of op as a result: its stored form (S_put_key). */
static void S_opkey_result(sqlite3_context *ctx, const S_op *op, int f,
                           const buf *arena)
{
    if (op->f[f] == S_NOSTR)
        sqlite3_result_null(ctx);
    else if (op->klen[f])
        sqlite3_result_blob(ctx, arena->ptr + op->f[f], op->klen[f],
                            SQLITE_STATIC);
    else
        sqlite3_result_text(ctx, arena->ptr + op->f[f], -1, SQLITE_STATIC);
}

static void S_str_result(sqlite3_context *ctx, const char *s)
{
    if (s)
        sqlite3_result_text(ctx, s, -1, SQLITE_STATIC);
    else
        sqlite3_result_null(ctx);
}

/* Column col of the row of op idx[row] (S_rows: a the batch, b idx, c
 * the S_col list). */
static void S_op_col(const S_rows *r, size_t row, int col,
                     sqlite3_context *ctx)
{
    const S_batch *b = r->a;
    const S_op *op = &b->op[((const size_t *)r->b)[row]];
    const S_col *c = &((const S_col *)r->c)[col];
    switch (c->kind) {
    case C_POSITION:
        sqlite3_result_int64(ctx, op->position);
        break;
    case C_TIME:
        sqlite3_result_int64(ctx, op->recorded_at);
        break;
    case C_KEY:
    case C_MAC:
        S_opkey_result(ctx, op, c->field, &b->arena);
        break;
    default:
        S_str_result(ctx, S_str(op, c->field, &b->arena));
    }
}

/* ---- a replay that keeps the tables ---------------------------------------
 * `folio replay` of a store whose tables have the shapes this program
 * makes keeps them (S_writer.keep): it reads the log and decodes every
 * event as a rebuild does, but compares each row it makes with the
 * table's row at that key (both in key order, side by side) and writes
 * only those that differ or are missing, over what is there. Where every
 * row is right, nothing is written: no dropped tables, no pages of new
 * ones through the cache and the WAL, nothing to checkpoint. The rows
 * the table holds and the replay did not make are found by counting
 * (S_keep_counts): then the replay starts again as a rebuild. The owner's
 * decisions (S_def.reset) and the counts (S_def.fill) are put right at
 * the end. */

/* A table a batch writes: through which statements, its columns, and
 * what the rebuild keeps of each row for its end. */
typedef struct S_tab {
    int rows, put, scan, keep;
    const S_col *cols;
    size_t ncols;
    int (*hold)(S_writer *, const S_op *, const buf *, folio_err *);
    unsigned bit;
} S_tab;

/* Of the ops idx[0 .. n) (in position order), those whose row the table
 * (read through st, t's scan on some connection) lacks or holds
 * otherwise, into out: how many, or -1. */
/* Column i of st as an S_val. */
static S_val S_col_val(sqlite3_stmt *st, int i)
{
    int type = sqlite3_column_type(st, i);
    const void *p = type == SQLITE_BLOB
                        ? sqlite3_column_blob(st, i)
                        : (const void *)sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    if (type != SQLITE_BLOB && type != SQLITE_TEXT)
        return (S_val){type, "", 0};
    return (S_val){type, p ? p : "", n};
}

/* For a raw op (S_op.raw): 1 when st's inbox row (W_INB_SCAN's columns)
 * is the one the op's event makes, by the row's MAC made again from the
 * event's data and the row's values; then op->skey8 gets its subject's
 * S_key8. */
static int S_raw_same(sqlite3_stmt *st, S_op *op, const buf *arena,
                      const vault *v)
{
    if (!S_same_int(st, 0, op->position) ||
        sqlite3_column_type(st, 3) != SQLITE_INTEGER)
        return 0;
    S_val cid = S_col_val(st, 1), sub = S_col_val(st, 2),
          page = S_col_val(st, 4);
    unsigned char mac[VAULT_NAME_MAC_LEN];
    if (cid.type == SQLITE_NULL || sub.type == SQLITE_NULL ||
        S_inb_mac(v, op->position, S_str(op, F_RAW, arena), &cid, &sub,
                  sqlite3_column_int64(st, 3), &page, mac) < 0 ||
        !S_same_val(st, 5, SQLITE_BLOB, mac, sizeof mac))
        return 0;
    op->skey8 = S_key8(sub.p, sub.n);
    return 1;
}

static long long S_keep_differ(sqlite3_stmt *st, const S_tab *t, S_batch *b,
                               const size_t *idx, size_t n, const vault *v,
                               size_t *out, folio_err *err)
{
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, b->op[idx[0]].position);
    size_t nout = 0;
    int rc = sqlite3_step(st);
    for (size_t i = 0; i < n && (rc == SQLITE_ROW || rc == SQLITE_DONE);) {
        S_op *op = &b->op[idx[i]];
        long long at = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        if (rc == SQLITE_ROW && at < op->position) {
            rc = sqlite3_step(st);
            continue;
        }
        if (rc == SQLITE_DONE || at != op->position ||
            !(op->raw ? S_raw_same(st, op, &b->arena, v)
                      : S_op_same(st, op, &b->arena, t->cols, t->ncols, v)))
            out[nout++] = idx[i];
        i++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return S_sqlerr(sqlite3_db_handle(st), err, "projections: replay");
    return (long long)nout;
}

/* Opens the names of the lazy ops idx[0 .. n) of a batch (their rows
 * differ: they are written), as S_open_late does, each with its MAC. */
static int S_open_lazy(projections *p, S_batch *b, const size_t *idx,
                       size_t n, folio_err *err)
{
    for (size_t i = 0; i < n; i++) {
        S_op *op = &b->op[idx[i]];
        if (!op->lazy)
            continue;
        char *name;
        int r = S_open_late(p, op, &b->arena, &name, err);
        if (r == 1) /* no key can go while the write lock is held */
            err_set(err, "event %lld: a key was destroyed during a replay",
                    op->position);
        int rc = r == 0 ? S_put_name(p, op, &b->arena,
                                     S_str(op, F_SEALED, &b->arena), name,
                                     err)
                        : -1;
        S_name_free(name);
        if (rc < 0)
            return -1;
        op->lazy = 0;
    }
    return 0;
}

/* Decodes the raw ops idx[0 .. n) of a batch (their rows differ: they
 * are written) through S_decode, as a replay that does not keep the
 * inbox would have. */
static int S_decode_raw(projections *p, S_batch *b, const size_t *idx,
                        size_t n, folio_err *err)
{
    for (size_t i = 0; i < n; i++) {
        S_op *op = &b->op[idx[i]];
        if (!op->raw)
            continue;
        /* the arena may move while the op's fields go in */
        char *text = util_strdup(S_str(op, F_RAW, &b->arena));
        if (!text)
            return err_set(err, "projections: out of memory");
        store_event ev = {.position = op->position, .type = p->t_contact->name,
                          .schema_version = op->schema_version, .data = text,
                          .recorded_at = op->recorded_at};
        unsigned changed = 0; /* no stats asked: nothing counted */
        int rc = S_decode(p, NULL, 0, NULL, &ev, PROJ_INBOX, op, &b->arena,
                          &changed, err);
        free(text);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Ops idx[0 .. n) of a batch into one table, in one statement (reading
 * t's cols through folio_rows), or those that differ from the table's
 * rows when the replay keeps it; each op then kept by t's hold for the
 * rebuild's end. */
static int S_write_rows(S_feed *f, S_batch *b, const size_t *idx,
                        size_t n, const S_tab *t)
{
    S_writer *w = f->w;
    size_t differ[S_BATCH];
    S_rows rows = {n, S_op_col, b, idx, t->cols};
    int which = t->rows;
    if (w->keep & t->bit) {
        long long m = 0;
        for (size_t i = 0; b->marked && i < n; i++)
            if (b->differs[idx[i]])
                differ[m++] = idx[i];
        if (!b->marked)
            m = S_keep_differ(S_w(w, t->scan, &f->err), t, b, idx, n,
                              f->p->v, differ, &f->err);
        if (m < 0 || S_open_lazy(f->p, b, differ, (size_t)m, &f->err) < 0 ||
            S_decode_raw(f->p, b, differ, (size_t)m, &f->err) < 0)
            return -1;
        w->made[t->keep] += (long long)n;
        which = t->put;
        rows.n = (size_t)m;
        rows.b = differ;
    }
    sqlite3_stmt *st = rows.n ? S_w(w, which, &f->err) : NULL;
    if (rows.n && (!st || S_vrun(w->db, st, &rows, &f->err) < 0 ||
                   S_sess_check(w, &f->err) < 0))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (t->hold(w, &b->op[idx[i]], &b->arena, &f->err) < 0)
            return -1;
    if (rows.n)
        f->changed |= t->bit;
    return 0;
}

static const S_tab S_tab_mem = {W_MEM_ROWS, W_MEM_PUT, W_MEM_SCAN,
                                S_KEEP_MEM, S_mem_cols,
                                sizeof S_mem_cols / sizeof S_mem_cols[0],
                                S_memp_hold_op, PROJ_MEMBERS};
static const S_tab S_tab_inb = {W_INB_ROWS, W_INB_PUT, W_INB_SCAN,
                                S_KEEP_INB, S_inb_cols,
                                sizeof S_inb_cols / sizeof S_inb_cols[0],
                                S_irows_hold, PROJ_INBOX};

/* Which of a batch's statements writes op: 0 its members (names
 * opened; a rebuild's, whose members_private rows wait), 1 its contact
 * requests, -1 neither (written one by one). */
static int S_batch_row(const S_op *op, int defer)
{
    if (op->kind == S_OP_MEMBER && !op->late && defer)
        return 0;
    return op->kind == S_OP_CONTACT ? 1 : -1;
}

/* For a replay that keeps the tables: the rows of a decoded batch
 * compared with the tables' through the decoding thread's own statements
 * scan[0] (members) and scan[1] (inbox; NULL: a table not kept, whose
 * rows are all written), so both threads share the
 * comparing; b->differs marks those to write. In the replay's write
 * transaction the writer has changed only rows that differed, at earlier
 * positions, which its connection sees and this one may not: a row
 * made twice that way shows in the counts (S_keep_counts). */
static int S_batch_mark(S_batch *b, sqlite3_stmt *const scan[2],
                        const vault *v, folio_err *err)
{
    size_t idx[2][S_BATCH], n[2] = {0, 0}, out[S_BATCH];
    memset(b->differs, 0, b->n);
    for (size_t i = 0; i < b->n; i++) {
        int r = S_batch_row(&b->op[i], 1);
        if (r >= 0)
            idx[r][n[r]++] = i;
    }
    for (int t = 0; t < 2; t++) {
        if (!scan[t])
            continue; /* a table not kept */
        long long m = n[t] ? S_keep_differ(scan[t], t ? &S_tab_inb
                                                      : &S_tab_mem,
                                           b, idx[t], n[t], v, out, err)
                           : 0;
        if (m < 0)
            return -1;
        for (long long i = 0; i < m; i++)
            b->differs[out[i]] = 1;
    }
    b->marked = 1;
    return 0;
}

/* Settles the batch's unsure ops (S_op.unsure) through vr: a member
 * whose key is destroyed is none, one whose key vr cannot tell about is
 * opened by this thread (late). The first such op has vr read the
 * destroyed keys: until then decoding asks without waiting, so the other
 * thread decodes ahead meanwhile instead of waiting too. */
static int S_batch_sure(S_batch *b, vault_reader *vr, folio_err *err)
{
    for (size_t i = 0; i < b->n; i++) {
        S_op *op = &b->op[i];
        if (!op->unsure)
            continue;
        int r = vr ? vault_reader_state(vr, S_str(op, F_STEXT, &b->arena),
                                        S_str(op, F_SEALED, &b->arena),
                                        op->recorded_at, 1, err)
                   : 3;
        if (r < 0)
            return err_prefix(err, "event %lld", op->position);
        op->unsure = 0;
        if (r == 1)
            op->kind = S_OP_NONE;
        else if (r != 0)
            op->late = 1, op->lazy = 0;
    }
    return 0;
}

/* Writes a decoded batch: its members (names opened) and contact
 * requests one statement each, the rest one by one. Order between rows
 * does not matter: rows are keyed by position, notes are applied at the
 * end, members_private is sorted anyway. */
static int S_batch_write(S_feed *f, S_batch *b)
{
    if (b->failed) {
        f->err = b->err;
        return -1;
    }
    if (S_batch_sure(b, f->pipe ? f->pipe->keys.vr : NULL, &f->err) < 0)
        return -1;
    f->changed |= b->changed;
    size_t mem[S_BATCH], inb[S_BATCH], nm = 0, ni = 0;
    for (size_t i = 0; i < b->n; i++) {
        const S_op *op = &b->op[i];
        int row = S_batch_row(op, f->w->defer);
        if (row == 0)
            mem[nm++] = i;
        else if (row == 1)
            inb[ni++] = i;
        else if (op->kind != S_OP_NONE &&
                 S_write(f->p, f->w, op, &b->arena, &f->changed, &f->err) < 0)
            return -1;
    }
    if ((nm && S_write_rows(f, b, mem, nm, &S_tab_mem) < 0) ||
        (ni && S_write_rows(f, b, inb, ni, &S_tab_inb) < 0))
        return -1;
    return 0;
}

typedef struct S_fill {
    S_pipe *pp;
    S_batch *b;
    S_acc *acc;
    vault_reader *vr;
} S_fill;

static int S_fill_event(void *ud, const store_event *ev)
{
    S_fill *fl = ud;
    S_feed *f = fl->pp->f;
    S_batch *b = fl->b;
    if (b->n == S_BATCH) /* cannot happen: ranges are S_BATCH long */
        return err_set(&b->err, "projections: a range overflowed");
    /* a replay that keeps tables compares names unopened, and contact
     * requests undecoded */
    if (S_decode(f->p, fl->vr, f->w->keep, fl->acc, ev,
                 S_active(f, ev->position),
                 &b->op[b->n], &b->arena, &b->changed, &b->err) < 0)
        return -1;
    b->n++;
    return 0;
}

/* Both threads read the log through pread and a small page cache, not a
 * memory map: a map's pages stay in the process's RSS until it is
 * unmapped, and mapping a few ranges at a time then unmapping them cost
 * more in page faults and unmaps than the reads' copies (measured: about
 * 3 % of a replay's CPU more). */

static int S_keys(projections *p, S_keyring *k, folio_err *err)
{
    k->vr = NULL;
    if (store_open_reader(p->st, &k->st, err) < 0)
        return -1;
    if (vault_reader_open(p->v, store_db(k->st), S_keys_half, &k->vr,
                          err) < 0) {
        store_close(k->st);
        k->st = NULL;
        return -1;
    }
    return 0;
}

static void S_keys_close(S_keyring *k)
{
    vault_reader_close(k->vr);
    store_close(k->st);
    k->vr = NULL;
    k->st = NULL;
}

/* Reads and decodes range k through st into its slot (claimed, B_BUSY),
 * and when the replay keeps tables compares its rows through scan (st's
 * statements, S_batch_mark; NULL: the writer compares them). */
static void S_range_decode(S_pipe *pp, store *st, vault_reader *vr,
                           S_acc *acc, long long k, sqlite3_stmt *const *scan)
{
    S_batch *b = &pp->b[k % S_SLOTS];
    long long after = k * S_BATCH;
    long long upto = pp->end - after < S_BATCH ? pp->end : after + S_BATCH;
    S_fill fl = {pp, b, acc, vr};
    folio_err err = {{0}};
    if (store_read_data(st, after, upto, S_fill_event, &fl, &err) != 0 ||
        (scan && S_batch_mark(b, scan, pp->f->p->v, &err) < 0)) {
        if (!b->err.msg[0])
            b->err = err;
        b->failed = 1;
    }
}

/* A thread's statements for S_batch_mark on db: 0, or -1 when a kept
 * table's could not be made (the writer then compares). */
static int S_scans(const S_writer *w, sqlite3 *db, sqlite3_stmt *scan[2])
{
    folio_err err;
    scan[0] = scan[1] = NULL;
    if (w->keep & PROJ_MEMBERS)
        scan[0] = S_wprep(db, W_MEM_SCAN, w->schema, w->suffix, &err);
    if (w->keep & PROJ_INBOX)
        scan[1] = S_wprep(db, W_INB_SCAN, w->schema, w->suffix, &err);
    if ((!(w->keep & PROJ_MEMBERS) || scan[0]) &&
        (!(w->keep & PROJ_INBOX) || scan[1]))
        return 0;
    sqlite3_finalize(scan[0]);
    sqlite3_finalize(scan[1]);
    scan[0] = scan[1] = NULL;
    return -1;
}

/* Claims the next range while its slot is free: its number, or -1. */
static long long S_claim(S_pipe *pp)
{
    if (pp->quit || pp->claimed == pp->nranges ||
        pp->claimed >= pp->written + S_SLOTS)
        return -1;
    long long k = pp->claimed++;
    S_batch *b = &pp->b[k % S_SLOTS];
    b->state = B_BUSY;
    b->n = 0;
    b->changed = 0;
    b->failed = 0;
    b->marked = 0;
    b->err.msg[0] = '\0';
    S_arena_clear(&b->arena);
    return k;
}

/* S_range_decode in ja (NULL: on malloc), then back in whatever arena
 * this thread was in. */
static void S_range_in(jarena *ja, S_pipe *pp, store *st, vault_reader *vr, S_acc *acc,
                       long long k, sqlite3_stmt *const *scan)
{
    jarena_state was = jarena_save();
    jarena_enter(ja);
    S_jown = ja;
    S_range_decode(pp, st, vr, acc, k, scan);
    S_jown = NULL;
    jarena_restore(was);
}

static void *S_pipe_main(void *ud)
{
    S_pipe *pp = ud;
    jarena *ja = jarena_new(S_JARENA_CAP); /* this thread's, for every range it decodes */
    /* without a window it must not decode: only the writer may ask the
     * vault itself */
    int can = !pp->f->p->v || pp->keys.vr;
    const S_writer *w = pp->f->w;
    sqlite3_stmt *scan[2];
    int marks = (w->keep & (PROJ_MEMBERS | PROJ_INBOX)) &&
                S_scans(w, store_db(pp->rd), scan) == 0;
    pthread_mutex_lock(&pp->mu);
    while (can) {
        long long k = S_claim(pp);
        if (k < 0) {
            if (pp->quit || pp->claimed == pp->nranges)
                break;
            pthread_cond_wait(&pp->cv, &pp->mu);
            continue;
        }
        pthread_mutex_unlock(&pp->mu);
        S_range_in(ja, pp, pp->rd, pp->keys.vr, &pp->acc, k, marks ? scan : NULL);
        pthread_mutex_lock(&pp->mu);
        pp->b[k % S_SLOTS].state = B_READY;
        pthread_cond_broadcast(&pp->cv);
    }
    pthread_mutex_unlock(&pp->mu);
    jarena_free(ja);
    if (marks) {
        sqlite3_finalize(scan[0]);
        sqlite3_finalize(scan[1]);
    }
    return NULL;
}

static void S_batch_free(S_batch *b)
{
    S_arena_clear(&b->arena);
    buf_free(&b->arena);
}

/* Starts the helper on its own connection: 0, or -1 when it cannot (the
 * caller then reads on one thread). */
/* A second connection for a rebuild's other thread, or NULL. */
static store *S_reader(projections *p)
{
    store *rd = NULL;
    folio_err err;
    if (store_open_reader(p->st, &rd, &err) != 0)
        return NULL;
    return rd;
}

static int S_pipe_start(S_pipe *pp, S_feed *f, long long end, store *rd)
{
    memset(pp, 0, sizeof *pp);
    pp->f = f;
    pp->end = end;
    pp->nranges = (end + S_BATCH - 1) / S_BATCH;
    pp->own_rd = !rd;
    /* on the heap: S_SLOTS ranges of decoded events, several MB */
    if (!(pp->b = calloc(S_SLOTS, sizeof *pp->b)))
        return -1;
    if (!rd && !(rd = S_reader(f->p))) {
        free(pp->b);
        return -1;
    }
    pp->rd = rd;
    folio_err kerr; /* none: the writer opens every name through the vault */
    if (f->p->v && S_keys(f->p, &pp->keys, &kerr) < 0)
        pp->keys.vr = NULL;
    if (pthread_mutex_init(&pp->mu, NULL) != 0)
        goto fail_store;
    if (pthread_cond_init(&pp->cv, NULL) != 0)
        goto fail_mutex;
    if (pthread_create(&pp->thread, NULL, S_pipe_main, pp) != 0)
        goto fail_cond;
    f->pipe = pp;
    return 0;
fail_cond:
    pthread_cond_destroy(&pp->cv);
fail_mutex:
    pthread_mutex_destroy(&pp->mu);
fail_store:
    S_keys_close(&pp->keys);
    if (pp->own_rd)
        store_close(pp->rd);
    pp->rd = NULL;
    free(pp->b);
    return -1;
}

/* Writes range after range, decoding here whenever the next is not ready;
 * then stops the helper and merges its counts. rc < 0: the tables could
 * not be made; the helper is only stopped. */
static int S_pipe_run(S_pipe *pp, int rc)
{
    S_feed *f = pp->f;
    jarena *ja = jarena_new(S_JARENA_CAP); /* for the ranges this thread decodes */
    /* the writer's own statements (S_w) compare the ranges it decodes */
    S_writer *w = f->w;
    folio_err serr;
    sqlite3_stmt *scan[2] = {
        w->keep & PROJ_MEMBERS ? S_w(w, W_MEM_SCAN, &serr) : NULL,
        w->keep & PROJ_INBOX ? S_w(w, W_INB_SCAN, &serr) : NULL};
    int marks = (w->keep & (PROJ_MEMBERS | PROJ_INBOX)) &&
                (!(w->keep & PROJ_MEMBERS) || scan[0]) &&
                (!(w->keep & PROJ_INBOX) || scan[1]);
    pthread_mutex_lock(&pp->mu);
    while (rc == 0 && pp->written < pp->nranges) {
        S_batch *b = &pp->b[pp->written % S_SLOTS];
        if (b->state == B_READY) {
            pthread_mutex_unlock(&pp->mu);
            rc = S_batch_write(f, b);
            pthread_mutex_lock(&pp->mu);
            b->state = B_FREE;
            pp->written++;
            pthread_cond_broadcast(&pp->cv);
            continue;
        }
        long long k = S_claim(pp);
        if (k < 0) {
            pthread_cond_wait(&pp->cv, &pp->mu);
            continue;
        }
        pthread_mutex_unlock(&pp->mu);
        S_range_in(ja, pp, f->p->st, pp->keys.vr, &f->w->acc, k, marks ? scan : NULL);
        pthread_mutex_lock(&pp->mu);
        pp->b[k % S_SLOTS].state = B_READY;
    }
    pp->quit = 1;
    pthread_cond_broadcast(&pp->cv);
    pthread_mutex_unlock(&pp->mu);
    jarena_free(ja);
    pthread_join(pp->thread, NULL);
    S_keys_close(&pp->keys);
    if (rc < 0)
        f->failed = 1;
    if (rc == 0 && S_acc_merge(&f->w->acc, &pp->acc) < 0) {
        err_set(&f->err, "projections: out of memory");
        f->failed = 1;
        rc = -1;
    }
    S_acc_free(&pp->acc);
    pthread_cond_destroy(&pp->cv);
    pthread_mutex_destroy(&pp->mu);
    for (size_t i = 0; i < S_SLOTS; i++)
        S_batch_free(&pp->b[i]);
    free(pp->b);
    if (pp->own_rd)
        store_close(pp->rd);
    f->pipe = NULL;
    return rc;
}

/* ---- checkpoints ------------------------------------------------------ */

typedef struct S_cp {
    int found;
    int version;
    long long position;
} S_cp;

static int S_cp_load(projections *p, S_cp cps[S_NDEFS], folio_err *err)
{
    memset(cps, 0, sizeof(S_cp) * S_NDEFS);
    if (!p->cp_load &&
        sqlite3_prepare_v3(p->db,
                           "SELECT name, version, position FROM"
                           " main.projection_checkpoints",
                           -1, SQLITE_PREPARE_PERSISTENT, &p->cp_load,
                           NULL) != SQLITE_OK) {
        p->cp_load = NULL;
        return S_sqlerr(p->db, err, "projections: checkpoints");
    }
    sqlite3_stmt *st = p->cp_load;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        for (size_t i = 0; name && i < S_NDEFS; i++)
            if (!strcmp(name, S_defs[i].name)) {
                cps[i].found = 1;
                cps[i].version = sqlite3_column_int(st, 1);
                cps[i].position = sqlite3_column_int64(st, 2);
            }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return S_sqlerr(p->db, err, "projections: checkpoints");
    return 0;
}

static int S_cp_save(projections *p, size_t i, long long position,
                     folio_err *err)
{
    if (!p->cp_save &&
        sqlite3_prepare_v3(p->db,
                           "INSERT INTO main.projection_checkpoints (name,"
                           " version, position) VALUES (?1, ?2, ?3) ON"
                           " CONFLICT (name) DO UPDATE SET version ="
                           " excluded.version, position = excluded.position",
                           -1, SQLITE_PREPARE_PERSISTENT, &p->cp_save,
                           NULL) != SQLITE_OK) {
        p->cp_save = NULL;
        return S_sqlerr(p->db, err, "projections: checkpoint");
    }
    sqlite3_stmt *st = p->cp_save;
    sqlite3_bind_text(st, 1, S_defs[i].name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, S_defs[i].version);
    sqlite3_bind_int64(st, 3, position);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return S_sqlerr(p->db, err, "projections: checkpoint");
    return 0;
}

int projections_catch_up(projections *p, unsigned *changed, folio_err *err)
{
    *changed = 0;
    if (p->as_of)
        return err_set(err, "projections: an as-of copy is read-only");
    /* the checkpoints in the table must be current before reading on */
    if (p->in_tx && projections_flush(p, err) < 0)
        return -1;
    S_cp cps[S_NDEFS];
    if (S_cp_load(p, cps, err) < 0)
        return -1;
    S_feed f = {.p = p, .w = &p->live};
    long long from = -1;
    for (size_t i = 0; i < S_NDEFS; i++) {
        f.cp[i] = cps[i].position;
        if (from < 0 || cps[i].position < from)
            from = cps[i].position;
    }
    long long last = from;
    int rc = store_read_all(p->st, from, 0, S_feed_event, &f, &last, err);
    if (S_feed_done(&f, rc, err) < 0 ||
        S_flush(p, &p->live, &p->live.acc, PROJ_ALL, &f.changed, err) < 0) {
        S_acc_free(&p->live.acc);
        return -1;
    }
    for (size_t i = 0; i < S_NDEFS; i++)
        if (last > cps[i].position && S_cp_save(p, i, last, err) < 0)
            return -1;
    *changed = f.changed;
    return 0;
}

/* ---- group commit: events applied from memory ---------------------------
 * A writer that appends an event knows it whole: reading it back from the
 * log and parsing its JSON again, and writing the stats and three
 * checkpoints for every event, was most of a command's cost. Inside one
 * write transaction the log only grows by this connection's appends, so
 * once caught up (projections_tx_begin) each appended event is the next
 * position; the stats counts and checkpoints are written once, just before
 * the commit (projections_flush). */

static void S_tx_reset(projections *p)
{
    S_acc_free(&p->live.acc);
    p->in_tx = p->cp_dirty = p->broken = 0;
    p->nstaged = 0;
}

int projections_tx_begin(projections *p, unsigned *changed, folio_err *err)
{
    *changed = 0;
    if (p->in_tx)
        return 0;
    S_tx_reset(p);
    S_cp cps[S_NDEFS];
    if (projections_catch_up(p, changed, err) < 0 || S_cp_load(p, cps, err) < 0)
        return -1;
    for (size_t i = 0; i < S_NDEFS; i++)
        if (!cps[i].found || cps[i].position != cps[0].position)
            return 0; /* out of step: projections_apply reads the log */
    p->cp = cps[0].position;
    p->in_tx = 1;
    return 0;
}

/* Writes what the kept commands collected and the checkpoints, if the
 * transaction began with projections_tx_begin; ends it either way. */
int projections_flush(projections *p, folio_err *err)
{
    int rc = 0;
    if (p->broken)
        rc = err_set(err, "projections: out of memory");
    if (rc == 0 && p->in_tx && p->live.acc.ntypes)
        rc = S_acc_flush(&p->live, &p->live.acc, err);
    for (size_t i = 0; rc == 0 && p->in_tx && p->cp_dirty && i < S_NDEFS; i++)
        rc = S_cp_save(p, i, p->cp, err);
    S_tx_reset(p);
    return rc;
}

void projections_discard(projections *p)
{
    S_tx_reset(p);
}

void projections_cmd_end(projections *p, int keep)
{
    for (size_t i = 0; keep && i < p->nstaged; i++) {
        if (S_acc_add(&p->live.acc, p->staged[i].type,
                      p->staged[i].recorded_at) < 0)
            p->broken = 1;
        p->cp = p->staged[i].position;
        p->cp_dirty = 1;
    }
    p->nstaged = 0;
}

int projections_apply(projections *p, const store_event *ev,
                      const cJSON *data, unsigned *changed, folio_err *err)
{
    const events_type *t = events_find(ev->type);
    long long at = p->nstaged ? p->staged[p->nstaged - 1].position : p->cp;
    if (!p->in_tx || !t || ev->schema_version != t->version ||
        ev->position != at + 1 || p->nstaged == S_MAX_STAGED) {
        if (p->nstaged)
            return err_set(err, "projections: event %lld is out of step with"
                           " the log", ev->position);
        /* Read the log instead: what the kept commands collected is
         * written first, since the catch-up goes from the checkpoints. */
        unsigned c = 0;
        if (projections_flush(p, err) < 0 ||
            projections_catch_up(p, &c, err) < 0)
            return -1;
        *changed |= c;
        return 0;
    }
    if (S_apply_data(p, &p->live, ev, t, data, changed, err) < 0 ||
        S_flush_notes(p, &p->live, PROJ_ALL, changed, err) < 0)
        return -1;
    p->staged[p->nstaged++] =
        (S_staged){t->name, ev->recorded_at, ev->position};
    *changed |= PROJ_STATS;
    return 0;
}

/* ---- replay ----------------------------------------------------------- */

static int S_create(sqlite3 *db, unsigned mask, const char *schema,
                    const char *suffix, folio_err *err)
{
    for (size_t i = 0; i < S_NDEFS; i++) {
        if (!(mask & S_defs[i].bit))
            continue;
        for (size_t k = 0; S_defs[i].tables[k]; k++) {
            char sql[256];
            int n = snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s.%s%s",
                             schema, S_defs[i].tables[k], suffix);
            if (n < 0 || (size_t)n >= sizeof sql)
                return err_set(err, "projections: name too long");
            if (S_exec(db, sql, err) < 0 ||
                S_exec_t(db, S_defs[i].ddl[k], schema, suffix, err) < 0)
                return -1;
        }
    }
    return 0;
}

/* A rebuild writes every page of the new tables and reads the whole log.
 * With SQLite's default 2 MB cache the new pages spill to the WAL one by
 * one; a larger cache for the duration of the rebuild makes it several
 * times faster. The tables are appended to, so a cache of S_CACHE_KIB holds their
 * growing ends as well as a larger one would (and bounds SQLite's sorts,
 * whose memory follows the main cache size).
 * secure_delete would also zero every page of the tables a replay drops:
 * what a forget removed was zeroed when it was deleted, so FAST is enough
 * for the rest. The connection's settings are put back afterwards. */
#define S_CACHE_KIB "16384"

static long long S_pragma_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

typedef struct S_tuning {
    long long cache_main, cache_temp, secure, sync;
} S_tuning;

/* synchronous=NORMAL for the rebuild's one commit: a rebuild holds nothing
 * the log does not, and WAL keeps it atomic; a crash can only lose it
 * whole, leaving the old tables and checkpoints, which the next open
 * catches up. */
static void S_tune(sqlite3 *db, S_tuning *saved)
{
    saved->cache_main = S_pragma_int(db, "PRAGMA main.cache_size");
    saved->cache_temp = S_pragma_int(db, "PRAGMA temp.cache_size");
    saved->secure = S_pragma_int(db, "PRAGMA main.secure_delete");
    saved->sync = S_pragma_int(db, "PRAGMA main.synchronous");
    sqlite3_exec(db, "PRAGMA main.cache_size = -" S_CACHE_KIB ";"
                     " PRAGMA temp.cache_size = -" S_CACHE_KIB ";"
                     " PRAGMA main.secure_delete = FAST;"
                     " PRAGMA main.synchronous = NORMAL",
                 NULL, NULL, NULL);
}

static void S_untune(sqlite3 *db, const S_tuning *saved)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "PRAGMA main.cache_size = %lld; PRAGMA temp.cache_size = %lld;"
             " PRAGMA main.secure_delete = %lld;"
             " PRAGMA main.synchronous = %lld",
             saved->cache_main, saved->cache_temp, saved->secure,
             saved->sync);
    sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Runs one kind of S_def statements of the projections in mask. */
enum { S_IDX, S_RESET, S_FILL, S_FIN };
static int S_steps(sqlite3 *db, unsigned mask, int which, const char *schema,
                   const char *suffix, folio_err *err)
{
    for (size_t i = 0; i < S_NDEFS; i++) {
        const S_def *d = &S_defs[i];
        const char *const *sql = which == S_IDX     ? d->idx
                                 : which == S_RESET ? d->reset
                                 : which == S_FILL  ? d->fill
                                                    : d->fin;
        for (size_t k = 0; (mask & S_defs[i].bit) && sql[k]; k++)
            if (S_exec_t(db, sql[k], schema, suffix, err) < 0)
                return -1;
    }
    return 0;
}

/* Inside a rebuild's transaction: the other thread's connection (*rd,
 * NULL when none: one thread reads). The log is read by position, which
 * no writer changes; under the write lock (a replay, a check) the keys
 * do not change either. Without it (an as-of copy) an erasure may come
 * while the copy is built, and names read after it show as redacted,
 * as they will from then on. */
static void S_rebuild_begin(projections *p, store **rd)
{
    *rd = S_reader(p);
}

/* Before the transaction ends: the connection closed. */
static void S_rebuild_end(store **rd)
{
    store_close(*rd);
    *rd = NULL;
}

/* After a replay that keeps tables has made its rows (S_keep_differ):
 * 1 when a kept table holds rows it did not make (or lost some of them
 * to a key made twice), 0 when it holds just those, -1 on error. */
static int S_keep_counts(S_writer *w, folio_err *err)
{
    static const struct {
        unsigned bit;
        const char *table;
        int made;
    } t[] = {{PROJ_MEMBERS, "members", S_KEEP_MEM},
             {PROJ_MEMBERS, "members_private", S_KEEP_MEMP},
             {PROJ_INBOX, "inbox", S_KEEP_INB}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (!(w->keep & t[i].bit))
            continue;
        char sql[128];
        sqlite3_stmt *st = NULL;
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.%s%s", w->schema,
                 t[i].table, w->suffix);
        if (sqlite3_prepare_v2(w->db, sql, -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
            sqlite3_finalize(st);
            return S_sqlerr(w->db, err, "projections: replay");
        }
        long long n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (n != w->made[t[i].made])
            return 1;
    }
    return 0;
}

/* Streams the log (up to until_ms, or all when until_ms < 0) into the
 * tables schema.T<suffix> of the projections in mask: made here with
 * their indexes, or for those in keep the tables there are (S_keep_*);
 * then applies the batch's notes and ends with the fill and fin steps,
 * through w (set up here; the caller frees it). *last gets the last
 * position. 1: a kept table held rows the replay did not make. */
static int S_build(projections *p, S_writer *w, unsigned mask, unsigned keep,
                   const char *schema, const char *suffix, long long until_ms,
                   store *rd, long long *last, folio_err *err)
{
    S_writer_init(w, p->db, schema, suffix, mask);
    w->defer = 1;
    w->keep = keep &= mask;
    w->sess = p->sess;
    long long end = store_head(p->st);
    if (until_ms >= 0 && store_position_at(p->st, until_ms, &end, err) < 0)
        return -1;
    *last = end;
    S_feed f = {.p = p, .w = w};
    S_pipe pp;
    int rc = 0;
    S_keyring keys = {NULL, NULL};
    /* the helper decodes its first ranges while this thread drops the old
     * tables (it reads every page of them) and makes the new */
    int piped = end > S_BATCH && S_pipe_start(&pp, &f, end, rd) == 0;
    if (S_create(p->db, mask & ~keep, schema, suffix, err) < 0 ||
        S_steps(p->db, mask & ~keep, S_IDX, schema, suffix, err) < 0) {
        if (piped)
            S_pipe_run(&pp, -1);
        buf_free(&f.arena);
        return -1;
    }
    if (piped) {
        rc = S_pipe_run(&pp, 0);
    } else {
        folio_err kerr; /* without a window, names are opened one by one */
        if (end > 0 && p->v && S_keys(p, &keys, &kerr) < 0)
            keys.vr = NULL;
        f.vr = keys.vr;
        if (end > 0)
            rc = store_read_data(p->st, 0, end, S_feed_event, &f, err);
    }
    S_keys_close(&keys);
    unsigned changed = 0;
    int r = 0;
    /* the pipe is done with rd: the last drain may compare on it */
    w->rd = rd ? store_db(rd) : NULL;
    if (S_feed_done(&f, rc, err) < 0 || S_memp_drain(w, err) < 0 ||
        (keep && (r = S_keep_counts(w, err)) != 0) ||
        S_steps(p->db, keep, S_RESET, schema, suffix, err) < 0 ||
        S_flush(p, w, &w->acc, mask, &changed, err) < 0 ||
        S_steps(p->db, mask, S_FILL, schema, suffix, err) < 0)
        return r > 0 ? 1 : -1;
    return S_steps(p->db, mask & ~keep, S_FIN, schema, suffix, err);
}

/* A private copy of the projections in mask in the temp database. */
static int S_build_copy(projections *p, unsigned mask, const char *suffix,
                        long long until_ms, store *rd, long long *last,
                        folio_err *err)
{
    S_writer w;
    int rc = S_build(p, &w, mask, 0, "temp", suffix, until_ms, rd, last,
                     err);
    S_writer_free(&w);
    return rc;
}

/* Inside the write transaction: the live tables dropped and made again
 * (but those in keep), filled from the log, then what the batch
 * collected applied. Readers see the old tables until the commit (WAL
 * keeps their pages), and the new tables reuse the dropped ones' pages
 * instead of growing the file. 1 as S_build. */
static int S_replay_tx(projections *p, unsigned mask, unsigned keep,
                       store *rd, folio_err *err)
{
    S_writer w;
    long long last = 0;
    S_writer_finalize(&p->live); /* it points at the tables dropped */
    int rc = S_build(p, &w, mask, keep, "main", "", -1, rd, &last, err);
    S_writer_free(&w);
    for (size_t i = 0; rc == 0 && i < S_NDEFS; i++)
        if (mask & S_defs[i].bit)
            rc = S_cp_save(p, i, last, err);
    return rc;
}

/* One replay in a transaction of its own: 0 committed, 1 (as S_build)
 * or -1 rolled back. */
static int S_replay_once(projections *p, unsigned mask, unsigned keep,
                         folio_err *err)
{
    int rc = store_begin(p->st, err);
    if (rc < 0)
        return -1;
    store *rd = NULL;
    S_rebuild_begin(p, &rd);
    rc = S_replay_tx(p, mask, keep, rd, err);
    S_rebuild_end(&rd);
    if (rc == 0 && store_commit(p->st, err) < 0)
        rc = -1;
    if (rc != 0) {
        store_rollback(p->st);
        S_writer_finalize(&p->live);
    }
    return rc;
}

static int S_tables_exist(projections *p, const S_def *d, folio_err *err);

/* The projections whose tables are all there and whose checkpoints say
 * this program made them: a replay may keep those (S_keep_*). */
static unsigned S_keepable(projections *p)
{
    S_cp cps[S_NDEFS];
    folio_err err;
    unsigned ok = 0;
    if (S_cp_load(p, cps, &err) < 0)
        return 0;
    for (size_t i = 0; i < S_NDEFS; i++)
        if (cps[i].found && cps[i].version == S_defs[i].version &&
            S_tables_exist(p, &S_defs[i], &err) == 1)
            ok |= S_defs[i].bit;
    return ok;
}

/* Replays the projections in mask, keeping the tables of those in keep
 * that it can; where a kept table held rows the replay did not make, or
 * could not be read, it starts again with fresh tables. */
static int S_replay(projections *p, unsigned mask, unsigned keep,
                    folio_err *err)
{
    if (p->as_of)
        return err_set(err, "projections: an as-of copy is read-only");
    if (store_in_tx(p->st))
        return err_set(err, "projections: replay needs its own transaction");
    mask &= PROJ_ALL;
    if (!mask)
        return 0;
    S_tuning saved;
    S_tune(p->db, &saved);
    int rc = S_replay_once(p, mask, keep & mask, err);
    if (rc != 0 && (keep & mask))
        rc = S_replay_once(p, mask, 0, err);
    S_untune(p->db, &saved);
    return rc == 0 ? 0 : -1;
}

int projections_replay(projections *p, unsigned mask, folio_err *err)
{
    return S_replay(p, mask, S_keepable(p), err);
}

/* ---- check ------------------------------------------------------------ */

/* ---- comparing a table with its replay, side by side ---------------------
 * Both copies of a table have one primary key: read each in key order
 * and walk them together, and the rows one has and the other has not (or
 * has otherwise) are found in one pass, without the temporary b-trees of
 * every row that two EXCEPTs build (a million rows, most of a check's
 * comparing). A table whose key could sort otherwise than by BINARY
 * comparison (a collation) or that has none is left to EXCEPT. */
#define S_KEY_COLS 4

typedef struct S_keyset {
    int n, col[S_KEY_COLS]; /* key columns' places in SELECT * */
    char order[256];        /* "a, b" */
} S_keyset;

/* The primary key of schema.table into k: 1, or 0 when it has none that
 * S_side_by_side can walk, -1 on error. */
static int S_keyset_of(sqlite3 *db, const char *schema, const char *table,
                       S_keyset *k, folio_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT cid, name FROM pragma_table_info(?1, ?2)"
                               " WHERE pk > 0 ORDER BY pk", -1, &st,
                           NULL) != SQLITE_OK)
        return S_sqlerr(db, err, "projections: check");
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, schema, -1, SQLITE_STATIC);
    int rc, ok = 1;
    size_t len = 0;
    k->n = 0;
    k->order[0] = '\0';
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        const char *coll = NULL;
        if (!name || k->n == S_KEY_COLS ||
            sqlite3_table_column_metadata(db, schema, table, name, NULL,
                                          &coll, NULL, NULL, NULL) != SQLITE_OK ||
            !coll || strcmp(coll, "BINARY") != 0) {
            ok = 0;
            continue;
        }
        k->col[k->n++] = sqlite3_column_int(st, 0);
        int n = snprintf(k->order + len, sizeof k->order - len, "%s\"%s\"",
                         len ? ", " : "", name);
        if (n < 0 || (size_t)n >= sizeof k->order - len || strchr(name, '"'))
            ok = 0;
        else
            len += (size_t)n;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return S_sqlerr(db, err, "projections: check");
    return ok && k->n > 0;
}

/* SQLite's order of two values under BINARY: NULL, numbers, TEXT, BLOB. */
static int S_value_cmp(sqlite3_value *a, sqlite3_value *b)
{
    static const int cls[] = {[SQLITE_NULL] = 0, [SQLITE_INTEGER] = 1,
                              [SQLITE_FLOAT] = 1, [SQLITE_TEXT] = 2,
                              [SQLITE_BLOB] = 3};
    int ta = sqlite3_value_type(a), tb = sqlite3_value_type(b);
    if (cls[ta] != cls[tb])
        return cls[ta] < cls[tb] ? -1 : 1;
    if (cls[ta] == 0)
        return 0;
    if (ta == SQLITE_INTEGER && tb == SQLITE_INTEGER) {
        sqlite3_int64 x = sqlite3_value_int64(a), y = sqlite3_value_int64(b);
        return (x > y) - (x < y);
    }
    if (cls[ta] == 1) {
        double x = sqlite3_value_double(a), y = sqlite3_value_double(b);
        return (x > y) - (x < y);
    }
    const void *pa = ta == SQLITE_TEXT ? (const void *)sqlite3_value_text(a)
                                       : sqlite3_value_blob(a);
    const void *pb = tb == SQLITE_TEXT ? (const void *)sqlite3_value_text(b)
                                       : sqlite3_value_blob(b);
    int na = sqlite3_value_bytes(a), nb = sqlite3_value_bytes(b);
    int c = na && nb ? memcmp(pa, pb, (size_t)(na < nb ? na : nb)) : 0;
    return c ? c : (na > nb) - (na < nb);
}

/* Compares the rows of a and b on cols (or all ncols when cols is NULL). */
static int S_row_cmp(sqlite3_stmt *a, sqlite3_stmt *b, const int *cols,
                     int ncols)
{
    for (int i = 0; i < ncols; i++) {
        int c = cols ? cols[i] : i;
        int r = S_value_cmp(sqlite3_column_value(a, c),
                            sqlite3_column_value(b, c));
        if (r)
            return r;
    }
    return 0;
}

/* Prepares SELECT * FROM schema.table ORDER BY the key. */
static sqlite3_stmt *S_keyed_scan(sqlite3 *db, const char *schema,
                                  const char *table, const S_keyset *k,
                                  folio_err *err)
{
    char sql[512];
    sqlite3_stmt *st = NULL;
    int n = snprintf(sql, sizeof sql, "SELECT * FROM %s.%s ORDER BY %s",
                     schema, table, k->order);
    if (n < 0 || (size_t)n >= sizeof sql) {
        err_set(err, "projections: name too long");
        return NULL;
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        S_sqlerr(db, err, "projections: check");
        return NULL;
    }
    return st;
}

/* main.table against temp.table__chk side by side: *extra rows only
 * in the first (or there otherwise), *missing only in the second. 1
 * done, 0 when the table is not one to walk (EXCEPT then), -1 error. */
static int S_side_by_side(projections *p, const char *table,
                          long long *extra, long long *missing,
                          folio_err *err)
{
    char chk[128];
    S_keyset k;
    int n = snprintf(chk, sizeof chk, "%s__chk", table);
    if (n < 0 || (size_t)n >= sizeof chk)
        return err_set(err, "projections: name too long");
    int r = S_keyset_of(p->db, "main", table, &k, err);
    if (r <= 0)
        return r;
    sqlite3_stmt *a = S_keyed_scan(p->db, "main", table, &k, err);
    sqlite3_stmt *b = a ? S_keyed_scan(p->db, "temp", chk, &k, err) : NULL;
    int ncols = a && b ? sqlite3_column_count(a) : 0;
    if (!b || ncols != sqlite3_column_count(b)) {
        sqlite3_finalize(a);
        sqlite3_finalize(b);
        return b ? 0 : -1;
    }
    *extra = *missing = 0;
    int ra = sqlite3_step(a), rb = sqlite3_step(b);
    while (ra == SQLITE_ROW || rb == SQLITE_ROW) {
        int c = ra != SQLITE_ROW   ? 1
                : rb != SQLITE_ROW ? -1
                                   : S_row_cmp(a, b, k.col, k.n);
        if (c == 0 && S_row_cmp(a, b, NULL, ncols) != 0) {
            ++*extra;
            ++*missing;
        }
        *extra += c < 0;
        *missing += c > 0;
        if (c <= 0)
            ra = sqlite3_step(a);
        if (c >= 0)
            rb = sqlite3_step(b);
    }
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    if (ra != SQLITE_DONE || rb != SQLITE_DONE)
        return S_sqlerr(p->db, err, "projections: check");
    return 1;
}

/* Both directions of EXCEPT, for a table S_side_by_side does not walk. */
static int S_except(projections *p, const char *table, long long *extra,
                    long long *missing, folio_err *err)
{
    char sql[512];
    int n = snprintf(sql, sizeof sql,
                     "SELECT (SELECT count(*) FROM (SELECT * FROM main.%1$s"
                     " EXCEPT SELECT * FROM temp.%1$s__chk)),"
                     " (SELECT count(*) FROM (SELECT * FROM temp.%1$s__chk"
                     " EXCEPT SELECT * FROM main.%1$s))",
                     table);
    if (n < 0 || (size_t)n >= sizeof sql)
        return err_set(err, "projections: name too long");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK)
        return S_sqlerr(p->db, err, "projections: check");
    int rc = sqlite3_step(st);
    *extra = sqlite3_column_int64(st, 0);
    *missing = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return S_sqlerr(p->db, err, "projections: check");
    return 0;
}

/* A table's line of the report, when it differs: 1, else 0; -1. */
static int S_diff_line(buf *report, const char *table, long long extra,
                       long long missing, folio_err *err)
{
    if (!extra && !missing)
        return 0;
    if (buf_printf(report,
                   "projection table %s differs from a fresh replay: %lld"
                   " row(s) not in the replay, %lld row(s) missing\n",
                   table, extra, missing) < 0)
        return err_set(err, "out of memory");
    return 1;
}

static int S_compare(projections *p, const char *table, buf *report,
                     folio_err *err)
{
    long long extra = 0, missing = 0;
    int r = S_side_by_side(p, table, &extra, &missing, err);
    if (r < 0 || (r == 0 && S_except(p, table, &extra, &missing, err) < 0))
        return -1;
    return S_diff_line(report, table, extra, missing, err);
}

/* ---- check by a replay that keeps the tables ------------------------------
 * A replay that keeps the tables (S_keep_*) writes just the rows that
 * differ from the log's, so under a session (SQLite's record of the
 * changes a transaction makes, each row's first and last values) the rows
 * it changed are the differences: a row it added is missing from the
 * table, one it took is not in the replay, one it changed is both. The
 * transaction is rolled back. No copy of the tables is made, nor compared
 * row by row: a healthy store's check costs about what its replay does. */
typedef struct S_diff {
    long long extra, missing;
} S_diff;

/* The session's changes counted per table of the projections (diff[i][k]:
 * S_defs[i].tables[k]); changes that put a row back as it was count for
 * nothing. */
static int S_diff_count(projections *p, sqlite3_session *ss,
                        S_diff diff[S_NDEFS][3], folio_err *err)
{
    int n = 0;
    void *cs = NULL;
    sqlite3_changeset_iter *it = NULL;
    memset(diff, 0, sizeof(S_diff) * S_NDEFS * 3);
    if (sqlite3session_changeset(ss, &n, &cs) != SQLITE_OK ||
        sqlite3changeset_start(&it, n, cs) != SQLITE_OK) {
        sqlite3_free(cs);
        return S_sqlerr(p->db, err, "projections: check");
    }
    while (sqlite3changeset_next(it) == SQLITE_ROW) {
        const char *tab = NULL;
        int ncol = 0, op = 0, ind = 0, changed = 0;
        sqlite3changeset_op(it, &tab, &ncol, &op, &ind);
        for (int c = 0; op == SQLITE_UPDATE && c < ncol && !changed; c++) {
            sqlite3_value *v = NULL;
            changed = sqlite3changeset_new(it, c, &v) == SQLITE_OK && v;
        }
        for (size_t i = 0; tab && i < S_NDEFS; i++)
            for (size_t k = 0; S_defs[i].tables[k]; k++) {
                if (strcmp(tab, S_defs[i].tables[k]) != 0)
                    continue;
                diff[i][k].extra += op == SQLITE_DELETE || changed;
                diff[i][k].missing += op == SQLITE_INSERT || changed;
            }
    }
    int rc = sqlite3changeset_finalize(it);
    sqlite3_free(cs);
    return rc == SQLITE_OK ? 0 : S_sqlerr(p->db, err, "projections: check");
}

/* Inside the check's transaction: the replay that keeps the tables under
 * a session, its differences into diff. 0 done, 1 when it cannot tell
 * (the tables held rows the log never made, or too many rows differ):
 * roll back and compare fresh tables; -1 on error. */
static int S_check_kept(projections *p, store *rd, long long *last,
                        S_diff diff[S_NDEFS][3], folio_err *err)
{
    sqlite3_session *ss = NULL;
    if (sqlite3session_create(p->db, "main", &ss) != SQLITE_OK)
        return S_sqlerr(p->db, err, "projections: check");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < S_NDEFS; i++)
        for (size_t k = 0; rc == 0 && S_defs[i].tables[k]; k++)
            if (sqlite3session_attach(ss, S_defs[i].tables[k]) != SQLITE_OK)
                rc = S_sqlerr(p->db, err, "projections: check");
    S_writer w;
    memset(&w, 0, sizeof w);
    p->sess = ss;
    if (rc == 0) {
        rc = S_build(p, &w, PROJ_ALL, PROJ_ALL, "main", "", -1, rd, last,
                     err);
        if (rc == 0)
            rc = S_sess_check(&w, err); /* the notes' changes too */
        if (rc < 0 && w.sess_full)
            rc = 1;
        S_writer_free(&w);
    }
    p->sess = NULL;
    S_writer_finalize(&p->live);
    if (rc == 0)
        rc = S_diff_count(p, ss, diff, err);
    sqlite3session_delete(ss);
    return rc;
}

static int S_check_cp(const S_def *d, const S_cp *cp, long long last,
                      buf *report)
{
    int r = 0;
    if (!cp->found)
        r = buf_printf(report, "projection %s has no checkpoint\n", d->name);
    else if (cp->version != d->version)
        r = buf_printf(report,
                       "projection %s was built by code version %d, this"
                       " program has %d (run folio replay %s)\n",
                       d->name, cp->version, d->version, d->name);
    else if (cp->position != last)
        r = buf_printf(report,
                       "projection %s is at position %lld, the log at"
                       " %lld\n", d->name, cp->position, last);
    else
        return 0;
    return r < 0 ? -1 : 1;
}

/* A check's scratch tables and an as-of copy are whole projections in
 * the temp database, which store_open keeps in memory (for the statement
 * journals of commands): for them it goes to a file, its pages in memory
 * bounded by temp.cache_size, and so do the temporary b-trees of the
 * comparisons. Switching drops temp's tables: the notes' tables are made
 * again. Outside a transaction only. */
static int S_temp_store(projections *p, long long mode, folio_err *err)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA temp_store = %lld", mode);
    return S_exec(p->db, sql, err) < 0 ||
                   S_exec(p->db, S_pending_ddl, err) < 0
               ? -1
               : 0;
}

enum { S_TEMP_FILE = 1 };

int projections_check(projections *p, buf *report, folio_err *err)
{
    if (p->as_of)
        return err_set(err, "projections: an as-of copy cannot be checked");
    long long temp_mode = S_pragma_int(p->db, "PRAGMA temp_store");
    if (S_temp_store(p, S_TEMP_FILE, err) < 0)
        return -1;
    /* The write lock gives the replay and the live tables one moment of
     * the log; nothing is written to main and the scratch tables in temp
     * go with the rollback. */
    S_tuning saved;
    S_tune(p->db, &saved);
    if (store_begin(p->st, err) < 0) {
        S_untune(p->db, &saved);
        S_temp_store(p, temp_mode, NULL);
        return -1;
    }
    int differs = 0, kept = 0;
    S_cp cps[S_NDEFS];
    S_diff diff[S_NDEFS][3];
    long long last = 0;
    store *rd = NULL;
    int rc = S_cp_load(p, cps, err);
    S_rebuild_begin(p, &rd);
    if (rc == 0 && S_keepable(p) == PROJ_ALL) {
        rc = S_check_kept(p, rd, &last, diff, err);
        kept = rc == 0;
        if (rc == 1) { /* compare fresh tables instead */
            store_rollback(p->st);
            rc = store_begin(p->st, err) < 0 || S_cp_load(p, cps, err) < 0
                     ? -1 : 0;
        }
    }
    if (rc == 0 && !kept)
        rc = S_build_copy(p, PROJ_ALL, "__chk", -1, rd, &last, err);
    S_rebuild_end(&rd);
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < S_NDEFS; i++) {
        int r = S_check_cp(&S_defs[i], &cps[i], last, report);
        if (r < 0) {
            err_set(err, "out of memory");
            goto fail;
        }
        differs |= r;
        if (cps[i].found && cps[i].version != S_defs[i].version)
            continue; /* the shapes differ: comparing rows means nothing */
        for (size_t k = 0; S_defs[i].tables[k]; k++) {
            const char *t = S_defs[i].tables[k];
            r = kept ? S_diff_line(report, t, diff[i][k].extra,
                                   diff[i][k].missing, err)
                     : S_compare(p, t, report, err);
            if (r < 0)
                goto fail;
            differs |= r;
        }
    }
    store_rollback(p->st);
    S_untune(p->db, &saved);
    return S_temp_store(p, temp_mode, err) < 0 ? -1 : differs;
fail:
    store_rollback(p->st);
    S_untune(p->db, &saved);
    S_temp_store(p, temp_mode, NULL);
    return -1;
}

/* ---- open and close --------------------------------------------------- */

static projections *S_new(store *st, vault *v, const char *schema)
{
    if (jarena_hooks() != 0)
        return NULL;
    projections *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->st = st;
    p->db = store_db(st);
    if (sqlite3_create_module_v2(p->db, "folio_rows", &S_vmodule, NULL,
                                 NULL) != SQLITE_OK) {
        free(p);
        return NULL;
    }
    p->v = v;
    snprintf(p->schema, sizeof p->schema, "%s", schema);
    S_writer_init(&p->live, p->db, schema, "", PROJ_ALL);
    p->held = PROJ_ALL;
    p->t_user = events_find("UserRegistered");
    p->t_contact = events_find("ContactRequestSubmitted");
    p->t_handled = events_find("ContactRequestHandled");
    p->t_forgot = events_find("PersonForgotten");
    p->t_verified = events_find("MemberVerified");
    p->t_status = events_find("ContactRequestStatusChanged");
    p->t_hidden = events_find("MemberHiddenChanged");
    p->t_role = events_find("MemberRoleChanged");
    p->t_renamed = events_find("MemberRenamed");
    return p;
}

/* 1 when every table of d exists in main, 0 when not, -1 on error. */
static int S_tables_exist(projections *p, const S_def *d, folio_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(p->db,
                           "SELECT 1 FROM main.sqlite_schema WHERE"
                           " type = 'table' AND name = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return S_sqlerr(p->db, err, "projections: schema");
    int all = 1;
    for (size_t k = 0; all && d->tables[k]; k++) {
        sqlite3_bind_text(st, 1, d->tables[k], -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            sqlite3_finalize(st);
            return S_sqlerr(p->db, err, "projections: schema");
        }
        all = rc == SQLITE_ROW;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return all;
}

/* Rebuilds what is missing or stale and catches up with the log. */
static int S_bring_up(projections *p, folio_err *err)
{
    S_cp cps[S_NDEFS];
    if (S_cp_load(p, cps, err) < 0)
        return -1;
    unsigned rebuild = 0;
    long long head = store_head(p->st), behind = 0;
    for (size_t i = 0; i < S_NDEFS; i++) {
        int ex = S_tables_exist(p, &S_defs[i], err);
        if (ex < 0)
            return -1;
        if (!ex || !cps[i].found || cps[i].version != S_defs[i].version)
            rebuild |= S_defs[i].bit;
        else if (cps[i].position < head)
            behind = 1;
    }
    if (rebuild && S_replay(p, rebuild, 0, err) < 0)
        return err_prefix(err, "rebuilding projections");
    if (!behind)
        return 0;
    unsigned changed;
    if (store_begin(p->st, err) < 0)
        return -1;
    if (projections_catch_up(p, &changed, err) < 0 ||
        store_commit(p->st, err) < 0) {
        store_rollback(p->st);
        return -1;
    }
    return 0;
}

int projections_open(store *st, vault *v, projections **out, folio_err *err)
{
    *out = NULL;
    projections *p = S_new(st, v, "main");
    if (!p)
        return err_set(err, "out of memory");
    if (S_exec(p->db, S_pending_ddl, err) < 0 || S_bring_up(p, err) < 0) {
        projections_close(p);
        return -1;
    }
    *out = p;
    return 0;
}

/* What an as-of copy holds: what pages show. The inbox is the owner's,
 * never on a page: its requests are counted in the stats but not read,
 * which spares the copy a third of the log's parsing and writing. */
#define S_AS_OF (PROJ_MEMBERS | PROJ_STATS)

int projections_open_as_of(store *st, vault *v, long long as_of_ms,
                           projections **out, folio_err *err)
{
    *out = NULL;
    projections *p = S_new(st, v, "temp");
    if (!p)
        return err_set(err, "out of memory");
    p->as_of = 1;
    /* A plain BEGIN takes no write lock on main: the live log is only
     * read, the copy lives in this connection's temp database. */
    long long last;
    S_tuning saved;
    if (S_temp_store(p, S_TEMP_FILE, err) < 0)
        goto fail;
    S_tune(p->db, &saved);
    if (S_exec(p->db, "BEGIN", err) < 0) {
        S_untune(p->db, &saved);
        goto fail;
    }
    store *rd = NULL;
    S_rebuild_begin(p, &rd);
    p->held = S_AS_OF;
    int rc = S_build_copy(p, S_AS_OF, "", as_of_ms < 0 ? 0 : as_of_ms, rd,
                          &last, err);
    S_rebuild_end(&rd);
    if (rc < 0 || S_exec(p->db, "COMMIT", err) < 0) {
        sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
        S_untune(p->db, &saved);
        goto fail;
    }
    S_untune(p->db, &saved);
    *out = p;
    return 0;
fail:
    projections_close(p);
    return -1;
}

void projections_close(projections *p)
{
    if (!p)
        return;
    S_writer_free(&p->live);
    for (size_t i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(p->q[i]);
    sqlite3_finalize(p->cp_load);
    sqlite3_finalize(p->cp_save);
    free(p);
}

/* ---- queries ---------------------------------------------------------- */

static sqlite3_stmt *S_q(projections *p, int which, const char *tmpl,
                         folio_err *err)
{
    if (p->q[which])
        return p->q[which];
    char sql[512];
    int n = snprintf(sql, sizeof sql, tmpl, p->schema);
    if (n < 0 || (size_t)n >= sizeof sql) {
        err_set(err, "projections: statement too long");
        return NULL;
    }
    if (sqlite3_prepare_v3(p->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                           &p->q[which], NULL) != SQLITE_OK) {
        S_sqlerr(p->db, err, "projections: query");
        p->q[which] = NULL;
    }
    return p->q[which];
}

/* The answer of a one-row existence query whose step returned rc: 1 found,
 * 0 not, -1 error; readies the cached statement for its next use. */
static int S_found(projections *p, sqlite3_stmt *st, int rc, const char *what,
                   folio_err *err)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return err_set(err, "projections: %s: %s", what, sqlite3_errmsg(p->db));
}

int projections_member_of(projections *p, const char *subject,
                          char user_id[80], folio_err *err)
{
    sqlite3_stmt *st = S_q(p, Q_MEMBER_OF,
                           "SELECT m.user_id FROM %1$s.members_private AS mp"
                           " JOIN %1$s.members AS m ON m.position ="
                           " mp.position WHERE mp.subject = ?1", err);
    if (!st)
        return -1;
    unsigned char k[S_KEY_MAX];
    S_bind_key(st, 1, subject, k);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && user_id)
        S_key_text(st, 0, user_id, 80);
    return S_found(p, st, rc, "members", err);
}

int projections_member_name(projections *p, const char *user_id, char *name,
                            size_t cap, folio_err *err)
{
    sqlite3_stmt *st = S_q(p, Q_MEMBER_NAME,
                           "SELECT display_name FROM %1$s.members WHERE"
                           " user_id = ?1", err);
    if (!st)
        return -1;
    unsigned char k[S_KEY_MAX];
    S_bind_key(st, 1, user_id, k);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && cap) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        snprintf(name, cap, "%s", v ? v : "");
    }
    return S_found(p, st, rc, "members", err);
}

static void S_long_date(long long ms, char out[40])
{
    static const char *const months[] = {
        "January", "February", "March", "April", "May", "June", "July",
        "August", "September", "October", "November", "December"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 40, "?");
        return;
    }
    snprintf(out, 40, "%d %s %d", tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900);
}

/* Prepares a one-off query template on the handle's schema. */
static sqlite3_stmt *S_prep(projections *p, const char *tmpl, folio_err *err)
{
    char sql[512];
    int n = snprintf(sql, sizeof sql, tmpl, p->schema);
    sqlite3_stmt *st = NULL;
    if (n < 0 || (size_t)n >= sizeof sql) {
        err_set(err, "projections: statement too long");
        return NULL;
    }
    if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK) {
        S_sqlerr(p->db, err, "projections: query");
        return NULL;
    }
    return st;
}

static int S_scalar(projections *p, const char *tmpl, long long *out,
                    folio_err *err);

/* Appends {name, joined, joined_iso[, rank]} for the row of st (display_name,
 * joined_at) to list; rank 0: none. */
static int S_member_obj(sqlite3_stmt *st, cJSON *list, long long rank)
{
    const char *name = (const char *)sqlite3_column_text(st, 0);
    long long at = sqlite3_column_int64(st, 1);
    char iso[32], date[40];
    util_format_iso_ms(at, iso);
    S_long_date(at, date);
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddItemToArray(list, m)) {
        cJSON_Delete(m);
        return -1;
    }
    if (!cJSON_AddStringToObject(m, "name", name ? name : "") ||
        !cJSON_AddStringToObject(m, "joined", date) ||
        !cJSON_AddStringToObject(m, "joined_iso", iso) ||
        (rank > 0 && !cJSON_AddNumberToObject(m, "rank", (double)rank)))
        return -1;
    return 0;
}

cJSON *projections_community(projections *p, folio_err *err)
{
    /* the newest only: the whole list, at any length, is read by rank
     * (projections_members_range), a page at a time */
    sqlite3_stmt *st = S_prep(p,
                              "SELECT display_name, joined_at FROM"
                              " %s.members WHERE hidden = 0"
                              " ORDER BY position DESC LIMIT "
                              PROJECTIONS_COMMUNITY_RECENT_S, err);
    if (!st)
        return NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "members");
    if (!list)
        goto oom;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (S_member_obj(st, list, 0) != 0)
            goto oom;
    if (rc != SQLITE_DONE) {
        S_sqlerr(p->db, err, "projections: members");
        goto fail;
    }
    long long total;
    if (S_scalar(p, "SELECT (SELECT count(*) FROM %1$s.members) - (SELECT"
                    " count(*) FROM %1$s.members WHERE hidden <> 0)", &total,
                 err) != 0)
        goto fail;
    if (!cJSON_AddNumberToObject(root, "count", (double)total))
        goto oom;
    sqlite3_finalize(st);
    return root;
oom:
    err_set(err, "out of memory");
fail:
    sqlite3_finalize(st);
    cJSON_Delete(root);
    return NULL;
}

/* One integer from a one-off query. */
static int S_scalar(projections *p, const char *tmpl, long long *out,
                    folio_err *err)
{
    sqlite3_stmt *st = S_prep(p, tmpl, err);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return S_sqlerr(p->db, err, "projections: stats");
    return 0;
}

static int S_stats_rows(projections *p, cJSON *root, folio_err *err)
{
    cJSON *by_type = cJSON_AddObjectToObject(root, "by_type");
    cJSON *by_day = cJSON_AddArrayToObject(root, "by_day");
    if (!by_type || !by_day)
        return err_set(err, "out of memory");
    sqlite3_stmt *st = S_prep(p, "SELECT type, count FROM %s.stats_types"
                                 " ORDER BY type", err);
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cJSON_AddNumberToObject(by_type,
                                (const char *)sqlite3_column_text(st, 0),
                                (double)sqlite3_column_int64(st, 1));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return S_sqlerr(p->db, err, "projections: stats");
    st = S_prep(p, "SELECT day, sum(count) FROM %s.stats_days GROUP BY day"
                   " ORDER BY day DESC LIMIT 30", err);
    if (!st)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *d = cJSON_CreateObject();
        if (!d)
            break;
        cJSON_AddItemToArray(by_day, d);
        cJSON_AddStringToObject(d, "day",
                                (const char *)sqlite3_column_text(st, 0));
        cJSON_AddNumberToObject(d, "events",
                                (double)sqlite3_column_int64(st, 1));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return S_sqlerr(p->db, err, "projections: stats");
    return 0;
}

cJSON *projections_stats(projections *p, folio_err *err)
{
    long long events, members, contacts;
    if (S_scalar(p, "SELECT coalesce(sum(count), 0) FROM %s.stats_types",
                 &events, err) < 0 ||
        S_scalar(p, "SELECT count(*) FROM %s.members", &members, err) < 0 ||
        S_scalar(p, "SELECT coalesce(sum(count), 0) FROM %s.stats_types"
                    " WHERE type = 'ContactRequestSubmitted'",
                 &contacts, err) < 0)
        return NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root || !cJSON_AddNumberToObject(root, "events", (double)events) ||
        !cJSON_AddNumberToObject(root, "members", (double)members) ||
        !cJSON_AddNumberToObject(root, "contacts", (double)contacts)) {
        cJSON_Delete(root);
        err_set(err, "out of memory");
        return NULL;
    }
    if (S_stats_rows(p, root, err) < 0) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* ---- the member list by rank (site_range_fn) ------------------------------ */

/* A member's rank is their place in joining order among the rows there are,
 * 1 the oldest: appending a member never moves the others. */
int projections_members_range(projections *p, long long lo, long long hi, cJSON **items,
                              long long *top, folio_err *err)
{
    *items = NULL;
    if (S_scalar(p, "SELECT count(*) FROM %s.members", top, err) != 0)
        return -1;
    if (hi > *top)
        hi = *top;
    if (lo < 1)
        lo = 1;
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return err_set(err, "out of memory");
    *items = arr;
    if (lo > hi)
        return 0;
    sqlite3_stmt *st = S_prep(p, "SELECT display_name, joined_at, hidden FROM"
                                 " %s.members ORDER BY position DESC"
                                 " LIMIT ?1 OFFSET ?2", err);
    if (!st)
        goto fail;
    sqlite3_bind_int64(st, 1, hi - lo + 1);
    sqlite3_bind_int64(st, 2, *top - hi);
    long long rank = hi;
    int rc;
    /* a hidden member keeps their rank (the pages do not shift) but never
     * reaches a page */
    for (; (rc = sqlite3_step(st)) == SQLITE_ROW; rank--)
        if (!sqlite3_column_int(st, 2) && S_member_obj(st, arr, rank) != 0)
            goto oom;
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return S_sqlerr(p->db, err, "projections: members");
    return 0;
oom:
    sqlite3_finalize(st);
    err_set(err, "out of memory");
fail:
    cJSON_Delete(arr);
    *items = NULL;
    return -1;
}

/* ---- the owner's views: the inbox and every member ---------------------- */

/* Steps st to its end, handing each row to row (which calls the owner's
 * callback); finalizes st. The number of rows, or -1. */
static int S_each_row(projections *p, sqlite3_stmt *st,
                      int (*row)(sqlite3_stmt *, void *, folio_err *), void *ctx,
                      const char *what, folio_err *err)
{
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        if (row(st, ctx, err) != 0) {
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return S_sqlerr(p->db, err, what);
    return n;
}

typedef struct S_rowcb {
    projections_inbox_fn inbox;
    projections_member_fn member;
    void *ud;
    long long rank;
} S_rowcb;

static int S_inbox_row(sqlite3_stmt *st, void *ctx, folio_err *err)
{
    S_rowcb *c = ctx;
    projections_inbox_row r = {0};
    char id[80];
    r.position = sqlite3_column_int64(st, 0);
    S_key_text(st, 1, id, sizeof id);
    r.contact_id = id;
    r.status = (const char *)sqlite3_column_text(st, 2);
    r.received_at = sqlite3_column_int64(st, 3);
    r.page = (const char *)sqlite3_column_text(st, 4);
    return c->inbox(c->ud, &r, err);
}

/* An as-of copy holds no inbox (S_AS_OF): -1 with err, else 0. */
static int S_no_inbox(projections *p, folio_err *err)
{
    if (p->held & PROJ_INBOX)
        return 0;
    return err_set(err, "projections: an as-of copy holds no inbox");
}

int projections_inbox_rows(projections *p, const char *status, const char *contact_id,
                           projections_inbox_fn fn, void *ud, folio_err *err)
{
    if (S_no_inbox(p, err))
        return -1;
    sqlite3_stmt *st = S_prep(p, "SELECT position, contact_id, status, received_at, page"
                                 " FROM %s.inbox WHERE (?1 IS NULL OR status = ?1) AND"
                                 " (?2 IS NULL OR contact_id = ?2) ORDER BY position DESC",
                              err);
    if (!st)
        return -1;
    unsigned char k[S_KEY_MAX];
    if (status)
        sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    if (contact_id)
        S_bind_key(st, 2, contact_id, k);
    S_rowcb c = {fn, NULL, ud, 0};
    return S_each_row(p, st, S_inbox_row, &c, "projections: inbox", err);
}

static int S_member_row(sqlite3_stmt *st, void *ctx, folio_err *err)
{
    S_rowcb *c = ctx;
    projections_member_row r = {0};
    char id[80];
    r.position = sqlite3_column_int64(st, 0);
    S_key_text(st, 1, id, sizeof id);
    r.user_id = id;
    r.display_name = (const char *)sqlite3_column_text(st, 2);
    r.joined_at = sqlite3_column_int64(st, 3);
    r.hidden = sqlite3_column_int(st, 4);
    r.role = (const char *)sqlite3_column_text(st, 5);
    /* all of them in order: the rank is counted, not asked */
    r.rank = sqlite3_column_int64(st, 6) ? sqlite3_column_int64(st, 6) : ++c->rank;
    return c->member(c->ud, &r, err);
}

int projections_member_rows(projections *p, const char *user_id, projections_member_fn fn,
                            void *ud, folio_err *err)
{
    sqlite3_stmt *st = S_prep(p, "SELECT position, user_id, display_name, joined_at, hidden,"
                                 " role, CASE WHEN ?1 IS NULL THEN 0 ELSE (SELECT count(*)"
                                 " FROM %1$s.members AS o WHERE o.position <= m.position)"
                                 " END FROM %1$s.members AS m WHERE ?1 IS NULL OR"
                                 " user_id = ?1 ORDER BY position", err);
    if (!st)
        return -1;
    unsigned char k[S_KEY_MAX];
    if (user_id)
        S_bind_key(st, 1, user_id, k);
    S_rowcb c = {NULL, fn, ud, 0};
    return S_each_row(p, st, S_member_row, &c, "projections: members", err);
}

/* ---- the owner's pages: one page at a time (keyset, never OFFSET) -------- */

int projections_inbox_page(projections *p, const char *status, long long before, int limit,
                           projections_inbox_fn fn, void *ud, folio_err *err)
{
    if (S_no_inbox(p, err))
        return -1;
    /* the rowid walked backwards from `before`: a page costs its rows (and
     * the rows of other statuses it steps over), whatever the inbox holds */
    sqlite3_stmt *st = S_prep(p, "SELECT position, contact_id, status, received_at, page"
                                 " FROM %s.inbox WHERE (?1 IS NULL OR status = ?1) AND"
                                 " position < ?2 ORDER BY position DESC LIMIT ?3",
                              err);
    if (!st)
        return -1;
    if (status)
        sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, before > 0 ? before : INT64_MAX);
    sqlite3_bind_int(st, 3, limit);
    S_rowcb c = {fn, NULL, ud, 0};
    return S_each_row(p, st, S_inbox_row, &c, "projections: inbox", err);
}

int projections_inbox_counts(projections *p, long long counts[4], folio_err *err)
{
    if (S_no_inbox(p, err))
        return -1;
    static const char *const names[4] = {"new", "handled", "archived", "spam"};
    sqlite3_stmt *st = S_prep(p, "SELECT status, n FROM %s.inbox_counts", err);
    if (!st)
        return -1;
    memset(counts, 0, 4 * sizeof *counts);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        for (int i = 0; s && i < 4; i++)
            if (!strcmp(s, names[i]))
                counts[i] = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : S_sqlerr(p->db, err, "projections: inbox counts");
}

int projections_members_page(projections *p, const char *name_like, long long before,
                             int limit, projections_member_fn fn, void *ud, folio_err *err)
{
    sqlite3_stmt *st = S_prep(p, "SELECT position, user_id, display_name, joined_at, hidden,"
                                 " role, 0 FROM %s.members WHERE position < ?1 AND"
                                 " (?2 IS NULL OR display_name LIKE ?2 ESCAPE '\\')"
                                 " ORDER BY position DESC LIMIT ?3", err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, before > 0 ? before : INT64_MAX);
    if (name_like)
        sqlite3_bind_text(st, 2, name_like, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, limit);
    S_rowcb c = {NULL, fn, ud, -1}; /* no rank on a page */
    return S_each_row(p, st, S_member_row, &c, "projections: members", err);
}

int projections_member_count(projections *p, long long *n, folio_err *err)
{
    return S_scalar(p, "SELECT count(*) FROM %s.members", n, err);
}

cJSON *projections_versions(projections *p, folio_err *err)
{
    sqlite3_stmt *st = S_prep(p, "SELECT name, version, position FROM"
                                 " main.projection_checkpoints ORDER BY name", err);
    cJSON *arr = st ? cJSON_CreateArray() : NULL;
    if (!arr) {
        sqlite3_finalize(st);
        return st ? (err_set(err, "out of memory"), NULL) : NULL;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        int code = 0;
        for (size_t i = 0; name && i < S_NDEFS; i++)
            if (!strcmp(S_defs[i].name, name))
                code = S_defs[i].version;
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "name", name ? name : "") ||
            !cJSON_AddNumberToObject(o, "version", sqlite3_column_int(st, 1)) ||
            !cJSON_AddNumberToObject(o, "code_version", code) ||
            !cJSON_AddBoolToObject(o, "current", code == sqlite3_column_int(st, 1)) ||
            !cJSON_AddNumberToObject(o, "position", (double)sqlite3_column_int64(st, 2)) ||
            !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        cJSON_Delete(arr);
        if (rc == SQLITE_NOMEM)
            err_set(err, "out of memory");
        else
            S_sqlerr(p->db, err, "projections: versions");
        return NULL;
    }
    return arr;
}
