/* The vault: master key file, sealing, forgetting, scrubbing. */
#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "util.h"
#include "vault.h"
#include "unit.h"

static char S_dir[256];
static char S_db[300];
static char S_key[300];

static void S_setup(void)
{
    unit_tmpdir(S_dir, sizeof S_dir, "vault");
    snprintf(S_db, sizeof S_db, "%s/folio.db", S_dir);
    snprintf(S_key, sizeof S_key, "%s/master.key", S_dir);
}

static void S_teardown(void)
{
    unit_rmdir(S_dir);
}

typedef struct env {
    store *s;
    vault *v;
} env;

static env S_open(void)
{
    env e;
    folio_err err = {{0}};
    ck_assert_msg(store_open(S_db, NULL, &e.s, &err) == 0, "%s", err.msg);
    ck_assert_msg(vault_open(S_key, store_db(e.s), &e.v, &err) == 0, "%s",
                  err.msg);
    return e;
}

static void S_close(env e)
{
    vault_close(e.v);
    store_close(e.s);
}

START_TEST(master_key_file)
{
    env e = S_open();
    struct stat st;
    ck_assert_int_eq(stat(S_key, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(st.st_size, 32);
    char a[VAULT_SUBJECT_LEN + 1], b[VAULT_SUBJECT_LEN + 1];
    vault_subject(e.v, "ada@example.org", a);
    S_close(e);
    /* The same key next time: the same subject. */
    e = S_open();
    vault_subject(e.v, "ada@example.org", b);
    ck_assert_str_eq(a, b);
    S_close(e);

    folio_err err = {{0}};
    vault *v = NULL;
    store *s = NULL;
    ck_assert_int_eq(store_open(S_db, NULL, &s, &err), 0);
    ck_assert_int_eq(chmod(S_key, 0644), 0);
    ck_assert_int_eq(vault_open(S_key, store_db(s), &v, &err), -1);
    ck_assert_ptr_null(v);
    ck_assert_msg(strstr(err.msg, "group or others") &&
                  strstr(err.msg, "chmod 600"), "%s", err.msg);
    ck_assert_int_eq(chmod(S_key, 0640), 0);
    ck_assert_int_eq(vault_open(S_key, store_db(s), &v, &err), -1);
    ck_assert_int_eq(chmod(S_key, 0600), 0);
    ck_assert_int_eq(truncate(S_key, 31), 0);
    ck_assert_int_eq(vault_open(S_key, store_db(s), &v, &err), -1);
    ck_assert_msg(strstr(err.msg, "exactly 32 bytes"), "%s", err.msg);
    char missing[400];
    snprintf(missing, sizeof missing, "%s/no/such/dir/master.key", S_dir);
    ck_assert_int_eq(vault_open(missing, store_db(s), &v, &err), -1);
    ck_assert_msg(strstr(err.msg, "cannot create"), "%s", err.msg);
    store_close(s);
}
END_TEST

/* Processes starting together on a fresh site all end up with the one
 * key (and the one schema): none reads a half-written key file. */
START_TEST(first_start_race)
{
    enum { KIDS = 4 };
    int go[2], out[2];
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(out), 0);
    pid_t kids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        kids[k] = fork();
        ck_assert_int_ge(kids[k], 0);
        if (kids[k] == 0) {
            close(go[1]);
            close(out[0]);
            char b;
            if (read(go[0], &b, 1) != 0)
                _exit(10);
            store *s = NULL;
            vault *v = NULL;
            folio_err err;
            if (store_open(S_db, NULL, &s, &err) != 0) {
                fprintf(stderr, "kid: %s\n", err.msg);
                _exit(11);
            }
            if (vault_open(S_key, store_db(s), &v, &err) != 0) {
                fprintf(stderr, "kid: %s\n", err.msg);
                _exit(12);
            }
            char subj[VAULT_SUBJECT_LEN + 1];
            vault_subject(v, "ada@example.org", subj);
            ssize_t w = write(out[1], subj, VAULT_SUBJECT_LEN);
            vault_close(v);
            store_close(s);
            _exit(w == VAULT_SUBJECT_LEN ? 0 : 13);
        }
    }
    close(go[0]);
    close(out[1]);
    close(go[1]); /* start */
    for (int k = 0; k < KIDS; k++) {
        int st;
        ck_assert_int_eq(waitpid(kids[k], &st, 0), kids[k]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "kid %d: %d", k,
                      WEXITSTATUS(st));
    }
    char all[KIDS * VAULT_SUBJECT_LEN + 1];
    size_t got = 0;
    ssize_t r;
    while ((r = read(out[0], all + got, sizeof all - 1 - got)) > 0)
        got += (size_t)r;
    close(out[0]);
    ck_assert_uint_eq(got, KIDS * VAULT_SUBJECT_LEN);
    for (int k = 1; k < KIDS; k++)
        ck_assert_int_eq(memcmp(all, all + k * VAULT_SUBJECT_LEN,
                                VAULT_SUBJECT_LEN), 0);
    /* No temporary key files left behind. */
    DIR *d = opendir(S_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(!strstr(e->d_name, ".new-"), "%s", e->d_name);
    closedir(d);
}
END_TEST

START_TEST(normalise_and_subject)
{
    char out[64];
    ck_assert_int_eq(vault_normalise_email("  Ada.L@Example.ORG \n", out,
                                           sizeof out), 0);
    ck_assert_str_eq(out, "ada.l@example.org");
    ck_assert_int_eq(vault_normalise_email("a@b.c", out, 5), -1);
    ck_assert_int_eq(vault_normalise_email("a@b.c", out, 6), 0);
    env e = S_open();
    char a[VAULT_SUBJECT_LEN + 1], b[VAULT_SUBJECT_LEN + 1];
    vault_subject(e.v, "ada@example.org", a);
    vault_subject(e.v, "bob@example.org", b);
    ck_assert_int_eq(strlen(a), VAULT_SUBJECT_LEN);
    ck_assert_int_eq(strspn(a, "0123456789abcdef"), VAULT_SUBJECT_LEN);
    ck_assert_str_ne(a, b);
    S_close(e);
}
END_TEST

START_TEST(seal_round_trip)
{
    env e = S_open();
    folio_err err = {{0}};
    char subj[VAULT_SUBJECT_LEN + 1], other[VAULT_SUBJECT_LEN + 1];
    vault_subject(e.v, "ada@example.org", subj);
    vault_subject(e.v, "bob@example.org", other);
    const char *plain = "Ada Lovelace — «analytical engine»\nline two";
    char *s1 = NULL, *s2 = NULL, *back = NULL;
    ck_assert_msg(vault_seal(e.v, subj, plain, &s1, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(vault_seal(e.v, subj, plain, &s2, &err), 0);
    ck_assert_int_eq(strncmp(s1, "v1:", 3), 0);
    ck_assert_str_ne(s1, s2);           /* fresh nonce each time */
    ck_assert_ptr_null(strstr(s1, "Ada"));
    ck_assert_int_eq(vault_open_sealed(e.v, subj, s1, &back, &err), 0);
    ck_assert_str_eq(back, plain);
    free(back);
    ck_assert_int_eq(vault_open_sealed(e.v, subj, s2, &back, &err), 0);
    ck_assert_str_eq(back, plain);
    free(back);
    /* Only one key row for the subject. */
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(store_db(e.s),
                     "SELECT count(*) FROM subject_keys", -1, &st, NULL), 0);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    /* Another subject's key does not open it; neither does damage. */
    char *o = NULL;
    ck_assert_int_eq(vault_seal(e.v, other, "x", &o, &err), 0);
    ck_assert_int_eq(vault_open_sealed(e.v, other, s1, &back, &err), -1);
    ck_assert_ptr_null(back);
    s1[10] = s1[10] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(vault_open_sealed(e.v, subj, s1, &back, &err), -1);
    ck_assert_int_eq(vault_open_sealed(e.v, subj, "v1:!!", &back, &err), -1);
    ck_assert_int_eq(vault_open_sealed(e.v, subj, "plain", &back, &err), -1);
    free(o);
    ck_assert_int_eq(vault_seal(e.v, "bad subject", "x", &o, &err), -1);
    ck_assert_ptr_null(o);
    /* The empty string seals too. */
    char *empty = NULL;
    ck_assert_int_eq(vault_seal(e.v, subj, "", &empty, &err), 0);
    ck_assert_int_eq(vault_open_sealed(e.v, subj, empty, &back, &err), 0);
    ck_assert_str_eq(back, "");
    free(back);
    free(empty);
    free(s1);
    free(s2);
    free(o);
    S_close(e);
}
END_TEST

/* A replay's window onto the keys: 40 subjects' keys read 2 * 4 at a
 * time, in the order they were made. Values come in that order and open
 * from it (a forgotten one redacted); one whose key fell out of the window
 * gets 3, and the vault itself still opens it. */
START_TEST(reader_window)
{
    env e = S_open();
    folio_err err = {{0}};
    enum { N = 40 };
    char subj[N][VAULT_SUBJECT_LEN + 1], *sealed[N], *back = NULL;
    for (int i = 0; i < N; i++) {
        char email[32];
        snprintf(email, sizeof email, "p%d@example.org", i);
        vault_subject(e.v, email, subj[i]);
        ck_assert_int_eq(vault_seal(e.v, subj[i], email, &sealed[i], &err),
                         0);
    }
    ck_assert_int_eq(vault_forget(e.v, subj[7], &err), 0);
    vault_reader *r = NULL;
    ck_assert_msg(vault_reader_open(e.v, store_db(e.s), 4, &r, &err) == 0,
                  "%s", err.msg);
    long long now = util_now_ms();
    for (int i = 0; i < N; i++) {
        int rc = vault_reader_open_sealed(r, subj[i], sealed[i], now, &back,
                                          &err);
        ck_assert_int_eq(rc, i == 7 ? 1 : 0);
        if (rc == 0) {
            char email[32];
            snprintf(email, sizeof email, "p%d@example.org", i);
            ck_assert_str_eq(back, email);
            free(back);
        }
    }
    ck_assert_int_eq(vault_reader_open_sealed(r, subj[2], sealed[2], now,
                                              &back, &err), 3);
    ck_assert_ptr_null(back);
    ck_assert_int_eq(vault_open_sealed(e.v, subj[2], sealed[2], &back, &err),
                     0);
    free(back);
    vault_reader_close(r);
    for (int i = 0; i < N; i++)
        free(sealed[i]);
    S_close(e);
}
END_TEST

/* Whether a name's key is live, asked without opening it, and the MACs
 * that let a replay compare names unopened: one for each sealed value
 * and name, the same each time. */
START_TEST(reader_state_and_name_mac)
{
    env e = S_open();
    folio_err err = {{0}};
    char a[VAULT_SUBJECT_LEN + 1], b[VAULT_SUBJECT_LEN + 1];
    char *sa = NULL, *sb = NULL, *sb2 = NULL;
    vault_subject(e.v, "a@example.org", a);
    vault_subject(e.v, "b@example.org", b);
    ck_assert_int_eq(vault_seal(e.v, a, "Ann", &sa, &err), 0);
    ck_assert_int_eq(vault_seal(e.v, b, "Bob", &sb, &err), 0);
    ck_assert_int_eq(vault_forget(e.v, b, &err), 0);
    ck_assert_int_eq(vault_seal(e.v, b, "Bob again", &sb2, &err), 0);
    vault_reader *r = NULL;
    ck_assert_msg(vault_reader_open(e.v, store_db(e.s), 4, &r, &err) == 0,
                  "%s", err.msg);
    long long now = util_now_ms();
    /* not yet known without waiting, then known */
    ck_assert_int_eq(vault_reader_state(r, a, sa, now, 0, &err), 4);
    ck_assert_int_eq(vault_reader_state(r, b, sb, now, 1, &err), 1);
    ck_assert_int_eq(vault_reader_state(r, a, sa, now, 0, &err), 0);
    /* a later generation is asked of the vault */
    ck_assert_int_eq(vault_reader_state(r, b, sb2, now, 1, &err), 3);
    ck_assert_int_eq(vault_reader_state(r, a, "not sealed", now, 1, &err), -1);
    vault_reader_close(r);

    unsigned char m1[VAULT_NAME_MAC_LEN], m2[VAULT_NAME_MAC_LEN];
    unsigned char m3[VAULT_NAME_MAC_LEN], m4[VAULT_NAME_MAC_LEN];
    ck_assert_int_eq(vault_name_mac(e.v, sa, "Ann", 3, m1), 0);
    ck_assert_int_eq(vault_name_mac(e.v, sa, "Ann", 3, m2), 0);
    ck_assert_mem_eq(m1, m2, sizeof m1);
    ck_assert_int_eq(vault_name_mac(e.v, sa, "Anne", 4, m3), 0);
    ck_assert_int_eq(vault_name_mac(e.v, sb, "Ann", 3, m4), 0);
    ck_assert(memcmp(m1, m3, sizeof m1) != 0);
    ck_assert(memcmp(m1, m4, sizeof m1) != 0);
    /* a name longer than the stack's buffer */
    char big[3000];
    memset(big, 'x', sizeof big);
    ck_assert_int_eq(vault_name_mac(e.v, sa, big, sizeof big, m3), 0);
    ck_assert(memcmp(m1, m3, sizeof m1) != 0);
    free(sa);
    free(sb);
    free(sb2);
    S_close(e);
}
END_TEST

START_TEST(key_follows_the_transaction)
{
    env e = S_open();
    folio_err err;
    char *s = NULL, *back = NULL;
    ck_assert_int_eq(store_begin(e.s, &err), 0);
    ck_assert_int_eq(vault_seal(e.v, "subj-1", "hello", &s, &err), 0);
    store_rollback(e.s);
    /* The key went with the transaction: what was sealed cannot open. */
    ck_assert_int_eq(vault_open_sealed(e.v, "subj-1", s, &back, &err), -1);
    ck_assert_msg(strstr(err.msg, "no key"), "%s", err.msg);
    free(s);
    S_close(e);
}
END_TEST

START_TEST(forget_redacts)
{
    env e = S_open();
    folio_err err = {{0}};
    char *s = NULL, *back = (char *)1;
    ck_assert_int_eq(vault_seal(e.v, "subj-1", "Grace Hopper", &s, &err), 0);
    ck_assert_int_eq(vault_forget(e.v, "subj-2", &err), 1); /* unknown */
    ck_assert_int_eq(vault_forget(e.v, "subj-1", &err), 0);
    ck_assert_int_eq(vault_forget(e.v, "subj-1", &err), 0); /* again: fine */
    ck_assert_int_eq(vault_open_sealed(e.v, "subj-1", s, &back, &err), 1);
    ck_assert_ptr_null(back);
    /* someone erased may come back: a new key generation seals, the old
     * values stay redacted, the new ones open */
    char *s2 = NULL, *back2 = NULL;
    ck_assert_int_eq(vault_seal(e.v, "subj-1", "again", &s2, &err), 0);
    ck_assert(!strncmp(s2, "v2:2:", 5));
    ck_assert_int_eq(vault_open_sealed(e.v, "subj-1", s2, &back2, &err), 0);
    ck_assert_str_eq(back2, "again");
    free(back2);
    ck_assert_int_eq(vault_open_sealed(e.v, "subj-1", s, &back, &err), 1);
    ck_assert_int_eq(vault_forget(e.v, "subj-1", &err), 0);
    ck_assert_int_eq(vault_open_sealed(e.v, "subj-1", s2, &back2, &err), 1);
    ck_assert_ptr_null(back2);
    ck_assert_int_eq(vault_forget(e.v, "subj-1", &err), 0); /* again */
    free(s2);
    ck_assert_int_eq(vault_scrub(e.v, &err), 0);
    S_close(e);
    /* Still redacted after reopening. */
    e = S_open();
    ck_assert_int_eq(vault_open_sealed(e.v, "subj-1", s, &back, &err), 1);
    free(s);
    /* Scrub refuses to run inside a transaction. */
    ck_assert_int_eq(store_begin(e.s, &err), 0);
    ck_assert_int_eq(vault_scrub(e.v, &err), -1);
    store_rollback(e.s);
    S_close(e);
}
END_TEST

static int S_file_has(const char *path, const void *needle, size_t n)
{
    char *data = NULL;
    size_t len = 0;
    folio_err err;
    if (!util_is_file(path))
        return 0;
    ck_assert_msg(util_read_file(path, &data, &len, &err) == 0, "%s", err.msg);
    int found = memmem(data, len, needle, n) != NULL;
    free(data);
    return found;
}

static int S_anywhere(const void *needle, size_t n)
{
    char wal[320], shm[320];
    snprintf(wal, sizeof wal, "%s-wal", S_db);
    snprintf(shm, sizeof shm, "%s-shm", S_db);
    return S_file_has(S_db, needle, n) + S_file_has(wal, needle, n) +
           S_file_has(shm, needle, n);
}

/* Unwraps a subject key the way the vault does, from the outside: the
 * master key file, the KDF subkey for wrapping and the stored blob. */
static void S_unwrap(const unsigned char *w, size_t wlen, unsigned char key[32])
{
    char *mk = NULL;
    size_t mlen = 0;
    folio_err err;
    ck_assert_int_eq(util_read_file(S_key, &mk, &mlen, &err), 0);
    ck_assert_int_eq(mlen, 32);
    unsigned char wrap[32];
    ck_assert_int_eq(crypto_kdf_derive_from_key(wrap, 32, 2, "folio___",
                                                (unsigned char *)mk), 0);
    free(mk);
    ck_assert_int_eq(wlen, 24 + 16 + 32);
    ck_assert_int_eq(crypto_secretbox_open_easy(key, w + 24, wlen - 24, w,
                                                wrap), 0);
}

START_TEST(forget_and_scrub_leave_no_trace)
{
    env e = S_open();
    folio_err err = {{0}};
    const char *plain = "Margaret Hamilton <margaret@example.org>";
    char subj[VAULT_SUBJECT_LEN + 1];
    vault_subject(e.v, "margaret@example.org", subj);
    /* Some neighbours so the page holds more than one key. */
    char *s = NULL;
    for (int i = 0; i < 20; i++) {
        char other[32];
        snprintf(other, sizeof other, "neighbour-%d", i);
        ck_assert_int_eq(vault_seal(e.v, other, "x", &s, &err), 0);
        free(s);
        if (i == 10) {
            ck_assert_int_eq(vault_seal(e.v, subj, plain, &s, &err), 0);
            store_new_event ev = {NULL, "T", 1, "{}", NULL};
            char data[512];
            snprintf(data, sizeof data, "{\"name\":\"%s\"}", s);
            ev.data = data;
            ck_assert_int_eq(store_append(e.s, "p", STORE_ANY, &ev, 1, NULL,
                                          &err), 0);
            free(s);
        }
    }
    unsigned char wrapped[72], key[32];
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(store_db(e.s),
                     "SELECT wrapped FROM subject_keys WHERE subject = ?1",
                     -1, &st, NULL), 0);
    sqlite3_bind_text(st, 1, subj, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_bytes(st, 0), 72);
    memcpy(wrapped, sqlite3_column_blob(st, 0), 72);
    sqlite3_finalize(st);
    S_unwrap(wrapped, sizeof wrapped, key);
    /* Checkpoint once so the key is in the database file, not only the WAL. */
    ck_assert_int_eq(vault_scrub(e.v, &err), 0);
    ck_assert_msg(S_anywhere(wrapped, sizeof wrapped), "the wrapped key "
                  "should be on disk before forgetting (is the grep working?)");
    ck_assert(!S_anywhere(plain, strlen(plain)));
    ck_assert(!S_anywhere(key, sizeof key));

    ck_assert_int_eq(store_begin(e.s, &err), 0);
    ck_assert_int_eq(vault_forget(e.v, subj, &err), 0);
    ck_assert_int_eq(store_commit(e.s, &err), 0);
    ck_assert_msg(S_anywhere(wrapped, sizeof wrapped), "before the scrub the "
                  "WAL still holds the old page");
    ck_assert_int_eq(vault_scrub(e.v, &err), 0);
    ck_assert_msg(!S_anywhere(wrapped, sizeof wrapped),
                  "the wrapped key survived forget + scrub");
    ck_assert(!S_anywhere(key, sizeof key));
    ck_assert(!S_anywhere(plain, strlen(plain)));
    S_close(e);
    ck_assert(!S_anywhere(wrapped, sizeof wrapped));
}
END_TEST

int main(void)
{
    Suite *su = suite_create("vault");
    TCase *tc = tcase_create("vault");
    tcase_add_checked_fixture(tc, S_setup, S_teardown);
    tcase_add_test(tc, master_key_file);
    tcase_add_test(tc, first_start_race);
    tcase_add_test(tc, normalise_and_subject);
    tcase_add_test(tc, seal_round_trip);
    tcase_add_test(tc, reader_window);
    tcase_add_test(tc, reader_state_and_name_mac);
    tcase_add_test(tc, key_follows_the_transaction);
    tcase_add_test(tc, forget_redacts);
    tcase_add_test(tc, forget_and_scrub_leave_no_trace);
    suite_add_tcase(su, tc);
    return unit_run(su);
}
