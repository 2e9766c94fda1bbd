#!/usr/bin/env bash
# Members' accounts through nginx and folio-fcgi: a sign-up is confirmed
# by the link mailed to the address (read from the outbox) before the
# member is listed; a known address gets the same answer and an "already"
# mail; racing sign-ups of one address make one account and one mail;
# links are single use. Exit 0/1 (77: cannot run here).
. "$FOLIO_SRCDIR/tests/integration/lib.sh"
. "$FOLIO_SRCDIR/tests/integration/accounts-lib.sh"

# ---- sign up, read the mail, follow the link ---------------------------------
t_expect "sign-up answers 303" 303 "$(post /register "email=ada%40example.org&display_name=Ada+Lovelace&password=correct-horse-battery")"
t_expect "... to check your inbox" /register/check/ "$(header Location)"
t_expect "not listed before the link" no "$(listed "Ada Lovelace")"
link=$(t_link verify ada@example.org verify) && t_ok "the outbox holds the verification mail" ||
    t_fail "the outbox holds the verification mail" "$(ls "$T_SITE/var/mail")"
case $link in /verify\?token=*) t_ok "the mail has the link";; *) t_fail "the mail has the link" "$link";; esac
t_expect "the link confirms" 303 "$(t_status GET "$link")"
t_expect "... to the welcome page" /register/welcome/ "$(header Location)"
t_expect "the member is on /community/" yes "$(listed "Ada Lovelace")"
t_expect "the link works once" 400 "$(t_status GET "$link")"
t_expect "a forged link is refused" 400 "$(t_status GET "/verify?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")"
t_expect "a link without a token is refused" 400 "$(t_status GET "/verify")"
t_expect "a token with other characters is refused" 400 "$(t_status GET "/verify?token=%3Cscript%3E")"
folio_wait_for "[ \$(t_mails welcome ada@example.org) -eq 1 ]" 10 &&
    t_ok "a welcome once verified" || t_fail "a welcome once verified" "$(ls "$T_SITE/var/mail")"

# ---- a known address: the same answer, an "already" mail -----------------------
t_expect "a member's address: the same 303" 303 "$(post /register "email=ADA%40example.org&display_name=Someone+Else&password=another-password")"
t_expect "... to the same page" /register/check/ "$(header Location)"
folio_wait_for "[ \$(t_mails already ada@example.org) -eq 1 ]" 10 &&
    t_ok "the member gets an 'already' mail" || t_fail "the member gets an 'already' mail" "$(ls "$T_SITE/var/mail")"
t_expect "... and no second verification" 1 "$(t_mails verify ada@example.org)"
t_expect "the name on the page is unchanged" no "$(listed "Someone Else")"

# ---- 20 racing sign-ups of one address ------------------------------------------
reg() { curl -s -o /dev/null -w '%{http_code}\n' -H "Origin: $T_URL" -H "Content-Type: $FORM" \
    --data-binary "email=race%40example.org&display_name=Racer+$1&password=racing-password-$1" "$T_URL/register"; }
export -f reg; export T_URL FORM
seq 1 20 | xargs -P 20 -I{} bash -c 'reg {}' >"$T_DIR/c20"
t_expect "20 racing sign-ups: 20 x 303" 20 "$(grep -c '^303$' "$T_DIR/c20")"
t_expect "... one account" 1 "$("$FOLIO_BIN" events -s "$T_SITE" --json --type UserRegistered | grep -c race@example.org)"
folio_wait_for "[ \$(t_mails verify race@example.org) -ge 1 ]" 10
sleep 0.5
t_expect "... one verification mail" 1 "$(t_mails verify race@example.org)"

# ---- signing in ------------------------------------------------------------------
login() { # EMAIL PASSWORD [curl args...] -> status; cookie jar-less, headers in $T_DIR/headers
    local e=$1 p=$2; shift 2
    post /login "email=$e&password=$p" "$@"
}
t_expect "GET /login/ is the sign-in page" 200 "$(t_status GET /login/)"
t_contains "... with its form" 'action="/login"' "$T_DIR/body"

