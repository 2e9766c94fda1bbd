#!/bin/sh
# The default theme and demo site: what every visitor-facing page must be.
# Builds the demo site, then reads every page with Python's HTML parser:
# lang from folio.yml, one <h1>, the landmarks, a skip link, alt on every
# image, aria-current on the active menu item, no JavaScript, no inline
# styles, nothing loaded from elsewhere (CSP default-src 'self'). Then the
# two forms: labels, autocomplete, limits, the hidden honeypot; and, through
# `folio render`, a refused form: values kept and escaped, each error beside
# its field (aria-describedby, aria-invalid), an error summary first.
set -u
: "${FOLIO_SRCDIR:?run through make check}" "${FOLIO_BIN:?}"
command -v python3 >/dev/null || { echo "python3 missing (./quickstart test installs it)"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/folio-theme-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM

mkdir -p "$T/site"
cp -R "$FOLIO_SRCDIR/folio.yml" "$FOLIO_SRCDIR/content" "$FOLIO_SRCDIR/static" "$T/site/"
if ! "$FOLIO_BIN" build -s "$T/site" -o "$T/out" >"$T/build.log" 2>&1; then
    cat "$T/build.log"
    echo "FAIL - build the demo site"
    echo "0 passed, 1 failed"
    exit 1
fi

# A refused contact form and a refused registration, rendered the way
# folio-fcgi renders them: the page's own context plus `form`.
cat >"$T/contact.json" <<'EOF'
{"site": {"title": "T", "language": "en", "menu": [], "year": 2026, "params": {}},
 "page": {"title": "Contact", "url": "/contact/", "kind": "section", "content": "<p>Hi</p>",
          "params": {}},
 "form": {"has_errors": true,
          "values": {"name": "Ada <b>bold</b> \"quoted\"", "email": "not-an-address",
                     "subject": "", "message": "\nfirst line kept\n<script>x</script>"},
          "errors": {"email": "must be a valid e-mail address",
                     "message": "must be at most 5000 characters"}}}
EOF
cat >"$T/register.json" <<'EOF'
{"site": {"title": "T", "language": "en", "menu": [], "year": 2026, "params": {}},
 "page": {"title": "Join", "url": "/register/", "kind": "section", "content": "",
          "params": {}},
 "form": {"has_errors": true,
          "values": {"email": "ada@example.org", "display_name": "", "password": "hunter2hunter2"},
          "errors": {"display_name": "must not be empty",
                     "password": "must be at least 10 characters long"}}}
EOF
for f in contact register; do
    if ! "$FOLIO_BIN" render "$FOLIO_SRCDIR/themes/default/templates/$f.mustache" --data "$T/$f.json" \
        --partials "$FOLIO_SRCDIR/themes/default/templates" >"$T/$f-refused.html" 2>"$T/$f-render.log"; then
        echo "# folio render $f: $(cat "$T/$f-render.log")"
        : >"$T/$f-refused.html"
    fi
done

cat >"$T/theme.py" <<'EOF'
import os, re, sys
from html.parser import HTMLParser

out, tmp = sys.argv[1], sys.argv[2]
passed = failed = 0

def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"FAIL - {name}" + (f": {detail}" if detail else ""))

class Page(HTMLParser):
    """Elements with their attributes, in document order, and their depth."""
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.els, self.stack, self.text = [], [], {}
        self.cur_text = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        el = {"tag": tag, "a": a, "parents": list(self.stack), "text": ""}
        self.els.append(el)
        if tag not in ("area", "base", "br", "col", "embed", "hr", "img", "input",
                       "link", "meta", "source", "track", "wbr"):
            self.stack.append(el)
    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break
    def handle_data(self, data):
        for el in self.stack:
            el["text"] += data
    def find(self, tag=None, **attrs):
        return [e for e in self.els if (tag is None or e["tag"] == tag) and
                all(e["a"].get(k.rstrip("_")) == v for k, v in attrs.items())]

def parse(path):
    p = Page()
    with open(path, encoding="utf-8") as f:
        src = f.read()
    p.feed(src)
    return p, src

pages = []
for root, _, files in os.walk(out):
    for f in files:
        if f.endswith(".html"):
            pages.append(os.path.join(root, f))
pages.sort()
check("the demo has pages", len(pages) >= 20, f"{len(pages)} pages")

# ---- every page ----------------------------------------------------------
probs = {k: [] for k in ("lang", "h1", "landmarks", "skip", "alt", "script",
                         "style", "external", "title", "viewport")}
