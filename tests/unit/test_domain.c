/* Domain commands and projections against temporary sites: registration,
 * passwords, contact limits and repeats, concurrency, group commit,
 * replay, as-of, forget and rebuilds. */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accounts.h"
#include "config.h"
#include "domain.h"
#include "projections.h"
#include "store.h"
#include "vault.h"
#include "util.h"
#include "unit.h"

static char S_dir[256];
static folio_config S_cfg;

static void S_setup(void)
{
    unit_site_open(S_dir, sizeof S_dir, "domain", &S_cfg);
}

static void S_teardown(void)
{
    unit_site_close(S_dir, &S_cfg);
}

static domain *S_open(void)
{
    return unit_domain(&S_cfg);
}

static int S_register(domain *d, const char *email, const char *name,
                      const char *password, domain_result *res)
{
    domain_register_req req = {email, name, password, NULL, "req-1", NULL, 0, 0};
    folio_err err = {{0}};
    int rc = domain_register(d, &req, res, &err);
    ck_assert_msg(rc != DOMAIN_ERROR, "%s", err.msg);
    ck_assert_int_eq(rc, res->rc);
    return rc;
}

static int S_contact(domain *d, const char *name, const char *email,
                     const char *message, domain_result *res)
{
    domain_contact_req req = {name, email, NULL, message, "/contact/", NULL,
                              "192.0.2.7"};
    folio_err err = {{0}};
    int rc = domain_contact(d, &req, res, &err);
    ck_assert_msg(rc != DOMAIN_ERROR, "%s", err.msg);
    return rc;
}

/* A second connection to the site's database, as another reader. */
static sqlite3 *S_db(void)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(S_cfg.db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static long long S_int(const char *sql)
{
    return unit_db_int(S_cfg.db_path, sql);
}

static void S_sql(const char *sql) { unit_db_exec(S_cfg.db_path, sql); }

static long long S_eleven_minutes_on(void)
{
    return util_now_ms() + 11 * 60 * 1000;
}

/* Every row of the projection tables, as text, in a fixed order. */
static char *S_dump(void)
{
    static const char *const tables[] = {
        "members", "members_private", "inbox", "stats_types", "stats_days",
        NULL};
    sqlite3 *db = S_db();
    buf b = BUF_INIT;
    for (size_t i = 0; tables[i]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1, 2", tables[i]);
        sqlite3_stmt *st = NULL;
        ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
                         SQLITE_OK);
        buf_printf(&b, "[%s]\n", tables[i]);
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                if (sqlite3_column_type(st, c) == SQLITE_BLOB) {
                    /* ids and hashes are stored in binary */
                    const unsigned char *v = sqlite3_column_blob(st, c);
                    for (int k = 0; k < sqlite3_column_bytes(st, c); k++)
                        buf_printf(&b, "%02x", v[k]);
                    buf_putc(&b, '|');
                    continue;
                }
                const unsigned char *t = sqlite3_column_text(st, c);
                buf_printf(&b, "%s|", t ? (const char *)t : "NULL");
            }
            buf_putc(&b, '\n');
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return buf_detach(&b, NULL);
}

static char *S_events(domain *d, int json)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    domain_events_query q = {0};
    q.json = json;
    folio_err err = {{0}};
    ck_assert_msg(domain_print_events(d, &q, f, &err) == 0, "%s", err.msg);
    fclose(f);
    return text;
}

/* ---- registration ----------------------------------------------------- */

START_TEST(register_and_duplicates)
{
    domain *d = S_open();
    domain_result res;
    ck_assert_int_eq(S_register(d, "Ada@Example.org", "Ada", NULL, &res),
                     DOMAIN_OK);
    ck_assert(!strncmp(res.id, "user-", 5));
    ck_assert_int_gt(res.position, 0);
    ck_assert_uint_eq(res.nchanged, 3);
    ck_assert_str_eq(res.changed[0], "community");
    /* the new member's rank: only the pages that show it change */
    ck_assert_str_eq(res.changed[1], "community.members@1");
    const char *variants[] = {"ada@example.org", "  ADA@EXAMPLE.ORG\t",
                              "ada@Example.Org "};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(S_register(d, variants[i], "Other", NULL, &res),
                         DOMAIN_ALREADY_REGISTERED);
        ck_assert_uint_eq(res.nerrors, 1);
        ck_assert_str_eq(res.errors[0].field, "email");
        ck_assert_int_eq(res.position, 0);
    }
    ck_assert_int_eq(S_int("SELECT count(*) FROM events"), 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members"), 1);
    /* field rules, all reported at once */
    ck_assert_int_eq(S_register(d, "not-an-address", "  ", "short", &res),
                     DOMAIN_INVALID);
    ck_assert_uint_eq(res.nerrors, 3);
    ck_assert_str_eq(res.errors[0].field, "email");
    ck_assert_str_eq(res.errors[0].message, "must be a valid e-mail address");
    ck_assert_str_eq(res.errors[1].field, "display_name");
    ck_assert_str_eq(res.errors[2].field, "password");
    char longname[200];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(S_register(d, "b@example.org", longname, NULL, &res),
                     DOMAIN_INVALID);
    ck_assert_str_eq(res.errors[0].field, "display_name");
    ck_assert_int_eq(S_register(d, "b@example.org", "Bad\x01", NULL, &res),
                     DOMAIN_INVALID);
    ck_assert_int_eq(S_int("SELECT count(*) FROM events"), 1);
    domain_close(d);
}
END_TEST

/* 1 when needle occurs in the file at path, compared without case. */
static int S_file_has(const char *path, const char *needle)
{
    char *data = NULL;
    size_t len = 0;
    folio_err err;
    if (util_read_file(path, &data, &len, &err) < 0)
        return 0;
    size_t n = strlen(needle);
    int found = 0;
    for (size_t i = 0; !found && n <= len && i <= len - n; i++)
        found = !strncasecmp(data + i, needle, n);
    free(data);
    return found;
}

/* 1 when needle occurs in any file under dir (case-insensitive). */
static int S_tree_has(const char *dir, const char *needle)
{
    DIR *dh = opendir(dir);
    ck_assert_ptr_nonnull(dh);
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(dh)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        found = util_is_dir(p) ? S_tree_has(p, needle) : S_file_has(p, needle);
    }
    closedir(dh);
    return found;
}

