/* responder — a small SMTP server for tests and benchmarks. See
 * responder.h. */
#include "responder.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_SLOTS 256

typedef struct S_conn {
    responder *r;
    pthread_t th;
    int fd, used, done; /* done: the thread has ended (under mu) */
} S_conn;

struct responder {
    int lfd;
    pthread_t acceptor;
    pthread_mutex_t mu;
    S_conn conns[S_SLOTS];
    int open, stopping;
    responder_stats st;
};

static int S_say(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w, n -= (size_t)w;
    }
    return 0;
}

/* The answer to one command line; *data set when DATA begins. */
static const char *S_answer(const char *l, size_t n, int *data)
{
    if (n >= 4 && !strncasecmp(l, "EHLO", 4))
        return "250-responder\r\n250-PIPELINING\r\n250 SIZE 10000000\r\n";
    if (n >= 4 && !strncasecmp(l, "DATA", 4))
        return *data = 1, "354 go on\r\n";
    if (n >= 4 && !strncasecmp(l, "QUIT", 4))
        return "221 bye\r\n";
    if (n >= 9 && !strncasecmp(l, "RCPT TO:<", 9)) {
        if (n >= 13 && !strncasecmp(l + 9, "temp", 4))
            return "451 4.3.0 try again later\r\n";
        if (n >= 13 && !strncasecmp(l + 9, "perm", 4))
            return "550 5.1.1 no such mailbox\r\n";
    }
    return "250 OK\r\n";
}

/* Consumes what `in` holds of one client's stream; 1 at QUIT, -1 when
 * the client is gone. */
static int S_lines(S_conn *c, char *in, size_t *have, int *data)
{
    size_t used = 0;
    int rc = 0;
    while (rc == 0) {
        char *base = in + used;
        size_t left = *have - used;
        if (*data) {
            char *end = memmem(base, left, "\r\n.\r\n", 5);
            if (!end) { /* keep the last 4 bytes: the end may straddle */
                if (left > 4)
                    used += left - 4;
                break;
            }
            used += (size_t)(end - base) + 5;
            *data = 0;
            pthread_mutex_lock(&c->r->mu);
            c->r->st.messages++;
            pthread_mutex_unlock(&c->r->mu);
            rc = S_say(c->fd, "250 OK queued\r\n");
            continue;
        }
        char *eol = memmem(base, left, "\r\n", 2);
        if (!eol)
            break;
        size_t n = (size_t)(eol - base);
        used += n + 2;
        const char *a = S_answer(base, n, data);
        rc = S_say(c->fd, a);
        if (!rc && a[0] == '2' && a[1] == '2' && a[2] == '1')
            rc = 1;
    }
    memmove(in, in + used, *have - used);
    *have -= used;
    return rc;
}

static void *S_serve(void *ud)
{
    S_conn *c = ud;
    char in[65536];
    size_t have = 0;
    int data = 0;
    if (S_say(c->fd, "220 responder ESMTP\r\n") == 0)
        for (;;) {
            ssize_t got = read(c->fd, in + have, sizeof in - have);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                break;
            have += (size_t)got;
            if (S_lines(c, in, &have, &data) != 0)
                break;
        }
    pthread_mutex_lock(&c->r->mu);
    c->r->open--;
    c->done = 1;
    pthread_mutex_unlock(&c->r->mu);
    return NULL;
}

/* A free slot (joining a finished thread first), or NULL. */
static S_conn *S_slot(responder *r)
{
    for (int i = 0; i < S_SLOTS; i++) {
        S_conn *c = &r->conns[i];
        if (c->used && c->done) {
            pthread_join(c->th, NULL);
            close(c->fd);
            c->used = 0;
        }
        if (!c->used)
            return c;
    }
    return NULL;
}

static void *S_accept(void *ud)
{
    responder *r = ud;
    for (;;) {
        int fd = accept(r->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_mutex_lock(&r->mu);
        S_conn *c = r->stopping ? NULL : S_slot(r);
        if (c) {
            *c = (S_conn){.r = r, .fd = fd, .used = 1};
            r->st.connections++;
            if (++r->open > r->st.max_open)
                r->st.max_open = r->open;
            if (pthread_create(&c->th, NULL, S_serve, c) != 0) {
                c->used = 0;
                r->open--;
                c = NULL;
            }
        }
        pthread_mutex_unlock(&r->mu);
        if (!c)
            close(fd);
    }
}

int responder_start(int port, responder **out, char *url, size_t cap)
{
    *out = NULL;
    responder *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int one = 1;
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        free(r);
        return -1;
    }
    if ((r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(r->lfd, (struct sockaddr *)&a, sizeof a) ||
        listen(r->lfd, 128) ||
        getsockname(r->lfd, (struct sockaddr *)&a, &al) ||
        pthread_create(&r->acceptor, NULL, S_accept, r) != 0) {
        int e = errno;
        if (r->lfd >= 0)
            close(r->lfd);
        pthread_mutex_destroy(&r->mu);
        free(r);
        errno = e;
        return -1;
    }
    snprintf(url, cap, "smtp://127.0.0.1:%d", ntohs(a.sin_port));
    *out = r;
    return 0;
}

void responder_stats_get(responder *r, responder_stats *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->st;
    pthread_mutex_unlock(&r->mu);
}

void responder_stop(responder *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_mutex_unlock(&r->mu);
    shutdown(r->lfd, SHUT_RDWR);
    pthread_join(r->acceptor, NULL);
    close(r->lfd);
    for (int i = 0; i < S_SLOTS; i++)
        if (r->conns[i].used) {
            shutdown(r->conns[i].fd, SHUT_RDWR);
            pthread_join(r->conns[i].th, NULL);
            close(r->conns[i].fd);
        }
    pthread_mutex_destroy(&r->mu);
    free(r);
}
