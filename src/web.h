/* web — the HTTP side of the visitor forms, shared by folio-fcgi and
 * folio serve so that both answer a form exactly alike: the checks before
 * the store (origin, length, type, decoding, honeypot, field rules), the
 * command run against the domain, and every answer (303 or 201, 400 to
 * 429 refusals, 409/422 with the form page or JSON errors, 500).
 *
 * Each front end reads the request its own way and writes the web_answer
 * its own way; nothing here does I/O on the connection. */
#ifndef FOLIO_WEB_H
#define FOLIO_WEB_H

#include <pthread.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "domain.h"
#include "forms.h"
#include "site.h"
#include "util.h"

typedef struct web_answer {
    int status;
    const char *ctype;    /* a static string */
    char headers[512];    /* extra "Name: value\r\n" lines, all made by folio */
    buf body;
} web_answer;

#define WEB_ANSWER_INIT {0, "text/plain", "", BUF_INIT}

void web_answer_free(web_answer *a);
/* "Not Found" for 404 ... */
const char *web_reason(int status);

/* A request's visitor-given headers (NULL when absent) and identity. */
typedef struct web_request {
    const char *origin, *referer, *content_type, *content_length, *accept;
    const char *client;       /* the client's address */
    const char *request_id;   /* web_request_id */
    /* the request line and the cookie, for web_app.h */
    const char *method, *path, *query, *cookie;
} web_request;

/* The given X-Request-Id when it is a short token, else a random one. */
void web_request_id(char out[68], const char *given);

/* ---- answers ---- */
void web_json(web_answer *a, int status, cJSON *obj, const char *hdrs);  /* obj consumed */
/* An HTML page saying msg: the site's error page when a front end has set
 * one (web_set_error_page), else a bare one. */
void web_html_msg(web_answer *a, int status, const char *msg, const char *hdrs);
/* The front end's themed error page (templates/error.mustache), used by
 * every HTML refusal so that each looks like the rest of the site. fn
 * appends the page to out and returns 0, or -1 (the bare page is sent);
 * it may be called from any thread. Set once, before serving. */
typedef int (*web_error_page_fn)(void *ud, int status, const char *reason,
                                 const char *msg, buf *out);
void web_set_error_page(web_error_page_fn fn, void *ud);
/* A refusal not about fields: {"ok":false,"error":msg} or an HTML page. */
void web_refuse(web_answer *a, int json, int status, const char *msg, const char *hdrs);
/* The page at url rendered with the site's theme and extra (e.g. form
 * values) into a->body; site_mu, when not NULL, held around it. 0 or -1. */
int web_render_url(web_answer *a, site *s, pthread_mutex_t *site_mu,
                   const char *url, const cJSON *extra, folio_err *err);
/* 303 to to (a path of this site) with a link to it; more: further
 * header lines, or NULL. */
void web_see_other(web_answer *a, const char *to, const char *more);
/* 303 to the form's thanks page, or 201 {"ok":true,"id":...}; a sign-up:
 * 303 to /register/check/ or 202 {"ok":true}, whatever the address. */
void web_form_success(web_answer *a, int json, const forms_spec *spec, const char *id);
/* 422/409: JSON errors, or the form's page rendered with the values and
 * each error beside its field (site_mu, when not NULL, is held around the
 * render). */
void web_form_errors(web_answer *a, int json, const forms_values *v,
                     const domain_result *res, int status, site *s,
                     pthread_mutex_t *site_mu);
/* The answer to a command the store has run: failed means the commit did
 * not happen (500). */
void web_form_answer(web_answer *a, int json, const forms_values *v,
                     domain_result *res, int failed, site *s, pthread_mutex_t *site_mu);

/* ---- the checks, in the order a front end runs them ---- */
/* Origin or Referer must be base_url's origin (403). 0 or -1 (answered). */
int web_form_origin(web_answer *a, int json, const web_request *rq, const char *base_url);
/* Content-Length (400, 413 over body_limit) and Content-Type (415). */
int web_form_head(web_answer *a, int json, const web_request *rq, size_t body_limit,
                  size_t *len, enum forms_body *type);
/* Decodes the body (400). 0: go on; 1: the honeypot was filled and *a is
 * the answer a person would get (nothing to store); -1: refused. */
int web_form_decode(web_answer *a, int json, const forms_spec *spec,
                    enum forms_body type, const char *body, size_t len,
                    forms_values *v);
/* Field rules (domain_check_*): DOMAIN_OK or DOMAIN_INVALID (res->errors). */
int web_form_check(const forms_values *v, const web_request *rq, domain_result *res);
/* Runs the form's command (domain_contact / domain_register; a
 * registration's password hashed by domain_hash_password beforehand). */
int web_form_store(domain *d, const forms_values *v, const char *password_hash,
                   const web_request *rq, domain_result *res, folio_err *err);

#endif
