/* Tests for site: the page graph, URLs, order, pagination, feeds, errors,
 * the atomic swap and the projection dependencies. Each test builds a tiny
 * site of its own in a temp directory, with tiny templates of its own. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "site.h"
#include "util.h"
#include "unit.h"

static char S_dir[64];

static void setup(void)
{
    unit_tmpdir(S_dir, sizeof S_dir, "site");
}

static void teardown(void)
{
    unit_rmdir(S_dir);
}

static void put(const char *name, const char *text)
{
    char p[PATH_MAX];
    folio_err err;
    ck_assert_int_eq(util_path(p, sizeof p, &err, "%s/%s", S_dir, name), 0);
    ck_assert_msg(util_write_atomic(p, text, strlen(text), 0, &err) == 0, "%s", err.msg);
}

/* The contents of OUT/rel, or NULL. Caller frees. */
static char *out_file(const char *rel)
{
    char p[PATH_MAX];
    folio_err err;
    char *data;
    size_t len;
    ck_assert_int_eq(util_path(p, sizeof p, &err, "%s/public/%s", S_dir, rel), 0);
    if (util_read_file(p, &data, &len, &err) != 0)
        return NULL;
    return data;
}

static int out_exists(const char *rel)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/public/%s", S_dir, rel);
    return util_is_file(p) || util_is_dir(p);
}

static void expect_out(const char *rel, const char *want)
{
    char *got = out_file(rel);
    ck_assert_msg(got != NULL, "%s was not written", rel);
    ck_assert_msg(strstr(got, want) != NULL, "%s: wanted '%s' in:\n%s", rel, want, got);
    free(got);
}

/* The same tiny theme for every test. */
static void theme(void)
{
    /* an empty default theme of the site's own hides folio's */
    put("themes/default/theme.yml", "params: {}\n");
    put("templates/default.mustache", "D|{{page.kind}}|{{page.title}}|{{{page.content}}}");
    put("templates/page.mustache",
        "P|{{page.title}}|{{page.url}}|{{page.date}}|{{page.date_long}}|w{{page.words}}"
        "|{{page.summary}}|{{#page.prev}}prev={{url}}{{/page.prev}}"
        "|{{#page.next}}next={{url}}{{/page.next}}|{{#page.tags}}[{{name}}:{{url}}]{{/page.tags}}"
        "|{{#site.menu}}{{#active}}active={{name}}{{/active}}{{/site.menu}}"
        "|{{{page.content}}}");
    put("templates/section.mustache",
        "S|{{page.title}}|{{#pages}}{{url}} {{/pages}}|{{paginator.page}}/{{paginator.pages}}"
        "|{{paginator.prev_url}}|{{paginator.next_url}}|{{paginator.total}}");
    put("templates/home.mustache",
        "H|{{site.title}}|{{#pages}}{{url}} {{/pages}}|{{#site.sections}}{{name}}={{count}} "
        "{{/site.sections}}|{{#site.recent}}{{url}} {{/site.recent}}");
    put("templates/taxonomy.mustache", "T|{{term.name}}|{{term.count}}|{{#pages}}{{url}} {{/pages}}");
    put("templates/terms.mustache", "TS|{{#terms}}{{name}}={{count}} {{/terms}}");
}

static folio_config S_cfg;

static site *open_site(const site_opts *o, folio_err *err)
{
    ck_assert_msg(config_load(S_dir, &S_cfg, err) == 0, "%s", err->msg);
    site_opts def = {0};
    long long now;
    util_parse_time("2025-06-01", &now);
    def.now_ms = now;
    def.jobs = 2;
    site *s = site_open(&S_cfg, o ? o : &def, err);
    if (!s)
        config_free(&S_cfg);
    return s;
}

static void close_site(site *s)
{
    site_close(s);
    config_free(&S_cfg);
}

/* Builds and expects success. */
static void build_ok(const site_opts *o)
{
    folio_err err = {{0}};
    site *s = open_site(o, &err);
    ck_assert_msg(s != NULL, "site_open: %s", err.msg);
    ck_assert_msg(site_build(s, &err) == 0, "site_build: %s", err.msg);
    close_site(s);
}

/* Open or build fails with a message containing each of want[]. */
static void build_fails(const char *const *want)
{
    folio_err err = {{0}};
    site *s = open_site(NULL, &err);
    int rc = -1;
    if (s) {
        rc = site_build(s, &err);
        close_site(s);
    }
    ck_assert_msg(rc != 0, "the build succeeded");
    for (int i = 0; want[i]; i++)
        ck_assert_msg(strstr(err.msg, want[i]) != NULL, "message '%s' lacks '%s'", err.msg,
                      want[i]);
}

