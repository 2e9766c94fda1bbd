/* The event store: schema, appends, concurrency, reading, backup. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "util.h"
#include "unit.h"

static char S_dir[256];
static char S_db[300];

static void S_setup(void)
{
    unit_tmpdir(S_dir, sizeof S_dir, "store");
    snprintf(S_db, sizeof S_db, "%s/folio.db", S_dir);
}

static void S_teardown(void)
{
    unit_rmdir(S_dir);
}

static store *S_open(void)
{
    store_opts o = {0, 0};
    store *s = NULL;
    folio_err err = {{0}};
    ck_assert_msg(store_open(S_db, &o, &s, &err) == 0, "%s", err.msg);
    return s;
}

static long long S_int(store *s, const char *sql)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int S_append1(store *s, const char *stream, long long expected,
                     const char *id, const char *data, long long *pos,
                     folio_err *err)
{
    store_new_event ev = {id, "TestHappened", 1, data, NULL};
    return store_append(s, stream, expected, &ev, 1, pos, err);
}

/* Collects what a read visits. */
typedef struct seen {
    long long pos[64];
    long long ver[64];
    char data[64][64];
    size_t n;
    size_t stop_at;   /* 0: never */
} seen;

static int S_collect(void *ud, const store_event *ev)
{
    seen *w = ud;
    ck_assert_uint_lt(w->n, 64);
    w->pos[w->n] = ev->position;
    w->ver[w->n] = ev->stream_version;
    snprintf(w->data[w->n], sizeof w->data[0], "%s", ev->data);
    ck_assert_str_eq(ev->metadata, "{}");
    ck_assert_int_eq(strlen(ev->event_id), 36);
    w->n++;
    return w->stop_at && w->n == w->stop_at ? 7 : 0;
}

START_TEST(migrates_from_empty)
{
    store *s = S_open();
    ck_assert_int_eq(S_int(s, "PRAGMA user_version"), 7);
    ck_assert_int_eq(S_int(s, "SELECT count(*) FROM sqlite_master WHERE name"
                              " IN ('events', 'subject_keys', 'credentials',"
                              " 'projection_checkpoints', 'events_no_update',"
                              " 'events_no_delete')"), 6);
    /* migration 3: no index but the two UNIQUE ones on events */
    ck_assert_int_eq(S_int(s, "SELECT count(*) FROM sqlite_master WHERE"
                              " type = 'index' AND tbl_name = 'events'"), 2);
    ck_assert_int_eq(S_int(s, "PRAGMA secure_delete"), 1);
    ck_assert_int_eq(S_int(s, "PRAGMA foreign_keys"), 1);
    ck_assert_int_eq(S_int(s, "PRAGMA synchronous"), 1); /* NORMAL */
    ck_assert_int_eq(store_head(s), 0);
    store_close(s);
    /* Opening again changes nothing. */
    s = S_open();
    ck_assert_int_eq(S_int(s, "PRAGMA user_version"), 7);
    store_close(s);
    store_opts full = {1, 0};
    folio_err err;
    ck_assert_int_eq(store_open(S_db, &full, &s, &err), 0);
    ck_assert_int_eq(S_int(s, "PRAGMA synchronous"), 2); /* FULL */
    store_close(s);
}
END_TEST

/* A database left at schema 1 by an older folio is brought up to date,
 * its events kept. */
START_TEST(migrates_an_older_schema)
{
    store *s = S_open();
    folio_err err;
    ck_assert_int_eq(S_append1(s, "old", STORE_ANY, NULL, "{}", NULL, &err), 0);
    ck_assert_int_eq(sqlite3_exec(store_db(s),
                                  "DROP TABLE subject_keys; DROP TABLE"
                                  " credentials; DROP TABLE"
                                  " projection_checkpoints;"
                                  " DROP TABLE IF EXISTS api_keys;"
                                  " PRAGMA user_version = 1", NULL, NULL,
                                  NULL), SQLITE_OK);
    store_close(s);
    s = S_open();
    ck_assert_int_eq(S_int(s, "PRAGMA user_version"), 7);
    ck_assert_int_eq(S_int(s, "SELECT count(*) FROM subject_keys"), 0);
    ck_assert_int_eq(S_int(s, "SELECT count(*) FROM events"), 1);
    store_close(s);
    /* A read-only open neither migrates nor writes. */
    store_opts ro = {0, 1};
    ck_assert_int_eq(store_open(S_db, &ro, &s, &err), 0);
    ck_assert_int_eq(store_head(s), 1);
    ck_assert_int_eq(S_append1(s, "old", STORE_ANY, NULL, "{}", NULL, &err),
                     STORE_ERROR);
    ck_assert_msg(strstr(err.msg, "readonly"), "%s", err.msg);
    ck_assert_int_eq(store_head(s), 1);
    store_close(s);
}
END_TEST

