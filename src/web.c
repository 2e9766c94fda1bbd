/* web — the forms' HTTP side for folio-fcgi and folio serve (see web.h). */
#include "web.h"
#include "web_accounts.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "metrics.h"

void web_answer_free(web_answer *a)
{
    buf_free(&a->body);
}

const char *web_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 303: return "See Other";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

void web_request_id(char out[68], const char *given)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    size_t n = given ? strlen(given) : 0;
    if (n > 0 && n < 68 && strspn(given, ok) == n) {
        memcpy(out, given, n + 1);
        return;
    }
    unsigned char rnd[12];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(out, 68, rnd, sizeof rnd);
}

/* ---- answers ------------------------------------------------------------ */

static void S_set(web_answer *a, int status, const char *ctype, const char *hdrs)
{
    a->status = status;
    a->ctype = ctype;
    snprintf(a->headers, sizeof a->headers, "%s", hdrs ? hdrs : "");
}

static void S_oom(web_answer *a)
{
    buf_reset(&a->body);
    S_set(a, 500, "text/plain", NULL);
    if (buf_puts(&a->body, "out of memory\n") != 0)
        buf_free(&a->body);
}

void web_json(web_answer *a, int status, cJSON *obj, const char *hdrs)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    buf_reset(&a->body);
    if (!text || buf_puts(&a->body, text) != 0) {
        free(text);
        S_set(a, 500, "application/json", NULL);
        buf_reset(&a->body);
        if (buf_puts(&a->body, "{\"ok\":false,\"error\":\"out of memory\"}") != 0)
            buf_free(&a->body);
        return;
    }
    free(text);
    S_set(a, status, "application/json", hdrs);
}

static web_error_page_fn S_error_page;
static void *S_error_page_ud;

void web_set_error_page(web_error_page_fn fn, void *ud)
{
    S_error_page = fn;
    S_error_page_ud = ud;
}

void web_html_msg(web_answer *a, int status, const char *msg, const char *hdrs)
{
    buf_reset(&a->body);
    if (S_error_page &&
        S_error_page(S_error_page_ud, status, web_reason(status), msg, &a->body) == 0) {
        S_set(a, status, "text/html; charset=utf-8", hdrs);
        return;
    }
    buf_reset(&a->body);
    int rc = buf_printf(&a->body, "<!doctype html>\n<html lang=\"en\"><head><meta "
                        "charset=\"utf-8\"><title>%d %s</title></head>\n<body>"
                        "<h1>%s</h1>\n<p>", status, web_reason(status),
                        web_reason(status));
    if (rc == 0)
        rc = buf_add_html(&a->body, msg, strlen(msg));
    if (rc == 0)
        rc = buf_puts(&a->body, "</p>\n</body></html>\n");
    if (rc == 0)
        S_set(a, status, "text/html; charset=utf-8", hdrs);
    else
        S_oom(a);
}

void web_see_other(web_answer *a, const char *to, const char *more)
{
    char h[sizeof a->headers];
    snprintf(h, sizeof h, "Location: %s\r\n%s", to, more ? more : "");
    buf_reset(&a->body);
    if (buf_printf(&a->body, "<!doctype html>\n<title>See Other</title>\n"
                   "<p><a href=\"%s\">Continue</a></p>\n", to) != 0)
        buf_reset(&a->body);
    S_set(a, 303, "text/html; charset=utf-8", h);
}

void web_refuse(web_answer *a, int json, int status, const char *msg, const char *hdrs)
{
    if (!json) {
        web_html_msg(a, status, msg, hdrs);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddFalseToObject(o, "ok");
        cJSON_AddStringToObject(o, "error", msg);
    }
    web_json(a, status, o, hdrs);
}

/* {"form":{"values":{...},"errors":{...},"has_errors":true}} for the form's
 * own page (docs/templates.md). The password is never sent back. */
