/* site — the page graph and its rendering into public/.
 *
 * site_open reads every front matter (in parallel), works out URLs,
 * sections, tags, the order and the templates, and claims every URL once.
 * Rendering is a list of jobs (one output page each, or a page and its
 * data pages) run by a small pthread pool: regular pages first, because
 * their Markdown gives the word counts and summaries that lists show, then
 * the lists. A page's HTML is written and freed at once. */
#include "site.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "buildstate.h"
#include "content.h"
#include "images.h"
#include "template.h"
#include "theme.h"
#include "anchors.h"
#include "jarena.h"

#define S_FEED_ENTRIES 20
#define S_RECENT 5
#define S_JOB_ARENA (64u * 1024) /* a list page's context, most pages' too */
#define S_DEPS_FILE ".folio-deps"

enum S_type { T_PAGE, T_HOME, T_SECTION, T_TAXONOMY, T_TERMS, T_404, T_ALIAS,
              T_ERROR /* folio-fcgi's error answers: no URL, never written */ };

/* One output: a type, an index into the type's array, and a list page
 * number (1-based; aliases use it for the alias index). */
typedef struct S_job {
    enum S_type type;
    int idx;
    int pageno;
} S_job;

enum { S_LAZY_CACHE = 1, S_LAZY_SPILL };

typedef struct S_page {
    content_page c;
    char *url;
    int section;      /* index into s->sections, or -1 */
    int listed;       /* a regular page that is in the build */
    int prev, next;   /* indices into s->pages, or -1 */
    int *tagidx;      /* index into s->tags for each c.tags[i] */
    const tpl *tpl;
    char *data_name;  /* paginate_data: NAME.PATH split */
    char *data_path;
    char *data_list;  /* NAME.PATH whole */
    int ranked;       /* data served by rank: 0 not asked yet, 1 yes, 2 no */
    atomic_int meta;  /* words and summary known */
    int words;
    int fm_summary;   /* the front matter gave one (fixed at open: no lock) */
    unsigned char hash[BSTATE_HASH];  /* of the file's bytes */
    unsigned char phash[BSTATE_HASH]; /* of its params */
    long long size, mtime_ns, ctime_ns; /* the file's stat, when read */
    unsigned long long ino;
    unsigned item_mask; /* the groups of item_fp (under the site's lock) */
    int item_known;
    unsigned char item_fp[BSTATE_HASH]; /* the page as lists show it */
    char *links;      /* its Markdown's links (known with meta) */
    /* or they are in a file (S_links reads them): the parse cache's
     * (S_LAZY_CACHE) or the site's spill file (S_LAZY_SPILL) */
    int links_lazy;
    uint32_t links_len;
    long long links_off;
    /* its record in the parse cache's file, when taken from there as it
     * is: the next state copies those bytes instead of encoding them */
    long long raw_off;
    size_t raw_len;
    int raw, raw_meta;
    int broken;       /* the link check: its links to nothing, */
    int xfrag;        /* ... and whether one names another page's #id */
    /* page bundles and images (see "page bundles" below) */
    char *bundle;     /* content/BUNDLE/index.md: "BUNDLE", else NULL */
    unsigned char ahash[BSTATE_HASH]; /* of its files' and its cover's stat */
    cJSON *cover;     /* its cover value, once made (under the site's lock) */
    int cover_done;
} S_page;

typedef struct S_list {
    char *name, *title, *slug, *url;
    int index_page;   /* s->pages index of _index.md, or -1 */
    int *pages;       /* listed pages, in order */
    size_t n, cap;
    const tpl *tpl;
    char *html;       /* _index.md's body, rendered once for all its pages */
    int orig;         /* tags: the index before sorting */
} S_list;

typedef struct S_urlent {
    char *url;        /* NULL: empty slot; a page's own (S_url_borrowed) or a copy */
    S_job job;
} S_urlent;

typedef struct S_dep {
    char *url;
    char *names;      /* " a b " */
} S_dep;

/* A template, with what an incremental build needs to know of it. */
typedef struct S_tinfo {
    char *name;
    const tpl *t;
    unsigned char hash[BSTATE_HASH];
    unsigned mask;    /* S_G_* groups its tags name */
} S_tinfo;

#define S_TSET_WORDS 4 /* a set is a bitmap over at most 256 templates */
typedef struct S_tset {
    uint64_t bits[S_TSET_WORDS];
    unsigned mask;
    int valid;        /* old sets: every template still the same */
} S_tset;

typedef struct S_inc S_inc;

struct site {
    const folio_config *cfg;
    site_opts opts;
    char *out;
    long long now;
    tpl_set *tpls;
    S_page *pages;
    size_t npages;
    int *order;       /* listed pages in order */
    size_t norder;
    S_list *sections, *tags;
    size_t nsections, ntags, tagcap;
    int *taghash;     /* slug -> tag index + 1, open addressing; while reading */
    size_t taghcap;
    S_list home;
    int page404;      /* content/404.md or -1 */
    const tpl *tpl_home, *tpl_terms, *tpl_404;
    const tpl *tpl_error; /* templates/error.mustache, else the 404 one */
    S_urlent *urls;
    size_t urlcap, nurls;
    cJSON *site_base;  /* the "site" context value without menu */
    cJSON *menu;       /* folio.yml menu, or NULL */
    cJSON *variants[65]; /* site objects by active menu item (+1), built lazily */
    pthread_mutex_t mu;  /* provider calls, variants, deps, meta, sets */
    S_dep *deps;
    size_t ndeps;
    int jobs;
    int built;
    /* incremental builds */
    S_tinfo *tinfo;
    size_t ntinfo;
    S_tset *sets;        /* template sets this process has seen used */
    size_t nsets, setcap;
    int recent[S_RECENT], nrecent;
    int *featured;
    size_t nfeatured;
    struct { unsigned mask; unsigned char fp[BSTATE_HASH]; } sitefp[32];
    size_t nsitefp;
    bstate cache;        /* OUT's state, for its parsed content */
    bstate_dir *dirs;    /* content/'s folders as this build found them */
    size_t ndirs;
    long long start_ns;  /* wall clock at open */
    char *stamp;
    S_inc *inc;          /* during site_build */
    unsigned char graph_fp[BSTATE_HASH]; /* S_graph_fp, at the start of site_build */
    int graph_fp_known;   /* graph_fp is this site's (it never changes after open) */
    uint64_t static_sum;  /* of static/'s paths, in any order (what links can reach) */
    int cache_fd;         /* the parse cache's file, open for raw copies, or -1 */
    /* where the links of pages rendered by this site go (S_spill): an
     * unnamed file beside OUT, or -1 (then they stay in memory) */
    int spill_fd;
    atomic_llong spill_end;
    int skipped;
    int warnings;
    /* page bundles and images */
    struct S_bfile *bfiles; /* the bundles' files, by URL */
    size_t nbfiles;
    images *img;
    char **imgused;      /* cache names of the variants the pages show */
    size_t nimgused, imgcap;
    /* the theme: templates and static files under the site's own, params */
    theme theme;
    buf tpl_ids;         /* literal ids of the templates: "#ID\n" lines */
};

#define S_THEME_CSS "css/params.css"

/* ---- small helpers ---------------------------------------------------- */

static uint64_t S_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* A page's entry holds the page's URL itself: 10,000 copies fewer. */
static int S_url_borrowed(const S_job *j)
{
    return (j->type == T_PAGE || j->type == T_404) && j->idx >= 0;
}

/* Who claims a URL, for a conflict's message. */
static const char *S_job_owner(const site *s, const S_job *j)
{
    const S_list *l = NULL;
    switch (j->type) {
    case T_PAGE:
    case T_404:
    case T_ALIAS:
        return j->idx >= 0 ? s->pages[j->idx].c.file : "404 page";
    case T_TERMS: return "the tag list";
    case T_HOME: l = &s->home; break;
    case T_SECTION: l = &s->sections[j->idx]; break;
    case T_TAXONOMY: l = &s->tags[j->idx]; break;
    default: return "folio";
    }
    return l->index_page >= 0 ? s->pages[l->index_page].c.file : l->url ? l->url : "/";
}

static int S_url_put(site *s, const char *url, S_job job, folio_err *err)
{
    if ((s->nurls + 1) * 2 > s->urlcap) {
        /* sized for every page at once: no rehashing on the way */
        size_t cap = s->urlcap ? s->urlcap * 2 : 1024;
        while (!s->urlcap && cap < 2 * (s->npages + 64))
            cap *= 2;
        S_urlent *nu = calloc(cap, sizeof *nu);
        if (!nu)
            return err_set(err, "out of memory");
        for (size_t i = 0; i < s->urlcap; i++) {
            if (!s->urls[i].url)
                continue;
            size_t k = S_hash(s->urls[i].url) & (cap - 1);
            while (nu[k].url)
                k = (k + 1) & (cap - 1);
            nu[k] = s->urls[i];
        }
        free(s->urls);
        s->urls = nu;
        s->urlcap = cap;
    }
    size_t k = S_hash(url) & (s->urlcap - 1);
    while (s->urls[k].url) {
        if (!strcmp(s->urls[k].url, url))
            return err_set(err, "%s and %s both claim the URL %s",
                           S_job_owner(s, &s->urls[k].job), S_job_owner(s, &job), url);
        k = (k + 1) & (s->urlcap - 1);
    }
    if (!(s->urls[k].url = S_url_borrowed(&job) ? (char *)url : util_strdup(url)))
        return err_set(err, "out of memory");
    s->urls[k].job = job;
    s->nurls++;
    return 0;
}

static const S_urlent *S_url_get(const site *s, const char *url)
{
    if (!s->urlcap)
        return NULL;
    size_t k = S_hash(url) & (s->urlcap - 1);
    while (s->urls[k].url) {
        if (!strcmp(s->urls[k].url, url))
            return &s->urls[k];
        k = (k + 1) & (s->urlcap - 1);
    }
    return NULL;
}

static int S_list_add(S_list *l, int page)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        int *np = realloc(l->pages, cap * sizeof *np);
        if (!np)
            return -1;
        l->pages = np;
        l->cap = cap;
    }
    l->pages[l->n++] = page;
    return 0;
}

static void S_list_free(S_list *l)
{
    free(l->name);
    free(l->title);
    free(l->slug);
    free(l->url);
    free(l->pages);
    free(l->html);
}

/* The URL of list page n: "/projects/", "/projects/page/2/". */
static int S_page_url(buf *b, const char *base, int n)
{
    buf_reset(b);
    if (n <= 1)
        return buf_puts(b, base);
    return buf_printf(b, "%spage/%d/", base, n);
}

static int S_npages(size_t total, int per)
{
    return total == 0 ? 1 : (int)((total + (size_t)per - 1) / (size_t)per);
}

/* Items per page for a page's list: folio.yml's paginate, or the page's own
 * `paginate: N`; `paginate: false` keeps the whole list on one page. */
static int S_per_page(const site *s, const cJSON *params)
{
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(params, "paginate");
    if (cJSON_IsNumber(pp) && pp->valuedouble >= 1 && pp->valuedouble <= 100000)
        return (int)pp->valuedouble;
    if (cJSON_IsFalse(pp))
        return 1 << 30;
    return s->cfg->paginate;
}

static int S_list_per(const site *s, const S_list *l)
{
    return l->index_page >= 0 ? S_per_page(s, s->pages[l->index_page].c.params)
                              : s->cfg->paginate;
}

/* Adds v (NULL: out of memory) under key, a literal: cJSON keeps the
 * pointer instead of a copy, for the fields every page value has. */
static int S_put(cJSON *o, const char *key, cJSON *v)
{
    if (!v || !cJSON_AddItemToObjectCS(o, key, v)) {
        cJSON_Delete(v);
        return -1;
    }
    return 0;
}

/* A string value that points at str instead of copying it: for what the
 * site keeps (a page's title, URL, tags...) and outlives every context.
 * NULL, as cJSON_CreateString(NULL) is, for no string. */
static cJSON *S_ref(const char *str)
{
    return str ? cJSON_CreateStringReference(str) : NULL;
}

/* v as n digits at p; the end. */
static char *S_digits(char *p, int v, int n)
{
    for (int k = n - 1; k >= 0; k--, v /= 10)
        p[k] = (char)('0' + v % 10);
    return p + n;
}

/* Adds KEY, KEY_long (in date_format) and KEY_iso for a time: keys[0..2]
 * are those names, literals. Lists show a page's dates again and again,
 * so the plain forms are written here rather than through printf. */
