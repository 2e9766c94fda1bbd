#!/usr/bin/env bash
# A member's own account at /account/ through nginx and folio-fcgi: rename
# (the community page follows), change the password (the current one
# needed; other sessions end), download my data (an attachment of every
# event about them, decrypted), delete my account (the password needed;
# erased like folio forget). Every POST needs the session's CSRF token
# (403 without or wrong), refusals name the field, answers are private.
# Exit 0/1 (77: cannot run here).
. "$FOLIO_SRCDIR/tests/integration/lib.sh"
. "$FOLIO_SRCDIR/tests/integration/accounts-lib.sh"

login() { post /login "email=$1&password=$2" >/dev/null; cookie_of; }
csrf_of() { # COOKIE -> the account page's CSRF token
    t_status GET /account/ -H "Cookie: folio=$1" >/dev/null
    sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T_DIR/body" | head -n1
}
signup() { # EMAIL NAME PASSWORD: signed up and verified
    post /register "email=$1&display_name=$2&password=$3" >/dev/null
    local link; link=$(t_link verify "${1/\%40/@}" verify) || return 1
    t_status GET "$link" >/dev/null
}

signup bea%40example.org Bea+Original bea-password-1 && t_ok "a member signs up and verifies" ||
    t_fail "a member signs up and verifies" "no verification mail"
signup dan%40example.org Dan+Other dan-password-1 || t_fail "another member signs up" "no verification mail"
folio_wait_for "curl -s '$T_URL/community/' | grep -qF 'Bea Original'" 10 &&
    t_ok "... and is listed" || t_fail "... and is listed" "not on /community/"
