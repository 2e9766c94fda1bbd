/* The owner's pages below HTTP: the inbox one page at a time (keyset: each
 * page continues where the last ended, at any depth and for a sparse
 * status), the counts kept by the inbox projection through marks, an
 * erasure and a replay, the members' pages and search, and web_admin's
 * checks of a request before any store: paths, methods, the session
 * cookie, the CSRF token and the fields of each change. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "config.h"
#include "domain.h"
#include "projections.h"
#include "web.h"
#include "web_admin.h"
#include "util.h"
#include "unit.h"

static char S_dir[256];
static folio_config S_cfg;

static void S_setup(void)
{
    unit_site_open(S_dir, sizeof S_dir, "admin", &S_cfg);
}

static void S_teardown(void)
{
    unit_site_close(S_dir, &S_cfg);
}

static domain *S_open(void)
{
    return unit_domain(&S_cfg);
}

/* n contact requests from n addresses; ids[i] the i-th's id (may be NULL). */
static void S_contacts(domain *d, int n, char (*ids)[96])
{
    folio_err err = {{0}};
    domain_result res;
    for (int i = 0; i < n; i++) {
        char name[32], email[48], msg[48];
        snprintf(name, sizeof name, "Sender %d", i);
        snprintf(email, sizeof email, "s%d@example.org", i);
        snprintf(msg, sizeof msg, "Message %d", i);
        domain_contact_req r = {name, email, NULL, msg, NULL, NULL, NULL};
        ck_assert_int_eq(domain_contact(d, &r, &res, &err), DOMAIN_OK);
        if (ids)
            snprintf(ids[i], sizeof ids[i], "%s", res.id);
    }
}

typedef struct {
    long long pos[64];
    int n;
} S_rows;

static int S_take(void *ud, const projections_inbox_row *r, folio_err *err)
{
    (void)err;
    S_rows *rows = ud;
    rows->pos[rows->n++] = r->position;
    return 0;
}

START_TEST(inbox_pages_by_keyset)
{
    domain *d = S_open();
    folio_err err = {{0}};
    S_contacts(d, 23, NULL);
    projections *p = domain_projections(d);
    long long before = 0, last = 1LL << 62;
    int total = 0;
    for (int page = 0; page < 10; page++) {
        S_rows rows = {{0}, 0};
        ck_assert_int_ge(projections_inbox_page(p, "new", before, 10, S_take, &rows, &err), 0);
        for (int i = 0; i < rows.n; i++) {
            ck_assert_int_lt(rows.pos[i], last); /* newest first, none twice */
            last = rows.pos[i];
        }
        total += rows.n;
        if (rows.n < 10)
            break;
        before = rows.pos[rows.n - 1];
    }
    ck_assert_int_eq(total, 23);
    S_rows none = {{0}, 0};
    ck_assert_int_eq(projections_inbox_page(p, "spam", 0, 10, S_take, &none, &err), 0);
    domain_close(d);
}
END_TEST

static void S_counts(domain *d, long long want_new, long long want_handled, long long want_spam)
{
    long long c[4];
    folio_err err = {{0}};
    ck_assert_int_eq(projections_inbox_counts(domain_projections(d), c, &err), 0);
    ck_assert_int_eq(c[0], want_new);
    ck_assert_int_eq(c[1], want_handled);
    ck_assert_int_eq(c[3], want_spam);
}

START_TEST(inbox_counts_follow_every_change)
{
    domain *d = S_open();
    folio_err err = {{0}};
    domain_result res;
    char ids[5][96];
    S_contacts(d, 5, ids);
    S_counts(d, 5, 0, 0);
    ck_assert_int_eq(domain_contact_mark(d, ids[0], "handled", &res, &err), DOMAIN_OK);
    ck_assert_int_eq(domain_contact_mark(d, ids[1], "spam", &res, &err), DOMAIN_OK);
    ck_assert_int_eq(domain_contact_mark(d, ids[1], "spam", &res, &err), DOMAIN_OK);
    S_counts(d, 3, 1, 1);
    ck_assert_int_eq(domain_forget(d, "s1@example.org", &res, &err), DOMAIN_OK);
    S_counts(d, 3, 1, 0);
    ck_assert_int_eq(domain_replay(d, NULL, 0, &err), 0);
    S_counts(d, 3, 1, 0);
    /* a group that is rolled back leaves the counts as they were */
    ck_assert_int_eq(domain_begin(d, &err), 0);
    ck_assert_int_eq(domain_contact_mark(d, ids[2], "archived", &res, &err), DOMAIN_OK);
    domain_rollback(d);
    S_counts(d, 3, 1, 0);
    buf report = BUF_INIT;
    ck_assert_int_eq(domain_check(d, &report, &err), 0);
    buf_free(&report);
    domain_close(d);
}
END_TEST