static int S_add_dates(const site *s, cJSON *o, const char *const keys[3], long long ms)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return -1;
    char d[32], l[64], iso[48];
    int year = tm.tm_year + 1900;
    if (year >= 0 && year <= 9999) {
        char *p = S_digits(d, year, 4);
        *p++ = '-';
        p = S_digits(p, tm.tm_mon + 1, 2);
        *p++ = '-';
        *S_digits(p, tm.tm_mday, 2) = '\0';
        memcpy(iso, d, 10);
        p = iso + 10;
        *p++ = 'T';
        p = S_digits(p, tm.tm_hour, 2);
        *p++ = ':';
        p = S_digits(p, tm.tm_min, 2);
        *p++ = ':';
        p = S_digits(p, tm.tm_sec, 2);
        *p++ = 'Z';
        *p = '\0';
    } else {
        snprintf(d, sizeof d, "%04d-%02d-%02d", year, tm.tm_mon + 1, tm.tm_mday);
        snprintf(iso, sizeof iso, "%sT%02d:%02d:%02dZ", d, tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
    if (theme_format_date(&s->theme, ms, l, sizeof l) != 0)
        return -1;
    return S_put(o, keys[0], cJSON_CreateString(d)) || S_put(o, keys[1], cJSON_CreateString(l)) ||
                   S_put(o, keys[2], cJSON_CreateString(iso))
               ? -1 : 0;
}

static char *S_permalink(const site *s, const char *url)
{
    buf b = BUF_INIT;
    if (buf_puts(&b, s->cfg->base_url) != 0 ||
        buf_puts(&b, url[0] == '/' ? url + 1 : url) != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

/* ---- reading content/ ------------------------------------------------- */

static int S_stamp_same(const site *s, const char *other, int whole);

static void S_warn(site *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void S_warn(site *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->warnings++;
    if (s->opts.warn)
        s->opts.warn(s->opts.warn_ud, msg);
    else
        fprintf(stderr, "warning: %s\n", msg);
}
static int S_stamp_make(site *s, folio_err *err);

typedef struct S_files {
    char **v;
    size_t n, cap;
    int borrowed;        /* v's names belong to someone else */
    int track;           /* S_walk records the folders it reads in d */
    long long start_ns;  /* (then) the build's start, for racy folders */
    bstate_dir *d;
    size_t nd, dcap;
} S_files;

static long long S_ns(struct timespec t)
{
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Changed too close to the build that saw it (within the file system's
 * clock tick) for its times to prove a later change: checked again. */
static int S_racy(long long ns, long long start_ns)
{
    return ns > start_ns - 2000000000LL;
}

/* The folder S_walk is about to read, as it is before the read: a file
 * added during it changes the folder after what is recorded. */
static int S_files_dir(S_files *f, const char *rel, int fd)
{
    struct stat st;
    if (!f->track || fstat(fd, &st) != 0)
        return 0; /* unknown: the next build walks */
    void *v = f->d;
    if (util_grow(&v, &f->dcap, f->nd, sizeof *f->d, 16) != 0)
        return -1;
    f->d = v;
    bstate_dir *d = &f->d[f->nd];
    if (!(d->path = util_strdup(rel)))
        return -1;
    d->mtime_ns = S_ns(st.st_mtim);
    d->ctime_ns = S_ns(st.st_ctim);
    d->ino = (unsigned long long)st.st_ino;
    d->racy = S_racy(d->mtime_ns, f->start_ns) || S_racy(d->ctime_ns, f->start_ns);
    f->nd++;
    return 0;
}

static int S_dir_same(const bstate_dir *a, const bstate_dir *b)
{
    return a->ino == b->ino && a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

static int S_isdir_same(const bstate_dir *d, const struct stat *st)
{
    bstate_dir now = {.mtime_ns = S_ns(st->st_mtim), .ctime_ns = S_ns(st->st_ctim),
                      .ino = (unsigned long long)st->st_ino};
    return S_ISDIR(st->st_mode) && S_dir_same(d, &now);
}

static void S_dirs_free(bstate_dir *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(d[i].path);
    free(d);
}

static int S_files_add(S_files *f, const char *rel)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        char **nv = realloc(f->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        f->v = nv;
        f->cap = cap;
    }
    return (f->v[f->n++] = util_strdup(rel)) ? 0 : -1;
}

static int S_walk(const char *root, const char *rel, const char *ext, S_files *f,
                  int depth, folio_err *err)
{
    char dir[PATH_MAX];
    if (util_path(dir, sizeof dir, err, "%s%s%s", root, *rel ? "/" : "", rel) != 0)
        return -1;
    if (depth > 32)
        return err_set(err, "%s: folders nested too deeply", dir);
    DIR *d = opendir(dir);
    if (!d)
        return err_set(err, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = S_files_dir(f, rel, dirfd(d)) != 0 ? err_set(err, "out of memory") : 0;
    /* "REL/" once; each name goes after it (10,000 names: no printf each) */
    char sub[PATH_MAX];
    size_t pl = strlen(rel); /* shorter than dir, which fits */
    memcpy(sub, rel, pl);
    if (pl)
        sub[pl++] = '/';
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue; /* dot files: editors' droppings, never content */
        size_t n = strlen(e->d_name);
        if (!util_utf8_valid(e->d_name, n)) {
            rc = err_set(err, "%s: a file name in it is not valid UTF-8; rename it", dir);
            break;
        }
        if (pl + n >= sizeof sub) {
            rc = err_set(err, "%s/%s: path too long", dir, e->d_name);
            break;
        }
        memcpy(sub + pl, e->d_name, n + 1);
        int isdir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) {
            char full[PATH_MAX];
            rc = util_path(full, sizeof full, err, "%s/%s", root, sub);
            isdir = rc == 0 && util_is_dir(full);
        }
        if (rc != 0)
            break;
        if (isdir)
            rc = S_walk(root, sub, ext, f, depth + 1, err);
        else if (n > strlen(ext) && !strcmp(e->d_name + n - strlen(ext), ext) &&
                 S_files_add(f, sub) != 0)
            rc = err_set(err, "out of memory");
    }
    closedir(d);
    return rc;
}

static int S_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A pool of threads running fn(ud, i, err) for i in [0, n); stops at the
 * first failure and reports the failure with the lowest index. */
typedef int (*S_task_fn)(void *ud, size_t i, void *tls, folio_err *err);

typedef struct S_pool {
    S_task_fn fn;
    void *ud;
    size_t n;
    atomic_size_t next;
    atomic_int failed;
    pthread_mutex_t mu;
    size_t err_at;
    folio_err err;
    void *(*tls_new)(void *ud);
    void (*tls_done)(void *ud, void *tls);
} S_pool;

static void *S_pool_main(void *arg)
{
    S_pool *p = arg;
    void *tls = p->tls_new ? p->tls_new(p->ud) : NULL;
    folio_err err = {{0}};
    while (!atomic_load(&p->failed)) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n)
            break;
        if (p->fn(p->ud, i, tls, &err) != 0) {
            pthread_mutex_lock(&p->mu);
            if (!atomic_load(&p->failed) || i < p->err_at) {
                p->err_at = i;
                p->err = err;
            }
            atomic_store(&p->failed, 1);
            pthread_mutex_unlock(&p->mu);
        }
    }
    if (p->tls_done)
        p->tls_done(p->ud, tls);
    return NULL;
}

static int S_run(int jobs, size_t n, S_task_fn fn, void *ud, void *(*tls_new)(void *),
                 void (*tls_done)(void *, void *), folio_err *err)
{
    S_pool p = {.fn = fn, .ud = ud, .n = n, .tls_new = tls_new, .tls_done = tls_done};
    atomic_init(&p.next, 0);
    atomic_init(&p.failed, 0);
    pthread_mutex_init(&p.mu, NULL);
    if (jobs < 1)
        jobs = 1;
    if ((size_t)jobs > n)
        jobs = n ? (int)n : 1;
    pthread_t th[64];
    int started = 0;
    for (int i = 1; i < jobs && i < 64; i++) {
        if (pthread_create(&th[started], NULL, S_pool_main, &p) != 0)
            break; /* fewer threads is slower, not wrong */
        started++;
    }
    S_pool_main(&p);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&p.mu);
    if (atomic_load(&p.failed)) {
        if (err)
            *err = p.err;
        return -1;
    }
    return 0;
}

/* A state file read on a thread of its own while the caller does other
 * work (on a big site both take milliseconds). */
typedef struct S_bgload {
    pthread_t th;
    int started;
    char path[PATH_MAX];
    int parts, rc;
    bstate st;
    folio_err err;
    size_t *map, mapcap; /* with BSTATE_OUTS: the outputs by path (S_outs_map) */
} S_bgload;

/* Output path -> index + 1 into st->outs (open addressing, *cap a power
 * of two): what S_inc_old looks up for each of a build's outputs. */
static int S_outs_map(const bstate *st, size_t **map, size_t *cap)
{
    *cap = 64;
    while (*cap < st->nouts * 2 + 2)
        *cap *= 2;
    if (!(*map = calloc(*cap, sizeof **map)))
        return -1;
    for (size_t i = 0; i < st->nouts; i++) {
        size_t k = S_hash(st->outs[i].path) & (*cap - 1);
        while ((*map)[k])
            k = (k + 1) & (*cap - 1);
        (*map)[k] = i + 1;
    }
    return 0;
}

static void *S_bgload_main(void *arg)
{
    S_bgload *b = arg;
    b->rc = bstate_load(b->path, b->parts, &b->st, &b->err);
    if (b->rc == 0 && (b->parts & BSTATE_OUTS) && S_outs_map(&b->st, &b->map, &b->mapcap) != 0)
        b->map = NULL; /* made later, or out of memory then */
    return NULL;
}

/* Starts reading dir/BSTATE_FILE (or reads it here, if no thread starts). */
static void S_bgload_start(S_bgload *b, const char *dir, int parts)
{
    memset(b, 0, sizeof *b);
    b->parts = parts;
    if (snprintf(b->path, sizeof b->path, "%s/%s", dir, BSTATE_FILE) >= (int)sizeof b->path) {
        b->rc = err_set(&b->err, "%s: path too long", dir);
        return;
    }
    b->started = pthread_create(&b->th, NULL, S_bgload_main, b) == 0;
    if (!b->started)
        S_bgload_main(b);
}

/* Its result, as bstate_load's: the state moves to *st. */
static int S_bgload_join(S_bgload *b, bstate *st, folio_err *err)
{
    if (b->started)
        pthread_join(b->th, NULL);
    b->started = 0;
    *st = b->st;
    memset(&b->st, 0, sizeof b->st);
    if (b->rc < 0 && err)
        *err = b->err;
    return b->rc;
}

/* A load nobody took: joined, its state freed. */
static void S_bgload_drop(S_bgload *b)
{
    bstate unused;
    S_bgload_join(b, &unused, NULL);
    bstate_free(&unused);
    free(b->map);
    b->map = NULL;
}

typedef struct S_readctx {
    site *s;
    S_files *files;
    const char **cached; /* the cache's file names */
    int dirfd;           /* content/, or -1: a stat from there looks up less */
    int in_order;        /* files are the cache's, in its order: file i is record i */
    int *fdir;           /* file i's folder, open (or -1), or NULL: a stat from
                          * there looks up one name, not a path */
    int *dirs;           /* those folders, to close */
    size_t ndirs;
} S_readctx;

/* Opens each folder the (sorted) files are in, once (see S_readctx.fdir);
 * where that fails the stat goes from content/. */
static void S_read_dirs(S_readctx *r)
{
    const S_files *f = r->files;
    r->fdir = malloc((f->n ? f->n : 1) * sizeof *r->fdir);
    r->dirs = malloc((f->n ? f->n : 1) * sizeof *r->dirs);
    if (!r->fdir || !r->dirs || r->dirfd < 0) {
        free(r->fdir);
        free(r->dirs);
        r->fdir = r->dirs = NULL;
        return;
    }
    const char *last = NULL;
    size_t lastlen = 0;
    int fd = -1;
    for (size_t i = 0; i < f->n; i++) {
        const char *sl = strrchr(f->v[i], '/');
        size_t len = sl ? (size_t)(sl - f->v[i]) : 0;
        if (!last || len != lastlen || memcmp(last, f->v[i], len)) {
            char dir[PATH_MAX];
            fd = -1;
            if (len && len < sizeof dir) {
                memcpy(dir, f->v[i], len);
                dir[len] = '\0';
                fd = openat(r->dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd >= 0)
                    r->dirs[r->ndirs++] = fd;
            }
            last = f->v[i];
            lastlen = len;
        }
        r->fdir[i] = fd;
    }
}

static void S_read_dirs_close(S_readctx *r)
{
    for (size_t k = 0; k < r->ndirs; k++)
        close(r->dirs[k]);
    free(r->dirs);
    free(r->fdir);
}

static void S_hash_bytes(unsigned char out[BSTATE_HASH], const void *data, size_t len)
{
    crypto_generichash(out, BSTATE_HASH, data, len, NULL, 0);
}


/* The cached record of a content file (the cache is sorted by file; the
 * names are kept apart because records are moved out while others look). */
static bstate_src *S_cached(site *s, const char *const *names, const char *rel)
{
    size_t lo = 0, hi = s->cache.nsrcs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(names[mid], rel);
        if (!c)
            return &s->cache.srcs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int S_same_stat(const bstate_src *c, const S_page *p)
{
    return !c->racy && c->size == p->size && c->mtime_ns == p->mtime_ns &&
           c->ctime_ns == p->ctime_ns && c->ino == p->ino;
}

/* Takes *from, or a copy when it lies in a block p does not own (a
 * record whose page stays in the cache). 0, or -1 out of memory. */
static int S_take_str(const S_page *p, const content_page *owner, char **from, char **to)
{
    if (*from && content_in_blk(owner, *from) && !content_in_blk(&p->c, *from)) {
        if (!(*to = util_strdup(*from)))
            return -1;
    } else {
        *to = *from;
    }
    *from = NULL;
    return 0;
}

/* What the Markdown gave, when the bytes are those the cache knew. */
static void S_take_meta(S_page *p, bstate_src *c, const content_page *owner)
{
    p->fm_summary = p->c.summary != NULL;
    if (!c || !c->meta || memcmp(c->hash, p->hash, BSTATE_HASH) != 0)
        return;
    char *sum = NULL, *links = NULL;
    if ((!p->fm_summary && S_take_str(p, owner, &c->body_summary, &sum) != 0) ||
        S_take_str(p, owner, &c->links, &links) != 0) {
        content_str_free(&p->c, sum);
        return; /* out of memory: the Markdown is rendered again */
    }
    p->words = c->words;
    if (!p->fm_summary)
        p->c.summary = sum;
    p->links = links;
    p->links_lazy = c->links_lazy ? S_LAZY_CACHE : 0;
    p->links_off = c->links_off;
    p->links_len = c->links_len;
    atomic_store(&p->meta, 1);
}

/* The file page p's links lie in, when they are not in memory. */
static int S_links_fd(const site *s, const S_page *p)
{
    return p->links_lazy == S_LAZY_SPILL ? s->spill_fd : s->cache_fd;
}

/* Page p's links: p->links, or read into tmp from the parse cache's file.
 * NULL when there are none or they cannot be read (a link check then
 * finds nothing to say of the page). The descriptor keeps the bytes it
 * was opened on: a tree's state is unlinked, never rewritten, before a
 * build goes into that tree again (S_inc_load), as serve's builds do. */

static const char *S_links(const site *s, const S_page *p, buf *tmp)
{
    int fd = S_links_fd(s, p);
    if (!p->links_lazy || fd < 0)
        return p->links;
    tmp->len = 0;
    if (buf_grow(tmp, p->links_len) != 0 ||
        util_pread_all(fd, tmp->ptr, p->links_len, p->links_off) != 0)
        return NULL;
    tmp->len = p->links_len;
    tmp->ptr[tmp->len] = '\0';
    return tmp->ptr;
}

static int S_params_hash(const cJSON *params, unsigned char out[BSTATE_HASH], folio_err *err)
{
    if (cJSON_IsObject(params) && !params->child) {
        bstate_params_hash("{}", 2, out); /* as cJSON prints an empty object */
        return 0;
    }
    char *js = cJSON_PrintUnformatted(params);
    if (!js)
        return err_set(err, "out of memory");
    bstate_params_hash(js, strlen(js), out);
    free(js);
    return 0;
}

/* Whether a watcher said that file rel (under content/) has not changed. */
static int S_unchanged_known(const site_opts *o, const char *rel)
{
    if (!o->changed_known)
        return 0;
    for (size_t i = 0; i < o->nchanged; i++)
        if (!strcmp(o->changed[i], rel))
            return 0;
    return 1;
}

/* A page of s->pages (calloc'ed) before it is filled: on the task that
 * fills it, so that the pages' memory is first touched on every thread. */
static void S_page_init(S_page *p)
{
    p->prev = p->next = p->section = -1;
    atomic_init(&p->meta, 0);
}

/* A file whose stat is the one the cache recorded is taken from it unread. */
static int S_read_one(void *ud, size_t i, void *tls, folio_err *err)
{
    (void)tls;
    S_readctx *r = ud;
    const char *rel = r->files->v[i];
    /* the path is made only for a file read (most are taken unread) */
    char path[PATH_MAX];
    S_page *p = &r->s->pages[i];
    S_page_init(p);
    bstate_src *c = r->in_order ? &r->s->cache.srcs[i]
                    : r->cached ? S_cached(r->s, r->cached, rel) : NULL;
    int same = c && S_unchanged_known(&r->s->opts, rel);
    if (same) {
        p->size = c->size;
        p->mtime_ns = c->mtime_ns;
        p->ctime_ns = c->ctime_ns;
        p->ino = c->ino;
    } else {
        struct stat st;
        if (r->dirfd < 0 &&
            util_path(path, sizeof path, err, "%s/%s", r->s->cfg->content_dir, rel) != 0)
            return -1;
        int at = r->fdir && r->fdir[i] >= 0;
        if ((at ? fstatat(r->fdir[i], strrchr(rel, '/') + 1, &st, 0)
             : r->dirfd >= 0 ? fstatat(r->dirfd, rel, &st, 0) : stat(path, &st)) != 0)
            return err_set(err, "%s/%s: %s", r->s->cfg->content_dir, rel, strerror(errno));
        p->size = (long long)st.st_size;
        p->mtime_ns = S_ns(st.st_mtim);
        p->ctime_ns = S_ns(st.st_ctim);
        p->ino = (unsigned long long)st.st_ino;
        same = c && S_same_stat(c, p);
    }
    if (same) {
        p->c = c->page;
        memset(&c->page, 0, sizeof c->page);
        memcpy(p->hash, c->hash, BSTATE_HASH);
        memcpy(p->phash, c->phash, BSTATE_HASH);
        p->raw = !c->racy && c->raw_len > 0;
        p->raw_off = c->raw_off;
        p->raw_len = c->raw_len;
        p->raw_meta = c->meta;
        S_take_meta(p, c, &p->c);
        /* what it did not take lies in p's block */
        c->body_summary = c->links = NULL;
        return 0;
    }
    char *src;
    size_t len;
    if (util_path(path, sizeof path, err, "%s/%s", r->s->cfg->content_dir, rel) != 0 ||
        util_read_file(path, &src, &len, err) != 0)
        return -1;
    S_hash_bytes(p->hash, src, len);
    int rc = content_parse(rel, src, len, &p->c, err);
    free(src);
    if (rc != 0) {
        /* messages name the file as the owner sees it: content/... */
        char msg[FOLIO_ERR_MAX];
        memcpy(msg, err->msg, sizeof msg);
        err_set(err, "content/%s", msg);
        return -1;
    }
    S_take_meta(p, c, c ? &c->page : NULL);
    return S_params_hash(p->c.params, p->phash, err);
}

/* What reading one file found that the whole build should hear of. */
static int S_check_page(site *s, const S_page *p, folio_err *err)
{
    if (p->c.kind == CONTENT_PAGE && !*p->c.title)
        return err_set(err, "content/%s:1: the page has no title (add title: to its front "
                       "matter)", p->c.file);
    for (const char *w = p->c.warnings; w && *w;) {
        const char *nl = strchr(w, '\n');
        int n = nl ? (int)(nl - w) : (int)strlen(w);
        S_warn(s, "content/%.*s", n, w);
        w += n + (nl ? 1 : 0);
    }
    return 0;
}

/* Page i of folio serve's rebuild from the donor: a copy, as the cache's
 * S_take_meta would give it. */
static int S_donor_copy(const site *d, S_page *p, const S_page *dp)
{
    if (content_page_copy(&dp->c, &p->c) != 0)
        return -1;
    p->size = dp->size;
    p->mtime_ns = dp->mtime_ns;
    p->ctime_ns = dp->ctime_ns;
    p->ino = dp->ino;
    memcpy(p->hash, dp->hash, BSTATE_HASH);
    memcpy(p->phash, dp->phash, BSTATE_HASH);
    p->fm_summary = dp->fm_summary;
    if (!atomic_load(&dp->meta)) {
        if (!p->fm_summary) {
            content_str_free(&p->c, p->c.summary);
            p->c.summary = NULL;
        }
        return 0;
    }
    p->words = dp->words;
    buf tmp = BUF_INIT;
    const char *links = S_links(d, dp, &tmp);
    p->links = links ? util_strdup(links) : NULL;
    buf_free(&tmp);
    if (links && !p->links)
        return -1;
    atomic_store(&p->meta, 1);
    return 0;
}

typedef struct S_donorctx {
    site *s;
    S_files *files;
    S_readctx plain; /* for the files the watcher named */
} S_donorctx;

static int S_read_one(void *ud, size_t i, void *tls, folio_err *err);

/* Site d's page for a file under content/ (pages are in file order), or NULL. */
static const S_page *S_page_of_file(const site *d, const char *rel)
{
    size_t lo = 0, hi = d->npages;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(d->pages[mid].c.file, rel);
        if (!c)
            return &d->pages[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int S_donor_one(void *ud, size_t i, void *tls, folio_err *err)
{
    S_donorctx *r = ud;
    const char *rel = r->files->v[i];
    S_page_init(&r->s->pages[i]);
    const S_page *dp = S_unchanged_known(&r->s->opts, rel)
                           ? S_page_of_file(r->s->opts.donor, rel) : NULL;
    if (!dp)
        return S_read_one(&r->plain, i, tls, err);
    if (S_donor_copy(r->s->opts.donor, &r->s->pages[i], dp) != 0)
        return err_set(err, "out of memory");
    return 0;
}

/* The files of the donor, and those the watcher named that are there
 * now: the site's .md files, without a walk of content/. */
static int S_donor_files(site *s, S_files *f, folio_err *err)
{
    const site *d = s->opts.donor;
    for (size_t i = 0; i < d->npages; i++)
        if (S_unchanged_known(&s->opts, d->pages[i].c.file) &&
            S_files_add(f, d->pages[i].c.file) != 0)
            return err_set(err, "out of memory");
    for (size_t k = 0; k < s->opts.nchanged; k++) {
        const char *rel = s->opts.changed[k];
        size_t n = strlen(rel);
        char path[PATH_MAX];
        int dup = 0;
        for (size_t j = 0; j < k && !dup; j++)
            dup = !strcmp(s->opts.changed[j], rel);
        if (dup || n < 4 || strcmp(rel + n - 3, ".md") || strchr(rel, '\n'))
            continue;
        if (util_path(path, sizeof path, err, "%s/%s", s->cfg->content_dir, rel) != 0)
            return -1;
        if (util_is_file(path) && S_files_add(f, rel) != 0)
            return err_set(err, "out of memory");
    }
    return 0;
}

/* Whether the cache's records name their files in strictly increasing
 * order, as a state this folio wrote does (the pages' order). */
static int S_cache_sorted(const bstate *c)
{
    for (size_t i = 0; i < c->nsrcs; i++)
        if (!c->srcs[i].page.file ||
            (i && strcmp(c->srcs[i - 1].page.file, c->srcs[i].page.file) >= 0))
            return 0;
    return 1;
}

/* When the files walked are the cache's files (the common case: edits,
 * no file added or removed), puts them in the cache's order, which is the
 * pages' order (sorted), and says so: no sort, no search per file. 0 (f
 * untouched) otherwise. */
static int S_cache_order(const bstate *c, S_files *f)
{
    size_t n = f->n, cap = 16;
    if (!n || c->nsrcs != n)
        return 0;
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *slot = calloc(cap, sizeof *slot);
    char **perm = calloc(n, sizeof *perm);
    int ok = slot && perm && S_cache_sorted(c);
    for (size_t i = 0; ok && i < n; i++) {
        size_t h = (size_t)S_hash(c->srcs[i].page.file) & (cap - 1);
        while (slot[h])
            h = (h + 1) & (cap - 1);
        slot[h] = (uint32_t)i + 1;
    }
    for (size_t k = 0; ok && k < n; k++) {
        size_t h = (size_t)S_hash(f->v[k]) & (cap - 1);
        while (slot[h] && strcmp(c->srcs[slot[h] - 1].page.file, f->v[k]))
            h = (h + 1) & (cap - 1);
        ok = slot[h] && !perm[slot[h] - 1];
        if (ok)
            perm[slot[h] - 1] = f->v[k];
    }
    if (ok)
        memcpy(f->v, perm, n * sizeof *perm);
    free(slot);
    free(perm);
    return ok;
}

/* Whether content/'s folders are as the live tree's state recorded them
 * (then no file was added, removed or renamed since, and the state's
 * records name the files: no walk). seen gets them either way. */
static int S_dirs_unchanged(const site *s, bstate *seen)
{
    char path[PATH_MAX];
    if (s->opts.full ||
        snprintf(path, sizeof path, "%s/%s", s->out, BSTATE_FILE) >= (int)sizeof path ||
        bstate_load_dirs(path, seen) != 0) {
        memset(seen, 0, sizeof *seen);
        return 0;
    }
    int dfd = open(s->cfg->content_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int same = dfd >= 0 && seen->ndirs > 0;
    for (size_t i = 0; same && i < seen->ndirs; i++) {
        const bstate_dir *d = &seen->dirs[i];
        struct stat st;
        same = !d->racy && fstatat(dfd, *d->path ? d->path : ".", &st, 0) == 0 &&
               S_isdir_same(d, &st);
    }
    if (dfd >= 0)
        close(dfd);
    return same;
}

/* The files the cache's records name, borrowed (sorted, as the records
 * are), with its folders, when its folders are those checked (seen): -1
 * when they are not (another build swapped the state between the reads),
 * and f is left empty for a walk. */
static int S_files_of_cache(const bstate *c, bstate *seen, S_files *f)
{
    int ok = c->ndirs == seen->ndirs && c->nsrcs > 0 && S_cache_sorted(c);
    for (size_t i = 0; ok && i < c->ndirs; i++)
        ok = !strcmp(c->dirs[i].path, seen->dirs[i].path) && S_dir_same(&c->dirs[i], &seen->dirs[i]);
    if (ok && !(f->v = malloc(c->nsrcs * sizeof *f->v)))
        ok = 0;
    if (!ok)
        return -1;
    for (size_t i = 0; i < c->nsrcs; i++)
        f->v[i] = c->srcs[i].page.file;
    f->n = f->cap = c->nsrcs;
    f->borrowed = 1;
    /* what the next build checks: the same folders, as they still are */
    f->d = seen->dirs;
    f->nd = seen->ndirs;
    seen->dirs = NULL;
    seen->ndirs = 0;
    return 0;
}

static int S_read_content(site *s, folio_err *err)
{
    S_files f = {0};
    int rc = -1;
    S_bgload bg;
    if (!util_is_dir(s->cfg->content_dir)) {
        rc = 0; /* a site without content still has a home page */
        goto done;
    }
    /* the live site's state knows how the files it was built from parse */
    int donor = s->opts.donor && s->opts.changed_known;
    if (donor) {
        if (S_donor_files(s, &f, err) != 0)
            goto done;
        util_trace("site: the donor's files");
    } else {
        S_bgload_start(&bg, s->out, BSTATE_SRCS | BSTATE_KEEPFD | BSTATE_LAZYLINKS);
        folio_err ce;
        bstate seen; /* the folders as the last build found them */
        int same = S_dirs_unchanged(s, &seen);
        f.track = 1;
        f.start_ns = s->start_ns;
        int walked = same ? 0 : S_walk(s->cfg->content_dir, "", ".md", &f, 0, err);
        util_trace(same ? "site: folders unchanged" : "site: content walked");
        if (S_bgload_join(&bg, &s->cache, &ce) == 0 && !S_stamp_same(s, s->cache.stamp, 0))
            bstate_free(&s->cache);
        if (s->cache.has_fd) { /* the site's now: records are copied from it */
            s->cache_fd = s->cache.fd;
            s->cache.has_fd = 0;
        }
        util_trace("site: parse cache read");
        if (same && S_files_of_cache(&s->cache, &seen, &f) != 0)
            walked = S_walk(s->cfg->content_dir, "", ".md", &f, 0, err);
        bstate_free(&seen);
        s->dirs = f.d;
        s->ndirs = f.nd;
        f.d = NULL;
        f.nd = 0;
        if (walked != 0)
            goto done;
    }
    int in_order = !donor && (f.borrowed || S_cache_order(&s->cache, &f));
    if (!in_order && f.n > 1)
        qsort(f.v, f.n, sizeof *f.v, S_cmp_str);
    s->pages = calloc(f.n ? f.n : 1, sizeof *s->pages);
    if (!s->pages) {
        err_set(err, "out of memory");
        goto done;
    }
    s->npages = f.n; /* each made ready by its own task (S_page_init) */
    S_readctx r = {.s = s, .files = &f,
                   .cached = in_order ? NULL : calloc(s->cache.nsrcs + 1, sizeof(char *)),
                   .dirfd = open(s->cfg->content_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
                   .in_order = in_order};
    for (size_t i = 0; r.cached && i < s->cache.nsrcs; i++)
        r.cached[i] = s->cache.srcs[i].page.file;
    if (donor) {
        S_donorctx dc = {s, &f, {.s = s, .files = &f, .dirfd = -1}};
        rc = S_run(s->jobs, f.n, S_donor_one, &dc, NULL, NULL, err);
    } else {
        S_read_dirs(&r);
        rc = S_run(s->jobs, f.n, S_read_one, &r, NULL, NULL, err);
        S_read_dirs_close(&r);
    }
    util_trace("site: files stat'ed");
    free(r.cached);
    if (r.dirfd >= 0)
        close(r.dirfd);
    for (size_t i = 0; rc == 0 && i < f.n; i++)
        rc = S_check_page(s, &s->pages[i], err);
done:
    bstate_free(&s->cache);
    for (size_t i = 0; !f.borrowed && i < f.n; i++)
        free(f.v[i]);
    free(f.v);
    S_dirs_free(f.d, f.nd);
    return rc;
}

/* ---- the page graph ---------------------------------------------------- */

static int S_title_case(const char *name, char **out)
{
    char *t = util_strdup(name);
    if (!t)
        return -1;
    for (char *c = t; *c; c++)
        if (*c == '-' || *c == '_')
            *c = ' ';
    if (t[0] >= 'a' && t[0] <= 'z')
        t[0] = (char)(t[0] - 'a' + 'A');
    *out = t;
    return 0;
}

static int S_section_of(site *s, const char *name, folio_err *err)
{
    for (size_t i = 0; i < s->nsections; i++)
        if (!strcmp(s->sections[i].name, name))
            return (int)i;
    S_list *ns = realloc(s->sections, (s->nsections + 1) * sizeof *ns);
    if (!ns)
        return err_set(err, "out of memory");
    s->sections = ns;
    S_list *l = &ns[s->nsections];
    memset(l, 0, sizeof *l);
    l->index_page = -1;
    buf b = BUF_INIT;
    if (!(l->name = util_strdup(name)) || S_title_case(name, &l->title) != 0 ||
        buf_printf(&b, "/%s/", name) != 0) {
        buf_free(&b);
        S_list_free(l);
        return err_set(err, "out of memory");
    }
    l->url = buf_detach(&b, NULL);
    return (int)s->nsections++;
}

static int S_tag_of(site *s, const char *name, folio_err *err)
{
    char *slug = util_slugify(name);
    if (!slug)
        return err_set(err, "out of memory");
    if (!*slug) {
        free(slug);
        if (!(slug = util_strdup("tag")))
            return err_set(err, "out of memory");
    }
    /* Sites with thousands of tags must not cost tags x pages. */
    if ((s->ntags + 1) * 2 > s->taghcap) {
        size_t cap = s->taghcap ? s->taghcap * 2 : 64;
        int *nh = calloc(cap, sizeof *nh);
        if (!nh) {
            free(slug);
            return err_set(err, "out of memory");
        }
        for (size_t i = 0; i < s->ntags; i++) {
            size_t k = S_hash(s->tags[i].slug) & (cap - 1);
            while (nh[k])
                k = (k + 1) & (cap - 1);
            nh[k] = (int)i + 1;
        }
        free(s->taghash);
        s->taghash = nh;
        s->taghcap = cap;
    }
    size_t k = S_hash(slug) & (s->taghcap - 1);
    for (; s->taghash[k]; k = (k + 1) & (s->taghcap - 1))
        if (!strcmp(s->tags[s->taghash[k] - 1].slug, slug)) {
            free(slug);
            return s->taghash[k] - 1;
        }
    if (s->ntags == s->tagcap) {
        size_t cap = s->tagcap ? s->tagcap * 2 : 16;
        S_list *nt = realloc(s->tags, cap * sizeof *nt);
        if (!nt) {
            free(slug);
            return err_set(err, "out of memory");
        }
        s->tags = nt;
        s->tagcap = cap;
    }
    S_list *l = &s->tags[s->ntags];
    memset(l, 0, sizeof *l);
    l->index_page = -1;
    l->slug = slug;
    buf b = BUF_INIT;
    if (!(l->name = util_strdup(name)) || !(l->title = util_strdup(name)) ||
        buf_printf(&b, "/tags/%s/", slug) != 0) {
        buf_free(&b);
        S_list_free(l);
        return err_set(err, "out of memory");
    }
    l->url = buf_detach(&b, NULL);
    l->orig = (int)s->ntags;
    s->taghash[k] = (int)s->ntags + 1;
    return (int)s->ntags++;
}

/* URLs go into href attributes, feeds and nginx as they are: a name that
 * would need percent-encoding is refused rather than mangled. */
static int S_url_ok(const char *url)
{
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= ' ' || *c == 0x7f || strchr("?#%\"<>\\'`", *c))
            return 0;
    return 1;
}

/* The URL of a content file: pretty URLs, slug replaces the file name. */
static int S_url_of(S_page *p, folio_err *err)
{
    const char *file = p->c.file;
    buf b = BUF_INIT;
    int rc = 0;
    if (p->c.kind == CONTENT_HOME) {
        rc = buf_puts(&b, "/");
    } else if (p->c.kind == CONTENT_SECTION) {
        const char *slash = strrchr(file, '/');
        rc = buf_putc(&b, '/') || buf_add(&b, file, (size_t)(slash - file)) ||
             buf_putc(&b, '/');
    } else if (!strcmp(file, "404.md")) {
        rc = buf_puts(&b, "/404.html");
    } else if (p->bundle) {
        /* a page bundle is named after its folder */
        const char *bs = strrchr(p->bundle, '/');
        size_t dirlen = bs ? (size_t)(bs - p->bundle) + 1 : 0;
        rc = buf_putc(&b, '/') || buf_add(&b, p->bundle, dirlen) ||
             buf_puts(&b, p->c.slug ? p->c.slug : p->bundle + dirlen) || buf_putc(&b, '/');
    } else {
        const char *slash = strrchr(file, '/');
        size_t dirlen = slash ? (size_t)(slash - file) + 1 : 0;
        const char *base = file + dirlen;
        size_t baselen = strlen(base) - 3;
        rc = buf_putc(&b, '/') || buf_add(&b, file, dirlen) ||
             (p->c.slug ? buf_puts(&b, p->c.slug) : buf_add(&b, base, baselen)) ||
             buf_putc(&b, '/');
    }
    if (rc != 0) {
        buf_free(&b);
        return err_set(err, "out of memory");
    }
    if (!S_url_ok(b.ptr)) {
        rc = err_set(err, "content/%s: its URL '%s' would need escaping; use letters, "
                     "digits, '-', '_' and '.' in file and folder names (or set slug:)",
                     file, b.ptr);
        buf_free(&b);
        return rc;
    }
    p->url = buf_detach(&b, NULL);
    return 0;
}

static const site *S_sort_site; /* qsort has no user data; set under S_sort_mu */

/* weight ascending (0 = unweighted, after the weighted), then date newest
 * first, then title, then file name so that the order is total. */
static int S_cmp_order(const void *a, const void *b)
{
    const content_page *x = &S_sort_site->pages[*(const int *)a].c;
    const content_page *y = &S_sort_site->pages[*(const int *)b].c;
    if (x->weight != y->weight) {
        if (x->weight == 0 || y->weight == 0)
            return x->weight == 0 ? 1 : -1;
        return x->weight < y->weight ? -1 : 1;
    }
    if (x->date != y->date)
        return x->date > y->date ? -1 : 1;
    int c = strcmp(x->title, y->title);
    return c ? c : strcmp(x->file, y->file);
}

static int S_cmp_sections(const void *a, const void *b)
{
    const S_list *x = a, *y = b;
    long wx = x->index_page >= 0 ? S_sort_site->pages[x->index_page].c.weight : 0;
    long wy = y->index_page >= 0 ? S_sort_site->pages[y->index_page].c.weight : 0;
    if (wx != wy) {
        if (wx == 0 || wy == 0)
            return wx == 0 ? 1 : -1;
        return wx < wy ? -1 : 1;
    }
    return strcmp(x->title, y->title);
}

static int S_cmp_tags(const void *a, const void *b)
{
    const S_list *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->slug, y->slug);
}

static pthread_mutex_t S_sort_mu = PTHREAD_MUTEX_INITIALIZER;

static void S_sort(const site *s, void *base, size_t n, size_t size,
                   int (*cmp)(const void *, const void *))
{
    if (n < 2)
        return;
    pthread_mutex_lock(&S_sort_mu);
    S_sort_site = s;
    qsort(base, n, size, cmp);
    pthread_mutex_unlock(&S_sort_mu);
}

/* Included in this build: not a draft, not future-dated (unless --drafts). */
static int S_in_build(const site *s, const content_page *c)
{
    if (s->opts.drafts)
        return 1;
    return !c->draft && !(c->date > s->now);
}

static int S_bundle_kind(S_page *p, folio_err *err);

/* URLs, sections and what each content file is. */
/* What a page is and its URL: its own business (on the build's threads). */
static int S_kind_task(void *ud, size_t i, void *tls, folio_err *err)
{
    (void)tls;
    S_page *p = &((site *)ud)->pages[i];
    return S_bundle_kind(p, err) != 0 || S_url_of(p, err) != 0 ? -1 : 0;
}

static int S_graph_kinds(site *s, folio_err *err)
{
    s->page404 = -1;
    s->home.index_page = -1;
    if (S_run(s->jobs, s->npages, S_kind_task, s, NULL, NULL, err) != 0)
        return -1;
    for (size_t i = 0; i < s->npages; i++) {
        S_page *p = &s->pages[i];
        if (*p->c.section) {
            int sec = S_section_of(s, p->c.section, err);
            if (sec < 0)
                return -1;
            p->section = sec;
        }
        if (p->c.kind == CONTENT_SECTION && strchr(p->c.file, '/') != strrchr(p->c.file, '/'))
            return err_set(err, "content/%s: a section is a folder directly in content/; "
                           "deeper folders are part of their section and have no _index.md",
                           p->c.file);
        if (p->c.kind == CONTENT_HOME)
            s->home.index_page = (int)i;
        else if (p->c.kind == CONTENT_SECTION)
            s->sections[p->section].index_page = (int)i;
        else if (!strcmp(p->c.file, "404.md"))
            s->page404 = (int)i;
        else
            p->listed = S_in_build(s, &p->c);
    }
    /* Section titles come from _index.md where there is one. */
    for (size_t i = 0; i < s->nsections; i++) {
        S_list *l = &s->sections[i];
        if (l->index_page >= 0 && *s->pages[l->index_page].c.title) {
            free(l->title);
            if (!(l->title = util_strdup(s->pages[l->index_page].c.title)))
                return err_set(err, "out of memory");
        }
    }
    return 0;
}

/* Strings to ints, open addressing kept at most half full: keys are the
 * caller's (borrowed or owned, as it says). */
typedef struct S_strmap {
    char **key;
    int *val;
    size_t n, cap;
} S_strmap;

/* Room for one more key: 0, or -1 (out of memory; m as it was). */
static int S_strmap_room(S_strmap *m)
{
    if ((m->n + 1) * 2 <= m->cap)
        return 0;
    size_t cap = m->cap ? m->cap * 2 : 256;
    char **nk = calloc(cap, sizeof *nk);
    int *nv = calloc(cap, sizeof *nv);
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->key[i])
            continue;
        size_t k = S_hash(m->key[i]) & (cap - 1);
        while (nk[k])
            k = (k + 1) & (cap - 1);
        nk[k] = m->key[i];
        nv[k] = m->val[i];
    }
    free(m->key);
    free(m->val);
    m->key = nk;
    m->val = nv;
    m->cap = cap;
    return 0;
}

/* key's value, or NULL and where it would go (*slot; after S_strmap_room). */
static int *S_strmap_find(const S_strmap *m, const char *key, size_t *slot)
{
    size_t k = S_hash(key) & (m->cap - 1);
    for (; m->key[k]; k = (k + 1) & (m->cap - 1))
        if (!strcmp(m->key[k], key))
            return &m->val[k];
    *slot = k;
    return NULL;
}

/* Tags by the name pages give them (most pages name tags that others
 * named before, in the same spelling: no slug made for each). The names
 * are the pages' own. */
static int S_tag_named(site *s, S_strmap *t, const char *name, folio_err *err)
{
    size_t k = 0;
    int room = S_strmap_room(t) == 0;
    const int *known = room ? S_strmap_find(t, name, &k) : NULL;
    if (known)
        return *known;
    int tg = S_tag_of(s, name, err);
    if (tg >= 0 && room) { /* out of memory: found, not remembered */
        t->key[k] = (char *)name;
        t->val[k] = tg;
        t->n++;
    }
    return tg;
}

/* The order, and the lists of the home page, the sections and the tags. */
static int S_graph_lists(site *s, folio_err *err)
{
    s->order = calloc(s->npages ? s->npages : 1, sizeof *s->order);
    if (!s->order)
        return err_set(err, "out of memory");
    for (size_t i = 0; i < s->npages; i++)
        /* unlisted: true renders the page but keeps it out of lists, tags,
         * feeds and the sitemap (a thanks page, say). */
        if (s->pages[i].listed &&
            !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s->pages[i].c.params, "unlisted")))
            s->order[s->norder++] = (int)i;
    S_sort(s, s->order, s->norder, sizeof *s->order, S_cmp_order);
    /* Sorting sections renumbers them: remember names, then re-resolve. */
    S_sort(s, s->sections, s->nsections, sizeof *s->sections, S_cmp_sections);
    int last = -1; /* pages come by path: mostly the previous page's */
    for (size_t i = 0; i < s->npages; i++) {
        S_page *p = &s->pages[i];
        if (!*p->c.section)
            continue;
        if (last >= 0 && !strcmp(s->sections[last].name, p->c.section)) {
            p->section = last;
            continue;
        }
        for (size_t k = 0; k < s->nsections; k++)
            if (!strcmp(s->sections[k].name, p->c.section))
                p->section = last = (int)k;
    }
    S_strmap names = {0};
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < s->norder; k++) {
        int i = s->order[k];
        S_page *p = &s->pages[i];
        if (S_list_add(&s->home, i) != 0 ||
            (p->section >= 0 && S_list_add(&s->sections[p->section], i) != 0) ||
            (p->c.ntags && !(p->tagidx = calloc(p->c.ntags, sizeof *p->tagidx)))) {
            rc = err_set(err, "out of memory");
            break;
        }
        for (size_t t = 0; t < p->c.ntags; t++) {
            int tg = S_tag_named(s, &names, p->c.tags[t], err);
            if (tg < 0) {
                rc = -1;
                break;
            }
            p->tagidx[t] = tg;
            S_list *l = &s->tags[tg];
            /* a page naming one tag twice is listed once */
            if ((!l->n || l->pages[l->n - 1] != i) && S_list_add(l, i) != 0) {
                rc = err_set(err, "out of memory");
                break;
            }
        }
    }
    free(names.key);
    free(names.val);
    return rc;
}

/* Tags most used first; pages keep indices, so map old to new. */
static int S_graph_tags(site *s, folio_err *err)
{
    free(s->taghash); /* indices change now */
    s->taghash = NULL;
    s->taghcap = 0;
    int *map = calloc(s->ntags ? s->ntags : 1, sizeof *map);
    if (!map)
        return err_set(err, "out of memory");
    S_sort(s, s->tags, s->ntags, sizeof *s->tags, S_cmp_tags);
    for (size_t k = 0; k < s->ntags; k++)
        map[s->tags[k].orig] = (int)k;
    for (size_t i = 0; i < s->npages; i++)
        for (size_t t = 0; s->pages[i].tagidx && t < s->pages[i].c.ntags; t++)
            s->pages[i].tagidx[t] = map[s->pages[i].tagidx[t]];
    free(map);
    return 0;
}

static int S_graph(site *s, folio_err *err)
{
    if (S_graph_kinds(s, err) != 0 || S_graph_lists(s, err) != 0 ||
        S_graph_tags(s, err) != 0)
        return -1;
    /* prev/next within the section's order */
    for (size_t k = 0; k < s->nsections; k++) {
        S_list *l = &s->sections[k];
        for (size_t j = 0; j < l->n; j++) {
            S_page *p = &s->pages[l->pages[j]];
            p->prev = j > 0 ? l->pages[j - 1] : -1;
            p->next = j + 1 < l->n ? l->pages[j + 1] : -1;
        }
    }
    return 0;
}

/* ---- templates --------------------------------------------------------- */

/* LAYOUT, SECTION/KIND, KIND, default. */
static int S_pick(site *s, const char *file, const char *layout, const char *section,
                  const char *kind, const tpl **out, folio_err *err)
{
    *out = NULL;
    if (layout) {
        if (!(*out = tpl_set_get(s->tpls, layout)))
            return err_set(err, "%s: unknown layout '%s' (no templates/%s.mustache)",
                           file, layout, layout);
        return 0;
    }
    char name[512];
    if (section && *section) {
        snprintf(name, sizeof name, "%s/%s", section, kind);
        if ((*out = tpl_set_get(s->tpls, name)))
            return 0;
    }
    if ((*out = tpl_set_get(s->tpls, kind)) || (*out = tpl_set_get(s->tpls, "default")))
        return 0;
    return err_set(err, "%s: no template for a %s page (templates/%s.mustache or "
                   "templates/default.mustache)", file, kind, kind);
}

/* The templates are read and compiled on a thread of their own while the
 * page graph is made (they do not depend on each other). */
typedef struct S_tplload {
    pthread_t th;
    int started, joined;
    const char *dirs[2];
    size_t nd;
    tpl_set *set;
    folio_err err;
} S_tplload;

static void *S_tplload_main(void *arg)
{
    S_tplload *t = arg;
    t->set = tpl_set_load_dirs(t->dirs, t->nd, &t->err);
    return NULL;
}

static void S_tplload_start(site *s, S_tplload *t)
{
    memset(t, 0, sizeof *t);
    t->nd = theme_dirs(&s->theme, s->cfg, "templates", t->dirs);
    t->started = pthread_create(&t->th, NULL, S_tplload_main, t) == 0;
    if (!t->started)
        S_tplload_main(t);
}

/* The loaded set (moved to *set), or NULL with err set. */
static void S_tplload_join(S_tplload *t, tpl_set **set, folio_err *err)
{
    if (t->started && !t->joined)
        pthread_join(t->th, NULL);
    t->joined = 1;
    *set = t->set;
    t->set = NULL;
    if (!*set && err)
        *err = t->err;
}

static int S_templates(site *s, S_tplload *tl, folio_err *err)
{
    S_tplload_join(tl, &s->tpls, err);
    if (!s->tpls)
        return -1;
    /* pages of a section without a layout of their own share one pick */
    const char *lsec = NULL, *lkind = NULL;
    const tpl *last = NULL;
    for (size_t i = 0; i < s->npages; i++) {
        S_page *p = &s->pages[i];
        const char *kind = p->c.kind == CONTENT_HOME ? "home"
                         : p->c.kind == CONTENT_SECTION ? "section"
                         : (int)i == s->page404 ? "404" : "page";
        if (p->c.kind == CONTENT_PAGE && !p->listed && (int)i != s->page404)
            continue;
        if (!p->c.layout && last && lkind == kind && p->c.section && lsec &&
            !strcmp(lsec, p->c.section)) {
            p->tpl = last;
            continue;
        }
        char file[PATH_MAX];
        snprintf(file, sizeof file, "content/%s", p->c.file);
        if (S_pick(s, file, p->c.layout, p->c.section, kind, &p->tpl, err) != 0)
            return -1;
        if (!p->c.layout) {
            lsec = p->c.section;
            lkind = kind;
            last = p->tpl;
        }
    }
    for (size_t k = 0; k < s->nsections; k++) {
        S_list *l = &s->sections[k];
        if (l->index_page >= 0)
            l->tpl = s->pages[l->index_page].tpl;
        else if (S_pick(s, l->url, NULL, l->name, "section", &l->tpl, err) != 0)
            return -1;
    }
    if (s->home.index_page >= 0)
        s->tpl_home = s->pages[s->home.index_page].tpl;
    else if (S_pick(s, "/", NULL, NULL, "home", &s->tpl_home, err) != 0)
        return -1;
    if (s->ntags && (S_pick(s, "/tags/", NULL, NULL, "terms", &s->tpl_terms, err) != 0 ||
                     S_pick(s, "/tags/", NULL, NULL, "taxonomy", &s->tags[0].tpl, err) != 0))
        return -1;
    for (size_t t = 1; t < s->ntags; t++)
        s->tags[t].tpl = s->tags[0].tpl;
    if (s->page404 >= 0)
        s->tpl_404 = s->pages[s->page404].tpl;
    else
        s->tpl_404 = tpl_set_get(s->tpls, "404") ? tpl_set_get(s->tpls, "404")
                                                 : tpl_set_get(s->tpls, "default");
    s->tpl_error = tpl_set_get(s->tpls, "error") ? tpl_set_get(s->tpls, "error")
                                                 : s->tpl_404;
    return 0;
}

/* Every URL has one owner. */
static int S_claim(site *s, folio_err *err)
{
    buf b = BUF_INIT;
    int rc = -1;
    for (size_t i = 0; i < s->npages; i++) {
        S_page *p = &s->pages[i];
        if (p->c.kind != CONTENT_PAGE || (!p->listed && (int)i != s->page404))
            continue;
        S_job j = {(int)i == s->page404 ? T_404 : T_PAGE, (int)i, 1};
        if (S_url_put(s, p->url, j, err) != 0)
            goto done;
        for (size_t a = 0; a < p->c.naliases; a++) {
            S_job ja = {T_ALIAS, (int)i, (int)a};
            buf_reset(&b);
            const char *al = p->c.aliases[a];
            size_t n = strlen(al);
            /* "/old" and "/old/" are one place; "/old.html" is a file */
            if (buf_puts(&b, al) != 0 ||
                (al[n - 1] != '/' && !strchr(strrchr(al, '/'), '.') && buf_putc(&b, '/') != 0)) {
                err_set(err, "out of memory");
                goto done;
            }
            if (S_url_put(s, b.ptr, ja, err) != 0)
                goto done;
        }
    }
    if (s->page404 < 0 && s->tpl_404) {
        S_job j = {T_404, -1, 1};
        if (S_url_put(s, "/404.html", j, err) != 0)
            goto done;
    }
    struct { S_list *l; size_t n; enum S_type t; } lists[] = {
        {&s->home, 1, T_HOME}, {s->sections, s->nsections, T_SECTION},
        {s->tags, s->ntags, T_TAXONOMY}};
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; i < lists[k].n; i++) {
            S_list *l = &lists[k].l[i];
            const char *url = lists[k].t == T_HOME ? "/" : l->url;
            int np = S_npages(l->n, S_list_per(s, l));
            for (int pg = 1; pg <= np; pg++) {
                S_job j = {lists[k].t, (int)i, pg};
                if (S_page_url(&b, url, pg) != 0) {
                    err_set(err, "out of memory");
                    goto done;
                }
                if (S_url_put(s, b.ptr, j, err) != 0)
                    goto done;
            }
        }
    }
    if (s->ntags) {
        S_job j = {T_TERMS, 0, 1};
        if (S_url_put(s, "/tags/", j, err) != 0)
            goto done;
    }
    rc = 0;
