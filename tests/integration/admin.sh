#!/usr/bin/env bash
# The owner's pages at /admin/ through nginx and folio-fcgi: signed out is
# a 303 to /login/, a member is refused 403, the owner sees every page
# (home with counts, inbox with filters and keyset pages, one request,
# members with search, one member, erase, health, events); every POST needs
# the session's CSRF token and the site's Origin; marks, hides and
# erasures are events; a visitor's hostile name and message are shown
# escaped; pages are private, no-store; no address reaches the log.
# Exit 0/1 (77: cannot run here).
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

command -v curl >/dev/null || { echo "curl missing (./quickstart test installs it)"; exit 77; }
[ -x "$FOLIO_FCGI_BIN" ] || { echo "folio-fcgi not built (run make first)"; exit 1; }

t_site
export FOLIO_RATE_LIMIT=0
S=$T_SITE
F() { "$FOLIO_BIN" "$@" -s "$S"; }
FORM=application/x-www-form-urlencoded

# An owner and a member, made by the owner's CLI before the server starts.
echo 'owner-password-long' | F register --email owner@example.org --name "Olive Owner" --password-stdin >/dev/null ||
    t_fail "register the owner" "folio register failed"
F members role owner@example.org owner >/dev/null || t_fail "make the owner" "folio members role failed"
# A webhook nobody answers, tried once: every contact becomes a dead letter.
cat >>"$S/folio.yml" <<EOF
webhooks:
  - url: "http://127.0.0.1:$(folio_free_port)/hook"
    events: [ContactRequestSubmitted]
    secret: "admin-test-secret-0123456789"
consumers:
  retry_first: 100ms
  retry_max: 1s
  attempts: 1
  poll: 200ms
  start: beginning
EOF
echo 'member-password-long' | F register --email mia@example.org --name "Mia Member" --password-stdin >/dev/null
echo 'victim-password-long' | F register --email vic@example.org --name "Vic Victim" --password-stdin >/dev/null
t_serve

