/* forms — decoding visitor request bodies into the fields of a form.
 *
 * Decisions worth knowing (the header has the contract):
 * - urlencoded: an empty pair ("a=1&&b=2", a leading or trailing '&') is
 *   skipped, as browsers and the WHATWG parser do; it carries no field. A
 *   name without '=' is that field with an empty value. Names are
 *   percent-decoded too, so "e%6Dail" is "email". ';' is not a separator.
 * - JSON: the body must be exactly one object (whitespace around it is
 *   allowed), every value a string. An empty JSON body is refused: unlike
 *   an empty urlencoded body it is not a document at all.
 * - Control characters: C0, DEL and the C1 range (U+0080..U+009F) are
 *   refused; multiline fields allow \n, \r and \t, and there \r\n and a
 *   lone \r become \n (as a browser's textarea does) before the length
 *   limit is checked (in domain_check_*), so CRLFs do not count double.
 * - A name the form does not have is echoed in the message only when it is
 *   short and made of [A-Za-z0-9_.-]: the message may be shown and logged.
 *
 * Memory: one copy of each value, each at most its encoded length, so the
 * total is bounded by the body the caller already bounded. */
#include "forms.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const forms_field S_contact_fields[] = {
    {"name", 100, 0},
    {"email", 254, 0},
    {"subject", 150, 0},
    {"message", 5000, 1},
    {"page", 200, 0},
    {"website", 200, 0},
    {NULL, 0, 0},
};
const forms_spec forms_contact = {"contact", S_contact_fields, "website"};

static const forms_field S_register_fields[] = {
    {"email", 254, 0},
    {"display_name", 80, 0},
    {"password", 1024, 0},
    {NULL, 0, 0},
};
const forms_spec forms_register = {"register", S_register_fields, NULL};

/* No field name is longer than this; longer names are unknown without
 * decoding them. */
#define S_NAME_MAX 64

/* ---- small helpers ------------------------------------------------- */

static int S_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Case-insensitive ASCII comparison of s[0..n) with the literal lit. */
static int S_ieq(const char *s, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (S_lower((unsigned char)s[i]) != S_lower((unsigned char)lit[i]))
            return 0;
    return 1;
}

static int S_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = S_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int S_is_ows(int c)
{
    return c == ' ' || c == '\t';
}

/* Visitor values include passwords: memory holding them is wiped before
 * it goes back to the allocator (the caller wipes the raw body likewise). */
static void S_wipe_free(char *p, size_t n)
{
    if (p) {
        explicit_bzero(p, n);
        free(p);
    }
}

static int S_field_index(const forms_spec *spec, const char *name, size_t n)
{
    for (int i = 0; spec->fields[i].name && i < FORMS_MAX_FIELDS; i++) {
        const char *f = spec->fields[i].name;
        if (strlen(f) == n && memcmp(f, name, n) == 0)
            return i;
    }
    return -1;
}

/* The refusal for a name the form does not have. The name is visitor
 * text: it is quoted only when it is plainly harmless. */
static int S_unknown_field(const forms_spec *spec, const char *name, size_t n,
                           folio_err *err)
{
    if (n == 0)
        return err_set(err, "a field without a name is not part of the %s form",
                       spec->name);
    int plain = n <= 32;
    for (size_t i = 0; plain && i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    }
    if (!plain)
        return err_set(err, "unknown field in the %s form", spec->name);
    return err_set(err, "unknown field '%.*s' in the %s form", (int)n, name,
                   spec->name);
}

/* Percent-decodes s[0..n) into out (room for n bytes), '+' as space. */
static int S_url_decode(const char *s, size_t n, char *out, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            out[o++] = ' ';
        } else if (c == '%') {
            if (n - i < 3)
                return -1;
            int h = S_hex((unsigned char)s[i + 1]);
            int l = S_hex((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else {
            out[o++] = c;
        }
    }
    *outlen = o;
    return 0;
}

/* The rules every decoded value obeys, whatever the body type. Works in
 * place: multiline values shrink when \r\n becomes \n. */
static int S_check_value(const forms_field *f, char *s, size_t *len,
                         folio_err *err)
{
    size_t n = *len;
    if (!util_utf8_valid(s, n))
        return err_set(err, "field '%s' is not valid UTF-8", f->name);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0)
            return err_set(err, "field '%s' contains a NUL byte", f->name);
        if (c == '\n' || c == '\r' || c == '\t') {
            if (f->multiline)
                continue;
            if (c == '\t')
                return err_set(err, "field '%s' contains a tab", f->name);
            return err_set(err, "field '%s' must be a single line", f->name);
        }
        if (c < 0x20 || c == 0x7F ||
            (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9F))
            return err_set(err, "field '%s' contains a control character",
                           f->name);
    }
    if (f->multiline) {
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '\r') {
                s[o++] = '\n';
                if (i + 1 < n && s[i + 1] == '\n')
                    i++;
            } else {
                s[o++] = s[i];
            }
        }
        memset(s + o, 0, n - o);
        n = o;
    }
    *len = n;
    return 0;
}