done:
    buf_free(&b);
    return rc;
}

/* paginate_data: NAME.PATH */
static int S_data_params(site *s, folio_err *err)
{
    for (size_t i = 0; i < s->npages; i++) {
        S_page *p = &s->pages[i];
        const cJSON *pd = cJSON_GetObjectItemCaseSensitive(p->c.params, "paginate_data");
        if (!pd)
            continue;
        if (!cJSON_IsString(pd) || !*pd->valuestring)
            return err_set(err, "content/%s: paginate_data: expected NAME.PATH", p->c.file);
        const char *dot = strchr(pd->valuestring, '.');
        size_t n = dot ? (size_t)(dot - pd->valuestring) : strlen(pd->valuestring);
        if (!(p->data_name = util_strndup(pd->valuestring, n)) ||
            !(p->data_path = util_strdup(dot ? dot + 1 : "")) ||
            !(p->data_list = util_strdup(pd->valuestring)))
            return err_set(err, "out of memory");
    }
    return 0;
}

/* ---- the "site" context value ----------------------------------------- */

static cJSON *S_page_obj(site *s, int i, const char *content);
static int S_cover_add(site *s, int i, cJSON *o);
static int S_jsonld(site *s, cJSON *ctx);
static int S_cover_path(const site *s, const S_page *p, char *path, size_t n);
static int S_img_rewrite(site *s, const S_page *p, int has_cover, char **html,
                         folio_err *err);

static int S_add_list_obj(cJSON *arr, cJSON *o)
{
    if (!o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return -1;
    }
    return 0;
}

static cJSON *S_tags_array(const site *s)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t t = 0; a && t < s->ntags; t++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "name", s->tags[t].name) ||
            !cJSON_AddStringToObject(o, "slug", s->tags[t].slug) ||
            !cJSON_AddStringToObject(o, "url", s->tags[t].url) ||
            !cJSON_AddNumberToObject(o, "count", (double)s->tags[t].n) ||
            S_add_list_obj(a, o) != 0) {
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

static int S_site_base(site *s)
{
    const folio_config *c = s->cfg;
    cJSON *o = cJSON_CreateObject();
    s->site_base = o;
    if (!o || !cJSON_AddStringToObject(o, "title", c->title) ||
        !cJSON_AddStringToObject(o, "base_url", c->base_url) ||
        !cJSON_AddStringToObject(o, "author", c->author) ||
        !cJSON_AddStringToObject(o, "language", c->language) ||
        !cJSON_AddStringToObject(o, "description", c->description) ||
        !cJSON_AddItemToObject(o, "params", cJSON_Duplicate(s->theme.params, 1)) ||
        !cJSON_AddStringToObject(o, "dir", s->theme.rtl ? "rtl" : "ltr") ||
        !cJSON_AddItemToObject(o, "social", cJSON_Duplicate(s->theme.social, 1)) ||
        !cJSON_AddBoolToObject(o, "has_social", cJSON_GetArraySize(s->theme.social) > 0))
        return -1;
    time_t now = (time_t)(s->now / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    if (!cJSON_AddNumberToObject(o, "year", tm.tm_year + 1900))
        return -1;
    cJSON *secs = cJSON_AddArrayToObject(o, "sections");
    for (size_t k = 0; secs && k < s->nsections; k++) {
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddStringToObject(e, "name", s->sections[k].name) ||
            !cJSON_AddStringToObject(e, "title", s->sections[k].title) ||
            !cJSON_AddStringToObject(e, "url", s->sections[k].url) ||
            !cJSON_AddNumberToObject(e, "count", (double)s->sections[k].n) ||
            S_add_list_obj(secs, e) != 0) {
            cJSON_Delete(e);
            return -1;
        }
    }
    cJSON *tags = S_tags_array(s);
    if (!secs || !tags || !cJSON_AddItemToObject(o, "tags", tags)) {
        cJSON_Delete(tags);
        return -1;
    }
    cJSON *recent = cJSON_AddArrayToObject(o, "recent");
    if (!recent)
        return -1;
    /* the newest by date, whatever their weight */
    int best[S_RECENT];
    size_t nb = 0;
    for (size_t k = 0; k < s->norder; k++) {
        int i = s->order[k];
        long long d = s->pages[i].c.date;
        size_t pos = nb;
        while (pos > 0 && s->pages[best[pos - 1]].c.date < d)
            pos--;
        if (pos >= S_RECENT)
            continue;
        if (nb < S_RECENT)
            nb++;
        memmove(best + pos + 1, best + pos, (nb - 1 - pos) * sizeof *best);
        best[pos] = i;
    }
    for (size_t k = 0; k < nb; k++)
        if (S_add_list_obj(recent, S_page_obj(s, best[k], NULL)) != 0)
            return -1;
    memcpy(s->recent, best, nb * sizeof *best);
    s->nrecent = (int)nb;
    cJSON *feat = cJSON_AddArrayToObject(o, "featured");
    if (!feat)
        return -1;
    for (size_t k = 0; k < s->norder; k++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(s->pages[s->order[k]].c.params,
                                                          "featured");
        if (!cJSON_IsTrue(f))
            continue;
        if (S_add_list_obj(feat, S_page_obj(s, s->order[k], NULL)) != 0)
            return -1;
        if (!s->featured && !(s->featured = calloc(s->norder, sizeof *s->featured)))
            return -1;
        s->featured[s->nfeatured++] = s->order[k];
    }
    const cJSON *menu = cJSON_GetObjectItemCaseSensitive(c->raw, "menu");
    if (cJSON_IsArray(menu) && !(s->menu = cJSON_Duplicate(menu, 1)))
        return -1;
    return 0;
}

/* Which menu item is active for a page: its URL or its section's. */
static int S_menu_active(const site *s, const char *url, const char *section)
{
    int k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, s->menu) {
        const char *u = cJSON_GetObjectItemCaseSensitive(it, "url")->valuestring;
        size_t n = strlen(section);
        if (!strcmp(u, url) ||
            (n && u[0] == '/' && !strncmp(u + 1, section, n) && !strcmp(u + 1 + n, "/")))
            return k < 64 ? k : -1;
        k++;
    }
    return -1;
}

