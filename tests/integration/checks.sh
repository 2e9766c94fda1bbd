#!/bin/sh
# Checks that catch mistakes: typos of known front matter and folio.yml
# keys warn with FILE:LINE and the key meant; a menu item or a Markdown
# link to a missing page warns; --strict turns warnings into a failed build that leaves OUT as it
# was; a page without a title, invalid UTF-8 in a body or a file name are
# errors naming the file (and line); folio build outside a site says so.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"
T=$T_DIR
ok() { t_ok "$1"; }
fail() { t_fail "$1" "$2"; }
# expect NAME STATUS NEEDLE: the last build's status and a line of its output
expect() {
    if [ "$st" != "$2" ]; then fail "$1" "status $st, not $2: $(cat "$T/log")"
    elif ! grep -qF -- "$3" "$T/log"; then fail "$1" "no '$3' in: $(cat "$T/log")"
    else ok "$1"; fi
}
build() { "$FOLIO_BIN" build -s "$S" "$@" >"$T/log" 2>&1; st=$?; }

S=$T/site
FOLIO_THEME_DIR=$FOLIO_SRCDIR "$FOLIO_BIN" init --demo "$S" >/dev/null
build
expect "the demo site builds without warnings" 0 "folio: built"
grep -q "^warning" "$T/log" && fail "the demo site" "warns: $(cat "$T/log")"

printf -- '---\ntitle: About\ntitel: "Typo"\nlede: a param, not a typo\n---\nHi.\n' \
    >"$S/content/about.md"
build
expect "a front matter typo warns with file:line" 0 \
    "warning: content/about.md:3: unknown front matter key 'titel' — did you mean 'title'?"
grep -q "lede" "$T/log" && fail "a param" "warned about: $(cat "$T/log")"

cp "$S/folio.yml" "$T/folio.yml"
printf 'autor: "Me"\n' >>"$S/folio.yml"
line=$(wc -l <"$S/folio.yml")
build
expect "a folio.yml typo warns with its line" 0 \
    "warning: folio.yml:$line: unknown key 'autor' — did you mean 'author'?"

cp "$T/folio.yml" "$S/folio.yml"
sed -i 's|url: "/about/"|url: "/aboot/"|' "$S/folio.yml"
build
expect "a menu item to a missing page warns" 0 "links to /aboot/, which the site does not have"

cp -R "$S/public" "$T/before"
echo "extra" >>"$S/content/contact/thanks.md"
build --strict
expect "--strict fails on warnings" 1 "--strict: not built"
diff -r "$T/before" "$S/public" >/dev/null && ok "--strict left OUT as it was" ||
    fail "--strict" "changed OUT"
cp "$T/folio.yml" "$S/folio.yml"
printf -- '---\ntitle: About\n---\nHi.\n' >"$S/content/about.md"
build --strict
expect "--strict builds a site without warnings" 0 "folio: built"

printf -- '---\ntitle: About\n---\n\n[gone](/nope/) [rel](../projects/) [css](/css/site.css)\n[form](/contact) [feed](/projects/index.xml) [mail](mailto:a@b.example) [x](#top)\n\n[typo](../projectz/)\n' \
    >"$S/content/about.md"
build
expect "a Markdown link to a missing page warns with its line" 0 \
    "warning: content/about.md:5: a link to /nope/, which the site does not have"
expect "a relative one too" 0 "warning: content/about.md:8: a link to ../projectz/"
[ "$(grep -c '^warning' "$T/log")" = 2 ] && ok "links to pages, static files, forms, feeds are fine" ||
    fail "good links" "warned about: $(cat "$T/log")"
build --strict
expect "--strict fails on a broken link" 1 "--strict"
printf -- '---\ntitle: About\n---\nHi.\n' >"$S/content/about.md"

printf -- '---\ndate: 2025-01-01\n---\nNo title.\n' >"$S/content/notitle.md"
build
expect "a page without a title is an error" 1 "content/notitle.md:1: the page has no title"
rm "$S/content/notitle.md"

printf -- '---\ntitle: Bad\n---\n\nfine\n\303\050 broken\n' >"$S/content/bad.md"
build
expect "invalid UTF-8 in a body is an error with its line" 1 "content/bad.md:6: not valid UTF-8"
rm "$S/content/bad.md"

printf -- '---\ntitle: Name\n---\nx\n' >"$S/content/caf$(printf '\351').md"
build
expect "a file name that is not UTF-8 is an error" 1 "is not valid UTF-8; rename it"
rm -f "$S/content/caf"*.md

# folio check compares the recorded build state with the sources
build
"$FOLIO_BIN" check -s "$S" >"$T/log" 2>&1; st=$?
expect "folio check passes on a site just built" 0 "ok:"
printf '\nMore.\n' >>"$S/content/about.md"
"$FOLIO_BIN" check -s "$S" >"$T/log" 2>&1; st=$?
expect "folio check names a page edited since the build" 1 "/about/ is out of date"
printf -- '---\ntitle: About\n---\n[gone](/nope/)\n' >"$S/content/about.md"
build
"$FOLIO_BIN" check -s "$S" >"$T/log" 2>&1; st=$?
expect "folio check fails on build warnings" 1 "a link to /nope/"

mkdir "$T/empty"
(cd "$T/empty" && "$FOLIO_BIN" build >"$T/log" 2>&1); st=$?
expect "folio build outside a site says so" 1 "is not a folio site"
grep -q "folio init" "$T/log" && grep -q -- "-s SITE" "$T/log" &&
    ok "and points to folio init and -s" || fail "outside a site" "$(cat "$T/log")"

t_done
