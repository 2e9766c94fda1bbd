/* web_app — the routes folio-fcgi and folio serve answer alike
 * (web_app.h). */
#include "web_app.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "accounts.h"
#include "log.h"
#include "vault.h"
#include "web_accounts.h"

#define S_LOGIN_PER_ACCOUNT 5  /* failures in 15 minutes (accounts.h) */
#define S_LOGIN_PER_CLIENT 20

/* One per process, so that every front end's requests count together. */
static accounts_throttle *S_throttle;
static pthread_once_t S_throttle_once = PTHREAD_ONCE_INIT;
static void S_throttle_make(void) { S_throttle = accounts_throttle_new(); }

int web_app_route(const char *path)
{
    static const struct {
        const char *path;
        int route;
    } routes[] = {{"/contact", WEB_APP_CONTACT}, {"/register", WEB_APP_REGISTER},
                  {"/verify", WEB_APP_VERIFY},   {"/login", WEB_APP_LOGIN},
                  {"/logout", WEB_APP_LOGOUT},   {"/account/", WEB_APP_ACCOUNT},
                  {"/reset", WEB_APP_RESET}};
    if (!path)
        return WEB_APP_NONE;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strcmp(path, routes[i].path))
            return routes[i].route;
    if (web_accounts_action(path) != WEB_ACCOUNT_NONE)
        return WEB_APP_ACCOUNT_DO;
    if (web_admin_path(path))
        return WEB_APP_ADMIN;
    return WEB_APP_NONE;
}

int web_app_owns(const char *path)
{
    return web_app_route(path) != WEB_APP_NONE ||
           (path && !strncmp(path, "/account/", 9));
}

/* ---- small helpers ------------------------------------------------------- */

static void S_lock(const web_app *app)
{
    if (app->site_mu)
        pthread_mutex_lock(app->site_mu);
}

static void S_unlock(const web_app *app)
{
    if (app->site_mu)
        pthread_mutex_unlock(app->site_mu);
}

static site *S_site(const web_app *app)
{
    return app->site ? *app->site : NULL;
}

/* Argon2id takes 64 MiB and a core per hash: the front end says how many
 * may run at once. */
static void S_hash_begin(const web_app *app)
{
    if (app->hash_sem)
        while (sem_wait(app->hash_sem) != 0 && errno == EINTR)
            ;
}

static void S_hash_end(const web_app *app)
{
    if (app->hash_sem)
        sem_post(app->hash_sem);
}

/* Always WEB_APP_ANSWERED, so that a step can return it. */
static int S_refuse(web_answer *a, const web_app_req *r, int status, const char *msg,
                    const char *hdrs)
{
    web_refuse(a, r->json, status, msg, hdrs);
    return WEB_APP_ANSWERED;
}

/* A new password's hash into r->hash: WEB_APP_WRITE, or answered 500
 * with msg. */
static int S_hash(const web_app *app, web_app_req *r, const char *password,
                  const char *msg, web_answer *a)
{
    folio_err err = {{0}};
    S_hash_begin(app);
    int rc = domain_hash_password(password, r->hash, &err);
    S_hash_end(app);
    if (rc == 0)
        return WEB_APP_WRITE;
    log_msg("error", "password hashing failed: %s", err.msg);
    return S_refuse(a, r, 500, msg, NULL);
}

static int S_retry_after(web_answer *a, const web_app_req *r, int status,
                         const char *msg, int seconds)
{
    char hdr[48];
    snprintf(hdr, sizeof hdr, "Retry-After: %d\r\n", seconds);
    return S_refuse(a, r, status, msg, hdr);
}

static void S_form_errors(const web_app *app, web_app_req *r, int status, web_answer *a)
{
    web_form_errors(a, r->json, &r->values, &r->res, status, S_site(app), app->site_mu);
}

static void S_field_error(domain_result *res, const char *field, const char *msg)
{
    snprintf(res->errors[0].field, sizeof res->errors[0].field, "%s", field);
    snprintf(res->errors[0].message, sizeof res->errors[0].message, "%s", msg);
    res->nerrors = 1;
}

/* ---- before the body ------------------------------------------------------ */

/* A mailed link's token (GET /verify, /account/confirm) to the store, or
 * 400 when the query has none of the right shape. */
static int S_link_token(web_app_req *r, const web_request *rq, web_answer *a)
{
    if (web_accounts_query_token(rq->query, r->token, sizeof r->token) < 0)
        return S_refuse(a, r, 400, "this link is not valid: it has no token", NULL);
    return WEB_APP_WRITE;
}

