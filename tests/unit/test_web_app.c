/* Tests for web_app: the routes both front ends hand over, and a request's
 * steps (start, body, run, answer) without any server around them — the
 * refusals before the store, a contact request stored and answered, the
 * owner's pages sending a visitor without a session to sign in. The whole
 * path is accounts.sh's and admin.sh's (folio-fcgi) and serve-accounts.sh's
 * (folio serve). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "domain.h"
#include "unit.h"
#include "web.h"
#include "web_app.h"

static char S_dir[256], S_origin[256];
static folio_config S_cfg;

static void S_setup(void)
{
    unit_tmpdir(S_dir, sizeof S_dir, "webapp");
    folio_err err = {{0}};
    ck_assert_msg(config_load(S_dir, &S_cfg, &err) == 0, "%s", err.msg);
    snprintf(S_origin, sizeof S_origin, "%s", S_cfg.base_url);
    size_t n = strlen(S_origin);
    if (n && S_origin[n - 1] == '/')
        S_origin[n - 1] = '\0';
}

static void S_teardown(void)
{
    config_free(&S_cfg);
    unit_rmdir(S_dir);
}

static web_request S_rq(const char *method, const char *path, const char *body)
{
    static char len[24];
    snprintf(len, sizeof len, "%zu", body ? strlen(body) : 0);
    return (web_request){.origin = S_origin,
                         .content_type = "application/x-www-form-urlencoded",
                         .content_length = body ? len : NULL, .accept = "text/html",
                         .client = "127.0.0.1", .request_id = "r1", .method = method,
                         .path = path, .query = ""};
}

static int S_wait7(void *ud, const char *client)
{
    (void)ud;
    (void)client;
    return 7;
}

START_TEST(test_routes)
{
    ck_assert_int_eq(web_app_route("/contact"), WEB_APP_CONTACT);
    ck_assert_int_eq(web_app_route("/register"), WEB_APP_REGISTER);
    ck_assert_int_eq(web_app_route("/verify"), WEB_APP_VERIFY);
    ck_assert_int_eq(web_app_route("/login"), WEB_APP_LOGIN);
    ck_assert_int_eq(web_app_route("/logout"), WEB_APP_LOGOUT);
    ck_assert_int_eq(web_app_route("/reset"), WEB_APP_RESET);
    ck_assert_int_eq(web_app_route("/account/"), WEB_APP_ACCOUNT);
    ck_assert_int_eq(web_app_route("/account/name"), WEB_APP_ACCOUNT_DO);
    ck_assert_int_eq(web_app_route("/admin"), WEB_APP_ADMIN);
    ck_assert_int_eq(web_app_route("/admin/inbox/"), WEB_APP_ADMIN);
    ck_assert_int_eq(web_app_route("/reset/"), WEB_APP_NONE);
    ck_assert_int_eq(web_app_route(NULL), WEB_APP_NONE);
    /* what nginx sends to folio-fcgi, serve keeps from its files */
    ck_assert_int_eq(web_app_owns("/account/nothing"), 1);
    ck_assert_int_eq(web_app_owns("/login/"), 0);
    ck_assert_int_eq(web_app_owns("/about/"), 0);
}
END_TEST

/* One step that answers: its status, the answer freed. */
static int S_answered(const web_app *app, const web_request *rq, const char *body,
                      web_answer *a)
{
    web_app_req r;
    int step = web_app_start(app, &r, rq, a);
    if (step == WEB_APP_BODY)
        step = web_app_body(app, &r, rq, body, a);
    web_app_req_clear(&r);
    ck_assert_int_eq(step, WEB_APP_ANSWERED);
    return a->status;
}

