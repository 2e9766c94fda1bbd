/* The store's files on disk: private modes, verifying a backup, knowing
 * when the database is in use, restoring. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "util.h"
#include "unit.h"

static char S_dir[256];
static char S_db[300];

static void S_setup(void)
{
    unit_tmpdir(S_dir, sizeof S_dir, "restore");
    snprintf(S_db, sizeof S_db, "%s/folio.db", S_dir);
}

static void S_teardown(void)
{
    unit_rmdir(S_dir);
}

static store *S_open(const char *path)
{
    store *s = NULL;
    folio_err err = {{0}};
    ck_assert_msg(store_open(path, NULL, &s, &err) == 0, "%s", err.msg);
    return s;
}

static void S_append(store *s, int n)
{
    folio_err err = {{0}};
    for (int i = 0; i < n; i++) {
        store_new_event ev = {NULL, "TestHappened", 1, "{\"n\":1}", NULL};
        ck_assert_msg(store_append(s, "t-1", STORE_ANY, &ev, 1, NULL, &err) == 0,
                      "%s", err.msg);
    }
}

static unsigned S_mode(const char *path)
{
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "%s missing", path);
    return (unsigned)(st.st_mode & 0777);
}

static void S_path(char *out, size_t cap, const char *name)
{
    ck_assert_int_eq(util_path(out, cap, NULL, "%s/%s", S_dir, name), 0);
}

static void S_write(const char *path, const char *text)
{
    folio_err err;
    ck_assert_int_eq(util_write_atomic(path, text, strlen(text), 0, &err), 0);
}

/* S_db with n events, backed up to bk; the store stays open. */
static store *S_seed(int n, char *bk, size_t cap)
{
    store *s = S_open(S_db);
    S_append(s, n);
    S_path(bk, cap, "backup.db");
    folio_err err = {{0}};
    ck_assert_msg(store_backup(s, bk, &err) == 0, "%s", err.msg);
    return s;
}

START_TEST(database_files_are_private)
{
    mode_t old = umask(022);
    store *s = S_open(S_db);
    S_append(s, 3);
    char wal[320], shm[320];
    snprintf(wal, sizeof wal, "%s-wal", S_db);
    snprintf(shm, sizeof shm, "%s-shm", S_db);
    ck_assert_uint_eq(S_mode(S_db), 0600);
    ck_assert_uint_eq(S_mode(wal), 0600);
    ck_assert_uint_eq(S_mode(shm), 0600);
    char bk[320];
    S_path(bk, sizeof bk, "backup.db");
    folio_err err;
    ck_assert_int_eq(store_backup(s, bk, &err), 0);
    ck_assert_uint_eq(S_mode(bk), 0600);
    store_close(s);
    /* a database an older folio left readable by everyone */
    ck_assert_int_eq(chmod(S_db, 0644), 0);
    s = S_open(S_db);
    ck_assert_uint_eq(S_mode(S_db), 0600);
    store_close(s);
    umask(old);
}
END_TEST

