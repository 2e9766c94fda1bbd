/* Tests for dl: a library's functions bound at run time, and a missing
 * library or symbol refused with a message that names it. */
#include <check.h>
#include <string.h>

#include "dl.h"
#include "unit.h"

START_TEST(test_dl_binds)
{
    size_t (*my_strlen)(const char *) = NULL;
    dl_sym syms[] = {{"strlen", &my_strlen}};
    char msg[256] = "";
    ck_assert_int_eq(dl_bind("libc.so.6", syms, 1, msg, sizeof msg), 0);
    ck_assert_ptr_nonnull(my_strlen);
    ck_assert_uint_eq(my_strlen("folio"), 5);
}
END_TEST

START_TEST(test_dl_refuses)
{
    void (*fn)(void) = NULL;
    dl_sym syms[] = {{"folio_no_such_function", &fn}};
    char msg[256] = "";
    ck_assert_int_eq(dl_bind("libc.so.6", syms, 1, msg, sizeof msg), -1);
    ck_assert_ptr_nonnull(strstr(msg, "folio_no_such_function"));
    ck_assert_ptr_null(fn);
    ck_assert_int_eq(dl_bind("libfolio-none.so.0", syms, 1, msg, sizeof msg), -1);
    ck_assert_ptr_nonnull(strstr(msg, "libfolio-none.so.0"));
}
END_TEST

static Suite *dl_suite(void)
{
    Suite *s = suite_create("dl");
    TCase *tc = tcase_create("dl");
    tcase_add_test(tc, test_dl_binds);
    tcase_add_test(tc, test_dl_refuses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(dl_suite());
}
