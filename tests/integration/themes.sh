#!/bin/sh
# Themes and the starter site: `folio init` makes a starter that builds
# with --strict and holds no copy of the theme; `init --demo` the demo; a
# site's templates/ and static/ override its theme's files by path
# (partials too) and an incremental build notices a theme file's change;
# `theme: NAME` picks themes/NAME/ (its theme.yml params are defaults);
# an unknown theme is a clear error. The params (accent, social links,
# footer, avatar) are rendered, hostile values refused; `language` sets
# lang and dir="rtl"; `date_format` the dates people read, not the feeds'.
# A link or menu item to a missing #anchor warns with file:line.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"
T=$T_DIR
ok() { t_ok "$1"; }
fail() { t_fail "$1" "$2"; }
build() { "$FOLIO_BIN" build -s "$S" "$@" >"$T/log" 2>&1; st=$?; }
# expect NAME STATUS NEEDLE: the last build's status and a line of its output
expect() {
    if [ "$st" != "$2" ]; then fail "$1" "status $st, not $2: $(cat "$T/log")"
    elif ! grep -qF -- "$3" "$T/log"; then fail "$1" "no '$3' in: $(cat "$T/log")"
    else ok "$1"; fi
}
has() { if grep -qF -- "$2" "$3"; then ok "$1"; else fail "$1" "no '$2' in $3"; fi; }
hasnt() { if grep -qF -- "$2" "$3"; then fail "$1" "'$2' in $3"; else ok "$1"; fi; }

# ---- folio init: the starter ------------------------------------------------
S=$T/mysite
"$FOLIO_BIN" init "$S" >"$T/log" 2>&1; st=$?
expect "folio init makes a starter site" 0 "created a new site in $S"
for f in folio.yml content/_index.md content/about.md content/contact/_index.md \
         content/register/_index.md content/projects/example-project/index.md \
         content/projects/example-project/cover.png; do
    [ -f "$S/$f" ] && ok "the starter has $f" || fail "the starter has $f" "missing"
done
[ ! -e "$S/templates" ] && [ ! -e "$S/themes" ] && ok "the starter holds no copy of the theme" ||
    fail "the starter holds no copy of the theme" "$(ls "$S")"
build --strict
expect "the starter builds with --strict" 0 "folio: built"
P=$S/public
has "the starter's name placeholder is shown" "Your Name" "$P/index.html"
has "the starter's project has its cover" '<picture' "$P/projects/example-project/index.html"
has "the starter's cover is on the home page's card" 'example-project/' "$P/index.html"
has "the theme's stylesheet is published by reference" "--accent" "$P/css/site.css"
has "the accent param becomes css/params.css" "--accent: #0a5c58;" "$P/css/params.css"
has "pages load css/params.css" '<link rel="stylesheet" href="/css/params.css">' "$P/index.html"
has "the footer param is shown" "Made with folio." "$P/about/index.html"
has "a social link is shown with its name" '>GitHub</a>' "$P/about/index.html"
has "... to the handle's profile" 'href="https://github.com/your-name"' "$P/about/index.html"
has "the avatar param is the home page's picture" 'src="/img/avatar.svg" alt="A placeholder' "$P/index.html"
has "lang comes from language" '<html lang="en" dir="ltr">' "$P/index.html"
has "headings get ids" '<h2 id="what-it-does">' "$P/projects/example-project/index.html"

# ---- folio init --demo ------------------------------------------------------
D=$T/demo
"$FOLIO_BIN" init --demo "$D" >"$T/log" 2>&1; st=$?
expect "folio init --demo makes the demo" 0 "the demo portfolio"
[ -f "$D/content/projects/ringlog.md" ] && [ ! -e "$D/templates" ] &&
    ok "the demo has its projects and no copy of the theme" ||
    fail "the demo has its projects and no copy of the theme" "$(ls "$D")"
"$FOLIO_BIN" build --strict -s "$D" >"$T/log" 2>&1; st=$?
expect "the demo builds with --strict" 0 "folio: built"
"$FOLIO_BIN" init "$D" >"$T/log" 2>&1; st=$?
expect "init refuses a folder that is not empty" 1 "is not empty"

# ---- overrides by path ---------------------------------------------------------
mkdir -p "$S/templates/partials" "$S/static/css"
sed 's|<footer class="site-footer">|<footer class="site-footer" data-mine="yes">|' \
    "$FOLIO_SRCDIR/themes/default/templates/partials/footer.mustache" \
    >"$S/templates/partials/footer.mustache"
