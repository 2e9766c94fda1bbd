/* metrics — process-wide counters in C11 atomics, written out as
 * Prometheus text exposition format 0.0.4.
 *
 * Every label takes its value from a fixed table (routes, statuses, event
 * types, each with an "other"), so the number of series is bounded no
 * matter what visitors send. Counters are relaxed atomics: a scrape may
 * see one request's count and not yet its duration, which Prometheus
 * tolerates; nothing here blocks a request. Sums are kept in whole
 * nanoseconds so that they can be atomic integers too. */
#include "metrics.h"

#include <sodium.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>

typedef atomic_ullong S_counter;

static const char *const S_routes[] = {"/contact", "/register", "/health",
                                       "/metrics", "other"};
#define S_NROUTES (sizeof S_routes / sizeof S_routes[0])

static const int S_statuses[] = {200, 201, 303, 400, 401, 403, 404, 405,
                                 409, 413, 415, 422, 429, 500, 503};
#define S_NSTATUSES (sizeof S_statuses / sizeof S_statuses[0])
/* ... plus one slot for "other" */

/* The event types of the registry (events.h); a type added there later is
 * counted under "other" until it is named here. */
static const char *const S_event_types[] = {
    "UserRegistered", "ContactRequestSubmitted", "ContactRequestHandled",
    "PersonForgotten", "other"};
#define S_NTYPES (sizeof S_event_types / sizeof S_event_types[0])

static const double S_duration_bounds[] = {.001, .0025, .005, .01, .025, .05,
                                           .1,   .25,   .5,   1,   2.5};
static const double S_render_bounds[] = {.001, .0025, .005, .01, .025, .05, .1,
                                         .25,  .5,    1,    2.5, 5,   10};
static const double S_batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};

#define S_MAX_BUCKETS 16
#define S_NB(a) (sizeof a / sizeof a[0])
/* each histogram's bounds plus +Inf must fit its bucket array */
_Static_assert(S_NB(S_duration_bounds) < S_MAX_BUCKETS, "too many buckets");
_Static_assert(S_NB(S_render_bounds) < S_MAX_BUCKETS, "too many buckets");
_Static_assert(S_NB(S_batch_bounds) < S_MAX_BUCKETS, "too many buckets");

typedef struct S_histogram {
    const char *name, *help;
    const double *bounds;
    size_t nbounds;
    int seconds;                     /* observations are durations */
    S_counter bucket[S_MAX_BUCKETS]; /* per bucket, not cumulative; last is +Inf */
    S_counter sum;                   /* nanoseconds, or plain units */
} S_histogram;

static S_counter S_requests[S_NROUTES][S_NSTATUSES + 1];
static S_counter S_events[S_NTYPES];
static S_counter S_pages_rendered;
static S_counter S_rate_limited;
static S_counter S_honeypot;
static S_counter S_disk_full;
static S_counter S_store_writable = 1; /* a gauge: 0 or 1 */

static S_histogram S_request_duration = {
    "folio_request_duration_seconds",
    "Time from reading a request to the end of its answer.",
    S_duration_bounds, S_NB(S_duration_bounds), 1, {0}, 0};
static S_histogram S_render_duration = {
    "folio_render_duration_seconds",
    "Time one regeneration of pages took.",
    S_render_bounds, S_NB(S_render_bounds), 1, {0}, 0};
static S_histogram S_group_commit = {
    "folio_group_commit_events",
    "Events committed per transaction.",
    S_batch_bounds, S_NB(S_batch_bounds), 0, {0}, 0};

