/* curlpool — kept-alive connections through libcurl multi. See
 * curlpool.h. */
#include "curlpool.h"

#include <stdlib.h>

typedef struct S_slot {
    CURL *easy;
    size_t job;
    int busy;
} S_slot;

struct curlpool {
    CURLM *multi;
    S_slot *slots;
    int n;
};

/* Ends a transfer when folio-fcgi is stopping, so a server that accepts
 * and never answers cannot hold the shutdown for the whole timeout. */
static int S_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                      curl_off_t un)
{
    (void)ud, (void)dt, (void)dn, (void)ut, (void)un;
    return consumers_cancelled();
}

int curlpool_open(int conns, curlpool **out, folio_err *err)
{
    *out = NULL;
    if (conns < 1 || conns > CURLPOOL_CONN_MAX)
        return err_set(err, "connections must be 1 to %d", CURLPOOL_CONN_MAX);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return err_set(err, "libcurl cannot start");
    curlpool *p = calloc(1, sizeof *p);
    if (!p || !(p->slots = calloc((size_t)conns, sizeof *p->slots)) ||
        !(p->multi = curl_multi_init())) {
        if (p)
            free(p->slots);
        free(p);
        curl_global_cleanup();
        return err_set(err, "libcurl cannot start");
    }
    p->n = conns;
    long n = conns;
    int bad = curl_multi_setopt(p->multi, CURLMOPT_MAX_HOST_CONNECTIONS, n) ||
              curl_multi_setopt(p->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, n) ||
              curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, n);
    for (int i = 0; !bad && i < conns; i++) {
        CURL *c = p->slots[i].easy = curl_easy_init();
        bad = !c || curl_easy_setopt(c, CURLOPT_PRIVATE, &p->slots[i]) ||
              curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) ||
              curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) ||
              curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, S_progress);
    }
    *out = p;
    if (bad) {
        curlpool_close(p);
        *out = NULL;
        return err_set(err, "libcurl refused the settings");
    }
    return 0;
}

void curlpool_close(curlpool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        if (p->slots[i].easy) {
            if (p->slots[i].busy)
                curl_multi_remove_handle(p->multi, p->slots[i].easy);
            curl_easy_cleanup(p->slots[i].easy);
        }
    curl_multi_cleanup(p->multi); /* closes the kept connections */
    free(p->slots);
    free(p);
    curl_global_cleanup();
}

int curlpool_conns(const curlpool *p) { return p->n; }
CURL *curlpool_easy(curlpool *p, int i) { return p->slots[i].easy; }

/* The run of curlpool_run: its jobs and callbacks. */
typedef struct S_run {
    curlpool *p;
    size_t n, next;
    curlpool_start_fn start;
    curlpool_done_fn done;
    void *ud;
    int *results;
    folio_err *errs;
} S_run;

static void S_end(S_run *r, S_slot *sl, CURLcode cc)
{
    int slot = (int)(sl - r->p->slots);
    curl_multi_remove_handle(r->p->multi, sl->easy);
    sl->busy = 0;
    int rc = r->done(r->ud, sl->job, slot, sl->easy, cc, &r->errs[sl->job]);
    if (cc == CURLE_ABORTED_BY_CALLBACK && consumers_cancelled()) {
        rc = CONSUMER_UNTRIED; /* cut short by the stop: a later run */
        r->errs[sl->job].msg[0] = '\0';
    }
    r->results[sl->job] = rc;
}

/* Fills the free slots with the next jobs; how many are busy. */
static int S_fill(S_run *r)
{
    int busy = 0;
    for (int k = 0; k < r->p->n; k++) {
        S_slot *sl = &r->p->slots[k];
        while (!sl->busy && r->next < r->n && !consumers_cancelled()) {
            size_t i = r->next++;
            int rc = r->start(r->ud, i, k, sl->easy, &r->errs[i]);
            if (rc != CURLPOOL_STARTED) {
                r->results[i] = rc;
                continue;
            }
            sl->job = i;
            sl->busy = 1;
            if (curl_multi_add_handle(r->p->multi, sl->easy) != CURLM_OK)
                S_end(r, sl, CURLE_OUT_OF_MEMORY);
        }
        busy += sl->busy;
    }
    return busy;
}

/* Ends the finished transfers; how many there were. */
static int S_collect(S_run *r)
{
    CURLMsg *msg;
    int left, done = 0;
    while ((msg = curl_multi_info_read(r->p->multi, &left))) {
        S_slot *sl = NULL;
        if (msg->msg != CURLMSG_DONE ||
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
                              (char **)&sl) != CURLE_OK || !sl || !sl->busy)
            continue;
        S_end(r, sl, msg->data.result);
        done++;
    }
    return done;
}

void curlpool_run(curlpool *p, size_t n, curlpool_start_fn start,
                  curlpool_done_fn done, void *ud, int *results,
                  folio_err *errs)
{
    S_run r = {p, n, 0, start, done, ud, results, errs};
    for (size_t i = 0; i < n; i++)
        results[i] = CONSUMER_UNTRIED;
    while (S_fill(&r) > 0) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(p->multi, &running);
        if (mc == CURLM_OK && S_collect(&r) == 0 && running)
            mc = curl_multi_poll(p->multi, NULL, 0, 1000, NULL);
        if (mc == CURLM_OK)
            continue;
        /* the multi handle broke down: what runs is ended as failed */
        for (int k = 0; k < p->n; k++)
            if (p->slots[k].busy)
                S_end(&r, &p->slots[k], CURLE_SEND_ERROR);
        break;
    }
}
