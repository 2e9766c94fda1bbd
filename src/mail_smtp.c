/* mail_smtp — SMTP through libcurl's multi interface. See mail_smtp.h.
 *
 * One easy handle per connection slot; the multi handle owns the
 * connections (its cache holds `connections` of them, and never more run
 * at once), so a slot's next message goes out on whichever kept-alive
 * connection is free: MAIL FROM straight away, no new greeting. */
#include "mail_smtp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

typedef struct S_slot {
    CURL *easy;
    struct curl_slist *rcpts;
    buf msg;
    size_t sent;            /* bytes of msg read by libcurl */
    size_t job;
    int busy;
    char to[320], rcpt[330];
    char err[CURL_ERROR_SIZE];
} S_slot;

struct mail_smtp {
    CURLM *multi;
    S_slot *slots;
    int n;
    char *shown;
};

/* Ends a transfer when folio-fcgi is stopping, so a mail server that
 * accepts and never answers cannot hold the shutdown for CURLOPT_TIMEOUT. */
static int S_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                      curl_off_t un)
{
    (void)ud, (void)dt, (void)dn, (void)ut, (void)un;
    return consumers_cancelled();
}

static size_t S_read(char *dst, size_t size, size_t nmemb, void *ud)
{
    S_slot *s = ud;
    size_t left = s->msg.len - s->sent;
    size_t n = size * nmemb < left ? size * nmemb : left;
    memcpy(dst, s->msg.ptr + s->sent, n);
    s->sent += n;
    return n;
}

static int S_easy(S_slot *s, const char *url, int starttls)
{
    CURL *c = s->easy = curl_easy_init();
    return !c || curl_easy_setopt(c, CURLOPT_URL, url) ||
#if LIBCURL_VERSION_NUM >= 0x075500
           curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps") ||
#else
           curl_easy_setopt(c, CURLOPT_PROTOCOLS,
                            CURLPROTO_SMTP | CURLPROTO_SMTPS) ||
#endif
           curl_easy_setopt(c, CURLOPT_USE_SSL,
                            starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE) ||
           curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L) ||
           curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L) ||
           curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) ||
           curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) ||
           curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, S_progress) ||
           curl_easy_setopt(c, CURLOPT_UPLOAD, 1L) ||
           curl_easy_setopt(c, CURLOPT_READFUNCTION, S_read) ||
           curl_easy_setopt(c, CURLOPT_READDATA, s) ||
           curl_easy_setopt(c, CURLOPT_PRIVATE, s) ||
           curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->err) ? -1 : 0;
}

int mail_smtp_open(const char *url, int starttls, const char *shown,
                   int connections, mail_smtp **out, folio_err *err)
{
    *out = NULL;
    if (connections < 1 || connections > MAIL_SMTP_CONN_MAX)
        return err_set(err, "mail: connections must be 1 to %d",
                       MAIL_SMTP_CONN_MAX);
    mail_smtp *s = calloc(1, sizeof *s);
    if (!s || !(s->slots = calloc((size_t)connections, sizeof *s->slots)) ||
        !(s->shown = util_strdup(shown)) || !(s->multi = curl_multi_init())) {
        mail_smtp_close(s);
        return err_set(err, "mail: cannot start libcurl");
    }
    s->n = connections;
    long n = connections;
    int bad = curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, n) ||
              curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, n) ||
              curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, n);
    for (int i = 0; !bad && i < connections; i++)
        bad = S_easy(&s->slots[i], url, starttls);
    if (bad) {
        mail_smtp_close(s);
        return err_set(err, "mail: %s: libcurl refused the settings", shown);
    }
    *out = s;
    return 0;
}

static void S_slot_end(mail_smtp *s, S_slot *sl)
{
    curl_multi_remove_handle(s->multi, sl->easy);
    (void)curl_easy_setopt(sl->easy, CURLOPT_MAIL_RCPT, NULL);
    curl_slist_free_all(sl->rcpts);
    sl->rcpts = NULL;
    sl->busy = 0;
}

void mail_smtp_close(mail_smtp *s)
{
    if (!s)
        return;
    for (int i = 0; s->slots && i < s->n; i++) {
        S_slot *sl = &s->slots[i];
        if (sl->busy)
            S_slot_end(s, sl);
        if (sl->easy)
            curl_easy_cleanup(sl->easy);
        buf_free(&sl->msg);
    }
    if (s->multi)
        curl_multi_cleanup(s->multi); /* QUIT on the kept connections */
    free(s->slots);
    free(s->shown);
    free(s);
}

