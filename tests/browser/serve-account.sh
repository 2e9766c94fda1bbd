#!/usr/bin/env bash
# A member's whole life (tests/browser/account.mjs) in headless chromium
# against folio serve alone, no nginx or folio-fcgi: sign up, verify from
# the outbox, rename, download, delete, as under folio-fcgi.
# Exit 0/1; 77 when chromium or node is not installed.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"
. "$FOLIO_SRCDIR/tests/browser/lib.sh"
b_prepare

t_site
export FOLIO_RATE_LIMIT=0
t_folio_serve

export ACCOUNT_ADDR=serve-member@example.org
b_run account.mjs
[ "$T_FAIL" -eq 0 ] || { echo "--- folio serve output"; cat "$T_DIR/serve.log"; }
"$FOLIO_BIN" events -s "$T_SITE" --json >"$T_DIR/events" 2>&1
grep -q '"PersonForgotten"' "$T_DIR/events" && t_ok "the log records the erasure" ||
    t_fail "the log records the erasure" "no PersonForgotten"
t_done