START_TEST(passwords)
{
    domain *d = S_open();
    domain_result res;
    char big[1030];
    memset(big, 'p', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(S_register(d, "p@example.org", "P", "nine-char", &res),
                     DOMAIN_INVALID);
    ck_assert_str_eq(res.errors[0].field, "password");
    ck_assert_int_eq(S_register(d, "p@example.org", "P", big, &res),
                     DOMAIN_INVALID);
    ck_assert_int_eq(S_register(d, "p@example.org", "P",
                                "a sound passphrase", &res),
                     DOMAIN_OK);
    sqlite3 *db = S_db();
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT password_hash FROM"
                                        " credentials", -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    const char *hash = (const char *)sqlite3_column_text(st, 0);
    ck_assert(!strncmp(hash, "$argon2id$", 10));
    ck_assert(strstr(hash, "m=65536") != NULL); /* interactive limits */
    char hcopy[200];
    snprintf(hcopy, sizeof hcopy, "%s", hash);
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* a hash made outside the writer is taken as it is */
    char pre[128];
    folio_err err = {{0}};
    ck_assert_int_eq(domain_hash_password("another passphrase", pre, &err),
                     0);
    domain_register_req req = {"q@example.org", "Q", NULL, pre, NULL, NULL, 0, 0};
    ck_assert_int_eq(domain_register(d, &req, &res, &err), DOMAIN_OK);
    ck_assert_int_eq(S_int("SELECT count(*) FROM credentials"), 2);
    /* neither the password nor its hash is in the log */
    char *log = S_events(d, 1);
    ck_assert(strstr(log, "sound passphrase") == NULL);
    ck_assert(strstr(log, hcopy) == NULL);
    ck_assert(strstr(log, "argon2") == NULL);
    ck_assert(strstr(log, "\"has_password\":true") != NULL);
    free(log);
    domain_close(d);
    char var[512];
    snprintf(var, sizeof var, "%s", S_cfg.var_dir);
    ck_assert(!S_tree_has(var, "sound passphrase"));
}
END_TEST

/* ---- contact ---------------------------------------------------------- */

START_TEST(contact_limits_and_repeats)
{
    domain *d = S_open();
    domain_result res;
    ck_assert_int_eq(S_contact(d, "Carl", "carl@example.org", "Hello!", &res),
                     DOMAIN_OK);
    ck_assert(!strncmp(res.id, "contact-", 8));
    ck_assert_uint_eq(res.nchanged, 1);
    ck_assert_str_eq(res.changed[0], "stats");
    char first[sizeof res.id];
    memcpy(first, res.id, sizeof first);
    /* the same address (any case) and message within 10 minutes: the
     * answer carries the original request's id, not an empty one */
    ck_assert_int_eq(S_contact(d, "Carl", " CARL@example.org", "Hello!  ",
                               &res),
                     DOMAIN_DUPLICATE);
    ck_assert_int_eq(res.position, 0);
    ck_assert_str_eq(res.id, first);
    ck_assert_int_eq(S_int("SELECT count(*) FROM events"), 1);
    /* another message, another address: stored */
    ck_assert_int_eq(S_contact(d, "Carl", "carl@example.org", "Hello again",
                               &res), DOMAIN_OK);
    ck_assert_int_eq(S_contact(d, "Dora", "dora@example.org", "Hello!", &res),
                     DOMAIN_OK);
    /* eleven minutes later the same message is new again */
    domain_set_clock(d, S_eleven_minutes_on);
    ck_assert_int_eq(S_contact(d, "Carl", "carl@example.org", "Hello!", &res),
                     DOMAIN_OK);
    domain_set_clock(d, NULL);
    ck_assert_int_eq(S_int("SELECT count(*) FROM events"), 4);
    /* limits */
    char *big = malloc(5002);
    memset(big, 'm', 5001);
    big[5001] = '\0';
    ck_assert_int_eq(S_contact(d, "Carl", "carl@example.org", big, &res),
                     DOMAIN_INVALID);
    ck_assert_str_eq(res.errors[0].field, "message");
    big[5000] = '\0';
    ck_assert_int_eq(S_contact(d, "Carl", "carl@example.org", big, &res),
                     DOMAIN_OK);
    free(big);
    ck_assert_int_eq(S_contact(d, "", "nope", "", &res), DOMAIN_INVALID);
    ck_assert_uint_eq(res.nerrors, 3);
    ck_assert_str_eq(res.errors[0].field, "name");
    ck_assert_str_eq(res.errors[1].field, "email");
    ck_assert_str_eq(res.errors[2].field, "message");
    domain_contact_req req = {"E", "e@example.org", "\x07subject", "m", NULL,
                              NULL, NULL};
    ck_assert_int_eq(domain_check_contact(&req, &res), DOMAIN_INVALID);
    ck_assert_str_eq(res.errors[0].field, "subject");
    /* the owner reads it all back, the client address too */
    char *log = S_events(d, 1);
    ck_assert_ptr_nonnull(strstr(log, "\"client\":\"192.0.2.7\""));
    ck_assert_ptr_nonnull(strstr(log, "\"message\":\"Hello again\""));
    ck_assert_ptr_nonnull(strstr(log, "\"page\":\"/contact/\""));
    free(log);
    /* the inbox holds no plaintext */
    ck_assert_int_eq(S_int("SELECT count(*) FROM inbox WHERE status = 'new'"),
                     5);
    domain_close(d);
    char var[512];
    snprintf(var, sizeof var, "%s", S_cfg.var_dir);
    ck_assert(!S_tree_has(var, "carl@example.org"));
    ck_assert(!S_tree_has(var, "Hello again"));
    ck_assert(!S_tree_has(var, "192.0.2.7"));
}
END_TEST

/* ---- concurrency and group commit -------------------------------------- */

START_TEST(concurrent_registrations)
{
    domain_close(S_open()); /* the schema exists before the race */
    enum { N = 6 };
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0) {
            domain *d = NULL;
            folio_err err = {{0}};
            if (domain_open(&S_cfg, &d, &err) < 0)
                _exit(10);
            char name[32];
            snprintf(name, sizeof name, "Racer %d", i);
            domain_register_req req = {i % 2 ? "RACE@example.org"
                                             : "race@example.org ",
                                       name, NULL, NULL, NULL, NULL, 0, 0};
            domain_result res;
            int rc = domain_register(d, &req, &res, &err);
            domain_close(d);
            _exit(rc == DOMAIN_OK ? 0 : rc == DOMAIN_ALREADY_REGISTERED ? 1
                                                                         : 11);
        }
    }
    int ok = 0, lost = 0;
    for (int i = 0; i < N; i++) {
        int st = 0;
        ck_assert_int_eq(waitpid(kids[i], &st, 0), kids[i]);
        ck_assert(WIFEXITED(st));
        ok += WEXITSTATUS(st) == 0;
        lost += WEXITSTATUS(st) == 1;
    }
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(lost, N - 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM events"), 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members"), 1);
}
END_TEST

START_TEST(group_commit)
{
    domain *d = S_open();
    domain_result res;
    folio_err err = {{0}};
    ck_assert_int_eq(S_register(d, "one@example.org", "One", NULL, &res),
                     DOMAIN_OK);
    ck_assert_int_eq(domain_begin(d, &err), 0);
    ck_assert_int_eq(S_register(d, "two@example.org", "Two", NULL, &res),
                     DOMAIN_OK);
    ck_assert_int_eq(S_register(d, "one@example.org", "Again", NULL, &res),
                     DOMAIN_ALREADY_REGISTERED);
    ck_assert_int_eq(S_contact(d, "Three", "three@example.org", "hi", &res),
                     DOMAIN_OK);
    ck_assert_int_eq(S_register(d, "bad", "Bad", NULL, &res), DOMAIN_INVALID);
    ck_assert_int_eq(S_register(d, "four@example.org", "Four", NULL, &res),
                     DOMAIN_OK);
    /* nothing is visible to others before the commit */
    ck_assert_int_eq(S_int("SELECT count(*) FROM events"), 1);
    ck_assert_int_eq(domain_commit(d, &err), 0);
    ck_assert_int_eq(S_int("SELECT count(*) FROM events"), 4);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members"), 3);
    ck_assert_int_eq(S_int("SELECT max(position) FROM events"), 4);
    /* a rolled-back group leaves nothing */
    ck_assert_int_eq(domain_begin(d, &err), 0);
    ck_assert_int_eq(S_register(d, "five@example.org", "Five", NULL, &res),
                     DOMAIN_OK);
    domain_rollback(d);
    ck_assert_int_eq(S_int("SELECT count(*) FROM events"), 4);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members"), 3);
    const cJSON *c = domain_site_data(d, "community");
    ck_assert_int_eq(cJSON_GetObjectItem(c, "count")->valueint, 3);
    ck_assert(domain_writable(d));
    domain_close(d);
}
END_TEST

/* ---- replay, check, rebuild -------------------------------------------- */

static void S_some_history(domain *d)
{
    domain_result res;
    ck_assert_int_eq(S_register(d, "a@example.org", "Ann", NULL, &res),
                     DOMAIN_OK);
    ck_assert_int_eq(S_contact(d, "Ann", "a@example.org", "hi", &res),
                     DOMAIN_OK);
    ck_assert_int_eq(S_register(d, "b@example.org", "Ben", NULL, &res),
                     DOMAIN_OK);
    ck_assert_int_eq(S_contact(d, "Cy", "c@example.org", "hello", &res),
                     DOMAIN_OK);
    ck_assert_int_eq(S_register(d, "c@example.org", "Cy", NULL, &res),
                     DOMAIN_OK);
    folio_err err = {{0}};
    ck_assert_int_eq(domain_forget(d, "B@example.org", &res, &err),
                     DOMAIN_OK);
    ck_assert_int_eq(S_register(d, "d@example.org", "Dee", NULL, &res),
                     DOMAIN_OK);
}

