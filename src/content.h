/* content — reads the site owner's Markdown files: YAML front matter
 * (libyaml) and a CommonMark body (libcmark).
 *
 * Owner content is trusted: raw HTML in Markdown passes through. */
#ifndef FOLIO_CONTENT_H
#define FOLIO_CONTENT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include "util.h"

enum content_kind {
    CONTENT_PAGE,     /* content/SECTION/NAME.md or content/NAME.md */
    CONTENT_SECTION,  /* content/SECTION/_index.md */
    CONTENT_HOME      /* content/_index.md */
};

/* One content file, front matter parsed. Strings are owned by the record. */
typedef struct content_page {
    char *file;        /* path relative to content/, e.g. "projects/foo.md" */
    enum content_kind kind;
    char *section;     /* first path component ("projects"), "" at the top */
    char *title;       /* never NULL ("" if absent) */
    char *slug;        /* NULL unless given */
    char *layout;      /* NULL unless given */
    char *summary;     /* front matter summary, else NULL until computed */
    long long date;    /* ms since the epoch, or -1 when absent */
    long long lastmod; /* ms since the epoch, or -1 when absent */
    int draft;
    long weight;       /* 0 when absent */
    char **tags;       /* as written */
    size_t ntags;
    char **aliases;    /* URL paths, e.g. "/old/path/" */
    size_t naliases;
    cJSON *params;     /* every other front matter key, as JSON; never NULL */
    size_t body_offset; /* where the Markdown starts in the file */
    int body_line;      /* 1-based line of the first body line */
    char *warnings;     /* "FILE:LINE: ..." lines, or NULL: mistakes that still build */
    /* A page decoded from a build state keeps its strings and arrays in
     * one allocation instead of one each (a tenth of the heap on a big
     * site was malloc's own overhead): what lies inside it is freed with
     * it, never alone. NULL for a page parsed from its file. */
    char *blk;
    size_t blklen;
} content_page;

/* Parses the front matter of src (a whole file). file is the name used in
 * messages and stored in out->file; errors read "FILE:LINE: reason". A file
 * without a leading "---" line has no front matter. Invalid UTF-8 anywhere
 * in the file is an error naming its line. A front matter key that is not
 * a known one but a near miss of one ("titel") is kept in params and
 * warned about in out->warnings. */
int content_parse(const char *file, const char *src, size_t len,
                  content_page *out, folio_err *err);
void content_page_free(content_page *p);
/* Frees s, a string of p's (or one that rode with its record), unless it
 * lies in p's block. NULL-safe. */
void content_str_free(const content_page *p, char *s);
/* The params of a page that has none: one object shared by all such
 * pages (ten thousand empty objects were a twentieth of a big site's
 * heap). Never change it; content_page_free leaves it alone. */
cJSON *content_no_params(void);
/* Whether s lies in p's block (then it lives and dies with p). */
int content_in_blk(const content_page *p, const void *s);
/* A deep copy of from (to is overwritten); -1 when memory runs out. */
int content_page_copy(const content_page *from, content_page *to);

/* Markdown to HTML (CMARK_OPT_UNSAFE: owner HTML passes). Result is
 * malloc'd; *words receives the word count of the text (may be NULL);
 * *summary, when non-NULL, receives the first paragraph as plain text
 * (malloc'd, NULL if there is no paragraph). */
char *content_render(const char *md, size_t len, size_t *outlen, int *words,
                     char **summary);

/* The known key closest to key (Damerau-Levenshtein distance at most 2,
 * and less than key's length), or NULL when none is close or key is one. */
const char *content_suggest(const char *key, const char *const *known, size_t n);

/* The same, and *links (when links is non-NULL) receives the links and
 * images of the Markdown, one "LINE<TAB>URL" a line (LINE counted from the
 * start of md); "" when there are none. */
char *content_render_links(const char *md, size_t len, size_t *outlen, int *words,
                           char **summary, char **links);

/* Reading time in minutes for a word count (at least 1). */
int content_reading_minutes(int words);

#endif
