/* serve — folio serve (see serve.h for what it answers).
 *
 * One build at a time, under build_mu: the watcher's rebuilds, and the
 * re-renders after a form post. Static files are read without that lock:
 * a full build swaps the whole folder in at once (site.h), and a re-render
 * renames each page into place, so a reader sees an old file or a new one.
 * The event streams read one shared state (build number, last error) under
 * ev_mu: a stream that missed several changes sends only the newest. */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "config.h"
#include "consumers.h"
#include "domain.h"
#include "site.h"
#include "theme.h"
#include "watch.h"
#include "web.h"
#include "web_accounts.h"
#include "web_admin.h"
#include "web_app.h"

#define S_EVENTS_PATH "/__folio/events"
#define S_SCRIPT_PATH "/__folio/reload.js"
#define S_STATUS_PATH "/__folio/status"
#define S_KEEPALIVE_S 15
#define S_MAX_CONNECTIONS 128

/* A site and the folio.yml it was opened with (the site keeps pointing
 * into it). */
typedef struct S_gen {
    folio_config cfg;
    site *site;
} S_gen;

struct serve {
    serve_opts o;
    char *site_dir;
    char *out_dir;          /* var/serve/public */
    char url[96];           /* http://HOST:PORT/ */
    int listen_fd;
    int lock_fd;            /* var/serve/lock, held while serving */
    int port;
    folio_config cfg0;      /* what the store was opened with: kept to the end */
    domain *dom;            /* under build_mu */
    consumers *cons;        /* mail and webhooks, as folio-fcgi's; or NULL */
    S_gen *gen;             /* the last good site, under build_mu */
    pthread_mutex_t build_mu;

    /* The event streams' state, under ev_mu. */
    pthread_mutex_t ev_mu;
    pthread_cond_t ev_cv;
    unsigned long long build;   /* successful builds and re-renders so far */
    unsigned long long ev_seq;  /* state changes, for streams to notice */
    char *error;                /* the last build's error, or NULL */
    int busy;                   /* a build is running */
    int stopping;

    struct MHD_Daemon *mhd;
    watch *watch;
    pthread_t watcher;
    int watcher_started;
    int warm_up;            /* the watcher builds once before it waits */
    /* Content files changed since the last good build (watcher thread
     * only): the next build need not stat the others. */
    char **pending;
    size_t npending;
    int pending_lost;       /* the watcher lost track: stat them all */
    int pending_other;      /* files outside content/ changed too */
    int published;          /* this build's reload went out at its swap */

    web_admin *admin;       /* the owner's pages' reads (web_app.h) */
};

/* ---- builds ------------------------------------------------------------- */

static void S_gen_free(S_gen *g)
{
    if (!g)
        return;
    site_close(g->site);
    config_free(&g->cfg);
    free(g);
}

/* folio.yml as serve needs it: base_url is where serve answers, so that
 * absolute links and the forms' same-origin check work. */
static int S_load_cfg(serve *s, folio_config *cfg, folio_err *err)
{
    if (config_load(s->site_dir, cfg, err) != 0)
        return -1;
    char *url = util_strdup(s->url);
    if (!url) {
        config_free(cfg);
        return err_set(err, "out of memory");
    }
    free(cfg->base_url);
    cfg->base_url = url;
    return 0;
}

/* Tells every stream about the new state. error NULL: a good build. */
static void S_publish(serve *s, const char *error)
{
    char *copy = error ? util_strdup(error) : NULL;
    pthread_mutex_lock(&s->ev_mu);
    free(s->error);
    s->error = copy;
    if (!error)
        s->build++;
    s->ev_seq++;
    pthread_cond_broadcast(&s->ev_cv);
    pthread_mutex_unlock(&s->ev_mu);
}

static void S_set_busy(serve *s, int busy)
{
    pthread_mutex_lock(&s->ev_mu);
    s->busy = busy;
    pthread_mutex_unlock(&s->ev_mu);
}

/* The build's site is swapped in: browsers may reload while it finishes. */
static void S_swapped(void *ud)
{
    serve *s = ud;
    s->published = 1;
    S_publish(s, NULL);
}

static void S_pending_clear(serve *s)
{
    for (size_t i = 0; i < s->npending; i++)
        free(s->pending[i]);
    free(s->pending);
    s->pending = NULL;
    s->npending = 0;
    s->pending_lost = 0;
    s->pending_other = 0;
}

/* Adds the content files the watcher's last burst named to the pending
 * ones (under content/ as the watch saw it: folio.yml may move it). */
static void S_pending_add(serve *s)
{
    size_t n;
    const char *const *v = watch_changed(s->watch, &n);
    const char *dir = s->cfg0.content_dir;
    size_t dl = strlen(dir);
    if (!v)
        s->pending_lost = 1;
    for (size_t i = 0; v && i < n && !s->pending_lost; i++) {
        if (strncmp(v[i], dir, dl) != 0 || v[i][dl] != '/') {
            s->pending_other = 1;
            continue;
        }
        char **nv = realloc(s->pending, (s->npending + 1) * sizeof *nv);
        if (nv)
            s->pending = nv;
        if (!nv || !(s->pending[s->npending] = util_strdup(v[i] + dl + 1)))
            s->pending_lost = 1;
        else
            s->npending++;
    }
}

/* A build's end, told to the author and the open pages: err NULL for a
 * good one (site: what was built). */
