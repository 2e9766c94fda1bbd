/* web_admin — the owner's pages (see web_admin.h). */
#include "web_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "accounts.h"
#include "consumers.h"
#include "log.h"
#include "projections.h"
#include "store.h"
#include "web_accounts.h"

#define S_INBOX_PAGE 25
#define S_MEMBERS_PAGE 50
#define S_EVENTS_PAGE 20
#define S_PRIVATE "Cache-Control: private, no-store\r\n"

struct web_admin {
    const folio_config *cfg;
    pthread_mutex_t mu;  /* d and c: one page at a time */
    domain *d;
    consumers *c;
};

enum S_page { P_NONE, P_HOME, P_INBOX, P_REQUEST, P_MEMBERS, P_MEMBER, P_ERASE, P_HEALTH,
              P_EVENTS };

/* ---- the request: path, query, form ------------------------------------- */

static const forms_field S_query_fields[] = {
    {"status", 16, 0}, {"before", 20, 0}, {"q", 254, 0}, {"show", 16, 0},
    {"stream", 128, 0}, {"type", 64, 0}, {"done", 16, 0}, {NULL, 0, 0}};
static const forms_spec S_query = {"admin query", S_query_fields, NULL};

static const forms_field S_post_fields[] = {
    {"csrf", 64, 0}, {"action", 16, 0}, {"status", 16, 0}, {"letter", 20, 0},
    {"confirm", 8, 0}, {NULL, 0, 0}};
static const forms_spec S_post = {"admin", S_post_fields, NULL};

static const char *const S_statuses[] = {"new", "handled", "archived", "spam", NULL};

static int S_one_of(const char *v, const char *const *list)
{
    for (; v && *list; list++)
        if (!strcmp(v, *list))
            return 1;
    return 0;
}

/* An id of ours in a path: letters, digits and '-', 1 to 64 of them. */
static int S_id(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-'))
            return 0;
    return 1;
}

/* "/admin/inbox/ID/" and the like: the page, and its id in r->id. */
static int S_parse_path(web_admin_req *r, const char *path)
{
    static const struct { const char *name; int list, one, sub; } S_tab[] = {
        {"inbox", P_INBOX, P_REQUEST, P_NONE},
        {"members", P_MEMBERS, P_MEMBER, P_ERASE},
        {"health", P_HEALTH, P_NONE, P_NONE},
        {"events", P_EVENTS, P_NONE, P_NONE}};
    if (strncmp(path, "/admin/", 7) != 0)
        return P_NONE;
    const char *p = path + 7;
    if (!*p)
        return P_HOME;
    for (size_t i = 0; i < sizeof S_tab / sizeof S_tab[0]; i++) {
        size_t n = strlen(S_tab[i].name);
        if (strncmp(p, S_tab[i].name, n) != 0 || (p[n] && p[n] != '/'))
            continue;
        const char *rest = p[n] ? p + n + 1 : p + n;
        if (!*rest)
            return S_tab[i].list;
        size_t idn = strcspn(rest, "/");
        if (!S_tab[i].one || !S_id(rest, idn))
            return P_NONE;
        memcpy(r->id, rest, idn);
        r->id[idn] = '\0';
        rest += idn;
        if (!*rest || !strcmp(rest, "/"))
            return S_tab[i].one;
        if (S_tab[i].sub && (!strcmp(rest, "/erase/") || !strcmp(rest, "/erase")))
            return S_tab[i].sub;
        return P_NONE;
    }
    return P_NONE;
}

int web_admin_path(const char *path)
{
    return path && (!strcmp(path, "/admin") || !strncmp(path, "/admin/", 7));
}

static void S_answer(web_answer *a, int status, const char *ctype, const char *hdrs)
{
    a->status = status;
    a->ctype = ctype;
    snprintf(a->headers, sizeof a->headers, "%s", hdrs ? hdrs : "");
}

static void S_see_other(web_answer *a, const char *to)
{
    web_see_other(a, to, S_PRIVATE);
}

/* To /login/, remembering this page for after the sign-in (a GET's page:
 * a form posted signed out is not sent again). */
static void S_to_login(web_answer *a, const web_admin_req *r)
{
    web_see_other(a, "/login/", r->to_login[0] ? r->to_login : S_PRIVATE);
}

static void S_refuse(web_answer *a, int status, const char *msg)
{
    web_html_msg(a, status, msg, S_PRIVATE);
}

