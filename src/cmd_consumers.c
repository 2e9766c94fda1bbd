/* folio deliver, consumers, deadletters: the owner's side of the log's
 * readers (mail to the owner, webhooks). They open the site's consumers
 * exactly as folio-fcgi does, so a name shown here is the one in its logs
 * and metrics. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "consumers.h"
#include "domain.h"
#include "util.h"

/* ---- shared plumbing ----------------------------------------------------- */

enum { S_OPT_JSON = 1, S_OPT_ALL = 2 };

typedef struct S_args {
    const char *name;      /* the command, for messages */
    const char *site_dir;
    int json, all;
    char **rest;           /* the operands */
    int nrest;
} S_args;

/* Parses -s SITE plus the options in `allowed`; 0, 2 (usage) or -1
 * (--help printed). */
static int S_parse(int argc, char **argv, S_args *a, unsigned allowed,
                   const char *usage, const char *help)
{
    static const struct option longs[] = {
        {"site", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    a->site_dir = ".";
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "s:h", longs, NULL)) != -1) {
        switch (ch) {
        case 's': a->site_dir = optarg; break;
        case 'h': fputs(help, stdout); return -1;
        case 'j':
            if (allowed & S_OPT_JSON) { a->json = 1; break; }
            goto bad;
        case 'a':
            if (allowed & S_OPT_ALL) { a->all = 1; break; }
            goto bad;
        default:
            goto bad;
        }
    }
    a->rest = argv + optind;
    a->nrest = argc - optind;
    return 0;
bad:
    fprintf(stderr, "folio %s: unknown option or missing value: '%s'\n"
            "usage: folio %s %s\n", a->name, argv[optind - 1], a->name, usage);
    return 2;
}

typedef struct S_site {
    folio_config cfg;
    int loaded;
    consumers *c;
} S_site;

static int S_open(S_site *s, const S_args *a)
{
    folio_err err = {{0}};
    if (config_load(a->site_dir, &s->cfg, &err) == 0) {
        s->loaded = 1;
        if (consumers_open_site(&s->cfg, &s->c, &err) == 0)
            return 0;
    }
    fprintf(stderr, "folio %s: %s\n", a->name, err.msg);
    return 1;
}

static void S_close(S_site *s)
{
    consumers_close(s->c);
    if (s->loaded)
        config_free(&s->cfg);
}

static int S_print_json(const char *name, cJSON *v)
{
    char *text = cJSON_Print(v);
    int ok = text && printf("%s\n", text) >= 0 && fflush(stdout) == 0;
    free(text);
    if (!ok)
        fprintf(stderr, "folio %s: writing the answer failed\n", name);
    return ok ? 0 : 1;
}

static const char *S_str(const cJSON *o, const char *key, const char *none)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(it) ? it->valuestring : none;
}

static long long S_num(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) ? (long long)it->valuedouble : -1;
}

/* ---- folio deliver ---------------------------------------------------------- */

static const char S_deliver_help[] =
    "usage: folio deliver [-s SITE]\n"
    "\n"
    "Runs every consumer of the site (mail, webhooks) once up to the end of\n"
    "the log, with the retries that are due, and exits: for cron, and for\n"
    "sites whose folio-fcgi does not run. A receiver that fails is reported\n"
    "and retried later; the exit status is 1 only when folio itself fails.\n"
    "Does nothing while folio-fcgi delivers for the site.\n";

/* Sign-ups never verified are erased after 7 days: folio deliver is the
 * periodic job for sites whose folio-fcgi does not run all the time. */
static int S_expire_pending(const folio_config *cfg)
{
    domain *d = NULL;
    folio_err err = {{0}};
    int erased = 0;
    if (domain_open(cfg, &d, &err) != 0 ||
        domain_expire_pending(d, &erased, &err) != 0) {
        fprintf(stderr, "folio deliver: expiring sign-ups: %s\n", err.msg);
        domain_close(d);
        return -1;
    }
    domain_close(d);
    if (erased)
        printf("accounts: %d sign-up(s) never verified erased\n", erased);
    return 0;
}

