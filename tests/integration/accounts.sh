#!/usr/bin/env bash
# Members' accounts through nginx and folio-fcgi: a sign-up is confirmed
# by the link mailed to the address (read from the outbox) before the
# member is listed; a known address gets the same answer and an "already"
# mail; racing sign-ups of one address make one account and one mail;
# links are single use. Exit 0/1 (77: cannot run here).
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

command -v curl >/dev/null || { echo "curl missing (./quickstart test installs it)"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing: cannot read the mails"; exit 77; }
[ -x "$FOLIO_FCGI_BIN" ] || { echo "folio-fcgi not built (run make first)"; exit 1; }

t_site
export FOLIO_RATE_LIMIT=0
t_serve

FORM=application/x-www-form-urlencoded
post() { # PATH BODY [curl args...] -> status; body in $T_DIR/body
    local p=$1 b=$2; shift 2
    t_status POST "$p" -H "Origin: $T_URL" -H "Content-Type: $FORM" --data-binary "$b" "$@"
}
header() { grep -i "^$1:" "$T_DIR/headers" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }
listed() { # NAME -> yes/no on /community/
    curl -s "$T_URL/community/" | grep -qF "$1" && echo yes || echo no
}

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

# ---- nothing personal in the log ---------------------------------------------------
if grep -qiE 'example\.org|token=' "$FOLIO_FCGI_LOG"; then
    t_fail "no address or token in the log" "$(grep -iE 'example\.org|token=' "$FOLIO_FCGI_LOG" | head -n1)"
else
    t_ok "no address or token in the log"
fi
t_done