post() { # PATH BODY [curl args...] -> status; body in $T_DIR/body
    local p=$1 b=$2; shift 2
    t_status POST "$p" -H "Origin: $T_URL" -H "Content-Type: $FORM" --data-binary "$b" "$@"
}
header() { grep -i "^$1:" "$T_DIR/headers" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }
cookie_of() { sed -n 's/^[Ss]et-[Cc]ookie: folio=\([^;]*\);.*/\1/p' "$T_DIR/headers" | tr -d '\r' | head -n1; }
signin() { post /login "email=$1&password=$2" >/dev/null; cookie_of; }
csrf_of() { sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T_DIR/body" | head -n1; }

# ---- a hostile contact request, through the form ----------------------------
t_expect "a contact with a hostile name and message" 303 \
    "$(post /contact "name=%3Cscript%3Ealert(1)%3C%2Fscript%3E&email=eve%40example.org&subject=Hi+%3Cb%3Ethere%3C%2Fb%3E&message=Hello+%3Cimg+src%3Dx+onerror%3Dalert(2)%3E+and+%22quotes%22")"
for i in $(seq 1 30); do
    F contact --name "Sender $i" --email "s$i@example.org" --subject "Question $i" --message "Message number $i" >/dev/null
done

# ---- who may come in -----------------------------------------------------------
t_expect "signed out: 303" 303 "$(t_status GET /admin/)"
t_expect "... to /login/" /login/ "$(header Location)"
t_expect "a made-up session: 303 too" 303 "$(t_status GET /admin/inbox/ -H 'Cookie: folio=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')"
mc=$(signin mia%40example.org member-password-long)
[ -n "$mc" ] && t_ok "the member signs in" || t_fail "the member signs in" "no cookie"
for p in / inbox/ members/ health/ events/; do
    t_expect "a member on /admin/$p: 403" 403 "$(t_status GET "/admin/$p" -H "Cookie: folio=$mc")"
done
t_contains "... the site's own error page" "site-header" "$T_DIR/body"
oc=$(signin owner%40example.org owner-password-long)
[ -n "$oc" ] && t_ok "the owner signs in" || t_fail "the owner signs in" "no cookie"
O=(-H "Cookie: folio=$oc")

# ---- back where they were after signing in ----------------------------------------
t_status GET /admin/inbox/ >/dev/null
t_contains "signed out: the page asked for is remembered" \
    "folio_next=/admin/inbox/; Path=/login; HttpOnly; SameSite=Lax" "$T_DIR/headers"
t_expect "signing in then goes back to it" 303 \
    "$(post /login "email=owner%40example.org&password=owner-password-long" -H "Cookie: folio_next=/admin/inbox/")"
t_expect "... to /admin/inbox/" /admin/inbox/ "$(header Location)"
t_contains "... and forgets it" "folio_next=; Path=/login" "$T_DIR/headers"
for hostile in //evil.example/admin/ /admin/../account/ "/admin/%0d%0aX:1" https://evil.example/ /account/; do
    post /login "email=owner%40example.org&password=owner-password-long" \
        -H "Cookie: folio_next=$hostile" >/dev/null
    t_expect "a remembered page '$hostile' is not followed" /account/ "$(header Location)"
done

# ---- home ----------------------------------------------------------------------
t_expect "the owner: /admin/ is 200" 200 "$(t_status GET /admin/ "${O[@]}")"
t_expect "... private, no-store" "private, no-store" "$(header Cache-Control)"
t_expect "... once" 1 "$(grep -ci '^cache-control:' "$T_DIR/headers")"
t_contains "... in the site's theme" 'class="site-header' "$T_DIR/body"
t_contains "... unread requests counted" 'id="count-unread">31<' "$T_DIR/body"
t_contains "... members counted" 'id="count-members">3<' "$T_DIR/body"
t_contains "... dead letters counted" 'id="count-dead">' "$T_DIR/body"
t_contains "... not for search engines" 'name="robots" content="noindex"' "$T_DIR/body"
t_expect "/admin without the slash: 303" 303 "$(t_status GET /admin "${O[@]}")"
t_expect "an unknown owner's page: 404" 404 "$(t_status GET /admin/nothing/ "${O[@]}")"
t_expect "a query field it does not know: 400" 400 "$(t_status GET '/admin/inbox/?evil=1' "${O[@]}")"

# ---- the inbox ----------------------------------------------------------------
t_expect "the inbox" 200 "$(t_status GET /admin/inbox/ "${O[@]}")"
t_expect "... one page: 25 requests" 25 "$(grep -c 'class="admin-row' "$T_DIR/body")"
t_contains "... newest first" "Sender 30" "$T_DIR/body"
next=$(sed -n 's/.*rel="next" href="\([^"]*\)".*/\1/p' "$T_DIR/body" | sed 's/&amp;/\&/g')
case $next in "/admin/inbox/?status=new&before="*) t_ok "... a keyset link to the next page";;
    *) t_fail "... a keyset link to the next page" "'$next'";; esac