static cJSON *S_form_context(const forms_values *v, const domain_result *res)
{
    cJSON *extra = cJSON_CreateObject();
    cJSON *form = cJSON_AddObjectToObject(extra, "form");
    cJSON *values = cJSON_AddObjectToObject(form, "values");
    cJSON *errors = cJSON_AddObjectToObject(form, "errors");
    if (!extra || !form || !values || !errors) {
        cJSON_Delete(extra);
        return NULL;
    }
    const forms_spec *spec = v->spec;
    for (size_t i = 0; spec && spec->fields[i].name && i < FORMS_MAX_FIELDS; i++) {
        const char *name = spec->fields[i].name;
        if (!v->value[i] || !strcmp(name, "password") ||
            (spec->honeypot && !strcmp(name, spec->honeypot)))
            continue;
        cJSON_AddStringToObject(values, name, v->value[i]);
    }
    for (size_t i = 0; i < res->nerrors && i < DOMAIN_MAX_ERRORS; i++)
        if (!cJSON_GetObjectItemCaseSensitive(errors, res->errors[i].field))
            cJSON_AddStringToObject(errors, res->errors[i].field,
                                    res->errors[i].message);
    cJSON_AddTrueToObject(form, "has_errors");
    return extra;
}

int web_render_url(web_answer *a, site *s, pthread_mutex_t *site_mu,
                   const char *url, const cJSON *extra, folio_err *err)
{
    buf_reset(&a->body);
    if (!s)
        return err_set(err, "no site loaded");
    if (site_mu)
        pthread_mutex_lock(site_mu);
    int rc = site_render_url(s, url, extra, &a->body, err);
    if (site_mu)
        pthread_mutex_unlock(site_mu);
    return rc;
}

void web_form_errors(web_answer *a, int json, const forms_values *v,
                     const domain_result *res, int status, site *s,
                     pthread_mutex_t *site_mu)
{
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddFalseToObject(o, "ok");
        cJSON *errs = cJSON_AddObjectToObject(o, "errors");
        if (o && errs) {
            for (size_t i = 0; i < res->nerrors && i < DOMAIN_MAX_ERRORS; i++)
                if (!cJSON_GetObjectItemCaseSensitive(errs, res->errors[i].field))
                    cJSON_AddStringToObject(errs, res->errors[i].field,
                                            res->errors[i].message);
        }
        web_json(a, status, o, NULL);
        return;
    }
    const char *url = v->spec == &forms_contact        ? "/contact/"
                      : v->spec == &web_accounts_login ? "/login/"
                      : v->spec == &web_accounts_reset ? "/reset/"
                                                       : "/register/";
    cJSON *extra = S_form_context(v, res);
    folio_err err = {{0}};
    int rc = extra ? web_render_url(a, s, site_mu, url, extra, &err)
                   : err_set(&err, "out of memory");
    cJSON_Delete(extra);
    if (rc == 0) {
        S_set(a, status, "text/html; charset=utf-8", NULL);
        return;
    }
    buf_reset(&a->body);
    log_msg("error", "cannot render the %s form page: %s", url, err.msg);
    /* No page to show them: list the errors instead (escaped). */
    buf m = BUF_INIT;
    for (size_t i = 0; i < res->nerrors && i < DOMAIN_MAX_ERRORS; i++)
        if (buf_printf(&m, "%s%s: %s", i ? "; " : "", res->errors[i].field,
                       res->errors[i].message) != 0)
            break;
    web_html_msg(a, status, m.ptr ? m.ptr : "the form has errors", NULL);
    buf_free(&m);
}

void web_form_success(web_answer *a, int json, const forms_spec *spec, const char *id)
{
    /* a sign-up is answered the same whatever is known of the address:
     * no id, which would tell a new account from a known one */
    int signup = spec == &forms_register;
    if (json && signup) {
        cJSON *o = cJSON_CreateObject();
        if (o)
            cJSON_AddTrueToObject(o, "ok");
        web_json(a, 202, o, NULL);
        return;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddTrueToObject(o, "ok");
            cJSON_AddStringToObject(o, "id", id);
        }
        web_json(a, 201, o, NULL);
        return;
    }
    const char *to = spec == &forms_contact ? "/contact/thanks/" : "/register/check/";
    char hdr[64];
    snprintf(hdr, sizeof hdr, "Location: %s\r\n", to);
    buf_reset(&a->body);
    if (buf_printf(&a->body, "<!doctype html>\n<title>See Other</title>\n"
                   "<p><a href=\"%s\">Continue</a></p>\n", to) != 0) {
        S_oom(a);
        return;
    }
    S_set(a, 303, "text/html; charset=utf-8", hdr);
}

