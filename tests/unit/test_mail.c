/* mail: header encoding that no visitor value can break out of, whole
 * messages read back by Python's email parser, the mailer over the
 * outbox and sendmail transports, and the outbox listing; SMTP batches
 * over several kept-alive connections (a result per mail, the limit). */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "mail.h"
#include "unit.h"
#include "util.h"
#include "../smtp/responder.h"

/* ---- helpers ---------------------------------------------------------- */

/* Checks the header block of msg: CRLF line ends, every line a "Name:" or
 * a continuation, lines under 78 characters, only printable ASCII, and
 * each header exactly once. Returns the number of header fields. */
static int check_headers(const char *msg)
{
    const char *end = strstr(msg, "\r\n\r\n");
    ck_assert_ptr_nonnull(end);
    int fields = 0;
    char names[32][40];
    for (const char *l = msg; l <= end; ) {
        const char *eol = strstr(l, "\r\n");
        ck_assert_ptr_nonnull(eol);
        size_t n = (size_t)(eol - l);
        ck_assert_msg(n < 78, "header line of %zu: %.*s", n, (int)n, l);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(l[i] >= 0x20 && l[i] < 0x7F, "byte %02x in a header",
                          (unsigned char)l[i]);
        if (l[0] == ' ' || l[0] == '\t') {
            ck_assert_int_gt(fields, 0);
        } else {
            const char *colon = memchr(l, ':', n);
            ck_assert_msg(colon != NULL, "not a header: %.*s", (int)n, l);
            ck_assert_int_lt(fields, 32);
            snprintf(names[fields], sizeof names[0], "%.*s", (int)(colon - l), l);
            for (int i = 0; i < fields; i++)
                ck_assert_msg(strcasecmp(names[i], names[fields]),
                              "two %s headers", names[i]);
            fields++;
        }
        l = eol + 2;
    }
    return fields;
}

/* Decodes the RFC 2047 words of one header value (as written here). */
static char *decode_words(const char *v)
{
    buf b = BUF_INIT;
    while (*v) {
        const char *e;
        if (!strncmp(v, "=?utf-8?b?", 10) && (e = strstr(v + 10, "?="))) {
            unsigned char bin[256];
            size_t bl;
            ck_assert_int_eq(sodium_base642bin(bin, sizeof bin, v + 10,
                                               (size_t)(e - v - 10), NULL, &bl,
                                               NULL, sodium_base64_VARIANT_ORIGINAL), 0);
            buf_add(&b, (char *)bin, bl);
            v = e + 2;
            while (*v == '\r' || *v == '\n' || *v == ' ')
                v++;
            continue;
        }
        buf_putc(&b, *v++);
    }
    return buf_detach(&b, NULL);
}

/* The value of header NAME, folding removed. */
static char *header(const char *msg, const char *name)
{
    size_t nl = strlen(name);
    for (const char *l = msg; l; l = strstr(l, "\r\n"), l = l ? l + 2 : l) {
        if (!strncmp(l, "\r\n", 2))
            break;
        if (strncmp(l, name, nl) || l[nl] != ':')
            continue;
        buf b = BUF_INIT;
        const char *v = l + nl + 1;
        for (;;) {
            const char *eol = strstr(v, "\r\n");
            buf_add(&b, v, (size_t)(eol - v));
            v = eol + 2;
            if (*v != ' ')
                break;
        }
        return buf_detach(&b, NULL);
    }
    return NULL;
}

/* Python's email parser on msg: a JSON summary (see the script). */
static cJSON *python_reads(const char *msg, size_t len)
{
    char path[] = "/tmp/folio-test-mail-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(util_write_all(fd, msg, len), 0);
    close(fd);
    buf cmd = BUF_INIT;
    buf_printf(&cmd, "python3 - '%s' <<'EOF'\n"
        "import sys, json, email\n"
        "from email import policy\n"
        "m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)\n"
        "def addrs(h):\n"
        "    return [[a.display_name, a.addr_spec] for v in (m.get_all(h) or []) for a in v.addresses]\n"
        "text = m.get_body(('plain',))\n"
        "html = m.get_body(('html',))\n"
        "print(json.dumps({'to': addrs('To'), 'reply_to': addrs('Reply-To'),\n"
        "  'from': addrs('From'), 'n_to': len(m.get_all('To') or []),\n"
        "  'n_reply_to': len(m.get_all('Reply-To') or []),\n"
        "  'cc': len(m.get_all('Cc') or []) + len(m.get_all('Bcc') or []),\n"
        "  'subject': str(m['Subject']), 'keys': m.keys(),\n"
        "  'text': text.get_content() if text else None,\n"
        "  'html': html.get_content() if html else None,\n"
        "  'defects': [str(d) for d in m.defects] + [str(d) for p in m.walk() for d in p.defects]}))\n"
        "EOF\n", path);
    FILE *p = popen(cmd.ptr, "r");
    ck_assert_ptr_nonnull(p);
    buf out = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        buf_add(&out, chunk, n);
    ck_assert_int_eq(pclose(p), 0);
    unlink(path);
    buf_free(&cmd);
    cJSON *j = cJSON_Parse(out.ptr ? out.ptr : "");
    ck_assert_msg(j != NULL, "python said: %s", out.ptr ? out.ptr : "");
    buf_free(&out);
    return j;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* [[name, addr], ...][i][f] */
static const char *jaddr(const cJSON *o, const char *k, int i, int f)
{
    const cJSON *v = cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, k), i), f);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- addresses -------------------------------------------------------- */