START_TEST(refuses_newer_schema)
{
    store *s = S_open();
    ck_assert_int_eq(sqlite3_exec(store_db(s), "PRAGMA user_version = 99",
                                  NULL, NULL, NULL), SQLITE_OK);
    store_close(s);
    folio_err err = {{0}};
    store *s2 = (store *)1;
    ck_assert_int_eq(store_open(S_db, NULL, &s2, &err), -1);
    ck_assert_ptr_null(s2);
    ck_assert_msg(strstr(err.msg, "schema version 99") &&
                  strstr(err.msg, "newer folio"), "%s", err.msg);
}
END_TEST

START_TEST(append_and_read_stream)
{
    store *s = S_open();
    folio_err err;
    store_new_event evs[3] = {
        {NULL, "A", 1, "{\"n\":0}", NULL},
        {NULL, "B", 1, "{\"n\":1}", NULL},
        {NULL, "C", 2, "{\"n\":2}", "{}"},
    };
    long long pos[3];
    ck_assert_int_eq(store_append(s, "user-1", STORE_NO_STREAM, evs, 3, pos,
                                  &err), STORE_OK);
    ck_assert_int_eq(pos[0], 1);
    ck_assert_int_eq(pos[2], 3);
    ck_assert_int_eq(S_append1(s, "user-2", STORE_ANY, NULL, "{}", pos, &err),
                     STORE_OK);
    ck_assert_int_eq(pos[0], 4);
    ck_assert_int_eq(S_append1(s, "user-1", 2, NULL, "{\"n\":3}", pos, &err),
                     STORE_OK);
    seen w = {0};
    ck_assert_int_eq(store_read_stream(s, "user-1", S_collect, &w, &err), 0);
    ck_assert_uint_eq(w.n, 4);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(w.ver[i], (long long)i);
    ck_assert_str_eq(w.data[3], "{\"n\":3}");
    ck_assert_int_eq(w.pos[3], 5);
    ck_assert_int_eq(store_head(s), 5);
    /* A callback's non-zero return stops the read and is returned. */
    seen stop = {.stop_at = 2};
    ck_assert_int_eq(store_read_stream(s, "user-1", S_collect, &stop, &err), 7);
    ck_assert_uint_eq(stop.n, 2);
    /* Non-JSON data is refused. */
    ck_assert_int_eq(S_append1(s, "user-3", STORE_ANY, NULL, "{nope", pos,
                               &err), STORE_ERROR);
    ck_assert_msg(strstr(err.msg, "JSON"), "%s", err.msg);
    store_close(s);
}
END_TEST

START_TEST(read_all_pages)
{
    store *s = S_open();
    folio_err err;
    char data[32];
    for (int i = 0; i < 25; i++) {
        snprintf(data, sizeof data, "{\"i\":%d}", i);
        ck_assert_int_eq(S_append1(s, i % 2 ? "odd" : "even", STORE_ANY, NULL,
                                   data, NULL, &err), STORE_OK);
    }
    long long after = 0, total = 0;
    int pages = 0;
    for (;;) {
        seen w = {0};
        long long last = -1;
        ck_assert_int_eq(store_read_all(s, after, 10, S_collect, &w, &last,
                                        &err), 0);
        if (w.n == 0) {
            ck_assert_int_eq(last, after);
            break;
        }
        pages++;
        for (size_t i = 0; i < w.n; i++)
            ck_assert_int_eq(w.pos[i], after + 1 + (long long)i);
        total += (long long)w.n;
        after = last;
    }
    ck_assert_int_eq(pages, 3);
    ck_assert_int_eq(total, 25);
    seen all = {0};
    long long last;
    ck_assert_int_eq(store_read_all(s, 20, 0, S_collect, &all, &last, &err), 0);
    ck_assert_uint_eq(all.n, 5);
    ck_assert_int_eq(last, 25);
    store_close(s);
}
END_TEST

