/* fcgi — the FastCGI responder behind nginx: routing, responses, limits,
 * the writer (group commit), the renderer and the responder threads.
 *
 *   POST /contact, POST /register   forms (urlencoded or JSON)
 *   GET  /health, GET /metrics      liveness, Prometheus text
 *
 * Threads: `threads` workers accept on one listen socket, decode and check a
 * request, hash a password, and queue the command for the one writer, which
 * runs every queued command in one transaction (one fsync for the group).
 * The renderer re-renders the pages that read the data a commit changed,
 * coalescing bursts. The responder answers a committed request once the
 * render round covering its commit is done, or staleness_ms after the
 * commit, whichever comes first. */
#ifndef FOLIO_FCGI_H
#define FOLIO_FCGI_H

#include "util.h"

typedef struct fcgi_opts {
    const char *site_dir;     /* the site (folio.yml, var/, public/) */
    const char *socket_path;  /* overrides fcgi.socket; NULL: config */
    const char *tcp;          /* "HOST:PORT", overrides both; NULL: config */
    int threads;              /* overrides fcgi.threads; 0: config */
} fcgi_opts;

typedef struct fcgi_server fcgi_server;

/* Loads folio.yml, opens the store, the site and the listen socket. Every
 * failure is a message fit for the operator (exit 1). */
int fcgi_open(const fcgi_opts *opts, fcgi_server **out, folio_err *err);
/* Starts the threads; returns at once. */
int fcgi_start(fcgi_server *s, folio_err *err);
/* Stops accepting, finishes and answers every request in flight, renders
 * what is pending, joins the threads. Call from one thread, once. */
void fcgi_stop(fcgi_server *s);
/* Reloads folio.yml and the templates without dropping requests; on error
 * the old ones stay and the reason is logged. Returns 0 or -1. */
int fcgi_reload(fcgi_server *s, folio_err *err);
/* Closes the socket (removing a unix socket it created) and the handles. */
void fcgi_close(fcgi_server *s);

/* Where it listens, for the start-up log line: "unix:PATH" or "tcp:H:P". */
const char *fcgi_listen_name(const fcgi_server *s);

#endif
