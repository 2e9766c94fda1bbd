/* mail — messages from templates/mail/, and their transports. See mail.h.
 *
 * Header safety rests on one rule: a header value is either plain
 * printable ASCII that cannot be read as anything but text (no "=?", no
 * controls, words that fold) or it is base64 inside RFC 2047 encoded
 * words, where CR, LF, quotes, brackets, commas and "=?" are just bytes. */
#include "mail.h"
#include "theme.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "accounts.h"
#include "mail_smtp.h"
#include "template.h"
#include "vault.h"

extern char **environ;

#define S_FOLD 76          /* fold header lines before 78 characters */
#define S_SUBJECT_MAX 400  /* bytes of a subject kept */
#define S_DISPLAY_MAX 200  /* bytes of a display name kept */
#define S_REDACTED "[redacted]"

/* ---- the kinds of mail ------------------------------------------------ */

/* A kind: templates/mail/NAME.{txt,html,subject}.mustache, answering
 * events of `type`. The recipient is the person's address field (to_field)
 * or, when NULL, the site owner; Reply-To is the person's reply_field, or
 * the owner (OWNER), or none (NULL). */
typedef struct S_kind {
    const char *name;
    const char *type;            /* NULL: not from an event (test) */
    const char *to_field, *to_name_field;
    const char *reply_field, *reply_name_field;
    const char *subject;         /* when NAME.subject.mustache is absent */
} S_kind;

static const char S_OWNER[] = "";

static const S_kind S_kinds[] = {
    {"contact", "ContactRequestSubmitted", NULL, NULL, "email", "name",
     "{{#title}}{{title}}{{/title}}{{^title}}Contact from {{name}}{{/title}}"},
    {"welcome", "UserRegistered", "email", "display_name", S_OWNER, NULL,
     "Welcome to {{site.title}}"},
    {"test", NULL, NULL, NULL, NULL, NULL, "Test mail from {{site.title}}"},
    /* members' accounts: a sign-up on the web is welcomed once verified */
    {"welcome", "MemberVerified", "email", "display_name", S_OWNER, NULL,
     "Welcome to {{site.title}}"},
    {"verify", "MemberVerificationRequested", "email", "display_name", S_OWNER,
     NULL, "Confirm your address for {{site.title}}"},
    {"already", "MemberSignupRepeated", "email", NULL, S_OWNER, NULL,
     "You already have an account at {{site.title}}"},
    {"reset", "PasswordResetRequested", "email", NULL, S_OWNER, NULL,
     "Reset your password at {{site.title}}"},
    /* a member's new address: confirmed from it, the old one told */
    {"email-verify", "MemberEmailChangeRequested", "email", "display_name",
     S_OWNER, NULL, "Confirm your new address for {{site.title}}"},
    {"email-changed", "MemberEmailChanged", "old_email", NULL, S_OWNER, NULL,
     "The address of your account at {{site.title}} changed"},
};
#define S_NKINDS (sizeof S_kinds / sizeof S_kinds[0])

/* The kinds' event types, made once from the table. */
static const char *S_types[S_NKINDS + 1];
static pthread_once_t S_types_once = PTHREAD_ONCE_INIT;

static void S_types_fill(void)
{
    size_t n = 0;
    for (size_t k = 0; k < S_NKINDS; k++)
        if (S_kinds[k].type)
            S_types[n++] = S_kinds[k].type;
    S_types[n] = NULL;
}

const char *const *mail_types(void)
{
    pthread_once(&S_types_once, S_types_fill);
    return S_types;
}

/* ---- UTF-8 and cleaning ----------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t S_utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned min;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, min = 0x80;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        len = 3, min = 0x800;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Appends s to out with controls as spaces, invalid UTF-8 as U+FFFD and
 * surrounding spaces trimmed, cut (at a character) to max bytes. Returns 1
 * when the result is printable ASCII only. */
static int S_clean(buf *out, const char *s, size_t n, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t start = out->len;
    int ascii = 1;
    for (size_t i = 0; i < n;) {
        size_t k = S_utf8_seq(u + i, n - i);
        const char *piece = s + i;
        size_t plen = k;
        if (!k) {
            piece = "\xEF\xBF\xBD", plen = 3, k = 1;
        } else if (k == 1 && (u[i] < 0x20 || u[i] == 0x7F)) {
            piece = " ", plen = 1;
        }
        if (out->len - start + plen > max)
            break;
        if (plen > 1)
            ascii = 0;
        if (!(piece[0] == ' ' && out->len == start) && buf_add(out, piece, plen))
            return -1;
        i += k;
    }
    while (out->len > start && out->ptr[out->len - 1] == ' ')
        out->ptr[--out->len] = '\0';
    return ascii;
}

/* ---- header encoding -------------------------------------------------- */

typedef struct S_hdr {
    buf *out;
    size_t col; /* characters on the current line */
} S_hdr;

/* Adds a token, folding before it (CRLF + space) when it would pass the
 * fold column; sp says whether a space separates it from what precedes. */
static int S_hdr_token(S_hdr *h, const char *tok, size_t n, int sp)
{
    if (sp && h->col + 1 + n > S_FOLD) {
        if (buf_add(h->out, "\r\n", 2))
            return -1;
        h->col = 0;
    }
    if ((sp && buf_putc(h->out, ' ')) || buf_add(h->out, tok, n))
        return -1;
    h->col += n + (sp ? 1 : 0);
    return 0;
}

/* Encoded words for s (UTF-8), each under 76 characters, none splitting a
 * character. A split falls after a space where one is near: decoders drop
 * the folding between two words, but some (Python's address parser) keep
 * it, and then a space is the least wrong thing to have added. */
static int S_hdr_words(S_hdr *h, const char *s, size_t n, int sp)
{
    enum { CHUNK = 39 }; /* 52 base64 characters: a 64-character word */
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    do {
        size_t end = i, after_space = 0;
        while (end < n) {
            size_t k = S_utf8_seq(u + end, n - end);
            if (!k)
                k = 1;
            if (end + k - i > CHUNK)
                break;
            end += k;
            if (s[end - 1] == ' ')
                after_space = end;
        }
        if (end < n && after_space > i + CHUNK / 2)
            end = after_space;
        char word[16 + sodium_base64_ENCODED_LEN(CHUNK, sodium_base64_VARIANT_ORIGINAL)];
        memcpy(word, "=?utf-8?b?", 10);
        sodium_bin2base64(word + 10, sizeof word - 10, u + i, end - i,
                          sodium_base64_VARIANT_ORIGINAL);
        size_t wl = strlen(word);
        memcpy(word + wl, "?=", 3);
        if (S_hdr_token(h, word, wl + 2, sp || i > 0))
            return -1;
        i = end;
    } while (i < n);
    return 0;
}