static void S_inc(S_counter *c, unsigned long long n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static unsigned long long S_get(S_counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void S_observe(S_histogram *h, double x)
{
    if (!(x >= 0)) /* negative or NaN: a clock that stepped back */
        x = 0;
    size_t i = 0;
    while (i < h->nbounds && x > h->bounds[i])
        i++;
    S_inc(&h->bucket[i], 1);
    double scaled = h->seconds ? x * 1e9 : x;
    if (scaled > 1e18) /* a day's worth of nonsense must not wrap the sum */
        scaled = 1e18;
    S_inc(&h->sum, (unsigned long long)(scaled + 0.5));
}

void metrics_request(const char *route, int status, double seconds)
{
    size_t r = S_NROUTES - 1;
    for (size_t i = 0; route && i + 1 < S_NROUTES; i++)
        if (strcmp(route, S_routes[i]) == 0)
            r = i;
    size_t s = S_NSTATUSES;
    for (size_t i = 0; i < S_NSTATUSES; i++)
        if (S_statuses[i] == status)
            s = i;
    S_inc(&S_requests[r][s], 1);
    S_observe(&S_request_duration, seconds);
}

void metrics_event(const char *type)
{
    size_t t = S_NTYPES - 1;
    for (size_t i = 0; type && i + 1 < S_NTYPES; i++)
        if (strcmp(type, S_event_types[i]) == 0)
            t = i;
    S_inc(&S_events[t], 1);
}

void metrics_render(int pages, double seconds)
{
    if (pages > 0)
        S_inc(&S_pages_rendered, (unsigned long long)pages);
    S_observe(&S_render_duration, seconds);
}

void metrics_rate_limited(void)
{
    S_inc(&S_rate_limited, 1);
}

void metrics_disk_full(void) { S_inc(&S_disk_full, 1); }

void metrics_store_writable(int writable)
{
    atomic_store_explicit(&S_store_writable, writable ? 1 : 0,
                          memory_order_relaxed);
}

void metrics_honeypot(void)
{
    S_inc(&S_honeypot, 1);
}

void metrics_group_commit(int events)
{
    S_observe(&S_group_commit, events > 0 ? (double)events : 0);
}

/* ---- exposition ------------------------------------------------------ */

static int S_header(buf *out, const char *name, const char *type,
                    const char *help)
{
    return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                      type);
}

static int S_write_counter(buf *out, const char *name, const char *help,
                           S_counter *c)
{
    if (S_header(out, name, "counter", help) < 0)
        return -1;
    return buf_printf(out, "%s %llu\n", name, S_get(c));
}

static int S_write_histogram(buf *out, S_histogram *h)
{
    if (S_header(out, h->name, "histogram", h->help) < 0)
        return -1;
    unsigned long long cum = 0;
    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += S_get(&h->bucket[i]);
        int rc = i < h->nbounds
                     ? buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", h->name,
                                  h->bounds[i], cum)
                     : buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n",
                                  h->name, cum);
        if (rc < 0)
            return -1;
    }
    unsigned long long sum = S_get(&h->sum);
    int rc = h->seconds
                 ? buf_printf(out, "%s_sum %llu.%09llu\n", h->name,
                              sum / 1000000000ULL, sum % 1000000000ULL)
                 : buf_printf(out, "%s_sum %llu\n", h->name, sum);
    if (rc < 0)
        return -1;
    /* _count is the +Inf bucket, so the two always agree in one scrape */
    return buf_printf(out, "%s_count %llu\n", h->name, cum);
}

static int S_write_requests(buf *out)
{
    if (S_header(out, "folio_requests_total", "counter",
                 "Requests answered, by route and status.") < 0)
        return -1;
    /* Only series that have happened: most route/status pairs never do. */
    for (size_t r = 0; r < S_NROUTES; r++) {
        for (size_t s = 0; s <= S_NSTATUSES; s++) {
            unsigned long long n = S_get(&S_requests[r][s]);
            if (n == 0)
                continue;
            char status[16];
            if (s < S_NSTATUSES)
                snprintf(status, sizeof status, "%d", S_statuses[s]);
            else
                snprintf(status, sizeof status, "other");
            if (buf_printf(out,
                           "folio_requests_total{route=\"%s\",status=\"%s\"} "
                           "%llu\n",
                           S_routes[r], status, n) < 0)
                return -1;
        }
    }
    return 0;
}

static int S_write_events(buf *out)
{
    if (S_header(out, "folio_events_appended_total", "counter",
                 "Events appended to the store, by type.") < 0)
        return -1;
    for (size_t t = 0; t < S_NTYPES; t++)
        if (buf_printf(out, "folio_events_appended_total{type=\"%s\"} %llu\n",
                       S_event_types[t], S_get(&S_events[t])) < 0)
            return -1;
    return 0;
}

/* ---- consumers ------------------------------------------------------------
 * Consumer names come from folio.yml (mail, one per webhook), not from
 * visitors; still, the table is bounded and they are escaped as label
 * values. A slot's name is written once, under the mutex, before its
 * count is published (release), and read after that count (acquire). */
#define S_MAX_CONSUMERS 32

typedef struct S_consumer_series {
    char name[128];
    atomic_int used;
    S_counter deliveries[3];
    atomic_llong lag, dead;
} S_consumer_series;

static S_consumer_series S_consumers[S_MAX_CONSUMERS + 1]; /* + "other" */
static pthread_mutex_t S_consumers_mu = PTHREAD_MUTEX_INITIALIZER;

