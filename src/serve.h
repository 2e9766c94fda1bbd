/* serve — folio serve: the author's preview with live reload.
 *
 * Builds the site into a private folder (var/serve/public, never the
 * public/ nginx serves) with base_url set to the serve address, serves it
 * over HTTP (libmicrohttpd), watches content/, templates/, static/,
 * themes/ and folio.yml (watch.h), rebuilds on change and tells the open
 * pages to reload.
 *
 *   GET  /__folio/events     Server-Sent Events: "hello" {build} on connect,
 *                            "reload" {build} after a build or a form post,
 *                            "build-error" {message, file, line} after a
 *                            failed build (the last good site stays served)
 *   GET  /__folio/reload.js  the script serve adds to every HTML answer (only
 *                            as it is served: never into the files on disk);
 *                            it reloads the page or shows the error overlay
 *   GET  /__folio/status     {"build": N, "ok": bool, "busy": bool (building),
 *                            "error": {...}}
 *   /contact, /register, /verify, /login, /logout, /reset, /account/...,
 *   /admin/...               the forms, accounts and owner's pages, through
 *                            web_app.h as folio-fcgi answers them, into the
 *                            site's var/folio.db (each in a transaction of
 *                            its own); then the pages that show what changed
 *                            are rendered again and pages reload
 *   GET, HEAD  anything else the built site: Content-Type by extension,
 *                            /dir -> 301 /dir/, dir/index.html, the site's
 *                            404.html, nothing outside the folder (.., %2e%2e,
 *                            symlinks) and no dotfiles; Cache-Control: no-store.
 *
 * Every request has a thread of its own, so event streams block nothing. */
#ifndef FOLIO_SERVE_H
#define FOLIO_SERVE_H

#include "util.h"

typedef struct serve_opts {
    const char *site_dir;   /* NULL: "." */
    const char *bind;       /* NULL: "127.0.0.1" */
    int port;               /* 0: any free port (serve_url says which) */
    int drafts;
    int jobs;               /* render threads; 0: one per CPU */
    int debounce_ms;        /* 0: 10 (an editor saves in one burst of a millisecond or two) */
} serve_opts;

typedef struct serve serve;

/* Loads the site, opens its store and listens. The first build runs in
 * serve_start; a failure there is shown in the browser, not returned. */
int serve_open(const serve_opts *o, serve **out, folio_err *err);
/* Builds once, then starts the HTTP server and the watcher; returns. */
int serve_start(serve *s, folio_err *err);
/* "http://127.0.0.1:1313/" */
const char *serve_url(const serve *s);
/* Stops the watcher and the server (event streams end), joins them. */
void serve_stop(serve *s);
void serve_close(serve *s);

#endif