void web_form_answer(web_answer *a, int json, const forms_values *v,
                     domain_result *res, int failed, site *s, pthread_mutex_t *site_mu)
{
    static const char S_not_stored[] = "the submission could not be stored; please try again";
    if (failed) {
        web_refuse(a, json, 500, S_not_stored, NULL);
        return;
    }
    switch (res->rc) {
    case DOMAIN_OK:
    case DOMAIN_DUPLICATE:
        web_form_success(a, json, v->spec, res->id);
        break;
    case DOMAIN_INVALID:
        web_form_errors(a, json, v, res, 422, s, site_mu);
        break;
    case DOMAIN_ALREADY_REGISTERED:
        if (res->nerrors == 0) {
            snprintf(res->errors[0].field, sizeof res->errors[0].field, "email");
            snprintf(res->errors[0].message, sizeof res->errors[0].message,
                     "this address is already registered");
            res->nerrors = 1;
        }
        web_form_errors(a, json, v, res, 409, s, site_mu);
        break;
    default:
        web_refuse(a, json, 500, S_not_stored, NULL);
    }
}

/* ---- the checks ------------------------------------------------------------ */

int web_form_origin(web_answer *a, int json, const web_request *rq, const char *base_url)
{
    if (forms_same_origin(rq->origin, rq->referer, base_url))
        return 0;
    web_refuse(a, json, 403, "cross-site form posts are refused (Origin or Referer "
               "must be this site)", NULL);
    return -1;
}

int web_form_head(web_answer *a, int json, const web_request *rq, size_t body_limit,
                  size_t *len, enum forms_body *type)
{
    long long n = forms_content_length(rq->content_length);
    if (n < 0) {
        web_refuse(a, json, 400, "CONTENT_LENGTH is missing or malformed", NULL);
        return -1;
    }
    if ((unsigned long long)n > body_limit || n > INT_MAX) {
        char msg[96];
        snprintf(msg, sizeof msg, "the body is over the limit of %zu bytes", body_limit);
        web_refuse(a, json, 413, msg, NULL);
        return -1;
    }
    if (forms_body_type(rq->content_type, type) != 0) {
        web_refuse(a, json, 415, "send application/x-www-form-urlencoded or "
                   "application/json", NULL);
        return -1;
    }
    *len = (size_t)n;
    return 0;
}

/* A filled honeypot gets the answer a person would get; nothing is kept. */
static void S_honeypot(web_answer *a, int json, const forms_spec *spec)
{
    metrics_honeypot();
    unsigned char rnd[16];
    char hex[33], id[80];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    snprintf(id, sizeof id, "contact-%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
             hex + 12, hex + 16, hex + 20);
    web_form_success(a, json, spec, id);
}

int web_form_decode(web_answer *a, int json, const forms_spec *spec,
                    enum forms_body type, const char *body, size_t len,
                    forms_values *v)
{
    folio_err err = {{0}};
    if (forms_decode(spec, type, body, len, v, &err) != 0) {
        web_refuse(a, json, 400, err.msg, NULL);
        return -1;
    }
    if (forms_honeypot_filled(v)) {
        S_honeypot(a, json, spec);
        return 1;
    }
    return 0;
}

static void S_contact_req(const forms_values *v, const web_request *rq,
                          domain_contact_req *r)
{
    *r = (domain_contact_req){
        .name = forms_get(v, "name"), .email = forms_get(v, "email"),
        .subject = forms_get(v, "subject"), .message = forms_get(v, "message"),
        .page = forms_get(v, "page"), .request_id = rq->request_id,
        .client = rq->client};
}

static void S_register_req(const forms_values *v, const web_request *rq,
                           domain_register_req *r)
{
    *r = (domain_register_req){
        .email = forms_get(v, "email"), .display_name = forms_get(v, "display_name"),
        .password = forms_get(v, "password"), .request_id = rq->request_id,
        .client = rq->client,
        /* a sign-up from the web: pending until the mailed link is followed */
        .verify = 1};
}

int web_form_check(const forms_values *v, const web_request *rq, domain_result *res)
{
    if (v->spec == &forms_contact) {
        domain_contact_req r;
        S_contact_req(v, rq, &r);
        return domain_check_contact(&r, res);
    }
    domain_register_req r;
    S_register_req(v, rq, &r);
    return domain_check_register(&r, res);
}

int web_form_store(domain *d, const forms_values *v, const char *password_hash,
                   const web_request *rq, domain_result *res, folio_err *err)
{
    if (v->spec == &forms_contact) {
        domain_contact_req r;
        S_contact_req(v, rq, &r);
        return domain_contact(d, &r, res, err);
    }
    domain_register_req r;
    S_register_req(v, rq, &r);
    r.password = NULL;
    r.password_hash = password_hash;
    return domain_register(d, &r, res, err);
}
