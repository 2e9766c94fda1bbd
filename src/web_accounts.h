/* web_accounts — the HTTP side of members' accounts for folio-fcgi: the
 * sign-in and sign-out forms, the session cookie, password checks that
 * take the same time for an unknown address, and query-string tokens.
 *
 * The session cookie is "__Host-folio" with Secure when the site's
 * base_url is https, and "folio" without Secure on plain http (browsers
 * refuse __Host- cookies that are not Secure); always HttpOnly,
 * SameSite=Lax, Path=/, and no Max-Age: the server ends sessions (14 days
 * idle, 90 days in all). */
#ifndef FOLIO_WEB_ACCOUNTS_H
#define FOLIO_WEB_ACCOUNTS_H

#include <stddef.h>
#include "forms.h"

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

/* 1 when password matches the Argon2id hash. hash NULL (no such member):
 * checked against a dummy hash all the same, so an unknown address takes
 * as long as a wrong password, and 0. */
int web_accounts_password_ok(const char *hash, const char *password);

#endif
