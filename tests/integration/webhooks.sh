#!/usr/bin/env bash
# Webhooks against a real receiver that checks Standard Webhooks signatures
# the way the specification's reference library does: folio webhooks (the
# list), folio webhooks test (good and wrong secret, personal fields), and
# the webhooks: settings refused with the entry named. Exit 0/1 (77: cannot
# run here).
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

t_done
