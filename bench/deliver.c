/* deliver-bench — how fast the consumers catch up with a long log: N
 * contact requests written through the domain (groups of 500 per
 * transaction), then the site's consumers (mail; the webhooks of
 * folio.yml) run from the first event to the last, one after the other,
 * each timed on its own.
 *
 *   make bench/deliver-bench && ./bench/deliver-bench SITE [N]
 *
 * SITE is a site directory whose store is empty; mail goes where
 * mail.transport or FOLIO_SMTP_URL says (bench/deliver starts a local SMTP
 * sink and webhook receiver). Prints events/s written and, per consumer,
 * deliveries/s, what failed, and the CPU time this process spent per
 * delivery (the figure a busy machine does not change). The consumers
 * run as folio-fcgi runs them: batches over kept-alive connections
 * (mail.connections for mail, four for a webhook).
 * Not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "config.h"
#include "consumers.h"
#include "domain.h"
#include "mail.h"
#include "util.h"
#include "webhooks.h"

static double S_now(void) { return (double)util_mono_ns() / 1e9; }

static void S_die(const char *what, const char *msg)
{
    fprintf(stderr, "deliver-bench: %s: %s\n", what, msg);
    exit(1);
}

static void S_fill(const folio_config *cfg, long n)
{
    domain *d = NULL;
    folio_err err = {{0}};
    if (domain_open(cfg, &d, &err) < 0)
        S_die("opening the store", err.msg);
    double t0 = S_now();
    for (long i = 0; i < n;) {
        if (domain_begin(d, &err) < 0)
            S_die("begin", err.msg);
        for (long g = 0; g < 500 && i < n; g++, i++) {
            char email[64], msg[96];
            snprintf(email, sizeof email, "visitor%ld@example.org", i);
            snprintf(msg, sizeof msg, "Hello from visitor %ld — ünïcödé.", i);
            domain_contact_req req = {"Bench Visitor", email, "Benchmark", msg,
                                      "/contact/", NULL, "192.0.2.1"};
            domain_result res;
            if (domain_contact(d, &req, &res, &err) != DOMAIN_OK)
                S_die("contact", err.msg[0] ? err.msg : "refused");
        }
        if (domain_commit(d, &err) < 0)
            S_die("commit", err.msg);
    }
    double dt = S_now() - t0;
    printf("log          %ld contact requests written in %.2f s (%.0f/s)\n",
           n, dt, (double)n / dt);
    domain_close(d);
}

/* CPU time of this process, user and system, in seconds: what folio
 * itself spent, whatever else the machine was doing. */
static double S_cpu(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* A consumer's handler: one of the two. */
typedef struct S_handler {
    consumer_handler_fn fn;
    consumer_batch_fn bfn;
    size_t max;
    void *ud;
} S_handler;

/* Runs one consumer from the first event to the last, timed. */
static void S_time(const folio_config *cfg, const char *name,
                   const char *const *types, S_handler h, double target)
{
    consumers_policy p;
    consumers *c = NULL;
    folio_err err = {{0}};
    if (consumers_policy_load(cfg, &p, &err) < 0)
        S_die("folio.yml", err.msg);
    p.from_beginning = 1;
    if (consumers_open(cfg, &p, &c, &err) < 0 ||
        (h.bfn ? consumers_add_batch(c, name, types, h.bfn, h.max, h.ud, &err)
               : consumers_add(c, name, types, h.fn, h.ud, &err)) < 0)
        S_die("opening the consumers", err.msg);
    double t0 = S_now(), c0 = S_cpu();
    if (consumers_run_once(c, &err) != 0)
        S_die("delivering", err.msg);
    double dt = S_now() - t0, cpu = S_cpu() - c0;
    consumers_stat st;
    consumers_get_stat(c, 0, &st);
    long long all = st.done + st.retried + st.dead;
    printf("%-12s %lld delivered, %lld to retry, %lld dead in %.2f s:"
           " %.0f/s (target %.0f/s), %.0f µs CPU each\n", name, st.done,
           st.retried, st.dead, dt, (double)st.done / dt, target,
           all ? cpu * 1e6 / (double)all : 0);
    if (st.failing)
        printf("%-12s last error: %s\n", "", st.last_error);
    consumers_close(c);
}

/* The mechanism alone: every event decoded and handed to a handler that
 * does nothing. */
static int S_noop(void *ud, const consumer_event *ev, folio_err *err)
{
    (void)ud, (void)err;
    return ev->personal ? CONSUMER_DONE : CONSUMER_PERMANENT;
}

static void S_mail(const folio_config *cfg)
{
    mailer *m = NULL;
    folio_err err = {{0}};
    if (mail_open(cfg, &m, &err) < 0)
        S_die("mail", err.msg);
    printf("mail         to %s, batches of %zu\n", mail_transport_name(m),
           mail_batch_max(m));
    S_handler h = {.bfn = mail_handle_batch, .max = mail_batch_max(m), .ud = m};
    S_time(cfg, "mail", mail_types(), h, 2000);
    mail_close(m);
}

/* Each webhook of folio.yml, one after the other. */
static void S_webhooks(const folio_config *cfg)
{
    webhooks *w = NULL;
    folio_err err = {{0}};
    if (webhooks_open(cfg, &w, &err) < 0)
        S_die("webhooks", err.msg);
    for (size_t i = 0; i < webhooks_count(w); i++)
        S_time(cfg, webhooks_name(w, i), webhooks_types(w, i),
               (S_handler){.bfn = webhooks_handle_batch,
                           .max = webhooks_batch_max(),
                           .ud = webhooks_ud(w, i)}, 5000);
    webhooks_close(w);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        S_die("usage", "deliver-bench SITE [N]");
    long n = argc > 2 ? atol(argv[2]) : 100000;
    folio_config cfg;
    folio_err err = {{0}};
    if (config_load(argv[1], &cfg, &err) < 0)
        S_die("folio.yml", err.msg);
    S_fill(&cfg, n);
    S_time(&cfg, "(no-op)", NULL, (S_handler){.fn = S_noop}, 0);
    S_mail(&cfg);
    S_webhooks(&cfg);
    config_free(&cfg);
    return 0;
}
