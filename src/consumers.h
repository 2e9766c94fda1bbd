/* consumers — named readers of the event log, delivered at least once.
 *
 * A consumer is a name ("mail", "webhook:hooks.example.org"), a filter (the
 * event types it wants; NULL: all) and a handler. Its checkpoint — the last
 * log position it has finished — is a row of consumer_checkpoints that
 * moves in the same transaction as whatever the consumer records about its
 * deliveries (a retry scheduled, a dead letter), so a crash can repeat a
 * delivery but never skip one. The one window for a repeat: a crash
 * between the receiver accepting a delivery and the commit of the
 * checkpoint after it (at most 256 events, or the handler batches that
 * ended within 200 ms of the last commit, plus the batch under way).
 *
 * Order. Events are handed over in log order. SQLite has one writer, so
 * commit order is position order and a reader that asks for "after my
 * checkpoint" never steps over a position that commits later. A delivery
 * that fails for now is parked in consumer_retries (backoff: retry_first,
 * doubling, jitter of ±20 %, capped at retry_max) and the consumer moves on
 * to the next event: order per consumer is best effort once something
 * failed. After `attempts` deliveries (or at once for CONSUMER_PERMANENT)
 * the event becomes a dead letter of that consumer, which the owner can
 * retry or drop; every failure and owner action is a row of
 * consumer_actions.
 *
 * Threads. In folio-fcgi each consumer runs on a thread of its own, with
 * its own store connection, so a dead receiver slows only its own
 * consumer; the threads sleep until consumers_wake (the writer's commits),
 * the next retry falls due, or `poll` passes (work written by another
 * process: folio contact, folio deadletters retry). Handlers never run
 * while a write transaction is open: what they report is written
 * afterwards in one short transaction. One process per site delivers at a
 * time (var/consumers.lock).
 *
 * THE HANDLER CONTRACT (shared by mail, webhooks and any later reader).
 * A handler gets each event of its types in log order, already upcast to
 * the current schema, with personal fields decrypted for the owner
 * (`personal`, NULL when nothing is personal; "[redacted]" values once the
 * person is forgotten). metadata is as stored (its client address is
 * sealed). It must not touch the store: it runs outside any transaction,
 * on a consumer's thread, and does network I/O with timeouts (a long one
 * may poll consumers_cancelled() to end early at shutdown). It returns
 * one of enum consumer_result and, on failure, a short reason in err
 * (never a visitor's address or message); any other return counts as
 * CONSUMER_RETRY. */
#ifndef FOLIO_CONSUMERS_H
#define FOLIO_CONSUMERS_H

#include <cjson/cJSON.h>
#include "config.h"
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

/* THE BATCH CONTRACT: for a reader that delivers several events at once
 * (mail over several SMTP connections). The handler gets up to `max`
 * events of its types, in log order, each as a single handler would, and
 * reports on every one: results[i] an enum consumer_result, and errs[i]
 * (zeroed on entry) the reason of a failure. Each result counts for its own
 * event: a refusal of one is a retry row or a dead letter of that one
 * alone. results[] arrive as CONSUMER_UNTRIED; an event left so (the
 * handler was stopping, consumers_cancelled()) ends the batch there: the
 * checkpoint moves only past the contiguous run of events before it, and
 * it and every event after it are handed over again (what was delivered
 * after it is delivered twice: at least once, never skipped). */
#define CONSUMER_UNTRIED 3
typedef void (*consumer_batch_fn)(void *ud, const consumer_event *evs,
                                  size_t n, int *results, folio_err *errs);

/* ---- the mechanism ------------------------------------------------------ */

typedef struct consumers consumers;

/* folio.yml:
 *   consumers: { retry_first: 30s, retry_max: 6h, attempts: 10,
 *                poll: 5s, start: head, background: true }
 * Durations are a number of seconds or a number with ms, s, m, h or d.
 * attempts counts deliveries, the first included (1 to 100). start: where
 * a consumer seen for the first time begins — "head" (only events from
 * now on, the default) or "beginning" (the whole log). background:
 * false leaves delivery to `folio deliver` (from cron): folio-fcgi then
 * starts no consumer threads. */
typedef struct consumers_policy {
    long long retry_first_ms, retry_max_ms, poll_ms;
    int attempts;
    int from_beginning;
    int background;
} consumers_policy;