t_expect "the next page" 200 "$(t_status GET "$next" "${O[@]}")"
t_expect "... the other 6" 6 "$(grep -c 'class="admin-row' "$T_DIR/body")"
t_contains "... the hostile request is there" "&lt;script&gt;alert(1)&lt;/script&gt;" "$T_DIR/body"
grep -q '<script>alert(1)' "$T_DIR/body" && t_fail "... escaped" "raw <script> in the page" || t_ok "... escaped"
evil=$(grep -o 'href="/admin/inbox/[^"]*/"' "$T_DIR/body" | tail -n1 | sed 's/href="\(.*\)"/\1/')
t_expect "one request a page" 200 "$(t_status GET "$evil" "${O[@]}")"
t_contains "... its message, escaped" "Hello &lt;img src=x onerror=alert(2)&gt; and &quot;quotes&quot;" "$T_DIR/body"
grep -q '<img src=x' "$T_DIR/body" && t_fail "... no raw markup" "raw <img> in the page" || t_ok "... no raw markup"
t_contains "... a mailto: reply link" 'href="mailto:eve@example.org?subject=Re%3A%20Hi%20%3Cb%3Ethere%3C%2Fb%3E"' "$T_DIR/body"
csrf=$(csrf_of)
[ ${#csrf} -eq 43 ] && t_ok "... its forms carry the CSRF token" || t_fail "... its forms carry the CSRF token" "'$csrf'"
t_expect "a request that is not there: 404" 404 "$(t_status GET /admin/inbox/00000000-0000-0000-0000-000000000000/ "${O[@]}")"

t_expect "mark without the CSRF token: 403" 403 "$(post "$evil" "action=mark&status=handled" "${O[@]}")"
t_expect "... with a wrong one: 403" 403 "$(post "$evil" "csrf=${csrf%?}x&action=mark&status=handled" "${O[@]}")"
t_expect "... with the member's: 403" 403 "$(post "$evil" "csrf=$csrf&action=mark&status=handled" -H "Cookie: folio=$mc")"
t_expect "... from another site: 403" 403 "$(t_status POST "$evil" -H "Origin: http://evil.example" -H "Content-Type: $FORM" "${O[@]}" --data-binary "csrf=$csrf&action=mark&status=handled")"
t_expect "... a status off the list: 422" 422 "$(post "$evil" "csrf=$csrf&action=mark&status=deleted" "${O[@]}")"
t_expect "... signed out: 303" 303 "$(post "$evil" "csrf=$csrf&action=mark&status=handled")"
t_expect "nothing was marked" 0 "$(F events --type ContactRequestStatusChanged | wc -l)"
t_expect "mark handled: 303" 303 "$(post "$evil" "csrf=$csrf&action=mark&status=handled" "${O[@]}")"
t_expect "... back to the unread view" "/admin/inbox/?done=handled" "$(header Location)"
t_expect "... an event" 1 "$(F events --type ContactRequestStatusChanged | wc -l)"
t_status GET "/admin/inbox/?done=handled" "${O[@]}" >/dev/null
t_contains "... said so" "marked handled" "$T_DIR/body"
grep -q 'script&gt;alert(1)' "$T_DIR/body" && t_fail "... gone from the unread view" "still listed" || t_ok "... gone from the unread view"
t_status GET "/admin/inbox/?status=handled" "${O[@]}" >/dev/null
t_contains "... in the handled view" "&lt;script&gt;alert(1)&lt;/script&gt;" "$T_DIR/body"
t_expect "archive" 303 "$(post "$evil" "csrf=$csrf&action=mark&status=archived" "${O[@]}")"
t_expect "spam" 303 "$(post "$evil" "csrf=$csrf&action=mark&status=spam" "${O[@]}")"
t_status GET "/admin/inbox/?status=spam" "${O[@]}" >/dev/null
t_expect "... in the spam view" 1 "$(grep -c 'class="admin-row' "$T_DIR/body")"
t_expect "a filter off the list: 400" 400 "$(t_status GET "/admin/inbox/?status=deleted" "${O[@]}")"
t_expect "the CLI agrees" spam "$(F inbox --status spam --csv | tail -n1 | cut -d, -f3)"

# ---- members ----------------------------------------------------------------------
t_expect "the members" 200 "$(t_status GET /admin/members/ "${O[@]}")"
t_contains "... with addresses, for the owner" "vic@example.org" "$T_DIR/body"
t_contains "... the owner marked" '<span class="badge">owner</span>' "$T_DIR/body"
t_expect "search by name" 200 "$(t_status GET '/admin/members/?q=vic' "${O[@]}")"
t_contains "... finds Vic" "Vic Victim" "$T_DIR/body"
grep -q "Mia Member" "$T_DIR/body" && t_fail "... and only Vic" "Mia listed" || t_ok "... and only Vic"
t_status GET '/admin/members/?q=mia%40example.org' "${O[@]}" >/dev/null
t_contains "search by address" "Mia Member" "$T_DIR/body"
t_status GET '/admin/members/?q=%25' "${O[@]}" >/dev/null
grep -q "Mia Member" "$T_DIR/body" && t_fail "a % is a character, not a wildcard" "matched all" || t_ok "a % is a character, not a wildcard"
t_status GET '/admin/members/?q=vic' "${O[@]}" >/dev/null
vic=$(grep -o 'href="/admin/members/[^"?]*/"' "$T_DIR/body" | head -n1 | sed 's/href="\(.*\)"/\1/')
t_expect "one member" 200 "$(t_status GET "$vic" "${O[@]}")"
csrf=$(csrf_of)
t_expect "hide without the CSRF token: 403" 403 "$(post "$vic" "action=hide" "${O[@]}")"
t_expect "hide: 303" 303 "$(post "$vic" "csrf=$csrf&action=hide" "${O[@]}")"
t_expect "... an event" 1 "$(F events --type MemberHiddenChanged | wc -l)"
curl -s "$T_URL/community/" | grep -q "Vic Victim" && t_fail "... off /community/" "still listed" || t_ok "... off /community/"
t_expect "unhide: 303" 303 "$(post "$vic" "csrf=$csrf&action=unhide" "${O[@]}")"
curl -s "$T_URL/community/" | grep -q "Vic Victim" && t_ok "... back on /community/" || t_fail "... back on /community/" "not listed"
t_expect "erase without confirming: to the page that asks" 303 "$(post "$vic" "csrf=$csrf&action=erase" "${O[@]}")"
t_expect "... at" "${vic}erase/" "$(header Location)"
t_expect "the page that asks" 200 "$(t_status GET "${vic}erase/" "${O[@]}")"
t_contains "... names the member" "Vic Victim" "$T_DIR/body"
t_expect "erase, confirmed: 303" 303 "$(post "${vic}erase/" "csrf=$csrf&action=erase&confirm=yes" "${O[@]}")"
t_expect "... an erasure in the log" 1 "$(F events --type PersonForgotten | wc -l)"
F events --json >"$T_DIR/log.json"
grep -q "vic@example.org" "$T_DIR/log.json" && t_fail "... the address reads [redacted]" "still there" || t_ok "... the address reads [redacted]"
t_expect "... gone from the members" 404 "$(t_status GET "$vic" "${O[@]}")"
t_status GET '/admin/members/' "${O[@]}" >/dev/null
t_contains "the owner cannot erase themselves here" "Olive Owner" "$T_DIR/body"
own=$(grep -o 'href="/admin/members/[^"?]*/"' "$T_DIR/body" | while read -r h; do
    h=${h#href=\"}; h=${h%\"}; curl -s "${O[@]}" "$T_URL$h" | grep -q "Olive Owner" && echo "$h"; done | head -n1)
t_expect "... 422" 422 "$(post "${own}erase/" "csrf=$csrf&action=erase&confirm=yes" "${O[@]}")"

# ---- health and events ---------------------------------------------------------
F backup "$T_DIR/backup.db" >/dev/null
t_expect "health" 200 "$(t_status GET /admin/health/ "${O[@]}")"
t_contains "... projections with their versions" "<td>inbox</td>" "$T_DIR/body"
t_contains "... the consumers" "<td>mail</td>" "$T_DIR/body"
t_contains "... the database size" 'id="db-size">' "$T_DIR/body"
t_contains "... the last backup" "$T_DIR/backup.db" "$T_DIR/body"
dead() { "$FOLIO_BIN" deadletters -s "$S" --json | python3 -c 'import json, sys; print(len([d for d in json.load(sys.stdin) if d["state"] == "dead"]))'; }
folio_wait_for '[ "$(dead)" -ge 31 ]' 20 && t_ok "the webhook's failures are dead letters" ||
    t_fail "the webhook's failures are dead letters" "$(dead)"
t_expect "health with dead letters" 200 "$(t_status GET /admin/health/ "${O[@]}")"
letter=$(grep -o 'name="letter" value="[0-9]*"' "$T_DIR/body" | head -n1 | grep -o '[0-9]*')
[ -n "$letter" ] && t_ok "... each with a Retry button" || t_fail "... each with a Retry button" "none"
t_expect "retry without the CSRF token: 403" 403 "$(post /admin/health/ "action=retry&letter=$letter" "${O[@]}")"
t_expect "... as a member: 403" 403 "$(post /admin/health/ "csrf=$csrf&action=retry&letter=$letter" -H "Cookie: folio=$mc")"
t_expect "retry: 303" 303 "$(post /admin/health/ "csrf=$csrf&action=retry&letter=$letter" "${O[@]}")"
t_expect "... back to health" "/admin/health/?done=retry" "$(header Location)"
t_expect "... recorded as folio deadletters retry records it" 1 "$(python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("SELECT count(*) FROM consumer_actions WHERE action = ? AND dead_letter = ?", ("owner-retry", int(sys.argv[2]))).fetchone()[0])' "$S/var/folio.db" "$letter")"
t_expect "retry a dead letter that is not there: 404" 404 "$(post /admin/health/ "csrf=$csrf&action=retry&letter=999" "${O[@]}")"
t_expect "... without the CSRF token: 403" 403 "$(post /admin/health/ "action=retry&letter=999" "${O[@]}")"

t_expect "events" 200 "$(t_status GET /admin/events/ "${O[@]}")"
t_expect "... a page of 20" 20 "$(grep -c '<section class="admin-event">' "$T_DIR/body")"
t_contains "... newest first" "PersonForgotten" "$T_DIR/body"
t_expect "by type" 200 "$(t_status GET '/admin/events/?type=ContactRequestSubmitted' "${O[@]}")"
grep -q 'MemberHiddenChanged' "$T_DIR/body" && t_fail "... only that type" "others listed" || t_ok "... only that type"
t_contains "... personal fields opened for the owner" "s30@example.org" "$T_DIR/body"
next=$(sed -n 's/.*rel="next" href="\([^"]*\)".*/\1/p' "$T_DIR/body" | sed 's/&amp;/\&/g')
t_expect "... its next page" 200 "$(t_status GET "$next" "${O[@]}")"
t_expect "... the 11 older ones" 11 "$(grep -c '<section class="admin-event">' "$T_DIR/body")"
stream=$(grep -o 'href="/admin/events/?stream=contact-[^"]*"' "$T_DIR/body" | tail -n1 | sed 's/.*stream=\([^"]*\)"/\1/')
t_expect "by stream" 200 "$(t_status GET "/admin/events/?stream=$stream" "${O[@]}")"
t_expect "... that stream only" 1 "$(grep -c '<section class="admin-event">' "$T_DIR/body")"
t_contains "... the hostile name escaped" "&lt;script&gt;alert(1)&lt;/script&gt;" "$T_DIR/body"
grep -q '<script>alert' "$T_DIR/body" && t_fail "... no raw markup in the log view" "raw" || t_ok "... no raw markup in the log view"
t_expect "a stream with odd characters: 400" 400 "$(t_status GET '/admin/events/?stream=%3Cx%3E' "${O[@]}")"
t_expect "POST to a page without actions: 405" 405 "$(post /admin/events/ "csrf=$csrf" "${O[@]}")"

# ---- nothing personal in the log ---------------------------------------------------
grep -qiE '[a-z0-9]+@example\.org' "$FOLIO_FCGI_LOG" && t_fail "no address in folio-fcgi's log" "$(grep -oiE '[a-z0-9]+@example\.org' "$FOLIO_FCGI_LOG" | head -n3)" ||
    t_ok "no address in folio-fcgi's log"
t_done
