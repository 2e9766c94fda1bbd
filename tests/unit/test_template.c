/* Tests for the Mustache engine: the whole Mustache spec (bar lambdas)
 * from $FOLIO_SHARED/spec/mustache, then folio's own behaviour. */
#include <check.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "template.h"
#include "util.h"
#include "unit.h"

/* ---- a loader over a spec case's "partials" object ------------------- */

typedef struct named_tpl {
    const char *name;
    tpl *t;
} named_tpl;

typedef struct map_loader {
    named_tpl items[32];
    int n;
} map_loader;

static const tpl *map_load(void *ud, const char *name, folio_err *err)
{
    (void)err;
    map_loader *m = ud;
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->items[i].name, name) == 0)
            return m->items[i].t;
    return NULL;
}

static void map_free(map_loader *m)
{
    for (int i = 0; i < m->n; i++)
        tpl_free(m->items[i].t);
    m->n = 0;
}

static int map_fill(map_loader *m, const cJSON *partials, folio_err *err)
{
    m->n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, partials) {
        if (m->n == 32 || !cJSON_IsString(p))
            return -1;
        tpl *t = tpl_compile(p->string, p->valuestring, strlen(p->valuestring), err);
        if (!t)
            return -1;
        m->items[m->n].name = p->string;
        m->items[m->n++].t = t;
    }
    return 0;
}

/* Renders src with data and the given partials (a JSON object text). */
static char *render_with(const char *src, const char *data_json,
                         const char *partials_json, folio_err *err)
{
    cJSON *data = cJSON_Parse(data_json ? data_json : "{}");
    cJSON *partials = cJSON_Parse(partials_json ? partials_json : "{}");
    map_loader m = {.n = 0};
    char *res = NULL;
    tpl *t = NULL;
    ck_assert_ptr_nonnull(data);
    ck_assert_ptr_nonnull(partials);
    if (map_fill(&m, partials, err) == 0 &&
        (t = tpl_compile("test", src, strlen(src), err)) != NULL) {
        tpl_render_opts o = {.loader = map_load, .loader_ud = &m};
        buf out = BUF_INIT;
        if (tpl_render(t, data, &o, &out, err) == 0)
            res = buf_detach(&out, NULL);
        buf_free(&out);
    }
    tpl_free(t);
    map_free(&m);
    cJSON_Delete(data);
    cJSON_Delete(partials);
    return res;
}

/* ---- the spec --------------------------------------------------------- */

static const char *S_spec_files[] = {
    "comments.json", "delimiters.json", "interpolation.json", "inverted.json",
    "partials.json", "sections.json", "~inheritance.json", "~dynamic-names.json",
};

static int run_spec_case(const char *file, const cJSON *tc)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(tc, "name"));
    const char *src = cJSON_GetStringValue(cJSON_GetObjectItem(tc, "template"));
    const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(tc, "expected"));
    const cJSON *data = cJSON_GetObjectItem(tc, "data");
    const cJSON *partials = cJSON_GetObjectItem(tc, "partials");
    folio_err err = {{0}};
    map_loader m = {.n = 0};
    int ok = 0;
    if (!name || !src || !want) {
        fprintf(stderr, "FAIL %s: malformed case\n", file);
        return 0;
    }
    if (partials && map_fill(&m, partials, &err) != 0) {
        fprintf(stderr, "FAIL %s / %s: partial: %s\n", file, name, err.msg);
        map_free(&m);
        return 0;
    }
    tpl *t = tpl_compile(name, src, strlen(src), &err);
    if (!t) {
        fprintf(stderr, "FAIL %s / %s: compile: %s\n", file, name, err.msg);
    } else {
        tpl_render_opts o = {.loader = map_load, .loader_ud = &m};
        buf out = BUF_INIT;
        if (tpl_render(t, data, &o, &out, &err) != 0)
            fprintf(stderr, "FAIL %s / %s: render: %s\n", file, name, err.msg);
        else if (strcmp(out.ptr ? out.ptr : "", want) != 0)
            fprintf(stderr, "FAIL %s / %s:\n  template: %s\n  expected: [%s]\n  got:      [%s]\n",
                    file, name, src, want, out.ptr ? out.ptr : "");
        else
            ok = 1;
        buf_free(&out);
    }
    tpl_free(t);
    map_free(&m);
    return ok;
}

START_TEST(test_spec)
{
    const char *shared = getenv("FOLIO_SHARED");
    ck_assert_msg(shared && *shared, "FOLIO_SHARED is not set");
    int total = 0, failed = 0;
    for (size_t f = 0; f < sizeof S_spec_files / sizeof *S_spec_files; f++) {
        char path[4096];
        char *text;
        size_t len;
        folio_err err;
        snprintf(path, sizeof path, "%s/spec/mustache/%s", shared, S_spec_files[f]);
        ck_assert_msg(util_read_file(path, &text, &len, &err) == 0, "%s", err.msg);
        cJSON *doc = cJSON_ParseWithLength(text, len);
        free(text);
        ck_assert_msg(doc != NULL, "%s: bad JSON", path);
        const cJSON *tc;
        cJSON_ArrayForEach(tc, cJSON_GetObjectItem(doc, "tests")) {
            total++;
            if (!run_spec_case(S_spec_files[f], tc))
                failed++;
        }
        cJSON_Delete(doc);
    }
    fprintf(stderr, "mustache spec: %d cases, %d failed\n", total, failed);
    ck_assert_int_gt(total, 150);
    ck_assert_int_eq(failed, 0);
}
END_TEST

