#!/bin/sh
# The owner's store commands, end to end, on a copy of the demo site: build,
# register (the community page shows the member at once), refusals with the
# forms' messages, contact and its repeat, events --json, replay, check
# (also noticing a stale page), backup, forget (the member leaves the page,
# their events read [redacted], the address is nowhere in var/).
set -u
: "${FOLIO_SRCDIR:?run through make check}" "${FOLIO_BIN:?}"
T=$(mktemp -d "${TMPDIR:-/tmp}/folio-store-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
fails=0
ok() { echo "ok - $1"; }
fail() { echo "FAIL - $1: $2"; fails=$((fails + 1)); }
# expect NAME STATUS CMD...: runs CMD, output in $T/out, status checked
expect() {
    name=$1 want=$2
    shift 2
    "$@" >"$T/out" 2>&1
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$name"; else
        fail "$name" "exit $got, wanted $want: $(head -c 400 "$T/out")"
    fi
}
has() { # has NAME FILE TEXT
    if grep -qF -- "$3" "$2"; then ok "$1"; else fail "$1" "no '$3' in $2"; fi
}
lacks() { # lacks NAME FILE-OR-DIR TEXT (case-insensitive, binary too)
    if grep -rqiaF -- "$3" "$2"; then fail "$1" "'$3' found in $2"; else ok "$1"; fi
}

S="$T/site"
mkdir -p "$S"
for p in folio.yml content templates static; do
    [ -e "$FOLIO_SRCDIR/$p" ] && cp -R "$FOLIO_SRCDIR/$p" "$S/"
done
F() { "$FOLIO_BIN" "$@" -s "$S"; }

for c in register contact forget events replay check backup; do
    expect "folio $c --help" 0 "$FOLIO_BIN" "$c" --help
    has "folio $c --help says how" "$T/out" "usage: folio $c"
done
expect "unknown option is a usage error" 2 F events --bogus

expect "build" 0 F build
expect "register" 0 F register --email "  Ada.Integration@Example.org " \
    --name "Ada Integration"
grep -q '^user-' "$T/out" && ok "register prints the stream id" ||
    fail "register prints the stream id" "$(cat "$T/out")"
has "community page shows the new member" "$S/public/community/index.html" \
    "Ada Integration"
lacks "no address on the public site" "$S/public" "ada.integration@example.org"

expect "same address again (other case) is refused" 1 F register \
    --email ADA.INTEGRATION@example.org --name "Ada Again"
has "... with the forms' message" "$T/out" \
    "email: this address is already registered"
expect "a bad address is refused" 1 F register --email "not-an-address" \
    --name "Nobody"
has "... naming the field" "$T/out" "email: must be a valid e-mail address"
printf 'short\n' >"$T/pw"
expect "a short password is refused" 1 sh -c \
    '"$0" register --email bo@example.org --name Bo --password-stdin -s "$1" <"$2"' \
    "$FOLIO_BIN" "$S" "$T/pw"
has "... naming the field" "$T/out" "password: "
printf 'a long enough passphrase\n' >"$T/pw"
expect "register with a password from stdin" 0 sh -c \
    '"$0" register --email bo@example.org --name "Bo Password" --password-stdin -s "$1" <"$2"' \
    "$FOLIO_BIN" "$S" "$T/pw"

expect "contact" 0 F contact --name "Cleo" --email cleo@example.org \
    --message "Hello from the integration test" --subject "Hi"
grep -q '^contact-' "$T/out" && ok "contact prints the stream id" ||
    fail "contact prints the stream id" "$(cat "$T/out")"
expect "the same message again is accepted" 0 F contact --name "Cleo" \
    --email CLEO@example.org --message "Hello from the integration test"
has "... but not stored twice" "$T/out" "already received"
expect "contact without a message is refused" 1 F contact --name C \
    --email c@example.org --message "   "
has "... naming the field" "$T/out" "message: "

expect "events --json" 0 F events --json
cp "$T/out" "$T/events.jsonl"
if python3 - "$T/events.jsonl" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert len(lines) == 3, len(lines)
keys = {"position", "event_id", "stream_id", "stream_version", "type",
        "schema_version", "data", "metadata", "recorded_at"}
for l in lines:
    e = json.loads(l)
    assert keys <= set(e), e.keys()
assert [json.loads(l)["position"] for l in lines] == [1, 2, 3]
first = json.loads(lines[0])
assert first["data"]["email"] == "ada.integration@example.org", first
assert first["data"]["display_name"] == "Ada Integration"
assert first["recorded_at"].endswith("Z")
EOF
then ok "events --json: whole envelopes, decrypted for the owner"; else
    fail "events --json" "$(head -c 600 "$T/events.jsonl")"; fi
expect "events --type" 0 F events --type ContactRequestSubmitted
[ "$(wc -l <"$T/out")" -eq 1 ] && ok "events --type filters" ||
    fail "events --type filters" "$(cat "$T/out")"
stream=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["stream_id"])' "$T/events.jsonl")
expect "events --stream" 0 F events --stream "$stream"
[ "$(wc -l <"$T/out")" -eq 1 ] && grep -q "$stream" "$T/out" &&
    ok "events --stream filters" || fail "events --stream filters" "$(cat "$T/out")"
