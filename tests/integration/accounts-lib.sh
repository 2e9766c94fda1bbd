# Shared by the members' account tests (sourced after lib.sh): the checks
# before they can run, the demo site served by nginx and folio-fcgi, and
# their helpers.
#   post PATH BODY [curl args...]  a same-origin form POST -> status
#   header NAME                    of the last answer
#   listed NAME                    yes/no: on /community/
#   cookie_of                      the session token the last answer set
command -v curl >/dev/null || { echo "curl missing (./quickstart test installs it)"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing: cannot read the mails"; exit 77; }
[ -x "$FOLIO_FCGI_BIN" ] || { echo "folio-fcgi not built (run make first)"; exit 1; }

t_site
export FOLIO_RATE_LIMIT=0
t_serve

FORM=application/x-www-form-urlencoded
post() {
    local p=$1 b=$2; shift 2
    t_status POST "$p" -H "Origin: $T_URL" -H "Content-Type: $FORM" --data-binary "$b" "$@"
}
header() { grep -i "^$1:" "$T_DIR/headers" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }
listed() { curl -s "$T_URL/community/" | grep -qF "$1" && echo yes || echo no; }
cookie_of() { sed -n 's/^[Ss]et-[Cc]ookie: folio=\([^;]*\);.*/\1/p' "$T_DIR/headers" | tr -d '\r' | head -n1; }