/* GET /reset?token=: the page that asks for the new password, the token
 * in its form (checked when the form comes back); without a token, the
 * page that asks for the address. */
static int S_reset_page(const web_app *app, web_app_req *r, const web_request *rq,
                        web_answer *a)
{
    if (web_accounts_query_token(rq->query, r->token, sizeof r->token) < 0) {
        web_see_other(a, "/reset/", NULL);
        return WEB_APP_ANSWERED;
    }
    cJSON *extra = cJSON_CreateObject();
    cJSON *t = cJSON_AddObjectToObject(extra, "reset");
    folio_err err = {{0}};
    int rc = -1;
    if (t && cJSON_AddStringToObject(t, "token", r->token))
        rc = web_render_url(a, S_site(app), app->site_mu, "/reset/new/", extra, &err);
    cJSON_Delete(extra);
    if (rc != 0)
        return S_refuse(a, r, 500, "the page could not be shown", NULL);
    a->status = 200;
    a->ctype = "text/html; charset=utf-8";
    a->headers[0] = '\0';
    return WEB_APP_ANSWERED;
}

/* GET /account/confirm?token=: the link mailed to a member's new address;
 * the token is the proof, so no session is needed. Other actions are
 * POSTs. */
static int S_account_link(web_app_req *r, const web_request *rq, web_answer *a)
{
    r->action = web_accounts_action(rq->path);
    if (r->action != WEB_ACCOUNT_CONFIRM)
        return S_refuse(a, r, 405, "use POST", "Allow: POST\r\n");
    return S_link_token(r, rq, a);
}

/* A form's POST: Origin, the rate per client, Content-Length and -Type. */
static int S_post_head(const web_app *app, web_app_req *r, const web_request *rq,
                       web_answer *a)
{
    if (!rq->method || strcmp(rq->method, "POST") != 0)
        return S_refuse(a, r, 405, "use POST", "Allow: POST\r\n");
    if (web_form_origin(a, r->json, rq, app->cfg->base_url) != 0)
        return WEB_APP_ANSWERED;
    int wait = app->rate ? app->rate(app->rate_ud, rq->client ? rq->client : "") : 0;
    if (wait > 0)
        return S_retry_after(a, r, 429, "too many submissions from your address; try "
                             "again later", wait);
    if (web_form_head(a, r->json, rq, app->cfg->body_limit, &r->body_len,
                      &r->body_type) != 0)
        return WEB_APP_ANSWERED;
    return WEB_APP_BODY;
}

/* The owner's pages: the page asked for; a POST's Origin, length and type.
 * The store checks the session and the role. */
static int S_admin_start(const web_app *app, web_app_req *r, const web_request *rq,
                         web_answer *a)
{
    r->json = 0;
    if (!web_admin_start(&r->admin, rq->method ? rq->method : "", rq->path, rq->query,
                         rq->cookie, app->cfg->base_url, a))
        return WEB_APP_ANSWERED;
    if (!r->admin.post)
        return WEB_APP_WRITE;
    if (web_form_origin(a, 0, rq, app->cfg->base_url) != 0 ||
        web_form_head(a, 0, rq, app->cfg->body_limit, &r->body_len, &r->body_type) != 0)
        return WEB_APP_ANSWERED;
    return WEB_APP_BODY;
}

int web_app_start(const web_app *app, web_app_req *r, const web_request *rq,
                  web_answer *a)
{
    memset(r, 0, sizeof *r);
    r->route = web_app_route(rq->path);
    r->json = forms_wants_json(rq->accept);
    const char *m = rq->method ? rq->method : "";
    int get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    switch (r->route) {
    case WEB_APP_ACCOUNT:
        if (!get)
            return S_refuse(a, r, 405, "use GET", "Allow: GET, HEAD\r\n");
        if (web_accounts_cookie(rq->cookie, app->cfg->base_url, r->session,
                                sizeof r->session) < 0) {
            web_see_other(a, "/login/", NULL);
            return WEB_APP_ANSWERED;
        }
        r->notice = web_accounts_notice(rq->query);
        return WEB_APP_WRITE;
    case WEB_APP_RESET:
        return get ? S_reset_page(app, r, rq, a) : S_post_head(app, r, rq, a);
    case WEB_APP_ACCOUNT_DO:
        return get ? S_account_link(r, rq, a) : S_post_head(app, r, rq, a);
    case WEB_APP_LOGIN:
        if (web_accounts_next(rq->cookie, r->next, sizeof r->next) != 0)
            r->next[0] = '\0';
        return S_post_head(app, r, rq, a);
    case WEB_APP_CONTACT:
    case WEB_APP_REGISTER:
    case WEB_APP_LOGOUT:
        return S_post_head(app, r, rq, a);
    case WEB_APP_VERIFY:
        if (!get)
            return S_refuse(a, r, 405, "use GET", "Allow: GET, HEAD\r\n");
        return S_link_token(r, rq, a);
    case WEB_APP_ADMIN:
        return S_admin_start(app, r, rq, a);
    default:
        return S_refuse(a, r, 404, "there is nothing here", NULL);
    }
}

