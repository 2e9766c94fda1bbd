/* web_accounts — the HTTP side of members' accounts (web_app.h runs it
 * for folio-fcgi and folio serve): the sign-in and sign-out forms, the
 * session cookie, password checks that take the same time for an unknown
 * address, and query-string tokens.
 *
 * The session cookie is "__Host-folio" with Secure when the site's
 * base_url is https, and "folio" without Secure on plain http (browsers
 * refuse __Host- cookies that are not Secure); always HttpOnly,
 * SameSite=Lax, Path=/, and no Max-Age: the server ends sessions (14 days
 * idle, 90 days in all). */
#ifndef FOLIO_WEB_ACCOUNTS_H
#define FOLIO_WEB_ACCOUNTS_H

#include <pthread.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "domain.h"
#include "forms.h"
#include "site.h"
#include "web.h"

extern const forms_spec web_accounts_login;   /* email password */
extern const forms_spec web_accounts_logout;  /* csrf everywhere */
/* email (ask for a link), or token and password (set a new one) */
extern const forms_spec web_accounts_reset;

/* The value of "token" in a query string, copied into out (at most cap - 1
 * bytes of base64url). -1 when absent, empty, too long or not base64url. */
int web_accounts_query_token(const char *query, char *out, size_t cap);

/* The cookie's name for a site served at base_url. */
const char *web_accounts_cookie_name(const char *base_url);
/* The session token in a Cookie header, into out (cap bytes); -1 when
 * there is none of the right shape. */
int web_accounts_cookie(const char *header, const char *base_url, char *out,
                        size_t cap);
/* "Set-Cookie: ...\r\n" setting raw, or clearing the cookie (raw NULL). */
int web_accounts_set_cookie(char *out, size_t cap, const char *base_url,
                            const char *raw);
/* Where a visitor sent to /login/ was going, kept for the sign-in in a
 * short-lived cookie: "Set-Cookie: ...\r\n" for path (one of the owner's
 * pages, else -1), or clearing it (path NULL). */
int web_accounts_set_next(char *out, size_t cap, const char *base_url, const char *path);
/* That page, from a Cookie header, into out: 0, or -1 when there is none
 * (or it is not one of the owner's pages of this site). */
int web_accounts_next(const char *header, char *out, size_t cap);

/* 1 when password matches the Argon2id hash. hash NULL (no such member):
 * checked against a dummy hash all the same, so an unknown address takes
 * as long as a wrong password, and 0. */
int web_accounts_password_ok(const char *hash, const char *password);

/* The answer to GET /verify?token= once domain_verify ran (rc): 303 to
 * /register/welcome/, 400 for a link unknown, used or expired, else 500. */
void web_accounts_verified(web_answer *a, int json, int rc);

/* ---- self-service at /account/ ----
 * POST /account/name (display_name), /account/email (email,
 * current_password), /account/password (current_password, password),
 * /account/data (download my data), /account/delete (current_password):
 * one form spec, every one with the session's csrf. GET
 * /account/confirm?token= is the link mailed to a new address. */
extern const forms_spec web_accounts_account;
enum web_accounts_action {
    WEB_ACCOUNT_NONE, WEB_ACCOUNT_NAME, WEB_ACCOUNT_PASSWORD,
    WEB_ACCOUNT_DATA, WEB_ACCOUNT_DELETE, WEB_ACCOUNT_EMAIL,
    WEB_ACCOUNT_CONFIRM
};
/* The action of a request path; WEB_ACCOUNT_NONE for any other. */
int web_accounts_action(const char *path);
/* 1 when the action needs the current password (checked outside the
 * writer with web_accounts_password_ok against domain_account_peek's
 * hash). */
int web_accounts_needs_password(int action);
/* The new password's rule (the sign-up's): 0, or 1 with res->errors. */
int web_accounts_check_new(const forms_values *v, domain_result *res);
/* The writer's part of a state-changing action (name, email, password,
 * delete, confirm); token: the session's, or for confirm the link's;
 * password_hash: the new password's Argon2id hash. */
int web_accounts_run(domain *d, int action, const char *token,
                     const forms_values *v, const char *password_hash,
                     const char *request_id, const char *client,
                     domain_result *res, folio_err *err);
/* The account page for the member signed in with session: their name, the
 * session's CSRF token, a notice ("name", "password": what just changed;
 * may be NULL) and res's field errors (may be NULL), rendered with the
 * site's theme into *a with status (Cache-Control is the front end's).
 * site_mu, when not NULL, is held around the render. */
void web_accounts_page(web_answer *a, int status, site *s,
                       pthread_mutex_t *site_mu, const char *name,
                       const char *session, const char *notice,
                       const domain_result *res);
/* The notice a query string asks for after a change ("done=name", ...):
 * "name", "password", "email_sent", "email" or NULL. */
const char *web_accounts_notice(const char *query);
/* The download: {user_id, site, events} as an attachment. Consumes doc. */
void web_accounts_export(web_answer *a, cJSON *doc);

#endif