/* Plain words, when every word of s fits a line and nothing in it could be
 * read as an encoded word; else 1 (nothing added). */
static int S_hdr_plain(S_hdr *h, const char *s, size_t n, int sp)
{
    if (memmem(s, n, "=?", 2))
        return 1;
    for (size_t i = 0, w = 0; i <= n; i++)
        if (i == n || s[i] == ' ') {
            if (i - w > S_FOLD - 2)
                return 1;
            w = i + 1;
        }
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j] != ' ')
            j++;
        if (S_hdr_token(h, s + i, j - i, sp || i > 0))
            return -1;
        i = j + 1;
        /* a run of spaces: keep each as an empty word */
        while (i < n && s[i] == ' ') {
            if (S_hdr_token(h, "", 0, 1))
                return -1;
            i++;
        }
    }
    return 0;
}

/* A header's name is folio's, never a visitor's; still, checked. */
static int S_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n && n <= 60 &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789-") == n;
}

static int S_hdr_start(S_hdr *h, buf *out, const char *name)
{
    h->out = out;
    h->col = strlen(name) + 1;
    return buf_puts(out, name) || buf_putc(out, ':') ? -1 : 0;
}

int mail_encode_header(buf *out, const char *name, const char *value,
                       size_t len, folio_err *err)
{
    if (!S_name_ok(name))
        return err_set(err, "not a header name");
    S_hdr h;
    buf v = BUF_INIT;
    int ascii = S_clean(&v, value ? value : "", value ? len : 0, S_SUBJECT_MAX);
    int rc = ascii < 0 || S_hdr_start(&h, out, name) ? -1 : 1;
    if (rc == 1 && ascii)
        rc = S_hdr_plain(&h, v.ptr ? v.ptr : "", v.len, 1);
    if (rc == 1)
        rc = v.len ? S_hdr_words(&h, v.ptr, v.len, 1) : 0;
    if (!rc)
        rc = buf_add(out, "\r\n", 2);
    buf_free(&v);
    return rc ? err_set(err, "out of memory") : 0;
}

/* A display name of letters, digits and spaces is atoms as it is; any
 * other character could mean something in an address header. */
static int S_display_is_atoms(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != ' ')
            return 0;
    return 1;
}

int mail_encode_address(buf *out, const char *name, const char *display,
                        const char *addr, folio_err *err)
{
    if (!S_name_ok(name))
        return err_set(err, "not a header name");
    if (!addr || !mail_addr_valid(addr))
        return err_set(err, "%s: not a valid address", name);
    S_hdr h;
    buf v = BUF_INIT;
    int rc = S_hdr_start(&h, out, name);
    if (!rc && display && *display) {
        if (S_clean(&v, display, strlen(display), S_DISPLAY_MAX) < 0)
            rc = -1;
        else if (v.len && (!S_display_is_atoms(v.ptr, v.len) ||
                           (rc = S_hdr_plain(&h, v.ptr, v.len, 1)) == 1))
            rc = S_hdr_words(&h, v.ptr, v.len, 1);
    }
    if (!rc) {
        buf a = BUF_INIT;
        rc = buf_printf(&a, v.len ? "<%s>" : "%s", addr) ||
             S_hdr_token(&h, a.ptr, a.len, 1) || buf_add(out, "\r\n", 2);
        buf_free(&a);
    }
    buf_free(&v);
    return rc ? err_set(err, "out of memory") : 0;
}

/* ---- addresses -------------------------------------------------------- */

static int S_atext(int c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

int mail_addr_valid(const char *s)
{
    if (!s)
        return 0;
    size_t n = strnlen(s, 255);
    const char *at = memchr(s, '@', n);
    if (n > 254 || !at || memchr(at + 1, '@', n - (size_t)(at - s) - 1))
        return 0;
    size_t local = (size_t)(at - s), dom = n - local - 1;
    if (!local || local > 64 || !dom || dom > 253)
        return 0;
    for (size_t i = 0; i < local; i++) {
        int c = (unsigned char)s[i];
        if (c == '.' ? i == 0 || i == local - 1 || s[i - 1] == '.' : !S_atext(c))
            return 0;
    }
    const char *d = at + 1;
    for (size_t i = 0, label = 0; i <= dom; i++) {
        int c = i < dom ? (unsigned char)d[i] : '.';
        if (c == '.') {
            if (!label || label > 63 || d[i - 1] == '-')
                return 0;
            label = 0;
        } else if (isalnum(c) || (c == '-' && label)) {
            label++;
        } else {
            return 0;
        }
    }
    return 1;
}

static char *S_trim_dup(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return util_strndup(s, n);
}

int mail_parse_mailbox(const char *s, char **display, char **addr,
                       folio_err *err)
{
    *display = *addr = NULL;
    size_t n = strlen(s);
    const char *lt = strrchr(s, '<');
    char *d, *a;
    if (lt) {
        const char *gt = strchr(lt, '>');
        if (!gt || gt[1 + strspn(gt + 1, " \t")])
            return err_set(err, "'%s': want \"Name <address>\" or an address", s);
        d = S_trim_dup(s, (size_t)(lt - s));
        a = util_strndup(lt + 1, (size_t)(gt - lt - 1));
    } else {
        d = util_strdup("");
        a = S_trim_dup(s, n);
    }
    if (!d || !a) {
        free(d), free(a);
        return err_set(err, "out of memory");
    }
    size_t dl = strlen(d);
    if (dl >= 2 && d[0] == '"' && d[dl - 1] == '"') { /* a quoted name */
        size_t o = 0;
        for (size_t i = 1; i + 1 < dl; i++)
            d[o++] = d[i] == '\\' && i + 2 < dl ? d[++i] : d[i];
        d[o] = '\0';
    }
    if (!mail_addr_valid(a)) {
        err_set(err, "'%s': not a valid e-mail address", a);
        free(d), free(a);
        return -1;
    }
    *display = d, *addr = a;
    return 0;
}

/* ---- bodies: quoted-printable ----------------------------------------- */

/* Lines of at most 76 characters, CRLF line ends, '=', controls and
 * non-ASCII as =XX; spaces before a line end, a '.' or "From " starting a
 * line encoded so no transport or mailbox format reads them. */
static int S_qp(buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    /* worst case: every byte =XX, a soft break per 25 of them, a last CRLF */
    if (n > (SIZE_MAX - 8) / 4 || buf_grow(out, n * 3 + (n / 25 + 1) * 3 + 2))
        return -1;
    char *o = out->ptr + out->len;
    size_t col = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
                i++;
            *o++ = '\r', *o++ = '\n';
            col = 0;
            continue;
        }
        int at_eol = i + 1 == n || s[i + 1] == '\r' || s[i + 1] == '\n';
        int lit = (c >= 33 && c <= 126 && c != '=') ||
                  ((c == ' ' || c == '\t') && !at_eol);
        if (col == 0 && (c == '.' || (c == 'F' && n - i >= 5 &&
                                      !memcmp(s + i, "From ", 5))))
            lit = 0;
        size_t w = lit ? 1 : 3;
        /* room for the soft break's '=' unless this ends the line */
        if (col + w > (at_eol ? 76u : 75u)) {
            *o++ = '=', *o++ = '\r', *o++ = '\n';
            col = 0;
        }
        if (lit) {
            *o++ = (char)c;
        } else {
            *o++ = '=', *o++ = hex[c >> 4], *o++ = hex[c & 15];
        }
        col += w;
    }
    if (col)
        *o++ = '\r', *o++ = '\n';
    out->len = (size_t)(o - out->ptr);
    *o = '\0';
    return 0;
}

