#!/usr/bin/env bash
# GET /api/events through a real nginx and folio-fcgi: API keys (absent,
# unknown, revoked, wrong scope), personal fields only with personal:read,
# parameter validation, long-polls woken by a contact posted through the
# form, the per-key rate limit, and forms answering while many long-polls
# are parked. Exit 0/1 (77: cannot run here).
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

command -v curl >/dev/null || { echo "curl missing (./quickstart test installs it)"; exit 1; }
command -v python3 >/dev/null || { echo "python3 missing: cannot read JSON answers"; exit 77; }
[ -x "$FOLIO_FCGI_BIN" ] || { echo "folio-fcgi not built (run make first)"; exit 1; }

bg_pids=()
stop_bg() {
    local p
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
    bg_pids=()
}
trap 'stop_bg; t_cleanup' EXIT

t_site
export FOLIO_RATE_LIMIT=0
# A small bucket for the rate-limit test; the other keys stay under it.
printf 'api:\n  rate: 60\n  burst: 80\n' >>"$T_SITE/folio.yml"

newkey() { # NAME SCOPE... -> the key (last line of stdout)
    local name=$1; shift
    local args=()
    for s in "$@"; do args+=(--scope "$s"); done
    "$FOLIO_BIN" apikey create -s "$T_SITE" --name "$name" "${args[@]}" | tail -n1
}
READER=$(newkey reader events:read)
PERSONAL=$(newkey owner-tools events:read personal:read)
NOSCOPE=$(newkey no-events personal:read)
REVOKED=$(newkey old events:read)
LIMITED=$(newkey busy events:read)
PARK=$(newkey parked events:read)
CAP1=$(newkey many-1 events:read)
CAP2=$(newkey many-2 events:read)
"$FOLIO_BIN" apikey revoke -s "$T_SITE" old >/dev/null
case $READER in folio_*) t_ok "apikey create prints the key last";;
    *) t_fail "apikey create prints the key last" "$READER";; esac

t_serve

# api KEY QUERY [curl args...] -> status; body in $T_DIR/body
api() {
    local key=$1 q=$2; shift 2
    if [ -n "$key" ]; then
        t_status GET "/api/events$q" -H "Authorization: Bearer $key" "$@"
    else
        t_status GET "/api/events$q" "$@"
    fi
}
header() { grep -i "^$1:" "$T_DIR/headers" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }
json() { python3 -c "import json,sys; d=json.load(open('$T_DIR/body')); print($1)"; }
post_contact() { # MESSAGE -> status
    curl -s -o /dev/null -w '%{http_code}' -H "Origin: $T_URL" \
        --data-urlencode "name=Ada Lovelace" --data-urlencode "email=ada@example.org" \
        --data-urlencode "message=$1" "$T_URL/contact"
}
now_ms() { date +%s%3N; }

# ---- keys -----------------------------------------------------------------------
t_expect "no key is 401" 401 "$(api "" "")"
t_expect "401 asks for a Bearer token" 'Bearer realm="folio"' "$(header WWW-Authenticate)"
t_expect "an unknown key is 401" 401 "$(api folio_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "")"
t_expect "401 says invalid_token" 'Bearer realm="folio", error="invalid_token"' "$(header WWW-Authenticate)"
t_expect "garbage is 401" 401 "$(api 'not a key' "")"
t_expect "a revoked key is 401" 401 "$(api "$REVOKED" "")"
t_expect "revoked: invalid_token" 'Bearer realm="folio", error="invalid_token"' "$(header WWW-Authenticate)"
t_expect "a key without events:read is 403" 403 "$(api "$NOSCOPE" "")"
t_expect "only GET (405)" 405 "$(api "$READER" "" -X POST)"
t_expect "405 says Allow: GET" GET "$(header Allow)"

# ---- events and personal fields -----------------------------------------------
t_expect "an empty log is 200" 200 "$(api "$READER" "")"
t_expect "no events, next 0, head 0" "[] 0 0" "$(json "d['events'], d['next'], d['head']")"
t_expect "a contact through the form" 303 "$(post_contact "Hello from the form, first.")"
"$FOLIO_BIN" register -s "$T_SITE" --email grace@example.org --name "Grace Hopper" >/dev/null
t_expect "events:read sees the events" 200 "$(api "$READER" "")"
t_expect "two events, next 2, head 2" "2 2 2" "$(json "len(d['events']), d['next'], d['head']")"
t_expect "the envelope is folio events --json's" \
    "$("$FOLIO_BIN" events -s "$T_SITE" --json | head -n1 | python3 -c 'import json,sys; e=json.load(sys.stdin); print(sorted(e))')" \
    "$(json "sorted(d['events'][0])")"
t_expect "personal fields are [personal] without personal:read" "[personal] [personal] [personal]" \
    "$(json "d['events'][0]['data']['email'], d['events'][0]['data']['message'], d['events'][0]['metadata']['client']")"
