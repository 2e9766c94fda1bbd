/* util — growable buffers, error messages, files and paths.
 *
 * Every fallible call returns 0 on success and -1 on failure with a message
 * in a folio_err the caller can show. Nothing here exits. */
#ifndef FOLIO_UTIL_H
#define FOLIO_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

#define FOLIO_ERR_MAX 512

typedef struct folio_err {
    char msg[FOLIO_ERR_MAX];
} folio_err;

/* Sets err->msg (if err is non-NULL) and returns -1 so callers can write
 * `return err_set(err, "...")`. */
int err_set(folio_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefixes an existing message: "PREFIX: old message". Returns -1. */
int err_prefix(folio_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A growable byte buffer, always NUL-terminated when ptr != NULL. */
typedef struct buf {
    char *ptr;
    size_t len;
    size_t cap;
} buf;

#define BUF_INIT {NULL, 0, 0}

int buf_grow(buf *b, size_t extra);
/* Room in *v (an array of *cap items of size bytes) for item n: doubles
 * it, from first items, when full. 0, or -1 (out of memory; *v kept). */
int util_grow(void **v, size_t *cap, size_t n, size_t size, size_t first);
int buf_add(buf *b, const char *data, size_t len);
int buf_puts(buf *b, const char *s);
int buf_putc(buf *b, char c);
int buf_printf(buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf *b, const char *fmt, va_list ap);
/* Appends s with & < > " ' escaped for HTML text and attributes. */
int buf_add_html(buf *b, const char *s, size_t len);
/* Appends s percent-encoded: every byte but letters, digits, "-._~" and
 * those in keep (may be "") becomes %XX. */
int buf_add_pct(buf *b, const char *s, const char *keep);
/* Hands the memory to the caller (who frees it) and resets b. */
char *buf_detach(buf *b, size_t *len);
void buf_reset(buf *b);
void buf_free(buf *b);

/* write(2) until all of data is written or an error (EINTR retried). */
int util_write_all(int fd, const void *data, size_t len);
/* pread(2) of exactly len bytes at off (EINTR retried): 0, or -1 on an
 * error or when the file ends first. */
int util_pread_all(int fd, void *out, size_t len, long long off);
/* Reads a whole file. *out is NUL-terminated and must be freed. */
int util_read_file(const char *path, char **out, size_t *len, folio_err *err);
/* Writes path by way of a temporary file in the same directory, fsync'd
 * when durable is set, then renamed into place: readers see the old file
 * or the new one, never a part. Creates missing parent directories. */
int util_write_atomic(const char *path, const void *data, size_t len,
                      int durable, folio_err *err);
/* The same with the file's mode (util_write_atomic: 0644). */
int util_write_atomic_mode(const char *path, const void *data, size_t len,
                           mode_t mode, int durable, folio_err *err);
/* mkdir -p with the given mode for the directories it creates. */
int util_mkdirs(const char *path, mode_t mode, folio_err *err);
/* rm -rf; a missing path is not an error. */
int util_rmtree(const char *path, folio_err *err);
/* Copies the tree src into dst (created as needed), files as is. */
int util_copy_tree(const char *src, const char *dst, folio_err *err);
int util_is_dir(const char *path);
int util_is_file(const char *path);
/* snprintf into a fixed buffer that fails instead of truncating. */
int util_path(char *out, size_t outlen, folio_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Current UTC time in milliseconds since the epoch. */
long long util_now_ms(void);
/* A monotonic clock in nanoseconds, for durations (never steps back). */
long long util_mono_ns(void);
/* With FOLIO_TRACE set, prints to stderr the time since the previous call
 * (or the first): where a build's time goes, for benchmarks. */
void util_trace(const char *what);
/* Formats ms as 2026-11-24T10:00:00.000Z (buffer of at least 25 bytes). */
void util_format_iso_ms(long long ms, char out[32]);
/* Parses YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM] (space allowed
 * for T). Returns 0 and ms since the epoch (UTC), or -1. */
int util_parse_time(const char *s, long long *ms);

/* Strict UTF-8 check (no overlongs, no surrogates, nothing past U+10FFFF). */
int util_utf8_valid(const char *s, size_t len);
/* Characters (code points) in valid UTF-8: what a visitor counts, and what
 * every length limit on visitor text is written in. */
size_t util_utf8_chars(const char *s, size_t len);
/* Lower-cases ASCII letters, turns runs of anything not [a-z0-9] into one
 * '-', trims '-' at both ends: "Hello, World!" -> "hello-world".
 * UTF-8 letters are kept as they are. Result must be freed. */
char *util_slugify(const char *s);
char *util_strdup(const char *s);
char *util_strndup(const char *s, size_t n);

#endif
