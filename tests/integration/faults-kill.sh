#!/usr/bin/env bash
# kill -9 in the middle of things: folio-fcgi under load (nothing that was
# acknowledged is lost), folio build (the site served stays whole and the
# next build cleans up after the killed one) and folio replay (the
# projections stay what the log says). Bounded: 3 rounds each, a few
# hundred requests a round. Exit 0/1.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

t_need_fcgi

t_site
export FOLIO_RATE_LIMIT=0
t_serve
# t_serve moved base_url to the test's port: build with it, as a deploy would
"$FOLIO_BIN" build -s "$T_SITE" >/dev/null 2>&1 || t_fail "build for the test's address" "failed"
S=$T_SITE

# ---- kill -9 folio-fcgi under load --------------------------------------------
load() { # ID -> " STATUS" after the JSON answer
    curl -s -m 20 -w ' %{http_code}\n' -H "Origin: $T_URL" \
        -H 'Content-Type: application/x-www-form-urlencoded' -H 'Accept: application/json' \
        --data-binary "name=Load+$1&email=load$1%40example.org&message=Load+message+$1" \
        "$T_URL/contact"
}
export -f load
export T_URL
total_acked=0 missing=0
for round in 1 2 3; do
    seq 1 300 | sed "s/^/r$round-/" | xargs -P 8 -I{} bash -c 'load {}' >"$T_DIR/load$round" &
    lp=$!
    sleep "1.$((round * 3))"   # a different moment each round
    kill -9 "$folio_fcgi_pid"
    wait "$folio_fcgi_pid" 2>/dev/null
    folio_fcgi_pid=
    wait "$lp"
    acked=$(grep -o '"id":"contact-[^"]*"' "$T_DIR/load$round" | cut -d'"' -f4 | sort -u)
    n=$(printf '%s\n' "$acked" | grep -c . || true)
    total_acked=$((total_acked + n))
    "$FOLIO_BIN" events -s "$S" --json --type ContactRequestSubmitted >"$T_DIR/events" 2>&1
    for id in $acked; do grep -qF "\"contact_id\":\"${id#contact-}\"" "$T_DIR/events" || missing=$((missing + 1)); done
    echo "# round $round: $n acknowledged before kill -9, $(grep -c . "$T_DIR/events") stored in all"
    folio_local_start_fcgi || { t_fail "restart folio-fcgi after kill -9 (round $round)" "see log"; t_done; }
done
stored=$(grep -c . "$T_DIR/events")
if [ "$total_acked" -gt 0 ]; then t_ok "load was acknowledged before the kills ($total_acked)"; else t_fail "load was acknowledged before the kills" "none"; fi
if [ "$total_acked" -le "$stored" ]; then t_ok "acknowledged ($total_acked) <= stored ($stored)"; else t_fail "acknowledged <= stored" "$total_acked > $stored"; fi
t_expect "every acknowledged submission survived kill -9" 0 "$missing"
t_expect "serving again after the kills" 200 "$(t_status GET /health)"
folio_local_stop   # a clean stop: the start-up render brought the pages up to date
if "$FOLIO_BIN" check -s "$S" >"$T_DIR/check" 2>&1; then t_ok "folio check is clean after 3 kill -9"; else t_fail "folio check is clean after kill -9" "$(head -n5 "$T_DIR/check")"; fi

echo "# $(date +%T) replay"
# ---- kill -9 folio replay -------------------------------------------------------
# A replay of healthy tables writes nothing; the one worth killing drops
# and fills every table, as after an upgrade that changed their shapes:
# the checkpoints are made to name another version before each run.
stale() {
    python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
c.execute("UPDATE projection_checkpoints SET version = 0")
c.commit()' "$S/var/folio.db"
}
"$FOLIO_BIN" events -s "$S" >"$T_DIR/log.before" 2>&1
stale
t0=$(date +%s%N)
"$FOLIO_BIN" replay -s "$S" >/dev/null 2>&1
us=$(( ($(date +%s%N) - t0) / 1000 ))
echo "# a whole folio replay rebuilding $(grep -c . "$T_DIR/log.before") events takes $((us / 1000)) ms"
killed=0
# kills spread over that time (a share of it in percent)
for pct in 30 60 15 45 75 90; do
    delay=$(awk -v us="$us" -v p="$pct" 'BEGIN { printf "%.4f", us * p / 100 / 1e6 }')
    stale
    "$FOLIO_BIN" replay -s "$S" >/dev/null 2>&1 &
    rp=$!
    sleep "$delay"
    kill -9 "$rp" 2>/dev/null
    wait "$rp" 2>/dev/null
    [ $? -eq 137 ] && killed=$((killed + 1))   # SIGKILL, not a finished run
    if ! "$FOLIO_BIN" check -s "$S" >"$T_DIR/check" 2>&1; then
        t_fail "folio check after kill -9 of replay at ${delay}s" "$(head -n3 "$T_DIR/check")"; break
    fi
    [ "$killed" -ge 3 ] && break
