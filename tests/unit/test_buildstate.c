/* Tests for buildstate: a state reads back as it was written, in parts,
 * and a damaged one is refused rather than trusted. */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "buildstate.h"
#include "unit.h"

static void S_sample(bstate *st, bstate_out *outs, bstate_src *src, bstate_set *set,
                     char **names, unsigned char (*hash)[BSTATE_HASH], int *tpl)
{
    memset(st, 0, sizeof *st);
    names[0] = "page";
    names[1] = "partials/card";
    memset(hash[0], 1, BSTATE_HASH);
    memset(hash[1], 2, BSTATE_HASH);
    tpl[0] = 0;
    tpl[1] = 1;
    set->tpl = tpl;
    set->n = 2;
    outs[0] = (bstate_out){.path = "a/index.html", .set = 0, .flags = 0, .names = NULL};
    memset(outs[0].fp, 7, BSTATE_HASH);
    outs[1] = (bstate_out){.path = "css/site.css", .set = -1, .names = "community"};
    memset(src, 0, sizeof *src);
    src->page.file = "a.md";
    src->page.section = "";
    src->page.title = "A";
    src->page.params = cJSON_Parse("{\"lede\":\"x\"}");
    src->page.date = 1234;
    src->page.body_line = 4;
    src->size = 99;
    src->mtime_ns = 5;
    src->meta = 1;
    src->words = 42;
    src->links = "3\t/b/\n";
    *st = (bstate){.stamp = "folio test\nsettings", .tpl_names = names, .tpl_hash = hash,
                   .ntpl = 2, .sets = set, .nsets = 1, .outs = outs, .nouts = 2,
                   .srcs = src, .nsrcs = 1};
}

START_TEST(test_round_trip)
{
    char dir[256], path[300];
    unit_tmpdir(dir, sizeof dir, "bstate");
    snprintf(path, sizeof path, "%s/state", dir);
    bstate st, back;
    bstate_out outs[2];
    bstate_src src;
    bstate_set set;
    char *names[2];
    unsigned char hash[2][BSTATE_HASH];
    int tpl[2];
    S_sample(&st, outs, &src, &set, names, hash, tpl);
    /* the page graph's fingerprint and the files' hashes */
    unsigned char srch[3][BSTATE_HASH];
    for (int i = 0; i < 3; i++)
        memset(srch[i], 0x30 + i, BSTATE_HASH);
    memset(st.graph, 9, BSTATE_HASH);
    st.src_hash = srch;
    st.nsrc_hash = 3;
    bstate_dir dirs[2] = {{"", 11, 12, 13, 0}, {"projects/2024", 21, 22, 23, 1}};
    st.dirs = dirs;
    st.ndirs = 2;
    buf b = BUF_INIT;
    ck_assert_int_eq(bstate_encode(&st, &b), 0);
    folio_err err;
    ck_assert_int_eq(util_write_atomic(path, b.ptr, b.len, 0, &err), 0);
    ck_assert_int_eq(bstate_load(path, BSTATE_OUTS | BSTATE_SRCS, &back, &err), 0);
    ck_assert_str_eq(back.stamp, st.stamp);
    ck_assert_int_eq(back.ntpl, 2);
    ck_assert_str_eq(back.tpl_names[1], "partials/card");
    ck_assert_int_eq(back.nsets, 1);
    ck_assert_int_eq(back.sets[0].n, 2);
    ck_assert_int_eq(back.nouts, 2);
    ck_assert_str_eq(back.outs[0].path, "a/index.html");
    ck_assert_ptr_null(back.outs[0].names);
    ck_assert_str_eq(back.outs[1].names, "community");
    ck_assert_int_eq(back.outs[1].set, -1);
    ck_assert(!memcmp(back.outs[0].fp, outs[0].fp, BSTATE_HASH));
    ck_assert_int_eq(back.nsrcs, 1);
    ck_assert_str_eq(back.srcs[0].page.title, "A");
    ck_assert_int_eq(back.srcs[0].page.date, 1234);
    ck_assert_int_eq(back.srcs[0].words, 42);
    ck_assert_str_eq(back.srcs[0].links, "3\t/b/\n");
    ck_assert_str_eq(cJSON_GetObjectItem(back.srcs[0].page.params, "lede")->valuestring, "x");
    ck_assert_int_eq(back.ndirs, 2);
    ck_assert_str_eq(back.dirs[1].path, "projects/2024");
    ck_assert_int_eq(back.dirs[1].mtime_ns, 21);
    ck_assert_int_eq(back.dirs[1].ctime_ns, 22);
    ck_assert_int_eq(back.dirs[1].ino, 23);
    ck_assert_int_eq(back.dirs[1].racy, 1);
    bstate_free(&back);
    /* the folders alone, from the file's end */
    ck_assert_int_eq(bstate_load_dirs(path, &back), 0);
    ck_assert_int_eq(back.ndirs, 2);
    ck_assert_str_eq(back.dirs[0].path, "");
    ck_assert_int_eq(back.dirs[0].ino, 13);
    ck_assert_int_eq(back.nsrcs, 0);
    bstate_free(&back);
    /* the outputs alone */
    ck_assert_int_eq(bstate_load(path, BSTATE_OUTS, &back, &err), 0);
    ck_assert_int_eq(back.nouts, 2);
    ck_assert_int_eq(back.nsrcs, 0);
    ck_assert(!memcmp(back.graph, st.graph, BSTATE_HASH));
    ck_assert_int_eq(back.nsrc_hash, 3);
    ck_assert(!memcmp(back.src_hash, srch, sizeof srch));
    bstate_free(&back);
    /* cut short anywhere: refused */
    for (size_t cut = 0; cut < b.len; cut += 7) {
        ck_assert_int_eq(util_write_atomic(path, b.ptr, cut, 0, &err), 0);
        ck_assert_int_eq(bstate_load(path, BSTATE_OUTS | BSTATE_SRCS, &back, &err), -1);
        ck_assert_int_eq(bstate_load_dirs(path, &back), -1);
    }
    unlink(path);
    ck_assert_int_eq(bstate_load(path, BSTATE_OUTS, &back, &err), 1);
    buf_free(&b);
    cJSON_Delete(src.page.params);
    unit_rmdir(dir);
}
END_TEST