/* The site value for a page whose menu item `active` is highlighted. */
static const cJSON *S_site_variant(site *s, int active)
{
    pthread_mutex_lock(&s->mu);
    cJSON *v = s->variants[active + 1];
    if (!v) {
        int paused = jarena_pause(); /* kept for the whole build */
        v = cJSON_Duplicate(s->site_base, 1);
        cJSON *m = cJSON_CreateArray();
        if (v && m && cJSON_AddItemToObject(v, "menu", m)) {
            int k = 0;
            const cJSON *it;
            cJSON_ArrayForEach(it, s->menu) {
                cJSON *e = cJSON_Duplicate(it, 1);
                if (!e || !cJSON_AddBoolToObject(e, "active", k == active) ||
                    !cJSON_AddItemToArray(m, e)) {
                    cJSON_Delete(e);
                    break;
                }
                k++;
            }
        } else {
            cJSON_Delete(m);
        }
        s->variants[active + 1] = v;
        jarena_resume(paused);
    }
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* ---- page values -------------------------------------------------------- */

/* Words and summary need the Markdown; lists ask before the page itself
 * may have been rendered (in folio-fcgi), so this is done once on demand. */
static int S_render_md(site *s, S_page *p, char **html, folio_err *err);

static int S_meta(site *s, int i, folio_err *err)
{
    S_page *p = &s->pages[i];
    if (atomic_load(&p->meta))
        return 0;
    return S_render_md(s, p, NULL, err);
}

static int S_page_tags(const site *s, const S_page *p, cJSON *o)
{
    cJSON *tags = cJSON_CreateArray();
    if (S_put(o, "tags", tags) != 0)
        return -1;
    for (size_t t = 0; p->tagidx && t < p->c.ntags; t++) {
        const S_list *l = &s->tags[p->tagidx[t]];
        cJSON *e = cJSON_CreateObject();
        if (!e || S_put(e, "name", S_ref(p->c.tags[t])) || S_put(e, "slug", S_ref(l->slug)) ||
            S_put(e, "url", S_ref(l->url)) || S_add_list_obj(tags, e) != 0) {
            cJSON_Delete(e);
            return -1;
        }
    }
    return 0;
}

static int S_link(cJSON *o, const char *key, const S_page *p)
{
    cJSON *l = cJSON_CreateObject();
    return S_put(o, key, l) || S_put(l, "title", S_ref(p->c.title)) ||
           S_put(l, "url", S_ref(p->url)) ? -1 : 0;
}

static const char *const S_date_keys[3] = {"date", "date_long", "date_iso"};
static const char *const S_lastmod_keys[3] = {"lastmod", "lastmod_long", "lastmod_iso"};

/* A PAGE value; content is the page's HTML or NULL in lists. */
static cJSON *S_page_obj(site *s, int i, const char *content)
{
    S_page *p = &s->pages[i];
    const char *kind = p->c.kind == CONTENT_HOME ? "home"
                     : p->c.kind == CONTENT_SECTION ? "section"
                     : i == s->page404 ? "404" : "page";
    cJSON *o = cJSON_CreateObject();
    char *perma = S_permalink(s, p->url);
    int ok = o && perma && !S_put(o, "title", S_ref(p->c.title)) &&
             !S_put(o, "kind", S_ref(kind)) && !S_put(o, "url", S_ref(p->url)) &&
             !S_put(o, "permalink", cJSON_CreateString(perma)) &&
             !S_put(o, "section", S_ref(p->c.section)) &&
             (p->c.date < 0 || S_add_dates(s, o, S_date_keys, p->c.date) == 0) &&
             (p->c.lastmod < 0 || S_add_dates(s, o, S_lastmod_keys, p->c.lastmod) == 0) &&
             (!content || !S_put(o, "content", cJSON_CreateString(content))) &&
             S_page_tags(s, p, o) == 0 &&
             !S_put(o, "params", cJSON_Duplicate(p->c.params, 1)) &&
             (!p->c.draft || !S_put(o, "draft", cJSON_CreateTrue())) &&
             (p->prev < 0 || S_link(o, "prev", &s->pages[p->prev]) == 0) &&
             (p->next < 0 || S_link(o, "next", &s->pages[p->next]) == 0) &&
             S_cover_add(s, i, o) == 0;
    free(perma);
    if (ok && p->c.kind == CONTENT_PAGE) {
        folio_err err;
        if (S_meta(s, i, &err) != 0) {
            ok = 0;
        } else {
            ok = !S_put(o, "summary", S_ref(p->c.summary ? p->c.summary : "")) &&
                 !S_put(o, "words", cJSON_CreateNumber(p->words)) &&
                 !S_put(o, "reading_minutes",
                        cJSON_CreateNumber(content_reading_minutes(p->words)));
        }
    } else if (ok) {
        ok = !S_put(o, "summary", S_ref(p->c.summary ? p->c.summary : ""));
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- what an output was made from ------------------------------------------
 *
 * An incremental build renders an output again only when its fingerprint
 * changed: a hash of every value its render could have read, computed
 * without rendering. Which values those are is recorded while rendering:
 * the templates it used (the page's, its parents and partials). A value is
 * read through a name, so a template that never names `summary` cannot
 * show one: the fingerprint leaves out the groups of fields that no
 * template of the output names. The names are taken from the template
 * sources; one that changes its delimiters ({{=...=}}) counts as naming
 * everything. Data from the event store is not fingerprinted: an output
 * that read some is rendered every time. */

enum {
    S_G_TITLE = 1u << 0, S_G_KIND = 1u << 1, S_G_SECTION = 1u << 2, S_G_DATE = 1u << 3,
    S_G_LASTMOD = 1u << 4, S_G_TAGS = 1u << 5, S_G_PARAMS = 1u << 6, S_G_DRAFT = 1u << 7,
    S_G_PREV = 1u << 8, S_G_NEXT = 1u << 9, S_G_SUMMARY = 1u << 10, S_G_WORDS = 1u << 11,
    S_G_MINUTES = 1u << 12, S_G_YEAR = 1u << 13, S_G_SECTIONS = 1u << 14,
    S_G_RECENT = 1u << 15, S_G_FEATURED = 1u << 16, S_G_ALL = (1u << 17) - 1
};

static const struct { const char *name; unsigned g; } S_groups[] = {
    {"title", S_G_TITLE}, {"kind", S_G_KIND}, {"section", S_G_SECTION},
    {"date", S_G_DATE}, {"date_long", S_G_DATE}, {"date_iso", S_G_DATE},
    {"lastmod", S_G_LASTMOD}, {"lastmod_long", S_G_LASTMOD}, {"lastmod_iso", S_G_LASTMOD},
    {"tags", S_G_TAGS}, {"params", S_G_PARAMS}, {"draft", S_G_DRAFT}, {"prev", S_G_PREV},
    {"next", S_G_NEXT}, {"summary", S_G_SUMMARY}, {"words", S_G_WORDS},
    {"reading_minutes", S_G_MINUTES}, {"year", S_G_YEAR}, {"sections", S_G_SECTIONS},
    {"recent", S_G_RECENT}, {"featured", S_G_FEATURED},
    {"cover", S_G_PARAMS}}; /* a cover comes from params (and its image: ahash) */

/* The groups the names in a template's tags belong to. */
static unsigned S_tpl_mask(const char *src, size_t len)
{
    unsigned m = 0;
    const char *p = src, *end = src + len;
    while ((p = memmem(p, (size_t)(end - p), "{{", 2)) != NULL) {
        p += 2;
        if (p >= end)
            break;
        if (*p == '=')
            return S_G_ALL;
        const char *close = memmem(p, (size_t)(end - p), "}}", 2);
        if (!close)
            close = end;
        while (p < close) {
            while (p < close && !(isalnum((unsigned char)*p) || *p == '_'))
                p++;
            const char *w = p;
            while (p < close && (isalnum((unsigned char)*p) || *p == '_'))
                p++;
            for (size_t k = 0; p > w && k < sizeof S_groups / sizeof S_groups[0]; k++)
                if (strlen(S_groups[k].name) == (size_t)(p - w) &&
                    !memcmp(S_groups[k].name, w, (size_t)(p - w)))
                    m |= S_groups[k].g;
        }
        p = close;
    }
    return m;
}

static void S_files_free(S_files *f);

/* Names, hashes and groups of the templates the set was loaded from. */
static int S_tpl_scan(site *s, folio_err *err)
{
    S_files f = {0};
    const char *dirs[2];
    size_t nd = theme_dirs(&s->theme, s->cfg, "templates", dirs);
    for (size_t k = 0; k < nd; k++)
        if (S_walk(dirs[k], "", ".mustache", &f, 0, err) != 0) {
            S_files_free(&f);
            return -1;
        }
    if (f.n > 1)
        qsort(f.v, f.n, sizeof *f.v, S_cmp_str);
    /* a name in both the site and its theme is the site's file, once */
    size_t uniq = 0;
    for (size_t k = 0; k < f.n; k++) {
        if (uniq && !strcmp(f.v[uniq - 1], f.v[k])) {
            free(f.v[k]);
            continue;
        }
        f.v[uniq++] = f.v[k];
    }
    f.n = uniq;
    int rc = 0;
    if (!(s->tinfo = calloc(f.n + 1, sizeof *s->tinfo)))
        rc = err_set(err, "out of memory");
    for (size_t i = 0; rc == 0 && i < f.n; i++) {
        char path[PATH_MAX], *src;
        size_t len;
        if (!theme_file(&s->theme, s->cfg, "templates", f.v[i], path, sizeof path) ||
            util_read_file(path, &src, &len, err) != 0) {
            rc = -1;
            break;
        }
        S_tinfo *ti = &s->tinfo[s->ntinfo++];
        if (anchors_scan(src, len, &s->tpl_ids) != 0)
            rc = err_set(err, "out of memory");
        S_hash_bytes(ti->hash, src, len);
        ti->mask = S_tpl_mask(src, len);
        free(src);
        ti->name = util_strndup(f.v[i], strlen(f.v[i]) - strlen(".mustache"));
        if (!ti->name)
            rc = err_set(err, "out of memory");
        else
            ti->t = tpl_set_get(s->tpls, ti->name);
    }
    S_files_free(&f);
    return rc;
}

static int S_tinfo_of(const site *s, const tpl *t)
{
    for (size_t i = 0; t && i < s->ntinfo; i++)
        if (s->tinfo[i].t == t)
            return (int)i;
    return -1;
}

static void S_tset_add(S_tset *ts, int idx)
{
    if (idx < 0 || idx >= 64 * S_TSET_WORDS)
        ts->valid = 0; /* unknown to this build: never trusted */
    else
        ts->bits[idx / 64] |= 1ULL << (idx % 64);
}

static unsigned S_tset_mask(const site *s, const S_tset *ts)
{
    unsigned m = 0;
    for (size_t i = 0; i < s->ntinfo && i < 64 * S_TSET_WORDS; i++)
        if (ts->bits[i / 64] >> (i % 64) & 1)
            m |= s->tinfo[i].mask;
    return m;
}

/* This process's index of a set of templates. */
static int S_tset_intern(site *s, const S_tset *ts)
{
    pthread_mutex_lock(&s->mu);
    int found = -1;
    for (size_t i = 0; i < s->nsets && found < 0; i++)
        if (!memcmp(s->sets[i].bits, ts->bits, sizeof ts->bits))
            found = (int)i;
    if (found < 0 && s->nsets == s->setcap) {
        size_t cap = s->setcap ? s->setcap * 2 : 16;
        S_tset *nv = realloc(s->sets, cap * sizeof *nv);
        if (nv) {
            s->sets = nv;
            s->setcap = cap;
        }
    }
    if (found < 0 && s->nsets < s->setcap) {
        s->sets[s->nsets] = *ts;
        s->sets[s->nsets].mask = S_tset_mask(s, ts);
        found = (int)s->nsets++;
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

/* Inputs are written length-first, so that no two differ only in framing. */
static int S_fp_str(buf *b, const char *str)
{
    size_t n = str ? strlen(str) : (size_t)-1;
    return buf_add(b, (const char *)&n, sizeof n) || (str && buf_add(b, str, n)) ? -1 : 0;
}

static int S_fp_num(buf *b, long long v)
{
    return buf_add(b, (const char *)&v, sizeof v);
}

static int S_fp_link(buf *b, const site *s, int i)
{
    return i < 0 ? S_fp_str(b, NULL)
                 : S_fp_str(b, s->pages[i].c.title) || S_fp_str(b, s->pages[i].url);
}

static int S_fp_item_fields(site *s, buf *b, int i, unsigned m);

/* A page as a list shows it (S_page_obj without content): its fields are
 * hashed once per set of groups, as it is in several lists. */
static int S_fp_item(site *s, buf *b, int i, unsigned m)
{
    S_page *p = &s->pages[i];
    unsigned char h[BSTATE_HASH];
    pthread_mutex_lock(&s->mu);
    int known = p->item_known && p->item_mask == m;
    if (known)
        memcpy(h, p->item_fp, sizeof h);
    pthread_mutex_unlock(&s->mu);
    if (!known) {
        buf tmp = BUF_INIT;
        int rc = S_fp_item_fields(s, &tmp, i, m);
        if (rc == 0)
            S_hash_bytes(h, tmp.ptr, tmp.len);
        buf_free(&tmp);
        if (rc != 0)
            return -1;
        pthread_mutex_lock(&s->mu);
        memcpy(p->item_fp, h, sizeof h);
        p->item_mask = m;
        p->item_known = 1;
        pthread_mutex_unlock(&s->mu);
    }
    return buf_add(b, (const char *)h, sizeof h);
}

static int S_fp_item_fields(site *s, buf *b, int i, unsigned m)
{
    S_page *p = &s->pages[i];
    int rc = S_fp_str(b, p->url);
    if (rc == 0 && (m & S_G_TITLE))
        rc = S_fp_str(b, p->c.title);
    if (rc == 0 && (m & S_G_KIND))
        rc = S_fp_num(b, (long long)p->c.kind * 2 + (i == s->page404));
    if (rc == 0 && (m & S_G_SECTION))
        rc = S_fp_str(b, p->c.section);
    if (rc == 0 && (m & S_G_DATE))
        rc = S_fp_num(b, p->c.date);
    if (rc == 0 && (m & S_G_LASTMOD))
        rc = S_fp_num(b, p->c.lastmod);
    for (size_t t = 0; rc == 0 && (m & S_G_TAGS) && t < p->c.ntags; t++)
        rc = S_fp_str(b, p->c.tags[t]) ||
             S_fp_str(b, p->tagidx ? s->tags[p->tagidx[t]].slug : NULL);
    if (rc == 0 && (m & S_G_PARAMS))
        rc = buf_add(b, (const char *)p->phash, BSTATE_HASH) ||
             buf_add(b, (const char *)p->ahash, BSTATE_HASH);
    if (rc == 0 && (m & S_G_DRAFT))
        rc = S_fp_num(b, p->c.draft);
    if (rc == 0 && (m & S_G_PREV))
        rc = S_fp_link(b, s, p->prev);
    if (rc == 0 && (m & S_G_NEXT))
        rc = S_fp_link(b, s, p->next);
    if (rc == 0 && (m & (S_G_SUMMARY | S_G_WORDS | S_G_MINUTES))) {
        folio_err e;
        if (S_meta(s, i, &e) != 0)
            return -1;
        if (m & S_G_SUMMARY)
            rc = S_fp_str(b, p->c.summary);
        if (rc == 0 && (m & S_G_WORDS))
            rc = S_fp_num(b, p->words);
        if (rc == 0 && (m & S_G_MINUTES))
            rc = S_fp_num(b, content_reading_minutes(p->words));
    }
    return rc;
}

static int S_fp_list_meta(buf *b, const S_list *l)
{
    return S_fp_str(b, l->name) || S_fp_str(b, l->title) || S_fp_str(b, l->slug) ||
           S_fp_str(b, l->url) || S_fp_num(b, (long long)l->n);
}

/* The part of the "site" value a set of templates can read. */
static int S_fp_site(site *s, unsigned m, unsigned char out[BSTATE_HASH])
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nsitefp; i++)
        if (s->sitefp[i].mask == m) {
            memcpy(out, s->sitefp[i].fp, BSTATE_HASH);
            pthread_mutex_unlock(&s->mu);
            return 0;
        }
    pthread_mutex_unlock(&s->mu);
    buf b = BUF_INIT;
    int rc = S_fp_num(&b, m);
    if (rc == 0 && (m & S_G_YEAR)) {
        time_t now = (time_t)(s->now / 1000);
        struct tm tm;
        rc = !gmtime_r(&now, &tm) || S_fp_num(&b, tm.tm_year);
    }
    for (size_t k = 0; rc == 0 && (m & S_G_SECTIONS) && k < s->nsections; k++)
        rc = S_fp_list_meta(&b, &s->sections[k]);
    for (size_t k = 0; rc == 0 && (m & S_G_TAGS) && k < s->ntags; k++)
        rc = S_fp_list_meta(&b, &s->tags[k]);
    for (int k = 0; rc == 0 && (m & S_G_RECENT) && k < s->nrecent; k++)
        rc = S_fp_item(s, &b, s->recent[k], m);
    for (size_t k = 0; rc == 0 && (m & S_G_FEATURED) && k < s->nfeatured; k++)
        rc = S_fp_item(s, &b, s->featured[k], m);
    if (rc == 0)
        S_hash_bytes(out, b.ptr, b.len);
    buf_free(&b);
    if (rc != 0)
        return -1;
    pthread_mutex_lock(&s->mu);
    if (s->nsitefp < sizeof s->sitefp / sizeof s->sitefp[0]) {
        s->sitefp[s->nsitefp].mask = m;
        memcpy(s->sitefp[s->nsitefp++].fp, out, BSTATE_HASH);
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* The fingerprint of one job's output under the groups m. */
static int S_fp_job(site *s, const S_job *j, unsigned m, unsigned char out[BSTATE_HASH])
{
    unsigned char sp[BSTATE_HASH];
    if (S_fp_site(s, m, sp) != 0)
        return -1;
    buf b = BUF_INIT;
    int rc = S_fp_num(&b, j->type) || S_fp_num(&b, j->pageno) || buf_add(&b, (char *)sp, sizeof sp);
    const S_list *l = NULL;
    switch (j->type) {
    case T_PAGE:
    case T_404:
        if (rc == 0 && j->idx >= 0) {
            const S_page *p = &s->pages[j->idx];
            rc = S_fp_str(&b, p->url) || buf_add(&b, (const char *)p->hash, BSTATE_HASH) ||
                 buf_add(&b, (const char *)p->ahash, BSTATE_HASH) ||
                 S_fp_num(&b, j->idx == s->page404);
            for (size_t t = 0; rc == 0 && p->tagidx && t < p->c.ntags; t++)
                rc = S_fp_str(&b, s->tags[p->tagidx[t]].slug);
            if (rc == 0 && (m & S_G_PREV))
                rc = S_fp_link(&b, s, p->prev);
            if (rc == 0 && (m & S_G_NEXT))
                rc = S_fp_link(&b, s, p->next);
        }
        break;
    case T_HOME: l = &s->home; break;
    case T_SECTION: l = &s->sections[j->idx]; break;
    case T_TAXONOMY: l = &s->tags[j->idx]; break;
    case T_TERMS:
        for (size_t k = 0; rc == 0 && k < s->ntags; k++)
            rc = S_fp_list_meta(&b, &s->tags[k]);
        break;
    case T_ALIAS:
    case T_ERROR: /* an error page is never written to a tree */
        rc = -1; /* always written */
        break;
    }
    if (rc == 0 && l) {
        int per = S_list_per(s, l);
        rc = S_fp_list_meta(&b, l) || S_fp_num(&b, per);
        if (rc == 0 && l->index_page >= 0)
            rc = buf_add(&b, (const char *)s->pages[l->index_page].hash, BSTATE_HASH) ||
                 buf_add(&b, (const char *)s->pages[l->index_page].ahash, BSTATE_HASH);
        size_t from = (size_t)(j->pageno - 1) * (size_t)per;
        for (size_t k = from; rc == 0 && k < l->n && k < from + (size_t)per; k++)
            rc = S_fp_item(s, &b, l->pages[k], m);
    }
    if (rc == 0)
        S_hash_bytes(out, b.ptr, b.len);
    buf_free(&b);
    return rc;
}

/* An incremental build's bookkeeping: the fingerprints the tree was last
 * built with, and this build's. */
struct S_inc {
    int on;             /* the tree's state can be trusted */
    int fast;           /* same page graph: only outputs showing dirty pages can differ */
    unsigned char *dirty; /* per page: its bytes differ from those the tree was built from */
    unsigned char *taken; /* per old output: this build's list shares its entry (S_prune) */
    bstate old;         /* its outputs, and its template sets by name */
    S_tset *oldsets;    /* old.sets in this process's template numbers */
    atomic_int *oldset_at; /* each one's index in s->sets once interned, or -1 */
    size_t *map;        /* path -> old.outs index + 1, open addressing */
    size_t mapcap;
    pthread_mutex_t mu;
    bstate_out *outs;   /* this build's */
    size_t nouts, cap;
};

static const bstate_out *S_inc_old(const S_inc *inc, const char *path)
{
    if (!inc->mapcap)
        return NULL;
    for (size_t k = S_hash(path) & (inc->mapcap - 1); inc->map[k];
         k = (k + 1) & (inc->mapcap - 1))
        if (!strcmp(inc->old.outs[inc->map[k] - 1].path, path))
            return &inc->old.outs[inc->map[k] - 1];
    return NULL;
}

/* Appends an output to this build's list; with old (the kept tree's entry
 * for the same path, which lives as long as inc) its strings are shared,
 * not copied: most outputs of an incremental build are such. */
static int S_inc_add(S_inc *inc, const char *path, int set, unsigned flags,
                     const char *names, const unsigned char fp[BSTATE_HASH],
                     const unsigned char *jfp, const bstate_out *old)
{
    char *dup = old ? old->path : util_strdup(path);
    char *ndup = old ? old->names : names ? util_strdup(names) : NULL;
    if (!old && (!dup || (names && !ndup))) {
        free(dup);
        free(ndup);
        return -1;
    }
    pthread_mutex_lock(&inc->mu);
    if (inc->nouts == inc->cap) {
        size_t cap = inc->cap ? inc->cap * 2 : 1024;
        bstate_out *nv = realloc(inc->outs, cap * sizeof *nv);
        if (!nv) {
            pthread_mutex_unlock(&inc->mu);
            if (!old) {
                free(dup);
                free(ndup);
            }
            return -1;
        }
        inc->outs = nv;
        inc->cap = cap;
    }
    bstate_out *o = &inc->outs[inc->nouts++];
    o->path = dup;
    o->set = set;
    o->flags = flags | (old ? BSTATE_BORROWED : 0);
    o->names = ndup;
    memcpy(o->fp, fp, BSTATE_HASH);
    if (jfp)
        memcpy(o->jfp, jfp, BSTATE_HASH);
    else
        memset(o->jfp, 0, BSTATE_HASH);
    pthread_mutex_unlock(&inc->mu);
    return 0;
}

/* Outputs a worker found unchanged (borrowed entries), joined at once. */
static int S_inc_join(S_inc *inc, const bstate_out *v, size_t n)
{
    pthread_mutex_lock(&inc->mu);
    int rc = 0;
    if (inc->nouts + n > inc->cap) {
        size_t cap = inc->cap ? inc->cap : 1024;
        while (cap < inc->nouts + n)
            cap *= 2;
        bstate_out *nv = realloc(inc->outs, cap * sizeof *nv);
        if (nv) {
            inc->outs = nv;
            inc->cap = cap;
        } else {
            rc = -1;
        }
    }
    if (rc == 0) {
        memcpy(inc->outs + inc->nouts, v, n * sizeof *v);
        inc->nouts += n;
    }
    pthread_mutex_unlock(&inc->mu);
    return rc;
}

static int S_inc_put(S_inc *inc, const char *path, int set, unsigned flags,
                     const char *names, const unsigned char fp[BSTATE_HASH],
                     const unsigned char *jfp)
{
    return S_inc_add(inc, path, set, flags, names, fp, jfp, NULL);
}

/* ---- rendering --------------------------------------------------------- */

/* Ids for the headings of *html; the page's ids ride with its links, as
 * lines "#ID" after the "LINE<TAB>URL" ones, so that the build state keeps
 * them for the anchor check of the next build too. */
static int S_heading_ids(char **html, char **links)
{
    buf ids = BUF_INIT;
    char *h;
    if (anchors_add(*html, strlen(*html), &h, NULL, links ? &ids : NULL) != 0)
        return -1;
    if (h) {
        free(*html);
        *html = h;
    }
    if (!links || !ids.len) {
        buf_free(&ids);
        return 0;
    }
    buf l = BUF_INIT;
    size_t n = *links ? strlen(*links) : 0;
    int rc = buf_add(&l, *links ? *links : "", n) ||
             (n && (*links)[n - 1] != '\n' && buf_putc(&l, '\n')) ||
             buf_add(&l, ids.ptr, ids.len);
    buf_free(&ids);
    if (rc) {
        buf_free(&l);
        return -1;
    }
    free(*links);
    *links = buf_detach(&l, NULL);
    return 0;
}

#define S_SPILL_MAX (256LL << 20)

/* Writes a rendered page's links to the spill file: where they are, or
 * -1 (there is none, or it failed: then they stay in memory). A big
 * site's links are megabytes that only the link check at the end and the
 * state file read, once each. */
static long long S_spill(site *s, const char *links, size_t len)
{
    if (s->spill_fd < 0 || len >= UINT32_MAX)
        return -1;
    long long at = atomic_fetch_add(&s->spill_end, (long long)len);
    /* a site kept open (serve, folio-fcgi) renders pages again and again,
     * and the file only grows: past a bound, memory again */
    if (at + (long long)len > S_SPILL_MAX)
        return -1;
    for (size_t put = 0; put < len;) {
        ssize_t w = pwrite(s->spill_fd, links + put, len - put, (off_t)(at + (long long)put));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        put += (size_t)w;
    }
    return at;
}

static int S_render_md(site *s, S_page *p, char **html, folio_err *err)
{
    char path[PATH_MAX];
    if (util_path(path, sizeof path, err, "%s/%s", s->cfg->content_dir, p->c.file) != 0)
        return -1;
    char *src;
    size_t len;
    if (util_read_file(path, &src, &len, err) != 0)
        return -1;
    int words = 0;
    char *summary = NULL, *links = NULL;
    int need = !atomic_load(&p->meta);
    size_t off = p->c.body_offset <= len ? p->c.body_offset : len;
    char *h = content_render_links(src + off, len - off, NULL, need ? &words : NULL,
                                   need && !p->fm_summary ? &summary : NULL,
                                   need ? &links : NULL);
    free(src);
    if (!h)
        return err_set(err, "content/%s: cannot render the Markdown", p->c.file);
    if (S_heading_ids(&h, need ? &links : NULL) != 0) {
        free(summary);
        free(links);
        return err_set(err, "out of memory");
    }
    if (need) {
        size_t ll = links ? strlen(links) : 0;
        long long at = ll ? S_spill(s, links, ll) : -1;
        pthread_mutex_lock(&s->mu);
        if (!atomic_load(&p->meta)) {
            p->words = words;
            if (!p->c.summary) {
                p->c.summary = summary;
                summary = NULL;
            }
            if (at >= 0) {
                p->links_lazy = S_LAZY_SPILL;
                p->links_off = at;
                p->links_len = (uint32_t)ll;
            } else {
                p->links = links;
                links = NULL;
            }
            atomic_store(&p->meta, 1);
        }
        pthread_mutex_unlock(&s->mu);
    }
    free(summary);
    free(links);
    if (html)
        *html = h;
    else
        free(h);
    return 0;
}

/* Per-call provider cache: the provider is asked once per name per call. */
typedef struct S_call {
    site *s;
    struct { char *name; const cJSON *v; int hashed; unsigned char h[BSTATE_HASH]; } cache[64];
    size_t n;
} S_call;

/* One render: which names it read, which site variant it sees. */
typedef struct S_rctx {
    S_call *call;
    int active;
    char names[512];  /* " a b " */
    size_t nlen;
    S_tset used;      /* the templates it used */
} S_rctx;

static const cJSON *S_provide(S_call *c, const char *name)
{
    site *s = c->s;
    if (!s->opts.data)
        return NULL;
    pthread_mutex_lock(&s->mu);
    const cJSON *v = NULL;
    size_t k;
    for (k = 0; k < c->n; k++)
        if (!strcmp(c->cache[k].name, name))
            break;
    if (k < c->n) {
        v = c->cache[k].v;
    } else {
        int paused = jarena_pause(); /* the provider's: outlives the job */
        v = s->opts.data(s->opts.data_ud, name);
        jarena_resume(paused);
        char *dup = c->n < 64 ? util_strdup(name) : NULL;
        if (dup) {
            c->cache[c->n].name = dup;
            c->cache[c->n].v = v;
            c->cache[c->n].hashed = 0;
            c->n++;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* The hash of a provider value, printed once per call. */
static int S_provide_hash(S_call *c, const char *name, unsigned char out[BSTATE_HASH])
{
    const cJSON *v = S_provide(c, name);
    site *s = c->s;
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    size_t k;
    for (k = 0; k < c->n && strcmp(c->cache[k].name, name); k++)
        ;
    if (k < c->n && c->cache[k].hashed) {
        memcpy(out, c->cache[k].h, BSTATE_HASH);
    } else {
        int paused = jarena_pause(); /* a store's list can be megabytes: not a job's arena */
        char *js = v ? cJSON_PrintUnformatted(v) : NULL;
        if (v && !js)
            rc = -1;
        else
            S_hash_bytes(out, js ? js : "", js ? strlen(js) : 0);
        cJSON_free(js);
        jarena_resume(paused);
        if (rc == 0 && k < c->n) {
            memcpy(c->cache[k].h, out, BSTATE_HASH);
            c->cache[k].hashed = 1;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void S_call_done(S_call *c)
{
    for (size_t k = 0; k < c->n; k++)
        free(c->cache[k].name);
    c->n = 0;
}

static void S_record(S_rctx *r, const char *name)
{
    char pat[130];
    if (strlen(name) > 120)
        return;
    snprintf(pat, sizeof pat, " %s ", name);
    if (r->nlen && strstr(r->names, pat))
        return;
    size_t need = strlen(pat) - (r->nlen ? 1 : 0);
    if (r->nlen + need >= sizeof r->names)
        return;
    memcpy(r->names + r->nlen, pat + (r->nlen ? 1 : 0), need + 1);
    r->nlen += need;
}

/* The set's loader, noting which templates a render used. */
static const tpl *S_loader(void *ud, const char *name, folio_err *err)
{
    S_rctx *r = ud;
    const tpl *t = tpl_set_loader(r->call->s->tpls, name, err);
    if (t)
        S_tset_add(&r->used, S_tinfo_of(r->call->s, t));
    return t;
}

static const cJSON *S_resolve(void *ud, const char *name)
{
    S_rctx *r = ud;
    if (!strcmp(name, "site"))
        return S_site_variant(r->call->s, r->active);
    const cJSON *v = S_provide(r->call, name);
    if (v)
        S_record(r, name);
    return v;
}

/* Walks PATH (a.b.c) from a value. */
static const cJSON *S_walk_path(const cJSON *v, const char *path)
{
    char part[128];
    while (v && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof part)
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        v = cJSON_GetObjectItemCaseSensitive(v, part);
        path += n + (dot ? 1 : 0);
    }
    return v;
}

static int S_paginator(cJSON *ctx, const char *base, int page, int pages, size_t total,
                       cJSON **out)
{
    buf b = BUF_INIT;
    cJSON *pg = cJSON_AddObjectToObject(ctx, "paginator");
    int ok = pg && cJSON_AddNumberToObject(pg, "page", page) &&
             cJSON_AddNumberToObject(pg, "pages", pages) &&
             cJSON_AddNumberToObject(pg, "total", (double)total) &&
             cJSON_AddBoolToObject(pg, "has_prev", page > 1) &&
             cJSON_AddBoolToObject(pg, "has_next", page < pages);
    if (ok && page > 1)
        ok = S_page_url(&b, base, page - 1) == 0 && cJSON_AddStringToObject(pg, "prev_url", b.ptr);
    if (ok && page < pages)
        ok = S_page_url(&b, base, page + 1) == 0 && cJSON_AddStringToObject(pg, "next_url", b.ptr);
    buf_free(&b);
    if (out)
        *out = pg;
    return ok ? 0 : -1;
}

/* pages and paginator for page `page` of a list. */
static int S_list_ctx(site *s, cJSON *ctx, const S_list *l, const char *base, int page)
{
    int per = S_list_per(s, l);
    int pages = S_npages(l->n, per);
    cJSON *arr = cJSON_AddArrayToObject(ctx, "pages");
    if (!arr)
        return -1;
    size_t from = (size_t)(page - 1) * (size_t)per;
    for (size_t k = from; k < l->n && k < from + (size_t)per; k++)
        if (S_add_list_obj(arr, S_page_obj(s, l->pages[k], NULL)) != 0)
            return -1;
    return S_paginator(ctx, base, page, pages, l->n, NULL);
}

/* A page value for a list page without content file of its own. */
static cJSON *S_synthetic(site *s, const char *title, const char *kind, const char *url,
                          const char *section)
{
    cJSON *o = cJSON_CreateObject();
    char *perma = S_permalink(s, url);
    int ok = o && perma && cJSON_AddStringToObject(o, "title", title) &&
             cJSON_AddStringToObject(o, "kind", kind) &&
             cJSON_AddStringToObject(o, "url", url) &&
             cJSON_AddStringToObject(o, "permalink", perma) &&
             cJSON_AddStringToObject(o, "section", section) &&
             cJSON_AddStringToObject(o, "summary", "") &&
             cJSON_AddArrayToObject(o, "tags") && cJSON_AddObjectToObject(o, "params");
    free(perma);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The page value of a list: its _index.md if any (with content), else made up. */
static int S_list_page(site *s, cJSON *ctx, S_list *l, const char *title,
                       const char *kind, const char *url, const char *section,
                       folio_err *err)
{
    cJSON *pv;
    if (l->index_page >= 0) {
        pthread_mutex_lock(&s->mu);
        const char *html = l->html;
        pthread_mutex_unlock(&s->mu);
        if (!html) {
            char *h = NULL;
            if (S_render_md(s, &s->pages[l->index_page], &h, err) != 0)
                return -1;
            pthread_mutex_lock(&s->mu);
            if (!l->html)
                l->html = h;
            else
                free(h);
            html = l->html;
            pthread_mutex_unlock(&s->mu);
        }
        pv = S_page_obj(s, l->index_page, html);
    } else {
        pv = S_synthetic(s, title, kind, url, section);
    }
    if (pv) {
        cJSON_ReplaceItemInObjectCaseSensitive(pv, "kind", cJSON_CreateString(kind));
        cJSON_ReplaceItemInObjectCaseSensitive(pv, "url", cJSON_CreateString(url));
    }
    if (!pv || !cJSON_AddItemToObject(ctx, "page", pv)) {
        cJSON_Delete(pv);
        return err_set(err, "out of memory");
    }
    return 0;
}

typedef struct S_out {
    char url[PATH_MAX];
    const tpl *t;
    int active;
    const char *file; /* for messages */
} S_out;

/* Builds the context of one job (not T_ALIAS, not data pages past 1). */
/* The context of a content page, or of the 404 page without content/404.md. */
static int S_page_ctx(site *s, int idx, cJSON *ctx, S_out *o, folio_err *err)
{
    if (idx < 0) {
        cJSON *pv = S_synthetic(s, "Page not found", "404", "/404.html", "");
        if (!pv || !cJSON_AddItemToObject(ctx, "page", pv)) {
            cJSON_Delete(pv);
            return err_set(err, "out of memory");
        }
        o->t = s->tpl_404;
        snprintf(o->url, sizeof o->url, "/404.html");
        o->file = "404.html";
        o->active = -1;
        return 0;
    }
    S_page *p = &s->pages[idx];
    char *html = NULL;
    if (S_render_md(s, p, &html, err) != 0)
        return -1;
    char cover[PATH_MAX];
    if (p->bundle && S_img_rewrite(s, p, S_cover_path(s, p, cover, sizeof cover) > 0,
                                   &html, err) != 0) {
        free(html);
        return -1;
    }
    cJSON *pv = S_page_obj(s, idx, html);
    free(html);
    if (!pv || !cJSON_AddItemToObject(ctx, "page", pv)) {
        cJSON_Delete(pv);
        return err_set(err, "out of memory");
    }
    o->t = p->tpl;
    o->file = p->c.file;
    snprintf(o->url, sizeof o->url, "%s", p->url);
    o->active = S_menu_active(s, p->url, p->c.section);
    return 0;
}

static int S_job_ctx(site *s, const S_job *j, cJSON *ctx, S_out *o, folio_err *err)
{
    buf b = BUF_INIT;
    int rc = -1;
    S_list *l = NULL;
    const char *base = NULL;
    o->file = NULL;
    switch (j->type) {
    case T_PAGE:
    case T_404:
        return S_page_ctx(s, j->idx, ctx, o, err);
    case T_ERROR: {
        cJSON *pv = S_synthetic(s, "Error", "error", "/", "");
        if (!pv || !cJSON_AddItemToObject(ctx, "page", pv)) {
            cJSON_Delete(pv);
            goto oom;
        }
        o->t = s->tpl_error;
        snprintf(o->url, sizeof o->url, "/");
        o->file = "error page";
        o->active = -1;
        return o->t ? 0 : err_set(err, "no error or 404 template");
    }
    case T_HOME:
        l = &s->home;
        base = "/";
        o->t = s->tpl_home;
        if (S_list_page(s, ctx, l, s->cfg->title, "home", "/", "", err) != 0)
            goto done;
        break;
    case T_SECTION:
        l = &s->sections[j->idx];
        base = l->url;
        o->t = l->tpl;
        if (S_list_page(s, ctx, l, l->title, "section", l->url, l->name, err) != 0)
            goto done;
        break;
    case T_TAXONOMY: {
        l = &s->tags[j->idx];
        base = l->url;
        o->t = l->tpl;
        if (S_list_page(s, ctx, l, l->name, "taxonomy", l->url, "", err) != 0)
            goto done;
        cJSON *term = cJSON_AddObjectToObject(ctx, "term");
        if (!term || !cJSON_AddStringToObject(term, "name", l->name) ||
            !cJSON_AddStringToObject(term, "slug", l->slug) ||
            !cJSON_AddStringToObject(term, "url", l->url) ||
            !cJSON_AddNumberToObject(term, "count", (double)l->n))
            goto oom;
        break;
    }
    case T_TERMS: {
        o->t = s->tpl_terms;
        cJSON *pv = S_synthetic(s, "Tags", "terms", "/tags/", "");
        cJSON *terms = S_tags_array(s);
        if (!pv || !cJSON_AddItemToObject(ctx, "page", pv)) {
            cJSON_Delete(pv);
            cJSON_Delete(terms);
            goto oom;
        }
        if (!terms || !cJSON_AddItemToObject(ctx, "terms", terms)) {
            cJSON_Delete(terms);
            goto oom;
        }
        snprintf(o->url, sizeof o->url, "/tags/");
        o->file = "/tags/";
        o->active = S_menu_active(s, "/tags/", "tags");
        rc = 0;
        goto done;
    }
    case T_ALIAS:
        goto oom; /* not a template page */
    }
    if (S_list_ctx(s, ctx, l, base, j->pageno) != 0 || S_page_url(&b, base, j->pageno) != 0)
        goto oom;
    snprintf(o->url, sizeof o->url, "%s", b.ptr);
    o->file = l->index_page >= 0 ? s->pages[l->index_page].c.file : base;
    o->active = S_menu_active(s, base, j->type == T_SECTION ? l->name
                                       : j->type == T_TAXONOMY ? "tags" : "");
    rc = 0;
    goto done;
oom:
    err_set(err, "out of memory");
done:
    buf_free(&b);
    return rc;
}

static int S_path_of(const char *out, const char *url, char *path, size_t n,
                     folio_err *err)
{
    size_t ul = strlen(url);
    return util_path(path, n, err, "%s%s%s", out, url,
                     ul && url[ul - 1] == '/' ? "index.html" : "");
}

/* How a file reaches its tree. In place (the live site) it goes by way of
 * a temporary and a rename. A build writes into a tree nobody serves yet,
 * which is swapped in whole, so plain writes will do and nothing is
 * fsync'd: a fresh tree is made file by file; the tree of the build before
 * last is reused, and a file whose bytes did not change is not touched at
 * all (directory and inode updates are most of a build's cost, and an
 * unchanged page keeps its mtime and ETag). */
enum { W_INPLACE = 0, W_FRESH = 1, W_REUSE = 2 };

static int S_files_add(S_files *f, const char *rel);

/* Makes the directory of path, replacing files that stand in the way. */
static int S_clear_path(const char *path, folio_err *err)
{
    char dir[PATH_MAX];
    if (util_path(dir, sizeof dir, err, "%s", path) != 0)
        return -1;
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    struct stat st;
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (lstat(dir, &st) == 0 && !S_ISDIR(st.st_mode) && unlink(dir) != 0)
            return err_set(err, "%s: %s", dir, strerror(errno));
        *p = c;
        if (!c)
            break;
    }
    if (util_mkdirs(dir, 0755, err) != 0)
        return -1;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return util_rmtree(path, err);
    return 0;
}

/* Whether the file holds exactly data: the last read asks for one byte
 * more, so that a longer file differs without a stat. */
static int S_same(int fd, const char *data, size_t len)
{
    char b[16384];
    size_t off = 0;
    for (;;) {
        size_t left = len - off;
        size_t want = left + 1 < sizeof b ? left + 1 : sizeof b;
        ssize_t r = pread(fd, b, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (size_t)r > left || memcmp(b, data + off, (size_t)r) != 0)
            return 0;
        off += (size_t)r;
        if (off == len && (size_t)r < want)
            return 1;
        if (r == 0)
            return 0; /* shorter than data */
    }
}

static int S_write_fd(int fd, const char *path, const char *data, size_t len, int reuse,
                      folio_err *err)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = pwrite(fd, data + off, len - off, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return err_set(err, "%s: %s", path, strerror(errno));
        off += (size_t)w;
    }
    /* shrink after writing: never truncate to zero first, which makes
     * ext4 flush the file on close (auto_da_alloc) */
    if (reuse && ftruncate(fd, (off_t)len) != 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    return 0;
}

/* rec (may be NULL) records the path relative to the tree (root_len chars)
 * as an output rendered every time. */
static int S_write(const char *path, const char *data, size_t len, int mode, S_inc *rec,
                   size_t root_len, folio_err *err)
{
    static const unsigned char none[BSTATE_HASH];
    if (mode == W_INPLACE)
        return util_write_atomic(path, data, len, 0, err);
    if (rec && S_inc_put(rec, path + root_len + 1, -1, BSTATE_DATA, NULL, none, NULL) != 0)
        return err_set(err, "out of memory");
    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    size_t pl = strlen(path);
    if (mode == W_REUSE) {
        flags = O_RDWR | O_CREAT | O_CLOEXEC;
    } else if (pl > 11 && !strcmp(path + pl - 11, "/index.html")) {
        /* in a fresh tree a page's directory is almost always new */
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", (int)(pl - 11), path);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST && util_mkdirs(dir, 0755, err) != 0)
            return -1;
    }
    int fd = open(path, flags, 0644);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR || errno == EISDIR)) {
        if (S_clear_path(path, err) != 0)
            return -1;
        fd = open(path, flags, 0644);
    }
    if (fd < 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    if (mode == W_REUSE && S_same(fd, data, len)) {
        close(fd);
        return 0;
    }
    if (S_write_fd(fd, path, data, len, mode == W_REUSE, err) != 0) {
        close(fd);
        return -1;
    }
    if (close(fd) != 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    return 0;
}

/* A static file is the same as last time when its stat is. */
static void S_static_fp(const struct stat *st, unsigned char fp[BSTATE_HASH])
{
    long long v[5] = {(long long)st->st_size, S_ns(st->st_mtim), S_ns(st->st_ctim),
                      (long long)st->st_ino, (long long)st->st_mode};
    S_hash_bytes(fp, v, sizeof v);
}

/* One static file into the tree, unless the tree has it from the same source. */
static int S_copy_file(site *s, const char *from, const char *to, const struct stat *st,
                       int mode, size_t root_len, folio_err *err)
{
    unsigned char fp[BSTATE_HASH];
    S_static_fp(st, fp);
    const char *rel = to + root_len + 1;
    const bstate_out *o = s->inc && s->inc->on && mode == W_REUSE ? S_inc_old(s->inc, rel)
                                                                  : NULL;
    if (s->inc && S_inc_put(s->inc, rel, -1, 0, NULL, fp, NULL) != 0)
        return err_set(err, "out of memory");
    if (o && o->set == -1 && !(o->flags & BSTATE_DATA) && !memcmp(o->fp, fp, sizeof fp))
        return 0;
    char *data;
    size_t len;
    if (util_read_file(from, &data, &len, err) != 0)
        return -1;
    int rc = S_write(to, data, len, mode, NULL, root_len, err);
    free(data);
    return rc;
}

/* Whether the site's static/ (over) has the file REL ("/css/site.css"),
 * which then replaces the theme's. */
static int S_static_overridden(const char *over, const char *rel)
{
    char path[PATH_MAX];
    folio_err e;
    return over && util_path(path, sizeof path, &e, "%s%s", over, rel) == 0 &&
           util_is_file(path);
}

/* static/ into the tree, recorded like the pages. Dot files (an editor's
 * swap file, .git, .DS_Store) are not published, except static/.well-known/
 * (RFC 8615: security.txt, ACME challenges), which is meant to be. */
static int S_copy_static(site *s, const char *src, const char *dst, int mode,
                         size_t root_len, int depth, const char *over, folio_err *err)
{
    if (depth > 32)
        return err_set(err, "%s: folders nested too deeply", src);
    DIR *d = opendir(src);
    if (!d)
        return err_set(err, "%s: %s", src, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char s2[PATH_MAX], d2[PATH_MAX];
        struct stat st;
        if (util_path(s2, sizeof s2, err, "%s/%s", src, e->d_name) != 0 ||
            util_path(d2, sizeof d2, err, "%s/%s", dst, e->d_name) != 0) {
            rc = -1;
            break;
        }
        /* a link check reads what is there, published or not (S_serves) */
        s->static_sum += S_hash(d2 + root_len) * 2 + (e->d_type == DT_DIR);
        if (e->d_name[0] == '.' &&
            (depth > 0 || strcmp(e->d_name, ".well-known") != 0))
            continue;
        if (stat(s2, &st) != 0)
            rc = err_set(err, "%s: %s", s2, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            rc = S_copy_static(s, s2, d2, mode, root_len, depth + 1, over, err);
        else if (!S_static_overridden(over, d2 + root_len))
            rc = S_copy_file(s, s2, d2, &st, mode, root_len, err);
    }
    closedir(d);
    return rc;
}

/* The colours of folio.yml's params as a stylesheet of their own
 * (css/params.css), so that pages keep no inline styles (CSP); a site's
 * own static/css/params.css replaces it. */
static int S_theme_css(site *s, const char *tree, int mode, folio_err *err)
{
    char path[PATH_MAX];
    if (S_static_overridden(s->cfg->static_dir, "/" S_THEME_CSS))
        return 0;
    buf b = BUF_INIT;
    if (theme_css(&s->theme, &b) != 0) {
        buf_free(&b);
        return err_set(err, "out of memory");
    }
    int rc = S_path_of(tree, "/" S_THEME_CSS, path, sizeof path, err);
    rc = rc ? rc : S_write(path, b.ptr, b.len, mode, s->inc, strlen(tree), err);
    buf_free(&b);
    return rc;
}

/* Deps recorded by one render target. */
typedef struct S_deplist {
    S_dep *v;
    size_t n, cap;
} S_deplist;

static int S_dep_add(S_deplist *d, const char *url, const char *names)
{
    void *v = d->v;
    if (util_grow(&v, &d->cap, d->n, sizeof *d->v, 16) != 0)
        return -1;
    d->v = v;
    S_dep *e = &d->v[d->n];
    if (!(e->url = util_strdup(url)) || !(e->names = util_strdup(names))) {
        free(e->url);
        return -1;
    }
    d->n++;
    return 0;
}

static void S_deps_free(S_dep *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].url);
        free(v[i].names);
    }
    free(v);
}

/* Per-thread render state. */
typedef struct S_worker {
    site *s;
    S_call *call;
    const char *out;  /* output root */
    int mode;           /* W_INPLACE, W_FRESH or W_REUSE */
    buf html;
    S_deplist deps;
    const cJSON *extra; /* site_render_url */
    buf *to;            /* site_render_url: render here instead of writing */
    int rendered;
    int check;          /* site_check_pages: a data page past the end is */
    int gone;           /* ... reported here instead of failing */
    const S_job *job;   /* the job being run */
    int skipped;        /* outputs whose fingerprint had not changed */
    jarena *ja;         /* a job's cJSON, dropped at once; NULL: malloc */
    /* a batch's worker: outputs found unchanged are gathered here and
     * joined to the build's list once (S_worker_done), not one locked
     * append each */
    int batched;
    bstate_out *kept;
    size_t nkept, keptcap;
} S_worker;

/* The fingerprint of a job's output, with the event-store values it read
 * (names: "a b", or NULL) hashed whole. */
/* The fingerprint of a job's output: the job's own (jfp; taken from known
 * when the caller knows it is as it was), then the data names it read. */
static int S_fp_out(S_worker *w, const S_job *j, unsigned mask, const char *names,
                    const unsigned char *known, unsigned char jfp[BSTATE_HASH],
                    unsigned char out[BSTATE_HASH])
{
    if (known)
        memcpy(jfp, known, BSTATE_HASH);
    else if (S_fp_job(w->s, j, mask, jfp) != 0)
        return -1;
    memcpy(out, jfp, BSTATE_HASH);
    if (!names)
        return 0;
    buf b = BUF_INIT;
    int rc = buf_add(&b, (const char *)jfp, BSTATE_HASH);
    const char *p = names;
    while (rc == 0 && *p) {
        const char *sp = strchr(p, ' ');
        size_t n = sp ? (size_t)(sp - p) : strlen(p);
        char name[128];
        if (n >= sizeof name)
            return buf_free(&b), -1;
        memcpy(name, p, n);
        name[n] = '\0';
        unsigned char h[BSTATE_HASH];
        rc = S_provide_hash(w->call, name, h) || S_fp_str(&b, name) ||
             buf_add(&b, (const char *)h, sizeof h);
        p += n + (sp ? 1 : 0);
    }
    if (rc == 0)
        S_hash_bytes(out, b.ptr, b.len);
    buf_free(&b);
    return rc;
}

/* Records what a build wrote at path (inside the tree w->out). */
static int S_inc_record(S_worker *w, const S_out *o, S_rctx *r, const char *path,
                        folio_err *err)
{
    site *s = w->s;
    unsigned char fp[BSTATE_HASH] = {0}, jfp[BSTATE_HASH] = {0};
    unsigned flags = !w->job || (w->job->type == T_PAGE && s->pages[w->job->idx].data_name)
                         ? BSTATE_DATA : 0;
    char names[sizeof r->names];
    /* stored as " a b ", recorded as "a b" */
    snprintf(names, sizeof names, "%.*s", r->nlen > 2 ? (int)r->nlen - 2 : 0, r->names + 1);
    S_tset used = r->used;
    S_tset_add(&used, S_tinfo_of(s, o->t));
    if (!used.valid)
        flags |= BSTATE_DATA;
    int set = S_tset_intern(s, &used);
    if (set < 0)
        return err_set(err, "out of memory");
    pthread_mutex_lock(&s->mu);
    unsigned mask = s->sets[set].mask;
    pthread_mutex_unlock(&s->mu);
    if (!flags && S_fp_out(w, w->job, mask, *names ? names : NULL, NULL, jfp, fp) != 0)
        flags |= BSTATE_DATA; /* cannot tell what it read: render it every time */
    if (S_inc_put(s->inc, path + strlen(w->out) + 1, set, flags, *names ? names : NULL,
                  fp, jfp) != 0)
        return err_set(err, "out of memory");
    return 0;
}

static int S_emit(S_worker *w, const S_out *o, const cJSON *ctx, S_rctx *r, folio_err *err)
{
    site *s = w->s;
    tpl_render_opts ro = {.loader = S_loader, .loader_ud = r, .resolver = S_resolve, .resolver_ud = r};
    buf_reset(&w->html);
    buf *dst = w->to ? w->to : &w->html;
    if (!o->t)
        return err_set(err, "%s: no template", o->file ? o->file : o->url);
    if (tpl_render(o->t, ctx, &ro, dst, err) != 0) {
        return err_prefix(err, "%s%s (template %s)",
                          o->file && o->file[0] != '/' ? "content/" : "",
                          o->file ? o->file : o->url, tpl_name(o->t));
    }
    if (r->nlen && S_dep_add(&w->deps, o->url, r->names) != 0)
        return err_set(err, "out of memory");
    w->rendered++;
    if (w->to)
        return 0;
    char path[PATH_MAX];
    if (S_path_of(w->out, o->url, path, sizeof path, err) != 0)
        return -1;
    if (s->inc && w->mode != W_INPLACE && S_inc_record(w, o, r, path, err) != 0)
        return -1;
    return S_write(path, w->html.ptr, w->html.len, w->mode, NULL, strlen(w->out), err);
}

static int S_add_extra(cJSON *ctx, const cJSON *extra)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, extra) {
        cJSON *d = cJSON_Duplicate(it, 1);
        if (!d)
            return -1;
        cJSON_DeleteItemFromObjectCaseSensitive(ctx, it->string);
        if (!cJSON_AddItemToObject(ctx, it->string, d)) {
            cJSON_Delete(d);
            return -1;
        }
    }
    return 0;
}

/* The list may have shrunk: pages past the end (in place) are gone. */
static int S_rm_past(S_worker *w, const char *base, int pages, folio_err *err)
{
    for (int pg = pages + 1; w->mode == W_INPLACE && !w->to; pg++) {
        char dir[PATH_MAX];
        if (util_path(dir, sizeof dir, err, "%s%spage/%d", w->out, base, pg) != 0)
            return -1;
        if (!util_is_dir(dir))
            return 0;
        if (util_rmtree(dir, err) != 0)
            return -1;
    }
    return 0;
}

/* ---- ranked lists: pages that never shift ------------------------------ */

/* Asks the provider for ranks lo..hi of p's list (lo > hi: only *top).
 * locked: the caller holds s->mu. */
static int S_range(site *s, const S_page *p, long long lo, long long hi, cJSON **items,
                   long long *top, int locked, folio_err *err)
{
    *items = NULL;
    *top = 0;
    if (!s->opts.range)
        return 1;
    if (!locked)
        pthread_mutex_lock(&s->mu);
    int paused = jarena_pause(); /* the provider may keep what it makes */
    int rc = s->opts.range(s->opts.data_ud, p->data_list, lo, hi, items, top, err);
    jarena_resume(paused);
    if (!locked)
        pthread_mutex_unlock(&s->mu);
    if (rc != 0) {
        cJSON_Delete(*items);
        *items = NULL;
    }
    return rc;
}

/* 1 when p's list is served by rank, 0 when not, -1 on error; asked once. */
static int S_ranked(site *s, S_page *p, int lock, folio_err *err)
{
    if (!p->data_list)
        return 0;
    if (lock)
        pthread_mutex_lock(&s->mu);
    int known = p->ranked;
    if (!known) {
        cJSON *items;
        long long top;
        int rc = S_range(s, p, 1, 0, &items, &top, 1, err);
        cJSON_Delete(items);
        known = rc < 0 ? -1 : rc == 0 ? 1 : 2;
        if (known > 0)
            p->ranked = known;
    }
    if (lock)
        pthread_mutex_unlock(&s->mu);
    return known < 0 ? -1 : known == 1;
}

/* The page (1-based URL number) holding rank n: page 1 is the newest. */
static int S_rank_page(long long n, int per)
{
    return (int)((n + per - 1) / per) + 1;
}

/* Ranks lo..hi that page pg of a list of top items shows, and its
 * paginator: "prev" is newer, "next" older; no count of pages, which would
 * change every page when one is added. */
static int S_rank_paginator(cJSON *ctx, const char *base, int pg, long long top, int per,
                            long long *lo, long long *hi, cJSON **out)
{
    int blocks = top > 0 ? S_rank_page(top, per) - 1 : 0;
    int newer = 0, older = 0;
    if (pg == 1) {
        *lo = top - per + 1 < 1 ? 1 : top - per + 1;
        *hi = top;
        older = top > per ? S_rank_page(top - per, per) : 0;
    } else {
        *lo = (long long)(pg - 2) * per + 1;
        *hi = (long long)(pg - 1) * per < top ? (long long)(pg - 1) * per : top;
        older = pg > 2 ? pg - 1 : 0;
        newer = pg - 1 < blocks ? pg + 1 : 1;
    }
    buf b = BUF_INIT;
    cJSON *o = cJSON_AddObjectToObject(ctx, "paginator");
    int ok = o && cJSON_AddNumberToObject(o, "page", pg) &&
             cJSON_AddBoolToObject(o, "ranked", 1) && cJSON_AddBoolToObject(o, "first", pg == 1) &&
             cJSON_AddNumberToObject(o, "from", (double)*lo) &&
             cJSON_AddNumberToObject(o, "to", (double)*hi) &&
             cJSON_AddBoolToObject(o, "has_prev", newer != 0) &&
             cJSON_AddBoolToObject(o, "has_next", older != 0);
    if (ok && newer)
        ok = S_page_url(&b, base, newer) == 0 && cJSON_AddStringToObject(o, "prev_url", b.ptr);
    if (ok && older)
        ok = S_page_url(&b, base, older) == 0 && cJSON_AddStringToObject(o, "next_url", b.ptr);
    buf_free(&b);
    *out = o;
    return ok ? 0 : -1;
}

static long long S_rank_of(const cJSON *it)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "rank");
    return cJSON_IsNumber(r) ? (long long)r->valuedouble : 0;
}

/* Copies the items ranked lo..hi of v (newest first) into to. */
static int S_rank_slice(cJSON *const *v, size_t n, long long lo, long long hi, cJSON *to)
{
    size_t a = 0, z = n;
    while (a < z) { /* the first item ranked hi or lower */
        size_t m = a + (z - a) / 2;
        if (S_rank_of(v[m]) > hi)
            a = m + 1;
        else
            z = m;
    }
    for (; a < n && S_rank_of(v[a]) >= lo; a++) {
        cJSON *d = cJSON_Duplicate(v[a], 1);
        if (!d || !cJSON_AddItemToArray(to, d)) {
            cJSON_Delete(d);
            return -1;
        }
    }
    return 0;
}

/* Renders page pg from the items v (covering at least its ranks). Each page
 * records only what it read itself, so the pages that do not show a count
 * do not depend on it. */
static int S_rank_emit(S_worker *w, const S_page *p, int pg, cJSON *const *v, size_t n,
                       long long top, int per, cJSON *ctx, S_out *o, S_rctx *r, folio_err *err)
{
    long long lo, hi;
    cJSON *pgobj;
    buf b = BUF_INIT;
    cJSON_DeleteItemFromObjectCaseSensitive(ctx, "paginator");
    r->nlen = 0;
    r->names[0] = '\0';
    S_record(r, p->data_list);
    int rc = S_rank_paginator(ctx, p->url, pg, top, per, &lo, &hi, &pgobj);
    cJSON *items = rc == 0 ? cJSON_AddArrayToObject(pgobj, "items") : NULL;
    if (!items || S_rank_slice(v, n, lo, hi, items) != 0 || S_page_url(&b, p->url, pg) != 0)
        rc = err_set(err, "out of memory");
    if (rc == 0) {
        snprintf(o->url, sizeof o->url, "%s", b.ptr);
        rc = S_emit(w, o, ctx, r, err);
    }
    buf_free(&b);
    return rc;
}

/* The items of an array as a vector (NULL for an empty one). */
static cJSON **S_rank_vec(const cJSON *arr, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(arr);
    cJSON **v = *n ? calloc(*n, sizeof *v) : NULL;
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (v)
            v[i++] = (cJSON *)it;
    }
    return v;
}

/* A page of a ranked list: all its pages from one read of the list (a
 * build, or pageno 0 in place), else page pageno alone from its ranks. */
static int S_ranked_pages(S_worker *w, const S_job *j, cJSON *ctx, S_out *o, S_rctx *r,
                          folio_err *err)
{
    site *s = w->s;
    S_page *p = &s->pages[j->idx];
    int per = S_per_page(s, p->c.params);
    int whole = !w->to && (w->mode != W_INPLACE || j->pageno == 0);
    int pg = j->pageno > 1 ? j->pageno : 1;
    cJSON *items = NULL;
    long long top;
    if (S_range(s, p, 1, whole ? LLONG_MAX : 0, &items, &top, 0, err) != 0)
        return err_prefix(err, "%s", p->data_list);
    int last = top > 0 ? S_rank_page(top, per) : 1;
    if (!whole) {
        cJSON_Delete(items);
        items = NULL;
        if (pg > last) {
            if (w->check) {
                w->gone = 1;
                return 0;
            }
            if (w->to)
                return err_set(err, "no page at %spage/%d/", p->url, pg);
            return S_rm_past(w, p->url, pg - 1, err);
        }
        long long lo = pg == 1 ? top - per + 1 : (long long)(pg - 2) * per + 1;
        if (S_range(s, p, lo, lo + per - 1, &items, &top, 0, err) != 0)
            return err_prefix(err, "%s", p->data_list);
    }
    size_t n;
    cJSON **v = S_rank_vec(items, &n);
    int rc = n && !v ? err_set(err, "out of memory") : 0;
    for (int k = whole ? 1 : pg; rc == 0 && k <= (whole ? last : pg); k++)
        rc = S_rank_emit(w, p, k, v, n, top, per, ctx, o, r, err);
    if (rc == 0 && whole)
        rc = S_rm_past(w, p->url, last, err);
    free(v);
    cJSON_Delete(items);
    return rc;
}

/* Pages 1.. of a page with paginate_data; page 1 only when only1. */
static int S_data_pages(S_worker *w, const S_job *j, cJSON *ctx, S_out *o, S_rctx *r,
                        folio_err *err)
{
    site *s = w->s;
    S_page *p = &s->pages[j->idx];
    int rk = S_ranked(s, p, 1, err);
    if (rk < 0)
        return -1;
    if (rk == 1)
        return S_ranked_pages(w, j, ctx, o, r, err);
    const cJSON *root = S_resolve(r, p->data_name);
    const cJSON *arr = S_walk_path(root, p->data_path);
    size_t total = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0;
    int per = S_per_page(s, p->c.params);
    int pages = S_npages(total, per);
    int first = j->pageno > 1 ? j->pageno : 1;
    int last = w->to ? first : pages;
    if (first > pages) {
        if (w->check) {
            w->gone = 1;
            return 0;
        }
        return err_set(err, "no page at %spage/%d/ (the list has %d)", p->url, first, pages);
    }
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s", p->url);
    buf b = BUF_INIT;
    int rc = 0;
    for (int pg = first; rc == 0 && pg <= last; pg++) {
        cJSON *pgobj;
        cJSON_DeleteItemFromObjectCaseSensitive(ctx, "paginator");
        if (S_paginator(ctx, base, pg, pages, total, &pgobj) != 0) {
            rc = err_set(err, "out of memory");
            break;
        }
        cJSON *items = cJSON_AddArrayToObject(pgobj, "items");
        size_t from = (size_t)(pg - 1) * (size_t)per, k = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, arr) {
            if (k >= from && k < from + (size_t)per) {
                cJSON *d = cJSON_Duplicate(it, 1);
                if (!d || !items || !cJSON_AddItemToArray(items, d)) {
                    cJSON_Delete(d);
                    rc = err_set(err, "out of memory");
                    break;
                }
            }
            k++;
        }
        if (rc == 0 && S_page_url(&b, base, pg) != 0)
            rc = err_set(err, "out of memory");
        if (rc == 0) {
            snprintf(o->url, sizeof o->url, "%s", b.ptr);
            rc = S_emit(w, o, ctx, r, err);
        }
    }
    if (rc == 0)
        rc = S_rm_past(w, base, pages, err);
    buf_free(&b);
    return rc;
}

static int S_alias(S_worker *w, const S_job *j, folio_err *err)
{
    site *s = w->s;
    S_page *p = &s->pages[j->idx];
    const char *al = p->c.aliases[j->pageno];
    char *perma = S_permalink(s, p->url);
    buf b = BUF_INIT;
    int rc = -1;
    if (!perma || buf_puts(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                                "<title>") != 0 ||
        buf_add_html(&b, perma, strlen(perma)) != 0 ||
        buf_puts(&b, "</title><link rel=\"canonical\" href=\"") != 0 ||
        buf_add_html(&b, perma, strlen(perma)) != 0 ||
        buf_puts(&b, "\"><meta name=\"robots\" content=\"noindex\">"
                     "<meta http-equiv=\"refresh\" content=\"0; url=") != 0 ||
        buf_add_html(&b, p->url, strlen(p->url)) != 0 ||
        buf_puts(&b, "\"></head><body><a href=\"") != 0 ||
        buf_add_html(&b, p->url, strlen(p->url)) != 0 ||
        buf_puts(&b, "\">") != 0 || buf_add_html(&b, p->c.title, strlen(p->c.title)) != 0 ||
        buf_puts(&b, "</a></body></html>\n") != 0) {
        err_set(err, "out of memory");
        goto done;
    }
    char url[PATH_MAX], path[PATH_MAX];
    size_t n = strlen(al);
    snprintf(url, sizeof url, "%s%s", al,
             al[n - 1] != '/' && !strchr(strrchr(al, '/'), '.') ? "/" : "");
    if (S_path_of(w->out, url, path, sizeof path, err) != 0)
        goto done;
    if (w->to)
        rc = buf_add(w->to, b.ptr, b.len) == 0 ? 0 : err_set(err, "out of memory");
    else
        rc = S_write(path, b.ptr, b.len, w->mode, s->inc, strlen(w->out), err);
    w->rendered++;
done:
    free(perma);
    buf_free(&b);
    return rc;
}

/* The URL of a job's (first) output. */
static void S_job_url(const site *s, const S_job *j, char *url, size_t n)
{
    const char *base = "/";
    switch (j->type) {
    case T_PAGE:
    case T_404:
    case T_ALIAS:
        snprintf(url, n, "%s", j->idx >= 0 ? s->pages[j->idx].url : "/404.html");
        return;
    case T_TERMS: base = "/tags/"; break;
    case T_HOME:
    case T_ERROR: break;
    case T_SECTION: base = s->sections[j->idx].url; break;
    case T_TAXONOMY: base = s->tags[j->idx].url; break;
    }
    if (j->pageno > 1)
        snprintf(url, n, "%spage/%d/", base, j->pageno);
    else
        snprintf(url, n, "%s", base);
}

/* ---- what an edit can change ------------------------------------------------ */

/* Fingerprinting with a bounded buffer: it is hashed as it fills. */
typedef struct S_fph {
    crypto_generichash_state st;
    buf b;
    int rc;
} S_fph;

static void S_fph_flush(S_fph *h, size_t at_least)
{
    if (h->rc == 0 && h->b.len >= at_least && h->b.len) {
        crypto_generichash_update(&h->st, (const unsigned char *)h->b.ptr, h->b.len);
        buf_reset(&h->b);
    }
}

static void S_fph_ints(S_fph *h, const int *v, size_t n)
{
    if (h->rc == 0)
        h->rc = S_fp_num(&h->b, (long long)n) ||
                (n && buf_add(&h->b, (const char *)v, n * sizeof *v));
}

static void S_fph_list(S_fph *h, const site *s, const S_list *l)
{
    if (h->rc == 0)
        h->rc = S_fp_list_meta(&h->b, l) || S_fp_num(&h->b, l->index_page) ||
                S_fp_num(&h->b, S_list_per(s, l));
    S_fph_ints(h, l->pages, l->n);
    S_fph_flush(h, 1 << 15);
}

static int S_fph_page(buf *b, const site *s, size_t i)
{
    const S_page *p = &s->pages[i];
    int rc = S_fp_str(b, p->c.file) || S_fp_str(b, p->url) || S_fp_str(b, p->c.title) ||
             S_fp_num(b, p->c.kind) || S_fp_str(b, p->c.section) || S_fp_num(b, p->section) ||
             S_fp_num(b, p->c.date) || S_fp_num(b, p->c.lastmod) || S_fp_num(b, p->c.draft) ||
             S_fp_num(b, p->c.weight) || S_fp_num(b, p->listed) || S_fp_num(b, p->prev) ||
             S_fp_num(b, p->next) || S_fp_str(b, p->fm_summary ? p->c.summary : NULL) ||
             S_fp_str(b, p->data_list) || S_fp_str(b, p->c.layout) ||
             S_fp_str(b, p->tpl ? tpl_name(p->tpl) : NULL) ||
             buf_add(b, (const char *)p->phash, BSTATE_HASH) ||
             buf_add(b, (const char *)p->ahash, BSTATE_HASH) || S_fp_num(b, (long long)p->c.ntags);
    for (size_t t = 0; rc == 0 && t < p->c.ntags; t++)
        rc = S_fp_str(b, p->c.tags[t]) || S_fp_num(b, p->tagidx ? p->tagidx[t] : -1);
    rc = rc || S_fp_num(b, (long long)p->c.naliases);
    for (size_t t = 0; rc == 0 && t < p->c.naliases; t++)
        rc = S_fp_str(b, p->c.aliases[t]);
    return rc;
}

/* The pages' part of the graph's fingerprint, in chunks hashed on the
 * build's threads: a chunk's digest each, in page order. */
#define S_FP_CHUNKS 16

typedef struct S_fpchunks {
    const site *s;
    size_t per;
    unsigned char dig[S_FP_CHUNKS][BSTATE_HASH];
} S_fpchunks;

static int S_fp_chunk(void *ud, size_t k, void *tls, folio_err *err)
{
    (void)tls;
    S_fpchunks *c = ud;
    S_fph h = {.b = BUF_INIT};
    crypto_generichash_init(&h.st, NULL, 0, BSTATE_HASH);
    for (size_t i = k * c->per; h.rc == 0 && i < c->s->npages && i < (k + 1) * c->per; i++) {
        h.rc = S_fph_page(&h.b, c->s, i);
        S_fph_flush(&h, 1 << 15);
    }
    S_fph_flush(&h, 0);
    buf_free(&h.b);
    crypto_generichash_final(&h.st, c->dig[k], BSTATE_HASH);
    return h.rc ? err_set(err, "out of memory") : 0;
}

/* The page graph: everything of it that outputs' fingerprints read, but
 * for what a page's own bytes give beyond its front matter (its body's
 * summary, words and links). Two builds with the same graph fingerprint
 * differ only in the pages whose bytes differ, so an output that shows none
 * of those is what it was (S_job_dirty). */
static int S_graph_fp(site *s, unsigned char out[BSTATE_HASH])
{
    S_fph h = {.b = BUF_INIT};
    crypto_generichash_init(&h.st, NULL, 0, BSTATE_HASH);
    time_t now = (time_t)(s->now / 1000);
    struct tm tm;
    h.rc = !gmtime_r(&now, &tm) || S_fp_num(&h.b, tm.tm_year) ||
           S_fp_num(&h.b, (long long)s->npages) || S_fp_num(&h.b, s->page404);
    S_fpchunks c = {s, (s->npages + S_FP_CHUNKS - 1) / S_FP_CHUNKS, {{0}}};
    folio_err e;
    if (h.rc == 0)
        h.rc = S_run(s->jobs, S_FP_CHUNKS, S_fp_chunk, &c, NULL, NULL, &e) ||
               buf_add(&h.b, (const char *)c.dig, sizeof c.dig);
    S_fph_ints(&h, s->order, s->norder);
    S_fph_ints(&h, s->recent, (size_t)s->nrecent);
    S_fph_ints(&h, s->featured, s->nfeatured);
    S_fph_list(&h, s, &s->home);
    for (size_t k = 0; k < s->nsections; k++)
        S_fph_list(&h, s, &s->sections[k]);
    for (size_t k = 0; k < s->ntags; k++)
        S_fph_list(&h, s, &s->tags[k]);
    S_fph_flush(&h, 0);
    buf_free(&h.b);
    crypto_generichash_final(&h.st, out, BSTATE_HASH);
    return h.rc ? -1 : 0;
}

/* With the tree's graph the same as this build's, the pages whose bytes
 * changed since the tree was built are all that can make its outputs
 * differ. Not when one of them is on every page (recent, featured). */
static int S_inc_dirty(site *s, S_inc *inc)
{
    if (!inc->on || inc->old.nsrc_hash != s->npages ||
        memcmp(inc->old.graph, s->graph_fp, BSTATE_HASH) != 0)
        return 0;
    if (!(inc->dirty = calloc(s->npages + 1, 1)))
        return -1;
    for (size_t i = 0; i < s->npages; i++)
        inc->dirty[i] = memcmp(inc->old.src_hash[i], s->pages[i].hash, BSTATE_HASH) != 0;
    for (int k = 0; k < s->nrecent; k++)
        if (inc->dirty[s->recent[k]])
            return 0;
    for (size_t k = 0; k < s->nfeatured; k++)
        if (inc->dirty[s->featured[k]])
            return 0;
    inc->fast = 1;
    return 0;
}

/* Whether a job's output shows a dirty page: itself, a list's index page
 * or one of the items on its page of the list (what S_fp_job reads). */
static int S_job_dirty(const site *s, const S_inc *inc, const S_job *j)
{
    const S_list *l = NULL;
    switch (j->type) {
    case T_PAGE:
    case T_404:
        return j->idx >= 0 && inc->dirty[j->idx];
    case T_HOME: l = &s->home; break;
    case T_SECTION: l = &s->sections[j->idx]; break;
    case T_TAXONOMY: l = &s->tags[j->idx]; break;
    case T_TERMS: return 0; /* the tags' names and counts: the graph's */
    default: return 1;
    }
    if (l->index_page >= 0 && inc->dirty[l->index_page])
        return 1;
    size_t per = (size_t)S_list_per(s, l), from = (size_t)(j->pageno - 1) * per;
    for (size_t k = from; k < l->n && k - from < per; k++)
        if (inc->dirty[l->pages[k]])
            return 1;
    return 0;
}

/* The job's output under the tree ("projects/a/index.html"), as S_path_of
 * gives it after OUT and its slash: on every output of a build, so not
 * printed. 0, or -1 when it does not fit. */
static int S_job_rel(const site *s, const S_job *j, char *rel, size_t n)
{
    char url[PATH_MAX];
    const char *u = url;
    if (j->type == T_PAGE || j->type == T_404 || j->type == T_ALIAS)
        u = j->idx >= 0 ? s->pages[j->idx].url : "/404.html";
    else
        S_job_url(s, j, url, sizeof url);
    size_t ul = strlen(u), extra = ul && u[ul - 1] == '/' ? 10 : 0;
    if (!ul || ul + extra > n)
        return -1;
    memcpy(rel, u + 1, ul - 1);
    memcpy(rel + ul - 1, "index.html", extra);
    rel[ul - 1 + extra] = '\0';
    return 0;
}

/* Whether the tree already holds this job's output as it would be now:
 * same templates, same fingerprint. Then it is only recorded again. */
static int S_unchanged(S_worker *w, const S_job *j, folio_err *err)
{
    site *s = w->s;
    S_inc *inc = s->inc;
    if (!inc || !inc->on || w->to || w->mode != W_REUSE || j->type == T_ALIAS ||
        (j->type == T_PAGE && s->pages[j->idx].data_name))
        return 0;
    char rel[PATH_MAX];
    if (S_job_rel(s, j, rel, sizeof rel) != 0)
        return err_set(err, "%s: path too long", w->out);
    const bstate_out *o = S_inc_old(inc, rel);
    if (!o || (o->flags & BSTATE_DATA) || o->set < 0 || !inc->oldsets[o->set].valid)
        return 0;
    unsigned char fp[BSTATE_HASH], jfp[BSTATE_HASH];
    /* it shows no page that changed: only the data it read can differ */
    int clean = inc->fast && !S_job_dirty(s, inc, j);
    if (clean && !o->names)
        memcpy(fp, o->fp, sizeof fp);
    else if (S_fp_out(w, j, inc->oldsets[o->set].mask, o->names, clean ? o->jfp : NULL, jfp,
                      fp) != 0 ||
             memcmp(fp, o->fp, sizeof fp))
        return 0;
    /* 14,000 unchanged pages share a few sets: intern each once, not a
     * locked search per page */
    int set = atomic_load(&inc->oldset_at[o->set]);
    if (set < 0) {
        set = S_tset_intern(s, &inc->oldsets[o->set]);
        atomic_store(&inc->oldset_at[o->set], set);
    }
    if (set < 0)
        return err_set(err, "out of memory");
    if (w->batched) {
        void *v = w->kept;
        if (util_grow(&v, &w->keptcap, w->nkept, sizeof *w->kept, 1024) != 0)
            return err_set(err, "out of memory");
        w->kept = v;
        bstate_out *k = &w->kept[w->nkept++];
        *k = (bstate_out){.path = o->path, .set = set, .flags = BSTATE_BORROWED,
                          .names = o->names};
        memcpy(k->fp, fp, BSTATE_HASH);
        if (o->names)
            memcpy(k->jfp, jfp, BSTATE_HASH);
    } else if (S_inc_add(inc, rel, set, 0, o->names, fp, o->names ? jfp : NULL, o) != 0) {
        return err_set(err, "out of memory");
    }
    if (inc->taken) /* one byte per entry: threads never write the same one */
        inc->taken[o - inc->old.outs] = 1;
    w->skipped++;
    return 1;
}

static int S_job_run(S_worker *w, const S_job *j, folio_err *err)
{
    int same = S_unchanged(w, j, err);
    if (same != 0)
        return same < 0 ? -1 : 0;
    w->job = j;
    if (j->type == T_ALIAS)
        return S_alias(w, j, err);
    site *s = w->s;
    /* a data page's pages come and go in one job: those stay on malloc */
    jarena *ja = j->type == T_PAGE && s->pages[j->idx].data_name ? NULL : w->ja;
    jarena_state was = jarena_save();
    if (ja)
        jarena_enter(ja);
    cJSON *ctx = cJSON_CreateObject();
    if (!ctx) {
        jarena_restore(was);
        return err_set(err, "out of memory");
    }
    S_out o = {0};
    S_rctx r = {w->call, -1, "", 0, {{0}, 0, 1}};
    int rc = S_job_ctx(s, j, ctx, &o, err);
    if (rc == 0 && S_jsonld(s, ctx) != 0)
        rc = err_set(err, "out of memory");
    if (rc == 0 && w->extra && S_add_extra(ctx, w->extra) != 0)
        rc = err_set(err, "out of memory");
    r.active = o.active;
    if (rc == 0) {
        if (j->type == T_PAGE && s->pages[j->idx].data_name)
            rc = S_data_pages(w, j, ctx, &o, &r, err);
        else
            rc = S_emit(w, &o, ctx, &r, err);
    }
    jarena_restore(was);
    if (ja)
        jarena_reset(ja);
    else
        cJSON_Delete(ctx);
    return rc;
}

/* ---- feeds, sitemap, robots --------------------------------------------- */

static int S_xml(buf *b, const char *s)
{
    return buf_add_html(b, s, strlen(s));
}

static void S_iso(long long ms, char out[32])
{
    util_format_iso_ms(ms, out);
    /* 2025-03-01T00:00:00.000Z -> 2025-03-01T00:00:00Z */
    size_t n = strlen(out);
    if (n == 24)
        memcpy(out + 19, "Z", 2);
}

/* Page a before page b in a feed: newer first, then by file. */
static int S_newer(const site *s, int a, int b)
{
    const content_page *x = &s->pages[a].c, *y = &s->pages[b].c;
    if (x->date != y->date)
        return x->date > y->date ? -1 : 1;
    return strcmp(x->file, y->file);
}

/* The newest S_FEED_ENTRIES pages of l, newest first (S_newer), into v:
 * a feed's entries, picked without sorting the whole list. */
static size_t S_newest(const site *s, const S_list *l, int v[S_FEED_ENTRIES])
{
    size_t n = 0;
    for (size_t k = 0; k < l->n; k++) {
        int p = l->pages[k];
        if (n == S_FEED_ENTRIES && S_newer(s, p, v[n - 1]) >= 0)
            continue;
        size_t at = n < S_FEED_ENTRIES ? n++ : n - 1;
        for (; at > 0 && S_newer(s, p, v[at - 1]) < 0; at--)
            v[at] = v[at - 1];
        v[at] = p;
    }
    return n;
}

static int S_feed(site *s, const char *out, const S_list *l, const char *title,
                  const char *url, int mode, S_inc *rec, folio_err *err)
{
    int byd[S_FEED_ENTRIES];
    size_t n = S_newest(s, l, byd);
    buf b = BUF_INIT;
    char iso[32], feedurl[PATH_MAX];
    snprintf(feedurl, sizeof feedurl, "%sindex.xml", url);
    char *self = S_permalink(s, feedurl), *home = S_permalink(s, url);
    /* the feed changed when its newest entry did */
    long long upd = -1;
    for (size_t k = 0; k < n; k++) {
        const content_page *c = &s->pages[byd[k]].c;
        long long t = c->lastmod >= 0 ? c->lastmod : c->date;
        if (t > upd)
            upd = t;
    }
    /* The tree's graph is this one: unless an entry's own bytes changed
     * (its summary), its feed is what it would be (a feed without dates
     * shows the time of its build, so it is made again). */
    int same = mode == W_REUSE && rec && rec->fast && upd >= 0;
    for (size_t k = 0; same && k < n; k++)
        same = !rec->dirty[byd[k]];
    if (same) {
        static const unsigned char none[BSTATE_HASH];
        char path[PATH_MAX];
        free(self);
        free(home);
        if (S_path_of(out, feedurl, path, sizeof path, err) != 0)
            return -1;
        if (S_inc_put(rec, path + strlen(out) + 1, -1, BSTATE_DATA, NULL, none, NULL) != 0)
            return err_set(err, "out of memory");
        return 0;
    }
    S_iso(upd >= 0 ? upd : s->now, iso);
    int rc = !self || !home ||
             buf_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                          "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<title>") ||
             S_xml(&b, title) || buf_puts(&b, "</title>\n<link href=\"") || S_xml(&b, home) ||
             buf_puts(&b, "\"/>\n<link rel=\"self\" href=\"") || S_xml(&b, self) ||
             buf_puts(&b, "\"/>\n<id>") || S_xml(&b, home) ||
             buf_printf(&b, "</id>\n<updated>%s</updated>\n", iso) ||
             buf_puts(&b, "<author><name>") ||
             S_xml(&b, *s->cfg->author ? s->cfg->author : s->cfg->title) ||
             buf_puts(&b, "</name></author>\n");
    for (size_t k = 0; rc == 0 && k < n; k++) {
        S_page *p = &s->pages[byd[k]];
        if (S_meta(s, byd[k], err) != 0) {
            rc = -1;
            break;
        }
        char *pl = S_permalink(s, p->url);
        long long d = p->c.lastmod >= 0 ? p->c.lastmod : p->c.date >= 0 ? p->c.date : s->now;
        S_iso(d, iso);
        rc = !pl || buf_puts(&b, "<entry>\n<title>") || S_xml(&b, p->c.title) ||
             buf_puts(&b, "</title>\n<link href=\"") || S_xml(&b, pl) ||
             buf_puts(&b, "\"/>\n<id>") || S_xml(&b, pl) ||
             buf_printf(&b, "</id>\n<updated>%s</updated>\n", iso);
        if (rc == 0 && p->c.date >= 0) {
            S_iso(p->c.date, iso);
            rc = buf_printf(&b, "<published>%s</published>\n", iso);
        }
        if (rc == 0)
            rc = buf_puts(&b, "<summary>") ||
                 S_xml(&b, p->c.summary ? p->c.summary : "") ||
                 buf_puts(&b, "</summary>\n</entry>\n");
        free(pl);
    }
    if (rc == 0)
        rc = buf_puts(&b, "</feed>\n");
    free(self);
    free(home);
    if (rc != 0) {
        buf_free(&b);
        return err->msg[0] ? -1 : err_set(err, "out of memory");
    }
    char path[PATH_MAX];
    rc = S_path_of(out, feedurl, path, sizeof path, err);
    if (rc == 0)
        rc = S_write(path, b.ptr, b.len, mode, rec, strlen(out), err);
    buf_free(&b);
    return rc;
}

static int S_sitemap_url(buf *b, site *s, const char *url, long long ms)
{
    char *pl = S_permalink(s, url);
    int rc = !pl || buf_puts(b, "<url><loc>") || S_xml(b, pl) || buf_puts(b, "</loc>");
    if (rc == 0 && ms >= 0) {
        char iso[32];
        S_iso(ms, iso);
        rc = buf_printf(b, "<lastmod>%s</lastmod>", iso);
    }
    free(pl);
    return rc == 0 ? buf_puts(b, "</url>\n") : -1;
}

static int S_sitemap(site *s, const char *out, int mode, S_inc *rec, folio_err *err)
{
    static const unsigned char none[BSTATE_HASH];
    if (mode == W_REUSE && rec && rec->fast) {
        /* what it lists (URLs, dates) is the page graph's, and the tree's
         * graph is this one: its sitemap and robots.txt are what they'd be */
        if (S_inc_put(rec, "sitemap.xml", -1, BSTATE_DATA, NULL, none, NULL) != 0 ||
            S_inc_put(rec, "robots.txt", -1, BSTATE_DATA, NULL, none, NULL) != 0)
            return err_set(err, "out of memory");
        return 0;
    }
    buf b = BUF_INIT;
    int rc = buf_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                          "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    long long newest = -1;
    for (size_t k = 0; k < s->norder; k++) {
        const content_page *c = &s->pages[s->order[k]].c;
        long long t = c->lastmod >= 0 ? c->lastmod : c->date;
        if (t > newest)
            newest = t;
    }
    rc = rc || S_sitemap_url(&b, s, "/", newest);
    for (size_t k = 0; rc == 0 && k < s->nsections; k++)
        rc = S_sitemap_url(&b, s, s->sections[k].url, -1);
    for (size_t k = 0; rc == 0 && k < s->norder; k++) {
        const content_page *c = &s->pages[s->order[k]].c;
        rc = S_sitemap_url(&b, s, s->pages[s->order[k]].url,
                           c->lastmod >= 0 ? c->lastmod : c->date);
    }
    if (rc == 0 && s->ntags)
        rc = S_sitemap_url(&b, s, "/tags/", -1);
    for (size_t k = 0; rc == 0 && k < s->ntags; k++)
        rc = S_sitemap_url(&b, s, s->tags[k].url, -1);
    rc = rc || buf_puts(&b, "</urlset>\n");
    if (rc != 0) {
        buf_free(&b);
        return err_set(err, "out of memory");
    }
    char path[PATH_MAX];
    rc = S_path_of(out, "/sitemap.xml", path, sizeof path, err);
    rc = rc ? rc : S_write(path, b.ptr, b.len, mode, rec, strlen(out), err);
    buf_free(&b);
    if (rc != 0)
        return -1;
    buf_reset(&b);
    if (buf_printf(&b, "User-agent: *\nAllow: /\n\nSitemap: %ssitemap.xml\n",
                   s->cfg->base_url) != 0)
        return err_set(err, "out of memory");
    rc = S_path_of(out, "/robots.txt", path, sizeof path, err);
    rc = rc ? rc : S_write(path, b.ptr, b.len, mode, rec, strlen(out), err);
    buf_free(&b);
    return rc;
}

/* ---- deps file ------------------------------------------------------------ */

static int S_deps_write(site *s, const char *out, folio_err *err)
{
    buf b = BUF_INIT;
    int rc = buf_puts(&b, "folio-deps 1\n");
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; rc == 0 && i < s->ndeps; i++) {
        const char *n = s->deps[i].names;
        size_t len = strlen(n);
        /* stored as " a b "; written as "URL\ta b" */
        rc = buf_printf(&b, "%s\t%.*s\n", s->deps[i].url, (int)(len > 2 ? len - 2 : 0),
                        len > 2 ? n + 1 : "");
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) {
        buf_free(&b);
        return err_set(err, "out of memory");
    }
    char path[PATH_MAX];
    if (util_path(path, sizeof path, err, "%s/%s", out, S_DEPS_FILE) != 0) {
        buf_free(&b);
        return -1;
    }
    rc = util_write_atomic(path, b.ptr, b.len, 0, err);
    buf_free(&b);
    return rc;
}

static int S_deps_load(site *s, folio_err *err)
{
    char path[PATH_MAX];
    if (util_path(path, sizeof path, err, "%s/%s", s->out, S_DEPS_FILE) != 0)
        return -1;
    if (!util_is_file(path))
        return 0; /* never built: nothing has read anything yet */
    char *src;
    size_t len;
    if (util_read_file(path, &src, &len, err) != 0)
        return -1;
    S_deplist d = {0};
    int rc = 0, line = 0;
    char *save = NULL;
    for (char *l = strtok_r(src, "\n", &save); l && rc == 0; l = strtok_r(NULL, "\n", &save)) {
        line++;
        if (line == 1) {
            if (strcmp(l, "folio-deps 1") != 0)
                rc = err_set(err, "%s:1: not a folio deps file", path);
            continue;
        }
        char *tab = strchr(l, '\t');
        if (!tab || l[0] != '/') {
            rc = err_set(err, "%s:%d: expected URL<TAB>NAMES", path, line);
            break;
        }
        *tab = '\0';
        buf names = BUF_INIT;
        if (buf_printf(&names, " %s ", tab + 1) != 0 || S_dep_add(&d, l, names.ptr) != 0)
            rc = err_set(err, "out of memory");
        buf_free(&names);
    }
    free(src);
    if (rc != 0) {
        S_deps_free(d.v, d.n);
        return -1;
    }
    s->deps = d.v;
    s->ndeps = d.n;
    return 0;
}

/* Replaces the recorded names of the URLs in d (in place renders). */
static void S_deps_merge(site *s, S_deplist *d, const char *const *urls, size_t nurls)
{
    pthread_mutex_lock(&s->mu);
    size_t o = 0;
    for (size_t i = 0; i < s->ndeps; i++) {
        int drop = 0;
        for (size_t k = 0; k < nurls && !drop; k++)
            drop = !strcmp(s->deps[i].url, urls[k]);
        if (drop) {
            free(s->deps[i].url);
            free(s->deps[i].names);
        } else {
            s->deps[o++] = s->deps[i];
        }
    }
    s->ndeps = o;
    for (size_t i = 0; i < d->n; i++) {
        if (s->ndeps % 16 == 0) {
            S_dep *nv = realloc(s->deps, (s->ndeps + 16) * sizeof *nv);
            if (!nv) {
                free(d->v[i].url);
                free(d->v[i].names);
                continue;
            }
            s->deps = nv;
        }
        s->deps[s->ndeps++] = d->v[i];
    }
    free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
    pthread_mutex_unlock(&s->mu);
}

/* ---- checks of folio.yml ------------------------------------------------ */

/* Top-level keys of folio.yml, those of the parts being built included. */
static const char *const S_cfg_keys[] = {
    "title", "base_url", "author", "language", "description", "params", "paginate",
    "store", "forms", "fcgi", "menu", "paths", "mail", "webhooks", "api", "accounts",
    "admin", "serve", "images", "theme", "consumers", "log", "metrics",
    "date_format"};

static int S_job_for(const site *s, const char *url, S_job *j);
static int S_bfile_has(const site *s, const char *url);

/* Whether an internal URL is something the site serves. */
static int S_serves(const site *s, const char *url)
{
    static const char *const routes[] = {"/contact", "/register", "/health", "/metrics",
                                         "/index.xml", "/sitemap.xml", "/robots.txt"};
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (!strcmp(url, routes[i]))
            return 1;
    char path[PATH_MAX], base[PATH_MAX];
    snprintf(base, sizeof base, "%s", url);
    char *cut = strpbrk(base, "?#");
    if (cut)
        *cut = '\0';
    size_t n = strlen(base);
    S_job j;
    if (S_job_for(s, base, &j) == 0 || S_bfile_has(s, base))
        return 1;
    if (n && n + 1 < sizeof base && base[n - 1] != '/') {
        memcpy(base + n, "/", 2);
        if (S_job_for(s, base, &j) == 0)
            return 1;
        base[n] = '\0';
    }
    /* a section's feed */
    if (n > 10 && !strcmp(base + n - 10, "/index.xml")) {
        base[n - 9] = '\0';
        if (S_url_get(s, base))
            return 1;
        base[n - 9] = 'i';
    }
    if (!strcmp(base, "/" S_THEME_CSS))
        return 1;
    const char *dirs[2];
    size_t nd = theme_dirs(&s->theme, s->cfg, "static", dirs);
    folio_err e;
    for (size_t k = 0; k < nd; k++)
        if (util_path(path, sizeof path, &e, "%s%s", dirs[k], base) == 0 &&
            (util_is_file(path) || util_is_dir(path)))
            return 1;
    return 0;
}

/* The content page a site path shows (a page, or a list's _index.md), or -1. */
static int S_page_at(const site *s, const char *path)
{
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s", path);
    base[strcspn(base, "#?")] = '\0';
    S_job j;
    size_t n = strlen(base);
    if (S_job_for(s, base, &j) != 0) {
        if (!n || base[n - 1] == '/' || n + 1 >= sizeof base)
            return -1;
        memcpy(base + n, "/", 2);
        if (S_job_for(s, base, &j) != 0)
            return -1;
    }
    switch (j.type) {
    case T_PAGE:
    case T_404: return j.idx;
    case T_HOME: return s->home.index_page;
    case T_SECTION: return j.pageno == 1 ? s->sections[j.idx].index_page : -1;
    default: return -1;
    }
}

/* Whether url's #fragment names an id that its page (page `from` for
 * "#x"; else the one at target) does not have. Pages folio makes without
 * content (tag lists) and fragments of other sites are not checked. */
static int S_anchor_missing(site *s, int from, const char *url, const char *target, buf *tmp)
{
    const char *frag = strchr(url, '#');
    if (!frag || !frag[1] || !strcasecmp(frag + 1, "top"))
        return 0; /* "#top" is the top of any page (HTML's fragment rules) */
    frag++;
    int idx = url[0] == '#' ? from : S_page_at(s, target);
    folio_err e;
    if (idx < 0 || S_meta(s, idx, &e) != 0)
        return 0;
    size_t fl = strlen(frag);
    return !anchors_has(S_links(s, &s->pages[idx], tmp), frag, fl) &&
           !anchors_has(s->tpl_ids.ptr, frag, fl);
}

static void S_check_config(site *s)
{
    char *src;
    size_t len;
    folio_err e;
    cJSON *lines = NULL;
    if (!s->cfg->file || util_read_file(s->cfg->file, &src, &len, &e) != 0)
        return;
    cJSON *raw = config_yaml_to_json_lines("folio.yml", 1, src, len, &lines, &e);
    free(src);
    buf tmp = BUF_INIT;
    const cJSON *it;
    cJSON_ArrayForEach(it, raw) {
        const char *near = content_suggest(it->string, S_cfg_keys,
                                           sizeof S_cfg_keys / sizeof *S_cfg_keys);
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(lines, it->string);
        if (near)
            S_warn(s, "folio.yml:%d: unknown key '%s' — did you mean '%s'?",
                   cJSON_IsNumber(l) ? l->valueint : 1, it->string, near);
    }
    const cJSON *menu = cJSON_GetObjectItemCaseSensitive(raw, "menu");
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(lines, "menu");
    cJSON_ArrayForEach(it, menu) {
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(it, "url");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        if (cJSON_IsString(url) && url->valuestring[0] == '/' && url->valuestring[1] != '/' &&
            !S_serves(s, url->valuestring))
            S_warn(s, "folio.yml:%d: the menu item '%s' links to %s, which the site does "
                   "not have", cJSON_IsNumber(ml) ? ml->valueint : 1,
                   cJSON_IsString(name) ? name->valuestring : "", url->valuestring);
        else if (cJSON_IsString(url) && url->valuestring[0] == '/' &&
                 S_anchor_missing(s, -1, url->valuestring, url->valuestring, &tmp))
            S_warn(s, "folio.yml:%d: the menu item '%s' links to %s, but that page has no "
                   "#%s", cJSON_IsNumber(ml) ? ml->valueint : 1,
                   cJSON_IsString(name) ? name->valuestring : "", url->valuestring,
                   strchr(url->valuestring, '#') + 1);
    }
    cJSON_Delete(raw);
    cJSON_Delete(lines);
    buf_free(&tmp);
}

/* The site path a link in page p points at ("" when it is not internal:
 * another site, mail, an anchor of the page itself). */
static void S_link_target(const S_page *p, const char *url, char *out, size_t n)
{
    out[0] = '\0';
    size_t k = 0;
    while (isalnum((unsigned char)url[k]) || url[k] == '+' || url[k] == '.' || url[k] == '-')
        k++;
    if ((k && url[k] == ':') || url[0] == '#' || url[0] == '?' || !strncmp(url, "//", 2))
        return;
    char path[PATH_MAX];
    size_t bl = url[0] == '/' ? 0 : strlen(p->url), ul = strlen(url);
    if (bl + ul >= sizeof path)
        return;
    memcpy(path, p->url, bl);
    memcpy(path + bl, url, ul + 1);
    path[strcspn(path, "#?")] = '\0';
    /* ./ and ../ as a browser resolves them */
    size_t o = 0;
    for (char *seg = path + 1, *next; seg && *seg; seg = next) {
        next = strchr(seg, '/');
        size_t len = next ? (size_t)(next - seg) : strlen(seg);
        if (next)
            next++;
        if (len == 1 && seg[0] == '.')
            continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (o > 0 && out[--o] != '/')
                ;
            continue;
        }
        if (o + len + 2 >= n)
            return;
        out[o++] = '/';
        memcpy(out + o, seg, len);
        o += len;
    }
    size_t pl = strlen(path);
    if (o + 2 < n && (o == 0 || path[pl - 1] == '/'))
        out[o++] = '/';
    out[o] = '\0';
}