s0=$(date +%s%N)
t_expect "a wrong password is 401" 401 "$(login ada%40example.org wrong-password-here)"
s1=$(date +%s%N)
cp "$T_DIR/body" "$T_DIR/wrong"
t_expect "an unknown address is 401" 401 "$(login nobody%40example.org wrong-password-here)"
s2=$(date +%s%N)
sed 's/nobody@example.org/ada@example.org/' "$T_DIR/body" >"$T_DIR/unknown"
cmp -s "$T_DIR/wrong" "$T_DIR/unknown" && t_ok "... the same answer, word for word" ||
    t_fail "... the same answer" "$(diff "$T_DIR/wrong" "$T_DIR/unknown" | head -n 4)"
wrong_ms=$(( (s1 - s0) / 1000000 )) unknown_ms=$(( (s2 - s1) / 1000000 ))
[ "$unknown_ms" -ge $((wrong_ms / 3)) ] && t_ok "... in about the same time (${wrong_ms} ms, ${unknown_ms} ms)" ||
    t_fail "... in about the same time" "wrong ${wrong_ms} ms, unknown ${unknown_ms} ms"
t_expect "a sign-up not yet verified cannot sign in" 401 "$(login race%40example.org racing-password-1)"

t_expect "the right password: 303" 303 "$(login ada%40example.org correct-horse-battery -H 'Cookie: folio=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')"
t_expect "... to the account page" /account/ "$(header Location)"
setc=$(grep -i '^set-cookie:' "$T_DIR/headers" | tr -d '\r')
case $setc in *"; Path=/"*"HttpOnly"*"SameSite=Lax"*) t_ok "cookie flags: HttpOnly, SameSite=Lax, Path=/";;
    *) t_fail "cookie flags" "$setc";; esac
case $setc in *Secure*) t_fail "no Secure on http (the name is folio, not __Host-)" "$setc";;
    *) t_ok "no Secure on http (the name is folio, not __Host-)";; esac
c1=$(cookie_of)
[ -n "$c1" ] && [ "$c1" != AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA ] && t_ok "a new token on sign-in (no fixation)" ||
    t_fail "a new token on sign-in" "$c1"
login ada%40example.org correct-horse-battery -H "Cookie: folio=$c1" >/dev/null
c2=$(cookie_of)
[ -n "$c2" ] && [ "$c2" != "$c1" ] && t_ok "signing in again gives another token" || t_fail "another token" "$c1 $c2"

