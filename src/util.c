#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

int err_set(folio_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int err_prefix(folio_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char old[FOLIO_ERR_MAX], pre[FOLIO_ERR_MAX];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    if (snprintf(err->msg, sizeof err->msg, "%s: %s", pre, old) >= (int)sizeof err->msg)
        memcpy(err->msg + sizeof err->msg - 4, "...", 4); /* keep it printable */
    return -1;
}

int buf_grow(buf *b, size_t extra)
{
    if (extra > ((size_t)-1) / 2 - b->len)
        return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->ptr, cap);
    if (!p)
        return -1;
    b->ptr = p;
    b->cap = cap;
    return 0;
}

int buf_add(buf *b, const char *data, size_t len)
{
    /* a page is built from a few thousand small appends: most fit */
    if (len >= b->cap - b->len && buf_grow(b, len) != 0)
        return -1;
    if (len)
        memcpy(b->ptr + b->len, data, len);
    b->len += len;
    b->ptr[b->len] = '\0';
    return 0;
}

int buf_puts(buf *b, const char *s) { return buf_add(b, s, strlen(s)); }

int buf_putc(buf *b, char c) { return buf_add(b, &c, 1); }

int buf_vprintf(buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof small)
        return buf_add(b, small, (size_t)n);
    if (buf_grow(b, (size_t)n) != 0)
        return -1;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int buf_add_pct(buf *b, const char *s, const char *keep)
{
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("-._~", *p) || strchr(keep, *p))
            rc = buf_putc(b, (char)*p);
        else
            rc = buf_printf(b, "%%%02X", *p);
    }
    return rc;
}

int util_grow(void **v, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : first;
    if (nc <= n || nc > SIZE_MAX / size)
        return -1;
    void *nv = realloc(*v, nc * size);
    if (!nv)
        return -1;
    *v = nv;
    *cap = nc;
    return 0;
}

static const unsigned char S_esc[256] = {['&'] = 1, ['<'] = 2, ['>'] = 3, ['"'] = 4,
                                         ['\''] = 5};

/* Where the first byte to escape in [p, end) is (or end): sixteen bytes
 * at a time where the machine can. */
static const unsigned char *S_html_run(const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
    const __m128i amp = _mm_set1_epi8('&'), lt = _mm_set1_epi8('<'), gt = _mm_set1_epi8('>'),
                  dq = _mm_set1_epi8('"'), sq = _mm_set1_epi8('\'');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, amp), _mm_cmpeq_epi8(v, lt)),
                                 _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, gt),
                                                           _mm_cmpeq_epi8(v, dq)),
                                              _mm_cmpeq_epi8(v, sq)));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits)
            return p + __builtin_ctz(bits);
        p += 16;
    }
#endif
    while (p < end && !S_esc[*p])
        p++;
    return p;
}

/* Every visitor-facing value goes through here, a million times a build:
 * runs without a special character are found at once and copied whole. */