#define S_LINK_WARNINGS 20 /* then a count: a big site's typo is not 10,000 lines */

/* Whether the site serves a link target, asked once per target: a big
 * site links to the same few pages thousands of times. */
typedef struct S_memo {
    S_strmap map;   /* target -> whether it is served (keys owned) */
    buf own, other; /* a page's links, and those of the page a link names */
} S_memo;

static int S_serves_memo(const site *s, S_memo *m, const char *target)
{
    size_t k = 0;
    if (S_strmap_room(&m->map) != 0)
        return S_serves(s, target);
    const int *known = S_strmap_find(&m->map, target, &k);
    if (known)
        return *known;
    int r = S_serves(s, target);
    if ((m->map.key[k] = util_strdup(target))) {
        m->map.val[k] = r;
        m->map.n++;
    }
    return r;
}

static void S_memo_free(S_memo *m)
{
    for (size_t i = 0; i < m->map.cap; i++)
        free(m->map.key[i]);
    free(m->map.key);
    free(m->map.val);
    buf_free(&m->own);
    buf_free(&m->other);
}

/* The broken links of page i: counted, and the first *budget of them
 * warned of (budget NULL: only counted). */
static int S_page_links(site *s, size_t i, S_memo *memo, int *budget)
{
    const S_page *p = &s->pages[i];
    int broken = 0;
    if (!p->listed && (int)i != s->page404 && p->c.kind == CONTENT_PAGE)
        return 0; /* not in this build */
    for (const char *l = S_links(s, p, &memo->own); l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        if (l[0] == '#') { /* one of the page's ids */
            l += len + (nl ? 1 : 0);
            continue;
        }
        char url[PATH_MAX], target[PATH_MAX];
        int line = atoi(l);
        const char *tab = memchr(l, '\t', len);
        size_t ul = tab ? len - (size_t)(tab + 1 - l) : 0;
        if (ul >= sizeof url)
            ul = 0;
        memcpy(url, tab ? tab + 1 : "", ul);
        url[ul] = '\0';
        l += len + (nl ? 1 : 0);
        if (url[0] != '#' && strchr(url, '#'))
            s->pages[i].xfrag = 1; /* its result follows that page's ids */
        S_link_target(p, url, target, sizeof target);
        if (url[0] != '#' && (!*target || !S_serves_memo(s, memo, target))) {
            if (*target && ++broken && budget && *budget > 0 && (*budget)--)
                S_warn(s, "content/%s:%d: a link to %s, which the site does not have",
                       p->c.file, p->c.body_line - 1 + line, url);
            continue;
        }
        if (S_anchor_missing(s, (int)i, url, target, &memo->other) && ++broken && budget && *budget > 0 &&
            (*budget)--)
            S_warn(s, "content/%s:%d: a link to %s, but that page has no #%s (ids come "
                   "from its headings and id=\"...\")", p->c.file,
                   p->c.body_line - 1 + line, url, strchr(url, '#') + 1);
    }
    return broken;
}