/* ---- the body: every check before the store -------------------------------- */

/* Field rules, then (register) the slow password hash. */
static int S_submit(const web_app *app, web_app_req *r, const web_request *rq,
                    web_answer *a)
{
    if (web_form_check(&r->values, rq, &r->res) == DOMAIN_INVALID) {
        S_form_errors(app, r, 422, a);
        return WEB_APP_ANSWERED;
    }
    if (r->values.spec == &forms_register &&
        S_hash(app, r, forms_get(&r->values, "password"), "the submission could not be "
               "stored; please try again", a) != WEB_APP_WRITE)
        return WEB_APP_ANSWERED;
    memset(&r->res, 0, sizeof r->res);
    return WEB_APP_WRITE;
}

/* POST /login: throttled per account and per client (a window that ends,
 * never a lockout), the password checked outside any lock — against a
 * dummy hash for an unknown address, so both answers take as long and
 * read the same; the store then starts the session. */
static int S_login(const web_app *app, web_app_req *r, const web_request *rq,
                   web_answer *a)
{
    pthread_once(&S_throttle_once, S_throttle_make);
    const char *email = forms_get(&r->values, "email");
    char norm[300] = "", akey[320], ckey[64];
    if (email && vault_normalise_email(email, norm, sizeof norm) < 0)
        norm[0] = '\0';
    snprintf(akey, sizeof akey, "a:%s", norm);
    snprintf(ckey, sizeof ckey, "c:%s", rq->client ? rq->client : "");
    sodium_memzero(norm, sizeof norm);
    long long now = util_now_ms();
    int wa = S_throttle ? accounts_throttle_wait(S_throttle, akey, S_LOGIN_PER_ACCOUNT, now) : 0;
    int wc = S_throttle ? accounts_throttle_wait(S_throttle, ckey, S_LOGIN_PER_CLIENT, now) : 0;
    if (wa || wc) {
        sodium_memzero(akey, sizeof akey);
        return S_retry_after(a, r, 429, "too many attempts to sign in; try again later",
                             wa > wc ? wa : wc);
    }
    char hash[128] = "";
    folio_err err = {{0}};
    S_lock(app);
    int f = domain_login_lookup(app->reader, email, r->user_id, hash, &err);
    S_unlock(app);
    if (f < 0)
        log_msg("error", "signing in: %s", err.msg);
    S_hash_begin(app);
    int ok = web_accounts_password_ok(f == 1 ? hash : NULL,
                                      forms_get(&r->values, "password"));
    S_hash_end(app);
    sodium_memzero(hash, sizeof hash);
    memset(&r->res, 0, sizeof r->res);
    if (!ok) {
        if (S_throttle) {
            accounts_throttle_fail(S_throttle, akey, now);
            accounts_throttle_fail(S_throttle, ckey, now);
        }
        sodium_memzero(akey, sizeof akey);
        S_field_error(&r->res, "email", "the address or the password is not right");
        S_form_errors(app, r, 401, a);
        return WEB_APP_ANSWERED;
    }
    sodium_memzero(akey, sizeof akey);
    return WEB_APP_WRITE;
}

/* POST /reset: an address (a link is mailed, the same answer for any
 * address), or a token from that link with the new password, hashed here
 * before the store. */
static int S_reset(const web_app *app, web_app_req *r, web_answer *a)
{
    const char *token = forms_get(&r->values, "token");
    const char *pw = forms_get(&r->values, "password");
    memset(&r->res, 0, sizeof r->res);
    if (!token || !*token)
        return WEB_APP_WRITE;
    if (strlen(token) >= sizeof r->token)
        return S_refuse(a, r, 400, "this link is not valid", NULL);
    snprintf(r->token, sizeof r->token, "%s", token);
    /* the rule of every other password: characters, not bytes */
    size_t n = pw ? util_utf8_chars(pw, strlen(pw)) : 0;
    if (n < DOMAIN_PASSWORD_MIN || n > DOMAIN_PASSWORD_MAX)
        return S_refuse(a, r, 422, "password: must be 10 to 1024 characters long", NULL);
    return S_hash(app, r, pw, "the password could not be stored; please try again", a);
}