/* ---- messages --------------------------------------------------------- */

static int S_date(buf *out, long long ms)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return -1;
    return buf_printf(out, "Date: %s, %d %s %04d %02d:%02d:%02d +0000\r\n",
                      days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                      tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int S_id_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 100)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-')
            return 0;
    return 1;
}

static int S_part(buf *out, const char *type, const char *s, size_t n)
{
    return buf_printf(out, "Content-Type: text/%s; charset=utf-8\r\n"
                      "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                      type) || S_qp(out, s, n);
}

/* The body after the headers: one part, or both under a boundary that
 * quoted-printable text can never contain ("=_"). The CRLF before a
 * boundary belongs to it: a part keeps its own last line end. */
static int S_body(const mail_message *m, const char *mid, buf *out)
{
    if (!m->html)
        return S_part(out, "plain", m->text, m->text_len);
    unsigned char h[8];
    char hex[2 * sizeof h + 1];
    crypto_generichash(h, sizeof h, (const unsigned char *)mid, strlen(mid),
                       NULL, 0);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    return buf_printf(out, "Content-Type: multipart/alternative;\r\n"
                      " boundary=\"=_folio_%s\"\r\n\r\n", hex) ||
           buf_printf(out, "--=_folio_%s\r\n", hex) ||
           S_part(out, "plain", m->text, m->text_len) ||
           buf_printf(out, "\r\n--=_folio_%s\r\n", hex) ||
           S_part(out, "html", m->html, m->html_len) ||
           buf_printf(out, "\r\n--=_folio_%s--\r\n", hex);
}

int mail_build(const mail_message *m, buf *out, folio_err *err)
{
    if (!m->from_addr || !mail_addr_valid(m->from_addr))
        return err_set(err, "From: not a valid address");
    char mid[160], rnd[33];
    const char *id = m->id;
    if (!S_id_ok(id)) {
        unsigned char r[16];
        randombytes_buf(r, sizeof r);
        sodium_bin2hex(rnd, sizeof rnd, r, sizeof r);
        id = rnd;
    }
    snprintf(mid, sizeof mid, "%s@%s", id, strchr(m->from_addr, '@') + 1);
    if (S_date(out, m->date_ms) ||
        mail_encode_address(out, "From", m->from_name, m->from_addr, err) ||
        mail_encode_address(out, "To", m->to_name, m->to_addr, err) ||
        (m->reply_addr && mail_encode_address(out, "Reply-To", m->reply_name,
                                              m->reply_addr, err)) ||
        mail_encode_header(out, "Subject", m->subject,
                           m->subject ? strlen(m->subject) : 0, err))
        return -1;
    if (buf_printf(out, "Message-ID: <%s>\r\nMIME-Version: 1.0\r\n", mid) ||
        S_body(m, mid, out))
        return err_set(err, "out of memory");
    return 0;
}

/* ---- the mailer ------------------------------------------------------- */

enum S_transport { S_OUTBOX, S_SMTP, S_SENDMAIL };

typedef struct S_tpls {
    const tpl *txt, *html, *subject;
    tpl *subject_default;
    const tpl_set *set; /* partials */
} S_tpls;

struct mailer {
    const folio_config *cfg;
    char *from_name, *from_addr, *owner_name, *owner_addr;
    enum S_transport transport;
    char *url;        /* SMTP URL as given (with credentials) */
    char *shown;      /* the transport named without credentials */
    char *sendmail;   /* sendmail's path */
    char *outbox;     /* var/mail */
    tpl_set *site_set, *theme_set;
    S_tpls tpls[S_NKINDS];
    mail_smtp *smtp;  /* kept-alive connections, for S_SMTP */
    int connections;  /* mail.connections */
    cJSON *site;      /* {title, base_url, author} for the templates */
    /* derives links' tokens from their events' nonces (accounts.h) */
    unsigned char link_key[VAULT_LINK_KEY_LEN];
    int has_link_key;
};

/* A string setting of the mail: block, NULL when absent. */
static int S_setting(const folio_config *cfg, const char *key, const char **out,
                     folio_err *err)
{
    const cJSON *mail = cJSON_GetObjectItemCaseSensitive(cfg->raw, "mail");
    *out = NULL;
    if (!mail || cJSON_IsNull(mail))
        return 0;
    if (!cJSON_IsObject(mail))
        return err_set(err, "folio.yml: mail: must be a mapping (from, owner,"
                       " transport)");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(mail, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || !*v->valuestring)
        return err_set(err, "folio.yml: mail.%s: must be a non-empty string", key);
    *out = v->valuestring;
    return 0;
}

/* The default From: the author at folio@ the base URL's host. */
static int S_default_from(mailer *m, folio_err *err)
{
    const char *host = strstr(m->cfg->base_url, "://");
    host = host ? host + 3 : m->cfg->base_url;
    size_t hl = strcspn(host, ":/");
    char addr[300];
    snprintf(addr, sizeof addr, "folio@%.*s", (int)(hl < 250 ? hl : 0), host);
    /* an address needs a domain: not an IP address, not a bare host */
    if (!mail_addr_valid(addr) || !strchr(strchr(addr, '@'), '.') ||
        isdigit((unsigned char)addr[strlen(addr) - 1]))
        snprintf(addr, sizeof addr, "folio@localhost");
    m->from_name = util_strdup(m->cfg->author && *m->cfg->author
                                   ? m->cfg->author : m->cfg->title);
    m->from_addr = util_strdup(addr);
    return m->from_name && m->from_addr ? 0 : err_set(err, "out of memory");
}

/* A misspelt key would silently leave mail in the outbox: refused. */
static int S_known_keys(const folio_config *cfg, folio_err *err)
{
    const cJSON *mail = cJSON_GetObjectItemCaseSensitive(cfg->raw, "mail"), *k;
    if (!cJSON_IsObject(mail))
        return 0;
    cJSON_ArrayForEach(k, mail)
        if (strcmp(k->string, "from") && strcmp(k->string, "owner") &&
            strcmp(k->string, "transport") && strcmp(k->string, "connections"))
            return err_set(err, "folio.yml: mail.%s: unknown setting (there"
                           " are from, owner, transport and connections)",
                           k->string);
    return 0;
}

/* mail.connections: how many SMTP connections carry mail at once. Four
 * keep a local server busy without making a remote one suspicious. */
static int S_connections(mailer *m, folio_err *err)
{
    const cJSON *mail = cJSON_GetObjectItemCaseSensitive(m->cfg->raw, "mail");
    const cJSON *v = cJSON_IsObject(mail)
        ? cJSON_GetObjectItemCaseSensitive(mail, "connections") : NULL;
    m->connections = 4;
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 ||
        v->valuedouble > MAIL_SMTP_CONN_MAX ||
        v->valuedouble != (int)v->valuedouble)
        return err_set(err, "folio.yml: mail.connections: must be a whole "
                       "number from 1 to %d", MAIL_SMTP_CONN_MAX);
    m->connections = (int)v->valuedouble;
    return 0;
}