START_TEST(replay_equals_incremental)
{
    domain *d = S_open();
    S_some_history(d);
    char *before = S_dump();
    ck_assert(strstr(before, "Ann|") && strstr(before, "Dee|"));
    ck_assert(!strstr(before, "Ben|"));
    folio_err err = {{0}};
    /* the tables are right: the replay keeps them (and a trigger of the
     * test's own on them), writing nothing */
    S_sql("CREATE TABLE t_writes (n INTEGER); CREATE TRIGGER t_inb AFTER INSERT"
          " ON inbox BEGIN INSERT INTO t_writes VALUES (1); END");
    ck_assert_msg(domain_replay(d, NULL, 0, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(S_int("SELECT count(*) FROM sqlite_schema WHERE name = 't_inb'"), 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM t_writes"), 0);
    char *after = S_dump();
    ck_assert_str_eq(before, after);
    const char *one[] = {"members"};
    ck_assert_int_eq(domain_replay(d, one, 1, &err), 0);
    free(after);
    after = S_dump();
    ck_assert_str_eq(before, after);
    const char *bad[] = {"nope"};
    ck_assert_int_eq(domain_replay(d, bad, 1, &err), -1);
    /* and twice in a row: no stray tables left behind */
    ck_assert_int_eq(domain_replay(d, NULL, 0, &err), 0);
    ck_assert_int_eq(S_int("SELECT count(*) FROM sqlite_schema WHERE"
                           " name LIKE '%__new%'"), 0);
    buf report = BUF_INIT;
    ck_assert_int_eq(domain_check(d, &report, &err), 0);
    ck_assert_uint_eq(report.len, 0);
    free(before);
    free(after);
    domain_close(d);
}
END_TEST

/* A log longer than a rebuild's range of 1024 events is read and decoded
 * by two threads: the tables come out as the commands made them, with
 * erasures, people who came back and requests from the erased. */
static void S_long_history(domain *d)
{
    domain_result res;
    folio_err err = {{0}};
    char email[64], name[64], msg[64];
    ck_assert_int_eq(domain_begin(d, &err), 0);
    for (int i = 0; i < 1400; i++) {
        snprintf(email, sizeof email, "m%d@example.org", i);
        snprintf(name, sizeof name, "Member %d", i);
        snprintf(msg, sizeof msg, "message %d", i);
        ck_assert_int_eq(S_register(d, email, name, NULL, &res), DOMAIN_OK);
        ck_assert_int_eq(S_contact(d, name, email, msg, &res), DOMAIN_OK);
        if (i % 100 == 99) {
            snprintf(email, sizeof email, "m%d@example.org", i - 50);
            ck_assert_int_eq(domain_forget(d, email, &res, &err), DOMAIN_OK);
            if (i % 200 == 199) /* and back, as a new person */
                ck_assert_int_eq(S_register(d, email, "Back Again", NULL,
                                            &res), DOMAIN_OK);
        }
    }
    ck_assert_int_eq(domain_commit(d, &err), 0);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members"), 1400 - 14 + 7);
    ck_assert_int_eq(S_int("SELECT count(*) FROM inbox"), 1400 - 14);
}

/* folio check finds the tables differ, with line in its report. */
static void S_check_reports(domain *d, const char *line)
{
    folio_err err = {{0}};
    buf report = BUF_INIT;
    ck_assert_int_eq(domain_check(d, &report, &err), 1);
    ck_assert_msg(strstr(report.ptr, line), "%s", report.ptr);
    buf_free(&report);
}

/* A replay puts the tables back as they were when dumped into want. */
static void S_replay_back(domain *d, const char *want)
{
    folio_err err = {{0}};
    ck_assert_msg(domain_replay(d, NULL, 0, &err) == 0, "%s", err.msg);
    char *after = S_dump();
    ck_assert_str_eq(want, after);
    free(after);
}

/* The long history's tables equal a replay's, and check agrees. */
static void S_replay_agrees(domain *d)
{
    folio_err err = {{0}};
    char *before = S_dump();
    ck_assert_msg(domain_replay(d, NULL, 0, &err) == 0, "%s", err.msg);
    char *after = S_dump();
    ck_assert_str_eq(before, after);
    buf report = BUF_INIT;
    ck_assert_msg(domain_check(d, &report, &err) == 0, "%s",
                  report.ptr ? report.ptr : err.msg);
    buf_free(&report);
    free(before);
    free(after);
}

START_TEST(replay_on_two_threads)
{
    domain *d = S_open();
    S_long_history(d);
    S_replay_agrees(d);
    domain_close(d);
}
END_TEST

/* A rebuild holds members_private rows up to a bound and then writes
 * them in sorted runs that later runs go between, and reads the subject
 * keys through a small window, asking for the rest one by one: with
 * bounds of 7 rows and 2 * 5 keys, the long history's members go in 200
 * runs, most names are opened from the window, those whose key was made
 * before it (a second generation: people who came back) by a query, and
 * replay, check and an as-of copy still agree with the commands. */
START_TEST(replay_in_bounded_runs)
{
    projections_set_bounds(7, 5);
    domain *d = S_open();
    folio_err err = {{0}};
    S_long_history(d);
    S_replay_agrees(d);
    /* more differences than a check may hold (bounded like the rows):
     * counted by comparing fresh tables instead, the same report */
    char *good = S_dump();
    S_sql("UPDATE members SET display_name = 'X' WHERE position IN (SELECT"
          " position FROM members ORDER BY position LIMIT 30)");
    S_check_reports(d, "table members differs from a fresh replay: 30 row(s) not in"
                       " the replay, 30 row(s) missing");
    S_replay_back(d, good);
    free(good);
    S_replay_agrees(d);
    domain *then = NULL;
    ck_assert_msg(domain_open_as_of(&S_cfg, util_now_ms() + 1000, &then,
                                    &err) == 0, "%s", err.msg);
    const cJSON *c = domain_site_data(then, "community");
    ck_assert_int_eq(cJSON_GetObjectItem(c, "count")->valueint,
                     S_int("SELECT count(*) FROM members"));
    domain_close(then);
    projections_set_bounds(0, 0);
    domain_close(d);
}
END_TEST

/* folio replay of a store whose tables have this program's shapes keeps
 * them and writes only the rows that differ from the log's: a healthy
 * store gets no write (a trigger of the test's own on the members table
 * stays and sees nothing), and a damaged one is put right row by row,
 * the owner's decisions and the counts included, until it equals what
 * the commands made; rows the log never made send it to a rebuild. */
START_TEST(replay_keeps_right_rows)
{
    domain *d = S_open();
    domain_result res;
    folio_err err = {{0}};
    S_long_history(d);
    ck_assert_int_eq(domain_member_hide(d, "m3@example.org", 1, &res, &err), DOMAIN_OK);
    ck_assert_int_eq(domain_member_role(d, "m4@example.org", "owner", &res, &err),
                     DOMAIN_OK);
    ck_assert_int_eq(S_contact(d, "Dee", "dee@example.org", "Marked", &res), DOMAIN_OK);
    char marked[80];
    snprintf(marked, sizeof marked, "%s", res.id);
    ck_assert_int_eq(domain_contact_mark(d, marked, "spam", &res, &err), DOMAIN_OK);
    char *before = S_dump();
    S_sql("CREATE TABLE t_writes (n INTEGER); CREATE TRIGGER t_mem AFTER INSERT"
          " ON members BEGIN INSERT INTO t_writes VALUES (1); END;"
          " CREATE TRIGGER t_memu AFTER UPDATE ON members BEGIN"
          " INSERT INTO t_writes VALUES (2); END");
    ck_assert_msg(domain_replay(d, NULL, 0, &err) == 0, "%s", err.msg);
    char *after = S_dump();
    ck_assert_str_eq(before, after);
    free(after);
    ck_assert_int_eq(S_int("SELECT count(*) FROM sqlite_schema WHERE name = 't_mem'"), 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM t_writes"), 0);

    /* damaged: a name, a missing member and request, a hidden flag, a
     * role, a status, a private row and a count */
    S_sql("UPDATE members SET display_name = 'Mallory' WHERE display_name = 'Member 7';"
          " DELETE FROM members WHERE display_name = 'Member 9';"
          " DELETE FROM inbox WHERE position = (SELECT min(position) FROM inbox);"
          " UPDATE members SET hidden = 1 WHERE display_name = 'Member 11';"
          " UPDATE members SET hidden = 0 WHERE hidden = 1 AND display_name = 'Member 3';"
          " UPDATE members SET role = 'owner' WHERE display_name = 'Member 12';"
          " UPDATE inbox SET status = 'handled' WHERE position = (SELECT max(position) FROM inbox"
          "  WHERE status = 'new');"
          " UPDATE members_private SET locale = 'xx' WHERE position = (SELECT min(position)"
          "  FROM members_private);"
          " UPDATE inbox_counts SET n = 99; DELETE FROM t_writes");
    buf report = BUF_INIT;
    ck_assert_int_eq(domain_check(d, &report, &err), 1);
    buf_free(&report);
    ck_assert_msg(domain_replay(d, NULL, 0, &err) == 0, "%s", err.msg);
    after = S_dump();
    ck_assert_str_eq(before, after);
    free(after);
    ck_assert_int_eq(S_int("SELECT count(*) FROM sqlite_schema WHERE name = 't_mem'"), 1);
    ck_assert_int_gt(S_int("SELECT count(*) FROM t_writes"), 0);
    ck_assert_int_lt(S_int("SELECT count(*) FROM t_writes"), 20);
    ck_assert_int_eq(S_int("SELECT n FROM inbox_counts WHERE status = 'spam'"), 1);
    ck_assert_int_eq(S_int("SELECT sum(n) FROM inbox_counts"), S_int("SELECT count(*) FROM inbox"));
    ck_assert_int_eq(domain_check(d, &report, &err), 0);
    buf_free(&report);

    /* a row the log never made: the replay rebuilds (the test's trigger
     * goes with the old table) */
    S_sql("INSERT INTO members (position, user_id, display_name, joined_at,"
          " name_mac) VALUES (999999, x'00', 'Ghost', 0, x'00')");
    S_check_reports(d, "table members differs from a fresh replay: 1 row(s) not in"
                       " the replay, 0 row(s) missing");
    S_replay_back(d, before);
    ck_assert_int_eq(S_int("SELECT count(*) FROM sqlite_schema WHERE name = 't_mem'"), 0);
    ck_assert_int_eq(domain_check(d, &report, &err), 0);
    buf_free(&report);
    free(before);
    domain_close(d);
}
END_TEST

/* The log's guard against UPDATE, put back after a test rewrote events. */
#define S_LOG_GUARD \
    " CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN" \
    " SELECT RAISE(ABORT, 'the event log is append-only'); END"

/* A replay reads members' events as stored where they are cJSON's
 * unformatted print, and parses the rest: data that means the same in
 * other spellings (spaces, an escaped key, a flag's key in capitals, a
 * key twice, a v1 event) makes the same rows as the commands did, and
 * data that means something else (a pending sign-up, in capitals too; a
 * joined_at) makes what cJSON reads in it. */
START_TEST(replay_reads_members_as_stored)
{
    domain *d = S_open();
    domain_result res;
    char email[64], name[64];
    for (int i = 0; i < 9; i++) {
        snprintf(email, sizeof email, "s%d@example.org", i);
        snprintf(name, sizeof name, "Spelt %d", i);
        ck_assert_int_eq(S_register(d, email, name, i % 2 ? "correct horse"
                                    : NULL, &res), DOMAIN_OK);
    }
    ck_assert_int_eq(S_int("SELECT count(*) FROM events WHERE type ="
                           " 'UserRegistered' AND position <= 9"), 9);
    char *before = S_dump();
    S_sql("DROP TRIGGER events_no_update;"
          " UPDATE events SET data = replace(data, ',', ' ,\t') WHERE position = 1;"
          " UPDATE events SET data = replace(data, '\"locale\"', '\"loc\\u0061le\"')"
          "  WHERE position = 2;"
          " UPDATE events SET data = replace(data, 'has_password', 'HAS_PASSWORD')"
          "  WHERE position = 4;"
          " UPDATE events SET data = replace(data, '\"locale\":\"en\"',"
          "  '\"locale\":\"en\",\"locale\":\"de\"') WHERE position = 5;"
          " UPDATE events SET data = data || ' ' WHERE position = 6;"
          " UPDATE events SET schema_version = 1, data = replace(data,"
          "  ',\"locale\":\"en\"', '') WHERE position = 3;" S_LOG_GUARD);
    S_replay_back(d, before);
    folio_err err = {{0}};
    buf report = BUF_INIT;
    ck_assert_msg(domain_check(d, &report, &err) == 0, "%s",
                  report.ptr ? report.ptr : err.msg);
    buf_free(&report);
    S_sql("DROP TRIGGER events_no_update; UPDATE events SET data = replace(data, '}', ',\"pending\":true}')"
          "  WHERE position = 7;"
          " UPDATE events SET data = replace(data, '}', ',\"Pending\":true}')"
          "  WHERE position = 8;"
          " UPDATE events SET data = replace(data, '}', ',\"joined_at\":1000}')"
          "  WHERE position = 9;"
          " UPDATE events SET data = replace(data, '}', ',\"pending\":false}')"
          "  WHERE position = 1;" S_LOG_GUARD);
    ck_assert_msg(domain_replay(d, NULL, 0, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members"), 7);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members WHERE position IN"
                           " (7, 8)"), 0);
    ck_assert_int_eq(S_int("SELECT joined_at FROM members WHERE position = 9"),
                     1000);
    ck_assert_int_eq(S_int("SELECT has_password FROM members_private WHERE"
                           " position = 4"), 1);
    ck_assert_int_eq(S_int("SELECT has_password FROM members_private WHERE"
                           " position = 1"), 0);
    ck_assert_int_eq(S_int("SELECT has_password FROM members_private WHERE"
                           " position = 6"), 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members_private WHERE"
                           " locale = 'en'"), 7);
    free(before);
    domain_close(d);
}
END_TEST

/* Each of the n statements damages one row of table: check reports it,
 * and replay puts back the tables dumped into before, deleting `deletes`
 * rows (OR REPLACE: the damaged one, made again), after which check
 * agrees. */
static void S_each_damage(domain *d, const char *before, const char *table,
                          const char *const *sql, size_t n, int deletes)
{
    char line[160], triggers[512];
    snprintf(line, sizeof line, "table %s differs from a fresh replay: 1 row(s)"
             " not in the replay, 1 row(s) missing", table);
    snprintf(triggers, sizeof triggers,
             "CREATE TABLE t_writes (n INTEGER); CREATE TRIGGER t_u AFTER"
             " UPDATE ON %s BEGIN INSERT INTO t_writes VALUES (2); END;"
             " CREATE TRIGGER t_d AFTER DELETE ON %s BEGIN"
             " INSERT INTO t_writes VALUES (3); END", table, table);
    for (size_t i = 0; i < n; i++) {
        S_sql(sql[i]);
        S_check_reports(d, line);
        S_sql(triggers);
        S_replay_back(d, before);
        ck_assert_int_eq(S_int("SELECT count(*) FROM t_writes"), deletes);
        S_sql("DROP TABLE t_writes; DROP TRIGGER t_u; DROP TRIGGER t_d");
        folio_err err = {{0}};
        buf report = BUF_INIT;
        ck_assert_msg(domain_check(d, &report, &err) == 0, "%s",
                      report.ptr ? report.ptr : err.msg);
        buf_free(&report);
    }
}

/* A replay that keeps members compares their names without opening them,
 * through each row's name_mac: a name changed in the database under its
 * old MAC, a MAC changed under its right name, and a name and MAC both
 * taken from another member are each found by check and put back by
 * replay, row for row, with no more rows written than those. */
START_TEST(replay_checks_names_by_mac)
{
    domain *d = S_open();
    S_long_history(d);
    char *before = S_dump();
    static const char *const damage[] = {
        "UPDATE members SET display_name = 'Mallory' WHERE display_name ="
        " 'Member 7'",
        "UPDATE members SET name_mac = zeroblob(16) WHERE display_name ="
        " 'Member 8'",
        "UPDATE members SET (display_name, name_mac) = (SELECT display_name,"
        " name_mac FROM members WHERE display_name = 'Member 2') WHERE"
        " display_name = 'Member 9'",
    };
    S_each_damage(d, before, "members", damage,
                  sizeof damage / sizeof damage[0], 1);
    /* contact requests are compared undecoded, by each row's row_mac: a
     * page, a subject and a MAC changed, and a row's values taken from
     * another row, each found and put back */
    static const char *const inbox[] = {
        "UPDATE inbox SET page = '/evil/' WHERE position = (SELECT"
        " min(position) FROM inbox)",
        "UPDATE inbox SET subject = x'00' WHERE position = (SELECT"
        " max(position) FROM inbox)",
        "UPDATE inbox SET row_mac = zeroblob(16) WHERE position = (SELECT"
        " position FROM inbox ORDER BY position LIMIT 1 OFFSET 500)",
        "UPDATE inbox SET (subject, page, row_mac) = (SELECT subject, page,"
        " row_mac FROM inbox ORDER BY position LIMIT 1) WHERE position ="
        " (SELECT position FROM inbox ORDER BY position LIMIT 1 OFFSET 900)",
    };
    /* and the requests of the 14 people erased, made again (the log has
     * them) and erased again at the end, as every replay does */
    S_each_damage(d, before, "inbox", inbox, sizeof inbox / sizeof inbox[0],
                  15);
    /* members_private rows all over the table: compared by two threads,
     * each its half of the table */
    S_sql("UPDATE members_private SET locale = 'xx' WHERE position % 50 = 0");
    S_check_reports(d, "table members_private differs from a fresh replay: 27 row(s)"
                       " not in the replay, 27 row(s) missing");
    S_replay_back(d, before);
    free(before);
    domain_close(d);
}
END_TEST

START_TEST(check_finds_differences)
{
    domain *d = S_open();
    S_some_history(d);
    S_sql("UPDATE members SET display_name = 'Mallory' WHERE display_name ="
          " 'Ann'");
    S_sql("DELETE FROM stats_types WHERE type = 'PersonForgotten'");
    S_sql("UPDATE members_private SET locale = 'xx'");
    S_sql("INSERT INTO stats_days (day, type, count) VALUES ('1999-12-31',"
          " 'UserRegistered', 1)");
    buf report = BUF_INIT;
    folio_err err = {{0}};
    ck_assert_int_eq(domain_check(d, &report, &err), 1);
    /* a row changed counts on both sides, one added or taken on one */
    ck_assert_msg(strstr(report.ptr, "table members differs from a fresh replay:"
                                     " 1 row(s) not in the replay, 1 row(s) missing"),
                  "%s", report.ptr);
    ck_assert_msg(strstr(report.ptr, "table stats_types differs from a fresh replay:"
                                     " 0 row(s) not in the replay, 1 row(s) missing"),
                  "%s", report.ptr);
    ck_assert_msg(strstr(report.ptr, "table stats_days differs from a fresh replay:"
                                     " 1 row(s) not in the replay, 0 row(s) missing"),
                  "%s", report.ptr);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members_private"), 3);
    ck_assert_msg(strstr(report.ptr, "table members_private differs from a fresh"
                                     " replay: 3 row(s) not in the replay, 3 row(s)"
                                     " missing"),
                  "%s", report.ptr);
    buf_free(&report);
    ck_assert_int_eq(domain_replay(d, NULL, 0, &err), 0);
    ck_assert_int_eq(domain_check(d, &report, &err), 0);
    buf_free(&report);
    domain_close(d);
}
END_TEST

START_TEST(rebuild_on_code_version_change)
{
    domain *d = S_open();
    S_some_history(d);
    char *before = S_dump();
    domain_close(d);
    /* an older program's tables: another version, different contents */
    S_sql("UPDATE projection_checkpoints SET version = 0 WHERE"
          " name = 'members'; DELETE FROM members;"
          " DELETE FROM projection_checkpoints WHERE name = 'inbox';"
          " DROP TABLE stats_days");
    d = S_open();
    char *after = S_dump();
    ck_assert_str_eq(before, after);
    ck_assert_int_eq(S_int("SELECT min(version) FROM projection_checkpoints"),
                     1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM projection_checkpoints"), 3);
    ck_assert_int_eq(S_int("SELECT min(position) FROM projection_checkpoints"),
                     S_int("SELECT max(position) FROM events"));
    free(before);
    free(after);
    domain_close(d);
}
END_TEST

/* ---- pages' data ------------------------------------------------------ */

START_TEST(site_data)
{
    domain *d = S_open();
    S_some_history(d);
    const cJSON *c = domain_site_data(d, "community");
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(cJSON_GetObjectItem(c, "count")->valueint, 3);
    const cJSON *m = cJSON_GetObjectItem(c, "members");
    ck_assert_int_eq(cJSON_GetArraySize(m), 3);
    /* newest first */
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "name")
                         ->valuestring, "Dee");
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 2), "name")
                         ->valuestring, "Ann");
    const char *joined =
        cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "joined")->valuestring;
    const char *iso =
        cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "joined_iso")
            ->valuestring;
    ck_assert_int_eq(strlen(iso), 24);
    ck_assert(strchr(joined, ' ') && !strchr(joined, '-'));
    ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0),
                                           "email"));
    const cJSON *s = domain_site_data(d, "stats");
    ck_assert_int_eq(cJSON_GetObjectItem(s, "events")->valueint, 7);
    ck_assert_int_eq(cJSON_GetObjectItem(s, "members")->valueint, 3);
    ck_assert_int_eq(cJSON_GetObjectItem(s, "contacts")->valueint, 2);
    ck_assert_ptr_null(domain_site_data(d, "nothing"));
    /* the whole list by rank, 1 the oldest, newest first */
    cJSON *items = NULL;
    long long top = 0;
    folio_err err = {{0}};
    ck_assert_int_eq(domain_site_range(d, "community.members", 1, 2, &items, &top, &err), 0);
    ck_assert_int_eq(top, 3);
    ck_assert_int_eq(cJSON_GetArraySize(items), 2);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "rank")->valueint, 2);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 1), "name")->valuestring,
                     "Ann");
    cJSON_Delete(items);
    ck_assert_int_eq(domain_site_range(d, "community.members", 3, 99, &items, &top, &err), 0);
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    cJSON_Delete(items);
    ck_assert_int_eq(domain_site_range(d, "stats.x", 1, 2, &items, &top, &err), 1);
    const char *const *names = domain_data_names();
    ck_assert_str_eq(names[0], "community");
    ck_assert_str_eq(names[1], "stats");
    ck_assert_str_eq(names[2], "community.members");
    ck_assert_ptr_null(names[3]);
    domain_close(d);
}
END_TEST

