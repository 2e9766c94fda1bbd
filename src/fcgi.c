/* fcgi — the FastCGI responder (see fcgi.h for the shape).
 *
 * A request lives in a job slot from accept to answer. Workers never wait
 * for the disk: a valid submission is queued for the writer and the worker
 * goes back to accept, so the number of submissions sharing one fsync is
 * bounded by the slot pool, not by the number of threads. The responder
 * writes the answers of committed jobs. */
#include "fcgi.h"

#include <errno.h>
#include <limits.h>
#include <fcgiapp.h>
#include <netdb.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "api.h"
#include "baseurl.h"
#include "config.h"
#include "consumers.h"
#include "domain.h"
#include "forms.h"
#include "log.h"
#include "metrics.h"
#include "site.h"
#include "store.h"
#include "web.h"
#include "web_admin.h"
#include "web_app.h"

/* Requests in flight at once (accepted, not yet answered). nginx queues the
 * rest in the listen backlog. 256 covers the benchmark's 64 connections
 * with room for slow Argon2id registrations. */
#define S_SLOTS 256
#define S_BACKLOG 1024
#define S_MAX_DIRTY 16
#define S_RL_SIZE 4096 /* rate-limit table entries (power of two) */
#define S_RL_PROBE 8

enum S_route { R_OTHER, R_CONTACT, R_REGISTER, R_HEALTH, R_METRICS, R_API,
               R_VERIFY, R_LOGIN, R_LOGOUT, R_ACCOUNT, R_RESET,
               R_ACCOUNT_DO, R_ADMIN };

static const char *const S_route_names[] = {"other", "/contact", "/register",
                                            "/health", "/metrics", "/api/events",
                                            "/verify", "/login", "/logout",
                                            "/account/", "/reset",
                                            "/account/*", "/admin/"};

typedef struct S_job {
    FCGX_Request req;
    struct fcgi_server *srv;  /* for the themed error pages */
    struct S_job *next;
    enum S_route route;
    int json;            /* the client wants JSON answers */
    int in_eof;          /* stdin read to its end: the connection may close */
    long long t0_ns;
    char request_id[68];
    char method[12];
    char client[48];
    const char *path;    /* DOCUMENT_URI, SCRIPT_NAME or path_buf */
    char path_buf[64];   /* REQUEST_URI's path, when it is all there is */
    web_app_req app;     /* the forms, accounts and owner's pages (web_app.h) */
    int status;          /* set by the writer: 0, or 500 / 503 */
    unsigned long long seq;   /* commit sequence it waits to see rendered */
    long long deadline_ns;    /* answer by then even if not rendered */
    api_req api;              /* GET /api/events */
} S_job;

typedef struct S_jobq {
    S_job *head, *tail;
} S_jobq;

typedef struct S_rl_entry {
    uint64_t key;        /* 0: empty */
    double tokens;
    long long last_ms;
} S_rl_entry;

typedef struct S_cfg_node {
    folio_config cfg;
    struct S_cfg_node *older;
} S_cfg_node;

struct fcgi_server {
    char *site_dir;
    S_cfg_node *cfgs;         /* newest first; all kept until close */
    const folio_config *cfg;  /* the newest: read under mu */
    int threads;
    int listen_fd;
    char listen_name[160];
    char *unix_path;          /* the socket file we created, or NULL */
    int rate_on;

    domain *writer_dom;       /* writer thread only */
    long long expired_at;     /* writer only: last look for stale sign-ups */
    store *ckpt;              /* checkpointer thread only */
    domain *reader_dom;       /* behind the site, under site_mu */
    site *site;               /* under site_mu */
    pthread_mutex_t site_mu;

    /* Everything below is under mu. */
    pthread_mutex_t mu;
    pthread_cond_t slot_cv, writer_cv, render_cv, resp_cv, ckpt_cv;
    S_job *slots;
    S_job *free_slots;
    S_jobq writeq;            /* valid submissions and health probes */
    S_jobq readyq;            /* answers to write now */
    S_jobq waitq;             /* committed, waiting for their render */
    char dirty[S_MAX_DIRTY][48];
    size_t ndirty;
    unsigned long long commit_seq, dirty_seq, rendered_seq;
    int stop_accept, stop_writer, stop_render, stop_resp, stop_ckpt;

    /* Argon2id takes 64 MiB and a core per hash: more hashes at once than
     * cores only add memory, so they queue here. */
    sem_t hash_sem;
    int hash_sem_ok;

    pthread_mutex_t rl_mu;
    S_rl_entry *rl;
    unsigned char rl_key[crypto_shorthash_KEYBYTES]; /* random per process */

    pthread_t *workers;
    pthread_t writer, renderer, responder, checkpointer;
    int started;
    atomic_int disk_full;     /* the writer's last word on the store's disk */

    /* The log's readers (mail, webhooks): threads of their own, woken
     * after each commit; never on the request or writer path. */
    consumers *consumers;
    /* GET /api/events: one thread answers them, parking long-polls; the
     * writer's commits wake it (api_cv, under mu like apiq and the rest). */
    api *api;                 /* the API thread only */
    pthread_cond_t api_cv;
    S_jobq apiq;              /* accepted, for the API thread */
    int api_jobs;             /* API requests holding a slot */
    int stop_api, api_started;
    pthread_t api_thread;

    web_admin *admin;         /* the owner's pages: their reads */
};

/* ---- small helpers ----------------------------------------------------- */

static void S_q_push(S_jobq *q, S_job *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
}

static S_job *S_q_take_all(S_jobq *q)
{
    S_job *h = q->head;
    q->head = q->tail = NULL;
    return h;
}

static const char *S_param(S_job *j, const char *name)
{
    return FCGX_GetParam(name, j->req.envp);
}

/* Copies src when every byte is in allowed and it fits; else fallback. */
static void S_copy_token(char *out, size_t outlen, const char *src,
                         const char *allowed, const char *fallback)
{
    size_t n = src ? strlen(src) : 0;
    if (n == 0 || n >= outlen || strspn(src, allowed) != n) {
        snprintf(out, outlen, "%s", fallback);
        return;
    }
    memcpy(out, src, n + 1);
}

static void S_request_id(S_job *j)
{
    web_request_id(j->request_id, S_param(j, "HTTP_X_REQUEST_ID"));
}

/* The request's headers as the shared form code (web.h) reads them. */
static void S_web_request(S_job *j, web_request *rq)
{
    *rq = (web_request){
        .origin = S_param(j, "HTTP_ORIGIN"), .referer = S_param(j, "HTTP_REFERER"),
        .content_type = S_param(j, "CONTENT_TYPE"),
        .content_length = S_param(j, "CONTENT_LENGTH"),
        .accept = S_param(j, "HTTP_ACCEPT"), .client = j->client,
        .request_id = j->request_id, .method = j->method, .path = j->path,
        .query = S_param(j, "QUERY_STRING"), .cookie = S_param(j, "HTTP_COOKIE")};
}