START_TEST(addresses_valid_and_not)
{
    const char *good[] = {"a@example.org", "first.last+tag@mail.example.co.uk",
                          "o'neil@example.org", "x@localhost", NULL};
    const char *bad[] = {"", "a", "@example.org", "a@", "a@b@example.org",
                         "a@example.org\r\nBcc: x@evil.org", "a b@example.org",
                         "a@exa mple.org", "<a@example.org>", "a,b@example.org",
                         "a;b@example.org", "\"a\"@example.org", ".a@example.org",
                         "a..b@example.org", "a@-example.org", "a@example-.org",
                         "a@example..org", "a@ex\x01.org", "\xc3\xa9@example.org",
                         "a@example.org\n", "a\0@example.org", NULL};
    for (int i = 0; good[i]; i++)
        ck_assert_msg(mail_addr_valid(good[i]), "refused %s", good[i]);
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(!mail_addr_valid(bad[i]), "took %s", bad[i]);
    char longl[80];
    memset(longl, 'a', 65);
    strcpy(longl + 65, "@example.org");
    ck_assert(!mail_addr_valid(longl));
    ck_assert(!mail_addr_valid(NULL));
}
END_TEST

START_TEST(mailbox_parsing)
{
    folio_err err;
    char *d, *a;
    ck_assert_int_eq(mail_parse_mailbox("Noor Vellacott <site@example.org>", &d, &a, &err), 0);
    ck_assert_str_eq(d, "Noor Vellacott");
    ck_assert_str_eq(a, "site@example.org");
    free(d), free(a);
    ck_assert_int_eq(mail_parse_mailbox(" noor@example.org ", &d, &a, &err), 0);
    ck_assert_str_eq(d, "");
    ck_assert_str_eq(a, "noor@example.org");
    free(d), free(a);
    ck_assert_int_eq(mail_parse_mailbox("\"Vellacott, Noor\" <n@example.org>", &d, &a, &err), 0);
    ck_assert_str_eq(d, "Vellacott, Noor");
    free(d), free(a);
    ck_assert_int_eq(mail_parse_mailbox("Noor <n@example.org", &d, &a, &err), -1);
    ck_assert_int_eq(mail_parse_mailbox("Noor <n@example.org> x", &d, &a, &err), -1);
    ck_assert_int_eq(mail_parse_mailbox("n@a@example.org", &d, &a, &err), -1);
    ck_assert_ptr_null(d);
}
END_TEST

/* ---- header encoding -------------------------------------------------- */

/* Checks that b is one header field "NAME:...": lines under 78
 * characters of printable ASCII, CRLF only at their ends, continuations
 * indented. */
static void one_field(const buf *b, const char *name)
{
    size_t nl = strlen(name);
    ck_assert(!strncmp(b->ptr, name, nl) && b->ptr[nl] == ':');
    for (const char *l = b->ptr; *l; ) {
        const char *eol = strstr(l, "\r\n");
        ck_assert_ptr_nonnull(eol);
        ck_assert_int_lt(eol - l, 78);
        for (const char *c = l; c < eol; c++)
            ck_assert(*c >= 0x20 && *c < 0x7F);
        l = eol + 2;
        ck_assert(!*l || *l == ' ');
    }
}

/* Encodes v as a Subject into b, checks it is one field and returns the
 * value unfolded and decoded. */
static char *subject_of(const char *v, size_t n, buf *b)
{
    folio_err err;
    b->len = 0;
    ck_assert_int_eq(mail_encode_header(b, "Subject", v, n, &err), 0);
    one_field(b, "Subject");
    buf unfolded = BUF_INIT;
    for (const char *c = b->ptr + 9; *c; c++)
        if (*c != '\r' && *c != '\n')
            buf_putc(&unfolded, *c);
    char *d = decode_words(unfolded.ptr ? unfolded.ptr : "");
    buf_free(&unfolded);
    return d;
}

START_TEST(header_plain_ascii_stays_plain)
{
    buf b = BUF_INIT;
    free(subject_of("Hello there", 11, &b));
    ck_assert_str_eq(b.ptr, "Subject: Hello there\r\n");
    buf_free(&b);
}
END_TEST

START_TEST(header_crlf_cannot_add_a_header)
{
    const char v[] = "Hi\r\nBcc: victim@example.org\r\n\r\nbody\nX-Evil: 1\0tail";
    buf b = BUF_INIT;
    char *d = subject_of(v, sizeof v - 1, &b);
    ck_assert_str_eq(d, "Hi  Bcc: victim@example.org    body X-Evil: 1 tail");
    free(d);
    buf_free(&b);
}
END_TEST

START_TEST(header_visitor_encoded_word_is_not_decoded)
{
    /* "=?utf-8?b?QmNjOiB4QGV2aWwub3Jn?=" would read as "Bcc: x@evil.org" */
    const char *v = "=?utf-8?b?QmNjOiB4QGV2aWwub3Jn?=";
    buf b = BUF_INIT;
    char *d = subject_of(v, strlen(v), &b);
    ck_assert_ptr_null(strstr(b.ptr, "QmNjOiB4QGV2aWwub3Jn?="));
    ck_assert_str_eq(d, v);
    free(d);
    buf_free(&b);
}
END_TEST

START_TEST(header_utf8_long_is_folded_words)
{
    buf v = BUF_INIT, b = BUF_INIT;
    for (int i = 0; i < 40; i++)
        buf_puts(&v, "Grüße aus Köln ");
    buf_puts(&v, "\xF0\x9F\x8C\xB7");
    char *d = subject_of(v.ptr, v.len, &b);
    ck_assert(util_utf8_valid(d, strlen(d))); /* no character split */
    ck_assert_int_le(strlen(d), 400);         /* cut at 400 bytes */
    ck_assert_int_gt(strlen(d), 390);
    ck_assert(!strncmp(d, "Grüße aus Köln Grüße", strlen("Grüße aus Köln Grüße")));
    free(d);
    buf_free(&b), buf_free(&v);
}
END_TEST

START_TEST(header_invalid_utf8_and_controls)
{
    buf b = BUF_INIT;
    char *d = subject_of("a\xff\tb\x1b[31m", 9, &b);
    ck_assert_str_eq(d, "a\xEF\xBF\xBD b [31m");
    free(d);
    buf_free(&b);
}
END_TEST