/* ---- folio's own ------------------------------------------------------ */

static void expect(const char *src, const char *data, const char *partials,
                   const char *want)
{
    folio_err err = {{0}};
    char *got = render_with(src, data, partials, &err);
    ck_assert_msg(got != NULL, "%s: %s", src, err.msg);
    ck_assert_msg(strcmp(got, want) == 0, "%s: expected [%s] got [%s]", src, want, got);
    free(got);
}

START_TEST(test_escaping)
{
    expect("{{s}}", "{\"s\":\"<a href='x'>&\\\"</a>\"}", NULL,
           "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
    expect("{{{s}}}|{{&s}}", "{\"s\":\"<b>'&'</b>\"}", NULL,
           "<b>'&'</b>|<b>'&'</b>");
    expect("<a title=\"{{t}}\">", "{\"t\":\"\\\" onclick=\\\"x\"}", NULL,
           "<a title=\"&quot; onclick=&quot;x\">");
    /* Values are never re-parsed as template text. */
    expect("{{a}}", "{\"a\":\"{{b}}\",\"b\":\"no\"}", NULL, "{{b}}");
}
END_TEST

START_TEST(test_values)
{
    expect("{{n}} {{f}} {{big}} {{neg}} {{t}} {{z}} {{o}} {{arr}}",
           "{\"n\":85,\"f\":1.5,\"big\":1e300,\"neg\":-3,\"t\":true,\"z\":false,"
           "\"o\":{\"a\":1},\"arr\":[1]}",
           NULL, "85 1.5 1e+300 -3 true false  ");
    expect("{{x}}", "{\"x\":0.1}", NULL, "0.1");
    /* integers as integers, to the edges of what a double holds exactly */
    expect("{{a}} {{b}} {{c}} {{d}} {{e}} {{f}}",
           "{\"a\":0,\"b\":-0.0,\"c\":9007199254740992,\"d\":-9007199254740992,"
           "\"e\":9007199254740994,\"f\":1000000}",
           NULL, "0 0 9007199254740992 -9007199254740992 9007199254740994 1000000");
    /* falsey: missing, null, false, [], "" */
    expect("{{^a}}1{{/a}}{{^b}}2{{/b}}{{^c}}3{{/c}}{{^d}}4{{/d}}{{^e}}5{{/e}}{{#f}}6{{/f}}",
           "{\"b\":null,\"c\":false,\"d\":[],\"e\":\"\",\"f\":0}", NULL, "123456");
    /* the root need not be an object */
    expect("{{.}}", "\"<x>\"", NULL, "&lt;x&gt;");
    expect("[{{#.}}{{.}},{{/.}}]", "[1,2,3]", NULL, "[1,2,3,]");
}
END_TEST

START_TEST(test_context_stack)
{
    expect("{{#a}}{{#b}}{{x}}{{y}}{{z}}{{/b}}{{/a}}",
           "{\"x\":1,\"a\":{\"y\":2,\"b\":{\"z\":3}}}", NULL, "123");
    /* a dotted name resolves its first piece only */
    expect("{{#a}}{{b.c}}{{/a}}", "{\"a\":{\"b\":{}},\"b\":{\"c\":\"no\"}}", NULL, "");
    /* array items that are not objects are skipped in lookups */
    expect("{{#l}}{{n}}{{/l}}", "{\"n\":\"x\",\"l\":[1,2]}", NULL, "xx");
}
END_TEST

START_TEST(test_inheritance_layout)
{
    const char *parts =
        "{\"base\":\"<html>\\n<title>{{$title}}{{page.title}}{{/title}}</title>\\n"
        "<main>\\n  {{$main}}\\n  <p>default</p>\\n  {{/main}}\\n</main>\\n{{>foot}}\\n</html>\\n\","
        "\"foot\":\"<footer>{{site}}</footer>\\n\"}";
    expect("{{<base}}\n{{$main}}\n<h1>{{page.title}}</h1>\n{{/main}}\n{{/base}}\n",
           "{\"page\":{\"title\":\"T&T\"},\"site\":\"S\"}", parts,
           "<html>\n<title>T&amp;T</title>\n<main>\n  <h1>T&amp;T</h1>\n</main>\n"
           "<footer>S</footer>\n</html>\n");
    expect("{{<base}}{{/base}}", "{\"page\":{\"title\":\"x\"},\"site\":\"S\"}", parts,
           "<html>\n<title>x</title>\n<main>\n  <p>default</p>\n</main>\n"
           "<footer>S</footer>\n</html>\n");
}
END_TEST

START_TEST(test_compile_errors)
{
    static const struct {
        const char *src, *msg;
    } cases[] = {
        {"a\nb\n{{#x}}\nc\n", "name.mustache:3: unclosed section 'x'"},
        {"a\n{{#x}}\n{{/y}}\n", "name.mustache:3: closing tag 'y' does not match section 'x' opened on line 2"},
        {"\n\n\n{{/z}}", "name.mustache:4: unexpected closing tag 'z'"},
        {"line\n{{x", "name.mustache:2: unclosed tag '{{'"},
        {"{{}}", "name.mustache:1: empty tag name"},
        {"{{a b}}", "name.mustache:1: bad tag name 'a b'"},
        {"\n{{a..b}}", "name.mustache:2: bad name 'a..b'"},
        {"{{=<% =}}", "name.mustache:1: set-delimiter tag needs exactly two delimiters"},
        {"{{!\n\n}}\n{{<p}}", "name.mustache:4: unclosed parent 'p'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        folio_err err = {{0}};
        tpl *t = tpl_compile("name.mustache", cases[i].src, strlen(cases[i].src), &err);
        ck_assert_msg(t == NULL, "%s compiled", cases[i].src);
        ck_assert_str_eq(err.msg, cases[i].msg);
    }
    /* nesting without bound is refused, not recursed into */
    buf deep = BUF_INIT;
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(buf_puts(&deep, "{{#a}}"), 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(buf_puts(&deep, "{{/a}}"), 0);
    folio_err err = {{0}};
    ck_assert_ptr_null(tpl_compile("deep", deep.ptr, deep.len, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "nested more than"));
    buf_free(&deep);
}
END_TEST

START_TEST(test_recursion_limit)
{
    folio_err err = {{0}};
    char *got = render_with("{{>loop}}", "{}", "{\"loop\":\"x{{>loop}}\"}", &err);
    ck_assert_ptr_null(got);
    ck_assert_msg(strstr(err.msg, "nested more than 64 deep") != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "loop:1:") != NULL, "%s", err.msg);
    /* a parent that inherits from itself stops too */
    got = render_with("{{<p}}{{/p}}", "{}", "{\"p\":\"{{<p}}{{/p}}\"}", &err);
    ck_assert_ptr_null(got);
    /* as does a block that expands itself */
    got = render_with("{{<p}}{{$b}}[{{$b}}{{/b}}]{{/b}}{{/p}}", "{}",
                      "{\"p\":\"{{$b}}{{/b}}\"}", &err);
    ck_assert_ptr_null(got);
    ck_assert_msg(strstr(err.msg, "nested more than") != NULL, "%s", err.msg);
    /* a failed render leaves the output as it was */
    tpl *t = tpl_compile("self", "abc{{>self}}", 12, &err);
    ck_assert_ptr_nonnull(t);
    map_loader m = {.n = 1};
    m.items[0].name = "self";
    m.items[0].t = t;
    tpl_render_opts o = {.loader = map_load, .loader_ud = &m};
    buf out = BUF_INIT;
    ck_assert_int_eq(buf_puts(&out, "keep"), 0);
    ck_assert_int_eq(tpl_render(t, NULL, &o, &out, &err), -1);
    ck_assert_str_eq(out.ptr, "keep");
    buf_free(&out);
    tpl_free(t);
}
END_TEST

/* ---- loader errors and the resolver ----------------------------------- */

static const tpl *failing_loader(void *ud, const char *name, folio_err *err)
{
    (void)ud;
    err_set(err, "no template '%s'", name);
    return NULL;
}

/* Exponential work ends in an error, not a hung build (found by fuzzing):
 * partials that include the next inside a loop, 30 deep (below the depth
 * limit, 4^30 renders), and sections nested 40 deep over one list. */
static const tpl *chain_loader(void *ud, const char *name, folio_err *err)
{
    (void)err;
    tpl *const *chain = ud;
    int n = atoi(name + 1);
    return name[0] == 'p' && n >= 0 && n <= 30 ? chain[n] : NULL;
}

static const tpl *self_loader(void *ud, const char *name, folio_err *err)
{
    (void)name;
    (void)err;
    return ud;
}

START_TEST(test_exponential_work_is_refused)
{
    folio_err err = {{0}};
    cJSON *ctx = cJSON_Parse("{\"l\":[1,2,3,4]}");
    ck_assert_ptr_nonnull(ctx);
    tpl *chain[31];
    for (int i = 0; i < 31; i++) {
        char src[64];
        int n = i < 30 ? snprintf(src, sizeof src, "{{#l}}{{>p%d}}{{/l}}", i + 1)
                       : snprintf(src, sizeof src, "x");
        chain[i] = tpl_compile("p", src, (size_t)n, &err);
        ck_assert_ptr_nonnull(chain[i]);
    }
    buf out = BUF_INIT;
    tpl_render_opts o = {.loader = chain_loader, .loader_ud = chain};
    long long t0 = util_mono_ns();
    ck_assert_int_eq(tpl_render(chain[0], ctx, &o, &out, &err), -1);
    ck_assert_msg(strstr(err.msg, "too much work"), "%s", err.msg);
    ck_assert_uint_eq(out.len, 0);
    for (int i = 0; i < 31; i++)
        tpl_free(chain[i]);
    buf deep = BUF_INIT;
    for (int i = 0; i < 40; i++)
        ck_assert_int_eq(buf_puts(&deep, "{{#l}}"), 0);
    ck_assert_int_eq(buf_puts(&deep, "x"), 0);
    for (int i = 0; i < 40; i++)
        ck_assert_int_eq(buf_puts(&deep, "{{/l}}"), 0);
    tpl *t = tpl_compile("deep", deep.ptr, deep.len, &err);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tpl_render(t, ctx, NULL, &out, &err), -1);
    ck_assert_msg(strstr(err.msg, "too much work"), "%s", err.msg);
    /* seconds, not the age of the universe */
    ck_assert_int_lt(util_mono_ns() - t0, 60LL * 1000000000LL);
    tpl_free(t);
    /* a legitimately big page is fine: 20,000 items through a partial */
    cJSON *big = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(big, "l");
    for (int i = 0; i < 20000; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(i));
    tpl *card = tpl_compile("card", "<li>{{.}}</li>", 14, &err);
    t = tpl_compile("list", "{{#l}}{{>card}}{{/l}}", 21, &err);
    ck_assert_ptr_nonnull(card);
    ck_assert_ptr_nonnull(t);
    tpl_render_opts oc = {.loader = self_loader, .loader_ud = card};
    buf_reset(&out);
    ck_assert_msg(tpl_render(t, big, &oc, &out, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(out.ptr, "<li>19999</li>"));
    tpl_free(t);
    tpl_free(card);
    cJSON_Delete(big);
    /* few steps, each name looked up through 120 sections: 5,000 items x
     * 30 names x 120 levels is past the lookup budget */
    cJSON *wide = cJSON_Parse("{\"one\":[{}]}");
    ck_assert_ptr_nonnull(wide);
    arr = cJSON_AddArrayToObject(wide, "many");
    for (int i = 0; i < 5000; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateObject());
    buf_reset(&deep);
    for (int i = 0; i < 120; i++)
        ck_assert_int_eq(buf_puts(&deep, "{{#one}}"), 0);
    ck_assert_int_eq(buf_puts(&deep, "{{#many}}"), 0);
    for (int i = 0; i < 30; i++)
        ck_assert_int_eq(buf_puts(&deep, "{{nope}}"), 0);
    ck_assert_int_eq(buf_puts(&deep, "{{/many}}"), 0);
    for (int i = 0; i < 120; i++)
        ck_assert_int_eq(buf_puts(&deep, "{{/one}}"), 0);
    t = tpl_compile("wide", deep.ptr, deep.len, &err);
    ck_assert_ptr_nonnull(t);
    buf_reset(&out);
    ck_assert_int_eq(tpl_render(t, wide, NULL, &out, &err), -1);
    ck_assert_msg(strstr(err.msg, "names looked up"), "%s", err.msg);
    ck_assert_uint_eq(out.len, 0);
    /* a caller's own lower limits (the fuzzer's) */
    tpl *few = tpl_compile("few", "{{#many}}{{nope}}{{/many}}", 26, &err);
    ck_assert_ptr_nonnull(few);
    tpl_render_opts lim = {.max_steps = 10};
    ck_assert_int_eq(tpl_render(few, wide, &lim, &out, &err), -1);
    ck_assert_msg(strstr(err.msg, "over 10 sections"), "%s", err.msg);
    lim = (tpl_render_opts){.max_probes = 100};
    ck_assert_int_eq(tpl_render(few, wide, &lim, &out, &err), -1);
    ck_assert_msg(strstr(err.msg, "over 100 names"), "%s", err.msg);
    ck_assert_int_eq(tpl_render(few, wide, NULL, &out, &err), 0);
    tpl_free(few);
    tpl_free(t);
    cJSON_Delete(wide);
    cJSON_Delete(ctx);
    buf_free(&deep);
    buf_free(&out);
}
END_TEST

START_TEST(test_missing_partial)
{
    folio_err err = {{0}};
    tpl *t = tpl_compile("page", "a\n  {{>nope}}\n", 13, &err);
    ck_assert_ptr_nonnull(t);
    buf out = BUF_INIT;
    /* no loader: the spec's empty string */
    ck_assert_int_eq(tpl_render(t, NULL, NULL, &out, &err), 0);
    ck_assert_str_eq(out.ptr, "a\n");
    buf_reset(&out);
    tpl_render_opts o = {.loader = failing_loader};
    ck_assert_int_eq(tpl_render(t, NULL, &o, &out, &err), -1);
    ck_assert_str_eq(err.msg, "page:2: no template 'nope'");
    ck_assert_uint_eq(out.len, 0);
    buf_free(&out);
    tpl_free(t);
}
END_TEST

typedef struct resolver_rec {
    cJSON *community;
    int calls_community, calls_other;
} resolver_rec;

static const cJSON *record_resolver(void *ud, const char *name)
{
    resolver_rec *r = ud;
    if (strcmp(name, "community") == 0) {
        r->calls_community++;
        return r->community;
    }
    r->calls_other++;
    return NULL;
}

START_TEST(test_resolver)
{
    resolver_rec r = {0};
    r.community = cJSON_Parse("{\"count\":2,\"members\":[{\"name\":\"Ann\"},{\"name\":\"<Bo>\"}]}");
    cJSON *ctx = cJSON_Parse("{\"page\":{\"title\":\"P\"},\"stats\":\"ctx wins\"}");
    ck_assert_ptr_nonnull(r.community);
    folio_err err = {{0}};
    const char *src = "{{page.title}} {{community.count}}:"
                      "{{#community.members}}{{name}},{{/community.members}}"
                      "{{^community.members}}none{{/community.members}}"
                      "{{stats}}{{missing}}{{missing.x}}{{#missing}}no{{/missing}}";
    tpl *t = tpl_compile("c", src, strlen(src), &err);
    ck_assert_ptr_nonnull(t);
    tpl_render_opts o = {.resolver = record_resolver, .resolver_ud = &r};
    buf out = BUF_INIT;
    ck_assert_int_eq(tpl_render(t, ctx, &o, &out, &err), 0);
    ck_assert_str_eq(out.ptr, "P 2:Ann,&lt;Bo&gt;,ctx wins");
    ck_assert_int_eq(r.calls_community, 1); /* cached for the render */
    ck_assert_int_eq(r.calls_other, 1);     /* "missing", asked once */
    /* a new render asks again */
    buf_reset(&out);
    ck_assert_int_eq(tpl_render(t, ctx, &o, &out, &err), 0);
    ck_assert_int_eq(r.calls_community, 2);
    buf_free(&out);
    tpl_free(t);
    cJSON_Delete(ctx);
    cJSON_Delete(r.community);
}
END_TEST

/* Plain-text output (mail): nothing escaped, in partials neither. */
START_TEST(test_text_option)
{
    cJSON *ctx = cJSON_Parse("{\"name\":\"<Zoë> & \\\"co\\\"\"}");
    ck_assert_ptr_nonnull(ctx);
    folio_err err = {{0}};
    const char *src = "{{name}}|{{{name}}}|{{&name}}";
    tpl *t = tpl_compile("t", src, strlen(src), &err);
    ck_assert_ptr_nonnull(t);
    tpl_render_opts o = {.text = 1};
    buf out = BUF_INIT;
    ck_assert_int_eq(tpl_render(t, ctx, &o, &out, &err), 0);
    ck_assert_str_eq(out.ptr, "<Zoë> & \"co\"|<Zoë> & \"co\"|<Zoë> & \"co\"");
    buf_reset(&out);
    ck_assert_int_eq(tpl_render(t, ctx, NULL, &out, &err), 0);
    ck_assert_str_eq(out.ptr, "&lt;Zoë&gt; &amp; &quot;co&quot;|<Zoë> & \"co\"|<Zoë> & \"co\"");
    buf_free(&out);
    tpl_free(t);
    cJSON_Delete(ctx);
}
END_TEST

/* ---- tpl_set ----------------------------------------------------------- */

static void write_file(const char *dir, const char *rel, const char *text)
{
    char path[4096];
    folio_err err;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    ck_assert_msg(util_write_atomic(path, text, strlen(text), 0, &err) == 0, "%s", err.msg);
}

START_TEST(test_set_load)
{
    char dir[] = "/tmp/folio-tpl-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    write_file(dir, "base.mustache", "<h1>{{$t}}base{{/t}}</h1>{{>partials/nav/menu}}");
    write_file(dir, "page.mustache", "{{<base}}{{$t}}{{title}}{{/t}}{{/base}}");
    write_file(dir, "partials/nav/menu.mustache", "<nav>{{#m}}{{.}}{{/m}}</nav>");
    write_file(dir, "partials/broken.txt", "{{#not a template");
    write_file(dir, ".hidden.mustache", "{{#x}}");
    write_file(dir, "uses-missing.mustache", "{{>partials/none}}");

    folio_err err = {{0}};
    tpl_set *s = tpl_set_load(dir, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(tpl_set_get(s, "base"));
    ck_assert_ptr_nonnull(tpl_set_get(s, "partials/nav/menu"));
    ck_assert_ptr_null(tpl_set_get(s, "partials/broken"));
    ck_assert_ptr_null(tpl_set_get(s, ".hidden"));
    ck_assert_str_eq(tpl_name(tpl_set_get(s, "partials/nav/menu")), "partials/nav/menu");

    cJSON *ctx = cJSON_Parse("{\"title\":\"A&B\",\"m\":[\"x\",\"y\"]}");
    tpl_render_opts o = {.loader = tpl_set_loader, .loader_ud = s};
    buf out = BUF_INIT;
    ck_assert_int_eq(tpl_render(tpl_set_get(s, "page"), ctx, &o, &out, &err), 0);
    ck_assert_str_eq(out.ptr, "<h1>A&amp;B</h1><nav>xy</nav>");
    buf_reset(&out);
    ck_assert_int_eq(tpl_render(tpl_set_get(s, "uses-missing"), ctx, &o, &out, &err), -1);
    ck_assert_str_eq(err.msg, "uses-missing:1: no template 'partials/none'");
    buf_free(&out);
    cJSON_Delete(ctx);
    tpl_set_free(s);

    /* a compile error names the file and the line */
    write_file(dir, "partials/bad.mustache", "ok\nok\n{{#open}}\n");
    ck_assert_ptr_null(tpl_set_load(dir, &err));
    char want[4200];
    snprintf(want, sizeof want, "%s/partials/bad.mustache:3: unclosed section 'open'", dir);
    ck_assert_str_eq(err.msg, want);

    ck_assert_ptr_null(tpl_set_load("/nonexistent/folio", &err));
    ck_assert_int_eq(util_rmtree(dir, &err), 0);
}
END_TEST

/* The theme in the tree compiles, and a realistic page renders fast. */
START_TEST(test_theme_and_speed)
{
    const char *srcdir = getenv("FOLIO_SRCDIR");
    if (!srcdir)
        srcdir = FOLIO_SRCDIR;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/themes/default/templates", srcdir);
    folio_err err = {{0}};
    tpl_set *s = tpl_set_load(dir, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    const tpl *page = tpl_set_get(s, "page");
    ck_assert_ptr_nonnull(page);
    cJSON *ctx = cJSON_Parse(
        "{\"site\":{\"title\":\"Folio\",\"language\":\"en\",\"base_url\":\"https://x\","
        "\"menu\":[{\"name\":\"Projects\",\"url\":\"/projects/\",\"active\":true},"
        "{\"name\":\"Writing\",\"url\":\"/writing/\"},{\"name\":\"About\",\"url\":\"/about/\"}],"
        "\"year\":2026,\"author\":\"Ada\"},"
        "\"page\":{\"title\":\"A page & more\",\"kind\":\"page\",\"url\":\"/a/\","
        "\"date\":\"2025-03-01\",\"date_long\":\"1 March 2025\",\"content\":\"<p>Hello</p>\","
        "\"tags\":[{\"name\":\"c\",\"slug\":\"c\",\"url\":\"/tags/c/\"}],"
        "\"prev\":{\"title\":\"P\",\"url\":\"/p/\"}}}");
    ck_assert_ptr_nonnull(ctx);
    tpl_render_opts o = {.loader = tpl_set_loader, .loader_ud = s};
    buf out = BUF_INIT;
    ck_assert_msg(tpl_render(page, ctx, &o, &out, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(out.ptr, "A page &amp; more"));
    ck_assert_ptr_nonnull(strstr(out.ptr, "<p>Hello</p>"));
    size_t page_len = out.len;

    struct timespec a, b;
    int n = 10000;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        buf_reset(&out);
        ck_assert_int_eq(tpl_render(page, ctx, &o, &out, &err), 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    fprintf(stderr, "rendered %d pages of %zu bytes in %.1f ms on one thread\n",
            n, page_len, ms);

    /* A list page: ten cards through a partial, with the paginator. */
    const tpl *section = tpl_set_get(s, "section");
    ck_assert_ptr_nonnull(section);
    cJSON *pages = cJSON_AddArrayToObject(ctx, "pages");
    for (int i = 0; i < 10; i++) {
        cJSON *pg = cJSON_Parse(
            "{\"title\":\"Project <x>\",\"url\":\"/projects/x/\",\"date\":\"2025-03-01\","
            "\"date_iso\":\"2025-03-01T00:00:00Z\",\"date_long\":\"1 March 2025\","
            "\"reading_minutes\":3,\"summary\":\"A summary of the project & why.\","
            "\"params\":{\"featured\":true},\"tags\":[{\"name\":\"c\",\"url\":\"/tags/c/\"},"
            "{\"name\":\"sqlite\",\"url\":\"/tags/sqlite/\"}]}");
        ck_assert_ptr_nonnull(pg);
        cJSON_AddItemToArray(pages, pg);
    }
    cJSON_AddItemToObject(ctx, "paginator", cJSON_Parse(
        "{\"page\":2,\"pages\":3,\"has_prev\":true,\"prev_url\":\"/p/\","
        "\"has_next\":true,\"next_url\":\"/p/page/3/\"}"));
    buf_reset(&out);
    ck_assert_msg(tpl_render(section, ctx, &o, &out, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(out.ptr, "Project &lt;x&gt;"));
    page_len = out.len;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        buf_reset(&out);
        ck_assert_int_eq(tpl_render(section, ctx, &o, &out, &err), 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    fprintf(stderr, "rendered %d list pages of %zu bytes in %.1f ms on one thread\n",
            n, page_len, ms);
    buf_free(&out);
    cJSON_Delete(ctx);
    tpl_set_free(s);
}
END_TEST

/* ---- concurrent renders of one compiled template ---------------------- */

typedef struct thread_arg {
    const tpl *t;
    map_loader *m;
    const cJSON *ctx;
    const char *want;
    int ok;
} thread_arg;

static void *render_thread(void *p)
{
    thread_arg *a = p;
    tpl_render_opts o = {.loader = map_load, .loader_ud = a->m};
    a->ok = 1;
    for (int i = 0; i < 2000 && a->ok; i++) {
        buf out = BUF_INIT;
        folio_err err;
        if (tpl_render(a->t, a->ctx, &o, &out, &err) != 0 || strcmp(out.ptr, a->want) != 0)
            a->ok = 0;
        buf_free(&out);
    }
    return NULL;
}

START_TEST(test_threads)
{
    folio_err err = {{0}};
    map_loader m = {.n = 0};
    cJSON *parts = cJSON_Parse("{\"item\":\"  <li>{{name}}</li>\\n\"}");
    ck_assert_int_eq(map_fill(&m, parts, &err), 0);
    const char *src = "<ul>\n{{#items}}\n  {{>item}}\n{{/items}}\n</ul>\n";
    tpl *t = tpl_compile("list", src, strlen(src), &err);
    ck_assert_ptr_nonnull(t);
    cJSON *ctx = cJSON_Parse("{\"items\":[{\"name\":\"a\"},{\"name\":\"b<\"}]}");
    const char *want = "<ul>\n    <li>a</li>\n    <li>b&lt;</li>\n</ul>\n";
    thread_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){t, &m, ctx, want, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, render_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert(args[i].ok);
    }
    tpl_free(t);
    map_free(&m);
    cJSON_Delete(ctx);
    cJSON_Delete(parts);
}
END_TEST

/* Random fragments of Mustache syntax: every one compiles or is refused
 * with a message, and renders (through partials of the same kind) without
 * crashing; the sanitizer build checks the memory side. */
START_TEST(test_random_templates)
{
    static const char *frags[] = {
        "{{", "}}", "{{#a}}", "{{/a}}", "{{^a}}", "{{>p}}", "{{<p}}", "{{/p}}",
        "{{$b}}", "{{/b}}", "{{a.b}}", "{{.}}", "{{{a}}}", "{{&a}}", "{{!c}}",
        "{{=<% %>=}}", "<%a%>", "<%={{ }}=%>", "{{>*n}}", "\n", "  ", "\r\n",
        "x", "{", "}", "{{#l}}", "{{/l}}", "\t", "{{ a }}", "{{$c}}", "{{/c}}",
    };
    const size_t nf = sizeof frags / sizeof *frags;
    cJSON *ctx = cJSON_Parse("{\"a\":{\"b\":\"<&>\"},\"l\":[1,{\"a\":true},\"s\"],"
                             "\"n\":\"p\",\"b\":0}");
    unsigned seed = 12345;
    int compiled = 0;
    for (int iter = 0; iter < 4000; iter++) {
        buf src = BUF_INIT, psrc = BUF_INIT;
        int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 8;
        for (int k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            ck_assert_int_eq(buf_puts(&src, frags[(seed >> 16) % nf]), 0);
            seed = seed * 1103515245u + 12345u;
            ck_assert_int_eq(buf_puts(&psrc, frags[(seed >> 16) % nf]), 0);
        }
        folio_err err = {{0}};
        tpl *t = tpl_compile("r", src.ptr, src.len, &err);
        tpl *p = tpl_compile("p", psrc.ptr, psrc.len, &err);
        if (!t || !p) {
            ck_assert_msg(err.msg[0] != '\0', "refused without a message");
        } else {
            compiled++;
            map_loader m = {.n = 1};
            m.items[0].name = "p";
            m.items[0].t = p;
            tpl_render_opts o = {.loader = map_load, .loader_ud = &m};
            buf out = BUF_INIT;
            if (tpl_render(t, ctx, &o, &out, &err) != 0)
                ck_assert_msg(err.msg[0] != '\0', "failed without a message");
            buf_free(&out);
        }
        tpl_free(t);
        tpl_free(p);
        buf_free(&src);
        buf_free(&psrc);
    }
    fprintf(stderr, "random templates: %d of 4000 pairs compiled and rendered\n", compiled);
    ck_assert_int_gt(compiled, 200);
    cJSON_Delete(ctx);
}
END_TEST

/* ---- folio render ------------------------------------------------------ */

/* Runs the command line through the shell; returns its exit status and
 * what it wrote to stdout (stderr goes to *errout). */
static int run_cmd(const char *cmd, char **out, char **errout)
{
    char errfile[] = "/tmp/folio-render-err-XXXXXX";
    int fd = mkstemp(errfile);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char full[8192];
    snprintf(full, sizeof full, "%s 2>%s", cmd, errfile);
    FILE *f = popen(full, "r");
    ck_assert_ptr_nonnull(f);
    buf b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ck_assert_int_eq(buf_add(&b, chunk, n), 0);
    int st = pclose(f);
    *out = buf_detach(&b, NULL);
    size_t len;
    folio_err err;
    ck_assert_int_eq(util_read_file(errfile, errout, &len, &err), 0);
    unlink(errfile);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_cmd_render)
{
    const char *bin = getenv("FOLIO_BIN");
    ck_assert_msg(bin && *bin, "FOLIO_BIN is not set");
    char dir[] = "/tmp/folio-render-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    write_file(dir, "t/page.mustache", "<h1>{{title}}</h1>\n{{#items}}\n  {{>parts/li}}\n{{/items}}\n");
    write_file(dir, "t/parts/li.mustache", "<li>{{.}}</li>\n");
    write_file(dir, "other/parts/li.mustache", "<p>{{.}}</p>\n");
    write_file(dir, "d.json", "{\"title\":\"A & B\",\"items\":[\"x\",\"<y>\"]}");
    write_file(dir, "bad.json", "{\"title\":");
    write_file(dir, "t/broken.mustache", "ok\n{{#open}}\n");
    write_file(dir, "t/missing.mustache", "{{>nowhere}}");
    char cmd[4096];
    char *out, *err;

    snprintf(cmd, sizeof cmd, "%s render %s/t/page.mustache --data %s/d.json", bin, dir, dir);
    ck_assert_int_eq(run_cmd(cmd, &out, &err), 0);
    ck_assert_str_eq(out, "<h1>A &amp; B</h1>\n  <li>x</li>\n  <li>&lt;y&gt;</li>\n");
    free(out);
    free(err);

    snprintf(cmd, sizeof cmd, "%s render %s/t/page.mustache --data=%s/d.json --partials %s/other",
             bin, dir, dir, dir);
    ck_assert_int_eq(run_cmd(cmd, &out, &err), 0);
    ck_assert_str_eq(out, "<h1>A &amp; B</h1>\n  <p>x</p>\n  <p>&lt;y&gt;</p>\n");
    free(out);
    free(err);

    snprintf(cmd, sizeof cmd, "%s render --help", bin);
    ck_assert_int_eq(run_cmd(cmd, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: folio render TEMPLATE"));
    free(out);
    free(err);

    static const struct {
        const char *args, *msg;
    } bad[] = {
        {"", "no template given"},
        {"%s/t/page.mustache --data %s/bad.json", "bad.json:1: not valid JSON"},
        {"%s/t/broken.mustache", "broken.mustache:2: unclosed section 'open'"},
        {"%s/t/missing.mustache", "missing.mustache:1: partial 'nowhere'"},
        {"%s/t/nope.mustache", "nope.mustache: No such file"},
        {"--bogus", "unknown option '--bogus'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char args[1024];
        snprintf(args, sizeof args, bad[i].args, dir, dir);
        snprintf(cmd, sizeof cmd, "%s render %s", bin, args);
        ck_assert_int_eq(run_cmd(cmd, &out, &err), 1);
        ck_assert_str_eq(out, "");
        ck_assert_msg(strstr(err, bad[i].msg) != NULL, "%s: stderr [%s]", args, err);
        free(out);
        free(err);
    }
    folio_err e;
    ck_assert_int_eq(util_rmtree(dir, &e), 0);
}
END_TEST

/* A recursive, indented partial keeps its indentation level by level. */
START_TEST(test_recursive_indent)
{
    buf data = BUF_INIT, want = BUF_INIT;
    int depth = 40;
    for (int i = 0; i < depth; i++)
        ck_assert_int_eq(buf_printf(&data, "{\"n\":%d,\"kids\":[", i), 0);
    for (int i = 0; i < depth; i++)
        ck_assert_int_eq(buf_puts(&data, "]}"), 0);
    for (int i = 0; i < depth; i++)
        ck_assert_int_eq(buf_printf(&want, "%*s<li>%d</li>\n", 4 * i, "", i), 0);
    expect("{{>node}}", data.ptr, "{\"node\":\"<li>{{n}}</li>\\n{{#kids}}\\n    {{>node}}\\n{{/kids}}\\n\"}",
           want.ptr);
    /* an empty partial at the depth limit fails cleanly */
    folio_err err = {{0}};
    char *got = render_with("{{>a}}", "{}", "{\"a\":\"{{>a}}{{>e}}\",\"e\":\"\"}", &err);
    ck_assert_ptr_null(got);
    buf_free(&data);
    buf_free(&want);
}
END_TEST

static Suite *template_suite(void)
{
    Suite *s = suite_create("template");
    TCase *tc = tcase_create("spec");
    tcase_add_test(tc, test_spec);
    suite_add_tcase(s, tc);
    tc = tcase_create("folio");
    tcase_add_test(tc, test_escaping);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_context_stack);
    tcase_add_test(tc, test_inheritance_layout);
    tcase_add_test(tc, test_compile_errors);
    tcase_add_test(tc, test_recursion_limit);
    tcase_add_test(tc, test_missing_partial);
    tcase_add_test(tc, test_resolver);
    tcase_add_test(tc, test_set_load);
    tcase_add_test(tc, test_theme_and_speed);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_random_templates);
    tcase_add_test(tc, test_cmd_render);
    tcase_add_test(tc, test_recursive_indent);
    tcase_add_test(tc, test_text_option);
    tcase_add_test(tc, test_exponential_work_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(template_suite());
}
