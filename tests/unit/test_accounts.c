/* Members' accounts: tokens (forged, used, expired refused), the
 * per-recipient mail limit, sessions (idle and absolute expiry, sign out
 * everywhere), CSRF tokens, throttling, and the verified sign-up through
 * the domain (pending until the link, one account and one mail for many
 * sign-ups of one address, a member's address answered the same). */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "accounts.h"
#include "config.h"
#include "domain.h"
#include "store.h"
#include "util.h"
#include "unit.h"

static char S_dir[256];
static store *S_st;
static sqlite3 *S_db;

static void S_setup(void)
{
    ck_assert_int_ge(sodium_init(), 0);
    unit_tmpdir(S_dir, sizeof S_dir, "accounts");
    char path[300];
    snprintf(path, sizeof path, "%s/t.db", S_dir);
    folio_err err = {{0}};
    ck_assert_msg(store_open(path, NULL, &S_st, &err) == 0, "%s", err.msg);
    S_db = store_db(S_st);
}

static void S_teardown(void)
{
    store_close(S_st);
    unit_rmdir(S_dir);
}

START_TEST(tokens_are_single_use_and_expire)
{
    folio_err err = {{0}};
    char raw[ACCOUNTS_TOKEN_LEN + 1], uid[80];
    unsigned char h[ACCOUNTS_HASH_LEN], h2[ACCOUNTS_HASH_LEN];
    accounts_token_new(raw, h);
    ck_assert_uint_eq(strlen(raw), ACCOUNTS_TOKEN_LEN);
    ck_assert_int_eq(accounts_token_hash(raw, h2), 0);
    ck_assert_mem_eq(h, h2, sizeof h);
    ck_assert_int_eq(accounts_token_put(S_db, "verify", "u1", h, 7, 1000, &err), 0);
    long long pos = 0;
    /* forged: a token of the right shape that was never issued */
    char forged[ACCOUNTS_TOKEN_LEN + 1];
    memcpy(forged, raw, sizeof forged);
    forged[0] = forged[0] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(accounts_token_take(S_db, "verify", forged, 10, uid, &pos, &err), 1);
    ck_assert_int_eq(accounts_token_take(S_db, "verify", "short", 10, uid, &pos, &err), 1);
    ck_assert_int_eq(accounts_token_take(S_db, "verify", NULL, 10, uid, &pos, &err), 1);
    /* of another kind */
    ck_assert_int_eq(accounts_token_take(S_db, "reset", raw, 10, uid, &pos, &err), 1);
    ck_assert_int_eq(accounts_token_take(S_db, "verify", raw, 10, uid, &pos, &err), 0);
    ck_assert_str_eq(uid, "u1");
    ck_assert_int_eq(pos, 7);
    /* used */
    ck_assert_int_eq(accounts_token_take(S_db, "verify", raw, 10, uid, &pos, &err), 1);
    /* expired */
    accounts_token_new(raw, h);
    ck_assert_int_eq(accounts_token_put(S_db, "verify", "u2", h, 8, 1000, &err), 0);
    ck_assert_int_eq(accounts_token_take(S_db, "verify", raw, 1000, uid, &pos, &err), 1);
}
END_TEST

START_TEST(mail_limit_per_recipient)
{
    folio_err err = {{0}};
    long long t = 1000000000LL;
    ck_assert_int_eq(accounts_mail_allowed(S_db, "s1", "verify", t, &err), 1);
    /* a burst: one mail */
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(accounts_mail_allowed(S_db, "s1", "verify", t + i, &err), 0);
    /* another kind of mail is not held up by the gap, nor another address */
    ck_assert_int_eq(accounts_mail_allowed(S_db, "s3", "verify", t, &err), 1);
    ck_assert_int_eq(accounts_mail_allowed(S_db, "s3", "already", t + 1, &err), 1);
    ck_assert_int_eq(accounts_mail_allowed(S_db, "s3", "already", t + 2, &err), 0);
    ck_assert_int_eq(accounts_mail_allowed(S_db, "s2", "verify", t, &err), 1);
    ck_assert_int_eq(accounts_mail_allowed(S_db, "s1", "verify", t + ACCOUNTS_MAIL_GAP_MS, &err), 1);
    ck_assert_int_eq(accounts_mail_allowed(S_db, "s1", "verify", t + 2 * ACCOUNTS_MAIL_GAP_MS, &err), 1);
    /* three an hour */
    ck_assert_int_eq(accounts_mail_allowed(S_db, "s1", "verify", t + 3 * ACCOUNTS_MAIL_GAP_MS, &err), 0);
    ck_assert_int_eq(accounts_mail_allowed(S_db, "s1", "verify", t + 3600 * 1000 + 1, &err), 1);
}
END_TEST

