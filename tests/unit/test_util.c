/* Tests for util: buffers, errors, files, time and UTF-8. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "unit.h"

static char S_tmp[64];

static void setup(void)
{
    unit_tmpdir(S_tmp, sizeof S_tmp, "util");
}

static void teardown(void)
{
    unit_rmdir(S_tmp);
}

START_TEST(test_buf_basics)
{
    buf b = BUF_INIT;
    ck_assert_int_eq(buf_puts(&b, "abc"), 0);
    ck_assert_int_eq(buf_putc(&b, '-'), 0);
    ck_assert_int_eq(buf_printf(&b, "%d:%s", 42, "x"), 0);
    ck_assert_str_eq(b.ptr, "abc-42:x");
    ck_assert_uint_eq(b.len, 8);
    /* past the small stack buffer in buf_vprintf */
    char big[1000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(buf_printf(&b, "[%s]", big), 0);
    ck_assert_uint_eq(b.len, 8 + 2 + 999);
    ck_assert_int_eq(b.ptr[b.len], '\0');
    ck_assert_int_eq(b.ptr[b.len - 1], ']');
    buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(b.ptr, "");
    ck_assert_int_eq(buf_add(&b, "a\0b", 3), 0);
    ck_assert_uint_eq(b.len, 3);
    size_t len;
    char *p = buf_detach(&b, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(memcmp(p, "a\0b", 3), 0);
    ck_assert_ptr_null(b.ptr);
    free(p);
    p = buf_detach(&b, &len); /* an empty buffer still gives a string */
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p, "");
    free(p);
    buf_free(&b);
}
END_TEST

START_TEST(test_buf_html)
{
    buf b = BUF_INIT;
    const char *s = "<a href=\"x\">Tom & Jerry's</a>";
    ck_assert_int_eq(buf_add_html(&b, s, strlen(s)), 0);
    ck_assert_str_eq(b.ptr, "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
    buf_reset(&b);
    ck_assert_int_eq(buf_add_html(&b, "plain", 5), 0);
    ck_assert_str_eq(b.ptr, "plain");
    buf_reset(&b);
    ck_assert_int_eq(buf_add_pct(&b, "a b/c?d&\xc3\xa9~", "/"), 0);
    ck_assert_str_eq(b.ptr, "a%20b/c%3Fd%26%C3%A9~");
    buf_reset(&b);
    ck_assert_int_eq(buf_add_pct(&b, "x/y", ""), 0);
    ck_assert_str_eq(b.ptr, "x%2Fy");
    buf_free(&b);
}
END_TEST

/* buf_add_html as the plain definition says it: one byte at a time. */
static void S_html_ref(buf *b, const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        const char *r = s[i] == '&' ? "&amp;" : s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;"
                      : s[i] == '"' ? "&quot;" : s[i] == '\'' ? "&#39;" : NULL;
        ck_assert_int_eq(r ? buf_puts(b, r) : buf_add(b, (const char *)s + i, 1), 0);
    }
}

START_TEST(test_buf_html_runs)
{
    buf b = BUF_INIT, want = BUF_INIT;
    /* empty: still a NUL-terminated buffer */
    ck_assert_int_eq(buf_add_html(&b, "", 0), 0);
    ck_assert_ptr_nonnull(b.ptr);
    ck_assert_str_eq(b.ptr, "");
    /* appended to what is there; entities first, last, back to back */
    ck_assert_int_eq(buf_puts(&b, "x:"), 0);
    ck_assert_int_eq(buf_add_html(&b, "&<>\"'", 5), 0);
    ck_assert_str_eq(b.ptr, "x:&amp;&lt;&gt;&quot;&#39;");
    buf_reset(&b);
    ck_assert_int_eq(buf_add_html(&b, "caf\xc3\xa9 & <b>", 11), 0);
    ck_assert_str_eq(b.ptr, "caf\xc3\xa9 &amp; &lt;b&gt;");
    /* only len bytes are read */
    buf_reset(&b);
    ck_assert_int_eq(buf_add_html(&b, "ab<cd", 3), 0);
    ck_assert_str_eq(b.ptr, "ab&lt;");
    /* every byte value, in strings of every length around the growth steps */
    unsigned seed = 12345;
    unsigned char s[300];
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(round % 300);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned v = (seed >> 16) & 0xff;
            /* dense, or rare: long runs without any */
            s[i] = (unsigned char)(v < (round % 2 ? 64u : 2u) ? (unsigned char)"&<>\"'"[v % 5] : v);
        }
        buf_reset(&b);
        buf_reset(&want);
        ck_assert_int_eq(buf_puts(&b, "pre"), 0);
        ck_assert_int_eq(buf_puts(&want, "pre"), 0);
        ck_assert_int_eq(buf_add_html(&b, (const char *)s, len), 0);
        S_html_ref(&want, s, len);
        ck_assert_uint_eq(b.len, want.len);
        ck_assert(memcmp(b.ptr, want.ptr, want.len + 1) == 0);
    }
    buf_free(&b);
    buf_free(&want);
}
END_TEST