t_expect "the account page, signed in" 200 "$(t_status GET /account/ -H "Cookie: folio=$c1")"
t_contains "... shows the member's name" "Ada Lovelace" "$T_DIR/body"
t_contains "... is private" "no-store" "$T_DIR/headers"
csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T_DIR/body" | head -n1)
[ ${#csrf} -eq 43 ] && t_ok "... carries a CSRF token" || t_fail "... carries a CSRF token" "'$csrf'"
t_expect "the account page without a session: to /login/" 303 "$(t_status GET /account/)"
t_expect "... with a made-up one too" 303 "$(t_status GET /account/ -H 'Cookie: folio=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB')"

t_expect "sign out without the CSRF token: 403" 403 "$(post /logout "" -H "Cookie: folio=$c1")"
t_expect "sign out with a wrong CSRF token: 403" 403 "$(post /logout "csrf=${csrf%?}x" -H "Cookie: folio=$c1")"
t_expect "... another session's token: 403" 403 "$(post /logout "csrf=$csrf" -H "Cookie: folio=$c2")"
t_expect "... from another site: 403" 403 "$(t_status POST /logout -H "Origin: http://evil.example" -H "Content-Type: $FORM" -H "Cookie: folio=$c1" --data-binary "csrf=$csrf")"
t_expect "still signed in" 200 "$(t_status GET /account/ -H "Cookie: folio=$c1")"
t_expect "sign out everywhere" 303 "$(post /logout "csrf=$csrf&everywhere=1" -H "Cookie: folio=$c1")"
grep -qi '^set-cookie: folio=;.*Max-Age=0' "$T_DIR/headers" && t_ok "... clears the cookie" || t_fail "... clears the cookie" "$(grep -i set-cookie "$T_DIR/headers")"
t_expect "... this session ended" 303 "$(t_status GET /account/ -H "Cookie: folio=$c1")"
t_expect "... and the other one" 303 "$(t_status GET /account/ -H "Cookie: folio=$c2")"
login ada%40example.org correct-horse-battery >/dev/null; c3=$(cookie_of)
t_expect "sign in again" 200 "$(t_status GET /account/ -H "Cookie: folio=$c3")"
csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T_DIR/body" | head -n1)
t_expect "sign out" 303 "$(post /logout "csrf=$csrf" -H "Cookie: folio=$c3")"
t_expect "... ends the session" 303 "$(t_status GET /account/ -H "Cookie: folio=$c3")"

login ada%40example.org correct-horse-battery >/dev/null; c4=$(cookie_of)  # ended by the reset below
t_expect "a session kept for the reset below" 200 "$(t_status GET /account/ -H "Cookie: folio=$c4")"

# ---- brute force: a window of 5 failures per account ------------------------------
# (the wrong password above was the first)
codes=""
for n in $(seq 1 5); do codes+="$(login ada%40example.org guess-number-$n) "; done
t_expect "5 wrong passwords, then 429" "401 401 401 401 429 " "$codes"
t_expect "... the right one waits too" 429 "$(login ada%40example.org correct-horse-battery)"
grep -qi '^retry-after: [0-9]' "$T_DIR/headers" && t_ok "... with Retry-After" || t_fail "... with Retry-After" "none"
t_expect "another account is not held up" 401 "$(login other%40example.org some-password-1)"

# ---- resetting the password ------------------------------------------------------
t_expect "GET /reset/ asks for the address" 200 "$(t_status GET /reset/)"
t_expect "a member's address: 303" 303 "$(post /reset "email=ada%40example.org")"
t_expect "... to 'check your inbox'" /reset/sent/ "$(header Location)"
t_expect "an unknown address: the same 303" 303 "$(post /reset "email=nobody%40example.org")"
t_expect "... to the same page" /reset/sent/ "$(header Location)"
link=$(t_link reset ada@example.org reset) && t_ok "the reset mail is in the outbox" ||
    t_fail "the reset mail is in the outbox" "$(ls "$T_SITE/var/mail")"
t_expect "no mail for the unknown address" 0 "$(t_mails reset nobody@example.org)"
tok=${link#*token=}
t_expect "the link asks for a new password" 200 "$(t_status GET "$link")"
t_contains "... its form carries the token" "value=\"$tok\"" "$T_DIR/body"
t_expect "a new password of 5 characters in 10 bytes: 422" 422 \
    "$(post /reset "token=$tok&password=%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9")"
t_expect "a forged token: 400" 400 "$(post /reset "token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&password=a-new-password-1")"
t_expect "a new password with the token: 303 to sign in" 303 "$(post /reset "token=$tok&password=a-new-password-1")"
t_expect "... to /login/" /login/ "$(header Location)"
t_expect "the link works once" 400 "$(post /reset "token=$tok&password=a-new-password-2")"
t_expect "the reset signed out every session" 303 "$(t_status GET /account/ -H "Cookie: folio=$c4")"
t_expect "one MemberPasswordChanged in the log" 1 "$("$FOLIO_BIN" events -s "$T_SITE" --type MemberPasswordChanged | grep -c MemberPasswordChanged)"

# ---- nothing personal in the log ---------------------------------------------------
if grep -qiE 'example\.org|token=|correct-horse' "$FOLIO_FCGI_LOG"; then
    t_fail "no address or token in the log" "$(grep -iE 'example\.org|token=' "$FOLIO_FCGI_LOG" | head -n1)"
else
    t_ok "no address or token in the log"
fi
t_done
