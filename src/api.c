/* api — the answers of GET /api/events. See api.h. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "domain.h"
#include "events.h"
#include "forms.h"
#include "log.h"
#include "store.h"

#define S_RATE_SLOTS 64        /* keys with a bucket at once (LRU beyond) */
#define S_TOUCH_MS 60000LL     /* last_used_at is written at most this often */

typedef struct S_bucket {
    char name[APIKEYS_NAME_MAX + 1];   /* "": free */
    double tokens;
    long long last_ms;
    long long touched_ms;
} S_bucket;

struct api {
    domain *d;
    double rate;    /* tokens per second */
    double burst;
    S_bucket buckets[S_RATE_SLOTS];
};

/* ---- parameters ---------------------------------------------------------- */

static const forms_field S_query_fields[] = {
    {"after", 20, 0}, {"limit", 20, 0}, {"types", 1024, 0}, {"wait", 20, 0},
    {NULL, 0, 0}};
static const forms_spec S_query_spec = {"/api/events", S_query_fields, NULL};

/* Digits only, at most 18 of them: -1 otherwise. */
static long long S_count(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
        return -1;
    return strtoll(s, NULL, 10);
}

static int S_parse_types(const char *s, unsigned *bits, folio_err *err)
{
    const events_type *const *all = events_all();
    *bits = 0;
    while (1) {
        size_t n = strcspn(s, ",");
        size_t i = 0;
        while (all[i] && (strlen(all[i]->name) != n ||
                          strncmp(all[i]->name, s, n) != 0))
            i++;
        if (!all[i] || i >= sizeof *bits * 8)
            return err_set(err, "types: unknown event type '%.*s'",
                           n > 64 ? 64 : (int)n, s);
        *bits |= 1u << i;
        if (!s[n])
            return 0;
        s += n + 1;
    }
}

int api_parse_query(const char *qs, api_query *q, const char **field,
                    folio_err *err)
{
    q->after = 0;
    q->limit = API_LIMIT_DEFAULT;
    q->wait = 0;
    q->types = 0;
    *field = NULL;
    forms_values v;
    if (forms_decode(&S_query_spec, FORMS_URLENCODED, qs ? qs : "",
                     qs ? strlen(qs) : 0, &v, err) != 0) {
        forms_values_free(&v);
        return 400;
    }
    const char *after = forms_get(&v, "after"), *limit = forms_get(&v, "limit");
    const char *wait = forms_get(&v, "wait"), *types = forms_get(&v, "types");
    long long n;
    int rc = 0;
    if (after && (n = S_count(after)) < 0) {
        *field = "after";
        rc = err_set(err, "after: must be a position (a whole number, 0 or more)");
    } else if (after) {
        q->after = n;
    }
    if (!rc && limit && (n = S_count(limit)) < 0) {
        *field = "limit";
        rc = err_set(err, "limit: must be a whole number, 0 or more");
    } else if (!rc && limit) {
        q->limit = n == 0 ? API_LIMIT_DEFAULT
                          : n > API_LIMIT_MAX ? API_LIMIT_MAX : (size_t)n;
    }
    if (!rc && wait && ((n = S_count(wait)) < 0 || n > API_WAIT_MAX)) {
        *field = "wait";
        rc = err_set(err, "wait: must be 0 to %d seconds", API_WAIT_MAX);
    } else if (!rc && wait) {
        q->wait = (int)n;
    }
    if (!rc && types && S_parse_types(types, &q->types, err) != 0) {
        *field = "types";
        rc = -1;
    }
    forms_values_free(&v);
    return rc ? 400 : 0;
}

/* ---- the handle ------------------------------------------------------------ */

/* api.NAME: a number, or dflt when absent. -1 with a message otherwise. */
static int S_setting(const cJSON *api, const char *name, double dflt,
                     double *out, folio_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(api, name);
    *out = dflt;
    if (!it)
        return 0;
    if (!cJSON_IsNumber(it))
        return err_set(err, "folio.yml: api.%s must be a number", name);
    *out = it->valuedouble;
    return 0;
}

