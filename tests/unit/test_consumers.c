/* Consumers against temporary sites: log order and filters, the decoded
 * event, checkpoints written with the delivery records, a crash before the
 * checkpoint (redelivered, never skipped), positions of rolled-back
 * appends, the retry schedule on a fake clock, dead letters and the
 * owner's retry and drop, the threads and their wake-up, the site lock,
 * batch handlers (a result per event, untried ones, a crash mid-batch). */
#include <check.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "consumers.h"
#include "domain.h"
#include "metrics.h"
#include "store.h"
#include "util.h"
#include "unit.h"

static char S_dir[256];
static folio_config S_cfg;
static long long S_clock;

static long long S_fake_now(void) { return S_clock; }

static void S_setup(void)
{
    unit_tmpdir(S_dir, sizeof S_dir, "consumers");
    folio_err err = {{0}};
    ck_assert_msg(config_load(S_dir, &S_cfg, &err) == 0, "%s", err.msg);
    S_clock = 1700000000000LL;
}

static void S_teardown(void)
{
    config_free(&S_cfg);
    unit_rmdir(S_dir);
}

/* ---- helpers ------------------------------------------------------------ */

/* What a test handler saw and how it answers. */
typedef struct S_rec {
    pthread_mutex_t mu;
    long long pos[512];
    char type[512][32];
    char email[512][64];
    size_t n;
    int answer;          /* enum consumer_result for every event */
    long long only;      /* when > 0, answer only for this position */
    int die_at;          /* child: _exit after recording this many */
    atomic_int hold;     /* while set, the handler hangs (a dead receiver) */
} S_rec;

static void S_rec_init(S_rec *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
}

static int S_handler(void *ud, const consumer_event *ev, folio_err *err)
{
    S_rec *r = ud;
    pthread_mutex_lock(&r->mu);
    size_t i = r->n < 512 ? r->n++ : 511;
    r->pos[i] = ev->position;
    snprintf(r->type[i], sizeof r->type[i], "%s", ev->type);
    const cJSON *e = ev->personal
                         ? cJSON_GetObjectItemCaseSensitive(ev->personal, "email")
                         : NULL;
    snprintf(r->email[i], sizeof r->email[i], "%s",
             cJSON_IsString(e) ? e->valuestring : "");
    size_t n = r->n;
    pthread_mutex_unlock(&r->mu);
    if (r->die_at && (int)n == r->die_at)
        _exit(0); /* the process dies before its checkpoint commits */
    for (int i = 0; atomic_load(&r->hold) && i < 1000 && !consumers_cancelled(); i++) {
        struct timespec pause = {0, 5 * 1000000L};
        nanosleep(&pause, NULL);
    }
    int answer = r->only && ev->position != r->only ? CONSUMER_DONE : r->answer;
    if (answer != CONSUMER_DONE)
        err_set(err, "receiver said no (%d)", answer);
    return answer;
}

static domain *S_domain(void)
{
    domain *d = NULL;
    folio_err err = {{0}};
    ck_assert_msg(domain_open(&S_cfg, &d, &err) == 0, "%s", err.msg);
    return d;
}

static void S_contact(domain *d, int i)
{
    char email[64], msg[64];
    snprintf(email, sizeof email, "visitor%d@example.org", i);
    snprintf(msg, sizeof msg, "Hello number %d", i);
    domain_contact_req req = {"Vis Itor", email, "Hi", msg, "/contact/",
                              NULL, "192.0.2.7"};
    domain_result res;
    folio_err err = {{0}};
    ck_assert_msg(domain_contact(d, &req, &res, &err) == DOMAIN_OK, "%s",
                  err.msg);
}

static void S_register(domain *d, int i)
{
    char email[64];
    snprintf(email, sizeof email, "member%d@example.org", i);
    domain_register_req req = {email, "Mem Ber", NULL, NULL, NULL, NULL, 0, 0};
    domain_result res;
    folio_err err = {{0}};
    ck_assert_msg(domain_register(d, &req, &res, &err) == DOMAIN_OK, "%s",
                  err.msg);
}

