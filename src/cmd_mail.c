/* folio mail: the outbox (var/mail/, where mail goes until a transport is
 * set) and a test message through whatever transport is. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "config.h"
#include "mail.h"
#include "util.h"

static const char S_help[] =
    "usage: folio mail [-s SITE]\n"
    "       folio mail show ID [-s SITE]\n"
    "       folio mail test ADDRESS [-s SITE]\n"
    "       folio events --json ... | folio mail send [-s SITE]\n"
    "\n"
    "Mail to the owner (a contact request) and to members (a welcome) goes\n"
    "through the transport set by mail.transport in folio.yml, or by\n"
    "FOLIO_SMTP_URL: the outbox (the default: files in var/mail/), smtp://,\n"
    "smtps://, smtp+starttls:// or sendmail. See folio(1).\n"
    "\n"
    "  (no verb)         lists the outbox, oldest first: ID, date, To and\n"
    "                    subject, separated by tabs\n"
    "  show ID           prints one message of the outbox as it is (RFC 5322)\n"
    "  test ADDRESS      sends a sample message to ADDRESS through the\n"
    "                    configured transport: checks the mail settings\n"
    "  send              sends the mail of each event read from standard\n"
    "                    input, JSON Lines as 'folio events --json' prints\n"
    "                    them (contact requests to the owner, welcomes to\n"
    "                    members), e.g. again after fixing the settings;\n"
    "                    prints POSITION KIND and what became of it\n"
    "  -s, --site SITE   the site directory (default .)\n"
    "\n"
    "Exit status: 0 done, 1 failed (the message says why), 2 wrong usage,\n"
    "75 failed for now (SMTP 4xx, no connection): a retry may succeed.\n";

/* A consumer_result as an exit status (75 is EX_TEMPFAIL). */
static int S_status(int rc)
{
    return rc == CONSUMER_DONE ? 0 : rc == CONSUMER_RETRY ? 75 : 1;
}

static int S_usage(void)
{
    fputs("usage: folio mail [show ID | test ADDRESS | send] [-s SITE]\n", stderr);
    return 2;
}

static int S_fail(const char *verb, const folio_err *err)
{
    fprintf(stderr, "folio mail%s%s: %s\n", *verb ? " " : "", verb, err->msg);
    return 1;
}

static int S_list(const folio_config *cfg)
{
    folio_err err = {{0}};
    mail_outbox_entry *e;
    size_t n;
    if (mail_outbox_list(cfg, &e, &n, &err))
        return S_fail("", &err);
    for (size_t i = 0; i < n; i++)
        printf("%s\t%s\t%s\t%s\n", e[i].id, e[i].date, e[i].to, e[i].subject);
    free(e);
    return 0;
}

static int S_show(const folio_config *cfg, const char *id)
{
    folio_err err = {{0}};
    char path[4096], *text = NULL;
    size_t len;
    if (mail_outbox_path(cfg, id, path, sizeof path, &err) ||
        util_read_file(path, &text, &len, &err))
        return S_fail("show", &err);
    int rc = fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : 1;
    free(text);
    return rc;
}

static int S_test(const folio_config *cfg, const char *to)
{
    folio_err err = {{0}};
    mailer *m;
    char where[512];
    if (mail_open(cfg, &m, &err))
        return S_fail("test", &err);
    int rc = mail_send_test(m, to, where, sizeof where, &err);
    int outbox = !strcmp(mail_transport_name(m), "outbox");
    mail_close(m);
    if (rc == CONSUMER_DONE && !outbox)
        printf("sent to %s through %s\n", to, where);
    else if (rc == CONSUMER_DONE)
        printf("written to the outbox as %s (mail.transport is not set):"
               " folio mail show %s\n", where, where);
    if (rc == CONSUMER_DONE)
        return 0;
    fprintf(stderr, "folio mail test: %s (%s)\n", err.msg,
            rc == CONSUMER_RETRY ? "temporary: a later try may succeed"
                                 : "refused for good");
    return S_status(rc);
}

