/* store-bench — what the event store costs, measured beside bare SQLite.
 *
 *   make bench/store-bench && ./bench/store-bench [--quick] [--keep]
 *       [--projections] [--rounds N] [--only replay|rebuild|check|as-of]
 *       [DIR]
 *
 * 1. Single-event durable appends through store_append (synchronous FULL,
 *    then NORMAL) against a bare SQLite loop on the same table, pragmas and
 *    data: prepared INSERT inside BEGIN/COMMIT per event. Both run in
 *    alternating rounds so disk noise hits them alike.
 * 2. Batched appends, 100 events per transaction (this also writes the
 *    replay database).
 * 3. Replay: every event through store_read_all, its JSON parsed with
 *    cJSON and upcast to the current schema.
 * 4. Projection replay (S_projections): a site whose log holds real
 *    events (unique members with sealed names, contact requests, an
 *    erasure now and then) replayed by domain_replay, as `folio replay`
 *    does: every event read, each row compared with the table's (the
 *    tables are kept: nothing differs, nothing is written), members'
 *    events read as stored (their few fields found in place, not
 *    parsed) and their names compared by their keyed hashes
 *    without being decrypted, contact requests by their rows' keyed
 *    hashes without being parsed; the same as a rebuild after
 *    an upgrade (rebuild: the tables made again, committed, and the WAL
 *    checkpointed, which SQLite does at that commit); then `folio check`
 *    (domain_check: the replay counting what it would change, beside the
 *    integrity check) and the copy `folio build --as-of` makes
 *    (domain_open_as_of). Five rounds
 *    each (--rounds N); the median is the figure (target for a replay:
 *    500,000 events/s), and each round's peak RSS is printed (target:
 *    128 MiB at a million events).
 * --projections runs only 4 (--only: one of its three, and only 4); a DIR whose site log exists is replayed as
 * it is (rerun with the same DIR and --keep to time changes quickly).
 * Works in a temporary directory (removed unless --keep). Not a test. */
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#ifdef __GLIBC__ /* known once a libc header is in */
#include <malloc.h>
#endif

#include "config.h"
#include "domain.h"
#include "events.h"
#include "store.h"
#include "util.h"
#include "vault.h"

/* The events table exactly as store.c's migrations make it (1, and 3
 * dropping the recorded_at and type indexes). */
static const char S_ddl[] =
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
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
    " BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;"
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
    " BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;";

/* Event bodies the size of real ones: personal fields sealed (v1:base64). */
static const char S_user_v2[] =
    "{\"user_id\":\"0b9f5a56-9a4e-4c43-a7a4-55f0e3b3f1c2\","
    "\"subject\":\"9f2c4b6e8d0a1c3e5f7a9b1d3f5e7c9a0b2d4f6e8a0c2e4f6a8b0d2f4e6a8c0e\","
    "\"email\":\"v1:Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG9mcmVk\","
    "\"display_name\":\"v1:cGxvdWdodGh1ZHdhbGRvZnJlZHBsdWdoeHl6enk=\","
    "\"locale\":\"en\",\"has_password\":true}";
static const char S_user_v1[] =
    "{\"user_id\":\"0b9f5a56-9a4e-4c43-a7a4-55f0e3b3f1c2\","
    "\"subject\":\"9f2c4b6e8d0a1c3e5f7a9b1d3f5e7c9a0b2d4f6e8a0c2e4f6a8b0d2f4e6a8c0e\","
    "\"email\":\"v1:Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG9mcmVk\","
    "\"display_name\":\"v1:cGxvdWdodGh1ZHdhbGRvZnJlZHBsdWdoeHl6enk=\","
    "\"has_password\":false}";
static const char S_contact[] =
    "{\"contact_id\":\"7d1e0c1a-3b8f-4f6e-9a2d-1c5b7e9f0a3d\","
    "\"subject\":\"1a3c5e7f9b0d2f4a6c8e0b2d4f6a8c0e9f2c4b6e8d0a1c3e5f7a9b1d3f5e7c9a\","
    "\"name\":\"v1:R3JhY2VIb3BwZXJHcmFjZUhvcHBlcg==\","
    "\"email\":\"v1:Z3JhY2VAZXhhbXBsZS5vcmdncmFjZUBleGFtcGxlLm9yZw==\","
    "\"message\":\"v1:SGVsbG8sIEknZCBsaWtlIHRvIHRhbGsgYWJvdXQgYSBwcm9qZWN0IHdpdGggeW91LiBXaGVuIGFyZSB5b3UgZnJlZT8=\","
    "\"page\":\"/work/\",\"dedupe\":\"c0ffee00c0ffee00c0ffee00c0ffee00\"}";
