/* Tests for watch: changes in a tree and below it, folders made later,
 * editor litter ignored, one file watched through renames, bursts
 * coalesced, and waking a waiter. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "watch.h"

static char S_tmp[64];

static void setup(void)
{
    unit_tmpdir(S_tmp, sizeof S_tmp, "watch");
}

static void teardown(void)
{
    unit_rmdir(S_tmp);
}

static void S_write(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", S_tmp, rel);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void S_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *S_waker(void *arg)
{
    S_sleep_ms(300);
    watch_wake(arg);
    return NULL;
}

/* watch_wait with a waker: 1 when a change came first, 0 when none did. */
static int S_wait(watch *w, char *first, size_t len)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, S_waker, w), 0);
    folio_err err = {{0}};
    int r = watch_wait(w, 30, first, len, &err);
    pthread_join(t, NULL);
    ck_assert_msg(r >= 0, "%s", err.msg);
    if (r == 1) {
        /* The waker woke after the change: that wake is pending still, and
         * a wake goes before changes. */
        char none[256];
        ck_assert_int_eq(watch_wait(w, 30, none, sizeof none, &err), 0);
    }
    return r;
}

static const char *S_rel(const char *path)
{
    size_t n = strlen(S_tmp);
    return !strncmp(path, S_tmp, n) ? path + n + 1 : path;
}

START_TEST(test_tree)
{
    char dir[128], first[256];
    snprintf(dir, sizeof dir, "%s/content", S_tmp);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(first, sizeof first, "%s/old", dir);
    ck_assert_int_eq(mkdir(first, 0755), 0);
    snprintf(first, sizeof first, "%s/out", dir);
    ck_assert_int_eq(mkdir(first, 0755), 0);
    watch *w = NULL;
    folio_err err = {{0}};
    ck_assert_int_eq(watch_open(&w, &err), 0);
    ck_assert_int_eq(watch_skip(w, first, &err), 0);
    ck_assert_int_eq(watch_add_tree(w, dir, &err), 0);
    ck_assert_int_eq(watch_add_tree(w, "/nonexistent/folio", &err), 0);

    S_write("content/a.md", "a");
    ck_assert_int_eq(S_wait(w, first, sizeof first), 1);
    ck_assert_str_eq(S_rel(first), "content/a.md");

    S_write("content/old/b.md", "b");
    ck_assert_int_eq(S_wait(w, first, sizeof first), 1);
    ck_assert_str_eq(S_rel(first), "content/old/b.md");

    /* Editor litter alone is no change. */
    S_write("content/.a.md.swp", "x");
    S_write("content/a.md~", "x");
    S_write("content/4913", "x");
    /* Nor is a skipped folder's content (where builds write). */
    S_write("content/out/index.html", "x");
    ck_assert_int_eq(S_wait(w, first, sizeof first), 0);

    /* A folder made now is watched from now on. */
    snprintf(first, sizeof first, "%s/new", dir);
    ck_assert_int_eq(mkdir(first, 0755), 0);
    ck_assert_int_eq(S_wait(w, first, sizeof first), 1);
    S_write("content/new/c.md", "c");
    ck_assert_int_eq(S_wait(w, first, sizeof first), 1);
    ck_assert_str_eq(S_rel(first), "content/new/c.md");

    /* A burst is one change; the saved file is named, not the temporary. */
    for (int i = 0; i < 5; i++) {
        S_write("content/tmp123", "burst");
        char from[256], to[256];
        snprintf(from, sizeof from, "%s/content/tmp123", S_tmp);
        snprintf(to, sizeof to, "%s/content/a.md", S_tmp);
        ck_assert_int_eq(rename(from, to), 0);
        S_sleep_ms(5);
    }
    ck_assert_int_eq(S_wait(w, first, sizeof first), 1);
    ck_assert_str_eq(S_rel(first), "content/a.md");
    ck_assert_int_eq(S_wait(w, first, sizeof first), 0);
    watch_close(w);
}
END_TEST

START_TEST(test_file)
{
    char path[256], first[256];
    snprintf(path, sizeof path, "%s/folio.yml", S_tmp);
    S_write("folio.yml", "title: a\n");
    watch *w = NULL;
    folio_err err = {{0}};
    ck_assert_int_eq(watch_open(&w, &err), 0);
    ck_assert_int_eq(watch_add_file(w, path, &err), 0);
    /* Other files beside it do not count. */
    S_write("other.txt", "x");
    ck_assert_int_eq(S_wait(w, first, sizeof first), 0);
    /* Saved by rename, as editors do, twice: still watched. */
    for (int i = 0; i < 2; i++) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s/folio.yml.new", S_tmp);
        S_write("folio.yml.new", "title: b\n");
        ck_assert_int_eq(rename(tmp, path), 0);
        ck_assert_int_eq(S_wait(w, first, sizeof first), 1);
        ck_assert_str_eq(S_rel(first), "folio.yml");
        }
    watch_close(w);
}
END_TEST

/* Whether the last burst named rel (relative to S_tmp). */
static int S_named(watch *w, const char *rel)
{
    size_t n;
    const char *const *v = watch_changed(w, &n);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(S_rel(v[i]), rel))
            return 1;
    return 0;
}

/* What folio serve relies on to read only the files that changed. */
START_TEST(test_changed)
{
    char dir[128], first[256];
    snprintf(dir, sizeof dir, "%s/content", S_tmp);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    S_write("content/keep.md", "k");
    watch *w = NULL;
    folio_err err = {{0}};
    ck_assert_int_eq(watch_open(&w, &err), 0);
    ck_assert_int_eq(watch_add_tree(w, dir, &err), 0);

    /* One burst: an edit, a save by rename, a new file, a deletion. */
    S_write("content/a.md", "a");
    S_write("content/.b.md.swp", "b");
    char from[256], to[256];
    snprintf(from, sizeof from, "%s/content/.b.md.swp", S_tmp);
    snprintf(to, sizeof to, "%s/content/b.md", S_tmp);
    ck_assert_int_eq(rename(from, to), 0);
    snprintf(from, sizeof from, "%s/content/keep.md", S_tmp);
    ck_assert_int_eq(unlink(from), 0);
    ck_assert_int_eq(watch_wait(w, 30, first, sizeof first, &err), 1);
    ck_assert(S_named(w, "content/a.md"));
    ck_assert(S_named(w, "content/b.md"));
    ck_assert(S_named(w, "content/keep.md"));
    ck_assert(!S_named(w, "content/.b.md.swp")); /* editor litter */

    /* The next burst starts a new list. */
    S_write("content/c.md", "c");
    ck_assert_int_eq(watch_wait(w, 30, first, sizeof first, &err), 1);
    ck_assert(S_named(w, "content/c.md"));
    ck_assert(!S_named(w, "content/a.md"));

    /* A folder's files come and go unnamed: anything may have changed. */
    snprintf(from, sizeof from, "%s/content/sub", S_tmp);
    ck_assert_int_eq(mkdir(from, 0755), 0);
    ck_assert_int_eq(watch_wait(w, 30, first, sizeof first, &err), 1);
    size_t n;
    ck_assert_ptr_null(watch_changed(w, &n));
    watch_close(w);
}
END_TEST

static Suite *watch_suite(void)
{
    Suite *s = suite_create("watch");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_tree);
    tcase_add_test(tc, test_file);
    tcase_add_test(tc, test_changed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(watch_suite());
}
