/* vault — personal data at rest. See vault.h. */
#include "vault.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define S_KEY_LEN 32
/* A wrapped subject key: nonce | secretbox(key). */
#define S_WRAPPED_LEN \
    (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + S_KEY_LEN)
#define S_SEAL_PREFIX "v1:"
#define S_SUBJECT_MAX 128

/* Subkey ids under the master key (crypto_kdf, context "folio___"): one
 * key per purpose, so the subject hash never shares a key with wrapping. */
#define S_KDF_CONTEXT "folio___"
#define S_KDF_SUBJECT 1
#define S_KDF_WRAP 2

enum { S_GET_KEY, S_ADD_KEY, S_FORGET, S_NSTMT };

static const char *const S_sql[S_NSTMT] = {
    [S_GET_KEY] = "SELECT wrapped FROM subject_keys WHERE subject = ?1",
    [S_ADD_KEY] = "INSERT INTO subject_keys(subject, wrapped, created_at,"
                  " destroyed_at) VALUES (?1, ?2, ?3, NULL)",
    [S_FORGET] = "UPDATE subject_keys SET wrapped = NULL, destroyed_at = ?2"
                 " WHERE subject = ?1",
};

/* A preloaded subject key: the subject's hash (binary), wrapped as
 * stored. */
typedef struct S_pre {
    unsigned char subject[VAULT_SUBJECT_LEN / 2];
    unsigned char used, destroyed;
    unsigned char wrapped[S_WRAPPED_LEN];
} S_pre;

struct vault {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_NSTMT];
    unsigned char subject_key[S_KEY_LEN];
    unsigned char wrap_key[S_KEY_LEN];
    /* The last subject key used in this transaction: a command seals
     * several fields for one person, and a lookup plus an unwrap per
     * field was a third of a contact request's cost. */
    int cached;  /* 1: cached_key is the subject's; 2: it has none yet */
    unsigned cached_version; /* the database's data version then */
    char cached_subject[S_SUBJECT_MAX + 1];
    unsigned char cached_key[S_KEY_LEN];
    /* Random bytes for keys and nonces, drawn from the kernel 1 KiB at a
     * time instead of one system call per sealed field. Like the SQLite
     * connection, a vault must not cross a fork. */
    unsigned char pool[1024];
    size_t pool_left;
    /* vault_preload_start: every subject key, by subject, open addressing */
    S_pre *pre;          /* pre_n entries */
    /* two tables of slots (pre_cap[t], a power of two, each), one filled
     * by each half of a preload: no thread writes into the other's */
    uint32_t *pre_slot[2];
    size_t pre_cap[2], pre_n;
    struct S_loading *loading; /* between vault_preload_start and finish */
};

static const char S_mode_hint[] =
    "it holds the key to every visitor's personal data";

/* ---- the master key file ---------------------------------------------- */
/* Writes 32 fresh random bytes to a new file (O_EXCL, 0600), synced. */
static int S_write_new_key(const char *path, folio_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0600);
    if (fd < 0)
        return -1; /* errno tells the caller */
    unsigned char key[S_KEY_LEN];
    randombytes_buf(key, sizeof key);
    int bad = util_write_all(fd, key, sizeof key) != 0 || fsync(fd) != 0;
    int saved = errno;
    sodium_memzero(key, sizeof key);
    if (close(fd) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    if (bad) {
        unlink(path);
        err_set(err, "%s: cannot write the master key: %s", path,
                strerror(saved));
        errno = 0;
        return -1;
    }
    return 0;
}

/* The new name must be durable too: losing the key loses every sealed
 * value. Best effort: the file itself is synced already. */
static void S_sync_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (util_path(dir, sizeof dir, NULL, "%.*s",
                  slash ? (int)(slash - path) : 1, slash ? path : ".") != 0)
        return;
    int dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return;
    if (fsync(dfd) != 0) { /* nothing better to do */ }
    close(dfd);
}

/* Makes the key file once, even when two processes start at the same
 * moment: the key is written whole under a temporary name and linked into
 * place (link, like O_EXCL, fails when the name exists), so nobody ever
 * reads a half-written key. 1: it existed already. */
