/* folio init, new and build. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "baseurl.h"
#include "cmd.h"
#include "config.h"
#include "domain.h"
#include "site.h"
#include "theme.h"
#include "util.h"

/* What `folio init` copies: the starter site (folio.yml, content/,
 * static/), or with --demo the demo portfolio. Never the theme: a site
 * uses the installed one by reference, so a new folio brings its fixes. */
static const char *const S_demo_parts[] = {"folio.yml", "content", "static"};

static int S_dir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 1 : -1;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = 0;
            break;
        }
    closedir(d);
    return empty;
}

static int S_init_usage(FILE *f)
{
    fprintf(f, "usage: folio init [--demo] DIR\n");
    return 2;
}

/* from/PART into dir/PART for each part that from has. */
static int S_init_copy(const char *from, const char *dir, folio_err *err)
{
    for (size_t i = 0; i < sizeof S_demo_parts / sizeof *S_demo_parts; i++) {
        char src[PATH_MAX], dst[PATH_MAX];
        if (util_path(src, sizeof src, err, "%s/%s", from, S_demo_parts[i]) != 0 ||
            util_path(dst, sizeof dst, err, "%s/%s", dir, S_demo_parts[i]) != 0)
            return -1;
        if ((util_is_dir(src) || util_is_file(src)) && util_copy_tree(src, dst, err) != 0)
            return -1;
    }
    return 0;
}

int cmd_init(int argc, char **argv)
{
    int demo = 0;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: folio init [--demo] DIR\n\n"
                   "Creates a new site in DIR (which must be empty or absent): a small\n"
                   "starter site (folio.yml, an about page, one example project with a\n"
                   "cover image, contact and register pages) whose placeholders you\n"
                   "replace; --demo: the full demo portfolio instead. The site uses the\n"
                   "default theme where folio is installed, by reference: it gets no copy\n"
                   "of it, so upgrading folio upgrades its look; put a file of the same\n"
                   "path in DIR/templates/ or DIR/static/ to change one. Taken from\n"
                   "$FOLIO_THEME_DIR, else %s, else %s.\n", FOLIO_DATADIR, FOLIO_SRCDIR);
            return 0;
        }
        if (!strcmp(argv[i], "--demo"))
            demo = 1;
        else if (argv[i][0] == '-' || dir)
            return S_init_usage(stderr);
        else
            dir = argv[i];
    }
    if (!dir)
        return S_init_usage(stderr);
    int empty = S_dir_empty(dir);
    if (empty < 0) {
        fprintf(stderr, "folio init: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (!empty) {
        fprintf(stderr, "folio init: %s is not empty; refusing to overwrite it\n", dir);
        return 1;
    }
    const char *what = demo ? "content" : "starter/content";
    const char *data = theme_datadir(what);
    if (!data) {
        fprintf(stderr, "folio init: no %s site found (set FOLIO_THEME_DIR to the folder "
                        "folio's data is installed in, the one holding themes/)\n",
                demo ? "demo" : "starter");
        return 1;
    }
    folio_err err = {{0}};
    char from[PATH_MAX];
    if (util_path(from, sizeof from, &err, "%s%s", data, demo ? "" : "/starter") != 0 ||
        util_mkdirs(dir, 0755, &err) != 0 || S_init_copy(from, dir, &err) != 0) {
        fprintf(stderr, "folio init: %s\n", err.msg);
        return 1;
    }
    printf("created a new site in %s (%s; the default theme from %s/themes/default)\n"
           "next: cd %s && folio serve     (preview while you write)\n"
           "      folio build               (render public/ for nginx)\n",
           dir, demo ? "the demo portfolio" : "a starter site: replace its placeholders",
           data, dir);
    return 0;
}

/* "my-first_post" -> "My first post" */
static void S_title(const char *name, char *out, size_t n)
{
    size_t len = strnlen(name, n - 1);
    memcpy(out, name, len);
    out[len] = '\0';
    for (char *c = out; *c; c++)
        if (*c == '-' || *c == '_')
            *c = ' ';
    if (out[0] >= 'a' && out[0] <= 'z')
        out[0] = (char)(out[0] - 'a' + 'A');
}

/* SECTION/NAME: letters, digits, '-', '_' and '.', no empty or dot parts. */
static int S_name_ok(const char *s)
{
    if (!*s || *s == '/')
        return 0;
    const char *part = s;
    for (const char *p = s;; p++) {
        if (*p == '/' || *p == '\0') {
            if (p == part || part[0] == '.')
                return 0;
            if (!*p)
                return 1;
            part = p + 1;
            continue;
        }
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c >= 0x80))
            return 0;
    }
}

