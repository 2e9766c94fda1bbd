#!/usr/bin/env bash
# folio's browser test: nginx + folio-fcgi for a copy of the demo site, and
# headless Debian chromium driven by playwright-core (tests/browser/forms.mjs).
# Exit 0/1; 77 when chromium or node is not installed.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"
. "$FOLIO_SRCDIR/tests/browser/lib.sh"
b_prepare
b_serve_fcgi

b_run forms.mjs
t_done