static int S_create_key(const char *path, folio_err *err)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return 1;
    char tmp[4096];
    if (util_path(tmp, sizeof tmp, err, "%s.new-%ld-%08x", path,
                  (long)getpid(), (unsigned)randombytes_random()) != 0)
        return -1;
    if (S_write_new_key(tmp, err) != 0) {
        if (errno)
            err_set(err, "%s: cannot create the master key: %s", path,
                    strerror(errno));
        return -1;
    }
    int rc = link(tmp, path), saved = errno;
    unlink(tmp);
    if (rc != 0 && saved == EEXIST)
        return 1; /* another process won: use its key */
    if (rc != 0 && (saved == EPERM || saved == ENOTSUP || saved == ENOSYS)) {
        /* No hard links here: create the name itself, exclusively. */
        if (S_write_new_key(path, err) == 0)
            rc = 0;
        else if (errno == EEXIST)
            return 1;
        else if (errno)
            return err_set(err, "%s: cannot create the master key: %s", path,
                           strerror(errno));
        else
            return -1;
    } else if (rc != 0) {
        return err_set(err, "%s: cannot create the master key: %s", path,
                       strerror(saved));
    }
    S_sync_dir(path);
    return 0;
}

static int S_read_key(const char *path, unsigned char key[S_KEY_LEN],
                      folio_err *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, "%s: cannot open the master key: %s", path,
                       strerror(errno));
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) != 0) {
        err_set(err, "%s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        err_set(err, "%s: the master key is not a regular file", path);
    } else if (st.st_mode & 077) {
        err_set(err, "%s: the master key is readable or writable by group or "
                "others (mode %04o); %s: run chmod 600 %s", path,
                (unsigned)(st.st_mode & 07777), S_mode_hint, path);
    } else if (st.st_size != S_KEY_LEN) {
        err_set(err, "%s: the master key must be exactly %d bytes, this file "
                "has %lld; restore it from a backup (a new key cannot open "
                "what the old one sealed)", path, S_KEY_LEN,
                (long long)st.st_size);
    } else {
        size_t got = 0;
        while (got < S_KEY_LEN) {
            ssize_t r = read(fd, key + got, S_KEY_LEN - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (got == S_KEY_LEN)
            rc = 0;
        else
            err_set(err, "%s: cannot read the master key", path);
    }
    close(fd);
    return rc;
}

/* ---- open and close --------------------------------------------------- */
int vault_open(const char *master_key_path, sqlite3 *db, vault **out,
               folio_err *err)
{
    *out = NULL;
    if (sodium_init() < 0)
        return err_set(err, "libsodium could not be initialised");
    int made = S_create_key(master_key_path, err);
    if (made < 0)
        return -1;
    unsigned char master[S_KEY_LEN];
    if (S_read_key(master_key_path, master, err) != 0)
        return -1;
    vault *v = calloc(1, sizeof *v);
    if (!v) {
        sodium_memzero(master, sizeof master);
        return err_set(err, "out of memory");
    }
    v->db = db;
    int rc = crypto_kdf_derive_from_key(v->subject_key, S_KEY_LEN,
                                        S_KDF_SUBJECT, S_KDF_CONTEXT, master);
    if (rc == 0)
        rc = crypto_kdf_derive_from_key(v->wrap_key, S_KEY_LEN, S_KDF_WRAP,
                                        S_KDF_CONTEXT, master);
    sodium_memzero(master, sizeof master);
    if (rc != 0) {
        vault_close(v);
        return err_set(err, "deriving the vault's keys failed");
    }
    for (int i = 0; i < S_NSTMT; i++) {
        if (sqlite3_prepare_v3(db, S_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &v->stmt[i], NULL) != SQLITE_OK) {
            err_set(err, "vault: %s (is the store open and migrated?)",
                    sqlite3_errmsg(db));
            vault_close(v);
            return -1;
        }
    }
    *out = v;
    return 0;
}

void vault_close(vault *v)
{
    if (!v)
        return;
    for (int i = 0; i < S_NSTMT; i++)
        sqlite3_finalize(v->stmt[i]);
    vault_unload(v);
    sodium_memzero(v, sizeof *v);
    free(v);
}

/* ---- subjects --------------------------------------------------------- */
int vault_normalise_email(const char *email, char *out, size_t outlen)
{
    if (!email || !out || outlen == 0)
        return -1;
    const char *b = email, *e = email + strlen(email);
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    size_t n = (size_t)(e - b);
    if (n + 1 > outlen)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    out[n] = '\0';
    return 0;
}

void vault_subject(const vault *v, const char *norm_email,
                   char out[VAULT_SUBJECT_LEN + 1])
{
    unsigned char h[VAULT_SUBJECT_LEN / 2];
    /* Cannot fail with these lengths (32-byte output and key). */
    (void)crypto_generichash(h, sizeof h, (const unsigned char *)norm_email,
                             strlen(norm_email), v->subject_key,
                             sizeof v->subject_key);
    sodium_bin2hex(out, VAULT_SUBJECT_LEN + 1, h, sizeof h);
}

static int S_check_subject(const char *subject, folio_err *err)
{
    size_t n = subject ? strlen(subject) : 0;
    if (n == 0 || n > S_SUBJECT_MAX)
        return err_set(err, "vault: a subject id is 1 to %d characters",
                       S_SUBJECT_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)subject[i];
        if (!isalnum(c) && c != '-' && c != '_')
            return err_set(err, "vault: a subject id is letters, digits, "
                           "'-' and '_'");
    }
    return 0;
}

static int S_db_err(vault *v, folio_err *err, const char *what)
{
    return err_set(err, "vault: %s: %s", what, sqlite3_errmsg(v->db));
}

static void S_random(vault *v, unsigned char *out, size_t n)
{
    if (n > sizeof v->pool) {
        randombytes_buf(out, n);
        return;
    }
    if (n > v->pool_left) {
        randombytes_buf(v->pool, sizeof v->pool);
        v->pool_left = sizeof v->pool;
    }
    unsigned char *src = v->pool + sizeof v->pool - v->pool_left;
    memcpy(out, src, n);
    sodium_memzero(src, n); /* never handed out twice */
    v->pool_left -= n;
}

void vault_end_tx(vault *v)
{
    if (!v)
        return;
    sodium_memzero(v->cached_key, sizeof v->cached_key);
    sodium_memzero(v->cached_subject, sizeof v->cached_subject);
    v->cached = 0;
}

/* Keeps key for subject while the transaction lasts: outside one, another
 * connection could destroy it between two calls. */
static void S_cache(vault *v, const char *subject,
                    const unsigned char *key)
{
    if (sqlite3_get_autocommit(v->db))
        return;
    v->cached_version = store_data_version(v->db);
    if (key)
        memcpy(v->cached_key, key, S_KEY_LEN);
    else
        sodium_memzero(v->cached_key, S_KEY_LEN);
    snprintf(v->cached_subject, sizeof v->cached_subject, "%s", subject);
    v->cached = key ? 1 : 2;
}

static int S_unwrap(vault *v, const char *subject, const unsigned char *w,
                    size_t wlen, unsigned char key[S_KEY_LEN], folio_err *err)
{
    if (!w || wlen != S_WRAPPED_LEN ||
        crypto_secretbox_open_easy(key, w + crypto_secretbox_NONCEBYTES,
                                   S_WRAPPED_LEN - crypto_secretbox_NONCEBYTES,
                                   w, v->wrap_key) != 0)
        return err_set(err, "vault: the key of subject %.16s... does not "
                       "open with this master key (wrong var/master.key?)",
                       subject);
    return 0;
}

/* Lower-case hex digit values, 0xff for anything else: a table, since
 * branches on random digits mispredict half the time and a replay decodes
 * two subjects per member. */
#define X 0xff
static const unsigned char S_hex[256] = {
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, 10, 11, 12, 13, 14, 15, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
};
#undef X

/* The binary form of a subject that is 64 lower-case hex digits. */
static int S_subject_bin(const char *subject,
                         unsigned char out[VAULT_SUBJECT_LEN / 2])
{
    for (size_t i = 0; i < VAULT_SUBJECT_LEN / 2; i++) {
        /* a NUL is no digit: never reads past the string's end */
        unsigned hi = S_hex[(unsigned char)subject[2 * i]];
        if (hi == 0xff)
            return -1;
        unsigned lo = S_hex[(unsigned char)subject[2 * i + 1]];
        if (lo == 0xff)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return subject[VAULT_SUBJECT_LEN] == '\0' ? 0 : -1;
}

/* The preloaded entry of subject (binary), or NULL. The table holds
 * indexes into the dense entry array (0: empty, else index + 1), so
 * the sparse part stays small (4 bytes a slot) and the keys packed. */
static _Thread_local size_t S_pre_next; /* see S_pre_find */

static size_t S_pre_hash(const unsigned char *bin)
{
    uint64_t h;
    memcpy(&h, bin, sizeof h); /* a keyed hash already: uniform */
    return (size_t)h;
}

static S_pre *S_pre_find(const vault *v, const unsigned char *bin)
{
    /* Keys are preloaded in the order they were made, which is mostly the
     * order a replay asks for them in: the entry after the last one found
     * (on this thread) is tried first, a read next to the last instead of
     * two misses in tables larger than the caches. */
    if (S_pre_next < v->pre_n &&
        !memcmp(v->pre[S_pre_next].subject, bin, VAULT_SUBJECT_LEN / 2))
        return &v->pre[S_pre_next++];
    for (int t = 0; t < 2; t++) {
        if (!v->pre_cap[t])
            continue;
        size_t i = S_pre_hash(bin) & (v->pre_cap[t] - 1);
        for (uint32_t at; (at = v->pre_slot[t][i]) != 0;
             i = (i + 1) & (v->pre_cap[t] - 1)) {
            S_pre *e = &v->pre[at - 1];
            if (!memcmp(e->subject, bin, VAULT_SUBJECT_LEN / 2)) {
                S_pre_next = at;
                return e;
            }
        }
    }
    return NULL;
}

static int S_loading_end(vault *v, folio_err *err);

void vault_unload(vault *v)
{
    if (!v)
        return;
    S_loading_end(v, NULL); /* a preload started and never finished */
    if (!v->pre)
        return;
    sodium_memzero(v->pre, v->pre_n * sizeof *v->pre);
    free(v->pre);
    for (int t = 0; t < 2; t++) {
        free(v->pre_slot[t]);
        v->pre_slot[t] = NULL;
        v->pre_cap[t] = 0;
    }
    v->pre = NULL;
    v->pre_n = 0;
}

/* One pass over subject_keys instead of an index probe per sealed value:
 * a replay opens hundreds of thousands of them. Subjects that are not
 * vault_subject's hex (none made by folio) are still read one by one.
 * Two threads read a half each (by rowid), into their own part of the
 * entry array and their own table of slots. */
typedef struct S_part {
    vault *v;
    sqlite3 *db;
    long long lo, hi;    /* rowids in (lo, hi] */
    size_t first, limit; /* entries [first, first + limit) */
    int table;           /* the slots it fills: v->pre_slot[table] */
    int rc;              /* 0, or -1 (SQLite's message in msg) */
    int overflow;        /* more rows than counted */
    char msg[160];
} S_part;

static void S_part_put(vault *v, int table, size_t idx,
                       const unsigned char *bin, sqlite3_stmt *st)
{
    S_pre *e = &v->pre[idx];
    memcpy(e->subject, bin, VAULT_SUBJECT_LEN / 2);
    e->used = 1;
    e->destroyed = 0;
    if (sqlite3_column_type(st, 1) == SQLITE_NULL ||
        sqlite3_column_bytes(st, 1) != S_WRAPPED_LEN)
        e->destroyed = sqlite3_column_type(st, 1) == SQLITE_NULL ? 1 : 2;
    else
        memcpy(e->wrapped, sqlite3_column_blob(st, 1), S_WRAPPED_LEN);
    /* subject is the primary key: no row repeats one, so the first free
     * slot will do, without reading the entries on the way */
    uint32_t *slots = v->pre_slot[table];
    size_t mask = v->pre_cap[table] - 1, i = S_pre_hash(bin) & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = (uint32_t)idx + 1;
}

static void *S_part_run(void *ud)
{
    S_part *pt = ud;
    sqlite3_stmt *st = NULL;
    pt->rc = -1;
    if (sqlite3_prepare_v2(pt->db,
                           "SELECT subject, wrapped FROM subject_keys WHERE"
                           " rowid > ?1 AND rowid <= ?2 ORDER BY rowid",
                           -1, &st, NULL) != SQLITE_OK) {
        snprintf(pt->msg, sizeof pt->msg, "%s", sqlite3_errmsg(pt->db));
        return NULL;
    }
    sqlite3_bind_int64(st, 1, pt->lo);
    sqlite3_bind_int64(st, 2, pt->hi);
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *subject = (const char *)sqlite3_column_text(st, 0);
        unsigned char bin[VAULT_SUBJECT_LEN / 2];
        if (!subject || sqlite3_column_bytes(st, 0) != VAULT_SUBJECT_LEN ||
            S_subject_bin(subject, bin) != 0)
            continue;
        if (n == pt->limit) {
            pt->overflow = 1;
            rc = SQLITE_DONE;
            break;
        }
        S_part_put(pt->v, pt->table, pt->first + n++, bin, st);
    }
    if (rc == SQLITE_DONE)
        pt->rc = 0;
    else /* its own connection's message: read before another call */
        snprintf(pt->msg, sizeof pt->msg, "%s", sqlite3_errmsg(pt->db));
    sqlite3_finalize(st);
    return NULL;
}

/* One integer from a query with one optional rowid parameter. */
static long long S_keys_int(sqlite3 *db, const char *sql, long long arg,
                            int *ok)
{
    sqlite3_stmt *st = NULL;
    long long v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        *ok = 0;
        return 0;
    }
    if (sqlite3_bind_parameter_count(st))
        sqlite3_bind_int64(st, 1, arg);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        *ok = 0;
    sqlite3_finalize(st);
    return v;
}

