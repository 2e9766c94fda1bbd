/* consumers — named readers of the event log. See consumers.h.
 *
 * A consumer's work is a series of steps: the retries that are due, then a
 * batch of new events after its checkpoint. Each step copies the rows it
 * needs and closes its read before any handler runs (a slow receiver must
 * not hold a WAL snapshot open), collects what the handlers reported in
 * memory, and writes it with the new checkpoint in one short transaction:
 * the write lock, which the forms' writer needs, is never held across
 * network I/O. The consumers' connections commit with synchronous=NORMAL:
 * a commit lost to a power cut only moves the checkpoint back, which
 * repeats deliveries and never skips one. */
#include "consumers.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "eventview.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "vault.h"

#define S_BATCH 256         /* new events read at once */
#define S_RETRY_BATCH 64    /* due retries read at once */
#define S_FLUSH_NS (200LL * 1000000LL) /* longest run of deliveries
                                        * before their checkpoint commits */
#define S_ERR_MAX 300

/* ---- SQL ----------------------------------------------------------------- */

enum {
    Q_CK_GET, Q_CK_NEW, Q_CK_SET, Q_RETRY_DUE, Q_RETRY_NEXT, Q_RETRY_PUT,
    Q_RETRY_DEL, Q_DEAD_ADD, Q_DEAD_SET, Q_ACTION, Q_COUNTS, Q_N
};

static const char *const S_sql[Q_N] = {
    [Q_CK_GET] = "SELECT position FROM consumer_checkpoints WHERE name = ?1",
    [Q_CK_NEW] = "INSERT OR IGNORE INTO consumer_checkpoints(name, position)"
                 " VALUES (?1, ?2)",
    /* ?7, the position this process read: another process moving the
     * checkpoint meanwhile makes the update change nothing. */
    [Q_CK_SET] = "UPDATE consumer_checkpoints SET position = ?2,"
                 " delivered = delivered + ?3,"
                 " last_success_at = coalesce(?4, last_success_at),"
                 " last_error = coalesce(?5, last_error),"
                 " last_error_at = coalesce(?6, last_error_at)"
                 " WHERE name = ?1 AND position = ?7",
    [Q_RETRY_DUE] = "SELECT position, attempts, dead_letter FROM"
                    " consumer_retries WHERE consumer = ?1 AND next_at <= ?2"
                    " ORDER BY position LIMIT ?3",
    [Q_RETRY_NEXT] = "SELECT min(next_at) FROM consumer_retries"
                     " WHERE consumer = ?1",
    [Q_RETRY_PUT] = "INSERT OR REPLACE INTO consumer_retries(consumer,"
                    " position, attempts, next_at, last_error, dead_letter)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_RETRY_DEL] = "DELETE FROM consumer_retries WHERE consumer = ?1"
                    " AND position = ?2",
    [Q_DEAD_ADD] = "INSERT INTO dead_letters(consumer, position, event_id,"
                   " type, attempts, error, created_at)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    /* only while still being retried: the owner may have dropped it */
    [Q_DEAD_SET] = "UPDATE dead_letters SET state = ?2, attempts = ?3,"
                   " error = coalesce(?4, error), resolved_at = ?5"
                   " WHERE id = ?1 AND state = 'retrying'",
    [Q_ACTION] = "INSERT INTO consumer_actions(at, consumer, action,"
                 " position, dead_letter, attempts, detail)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_COUNTS] = "SELECT (SELECT count(*) FROM consumer_retries"
                 "  WHERE consumer = ?1),"
                 " (SELECT count(*) FROM dead_letters"
                 "  WHERE consumer = ?1 AND state = 'dead')",
};

/* One store connection and the vault over it, with cached statements. */
typedef struct S_conn {
    store *st;
    vault *v;
    sqlite3_stmt *q[Q_N];
} S_conn;

static int S_conn_open(const folio_config *cfg, S_conn *cn, folio_err *err)
{
    memset(cn, 0, sizeof *cn);
    store_opts o = {0, 0}; /* synchronous=NORMAL: see the top */
    if (store_open(cfg->db_path, &o, &cn->st, err) < 0)
        return -1;
    if (vault_open(cfg->master_key_path, store_db(cn->st), &cn->v, err) < 0) {
        store_close(cn->st);
        cn->st = NULL;
        return -1;
    }
    return 0;
}

static void S_conn_close(S_conn *cn)
{
    for (int i = 0; i < Q_N; i++)
        sqlite3_finalize(cn->q[i]);
    vault_close(cn->v);
    store_close(cn->st);
    memset(cn, 0, sizeof *cn);
}

static int S_db_err(S_conn *cn, folio_err *err, const char *what)
{
    return err_set(err, "consumers: %s: %s", what,
                   sqlite3_errmsg(store_db(cn->st)));
}

/* The statement i, reset and unbound. */
static sqlite3_stmt *S_q(S_conn *cn, int i, folio_err *err)
{
    if (!cn->q[i]) {
        if (sqlite3_prepare_v3(store_db(cn->st), S_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &cn->q[i],
                               NULL) != SQLITE_OK) {
            S_db_err(cn, err, "preparing a statement");
            return NULL;
        }
        return cn->q[i];
    }
    sqlite3_reset(cn->q[i]);
    sqlite3_clear_bindings(cn->q[i]);
    return cn->q[i];
}

/* Binds "?N" parameters from a format: i (int), l (long long), s (text or
 * NULL), L (long long, NULL when 0). */
static int S_vbind(sqlite3_stmt *st, const char *fmt, va_list ap)
{
    int rc = SQLITE_OK;
    for (int i = 1; *fmt && rc == SQLITE_OK; fmt++, i++) {
        long long l;
        const char *s;
        switch (*fmt) {
        case 'i':
            rc = sqlite3_bind_int(st, i, va_arg(ap, int));
            break;
        case 'l':
            rc = sqlite3_bind_int64(st, i, va_arg(ap, long long));
            break;
        case 'L':
            l = va_arg(ap, long long);
            rc = l ? sqlite3_bind_int64(st, i, l) : sqlite3_bind_null(st, i);
            break;
        default:
            s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(st, i);
        }
    }
    return rc == SQLITE_OK ? 0 : -1;
}

static int S_bind(sqlite3_stmt *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = S_vbind(st, fmt, ap);
    va_end(ap);
    return rc;
}

/* Steps a bound write statement to its end; *changes (may be NULL) gets
 * the rows it changed. */
static int S_run(S_conn *cn, sqlite3_stmt *st, int *changes, folio_err *err)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    if (rc != SQLITE_DONE)
        return S_db_err(cn, err, "writing");
    if (changes)
        *changes = sqlite3_changes(store_db(cn->st));
    return 0;
}