static consumers_policy S_policy(void)
{
    consumers_policy p = {.retry_first_ms = 1000, .retry_max_ms = 3000,
                          .poll_ms = 50, .attempts = 4, .from_beginning = 1,
                          .background = 1};
    return p;
}

static consumers *S_open(const consumers_policy *p)
{
    consumers *c = NULL;
    folio_err err = {{0}};
    ck_assert_msg(consumers_open(&S_cfg, p, &c, &err) == 0, "%s", err.msg);
    consumers_set_clock(c, S_fake_now);
    return c;
}

static void S_add(consumers *c, const char *name, const char *const *types,
                  S_rec *r)
{
    folio_err err = {{0}};
    ck_assert_msg(consumers_add(c, name, types, S_handler, r, &err) == 0,
                  "%s", err.msg);
}

static void S_run(consumers *c)
{
    folio_err err = {{0}};
    ck_assert_msg(consumers_run_once(c, &err) == 0, "%s", err.msg);
}

static long long S_int(const char *sql)
{
    return unit_db_int(S_cfg.db_path, sql);
}

static void S_exec(const char *sql) { unit_db_exec(S_cfg.db_path, sql); }

/* A site with n contact requests and one consumer, name, whose handler
 * records into r and answers `answer` (for position `only`, when > 0). */
typedef struct S_fix {
    domain *d;
    consumers *c;
} S_fix;

static void S_fix_open(S_fix *f, int n, const char *name, S_rec *r,
                       int answer, long long only)
{
    f->d = S_domain();
    for (int i = 0; i < n; i++)
        S_contact(f->d, i);
    consumers_policy p = S_policy();
    f->c = S_open(&p);
    S_rec_init(r);
    r->answer = answer;
    r->only = only;
    S_add(f->c, name, NULL, r);
}

static void S_fix_close(S_fix *f)
{
    consumers_close(f->c);
    domain_close(f->d);
}

/* ---- order, filters, decoding --------------------------------------------- */

START_TEST(test_order_and_filters)
{
    domain *d = S_domain();
    for (int i = 0; i < 5; i++) {
        S_contact(d, i);
        S_register(d, i);
    }
    consumers_policy p = S_policy();
    consumers *c = S_open(&p);
    S_rec all, contacts;
    S_rec_init(&all);
    S_rec_init(&contacts);
    const char *const types[] = {"ContactRequestSubmitted", NULL};
    S_add(c, "all", NULL, &all);
    S_add(c, "contacts", types, &contacts);
    S_run(c);
    ck_assert_int_eq(all.n, 10);
    for (size_t i = 0; i < all.n; i++)
        ck_assert_int_eq(all.pos[i], (long long)i + 1);
    ck_assert_int_eq(contacts.n, 5);
    for (size_t i = 0; i < contacts.n; i++) {
        ck_assert_str_eq(contacts.type[i], "ContactRequestSubmitted");
        ck_assert_int_eq(contacts.pos[i], 2 * (long long)i + 1);
        char want[64];
        snprintf(want, sizeof want, "visitor%zu@example.org", i);
        ck_assert_str_eq(contacts.email[i], want); /* opened for the owner */
    }
    /* the checkpoint moved past the events the filter left out */
    ck_assert_int_eq(S_int("SELECT position FROM consumer_checkpoints"
                           " WHERE name = 'contacts'"), 10);
    S_run(c); /* nothing new: nothing again */
    ck_assert_int_eq(all.n, 10);
    S_contact(d, 99);
    S_run(c);
    ck_assert_int_eq(all.n, 11);
    ck_assert_int_eq(all.pos[10], 11);
    ck_assert_int_eq(contacts.n, 6);

    /* forgotten: the handler sees the redaction */
    domain_result res;
    folio_err err = {{0}};
    ck_assert_int_eq(domain_forget(d, "visitor99@example.org", &res, &err),
                     DOMAIN_OK);
    S_exec("UPDATE consumer_checkpoints SET position = 10"
           " WHERE name = 'contacts'");
    consumers_close(c);
    c = S_open(&p);
    S_rec again;
    S_rec_init(&again);
    S_add(c, "contacts", types, &again);
    S_run(c);
    ck_assert_int_eq(again.n, 1);
    ck_assert_str_eq(again.email[0], "[redacted]");
    consumers_close(c);
    domain_close(d);
}
END_TEST

