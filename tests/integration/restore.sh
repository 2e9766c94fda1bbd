#!/usr/bin/env bash
# folio restore: a backup goes back in place of the event store, after
# checks that refuse anything that is not one; the store it replaces is
# kept; a running folio-fcgi makes it refuse unless --force.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

[ -x "$FOLIO_FCGI_BIN" ] || { echo "folio-fcgi not built (run make first)"; exit 1; }
t_site
S=$T_SITE
events() { "$FOLIO_BIN" events -s "$S" --json 2>/dev/null | grep -c '"type"' || true; }
contact() {
    "$FOLIO_BIN" contact -s "$S" --name "Ada $1" --email "ada$1@example.org" \
        --message "Message number $1 for the restore test." >/dev/null
}
contact 1; contact 2
"$FOLIO_BIN" backup -s "$S" "$T_DIR/good.db" >/dev/null || t_fail "backup" "failed"
t_expect "the backup is 0600" 600 "$(stat -c %a "$T_DIR/good.db")"
contact 3
t_expect "three events before the restore" 3 "$(events)"

refused() { # NAME FILE NEEDLE
    if "$FOLIO_BIN" restore -s "$S" "$2" >"$T_DIR/out" 2>&1; then
        t_fail "$1" "restore accepted it"
    else
        t_contains "$1" "$3" "$T_DIR/out"
    fi
    t_expect "$1: the store is untouched" 3 "$(events)"
}
echo "not a database" > "$T_DIR/notes.txt"
refused "a text file is refused" "$T_DIR/notes.txt" "not a folio backup: not an SQLite database"
refused "a missing file is refused" "$T_DIR/nope.db" "No such file"
python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table t(x)'); c.commit()" "$T_DIR/other.db"
refused "someone else's SQLite file is refused" "$T_DIR/other.db" "without folio's event log"
head -c 8192 "$T_DIR/good.db" > "$T_DIR/cut.db"
refused "a truncated backup is refused" "$T_DIR/cut.db" "cut.db"
ls "$S/var" | grep -q 'restore-' && t_fail "no copy left behind" "$(ls "$S/var")" || t_ok "no copy left behind"

# While folio-fcgi has the store open.
t_serve
refused "restore while folio-fcgi runs is refused" "$T_DIR/good.db" "stop it first"
folio_local_stop

"$FOLIO_BIN" restore -s "$S" "$T_DIR/good.db" >"$T_DIR/out" 2>&1 && t_ok "restore a good backup" ||
    { cat "$T_DIR/out"; t_fail "restore a good backup" "refused"; }
t_contains "it says how many events" "(2 events" "$T_DIR/out"
t_expect "the store is the backup's" 2 "$(events)"
kept=$(ls "$S/var" | grep 'folio.db.before-restore-' | head -n 1)
[ -n "$kept" ] && t_ok "the replaced store is kept" || t_fail "the replaced store is kept" "$(ls "$S/var")"
t_expect "the kept copy is 0600" 600 "$(stat -c %a "$S/var/$kept" 2>/dev/null)"
t_expect "folio.db is 0600" 600 "$(stat -c %a "$S/var/folio.db")"
"$FOLIO_BIN" check -s "$S" >"$T_DIR/check" 2>&1 && t_ok "folio check passes after a build" ||
    { "$FOLIO_BIN" build -s "$S" -o "$S/public" >/dev/null 2>&1;
      "$FOLIO_BIN" check -s "$S" >"$T_DIR/check" 2>&1 && t_ok "folio check passes after a build" ||
      t_fail "folio check passes after a build" "$(cat "$T_DIR/check")"; }
contact 4
t_expect "the restored store takes new events" 3 "$(events)"

# --force with folio-fcgi running: restored, and a restart serves it.
t_serve
"$FOLIO_BIN" restore -s "$S" --force "$T_DIR/good.db" >"$T_DIR/out" 2>&1 && t_ok "restore --force" ||
    t_fail "restore --force" "$(cat "$T_DIR/out")"
folio_local_stop
t_expect "after --force the store is the backup's" 2 "$(events)"
t_done