/* Random bytes, weighted toward what breaks headers: every result is one
 * field of printable ASCII lines under 78 characters, and decodes to
 * valid UTF-8 without controls. */
START_TEST(header_random_values_stay_one_field)
{
    static const char *const bits[] = {"\r", "\n", "\r\n", "=?", "?=", "=?utf-8?b?",
                                       "<", ">", ",", ";", "\"", "@", " ", "\0",
                                       "\xc3\xa9", "\xff", "\xe2\x80", "Bcc: ", "a"};
    unsigned seed = 12345;
    for (int round = 0; round < 3000; round++) {
        char v[600];
        size_t n = 0, want = (size_t)(rand_r(&seed) % 500);
        while (n < want) {
            const char *b = bits[rand_r(&seed) % (sizeof bits / sizeof bits[0])];
            size_t bl = *b ? strlen(b) : 1;
            if (n + bl > sizeof v)
                break;
            memcpy(v + n, b, bl);
            n += bl;
        }
        buf b = BUF_INIT;
        char *d = subject_of(v, n, &b);
        ck_assert(util_utf8_valid(d, strlen(d)));
        for (const char *c = d; *c; c++)
            ck_assert((unsigned char)*c >= 0x20 && *c != 0x7F);
        free(d);
        /* and as a display name */
        b.len = 0;
        folio_err err;
        v[n < sizeof v ? n : sizeof v - 1] = '\0';
        ck_assert_int_eq(mail_encode_address(&b, "Reply-To", v, "v@example.org", &err), 0);
        one_field(&b, "Reply-To");
        /* one address, at the end; nothing that could start another */
        ck_assert_int_eq(strcspn(b.ptr, ",;\"@"), strstr(b.ptr, "v@example.org") - b.ptr + 1);
        ck_assert(strrchr(b.ptr, '<') ? !strcmp(strchr(b.ptr, '<'), "<v@example.org>\r\n")
                                      : !strcmp(b.ptr, "Reply-To: v@example.org\r\n"));
        buf_free(&b);
    }
}
END_TEST

START_TEST(address_names_cannot_add_recipients)
{
    const char *names[] = {"Eve <eve@evil.org>, Mallory", "A; B: c@d.org",
                           "\"Quoted\" \\ Name", "Noor (comment) <x@y.org>",
                           "=?utf-8?b?ZXZlQGV2aWwub3Jn?=", "Line\r\nBcc: x@evil.org",
                           "Zoë Ångström", NULL};
    for (int i = 0; names[i]; i++) {
        buf b = BUF_INIT;
        folio_err err;
        ck_assert_int_eq(mail_encode_address(&b, "Reply-To", names[i],
                                             "visitor@example.org", &err), 0);
        /* the only '<' '>' ',' ';' '"' left are the address's brackets */
        ck_assert_int_eq(strcspn(b.ptr, ",;\""), b.len);
        ck_assert_ptr_eq(strchr(b.ptr, '<'), strrchr(b.ptr, '<'));
        ck_assert_str_eq(strrchr(b.ptr, '<'), "<visitor@example.org>\r\n");
        buf_free(&b);
    }
    buf b = BUF_INIT;
    folio_err err;
    ck_assert_int_eq(mail_encode_address(&b, "To", "Ada Lovelace", "ada@example.org", &err), 0);
    ck_assert_str_eq(b.ptr, "To: Ada Lovelace <ada@example.org>\r\n");
    b.len = 0;
    ck_assert_int_eq(mail_encode_address(&b, "To", NULL, "ada@example.org", &err), 0);
    ck_assert_str_eq(b.ptr, "To: ada@example.org\r\n");
    ck_assert_int_eq(mail_encode_address(&b, "To", "x", "a@b.org\r\nBcc: c@d.org", &err), -1);
    ck_assert_int_eq(mail_encode_address(&b, "To", "x", "a@b@c.org", &err), -1);
    ck_assert_int_eq(mail_encode_address(&b, "To: x\r\nBcc", "x", "a@b.org", &err), -1);
    ck_assert_int_eq(mail_encode_header(&b, "Subject: x\r\nBcc", "x", 1, &err), -1);
    ck_assert_int_eq(mail_encode_header(&b, "", "x", 1, &err), -1);
    buf_free(&b);
}
END_TEST

/* ---- whole messages --------------------------------------------------- */

static const char S_hostile_name[] = "Eve \"the\" <eve@evil.org>, Bcc: x@evil.org; =?utf-8?q?x?=";

