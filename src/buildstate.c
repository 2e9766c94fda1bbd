/* buildstate — the state file: length-prefixed fields in native byte
 * order (the stamp names the program that wrote it), read with bounds
 * checks. */
#include "buildstate.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_MAGIC "folio-state 8\n"
#define S_END "end\n"
#define S_NIL UINT32_MAX /* a NULL string */

/* ---- writing ------------------------------------------------------------ */

static int S_u32(buf *b, uint32_t v)
{
    return buf_add(b, (const char *)&v, sizeof v);
}

static int S_i64(buf *b, long long v)
{
    int64_t x = v;
    return buf_add(b, (const char *)&x, sizeof x);
}

static int S_str(buf *b, const char *s)
{
    if (!s)
        return S_u32(b, S_NIL);
    size_t n = strlen(s);
    if (n >= S_NIL)
        return -1;
    return S_u32(b, (uint32_t)n) || buf_add(b, s, n);
}

/* A string that stayed in a file (links_lazy): n bytes at off of fd. */
static int S_str_at(buf *b, int fd, long long off, uint32_t n)
{
    if (n >= S_NIL || S_u32(b, n) || buf_grow(b, n) ||
        util_pread_all(fd, b->ptr + b->len, n, off) != 0)
        return -1;
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

static int S_strv(buf *b, char *const *v, size_t n)
{
    int rc = S_u32(b, (uint32_t)n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = S_str(b, v[i]);
    return rc;
}

static int S_page(buf *b, const content_page *p)
{
    /* most pages have no params of their own: no printing for those */
    int empty = cJSON_IsObject(p->params) && !p->params->child;
    char *params = empty ? NULL : cJSON_PrintUnformatted(p->params);
    int rc = (!empty && !params) || S_str(b, p->file) || S_u32(b, (uint32_t)p->kind) ||
             S_str(b, p->section) || S_str(b, p->title) || S_str(b, p->slug) ||
             S_str(b, p->layout) || S_str(b, p->summary) || S_i64(b, p->date) ||
             S_i64(b, p->lastmod) || S_u32(b, (uint32_t)p->draft) || S_i64(b, p->weight) ||
             S_strv(b, p->tags, p->ntags) || S_strv(b, p->aliases, p->naliases) ||
             S_str(b, empty ? "{}" : params) || S_i64(b, (long long)p->body_offset) ||
             S_u32(b, (uint32_t)p->body_line) || S_str(b, p->warnings);
    free(params);
    return rc ? -1 : 0;
}

/* What a reader's block for a record takes (S_balloc): each string and
 * its NUL, each array of pointers with room to align it. Written before
 * the record, so that it is read once, not measured first. */
static size_t S_need_str(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static size_t S_need_strv(char *const *v, size_t n)
{
    size_t sz = (n ? n : 1) * sizeof(char *) + sizeof(char *) - 1;
    for (size_t i = 0; i < n; i++)
        sz += S_need_str(v[i]);
    return sz;
}

static uint32_t S_need(const bstate_src *s)
{
    const content_page *p = &s->page;
    size_t sz = S_need_str(p->file) + S_need_str(p->section) + S_need_str(p->title) +
                S_need_str(p->slug) + S_need_str(p->layout) + S_need_str(p->summary) +
                S_need_strv(p->tags, p->ntags) + S_need_strv(p->aliases, p->naliases) +
                S_need_str(p->warnings) + S_need_str(s->body_summary);
    return sz < UINT32_MAX ? (uint32_t)sz : UINT32_MAX;
}

/* Writes out what b holds once it is big enough (fd < 0: keeps it all);
 * *out counts the bytes written. */
static int S_flush(buf *b, int fd, size_t at_least, long long *out)
{
    if (fd < 0 || b->len < at_least)
        return 0;
    if (util_write_all(fd, b->ptr, b->len) != 0)
        return -1;
    *out += (long long)b->len;
    b->len = 0;
    return 0;
}

#define S_CHUNK (64 * 1024)

/* What b holds, then len bytes of in at off, appended to out (the copy
 * in the kernel where it can, else through b). */
static int S_copy_run(buf *b, int out, int in, long long off, size_t len, long long *pos)
{
    if (S_flush(b, out, 0, pos) != 0)
        return -1;
    *pos += (long long)len;
    loff_t o = (loff_t)off;
    size_t done = 0;
    while (done < len) {
        ssize_t n = copy_file_range(in, &o, out, NULL, len - done, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    char chunk[S_CHUNK];
    while (done < len) { /* a file system that does not copy for us */
        size_t want = len - done < sizeof chunk ? len - done : sizeof chunk;
        if (util_pread_all(in, chunk, want, off + (long long)done) != 0 ||
            util_write_all(out, chunk, want) != 0)
            return -1;
        done += want;
    }
    return 0;
}

/* Everything before the outputs: the head, the graph, the records and
 * the folders (into b, flushed to fd as it fills). *at says where they
 * went, and where the file ends so far (with what b still holds). */
static int S_encode_head(const bstate *st, buf *b, int fd, bstate_at *at)
{
    long long pos = 0; /* bytes written */
    at->mid = 0;       /* where record nsrcs/2 starts */
    int rc = buf_puts(b, S_MAGIC) || S_str(b, st->stamp) || S_u32(b, (uint32_t)st->ntpl);
    for (size_t i = 0; rc == 0 && i < st->ntpl; i++)
        rc = S_str(b, st->tpl_names[i]) ||
             buf_add(b, (const char *)st->tpl_hash[i], BSTATE_HASH);
    rc = rc || S_u32(b, (uint32_t)st->nsets);
    for (size_t i = 0; rc == 0 && i < st->nsets; i++) {
        rc = S_u32(b, (uint32_t)st->sets[i].n);
        for (size_t k = 0; rc == 0 && k < st->sets[i].n; k++)
            rc = S_u32(b, (uint32_t)st->sets[i].tpl[k]);
    }
    rc = rc || buf_add(b, (const char *)st->graph, BSTATE_HASH) ||
         S_u32(b, (uint32_t)st->nsrc_hash) ||
         (st->nsrc_hash && buf_add(b, (const char *)st->src_hash, st->nsrc_hash * BSTATE_HASH));
    rc = rc || S_u32(b, (uint32_t)st->nsrcs);
    /* records copied as they are, gathered while they lie end to end */
    int rfd = -1;
    long long roff = 0;
    size_t rlen = 0;
    for (size_t i = 0; rc == 0 && i < st->nsrcs; i++) {
        if (i == st->nsrcs / 2) /* a raw run not copied yet goes first */
            at->mid = pos + (long long)b->len + (long long)rlen;
        bstate_src one;
        if (!st->srcs)
            st->src_at(st->src_ud, i, &one);
        const bstate_src *s = st->srcs ? &st->srcs[i] : &one;
        if (fd >= 0 && !st->srcs && s->raw_fd >= 0 && s->raw_len) {
            if (rlen && s->raw_fd == rfd && s->raw_off == roff + (long long)rlen) {
                rlen += s->raw_len;
                continue;
            }
            if (rlen && S_copy_run(b, fd, rfd, roff, rlen, &pos) != 0) {
                rc = -1;
                break;
            }
            rfd = s->raw_fd;
            roff = s->raw_off;
            rlen = s->raw_len;
            continue;
        }
        if (rlen && S_copy_run(b, fd, rfd, roff, rlen, &pos) != 0) {
            rc = -1;
            break;
        }
        rlen = 0;
        rc = rc || S_u32(b, S_need(s)) || S_page(b, &s->page) || S_i64(b, s->size) ||
             S_i64(b, s->mtime_ns) || S_i64(b, s->ctime_ns) || S_i64(b, (long long)s->ino) ||
             S_u32(b, (uint32_t)s->racy) || buf_add(b, (const char *)s->hash, BSTATE_HASH) ||
             S_u32(b, (uint32_t)s->meta) || S_u32(b, (uint32_t)s->words) ||
             S_str(b, s->body_summary) ||
             (s->links_lazy ? S_str_at(b, s->links_fd, s->links_off, s->links_len)
                            : S_str(b, s->links)) ||
             S_flush(b, fd, S_CHUNK, &pos);
    }
    if (rc == 0 && rlen && S_copy_run(b, fd, rfd, roff, rlen, &pos) != 0)
        rc = -1;
    at->dirs = pos + (long long)b->len;
    rc = rc || S_u32(b, (uint32_t)st->ndirs);
    for (size_t i = 0; rc == 0 && i < st->ndirs; i++) {
        const bstate_dir *d = &st->dirs[i];
        rc = S_str(b, d->path) || S_i64(b, d->mtime_ns) || S_i64(b, d->ctime_ns) ||
             S_i64(b, (long long)d->ino) || S_u32(b, (uint32_t)d->racy);
    }
    at->end = pos + (long long)b->len;
    return rc ? -1 : 0;
}

int bstate_encode_outs(const bstate *st, buf *b)
{
    int rc = S_u32(b, (uint32_t)st->nouts);
    for (size_t i = 0; rc == 0 && i < st->nouts; i++) {
        const bstate_out *o = &st->outs[i];
        rc = S_str(b, o->path) || S_u32(b, (uint32_t)o->set) ||
             S_u32(b, o->flags & ~BSTATE_BORROWED) || S_str(b, o->names) ||
             buf_add(b, (const char *)o->fp, BSTATE_HASH) ||
             (o->names && buf_add(b, (const char *)o->jfp, BSTATE_HASH));
    }
    return rc ? -1 : 0;
}

/* Last, where a reader finds them first: where the outputs and the
 * folders are, and where the second half of the records starts. */
static int S_trailer(buf *b, const bstate_at *at)
{
    return S_i64(b, at->end) || S_i64(b, at->dirs) || S_i64(b, at->mid) || buf_puts(b, S_END)
               ? -1 : 0;
}

int bstate_encode(const bstate *st, buf *b)
{
    bstate_at at;
    return S_encode_head(st, b, -1, &at) || bstate_encode_outs(st, b) || S_trailer(b, &at)
               ? -1 : 0;
}

int bstate_write_head(int fd, const bstate *st, bstate_at *at)
{
    buf b = BUF_INIT;
    long long pos = 0;
    int rc = S_encode_head(st, &b, fd, at) || S_flush(&b, fd, 0, &pos) ? -1 : 0;
    buf_free(&b);
    return rc;
}

int bstate_write_tail(int fd, buf *outs, const bstate_at *at)
{
    long long pos = 0;
    return S_trailer(outs, at) || S_flush(outs, fd, 0, &pos) ? -1 : 0;
}

int bstate_write(int fd, const bstate *st)
{
    bstate_at at;
    buf b = BUF_INIT;
    int rc = bstate_write_head(fd, st, &at) || bstate_encode_outs(st, &b) ||
                     bstate_write_tail(fd, &b, &at) ? -1 : 0;
    buf_free(&b);
    return rc;
}

/* ---- reading -------------------------------------------------------------- */

typedef struct S_rd {
    const char *p, *end;
    int bad;
    const char *base;  /* the mapping */
    size_t dropped;    /* bytes of it given back */
    char *bp, *bend;   /* a record's block (content_page.blk), or NULL */
    int lazy;          /* BSTATE_LAZYLINKS */
    int fd;
} S_rd;

/* n bytes of the record's block, aligned for pointers (arrays). */
static char *S_balloc(S_rd *r, size_t n, int align)
{
    if (align)
        r->bp += (size_t)(-(uintptr_t)r->bp & (sizeof(char *) - 1));
    if ((size_t)(r->bend - r->bp) < n) {
        r->bad = 1;
        return NULL;
    }
    char *at = r->bp;
    r->bp += n;
    return at;
}

/* Gives back the pages of the mapping already decoded: the parse cache of
 * a big site is read once, and need not stay in memory beside its copy. */
static void S_drop(S_rd *r)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t done = (size_t)(r->p - r->base) / pg * pg;
    if (done >= r->dropped + (1u << 20)) {
        madvise((void *)(uintptr_t)(r->base + r->dropped), done - r->dropped, MADV_DONTNEED);
        r->dropped = done;
    }
}

static const char *S_take(S_rd *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const char *at = r->p;
    r->p += n;
    return at;
}

static uint32_t S_ru32(S_rd *r)
{
    uint32_t v = 0;
    const char *at = S_take(r, sizeof v);
    if (at)
        memcpy(&v, at, sizeof v);
    return v;
}

static long long S_ri64(S_rd *r)
{
    int64_t v = 0;
    const char *at = S_take(r, sizeof v);
    if (at)
        memcpy(&v, at, sizeof v);
    return v;
}

static void S_rbytes(S_rd *r, unsigned char *out, size_t n)
{
    const char *at = S_take(r, n);
    if (at)
        memcpy(out, at, n);
}

/* A count that the rest of the file could hold (each item >= min bytes). */
static size_t S_rcount(S_rd *r, size_t min)
{
    uint32_t n = S_ru32(r);
    if (!r->bad && (size_t)n > (size_t)(r->end - r->p) / (min ? min : 1))
        r->bad = 1;
    return r->bad ? 0 : n;
}

/* NULL for the nil string, and on errors (r->bad tells them apart). */
static char *S_rstr(S_rd *r)
{
    uint32_t n = S_ru32(r);
    if (r->bad || n == S_NIL)
        return NULL;
    const char *at = S_take(r, n);
    if (!at)
        return NULL;
    char *s;
    if (r->bp) {
        if ((s = S_balloc(r, (size_t)n + 1, 0))) {
            memcpy(s, at, n);
            s[n] = '\0';
        }
    } else if (!(s = util_strndup(at, n)))
        r->bad = 1;
    return s;
}

static char **S_rstrv(S_rd *r, size_t *n)
{
    *n = S_rcount(r, 4);
    char **v = r->bp ? (char **)(void *)S_balloc(r, (*n ? *n : 1) * sizeof *v, 1)
                     : calloc(*n ? *n : 1, sizeof *v);
    if (v && r->bp)
        memset(v, 0, (*n ? *n : 1) * sizeof *v);
    if (!v) {
        r->bad = 1;
        *n = 0;
        return NULL;
    }
    for (size_t i = 0; i < *n; i++)
        if (!(v[i] = S_rstr(r)))
            r->bad = 1;
    return v;
}

/* The hash of "{}", the params of a page without any (made once). */
static unsigned char S_empty_ph[BSTATE_HASH];
static pthread_once_t S_empty_once = PTHREAD_ONCE_INIT;

static void S_empty_phash_init(void)
{
    crypto_generichash(S_empty_ph, BSTATE_HASH, (const unsigned char *)"{}", 2, NULL, 0);
}

void bstate_params_hash(const char *json, size_t len, unsigned char out[BSTATE_HASH])
{
    if (len == 2 && !memcmp(json, "{}", 2)) { /* most pages: no hash each */
        (void)pthread_once(&S_empty_once, S_empty_phash_init);
        memcpy(out, S_empty_ph, BSTATE_HASH);
        return;
    }
    crypto_generichash(out, BSTATE_HASH, (const unsigned char *)json, len, NULL, 0);
}

static void S_rpage(S_rd *r, content_page *p, unsigned char phash[BSTATE_HASH], char *blk,
                    size_t blklen)
{
    memset(p, 0, sizeof *p);
    p->blk = blk;
    p->blklen = blklen;
    p->file = S_rstr(r);
    p->kind = (enum content_kind)S_ru32(r);
    p->section = S_rstr(r);
    p->title = S_rstr(r);
    p->slug = S_rstr(r);
    p->layout = S_rstr(r);
    p->summary = S_rstr(r);
    p->date = S_ri64(r);
    p->lastmod = S_ri64(r);
    p->draft = (int)S_ru32(r);
    p->weight = (long)S_ri64(r);
    p->tags = S_rstrv(r, &p->ntags);
    p->aliases = S_rstrv(r, &p->naliases);
    uint32_t plen = S_ru32(r);
    const char *params = plen == S_NIL ? NULL : S_take(r, plen);
    p->params = !params                                 ? NULL
                : plen == 2 && !memcmp(params, "{}", 2) ? content_no_params()
                                                        : cJSON_ParseWithLength(params, plen);
    if (params)
        bstate_params_hash(params, plen, phash);
    p->body_offset = (size_t)S_ri64(r);
    p->body_line = (int)S_ru32(r);
    p->warnings = S_rstr(r);
    if (!p->file || !p->section || !p->title || !cJSON_IsObject(p->params) ||
        p->kind > CONTENT_HOME)
        r->bad = 1;
}

static void S_rsrc(S_rd *r, bstate_src *s)
{
    const char *at = r->p;
    size_t need = S_ru32(r); /* its block: S_need's count */
    char *blk = r->bad || need > (size_t)(r->end - r->p) * 4 + 64 ? NULL : malloc(need ? need : 1);
    if (!blk) {
        r->bad = 1;
        return;
    }
    r->bp = blk;
    r->bend = blk + need;
    S_rpage(r, &s->page, s->phash, blk, need);
    s->size = S_ri64(r);
    s->mtime_ns = S_ri64(r);
    s->ctime_ns = S_ri64(r);
    s->ino = (unsigned long long)S_ri64(r);
    s->racy = (int)S_ru32(r);
    S_rbytes(r, s->hash, BSTATE_HASH);
    s->meta = (int)S_ru32(r);
    s->words = (int)S_ru32(r);
    s->body_summary = S_rstr(r);
    r->bp = r->bend = NULL; /* the links, when read, are a string of their own */
    if (r->lazy) {
        uint32_t n = S_ru32(r);
        s->links_off = (long long)(r->p - r->base);
        if (!r->bad && n != S_NIL && S_take(r, n)) {
            s->links_lazy = 1;
            s->links_fd = r->fd;
            s->links_len = n;
        }
    } else {
        s->links = S_rstr(r);
    }
    s->raw_off = (long long)(at - r->base);
    s->raw_len = (size_t)(r->p - at);
    s->raw_fd = -1;
}

static void S_rhead(S_rd *r, bstate *st)
{
    st->stamp = S_rstr(r);
    st->ntpl = S_rcount(r, 4 + BSTATE_HASH);
    st->tpl_names = calloc(st->ntpl + 1, sizeof *st->tpl_names);
    st->tpl_hash = calloc(st->ntpl + 1, sizeof *st->tpl_hash);
    if (!st->stamp || !st->tpl_names || !st->tpl_hash) {
        r->bad = 1;
        st->ntpl = 0;
    }
    for (size_t i = 0; i < st->ntpl; i++) {
        if (!(st->tpl_names[i] = S_rstr(r)))
            r->bad = 1;
        S_rbytes(r, st->tpl_hash[i], BSTATE_HASH);
    }
    st->nsets = S_rcount(r, 4);
    if (!(st->sets = calloc(st->nsets + 1, sizeof *st->sets))) {
        r->bad = 1;
        st->nsets = 0;
    }
    for (size_t i = 0; i < st->nsets; i++) {
        bstate_set *set = &st->sets[i];
        set->n = S_rcount(r, 4);
        if (!(set->tpl = calloc(set->n + 1, sizeof *set->tpl))) {
            r->bad = 1;
            set->n = 0;
        }
        for (size_t k = 0; k < set->n; k++) {
            uint32_t t = S_ru32(r);
            set->tpl[k] = (int)t;
            if (t >= st->ntpl)
                r->bad = 1;
        }
    }
}

static void S_routs(S_rd *r, bstate *st)
{
    size_t n = S_rcount(r, 4 + 12 + BSTATE_HASH);
    if (!(st->outs = calloc(n + 1, sizeof *st->outs))) {
        r->bad = 1;
        return;
    }
    for (size_t i = 0; i < n && !r->bad; i++) {
        bstate_out o = {0};
        o.path = S_rstr(r);
        o.set = (int)S_ru32(r);
        o.flags = S_ru32(r) & ~BSTATE_BORROWED;
        o.names = S_rstr(r);
        S_rbytes(r, o.fp, BSTATE_HASH);
        if (o.names)
            S_rbytes(r, o.jfp, BSTATE_HASH);
        st->outs[st->nouts++] = o;
        if (!o.path || o.set < -1 || o.set >= (int)st->nsets)
            r->bad = 1;
    }
}

static void S_rgraph(S_rd *r, bstate *st)
{
    S_rbytes(r, st->graph, BSTATE_HASH);
    st->nsrc_hash = S_rcount(r, BSTATE_HASH);
    if (!(st->src_hash = calloc(st->nsrc_hash + 1, BSTATE_HASH))) {
        r->bad = 1;
        st->nsrc_hash = 0;
        return;
    }
    S_rbytes(r, (unsigned char *)st->src_hash, st->nsrc_hash * BSTATE_HASH);
}

typedef struct S_rrange {
    S_rd r;
    bstate_src *v;
    size_t n, done;
} S_rrange;

static void *S_rrange_main(void *arg)
{
    S_rrange *g = arg;
    for (size_t i = 0; i < g->n && !g->r.bad; i++) {
        S_rsrc(&g->r, &g->v[g->done++]);
        if (i % 256 == 0)
            S_drop(&g->r);
    }
    return NULL;
}

/* The records, in two halves at once when there are many: decoding is
 * allocation, and a big site's parse cache is read at every build. The
 * second half starts where the writer said (mid, from the file's end),
 * and the first must end there. (Each half gives back the mapping behind
 * it; a page given back early is read from the file again: the mapping
 * is private and never written.) */
static void S_rsrcs(S_rd *r, bstate *st, long long mid)
{
    size_t n = S_rcount(r, 64);
    if (!(st->srcs = calloc(n + 1, sizeof *st->srcs))) {
        r->bad = 1;
        return;
    }
    S_rrange a = {*r, st->srcs, n, 0}, b = {*r, NULL, 0, 0};
    pthread_t th;
    int two = 0;
    const char *at = NULL;
    if (n >= 2048 && !r->bad && mid > r->p - r->base && mid < r->end - r->base) {
        at = r->base + mid;
        a.n = n / 2;
        b.r.p = at;
        b.r.dropped = (size_t)mid / 4096 * 4096;
        b.v = st->srcs + a.n;
        b.n = n - a.n;
        two = pthread_create(&th, NULL, S_rrange_main, &b) == 0;
        if (!two)
            a.n = n; /* one thread after all: from the start */
    }
    S_rrange_main(&a);
    if (two) {
        pthread_join(th, NULL);
        a.r.bad |= b.r.bad || a.r.p != at;
        a.r.p = b.r.p;
    }
    /* with two halves every slot counts (on an error, bstate_free frees
     * them all: the ones not reached are zeroes) */
    st->nsrcs = two ? n : a.done;
    *r = a.r;
}

static void S_rdirs(S_rd *r, bstate *st)
{
    size_t n = S_rcount(r, 4 + 3 * 8 + 4);
    if (!(st->dirs = calloc(n + 1, sizeof *st->dirs))) {
        r->bad = 1;
        return;
    }
    for (size_t i = 0; i < n && !r->bad; i++) {
        bstate_dir *d = &st->dirs[st->ndirs++];
        d->path = S_rstr(r);
        d->mtime_ns = S_ri64(r);
        d->ctime_ns = S_ri64(r);
        d->ino = (unsigned long long)S_ri64(r);
        d->racy = (int)S_ru32(r);
        if (!d->path)
            r->bad = 1;
    }
}

int bstate_load(const char *path, int parts, bstate *st, folio_err *err)
{
    memset(st, 0, sizeof *st);
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 1;
    /* mapped, not read: a build wants the outputs part of a big file only */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return err_set(err, "%s: %s", path, strerror(e));
    }
    size_t len = (size_t)sb.st_size;
    char *src = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    if (src == MAP_FAILED) {
        int e = errno;
        close(fd);
        return err_set(err, "%s: %s", path, strerror(e));
    }
    if (parts & BSTATE_KEEPFD) {
        st->fd = fd;
        st->has_fd = 1;
    } else {
        close(fd);
    }
    S_rd r = {src, src + len, !len, src, 0, NULL, NULL,
              (parts & (BSTATE_KEEPFD | BSTATE_LAZYLINKS)) ==
                  (BSTATE_KEEPFD | BSTATE_LAZYLINKS),
              st->has_fd ? st->fd : -1};
    /* the trailer first: where the parts are (S_trailer) */
    long long tail[3] = {-1, -1, -1};
    const size_t tl = sizeof tail + sizeof S_END - 1;
    if (len >= tl && !memcmp(src + len - (sizeof S_END - 1), S_END, sizeof S_END - 1))
        memcpy(tail, src + len - tl, sizeof tail);
    else
        r.bad = 1;
    const long long outs_at = tail[0], dirs_at = tail[1], mid = tail[2];
    const char *magic = S_take(&r, sizeof S_MAGIC - 1);
    if (!magic || memcmp(magic, S_MAGIC, sizeof S_MAGIC - 1) != 0)
        r.bad = 1;
    S_rhead(&r, st);
    S_rgraph(&r, st);
    if (!r.bad && (outs_at < r.p - r.base || outs_at > (long long)(len - tl) ||
                   dirs_at < r.p - r.base || dirs_at > outs_at))
        r.bad = 1;
    if (!r.bad && (parts & BSTATE_SRCS)) {
        S_rd rs = r;
        rs.end = r.base + dirs_at; /* the records end where the folders start */
        S_rsrcs(&rs, st, mid);
        if (rs.p != rs.end)
            rs.bad = 1;
        S_rd rd = {r.base + dirs_at, r.base + outs_at, rs.bad, r.base, 0, NULL, NULL, 0, -1};
        S_rdirs(&rd, st);
        r.bad = rd.bad || rd.p != rd.end;
    }
    if (!r.bad && (parts & BSTATE_OUTS)) {
        S_rd ro = {r.base + outs_at, r.base + len - tl, 0, r.base, 0, NULL, NULL, 0, -1};
        S_routs(&ro, st);
        r.bad = ro.bad || ro.p != ro.end;
    }
    if (src)
        munmap(src, len);
    if (r.bad) {
        bstate_free(st);
        return err_set(err, "%s: not a state this folio wrote (or damaged)", path);
    }
    return 0;
}

int bstate_load_dirs(const char *path, bstate *st)
{
    memset(st, 0, sizeof *st);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    char tail[3 * 8 + sizeof S_END - 1];
    if (fd < 0)
        return -1;
    int rc = -1;
    char *blk = NULL;
    long long at = 0, len;
    if (fstat(fd, &sb) != 0 || (len = (long long)sb.st_size) < (long long)sizeof tail ||
        util_pread_all(fd, tail, sizeof tail, len - (long long)sizeof tail) != 0 ||
        memcmp(tail + 24, S_END, sizeof S_END - 1) != 0)
        goto done;
    long long outs_at;
    memcpy(&outs_at, tail, 8);
    memcpy(&at, tail + 8, 8);
    long long n = outs_at - at;
    if (at <= 0 || n < 4 || n > (1 << 24) || !(blk = malloc((size_t)n)) ||
        util_pread_all(fd, blk, (size_t)n, at) != 0)
        goto done;
    S_rd r = {blk, blk + n, 0, blk, 0, NULL, NULL, 0, -1};
    S_rdirs(&r, st);
    rc = r.bad || r.p != r.end ? -1 : 0;
done:
    free(blk);
    close(fd);
    if (rc != 0)
        bstate_free(st);
    return rc;
}

void bstate_free(bstate *st)
{
    free(st->stamp);
    for (size_t i = 0; st->tpl_names && i < st->ntpl; i++)
        free(st->tpl_names[i]);
    free(st->tpl_names);
    free(st->tpl_hash);
    for (size_t i = 0; st->sets && i < st->nsets; i++)
        free(st->sets[i].tpl);
    free(st->sets);
    for (size_t i = 0; st->outs && i < st->nouts; i++) {
        free(st->outs[i].path);
        free(st->outs[i].names);
    }
    free(st->outs);
    free(st->src_hash);
    for (size_t i = 0; st->srcs && i < st->nsrcs; i++) {
        /* what rode with a record lies in its block (or its page was
         * taken, block and all, and took them: see bstate.h) */
        content_str_free(&st->srcs[i].page, st->srcs[i].body_summary);
        content_str_free(&st->srcs[i].page, st->srcs[i].links);
        content_page_free(&st->srcs[i].page);
    }
    free(st->srcs);
    for (size_t i = 0; st->dirs && i < st->ndirs; i++)
        free(st->dirs[i].path);
    free(st->dirs);
    if (st->has_fd)
        close(st->fd);
    memset(st, 0, sizeof *st);
}