typedef struct S_linkrun {
    site *s;
    int *broken;  /* per page */
    const uint32_t *kept; /* the last check's, where they hold (S_links_load), or NULL */
} S_linkrun;

#define S_LINKS_FILE ".folio-links"
#define S_LINKS_MAGIC "folio-links 1\n"
#define S_XFRAG 0x80000000u

/* What the link check's results depend on beyond each page's own bytes:
 * the page graph, static/'s paths, the templates' ids. */
static void S_links_fp(const site *s, unsigned char out[BSTATE_HASH])
{
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, BSTATE_HASH);
    crypto_generichash_update(&h, s->graph_fp, BSTATE_HASH);
    crypto_generichash_update(&h, (const unsigned char *)&s->static_sum, sizeof s->static_sum);
    crypto_generichash_update(&h, (const unsigned char *)(s->tpl_ids.ptr ? s->tpl_ids.ptr : ""),
                              s->tpl_ids.len);
    crypto_generichash_final(&h, out, BSTATE_HASH);
}

/* Which bytes of the pages a check was of. */
static void S_srcs_fp(const unsigned char (*v)[BSTATE_HASH], size_t n,
                      unsigned char out[BSTATE_HASH])
{
    S_hash_bytes(out, v, n * BSTATE_HASH);
}

/* The check kept in dir when it holds for this build: the tree's state is
 * what this build compares with (inc->fast) and the check was of those
 * bytes under the same graph, static/ and templates. Then a page whose
 * bytes are the tree's and that names no other page's #id has the same
 * result. NULL otherwise. */
static uint32_t *S_links_load(site *s, const char *dir)
{
    S_inc *inc = s->inc;
    char path[PATH_MAX], *src = NULL;
    size_t len, want = sizeof S_LINKS_MAGIC - 1 + 2 * BSTATE_HASH + s->npages * 4;
    folio_err e;
    if (!inc || !inc->fast || !inc->dirty ||
        util_path(path, sizeof path, &e, "%s/%s", dir, S_LINKS_FILE) != 0 ||
        util_read_file(path, &src, &len, &e) != 0)
        return NULL;
    unsigned char fp[BSTATE_HASH], sfp[BSTATE_HASH];
    S_links_fp(s, fp);
    S_srcs_fp((const unsigned char (*)[BSTATE_HASH])inc->old.src_hash, inc->old.nsrc_hash, sfp);
    const char *at = src + sizeof S_LINKS_MAGIC - 1;
    uint32_t *v = NULL;
    if (len == want && !memcmp(src, S_LINKS_MAGIC, sizeof S_LINKS_MAGIC - 1) &&
        !memcmp(at, fp, BSTATE_HASH) && !memcmp(at + BSTATE_HASH, sfp, BSTATE_HASH) &&
        (v = malloc(s->npages * 4 + 4)))
        memcpy(v, at + 2 * BSTATE_HASH, s->npages * 4);
    free(src);
    return v;
}

/* This check's results, beside the tree's state (NULL-safe: a file that
 * cannot be written is removed, never left to speak for another build). */
static void S_links_save(site *s, const char *dir)
{
    char path[PATH_MAX];
    folio_err e;
    if (util_path(path, sizeof path, &e, "%s/%s", dir, S_LINKS_FILE) != 0)
        return;
    buf b = BUF_INIT;
    unsigned char fp[BSTATE_HASH], sfp[BSTATE_HASH];
    S_links_fp(s, fp);
    unsigned char (*h)[BSTATE_HASH] = malloc((s->npages + 1) * BSTATE_HASH);
    for (size_t i = 0; h && i < s->npages; i++)
        memcpy(h[i], s->pages[i].hash, BSTATE_HASH);
    int rc = !h || buf_puts(&b, S_LINKS_MAGIC) || buf_add(&b, (const char *)fp, sizeof fp);
    if (rc == 0) {
        S_srcs_fp((const unsigned char (*)[BSTATE_HASH])h, s->npages, sfp);
        rc = buf_add(&b, (const char *)sfp, sizeof sfp);
    }
    for (size_t i = 0; rc == 0 && i < s->npages; i++) {
        uint32_t r = (uint32_t)s->pages[i].broken | (s->pages[i].xfrag ? S_XFRAG : 0);
        rc = buf_add(&b, (const char *)&r, sizeof r);
    }
    free(h);
    if (rc != 0 || util_write_atomic(path, b.ptr, b.len, 0, &e) != 0)
        unlink(path);
    buf_free(&b);
}

static void *S_memo_new(void *ud)
{
    (void)ud;
    return calloc(1, sizeof(S_memo));
}

static void S_memo_done(void *ud, void *tls)
{
    (void)ud;
    if (tls)
        S_memo_free(tls);
    free(tls);
}

static int S_links_task(void *ud, size_t i, void *tls, folio_err *err)
{
    (void)err;
    S_linkrun *lr = ud;
    S_page *p = &lr->s->pages[i];
    if (lr->kept && !lr->s->inc->dirty[i] && !(lr->kept[i] & S_XFRAG)) {
        p->broken = lr->broken[i] = (int)lr->kept[i];
        p->xfrag = 0;
        return 0;
    }
    if (!tls)
        return -1;
    p->xfrag = 0;
    p->broken = lr->broken[i] = S_page_links(lr->s, i, tls, NULL);
    return 0;
}

/* Links in the Markdown to pages and files the site does not have, and
 * to #anchors their pages do not have: counted in parallel, then the first
 * few warned of in page order (the same ones whatever the threads did). */
/* dir: the tree the build wrote, where the results are kept (NULL: none) */
static void S_check_links(site *s, const char *dir)
{
    S_linkrun lr = {s, calloc(s->npages + 1, sizeof(int)), dir ? S_links_load(s, dir) : NULL};
    folio_err e;
    if (!lr.broken || S_run(s->jobs, s->npages, S_links_task, &lr, S_memo_new, S_memo_done,
                            &e) != 0) {
        free(lr.broken);
        free((void *)lr.kept);
        char path[PATH_MAX];
        if (dir && util_path(path, sizeof path, &e, "%s/%s", dir, S_LINKS_FILE) == 0)
            unlink(path);
        return; /* out of memory: no checks rather than no build */
    }
    free((void *)lr.kept);
    if (dir)
        S_links_save(s, dir);
    int budget = S_LINK_WARNINGS, total = 0;
    S_memo memo = {0};
    for (size_t i = 0; i < s->npages; i++) {
        total += lr.broken[i];
        if (lr.broken[i] && budget > 0)
            (void)S_page_links(s, i, &memo, &budget);
    }
    if (total > S_LINK_WARNINGS)
        S_warn(s, "... and %d more links to pages the site does not have",
               total - S_LINK_WARNINGS);
    S_memo_free(&memo);
    free(lr.broken);
}

/* ---- page bundles ---------------------------------------------------------
 *
 * content/SECTION/NAME/index.md is a page bundle: the page /SECTION/NAME/
 * (slug: replaces NAME), whose folder's other files are published beside
 * it, so that its Markdown reaches them by their names. A bundle directly
 * in content/ (content/NAME/index.md) is a top-level page, not a section.
 * Other .md files in the folder are pages of their own, as anywhere. */

typedef struct S_bfile {
    char *url;  /* "/projects/foo/photo.png" */
    char *src;  /* under content/: "projects/foo/photo.png" */
} S_bfile;

static int S_bundle_kind(S_page *p, folio_err *err)
{
    const char *f = p->c.file, *sl = strrchr(f, '/');
    if (p->c.kind != CONTENT_PAGE || !sl || strcmp(sl + 1, "index.md"))
        return 0;
    if (!(p->bundle = util_strndup(f, (size_t)(sl - f))))
        return err_set(err, "out of memory");
    if (!strchr(p->bundle, '/')) {
        content_str_free(&p->c, p->c.section);
        if (!(p->c.section = util_strdup("")))
            return err_set(err, "out of memory");
    }
    return 0;
}

static int S_cmp_bfile(const void *a, const void *b)
{
    return strcmp(((const S_bfile *)a)->url, ((const S_bfile *)b)->url);
}

static int S_bfile_has(const site *s, const char *url)
{
    S_bfile key = {(char *)url, NULL};
    return s->nbfiles &&
           bsearch(&key, s->bfiles, s->nbfiles, sizeof key, S_cmp_bfile) != NULL;
}

static int S_bfile_add(site *s, const char *url, const char *src)
{
    S_bfile *nv = realloc(s->bfiles, (s->nbfiles + 1) * sizeof *nv);
    if (!nv)
        return -1;
    s->bfiles = nv;
    S_bfile *b = &nv[s->nbfiles];
    b->url = util_strdup(url);
    b->src = util_strdup(src);
    if (!b->url || !b->src) {
        free(b->url);
        free(b->src);
        return -1;
    }
    s->nbfiles++;
    return 0;
}

/* What an edit of a bundle's files changes: their names and stats. */
static int S_fp_stat(buf *b, const char *name, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return S_fp_str(b, name);
    unsigned char fp[BSTATE_HASH];
    S_static_fp(&st, fp);
    return S_fp_str(b, name) || buf_add(b, (const char *)fp, sizeof fp);
}

/* The files of one bundle; a name that cannot be a URL is named in a warning. */
static int S_bundle_scan(site *s, S_page *p, buf *fp, folio_err *err)
{
    S_files f = {0};
    if (S_walk(s->cfg->content_dir, p->bundle, "", &f, 0, err) != 0) {
        S_files_free(&f);
        return -1;
    }
    int rc = 0;
    size_t bl = strlen(p->bundle);
    for (size_t i = 0; rc == 0 && i < f.n; i++) {
        const char *rel = f.v[i] + bl + 1;
        size_t n = strlen(rel);
        if (n >= 3 && !strcmp(rel + n - 3, ".md"))
            continue;
        char url[PATH_MAX], path[PATH_MAX];
        if (util_path(url, sizeof url, err, "%s%s", p->url, rel) != 0 ||
            util_path(path, sizeof path, err, "%s/%s", s->cfg->content_dir, f.v[i]) != 0) {
            rc = -1;
            break;
        }
        if (!S_url_ok(url)) {
            S_warn(s, "content/%s: not published: its name would need escaping in a URL "
                   "(use letters, digits, '-', '_' and '.')", f.v[i]);
            continue;
        }
        if (S_bfile_add(s, url, f.v[i]) != 0 || S_fp_stat(fp, rel, path) != 0)
            rc = err_set(err, "out of memory");
    }
    S_files_free(&f);
    return rc;
}

/* The file a page's cover: names, in its bundle or else in static/: 1 and
 * path, 0 when it has none, -1 when no such file is there. */
static int S_cover_path(const site *s, const S_page *p, char *path, size_t n)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(p->c.params, "cover");
    if (!cJSON_IsString(c) || !*c->valuestring)
        return 0;
    const char *v = c->valuestring;
    folio_err e;
    if (p->bundle && v[0] != '/' &&
        util_path(path, n, &e, "%s/%s/%s", s->cfg->content_dir, p->bundle, v) == 0 &&
        util_is_file(path))
        return 1;
    if (theme_file(&s->theme, s->cfg, "static", v + (v[0] == '/'), path, n))
        return 1;
    return -1;
}

static int S_cover_fp(site *s, S_page *p, buf *fp)
{
    char path[PATH_MAX];
    return S_cover_path(s, p, path, sizeof path) == 1 ? S_fp_stat(fp, "cover", path) : 0;
}

/* Every bundle of the build: its files, and the hash of their stats. */
static int S_bundles(site *s, folio_err *err)
{
    buf fp = BUF_INIT;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->npages; i++) {
        S_page *p = &s->pages[i];
        if (!p->listed && (int)i != s->page404 && p->c.kind == CONTENT_PAGE)
            continue; /* not in this build (lists' _index.md pages are) */
        buf_reset(&fp);
        if (p->bundle && S_bundle_scan(s, p, &fp, err) != 0)
            rc = -1;
        else if (S_cover_fp(s, p, &fp) != 0)
            rc = err_set(err, "out of memory");
        else if (fp.len)
            S_hash_bytes(p->ahash, fp.ptr, fp.len);
    }
    buf_free(&fp);
    if (rc == 0 && s->nbfiles > 1)
        qsort(s->bfiles, s->nbfiles, sizeof *s->bfiles, S_cmp_bfile);
    for (size_t k = 1; rc == 0 && k < s->nbfiles; k++)
        if (!strcmp(s->bfiles[k - 1].url, s->bfiles[k].url))
            rc = err_set(err, "content/%s and content/%s are both published at %s",
                         s->bfiles[k - 1].src, s->bfiles[k].src, s->bfiles[k].url);
    return rc;
}

/* The bundles' files into the tree, recorded like static files. */
static int S_bundles_publish(site *s, const char *tree, int mode, folio_err *err)
{
    size_t rl = strlen(tree);
    for (size_t k = 0; k < s->nbfiles; k++) {
        char from[PATH_MAX], to[PATH_MAX];
        struct stat st;
        if (util_path(from, sizeof from, err, "%s/%s", s->cfg->content_dir,
                      s->bfiles[k].src) != 0 ||
            util_path(to, sizeof to, err, "%s%s", tree, s->bfiles[k].url) != 0)
            return -1;
        if (stat(from, &st) != 0)
            return err_set(err, "content/%s: %s", s->bfiles[k].src, strerror(errno));
        if (S_copy_file(s, from, to, &st, mode, rl, err) != 0)
            return -1;
    }
    return 0;
}

/* ---- covers and responsive images ----------------------------------------
 *
 * A page's cover (front matter cover:, in its bundle or static/) and the
 * images its bundle's Markdown shows are resized by the images module;
 * the variants are published in /_img/ under their cache names, which
 * change with the image's bytes (so they can be cached for good). */

#define S_IMG_URL "/_img/"
/* the prose column of the default theme, full width below it */
#define S_IMG_SIZES "(min-width: 45rem) 42rem, 100vw"

static images *S_img(site *s, folio_err *err)
{
    pthread_mutex_lock(&s->mu);
    if (!s->img) {
        char dir[PATH_MAX];
        /* var/ is private (the store's keys): the cache must not make it 0755 */
        if (util_mkdirs(s->cfg->var_dir, 0700, err) == 0 &&
            util_path(dir, sizeof dir, err, "%s/cache/images", s->cfg->var_dir) == 0)
            s->img = images_open(dir, err);
    }
    images *im = s->img;
    pthread_mutex_unlock(&s->mu);
    return im;
}

/* Prepares the image at path (named name in messages); its variants are
 * published by the build. */
static int S_img_prepare(site *s, const char *path, const char *name, images_set *set,
                         folio_err *err)
{
    images *im = S_img(s, err);
    if (!im || images_prepare(im, path, name, set, err) != 0)
        return -1;
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    for (int k = 0; rc == 0 && k < set->n; k++)
        for (int webp = 0; rc == 0 && webp < 2; webp++) {
            char file[96];
            if ((webp && !strcmp(set->ext, "webp")) ||
                images_variant_name(set, k, webp, file, sizeof file) != 0)
                continue;
            if (s->nimgused == s->imgcap) {
                size_t cap = s->imgcap ? s->imgcap * 2 : 64;
                char **nv = realloc(s->imgused, cap * sizeof *nv);
                if (!nv) {
                    rc = -1;
                    break;
                }
                s->imgused = nv;
                s->imgcap = cap;
            }
            if (!(s->imgused[s->nimgused] = util_strdup(file)))
                rc = -1;
            else
                s->nimgused++;
        }
    pthread_mutex_unlock(&s->mu);
    return rc == 0 ? 0 : err_set(err, "out of memory");
}

/* "/_img/A 480w, /_img/B 960w" */
static int S_srcset(buf *b, const images_set *set, int webp)
{
    for (int k = 0; k < set->n; k++) {
        char file[96];
        if (images_variant_name(set, k, webp, file, sizeof file) != 0 ||
            buf_printf(b, "%s" S_IMG_URL "%s %dw", k ? ", " : "", file, set->widths[k]) != 0)
            return -1;
    }
    return 0;
}

/* {src, srcset, webp_srcset, width, height, type, sizes, permalink}: src is
 * the largest variant, in the source's format. */
