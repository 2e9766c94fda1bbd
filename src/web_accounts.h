/* web_accounts — the members' pages of folio-fcgi: what the router hands
 * over for /verify, /login, /logout, /reset and /account/, and the HTTP
 * details of accounts (cookies, query strings).
 *
 * The session cookie is "__Host-folio" with Secure when the site's
 * base_url is https, and "folio" without Secure on plain http (browsers
 * refuse __Host- cookies that are not Secure); always HttpOnly,
 * SameSite=Lax, Path=/. */
#ifndef FOLIO_WEB_ACCOUNTS_H
#define FOLIO_WEB_ACCOUNTS_H

#include <stddef.h>

/* The value of "token" in a query string, copied into out (at most cap - 1
 * bytes of base64url). -1 when absent, empty, too long or not base64url. */
int web_accounts_query_token(const char *query, char *out, size_t cap);

#endif
