/* Tests for content (front matter, Markdown) and config (folio.yml). */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "forms.h"
#include "content.h"
#include "util.h"
#include "unit.h"

static int parse(const char *file, const char *src, content_page *p, folio_err *err)
{
    err->msg[0] = '\0';
    return content_parse(file, src, strlen(src), p, err);
}

static void bad(const char *src, const char *want)
{
    content_page p;
    folio_err err;
    int rc = parse("posts/x.md", src, &p, &err);
    ck_assert_msg(rc == -1, "accepted:\n%s", src);
    ck_assert_msg(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
}

/* Near misses of known keys warn (they are still params); invalid UTF-8 is
 * an error naming its line. */
START_TEST(test_checks)
{
    static const char *const known[] = {"title", "tags", "date", "summary"};
    ck_assert_str_eq(content_suggest("titel", known, 4), "title");
    ck_assert_str_eq(content_suggest("tgas", known, 4), "tags");
    ck_assert_str_eq(content_suggest("Date", known, 4), "date");
    ck_assert_ptr_null(content_suggest("title", known, 4));
    ck_assert_ptr_null(content_suggest("lede", known, 4));
    ck_assert_ptr_null(content_suggest("x", known, 4));
    content_page p;
    folio_err err;
    ck_assert_int_eq(parse("a.md", "---\ntitle: T\ntitel: U\nlede: L\n---\n", &p, &err), 0);
    ck_assert_ptr_nonnull(p.warnings);
    ck_assert_str_eq(p.warnings,
                     "a.md:3: unknown front matter key 'titel' — did you mean 'title'?\n");
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(p.params, "titel"));
    content_page_free(&p);
    ck_assert_int_eq(parse("b.md", "---\ntitle: T\n---\nok\n", &p, &err), 0);
    ck_assert_ptr_null(p.warnings);
    content_page_free(&p);
    bad("---\ntitle: T\n---\n\nfine\n\xff bad\n", "posts/x.md:6: not valid UTF-8");
    bad("---\ntitle: \"\xc3\"\n---\n", "posts/x.md:2: not valid UTF-8");
}
END_TEST

START_TEST(test_front_matter_good)
{
    const char *src =
        "---\n"
        "title: \"Hello: <World>\"\n"
        "date: 2025-03-01\n"
        "lastmod: 2025-03-02T10:30:00Z\n"
        "draft: true\n"
        "tags: [c, web]\n"
        "summary: Short one.\n"
        "weight: 3\n"
        "slug: hello\n"
        "aliases: [/old/hello/, /x.html]\n"
        "layout: special\n"
        "featured: true\n"
        "links:\n  repo: https://example.org\n"
        "---\n"
        "Body *here*.\n";
    content_page p;
    folio_err err;
    ck_assert_int_eq(parse("posts/hello.md", src, &p, &err), 0);
    ck_assert_str_eq(p.file, "posts/hello.md");
    ck_assert_int_eq(p.kind, CONTENT_PAGE);
    ck_assert_str_eq(p.section, "posts");
    ck_assert_str_eq(p.title, "Hello: <World>");
    ck_assert_str_eq(p.slug, "hello");
    ck_assert_str_eq(p.layout, "special");
    ck_assert_str_eq(p.summary, "Short one.");
    long long d;
    util_parse_time("2025-03-01", &d);
    ck_assert_int_eq(p.date, d);
    util_parse_time("2025-03-02T10:30:00Z", &d);
    ck_assert_int_eq(p.lastmod, d);
    ck_assert_int_eq(p.draft, 1);
    ck_assert_int_eq(p.weight, 3);
    ck_assert_uint_eq(p.ntags, 2);
    ck_assert_str_eq(p.tags[1], "web");
    ck_assert_uint_eq(p.naliases, 2);
    ck_assert_str_eq(p.aliases[0], "/old/hello/");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(p.params, "featured")));
    cJSON *links = cJSON_GetObjectItem(p.params, "links");
    ck_assert_str_eq(cJSON_GetObjectItem(links, "repo")->valuestring, "https://example.org");
    ck_assert_ptr_null(cJSON_GetObjectItem(p.params, "title"));
    ck_assert_int_eq(p.body_line, 16);
    ck_assert_str_eq(src + p.body_offset, "Body *here*.\n");
    content_page_free(&p);

    /* kinds, no front matter, CRLF, an empty front matter */
    ck_assert_int_eq(parse("_index.md", "plain body\n", &p, &err), 0);
    ck_assert_int_eq(p.kind, CONTENT_HOME);
    ck_assert_str_eq(p.section, "");
    ck_assert_str_eq(p.title, "");
    ck_assert_int_eq(p.date, -1);
    ck_assert_uint_eq(p.body_offset, 0);
    content_page_free(&p);
    ck_assert_int_eq(parse("projects/_index.md", "---\r\ntitle: P\r\n---\r\nx", &p, &err), 0);
    ck_assert_int_eq(p.kind, CONTENT_SECTION);
    ck_assert_str_eq(p.title, "P");
    ck_assert_str_eq(p.section, "projects");
    content_page_free(&p);
    ck_assert_int_eq(parse("about.md", "---\n---\nHi", &p, &err), 0);
    ck_assert_str_eq(p.section, "");
    ck_assert_int_eq(p.body_line, 3);
    content_page_free(&p);
    /* a single tag as a string, numbers as titles */
    ck_assert_int_eq(parse("a.md", "---\ntitle: 2025\ntags: solo\n---\n", &p, &err), 0);
    ck_assert_str_eq(p.title, "2025");
    ck_assert_uint_eq(p.ntags, 1);
    ck_assert_str_eq(p.tags[0], "solo");
    content_page_free(&p);
}
END_TEST