/* Record i of a big state (for src_at). */
static void S_big_src(void *ud, size_t i, bstate_src *out)
{
    static char file[64], title[64];
    cJSON *params = ud;
    memset(out, 0, sizeof *out);
    snprintf(file, sizeof file, "p%05zu.md", i);
    snprintf(title, sizeof title, "Page %zu", i);
    out->page.file = file;
    out->page.section = "projects";
    out->page.title = title;
    out->page.params = params;
    out->page.date = (long long)i;
    out->meta = 1;
    out->words = (int)i;
    out->links = i % 2 ? "1\t/a/\n" : NULL;
}

/* A state of 5,001 records (S_big_src) in dir/state: its bytes in b. */
static void S_big_state(char *dir, size_t dirlen, char *path, size_t pathlen, buf *b)
{
    unit_tmpdir(dir, dirlen, "bstate");
    snprintf(path, pathlen, "%s/state", dir);
    cJSON *params = cJSON_CreateObject();
    bstate st = {.stamp = "folio test", .nsrcs = 5001, .src_at = S_big_src, .src_ud = params};
    ck_assert_int_eq(bstate_encode(&st, b), 0);
    cJSON_Delete(params);
    folio_err err;
    ck_assert_int_eq(util_write_atomic(path, b->ptr, b->len, 0, &err), 0);
}

/* A big site's records are decoded in two halves: every record comes back
 * in its place, and a damaged file is refused whichever half it hits. */
START_TEST(test_many_records)
{
    char dir[256], path[300];
    buf b = BUF_INIT;
    S_big_state(dir, sizeof dir, path, sizeof path, &b);
    folio_err err;
    bstate back;
    ck_assert_int_eq(bstate_load(path, BSTATE_SRCS, &back, &err), 0);
    ck_assert_int_eq(back.nsrcs, 5001);
    for (size_t i = 0; i < back.nsrcs; i++) {
        char want[64];
        snprintf(want, sizeof want, "p%05zu.md", i);
        ck_assert_str_eq(back.srcs[i].page.file, want);
        ck_assert_int_eq(back.srcs[i].words, (int)i);
        ck_assert_int_eq(back.srcs[i].page.date, (long long)i);
        ck_assert_int_eq(back.srcs[i].links != NULL, (int)(i % 2));
    }
    bstate_free(&back);
    /* the second half's start, as the end of the file says it, is checked */
    long long mid;
    memcpy(&mid, b.ptr + b.len - 4 - 8, 8);
    for (long long delta = -1; delta <= 1; delta += 2) {
        long long bad = mid + delta;
        memcpy(b.ptr + b.len - 4 - 8, &bad, 8);
        ck_assert_int_eq(util_write_atomic(path, b.ptr, b.len, 0, &err), 0);
        ck_assert_int_eq(bstate_load(path, BSTATE_SRCS, &back, &err), -1);
    }
    memcpy(b.ptr + b.len - 4 - 8, &mid, 8);
    for (size_t cut = b.len / 4; cut < b.len; cut += b.len / 5) {
        ck_assert_int_eq(util_write_atomic(path, b.ptr, cut, 0, &err), 0);
        ck_assert_int_eq(bstate_load(path, BSTATE_SRCS, &back, &err), -1);
    }
    buf_free(&b);
    unit_rmdir(dir);
}
END_TEST