static int S_report(serve *s, const char *why, long long t0, const site *site,
                    const char *err)
{
    if (err) {
        printf("folio serve: build failed (%s): %s\n"
               "folio serve: still serving the last good build\n", why, err);
        fflush(stdout);
        S_publish(s, err);
        return -1;
    }
    S_pending_clear(s);
    printf("folio serve: built %d pages in %.0f ms (%s)\n", site_built_pages(site),
           (double)(util_mono_ns() - t0) / 1e6, why);
    fflush(stdout);
    if (!s->published)
        S_publish(s, NULL);
    return 0;
}

/* The quick way, when only page bodies changed: the site served builds
 * again with their new bytes. 1 done, 0 not that kind of edit, -1 failed. */
static int S_rebuild_bodies(serve *s, const char *why, long long t0)
{
    folio_err err = {{0}};
    s->published = 0;
    S_set_busy(s, 1);
    pthread_mutex_lock(&s->build_mu);
    int r = site_rebuild_bodies(s->gen->site, (const char *const *)s->pending, s->npending,
                                &err);
    pthread_mutex_unlock(&s->build_mu);
    S_set_busy(s, 0);
    if (r != 0)
        (void)S_report(s, why, t0, s->gen->site, r < 0 ? err.msg : NULL);
    return r;
}

/* A full build into out_dir; on success it becomes the site served.
 * known: s->pending names every content file changed since the last one. */
static int S_build(serve *s, const char *why, int known)
{
    long long t0 = util_mono_ns();
    int quick = known && s->gen && !s->pending_lost && !s->pending_other && s->npending
                    ? S_rebuild_bodies(s, why, t0) : 0;
    if (quick != 0)
        return quick > 0 ? 0 : -1;
    S_set_busy(s, 1);
    folio_err err = {{0}};
    S_gen *g = calloc(1, sizeof *g), *old = NULL;
    int rc = -1;
    if (!g)
        err_set(&err, "out of memory");
    else if (S_load_cfg(s, &g->cfg, &err) != 0) {
        free(g);
        g = NULL;
    } else {
        site_opts so = {.out_dir = s->out_dir, .drafts = s->o.drafts, .jobs = s->o.jobs,
                        .data = domain_site_data, .data_ud = s->dom,
                        .range = domain_site_range, .swapped = S_swapped, .swapped_ud = s};
        /* The live state must be this session's (the watch began before
         * its first build): a state left by an earlier serve knows nothing
         * of the edits made while it was not running. */
        if (known && s->gen && !s->pending_lost &&
            !strcmp(g->cfg.content_dir, s->cfg0.content_dir)) {
            so.changed_known = 1;
            so.changed = (const char *const *)s->pending;
            so.nchanged = s->npending;
            so.donor = s->gen->site; /* build_mu keeps renders off it */
        }
        s->published = 0;
        pthread_mutex_lock(&s->build_mu);
        g->site = site_open(&g->cfg, &so, &err);
        rc = g->site && site_build(g->site, &err) == 0 ? 0 : -1;
        if (rc == 0) {
            old = s->gen;
            s->gen = g;
        }
        pthread_mutex_unlock(&s->build_mu);
    }
    S_gen_free(rc == 0 ? old : g);
    S_set_busy(s, 0);
    return S_report(s, why, t0, rc == 0 ? g->site : NULL, rc == 0 ? NULL : err.msg);
}

/* After a form post: the pages that read what the commit changed. */
static void S_render_affected(serve *s, const domain_result *res)
{
    if (res->nchanged == 0)
        return;
    folio_err err = {{0}};
    int pages = 0, rc = -1;
    pthread_mutex_lock(&s->build_mu);
    if (s->gen)
        rc = site_render_affected(s->gen->site, res->changed, res->nchanged, &pages, &err);
    pthread_mutex_unlock(&s->build_mu);
    if (rc != 0) {
        printf("folio serve: re-rendering after a form post failed: %s\n",
               err.msg[0] ? err.msg : "no site built yet");
        fflush(stdout);
        return;
    }
    printf("folio serve: a form post re-rendered %d page(s)\n", pages);
    fflush(stdout);
    if (pages > 0)
        S_publish(s, NULL);
}

/* A build is made in the tree the build before it left beside OUT
 * (.OUT.prev, site.h), so only what changed is written. A site served for
 * the first time has no such tree yet, and the author's first save would
 * write every page from nothing: make it now, before they save. */
static int S_needs_warm_up(serve *s)
{
    char prev[PATH_MAX];
    const char *slash = strrchr(s->out_dir, '/');
    pthread_mutex_lock(&s->ev_mu);
    int ok = !s->error;
    pthread_mutex_unlock(&s->ev_mu);
    return ok && slash &&
           snprintf(prev, sizeof prev, "%.*s/.%s.prev", (int)(slash - s->out_dir),
                    s->out_dir, slash + 1) < (int)sizeof prev &&
           !util_is_dir(prev);
}

static void *S_watcher(void *arg)
{
    serve *s = arg;
    if (s->warm_up)
        (void)S_build(s, "preparing for fast rebuilds", 0);
    for (;;) {
        char first[PATH_MAX], why[PATH_MAX + 16];
        folio_err err = {{0}};
        int r = watch_wait(s->watch, s->o.debounce_ms, first, sizeof first, &err);
        if (r == 0)
            break;
        if (r < 0) {
            printf("folio serve: %s; no longer watching for changes\n", err.msg);
            fflush(stdout);
            break;
        }
        size_t sl = strlen(s->site_dir);
        const char *rel = !strncmp(first, s->site_dir, sl) && first[sl] == '/'
                              ? first + sl + 1 : first;
        snprintf(why, sizeof why, "%s changed", rel[0] ? rel : "a file");
        S_pending_add(s);
        (void)S_build(s, why, 1);
    }
    return NULL;
}

/* ---- answers ------------------------------------------------------------ */