START_TEST(test_start_at_head)
{
    domain *d = S_domain();
    S_contact(d, 1);
    S_contact(d, 2);
    consumers_policy p = S_policy();
    p.from_beginning = 0;
    consumers *c = S_open(&p);
    S_rec r;
    S_rec_init(&r);
    S_add(c, "late", NULL, &r);
    S_run(c);
    ck_assert_int_eq(r.n, 0); /* only what happens from now on */
    S_contact(d, 3);
    S_run(c);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.pos[0], 3);
    consumers_close(c);
    domain_close(d);
}
END_TEST

/* ---- gaps from rolled-back appends ------------------------------------------ */

typedef struct S_runner {
    consumers *c;
    int rc;
    folio_err err;
} S_runner;

static void *S_run_thread(void *arg)
{
    S_runner *r = arg;
    r->rc = consumers_run_once(r->c, &r->err);
    return NULL;
}

static void S_append_raw(store *st, int i)
{
    char data[64];
    snprintf(data, sizeof data, "{\"n\":%d}", i);
    store_new_event ev = {NULL, "TestHappened", 1, data, NULL};
    char stream[32];
    snprintf(stream, sizeof stream, "test-%d", i);
    folio_err err = {{0}};
    ck_assert_msg(store_append(st, stream, STORE_ANY, &ev, 1, NULL, &err) == 0,
                  "%s", err.msg);
}

START_TEST(test_rollback_gap)
{
    store *st = NULL;
    folio_err err = {{0}};
    ck_assert(util_mkdirs(S_cfg.var_dir, 0700, &err) == 0);
    ck_assert_msg(store_open(S_cfg.db_path, NULL, &st, &err) == 0, "%s",
                  err.msg);
    S_append_raw(st, 1);
    S_append_raw(st, 2);
    consumers_policy p = S_policy();
    consumers *c = S_open(&p);
    S_rec r;
    S_rec_init(&r);
    S_add(c, "reader", NULL, &r);

    /* A writer appends 3 and 4 in a transaction that never commits, while
     * the consumer catches up (its own commit waits for the lock). */
    ck_assert(store_begin(st, &err) == 0);
    S_append_raw(st, 3);
    S_append_raw(st, 4);
    S_runner run = {.c = c};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, S_run_thread, &run), 0);
    struct timespec pause = {0, 200 * 1000000L};
    nanosleep(&pause, NULL);
    store_rollback(st);
    pthread_join(t, NULL);
    ck_assert_msg(run.rc == 0, "%s", run.err.msg);
    ck_assert_int_eq(r.n, 2);

    /* the positions of the rolled-back events are taken by later ones */
    S_append_raw(st, 5);
    S_append_raw(st, 6);
    S_run(c);
    ck_assert_int_eq(r.n, 4);
    for (size_t i = 0; i < r.n; i++)
        ck_assert_int_eq(r.pos[i], (long long)i + 1); /* once each, in order */
    consumers_close(c);
    store_close(st);
}
END_TEST

/* ---- checkpoints ---------------------------------------------------------- */

