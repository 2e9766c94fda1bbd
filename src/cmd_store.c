/* folio register, contact, forget, events, replay, check, backup: the
 * owner's tools on the event store. Each opens the site's store through
 * the domain, exactly as folio-fcgi does, so a command here and a form on
 * the site give the same results and messages. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "baseurl.h"
#include "cmd.h"
#include "config.h"
#include "domain.h"
#include "site.h"
#include "util.h"

/* ---- shared plumbing -------------------------------------------------- */

typedef struct S_ctx {
    const char *name; /* the command, for messages */
    folio_config cfg;
    int cfg_loaded;
    domain *d;
} S_ctx;

static int S_fail(S_ctx *c, const folio_err *err)
{
    fprintf(stderr, "folio %s: %s\n", c->name, err->msg);
    return 1;
}

static int S_usage(const char *name, const char *usage)
{
    fprintf(stderr, "usage: folio %s %s\n", name, usage);
    return 2;
}

static int S_open(S_ctx *c, const char *site_dir)
{
    folio_err err = {{0}};
    if (config_load(site_dir, &c->cfg, &err) < 0)
        return S_fail(c, &err);
    c->cfg_loaded = 1;
    if (baseurl_apply(&c->cfg, &err) < 0) /* render as the last build did */
        return S_fail(c, &err);
    if (domain_open(&c->cfg, &c->d, &err) < 0)
        return S_fail(c, &err);
    return 0;
}

static void S_close(S_ctx *c)
{
    domain_close(c->d);
    c->d = NULL;
    if (c->cfg_loaded)
        config_free(&c->cfg);
    c->cfg_loaded = 0;
}

/* 1 when the site has been built (its public dir records page deps). */
static int S_built(const folio_config *cfg)
{
    char deps[4096];
    if (util_path(deps, sizeof deps, NULL, "%s/.folio-deps", cfg->public_dir))
        return 0;
    return util_is_file(deps);
}

/* Renders again the pages that read the given data names, when the site
 * has been built; before the first build there is nothing to update. */
static int S_rerender(S_ctx *c, const char *const *names, size_t n)
{
    if (!n || !S_built(&c->cfg))
        return 0;
    folio_err err = {{0}};
    site_opts o = {0};
    o.data = domain_site_data;
    o.data_ud = c->d;
    o.range = domain_site_range;
    o.jobs = 1;
    site *s = site_open(&c->cfg, &o, &err);
    int rendered = 0;
    if (!s || site_render_affected(s, names, n, &rendered, &err) < 0) {
        site_close(s);
        fprintf(stderr, "folio %s: the change is stored, but rendering the"
                " pages failed: %s\n", c->name, err.msg);
        return 1;
    }
    site_close(s);
    return 0;
}

int cmd_rerender(const folio_config *cfg, domain *d, const char *name,
                 const char *const *names, size_t n)
{
    S_ctx c = {.name = name, .cfg = *cfg, .d = d};
    return S_rerender(&c, names, n);
}

/* Prints a refused command the way the forms word it; the exit status. */
static int S_report(S_ctx *c, const domain_result *res, const folio_err *err)
{
    switch (res->rc) {
    case DOMAIN_OK:
        printf("%s\n", res->id);
        return S_rerender(c, res->changed, res->nchanged);
    case DOMAIN_DUPLICATE:
        printf("already received: the same message from this address"
               " arrived less than 10 minutes ago and was not stored again\n");
        return 0;
    case DOMAIN_INVALID:
    case DOMAIN_ALREADY_REGISTERED:
        for (size_t i = 0; i < res->nerrors; i++)
            fprintf(stderr, "%s: %s\n", res->errors[i].field,
                    res->errors[i].message);
        if (!res->nerrors)
            fprintf(stderr, "folio %s: refused\n", c->name);
        return 1;
    case DOMAIN_NOT_FOUND:
        fprintf(stderr, "folio %s: no personal data is stored for that"
                " address\n", c->name);
        return 1;
    default:
        return S_fail(c, err);
    }
}

static int S_is_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    }
    return 0;
}

/* getopt_long over argv with the site option built in; returns the next
 * option, -1 at the end, '?' after printing an error. */
