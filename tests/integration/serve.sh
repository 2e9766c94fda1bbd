#!/usr/bin/env bash
# folio serve, the author's preview: serves the built site (types, 404,
# redirects, no traversal), rebuilds after an edit, reports a broken
# template while serving the last good page, runs the forms into var/, and
# stops cleanly. Exit 0/1.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

command -v curl >/dev/null || { echo "curl missing (./quickstart test installs it)"; exit 1; }

t_site
# The site's own page template, over its theme's: the one edited below.
mkdir -p "$T_SITE/templates"
cp "$FOLIO_SRCDIR/themes/default/templates/page.mustache" "$T_SITE/templates/"
export FOLIO_RATE_LIMIT=0
cp -R "$T_SITE/public" "$T_DIR/public.before"
t_folio_serve

header() { grep -i "^$1:" "$T_DIR/headers" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }
body_has() { t_contains "$1" "$2" "$T_DIR/body"; }
body_lacks() {
    if grep -qF -- "$2" "$T_DIR/body"; then t_fail "$1" "'$2' in the body"; else t_ok "$1"; fi
}
# until NAME COND: waits up to 10 s for COND
until_ok() {
    if folio_wait_for "$2" 10; then t_ok "$1"; else t_fail "$1" "not within 10 s: $2"; fi
}
status_json() { curl -s "$T_URL/__folio/status"; }
OUT=$T_SITE/var/serve/public

# ---- start-up -----------------------------------------------------------------
t_contains "says it is for authoring only" "for authoring only, not for production" "$T_DIR/serve.log"
t_contains "the first build is logged" "folio serve: built" "$T_DIR/serve.log"
t_contains "a first serve prepares its second tree" "(preparing for fast rebuilds)" "$T_DIR/serve.log"
t_expect "base_url is the serve address" 1 \
    "$(grep -c "href=\"$T_URL/" "$OUT/index.html" | awk '{print ($1 > 0)}')"

# ---- static files -------------------------------------------------------------
t_expect "GET / is 200" 200 "$(t_status GET /)"
t_expect "HTML is text/html" "text/html; charset=utf-8" "$(header Content-Type)"
t_expect "Cache-Control: no-store" "no-store" "$(header Cache-Control)"
body_has "the reload script is added to served HTML" '<script src="/__folio/reload.js"'
if grep -rqF "__folio" "$OUT" "$T_SITE/public"; then
    t_fail "no reload script in the files on disk" "__folio found under $OUT or public/"
else
    t_ok "no reload script in the files on disk"
fi
t_expect "a stylesheet is 200" 200 "$(t_status GET /css/site.css)"
t_expect "a stylesheet is text/css" "text/css; charset=utf-8" "$(header Content-Type)"
body_lacks "CSS is served untouched" "__folio"
t_expect "an SVG is image/svg+xml" "image/svg+xml" \
    "$(t_status GET /favicon.svg >/dev/null; header Content-Type)"
etag=$(header ETag)
t_expect "If-None-Match with the ETag is 304" 304 \
    "$(t_status GET /favicon.svg -H "If-None-Match: $etag")"
t_expect "HEAD is 200" 200 "$(curl -s -o "$T_DIR/body" -w '%{http_code}' -I "$T_URL/")"
t_expect "the reload script is served" 200 "$(t_status GET /__folio/reload.js)"
body_has "the script listens to the event stream" "EventSource('/__folio/events')"
t_expect "a folder without its slash is redirected" 301 "$(t_status GET /projects)"
t_expect "... to the folder with its slash" "/projects/" "$(header Location)"
t_expect "a folder serves its index.html" 200 "$(t_status GET /projects/)"
t_expect "a missing page is 404" 404 "$(t_status GET /no/such/page/)"
body_has "the 404 is the site's own page" "Page not found"
body_has "the 404 page reloads too" "/__folio/reload.js"
t_expect "PUT is 405" 405 "$(t_status PUT /)"

