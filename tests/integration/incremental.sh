#!/bin/sh
# Incremental builds render only what changed, and what they leave in OUT
# is byte for byte what a full build makes: a seeded random sequence of
# edits (add, remove, rename, retag, re-date, edit a body, a title, a
# partial, folio.yml, a static file, delete a static file) on a small
# generated site, each followed by an incremental build of OUT and a full
# build into a fresh directory, compared with diff -r. Also: a body-only
# edit renders one page; a build killed with kill -9 leaves no
# .OUT.new-* folder behind once the next build has run. FOLIO_EDIT_SEED=N
# runs another sequence of edits (7 by default).
. "$FOLIO_SRCDIR/tests/integration/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 is needed to make the edits"; exit 77; }
T=$T_DIR
ok() { t_ok "$1"; }
fail() { t_fail "$1" "$2"; }

S=$T/site
FOLIO_THEME_DIR=$FOLIO_SRCDIR "$FOLIO_BIN" init --demo "$S" >/dev/null || { echo "FAIL - init"; exit 1; }
# The site's own copy of its theme (themes/default/ shadows folio's), so
# that edits of the theme's files are edits too.
mkdir -p "$S/themes" && cp -R "$FOLIO_SRCDIR/themes/default" "$S/themes/default"

cat >"$T/edit.py" <<'EOF'
"""One random edit of the site: python3 edit.py SITE SEED STEP (prints what)."""
import os, random, shutil, sys

site, seed, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed * 1000 + step)
content = os.path.join(site, "content")
TAGS = ["c", "web", "sqlite", "ops", "perf"]
SECTIONS = ["projects", "writing"]

def pages():
    out = []
    for sec in SECTIONS:
        d = os.path.join(content, sec)
        out += [os.path.join(d, f) for f in sorted(os.listdir(d))
                if f.endswith(".md") and f != "_index.md"]
    return out

def write_page(path, title, date, tags, body):
    with open(path, "w") as f:
        f.write("---\ntitle: \"%s\"\ndate: %s\ntags: [%s]\n---\n\n%s\n"
                % (title, date, ", ".join(tags), body))

def words(n):
    return " ".join(r.choice(["alpha", "beta", "gamma", "delta", "log", "page"])
                    for _ in range(n))