static void S_values_init(forms_values *v, const forms_spec *spec)
{
    v->spec = spec;
    for (int i = 0; i < FORMS_MAX_FIELDS; i++) {
        v->value[i] = NULL;
        v->len[i] = 0;
    }
}

/* ---- application/x-www-form-urlencoded ----------------------------- */

static int S_url_pair(const forms_spec *spec, const char *pair, size_t n,
                      forms_values *v, folio_err *err)
{
    const char *eq = memchr(pair, '=', n);
    size_t raw_name = eq ? (size_t)(eq - pair) : n;
    char name[S_NAME_MAX];
    size_t name_len = 0;
    int idx = -1;
    if (raw_name <= sizeof name) {
        if (S_url_decode(pair, raw_name, name, &name_len) < 0)
            return err_set(err, "malformed percent-encoding in a field name");
        idx = S_field_index(spec, name, name_len);
    }
    if (idx < 0)
        return raw_name <= sizeof name
                   ? S_unknown_field(spec, name, name_len, err)
                   : S_unknown_field(spec, pair, raw_name, err);
    const forms_field *f = &spec->fields[idx];
    if (v->value[idx])
        return err_set(err, "field '%s' given twice", f->name);

    const char *raw = eq ? eq + 1 : pair + n;
    size_t raw_len = (size_t)(pair + n - raw);
    char *val = malloc(raw_len + 1);
    if (!val)
        return err_set(err, "out of memory decoding field '%s'", f->name);
    size_t len = 0;
    if (S_url_decode(raw, raw_len, val, &len) < 0) {
        S_wipe_free(val, raw_len + 1);
        return err_set(err, "malformed percent-encoding in field '%s'",
                       f->name);
    }
    val[len] = '\0';
    if (S_check_value(f, val, &len, err) < 0) {
        S_wipe_free(val, raw_len + 1);
        return -1;
    }
    v->value[idx] = val;
    v->len[idx] = len;
    return 0;
}

static int S_decode_urlencoded(const forms_spec *spec, const char *body,
                               size_t len, forms_values *v, folio_err *err)
{
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - body) : len;
        if (end > i && S_url_pair(spec, body + i, end - i, v, err) < 0)
            return -1;
        i = end + 1;
    }
    return 0;
}

/* ---- application/json ---------------------------------------------- */

/* cJSON treats every byte up to ' ' as whitespace, accepts raw control
 * characters inside strings, and decodes \u0000 into a string that then
 * ends early (so "email\u0000x" would read as "email"). This pass, over
 * the raw text, refuses the first two and finds the strings holding
 * \u0000: it numbers the strings in document order (key 0, value 0,
 * key 1, ...) and reports the first such number in *nul_string, or -1. */
static int S_json_prescan(const char *s, size_t n, long *nul_string,
                          folio_err *err)
{
    int in_string = 0;
    long string_no = -1;
    *nul_string = -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!in_string) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                return err_set(err, "malformed JSON body: control character");
            if (c == '"') {
                in_string = 1;
                string_no++;
            }
            continue;
        }
        if (c < 0x20)
            return err_set(err, "malformed JSON body: control character "
                                "in a string");
        if (c == '"') {
            in_string = 0;
        } else if (c == '\\' && i + 1 < n) {
            i++;
            if (s[i] == 'u' && n - i > 4 && memcmp(s + i + 1, "0000", 4) == 0 &&
                *nul_string < 0)
                *nul_string = string_no;
        }
    }
    return 0;
}

static int S_json_member(const forms_spec *spec, const cJSON *item, long k,
                         long nul_string, forms_values *v, folio_err *err)
{
    const char *key = item->string ? item->string : "";
    /* A key holding \u0000 reads short here; it is no field of ours. */
    if (nul_string == 2 * k)
        return err_set(err, "unknown field in the %s form", spec->name);
    int idx = S_field_index(spec, key, strlen(key));
    if (idx < 0)
        return S_unknown_field(spec, key, strlen(key), err);
    const forms_field *f = &spec->fields[idx];
    if (v->value[idx])
        return err_set(err, "field '%s' given twice", f->name);
    if (!cJSON_IsString(item) || !item->valuestring)
        return err_set(err, "field '%s' must be a string", f->name);
    if (nul_string == 2 * k + 1)
        return err_set(err, "field '%s' contains a NUL byte", f->name);
    size_t len = strlen(item->valuestring);
    char *val = util_strndup(item->valuestring, len);
    if (!val)
        return err_set(err, "out of memory decoding field '%s'", f->name);
    if (S_check_value(f, val, &len, err) < 0) {
        S_wipe_free(val, len + 1);
        return -1;
    }
    v->value[idx] = val;
    v->len[idx] = len;
    return 0;
}