START_TEST(test_urls_and_order)
{
    theme();
    put("folio.yml", "title: T\npaginate: 100\nmenu:\n  - {name: Home, url: /}\n"
                     "  - {name: Posts, url: /posts/}\n  - {name: About, url: /about/}\n");
    put("content/_index.md", "---\ntitle: Home\n---\nWelcome.\n");
    put("content/about.md", "---\ntitle: About\n---\nAbout me, in **four** words.\n\nMore.\n");
    put("content/posts/_index.md", "---\ntitle: All posts\n---\n");
    put("content/posts/a.md", "---\ntitle: A\nweight: 2\n---\n");
    put("content/posts/b.md", "---\ntitle: B\nweight: 1\ntags: [C Lang, web]\n---\n");
    put("content/posts/c.md", "---\ntitle: C\ndate: 2025-01-02\n---\n");
    put("content/posts/d.md", "---\ntitle: D\ndate: 2025-03-01\n---\n");
    put("content/posts/e.md", "---\ntitle: E1\nslug: custom\n---\n");
    put("content/posts/f.md", "---\ntitle: F\ntags: [web]\n---\n");
    put("content/posts/deep/g.md", "---\ntitle: G\n---\n");
    build_ok(NULL);
    /* weight first (0 = after the weighted), then date newest first, then title */
    expect_out("posts/index.html",
               "S|All posts|/posts/b/ /posts/a/ /posts/d/ /posts/c/ /posts/custom/ "
               "/posts/f/ /posts/deep/g/ |1/1|||7");
    expect_out("posts/custom/index.html", "P|E1|/posts/custom/|");
    expect_out("posts/deep/g/index.html", "P|G|/posts/deep/g/|");
    expect_out("posts/d/index.html",
               "P|D|/posts/d/|2025-03-01|1 March 2025|w0||prev=/posts/a/|next=/posts/c/|");
    expect_out("posts/b/index.html", "|[C Lang:/tags/c-lang/][web:/tags/web/]|active=Posts|");
    expect_out("about/index.html", "P|About|/about/||");
    expect_out("about/index.html", "|w6|About me, in four words.|");
    expect_out("about/index.html", "active=About|");
    expect_out("index.html", "H|T|/posts/b/ /posts/a/ /posts/d/ /posts/c/ /about/ ");
    expect_out("index.html", "|posts=7 |/posts/d/ /posts/c/ ");
    expect_out("tags/index.html", "TS|web=2 C Lang=1 ");
    expect_out("tags/web/index.html", "T|web|2|/posts/b/ /posts/f/ ");
    expect_out("tags/c-lang/index.html", "T|C Lang|1|/posts/b/ ");
    expect_out("sitemap.xml", "<loc>http://127.0.0.1:8080/posts/custom/</loc>");
    expect_out("robots.txt", "Sitemap: http://127.0.0.1:8080/sitemap.xml");
    expect_out("posts/index.xml", "<link href=\"http://127.0.0.1:8080/posts/d/\"/>");
    expect_out("index.xml", "<feed xmlns=\"http://www.w3.org/2005/Atom\">");
    /* no 404 template: default renders it */
    expect_out("404.html", "D|404|Page not found|");
}
END_TEST

START_TEST(test_pagination)
{
    theme();
    put("folio.yml", "paginate: 2\n");
    for (int i = 1; i <= 5; i++) {
        char name[64], text[128];
        snprintf(name, sizeof name, "content/posts/p%d.md", i);
        snprintf(text, sizeof text, "---\ntitle: P%d\nweight: %d\n---\n", i, i);
        put(name, text);
    }
    build_ok(NULL);
    expect_out("posts/index.html", "|/posts/p1/ /posts/p2/ |1/3||/posts/page/2/|5");
    expect_out("posts/page/2/index.html", "|/posts/p3/ /posts/p4/ |2/3|/posts/|/posts/page/3/|5");
    expect_out("posts/page/3/index.html", "|/posts/p5/ |3/3|/posts/page/2/||5");
    ck_assert(!out_exists("posts/page/4"));
    expect_out("page/3/index.html", "H|");
}
END_TEST

/* paginate: on an _index.md overrides folio.yml (false: one page); unlisted
 * pages are rendered but left out of lists, tags, feeds and the sitemap. */