int web_admin_start(web_admin_req *r, const char *method, const char *path,
                    const char *query, const char *cookie, const char *base_url,
                    web_answer *ans)
{
    memset(r, 0, sizeof *r);
    if (path && !strcmp(path, "/admin")) {
        S_see_other(ans, "/admin/");
        return 0;
    }
    r->page = path ? S_parse_path(r, path) : P_NONE;
    if (r->page == P_NONE) {
        S_refuse(ans, 404, "there is no such page among the owner's pages");
        return 0;
    }
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    r->post = !strcmp(method, "POST");
    int acts = r->page == P_REQUEST || r->page == P_MEMBER || r->page == P_ERASE ||
               r->page == P_HEALTH;
    if (!get && !(r->post && acts)) {
        S_refuse(ans, 405, acts ? "use GET or POST" : "use GET");
        snprintf(ans->headers, sizeof ans->headers, "Allow: %s\r\n" S_PRIVATE,
                 acts ? "GET, HEAD, POST" : "GET, HEAD");
        return 0;
    }
    /* for a 303 to /login/, here or once the store has read the session
     * (web_accounts_set_next refuses a path too long for next) */
    char next[160];
    if (web_accounts_set_next(next, sizeof next, base_url, path) == 0)
        snprintf(r->to_login, sizeof r->to_login, S_PRIVATE "%s", next);
    if (web_accounts_cookie(cookie, base_url, r->session, sizeof r->session) < 0) {
        S_to_login(ans, r);
        return 0;
    }
    if (get) {
        size_t n = query ? strlen(query) : 0;
        if (n >= sizeof r->query) {
            S_refuse(ans, 414, "the address is too long");
            return 0;
        }
        memcpy(r->query, query ? query : "", n + 1);
    }
    return 1;
}

int web_admin_form(web_admin_req *r, enum forms_body type, const char *body, size_t len,
                   web_answer *ans)
{
    forms_values v;
    folio_err err = {{0}};
    if (forms_decode(&S_post, type, body, len, &v, &err) != 0) {
        forms_values_free(&v);
        S_refuse(ans, 400, err.msg);
        return 0;
    }
    int ok = 1;
    const char *action = forms_get(&v, "action"), *status = forms_get(&v, "status");
    const char *letter = forms_get(&v, "letter"), *confirm = forms_get(&v, "confirm");
    if (!accounts_csrf_check(r->session, forms_get(&v, "csrf"))) {
        S_refuse(ans, 403, "this form is missing its security token or it is stale: "
                 "reload the page and try again");
        ok = 0;
    } else if (r->page == P_REQUEST) {
        if (!action || strcmp(action, "mark") || !S_one_of(status, S_statuses)) {
            S_refuse(ans, 422, "status: must be new, handled, archived or spam");
            ok = 0;
        }
    } else if (r->page == P_HEALTH) {
        char *end = NULL;
        long long id = letter ? strtoll(letter, &end, 10) : 0;
        if (!action || strcmp(action, "retry") || !letter || !*letter || *end || id <= 0) {
            S_refuse(ans, 422, "letter: must be the number of a dead letter");
            ok = 0;
        }
        r->letter = id;
    } else if (!action || (strcmp(action, "hide") && strcmp(action, "unhide") &&
                           strcmp(action, "erase"))) {
        S_refuse(ans, 422, "action: must be hide, unhide or erase");
        ok = 0;
    } else if (!strcmp(action, "erase") && !(confirm && !strcmp(confirm, "yes"))) {
        /* not confirmed: the page that asks */
        char to[128];
        snprintf(to, sizeof to, "/admin/members/%s/erase/", r->id);
        S_see_other(ans, to);
        ok = 0;
    }
    if (ok) {
        snprintf(r->action, sizeof r->action, "%s", action);
        snprintf(r->value, sizeof r->value, "%s", status ? status : "");
    }
    forms_values_free(&v);
    return ok;
}

/* ---- the writer's part --------------------------------------------------- */

static int S_role(domain *d, const char *user_id, folio_err *err)
{
    cJSON *m = NULL;
    int rc = domain_member_get(d, user_id, &m, err);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    int owner = rc == DOMAIN_OK && cJSON_IsString(role) && !strcmp(role->valuestring, "owner");
    cJSON_Delete(m);
    if (rc == DOMAIN_ERROR)
        return -1;
    return owner ? WEB_ADMIN_OWNER : WEB_ADMIN_MEMBER;
}

static int S_hide(web_admin_req *r, domain *d, domain_result *res, folio_err *err)
{
    cJSON *m = NULL;
    int rc = domain_member_get(d, r->id, &m, err);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(m, "email");
    if (rc == DOMAIN_OK && cJSON_IsString(e))
        rc = domain_member_hide(d, e->valuestring, !strcmp(r->action, "hide"), res, err);
    else if (rc == DOMAIN_OK)
        rc = DOMAIN_NOT_FOUND;
    if (cJSON_IsString(e))
        sodium_memzero(e->valuestring, strlen(e->valuestring));
    cJSON_Delete(m);
    return rc;
}

int web_admin_run(web_admin_req *r, domain *d, domain_result *res, folio_err *err)
{
    char user_id[80];
    memset(res, 0, sizeof *res);
    r->role = WEB_ADMIN_NONE;
    int f = domain_session_get(d, r->session, user_id, NULL, 0, err);
    if (f <= 0)
        return r->rc = f < 0 ? DOMAIN_ERROR : DOMAIN_OK;
    int role = S_role(d, user_id, err);
    if (role < 0)
        return r->rc = DOMAIN_ERROR;
    r->role = role;
    if (role != WEB_ADMIN_OWNER || !r->post || !r->action[0] || !strcmp(r->action, "retry"))
        return r->rc = DOMAIN_OK;
    if (!strcmp(r->action, "mark"))
        r->rc = domain_contact_mark(d, r->id, r->value, res, err);
    else if (!strcmp(r->action, "erase") && !strcmp(r->id, user_id))
        r->rc = DOMAIN_INVALID; /* the owner's own account: `folio forget` */
    else if (!strcmp(r->action, "erase"))
        r->rc = domain_member_forget(d, r->id, res, err);
    else
        r->rc = S_hide(r, d, res, err);
    return r->rc;
}

