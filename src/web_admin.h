/* web_admin — the owner's pages at /admin/ (web_app.h runs them for
 * folio-fcgi and folio serve): the home with its counts, the inbox (one
 * request a page, mark handled, archived or spam), the members (search,
 * hide from /community/, erase), health (projections, consumers, dead
 * letters with retry, database, backup) and the event log with personal
 * fields opened.
 *
 * Owners only: no session is a 303 to /login/, a member's session a 403.
 * Pages are rendered with the site's theme (templates/admin/, one template a page),
 * sent Cache-Control: private, no-store, and need no JavaScript. Every
 * POST carries the session's CSRF token (403 without or with a wrong one)
 * besides the Origin check the front end makes, and every change is an
 * event through the domain (dead-letter retries: a consumer_actions row,
 * as `folio deadletters retry`).
 *
 * A request crosses three threads of folio-fcgi, as a web_admin_req (under
 * folio serve, one thread takes it through the same three steps):
 *   worker     web_admin_start, then for a POST web_admin_form (after the
 *              front end's Origin, length and type checks);
 *   writer     web_admin_run, inside the group's transaction: the session
 *              (its idle clock restarted), the role, the change;
 *   responder  web_admin_answer: the page, or the 303 after a change.
 * The pages read through the module's own store connection. */
#ifndef FOLIO_WEB_ADMIN_H
#define FOLIO_WEB_ADMIN_H

#include <pthread.h>
#include <stddef.h>
#include "config.h"
#include "domain.h"
#include "forms.h"
#include "site.h"
#include "web.h"

typedef struct web_admin web_admin;

enum web_admin_role { WEB_ADMIN_NONE = 0, WEB_ADMIN_MEMBER, WEB_ADMIN_OWNER };

typedef struct web_admin_req {
    int page;            /* which page (private to web_admin.c) */
    char id[72];         /* the request or member of the page */
    char query[512];     /* GET: the query string as sent */
    char session[64];    /* the session cookie's token */
    char to_login[256];  /* the headers of a 303 to /login/ that comes back here */
    int post;
    char action[16];     /* POST: mark, hide, unhide, erase, retry */
    char value[16];      /* mark: the status */
    long long letter;    /* retry: the dead letter */
    /* the writer's verdict */
    int role;
    int rc;              /* the change's enum domain_rc */
} web_admin_req;

/* Opens the module's own store connection and consumers handle. cfg must
 * outlive it. */
int web_admin_open(const folio_config *cfg, web_admin **out, folio_err *err);
void web_admin_close(web_admin *a);

/* 1 when path is one of the owner's ("/admin/..."). */
int web_admin_path(const char *path);

/* Worker. Returns 1 when r goes on (POST: read the body, then
 * web_admin_form; GET: to the writer), 0 when *ans is the answer. */
int web_admin_start(web_admin_req *r, const char *method, const char *path,
                    const char *query, const char *cookie, const char *base_url,
                    web_answer *ans);
/* Worker, POST: the body's fields and the CSRF token. 1: to the writer. */
int web_admin_form(web_admin_req *r, enum forms_body type, const char *body, size_t len,
                   web_answer *ans);

/* Writer (d in the group's transaction): sets r->role and r->rc, making
 * the change for an owner; res gets the pages to render again. */
int web_admin_run(web_admin_req *r, domain *d, domain_result *res, folio_err *err);

/* Responder: the answer to r (*s, which a reload swaps, read under
 * site_mu). */
void web_admin_answer(web_admin *a, web_admin_req *r, site *const *s,
                      pthread_mutex_t *site_mu, web_answer *ans);

/* For bench/: renders the owner's page at path?query into out, as an
 * owner would see it. 0 or -1. */
int web_admin_render(web_admin *a, site *s, const char *path, const char *query, buf *out,
                     folio_err *err);

#endif