/* ---- as-of ------------------------------------------------------------ */

static char *S_slurp(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    folio_err err;
    /* an absent WAL and an empty one hold the same: no frames */
    if (util_read_file(path, &data, &len, &err) < 0)
        return util_strdup("");
    /* a digest would do; the bytes are small */
    char *hex = malloc(len * 2 + 1);
    for (size_t i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)data[i]);
    hex[len * 2] = '\0';
    free(data);
    return hex;
}

START_TEST(as_of)
{
    domain *d = S_open();
    domain_result res;
    ck_assert_int_eq(S_register(d, "early@example.org", "Early", NULL, &res),
                     DOMAIN_OK);
    ck_assert_int_eq(S_contact(d, "E", "early@example.org", "m", &res),
                     DOMAIN_OK);
    usleep(30000);
    long long t = util_now_ms();
    usleep(30000);
    ck_assert_int_eq(S_register(d, "late@example.org", "Late", NULL, &res),
                     DOMAIN_OK);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", S_cfg.db_path);
    domain *old = NULL;
    folio_err err = {{0}};
    ck_assert_msg(domain_open_as_of(&S_cfg, t, &old, &err) == 0, "%s",
                  err.msg);
    const cJSON *c = domain_site_data(old, "community");
    ck_assert_int_eq(cJSON_GetObjectItem(c, "count")->valueint, 1);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(
                         cJSON_GetObjectItem(c, "members"), 0), "name")
                         ->valuestring, "Early");
    const cJSON *s = domain_site_data(old, "stats");
    ck_assert_int_eq(cJSON_GetObjectItem(s, "events")->valueint, 2);
    /* what pages show, the requests counted; the owner's inbox is no
     * part of the copy */
    ck_assert_int_eq(cJSON_GetObjectItem(s, "contacts")->valueint, 1);
    ck_assert_ptr_null(domain_inbox(old, NULL, NULL, &err));
    ck_assert_msg(strstr(err.msg, "holds no inbox"), "%s", err.msg);
    /* read-only */
    ck_assert_int_eq(S_register(d, "x@example.org", "X", NULL, &res),
                     DOMAIN_OK);
    domain_register_req req = {"y@example.org", "Y", NULL, NULL, NULL, NULL, 0, 0};
    ck_assert_int_eq(domain_register(old, &req, &res, &err), DOMAIN_ERROR);
    ck_assert_int_eq(domain_begin(old, &err), -1);
    /* live: the new member, while the old view still shows one */
    c = domain_site_data(d, "community");
    ck_assert_int_eq(cJSON_GetObjectItem(c, "count")->valueint, 3);
    c = domain_site_data(old, "community");
    ck_assert_int_eq(cJSON_GetObjectItem(c, "count")->valueint, 1);
    domain_close(old);
    domain_close(d);

    /* with no writer about, an as-of view changes neither file */
    char *db_before = S_slurp(S_cfg.db_path), *wal_before = S_slurp(wal);
    ck_assert_int_eq(domain_open_as_of(&S_cfg, t, &old, &err), 0);
    c = domain_site_data(old, "community");
    ck_assert_int_eq(cJSON_GetObjectItem(c, "count")->valueint, 1);
    domain_close(old);
    char *db_after = S_slurp(S_cfg.db_path), *wal_after = S_slurp(wal);
    ck_assert(!strcmp(db_before, db_after));
    ck_assert(!strcmp(wal_before, wal_after));
    free(db_before);
    free(wal_before);
    free(db_after);
    free(wal_after);

    /* a site without a store: an empty past */
    folio_config cfg2;
    char dir2[300];
    snprintf(dir2, sizeof dir2, "%s/empty", S_dir);
    ck_assert_int_eq(util_mkdirs(dir2, 0700, &err), 0);
    ck_assert_int_eq(config_load(dir2, &cfg2, &err), 0);
    ck_assert_int_eq(domain_open_as_of(&cfg2, t, &old, &err), 0);
    c = domain_site_data(old, "community");
    ck_assert_int_eq(cJSON_GetObjectItem(c, "count")->valueint, 0);
    domain_close(old);
    ck_assert(!util_is_file(cfg2.db_path));
    config_free(&cfg2);
}
END_TEST

