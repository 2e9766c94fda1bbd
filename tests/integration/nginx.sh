#!/usr/bin/env bash
# The demo site served by the real nginx with the quickstart config:
# pages, pretty URLs, tags, sitemap, the site's own 404 page, headers.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

t_site
T_NO_FCGI=1 t_serve
pub=$T_SITE/public

project=$(cd "$pub" && ls -d projects/*/ | grep -v '^projects/page/' | head -n 1)
tag=$(cd "$pub" && ls -d tags/*/ | grep -v '^tags/page/' | head -n 1)
[ -n "$project" ] || t_fail "find a project page" "none in public/projects"
[ -n "$tag" ] || t_fail "find a tag page" "none in public/tags"

t_expect "GET / is 200" 200 "$(t_status GET /)"
t_contains "home page is the demo's" "<html" "$T_DIR/body"
t_expect "GET /$project is 200" 200 "$(t_status GET "/$project")"
cmp -s "$T_DIR/body" "$pub/${project}index.html" && t_ok "project page is the built file" ||
    t_fail "project page is the built file" "body differs"
t_expect "GET /${project%/} redirects to the slash form" 301 "$(t_status GET "/${project%/}")"
t_expect "GET /$tag is 200" 200 "$(t_status GET "/$tag")"
t_expect "GET /tags/ is 200" 200 "$(t_status GET /tags/)"
t_expect "GET /sitemap.xml is 200" 200 "$(t_status GET /sitemap.xml)"
t_contains "sitemap lists the project" "/$project</loc>" "$T_DIR/body"
grep -qi '^content-type: text/xml\|^content-type: application/xml' "$T_DIR/headers" &&
    t_ok "sitemap is served as XML" || t_fail "sitemap is served as XML" "$(grep -i content-type "$T_DIR/headers")"
t_expect "GET /index.xml (feed) is 200" 200 "$(t_status GET /index.xml)"
t_expect "GET /robots.txt is 200" 200 "$(t_status GET /robots.txt)"

t_expect "a missing page is 404" 404 "$(t_status GET /no/such/page/)"
cmp -s "$T_DIR/body" "$pub/404.html" && t_ok "404 answer is the site's 404 page" ||
    t_fail "404 answer is the site's 404 page" "body differs from 404.html"
t_expect "build bookkeeping is not served" 404 "$(t_status GET /.folio-deps)"

t_status GET / >/dev/null
for h in "content-security-policy: default-src 'self'" "x-content-type-options: nosniff" \
         "referrer-policy:" "frame-ancestors 'none'" "cache-control: no-cache"; do
    grep -qi -- "$h" "$T_DIR/headers" && t_ok "page header $h" || t_fail "page header $h" "missing"
done
css=$(cd "$pub" && find static css -name '*.css' 2>/dev/null | head -n 1)
[ -n "$css" ] || css=$(cd "$pub" && find . -name '*.css' | head -n 1 | sed 's|^\./||')
t_expect "GET /$css is 200" 200 "$(t_status GET "/$css" -H 'Accept-Encoding: gzip')"
grep -qi 'cache-control: public, max-age=' "$T_DIR/headers" && t_ok "assets are cacheable" ||
    t_fail "assets are cacheable" "no max-age"
if [ "$(stat -c %s "$pub/$css")" -ge 512 ]; then
    grep -qi 'content-encoding: gzip' "$T_DIR/headers" && t_ok "css is gzipped" ||
        t_fail "css is gzipped" "no gzip"
fi
t_done
