/* community-bench — what one new member costs the pages, at any length of
 * the member list: the demo site (this source tree's content/ and
 * templates/), N members registered through the domain, a full build, then
 * new members one by one, each committed and its pages rendered again the
 * way folio-fcgi's renderer does (site_render_affected with the result's
 * names, the site kept open).
 *
 *   make bench/community-bench && ./bench/community-bench [N...] [-t TRIALS]
 *
 * Prints, per N: pages written per new member, the time from the commit to
 * the community page and the home page's count being updated (target:
 * <= 5 pages, <= 100 ms), and for comparison every page of the list
 * rendered again (what each sign-up cost before ranked pages); then what a
 * member's own account costs: a rename from /account/ (pages written, commit
 * to pages) and "download my data" (the whole log read for their events).
 * Not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "domain.h"
#include "site.h"
#include "util.h"
#include "demo_site.h"

static double S_ms(void) { return (double)util_mono_ns() / 1e6; }

static void S_die(const char *what, const char *msg)
{
    bench_die("community-bench", what, msg);
}

static void S_site(char *dir, size_t cap)
{
    bench_demo_site("community-bench", dir, cap, 0);
}

static void S_register(domain *d, long i, domain_result *res)
{
    char email[64], name[64];
    folio_err err = {{0}};
    snprintf(email, sizeof email, "member%ld@example.org", i);
    snprintf(name, sizeof name, "Member %ld", i);
    domain_register_req r = {.email = email, .display_name = name};
    if (domain_register(d, &r, res, &err) != DOMAIN_OK)
        S_die("domain_register", res->rc == DOMAIN_ERROR ? err.msg : "refused");
}

static int S_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void S_run(long n, int trials)
{
    char dir[512];
    S_site(dir, sizeof dir);
    folio_config cfg;
    folio_err err = {{0}};
    domain *d = NULL;
    if (config_load(dir, &cfg, &err) != 0 || domain_open(&cfg, &d, &err) != 0)
        S_die(dir, err.msg);
    domain_result res;
    double t0 = S_ms();
    for (long i = 0; i < n; i += 1000) {
        if (domain_begin(d, &err) != 0)
            S_die("domain_begin", err.msg);
        for (long k = i; k < n && k < i + 1000; k++)
            S_register(d, k, &res);
        if (domain_commit(d, &err) != 0)
            S_die("domain_commit", err.msg);
    }
    double treg = S_ms() - t0;
    site_opts o = {.jobs = 1, .data = domain_site_data, .data_ud = d,
                   .range = domain_site_range};
    site *s = site_open(&cfg, &o, &err);
    t0 = S_ms();
    if (!s || site_build(s, &err) != 0)
        S_die("build", err.msg);
    double tbuild = S_ms() - t0;
    site_close(s);
    if (!(s = site_open(&cfg, &o, &err))) /* as folio-fcgi: from the deps file */
        S_die("site_open", err.msg);
    double *ms = calloc((size_t)trials, sizeof *ms);
    int maxpages = 0;
    if (!ms)
        S_die("calloc", "out of memory");
    for (int t = 0; t < trials; t++) {
        S_register(d, n + t, &res); /* committed on return */
        t0 = S_ms();
        int pages = 0;
        if (site_render_affected(s, res.changed, res.nchanged, &pages, &err) != 0)
            S_die("render", err.msg);
        ms[t] = S_ms() - t0;
        if (pages > maxpages)
            maxpages = pages;
    }
    qsort(ms, (size_t)trials, sizeof *ms, S_cmp);
    const char *whole[] = {"community", "community.members"};
    int wpages = 0;
    t0 = S_ms();
    if (site_render_affected(s, whole, 2, &wpages, &err) != 0)
        S_die("render", err.msg);
    double twhole = S_ms() - t0;
    /* a new member renames from /account/ and downloads their data: the
     * rename touches their page, the download reads the whole log */
    char raw[44];
    domain_result first;
    S_register(d, n + trials, &first);
    if (domain_session_start(d, first.id + 5, raw, &err) != 0)
        S_die("session", err.msg);
    t0 = S_ms();
    if (domain_account_rename(d, raw, "Renamed Member", NULL, NULL, &res, &err) != DOMAIN_OK)
        S_die("rename", err.msg);
    int rpages = 0;
    if (site_render_affected(s, res.changed, res.nchanged, &rpages, &err) != 0)
        S_die("render", err.msg);
    double trename = S_ms() - t0;
    cJSON *doc = NULL;
    t0 = S_ms();
    if (domain_account_export(d, raw, &doc, &err) != 1)
        S_die("export", err.msg);
    double texport = S_ms() - t0;
    int nev = cJSON_GetArraySize(cJSON_GetObjectItem(doc, "events"));
    cJSON_Delete(doc);
    printf("%7ld members: a rename: %d pages, commit and pages %.1f ms; download my"
           " data: %d events found in %.0f ms\n", n, rpages, trename, nev, texport);
    printf("%7ld members: registered in %.0f ms, built in %.0f ms; per new member"
           " (%d): %d pages at most, commit to pages %.1f ms median, %.1f ms max"
           " (target <= 5, <= 100 ms); the whole list again: %d pages, %.0f ms\n",
           n, treg, tbuild, trials, maxpages, ms[trials / 2], ms[trials - 1], wpages,
           twhole);
    free(ms);
    site_close(s);
    domain_close(d);
    config_free(&cfg);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "community-bench: could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    long sizes[16];
    int nsizes = 0, trials = 20;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc)
            trials = atoi(argv[++i]);
        else if (nsizes < 16)
            sizes[nsizes++] = atol(argv[i]);
    }
    if (!nsizes) {
        sizes[0] = 0, sizes[1] = 20000, sizes[2] = 100000;
        nsizes = 3;
    }
    if (trials < 1)
        S_die("usage", "community-bench [N...] [-t TRIALS]");
    for (int i = 0; i < nsizes; i++)
        S_run(sizes[i], trials);
    return 0;
}