int api_open(const folio_config *cfg, api **out, folio_err *err)
{
    *out = NULL;
    const cJSON *conf = cJSON_GetObjectItemCaseSensitive(cfg->raw, "api");
    if (conf && !cJSON_IsObject(conf) && !cJSON_IsNull(conf))
        return err_set(err, "folio.yml: api must be a mapping (rate, burst)");
    double rate, burst;
    if (S_setting(conf, "rate", 600, &rate, err) != 0 ||
        S_setting(conf, "burst", 60, &burst, err) != 0)
        return -1;
    if (rate <= 0 || burst < 1)
        return err_set(err, "folio.yml: api: rate must be above 0 (requests per"
                       " minute) and burst at least 1");
    api *a = calloc(1, sizeof *a);
    if (!a)
        return err_set(err, "out of memory");
    a->rate = rate / 60.0;
    a->burst = burst;
    if (domain_open(cfg, &a->d, err) != 0) {
        free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void api_close(api *a)
{
    if (!a)
        return;
    domain_close(a->d);
    free(a);
}

long long api_head(api *a) { return store_head(domain_store(a->d)); }

void api_req_done(api_req *r)
{
    free(r->body);
    r->body = NULL;
    r->blen = 0;
}

/* ---- answers --------------------------------------------------------------- */

static void S_answer(api_req *r, int status, cJSON *o)
{
    api_req_done(r);
    r->status = status;
    r->body = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!r->body) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        r->status = 500;
        r->body = util_strdup(oom);
    }
    r->blen = r->body ? strlen(r->body) : 0;
}

/* {"error": msg[, "field": field]} */
static int S_refuse(api_req *r, int status, const char *msg, const char *field,
                    const char *headers)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "error", msg);
        if (field)
            cJSON_AddStringToObject(o, "field", field);
    }
    snprintf(r->headers, sizeof r->headers, "%s", headers ? headers : "");
    S_answer(r, status, o);
    return status;
}

/* The key's bucket: 0 when the request may go, else seconds to wait. */
static int S_rate(api *a, const char *name, long long now, S_bucket **out)
{
    S_bucket *b = NULL, *victim = &a->buckets[0];
    for (size_t i = 0; i < S_RATE_SLOTS && !b; i++) {
        if (!strcmp(a->buckets[i].name, name))
            b = &a->buckets[i];
        else if (a->buckets[i].last_ms < victim->last_ms)
            victim = &a->buckets[i];
    }
    if (!b) {
        b = victim;
        snprintf(b->name, sizeof b->name, "%s", name);
        b->tokens = a->burst;
        b->last_ms = now;
        b->touched_ms = 0;
    }
    *out = b;
    double t = b->tokens + (double)(now - b->last_ms) / 1000.0 * a->rate;
    b->tokens = t > a->burst ? a->burst : t;
    b->last_ms = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 0;
    }
    double w = (1.0 - b->tokens) / a->rate;
    int secs = (int)w;
    return (double)secs < w ? secs + 1 : secs;
}

static void S_log_use(const api_req *r, const char *request_id)
{
    cJSON *f = cJSON_CreateObject();
    if (!f)
        return;
    cJSON_AddStringToObject(f, "msg", "api key used");
    cJSON_AddStringToObject(f, "request_id", request_id ? request_id : "");
    cJSON_AddStringToObject(f, "key", r->key_name);
    cJSON_AddNumberToObject(f, "after", (double)r->q.after);
    cJSON_AddNumberToObject(f, "wait", r->q.wait);
    log_json("info", f);
}

/* The key of "Bearer KEY" (scheme in any case), or NULL. */
static const char *S_bearer(const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    const char *k = authorization + 7;
    k += strspn(k, " ");
    return *k ? k : NULL;
}