START_TEST(verify_accepts_a_backup)
{
    char bk[320];
    store *s = S_seed(5, bk, sizeof bk);
    folio_err err = {{0}};
    store_close(s);
    store_file_info info = {0};
    ck_assert_msg(store_verify_file(bk, &info, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(info.events, 5);
    ck_assert_int_ge(info.schema_version, 1);
}
END_TEST

START_TEST(verify_refuses_what_is_not_a_store)
{
    char p[320];
    folio_err err = {{0}};
    S_path(p, sizeof p, "notes.txt");
    S_write(p, "not a database at all, but long enough to have a header of a hundred bytes"
               " ................................................\n");
    ck_assert_int_eq(store_verify_file(p, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not an SQLite database"));

    S_path(p, sizeof p, "missing.db");
    ck_assert_int_eq(store_verify_file(p, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "No such file"));

    /* an SQLite database, but someone else's */
    S_path(p, sizeof p, "other.db");
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(p, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(store_verify_file(p, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "without folio's event log"));

    /* a folio store from a newer folio */
    store *s = S_open(S_db);
    ck_assert_int_eq(sqlite3_exec(store_db(s), "PRAGMA user_version = 999", NULL,
                                  NULL, NULL), SQLITE_OK);
    store_close(s);
    ck_assert_int_eq(store_verify_file(S_db, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "schema version 999"));
}
END_TEST

/* A backup with damaged pages fails its integrity check. */
START_TEST(verify_refuses_a_damaged_copy)
{
    char bk[320];
    store *s = S_seed(400, bk, sizeof bk);
    folio_err err = {{0}};
    store_close(s);
    int fd = open(bk, O_RDWR);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_gt(st.st_size, 8192);
    static const char junk[512] = "garbage garbage garbage";
    /* every page but the first (the header and the schema): whatever the
     * migrations put where, the table pages are damaged */
    for (off_t off = 4096 + 100; off + (off_t)sizeof junk < st.st_size; off += 4096)
        ck_assert_int_eq(pwrite(fd, junk, sizeof junk, off), (ssize_t)sizeof junk);
    close(fd);
    ck_assert_int_eq(store_verify_file(bk, NULL, &err), -1);
}
END_TEST

/* A child holds the database open until told to let go. */
static pid_t S_holder(int *release)
{
    int ready[2], go[2];
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(go), 0);
    pid_t kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0) {
        store *s = NULL;
        folio_err e;
        char c;
        close(ready[0]);
        close(go[1]);
        if (store_open(S_db, NULL, &s, &e) != 0 || store_head(s) < 0 ||
            write(ready[1], "x", 1) != 1 || read(go[0], &c, 1) < 0)
            _exit(1);
        store_close(s);
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    close(ready[0]);
    *release = go[1];
    return kid;
}

static void S_let_go(pid_t kid, int release)
{
    close(release);
    int st;
    ck_assert_int_eq(waitpid(kid, &st, 0), kid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

START_TEST(in_use_while_another_process_has_it_open)
{
    folio_err err = {{0}};
    ck_assert_int_eq(store_in_use(S_db, &err), 0);
    store *s = S_open(S_db);
    S_append(s, 1);
    store_close(s);
    int release;
    pid_t kid = S_holder(&release);
    ck_assert_int_eq(store_in_use(S_db, &err), 1);
    S_let_go(kid, release);
    ck_assert_int_eq(store_in_use(S_db, &err), 0);
}
END_TEST

START_TEST(restore_replaces_and_keeps)
{
    char bk[320];
    store *s = S_seed(3, bk, sizeof bk);
    folio_err err = {{0}};
    S_append(s, 4); /* after the backup: 7 now */
    store_close(s);

    int release;
    pid_t kid = S_holder(&release);
    char kept[512];
    store_file_info info = {0};
    ck_assert_int_eq(store_restore(S_db, bk, 0, kept, sizeof kept, &info, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "stop it first"));
    S_let_go(kid, release);

    char txt[320];
    S_path(txt, sizeof txt, "notes.txt");
    S_write(txt, "hello");
    ck_assert_int_eq(store_restore(S_db, txt, 0, kept, sizeof kept, &info, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a folio backup"));
    s = S_open(S_db);
    ck_assert_int_eq(store_head(s), 7); /* untouched */
    store_close(s);

    ck_assert_msg(store_restore(S_db, bk, 0, kept, sizeof kept, &info, &err) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(info.events, 3);
    ck_assert_uint_eq(S_mode(S_db), 0600);
    ck_assert_ptr_nonnull(strstr(kept, "folio.db.before-restore-"));
    ck_assert_uint_eq(S_mode(kept), 0600);
    s = S_open(S_db);
    ck_assert_int_eq(store_head(s), 3);
    store_close(s);
    s = S_open(kept);
    ck_assert_int_eq(store_head(s), 7);
    store_close(s);
}
END_TEST

/* --force under a running writer: the restored file is what the next
 * opener sees, and no WAL of the old database is replayed into it. */
START_TEST(restore_forced_while_open)
{
    char bk[320];
    store *s = S_seed(2, bk, sizeof bk);
    folio_err err = {{0}};
    store_close(s);
    int release;
    pid_t kid = S_holder(&release);
    s = S_open(S_db);
    ck_assert_int_eq(store_set_autocheckpoint(s, 0, &err), 0);
    S_append(s, 5); /* in the WAL only */
    char kept[512];
    store_file_info info = {0};
    ck_assert_msg(store_restore(S_db, bk, 1, kept, sizeof kept, &info, &err) == 0,
                  "%s", err.msg);
    store_close(s);
    S_let_go(kid, release);
    s = S_open(S_db);
    ck_assert_int_eq(store_head(s), 2);
    buf report = BUF_INIT;
    ck_assert_int_eq(store_check(s, &report, &err), 0);
    buf_free(&report);
    store_close(s);
    s = S_open(kept);
    ck_assert_int_eq(store_head(s), 7);
    store_close(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("restore");
    TCase *tc = tcase_create("restore");
    tcase_add_checked_fixture(tc, S_setup, S_teardown);
    tcase_add_test(tc, database_files_are_private);
    tcase_add_test(tc, verify_accepts_a_backup);
    tcase_add_test(tc, verify_refuses_what_is_not_a_store);
    tcase_add_test(tc, verify_refuses_a_damaged_copy);
    tcase_add_test(tc, in_use_while_another_process_has_it_open);
    tcase_add_test(tc, restore_replaces_and_keeps);
    tcase_add_test(tc, restore_forced_while_open);
    suite_add_tcase(su, tc);
    return unit_run(su);
}