c=$(login bea%40example.org bea-password-1)
csrf=$(csrf_of "$c")
[ ${#csrf} -eq 43 ] && t_ok "signed in, the page carries the CSRF token" || t_fail "CSRF token" "'$csrf'"
for f in /account/name /account/email /account/password /account/data /account/delete; do
    t_contains "the page has the form for $f" "action=\"$f\"" "$T_DIR/body"
done

# ---- CSRF: each POST, without the token and with a wrong one ----------------------
for f in name email password data delete; do
    t_expect "POST /account/$f without the CSRF token: 403" 403 \
        "$(post /account/$f "display_name=X&current_password=bea-password-1&password=bea-password-2" -H "Cookie: folio=$c")"
    t_expect "POST /account/$f with a wrong CSRF token: 403" 403 \
        "$(post /account/$f "csrf=${csrf%?}x&current_password=bea-password-1" -H "Cookie: folio=$c")"
done
t_expect "from another site: 403" 403 "$(t_status POST /account/name -H "Origin: http://evil.example" \
    -H "Content-Type: $FORM" -H "Cookie: folio=$c" --data-binary "csrf=$csrf&display_name=Evil")"
t_expect "no session, so no valid token: 403" 403 "$(post /account/name "csrf=$csrf&display_name=X")"
t_expect "GET /account/name is refused" 405 "$(t_status GET /account/name -H "Cookie: folio=$c")"
t_expect "nothing changed" yes "$(listed "Bea Original")"

# ---- rename ---------------------------------------------------------------------
t_expect "an empty name: 422" 422 "$(post /account/name "csrf=$csrf&display_name=+" -H "Cookie: folio=$c")"
t_contains "... naming the field" "Display name:" "$T_DIR/body"
t_contains "... private" "no-store, private" "$T_DIR/headers"
long=$(printf 'n%.0s' $(seq 1 81))
t_expect "a name of 81 characters: 422" 422 "$(post /account/name "csrf=$csrf&display_name=$long" -H "Cookie: folio=$c")"
t_expect "rename: 303" 303 "$(post /account/name "csrf=$csrf&display_name=Bea+%3Cb%3ERenamed%3C%2Fb%3E" -H "Cookie: folio=$c")"
t_expect "... back to the account page" "/account/?done=name" "$(header Location)"
folio_wait_for "curl -s '$T_URL/community/' | grep -qF 'Bea &lt;b&gt;Renamed&lt;/b&gt;'" 10 &&
    t_ok "the community page shows the new name, escaped" || t_fail "the community page shows the new name" "$(curl -s "$T_URL/community/" | grep -i bea)"
t_expect "... and no longer the old one" no "$(listed "Bea Original")"
t_expect "the account page says so" 200 "$(t_status GET "/account/?done=name" -H "Cookie: folio=$c")"
t_contains "... with the new name" "Bea &lt;b&gt;Renamed&lt;/b&gt;" "$T_DIR/body"
t_expect "GET /metrics" 200 "$(t_status GET /metrics)"
t_contains "... counts the two sign-ups, not the rename" \
    'folio_events_appended_total{type="UserRegistered"} 2' "$T_DIR/body"
t_contains "... private" "no-store, private" "$T_DIR/headers"
t_expect "one MemberRenamed in the log" 1 "$("$FOLIO_BIN" events -s "$T_SITE" --type MemberRenamed | grep -c MemberRenamed)"
check() { # the served base_url is the built one, then folio check
    "$FOLIO_BIN" build -s "$T_SITE" -o "$T_SITE/public" >"$T_DIR/check.log" 2>&1 &&
        "$FOLIO_BIN" check -s "$T_SITE" >>"$T_DIR/check.log" 2>&1
}
check && t_ok "folio check: a replay agrees" ||
    t_fail "folio check" "$(cat "$T_DIR/check.log")"

# ---- password -------------------------------------------------------------------
c2=$(login bea%40example.org bea-password-1)
t_expect "a second session" 200 "$(t_status GET /account/ -H "Cookie: folio=$c2")"
t_expect "a wrong current password: 422" 422 "$(post /account/password "csrf=$csrf&current_password=not-it-at-all&password=bea-password-2" -H "Cookie: folio=$c")"
t_contains "... naming the field" "Current password: is not your password" "$T_DIR/body"
t_expect "a short new password: 422" 422 "$(post /account/password "csrf=$csrf&current_password=bea-password-1&password=short" -H "Cookie: folio=$c")"
t_contains "... naming the field" "Password: must be 10" "$T_DIR/body"
t_expect "change the password: 303" 303 "$(post /account/password "csrf=$csrf&current_password=bea-password-1&password=bea-password-2" -H "Cookie: folio=$c")"
t_expect "... this session goes on" 200 "$(t_status GET /account/ -H "Cookie: folio=$c")"
t_expect "... the other one ended" 303 "$(t_status GET /account/ -H "Cookie: folio=$c2")"
t_expect "the old password no longer signs in" 401 "$(post /login "email=bea%40example.org&password=bea-password-1")"
t_expect "the new one does" 303 "$(post /login "email=bea%40example.org&password=bea-password-2")"

# ---- a new address: confirmed from it, the old one told ------------------------------
em() { post /account/email "csrf=$csrf&$1" -H "Cookie: folio=$c"; }
t_expect "a new address without the password: 422" 422 "$(em "email=bea.new%40example.org")"
t_expect "not an address: 422" 422 "$(em "email=nope&current_password=bea-password-2")"
t_contains "... naming the field" "E-mail address:" "$T_DIR/body"
t_expect "her own address: 422" 422 "$(em "email=BEA%40example.org&current_password=bea-password-2")"
t_contains "... saying so" "is your address already" "$T_DIR/body"
t_expect "another member's address: the same 303" 303 "$(em "email=dan%40example.org&current_password=bea-password-2")"
t_expect "... to the same notice" "/account/?done=email_sent" "$(header Location)"
t_expect "a new address: 303" 303 "$(em "email=bea.new%40example.org&current_password=bea-password-2")"
t_expect "... to the notice" "/account/?done=email_sent" "$(header Location)"
link=$(t_link email-verify bea.new@example.org account/confirm) && t_ok "the new address gets a link" ||
    t_fail "the new address gets a link" "$(ls "$T_SITE/var/mail")"
t_expect "... another member's none" 0 "$(t_mails email-verify dan@example.org)"
t_expect "until it is opened, the old address signs in" 303 "$(post /login "email=bea%40example.org&password=bea-password-2")"
t_expect "a forged link: 400" 400 "$(t_status GET "/account/confirm?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")"
t_expect "POST to the link: 405" 405 "$(post /account/confirm "csrf=$csrf" -H "Cookie: folio=$c")"
t_expect "the link confirms" 303 "$(t_status GET "$link")"
t_expect "... to the account page's notice" "/account/?done=email" "$(header Location)"
t_expect "the link works once" 400 "$(t_status GET "$link")"
folio_wait_for "[ \$(t_mails email-changed bea@example.org) -eq 1 ]" 10 &&
    t_ok "the old address is told" || t_fail "the old address is told" "$(ls "$T_SITE/var/mail")"
t_expect "the old address no longer signs in" 401 "$(post /login "email=bea%40example.org&password=bea-password-2")"
t_expect "the new one does" 303 "$(post /login "email=bea.new%40example.org&password=bea-password-2")"
t_expect "a reset by the old address: the same 303" 303 "$(post /reset "email=bea%40example.org")"
t_expect "a reset by the new one" 303 "$(post /reset "email=bea.new%40example.org")"
t_link reset bea.new@example.org reset >/dev/null && t_ok "... mailed to the new address" ||
    t_fail "... mailed to the new address" "$(ls "$T_SITE/var/mail")"
t_expect "... none to the old" 0 "$(t_mails reset bea@example.org)"
t_expect "signing up with the old address: the same 303" 303 "$(post /register "email=bea%40example.org&display_name=Someone+New&password=someone-password")"
sleep 0.5
t_expect "... and no mail to it" 1 "$(t_mails verify bea@example.org)"
t_expect "signing up with the new one: an 'already' mail" 303 "$(post /register "email=bea.new%40example.org&display_name=Someone+New&password=someone-password")"
folio_wait_for "[ \$(t_mails already bea.new@example.org) -eq 1 ]" 10 &&
    t_ok "... to the new address" || t_fail "... an 'already' mail" "$(ls "$T_SITE/var/mail")"

# ---- download my data -------------------------------------------------------------
post /contact "name=Bea&email=bea%40example.org&message=A+question+from+Bea" >/dev/null
post /contact "name=Bea&email=bea.new%40example.org&message=Another+from+Bea" >/dev/null
t_expect "download my data: 200" 200 "$(post /account/data "csrf=$csrf" -H "Cookie: folio=$c")"
t_contains "... an attachment" "attachment; filename=\"my-data.json\"" "$T_DIR/headers"
t_contains "... JSON" "application/json" "$T_DIR/headers"
python3 - "$T_DIR/body" >"$T_DIR/types" <<'PY' && t_ok "... the events about her, decrypted" || t_fail "... the events about her" "$(head -c 400 "$T_DIR/body")"
import json, sys
doc = json.load(open(sys.argv[1]))
types = [e["type"] for e in doc["events"]]
need = {"UserRegistered", "MemberVerificationRequested", "MemberVerified", "MemberRenamed",
        "MemberPasswordChanged", "ContactRequestSubmitted", "MemberEmailChangeRequested",
        "MemberEmailChanged"}
assert need <= set(types), types
reg = [e for e in doc["events"] if e["type"] == "UserRegistered"][0]
assert reg["data"]["email"] == "bea@example.org", reg
con = [e for e in doc["events"] if e["type"] == "ContactRequestSubmitted"][0]
msgs = sorted(e["data"]["message"] for e in doc["events"] if e["type"] == "ContactRequestSubmitted")
assert msgs == ["A question from Bea", "Another from Bea"], msgs
print("\n".join(types))
PY
grep -q 'dan@\|Dan Other' "$T_DIR/body" && t_fail "... nobody else's" "$(grep -o '[a-z]*@example.[a-z]*' "$T_DIR/body" | sort -u)" || t_ok "... nobody else's"

# ---- delete my account -------------------------------------------------------------
t_expect "delete without the password: 422" 422 "$(post /account/delete "csrf=$csrf" -H "Cookie: folio=$c")"
t_expect "delete with a wrong password: 422" 422 "$(post /account/delete "csrf=$csrf&current_password=bea-password-1" -H "Cookie: folio=$c")"
t_expect "delete my account: 303" 303 "$(post /account/delete "csrf=$csrf&current_password=bea-password-2" -H "Cookie: folio=$c")"
t_expect "... to the goodbye page" /goodbye/ "$(header Location)"
grep -qi '^set-cookie: folio=;.*Max-Age=0' "$T_DIR/headers" && t_ok "... the cookie cleared" || t_fail "... the cookie cleared" "$(grep -i set-cookie "$T_DIR/headers")"
t_expect "the goodbye page" 200 "$(t_status GET /goodbye/)"
folio_wait_for "! curl -s '$T_URL/community/' | grep -qF 'Renamed'" 10 &&
    t_ok "gone from /community/" || t_fail "gone from /community/" "still listed"
t_expect "the session is gone" 303 "$(t_status GET /account/ -H "Cookie: folio=$c")"
t_expect "she cannot sign in" 401 "$(post /login "email=bea.new%40example.org&password=bea-password-2")"
"$FOLIO_BIN" events -s "$T_SITE" --json >"$T_DIR/events"
grep -q 'bea@example.org\|bea.new@example.org\|Bea Original\|Bea <b>\|from Bea' "$T_DIR/events" &&
    t_fail "nothing of her in the decrypted log" "$(grep -m1 'bea@\|Bea' "$T_DIR/events")" ||
    t_ok "nothing of her in the decrypted log"
t_expect "her key and her new address's erased" 2 "$(grep -c '"PersonForgotten"' "$T_DIR/events")"
t_expect "the other member stays" yes "$(listed "Dan Other")"
check && t_ok "folio check after the erasure" ||
    t_fail "folio check after the erasure" "$(cat "$T_DIR/check.log")"

# ---- a hidden member's new name reaches no public page -------------------------------
"$FOLIO_BIN" members hide -s "$T_SITE" dan@example.org >/dev/null 2>&1 || t_fail "folio members hide" "failed"
cd2=$(login dan%40example.org dan-password-1)
csrf2=$(csrf_of "$cd2")
t_expect "a hidden member renames" 303 "$(post /account/name "csrf=$csrf2&display_name=Dan+Secret+Name" -H "Cookie: folio=$cd2")"
t_expect "... sees it on the account page" 200 "$(t_status GET /account/ -H "Cookie: folio=$cd2")"
t_contains "... (only there)" "Dan Secret Name" "$T_DIR/body"
sleep 1
if grep -rqF "Dan Secret Name" "$T_SITE/public"; then
    t_fail "the hidden member's new name is on no public page" "$(grep -rlF "Dan Secret Name" "$T_SITE/public" | head -n3)"
else
    t_ok "the hidden member's new name is on no public page"
fi
t_expect "... nor /community/" no "$(listed "Dan Secret Name")"

# ---- an imported member is verified: listed, and can set a password -----------------
printf 'email,name\ncy@example.org,Cy Imported\n' >"$T_DIR/import.csv"
"$FOLIO_BIN" members import -s "$T_SITE" "$T_DIR/import.csv" >"$T_DIR/import.log" 2>&1 &&
    t_ok "folio members import" || t_fail "folio members import" "$(cat "$T_DIR/import.log")"
"$FOLIO_BIN" members -s "$T_SITE" --json >"$T_DIR/members.json"
grep -q '"email":"cy@example.org"' "$T_DIR/members.json" && t_ok "... a member at once" || t_fail "... a member at once" "$(cat "$T_DIR/members.json")"
"$FOLIO_BIN" build -s "$T_SITE" -o "$T_SITE/public" >/dev/null 2>&1
t_expect "... listed on /community/" yes "$(listed "Cy Imported")"
t_expect "... no verification mail" 0 "$(t_mails verify cy@example.org)"
t_expect "an imported member asks for a password" 303 "$(post /reset "email=cy%40example.org")"
link=$(t_link reset cy@example.org reset) && t_ok "... the link comes (verified, so it may)" ||
    t_fail "... the link comes" "$(ls "$T_SITE/var/mail")"
t_expect "... sets one" 303 "$(post /reset "token=${link#*token=}&password=cy-password-1")"
t_expect "... and signs in" 303 "$(post /login "email=cy%40example.org&password=cy-password-1")"

if grep -qiE 'example\.org|bea-password' "$FOLIO_FCGI_LOG"; then
    t_fail "no address or password in the log" "$(grep -iE 'example\.org|bea-password' "$FOLIO_FCGI_LOG" | head -n1)"
else
    t_ok "no address or password in the log"
fi
t_done