int cmd_deliver(int argc, char **argv)
{
    S_args a = {.name = "deliver"};
    int rc = S_parse(argc, argv, &a, 0, "[-s SITE]", S_deliver_help);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (a.nrest)
        return fprintf(stderr, "usage: folio deliver [-s SITE]\n"), 2;
    S_site s = {0};
    if (S_open(&s, &a)) {
        S_close(&s);
        return 1;
    }
    folio_err err = {{0}};
    if (S_expire_pending(&s.cfg) != 0) {
        S_close(&s);
        return 1;
    }
    rc = consumers_run_once(s.c, &err);
    if (rc != 0) {
        fprintf(stderr, "folio deliver: %s%s\n", err.msg,
                rc > 0 ? "; nothing done" : "");
        S_close(&s);
        return rc < 0 ? 1 : 0;
    }
    for (size_t i = 0; i < consumers_count(s.c); i++) {
        consumers_stat st;
        consumers_get_stat(s.c, i, &st);
        printf("%s: %lld delivered, %lld to retry, %lld dead letters new;"
               " at %lld of %lld; %lld retries pending, %lld dead letters\n",
               consumers_name(s.c, i), st.done, st.retried, st.dead,
               st.position, st.head, st.retries, st.dead_letters);
        if (st.failing)
            printf("%s: failing: %s\n", consumers_name(s.c, i), st.last_error);
    }
    if (consumers_count(s.c) == 0)
        printf("this site has no consumers\n");
    S_close(&s);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- folio consumers -------------------------------------------------------- */

static const char S_consumers_help[] =
    "usage: folio consumers [--json] [-s SITE]\n"
    "\n"
    "Each consumer of the site: its position in the log, how far behind the\n"
    "end it is (events, and seconds since the oldest it has not handled),\n"
    "its last success and last error, retries pending and dead letters.\n";

static void S_consumer_line(const cJSON *o)
{
    long long pos = S_num(o, "position");
    printf("%s%s\n", S_str(o, "name", "?"),
           cJSON_IsTrue(cJSON_GetObjectItem(o, "configured"))
               ? "" : " (no longer configured)");
    if (pos < 0)
        printf("  position      not started (head %lld)\n", S_num(o, "head"));
    else
        printf("  position      %lld of %lld\n", pos, S_num(o, "head"));
    printf("  lag           %lld events, %lld s\n", S_num(o, "lag_events"),
           S_num(o, "lag_seconds"));
    printf("  delivered     %lld\n", S_num(o, "delivered"));
    printf("  last success  %s\n", S_str(o, "last_success_at", "never"));
    printf("  last error    %s", S_str(o, "last_error_at", "never"));
    const char *e = S_str(o, "last_error", NULL);
    printf(e ? ": %s\n" : "\n", e);
    printf("  retries       %lld\n", S_num(o, "retries"));
    printf("  dead letters  %lld\n", S_num(o, "dead_letters"));
}

int cmd_consumers(int argc, char **argv)
{
    S_args a = {.name = "consumers"};
    int rc = S_parse(argc, argv, &a, S_OPT_JSON, "[--json] [-s SITE]",
                     S_consumers_help);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (a.nrest)
        return fprintf(stderr, "usage: folio consumers [--json] [-s SITE]\n"),
               2;
    S_site s = {0};
    if (S_open(&s, &a)) {
        S_close(&s);
        return 1;
    }
    folio_err err = {{0}};
    cJSON *list = consumers_status(s.c, &err);
    if (!list) {
        fprintf(stderr, "folio consumers: %s\n", err.msg);
        rc = 1;
    } else if (a.json) {
        rc = S_print_json(a.name, list);
    } else {
        const cJSON *o;
        cJSON_ArrayForEach(o, list) S_consumer_line(o);
        if (!cJSON_GetArraySize(list))
            printf("this site has no consumers\n");
        rc = fflush(stdout) == 0 ? 0 : 1;
    }
    cJSON_Delete(list);
    S_close(&s);
    return rc;
}

/* ---- folio deadletters ------------------------------------------------------ */

static const char S_dead_help[] =
    "usage: folio deadletters [CONSUMER] [--all] [--json] [-s SITE]\n"
    "       folio deadletters retry ID|--all [CONSUMER] [-s SITE]\n"
    "       folio deadletters drop ID [-s SITE]\n"
    "\n"
    "Dead letters are events a consumer gave up on: refused for good by the\n"
    "receiver, or failing after every attempt. The list shows those still\n"
    "open (--all: delivered and dropped ones too). retry schedules a fresh\n"
    "round of attempts now (folio-fcgi picks it up within consumers.poll,\n"
    "or run folio deliver); drop gives one up for good. Both are recorded.\n";

static const char S_dead_usage[] =
    "[CONSUMER] [--all] [--json] | retry ID|--all [CONSUMER] | drop ID";

static int S_dead_list(S_site *s, const S_args *a)
{
    folio_err err = {{0}};
    cJSON *list = consumers_deadletters(s->c, a->nrest ? a->rest[0] : NULL,
                                        a->all, &err);
    if (!list) {
        fprintf(stderr, "folio deadletters: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (a->json) {
        rc = S_print_json(a->name, list);
    } else {
        const cJSON *o;
        cJSON_ArrayForEach(o, list)
            printf("%lld  %s  %s  position %lld  %s  %lld attempts  %s: %s\n",
                   S_num(o, "id"), S_str(o, "state", "?"),
                   S_str(o, "consumer", "?"), S_num(o, "position"),
                   S_str(o, "type", "?"), S_num(o, "attempts"),
                   S_str(o, "created_at", "?"), S_str(o, "error", ""));
        if (!cJSON_GetArraySize(list))
            printf("no dead letters\n");
        rc = fflush(stdout) == 0 ? 0 : 1;
    }
    cJSON_Delete(list);
    return rc;
}

static int S_parse_id(const char *s, long long *id)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v <= 0)
        return -1;
    *id = v;
    return 0;
}