START_TEST(test_list_controls)
{
    theme();
    put("folio.yml", "paginate: 2\n");
    put("content/_index.md", "---\ntitle: Home\npaginate: false\n---\n");
    put("content/posts/_index.md", "---\ntitle: Posts\npaginate: 3\n---\n");
    for (int i = 1; i <= 5; i++) {
        char name[64], text[128];
        snprintf(name, sizeof name, "content/posts/p%d.md", i);
        snprintf(text, sizeof text, "---\ntitle: P%d\nweight: %d\ntags: [t]\n---\n", i, i);
        put(name, text);
    }
    put("content/posts/thanks.md", "---\ntitle: Thanks\nunlisted: true\ntags: [t]\n---\nHi.\n");
    build_ok(NULL);
    expect_out("index.html", "|/posts/p1/ /posts/p2/ /posts/p3/ /posts/p4/ /posts/p5/ |posts=5 |");
    ck_assert(!out_exists("page/2"));
    expect_out("posts/index.html", "|/posts/p1/ /posts/p2/ /posts/p3/ |1/2||/posts/page/2/|5");
    expect_out("posts/thanks/index.html", "P|Thanks|/posts/thanks/|");
    char *f;
    const char *no[] = {"sitemap.xml", "index.xml", "posts/index.xml", "tags/t/index.html",
                        "posts/page/2/index.html"};
    for (size_t k = 0; k < sizeof no / sizeof *no; k++) {
        f = out_file(no[k]);
        ck_assert_msg(f != NULL, "%s missing", no[k]);
        ck_assert_msg(strstr(f, "/posts/thanks/") == NULL, "%s lists the unlisted page", no[k]);
        free(f);
    }
}
END_TEST

START_TEST(test_escaping)
{
    theme();
    put("folio.yml", "title: \"Ada & <Co>\"\nbase_url: \"https://ex.org/a&b/\"\n");
    put("content/posts/x.md", "---\ntitle: \"A <b> & \\\"q\\\" 'x'\"\n"
                              "summary: \"1 < 2 & <script>\"\ndate: 2025-01-01\n"
                              "lastmod: 2025-02-01\n"
                              "aliases: [/old/x/]\n---\nbody\n");
    build_ok(NULL);
    expect_out("index.xml", "<title>Ada &amp; &lt;Co&gt;</title>");
    expect_out("index.xml", "<title>A &lt;b&gt; &amp; &quot;q&quot; &#39;x&#39;</title>");
    expect_out("index.xml", "<summary>1 &lt; 2 &amp; &lt;script&gt;</summary>");
    expect_out("index.xml", "</author>\n<entry>"); /* entries after the feed's head */
    expect_out("index.xml", "<id>https://ex.org/a&amp;b/</id>\n<updated>2025-02-01T00:00:00Z</updated>");
    expect_out("index.xml", "<updated>2025-02-01T00:00:00Z</updated>\n<published>2025-01-01T00:00:00Z</published>");
    expect_out("sitemap.xml", "<loc>https://ex.org/a&amp;b/posts/x/</loc><lastmod>2025-02-01T00:00:00Z</lastmod>");
    expect_out("index.xml", "<link href=\"https://ex.org/a&amp;b/posts/x/\"/>");
    expect_out("posts/index.xml", "<title>Ada &amp; &lt;Co&gt;: Posts</title>");
    expect_out("sitemap.xml", "<loc>https://ex.org/a&amp;b/posts/x/</loc>");
    expect_out("posts/x/index.html", "P|A &lt;b&gt; &amp; &quot;q&quot;");
    /* the alias: a redirect with a canonical link, title escaped */
    expect_out("old/x/index.html", "<link rel=\"canonical\" href=\"https://ex.org/a&amp;b/posts/x/\">");
    expect_out("old/x/index.html", "<meta http-equiv=\"refresh\" content=\"0; url=/posts/x/\">");
    expect_out("old/x/index.html", ">A &lt;b&gt; &amp; &quot;q&quot; &#39;x&#39;</a>");
    char *feed = out_file("index.xml");
    ck_assert_ptr_null(strstr(feed, "<script>"));
    free(feed);
}
END_TEST

START_TEST(test_url_conflicts)
{
    theme();
    put("content/a.md", "---\ntitle: A\nslug: x\n---\n");
    put("content/x.md", "---\ntitle: X\n---\n");
    const char *const w1[] = {"a.md", "x.md", "/x/", NULL};
    build_fails(w1);
    put("content/a.md", "---\ntitle: A\n---\n");
    put("content/x.md", "---\ntitle: X\naliases: [/tags/]\ntags: [t]\n---\n");
    const char *const w2[] = {"/tags/", "x.md", NULL};
    build_fails(w2);
    put("content/x.md", "---\ntitle: X\n---\n");
    put("content/posts/_index.md", "---\ntitle: P\n---\n");
    put("content/posts.md", "---\ntitle: P2\n---\n");
    const char *const w3[] = {"posts.md", "posts/_index.md", "/posts/", NULL};
    build_fails(w3);
}
END_TEST

START_TEST(test_errors_name_the_file)
{
    theme();
    put("content/a.md", "---\ntitle: A\nlayout: nope\n---\n");
    const char *const w1[] = {"content/a.md", "unknown layout 'nope'", NULL};
    build_fails(w1);
    put("content/a.md", "---\ntitle: A\n\ndate: soon\n---\n");
    const char *const w2[] = {"content/a.md:4: date", NULL};
    build_fails(w2);
    put("content/a.md", "---\ntitle: [A\n---\n");
    const char *const w3[] = {"content/a.md:2", NULL};
    build_fails(w3);
    put("content/a.md", "---\ntitle: A\nlayout: withpartial\n---\n");
    put("templates/withpartial.mustache", "x{{>partials/missing}}y");
    const char *const w4[] = {"content/a.md", "partials/missing", NULL};
    build_fails(w4);
    put("content/a.md", "---\ntitle: A\n---\n");
    put("content/my post?.md", "---\ntitle: B\n---\n");
    const char *const w5[] = {"content/my post?.md", "would need escaping", NULL};
    build_fails(w5);
}
END_TEST

