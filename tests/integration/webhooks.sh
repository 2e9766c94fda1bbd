#!/usr/bin/env bash
# Webhooks against a real receiver that checks Standard Webhooks signatures
# the way the specification's reference library does: folio webhooks (the
# list), folio webhooks test (good and wrong secret, personal fields), and
# the webhooks: settings refused with the entry named; then deliveries from
# the log through folio-fcgi's consumers: a contact posted through nginx
# arrives signed, "[personal]" by default and decrypted with personal_data,
# and a receiver failing for ever ends in a dead letter that `folio
# deadletters retry` delivers once it is fixed. Exit 0/1 (77: cannot run
# here).
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

command -v python3 >/dev/null || { echo "python3 missing: cannot run a receiver"; exit 77; }

SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
REC=$T_DIR/received.jsonl
MODE=$T_DIR/mode
receiver_pid=
stop_receiver() {
    if [ -n "$receiver_pid" ]; then
        kill "$receiver_pid" 2>/dev/null
        wait "$receiver_pid" 2>/dev/null
    fi
    receiver_pid=
}
trap 'stop_receiver; t_cleanup' EXIT

python3 "$FOLIO_SRCDIR/tests/integration/webhook_receiver.py" --secret "$SECRET" \
    --port-file "$T_DIR/port" --record "$REC" --mode-file "$MODE" &
receiver_pid=$!
folio_wait_for "test -s '$T_DIR/port'" 10 || { t_fail "start the receiver" "no port"; t_done; }
HOOK=http://127.0.0.1:$(cat "$T_DIR/port")/hook
touch "$REC"

t_site
folio() { "$FOLIO_BIN" "$@" -s "$T_SITE"; }
# last FIELD: a field of the last request the receiver recorded
last() { tail -n1 "$REC" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
last_body() { tail -n1 "$REC" | python3 -c "import json,sys; print(json.loads(json.load(sys.stdin)['body'])$1)"; }

# ---- folio webhooks test ------------------------------------------------------
out=$(folio webhooks test "$HOOK" --secret "$SECRET"); rc=$?
t_expect "test with the right secret exits 0" 0 "$rc"
case $out in *"HTTP 204"*delivered*) t_ok "it prints the status and delivered";;
    *) t_fail "it prints the status and delivered" "$out";; esac
t_expect "the receiver verified the signature" True "$(last verified)"
t_expect "sent as application/json" application/json "$(last content_type)"
t_expect "the body is an event envelope" ContactRequestSubmitted "$(last_body "['type']")"
t_expect "webhook-id is the event id" "$(last id)" "$(last_body "['event_id']")"
t_expect "personal fields are [personal] by default" "[personal]" "$(last_body "['data']['email']")"

folio webhooks test "$HOOK" --secret "$SECRET" --personal >/dev/null
t_expect "--personal sends the sample's personal fields" "ada@example.org" "$(last_body "['data']['email']")"

out=$(folio webhooks test "$HOOK" --secret whsec_d3Jvbmcgc2VjcmV0); rc=$?
t_expect "test with a wrong secret exits 1" 1 "$rc"
t_expect "the receiver refused the signature" False "$(last verified)"
case $out in *"HTTP 401"*"refused for good"*) t_ok "it reports 401 as refused for good";;
    *) t_fail "it reports 401 as refused for good" "$out";; esac

out=$(folio webhooks test "http://127.0.0.1:$(cat "$T_DIR/port")/fail" --secret "$SECRET"); rc=$?
t_expect "a 500 exits 1" 1 "$rc"
case $out in *"HTTP 500"*"retry"*) t_ok "a 500 is reported as retried later";;
    *) t_fail "a 500 is reported as retried later" "$out";; esac

out=$(folio webhooks test "http://127.0.0.1:1/" --secret "$SECRET" 2>&1); rc=$?
case $out in *"no answer"*"retry"*) t_ok "no receiver: no answer, retried later";;
    *) t_fail "no receiver: no answer, retried later" "$out";; esac

out=$(folio webhooks test "$HOOK" 2>&1); rc=$?
t_expect "an unconfigured URL without --secret is a usage error" 2 "$rc"

# ---- configured webhooks --------------------------------------------------------
cat >>"$T_SITE/folio.yml" <<EOF
webhooks:
  - url: "$HOOK"
    events: [ContactRequestSubmitted, UserRegistered]
    secret_env: FOLIO_TEST_WEBHOOK_SECRET
  - url: "http://127.0.0.1:1/other"
    secret: "not-shown-anywhere"
    personal_data: true
EOF
export FOLIO_TEST_WEBHOOK_SECRET=$SECRET
out=$(folio webhooks); rc=$?
t_expect "folio webhooks lists them" 0 "$rc"
case $out in *"webhook:127.0.0.1/hook"*"events: ContactRequestSubmitted, UserRegistered"*"personal_data: false"*"webhook:127.0.0.1/other"*"events: all"*"personal_data: true"*)
    t_ok "the list has names, URLs, types and personal_data";;
    *) t_fail "the list has names, URLs, types and personal_data" "$out";; esac
