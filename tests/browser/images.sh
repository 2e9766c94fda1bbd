#!/usr/bin/env bash
# A page bundle's cover in headless chromium at 375 and 1280 px wide
# (tests/browser/images.mjs), served by nginx from a copy of the demo site
# with a bundle added. Exit 0/1.
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
B=$T_SITE/content/projects/lamp
mkdir -p "$B"
python3 "$FOLIO_SRCDIR/tests/integration/images.py" png "$B/photo.png" 2000 1000 1
printf -- '---\ntitle: "The lamp"\ndate: 2025-03-01\ncover: photo.png\n---\nA lamp.\n' >"$B/index.md"
"$FOLIO_BIN" build -s "$T_SITE" -o "$T_SITE/public" >"$T_DIR/build.log" 2>&1 || {
    cat "$T_DIR/build.log"; t_fail "build with a bundle" "failed"; t_done; }
T_NO_FCGI=1 t_serve

T_URL=$T_URL PAGE=/projects/lamp/ CHROMIUM=$chromium node "$here/images.mjs" | tee "$T_DIR/browser.out"
rc=${PIPESTATUS[0]}
T_PASS=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$T_DIR/browser.out" | tail -n1)
T_FAIL=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$T_DIR/browser.out" | tail -n1)
T_PASS=${T_PASS:-0} T_FAIL=${T_FAIL:-1}
[ "$rc" -eq 0 ] || [ "$T_FAIL" -gt 0 ] || T_FAIL=1
t_done