START_TEST(message_parsed_back)
{
    buf text = BUF_INIT;
    buf_puts(&text, "Hallo, Grüße!\n.\nFrom here\ntrailing space \n");
    for (int i = 0; i < 1500; i++) /* one line of 3000 bytes */
        buf_puts(&text, "é");
    buf_puts(&text, "\nend");
    mail_message m = {
        .from_name = "Noor Vellacott", .from_addr = "site@example.org",
        .to_name = NULL, .to_addr = "noor@example.org",
        .reply_name = S_hostile_name, .reply_addr = "eve@example.net",
        .subject = "Re: =?utf-8?b?SGk=?= \r\nBcc: x@evil.org Ünïcödé",
        .text = text.ptr, .text_len = text.len,
        .html = "<p>Grüße</p>", .html_len = strlen("<p>Grüße</p>"),
        .date_ms = 1795774500000LL, .id = "abc.contact"};
    buf b = BUF_INIT;
    folio_err err;
    ck_assert_int_eq(mail_build(&m, &b, &err), 0);
    ck_assert_int_eq(check_headers(b.ptr), 8); /* CTE is per part */
    /* the body: ASCII lines of at most 76 */
    for (const char *l = strstr(b.ptr, "\r\n\r\n") + 4; *l; ) {
        const char *eol = strstr(l, "\r\n");
        ck_assert_ptr_nonnull(eol);
        ck_assert_int_le(eol - l, 76);
        for (const char *c = l; c < eol; c++)
            ck_assert(*c > 0 && *c < 0x7F);
        l = eol + 2;
    }
    char *date = header(b.ptr, "Date"), *mid = header(b.ptr, "Message-ID");
    ck_assert_str_eq(date, " Fri, 27 Nov 2026 10:15:00 +0000");
    ck_assert_str_eq(mid, " <abc.contact@example.org>");
    free(date), free(mid);

    cJSON *j = python_reads(b.ptr, b.len);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "defects")), 0);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "n_to")->valueint, 1);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "to")), 1);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "n_reply_to")->valueint, 1);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "reply_to")), 1);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "cc")->valueint, 0);
    ck_assert_str_eq(jaddr(j, "to", 0, 1), "noor@example.org");
    ck_assert_str_eq(jaddr(j, "reply_to", 0, 1), "eve@example.net");
    /* exact by RFC 2047; Python's address parser keeps a space between
     * two encoded words, where the name had one already */
    char *rt = header(b.ptr, "Reply-To");
    char *name = decode_words(rt + 1);
    ck_assert_str_eq(name, "Eve \"the\" <eve@evil.org>, Bcc: x@evil.org; "
                     "=?utf-8?q?x?=<eve@example.net>"); /* (this decoder eats the space) */
    free(rt), free(name);
    ck_assert_str_eq(jaddr(j, "reply_to", 0, 0),
                     "Eve \"the\" <eve@evil.org>, Bcc:  x@evil.org; =?utf-8?q?x?=");
    ck_assert_str_eq(jaddr(j, "from", 0, 0), "Noor Vellacott");
    ck_assert_str_eq(jstr(j, "subject"), "Re: =?utf-8?b?SGk=?=   Bcc: x@evil.org Ünïcödé");
    const char *t = jstr(j, "text");
    ck_assert_ptr_nonnull(t);
    ck_assert(!strncmp(t, "Hallo, Grüße!\n.\nFrom here\ntrailing space \n", 41));
    ck_assert_msg(strlen(t) == text.len + 1, "%zu: ...%s", strlen(t), t + strlen(t) - 20); /* + the final newline */
    ck_assert_str_eq(jstr(j, "html"), "<p>Grüße</p>\n");
    cJSON_Delete(j);
    buf_free(&b), buf_free(&text);
}
END_TEST

START_TEST(message_text_only_and_refusals)
{
    mail_message m = {.from_addr = "site@example.org", .to_addr = "noor@example.org",
                      .subject = NULL, .text = "", .text_len = 0};
    buf b = BUF_INIT;
    folio_err err;
    ck_assert_int_eq(mail_build(&m, &b, &err), 0);
    ck_assert_ptr_nonnull(strstr(b.ptr, "Content-Type: text/plain; charset=utf-8\r\n"));
    ck_assert_ptr_null(strstr(b.ptr, "multipart"));
    ck_assert_ptr_null(strstr(b.ptr, "Reply-To"));
    char *mid = header(b.ptr, "Message-ID");
    ck_assert_int_eq(strlen(mid), strlen(" <@example.org>") + 32);
    free(mid);
    m.to_addr = "noor@example.org\r\nBcc: x@evil.org";
    b.len = 0;
    ck_assert_int_eq(mail_build(&m, &b, &err), -1);
    ck_assert_str_eq(err.msg, "To: not a valid address");
    m.to_addr = "noor@example.org";
    m.reply_addr = "a@b@c.org";
    ck_assert_int_eq(mail_build(&m, &b, &err), -1);
    m.reply_addr = NULL;
    m.from_addr = "nobody";
    ck_assert_int_eq(mail_build(&m, &b, &err), -1);
    buf_free(&b);
}
END_TEST

/* ---- the mailer ------------------------------------------------------- */

static char S_dir[256];
static folio_config S_cfg;

static void site_with(const char *yml)
{
    unit_tmpdir(S_dir, sizeof S_dir, "mail");
    char p[512];
    folio_err err;
    snprintf(p, sizeof p, "%s/folio.yml", S_dir);
    ck_assert_int_eq(util_write_atomic(p, yml, strlen(yml), 0, &err), 0);
    ck_assert_msg(config_load(S_dir, &S_cfg, &err) == 0, "%s", err.msg);
}

static void site_done(void)
{
    config_free(&S_cfg);
    unit_rmdir(S_dir);
}

static cJSON *contact_fields(const char *email)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "contact_id", "c1");
    cJSON_AddStringToObject(p, "name", "Zoë \"Z\" <z@evil.org>, x");
    cJSON_AddStringToObject(p, "email", email);
    cJSON_AddStringToObject(p, "message", "Hallo <b>Noor</b> & co,\nlet's talk.\n");
    cJSON_AddStringToObject(p, "page", "/projects/folio/");
    return p;
}

static consumer_event contact_event(const cJSON *p, long long pos)
{
    consumer_event ev = {.position = pos, .event_id = "0b9f5a56-9a4e-4c43-a7a4-55f0e3b3f1c2",
                         .stream_id = "contact-x", .stream_version = 1,
                         .type = "ContactRequestSubmitted", .schema_version = 1,
                         .data = p, .personal = p, .recorded_at = 1795774500123LL};
    return ev;
}

static const char S_yml[] =
    "title: \"Noor's folio\"\nbase_url: \"https://noor.example.org/\"\n"
    "mail:\n  from: \"Noor Vellacott <site@example.org>\"\n"
    "  owner: \"Noor <noor@example.org>\"\n";