/* ---- reading for the pages ---------------------------------------------- */

int web_admin_open(const folio_config *cfg, web_admin **out, folio_err *err)
{
    web_admin *a = calloc(1, sizeof *a);
    *out = NULL;
    if (!a)
        return err_set(err, "out of memory");
    a->cfg = cfg;
    if (pthread_mutex_init(&a->mu, NULL) != 0) {
        free(a);
        return err_set(err, "cannot set up the owner's pages");
    }
    if (domain_open(cfg, &a->d, err) != 0 || consumers_open_site(cfg, &a->c, err) != 0) {
        web_admin_close(a);
        return err_prefix(err, "the owner's pages");
    }
    *out = a;
    return 0;
}

void web_admin_close(web_admin *a)
{
    if (!a)
        return;
    consumers_close(a->c);
    domain_close(a->d);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* The query's value of name, or NULL. */
static const char *S_q(const forms_values *q, const char *name)
{
    const char *v = forms_get(q, name);
    return v && *v ? v : NULL;
}

static long long S_before(const forms_values *q)
{
    const char *v = S_q(q, "before");
    char *end = NULL;
    long long n = v ? strtoll(v, &end, 10) : 0;
    return v && !*end && n > 0 ? n : 0;
}

/* Appends name=value percent-encoded (RFC 3986 unreserved kept) to b, with
 * '?' or '&' before it. */
static int S_param(buf *b, const char *name, const char *value)
{
    if (!value || !*value)
        return 0;
    int rc = buf_printf(b, "%c%s=", strchr(b->ptr ? b->ptr : "", '?') ? '&' : '?', name);
    return rc == 0 ? buf_add_pct(b, value, "") : rc;
}

static int S_add_num(cJSON *o, const char *k, long long n)
{
    return cJSON_AddNumberToObject(o, k, (double)n) ? 0 : -1;
}

static cJSON *S_personal_at(web_admin *a, long long position, folio_err *err)
{
    return domain_data_at(a->d, position, err);
}

static const char *S_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Overwrites a personal string before its object is freed. */
static void S_wipe(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(v) && v->valuestring)
        sodium_memzero(v->valuestring, strlen(v->valuestring));
}

/* ---- the pages ------------------------------------------------------------ */

typedef struct S_page_ctx {
    web_admin *a;
    const forms_values *q;
    const char *id;    /* the request or member of the page */
    cJSON *root;       /* the template's extra values */
    cJSON *rows;
    long long last;    /* keyset of the last row shown */
    int n;
    folio_err *err;
} S_page_ctx;

static const struct { const char *status, *label; } S_filters[] = {
    {"new", "Unread"}, {"handled", "Handled"}, {"archived", "Archived"}, {"spam", "Spam"}};

static int S_home(S_page_ctx *p)
{
    long long c[4], members = 0, pending = 0;
    folio_err *err = p->err;
    cJSON *h = cJSON_AddObjectToObject(p->root, "home");
    if (!h)
        return err_set(err, "out of memory");
    if (projections_inbox_counts(domain_projections(p->a->d), c, err) < 0 ||
        projections_member_count(domain_projections(p->a->d), &members, err) < 0 ||
        domain_pending_count(p->a->d, &pending, err) < 0)
        return -1;
    cJSON *dead = consumers_deadletters(p->a->c, NULL, 0, err);
    if (!dead)
        return -1;
    int ndead = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, dead)
        ndead += !strcmp(S_str(it, "state"), "dead");
    cJSON_Delete(dead);
    return S_add_num(h, "unread", c[0]) || S_add_num(h, "handled", c[1]) ||
                   S_add_num(h, "archived", c[2]) || S_add_num(h, "spam", c[3]) ||
                   S_add_num(h, "members", members) || S_add_num(h, "pending", pending) ||
                   S_add_num(h, "dead_letters", ndead)
               ? err_set(err, "out of memory")
               : 0;
}

/* A listing's next row: past `limit` only counted (there is a next page:
 * *o stays NULL); else the event at position opened (*ev) and a new row
 * in p->rows (*o) with its url, prefix + id + "/". */
static int S_row_begin(S_page_ctx *p, int limit, long long position, const char *prefix,
                       const char *id, cJSON **ev, cJSON **o)
{
    *ev = *o = NULL;
    if (++p->n > limit)
        return 0;
    p->last = position;
    if (!(*ev = S_personal_at(p->a, position, p->err)))
        return -1;
    char url[160];
    snprintf(url, sizeof url, "%s%s/", prefix, id);
    cJSON *row = cJSON_CreateObject();
    if (!row || !cJSON_AddItemToArray(p->rows, row)) {
        cJSON_Delete(row);
        cJSON_Delete(*ev);
        *ev = NULL;
        return err_set(p->err, "out of memory");
    }
    *o = row;
    return cJSON_AddStringToObject(row, "url", url) ? 0 : err_set(p->err, "out of memory");
}

