/* web_accounts — the HTTP side of members' accounts (web_accounts.h). */
#include "web_accounts.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

static const forms_field S_login_fields[] = {
    {"email", 254, 0}, {"password", 1024, 0}, {NULL, 0, 0}};
const forms_spec web_accounts_login = {"login", S_login_fields, NULL};

static const forms_field S_logout_fields[] = {
    {"csrf", 64, 0}, {"everywhere", 8, 0}, {NULL, 0, 0}};
const forms_spec web_accounts_logout = {"logout", S_logout_fields, NULL};

static const forms_field S_reset_fields[] = {
    {"email", 254, 0}, {"token", 64, 0}, {"password", 1024, 0}, {NULL, 0, 0}};
const forms_spec web_accounts_reset = {"reset", S_reset_fields, NULL};

/* A base64url token: the only characters a link of ours carries, so
 * nothing needs percent-decoding and anything else is refused. */
static int S_b64url(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* The value of name in a list of "name=value" separated by any of seps
 * (spaces after a separator skipped), when it is base64url. */
static int S_pair(const char *list, const char *seps, const char *name,
                  char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (!list || !out || cap == 0)
        return -1;
    out[0] = '\0';
    for (const char *p = list; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, seps);
        if (n > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            size_t len = n - nl - 1;
            if (len == 0 || len >= cap || !S_b64url(p + nl + 1, len))
                return -1;
            memcpy(out, p + nl + 1, len);
            out[len] = '\0';
            return 0;
        }
        p += n;
        if (*p)
            p++;
    }
    return -1;
}

int web_accounts_query_token(const char *query, char *out, size_t cap)
{
    return S_pair(query, "&;", "token", out, cap);
}

static int S_https(const char *base_url)
{
    return base_url && !strncmp(base_url, "https://", 8);
}

const char *web_accounts_cookie_name(const char *base_url)
{
    return S_https(base_url) ? "__Host-folio" : "folio";
}

int web_accounts_cookie(const char *header, const char *base_url, char *out,
                        size_t cap)
{
    return S_pair(header, ";", web_accounts_cookie_name(base_url), out, cap);
}

int web_accounts_set_cookie(char *out, size_t cap, const char *base_url,
                            const char *raw)
{
    int n = snprintf(out, cap, "Set-Cookie: %s=%s; Path=/; HttpOnly; "
                     "SameSite=Lax%s%s\r\n", web_accounts_cookie_name(base_url),
                     raw ? raw : "", S_https(base_url) ? "; Secure" : "",
                     raw ? "" : "; Max-Age=0");
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static char S_dummy[crypto_pwhash_STRBYTES];
static pthread_once_t S_dummy_once = PTHREAD_ONCE_INIT;

static void S_dummy_make(void)
{
    unsigned char pw[16];
    randombytes_buf(pw, sizeof pw);
    if (crypto_pwhash_str(S_dummy, (const char *)pw, sizeof pw,
                          crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        S_dummy[0] = '\0';
}

int web_accounts_password_ok(const char *hash, const char *password)
{
    if (!password)
        password = "";
    if (!hash) {
        pthread_once(&S_dummy_once, S_dummy_make);
        /* the answer is thrown away: only the time it takes matters */
        volatile int r = S_dummy[0] ? crypto_pwhash_str_verify(
                                          S_dummy, password, strlen(password))
                                    : -1;
        (void)r;
        return 0;
    }
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}