START_TEST(test_drafts_and_future)
{
    theme();
    put("content/posts/now.md", "---\ntitle: Now\ndate: 2025-05-01\n---\n");
    put("content/posts/draft.md", "---\ntitle: Draft\ndraft: true\n---\n");
    put("content/posts/future.md", "---\ntitle: Future\ndate: 2025-07-01\n---\n");
    build_ok(NULL); /* now = 2025-06-01 */
    ck_assert(out_exists("posts/now/index.html"));
    ck_assert(!out_exists("posts/draft"));
    ck_assert(!out_exists("posts/future"));
    char *list = out_file("posts/index.html");
    ck_assert_ptr_null(strstr(list, "draft"));
    ck_assert_ptr_null(strstr(list, "future"));
    free(list);
    site_opts o = {0};
    util_parse_time("2025-06-01", &o.now_ms);
    o.drafts = 1;
    build_ok(&o);
    ck_assert(out_exists("posts/draft/index.html"));
    ck_assert(out_exists("posts/future/index.html"));
    /* as of a later time the future page is simply published */
    o.drafts = 0;
    util_parse_time("2025-08-01", &o.now_ms);
    build_ok(&o);
    ck_assert(out_exists("posts/future/index.html"));
    ck_assert(!out_exists("posts/draft"));
}
END_TEST

START_TEST(test_failed_build_keeps_public)
{
    theme();
    put("content/a.md", "---\ntitle: A\n---\n");
    put("static/css/x.css", "body{}");
    build_ok(NULL);
    expect_out("a/index.html", "P|A|");
    expect_out("css/x.css", "body{}");
    put("public/marker.txt", "old");
    /* fails while rendering, after many files were written */
    for (int i = 0; i < 20; i++) {
        char name[64];
        snprintf(name, sizeof name, "content/b%02d.md", i);
        put(name, i == 19 ? "---\ntitle: B\nlayout: withpartial\n---\n" : "---\ntitle: B\n---\n");
    }
    put("templates/withpartial.mustache", "{{>nope}}");
    const char *const w[] = {"content/b19.md", NULL};
    build_fails(w);
    expect_out("marker.txt", "old");
    ck_assert(!out_exists("b00"));
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s | grep new)\"", S_dir);
    ck_assert_msg(system(cmd) == 0, "a half-built tree was left beside public/");
    /* and a good build swaps in completely: the marker is gone */
    put("templates/withpartial.mustache", "W");
    build_ok(NULL);
    ck_assert(!out_exists("marker.txt"));
    expect_out("b19/index.html", "W");
}
END_TEST


START_TEST(test_rebuild_reuses_tree)
{
    theme();
    put("content/a.md", "---\ntitle: A\n---\n");
    put("content/b.md", "---\ntitle: B\n---\n");
    put("static/old.css", "old");
    build_ok(NULL); /* fresh */
    build_ok(NULL); /* fresh again; the first tree is kept beside public/ */
    char prev[128];
    snprintf(prev, sizeof prev, "%s/.public.prev", S_dir);
    ck_assert(util_is_dir(prev));
    char keep[PATH_MAX];
    snprintf(keep, sizeof keep, "%s/a/index.html", prev);
    struct stat st1, st2;
    ck_assert_int_eq(stat(keep, &st1), 0);
    /* change things, then build into the kept tree */
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/content/b.md", S_dir);
    ck_assert_int_eq(unlink(p), 0);
    snprintf(p, sizeof p, "%s/static/old.css", S_dir);
    ck_assert_int_eq(unlink(p), 0);
    put("content/c.md", "---\ntitle: C\naliases: [/b/]\n---\n");
    put("static/new.css", "new");
    sleep(1);
    build_ok(NULL);
    expect_out("c/index.html", "P|C|");
    expect_out("b/index.html", "url=/c/"); /* now an alias */
    expect_out("new.css", "new");
    ck_assert(!out_exists("old.css"));
    expect_out("a/index.html", "P|A|");
    snprintf(keep, sizeof keep, "%s/public/a/index.html", S_dir);
    ck_assert_int_eq(stat(keep, &st2), 0);
    ck_assert_int_eq(st1.st_ino, st2.st_ino);             /* the same tree ... */
    ck_assert_int_eq(st1.st_mtime, st2.st_mtime);         /* ... an unchanged page untouched */
    /* same length, other bytes: rewritten */
    put("content/a.md", "---\ntitle: Q\n---\n");
    build_ok(NULL);
    build_ok(NULL);
    expect_out("a/index.html", "P|Q|");
    put("content/a.md", "---\ntitle: A\n---\n");
    /* a page that goes away takes its directory along */
    snprintf(p, sizeof p, "%s/content/c.md", S_dir);
    ck_assert_int_eq(unlink(p), 0);
    build_ok(NULL);
    build_ok(NULL);
    ck_assert(!out_exists("c"));
    ck_assert(!out_exists("b"));
    /* a build that fails half-way through a kept tree: public/ stays, the next build works */
    put("content/z.md", "---\ntitle: Z\nlayout: withpartial\n---\n");
    put("templates/withpartial.mustache", "{{>nope}}");
    const char *const w[] = {"content/z.md", NULL};
    build_fails(w);
    expect_out("a/index.html", "P|A|");
    ck_assert(!out_exists("z"));
    put("templates/withpartial.mustache", "Z!");
    build_ok(NULL);
    expect_out("z/index.html", "Z!");
    build_ok(NULL);
    expect_out("z/index.html", "Z!");
    expect_out("a/index.html", "P|A|");
}
END_TEST

