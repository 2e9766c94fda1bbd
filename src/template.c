/* template — Mustache compiled once into a flat op array, rendered over
 * cJSON values without re-parsing.
 *
 * Compiling happens in four passes over the source: tokenize (tags and the
 * text between them, honouring set-delimiter tags), match (pair every open
 * tag with its close), standalone (decide which tags own their whole line,
 * including the block/parent pairs of the inheritance spec) and emit (text
 * spans, trimmed and de-indented, plus one op per tag that does something).
 *
 * Indentation of standalone partials, parents and blocks is applied at
 * render time: each rendering frame has an indent string and a "pending"
 * flag says that the next byte written starts a line of template text. */
#include "template.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_MAX_PARTIAL_DEPTH 64  /* partials and parents inside each other */
#define S_MAX_RUN_DEPTH 512     /* every nested section, block and partial */
/* Work and output of one render. Depth limits alone leave room for
 * exponential work: a partial that includes itself inside a loop over n
 * items, or sections nested k deep over one list, run n^depth times and
 * would hang a build. A page listing 20,000 pages through a card partial
 * with a loop over tags takes about 100,000 steps. */
#define S_MAX_STEPS 1000000u    /* sections, items, blocks and partials run */
#define S_MAX_OUTPUT ((size_t)32 * 1024 * 1024)
/* Context levels looked through by name lookups. Steps alone leave a name
 * looked up at the bottom of 500 nested sections, a million times, free:
 * minutes of work from a 3 KB template. That 20,000-page list takes about
 * 3 million. */
#define S_MAX_PROBES 4000000u
#define S_MAX_NEST 128          /* open tags inside one template */
#define S_MAX_DELIM 16
#define S_MAX_INDENT 4096
#define S_RESOLVE_CACHE 32
#define S_MAX_DIR_DEPTH 16
#define S_NONE UINT32_MAX

enum { OP_TEXT, OP_VAR, OP_RAW, OP_SECTION, OP_INVERTED, OP_PARTIAL,
       OP_PARENT, OP_BLOCK };
enum { F_STANDALONE = 1, F_DYNAMIC = 2 };

/* One instruction. TEXT: a = offset into src, b = length. VAR, RAW,
 * SECTION, INVERTED and dynamic PARTIAL/PARENT: a = first name piece,
 * npieces pieces (0 = "."). Static PARTIAL/PARENT and BLOCK: a = offset of
 * the name in pool. end = index of the op after this one's body. ioff/ilen:
 * the indentation a standalone partial, parent or block adds. */
typedef struct S_op {
    uint8_t kind;
    uint8_t flags;
    uint16_t npieces;
    uint32_t a, b;
    uint32_t end;
    uint32_t ioff, ilen;
    uint32_t line;
} S_op;

struct tpl {
    char *name;
    char *src;          /* owned copy of the source, NUL-terminated */
    size_t len;
    S_op *ops;
    uint32_t nops;
    char *pool;         /* NUL-terminated names and name pieces */
    uint32_t *pieces;   /* offsets into pool */
};

/* ---- compiling ------------------------------------------------------ */

enum { T_TEXT, T_VAR, T_RAW, T_SECTION, T_INVERTED, T_CLOSE, T_COMMENT,
       T_PARTIAL, T_DELIM, T_PARENT, T_BLOCK };

typedef struct S_tok {
    uint8_t kind;
    uint8_t dyn;      /* {{>*name}}: the name is looked up in the context */
    uint8_t pre;      /* standalone: drop the whitespace before the tag */
    uint8_t post;     /* 1: drop the rest of the line, 2: all but the newline */
    uint8_t sa_call;  /* standalone partial/parent: leading space indents it */
    uint8_t sa_block; /* standalone block: its content is de-indented */
    uint32_t start, end;  /* the text, or the whole tag with delimiters */
    uint32_t nstart, nlen;
    uint32_t line;
    uint32_t match;   /* open <-> close */
    uint32_t owner;   /* the enclosing open tag */
} S_tok;

typedef struct S_comp {
    const char *name;
    const char *src;
    uint32_t len;
    S_tok *toks;
    uint32_t ntoks, captoks;
    S_op *ops;
    uint32_t nops, capops;
    uint32_t *pieces;
    uint32_t npieces, cappieces;
    buf pool;
    folio_err *err;
} S_comp;

static int S_is_ws(char c) { return c == ' ' || c == '\t'; }