typedef struct S_loading {
    S_part parts[2];
    int split, threaded;
    pthread_t thread;
} S_loading;

int vault_preload_start(vault *v, sqlite3 *db2, folio_err *err)
{
    vault_unload(v);
    int ok = 1;
    long long n = S_keys_int(v->db, "SELECT count(*) FROM subject_keys", 0,
                             &ok);
    long long top = S_keys_int(v->db, "SELECT coalesce(max(rowid), 0) FROM"
                                      " subject_keys", 0, &ok);
    long long mid = db2 ? top / 2 : top;
    long long n0 = mid == top ? n
                              : S_keys_int(v->db, "SELECT count(*) FROM"
                                                  " subject_keys WHERE rowid"
                                                  " <= ?1", mid, &ok);
    if (!ok)
        return S_db_err(v, err, "counting subject keys");
    if (n < 0 || (unsigned long long)n > UINT32_MAX - 1)
        return err_set(err, "vault: too many subject keys to preload");
    /* calloc: entries a part leaves empty never match a subject */
    v->pre = calloc(n ? (size_t)n : 1, sizeof *v->pre);
    S_loading *l = calloc(1, sizeof *l);
    int oom = !v->pre || !l;
    for (int t = 0; t < 2 && !oom; t++) {
        size_t part = (size_t)(t ? n - n0 : n0), cap = 1024;
        while (cap < 2 * part)
            cap *= 2;
        v->pre_cap[t] = cap;
        oom = !(v->pre_slot[t] = calloc(cap, sizeof *v->pre_slot[t]));
    }
    if (oom) {
        free(l);
        vault_unload(v);
        return err_set(err, "out of memory");
    }
    v->pre_n = (size_t)n;
    l->parts[0] = (S_part){.v = v, .db = v->db, .lo = 0, .hi = mid,
                           .first = 0, .limit = (size_t)n0, .table = 0,
                           .rc = -1};
    l->parts[1] = (S_part){.v = v, .db = db2, .lo = mid, .hi = top,
                           .first = (size_t)n0, .limit = (size_t)(n - n0),
                           .table = 1, .rc = -1};
    l->split = mid < top;
    l->threaded = l->split && pthread_create(&l->thread, NULL, S_part_run,
                                             &l->parts[1]) == 0;
    v->loading = l;
    return 0;
}

