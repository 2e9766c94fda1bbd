#!/usr/bin/env bash
# folio-fcgi behind a real nginx: the contact and registration forms, every
# refusal with its status and body, /health and /metrics, concurrency, the
# rate limit, SIGHUP and SIGTERM. Exit 0/1 (77: cannot run here).
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

t_need_fcgi

t_site
export FOLIO_RATE_LIMIT=0
t_serve

ORIGIN=$T_URL
FORM=application/x-www-form-urlencoded
# post PATH BODY [curl args...] -> status; body in $T_DIR/body
post() {
    local p=$1 b=$2; shift 2
    t_status POST "$p" -H "Origin: $ORIGIN" -H "Content-Type: $FORM" \
        --data-binary "$b" "$@"
}
# postj PATH BODY [curl args...]: the same, asking for JSON answers
postj() {
    local p=$1 b=$2; shift 2
    post "$p" "$b" -H "Accept: application/json" "$@"
}
header() { grep -i "^$1:" "$T_DIR/headers" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }
body_has() { t_contains "$1" "$2" "$T_DIR/body"; }
body_lacks() {
    if grep -qF -- "$2" "$T_DIR/body"; then t_fail "$1" "'$2' in the body"; else t_ok "$1"; fi
}
count_events() { # TYPE
    "$FOLIO_BIN" events -s "$T_SITE" --json --type "$1" 2>/dev/null | grep -c '"type"' || true
}
# Straight to the socket, past nginx: what nginx itself would never send.
raw() { # BODY, then VAR=VALUE... for the FastCGI parameters
    local b=$1; shift
    printf '%s' "$b" | env -i "$@" cgi-fcgi -bind -connect "$FOLIO_SOCKET" >"$T_DIR/raw" 2>/dev/null
    head -n1 "$T_DIR/raw" | tr -d '\r' | cut -d' ' -f2
}

C_OK="name=Ada+Lovelace&email=ada%40example.org&subject=Hello&message=I+liked+your+storage+engine."

# ---- /health and the success paths ----------------------------------------
t_expect "GET /health is 200" 200 "$(t_status GET /health)"
body_has "/health says writable" '"ok":true'

t_expect "contact (HTML) answers 303" 303 "$(post /contact "$C_OK")"
t_expect "contact 303 goes to the thanks page" /contact/thanks/ "$(header Location)"
t_expect "the thanks page exists" 200 "$(t_status GET /contact/thanks/)"