START_TEST(test_crash_repeats_never_skips)
{
    domain *d = S_domain();
    for (int i = 0; i < 6; i++)
        S_contact(d, i);
    consumers_policy p = S_policy();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        consumers *c = NULL;
        folio_err err = {{0}};
        if (consumers_open(&S_cfg, &p, &c, &err) < 0)
            _exit(3);
        static S_rec r;
        S_rec_init(&r);
        r.die_at = 4; /* the receiver took 4 events; no checkpoint yet */
        if (consumers_add(c, "mail", NULL, S_handler, &r, &err) < 0)
            _exit(3);
        consumers_run_once(c, &err);
        _exit(4); /* not reached */
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(S_int("SELECT position FROM consumer_checkpoints"), 0);

    consumers *c = S_open(&p);
    S_rec r;
    S_rec_init(&r);
    S_add(c, "mail", NULL, &r);
    S_run(c);
    ck_assert_int_eq(r.n, 6); /* the four are repeated, none is skipped */
    for (size_t i = 0; i < r.n; i++)
        ck_assert_int_eq(r.pos[i], (long long)i + 1);
    consumers_close(c);
    domain_close(d);
}
END_TEST

START_TEST(test_checkpoint_same_transaction)
{
    S_fix f;
    S_rec r;
    S_fix_open(&f, 2, "hook", &r, CONSUMER_RETRY, 0);
    consumers *c = f.c;
    /* the checkpoint cannot move: neither may the retries recorded */
    S_exec("INSERT INTO consumer_checkpoints(name, position)"
           " VALUES ('hook', 0);"
           "CREATE TRIGGER no_move BEFORE UPDATE ON consumer_checkpoints"
           " BEGIN SELECT RAISE(ABORT, 'checkpoint refused'); END;");
    folio_err err = {{0}};
    ck_assert_int_eq(consumers_run_once(c, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "checkpoint refused"));
    ck_assert_int_eq(S_int("SELECT count(*) FROM consumer_retries"), 0);
    ck_assert_int_eq(S_int("SELECT count(*) FROM consumer_actions"), 0);
    S_exec("DROP TRIGGER no_move");
    S_run(c);
    ck_assert_int_eq(S_int("SELECT count(*) FROM consumer_retries"), 2);
    ck_assert_int_eq(S_int("SELECT position FROM consumer_checkpoints"), 2);
    S_fix_close(&f);
}
END_TEST

/* ---- retries and dead letters -------------------------------------------- */

static long long S_next_at(long long position)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT next_at FROM consumer_retries"
             " WHERE position = %lld", position);
    return S_int(sql);
}

START_TEST(test_retry_schedule_and_dead_letter)
{
    S_fix f;
    S_rec r;
    S_fix_open(&f, 2, "hook", &r, CONSUMER_RETRY, 1);
    consumers *c = f.c;
    S_run(c);
    ck_assert_int_eq(r.n, 2); /* 1 failed, parked; 2 delivered after it */
    ck_assert_int_eq(S_int("SELECT position FROM consumer_checkpoints"), 2);
    const long long lo[] = {800, 1600, 2400}, hi[] = {1200, 2400, 3000};
    for (int attempt = 1; attempt <= 3; attempt++) {
        long long due = S_next_at(1), t0 = S_clock;
        ck_assert_int_ge(due - t0, lo[attempt - 1]);
        ck_assert_int_le(due - t0, hi[attempt - 1]);
        S_clock = due - 1;
        S_run(c); /* not due yet */
        ck_assert_int_eq(r.n, (size_t)attempt + 1);
        S_clock = due;
        S_run(c);
        ck_assert_int_eq(r.n, (size_t)attempt + 2);
        ck_assert_int_eq(r.pos[r.n - 1], 1);
    }
    /* the fourth attempt failed: a dead letter, the retry gone */
    ck_assert_int_eq(S_int("SELECT count(*) FROM consumer_retries"), 0);
    ck_assert_int_eq(S_int("SELECT count(*) FROM dead_letters WHERE"
                           " state = 'dead' AND attempts = 4 AND position = 1"
                           " AND error LIKE 'receiver said no%'"), 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM consumer_actions"
                           " WHERE action = 'failed'"), 3);
    consumers_stat st;
    consumers_get_stat(c, 0, &st);
    ck_assert_int_eq(st.dead_letters, 1);
    ck_assert_int_eq(st.retried, 3);
    ck_assert_int_eq(st.dead, 1);
    ck_assert_int_eq(st.done, 1);

    /* the owner retries once the receiver is fixed */
    r.answer = CONSUMER_DONE;
    folio_err err = {{0}};
    long long n = 0;
    long long id = S_int("SELECT id FROM dead_letters");
    ck_assert_int_eq(consumers_deadletter_retry(c, id, NULL, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM dead_letters"
                           " WHERE state = 'retrying'"), 1);
    size_t before = r.n;
    S_run(c);
    ck_assert_int_eq(r.n, before + 1);
    ck_assert_int_eq(r.pos[r.n - 1], 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM dead_letters"
                           " WHERE state = 'delivered'"
                           " AND resolved_at IS NOT NULL"), 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM consumer_actions"
                           " WHERE action IN ('owner-retry', 'delivered')"),
                     2);
    /* a delivered one is no longer dead: neither retried nor dropped */
    ck_assert_int_eq(consumers_deadletter_retry(c, id, NULL, &n, &err), 1);
    ck_assert_int_eq(consumers_deadletter_drop(c, id, &err), 1);
    S_fix_close(&f);
}
END_TEST