START_TEST(members_page_search_and_erase)
{
    domain *d = S_open();
    folio_err err = {{0}};
    domain_result res;
    const char *names[] = {"Ada Lovelace", "Grace 100% Hopper", "Alan Turing"};
    const char *emails[] = {"ada@example.org", "grace@example.org", "alan@example.org"};
    for (int i = 0; i < 3; i++) {
        domain_register_req r = {emails[i], names[i], NULL, NULL, NULL, NULL, 0, 0};
        ck_assert_int_eq(domain_register(d, &r, &res, &err), DOMAIN_OK);
    }
    char user_id[80];
    ck_assert_int_eq(domain_member_by_email(d, "GRACE@example.org", user_id, &err), DOMAIN_OK);
    cJSON *m = NULL;
    ck_assert_int_eq(domain_member_get(d, user_id, &m, &err), DOMAIN_OK);
    ck_assert_str_eq(cJSON_GetObjectItem(m, "email")->valuestring, "grace@example.org");
    cJSON_Delete(m);
    long long n = 0;
    ck_assert_int_eq(projections_member_count(domain_projections(d), &n, &err), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(domain_member_forget(d, user_id, &res, &err), DOMAIN_OK);
    ck_assert_int_eq(domain_member_get(d, user_id, &m, &err), DOMAIN_NOT_FOUND);
    ck_assert_int_eq(domain_member_forget(d, user_id, &res, &err), DOMAIN_NOT_FOUND);
    ck_assert_int_eq(domain_member_by_email(d, "grace@example.org", user_id, &err),
                     DOMAIN_NOT_FOUND);
    ck_assert_int_eq(projections_member_count(domain_projections(d), &n, &err), 0);
    ck_assert_int_eq(n, 2);
    domain_close(d);
}
END_TEST

/* ---- web_admin's checks before the store ---- */

static int S_start(web_admin_req *r, const char *method, const char *path, const char *cookie,
                   web_answer *a)
{
    web_answer_free(a);
    *a = (web_answer)WEB_ANSWER_INIT;
    return web_admin_start(r, method, path, "", cookie, "http://127.0.0.1:8080/", a);
}

START_TEST(requests_checked_before_the_store)
{
    web_admin_req r;
    web_answer a = WEB_ANSWER_INIT;
    char raw[ACCOUNTS_TOKEN_LEN + 1], cookie[80], csrf[ACCOUNTS_TOKEN_LEN + 1];
    unsigned char hash[ACCOUNTS_HASH_LEN];
    accounts_token_new(raw, hash);
    snprintf(cookie, sizeof cookie, "folio=%s", raw);
    accounts_csrf(raw, csrf);

    ck_assert(web_admin_path("/admin/") && web_admin_path("/admin") &&
              web_admin_path("/admin/inbox/x/") && !web_admin_path("/administrator") &&
              !web_admin_path("/account/"));
    ck_assert_int_eq(S_start(&r, "GET", "/admin/", NULL, &a), 0);
    ck_assert_int_eq(a.status, 303); /* no session: sign in */
    ck_assert_ptr_nonnull(strstr(a.headers, "Location: /login/"));
    ck_assert_ptr_nonnull(strstr(a.headers, "private, no-store"));
    ck_assert_int_eq(S_start(&r, "GET", "/admin", cookie, &a), 0);
    ck_assert_int_eq(a.status, 303);
    ck_assert_int_eq(S_start(&r, "GET", "/admin/nowhere/", cookie, &a), 0);
    ck_assert_int_eq(a.status, 404);
    ck_assert_int_eq(S_start(&r, "GET", "/admin/inbox/<x>/", cookie, &a), 0);
    ck_assert_int_eq(a.status, 404);
    ck_assert_int_eq(S_start(&r, "GET", "/admin/health/x/", cookie, &a), 0);
    ck_assert_int_eq(a.status, 404);
    ck_assert_int_eq(S_start(&r, "POST", "/admin/events/", cookie, &a), 0);
    ck_assert_int_eq(a.status, 405);
    ck_assert_int_eq(S_start(&r, "DELETE", "/admin/inbox/abc/", cookie, &a), 0);
    ck_assert_int_eq(a.status, 405);
    ck_assert_int_eq(S_start(&r, "GET", "/admin/members/abc-1/erase/", cookie, &a), 1);

    /* POST: the CSRF token first, then the fields of the change */
    char body[256];
    ck_assert_int_eq(S_start(&r, "POST", "/admin/inbox/abc/", cookie, &a), 1);
    ck_assert_int_eq(web_admin_form(&r, FORMS_URLENCODED, "action=mark&status=handled", 26, &a), 0);
    ck_assert_int_eq(a.status, 403);
    snprintf(body, sizeof body, "csrf=%s&action=mark&status=deleted", csrf);
    ck_assert_int_eq(web_admin_form(&r, FORMS_URLENCODED, body, strlen(body), &a), 0);
    ck_assert_int_eq(a.status, 422);
    snprintf(body, sizeof body, "csrf=%s&action=mark&status=handled", csrf);
    web_answer_free(&a);
    a = (web_answer)WEB_ANSWER_INIT;
    ck_assert_int_eq(web_admin_form(&r, FORMS_URLENCODED, body, strlen(body), &a), 1);
    ck_assert_str_eq(r.action, "mark");
    ck_assert_str_eq(r.value, "handled");
    ck_assert_str_eq(r.id, "abc");

    ck_assert_int_eq(S_start(&r, "POST", "/admin/members/abc/", cookie, &a), 1);
    snprintf(body, sizeof body, "csrf=%s&action=erase", csrf);
    ck_assert_int_eq(web_admin_form(&r, FORMS_URLENCODED, body, strlen(body), &a), 0);
    ck_assert_int_eq(a.status, 303); /* not confirmed: the page that asks */
    ck_assert_ptr_nonnull(strstr(a.headers, "Location: /admin/members/abc/erase/"));
    snprintf(body, sizeof body, "csrf=%s&action=promote", csrf);
    ck_assert_int_eq(S_start(&r, "POST", "/admin/members/abc/", cookie, &a), 1);
    ck_assert_int_eq(web_admin_form(&r, FORMS_URLENCODED, body, strlen(body), &a), 0);
    ck_assert_int_eq(a.status, 422); /* no role changes over the web */
    snprintf(body, sizeof body, "csrf=%s&action=retry&letter=-4", csrf);
    ck_assert_int_eq(S_start(&r, "POST", "/admin/health/", cookie, &a), 1);
    ck_assert_int_eq(web_admin_form(&r, FORMS_URLENCODED, body, strlen(body), &a), 0);
    ck_assert_int_eq(a.status, 422);
    ck_assert_int_eq(S_start(&r, "POST", "/admin/health/", cookie, &a), 1);
    ck_assert_int_eq(web_admin_form(&r, FORMS_URLENCODED, "csrf=x&extra=1", 14, &a), 0);
    ck_assert_int_eq(a.status, 400); /* a field the forms do not have */
    web_answer_free(&a);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("admin");
    TCase *tc = tcase_create("admin");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, S_setup, S_teardown);
    tcase_add_test(tc, inbox_pages_by_keyset);
    tcase_add_test(tc, inbox_counts_follow_every_change);
    tcase_add_test(tc, members_page_search_and_erase);
    tcase_add_test(tc, requests_checked_before_the_store);
    suite_add_tcase(su, tc);
    return unit_run(su);
}