static int S_cerr(S_comp *c, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int S_cerr(S_comp *c, uint32_t line, const char *fmt, ...)
{
    char msg[FOLIO_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(c->err, "%s:%u: %s", c->name, (unsigned)line, msg);
}

/* Grows an array of elem-sized items so that one more fits. */
static int S_reserve(void **arr, uint32_t n, uint32_t *cap, size_t elem)
{
    if (n < *cap)
        return 0;
    uint32_t ncap = *cap ? *cap * 2 : 32;
    if (ncap <= *cap || (size_t)ncap > SIZE_MAX / elem)
        return -1;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

static uint32_t S_count_nl(const char *s, size_t n)
{
    uint32_t k = 0;
    const char *end = s + n;
    while (s < end && (s = memchr(s, '\n', (size_t)(end - s))) != NULL) {
        k++;
        s++;
    }
    return k;
}

static int S_push_tok(S_comp *c, const S_tok *t)
{
    if (S_reserve((void **)&c->toks, c->ntoks, &c->captoks, sizeof *t) != 0)
        return err_set(c->err, "out of memory");
    c->toks[c->ntoks++] = *t;
    return 0;
}

/* The tag's text with its sigil gone and surrounding blanks trimmed. */
static void S_trim(const char *src, uint32_t *s, uint32_t *e)
{
    while (*s < *e && (S_is_ws(src[*s]) || src[*s] == '\n' || src[*s] == '\r'))
        (*s)++;
    while (*e > *s && (S_is_ws(src[*e - 1]) || src[*e - 1] == '\n' ||
                       src[*e - 1] == '\r'))
        (*e)--;
}

static int S_has_space(const char *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (S_is_ws(s[i]) || s[i] == '\n' || s[i] == '\r')
            return 1;
    return 0;
}

/* {{=<% %>=}}: the content between '=' and '='; sets the new delimiters. */
static int S_set_delims(S_comp *c, uint32_t s, uint32_t e, uint32_t line,
                        char *otag, size_t *olen, char *ctag, size_t *clen)
{
    const char *p = c->src + s, *end = c->src + e;
    const char *parts[2];
    size_t lens[2];
    int n = 0;
    while (p < end) {
        while (p < end && (S_is_ws(*p) || *p == '\n' || *p == '\r'))
            p++;
        if (p == end)
            break;
        const char *w = p;
        while (p < end && !S_is_ws(*p) && *p != '\n' && *p != '\r')
            p++;
        if (n == 2)
            return S_cerr(c, line, "set-delimiter tag needs exactly two delimiters");
        parts[n] = w;
        lens[n++] = (size_t)(p - w);
    }
    if (n != 2)
        return S_cerr(c, line, "set-delimiter tag needs exactly two delimiters");
    for (int i = 0; i < 2; i++) {
        if (lens[i] > S_MAX_DELIM || memchr(parts[i], '=', lens[i]))
            return S_cerr(c, line, "bad delimiter '%.*s'", (int)lens[i], parts[i]);
    }
    memcpy(otag, parts[0], lens[0]);
    *olen = lens[0];
    memcpy(ctag, parts[1], lens[1]);
    *clen = lens[1];
    return 0;
}

static int S_tag_kind(char sigil)
{
    switch (sigil) {
    case '#': return T_SECTION;
    case '^': return T_INVERTED;
    case '/': return T_CLOSE;
    case '!': return T_COMMENT;
    case '>': return T_PARTIAL;
    case '<': return T_PARENT;
    case '$': return T_BLOCK;
    case '&': return T_RAW;
    case '{': return T_RAW;
    case '=': return T_DELIM;
    default: return T_VAR;
    }
}

/* Parses the tag that starts at ts (its open delimiter is olen long) into
 * t; *next is where the text after it starts. */
static int S_read_tag(S_comp *c, uint32_t ts, uint32_t line, char *otag,
                      size_t *olen, char *ctag, size_t *clen, S_tok *t,
                      uint32_t *next)
{
    const char *src = c->src;
    uint32_t p = ts + (uint32_t)*olen;
    char sigil = p < c->len ? src[p] : '\0';
    int kind = S_tag_kind(sigil);
    char closer[S_MAX_DELIM + 2];
    size_t closelen = 0;
    if (sigil == '{' || sigil == '=')
        closer[closelen++] = sigil == '{' ? '}' : '=';
    memcpy(closer + closelen, ctag, *clen);
    closelen += *clen;

    uint32_t cs = kind == T_VAR ? p : p + 1;
    if (cs > c->len)
        return S_cerr(c, line, "unclosed tag");
    const char *q = memmem(src + cs, c->len - cs, closer, closelen);
    if (!q)
        return S_cerr(c, line, "unclosed tag '%.*s'", (int)*olen, otag);
    uint32_t ce = (uint32_t)(q - src);

    memset(t, 0, sizeof *t);
    t->kind = (uint8_t)kind;
    t->start = ts;
    t->end = ce + (uint32_t)closelen;
    t->line = line;
    t->match = t->owner = S_NONE;
    *next = t->end;
    if (kind == T_COMMENT)
        return 0;
    if (kind == T_DELIM)
        return S_set_delims(c, cs, ce, line, otag, olen, ctag, clen);

    S_trim(src, &cs, &ce);
    if ((kind == T_PARTIAL || kind == T_PARENT) && cs < ce && src[cs] == '*') {
        t->dyn = 1;
        cs++;
        S_trim(src, &cs, &ce);
    }
    if (cs == ce)
        return S_cerr(c, line, "empty tag name");
    if (S_has_space(src + cs, ce - cs))
        return S_cerr(c, line, "bad tag name '%.*s'", (int)(ce - cs), src + cs);
    t->nstart = cs;
    t->nlen = ce - cs;
    return 0;
}

static int S_tokenize(S_comp *c)
{
    char otag[S_MAX_DELIM] = "{{", ctag[S_MAX_DELIM] = "}}";
    size_t olen = 2, clen = 2;
    uint32_t pos = 0, line = 1;
    while (pos < c->len) {
        const char *o = memmem(c->src + pos, c->len - pos, otag, olen);
        uint32_t ts = o ? (uint32_t)(o - c->src) : c->len;
        if (ts > pos) {
            S_tok t = {.kind = T_TEXT, .start = pos, .end = ts, .line = line,
                       .match = S_NONE, .owner = S_NONE};
            if (S_push_tok(c, &t) != 0)
                return -1;
            line += S_count_nl(c->src + pos, ts - pos);
        }
        if (!o)
            break;
        S_tok t;
        uint32_t next = 0;
        if (S_read_tag(c, ts, line, otag, &olen, ctag, &clen, &t, &next) != 0)
            return -1;
        if (S_push_tok(c, &t) != 0)
            return -1;
        line += S_count_nl(c->src + ts, next - ts);
        pos = next;
    }
    return 0;
}

static int S_is_open(int kind)
{
    return kind == T_SECTION || kind == T_INVERTED || kind == T_PARENT ||
           kind == T_BLOCK;
}

static const char *S_kind_word(int kind)
{
    switch (kind) {
    case T_INVERTED: return "inverted section";
    case T_PARENT: return "parent";
    case T_BLOCK: return "block";
    default: return "section";
    }
}

/* A close tag names its open tag as written, '*' included. */
static int S_close_matches(const S_comp *c, const S_tok *open, const S_tok *close)
{
    const char *cn = c->src + close->nstart;
    uint32_t cl = close->nlen;
    if (open->dyn) {
        if (cl == 0 || cn[0] != '*')
            return 0;
        cn++;
        cl--;
        while (cl && S_is_ws(*cn)) {
            cn++;
            cl--;
        }
    }
    return cl == open->nlen && memcmp(cn, c->src + open->nstart, cl) == 0;
}

static int S_match(S_comp *c)
{
    uint32_t stack[S_MAX_NEST];
    unsigned sp = 0;
    for (uint32_t i = 0; i < c->ntoks; i++) {
        S_tok *t = &c->toks[i];
        t->owner = sp ? stack[sp - 1] : S_NONE;
        if (S_is_open(t->kind)) {
            if (sp == S_MAX_NEST)
                return S_cerr(c, t->line, "sections nested more than %d deep",
                              S_MAX_NEST);
            stack[sp++] = i;
        } else if (t->kind == T_CLOSE) {
            if (sp == 0)
                return S_cerr(c, t->line, "unexpected closing tag '%.*s'",
                              (int)t->nlen, c->src + t->nstart);
            S_tok *o = &c->toks[stack[--sp]];
            if (!S_close_matches(c, o, t))
                return S_cerr(c, t->line,
                              "closing tag '%.*s' does not match %s '%s%.*s' opened on line %u",
                              (int)t->nlen, c->src + t->nstart,
                              S_kind_word(o->kind), o->dyn ? "*" : "",
                              (int)o->nlen, c->src + o->nstart, (unsigned)o->line);
            o->match = i;
            t->match = stack[sp];
            t->owner = o->owner;
        }
    }
    if (sp) {
        const S_tok *o = &c->toks[stack[sp - 1]];
        return S_cerr(c, o->line, "unclosed %s '%s%.*s'", S_kind_word(o->kind),
                      o->dyn ? "*" : "", (int)o->nlen, c->src + o->nstart);
    }
    return 0;
}

/* Only blanks between the start of the line and pos; *ls = line start. */
static int S_blank_before(const S_comp *c, uint32_t pos, uint32_t *ls)
{
    uint32_t k = pos;
    while (k > 0 && S_is_ws(c->src[k - 1]))
        k--;
    *ls = k;
    return k == 0 || c->src[k - 1] == '\n';
}

/* Only blanks between pos and the end of the line (or of the source). */
static int S_blank_after(const S_comp *c, uint32_t pos)
{
    uint32_t k = pos;
    while (k < c->len && S_is_ws(c->src[k]))
        k++;
    return k == c->len || c->src[k] == '\n' ||
           (c->src[k] == '\r' && k + 1 < c->len && c->src[k + 1] == '\n');
}

static int S_standalone_kind(int kind)
{
    return kind != T_TEXT && kind != T_VAR && kind != T_RAW;
}

/* Two adjacent tags alone on a line also own it (inheritance spec):
 * {{$b}}{{/b}}, {{<p}}{{/p}}, {{<p}}{{$first}} and {{/last}}{{/p}}. */
static void S_pair(S_comp *c, uint32_t i)
{
    S_tok *a = &c->toks[i], *b = &c->toks[i + 1];
    uint32_t ls;
    if (a->end != b->start || !S_blank_before(c, a->start, &ls) ||
        !S_blank_after(c, b->end))
        return;
    if (a->kind == T_BLOCK && b->kind == T_CLOSE && a->match == i + 1) {
        a->pre = 1;
        b->post = 2; /* an empty block keeps its line's newline */
        a->sa_block = 1;
    } else if (a->kind == T_PARENT && b->kind == T_CLOSE && a->match == i + 1) {
        a->pre = b->post = 1;
        a->sa_call = 1;
    } else if (a->kind == T_PARENT && b->kind == T_BLOCK && b->owner == i) {
        a->pre = b->post = 1;
        a->sa_call = b->sa_block = 1;
    } else if (a->kind == T_CLOSE && b->kind == T_CLOSE &&
               c->toks[a->match].kind == T_BLOCK &&
               c->toks[b->match].kind == T_PARENT &&
               c->toks[a->match].owner == b->match) {
        a->pre = b->post = 1;
    }
}

static void S_standalone(S_comp *c)
{
    for (uint32_t i = 0; i < c->ntoks; i++) {
        S_tok *t = &c->toks[i];
        if (!S_standalone_kind(t->kind))
            continue;
        uint32_t ls;
        if (S_blank_before(c, t->start, &ls) && S_blank_after(c, t->end)) {
            t->pre = t->post = 1;
            t->sa_call = t->kind == T_PARTIAL || t->kind == T_PARENT;
            t->sa_block = t->kind == T_BLOCK;
        } else if (i + 1 < c->ntoks && S_standalone_kind(c->toks[i + 1].kind)) {
            S_pair(c, i);
        }
    }
}

/* ---- emitting ops --------------------------------------------------- */

enum { M_NORMAL, M_PARENT_BODY, M_SUPPRESSED };

typedef struct S_level {
    uint32_t op;     /* the op this level fills in, or S_NONE */
    uint32_t strip;  /* de-indentation inside it */
    int mode;
} S_level;

static int S_new_op(S_comp *c, int kind, uint32_t line, uint32_t *idx)
{
    if (S_reserve((void **)&c->ops, c->nops, &c->capops, sizeof *c->ops) != 0)
        return err_set(c->err, "out of memory");
    S_op *op = &c->ops[c->nops];
    memset(op, 0, sizeof *op);
    op->kind = (uint8_t)kind;
    op->line = line;
    *idx = c->nops++;
    op->end = c->nops;
    return 0;
}

static int S_pool_add(S_comp *c, const char *s, uint32_t n, uint32_t *off)
{
    if (c->pool.len > UINT32_MAX - n - 1)
        return err_set(c->err, "template too large");
    *off = (uint32_t)c->pool.len;
    if (buf_add(&c->pool, s, n) != 0 || buf_add(&c->pool, "", 1) != 0)
        return err_set(c->err, "out of memory");
    return 0;
}

/* Splits a dotted name into pieces; "." has none. */
static int S_name_pieces(S_comp *c, const S_tok *t, S_op *op)
{
    const char *s = c->src + t->nstart;
    uint32_t n = t->nlen;
    op->a = c->npieces;
    op->npieces = 0;
    if (n == 1 && s[0] == '.')
        return 0;
    uint32_t i = 0;
    for (;;) {
        uint32_t j = i;
        while (j < n && s[j] != '.')
            j++;
        if (j == i || op->npieces == UINT16_MAX)
            return S_cerr(c, t->line, "bad name '%.*s'", (int)n, s);
        uint32_t off;
        if (S_reserve((void **)&c->pieces, c->npieces, &c->cappieces,
                      sizeof *c->pieces) != 0)
            return err_set(c->err, "out of memory");
        if (S_pool_add(c, s + i, j - i, &off) != 0)
            return -1;
        c->pieces[c->npieces++] = off;
        op->npieces++;
        if (j == n)
            return 0;
        i = j + 1;
    }
}

static int S_text_op(S_comp *c, uint32_t a, uint32_t b, uint32_t line)
{
    if (a >= b)
        return 0;
    /* Adjacent spans of the same text merge into one op. */
    if (c->nops && c->ops[c->nops - 1].kind == OP_TEXT &&
        c->ops[c->nops - 1].a + c->ops[c->nops - 1].b == a) {
        c->ops[c->nops - 1].b += b - a;
        return 0;
    }
    uint32_t idx;
    if (S_new_op(c, OP_TEXT, line, &idx) != 0)
        return -1;
    c->ops[idx].a = a;
    c->ops[idx].b = b - a;
    return 0;
}

/* Text token i, less what standalone neighbours own, with strip blanks
 * removed at the start of every line (inside standalone blocks). */
static int S_emit_text(S_comp *c, uint32_t i, uint32_t strip)
{
    const S_tok *t = &c->toks[i];
    const char *src = c->src;
    uint32_t a = t->start, b = t->end;
    if (i > 0 && c->toks[i - 1].post) {
        while (a < b && S_is_ws(src[a]))
            a++;
        if (c->toks[i - 1].post == 1) {
            if (a < b && src[a] == '\r' && a + 1 < b && src[a + 1] == '\n')
                a += 2;
            else if (a < b && src[a] == '\n')
                a++;
        }
    }
    if (i + 1 < c->ntoks && c->toks[i + 1].pre) {
        while (b > a && S_is_ws(src[b - 1]))
            b--;
    }
    if (strip == 0)
        return S_text_op(c, a, b, t->line);
    uint32_t line = t->line;
    while (a < b) {
        if (a == 0 || src[a - 1] == '\n') {
            uint32_t k = 0;
            while (k < strip && a < b && S_is_ws(src[a])) {
                a++;
                k++;
            }
        }
        const char *nl = memchr(src + a, '\n', b - a);
        uint32_t e = nl ? (uint32_t)(nl - src) + 1 : b;
        if (S_text_op(c, a, e, line) != 0)
            return -1;
        line++;
        a = e;
    }
    return 0;
}

/* Start of the text a standalone open tag's content begins with. */
static uint32_t S_after_line(const S_comp *c, uint32_t pos)
{
    while (pos < c->len && S_is_ws(c->src[pos]))
        pos++;
    if (pos < c->len && c->src[pos] == '\r' && pos + 1 < c->len &&
        c->src[pos + 1] == '\n')
        return pos + 2;
    if (pos < c->len && c->src[pos] == '\n')
        return pos + 1;
    return pos;
}

/* The common leading blanks of the non-blank lines in [a, b): *d bytes,
 * the first such line starting at *ref. Returns 0 if all lines are blank. */
static int S_common_indent(const S_comp *c, uint32_t a, uint32_t b,
                           uint32_t *d, uint32_t *ref)
{
    const char *src = c->src;
    int found = 0;
    uint32_t p = a;
    while (p < b) {
        uint32_t w = 0;
        while (p + w < b && S_is_ws(src[p + w]))
            w++;
        uint32_t q = p + w;
        int blank = q >= b || src[q] == '\n' ||
                    (src[q] == '\r' && q + 1 < b && src[q + 1] == '\n');
        if (!blank) {
            if (!found) {
                found = 1;
                *d = w;
                *ref = p;
            } else {
                uint32_t k = 0;
                while (k < *d && k < w && src[*ref + k] == src[p + k])
                    k++;
                *d = k;
            }
        }
        const char *nl = memchr(src + p, '\n', b - p);
        if (!nl)
            break;
        p = (uint32_t)(nl - src) + 1;
    }
    return found;
}

/* Sets a standalone tag's indentation: its leading blanks less strip. */
static void S_indent_before(const S_comp *c, const S_tok *t, uint32_t strip,
                            S_op *op)
{
    uint32_t ls;
    S_blank_before(c, t->start, &ls);
    uint32_t w = t->start - ls;
    uint32_t k = strip < w ? strip : w;
    op->ioff = ls + k;
    op->ilen = w - k;
}

/* A standalone block's content is de-indented by its common indentation;
 * where it is expanded, that indentation (or, for an empty block, the
 * blanks before the tag) is added back. Returns the strip inside it. */
static uint32_t S_block_layout(const S_comp *c, uint32_t i, uint32_t strip,
                               S_op *op)
{
    const S_tok *t = &c->toks[i], *close = &c->toks[t->match];
    uint32_t a = t->post == 1 ? S_after_line(c, t->end) : t->end;
    uint32_t b = close->start, d = 0, ref = 0;
    if (close->pre)
        S_blank_before(c, close->start, &b);
    if (b < a)
        b = a;
    int found = S_common_indent(c, a, b, &d, &ref);
    if (found && d > strip) {
        op->ioff = ref + strip;
        op->ilen = d - strip;
    } else {
        S_indent_before(c, t, strip, op);
    }
    return found && d > strip ? d : strip;
}

static int S_emit_tag(S_comp *c, uint32_t i, S_level *stack, unsigned *sp)
{
    const S_tok *t = &c->toks[i];
    S_level *top = *sp ? &stack[*sp - 1] : NULL;
    int mode = top ? top->mode : M_NORMAL;
    uint32_t strip = top ? top->strip : 0;
    int emit = mode == M_NORMAL || (mode == M_PARENT_BODY && t->kind == T_BLOCK);
    uint32_t idx = S_NONE;

    if (t->kind == T_CLOSE) {
        S_level *l = &stack[--*sp];
        if (l->op != S_NONE)
            c->ops[l->op].end = c->nops;
        return 0;
    }
    if (t->kind == T_COMMENT || t->kind == T_DELIM)
        return 0;
    if (emit) {
        static const uint8_t S_op_of[] = {
            [T_VAR] = OP_VAR, [T_RAW] = OP_RAW, [T_SECTION] = OP_SECTION,
            [T_INVERTED] = OP_INVERTED, [T_PARTIAL] = OP_PARTIAL,
            [T_PARENT] = OP_PARENT, [T_BLOCK] = OP_BLOCK};
        if (S_new_op(c, S_op_of[t->kind], t->line, &idx) != 0)
            return -1;
        S_op *op = &c->ops[idx];
        int dyn_name = t->dyn || t->kind == T_VAR || t->kind == T_RAW ||
                       t->kind == T_SECTION || t->kind == T_INVERTED;
        if (dyn_name) {
            if (S_name_pieces(c, t, op) != 0)
                return -1;
            if (t->dyn)
                op->flags |= F_DYNAMIC;
        } else if (S_pool_add(c, c->src + t->nstart, t->nlen, &op->a) != 0) {
            return -1;
        }
        if (t->sa_call) {
            op->flags |= F_STANDALONE;
            S_indent_before(c, t, strip, op);
        }
    }
    if (!S_is_open(t->kind))
        return 0;
    S_level l = {idx, strip, M_SUPPRESSED};
    if (emit && t->kind == T_PARENT)
        l.mode = M_PARENT_BODY;
    else if (emit)
        l.mode = M_NORMAL;
    if (emit && t->kind == T_BLOCK && t->sa_block) {
        c->ops[idx].flags |= F_STANDALONE;
        l.strip = S_block_layout(c, i, strip, &c->ops[idx]);
    }
    stack[(*sp)++] = l;
    return 0;
}

static int S_emit(S_comp *c)
{
    S_level stack[S_MAX_NEST];
    unsigned sp = 0;
    for (uint32_t i = 0; i < c->ntoks; i++) {
        const S_tok *t = &c->toks[i];
        if (t->kind == T_TEXT) {
            S_level *top = sp ? &stack[sp - 1] : NULL;
            if (top && top->mode != M_NORMAL)
                continue;
            if (S_emit_text(c, i, top ? top->strip : 0) != 0)
                return -1;
        } else if (S_emit_tag(c, i, stack, &sp) != 0) {
            return -1;
        }
    }
    return 0;
}

static tpl *S_compile(const char *name, const char *src, size_t len,
                      folio_err *err)
{
    S_comp c;
    memset(&c, 0, sizeof c);
    c.name = name ? name : "template";
    c.err = err;
    if (len >= UINT32_MAX / 2) {
        err_set(err, "%s: template too large", c.name);
        return NULL;
    }
    tpl *t = calloc(1, sizeof *t);
    if (!t || !(t->src = util_strndup(src ? src : "", len)) ||
        !(t->name = util_strdup(c.name))) {
        err_set(err, "out of memory");
        goto fail;
    }
    t->len = len;
    c.src = t->src;
    c.len = (uint32_t)len;
    if (S_tokenize(&c) != 0 || S_match(&c) != 0)
        goto fail;
    S_standalone(&c);
    if (S_emit(&c) != 0)
        goto fail;
    if (!c.pool.ptr && buf_add(&c.pool, "", 1) != 0) {
        err_set(err, "out of memory");
        goto fail;
    }
    free(c.toks);
    t->ops = c.ops;
    t->nops = c.nops;
    t->pieces = c.pieces;
    t->pool = buf_detach(&c.pool, NULL);
    return t;
fail:
    free(c.toks);
    free(c.ops);
    free(c.pieces);
    buf_free(&c.pool);
    tpl_free(t);
    return NULL;
}

tpl *tpl_compile(const char *name, const char *src, size_t len, folio_err *err)
{
    return S_compile(name, src, len, err);
}

const char *tpl_name(const tpl *t) { return t ? t->name : NULL; }

void tpl_free(tpl *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->src);
    free(t->ops);
    free(t->pool);
    free(t->pieces);
    free(t);
}

/* ---- rendering ------------------------------------------------------ */

typedef struct S_ind {
    uint32_t off, len;  /* into S_state.ind */
} S_ind;

typedef struct S_ctx {
    const cJSON *v;
    const struct S_ctx *up;
} S_ctx;

/* The block arguments in scope: the parent tag whose direct blocks they
 * are, and the indentation of the template that wrote them. */
typedef struct S_env {
    const tpl *t;
    uint32_t op;
    S_ind ind;
    const struct S_env *up;
} S_env;

typedef struct S_state {
    tpl_render_opts opts;
    buf *out;
    folio_err *err;
    int pend;              /* the next byte begins a line of template text */
    unsigned run_depth, partial_depth;
    unsigned steps;        /* S_run calls so far: bounded by S_MAX_STEPS */
    unsigned probes;       /* context levels searched: bounded by max_probes */
    unsigned max_steps, max_probes;
    size_t start;          /* out->len when the render began */
    uint32_t indlen;
    unsigned ncache;
    struct {
        const char *name;
        const cJSON *v;
    } cache[S_RESOLVE_CACHE];
    char ind[S_MAX_INDENT];
} S_state;

static int S_fail(S_state *st, const tpl *t, const S_op *op, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int S_fail(S_state *st, const tpl *t, const S_op *op, const char *fmt, ...)
{
    char msg[FOLIO_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(st->err, "%s:%u: %s", t->name, (unsigned)op->line, msg);
}

static int S_oom(S_state *st) { return err_set(st->err, "out of memory"); }

static int S_flush(S_state *st, S_ind ind)
{
    if (!st->pend)
        return 0;
    st->pend = 0;
    if (ind.len && buf_add(st->out, st->ind + ind.off, ind.len) != 0)
        return S_oom(st);
    return 0;
}

/* Template text: every line it starts gets the frame's indentation. */
static int S_text(S_state *st, S_ind ind, const char *p, size_t n)
{
    if (ind.len == 0) {
        st->pend = 0;
        return buf_add(st->out, p, n) == 0 ? 0 : S_oom(st);
    }
    while (n) {
        if (S_flush(st, ind) != 0)
            return -1;
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) + 1 : n;
        if (buf_add(st->out, p, k) != 0)
            return S_oom(st);
        p += k;
        n -= k;
        if (nl)
            st->pend = 1;
    }
    return 0;
}

static int S_is_object(const cJSON *v)
{
    return v && (v->type & 0xFF) == cJSON_Object;
}

static const cJSON *S_get(const cJSON *obj, const char *key)
{
    for (const cJSON *c = obj->child; c; c = c->next)
        if (c->string && c->string[0] == key[0] && strcmp(c->string, key) == 0)
            return c;
    return NULL;
}

static const cJSON *S_resolve(S_state *st, const char *name)
{
    if (!st->opts.resolver)
        return NULL;
    for (unsigned i = 0; i < st->ncache; i++)
        if (strcmp(st->cache[i].name, name) == 0)
            return st->cache[i].v;
    const cJSON *v = st->opts.resolver(st->opts.resolver_ud, name);
    if (st->ncache < S_RESOLVE_CACHE) {
        st->cache[st->ncache].name = name;
        st->cache[st->ncache++].v = v;
    }
    return v;
}

/* The first piece is looked up through the context stack (then the
 * resolver); the rest only inside what it found. */
static const cJSON *S_lookup(S_state *st, const tpl *t, const S_op *op,
                             const S_ctx *ctx)
{
    if (op->npieces == 0)
        return ctx ? ctx->v : NULL;
    const char *first = t->pool + t->pieces[op->a];
    const cJSON *v = NULL;
    for (const S_ctx *c = ctx; c && !v && st->probes <= st->max_probes; c = c->up) {
        st->probes++;
        if (S_is_object(c->v))
            v = S_get(c->v, first);
    }
    if (!v)
        v = S_resolve(st, first);
    for (uint32_t k = 1; v && k < op->npieces; k++)
        v = S_is_object(v) ? S_get(v, t->pool + t->pieces[op->a + k]) : NULL;
    return v;
}

static int S_falsey(const cJSON *v)
{
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v) || cJSON_IsInvalid(v))
        return 1;
    if (cJSON_IsArray(v))
        return v->child == NULL;
    if (cJSON_IsString(v))
        return !v->valuestring || !v->valuestring[0];
    return 0;
}

/* Integers print as integers, anything else with the fewest digits that
 * read back as the same double (1.21 -> "1.21"). */
static size_t S_format_number(double d, char *out, size_t outlen)
{
    int n;
    if (d != d || d > 1e308 || d < -1e308)
        return 0;
    if (d >= -9007199254740992.0 && d <= 9007199254740992.0 &&
        d == (double)(long long)d) {
        /* counts and years, in every list: no printf for those */
        char tmp[24], *p = tmp + sizeof tmp;
        long long v = (long long)d;
        unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            *--p = '-';
        n = (int)(tmp + sizeof tmp - p);
        if ((size_t)n >= outlen)
            return 0;
        memcpy(out, p, (size_t)n);
        out[n] = '\0';
    } else {
        n = snprintf(out, outlen, "%.15g", d);
        if (n > 0 && strtod(out, NULL) != d)
            n = snprintf(out, outlen, "%.17g", d);
    }
    return n > 0 && (size_t)n < outlen ? (size_t)n : 0;
}

static int S_var(S_state *st, const tpl *t, const S_op *op, const S_ctx *ctx,
                 S_ind ind)
{
    const cJSON *v = S_lookup(st, t, op, ctx);
    char num[64];
    const char *s;
    size_t n;
    if (!v)
        return 0;
    if (cJSON_IsString(v) && v->valuestring) {
        s = v->valuestring;
        n = strlen(s);
    } else if (cJSON_IsNumber(v)) {
        s = num;
        n = S_format_number(v->valuedouble, num, sizeof num);
    } else if (cJSON_IsBool(v)) {
        s = cJSON_IsTrue(v) ? "true" : "false";
        n = strlen(s);
    } else {
        return 0;
    }
    if (n == 0)
        return 0;
    if (S_flush(st, ind) != 0)
        return -1;
    int rc = op->kind == OP_RAW || st->opts.text ? buf_add(st->out, s, n)
                                                 : buf_add_html(st->out, s, n);
    return rc == 0 ? 0 : S_oom(st);
}

/* The indentation of a frame nested in ind, with w added. */
static int S_push_ind(S_state *st, S_ind ind, const char *w, uint32_t wlen,
                      S_ind *out)
{
    /* Usually ind is the latest indentation pushed and w just extends it;
     * otherwise (inside a block argument) it is copied first. */
    int extend = ind.off + ind.len == st->indlen;
    uint32_t need = extend ? wlen : ind.len + wlen;
    if (need > S_MAX_INDENT - st->indlen)
        return err_set(st->err, "indentation of nested partials too deep");
    if (!extend) {
        memcpy(st->ind + st->indlen, st->ind + ind.off, ind.len);
        ind.off = st->indlen;
        st->indlen += ind.len;
    }
    memcpy(st->ind + st->indlen, w, wlen);
    st->indlen += wlen;
    out->off = ind.off;
    out->len = ind.len + wlen;
    return 0;
}

static int S_run(S_state *st, const tpl *t, uint32_t i, uint32_t end,
                 const S_ctx *ctx, const S_env *env, S_ind ind);

/* Enters a nested frame: a standalone tag indents every line of what it
 * expands; an inline one settles the current line's indentation first. */
static int S_enter(S_state *st, const tpl *t, const S_op *op, S_ind ind,
                   S_ind inline_ind, S_ind *out)
{
    if (op->flags & F_STANDALONE) {
        if (S_push_ind(st, ind, t->src + op->ioff, op->ilen, out) != 0)
            return -1;
        st->pend = 1;
        return 0;
    }
    *out = inline_ind;
    return S_flush(st, ind);
}

/* {{>name}} and {{<name}}...{{/name}}: env is the block scope to use. */
static int S_partial(S_state *st, const tpl *t, const S_op *op,
                     const S_ctx *ctx, const S_env *env, S_ind ind)
{
    const char *name = t->pool + op->a;
    if (op->flags & F_DYNAMIC) {
        const cJSON *v = S_lookup(st, t, op, ctx);
        if (!cJSON_IsString(v) || !v->valuestring)
            return 0;
        name = v->valuestring;
    }
    if (!st->opts.loader)
        return 0;
    if (st->partial_depth >= S_MAX_PARTIAL_DEPTH)
        return S_fail(st, t, op, "partials nested more than %d deep at '%s' "
                      "(does it include itself?)", S_MAX_PARTIAL_DEPTH, name);
    st->err->msg[0] = '\0';
    const tpl *p = st->opts.loader(st->opts.loader_ud, name, st->err);
    if (!p) {
        if (st->err->msg[0])
            return err_prefix(st->err, "%s:%u", t->name, (unsigned)op->line);
        return 0;
    }
    uint32_t saved = st->indlen;
    S_ind nind;
    S_ind none = {0, 0};
    if (S_enter(st, t, op, ind, none, &nind) != 0)
        return -1;
    st->partial_depth++;
    int rc = S_run(st, p, 0, p->nops, ctx, env, nind);
    st->partial_depth--;
    st->indlen = saved;
    return rc;
}

/* {{$name}}: the outermost argument for it in scope, else its default. */
static int S_block(S_state *st, const tpl *t, uint32_t i, const S_ctx *ctx,
                   const S_env *env, S_ind ind)
{
    const S_op *op = &t->ops[i];
    const char *name = t->pool + op->a;
    const tpl *bt = t;
    uint32_t b0 = i + 1, b1 = op->end;
    S_ind bind = ind;
    for (const S_env *e = env; e; e = e->up) {
        const S_op *ops = e->t->ops;
        for (uint32_t j = e->op + 1; j < ops[e->op].end; j = ops[j].end) {
            if (ops[j].kind == OP_BLOCK && strcmp(e->t->pool + ops[j].a, name) == 0) {
                bt = e->t;
                b0 = j + 1;
                b1 = ops[j].end;
                bind = e->ind;
            }
        }
    }
    uint32_t saved = st->indlen;
    S_ind nind;
    if (S_enter(st, t, op, ind, bind, &nind) != 0)
        return -1;
    int rc = S_run(st, bt, b0, b1, ctx, env, nind);
    st->indlen = saved;
    return rc;
}

static int S_section(S_state *st, const tpl *t, uint32_t i, const S_ctx *ctx,
                     const S_env *env, S_ind ind)
{
    const S_op *op = &t->ops[i];
    const cJSON *v = S_lookup(st, t, op, ctx);
    if (op->kind == OP_INVERTED)
        return S_falsey(v) ? S_run(st, t, i + 1, op->end, ctx, env, ind) : 0;
    if (S_falsey(v))
        return 0;
    if (!cJSON_IsArray(v)) {
        S_ctx c = {v, ctx};
        return S_run(st, t, i + 1, op->end, &c, env, ind);
    }
    for (const cJSON *item = v->child; item; item = item->next) {
        S_ctx c = {item, ctx};
        if (S_run(st, t, i + 1, op->end, &c, env, ind) != 0)
            return -1;
    }
    return 0;
}

static int S_run(S_state *st, const tpl *t, uint32_t i, uint32_t end,
                 const S_ctx *ctx, const S_env *env, S_ind ind)
{
    if (i >= end)
        return 0;
    if (st->run_depth >= S_MAX_RUN_DEPTH)
        return S_fail(st, t, &t->ops[i], "templates nested more than %d deep",
                      S_MAX_RUN_DEPTH);
    if (++st->steps > st->max_steps)
        return S_fail(st, t, &t->ops[i], "too much work: over %u sections, items "
                      "and partials rendered (a partial inside a loop including "
                      "itself?)", st->max_steps);
    if (st->probes > st->max_probes)
        return S_fail(st, t, &t->ops[i], "too much work: over %u names looked up "
                      "through the sections around them", st->max_probes);
    if (st->out->len - st->start > S_MAX_OUTPUT)
        return S_fail(st, t, &t->ops[i], "too much work: the page is over %zu MiB",
                      S_MAX_OUTPUT >> 20);
    st->run_depth++;
    int rc = 0;
    while (i < end && rc == 0) {
        const S_op *op = &t->ops[i];
        switch (op->kind) {
        case OP_TEXT:
            rc = S_text(st, ind, t->src + op->a, op->b);
            break;
        case OP_VAR:
        case OP_RAW:
            rc = S_var(st, t, op, ctx, ind);
            break;
        case OP_SECTION:
        case OP_INVERTED:
            rc = S_section(st, t, i, ctx, env, ind);
            break;
        case OP_PARTIAL:
            rc = S_partial(st, t, op, ctx, env, ind);
            break;
        case OP_PARENT: {
            S_env e = {t, i, ind, env};
            rc = S_partial(st, t, op, ctx, &e, ind);
            break;
        }
        case OP_BLOCK:
            rc = S_block(st, t, i, ctx, env, ind);
            break;
        }
        i = op->end;
    }
    st->run_depth--;
    return rc;
}

int tpl_render(const tpl *t, const cJSON *ctx, const tpl_render_opts *opts,
               buf *out, folio_err *err)
{
    if (!t || !out)
        return err_set(err, "tpl_render: no template or no output");
    S_state state, *st = &state;
    folio_err e;
    e.msg[0] = '\0';
    memset(st, 0, offsetof(S_state, ind));
    if (opts)
        st->opts = *opts;
    st->max_steps = S_MAX_STEPS;
    st->max_probes = S_MAX_PROBES;
    if (opts && opts->max_steps && opts->max_steps < S_MAX_STEPS)
        st->max_steps = opts->max_steps;
    if (opts && opts->max_probes && opts->max_probes < S_MAX_PROBES)
        st->max_probes = opts->max_probes;
    st->out = out;
    st->err = &e;
    size_t start = out->len;
    st->start = start;
    S_ctx root = {ctx, NULL};
    int rc = S_run(st, t, 0, t->nops, ctx ? &root : NULL, NULL, (S_ind){0, 0});
    /* lookups past the limit found nothing: never hand out that page */
    if (rc == 0 && st->probes > st->max_probes) {
        snprintf(e.msg, sizeof e.msg, "%s: too much work: over %u names looked up "
                 "through the sections around them", t->name, st->max_probes);
        rc = -1;
    }
    if (rc != 0) {
        if (out->ptr) {
            out->len = start;
            out->ptr[start] = '\0';
        }
        if (err)
            memcpy(err->msg, e.msg, sizeof e.msg);
        return -1;
    }
    return 0;
}

/* ---- template sets -------------------------------------------------- */

typedef struct S_entry {
    char *name;
    tpl *t;
} S_entry;

struct tpl_set {
    S_entry *items;
    uint32_t n, cap;
    uint32_t shadow; /* items[0..shadow): earlier folders' names, sorted; they win */
};

static int S_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const S_entry *)a)->name, ((const S_entry *)b)->name);
}

