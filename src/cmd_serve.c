/* folio serve: the author's loop (serve.h does the work). */
#include <malloc.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "serve.h"

static void S_usage(FILE *f)
{
    fprintf(f,
            "usage: folio serve [-s SITE] [--port N] [--bind ADDR] [--drafts] [-j N]\n\n"
            "Builds SITE (default: .) and serves it on http://127.0.0.1:1313/ for\n"
            "authoring: edits to content/, templates/, static/, themes/ and folio.yml\n"
            "rebuild the site and reload the open pages; a build error is shown over\n"
            "the page, the last good build stays served. The forms, signing in,\n"
            "members' /account/ and the owner's /admin/ work as under folio-fcgi,\n"
            "into the site's var/folio.db. The site is built into var/serve/public,\n"
            "never into public/. Not for production: use folio build and nginx for\n"
            "that.\n\n"
            "  -s, --site SITE   the site directory (holding folio.yml)\n"
            "  -p, --port N      the port (default 1313; 0: any free port)\n"
            "  -b, --bind ADDR   the address to listen on (default 127.0.0.1)\n"
            "  -D, --drafts      include drafts and future-dated pages\n"
            "  -j, --jobs N      render threads (default: one per CPU)\n"
            "  -h, --help        this text\n");
}

static int S_number(const char *opt, const char *v, long lo, long hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < lo || n > hi) {
        fprintf(stderr, "folio serve: %s: expected a number from %ld to %ld\n", opt, lo, hi);
        return -1;
    }
    *out = (int)n;
    return 0;
}

/* Returns -1 to go on, else the exit status. */
static int S_args(int argc, char **argv, serve_opts *o)
{
    static const struct option S_opts[] = {
        {"site", required_argument, NULL, 's'}, {"port", required_argument, NULL, 'p'},
        {"bind", required_argument, NULL, 'b'}, {"drafts", no_argument, NULL, 'D'},
        {"jobs", required_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:p:b:Dj:h", S_opts, NULL)) != -1) {
        switch (c) {
        case 's': o->site_dir = optarg; break;
        case 'b': o->bind = optarg; break;
        case 'D': o->drafts = 1; break;
        case 'p':
            if (S_number("--port", optarg, 0, 65535, &o->port) != 0)
                return 2;
            break;
        case 'j':
            if (S_number("-j", optarg, 1, 64, &o->jobs) != 0)
                return 2;
            break;
        case 'h': S_usage(stdout); return 0;
        case ':':
            fprintf(stderr, "folio serve: %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "folio serve: unknown option '%s'\n", argv[optind - 1]);
            S_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "folio serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return -1;
}

static int S_loopback(const char *addr)
{
    return !addr || !strncmp(addr, "127.", 4) || !strcmp(addr, "::1");
}

int cmd_serve(int argc, char **argv)
{
    serve_opts o = {.port = 1313};
    int st = S_args(argc, argv, &o);
    if (st >= 0)
        return st;
    /* Every thread starts with SIGINT and SIGTERM blocked; this one takes
     * them with sigwait and stops the rest in order. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        fprintf(stderr, "folio serve: cannot set up signals\n");
        return 1;
    }
    serve *s = NULL;
    folio_err err = {{0}};
    /* A process setting, so the command's: every rebuild allocates what
     * the one before it freed, so keep the heap (and big arrays in it)
     * rather than hand it back and fault it in again. */
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    if (serve_open(&o, &s, &err) != 0 || serve_start(s, &err) != 0) {
        fprintf(stderr, "folio serve: %s\n", err.msg);
        serve_close(s);
        return 1;
    }
    printf("folio serve: serving %s — for authoring only, not for production; "
           "Ctrl-C stops\n", serve_url(s));
    if (!S_loopback(o.bind))
        printf("folio serve: warning: listening on %s, so other machines can reach this "
               "preview and post its forms into your var/folio.db\n", o.bind);
    fflush(stdout);
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    printf("folio serve: stopping\n");
    fflush(stdout);
    serve_close(s);
    return 0;
}