/* cc: the answer's Cache-Control (the owner's pages: private, no-store). */
static enum MHD_Result S_queue_cc(struct MHD_Connection *c, unsigned status,
                                  struct MHD_Response *r, const char *cc)
{
    if (!r)
        return MHD_NO;
    (void)MHD_add_response_header(r, "Cache-Control", cc);
    (void)MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result S_queue(struct MHD_Connection *c, unsigned status,
                               struct MHD_Response *r)
{
    return S_queue_cc(c, status, r, "no-store");
}

static enum MHD_Result S_queue_copy(struct MHD_Connection *c, unsigned status,
                                    const char *ctype, const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r && MHD_add_response_header(r, "Content-Type", ctype) != MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return S_queue(c, status, r);
}

static int S_inject(serve *s, const char *page, size_t len, buf *out);

/* A web_answer (web.h) as an HTTP response, the reload script added to
 * HTML as to the site's pages; the answer is freed. */
static enum MHD_Result S_queue_answer(serve *s, struct MHD_Connection *c, web_answer *a)
{
    buf html = BUF_INIT;
    if (!strncmp(a->ctype, "text/html", 9) && a->body.len &&
        S_inject(s, a->body.ptr, a->body.len, &html) == 0) {
        buf_free(&a->body);
        a->body = html;
    } else {
        buf_free(&html);
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(
        a->body.len, a->body.ptr ? a->body.ptr : (char *)"", MHD_RESPMEM_MUST_COPY);
    int ok = r && MHD_add_response_header(r, "Content-Type", a->ctype) == MHD_YES;
    /* "Name: value\r\n" lines, all made by folio (web.h). */
    const char *cc = "no-store";
    for (char *line = a->headers; ok && *line;) {
        char *end = strstr(line, "\r\n"), *colon = strchr(line, ':');
        if (!end || !colon || colon > end)
            break;
        *colon = '\0';
        *end = '\0';
        const char *value = colon + 1 + (colon[1] == ' ');
        if (!strcasecmp(line, "Cache-Control"))
            cc = value;
        else
            ok = MHD_add_response_header(r, line, value) == MHD_YES;
        line = end + 2;
    }
    unsigned status = (unsigned)a->status;
    if (!ok && r) {
        MHD_destroy_response(r);
        r = NULL;
    }
    enum MHD_Result rc = S_queue_cc(c, status, r, cc);
    web_answer_free(a);   /* after: cc points into it */
    return rc;
}

/* ---- the event stream ---------------------------------------------------- */

/* {"message", "file", "line"} from a build error: the first "PATH:LINE"
 * in it (template and content errors name their file so), PATH relative
 * to the site. */
static cJSON *S_error_json(const char *msg, const char *site_dir)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "message", msg)) {
        cJSON_Delete(o);
        return NULL;
    }
    for (const char *p = msg; *p; p++) {
        if (p != msg && !strchr(" '\"(", p[-1]))
            continue;
        size_t n = strcspn(p, " :'\"()");
        if (n == 0 || p[n] != ':' || p[n + 1] < '0' || p[n + 1] > '9')
            continue;
        char file[PATH_MAX];
        size_t sl = strlen(site_dir);
        const char *f = p;
        if (n > sl && !strncmp(p, site_dir, sl) && p[sl] == '/') {
            f += sl + 1;
            n -= sl + 1;
        }
        snprintf(file, sizeof file, "%.*s", (int)(n < sizeof file ? n : sizeof file - 1), f);
        cJSON_AddStringToObject(o, "file", file);
        cJSON_AddNumberToObject(o, "line", atoi(p + (f - p) + n + 1));
        break;
    }
    return o;
}

typedef struct S_stream {
    serve *s;
    unsigned long long seen;   /* ev_seq last sent */
    int hello;                 /* sent */
    buf out;                   /* what is left to send */
    size_t off;
} S_stream;

/* The current state as SSE, under ev_mu. */
static int S_stream_state(S_stream *st)
{
    serve *s = st->s;
    int rc = 0;
    if (!st->hello) {
        rc = buf_printf(&st->out, "retry: 500\nevent: hello\ndata: {\"build\":%llu}\n\n",
                        s->build);
        st->hello = 1;
    } else if (!s->error) {
        rc = buf_printf(&st->out, "event: reload\ndata: {\"build\":%llu}\n\n", s->build);
    }
    if (rc == 0 && s->error) {
        cJSON *o = S_error_json(s->error, s->site_dir);
        char *text = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        rc = text ? buf_printf(&st->out, "event: build-error\ndata: %s\n\n", text) : -1;
        free(text);
    }
    st->seen = s->ev_seq;
    return rc;
}