/* One line of `folio events --json` as the consumers hand events over. */
static int S_send_line(mailer *m, const char *line, long lineno, int *worst)
{
    folio_err err = {{0}};
    cJSON *j = cJSON_Parse(line);
    const cJSON *pos = cJSON_GetObjectItem(j, "position");
    const cJSON *type = cJSON_GetObjectItem(j, "type");
    const cJSON *data = cJSON_GetObjectItem(j, "data");
    const cJSON *at = cJSON_GetObjectItem(j, "recorded_at");
    const cJSON *id = cJSON_GetObjectItem(j, "event_id");
    consumer_event ev = {0};
    if (!cJSON_IsNumber(pos) || !cJSON_IsString(type) || !cJSON_IsObject(data) ||
        !cJSON_IsString(at) || util_parse_time(at->valuestring, &ev.recorded_at)) {
        cJSON_Delete(j);
        /* the line itself may hold personal data: not echoed */
        fprintf(stderr, "folio mail send: line %ld: not an event as 'folio"
                " events --json' prints them\n", lineno);
        return -1;
    }
    ev.position = (long long)pos->valuedouble;
    ev.event_id = cJSON_IsString(id) ? id->valuestring : NULL;
    ev.type = type->valuestring;
    ev.data = ev.personal = data;
    char mid[96];
    int rc = mail_send(m, &ev, mid, &err);
    const char *kind = mid[0] ? strrchr(mid, '-') + 1 : "-";
    if (rc == CONSUMER_DONE && !mid[0])
        printf("%lld - nothing to send\n", ev.position);
    else if (rc == CONSUMER_DONE && !strcmp(mail_transport_name(m), "outbox"))
        printf("%lld %s in the outbox as %s\n", ev.position, kind, mid);
    else if (rc == CONSUMER_DONE)
        printf("%lld %s sent\n", ev.position, kind);
    else
        printf("%lld %s failed%s: %s\n", ev.position, kind,
               rc == CONSUMER_RETRY ? " for now" : "", err.msg);
    if (S_status(rc) == 1 || (S_status(rc) == 75 && *worst == 0))
        *worst = S_status(rc);
    cJSON_Delete(j);
    return 0;
}

static int S_send(const folio_config *cfg)
{
    folio_err err = {{0}};
    mailer *m;
    if (mail_open(cfg, &m, &err))
        return S_fail("send", &err);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int worst = 0;
    long lineno = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        lineno++;
        if (line[strspn(line, " \t\r\n")] == '\0')
            continue;
        if (S_send_line(m, line, lineno, &worst)) {
            worst = 1;
            break;
        }
    }
    free(line);
    mail_close(m);
    return fflush(stdout) ? 1 : worst;
}

int cmd_mail(int argc, char **argv)
{
    static const struct option longs[] = {
        {"site", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *site_dir = ".";
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":s:h", longs, NULL)) != -1) {
        if (ch == 'h')
            return fputs(S_help, stdout), 0;
        if (ch != 's')
            return S_usage();
        site_dir = optarg;
    }
    /* getopt_long moved the words (verb, argument) behind the options */
    char **words = argv + optind;
    int nw = argc - optind;
    if (nw != 0 && !(nw == 2 && (!strcmp(words[0], "show") ||
                                 !strcmp(words[0], "test"))) &&
        !(nw == 1 && !strcmp(words[0], "send")))
        return S_usage();
    folio_config cfg;
    folio_err err = {{0}};
    if (config_load(site_dir, &cfg, &err))
        return S_fail(nw ? words[0] : "", &err);
    int rc = nw == 0 ? S_list(&cfg)
             : !strcmp(words[0], "send") ? S_send(&cfg)
             : !strcmp(words[0], "show") ? S_show(&cfg, words[1])
                                         : S_test(&cfg, words[1]);
    config_free(&cfg);
    return rc;
}