/* cJSON frees its strings without wiping them; do it first. */
static void S_json_wipe(cJSON *item)
{
    for (; item; item = item->next) {
        if (item->string)
            explicit_bzero(item->string, strlen(item->string));
        if (item->valuestring)
            explicit_bzero(item->valuestring, strlen(item->valuestring));
        S_json_wipe(item->child);
    }
}

static pthread_mutex_t S_cjson_lock = PTHREAD_MUTEX_INITIALIZER;

static int S_decode_json(const forms_spec *spec, const char *body, size_t len,
                         forms_values *v, folio_err *err)
{
    size_t lead = 0;
    while (lead < len && (body[lead] == ' ' || body[lead] == '\t' ||
                          body[lead] == '\n' || body[lead] == '\r'))
        lead++;
    if (lead == len)
        return err_set(err, "empty JSON body: expected an object");
    long nul_string;
    if (S_json_prescan(body, len, &nul_string, err) < 0)
        return -1;
    /* cJSON's parse writes a process-wide error position on every call:
     * unserialised, two workers' parses would race on it. */
    const char *end = NULL;
    if (pthread_mutex_lock(&S_cjson_lock) != 0)
        return err_set(err, "cannot lock the JSON parser");
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    pthread_mutex_unlock(&S_cjson_lock);
    if (!root)
        return err_set(err, "malformed JSON body");
    int rc = -1;
    size_t used = end ? (size_t)(end - body) : 0;
    while (used < len && (body[used] == ' ' || body[used] == '\t' ||
                          body[used] == '\n' || body[used] == '\r'))
        used++;
    if (!end || used != len) {
        err_set(err, "malformed JSON body: text after the object");
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        err_set(err, "the JSON body must be an object of strings");
        goto done;
    }
    long k = 0;
    for (const cJSON *item = root->child; item; item = item->next, k++)
        if (S_json_member(spec, item, k, nul_string, v, err) < 0)
            goto done;
    rc = 0;
done:
    S_json_wipe(root);
    cJSON_Delete(root);
    return rc;
}

/* ---- the public calls ---------------------------------------------- */

int forms_decode(const forms_spec *spec, enum forms_body type,
                 const char *body, size_t len, forms_values *v,
                 folio_err *err)
{
    S_values_init(v, spec);
    if (!body && len > 0)
        return err_set(err, "no request body");
    int rc;
    if (type == FORMS_URLENCODED)
        rc = S_decode_urlencoded(spec, body, len, v, err);
    else if (type == FORMS_JSON)
        rc = S_decode_json(spec, body, len, v, err);
    else
        rc = err_set(err, "unsupported body type");
    if (rc < 0) {
        forms_values_free(v);
        v->spec = spec;
    }
    return rc;
}

const char *forms_get(const forms_values *v, const char *name)
{
    if (!v || !v->spec || !name)
        return NULL;
    int idx = S_field_index(v->spec, name, strlen(name));
    return idx < 0 ? NULL : v->value[idx];
}

int forms_honeypot_filled(const forms_values *v)
{
    if (!v || !v->spec || !v->spec->honeypot)
        return 0;
    const char *h = forms_get(v, v->spec->honeypot);
    return h && h[0] != '\0';
}

void forms_values_free(forms_values *v)
{
    if (!v)
        return;
    for (int i = 0; i < FORMS_MAX_FIELDS; i++) {
        S_wipe_free(v->value[i], v->len[i] + 1);
        v->value[i] = NULL;
        v->len[i] = 0;
    }
}

/* Reads one parameter value (token or quoted-string) starting at *p; the
 * unquoted value lands in out. -1 when malformed or too long. */