t_expect "contact (JSON client) answers 201" 201 "$(postj /contact "name=Bo&email=bo%40example.org&message=Hello+there%2C+Noor.")"
body_has "201 body has ok and id" '"ok":true,"id":"contact-'
first_id=$(grep -o '"id":"[^"]*"' "$T_DIR/body")
t_expect "a duplicate contact answers 201 too" 201 "$(postj /contact "name=Bo&email=bo%40example.org&message=Hello+there%2C+Noor.")"
t_expect "a duplicate answers with the original request's id" "$first_id" "$(grep -o '"id":"[^"]*"' "$T_DIR/body")"

t_expect "contact as a JSON body answers 201" 201 "$(t_status POST /contact -H "Origin: $ORIGIN" \
    -H 'Content-Type: application/json' -H 'Accept: application/json' \
    --data-binary '{"name":"Cy","email":"cy@example.org","message":"Sent as JSON, hello."}')"

t_expect "register (HTML) answers 303" 303 "$(post /register "email=grace%40example.org&display_name=Grace+Hopper&password=correct-horse-battery")"
t_expect "register 303 goes to the check-your-inbox page" /register/check/ "$(header Location)"
t_expect "the check-your-inbox page exists" 200 "$(t_status GET /register/check/)"
t_expect "community page right after the 303" 200 "$(t_status GET /community/)"
body_lacks "not listed before the address is verified" "Grace Hopper"
link=$(t_link verify grace@example.org verify) || t_fail "a verification mail" "none in the outbox"
t_expect "the link in the mail confirms" 303 "$(t_status GET "$link")"
t_expect "... and goes to the welcome page" /register/welcome/ "$(header Location)"
t_expect "community page right after the 303" 200 "$(t_status GET /community/)"
body_has "the verified member is listed" "Grace Hopper"
body_lacks "no e-mail address on the community page" "grace@example.org"

t_expect "register (JSON client) answers 202" 202 "$(postj /register "email=alan%40example.org&display_name=Alan&password=a-long-enough-password")"
body_lacks "register 202 has no user id" '"id"'

# ---- refusals ---------------------------------------------------------------
t_expect "already registered (JSON): the same 202" 202 "$(postj /register "email=alan%40example.org&display_name=Alan+Again&password=another-long-password")"
body_lacks "... telling nothing" 'already'
t_expect "already registered (HTML): the same 303" 303 "$(post /register "email=alan%40example.org&display_name=Alan+Again&password=another-long-password")"
t_expect "... to the same page" /register/check/ "$(header Location)"

t_expect "invalid e-mail (JSON) is 422" 422 "$(postj /contact "name=Dee&email=not-an-address&message=Hello+there%2C+Noor.")"
body_has "422 JSON shape" '{"ok":false,"errors":{"email":'
t_expect "invalid form (HTML) is 422" 422 "$(post /contact "name=%3Cscript%3Ealert(1)%3C%2Fscript%3E&email=not-an-address&message=Typed+%22text%22+%3Ckept%3E")"
body_has "422 page is the contact form" 'action="/contact"'
body_has "422 error beside the e-mail field" 'id="email-error"'
body_has "422 keeps what they typed, escaped" '&lt;script&gt;alert(1)&lt;/script&gt;'
body_has "422 keeps the message, escaped" 'Typed &quot;text&quot; &lt;kept&gt;'
body_lacks "422 never echoes markup raw" '<script>alert(1)'
t_expect "short password is 422" 422 "$(postj /register "email=eve%40example.org&display_name=Eve&password=short")"
body_has "422 names the password" '"password":'

t_expect "text/plain is 415" 415 "$(t_status POST /contact -H "Origin: $ORIGIN" -H 'Content-Type: text/plain' --data-binary "$C_OK")"
t_expect "GET /contact is 405" 405 "$(t_status GET /contact)"
t_expect "405 has Allow: POST" POST "$(header Allow)"
t_expect "POST /health is 405" 405 "$(t_status POST /health --data-binary x)"
big=$(head -c 100000 /dev/zero | tr '\0' 'a')
t_expect "a body beyond any legal form is 413" 413 "$(post /contact "name=A&email=a%40example.org&message=$big")"

# Limits count characters, as the form's maxlength does, not bytes.
rep() { local i out=; for ((i = 0; i < $2; i++)); do out+=$1; done; printf '%s' "$out"; }
zh=$(rep '%E5%BC%A0' 60) cy=$(rep '%D0%96' 2600)
t_expect "a 60-character Chinese name is accepted" 303 "$(post /contact "name=$zh&email=li%40example.org&message=Hello+there%2C+Noor.")"
t_expect "a 2,600-character Cyrillic message is accepted" 303 "$(post /contact "name=Ivan&email=ivan%40example.org&message=$cy")"
t_expect "3,500 Cyrillic characters are accepted too" 303 "$(post /contact "name=Ivan&email=ivan%40example.org&message=$(rep '%D0%96' 3500)")"
t_expect "5,000 four-byte characters are accepted" 303 "$(post /contact "name=Emo&email=emo%40example.org&message=$(rep '%F0%9F%98%80' 5000)")"
t_expect "a 101-character name is 422, not 400" 422 "$(post /contact "name=$(rep '%E5%BC%A0' 101)&email=li%40example.org&message=Hello+there%2C+Noor.")"
body_has "the 422 names the limit in characters" 'must be at most 100 characters'
body_has "the 422 page is the form again" 'action="/contact"'
body_has "the 422 form keeps what was typed" "$(rep '张' 101)"
t_expect "a 5,001-character message is 422" 422 "$(postj /contact "name=Ivan&email=ivan%40example.org&message=$(rep '%D0%96' 5001)")"
body_has "the JSON 422 names the field" '"message":"must be at most 5000 characters"'
t_expect "an 81-character display name is 422" 422 "$(postj /register "email=z%40example.org&display_name=$(rep '%C3%A9' 81)&password=a-long-enough-password")"

t_expect "malformed percent-encoding is 400" 400 "$(postj /contact "name=%ZZ&email=a%40example.org&message=Hello+there+you")"
body_has "400 names the problem" '"error":'
t_expect "invalid UTF-8 is 400" 400 "$(postj /contact "name=%C3%28&email=a%40example.org&message=Hello+there+you")"
t_expect "a NUL byte is 400" 400 "$(postj /contact "name=A%00B&email=a%40example.org&message=Hello+there+you")"
t_expect "a control character is 400" 400 "$(postj /contact "name=A%07B&email=a%40example.org&message=Hello+there+you")"
t_expect "a field given twice is 400" 400 "$(postj /contact "name=A&name=B&email=a%40example.org&message=Hello+there+you")"
body_has "400 says which field" 'name'
t_expect "an unknown field is 400" 400 "$(postj /contact "name=A&email=a%40example.org&message=Hello+there+you&admin=1")"
t_expect "a JSON body that is not an object is 400" 400 "$(t_status POST /contact -H "Origin: $ORIGIN" \
    -H 'Content-Type: application/json' -H 'Accept: application/json' --data-binary '["x"]')"

# Raw FastCGI (libfcgi-bin, installed by ./quickstart test) reaches what
# nginx would never send: a missing or lying CONTENT_LENGTH.
if ! command -v cgi-fcgi >/dev/null; then
    t_fail "raw FastCGI checks" "cgi-fcgi missing: apt-get install libfcgi-bin"
else
    P=(REQUEST_METHOD=POST SCRIPT_NAME=/contact DOCUMENT_URI=/contact REMOTE_ADDR=127.0.0.1
       "CONTENT_TYPE=$FORM" "HTTP_ORIGIN=$ORIGIN" HTTP_ACCEPT=application/json)
    t_expect "missing CONTENT_LENGTH is 400" 400 "$(raw "$C_OK" "${P[@]}")"
    t_expect "malformed CONTENT_LENGTH is 400" 400 "$(raw "$C_OK" "${P[@]}" CONTENT_LENGTH=12x)"
    t_expect "a body shorter than CONTENT_LENGTH is 400" 400 "$(raw "$C_OK" "${P[@]}" CONTENT_LENGTH=999)"
    t_expect "other paths are 404" 404 "$(raw "" REQUEST_METHOD=GET SCRIPT_NAME=/nothing DOCUMENT_URI=/nothing)"
fi

t_expect "cross-site Origin is 403" 403 "$(t_status POST /contact -H 'Origin: http://evil.example' -H "Content-Type: $FORM" --data-binary "$C_OK")"
body_has "the 403 page has the site's theme" 'class="skip-link"'
body_has "the 403 page says why" 'cross-site form posts are refused'
t_expect "no Origin and no Referer is 403" 403 "$(t_status POST /contact -H "Content-Type: $FORM" --data-binary "$C_OK")"
t_expect "cross-site Referer is 403" 403 "$(t_status POST /contact -H 'Referer: http://evil.example/x' -H "Content-Type: $FORM" --data-binary "$C_OK")"
t_expect "same-site Referer alone is accepted" 303 "$(t_status POST /contact -H "Referer: $T_URL/contact/" -H "Content-Type: $FORM" --data-binary "$C_OK&page=%2Fcontact%2F")"

before=$(count_events ContactRequestSubmitted)
t_expect "a filled honeypot looks like success" 303 "$(post /contact "name=Bot&email=bot%40example.org&message=Buy+cheap+things+now&website=http%3A%2F%2Fspam.example")"
t_expect "a filled honeypot stores nothing" "$before" "$(count_events ContactRequestSubmitted)"

t_expect "GET /metrics is 200" 200 "$(t_status GET /metrics)"
body_has "metrics: requests by route and status" 'folio_requests_total{route="/contact",status="303"}'
body_has "metrics: latency histogram" 'folio_request_duration_seconds_bucket'
body_has "metrics: events by type" 'folio_events_appended_total{type="ContactRequestSubmitted"}'
body_has "metrics: pages re-rendered" 'folio_pages_rendered_total'
body_has "metrics: render latency" 'folio_render_duration_seconds'
body_has "metrics: honeypot" 'folio_honeypot_total 1'
body_has "metrics: rate limited" 'folio_rate_limited_total'

# ---- the request log ---------------------------------------------------------
t_expect "X-Request-ID is used" 303 "$(post /contact "$C_OK" -H 'X-Request-ID: test-req-42')"
t_contains "the log line carries the request id" '"request_id":"test-req-42"' "$FOLIO_FCGI_LOG"
t_contains "the log line has route, status, duration, client" '"route":"/contact","status":303,"duration_ms":' "$FOLIO_FCGI_LOG"
if grep -qiE 'example\.org|Lovelace|storage engine' "$FOLIO_FCGI_LOG"; then
    t_fail "no e-mail, name or message in the log" "$(grep -iE 'example\.org|Lovelace' "$FOLIO_FCGI_LOG" | head -n1)"
else
    t_ok "no e-mail, name or message in the log"
fi

# ---- concurrency --------------------------------------------------------------
reg() { # N EMAIL NAME -> "STATUS" on its own line
    curl -s -o /dev/null -w '%{http_code}\n' -H "Origin: $ORIGIN" -H "Content-Type: $FORM" \
        -H 'Accept: application/json' \
        --data-binary "email=$2&display_name=$3&password=concurrent-password-$1" "$T_URL/register"
}
export -f reg; export ORIGIN FORM T_URL
seq 1 50 | xargs -P 50 -I{} bash -c 'reg {} member{}%40example.org Member+{}' >"$T_DIR/c50"
t_expect "50 concurrent registrations all succeed" 50 "$(grep -c '^202$' "$T_DIR/c50")"
folio_wait_for "[ \$(t_mails verify) -ge 52 ]" 20 || t_fail "50 verification mails" "$(t_mails verify) in the outbox"
for n in $(seq 1 50); do
    l=$(t_link verify "member$n@example.org" verify) && curl -s -o /dev/null "$T_URL$l" || break
done
count_listed() {
    local pages="" n u
    for n in $(seq 1 10); do
        u=/community/; [ "$n" -gt 1 ] && u=/community/page/$n/
        [ "$(t_status GET "$u")" = 200 ] || break
        pages+=$(cat "$T_DIR/body")
    done
    listed=0
    for n in $(seq 1 50); do
        grep -qE "Member $n<|Member $n\b" <<<"$pages" && listed=$((listed + 1))
    done
}
# the pages of older members follow the verifications' renders
folio_wait_for 'count_listed; [ "$listed" -eq 50 ]' 5
t_expect "all 50 are listed on the community pages" 50 "$listed"

seq 1 20 | xargs -P 20 -I{} bash -c 'reg {} same%40example.org Same+{}' >"$T_DIR/c20"
t_expect "20 registrations of one address: 20 x the same answer" 20 "$(grep -c '^202$' "$T_DIR/c20")"
t_expect "... one account" 1 "$("$FOLIO_BIN" events -s "$T_SITE" --json --type UserRegistered | grep -c same@example.org)"
t_expect "... one verification mail" 1 "$("$FOLIO_BIN" events -s "$T_SITE" --json --type MemberVerificationRequested | grep -c same@example.org)"

# ---- SIGHUP reloads --------------------------------------------------------------
kill -HUP "$folio_fcgi_pid"
folio_wait_for "grep -q 'reloaded folio.yml' '$FOLIO_FCGI_LOG'" 10 && t_ok "SIGHUP reloads" || t_fail "SIGHUP reloads" "no reload line"
t_expect "still serving after SIGHUP" 200 "$(t_status GET /health)"

# ---- SIGTERM during a burst loses nothing acknowledged ---------------------------
burst() { # N -> "STATUS ID"
    curl -s -w ' %{http_code}\n' -H "Origin: $ORIGIN" -H "Content-Type: $FORM" \
        -H 'Accept: application/json' \
        --data-binary "name=Burst+$1&email=burst$1%40example.org&message=Burst+message+number+$1" \
        "$T_URL/contact"
}
export -f burst
seq 1 400 | xargs -P 16 -I{} bash -c 'burst {}' >"$T_DIR/burst" &
bp=$!
# SIGTERM once the burst is under way: after its first answer, however
# slow the machine (a fixed delay can end the daemon before any arrives).
folio_wait_for "grep -q ' 201$' '$T_DIR/burst'" 30 || true
kill -TERM "$folio_fcgi_pid"
wait "$folio_fcgi_pid"; rc=$?
wait "$bp"
t_expect "SIGTERM: folio-fcgi exits 0" 0 "$rc"
folio_fcgi_pid=
acked=$(grep -o '"id":"contact-[^"]*"' "$T_DIR/burst" | cut -d'"' -f4 | sort -u)
nacked=$(printf '%s\n' "$acked" | grep -c . || true)
"$FOLIO_BIN" events -s "$T_SITE" --json --type ContactRequestSubmitted >"$T_DIR/events" 2>&1
missing=0
# the id a visitor gets is contact-<the request's contact_id>
for id in $acked; do grep -qF "\"contact_id\":\"${id#contact-}\"" "$T_DIR/events" || missing=$((missing + 1)); done
echo "# burst: $nacked acknowledged before and during SIGTERM"
if [ "$nacked" -gt 0 ]; then t_ok "some of the burst was acknowledged"; else t_fail "some of the burst was acknowledged" "none"; fi
t_expect "every acknowledged submission is in the log" 0 "$missing"

# ---- the per-client rate limit (on by default) -----------------------------------
unset FOLIO_RATE_LIMIT
folio_local_start_fcgi || t_fail "restart folio-fcgi" "see log"
codes=""
for n in $(seq 1 12); do
    codes+="$(postj /contact "name=Rate&email=rate$n%40example.org&message=Rate+limit+test+$n") "
done
t_expect "the burst (10) passes, then 429" "201 201 201 201 201 201 201 201 201 201 429 429 " "$codes"
ra=$(header Retry-After)
if [ -n "$ra" ] && [ "$ra" -ge 1 ] 2>/dev/null; then t_ok "429 has Retry-After ($ra s)"; else t_fail "429 has Retry-After" "'$ra'"; fi
body_has "429 body says why" '"error":'
t_expect "429 for a browser is a page" 429 "$(post /contact "name=Rate&email=rate99%40example.org&message=Rate+limit+test+99")"
body_has "the 429 page has the site's theme" 'class="skip-link"'
body_has "the 429 page says why" 'too many submissions'

t_done