START_TEST(read_until_time)
{
    store *s = S_open();
    folio_err err;
    ck_assert_int_eq(S_append1(s, "a", STORE_ANY, NULL, "{}", NULL, &err), 0);
    ck_assert_int_eq(S_append1(s, "a", STORE_ANY, NULL, "{}", NULL, &err), 0);
    long long t = S_int(s, "SELECT max(recorded_at) FROM events");
    long long now = util_now_ms();
    ck_assert(t <= now && t > now - 60000);
    usleep(5000);
    ck_assert_int_eq(S_append1(s, "a", STORE_ANY, NULL, "{}", NULL, &err), 0);
    seen w = {0};
    ck_assert_int_eq(store_read_until(s, t, S_collect, &w, &err), 0);
    ck_assert_uint_eq(w.n, 2);
    seen none = {0};
    ck_assert_int_eq(store_read_until(s, t - 100000, S_collect, &none, &err), 0);
    ck_assert_uint_eq(none.n, 0);
    store_close(s);
}
END_TEST

START_TEST(expected_versions)
{
    store *s = S_open();
    folio_err err;
    /* exists: refused on a new stream */
    ck_assert_int_eq(S_append1(s, "s", STORE_STREAM_EXISTS, NULL, "{}", NULL,
                               &err), STORE_CONFLICT);
    ck_assert_msg(strstr(err.msg, "does not exist"), "%s", err.msg);
    /* exact 0 on a new stream: conflict */
    ck_assert_int_eq(S_append1(s, "s", 0, NULL, "{}", NULL, &err),
                     STORE_CONFLICT);
    ck_assert_int_eq(S_append1(s, "s", STORE_NO_STREAM, NULL, "{}", NULL, &err),
                     STORE_OK);
    ck_assert_int_eq(S_append1(s, "s", STORE_NO_STREAM, NULL, "{}", NULL, &err),
                     STORE_CONFLICT);
    ck_assert_msg(strstr(err.msg, "at version 0"), "%s", err.msg);
    ck_assert_int_eq(S_append1(s, "s", STORE_STREAM_EXISTS, NULL, "{}", NULL,
                               &err), STORE_OK);
    ck_assert_int_eq(S_append1(s, "s", 0, NULL, "{}", NULL, &err),
                     STORE_CONFLICT);
    ck_assert_int_eq(S_append1(s, "s", 1, NULL, "{}", NULL, &err), STORE_OK);
    ck_assert_int_eq(S_append1(s, "s", 3, NULL, "{}", NULL, &err),
                     STORE_CONFLICT);
    ck_assert_int_eq(S_append1(s, "s", STORE_ANY, NULL, "{}", NULL, &err),
                     STORE_OK);
    ck_assert_int_eq(S_append1(s, "s", -9, NULL, "{}", NULL, &err),
                     STORE_ERROR);
    /* conflicts wrote nothing */
    ck_assert_int_eq(S_int(s, "SELECT count(*) FROM events"), 4);
    ck_assert_int_eq(store_head(s), 4);
    store_close(s);
}
END_TEST

