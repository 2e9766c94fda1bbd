/* Tests for how folio tells a full disk from other store failures: the
 * state folio-fcgi answers 503 for, and its recovery. A full disk is made
 * with PRAGMA max_page_count, which fails writes with SQLITE_FULL exactly
 * as ENOSPC does. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "util.h"
#include "unit.h"

static long long S_pages(sqlite3 *db)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int S_append_big(store *s, int i, folio_err *err)
{
    char stream[32], data[2100];
    snprintf(stream, sizeof stream, "t-%d", i);
    memset(data, 0, sizeof data);
    snprintf(data, sizeof data, "{\"x\":\"%02000d\"}", i);
    store_new_event ev = {NULL, "ContactRequestHandled", 1, data, NULL};
    return store_append(s, stream, STORE_ANY, &ev, 1, NULL, err);
}

START_TEST(full_disk_is_told_apart)
{
    char dir[128], path[256];
    unit_tmpdir(dir, sizeof dir, "faults");
    snprintf(path, sizeof path, "%s/folio.db", dir);
    store *s;
    folio_err err;
    ck_assert_int_eq(store_open(path, NULL, &s, &err), 0);
    ck_assert_int_eq(store_disk_full(s), 0);
    ck_assert_int_eq(store_space_low(path), 0);
    sqlite3 *db = store_db(s);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count=%lld", S_pages(db) + 2);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    int rc = 0, i = 0;
    for (; i < 200 && rc == 0; i++)
        rc = S_append_big(s, i, &err);
    ck_assert_msg(rc != 0, "the store never filled");
    ck_assert_msg(store_err_disk_full(&err), "not recognised: %s", err.msg);
    /* space comes back (the filesystem has plenty): the state clears and
     * writes succeed by themselves */
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA max_page_count=1000000", NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(store_disk_full(s), 0);
    ck_assert_int_eq(S_append_big(s, i + 1, &err), 0);
    /* an error that is not about space is not taken for one */
    folio_err other;
    err_set(&other, "append: UNIQUE constraint failed");
    ck_assert_int_eq(store_err_disk_full(&other), 0);
    store_close(s);
    unit_rmdir(dir);
}
END_TEST

START_TEST(space_low_of_odd_paths)
{
    /* unknown is not full: the write itself will tell */
    ck_assert_int_eq(store_space_low(NULL), 0);
    ck_assert_int_eq(store_space_low(""), 0);
    ck_assert_int_eq(store_space_low("/nonexistent/folio.db"), 0);
}
END_TEST

static Suite *faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("disk");
    tcase_add_test(tc, full_disk_is_told_apart);
    tcase_add_test(tc, space_low_of_odd_paths);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(faults_suite());
}