static int S_inbox_row(void *ud, const projections_inbox_row *r, folio_err *err)
{
    S_page_ctx *p = ud;
    cJSON *ev, *o;
    if (S_row_begin(p, S_INBOX_PAGE, r->position, "/admin/inbox/", r->contact_id, &ev, &o) < 0)
        return cJSON_Delete(ev), -1;
    if (!o)
        return 0;
    char at[32];
    util_format_iso_ms(r->received_at, at);
    int ok = cJSON_AddStringToObject(o, "name", S_str(ev, "name")) &&
             cJSON_AddStringToObject(o, "subject", S_str(ev, "title")) &&
             cJSON_AddStringToObject(o, "received", at) &&
             cJSON_AddStringToObject(o, "status", r->status ? r->status : "");
    cJSON_Delete(ev);
    return ok ? 0 : err_set(err, "out of memory");
}

/* A "next" link of a listing: base?params&before=last, when a row was
 * left over. */
static int S_next(S_page_ctx *p, cJSON *to, const char *base, const char *const *keys,
                  const char *status)
{
    if (p->n <= 0 || p->last <= 0)
        return 0;
    int more = p->n > (cJSON_GetArraySize(p->rows));
    if (!more)
        return 0;
    buf b = BUF_INIT;
    char last[24];
    snprintf(last, sizeof last, "%lld", p->last);
    int rc = buf_puts(&b, base);
    if (rc == 0 && status) /* the filter in force, even when it was the default */
        rc = S_param(&b, "status", status);
    for (size_t i = 0; rc == 0 && keys[i]; i++)
        rc = S_param(&b, keys[i], S_q(p->q, keys[i]));
    rc = rc ? rc : S_param(&b, "before", last);
    if (rc == 0 && !cJSON_AddStringToObject(to, "next", b.ptr))
        rc = -1;
    buf_free(&b);
    return rc ? err_set(p->err, "out of memory") : 0;
}

static int S_inbox(S_page_ctx *p)
{
    const char *status = S_q(p->q, "status");
    if (!status)
        status = "new";
    if (strcmp(status, "all") && !S_one_of(status, S_statuses))
        return err_set(p->err, "status: must be new, handled, archived, spam or all"), 1;
    long long c[4];
    cJSON *in = cJSON_AddObjectToObject(p->root, "inbox");
    cJSON *filters = in ? cJSON_AddArrayToObject(in, "filters") : NULL;
    p->rows = in ? cJSON_AddArrayToObject(in, "rows") : NULL;
    if (!filters || !p->rows || !cJSON_AddStringToObject(in, "status", status))
        return err_set(p->err, "out of memory");
    if (projections_inbox_counts(domain_projections(p->a->d), c, p->err) < 0)
        return -1;
    for (size_t i = 0; i <= 4; i++) {
        const char *st = i < 4 ? S_filters[i].status : "all";
        char url[64];
        snprintf(url, sizeof url, "/admin/inbox/?status=%s", st);
        cJSON *f = cJSON_CreateObject();
        if (!f || !cJSON_AddItemToArray(filters, f)) {
            cJSON_Delete(f);
            return err_set(p->err, "out of memory");
        }
        if (!cJSON_AddStringToObject(f, "label", i < 4 ? S_filters[i].label : "All") ||
            !cJSON_AddStringToObject(f, "url", url) ||
            S_add_num(f, "count", i < 4 ? c[i] : c[0] + c[1] + c[2] + c[3]) ||
            !cJSON_AddBoolToObject(f, "current", !strcmp(st, status)))
            return err_set(p->err, "out of memory");
    }
    if (projections_inbox_page(domain_projections(p->a->d), strcmp(status, "all") ? status : NULL,
                               S_before(p->q), S_INBOX_PAGE + 1, S_inbox_row, p, p->err) < 0)
        return -1;
    static const char *const keys[] = {NULL};
    return S_next(p, in, "/admin/inbox/", keys, status);
}

/* mailto:ADDRESS?subject=Re: SUBJECT, percent-encoded. */
static int S_mailto(cJSON *o, const char *email, const char *subject)
{
    buf b = BUF_INIT;
    int rc = buf_puts(&b, "mailto:");
    /* an addr-spec's own characters stay (RFC 6068), ? & # % and the rest not */
    if (rc == 0)
        rc = buf_add_pct(&b, email, "@+!$'()*,;=:/");
    buf subj = BUF_INIT;
    if (rc == 0)
        rc = buf_printf(&subj, "Re: %s", *subject ? subject : "your message");
    /* S_param adds '?' since b has none yet */
    if (rc == 0)
        rc = S_param(&b, "subject", subj.ptr);
    if (rc == 0 && !cJSON_AddStringToObject(o, "reply", b.ptr))
        rc = -1;
    buf_free(&subj);
    buf_free(&b);
    return rc;
}