START_TEST(contact_to_the_outbox)
{
    site_with(S_yml);
    mailer *m;
    folio_err err;
    ck_assert_msg(mail_open(&S_cfg, &m, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(mail_transport_name(m), "outbox");
    cJSON *p = contact_fields("zoe@example.net");
    consumer_event ev = contact_event(p, 42);
    ck_assert_int_eq(mail_handle(m, &ev, &err), CONSUMER_DONE);
    ck_assert_int_eq(mail_handle(m, &ev, &err), CONSUMER_DONE); /* again */

    mail_outbox_entry *e;
    size_t n;
    ck_assert_int_eq(mail_outbox_list(&S_cfg, &e, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(e[0].id, "20261127T101500Z-42-contact");
    ck_assert_str_eq(e[0].to, "noor@example.org");
    ck_assert_str_eq(e[0].subject, "Contact from Zoë \"Z\" <z@evil.org>, x");
    ck_assert_str_eq(e[0].date, "Fri, 27 Nov 2026 10:15:00 +0000");
    free(e);

    /* a message of another program: no Subject, LF line ends; other files */
    char other[512];
    const char *eml = "To: \"Someone\" <someone@example.org>\nDate: Thu, 1 Jan 2026 00:00:00 +0000\n\nhi\n";
    snprintf(other, sizeof other, "%s/var/mail/20260101T000000Z-0-other.eml", S_dir);
    ck_assert_int_eq(util_write_atomic(other, eml, strlen(eml), 0, &err), 0);
    snprintf(other, sizeof other, "%s/var/mail/notes.txt", S_dir);
    ck_assert_int_eq(util_write_atomic(other, "x", 1, 0, &err), 0);
    ck_assert_int_eq(mail_outbox_list(&S_cfg, &e, &n, &err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(e[0].id, "20260101T000000Z-0-other");
    ck_assert_str_eq(e[0].to, "someone@example.org");
    ck_assert_str_eq(e[0].subject, "");
    ck_assert_str_eq(e[0].date, "Thu, 1 Jan 2026 00:00:00 +0000");
    ck_assert_str_eq(e[1].id, "20261127T101500Z-42-contact");
    free(e);

    char path[512], dir[512];
    ck_assert_int_eq(mail_outbox_path(&S_cfg, "20261127T101500Z-42-contact", path,
                                      sizeof path, &err), 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    snprintf(dir, sizeof dir, "%s/var/mail", S_dir);
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    const char *refused[] = {"../folio", "..", "x/y", "", ".hidden", "a\nb",
                             "20261127T101500Z-42-contact.eml", "nope", NULL};
    for (int i = 0; refused[i]; i++)
        ck_assert_int_eq(mail_outbox_path(&S_cfg, refused[i], path, sizeof path, &err), -1);

    char *msg;
    size_t len;
    ck_assert_int_eq(mail_outbox_path(&S_cfg, "20261127T101500Z-42-contact", path,
                                      sizeof path, &err), 0);
    ck_assert_int_eq(util_read_file(path, &msg, &len, &err), 0);
    check_headers(msg);
    cJSON *j = python_reads(msg, len);
    ck_assert_str_eq(jaddr(j, "to", 0, 1), "noor@example.org");
    ck_assert_str_eq(jaddr(j, "from", 0, 1), "site@example.org");
    ck_assert_str_eq(jaddr(j, "reply_to", 0, 1), "zoe@example.net");
    ck_assert_str_eq(jaddr(j, "reply_to", 0, 0), "Zoë \"Z\" <z@evil.org>, x");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "to")), 1);
    /* text is not escaped, html is */
    ck_assert_ptr_nonnull(strstr(jstr(j, "text"), "Hallo <b>Noor</b> & co,\nlet's talk."));
    ck_assert_ptr_nonnull(strstr(jstr(j, "text"), "https://noor.example.org/projects/folio/"));
    ck_assert_ptr_nonnull(strstr(jstr(j, "text"), "2026-11-27 10:15 UTC"));
    ck_assert_ptr_nonnull(strstr(jstr(j, "html"), "Hallo &lt;b&gt;Noor&lt;/b&gt; &amp; co"));
    ck_assert_ptr_null(strstr(jstr(j, "html"), "<b>Noor"));
    cJSON_Delete(j);
    free(msg);

    /* the visitor's own subject, when given */
    cJSON_AddStringToObject(p, "title", "Contract work in 2027?");
    ev = contact_event(p, 43);
    buf out = BUF_INIT;
    char id[96];
    ck_assert_int_eq(mail_render(m, &ev, &out, id, &err), CONSUMER_DONE);
    ck_assert_str_eq(id, "20261127T101500Z-43-contact");
    ck_assert_ptr_nonnull(strstr(out.ptr, "\r\nSubject: Contract work in 2027?\r\n"));
    buf_free(&out);
    cJSON_Delete(p);
    mail_close(m);
    site_done();
}
END_TEST

START_TEST(welcome_to_the_member_forgotten_to_nobody)
{
    site_with(S_yml);
    mailer *m;
    folio_err err;
    ck_assert_msg(mail_open(&S_cfg, &m, &err) == 0, "%s", err.msg);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "user_id", "u1");
    cJSON_AddStringToObject(p, "email", "ada@example.net");
    cJSON_AddStringToObject(p, "display_name", "Ada, Countess; of <Lovelace>");
    cJSON_AddStringToObject(p, "locale", "en");
    consumer_event ev = {.position = 7, .event_id = "e7", .type = "UserRegistered",
                         .schema_version = 2, .data = p, .personal = p,
                         .recorded_at = 1795774500000LL};
    buf out = BUF_INIT;
    char id[96];
    ck_assert_int_eq(mail_render(m, &ev, &out, id, &err), CONSUMER_DONE);
    ck_assert_str_eq(id, "20261127T101500Z-7-welcome");
    cJSON *j = python_reads(out.ptr, out.len);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "to")), 1);
    ck_assert_str_eq(jaddr(j, "to", 0, 1), "ada@example.net");
    ck_assert_str_eq(jaddr(j, "to", 0, 0), "Ada, Countess; of <Lovelace>");
    ck_assert_str_eq(jaddr(j, "reply_to", 0, 1), "noor@example.org");
    ck_assert_str_eq(jstr(j, "subject"), "Welcome to Noor's folio");
    ck_assert_ptr_nonnull(strstr(jstr(j, "text"), "Hello Ada, Countess; of <Lovelace>,"));
    cJSON_Delete(j);
    buf_free(&out);

    /* forgotten before delivery: nothing is sent, and that is done */
    cJSON_ReplaceItemInObject(p, "email", cJSON_CreateString("[redacted]"));
    cJSON_ReplaceItemInObject(p, "display_name", cJSON_CreateString("[redacted]"));
    ck_assert_int_eq(mail_handle(m, &ev, &err), CONSUMER_DONE);
    /* an address no transport takes: refused for good, the address unsaid */
    cJSON_ReplaceItemInObject(p, "email", cJSON_CreateString("a@b@example.net"));
    ck_assert_int_eq(mail_handle(m, &ev, &err), CONSUMER_PERMANENT);
    ck_assert_ptr_null(strstr(err.msg, "example.net"));
    /* no personal fields at all */
    ev.personal = NULL;
    ck_assert_int_eq(mail_handle(m, &ev, &err), CONSUMER_PERMANENT);
    /* other types: nothing to do */
    ev.type = "ContactRequestHandled";
    ck_assert_int_eq(mail_handle(m, &ev, &err), CONSUMER_DONE);
    mail_outbox_entry *e;
    size_t n;
    ck_assert_int_eq(mail_outbox_list(&S_cfg, &e, &n, &err), 0);
    ck_assert_int_eq(n, 0);
    free(e);
    cJSON_Delete(p);
    mail_close(m);
    site_done();
}
END_TEST