int buf_add_html(buf *b, const char *s, size_t len)
{
    static const char rep[6][8] = {"", "&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
    static const unsigned char replen[6] = {0, 5, 4, 4, 6, 5};
    const unsigned char *p = (const unsigned char *)s, *end = len ? p + len : p;
    for (;;) {
        const unsigned char *run = p;
        p = S_html_run(p, end);
        size_t n = (size_t)(p - run);
        /* the run and the entity after it (copied as 8 bytes) in one growth */
        if (n + sizeof rep[0] >= b->cap - b->len && buf_grow(b, n + sizeof rep[0]) != 0)
            return -1;
        if (n)
            memcpy(b->ptr + b->len, run, n);
        b->len += n;
        if (p == end)
            break;
        memcpy(b->ptr + b->len, rep[S_esc[*p]], sizeof rep[0]);
        b->len += replen[S_esc[*p]];
        p++;
    }
    b->ptr[b->len] = '\0';
    return 0;
}

char *buf_detach(buf *b, size_t *len)
{
    char *p = b->ptr;
    if (!p)
        p = calloc(1, 1);
    else if (b->cap > 64 && b->cap - b->len > b->len / 4 + 1) {
        /* what is detached is kept (a page's links, for the whole build):
         * not the doubling's slack with it; glibc shrinks in place */
        char *q = realloc(p, b->len + 1);
        if (q)
            p = q;
    }
    if (len)
        *len = b->len;
    b->ptr = NULL;
    b->len = b->cap = 0;
    return p;
}

void buf_reset(buf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

void buf_free(buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

int util_read_file(const char *path, char **out, size_t *len, folio_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return err_set(err, "%s: %s", path, strerror(errno));
    }
    /* one byte more than the size, so that a file read whole is seen to end
     * without a second buffer or a second read */
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    char *p = malloc(cap + 1);
    if (!p) {
        close(fd);
        return err_set(err, "%s: out of memory", path);
    }
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            char *q = realloc(p, cap * 2 + 1);
            if (!q) {
                free(p);
                close(fd);
                return err_set(err, "%s: out of memory", path);
            }
            p = q;
            cap *= 2;
        }
        size_t want = cap - n;
        ssize_t r = read(fd, p + n, want);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            free(p);
            close(fd);
            return err_set(err, "%s: %s", path, strerror(errno));
        }
        if (r == 0)
            break;
        n += (size_t)r;
        /* a short read of a regular file that has all its bytes is the end */
        if (S_ISREG(st.st_mode) && (size_t)r < want && n >= (size_t)st.st_size)
            break;
    }
    close(fd);
    p[n] = '\0';
    *out = p;
    if (len)
        *len = n;
    return 0;
}

int util_pread_all(int fd, void *out, size_t len, long long off)
{
    char *p = out;
    for (size_t got = 0; got < len;) {
        ssize_t r = pread(fd, p + got, len - got, (off_t)(off + (long long)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

int util_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int util_write_atomic(const char *path, const void *data, size_t len,
                      int durable, folio_err *err)
{
    return util_write_atomic_mode(path, data, len, 0644, durable, err);
}

int util_write_atomic_mode(const char *path, const void *data, size_t len,
                           mode_t mode, int durable, folio_err *err)
{
    char tmp[4096], dir[4096];
    if (util_path(dir, sizeof dir, err, "%s", path) != 0)
        return -1;
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (!util_is_dir(dir) && util_mkdirs(dir, 0755, err) != 0)
            return -1;
    }
    if (util_path(tmp, sizeof tmp, err, "%s.tmp.XXXXXX", path) != 0)
        return -1;
    int fd = mkstemp(tmp);
    if (fd < 0)
        return err_set(err, "%s: %s", tmp, strerror(errno));
    /* mkstemp makes 0600; public pages must be readable by nginx. */
    if (fchmod(fd, mode) != 0 || util_write_all(fd, data, len) != 0 ||
        (durable && fsync(fd) != 0)) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return err_set(err, "%s: %s", path, strerror(e));
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return err_set(err, "%s: %s", path, strerror(e));
    }
    return 0;
}

int util_mkdirs(const char *path, mode_t mode, folio_err *err)
{
    char p[4096];
    if (util_path(p, sizeof p, err, "%s", path) != 0)
        return -1;
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST)
            return err_set(err, "%s: %s", p, strerror(errno));
        p[i] = c;
    }
    return 0;
}

int util_rmtree(const char *path, folio_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : err_set(err, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0)
            return err_set(err, "%s: %s", path, strerror(errno));
        return 0;
    }
    DIR *d = opendir(path);
    if (!d)
        return err_set(err, "%s: %s", path, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[4096];
        rc = util_path(sub, sizeof sub, err, "%s/%s", path, e->d_name);
        if (rc == 0)
            rc = util_rmtree(sub, err);
    }
    closedir(d);
    if (rc == 0 && rmdir(path) != 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    return rc;
}