/* ---- forget ----------------------------------------------------------- */

START_TEST(forget)
{
    domain *d = S_open();
    domain_result res;
    folio_err err = {{0}};
    ck_assert_int_eq(S_register(d, "Zed.Person@Example.org", "Zed Zebulon",
                                "zebra passphrase", &res), DOMAIN_OK);
    ck_assert_int_eq(S_contact(d, "Zed Zebulon", "zed.person@example.org",
                               "Please call me", &res), DOMAIN_OK);
    ck_assert_int_eq(S_register(d, "keep@example.org", "Keeper", NULL, &res),
                     DOMAIN_OK);
    char *log = S_events(d, 0);
    ck_assert_ptr_nonnull(strstr(log, "Zed Zebulon"));
    free(log);
    ck_assert_int_eq(domain_forget(d, " ZED.PERSON@example.ORG", &res, &err),
                     DOMAIN_OK);
    ck_assert(!strncmp(res.id, "person-", 7));
    ck_assert_uint_eq(res.nchanged, 3);
    ck_assert_str_eq(res.changed[1], "community.members"); /* ranks move: all */
    /* the member left every projection, the password is gone */
    ck_assert_int_eq(S_int("SELECT count(*) FROM members"), 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members_private"), 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM inbox"), 0);
    ck_assert_int_eq(S_int("SELECT count(*) FROM credentials"), 0);
    const cJSON *c = domain_site_data(d, "community");
    ck_assert_int_eq(cJSON_GetObjectItem(c, "count")->valueint, 1);
    /* their events read as redacted; the others' do not */
    log = S_events(d, 1);
    ck_assert_ptr_null(strstr(log, "Zed"));
    ck_assert_ptr_null(strstr(log, "zed"));
    ck_assert_ptr_null(strstr(log, "Please call me"));
    ck_assert_ptr_nonnull(strstr(log, "\"display_name\":\"[redacted]\""));
    ck_assert_ptr_nonnull(strstr(log, "\"email\":\"[redacted]\""));
    ck_assert_ptr_nonnull(strstr(log, "\"message\":\"[redacted]\""));
    ck_assert_ptr_nonnull(strstr(log, "Keeper"));
    ck_assert_ptr_nonnull(strstr(log, "PersonForgotten"));
    free(log);
    /* the same message again, right after the erasure: a new request,
     * not a duplicate of one that no longer exists */
    ck_assert_int_eq(S_contact(d, "Zed Zebulon", "zed.person@example.org",
                               "Please call me", &res), DOMAIN_OK);
    ck_assert_int_eq(S_int("SELECT count(*) FROM inbox"), 1);
    ck_assert_int_eq(S_contact(d, "Zed Zebulon", "zed.person@example.org",
                               "Please call me", &res), DOMAIN_DUPLICATE);
    ck_assert_int_eq(domain_forget(d, "zed.person@example.org", &res, &err),
                     DOMAIN_OK);
    /* again: nothing left to erase (come_back_after_forget: they may
     * come back) */
    ck_assert_int_eq(domain_forget(d, "zed.person@example.org", &res, &err),
                     DOMAIN_NOT_FOUND);
    ck_assert_int_eq(domain_forget(d, "nobody@example.org", &res, &err),
                     DOMAIN_NOT_FOUND);
    /* the replay agrees */
    buf report = BUF_INIT;
    ck_assert_int_eq(domain_check(d, &report, &err), 0);
    buf_free(&report);
    domain_close(d);
    /* no trace of the address or the name in any file of var/ */
    char var[512];
    snprintf(var, sizeof var, "%s", S_cfg.var_dir);
    ck_assert(!S_tree_has(var, "zed.person@example.org"));
    ck_assert(!S_tree_has(var, "Zed Zebulon"));
}
END_TEST