START_TEST(test_err)
{
    folio_err err;
    ck_assert_int_eq(err_set(&err, "bad %s", "thing"), -1);
    ck_assert_str_eq(err.msg, "bad thing");
    ck_assert_int_eq(err_prefix(&err, "file.md:%d", 3), -1);
    ck_assert_str_eq(err.msg, "file.md:3: bad thing");
    ck_assert_int_eq(err_set(NULL, "ignored"), -1);
    /* a prefix that overflows keeps the message printable */
    char longp[FOLIO_ERR_MAX];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    err_prefix(&err, "%s", longp);
    ck_assert_uint_lt(strlen(err.msg), FOLIO_ERR_MAX);
}
END_TEST

START_TEST(test_files)
{
    folio_err err;
    char p[PATH_MAX], q[PATH_MAX];
    snprintf(p, sizeof p, "%s/a/b/c.txt", S_tmp);
    ck_assert_int_eq(util_write_atomic(p, "hello", 5, 1, &err), 0);
    ck_assert(util_is_file(p));
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    char *data;
    size_t len;
    ck_assert_int_eq(util_read_file(p, &data, &len, &err), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert_str_eq(data, "hello");
    free(data);
    ck_assert_int_eq(util_write_atomic(p, "", 0, 0, &err), 0);
    ck_assert_int_eq(util_read_file(p, &data, &len, &err), 0);
    ck_assert_uint_eq(len, 0);
    free(data);
    /* no temporary files are left behind */
    snprintf(q, sizeof q, "%s/a/b", S_tmp);
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", q);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(q, sizeof q, "%s/missing", S_tmp);
    ck_assert_int_eq(util_read_file(q, &data, &len, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "missing"));
    /* copy and remove trees */
    snprintf(q, sizeof q, "%s/copy", S_tmp);
    snprintf(p, sizeof p, "%s/a", S_tmp);
    ck_assert_int_eq(util_copy_tree(p, q, &err), 0);
    snprintf(p, sizeof p, "%s/copy/b/c.txt", S_tmp);
    ck_assert(util_is_file(p));
    ck_assert(util_is_dir(q));
    ck_assert_int_eq(util_rmtree(q, &err), 0);
    ck_assert(!util_is_dir(q));
    ck_assert_int_eq(util_rmtree(q, &err), 0); /* missing is fine */
    snprintf(q, sizeof q, "%s/x/y/z", S_tmp);
    ck_assert_int_eq(util_mkdirs(q, 0755, &err), 0);
    ck_assert_int_eq(util_mkdirs(q, 0755, &err), 0);
    ck_assert(util_is_dir(q));
}
END_TEST

START_TEST(test_path)
{
    folio_err err;
    char small[8];
    ck_assert_int_eq(util_path(small, sizeof small, &err, "%s", "1234567"), 0);
    ck_assert_int_eq(util_path(small, sizeof small, &err, "%s", "12345678"), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "too long"));
}
END_TEST

