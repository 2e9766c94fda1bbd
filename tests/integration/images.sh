#!/bin/bash
# Page bundles, covers and responsive images, link previews: a bundle is
# published at its folder's URL with its files, its relative links
# resolve; covers and Markdown images get variants at the right widths and
# formats, with srcset, sizes, width, height and lazy loading in the HTML;
# a second build takes them from the cache; an undecodable image or a
# missing cover fails naming the file; Open Graph tags and JSON-LD (valid,
# with no "</" in it) are on the pages.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 makes the images"; exit 77; }
T=$T_DIR
t_site
S=$T_SITE
B=$S/content/projects/lamp

img() { python3 "$FOLIO_SRCDIR/tests/integration/images.py" "$@"; }

mkdir -p "$B"
img png "$B/photo.png" 2000 1000 1
img png "$B/detail.png" 300 200 2
echo "%PDF-1.4 a CV" >"$B/cv.pdf"
cat >"$B/index.md" <<'EOF'
---
title: "The lamp </script><!-- & co"
date: 2025-03-01
summary: "A lamp made of a jar."
cover: photo.png
cover_alt: "The lamp, lit"
tags: [craft]
---
The jar: ![A lamp](photo.png)

A detail: ![Detail](detail.png), and [my CV](cv.pdf).
EOF
build() { "$FOLIO_BIN" build -s "$S" "$@" >"$T/build.log" 2>&1; }
build || { cat "$T/build.log"; t_fail "build with a bundle" "failed"; t_done; }
t_ok "a site with a page bundle builds"
P=$S/public/projects/lamp
[ -f "$P/index.html" ] && [ ! -e "$S/public/projects/lamp/index/index.html" ] &&
    t_ok "the bundle is the page /projects/lamp/" || t_fail "bundle URL" "$(find "$S/public/projects/lamp" | head)"
cmp -s "$P/photo.png" "$B/photo.png" && cmp -s "$P/cv.pdf" "$B/cv.pdf" &&
    t_ok "the bundle's files are published beside the page" || t_fail "bundle files" "$(ls "$P")"
grep -q 'lamp' "$T/build.log" && grep 'warning' "$T/build.log" | grep -q lamp &&
    t_fail "relative links" "$(grep lamp "$T/build.log")" || t_ok "the bundle's relative links resolve"
grep -q 'href="cv.pdf"' "$P/index.html" && t_ok "a link to a bundle file stays relative" ||
    t_fail "cv link" "not in the page"

# variants: widths and formats
H=$(sha=$(grep -o '/_img/[0-9a-f]*-1600.png' "$P/index.html" | head -1); basename "$sha" -1600.png)
D=$(grep -o '/_img/[0-9a-f]*-300.png' "$P/index.html" | head -1 | xargs -r basename | sed 's/-300.png//')
got=""
for f in "$H-480.png" "$H-960.png" "$H-1600.png" "$H-480.webp" "$H-960.webp" "$H-1600.webp" \
         "$D-300.png" "$D-300.webp"; do
    got="$got $(img size "$S/public/_img/$f" 2>/dev/null || echo missing)"
done
t_expect "cover variants: 480, 960, 1600 in PNG and WebP; a small image is not upscaled" \
    " png 480 png 960 png 1600 webp 480 webp 960 webp 1600 png 300 webp 300" "$got"
n=$(ls "$S/public/_img" | wc -l)
t_expect "no other variants published" 8 "$n"

# the HTML
grep -q "<picture class=\"cover project__cover\">" "$P/index.html" &&
grep -q "srcset=\"/_img/$H-480.webp 480w, /_img/$H-960.webp 960w, /_img/$H-1600.webp 1600w\"" "$P/index.html" &&
grep -q "<img src=\"/_img/$H-1600.png\" srcset=\"/_img/$H-480.png 480w, /_img/$H-960.png 960w, /_img/$H-1600.png 1600w\" sizes=\"[^\"]*\" width=\"1600\" height=\"800\" alt=\"The lamp, lit\" decoding=\"async\">" "$P/index.html" &&
    t_ok "the cover: picture, WebP source, srcset, sizes, width, height, not lazy" ||
    t_fail "cover HTML" "$(grep -A3 'project__cover' "$P/index.html")"
grep -q "<img src=\"/_img/$H-1600.png\" [^>]*width=\"1600\" height=\"800\" loading=\"lazy\" decoding=\"async\" alt=\"A lamp\" />" "$P/index.html" &&
grep -q "<img src=\"/_img/$D-300.png\" srcset=\"/_img/$D-300.png 300w\" [^>]*width=\"300\" height=\"200\" loading=\"lazy\"" "$P/index.html" &&
    t_ok "Markdown images: picture, srcset, width, height, lazy (the cover comes first)" ||
    t_fail "Markdown images" "$(grep -o '<picture><source[^€]*</picture>' "$P/index.html" | head -3)"
