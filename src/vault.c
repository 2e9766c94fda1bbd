/* vault — personal data at rest. See vault.h. */
#include "vault.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
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
#define S_KDF_LINK 3
#define S_KDF_NAME 4
#define S_KDF_ROW 5

enum { S_GET_KEY, S_ADD_KEY, S_FORGET, S_NSTMT };

static const char *const S_sql[S_NSTMT] = {
    [S_GET_KEY] = "SELECT wrapped FROM subject_keys WHERE subject = ?1",
    [S_ADD_KEY] = "INSERT INTO subject_keys(subject, wrapped, created_at,"
                  " destroyed_at) VALUES (?1, ?2, ?3, NULL)",
    [S_FORGET] = "UPDATE subject_keys SET wrapped = NULL, destroyed_at = ?2"
                 " WHERE subject = ?1",
};

/* A subject key in a reader's window: the subject's hash (binary),
 * wrapped as stored. */
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
    unsigned char name_key[crypto_shorthash_siphashx24_KEYBYTES];
    unsigned char row_key[crypto_shorthash_siphashx24_KEYBYTES];
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
    if (rc == 0)
        rc = crypto_kdf_derive_from_key(v->name_key, sizeof v->name_key,
                                        S_KDF_NAME, S_KDF_CONTEXT, master);
    if (rc == 0)
        rc = crypto_kdf_derive_from_key(v->row_key, sizeof v->row_key,
                                        S_KDF_ROW, S_KDF_CONTEXT, master);
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

int vault_link_key(const char *master_key_path,
                   unsigned char key[VAULT_LINK_KEY_LEN], folio_err *err)
{
    if (!util_is_file(master_key_path))
        return 1;
    if (sodium_init() < 0)
        return err_set(err, "libsodium could not be initialised");
    unsigned char master[S_KEY_LEN];
    if (S_read_key(master_key_path, master, err) != 0)
        return -1;
    int rc = crypto_kdf_derive_from_key(key, VAULT_LINK_KEY_LEN, S_KDF_LINK,
                                        S_KDF_CONTEXT, master);
    sodium_memzero(master, sizeof master);
    return rc ? err_set(err, "deriving the links' key failed") : 0;
}