# ---- nothing outside the built site ------------------------------------------
t_expect "/../ is refused" 404 "$(t_status GET /../folio.yml --path-as-is)"
t_expect "%2e%2e is refused" 404 "$(t_status GET /%2e%2e/folio.yml --path-as-is)"
t_expect "%2e%2e deeper is refused" 404 "$(t_status GET /css/%2e%2e/%2e%2e/%2e%2e/folio.yml --path-as-is)"
t_expect "encoded slashes do not help" 404 "$(t_status GET /..%2ffolio.yml --path-as-is)"
t_expect "dotfiles are not served" 404 "$(t_status GET /.folio-deps)"
ln -s "$T_SITE/folio.yml" "$OUT/leak.txt"
t_expect "a symlink out of the site is refused" 404 "$(t_status GET /leak.txt)"
body_lacks "... and shows nothing of it" "base_url"
rm -f "$OUT/leak.txt"

# ---- the event stream ---------------------------------------------------------
curl -sN "$T_URL/__folio/events" >"$T_DIR/events" 2>/dev/null &
events_pid=$!
until_ok "the event stream says hello" "grep -q '^event: hello' '$T_DIR/events'"

# ---- rebuild on save -----------------------------------------------------------
sed -i 's/^title:.*/title: "Edited while serving"/' "$T_SITE/content/about.md"
until_ok "an edit is rebuilt and served" \
    "curl -s '$T_URL/about/' | grep -q 'Edited while serving'"
until_ok "the open page is told to reload" "grep -q '^event: reload' '$T_DIR/events'"
t_contains "the rebuild names the file" "content/about.md changed" "$T_DIR/serve.log"
mkdir -p "$T_SITE/content/notes"
printf -- '---\ntitle: "A new folder"\n---\n\nWritten in a folder made while serving.\n' \
    >"$T_SITE/content/notes/fresh.md"
until_ok "a page in a new folder appears" \
    "curl -s '$T_URL/notes/fresh/' | grep -q 'made while serving'"
printf -- '---\ntitle: "Deeper"\n---\n\nDeeper still.\n' >"$T_SITE/content/notes/later.md"
until_ok "the new folder is watched too" \
    "curl -s '$T_URL/notes/later/' | grep -q 'Deeper still'"
# Rebuilds take the unchanged pages from the site served until then and
# read only the files the watcher named: saves by rename, deletions and
# renames must all be seen.
printf -- '---\ntitle: "Saved by rename"\n---\n\nAn editor writes a temporary file.\n' \
    >"$T_SITE/content/notes/.fresh.md.swp"
mv "$T_SITE/content/notes/.fresh.md.swp" "$T_SITE/content/notes/fresh.md"
until_ok "a save by rename is rebuilt" \
    "curl -s '$T_URL/notes/fresh/' | grep -q 'a temporary file'"
body_before=$(curl -s "$T_URL/about/")
case "$body_before" in *"Edited while serving"*) t_ok "... and the other pages are kept" ;;
    *) t_fail "... and the other pages are kept" "/about/ lost its edit" ;; esac
# A body-only edit: the site served builds again with the new bytes.
printf '\nA line added to the body.\n' >>"$T_SITE/content/notes/later.md"
until_ok "a body edit is rebuilt" \
    "curl -s '$T_URL/notes/later/' | grep -q 'A line added to the body'"
t_expect "... and its title is kept" 1 "$(curl -s "$T_URL/notes/later/" | grep -c '<title>Deeper')"
mv "$T_SITE/content/notes/later.md" "$T_SITE/content/notes/renamed.md"
until_ok "a renamed page moves" \
    "curl -s '$T_URL/notes/renamed/' | grep -q 'Deeper still'"
until_ok "... and its old address is gone" "[ \$(t_status GET /notes/later/) = 404 ]"
rm "$T_SITE/content/notes/renamed.md"
until_ok "a deleted page is gone" "[ \$(t_status GET /notes/renamed/) = 404 ]"
t_expect "the site's public/ is untouched" "" "$(diff -r "$T_DIR/public.before" "$T_SITE/public" 2>&1 | head -n1)"