static const folio_config *S_cfg(fcgi_server *s)
{
    pthread_mutex_lock(&s->mu);
    const folio_config *c = s->cfg;
    pthread_mutex_unlock(&s->mu);
    return c;
}

/* ---- rate limit: a token bucket per client address --------------------- */

/* Returns 0 when allowed, else the seconds to wait. A fixed table: when the
 * probe window is full the least recently seen client is evicted, so memory
 * stays bounded whatever the number of addresses. */
static int S_rate_check(fcgi_server *s, const char *client)
{
    if (!s->rate_on)
        return 0;
    const folio_config *cfg = S_cfg(s);
    double rate = cfg->rate_per_min / 60.0, burst = cfg->rate_burst;
    if (rate <= 0 || burst < 1)
        return 0;
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)client, strlen(client),
                     s->rl_key);
    uint64_t k;
    memcpy(&k, h, sizeof k);
    if (k == 0)
        k = 1;
    long long now = util_now_ms();
    int wait = 0;
    pthread_mutex_lock(&s->rl_mu);
    size_t base = (size_t)(k & (S_RL_SIZE - 1)), victim = base;
    S_rl_entry *e = NULL;
    for (size_t i = 0; i < S_RL_PROBE; i++) {
        S_rl_entry *c = &s->rl[(base + i) & (S_RL_SIZE - 1)];
        if (c->key == k || c->key == 0) {
            e = c;
            break;
        }
        if (c->last_ms < s->rl[victim].last_ms)
            victim = (base + i) & (S_RL_SIZE - 1);
    }
    if (!e)
        e = &s->rl[victim];
    if (e->key != k) {
        e->key = k;
        e->tokens = burst;
        e->last_ms = now;
    }
    double t = e->tokens + (double)(now - e->last_ms) / 1000.0 * rate;
    e->tokens = t > burst ? burst : t;
    e->last_ms = now;
    if (e->tokens >= 1.0) {
        e->tokens -= 1.0;
    } else {
        double w = (1.0 - e->tokens) / rate;   /* seconds, rounded up */
        wait = (int)w;
        if ((double)wait < w)
            wait++;
    }
    pthread_mutex_unlock(&s->rl_mu);
    return wait;
}

/* ---- the listen socket -------------------------------------------------- */

/* A unix socket with its mode set explicitly: bound under a tight umask so
 * that it is never reachable with looser permissions, then chmod'ed. */
static int S_listen_unix(fcgi_server *s, const char *path, unsigned mode,
                         folio_err *err)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        return err_set(err, "socket path too long (%zu bytes, at most %zu): %s",
                       strlen(path), sizeof sa.sun_path - 1, path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return err_set(err, "%s exists and is not a socket", path);
        /* A socket left by a previous run: refuse if someone answers. */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
            close(probe);
            return err_set(err, "%s: another folio-fcgi is listening there", path);
        }
        if (probe >= 0)
            close(probe);
        if (unlink(path) != 0)
            return err_set(err, "cannot remove stale socket %s: %s", path,
                           strerror(errno));
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_set(err, "socket: %s", strerror(errno));
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    umask(old);
    if (rc != 0) {
        close(fd);
        return err_set(err, "cannot bind %s: %s", path, strerror(e));
    }
    s->unix_path = util_strdup(path);
    if (chmod(path, (mode_t)mode) != 0 || listen(fd, S_BACKLOG) != 0) {
        e = errno;
        close(fd);
        return err_set(err, "cannot listen on %s: %s", path, strerror(e));
    }
    s->listen_fd = fd;
    snprintf(s->listen_name, sizeof s->listen_name, "unix:%s", path);
    return 0;
}

static int S_listen_tcp(fcgi_server *s, const char *hostport, folio_err *err)
{
    char host[128];
    const char *colon = strrchr(hostport, ':');
    size_t hl = colon ? (size_t)(colon - hostport) : 0;
    if (!colon || hl >= sizeof host || !colon[1])
        return err_set(err, "tcp address must be HOST:PORT, not '%s'", hostport);
    memcpy(host, hostport, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (g != 0)
        return err_set(err, "tcp address '%s': %s", hostport, gai_strerror(g));
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, S_BACKLOG) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return err_set(err, "cannot listen on %s: %s", hostport, strerror(e));
    }
    freeaddrinfo(ai);
    s->listen_fd = fd;
    snprintf(s->listen_name, sizeof s->listen_name, "tcp:%s", hostport);
    return 0;
}

/* ---- answers ------------------------------------------------------------ */

static const char *S_reason(int status)
{
    return web_reason(status);
}

/* Writes the whole answer, logs the request line, counts it and ends the
 * request. extra_headers are built by folio, never from visitor input. */
static void S_send(S_job *j, int status, const char *ctype,
                   const char *extra_headers, const char *body, size_t blen)
{
    buf h = BUF_INIT;
    /* an answer with its own Cache-Control (the owner's pages: private,
     * no-store) keeps it; every other one is no-store */
    int own_cc = extra_headers && strstr(extra_headers, "Cache-Control:");
    int rc = buf_printf(&h,
                        "Status: %d %s\r\nContent-Type: %s\r\n"
                        "Content-Length: %zu\r\n%s"
                        "X-Content-Type-Options: nosniff\r\n%s\r\n",
                        status, S_reason(status), ctype, blen,
                        own_cc ? "" : "Cache-Control: no-store, private\r\n",
                        extra_headers ? extra_headers : "");
    /* A failed write means the web server went away: nothing to tell it,
     * and the log line below still records the answer we meant. */
    if (rc == 0 && FCGX_PutStr(h.ptr, (int)h.len, j->req.out) == (int)h.len && blen)
        (void)FCGX_PutStr(body, (int)blen, j->req.out);
    buf_free(&h);

    double secs = (double)(util_mono_ns() - j->t0_ns) / 1e9;
    metrics_request(S_route_names[j->route], status, secs);
    cJSON *f = cJSON_CreateObject();
    if (f) {
        cJSON_AddStringToObject(f, "request_id", j->request_id);
        cJSON_AddStringToObject(f, "method", j->method);
        cJSON_AddStringToObject(f, "route", S_route_names[j->route]);
        cJSON_AddNumberToObject(f, "status", status);
        cJSON_AddNumberToObject(f, "duration_ms",
                                (double)(long long)(secs * 1e5 + 0.5) / 100.0);
        cJSON_AddStringToObject(f, "client", j->client);
    }
    log_json(status >= 500 ? "error" : "info", f);

    /* Once stdin is read to its end nothing is left unread, so a plain
     * close is clean; libfcgi otherwise half-closes and waits for the web
     * server to hang up, a round trip we cannot afford per request. */
    if (j->in_eof)
        FCGX_Detach(&j->req);
    FCGX_Finish_r(&j->req);
}