/* Statement i with the given bindings, run to its end. */
static int S_write(S_conn *cn, int i, int *changes, folio_err *err,
                   const char *fmt, ...)
{
    sqlite3_stmt *st = S_q(cn, i, err);
    if (!st)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = S_vbind(st, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return S_db_err(cn, err, "binding");
    rc = S_run(cn, st, changes, err);
    sqlite3_reset(st);
    return rc;
}

/* ---- the handle ---------------------------------------------------------- */

/* What a delivery reported, written at the next flush. */
typedef struct S_op {
    int from_retry;      /* read from consumer_retries (else: the log) */
    int result;          /* enum consumer_result */
    int dead;            /* the failure makes it a dead letter */
    int attempts;        /* deliveries so far, this one included */
    long long position, dead_letter;
    char event_id[37];
    char type[64];
    char error[S_ERR_MAX];
} S_op;

/* Events copied out of the log, so that no read is open while handlers
 * run. */
typedef struct S_batch {
    store_event ev[S_BATCH];
    size_t n;
    int oom;
} S_batch;

typedef struct S_consumer {
    struct consumers *c;
    size_t index;
    char *name;
    char **types;        /* NULL: all */
    consumer_handler_fn fn;
    consumer_batch_fn bfn; /* set for a batch handler (then fn is NULL) */
    size_t max;          /* events a handler call gets: 1 for fn */
    void *ud;
    pthread_t thread;
    int started;
    /* the running side (one thread at a time) */
    long long position;  /* -1: not loaded yet */
    S_op *ops;
    size_t nops;
    S_batch *batch;
    /* a call's events, max of each (see S_hand) */
    const store_event **group;
    eventview *views;
    consumer_event *ces;
    int *res, *hidx;
    folio_err *errs;
    /* under c->mu */
    consumers_stat stat;
} S_consumer;

typedef struct S_closer {
    void (*fn)(void *);
    void *ud;
} S_closer;

struct consumers {
    const folio_config *cfg;
    consumers_policy pol;
    long long (*now_ms)(void);
    S_conn main;
    S_consumer **list;
    size_t n;
    S_closer *closers;
    size_t nclosers;
    int lock_fd;         /* var/consumers.lock while held, else -1 */
    int lock_warned;

    pthread_mutex_t mu;
    pthread_cond_t cv;   /* CLOCK_MONOTONIC */
    unsigned long long wake_seq;
    atomic_int stop;
    int threads;
};

static _Thread_local atomic_int *S_cancel;

int consumers_cancelled(void)
{
    return S_cancel && atomic_load(S_cancel);
}

/* ---- policy --------------------------------------------------------------- */

/* "30s", "500ms", "6h", "2m", "1d", or a number of seconds. */
static int S_duration(const cJSON *it, long long *ms)
{
    if (cJSON_IsNumber(it)) {
        if (!(it->valuedouble >= 0 && it->valuedouble <= 1e9))
            return -1;
        *ms = (long long)(it->valuedouble * 1000 + 0.5);
        return 0;
    }
    if (!cJSON_IsString(it))
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(it->valuestring, &end);
    if (errno || end == it->valuestring || !(v >= 0 && v <= 1e9))
        return -1;
    static const struct { const char *unit; double ms; } units[] = {
        {"ms", 1}, {"s", 1000}, {"", 1000}, {"m", 60000}, {"h", 3600000},
        {"d", 86400000}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].unit)) {
            *ms = (long long)(v * units[i].ms + 0.5);
            return 0;
        }
    return -1;
}

static int S_policy_duration(const cJSON *o, const char *key, long long min,
                             long long *ms, folio_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it)
        return 0;
    if (S_duration(it, ms) < 0 || *ms < min)
        return err_set(err, "folio.yml: consumers.%s: must be a duration of "
                       "at least %lld ms such as 30s, 500ms, 6h", key, min);
    return 0;
}

int consumers_policy_load(const folio_config *cfg, consumers_policy *p,
                          folio_err *err)
{
    *p = (consumers_policy){.retry_first_ms = 30000,
                            .retry_max_ms = 6LL * 3600 * 1000,
                            .poll_ms = 5000, .attempts = 10,
                            .background = 1};
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(cfg->raw, "consumers");
    if (!o)
        return 0;
    if (!cJSON_IsObject(o))
        return err_set(err, "folio.yml: consumers: must be a mapping");
    if (S_policy_duration(o, "retry_first", 1, &p->retry_first_ms, err) < 0 ||
        S_policy_duration(o, "retry_max", 1, &p->retry_max_ms, err) < 0 ||
        S_policy_duration(o, "poll", 10, &p->poll_ms, err) < 0)
        return -1;
    if (p->retry_max_ms < p->retry_first_ms)
        return err_set(err, "folio.yml: consumers.retry_max: must not be "
                       "shorter than retry_first");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "attempts");
    if (a) {
        if (!cJSON_IsNumber(a) || a->valuedouble < 1 || a->valuedouble > 100 ||
            a->valuedouble != (int)a->valuedouble)
            return err_set(err, "folio.yml: consumers.attempts: must be a "
                           "whole number from 1 to 100");
        p->attempts = (int)a->valuedouble;
    }
    const cJSON *bg = cJSON_GetObjectItemCaseSensitive(o, "background");
    if (bg) {
        if (!cJSON_IsBool(bg))
            return err_set(err, "folio.yml: consumers.background: must be "
                           "true or false");
        p->background = cJSON_IsTrue(bg);
    }
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "start");
    if (s) {
        if (cJSON_IsString(s) && !strcmp(s->valuestring, "beginning"))
            p->from_beginning = 1;
        else if (!cJSON_IsString(s) || strcmp(s->valuestring, "head") != 0)
            return err_set(err, "folio.yml: consumers.start: must be head "
                           "or beginning");
    }
    return 0;
}

/* The delay before the retry after `failed` failed deliveries: doubling
 * from retry_first, ±20 % jitter so that a receiver coming back is not
 * met by every retry at once, never past retry_max. */
