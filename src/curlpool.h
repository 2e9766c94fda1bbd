/* curlpool — a few kept-alive connections to one server, driven through
 * libcurl's multi interface: the transports of mail (SMTP) and webhooks
 * (HTTP) hand it a batch of jobs and get a consumer_result per job.
 *
 * A pool has `conns` slots, each an easy handle its owner sets up once
 * (URL, timeouts; curlpool sets CURLOPT_PRIVATE and a progress function
 * that ends transfers once consumers_cancelled()). At most `conns`
 * transfers run at once and the multi handle keeps that many connections
 * open between them and between batches (until curlpool_close), so a
 * slot's next job goes out on a connection already open, and the round
 * trips of one job overlap those of the others. One thread at a time. */
#ifndef FOLIO_CURLPOOL_H
#define FOLIO_CURLPOOL_H

#include <stddef.h>

#include <curl/curl.h>

#include "consumers.h"
#include "util.h"

typedef struct curlpool curlpool;

#define CURLPOOL_CONN_MAX 32

/* conns: 1 to CURLPOOL_CONN_MAX. */
int curlpool_open(int conns, curlpool **out, folio_err *err);
void curlpool_close(curlpool *p);
int curlpool_conns(const curlpool *p);
/* Slot i's easy handle, for its owner's settings. */
CURL *curlpool_easy(curlpool *p, int i);

/* start: set slot's easy handle up for job (its own options) and return
 * CURLPOOL_STARTED, or return the job's consumer_result without a
 * transfer (err set on a failure). done: the transfer of job on slot
 * ended with cc; clear what start set and return its consumer_result. */
#define CURLPOOL_STARTED 10
typedef int (*curlpool_start_fn)(void *ud, size_t job, int slot, CURL *easy,
                                 folio_err *err);
typedef int (*curlpool_done_fn)(void *ud, size_t job, int slot, CURL *easy,
                                CURLcode cc, folio_err *err);

/* Jobs 0..n-1, each started when a slot is free; results[i] and errs[i]
 * get job i's outcome. A job not started or cut short because the
 * consumer is stopping stays CONSUMER_UNTRIED. */
void curlpool_run(curlpool *p, size_t n, curlpool_start_fn start,
                  curlpool_done_fn done, void *ud, int *results,
                  folio_err *errs);

#endif