static ssize_t S_stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    S_stream *st = cls;
    serve *s = st->s;
    if (st->off == st->out.len) {
        st->out.len = st->off = 0;
        pthread_mutex_lock(&s->ev_mu);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += S_KEEPALIVE_S;
        int timed_out = 0;
        while (st->hello && st->seen == s->ev_seq && !s->stopping && !timed_out)
            timed_out = pthread_cond_timedwait(&s->ev_cv, &s->ev_mu, &until) == ETIMEDOUT;
        int stop = s->stopping, rc = 0;
        if (!stop)
            rc = timed_out ? buf_puts(&st->out, ": keep-alive\n\n") : S_stream_state(st);
        pthread_mutex_unlock(&s->ev_mu);
        if (stop || rc != 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = st->out.len - st->off;
    if (n > max)
        n = max;
    memcpy(out, st->out.ptr + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

static void S_stream_free(void *cls)
{
    S_stream *st = cls;
    buf_free(&st->out);
    free(st);
}

static enum MHD_Result S_events(serve *s, struct MHD_Connection *c)
{
    S_stream *st = calloc(1, sizeof *st);
    if (!st)
        return MHD_NO;
    st->s = s;
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 4096, S_stream_read, st, S_stream_free);
    if (!r) {
        free(st);
        return MHD_NO;
    }
    (void)MHD_add_response_header(r, "Content-Type", "text/event-stream");
    return S_queue(c, MHD_HTTP_OK, r);
}

static enum MHD_Result S_status(serve *s, struct MHD_Connection *c)
{
    cJSON *o = cJSON_CreateObject();
    pthread_mutex_lock(&s->ev_mu);
    if (o) {
        cJSON_AddNumberToObject(o, "build", (double)s->build);
        cJSON_AddBoolToObject(o, "ok", s->error == NULL);
        cJSON_AddBoolToObject(o, "busy", s->busy);
        if (s->error)
            cJSON_AddItemToObject(o, "error", S_error_json(s->error, s->site_dir));
    }
    pthread_mutex_unlock(&s->ev_mu);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text)
        return MHD_NO;
    enum MHD_Result rc = S_queue_copy(c, MHD_HTTP_OK, "application/json", text, strlen(text));
    free(text);
    return rc;
}

/* The overlay is built with DOM calls and CSSOM styles, so it works under
 * a Content-Security-Policy of default-src 'self' and shows the message
 * as text, never as markup. */
static const char S_script[] =
    "// folio serve: reloads this page after a rebuild; shows build errors.\n"
    "(function () {\n"
    "  'use strict';\n"
    "  var me = document.currentScript;\n"
    "  var built = me ? me.getAttribute('data-build') : null;\n"
    "  var box = null;\n"
    "  function hide() { if (box) { box.remove(); box = null; } }\n"
    "  function el(tag, text, css) {\n"
    "    var e = document.createElement(tag);\n"
    "    if (text) e.textContent = text;\n"
    "    for (var k in css) e.style[k] = css[k];\n"
    "    return e;\n"
    "  }\n"
    "  function show(err) {\n"
    "    hide();\n"
    "    box = el('div', '', {position: 'fixed', top: '0', left: '0', right: '0', bottom: '0',\n"
    "      zIndex: '2147483647', background: 'rgba(24,24,27,.94)', color: '#fafafa',\n"
    "      font: '15px/1.5 ui-monospace,Menlo,Consolas,monospace', padding: '2rem',\n"
    "      overflow: 'auto'});\n"
    "    box.id = 'folio-error';\n"
    "    box.setAttribute('role', 'alert');\n"
    "    box.appendChild(el('h2', 'folio: the build failed', {color: '#f87171', margin: '0 0 1rem'}));\n"
    "    var where = err.file ? err.file + (err.line ? ':' + err.line : '') : '';\n"
    "    var w = el('p', where, {fontWeight: 'bold', margin: '0 0 .5rem'});\n"
    "    w.id = 'folio-error-where';\n"
    "    box.appendChild(w);\n"
    "    var m = el('pre', err.message || '', {whiteSpace: 'pre-wrap', margin: '0 0 1rem'});\n"
    "    m.id = 'folio-error-message';\n"
    "    box.appendChild(m);\n"
    "    box.appendChild(el('p', 'Under this is the last good build. Save a fix and the page '\n"
    "      + 'reloads by itself.', {opacity: '.7'}));\n"
    "    (document.body || document.documentElement).appendChild(box);\n"
    "  }\n"
    /* A browser keeps about six connections per host: hidden tabs let go of
     * their stream, and on return the hello's build number says whether
     * they missed a build. */
    "  var es = null;\n"
    "  function connect() {\n"
    "    if (es) return;\n"
    "    es = new EventSource('" S_EVENTS_PATH "');\n"
    "    es.onopen = function () { document.documentElement.setAttribute('data-folio-serve', 'live'); };\n"
    "    es.addEventListener('hello', function (ev) {\n"
    "      var d = JSON.parse(ev.data);\n"
    "      if (built !== null && String(d.build) !== built) location.reload();\n"
    "    });\n"
    "    es.addEventListener('reload', function () { location.reload(); });\n"
    "    es.addEventListener('build-error', function (ev) { show(JSON.parse(ev.data)); });\n"
    "  }\n"
    "  document.addEventListener('visibilitychange', function () {\n"
    "    if (!document.hidden) { connect(); return; }\n"
    "    if (es) { es.close(); es = null; }\n"
    "    document.documentElement.removeAttribute('data-folio-serve');\n"
    "  });\n"
    "  if (!document.hidden) connect();\n"
    "})();\n";

/* ---- static files -------------------------------------------------------- */

static const char *S_ctype(const char *path)
{
    static const char *const S_types[][2] = {
        {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"}, {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"}, {"json", "application/json"},
        {"xml", "application/xml"}, {"txt", "text/plain; charset=utf-8"},
        {"md", "text/plain; charset=utf-8"}, {"svg", "image/svg+xml"},
        {"png", "image/png"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"},
        {"gif", "image/gif"}, {"webp", "image/webp"}, {"avif", "image/avif"},
        {"ico", "image/x-icon"}, {"woff", "font/woff"}, {"woff2", "font/woff2"},
        {"ttf", "font/ttf"}, {"otf", "font/otf"}, {"pdf", "application/pdf"},
        {"map", "application/json"}, {"webmanifest", "application/manifest+json"},
        {"wasm", "application/wasm"}, {"mp4", "video/mp4"}, {"webm", "video/webm"},
        {"mp3", "audio/mpeg"}, {"ogg", "audio/ogg"}, {"csv", "text/csv; charset=utf-8"},
        {"zip", "application/zip"}, {"gz", "application/gzip"}};
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof S_types / sizeof S_types[0]; i++)
            if (!strcasecmp(dot + 1, S_types[i][0]))
                return S_types[i][1];
    return "application/octet-stream";
}

static int S_is_html(const char *ctype)
{
    return !strncmp(ctype, "text/html", 9);
}

/* The page with the reload script added before </body> (or at the end). */
static int S_inject(serve *s, const char *page, size_t len, buf *out)
{
    const char *at = NULL;
    for (size_t i = len; i >= 7 && !at; i--)
        if (!strncasecmp(page + i - 7, "</body>", 7))
            at = page + i - 7;
    size_t head = at ? (size_t)(at - page) : len;
    pthread_mutex_lock(&s->ev_mu);
    unsigned long long build = s->build;
    pthread_mutex_unlock(&s->ev_mu);
    if (buf_add(out, page, head) != 0 ||
        buf_printf(out, "<script src=\"" S_SCRIPT_PATH "\" data-build=\"%llu\"></script>\n",
                   build) != 0 ||
        buf_add(out, page + head, len - head) != 0)
        return -1;
    return 0;
}

/* Maps a decoded URL path to a file under out_dir. 0: found (*st filled),
 * 1: a folder named without its '/', -1: nothing (404). Refuses "..", dot
 * names (.folio-deps) and anything whose real path is outside out_dir. */
static int S_resolve(serve *s, const char *url, char *path, size_t pathlen,
                     struct stat *st)
{
    if (url[0] != '/' || strchr(url, '\\'))
        return -1;
    for (const char *p = url; *p;) {
        p++;   /* past '/' */
        size_t n = strcspn(p, "/");
        if (n > 0 && p[0] == '.' && !(n == 11 && !strncmp(p, ".well-known", 11)))
            return -1;
        p += n;
    }
    char want[PATH_MAX], root[PATH_MAX], real[PATH_MAX];
    if (snprintf(want, sizeof want, "%s%s", s->out_dir, url) >= (int)sizeof want ||
        !realpath(s->out_dir, root) || !realpath(want, real))
        return -1;
    size_t rl = strlen(root);
    if (strncmp(real, root, rl) != 0 || (real[rl] != '/' && real[rl] != '\0'))
        return -1;
    if (stat(real, st) != 0)
        return -1;
    if (S_ISDIR(st->st_mode)) {
        if (url[strlen(url) - 1] != '/')
            return 1;
        if (snprintf(path, pathlen, "%s/index.html", real) >= (int)pathlen ||
            stat(path, st) != 0 || !S_ISREG(st->st_mode))
            return -1;
        return 0;
    }
    if (!S_ISREG(st->st_mode) || snprintf(path, pathlen, "%s", real) >= (int)pathlen)
        return -1;
    return 0;
}

static enum MHD_Result S_send_html_file(serve *s, struct MHD_Connection *c,
                                        unsigned status, const char *path)
{
    char *page = NULL;
    size_t len = 0;
    folio_err err = {{0}};
    buf out = BUF_INIT;
    if (util_read_file(path, &page, &len, &err) != 0 || S_inject(s, page, len, &out) != 0) {
        free(page);
        buf_free(&out);
        static const char oops[] = "cannot read the page\n";
        return S_queue_copy(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", oops,
                            sizeof oops - 1);
    }
    free(page);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        out.len, out.ptr, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        buf_free(&out);
        return MHD_NO;
    }
    (void)MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
    return S_queue(c, status, r);
}