static long long S_backoff(const consumers_policy *p, int failed)
{
    long long d = p->retry_first_ms;
    for (int i = 1; i < failed && d < p->retry_max_ms; i++)
        d *= 2;
    if (d > p->retry_max_ms)
        d = p->retry_max_ms;
    long long j = d * (800 + (long long)randombytes_uniform(401)) / 1000;
    if (j > p->retry_max_ms)
        j = p->retry_max_ms;
    return j > 0 ? j : 1;
}

/* ---- open, add, close ----------------------------------------------------- */

int consumers_open(const folio_config *cfg, const consumers_policy *p,
                   consumers **out, folio_err *err)
{
    *out = NULL;
    if (sodium_init() < 0)
        return err_set(err, "libsodium cannot start");
    consumers *c = calloc(1, sizeof *c);
    if (!c)
        return err_set(err, "out of memory");
    c->cfg = cfg;
    c->pol = *p;
    c->now_ms = util_now_ms;
    c->lock_fd = -1;
    pthread_condattr_t ca;
    int ok = pthread_condattr_init(&ca) == 0;
    ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
         pthread_cond_init(&c->cv, &ca) == 0;
    if (ok)
        pthread_condattr_destroy(&ca);
    if (!ok || pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return err_set(err, "consumers: cannot set up their lock");
    }
    if (util_mkdirs(cfg->var_dir, 0700, err) < 0 ||
        S_conn_open(cfg, &c->main, err) < 0) {
        consumers_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

static void S_consumer_free(S_consumer *k)
{
    if (!k)
        return;
    for (size_t i = 0; k->types && k->types[i]; i++)
        free(k->types[i]);
    free(k->types);
    free(k->name);
    free(k->ops);
    free(k->batch);
    free(k->group);
    free(k->views);
    free(k->ces);
    free(k->res);
    free(k->hidx);
    free(k->errs);
    free(k);
}

void consumers_close(consumers *c)
{
    if (!c)
        return;
    consumers_stop(c);
    while (c->nclosers > 0) {
        c->nclosers--;
        c->closers[c->nclosers].fn(c->closers[c->nclosers].ud);
    }
    free(c->closers);
    for (size_t i = 0; i < c->n; i++)
        S_consumer_free(c->list[i]);
    free(c->list);
    if (c->main.st)
        S_conn_close(&c->main);
    if (c->lock_fd >= 0)
        close(c->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

int consumers_on_close(consumers *c, void (*fn)(void *), void *ud,
                       folio_err *err)
{
    S_closer *n = realloc(c->closers, (c->nclosers + 1) * sizeof *n);
    if (!n)
        return err_set(err, "out of memory");
    c->closers = n;
    c->closers[c->nclosers++] = (S_closer){fn, ud};
    return 0;
}

static int S_copy_types(S_consumer *k, const char *const *types)
{
    if (!types)
        return 0;
    size_t n = 0;
    while (types[n])
        n++;
    k->types = calloc(n + 1, sizeof *k->types);
    if (!k->types)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!(k->types[i] = util_strdup(types[i])))
            return -1;
    return 0;
}

static int S_scratch(S_consumer *k, size_t max)
{
    k->max = max;
    return (k->group = calloc(max, sizeof *k->group)) &&
           (k->views = calloc(max, sizeof *k->views)) &&
           (k->ces = calloc(max, sizeof *k->ces)) &&
           (k->res = calloc(max, sizeof *k->res)) &&
           (k->hidx = calloc(max, sizeof *k->hidx)) &&
           (k->errs = calloc(max, sizeof *k->errs)) ? 0 : -1;
}

static int S_add(consumers *c, const char *name, const char *const *types,
                 consumer_handler_fn fn, consumer_batch_fn bfn, size_t max,
                 void *ud, folio_err *err)
{
    if (!name || !name[0] || strlen(name) > 200 || (!fn && !bfn))
        return err_set(err, "consumers: a consumer needs a name (up to 200 "
                       "bytes) and a handler");
    if (max < 1 || max > S_BATCH)
        return err_set(err, "consumers: %s: a batch is 1 to %d events", name,
                       S_BATCH);
    if (c->threads)
        return err_set(err, "consumers: cannot add %s while running", name);
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->list[i]->name, name))
            return err_set(err, "consumers: two consumers are named %s",
                           name);
    S_consumer **list = realloc(c->list, (c->n + 1) * sizeof *list);
    if (!list)
        return err_set(err, "out of memory");
    c->list = list;
    S_consumer *k = calloc(1, sizeof *k);
    if (!k || !(k->name = util_strdup(name)) || S_copy_types(k, types) < 0 ||
        !(k->ops = calloc(S_BATCH, sizeof *k->ops)) ||
        !(k->batch = calloc(1, sizeof *k->batch)) || S_scratch(k, max) < 0) {
        S_consumer_free(k);
        return err_set(err, "out of memory");
    }
    k->c = c;
    k->index = c->n;
    k->fn = fn;
    k->bfn = bfn;
    k->ud = ud;
    k->position = -1;
    c->list[c->n++] = k;
    return 0;
}

int consumers_add(consumers *c, const char *name, const char *const *types,
                  consumer_handler_fn fn, void *ud, folio_err *err)
{
    return S_add(c, name, types, fn, NULL, 1, ud, err);
}

int consumers_add_batch(consumers *c, const char *name,
                        const char *const *types, consumer_batch_fn fn,
                        size_t max, void *ud, folio_err *err)
{
    return S_add(c, name, types, NULL, fn, max, ud, err);
}

size_t consumers_count(const consumers *c) { return c->n; }

const char *consumers_name(const consumers *c, size_t i)
{
    return i < c->n ? c->list[i]->name : NULL;
}

void consumers_set_clock(consumers *c, long long (*now_ms)(void))
{
    c->now_ms = now_ms ? now_ms : util_now_ms;
}

void consumers_get_stat(consumers *c, size_t i, consumers_stat *out)
{
    memset(out, 0, sizeof *out);
    if (i >= c->n)
        return;
    pthread_mutex_lock(&c->mu);
    *out = c->list[i]->stat;
    pthread_mutex_unlock(&c->mu);
}

/* The site's delivery lock: one process delivers at a time, or two would
 * read the same checkpoint and deliver everything twice. */
static int S_have_lock(consumers *c)
{
    if (c->lock_fd >= 0)
        return 1;
    char path[4096];
    if (util_path(path, sizeof path, NULL, "%s/consumers.lock",
                  c->cfg->var_dir) < 0)
        return 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return 0;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return 0;
    }
    c->lock_fd = fd;
    return 1;
}

/* ---- checkpoints ----------------------------------------------------------- */