START_TEST(idempotent_append)
{
    store *s = S_open();
    folio_err err;
    const char *id = "5b7c2d7e-2f0a-4c1d-9d55-0a8c3f1e2b44";
    long long p1 = 0, p2 = 0;
    ck_assert_int_eq(S_append1(s, "x", STORE_ANY, NULL, "{}", NULL, &err), 0);
    ck_assert_int_eq(S_append1(s, "c", STORE_NO_STREAM, id, "{}", &p1, &err),
                     STORE_OK);
    ck_assert_int_eq(S_append1(s, "x", STORE_ANY, NULL, "{}", NULL, &err), 0);
    /* The retry carries the same expected version; it is not a conflict. */
    ck_assert_int_eq(S_append1(s, "c", STORE_NO_STREAM, id, "{}", &p2, &err),
                     STORE_OK);
    ck_assert_int_eq(p1, 2);
    ck_assert_int_eq(p2, 2);
    ck_assert_int_eq(S_int(s, "SELECT count(*) FROM events"), 3);
    /* The same id in another stream is not the same event. */
    ck_assert_int_eq(S_append1(s, "d", STORE_ANY, id, "{}", &p2, &err),
                     STORE_ERROR);
    ck_assert_msg(strstr(err.msg, "already stored"), "%s", err.msg);
    /* A whole batch retried. */
    store_new_event b[2] = {
        {"11111111-1111-4111-8111-111111111111", "T", 1, "{}", NULL},
        {"22222222-2222-4222-8222-222222222222", "T", 1, "{}", NULL},
    };
    long long pa[2], pb[2];
    ck_assert_int_eq(store_append(s, "b", STORE_NO_STREAM, b, 2, pa, &err), 0);
    ck_assert_int_eq(store_append(s, "b", STORE_NO_STREAM, b, 2, pb, &err), 0);
    ck_assert_int_eq(pa[0], pb[0]);
    ck_assert_int_eq(pa[1], pb[1]);
    ck_assert_int_eq(S_int(s, "SELECT count(*) FROM events"), 5);
    store_close(s);
}
END_TEST

START_TEST(log_is_append_only)
{
    store *s = S_open();
    folio_err err;
    ck_assert_int_eq(S_append1(s, "x", STORE_ANY, NULL, "{}", NULL, &err), 0);
    char *msg = NULL;
    static const char *const attacks[] = {
        "UPDATE events SET data = '{\"x\":1}'",
        "DELETE FROM events",
        "INSERT OR REPLACE INTO events(position, event_id, stream_id,"
        " stream_version, type, schema_version, data, metadata, recorded_at)"
        " VALUES (1, 'e', 'x', 0, 'T', 1, '{}', '{}', 0)",
        "INSERT INTO events(event_id, stream_id, stream_version, type,"
        " schema_version, data, metadata, recorded_at)"
        " VALUES ('e', 'x', 0, 'T', 1, '{}', '{}', 0)"
        " ON CONFLICT DO UPDATE SET data = '{}'",
    };
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        ck_assert_int_ne(sqlite3_exec(store_db(s), attacks[i], NULL, NULL,
                                      &msg), SQLITE_OK);
        ck_assert_msg(msg && strstr(msg, "the event log is append-only"),
                      "%zu: %s", i, msg ? msg : "(null)");
        sqlite3_free(msg);
        msg = NULL;
    }
    ck_assert_int_eq(S_int(s, "SELECT count(*) FROM events WHERE data = '{}'"),
                     1);
    buf report = BUF_INIT;
    ck_assert_int_eq(store_check(s, &report, &err), 0);
    ck_assert_int_eq(sqlite3_exec(store_db(s), "DROP TRIGGER events_no_delete",
                                  NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(store_check(s, &report, &err), 1);
    ck_assert_msg(strstr(report.ptr, "events_no_delete is missing"), "%s",
                  report.ptr);
    buf_free(&report);
    store_close(s);
}
END_TEST

/* Two processes race for the same stream version: the loser waits for the
 * write lock, then sees the winner's event. */
START_TEST(two_processes_one_wins)
{
    store *s = S_open();
    folio_err err;
    ck_assert_int_eq(S_append1(s, "race", STORE_NO_STREAM, NULL, "{}", NULL,
                               &err), 0);
    store_close(s);
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        ck_assert_int_ge(kids[k], 0);
        if (kids[k] == 0) {
            close(go[1]);
            store *c = NULL;
            folio_err e;
            store_opts o = {1, 0};
            if (store_open(S_db, &o, &c, &e) != 0)
                _exit(10);
            char b;
            if (read(go[0], &b, 1) != 0) /* wait for the start: EOF */
                _exit(11);
            int rc = S_append1(c, "race", 0, NULL, "{\"kid\":1}", NULL, &e);
            store_close(c);
            _exit(rc == STORE_OK ? 0 : rc == STORE_CONFLICT ? 1 : 12);
        }
    }
    close(go[0]);
    close(go[1]);
    int wins = 0, conflicts = 0;
    for (int k = 0; k < 2; k++) {
        int st;
        ck_assert_int_eq(waitpid(kids[k], &st, 0), kids[k]);
        ck_assert(WIFEXITED(st));
        int code = WEXITSTATUS(st);
        ck_assert_msg(code <= 1, "child exited %d", code);
        wins += code == 0;
        conflicts += code == 1;
    }
    ck_assert_int_eq(wins, 1);
    ck_assert_int_eq(conflicts, 1);
    s = S_open();
    ck_assert_int_eq(S_int(s, "SELECT count(*) FROM events"), 2);
    store_close(s);
}
END_TEST

