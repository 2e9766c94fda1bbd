/* Unit tests for theme (lookup, params, dates) and anchors (heading ids). */
#include <limits.h>
#include <string.h>

#include "anchors.h"
#include "config.h"
#include "theme.h"
#include "unit.h"

static char S_dir[64];

static void setup(void)
{
    unit_tmpdir(S_dir, sizeof S_dir, "theme");
}

static void teardown(void)
{
    unit_rmdir(S_dir);
}

static void put(const char *name, const char *text)
{
    char p[PATH_MAX], d[PATH_MAX];
    folio_err err;
    ck_assert_int_eq(util_path(p, sizeof p, &err, "%s/%s", S_dir, name), 0);
    snprintf(d, sizeof d, "%s", p);
    *strrchr(d, '/') = '\0';
    ck_assert_int_eq(util_mkdirs(d, 0755, &err), 0);
    ck_assert_msg(util_write_atomic(p, text, strlen(text), 0, &err) == 0, "%s", err.msg);
}

/* theme_open over folio.yml yml; 0 or -1 with err. */
static int open_with(const char *yml, theme *t, folio_err *err)
{
    folio_config cfg;
    put("folio.yml", yml);
    ck_assert_msg(config_load(S_dir, &cfg, err) == 0, "%s", err->msg);
    int rc = theme_open(&cfg, t, err);
    config_free(&cfg);
    return rc;
}

START_TEST(test_lookup_and_params)
{
    put("themes/t1/templates/page.mustache", "x");
    put("themes/t1/static/img/me.png", "png");
    put("themes/t1/theme.yml", "params:\n  motto: theirs\n  nested: {a: 1, b: 2}\n");
    theme t;
    folio_err err = {{0}};
    ck_assert_msg(open_with("theme: t1\nparams:\n  nested: {b: 3}\n  avatar: img/me.png\n",
                            &t, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(t.name, "t1");
    ck_assert_ptr_nonnull(strstr(t.templates_dir, "/themes/t1/templates"));
    const cJSON *p = t.params;
    ck_assert_str_eq(cJSON_GetObjectItem(p, "motto")->valuestring, "theirs");
    const cJSON *n = cJSON_GetObjectItem(p, "nested");
    ck_assert_int_eq(cJSON_GetObjectItem(n, "a")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(n, "b")->valueint, 3);
    ck_assert_str_eq(cJSON_GetObjectItem(p, "avatar")->valuestring, "/img/me.png");
    char path[PATH_MAX];
    folio_config cfg;
    ck_assert_int_eq(config_load(S_dir, &cfg, &err), 0);
    ck_assert_int_eq(theme_file(&t, &cfg, "static", "img/me.png", path, sizeof path), 1);
    put("static/img/me.png", "mine");
    ck_assert_int_eq(theme_file(&t, &cfg, "static", "img/me.png", path, sizeof path), 1);
    ck_assert_ptr_nonnull(strstr(path, "/static/img/me.png"));
    ck_assert_ptr_null(strstr(path, "themes"));
    config_free(&cfg);
    theme_close(&t);

    ck_assert_int_eq(open_with("theme: nosuch\n", &t, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "no theme 'nosuch'"));
    ck_assert_int_eq(open_with("theme: ../x\n", &t, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "is not a theme name"));
    ck_assert_int_eq(open_with("theme: false\n", &t, &err), 0);
    ck_assert_ptr_null(t.dir);
    theme_close(&t);
}
END_TEST

START_TEST(test_colours)
{
    static const char *const good[] = {"#abc", "#a0b1c2", "#a0b1c2ff", "rebeccapurple",
                                       "rgb(10 20 30 / 50%)", "oklch(55% 0.1 180)",
                                       "hsl(120, 50%, 40%)"};
    static const char *const bad[] = {"#abcde", "red;}", "url(x)", "rgb(1,2,3);a",
                                      "expression(alert(1))", "rgb(1/*x*/2)", "a", "#zzz",
                                      "hsl(1,2,3)}body{", "\"red\""};
    theme t;
    folio_err err = {{0}};
    char yml[256];
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        snprintf(yml, sizeof yml, "theme: false\nparams:\n  accent: '%s'\n", good[i]);
        ck_assert_msg(open_with(yml, &t, &err) == 0, "%s: %s", good[i], err.msg);
        buf css = BUF_INIT;
        ck_assert_int_eq(theme_css(&t, &css), 0);
        ck_assert_ptr_nonnull(strstr(css.ptr, good[i]));
        buf_free(&css);
        theme_close(&t);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(yml, sizeof yml, "theme: false\nparams:\n  accent_dark: '%s'\n", bad[i]);
        ck_assert_msg(open_with(yml, &t, &err) == -1, "took %s", bad[i]);
        ck_assert_ptr_nonnull(strstr(err.msg, "params.accent_dark"));
    }
}
END_TEST

START_TEST(test_social)
{
    theme t;
    folio_err err = {{0}};
    ck_assert_msg(open_with("theme: false\nparams:\n  social:\n    mastodon: '@a@b.example'\n"
                            "    github: https://github.com/a\n    email: a@b.example\n"
                            "    linkedin: ''\n", &t, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(cJSON_GetArraySize(t.social), 3);
    const cJSON *m = cJSON_GetArrayItem(t.social, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(m, "url")->valuestring, "https://b.example/@a");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(m, "me")));
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(t.social, 2), "url")->valuestring,
                     "mailto:a@b.example");
    theme_close(&t);
    ck_assert_int_eq(open_with("theme: false\nparams:\n  social: {github: 'a b'}\n", &t, &err),
                     -1);
    ck_assert_int_eq(open_with("theme: false\nparams:\n  social: {myspace: x}\n", &t, &err),
                     -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown network"));
}
END_TEST