/* Reads k's checkpoint, making it the first time the store sees k: at the
 * head of the log (only what happens from now on) or before its start. */
static int S_ck_load(S_consumer *k, S_conn *cn, folio_err *err)
{
    for (int round = 0; round < 2; round++) {
        sqlite3_stmt *st = S_q(cn, Q_CK_GET, err);
        if (!st)
            return -1;
        if (S_bind(st, "s", k->name) < 0)
            return S_db_err(cn, err, "binding");
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            k->position = sqlite3_column_int64(st, 0);
            sqlite3_reset(st);
            return 0;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return S_db_err(cn, err, "reading a checkpoint");
        if (store_begin(cn->st, err) < 0)
            return -1;
        long long start = k->c->pol.from_beginning ? 0 : store_head(cn->st);
        if (S_write(cn, Q_CK_NEW, NULL, err, "sl", k->name, start) < 0 ||
            store_commit(cn->st, err) < 0) {
            store_rollback(cn->st);
            return -1;
        }
    }
    return err_set(err, "consumers: the checkpoint of %s cannot be made",
                   k->name);
}

static int S_stopping(const S_consumer *k)
{
    return atomic_load(&k->c->stop);
}

/* ---- one delivery -------------------------------------------------------------- */

static int S_wants(const S_consumer *k, const char *type)
{
    if (!k->types)
        return 1;
    for (size_t i = 0; k->types[i]; i++)
        if (!strcmp(k->types[i], type))
            return 1;
    return 0;
}

/* Copies what fits of src (errors are cut, not refused). */
static void S_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--; /* not inside a UTF-8 sequence */
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* op (attempts set by the caller) gets how the delivery of ev went: r,
 * and why when it failed; the consumer's figures follow. */
static void S_report(S_consumer *k, const store_event *ev, S_op *op, int r,
                     const char *why)
{
    char reason[S_ERR_MAX];
    S_copy(reason, sizeof reason, why && why[0] ? why
                   : "the handler failed without a reason");
    op->position = ev->position;
    S_copy(op->event_id, sizeof op->event_id, ev->event_id);
    S_copy(op->type, sizeof op->type, ev->type);
    op->result = r;
    op->dead = r == CONSUMER_PERMANENT ||
               (r == CONSUMER_RETRY && op->attempts >= k->c->pol.attempts);
    S_copy(op->error, sizeof op->error, r == CONSUMER_DONE ? "" : reason);
    metrics_delivery(k->name, r == CONSUMER_DONE ? 0 : op->dead ? 2 : 1);
    pthread_mutex_lock(&k->c->mu);
    consumers_stat *st = &k->stat;
    if (r == CONSUMER_DONE)
        st->done++;
    else if (op->dead)
        st->dead++;
    else
        st->retried++;
    st->failing = r != CONSUMER_DONE;
    if (r != CONSUMER_DONE)
        S_copy(st->last_error, sizeof st->last_error, op->error);
    pthread_mutex_unlock(&k->c->mu);
}

/* Decodes evs[0..n) into k->ces; k->hidx[i] is event i's place there, -1
 * when it cannot be decoded (e.g. written by a newer folio: a retry, its
 * reason in ops[i].error). Returns how many were decoded. */
static size_t S_decode(S_consumer *k, S_conn *cn, const store_event *const *evs,
                       size_t n, S_op *ops)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const store_event *ev = evs[i];
        folio_err e = {{0}};
        k->hidx[i] = -1;
        if (eventview_open(cn->v, ev, 0, &k->views[m], &e) < 0) {
            S_copy(ops[i].error, sizeof ops[i].error, e.msg);
            continue;
        }
        const events_type *t = events_find(ev->type);
        const eventview *v = &k->views[m];
        k->ces[m] = (consumer_event){
            .position = ev->position, .event_id = ev->event_id,
            .stream_id = ev->stream_id, .stream_version = ev->stream_version,
            .type = ev->type,
            .schema_version = t ? t->version : ev->schema_version,
            .data = v->data, .personal = v->personal,
            .metadata = v->metadata, .recorded_at = ev->recorded_at};
        k->res[m] = CONSUMER_UNTRIED;
        k->errs[m].msg[0] = '\0';
        k->hidx[i] = (int)m++;
    }
    return m;
}

/* Hands evs[0..n) (events k wants) to its handler: one call of a batch
 * handler, or the single handler on each until the consumer stops.
 * ops[0..n) come with attempts, from_retry and dead_letter set; the ones
 * of the contiguous run of events the handler tried get their result.
 * Returns the length of that run. */
static size_t S_hand(S_consumer *k, S_conn *cn, const store_event *const *evs,
                     size_t n, S_op *ops)
{
    size_t m = S_decode(k, cn, evs, n, ops);
    if (k->bfn && m > 0) {
        k->bfn(k->ud, k->ces, m, k->res, k->errs);
    } else {
        for (size_t j = 0; j < m && !S_stopping(k); j++)
            k->res[j] = k->fn(k->ud, &k->ces[j], &k->errs[j]);
    }
    for (size_t j = 0; j < m; j++)
        eventview_free(&k->views[j]);
    size_t tried = 0;
    for (; tried < n; tried++) {
        int h = k->hidx[tried];
        int r = h < 0 ? CONSUMER_RETRY : k->res[h];
        if (r == CONSUMER_UNTRIED)
            break;
        if (r != CONSUMER_DONE && r != CONSUMER_PERMANENT)
            r = CONSUMER_RETRY;
        S_report(k, evs[tried], &ops[tried], r,
                 h < 0 ? ops[tried].error : k->errs[h].msg);
    }
    return tried;
}

/* ---- what deliveries reported, with the checkpoint, in one transaction ---- */