/* Job i into a free slot. MAIL_SMTP_SEND when under way, else its
 * result. */
static int S_start(mail_smtp *s, S_slot *sl, const char *from, size_t i,
                   mail_smtp_prep_fn prep, void *ud, folio_err *err)
{
    buf_reset(&sl->msg);
    sl->to[0] = '\0';
    int r = prep(ud, i, &sl->msg, sl->to, sizeof sl->to, err);
    if (r != MAIL_SMTP_SEND)
        return r;
    snprintf(sl->rcpt, sizeof sl->rcpt, "<%s>", sl->to);
    sl->sent = 0;
    sl->job = i;
    sl->err[0] = '\0';
    CURL *c = sl->easy;
    if (!(sl->rcpts = curl_slist_append(NULL, sl->rcpt)) ||
        curl_easy_setopt(c, CURLOPT_MAIL_FROM, from) ||
        curl_easy_setopt(c, CURLOPT_MAIL_RCPT, sl->rcpts) ||
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)sl->msg.len) ||
        curl_multi_add_handle(s->multi, c)) {
        curl_slist_free_all(sl->rcpts);
        sl->rcpts = NULL;
        err_set(err, "mail: %s: libcurl refused a message", s->shown);
        return CONSUMER_RETRY;
    }
    sl->busy = 1;
    return MAIL_SMTP_SEND;
}

/* SMTP 5xx is a refusal for good; 4xx, no answer, timeouts and TLS
 * failures may pass. */
static int S_result(mail_smtp *s, S_slot *sl, CURLcode cc, folio_err *err)
{
    long code = 0;
    if (curl_easy_getinfo(sl->easy, CURLINFO_RESPONSE_CODE, &code) !=
        CURLE_OK)
        code = 0;
    if (cc == CURLE_OK)
        return CONSUMER_DONE;
    if (cc == CURLE_ABORTED_BY_CALLBACK && consumers_cancelled())
        return CONSUMER_UNTRIED;
    /* curl's words, unless they might quote an address */
    const char *why = sl->err[0] && !strchr(sl->err, '@')
                          ? sl->err : curl_easy_strerror(cc);
    if (code >= 400) /* a refusal's code; not the last 250 before it */
        err_set(err, "%s: %s (SMTP %ld)", s->shown, why, code);
    else
        err_set(err, "%s: %s", s->shown, why);
    return code >= 500 && code < 600 ? CONSUMER_PERMANENT : CONSUMER_RETRY;
}

/* Reads the finished transfers; how many there were. */
static int S_collect(mail_smtp *s, int *results, folio_err *errs)
{
    CURLMsg *msg;
    int left, done = 0;
    while ((msg = curl_multi_info_read(s->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        S_slot *sl = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
        if (!sl)
            continue;
        results[sl->job] = S_result(s, sl, msg->data.result, &errs[sl->job]);
        S_slot_end(s, sl);
        done++;
    }
    return done;
}

/* Fills the free slots with the next jobs; how many are busy. */
static int S_fill(mail_smtp *s, const char *from, size_t n, size_t *next,
                  mail_smtp_prep_fn prep, void *ud, int *results,
                  folio_err *errs)
{
    int busy = 0;
    for (int k = 0; k < s->n; k++) {
        S_slot *sl = &s->slots[k];
        while (!sl->busy && *next < n && !consumers_cancelled()) {
            size_t i = (*next)++;
            int r = S_start(s, sl, from, i, prep, ud, &errs[i]);
            if (r != MAIL_SMTP_SEND)
                results[i] = r;
        }
        busy += sl->busy;
    }
    return busy;
}

void mail_smtp_send(mail_smtp *s, const char *from, size_t n,
                    mail_smtp_prep_fn prep, void *ud, int *results,
                    folio_err *errs)
{
    char envelope[330];
    snprintf(envelope, sizeof envelope, "<%s>", from);
    size_t next = 0;
    for (size_t i = 0; i < n; i++)
        results[i] = CONSUMER_UNTRIED;
    while (S_fill(s, envelope, n, &next, prep, ud, results, errs) > 0) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(s->multi, &running);
        if (mc == CURLM_OK && S_collect(s, results, errs) == 0 && running)
            mc = curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
        if (mc == CURLM_OK)
            continue;
        for (int k = 0; k < s->n; k++) /* the multi handle broke down */
            if (s->slots[k].busy) {
                size_t j = s->slots[k].job;
                results[j] = CONSUMER_RETRY;
                err_set(&errs[j], "mail: %s: %s", s->shown,
                        curl_multi_strerror(mc));
                S_slot_end(s, &s->slots[k]);
            }
        break;
    }
}
