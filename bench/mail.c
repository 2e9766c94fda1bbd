/* mail-bench — how many contact mails a second the mail module builds,
 * writes to the outbox, and sends to a local SMTP sink.
 *
 *   make bench/mail-bench && ./bench/mail-bench [-n N] [-o M] [-a A] [SMTP_URL]
 *
 * 1. Build: N contact events (UTF-8 names and subjects, a message of a few
 *    hundred bytes) rendered from templates/mail/ into whole messages
 *    (mail_render): templates, header encoding, quoted-printable.
 * 2. Outbox: M of them through mail_handle with the default transport,
 *    each an .eml written atomically and fsync'd (default M: 2,000).
 * 3. SMTP: N through mail_handle over smtp:// to the C responder of
 *    tests/smtp/ in this program (threads: answer at once, count and
 *    discard messages), so the figure is folio's side of the exchange.
 *    One mail at a time on one kept-alive connection (bench/deliver
 *    measures the batches over several).
 * 4. aiosmtpd: A (default 5,000) the same way to SMTP_URL or, when none is
 *    given, to tests/integration/smtp_sink.py --discard started here on a
 *    free port (python3 with aiosmtpd): a Python server, slower than folio,
 *    so this is mostly the sink's own rate.
 * Works in a temporary directory, removed at the end. Not a test. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "mail.h"
#include "util.h"
#include "../tests/smtp/responder.h"

static double S_secs(long long t0)
{
    return (double)(util_mono_ns() - t0) / 1e9;
}

static cJSON *S_fields(long long i)
{
    char name[64], title[96];
    snprintf(name, sizeof name, "Zoë Visitor %lld", i);
    snprintf(title, sizeof title, "Über folio, request %lld", i);
    cJSON *p = cJSON_CreateObject();
    if (!p || !cJSON_AddStringToObject(p, "contact_id", "c") ||
        !cJSON_AddStringToObject(p, "name", name) ||
        !cJSON_AddStringToObject(p, "email", "zoe@example.net") ||
        !cJSON_AddStringToObject(p, "title", title) ||
        !cJSON_AddStringToObject(p, "page", "/projects/folio/") ||
        !cJSON_AddStringToObject(p, "message",
            "Hello Noor,\n\nI read about folio and would like to talk about a"
            " storage engine for our sensor data: roughly 40,000 writes a"
            " second, kept for two years, read mostly by time range. Grüße"
            " aus Köln — could we have a call next week?\n\nZoë\n")) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

static consumer_event S_event(const cJSON *p, long long pos)
{
    consumer_event ev = {.position = pos, .event_id = NULL, .type = "ContactRequestSubmitted",
                         .schema_version = 1, .data = p, .personal = p,
                         .recorded_at = 1795774500000LL + pos};
    return ev;
}

/* Runs `fn` over n events; returns mails/s or -1. */
typedef int (*S_step)(mailer *m, const consumer_event *ev, buf *scratch, folio_err *err);

static int S_render_step(mailer *m, const consumer_event *ev, buf *scratch, folio_err *err)
{
    char id[96];
    scratch->len = 0;
    return mail_render(m, ev, scratch, id, err);
}

static int S_handle_step(mailer *m, const consumer_event *ev, buf *scratch, folio_err *err)
{
    (void)scratch;
    return mail_handle(m, ev, err);
}

/* CPU time of this thread, ns: what folio itself spent, whatever the
 * machine's load did to the wall clock. */
static long long S_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double S_cpu_us; /* the last run's CPU per mail, µs */

static double S_run(mailer *m, cJSON *const *fields, long long n, S_step step)
{
    folio_err err = {{0}};
    buf scratch = BUF_INIT;
    long long t0 = util_mono_ns(), c0 = S_cpu_ns();
    for (long long i = 0; i < n; i++) {
        consumer_event ev = S_event(fields[i % 100], i + 1);
        int rc = step(m, &ev, &scratch, &err);
        if (rc != CONSUMER_DONE) {
            fprintf(stderr, "mail-bench: event %lld: %s\n", i + 1, err.msg);
            buf_free(&scratch);
            return -1;
        }
    }
    double s = S_secs(t0);
    S_cpu_us = (double)(S_cpu_ns() - c0) / 1e3 / (double)n;
    buf_free(&scratch);
    return (double)n / s;
}

