/* /metrics privacy: the bearer token from folio.yml or the environment. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "unit.h"

static cJSON *S_yml(const char *json)
{
    cJSON *c = cJSON_Parse(json);
    ck_assert_ptr_nonnull(c);
    return c;
}

START_TEST(no_token_lets_everyone_through)
{
    cJSON *raw = S_yml("{}");
    folio_err err = {{0}};
    ck_assert_int_eq(metrics_token_check(raw, &err), 0);
    ck_assert_int_eq(metrics_authorized(raw, NULL, &err), 1);
    ck_assert_int_eq(metrics_authorized(raw, "Bearer anything", &err), 1);
    cJSON_Delete(raw);
}
END_TEST

START_TEST(token_from_folio_yml)
{
    cJSON *raw = S_yml("{\"metrics_token\":\"0123456789abcdef-scrape\"}");
    folio_err err = {{0}};
    ck_assert_int_eq(metrics_token_check(raw, &err), 0);
    ck_assert_int_eq(metrics_authorized(raw, NULL, &err), 0);
    ck_assert_int_eq(metrics_authorized(raw, "", &err), 0);
    ck_assert_int_eq(metrics_authorized(raw, "Basic 0123456789abcdef-scrape", &err), 0);
    ck_assert_int_eq(metrics_authorized(raw, "Bearer 0123456789abcdef-scrap", &err), 0);
    ck_assert_int_eq(metrics_authorized(raw, "Bearer 0123456789abcdef-scrapeX", &err), 0);
    ck_assert_int_eq(metrics_authorized(raw, "0123456789abcdef-scrape", &err), 0);
    ck_assert_int_eq(metrics_authorized(raw, "Bearer 0123456789abcdef-scrape", &err), 1);
    ck_assert_int_eq(metrics_authorized(raw, "bearer  0123456789abcdef-scrape", &err), 1);
    cJSON_Delete(raw);
}
END_TEST

START_TEST(token_from_the_environment)
{
    cJSON *raw = S_yml("{\"metrics_token_env\":\"FOLIO_TEST_METRICS_TOKEN\"}");
    folio_err err = {{0}};
    unsetenv("FOLIO_TEST_METRICS_TOKEN");
    ck_assert_int_eq(metrics_token_check(raw, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "FOLIO_TEST_METRICS_TOKEN is not set"));
    ck_assert_int_eq(metrics_authorized(raw, "Bearer x", &err), -1);
    setenv("FOLIO_TEST_METRICS_TOKEN", "from-the-environment-1", 1);
    ck_assert_int_eq(metrics_token_check(raw, &err), 0);
    ck_assert_int_eq(metrics_authorized(raw, "Bearer from-the-environment-1", &err), 1);
    ck_assert_int_eq(metrics_authorized(raw, "Bearer from-the-environment-2", &err), 0);
    unsetenv("FOLIO_TEST_METRICS_TOKEN");
    cJSON_Delete(raw);
}
END_TEST

START_TEST(unusable_settings_are_named)
{
    static const char *const bad[][2] = {
        {"{\"metrics_token\":\"short\"}", "at least 16"},
        {"{\"metrics_token\":12345678901234567890}", "expected a string"},
        {"{\"metrics_token_env\":\"\"}", "name of an environment variable"},
        {"{\"metrics_token\":\"0123456789abcdef\",\"metrics_token_env\":\"X\"}", "not both"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *raw = S_yml(bad[i][0]);
        folio_err err = {{0}};
        ck_assert_int_eq(metrics_token_check(raw, &err), -1);
        ck_assert_msg(strstr(err.msg, bad[i][1]), "%s: %s", bad[i][0], err.msg);
        ck_assert_int_eq(metrics_authorized(raw, "Bearer 0123456789abcdef", &err), -1);
        cJSON_Delete(raw);
    }
}
END_TEST

int main(void)
{
    Suite *su = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, no_token_lets_everyone_through);
    tcase_add_test(tc, token_from_folio_yml);
    tcase_add_test(tc, token_from_the_environment);
    tcase_add_test(tc, unusable_settings_are_named);
    suite_add_tcase(su, tc);
    return unit_run(su);
}