static int S_op_write(S_consumer *k, S_conn *cn, const S_op *op,
                      long long now, folio_err *err)
{
    const char *name = k->name, *action;
    long long dl = op->dead_letter;
    if (op->result == CONSUMER_DONE) {
        if (!op->from_retry)
            return 0; /* the checkpoint says it all */
        if (S_write(cn, Q_RETRY_DEL, NULL, err, "sl", name, op->position) < 0 ||
            (dl && S_write(cn, Q_DEAD_SET, NULL, err, "lsisL", dl,
                           "delivered", op->attempts, NULL, now) < 0))
            return -1;
        action = "delivered";
    } else if (!op->dead) {
        long long next = now + S_backoff(&k->c->pol, op->attempts);
        if (S_write(cn, Q_RETRY_PUT, NULL, err, "slilsL", name, op->position,
                    op->attempts, next, op->error, dl) < 0)
            return -1;
        action = "failed";
    } else {
        if (op->from_retry &&
            S_write(cn, Q_RETRY_DEL, NULL, err, "sl", name, op->position) < 0)
            return -1;
        if (dl) {
            if (S_write(cn, Q_DEAD_SET, NULL, err, "lsisL", dl, "dead",
                        op->attempts, op->error, 0LL) < 0)
                return -1;
        } else {
            if (S_write(cn, Q_DEAD_ADD, NULL, err, "slssisl", name,
                        op->position, op->event_id, op->type, op->attempts,
                        op->error, now) < 0)
                return -1;
            dl = sqlite3_last_insert_rowid(store_db(cn->st));
        }
        action = "dead";
    }
    return S_write(cn, Q_ACTION, NULL, err, "lssLLis", now, name, action,
                   op->position, dl, op->attempts,
                   op->result == CONSUMER_DONE ? NULL : op->error);
}

/* Writes the pending reports and moves the checkpoint to upto, atomically.
 * On failure nothing is written and the checkpoint is read again: the
 * deliveries since will be repeated. */
static int S_flush(S_consumer *k, S_conn *cn, long long upto, folio_err *err)
{
    if (k->nops == 0 && upto == k->position)
        return 0;
    long long now = k->c->now_ms(), done = 0, ok_at = 0, err_at = 0;
    const char *last_error = NULL;
    for (size_t i = 0; i < k->nops; i++) {
        if (k->ops[i].result == CONSUMER_DONE) {
            done++;
            ok_at = now;
        } else {
            last_error = k->ops[i].error;
            err_at = now;
        }
    }
    int changed = 0;
    if (store_begin(cn->st, err) < 0)
        goto fail;
    for (size_t i = 0; i < k->nops; i++)
        if (S_op_write(k, cn, &k->ops[i], now, err) < 0)
            goto rollback;
    if (S_write(cn, Q_CK_SET, &changed, err, "sllLsLl", k->name, upto, done,
                ok_at, last_error, err_at, k->position) < 0)
        goto rollback;
    if (changed != 1) {
        err_set(err, "consumers: another process moved the checkpoint of "
                "%s; the deliveries since it was read will be repeated",
                k->name);
        goto rollback;
    }
    if (store_commit(cn->st, err) < 0)
        goto rollback;
    k->position = upto;
    k->nops = 0;
    return 0;
rollback:
    store_rollback(cn->st);
fail:
    k->nops = 0;
    k->position = -1;
    return -1;
}

/* ---- steps ------------------------------------------------------------------ */

static int S_copy_event(void *ud, const store_event *ev)
{
    S_batch *b = ud;
    if (b->n == S_BATCH)
        return 1;
    size_t ls = strlen(ev->stream_id) + 1, lt = strlen(ev->type) + 1,
           ld = strlen(ev->data) + 1, lm = strlen(ev->metadata) + 1;
    char *m = malloc(ls + lt + ld + lm);
    if (!m) {
        b->oom = 1;
        return -1;
    }
    store_event *e = &b->ev[b->n++];
    *e = *ev;
    e->stream_id = memcpy(m, ev->stream_id, ls);
    e->type = memcpy(m + ls, ev->type, lt);
    e->data = memcpy(m + ls + lt, ev->data, ld);
    e->metadata = memcpy(m + ls + lt + ld, ev->metadata, lm);
    return 0;
}

static void S_batch_clear(S_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free((char *)b->ev[i].stream_id); /* the block of all four */
    b->n = 0;
    b->oom = 0;
}

/* Copies at most limit events after `after` into k's batch, after what
 * it holds already. */
static int S_read(S_consumer *k, S_conn *cn, long long after, size_t limit,
                  folio_err *err)
{
    long long last = 0;
    int rc = store_read_all(cn->st, after, limit, S_copy_event, k->batch,
                            &last, err);
    if (k->batch->oom)
        rc = err_set(err, "out of memory");
    if (rc != 0) {
        S_batch_clear(k->batch);
        return -1;
    }
    return 0;
}

/* ops[0..n) for deliveries of events read from the log. */
static S_op *S_ops_new(S_consumer *k, size_t n)
{
    S_op *ops = &k->ops[k->nops];
    for (size_t i = 0; i < n; i++) {
        memset(&ops[i], 0, sizeof ops[i]);
        ops[i].attempts = 1;
    }
    return ops;
}

/* The last position of b before `before` (from index i on), or upto. */
static long long S_before(const S_batch *b, size_t i, long long before,
                          long long upto)
{
    for (; i < b->n && b->ev[i].position < before; i++)
        upto = b->ev[i].position;
    return upto;
}

/* The next events after the checkpoint, one read: handed over in groups
 * of up to k->max of the events k wants. The checkpoint moves past a
 * group once every event of it was tried; an untried one ends the step
 * with the checkpoint just before it. */
static int S_step_new(S_consumer *k, S_conn *cn, int *more, folio_err *err)
{
    S_batch_clear(k->batch);
    if (S_read(k, cn, k->position, S_BATCH, err) < 0)
        return -1;
    S_batch *b = k->batch;
    *more = b->n == S_BATCH;
    long long t0 = util_mono_ns(), start = k->position, upto = k->position;
    int rc = 0;
    for (size_t i = 0; i < b->n && rc == 0;) {
        if (S_stopping(k)) {
            *more = 0;
            break;
        }
        size_t g = 0, j = i;
        for (; j < b->n && g < k->max; j++)
            if (S_wants(k, b->ev[j].type))
                k->group[g++] = &b->ev[j];
        size_t tried = g ? S_hand(k, cn, k->group, g, S_ops_new(k, g)) : 0;
        k->nops += tried;
        if (tried < g) {
            upto = S_before(b, i, k->group[tried]->position, upto);
            *more = upto > start && !S_stopping(k);
            break;
        }
        upto = b->ev[j - 1].position;
        i = j;
        if (util_mono_ns() - t0 >= S_FLUSH_NS) {
            rc = S_flush(k, cn, upto, err);
            t0 = util_mono_ns();
        }
    }
    if (rc == 0)
        rc = S_flush(k, cn, upto, err);
    S_batch_clear(b);
    return rc;
}

typedef struct S_due {
    long long position, dead_letter;
    int attempts;
} S_due;