for path in pages:
    rel = "/" + os.path.relpath(path, out)
    p, src = parse(path)
    html = p.find("html")
    if not html or html[0]["a"].get("lang") != "en":
        probs["lang"].append(rel)
    if len(p.find("h1")) != 1:
        probs["h1"].append(f"{rel} ({len(p.find('h1'))})")
    main = p.find("main")
    if not (len(main) == 1 and main[0]["a"].get("id") == "main" and p.find("header")
            and p.find("footer") and p.find("nav")):
        probs["landmarks"].append(rel)
    first_a = p.find("a")
    if not first_a or first_a[0]["a"].get("href") != "#main":
        probs["skip"].append(rel)
    for img in p.find("img"):
        if "alt" not in img["a"]:
            probs["alt"].append(f"{rel} {img['a'].get('src')}")
    # JSON-LD is data, never run: the one script element a page may hold
    code = [e for e in p.find("script") if e["a"].get("type") != "application/ld+json"]
    if code or re.search(r"\son[a-z]+\s*=", src, re.I) or "javascript:" in src:
        probs["script"].append(rel)
    if p.find("style") or any("style" in e["a"] for e in p.els):
        probs["style"].append(rel)
    for e in p.els:
        # Loaded resources must be same-origin; links to elsewhere are fine.
        for attr in ("src", "srcset", "poster", "data"):
            v = e["a"].get(attr) or ""
            if re.match(r"^(https?:)?//", v):
                probs["external"].append(f"{rel} {v}")
        if e["tag"] == "link" and e["a"].get("rel") in ("stylesheet", "icon", "preload", "manifest"):
            if re.match(r"^(https?:)?//", e["a"].get("href") or ""):
                probs["external"].append(f"{rel} {e['a']['href']}")
    t = p.find("title")
    if len(t) != 1 or not t[0]["text"].strip():
        probs["title"].append(rel)
    if not p.find("meta", name="viewport"):
        probs["viewport"].append(rel)
names = {"lang": "every page has lang=\"en\" from folio.yml",
         "h1": "every page has exactly one <h1>",
         "landmarks": "every page has header, nav, main#main and footer",
         "skip": "every page starts with a skip link to #main",
         "alt": "every image has alt text",
         "script": "no page has JavaScript",
         "style": "no page has inline styles (CSP)",
         "external": "nothing is loaded from another origin (CSP)",
         "title": "every page has a <title>",
         "viewport": "every page has a viewport meta"}
for k, v in probs.items():
    check(names[k], not v, ", ".join(v[:5]))

# ---- navigation ------------------------------------------------------------
p, _ = parse(os.path.join(out, "projects/ringlog/index.html"))
cur = [e for e in p.find("a") if "aria-current" in e["a"]]
check("the active menu item carries aria-current",
      len(cur) == 1 and cur[0]["a"].get("href") == "/projects/",
      str([e["a"] for e in cur]))
for need in ("contact/thanks/index.html", "register/welcome/index.html", "404.html",
             "tags/index.html", "about/index.html", "community/index.html",
             "projects/index.html"):
    check(f"/{need} exists", os.path.isfile(os.path.join(out, need)))

p, _ = parse(os.path.join(out, "index.html"))
check("the home page lists featured projects",
      len(p.find("li", class_="card card--featured")) >= 2)
check("the home page shows the member count",
      len(p.find("span", class_="stat__number")) == 1)

p, src = parse(os.path.join(out, "community/index.html"))
check("the community page has an empty state without members",
      "No members yet" in src)

# ---- the forms as built ------------------------------------------------------
def labelled(p, fid):
    return any(l["a"].get("for") == fid for l in p.find("label"))

p, _ = parse(os.path.join(out, "contact/index.html"))
form = p.find("form", action="/contact")
check("the contact form posts to /contact",
      len(form) == 1 and form[0]["a"].get("method") == "post")
want = {"name": ("input", "text", "name"), "email": ("input", "email", "email"),
        "subject": ("input", "text", None), "message": ("textarea", None, None)}
for fid, (tag, typ, ac) in want.items():
    els = [e for e in p.els if e["a"].get("id") == fid]
    ok = (len(els) == 1 and els[0]["tag"] == tag and els[0]["a"].get("name") == fid and
          (typ is None or els[0]["a"].get("type") == typ) and
          (ac is None or els[0]["a"].get("autocomplete") == ac) and labelled(p, fid))
    check(f"contact field {fid}: {tag}, labelled" + (f", autocomplete={ac}" if ac else ""),
          ok, str(els[0]["a"]) if els else "missing")