/* Record i of a loaded state (for src_at). */
static void S_copy_src(void *ud, size_t i, bstate_src *out)
{
    const bstate *st = ud;
    *out = st->srcs[i];
}

/* Links left in the file (BSTATE_LAZYLINKS): a record says where they
 * are, the page's strings share one block, and a state written from such
 * records copies the links from the file: the same bytes as before. */
START_TEST(test_lazy_links)
{
    char dir[256], path[300];
    buf b = BUF_INIT;
    S_big_state(dir, sizeof dir, path, sizeof path, &b);
    folio_err err;
    bstate back;
    ck_assert_int_eq(bstate_load(path, BSTATE_SRCS | BSTATE_KEEPFD | BSTATE_LAZYLINKS, &back,
                                 &err), 0);
    ck_assert_int_eq(back.nsrcs, 5001);
    for (size_t i = 0; i < back.nsrcs; i++) {
        const bstate_src *c = &back.srcs[i];
        ck_assert_ptr_null(c->links);
        ck_assert_int_eq(c->links_lazy, (int)(i % 2));
        ck_assert(content_in_blk(&c->page, c->page.file));
        ck_assert(content_in_blk(&c->page, c->page.title));
        if (i % 2) {
            char got[16] = {0};
            ck_assert_int_eq(c->links_len, 6);
            ck_assert_int_eq(pread(c->links_fd, got, 6, (off_t)c->links_off), 6);
            ck_assert_str_eq(got, "1\t/a/\n");
        }
    }
    /* written again from the loaded records, nothing copied raw */
    for (size_t i = 0; i < back.nsrcs; i++)
        back.srcs[i].raw_fd = -1;
    buf b2 = BUF_INIT;
    ck_assert_int_eq(bstate_encode(&back, &b2), 0);
    ck_assert_uint_eq(b2.len, b.len);
    ck_assert(!memcmp(b2.ptr, b.ptr, b.len));
    /* written to a file with every other record copied raw from the
     * loaded one: where the second half starts is still told right */
    char path2[320];
    snprintf(path2, sizeof path2, "%s/state2", dir);
    for (size_t i = 0; i < back.nsrcs; i++)
        back.srcs[i].raw_fd = i % 2 ? -1 : back.fd;
    bstate w = back;
    w.srcs = NULL;
    w.src_at = S_copy_src;
    w.src_ud = &back;
    int fd = open(path2, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bstate_write(fd, &w), 0);
    close(fd);
    bstate again;
    ck_assert_int_eq(bstate_load(path2, BSTATE_SRCS, &again, &err), 0);
    ck_assert_int_eq(again.nsrcs, 5001);
    ck_assert_str_eq(again.srcs[4000].page.file, "p04000.md");
    ck_assert_str_eq(again.srcs[4001].links, "1\t/a/\n");
    bstate_free(&again);
    unlink(path2);
    bstate_free(&back);
    /* eager, as before: the links are strings */
    ck_assert_int_eq(bstate_load(path, BSTATE_SRCS | BSTATE_LAZYLINKS, &back, &err), 0);
    ck_assert_str_eq(back.srcs[1].links, "1\t/a/\n");
    ck_assert_int_eq(back.srcs[1].links_lazy, 0);
    bstate_free(&back);
        buf_free(&b);
    buf_free(&b2);
    unit_rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("buildstate");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_many_records);
    tcase_add_test(tc, test_lazy_links);
    suite_add_tcase(su, tc);
    return unit_run(su);
}