printf 'body { color: black; } /* mine */\n' >"$S/static/css/site.css"
build --strict
expect "a site with overrides builds" 0 "folio: built"
has "the site's partial replaces the theme's" 'data-mine="yes"' "$P/about/index.html"
has "the site's static file replaces the theme's" "/* mine */" "$P/css/site.css"
has "the theme's other files stay" "<svg" "$P/favicon.svg"
has "the theme's other templates stay" '<a class="skip-link"' "$P/about/index.html"
rm "$S/templates/partials/footer.mustache" "$S/static/css/site.css"
build
hasnt "without the override the theme's partial is back" 'data-mine' "$P/about/index.html"
has "... and the theme's stylesheet" "--accent" "$P/css/site.css"

# ---- a theme of the site's own, by name ------------------------------------------
mkdir -p "$S/themes/plain/templates" "$S/themes/plain/static/css"
cp -R "$FOLIO_SRCDIR/themes/default/templates/." "$S/themes/plain/templates/"
printf '<footer class="site-footer"><p>plain: {{site.params.motto}}</p></footer>\n' \
    >"$S/themes/plain/templates/partials/footer.mustache"
printf 'params:\n  motto: "from theme.yml"\n  footer: "x"\n' >"$S/themes/plain/theme.yml"
printf 'p { margin: 0 } /* plain */\n' >"$S/themes/plain/static/css/site.css"
sed -i 's/^theme: default$/theme: plain/' "$S/folio.yml"
build --strict
expect "theme: plain builds" 0 "folio: built"
has "theme: NAME selects themes/NAME/" "plain: from theme.yml" "$P/about/index.html"
has "... its static files" "/* plain */" "$P/css/site.css"
# the theme's own file edited: the next (incremental) build has it
build
build
printf '<footer class="site-footer"><p>plain 2: {{site.params.motto}}</p></footer>\n' \
    >"$S/themes/plain/templates/partials/footer.mustache"
build
expect "a build after a theme file's edit" 0 "folio: built"
has "an incremental build notices a theme file's change" "plain 2: from theme.yml" \
    "$P/about/index.html"
sed -i 's/^params:$/params:\n  motto: "from folio.yml"/' "$S/folio.yml"
build
has "folio.yml's params override the theme's" "plain 2: from folio.yml" "$P/about/index.html"

# ---- an unknown theme -----------------------------------------------------------
cp "$S/folio.yml" "$T/good.yml"
sed -i 's/^theme: plain$/theme: nosuch/' "$S/folio.yml"
build
expect "an unknown theme is an error" 1 "folio.yml: theme: no theme 'nosuch' (looked in $S/themes/nosuch/"
sed -i 's|^theme: nosuch$|theme: "../../etc"|' "$S/folio.yml"
build
expect "a theme name is never a path" 1 "is not a theme name"
cp "$T/good.yml" "$S/folio.yml"
sed -i 's/^theme: plain$/theme: default/; /^  motto: /d' "$S/folio.yml"

# ---- params, checked ---------------------------------------------------------------
cp "$S/folio.yml" "$T/good.yml"
for bad in 'red; } body { display: none' '#12345' 'url(x)' 'rgb(1,2,3);x' '"></style>'; do
    cp "$T/good.yml" "$S/folio.yml"
    sed -i "s|^  accent: .*|  accent: '$bad'|" "$S/folio.yml"
    build
    expect "a hostile accent is refused: $bad" 1 "folio.yml: params.accent: expected a CSS colour"
done
cp "$T/good.yml" "$S/folio.yml"
sed -i "s|^  accent: .*|  accent: 'oklch(55% 0.12 200)'|" "$S/folio.yml"
build
has "a colour function is taken" "--accent: oklch(55% 0.12 200);" "$P/css/params.css"
cp "$T/good.yml" "$S/folio.yml"
sed -i 's|^    github: "your-name"|    github: "your-name"\n    mastodon: "@ada@social.example"\n    linkedin: "ada-l"\n    email: "ada@example.org"|' "$S/folio.yml"
build --strict
has "Mastodon gets rel=me" 'href="https://social.example/@ada" rel="me">Mastodon</a>' "$P/index.html"
has "LinkedIn's handle becomes its URL" 'href="https://www.linkedin.com/in/ada-l">LinkedIn</a>' "$P/index.html"
has "the e-mail link is a mailto: with its label" 'href="mailto:ada@example.org">E-mail</a>' "$P/index.html"
has "the links have a labelled list" '<ul class="social" aria-label="Your Name elsewhere">' "$P/index.html"
for bad in "github: 'x\" onmouseover=\"y'" 'mastodon: "javascript:alert(1)"' 'email: "a b@c.d"' \
           'website: "javascript:alert(1)"' 'gitbub: "x"'; do
    cp "$T/good.yml" "$S/folio.yml"
    sed -i "s|^    github: \"your-name\"|    $bad|" "$S/folio.yml"
    build
    expect "a bad social link is refused: $bad" 1 "folio.yml: params.social."