def png(path, w, h):
    """A small noisy PNG (the bundle's image)."""
    import struct, zlib
    raw = b"".join(b"\0" + bytes(r.randrange(256) for _ in range(3 * w)) for _ in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

BUNDLE = os.path.join(content, "projects", "b00")

def rnd_date():
    return "2025-%02d-%02d" % (r.randint(1, 12), r.randint(1, 28))

def edit_fm(path, key, value):
    lines = open(path).read().split("\n")
    end = lines.index("---", 1)
    fm = [l for l in lines[1:end] if not l.startswith(key + ":")]
    lines = ["---"] + fm + ["%s: %s" % (key, value)] + lines[end:]
    open(path, "w").write("\n".join(lines))

if step == 0:  # the generated part of the site
    for i in range(24):
        sec = SECTIONS[i % 2]
        write_page(os.path.join(content, sec, "g%02d.md" % i), "Generated %d" % i,
                   rnd_date(), sorted(r.sample(TAGS, r.randint(1, 2))),
                   words(30) + "\n\n" + words(50))
    os.makedirs(BUNDLE)  # a page bundle with a cover and files beside it
    png(os.path.join(BUNDLE, "photo.png"), 40, 30)
    with open(os.path.join(BUNDLE, "index.md"), "w") as f:
        f.write("---\ntitle: \"Bundle\"\ndate: 2025-02-02\ncover: photo.png\n---\n\n"
                "![a photo](photo.png) and [notes](n0.txt)\n")
    with open(os.path.join(BUNDLE, "n0.txt"), "w") as f:
        f.write("notes\n")
    print("generated 24 pages and a bundle")
    sys.exit(0)

ps = pages()
what = r.choice(["add", "remove", "rename", "retag", "redate", "body", "title",
                 "partial", "config", "static", "static-rm", "body", "body",
                 "bundle", "bundle-rm", "link", "link", "heading"])
p = r.choice(ps)
if what == "add":
    n = r.randint(100, 999)
    write_page(os.path.join(content, r.choice(SECTIONS), "n%d.md" % n), "New %d" % n,
               rnd_date(), [r.choice(TAGS)], words(40))
elif what == "remove" and len(ps) > 3:
    os.unlink(p)
elif what == "rename":
    os.rename(p, os.path.join(content, r.choice(SECTIONS), "r%d.md" % r.randint(100, 999)))
elif what == "retag":
    edit_fm(p, "tags", "[%s]" % ", ".join(sorted(r.sample(TAGS, r.randint(0, 3)))))
elif what == "redate":
    edit_fm(p, "date", rnd_date())
elif what == "body":
    with open(p, "a") as f:
        f.write("\n" + words(r.randint(1, 300)) + "\n")
elif what == "link":  # to a page, a static file, an #id, or nothing (warned of)
    target = r.choice(["/projects/g00/", "/writing/g01/", "/projects/nope/", "/s0.txt",
                       "/s2.txt", "/projects/g00/#part-%d" % r.randint(1, 3),
                       "/writing/g03/#part-1", "#part-2"])
    with open(p, "a") as f:
        f.write("\nSee [this](%s).\n" % target)
elif what == "heading":  # ids other pages' links may name
    with open(p, "a") as f:
        f.write("\n## Part %d\n\nMore.\n" % r.randint(1, 3))
elif what == "title":
    edit_fm(p, "title", "\"Retitled %d\"" % r.randint(0, 99))
elif what == "partial":  # the theme's partial, or the site's copy over it
    name = r.choice(["card", "footer", "tags"]) + ".mustache"
    theirs = os.path.join(site, "themes", "default", "templates", "partials", name)
    f = os.path.join(site, "templates", "partials", name) if r.random() < 0.5 else theirs
    if not os.path.exists(f):
        os.makedirs(os.path.dirname(f), exist_ok=True)
        shutil.copy(theirs, f)
    with open(f, "a") as fh:
        fh.write("<!-- %d -->\n" % step)
elif what == "config":
    y = os.path.join(site, "folio.yml")
    lines = [l for l in open(y).read().split("\n") if not l.startswith("description:")]
    lines.append("description: \"Edit %d\"" % step)
    open(y, "w").write("\n".join(lines))
elif what == "static":  # the theme's stylesheet, or the site's copy over it
    theirs = os.path.join(site, "themes", "default", "static", "css", "site.css")
    css = os.path.join(site, "static", "css", "site.css") if r.random() < 0.5 else theirs
    if not os.path.exists(css):
        os.makedirs(os.path.dirname(css), exist_ok=True)
        shutil.copy(theirs, css)
    with open(css, "a") as f:
        f.write("/* %d */\n" % step)
    with open(os.path.join(site, "static", "s%d.txt" % r.randint(0, 3)), "w") as f:
        f.write("static %d\n" % step)
elif what == "static-rm":
    st = [f for f in os.listdir(os.path.join(site, "static")) if f.endswith(".txt")]
    if st:
        os.unlink(os.path.join(site, "static", r.choice(st)))
elif what == "bundle":  # the bundle's image edited, a file added beside it
    png(os.path.join(BUNDLE, "photo.png"), r.randint(20, 60), r.randint(20, 60))
    with open(os.path.join(BUNDLE, "n%d.txt" % r.randint(1, 3)), "w") as f:
        f.write("notes %d\n" % step)
elif what == "bundle-rm":
    st = [f for f in os.listdir(BUNDLE) if f.endswith(".txt") and f != "n0.txt"]
    if st:
        os.unlink(os.path.join(BUNDLE, r.choice(st)))
print(what, os.path.relpath(p, site))
EOF

# a fixed "now": feeds of empty sections are dated with it
build() { "$FOLIO_BIN" build -s "$S" --as-of 2026-01-01T00:00:00Z "$@" >"$T/build.log" 2>&1; }
python3 "$T/edit.py" "$S" "${FOLIO_EDIT_SEED:-7}" 0 >/dev/null
build || { cat "$T/build.log"; fail "first build" "failed"; }
same=1
for step in $(seq 1 30); do
    what=$(python3 "$T/edit.py" "$S" "${FOLIO_EDIT_SEED:-7}" "$step")
    if ! build; then
        cat "$T/build.log"; fail "incremental build after '$what'" "failed"; same=0; break
    fi
    grep '^warning:' "$T/build.log" | sort >"$T/warn.inc"
    rm -rf "$T/full" "$T/.full.prev"
    if ! build --full -o "$T/full"; then
        cat "$T/build.log"; fail "full build after '$what'" "failed"; same=0; break
    fi
    grep '^warning:' "$T/build.log" | sort >"$T/warn.full"
    if ! diff "$T/warn.inc" "$T/warn.full" >"$T/diff" 2>&1; then
        head -n 20 "$T/diff"
        fail "step $step ($what)" "the incremental build warns otherwise than a full one"
        same=0
        break
    fi
    if ! diff -r -x '.folio-*' "$S/public" "$T/full" >"$T/diff" 2>&1; then
        head -n 20 "$T/diff"
        fail "step $step ($what)" "the incremental build differs from a full one"
        same=0
        break
    fi
done
[ "$same" = 1 ] && ok "30 random edits: every incremental build equals a full build, warnings too"

# content/'s folders unchanged since a build (and not within its clock
# tick): the next build takes the files' names from its state, without a
# walk; an added or removed file changes its folder, and is seen.
trace() { FOLIO_TRACE=1 "$FOLIO_BIN" build -s "$S" --as-of 2026-01-01T00:00:00Z >"$T/trace.log" 2>&1; }
same_full() {
    rm -rf "$T/full" "$T/.full.prev"
    build --full -o "$T/full" && diff -r -x '.folio-*' "$S/public" "$T/full" >"$T/diff" 2>&1
}
sleep 2.1
trace && trace
if grep -q 'site: folders unchanged' "$T/trace.log"; then
    ok "folders unchanged since the last build: no walk of content/"
else fail "folders unchanged" "content/ walked: $(grep 'site: ' "$T/trace.log" | head -3)"; fi
some=$(ls "$S"/content/projects/*.md | head -n 1)
printf '\nA line.\n' >>"$some"
trace && same_full && grep -q 'site: folders unchanged' "$T/trace.log" &&
    ok "an edit without a walk equals a full build" ||
    fail "an edit without a walk" "$(head -5 "$T/diff")"
printf -- '---\ntitle: "Added late"\ndate: 2025-02-02\n---\n\nNew.\n' >"$S/content/projects/late.md"
trace && same_full && grep -q 'site: content walked' "$T/trace.log" &&
    [ -f "$S/public/projects/late/index.html" ] &&
    ok "a file added to an unchanged folder is found" ||
    fail "a file added to an unchanged folder" "$(head -5 "$T/diff")"
sleep 2.1
trace && trace
rm "$S/content/projects/late.md"
trace && same_full && [ ! -e "$S/public/projects/late/index.html" ] &&
    ok "a file removed from an unchanged folder is gone" ||
    fail "a file removed from an unchanged folder" "$(head -5 "$T/diff")"

# A body-only edit renders that page only (its summary is in the front
# matter, and the lists show reading minutes, which do not change).
build && build
p=$S/content/projects/g00.md
[ ! -f "$p" ] || sed -i 's/^summary:.*//' "$p"
printf -- '---\ntitle: "Body only"\ndate: 2025-01-01\nsummary: "Fixed"\n---\n\nOne.\n' >"$p"
build && build
printf '\nTwo.\n' >>"$p"
build
n=$(sed -n 's/^folio: built \([0-9]*\) pages.*/\1/p' "$T/build.log")
# the page itself, and the community page (it reads event-store data)
if [ "${n:-x}" -le 2 ] 2>/dev/null; then ok "a body-only edit renders $n pages"
else fail "a body-only edit" "rendered ${n:-?} pages: $(cat "$T/build.log")"; fi
grep -q "Two." "$S/public/projects/g00/index.html" && ok "the edited page is new" ||
    fail "the edited page" "does not have the new text"

# Unchanged output files keep their inode and mtime (nginx ETags stay).
before=$(stat -c %i.%Y "$S/public/projects/index.html")
build && build
after=$(stat -c %i.%Y "$S/public/projects/index.html")
[ "$before" = "$after" ] && ok "unchanged pages are not rewritten" ||
    fail "unchanged pages" "rewritten ($before -> $after)"

# kill -9 in the middle of a build: the next build removes what it left.
mkdir -p "$S/.public.new-Ab12Cd/projects"
echo stale >"$S/.public.new-Ab12Cd/projects/x.html"
"$FOLIO_BIN" build -s "$S" --full >/dev/null 2>&1 &
pid=$!
sleep 0.05
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
build || fail "the build after kill -9" "$(cat "$T/build.log")"
left=$(ls -a "$S" | grep -c '^\.public\.new-')
[ "$left" = 0 ] && ok "no .public.new-* folder after the next build" ||
    fail "stale folders" "$(ls -a "$S")"
rm -rf "$T/full" "$T/.full.prev"
build --full -o "$T/full" && diff -r -x '.folio-*' "$S/public" "$T/full" >/dev/null &&
    ok "the build after kill -9 equals a full one" ||
    fail "the build after kill -9" "differs from a full build"

# Dot files in static/ are not published.
echo secret >"$S/static/.env"
mkdir -p "$S/static/.git" && echo x >"$S/static/.git/HEAD"
build
[ ! -e "$S/public/.env" ] && [ ! -e "$S/public/.git" ] && ok "static dot files are not published" ||
    fail "static dot files" "published"

t_done
