/* folio-fcgi — the FastCGI process: options, signals, start and stop.
 * See folio-fcgi(8). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"
#include "log.h"

static void S_usage(FILE *f)
{
    fputs("usage: folio-fcgi [-s SITE] [--socket PATH | --tcp HOST:PORT] "
          "[--threads N]\n\n"
          "  -s, --site DIR      the site directory (default: .)\n"
          "      --socket PATH   listen on a unix socket (default: fcgi.socket)\n"
          "      --tcp HOST:PORT listen on TCP instead\n"
          "  -t, --threads N     worker threads (default: fcgi.threads)\n"
          "  -h, --help          this text\n"
          "  -V, --version       the version\n\n"
          "SIGTERM finishes what is in flight and exits; SIGHUP reloads\n"
          "folio.yml and the templates. See folio-fcgi(8).\n", f);
}

static int S_parse(int argc, char **argv, fcgi_opts *o)
{
    static const struct option longs[] = {
        {"site", required_argument, NULL, 's'},
        {"socket", required_argument, NULL, 'S'},
        {"tcp", required_argument, NULL, 'T'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "s:t:hV", longs, NULL)) != -1) {
        switch (c) {
        case 's': o->site_dir = optarg; break;
        case 'S': o->socket_path = optarg; break;
        case 'T': o->tcp = optarg; break;
        case 't': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 256) {
                fprintf(stderr, "folio-fcgi: --threads must be 1 to 256\n");
                return 2;
            }
            o->threads = (int)n;
            break;
        }
        case 'h': S_usage(stdout); return -1;
        case 'V': printf("folio-fcgi %s\n", PACKAGE_VERSION); return -1;
        default: S_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "folio-fcgi: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    fcgi_opts o = {.site_dir = "."};
    int prc = S_parse(argc, argv, &o);
    if (prc)
        return prc < 0 ? 0 : prc;

    /* Every thread inherits this mask; the main thread alone takes the
     * signals, with sigwait, so no handler runs inside library code. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 ||
        signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        fprintf(stderr, "folio-fcgi: cannot set up signals\n");
        return 1;
    }

    folio_err err = {{0}};
    fcgi_server *s = NULL;
    if (fcgi_open(&o, &s, &err) != 0) {
        fprintf(stderr, "folio-fcgi: %s\n", err.msg);
        return 1;
    }
    if (fcgi_start(s, &err) != 0) {
        fprintf(stderr, "folio-fcgi: %s\n", err.msg);
        fcgi_close(s);
        return 1;
    }
    log_msg("info", "folio-fcgi %s listening on %s", PACKAGE_VERSION,
            fcgi_listen_name(s));

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            if (fcgi_reload(s, &err) == 0)
                log_msg("info", "reloaded folio.yml and templates");
            else
                log_msg("error", "reload refused, keeping the old site: %s",
                        err.msg);
            continue;
        }
        log_msg("info", "%s: finishing requests in flight",
                sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    fcgi_stop(s);
    fcgi_close(s);
    log_msg("info", "stopped");
    return 0;
}