/* Sends a web_answer (web.h) and frees it. */
static void S_send_answer(S_job *j, web_answer *a)
{
    S_send(j, a->status, a->ctype, a->headers, a->body.ptr ? a->body.ptr : "",
           a->body.len);
    web_answer_free(a);
}

static void S_send_json(S_job *j, int status, cJSON *obj, const char *hdrs)
{
    web_answer a = WEB_ANSWER_INIT;
    web_json(&a, status, obj, hdrs);
    S_send_answer(j, &a);
}

/* The site's own error page (templates/error.mustache) for web.c's
 * refusals, so that each looks like the rest of the site; the site is read
 * under its lock, as a reload swaps it. */
static int S_error_page(void *ud, int status, const char *reason,
                        const char *msg, buf *out)
{
    fcgi_server *s = ud;
    folio_err err = {{0}};
    pthread_mutex_lock(&s->site_mu);
    int rc = s->site ? site_render_error(s->site, status, reason, msg, out, &err)
                     : err_set(&err, "no site loaded");
    pthread_mutex_unlock(&s->site_mu);
    if (rc != 0)
        log_msg("error", "cannot render the error page: %s", err.msg);
    return rc;
}

static void S_send_html_msg(S_job *j, int status, const char *msg,
                            const char *hdrs)
{
    web_answer a = WEB_ANSWER_INIT;
    web_html_msg(&a, status, msg, hdrs);
    S_send_answer(j, &a);
}

/* A refusal that is not about form fields: {"ok":false,"error":msg}. */
static void S_refuse(S_job *j, int status, const char *msg, const char *hdrs)
{
    if (!j->json) {
        S_send_html_msg(j, status, msg, hdrs);
        return;
    }
    web_answer a = WEB_ANSWER_INIT;
    web_refuse(&a, 1, status, msg, hdrs);
    S_send_answer(j, &a);
}

static int S_rate_check(fcgi_server *s, const char *client);

/* A form's limit per client (web_app.h), counted in /metrics. */
static int S_rate_app(void *ud, const char *client)
{
    int wait = S_rate_check(ud, client);
    if (wait > 0)
        metrics_rate_limited();
    return wait;
}

/* What the shared routes (web_app.h) borrow of the server. */
static void S_app(fcgi_server *s, web_app *app)
{
    *app = (web_app){.cfg = S_cfg(s), .site = &s->site, .site_mu = &s->site_mu,
                     .reader = s->reader_dom, .hash_sem = &s->hash_sem,
                     .admin = s->admin, .rate = S_rate_app, .rate_ud = s};
}

/* The writer's verdict on a job whose store had no room (answered 503 with
 * Retry-After): an internal status, never sent as such. */
#define S_DISK_FULL 507
#define S_RETRY_AFTER "Retry-After: 120\r\n"

/* The answer to a job the writer has handled. */
static void S_answer_committed(fcgi_server *s, S_job *j)
{
    if (j->route == R_HEALTH) {
        int ok = j->status == 200;
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddBoolToObject(o, "ok", ok);
            cJSON_AddStringToObject(o, "database", ok ? "writable"
                                    : j->status == S_DISK_FULL ? "disk full"
                                                               : "unavailable");
            /* a receiver being down leaves the site healthy: named only */
            if (s->consumers)
                cJSON_AddItemToObject(o, "consumers",
                                      consumers_health(s->consumers));
        }
        S_send_json(j, ok ? 200 : 503, o, ok ? NULL : S_RETRY_AFTER);
        return;
    }
    if (j->status == S_DISK_FULL) {
        metrics_disk_full();
        S_refuse(j, 503, "the site cannot store submissions right now; nothing "
                 "was kept, please send it again in a few minutes", S_RETRY_AFTER);
        return;
    }
    web_answer a = WEB_ANSWER_INIT;
    web_app app;
    S_app(s, &app);
    web_app_answer(&app, &j->app, j->status >= 500, &a);
    S_send_answer(j, &a);
}

/* ---- job slots ---------------------------------------------------------- */

static S_job *S_slot_get(fcgi_server *s)
{
    pthread_mutex_lock(&s->mu);
    while (!s->free_slots && !s->stop_accept)
        pthread_cond_wait(&s->slot_cv, &s->mu);
    S_job *j = s->stop_accept ? NULL : s->free_slots;
    if (j)
        s->free_slots = j->next;
    pthread_mutex_unlock(&s->mu);
    return j;
}

