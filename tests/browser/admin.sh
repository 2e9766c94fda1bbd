#!/usr/bin/env bash
# The owner's inbox in headless chromium (tests/browser/admin.mjs): the
# owner signs in, a contact posted through the site's form is in the
# unread view, marking it handled takes it out. nginx + folio-fcgi for a
# copy of the demo site with an owner. Exit 0/1.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"
. "$FOLIO_SRCDIR/tests/browser/lib.sh"
b_prepare
[ -x "$FOLIO_FCGI_BIN" ] || { echo "folio-fcgi not built (run make first)"; exit 1; }

t_site
export FOLIO_RATE_LIMIT=0
echo 'owner-password-long' | "$FOLIO_BIN" register -s "$T_SITE" --email owner@example.org \
    --name "Olive Owner" --password-stdin >/dev/null || { t_fail "register the owner" "failed"; t_done; }
"$FOLIO_BIN" members -s "$T_SITE" role owner@example.org owner >/dev/null ||
    { t_fail "make the owner" "failed"; t_done; }
t_serve

OWNER_EMAIL=owner@example.org OWNER_PASSWORD=owner-password-long b_run admin.mjs
t_done