/* Someone erased may register and write again, as a new person: what
 * they sent before stays redacted, the new events read, and a replay
 * gives the same tables (their old rows gone, the new ones kept). */
START_TEST(come_back_after_forget)
{
    domain *d = S_open();
    domain_result res;
    folio_err err = {{0}};
    ck_assert_int_eq(S_register(d, "back@example.org", "Old Name", NULL, &res),
                     DOMAIN_OK);
    ck_assert_int_eq(S_contact(d, "Old Name", "back@example.org",
                               "first message", &res), DOMAIN_OK);
    ck_assert_int_eq(domain_forget(d, "back@example.org", &res, &err),
                     DOMAIN_OK);
    ck_assert_int_eq(S_register(d, "BACK@example.org", "New Name", NULL, &res),
                     DOMAIN_OK);
    ck_assert_int_eq(S_contact(d, "New Name", "back@example.org",
                               "second message", &res), DOMAIN_OK);
    ck_assert_int_eq(S_register(d, "back@example.org", "Twice", NULL, &res),
                     DOMAIN_ALREADY_REGISTERED);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members"), 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM inbox"), 1);
    const cJSON *c = domain_site_data(d, "community");
    ck_assert_int_eq(cJSON_GetObjectItem(c, "count")->valueint, 1);
    char *log = S_events(d, 1);
    ck_assert_ptr_null(strstr(log, "Old Name"));
    ck_assert_ptr_null(strstr(log, "first message"));
    ck_assert_ptr_nonnull(strstr(log, "\"display_name\":\"[redacted]\""));
    ck_assert_ptr_nonnull(strstr(log, "New Name"));
    ck_assert_ptr_nonnull(strstr(log, "second message"));
    free(log);
    char *before = S_dump();
    buf report = BUF_INIT;
    ck_assert_msg(domain_check(d, &report, &err) == 0, "%s",
                  report.ptr ? report.ptr : err.msg);
    buf_free(&report);
    ck_assert_int_eq(domain_replay(d, NULL, 0, &err), 0);
    char *after = S_dump();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    /* erased a second time: the second generation goes too */
    ck_assert_int_eq(domain_forget(d, "back@example.org", &res, &err),
                     DOMAIN_OK);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members"), 0);
    log = S_events(d, 1);
    ck_assert_ptr_null(strstr(log, "New Name"));
    free(log);
    domain_close(d);
    char var[512];
    snprintf(var, sizeof var, "%s", S_cfg.var_dir);
    ck_assert(!S_tree_has(var, "back@example.org"));
    ck_assert(!S_tree_has(var, "New Name"));
}
END_TEST

