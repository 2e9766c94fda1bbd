#!/bin/bash
# Mail, end to end on a copy of the demo site: the outbox (folio mail, show,
# refusing IDs outside it, one file per event however often it is
# delivered), then a real SMTP server (aiosmtpd, tests/integration/
# smtp_sink.py): folio mail test and folio mail send through smtp://, the
# received messages read by Python's email parser (one recipient, Reply-To
# the visitor, the subject and UTF-8 body decoded), and the failures: server
# down and 451 are "for now" (exit 75), 550 is for good (exit 1).
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

PY=$(smtp_sink_python) || { echo "SKIP: no python3 with aiosmtpd (apt-get install python3-aiosmtpd)"; exit 77; }

S=$T_DIR/site
mkdir -p "$S"
cp -R "$FOLIO_SRCDIR/folio.yml" "$FOLIO_SRCDIR/content" "$FOLIO_SRCDIR/static" "$S/"
cat >>"$S/folio.yml" <<'EOF'
mail:
  from: "Noor Vellacott <site@example.org>"
  owner: "Noor <noor@example.org>"
EOF
F() { "$FOLIO_BIN" "$@" -s "$S"; }
# run NAME WANT CMD...: output in $T_DIR/out
run() {
    local name=$1 want=$2 got; shift 2
    "$@" >"$T_DIR/out" 2>&1
    got=$?
    if [ "$got" -eq "$want" ]; then t_ok "$name"; else
        t_fail "$name" "exit $got, wanted $want: $(head -c 400 "$T_DIR/out")"; fi
}

run "folio mail --help" 0 "$FOLIO_BIN" mail --help
t_contains "... names the verbs" "folio mail show ID" "$T_DIR/out"
run "an unknown verb is a usage error" 2 F mail frobnicate

# ---- the outbox ----------------------------------------------------------
run "contact" 0 F contact --name 'Zoë "Z" <z@evil.org>, Bcc: x@evil.org' \
    --email zoe@example.net --subject 'Über =?utf-8?b?QmNjOiB4QGV2aWwub3Jn?=' \
    --message $'Grüße aus Köln,\nlet\'s talk.'
run "register" 0 F register --name "Ada Lovelace" --email ada@example.net
F events --json >"$T_DIR/events.jsonl"
run "folio mail send (to the outbox)" 0 F mail send <"$T_DIR/events.jsonl"
t_contains "... the contact mail" "1 contact in the outbox as" "$T_DIR/out"
t_contains "... the welcome mail" "2 welcome in the outbox as" "$T_DIR/out"
run "delivered again" 0 F mail send <"$T_DIR/events.jsonl"
t_expect "one file per event, however often delivered" 2 "$(ls "$S/var/mail" | wc -l)"
t_expect "the outbox is private" "700" "$(stat -c %a "$S/var/mail")"
t_expect "its mails are private" "600 600" "$(stat -c %a "$S"/var/mail/*.eml | tr '\n' ' ' | sed 's/ $//')"

printf '\n{"position":1,"email":"zoe@example.net"}\n' >"$T_DIR/bad.jsonl"
run "folio mail send refuses what is not an event" 1 F mail send <"$T_DIR/bad.jsonl"
t_contains "... naming the line" "line 2: not an event" "$T_DIR/out"
if grep -q zoe@ "$T_DIR/out"; then t_fail "... without echoing it" "$(cat "$T_DIR/out")"
else t_ok "... without echoing it"; fi

run "folio mail lists the outbox" 0 F mail
t_expect "... one line per mail" 2 "$(wc -l <"$T_DIR/out")"
cut -f1 "$T_DIR/out" >"$T_DIR/ids"
t_expect "... oldest first" "contact welcome" "$(sed 's/.*-//' "$T_DIR/ids" | tr '\n' ' ' | sed 's/ $//')"
t_expect "... To and decoded subject" \
    "noor@example.org	Über =?utf-8?b?QmNjOiB4QGV2aWwub3Jn?=" \
    "$(head -n1 "$T_DIR/out" | cut -f3-)"
ID=$(head -n1 "$T_DIR/ids")
run "folio mail show ID" 0 F mail show "$ID"
t_contains "... prints the message" "Message-ID: <" "$T_DIR/out"
cp "$T_DIR/out" "$T_DIR/shown.eml"
for bad in ../folio.yml ../../etc/passwd .. x/y "$ID.eml" nope; do
    run "folio mail show refuses '$bad'" 1 F mail show "$bad"
done

# check_eml FILE: what Python's email parser makes of it, as KEY=VALUE lines
check_eml() {
    "$PY" - "$1" <<'EOF'
import sys, email
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
def addrs(h):
    return [a for v in (m.get_all(h) or []) for a in v.addresses]
print("to=%d:%s" % (len(addrs('To')), ",".join(a.addr_spec for a in addrs('To'))))
print("to_fields=%d" % len(m.get_all('To') or []))
print("reply_to=%d:%s" % (len(addrs('Reply-To')), ",".join(a.addr_spec for a in addrs('Reply-To'))))
print("cc=%d" % (len(m.get_all('Cc') or []) + len(m.get_all('Bcc') or [])))
print("subject=%s" % m['Subject'])
body = m.get_body(('plain',))
print("utf8_body=%s" % ('Grüße aus Köln' in body.get_content()) if body else "utf8_body=none")
print("html=%s" % (m.get_body(('html',)) is not None))
print("defects=%d" % (len(m.defects) + sum(len(p.defects) for p in m.walk())))
EOF
}
check_eml "$T_DIR/shown.eml" >"$T_DIR/parsed"
t_contains "outbox mail: one To, the owner" "to=1:noor@example.org" "$T_DIR/parsed"
t_contains "outbox mail: Reply-To the visitor" "reply_to=1:zoe@example.net" "$T_DIR/parsed"
t_contains "outbox mail: no other recipient" "cc=0" "$T_DIR/parsed"
t_contains "outbox mail: the subject, not decoded twice" \
    "subject=Über =?utf-8?b?QmNjOiB4QGV2aWwub3Jn?=" "$T_DIR/parsed"