static int copy_file(const char *src, const char *dst, mode_t mode, folio_err *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return err_set(err, "%s: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 0777);
    if (out < 0) {
        close(in);
        return err_set(err, "%s: %s", dst, strerror(errno));
    }
    char b[65536];
    int rc = 0;
    for (;;) {
        ssize_t r = read(in, b, sizeof b);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = err_set(err, "%s: %s", src, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        if (util_write_all(out, b, (size_t)r) != 0) {
            rc = err_set(err, "%s: %s", dst, strerror(errno));
            break;
        }
    }
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = err_set(err, "%s: %s", dst, strerror(errno));
    return rc;
}

int util_copy_tree(const char *src, const char *dst, folio_err *err)
{
    struct stat st;
    if (stat(src, &st) != 0)
        return err_set(err, "%s: %s", src, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return copy_file(src, dst, st.st_mode, err);
    if (util_mkdirs(dst, 0755, err) != 0)
        return -1;
    DIR *d = opendir(src);
    if (!d)
        return err_set(err, "%s: %s", src, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        char s[4096], t[4096];
        rc = util_path(s, sizeof s, err, "%s/%s", src, e->d_name);
        if (rc == 0)
            rc = util_path(t, sizeof t, err, "%s/%s", dst, e->d_name);
        if (rc == 0)
            rc = util_copy_tree(s, t, err);
    }
    closedir(d);
    return rc;
}

int util_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int util_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int util_path(char *out, size_t outlen, folio_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, outlen, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= outlen)
        return err_set(err, "path too long: %.80s...", out);
    return 0;
}

long long util_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void util_trace(const char *what)
{
    static _Atomic long long last = -1;
    if (last == -1)
        last = getenv("FOLIO_TRACE") ? util_mono_ns() : 0;
    if (!last)
        return;
    long long now = util_mono_ns();
    struct mallinfo2 mi = mallinfo2();
    long rss = 0, shared = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        long size;
        if (fscanf(f, "%ld %ld %ld", &size, &rss, &shared) != 3)
            rss = 0;
        fclose(f);
    }
    double pg = (double)sysconf(_SC_PAGESIZE) / 1048576.0;
    fprintf(stderr, "folio: trace: %-22s %7.2f ms  heap %6.1f MiB (free %.1f, mmap %.1f)  "
            "rss %6.1f MiB (files %.1f)\n", what, (double)(now - last) / 1e6,
            (double)mi.uordblks / 1048576.0, (double)mi.fordblks / 1048576.0,
            (double)mi.hblkhd / 1048576.0, (double)rss * pg, (double)shared * pg);
    last = now;
}

long long util_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void util_format_iso_ms(long long ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        s -= 1;
    }
    struct tm tm;
    gmtime_r(&s, &tm);
    if (snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 frac) >= 32)
        out[31] = '\0'; /* only for years past 9999 */
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int util_parse_time(const char *s, long long *ms)
{
    int y, mo, d, h = 0, mi = 0, se = 0, frac = 0, off = 0;
    const char *p = s;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return -1;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &se))
                return -1;
            if (*p == '.') {
                p++;
                int scale = 100;
                while (*p >= '0' && *p <= '9') {
                    frac += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                }
            }
        }
        if (h > 23 || mi > 59 || se > 60)
            return -1;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (digits(&p, 2, &oh))
                return -1;
            if (*p == ':')
                p++;
            if (digits(&p, 2, &om) || oh > 23 || om > 59)
                return -1;
            off = sign * (oh * 60 + om);
        }
    }
    if (*p != '\0')
        return -1;
    /* days from civil (Howard Hinnant's algorithm), independent of TZ. */
    int yy = y - (mo <= 2);
    int era = (yy >= 0 ? yy : yy - 399) / 400;
    unsigned yoe = (unsigned)(yy - era * 400);
    unsigned doy = (unsigned)((153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long long days = (long long)era * 146097 + (long long)doe - 719468;
    long long secs = days * 86400 + h * 3600 + mi * 60 + se - (long long)off * 60;
    *ms = secs * 1000 + frac;
    return 0;
}

size_t util_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

int util_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        /* Markdown is mostly ASCII: eight bytes at a time while it is */
        while (len - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, sizeof w);
            if (w & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned min, cp;
        if ((c & 0xE0) == 0xC0) { n = 1; min = 0x80; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { n = 2; min = 0x800; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { n = 3; min = 0x10000; cp = c & 0x07; }
        else return 0;
        if (n >= len - i) /* the sequence runs past the end */
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

char *util_slugify(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    int dash = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) {
            if (dash && o > 0)
                out[o++] = '-';
            dash = 0;
            out[o++] = (char)c;
        } else {
            dash = 1;
        }
    }
    out[o] = '\0';
    return out;
}

char *util_strdup(const char *s)
{
    return s ? util_strndup(s, strlen(s)) : NULL;
}

char *util_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