if grep -q "ada@example.org" "$T_DIR/body"; then t_fail "no address without personal:read" "found"; else t_ok "no address without personal:read"; fi
t_expect "personal:read decrypts them" "ada@example.org Hello from the form, first." \
    "$(api "$PERSONAL" "" >/dev/null; json "d['events'][0]['data']['email'], d['events'][0]['data']['message']")"
t_expect "types filters" "UserRegistered 2" "$(api "$READER" "?types=UserRegistered" >/dev/null; json "d['events'][0]['type'], d['next']")"
t_expect "types takes a list" 2 "$(api "$READER" "?types=UserRegistered,ContactRequestSubmitted" >/dev/null; json "len(d['events'])")"
t_expect "after skips" "1 2" "$(api "$READER" "?after=1" >/dev/null; json "len(d['events']), d['events'][0]['position']")"
t_expect "limit=1 gives one and next=1" "1 1" "$(api "$READER" "?limit=1" >/dev/null; json "len(d['events']), d['next']")"
t_expect "limit=0 is the default" "200 2" "$(api "$READER" "?limit=0"; echo -n " "; json "len(d['events'])")"
t_expect "a huge limit is clamped, not refused" "200 2" "$(api "$READER" "?limit=99999999"; echo -n " "; json "len(d['events'])")"
t_expect "after beyond the head: empty, next = after" "200 [] 1000 2" \
    "$(api "$READER" "?after=1000"; echo -n " "; json "d['events'], d['next'], d['head']")"

# ---- refusals -------------------------------------------------------------------
t_expect "non-numeric after is 400" 400 "$(api "$READER" "?after=abc")"
t_expect "400 names after" after "$(json "d['field']")"
t_expect "negative after is 400" 400 "$(api "$READER" "?after=-1")"
t_expect "non-numeric limit is 400" 400 "$(api "$READER" "?limit=ten")"
t_expect "wait over 60 is 400" 400 "$(api "$READER" "?wait=61")"
t_expect "400 names wait" wait "$(json "d['field']")"
t_expect "an unknown type is 400" 400 "$(api "$READER" "?types=UserRegistered,MemberRegistered")"
t_expect "400 names the type" "types: unknown event type 'MemberRegistered'" "$(json "d['error']")"
t_expect "an unknown parameter is 400" 400 "$(api "$READER" "?aftr=1")"
t_expect "a parameter twice is 400" 400 "$(api "$READER" "?after=1&after=2")"

# ---- long-poll ---------------------------------------------------------------------
t0=$(now_ms)
t_expect "wait with nothing new answers empty after wait" "200 []" \
    "$(api "$READER" "?after=2&wait=1"; echo -n " "; json "d['events']")"
el=$(( $(now_ms) - t0 ))
if [ "$el" -ge 900 ] && [ "$el" -lt 5000 ]; then t_ok "it waited about a second (${el} ms)"; else t_fail "it waited about a second" "${el} ms"; fi

curl -s -o "$T_DIR/poll" -H "Authorization: Bearer $READER" "$T_URL/api/events?after=2&wait=30" &
poll_pid=$!; bg_pids+=("$poll_pid")
sleep 0.5
t0=$(now_ms)
t_expect "a contact while a long-poll waits" 303 "$(post_contact "Hello again, while someone polls.")"
wait "$poll_pid"
el=$(( $(now_ms) - t0 ))
if [ "$el" -lt 1000 ]; then t_ok "the long-poll answered within a second of the commit (${el} ms)"; else t_fail "the long-poll answered promptly" "${el} ms"; fi
t_expect "it got the new event" "3 ContactRequestSubmitted" \
    "$(python3 -c "import json; d=json.load(open('$T_DIR/poll')); print(d['next'], d['events'][0]['type'])")"

# An event written by another process (the CLI) wakes it too.
curl -s -o "$T_DIR/poll" -H "Authorization: Bearer $READER" "$T_URL/api/events?after=3&wait=30" &
poll_pid=$!; bg_pids+=("$poll_pid")
sleep 0.3
"$FOLIO_BIN" register -s "$T_SITE" --email alan@example.org --name "Alan" >/dev/null
t0=$(now_ms)
wait "$poll_pid"
el=$(( $(now_ms) - t0 ))
if [ "$el" -lt 1500 ]; then t_ok "a CLI commit wakes it too (${el} ms)"; else t_fail "a CLI commit wakes it too" "${el} ms"; fi

# ---- forms while 50 long-polls are parked ---------------------------------------------
mkdir -p "$T_DIR/parked"
parked_pids=()
for i in $(seq 1 50); do
    curl -s -o "$T_DIR/parked/$i" -w '%{http_code}\n' -H "Authorization: Bearer $PARK" \
        "$T_URL/api/events?after=4&wait=30" >"$T_DIR/parked/$i.status" &
    parked_pids+=($!); bg_pids+=($!)
