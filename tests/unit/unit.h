/* unit — what every unit test program shares: running its suite, and a
 * scratch directory for a test. */
#ifndef FOLIO_TESTS_UNIT_H
#define FOLIO_TESTS_UNIT_H

#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "domain.h"
#include "util.h"

/* Runs every test of su; the program's exit status. */
static inline int unit_run(Suite *su)
{
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* A new empty directory /tmp/folio-test-NAME-XXXXXX, its path in dir. */
static inline void unit_tmpdir(char *dir, size_t cap, const char *name)
{
    int n = snprintf(dir, cap, "/tmp/folio-test-%s-XXXXXX", name);
    ck_assert(n > 0 && (size_t)n < cap);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Removes dir and everything in it. */
static inline void unit_rmdir(const char *dir)
{
    folio_err err;
    util_rmtree(dir, &err);
}

/* A site of the defaults in a new scratch directory: its folder in dir
 * and its settings in cfg (a checked fixture's setup). */
static inline void unit_site_open(char *dir, size_t cap, const char *name, folio_config *cfg)
{
    unit_tmpdir(dir, cap, name);
    folio_err err = {{0}};
    ck_assert_msg(config_load(dir, cfg, &err) == 0, "%s", err.msg);
}

static inline void unit_site_close(const char *dir, folio_config *cfg)
{
    config_free(cfg);
    unit_rmdir(dir);
}

/* The site's domain, opened or the test fails. */
static inline domain *unit_domain(const folio_config *cfg)
{
    domain *d = NULL;
    folio_err err = {{0}};
    ck_assert_msg(domain_open(cfg, &d, &err) == 0, "%s", err.msg);
    return d;
}

/* The first column of the first row sql gives, read through a connection
 * of its own to the database at path. */
static inline long long unit_db_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK,
                  "%s", sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Runs sql on the database at path, through a connection of its own. */
static inline void unit_db_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s",
                  msg ? msg : "?");
    sqlite3_close(db);
}

#endif