t_contains "outbox mail: UTF-8 body" "utf8_body=True" "$T_DIR/parsed"
t_contains "outbox mail: text and HTML" "html=True" "$T_DIR/parsed"
t_contains "outbox mail: no defects" "defects=0" "$T_DIR/parsed"

# ---- SMTP ---------------------------------------------------------------
SINK=$T_DIR/sink
smtp_sink_start "$SINK" || { t_fail "start the SMTP sink" "see above"; t_done; }
export FOLIO_SMTP_URL=$SMTP_URL
run "folio mail test through smtp://" 0 F mail test owner@example.org
t_contains "... says where it went" "sent to owner@example.org through smtp://127.0.0.1:$SMTP_PORT" "$T_DIR/out"
folio_wait_for "[ -f '$SINK/000001.eml' ]" 5
t_expect "... one recipient in the envelope" "site@example.org owner@example.org" \
    "$(tr '\n' ' ' <"$SINK/000001.rcpt" | sed 's/ $//')"
check_eml "$SINK/000001.eml" >"$T_DIR/parsed"
t_contains "... the test mail" "subject=Test mail from Noor Vellacott" "$T_DIR/parsed"

run "folio mail send through smtp://" 0 F mail send <"$T_DIR/events.jsonl"
t_contains "... the contact mail" "1 contact sent" "$T_DIR/out"
t_contains "... the welcome mail" "2 welcome sent" "$T_DIR/out"
folio_wait_for "[ -f '$SINK/000003.eml' ]" 5
t_expect "contact: the envelope's one recipient is the owner" \
    "site@example.org noor@example.org" "$(tr '\n' ' ' <"$SINK/000002.rcpt" | sed 's/ $//')"
check_eml "$SINK/000002.eml" >"$T_DIR/parsed"
t_contains "contact: one To" "to=1:noor@example.org" "$T_DIR/parsed"
t_contains "contact: one To field" "to_fields=1" "$T_DIR/parsed"
t_contains "contact: Reply-To the visitor" "reply_to=1:zoe@example.net" "$T_DIR/parsed"
t_contains "contact: no Cc or Bcc" "cc=0" "$T_DIR/parsed"
t_contains "contact: the visitor's subject, decoded" \
    "subject=Über =?utf-8?b?QmNjOiB4QGV2aWwub3Jn?=" "$T_DIR/parsed"
t_contains "contact: UTF-8 body" "utf8_body=True" "$T_DIR/parsed"
t_expect "welcome: to the member" "site@example.org ada@example.net" \
    "$(tr '\n' ' ' <"$SINK/000003.rcpt" | sed 's/ $//')"
check_eml "$SINK/000003.eml" >"$T_DIR/parsed"
t_contains "welcome: subject" "subject=Welcome to Noor Vellacott" "$T_DIR/parsed"
t_contains "welcome: Reply-To the owner" "reply_to=1:noor@example.org" "$T_DIR/parsed"
t_expect "SMTP sends nothing to the outbox" 2 "$(ls "$S/var/mail" | wc -l)"

smtp_sink_start "$SINK-reject" --reject-all || { t_fail "start the SMTP sink" "--reject-all"; t_done; }
export FOLIO_SMTP_URL=smtp://user:s3cret@127.0.0.1:$SMTP_PORT
run "550: refused for good" 1 F mail send <"$T_DIR/events.jsonl"
t_contains "... says so" "1 contact failed: smtp://127.0.0.1:$SMTP_PORT:" "$T_DIR/out"
t_contains "... with the SMTP code" "(SMTP 550)" "$T_DIR/out"
if grep -q -e s3cret -e zoe@ "$T_DIR/out"; then t_fail "... no password or visitor address" "$(cat "$T_DIR/out")"
else t_ok "... no password or visitor address"; fi

smtp_sink_start "$SINK-tempfail" --tempfail || { t_fail "start the SMTP sink" "--tempfail"; t_done; }
export FOLIO_SMTP_URL=$SMTP_URL
run "451: for now" 75 F mail test owner@example.org
t_contains "... says a retry may succeed" "(SMTP 451) (temporary" "$T_DIR/out"

FOLIO_SMTP_URL=smtp+starttls://127.0.0.1:$SMTP_PORT \
    run "STARTTLS required, not offered: for now" 75 F mail test owner@example.org
t_contains "... names the transport" "smtp://127.0.0.1:$SMTP_PORT:" "$T_DIR/out"

smtp_sink_stop
run "server down: for now" 75 F mail test owner@example.org
t_contains "... says a retry may succeed" "temporary" "$T_DIR/out"

unset FOLIO_SMTP_URL
sed -i "s|^  owner: .*|&\n  transport: \"ftp://x\"|" "$S/folio.yml"
run "an unknown transport is refused" 1 F mail test owner@example.org
t_contains "... naming the setting" "mail.transport" "$T_DIR/out"

t_done
