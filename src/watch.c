/* watch — inotify over the site's folders (see watch.h). */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_TREE_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | \
                     IN_DELETE | IN_DELETE_SELF | IN_ATTRIB | IN_ONLYDIR)
#define S_FILE_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB | \
                     IN_ONLYDIR)
/* A stream of writes that never pauses still rebuilds this often. */
#define S_MAX_BURST_MS 1000
#define S_MAX_DEPTH 32
#define S_MAX_SKIP 8
/* Paths a burst names before watch_changed gives up and says "anything" */
#define S_MAX_NAMED 1024

typedef struct S_entry {
    int wd;
    char *dir;
    char *only;  /* a file watch: the one name that counts; NULL: a tree */
} S_entry;

struct watch {
    int ifd, efd;
    S_entry *e;
    size_t n, cap;
    char *skip[S_MAX_SKIP];
    size_t nskip;
    char **named;        /* the burst's paths (watch_changed) */
    size_t nnamed, capnamed;
    int lost;            /* the burst named more than it kept */
};

static void S_named_reset(watch *w)
{
    for (size_t i = 0; i < w->nnamed; i++)
        free(w->named[i]);
    w->nnamed = 0;
    w->lost = 0;
}

static void S_named_add(watch *w, const char *path)
{
    if (w->lost)
        return;
    if (w->nnamed == w->capnamed) {
        size_t cap = w->capnamed ? w->capnamed * 2 : 16;
        char **v = cap <= S_MAX_NAMED ? realloc(w->named, cap * sizeof *v) : NULL;
        if (!v) {
            w->lost = 1;
            return;
        }
        w->named = v;
        w->capnamed = cap;
    }
    if (!(w->named[w->nnamed] = util_strdup(path)))
        w->lost = 1;
    else
        w->nnamed++;
}

const char *const *watch_changed(const watch *w, size_t *n)
{
    *n = w->lost ? 0 : w->nnamed;
    return w->lost ? NULL : (const char *const *)w->named;
}

int watch_open(watch **out, folio_err *err)
{
    *out = NULL;
    watch *w = calloc(1, sizeof *w);
    if (!w)
        return err_set(err, "out of memory");
    w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->ifd < 0 || w->efd < 0) {
        int e = errno;
        watch_close(w);
        return err_set(err, "cannot watch files: %s", strerror(e));
    }
    *out = w;
    return 0;
}

static int S_add(watch *w, const char *dir, const char *only, uint32_t mask,
                 folio_err *err)
{
    int wd = inotify_add_watch(w->ifd, dir, mask);
    if (wd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        if (errno == ENOSPC)
            return err_set(err, "cannot watch %s: the inotify watch limit is reached "
                           "(raise fs.inotify.max_user_watches)", dir);
        return err_set(err, "cannot watch %s: %s", dir, strerror(errno));
    }
    for (size_t i = 0; i < w->n; i++)
        if (w->e[i].wd == wd)
            return 0;   /* already watched (a folder seen twice) */
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 32;
        S_entry *e = realloc(w->e, cap * sizeof *e);
        if (!e)
            return err_set(err, "out of memory");
        w->e = e;
        w->cap = cap;
    }
    S_entry *e = &w->e[w->n];
    e->wd = wd;
    e->dir = util_strdup(dir);
    e->only = only ? util_strdup(only) : NULL;
    if (!e->dir || (only && !e->only)) {
        free(e->dir);
        free(e->only);
        return err_set(err, "out of memory");
    }
    w->n++;
    return 0;
}

int watch_skip(watch *w, const char *dir, folio_err *err)
{
    if (w->nskip == S_MAX_SKIP)
        return err_set(err, "too many folders to skip");
    if (!(w->skip[w->nskip] = util_strdup(dir)))
        return err_set(err, "out of memory");
    w->nskip++;
    return 0;
}

static int S_skipped(const watch *w, const char *dir)
{
    for (size_t i = 0; i < w->nskip; i++)
        if (!strcmp(w->skip[i], dir))
            return 1;
    return 0;
}

static int S_add_tree(watch *w, const char *dir, int depth, folio_err *err)
{
    if (S_skipped(w, dir))
        return 0;
    if (depth > S_MAX_DEPTH)
        return err_set(err, "%s: folders nested too deep", dir);
    if (S_add(w, dir, NULL, S_TREE_MASK, err) != 0)
        return -1;
    DIR *d = opendir(dir);
    if (!d)
        return 0;   /* gone already, or not a folder: nothing below it */
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char sub[PATH_MAX];
        struct stat st;
        if (util_path(sub, sizeof sub, err, "%s/%s", dir, de->d_name) != 0) {
            rc = -1;
            break;
        }
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            rc = S_add_tree(w, sub, depth + 1, err);
    }
    closedir(d);
    return rc;
}

int watch_add_tree(watch *w, const char *dir, folio_err *err)
{
    return S_add_tree(w, dir, 0, err);
}