START_TEST(test_time)
{
    long long ms;
    char out[32];
    ck_assert_int_eq(util_parse_time("1970-01-01", &ms), 0);
    ck_assert_int_eq(ms, 0);
    ck_assert_int_eq(util_parse_time("2025-03-01", &ms), 0);
    util_format_iso_ms(ms, out);
    ck_assert_str_eq(out, "2025-03-01T00:00:00.000Z");
    ck_assert_int_eq(util_parse_time("2024-02-29T23:59:58.5Z", &ms), 0);
    util_format_iso_ms(ms, out);
    ck_assert_str_eq(out, "2024-02-29T23:59:58.500Z");
    ck_assert_int_eq(util_parse_time("2025-03-01 10:00", &ms), 0);
    util_format_iso_ms(ms, out);
    ck_assert_str_eq(out, "2025-03-01T10:00:00.000Z");
    ck_assert_int_eq(util_parse_time("2025-03-01T10:00:00+02:00", &ms), 0);
    util_format_iso_ms(ms, out);
    ck_assert_str_eq(out, "2025-03-01T08:00:00.000Z");
    ck_assert_int_eq(util_parse_time("2025-03-01T10:00:00-0130", &ms), 0);
    util_format_iso_ms(ms, out);
    ck_assert_str_eq(out, "2025-03-01T11:30:00.000Z");
    util_format_iso_ms(-1, out);
    ck_assert_str_eq(out, "1969-12-31T23:59:59.999Z");
    static const char *const bad[] = {
        "", "2025", "2025-3-1", "2025-13-01", "2025-00-10", "2025-01-32",
        "2025-02-30", "2023-02-29", "2025-04-31", "2025-03-01T", "2025-03-01T24:00",
        "2025-03-01T10:60", "2025-03-01x", "2025-03-01T10:00:00+25:00",
        "2025-03-01T10:00:00+01:99", "2025-03-01T10:00:00ZZ", NULL};
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(util_parse_time(bad[i], &ms) == -1, "accepted '%s'", bad[i]);
    long long a = util_now_ms(), b = util_now_ms();
    ck_assert(b >= a && a > 1700000000000LL);
    long long m1 = util_mono_ns(), m2 = util_mono_ns();
    ck_assert(m1 > 0 && m2 >= m1);
}
END_TEST

START_TEST(test_utf8)
{
    ck_assert(util_utf8_valid("plain", 5));
    ck_assert(util_utf8_valid("caf\xc3\xa9", 5));
    ck_assert(util_utf8_valid("\xf0\x9f\x98\x80", 4));
    ck_assert(util_utf8_valid("", 0));
    ck_assert(!util_utf8_valid("\xc3", 1));           /* cut short */
    ck_assert(!util_utf8_valid("\xc0\xaf", 2));       /* overlong */
    ck_assert(!util_utf8_valid("\xed\xa0\x80", 3));   /* surrogate */
    ck_assert(!util_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    ck_assert(!util_utf8_valid("\x80", 1));
    ck_assert(!util_utf8_valid("\xe2\x82", 2));
    /* the ASCII runs read eight bytes at a time: a bad byte at every
     * place around and past them is still found, and a good one passes */
    char t[40];
    for (size_t at = 0; at < 24; at++) {
        memset(t, 'a', sizeof t);
        t[at] = (char)0x80;
        ck_assert(!util_utf8_valid(t, 24));
        ck_assert(util_utf8_valid(t, at)); /* up to it */
        t[at] = (char)0xc3;
        t[at + 1] = (char)0xa9;
        ck_assert(util_utf8_valid(t, 24 > at + 2 ? 24 : at + 2));
        ck_assert(!util_utf8_valid(t, at + 1)); /* cut short */
    }
}
END_TEST

START_TEST(test_slug_and_strings)
{
    char *s = util_slugify("Hello, World!");
    ck_assert_str_eq(s, "hello-world");
    free(s);
    s = util_slugify("  --C++ & SQLite 3--  ");
    ck_assert_str_eq(s, "c-sqlite-3");
    free(s);
    s = util_slugify("Café au lait");
    ck_assert_str_eq(s, "café-au-lait");
    free(s);
    s = util_slugify("!!!");
    ck_assert_str_eq(s, "");
    free(s);
    s = util_strndup("abcdef", 3);
    ck_assert_str_eq(s, "abc");
    free(s);
    ck_assert_ptr_null(util_strdup(NULL));
}
END_TEST

static Suite *util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_buf_basics);
    tcase_add_test(tc, test_buf_html);
    tcase_add_test(tc, test_buf_html_runs);
    tcase_add_test(tc, test_err);
    tcase_add_test(tc, test_files);
    tcase_add_test(tc, test_path);
    tcase_add_test(tc, test_time);
    tcase_add_test(tc, test_utf8);
    tcase_add_test(tc, test_slug_and_strings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(util_suite());
}
