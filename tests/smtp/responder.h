/* responder — a small SMTP server for the tests and benchmarks: one thread
 * per connection, every command answered at once, messages counted and
 * thrown away. RCPT TO:<temp...@...> is answered 451 (try later),
 * RCPT TO:<perm...@...> 550 (refused), anything else 250. It counts the
 * connections it accepted and the most it had open at once, so a test can
 * check that a client keeps connections alive and within a limit. Not a
 * mail server: just fast enough never to be what a benchmark measures. */
#ifndef FOLIO_TESTS_SMTP_RESPONDER_H
#define FOLIO_TESTS_SMTP_RESPONDER_H

#include <stddef.h>

typedef struct responder responder;

typedef struct responder_stats {
    long long messages;          /* accepted by DATA */
    int connections, max_open;   /* accepted in all; open at once, at most */
} responder_stats;

/* Listens on 127.0.0.1:port (0: a free one); url gets smtp://127.0.0.1:P.
 * -1 (errno set) on failure. */
int responder_start(int port, responder **out, char *url, size_t cap);
void responder_stats_get(responder *r, responder_stats *out);
/* Closes every connection and joins the threads. */
void responder_stop(responder *r);

#endif
