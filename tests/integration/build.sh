#!/bin/sh
# folio build, end to end: the demo site and a 1,000-page corpus are built
# with the default theme, and every internal link (href/src that starts with
# / or is relative) must resolve to a file of the output (a directory to its
# index.html). In the corpus, links the owner wrote in the Markdown bodies
# point at pages the corpus does not have: exactly those targets are exempt
# (and counted); every link folio generates must resolve. The demo site has
# no exemptions. Also: a failed build leaves the previous output as it was.
set -u
: "${FOLIO_SRCDIR:?run through make check}" "${FOLIO_BIN:?}"
FOLIO_SHARED=${FOLIO_SHARED:-/work/shared}
# a checkout elsewhere than beside shared/ (configure's default) still finds it
[ -f "$FOLIO_SHARED/bench/gen-corpus.py" ] || FOLIO_SHARED=/work/shared
T=$(mktemp -d "${TMPDIR:-/tmp}/folio-build-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
fails=0
ok() { echo "ok - $1"; }
fail() { echo "FAIL - $1: $2"; fails=$((fails + 1)); }

cat >"$T/linkcheck.py" <<'EOF'
import os, re, sys, urllib.parse
from html.parser import HTMLParser

out = os.path.abspath(sys.argv[1])
md_root = sys.argv[2] if len(sys.argv) > 2 else ""

def norm(target, base_url):
    """The site path a link points at, or None for what is not internal."""
    t = target.strip()
    if not t or t.startswith("#"):
        return None
    low = t.lower()
    if re.match(r"^[a-z][a-z0-9+.-]*:", low) or t.startswith("//"):
        return None
    t = t.split("#", 1)[0].split("?", 1)[0]
    if not t:
        return None
    return urllib.parse.unquote(urllib.parse.urljoin(base_url, t))

# Owner-written link targets in the Markdown bodies (exempt in the corpus).
exempt = set()
if md_root:
    for d, _, files in os.walk(md_root):
        for f in files:
            if f.endswith(".md"):
                text = open(os.path.join(d, f), encoding="utf-8").read()
                body = text.split("\n---\n", 1)[1] if text.startswith("---\n") else text
                for m in re.finditer(r"\]\(([^)\s]+)", body):
                    p = norm(m.group(1), "/")
                    if p:
                        exempt.add(p)
                for m in re.finditer(r"(?:href|src)=\"([^\"]+)\"", body):
                    p = norm(m.group(1), "/")
                    if p:
                        exempt.add(p)

class Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []
    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("href", "src") and v is not None:
                self.links.append(v)

def resolves(path):
    f = os.path.join(out, path.lstrip("/"))
    if path.endswith("/"):
        return os.path.isfile(os.path.join(f, "index.html"))
    return os.path.isfile(f) or os.path.isfile(os.path.join(f, "index.html"))

pages = checked = skipped = 0
broken = []
for d, _, files in os.walk(out):
    for f in files:
        if not f.endswith(".html"):
            continue
        full = os.path.join(d, f)
        rel = "/" + os.path.relpath(full, out)
        base = rel[: -len("index.html")] if rel.endswith("/index.html") else rel
        p = Links()
        p.feed(open(full, encoding="utf-8").read())
        pages += 1
        for link in p.links:
            target = norm(link, base)
            if target is None:
                continue
            if target in exempt:
                skipped += 1
                continue
            checked += 1
            if not resolves(target):
                broken.append((rel, link))
print("linkcheck: %d pages, %d internal links checked, %d owner-written links exempt, %d broken"
      % (pages, checked, skipped, len(broken)))
for page, link in broken[:30]:
    print("  broken: %s -> %s" % (page, link))
sys.exit(1 if broken or pages == 0 else 0)
EOF

# ---- the demo site ----------------------------------------------------------
demo=$T/demo
mkdir -p "$demo"
cp -R "$FOLIO_SRCDIR/folio.yml" "$FOLIO_SRCDIR/content" "$FOLIO_SRCDIR/static" "$demo/"
if "$FOLIO_BIN" build -s "$demo" -o "$demo/public" >"$T/demo.log" 2>&1; then
    ok "demo site builds: $(cat "$T/demo.log")"
else
    fail "demo site builds" "$(cat "$T/demo.log")"
fi
for f in index.html 404.html sitemap.xml robots.txt index.xml tags/index.html; do
    [ -s "$demo/public/$f" ] && ok "demo has $f" || fail "demo has $f" "missing"
done
grep -q "^Sitemap: .*sitemap.xml" "$demo/public/robots.txt" 2>/dev/null &&
    ok "robots.txt names the sitemap" || fail "robots.txt names the sitemap" "no Sitemap line"
if python3 "$T/linkcheck.py" "$demo/public" >"$T/demo-links.log" 2>&1; then
    ok "demo: every internal link resolves ($(head -1 "$T/demo-links.log"))"
else
    fail "demo: every internal link resolves" "$(cat "$T/demo-links.log")"
fi
python3 - "$demo/public" <<'EOF' && ok "demo: sitemap and feeds are well-formed XML" ||
import sys, xml.dom.minidom, glob, os
root = sys.argv[1]
for f in [os.path.join(root, "sitemap.xml")] + glob.glob(root + "/**/index.xml", recursive=True):
    xml.dom.minidom.parse(f)
EOF
    fail "demo: sitemap and feeds are well-formed XML" "a parse error"

# A failed build keeps the previous output exactly as it was.
before=$(cd "$demo/public" && find . -type f | sort | xargs cat | cksum)
printf -- '---\ntitle: [broken\n---\n' >"$demo/content/broken.md"
if "$FOLIO_BIN" build -s "$demo" -o "$demo/public" >"$T/bad.log" 2>&1; then
    fail "bad front matter fails the build" "status 0"
else
    status=$?
    [ "$status" -eq 1 ] && ok "bad front matter fails with status 1" ||
        fail "bad front matter fails with status 1" "status $status"
    grep -q "content/broken.md:2" "$T/bad.log" && ok "the error names file and line" ||
        fail "the error names file and line" "$(cat "$T/bad.log")"
fi
after=$(cd "$demo/public" && find . -type f | sort | xargs cat | cksum)
[ "$before" = "$after" ] && ok "public/ unchanged after the failed build" ||
    fail "public/ unchanged after the failed build" "it changed"
leftover=$(find "$demo" -maxdepth 1 -name '.public.new-*' | wc -l)
[ "$leftover" -eq 0 ] && ok "no half-built tree left beside public/" ||
    fail "no half-built tree left beside public/" "$leftover left"
rm -f "$demo/content/broken.md"

# ---- a 1,000-page corpus with the default theme ---------------------------------
# A new site from `folio init` (the default theme and its starter content,
# whose pages the theme links to), with the corpus written over it.
corpus=$T/corpus
if FOLIO_THEME_DIR=$FOLIO_SRCDIR "$FOLIO_BIN" init "$corpus" >"$T/init.log" 2>&1; then
    ok "folio init makes a new site"
else
    fail "folio init makes a new site" "$(cat "$T/init.log")"
fi
if "$FOLIO_BIN" init "$corpus" >"$T/init2.log" 2>&1; then
    fail "folio init refuses a non-empty directory" "status 0"
else
    ok "folio init refuses a non-empty directory"
fi
if python3 "$FOLIO_SHARED/bench/gen-corpus.py" 1000 "$corpus" >"$T/gen.log" 2>&1; then
    ok "corpus generated"
else
    fail "corpus generated" "$(cat "$T/gen.log")"
fi
if "$FOLIO_BIN" build -s "$corpus" -o "$corpus/public" >"$T/corpus.log" 2>&1; then
    ok "corpus builds: $(cat "$T/corpus.log")"
else
    fail "corpus builds" "$(cat "$T/corpus.log")"
fi
n=$(find "$corpus/public/projects" -name index.html -path '*/p0*' | wc -l)
[ "$n" -eq 1000 ] && ok "1000 project pages" || fail "1000 project pages" "$n"
n=$(ls "$corpus/public/projects/page" | wc -l)
[ "$n" -ge 100 ] && ok "the projects list is paginated ($n more pages)" ||
    fail "the projects list is paginated" "$n pages"
if python3 "$T/linkcheck.py" "$corpus/public" "$corpus/content" >"$T/corpus-links.log" 2>&1; then
    ok "corpus: every generated link resolves ($(head -1 "$T/corpus-links.log"))"
else
    fail "corpus: every generated link resolves" "$(cat "$T/corpus-links.log")"
fi

echo "build.sh: $fails failed"
[ "$fails" -eq 0 ]
