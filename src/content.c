/* content — front matter into page records, Markdown into HTML. */
#include "content.h"

#include <cmark.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* Length of the line starting at p (without its end), and where the next
 * line starts. */
static size_t S_line_end(const char *src, size_t len, size_t p, size_t *next)
{
    size_t e = p;
    while (e < len && src[e] != '\n')
        e++;
    *next = e < len ? e + 1 : e;
    if (e > p && src[e - 1] == '\r')
        e--;
    return e - p;
}

/* A "---" (or "..." to close) line, trailing blanks allowed. */
static int S_is_fence(const char *s, size_t n, int closing)
{
    if (n < 3 || !(memcmp(s, "---", 3) == 0 || (closing && memcmp(s, "...", 3) == 0)))
        return 0;
    for (size_t i = 3; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

static int S_line_of(const cJSON *lines, const char *key, int def)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(lines, key);
    return cJSON_IsNumber(l) ? l->valueint : def;
}

/* A scalar as text: strings as they are, numbers printed. */
static char *S_text(const cJSON *v)
{
    if (cJSON_IsString(v))
        return util_strdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        /* As the author wrote it (config keeps the YAML text); a number
         * made some other way is printed, never cast: 1e100 overflows. */
        if (v->valuestring)
            return util_strdup(v->valuestring);
        char num[64];
        snprintf(num, sizeof num, "%.17g", v->valuedouble);
        return util_strdup(num);
    }
    if (cJSON_IsBool(v))
        return util_strdup(cJSON_IsTrue(v) ? "true" : "false");
    return NULL;
}

static int S_list(const cJSON *v, char ***out, size_t *n)
{
    if (cJSON_IsString(v) || cJSON_IsNumber(v)) {
        *out = calloc(1, sizeof **out);
        if (!*out || !((*out)[0] = S_text(v)))
            return -1;
        *n = 1;
        return 0;
    }
    if (!cJSON_IsArray(v))
        return -1;
    size_t cnt = (size_t)cJSON_GetArraySize(v);
    *out = calloc(cnt ? cnt : 1, sizeof **out);
    if (!*out)
        return -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        char *s = S_text(it);
        if (!s || !*s) {
            free(s);
            return -1;
        }
        (*out)[(*n)++] = s;
    }
    return 0;
}

/* A URL path segment the owner chose: one segment, no tricks. */
static int S_slug_ok(const char *s)
{
    if (!*s || !strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f || strchr("/\\?#%\"<>'`", *p))
            return 0;
    return 1;
}

static int S_alias_ok(const char *s)
{
    if (s[0] != '/' || strstr(s, "/../") || strstr(s, "/./") || strstr(s, "//"))
        return 0;
    size_t n = strlen(s);
    if ((n >= 3 && !strcmp(s + n - 3, "/..")) || (n >= 2 && !strcmp(s + n - 2, "/.")))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f || strchr("\\?#%\"<>'`", *p))
            return 0;
    return 1;
}

static int S_kind(const char *file, content_page *out)
{
    const char *slash = strchr(file, '/');
    out->section = slash ? util_strndup(file, (size_t)(slash - file)) : util_strdup("");
    if (!out->section)
        return -1;
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (!strcmp(base, "_index.md"))
        out->kind = slash ? CONTENT_SECTION : CONTENT_HOME;
    else
        out->kind = CONTENT_PAGE;
    return 0;
}

typedef struct S_fm {
    const char *file;
    const cJSON *lines;
    int line0;
    folio_err *err;
} S_fm;

static int S_bad(const S_fm *f, const char *key, const char *why)
{
    return err_set(f->err, "%s:%d: %s: %s", f->file, S_line_of(f->lines, key, f->line0),
                   key, why);
}

static int S_take_time(const S_fm *f, const cJSON *v, const char *key, long long *out)
{
    if (cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || util_parse_time(v->valuestring, out) != 0)
        return S_bad(f, key, "expected a date such as 2025-03-01 or 2025-03-01T10:00:00Z");
    return 0;
}

static const char *const S_known[] = {
    "title", "summary", "slug", "layout", "date", "lastmod", "draft", "weight", "tags",
    "aliases",
    /* params the site itself reads */
    "paginate", "paginate_data", "unlisted", "featured",
    "cover", "cover_alt"}; /* images: a page's cover and its alt text */