case $out in *not-shown-anywhere*|*MfKQ9r8G*) t_fail "the list never shows a secret" "$out";;
    *) t_ok "the list never shows a secret";; esac

out=$(folio webhooks test "$HOOK"); rc=$?
t_expect "test signs with the configured secret (secret_env)" 0 "$rc"
t_expect "and the receiver verified it" True "$(last verified)"

unset FOLIO_TEST_WEBHOOK_SECRET
out=$(folio webhooks 2>&1); rc=$?
case $out in *"webhooks[1] ($HOOK): secret_env: \$FOLIO_TEST_WEBHOOK_SECRET is not set"*)
    t_ok "an unset secret_env is refused, naming the entry";;
    *) t_fail "an unset secret_env is refused, naming the entry" "$out";; esac

sed -i 's/events: \[ContactRequestSubmitted, UserRegistered\]/events: [ContactRequestSubmitted, MemberRegistered]/' "$T_SITE/folio.yml"
export FOLIO_TEST_WEBHOOK_SECRET=$SECRET
out=$(folio webhooks 2>&1); rc=$?
t_expect "an unknown event type is a config error" 1 "$rc"
case $out in *"webhooks[1]"*"unknown event type 'MemberRegistered'"*) t_ok "the error names the entry and the type";;
    *) t_fail "the error names the entry and the type" "$out";; esac

# ---- deliveries from the log, through nginx and folio-fcgi ----------------------------
BASE=http://127.0.0.1:$(cat "$T_DIR/port")
sed -i '/^webhooks:/,$d' "$T_SITE/folio.yml"
cat >>"$T_SITE/folio.yml" <<EOF
webhooks:
  - url: "$BASE/plain"
    secret: "$SECRET"
  - url: "$BASE/personal"
    events: [ContactRequestSubmitted]
    secret: "$SECRET"
    personal_data: true
  - url: "$BASE/flaky"
    events: [ContactRequestSubmitted]
    secret: "$SECRET"
consumers:
  retry_first: 100ms
  retry_max: 200ms
  attempts: 3
  poll: 300ms
EOF
echo fail >"$MODE"
: >"$REC"
export FOLIO_RATE_LIMIT=0
t_serve
# by PATH EXPR: EXPR (r: the record, b: its JSON body) of the first request to PATH
by() { python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["path"] == sys.argv[2]:
        b = json.loads(r["body"])
        print(eval(sys.argv[3]))
        break
' "$REC" "$1" "$2"; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Origin: $T_URL" --data-urlencode "name=Ada Lovelace" \
    --data-urlencode "email=ada@example.org" --data-urlencode "message=Hello through the webhooks." "$T_URL/contact")
t_expect "a contact through nginx" 303 "$code"
if folio_wait_for "grep -q '\"path\": \"/plain\"' '$REC' && grep -q '\"path\": \"/personal\"' '$REC'" 10; then
    t_ok "the webhooks arrive"; else t_fail "the webhooks arrive" "$(cat "$REC")"; fi
t_expect "signed (the receiver verified it)" "True True" "$(by /plain "r['verified']") $(by /personal "r['verified']")"
t_expect "the body is the event" "ContactRequestSubmitted 1" "$(by /plain "b['type'], b['position']" | tr -d "(),'")"
t_expect "webhook-id is the event id" True "$(by /plain "r['id'] == b['event_id']")"
t_expect "personal fields are [personal] by default" "[personal] [personal] [personal]" \
    "$(by /plain "' '.join([b['data']['email'], b['data']['message'], b['metadata']['client']])")"
if grep '"path": "/plain"' "$REC" | grep -q ada@example.org; then t_fail "no address by default" "found"; else t_ok "no address by default"; fi
t_expect "personal_data: true decrypts them" "ada@example.org|Hello through the webhooks.|[personal]" \
    "$(by /personal "'|'.join([b['data']['email'], b['data']['message'], b['metadata']['client']])")"

# A receiver failing for ever: a dead letter after the attempts, retried once fixed.
if folio_wait_for "'$FOLIO_BIN' deadletters -s '$T_SITE' | grep -q 'webhook:127.0.0.1/flaky'" 15; then
    t_ok "a receiver answering 500 ends in a dead letter"; else t_fail "a receiver answering 500 ends in a dead letter" "$("$FOLIO_BIN" deadletters -s "$T_SITE" 2>&1)"; fi
t_expect "after the configured attempts" 3 "$(grep -c '"path": "/flaky"' "$REC")"
echo ok >"$MODE"
"$FOLIO_BIN" deadletters -s "$T_SITE" retry --all >/dev/null 2>&1
if folio_wait_for "grep '\"path\": \"/flaky\"' '$REC' | grep -q '\"status\": 204'" 10; then
    t_ok "deadletters retry delivers it once fixed"; else t_fail "deadletters retry delivers it once fixed" "$(tail -n2 "$REC")"; fi
t_expect "the same webhook-id on every attempt" 1 "$(grep '"path": "/flaky"' "$REC" | python3 -c 'import json,sys; print(len({json.loads(l)["id"] for l in sys.stdin}))')"
t_expect "delivered once" 1 "$(grep '"path": "/flaky"' "$REC" | grep -c '"status": 204')"

t_done
