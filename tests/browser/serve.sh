#!/usr/bin/env bash
# folio serve in headless Debian chromium (tests/browser/serve.mjs): an edit
# reloads the open page by itself; a broken template shows the overlay with
# file:line over the last good page; the fix removes it and reloads.
# Exit 0/1.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"
. "$FOLIO_SRCDIR/tests/browser/lib.sh"
b_prepare

t_site
# The site's own page template, over its theme's: the one serve.mjs breaks.
mkdir -p "$T_SITE/templates"
cp "$FOLIO_SRCDIR/themes/default/templates/page.mustache" "$T_SITE/templates/"
t_folio_serve

b_run serve.mjs
[ "$T_FAIL" -eq 0 ] || { echo "--- folio serve output"; cat "$T_DIR/serve.log"; }
t_done