/* Every file under a and b, and their bytes, are the same. */
static void S_same_tree(const char *a, const char *b)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "diff -r -x '.folio-*' '%s' '%s' >/dev/null", a, b);
    ck_assert_msg(system(cmd) == 0, "%s and %s differ", a, b);
}

/* folio serve's two quick rebuilds: a body edit builds the same site
 * object again; other edits open a new one from the site served (donor). */
START_TEST(test_serve_rebuilds)
{
    theme();
    for (int i = 0; i < 12; i++) {
        char name[64], text[128];
        snprintf(name, sizeof name, "content/posts/p%02d.md", i);
        snprintf(text, sizeof text, "---\ntitle: P%d\ndate: 2024-01-%02d\ntags: [t%d]\n---\n\n"
                 "Body %d, [a link](/posts/p00/).\n", i, i + 1, i % 3, i);
        put(name, text);
    }
    folio_err err = {{0}};
    site *s = open_site(NULL, &err);
    ck_assert_msg(s && site_build(s, &err) == 0, "%s", err.msg);
    ck_assert_msg(site_build(s, &err) == 0, "%s", err.msg); /* the second tree */
    /* p00 is not among the recent pages: its body alone changes */
    sleep(1);
    put("content/posts/p00.md", "---\ntitle: P0\ndate: 2024-01-01\ntags: [t0]\n---\n\n"
        "A new body, longer than the old one.\n");
    const char *files[] = {"posts/p00.md"};
    ck_assert_int_eq(site_rebuild_bodies(s, files, 1, &err), 1);
    expect_out("posts/p00/index.html", "A new body");
    expect_out("posts/p00/index.html", "|w8|A new body"); /* words and summary again */
    /* the same as a whole build made from nothing */
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s/full", S_dir);
    site_opts fo = {.out_dir = full, .jobs = 2, .full = 1};
    util_parse_time("2025-06-01", &fo.now_ms);
    folio_config c2;
    ck_assert(config_load(S_dir, &c2, &err) == 0);
    site *f = site_open(&c2, &fo, &err);
    ck_assert_msg(f && site_build(f, &err) == 0, "%s", err.msg);
    char pub[PATH_MAX];
    snprintf(pub, sizeof pub, "%s/public", S_dir);
    S_same_tree(pub, full);
    site_close(f);
    /* a new title is more than a body: nothing is done */
    put("content/posts/p00.md", "---\ntitle: Retitled\ndate: 2024-01-01\n---\n\nX\n");
    ck_assert_int_eq(site_rebuild_bodies(s, files, 1, &err), 0);
    expect_out("posts/p00/index.html", "A new body");
    /* nor is a page that is gone, or one on every page (recent) */
    const char *gone[] = {"posts/nope.md"}, *recent[] = {"posts/p11.md"};
    ck_assert_int_eq(site_rebuild_bodies(s, gone, 1, &err), 0);
    put("content/posts/p11.md", "---\ntitle: P11\ndate: 2024-01-12\ntags: [t2]\n---\n\nNew.\n");
    ck_assert_int_eq(site_rebuild_bodies(s, recent, 1, &err), 0);
    /* a new site from the served one, reading only what changed */
    const char *named[] = {"posts/p00.md", "posts/p11.md", "posts/new.md"};
    put("content/posts/new.md", "---\ntitle: New\ndate: 2024-02-01\n---\n\nFresh.\n");
    folio_config c3;
    ck_assert(config_load(S_dir, &c3, &err) == 0);
    site_opts d = {.jobs = 2, .changed_known = 1, .changed = named, .nchanged = 3, .donor = s};
    util_parse_time("2025-06-01", &d.now_ms);
    site *n = site_open(&c3, &d, &err);
    ck_assert_msg(n && site_build(n, &err) == 0, "%s", err.msg);
    expect_out("posts/p00/index.html", "P|Retitled|");
    expect_out("posts/new/index.html", "Fresh.");
    expect_out("posts/p05/index.html", "Body 5");
    site_close(n);
    config_free(&c3);
    site_close(s);
    config_free(&S_cfg);
    f = site_open(&c2, &fo, &err);
    ck_assert_msg(f && site_build(f, &err) == 0, "%s", err.msg);
    site_close(f);
    config_free(&c2);
    S_same_tree(pub, full);
}
END_TEST