static int S_getopt(int argc, char **argv, const char *name,
                    const struct option *longs, const char *shorts)
{
    int ch = getopt_long(argc, argv, shorts, longs, NULL);
    if (ch == '?') {
        fprintf(stderr, "folio %s: unknown option '%s'\n", name,
                argv[optind - 1]);
    } else if (ch == ':') {
        fprintf(stderr, "folio %s: option '%s' needs a value\n", name,
                argv[optind - 1]);
        ch = '?';
    }
    return ch;
}

/* ---- register and contact --------------------------------------------- */

static const char S_register_help[] =
    "usage: folio register --email E --name N [--password-stdin] [-s SITE]\n"
    "\n"
    "Registers a member exactly as the registration form does: the same\n"
    "field rules and messages, a UserRegistered event, the projections\n"
    "updated in the same transaction and the community pages rendered again\n"
    "(when the site has been built). Prints the member's stream id.\n"
    "\n"
    "  --email E          the address (compared without case and spaces)\n"
    "  --name N           the public display name\n"
    "  --password-stdin   read the password (10 to 1024 bytes) from the\n"
    "                     first line of standard input; kept only as an\n"
    "                     Argon2id hash\n"
    "  -s, --site SITE    the site directory (default .)\n"
    "\n"
    "Exit status: 0 registered, 1 refused (the message names the field) or\n"
    "failed, 2 wrong usage.\n";

