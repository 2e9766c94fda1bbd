/* web_app — the routes visitors and the owner reach, answered alike by
 * folio-fcgi and folio serve: the forms (POST /contact, /register), the
 * mailed links (GET /verify, /account/confirm), signing in and out
 * (/login, /logout), resetting a password (/reset), the account page and
 * its actions (/account/...), and the owner's pages (/admin/...).
 *
 * A request goes through up to four steps, each a call here; between them
 * the front end does what is its own (reading the body, queueing for its
 * writer, waiting for pages to be rendered):
 *
 *   web_app_start   the route, the method, the query, the cookie and,
 *                   for a POST, Origin, rate, Content-Length and -Type:
 *                   answered, or WEB_APP_BODY (read r->body_len bytes),
 *                   or WEB_APP_WRITE
 *   web_app_body    the decoded body and every check before the store
 *                   (CSRF, throttles, passwords checked and hashed)
 *   web_app_run     the store's part, in the caller's transaction
 *   web_app_answer  the answer to what the store did
 *
 * Nothing here does I/O on the connection. */
#ifndef FOLIO_WEB_APP_H
#define FOLIO_WEB_APP_H

#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include "config.h"
#include "domain.h"
#include "forms.h"
#include "site.h"
#include "web.h"
#include "web_admin.h"

enum web_app_route {
    WEB_APP_NONE, WEB_APP_CONTACT, WEB_APP_REGISTER, WEB_APP_VERIFY, WEB_APP_LOGIN,
    WEB_APP_LOGOUT, WEB_APP_ACCOUNT, WEB_APP_RESET, WEB_APP_ACCOUNT_DO, WEB_APP_ADMIN
};

/* The route of a request path; WEB_APP_NONE for any other. */
int web_app_route(const char *path);
/* 1 when a front end hands path to web_app_start: a route, or any other
 * path under /account/ (a 404 of the member's pages, never a file). */
int web_app_owns(const char *path);

/* What a front end lends a request. */
typedef struct web_app {
    const folio_config *cfg;   /* base_url, body_limit */
    site *const *site;         /* read under site_mu */
    pthread_mutex_t *site_mu;  /* guards *site and reader; NULL: the caller holds it */
    domain *reader;            /* sign-in and account look-ups */
    sem_t *hash_sem;           /* Argon2id hashes at once; NULL: no limit */
    web_admin *admin;
    /* the forms' limit per client: 0, or the seconds to wait; NULL: none */
    int (*rate)(void *ud, const char *client);
    void *rate_ud;
} web_app;

typedef struct web_app_req {
    int route;                 /* enum web_app_route */
    int json;                  /* the client wants JSON answers */
    size_t body_len;           /* WEB_APP_BODY: how much to read */
    enum forms_body body_type;
    const char *notice;        /* GET /account/: what just changed, or NULL */
    forms_values values;       /* the decoded fields */
    char hash[128];            /* a new password's Argon2id */
    char token[64];            /* a mailed link's token */
    char session[64];          /* the session cookie's token (or a new one) */
    char user_id[80];
    char name[96];             /* the member's display name */
    char next[128];            /* login: the owner's page to go back to, or "" */
    int everywhere;            /* logout: every session of the member */
    int action;                /* enum web_accounts_action */
    domain_result res;
    web_admin_req admin;
} web_app_req;

enum { WEB_APP_ANSWERED, WEB_APP_BODY, WEB_APP_WRITE };

/* rq must carry method, path, query and cookie besides the headers. r is
 * zeroed here; web_app_req_clear frees it whatever the step reached. */
int web_app_start(const web_app *app, web_app_req *r, const web_request *rq,
                  web_answer *a);
/* The body of r->body_len bytes (NUL-terminated; the caller wipes it). */
int web_app_body(const web_app *app, web_app_req *r, const web_request *rq,
                 const char *body, web_answer *a);
/* In the caller's transaction on d: returns the command's enum domain_rc
 * (r->res gets the data names whose pages are to be rendered again). */
int web_app_run(web_app_req *r, domain *d, const web_request *rq, folio_err *err);
/* failed: the transaction did not commit (500). */
void web_app_answer(const web_app *app, web_app_req *r, int failed, web_answer *a);
void web_app_req_clear(web_app_req *r);

#endif