START_TEST(test_permanent_is_dead_at_once)
{
    S_fix f;
    S_rec r;
    S_fix_open(&f, 3, "hook", &r, CONSUMER_PERMANENT, 2);
    consumers *c = f.c;
    S_run(c);
    ck_assert_int_eq(r.n, 3); /* moved on past the refused one */
    ck_assert_int_eq(S_int("SELECT count(*) FROM consumer_retries"), 0);
    ck_assert_int_eq(S_int("SELECT position FROM dead_letters"
                           " WHERE state = 'dead' AND attempts = 1"), 2);

    folio_err err = {{0}};
    cJSON *list = consumers_deadletters(c, "hook", 0, &err);
    ck_assert_ptr_nonnull(list);
    ck_assert_int_eq(cJSON_GetArraySize(list), 1);
    long long id = (long long)cJSON_GetObjectItem(
        cJSON_GetArrayItem(list, 0), "id")->valuedouble;
    cJSON_Delete(list);

    /* drop: given up for good, recorded, and not retried by --all */
    ck_assert_int_eq(consumers_deadletter_drop(c, id, &err), 0);
    ck_assert_int_eq(S_int("SELECT count(*) FROM dead_letters"
                           " WHERE state = 'dropped'"), 1);
    ck_assert_int_eq(S_int("SELECT count(*) FROM consumer_actions"
                           " WHERE action = 'owner-drop'"), 1);
    long long n = 0;
    ck_assert_int_eq(consumers_deadletter_retry(c, 0, NULL, &n, &err), 0);
    ck_assert_int_eq(n, 0);
    list = consumers_deadletters(c, NULL, 0, &err);
    ck_assert_int_eq(cJSON_GetArraySize(list), 0);
    cJSON_Delete(list);
    list = consumers_deadletters(c, NULL, 1, &err);
    ck_assert_int_eq(cJSON_GetArraySize(list), 1);
    cJSON_Delete(list);
    S_fix_close(&f);
}
END_TEST