static enum MHD_Result S_not_found(serve *s, struct MHD_Connection *c)
{
    char path[PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/404.html", s->out_dir) < (int)sizeof path &&
        stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return S_send_html_file(s, c, MHD_HTTP_NOT_FOUND, path);
    /* No 404 page (the first build failed): a bare one, with the script so
     * that the overlay shows why. */
    static const char bare[] = "<!doctype html>\n<title>Not Found</title>\n"
                               "<h1>Not Found</h1>\n<body></body>\n";
    buf out = BUF_INIT;
    if (S_inject(s, bare, sizeof bare - 1, &out) != 0) {
        buf_free(&out);
        return MHD_NO;
    }
    enum MHD_Result rc = S_queue_copy(c, MHD_HTTP_NOT_FOUND, "text/html; charset=utf-8",
                                      out.ptr, out.len);
    buf_free(&out);
    return rc;
}

/* /dir -> /dir/, the path percent-encoded again. */
static enum MHD_Result S_redirect_dir(struct MHD_Connection *c, const char *url)
{
    buf to = BUF_INIT;
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)url; rc == 0 && *p; p++)
        rc = (*p > 0x20 && *p < 0x7f && !strchr("%?#\"<>\\^`{|}", *p))
                 ? buf_putc(&to, (char)*p) : buf_printf(&to, "%%%02X", *p);
    if (rc == 0)
        rc = buf_putc(&to, '/');
    struct MHD_Response *r = rc == 0 ? MHD_create_response_from_buffer(
                                           0, (void *)"", MHD_RESPMEM_PERSISTENT)
                                     : NULL;
    if (r && MHD_add_response_header(r, "Location", to.ptr) != MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    buf_free(&to);
    return S_queue(c, MHD_HTTP_MOVED_PERMANENTLY, r);
}