static void S_slot_put(fcgi_server *s, S_job *j)
{
    web_app_req_clear(&j->app);
    j->status = 0;
    j->in_eof = 0;
    j->json = 0;
    api_req_done(&j->api);
    pthread_mutex_lock(&s->mu);
    j->next = s->free_slots;
    s->free_slots = j;
    pthread_cond_signal(&s->slot_cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- workers: from accept to a queued command or an answer ------------- */

/* Sets j->path and returns the route. */
static enum S_route S_route_of(S_job *j)
{
    const char *path = S_param(j, "DOCUMENT_URI");
    if (!path)
        path = S_param(j, "SCRIPT_NAME");
    j->path = path;
    if (!path) {
        const char *uri = S_param(j, "REQUEST_URI");
        if (!uri)
            return R_OTHER;
        size_t n = strcspn(uri, "?");
        if (n >= sizeof j->path_buf)
            return R_OTHER;
        memcpy(j->path_buf, uri, n);
        j->path_buf[n] = '\0';
        path = j->path = j->path_buf;
    }
    if (!strcmp(path, "/health"))
        return R_HEALTH;
    if (!strcmp(path, "/metrics"))
        return R_METRICS;
    if (!strcmp(path, "/api/events"))
        return R_API;
    static const enum S_route app[] = {
        [WEB_APP_NONE] = R_OTHER,        [WEB_APP_CONTACT] = R_CONTACT,
        [WEB_APP_REGISTER] = R_REGISTER, [WEB_APP_VERIFY] = R_VERIFY,
        [WEB_APP_LOGIN] = R_LOGIN,       [WEB_APP_LOGOUT] = R_LOGOUT,
        [WEB_APP_ACCOUNT] = R_ACCOUNT,   [WEB_APP_RESET] = R_RESET,
        [WEB_APP_ACCOUNT_DO] = R_ACCOUNT_DO, [WEB_APP_ADMIN] = R_ADMIN};
    return app[web_app_route(path)];
}

/* Reads exactly the declared body and checks that nothing follows it. */
static int S_read_body(S_job *j, size_t len, char **out, folio_err *err)
{
    char *body = malloc(len + 1);
    if (!body)
        return err_set(err, "out of memory");
    int n = len ? FCGX_GetStr(body, (int)len, j->req.in) : 0;
    if (n < 0 || (size_t)n != len) {
        free(body);
        return err_set(err, "the body is shorter than CONTENT_LENGTH (%d of %zu bytes)",
                       n < 0 ? 0 : n, len);
    }
    if (FCGX_GetChar(j->req.in) != EOF) {
        free(body);
        return err_set(err, "the body is longer than CONTENT_LENGTH");
    }
    j->in_eof = 1;
    body[len] = '\0';
    *out = body;
    return 0;
}

static void S_enqueue(fcgi_server *s, S_job *j)
{
    pthread_mutex_lock(&s->mu);
    S_q_push(&s->writeq, j);
    pthread_cond_signal(&s->writer_cv);
    pthread_mutex_unlock(&s->mu);
}

/* The forms, accounts and owner's pages (web_app.h): the checks before
 * the store here, in the worker; the store's part in the writer. Returns 1
 * when the job went to the writer, 0 when it was answered. */
static int S_app_request(fcgi_server *s, S_job *j)
{
    web_app app;
    S_app(s, &app);
    web_request rq;
    S_web_request(j, &rq);
    web_answer a = WEB_ANSWER_INIT;
    int step = web_app_start(&app, &j->app, &rq, &a);
    j->json = j->app.json;
    if (step == WEB_APP_BODY) {
        folio_err err = {{0}};
        char *body = NULL;
        if (S_read_body(j, j->app.body_len, &body, &err) != 0) {
            S_refuse(j, 400, err.msg, NULL);
            return 0;
        }
        step = web_app_body(&app, &j->app, &rq, body, &a);
        sodium_memzero(body, j->app.body_len);
        free(body);
    }
    if (step != WEB_APP_WRITE) {
        S_send_answer(j, &a);
        return 0;
    }
    web_answer_free(&a);
    S_enqueue(s, j);
    return 1;
}

static int S_api_accept(fcgi_server *s, S_job *j);

/* Routes one accepted request. Returns 1 when the job now belongs to the
 * writer (it is answered later), 0 when it has been answered. */
static int S_handle(fcgi_server *s, S_job *j)
{
    j->t0_ns = util_mono_ns();
    S_request_id(j);
    S_copy_token(j->method, sizeof j->method, S_param(j, "REQUEST_METHOD"),
                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "?");
    S_copy_token(j->client, sizeof j->client, S_param(j, "REMOTE_ADDR"),
                 "0123456789abcdefABCDEF.:", "?");
    j->route = S_route_of(j);
    j->json = forms_wants_json(S_param(j, "HTTP_ACCEPT"));
    int get = !strcmp(j->method, "GET") || !strcmp(j->method, "HEAD");
    switch (j->route) {
    case R_HEALTH:
        if (!get) {
            S_refuse(j, 405, "use GET", "Allow: GET, HEAD\r\n");
            return 0;
        }
        S_enqueue(s, j);   /* the writer's own connection answers */
        return 1;
    case R_METRICS:
        if (!get) {
            S_refuse(j, 405, "use GET", "Allow: GET, HEAD\r\n");
            return 0;
        }
        /* folio.yml metrics_token: /metrics private without nginx's help. */
        if (metrics_authorized(S_cfg(s)->raw, S_param(j, "HTTP_AUTHORIZATION"), NULL) != 1) {
            S_refuse(j, 401, "/metrics needs the bearer token (folio.yml metrics_token)",
                     "WWW-Authenticate: Bearer realm=\"folio metrics\"\r\n");
            return 0;
        }
        {
            buf b = BUF_INIT;
            /* The gauge follows the disk between submissions too. */
            int low = store_space_low(S_cfg(j->srv)->db_path);
            if (low || atomic_load(&j->srv->disk_full))
                metrics_store_writable(!low);
            if (metrics_write(&b) == 0)
                S_send(j, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
                       b.ptr ? b.ptr : "", b.len);
            else
                S_refuse(j, 500, "metrics unavailable", NULL);
            buf_free(&b);
        }
        return 0;
    case R_API:
        j->json = 1;
        return S_api_accept(s, j);
    default:
        return S_app_request(s, j);   /* which answers 404 to any other */
    }
}

static void *S_worker(void *arg)
{
    fcgi_server *s = arg;
    pthread_setname_np(pthread_self(), "folio-worker");
    for (;;) {
        S_job *j = S_slot_get(s);
        if (!j)
            break;
        if (FCGX_Accept_r(&j->req) < 0) {
            S_slot_put(s, j);
            pthread_mutex_lock(&s->mu);
            int stop = s->stop_accept;
            pthread_mutex_unlock(&s->mu);
            if (stop)
                break;
            log_msg("error", "accept failed: %s", strerror(errno));
            struct timespec pause = {0, 50 * 1000000L};
            nanosleep(&pause, NULL); /* e.g. EMFILE: do not spin */
            continue;
        }
        if (S_handle(s, j) == 0)
            S_slot_put(s, j);
    }
    return NULL;
}

/* ---- the writer: group commit ------------------------------------------ */

static void S_run_command(fcgi_server *s, S_job *j)
{
    folio_err err = {{0}};
    web_request rq;
    S_web_request(j, &rq);
    int rc = web_app_run(&j->app, s->writer_dom, &rq, &err);
    if (rc == DOMAIN_ERROR) {
        int full = store_err_disk_full(&err) || domain_disk_full(s->writer_dom);
        j->status = full ? S_DISK_FULL : 500;
        log_msg("error", "request %s: %s", j->request_id, err.msg);
    }
}

/* Tells /metrics (and the log, on a change) whether the store has room. */
static void S_note_disk(fcgi_server *s, int full)
{
    if (atomic_exchange(&s->disk_full, full) != full)
        log_msg(full ? "error" : "info", full ? "the disk under the event store "
                "is full: submissions are answered 503 until space returns"
                : "the event store takes writes again");
    metrics_store_writable(!full);
}

/* A ranked change "LIST@A[-B]" (site_range_fn) joins the one already
 * dirty for LIST, the two ranges merged, so that a burst of sign-ups stays
 * one name; when the set is full, the whole LIST. 1 when handled. */
static int S_dirty_ranked(fcgi_server *s, const char *name)
{
    const char *at = strchr(name, '@');
    if (!at)
        return 0;
    size_t ln = (size_t)(at - name) + 1;
    long long a = 0, b = 0, x = 0, y = 0;
    if (sscanf(at + 1, "%lld-%lld", &a, &b) < 1)
        return 0;
    if (b < a)
        b = a;
    for (size_t d = 0; d < s->ndirty; d++) {
        if (strncmp(s->dirty[d], name, ln) != 0)
            continue;
        if (sscanf(s->dirty[d] + ln, "%lld-%lld", &x, &y) < 1)
            return 0;
        if (y < x)
            y = x;
        snprintf(s->dirty[d] + ln, sizeof s->dirty[d] - ln, "%lld-%lld", a < x ? a : x,
                 b > y ? b : y);
        return 1;
    }
    if (s->ndirty + 1 < S_MAX_DIRTY)
        return 0;
    if (s->ndirty < S_MAX_DIRTY)
        snprintf(s->dirty[s->ndirty++], sizeof s->dirty[0], "%.*s", (int)ln - 1, name);
    return 1;
}

/* Adds the group's changed data names to the renderer's dirty set. */
static void S_mark_dirty(fcgi_server *s, S_job *group, unsigned long long seq)
{
    int any = 0;
    for (S_job *j = group; j; j = j->next) {
        if (j->status || j->app.res.rc != DOMAIN_OK)
            continue;
        for (size_t k = 0; k < j->app.res.nchanged && k < DOMAIN_MAX_CHANGED; k++) {
            const char *name = j->app.res.changed[k];
            any = 1;
            if (S_dirty_ranked(s, name))
                continue;
            size_t d = 0;
            while (d < s->ndirty && strcmp(s->dirty[d], name) != 0)
                d++;
            if (d == s->ndirty && d < S_MAX_DIRTY &&
                strlen(name) < sizeof s->dirty[0]) {
                memcpy(s->dirty[d], name, strlen(name) + 1);
                s->ndirty++;
            }
        }
    }
    if (any) {
        s->dirty_seq = seq;
        pthread_cond_signal(&s->render_cv);
    }
}

/* Runs every command of the group in one transaction: one fsync. */
static void S_commit_group(fcgi_server *s, S_job *group, int n)
{
    folio_err err = {{0}};
    int failed = domain_begin(s->writer_dom, &err) != 0;
    if (!failed) {
        for (S_job *j = group; j; j = j->next)
            S_run_command(s, j);
        failed = domain_commit(s->writer_dom, &err) != 0;
        if (failed)
            domain_rollback(s->writer_dom);
    }
    if (failed) {
        int full = store_err_disk_full(&err) || domain_disk_full(s->writer_dom);
        log_msg("error", "group commit of %d submission(s) failed: %s", n, err.msg);
        for (S_job *j = group; j; j = j->next)
            j->status = full ? S_DISK_FULL : 500;
        S_note_disk(s, full);
        return;
    }
    int full = 0;
    for (S_job *j = group; j; j = j->next)
        full |= j->status == S_DISK_FULL;
    S_note_disk(s, full);
    metrics_group_commit(n);
    for (S_job *j = group; j; j = j->next)
        if (!j->status && j->app.res.rc == DOMAIN_OK &&
            (j->route == R_CONTACT || j->route == R_REGISTER || j->route == R_VERIFY))
            metrics_event(j->route == R_CONTACT  ? "ContactRequestSubmitted"
                          : j->route == R_VERIFY ? "MemberVerified"
                                                 : "UserRegistered");
}

/* Hands the handled jobs to the responder: those whose pages changed wait
 * for the render round covering this commit (at most staleness_ms). */
static void S_hand_over(fcgi_server *s, S_job *list, int committed)
{
    long long deadline = util_mono_ns() + (long long)S_cfg(s)->staleness_ms * 1000000LL;
    pthread_mutex_lock(&s->mu);
    unsigned long long seq = committed ? ++s->commit_seq : s->commit_seq;
    if (committed)
        S_mark_dirty(s, list, seq);
    while (list) {
        S_job *j = list;
        list = list->next;
        if (committed && !j->status && j->app.res.rc == DOMAIN_OK && j->app.res.nchanged) {
            j->seq = seq;
            j->deadline_ns = deadline;
            S_q_push(&s->waitq, j);
        } else {
            S_q_push(&s->readyq, j);
        }
    }
    pthread_cond_signal(&s->resp_cv);
    if (committed)
        pthread_cond_signal(&s->api_cv);
    pthread_mutex_unlock(&s->mu);
    if (committed)
        consumers_wake(s->consumers);
}

/* ---- WAL checkpoints: beside the writer, not in its commits -------------- */

/* The checkpointer's rhythm: a PASSIVE checkpoint every S_CKPT_MS while
 * commits come, a TRUNCATE once nothing was committed for S_CKPT_IDLE_MS.
 * Short rounds keep each one's writes and sync small: on bench/forms 5 ms
 * gave p99 16 ms, 10 ms 24 ms, 50 ms 34 ms (larger bursts of checkpoint
 * I/O stall the writer's commit syncs). */
#define S_CKPT_MS 5
#define S_CKPT_IDLE_MS 1000
/* The WAL restarts from its beginning only when a write transaction
 * begins with every frame copied back; under a steady stream of commits
 * the background checkpoint is always a little behind, so past this many
 * frames (16 MiB of 4 KiB pages) the writer copies the rest itself between
 * two groups: little is left by then. */
#define S_WAL_RESTART_FRAMES 4096

static void S_writer_checkpoint(fcgi_server *s)
{
    if (domain_wal_frames(s->writer_dom) < S_WAL_RESTART_FRAMES)
        return;
    folio_err err = {{0}};
    if (domain_checkpoint(s->writer_dom, 0, &err) != 0)
        log_msg("warn", "%s", err.msg);
}

static void *S_checkpointer(void *arg)
{
    fcgi_server *s = arg;
    pthread_setname_np(pthread_self(), "folio-ckpt");
    unsigned long long seen = 0;
    long long quiet_since = util_mono_ns();
    int clean = 0;
    pthread_mutex_lock(&s->mu);
    while (!s->stop_ckpt) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += S_CKPT_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->ckpt_cv, &s->mu, &ts);
        if (s->stop_ckpt)
            break;
        unsigned long long seq = s->commit_seq;
        pthread_mutex_unlock(&s->mu);
        long long now = util_mono_ns();
        int truncate = 0;
        if (seq != seen) {
            seen = seq;
            quiet_since = now;
            clean = 0;
        } else if (!clean &&
                   now - quiet_since >= S_CKPT_IDLE_MS * 1000000LL) {
            truncate = 1;
        }
        folio_err err = {{0}};
        if ((truncate || !clean) &&
            store_checkpoint(s->ckpt, truncate, NULL, &err) != 0)
            log_msg("warn", "%s", err.msg);
        else if (truncate)
            clean = 1;
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Sign-ups never verified are erased after 7 days: the writer looks once
 * an hour, between groups (folio deliver does it too). */
static void S_writer_expire(fcgi_server *s)
{
    long long now = util_now_ms();
    if (s->expired_at && now - s->expired_at < 3600LL * 1000)
        return;
    s->expired_at = now;
    int n = 0;
    folio_err err = {{0}};
    if (domain_expire_pending(s->writer_dom, &n, &err) != 0)
        log_msg("error", "expiring sign-ups: %s", err.msg);
    else if (n)
        log_msg("info", "%d sign-up(s) never verified erased", n);
}

static void *S_writer(void *arg)
{
    fcgi_server *s = arg;
    pthread_setname_np(pthread_self(), "folio-writer");
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->writeq.head && !s->stop_writer)
            pthread_cond_wait(&s->writer_cv, &s->mu);
        S_job *all = S_q_take_all(&s->writeq);
        int stop = s->stop_writer;
        pthread_mutex_unlock(&s->mu);
        if (!all && stop)
            break;
        S_job *cmds = NULL, **tail = &cmds, *probes = NULL;
        int n = 0;
        while (all) {
            S_job *j = all;
            all = all->next;
            j->next = NULL;
            if (j->route == R_HEALTH) {
                int full = domain_disk_full(s->writer_dom);
                S_note_disk(s, full);
                j->status = full ? S_DISK_FULL
                            : domain_writable(s->writer_dom) ? 200 : 503;
                j->next = probes;
                probes = j;
            } else {
                *tail = j;
                tail = &j->next;
                n++;
            }
        }
        if (cmds) {
            S_commit_group(s, cmds, n);
            S_hand_over(s, cmds, 1);
            S_writer_checkpoint(s);
            S_writer_expire(s);
        }
        if (probes)
            S_hand_over(s, probes, 0);
    }
    return NULL;
}

