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
#include "consumers.h"
#include "domain.h"
#include "events.h"
#include "mail.h"
#include "store.h"
#include "vault.h"
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
    unit_site_open(S_sdir, sizeof S_sdir, "accounts-domain", &S_cfg);
}

static void S_dteardown(void)
{
    unit_site_close(S_sdir, &S_cfg);
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
    /* the log holds the links' nonces; their tokens are the mails' */
    unsigned char key[VAULT_LINK_KEY_LEN];
    ck_assert_int_eq(vault_link_key(S_cfg.master_key_path, key, &err), 0);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, "\"nonce\":\"")) && n < cap; n++) {
        char nonce[ACCOUNTS_TOKEN_LEN + 1];
        p += 9;
        snprintf(nonce, sizeof nonce, "%.43s", p);
        ck_assert_int_eq(accounts_token_of_nonce(key, nonce, tokens[n]), 0);
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

/* ---- the mailed links' tokens stay out of the log ------------------------ */

/* Every event a consumer gets, data and personal, as JSON lines: what a
 * webhook with personal_data sends. */
static int S_capture(void *ud, const consumer_event *ev, folio_err *err)
{
    (void)err;
    char *data = cJSON_PrintUnformatted(ev->data);
    char *pers = ev->personal ? cJSON_PrintUnformatted(ev->personal) : NULL;
    ck_assert_ptr_nonnull(data);
    ck_assert_int_eq(buf_printf(ud, "%s\n%s\n", data, pers ? pers : ""), 0);
    free(data);
    free(pers);
    return CONSUMER_DONE;
}

/* Delivers what the log holds: mails to the outbox, every event to seen. */
static void S_deliver(buf *seen)
{
    consumers *c = NULL;
    folio_err err = {{0}};
    ck_assert_msg(consumers_open_site(&S_cfg, &c, &err) == 0, "%s", err.msg);
    ck_assert_msg(consumers_add(c, "capture", NULL, S_capture, seen, &err) == 0,
                  "%s", err.msg);
    ck_assert_msg(consumers_run_once(c, &err) == 0, "%s", err.msg);
    consumers_close(c);
}

/* The token of the newest mailed link of path ("/verify"), as the
 * member's mail program shows it. */
static void S_mailed(const char *path, char out[ACCOUNTS_TOKEN_LEN + 1])
{
    mail_outbox_entry *e = NULL;
    size_t n = 0;
    folio_err err = {{0}};
    char pat[64];
    snprintf(pat, sizeof pat, "%s?token=", path);
    ck_assert_msg(mail_outbox_list(&S_cfg, &e, &n, &err) == 0, "%s", err.msg);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char file[1024], *text = NULL;
        size_t len = 0;
        ck_assert_int_eq(mail_outbox_path(&S_cfg, e[i].id, file, sizeof file, &err), 0);
        ck_assert_msg(util_read_file(file, &text, &len, &err) == 0, "%s", err.msg);
        /* quoted-printable: join the soft line breaks ("=" at a line end) */
        size_t w = 0;
        for (size_t r = 0; r < len; r++) {
            if (text[r] == '=' && r + 2 < len && text[r + 1] == '\r' && text[r + 2] == '\n')
                r += 2;
            else
                text[w++] = text[r];
        }
        text[w] = '\0';
        const char *p = strstr(text, pat);
        if (p) {
            p += strlen(pat);
            p += strncmp(p, "3D", 2) == 0 ? 2 : 0; /* quoted-printable '=' */
            snprintf(out, ACCOUNTS_TOKEN_LEN + 1, "%.43s", p);
        }
        free(text);
    }
    free(e);
    ck_assert_uint_eq(strlen(out), ACCOUNTS_TOKEN_LEN);
}

/* What the owner's `folio events --json` prints (personal fields open). */
static char *S_events_json(domain *d)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    domain_events_query q = {.json = 1};
    folio_err err = {{0}};
    ck_assert_msg(domain_print_events(d, &q, f, &err) == 0, "%s", err.msg);
    fclose(f);
    return text;
}

