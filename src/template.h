/* template — a Mustache engine over cJSON values.
 *
 * Conforms to the Mustache spec (comments, delimiters, interpolation,
 * inverted, partials, sections) plus the optional ~inheritance (blocks and
 * parents: {{<parent}}{{$block}}...{{/block}}{{/parent}}) and ~dynamic-names
 * ({{>*name}}). Lambdas are not supported. {{name}} is HTML-escaped,
 * {{{name}}} and {{&name}} are not.
 *
 * A compiled template is immutable: one tpl may be rendered from several
 * threads at once, each with its own output buffer.
 *
 * Where the spec leaves a choice: a section is skipped for a missing value,
 * null, false, [] and "" (0 and {} are shown); numbers print as integers
 * when whole, else in the fewest digits that read back the same (1.21);
 * objects and arrays interpolate as nothing. Partials and parents nest at
 * most 64 deep, so a template that includes itself fails the render; and a
 * render does at most a million sections, items and partials and writes at
 * most 32 MiB, so one that loops over itself fails too instead of running
 * for ever. */
#ifndef FOLIO_TEMPLATE_H
#define FOLIO_TEMPLATE_H

#include <cjson/cJSON.h>
#include "util.h"

typedef struct tpl tpl;

/* Finds a partial or parent by name. Returns a compiled template owned by
 * the loader (it must stay valid until the render returns) or NULL when
 * there is no such template (which renders as empty, as the spec says). The
 * loader may set *err and return NULL to make the render fail instead — the
 * site does this so that a missing partial is a build error. */
typedef const tpl *(*tpl_loader_fn)(void *ud, const char *name, folio_err *err);

/* Supplies a top-level value the context does not hold, on first use
 * during a render. Returns a value owned by the resolver, or NULL for
 * "no such value". The site uses this to load projections lazily and to
 * record which projections a page read. */
typedef const cJSON *(*tpl_resolver_fn)(void *ud, const char *name);

typedef struct tpl_render_opts {
    tpl_loader_fn loader;   /* may be NULL: partials render empty */
    void *loader_ud;
    tpl_resolver_fn resolver; /* may be NULL */
    void *resolver_ud;
    int text;               /* plain text (mail): {{name}} is not escaped */
    /* Lower work limits than the defaults (0: the default), for callers
     * that must fail fast, such as the fuzzer. */
    unsigned max_steps, max_probes;
} tpl_render_opts;

/* Compiles src (len bytes, need not be NUL-terminated). name is used in
 * error messages ("NAME:LINE: unclosed section 'x'"). */
tpl *tpl_compile(const char *name, const char *src, size_t len, folio_err *err);
/* Appends the rendering of t with ctx to out. */
int tpl_render(const tpl *t, const cJSON *ctx, const tpl_render_opts *opts,
               buf *out, folio_err *err);
const char *tpl_name(const tpl *t);
void tpl_free(tpl *t);

/* A set of templates loaded from a directory: NAME.mustache files, with
 * subdirectories giving names such as "partials/header". Serves as the
 * loader for its own templates. */
typedef struct tpl_set tpl_set;
tpl_set *tpl_set_load(const char *dir, folio_err *err);
/* The same over several folders: a name found in an earlier folder hides
 * the later ones' (a site's templates over its theme's). */
tpl_set *tpl_set_load_dirs(const char *const *dirs, size_t n, folio_err *err);
const tpl *tpl_set_get(const tpl_set *s, const char *name);
/* A tpl_loader_fn over a set (ud is the tpl_set); a missing name is an
 * error naming the template. */
const tpl *tpl_set_loader(void *ud, const char *name, folio_err *err);
void tpl_set_free(tpl_set *s);

#endif