START_TEST(test_front_matter_bad)
{
    bad("---\ntitle: x\n", "posts/x.md:1: front matter is not closed");
    bad("---\ntitle: x\ndate: [1, 2\n---\n", "posts/x.md:");
    bad("---\ntitle: ok\n  bad: indent\n---\n", "posts/x.md:3");
    bad("---\ntitle: x\ndate: yesterday\n---\n", "posts/x.md:3: date:");
    bad("---\ntitle: x\n\ndraft: maybe\n---\n", "posts/x.md:4: draft:");
    bad("---\nweight: 1.5\n---\n", "posts/x.md:2: weight:");
    bad("---\ntags: {a: 1}\n---\n", "posts/x.md:2: tags:");
    bad("---\nslug: a/b\n---\n", "posts/x.md:2: slug:");
    bad("---\nslug: a b\n---\n", "posts/x.md:2: slug:");
    bad("---\naliases: [\"/a\\\"b/\"]\n---\n", "aliases:");
    bad("---\naliases: [old/path]\n---\n", "posts/x.md:2: aliases:");
    bad("---\naliases: [/a/../b]\n---\n", "aliases:");
    bad("---\ntitle: a\ntitle: b\n---\n", "posts/x.md:3: duplicate key 'title'");
    bad("---\n- a\n- b\n---\n", "posts/x.md:2: expected a mapping");
    bad("---\na: &x 1\nb: *x\n---\n", "aliases are not supported");
    bad("---\ntitle: \"\xff\"\n---\n", "not valid UTF-8");
}
END_TEST

/* A number as title is shown as the author wrote it, and never cast out of
 * range (1e100 into a long long was undefined behaviour). */