static int S_due_read(S_consumer *k, S_conn *cn, S_due *due, size_t *n,
                      folio_err *err)
{
    *n = 0;
    sqlite3_stmt *st = S_q(cn, Q_RETRY_DUE, err);
    if (!st)
        return -1;
    if (S_bind(st, "sli", k->name, k->c->now_ms(), S_RETRY_BATCH) < 0)
        return S_db_err(cn, err, "binding");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < S_RETRY_BATCH) {
        due[*n].position = sqlite3_column_int64(st, 0);
        due[*n].attempts = sqlite3_column_int(st, 1);
        due[*n].dead_letter = sqlite3_column_int64(st, 2);
        (*n)++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return S_db_err(cn, err, "reading the retries");
    return 0;
}

/* The events of the due retries, copied into k's batch in their order. */
static int S_due_events(S_consumer *k, S_conn *cn, const S_due *due, size_t n,
                        folio_err *err)
{
    S_batch_clear(k->batch);
    for (size_t i = 0; i < n; i++) {
        if (S_read(k, cn, due[i].position - 1, 1, err) < 0)
            return -1;
        if (k->batch->n != i + 1 ||
            k->batch->ev[i].position != due[i].position) {
            S_batch_clear(k->batch);
            return err_set(err, "consumers: %s has a retry of position %lld,"
                           " which the log does not hold", k->name,
                           due[i].position);
        }
    }
    return 0;
}

/* The retries that are due, one read, in groups of up to k->max. An
 * untried one stays due. */
static int S_step_retries(S_consumer *k, S_conn *cn, int *more,
                          folio_err *err)
{
    S_due due[S_RETRY_BATCH];
    size_t n = 0;
    if (S_due_read(k, cn, due, &n, err) < 0 ||
        S_due_events(k, cn, due, n, err) < 0)
        return -1;
    *more = n == S_RETRY_BATCH;
    long long t0 = util_mono_ns();
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        if (S_stopping(k)) {
            *more = 0;
            break;
        }
        size_t g = n - i < k->max ? n - i : k->max;
        S_op *ops = &k->ops[k->nops];
        for (size_t q = 0; q < g; q++) {
            k->group[q] = &k->batch->ev[i + q];
            memset(&ops[q], 0, sizeof ops[q]);
            ops[q].from_retry = 1;
            ops[q].attempts = due[i + q].attempts + 1;
            ops[q].dead_letter = due[i + q].dead_letter;
        }
        size_t tried = S_hand(k, cn, k->group, g, ops);
        k->nops += tried;
        if (tried < g) {
            *more = tried > 0 && !S_stopping(k);
            break;
        }
        i += g;
        if (util_mono_ns() - t0 >= S_FLUSH_NS) {
            rc = S_flush(k, cn, k->position, err);
            t0 = util_mono_ns();
        }
    }
    if (rc == 0)
        rc = S_flush(k, cn, k->position, err);
    S_batch_clear(k->batch);
    return rc;
}

static int S_counts(S_conn *cn, const char *name, long long *retries,
                    long long *dead, folio_err *err)
{
    sqlite3_stmt *st = S_q(cn, Q_COUNTS, err);
    if (!st)
        return -1;
    if (S_bind(st, "s", name) < 0)
        return S_db_err(cn, err, "binding");
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *retries = sqlite3_column_int64(st, 0);
        *dead = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : S_db_err(cn, err, "counting");
}

static int S_refresh_stat(S_consumer *k, S_conn *cn, folio_err *err)
{
    long long retries = 0, dead = 0, head = store_head(cn->st);
    if (S_counts(cn, k->name, &retries, &dead, err) < 0)
        return -1;
    pthread_mutex_lock(&k->c->mu);
    k->stat.position = k->position;
    k->stat.head = head;
    k->stat.retries = retries;
    k->stat.dead_letters = dead;
    pthread_mutex_unlock(&k->c->mu);
    metrics_consumer_state(k->name, head - k->position, dead);
    return 0;
}

/* k to the head of the log, with its due retries. */
static int S_consumer_run(S_consumer *k, S_conn *cn, folio_err *err)
{
    if (k->position < 0 && S_ck_load(k, cn, err) < 0)
        return -1;
    int more_r = 1, more_n = 1;
    while ((more_r || more_n) && !S_stopping(k))
        if (S_step_retries(k, cn, &more_r, err) < 0 ||
            S_step_new(k, cn, &more_n, err) < 0)
            return -1;
    return S_refresh_stat(k, cn, err);
}

int consumers_run_once(consumers *c, folio_err *err)
{
    if (!S_have_lock(c)) {
        err_set(err, "another process (folio-fcgi?) is delivering for this "
                "site: %s/consumers.lock is held", c->cfg->var_dir);
        return 1;
    }
    for (size_t i = 0; i < c->n; i++)
        if (S_consumer_run(c->list[i], &c->main, err) < 0)
            return -1;
    return 0;
}

/* ---- threads ---------------------------------------------------------------- */

/* How long k may sleep: until its next retry falls due, or poll. */
static long long S_idle_ms(S_consumer *k, S_conn *cn)
{
    long long wait = k->c->pol.poll_ms;
    folio_err err = {{0}};
    sqlite3_stmt *st = S_q(cn, Q_RETRY_NEXT, &err);
    if (!st || S_bind(st, "s", k->name) < 0)
        return wait;
    if (sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL) {
        long long d = sqlite3_column_int64(st, 0) - k->c->now_ms();
        if (d < wait)
            wait = d < 1 ? 1 : d;
    }
    sqlite3_reset(st);
    return wait;
}

/* Sleeps up to ms, or until a wake-up after *seen or the stop. */
static void S_sleep(consumers *c, unsigned long long *seen, long long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    while (!atomic_load(&c->stop) && c->wake_seq == *seen)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
            break;
    *seen = c->wake_seq;
    pthread_mutex_unlock(&c->mu);
}

static int S_thread_lock(S_consumer *k)
{
    consumers *c = k->c;
    pthread_mutex_lock(&c->mu);
    int ok = S_have_lock(c);
    int warn = !ok && !c->lock_warned;
    if (warn)
        c->lock_warned = 1;
    pthread_mutex_unlock(&c->mu);
    if (warn)
        log_msg("warn", "another process delivers for this site (%s/"
                "consumers.lock is held); consumers wait for it to end",
                c->cfg->var_dir);
    return ok;
}

