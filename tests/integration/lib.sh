# folio integration tests: shared set-up. Source it from a bash test:
#
#   . "$FOLIO_SRCDIR/tests/integration/lib.sh"
#   t_site                       copy of the demo site in $T_SITE, built into $T_SITE/public
#   t_serve [fcgi args...]       nginx + folio-fcgi for it on $T_URL (a free loopback port)
#   t_ok NAME / t_fail NAME MSG  record a result;  t_expect NAME WANT GOT
#   t_done                       prints "N passed, N failed", exits 0 or 1
#
# Everything lives under one temp dir, removed at exit (kept when a test
# failed and FOLIO_KEEP=1).

set -u
: "${FOLIO_SRCDIR:?run through make check}" "${FOLIO_BIN:?}" "${FOLIO_FCGI_BIN:=}"
FOLIO_NGINX_DIR=$FOLIO_SRCDIR/nginx
. "$FOLIO_SRCDIR/nginx/local.sh"

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/folio-test.XXXXXX")
T_PASS=0 T_FAIL=0
export FOLIO_FCGI_LOG=$T_DIR/fcgi.log

t_cleanup() {
    folio_local_stop
    smtp_sink_stop
    if [ "$T_FAIL" -gt 0 ] && [ "${FOLIO_KEEP:-0}" = 1 ]; then
        echo "kept $T_DIR" >&2
    else
        rm -rf "$T_DIR"
    fi
}
trap t_cleanup EXIT
trap 'exit 1' INT TERM

t_ok() { T_PASS=$((T_PASS + 1)); echo "ok - $1"; }
t_fail() { T_FAIL=$((T_FAIL + 1)); echo "FAIL - $1: $2"; }
t_expect() {
    if [ "$2" = "$3" ]; then t_ok "$1"; else t_fail "$1" "expected '$2', got '$3'"; fi
}
# t_contains NAME NEEDLE FILE
t_contains() {
    if grep -qF -- "$2" "$3"; then t_ok "$1"; else t_fail "$1" "'$2' not in $3"; fi
}
t_done() {
    if [ "$T_FAIL" -gt 0 ] && [ -s "$FOLIO_FCGI_LOG" ]; then
        echo "--- folio-fcgi log (last 20 lines)"; tail -n 20 "$FOLIO_FCGI_LOG"
    fi
    if [ "$T_FAIL" -gt 0 ] && [ -f "$T_DIR/run/nginx-error.log" ]; then
        echo "--- nginx error log (last 20 lines)"; tail -n 20 "$T_DIR/run/nginx-error.log"
    fi
    echo "$T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ]
    exit $?
}

# A copy of the demo site (folio.yml, content, static; the default theme
# by reference, as `folio init --demo` makes it), built.
t_site() {
    T_SITE=$T_DIR/site
    mkdir -p "$T_SITE"
    cp -R "$FOLIO_SRCDIR/folio.yml" "$FOLIO_SRCDIR/content" "$FOLIO_SRCDIR/static" "$T_SITE/"
    "$FOLIO_BIN" build -s "$T_SITE" -o "$T_SITE/public" >"$T_DIR/build.log" 2>&1 || {
        cat "$T_DIR/build.log"; t_fail "build the demo site" "folio build failed"; t_done; }
}

# nginx (and folio-fcgi unless T_NO_FCGI=1) on a free port for $T_SITE.
t_serve() {
    T_PORT=$(folio_free_port)
    T_URL=http://127.0.0.1:$T_PORT
    # Form posts must come from the site's own origin: point base_url here.
    sed -i "s|^base_url:.*|base_url: \"$T_URL/\"|" "$T_SITE/folio.yml"
    FOLIO_ACCESS_LOG=off folio_local_setup "$T_DIR/run" "$T_SITE" "$T_SITE/public" "$T_PORT"
    if [ "${T_NO_FCGI:-0}" != 1 ]; then
        folio_local_start_fcgi "$@" || { t_fail "start folio-fcgi" "see log"; t_done; }
    fi
    folio_local_start_nginx || { t_fail "start nginx" "see log"; t_done; }
}

# t_status METHOD PATH [curl args...] -> prints the HTTP status; body in $T_DIR/body
t_status() {
    local m=$1 p=$2; shift 2
    curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -X "$m" "$@" "$T_URL$p"
}