/* Processes starting together on a new database: one makes the schema,
 * the others wait for it; every append lands. */
START_TEST(first_open_race)
{
    enum { KIDS = 4 };
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t kids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        kids[k] = fork();
        ck_assert_int_ge(kids[k], 0);
        if (kids[k] == 0) {
            close(go[1]);
            char b;
            if (read(go[0], &b, 1) != 0)
                _exit(10);
            store *c = NULL;
            folio_err e;
            if (store_open(S_db, NULL, &c, &e) != 0) {
                fprintf(stderr, "kid: %s\n", e.msg);
                _exit(11);
            }
            int rc = S_append1(c, "many", STORE_ANY, NULL, "{}", NULL, &e);
            store_close(c);
            _exit(rc == STORE_OK ? 0 : 12);
        }
    }
    close(go[0]);
    close(go[1]);
    for (int k = 0; k < KIDS; k++) {
        int st;
        ck_assert_int_eq(waitpid(kids[k], &st, 0), kids[k]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "kid %d: %d", k,
                      WEXITSTATUS(st));
    }
    store *s = S_open();
    ck_assert_int_eq(store_head(s), KIDS);
    ck_assert_int_eq(S_int(s, "PRAGMA user_version"), 7);
    store_close(s);
}
END_TEST

START_TEST(no_gap_after_failed_batch)
{
    store *s = S_open();
    folio_err err;
    ck_assert_int_eq(S_append1(s, "a", STORE_ANY, NULL, "{}", NULL, &err), 0);
    store_new_event bad[3] = {
        {NULL, "T", 1, "{}", NULL},
        {NULL, "T", 1, "{}", NULL},
        {NULL, "T", 1, "not json", NULL},
    };
    ck_assert_int_eq(store_append(s, "b", STORE_ANY, bad, 3, NULL, &err),
                     STORE_ERROR);
    ck_assert_int_eq(store_head(s), 1);
    /* The same inside an outer transaction and a caller's savepoint. */
    ck_assert_int_eq(store_begin(s, &err), 0);
    ck_assert(store_in_tx(s));
    ck_assert_int_eq(sqlite3_exec(store_db(s), "SAVEPOINT cmd", NULL, NULL,
                                  NULL), SQLITE_OK);
    ck_assert_int_eq(store_append(s, "b", STORE_ANY, bad, 3, NULL, &err),
                     STORE_ERROR);
    ck_assert_int_eq(S_append1(s, "b", STORE_NO_STREAM, NULL, "{}", NULL,
                               &err), STORE_OK);
    ck_assert_int_eq(S_append1(s, "b", STORE_NO_STREAM, NULL, "{}", NULL,
                               &err), STORE_CONFLICT);
    ck_assert_int_eq(sqlite3_exec(store_db(s), "RELEASE cmd", NULL, NULL,
                                  NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(store_db(s), "SAVEPOINT cmd2", NULL, NULL,
                                  NULL), SQLITE_OK);
    ck_assert_int_eq(S_append1(s, "c", STORE_ANY, NULL, "{}", NULL, &err), 0);
    ck_assert_int_eq(sqlite3_exec(store_db(s), "ROLLBACK TO cmd2; RELEASE cmd2",
                                  NULL, NULL, NULL), SQLITE_OK);
    ck_assert(store_in_tx(s));
    ck_assert_int_eq(store_commit(s, &err), 0);
    ck_assert(!store_in_tx(s));
    long long p;
    ck_assert_int_eq(S_append1(s, "d", STORE_ANY, NULL, "{}", &p, &err), 0);
    ck_assert_int_eq(p, 3);
    /* A rolled-back transaction leaves no gap either. */
    ck_assert_int_eq(store_begin(s, &err), 0);
    ck_assert_int_eq(S_append1(s, "e", STORE_ANY, NULL, "{}", &p, &err), 0);
    ck_assert_int_eq(p, 4);
    store_rollback(s);
    ck_assert_int_eq(S_append1(s, "f", STORE_ANY, NULL, "{}", &p, &err), 0);
    ck_assert_int_eq(p, 4);
    buf report = BUF_INIT;
    ck_assert_int_eq(store_check(s, &report, &err), 0);
    buf_free(&report);
    store_close(s);
}
END_TEST

START_TEST(uncommitted_append_is_invisible)
{
    store *a = S_open(), *b = S_open();
    folio_err err;
    ck_assert_int_eq(store_begin(a, &err), 0);
    ck_assert_int_eq(store_begin(a, &err), -1);
    ck_assert_int_eq(S_append1(a, "x", STORE_ANY, NULL, "{}", NULL, &err), 0);
    ck_assert_int_eq(store_head(b), 0);
    ck_assert_int_eq(store_commit(a, &err), 0);
    ck_assert_int_eq(store_head(b), 1);
    store_close(a);
    store_close(b);
}
END_TEST

static int S_count(void *ud, const store_event *ev)
{
    (void)ev;
    (*(long long *)ud)++;
    return 0;
}

/* A writer process appends while this one backs up: the copy is a
 * consistent snapshot (gap-free, checkable) and opens as a store. */
START_TEST(backup_while_writing)
{
    store *s = S_open();
    folio_err err;
    store_new_event evs[50];
    for (int i = 0; i < 50; i++)
        evs[i] = (store_new_event){NULL, "T", 1, "{\"pad\":\"0123456789\"}",
                                   NULL};
    for (int i = 0; i < 40; i++)
        ck_assert_int_eq(store_append(s, "seed", STORE_ANY, evs, 50, NULL,
                                      &err), 0);
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0) {
        close(ready[0]);
        store *w = NULL;
        folio_err e;
        if (store_open(S_db, NULL, &w, &e) != 0)
            _exit(10);
        if (write(ready[1], "x", 1) != 1)
            _exit(11);
        for (int i = 0; i < 300; i++)
            if (store_append(w, "w", STORE_ANY, evs, 5, NULL, &e) != 0)
                _exit(12);
        store_close(w);
        _exit(0);
    }
    close(ready[1]);
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    close(ready[0]);
    char path[400];
    long long heads[3];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/backup-%d.db", S_dir, i);
        ck_assert_msg(store_backup(s, path, &err) == 0, "%s", err.msg);
        store *bk = NULL;
        ck_assert_msg(store_open(path, NULL, &bk, &err) == 0, "%s", err.msg);
        buf report = BUF_INIT;
        ck_assert_msg(store_check(bk, &report, &err) == 0, "%s",
                      report.ptr ? report.ptr : err.msg);
        buf_free(&report);
        heads[i] = store_head(bk);
        long long n = 0, last;
        ck_assert_int_eq(store_read_all(bk, 0, 0, S_count, &n, &last, &err), 0);
        ck_assert_int_eq(n, heads[i]);
        ck_assert_int_ge(heads[i], 2000);
        store_close(bk);
    }
    int st;
    ck_assert_int_eq(waitpid(kid, &st, 0), kid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(store_head(s), 2000 + 1500);
    ck_assert(heads[0] <= heads[1] && heads[1] <= heads[2]);
    char tmp[420];
    snprintf(tmp, sizeof tmp, "%s/backup-0.db-wal", S_dir);
    ck_assert(!util_is_file(tmp));
    store_close(s);
}
END_TEST