static int S_addresses(mailer *m, folio_err *err)
{
    const char *from, *owner;
    if (S_known_keys(m->cfg, err))
        return -1;
    if (S_setting(m->cfg, "from", &from, err) ||
        S_setting(m->cfg, "owner", &owner, err))
        return -1;
    if (from ? mail_parse_mailbox(from, &m->from_name, &m->from_addr, err)
             : S_default_from(m, err))
        return from ? err_prefix(err, "folio.yml: mail.from") : -1;
    if (!owner)
        owner = m->from_addr;
    if (mail_parse_mailbox(owner, &m->owner_name, &m->owner_addr, err))
        return err_prefix(err, "folio.yml: mail.owner");
    return 0;
}

/* "scheme://host:port", never the credentials, for messages. */
static char *S_shown_url(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *s = NULL;
    if (u && !curl_url_set(u, CURLUPART_URL, url, 0) &&
        !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
        !curl_url_get(u, CURLUPART_HOST, &host, 0)) {
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
        buf b = BUF_INIT;
        if (!buf_printf(&b, "%s://%s%s%s", scheme, host, port ? ":" : "",
                        port ? port : ""))
            s = buf_detach(&b, NULL);
        buf_free(&b);
    }
    curl_free(scheme), curl_free(host), curl_free(port);
    curl_url_cleanup(u);
    return s;
}

/* smtp+starttls://REST is smtp://REST with STARTTLS required, on the
 * submission port (587) unless REST names one. NULL: not a URL. */
static char *S_starttls_url(const char *rest)
{
    buf u = BUF_INIT;
    CURLU *h = curl_url();
    char *port = NULL, *full = NULL, *out = NULL;
    if (!h || buf_printf(&u, "smtp://%s", rest) ||
        curl_url_set(h, CURLUPART_URL, u.ptr, 0))
        goto done;
    if (curl_url_get(h, CURLUPART_PORT, &port, 0) == CURLUE_NO_PORT &&
        curl_url_set(h, CURLUPART_PORT, "587", 0))
        goto done;
    if (!curl_url_get(h, CURLUPART_URL, &full, 0))
        out = util_strdup(full);
done:
    curl_free(port), curl_free(full);
    curl_url_cleanup(h);
    buf_free(&u);
    return out;
}

static int S_smtp_open(mailer *m, const char *url, folio_err *err)
{
    static const char starttls[] = "smtp+starttls://";
    int tls = !strncmp(url, starttls, sizeof starttls - 1);
    m->url = tls ? S_starttls_url(url + sizeof starttls - 1) : util_strdup(url);
    if (!m->url || !(m->shown = S_shown_url(m->url)))
        return err_set(err, "mail.transport: not a URL I can read"
                       " (smtp://HOST:PORT, smtps://USER:PASS@HOST:465,"
                       " smtp+starttls://HOST:587)");
    return mail_smtp_open(m->url, tls, m->shown, m->connections, &m->smtp,
                          err);
}

static int S_transport(mailer *m, folio_err *err)
{
    const char *t = getenv("FOLIO_SMTP_URL");
    if (!t || !*t) {
        if (S_setting(m->cfg, "transport", &t, err))
            return -1;
        if (!t)
            t = "outbox";
    }
    if (!strcmp(t, "outbox")) {
        m->transport = S_OUTBOX;
        m->shown = util_strdup("outbox");
        return m->shown ? 0 : err_set(err, "out of memory");
    }
    if (!strcmp(t, "sendmail") || !strncmp(t, "sendmail:/", 10)) {
        m->transport = S_SENDMAIL;
        m->sendmail = util_strdup(t[8] ? t + 9 : "/usr/sbin/sendmail");
        m->shown = util_strdup(t);
        return m->sendmail && m->shown ? 0 : err_set(err, "out of memory");
    }
    if (!strncmp(t, "smtp://", 7) || !strncmp(t, "smtps://", 8) ||
        !strncmp(t, "smtp+starttls://", 16)) {
        m->transport = S_SMTP;
        return S_smtp_open(m, t, err);
    }
    /* t may hold a password: name the scheme only */
    return err_set(err, "mail.transport: '%.*s...' is not outbox, sendmail,"
                   " smtp://, smtps:// or smtp+starttls://",
                   (int)strcspn(t, ":"), t);
}

/* templates/mail of the site, or else of its theme (theme.h), so a site
 * made before mail existed still sends mail. */
static int S_load_sets(mailer *m, folio_err *err)
{
    char dir[PATH_MAX];
    if (util_path(dir, sizeof dir, err, "%s/mail", m->cfg->templates_dir))
        return -1;
    if (util_is_dir(dir) && !(m->site_set = tpl_set_load(dir, err)))
        return -1;
    theme th;
    if (theme_open(m->cfg, &th, err) != 0)
        return -1;
    int rc = 0;
    if (th.templates_dir &&
        (rc = util_path(dir, sizeof dir, err, "%s/mail", th.templates_dir)) == 0 &&
        util_is_dir(dir) && !(m->theme_set = tpl_set_load(dir, err)))
        rc = -1;
    theme_close(&th);
    return rc;
}

