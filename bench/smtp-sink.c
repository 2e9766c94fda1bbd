/* smtp-sink — the C responder of tests/smtp/ as a process of its own, the
 * SMTP server bench/deliver sends to: it answers at once, on a thread per
 * connection, so the figure measured is folio's and the CPU it burns is
 * not counted as folio's.
 *
 *   make bench/smtp-sink && ./bench/smtp-sink [PORT]
 *
 * Prints "READY PORT" once listening (PORT 0 or none: a free one); on
 * SIGTERM or SIGINT prints what it received and exits. Not a test. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/smtp/responder.h"

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* blocked before any thread starts, so sigwait alone takes them */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return 1;
    responder *r;
    char url[64];
    if (responder_start(port, &r, url, sizeof url) < 0) {
        perror("smtp-sink");
        return 1;
    }
    printf("READY %s\n", strrchr(url, ':') + 1);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    responder_stats st;
    responder_stats_get(r, &st);
    responder_stop(r);
    printf("received %lld messages over %d connections (at most %d at once)\n",
           st.messages, st.connections, st.max_open);
    return 0;
}