/* Writes the new page's front matter; never over an existing file. */
static int S_new_file(const char *path, const char *title, const char *date)
{
    buf b = BUF_INIT;
    int rc = buf_puts(&b, "---\ntitle: \"");
    for (const char *c = title; rc == 0 && *c; c++)
        rc = ((*c == '"' || *c == '\\') ? buf_putc(&b, '\\') : 0) || buf_putc(&b, *c);
    if (rc == 0)
        rc = buf_printf(&b, "\"\ndate: %s\ndraft: true\ntags: []\nsummary: \"\"\n---\n\n"
                            "Write here.\n", date);
    if (rc != 0) {
        buf_free(&b);
        fprintf(stderr, "folio new: out of memory\n");
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "folio new: %s: %s\n", path,
                errno == EEXIST ? "already exists; not overwriting it" : strerror(errno));
        buf_free(&b);
        return -1;
    }
    ssize_t w = write(fd, b.ptr, b.len);
    int cerr = close(fd);
    if (w != (ssize_t)b.len || cerr != 0) {
        fprintf(stderr, "folio new: %s: %s\n", path, strerror(errno));
        unlink(path);
        buf_free(&b);
        return -1;
    }
    buf_free(&b);
    return 0;
}

int cmd_new(int argc, char **argv)
{
    const char *site_dir = ".";
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: folio new [-s SITE] SECTION/NAME\n\n"
                   "Creates content/SECTION/NAME.md in SITE (default: the current\n"
                   "directory) with front matter: a title made from NAME, the date now\n"
                   "and draft: true. An existing file is never overwritten.\n");
            return 0;
        }
        if (!strcmp(argv[i], "-s") && i + 1 < argc)
            site_dir = argv[++i];
        else
            break;
    }
    if (i + 1 != argc || argv[i][0] == '-') {
        fprintf(stderr, "usage: folio new [-s SITE] SECTION/NAME\n");
        return 2;
    }
    char name[PATH_MAX];
    snprintf(name, sizeof name, "%s", argv[i]);
    size_t n = strlen(name);
    if (n > 3 && !strcmp(name + n - 3, ".md"))
        name[n - 3] = '\0';
    if (!S_name_ok(name) || strlen(name) > 200) {
        fprintf(stderr, "folio new: '%s': expected SECTION/NAME made of letters, digits, "
                        "'-', '_' and '.'\n", argv[i]);
        return 2;
    }
    folio_config cfg;
    folio_err err = {{0}};
    if (config_load(site_dir, &cfg, &err) != 0) {
        fprintf(stderr, "folio new: %s\n", err.msg);
        return 1;
    }
    char path[PATH_MAX], dir[PATH_MAX], title[256], date[32];
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    S_title(base, title, sizeof title);
    util_format_iso_ms(util_now_ms(), date);
    memcpy(date + 19, "Z", 2); /* whole seconds are enough for a date */
    int rc = 1;
    if (util_path(path, sizeof path, &err, "%s/%s.md", cfg.content_dir, name) != 0 ||
        util_path(dir, sizeof dir, &err, "%s", path) != 0) {
        fprintf(stderr, "folio new: %s\n", err.msg);
        goto done;
    }
    *strrchr(dir, '/') = '\0';
    if (util_mkdirs(dir, 0755, &err) != 0) {
        fprintf(stderr, "folio new: %s\n", err.msg);
        goto done;
    }
    if (S_new_file(path, title, date) != 0)
        goto done;
    printf("%s\n", path);
    rc = 0;
done:
    config_free(&cfg);
    return rc;
}

static void S_build_usage(FILE *f)
{
    fprintf(f,
            "usage: folio build [-s SITE] [-o OUT] [--drafts] [-j N] [--as-of TIME] [--full]\n"
            "                   [--strict]\n\n"
            "Renders SITE (default: .) into OUT (default: SITE/public). The site is\n"
            "built beside OUT and swapped in when complete: on any error OUT stays as\n"
            "it was and the status is 1. The site it replaces is kept as .OUT.prev\n"
            "beside OUT, and the next build is made in it: only the pages whose\n"
            "inputs changed since that tree was built are rendered again.\n\n"
            "  -s, --site SITE   the site directory (holding folio.yml)\n"
            "  -o, --out OUT     the output directory\n"
            "  -D, --drafts      include drafts and future-dated pages\n"
            "  -j, --jobs N      render threads (default: one per CPU)\n"
            "      --as-of TIME  build as of TIME (YYYY-MM-DD[THH:MM[:SS]][Z]):\n"
            "                    'now' for future-dated pages and the event store\n"
            "      --full        render every page, whatever the recorded state says\n"
            "      --strict      warnings (typos of known keys, menu items and links to\n"
            "                    missing pages) fail the build; OUT stays as it was\n"
            "  -h, --help        this text\n");
}

