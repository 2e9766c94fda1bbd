/* mail_smtp — mail's SMTP transport (used by mail.c alone): messages sent
 * through a curlpool (libcurl multi) over at most `connections` SMTP
 * connections at once, each kept open from one message to the next and
 * from one batch to the next (until mail_smtp_close), so a burst of mail
 * costs one connection set-up per connection, not per message, and the
 * round trips of one message overlap those of the others.
 *
 * Results per message: CONSUMER_DONE (accepted), CONSUMER_PERMANENT (an
 * SMTP 5xx answer), CONSUMER_RETRY (4xx, no connection, timeouts: connect
 * 10 s, a whole message 60 s; TLS), CONSUMER_UNTRIED (the consumer was
 * stopping: consumers_cancelled()). Messages name the server as `shown`
 * and the SMTP code, never an address. One thread at a time. */
#ifndef FOLIO_MAIL_SMTP_H
#define FOLIO_MAIL_SMTP_H

#include <stddef.h>

#include "consumers.h"
#include "util.h"

typedef struct mail_smtp mail_smtp;

#define MAIL_SMTP_CONN_MAX 32 /* CURLPOOL_CONN_MAX */

/* url: smtp:// or smtps:// (credentials allowed); starttls: require
 * STARTTLS; shown: the URL without credentials, for messages (copied). */
int mail_smtp_open(const char *url, int starttls, const char *shown,
                   int connections, mail_smtp **out, folio_err *err);
void mail_smtp_close(mail_smtp *s);

/* Job i's message: fills msg (empty on entry) and to (the envelope
 * recipient) and returns MAIL_SMTP_SEND, or returns the job's
 * consumer_result without sending anything (err set on a failure). */
#define MAIL_SMTP_SEND 10
typedef int (*mail_smtp_prep_fn)(void *ud, size_t i, buf *msg, char *to,
                                 size_t tocap, folio_err *err);

/* Sends jobs 0..n-1 from `from`, each message prepared just before a
 * connection is free for it; results[i] and errs[i] get job i's outcome. */
void mail_smtp_send(mail_smtp *s, const char *from, size_t n,
                    mail_smtp_prep_fn prep, void *ud, int *results,
                    folio_err *errs);

#endif
