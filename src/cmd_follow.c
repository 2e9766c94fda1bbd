/* folio events --follow: the log as it grows, like tail -f. A read of the
 * head every S_POLL_MS is cheap (one indexed lookup) and sees commits of
 * every process: folio-fcgi's, the CLI's, a replay's. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "domain.h"
#include "store.h"
#include "util.h"

#define S_POLL_MS 150

static volatile sig_atomic_t S_stop;

static void S_on_signal(int sig)
{
    (void)sig;
    S_stop = 1;
}

int cmd_events_follow(domain *d, domain_events_query *q, folio_err *err)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = S_on_signal;   /* no SA_RESTART: the sleep ends at once */
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        return err_set(err, "cannot catch SIGINT: %s", strerror(errno));
    store *st = domain_store(d);
    /* Each round prints (after, upto]: nothing twice, nothing skipped. */
    long long head = store_head(st);
    q->upto = head > q->after ? head : q->after;
    if (domain_print_events(d, q, stdout, err) < 0)
        return -1;
    while (!S_stop) {
        struct timespec pause = {0, S_POLL_MS * 1000000L};
        nanosleep(&pause, NULL);
        head = store_head(st);
        if (S_stop || head <= q->upto)
            continue;
        q->after = q->upto;
        q->upto = head;
        if (domain_print_events(d, q, stdout, err) < 0)
            return -1;
    }
    return 0;
}