/* Waits for the thread vault_preload_start began: 0, 1 when keys came
 * while counting, or -1 when a part failed (its message in err, which
 * may be NULL). */
static int S_loading_end(vault *v, folio_err *err)
{
    S_loading *l = v->loading;
    if (!l)
        return 0;
    v->loading = NULL;
    if (l->threaded)
        pthread_join(l->thread, NULL);
    int rc = l->parts[0].overflow || l->parts[1].overflow ? 1 : 0;
    for (int i = 0; i < 2 && rc >= 0; i++)
        if ((i == 0 || l->split) && l->parts[i].rc < 0) {
            if (err)
                err_set(err, "vault: reading subject keys: %s",
                        l->parts[i].msg);
            rc = -1;
        }
    free(l);
    return rc;
}

int vault_preload_finish(vault *v, folio_err *err)
{
    S_loading *l = v->loading;
    if (!l)
        return err_set(err, "vault: no preload was started");
    S_part_run(&l->parts[0]);
    if (l->split && !l->threaded)
        S_part_run(&l->parts[1]);
    int rc = S_loading_end(v, err);
    if (rc != 0)
        vault_unload(v); /* or keys came while counting: none preloaded */
    return rc < 0 ? -1 : 0;
}


/* A preloaded subject's key: 0 found, 1 destroyed, 2 never made, 3 not
 * preloaded (ask the database), -1 error. Reads only the preloaded table
 * and the wrapping key, so threads may share it while nothing changes
 * them. */