/* A callback may read the store again (a nested read gets its own
 * statement). */
static int S_nested(void *ud, const store_event *ev)
{
    store *s = ud;
    long long n = 0;
    folio_err err;
    ck_assert_int_eq(store_read_stream(s, ev->stream_id, S_count, &n, &err), 0);
    ck_assert_int_eq(n, 2);
    return 0;
}

START_TEST(nested_reads)
{
    store *s = S_open();
    folio_err err;
    ck_assert_int_eq(S_append1(s, "n", STORE_ANY, NULL, "{}", NULL, &err), 0);
    ck_assert_int_eq(S_append1(s, "n", STORE_ANY, NULL, "{}", NULL, &err), 0);
    ck_assert_int_eq(store_read_stream(s, "n", S_nested, s, &err), 0);
    store_close(s);
}
END_TEST

/* A clock that steps back does not make recorded_at go down, and "until"
 * is a prefix of the log. */
START_TEST(recorded_at_never_decreases)
{
    store *s = S_open();
    folio_err err;
    long long future = util_now_ms() + 3600 * 1000;
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO events(event_id, stream_id,"
             " stream_version, type, schema_version, data, metadata,"
             " recorded_at) VALUES ('00000000-0000-4000-8000-000000000001', 'z', 0, 'T', 1, '{}', '{}', %lld)",
             future);
    ck_assert_int_eq(sqlite3_exec(store_db(s), sql, NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(S_append1(s, "z", 0, NULL, "{}", NULL, &err), 0);
    ck_assert_int_eq(S_int(s, "SELECT recorded_at FROM events"
                              " WHERE position = 2"), future);
    seen w = {0};
    ck_assert_int_eq(store_read_until(s, future - 1, S_collect, &w, &err), 0);
    ck_assert_uint_eq(w.n, 0);
    ck_assert_int_eq(store_read_until(s, future, S_collect, &w, &err), 0);
    ck_assert_uint_eq(w.n, 2);
    store_close(s);
}
END_TEST

START_TEST(backup_refused_in_transaction)
{
    store *s = S_open();
    folio_err err;
    char path[400];
    snprintf(path, sizeof path, "%s/b.db", S_dir);
    ck_assert_int_eq(store_begin(s, &err), 0);
    ck_assert_int_eq(store_backup(s, path, &err), -1);
    ck_assert_msg(strstr(err.msg, "transaction"), "%s", err.msg);
    store_rollback(s);
    ck_assert_int_eq(store_backup(s, path, &err), 0);
    ck_assert(util_is_file(path));
    store_close(s);
}
END_TEST

static int S_ids(void *ud, const store_event *ev)
{
    char (*ids)[37] = ud;
    snprintf(ids[ev->position - 1], 37, "%s", ev->event_id);
    return 0;
}

START_TEST(uuids)
{
    /* Ids the store makes are UUIDv7: ascending with time. */
    store *s = S_open();
    folio_err err;
    ck_assert_int_eq(S_append1(s, "u", STORE_ANY, NULL, "{}", NULL, &err), 0);
    usleep(2000);
    ck_assert_int_eq(S_append1(s, "u", STORE_ANY, NULL, "{}", NULL, &err), 0);
    char ids[2][37];
    ck_assert_int_eq(store_read_stream(s, "u", S_ids, ids, &err), 0);
    ck_assert_int_eq(ids[0][14], '7');
    ck_assert(strchr("89ab", ids[0][19]));
    ck_assert_int_lt(strcmp(ids[0], ids[1]), 0);
    store_close(s);

    char a[37], b[37];
    store_uuid(a);
    store_uuid(b);
    ck_assert_int_eq(strlen(a), 36);
    ck_assert_str_ne(a, b);
    ck_assert_int_eq(a[14], '4');
    ck_assert(strchr("89ab", a[19]));
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, S_setup, S_teardown);
    tcase_add_test(tc, migrates_from_empty);
    tcase_add_test(tc, migrates_an_older_schema);
    tcase_add_test(tc, refuses_newer_schema);
    tcase_add_test(tc, append_and_read_stream);
    tcase_add_test(tc, read_all_pages);
    tcase_add_test(tc, read_until_time);
    tcase_add_test(tc, expected_versions);
    tcase_add_test(tc, idempotent_append);
    tcase_add_test(tc, log_is_append_only);
    tcase_add_test(tc, two_processes_one_wins);
    tcase_add_test(tc, first_open_race);
    tcase_add_test(tc, no_gap_after_failed_batch);
    tcase_add_test(tc, uncommitted_append_is_invisible);
    tcase_add_test(tc, backup_while_writing);
    tcase_add_test(tc, nested_reads);
    tcase_add_test(tc, recorded_at_never_decreases);
    tcase_add_test(tc, backup_refused_in_transaction);
    tcase_add_test(tc, uuids);
    suite_add_tcase(su, tc);
    return unit_run(su);
}