/* ---- upcasting -------------------------------------------------------- */

START_TEST(old_event_versions)
{
    /* A UserRegistered written at schema version 1 (no locale), as an older
     * folio wrote it, reads as v2 with the default locale, in the owner's
     * view and in the projections. */
    domain_close(S_open());
    store *st = NULL;
    vault *v = NULL;
    folio_err err = {{0}};
    store_opts o = {1, 0};
    ck_assert_msg(store_open(S_cfg.db_path, &o, &st, &err) == 0, "%s",
                  err.msg);
    ck_assert_msg(vault_open(S_cfg.master_key_path, store_db(st), &v, &err)
                  == 0, "%s", err.msg);
    char subject[VAULT_SUBJECT_LEN + 1];
    vault_subject(v, "old@example.org", subject);
    char *email = NULL, *name = NULL;
    ck_assert_int_eq(store_begin(st, &err), 0);
    ck_assert_int_eq(vault_seal(v, subject, "old@example.org", &email, &err),
                     0);
    ck_assert_int_eq(vault_seal(v, subject, "Old Timer", &name, &err), 0);
    char data[1024];
    snprintf(data, sizeof data,
             "{\"user_id\":\"old\",\"subject\":\"%s\",\"email\":\"%s\","
             "\"display_name\":\"%s\",\"has_password\":false}",
             subject, email, name);
    store_new_event ev = {NULL, "UserRegistered", 1, data, NULL};
    ck_assert_int_eq(store_append(st, "user-old", STORE_NO_STREAM, &ev, 1,
                                  NULL, &err), STORE_OK);
    ck_assert_int_eq(store_commit(st, &err), 0);
    free(email);
    free(name);
    vault_close(v);
    store_close(st);
    /* the projections catch up at open */
    domain *d = S_open();
    char *log = S_events(d, 1);
    ck_assert_ptr_nonnull(strstr(log, "\"locale\":\"en\""));
    ck_assert_ptr_nonnull(strstr(log, "\"schema_version\":2"));
    ck_assert_ptr_nonnull(strstr(log, "Old Timer"));
    free(log);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members_private WHERE"
                           " locale = 'en'"), 1);
    const cJSON *c = domain_site_data(d, "community");
    ck_assert_int_eq(cJSON_GetObjectItem(c, "count")->valueint, 1);
    domain_result res;
    ck_assert_int_eq(S_register(d, "OLD@example.org", "Again", NULL, &res),
                     DOMAIN_ALREADY_REGISTERED);
    domain_close(d);
}
END_TEST

/* ---- the owner's decisions ----------------------------------------------- */

static int S_has_name(const cJSON *arr, const char *name)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const cJSON *n = cJSON_GetObjectItem(it, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
            return 1;
    }
    return 0;
}

START_TEST(owner_decisions)
{
    domain *d = S_open();
    domain_result res;
    folio_err err = {{0}};
    ck_assert_int_eq(S_register(d, "ann@example.org", "Ann Visible", NULL, &res), DOMAIN_OK);
    ck_assert_int_eq(S_register(d, "bob@example.org", "Bob Hidden", NULL, &res), DOMAIN_OK);
    ck_assert_int_eq(S_register(d, "cy@example.org", "Cy Later", NULL, &res), DOMAIN_OK);
    ck_assert_int_eq(S_contact(d, "Dee", "dee@example.org", "First message", &res), DOMAIN_OK);
    char first[80];
    snprintf(first, sizeof first, "%s", res.id);
    ck_assert_int_eq(S_contact(d, "Eve", "eve@example.org", "Second message", &res), DOMAIN_OK);

    /* the inbox, newest first, opened for the owner */
    cJSON *in = domain_inbox(d, NULL, NULL, &err);
    ck_assert_msg(in != NULL, "%s", err.msg);
    ck_assert_int_eq(cJSON_GetArraySize(in), 2);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(in, 0), "name")->valuestring, "Eve");
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(in, 1), "email")->valuestring,
                     "dee@example.org");
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(in, 1), "status")->valuestring, "new");
    cJSON_Delete(in);

    /* statuses: events, the inbox follows, the latest wins */
    ck_assert_int_eq(domain_contact_mark(d, first, "spam", &res, &err), DOMAIN_OK);
    ck_assert_int_eq(domain_contact_mark(d, first, "archived", &res, &err), DOMAIN_OK);
    ck_assert_int_eq(domain_contact_mark(d, first, "deleted", &res, &err), DOMAIN_INVALID);
    ck_assert_int_eq(domain_contact_mark(d, "contact-nope", "spam", &res, &err), DOMAIN_NOT_FOUND);
    in = domain_inbox(d, "archived", NULL, &err);
    ck_assert_int_eq(cJSON_GetArraySize(in), 1);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(in, 0), "message")->valuestring,
                     "First message");
    cJSON_Delete(in);
    in = domain_inbox(d, "new", NULL, &err);
    ck_assert_int_eq(cJSON_GetArraySize(in), 1);
    cJSON_Delete(in);
    ck_assert_ptr_null(domain_inbox(d, "bogus", NULL, &err));

    /* hiding: the account stays, the name leaves every public value */
    ck_assert_int_eq(domain_member_hide(d, "BOB@example.org", 1, &res, &err), DOMAIN_OK);
    ck_assert_str_eq(res.changed[0], "community");
    ck_assert_str_eq(res.changed[1], "community.members@2"); /* only Bob's page */
    ck_assert_int_eq(domain_member_hide(d, "nobody@example.org", 1, &res, &err),
                     DOMAIN_NOT_FOUND);
    const cJSON *c = domain_site_data(d, "community");
    ck_assert_int_eq(cJSON_GetObjectItem(c, "count")->valueint, 2);
    ck_assert(!S_has_name(cJSON_GetObjectItem(c, "members"), "Bob Hidden"));
    ck_assert(S_has_name(cJSON_GetObjectItem(c, "members"), "Ann Visible"));
    cJSON *items = NULL;
    long long top = 0;
    ck_assert_int_eq(domain_site_range(d, "community.members", 1, 3, &items, &top, &err), 0);
    ck_assert_int_eq(top, 3); /* ranks do not move */
    ck_assert(!S_has_name(items, "Bob Hidden"));
    ck_assert_int_eq(cJSON_GetArraySize(items), 2);
    cJSON_Delete(items);

    /* roles, CLI only */
    ck_assert_int_eq(domain_member_role(d, "ann@example.org", "owner", &res, &err), DOMAIN_OK);
    ck_assert_int_eq(domain_member_role(d, "ann@example.org", "admin", &res, &err),
                     DOMAIN_INVALID);
    cJSON *m = domain_members(d, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_int_eq(cJSON_GetArraySize(m), 3);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "role")->valuestring, "owner");
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1), "email")->valuestring,
                     "bob@example.org");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1), "hidden")));
    cJSON_Delete(m);

    /* replay equals the incremental result; unhiding brings the name back */
    buf report = BUF_INIT;
    ck_assert_msg(domain_check(d, &report, &err) == 0, "%s %s", err.msg,
                  report.ptr ? report.ptr : "");
    ck_assert_msg(domain_replay(d, NULL, 0, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(S_int("SELECT hidden FROM members WHERE display_name = 'Bob Hidden'"), 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members WHERE role = 'owner'"), 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM inbox WHERE status = 'archived'"), 1);
    /* the members shown are counted apart from the hidden after a replay too */
    c = domain_site_data(d, "community");
    ck_assert_int_eq(cJSON_GetObjectItem(c, "count")->valueint, 2);
    ck_assert_int_eq(domain_member_hide(d, "bob@example.org", 0, &res, &err), DOMAIN_OK);
    c = domain_site_data(d, "community");
    ck_assert(S_has_name(cJSON_GetObjectItem(c, "members"), "Bob Hidden"));
    ck_assert_int_eq(cJSON_GetObjectItem(c, "count")->valueint, 3);
    buf_reset(&report);
    ck_assert_int_eq(domain_check(d, &report, &err), 0);
    buf_free(&report);
    domain_close(d);
}
END_TEST

