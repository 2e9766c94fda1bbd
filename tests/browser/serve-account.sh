#!/usr/bin/env bash
# Members and the owner in headless chromium against folio serve alone, no
# nginx or folio-fcgi: a member's whole life (tests/browser/account.mjs:
# sign up, verify from the outbox, rename, download, delete), then the
# owner's inbox (tests/browser/admin.mjs: sign in, mark a contact handled),
# as under folio-fcgi. Exit 0/1.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"
. "$FOLIO_SRCDIR/tests/browser/lib.sh"
b_prepare

t_site
export FOLIO_RATE_LIMIT=0
echo 'owner-password-long' | "$FOLIO_BIN" register -s "$T_SITE" --email owner@example.org \
    --name "Olive Owner" --password-stdin >/dev/null || { t_fail "register the owner" "failed"; t_done; }
t_folio_serve

export ACCOUNT_ADDR=serve-member@example.org
b_run account.mjs
pass=$T_PASS fail=$T_FAIL
"$FOLIO_BIN" events -s "$T_SITE" --json >"$T_DIR/events" 2>&1
grep -q '"PersonForgotten"' "$T_DIR/events" && pass=$((pass + 1)) || {
    fail=$((fail + 1)); echo "FAIL - the log records the erasure: no PersonForgotten"; }

# Made owner while serve runs, as an author would.
"$FOLIO_BIN" members -s "$T_SITE" role owner@example.org owner >/dev/null ||
    { fail=$((fail + 1)); echo "FAIL - make the owner: folio members role failed"; }
OWNER_EMAIL=owner@example.org OWNER_PASSWORD=owner-password-long b_run admin.mjs
T_PASS=$((T_PASS + pass)) T_FAIL=$((T_FAIL + fail))
[ "$T_FAIL" -eq 0 ] || { echo "--- folio serve output"; cat "$T_DIR/serve.log"; }
t_done