# ---- folio serve ------------------------------------------------------------
# t_folio_serve [serve args...]: `folio serve -s $T_SITE --port 0 ...` in the
# background; $T_URL is where it answers (read from its first lines),
# $T_SERVE_PID its pid, $T_DIR/serve.log its output; returns once it is
# idle (no build running). Stopped at exit.
T_SERVE_PID=
t_folio_serve_stop() {
    [ -n "$T_SERVE_PID" ] || return 0
    kill -TERM "$T_SERVE_PID" 2>/dev/null
    folio_wait_for "! kill -0 $T_SERVE_PID" 10 || kill -KILL "$T_SERVE_PID" 2>/dev/null
    wait "$T_SERVE_PID" 2>/dev/null
    T_SERVE_RC=$?
    T_SERVE_PID=
    return 0
}
t_folio_serve() {
    # emptied here, not only by the child's redirection: a wait that ran
    # first would read the last serve's 'serving' line and an empty URL
    : >"$T_DIR/serve.log"
    "$FOLIO_BIN" serve -s "$T_SITE" --port 0 "$@" >"$T_DIR/serve.log" 2>&1 &
    T_SERVE_PID=$!
    trap 't_folio_serve_stop; t_cleanup' EXIT
    if ! folio_wait_for "grep -q 'serving http' '$T_DIR/serve.log'" 20; then
        cat "$T_DIR/serve.log"; t_fail "start folio serve" "no 'serving' line"; t_done
    fi
    T_URL=$(sed -n 's|.*serving \(http://[^/]*\)/ .*|\1|p' "$T_DIR/serve.log" | head -n1)
    # A first serve of a site builds once more at start (its second tree).
    folio_wait_for "curl -s '$T_URL/__folio/status' | grep -q '\"busy\":false'" 90 ||
        { tail -n 20 "$T_DIR/serve.log"; curl -s "$T_URL/__folio/status"; echo
          t_fail "folio serve settles" "still building after 90 s"; t_done; }
}

# The programs a test that serves the site needs, or it cannot run.
t_need_fcgi() {
    command -v curl >/dev/null || { echo "curl missing (./quickstart test installs it)"; exit 1; }
    [ -x "$FOLIO_FCGI_BIN" ] || { echo "folio-fcgi not built (run make first)"; exit 1; }
}

# ---- a local SMTP server (tests/integration/smtp_sink.py, aiosmtpd) ----
#   smtp_sink_python             prints a python3 that has aiosmtpd, or fails
#   smtp_sink_start DIR [--reject-all|--tempfail|--discard]
#                                starts it on a free loopback port (or on
#                                $SMTP_SINK_PORT, to come back where it was): sets
#                                SMTP_PORT and SMTP_URL (smtp://127.0.0.1:PORT);
#                                messages land in DIR as NNNNNN.eml + .rcpt
#   smtp_sink_stop               stops it (t_cleanup does too, at exit)
SMTP_SINK_PID=
smtp_sink_python() {
    local py
    for py in /usr/bin/python3 python3; do
        if command -v "$py" >/dev/null 2>&1 &&
            "$py" -c 'import aiosmtpd' >/dev/null 2>&1; then
            echo "$py"; return 0
        fi
    done
    return 1
}
smtp_sink_start() {
    local dir=$1 py; shift
    py=$(smtp_sink_python) || { echo "no python3 with aiosmtpd" >&2; return 1; }
    mkdir -p "$dir"
    smtp_sink_stop
    "$py" "$FOLIO_SRCDIR/tests/integration/smtp_sink.py" "${SMTP_SINK_PORT:-0}" "$dir" "$@" \
        >"$dir.ready" 2>"$dir.log" &
    SMTP_SINK_PID=$!
    folio_wait_for "grep -q '^READY' '$dir.ready'" 10 || {
        cat "$dir.log" >&2; smtp_sink_stop; return 1; }
    SMTP_PORT=$(sed -n 's/^READY //p' "$dir.ready")
    SMTP_URL=smtp://127.0.0.1:$SMTP_PORT
}
smtp_sink_stop() {
    [ -n "$SMTP_SINK_PID" ] || return 0
    kill "$SMTP_SINK_PID" 2>/dev/null
    wait "$SMTP_SINK_PID" 2>/dev/null
    SMTP_SINK_PID=
}

# ---- members' mail in the outbox ($T_SITE/var/mail/) ----
#   t_mails KIND [ADDR]          how many KIND mails (verify, already, ...) the outbox holds (to ADDR)
#   t_link KIND ADDR PATH        waits (10 s) for a KIND mail to ADDR and prints the newest
#                                link in it to PATH (e.g. verify), from its path on
t_mails() {
    local n=0 f
    for f in "$T_SITE"/var/mail/*-"$1".eml; do
        [ -e "$f" ] || continue
        if [ -z "${2:-}" ] || grep -qi "^To: .*$2" "$f"; then n=$((n + 1)); fi
    done
    echo "$n"
}
t_link() {
    local kind=$1 addr=$2 path=$3
    folio_wait_for "[ \$(t_mails $kind $addr) -gt 0 ]" 10 || return 1
    python3 - "$T_SITE/var/mail" "$kind" "$addr" "$path" <<'PY'
import email, glob, os, re, sys
d, kind, addr, path = sys.argv[1:5]
found = None
for f in sorted(glob.glob(os.path.join(d, "*-%s.eml" % kind))):
    m = email.message_from_binary_file(open(f, "rb"))
    if addr.lower() not in m["To"].lower():
        continue
    for part in m.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True).decode()
            hit = re.findall(r"https?://[^/\s]+(/%s[^\s]*)" % re.escape(path), text)
            if hit:
                found = hit[-1]
if not found:
    sys.exit(1)
print(found)
PY
}