static void *S_thread(void *arg)
{
    S_consumer *k = arg;
    consumers *c = k->c;
    S_cancel = &c->stop;
    pthread_setname_np(pthread_self(), "folio-consumer");
    S_conn cn;
    int open = 0;
    unsigned long long seen = 0;
    long long wait = 0;
    while (!S_stopping(k)) {
        S_sleep(c, &seen, wait);
        if (S_stopping(k))
            break;
        folio_err err = {{0}};
        wait = c->pol.poll_ms;
        if (!open && S_conn_open(c->cfg, &cn, &err) < 0) {
            log_msg("error", "consumer %s: %s", k->name, err.msg);
            continue;
        }
        open = 1;
        if (!S_thread_lock(k))
            continue;
        if (S_consumer_run(k, &cn, &err) < 0)
            log_msg("error", "consumer %s: %s", k->name, err.msg);
        else
            wait = S_idle_ms(k, &cn);
    }
    if (open)
        S_conn_close(&cn);
    return NULL;
}

int consumers_start(consumers *c, folio_err *err)
{
    for (size_t i = 0; c->pol.background && i < c->n; i++) {
        S_consumer *k = c->list[i];
        if (pthread_create(&k->thread, NULL, S_thread, k) != 0) {
            consumers_stop(c);
            return err_set(err, "consumers: cannot start a thread: %s",
                           strerror(errno));
        }
        k->started = 1;
        c->threads++;
    }
    return 0;
}

void consumers_wake(consumers *c)
{
    if (!c || !c->threads)
        return;
    pthread_mutex_lock(&c->mu);
    c->wake_seq++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void consumers_stop(consumers *c)
{
    if (!c || !c->threads)
        return;
    pthread_mutex_lock(&c->mu);
    atomic_store(&c->stop, 1);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < c->n; i++)
        if (c->list[i]->started) {
            pthread_join(c->list[i]->thread, NULL);
            c->list[i]->started = 0;
        }
    c->threads = 0;
    atomic_store(&c->stop, 0);
}

cJSON *consumers_health(consumers *c)
{
    cJSON *o = cJSON_CreateObject(), *failing = cJSON_CreateArray();
    if (!o || !failing) {
        cJSON_Delete(o);
        cJSON_Delete(failing);
        return NULL;
    }
    int ok = 1;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++)
        if (c->list[i]->stat.failing) {
            ok = 0;
            cJSON_AddItemToArray(failing,
                                 cJSON_CreateString(c->list[i]->name));
        }
    pthread_mutex_unlock(&c->mu);
    cJSON_AddBoolToObject(o, "ok", ok);
    cJSON_AddItemToObject(o, "failing", failing);
    return o;
}

/* ---- the owner's tools ---------------------------------------------------- */

static sqlite3_stmt *S_prepare(consumers *c, const char *sql, folio_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db(c->main.st), sql, -1, &st, NULL) !=
        SQLITE_OK) {
        S_db_err(&c->main, err, "preparing a query");
        return NULL;
    }
    return st;
}

/* Adds column i as an ISO time (ms since the epoch), or null. */
static void S_add_time(cJSON *o, const char *key, sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    char iso[32];
    util_format_iso_ms(sqlite3_column_int64(st, i), iso);
    cJSON_AddStringToObject(o, key, iso);
}

static void S_add_text(cJSON *o, const char *key, sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (t)
        cJSON_AddStringToObject(o, key, (const char *)t);
    else
        cJSON_AddNullToObject(o, key);
}

/* Seconds since the first event after position was recorded (0: none). */
static long long S_lag_seconds(consumers *c, long long position)
{
    S_batch b = {.n = 0};
    long long last = 0;
    folio_err err;
    long long lag = 0;
    if (store_read_all(c->main.st, position, 1, S_copy_event, &b, &last,
                       &err) == 0 && b.n == 1) {
        lag = (c->now_ms() - b.ev[0].recorded_at) / 1000;
        if (lag < 0)
            lag = 0;
    }
    S_batch_clear(&b);
    return lag;
}

static int S_status_one(consumers *c, const char *name, int configured,
                        cJSON *arr, folio_err *err)
{
    sqlite3_stmt *st = S_prepare(c, "SELECT position, delivered,"
                                 " last_success_at, last_error, last_error_at"
                                 " FROM consumer_checkpoints WHERE name = ?1",
                                 err);
    if (!st)
        return -1;
    cJSON *o = cJSON_CreateObject();
    long long retries = 0, dead = 0, head = store_head(c->main.st);
    int rc = SQLITE_ERROR;
    if (o && sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK &&
        S_counts(&c->main, name, &retries, &dead, err) == 0) {
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddBoolToObject(o, "configured", configured);
        rc = sqlite3_step(st);
        long long pos = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0)
                        : c->pol.from_beginning ? 0 : head;
        if (rc == SQLITE_ROW)
            cJSON_AddNumberToObject(o, "position", (double)pos);
        else
            cJSON_AddNullToObject(o, "position"); /* not started yet */
        cJSON_AddNumberToObject(o, "head", (double)head);
        cJSON_AddNumberToObject(o, "lag_events", (double)(head - pos));
        cJSON_AddNumberToObject(o, "lag_seconds",
                                (double)S_lag_seconds(c, pos));
        cJSON_AddNumberToObject(o, "delivered", rc == SQLITE_ROW ?
                                (double)sqlite3_column_int64(st, 1) : 0);
        S_add_time(o, "last_success_at", st, 2);
        S_add_text(o, "last_error", st, 3);
        S_add_time(o, "last_error_at", st, 4);
        cJSON_AddNumberToObject(o, "retries", (double)retries);
        cJSON_AddNumberToObject(o, "dead_letters", (double)dead);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        cJSON_Delete(o);
        return err->msg[0] ? -1 : S_db_err(&c->main, err, "reading status");
    }
    cJSON_AddItemToArray(arr, o);
    return 0;
}

cJSON *consumers_status(consumers *c, folio_err *err)
{
    err->msg[0] = '\0';
    cJSON *arr = cJSON_CreateArray();
    sqlite3_stmt *st = S_prepare(c, "SELECT name FROM consumer_checkpoints"
                                 " ORDER BY name", err);
    if (!arr || !st)
        goto fail;
    for (size_t i = 0; i < c->n; i++)
        if (S_status_one(c, c->list[i]->name, 1, arr, err) < 0)
            goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        int known = 0;
        for (size_t i = 0; name && i < c->n; i++)
            known |= !strcmp(c->list[i]->name, name);
        if (name && !known && S_status_one(c, name, 0, arr, err) < 0)
            goto fail;
    }
    if (rc != SQLITE_DONE) {
        S_db_err(&c->main, err, "reading checkpoints");
        goto fail;
    }
    sqlite3_finalize(st);
    return arr;