static S_consumer_series *S_consumer_slot(const char *name)
{
    for (size_t i = 0; i < S_MAX_CONSUMERS; i++) {
        S_consumer_series *s = &S_consumers[i];
        if (atomic_load_explicit(&s->used, memory_order_acquire) &&
            !strcmp(s->name, name))
            return s;
    }
    pthread_mutex_lock(&S_consumers_mu);
    S_consumer_series *found = &S_consumers[S_MAX_CONSUMERS];
    for (size_t i = 0; i < S_MAX_CONSUMERS; i++) {
        S_consumer_series *s = &S_consumers[i];
        if (atomic_load_explicit(&s->used, memory_order_acquire)) {
            if (!strcmp(s->name, name)) {
                found = s;
                break;
            }
            continue;
        }
        if (strlen(name) < sizeof s->name) {
            memcpy(s->name, name, strlen(name) + 1);
            atomic_store_explicit(&s->used, 1, memory_order_release);
            found = s;
        }
        break;
    }
    pthread_mutex_unlock(&S_consumers_mu);
    return found;
}

void metrics_delivery(const char *consumer, int result)
{
    if (result < 0 || result > 2)
        return;
    S_inc(&S_consumer_slot(consumer ? consumer : "")->deliveries[result], 1);
}

void metrics_consumer_state(const char *consumer, long long lag_events,
                            long long dead_letters)
{
    S_consumer_series *s = S_consumer_slot(consumer ? consumer : "");
    atomic_store_explicit(&s->lag, lag_events, memory_order_relaxed);
    atomic_store_explicit(&s->dead, dead_letters, memory_order_relaxed);
}