/* The session cookie and the form's CSRF token that belongs to it: 1, or
 * 0 answered 403 (without a session there is no right token either). */
static int S_session_csrf(const web_app *app, web_app_req *r, const web_request *rq,
                          web_answer *a)
{
    if (web_accounts_cookie(rq->cookie, app->cfg->base_url, r->session,
                            sizeof r->session) < 0 ||
        !accounts_csrf_check(r->session, forms_get(&r->values, "csrf"))) {
        S_refuse(a, r, 403, "this form is missing its security token or it is "
                 "stale: reload the page and try again", NULL);
        return 0;
    }
    return 1;
}

/* POST /logout: the session's CSRF token, besides the Origin check. */
static int S_logout(const web_app *app, web_app_req *r, const web_request *rq,
                    web_answer *a)
{
    if (!S_session_csrf(app, r, rq, a))
        return WEB_APP_ANSWERED;
    r->everywhere = forms_get(&r->values, "everywhere") != NULL;
    return WEB_APP_WRITE;
}

/* The account page with r's field errors. */
static int S_account_refuse(const web_app *app, web_app_req *r, int status, web_answer *a)
{
    web_accounts_page(a, status, S_site(app), app->site_mu, r->name, r->session, NULL,
                      &r->res);
    return WEB_APP_ANSWERED;
}

/* The current password of an account action, against hash (wiped here):
 * 1 right; 0 answered (422 wrong, 429 too many tries). */
static int S_account_password(const web_app *app, web_app_req *r, char hash[128],
                              web_answer *a)
{
    pthread_once(&S_throttle_once, S_throttle_make);
    char key[96];
    snprintf(key, sizeof key, "u:%s", r->user_id);
    long long now = util_now_ms();
    int wait = S_throttle ? accounts_throttle_wait(S_throttle, key, S_LOGIN_PER_ACCOUNT,
                                                   now) : 0;
    int ok = 0;
    if (!wait) {
        S_hash_begin(app);
        ok = hash[0] && web_accounts_password_ok(
                            hash, forms_get(&r->values, "current_password"));
        S_hash_end(app);
    }
    sodium_memzero(hash, 128);
    if (wait) {
        S_retry_after(a, r, 429, "too many wrong passwords; try again later", wait);
        return 0;
    }
    if (!ok) {
        if (S_throttle)
            accounts_throttle_fail(S_throttle, key, now);
        S_field_error(&r->res, "current_password", "is not your password");
        r->res.rc = DOMAIN_INVALID;
        S_account_refuse(app, r, 422, a);
        return 0;
    }
    return 1;
}

/* The member an action is for, and the download, which is answered here:
 * 1 to go on (hash: their password's, when the action needs it), 0
 * answered. */
static int S_account_peek(const web_app *app, web_app_req *r, const web_request *rq,
                          char hash[128], web_answer *a)
{
    folio_err err = {{0}};
    int need = web_accounts_needs_password(r->action);
    cJSON *doc = NULL;
    S_lock(app);
    int f = domain_account_peek(app->reader, r->session, r->user_id, need ? hash : NULL,
                                r->name, sizeof r->name, &err);
    if (f == 1 && r->action == WEB_ACCOUNT_DATA)
        f = domain_account_export(app->reader, r->session, &doc, &err);
    S_unlock(app);
    if (f < 0) {
        log_msg("error", "request %s: %s", rq->request_id ? rq->request_id : "-", err.msg);
        S_refuse(a, r, 500, "your account could not be read; please try again", NULL);
        return 0;
    }
    if (f == 0) {
        web_see_other(a, "/login/", NULL);
        return 0;
    }
    if (r->action == WEB_ACCOUNT_DATA) {
        web_accounts_export(a, doc);
        return 0;
    }
    return 1;
}

/* POST /account/...: the CSRF token (403), a live session (else to
 * /login/), the current password where one is asked for (throttled like
 * signing in), the new one's rule and hash. */