fail:
    sqlite3_finalize(st);
    cJSON_Delete(arr);
    if (!err->msg[0])
        err_set(err, "out of memory");
    return NULL;
}

cJSON *consumers_deadletters(consumers *c, const char *consumer, int all,
                             folio_err *err)
{
    sqlite3_stmt *st = S_prepare(
        c, "SELECT id, consumer, position, event_id, type, attempts, error,"
           " created_at, state, resolved_at FROM dead_letters"
           " WHERE (?1 IS NULL OR consumer = ?1)"
           " AND (?2 OR state IN ('dead', 'retrying')) ORDER BY id", err);
    cJSON *arr = cJSON_CreateArray();
    if (!st || !arr || S_bind(st, "si", consumer, all) < 0) {
        sqlite3_finalize(st);
        cJSON_Delete(arr);
        return st ? (err_set(err, "out of memory"), NULL) : NULL;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
        S_add_text(o, "consumer", st, 1);
        cJSON_AddNumberToObject(o, "position",
                                (double)sqlite3_column_int64(st, 2));
        S_add_text(o, "event_id", st, 3);
        S_add_text(o, "type", st, 4);
        cJSON_AddNumberToObject(o, "attempts", sqlite3_column_int(st, 5));
        S_add_text(o, "error", st, 6);
        S_add_time(o, "created_at", st, 7);
        S_add_text(o, "state", st, 8);
        S_add_time(o, "resolved_at", st, 9);
        cJSON_AddItemToArray(arr, o);
    }
    if (rc != SQLITE_DONE) {
        S_db_err(&c->main, err, "reading dead letters");
        sqlite3_finalize(st);
        cJSON_Delete(arr);
        return NULL;
    }
    sqlite3_finalize(st);
    return arr;
}

/* Records an owner's action on dead letter id (inside the transaction). */
static int S_owner_action(consumers *c, long long id, const char *action,
                          folio_err *err)
{
    sqlite3_stmt *st = S_prepare(
        c, "INSERT INTO consumer_actions(at, consumer, action, position,"
           " dead_letter, attempts, detail) SELECT ?1, consumer, ?2, position,"
           " id, attempts, 'by the owner' FROM dead_letters WHERE id = ?3",
        err);
    if (!st)
        return -1;
    int rc = S_bind(st, "lsl", c->now_ms(), action, id) < 0
                 ? -1 : S_run(&c->main, st, NULL, err);
    sqlite3_finalize(st);
    return rc;
}

/* Ids of the dead letters to retry, into a growable array. */
static int S_dead_ids(consumers *c, long long id, const char *consumer,
                      long long **ids, size_t *n, folio_err *err)
{
    sqlite3_stmt *st = S_prepare(
        c, "SELECT id FROM dead_letters WHERE state = 'dead'"
           " AND (?1 = 0 OR id = ?1) AND (?2 IS NULL OR consumer = ?2)"
           " ORDER BY id", err);
    if (!st || S_bind(st, "ls", id, consumer) < 0) {
        sqlite3_finalize(st);
        return st ? S_db_err(&c->main, err, "binding") : -1;
    }
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            long long *m = realloc(*ids, cap * sizeof *m);
            if (!m) {
                sqlite3_finalize(st);
                return err_set(err, "out of memory");
            }
            *ids = m;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : S_db_err(&c->main, err, "reading");
}

static int S_retry_one(consumers *c, long long id, folio_err *err)
{
    sqlite3_stmt *a = S_prepare(
        c, "UPDATE dead_letters SET state = 'retrying', resolved_at = NULL"
           " WHERE id = ?1 AND state = 'dead'", err);
    sqlite3_stmt *b = a ? S_prepare(
        c, "INSERT OR REPLACE INTO consumer_retries(consumer, position,"
           " attempts, next_at, last_error, dead_letter) SELECT consumer,"
           " position, 0, ?2, error, id FROM dead_letters WHERE id = ?1", err)
                        : NULL;
    int rc = -1;
    if (a && b && S_bind(a, "l", id) == 0 &&
        S_bind(b, "ll", id, c->now_ms()) == 0 &&
        S_run(&c->main, a, NULL, err) == 0 &&
        S_run(&c->main, b, NULL, err) == 0)
        rc = S_owner_action(c, id, "owner-retry", err);
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    return rc;
}

int consumers_deadletter_retry(consumers *c, long long id,
                               const char *consumer, long long *n,
                               folio_err *err)
{
    *n = 0;
    long long *ids = NULL;
    size_t nids = 0;
    if (store_begin(c->main.st, err) < 0)
        return -1;
    if (S_dead_ids(c, id, consumer, &ids, &nids, err) < 0)
        goto fail;
    for (size_t i = 0; i < nids; i++)
        if (S_retry_one(c, ids[i], err) < 0)
            goto fail;
    if (store_commit(c->main.st, err) < 0)
        goto fail;
    free(ids);
    *n = (long long)nids;
    return nids == 0 && id ? 1 : 0;
fail:
    store_rollback(c->main.st);
    free(ids);
    return -1;
}

int consumers_deadletter_drop(consumers *c, long long id, folio_err *err)
{
    sqlite3_stmt *a = S_prepare(
        c, "UPDATE dead_letters SET state = 'dropped', resolved_at = ?2"
           " WHERE id = ?1 AND state IN ('dead', 'retrying')", err);
    sqlite3_stmt *b = a ? S_prepare(
        c, "DELETE FROM consumer_retries WHERE dead_letter = ?1", err) : NULL;
    int rc = -1, changed = 0;
    if (!a || !b || store_begin(c->main.st, err) < 0)
        goto out;
    if (S_bind(a, "ll", id, c->now_ms()) < 0 || S_bind(b, "l", id) < 0 ||
        S_run(&c->main, a, &changed, err) < 0 ||
        S_run(&c->main, b, NULL, err) < 0 ||
        (changed && S_owner_action(c, id, "owner-drop", err) < 0) ||
        store_commit(c->main.st, err) < 0) {
        store_rollback(c->main.st);
        if (!err->msg[0])
            S_db_err(&c->main, err, "dropping");
        goto out;
    }
    rc = changed ? 0 : 1;
out:
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    return rc;
}