START_TEST(sessions_expire_and_end)
{
    folio_err err = {{0}};
    char a[ACCOUNTS_TOKEN_LEN + 1], b[ACCOUNTS_TOKEN_LEN + 1], uid[80];
    long long t = 1000;
    ck_assert_int_eq(accounts_session_new(S_db, "u1", t, a, &err), 0);
    ck_assert_int_eq(accounts_session_new(S_db, "u1", t, b, &err), 0);
    ck_assert_str_ne(a, b);
    ck_assert_int_eq(accounts_session_find(S_db, a, t + 1, uid, &err), 1);
    ck_assert_str_eq(uid, "u1");
    ck_assert_int_eq(accounts_session_find(S_db, "nonsense", t, uid, &err), 0);
    /* idle: each use restarts the clock, 14 days without one ends it */
    long long now = t;
    for (int i = 0; i < 5; i++) {
        now += ACCOUNTS_SESSION_IDLE_MS - 1000;
        ck_assert_int_eq(accounts_session_find(S_db, a, now, uid, &err), 1);
    }
    ck_assert_int_eq(accounts_session_find(S_db, b, now, uid, &err), 0);
    /* absolute: 90 days however busy */
    while (now < t + ACCOUNTS_SESSION_MAX_MS - ACCOUNTS_SESSION_IDLE_MS) {
        now += ACCOUNTS_SESSION_IDLE_MS / 2;
        ck_assert_int_eq(accounts_session_find(S_db, a, now, uid, &err), 1);
    }
    ck_assert_int_eq(accounts_session_find(S_db, a, t + ACCOUNTS_SESSION_MAX_MS + 1, uid, &err), 0);
    /* sign out; sign out everywhere but here */
    char c[ACCOUNTS_TOKEN_LEN + 1], d[ACCOUNTS_TOKEN_LEN + 1], e[ACCOUNTS_TOKEN_LEN + 1];
    ck_assert_int_eq(accounts_session_new(S_db, "u2", t, c, &err), 0);
    ck_assert_int_eq(accounts_session_new(S_db, "u2", t, d, &err), 0);
    ck_assert_int_eq(accounts_session_new(S_db, "u2", t, e, &err), 0);
    ck_assert_int_eq(accounts_session_end(S_db, c, &err), 0);
    ck_assert_int_eq(accounts_session_find(S_db, c, t, uid, &err), 0);
    ck_assert_int_eq(accounts_session_end_all(S_db, "u2", d, &err), 0);
    ck_assert_int_eq(accounts_session_find(S_db, d, t, uid, &err), 1);
    ck_assert_int_eq(accounts_session_find(S_db, e, t, uid, &err), 0);
    ck_assert_int_eq(accounts_session_end_all(S_db, "u2", NULL, &err), 0);
    ck_assert_int_eq(accounts_session_find(S_db, d, t, uid, &err), 0);
}
END_TEST

START_TEST(csrf_tokens)
{
    char raw[ACCOUNTS_TOKEN_LEN + 1], other[ACCOUNTS_TOKEN_LEN + 1];
    unsigned char h[ACCOUNTS_HASH_LEN];
    accounts_token_new(raw, h);
    accounts_token_new(other, h);
    char tok[ACCOUNTS_TOKEN_LEN + 1], tok2[ACCOUNTS_TOKEN_LEN + 1];
    accounts_csrf(raw, tok);
    accounts_csrf(raw, tok2);
    ck_assert_str_eq(tok, tok2);
    ck_assert_int_eq(accounts_csrf_check(raw, tok), 1);
    ck_assert_int_eq(accounts_csrf_check(other, tok), 0); /* another session's */
    ck_assert_int_eq(accounts_csrf_check(raw, NULL), 0);  /* missing */
    ck_assert_int_eq(accounts_csrf_check(raw, ""), 0);
    ck_assert_int_eq(accounts_csrf_check(NULL, tok), 0);  /* no session */
    tok2[5] = tok2[5] == 'x' ? 'y' : 'x';
    ck_assert_int_eq(accounts_csrf_check(raw, tok2), 0);  /* wrong */
}
END_TEST