void vault_close(vault *v)
{
    if (!v)
        return;
    for (int i = 0; i < S_NSTMT; i++)
        sqlite3_finalize(v->stmt[i]);
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

/* ---- a replay's window onto the keys -----------------------------------
 * A replay opens every member's name: a query per name was most of its
 * cost, and reading every key first held them all in memory (100 bytes a
 * subject). A reader reads subject_keys in the order the keys were made
 * (rowid), a batch at a time, which is about the order a replay meets the
 * events that needed them: each key is made in the transaction that
 * records its subject's first event, just before it. The window keeps the
 * last 2 * half keys read, in two generations of half each (the older
 * dropped, wiped, when the newer is full, so nothing is deleted from the
 * hash tables). A key not in the window is read ahead for only while the
 * keys read were made no later than the value's event; otherwise (an
 * older key, a later generation) the caller asks vault_open_sealed. */
#define S_WIN_BATCH 256

struct vault_reader {
    const vault *v;
    sqlite3 *db;
    sqlite3_stmt *scan;
    long long last_rowid; /* the last row read */
    long long last_made;  /* its created_at */
    int done;             /* every row read */
    size_t half, n[2], nslot;
    int cur;              /* the generation being filled */
    S_pre *ent[2];
    uint32_t *slot[2];    /* index into ent[g] + 1; 0: empty */
    /* a replay's threads share one window (each reading every key for
     * itself read them all twice): finding and reading ahead hold mu,
     * the key is unwrapped from a copy outside it */
    pthread_mutex_t mu;
    int mu_ok;
    /* vault_reader_state's: the subjects whose first key is destroyed,
     * read once (gone_state 1; -1: more than S_GONE_MAX, the window
     * answers), in a hash set of their binary forms */
    int gone_state;
    atomic_int gone_ready; /* gone_state set: read without the lock */
    size_t ngone, ngslot;
    unsigned char (*gone)[VAULT_SUBJECT_LEN / 2];
    uint32_t *gslot;
};

static size_t S_pre_hash(const unsigned char *bin)
{
    uint64_t h;
    memcpy(&h, bin, sizeof h); /* a keyed hash already: uniform */
    return (size_t)h;
}

static const S_pre *S_win_find(const vault_reader *r, const unsigned char *bin)
{
    for (int k = 0; k < 2; k++) {
        int g = r->cur ^ k;
        size_t i = S_pre_hash(bin) & (r->nslot - 1);
        for (uint32_t at; (at = r->slot[g][i]) != 0;
             i = (i + 1) & (r->nslot - 1))
            if (!memcmp(r->ent[g][at - 1].subject, bin,
                        VAULT_SUBJECT_LEN / 2))
                return &r->ent[g][at - 1];
    }
    return NULL;
}

static void S_win_put(vault_reader *r, const unsigned char *bin,
                      sqlite3_stmt *st)
{
    if (r->n[r->cur] == r->half) {
        r->cur ^= 1;
        sodium_memzero(r->ent[r->cur], r->half * sizeof *r->ent[r->cur]);
        memset(r->slot[r->cur], 0, r->nslot * sizeof *r->slot[r->cur]);
        r->n[r->cur] = 0;
    }
    size_t idx = r->n[r->cur]++;
    S_pre *e = &r->ent[r->cur][idx];
    memcpy(e->subject, bin, VAULT_SUBJECT_LEN / 2);
    e->used = 1;
    e->destroyed = 0;
    if (sqlite3_column_type(st, 2) == SQLITE_NULL ||
        sqlite3_column_bytes(st, 2) != S_WRAPPED_LEN)
        e->destroyed = sqlite3_column_type(st, 2) == SQLITE_NULL ? 1 : 2;
    else
        memcpy(e->wrapped, sqlite3_column_blob(st, 2), S_WRAPPED_LEN);
    uint32_t *slots = r->slot[r->cur];
    size_t i = S_pre_hash(bin) & (r->nslot - 1);
    while (slots[i])
        i = (i + 1) & (r->nslot - 1);
    slots[i] = (uint32_t)idx + 1;
}

/* Reads the next batch of keys into the window: rows read, or -1. The
 * statement is reset after each batch, so no page of the database stays
 * in use between two (a replay remaps the file meanwhile). */
static int S_win_read(vault_reader *r, folio_err *err)
{
    sqlite3_stmt *st = r->scan;
    /* no more than a generation: a batch must not push out its own rows */
    int limit = r->half < S_WIN_BATCH ? (int)r->half : S_WIN_BATCH;
    sqlite3_bind_int64(st, 1, r->last_rowid);
    sqlite3_bind_int(st, 2, limit);
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        r->last_rowid = sqlite3_column_int64(st, 0);
        r->last_made = sqlite3_column_int64(st, 3);
        const char *subject = (const char *)sqlite3_column_text(st, 1);
        unsigned char bin[VAULT_SUBJECT_LEN / 2];
        /* later generations ("SUBJECT-gN") are asked for one by one */
        if (subject && sqlite3_column_bytes(st, 1) == VAULT_SUBJECT_LEN &&
            S_subject_bin(subject, bin) == 0)
            S_win_put(r, bin, st);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return err_set(err, "vault: reading subject keys: %s",
                       sqlite3_errmsg(r->db));
    r->done = n < limit;
    return n;
}

int vault_reader_open(const vault *v, sqlite3 *db, size_t half,
                      vault_reader **out, folio_err *err)
{
    *out = NULL;
    vault_reader *r = calloc(1, sizeof *r);
    if (!r)
        return err_set(err, "out of memory");
    r->v = v;
    r->db = db;
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        free(r);
        return err_set(err, "out of memory");
    }
    r->mu_ok = 1;
    r->half = half ? half : 1;
    r->last_made = LLONG_MIN;
    for (r->nslot = 16; r->nslot < 2 * r->half; r->nslot *= 2)
        ;
    int oom = 0;
    for (int g = 0; g < 2; g++) {
        r->ent[g] = calloc(r->half, sizeof *r->ent[g]);
        r->slot[g] = calloc(r->nslot, sizeof *r->slot[g]);
        oom |= !r->ent[g] || !r->slot[g];
    }
    if (oom) {
        vault_reader_close(r);
        return err_set(err, "out of memory");
    }
    if (sqlite3_prepare_v2(db, "SELECT rowid, subject, wrapped, created_at"
                               " FROM subject_keys WHERE rowid > ?1 ORDER BY"
                               " rowid LIMIT ?2",
                           -1, &r->scan, NULL) != SQLITE_OK) {
        err_set(err, "vault: reading subject keys: %s", sqlite3_errmsg(db));
        vault_reader_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

void vault_reader_close(vault_reader *r)
{
    if (!r)
        return;
    free(r->gone);
    free(r->gslot);
    sqlite3_finalize(r->scan);
    if (r->mu_ok)
        pthread_mutex_destroy(&r->mu);
    for (int g = 0; g < 2; g++) {
        if (r->ent[g])
            sodium_memzero(r->ent[g], r->half * sizeof *r->ent[g]);
        free(r->ent[g]);
        free(r->slot[g]);
    }
    free(r);
}

/* Row's entry in the window for a value sealed at or before made_by,
 * reading ahead for it: 0 found (its wrapped key into wrapped, when not
 * NULL), 1 destroyed, 2 its wrapped key damaged, 3 not in the window (ask
 * the database), -1 error. */
static int S_win_state(vault_reader *r, const char *row, long long made_by,
                       unsigned char *wrapped, folio_err *err)
{
    unsigned char bin[VAULT_SUBJECT_LEN / 2];
    if (S_subject_bin(row, bin) != 0)
        return 3;
    pthread_mutex_lock(&r->mu);
    const S_pre *e = S_win_find(r, bin);
    /* at most the window's size read ahead for one value */
    for (size_t ahead = 0;
         !e && !r->done && r->last_made <= made_by && ahead < 2 * r->half;) {
        int n = S_win_read(r, err);
        if (n < 0) {
            pthread_mutex_unlock(&r->mu);
            return -1;
        }
        ahead += (size_t)n;
        e = S_win_find(r, bin);
    }
    int res = !e ? 3 : e->destroyed;
    if (res == 0 && wrapped)
        memcpy(wrapped, e->wrapped, S_WRAPPED_LEN);
    pthread_mutex_unlock(&r->mu);
    return res;
}

/* The key of row (a subject, or a later generation's row) for a value
 * sealed at or before made_by: 0 found, 1 destroyed, 3 not in the window
 * (ask the database), -1 error. */
static int S_win_key(vault_reader *r, const char *row, long long made_by,
                     unsigned char key[S_KEY_LEN], folio_err *err)
{
    unsigned char wrapped[S_WRAPPED_LEN];
    int k = S_win_state(r, row, made_by, wrapped, err);
    if (k == 1 || k == 3 || k < 0)
        return k;
    int bad = k != 0 || crypto_secretbox_open_easy(
                            key, wrapped + crypto_secretbox_NONCEBYTES,
                            S_WRAPPED_LEN - crypto_secretbox_NONCEBYTES,
                            wrapped, r->v->wrap_key) != 0;
    sodium_memzero(wrapped, sizeof wrapped);
    if (bad)
        return err_set(err, "vault: the key of subject %.16s... does not "
                       "open with this master key (wrong var/master.key?)",
                       row);
    return 0;
}

/* The subject's key into key: 0 found, 1 destroyed, 2 never made. */
static int S_get_key(vault *v, const char *subject,
                     unsigned char key[S_KEY_LEN], folio_err *err)
{
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

/* The key generation a sealed value names ("v1:" 1, "v2:N:" N) and the
 * length of its prefix. */
static int S_sealed_gen(const char *sealed, int *gen, size_t *plen,
                        folio_err *err)
{
    *plen = sizeof S_SEAL_PREFIX - 1;
    *gen = 1;
    if (sealed && !strncmp(sealed, "v2:", 3)) {
        char *end = NULL;
        long g = strtol(sealed + 3, &end, 10);
        if (g < 2 || g > S_MAX_GEN || !end || *end != ':')
            return err_set(err, "vault: not a sealed value");
        *gen = (int)g;
        *plen = (size_t)(end + 1 - sealed);
    } else if (!sealed || strncmp(sealed, S_SEAL_PREFIX, *plen) != 0) {
        return err_set(err, "vault: not a sealed value");
    }
    return 0;
}

/* Opens sealed for subject with its key from the database (v) or from
 * a reader's window (r, for a value sealed by made_by). The box is decoded
 * on the stack when it fits: a replay opens hundreds of thousands of short
 * values. 3: the window had no answer. */
static int S_open(vault *v, vault_reader *r, long long made_by,
                  const char *subject, const char *sealed, char **out,
                  folio_err *err)
{
    *out = NULL;
    if (S_check_subject(subject, err) != 0)
        return -1;
    size_t plen;
    int gen;
    if (S_sealed_gen(sealed, &gen, &plen, err) < 0)
        return -1;
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
    int k = r ? S_win_key(r, row, made_by, key, err)
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
    return S_open(v, NULL, 0, subject, sealed, out, err);
}

int vault_reader_open_sealed(vault_reader *r, const char *subject,
                             const char *sealed, long long made_by,
                             char **out, folio_err *err)
{
    return S_open(NULL, r, made_by, subject, sealed, out, err);
}

/* ---- which keys are destroyed ------------------------------------------
 * Whether a key is live needs no key: a replay that compares members'
 * names by their MACs asks only that, for every member. Few keys are ever
 * destroyed (one per erasure), so the subjects whose first key is are
 * read once, in one pass over subject_keys, and found in a small hash set
 * without a lock, instead of every key going through the window. A
 * subject not in the set counts as live: a key never made (a damaged
 * store) shows when its name is opened, which a row whose MAC is right
 * never needs. Past S_GONE_MAX destroyed keys the window answers, so
 * memory stays bounded. */
#define S_GONE_MAX 65536

static size_t S_gone_slot(const unsigned char *bin, size_t nslot)
{
    return S_pre_hash(bin) & (nslot - 1);
}

/* Reads the set (r->mu held): 0, or -1 on error. */
static int S_gone_load(vault_reader *r, folio_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT subject FROM subject_keys WHERE"
                                  " wrapped IS NULL LIMIT ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return err_set(err, "vault: reading subject keys: %s",
                       sqlite3_errmsg(r->db));
    sqlite3_bind_int(st, 1, S_GONE_MAX + 1);
    size_t cap = 0;
    int rc;
    r->gone_state = 1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *subject = (const char *)sqlite3_column_text(st, 0);
        unsigned char bin[VAULT_SUBJECT_LEN / 2];
        /* later generations ("SUBJECT-gN") are not asked here */
        if (!subject || S_subject_bin(subject, bin) != 0)
            continue;
        if (r->ngone == S_GONE_MAX) {
            r->gone_state = -1;
            break;
        }
        if (r->ngone == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            void *g = realloc(r->gone, ncap * sizeof *r->gone);
            if (!g) {
                rc = SQLITE_NOMEM;
                break;
            }
            r->gone = g;
            cap = ncap;
        }
        memcpy(r->gone[r->ngone++], bin, sizeof bin);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return err_set(err, "vault: reading subject keys: %s",
                       rc == SQLITE_NOMEM ? "out of memory"
                                          : sqlite3_errmsg(r->db));
    if (r->gone_state < 0)
        return 0;
    for (r->ngslot = 16; r->ngslot < 2 * r->ngone; r->ngslot *= 2)
        ;
    if (!(r->gslot = calloc(r->ngslot, sizeof *r->gslot)))
        return err_set(err, "out of memory");
    for (size_t i = 0; i < r->ngone; i++) {
        size_t h = S_gone_slot(r->gone[i], r->ngslot);
        while (r->gslot[h])
            h = (h + 1) & (r->ngslot - 1);
        r->gslot[h] = (uint32_t)i + 1;
    }
    return 0;
}

/* Reads the set once (any thread; the others wait for it). */
static int S_gone_ready(vault_reader *r, folio_err *err)
{
    if (!atomic_load_explicit(&r->gone_ready, memory_order_acquire)) {
        pthread_mutex_lock(&r->mu);
        int rc = r->gone_state ? 0 : S_gone_load(r, err);
        if (rc < 0) { /* asked again next time */
            r->gone_state = 0;
            r->ngone = 0;
            free(r->gslot);
            r->gslot = NULL;
        } else {
            atomic_store_explicit(&r->gone_ready, 1, memory_order_release);
        }
        pthread_mutex_unlock(&r->mu);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* 1 when subject's first key is destroyed, 0 when not, 3 when the set
 * cannot tell (too many), 4 when it is not read yet and !wait, -1 on
 * error. */
static int S_gone(vault_reader *r, const char *subject, int wait,
                  folio_err *err)
{
    unsigned char bin[VAULT_SUBJECT_LEN / 2];
    if (S_subject_bin(subject, bin) != 0)
        return 3;
    if (!atomic_load_explicit(&r->gone_ready, memory_order_acquire) &&
        (!wait || S_gone_ready(r, err) < 0))
        return wait ? -1 : 4;
    if (r->gone_state < 0)
        return 3;
    /* read-only from here on: no lock */
    for (size_t h = S_gone_slot(bin, r->ngslot); r->gslot[h];
         h = (h + 1) & (r->ngslot - 1))
        if (!memcmp(r->gone[r->gslot[h] - 1], bin, sizeof bin))
            return 1;
    return 0;
}

int vault_reader_state(vault_reader *r, const char *subject,
                       const char *sealed, long long made_by, int wait,
                       folio_err *err)
{
    size_t plen;
    int gen;
    if (S_sealed_gen(sealed, &gen, &plen, err) < 0)
        return -1;
    if (gen > 1)
        return 3; /* later generations are not in the window */
    int k = S_gone(r, subject, wait, err);
    if (k != 3)
        return k;
    k = S_win_state(r, subject, made_by, NULL, err);
    if (k == 2)
        return err_set(err, "vault: the key of subject %.16s... is damaged",
                       subject);
    return k;
}

/* SipHash-2-4 (128-bit output) under key of parts[0 .. n), each after
 * its length (8 bytes, little-endian), so no two lists hash alike: keyed
 * BLAKE2b would do as well, at five times the cost at these lengths,
 * which a replay pays for every row. */
static int S_mac(const unsigned char *key, const void *const *parts,
                 const size_t *lens, size_t n,
                 unsigned char out[VAULT_NAME_MAC_LEN])
{
    size_t total = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > SIZE_MAX / 4 - total - 8)
            return -1;
        total += 8 + lens[i];
    }
    unsigned char stack[1024];
    unsigned char *m = total <= sizeof stack ? stack : malloc(total);
    if (!m)
        return -1;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < 8; b++)
            m[at++] = (unsigned char)((uint64_t)lens[i] >> (8 * b));
        if (lens[i])
            memcpy(m + at, parts[i], lens[i]);
        at += lens[i];
    }
    (void)crypto_shorthash_siphashx24(out, m, total, key);
    /* a member's name is personal data (it goes when they are forgotten):
     * wiped, as the names opened from the vault are */
    sodium_memzero(m, total);
    if (m != stack)
        free(m);
    return 0;
}

int vault_name_mac(const vault *v, const char *sealed, const char *name,
                   size_t name_len, unsigned char out[VAULT_NAME_MAC_LEN])
{
    const void *parts[2] = {sealed, name};
    size_t lens[2] = {strlen(sealed), name_len};
    return S_mac(v->name_key, parts, lens, 2, out);
}

int vault_row_mac(const vault *v, const void *const *parts,
                  const size_t *lens, size_t n,
                  unsigned char out[VAULT_NAME_MAC_LEN])
{
    return S_mac(v->row_key, parts, lens, n, out);
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