START_TEST(test_status_and_metrics)
{
    S_fix f;
    S_rec r;
    S_fix_open(&f, 2, "mail", &r, CONSUMER_RETRY, 2);
    consumers *c = f.c;
    metrics_reset();
    S_run(c);
    folio_err err = {{0}};
    cJSON *st = consumers_status(c, &err);
    ck_assert_msg(st != NULL, "%s", err.msg);
    ck_assert_int_eq(cJSON_GetArraySize(st), 1);
    cJSON *m = cJSON_GetArrayItem(st, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(m, "name")->valuestring, "mail");
    ck_assert_int_eq(cJSON_GetObjectItem(m, "position")->valuedouble, 2);
    ck_assert_int_eq(cJSON_GetObjectItem(m, "lag_events")->valuedouble, 0);
    ck_assert_int_eq(cJSON_GetObjectItem(m, "retries")->valuedouble, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(m, "delivered")->valuedouble, 1);
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(m, "last_error")));
    cJSON_Delete(st);

    cJSON *h = consumers_health(c);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(h, "ok")));
    ck_assert_str_eq(
        cJSON_GetArrayItem(cJSON_GetObjectItem(h, "failing"), 0)->valuestring,
        "mail");
    cJSON_Delete(h);

    buf b = BUF_INIT;
    ck_assert_int_eq(metrics_write(&b), 0);
    ck_assert_ptr_nonnull(strstr(b.ptr, "folio_deliveries_total{consumer="
                                        "\"mail\",result=\"done\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(b.ptr, "folio_deliveries_total{consumer="
                                        "\"mail\",result=\"retry\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(b.ptr, "folio_consumer_lag_events{consumer="
                                        "\"mail\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(b.ptr, "folio_dead_letters{consumer="
                                        "\"mail\"} 0\n"));
    buf_free(&b);
    S_fix_close(&f);
}
END_TEST

/* ---- threads, the site lock, the policy -------------------------------------- */

static size_t S_wait_for(S_rec *r, size_t n)
{
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&r->mu);
        size_t got = r->n;
        pthread_mutex_unlock(&r->mu);
        if (got >= n)
            return got;
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    return r->n;
}

START_TEST(test_threads_woken)
{
    domain *d = S_domain();
    consumers_policy p = S_policy();
    p.poll_ms = 60000; /* only a wake-up can bring the events in time */
    consumers *c = S_open(&p);
    consumers_set_clock(c, NULL);
    S_rec a, b;
    S_rec_init(&a);
    S_rec_init(&b);
    atomic_store(&a.hold, 1); /* a's receiver hangs: b must not wait for it */
    S_add(c, "a", NULL, &a);
    S_add(c, "b", NULL, &b);
    folio_err err = {{0}};
    ck_assert_msg(consumers_start(c, &err) == 0, "%s", err.msg);
    struct timespec pause = {0, 100 * 1000000L};
    nanosleep(&pause, NULL); /* both threads asleep */
    S_contact(d, 1);
    S_contact(d, 2);
    consumers_wake(c);
    ck_assert_int_eq(S_wait_for(&b, 2), 2);
    ck_assert_int_eq(S_wait_for(&a, 1), 1); /* still in its first delivery */
    atomic_store(&a.hold, 0);
    ck_assert_int_eq(S_wait_for(&a, 2), 2);

    /* while running, this process holds the site's delivery lock */
    consumers *other = S_open(&p);
    S_rec o;
    S_rec_init(&o);
    S_add(other, "a", NULL, &o);
    ck_assert_int_eq(consumers_run_once(other, &err), 1);
    ck_assert_ptr_nonnull(strstr(err.msg, "consumers.lock"));
    consumers_close(other);

    consumers_stop(c);
    ck_assert_int_eq(consumers_cancelled(), 0);
    consumers_close(c);
    domain_close(d);
}
END_TEST

START_TEST(test_policy)
{
    folio_err err = {{0}};
    consumers_policy p;
    ck_assert_int_eq(consumers_policy_load(&S_cfg, &p, &err), 0);
    ck_assert_int_eq(p.retry_first_ms, 30000);
    ck_assert_int_eq(p.retry_max_ms, 6LL * 3600 * 1000);
    ck_assert_int_eq(p.attempts, 10);
    ck_assert_int_eq(p.from_beginning, 0);
    ck_assert_int_eq(p.background, 1);
    cJSON *o = cJSON_Parse("{\"retry_first\":\"50ms\",\"retry_max\":\"2m\","
                           "\"attempts\":3,\"poll\":1,\"start\":\"beginning\","
                           "\"background\":false}");
    cJSON_AddItemToObject(S_cfg.raw, "consumers", o);
    ck_assert_int_eq(consumers_policy_load(&S_cfg, &p, &err), 0);
    ck_assert_int_eq(p.retry_first_ms, 50);
    ck_assert_int_eq(p.retry_max_ms, 120000);
    ck_assert_int_eq(p.poll_ms, 1000);
    ck_assert_int_eq(p.attempts, 3);
    ck_assert_int_eq(p.from_beginning, 1);
    ck_assert_int_eq(p.background, 0);
    cJSON_ReplaceItemInObject(o, "retry_first", cJSON_CreateString("soon"));
    ck_assert_int_eq(consumers_policy_load(&S_cfg, &p, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "consumers.retry_first"));
    cJSON_ReplaceItemInObject(o, "retry_first", cJSON_CreateString("1s"));
    cJSON_ReplaceItemInObject(o, "attempts", cJSON_CreateNumber(0));
    ck_assert_int_eq(consumers_policy_load(&S_cfg, &p, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "consumers.attempts"));
}
END_TEST

/* ---- batch handlers -------------------------------------------------------- */

/* A batch receiver: position p answers answers[p] (DONE when 0), records
 * every call's size; positions from untried_from on are left untried in
 * the first call that holds them; die_at: _exit inside the call that
 * holds that position, after answering the ones before it. */
typedef struct S_brec {
    size_t calls, sizes[64], n;
    long long pos[256];
    int answers[64];
    long long untried_from, die_at;
} S_brec;

static void S_batch_handler(void *ud, const consumer_event *evs, size_t n,
                            int *results, folio_err *errs)
{
    S_brec *r = ud;
    if (r->calls < 64)
        r->sizes[r->calls] = n;
    r->calls++;
    for (size_t i = 0; i < n; i++) {
        long long p = evs[i].position;
        ck_assert_int_eq(results[i], CONSUMER_UNTRIED);
        ck_assert_ptr_nonnull(evs[i].personal); /* decoded like one by one */
        if (r->die_at && p == r->die_at)
            _exit(0);
        if (r->untried_from && p >= r->untried_from) {
            r->untried_from = 0;
            return; /* the rest stays untried */
        }
        if (r->n < 256)
            r->pos[r->n++] = p;
        results[i] = p < 64 && r->answers[p] ? r->answers[p] : CONSUMER_DONE;
        if (results[i] != CONSUMER_DONE)
            err_set(&errs[i], "SMTP %d for %lld",
                    results[i] == CONSUMER_RETRY ? 451 : 550, p);
    }
}

static domain *S_contacts(int n)
{
    domain *d = S_domain();
    for (int i = 0; i < n; i++)
        S_contact(d, i);
    return d;
}

/* Positions 1..n, once each. */
static void S_in_order(const long long *pos, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(pos[i], (long long)i + 1);
}

static consumers *S_batch_open(S_brec *r, size_t max)
{
    consumers_policy p = S_policy();
    consumers *c = S_open(&p);
    folio_err err = {{0}};
    ck_assert_msg(consumers_add_batch(c, "mail", NULL, S_batch_handler, max,
                                      r, &err) == 0, "%s", err.msg);
    return c;
}

START_TEST(test_batch_mixed_results)
{
    domain *d = S_contacts(10);
    S_brec r = {.answers = {[3] = CONSUMER_RETRY, [5] = CONSUMER_PERMANENT,
                            [6] = CONSUMER_RETRY, [9] = 77}};
    consumers *c = S_batch_open(&r, 4);
    S_run(c);
    ck_assert_int_eq(r.calls, 3);
    ck_assert_int_eq(r.sizes[0], 4);
    ck_assert_int_eq(r.sizes[1], 4);
    ck_assert_int_eq(r.sizes[2], 2);
    ck_assert_int_eq(r.n, 10);
    S_in_order(r.pos, r.n);
    /* each failure is its own: 4xx retried, 5xx dead at once, an unknown
     * answer counts as a retry; the checkpoint past them all */
    ck_assert_int_eq(S_int("SELECT position FROM consumer_checkpoints"), 10);
    ck_assert_int_eq(S_int("SELECT group_concat(position, '') FROM"
                           " (SELECT position FROM consumer_retries"
                           " ORDER BY position)"), 369);
    ck_assert_int_eq(S_int("SELECT count(*) FROM consumer_retries"
                           " WHERE last_error = 'SMTP 451 for 3'"), 1);
    ck_assert_int_eq(S_int("SELECT position FROM dead_letters"
                           " WHERE state = 'dead' AND attempts = 1"
                           " AND error = 'SMTP 550 for 5'"), 5);
    ck_assert_int_eq(S_int("SELECT count(*) FROM dead_letters"), 1);
    consumers_stat st;
    consumers_get_stat(c, 0, &st);
    ck_assert_int_eq(st.done, 6);
    ck_assert_int_eq(st.retried, 3);
    ck_assert_int_eq(st.dead, 1);

    /* the retries come due: one batch of the three, now delivered */
    memset(r.answers, 0, sizeof r.answers);
    r.calls = r.n = 0;
    S_clock += 2000;
    S_run(c);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.sizes[0], 3);
    ck_assert_int_eq(S_int("SELECT count(*) FROM consumer_retries"), 0);
    ck_assert_int_eq(S_int("SELECT count(*) FROM consumer_actions"
                           " WHERE action = 'delivered'"), 3);
    consumers_close(c);
    domain_close(d);
}
END_TEST