/* Neither the log (as stored, as printed) nor what the consumers get
 * holds tok. */
static void S_nowhere(domain *d, const buf *seen, const char *tok)
{
    char *printed = S_events_json(d);
    ck_assert_msg(!strstr(printed, tok), "folio events shows a link's token");
    free(printed);
    ck_assert_msg(seen->ptr && !strstr(seen->ptr, tok),
                  "a consumer (webhook) got a link's token");
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE"
             " instr(data, '%s') > 0", tok);
    ck_assert_int_eq(unit_db_int(S_cfg.db_path, sql), 0);
}

START_TEST(mailed_links_tokens_stay_out_of_the_log)
{
    domain *d = NULL;
    folio_err err = {{0}};
    domain_result res;
    buf seen = BUF_INIT;
    char tok[ACCOUNTS_TOKEN_LEN + 1];
    ck_assert_msg(domain_open(&S_cfg, &d, &err) == 0, "%s", err.msg);
    S_deliver(&seen); /* the consumers begin at the log's head */
    ck_assert_int_eq(S_signup(d, "ada@example.org", "Ada"), DOMAIN_OK);
    S_deliver(&seen);
    S_mailed("/verify", tok);
    S_nowhere(d, &seen, tok);
    ck_assert_int_eq(domain_verify(d, tok, &res, &err), DOMAIN_OK);
    ck_assert_int_eq(S_members(d), 1);
    ck_assert_int_eq(domain_verify(d, tok, &res, &err), DOMAIN_NOT_FOUND);

    ck_assert_int_eq(domain_reset_request(d, "ada@example.org", NULL, NULL, &res,
                                          &err), DOMAIN_OK);
    S_deliver(&seen);
    S_mailed("/reset", tok);
    S_nowhere(d, &seen, tok);
    ck_assert_int_eq(domain_reset_password(d, tok, "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
                                           &res, &err), DOMAIN_OK);
    ck_assert_int_eq(domain_reset_password(d, tok, "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
                                           &res, &err), DOMAIN_NOT_FOUND);
    buf rep = BUF_INIT;
    ck_assert_msg(domain_check(d, &rep, &err) == 0, "%s %s", err.msg,
                  rep.ptr ? rep.ptr : "");
    buf_free(&rep);
    buf_free(&seen);
    domain_close(d);
}
END_TEST

/* A v1 event (the raw token itself, before nonces) still mails its link:
 * the token it carries. */
START_TEST(an_old_link_event_mails_its_token)
{
    mailer *m = NULL;
    folio_err err = {{0}};
    ck_assert_msg(mail_open(&S_cfg, &m, &err) == 0, "%s", err.msg);
    const events_type *t = events_find("PasswordResetRequested");
    cJSON *data = cJSON_Parse("{\"user_id\":\"u-1\",\"subject\":\"s1\","
                              "\"email\":\"ada@example.org\",\"token\":"
                              "\"old-raw-token\",\"expires_at\":1}");
    ck_assert_int_eq(events_upcast(t, 1, data, &err), 0);
    ck_assert_msg(events_validate(t, data, NULL, &err) == 0, "%s", err.msg);
    consumer_event ev = {.position = 3, .type = t->name, .data = data,
                         .personal = data, .recorded_at = 1000};
    buf out = BUF_INIT;
    char id[96];
    ck_assert_int_eq(mail_render(m, &ev, &out, id, &err), CONSUMER_DONE);
    ck_assert_ptr_nonnull(out.ptr);
    ck_assert_msg(strstr(out.ptr, "old-raw-token"), "the old link is kept");
    buf_free(&out);
    cJSON_Delete(data);
    mail_close(m);
}
END_TEST

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
    tcase_add_test(td, mailed_links_tokens_stay_out_of_the_log);
    tcase_add_test(td, an_old_link_event_mails_its_token);
    tcase_add_test(td, signup_is_pending_until_verified);
    tcase_add_test(td, many_signups_one_account_one_mail);
    tcase_add_test(td, unverified_signups_expire);
    suite_add_tcase(s, td);
    return s;
}

int main(void) { return unit_run(S_suite()); }
