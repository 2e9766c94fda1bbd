/* anchors — the #fragments a page offers: ids of its headings and the
 * explicit ids of its HTML.
 *
 * Markdown headings get ids made from their text, as Hugo and GitHub make
 * them: "## Why another logger" is <h2 id="why-another-logger">; a repeat
 * gets "-1", "-2"; an id the page already has is never given twice. */
#ifndef FOLIO_ANCHORS_H
#define FOLIO_ANCHORS_H

#include <stddef.h>
#include "util.h"

/* Gives every <hN> of html (len bytes) without attributes an id, into
 * *out (NUL-terminated, *outlen its length; may be NULL) — *out is NULL
 * when html has no such heading, which then stays as it is — and when ids
 * is non-NULL appends every id of the page to it, one "#ID\n" line each.
 * Returns 0, -1 when out of memory. */
int anchors_add(const char *html, size_t len, char **out, size_t *outlen, buf *ids);

/* Appends the literal ids of a template's source (id="x", not the ones
 * made with {{...}}) as "#ID\n" lines. */
int anchors_scan(const char *src, size_t len, buf *ids);

/* Whether lines ("#ID\n"..., may be NULL) hold id (len bytes). */
int anchors_has(const char *lines, const char *id, size_t len);

#endif