START_TEST(types_and_settings)
{
    const char *const *t = mail_types();
    ck_assert_str_eq(t[0], "ContactRequestSubmitted");
    ck_assert_str_eq(t[1], "UserRegistered");
    ck_assert_str_eq(t[2], "MemberVerified");
    ck_assert_str_eq(t[3], "MemberVerificationRequested");
    ck_assert_str_eq(t[4], "MemberSignupRepeated");
    ck_assert_str_eq(t[5], "PasswordResetRequested");
    ck_assert_str_eq(t[6], "MemberEmailChangeRequested");
    ck_assert_str_eq(t[7], "MemberEmailChanged");
    ck_assert_ptr_null(t[8]);

    mailer *m;
    folio_err err;
    /* defaults: the author at the base URL's host; the owner is From */
    site_with("title: T\nauthor: Noor\nbase_url: \"https://noor.example.org/\"\n");
    ck_assert_int_eq(mail_open(&S_cfg, &m, &err), 0);
    char where[128];
    ck_assert_int_eq(mail_send_test(m, "me@example.org", where, sizeof where, &err),
                     CONSUMER_DONE);
    ck_assert_int_eq(mail_send_test(m, "me@example.org\r\nBcc: x@y.org", where,
                                    sizeof where, &err), CONSUMER_PERMANENT);
    mail_close(m);
    mail_outbox_entry *e;
    size_t n;
    ck_assert_int_eq(mail_outbox_list(&S_cfg, &e, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(e[0].to, "me@example.org");
    ck_assert_str_eq(e[0].subject, "Test mail from T");
    free(e);
    site_done();

    const char *bad[] = {
        "mail: yes\n", "mail:\n  from: \"not an address\"\n",
        "mail:\n  owner: \"a@b@c\"\n", "mail:\n  transport: \"ftp://x\"\n",
        "mail:\n  transport: \"smtp://user:s3cret@[\"\n",
        "mail:\n  tranport: \"smtp://127.0.0.1\"\n", NULL};
    for (int i = 0; bad[i]; i++) {
        site_with(bad[i]);
        ck_assert_int_eq(mail_open(&S_cfg, &m, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "mail"));
        ck_assert_ptr_null(strstr(err.msg, "s3cret"));
        site_done();
    }
    /* FOLIO_SMTP_URL wins over folio.yml; the password is never shown */
    site_with("mail:\n  transport: outbox\n");
    setenv("FOLIO_SMTP_URL", "smtp+starttls://user:s3cret@127.0.0.1:587", 1);
    ck_assert_int_eq(mail_open(&S_cfg, &m, &err), 0);
    ck_assert_str_eq(mail_transport_name(m), "smtp://127.0.0.1:587");
    mail_close(m);
    /* STARTTLS goes to the submission port unless told otherwise */
    setenv("FOLIO_SMTP_URL", "smtp+starttls://user:s3cret@mail.example.org", 1);
    ck_assert_int_eq(mail_open(&S_cfg, &m, &err), 0);
    ck_assert_str_eq(mail_transport_name(m), "smtp://mail.example.org:587");
    mail_close(m);
    setenv("FOLIO_SMTP_URL", "smtp+starttls://mail.example.org:2525", 1);
    ck_assert_int_eq(mail_open(&S_cfg, &m, &err), 0);
    ck_assert_str_eq(mail_transport_name(m), "smtp://mail.example.org:2525");
    mail_close(m);
    setenv("FOLIO_SMTP_URL", "smtps://u:p@mail.example.org", 1);
    ck_assert_int_eq(mail_open(&S_cfg, &m, &err), 0);
    ck_assert_str_eq(mail_transport_name(m), "smtps://mail.example.org:465");
    mail_close(m);
    unsetenv("FOLIO_SMTP_URL");
    site_done();
}
END_TEST

/* A port nothing listens on. */
static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t al = sizeof a;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &al), 0);
    close(s);
    return ntohs(a.sin_port);
}

