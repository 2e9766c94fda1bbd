#!/usr/bin/env bash
# The log's readers through a real nginx, folio-fcgi and SMTP server
# (aiosmtpd): a contact posted on the site reaches the owner's mailbox with
# the visitor as Reply-To and UTF-8 intact; a mail server that accepts and
# never answers slows no form and the mail arrives once it is back; kill -9
# during a burst repeats deliveries but skips none; a server answering 451
# for ever leaves a dead letter that `folio deadletters retry` delivers;
# /metrics, /health, folio consumers and folio deliver.
# Exit 0/1 (77: cannot run here).
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

command -v curl >/dev/null || { echo "curl missing (./quickstart test installs it)"; exit 1; }
[ -x "$FOLIO_FCGI_BIN" ] || { echo "folio-fcgi not built (run make first)"; exit 1; }
PY=$(smtp_sink_python) || { echo "SKIP: python3-aiosmtpd is not installed"; exit 77; }

# a webhook receiver beside the mail (tests/integration/webhook_receiver.py)
receiver_pid=
stop_receiver() {
    [ -n "$receiver_pid" ] || return 0
    kill "$receiver_pid" 2>/dev/null; wait "$receiver_pid" 2>/dev/null; receiver_pid=
}
trap 'stop_receiver; t_cleanup' EXIT
"$PY" "$FOLIO_SRCDIR/tests/integration/webhook_receiver.py" --secret consumers-test-secret-0123 \
    --port-file "$T_DIR/hook.port" --record "$T_DIR/hook.rec" &
receiver_pid=$!
folio_wait_for "test -s '$T_DIR/hook.port'" 10 || { t_fail "start the webhook receiver" "no port"; t_done; }
touch "$T_DIR/hook.rec"

t_site
cat >>"$T_SITE/folio.yml" <<EOF
webhooks:
  - url: "http://127.0.0.1:$(cat "$T_DIR/hook.port")/hook"
    events: [ContactRequestSubmitted]
    secret: "consumers-test-secret-0123"
EOF
cat >>"$T_SITE/folio.yml" <<'EOF'
mail:
  from: "Noor's site <site@example.org>"
  owner: "owner@example.org"
consumers:
  retry_first: 100ms
  retry_max: 1s
  attempts: 6
  poll: 200ms
EOF
export FOLIO_RATE_LIMIT=0
SMTP_SINK_PORT=$(folio_free_port)
smtp_sink_start "$T_DIR/smtp1" || { t_fail "start the SMTP sink" "see $T_DIR/smtp1.log"; t_done; }
export FOLIO_SMTP_URL=$SMTP_URL
t_serve

FORM=application/x-www-form-urlencoded
post() { # BODY -> status
    t_status POST /contact -H "Origin: $T_URL" -H "Content-Type: $FORM" \
        --data-binary "$1"
}
mails() { # DIR -> number of messages received there
    find "$1" -name '*.eml' 2>/dev/null | wc -l
}
# Mails in DIR whose decoded text contains NEEDLE.
mails_with() {
    "$PY" - "$1" "$2" <<'EOF'
import email, email.policy, glob, sys
n = 0
for path in glob.glob(sys.argv[1] + "/*.eml"):
    m = email.message_from_binary_file(open(path, "rb"), policy=email.policy.default)
    if sys.argv[2] in m.get_body(("plain",)).get_content():
        n += 1
print(n)
EOF
}
dead_letters() { # STATE -> how many dead letters are in that state
    "$FOLIO_BIN" deadletters -s "$T_SITE" --all --json |
        "$PY" -c "import json,sys; print(sum(1 for d in json.load(sys.stdin) if d['state'] == '$1'))"
}

# ---- a contact reaches the owner --------------------------------------------
# "Zoë Ångström", subject "Grüße – ✓", a message in three scripts
t_expect "a contact answers 303" 303 "$(post "name=Zo%C3%AB+%C3%85ngstr%C3%B6m&email=zoe%40example.org&subject=Gr%C3%BC%C3%9Fe+%E2%80%93+%E2%9C%93&message=Hallo+%E2%80%94+%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82%2C+%E6%97%A5%E6%9C%AC.")"
folio_wait_for "[ \$(mails '$T_DIR/smtp1') -ge 1 ]" 10 || t_fail "the owner's mail arrives" "nothing in $T_DIR/smtp1"
"$PY" - "$T_DIR"/smtp1/000001.eml >"$T_DIR/mail1" <<'EOF'
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
print("To:", m["To"])
print("Reply-To:", m["Reply-To"])
print("Subject:", m["Subject"])
print("Charset:", m.get_body(("plain",)).get_content_charset())
print(m.get_body(("plain",)).get_content())
EOF
t_contains "mail goes to the owner" "To: owner@example.org" "$T_DIR/mail1"
t_contains "Reply-To is the visitor" "Reply-To: Zoë Ångström <zoe@example.org>" "$T_DIR/mail1"
t_contains "the subject is the visitor's, in UTF-8" "Subject: Grüße – ✓" "$T_DIR/mail1"
t_contains "the body is UTF-8" "Charset: utf-8" "$T_DIR/mail1"
t_contains "the message arrives whole" "Hallo — привет, 日本." "$T_DIR/mail1"
t_contains "the envelope goes to the owner" "owner@example.org" "$T_DIR"/smtp1/000001.rcpt
if grep -q "zoe@example.org" "$FOLIO_FCGI_LOG"; then
    t_fail "no visitor address in the log" "zoe@example.org in $FOLIO_FCGI_LOG"