START_TEST(test_number_titles)
{
    static const char *const titles[] = {"1e100", "-1e100", "3.0", "1e-300",
                                         "42", "-0", "1E5", "+7", ".5"};
    for (size_t i = 0; i < sizeof titles / sizeof titles[0]; i++) {
        char src[128];
        snprintf(src, sizeof src, "---\ntitle: %s\nweight: 1e100\n---\nx\n", titles[i]);
        content_page p;
        folio_err err;
        ck_assert_int_eq(parse("a.md", src, &p, &err), -1); /* weight 1e100 */
        ck_assert_msg(strstr(err.msg, "weight: expected a whole number"), "%s", err.msg);
        snprintf(src, sizeof src, "---\ntitle: %s\nweight: -3\n---\nx\n", titles[i]);
        ck_assert_msg(parse("a.md", src, &p, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(p.title, titles[i]);
        ck_assert_int_eq(p.weight, -3);
        content_page_free(&p);
    }
    /* nan-like and inf-like plain scalars are text */
    static const char *const text[] = {"nan", ".nan", "NaN", "inf", ".inf", "-.inf", "1e", "1e+"};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++) {
        char src[128];
        snprintf(src, sizeof src, "---\ntitle: %s\n---\n", text[i]);
        content_page p;
        folio_err err;
        ck_assert_msg(parse("a.md", src, &p, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(p.title, text[i]);
        content_page_free(&p);
    }
    /* a number in params keeps its value for templates */
    content_page p;
    folio_err err;
    ck_assert_int_eq(parse("a.md", "---\nprice: 1e100\n---\n", &p, &err), 0);
    cJSON *price = cJSON_GetObjectItemCaseSensitive(p.params, "price");
    ck_assert(cJSON_IsNumber(price) && price->valuedouble == 1e100);
    content_page_free(&p);
}
END_TEST

START_TEST(test_markdown)
{
    const char *md = "Intro with *emphasis* and `code()` here.\nSecond line.\n\n"
                     "<div class=\"raw\">kept</div>\n\n## Head\n\n- one two\n";
    int words = 0;
    char *summary = NULL;
    size_t len = 0;
    char *html = content_render(md, strlen(md), &len, &words, &summary);
    ck_assert_ptr_nonnull(html);
    ck_assert_uint_eq(len, strlen(html));
    ck_assert_ptr_nonnull(strstr(html, "<em>emphasis</em>"));
    ck_assert_ptr_nonnull(strstr(html, "<div class=\"raw\">kept</div>")); /* unsafe: owner HTML */
    ck_assert_ptr_nonnull(strstr(html, "<h2>Head</h2>"));
    ck_assert_str_eq(summary, "Intro with emphasis and code() here. Second line.");
    /* Intro with emphasis and code() here. Second line. (8) Head (1) one two (2) */
    ck_assert_int_eq(words, 11);
    free(html);
    free(summary);
    html = content_render("", 0, NULL, &words, &summary);
    ck_assert_ptr_nonnull(html);
    ck_assert_ptr_null(summary);
    ck_assert_int_eq(words, 0);
    free(html);
    ck_assert_int_eq(content_reading_minutes(0), 1);
    ck_assert_int_eq(content_reading_minutes(200), 1);
    ck_assert_int_eq(content_reading_minutes(201), 2);
}
END_TEST

static char S_dir[64];

static void write_file(const char *name, const char *text)
{
    char p[PATH_MAX];
    folio_err err;
    ck_assert_int_eq(util_path(p, sizeof p, &err, "%s/%s", S_dir, name), 0);
    ck_assert_int_eq(util_write_atomic(p, text, strlen(text), 0, &err), 0);
}

START_TEST(test_config)
{
    unit_tmpdir(S_dir, sizeof S_dir, "config");
    folio_config cfg;
    folio_err err;
    /* no folio.yml: the defaults */
    ck_assert_int_eq(config_load(S_dir, &cfg, &err), 0);
    ck_assert_ptr_null(cfg.file);
    ck_assert_int_eq(cfg.paginate, 10);
    ck_assert_str_eq(cfg.base_url, "http://127.0.0.1:8080/");
    ck_assert_int_eq(cfg.sync_full, 1);
    ck_assert_uint_eq(cfg.body_limit, forms_body_limit());
    ck_assert_uint_eq(cfg.socket_mode, 0660);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/content", cfg.site_dir);
    ck_assert_str_eq(cfg.content_dir, want);
    snprintf(want, sizeof want, "%s/var/folio.db", cfg.site_dir);
    ck_assert_str_eq(cfg.db_path, want);
    config_free(&cfg);

    write_file("folio.yml", "title: Ada\nbase_url: https://ada.example\nauthor: Ada\n"
                            "paginate: 5\nparams: {accent: teal}\n"
                            "store: {synchronous: normal}\n"
                            "forms: {body_limit: 4096, rate: 2}\n"
                            "fcgi: {socket_mode: \"0600\", tcp: \"127.0.0.1:9001\", threads: 2}\n"
                            "menu:\n  - {name: Projects, url: /projects/}\n");
    ck_assert_int_eq(config_load(S_dir, &cfg, &err), 0);
    ck_assert_str_eq(cfg.title, "Ada");
    ck_assert_str_eq(cfg.base_url, "https://ada.example/");
    ck_assert_int_eq(cfg.paginate, 5);
    ck_assert_str_eq(cJSON_GetObjectItem(cfg.params, "accent")->valuestring, "teal");
    ck_assert_int_eq(cfg.sync_full, 0);
    ck_assert_uint_eq(cfg.body_limit, 4096);
    ck_assert(cfg.rate_per_min == 2);
    ck_assert_uint_eq(cfg.socket_mode, 0600);
    ck_assert_str_eq(cfg.tcp, "127.0.0.1:9001");
    ck_assert_int_eq(cfg.threads, 2);
    ck_assert(cJSON_IsArray(cJSON_GetObjectItem(cfg.raw, "menu")));
    config_free(&cfg);

    /* FOLIO_BASE_URL serves the same site on another address */
    setenv("FOLIO_BASE_URL", "http://127.0.0.1:8099", 1);
    ck_assert_int_eq(config_load(S_dir, &cfg, &err), 0);
    ck_assert_str_eq(cfg.base_url, "http://127.0.0.1:8099/");
    config_free(&cfg);
    setenv("FOLIO_BASE_URL", "javascript:alert(1)", 1);
    ck_assert_int_eq(config_load(S_dir, &cfg, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "FOLIO_BASE_URL"));
    unsetenv("FOLIO_BASE_URL");

    write_file("folio.yml", "title: Ada\n\npaginate: lots\n");
    ck_assert_int_eq(config_load(S_dir, &cfg, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "folio.yml:3: paginate"));
    write_file("folio.yml", "title: Ada\nparams: [1\n");
    ck_assert_int_eq(config_load(S_dir, &cfg, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "folio.yml:"));
    write_file("folio.yml", "menu: [{name: x}]\n");
    ck_assert_int_eq(config_load(S_dir, &cfg, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "folio.yml:1: menu"));

    const char *y = "a: 1\nb: true\nc: \"true\"\nd: ~\ne: 2025-01-01\n";
    cJSON *j = config_yaml_to_json("t.yml", 10, y, strlen(y), &err);
    ck_assert_msg(j != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(j);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "a")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "b")));
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "c")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "d")));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "e")->valuestring, "2025-01-01");
    cJSON_Delete(j);
    ck_assert_ptr_null(config_yaml_to_json("t.yml", 10, "a: 1\n b: 2\n", 11, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "t.yml:11"));
    unit_rmdir(S_dir);
}
END_TEST