done
echo "# replay: killed $killed time(s) before it finished"
if [ "$killed" -ge 1 ]; then t_ok "replay was killed mid-way ($killed)"; else t_fail "replay was killed mid-way" "it always finished first"; fi
"$FOLIO_BIN" events -s "$S" >"$T_DIR/log.after" 2>&1
if cmp -s "$T_DIR/log.before" "$T_DIR/log.after"; then t_ok "the log is untouched by killed replays"; else t_fail "the log is untouched" "differs"; fi
if "$FOLIO_BIN" replay -s "$S" >/dev/null 2>&1 && "$FOLIO_BIN" check -s "$S" >/dev/null 2>&1; then
    t_ok "the next replay and check are clean"; else t_fail "the next replay and check are clean" "failed"; fi

echo "# $(date +%T) build"
# ---- kill -9 folio build ----------------------------------------------------------
# Enough pages for a build to take a while.
mkdir -p "$S/content/writing"
for i in $(seq 1 1500); do
    printf -- '---\ntitle: "Note %d"\ndate: 2025-01-01\ntags: [note, n%d]\n---\nSome *text* for note %d.\n' \
        "$i" "$((i % 50))" "$i" >"$S/content/writing/note-$i.md"
done
"$FOLIO_BIN" build -s "$S" >/dev/null 2>&1 || t_fail "build the larger site" "failed"
"$FOLIO_BIN" build -s "$S" >/dev/null 2>&1   # a kept tree now exists, as on a live site
# Feeds of undated sections carry the build's time: left out of the hash.
tree_hash() { (cd "$1" && find . -type f ! -name '.folio-*' ! -name '*.xml' -print0 | sort -z | xargs -0 md5sum | md5sum | cut -d' ' -f1); }
old=$(tree_hash "$S/public")
printf -- '---\ntitle: "A new page"\n---\nNew.\n' >"$S/content/writing/brand-new.md"
"$FOLIO_BIN" build -s "$S" -o "$T_DIR/ref" >/dev/null 2>&1
new=$(tree_hash "$T_DIR/ref")
# A build is mid-way once it writes: the kept tree has lost its state,
# or a fresh tree has appeared beside public/.
writing() {
    if [ "$had" = 1 ]; then [ ! -f "$S/.public.prev/.folio-state" ]; return; fi
    local d; for d in "$S"/.public.new-*; do
        [ -d "$d" ] && ! printf '%s\n' "$before" | grep -qxF "$d" && return 0
    done
    return 1
}
bkilled=0 whole=0
for pause in 0.05 0 0.15; do
    had=0; [ -f "$S/.public.prev/.folio-state" ] && had=1
    before=$(ls -d "$S"/.public.new-* 2>/dev/null)
    "$FOLIO_BIN" build -s "$S" >/dev/null 2>&1 &
    bp=$!
    for _ in $(seq 1 2000); do writing && break; kill -0 "$bp" 2>/dev/null || break; sleep 0.002; done
    sleep "$pause"
    kill -9 "$bp" 2>/dev/null
    wait "$bp" 2>/dev/null
    [ $? -eq 137 ] && bkilled=$((bkilled + 1))
    h=$(tree_hash "$S/public")
    { [ "$h" = "$old" ] || [ "$h" = "$new" ]; } && whole=$((whole + 1))
    echo "# build killed: left behind $(cd "$S" && ls -d .public.new-* .public.prev 2>/dev/null | tr '\n' ' ')"
done
if [ "$bkilled" -ge 1 ]; then t_ok "build was killed mid-way ($bkilled)"; else t_fail "build was killed mid-way" "it always finished first"; fi
t_expect "public/ is one whole build after each kill" 3 "$whole"
if "$FOLIO_BIN" build -s "$S" >"$T_DIR/build.out" 2>&1; then t_ok "the next build succeeds"; else t_fail "the next build succeeds" "$(cat "$T_DIR/build.out")"; fi
left=$(cd "$S" && ls -d .public.new-* 2>/dev/null | wc -l)
t_expect "no .public.new-* folders left behind" 0 "$left"
t_expect "the site is the new build" "$new" "$(tree_hash "$S/public")"
[ "$new" = "$(tree_hash "$S/public")" ] || diff -rq "$T_DIR/ref" "$S/public" | grep -v 'folio-' | head -n 20
if "$FOLIO_BIN" check -s "$S" >"$T_DIR/check" 2>&1; then t_ok "folio check is clean after the killed builds"; else t_fail "folio check after the killed builds" "$(head -n3 "$T_DIR/check")"; fi

t_done
