#!/usr/bin/env bash
# The owner's tools, end to end on a copy of the demo site: folio inbox
# (list, show, mark, --csv, --json), folio members (list, import with its
# refusals and idempotence, hide and unhide: a hidden name never reaches a
# public page, role), and check/replay agreeing with all of it.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"
T=$T_DIR
expect() { # expect NAME STATUS CMD...: output in $T/out
    name=$1 want=$2
    shift 2
    "$@" >"$T/out" 2>&1
    got=$?
    if [ "$got" -eq "$want" ]; then t_ok "$name"; else
        t_fail "$name" "exit $got, wanted $want: $(head -c 400 "$T/out")"
    fi
}
has() { t_contains "$1" "$3" "$2"; }
lacks() { if grep -rqiaF -- "$3" "$2"; then t_fail "$1" "'$3' found in $2"; else t_ok "$1"; fi; }

t_site
S=$T_SITE
F() { "$FOLIO_BIN" "$@" -s "$S"; }

for c in inbox members; do
    expect "folio $c --help" 0 "$FOLIO_BIN" "$c" --help
    has "folio $c --help says how" "$T/out" "usage: folio $c"
done
expect "a verb it does not know is a usage error" 2 F members promote x@example.org

# ---- the inbox ----------------------------------------------------------------
expect "a contact request" 0 F contact --name "Zoe Sender" --email zoe@example.org \
    --subject "A question, with a comma" --message "Hello there"
id=$(head -1 "$T/out")
expect "another" 0 F contact --name "Yan" --email yan@example.org --message "Second one"
expect "inbox lists them" 0 F inbox
t_expect "... newest first" "Yan" "$(head -1 "$T/out" | cut -f4)"
has "... with the address, for the owner" "$T/out" "zoe@example.org"
expect "inbox --csv" 0 F inbox --csv
has "... a header line" "$T/out" "id,received,status,name,email,subject,page"
has "... a field with a comma quoted" "$T/out" '"A question, with a comma"'
expect "inbox show" 0 F inbox show "$id"
has "... the message" "$T/out" "Hello there"
expect "inbox show of nothing" 1 F inbox show contact-nothing
expect "mark spam" 0 F inbox mark "$id" spam
expect "mark to a status off the list" 1 F inbox mark "$id" deleted
has "... says which" "$T/out" "status: must be new, handled, archived or spam"
expect "inbox --status spam --json" 0 F inbox --status spam --json
t_expect "... only the one marked" 1 "$(grep -c '"status":"spam"' "$T/out")"
expect "the mark is an event" 0 F events --type ContactRequestStatusChanged
has "... in the log" "$T/out" "spam"

# ---- members ------------------------------------------------------------------
printf 'email,name,joined\r\nann@example.org,Ann Imported,2024-03-01\nbob@example.org,"Bob ""the"" Hidden"\n' >"$T/ok.csv"
expect "import" 0 F members import "$T/ok.csv"
has "... counts" "$T/out" "imported 2, skipped 0"
expect "import again: idempotent" 0 F members import "$T/ok.csv"
has "... all skipped" "$T/out" "imported 0, skipped 2"
printf 'cy@example.org,Cy\nnot-an-address,Nobody\ndee@example.org\n' >"$T/bad.csv"
expect "a file with bad lines is refused whole" 1 F members import "$T/bad.csv"
has "... the bad address by line" "$T/out" "line 2: email: must be a valid e-mail address"
has "... the short line by line" "$T/out" "line 3: expected email,name[,joined]"
expect "members" 0 F members --csv
lacks "... nothing of the refused file" "$T/out" "cy@example.org"
has "... the joined date of the list" "$T/out" "2024-03-01"
has "public page shows an imported member" "$S/public/community/index.html" "Ann Imported"

expect "hide" 0 F members hide BOB@example.org
lacks "a hidden name is on no public page" "$S/public" 'Bob &quot;the&quot; Hidden'
lacks "... in no form" "$S/public" 'Bob "the" Hidden'
expect "members still lists them" 0 F members
has "... hidden" "$T/out" "yes"
expect "check: pages and projections agree" 0 F check
expect "replay" 0 F replay
lacks "... and a replay keeps them hidden" "$S/public" 'Bob &quot;the&quot; Hidden'
expect "unhide" 0 F members unhide bob@example.org
has "... the name is back" "$S/public/community/index.html" "Bob &quot;the&quot; Hidden"
expect "hide someone who is not a member" 1 F members hide nobody@example.org
expect "role owner" 0 F members role ann@example.org owner
expect "... a role off the list" 1 F members role ann@example.org admin
expect "members --json" 0 F members --json
has "... the role" "$T/out" '"role":"owner"'
lacks "no address on the public site" "$S/public" "ann@example.org"
expect "check at the end" 0 F check

t_done