done
sleep 1.5
t0=$(now_ms)
t_expect "a contact POST answers while 50 long-polls are parked" 303 "$(post_contact "Hello with fifty readers waiting.")"
el=$(( $(now_ms) - t0 ))
if [ "$el" -lt 2000 ]; then t_ok "and promptly (${el} ms)"; else t_fail "and promptly" "${el} ms"; fi
for p in "${parked_pids[@]}"; do wait "$p"; done
got=$(cat "$T_DIR"/parked/*.status | grep -c 200)
t_expect "all 50 long-polls got the event" 50 "$got"
t_expect "with the new position" 5 "$(python3 -c "import json; print(json.load(open('$T_DIR/parked/50'))['next'])")"

# ---- past the cap: 503, and the forms still answer ----------------------------------------
mkdir -p "$T_DIR/cap"
cap_pids=()
for i in $(seq 1 140); do
    key=$CAP1; [ "$i" -gt 70 ] && key=$CAP2
    curl -s -o "$T_DIR/cap/$i" -D "$T_DIR/cap/$i.h" -w '%{http_code}\n' -H "Authorization: Bearer $key" \
        "$T_URL/api/events?after=5&wait=30" >"$T_DIR/cap/$i.status" &
    cap_pids+=($!); bg_pids+=($!)
done
# 128 park; the other 12 are answered at once.
folio_wait_for "[ \$(cat '$T_DIR'/cap/*.status | grep -c 503) -ge 12 ]" 20
t_expect "past 128 parked API requests: 503" 12 "$(cat "$T_DIR"/cap/*.status | grep -c 503)"
t_expect "503 has Retry-After" 1 "$(cat "$T_DIR"/cap/*.h | grep -i '^Retry-After:' | head -n1 | tr -dc '0-9')"
t0=$(now_ms)
t_expect "a contact POST answers with 128 long-polls parked" 303 "$(post_contact "Hello with the API full.")"
el=$(( $(now_ms) - t0 ))
if [ "$el" -lt 2000 ]; then t_ok "and promptly (${el} ms)"; else t_fail "and promptly" "${el} ms"; fi
for p in "${cap_pids[@]}"; do wait "$p"; done
t_expect "the 128 parked got the event" 128 "$(cat "$T_DIR"/cap/*.status | grep -c 200)"

# ---- rate limit ---------------------------------------------------------------------
curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $LIMITED" \
    "$T_URL/api/events?limit=[1-90]" >"$T_DIR/rate"
t_expect "past the burst: 429" 1 "$(grep -q 429 "$T_DIR/rate" && echo 1 || echo 0)"
t_expect "the first ones passed" 80 "$(grep -c 200 "$T_DIR/rate")"
t_expect "429 has Retry-After" 1 "$(api "$LIMITED" "" >/dev/null; header Retry-After)"
t_expect "another key is not limited" 200 "$(api "$READER" "")"

# ---- log and list -----------------------------------------------------------------------
if grep -q '"key":"reader"' "$FOLIO_FCGI_LOG"; then t_ok "key use is logged by name"; else t_fail "key use is logged by name" "no line"; fi
if grep -qF -e "$READER" -e "$PERSONAL" -e ada@example.org "$FOLIO_FCGI_LOG"; then
    t_fail "no key and no address in the log" "found"; else t_ok "no key and no address in the log"; fi
list=$("$FOLIO_BIN" apikey list -s "$T_SITE")
case $list in *reader*"events:read"*20??-*-*T*old*) t_ok "apikey list shows names, scopes and dates";;
    *) t_fail "apikey list shows names, scopes and dates" "$list";; esac
if echo "$list" | grep -q "^reader .* -  *-$"; then t_fail "last used is recorded" "$list"; else t_ok "last used is recorded"; fi

# ---- folio events --follow ------------------------------------------------------------------
"$FOLIO_BIN" events -s "$T_SITE" --follow --after 4 >"$T_DIR/follow" 2>"$T_DIR/follow.err" &
follow_pid=$!; bg_pids+=("$follow_pid")
folio_wait_for "[ \$(wc -l <'$T_DIR/follow') -ge 2 ]" 5
t_expect "--follow prints what is there after --after" 2 "$(wc -l <"$T_DIR/follow")"
t_expect "a contact while following" 303 "$(post_contact "Hello to the one following the log.")"
if folio_wait_for "grep -q '^7 ' '$T_DIR/follow'" 3; then t_ok "--follow prints the new event"; else t_fail "--follow prints the new event" "$(cat "$T_DIR/follow")"; fi
kill -INT "$follow_pid"
wait "$follow_pid"; rc=$?
t_expect "--follow ends cleanly on SIGINT" 0 "$rc"
t_expect "each event once" "5 6 7" "$(cut -d' ' -f1 "$T_DIR/follow" | tr '\n' ' ' | sed 's/ $//')"

# ---- a forgotten person reads [redacted], whatever the key ---------------------------------
"$FOLIO_BIN" forget -s "$T_SITE" ada@example.org >/dev/null
t_expect "forgotten: [redacted] with personal:read" "[redacted] [redacted]" \
    "$(api "$PERSONAL" "?limit=1" >/dev/null; json "d['events'][0]['data']['email'], d['events'][0]['data']['name']" | tr -d "(),'")"
t_expect "forgotten: [redacted] with events:read" "[redacted]" \
    "$(api "$READER" "?limit=1" >/dev/null; json "d['events'][0]['data']['email']")"

t_done