static int S_request(S_page_ctx *p)
{
    cJSON *rows = domain_inbox(p->a->d, NULL, p->id, p->err);
    if (!rows)
        return -1;
    cJSON *r = cJSON_DetachItemFromArray(rows, 0);
    cJSON_Delete(rows);
    if (!r)
        return 2; /* no such request */
    const char *status = S_str(r, "status");
    cJSON *acts = cJSON_AddArrayToObject(r, "actions");
    int rc = acts && !cJSON_AddItemToObject(p->root, "request", r) ? -1 : 0;
    if (!acts || rc) {
        cJSON_Delete(r);
        return err_set(p->err, "out of memory");
    }
    if (S_mailto(r, S_str(r, "email"), S_str(r, "subject")) < 0)
        return err_set(p->err, "out of memory");
    static const char *const labels[] = {"Mark unread", "Mark handled", "Archive",
                                         "Mark as spam"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcmp(S_statuses[i], status))
            continue;
        cJSON *a = cJSON_CreateObject();
        if (!a || !cJSON_AddItemToArray(acts, a)) {
            cJSON_Delete(a);
            return err_set(p->err, "out of memory");
        }
        if (!cJSON_AddStringToObject(a, "status", S_statuses[i]) ||
            !cJSON_AddStringToObject(a, "label", labels[i]))
            return err_set(p->err, "out of memory");
    }
    return 0;
}

/* A member row of the projection, their address opened. */
static int S_member_row(void *ud, const projections_member_row *r, folio_err *err)
{
    S_page_ctx *p = ud;
    cJSON *ev, *o;
    if (S_row_begin(p, S_MEMBERS_PAGE, r->position, "/admin/members/", r->user_id, &ev, &o) < 0)
        return cJSON_Delete(ev), -1;
    if (!o)
        return 0;
    char at[32];
    util_format_iso_ms(r->joined_at, at);
    int ok = cJSON_AddStringToObject(o, "name", r->display_name ? r->display_name : "") &&
             cJSON_AddStringToObject(o, "email", S_str(ev, "email")) &&
             cJSON_AddStringToObject(o, "joined", at) && cJSON_AddBoolToObject(o, "verified", 1) &&
             cJSON_AddBoolToObject(o, "hidden", r->hidden) &&
             cJSON_AddBoolToObject(o, "owner", r->role && !strcmp(r->role, "owner"));
    S_wipe(ev, "email");
    cJSON_Delete(ev);
    return ok ? 0 : err_set(err, "out of memory");
}

/* "%q%" for LIKE, its own % _ and \ escaped. */
static char *S_like(const char *q)
{
    buf b = BUF_INIT;
    int rc = buf_putc(&b, '%');
    for (; rc == 0 && *q; q++)
        rc = (strchr("%_\\", *q) ? buf_putc(&b, '\\') : 0) || buf_putc(&b, *q);
    rc = rc ? rc : buf_putc(&b, '%');
    if (rc) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

/* One member found by address: the member's row, as a listing of one. */
static int S_member_by_email(S_page_ctx *p, const char *email)
{
    char user_id[80];
    int rc = domain_member_by_email(p->a->d, email, user_id, p->err);
    if (rc == DOMAIN_NOT_FOUND)
        return 0;
    if (rc != DOMAIN_OK)
        return -1;
    cJSON *m = NULL;
    if (domain_member_get(p->a->d, user_id, &m, p->err) != DOMAIN_OK)
        return m ? 0 : -1;
    /* the listing's shape from the member's view */
    char url[128];
    snprintf(url, sizeof url, "/admin/members/%s/", user_id);
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddItemToArray(p->rows, o);
    if (!ok)
        cJSON_Delete(o);
    ok = ok && cJSON_AddStringToObject(o, "url", url) &&
         cJSON_AddStringToObject(o, "name", S_str(m, "name")) &&
         cJSON_AddStringToObject(o, "email", S_str(m, "email")) &&
         cJSON_AddStringToObject(o, "joined", S_str(m, "joined")) &&
         cJSON_AddBoolToObject(o, "verified", 1) &&
         cJSON_AddBoolToObject(o, "hidden",
                               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "hidden"))) &&
         cJSON_AddBoolToObject(o, "owner", !strcmp(S_str(m, "role"), "owner"));
    S_wipe(m, "email");
    cJSON_Delete(m);
    return ok ? 0 : err_set(p->err, "out of memory");
}

static int S_pending(S_page_ctx *p, cJSON *ms)
{
    cJSON *rows = domain_pending_page(p->a->d, S_before(p->q), S_MEMBERS_PAGE + 1, p->err);
    if (!rows)
        return -1;
    p->n = cJSON_GetArraySize(rows);
    if (p->n > S_MEMBERS_PAGE)
        cJSON_DeleteItemFromArray(rows, p->n - 1);
    if (!cJSON_ReplaceItemInObjectCaseSensitive(ms, "rows", rows)) {
        cJSON_Delete(rows);
        return err_set(p->err, "out of memory");
    }
    p->rows = rows;
    cJSON *it;
    cJSON_ArrayForEach(it, rows) {
        char url[128];
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(it, "key");
        p->last = cJSON_IsNumber(key) ? (long long)key->valuedouble : 0;
        snprintf(url, sizeof url, "/admin/members/%s/", S_str(it, "user_id"));
        if (!cJSON_AddStringToObject(it, "url", url))
            return err_set(p->err, "out of memory");
    }
    return 0;
}