/* The policy from cfg->raw; errors name the key. */
int consumers_policy_load(const folio_config *cfg, consumers_policy *p,
                          folio_err *err);

/* Opens the mechanism for the site (its own store connection; cfg must
 * outlive it). Add consumers, then either consumers_run_once (on the
 * calling thread) or consumers_start (threads). */
int consumers_open(const folio_config *cfg, const consumers_policy *p,
                   consumers **out, folio_err *err);
/* Stops the threads, runs the on-close functions, closes everything. */
void consumers_close(consumers *c);
/* fn(ud) runs at consumers_close, after the threads have stopped (for
 * whatever the handlers' ud holds). Added functions run last-first. */
int consumers_on_close(consumers *c, void (*fn)(void *), void *ud,
                       folio_err *err);

/* types: NULL-terminated, copied; NULL: every type. Names are unique. */
int consumers_add(consumers *c, const char *name, const char *const *types,
                  consumer_handler_fn fn, void *ud, folio_err *err);
/* A consumer with a batch handler: up to max (1 to 256) events a call. */
int consumers_add_batch(consumers *c, const char *name,
                        const char *const *types, consumer_batch_fn fn,
                        size_t max, void *ud, folio_err *err);
size_t consumers_count(const consumers *c);
const char *consumers_name(const consumers *c, size_t i);

/* Tests: the wall clock used for retry times (NULL: the real one). */
void consumers_set_clock(consumers *c, long long (*now_ms)(void));

/* What a consumer did in this process (consumers_run_once, the threads). */
typedef struct consumers_stat {
    long long done, retried, dead;  /* deliveries by result */
    long long position, head;       /* its checkpoint, the log's head */
    long long retries, dead_letters;/* rows pending now */
    int failing;                    /* its last delivery failed */
    char last_error[256];
} consumers_stat;
void consumers_get_stat(consumers *c, size_t i, consumers_stat *out);

/* Every consumer once to the head of the log, with the retries due now;
 * returns when there is nothing left to do now. 1 (and a message) when
 * another process holds the site's delivery lock; -1 on errors of folio
 * itself. A failing receiver is no error: see consumers_get_stat. */
int consumers_run_once(consumers *c, folio_err *err);

/* Threads: one per consumer (none when the policy's background is off).
 * wake is cheap and may be called from any
 * thread (the writer calls it after each commit). stop ends them: a
 * handler in a network call returns by its timeout or when it sees
 * consumers_cancelled(). */
int consumers_start(consumers *c, folio_err *err);
void consumers_wake(consumers *c);
void consumers_stop(consumers *c);
/* 1 on a consumer thread that is being stopped. */
int consumers_cancelled(void);

/* For GET /health: {"ok": bool, "failing": [names]} (new object). */
cJSON *consumers_health(consumers *c);

/* ---- the site's consumers (consumers_site.c) ------------------------------ */

/* consumers_open with the site's policy and its consumers added: "mail"
 * (the owner's notifications) and one per entry of `webhooks:`. */
int consumers_open_site(const folio_config *cfg, consumers **out,
                        folio_err *err);

/* ---- the owner's tools (rows of the store) ------------------------------ */

/* [{name, configured, position, head, lag_events, lag_seconds, delivered,
 *   last_success_at, last_error, last_error_at, retries, dead_letters}]
 * for the added consumers and any other the store knows. */
cJSON *consumers_status(consumers *c, folio_err *err);
/* [{id, consumer, position, event_id, type, attempts, error, created_at,
 *   state, resolved_at}] oldest first; consumer NULL: all; all 0: only
 * those still dead or being retried. */
cJSON *consumers_deadletters(consumers *c, const char *consumer, int all,
                             folio_err *err);
/* Schedules dead letter id (0: every dead one, of consumer when not NULL)
 * for a fresh round of attempts, now. *n gets how many. 1: no such dead
 * letter (or not dead). */
int consumers_deadletter_retry(consumers *c, long long id,
                               const char *consumer, long long *n,
                               folio_err *err);
/* Gives dead letter id up for good. 1: no such open dead letter. */
int consumers_deadletter_drop(consumers *c, long long id, folio_err *err);

#endif