START_TEST(smtp_server_down_is_a_retry)
{
    char yml[256];
    snprintf(yml, sizeof yml, "mail:\n  owner: noor@example.org\n"
             "  from: site@example.org\n  transport: \"smtp://u:s3cret@127.0.0.1:%d\"\n",
             closed_port());
    site_with(yml);
    mailer *m;
    folio_err err;
    ck_assert_msg(mail_open(&S_cfg, &m, &err) == 0, "%s", err.msg);
    cJSON *p = contact_fields("zoe@example.net");
    consumer_event ev = contact_event(p, 1);
    ck_assert_int_eq(mail_handle(m, &ev, &err), CONSUMER_RETRY);
    ck_assert_ptr_nonnull(strstr(err.msg, "smtp://127.0.0.1:"));
    ck_assert_ptr_null(strstr(err.msg, "s3cret"));
    ck_assert_ptr_null(strstr(err.msg, "zoe@"));
    cJSON_Delete(p);
    mail_close(m);
    site_done();
}
END_TEST

/* sendmail:PATH with a script that saves its input and exits with CODE. */
static int sendmail_with(int code, const char *missing, buf *saved)
{
    char script[512], yml[1024], out[512];
    folio_err err;
    snprintf(out, sizeof out, "%s/piped", S_dir);
    snprintf(script, sizeof script, "%s/sendmail", S_dir);
    char body[1024];
    snprintf(body, sizeof body, "#!/bin/sh\n[ \"$1 $2\" = \"-t -i\" ] || exit 64\n"
             "cat > '%s'\nexit %d\n", out, code);
    ck_assert_int_eq(util_write_atomic(script, body, strlen(body), 0, &err), 0);
    ck_assert_int_eq(chmod(script, 0755), 0);
    snprintf(yml, sizeof yml, "mail:\n  owner: noor@example.org\n"
             "  transport: \"sendmail:%s\"\n", missing ? missing : script);
    config_free(&S_cfg);
    snprintf(script, sizeof script, "%s/folio.yml", S_dir);
    ck_assert_int_eq(util_write_atomic(script, yml, strlen(yml), 0, &err), 0);
    ck_assert_int_eq(config_load(S_dir, &S_cfg, &err), 0);
    mailer *m;
    ck_assert_msg(mail_open(&S_cfg, &m, &err) == 0, "%s", err.msg);
    cJSON *p = contact_fields("zoe@example.net");
    consumer_event ev = contact_event(p, 1);
    int rc = mail_handle(m, &ev, &err);
    cJSON_Delete(p);
    mail_close(m);
    char *text;
    size_t len;
    if (saved && !util_read_file(out, &text, &len, &err)) {
        buf_add(saved, text, len);
        free(text);
    }
    return rc;
}

START_TEST(sendmail_exit_status)
{
    site_with("title: T\n");
    buf saved = BUF_INIT;
    ck_assert_int_eq(sendmail_with(0, NULL, &saved), CONSUMER_DONE);
    ck_assert_ptr_nonnull(strstr(saved.ptr, "\nTo: noor@example.org\n"));
    ck_assert_ptr_null(strchr(saved.ptr, '\r')); /* local line ends */
    ck_assert_int_eq(sendmail_with(75, NULL, NULL), CONSUMER_RETRY);
    ck_assert_int_eq(sendmail_with(67, NULL, NULL), CONSUMER_PERMANENT);
    ck_assert_int_eq(sendmail_with(0, "/nonexistent/sendmail", NULL), CONSUMER_RETRY);
    buf_free(&saved);
    site_done();
}
END_TEST

START_TEST(site_templates_replace_the_theme)
{
    site_with(S_yml);
    char p[512];
    folio_err err;
    const char *txt = "{{name}} says: {{message}}\n";
    const char *subj = "[site] {{name}}\n";
    snprintf(p, sizeof p, "%s/templates/mail/contact.txt.mustache", S_dir);
    ck_assert_int_eq(util_write_atomic(p, txt, strlen(txt), 0, &err), 0);
    snprintf(p, sizeof p, "%s/templates/mail/contact.subject.mustache", S_dir);
    ck_assert_int_eq(util_write_atomic(p, subj, strlen(subj), 0, &err), 0);
    mailer *m;
    ck_assert_msg(mail_open(&S_cfg, &m, &err) == 0, "%s", err.msg);
    cJSON *f = contact_fields("zoe@example.net");
    consumer_event ev = contact_event(f, 5);
    buf out = BUF_INIT;
    char id[96];
    ck_assert_int_eq(mail_render(m, &ev, &out, id, &err), CONSUMER_DONE);
    cJSON *j = python_reads(out.ptr, out.len);
    ck_assert_str_eq(jstr(j, "subject"), "[site] Zoë \"Z\" <z@evil.org>, x");
    ck_assert_str_eq(jstr(j, "text"), "Zoë \"Z\" <z@evil.org>, x says: Hallo <b>Noor</b> & co,\nlet's talk.\n\n");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "html"))); /* the site's kind is whole */
    cJSON_Delete(j);
    buf_free(&out);
    cJSON_Delete(f);
    mail_close(m);

    /* a template that does not compile names its file */
    const char *broken = "{{#name}}\n";
    ck_assert_int_eq(util_write_atomic(p, broken, strlen(broken), 0, &err), 0);
    ck_assert_int_eq(mail_open(&S_cfg, &m, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "contact.subject"));
    site_done();
}
END_TEST

/* ---- SMTP over several connections -------------------------------------- */

/* A site whose mail goes to a responder (see tests/smtp/responder.h) over
 * `conns` connections. */