static const char S_meta[] =
    "{\"request_id\":\"5f0c2a1e9b7d4c3a\",\"client\":\"203.0.113.7\"}";

static double S_now(void) { return (double)util_mono_ns() / 1e9; }

/* ---- peak memory ---------------------------------------------------------
 * Peak RSS of one step, not of the whole run: Linux resets the process's
 * high-water mark (VmHWM) to its current RSS when "5" is written to
 * /proc/self/clear_refs. Without that (another system), the process's
 * peak so far (ru_maxrss) is all there is. Memory, unlike time, does not
 * depend on what else the machine runs. */
static int S_peak_reset(void)
{
#ifdef __GLIBC__
    /* what earlier rounds freed, glibc keeps: give it back first, or it
     * counts in this round's figure */
    malloc_trim(0);
#endif
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* The peak RSS in MiB since S_peak_reset (or since the start). */
static double S_peak_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    if (kb < 0) {
        struct rusage ru;
        kb = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
    }
    return (double)kb / 1024.0;
}

static void S_die(const char *what, const char *msg)
{
    fprintf(stderr, "store-bench: %s: %s\n", what, msg);
    exit(1);
}

/* ---- bare SQLite ------------------------------------------------------ */
typedef struct bare {
    sqlite3 *db;
    sqlite3_stmt *begin, *commit, *insert;
} bare;

