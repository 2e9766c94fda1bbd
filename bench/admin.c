/* admin-bench — the owner's pages with a large inbox: N contact requests
 * through the domain (1 % of them marked handled), then each page of
 * /admin/ rendered R times the way folio-fcgi's responder does
 * (web_admin_render: the page's reads on the module's own connection, the
 * site's theme), printing the median and the 95th percentile.
 *
 *   make -C build bench/admin-bench && build/bench/admin-bench [N [R]]
 *   (or bench/admin, which also times the pages and sign-ins over HTTP)
 *
 * KEEP=DIR keeps the site there (bench/admin serves it afterwards);
 * SITE=DIR times the pages of such a kept site again, without filling.
 * Target: the inbox page <= 20 ms with 100,000 requests, at any depth and
 * for a sparse filter (keyset pagination, never OFFSET). Not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "domain.h"
#include "site.h"
#include "util.h"
#include "demo_site.h"
#include "web_admin.h"

static double S_ms(void) { return (double)util_mono_ns() / 1e6; }

static void S_die(const char *what, const char *msg)
{
    bench_die("admin-bench", what, msg);
}

static void S_site(char *dir, size_t cap)
{
    bench_demo_site("admin-bench", dir, cap, 1);
}

/* n requests, 1 % handled: a sparse filter walks past the other 99 %. */
static void S_fill(domain *d, long n)
{
    folio_err err = {{0}};
    domain_result res;
    char name[64], email[64], msg[128], id[96];
    for (long i = 0; i < n; i += 1000) {
        if (domain_begin(d, &err) != 0)
            S_die("domain_begin", err.msg);
        for (long k = i; k < n && k < i + 1000; k++) {
            snprintf(name, sizeof name, "Sender %ld", k);
            snprintf(email, sizeof email, "sender%ld@example.org", k % 5000);
            snprintf(msg, sizeof msg, "Message number %ld, about a project of yours.", k);
            domain_contact_req r = {name, email, "A question", msg, "/contact/", "bench", NULL};
            if (domain_contact(d, &r, &res, &err) != DOMAIN_OK)
                S_die("domain_contact", res.rc == DOMAIN_ERROR ? err.msg : "refused");
            snprintf(id, sizeof id, "%s", res.id);
            if (k % 100 == 0 && domain_contact_mark(d, id, "handled", &res, &err) != DOMAIN_OK)
                S_die("domain_contact_mark", err.msg);
        }
        if (domain_commit(d, &err) != 0)
            S_die("domain_commit", err.msg);
    }
}

static int S_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void S_time(web_admin *a, site *s, const char *label, const char *path,
                   const char *query, int runs)
{
    double *ms = calloc((size_t)runs, sizeof *ms);
    buf out = BUF_INIT;
    folio_err err = {{0}};
    if (!ms)
        S_die("calloc", "out of memory");
    for (int i = 0; i < runs; i++) {
        buf_reset(&out);
        double t0 = S_ms();
        if (web_admin_render(a, s, path, query, &out, &err) != 0)
            S_die(path, err.msg);
        ms[i] = S_ms() - t0;
    }
    qsort(ms, (size_t)runs, sizeof *ms, S_cmp);
    printf("  %-34s median %6.2f ms  p95 %6.2f ms  (%zu bytes)\n", label, ms[runs / 2],
           ms[(runs * 95) / 100 < runs ? (runs * 95) / 100 : runs - 1], out.len);
    buf_free(&out);
    free(ms);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    int runs = argc > 2 ? atoi(argv[2]) : 50;
    if (n < 0 || runs < 1)
        return 2;
    char dir[1024];
    const char *reuse = getenv("SITE");
    if (reuse && *reuse) /* a site kept by an earlier run: no filling */
        snprintf(dir, sizeof dir, "%s", reuse), n = 0;
    else
        S_site(dir, sizeof dir);
    folio_config cfg;
    folio_err err = {{0}};
    domain *d = NULL;
    if (config_load(dir, &cfg, &err) != 0 || domain_open(&cfg, &d, &err) != 0)
        S_die(dir, err.msg);
    double t0 = S_ms();
    S_fill(d, n);
    printf("admin-bench: %ld contact requests (1 %% handled) stored in %.1f s\n", n,
           (S_ms() - t0) / 1000.0);
    site_opts o = {.jobs = 1, .data = domain_site_data, .data_ud = d,
                   .range = domain_site_range};
    site *s = site_open(&cfg, &o, &err);
    web_admin *a = NULL;
    if (!s || web_admin_open(&cfg, &a, &err) != 0)
        S_die("open", err.msg);
    char deep[64];
    snprintf(deep, sizeof deep, "status=new&before=%ld", n ? n / 2 + n / 10 : 60000);
    printf("admin-bench: each page rendered %d times in the site's theme (target: inbox <= 20 ms)\n",
           runs);
    S_time(a, s, "/admin/ (counts)", "/admin/", "", runs);
    S_time(a, s, "/admin/inbox/ first page", "/admin/inbox/", "", runs);
    S_time(a, s, "/admin/inbox/ halfway down", "/admin/inbox/", deep, runs);
    S_time(a, s, "/admin/inbox/?status=handled (1 %)", "/admin/inbox/", "status=handled", runs);
    S_time(a, s, "/admin/inbox/?status=all", "/admin/inbox/", "status=all", runs);
    S_time(a, s, "/admin/events/", "/admin/events/", "", runs);
    S_time(a, s, "/admin/events/?type=...StatusChanged", "/admin/events/",
           "type=ContactRequestStatusChanged", runs);
    S_time(a, s, "/admin/health/", "/admin/health/", "", runs);
    web_admin_close(a);
    site_close(s);
    domain_close(d);
    config_free(&cfg);
    if (reuse && *reuse) {
        /* someone else's */
    } else if (!getenv("KEEP") || !*getenv("KEEP")) {
        if (util_rmtree(dir, &err) != 0)
            fprintf(stderr, "admin-bench: %s\n", err.msg);
    } else {
        printf("admin-bench: site kept in %s\n", dir);
    }
    return 0;
}