static size_t S_min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* Optimal string alignment distance, for keys (short: at most 63 bytes). */
static size_t S_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            d[i][j] = S_min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < d[i][j])
                d[i][j] = d[i - 2][j - 2] + 1;
        }
    return d[la][lb];
}

const char *content_suggest(const char *key, const char *const *known, size_t n)
{
    const char *best = NULL;
    size_t bd = 3, kl = strlen(key);
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(key, known[i]))
            return NULL;
        size_t d = S_distance(key, known[i]);
        if (d < bd && d < kl) {
            bd = d;
            best = known[i];
        }
    }
    return best;
}

static int S_warn(content_page *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int S_warn(content_page *out, const char *fmt, ...)
{
    buf b = BUF_INIT;
    if (out->warnings && buf_puts(&b, out->warnings) != 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (rc != 0 || buf_putc(&b, '\n') != 0) {
        buf_free(&b);
        return -1;
    }
    free(out->warnings);
    out->warnings = buf_detach(&b, NULL);
    return 0;
}

/* Moves the known keys of fm into out, the rest into out->params. */
static int S_fields(const S_fm *f, cJSON *fm, content_page *out)
{
    cJSON *it = fm->child;
    while (it) {
        cJSON *next = it->next;
        const char *k = it->string;
        int rc = 0;
        if (!strcmp(k, "title")) {
            free(out->title);
            if (!(out->title = S_text(it)))
                rc = S_bad(f, k, "expected a string");
        } else if (!strcmp(k, "summary")) {
            if (!cJSON_IsNull(it) && !(out->summary = S_text(it)))
                rc = S_bad(f, k, "expected a string");
            if (out->summary && !*out->summary) { /* empty: use the first paragraph */
                free(out->summary);
                out->summary = NULL;
            }
        } else if (!strcmp(k, "slug")) {
            if (!(out->slug = S_text(it)) || !S_slug_ok(out->slug))
                rc = S_bad(f, k, "expected one URL path segment (no '/')");
        } else if (!strcmp(k, "layout")) {
            if (!cJSON_IsString(it) || !*it->valuestring ||
                !(out->layout = util_strdup(it->valuestring)))
                rc = S_bad(f, k, "expected a template name");
        } else if (!strcmp(k, "date")) {
            rc = S_take_time(f, it, k, &out->date);
        } else if (!strcmp(k, "lastmod")) {
            rc = S_take_time(f, it, k, &out->lastmod);
        } else if (!strcmp(k, "draft")) {
            if (!cJSON_IsBool(it))
                rc = S_bad(f, k, "expected true or false");
            out->draft = cJSON_IsTrue(it);
        } else if (!strcmp(k, "weight")) {
            /* Range first: casting an out-of-range double is undefined. */
            if (!cJSON_IsNumber(it) || !(it->valuedouble >= -1e15 && it->valuedouble <= 1e15) ||
                it->valuedouble != (double)(long)it->valuedouble)
                rc = S_bad(f, k, "expected a whole number");
            else
                out->weight = (long)it->valuedouble;
        } else if (!strcmp(k, "tags")) {
            if (!cJSON_IsNull(it) && S_list(it, &out->tags, &out->ntags) != 0)
                rc = S_bad(f, k, "expected a list of names");
        } else if (!strcmp(k, "aliases")) {
            if (!cJSON_IsNull(it) && S_list(it, &out->aliases, &out->naliases) != 0)
                rc = S_bad(f, k, "expected a list of URL paths");
            for (size_t i = 0; rc == 0 && i < out->naliases; i++)
                if (!S_alias_ok(out->aliases[i]))
                    rc = S_bad(f, k, "each alias must be a URL path starting with '/'");
        } else {
            const char *near = content_suggest(k, S_known, sizeof S_known / sizeof *S_known);
            if (near && S_warn(out, "%s:%d: unknown front matter key '%s' — did you mean '%s'?",
                               f->file, S_line_of(f->lines, k, f->line0), k, near) != 0)
                return err_set(f->err, "%s: out of memory", f->file);
            cJSON *v = cJSON_DetachItemViaPointer(fm, it);
            if (!cJSON_AddItemToObject(out->params, k, v)) {
                cJSON_Delete(v);
                rc = err_set(f->err, "%s: out of memory", f->file);
            }
        }
        if (rc != 0)
            return -1;
        it = next;
    }
    return 0;
}

/* The first line holding invalid UTF-8, or 0. */
static int S_bad_utf8_line(const char *src, size_t len)
{
    if (util_utf8_valid(src, len))
        return 0;
    int line = 1;
    for (size_t p = 0, next; p < len; p = next, line++) {
        size_t n = S_line_end(src, len, p, &next);
        if (!util_utf8_valid(src + p, n))
            return line;
    }
    return line;
}

/* Moves p's strings and arrays into one block (see content_page.blk);
 * left as they are when memory runs out. */
static void S_pack(content_page *p)
{
    char **one[] = {&p->file, &p->section, &p->title, &p->slug, &p->layout, &p->summary,
                    &p->warnings};
    size_t nv[2] = {p->ntags, p->naliases}, sz = 0;
    char ***vv[2] = {&p->tags, &p->aliases};
    for (size_t k = 0; k < sizeof one / sizeof *one; k++)
        sz += *one[k] ? strlen(*one[k]) + 1 : 0;
    for (int k = 0; k < 2; k++) {
        sz += (nv[k] ? nv[k] : 1) * sizeof(char *);
        for (size_t i = 0; i < nv[k]; i++)
            sz += strlen((*vv[k])[i]) + 1;
    }
    if (p->params && !p->params->child && p->params != content_no_params()) {
        cJSON_Delete(p->params);
        p->params = content_no_params();
    }
    char *blk = malloc(sz ? sz : 1), *at = blk;
    if (!blk || p->blk) {
        free(blk);
        return;
    }
    char **arr[2];
    for (int k = 0; k < 2; k++) { /* both arrays first: aligned */
        arr[k] = (char **)(void *)at;
        at += (nv[k] ? nv[k] : 1) * sizeof(char *);
        memset(arr[k], 0, (nv[k] ? nv[k] : 1) * sizeof(char *));
    }
    for (int k = 0; k < 2; k++) {
        char **v = arr[k];
        for (size_t i = 0; i < nv[k]; i++) {
            size_t n = strlen((*vv[k])[i]) + 1;
            memcpy(at, (*vv[k])[i], n);
            free((*vv[k])[i]);
            v[i] = at;
            at += n;
        }
        free(*vv[k]);
        *vv[k] = v;
    }
    for (size_t k = 0; k < sizeof one / sizeof *one; k++) {
        if (!*one[k])
            continue;
        size_t n = strlen(*one[k]) + 1;
        memcpy(at, *one[k], n);
        free(*one[k]);
        *one[k] = at;
        at += n;
    }
    p->blk = blk;
    p->blklen = sz;
}

int content_parse(const char *file, const char *src, size_t len, content_page *out,
                  folio_err *err)
{
    memset(out, 0, sizeof *out);
    int bad = S_bad_utf8_line(src, len);
    if (bad)
        return err_set(err, "%s:%d: not valid UTF-8 (save the file as UTF-8)", file, bad);
    out->date = out->lastmod = -1;
    if (!(out->file = util_strdup(file)) || !(out->title = util_strdup("")) ||
        !(out->params = cJSON_CreateObject()) || S_kind(file, out) != 0) {
        content_page_free(out);
        return err_set(err, "%s: out of memory", file);
    }
    size_t next;
    size_t n = S_line_end(src, len, 0, &next);
    /* A UTF-8 byte order mark before the fence is an editor's habit. */
    size_t start = 0;
    if (len >= 3 && !memcmp(src, "\xEF\xBB\xBF", 3)) {
        start = 3;
        n = S_line_end(src, len, 3, &next);
    }
    if (!S_is_fence(src + start, n, 0)) {
        out->body_offset = start;
        out->body_line = 1;
        S_pack(out);
        return 0;
    }
    size_t fm_start = next, p = next;
    int line = 2;
    for (;;) {
        if (p >= len) {
            content_page_free(out);
            return err_set(err, "%s:1: front matter is not closed by a '---' line", file);
        }
        size_t nx;
        size_t ln = S_line_end(src, len, p, &nx);
        if (S_is_fence(src + p, ln, 1))
            break;
        p = nx;
        line++;
    }
    size_t fm_end = p;
    S_line_end(src, len, p, &next);
    out->body_offset = next;
    out->body_line = line + 1;
    cJSON *lines = NULL;
    cJSON *fm = config_yaml_to_json_lines(file, 2, src + fm_start, fm_end - fm_start,
                                          &lines, err);
    if (!fm) {
        content_page_free(out);
        return -1;
    }
    S_fm f = {file, lines, 2, err};
    int rc = S_fields(&f, fm, out);
    cJSON_Delete(fm);
    cJSON_Delete(lines);
    if (rc != 0)
        content_page_free(out);
    else
        S_pack(out);
    return rc;
}

cJSON *content_no_params(void)
{
    static cJSON none = {.type = cJSON_Object};
    return &none;
}

int content_in_blk(const content_page *p, const void *s)
{
    const char *c = s;
    return p->blk && c >= p->blk && c < p->blk + p->blklen;
}

void content_str_free(const content_page *p, char *s)
{
    if (s && !content_in_blk(p, s))
        free(s);
}

static void S_strv_free(const content_page *p, char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        content_str_free(p, v[i]);
    content_str_free(p, (char *)v);
}

static int S_strv_copy(char **from, size_t n, char ***to)
{
    *to = calloc(n ? n : 1, sizeof **to);
    for (size_t i = 0; *to && i < n; i++)
        if (!((*to)[i] = util_strdup(from[i])))
            return -1;
    return *to ? 0 : -1;
}

static int S_strcopy(const char *from, char **to)
{
    *to = from ? util_strdup(from) : NULL;
    return from && !*to ? -1 : 0;
}

int content_page_copy(const content_page *from, content_page *to)
{
    memset(to, 0, sizeof *to);
    to->kind = from->kind;
    to->date = from->date;
    to->lastmod = from->lastmod;
    to->draft = from->draft;
    to->weight = from->weight;
    to->body_offset = from->body_offset;
    to->body_line = from->body_line;
    to->ntags = from->ntags;
    to->naliases = from->naliases;
    int rc = S_strcopy(from->file, &to->file) || S_strcopy(from->section, &to->section) ||
             S_strcopy(from->title, &to->title) || S_strcopy(from->slug, &to->slug) ||
             S_strcopy(from->layout, &to->layout) || S_strcopy(from->summary, &to->summary) ||
             S_strcopy(from->warnings, &to->warnings) ||
             S_strv_copy(from->tags, from->ntags, &to->tags) ||
             S_strv_copy(from->aliases, from->naliases, &to->aliases) ||
             !(to->params = from->params == content_no_params()
                                ? content_no_params()
                                : cJSON_Duplicate(from->params, 1));
    if (rc != 0) {
        if (!to->tags)
            to->ntags = 0;
        if (!to->aliases)
            to->naliases = 0;
        content_page_free(to);
        return -1;
    }
    return 0;
}

void content_page_free(content_page *p)
{
    if (!p)
        return;
    content_str_free(p, p->file);
    content_str_free(p, p->section);
    content_str_free(p, p->title);
    content_str_free(p, p->slug);
    content_str_free(p, p->layout);
    content_str_free(p, p->summary);
    S_strv_free(p, p->tags, p->ntags);
    S_strv_free(p, p->aliases, p->naliases);
    if (p->params != content_no_params())
        cJSON_Delete(p->params);
    content_str_free(p, p->warnings);
    free(p->blk);
    memset(p, 0, sizeof *p);
}

/* ---- Markdown -------------------------------------------------------- */

/* cmark allocates every node, string and buffer on its own; over a build
 * that is most of its time. It takes an allocator, so each thread gives it
 * a bump arena that is emptied after each document. Like cmark's own
 * allocator, this one aborts when memory runs out: cmark cannot take NULL. */
#define S_CHUNK (256 * 1024)

typedef struct S_chunk {
    struct S_chunk *next;
    size_t cap, used, pad;
    char data[];
} S_chunk;

static _Thread_local S_chunk *S_arena;
static _Thread_local char *S_last; /* the newest allocation: realloc grows it in place */
static pthread_key_t S_arena_key;
static pthread_once_t S_arena_once = PTHREAD_ONCE_INIT;

static void S_arena_free_list(void *head)
{
    for (S_chunk *c = head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
}

static void S_arena_key_make(void)
{
    /* frees a worker thread's arena when the thread ends */
    if (pthread_key_create(&S_arena_key, S_arena_free_list) != 0)
        abort();
}

static size_t S_round(size_t n)
{
    return (n + 16 + 15) & ~(size_t)15; /* a 16-byte header holds the size */
}

/* A new chunk for need bytes; apart, so that the common case above it
 * stays a leaf function (cmark allocates millions of times a build). */
static __attribute__((noinline)) void S_arena_grow(size_t need)
{
    size_t cap = need > S_CHUNK ? need : S_CHUNK;
    S_chunk *c = malloc(sizeof *c + cap);
    if (!c)
        abort();
    c->next = S_arena;
    c->cap = cap;
    c->used = 0;
    S_arena = c;
    pthread_once(&S_arena_once, S_arena_key_make);
    pthread_setspecific(S_arena_key, S_arena);
}

static void *S_arena_alloc(size_t size)
{
    if (size > ((size_t)-1) / 2)
        abort();
    size_t need = S_round(size);
    if (!S_arena || S_arena->used + need > S_arena->cap)
        S_arena_grow(need);
    char *p = S_arena->data + S_arena->used;
    S_arena->used += need;
    memcpy(p, &size, sizeof size);
    S_last = p + 16;
    return S_last;
}

static void *S_arena_calloc(size_t n, size_t size)
{
    if (size && n > ((size_t)-1) / 2 / size)
        abort();
    void *p = S_arena_alloc(n * size);
    memset(p, 0, n * size);
    return p;
}

static void *S_arena_realloc(void *ptr, size_t size)
{
    if (!ptr)
        return S_arena_alloc(size);
    size_t old;
    memcpy(&old, (char *)ptr - 16, sizeof old);
    if ((char *)ptr == S_last) {
        size_t start = (size_t)((char *)ptr - 16 - S_arena->data);
        if (start + S_round(size) <= S_arena->cap) {
            S_arena->used = start + S_round(size);
            memcpy((char *)ptr - 16, &size, sizeof size);
            return ptr;
        }
    }
    void *p = S_arena_alloc(size);
    memcpy(p, ptr, old < size ? old : size);
    return p;
}

static void S_arena_free(void *ptr)
{
    (void)ptr; /* everything goes at once in S_arena_reset */
}

static int S_in_arena(const void *p)
{
    for (const S_chunk *c = S_arena; c; c = c->next)
        if ((const char *)p >= c->data && (const char *)p < c->data + c->cap)
            return 1;
    return 0;
}

/* Keeps one standard chunk for the next document. */
static void S_arena_reset(void)
{
    S_chunk *keep = NULL, *c = S_arena;
    while (c) {
        S_chunk *n = c->next;
        if (!keep && c->cap == S_CHUNK) {
            keep = c;
            keep->next = NULL;
        } else {
            free(c);
        }
        c = n;
    }
    if (keep)
        keep->used = 0;
    S_arena = keep;
    S_last = NULL;
    pthread_setspecific(S_arena_key, S_arena);
}

static cmark_mem S_mem = {S_arena_calloc, S_arena_realloc, S_arena_free};

static int S_count_words(const char *s, int in_word_before, int *words)
{
    int in = in_word_before;
    for (; *s; s++) {
        int space = *s == ' ' || *s == '\n' || *s == '\t' || *s == '\r';
        if (!space && !in)
            (*words)++;
        in = !space;
    }
    return in;
}

/* Plain text of a paragraph: text and code literals, breaks as spaces. */
static char *S_plain(cmark_node *para)
{
    buf b = BUF_INIT;
    cmark_iter *it = cmark_iter_new(para);
    if (!it)
        return NULL;
    cmark_event_type ev;
    int ok = 0;
    while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        if (ev != CMARK_EVENT_ENTER)
            continue;
        cmark_node *n = cmark_iter_get_node(it);
        switch (cmark_node_get_type(n)) {
        case CMARK_NODE_TEXT:
        case CMARK_NODE_CODE:
            ok |= buf_puts(&b, cmark_node_get_literal(n));
            break;
        case CMARK_NODE_SOFTBREAK:
        case CMARK_NODE_LINEBREAK:
            ok |= buf_putc(&b, ' ');
            break;
        default:
            break;
        }
    }
    cmark_iter_free(it);
    if (ok != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

/* "LINE\tURL\n" for a link or image node. */
static int S_add_link(buf *b, cmark_node *n)
{
    const char *url = cmark_node_get_url(n);
    if (!url || !*url)
        return 0;
    /* a hundred thousand links a build: the line number without printf */
    char num[16], *p = num + sizeof num;
    unsigned line = (unsigned)cmark_node_get_start_line(n);
    *--p = '\t';
    do {
        *--p = (char)('0' + line % 10);
        line /= 10;
    } while (line);
    return buf_add(b, p, (size_t)(num + sizeof num - p)) || buf_puts(b, url) ||
           buf_putc(b, '\n');
}

char *content_render(const char *md, size_t len, size_t *outlen, int *words,
                     char **summary)
{
    return content_render_links(md, len, outlen, words, summary, NULL);
}

char *content_render_links(const char *md, size_t len, size_t *outlen, int *words,
                           char **summary, char **links)
{
    buf lb = BUF_INIT;
    int lfail = 0;
    if (links)
        *links = NULL;
    if (summary)
        *summary = NULL;
    if (words)
        *words = 0;
    cmark_parser *parser = cmark_parser_new_with_mem(CMARK_OPT_UNSAFE, &S_mem);
    cmark_parser_feed(parser, md, len);
    cmark_node *doc = cmark_parser_finish(parser);
    cmark_parser_free(parser);
    if (!doc) {
        S_arena_reset();
        return NULL;
    }
    if (words || summary || links) {
        cmark_iter *it = cmark_iter_new(doc);
        cmark_event_type ev;
        int in = 0;
        while (it && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
            if (ev != CMARK_EVENT_ENTER)
                continue;
            cmark_node *n = cmark_iter_get_node(it);
            switch (cmark_node_get_type(n)) {
            case CMARK_NODE_TEXT:
            case CMARK_NODE_CODE:
            case CMARK_NODE_CODE_BLOCK:
                if (words)
                    in = S_count_words(cmark_node_get_literal(n), in, words);
                break;
            case CMARK_NODE_PARAGRAPH:
                if (summary && !*summary)
                    *summary = S_plain(n);
                in = 0;
                break;
            case CMARK_NODE_SOFTBREAK:
            case CMARK_NODE_LINEBREAK:
                in = 0;
                break;
            case CMARK_NODE_LINK:
            case CMARK_NODE_IMAGE:
                if (links && S_add_link(&lb, n) != 0)
                    lfail = 1;
                break;
            default:
                if (cmark_node_get_type(n) <= CMARK_NODE_LAST_BLOCK)
                    in = 0; /* a block boundary ends a word; emphasis does not */
                break;
            }
        }
        cmark_iter_free(it);
    }
    char *out = cmark_render_html(doc, CMARK_OPT_UNSAFE);
    /* no cmark_node_free: the tree is all in the arena, which goes next */
    char *html = out;
    if (out && S_in_arena(out)) {
        html = util_strdup(out); /* the caller frees it with free() */
    }
    S_arena_reset();
    /* copied at its length: a site keeps every page's links until the end */
    if (html && links && (lfail || !(*links = util_strndup(lb.ptr ? lb.ptr : "", lb.len)))) {
        free(html);
        html = NULL;
    }
    buf_free(&lb);
    if (!html && summary) {
        free(*summary);
        *summary = NULL;
    }
    if (html && outlen)
        *outlen = strlen(html);
    return html;
}

int content_reading_minutes(int words)
{
    /* 200 words a minute, rounded up: a common reading-speed estimate. */
    int m = (words + 199) / 200;
    return m < 1 ? 1 : m;
}