else
    t_ok "no visitor address in the log"
fi
t_expect "/metrics counts the delivery" 1 "$(curl -s "$T_URL/metrics" | grep -c '^folio_deliveries_total{consumer="mail",result="done"} 1$')"
t_expect "/metrics has the mail's lag" 1 "$(curl -s "$T_URL/metrics" | grep -c '^folio_consumer_lag_events{consumer="mail"} 0$')"

# ---- a mail server that accepts and never answers ------------------------------
smtp_sink_stop
"$PY" -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); print("READY", flush=True)
time.sleep(3600)' "$SMTP_SINK_PORT" >"$T_DIR/hole.ready" &
HOLE=$!
folio_wait_for "grep -q READY '$T_DIR/hole.ready'" 10
slow=0
for i in 1 2 3 4 5; do
    t0=$(date +%s%N)
    code=$(post "name=Hole+$i&email=hole$i%40example.org&message=While+the+server+hangs+$i")
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ "$code" = 303 ] || t_fail "contact $i while the mail server hangs" "status $code"
    [ "$ms" -lt 1000 ] || slow=$((slow + 1))
done
t_expect "forms answer at once while the mail server hangs" 0 "$slow"
t_expect "/health stays 200 while mail is stuck" 200 "$(t_status GET /health)"
# a delivery hanging on the server does not hold up a stop
t0=$(date +%s%N)
kill -TERM "$folio_fcgi_pid"; wait "$folio_fcgi_pid" 2>/dev/null
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
folio_fcgi_pid=
[ "$ms" -lt 5000 ] && t_ok "SIGTERM ends a hanging delivery at once ($ms ms)" ||
    t_fail "SIGTERM while mail hangs" "took $ms ms"
folio_local_start_fcgi || t_fail "restart folio-fcgi" "see log"
kill "$HOLE"; wait "$HOLE" 2>/dev/null
# the hung connection ends with an error: mail is retried, and failing
folio_wait_for "curl -s '$T_URL/health' | grep -q '\"failing\":\[\"mail\"\]'" 5 &&
    t_ok "/health names the failing consumer" || t_fail "/health names the failing consumer" "$(curl -s "$T_URL/health")"
# back within the retries (6 attempts over about 2.5 s)
smtp_sink_start "$T_DIR/smtp2" || t_fail "restart the SMTP sink" "see $T_DIR/smtp2.log"
folio_wait_for "[ \$(mails '$T_DIR/smtp2') -ge 5 ]" 15
t_expect "the mails arrive once the server is back" 5 "$(mails_with "$T_DIR/smtp2" "While the server hangs")"
folio_wait_for "curl -s '$T_URL/health' | grep -q '\"failing\":\[\]'" 10 &&
    t_ok "/health clears once mail is delivered" || t_fail "/health clears" "$(curl -s "$T_URL/health")"

# ---- kill -9 during a burst: at least once, none skipped -----------------------
N=60
posts=
for i in $(seq 1 $N); do
    post "name=Burst&email=burst$i%40example.org&message=burst+message+no-$i+end" >/dev/null &
    posts="$posts $!"
done
sleep 0.2
kill -9 "$folio_fcgi_pid"
wait "$folio_fcgi_pid" 2>/dev/null
folio_fcgi_pid=
for p in $posts; do wait "$p" 2>/dev/null; done
committed=$("$FOLIO_BIN" events -s "$T_SITE" --json --type ContactRequestSubmitted | grep -c 'burst message' || true)
before=$(mails "$T_DIR/smtp2")
folio_local_start_fcgi || t_fail "restart folio-fcgi after kill -9" "see log"
folio_wait_for "[ \$(mails_with '$T_DIR/smtp2' 'burst message') -ge $committed ]" 20
missing=0
for i in $(seq 1 $N); do
    if "$FOLIO_BIN" events -s "$T_SITE" --json --type ContactRequestSubmitted | grep -q "burst message no-$i end"; then
        [ "$(mails_with "$T_DIR/smtp2" "burst message no-$i end")" -ge 1 ] || missing=$((missing + 1))
    fi
