/* web_accounts — the HTTP side of members' accounts (web_accounts.h). */
#include "web_accounts.h"

#include <ctype.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "accounts.h"
#include "log.h"

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
 * (spaces after a separator skipped), when ok says it is one. */
static int S_pair_if(const char *list, const char *seps, const char *name, char *out,
                     size_t cap, int (*ok)(const char *, size_t))
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
            if (len == 0 || len >= cap || !ok(p + nl + 1, len))
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

/* The same, when the value is base64url. */
static int S_pair(const char *list, const char *seps, const char *name,
                  char *out, size_t cap)
{
    return S_pair_if(list, seps, name, out, cap, S_b64url);
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

/* One of the owner's pages, as a path of this site: never another site
 * ("//host"), never up and out (".."), nothing a header could break on. */
static int S_owner_path(const char *v, size_t n)
{
    if (n < 6 || strncmp(v, "/admin", 6) || (n > 6 && v[6] != '/'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && !strchr("/_-.", v[i]))
            return 0;
    for (size_t i = 0; i + 1 < n; i++)
        if ((v[i] == '/' && v[i + 1] == '/') || (v[i] == '.' && v[i + 1] == '.'))
            return 0;
    return 1;
}

#define S_NEXT_COOKIE "folio_next"

int web_accounts_set_next(char *out, size_t cap, const char *base_url, const char *path)
{
    if (path && !S_owner_path(path, strlen(path)))
        return -1;
    /* read by POST /login only, for ten minutes */
    int n = snprintf(out, cap, "Set-Cookie: " S_NEXT_COOKIE "=%s; Path=/login; HttpOnly; "
                     "SameSite=Lax%s; Max-Age=%d\r\n", path ? path : "",
                     S_https(base_url) ? "; Secure" : "", path ? 600 : 0);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int web_accounts_next(const char *header, char *out, size_t cap)
{
    return S_pair_if(header, ";", S_NEXT_COOKIE, out, cap, S_owner_path);
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

void web_accounts_verified(web_answer *a, int json, int rc)
{
    if (rc == DOMAIN_OK) {
        web_see_other(a, "/register/welcome/", NULL);
        return;
    }
    if (rc == DOMAIN_NOT_FOUND)
        web_refuse(a, json, 400, "this link is not valid: it has expired, was "
                   "used already, or was never sent; sign up again for a new "
                   "one", NULL);
    else
        web_refuse(a, json, 500, "the link could not be followed; please try "
                   "again", NULL);
}

/* ---- self-service at /account/ ------------------------------------------ */

static const forms_field S_account_fields[] = {
    {"csrf", 64, 0}, {"display_name", 80, 0}, {"email", 254, 0},
    {"current_password", 1024, 0}, {"password", 1024, 0}, {NULL, 0, 0}};
const forms_spec web_accounts_account = {"account", S_account_fields, NULL};

static const struct {
    const char *path;
    int action;
} S_actions[] = {{"/account/name", WEB_ACCOUNT_NAME},
                 {"/account/password", WEB_ACCOUNT_PASSWORD},
                 {"/account/data", WEB_ACCOUNT_DATA},
                 {"/account/delete", WEB_ACCOUNT_DELETE},
                 {"/account/email", WEB_ACCOUNT_EMAIL},
                 {"/account/confirm", WEB_ACCOUNT_CONFIRM}};

int web_accounts_action(const char *path)
{
    for (size_t i = 0; path && i < sizeof S_actions / sizeof S_actions[0]; i++)
        if (!strcmp(path, S_actions[i].path))
            return S_actions[i].action;
    return WEB_ACCOUNT_NONE;
}

int web_accounts_needs_password(int action)
{
    return action == WEB_ACCOUNT_PASSWORD || action == WEB_ACCOUNT_DELETE ||
           action == WEB_ACCOUNT_EMAIL;
}

static void S_field_error(domain_result *res, const char *field, const char *msg)
{
    res->rc = DOMAIN_INVALID;
    if (res->nerrors >= DOMAIN_MAX_ERRORS)
        return;
    domain_field_error *e = &res->errors[res->nerrors++];
    snprintf(e->field, sizeof e->field, "%s", field);
    snprintf(e->message, sizeof e->message, "%s", msg);
}

int web_accounts_check_new(const forms_values *v, domain_result *res)
{
    const char *pw = forms_get(v, "password");
    size_t n = pw ? util_utf8_chars(pw, strlen(pw)) : 0;
    if (n == 0)
        S_field_error(res, "password", "is required");
    else if (n < DOMAIN_PASSWORD_MIN || n > DOMAIN_PASSWORD_MAX)
        S_field_error(res, "password", "must be 10 to 1024 characters long");
    return n >= DOMAIN_PASSWORD_MIN && n <= DOMAIN_PASSWORD_MAX ? 0 : 1;
}

int web_accounts_run(domain *d, int action, const char *token,
                     const forms_values *v, const char *password_hash,
                     const char *request_id, const char *client,
                     domain_result *res, folio_err *err)
{
    switch (action) {
    case WEB_ACCOUNT_NAME:
        return domain_account_rename(d, token, forms_get(v, "display_name"),
                                     request_id, client, res, err);
    case WEB_ACCOUNT_PASSWORD:
        return domain_account_password(d, token, password_hash, request_id,
                                       client, res, err);
    case WEB_ACCOUNT_DELETE:
        return domain_account_delete(d, token, res, err);
    case WEB_ACCOUNT_EMAIL:
        return domain_account_email_request(d, token, forms_get(v, "email"),
                                            request_id, client, res, err);
    case WEB_ACCOUNT_CONFIRM:
        return domain_account_email_confirm(d, token, res, err);
    default:
        return err_set(err, "no such account action"), DOMAIN_ERROR;
    }
}

/* {account: {name, csrf, notice: {NAME: true}}, form: {errors, has_errors}} */
static cJSON *S_page_context(const char *name, const char *session,
                             const char *notice, const domain_result *res)
{
    char csrf[ACCOUNTS_TOKEN_LEN + 1];
    accounts_csrf(session, csrf);
    cJSON *extra = cJSON_CreateObject();
    cJSON *acct = cJSON_AddObjectToObject(extra, "account");
    cJSON *form = cJSON_AddObjectToObject(extra, "form");
    cJSON *errors = cJSON_AddObjectToObject(form, "errors");
    cJSON *done = cJSON_AddObjectToObject(acct, "notice");
    int ok = acct && errors && done &&
             cJSON_AddStringToObject(acct, "name", name ? name : "") &&
             cJSON_AddStringToObject(acct, "csrf", csrf) &&
             (!notice || cJSON_AddTrueToObject(done, notice));
    for (size_t i = 0; ok && res && i < res->nerrors && i < DOMAIN_MAX_ERRORS; i++)
        if (!cJSON_GetObjectItemCaseSensitive(errors, res->errors[i].field))
            ok = cJSON_AddStringToObject(errors, res->errors[i].field,
                                         res->errors[i].message) != NULL;
    if (ok && res && res->nerrors)
        ok = cJSON_AddTrueToObject(form, "has_errors") != NULL;
    sodium_memzero(csrf, sizeof csrf);
    if (!ok) {
        cJSON_Delete(extra);
        return NULL;
    }
    return extra;
}

void web_accounts_page(web_answer *a, int status, site *s,
                       pthread_mutex_t *site_mu, const char *name,
                       const char *session, const char *notice,
                       const domain_result *res)
{
    cJSON *extra = S_page_context(name, session, notice, res);
    folio_err err = {{0}};
    int rc = extra ? web_render_url(a, s, site_mu, "/account/", extra, &err) : -1;
    cJSON_Delete(extra);
    if (rc == 0) {
        a->status = status;
        a->ctype = "text/html; charset=utf-8";
        a->headers[0] = '\0';
        return;
    }
    log_msg("error", "cannot render the account page: %s", err.msg);
    buf_reset(&a->body);
    web_html_msg(a, 500, "the account page could not be shown", NULL);
}

const char *web_accounts_notice(const char *query)
{
    char v[16];
    if (S_pair(query, "&;", "done", v, sizeof v) < 0)
        return NULL;
    static const char *const known[] = {"name", "password", "email_sent", "email"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(v, known[i]))
            return known[i];
    return NULL;
}

void web_accounts_export(web_answer *a, cJSON *doc)
{
    char *text = doc ? cJSON_Print(doc) : NULL;
    cJSON_Delete(doc);
    buf_reset(&a->body);
    if (!text || buf_add(&a->body, text, strlen(text)) != 0) {
        if (text) {
            sodium_memzero(text, strlen(text));
            free(text);
        }
        web_html_msg(a, 500, "your data could not be gathered; please try again",
                     NULL);
        return;
    }
    sodium_memzero(text, strlen(text));
    free(text);
    a->status = 200;
    a->ctype = "application/json; charset=utf-8";
    snprintf(a->headers, sizeof a->headers, "Content-Disposition: attachment;"
             " filename=\"my-data.json\"\r\n");
}