static cJSON *S_img_value(site *s, const images_set *set)
{
    buf b = BUF_INIT;
    cJSON *o = cJSON_CreateObject();
    char file[96];
    int top = set->n - 1;
    int ok = o && images_variant_name(set, top, 0, file, sizeof file) == 0 &&
             buf_printf(&b, S_IMG_URL "%s", file) == 0 &&
             cJSON_AddStringToObject(o, "src", b.ptr);
    char *perma = ok ? S_permalink(s, b.ptr) : NULL;
    ok = ok && perma && cJSON_AddStringToObject(o, "permalink", perma);
    free(perma);
    buf_reset(&b);
    ok = ok && S_srcset(&b, set, 0) == 0 && cJSON_AddStringToObject(o, "srcset", b.ptr);
    buf_reset(&b);
    ok = ok && S_srcset(&b, set, 1) == 0 && cJSON_AddStringToObject(o, "webp_srcset", b.ptr) &&
         cJSON_AddNumberToObject(o, "width", set->widths[top]) &&
         cJSON_AddNumberToObject(o, "height", set->heights[top]) &&
         cJSON_AddStringToObject(o, "type", !strcmp(set->ext, "jpg") ? "image/jpeg"
                                            : !strcmp(set->ext, "png") ? "image/png"
                                            : "image/webp") &&
         cJSON_AddStringToObject(o, "sizes", S_IMG_SIZES);
    buf_free(&b);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The cover value of page i, made once. */
static int S_cover_make(site *s, size_t i, folio_err *err)
{
    S_page *p = &s->pages[i];
    pthread_mutex_lock(&s->mu);
    int done = p->cover_done;
    pthread_mutex_unlock(&s->mu);
    char path[PATH_MAX];
    int has = done ? 0 : S_cover_path(s, p, path, sizeof path);
    cJSON *v = NULL;
    if (has < 0)
        return err_set(err, "content/%s: cover: %s is in neither the page's folder nor "
                       "static/", p->c.file,
                       cJSON_GetObjectItemCaseSensitive(p->c.params, "cover")->valuestring);
    if (has > 0) {
        images_set set;
        const char *cs = s->cfg->content_dir;
        size_t cl = strlen(cs);
        const char *name = !strncmp(path, cs, cl) && path[cl] == '/' ? path + cl + 1 : NULL;
        char shown[PATH_MAX];
        const char *cv = cJSON_GetObjectItemCaseSensitive(p->c.params, "cover")->valuestring;
        snprintf(shown, sizeof shown, "%s/%s", name ? "content" : "static",
                 name ? name : cv + (cv[0] == '/'));
        if (S_img_prepare(s, path, shown, &set, err) != 0)
            return -1;
        if (!(v = S_img_value(s, &set)))
            return err_set(err, "out of memory");
    }
    pthread_mutex_lock(&s->mu);
    if (!p->cover_done) {
        p->cover = v;
        p->cover_done = 1;
        v = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    cJSON_Delete(v);
    return 0;
}

static int S_cover_task(void *ud, size_t i, void *tls, folio_err *err)
{
    (void)tls;
    site *s = ud;
    if (!s->pages[i].listed && (int)i != s->page404 && s->pages[i].c.kind == CONTENT_PAGE)
        return 0;
    return S_cover_make(s, i, err);
}

/* Every cover of the build, in parallel, before the pages that show them. */
static int S_covers(site *s, folio_err *err)
{
    return S_run(s->jobs, s->npages, S_cover_task, s, NULL, NULL, err);
}

/* Adds page i's cover to its value o, if it has one. */
static int S_cover_add(site *s, int i, cJSON *o)
{
    folio_err e;
    int paused = jarena_pause(); /* a cover is made once, for the build */
    int rc = S_cover_make(s, (size_t)i, &e);
    jarena_resume(paused);
    if (rc != 0)
        return -1;
    pthread_mutex_lock(&s->mu);
    cJSON *v = s->pages[i].cover ? cJSON_Duplicate(s->pages[i].cover, 1) : NULL;
    int had = s->pages[i].cover != NULL;
    pthread_mutex_unlock(&s->mu);
    if (!had)
        return 0;
    if (!v || !cJSON_AddItemToObject(o, "cover", v)) {
        cJSON_Delete(v);
        return -1;
    }
    return 0;
}

/* An image of a bundle named in its Markdown (src="photo.jpg"): relative,
 * within the folder, a raster image. */
static int S_bundle_image(const char *src)
{
    return *src && src[0] != '/' && !strchr(src, ':') && !strstr(src, "..") &&
           !strpbrk(src, "&%?#") && images_is_raster(src);
}

/* One <img src="NAME" ...> of a bundle's HTML as a <picture>. */
static int S_picture(site *s, const S_page *p, const char *name, const char *rest,
                     size_t restlen, int lazy, buf *out, folio_err *err)
{
    char path[PATH_MAX], shown[PATH_MAX];
    if (util_path(path, sizeof path, err, "%s/%s/%s", s->cfg->content_dir, p->bundle,
                  name) != 0 ||
        util_path(shown, sizeof shown, err, "content/%s/%s", p->bundle, name) != 0)
        return -1;
    images_set set;
    if (S_img_prepare(s, path, shown, &set, err) != 0)
        return -1;
    char file[96];
    int top = set.n - 1;
    int webp = strcmp(set.ext, "webp") != 0;
    int rc = images_variant_name(&set, top, 0, file, sizeof file) ||
             buf_puts(out, "<picture>") ||
             (webp && (buf_puts(out, "<source type=\"image/webp\" srcset=\"") ||
                       S_srcset(out, &set, 1) ||
                       buf_puts(out, "\" sizes=\"" S_IMG_SIZES "\">"))) ||
             buf_printf(out, "<img src=\"" S_IMG_URL "%s\" srcset=\"", file) ||
             S_srcset(out, &set, 0) ||
             buf_printf(out, "\" sizes=\"" S_IMG_SIZES "\" width=\"%d\" height=\"%d\"%s "
                        "decoding=\"async\"", set.widths[top], set.heights[top],
                        lazy ? " loading=\"lazy\"" : "") ||
             buf_add(out, rest, restlen) || buf_puts(out, "</picture>");
    return rc ? err_set(err, "out of memory") : 0;
}

/* A bundle page's HTML with its images made responsive. Every image but
 * the page's first (its cover, when it has one) loads lazily. */
static int S_img_rewrite(site *s, const S_page *p, int has_cover, char **html,
                         folio_err *err)
{
    static const char open[] = "<img src=\"";
    const char *cur = *html, *tag;
    buf out = BUF_INIT;
    int rc = 0, first = !has_cover, changed = 0;
    while (rc == 0 && (tag = strstr(cur, open)) != NULL) {
        const char *v = tag + sizeof open - 1, *q = strchr(v, '"');
        const char *end = q ? strchr(q, '>') : NULL;
        if (!end)
            break;
        char name[PATH_MAX], path[PATH_MAX];
        size_t vl = (size_t)(q - v);
        int ours = vl < sizeof name;
        if (ours) {
            memcpy(name, v, vl);
            name[vl] = '\0';
            ours = S_bundle_image(name) &&
                   util_path(path, sizeof path, err, "%s/%s/%s", s->cfg->content_dir,
                             p->bundle, name) == 0 && util_is_file(path);
        }
        if (!ours) {
            rc = buf_add(&out, cur, (size_t)(end + 1 - cur)) ? err_set(err, "out of memory") : 0;
        } else {
            rc = buf_add(&out, cur, (size_t)(tag - cur)) ? err_set(err, "out of memory")
                 : S_picture(s, p, name, q + 1, (size_t)(end - q), !first, &out, err);
            first = 0;
            changed = 1;
        }
        cur = end + 1;
    }
    if (rc == 0 && changed && buf_puts(&out, cur) != 0)
        rc = err_set(err, "out of memory");
    if (rc == 0 && changed) {
        free(*html);
        *html = buf_detach(&out, NULL);
    }
    buf_free(&out);
    return rc;
}

/* The variants the pages showed into the tree's /_img/, recorded like
 * static files (unchanged ones are not copied again). */
static int S_img_publish(site *s, const char *tree, int mode, folio_err *err)
{
    if (s->nimgused > 1)
        qsort(s->imgused, s->nimgused, sizeof *s->imgused, S_cmp_str);
    size_t rl = strlen(tree);
    for (size_t k = 0; k < s->nimgused; k++) {
        if (k && !strcmp(s->imgused[k - 1], s->imgused[k]))
            continue;
        char from[PATH_MAX], to[PATH_MAX];
        struct stat st;
        if (util_path(from, sizeof from, err, "%s/%s", images_dir(s->img), s->imgused[k]) != 0 ||
            util_path(to, sizeof to, err, "%s" S_IMG_URL "%s", tree, s->imgused[k]) != 0)
            return -1;
        if (stat(from, &st) != 0)
            return err_set(err, "%s: %s", from, strerror(errno));
        if (S_copy_file(s, from, to, &st, mode, rl, err) != 0)
            return -1;
    }
    return 0;
}

/* ---- link previews ----------------------------------------------------------
 *
 * page.jsonld: schema.org data for search engines and link previews, a
 * Person on the home page and a CreativeWork on a regular page, as JSON
 * safe inside <script>: '<', '>' and '&' are written as \u escapes, so no
 * "</script>" or "<!--" can appear whatever the owner's strings hold. */

static int S_ld_str(cJSON *ld, const char *key, const cJSON *from, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, name);
    if (!cJSON_IsString(v) || !*v->valuestring)
        return 0;
    return cJSON_AddStringToObject(ld, key, v->valuestring) ? 0 : -1;
}

static int S_ld_person(site *s, cJSON *o)
{
    return cJSON_AddStringToObject(o, "@type", "Person") &&
           cJSON_AddStringToObject(o, "name", s->cfg->author) &&
           cJSON_AddStringToObject(o, "url", s->cfg->base_url) ? 0 : -1;
}

static cJSON *S_ld_work(site *s, const cJSON *page)
{
    cJSON *ld = cJSON_CreateObject(), *kw = NULL;
    const cJSON *cover = cJSON_GetObjectItemCaseSensitive(page, "cover"), *t;
    cJSON *author = ld ? cJSON_AddObjectToObject(ld, "author") : NULL;
    int rc = !author || !cJSON_AddStringToObject(ld, "@context", "https://schema.org") ||
             !cJSON_AddStringToObject(ld, "@type", "CreativeWork") ||
             S_ld_str(ld, "name", page, "title") || S_ld_str(ld, "url", page, "permalink") ||
             S_ld_str(ld, "description", page, "summary") ||
             S_ld_str(ld, "datePublished", page, "date_iso") ||
             S_ld_str(ld, "dateModified", page, "lastmod_iso") ||
             S_ld_str(ld, "image", cover, "permalink") || S_ld_person(s, author) ||
             !(kw = cJSON_AddArrayToObject(ld, "keywords"));
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(page, "tags")) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, "name");
        if (rc == 0 && cJSON_IsString(n) && !cJSON_AddItemToArray(kw, cJSON_CreateString(n->valuestring)))
            rc = -1;
    }
    if (rc != 0) {
        cJSON_Delete(ld);
        return NULL;
    }
    return ld;
}

static cJSON *S_ld_home(site *s)
{
    cJSON *ld = cJSON_CreateObject();
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(s->cfg->params, "role");
    if (!ld || !cJSON_AddStringToObject(ld, "@context", "https://schema.org") ||
        S_ld_person(s, ld) != 0 ||
        (*s->cfg->description && !cJSON_AddStringToObject(ld, "description",
                                                          s->cfg->description)) ||
        (cJSON_IsString(role) && !cJSON_AddStringToObject(ld, "jobTitle", role->valuestring))) {
        cJSON_Delete(ld);
        return NULL;
    }
    return ld;
}

/* Adds page.jsonld to a page's context (home and regular pages). */
static int S_jsonld(site *s, cJSON *ctx)
{
    cJSON *page = cJSON_GetObjectItemCaseSensitive(ctx, "page");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(page, "kind");
    if (!cJSON_IsString(kind))
        return 0;
    cJSON *ld = !strcmp(kind->valuestring, "home") ? S_ld_home(s)
              : !strcmp(kind->valuestring, "page") ? S_ld_work(s, page) : NULL;
    if (!ld)
        return strcmp(kind->valuestring, "home") && strcmp(kind->valuestring, "page") ? 0 : -1;
    /* most pages' JSON-LD fits a stack buffer: no buffer grown by copies */
    char small[4096];
    char *js = cJSON_PrintPreallocated(ld, small, (int)sizeof small, 0) ? small
               : cJSON_PrintUnformatted(ld);
    cJSON_Delete(ld);
    buf b = BUF_INIT;
    int rc = js ? 0 : -1;
    /* inside <script>: no character that could end it or start markup */
    for (const char *c = js; rc == 0 && *c;) {
        size_t run = strcspn(c, "<>&");
        rc = buf_add(&b, c, run);
        c += run;
        if (rc == 0 && *c)
            rc = buf_puts(&b, *c == '<' ? "\\u003c" : *c == '>' ? "\\u003e" : "\\u0026");
        c += *c ? 1 : 0;
    }
    if (js != small)
        cJSON_free(js);
    if (rc == 0 && !cJSON_AddStringToObject(page, "jsonld", b.ptr ? b.ptr : ""))
        rc = -1;
    buf_free(&b);
    return rc;
}

static void S_bundles_free(site *s)
{
    images_close(s->img);
    for (size_t k = 0; k < s->nbfiles; k++) {
        free(s->bfiles[k].url);
        free(s->bfiles[k].src);
    }
    free(s->bfiles);
    for (size_t k = 0; k < s->nimgused; k++)
        free(s->imgused[k]);
    free(s->imgused);
    for (size_t i = 0; i < s->npages; i++) {
        free(s->pages[i].bundle);
        cJSON_Delete(s->pages[i].cover);
    }
}

/* ---- open / close ------------------------------------------------------- */


site *site_open(const folio_config *cfg, const site_opts *opts, folio_err *err)
{
    S_tplload tl = {.joined = 1};
    site *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(err, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->cache_fd = s->spill_fd = -1;
    /* before any render thread: the hooks are process-wide */
    if (jarena_hooks() != 0) {
        err_set(err, "cannot set up cJSON's allocator");
        pthread_mutex_destroy(&s->mu);
        free(s);
        return NULL;
    }
    atomic_init(&s->spill_end, 0);
    s->cfg = cfg;
    if (opts)
        s->opts = *opts;
    s->now = s->opts.now_ms > 0 ? s->opts.now_ms : util_now_ms();
    s->jobs = s->opts.jobs > 0 ? s->opts.jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (s->jobs < 1)
        s->jobs = 1;
    if (s->jobs > 64)
        s->jobs = 64;
    s->page404 = -1;
    s->home.index_page = -1;
    if (!(s->out = util_strdup(s->opts.out_dir ? s->opts.out_dir : cfg->public_dir))) {
        err_set(err, "out of memory");
        goto fail;
    }
    size_t n = strlen(s->out);
    while (n > 1 && s->out[n - 1] == '/')
        s->out[--n] = '\0';
    s->opts.out_dir = s->out;
    s->start_ns = util_now_ms() * 1000000LL;
    if (theme_open(cfg, &s->theme, err) != 0)
        goto fail;
    util_trace("site: theme");
    if (S_stamp_make(s, err) != 0 || S_read_content(s, err) != 0)
        goto fail;
    util_trace("site: content read");
    S_tplload_start(s, &tl);
    if (S_graph(s, err) != 0 || S_data_params(s, err) != 0)
        goto fail;
    util_trace("site: graph");
    if (S_templates(s, &tl, err) != 0 || S_tpl_scan(s, err) != 0)
        goto fail;
    util_trace("site: templates");
    if (S_claim(s, err) != 0 || S_bundles(s, err) != 0)
        goto fail;
    util_trace("site: urls, bundles");
    if (S_site_base(s) != 0) {
        err_set(err, "out of memory");
        goto fail;
    }
    S_check_config(s);
    if (S_deps_load(s, err) != 0)
        goto fail;
    util_trace("site: config, deps");
    /* what the watcher and the donor said held for this open only */
    s->opts.changed_known = 0;
    s->opts.changed = NULL;
    s->opts.nchanged = 0;
    s->opts.donor = NULL;
    return s;
fail:
    if (tl.started || tl.set) { /* started, not taken */
        tpl_set *unused;
        S_tplload_join(&tl, &unused, NULL);
        tpl_set_free(unused);
    }
    site_close(s);
    return NULL;
}

void site_close(site *s)
{
    if (!s)
        return;
    S_dirs_free(s->dirs, s->ndirs);
    if (s->cache_fd >= 0)
        close(s->cache_fd);
    if (s->spill_fd >= 0)
        close(s->spill_fd);
    S_bundles_free(s);
    theme_close(&s->theme);
    buf_free(&s->tpl_ids);
    for (size_t i = 0; i < s->npages; i++) {
        content_str_free(&s->pages[i].c, s->pages[i].links);
        content_page_free(&s->pages[i].c);
        free(s->pages[i].url);
        free(s->pages[i].tagidx);
        free(s->pages[i].data_name);
        free(s->pages[i].data_path);
        free(s->pages[i].data_list);
    }
    free(s->pages);
    free(s->order);
    for (size_t k = 0; k < s->nsections; k++)
        S_list_free(&s->sections[k]);
    free(s->sections);
    for (size_t k = 0; k < s->ntags; k++)
        S_list_free(&s->tags[k]);
    free(s->tags);
    free(s->taghash);
    S_list_free(&s->home);
    for (size_t i = 0; i < s->urlcap; i++)
        if (!S_url_borrowed(&s->urls[i].job))
            free(s->urls[i].url);
    free(s->urls);
    cJSON_Delete(s->site_base);
    cJSON_Delete(s->menu);
    for (size_t i = 0; i < sizeof s->variants / sizeof s->variants[0]; i++)
        cJSON_Delete(s->variants[i]);
    S_deps_free(s->deps, s->ndeps);
    tpl_set_free(s->tpls);
    for (size_t i = 0; i < s->ntinfo; i++)
        free(s->tinfo[i].name);
    free(s->tinfo);
    free(s->sets);
    free(s->featured);
    free(s->stamp);
    bstate_free(&s->cache);
    pthread_mutex_destroy(&s->mu);
    free(s->out);
    free(s);
}

/* ---- build ------------------------------------------------------------------ */

typedef struct S_batch {
    site *s;
    S_call *call;
    S_job *jobs;
    size_t n;
    const char *out;
    int mode;
    pthread_mutex_t mu;
    S_deplist deps;     /* merged from the workers */
    int rendered;
    int skipped;
    int lost;           /* a worker's kept outputs could not be joined */
} S_batch;

static void *S_worker_new(void *ud)
{
    S_batch *b = ud;
    S_worker *w = calloc(1, sizeof *w);
    if (w) {
        w->s = b->s;
        w->call = b->call;
        w->out = b->out;
        w->mode = b->mode;
        w->ja = jarena_new(S_JOB_ARENA); /* NULL: cJSON stays on malloc */
        w->batched = 1;
    }
    return w;
}

static void S_worker_done(void *ud, void *tls)
{
    S_batch *b = ud;
    S_worker *w = tls;
    if (!w)
        return;
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < w->deps.n; i++) {
        if (b->deps.n == b->deps.cap) {
            size_t cap = b->deps.cap ? b->deps.cap * 2 : 16;
            S_dep *nv = realloc(b->deps.v, cap * sizeof *nv);
            if (!nv) {
                free(w->deps.v[i].url);
                free(w->deps.v[i].names);
                continue;
            }
            b->deps.v = nv;
            b->deps.cap = cap;
        }
        b->deps.v[b->deps.n++] = w->deps.v[i];
    }
    b->rendered += w->rendered;
    b->skipped += w->skipped;
    pthread_mutex_unlock(&b->mu);
    if (w->nkept && S_inc_join(b->s->inc, w->kept, w->nkept) != 0)
        b->lost = 1; /* the tree would lose them at the prune: the build fails */
    free(w->kept);
    free(w->deps.v);
    buf_free(&w->html);
    jarena_free(w->ja);
    free(w);
}

static int S_batch_task(void *ud, size_t i, void *tls, folio_err *err)
{
    S_batch *b = ud;
    if (!tls)
        return err_set(err, "out of memory");
    return S_job_run(tls, &b->jobs[i], err);
}

static int S_batch_run(S_batch *b, folio_err *err)
{
    pthread_mutex_init(&b->mu, NULL);
    int rc = S_run(b->s->jobs, b->n, S_batch_task, b, S_worker_new, S_worker_done, err);
    pthread_mutex_destroy(&b->mu);
    if (rc == 0 && b->lost)
        rc = err_set(err, "out of memory");
    return rc;
}

/* The jobs of a full build: regular pages first, then everything that lists them. */
static int S_all_jobs(site *s, S_job **out, size_t *npages, size_t *total)
{
    size_t n = 0, cap = s->nurls + 1;
    S_job *v = malloc(cap * sizeof *v);
    if (!v)
        return -1;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            *npages = n;
        for (size_t i = 0; i < s->urlcap; i++)
            if (s->urls[i].url && (pass == 0) == (s->urls[i].job.type == T_PAGE))
                v[n++] = s->urls[i].job;
    }
    *out = v;
    *total = n;
    return 0;
}

/* The pages' jobs (one each) put in page order without a sort, as
 * S_cmp_job would order them; -1 (v untouched) when they are not one a
 * page. */
static int S_jobs_by_page(const site *s, S_job *v, size_t n)
{
    int *at = malloc((s->npages ? s->npages : 1) * sizeof *at);
    S_job *out = malloc(n * sizeof *out);
    int ok = at && out;
    for (size_t i = 0; ok && i < s->npages; i++)
        at[i] = -1;
    for (size_t k = 0; ok && k < n; k++) {
        ok = v[k].type == T_PAGE && v[k].idx >= 0 && (size_t)v[k].idx < s->npages &&
             at[v[k].idx] < 0;
        if (ok)
            at[v[k].idx] = (int)k;
    }
    size_t m = 0;
    for (size_t i = 0; ok && i < s->npages; i++)
        if (at[i] >= 0)
            out[m++] = v[at[i]];
    if (ok)
        memcpy(v, out, n * sizeof *out);
    free(at);
    free(out);
    return ok ? 0 : -1;
}

static int S_cmp_job(const void *a, const void *b)
{
    const S_job *x = a, *y = b;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    if (x->idx != y->idx)
        return x->idx < y->idx ? -1 : 1;
    return x->pageno - y->pageno;
}

/* Removing an old site is mostly file metadata: the subtrees two levels
 * down (projects/foo, tags/c, page/2) go in parallel, then the rest. */
static int S_rm_task(void *ud, size_t i, void *tls, folio_err *err)
{
    (void)tls;
    return util_rmtree(((char **)ud)[i], err);
}

static int S_rmtree_fast(const char *dir, int jobs, folio_err *err)
{
    S_files f = {0};
    DIR *d = opendir(dir);
    int rc = 0;
    struct dirent *e;
    while (d && rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[PATH_MAX];
        if (util_path(sub, sizeof sub, err, "%s/%s", dir, e->d_name) != 0) {
            rc = -1;
            break;
        }
        DIR *d2 = opendir(sub);
        struct dirent *e2;
        while (d2 && rc == 0 && (e2 = readdir(d2)) != NULL) {
            if (e2->d_type != DT_DIR || !strcmp(e2->d_name, ".") || !strcmp(e2->d_name, ".."))
                continue;
            char sub2[PATH_MAX];
            if (util_path(sub2, sizeof sub2, err, "%s/%s", sub, e2->d_name) != 0 ||
                S_files_add(&f, sub2) != 0)
                rc = -1;
        }
        if (d2)
            closedir(d2);
    }
    if (d)
        closedir(d);
    if (rc == 0 && f.n > 64)
        rc = S_run(jobs, f.n, S_rm_task, f.v, NULL, NULL, err);
    for (size_t i = 0; i < f.n; i++)
        free(f.v[i]);
    free(f.v);
    return rc == 0 ? util_rmtree(dir, err) : -1;
}

/* A fresh directory beside out, readable by the web server. */
static char *S_tmpdir(const char *out, folio_err *err)
{
    buf b = BUF_INIT;
    const char *slash = strrchr(out, '/');
    int rc = slash ? buf_printf(&b, "%.*s/.%s.new-XXXXXX", (int)(slash - out), out, slash + 1)
                   : buf_printf(&b, ".%s.new-XXXXXX", out);
    if (rc != 0) {
        buf_free(&b);
        err_set(err, "out of memory");
        return NULL;
    }
    if (!mkdtemp(b.ptr) || chmod(b.ptr, 0755) != 0) {
        err_set(err, "%s: %s", b.ptr, strerror(errno));
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

/* ---- the trees of a build ------------------------------------------------------ */


static void S_files_free(S_files *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i]);
    free(f->v);
    memset(f, 0, sizeof *f);
}

/* Removes what the reused tree had and this build did not write, and the
 * directories that leaves empty. */
static int S_prune(const char *tree, const S_inc *inc, folio_err *err)
{
    size_t cap = 64;
    while (cap < inc->nouts * 2 + 2)
        cap *= 2;
    const char **set = calloc(cap, sizeof *set);
    if (!set)
        return err_set(err, "out of memory");
    /* an entry shared with the old list (taken) is known to be kept: only
     * the others are looked up */
    for (size_t i = 0; i < inc->nouts; i++) {
        if (inc->taken && (inc->outs[i].flags & BSTATE_BORROWED))
            continue;
        size_t k = S_hash(inc->outs[i].path) & (cap - 1);
        while (set[k] && strcmp(set[k], inc->outs[i].path))
            k = (k + 1) & (cap - 1);
        set[k] = inc->outs[i].path;
    }
    for (size_t i = 0; i < inc->old.nouts; i++) {
        if (inc->taken && inc->taken[i])
            continue;
        const char *old = inc->old.outs[i].path;
        size_t k = S_hash(old) & (cap - 1);
        while (set[k] && strcmp(set[k], old))
            k = (k + 1) & (cap - 1);
        /* our own file, but never let it reach outside the tree */
        if (set[k] || old[0] == '/' || strstr(old, ".."))
            continue;
        char path[PATH_MAX];
        if (util_path(path, sizeof path, err, "%s/%s", tree, old) != 0)
            continue;
        if (unlink(path) != 0 && errno != ENOENT && errno != EISDIR)
            continue;
        size_t root = strlen(tree);
        char *slash;
        while ((slash = strrchr(path, '/')) && (size_t)(slash - path) > root) {
            *slash = '\0';
            if (rmdir(path) != 0)
                break; /* not empty: something else lives there */
        }
    }
    free(set);
    return 0;
}

static int S_swap(const char *tree, const char *out, const char *prev, folio_err *err)
{
    struct stat st;
    if (lstat(out, &st) != 0) {
        if (errno != ENOENT)
            return err_set(err, "%s: %s", out, strerror(errno));
        if (rename(tree, out) != 0)
            return err_set(err, "%s: %s", out, strerror(errno));
        return 0;
    }
    if (renameat2(AT_FDCWD, tree, AT_FDCWD, out, RENAME_EXCHANGE) != 0)
        return err_set(err, "%s: cannot swap in the new site: %s", out, strerror(errno));
    /* tree now holds the site that was live: it is the next build's */
    if (strcmp(tree, prev) != 0 && rename(tree, prev) != 0)
        return err_set(err, "%s: %s", prev, strerror(errno));
    return 0;
}

static int S_inc_load(site *s, S_inc *inc, const char *tree, S_bgload *pre, folio_err *err);

/* The tree to build into: the previous site's (kept beside OUT by the last
 * build, with its state), or a fresh one. */
static char *S_target(site *s, const char *prev, int *mode, S_inc *inc, S_bgload *pre,
                      folio_err *err)
{
    if (util_is_dir(prev)) {
        if (S_inc_load(s, inc, prev, pre, err) == 0) {
            *mode = W_REUSE;
            return util_strdup(prev);
        }
        /* a build that failed half-way through it: start over */
        if (S_rmtree_fast(prev, s->jobs, err) != 0)
            return NULL;
    }
    *mode = W_FRESH;
    return S_tmpdir(s->out, err);
}

static int S_render_all(site *s, const char *tree, int mode, S_call *call, S_batch *b,
                        folio_err *err)
{
    S_job *jobs = NULL;
    size_t nfirst = 0, n = 0;
    size_t rl = strlen(tree);
    const char *sdirs[2];
    size_t nsd = theme_dirs(&s->theme, s->cfg, "static", sdirs);
    s->static_sum = 0;
    for (size_t k = 0; k < nsd; k++)
        if (S_copy_static(s, sdirs[k], tree, mode, rl, 0, k ? sdirs[0] : NULL, err) != 0)
            return -1;
    if (S_theme_css(s, tree, mode, err) != 0)
        return -1;
    if (S_bundles_publish(s, tree, mode, err) != 0 || S_covers(s, err) != 0)
        return -1;
    /* Pages of store data may have been added in place after that tree's
     * build (the list grew), so its manifest does not know them: they go,
     * and this build writes the ones that are still wanted. */
    for (size_t i = 0; mode == W_REUSE && i < s->npages; i++) {
        const S_page *p = &s->pages[i];
        char dir[PATH_MAX];
        if (!p->data_name || !p->listed)
            continue;
        if (util_path(dir, sizeof dir, err, "%s%spage", tree, p->url) != 0 ||
            util_rmtree(dir, err) != 0)
            return -1;
    }
    util_trace("render: static, bundles");
    /* the sitemap is the graph's (URLs, dates): made before the pages, it
     * is not in memory beside what rendering them holds at its end */
    if (S_sitemap(s, tree, mode, s->inc, err) != 0)
        return -1;
    util_trace("render: sitemap");
    if (S_all_jobs(s, &jobs, &nfirst, &n) != 0)
        return err_set(err, "out of memory");
    /* a stable order makes the first error the same from run to run */
    if (nfirst > 1 && S_jobs_by_page(s, jobs, nfirst) != 0)
        qsort(jobs, nfirst, sizeof *jobs, S_cmp_job);
    if (n - nfirst > 1)
        qsort(jobs + nfirst, n - nfirst, sizeof *jobs, S_cmp_job);
    *b = (S_batch){.s = s, .call = call, .jobs = jobs, .n = nfirst, .out = tree,
                   .mode = mode};
    int rc = S_batch_run(b, err);
    if (rc == 0) {
        b->jobs = jobs + nfirst;
        b->n = n - nfirst;
        rc = S_batch_run(b, err);
    }
    free(jobs);
    b->jobs = NULL;
    util_trace("render: pages");
    if (rc == 0)
        rc = S_feed(s, tree, &s->home, s->cfg->title, "/", mode, s->inc, err);
    for (size_t k = 0; rc == 0 && k < s->nsections; k++) {
        char title[1024];
        snprintf(title, sizeof title, "%s: %s", s->cfg->title, s->sections[k].title);
        rc = S_feed(s, tree, &s->sections[k], title, s->sections[k].url, mode, s->inc, err);
    }
    util_trace("render: feeds");
    if (rc == 0)
        rc = S_img_publish(s, tree, mode, err);
    return rc;
}

/* ---- the state of a tree ------------------------------------------------------- */

/* What every page depends on: this program, and the settings. */
static int S_stamp_make(site *s, folio_err *err)
{
    struct stat st;
    if (stat("/proc/self/exe", &st) != 0)
        memset(&st, 0, sizeof st); /* then only the version tells builds apart */
    char *raw = cJSON_PrintUnformatted(s->cfg->raw);
    buf b = BUF_INIT;
    int rc = !raw || buf_printf(&b, "%s|%s|%s|%s|%d|%s|", raw, s->cfg->site_dir,
                                s->cfg->content_dir, s->cfg->templates_dir,
                                s->opts.drafts, s->theme.stamp ? s->theme.stamp : "") != 0;
    free(raw);
    unsigned char h[BSTATE_HASH];
    char hex[2 * BSTATE_HASH + 1];
    if (rc == 0) {
        S_hash_bytes(h, b.ptr, b.len);
        sodium_bin2hex(hex, sizeof hex, h, sizeof h);
        buf_reset(&b);
        rc = buf_printf(&b, "folio %s %lld.%lld\n%s", PACKAGE_VERSION,
                        (long long)st.st_size, S_ns(st.st_mtim), hex);
    }
    if (rc != 0) {
        buf_free(&b);
        return err_set(err, "out of memory");
    }
    s->stamp = buf_detach(&b, NULL);
    return 0;
}

/* The same program (whole == 0: parsing is all that depends on it), or
 * the same program and settings. */
static int S_stamp_same(const site *s, const char *other, int whole)
{
    if (!other)
        return 0;
    if (whole)
        return !strcmp(s->stamp, other);
    const char *nl = strchr(s->stamp, '\n');
    size_t n = nl ? (size_t)(nl - s->stamp) : strlen(s->stamp);
    return !strncmp(s->stamp, other, n) && (other[n] == '\n' || !other[n]);
}

/* What the tree was built with: the files it holds, and their fingerprints
 * (inc->on) when they can be trusted. -1 when the tree has no state: a
 * build into it failed half-way. The state leaves a tree that is about to
 * change (any but the live one, which site_check_state only reads). */
static int S_inc_load(site *s, S_inc *inc, const char *tree, S_bgload *pre, folio_err *err)
{
    char path[PATH_MAX];
    folio_err e2;
    if (util_path(path, sizeof path, err, "%s/%s", tree, BSTATE_FILE) != 0)
        return -1;
    int rc;
    size_t *map = NULL, mapcap = 0;
    if (pre && !strcmp(pre->path, path)) {
        rc = S_bgload_join(pre, &inc->old, &e2);
        map = pre->map;
        mapcap = pre->mapcap;
        pre->map = NULL;
    } else {
        rc = bstate_load(path, BSTATE_OUTS, &inc->old, &e2);
    }
    if (rc != 0 || (tree != s->out && unlink(path) != 0)) {
        free(map);
        bstate_free(&inc->old);
        return -1;
    }
    /* this build's outputs are about the tree's: room for them at once,
     * not a doubling's worth more */
    if (!inc->outs && inc->old.nouts && (inc->outs = malloc((inc->old.nouts + 64) *
                                                            sizeof *inc->outs)))
        inc->cap = inc->old.nouts + 64;
    if (s->opts.full || !S_stamp_same(s, inc->old.stamp, 1)) {
        free(map);
        return 0;
    }
    inc->map = map;
    inc->mapcap = mapcap;
    if (!inc->map && S_outs_map(&inc->old, &inc->map, &inc->mapcap) != 0)
        return err_set(err, "out of memory");
    inc->oldsets = calloc(inc->old.nsets + 1, sizeof *inc->oldsets);
    inc->oldset_at = calloc(inc->old.nsets + 1, sizeof *inc->oldset_at);
    if (!inc->oldsets || !inc->oldset_at)
        return err_set(err, "out of memory");
    inc->taken = calloc(inc->old.nouts + 1, 1); /* without it S_prune looks each up */
    for (size_t i = 0; i < inc->old.nsets; i++)
        atomic_init(&inc->oldset_at[i], -1);
    /* a set is still good when each of its templates is there, unchanged */
    for (size_t i = 0; i < inc->old.nsets; i++) {
        S_tset *ts = &inc->oldsets[i];
        ts->valid = 1;
        for (size_t k = 0; k < inc->old.sets[i].n; k++) {
            int t = inc->old.sets[i].tpl[k], found = -1;
            for (size_t c = 0; c < s->ntinfo && found < 0; c++)
                if (!strcmp(s->tinfo[c].name, inc->old.tpl_names[t]) &&
                    !memcmp(s->tinfo[c].hash, inc->old.tpl_hash[t], BSTATE_HASH))
                    found = (int)c;
            S_tset_add(ts, found);
            if (found < 0)
                ts->valid = 0;
        }
        ts->mask = S_tset_mask(s, ts);
    }
    inc->on = 1;
    if (tree != s->out && S_inc_dirty(s, inc) != 0)
        return err_set(err, "out of memory");
    return 0;
}

