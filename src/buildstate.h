/* buildstate — what an output tree was built from, kept in the tree
 * (OUT/.folio-state) so that the next build into it renders only what
 * changed, and so that the next site_open need not parse unchanged content.
 *
 * A state holds a stamp (folio's identity and every setting all pages
 * depend on), the templates with their hashes, the sets of templates that
 * outputs used, one fingerprint per output file, the fingerprint of the
 * page graph with the hash of each content file's bytes (small, read with
 * the outputs: what the next build into the tree compares first), and one
 * record per content file: its stat, the hash of its bytes, its parsed
 * front matter and what its Markdown gave (words, summary).
 *
 * The file is binary and private to folio. A state that does not read back
 * whole, or was written by another format, is no state: the build that
 * finds it renders everything. */
#ifndef FOLIO_BUILDSTATE_H
#define FOLIO_BUILDSTATE_H

#include <stddef.h>
#include <stdint.h>
#include "content.h"
#include "util.h"

#define BSTATE_FILE ".folio-state"
#define BSTATE_HASH 16

enum { BSTATE_DATA = 1 }; /* fingerprint unknown: always rendered again */
/* In memory only, never written or read back: path and names belong to
 * another entry (kept in flags: 14,000 entries, 8 bytes each less). */
#define BSTATE_BORROWED 0x80000000u

typedef struct bstate_out {
    char *path;        /* relative to the tree: "projects/foo/index.html" */
    int set;           /* index into sets; -1 for static files */
    unsigned flags;
    char *names;       /* the event-store data names it read ("a b"), or NULL */
    unsigned char fp[BSTATE_HASH];
    unsigned char jfp[BSTATE_HASH]; /* with names: fp before the data's part */
} bstate_out;

typedef struct bstate_src {
    content_page page; /* page.file is the path under content/ */
    long long size, mtime_ns, ctime_ns;
    unsigned long long ino;
    int racy;          /* changed too close to its build to trust its stat */
    unsigned char hash[BSTATE_HASH];
    int meta;          /* words and body_summary are known */
    int words;
    char *body_summary; /* the first paragraph, when front matter gave none */
    char *links;       /* its Markdown's links, "LINE<TAB>URL" lines (when meta) */
    /* (read back, body_summary and links lie in page.blk: who takes the
     * page takes them too, or leaves them NULL here) */
    /* Or the links stay in a file (BSTATE_LAZYLINKS, and a writer that has
     * them there): links_len bytes at links_off of links_fd, links NULL. */
    int links_lazy;
    int links_fd;
    long long links_off;
    uint32_t links_len;
    /* read back only: the hash of page.params as cJSON_PrintUnformatted
     * gives it (what was stored), so that a reader need not print it again */
    unsigned char phash[BSTATE_HASH];
    /* Read back: where the record lies in the file. Written: when raw_fd
     * is set (>= 0 and raw_len > 0), the record is those bytes of that
     * file, copied as they are (a record the build took unchanged). */
    long long raw_off;
    size_t raw_len;
    int raw_fd;
} bstate_src;

/* A folder under content/ as the walk found it: while none of them
 * changed, no file was added, removed or renamed, and the next build
 * takes the records' names without walking. */
typedef struct bstate_dir {
    char *path;        /* "" for content/ itself, else "projects/2024" */
    long long mtime_ns, ctime_ns;
    unsigned long long ino;
    int racy;          /* changed too close to its build to trust */
} bstate_dir;

typedef struct bstate_set {
    int *tpl;          /* indices into tpl_names */
    size_t n;
} bstate_set;

typedef struct bstate {
    char *stamp;
    char **tpl_names;
    unsigned char (*tpl_hash)[BSTATE_HASH];
    size_t ntpl;
    bstate_set *sets;
    size_t nsets;
    bstate_out *outs;
    size_t nouts;
    /* The page graph's fingerprint, and the hash of each content file's
     * bytes in the graph's page order (read with BSTATE_OUTS). */
    unsigned char graph[BSTATE_HASH];
    unsigned char (*src_hash)[BSTATE_HASH];
    size_t nsrc_hash;
    bstate_src *srcs;
    size_t nsrcs;
    bstate_dir *dirs;  /* read with BSTATE_SRCS; none: the next build walks */
    size_t ndirs;
    int fd;            /* BSTATE_KEEPFD, or -1 (0 in a zeroed bstate: never read) */
    int has_fd;
    /* Writing only: when srcs is NULL, record i is asked of src_at (so that
     * a big site's records need not all be copied at once). */
    void (*src_at)(void *ud, size_t i, bstate_src *out);
    void *src_ud;
} bstate;

/* What to read back: the outputs part, the content part, or both. */
enum { BSTATE_OUTS = 1, BSTATE_SRCS = 2, BSTATE_KEEPFD = 4,
       /* with KEEPFD: records' links are left in the file (links_lazy),
        * the biggest part of a big site's records, which a build reads
        * only for pages whose links it checks again */
       BSTATE_LAZYLINKS = 8 };

/* Reads path into st (zeroed first). Returns 0, 1 when there is no state
 * file (st stays empty), or -1 when it is unreadable or malformed. With
 * BSTATE_KEEPFD the file stays open in st->fd (else -1) for raw copies of
 * its records; bstate_free closes it. */
int bstate_load(const char *path, int parts, bstate *st, folio_err *err);
/* Only the folders of path's state (into st->dirs, st zeroed first): a
 * few hundred bytes at its end, read before the rest. 0, or -1. */
int bstate_load_dirs(const char *path, bstate *st);
/* The hash of a page's params as cJSON prints them unformatted (len
 * bytes of json): what a record's phash holds. */
void bstate_params_hash(const char *json, size_t len, unsigned char out[BSTATE_HASH]);
/* Appends st in the file format to b, or writes it to fd as it goes (for
 * big states: memory stays small). Neither owns anything of st. */
int bstate_encode(const bstate *st, buf *b);
int bstate_write(int fd, const bstate *st);
/* bstate_write in steps, so that the outputs can be encoded on one thread
 * while another writes the rest (the records, the bigger part):
 * bstate_write_head writes all but the outputs and says where things went
 * in *at; bstate_encode_outs appends the outputs' part to b; then
 * bstate_write_tail writes that b, and the trailer, after the head. */
typedef struct bstate_at {
    long long end, mid, dirs;
} bstate_at;
int bstate_write_head(int fd, const bstate *st, bstate_at *at);
int bstate_encode_outs(const bstate *st, buf *b);
int bstate_write_tail(int fd, buf *outs, const bstate_at *at);
void bstate_free(bstate *st);

#endif