static mailer *smtp_site(responder **r, int conns)
{
    char url[64], yml[512];
    ck_assert_int_eq(responder_start(0, r, url, sizeof url), 0);
    snprintf(yml, sizeof yml, "mail:\n  owner: noor@example.org\n"
             "  from: site@example.org\n  transport: \"%s\"\n"
             "  connections: %d\n", url, conns);
    site_with(yml);
    mailer *m;
    folio_err err;
    ck_assert_msg(mail_open(&S_cfg, &m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(mail_batch_max(m), (size_t)(16 * conns));
    return m;
}

/* A batch handed over as the consumers do: results untried, errs empty. */
static void smtp_batch(mailer *m, const consumer_event *evs, size_t n,
                       int *res, folio_err *errs)
{
    for (size_t i = 0; i < n; i++) {
        res[i] = CONSUMER_UNTRIED;
        errs[i].msg[0] = '\0';
    }
    mail_handle_batch(m, evs, n, res, errs);
}

START_TEST(smtp_batch_mixed_answers)
{
    responder *r;
    mailer *m = smtp_site(&r, 2);
    /* welcome mails: the responder answers RCPT by the local part */
    const char *to[] = {"ok1@example.net", "temp1@example.net",
                        "perm1@example.net", "ok2@example.net",
                        "[redacted]", "temp2@example.net", "ok3@example.net",
                        "perm2@example.net", "ok4@example.net"};
    const int want[] = {CONSUMER_DONE, CONSUMER_RETRY, CONSUMER_PERMANENT,
                        CONSUMER_DONE, CONSUMER_DONE, CONSUMER_RETRY,
                        CONSUMER_DONE, CONSUMER_PERMANENT, CONSUMER_DONE};
    enum { N = sizeof to / sizeof to[0] };
    cJSON *p[N];
    consumer_event ev[N];
    for (int i = 0; i < N; i++) {
        p[i] = cJSON_CreateObject();
        cJSON_AddStringToObject(p[i], "user_id", "u1");
        cJSON_AddStringToObject(p[i], "email", to[i]);
        cJSON_AddStringToObject(p[i], "display_name", "Ada");
        ev[i] = (consumer_event){.position = i + 1, .event_id = "e",
                                 .type = "UserRegistered", .schema_version = 2,
                                 .data = p[i], .personal = p[i],
                                 .recorded_at = 1795774500000LL};
    }
    int res[N];
    folio_err errs[N];
    smtp_batch(m, ev, N, res, errs);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(res[i] == want[i], "%s: %d, not %d (%s)", to[i], res[i],
                      want[i], errs[i].msg);
        ck_assert_ptr_null(strstr(errs[i].msg, "@")); /* no address said */
    }
    ck_assert_ptr_nonnull(strstr(errs[1].msg, "SMTP 451"));
    ck_assert_ptr_nonnull(strstr(errs[2].msg, "SMTP 550"));
    responder_stats st;
    responder_stats_get(r, &st);
    ck_assert_int_eq(st.messages, 4);
    /* (a refused mail's connection is closed by libcurl and a new one
     * opened: the server may see the two overlap, so no limit here) */
    for (int i = 0; i < N; i++)
        cJSON_Delete(p[i]);
    mail_close(m);
    responder_stop(r);
    site_done();
}
END_TEST

START_TEST(smtp_connections_kept_and_limited)
{
    responder *r;
    mailer *m = smtp_site(&r, 3);
    enum { N = 40 };
    cJSON *p = contact_fields("zoe@example.net");
    consumer_event ev[N];
    for (int i = 0; i < N; i++)
        ev[i] = contact_event(p, i + 1);
    int res[N];
    folio_err errs[N];
    for (int round = 1; round <= 2; round++) {
        smtp_batch(m, ev, N, res, errs);
        for (int i = 0; i < N; i++)
            ck_assert_msg(res[i] == CONSUMER_DONE, "%d: %s", i, errs[i].msg);
        responder_stats st;
        responder_stats_get(r, &st);
        ck_assert_int_eq(st.messages, round * N);
        /* three at once, and the same three for the next batch */
        ck_assert_int_eq(st.max_open, 3);
        ck_assert_int_eq(st.connections, 3);
    }
    /* one mail alone (folio mail send) goes on a kept connection too */
    folio_err err;
    ck_assert_int_eq(mail_handle(m, &ev[0], &err), CONSUMER_DONE);
    responder_stats st;
    responder_stats_get(r, &st);
    ck_assert_int_eq(st.messages, 2 * N + 1);
    ck_assert_int_eq(st.connections, 3);
    cJSON_Delete(p);
    mail_close(m);
    responder_stop(r);

    /* connections: only a whole number from 1 to 32 */
    site_done();
    const char *bad[] = {"0", "33", "1.5", "\"four\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yml[128];
        snprintf(yml, sizeof yml, "mail:\n  connections: %s\n", bad[i]);
        site_with(yml);
        ck_assert_int_eq(mail_open(&S_cfg, &m, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "mail.connections"));
        site_done();
    }
}
END_TEST

static Suite *mail_suite(void)
{
    Suite *s = suite_create("mail");
    TCase *tc = tcase_create("headers");
    tcase_add_test(tc, addresses_valid_and_not);
    tcase_add_test(tc, mailbox_parsing);
    tcase_add_test(tc, header_plain_ascii_stays_plain);
    tcase_add_test(tc, header_crlf_cannot_add_a_header);
    tcase_add_test(tc, header_visitor_encoded_word_is_not_decoded);
    tcase_add_test(tc, header_utf8_long_is_folded_words);
    tcase_add_test(tc, header_invalid_utf8_and_controls);
    tcase_add_test(tc, header_random_values_stay_one_field);
    tcase_add_test(tc, address_names_cannot_add_recipients);
    suite_add_tcase(s, tc);
    tc = tcase_create("messages");
    tcase_set_timeout(tc, 60); /* Python reads them back */
    tcase_add_test(tc, message_parsed_back);
    tcase_add_test(tc, message_text_only_and_refusals);
    suite_add_tcase(s, tc);
    tc = tcase_create("mailer");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, contact_to_the_outbox);
    tcase_add_test(tc, welcome_to_the_member_forgotten_to_nobody);
    tcase_add_test(tc, types_and_settings);
    tcase_add_test(tc, smtp_server_down_is_a_retry);
    tcase_add_test(tc, sendmail_exit_status);
    tcase_add_test(tc, site_templates_replace_the_theme);
    tcase_add_test(tc, smtp_batch_mixed_answers);
    tcase_add_test(tc, smtp_connections_kept_and_limited);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    return unit_run(mail_suite());
}