/* ---- the renderer: pages behind the writer, bursts coalesced ------------ */

static void *S_renderer(void *arg)
{
    fcgi_server *s = arg;
    pthread_setname_np(pthread_self(), "folio-render");
    char names[S_MAX_DIRTY][48];
    const char *ptrs[S_MAX_DIRTY];
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->ndirty && !s->stop_render)
            pthread_cond_wait(&s->render_cv, &s->mu);
        if (!s->ndirty && s->stop_render) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        /* Everything dirty so far is one round; what commits while it
         * renders accumulates for the next. */
        size_t n = s->ndirty;
        memcpy(names, s->dirty, sizeof names);
        unsigned long long seq = s->dirty_seq;
        s->ndirty = 0;
        pthread_mutex_unlock(&s->mu);

        for (size_t i = 0; i < n; i++)
            ptrs[i] = names[i];
        folio_err err = {{0}};
        int pages = 0;
        long long t0 = util_mono_ns();
        pthread_mutex_lock(&s->site_mu);
        int rc = site_render_affected(s->site, ptrs, n, &pages, &err);
        pthread_mutex_unlock(&s->site_mu);
        metrics_render(pages, (double)(util_mono_ns() - t0) / 1e9);
        if (rc != 0)
            log_msg("error", "re-rendering pages failed: %s", err.msg);

        pthread_mutex_lock(&s->mu);
        s->rendered_seq = seq;
        pthread_cond_signal(&s->resp_cv);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

