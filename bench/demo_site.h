/* demo_site — what the C benches share: dying with a message, and a site
 * directory made of the source tree's demo content (its theme by reference). */
#ifndef FOLIO_BENCH_DEMO_SITE_H
#define FOLIO_BENCH_DEMO_SITE_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void bench_die(const char *prog, const char *what, const char *msg)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, msg);
    exit(1);
}

/* A new site in dir: $KEEP when keep is set and $KEEP names a directory
 * that does not exist yet (to look at it afterwards), else a fresh one
 * under $TMPDIR. */
static void bench_demo_site(const char *prog, char *dir, size_t cap, int keep)
{
    const char *k = keep ? getenv("KEEP") : NULL, *tmp = getenv("TMPDIR");
    if (k && *k) {
        snprintf(dir, cap, "%s", k);
        if (mkdir(dir, 0700) != 0)
            bench_die(prog, "KEEP must name a directory that does not exist yet", dir);
    } else {
        snprintf(dir, cap, "%s/folio-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prog);
        if (!mkdtemp(dir))
            bench_die(prog, "mkdtemp", dir);
    }
    const char *parts[] = {"content", "static", "folio.yml"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        char from[1024], to[2048];
        snprintf(from, sizeof from, "%s/%s", FOLIO_SRCDIR, parts[i]);
        snprintf(to, sizeof to, "%s/%s", dir, parts[i]);
        if (symlink(from, to) != 0)
            bench_die(prog, "symlink", to);
    }
}

#endif
