/* site — the page graph and its rendering into public/.
 *
 * Pages: content pages and section lists (paginated), the home page, tag
 * pages (/tags/ and /tags/NAME/), sitemap.xml, Atom feeds (/index.xml and
 * /SECTION/index.xml), robots.txt, 404.html, alias redirects, static/.
 * Pretty URLs: content/projects/foo.md -> OUT/projects/foo/index.html.
 *
 * Templates read projections through the same context as page data
 * ({{#community.members}}). Such top-level names that no page data holds
 * are asked of the data provider; the site records, per page, which names
 * it read (kept in OUT/.folio-deps so another process can use them), and
 * site_render_affected re-renders exactly the pages that read given names.
 *
 * In place (site_render_affected) every file is written to a temporary
 * file in its directory and renamed into place. A full build renders into a
 * directory beside OUT and swaps it in (renameat2 RENAME_EXCHANGE) only when
 * complete; on error OUT is untouched. The site it replaced stays beside OUT
 * as .OUT.prev with its build state (.folio-state, see buildstate.h), and
 * the next build is made in it: only outputs whose recorded inputs changed
 * since that tree was built are rendered, files whose bytes did not change
 * are not written, files no longer made are removed. Creating and removing
 * ~10,000 page directories per build was most of a build's time. A build
 * killed half-way leaves a .OUT.new-XXXXXX tree that the next build removes. */
#ifndef FOLIO_SITE_H
#define FOLIO_SITE_H

#include <cjson/cJSON.h>
#include "config.h"
#include "util.h"

typedef struct site site;

/* Returns the value of a top-level data name (e.g. "community"), owned by
 * the provider and valid until the end of the current site call, or NULL
 * when the provider does not know the name. The site calls it under its own
 * lock and at most once per name per call, so it need not be thread-safe. */
typedef const cJSON *(*site_data_fn)(void *ud, const char *name);

/* Ranked lists: a provider may serve a paginated list (the NAME.PATH of
 * `paginate_data`, e.g. "community.members") by rank, 1 the oldest item:
 * fills *top with the highest rank and *items with a new array of the
 * items ranked lo..hi (clamped to 1..top), newest first, each carrying its
 * "rank". Returns 0; 1 when it does not serve that list by rank (the page
 * then reads the whole list through site_data_fn); -1 with a message.
 * Called under the site's lock, like site_data_fn.
 *
 * A ranked list's pages never shift (docs/templates.md): page 1 shows the
 * newest items, page k >= 2 the ranks (k-2)*per+1 .. (k-1)*per. Naming
 * "NAME.PATH@A-B" (or "@A") to site_render_affected re-renders page 1 and
 * the pages holding ranks A..B only; "NAME.PATH" re-renders all of them. */
typedef int (*site_range_fn)(void *ud, const char *list, long long lo, long long hi,
                             cJSON **items, long long *top, folio_err *err);

typedef struct site_opts {
    const char *out_dir;  /* NULL: cfg->public_dir */
    int drafts;           /* include drafts and future-dated pages */
    int jobs;             /* render threads; 0: one per CPU */
    long long now_ms;     /* "now" for future-dated pages; 0: the clock */
    site_data_fn data;    /* may be NULL */
    void *data_ud;
    site_range_fn range;  /* may be NULL; called with data_ud */
    int full;             /* site_build: render everything, whatever OUT's state says */
    int strict;           /* site_build: fail, leaving OUT as it is, on any warning */
    /* Mistakes that still build ("FILE:LINE: ..."); NULL prints them to
     * stderr as "warning: ...". */
    void (*warn)(void *ud, const char *msg);
    void *warn_ud;
    /* A watcher's word (folio serve): since OUT's state was written, no
     * content file changed but these (paths under content/). The others
     * are taken from the state unread, without a stat each. */
    int changed_known;
    const char *const *changed;
    size_t nchanged;
    /* With changed_known: the site served until now (only read; the
     * caller keeps others from rendering with it meanwhile). Its pages
     * are copied rather than read from the state file. */
    const struct site *donor;
    /* site_build: called once the new site is swapped in, before the
     * bookkeeping that follows (link checks, the state file): a server
     * can tell its browsers to reload while that runs. */
    void (*swapped)(void *ud);
    void *swapped_ud;
} site_opts;

/* Reads content/ and templates/ (not static/). cfg must outlive the site.
 * Errors name the file (and line): bad YAML, invalid UTF-8 (in a file or
 * its name), a page without a title, an unknown layout, a missing partial,
 * two pages claiming one URL. */
site *site_open(const folio_config *cfg, const site_opts *opts, folio_err *err);

/* Renders the whole site into OUT (built beside it, then swapped in). */
int site_build(site *s, folio_err *err);

/* folio serve, after an edit of pages' bodies only: files (paths under
 * content/) are pages of s whose front matter reads as it did, so the
 * page graph stays as it is. Takes their new bytes into s and builds s
 * again. Returns 1 when it did, 0 when the edit is more than that (s is
 * as it was: open a new site instead), -1 when the build failed (OUT is
 * as it was; s holds the new bytes). */
int site_rebuild_bodies(site *s, const char *const *files, size_t n, folio_err *err);

/* Re-renders, in place in OUT, every page that read one of names (data
 * names such as "community"); *rendered (may be NULL) gets the count. */
int site_render_affected(site *s, const char *const *names, size_t n,
                         int *rendered, folio_err *err);

/* Renders the page at a URL path ("/contact/") with the top-level values
 * of extra (e.g. {"form": {"values": {...}, "errors": {...}}}) added to its
 * context, into out. For the forms' 422 answer. -1 with a message if there
 * is no such page. */
/* Renders templates/error.mustache (the 404 template when there is none)
 * with the site's context and {"error": {status, title, message}}: the
 * styled page of folio-fcgi's refusals (403, 429, 503). */
int site_render_error(site *s, int status, const char *title,
                      const char *message, buf *out, folio_err *err);

int site_render_url(site *s, const char *url, const cJSON *extra, buf *out,
                    folio_err *err);

/* Renders every page that reads provider data and compares it with OUT.
 * Returns 0 when all match, 1 when some differ (their URLs are appended to
 * report, one a line), -1 on error. */
int site_check_pages(site *s, buf *report, folio_err *err);

/* Compares OUT's recorded build state with the site as it is now, without
 * rendering: 0 when every page is built from the current inputs, 1 when
 * some are not (their URLs are appended to report, one a line), -1 on
 * error. Checks links as site_build does (see site_warnings). */
int site_check_state(site *s, buf *report, folio_err *err);

/* How many files the last site_build rendered (pages, lists, aliases). */
int site_built_pages(const site *s);
/* How many outputs the last site_build found unchanged and did not render. */
int site_unchanged_pages(const site *s);

/* How many warnings site_open and site_build gave so far: unknown keys
 * that look like typos of known ones (front matter and folio.yml), menu
 * items and Markdown links to pages or files the site does not have
 * (static files, the form endpoints and feeds count as had). Anchors
 * (#name) are not checked. */
int site_warnings(const site *s);

void site_close(site *s);

/* Renders templates/NAME.mustache (e.g. "admin/inbox") with the site's
 * context, a made-up page {title, url, params.noindex} and the top-level
 * values of extra: a page no content file makes, in the site's theme
 * (folio-fcgi's owner's pages). Never written to the tree. */
int site_render_template(site *s, const char *name, const char *title, const char *url,
                         const cJSON *extra, buf *out, folio_err *err);

#endif