static int S_members(S_page_ctx *p)
{
    const char *q = S_q(p->q, "q"), *show = S_q(p->q, "show");
    long long members = 0, pending = 0;
    cJSON *ms = cJSON_AddObjectToObject(p->root, "members");
    p->rows = ms ? cJSON_AddArrayToObject(ms, "rows") : NULL;
    if (!p->rows)
        return err_set(p->err, "out of memory");
    if (projections_member_count(domain_projections(p->a->d), &members, p->err) < 0 ||
        domain_pending_count(p->a->d, &pending, p->err) < 0)
        return -1;
    int pend = show && !strcmp(show, "pending");
    if (S_add_num(ms, "count", members) || S_add_num(ms, "pending", pending) ||
        !cJSON_AddBoolToObject(ms, "showing_pending", pend) ||
        (q && !cJSON_AddStringToObject(ms, "q", q)))
        return err_set(p->err, "out of memory");
    int rc;
    if (pend) {
        rc = S_pending(p, ms);
    } else if (q && strchr(q, '@')) {
        rc = S_member_by_email(p, q);
    } else {
        char *like = q ? S_like(q) : NULL;
        if (q && !like)
            return err_set(p->err, "out of memory");
        rc = projections_members_page(domain_projections(p->a->d), like, S_before(p->q),
                                      S_MEMBERS_PAGE + 1, S_member_row, p, p->err) < 0 ? -1 : 0;
        free(like);
    }
    if (rc != 0)
        return rc;
    static const char *const keys[] = {"q", "show", NULL};
    return S_next(p, ms, "/admin/members/", keys, NULL);
}

static int S_member(S_page_ctx *p)
{
    cJSON *m = NULL;
    int rc = domain_member_get(p->a->d, p->id, &m, p->err);
    if (rc != DOMAIN_OK)
        return rc == DOMAIN_NOT_FOUND ? 2 : -1;
    if (!cJSON_AddItemToObject(p->root, "member", m)) {
        cJSON_Delete(m);
        return err_set(p->err, "out of memory");
    }
    char url[128];
    snprintf(url, sizeof url, "/admin/members/%s/", p->id);
    return cJSON_AddStringToObject(m, "url", url) &&
                   cJSON_AddBoolToObject(m, "owner", !strcmp(S_str(m, "role"), "owner"))
               ? 0
               : err_set(p->err, "out of memory");
}

/* The database file and its WAL, in bytes. */
static long long S_db_bytes(const char *db_path)
{
    struct stat st;
    char wal[4096];
    long long n = stat(db_path, &st) == 0 ? (long long)st.st_size : 0;
    if ((size_t)snprintf(wal, sizeof wal, "%s-wal", db_path) < sizeof wal &&
        stat(wal, &st) == 0)
        n += (long long)st.st_size;
    return n;
}

static int S_health(S_page_ctx *p)
{
    cJSON *h = cJSON_AddObjectToObject(p->root, "health");
    if (!h)
        return err_set(p->err, "out of memory");
    cJSON *v = projections_versions(domain_projections(p->a->d), p->err);
    if (!v || !cJSON_AddItemToObject(h, "projections", v))
        return cJSON_Delete(v), -1;
    cJSON *c = consumers_status(p->a->c, p->err);
    if (!c || !cJSON_AddItemToObject(h, "consumers", c))
        return cJSON_Delete(c), -1;
    cJSON *d = consumers_deadletters(p->a->c, NULL, 0, p->err);
    if (!d || !cJSON_AddItemToObject(h, "dead_letters", d))
        return cJSON_Delete(d), -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, d)
        if (!cJSON_AddBoolToObject((cJSON *)it, "dead", !strcmp(S_str(it, "state"), "dead")))
            return err_set(p->err, "out of memory");
    long long bytes = S_db_bytes(p->a->cfg->db_path);
    char size[32];
    snprintf(size, sizeof size, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
    cJSON *b = domain_last_backup(p->a->cfg);
    if ((b && !cJSON_AddItemToObject(h, "backup", b)) || S_add_num(h, "db_bytes", bytes) ||
        !cJSON_AddStringToObject(h, "db_size", size) ||
        S_add_num(h, "head", store_head(domain_store(p->a->d))))
        return err_set(p->err, "out of memory");
    return 0;
}

static int S_event_row(void *ud, const store_event *ev)
{
    S_page_ctx *p = ud;
    if (++p->n > S_EVENTS_PAGE)
        return 0;
    p->last = ev->position;
    cJSON *env = NULL;
    if (domain_event_json(p->a->d, ev, 1, &env, p->err) < 0)
        return -1;
    char *text = cJSON_Print(env);
    cJSON_Delete(env);
    cJSON *o = cJSON_CreateObject();
    int ok = text && o && cJSON_AddItemToArray(p->rows, o);
    if (!ok)
        cJSON_Delete(o);
    ok = ok && S_add_num(o, "position", ev->position) == 0 &&
         cJSON_AddStringToObject(o, "type", ev->type) &&
         cJSON_AddStringToObject(o, "stream", ev->stream_id) &&
         cJSON_AddStringToObject(o, "envelope", text);
    if (text)
        sodium_memzero(text, strlen(text));
    free(text);
    if (!ok)
        return err_set(p->err, "out of memory"), -1;
    return 0;
}

