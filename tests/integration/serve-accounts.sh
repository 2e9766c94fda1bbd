#!/usr/bin/env bash
# Members' accounts and the owner's pages under folio serve, without nginx
# or folio-fcgi: sign up, follow the mailed link from the outbox, sign in
# (the cookie as on plain http: "folio", no Secure), the account page with
# its CSRF token, rename (the community page is rendered again), a missing
# CSRF token refused, sign out, ask for a reset; then an owner made with
# `folio members role` opens /admin/, marks a contact request handled, and
# a member is refused 403. Exit 0/1 (77: cannot run here).
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

command -v curl >/dev/null || { echo "curl missing (./quickstart test installs it)"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing: cannot read the mails"; exit 77; }

t_site
export FOLIO_RATE_LIMIT=0
F() { "$FOLIO_BIN" "$@" -s "$T_SITE"; }
echo 'owner-password-long' | F register --email owner@example.org --name "Olive Owner" \
    --password-stdin >/dev/null || t_fail "register the owner" "folio register failed"
t_folio_serve

FORM=application/x-www-form-urlencoded
post() { # PATH BODY [curl args...] -> status; body in $T_DIR/body (a hang fails, 000)
    local p=$1 b=$2; shift 2
    t_status POST "$p" -H "Origin: $T_URL" -H "Content-Type: $FORM" --data-binary "$b" \
        --max-time 30 "$@"
}
header() { grep -i "^$1:" "$T_DIR/headers" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }
cookie_of() { sed -n 's/^[Ss]et-[Cc]ookie: folio=\([^;]*\);.*/\1/p' "$T_DIR/headers" | tr -d '\r' | head -n1; }
csrf_of() { sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T_DIR/body" | head -n1; }
signin() { post /login "email=$1&password=$2" >/dev/null; cookie_of; }
listed() { curl -s "$T_URL/community/" | grep -qF "$1" && echo yes || echo no; }
reloads() { grep -c '^event: reload' "$T_DIR/events" || true; }

curl -sN "$T_URL/__folio/events" >"$T_DIR/events" 2>/dev/null &
events_pid=$!
trap 'kill $events_pid 2>/dev/null; t_folio_serve_stop; t_cleanup' EXIT
folio_wait_for "grep -q '^event: hello' '$T_DIR/events'" 10

# ---- sign up, follow the link from the outbox ---------------------------------
t_expect "sign-up: 303" 303 \
    "$(post /register "email=ada%40example.org&display_name=Ada+Serving&password=correct-horse-battery")"
t_expect "... to check the inbox" /register/check/ "$(header Location)"
link=$(t_link verify ada@example.org verify) && t_ok "the verification mail is in the outbox" ||
    t_fail "the verification mail is in the outbox" "$(ls "$T_SITE/var/mail" 2>&1)"
t_expect "the link confirms" 303 "$(t_status GET "$link")"
t_expect "... to the welcome page" /register/welcome/ "$(header Location)"
t_expect "the member is on /community/" yes "$(listed "Ada Serving")"

# ---- sign in ----------------------------------------------------------------------
t_expect "GET /login/ is the sign-in page" 200 "$(t_status GET /login/)"
t_expect "a wrong password: 401" 401 "$(post /login "email=ada%40example.org&password=not-the-password")"
t_contains "... the sign-in page says why" "the address or the password is not right" "$T_DIR/body"
t_contains "... with the reload script, as serve's pages" '<script src="/__folio/reload.js"' "$T_DIR/body"
t_expect "the right password: 303" 303 "$(post /login "email=ada%40example.org&password=correct-horse-battery")"
t_expect "... to the account page" /account/ "$(header Location)"
setc=$(grep -i '^set-cookie:' "$T_DIR/headers" | tr -d '\r')
case $setc in "Set-Cookie: folio="*"; Path=/; HttpOnly; SameSite=Lax") t_ok "the cookie: folio, HttpOnly, SameSite=Lax, no Secure on http";;
    *) t_fail "the cookie: folio, HttpOnly, SameSite=Lax, no Secure on http" "$setc";; esac
