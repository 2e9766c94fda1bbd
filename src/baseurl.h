/* baseurl — what a site was built with, kept as part of the site's
 * state rather than left to the environment of whoever runs folio next.
 *
 * `folio build` records, in var/build.json, the base URL its pages carry
 * (folio.yml's base_url, or FOLIO_BASE_URL when set) together with
 * folio.yml's own base_url at the time. Programs that render pages in
 * place or compare them (folio-fcgi, folio check, the store commands) call
 * baseurl_apply after config_load: the recorded base URL is used unless
 * told otherwise — FOLIO_BASE_URL is set, or folio.yml's base_url has been
 * changed since that build (then pages are out of date until the next
 * build, and folio check says so). */
#ifndef FOLIO_BASEURL_H
#define FOLIO_BASEURL_H

#include "config.h"
#include "util.h"

/* Writes var/build.json for a build of cfg->public_dir (atomically). */
int baseurl_record(const folio_config *cfg, folio_err *err);
/* Replaces cfg->base_url with the recorded one when it applies (see
 * above). No record, or a record that does not apply: cfg is unchanged,
 * 0. -1 only for a record that cannot be read or parsed. */
int baseurl_apply(folio_config *cfg, folio_err *err);

#endif
