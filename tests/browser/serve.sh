#!/usr/bin/env bash
# folio serve in headless Debian chromium (tests/browser/serve.mjs): an edit
# reloads the open page by itself; a broken template shows the overlay with
# file:line over the last good page; the fix removes it and reloads.
# Exit 0/1.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

here=$FOLIO_SRCDIR/tests/browser
chromium=${CHROMIUM:-/usr/bin/chromium}
command -v node >/dev/null && command -v npm >/dev/null || { echo "node/npm missing (./quickstart test installs it)"; exit 1; }
[ -x "$chromium" ] || { echo "chromium missing ($chromium) (./quickstart test installs it)"; exit 1; }
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
    (cd "$here" && npm install --no-audit --no-fund --no-package-lock --loglevel=error) || {
        echo "cannot install playwright-core from npm"; exit 1; }
fi

t_site
t_folio_serve

T_URL=$T_URL T_SITE=$T_SITE CHROMIUM=$chromium node "$here/serve.mjs" | tee "$T_DIR/browser.out"
rc=${PIPESTATUS[0]}
T_PASS=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$T_DIR/browser.out" | tail -n1)
T_FAIL=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$T_DIR/browser.out" | tail -n1)
T_PASS=${T_PASS:-0} T_FAIL=${T_FAIL:-1}
[ "$rc" -eq 0 ] || [ "$T_FAIL" -gt 0 ] || T_FAIL=1
[ "$T_FAIL" -eq 0 ] || { echo "--- folio serve output"; cat "$T_DIR/serve.log"; }
t_done