# ---- a broken template ---------------------------------------------------------
cp "$T_SITE/templates/page.mustache" "$T_DIR/page.mustache.good"
printf '{{#unclosed}}\n' >>"$T_SITE/templates/page.mustache"
until_ok "the build error is reported" "status_json | grep -q '\"ok\":false'"
status_json >"$T_DIR/body"
body_has "the error names the template" '"file":"templates/page.mustache"'
body_has "the error names the line" '"line":'
until_ok "the event stream carries the error" "grep -q '^event: build-error' '$T_DIR/events'"
t_contains "the error event has file and line" '"file":"templates/page.mustache","line":' "$T_DIR/events"
t_expect "the last good page is still served" 200 "$(t_status GET /about/)"
body_has "... with its last good text" "Edited while serving"
t_contains "the failure is logged" "build failed (templates/page.mustache changed)" "$T_DIR/serve.log"
cp "$T_DIR/page.mustache.good" "$T_SITE/templates/page.mustache"
until_ok "a fixed template builds again" "status_json | grep -q '\"ok\":true'"

# ---- folio.yml -------------------------------------------------------------------
sed -i 's/^title:.*/title: "Retitled while serving"/' "$T_SITE/folio.yml"
until_ok "an edit of folio.yml is rebuilt" \
    "curl -s '$T_URL/' | grep -q 'Retitled while serving'"

# ---- the forms, into the site's var/ --------------------------------------------
FORM=application/x-www-form-urlencoded
post() { # PATH BODY [curl args]
    local p=$1 b=$2; shift 2
    t_status POST "$p" -H "Origin: $T_URL" -H "Content-Type: $FORM" --data-binary "$b" "$@"
}
count_events() {
    "$FOLIO_BIN" events -s "$T_SITE" --json --type "$1" 2>/dev/null | grep -c '"type"' || true
}
t_expect "POST /contact is 303" 303 \
    "$(post /contact "name=Ada+Lovelace&email=ada%40example.org&message=Hello+from+folio+serve.")"
t_expect "... to the thanks page" /contact/thanks/ "$(header Location)"
t_expect "the contact is in the site's event log" 1 "$(count_events ContactRequestSubmitted)"
t_expect "a cross-site post is refused" 403 \
    "$(t_status POST /contact -H "Origin: http://evil.example" -H "Content-Type: $FORM" --data 'name=x')"
t_expect "an invalid form is 422" 422 \
    "$(post /contact "name=Bo&email=not-an-address&message=Hello+there." -H 'Accept: application/json')"
body_has "the 422 names the field" '"errors":{"email":'
t_expect "an invalid form (HTML) is the form page" 422 \
    "$(post /contact "name=%3Cb%3EBo%3C%2Fb%3E&email=nope&message=Hello+there.")"
body_has "... with the error beside the field" 'id="email-error"'
body_has "... and what was typed, escaped" '&lt;b&gt;Bo&lt;/b&gt;'
t_expect "GET /contact is 405" 405 "$(t_status GET /contact)"
reloads_before=$(grep -c '^event: reload' "$T_DIR/events")
t_expect "POST /register is 303" 303 \
    "$(post /register "email=grace%40example.org&display_name=Grace+Serving&password=correct-horse-battery")"
t_expect "... to check the inbox, as under folio-fcgi" /register/check/ "$(header Location)"
t_expect "not listed before the link is followed" 0 "$(curl -s "$T_URL/community/" | grep -c "Grace Serving")"
link=$(t_link verify grace@example.org verify) && t_ok "the verification mail is in the outbox" ||
    t_fail "the verification mail is in the outbox" "$(ls "$T_SITE/var/mail" 2>&1)"
t_expect "the link confirms" 303 "$(t_status GET "$link")"
t_expect "... to the welcome page" /register/welcome/ "$(header Location)"
t_expect "the link works once" 400 "$(t_status GET "$link")"
t_expect "a forged link is refused" 400 "$(t_status GET "/verify?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")"
t_expect "the community page shows the member" 200 "$(t_status GET /community/)"
body_has "... by name" "Grace Serving"
body_lacks "... never by address" "grace@example.org"
until_ok "the open pages are told to reload" \
    "[ \$(grep -c '^event: reload' '$T_DIR/events') -gt $reloads_before ]"