/* Key, scope, rate: 0 when the request may go on, else the answer's status. */
static int S_authorize(api *a, const char *authorization, api_req *r)
{
    const char *key = S_bearer(authorization);
    if (!key)
        return S_refuse(r, 401, "send an API key: Authorization: Bearer KEY",
                        NULL, "WWW-Authenticate: Bearer realm=\"folio\"\r\n");
    folio_err err = {{0}};
    int rc = apikeys_check(store_db(domain_store(a->d)), key, r->key_name,
                           &r->scopes, &err);
    if (rc < 0) {
        log_msg("error", "checking an API key: %s", err.msg);
        return S_refuse(r, 500, "the key could not be checked; try again", NULL,
                        NULL);
    }
    if (rc == 1)
        return S_refuse(r, 401, "the API key is unknown or revoked", NULL,
                        "WWW-Authenticate: Bearer realm=\"folio\","
                        " error=\"invalid_token\"\r\n");
    if (!(r->scopes & APIKEYS_EVENTS_READ))
        return S_refuse(r, 403, "this key lacks the scope events:read", NULL,
                        "WWW-Authenticate: Bearer realm=\"folio\","
                        " error=\"insufficient_scope\", scope=\"events:read\"\r\n");
    long long now = util_now_ms();
    S_bucket *b = NULL;
    int wait = S_rate(a, r->key_name, now, &b);
    if (wait > 0) {
        char hdr[48];
        snprintf(hdr, sizeof hdr, "Retry-After: %d\r\n", wait);
        return S_refuse(r, 429, "too many requests with this key; retry later",
                        NULL, hdr);
    }
    if (now - b->touched_ms >= S_TOUCH_MS) {
        b->touched_ms = now;
        if (apikeys_touch(store_db(domain_store(a->d)), r->key_name, now,
                          &err) != 0)
            log_msg("warn", "recording the use of API key %s: %s",
                    r->key_name, err.msg);
    }
    return 0;
}

int api_start(api *a, const char *method, const char *query,
              const char *authorization, const char *request_id, api_req *r)
{
    memset(r, 0, sizeof *r);
    if (!method || strcmp(method, "GET") != 0)
        return S_refuse(r, 405, "use GET", NULL, "Allow: GET\r\n");
    int st = S_authorize(a, authorization, r);
    if (st)
        return st;
    folio_err err = {{0}};
    const char *field = NULL;
    if (api_parse_query(query, &r->q, &field, &err) != 0)
        return S_refuse(r, 400, err.msg, field, NULL);
    S_log_use(r, request_id);
    return 0;
}

/* ---- reading the log ------------------------------------------------------- */

typedef struct S_page {
    api *a;
    api_req *r;
    cJSON *events;
    size_t n;
    folio_err err;
    int failed;
} S_page;

static int S_wanted(unsigned types, const char *type)
{
    if (!types)
        return 1;
    const events_type *const *all = events_all();
    for (size_t i = 0; all[i] && i < sizeof types * 8; i++)
        if ((types & (1u << i)) && !strcmp(all[i]->name, type))
            return 1;
    return 0;
}

static int S_add_event(void *ud, const store_event *ev)
{
    S_page *p = ud;
    if (!S_wanted(p->r->q.types, ev->type))
        return 0;
    cJSON *o = NULL;
    int personal = (p->r->scopes & APIKEYS_PERSONAL_READ) != 0;
    if (domain_event_json(p->a->d, ev, personal, &o, &p->err) != 0) {
        p->failed = 1;
        return -1;
    }
    cJSON_AddItemToArray(p->events, o);
    return ++p->n >= p->r->q.limit ? 1 : 0;
}

int api_poll(api *a, api_req *r, int final)
{
    S_page p = {.a = a, .r = r, .events = cJSON_CreateArray()};
    if (!p.events) {
        S_refuse(r, 500, "out of memory", NULL, NULL);
        return 1;
    }
    long long last = r->q.after;
    int rc = store_read_all(domain_store(a->d), r->q.after, 0, S_add_event, &p,
                            &last, &p.err);
    if (rc < 0 || p.failed) {
        cJSON_Delete(p.events);
        log_msg("error", "/api/events: %s", p.err.msg);
        S_refuse(r, 500, "the events could not be read; try again", NULL, NULL);
        return 1;
    }
    /* Everything up to last has been looked at: a later poll of this
     * request, and the client's next one, start there. */
    if (last > r->q.after)
        r->q.after = last;
    if (p.n == 0 && !final) {
        cJSON_Delete(p.events);
        return 0;
    }
    long long head = api_head(a);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddItemToObject(o, "events", p.events);
        cJSON_AddNumberToObject(o, "next", (double)r->q.after);
        cJSON_AddNumberToObject(o, "head", (double)head);
    } else {
        cJSON_Delete(p.events);
    }
    r->headers[0] = '\0';
    S_answer(r, 200, o);
    return 1;
}