/* Reads the first line of stdin into pw (wiped by the caller). */
static int S_read_password(char *pw, size_t cap)
{
    if (!fgets(pw, (int)cap, stdin))
        return -1;
    size_t n = strlen(pw);
    if (n && pw[n - 1] != '\n' && !feof(stdin)) {
        int ch; /* longer than any valid password: drain, let the rule say */
        while ((ch = getchar()) != EOF && ch != '\n')
            ;
    }
    while (n && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
        pw[--n] = '\0';
    return 0;
}

int cmd_register(int argc, char **argv)
{
    static const struct option longs[] = {
        {"email", required_argument, NULL, 'e'},
        {"name", required_argument, NULL, 'n'},
        {"password-stdin", no_argument, NULL, 'p'},
        {"site", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    if (S_is_help(argc, argv))
        return fputs(S_register_help, stdout), 0;
    const char *email = NULL, *name = NULL, *site_dir = ".";
    int use_stdin = 0, ch;
    optind = 1;
    while ((ch = S_getopt(argc, argv, "register", longs, ":e:n:ps:h")) != -1) {
        switch (ch) {
        case 'e': email = optarg; break;
        case 'n': name = optarg; break;
        case 'p': use_stdin = 1; break;
        case 's': site_dir = optarg; break;
        default:
            return S_usage("register", "--email E --name N [--password-stdin]");
        }
    }
    if (optind != argc || !email || !name)
        return S_usage("register", "--email E --name N [--password-stdin]");
    char pw[1100];
    if (use_stdin && S_read_password(pw, sizeof pw) < 0) {
        fprintf(stderr, "folio register: no password on standard input\n");
        return 1;
    }
    domain_register_req req = {email, name, use_stdin ? pw : NULL, NULL,
                               NULL, NULL, 0, 0};
    domain_result res;
    folio_err err = {{0}};
    int status;
    if (domain_check_register(&req, &res) != DOMAIN_OK) {
        S_ctx c = {.name = "register"};
        status = S_report(&c, &res, &err);
    } else {
        S_ctx c = {.name = "register"};
        status = S_open(&c, site_dir);
        if (!status) {
            domain_register(c.d, &req, &res, &err);
            status = S_report(&c, &res, &err);
        }
        S_close(&c);
    }
    sodium_memzero(pw, sizeof pw);
    return status;
}

static const char S_contact_help[] =
    "usage: folio contact --name N --email E --message M [--subject S]\n"
    "                     [-s SITE]\n"
    "\n"
    "Submits a contact request exactly as the contact form does: the same\n"
    "field rules and messages and a ContactRequestSubmitted event. The same\n"
    "message from the same address within 10 minutes is not stored twice.\n"
    "Prints the request's stream id.\n"
    "\n"
    "  --name N           who writes\n"
    "  --email E          their address\n"
    "  --message M        the message (up to 5000 bytes)\n"
    "  --subject S        a subject line (optional)\n"
    "  -s, --site SITE    the site directory (default .)\n"
    "\n"
    "Exit status: 0 stored (or a repeat), 1 refused or failed, 2 wrong usage.\n";

int cmd_contact(int argc, char **argv)
{
    static const struct option longs[] = {
        {"name", required_argument, NULL, 'n'},
        {"email", required_argument, NULL, 'e'},
        {"message", required_argument, NULL, 'm'},
        {"subject", required_argument, NULL, 'S'},
        {"site", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    if (S_is_help(argc, argv))
        return fputs(S_contact_help, stdout), 0;
    domain_contact_req req = {0};
    const char *site_dir = ".";
    int ch;
    optind = 1;
    while ((ch = S_getopt(argc, argv, "contact", longs, ":n:e:m:S:s:h")) != -1) {
        switch (ch) {
        case 'n': req.name = optarg; break;
        case 'e': req.email = optarg; break;
        case 'm': req.message = optarg; break;
        case 'S': req.subject = optarg; break;
        case 's': site_dir = optarg; break;
        default:
            return S_usage("contact", "--name N --email E --message M"
                           " [--subject S]");
        }
    }
    if (optind != argc || !req.name || !req.email || !req.message)
        return S_usage("contact", "--name N --email E --message M"
                       " [--subject S]");
    domain_result res;
    folio_err err = {{0}};
    S_ctx c = {.name = "contact"};
    if (domain_check_contact(&req, &res) != DOMAIN_OK)
        return S_report(&c, &res, &err);
    int status = S_open(&c, site_dir);
    if (!status) {
        domain_contact(c.d, &req, &res, &err);
        status = S_report(&c, &res, &err);
    }
    S_close(&c);
    return status;
}

/* ---- forget ----------------------------------------------------------- */

static const char S_forget_help[] =
    "usage: folio forget EMAIL [-s SITE]\n"
    "\n"
    "Erases a person: destroys the key their personal data is encrypted\n"
    "with, records a PersonForgotten event (without personal data), removes\n"
    "them from the projections and their password, empties the write-ahead\n"
    "log and renders the affected pages again. Their events then read as\n"
    "[redacted]. Backups taken before still hold the key.\n"
    "\n"
    "  -s, --site SITE    the site directory (default .)\n"
    "\n"
    "Exit status: 0 erased, 1 nothing stored for EMAIL or failed, 2 wrong\n"
    "usage.\n";

static const struct option S_site_only[] = {
    {"site", required_argument, NULL, 's'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

int cmd_forget(int argc, char **argv)
{
    if (S_is_help(argc, argv))
        return fputs(S_forget_help, stdout), 0;
    const char *site_dir = ".";
    int ch;
    optind = 1;
    while ((ch = S_getopt(argc, argv, "forget", S_site_only, ":s:h")) != -1) {
        if (ch != 's')
            return S_usage("forget", "EMAIL [-s SITE]");
        site_dir = optarg;
    }
    if (optind + 1 != argc)
        return S_usage("forget", "EMAIL [-s SITE]");
    S_ctx c = {.name = "forget"};
    domain_result res;
    folio_err err = {{0}};
    int status = S_open(&c, site_dir);
    if (!status) {
        domain_forget(c.d, argv[optind], &res, &err);
        if (res.rc == DOMAIN_OK)
            printf("forgotten: %s\n", res.id);
        status = res.rc == DOMAIN_OK
                     ? S_rerender(&c, res.changed, res.nchanged)
                     : S_report(&c, &res, &err);
    }
    S_close(&c);
    return status;
}

/* ---- events ----------------------------------------------------------- */

static const char S_events_help[] =
    "usage: folio events [--stream ID] [--type T] [--after POS]\n"
    "                    [--as-of TIME] [--json] [-s SITE]\n"
    "\n"
    "Lists events in log order, upcast to the current schema, with personal\n"
    "fields decrypted for the owner ([redacted] once a person is forgotten).\n"
    "Plain lines: POSITION TIME TYPE STREAM DATA.\n"
    "\n"
    "  --stream ID     one stream (user-UUID, contact-HASH, person-HASH)\n"
    "  --type T        one event type (UserRegistered, ...)\n"
    "  --after POS     events after this global position\n"
    "  --as-of TIME    events recorded at or before TIME (YYYY-MM-DD or\n"
    "                  YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM], UTC by default)\n"
    "  --json          JSON Lines, the whole envelope per event\n"
    "  -f, --follow    then print new events as they are committed, like\n"
    "                  tail -f, until interrupted (not with --as-of)\n"
    "  -s, --site SITE the site directory (default .)\n";

static int S_parse_pos(const char *s, long long *out)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

int cmd_events(int argc, char **argv)
{
    static const struct option longs[] = {
        {"stream", required_argument, NULL, 'S'},
        {"type", required_argument, NULL, 't'},
        {"after", required_argument, NULL, 'a'},
        {"as-of", required_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'j'},
        {"site", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {"follow", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0}};
    static const char usage[] = "[--stream ID] [--type T] [--after POS]"
                                " [--as-of TIME] [--json] [--follow]";
    int follow = 0;
    if (S_is_help(argc, argv))
        return fputs(S_events_help, stdout), 0;
    domain_events_query q = {0};
    const char *site_dir = ".";
    int ch;
    optind = 1;
    while ((ch = S_getopt(argc, argv, "events", longs, ":S:t:a:A:js:hf")) != -1) {
        switch (ch) {
        case 'f': follow = 1; break;
        case 'S': q.stream = optarg; break;
        case 't': q.type = optarg; break;
        case 'j': q.json = 1; break;
        case 's': site_dir = optarg; break;
        case 'a':
            if (S_parse_pos(optarg, &q.after) < 0) {
                fprintf(stderr, "folio events: --after: not a position:"
                        " '%s'\n", optarg);
                return 2;
            }
            break;
        case 'A':
            if (util_parse_time(optarg, &q.as_of_ms) < 0) {
                fprintf(stderr, "folio events: --as-of: not a time: '%s'"
                        " (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z])\n", optarg);
                return 2;
            }
            if (q.as_of_ms <= 0)
                q.as_of_ms = 1; /* 0 means "now" to the domain */
            break;
        default:
            return S_usage("events", usage);
        }
    }
    if (optind != argc || (follow && q.as_of_ms))
        return S_usage("events", usage);
    S_ctx c = {.name = "events"};
    folio_err err = {{0}};
    int status = S_open(&c, site_dir);
    if (!status && (follow ? cmd_events_follow(c.d, &q, &err)
                           : domain_print_events(c.d, &q, stdout, &err)) < 0)
        status = S_fail(&c, &err);
    S_close(&c);
    return status;
}

/* ---- replay, check, backup -------------------------------------------- */

static const char S_replay_help[] =
    "usage: folio replay [NAME...] [-s SITE]\n"
    "\n"
    "Rebuilds the named projections (all when none is named: members,\n"
    "inbox, stats) from the event log in one transaction (readers keep the\n"
    "old model until it commits, never a half-built one) and renders the\n"
    "pages that read them again.\n"
    "\n"
    "  -s, --site SITE    the site directory (default .)\n";

int cmd_replay(int argc, char **argv)
{
    if (S_is_help(argc, argv))
        return fputs(S_replay_help, stdout), 0;
    const char *site_dir = ".";
    int ch;
    optind = 1;
    while ((ch = S_getopt(argc, argv, "replay", S_site_only, ":s:h")) != -1) {
        if (ch != 's')
            return S_usage("replay", "[NAME...] [-s SITE]");
        site_dir = optarg;
    }
    S_ctx c = {.name = "replay"};
    folio_err err = {{0}};
    int status = S_open(&c, site_dir);
    if (!status) {
        long long t0 = util_now_ms();
        if (domain_replay(c.d, (const char *const *)argv + optind,
                          (size_t)(argc - optind), &err) < 0) {
            status = S_fail(&c, &err);
        } else {
            printf("replayed in %lld ms\n", util_now_ms() - t0);
            status = S_rerender(&c, domain_data_names(), 3);
        }
    }
    S_close(&c);
    return status;
}

static const char S_check_help[] =
    "usage: folio check [-s SITE]\n"
    "\n"
    "Verifies the site: SQLite's integrity check, the triggers that keep\n"
    "the event log append-only, each projection against a fresh replay of\n"
    "the log, and (once the site is built) every page that shows store data\n"
    "against what it would render now, and every other page's recorded inputs\n"
    "against the sources (a page out of date needs folio build). Warnings of\n"
    "folio build (typos of known keys, links to missing pages) fail the\n"
    "check, as with folio build --strict. Prints what differs, one a line.\n"
    "\n"
    "  -s, --site SITE    the site directory (default .)\n"
    "\n"
    "Exit status: 0 all fine, 1 something differs or the check failed.\n";

/* Pages that show store data: 0 current, 1 stale (listed), -1 error. */
static int S_check_pages(S_ctx *c, buf *report, folio_err *err)
{
    if (!S_built(&c->cfg))
        return 0;
    site_opts o = {0};
    o.data = domain_site_data;
    o.data_ud = c->d;
    o.range = domain_site_range;
    site *s = site_open(&c->cfg, &o, err);
    if (!s)
        return -1;
    buf pages = BUF_INIT;
    int r = site_check_pages(s, &pages, err);
    /* the build state against the sources, and the build's checks (as
     * folio build --strict: a warning fails the check) */
    int st = r < 0 ? 0 : site_check_state(s, report, err);
    if (st < 0)
        r = -1;
    else if (st > 0 || site_warnings(s) > 0)
        r = 1;
    site_close(s);
    if (r == 1) {
        const char *p = pages.ptr;
        while (p && *p) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            if (n && buf_printf(report, "page %.*s is out of date\n", (int)n,
                                p) < 0)
                r = err_set(err, "out of memory");
            p = nl ? nl + 1 : p + n;
        }
    }
    buf_free(&pages);
    return r;
}

int cmd_check(int argc, char **argv)
{
    if (S_is_help(argc, argv))
        return fputs(S_check_help, stdout), 0;
    const char *site_dir = ".";
    int ch;
    optind = 1;
    while ((ch = S_getopt(argc, argv, "check", S_site_only, ":s:h")) != -1) {
        if (ch != 's')
            return S_usage("check", "[-s SITE]");
        site_dir = optarg;
    }
    if (optind != argc)
        return S_usage("check", "[-s SITE]");
    S_ctx c = {.name = "check"};
    folio_err err = {{0}};
    buf report = BUF_INIT;
    int status = S_open(&c, site_dir);
    if (!status) {
        int a = domain_check(c.d, &report, &err);
        int b = a < 0 ? -1 : S_check_pages(&c, &report, &err);
        if (a < 0 || b < 0) {
            status = S_fail(&c, &err);
        } else if (a || b) {
            fputs(report.ptr ? report.ptr : "", stdout);
            status = 1;
        } else {
            puts("ok: store, projections and pages agree");
        }
    }
    buf_free(&report);
    S_close(&c);
    return status;
}

static const char S_backup_help[] =
    "usage: folio backup FILE [-s SITE]\n"
    "\n"
    "Writes a consistent copy of the event store to FILE (SQLite's online\n"
    "backup) while the site keeps taking submissions. The copy (mode 0600)\n"
    "holds everyone's sealed personal data and their wrapped keys: it is\n"
    "readable only with var/master.key, which you must back up separately,\n"
    "and it still holds the keys of people forgotten after it was taken.\n"
    "\n"
    "  -s, --site SITE    the site directory (default .)\n";

int cmd_backup(int argc, char **argv)
{
    if (S_is_help(argc, argv))
        return fputs(S_backup_help, stdout), 0;
    const char *site_dir = ".";
    int ch;
    optind = 1;
    while ((ch = S_getopt(argc, argv, "backup", S_site_only, ":s:h")) != -1) {
        if (ch != 's')
            return S_usage("backup", "FILE [-s SITE]");
        site_dir = optarg;
    }
    if (optind + 1 != argc)
        return S_usage("backup", "FILE [-s SITE]");
    S_ctx c = {.name = "backup"};
    folio_err err = {{0}};
    int status = S_open(&c, site_dir);
    if (!status) {
        if (domain_backup(c.d, argv[optind], &err) < 0)
            status = S_fail(&c, &err);
        else
            printf("backed up to %s\n", argv[optind]);
    }
    S_close(&c);
    return status;
}