/* A stream id or type in the filter: the characters folio's use. */
static int S_name_ok(const char *s)
{
    return !s || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "0123456789-_.:@") == strlen(s);
}

static int S_events(S_page_ctx *p)
{
    const char *stream = S_q(p->q, "stream"), *type = S_q(p->q, "type");
    if (!S_name_ok(stream) || !S_name_ok(type))
        return err_set(p->err, "stream, type: letters, digits and - _ . : only"), 1;
    cJSON *ev = cJSON_AddObjectToObject(p->root, "events");
    p->rows = ev ? cJSON_AddArrayToObject(ev, "rows") : NULL;
    if (!p->rows || (stream && !cJSON_AddStringToObject(ev, "stream", stream)) ||
        (type && !cJSON_AddStringToObject(ev, "type", type)))
        return err_set(p->err, "out of memory");
    int rc = store_read_back(domain_store(p->a->d), S_before(p->q), S_EVENTS_PAGE + 1, stream,
                             type, S_event_row, p, p->err);
    if (rc != 0)
        return -1;
    static const char *const keys[] = {"stream", "type", NULL};
    return S_next(p, ev, "/admin/events/", keys, NULL);
}

/* ---- rendering -------------------------------------------------------------- */

static const struct { int page; const char *tpl, *title, *nav; } S_pages[] = {
    {P_HOME, "admin/home", "Admin", "home"},
    {P_INBOX, "admin/inbox", "Inbox", "inbox"},
    {P_REQUEST, "admin/request", "Contact request", "inbox"},
    {P_MEMBERS, "admin/members", "Members", "members"},
    {P_MEMBER, "admin/member", "Member", "members"},
    {P_ERASE, "admin/erase", "Erase a member", "members"},
    {P_HEALTH, "admin/health", "Health", "health"},
    {P_EVENTS, "admin/events", "Events", "events"}};

static const struct { const char *done, *msg; } S_flash[] = {
    {"new", "The request is marked unread."}, {"handled", "The request is marked handled."},
    {"archived", "The request is archived."},  {"spam", "The request is marked as spam."},
    {"hide", "The name is hidden from every public page."},
    {"unhide", "The name is shown again."},
    {"erase", "The member is erased: their key is destroyed."},
    {"retry", "The dead letter is scheduled for delivery again."}};

/* The admin value every page has: the CSRF token, the current section,
 * a message after a change. */
static int S_common(cJSON *root, const char *csrf, const char *nav, const char *done)
{
    cJSON *a = cJSON_AddObjectToObject(root, "admin");
    cJSON *n = a ? cJSON_AddObjectToObject(a, "nav") : NULL;
    if (!n || !cJSON_AddStringToObject(a, "csrf", csrf) || !cJSON_AddTrueToObject(n, nav))
        return -1;
    for (size_t i = 0; done && i < sizeof S_flash / sizeof S_flash[0]; i++)
        if (!strcmp(done, S_flash[i].done) &&
            !cJSON_AddStringToObject(a, "flash", S_flash[i].msg))
            return -1;
    return 0;
}

/* "any_rows": true beside a non-empty "rows" (and the same for
 * dead_letters), for templates to show a table or a word. */
static int S_mark_any(cJSON *root)
{
    static const char *const lists[] = {"rows", "dead_letters"};
    cJSON *o;
    cJSON_ArrayForEach(o, root) {
        for (size_t i = 0; cJSON_IsObject(o) && i < 2; i++) {
            char key[32];
            snprintf(key, sizeof key, "any_%s", lists[i]);
            if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, lists[i])) > 0 &&
                !cJSON_AddTrueToObject(o, key))
                return -1;
        }
    }
    return 0;
}

/* Builds the page's values and renders it: 0, 1 (a bad query: 400, err
 * says why), 2 (no such thing: 404), -1. */
static int S_page(web_admin *a, int page, const char *id, const char *query, const char *csrf,
                  const char *url, site *const *s, pthread_mutex_t *site_mu, buf *out,
                  folio_err *err)
{
    size_t k = 0;
    while (k < sizeof S_pages / sizeof S_pages[0] && S_pages[k].page != page)
        k++;
    if (k == sizeof S_pages / sizeof S_pages[0])
        return 2;
    forms_values q;
    if (forms_decode(&S_query, FORMS_URLENCODED, query, strlen(query), &q, err) != 0) {
        forms_values_free(&q);
        return 1;
    }
    cJSON *root = cJSON_CreateObject();
    int rc = root && S_common(root, csrf, S_pages[k].nav, S_q(&q, "done")) == 0
                 ? 0 : err_set(err, "out of memory");
    S_page_ctx p = {a, &q, id, root, NULL, 0, 0, err};
    if (rc == 0) {
        pthread_mutex_lock(&a->mu);
        switch (page) {
        case P_HOME: rc = S_home(&p); break;
        case P_INBOX: rc = S_inbox(&p); break;
        case P_REQUEST: rc = S_request(&p); break;
        case P_MEMBERS: rc = S_members(&p); break;
        case P_MEMBER:
        case P_ERASE: rc = S_member(&p); break;
        case P_HEALTH: rc = S_health(&p); break;
        default: rc = S_events(&p); break;
        }
        pthread_mutex_unlock(&a->mu);
    }
    if (rc == 0 && S_mark_any(root) != 0)
        rc = err_set(err, "out of memory");
    if (rc == 0) {
        if (site_mu)
            pthread_mutex_lock(site_mu);
        rc = site_render_template(*s, S_pages[k].tpl, S_pages[k].title, url, root, out, err);
        if (site_mu)
            pthread_mutex_unlock(site_mu);
    }
    cJSON_Delete(root);
    forms_values_free(&q);
    return rc;
}