/* A kind's templates come whole from the site when it has KIND.txt, else
 * from the theme. */
static int S_kind_tpls(mailer *m, size_t k, folio_err *err)
{
    const S_kind *kind = &S_kinds[k];
    S_tpls *t = &m->tpls[k];
    char name[64];
    snprintf(name, sizeof name, "%s.txt", kind->name);
    t->set = tpl_set_get(m->site_set, name) ? m->site_set : m->theme_set;
    if (!(t->txt = tpl_set_get(t->set, name)))
        return err_set(err, "%s/mail/%s.mustache: missing (the text of the"
                       " '%s' mail)", m->cfg->templates_dir, name, kind->name);
    snprintf(name, sizeof name, "%s.html", kind->name);
    t->html = tpl_set_get(t->set, name);
    snprintf(name, sizeof name, "%s.subject", kind->name);
    t->subject = tpl_set_get(t->set, name);
    if (!t->subject &&
        !(t->subject = t->subject_default =
              tpl_compile(name, kind->subject, strlen(kind->subject), err)))
        return -1;
    return 0;
}

static int S_site_ctx(mailer *m, folio_err *err)
{
    const folio_config *c = m->cfg;
    if (!(m->site = cJSON_CreateObject()) ||
        !cJSON_AddStringToObject(m->site, "title", c->title ? c->title : "") ||
        !cJSON_AddStringToObject(m->site, "base_url", c->base_url ? c->base_url : "") ||
        !cJSON_AddStringToObject(m->site, "author", c->author ? c->author : "") ||
        !cJSON_AddStringToObject(m->site, "language", c->language ? c->language : ""))
        return err_set(err, "out of memory");
    return 0;
}

int mail_open(const folio_config *cfg, mailer **out, folio_err *err)
{
    *out = NULL;
    mailer *m = calloc(1, sizeof *m);
    if (!m)
        return err_set(err, "out of memory");
    m->cfg = cfg;
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        free(m);
        return err_set(err, "mail: cannot start libcurl");
    }
    int rc = S_addresses(m, err) || S_connections(m, err) ||
             S_transport(m, err) || S_load_sets(m, err) || S_site_ctx(m, err);
    for (size_t k = 0; !rc && k < S_NKINDS; k++)
        rc = S_kind_tpls(m, k, err);
    if (!rc) {
        buf b = BUF_INIT;
        rc = buf_printf(&b, "%s/mail", cfg->var_dir) ? err_set(err, "out of memory") : 0;
        m->outbox = buf_detach(&b, NULL);
        buf_free(&b);
    }
    if (!rc) {
        int k = vault_link_key(cfg->master_key_path, m->link_key, err);
        rc = k < 0 ? -1 : 0;
        m->has_link_key = k == 0;
    }
    if (!rc && m->transport == S_OUTBOX &&
        (util_mkdirs(m->outbox, 0700, err) || chmod(m->outbox, 0700)))
        rc = err->msg[0] ? -1 : err_set(err, "%s: %s", m->outbox, strerror(errno));
    if (rc) {
        mail_close(m);
        return -1;
    }
    *out = m;
    return 0;
}

void mail_close(mailer *m)
{
    if (!m)
        return;
    sodium_memzero(m->link_key, sizeof m->link_key);
    mail_smtp_close(m->smtp);
    for (size_t k = 0; k < S_NKINDS; k++)
        tpl_free(m->tpls[k].subject_default);
    tpl_set_free(m->site_set);
    tpl_set_free(m->theme_set);
    cJSON_Delete(m->site);
    free(m->from_name), free(m->from_addr);
    free(m->owner_name), free(m->owner_addr);
    free(m->url), free(m->shown), free(m->sendmail), free(m->outbox);
    curl_global_cleanup();
    free(m);
}

/* ---- one mail --------------------------------------------------------- */

typedef struct S_mail {
    size_t k;                        /* index in S_kinds */
    const char *to_name, *to_addr;
    const char *reply_name, *reply_addr;
    long long date_ms;
    char id[96];                     /* outbox ID */
    char mid[128];                   /* Message-ID left of '@', "" random */
    char token[ACCOUNTS_TOKEN_LEN + 1]; /* the link's, from the nonce */
} S_mail;