START_TEST(test_batch_untried_ends_the_batch)
{
    domain *d = S_contacts(8);
    /* 2 fails for now, 6 and after are not tried: the checkpoint stops at
     * 5 and the rest is handed over again */
    S_brec r = {.answers = {[2] = CONSUMER_RETRY}, .untried_from = 6};
    consumers *c = S_batch_open(&r, 8);
    S_run(c);
    ck_assert_int_eq(r.calls, 2);
    ck_assert_int_eq(r.sizes[0], 8);
    ck_assert_int_eq(r.sizes[1], 3);
    ck_assert_int_eq(r.n, 8);
    S_in_order(r.pos, r.n);
    ck_assert_int_eq(S_int("SELECT position FROM consumer_checkpoints"), 8);
    ck_assert_int_eq(S_int("SELECT position FROM consumer_retries"), 2);
    consumers_close(c);
    domain_close(d);
}
END_TEST

START_TEST(test_batch_crash_repeats_never_skips)
{
    domain *d = S_contacts(10);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        static S_brec r = {.die_at = 7}; /* mid-batch: 5 and 6 answered */
        consumers *c = S_batch_open(&r, 4);
        folio_err err = {{0}};
        consumers_run_once(c, &err);
        _exit(4); /* not reached */
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    long long ck = S_int("SELECT position FROM consumer_checkpoints");
    ck_assert_int_le(ck, 4); /* never past the batch under way */
    S_brec r = {.calls = 0};
    consumers *c = S_batch_open(&r, 4);
    S_run(c);
    ck_assert_int_eq(r.pos[0], ck + 1);
    ck_assert_int_eq(r.pos[r.n - 1], 10);
    ck_assert_int_eq(r.n, (size_t)(10 - ck));
    consumers_close(c);
    domain_close(d);
}
END_TEST

static Suite *S_suite(void)
{
    Suite *s = suite_create("consumers");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, S_setup, S_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_order_and_filters);
    tcase_add_test(tc, test_start_at_head);
    tcase_add_test(tc, test_rollback_gap);
    tcase_add_test(tc, test_crash_repeats_never_skips);
    tcase_add_test(tc, test_checkpoint_same_transaction);
    tcase_add_test(tc, test_retry_schedule_and_dead_letter);
    tcase_add_test(tc, test_permanent_is_dead_at_once);
    tcase_add_test(tc, test_status_and_metrics);
    tcase_add_test(tc, test_threads_woken);
    tcase_add_test(tc, test_policy);
    tcase_add_test(tc, test_batch_mixed_results);
    tcase_add_test(tc, test_batch_untried_ends_the_batch);
    tcase_add_test(tc, test_batch_crash_repeats_never_skips);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return unit_run(S_suite()); }