done
cp "$T/good.yml" "$S/folio.yml"
sed -i 's|^  avatar: .*|  avatar: "//evil.example/x.png"|' "$S/folio.yml"
build
expect "an avatar from elsewhere is refused" 1 "folio.yml: params.avatar: expected a path in static/"
sed -i 's|^  avatar: .*|  avatar: "img/nope.png"|' "$S/folio.yml"
build
expect "a missing avatar is an error" 1 "no file static/img/nope.png"
cp "$T/good.yml" "$S/folio.yml"
sed -i 's|^  footer: .*|  footer: "<script>alert(1)</script> \& co"|' "$S/folio.yml"
build
has "the footer is escaped" "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" "$P/index.html"
cp "$T/good.yml" "$S/folio.yml"

# ---- language and dates --------------------------------------------------------------
sed -i 's|^language: .*|language: "ar"|; s|^date_format: .*|date_format: "%Y/%m/%d (%A)"|' "$S/folio.yml"
build --strict
has "an RTL language sets dir=rtl" '<html lang="ar" dir="rtl">' "$P/index.html"
has "date_format shapes the dates people read" '>2026/01/15 (Thursday)</time>' \
    "$P/projects/example-project/index.html"
has "... in lists too" '>2026/01/15 (Thursday)</time>' "$P/projects/index.html"
has "feeds keep their RFC dates" '<updated>2026-01-' "$P/index.xml"
sed -i 's|^language: .*|language: "he-IL"|; s|^date_format: .*|date_format: "%Q"|' "$S/folio.yml"
build
expect "an unknown date conversion is an error" 1 "folio.yml: date_format: '%Q'"
cp "$T/good.yml" "$S/folio.yml"
build
has "the default date format" '>15 January 2026</time>' "$P/projects/example-project/index.html"

# ---- #anchors ----------------------------------------------------------------------------
cat >"$S/content/about.md" <<'EOF'
---
title: "About"
---

## Where I work

<span id="explicit"></span>

[here](#where-i-work) [explicit](#explicit) [top](#top) [there](/projects/example-project/#what-it-does)
[theme id](/about/#main) [gone](#nowhere)

[far](/projects/example-project/#no-such-part)
EOF
build
expect "a link to a missing #anchor of its own page warns with file:line" 0 \
    "warning: content/about.md:10: a link to #nowhere, but that page has no #nowhere"
expect "a link to a missing #anchor of another page warns" 0 \
    "warning: content/about.md:12: a link to /projects/example-project/#no-such-part"
[ "$(grep -c '^warning' "$T/log")" = 2 ] && ok "headings, explicit ids, #top and the theme's ids are fine" ||
    fail "good anchors" "$(cat "$T/log")"
build --strict
expect "--strict fails on a missing #anchor" 1 "--strict"
"$FOLIO_BIN" check -s "$S" >"$T/log" 2>&1; st=$?
expect "folio check fails on a missing #anchor" 1 "no #nowhere"
sed -i 's/ \[gone\](#nowhere)//; s|\[far\](/projects/example-project/#no-such-part)||' "$S/content/about.md"
build --strict
expect "fixed anchors build with --strict" 0 "folio: built"
sed -i 's|^    url: "/contact/"$|    url: "/contact/"\n  - name: "Work"\n    url: "/about/#where-i-work"\n  - name: "Broken"\n    url: "/about/#where-i-played"|' "$S/folio.yml"
build
expect "a menu item to a missing #anchor warns" 0 \
    "the menu item 'Broken' links to /about/#where-i-played, but that page has no #where-i-played"
[ "$(grep -c '^warning' "$T/log")" = 1 ] && ok "a menu item to a heading's id is fine" ||
    fail "menu anchors" "$(cat "$T/log")"

# ---- folio serve watches the theme, wherever it is installed ----------------------------
if command -v curl >/dev/null; then
    mkdir -p "$T/data" && cp -R "$FOLIO_SRCDIR/themes" "$T/data/"
    FOLIO_THEME_DIR=$T/data; export FOLIO_THEME_DIR
    T_SITE=$D
    t_folio_serve
    curl -s "$T_URL/about/" >"$T/page"
    has "serve uses the installed theme" "Written in Markdown" "$T/page"
    sed -i 's|<footer class="site-footer">|<footer class="site-footer" data-edited="1">|' \
        "$T/data/themes/default/templates/partials/footer.mustache"
    if folio_wait_for "curl -s '$T_URL/about/' | grep -q 'data-edited'" 20; then
        ok "an edit of the installed theme is rebuilt while serving"
    else
        fail "an edit of the installed theme is rebuilt while serving" "$(tail -n 5 "$T_DIR/serve.log")"
    fi
    t_folio_serve_stop
else
    echo "# curl missing: the serve part is skipped"
fi

t_done
