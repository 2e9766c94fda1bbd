#!/usr/bin/env bash
# A member's account in headless chromium (tests/browser/account.mjs)
# through nginx + folio-fcgi, then the log: after the deletion, nothing of
# the member in `folio events`' decrypted view.
# Exit 0/1; 77 when chromium or node is not installed.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"
. "$FOLIO_SRCDIR/tests/browser/lib.sh"
b_prepare
b_serve_fcgi

export ACCOUNT_ADDR=browser-member@example.org
b_run account.mjs
"$FOLIO_BIN" events -s "$T_SITE" --json >"$T_DIR/events" 2>&1
grep -q '"PersonForgotten"' "$T_DIR/events" && t_ok "the log records the erasure" ||
    t_fail "the log records the erasure" "no PersonForgotten"
if grep -qE 'browser-member@example.org|Browser Member (Ada|Grace)' "$T_DIR/events"; then
    t_fail "nothing of the member in the decrypted log" "$(grep -m1 -oE '"type":"[A-Za-z]*".{0,80}(browser-member|Browser Member)' "$T_DIR/events")"
else
    t_ok "nothing of the member in the decrypted log"
fi
t_done