static void S_page_url(const web_admin_req *r, char *url, size_t cap)
{
    static const char *const base[] = {[P_HOME] = "/admin/", [P_INBOX] = "/admin/inbox/",
                                       [P_MEMBERS] = "/admin/members/",
                                       [P_HEALTH] = "/admin/health/",
                                       [P_EVENTS] = "/admin/events/"};
    if (r->page == P_REQUEST)
        snprintf(url, cap, "/admin/inbox/%s/", r->id);
    else if (r->page == P_MEMBER)
        snprintf(url, cap, "/admin/members/%s/", r->id);
    else if (r->page == P_ERASE)
        snprintf(url, cap, "/admin/members/%s/erase/", r->id);
    else
        snprintf(url, cap, "%s", base[r->page] ? base[r->page] : "/admin/");
}

/* After a change: back where the owner goes next, saying what was done. */
static void S_after(web_admin *a, web_admin_req *r, web_answer *ans)
{
    char to[160];
    if (!strcmp(r->action, "retry")) {
        long long n = 0;
        folio_err err = {{0}};
        pthread_mutex_lock(&a->mu);
        int rc = consumers_deadletter_retry(a->c, r->letter, NULL, &n, &err);
        pthread_mutex_unlock(&a->mu);
        if (rc != 0) {
            if (rc < 0)
                log_msg("error", "admin: retrying a dead letter: %s", err.msg);
            S_refuse(ans, rc < 0 ? 500 : 404, rc < 0 ? "the dead letter could not be retried"
                                                     : "there is no such dead letter");
            return;
        }
        S_see_other(ans, "/admin/health/?done=retry");
        return;
    }
    if (r->rc == DOMAIN_NOT_FOUND) {
        S_refuse(ans, 404, "there is no such request or member (erased already?)");
        return;
    }
    if (r->rc == DOMAIN_INVALID) {
        S_refuse(ans, 422, !strcmp(r->action, "erase")
                               ? "your own account is not erased from here: use folio forget"
                               : "that change is not one the owner's pages make");
        return;
    }
    if (!strcmp(r->action, "mark"))
        snprintf(to, sizeof to, "/admin/inbox/?done=%s", r->value);
    else if (!strcmp(r->action, "erase"))
        snprintf(to, sizeof to, "/admin/members/?done=erase");
    else
        snprintf(to, sizeof to, "/admin/members/%s/?done=%s", r->id, r->action);
    S_see_other(ans, to);
}

void web_admin_answer(web_admin *a, web_admin_req *r, site *const *s,
                      pthread_mutex_t *site_mu, web_answer *ans)
{
    if (r->rc == DOMAIN_ERROR) {
        S_refuse(ans, 500, "the owner's page could not be served; please try again");
        return;
    }
    if (r->role == WEB_ADMIN_NONE) {
        S_to_login(ans, r);
        return;
    }
    if (r->role != WEB_ADMIN_OWNER) {
        S_refuse(ans, 403, "these pages are for the site's owner");
        return;
    }
    if (r->post) {
        S_after(a, r, ans);
        return;
    }
    char csrf[ACCOUNTS_TOKEN_LEN + 1], url[160];
    accounts_csrf(r->session, csrf);
    S_page_url(r, url, sizeof url);
    folio_err err = {{0}};
    buf_reset(&ans->body);
    int rc = S_page(a, r->page, r->id, r->query, csrf, url, s, site_mu, &ans->body, &err);
    sodium_memzero(csrf, sizeof csrf);
    if (rc == 0) {
        S_answer(ans, 200, "text/html; charset=utf-8", S_PRIVATE);
        return;
    }
    buf_reset(&ans->body);
    if (rc == 1)
        S_refuse(ans, 400, err.msg);
    else if (rc == 2)
        S_refuse(ans, 404, "there is no such request or member (erased already?)");
    else {
        log_msg("error", "admin page: %s", err.msg);
        S_refuse(ans, 500, "the owner's page could not be shown");
    }
}

int web_admin_render(web_admin *a, site *s, const char *path, const char *query, buf *out,
                     folio_err *err)
{
    web_admin_req r;
    memset(&r, 0, sizeof r);
    r.page = S_parse_path(&r, path);
    char url[160];
    S_page_url(&r, url, sizeof url);
    int rc = S_page(a, r.page, r.id, query ? query : "", "bench", url, &s, NULL, out, err);
    return rc == 0 ? 0 : rc > 0 ? err_set(err, "%s: not a page (%d)", path, rc) : -1;
}