START_TEST(throttle_counts_and_forgets)
{
    accounts_throttle *t = accounts_throttle_new();
    ck_assert_ptr_nonnull(t);
    long long now = 5000;
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(accounts_throttle_wait(t, "acct:a", 5, now), 0);
        accounts_throttle_fail(t, "acct:a", now);
    }
    int w = accounts_throttle_wait(t, "acct:a", 5, now);
    ck_assert_int_gt(w, 0);
    ck_assert_int_le(w, (int)(ACCOUNTS_THROTTLE_WINDOW_MS / 1000));
    ck_assert_int_eq(accounts_throttle_wait(t, "acct:b", 5, now), 0);
    /* never for good: the window ends */
    ck_assert_int_eq(accounts_throttle_wait(t, "acct:a", 5,
                                            now + ACCOUNTS_THROTTLE_WINDOW_MS), 0);
    accounts_throttle_free(t);
}
END_TEST

/* ---- through the domain -------------------------------------------------- */

static folio_config S_cfg;
static char S_sdir[256];

static void S_dsetup(void)
{
    unit_tmpdir(S_sdir, sizeof S_sdir, "accounts-domain");
    folio_err err = {{0}};
    ck_assert_msg(config_load(S_sdir, &S_cfg, &err) == 0, "%s", err.msg);
}

static void S_dteardown(void)
{
    config_free(&S_cfg);
    unit_rmdir(S_sdir);
}

static int S_signup(domain *d, const char *email, const char *name)
{
    domain_register_req req = {.email = email, .display_name = name,
                               .password = "a-long-password", .verify = 1};
    domain_result res;
    folio_err err = {{0}};
    int rc = domain_register(d, &req, &res, &err);
    ck_assert_msg(rc != DOMAIN_ERROR, "%s", err.msg);
    return rc;
}

/* The tokens of the verification mails so far, newest last; the count. */
static int S_tokens(domain *d, char tokens[][ACCOUNTS_TOKEN_LEN + 1], int cap,
                    const char *type)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    domain_events_query q = {.type = type, .json = 1};
    folio_err err = {{0}};
    ck_assert_msg(domain_print_events(d, &q, f, &err) == 0, "%s", err.msg);
    fclose(f);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, "\"token\":\"")) && n < cap; n++) {
        p += 9;
        snprintf(tokens[n], ACCOUNTS_TOKEN_LEN + 1, "%.43s", p);
    }
    int lines = 0;
    for (const char *p = text; p && *p; p++)
        lines += *p == '\n';
    free(text);
    return tokens ? n : lines;
}

static int S_members(domain *d)
{
    const cJSON *c = domain_site_data(d, "community");
    ck_assert_ptr_nonnull(c);
    return cJSON_GetObjectItem(c, "count")->valueint;
}

