#!/usr/bin/env bash
# Disk full: the event store on a small tmpfs, filled. A submission is
# answered 503 with Retry-After and the site's styled page, nothing is
# stored, /health and /metrics say so; once space returns, submissions
# succeed again by themselves. Exit 0/1 (77: cannot mount a tmpfs here).
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

t_need_fcgi

t_site
export FOLIO_RATE_LIMIT=0
# A filesystem of our own to fill: mounting one needs root (or a user
# namespace we are not in); without it this test cannot run here.
VAR=$T_SITE/var
mkdir -p "$VAR" "$T_DIR/var.old"
cp -a "$VAR/." "$T_DIR/var.old/"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=6m,mode=0755 folio-test "$VAR" 2>/dev/null; then
    echo "SKIP: cannot mount a tmpfs (needs root): the disk-full test does not run here"
    exit 77
fi
t_umount() { umount "$VAR" 2>/dev/null || umount -l "$VAR" 2>/dev/null; }
trap 't_cleanup_all' EXIT
t_cleanup_all() { folio_local_stop; t_umount; t_cleanup; }
cp -a "$T_DIR/var.old/." "$VAR/"
t_serve
# t_serve moved base_url to the test's port: build with it, as a deploy would
"$FOLIO_BIN" build -s "$T_SITE" >/dev/null 2>&1 || t_fail "build for the test's address" "failed"

ORIGIN=$T_URL
FORM=application/x-www-form-urlencoded
post() {
    t_status POST /contact -H "Origin: $ORIGIN" -H "Content-Type: $FORM" --data-binary "$1" "${@:2}"
}
header() { grep -i "^$1:" "$T_DIR/headers" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }
count() { "$FOLIO_BIN" events -s "$T_SITE" --type ContactRequestSubmitted 2>/dev/null | grep -c ContactRequestSubmitted; }
fill() {   # takes every free block, twice: the WAL may shrink in between
    local i
    for i in 1 2 3; do
        dd if=/dev/zero of="$VAR/fill$i" bs=16k 2>/dev/null
        sleep 0.7
    done
}

t_expect "a submission with room is stored" 303 "$(post "name=Ann&email=ann%40example.org&message=Before+the+disk+filled")"
t_expect "/health is 200 with room" 200 "$(t_status GET /health)"
before=$(count)

fill
t_expect "/health is 503 while the disk is full" 503 "$(t_status GET /health)"
t_contains "/health says the disk is full" '"database":"disk full"' "$T_DIR/body"
# The first commit to need a page finds no room; each try is its own message.
got=
for n in 1 2 3 4 5; do
    got=$(post "name=Bo&email=bo$n%40example.org&message=While+the+disk+is+full+$n")
    [ "$got" = 303 ] || break
done
t_expect "a submission on a full disk is 503" 503 "$got"
ra=$(header Retry-After)
if [ -n "$ra" ] && [ "$ra" -ge 1 ] 2>/dev/null; then t_ok "503 has Retry-After ($ra s)"; else t_fail "503 has Retry-After" "'$ra'"; fi
t_contains "the 503 page has the site's theme" 'class="skip-link"' "$T_DIR/body"
t_contains "the 503 page says to try again" 'please send it again' "$T_DIR/body"
t_expect "JSON clients get 503 too" 503 "$(post "name=Cy&email=cy%40example.org&message=While+the+disk+is+full+json" -H 'Accept: application/json')"
t_contains "the JSON 503 says why" '"ok":false' "$T_DIR/body"
t_status GET /metrics >/dev/null
t_contains "/metrics: folio_store_writable 0" 'folio_store_writable 0' "$T_DIR/body"
if grep -qE '^folio_disk_full_total [1-9]' "$T_DIR/body"; then t_ok "/metrics counts disk-full refusals"; else t_fail "/metrics counts disk-full refusals" "$(grep disk_full "$T_DIR/body")"; fi
if grep -q '"status":500' "$FOLIO_FCGI_LOG"; then t_fail "no bare 500 on a full disk" "$(grep '"status":500' "$FOLIO_FCGI_LOG" | head -n1)"; else t_ok "no bare 500 on a full disk"; fi

rm -f "$VAR"/fill*
t_expect "/health is 200 once space returns" 200 "$(t_status GET /health)"
t_expect "a submission succeeds again by itself" 303 "$(post "name=Dee&email=dee%40example.org&message=After+space+returned")"
t_status GET /metrics >/dev/null
t_contains "/metrics: folio_store_writable 1 again" 'folio_store_writable 1' "$T_DIR/body"
stored=$(count)
if [ "$stored" -ge $((before + 1)) ]; then t_ok "the store took the new submission ($before -> $stored)"; else t_fail "the store took the new submission" "$before -> $stored"; fi
folio_local_stop
if "$FOLIO_BIN" check -s "$T_SITE" >"$T_DIR/check" 2>&1; then t_ok "folio check is clean after the disk-full spell"; else t_fail "folio check is clean" "$(head -n5 "$T_DIR/check")"; fi

t_done
