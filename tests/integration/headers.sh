#!/usr/bin/env bash
# The nginx snippets as a visitor meets them: dotfiles refused before the
# asset and feed rules can serve them (only /.well-known/ passes), every
# header once on pages, assets, feeds, error pages and folio-fcgi's answers,
# and HSTS, once enabled as the snippet says, on all of them.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

command -v curl >/dev/null || { echo "curl missing (./quickstart test installs it)"; exit 1; }
[ -x "$FOLIO_FCGI_BIN" ] || { echo "folio-fcgi not built (run make first)"; exit 1; }

t_site
# The snippets with HSTS turned on the way the comment in them says.
cp -R "$FOLIO_SRCDIR/nginx" "$T_DIR/nginx"
sed -i 's|^#add_header Strict-Transport-Security|add_header Strict-Transport-Security|' \
    "$T_DIR/nginx/folio-security-headers.conf"
grep -q '^add_header Strict-Transport-Security' "$T_DIR/nginx/folio-security-headers.conf" ||
    t_fail "HSTS line in the headers snippet" "no commented add_header Strict-Transport-Security to enable"
FOLIO_NGINX_DIR=$T_DIR/nginx

# Things a careless deploy leaves in static/, and the build's own bookkeeping.
mkdir -p "$T_SITE/static/.hidden" "$T_SITE/static/.well-known" "$T_SITE/static/.git"
echo 'body{}' > "$T_SITE/static/.hidden/x.css"
echo 'var secret = 1;' > "$T_SITE/static/.env.js"
echo 'SECRET=1' > "$T_SITE/static/.env"
echo '[core]' > "$T_SITE/static/.git/config"
printf 'Contact: mailto:security@example.org\nExpires: 2030-01-01T00:00:00Z\n' \
    > "$T_SITE/static/.well-known/security.txt"
"$FOLIO_BIN" build -s "$T_SITE" -o "$T_SITE/public" >"$T_DIR/build.log" 2>&1 ||
    { cat "$T_DIR/build.log"; t_fail "build" "failed"; t_done; }
echo '<deps/>' > "$T_SITE/public/.folio-deps.xml"
export FOLIO_RATE_LIMIT=0
t_serve

for p in /.hidden/x.css /.env.js /.env /.git/config /.folio-deps.xml /.folio-deps \
         /.well-known/../.env.js /.well-known/.hidden/x.css /css/.hidden.css; do
    t_expect "dotfile $p is refused" 404 "$(t_status GET "$p")"
    grep -q 'secret\|SECRET\|core\|deps' "$T_DIR/body" && t_fail "dotfile $p body" "its content was served"
done
t_expect "/.well-known/security.txt is served" 200 "$(t_status GET /.well-known/security.txt)"
t_contains "security.txt is the site's" "Contact: mailto:security@example.org" "$T_DIR/body"

# once NAME HEADER: HEADER appears exactly once in $T_DIR/headers
once() {
    local n; n=$(grep -ci "^$2:" "$T_DIR/headers")
    t_expect "$1: $2 once" 1 "$n"
}
css=$(cd "$T_SITE/public" && find . -name '*.css' ! -path './.*' | head -n 1 | sed 's|^\./|/|')
ORIGIN=$T_URL
check_all() { # NAME STATUS-WANTED STATUS-GOT
    t_expect "$1 answers $2" "$2" "$3"
    for h in X-Content-Type-Options Cache-Control Content-Security-Policy \
             Referrer-Policy X-Frame-Options Strict-Transport-Security; do
        once "$1" "$h"
    done
}
check_all "a page" 200 "$(t_status GET /)"
check_all "an asset" 200 "$(t_status GET "$css")"
check_all "the sitemap" 200 "$(t_status GET /sitemap.xml)"
check_all "a missing page" 404 "$(t_status GET /no/such/page/)"
check_all "/health" 200 "$(t_status GET /health)"
check_all "a contact form answer" 303 "$(t_status POST /contact -H "Origin: $ORIGIN" \
    -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-binary 'name=Ada&email=ada%40example.org&message=Hello+from+the+header+test.')"
check_all "a refused form" 422 "$(t_status POST /contact -H "Origin: $ORIGIN" \
    -H 'Content-Type: application/x-www-form-urlencoded' --data-binary 'name=Ada')"
grep -qi '^cache-control: no-store' "$T_DIR/headers" && t_ok "form answers are not stored" ||
    t_fail "form answers are not stored" "$(grep -i cache-control "$T_DIR/headers")"
t_done
