/* theme — the site's look: themes/NAME/ (templates/, static/, theme.yml),
 * under the site's own templates/ and static/, which override the theme's
 * files by path (Hugo's lookup, partials included).
 *
 * folio.yml `theme: NAME` (default "default") is looked up in SITE/themes/,
 * then in DIR/themes/ for DIR in $FOLIO_THEME_DIR, the installed data
 * directory and the source tree. A named theme that is not found is an
 * error; the default theme, when absent, leaves the site on its own files.
 *
 * The theme's params (theme.yml `params:`, else its folio.yml's) are the
 * defaults of folio.yml's `params:`, merged key by key. The params the
 * default theme reads are checked here (docs/templates.md): accent and
 * accent_dark (CSS colours), social (network: handle or URL), footer
 * (text), avatar (a site path). `language` gives the text direction and
 * `date_format` (strftime, default "%-d %B %Y") the dates people read. */
#ifndef FOLIO_THEME_H
#define FOLIO_THEME_H

#include <cjson/cJSON.h>
#include "config.h"
#include "util.h"

typedef struct theme {
    char *name;          /* "default", or NULL: no theme */
    char *dir;           /* its folder, absolute, or NULL */
    char *templates_dir; /* dir/templates when there, else NULL */
    char *static_dir;    /* dir/static when there, else NULL */
    char *stamp;         /* what every page depends on: the folder and its params file */
    cJSON *params;       /* the site's params over the theme's, checked; never NULL when open */
    cJSON *social;       /* [{network, label, url, me}], for site.social */
    char *date_format;
    int rtl;             /* the language is written right to left */
} theme;

/* Finds the theme cfg names and reads its params. Errors name folio.yml
 * (or theme.yml) and the param: an unknown theme, a colour that is not one. */
int theme_open(const folio_config *cfg, theme *t, folio_err *err);
void theme_close(theme *t);

/* The folders of AREA ("templates" or "static") in lookup order, the
 * site's first; folders that do not exist are left out. Returns how many
 * (0 to 2). */
size_t theme_dirs(const theme *t, const folio_config *cfg, const char *area,
                  const char *dirs[2]);

/* The file REL of AREA ("static", "img/me.jpg") that the lookup finds:
 * 1 and its path; 0 when no folder has it. */
int theme_file(const theme *t, const folio_config *cfg, const char *area, const char *rel,
               char *path, size_t n);

/* The date for people (KEY_long), in date_format, UTC. */
int theme_format_date(const theme *t, long long ms, char *out, size_t n);

/* The stylesheet of the colour params (css/params.css): custom properties
 * only, from checked values. */
int theme_css(const theme *t, buf *out);

/* Whether a language tag ("ar", "he-IL") is written right to left. */
int theme_rtl(const char *language);

/* A directory holding folio's own data (themes/, the starter and demo
 * sites): $FOLIO_THEME_DIR, the installed data directory, the source tree,
 * the first that has REL. Returns it, or NULL. */
const char *theme_datadir(const char *rel);

#endif