START_TEST(test_refusals)
{
    web_app app = {.cfg = &S_cfg};
    web_answer a = WEB_ANSWER_INIT;
    web_request rq = S_rq("GET", "/contact", NULL);
    ck_assert_int_eq(S_answered(&app, &rq, NULL, &a), 405);
    ck_assert_str_eq(a.headers, "Allow: POST\r\n");
    web_answer_free(&a);

    rq = S_rq("POST", "/contact", "name=x");
    rq.origin = "http://evil.example";
    ck_assert_int_eq(S_answered(&app, &rq, NULL, &a), 403);
    web_answer_free(&a);

    app.rate = S_wait7;
    rq = S_rq("POST", "/register", "email=x");
    ck_assert_int_eq(S_answered(&app, &rq, NULL, &a), 429);
    ck_assert_str_eq(a.headers, "Retry-After: 7\r\n");
    web_answer_free(&a);
    app.rate = NULL;

    /* no session, so no right CSRF token either */
    static const char out[] = "csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    rq = S_rq("POST", "/logout", out);
    ck_assert_int_eq(S_answered(&app, &rq, out, &a), 403);
    web_answer_free(&a);
    rq = S_rq("POST", "/account/name", out);
    ck_assert_int_eq(S_answered(&app, &rq, out, &a), 403);
    web_answer_free(&a);

    rq = S_rq("GET", "/account/", NULL);
    ck_assert_int_eq(S_answered(&app, &rq, NULL, &a), 303);
    ck_assert_str_eq(a.headers, "Location: /login/\r\n");
    web_answer_free(&a);
    rq = S_rq("GET", "/verify", NULL);
    rq.query = "token=%3Cscript%3E";
    ck_assert_int_eq(S_answered(&app, &rq, NULL, &a), 400);
    web_answer_free(&a);
    rq = S_rq("POST", "/account/confirm", "");
    ck_assert_int_eq(S_answered(&app, &rq, "", &a), 405);
    web_answer_free(&a);
    rq = S_rq("GET", "/account/nothing", NULL);
    ck_assert_int_eq(S_answered(&app, &rq, NULL, &a), 404);
    web_answer_free(&a);
}
END_TEST

/* A request through every step, the store's in a transaction of its own
 * as folio serve runs it; the answer's status. */
static int S_through(const web_app *app, domain *d, const web_request *rq,
                     const char *body, web_app_req *r, web_answer *a)
{
    int step = web_app_start(app, r, rq, a);
    if (step == WEB_APP_BODY)
        step = web_app_body(app, r, rq, body, a);
    ck_assert_msg(step == WEB_APP_WRITE, "%d %s", a->status, a->body.ptr ? a->body.ptr : "");
    folio_err err = {{0}};
    ck_assert_int_eq(domain_begin(d, &err), 0);
    int rc = web_app_run(r, d, rq, &err);
    ck_assert_msg(rc != DOMAIN_ERROR, "%s", err.msg);
    ck_assert_int_eq(domain_commit(d, &err), 0);
    web_app_answer(app, r, 0, a);
    return a->status;
}

START_TEST(test_stored)
{
    domain *d = NULL;
    folio_err err = {{0}};
    ck_assert_msg(domain_open(&S_cfg, &d, &err) == 0, "%s", err.msg);
    web_app app = {.cfg = &S_cfg, .reader = d};
    web_app_req r;
    web_answer a = WEB_ANSWER_INIT;

    static const char contact[] = "name=Ada&email=ada%40example.org&message=Hello+there.";
    web_request rq = S_rq("POST", "/contact", contact);
    ck_assert_int_eq(S_through(&app, d, &rq, contact, &r, &a), 303);
    ck_assert_str_eq(a.headers, "Location: /contact/thanks/\r\n");
    ck_assert_int_eq(r.res.rc, DOMAIN_OK);
    ck_assert_uint_gt(r.res.nchanged, 0);   /* pages to render again */
    web_app_req_clear(&r);
    web_answer_free(&a);

    /* the owner's pages: a session the store does not know is a 303 to
     * sign in */
    rq = S_rq("GET", "/admin/inbox/", NULL);
    rq.cookie = "folio=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; "
                "__Host-folio=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    ck_assert_int_eq(S_through(&app, d, &rq, NULL, &r, &a), 303);
    ck_assert_ptr_nonnull(strstr(a.headers, "Location: /login/\r\n"));
    web_app_req_clear(&r);
    web_answer_free(&a);
    domain_close(d);
}
END_TEST

static Suite *web_app_suite(void)
{
    Suite *s = suite_create("web_app");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, S_setup, S_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_routes);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_stored);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(web_app_suite());
}