static void S_inc_close(S_inc *inc)
{
    bstate_free(&inc->old);
    free(inc->map);
    free(inc->oldsets);
    free(inc->oldset_at);
    free(inc->dirty);
    free(inc->taken);
    for (size_t i = 0; i < inc->nouts; i++)
        if (!(inc->outs[i].flags & BSTATE_BORROWED)) {
            free(inc->outs[i].path);
            free(inc->outs[i].names);
        }
    free(inc->outs);
    pthread_mutex_destroy(&inc->mu);
}

/* Content record i of this build, for the next one's parse cache. */
static void S_state_src(void *ud, size_t i, bstate_src *c)
{
    site *s = ud;
    S_page *p = &s->pages[i];
    memset(c, 0, sizeof *c);
    /* a link check may be rendering its Markdown for the ids (S_meta) */
    pthread_mutex_lock(&s->mu);
    c->page = p->c; /* borrowed */
    c->meta = atomic_load(&p->meta);
    if (!p->fm_summary) {
        c->page.summary = NULL;
        c->body_summary = c->meta ? p->c.summary : NULL;
    }
    c->links = c->meta ? p->links : NULL;
    if (c->meta && p->links_lazy) {
        c->links_lazy = 1;
        c->links_fd = S_links_fd(s, p);
        c->links_off = p->links_off;
        c->links_len = p->links_len;
    }
    c->words = p->words;
    c->size = p->size;
    c->mtime_ns = p->mtime_ns;
    c->ctime_ns = p->ctime_ns;
    c->ino = p->ino;
    /* an edit within the same clock tick would leave the stat as it is */
    c->racy = S_racy(c->mtime_ns, s->start_ns);
    memcpy(c->hash, p->hash, BSTATE_HASH);
    /* taken unchanged, and its Markdown's findings as they were: the
     * cache's bytes are this record's */
    c->raw_fd = -1;
    if (p->raw && s->cache_fd >= 0 && !c->racy && c->meta == p->raw_meta) {
        c->raw_fd = s->cache_fd;
        c->raw_off = p->raw_off;
        c->raw_len = p->raw_len;
    }
    pthread_mutex_unlock(&s->mu);
}

/* The tree's state being written: the records by a thread of their own
 * (most of the bytes), the outputs encoded beside it, then appended. */
typedef struct S_statejob {
    site *s;
    bstate st;
    int *idx;            /* the sets' template lists, in one block */
    char path[PATH_MAX];
    int fd;
    bstate_at at;
    int rc;
    folio_err err;
} S_statejob;

static void S_state_free(S_statejob *j)
{
    free(j->idx);
    free(j->st.src_hash);
    free(j->st.tpl_names);
    free(j->st.tpl_hash);
    free(j->st.sets);
}

/* What the state says of this build, and its file open: 0, or -1 with
 * the reason in j->err. */
static int S_state_prep(S_statejob *j, site *s, S_inc *inc, const char *tree)
{
    bstate *st = &j->st;
    *st = (bstate){.stamp = s->stamp, .ntpl = s->ntinfo, .nsets = s->nsets,
                   .outs = inc->outs, .nouts = inc->nouts, .nsrcs = s->npages};
    st->tpl_names = calloc(s->ntinfo + 1, sizeof *st->tpl_names);
    st->tpl_hash = calloc(s->ntinfo + 1, sizeof *st->tpl_hash);
    st->sets = calloc(s->nsets + 1, sizeof *st->sets);
    st->src_at = S_state_src;
    st->src_ud = s;
    st->dirs = s->dirs;
    st->ndirs = s->ndirs;
    memcpy(st->graph, s->graph_fp, BSTATE_HASH);
    st->nsrc_hash = s->npages;
    st->src_hash = calloc(s->npages + 1, BSTATE_HASH);
    for (size_t i = 0; st->src_hash && i < s->npages; i++)
        memcpy(st->src_hash[i], s->pages[i].hash, BSTATE_HASH);
    j->idx = calloc(s->nsets * s->ntinfo + 1, sizeof *j->idx);
    if (!st->tpl_names || !st->tpl_hash || !st->sets || !j->idx || !st->src_hash)
        return err_set(&j->err, "out of memory");
    for (size_t i = 0; i < s->ntinfo; i++) {
        st->tpl_names[i] = s->tinfo[i].name;
        memcpy(st->tpl_hash[i], s->tinfo[i].hash, BSTATE_HASH);
    }
    for (size_t i = 0; i < s->nsets; i++) {
        st->sets[i].tpl = j->idx + i * s->ntinfo;
        for (size_t t = 0; t < s->ntinfo && t < 64 * S_TSET_WORDS; t++)
            if (s->sets[i].bits[t / 64] >> (t % 64) & 1)
                st->sets[i].tpl[st->sets[i].n++] = (int)t;
    }
    if (util_path(j->path, sizeof j->path, &j->err, "%s/%s", tree, BSTATE_FILE) != 0)
        return -1;
    /* the tree is not served yet: a plain write does */
    if ((j->fd = open(j->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        return err_set(&j->err, "%s: %s", j->path, strerror(errno));
    return 0;
}

static void *S_statejob_main(void *arg)
{
    S_statejob *j = arg;
    if (bstate_write_head(j->fd, &j->st, &j->at) != 0)
        j->rc = err_set(&j->err, "%s: %s", j->path, strerror(errno));
    return NULL;
}

/* The links checked and the tree's state written, at once: neither
 * changes what the other reads (records are copied under s->mu). */
static int S_links_and_state(site *s, S_inc *inc, const char *tree, folio_err *err)
{
    S_statejob j = {.s = s, .fd = -1};
    pthread_t th;
    buf outs = BUF_INIT;
    j.rc = S_state_prep(&j, s, inc, tree);
    int started = j.rc == 0 && pthread_create(&th, NULL, S_statejob_main, &j) == 0;
    S_check_links(s, tree);
    int orc = j.rc == 0 ? bstate_encode_outs(&j.st, &outs) : 0;
    if (started)
        pthread_join(th, NULL);
    else if (j.rc == 0)
        S_statejob_main(&j);
    if (j.rc == 0 && orc != 0)
        j.rc = err_set(&j.err, "out of memory");
    if (j.rc == 0 && bstate_write_tail(j.fd, &outs, &j.at) != 0)
        j.rc = err_set(&j.err, "%s: %s", j.path, strerror(errno));
    if (j.fd >= 0 && close(j.fd) != 0 && j.rc == 0)
        j.rc = err_set(&j.err, "%s: %s", j.path, strerror(errno));
    buf_free(&outs);
    S_state_free(&j);
    if (j.rc != 0 && err)
        *err = j.err;
    return j.rc;
}

/* A build killed half-way leaves its fresh tree (.OUT.new-XXXXXX) behind;
 * the next build, holding the lock, removes it. */
static int S_clean_stale(const char *parent, const char *base, int jobs, folio_err *err)
{
    char prefix[NAME_MAX + 16];
    int n = snprintf(prefix, sizeof prefix, ".%s.new-", base);
    if (n < 0 || (size_t)n >= sizeof prefix)
        return 0;
    DIR *d = opendir(parent);
    if (!d)
        return err_set(err, "%s: %s", parent, strerror(errno));
    S_files f = {0};
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, prefix, (size_t)n) && strlen(e->d_name) == (size_t)n + 6) {
            char path[PATH_MAX];
            rc = util_path(path, sizeof path, err, "%s/%s", parent, e->d_name);
            if (rc == 0 && S_files_add(&f, path) != 0)
                rc = err_set(err, "out of memory");
        }
    closedir(d);
    for (size_t i = 0; rc == 0 && i < f.n; i++)
        rc = S_rmtree_fast(f.v[i], jobs, err);
    S_files_free(&f);
    return rc;
}

int site_build(site *s, folio_err *err)
{
    S_call call = {.s = s};
    S_batch b = {0};
    S_inc inc = {0};
    int rc = -1, mode = W_FRESH;
    pthread_mutex_init(&inc.mu, NULL);
    char parent[PATH_MAX], prev[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", s->out);
    char *sl = strrchr(parent, '/');
    const char *base = sl ? sl + 1 : s->out;
    if (sl && sl != parent) {
        *sl = '\0';
        if (util_mkdirs(parent, 0755, err) != 0)
            return -1;
    }
    if (util_path(prev, sizeof prev, err, "%s/.%s.prev", sl ? parent : ".", base) != 0)
        return -1;
    /* Two builds at once would both take the kept tree: lock the folder
     * that holds OUT and the kept tree (OUT itself is swapped). */
    const char *lock = sl ? parent : ".";
    int lfd = open(lock, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lfd < 0)
        return err_set(err, "%s: %s", lock, strerror(errno));
    if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(lfd);
        return err_set(err, "%s: %s", s->out, e == EWOULDBLOCK
                       ? "another folio build is writing this site" : strerror(e));
    }
    if (s->spill_fd < 0) /* no O_TMPFILE there: links stay in memory */
        s->spill_fd = openat(lfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (S_clean_stale(sl ? parent : ".", base, s->jobs, err) != 0) {
        close(lfd);
        return -1;
    }
    util_trace("build: lock, stale");
    /* the kept tree's state is read, and its outputs mapped, while the
     * graph is fingerprinted */
    S_bgload local;
    S_bgload_start(&local, prev, BSTATE_OUTS);
    if (!s->graph_fp_known && S_graph_fp(s, s->graph_fp) != 0) {
        S_bgload_drop(&local);
        S_inc_close(&inc);
        close(lfd);
        return err_set(err, "out of memory");
    }
    s->graph_fp_known = 1;
    util_trace("build: graph fp");
    char *tree = S_target(s, prev, &mode, &inc, &local, err);
    S_bgload_drop(&local); /* S_target did not want it (no kept tree) */
    if (!tree) {
        S_inc_close(&inc);
        close(lfd);
        return -1;
    }
    s->inc = &inc;
    util_trace("build: kept state");
    if (S_render_all(s, tree, mode, &call, &b, err) != 0)
        goto done;
    util_trace("build: render");
    /* a server that is told of the swap checks links after it (they
     * cannot stop the swap without --strict) */
    int late = s->opts.swapped && !s->opts.strict;
    if (!late && S_links_and_state(s, &inc, tree, err) != 0)
        goto done;
    util_trace("build: links, state");
    if (s->opts.strict && s->warnings) {
        err_set(err, "%d warning%s and --strict: the site was not swapped in", s->warnings,
                s->warnings == 1 ? "" : "s");
        char st[PATH_MAX];
        if (snprintf(st, sizeof st, "%s/%s", tree, BSTATE_FILE) < (int)sizeof st)
            unlink(st); /* not a finished build: the next starts it over */
        goto done;
    }
    if (mode == W_REUSE && S_prune(tree, &inc, err) != 0)
        goto done;
    pthread_mutex_lock(&s->mu);
    S_deps_free(s->deps, s->ndeps);
    s->deps = b.deps.v;
    s->ndeps = b.deps.n;
    b.deps.v = NULL;
    b.deps.n = 0;
    pthread_mutex_unlock(&s->mu);
    util_trace("build: prune");
    if (S_deps_write(s, tree, err) != 0 || S_swap(tree, s->out, prev, err) != 0)
        goto done;
    util_trace("build: swap");
    if (late) {
        /* Without its state the live tree is only slower to build from
         * (site.h); the lock keeps other builds out until it is there. */
        s->opts.swapped(s->opts.swapped_ud);
        folio_err se;
        if (S_links_and_state(s, &inc, s->out, &se) != 0)
            S_warn(s, "%s (the next build reads every file again)", se.msg);
        util_trace("build: links, state");
    }
    s->built = b.rendered;
    s->skipped = b.skipped;
    rc = 0;
done:
    if (rc != 0 && mode == W_FRESH) {
        folio_err e2;
        util_rmtree(tree, &e2);
    } /* a reused tree lost its manifest and is started over next time */
    free(tree);
    S_deps_free(b.deps.v, b.deps.n);
    S_call_done(&call);
    s->inc = NULL;
    S_inc_close(&inc);
    close(lfd); /* and the lock with it */
    return rc;
}

/* ---- folio serve: a body edit ------------------------------------------- */

static int S_str_same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static int S_strv_same(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]))
            return 0;
    return 1;
}

/* Whether the page graph would read the new front matter n as p's. */
static int S_fm_same(const S_page *p, const content_page *n, const unsigned char ph[BSTATE_HASH])
{
    const content_page *o = &p->c;
    return o->kind == n->kind && S_str_same(o->section, n->section) &&
           S_str_same(o->title, n->title) && S_str_same(o->slug, n->slug) &&
           S_str_same(o->layout, n->layout) &&
           S_str_same(p->fm_summary ? o->summary : NULL, n->summary) &&
           o->date == n->date && o->lastmod == n->lastmod && o->draft == n->draft &&
           o->weight == n->weight && S_strv_same(o->tags, o->ntags, n->tags, n->ntags) &&
           S_strv_same(o->aliases, o->naliases, n->aliases, n->naliases) &&
           !memcmp(p->phash, ph, BSTATE_HASH);
}

/* Whether page i is shown beyond its own page and the list pages it is
 * an item of (what the graph caches: the site's recent and featured
 * pages, a list's own _index.md, a bundle): then only a new site will do. */
static int S_shown_widely(const site *s, int i)
{
    for (int k = 0; k < s->nrecent; k++)
        if (s->recent[k] == i)
            return 1;
    for (size_t k = 0; k < s->nfeatured; k++)
        if (s->featured[k] == i)
            return 1;
    if (s->home.index_page == i || s->pages[i].bundle || i == s->page404)
        return 1;
    for (size_t k = 0; k < s->nsections; k++)
        if (s->sections[k].index_page == i)
            return 1;
    return 0;
}

typedef struct S_body {
    int idx;
    content_page c;
    unsigned char hash[BSTATE_HASH];
    struct stat st;
} S_body;

/* Reads file rel as a body edit of one of s's pages into b: 1 when it is
 * one, 0 when not (or unchanged: b->idx -1), -1 on error. */
static int S_body_read(site *s, const char *rel, S_body *b, folio_err *err)
{
    b->idx = -1;
    const S_page *found = S_page_of_file(s, rel);
    size_t lo = found ? (size_t)(found - s->pages) : 0;
    if (!found || S_shown_widely(s, (int)lo))
        return 0;
    S_page *p = &s->pages[lo];
    char path[PATH_MAX], *src;
    size_t len;
    if (util_path(path, sizeof path, err, "%s/%s", s->cfg->content_dir, rel) != 0 ||
        stat(path, &b->st) != 0 || !S_ISREG(b->st.st_mode) ||
        util_read_file(path, &src, &len, err) != 0)
        return 0; /* gone, or not a file: a new site says what it is */
    S_hash_bytes(b->hash, src, len);
    if (!memcmp(b->hash, p->hash, BSTATE_HASH)) {
        free(src);
        return 1; /* the same bytes (touched): nothing to take */
    }
    folio_err pe;
    int rc = content_parse(rel, src, len, &b->c, &pe);
    free(src);
    if (rc != 0)
        return 0; /* a new site reports the error as a build does */
    unsigned char ph[BSTATE_HASH];
    if (S_params_hash(b->c.params, ph, err) != 0 || !S_fm_same(p, &b->c, ph)) {
        content_page_free(&b->c);
        return 0;
    }
    b->idx = (int)lo;
    return 1;
}

/* Page b->idx takes the new bytes: what its body gave is made again. */
static void S_body_take(site *s, S_body *b)
{
    S_page *p = &s->pages[b->idx];
    memcpy(p->hash, b->hash, BSTATE_HASH);
    p->size = (long long)b->st.st_size;
    p->mtime_ns = S_ns(b->st.st_mtim);
    p->ctime_ns = S_ns(b->st.st_ctim);
    p->ino = (unsigned long long)b->st.st_ino;
    p->c.body_offset = b->c.body_offset;
    p->c.body_line = b->c.body_line;
    content_str_free(&p->c, p->c.warnings);
    p->c.warnings = b->c.warnings;
    b->c.warnings = NULL;
    atomic_store(&p->meta, 0);
    p->raw = 0;
    content_str_free(&p->c, p->links);
    p->links = NULL;
    p->links_lazy = 0;
    if (!p->fm_summary) {
        content_str_free(&p->c, p->c.summary);
        p->c.summary = NULL;
    }
    p->words = 0;
    p->item_known = 0;
    content_page_free(&b->c);
}

int site_rebuild_bodies(site *s, const char *const *files, size_t n, folio_err *err)
{
    S_body *b = calloc(n ? n : 1, sizeof *b);
    if (!b)
        return err_set(err, "out of memory");
    int ok = 1;
    for (size_t i = 0; i < n && ok == 1; i++) {
        ok = S_body_read(s, files[i], &b[i], err);
        for (size_t k = 0; ok == 1 && b[i].idx >= 0 && k < i; k++)
            if (b[k].idx == b[i].idx) { /* named twice: the later read stands */
                content_page_free(&b[k].c);
                b[k].idx = -1;
            }
    }
    if (ok != 1) {
        for (size_t i = 0; i < n; i++)
            if (b[i].idx >= 0)
                content_page_free(&b[i].c);
        free(b);
        return ok < 0 ? -1 : 0;
    }
    for (size_t i = 0; i < n; i++)
        if (b[i].idx >= 0) {
            S_body_take(s, &b[i]);
            for (const char *w = s->pages[b[i].idx].c.warnings; w && *w;) {
                const char *nl = strchr(w, '\n');
                int len = nl ? (int)(nl - w) : (int)strlen(w);
                S_warn(s, "content/%.*s", len, w);
                w += len + (nl ? 1 : 0);
            }
        }
    free(b);
    /* what fingerprints cached of the site's value may show those pages */
    pthread_mutex_lock(&s->mu);
    s->nsitefp = 0;
    pthread_mutex_unlock(&s->mu);
    s->start_ns = util_now_ms() * 1000000LL;
    return site_build(s, err) == 0 ? 1 : -1;
}

int site_built_pages(const site *s)
{
    return s->built;
}

/* One line of a report, under a cap: a site that needs a build should not
 * print 10,000 of them. */
static int S_report(buf *report, int *n, const char *what, const char *url)
{
    if (++*n == 21)
        return buf_puts(report, "...\n");
    return *n > 21 ? 0 : buf_printf(report, "%s %s\n", url, what);
}

int site_check_state(site *s, buf *report, folio_err *err)
{
    S_inc inc = {0};
    pthread_mutex_init(&inc.mu, NULL);
    S_job *jobs = NULL;
    size_t nfirst, n = 0;
    int rc = 0, stale = 0;
    S_check_links(s, NULL); /* a check only reads: no results kept */
    if (S_inc_load(s, &inc, s->out, NULL, err) != 0 || !inc.on) {
        rc = buf_puts(report, "the site was not built by this folio with these settings: "
                              "run folio build\n") ? err_set(err, "out of memory") : 1;
        goto done;
    }
    if (S_all_jobs(s, &jobs, &nfirst, &n) != 0) {
        rc = err_set(err, "out of memory");
        goto done;
    }
    S_call call = {.s = s};
    S_worker w = {.s = s, .call = &call, .out = s->out, .mode = W_REUSE};
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const S_job *j = &jobs[i];
        if (j->type == T_ALIAS || (j->type == T_PAGE && s->pages[j->idx].data_name))
            continue;
        char url[PATH_MAX], path[PATH_MAX];
        S_job_url(s, j, url, sizeof url);
        if (S_path_of(s->out, url, path, sizeof path, err) != 0) {
            rc = -1;
            break;
        }
        const bstate_out *o = S_inc_old(&inc, path + strlen(s->out) + 1);
        unsigned char fp[BSTATE_HASH], jfp[BSTATE_HASH];
        /* pages that show store data are site_check_pages' to check */
        if (!o)
            rc = S_report(report, &stale, "is not built", url);
        else if (o->set >= 0 && !(o->flags & BSTATE_DATA) && !o->names &&
                 (!inc.oldsets[o->set].valid ||
                  S_fp_out(&w, j, inc.oldsets[o->set].mask, o->names, NULL, jfp, fp) != 0 ||
                  memcmp(fp, o->fp, sizeof fp)))
            rc = S_report(report, &stale, "is out of date (run folio build)", url);
        if (rc != 0)
            rc = err_set(err, "out of memory");
    }
    S_call_done(&call);
    if (rc == 0)
        rc = stale > 0;
done:
    free(jobs);
    S_inc_close(&inc);
    return rc;
}

int site_unchanged_pages(const site *s)
{
    return s->skipped;
}

int site_warnings(const site *s)
{
    return s->warnings;
}

/* ---- in-place renders -------------------------------------------------------- */

/* The job that renders url: the URL map, or a data page /X/page/N/. */
static int S_job_for(const site *s, const char *url, S_job *j)
{
    const S_urlent *e = S_url_get(s, url);
    if (e) {
        *j = e->job;
        return 0;
    }
    const char *pg = strstr(url, "/page/");
    if (!pg)
        return -1;
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%.*s/", (int)(pg - url), url);
    int n = atoi(pg + 6);
    e = S_url_get(s, base);
    if (!e || n < 2 || e->job.type != T_PAGE || !s->pages[e->job.idx].data_name)
        return -1;
    *j = e->job;
    j->pageno = n;
    return 0;
}

/* A set of jobs without repeats. */
typedef struct S_jobset {
    S_job *v;
    size_t n, cap;
} S_jobset;

static int S_jobset_add(S_jobset *js, S_job j)
{
    for (size_t k = 0; k < js->n; k++)
        if (!S_cmp_job(&js->v[k], &j))
            return 0;
    if (js->n == js->cap) {
        size_t cap = js->cap ? js->cap * 2 : 16;
        S_job *nv = realloc(js->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        js->v = nv;
        js->cap = cap;
    }
    js->v[js->n++] = j;
    return 0;
}

/* Whether a job done covers the page u: a data page's job numbered 0 did
 * all its pages, any other job of a data page its own page only. */
static int S_job_covers(const site *s, const S_job *done, const S_job *u)
{
    if (done->type != u->type || done->idx != u->idx)
        return 0;
    if (done->type != T_PAGE || !s->pages[done->idx].data_list || done->pageno == 0)
        return 1;
    return done->pageno == (u->pageno > 1 ? u->pageno : 1);
}

/* Jobs for "LIST@A-B" (caller holds s->mu): page 1 and the pages of ranks
 * A..B of each ranked page of LIST, and the page before A's when A opens a
 * page (its link to newer ones changes); every page of an unranked one. */
static int S_rank_jobs(site *s, const char *name, S_jobset *js, folio_err *err)
{
    const char *at = strchr(name, '@');
    size_t ln = (size_t)(at - name);
    char *end;
    errno = 0;
    long long a = strtoll(at + 1, &end, 10), b = a;
    if (*end == '-')
        b = strtoll(end + 1, &end, 10);
    if (errno || *end || a < 1 || b < a)
        return err_set(err, "%s: expected LIST@FIRST-LAST", name);
    for (size_t i = 0; i < s->npages; i++) {
        S_page *p = &s->pages[i];
        if (!p->data_list || strlen(p->data_list) != ln || strncmp(p->data_list, name, ln))
            continue;
        int rk = S_ranked(s, p, 0, err);
        if (rk < 0)
            return -1;
        int per = S_per_page(s, p->c.params);
        S_job j = {T_PAGE, (int)i, rk ? 1 : 0};
        if (S_jobset_add(js, j) != 0)
            return err_set(err, "out of memory");
        if (!rk)
            continue;
        int from = S_rank_page(a, per), to = S_rank_page(b, per);
        if (a > 1 && (a - 1) % per == 0)
            from--;
        if (to - from > 64) { /* scattered: one read of the list is cheaper */
            j.pageno = 0;
            from = to + 1;
            if (S_jobset_add(js, j) != 0)
                return err_set(err, "out of memory");
        }
        for (int k = from; k <= to; k++) {
            j.pageno = k;
            if (S_jobset_add(js, j) != 0)
                return err_set(err, "out of memory");
        }
    }
    return 0;
}

/* The jobs for the changed names (caller holds s->mu). A page that read a
 * name is rendered again; a data page whole, but for a ranked list's page
 * that read something else than the list itself (page 1 shows a count):
 * that page alone. */
static int S_affected_jobs(site *s, const char *const *names, size_t n, S_jobset *js,
                           folio_err *err)
{
    for (size_t i = 0; i < s->ndeps; i++) {
        const char *hit = NULL;
        for (size_t k = 0; k < n && !hit; k++) {
            char pat[160];
            snprintf(pat, sizeof pat, " %s ", names[k]);
            if (strstr(s->deps[i].names, pat))
                hit = names[k];
        }
        S_job j;
        if (!hit || S_job_for(s, s->deps[i].url, &j) != 0)
            continue;
        S_page *p = j.type == T_PAGE ? &s->pages[j.idx] : NULL;
        if (p && p->data_list) {
            int rk = S_ranked(s, p, 0, err);
            if (rk < 0)
                return -1;
            if (!rk || !strcmp(hit, p->data_list))
                j.pageno = 0;
        }
        if (S_jobset_add(js, j) != 0)
            return err_set(err, "out of memory");
    }
    for (size_t k = 0; k < n; k++)
        if (strchr(names[k], '@') && S_rank_jobs(s, names[k], js, err) != 0)
            return -1;
    return 0;
}

int site_render_affected(site *s, const char *const *names, size_t n, int *rendered,
                         folio_err *err)
{
    if (rendered)
        *rendered = 0;
    S_jobset js = {0};
    pthread_mutex_lock(&s->mu);
    int rc = S_affected_jobs(s, names, n, &js, err);
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) {
        free(js.v);
        return -1;
    }
    S_call call = {.s = s};
    S_batch b = {.s = s, .call = &call, .jobs = js.v, .n = js.n, .out = s->out,
                 .mode = W_INPLACE};
    rc = S_batch_run(&b, err);
    if (rc == 0) {
        /* forget what the re-rendered pages read before, keep what they read
         * now; the URLs are copied, as the merge frees the old entries */
        char **copy = NULL;
        size_t nu = 0;
        pthread_mutex_lock(&s->mu);
        copy = calloc(s->ndeps + 1, sizeof *copy);
        for (size_t i = 0; copy && i < s->ndeps; i++) {
            S_job u;
            if (S_job_for(s, s->deps[i].url, &u) != 0)
                continue;
            for (size_t k = 0; k < js.n; k++)
                if (S_job_covers(s, &js.v[k], &u)) {
                    if ((copy[nu] = util_strdup(s->deps[i].url)))
                        nu++;
                    break;
                }
        }
        pthread_mutex_unlock(&s->mu);
        if (copy)
            S_deps_merge(s, &b.deps, (const char *const *)copy, nu);
        for (size_t i = 0; copy && i < nu; i++)
            free(copy[i]);
        free(copy);
        rc = S_deps_write(s, s->out, err);
    }
    if (rendered)
        *rendered = b.rendered;
    S_deps_free(b.deps.v, b.deps.n);
    S_call_done(&call);
    free(js.v);
    return rc;
}

/* Renders url into out; *gone (when non-NULL) reports a data page past
 * the end of its list instead of an error. */
static int S_render_to(site *s, S_call *call, const char *url, const cJSON *extra,
                       buf *out, int *gone, folio_err *err)
{
    S_job j;
    if (S_job_for(s, url, &j) != 0)
        return err_set(err, "no page at %s", url);
    S_worker w = {.s = s, .call = call, .out = s->out, .extra = extra, .to = out,
                  .check = gone != NULL};
    int rc = S_job_run(&w, &j, err);
    if (gone)
        *gone = w.gone;
    S_deps_free(w.deps.v, w.deps.n);
    buf_free(&w.html);
    return rc;
}

int site_render_url(site *s, const char *url, const cJSON *extra, buf *out, folio_err *err)
{
    S_call call = {.s = s};
    int rc = S_render_to(s, &call, url, extra, out, NULL, err);
    S_call_done(&call);
    return rc;
}

int site_render_error(site *s, int status, const char *title,
                      const char *message, buf *out, folio_err *err)
{
    cJSON *extra = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(extra, "error");
    if (!e || !cJSON_AddNumberToObject(e, "status", status) ||
        !cJSON_AddStringToObject(e, "title", title) ||
        !cJSON_AddStringToObject(e, "message", message)) {
        cJSON_Delete(extra);
        return err_set(err, "out of memory");
    }
    S_call call = {.s = s};
    S_worker w = {.s = s, .call = &call, .out = s->out, .extra = extra, .to = out};
    S_job j = {T_ERROR, -1, 1};
    int rc = S_job_run(&w, &j, err);
    S_deps_free(w.deps.v, w.deps.n);
    buf_free(&w.html);
    S_call_done(&call);
    cJSON_Delete(extra);
    return rc;
}

int site_check_pages(site *s, buf *report, folio_err *err)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->ndeps;
    char **urls = calloc(n + 1, sizeof *urls);
    for (size_t i = 0; urls && i < n; i++)
        urls[i] = util_strdup(s->deps[i].url);
    pthread_mutex_unlock(&s->mu);
    if (!urls)
        return err_set(err, "out of memory");
    int differ = 0, rc = 0;
    buf page = BUF_INIT;
    S_call call = {.s = s}; /* one call: the provider is asked once per name */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!urls[i]) {
            rc = err_set(err, "out of memory");
            break;
        }
        buf_reset(&page);
        int gone = 0;
        if (S_render_to(s, &call, urls[i], NULL, &page, &gone, err) != 0) {
            rc = -1;
            break;
        }
        char path[PATH_MAX];
        char *disk = NULL;
        size_t len = 0;
        folio_err e2;
        int same;
        if (gone) /* a page past the end of its list should not be there at all */
            same = S_path_of(s->out, urls[i], path, sizeof path, &e2) == 0 &&
                   !util_is_file(path);
        else
            same = S_path_of(s->out, urls[i], path, sizeof path, &e2) == 0 &&
                   util_read_file(path, &disk, &len, &e2) == 0 && len == page.len &&
                   (len == 0 || !memcmp(disk, page.ptr, len));
        free(disk);
        if (!same) {
            differ = 1;
            if (buf_printf(report, "%s\n", urls[i]) != 0)
                rc = err_set(err, "out of memory");
        }
    }
    S_call_done(&call);
    for (size_t i = 0; i < n; i++)
        free(urls[i]);
    free(urls);
    buf_free(&page);
    return rc != 0 ? -1 : differ;
}

/* ---- pages no content file makes (folio-fcgi's owner's pages) ------------ */

int site_render_template(site *s, const char *name, const char *title, const char *url,
                         const cJSON *extra, buf *out, folio_err *err)
{
    const tpl *t = tpl_set_get(s->tpls, name);
    if (!t)
        return err_set(err, "no template %s.mustache in %s", name, s->cfg->templates_dir);
    S_call call = {.s = s};
    S_worker w = {.s = s, .call = &call, .out = s->out, .extra = extra, .to = out};
    S_job j = {T_ERROR, -1, 1};
    S_out o = {0};
    S_rctx r = {&call, -1, "", 0, {{0}, 0, 1}};
    cJSON *ctx = cJSON_CreateObject();
    int rc = ctx ? S_job_ctx(s, &j, ctx, &o, err) : err_set(err, "out of memory");
    cJSON *pv = rc == 0 ? S_synthetic(s, title, "private", url, "") : NULL;
    cJSON *params = pv ? cJSON_GetObjectItemCaseSensitive(pv, "params") : NULL;
    if (rc == 0 && (!params || !cJSON_AddTrueToObject(params, "noindex") ||
                    !cJSON_ReplaceItemInObjectCaseSensitive(ctx, "page", pv))) {
        cJSON_Delete(pv);
        rc = err_set(err, "out of memory");
    }
    if (rc == 0 && extra && S_add_extra(ctx, extra) != 0)
        rc = err_set(err, "out of memory");
    if (rc == 0) {
        o.t = t;
        o.file = name;
        snprintf(o.url, sizeof o.url, "%s", url);
        w.job = &j;
        rc = S_emit(&w, &o, ctx, &r, err);
    }
    cJSON_Delete(ctx);
    S_deps_free(w.deps.v, w.deps.n);
    buf_free(&w.html);
    S_call_done(&call);
    return rc;
}