static enum MHD_Result S_file(serve *s, struct MHD_Connection *c, const char *url)
{
    char path[PATH_MAX];
    struct stat st;
    int r = S_resolve(s, url, path, sizeof path, &st);
    if (r < 0)
        return S_not_found(s, c);
    if (r == 1)
        return S_redirect_dir(c, url);
    const char *ctype = S_ctype(path);
    if (S_is_html(ctype))
        return S_send_html_file(s, c, MHD_HTTP_OK, path);
    char etag[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
                 (unsigned long long)st.st_mtim.tv_nsec);
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    struct MHD_Response *resp;
    unsigned status = MHD_HTTP_OK;
    if (inm && !strcmp(inm, etag)) {
        status = MHD_HTTP_NOT_MODIFIED;
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return S_not_found(s, c);
        resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
        if (!resp)
            close(fd);
    }
    if (!resp)
        return MHD_NO;
    (void)MHD_add_response_header(resp, "Content-Type", ctype);
    (void)MHD_add_response_header(resp, "ETag", etag);
    return S_queue(c, status, resp);
}

/* ---- the forms, accounts and owner's pages (web_app.h) ------------------------- */

/* A request's body, gathered before its route runs. */
typedef struct S_post {
    buf body;
    size_t limit;
    int too_long;
} S_post;

/* Set while this thread holds build_mu for a request, with the site it
 * answers with (NULL: none built yet): the themed error pages
 * (web_set_error_page) render with it, build_mu being taken. */
static _Thread_local int S_holding;
static _Thread_local site *S_held;

static int S_error_page(void *ud, int status, const char *reason, const char *msg,
                        buf *out)
{
    serve *s = ud;
    folio_err err = {{0}};
    int rc = -1;
    if (S_holding)
        return S_held ? site_render_error(S_held, status, reason, msg, out, &err) : -1;
    pthread_mutex_lock(&s->build_mu);
    if (s->gen)
        rc = site_render_error(s->gen->site, status, reason, msg, out, &err);
    pthread_mutex_unlock(&s->build_mu);
    return rc;
}

typedef struct S_query_buf {
    buf q;
    int failed;
} S_query_buf;

static enum MHD_Result S_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    S_query_buf *b = cls;
    buf *q = &b->q;
    b->failed = (q->len && buf_putc(q, '&') != 0) || buf_add_pct(q, key, "") != 0 ||
                (value && (buf_putc(q, '=') != 0 || buf_add_pct(q, value, "") != 0));
    return b->failed ? MHD_NO : MHD_YES;
}

/* The query string, from libmicrohttpd's decoded arguments encoded again. */
static int S_query(struct MHD_Connection *c, S_query_buf *b)
{
    if (MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, S_query_arg, b) < 0 ||
        b->failed || buf_putc(&b->q, '\0') != 0)
        return -1;
    b->q.len--;
    return 0;
}

/* The client's address, numeric ("?" when unknown), as folio-fcgi takes
 * REMOTE_ADDR: the key of the sign-in throttle and the events' metadata. */
static void S_client(struct MHD_Connection *c, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    socklen_t len = !sa ? 0 : sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                          : sizeof(struct sockaddr_in);
    if (!sa || getnameinfo(sa, len, out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(out, cap, "?");
}

/* The store's part in a transaction of its own, as folio-fcgi's writer
 * runs it in a group's: 1 when it failed (the answer is a 500). */
static int S_app_run(serve *s, web_app_req *r, const web_request *rq)
{
    folio_err err = {{0}};
    if (domain_begin(s->dom, &err) != 0) {
        fprintf(stderr, "folio serve: request %s: %s\n", rq->request_id, err.msg);
        return 1;
    }
    int failed = web_app_run(r, s->dom, rq, &err) == DOMAIN_ERROR;
    if (failed)
        fprintf(stderr, "folio serve: request %s: %s\n", rq->request_id, err.msg);
    folio_err cerr = {{0}};
    if (domain_commit(s->dom, &cerr) != 0) {
        fprintf(stderr, "folio serve: request %s: %s\n", rq->request_id, cerr.msg);
        domain_rollback(s->dom);
        failed = 1;
    }
    return failed;
}

/* Every step of the request under build_mu: the store and the site are
 * one author's, and a rebuild swaps the site. Returns 1 when the store
 * committed (r->res says which pages to render again). */
static int S_app_steps(serve *s, const web_request *rq, S_post *p, web_app_req *r,
                       web_answer *a)
{
    site *st = s->gen ? s->gen->site : NULL;
    web_app app = {.cfg = s->gen ? &s->gen->cfg : &s->cfg0, .site = &st,
                   .reader = s->dom, .admin = s->admin};
    if (!st) {
        memset(r, 0, sizeof *r);
        web_refuse(a, forms_wants_json(rq->accept), 503, "the site has not been built "
                   "yet: fix the build error and save", "Retry-After: 1\r\n");
        return 0;
    }
    S_held = st;
    int step = web_app_start(&app, r, rq, a), committed = 0;
    if (step == WEB_APP_BODY) {
        if (p->too_long || r->body_len != p->body.len) {
            web_refuse(a, r->json, 400, "the body does not match its Content-Length", NULL);
            step = WEB_APP_ANSWERED;
        } else {
            step = web_app_body(&app, r, rq, p->body.ptr ? p->body.ptr : "", a);
        }
    }
    if (step == WEB_APP_WRITE) {
        web_answer_free(a);
        int failed = S_app_run(s, r, rq);
        committed = !failed;
        web_app_answer(&app, r, failed, a);
    }
    S_held = NULL;
    return committed;
}

/* A route of web_app.h, with its body read: answered as folio-fcgi
 * answers it, the pages it changed rendered again before the answer goes
 * out (so the page it leads to shows the change) and the mail it causes
 * handed to the site's consumers. */
static enum MHD_Result S_app_request(serve *s, struct MHD_Connection *c, const char *url,
                                     const char *method, S_post *p)
{
    char request_id[68], client[64];
    web_request_id(request_id, MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                           "X-Request-Id"));
    S_client(c, client, sizeof client);
    S_query_buf query = {BUF_INIT, 0};
    if (S_query(c, &query) != 0) {
        buf_free(&query.q);
        return MHD_NO;
    }
    web_request rq = {
        .origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"),
        .referer = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Referer"),
        .content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"),
        .content_length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length"),
        .accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept"),
        .client = client, .request_id = request_id, .method = method, .path = url,
        .query = query.q.ptr, .cookie = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                                  "Cookie")};
    web_answer a = WEB_ANSWER_INIT;
    web_app_req r;
    pthread_mutex_lock(&s->build_mu);
    S_holding = 1;
    int committed = S_app_steps(s, &rq, p, &r, &a);
    S_holding = 0;
    pthread_mutex_unlock(&s->build_mu);
    if (committed && r.res.rc == DOMAIN_OK)
        S_render_affected(s, &r.res);
    if (committed)
        consumers_wake(s->cons);
    web_app_req_clear(&r);
    if (query.q.ptr)   /* it may carry a mailed link's token */
        sodium_memzero(query.q.ptr, query.q.len);
    buf_free(&query.q);
    return S_queue_answer(s, c, &a);
}

