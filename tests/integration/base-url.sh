#!/usr/bin/env bash
# The base URL a site was built with is part of the site's state (var/
# build.json): folio check and the commands that re-render pages use it,
# whatever FOLIO_BASE_URL the shell they run in has. Exit 0/1.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

t_site
unset FOLIO_BASE_URL
S=$T_SITE
if "$FOLIO_BIN" check -s "$S" >"$T_DIR/out" 2>&1; then t_ok "a fresh build checks clean"; else t_fail "a fresh build checks clean" "$(head -n3 "$T_DIR/out")"; fi

# Built (as ./quickstart run and a daemon would) with another address ...
FOLIO_BASE_URL=http://127.0.0.1:9123/ "$FOLIO_BIN" build -s "$S" >/dev/null 2>&1 || t_fail "build with FOLIO_BASE_URL" "failed"
t_contains "the build records its base URL" '"base_url":	"http://127.0.0.1:9123/"' "$S/var/build.json"
# ... checked and changed from a shell without it.
if "$FOLIO_BIN" check -s "$S" >"$T_DIR/out" 2>&1; then t_ok "folio check without FOLIO_BASE_URL is clean"; else t_fail "folio check without FOLIO_BASE_URL is clean" "$(head -n3 "$T_DIR/out")"; fi
"$FOLIO_BIN" register -s "$S" --email ann@example.org --name Ann >/dev/null 2>&1 || t_fail "folio register" "failed"
t_contains "a re-rendered page keeps the recorded base URL" 'http://127.0.0.1:9123/' "$S/public/community/index.html"
if "$FOLIO_BIN" check -s "$S" >"$T_DIR/out" 2>&1; then t_ok "still clean after a command re-rendered pages"; else t_fail "still clean after a re-render" "$(head -n3 "$T_DIR/out")"; fi

# Told otherwise: FOLIO_BASE_URL, or folio.yml's base_url edited since.
if FOLIO_BASE_URL=http://other.example/ "$FOLIO_BIN" check -s "$S" >"$T_DIR/out" 2>&1; then
    t_fail "FOLIO_BASE_URL still wins" "check was clean"
else t_contains "FOLIO_BASE_URL still wins: pages out of date" '/' "$T_DIR/out"; fi
sed -i 's|^base_url:.*|base_url: "https://moved.example/"|' "$S/folio.yml"
if "$FOLIO_BIN" check -s "$S" >/dev/null 2>&1; then t_fail "an edited folio.yml wins over the record" "check was clean"; else t_ok "an edited folio.yml wins over the record"; fi
"$FOLIO_BIN" build -s "$S" >/dev/null 2>&1
if "$FOLIO_BIN" check -s "$S" >"$T_DIR/out" 2>&1; then t_ok "clean again after the next build"; else t_fail "clean after the next build" "$(head -n3 "$T_DIR/out")"; fi
t_contains "the record follows the build" 'https://moved.example/' "$S/var/build.json"

t_done