/* A label value: backslash, quote and newline escaped. */
static int S_label(buf *out, const char *v)
{
    for (; *v; v++) {
        int rc = *v == '\\' ? buf_puts(out, "\\\\")
                 : *v == '"' ? buf_puts(out, "\\\"")
                 : *v == '\n' ? buf_puts(out, "\\n")
                 : buf_putc(out, *v);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int S_consumer_line(buf *out, const char *metric, size_t i,
                           const char *extra, long long value)
{
    const char *name = i < S_MAX_CONSUMERS ? S_consumers[i].name : "other";
    if (buf_printf(out, "%s{consumer=\"", metric) < 0 || S_label(out, name) < 0)
        return -1;
    return buf_printf(out, "\"%s} %lld\n", extra ? extra : "", value);
}

static int S_consumer_used(size_t i)
{
    if (i < S_MAX_CONSUMERS)
        return atomic_load_explicit(&S_consumers[i].used, memory_order_acquire);
    for (int r = 0; r < 3; r++) /* "other" only once something landed there */
        if (S_get(&S_consumers[i].deliveries[r]))
            return 1;
    return 0;
}

/* dead: folio_dead_letters, else the lag. */
static int S_consumer_gauge(buf *out, const char *name, const char *help,
                            int dead)
{
    if (S_header(out, name, "gauge", help) < 0)
        return -1;
    for (size_t i = 0; i <= S_MAX_CONSUMERS; i++) {
        S_consumer_series *s = &S_consumers[i];
        if (S_consumer_used(i) &&
            S_consumer_line(out, name, i, NULL,
                            atomic_load(dead ? &s->dead : &s->lag)) < 0)
            return -1;
    }
    return 0;
}

static int S_write_consumers(buf *out)
{
    static const char *const results[] = {",result=\"done\"",
                                          ",result=\"retry\"",
                                          ",result=\"dead\""};
    if (S_header(out, "folio_deliveries_total", "counter",
                 "Deliveries to consumers (mail, webhooks), by result.") < 0)
        return -1;
    for (size_t i = 0; i <= S_MAX_CONSUMERS; i++)
        for (int r = 0; S_consumer_used(i) && r < 3; r++)
            if (S_consumer_line(out, "folio_deliveries_total", i, results[r],
                                (long long)S_get(&S_consumers[i].deliveries[r])) < 0)
                return -1;
    return S_consumer_gauge(out, "folio_consumer_lag_events",
                            "Events in the log a consumer has not handled yet.",
                            0) < 0 ||
                   S_consumer_gauge(out, "folio_dead_letters",
                                    "Events a consumer gave up on, waiting for "
                                    "the owner.", 1) < 0
               ? -1
               : 0;
}

int metrics_write(buf *out)
{
    if (S_header(out, "folio_up", "gauge", "1 while folio-fcgi is serving.") < 0 ||
        buf_puts(out, "folio_up 1\n") < 0 ||
        S_write_requests(out) < 0 ||
        S_write_histogram(out, &S_request_duration) < 0 ||
        S_write_events(out) < 0 ||
        S_write_counter(out, "folio_pages_rendered_total",
                        "Pages written into public/ after a change.",
                        &S_pages_rendered) < 0 ||
        S_write_histogram(out, &S_render_duration) < 0 ||
        S_write_counter(out, "folio_rate_limited_total",
                        "Requests refused by the rate limit.",
                        &S_rate_limited) < 0 ||
        S_write_counter(out, "folio_honeypot_total",
                        "Contact forms dropped because the honeypot was filled.",
                        &S_honeypot) < 0 ||
        S_write_histogram(out, &S_group_commit) < 0 ||
        S_write_counter(out, "folio_disk_full_total",
                        "Submissions refused (503) because the disk was full.",
                        &S_disk_full) < 0 ||
        S_header(out, "folio_store_writable", "gauge",
                 "1 while the event store takes writes, 0 while its disk is full.") < 0 ||
        buf_printf(out, "folio_store_writable %llu\n", S_get(&S_store_writable)) < 0 ||
        S_write_consumers(out) < 0)
        return -1;
    return 0;
}

static void S_zero(S_counter *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&c[i], 0, memory_order_relaxed);
}

static void S_zero_histogram(S_histogram *h)
{
    S_zero(h->bucket, S_MAX_BUCKETS);
    S_zero(&h->sum, 1);
}

void metrics_reset(void)
{
    for (size_t r = 0; r < S_NROUTES; r++)
        S_zero(S_requests[r], S_NSTATUSES + 1);
    S_zero(S_events, S_NTYPES);
    S_zero(&S_pages_rendered, 1);
    S_zero(&S_rate_limited, 1);
    S_zero(&S_honeypot, 1);
    S_zero(&S_disk_full, 1);
    metrics_store_writable(1);
    S_zero_histogram(&S_request_duration);
    S_zero_histogram(&S_render_duration);
    S_zero_histogram(&S_group_commit);
    for (size_t i = 0; i <= S_MAX_CONSUMERS; i++) {
        S_zero(S_consumers[i].deliveries, 3);
        atomic_store(&S_consumers[i].lag, 0);
        atomic_store(&S_consumers[i].dead, 0);
    }
}

/* ---- who may read /metrics ------------------------------------------------ */

#define S_TOKEN_MIN 16

/* The configured token (NULL: none), pointing into raw or the environment. */
static int S_token(const cJSON *raw, const char **tok, folio_err *err)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(raw, "metrics_token");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(raw, "metrics_token_env");
    *tok = NULL;
    if (cJSON_IsNull(t))
        t = NULL;
    if (cJSON_IsNull(e))
        e = NULL;
    if (t && e)
        return err_set(err, "folio.yml: set metrics_token or metrics_token_env, not both");
    if (t) {
        if (!cJSON_IsString(t))
            return err_set(err, "folio.yml: metrics_token: expected a string");
        *tok = t->valuestring;
    } else if (e) {
        if (!cJSON_IsString(e) || !e->valuestring[0])
            return err_set(err, "folio.yml: metrics_token_env: expected the name of "
                           "an environment variable");
        *tok = getenv(e->valuestring);
        if (!*tok || !**tok)
            return err_set(err, "folio.yml: metrics_token_env: %s is not set in "
                           "folio-fcgi's environment", e->valuestring);
    } else {
        return 0;
    }
    if (strlen(*tok) < S_TOKEN_MIN)
        return err_set(err, "folio.yml: %s: the token must have at least %d "
                       "characters (openssl rand -hex 16 makes one)",
                       t ? "metrics_token" : "metrics_token_env", S_TOKEN_MIN);
    return 0;
}

int metrics_token_check(const cJSON *raw, folio_err *err)
{
    const char *tok;
    return S_token(raw, &tok, err);
}

int metrics_authorized(const cJSON *raw, const char *authorization,
                       folio_err *err)
{
    const char *tok;
    if (S_token(raw, &tok, err) != 0)
        return -1;
    if (!tok)
        return 1;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return 0;
    const char *cred = authorization + 7;
    while (*cred == ' ')
        cred++;
    /* Equal-length digests, compared in constant time: neither the
     * token's length nor its first wrong byte shows in the timing. */
    unsigned char want[32], got[32];
    if (crypto_generichash(want, sizeof want, (const unsigned char *)tok, strlen(tok),
                           NULL, 0) != 0 ||
        crypto_generichash(got, sizeof got, (const unsigned char *)cred, strlen(cred),
                           NULL, 0) != 0)
        return err_set(err, "cannot hash the metrics token");
    return sodium_memcmp(want, got, sizeof want) == 0;
}
