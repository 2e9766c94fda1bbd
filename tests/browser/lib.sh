# What folio's browser tests share on the shell side (with lib.mjs on the
# node side). Source after tests/integration/lib.sh:
#   b_prepare          node, npm and chromium there; playwright-core installed
#   b_serve_fcgi       the demo site behind nginx + folio-fcgi ($T_URL)
#   b_run SCRIPT.mjs   runs it (T_URL, T_SITE and CHROMIUM in its environment)
#                      and folds its "N passed, N failed" into this test's count
here=$FOLIO_SRCDIR/tests/browser
chromium=${CHROMIUM:-/usr/bin/chromium}

b_prepare() {
    command -v node >/dev/null && command -v npm >/dev/null || { echo "node/npm missing (./quickstart test installs it)"; exit 1; }
    [ -x "$chromium" ] || { echo "chromium missing ($chromium) (./quickstart test installs it)"; exit 1; }
    # playwright-core, pinned in package.json, installed once into node_modules.
    if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
        (cd "$here" && npm install --no-audit --no-fund --no-package-lock --loglevel=error) || {
            echo "cannot install playwright-core from npm"; exit 1; }
    fi
}

b_run() {
    T_URL=$T_URL T_SITE=${T_SITE:-} CHROMIUM=$chromium node "$here/$1" | tee "$T_DIR/browser.out"
    local rc=${PIPESTATUS[0]}
    T_PASS=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$T_DIR/browser.out" | tail -n1)
    T_FAIL=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$T_DIR/browser.out" | tail -n1)
    T_PASS=${T_PASS:-0} T_FAIL=${T_FAIL:-1}
    [ "$rc" -eq 0 ] || [ "$T_FAIL" -gt 0 ] || T_FAIL=1
}

# b_serve_fcgi: a copy of the demo site behind nginx + folio-fcgi ($T_URL).
b_serve_fcgi() {
    [ -x "$FOLIO_FCGI_BIN" ] || { echo "folio-fcgi not built (run make first)"; exit 1; }
    t_site
    export FOLIO_RATE_LIMIT=0
    t_serve
}