expect "events --after" 0 F events --after 2
[ "$(wc -l <"$T/out")" -eq 1 ] && ok "events --after filters" ||
    fail "events --after filters" "$(cat "$T/out")"
expect "events --as-of a time before everything" 0 F events --as-of 2000-01-01
[ ! -s "$T/out" ] && ok "events --as-of filters" ||
    fail "events --as-of filters" "$(cat "$T/out")"
expect "events --as-of nonsense" 2 F events --as-of yesterday-ish

expect "replay" 0 F replay
expect "replay one projection" 0 F replay members
expect "replay an unknown projection" 1 F replay nonsense
expect "check" 0 F check
has "check says all is well" "$T/out" "ok"

echo "<!-- stale -->" >>"$S/public/community/index.html"
expect "check notices a stale page" 1 F check
has "... and names it" "$T/out" "/community/"
expect "build again" 0 F build
expect "check after the build" 0 F check

# a member's name changed in the database under its old keyed hash, and
# another's hash changed: check names the table, replay puts both back
sql() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()' "$S/var/folio.db" "$1"; }
sql "UPDATE members SET display_name = 'Mallory' WHERE display_name = 'Ada Integration'"
sql "UPDATE members SET name_mac = zeroblob(16) WHERE display_name = 'Bo Password'"
expect "check notices altered names and hashes" 1 F check
has "... in the members table" "$T/out" "table members differs from a fresh replay: 2 row(s)"
expect "replay puts them back" 0 F replay
expect "check after the replay" 0 F check
has "... the name is back on the page" "$S/public/community/index.html" "Ada Integration"
lacks "... and the other one is gone" "$S/public/community/index.html" "Mallory"

expect "backup" 0 F backup "$T/backup.db"
if [ -s "$T/backup.db" ] &&
    [ "$(python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("pragma integrity_check").fetchone()[0], c.execute("select count(*) from events").fetchone()[0])' "$T/backup.db")" = "ok 3" ]; then
    ok "the backup is a whole database"
else fail "the backup is a whole database" "$(ls -l "$T")"; fi

# the site as it was: before anyone registered, and just now (whole
# seconds: wait out the one the last event was recorded in)
sleep 1
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1
sum_before=$(cat "$S/var/folio.db" "$S/var/folio.db-wal" 2>/dev/null | cksum)
expect "build --as-of a time before the members" 0 F build --as-of 2000-01-01 \
    -o "$T/past"
lacks "... shows no member" "$T/past/community/index.html" "Ada Integration"
expect "build --as-of now" 0 F build --as-of "$NOW" -o "$T/now"
has "... shows the member" "$T/now/community/index.html" "Ada Integration"
sum_after=$(cat "$S/var/folio.db" "$S/var/folio.db-wal" 2>/dev/null | cksum)
[ "$sum_before" = "$sum_after" ] && ok "as-of builds leave the live store alone" ||
    fail "as-of builds leave the live store alone" "$sum_before / $sum_after"

expect "forget" 0 F forget "ADA.integration@example.org"
lacks "the member left the community page" "$S/public/community/index.html" \
    "Ada Integration"
has "the other member is still there" "$S/public/community/index.html" \
    "Bo Password"
expect "events after forget" 0 F events --json
lacks "their name is unreadable" "$T/out" "Ada Integration"
has "... it reads [redacted]" "$T/out" '"display_name":"[redacted]"'
has "... and the erasure is recorded" "$T/out" '"type":"PersonForgotten"'
lacks "their address is nowhere in var/" "$S/var" "ada.integration@example.org"
lacks "no address of anyone is in var/" "$S/var" "cleo@example.org"
expect "forget again: nothing left" 1 F forget ada.integration@example.org
expect "check after forget" 0 F check
expect "build --as-of before the erasure" 0 F build --as-of "$NOW" -o "$T/now2"
lacks "... no longer shows the erased member" "$T/now2/community/index.html" \
    "Ada Integration"
has "... but the others" "$T/now2/community/index.html" "Bo Password"

echo "1..$fails failures"
[ "$fails" -eq 0 ]