static const char *S_str(const cJSON *o, const char *field)
{
    const cJSON *v = field ? cJSON_GetObjectItemCaseSensitive(o, field) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void S_outbox_id(S_mail *ml, long long position)
{
    time_t t = (time_t)(ml->date_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof tm);
    snprintf(ml->id, sizeof ml->id, "%04d%02d%02dT%02d%02d%02dZ-%lld-%s",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, position, S_kinds[ml->k].name);
}

/* The values every template gets beside the fields: site, time, time_iso
 * and, for a form's page, page_url. */
static cJSON *S_context(mailer *m, const cJSON *fields, long long ms)
{
    cJSON *ctx = fields ? cJSON_Duplicate(fields, 1) : cJSON_CreateObject();
    char iso[32], human[40];
    util_format_iso_ms(ms, iso);
    snprintf(human, sizeof human, "%.10s %.5s UTC", iso, iso + 11);
    const char *page = S_str(fields, "page");
    buf url = BUF_INIT;
    if (!ctx || !cJSON_AddItemReferenceToObject(ctx, "site", m->site) ||
        !cJSON_AddStringToObject(ctx, "time", human) ||
        !cJSON_AddStringToObject(ctx, "time_iso", iso) ||
        (page && (buf_printf(&url, "%s%s", m->cfg->base_url,
                             page + (*page == '/')) ||
                  !cJSON_AddStringToObject(ctx, "page_url", url.ptr)))) {
        cJSON_Delete(ctx);
        ctx = NULL;
    }
    buf_free(&url);
    return ctx;
}

static int S_render(const S_tpls *t, const tpl *which, const cJSON *ctx,
                    int text, buf *out, folio_err *err)
{
    tpl_render_opts o = {.loader = tpl_set_loader, .loader_ud = (void *)t->set,
                         .text = text};
    return tpl_render(which, ctx, &o, out, err);
}

/* Renders the kind's templates with fields and builds the message. */
static int S_compose(mailer *m, const S_mail *ml, const cJSON *fields,
                     buf *out, folio_err *err)
{
    const S_tpls *t = &m->tpls[ml->k];
    cJSON *ctx = S_context(m, fields, ml->date_ms);
    buf subject = BUF_INIT, text = BUF_INIT, html = BUF_INIT;
    if (ctx && ml->token[0]) {
        cJSON_DeleteItemFromObjectCaseSensitive(ctx, "token");
        if (!cJSON_AddStringToObject(ctx, "token", ml->token)) {
            cJSON_Delete(ctx);
            ctx = NULL;
        }
    }
    int rc = ctx ? 0 : err_set(err, "out of memory");
    if (!rc)
        rc = S_render(t, t->subject, ctx, 1, &subject, err) ||
             S_render(t, t->txt, ctx, 1, &text, err) ||
             (t->html && S_render(t, t->html, ctx, 0, &html, err));
    if (!rc) {
        mail_message msg = {
            .from_name = m->from_name, .from_addr = m->from_addr,
            .to_name = ml->to_name, .to_addr = ml->to_addr,
            .reply_name = ml->reply_name, .reply_addr = ml->reply_addr,
            .subject = subject.ptr ? subject.ptr : "",
            .text = text.ptr ? text.ptr : "", .text_len = text.len,
            .html = t->html ? (html.ptr ? html.ptr : "") : NULL,
            .html_len = html.len, .date_ms = ml->date_ms,
            .id = ml->mid[0] ? ml->mid : NULL};
        rc = mail_build(&msg, out, err);
    }
    if (rc)
        err_prefix(err, "mail '%s'", S_kinds[ml->k].name);
    cJSON_Delete(ctx);
    buf_free(&subject), buf_free(&text), buf_free(&html);
    return rc ? -1 : 0;
}

/* The token of the link an event's mail holds: derived from the event's
 * nonce (the log never holds the token); an old event without one
 * carries the token itself (in its personal fields). */
static int S_link_token(mailer *m, const consumer_event *ev, S_mail *ml,
                        folio_err *err)
{
    const char *nonce = S_str(ev->data, "nonce");
    if (!nonce)
        return 0;
    unsigned char key[VAULT_LINK_KEY_LEN];
    int k = 0;
    if (m->has_link_key)
        memcpy(key, m->link_key, sizeof key);
    else /* the site's master key was made after the mailer opened */
        k = vault_link_key(m->cfg->master_key_path, key, err);
    if (k == 0 && accounts_token_of_nonce(key, nonce, ml->token) < 0)
        k = err_set(err, "%s at %lld: the link's nonce is malformed",
                    ev->type, ev->position);
    else if (k > 0)
        k = err_set(err, "%s at %lld: no master key to make the link with",
                    ev->type, ev->position);
    sodium_memzero(key, sizeof key);
    return k;
}

/* Who gets the event's mail. 1: nobody (not a type mail reads, or the
 * person has been forgotten since), 0: ml filled in, -1: unusable. */
static int S_address(mailer *m, const consumer_event *ev, S_mail *ml,
                     folio_err *err)
{
    size_t k = 0;
    while (k < S_NKINDS && !(S_kinds[k].type && !strcmp(S_kinds[k].type, ev->type)))
        k++;
    if (k == S_NKINDS)
        return 1;
    /* a sign-up waiting for verification gets its link, not a welcome */
    if (cJSON_IsTrue(cJSON_GetObjectItem(ev->data, "pending")))
        return 1;
    const S_kind *kind = &S_kinds[k];
    const cJSON *p = ev->personal;
    if (!p)
        return err_set(err, "%s at %lld: no personal fields to mail",
                       ev->type, ev->position);
    memset(ml, 0, sizeof *ml);
    ml->k = k;
    ml->to_addr = kind->to_field ? S_str(p, kind->to_field) : m->owner_addr;
    ml->to_name = kind->to_field ? S_str(p, kind->to_name_field) : m->owner_name;
    if (kind->reply_field == S_OWNER) {
        ml->reply_addr = m->owner_addr;
        ml->reply_name = m->owner_name;
    } else {
        ml->reply_addr = S_str(p, kind->reply_field);
        ml->reply_name = S_str(p, kind->reply_name_field);
    }
    if ((ml->to_addr && !strcmp(ml->to_addr, S_REDACTED)) ||
        (ml->reply_addr && !strcmp(ml->reply_addr, S_REDACTED)))
        return 1;
    if (!mail_addr_valid(ml->to_addr))
        return err_set(err, "%s at %lld: the recipient's address is not one"
                       " mail can be sent to", ev->type, ev->position);
    if (!mail_addr_valid(ml->reply_addr)) /* the mail still goes, unanswerable */
        ml->reply_addr = ml->reply_name = NULL;
    if (S_link_token(m, ev, ml, err) < 0)
        return -1;
    ml->date_ms = ev->recorded_at;
    /* the same event gives the same Message-ID: a client shows a repeat once */
    if (ev->event_id)
        snprintf(ml->mid, sizeof ml->mid, "%s.%s", ev->event_id, kind->name);
    if (!S_id_ok(ml->mid))
        ml->mid[0] = '\0';
    S_outbox_id(ml, ev->position);
    return 0;
}

int mail_render(mailer *m, const consumer_event *ev, buf *out, char id[96],
                folio_err *err)
{
    S_mail ml;
    int rc = S_address(m, ev, &ml, err);
    if (rc)
        return rc < 0 ? CONSUMER_PERMANENT : (id[0] = '\0', CONSUMER_DONE);
    if (S_compose(m, &ml, ev->personal, out, err))
        return CONSUMER_PERMANENT;
    snprintf(id, 96, "%s", ml.id);
    return CONSUMER_DONE;
}

/* ---- transports ------------------------------------------------------- */

static int S_outbox_write(mailer *m, const S_mail *ml, const buf *msg,
                          folio_err *err)
{
    char path[PATH_MAX];
    /* durable: once the handler says done, the log reader moves past it */
    if (util_path(path, sizeof path, err, "%s/%s.eml", m->outbox, ml->id) ||
        util_write_atomic_mode(path, msg->ptr, msg->len, 0600, 1, err))
        return CONSUMER_RETRY;
    return CONSUMER_DONE;
}

/* The one message of S_smtp_one. */
typedef struct S_one {
    const char *to;
    const buf *msg;
} S_one;

static int S_one_prep(void *ud, size_t i, buf *msg, char *to, size_t tocap,
                      folio_err *err)
{
    const S_one *o = ud;
    (void)i;
    snprintf(to, tocap, "%s", o->to);
    return buf_add(msg, o->msg->ptr, o->msg->len)
               ? (err_set(err, "out of memory"), CONSUMER_RETRY)
               : MAIL_SMTP_SEND;
}

static int S_smtp_one(mailer *m, const char *to, const buf *msg, folio_err *err)
{
    S_one o = {to, msg};
    int r;
    mail_smtp_send(m->smtp, m->from_addr, 1, S_one_prep, &o, &r, err);
    if (r == CONSUMER_UNTRIED) { /* stopping: a later run sends it */
        err_set(err, "%s: folio is stopping", m->shown);
        r = CONSUMER_RETRY;
    }
    return r;
}

/* The message with LF line ends, as a local sendmail expects. */
static int S_to_lf(const buf *msg, buf *out)
{
    for (size_t i = 0; i < msg->len; i++)
        if (!(msg->ptr[i] == '\r' && i + 1 < msg->len && msg->ptr[i + 1] == '\n') &&
            buf_putc(out, msg->ptr[i]))
            return -1;
    return 0;
}

/* Writes to the pipe with SIGPIPE held back: a sendmail that dies early
 * must not take this process with it. */
static int S_pipe_write(int fd, const buf *data)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    int rc = util_write_all(fd, data->ptr, data->len);
    if (rc && errno == EPIPE) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static int S_spawn(const char *path, int in, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    char *argv[] = {(char *)path, "-t", "-i", NULL};
    if (posix_spawn_file_actions_init(&fa))
        return ENOMEM;
    if (posix_spawnattr_init(&at)) {
        posix_spawn_file_actions_destroy(&fa);
        return ENOMEM;
    }
    int rc = posix_spawn_file_actions_adddup2(&fa, in, 0);
    if (!rc)
        rc = posix_spawnattr_setsigmask(&at, &none);
    if (!rc)
        rc = posix_spawnattr_setsigdefault(&at, &dfl);
    if (!rc)
        rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (!rc)
        rc = posix_spawn(pid, path, &fa, &at, argv, environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

/* sendmail -t -i: exit 0 sent, 75 (EX_TEMPFAIL) later, else refused. */
static int S_sendmail(mailer *m, const buf *msg, folio_err *err)
{
    if (access(m->sendmail, X_OK))
        return err_set(err, "%s: %s (install a mail server, or set"
                       " mail.transport)", m->sendmail, strerror(errno)),
               CONSUMER_RETRY;
    buf lf = BUF_INIT;
    int p[2];
    pid_t pid;
    if (S_to_lf(msg, &lf)) {
        buf_free(&lf);
        return err_set(err, "out of memory"), CONSUMER_RETRY;
    }
    if (pipe2(p, O_CLOEXEC)) {
        buf_free(&lf);
        return err_set(err, "pipe: %s", strerror(errno)), CONSUMER_RETRY;
    }
    int rc = S_spawn(m->sendmail, p[0], &pid);
    close(p[0]);
    if (rc) {
        close(p[1]);
        buf_free(&lf);
        return err_set(err, "%s: %s", m->sendmail, strerror(rc)), CONSUMER_RETRY;
    }
    int wrote = S_pipe_write(p[1], &lf);
    close(p[1]);
    buf_free(&lf);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return err_set(err, "%s: %s", m->sendmail, strerror(errno)),
                   CONSUMER_RETRY;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && !wrote)
        return CONSUMER_DONE;
    if (!WIFEXITED(st))
        return err_set(err, "%s: killed by signal %d", m->sendmail,
                       WTERMSIG(st)), CONSUMER_RETRY;
    err_set(err, "%s: exit status %d", m->sendmail, WEXITSTATUS(st));
    return WEXITSTATUS(st) == 75 || WEXITSTATUS(st) == 0 ? CONSUMER_RETRY
                                                         : CONSUMER_PERMANENT;
}

static int S_deliver(mailer *m, const S_mail *ml, const buf *msg, folio_err *err)
{
    switch (m->transport) {
    case S_SMTP: return S_smtp_one(m, ml->to_addr, msg, err);
    case S_SENDMAIL: return S_sendmail(m, msg, err);
    case S_OUTBOX: break;
    }
    return S_outbox_write(m, ml, msg, err);
}

int mail_send(mailer *m, const consumer_event *ev, char id[96], folio_err *err)
{
    S_mail ml;
    id[0] = '\0';
    int rc = S_address(m, ev, &ml, err);
    if (rc)
        return rc < 0 ? CONSUMER_PERMANENT : CONSUMER_DONE;
    buf msg = BUF_INIT;
    rc = S_compose(m, &ml, ev->personal, &msg, err) ? CONSUMER_PERMANENT
                                                     : S_deliver(m, &ml, &msg, err);
    buf_free(&msg);
    snprintf(id, 96, "%s", ml.id);
    return rc;
}

int mail_handle(void *ud, const consumer_event *ev, folio_err *err)
{
    char id[96];
    return mail_send(ud, ev, id, err);
}

/* The batch of mail_handle_batch: events whose mails are composed as a
 * connection comes free for them. */
typedef struct S_batch {
    mailer *m;
    const consumer_event *evs;
} S_batch;

static int S_batch_prep(void *ud, size_t i, buf *msg, char *to, size_t tocap,
                        folio_err *err)
{
    S_batch *b = ud;
    S_mail ml;
    int rc = S_address(b->m, &b->evs[i], &ml, err);
    if (rc)
        return rc < 0 ? CONSUMER_PERMANENT : CONSUMER_DONE;
    if (S_compose(b->m, &ml, b->evs[i].personal, msg, err))
        return CONSUMER_PERMANENT;
    snprintf(to, tocap, "%s", ml.to_addr);
    return MAIL_SMTP_SEND;
}

void mail_handle_batch(void *ud, const consumer_event *evs, size_t n,
                       int *results, folio_err *errs)
{
    mailer *m = ud;
    if (m->transport == S_SMTP) {
        S_batch b = {m, evs};
        mail_smtp_send(m->smtp, m->from_addr, n, S_batch_prep, &b, results,
                       errs);
        return;
    }
    for (size_t i = 0; i < n && !consumers_cancelled(); i++)
        results[i] = mail_handle(m, &evs[i], &errs[i]);
}

size_t mail_batch_max(const mailer *m)
{
    /* enough that every connection has a queue, few enough that a crash
     * repeats little; files and sendmail go one at a time */
    return m->transport == S_SMTP ? 16 * (size_t)m->connections : 1;
}

const char *mail_transport_name(const mailer *m) { return m->shown; }

int mail_send_test(mailer *m, const char *to, char *where, size_t wherecap,
                   folio_err *err)
{
    if (!mail_addr_valid(to))
        return err_set(err, "'%s': not a valid e-mail address", to),
               CONSUMER_PERMANENT;
    size_t k = 0;
    while (strcmp(S_kinds[k].name, "test"))
        k++;
    S_mail ml = {.k = k, .to_addr = to, .date_ms = util_now_ms()};
    S_outbox_id(&ml, 0);
    cJSON *fields = cJSON_CreateObject();
    buf msg = BUF_INIT;
    int rc = !fields || !cJSON_AddStringToObject(fields, "to", to)
                 ? (err_set(err, "out of memory"), CONSUMER_RETRY)
                 : S_compose(m, &ml, fields, &msg, err) ? CONSUMER_PERMANENT
                                                        : S_deliver(m, &ml, &msg, err);
    if (where && wherecap)
        snprintf(where, wherecap, "%s", m->transport == S_OUTBOX ? ml.id : m->shown);
    cJSON_Delete(fields);
    buf_free(&msg);
    return rc;
}

/* ---- the outbox ------------------------------------------------------- */

static int S_outbox_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (!n || n >= sizeof ((mail_outbox_entry *)0)->id || id[0] == '.' ||
        strstr(id, ".."))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '.')
            return 0;
    return 1;
}

