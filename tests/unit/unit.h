/* unit — what every unit test program shares: running its suite, and a
 * scratch directory for a test. */
#ifndef FOLIO_TESTS_UNIT_H
#define FOLIO_TESTS_UNIT_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif
