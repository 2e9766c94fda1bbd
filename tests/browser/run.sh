#!/usr/bin/env bash
# folio's browser test: nginx + folio-fcgi for a copy of the demo site, and
# headless Debian chromium driven by playwright-core (tests/browser/forms.mjs).
# Exit 0/1; 77 when chromium or node is not installed.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

here=$FOLIO_SRCDIR/tests/browser
chromium=${CHROMIUM:-/usr/bin/chromium}
command -v node >/dev/null && command -v npm >/dev/null || { echo "node/npm missing (./quickstart test installs it)"; exit 1; }
[ -x "$chromium" ] || { echo "chromium missing ($chromium) (./quickstart test installs it)"; exit 1; }
[ -x "$FOLIO_FCGI_BIN" ] || { echo "folio-fcgi not built (run make first)"; exit 1; }

# playwright-core, pinned in package.json, installed once into node_modules.
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
    (cd "$here" && npm install --no-audit --no-fund --no-package-lock --loglevel=error) || {
        echo "cannot install playwright-core from npm"; exit 1; }
fi

t_site
export FOLIO_RATE_LIMIT=0
t_serve

T_URL=$T_URL T_SITE=$T_SITE CHROMIUM=$chromium node "$here/forms.mjs" | tee "$T_DIR/browser.out"
rc=${PIPESTATUS[0]}
# Fold the browser's results into this test's count.
T_PASS=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$T_DIR/browser.out" | tail -n1)
T_FAIL=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$T_DIR/browser.out" | tail -n1)
T_PASS=${T_PASS:-0} T_FAIL=${T_FAIL:-1}
[ "$rc" -eq 0 ] || [ "$T_FAIL" -gt 0 ] || T_FAIL=1
t_done