int mail_outbox_path(const folio_config *cfg, const char *id, char *path,
                     size_t cap, folio_err *err)
{
    if (!S_outbox_id_ok(id))
        return err_set(err, "'%s' is not a message ID (see 'folio mail')", id);
    if (util_path(path, cap, err, "%s/mail/%s.eml", cfg->var_dir, id))
        return -1;
    if (!util_is_file(path))
        return err_set(err, "no message '%s' in the outbox", id);
    return 0;
}

/* Appends the value of header name (unfolded) in the header block hdrs. */
static int S_header(const char *hdrs, const char *name, buf *out)
{
    size_t nl = strlen(name);
    for (const char *l = hdrs; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l) {
        if (strncasecmp(l, name, nl) || l[nl] != ':')
            continue;
        const char *v = l + nl + 1;
        for (;;) {
            size_t n = strcspn(v, "\r\n");
            if (buf_add(out, v, n))
                return -1;
            v += n;
            v += *v == '\r';
            v += *v == '\n';
            if (*v != ' ' && *v != '\t')
                return 0;
        }
    }
    return 0;
}

/* RFC 2047 words (as mail_encode_header writes them) decoded into b;
 * space between two words dropped. */
static int S_decode(const char *s, buf *b)
{
    int after_word = 0;
    while (*s) {
        const char *end;
        unsigned char bin[512];
        size_t bl = 0;
        if (!strncasecmp(s, "=?utf-8?b?", 10) && (end = strstr(s + 10, "?=")) &&
            !sodium_base642bin(bin, sizeof bin, s + 10, (size_t)(end - s - 10),
                               NULL, &bl, NULL, sodium_base64_VARIANT_ORIGINAL)) {
            if (after_word)
                while (b->len && b->ptr[b->len - 1] == ' ')
                    b->ptr[--b->len] = '\0';
            if (buf_add(b, (const char *)bin, bl))
                return -1;
            s = end + 2;
            after_word = 1;
            continue;
        }
        if (*s != ' ' && *s != '\t')
            after_word = 0;
        if (buf_putc(b, *s++))
            return -1;
    }
    return 0;
}