static int S_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && memcmp(s + n - k, suffix, k) == 0;
}

static int S_set_add_file(tpl_set *s, const char *path, const char *rel,
                          folio_err *err)
{
    char *text;
    size_t len;
    if (s->shadow) {
        char key[4096];
        snprintf(key, sizeof key, "%.*s", (int)(strlen(rel) - strlen(".mustache")), rel);
        S_entry k = {key, NULL};
        if (bsearch(&k, s->items, s->shadow, sizeof *s->items, S_entry_cmp))
            return 0; /* overridden by an earlier folder */
    }
    if (util_read_file(path, &text, &len, err) != 0)
        return -1;
    tpl *t = S_compile(path, text, len, err);
    free(text);
    if (!t)
        return -1;
    char *name = util_strndup(rel, strlen(rel) - strlen(".mustache"));
    if (!name || S_reserve((void **)&s->items, s->n, &s->cap, sizeof *s->items) != 0) {
        free(name);
        tpl_free(t);
        return err_set(err, "out of memory");
    }
    free(t->name);
    t->name = name;
    s->items[s->n].name = name;
    s->items[s->n++].t = t;
    return 0;
}

static int S_set_walk(tpl_set *s, const char *root, const char *rel,
                      int depth, folio_err *err)
{
    char dir[4096];
    if (util_path(dir, sizeof dir, err, "%s%s%s", root, rel[0] ? "/" : "", rel) != 0)
        return -1;
    if (depth > S_MAX_DIR_DEPTH)
        return err_set(err, "%s: directories nested too deep", dir);
    DIR *d = opendir(dir);
    if (!d)
        return err_set(err, "%s: %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096], crel[4096];
        struct stat sb;
        if (util_path(path, sizeof path, err, "%s/%s", dir, de->d_name) != 0 ||
            util_path(crel, sizeof crel, err, "%s%s%s", rel, rel[0] ? "/" : "",
                      de->d_name) != 0) {
            rc = -1;
            break;
        }
        if (stat(path, &sb) != 0) {
            rc = err_set(err, "%s: %s", path, strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            rc = S_set_walk(s, root, crel, depth + 1, err);
        } else if (S_ISREG(sb.st_mode) && S_ends_with(de->d_name, ".mustache")) {
            rc = S_set_add_file(s, path, crel, err);
        }
    }
    closedir(d);
    return rc;
}

tpl_set *tpl_set_load(const char *dir, folio_err *err)
{
    tpl_set *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(err, "out of memory");
        return NULL;
    }
    if (S_set_walk(s, dir, "", 0, err) != 0) {
        tpl_set_free(s);
        return NULL;
    }
    if (s->n)
        qsort(s->items, s->n, sizeof *s->items, S_entry_cmp);
    return s;
}

tpl_set *tpl_set_load_dirs(const char *const *dirs, size_t n, folio_err *err)
{
    tpl_set *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(err, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (S_set_walk(s, dirs[i], "", 0, err) != 0) {
            tpl_set_free(s);
            return NULL;
        }
        if (s->n)
            qsort(s->items, s->n, sizeof *s->items, S_entry_cmp);
        s->shadow = s->n;
    }
    return s;
}

const tpl *tpl_set_get(const tpl_set *s, const char *name)
{
    if (!s || !name || !s->n)
        return NULL;
    S_entry key = {(char *)name, NULL};
    const S_entry *e = bsearch(&key, s->items, s->n, sizeof *s->items, S_entry_cmp);
    return e ? e->t : NULL;
}

const tpl *tpl_set_loader(void *ud, const char *name, folio_err *err)
{
    const tpl *t = tpl_set_get(ud, name);
    if (!t)
        err_set(err, "no template '%s'", name);
    return t;
}

void tpl_set_free(tpl_set *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->n; i++)
        tpl_free(s->items[i].t); /* the name is the tpl's own */
    free(s->items);
    free(s);
}