static int S_account_do(const web_app *app, web_app_req *r, const web_request *rq,
                        web_answer *a)
{
    r->action = web_accounts_action(rq->path);
    if (r->action == WEB_ACCOUNT_CONFIRM)
        return S_refuse(a, r, 405, "use GET: open the link from the mail",
                        "Allow: GET, HEAD\r\n");
    if (!S_session_csrf(app, r, rq, a))
        return WEB_APP_ANSWERED;
    char hash[128] = "";
    int go = S_account_peek(app, r, rq, hash, a);
    if (!go) {
        sodium_memzero(hash, sizeof hash);
        return WEB_APP_ANSWERED;
    }
    memset(&r->res, 0, sizeof r->res);
    if (web_accounts_needs_password(r->action) && S_account_password(app, r, hash, a) != 1)
        return WEB_APP_ANSWERED;
    if (r->action == WEB_ACCOUNT_PASSWORD) {
        if (web_accounts_check_new(&r->values, &r->res))
            return S_account_refuse(app, r, 422, a);
        return S_hash(app, r, forms_get(&r->values, "password"), "the new password could "
                      "not be stored; please try again", a);
    }
    return WEB_APP_WRITE;
}

int web_app_body(const web_app *app, web_app_req *r, const web_request *rq,
                 const char *body, web_answer *a)
{
    if (r->route == WEB_APP_ADMIN)
        return web_admin_form(&r->admin, r->body_type, body, r->body_len, a)
                   ? WEB_APP_WRITE : WEB_APP_ANSWERED;
    const forms_spec *spec = r->route == WEB_APP_CONTACT      ? &forms_contact
                             : r->route == WEB_APP_LOGIN      ? &web_accounts_login
                             : r->route == WEB_APP_LOGOUT     ? &web_accounts_logout
                             : r->route == WEB_APP_RESET      ? &web_accounts_reset
                             : r->route == WEB_APP_ACCOUNT_DO ? &web_accounts_account
                                                              : &forms_register;
    if (web_form_decode(a, r->json, spec, r->body_type, body, r->body_len, &r->values) != 0)
        return WEB_APP_ANSWERED;
    switch (r->route) {
    case WEB_APP_LOGIN:
        return S_login(app, r, rq, a);
    case WEB_APP_LOGOUT:
        return S_logout(app, r, rq, a);
    case WEB_APP_RESET:
        return S_reset(app, r, a);
    case WEB_APP_ACCOUNT_DO:
        return S_account_do(app, r, rq, a);
    default:
        return S_submit(app, r, rq, a);
    }
}

/* ---- the store's part ---------------------------------------------------------- */

/* Signing in and out, the account page's session, a reset. */
static int S_run_account(web_app_req *r, domain *d, const web_request *rq, folio_err *err)
{
    int rc;
    if (r->route == WEB_APP_RESET)
        return r->token[0]
                   ? domain_reset_password(d, r->token, r->hash, &r->res, err)
                   : domain_reset_request(d, forms_get(&r->values, "email"),
                                          rq->request_id, rq->client, &r->res, err);
    if (r->route == WEB_APP_LOGIN)
        rc = domain_session_start(d, r->user_id, r->session, err);
    else if (r->route == WEB_APP_LOGOUT)
        rc = domain_session_end(d, r->session, r->everywhere, err);
    else
        rc = domain_session_get(d, r->session, r->user_id, r->name, sizeof r->name, err);
    return rc < 0 ? DOMAIN_ERROR
                  : rc == 0 && r->route == WEB_APP_ACCOUNT ? DOMAIN_NOT_FOUND : DOMAIN_OK;
}

int web_app_run(web_app_req *r, domain *d, const web_request *rq, folio_err *err)
{
    int rc;
    switch (r->route) {
    case WEB_APP_VERIFY:
        rc = domain_verify(d, r->token, &r->res, err);
        break;
    case WEB_APP_ADMIN:
        rc = web_admin_run(&r->admin, d, &r->res, err);
        break;
    case WEB_APP_LOGIN:
    case WEB_APP_LOGOUT:
    case WEB_APP_ACCOUNT:
    case WEB_APP_RESET:
        rc = S_run_account(r, d, rq, err);
        break;
    case WEB_APP_ACCOUNT_DO:
        rc = web_accounts_run(d, r->action,
                              r->action == WEB_ACCOUNT_CONFIRM ? r->token : r->session,
                              &r->values, r->hash, rq->request_id, rq->client, &r->res,
                              err);
        break;
    default:
        rc = web_form_store(d, &r->values, r->hash, rq, &r->res, err);
        break;
    }
    r->res.rc = rc;
    return rc;
}

