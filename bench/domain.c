/* domain-bench — what the writer of folio-fcgi costs per contact request,
 * without the web server: domain_contact in groups (one transaction per
 * group, as folio-fcgi's group commit does), distinct addresses, the site's
 * store at synchronous=FULL.
 *
 *   make bench/domain-bench && ./bench/domain-bench [N [GROUP]] [--keep DIR]
 *
 * The WAL is checkpointed as folio-fcgi does it (a thread beside the
 * writer). Prints contacts/s overall and per tenth of the run (so a slowdown as the
 * inbox grows shows), and the slowest group's commit. Not a test. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "domain.h"
#include "store.h"
#include "util.h"

static double S_now(void) { return (double)util_mono_ns() / 1e9; }

static void S_die(const char *what, const char *msg)
{
    fprintf(stderr, "domain-bench: %s: %s\n", what, msg);
    exit(1);
}

/* As folio-fcgi does: the writer's commits do not checkpoint; a thread of
 * its own does, every 10 ms, on a connection of its own. */
static _Atomic int S_stop;

static void *S_checkpointer(void *arg)
{
    store *ck = arg;
    folio_err err;
    while (!S_stop) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (store_checkpoint(ck, 0, NULL, &err) != 0)
            S_die("checkpoint", err.msg);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long total = 200000, group = 50;
    const char *dir_arg = NULL;
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--keep") && i + 1 < argc)
            dir_arg = argv[++i];
        else if (npos == 0 && (npos = 1))
            total = atol(argv[i]);
        else
            group = atol(argv[i]);
    }
    if (total <= 0 || group <= 0)
        S_die("usage", "domain-bench [N [GROUP]] [--keep DIR]");
    char dir[512];
    if (dir_arg) {
        snprintf(dir, sizeof dir, "%s", dir_arg);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/folio-domain-bench-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir))
            S_die("mkdtemp", dir);
    }
    folio_config cfg;
    folio_err err;
    if (util_mkdirs(dir, 0700, &err) != 0 ||
        config_load(dir, &cfg, &err) != 0)
        S_die(dir, err.msg);
    cfg.sync_full = 1;
    domain *d = NULL;
    if (domain_open(&cfg, &d, &err) != 0)
        S_die("domain_open", err.msg);
    store *ck = NULL;
    store_opts co = {1, 0};
    pthread_t ckt;
    if (domain_set_autocheckpoint(d, 0, &err) != 0 ||
        store_open(cfg.db_path, &co, &ck, &err) != 0)
        S_die("checkpointer", err.msg);
    if (pthread_create(&ckt, NULL, S_checkpointer, ck) != 0)
        S_die("checkpointer", "cannot start a thread");
    printf("domain-bench in %s: %ld contacts, %ld per transaction, "
           "synchronous=FULL\n", dir, total, group);
    double t0 = S_now(), tenth = t0, worst = 0;
    long done = 0;
    char email[64], msg[128], rid[32];
    while (done < total) {
        double g0 = S_now();
        if (domain_begin(d, &err) != 0)
            S_die("domain_begin", err.msg);
        for (long k = 0; k < group && done < total; k++, done++) {
            snprintf(email, sizeof email, "visitor%ld@example.org", done);
            snprintf(msg, sizeof msg, "Hello, I would like to talk about "
                     "project number %ld with you.", done);
            snprintf(rid, sizeof rid, "req-%ld", done);
            domain_contact_req r = {"A Visitor", email, "A project", msg,
                                    "/contact/", rid, "203.0.113.7"};
            domain_result res;
            if (domain_contact(d, &r, &res, &err) != DOMAIN_OK)
                S_die("domain_contact", res.rc == DOMAIN_ERROR ? err.msg
                                                               : "refused");
        }
        if (domain_commit(d, &err) != 0)
            S_die("domain_commit", err.msg);
        if (domain_wal_frames(d) >= 4096 && domain_checkpoint(d, 0, &err))
            S_die("domain_checkpoint", err.msg);
        double g = S_now() - g0;
        if (g > worst)
            worst = g;
        if (done % (total / 10 > 0 ? total / 10 : 1) < group &&
            total >= 10 * group) {
            double now = S_now();
            printf("  at %8ld: %8.0f contacts/s\n", done,
                   (double)(total / 10) / (now - tenth));
            tenth = now;
        }
    }
    double t = S_now() - t0;
    printf("domain_contact, groups of %ld, FULL: %.0f contacts/s (%ld in "
           "%.2f s); slowest group %.1f ms\n", group, (double)total / t, total,
           t, worst * 1000);
    FILE *io = fopen("/proc/self/io", "r");
    char line[128];
    while (io && fgets(line, sizeof line, io))
        if (!strncmp(line, "wchar:", 6) || !strncmp(line, "rchar:", 6))
            printf("  %.5s %.1f KiB per contact (writer and checkpointer)\n",
                   line, atof(line + 7) / 1024 / (double)total);
    if (io)
        fclose(io);
    S_stop = 1;
    pthread_join(ckt, NULL);
    store_close(ck);
    domain_close(d);
    config_free(&cfg);
    if (!dir_arg && util_rmtree(dir, &err) != 0)
        S_die(dir, err.msg);
    return 0;
}