static void S_bare_open(bare *b, const char *path, int full)
{
    if (sqlite3_open(path, &b->db) != SQLITE_OK)
        S_die(path, sqlite3_errmsg(b->db));
    char sql[512];
    snprintf(sql, sizeof sql,
             "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s;"
             "PRAGMA foreign_keys = ON; PRAGMA recursive_triggers = ON;"
             "PRAGMA secure_delete = ON; PRAGMA busy_timeout = 5000;",
             full ? "FULL" : "NORMAL");
    if (sqlite3_exec(b->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(b->db, S_ddl, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(b->db, "BEGIN", -1, &b->begin, NULL) ||
        sqlite3_prepare_v2(b->db, "COMMIT", -1, &b->commit, NULL) ||
        sqlite3_prepare_v2(b->db,
                           "INSERT INTO events(event_id, stream_id,"
                           " stream_version, type, schema_version, data,"
                           " metadata, recorded_at)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                           -1, &b->insert, NULL))
        S_die(path, sqlite3_errmsg(b->db));
}

static void S_bare_close(bare *b)
{
    sqlite3_finalize(b->begin);
    sqlite3_finalize(b->commit);
    sqlite3_finalize(b->insert);
    sqlite3_close(b->db);
}

static void S_step(sqlite3 *db, sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        S_die("bare sqlite", sqlite3_errmsg(db));
    sqlite3_reset(st);
}

/* The ids store_append makes: UUIDv7, time first (same index locality). */
static void S_uuid_v7(char out[37])
{
    store_uuid(out);
    char ts[13];
    snprintf(ts, sizeof ts, "%012llx", (unsigned long long)util_now_ms());
    memcpy(out, ts, 8);
    memcpy(out + 9, ts + 8, 4);
    out[14] = '7';
}

/* n transactions of per_tx events; each transaction a new stream. */
static void S_bare_run(bare *b, long first, long n, int per_tx)
{
    char uuid[37], stream[48];
    for (long i = first; i < first + n; i++) {
        snprintf(stream, sizeof stream, "user-%ld", i);
        S_step(b->db, b->begin);
        long long now = util_now_ms();
        for (int k = 0; k < per_tx; k++) {
            S_uuid_v7(uuid);
            sqlite3_bind_text(b->insert, 1, uuid, -1, SQLITE_STATIC);
            sqlite3_bind_text(b->insert, 2, stream, -1, SQLITE_STATIC);
            sqlite3_bind_int64(b->insert, 3, k);
            sqlite3_bind_text(b->insert, 4, "UserRegistered", -1,
                              SQLITE_STATIC);
            sqlite3_bind_int(b->insert, 5, 2);
            sqlite3_bind_text(b->insert, 6, S_user_v2, -1, SQLITE_STATIC);
            sqlite3_bind_text(b->insert, 7, S_meta, -1, SQLITE_STATIC);
            sqlite3_bind_int64(b->insert, 8, now);
            S_step(b->db, b->insert);
        }
        S_step(b->db, b->commit);
    }
}

/* ---- the store -------------------------------------------------------- */
static store *S_store_open(const char *path, int full)
{
    store_opts o = {full, 0};
    store *s = NULL;
    folio_err err;
    if (store_open(path, &o, &s, &err) != 0)
        S_die(path, err.msg);
    return s;
}

static void S_store_run(store *s, long first, long n, int per_tx)
{
    char stream[48];
    store_new_event evs[100];
    if (per_tx > 100)
        S_die("store", "at most 100 per transaction");
    for (int k = 0; k < per_tx; k++)
        evs[k] = (store_new_event){NULL, "UserRegistered", 2, S_user_v2,
                                   S_meta};
    folio_err err;
    for (long i = first; i < first + n; i++) {
        snprintf(stream, sizeof stream, "user-%ld", i);
        if (store_append(s, stream, STORE_NO_STREAM, evs, (size_t)per_tx,
                         NULL, &err) != STORE_OK)
            S_die("store_append", err.msg);
    }
}

#define S_MAX_ROUNDS 16

static int S_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Alternating rounds of the store and the bare loop; events/s of each. */
static void S_compare(const char *dir, const char *label, int full,
                      long per_round, int rounds, int per_tx)
{
    char sp[512], bp[512];
    snprintf(sp, sizeof sp, "%s/store-%s-%d.db", dir, full ? "full" : "normal",
             per_tx);
    snprintf(bp, sizeof bp, "%s/bare-%s-%d.db", dir, full ? "full" : "normal",
             per_tx);
    store *s = S_store_open(sp, full);
    bare b;
    S_bare_open(&b, bp, full);
    /* Warm both up (first pages, statement caches) outside the clock. */
    S_store_run(s, 1000000000L, 20, per_tx);
    S_bare_run(&b, 1000000000L, 20, per_tx);
    double ts = 0, tb = 0, ratio[S_MAX_ROUNDS];
    if (rounds > S_MAX_ROUNDS)
        S_die("bench", "too many rounds");
    /* Who goes first alternates too: a disk's write-back after one run
     * should not always land on the same side. */
    for (int r = 0; r < rounds; r++) {
        double t[2];
        for (int side = 0; side < 2; side++) {
            int is_store = (r + side) % 2 == 0;
            double t0 = S_now();
            if (is_store)
                S_store_run(s, r * per_round, per_round, per_tx);
            else
                S_bare_run(&b, r * per_round, per_round, per_tx);
            t[is_store] = S_now() - t0;
        }
        ts += t[1];
        tb += t[0];
        ratio[r] = t[0] / t[1];
    }
    qsort(ratio, (size_t)rounds, sizeof ratio[0], S_cmp_double);
    double n = (double)per_round * rounds * per_tx;
    printf("%-36s store %8.0f ev/s  bare sqlite %8.0f ev/s  store/bare "
           "%5.1f%% (median of %d rounds %5.1f%%)  %.0f events each\n",
           label, n / ts, n / tb, 100.0 * tb / ts, rounds,
           100.0 * (ratio[(rounds - 1) / 2] + ratio[rounds / 2]) / 2, n);
    fflush(stdout);
    store_close(s);
    S_bare_close(&b);
}

/* ---- replay ----------------------------------------------------------- */
static void S_fill(const char *path, long total)
{
    store *s = S_store_open(path, 0);
    store_new_event evs[100];
    folio_err err;
    char stream[48];
    double t0 = S_now();
    for (long i = 0; i < total / 100; i++) {
        for (int k = 0; k < 100; k++) {
            int kind = (int)((i * 100 + k) % 3);
            evs[k] = kind == 0 ? (store_new_event){NULL, "UserRegistered", 1,
                                                   S_user_v1, S_meta}
                   : kind == 1 ? (store_new_event){NULL, "UserRegistered", 2,
                                                   S_user_v2, S_meta}
                   : (store_new_event){NULL, "ContactRequestSubmitted", 1,
                                       S_contact, S_meta};
        }
        snprintf(stream, sizeof stream, "stream-%ld", i);
        if (store_append(s, stream, STORE_NO_STREAM, evs, 100, NULL, &err))
            S_die("store_append", err.msg);
    }
    double t = S_now() - t0;
    printf("%-36s store %8.0f ev/s  (%ld events, 100 per transaction, "
           "synchronous=NORMAL)\n", "batched appends (replay log):",
           (double)total / t, total);
    fflush(stdout);
    store_close(s);
}

typedef struct replay {
    long n, upcast;
} replay;

static int S_replay_one(void *ud, const store_event *ev)
{
    replay *r = ud;
    folio_err err;
    cJSON *d = cJSON_Parse(ev->data);
    if (!d)
        S_die("replay", "an event is not JSON");
    const events_type *t = events_find(ev->type);
    if (!t)
        S_die("replay", ev->type);
    if (events_upcast(t, ev->schema_version, d, &err) != 0)
        S_die("replay", err.msg);
    r->upcast += ev->schema_version != t->version;
    cJSON_Delete(d);
    r->n++;
    return 0;
}

static void S_replay(const char *path, long total)
{
    store *s = S_store_open(path, 0);
    replay r = {0, 0};
    folio_err err;
    long long last;
    double t0 = S_now();
    if (store_read_all(s, 0, 0, S_replay_one, &r, &last, &err) != 0)
        S_die("store_read_all", err.msg);
    double t = S_now() - t0;
    if (r.n != total)
        S_die("replay", "did not see every event");
    printf("%-36s %14.0f ev/s  (%ld events in %.2f s, %ld upcast v1->v2; "
           "read + cJSON parse + upcast)\n", "replay through store_read_all:",
           (double)r.n / t, r.n, t, r.upcast);
    store_close(s);
}

/* ---- projection replay ------------------------------------------------ */

/* Seals plain under subject and adds it to o as key. */
static void S_put_sealed(vault *v, const char *subject, cJSON *o,
                         const char *key, const char *plain)
{
    folio_err err;
    char *sealed = NULL;
    if (vault_seal(v, subject, plain, &sealed, &err) != 0)
        S_die("vault_seal", err.msg);
    cJSON_AddStringToObject(o, key, sealed);
    free(sealed);
}

/* One event of the projection log: of every 10, 6 registrations (half of
 * them written at schema v1), 3 contact requests from members, and every
 * 1000th an erasure of a member. */
static void S_site_event(store *s, vault *v, long i, long *users)
{
    folio_err err;
    char email[64], subject[VAULT_SUBJECT_LEN + 1], id[37], stream[80];
    cJSON *o = cJSON_CreateObject();
    const char *type;
    int version = 1;
    store_uuid_v7(id); /* as the domain makes user and contact ids */
    if (i % 1000 == 999 && *users > 0) {
        snprintf(email, sizeof email, "user%ld@example.org", i % *users);
        vault_subject(v, email, subject);
        if (vault_forget(v, subject, &err) < 0)
            S_die("vault_forget", err.msg);
        type = "PersonForgotten";
        cJSON_AddStringToObject(o, "subject", subject);
        snprintf(stream, sizeof stream, "person-%s", subject);
    } else if (i % 10 < 6 || *users == 0) {
        snprintf(email, sizeof email, "user%ld@example.org", (*users)++);
        vault_subject(v, email, subject);
        type = "UserRegistered";
        version = i % 2 ? 1 : 2;
        cJSON_AddStringToObject(o, "user_id", id);
        cJSON_AddStringToObject(o, "subject", subject);
        S_put_sealed(v, subject, o, "email", email);
        S_put_sealed(v, subject, o, "display_name", "A Member Of The Site");
        if (version == 2)
            cJSON_AddStringToObject(o, "locale", "en");
        cJSON_AddBoolToObject(o, "has_password", 0);
        snprintf(stream, sizeof stream, "user-%s", id);
    } else {
        snprintf(email, sizeof email, "user%ld@example.org", i % *users);
        vault_subject(v, email, subject);
        type = "ContactRequestSubmitted";
        cJSON_AddStringToObject(o, "contact_id", id);
        cJSON_AddStringToObject(o, "subject", subject);
        /* a forgotten member cannot write: seal nothing, keep the shape */
        cJSON_AddStringToObject(o, "name", "v1:AAAA");
        cJSON_AddStringToObject(o, "email", "v1:AAAA");
        cJSON_AddStringToObject(o, "message", "v1:AAAA");
        cJSON_AddStringToObject(o, "page", "/contact/");
        /* the domain's dedupe is a keyed hash of address and message */
        char dedupe[VAULT_SUBJECT_LEN + 1], msg[96];
        snprintf(msg, sizeof msg, "contact-dedupe\n%s\nmessage %ld", email, i);
        vault_subject(v, msg, dedupe);
        cJSON_AddStringToObject(o, "dedupe", dedupe);
        snprintf(stream, sizeof stream, "contact-%s", dedupe); /* as the domain */
    }
    char *data = cJSON_PrintUnformatted(o);
    store_new_event ev = {NULL, type, version, data, S_meta};
    if (store_append(s, stream, STORE_ANY, &ev, 1, NULL, &err) != STORE_OK)
        S_die("store_append", err.msg);
    free(data);
    cJSON_Delete(o);
}

/* What S_rounds times on the site's domain d: `folio replay`, `folio
 * check` (its projections and the store's own checks) and the copy
 * `folio build --as-of` makes (now: the whole log). */
typedef void (*S_op)(domain *d, const folio_config *cfg);

static void S_op_replay(domain *d, const folio_config *cfg)
{
    (void)cfg;
    folio_err err;
    if (domain_replay(d, NULL, 0, &err) != 0)
        S_die("domain_replay", err.msg);
}

/* `folio replay` where the tables cannot be kept: as after an upgrade
 * that changed the projections' shapes (the checkpoints name another
 * version), every table dropped, made again and filled. */
static void S_op_rebuild(domain *d, const folio_config *cfg)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    if (sqlite3_open(cfg->db_path, &db) != SQLITE_OK ||
        sqlite3_busy_timeout(db, 10000) != SQLITE_OK ||
        sqlite3_exec(db, "UPDATE projection_checkpoints SET version = 0",
                     NULL, NULL, &msg) != SQLITE_OK)
        S_die("rebuild", msg ? msg : sqlite3_errmsg(db));
    sqlite3_close(db);
    S_op_replay(d, cfg);
}

static void S_op_check(domain *d, const folio_config *cfg)
{
    (void)cfg;
    folio_err err;
    buf report = BUF_INIT;
    int rc = domain_check(d, &report, &err);
    if (rc < 0)
        S_die("domain_check", err.msg);
    if (rc > 0)
        S_die("domain_check", report.ptr ? report.ptr : "differs");
    buf_free(&report);
}

static void S_op_as_of(domain *d, const folio_config *cfg)
{
    (void)d;
    folio_err err;
    domain *copy = NULL;
    if (domain_open_as_of(cfg, util_now_ms(), &copy, &err) != 0)
        S_die("domain_open_as_of", err.msg);
    domain_close(copy);
}

/* CPU seconds (user and system, every thread) the process used so far:
 * on a machine others share, a change's cost shows in it more steadily
 * than in the time on the clock. */
static double S_cpu(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Runs op rounds times: the median's events/s and CPU time, and each
 * round's peak RSS (the largest is the figure). */
static void S_rounds(domain *d, const folio_config *cfg, const char *what,
                     S_op op, int rounds, long total)
{
    double ts[S_MAX_ROUNDS], cpu[S_MAX_ROUNDS], peak = 0;
    char label[64];
    snprintf(label, sizeof label, "%s rounds:", what);
    printf("%-36s", label);
    for (int r = 0; r < rounds && r < S_MAX_ROUNDS; r++) {
        int reset = S_peak_reset() == 0;
        double t0 = S_now(), c0 = S_cpu();
        op(d, cfg);
        ts[r] = S_now() - t0;
        cpu[r] = S_cpu() - c0;
        double mib = S_peak_mib();
        peak = mib > peak ? mib : peak;
        printf(" %.2f s (cpu %.2f s) %.0f MiB%s", ts[r], cpu[r], mib,
               reset ? "" : " (process)");
        fflush(stdout);
    }
    if (rounds > S_MAX_ROUNDS)
        rounds = S_MAX_ROUNDS;
    qsort(ts, (size_t)rounds, sizeof ts[0], S_cmp_double);
    qsort(cpu, (size_t)rounds, sizeof cpu[0], S_cmp_double);
    double t = (ts[(rounds - 1) / 2] + ts[rounds / 2]) / 2;
    double c = (cpu[(rounds - 1) / 2] + cpu[rounds / 2]) / 2;
    /* the stats, not the community list: a list of 600,000 members is
     * 300 MB the next round's peak would count */
    const cJSON *m = domain_site_data(d, "stats");
    snprintf(label, sizeof label, "%s (all projections):", what);
    printf("\n%-36s %14.0f ev/s  peak RSS %.0f MiB  (median: %ld events in"
           " %.2f s, cpu %.2f s; %d members; targets 500000 ev/s for a"
           " replay, 128 MiB)\n",
           label, (double)total / t, peak, total, t, c,
           cJSON_GetObjectItem(m, "members")->valueint);
    fflush(stdout);
}

/* Writes a site log of total events, then times the rebuild `folio
 * replay` does, `folio check` and the as-of copy, rounds times each. */
static void S_projections(const char *dir, long total, int rounds,
                          const char *only)
{
    char site_dir[600];
    snprintf(site_dir, sizeof site_dir, "%s/site", dir);
    folio_config cfg;
    folio_err err;
    if (util_mkdirs(site_dir, 0700, &err) != 0 ||
        config_load(site_dir, &cfg, &err) != 0 ||
        util_mkdirs(cfg.var_dir, 0700, &err) != 0)
        S_die(site_dir, err.msg);
    if (util_is_file(cfg.db_path)) {
        printf("%-34s reusing the site log in %s\n", "writing the site log:",
               cfg.db_path);
        goto replay;
    }
    store *s = S_store_open(cfg.db_path, 0);
    vault *v = NULL;
    if (vault_open(cfg.master_key_path, store_db(s), &v, &err) != 0)
        S_die("vault_open", err.msg);
    double t0 = S_now();
    long users = 0;
    for (long i = 0; i < total; i += 1000) {
        if (store_begin(s, &err) != 0)
            S_die("store_begin", err.msg);
        for (long k = i; k < i + 1000 && k < total; k++)
            S_site_event(s, v, k, &users);
        if (store_commit(s, &err) != 0)
            S_die("store_commit", err.msg);
    }
    printf("%-34s %9.0f ev/s   (%ld events: registrations, contacts, "
           "erasures; sealed)\n", "writing the site log:",
           (double)total / (S_now() - t0), total);
    fflush(stdout);
    vault_close(v);
    store_close(s);
replay:;
    domain *d = NULL;
    if (domain_open(&cfg, &d, &err) != 0) /* builds them the first time */
        S_die("domain_open", err.msg);
    if (!only || !strcmp(only, "replay"))
        S_rounds(d, &cfg, "replay", S_op_replay, rounds, total);
    if (!only || !strcmp(only, "rebuild"))
        S_rounds(d, &cfg, "rebuild", S_op_rebuild, rounds, total);
    if (!only || !strcmp(only, "check"))
        S_rounds(d, &cfg, "check", S_op_check, rounds, total);
    if (!only || !strcmp(only, "as-of"))
        S_rounds(d, &cfg, "as-of copy", S_op_as_of, rounds, total);
    domain_close(d);
    config_free(&cfg);
}

int main(int argc, char **argv)
{
    int quick = 0, keep = 0, only_proj = 0, rounds = 5;
    const char *dir_arg = NULL, *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else if (!strcmp(argv[i], "--projections"))
            only_proj = 1;
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc &&
                 atoi(argv[i + 1]) > 0)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc &&
                 (!strcmp(argv[i + 1], "replay") ||
                  !strcmp(argv[i + 1], "rebuild") ||
                  !strcmp(argv[i + 1], "check") ||
                  !strcmp(argv[i + 1], "as-of")))
            only = argv[++i], only_proj = 1;
        else if (argv[i][0] != '-')
            dir_arg = argv[i];
        else {
            fprintf(stderr, "usage: store-bench [--quick] [--keep] [--projections]"
                            " [--rounds N] [--only replay|rebuild|check|as-of] [DIR]\n");
            return 2;
        }
    }
    char dir[512];
    if (dir_arg) {
        snprintf(dir, sizeof dir, "%s", dir_arg);
        folio_err err;
        if (util_mkdirs(dir, 0700, &err) != 0)
            S_die(dir, err.msg);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/folio-store-bench-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir))
            S_die("mkdtemp", dir);
    }
    printf("folio store-bench in %s (SQLite %s)\n", dir, sqlite3_libversion());
    long total = quick ? 100000 : 1000000;
    if (only_proj)
        goto projections;
    S_compare(dir, "single appends, synchronous=FULL:", 1, quick ? 50 : 250,
              8, 1);
    S_compare(dir, "single appends, synchronous=NORMAL:", 0,
              quick ? 500 : 2500, 8, 1);
    S_compare(dir, "100 per transaction, NORMAL:", 0, quick ? 25 : 100, 8, 100);
    char rp[600];
    snprintf(rp, sizeof rp, "%s/replay.db", dir);
    S_fill(rp, total);
    S_replay(rp, total);
projections:
    S_projections(dir, total, rounds, only);
    if (!keep) {
        folio_err err;
        if (util_rmtree(dir, &err) != 0)
            S_die(dir, err.msg);
    }
    return 0;
}