done
# the webhook got every committed event of the burst too (by position)
"$FOLIO_BIN" events -s "$T_SITE" --json --type ContactRequestSubmitted | grep 'burst message' |
    "$PY" -c 'import json, sys; [print(json.loads(l)["position"]) for l in sys.stdin]' >"$T_DIR/burst.positions"
hook_missing() {
    "$PY" - "$T_DIR/hook.rec" "$T_DIR/burst.positions" <<'EOF'
import json, sys
got = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["status"] == 204 and r["verified"]:
        got.add(json.loads(r["body"])["position"])
want = [int(p) for p in open(sys.argv[2]) if p.strip()]
print(sum(1 for p in want if p not in got))
EOF
}
folio_wait_for "[ \$(hook_missing) -eq 0 ]" 20
t_expect "every committed contact reached the webhook at least once after kill -9" 0 "$(hook_missing)"
echo "# burst: $committed of $N committed before kill -9; $(( $(mails "$T_DIR/smtp2") - before )) mails for them"
[ "$committed" -gt 0 ] && t_ok "a burst was committed before kill -9" || t_fail "burst" "nothing committed"
t_expect "every committed contact mailed at least once after kill -9" 0 "$missing"

# ---- a server that answers 451 for ever: a dead letter, retried by the owner ----
smtp_sink_stop
smtp_sink_start "$T_DIR/smtp3" --tempfail || t_fail "start the 451 sink" "see log"
t_expect "a contact while mail is refused for now" 303 "$(post "name=Dee&email=dee%40example.org&message=The+one+that+dies+first")"
folio_wait_for "[ \$(dead_letters dead) -ge 1 ]" 15 &&
    t_ok "after 6 attempts the mail is a dead letter" || t_fail "dead letter" "$("$FOLIO_BIN" deadletters -s "$T_SITE" --all)"
"$FOLIO_BIN" deadletters -s "$T_SITE" >"$T_DIR/dl" 2>&1
t_contains "folio deadletters lists it with its attempts" "6 attempts" "$T_DIR/dl"
t_contains "folio deadletters names the error" "451" "$T_DIR/dl"
t_expect "/metrics shows the dead letter" 1 "$(curl -s "$T_URL/metrics" | grep -c '^folio_dead_letters{consumer="mail"} 1$')"
t_expect "folio consumers shows the dead letter" 1 "$("$FOLIO_BIN" consumers -s "$T_SITE" --json |
    "$PY" -c 'import json, sys; print([c["dead_letters"] for c in json.load(sys.stdin) if c["name"] == "mail"][0])')"
smtp_sink_stop
smtp_sink_start "$T_DIR/smtp4" || t_fail "restart the SMTP sink" "see log"
"$FOLIO_BIN" deadletters -s "$T_SITE" retry --all >"$T_DIR/retry" 2>&1
t_contains "folio deadletters retry --all" "1 dead letter scheduled" "$T_DIR/retry"
folio_wait_for "[ \$(mails_with '$T_DIR/smtp4' 'The one that dies first') -ge 1 ]" 10 &&
    t_ok "the retried dead letter is delivered" || t_fail "retried dead letter" "not in $T_DIR/smtp4"
folio_wait_for "[ \$(dead_letters delivered) -eq 1 ]" 5 &&
    t_ok "the dead letter is marked delivered" || t_fail "dead letter state" "$("$FOLIO_BIN" deadletters -s "$T_SITE" --all)"

# ---- folio deliver: for cron, and while folio-fcgi runs ------------------------
out=$("$FOLIO_BIN" deliver -s "$T_SITE" 2>&1); rc=$?
t_expect "folio deliver beside folio-fcgi exits 0" 0 "$rc"
case $out in *"consumers.lock is held"*) t_ok "folio deliver says folio-fcgi delivers";;
    *) t_fail "folio deliver beside folio-fcgi" "$out";; esac
folio_local_stop
"$FOLIO_BIN" contact -s "$T_SITE" --name Cron --email cron@example.org --message "Sent while nothing runs" >/dev/null
"$FOLIO_BIN" deliver -s "$T_SITE" >"$T_DIR/deliver" 2>&1; rc=$?
t_expect "folio deliver exits 0" 0 "$rc"
t_contains "folio deliver reports the mail" "mail: 1 delivered" "$T_DIR/deliver"
t_expect "folio deliver delivered it" 1 "$(mails_with "$T_DIR/smtp4" 'Sent while nothing runs')"
smtp_sink_stop
"$FOLIO_BIN" contact -s "$T_SITE" --name Cron --email cron@example.org --message "Sent while the server is down" >/dev/null
"$FOLIO_BIN" deliver -s "$T_SITE" >"$T_DIR/deliver" 2>&1; rc=$?
t_expect "folio deliver exits 0 when the receiver fails" 0 "$rc"
t_contains "folio deliver says what failed" "mail: failing:" "$T_DIR/deliver"

t_done