static int S_param_value(const char **p, char *out, size_t outlen)
{
    const char *s = *p;
    size_t o = 0;
    if (*s == '"') {
        s++;
        while (*s && *s != '"') {
            if (*s == '\\' && s[1])
                s++;
            if (o + 1 >= outlen)
                return -1;
            out[o++] = *s++;
        }
        if (*s != '"')
            return -1;
        s++;
    } else {
        while (*s && *s != ';' && *s != ',' && !S_is_ows((unsigned char)*s)) {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
    *p = s;
    return 0;
}

/* Each character at most 12 bytes on the wire: 4 bytes of UTF-8 as %XX
 * each, or a JSON \uXXXX\uXXXX pair; a name escaped in JSON, 6 per byte. */
#define S_WIRE_PER_CHAR 12
#define S_WIRE_PER_NAME_BYTE 6
#define S_WIRE_PER_FIELD 8   /* JSON "": , and the like; & and = */
#define S_WIRE_SLACK 256     /* braces and white space around a JSON object */

size_t forms_body_max(const forms_spec *spec)
{
    size_t n = S_WIRE_SLACK;
    for (size_t i = 0; spec->fields[i].name && i < FORMS_MAX_FIELDS; i++)
        n += strlen(spec->fields[i].name) * S_WIRE_PER_NAME_BYTE +
             spec->fields[i].max_len * S_WIRE_PER_CHAR + S_WIRE_PER_FIELD;
    return n;
}

size_t forms_body_limit(void)
{
    size_t c = forms_body_max(&forms_contact), r = forms_body_max(&forms_register);
    return c > r ? c : r;
}

int forms_body_type(const char *ct, enum forms_body *out)
{
    if (!ct)
        return -1;
    const char *p = ct;
    while (S_is_ows((unsigned char)*p))
        p++;
    const char *t = p;
    while (*p && *p != ';' && !S_is_ows((unsigned char)*p))
        p++;
    enum forms_body kind;
    if (S_ieq(t, (size_t)(p - t), "application/x-www-form-urlencoded"))
        kind = FORMS_URLENCODED;
    else if (S_ieq(t, (size_t)(p - t), "application/json"))
        kind = FORMS_JSON;
    else
        return -1;
    /* Parameters: only a charset other than UTF-8 is refused; the body is
     * read as UTF-8 and a promise of anything else would be broken. */
    for (;;) {
        while (S_is_ows((unsigned char)*p))
            p++;
        if (!*p)
            break;
        if (*p != ';')
            return -1;
        p++;
        while (S_is_ows((unsigned char)*p))
            p++;
        const char *n = p;
        while (*p && *p != '=' && *p != ';' && !S_is_ows((unsigned char)*p))
            p++;
        size_t nlen = (size_t)(p - n);
        if (nlen == 0 && (*p == ';' || !*p))
            continue;
        if (*p != '=' || nlen == 0)
            return -1;
        p++;
        char value[64];
        if (S_param_value(&p, value, sizeof value) < 0)
            return -1;
        if (S_ieq(n, nlen, "charset") && !S_ieq(value, strlen(value), "utf-8") &&
            !S_ieq(value, strlen(value), "utf8"))
            return -1;
    }
    *out = kind;
    return 0;
}

/* ---- Accept ---------------------------------------------------------- */

/* q-value: "0", "1", "0.x{1,3}", "1.0{0,3}", as thousandths; -1 if bad. */
static int S_qvalue(const char *s)
{
    if (s[0] != '0' && s[0] != '1')
        return -1;
    int q = (s[0] - '0') * 1000;
    if (s[1] == '\0')
        return q;
    if (s[1] != '.')
        return -1;
    int scale = 100;
    size_t i = 2;
    for (; s[i] && i < 5; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        q += (s[i] - '0') * scale;
    }
    if (s[i] != '\0' || q > 1000)
        return -1;
    return q;
}

typedef struct S_match {
    int specificity; /* 0 none, 1 star/star, 2 type/star, 3 exact */
    int q;           /* thousandths */
    int index;       /* position of the range in the header */
} S_match;

static void S_consider(S_match *m, const char *range, size_t n,
                       const char *type, int q, int index)
{
    size_t slash = strcspn(type, "/");
    int spec = 0;
    if (S_ieq(range, n, "*/*"))
        spec = 1;
    else if (S_ieq(range, n, type))
        spec = 3;
    else if (n == slash + 2 && range[slash] == '/' && range[slash + 1] == '*') {
        /* type/star: the part before the slash must be type's */
        spec = 2;
        for (size_t i = 0; i < slash; i++)
            if (S_lower((unsigned char)range[i]) != type[i])
                spec = 0;
    }
    if (spec > m->specificity) {
        m->specificity = spec;
        m->q = q;
        m->index = index;
    }
}

int forms_wants_json(const char *accept)
{
    if (!accept)
        return 0;
    S_match json = {0, 0, 0}, html = {0, 0, 0};
    const char *p = accept;
    for (int index = 0; *p; index++) {
        while (S_is_ows((unsigned char)*p) || *p == ',')
            p++;
        if (!*p)
            break;
        const char *r = p;
        while (*p && *p != ';' && *p != ',' && !S_is_ows((unsigned char)*p))
            p++;
        size_t rlen = (size_t)(p - r);
        int q = 1000, bad = 0;
        /* parameters of this range; q is the one that matters */
        while (*p && *p != ',') {
            while (S_is_ows((unsigned char)*p) || *p == ';')
                p++;
            const char *n = p;
            while (*p && *p != '=' && *p != ';' && *p != ',' &&
                   !S_is_ows((unsigned char)*p))
                p++;
            size_t nlen = (size_t)(p - n);
            if (*p != '=')
                continue;
            p++;
            char value[16];
            if (S_param_value(&p, value, sizeof value) < 0) {
                bad = 1;
                while (*p && *p != ',' && *p != ';')
                    p++;
                continue;
            }
            if (S_ieq(n, nlen, "q"))
                q = S_qvalue(value);
        }
        if (bad || q < 0) /* a range with a broken parameter is ignored */
            continue;
        S_consider(&json, r, rlen, "application/json", q, index);
        S_consider(&html, r, rlen, "text/html", q, index);
    }
    if (json.specificity == 0 || json.q == 0)
        return 0;
    if (html.specificity == 0 || json.q != html.q)
        return json.q > html.q || html.specificity == 0;
    if (json.specificity != html.specificity)
        return json.specificity > html.specificity;
    return json.index < html.index;
}

/* ---- same origin ----------------------------------------------------- */

typedef struct S_origin {
    int https;
    const char *host;
    size_t host_len;
    long port;
} S_origin;

/* Parses scheme://host[:port] at the start of s. With allow_rest, a path,
 * query or fragment may follow (a Referer); without, nothing may. */
static int S_parse_origin(const char *s, int allow_rest, S_origin *o)
{
    const char *p;
    if (strncasecmp(s, "https://", 8) == 0) {
        o->https = 1;
        o->port = 443;
        p = s + 8;
    } else if (strncasecmp(s, "http://", 7) == 0) {
        o->https = 0;
        o->port = 80;
        p = s + 7;
    } else {
        return -1;
    }
    size_t auth = strcspn(p, "/?#");
    if (p[auth] && !allow_rest)
        return -1;
    for (size_t i = 0; i < auth; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c == 0x7F || c == '@' || c == '\\')
            return -1;
    }
    const char *host_end;
    if (p[0] == '[') {
        const char *close = memchr(p, ']', auth);
        if (!close)
            return -1;
        host_end = close + 1;
    } else {
        const char *colon = memchr(p, ':', auth);
        host_end = colon ? colon : p + auth;
    }
    o->host = p;
    o->host_len = (size_t)(host_end - p);
    if (o->host_len == 0)
        return -1;
    const char *rest = host_end, *stop = p + auth;
    if (rest == stop)
        return 0;
    if (*rest != ':')
        return -1;
    rest++;
    if (rest == stop) /* "host:" means the default port */
        return 0;
    long port = 0;
    for (; rest < stop; rest++) {
        if (*rest < '0' || *rest > '9' || port > 65535)
            return -1;
        port = port * 10 + (*rest - '0');
    }
    if (port < 1 || port > 65535)
        return -1;
    o->port = port;
    return 0;
}

static int S_origin_equal(const S_origin *a, const S_origin *b)
{
    if (a->https != b->https || a->port != b->port || a->host_len != b->host_len)
        return 0;
    for (size_t i = 0; i < a->host_len; i++)
        if (S_lower((unsigned char)a->host[i]) !=
            S_lower((unsigned char)b->host[i]))
            return 0;
    return 1;
}

int forms_same_origin(const char *origin, const char *referer,
                      const char *base_url)
{
    S_origin site, them;
    if (!base_url || S_parse_origin(base_url, 1, &site) < 0)
        return 0;
    if (origin && origin[0]) {
        /* Origin is authoritative when sent: a mismatch is not rescued
         * by a Referer. "null" comes from sandboxed or privacy contexts. */
        if (strcmp(origin, "null") == 0 || S_parse_origin(origin, 0, &them) < 0)
            return 0;
        return S_origin_equal(&site, &them);
    }
    if (referer && referer[0]) {
        if (S_parse_origin(referer, 1, &them) < 0)
            return 0;
        return S_origin_equal(&site, &them);
    }
    return 0;
}

long long forms_content_length(const char *s)
{
    if (!s || !s[0])
        return -1;
    long long n = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        int d = *p - '0';
        if (n > (LLONG_MAX - d) / 10)
            return -1;
        n = n * 10 + d;
    }
    return n;
}