grep -q "card__cover" "$S/public/projects/index.html" &&
grep -A3 card__cover "$S/public/projects/index.html" | grep -q "/_img/$H-480.png 480w.*loading=\"lazy\"" &&
    t_ok "the projects list's card shows the cover, lazily" ||
    t_fail "card cover" "$(grep -A3 card__cover "$S/public/projects/index.html")"

# the cache
stat -c '%n %Y %i' "$S"/var/cache/images/* >"$T/cache1"
sleep 1.1
build --full || { cat "$T/build.log"; t_fail "second build" "failed"; }
stat -c '%n %Y %i' "$S"/var/cache/images/* >"$T/cache2"
cmp -s "$T/cache1" "$T/cache2" && t_ok "a second build takes every variant from the cache" ||
    t_fail "cache" "$(diff "$T/cache1" "$T/cache2" | head)"

# link previews
base=$(sed -n 's/^base_url: *"\(.*\)"/\1/p' "$S/folio.yml")
grep -q "<meta property=\"og:image\" content=\"${base}_img/$H-1600.png\">" "$P/index.html" &&
grep -q '<meta name="twitter:card" content="summary_large_image">' "$P/index.html" &&
grep -q "<meta property=\"og:url\" content=\"${base}projects/lamp/\">" "$P/index.html" &&
grep -q '<meta property="og:type" content="article">' "$P/index.html" &&
grep -q '<meta property="og:title" content="The lamp &lt;/script&gt;&lt;!-- &amp; co">' "$P/index.html" &&
    t_ok "Open Graph and Twitter card tags, og:image absolute" ||
    t_fail "og tags" "$(grep -E 'og:|twitter:' "$P/index.html")"
grep -q '<meta name="twitter:card" content="summary">' "$S/public/about/index.html" &&
    ! grep -q 'og:image' "$S/public/about/index.html" &&
    t_ok "a page without a cover: summary card, no og:image" || t_fail "no cover" "og:image or card wrong"
ld=$(img jsonld "$P/index.html") &&
echo "$ld" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(not (d["@type"]=="CreativeWork" and d["name"]=="The lamp </script><!-- & co" and d["image"].endswith("-1600.png") and d["author"]["@type"]=="Person"))' &&
    t_ok "JSON-LD CreativeWork on a project page: valid, no '</' inside, the title intact" ||
    t_fail "JSON-LD project" "$ld"
ld=$(img jsonld "$S/public/index.html") &&
echo "$ld" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(not (d["@type"]=="Person" and d["name"]))' &&
    t_ok "JSON-LD Person on the home page" || t_fail "JSON-LD home" "$ld"
sed -n 's:.*<script type="application/ld+json">\(.*\)</script>.*:\1:p' "$P/index.html" |
    python3 -m json.tool >/dev/null && t_ok "python3 -m json.tool reads it" || t_fail "json.tool" "refused"

# edits: a new image replaces its variants, a deleted file goes
img png "$B/photo.png" 1200 600 3
rm "$B/cv.pdf"
sed -i 's/, and \[my CV\](cv.pdf)//' "$B/index.md"
build || { cat "$T/build.log"; t_fail "build after edits" "failed"; }
H2=$(basename "$(grep -o '/_img/[0-9a-f]*-1200.png' "$P/index.html" | head -1)" -1200.png)
[ -n "$H2" ] && [ "$H2" != "$H" ] && [ -f "$S/public/_img/$H2-1200.webp" ] &&
    [ ! -e "$S/public/_img/$H-1600.png" ] && [ ! -e "$P/cv.pdf" ] &&
    cmp -s "$P/photo.png" "$B/photo.png" &&
    t_ok "an edited image gets new variants, old ones and a deleted file are removed" ||
    t_fail "edits" "$(ls "$S/public/_img" "$P")"

# mistakes
echo "hello" >"$B/bad name.txt"
build
grep -q "content/projects/lamp/bad name.txt" "$T/build.log" && [ ! -e "$P/bad name.txt" ] &&
    t_ok "a file that cannot be a URL is a warning naming it" || t_fail "bad name" "$(cat "$T/build.log")"
rm "$B/bad name.txt"
echo "not a picture" >"$B/broken.png"
echo '![b](broken.png)' >>"$B/index.md"
if build; then t_fail "broken image" "the build passed"
else grep -q 'content/projects/lamp/broken.png' "$T/build.log" &&
    t_ok "an undecodable image fails the build, naming it" || t_fail "broken image" "$(cat "$T/build.log")"
fi
[ -f "$P/index.html" ] && ! grep -q broken "$P/index.html" && t_ok "the published site stays as it was" ||
    t_fail "after a failed build" "the site changed"
sed -i '/broken.png/d' "$B/index.md"
rm "$B/broken.png"
sed -i 's/^cover: photo.png/cover: nothere.jpg/' "$B/index.md"
if build; then t_fail "missing cover" "the build passed"
else grep -q 'content/projects/lamp/index.md: cover: nothere.jpg' "$T/build.log" &&
    t_ok "a missing cover fails the build, naming the page and the file" || t_fail "missing cover" "$(cat "$T/build.log")"
fi
t_done
