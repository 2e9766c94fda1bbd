/* mail_smtp — SMTP over a curlpool. See mail_smtp.h.
 *
 * A slot's next message goes out on whichever kept-alive connection is
 * free: MAIL FROM straight away, no new greeting. */
#include "mail_smtp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curlpool.h"

typedef struct S_slot {
    struct curl_slist *rcpts;
    buf msg;
    size_t sent;            /* bytes of msg read by libcurl */
    char to[320], rcpt[330];
    char err[CURL_ERROR_SIZE];
} S_slot;

struct mail_smtp {
    curlpool *pool;
    S_slot *slots;
    char *shown;
    /* the batch under way */
    char from[330];
    mail_smtp_prep_fn prep;
    void *ud;
};

static size_t S_read(char *dst, size_t size, size_t nmemb, void *ud)
{
    S_slot *s = ud;
    size_t left = s->msg.len - s->sent;
    size_t n = size * nmemb < left ? size * nmemb : left;
    memcpy(dst, s->msg.ptr + s->sent, n);
    s->sent += n;
    return n;
}

static int S_easy(CURL *c, S_slot *s, const char *url, int starttls)
{
    return curl_easy_setopt(c, CURLOPT_URL, url) ||
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
           curl_easy_setopt(c, CURLOPT_UPLOAD, 1L) ||
           curl_easy_setopt(c, CURLOPT_READFUNCTION, S_read) ||
           curl_easy_setopt(c, CURLOPT_READDATA, s) ||
           curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->err) ? -1 : 0;
}

int mail_smtp_open(const char *url, int starttls, const char *shown,
                   int connections, mail_smtp **out, folio_err *err)
{
    *out = NULL;
    mail_smtp *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(err, "out of memory");
    if (curlpool_open(connections, &s->pool, err) < 0) {
        free(s);
        return err_prefix(err, "mail.connections");
    }
    int bad = !(s->slots = calloc((size_t)connections, sizeof *s->slots)) ||
              !(s->shown = util_strdup(shown));
    for (int i = 0; !bad && i < connections; i++)
        bad = S_easy(curlpool_easy(s->pool, i), &s->slots[i], url, starttls);
    if (bad) {
        mail_smtp_close(s);
        return err_set(err, "mail: %s: libcurl refused the settings", shown);
    }
    *out = s;
    return 0;
}

void mail_smtp_close(mail_smtp *s)
{
    if (!s)
        return;
    int n = s->pool ? curlpool_conns(s->pool) : 0;
    curlpool_close(s->pool); /* QUIT on the kept connections */
    for (int i = 0; s->slots && i < n; i++) {
        curl_slist_free_all(s->slots[i].rcpts);
        buf_free(&s->slots[i].msg);
    }
    free(s->slots);
    free(s->shown);
    free(s);
}

static int S_start(void *ud, size_t job, int slot, CURL *c, folio_err *err)
{
    mail_smtp *s = ud;
    S_slot *sl = &s->slots[slot];
    buf_reset(&sl->msg);
    sl->to[0] = '\0';
    int r = s->prep(s->ud, job, &sl->msg, sl->to, sizeof sl->to, err);
    if (r != MAIL_SMTP_SEND)
        return r;
    snprintf(sl->rcpt, sizeof sl->rcpt, "<%s>", sl->to);
    sl->sent = 0;
    sl->err[0] = '\0';
    if (!(sl->rcpts = curl_slist_append(NULL, sl->rcpt)) ||
        curl_easy_setopt(c, CURLOPT_MAIL_FROM, s->from) ||
        curl_easy_setopt(c, CURLOPT_MAIL_RCPT, sl->rcpts) ||
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)sl->msg.len)) {
        curl_slist_free_all(sl->rcpts);
        sl->rcpts = NULL;
        err_set(err, "mail: %s: libcurl refused a message", s->shown);
        return CONSUMER_RETRY;
    }
    return CURLPOOL_STARTED;
}

/* SMTP 5xx is a refusal for good; 4xx, no answer, timeouts and TLS
 * failures may pass. */
static int S_done(void *ud, size_t job, int slot, CURL *c, CURLcode cc,
                  folio_err *err)
{
    mail_smtp *s = ud;
    S_slot *sl = &s->slots[slot];
    (void)job;
    long code = 0;
    if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
        code = 0;
    (void)curl_easy_setopt(c, CURLOPT_MAIL_RCPT, NULL);
    curl_slist_free_all(sl->rcpts);
    sl->rcpts = NULL;
    if (cc == CURLE_OK)
        return CONSUMER_DONE;
    /* curl's words, unless they might quote an address */
    const char *why = sl->err[0] && !strchr(sl->err, '@')
                          ? sl->err : curl_easy_strerror(cc);
    if (code >= 400) /* a refusal's code; not the last 250 before it */
        err_set(err, "%s: %s (SMTP %ld)", s->shown, why, code);
    else
        err_set(err, "%s: %s", s->shown, why);
    return code >= 500 && code < 600 ? CONSUMER_PERMANENT : CONSUMER_RETRY;
}

void mail_smtp_send(mail_smtp *s, const char *from, size_t n,
                    mail_smtp_prep_fn prep, void *ud, int *results,
                    folio_err *errs)
{
    snprintf(s->from, sizeof s->from, "<%s>", from);
    s->prep = prep;
    s->ud = ud;
    curlpool_run(s->pool, n, S_start, S_done, s, results, errs);
}