/* Returns -1 to go on, else the exit status. */
static int S_build_args(int argc, char **argv, const char **site_dir, const char **out,
                        site_opts *opts, int *strict)
{
    static const struct option S_opts[] = {
        {"site", required_argument, NULL, 's'}, {"out", required_argument, NULL, 'o'},
        {"drafts", no_argument, NULL, 'D'},     {"jobs", required_argument, NULL, 'j'},
        {"as-of", required_argument, NULL, 'A'}, {"help", no_argument, NULL, 'h'},
        {"full", no_argument, NULL, 'F'},       {"strict", no_argument, NULL, 'S'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:o:Dj:h", S_opts, NULL)) != -1) {
        switch (c) {
        case 's': *site_dir = optarg; break;
        case 'o': *out = optarg; break;
        case 'D': opts->drafts = 1; break;
        case 'j': {
            char *end;
            long j = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || j < 1 || j > 64) {
                fprintf(stderr, "folio build: -j: expected a number from 1 to 64\n");
                return 2;
            }
            opts->jobs = (int)j;
            break;
        }
        case 'A':
            if (util_parse_time(optarg, &opts->now_ms) != 0) {
                fprintf(stderr, "folio build: --as-of: '%s' is not a time "
                                "(YYYY-MM-DD[THH:MM[:SS]][Z])\n", optarg);
                return 2;
            }
            break;
        case 'h': S_build_usage(stdout); return 0;
        case 'F': opts->full = 1; break;
        case 'S': *strict = opts->strict = 1; break;
        case ':':
            fprintf(stderr, "folio build: %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "folio build: unknown option '%s'\n", argv[optind - 1]);
            S_build_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "folio build: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return -1;
}

/* 1 when a build into out (NULL: the default) replaces the site's public/. */
static int S_is_public_dir(const folio_config *cfg, const char *out)
{
    if (!out)
        return 1;
    char a[PATH_MAX], b[PATH_MAX];
    return realpath(out, a) && realpath(cfg->public_dir, b) && !strcmp(a, b);
}

int cmd_build(int argc, char **argv)
{
    const char *site_dir = ".", *out = NULL;
    site_opts opts = {0};
    int strict = 0;
    int st = S_build_args(argc, argv, &site_dir, &out, &opts, &strict);
    if (st >= 0)
        return st;
    long long t0 = util_mono_ns();
    folio_config cfg;
    folio_err err = {{0}};
    if (config_load(site_dir, &cfg, &err) != 0) {
        fprintf(stderr, "folio build: %s\n", err.msg);
        return 1;
    }
    if (!cfg.file && !util_is_dir(cfg.content_dir)) {
        fprintf(stderr, "folio build: %s is not a folio site (no folio.yml, no content/).\n"
                        "Make one with 'folio init DIR', or name one with -s SITE.\n",
                strcmp(site_dir, ".") ? site_dir : "this directory");
        config_free(&cfg);
        return 1;
    }
    opts.out_dir = out;
    /* ---- event store data ------------------------------------------------
     * Pages read projections ({{#community.members}}) through opts.data.
     * With --as-of the projections are replayed up to that time into a
     * temporary database (the live one is only read); a site without a
     * store yet gets empty data without one being created. */
    domain *dom = NULL;
    int drc = opts.now_ms > 0 || !util_is_file(cfg.db_path)
                  ? domain_open_as_of(&cfg, opts.now_ms > 0 ? opts.now_ms
                                                            : util_now_ms(),
                                      &dom, &err)
                  : domain_open(&cfg, &dom, &err);
    if (drc != 0) {
        fprintf(stderr, "folio build: %s\n", err.msg);
        config_free(&cfg);
        return 1;
    }
    opts.data = domain_site_data;
    opts.data_ud = dom;
    opts.range = domain_site_range;
    /* ---- end of the provider's place ------------------------------------ */
    util_trace("cmd: config, store");
    site *s = site_open(&cfg, &opts, &err);
    int rc = 1;
    if (!s) {
        fprintf(stderr, "folio build: %s\n", err.msg);
        goto done;
    }
    if (strict && site_warnings(s) > 0) {
        fprintf(stderr, "folio build: %d warning%s and --strict: not built\n",
                site_warnings(s), site_warnings(s) == 1 ? "" : "s");
        goto done;
    }
    if (site_build(s, &err) != 0) {
        fprintf(stderr, "folio build: %s\n", err.msg);
        goto done;
    }
    /* The site's own public/ now carries this base URL: say so in var/. */
    if (S_is_public_dir(&cfg, out) && baseurl_record(&cfg, &err) != 0) {
        fprintf(stderr, "folio build: %s\n", err.msg);
        goto done;
    }
    double ms = (double)(util_mono_ns() - t0) / 1e6;
    printf("folio: built %d pages (%d unchanged) into %s in %.0f ms\n",
           site_built_pages(s), site_unchanged_pages(s), out ? out : cfg.public_dir, ms);
    rc = 0;
done:
    util_trace("cmd: after build");
#if defined(__SANITIZE_ADDRESS__)
    site_close(s);
#else
    /* The process ends here: freeing a big site's hundreds of thousands of
     * allocations one by one takes longer than an incremental build's own
     * work, and exit gives the pages back at once. (Sanitizer builds free,
     * so that a leak still shows.) */
    if (rc != 0)
        site_close(s);
#endif
    util_trace("cmd: close");
    domain_close(dom);
    config_free(&cfg);
    return rc;
}