int watch_add_file(watch *w, const char *path, folio_err *err)
{
    char dir[PATH_MAX];
    if (util_path(dir, sizeof dir, err, "%s", path) != 0)
        return -1;
    char *slash = strrchr(dir, '/');
    const char *name = slash ? slash + 1 : path;
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    /* The folder, not the file: an editor that saves by rename replaces
     * the inode a file watch would hold. */
    return S_add(w, dir, name, S_FILE_MASK, err);
}

/* Editors' temporary and backup files: never a reason to rebuild. */
static int S_litter(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '.' || name[0] == '#' || (n && name[n - 1] == '~') ||
           !strcmp(name, "4913") ||
           (n > 4 && (!strcmp(name + n - 4, ".swp") || !strcmp(name + n - 4, ".swx") ||
                      !strcmp(name + n - 4, ".tmp")));
}

static S_entry *S_find(watch *w, int wd)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->e[i].wd == wd)
            return &w->e[i];
    return NULL;
}

static void S_forget(watch *w, S_entry *e)
{
    free(e->dir);
    free(e->only);
    *e = w->e[--w->n];
}

/* Reads what is queued. Returns 1 when something that counts changed;
 * *named says first holds a name already. */
static int S_drain(watch *w, char *first, size_t firstlen, int *named, folio_err *err)
{
    char ev[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    int changed = 0;
    for (;;) {
        ssize_t len = read(w->ifd, ev, sizeof ev);
        if (len < 0 && errno == EINTR)
            continue;
        if (len < 0 && errno == EAGAIN)
            return changed;
        if (len <= 0)
            return err_set(err, "reading file changes: %s", strerror(errno));
        for (char *p = ev; p < ev + len;) {
            const struct inotify_event *ie = (const struct inotify_event *)p;
            p += sizeof *ie + ie->len;
            if (ie->mask & IN_Q_OVERFLOW) {
                changed = 1;   /* lost track: rebuild to be sure */
                w->lost = 1;
                continue;
            }
            S_entry *e = S_find(w, ie->wd);
            if (!e)
                continue;
            if (ie->mask & IN_IGNORED) {
                S_forget(w, e);
                continue;
            }
            const char *name = ie->len ? ie->name : "";
            if ((e->only && strcmp(name, e->only) != 0) || (name[0] && S_litter(name)))
                continue;
            char path[PATH_MAX];
            int plen = snprintf(path, sizeof path, "%s%s%s", e->dir, name[0] ? "/" : "",
                                name);
            if (plen < 0 || (size_t)plen >= sizeof path)
                continue;
            if (!e->only && (ie->mask & IN_ISDIR) && (ie->mask & (IN_CREATE | IN_MOVED_TO)) &&
                watch_add_tree(w, path, err) != 0)
                return -1;
            if (ie->mask & (IN_ISDIR | IN_DELETE_SELF))
                w->lost = 1; /* a folder's files came or went: not named one by one */
            else
                S_named_add(w, path);
            /* Name the file saved: an editor's rename target over the
             * temporary file it wrote first. */
            if (first && firstlen && (!*named || (ie->mask & IN_MOVED_TO))) {
                snprintf(first, firstlen, "%s", path);
                *named = 1;
            }
            changed = 1;
        }
    }
}

static int S_poll(watch *w, int timeout_ms)
{
    struct pollfd p[2] = {{w->ifd, POLLIN, 0}, {w->efd, POLLIN, 0}};
    int n;
    do
        n = poll(p, 2, timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n;
    if (p[1].revents) {
        uint64_t v;
        if (read(w->efd, &v, sizeof v) < 0 && errno != EAGAIN)
            return -1;
        return 2;
    }
    return 1;
}

int watch_wait(watch *w, int debounce_ms, char *first, size_t firstlen,
               folio_err *err)
{
    if (first && firstlen)
        first[0] = '\0';
    S_named_reset(w);
    int changed = 0, named = 0;
    long long since = 0;
    for (;;) {
        int r = S_poll(w, changed ? debounce_ms : -1);
        if (r < 0)
            return err_set(err, "waiting for file changes: %s", strerror(errno));
        if (r == 2)
            return 0;
        if (r == 0)
            return 1;   /* quiet for debounce_ms after a change */
        int c = S_drain(w, first, firstlen, &named, err);
        if (c < 0)
            return -1;
        if (c && !changed) {
            changed = 1;
            since = util_mono_ns();
        }
        if (changed && util_mono_ns() - since > S_MAX_BURST_MS * 1000000LL)
            return 1;
    }
}

void watch_wake(watch *w)
{
    uint64_t one = 1;
    if (write(w->efd, &one, sizeof one) < 0) {
        /* The counter is full: a wake is pending already. */
    }
}

void watch_close(watch *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->e[i].dir);
        free(w->e[i].only);
    }
    free(w->e);
    for (size_t i = 0; i < w->nskip; i++)
        free(w->skip[i]);
    S_named_reset(w);
    free(w->named);
    if (w->ifd >= 0)
        close(w->ifd);
    if (w->efd >= 0)
        close(w->efd);
    free(w);
}
