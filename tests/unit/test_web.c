/* Tests for web: the forms' checks and answers, as folio-fcgi and folio
 * serve both give them (the whole path through nginx is forms.sh's). */
#include <check.h>
#include <string.h>

#include "unit.h"
#include "web.h"

static const web_request S_rq = {
    .origin = "http://127.0.0.1:1313", .content_type = "application/x-www-form-urlencoded",
    .content_length = "20", .accept = "text/html", .client = "127.0.0.1",
    .request_id = "r1"};

START_TEST(test_refusals)
{
    web_answer a = WEB_ANSWER_INIT;
    web_request rq = S_rq;
    rq.origin = "http://evil.example";
    ck_assert_int_eq(web_form_origin(&a, 1, &rq, "http://127.0.0.1:1313/"), -1);
    ck_assert_int_eq(a.status, 403);
    ck_assert_str_eq(a.ctype, "application/json");
    ck_assert_ptr_nonnull(strstr(a.body.ptr, "\"ok\":false"));
    web_answer_free(&a);
    ck_assert_int_eq(web_form_origin(&a, 1, &S_rq, "http://127.0.0.1:1313/"), 0);

    size_t len = 0;
    enum forms_body type;
    ck_assert_int_eq(web_form_head(&a, 0, &S_rq, 16, &len, &type), -1);
    ck_assert_int_eq(a.status, 413);
    ck_assert_ptr_nonnull(strstr(a.body.ptr, "over the limit of 16 bytes"));
    web_answer_free(&a);
    rq = S_rq;
    rq.content_type = "text/plain";
    ck_assert_int_eq(web_form_head(&a, 0, &rq, 100, &len, &type), -1);
    ck_assert_int_eq(a.status, 415);
    web_answer_free(&a);
    rq.content_length = "-1";
    ck_assert_int_eq(web_form_head(&a, 0, &rq, 100, &len, &type), -1);
    ck_assert_int_eq(a.status, 400);
    web_answer_free(&a);
    ck_assert_int_eq(web_form_head(&a, 0, &S_rq, 100, &len, &type), 0);
    ck_assert_uint_eq(len, 20);
    ck_assert_int_eq(type, FORMS_URLENCODED);

    /* Visitor text in an HTML refusal is escaped. */
    web_refuse(&a, 0, 400, "field '<b>' given twice", "Retry-After: 3\r\n");
    ck_assert_str_eq(a.ctype, "text/html; charset=utf-8");
    ck_assert_str_eq(a.headers, "Retry-After: 3\r\n");
    ck_assert_ptr_nonnull(strstr(a.body.ptr, "&lt;b&gt;"));
    ck_assert_ptr_null(strstr(a.body.ptr, "<b>"));
    web_answer_free(&a);
    ck_assert_str_eq(web_reason(422), "Unprocessable Content");
}
END_TEST

START_TEST(test_decode_and_answers)
{
    web_answer a = WEB_ANSWER_INIT;
    forms_values v;
    static const char bad[] = "name=a&name=b";
    ck_assert_int_eq(web_form_decode(&a, 1, &forms_contact, FORMS_URLENCODED, bad,
                                     sizeof bad - 1, &v), -1);
    ck_assert_int_eq(a.status, 400);
    forms_values_free(&v);
    web_answer_free(&a);

    static const char bot[] = "name=a&email=a%40b.org&message=hello+there&website=spam";
    ck_assert_int_eq(web_form_decode(&a, 0, &forms_contact, FORMS_URLENCODED, bot,
                                     sizeof bot - 1, &v), 1);
    ck_assert_int_eq(a.status, 303);
    ck_assert_str_eq(a.headers, "Location: /contact/thanks/\r\n");
    forms_values_free(&v);
    web_answer_free(&a);

    static const char reg[] = "email=nope&display_name=Ada&password=correct-horse-battery";
    ck_assert_int_eq(web_form_decode(&a, 1, &forms_register, FORMS_URLENCODED, reg,
                                     sizeof reg - 1, &v), 0);
    domain_result res;
    memset(&res, 0, sizeof res);
    ck_assert_int_eq(web_form_check(&v, &S_rq, &res), DOMAIN_INVALID);
    ck_assert_uint_ge(res.nerrors, 1);
    web_form_errors(&a, 1, &v, &res, 422, NULL, NULL);
    ck_assert_int_eq(a.status, 422);
    ck_assert_ptr_nonnull(strstr(a.body.ptr, "\"errors\":{\"email\":"));
    web_answer_free(&a);

    /* Without a site to render the form page, the errors as a list. */
    web_form_errors(&a, 0, &v, &res, 422, NULL, NULL);
    ck_assert_int_eq(a.status, 422);
    ck_assert_ptr_nonnull(strstr(a.body.ptr, "email: "));
    web_answer_free(&a);

    memset(&res, 0, sizeof res);
    res.rc = DOMAIN_ALREADY_REGISTERED;
    web_form_answer(&a, 1, &v, &res, 0, NULL, NULL);
    ck_assert_int_eq(a.status, 409);
    ck_assert_ptr_nonnull(strstr(a.body.ptr, "already registered"));
    web_answer_free(&a);

    memset(&res, 0, sizeof res);
    res.rc = DOMAIN_OK;
    snprintf(res.id, sizeof res.id, "user-1");
    web_form_answer(&a, 0, &v, &res, 0, NULL, NULL);
    ck_assert_int_eq(a.status, 303);
    /* a sign-up: to check the inbox, the same for any address, no id */
    ck_assert_str_eq(a.headers, "Location: /register/check/\r\n");
    web_answer_free(&a);
    web_form_answer(&a, 1, &v, &res, 0, NULL, NULL);
    ck_assert_int_eq(a.status, 202);
    ck_assert_str_eq(a.body.ptr, "{\"ok\":true}");
    web_answer_free(&a);
    web_form_answer(&a, 1, &v, &res, 1, NULL, NULL);
    ck_assert_int_eq(a.status, 500);
    web_answer_free(&a);
    forms_values_free(&v);

    char id[68];
    web_request_id(id, "abc-123");
    ck_assert_str_eq(id, "abc-123");
    web_request_id(id, "bad id\r\n");
    ck_assert_uint_eq(strlen(id), 24);
}
END_TEST

static Suite *web_suite(void)
{
    Suite *s = suite_create("web");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_decode_and_answers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(web_suite());
}