START_TEST(signup_is_pending_until_verified)
{
    domain *d = NULL;
    folio_err err = {{0}};
    ck_assert_msg(domain_open(&S_cfg, &d, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(S_signup(d, "ada@example.org", "Ada"), DOMAIN_OK);
    ck_assert_int_eq(S_members(d), 0);
    char tok[4][ACCOUNTS_TOKEN_LEN + 1];
    ck_assert_int_eq(S_tokens(d, tok, 4, "MemberVerificationRequested"), 1);
    domain_result res;
    ck_assert_int_eq(domain_verify(d, "not-a-token", &res, &err), DOMAIN_NOT_FOUND);
    ck_assert_int_eq(domain_verify(d, tok[0], &res, &err), DOMAIN_OK);
    ck_assert_uint_ge(res.nchanged, 1);
    ck_assert_int_eq(S_members(d), 1);
    /* single use */
    ck_assert_int_eq(domain_verify(d, tok[0], &res, &err), DOMAIN_NOT_FOUND);
    /* a member's address: the same answer, an "already" mail instead */
    ck_assert_int_eq(S_signup(d, "ADA@example.org", "Someone"), DOMAIN_OK);
    ck_assert_int_eq(S_signup(d, "ada@example.org", "Someone"), DOMAIN_OK);
    ck_assert_int_eq(S_tokens(d, NULL, 0, "MemberSignupRepeated"), 1);
    ck_assert_int_eq(S_members(d), 1);
    /* the owner's tools keep working: replay and check agree */
    buf rep = BUF_INIT;
    ck_assert_msg(domain_check(d, &rep, &err) == 0, "%s %s", err.msg,
                  rep.ptr ? rep.ptr : "");
    buf_free(&rep);
    /* forgetting erases the account */
    ck_assert_int_eq(domain_forget(d, "ada@example.org", &res, &err), DOMAIN_OK);
    ck_assert_int_eq(S_members(d), 0);
    domain_close(d);
}
END_TEST

START_TEST(many_signups_one_account_one_mail)
{
    domain *d = NULL;
    folio_err err = {{0}};
    ck_assert_msg(domain_open(&S_cfg, &d, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(domain_begin(d, &err), 0);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(S_signup(d, "same@example.org", "Same"), DOMAIN_OK);
    ck_assert_int_eq(domain_commit(d, &err), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(S_signup(d, "same@example.org", "Same"), DOMAIN_OK);
    ck_assert_int_eq(S_tokens(d, NULL, 0, "UserRegistered"), 1);
    ck_assert_int_eq(S_tokens(d, NULL, 0, "MemberVerificationRequested"), 1);
    ck_assert_int_eq(S_members(d), 0);
    /* an expired link is refused */
    char tok[2][ACCOUNTS_TOKEN_LEN + 1];
    ck_assert_int_eq(S_tokens(d, tok, 2, "MemberVerificationRequested"), 1);
    sqlite3 *db = NULL;
    char path[300];
    snprintf(path, sizeof path, "%s/var/folio.db", S_sdir);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "UPDATE account_tokens SET expires_at = 1",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    domain_result res;
    ck_assert_int_eq(domain_verify(d, tok[0], &res, &err), DOMAIN_NOT_FOUND);
    ck_assert_int_eq(S_members(d), 0);
    domain_close(d);
}
END_TEST

static long long S_offset;
static long long S_clock(void) { return util_now_ms() + S_offset; }

START_TEST(unverified_signups_expire)
{
    domain *d = NULL;
    folio_err err = {{0}};
    ck_assert_msg(domain_open(&S_cfg, &d, &err) == 0, "%s", err.msg);
    domain_set_clock(d, S_clock);
    S_offset = 0;
    ck_assert_int_eq(S_signup(d, "late@example.org", "Late"), DOMAIN_OK);
    ck_assert_int_eq(S_signup(d, "kept@example.org", "Kept"), DOMAIN_OK);
    char tok[2][ACCOUNTS_TOKEN_LEN + 1];
    ck_assert_int_eq(S_tokens(d, tok, 2, "MemberVerificationRequested"), 2);
    domain_result res;
    ck_assert_int_eq(domain_verify(d, tok[1], &res, &err), DOMAIN_OK);
    int n = -1;
    ck_assert_int_eq(domain_expire_pending(d, &n, &err), 0);
    ck_assert_int_eq(n, 0);
    S_offset = ACCOUNTS_PENDING_TTL_MS + 1000;
    ck_assert_int_eq(domain_expire_pending(d, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    /* erased: the address reads as redacted, the verified member stays */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    domain_events_query q = {.json = 1};
    ck_assert_int_eq(domain_print_events(d, &q, f, &err), 0);
    fclose(f);
    ck_assert_ptr_null(strstr(text, "late@example.org"));
    ck_assert_ptr_nonnull(strstr(text, "PersonForgotten"));
    free(text);
    ck_assert_int_eq(S_members(d), 1);
    /* the address can sign up again */
    ck_assert_int_eq(S_signup(d, "late@example.org", "Late Again"), DOMAIN_OK);
    ck_assert_int_eq(S_tokens(d, NULL, 0, "UserRegistered"), 3);
    domain_close(d);
}
END_TEST

static Suite *S_suite(void)
{
    Suite *s = suite_create("accounts");
    TCase *tc = tcase_create("secrets");
    tcase_add_checked_fixture(tc, S_setup, S_teardown);
    tcase_add_test(tc, tokens_are_single_use_and_expire);
    tcase_add_test(tc, mail_limit_per_recipient);
    tcase_add_test(tc, sessions_expire_and_end);
    tcase_add_test(tc, csrf_tokens);
    tcase_add_test(tc, throttle_counts_and_forgets);
    suite_add_tcase(s, tc);
    TCase *td = tcase_create("signup");
    tcase_set_timeout(td, 60);
    tcase_add_checked_fixture(td, S_dsetup, S_dteardown);
    tcase_add_test(td, signup_is_pending_until_verified);
    tcase_add_test(td, many_signups_one_account_one_mail);
    tcase_add_test(td, unverified_signups_expire);
    suite_add_tcase(s, td);
    return s;
}

int main(void) { return unit_run(S_suite()); }