for fid in ("name", "email", "message"):
    el = [e for e in p.els if e["a"].get("id") == fid]
    check(f"contact field {fid} is required", bool(el) and "required" in el[0]["a"])
sub = [e for e in p.els if e["a"].get("id") == "subject"]
check("contact subject is optional", bool(sub) and "required" not in sub[0]["a"])
hp = p.find("input", name="website")
ok = (len(hp) == 1 and hp[0]["a"].get("tabindex") == "-1" and
      hp[0]["a"].get("autocomplete") == "off" and not hp[0]["a"].get("value") and
      any(x["a"].get("aria-hidden") == "true" and "hp" in (x["a"].get("class") or "").split()
          for x in hp[0]["parents"]))
check("the honeypot 'website' is hidden, unfocusable by Tab, autocomplete off", ok,
      str(hp[0]["a"]) if hp else "missing")
css = open(os.path.join(out, "css/site.css"), encoding="utf-8").read()
m = re.search(r"\.hp\s*\{([^}]*)\}", css)
check("the stylesheet moves the honeypot off-screen",
      bool(m) and "position: absolute" in m.group(1) and "-10000px" in m.group(1))

p, _ = parse(os.path.join(out, "register/index.html"))
form = p.find("form", action="/register")
check("the registration form posts to /register",
      len(form) == 1 and form[0]["a"].get("method") == "post")
for fid, typ, ac in (("email", "email", "email"), ("display_name", "text", "nickname"),
                     ("password", "password", "new-password")):
    els = [e for e in p.els if e["a"].get("id") == fid]
    ok = (len(els) == 1 and els[0]["a"].get("name") == fid and els[0]["a"].get("type") == typ
          and els[0]["a"].get("autocomplete") == ac and "required" in els[0]["a"]
          and labelled(p, fid))
    check(f"register field {fid}: type={typ}, autocomplete={ac}, required, labelled", ok)
pw = p.find("input", id="password")
check("the password asks for 10 to 1024 characters",
      bool(pw) and pw[0]["a"].get("minlength") == "10" and pw[0]["a"].get("maxlength") == "1024")

# ---- a refused form ------------------------------------------------------------
path = os.path.join(tmp, "contact-refused.html")
if os.path.getsize(path) == 0:
    check("folio render draws the refused contact form", False, "no output")
else:
    p, src = parse(path)
    summary = p.find("div", id="error-summary")
    check("an error summary comes before the fields", bool(summary) and
          p.els.index(summary[0]) < p.els.index(p.find("input", id="name")[0]))
    links = [e["a"].get("href") for e in p.find("a") if summary and summary[0] in e["parents"]]
    check("the summary links to each field in error", links == ["#email", "#message"], str(links))
    em = p.find("input", id="email")[0]["a"]
    check("the e-mail field is marked invalid and described by its error",
          em.get("aria-invalid") == "true" and
          "email-error" in (em.get("aria-describedby") or "").split())
    err = [e for e in p.els if e["a"].get("id") == "email-error"]
    check("the e-mail error sits in the e-mail field's group",
          bool(err) and any(x["tag"] == "div" and "field" in (x["a"].get("class") or "").split()
                            for x in err[0]["parents"]) and
          "valid e-mail" in err[0]["text"])
    msg = p.find("textarea", id="message")[0]
    check("the message field is marked invalid", msg["a"].get("aria-invalid") == "true")
    nm = p.find("input", id="name")[0]["a"]
    check("the name field, without an error, is not marked invalid",
          "aria-invalid" not in nm and "aria-describedby" not in nm)
    check("what they typed is kept, as text", nm.get("value") == 'Ada <b>bold</b> "quoted"'
          and "<b>bold" not in src, nm.get("value"))
    check("the message is kept with its first newline, as text",
          "\n\nfirst line kept\n&lt;script&gt;x&lt;/script&gt;</textarea>" in src)
    check("the title says there is an error", p.find("title")[0]["text"].startswith("Error:"))

path = os.path.join(tmp, "register-refused.html")
if os.path.getsize(path) == 0:
    check("folio render draws the refused registration form", False, "no output")
else:
    p, src = parse(path)
    check("the password is never written back", "hunter2hunter2" not in src)
    check("the e-mail address is kept", p.find("input", id="email")[0]["a"].get("value")
          == "ada@example.org")
    dn = p.find("input", id="display_name")[0]["a"]
    check("the display name is described by its hint and its error",
          (dn.get("aria-describedby") or "").split() == ["display_name-hint", "display_name-error"]
          and dn.get("aria-invalid") == "true")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
EOF
python3 "$T/theme.py" "$T/out" "$T"
