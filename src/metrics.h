/* metrics — process-wide counters, exposed as Prometheus text with
 * `folio_` series. Every call is thread-safe (atomics or one mutex) and
 * cheap enough for the request path. */
#ifndef FOLIO_METRICS_H
#define FOLIO_METRICS_H

#include "util.h"

/* route: "/contact", "/register", "/health", "/metrics" or "other". */
void metrics_request(const char *route, int status, double seconds);
void metrics_event(const char *type);            /* events appended */
void metrics_render(int pages, double seconds);  /* one regeneration */
void metrics_rate_limited(void);
void metrics_honeypot(void);
void metrics_group_commit(int events);           /* events per transaction */
void metrics_disk_full(void);                    /* a submission refused: disk full */
void metrics_store_writable(int writable);       /* gauge: 0 while the disk is full */

/* Appends the exposition text (text/plain; version=0.0.4). */
int metrics_write(buf *out);
/* Zeroes everything (tests). */
void metrics_reset(void);

#endif