/* A site opened on a tree's state reads the pages' links from the state
 * file when it checks them (they are not kept in memory). Serve builds
 * the same site object into that tree again, rewriting its state: the
 * checks, and the next build's state, stay right. */
static int S_nowhere, S_nope;

static void count_warn(void *ud, const char *msg)
{
    (void)ud;
    S_nowhere += strstr(msg, "#nowhere") != NULL;
    S_nope += strstr(msg, "/nope/") != NULL;
}

START_TEST(test_link_checks_from_state)
{
    theme();
    for (int i = 0; i < 12; i++) {
        char name[64], text[160];
        snprintf(name, sizeof name, "content/posts/p%02d.md", i);
        snprintf(text, sizeof text, "---\ntitle: P%d\ndate: 2024-01-%02d\n---\n\n## Here\n\n"
                 "Body %d, [a link](/posts/p00/#here).\n", i, i + 1, i);
        put(name, text);
    }
    put("content/q.md", "---\ntitle: Q\n---\n\n[x](/posts/p01/#nowhere) [y](/nope/)\n"
        "[z](/posts/p01/#here)\n");
    build_ok(NULL);
    build_ok(NULL);
    site_opts o = {.jobs = 2, .warn = count_warn};
    util_parse_time("2025-06-01", &o.now_ms);
    folio_err err = {{0}};
    site *s = open_site(&o, &err);
    ck_assert_msg(s && site_build(s, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(S_nowhere, 1);
    ck_assert_int_eq(S_nope, 1);
    const char *files[] = {"posts/p02.md"};
    for (int round = 0; round < 3; round++) {
        S_nowhere = S_nope = 0;
        char text[160];
        snprintf(text, sizeof text, "---\ntitle: P2\ndate: 2024-01-03\n---\n\n## Here\n\n"
                 "Round %d.\n", round);
        sleep(1);
        put("content/posts/p02.md", text);
        ck_assert_int_eq(site_rebuild_bodies(s, files, 1, &err), 1);
        ck_assert_int_eq(S_nowhere, 1);
        ck_assert_int_eq(S_nope, 1);
    }
    close_site(s);
    /* the state serve left is whole: a new build takes every page from it */
    S_nowhere = S_nope = 0;
    s = open_site(&o, &err);
    ck_assert_msg(s && site_build(s, &err) == 0, "%s", err.msg);
    /* (p02 may be read again: its edit is too recent to trust its stat) */
    ck_assert_int_le(site_built_pages(s), 1);
    ck_assert_int_gt(site_unchanged_pages(s), 12);
    ck_assert_int_eq(S_nowhere, 1);
    ck_assert_int_eq(S_nope, 1);
    close_site(s);
    expect_out("posts/p02/index.html", "Round 2.");
}
END_TEST

/* ---- projections --------------------------------------------------------- */

static cJSON *S_data;
static int S_asked;

static const cJSON *fake_provider(void *ud, const char *name)
{
    (void)ud;
    if (strcmp(name, "community") && strcmp(name, "stats"))
        return NULL;
    S_asked++;
    return cJSON_GetObjectItemCaseSensitive(S_data, name);
}

static void set_members(int n)
{
    cJSON_Delete(S_data);
    S_data = cJSON_CreateObject();
    cJSON *c = cJSON_AddObjectToObject(S_data, "community");
    cJSON_AddNumberToObject(c, "count", n);
    cJSON *m = cJSON_AddArrayToObject(c, "members");
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        char name[32];
        snprintf(name, sizeof name, "m%d", i + 1);
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddItemToArray(m, o);
    }
    cJSON *st = cJSON_AddObjectToObject(S_data, "stats");
    cJSON_AddNumberToObject(st, "members", n);
}

static site_opts data_opts(void)
{
    site_opts o = {0};
    util_parse_time("2025-06-01", &o.now_ms);
    o.data = fake_provider;
    o.jobs = 2;
    return o;
}

START_TEST(test_deps_and_render_affected)
{
    theme();
    put("templates/community.mustache",
        "C|{{community.count}}|{{#paginator.items}}{{name}},{{/paginator.items}}"
        "|{{paginator.page}}/{{paginator.pages}}|{{paginator.next_url}}");
    put("templates/stats.mustache", "N|{{stats.members}}|{{form.errors.email}}");
    put("folio.yml", "paginate: 2\n");
    put("content/community.md",
        "---\ntitle: Community\nlayout: community\npaginate_data: community.members\n---\n");
    put("content/numbers.md", "---\ntitle: Numbers\nlayout: stats\n---\n");
    put("content/plain.md", "---\ntitle: Plain\n---\n");
    set_members(5);
    site_opts o = data_opts();
    S_asked = 0;
    build_ok(&o);
    ck_assert_int_eq(S_asked, 2); /* once per name per build */
    expect_out("community/index.html", "C|5|m1,m2,|1/3|/community/page/2/");
    expect_out("community/page/3/index.html", "C|5|m5,|3/3|");
    expect_out("numbers/index.html", "N|5|");
    char *deps = out_file(".folio-deps");
    ck_assert_ptr_nonnull(deps);
    ck_assert_ptr_nonnull(strstr(deps, "/community/\tcommunity\n"));
    ck_assert_ptr_nonnull(strstr(deps, "/community/page/3/\tcommunity\n"));
    ck_assert_ptr_nonnull(strstr(deps, "/numbers/\tstats\n"));
    ck_assert_ptr_null(strstr(deps, "/plain/"));
    free(deps);

    /* another process (folio-fcgi) opens the site and re-renders from the deps */
    folio_err err = {{0}};
    site *s = open_site(&o, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    set_members(1);
    buf report = BUF_INIT;
    ck_assert_int_eq(site_check_pages(s, &report, &err), 1);
    ck_assert_ptr_nonnull(strstr(report.ptr, "/community/\n"));
    ck_assert_ptr_nonnull(strstr(report.ptr, "/numbers/\n"));
    int n = -1;
    const char *other[] = {"elsewhere"};
    ck_assert_int_eq(site_render_affected(s, other, 1, &n, &err), 0);
    ck_assert_int_eq(n, 0);
    const char *names[] = {"community"};
    ck_assert_msg(site_render_affected(s, names, 1, &n, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(n, 1); /* one page now: the list shrank */
    expect_out("community/index.html", "C|1|m1,|1/1|");
    ck_assert(!out_exists("community/page/2"));
    ck_assert(!out_exists("community/page/3"));
    expect_out("numbers/index.html", "N|5|"); /* did not read community */
    const char *st[] = {"stats"};
    ck_assert_int_eq(site_render_affected(s, st, 1, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    expect_out("numbers/index.html", "N|1|");
    buf_reset(&report);
    ck_assert_int_eq(site_check_pages(s, &report, &err), 0);
    deps = out_file(".folio-deps");
    ck_assert_ptr_null(strstr(deps, "/community/page/3/"));
    ck_assert_ptr_nonnull(strstr(deps, "/community/\tcommunity\n"));
    free(deps);

    /* the forms' 422 page: the page with one more top-level value */
    cJSON *extra = cJSON_Parse("{\"form\":{\"errors\":{\"email\":\"<bad> address\"}}}");
    buf page = BUF_INIT;
    ck_assert_msg(site_render_url(s, "/numbers/", extra, &page, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(page.ptr, "N|1|&lt;bad&gt; address");
    ck_assert_int_eq(site_render_url(s, "/nowhere/", extra, &page, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nowhere/"));
    ck_assert_int_eq(site_render_url(s, "/community/page/2/", NULL, &page, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "/community/page/2/"));
    set_members(3);
    buf_reset(&page);
    ck_assert_msg(site_render_url(s, "/community/page/2/", NULL, &page, &err) == 0, "%s",
                  err.msg);
    ck_assert_str_eq(page.ptr, "C|3|m3,|2/2|");
    set_members(1);
    cJSON_Delete(extra);
    buf_free(&page);
    buf_free(&report);

    /* the list grows in place, then shrinks: builds that reuse the tree
     * that grew must not bring its extra pages back */
    set_members(7);
    ck_assert_int_eq(site_render_affected(s, names, 1, &n, &err), 0);
    ck_assert_int_eq(n, 4);
    expect_out("community/page/4/index.html", "C|7|m7,|4/4|");
    close_site(s);
    set_members(1);
    build_ok(&o);
    ck_assert(!out_exists("community/page/2"));
    build_ok(&o); /* into the tree that had grown in place */
    ck_assert(!out_exists("community/page/4"));
    ck_assert(!out_exists("community/page/2"));
    expect_out("community/index.html", "C|1|m1,|1/1|");
    s = open_site(&o, &err);
    ck_assert_ptr_nonnull(s);
    cJSON_Delete(S_data);
    S_data = NULL;
}
END_TEST


/* ---- ranked lists: pages that never shift ------------------------------- */

static long long S_top;

static int fake_range(void *ud, const char *list, long long lo, long long hi, cJSON **items,
                      long long *top, folio_err *err)
{
    (void)ud;
    (void)err;
    if (strcmp(list, "community.members"))
        return 1;
    *top = S_top;
    *items = cJSON_CreateArray();
    for (long long r = hi < S_top ? hi : S_top; r >= lo && r >= 1; r--) {
        cJSON *o = cJSON_CreateObject();
        char name[32];
        snprintf(name, sizeof name, "m%lld", r);
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddNumberToObject(o, "rank", (double)r);
        cJSON_AddItemToArray(*items, o);
    }
    return 0;
}

static void set_top(long long n)
{
    S_top = n;
    set_members((int)n); /* the count */
}

START_TEST(test_ranked_pages)
{
    theme();
    put("templates/community.mustache",
        "R|{{#paginator.first}}{{community.count}}|{{/paginator.first}}"
        "{{#paginator.items}}{{name}},{{/paginator.items}}|{{paginator.prev_url}}"
        "|{{paginator.next_url}}");
    put("folio.yml", "paginate: 3\n");
    put("content/community.md",
        "---\ntitle: Community\nlayout: community\npaginate_data: community.members\n---\n");
    site_opts o = data_opts();
    o.range = fake_range;
    set_top(10);
    build_ok(&o);
    /* page 1: the newest; page k >= 2: ranks (k-2)*3+1 .. (k-1)*3 */
    expect_out("community/index.html", "R|10|m10,m9,m8,||/community/page/4/");
    expect_out("community/page/2/index.html", "R|m3,m2,m1,|/community/page/3/|");
    expect_out("community/page/4/index.html", "R|m9,m8,m7,|/community/page/5/|/community/page/3/");
    expect_out("community/page/5/index.html", "R|m10,|/community/|/community/page/4/");
    ck_assert(!out_exists("community/page/6"));
    char *deps = out_file(".folio-deps");
    ck_assert_ptr_nonnull(strstr(deps, "/community/\tcommunity.members community\n"));
    ck_assert_ptr_nonnull(strstr(deps, "/community/page/2/\tcommunity.members\n"));
    free(deps);

    folio_err err = {{0}};
    site *s = open_site(&o, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    /* a new member: page 1 and the page of its rank, nothing else */
    set_top(11);
    int n = -1;
    const char *one[] = {"community", "community.members@11"};
    ck_assert_msg(site_render_affected(s, one, 2, &n, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(n, 2);
    expect_out("community/index.html", "R|11|m11,m10,m9,||/community/page/4/");
    expect_out("community/page/5/index.html", "R|m11,m10,|/community/|/community/page/4/");
    /* one that opens a page: the page before links to it now */
    set_top(13);
    const char *two[] = {"community", "community.members@12-13"};
    ck_assert_msg(site_render_affected(s, two, 2, &n, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(n, 3);
    expect_out("community/page/5/index.html", "R|m12,m11,m10,|/community/page/6/|/community/page/4/");
    expect_out("community/page/6/index.html", "R|m13,|/community/|/community/page/5/");
    buf report = BUF_INIT;
    ck_assert_int_eq(site_check_pages(s, &report, &err), 0);
    /* the list itself changed (an erasure): all its pages, the extra ones gone */
    set_top(4);
    const char *all[] = {"community.members"};
    ck_assert_msg(site_render_affected(s, all, 1, &n, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(n, 3);
    ck_assert(!out_exists("community/page/4"));
    ck_assert(!out_exists("community/page/6"));
    expect_out("community/page/3/index.html", "R|m4,|/community/|/community/page/2/");
    buf_reset(&report);
    ck_assert_int_eq(site_check_pages(s, &report, &err), 0);
    buf page = BUF_INIT;
    ck_assert_int_eq(site_render_url(s, "/community/page/2/", NULL, &page, &err), 0);
    ck_assert_str_eq(page.ptr, "R|m3,m2,m1,|/community/page/3/|");
    ck_assert_int_eq(site_render_url(s, "/community/page/4/", NULL, &page, &err), -1);
    const char *bad[] = {"community.members@x"};
    ck_assert_int_eq(site_render_affected(s, bad, 1, &n, &err), -1);
    buf_free(&page);
    buf_free(&report);
    close_site(s);
    cJSON_Delete(S_data);
    S_data = NULL;
}
END_TEST

static Suite *site_suite(void)
{
    Suite *s = suite_create("site");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_urls_and_order);
    tcase_add_test(tc, test_pagination);
    tcase_add_test(tc, test_list_controls);
    tcase_add_test(tc, test_escaping);
    tcase_add_test(tc, test_url_conflicts);
    tcase_add_test(tc, test_errors_name_the_file);
    tcase_add_test(tc, test_drafts_and_future);
    tcase_add_test(tc, test_failed_build_keeps_public);
    tcase_add_test(tc, test_rebuild_reuses_tree);
    tcase_add_test(tc, test_serve_rebuilds);
    tcase_add_test(tc, test_link_checks_from_state);
    tcase_add_test(tc, test_deps_and_render_affected);
    tcase_add_test(tc, test_ranked_pages);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(site_suite());
}