START_TEST(test_dates_and_rtl)
{
    theme t;
    folio_err err = {{0}};
    ck_assert_int_eq(open_with("theme: false\nlanguage: fa-IR\ndate_format: '%d.%m.%Y'\n", &t,
                               &err), 0);
    ck_assert_int_eq(t.rtl, 1);
    char d[64];
    long long ms;
    ck_assert_int_eq(util_parse_time("2026-03-05", &ms), 0);
    ck_assert_int_eq(theme_format_date(&t, ms, d, sizeof d), 0);
    ck_assert_str_eq(d, "05.03.2026");
    theme_close(&t);
    ck_assert_int_eq(open_with("theme: false\n", &t, &err), 0);
    ck_assert_int_eq(t.rtl, 0);
    ck_assert_int_eq(theme_format_date(&t, ms, d, sizeof d), 0);
    ck_assert_str_eq(d, "5 March 2026");
    theme_close(&t);
    ck_assert_int_eq(open_with("theme: false\ndate_format: '%n'\n", &t, &err), -1);
    ck_assert(theme_rtl("he") && theme_rtl("ar-EG") && theme_rtl("UR"));
    ck_assert(!theme_rtl("en") && !theme_rtl("hea") && !theme_rtl(""));
}
END_TEST

START_TEST(test_heading_ids)
{
    const char *html = "<h2>Why &amp; how</h2>\n<p id=\"kept\">x</p>\n<h2>Why &amp; how</h2>"
                       "<h3>kept</h3><h4><em>Ünïcode</em> 2</h4><h2>!!</h2><hr><header>";
    char *out;
    buf ids = BUF_INIT;
    ck_assert_int_eq(anchors_add(html, strlen(html), &out, NULL, &ids), 0);
    ck_assert_str_eq(out, "<h2 id=\"why-how\">Why &amp; how</h2>\n<p id=\"kept\">x</p>\n"
                          "<h2 id=\"why-how-1\">Why &amp; how</h2><h3 id=\"kept-1\">kept</h3>"
                          "<h4 id=\"Ünïcode-2\"><em>Ünïcode</em> 2</h4>"
                          "<h2 id=\"section\">!!</h2><hr><header>");
    ck_assert(anchors_has(ids.ptr, "why-how-1", 9));
    ck_assert(anchors_has(ids.ptr, "kept", 4));
    ck_assert(!anchors_has(ids.ptr, "why", 3));
    free(out);
    buf_free(&ids);
    buf t = BUF_INIT;
    const char *src = "<main id=\"main\"><a id='x'>{{#a}}<b id=\"{{slug}}\">{{/a}}";
    ck_assert_int_eq(anchors_scan(src, strlen(src), &t), 0);
    ck_assert_str_eq(t.ptr, "#main\n#x\n");
    buf_free(&t);
}
END_TEST

static Suite *theme_suite(void)
{
    Suite *s = suite_create("theme");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lookup_and_params);
    tcase_add_test(tc, test_colours);
    tcase_add_test(tc, test_social);
    tcase_add_test(tc, test_dates_and_rtl);
    tcase_add_test(tc, test_heading_ids);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(theme_suite());
}