/* ---- the responder: answers once durable (and rendered) ----------------- */

static void *S_responder(void *arg)
{
    fcgi_server *s = arg;
    pthread_setname_np(pthread_self(), "folio-respond");
    pthread_mutex_lock(&s->mu);
    for (;;) {
        S_job *ready = S_q_take_all(&s->readyq);
        S_job **tail = &ready;
        while (*tail)
            tail = &(*tail)->next;
        long long now = util_mono_ns();
        /* waitq is in commit order, so seq and deadline both ascend. */
        while (s->waitq.head &&
               (s->waitq.head->seq <= s->rendered_seq ||
                s->waitq.head->deadline_ns <= now || s->stop_resp)) {
            S_job *j = s->waitq.head;
            s->waitq.head = j->next;
            if (!s->waitq.head)
                s->waitq.tail = NULL;
            j->next = NULL;
            *tail = j;
            tail = &j->next;
        }
        if (ready) {
            pthread_mutex_unlock(&s->mu);
            while (ready) {
                S_job *j = ready;
                ready = ready->next;
                S_answer_committed(s, j);
                S_slot_put(s, j);
            }
            pthread_mutex_lock(&s->mu);
            continue;
        }
        if (s->stop_resp)
            break;
        if (s->waitq.head) {
            long long d = s->waitq.head->deadline_ns;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            long long left = d - now;
            ts.tv_sec += left / 1000000000LL;
            ts.tv_nsec += left % 1000000000LL;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->resp_cv, &s->mu, &ts);
        } else {
            pthread_cond_wait(&s->resp_cv, &s->mu);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the events API: answered off the workers, long-polls parked --------- */

/* API requests holding a slot at once (mostly parked long-polls): half the
 * slots, so that forms always have the other half. Beyond it: 503. */
#define S_API_MAX (S_SLOTS / 2)
/* How often parked long-polls look at the log when no commit of this
 * process woke them (events from another one: folio contact, a replay). */
#define S_API_POLL_MS 100

/* Worker: hands the request to the API thread, or refuses when full. */
static int S_api_accept(fcgi_server *s, S_job *j)
{
    pthread_mutex_lock(&s->mu);
    int full = s->api_jobs >= S_API_MAX || !s->api_started;
    if (!full) {
        s->api_jobs++;
        S_q_push(&s->apiq, j);
        pthread_cond_signal(&s->api_cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (full)
        S_refuse(j, 503, "too many API requests at once; retry shortly",
                 "Retry-After: 1\r\n");
    return !full;
}

static void S_api_finish(fcgi_server *s, S_job *j)
{
    S_send(j, j->api.status, "application/json", j->api.headers,
           j->api.body ? j->api.body : "", j->api.blen);
    pthread_mutex_lock(&s->mu);
    s->api_jobs--;
    pthread_mutex_unlock(&s->mu);
    S_slot_put(s, j);
}

/* A new request: refused, answered at once, or parked until its deadline. */
static void S_api_new(fcgi_server *s, S_job *j, S_job **parked)
{
    if (api_start(s->api, j->method, S_param(j, "QUERY_STRING"),
                  S_param(j, "HTTP_AUTHORIZATION"), j->request_id, &j->api) != 0 ||
        api_poll(s->api, &j->api, j->api.q.wait == 0)) {
        S_api_finish(s, j);
        return;
    }
    j->deadline_ns = util_mono_ns() + (long long)j->api.q.wait * 1000000000LL;
    j->next = *parked;
    *parked = j;
}

/* Sleeps (mu held) until woken, or the earliest deadline, or the next look
 * at the log while requests are parked. */
static void S_api_sleep(fcgi_server *s, const S_job *parked)
{
    if (!parked) {
        pthread_cond_wait(&s->api_cv, &s->mu);
        return;
    }
    long long now = util_mono_ns();
    long long until = now + S_API_POLL_MS * 1000000LL;
    for (const S_job *j = parked; j; j = j->next)
        if (j->deadline_ns < until)
            until = j->deadline_ns;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long left = until > now ? until - now : 0;
    ts.tv_sec += left / 1000000000LL;
    ts.tv_nsec += left % 1000000000LL;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->api_cv, &s->mu, &ts);
}

static void *S_api_thread(void *arg)
{
    fcgi_server *s = arg;
    pthread_setname_np(pthread_self(), "folio-api");
    S_job *parked = NULL;
    long long seen_head = api_head(s->api);
    unsigned long long seen_seq = 0;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (!s->apiq.head && !s->stop_api && s->commit_seq == seen_seq)
            S_api_sleep(s, parked);
        S_job *fresh = S_q_take_all(&s->apiq);
        int stop = s->stop_api;
        seen_seq = s->commit_seq;
        pthread_mutex_unlock(&s->mu);

        while (fresh) {
            S_job *j = fresh;
            fresh = fresh->next;
            S_api_new(s, j, &parked);
        }
        long long head = parked ? api_head(s->api) : seen_head;
        int moved = head != seen_head;
        seen_head = head;
        long long now = util_mono_ns();
        for (S_job **pp = &parked; *pp;) {
            S_job *j = *pp;
            int final = stop || j->deadline_ns <= now;
            if ((moved || final) && api_poll(s->api, &j->api, final)) {
                *pp = j->next;
                S_api_finish(s, j);
            } else {
                pp = &j->next;
            }
        }
        pthread_mutex_lock(&s->mu);
        if (stop && !parked && !s->apiq.head)
            break;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- life cycle ---------------------------------------------------------- */

/* A socket meant for the web server's group in a directory that group
 * cannot enter (var/ is 0700) answers nobody but folio: every form would
 * get a 502. Say so at start. */
static void S_check_socket_dir(const char *dir, unsigned mode)
{
    struct stat st;
    if ((mode & 0066) && stat(dir, &st) == 0 && !(st.st_mode & 0011))
        log_msg("warn", "the socket's directory %s is mode %04o: a web server "
                "running as another user cannot reach the socket; put it in "
                "/run/folio/ (see folio-fcgi(8))", dir, (unsigned)(st.st_mode & 07777));
}

static int S_open_listen(fcgi_server *s, const fcgi_opts *o, folio_err *err)
{
    const folio_config *cfg = s->cfg;
    const char *tcp = o->tcp ? o->tcp : (o->socket_path ? NULL : cfg->tcp);
    if (tcp && tcp[0])
        return S_listen_tcp(s, tcp, err);
    const char *path = o->socket_path ? o->socket_path : cfg->socket_path;
    if (!path || !path[0])
        return err_set(err, "no socket configured (fcgi.socket or --socket)");
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        if ((size_t)(slash - path) >= sizeof dir)
            return err_set(err, "socket path too long: %s", path);
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
        if (util_mkdirs(dir, 0750, err) != 0)
            return -1;
    } else {
        snprintf(dir, sizeof dir, "%s", slash ? "/" : ".");
    }
    if (S_listen_unix(s, path, cfg->socket_mode, err) != 0)
        return -1;
    S_check_socket_dir(dir, cfg->socket_mode);
    return 0;
}

static int S_open_handles(fcgi_server *s, folio_err *err)
{
    const folio_config *cfg = s->cfg;
    store_opts co = {cfg->sync_full, 0};
    if (domain_open(cfg, &s->writer_dom, err) != 0 ||
        domain_open(cfg, &s->reader_dom, err) != 0 ||
        domain_set_autocheckpoint(s->writer_dom, 0, err) != 0 ||
        store_open(cfg->db_path, &co, &s->ckpt, err) != 0)
        return err_prefix(err, "cannot open the event store %s", cfg->db_path);
    site_opts so = {.jobs = 1, .data = domain_site_data,
                    .data_ud = s->reader_dom,
                    .range = domain_site_range};
    s->site = site_open(cfg, &so, err);
    if (!s->site)
        return err_prefix(err, "cannot load the site");
    if (consumers_open_site(cfg, &s->consumers, err) != 0)
        return err_prefix(err, "cannot set up mail and webhooks");
    if (api_open(cfg, &s->api, err) != 0)
        return err_prefix(err, "cannot open the events API");
    if (web_admin_open(cfg, &s->admin, err) != 0)
        return -1;
    return 0;
}

static int S_init_sync(fcgi_server *s)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0 ||
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0)
        return -1;
    int rc = pthread_mutex_init(&s->mu, NULL) | pthread_mutex_init(&s->site_mu, NULL) |
             pthread_mutex_init(&s->rl_mu, NULL) | pthread_cond_init(&s->slot_cv, NULL) |
             pthread_cond_init(&s->writer_cv, NULL) |
             pthread_cond_init(&s->render_cv, NULL) | pthread_cond_init(&s->resp_cv, &ca) |
             pthread_cond_init(&s->ckpt_cv, &ca) | pthread_cond_init(&s->api_cv, &ca);
    pthread_condattr_destroy(&ca);
    return rc ? -1 : 0;
}

int fcgi_open(const fcgi_opts *o, fcgi_server **out, folio_err *err)
{
    *out = NULL;
    if (sodium_init() < 0)
        return err_set(err, "libsodium cannot start");
    if (FCGX_Init() != 0)
        return err_set(err, "libfcgi cannot start");
    /* Before SQLite starts: without memory statistics its allocations take
     * no global mutex, which the writer and the renderer would share.
     * SQLITE_MISUSE (SQLite started already) leaves them on: harmless. */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    fcgi_server *s = calloc(1, sizeof *s);
    S_cfg_node *node = calloc(1, sizeof *node);
    if (!s || !node) {
        free(s);
        free(node);
        return err_set(err, "out of memory");
    }
    s->listen_fd = -1;
    s->cfgs = node;
    s->site_dir = util_strdup(o->site_dir ? o->site_dir : ".");
    if (!s->site_dir || S_init_sync(s) != 0) {
        err_set(err, "out of memory");
        goto fail;
    }
    if (config_load(s->site_dir, &node->cfg, err) != 0 ||
        baseurl_apply(&node->cfg, err) != 0)
        goto fail;
    s->cfg = &node->cfg;
    if (metrics_token_check(s->cfg->raw, err) != 0)
        goto fail;
    s->threads = o->threads > 0 ? o->threads : s->cfg->threads;
    if (s->threads < 1 || s->threads > 256) {
        err_set(err, "threads must be 1 to 256, not %d", s->threads);
        goto fail;
    }
    const char *rl = getenv("FOLIO_RATE_LIMIT");
    s->rate_on = !(rl && !strcmp(rl, "0"));
    s->rl = calloc(S_RL_SIZE, sizeof *s->rl);
    s->slots = calloc(S_SLOTS, sizeof *s->slots);
    s->workers = calloc((size_t)s->threads, sizeof *s->workers);
    if (!s->rl || !s->slots || !s->workers) {
        err_set(err, "out of memory");
        goto fail;
    }
    randombytes_buf(s->rl_key, sizeof s->rl_key);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int hashers = cpus > 0 && cpus < s->threads ? (int)cpus : s->threads;
    if (sem_init(&s->hash_sem, 0, (unsigned)hashers) != 0) {
        err_set(err, "cannot set up the password hashing limit");
        goto fail;
    }
    s->hash_sem_ok = 1;
    if (S_open_handles(s, err) != 0 || S_open_listen(s, o, err) != 0)
        goto fail;
    for (int i = S_SLOTS - 1; i >= 0; i--) {
        if (FCGX_InitRequest(&s->slots[i].req, s->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
            err_set(err, "libfcgi cannot set up a request");
            goto fail;
        }
        s->slots[i].srv = s;
        s->slots[i].next = s->free_slots;
        s->free_slots = &s->slots[i];
    }
    *out = s;
    return 0;
fail:
    fcgi_close(s);
    return -1;
}

int fcgi_start(fcgi_server *s, folio_err *err)
{
    /* Pages that read the store may be behind it (events written while we
     * were down): render them once at start. */
    pthread_mutex_lock(&s->mu);
    const char *const *names = domain_data_names();
    for (size_t i = 0; names && names[i] && s->ndirty < S_MAX_DIRTY; i++)
        if (strlen(names[i]) < sizeof s->dirty[0])
            memcpy(s->dirty[s->ndirty++], names[i], strlen(names[i]) + 1);
    pthread_mutex_unlock(&s->mu);
    web_set_error_page(S_error_page, s);

    if (pthread_create(&s->writer, NULL, S_writer, s) != 0 ||
        pthread_create(&s->checkpointer, NULL, S_checkpointer, s) != 0 ||
        pthread_create(&s->renderer, NULL, S_renderer, s) != 0 ||
        pthread_create(&s->responder, NULL, S_responder, s) != 0)
        return err_set(err, "cannot start threads: %s", strerror(errno));
    if (pthread_create(&s->api_thread, NULL, S_api_thread, s) != 0)
        return err_set(err, "cannot start threads: %s", strerror(errno));
    s->api_started = 1;
    for (int i = 0; i < s->threads; i++)
        if (pthread_create(&s->workers[i], NULL, S_worker, s) != 0)
            return err_set(err, "cannot start worker threads: %s", strerror(errno));
    s->started = 1;
    if (consumers_start(s->consumers, err) != 0)
        return -1;
    return 0;
}

static void S_stop_flag(fcgi_server *s, int *flag, pthread_cond_t *cv)
{
    pthread_mutex_lock(&s->mu);
    *flag = 1;
    pthread_cond_broadcast(cv);
    pthread_mutex_unlock(&s->mu);
}

void fcgi_stop(fcgi_server *s)
{
    if (!s || !s->started)
        return;
    /* Stop accepting: shutdown() wakes the workers blocked in accept(). */
    S_stop_flag(s, &s->stop_accept, &s->slot_cv);
    FCGX_ShutdownPending();
    if (s->listen_fd >= 0)
        shutdown(s->listen_fd, SHUT_RDWR);
    for (int i = 0; i < s->threads; i++)
        pthread_join(s->workers[i], NULL);
    /* Parked long-polls get their (empty) answers now. */
    if (s->api_started) {
        S_stop_flag(s, &s->stop_api, &s->api_cv);
        pthread_join(s->api_thread, NULL);
        s->api_started = 0;
    }
    /* Then drain: every queued command is committed, every pending page
     * rendered, every request answered. */
    S_stop_flag(s, &s->stop_writer, &s->writer_cv);
    pthread_join(s->writer, NULL);
    S_stop_flag(s, &s->stop_ckpt, &s->ckpt_cv);
    pthread_join(s->checkpointer, NULL);
    S_stop_flag(s, &s->stop_render, &s->render_cv);
    pthread_join(s->renderer, NULL);
    S_stop_flag(s, &s->stop_resp, &s->resp_cv);
    pthread_join(s->responder, NULL);
    consumers_stop(s->consumers); /* after the writer: nothing wakes them */
    s->started = 0;
}

int fcgi_reload(fcgi_server *s, folio_err *err)
{
    S_cfg_node *node = calloc(1, sizeof *node);
    if (!node)
        return err_set(err, "out of memory");
    if (config_load(s->site_dir, &node->cfg, err) != 0) {
        free(node);
        return -1;
    }
    if (baseurl_apply(&node->cfg, err) != 0 ||
        metrics_token_check(node->cfg.raw, err) != 0) {
        config_free(&node->cfg);
        free(node);
        return -1;
    }
    site_opts so = {.jobs = 1, .data = domain_site_data, .data_ud = s->reader_dom,
                    .range = domain_site_range};
    site *fresh = site_open(&node->cfg, &so, err);
    if (!fresh) {
        config_free(&node->cfg);
        free(node);
        return -1;
    }
    pthread_mutex_lock(&s->site_mu);
    site *old = s->site;
    s->site = fresh;
    pthread_mutex_unlock(&s->site_mu);
    site_close(old);
    /* Older configs stay allocated: handles opened with them (the store)
     * and requests in flight may still point into them. */
    pthread_mutex_lock(&s->mu);
    node->older = s->cfgs;
    s->cfgs = node;
    s->cfg = &node->cfg;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

const char *fcgi_listen_name(const fcgi_server *s)
{
    return s->listen_name;
}

void fcgi_close(fcgi_server *s)
{
    if (!s)
        return;
    web_set_error_page(NULL, NULL);
    if (s->started)
        fcgi_stop(s);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->unix_path) {
        unlink(s->unix_path);
        free(s->unix_path);
    }
    if (s->site)
        site_close(s->site);
    if (s->reader_dom)
        domain_close(s->reader_dom);
    if (s->writer_dom)
        domain_close(s->writer_dom);
    api_close(s->api);
    web_admin_close(s->admin);
    store_close(s->ckpt);
    consumers_close(s->consumers);
    while (s->cfgs) {
        S_cfg_node *n = s->cfgs;
        s->cfgs = n->older;
        config_free(&n->cfg);
        free(n);
    }
    free(s->slots);
    free(s->rl);
    free(s->workers);
    free(s->site_dir);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->site_mu);
    pthread_mutex_destroy(&s->rl_mu);
    if (s->hash_sem_ok)
        sem_destroy(&s->hash_sem);
    pthread_cond_destroy(&s->slot_cv);
    pthread_cond_destroy(&s->writer_cv);
    pthread_cond_destroy(&s->render_cv);
    pthread_cond_destroy(&s->resp_cv);
    pthread_cond_destroy(&s->ckpt_cv);
    pthread_cond_destroy(&s->api_cv);
    free(s);
}