/* A parsed page keeps its strings in one block, and a page without params
 * shares the one empty object: both freed with the page, never alone. */
START_TEST(test_page_block)
{
    content_page p, q;
    folio_err err;
    ck_assert_int_eq(parse("posts/a.md", "---\ntitle: A\ntags: [x, y]\naliases: [/old/]\n"
                           "---\nBody\n", &p, &err), 0);
    ck_assert(content_in_blk(&p, p.file));
    ck_assert(content_in_blk(&p, p.title));
    ck_assert(content_in_blk(&p, p.tags));
    ck_assert(content_in_blk(&p, p.tags[1]));
    ck_assert(content_in_blk(&p, p.aliases[0]));
    ck_assert_str_eq(p.tags[1], "y");
    ck_assert_str_eq(p.aliases[0], "/old/");
    ck_assert_ptr_eq(p.params, content_no_params());
    content_str_free(&p, p.title); /* in the block: left alone */
    char *mine = strdup("mine");
    content_str_free(&p, p.section);
    p.section = mine; /* replaced by one of its own: freed with the page */
    ck_assert_int_eq(content_page_copy(&p, &q), 0);
    ck_assert_ptr_null(q.blk);
    ck_assert_str_eq(q.tags[0], "x");
    ck_assert_str_eq(q.section, "mine");
    ck_assert_ptr_eq(q.params, content_no_params());
    content_page_free(&p);
    content_page_free(&q);
    ck_assert_int_eq(parse("posts/b.md", "---\ntitle: B\nlede: hi\n---\n", &p, &err), 0);
    ck_assert_ptr_ne(p.params, content_no_params());
    ck_assert_str_eq(cJSON_GetObjectItem(p.params, "lede")->valuestring, "hi");
    content_page_free(&p);
}
END_TEST

static Suite *content_suite(void)
{
    Suite *s = suite_create("content");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_front_matter_good);
    tcase_add_test(tc, test_checks);
    tcase_add_test(tc, test_front_matter_bad);
    tcase_add_test(tc, test_number_titles);
    tcase_add_test(tc, test_markdown);
    tcase_add_test(tc, test_config);
    tcase_add_test(tc, test_page_block);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(content_suite());
}