/* The owner's pages read through a store connection of their own; the
 * error pages are the site's. */
static int S_app_open(serve *s, folio_err *err)
{
    if (web_admin_open(&s->cfg0, &s->admin, err) != 0)
        return -1;
    web_set_error_page(S_error_page, s);
    return 0;
}

/* ---- the request handler -------------------------------------------------- */

static enum MHD_Result S_handle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version,
                                const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    serve *s = cls;
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (web_app_owns(url)) {
        S_post *p = *con_cls;
        if (!p) {
            p = calloc(1, sizeof *p);
            if (!p)
                return MHD_NO;
            pthread_mutex_lock(&s->build_mu);
            p->limit = s->gen ? s->gen->cfg.body_limit : s->cfg0.body_limit;
            pthread_mutex_unlock(&s->build_mu);
            *con_cls = p;
            return MHD_YES;
        }
        if (*upload_size) {
            /* Over the limit: the rest is read and dropped, the answer 413. */
            if (!p->too_long && p->body.len + *upload_size > p->limit)
                p->too_long = 1;
            if (!p->too_long && buf_add(&p->body, upload, *upload_size) != 0)
                return MHD_NO;
            *upload_size = 0;
            return MHD_YES;
        }
        return S_app_request(s, c, url, method, p);
    }
    if (!get) {
        web_answer a = WEB_ANSWER_INIT;
        web_refuse(&a, 0, 405, "use GET", "Allow: GET, HEAD\r\n");
        return S_queue_answer(s, c, &a);
    }
    if (!strcmp(url, S_EVENTS_PATH))
        return S_events(s, c);
    if (!strcmp(url, S_SCRIPT_PATH))
        return S_queue_copy(c, MHD_HTTP_OK, "text/javascript; charset=utf-8", S_script,
                            sizeof S_script - 1);
    if (!strcmp(url, S_STATUS_PATH))
        return S_status(s, c);
    return S_file(s, c, url);
}

static void S_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    S_post *p = *con_cls;
    if (p) {
        if (p->body.ptr)
            sodium_memzero(p->body.ptr, p->body.len);
        buf_free(&p->body);
        free(p);
        *con_cls = NULL;
    }
}

/* ---- life cycle ------------------------------------------------------------ */

/* The site's consumers (mail, webhooks), so that a sign-up's verification
 * mail goes out as under folio-fcgi (by default into the outbox,
 * var/mail/). Without them the site is still served: said, not fatal. */
static void S_consumers_open(serve *s)
{
    folio_err err = {{0}};
    if (consumers_open_site(&s->cfg0, &s->cons, &err) == 0 &&
        consumers_start(s->cons, &err) == 0)
        return;
    fprintf(stderr, "folio serve: no mail or webhooks (%s); `folio deliver` "
            "sends them\n", err.msg);
    consumers_close(s->cons);
    s->cons = NULL;
}

static int S_listen(serve *s, folio_err *err)
{
    const char *host = s->o.bind ? s->o.bind : "127.0.0.1";
    char port[16];
    snprintf(port, sizeof port, "%d", s->o.port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g != 0)
        return err_set(err, "--bind %s: %s (give an IP address)", host, gai_strerror(g));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return err_set(err, "cannot listen on %s port %d: %s%s", host, s->o.port,
                       strerror(e), e == EADDRINUSE ? " (try --port N)" : "");
    }
    int v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        close(fd);
        return err_set(err, "getsockname: %s", strerror(errno));
    }
    s->listen_fd = fd;
    s->port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                       : ((struct sockaddr_in *)&ss)->sin_port);
    snprintf(s->url, sizeof s->url, v6 ? "http://[%s]:%d/" : "http://%s:%d/", host, s->port);
    return 0;
}

/* The theme the site uses, wherever it is installed: a theme outside the
 * site (folio's own, used by reference) is watched as well. */
static int S_watch_theme(serve *s, const folio_config *cfg, folio_err *err)
{
    theme th;
    if (theme_open(cfg, &th, err) != 0)
        return -1;
    char mine[PATH_MAX];
    int rc = util_path(mine, sizeof mine, err, "%s/themes/", s->site_dir);
    if (rc == 0 && th.dir && strncmp(th.dir, mine, strlen(mine)) != 0)
        rc = watch_add_tree(s->watch, th.dir, err); /* the site's themes/ is watched */

    theme_close(&th);
    return rc;
}