t_expect "signing up twice: the same 303 (nothing told)" 303 \
    "$(post /register "email=grace%40example.org&display_name=Grace+Again&password=correct-horse-battery")"
until_ok "... and an 'already' mail to the member" "[ \$(t_mails already grace@example.org) -eq 1 ]"
if grep -qF "grace@example.org" "$T_DIR/serve.log"; then
    t_fail "no visitor address in serve's output" "found in serve.log"
else
    t_ok "no visitor address in serve's output"
fi

# ---- a second serve on the same port, --bind ----------------------------------------
port=${T_URL##*:}
"$FOLIO_BIN" serve -s "$T_SITE" --port "$port" >"$T_DIR/serve2.log" 2>&1
t_expect "a port in use is an error" 1 "$?"
t_contains "... that says so" "Address already in use" "$T_DIR/serve2.log"
"$FOLIO_BIN" serve -s "$T_SITE" --port 0 >"$T_DIR/serve2.log" 2>&1
t_expect "a second serve of one site is an error" 1 "$?"
t_contains "... that says so" "another folio serve is running" "$T_DIR/serve2.log"
# Another site, with a draft: --drafts, --bind.
"$FOLIO_BIN" new -s "$T_SITE" notes/a-draft >/dev/null
until_ok "a new draft is rebuilt" "grep -q 'built .*(content/notes/a-draft.md changed)' '$T_DIR/serve.log'"
mkdir "$T_DIR/site2"
cp -R "$T_SITE/folio.yml" "$T_SITE/content" "$T_SITE/templates" "$T_SITE/static" "$T_DIR/site2/"
"$FOLIO_BIN" serve -s "$T_DIR/site2" --port 0 --bind 0.0.0.0 --drafts >"$T_DIR/serve3.log" 2>&1 &
pid3=$!
folio_wait_for "grep -q 'serving http' '$T_DIR/serve3.log'" 20
t_contains "--bind 0.0.0.0 warns" "warning: listening on 0.0.0.0" "$T_DIR/serve3.log"
url3=$(sed -n 's|.*serving http://[^:]*:\([0-9]*\)/ .*|http://127.0.0.1:\1|p' "$T_DIR/serve3.log")
t_expect "--drafts serves drafts" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$url3/notes/a-draft/")"
t_expect "without --drafts there are none" 404 "$(t_status GET /notes/a-draft/)"
kill -INT "$pid3"
wait "$pid3"
t_expect "Ctrl-C stops it with status 0" 0 "$?"

# ---- a clean stop, with a stream open ---------------------------------------------
t_folio_serve_stop
t_expect "SIGTERM stops serve with status 0" 0 "$T_SERVE_RC"
t_contains "it says it is stopping" "folio serve: stopping" "$T_DIR/serve.log"
folio_wait_for "! kill -0 $events_pid" 5
if kill -0 "$events_pid" 2>/dev/null; then
    kill "$events_pid"; t_fail "the event stream ends at stop" "still open"
else
    t_ok "the event stream ends at stop"
fi

# ---- an edit made while serve was stopped ---------------------------------------
# The next serve must not take the state the last one left for the truth:
# no watcher saw this edit.
sed -i 's/^title:.*/title: "Edited while stopped"/' "$T_SITE/content/about.md"
t_folio_serve
t_expect "a page edited while serve was stopped is rebuilt" 200 "$(t_status GET /about/)"
body_has "... with the edit" "Edited while stopped"
echo "touch" >>"$T_SITE/content/notes/fresh.md"
until_ok "and the next edit after it too" \
    "grep -c 'notes/fresh.md changed' '$T_DIR/serve.log' | grep -q '^[1-9]'"
body_before=$(curl -s "$T_URL/about/")
case "$body_before" in *"Edited while stopped"*) t_ok "... keeping the edit made while stopped" ;;
    *) t_fail "... keeping the edit made while stopped" "lost" ;; esac
t_folio_serve_stop
t_done