/* Header name of hdrs into out (cap bytes): decoded, controls shown as
 * spaces (a subject reaches a terminal), cut at a character. */
static int S_field(const char *hdrs, const char *name, char *out, size_t cap)
{
    buf raw = BUF_INIT, dec = BUF_INIT, clean = BUF_INIT;
    int rc = S_header(hdrs, name, &raw) || S_decode(raw.ptr ? raw.ptr : "", &dec) ||
             S_clean(&clean, dec.ptr ? dec.ptr : "", dec.len, cap - 1) < 0;
    snprintf(out, cap, "%s", !rc && clean.ptr ? clean.ptr : "");
    buf_free(&raw), buf_free(&dec), buf_free(&clean);
    return rc ? -1 : 0;
}

/* 0, 1 when the file cannot be read (gone since), -1 out of memory. */
static int S_entry_read(const char *path, mail_outbox_entry *e)
{
    char *text = NULL;
    size_t len;
    folio_err ignored;
    if (util_read_file(path, &text, &len, &ignored))
        return 1;
    char *end = strstr(text, "\r\n\r\n");
    if (!end)
        end = strstr(text, "\n\n");
    if (end)
        *end = '\0';
    int rc = S_field(text, "Date", e->date, sizeof e->date) ||
             S_field(text, "Subject", e->subject, sizeof e->subject) ||
             S_field(text, "To", e->to, sizeof e->to);
    free(text);
    /* the address alone: what is inside <>, else the first word */
    char *lt = strrchr(e->to, '<');
    char *a = lt ? lt + 1 : e->to;
    size_t n = strcspn(a, "> ");
    memmove(e->to, a, n);
    e->to[n] = '\0';
    return rc ? -1 : 0;
}

static int S_entry_cmp(const void *a, const void *b)
{
    return strverscmp(((const mail_outbox_entry *)a)->id,
                      ((const mail_outbox_entry *)b)->id);
}

int mail_outbox_list(const folio_config *cfg, mail_outbox_entry **out,
                     size_t *n, folio_err *err)
{
    *out = NULL, *n = 0;
    char dir[PATH_MAX], path[PATH_MAX];
    if (util_path(dir, sizeof dir, err, "%s/mail", cfg->var_dir))
        return -1;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : err_set(err, "%s: %s", dir, strerror(errno));
    struct dirent *de;
    size_t cap = 0;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        mail_outbox_entry e;
        memset(&e, 0, sizeof e);
        if (l <= 4 || strcmp(de->d_name + l - 4, ".eml") || l - 4 >= sizeof e.id)
            continue;
        memcpy(e.id, de->d_name, l - 4);
        if (!S_outbox_id_ok(e.id) ||
            util_path(path, sizeof path, NULL, "%s/%s", dir, de->d_name))
            continue; /* not ours */
        int got = S_entry_read(path, &e);
        if (got < 0) {
            rc = err_set(err, "out of memory");
            break;
        }
        if (got > 0)
            continue; /* gone since */
        if (*n == cap) {
            mail_outbox_entry *g = realloc(*out, (cap = cap ? 2 * cap : 64) * sizeof *g);
            if (!g) {
                rc = err_set(err, "out of memory");
                break;
            }
            *out = g;
        }
        (*out)[(*n)++] = e;
    }
    closedir(d);
    if (rc) {
        free(*out);
        *out = NULL, *n = 0;
        return -1;
    }
    if (*n)
        qsort(*out, *n, sizeof **out, S_entry_cmp);
    return 0;
}