static int S_pre_key(const vault *v, const char *subject,
                     unsigned char key[S_KEY_LEN], folio_err *err)
{
    unsigned char bin[VAULT_SUBJECT_LEN / 2];
    if (!v->pre || S_subject_bin(subject, bin) != 0)
        return 3;
    const S_pre *e = S_pre_find(v, bin);
    if (!e)
        return 2;
    if (e->destroyed == 1)
        return 1;
    const unsigned char *w = e->destroyed ? NULL : e->wrapped;
    if (!w || crypto_secretbox_open_easy(
                  key, w + crypto_secretbox_NONCEBYTES,
                  S_WRAPPED_LEN - crypto_secretbox_NONCEBYTES, w,
                  v->wrap_key) != 0)
        return err_set(err, "vault: the key of subject %.16s... does not "
                       "open with this master key (wrong var/master.key?)",
                       subject);
    return 0;
}

/* The subject's key into key: 0 found, 1 destroyed, 2 never made. */
static int S_get_key(vault *v, const char *subject,
                     unsigned char key[S_KEY_LEN], folio_err *err)
{
    int pk = S_pre_key(v, subject, key, err);
    if (pk != 3)
        return pk;
    if (v->cached && !sqlite3_get_autocommit(v->db) &&
        !strcmp(v->cached_subject, subject) &&
        v->cached_version == store_data_version(v->db)) {
        if (v->cached == 2)
            return 2;
        memcpy(key, v->cached_key, S_KEY_LEN);
        return 0;
    }
    sqlite3_stmt *st = v->stmt[S_GET_KEY];
    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), res;
    if (rc == SQLITE_DONE) {
        res = 2;
    } else if (rc != SQLITE_ROW) {
        res = S_db_err(v, err, "reading a subject key");
    } else if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
        res = 1;
    } else {
        const unsigned char *w = sqlite3_column_blob(st, 0);
        int wlen = sqlite3_column_bytes(st, 0);
        res = S_unwrap(v, subject, w, wlen > 0 ? (size_t)wlen : 0, key, err);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (res == 0 || res == 2)
        S_cache(v, subject, res == 0 ? key : NULL);
    return res;
}

