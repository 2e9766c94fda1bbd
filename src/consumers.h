/* consumers — named readers of the event log, delivered at least once.
 *
 * THE HANDLER CONTRACT (shared by mail, webhooks and any later reader).
 * The consumers module owns checkpoints, retries with backoff, dead
 * letters and the thread that runs them; a reader only says what one
 * delivery of one event does and how it went.
 *
 * A handler gets each event of its types in log order, already upcast to
 * the current schema, with personal fields decrypted for the owner
 * (`personal`, NULL when nothing is personal; "[redacted]" values once the
 * person is forgotten). It must not touch the store: it runs outside any
 * transaction, on the consumers' thread, and does network I/O with
 * timeouts. It returns one of enum consumer_result and, on failure, a
 * short reason in err (never a visitor's address or message).
 *
 * The implementation (consumers.c) replaces this note with the module's
 * own contract; the types below stay. */
#ifndef FOLIO_CONSUMERS_H
#define FOLIO_CONSUMERS_H

#include <cjson/cJSON.h>
#include "util.h"

enum consumer_result {
    CONSUMER_DONE = 0,       /* delivered (or nothing to do for this event) */
    CONSUMER_RETRY = 1,      /* temporary failure: try again after a backoff */
    CONSUMER_PERMANENT = 2   /* refused for good (SMTP 5xx, HTTP 4xx but
                              * 408/429): a dead letter at once */
};

typedef struct consumer_event {
    long long position;
    const char *event_id;     /* UUID text */
    const char *stream_id;
    long long stream_version;
    const char *type;
    int schema_version;       /* the current one: data is upcast */
    const cJSON *data;        /* current shape; personal fields sealed */
    const cJSON *personal;    /* the same object with personal fields
                               * decrypted, or NULL when the type has none */
    const cJSON *metadata;
    long long recorded_at;    /* ms since the epoch, UTC */
} consumer_event;

typedef int (*consumer_handler_fn)(void *ud, const consumer_event *ev,
                                   folio_err *err);

#endif
