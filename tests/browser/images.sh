#!/usr/bin/env bash
# A page bundle's cover in headless chromium at 375 and 1280 px wide
# (tests/browser/images.mjs), served by nginx from a copy of the demo site
# with a bundle added. Exit 0/1.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"
. "$FOLIO_SRCDIR/tests/browser/lib.sh"
b_prepare

t_site
B=$T_SITE/content/projects/lamp
mkdir -p "$B"
python3 "$FOLIO_SRCDIR/tests/integration/images.py" png "$B/photo.png" 2000 1000 1
printf -- '---\ntitle: "The lamp"\ndate: 2025-03-01\ncover: photo.png\n---\nA lamp.\n' >"$B/index.md"
"$FOLIO_BIN" build -s "$T_SITE" -o "$T_SITE/public" >"$T_DIR/build.log" 2>&1 || {
    cat "$T_DIR/build.log"; t_fail "build with a bundle" "failed"; t_done; }
T_NO_FCGI=1 t_serve

PAGE=/projects/lamp/ b_run images.mjs
t_done
