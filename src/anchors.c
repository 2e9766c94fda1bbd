/* anchors — see anchors.h. */
#include <stdlib.h>
#include <string.h>

#include "anchors.h"

#define S_ID_MAX 200

int anchors_has(const char *lines, const char *id, size_t len)
{
    for (const char *l = lines; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        if (l[0] == '#' && n == len + 1 && !memcmp(l + 1, id, len))
            return 1;
        l += n + (nl ? 1 : 0);
    }
    return 0;
}

/* The value of each id="..." or id='...' attribute (a space before it) in
 * [p, end), handed to fn. */
static int S_each_id(const char *p, const char *end, int (*fn)(void *, const char *, size_t),
                     void *ud)
{
    if (end - p < 5)
        return 0;
    /* '=' is rare in a page's text, so memchr finds the attributes fast */
    for (p += 3; p + 1 < end; p++) {
        const char *eq = memchr(p, '=', (size_t)(end - p - 1));
        if (!eq)
            break;
        p = eq - 3;
        if (!((p[0] == ' ' || p[0] == '\n' || p[0] == '\t') && p[1] == 'i' && p[2] == 'd' &&
              (p[4] == '"' || p[4] == '\''))) {
            p = eq;
            continue;
        }
        const char *v = p + 5, *q = memchr(v, p[4], (size_t)(end - v));
        if (!q)
            break;
        if (q > v && q - v <= S_ID_MAX && fn(ud, v, (size_t)(q - v)) != 0)
            return -1;
        p = q;
    }
    return 0;
}

static int S_put_id(void *ud, const char *id, size_t n)
{
    buf *b = ud;
    if (memmem(id, n, "{{", 2) || anchors_has(b->ptr, id, n))
        return 0; /* made by the template at render time; or known */
    return buf_putc(b, '#') || buf_add(b, id, n) || buf_putc(b, '\n') ? -1 : 0;
}

int anchors_scan(const char *src, size_t len, buf *ids)
{
    return S_each_id(src, src + len, S_put_id, ids);
}

/* A heading's text as a reader sees it: tags dropped, cmark's entities
 * (&amp; &lt; &gt; &quot;) read back, so that "A &amp; B" is "a-b". */
static char *S_heading_text(const char *p, size_t n)
{
    static const struct { const char *ent; char c; } ents[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}};
    char *t = malloc(n + 1);
    if (!t)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '<') {
            const char *gt = memchr(p + i, '>', n - i);
            if (!gt)
                break;
            i = (size_t)(gt - p);
            continue;
        }
        size_t k = 0;
        if (p[i] == '&')
            for (; k < sizeof ents / sizeof *ents; k++)
                if (!strncmp(p + i, ents[k].ent, strlen(ents[k].ent)) &&
                    strlen(ents[k].ent) <= n - i)
                    break;
        if (p[i] == '&' && k < sizeof ents / sizeof *ents) {
            t[o++] = ents[k].c;
            i += strlen(ents[k].ent) - 1;
        } else {
            t[o++] = p[i];
        }
    }
    t[o] = '\0';
    return t;
}

/* The first <hN> (no attributes: a Markdown heading) at or after p. */
static const char *S_next_heading(const char *p, const char *end)
{
    while (p + 4 <= end) {
        const char *h = memchr(p, '<', (size_t)(end - p - 3));
        if (!h)
            return NULL;
        if (h[1] == 'h' && h[2] >= '1' && h[2] <= '6' && h[3] == '>')
            return h;
        p = h + 1;
    }
    return NULL;
}

/* A heading's id: its slug, made unique among the page's ids. */
static int S_heading_id(const char *inner, size_t n, buf *known, buf *id)
{
    char *text = S_heading_text(inner, n);
    char *slug = text ? util_slugify(text) : NULL;
    free(text);
    if (!slug)
        return -1;
    size_t sl = strnlen(slug, S_ID_MAX);
    int rc = buf_add(id, *slug ? slug : "section", *slug ? sl : 7);
    free(slug);
    size_t base = id->len;
    for (int k = 1; rc == 0 && anchors_has(known->ptr, id->ptr, id->len); k++) {
        id->len = base;
        rc = buf_printf(id, "-%d", k);
    }
    return rc || S_put_id(known, id->ptr, id->len);
}

int anchors_add(const char *html, size_t len, char **out, size_t *outlen, buf *ids)
{
    buf o = BUF_INIT, known = BUF_INIT, id = BUF_INIT;
    const char *end = html + len, *p = html;
    *out = NULL;
    const char *h = S_next_heading(html, end);
    if (!h && !ids)
        return 0; /* nothing to add, nothing asked */
    int rc = S_each_id(html, end, S_put_id, &known);
    for (; rc == 0 && h; h = S_next_heading(p, end)) {
        char close[6] = {'<', '/', 'h', h[2], '>', '\0'};
        const char *c = memmem(h + 4, (size_t)(end - h - 4), close, 5);
        if (!c) {
            rc = buf_add(&o, p, (size_t)(h + 2 - p));
            p = h + 2;
            continue;
        }
        buf_reset(&id);
        rc = buf_add(&o, p, (size_t)(h - p)) || S_heading_id(h + 4, (size_t)(c - h - 4), &known, &id) ||
             buf_printf(&o, "<h%c id=\"", h[2]) || buf_add_html(&o, id.ptr, id.len) ||
             buf_puts(&o, "\">");
        p = h + 4;
    }
    if (rc == 0 && o.ptr)
        rc = buf_add(&o, p, (size_t)(end - p));
    if (rc == 0 && ids)
        rc = buf_add(ids, known.ptr ? known.ptr : "", known.len);
    buf_free(&known);
    buf_free(&id);
    if (rc != 0) {
        buf_free(&o);
        return -1;
    }
    if (o.ptr)
        *out = buf_detach(&o, outlen);
    return 0;
}