/* ---- the answers ----------------------------------------------------------------- */

/* An account action the store has run. */
static void S_account_done(const web_app *app, web_app_req *r, web_answer *a)
{
    if (r->action == WEB_ACCOUNT_CONFIRM) {
        if (r->res.rc == DOMAIN_OK)
            web_see_other(a, "/account/?done=email", NULL);
        else
            S_refuse(a, r, 400, "this link is not valid: it has expired, was used "
                     "already, or the address is taken; ask for a new one on "
                     "your account page", NULL);
        return;
    }
    if (r->res.rc == DOMAIN_NOT_FOUND) { /* the session ended meanwhile */
        web_see_other(a, "/login/", NULL);
        return;
    }
    if (r->res.rc == DOMAIN_INVALID) {
        S_account_refuse(app, r, 422, a);
        return;
    }
    char cookie[256];
    if (r->action == WEB_ACCOUNT_DELETE) {
        if (web_accounts_set_cookie(cookie, sizeof cookie, app->cfg->base_url, NULL) < 0)
            cookie[0] = '\0';
        web_see_other(a, "/goodbye/", cookie);
        return;
    }
    web_see_other(a, r->action == WEB_ACCOUNT_NAME    ? "/account/?done=name"
                     : r->action == WEB_ACCOUNT_EMAIL ? "/account/?done=email_sent"
                                                      : "/account/?done=password",
                  NULL);
}

/* Signing in and out, the account page, a reset, an account action. */
static void S_answer_account(const web_app *app, web_app_req *r, web_answer *a)
{
    const char *base = app->cfg->base_url;
    char cookie[256];
    if (r->route == WEB_APP_RESET) {
        if (r->res.rc == DOMAIN_INVALID)
            S_form_errors(app, r, 422, a);
        else if (r->res.rc == DOMAIN_NOT_FOUND)
            S_refuse(a, r, 400, "this link is not valid: it has expired or was "
                     "used already; ask for a new one at /reset/", NULL);
        else
            web_see_other(a, r->token[0] ? "/login/" : "/reset/sent/", NULL);
        return;
    }
    if (r->route == WEB_APP_ACCOUNT_DO) {
        S_account_done(app, r, a);
        return;
    }
    if (r->route == WEB_APP_LOGIN) {
        char both[512], clear[160];
        if (web_accounts_set_cookie(cookie, sizeof cookie, base, r->session) < 0)
            cookie[0] = '\0';
        /* back to the owner's page that sent them here (its own check of
         * the role follows), the remembered page forgotten */
        if (!r->next[0] || web_accounts_set_next(clear, sizeof clear, base, NULL) != 0)
            clear[0] = '\0';
        snprintf(both, sizeof both, "%s%s", cookie, clear);
        web_see_other(a, r->next[0] ? r->next : "/account/", both);
        return;
    }
    if (web_accounts_set_cookie(cookie, sizeof cookie, base, NULL) < 0)
        cookie[0] = '\0';
    if (r->route == WEB_APP_LOGOUT || r->res.rc == DOMAIN_NOT_FOUND) {
        web_see_other(a, r->route == WEB_APP_LOGOUT ? "/" : "/login/", cookie);
        return;
    }
    web_accounts_page(a, 200, S_site(app), app->site_mu, r->name, r->session, r->notice,
                      NULL);
}

void web_app_answer(const web_app *app, web_app_req *r, int failed, web_answer *a)
{
    if (r->route == WEB_APP_ADMIN) {
        if (failed)
            r->admin.rc = DOMAIN_ERROR;
        web_admin_answer(app->admin, &r->admin, app->site, app->site_mu, a);
        return;
    }
    if (!failed && (r->route == WEB_APP_LOGIN || r->route == WEB_APP_LOGOUT ||
                    r->route == WEB_APP_ACCOUNT || r->route == WEB_APP_RESET ||
                    r->route == WEB_APP_ACCOUNT_DO)) {
        S_answer_account(app, r, a);
        return;
    }
    if (!failed && r->route == WEB_APP_VERIFY) {
        web_accounts_verified(a, r->json, r->res.rc);
        return;
    }
    web_form_answer(a, r->json, &r->values, &r->res, failed, S_site(app), app->site_mu);
}

void web_app_req_clear(web_app_req *r)
{
    if (r->values.spec)
        forms_values_free(&r->values);
    sodium_memzero(r, sizeof *r);
}