static int S_open(const char *dir, const char *transport, folio_config *cfg,
                  mailer **m)
{
    char yml[1024], path[512];
    folio_err err = {{0}};
    snprintf(yml, sizeof yml, "title: \"Noor Vellacott\"\nbase_url: \"https://noor.example.org/\"\n"
             "mail:\n  from: \"Noor Vellacott <site@example.org>\"\n"
             "  owner: \"noor@example.org\"\n  transport: \"%s\"\n", transport);
    snprintf(path, sizeof path, "%s/folio.yml", dir);
    if (util_write_atomic(path, yml, strlen(yml), 0, &err) ||
        config_load(dir, cfg, &err) || mail_open(cfg, m, &err)) {
        fprintf(stderr, "mail-bench: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* smtp_sink.py --discard on a free port: its pid, the URL in url. */
static pid_t S_sink(const char *dir, char *url, size_t cap)
{
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    char script[1024];
    snprintf(script, sizeof script, "%s/tests/integration/smtp_sink.py", FOLIO_SRCDIR);
    int p[2];
    if (pipe(p))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]), close(p[1]);
        execlp(py, py, script, "0", dir, "--discard", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char line[64] = "";
    FILE *f = fdopen(p[0], "r");
    int port = 0;
    if (!f || !fgets(line, sizeof line, f) || sscanf(line, "READY %d", &port) != 1) {
        fprintf(stderr, "mail-bench: the SMTP sink did not start (%s with aiosmtpd?)\n", py);
        if (pid > 0)
            kill(pid, SIGTERM), waitpid(pid, NULL, 0);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    snprintf(url, cap, "smtp://127.0.0.1:%d", port);
    return pid;
}

/* Phase 3 or 4: n mails over SMTP to url; mails/s or -1. */
static double S_smtp(const char *dir, const char *url, cJSON *const *fields, long long n)
{
    folio_config cfg;
    mailer *m;
    if (S_open(dir, url, &cfg, &m))
        return -1;
    double r = S_run(m, fields, n, S_handle_step);
    mail_close(m);
    config_free(&cfg);
    return r;
}

int main(int argc, char **argv)
{
    long long n = 100000, outbox_n = 2000, aio_n = 5000;
    const char *url = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            outbox_n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "-a") && i + 1 < argc)
            aio_n = atoll(argv[++i]);
        else if (argv[i][0] != '-')
            url = argv[i];
        else
            return fprintf(stderr, "usage: mail-bench [-n N] [-o M] [-a A] [SMTP_URL]\n"), 2;
    }
    if (sodium_init() < 0 || n < 1 || outbox_n < 1 || aio_n < 0)
        return 1;
    char dir[] = "/tmp/folio-mail-bench-XXXXXX";
    if (!mkdtemp(dir))
        return perror("mkdtemp"), 1;
    cJSON *fields[100];
    for (int i = 0; i < 100; i++)
        if (!(fields[i] = S_fields(i)))
            return 1;
    folio_config cfg;
    mailer *m = NULL;
    int status = 1;
    pid_t sink = 0;
    char sink_dir[256] = "", sink_url[64];
    if (S_open(dir, "outbox", &cfg, &m))
        goto out;
    double r = S_run(m, fields, n, S_render_step);
    printf("build:    %7lld contact mails rendered          %8.0f mails/s"
           "  (%.1f µs CPU each)\n", n, r, S_cpu_us);
    r = r < 0 ? r : S_run(m, fields, outbox_n, S_handle_step);
    printf("outbox:   %7lld mails written (fsync'd)          %8.0f mails/s"
           "  (%.1f µs CPU each)\n", outbox_n, r, S_cpu_us);
    mail_close(m);
    config_free(&cfg);
    if (r < 0)
        goto out;

    responder *resp;
    if (responder_start(0, &resp, sink_url, sizeof sink_url)) {
        perror("mail-bench: responder");
        goto out;
    }
    r = S_smtp(dir, sink_url, fields, n);
    responder_stats rs;
    responder_stats_get(resp, &rs);
    responder_stop(resp);
    printf("smtp:     %7lld mails to a C responder            %8.0f mails/s"
           "  (%.1f µs CPU each; target 2,000/s; %lld received)\n",
           n, r, S_cpu_us, rs.messages);
    if (r < 0 || !aio_n) {
        status = r < 0;
        goto out;
    }
    if (!url) {
        snprintf(sink_dir, sizeof sink_dir, "%s/sink", dir);
        if (util_mkdirs(sink_dir, 0700, NULL) ||
            (sink = S_sink(sink_dir, sink_url, sizeof sink_url)) < 0)
            goto out;
        url = sink_url;
    }
    r = S_smtp(dir, url, fields, aio_n);
    printf("aiosmtpd: %7lld mails to %-24s %8.0f mails/s  (%.1f µs CPU each)\n",
           aio_n, url, r, S_cpu_us);
    status = r < 0;
out:
    if (sink > 0) {
        kill(sink, SIGTERM);
        waitpid(sink, NULL, 0);
        char count[300], *text = NULL;
        size_t len;
        snprintf(count, sizeof count, "%s/count", sink_dir);
        if (!util_read_file(count, &text, &len, NULL))
            printf("          (the sink counted %lld)\n", atoll(text));
        free(text);
    }
    for (int i = 0; i < 100; i++)
        cJSON_Delete(fields[i]);
    util_rmtree(dir, NULL);
    return status;
}