static int S_watch_site(serve *s, const folio_config *cfg, folio_err *err)
{
    char themes[PATH_MAX];
    if (watch_open(&s->watch, err) != 0 || watch_skip(s->watch, cfg->var_dir, err) != 0 ||
        watch_skip(s->watch, cfg->public_dir, err) != 0 ||
        util_path(themes, sizeof themes, err, "%s/themes", s->site_dir) != 0 ||
        watch_add_tree(s->watch, cfg->content_dir, err) != 0 ||
        watch_add_tree(s->watch, cfg->templates_dir, err) != 0 ||
        watch_add_tree(s->watch, cfg->static_dir, err) != 0 ||
        watch_add_tree(s->watch, themes, err) != 0 || S_watch_theme(s, cfg, err) != 0)
        return -1;
    if (cfg->file)
        return watch_add_file(s->watch, cfg->file, err);
    char yml[PATH_MAX];
    if (util_path(yml, sizeof yml, err, "%s/folio.yml", s->site_dir) != 0)
        return -1;
    return watch_add_file(s->watch, yml, err);
}

/* One serve per site: two would build into the same folder at once. */
static int S_lock(serve *s, const char *dir, folio_err *err)
{
    char path[PATH_MAX];
    if (util_path(path, sizeof path, err, "%s/lock", dir) != 0)
        return -1;
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return err_set(err, "another folio serve is running for %s (it builds into "
                       "%s/public); stop it first", s->site_dir, dir);
    return 0;
}

int serve_open(const serve_opts *o, serve **out, folio_err *err)
{
    *out = NULL;
    if (sodium_init() < 0)
        return err_set(err, "libsodium cannot start");
    serve *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(err, "out of memory");
    s->o = *o;
    s->listen_fd = s->lock_fd = -1;
    if (s->o.debounce_ms <= 0)
        s->o.debounce_ms = 10;
    pthread_condattr_t ca;
    if (pthread_mutex_init(&s->build_mu, NULL) != 0 ||
        pthread_mutex_init(&s->ev_mu, NULL) != 0 || pthread_condattr_init(&ca) != 0 ||
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&s->ev_cv, &ca) != 0) {
        free(s);
        return err_set(err, "cannot set up locks");
    }
    pthread_condattr_destroy(&ca);
    *out = s;
    char dir[PATH_MAX];
    if (!realpath(o->site_dir ? o->site_dir : ".", dir))
        return err_set(err, "%s: %s", o->site_dir ? o->site_dir : ".", strerror(errno));
    s->site_dir = util_strdup(dir);
    if (!s->site_dir)
        return err_set(err, "out of memory");
    if (S_listen(s, err) != 0 || S_load_cfg(s, &s->cfg0, err) != 0)
        return -1;
    if (util_path(dir, sizeof dir, err, "%s/serve/public", s->cfg0.var_dir) != 0 ||
        !(s->out_dir = util_strdup(dir)))
        return err_set(err, "out of memory");
    *strrchr(dir, '/') = '\0';
    if (util_mkdirs(dir, 0750, err) != 0 || S_lock(s, dir, err) != 0 ||
        domain_open(&s->cfg0, &s->dom, err) != 0 || S_watch_site(s, &s->cfg0, err) != 0)
        return -1;
    S_consumers_open(s);
    return 0;
}

int serve_start(serve *s, folio_err *err)
{
    if (S_app_open(s, err) != 0)
        return -1;
    printf("folio serve: building %s into %s\n", s->site_dir, s->out_dir);
    fflush(stdout);
    (void)S_build(s, "start", 0);
    s->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
        0, NULL, NULL, S_handle, s, MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
        MHD_OPTION_NOTIFY_COMPLETED, S_completed, s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)S_MAX_CONNECTIONS, MHD_OPTION_END);
    if (!s->mhd)
        return err_set(err, "cannot start the HTTP server (libmicrohttpd)");
    s->listen_fd = -1;   /* the daemon's now */
    /* Busy from here, so that no one sees the site idle before the warm-up. */
    s->warm_up = S_needs_warm_up(s);
    if (s->warm_up)
        S_set_busy(s, 1);
    if (pthread_create(&s->watcher, NULL, S_watcher, s) != 0)
        return err_set(err, "cannot start the file watcher: %s", strerror(errno));
    s->watcher_started = 1;
    return 0;
}

const char *serve_url(const serve *s)
{
    return s->url;
}

void serve_stop(serve *s)
{
    if (!s)
        return;
    if (s->watcher_started) {
        watch_wake(s->watch);
        pthread_join(s->watcher, NULL);
        s->watcher_started = 0;
    }
    pthread_mutex_lock(&s->ev_mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->ev_cv);
    pthread_mutex_unlock(&s->ev_mu);
    if (s->mhd) {
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
    }
}

void serve_close(serve *s)
{
    if (!s)
        return;
    serve_stop(s);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    watch_close(s->watch);
    S_pending_clear(s);
    S_gen_free(s->gen);
    consumers_stop(s->cons);
    consumers_close(s->cons);
    web_set_error_page(NULL, NULL);
    web_admin_close(s->admin);
    domain_close(s->dom);
    if (s->cfg0.site_dir)
        config_free(&s->cfg0);
    free(s->error);
    free(s->site_dir);
    free(s->out_dir);
    pthread_cond_destroy(&s->ev_cv);
    pthread_mutex_destroy(&s->ev_mu);
    pthread_mutex_destroy(&s->build_mu);
    free(s);
}