/* ---- key generations ---------------------------------------------------
 * Someone erased may come back later as a new person: their subject then
 * gets a new key, generation 2, 3, ... (row "SUBJECT-gN" in subject_keys;
 * generation 1 is the row "SUBJECT", as before generations existed).
 * Values sealed under a destroyed generation stay redacted; a sealed value
 * names its generation ("v1:" is generation 1, "v2:N:" generation N). */
#define S_MAX_GEN 100000
#define S_ROW_MAX (S_SUBJECT_MAX + 16)

static void S_row(const char *subject, int gen, char out[S_ROW_MAX])
{
    if (gen > 1) {
        snprintf(out, S_ROW_MAX, "%s-g%d", subject, gen);
        return;
    }
    /* the common case, once per value a replay opens: no printf */
    size_t n = strnlen(subject, S_ROW_MAX - 1);
    memcpy(out, subject, n);
    out[n] = '\0';
}

/* The subject's newest generation into *gen and its key: 0 live, 2 none
 * made yet at *gen (every older one destroyed), -1 on error. */
static int S_current(vault *v, const char *subject, int *gen,
                     unsigned char key[S_KEY_LEN], folio_err *err)
{
    char row[S_ROW_MAX];
    for (int g = 1; g <= S_MAX_GEN; g++) {
        S_row(subject, g, row);
        int k = S_get_key(v, row, key, err);
        if (k != 1) {
            *gen = g;
            return k;
        }
    }
    return err_set(err, "vault: subject %.16s... has too many key "
                   "generations", subject);
}