/* retry ID | retry --all [CONSUMER] | drop ID */
static int S_dead_act(S_site *s, const S_args *a, int retry)
{
    long long id = 0, n = 0;
    const char *consumer = NULL;
    int ok = retry && a->all ? a->nrest <= 2
                             : a->nrest == 2 && !S_parse_id(a->rest[1], &id);
    if (!ok) {
        fprintf(stderr, "usage: folio deadletters %s\n", S_dead_usage);
        return 2;
    }
    if (retry && a->all && a->nrest == 2)
        consumer = a->rest[1];
    folio_err err = {{0}};
    int rc = retry ? consumers_deadletter_retry(s->c, id, consumer, &n, &err)
                   : consumers_deadletter_drop(s->c, id, &err);
    if (rc < 0) {
        fprintf(stderr, "folio deadletters: %s\n", err.msg);
        return 1;
    }
    if (rc > 0) {
        fprintf(stderr, "folio deadletters: no open dead letter %lld\n", id);
        return 1;
    }
    if (retry)
        printf("%lld dead letter%s scheduled for delivery\n", n,
               n == 1 ? "" : "s");
    else
        printf("dead letter %lld dropped\n", id);
    return fflush(stdout) == 0 ? 0 : 1;
}

int cmd_deadletters(int argc, char **argv)
{
    S_args a = {.name = "deadletters"};
    int rc = S_parse(argc, argv, &a, S_OPT_JSON | S_OPT_ALL, S_dead_usage,
                     S_dead_help);
    if (rc)
        return rc < 0 ? 0 : rc;
    int verb = a.nrest > 0 && (!strcmp(a.rest[0], "retry") ||
                               !strcmp(a.rest[0], "drop"));
    if (!verb && a.nrest > 1) {
        fprintf(stderr, "usage: folio deadletters %s\n", S_dead_usage);
        return 2;
    }
    S_site s = {0};
    if (S_open(&s, &a)) {
        S_close(&s);
        return 1;
    }
    rc = !verb ? S_dead_list(&s, &a)
                : S_dead_act(&s, &a, !strcmp(a.rest[0], "retry"));
    S_close(&s);
    return rc;
}