c=$(cookie_of)
C=(-H "Cookie: folio=$c")

# ---- the account page ---------------------------------------------------------------
t_expect "the account page, signed in" 200 "$(t_status GET /account/ "${C[@]}")"
t_contains "... shows the member's name" "Ada Serving" "$T_DIR/body"
t_contains "... is private" "no-store" "$T_DIR/headers"
t_contains "... reloads like every served page" '<script src="/__folio/reload.js"' "$T_DIR/body"
csrf=$(csrf_of)
[ ${#csrf} -eq 43 ] && t_ok "... carries a CSRF token" || t_fail "... carries a CSRF token" "'$csrf'"
t_expect "signed out, the account page: to /login/" 303 "$(t_status GET /account/)"
t_expect "an unknown page under /account/: 404, not a file" 404 "$(t_status GET /account/nothing)"

t_expect "rename without the CSRF token: 403" 403 \
    "$(post /account/name "display_name=Ada+Renamed" "${C[@]}")"
t_expect "... with a wrong one: 403" 403 \
    "$(post /account/name "csrf=${csrf%?}x&display_name=Ada+Renamed" "${C[@]}")"
t_expect "... from another site: 403" 403 "$(t_status POST /account/name -H "Origin: http://evil.example" \
    -H "Content-Type: $FORM" "${C[@]}" --data-binary "csrf=$csrf&display_name=Ada+Renamed")"
t_expect "still the old name" yes "$(listed "Ada Serving")"
before=$(reloads)
t_expect "rename: 303" 303 "$(post /account/name "csrf=$csrf&display_name=Ada+Renamed" "${C[@]}")"
t_expect "... back to the account page" "/account/?done=name" "$(header Location)"
t_expect "... the community page shows the new name" yes "$(listed "Ada Renamed")"
folio_wait_for "[ \$(reloads) -gt $before ]" 10 && t_ok "... and the open pages are told to reload" ||
    t_fail "... and the open pages are told to reload" "no reload event"
t_status GET "/account/?done=name" "${C[@]}" >/dev/null
t_contains "... the account page has it" "Ada Renamed" "$T_DIR/body"
t_expect "download my data: 200" 200 "$(post /account/data "csrf=$csrf" "${C[@]}")"
t_contains "... as an attachment" "attachment" "$T_DIR/headers"

# ---- sign out, reset ------------------------------------------------------------------
t_expect "sign out without the CSRF token: 403" 403 "$(post /logout "" "${C[@]}")"
t_expect "sign out: 303" 303 "$(post /logout "csrf=$csrf" "${C[@]}")"
grep -qi '^set-cookie: folio=;.*Max-Age=0' "$T_DIR/headers" && t_ok "... clears the cookie" ||
    t_fail "... clears the cookie" "$(grep -i set-cookie "$T_DIR/headers")"
t_expect "... the session ended" 303 "$(t_status GET /account/ "${C[@]}")"
t_expect "ask for a reset: 303" 303 "$(post /reset "email=ada%40example.org")"
t_expect "... to 'check your inbox'" /reset/sent/ "$(header Location)"
link=$(t_link reset ada@example.org reset) && t_ok "the reset mail is in the outbox" ||
    t_fail "the reset mail is in the outbox" "$(ls "$T_SITE/var/mail")"
t_expect "the link asks for a new password" 200 "$(t_status GET "$link")"
t_expect "a new password: 303 to sign in" 303 "$(post /reset "token=${link#*token=}&password=a-new-password-1")"
t_expect "... to /login/" /login/ "$(header Location)"
t_expect "the new password signs in" 303 "$(post /login "email=ada%40example.org&password=a-new-password-1")"
mc=$(cookie_of)

# ---- the owner's pages -------------------------------------------------------------------
t_expect "a contact request" 303 \
    "$(post /contact "name=Eve+Sender&email=eve%40example.org&subject=Hello&message=A+question+for+the+owner.")"
F members role owner@example.org owner >/dev/null && t_ok "folio members role makes an owner" ||
    t_fail "folio members role makes an owner" "failed"
t_expect "signed out, /admin/: 303" 303 "$(t_status GET /admin/)"
t_expect "... to /login/" /login/ "$(header Location)"
t_expect "a member on /admin/: 403" 403 "$(t_status GET /admin/ -H "Cookie: folio=$mc")"
t_expect "a member on /admin/inbox/: 403" 403 "$(t_status GET /admin/inbox/ -H "Cookie: folio=$mc")"
t_contains "... on the site's own error page" 'class="site-header' "$T_DIR/body"
oc=$(signin owner%40example.org owner-password-long)
t_expect "the owner signs in and opens /admin/" 200 \
    "$([ -n "$oc" ] && t_status GET /admin/ -H "Cookie: folio=$oc")"
O=(-H "Cookie: folio=$oc")
t_expect "... private, no-store, said once" "private, no-store" \
    "$(grep -i '^cache-control:' "$T_DIR/headers" | cut -d' ' -f2- | tr -d '\r')"
t_contains "... with the reload script" '<script src="/__folio/reload.js"' "$T_DIR/body"
t_expect "the inbox" 200 "$(t_status GET /admin/inbox/ "${O[@]}")"
t_contains "... lists the request" "Eve Sender" "$T_DIR/body"
req=$(grep -o 'href="/admin/inbox/[0-9a-f-]\{36\}/"' "$T_DIR/body" | tail -n1 | sed 's/href="\(.*\)"/\1/')
[ -n "$req" ] && t_ok "... with a link to it" || t_fail "... with a link to it" "none"
t_expect "one request" 200 "$(t_status GET "$req" "${O[@]}")"
csrf=$(csrf_of)
t_expect "a query field it does not know: 400" 400 "$(t_status GET '/admin/inbox/?evil=1' "${O[@]}")"
t_expect "mark without the CSRF token: 403" 403 "$(post "$req" "action=mark&status=handled" "${O[@]}")"
t_expect "mark handled: 303" 303 "$(post "$req" "csrf=$csrf&action=mark&status=handled" "${O[@]}")"
t_expect "... back to the unread view" "/admin/inbox/?done=handled" "$(header Location)"
t_expect "... an event" 1 "$(F events --type ContactRequestStatusChanged | wc -l)"
t_status GET "/admin/inbox/?done=handled" "${O[@]}" >/dev/null
t_contains "... said so" "marked handled" "$T_DIR/body"

# ---- nothing personal in serve's output ------------------------------------------------------
if grep -qiE 'example\.org|token=|correct-horse' "$T_DIR/serve.log"; then
    t_fail "no address or token in serve's output" "$(grep -iE 'example\.org|token=' "$T_DIR/serve.log" | head -n1)"
else
    t_ok "no address or token in serve's output"
fi
# ---- a site whose first build failed: no page to answer with ---------------------------
mkdir -p "$T_SITE/templates"
printf '{{#unclosed}}\n' >"$T_SITE/templates/page.mustache"
kill "$events_pid" 2>/dev/null
t_folio_serve_stop
rm -rf "$T_SITE/var/serve"
t_folio_serve
t_expect "no good build yet: sign-in is 503" 503 "$(post /login "email=ada%40example.org&password=a-new-password-1")"
t_contains "... saying why" "has not been built yet" "$T_DIR/body"
rm "$T_SITE/templates/page.mustache"
folio_wait_for "curl -s '$T_URL/__folio/status' | grep -q '\"ok\":true'" 20
t_expect "once it builds, sign-in works" 303 "$(post /login "email=ada%40example.org&password=a-new-password-1")"
t_folio_serve_stop
t_expect "serve stops with status 0" 0 "$T_SERVE_RC"
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$T_DIR/serve.log"; then
    t_fail "no sanitizer report (under --enable-sanitizers)" "$(grep -m1 -E 'Sanitizer|runtime error' "$T_DIR/serve.log")"
else
    t_ok "no sanitizer report (under --enable-sanitizers)"
fi
t_done