int vault_subject_state(vault *v, const char *subject, folio_err *err)
{
    if (S_check_subject(subject, err) != 0)
        return -1;
    unsigned char key[S_KEY_LEN];
    int gen = 1;
    int k = S_current(v, subject, &gen, key, err);
    sodium_memzero(key, sizeof key);
    return k < 0 ? -1 : k == 0 ? 1 : gen > 1 ? 2 : 0;
}

static int S_new_key(vault *v, const char *subject,
                     unsigned char key[S_KEY_LEN], folio_err *err)
{
    unsigned char w[S_WRAPPED_LEN];
    S_random(v, key, S_KEY_LEN);
    S_random(v, w, crypto_secretbox_NONCEBYTES);
    if (crypto_secretbox_easy(w + crypto_secretbox_NONCEBYTES, key, S_KEY_LEN,
                              w, v->wrap_key) != 0)
        return err_set(err, "vault: wrapping a subject key failed");
    sqlite3_stmt *st = v->stmt[S_ADD_KEY];
    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, w, sizeof w, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, util_now_ms());
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        /* Another writer made it first (outside a write transaction): use
         * theirs. */
        vault_end_tx(v);
        int k = S_get_key(v, subject, key, err);
        return k == 2 ? err_set(err, "vault: a subject key vanished") : k;
    }
    if (rc != SQLITE_DONE)
        return S_db_err(v, err, "storing a subject key");
    S_cache(v, subject, key);
    return 0;
}

/* ---- sealing ---------------------------------------------------------- */
int vault_seal(vault *v, const char *subject, const char *plain, char **out,
               folio_err *err)
{
    *out = NULL;
    if (S_check_subject(subject, err) != 0)
        return -1;
    if (!plain)
        return err_set(err, "vault: nothing to seal");
    unsigned char key[S_KEY_LEN];
    char row[S_ROW_MAX], prefix[24];
    int gen = 1;
    int rc = S_current(v, subject, &gen, key, err);
    S_row(subject, gen, row);
    if (rc == 2) /* new, or back after an erasure: a new generation */
        rc = S_new_key(v, row, key, err);
    if (rc != 0)
        goto done;
    if (gen == 1)
        snprintf(prefix, sizeof prefix, "%s", S_SEAL_PREFIX);
    else
        snprintf(prefix, sizeof prefix, "v2:%d:", gen);
    size_t prelen = strlen(prefix);
    size_t plen = strlen(plain);
    size_t blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES +
                  plen;
    size_t b64len = sodium_base64_ENCODED_LEN(blen,
                                              sodium_base64_VARIANT_ORIGINAL);
    unsigned char *box = malloc(blen);
    char *s = malloc(prelen + b64len);
    rc = -1;
    if (!box || !s) {
        err_set(err, "out of memory");
    } else {
        S_random(v, box, crypto_secretbox_NONCEBYTES);
        if (crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES,
                                  (const unsigned char *)plain, plen, box,
                                  key) != 0) {
            err_set(err, "vault: sealing failed");
        } else {
            memcpy(s, prefix, prelen);
            sodium_bin2base64(s + prelen, b64len, box, blen,
                              sodium_base64_VARIANT_ORIGINAL);
            *out = s;
            s = NULL;
            rc = 0;
        }
    }
    free(box);
    free(s);
done:
    sodium_memzero(key, sizeof key);
    return rc;
}

/* Opens sealed for subject with the key S_key finds (v may be const for
 * S_pre_key). The box is decoded on the stack when it fits: a replay opens
 * hundreds of thousands of short values. 3: S_key had no answer. */
