/* metrics — process-wide counters, exposed as Prometheus text with
 * `folio_` series. Every call is thread-safe (atomics or one mutex) and
 * cheap enough for the request path. */
#ifndef FOLIO_METRICS_H
#define FOLIO_METRICS_H

#include <cjson/cJSON.h>
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

/* Consumers (labelled by name, at most 32 names; more share "other").
 * result: 0 done, 1 retry, 2 dead (a dead letter). state: after each
 * round, the consumer's lag behind the head of the log and its dead
 * letters. */
void metrics_delivery(const char *consumer, int result);
void metrics_consumer_state(const char *consumer, long long lag_events,
                            long long dead_letters);

/* Appends the exposition text (text/plain; version=0.0.4). */
int metrics_write(buf *out);
/* Who may read /metrics, from folio.yml: `metrics_token: "..."`, or
 * `metrics_token_env: NAME` for a token in that environment variable (at
 * least 16 characters either way). With neither, anyone the web server
 * lets through. metrics_token_check: 0 when the setting is usable, -1 and
 * a message naming the key when not (refuse to start or reload).
 * metrics_authorized: 1 when the Authorization header value (may be NULL)
 * is "Bearer TOKEN" with the right token, or no token is set; 0 when not;
 * -1 when the setting is not usable. The comparison takes the same time
 * however much of the token is right. */
int metrics_token_check(const cJSON *raw, folio_err *err);
int metrics_authorized(const cJSON *raw, const char *authorization,
                       folio_err *err);
/* Zeroes everything (tests). */
void metrics_reset(void);

#endif