/* ---- members' self-service ---------------------------------------------- */

static long long S_a_day_on(void) { return util_now_ms() + 25LL * 3600 * 1000; }

/* A member with a password and a session: raw gets the session's token. */
static void S_member_session(domain *d, const char *email, const char *name,
                             char raw[44])
{
    domain_result res;
    folio_err err = {{0}};
    ck_assert_int_eq(S_register(d, email, name, "a long enough password", &res), DOMAIN_OK);
    ck_assert_msg(domain_session_start(d, res.id + 5, raw, &err) == 0, "%s", err.msg);
}

/* The newest token of type's events in the decrypted log. */
static void S_token_of(domain *d, const char *type, char out[64])
{
    char *log = S_events(d, 1), *line = log, *found = NULL;
    for (char *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strstr(line, type))
            found = line;
    }
    ck_assert_ptr_nonnull(found);
    cJSON *ev = cJSON_Parse(found);
    /* the event holds the link's nonce; the token is derived from it */
    const cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "data"), "nonce");
    ck_assert(cJSON_IsString(t));
    unsigned char key[VAULT_LINK_KEY_LEN];
    folio_err err = {{0}};
    ck_assert_int_eq(vault_link_key(S_cfg.master_key_path, key, &err), 0);
    ck_assert_int_eq(accounts_token_of_nonce(key, t->valuestring, out), 0);
    cJSON_Delete(ev);
    free(log);
}

START_TEST(account_self_service)
{
    projections_set_bounds(7, 5); /* names opened late in a rebuild too */
    domain *d = S_open();
    domain_result res;
    folio_err err = {{0}};
    char raw[44], other[44], token[64];
    S_long_history(d);
    S_member_session(d, "ada@example.org", "Ada", raw);
    S_member_session(d, "bob@example.org", "Bob", other);
    long long rank = S_int("SELECT count(*) FROM members");

    ck_assert_int_eq(domain_account_rename(d, raw, "  ", NULL, NULL, &res, &err), DOMAIN_INVALID);
    ck_assert_str_eq(res.errors[0].field, "display_name");
    ck_assert_int_eq(domain_account_rename(d, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "X",
                                           NULL, NULL, &res, &err), DOMAIN_NOT_FOUND);
    ck_assert_int_eq(domain_account_rename(d, raw, "Ada Renamed", NULL, NULL, &res, &err),
                     DOMAIN_OK);
    /* only the newest list and the page of her rank */
    ck_assert_int_eq(res.nchanged, 2);
    ck_assert_str_eq(res.changed[0], "community");
    char want[48];
    snprintf(want, sizeof want, "community.members@%lld", rank - 1);
    ck_assert_str_eq(res.changed[1], want);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members WHERE display_name = 'Ada Renamed'"), 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members WHERE display_name = 'Ada'"), 0);
    S_replay_agrees(d);

    /* a new address: the link expires after 24 hours */
    ck_assert_int_eq(domain_account_email_request(d, raw, "bob@example.org", NULL, NULL,
                                                  &res, &err), DOMAIN_OK);
    ck_assert_int_eq(S_int("SELECT count(*) FROM events WHERE type ="
                           " 'MemberEmailChangeRequested'"), 0); /* Bob's: nothing sent */
    ck_assert_int_eq(domain_account_email_request(d, raw, "ada@example.net", NULL, NULL,
                                                  &res, &err), DOMAIN_OK);
    S_token_of(d, "MemberEmailChangeRequested", token);
    domain_set_clock(d, S_a_day_on);
    ck_assert_int_eq(domain_account_email_confirm(d, token, &res, &err), DOMAIN_NOT_FOUND);
    domain_set_clock(d, NULL);
    ck_assert_int_eq(domain_account_email_confirm(d, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                                  &res, &err), DOMAIN_NOT_FOUND);
    char uid[80], hash[128];
    ck_assert_int_eq(domain_login_lookup(d, "ada@example.net", uid, hash, &err), 0);
    ck_assert_int_eq(domain_account_email_confirm(d, token, &res, &err), DOMAIN_OK);
    ck_assert_int_eq(domain_account_email_confirm(d, token, &res, &err), DOMAIN_NOT_FOUND);
    ck_assert_int_eq(domain_login_lookup(d, "ada@example.net", uid, hash, &err), 1);
    ck_assert_int_eq(domain_login_lookup(d, "ada@example.org", uid, hash, &err), 0);

    /* the download: her events, none of Bob's */
    cJSON *doc = NULL;
    ck_assert_int_eq(domain_account_export(d, raw, &doc, &err), 1);
    char *text = cJSON_PrintUnformatted(doc);
    ck_assert_ptr_nonnull(strstr(text, "\"MemberRenamed\""));
    ck_assert_ptr_nonnull(strstr(text, "\"MemberEmailChanged\""));
    ck_assert_ptr_nonnull(strstr(text, "ada@example.net"));
    ck_assert_ptr_null(strstr(text, "bob@example.org"));
    free(text);
    cJSON_Delete(doc);

    /* a new password ends her other sessions, not this one */
    char again[44], hashed[128];
    ck_assert_int_eq(domain_session_start(d, uid, again, &err), 0);
    ck_assert_int_eq(domain_hash_password("another long password", hashed, &err), 0);
    ck_assert_int_eq(domain_account_password(d, raw, hashed, NULL, NULL, &res, &err), DOMAIN_OK);
    char name[96];
    ck_assert_int_eq(domain_session_get(d, raw, uid, name, sizeof name, &err), 1);
    ck_assert_int_eq(domain_session_get(d, again, uid, name, sizeof name, &err), 0);

    /* deleting: erased as by folio forget, by her new address too */
    ck_assert_int_eq(domain_account_delete(d, raw, &res, &err), DOMAIN_OK);
    ck_assert_int_eq(domain_account_delete(d, raw, &res, &err), DOMAIN_NOT_FOUND);
    ck_assert_int_eq(S_int("SELECT count(*) FROM members WHERE display_name = 'Ada Renamed'"), 0);
    ck_assert_int_eq(S_int("SELECT count(*) FROM account_addresses"), 0);
    char *log = S_events(d, 1);
    ck_assert_ptr_null(strstr(log, "ada@example"));
    ck_assert_ptr_null(strstr(log, "Ada Renamed"));
    free(log);
    ck_assert_int_eq(domain_session_get(d, other, uid, name, sizeof name, &err), 1);
    S_replay_agrees(d);
    projections_set_bounds(0, 0);
    domain_close(d);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("domain");
    TCase *tc = tcase_create("domain");
    tcase_add_checked_fixture(tc, S_setup, S_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, register_and_duplicates);
    tcase_add_test(tc, passwords);
    tcase_add_test(tc, contact_limits_and_repeats);
    tcase_add_test(tc, concurrent_registrations);
    tcase_add_test(tc, group_commit);
    tcase_add_test(tc, replay_equals_incremental);
    tcase_add_test(tc, replay_on_two_threads);
    tcase_add_test(tc, replay_in_bounded_runs);
    tcase_add_test(tc, replay_keeps_right_rows);
    tcase_add_test(tc, replay_checks_names_by_mac);
    tcase_add_test(tc, replay_reads_members_as_stored);
    tcase_add_test(tc, check_finds_differences);
    tcase_add_test(tc, rebuild_on_code_version_change);
    tcase_add_test(tc, site_data);
    tcase_add_test(tc, as_of);
    tcase_add_test(tc, forget);
    tcase_add_test(tc, come_back_after_forget);
    tcase_add_test(tc, old_event_versions);
    tcase_add_test(tc, owner_decisions);
    tcase_add_test(tc, account_self_service);
    suite_add_tcase(su, tc);
    return unit_run(su);
}