static int S_open(vault *v, int preloaded_only, const char *subject,
                  const char *sealed, char **out, folio_err *err)
{
    *out = NULL;
    if (S_check_subject(subject, err) != 0)
        return -1;
    size_t plen = sizeof S_SEAL_PREFIX - 1;
    int gen = 1;
    if (sealed && !strncmp(sealed, "v2:", 3)) {
        char *end = NULL;
        long g = strtol(sealed + 3, &end, 10);
        if (g < 2 || g > S_MAX_GEN || !end || *end != ':')
            return err_set(err, "vault: not a sealed value");
        gen = (int)g;
        plen = (size_t)(end + 1 - sealed);
    } else if (!sealed || strncmp(sealed, S_SEAL_PREFIX, plen) != 0) {
        return err_set(err, "vault: not a sealed value");
    }
    char row[S_ROW_MAX];
    S_row(subject, gen, row);
    const char *b64 = sealed + plen;
    size_t b64len = strlen(b64);
    size_t cap = b64len / 4 * 3 + 3;
    unsigned char stack[512];
    unsigned char *box = cap <= sizeof stack ? stack : malloc(cap);
    if (!box)
        return err_set(err, "out of memory");
    size_t blen = 0;
    int rc = -1;
    unsigned char key[S_KEY_LEN];
    if (sodium_base642bin(box, cap, b64, b64len, NULL, &blen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        blen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
        err_set(err, "vault: a sealed value is damaged");
        goto out;
    }
    int k = preloaded_only ? S_pre_key(v, row, key, err)
                           : S_get_key(v, row, key, err);
    if (k == 3 || k == 1) {
        rc = k; /* 1: forgotten, redacted */
    } else if (k == 2) {
        err_set(err, "vault: subject %.16s... has no key", subject);
    } else if (k == 0) {
        size_t mlen = blen - crypto_secretbox_NONCEBYTES -
                      crypto_secretbox_MACBYTES;
        char *plain = malloc(mlen + 1);
        if (!plain) {
            err_set(err, "out of memory");
        } else if (crypto_secretbox_open_easy(
                       (unsigned char *)plain,
                       box + crypto_secretbox_NONCEBYTES,
                       blen - crypto_secretbox_NONCEBYTES, box, key) != 0) {
            err_set(err, "vault: a sealed value does not open with its "
                    "subject's key (damaged or another subject's)");
            free(plain);
        } else {
            plain[mlen] = '\0';
            *out = plain;
            rc = 0;
        }
    }
out:
    sodium_memzero(key, sizeof key);
    if (box != stack)
        free(box);
    return rc;
}

int vault_open_sealed(vault *v, const char *subject, const char *sealed,
                      char **out, folio_err *err)
{
    return S_open(v, 0, subject, sealed, out, err);
}

int vault_open_preloaded(const vault *v, const char *subject,
                         const char *sealed, char **out, folio_err *err)
{
    /* S_open with preloaded_only touches nothing but S_pre_key's reads */
    return S_open((vault *)v, 1, subject, sealed, out, err);
}

/* ---- forgetting ------------------------------------------------------- */
int vault_forget(vault *v, const char *subject, folio_err *err)
{
    if (S_check_subject(subject, err) != 0)
        return -1;
    unsigned char key[S_KEY_LEN];
    int gen = 1;
    vault_end_tx(v);
    int k = S_current(v, subject, &gen, key, err);
    sodium_memzero(key, sizeof key);
    vault_end_tx(v);
    if (k < 0)
        return -1;
    if (k == 2)
        return gen == 1 ? 1 : 0; /* unknown, or destroyed already */
    char row[S_ROW_MAX];
    S_row(subject, gen, row);
    sqlite3_stmt *st = v->stmt[S_FORGET];
    sqlite3_bind_text(st, 1, row, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, util_now_ms());
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return S_db_err(v, err, "destroying a subject key");
    return 0;
}

int vault_scrub(vault *v, folio_err *err)
{
    if (!sqlite3_get_autocommit(v->db))
        return err_set(err, "vault: scrub after the transaction commits");
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(v->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                       &log, &done);
    if (rc == SQLITE_BUSY)
        return err_set(err, "vault: the WAL could not be emptied while "
                       "another connection reads or writes; erased keys may "
                       "remain in it until the next checkpoint: try again");
    if (rc != SQLITE_OK)
        return S_db_err(v, err, "checkpointing the WAL");
    return 0;
}
