/* Tests for forms (decoding visitor bodies, request checks) and metrics. */
#include <check.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "events.h"
#include "forms.h"
#include "metrics.h"
#include "util.h"
#include "unit.h"

/* ---- helpers ------------------------------------------------------- */

static int decode_n(const forms_spec *spec, enum forms_body t, const char *body,
                    size_t len, forms_values *v, folio_err *err)
{
    err->msg[0] = '\0';
    return forms_decode(spec, t, body, len, v, err);
}

/* Decodes and expects success; the caller frees v. */
static void ok_body(const forms_spec *spec, enum forms_body t,
                    const char *body, forms_values *v)
{
    folio_err err;
    int rc = decode_n(spec, t, body, strlen(body), v, &err);
    ck_assert_msg(rc == 0, "body [%s] refused: %s", body, err.msg);
}

/* Decodes and expects a refusal whose message contains want. */
static void bad_body(const forms_spec *spec, enum forms_body t,
                     const char *body, size_t len, const char *want)
{
    folio_err err;
    forms_values v;
    int rc = decode_n(spec, t, body, len, &v, &err);
    ck_assert_msg(rc == -1, "body [%.*s] accepted, wanted \"%s\"",
                  (int)(len > 200 ? 200 : len), body, want);
    ck_assert_msg(strstr(err.msg, want) != NULL,
                  "body [%.*s]: message \"%s\" lacks \"%s\"",
                  (int)(len > 200 ? 200 : len), body, err.msg, want);
    for (int i = 0; i < FORMS_MAX_FIELDS; i++)
        ck_assert_ptr_null(v.value[i]);
    forms_values_free(&v);
}

#define BAD_URL(spec, body, want) \
    bad_body(&(spec), FORMS_URLENCODED, (body), strlen(body), (want))
#define BAD_JSON(spec, body, want) \
    bad_body(&(spec), FORMS_JSON, (body), strlen(body), (want))

static char *repeat(const char *prefix, const char *unit, size_t n)
{
    buf b = BUF_INIT;
    ck_assert_int_eq(buf_puts(&b, prefix), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(buf_puts(&b, unit), 0);
    return buf_detach(&b, NULL);
}

/* ---- urlencoded ---------------------------------------------------- */

START_TEST(url_basic)
{
    forms_values v;
    ok_body(&forms_contact, FORMS_URLENCODED,
            "name=Ada+Lovelace&email=ada%40example.org&subject=Hi%20there"
            "&message=Caf%C3%A9&page=%2Fabout%2F&website=",
            &v);
    ck_assert_str_eq(forms_get(&v, "name"), "Ada Lovelace");
    ck_assert_str_eq(forms_get(&v, "email"), "ada@example.org");
    ck_assert_str_eq(forms_get(&v, "subject"), "Hi there");
    ck_assert_str_eq(forms_get(&v, "message"), "Caf\xc3\xa9");
    ck_assert_uint_eq(v.len[3], 5);
    ck_assert_str_eq(forms_get(&v, "page"), "/about/");
    ck_assert_str_eq(forms_get(&v, "website"), "");
    ck_assert_int_eq(forms_honeypot_filled(&v), 0);
    ck_assert_ptr_null(forms_get(&v, "nosuch"));
    forms_values_free(&v);
    ck_assert_ptr_null(v.value[0]);
}
END_TEST

START_TEST(url_empty_and_pairs)
{
    forms_values v;
    ok_body(&forms_contact, FORMS_URLENCODED, "", &v);
    for (int i = 0; i < FORMS_MAX_FIELDS; i++)
        ck_assert_ptr_null(v.value[i]);
    ck_assert_ptr_null(forms_get(&v, "email"));
    forms_values_free(&v);

    /* empty pairs carry nothing; a name without '=' is an empty value */
    ok_body(&forms_contact, FORMS_URLENCODED, "&name=a&&email=b&&&subject&", &v);
    ck_assert_str_eq(forms_get(&v, "name"), "a");
    ck_assert_str_eq(forms_get(&v, "email"), "b");
    ck_assert_str_eq(forms_get(&v, "subject"), "");
    ck_assert_ptr_null(forms_get(&v, "message"));
    forms_values_free(&v);

    /* names are percent-decoded; '=' inside a value is just a byte */
    ok_body(&forms_contact, FORMS_URLENCODED, "e%6Dail=a=b&na%6de=x", &v);
    ck_assert_str_eq(forms_get(&v, "email"), "a=b");
    ck_assert_str_eq(forms_get(&v, "name"), "x");
    forms_values_free(&v);

    /* the NULL body with length 0 is an empty form */
    folio_err err;
    ck_assert_int_eq(decode_n(&forms_register, FORMS_URLENCODED, NULL, 0, &v,
                              &err), 0);
    forms_values_free(&v);

    /* thousands of empty pairs cost nothing */
    char *amps = repeat("email=x", "&", 20000);
    ok_body(&forms_register, FORMS_URLENCODED, amps, &v);
    ck_assert_str_eq(forms_get(&v, "email"), "x");
    forms_values_free(&v);
    free(amps);
}
END_TEST

START_TEST(url_percent)
{
    const char *want = "malformed percent-encoding in field 'name'";
    BAD_URL(forms_contact, "name=%", want);
    BAD_URL(forms_contact, "name=%4", want);
    BAD_URL(forms_contact, "name=a%4&email=x", want);
    BAD_URL(forms_contact, "name=%G1", want);
    BAD_URL(forms_contact, "name=%1G", want);
    BAD_URL(forms_contact, "name=abc%zz", want);
    BAD_URL(forms_contact, "name=%%41", want);
    BAD_URL(forms_contact, "na%me=x", "malformed percent-encoding in a field name");
    BAD_URL(forms_contact, "%=x", "malformed percent-encoding in a field name");
    /* lower and upper hex both fine */
    forms_values v;
    ok_body(&forms_contact, FORMS_URLENCODED, "name=%c3%a9%C3%A9", &v);
    ck_assert_str_eq(forms_get(&v, "name"), "\xc3\xa9\xc3\xa9");
    forms_values_free(&v);
}
END_TEST

START_TEST(url_utf8)
{
    const char *want = "field 'name' is not valid UTF-8";
    BAD_URL(forms_contact, "name=%C3%28", want);          /* bad continuation */
    BAD_URL(forms_contact, "name=%C0%AF", want);          /* overlong '/' */
    BAD_URL(forms_contact, "name=%C1%BF", want);          /* overlong */
    BAD_URL(forms_contact, "name=%E0%80%AF", want);       /* overlong, 3 bytes */
    BAD_URL(forms_contact, "name=%F0%80%80%AF", want);    /* overlong, 4 bytes */
    BAD_URL(forms_contact, "name=%ED%A0%80", want);       /* surrogate */
    BAD_URL(forms_contact, "name=%F4%90%80%80", want);    /* past U+10FFFF */
    BAD_URL(forms_contact, "name=%E2%82", want);          /* cut short */
    BAD_URL(forms_contact, "name=%FF", want);
    BAD_URL(forms_contact, "name=%80", want);             /* lone continuation */
    BAD_URL(forms_contact, "name=a\xff", want);           /* raw, not encoded */
    forms_values v;
    ok_body(&forms_contact, FORMS_URLENCODED,
            "name=%F0%9F%98%80%E2%82%AC%F4%8F%BF%BF", &v); /* 😀 € U+10FFFF */
    ck_assert_uint_eq(v.len[0], 11);
    forms_values_free(&v);
}
END_TEST

START_TEST(url_controls)
{
    BAD_URL(forms_contact, "name=a%00b", "field 'name' contains a NUL byte");
    BAD_URL(forms_contact, "message=a%00b", "field 'message' contains a NUL byte");
    BAD_URL(forms_contact, "name=a%01", "field 'name' contains a control character");
    BAD_URL(forms_contact, "name=a%1B", "field 'name' contains a control character");
    BAD_URL(forms_contact, "name=a%7F", "field 'name' contains a control character");
    BAD_URL(forms_contact, "name=a%C2%85", "field 'name' contains a control character");
    BAD_URL(forms_contact, "message=a%C2%9Fb", "field 'message' contains a control character");
    BAD_URL(forms_contact, "message=a%0Cb", "field 'message' contains a control character");
    BAD_URL(forms_contact, "name=a%09b", "field 'name' contains a tab");
    BAD_URL(forms_contact, "subject=a%0Ab", "field 'subject' must be a single line");
    BAD_URL(forms_contact, "subject=a%0Db", "field 'subject' must be a single line");
    BAD_URL(forms_register, "password=a%0A", "field 'password' must be a single line");
    /* U+00A0 (C2 A0) is not a control character */
    forms_values v;
    ok_body(&forms_contact, FORMS_URLENCODED, "name=a%C2%A0b", &v);
    forms_values_free(&v);
}
END_TEST

START_TEST(url_multiline)
{
    forms_values v;
    ok_body(&forms_contact, FORMS_URLENCODED,
            "message=one%0D%0Atwo%0Dthree%0Afour%09tab%0D%0A%0D%0A", &v);
    ck_assert_str_eq(forms_get(&v, "message"), "one\ntwo\nthree\nfour\ttab\n\n");
    ck_assert_uint_eq(v.len[3], strlen("one\ntwo\nthree\nfour\ttab\n\n"));
    forms_values_free(&v);
    /* 2500 CRLF lines of one letter: 7500 bytes sent, 5000 after \r\n -> \n */
    char *body = repeat("message=", "a%0D%0A", 2500);
    ok_body(&forms_contact, FORMS_URLENCODED, body, &v);
    ck_assert_uint_eq(v.len[3], 5000);
    forms_values_free(&v);
    free(body);
}
END_TEST

START_TEST(url_duplicates_unknown)
{
    BAD_URL(forms_contact, "email=a&email=b", "field 'email' given twice");
    BAD_URL(forms_contact, "email=a&e%6dail=b", "field 'email' given twice");
    BAD_URL(forms_contact, "email&email", "field 'email' given twice");
    BAD_URL(forms_contact, "name=a&foo=1", "unknown field 'foo' in the contact form");
    BAD_URL(forms_contact, "password=x", "unknown field 'password' in the contact form");
    BAD_URL(forms_register, "message=x", "unknown field 'message' in the register form");
    BAD_URL(forms_register, "Email=x", "unknown field 'Email'");
    BAD_URL(forms_register, "=x", "a field without a name");
    /* hostile names are not echoed */
    folio_err err;
    forms_values v;
    const char *evil = "%3Cscript%3E=1";
    ck_assert_int_eq(decode_n(&forms_contact, FORMS_URLENCODED, evil,
                              strlen(evil), &v, &err), -1);
    ck_assert_str_eq(err.msg, "unknown field in the contact form");
    char *longname = repeat("", "n", 5000);
    BAD_URL(forms_contact, longname, "unknown field in the contact form");
    free(longname);
    BAD_URL(forms_contact, "email%00=x", "unknown field in the contact form");
}
END_TEST

/* A value over its limit is decoded, not refused: the limit is the
 * domain's, which answers 422 with the form and what the visitor typed. */
START_TEST(url_limits)
{
    forms_values v;
    char *over = repeat("name=", "x", 101);
    ok_body(&forms_contact, FORMS_URLENCODED, over, &v);
    ck_assert_uint_eq(v.len[0], 101);
    forms_values_free(&v);
    free(over);
    char *huge = repeat("message=", "abcdefgh", 100000);
    ok_body(&forms_contact, FORMS_URLENCODED, huge, &v);
    forms_values_free(&v);
    free(huge);
}
END_TEST

/* The largest legal form fits the body limit, in either encoding: every
 * field at its limit in 4-byte characters, percent-encoded or as JSON
 * surrogate pairs. */
START_TEST(body_limit_admits_largest_form)
{
    const forms_spec *specs[] = {&forms_contact, &forms_register};
    for (size_t k = 0; k < 2; k++) {
        const forms_spec *sp = specs[k];
        buf u = BUF_INIT, j = BUF_INIT;
        ck_assert_int_eq(buf_putc(&j, '{'), 0);
        for (size_t i = 0; sp->fields[i].name; i++) {
            const char *n = sp->fields[i].name;
            if (sp->honeypot && !strcmp(n, sp->honeypot))
                continue;
            ck_assert_int_eq(buf_printf(&u, "%s%s=", i ? "&" : "", n), 0);
            ck_assert_int_eq(buf_printf(&j, "%s\"%s\":\"", i ? "," : "", n), 0);
            for (size_t c = 0; c < sp->fields[i].max_len; c++) {
                ck_assert_int_eq(buf_puts(&u, "%F0%9F%98%80"), 0);
                ck_assert_int_eq(buf_puts(&j, "\\ud83d\\ude00"), 0);
            }
            ck_assert_int_eq(buf_putc(&j, '"'), 0);
        }
        ck_assert_int_eq(buf_putc(&j, '}'), 0);
        ck_assert_uint_le(u.len, forms_body_max(sp));
        ck_assert_uint_le(j.len, forms_body_max(sp));
        ck_assert_uint_le(forms_body_max(sp), forms_body_limit());
        forms_values v;
        ok_body(sp, FORMS_URLENCODED, u.ptr, &v);
        forms_values_free(&v);
        ok_body(sp, FORMS_JSON, j.ptr, &v);
        forms_values_free(&v);
        buf_free(&u);
        buf_free(&j);
    }
}
END_TEST

/* The limit a field has in forms, in the event registry (what the domain
 * enforces) and in the template's maxlength attribute is one number. */
static size_t S_template_maxlength(const char *tpl, const char *field)
{
    char path[512], *src = NULL;
    size_t len = 0;
    folio_err err;
    snprintf(path, sizeof path, "%s/themes/default/templates/%s", FOLIO_SRCDIR, tpl);
    ck_assert_msg(util_read_file(path, &src, &len, &err) == 0, "%s", err.msg);
    char needle[64];
    snprintf(needle, sizeof needle, "name=\"%s\"", field);
    const char *at = strstr(src, needle);
    ck_assert_msg(at != NULL, "%s has no field %s", tpl, field);
    const char *end = strchr(at, '>');
    const char *ml = strstr(at, "maxlength=\"");
    ck_assert_msg(ml && end && ml < end, "%s: %s has no maxlength", tpl, field);
    size_t n = strtoul(ml + 11, NULL, 10);
    free(src);
    return n;
}

START_TEST(limits_agree)
{
    static const struct {
        const forms_spec *spec;
        const char *tpl, *field, *type, *event_field;
    } map[] = {
        {&forms_contact, "contact.mustache", "name", "ContactRequestSubmitted", "name"},
        {&forms_contact, "contact.mustache", "email", "ContactRequestSubmitted", "email"},
        {&forms_contact, "contact.mustache", "subject", "ContactRequestSubmitted", "title"},
        {&forms_contact, "contact.mustache", "message", "ContactRequestSubmitted", "message"},
        {&forms_register, "register.mustache", "email", "UserRegistered", "email"},
        {&forms_register, "register.mustache", "display_name", "UserRegistered", "display_name"},
        {&forms_register, "register.mustache", "password", NULL, NULL},
    };
    for (size_t k = 0; k < sizeof map / sizeof map[0]; k++) {
        size_t forms_max = 0;
        for (size_t i = 0; map[k].spec->fields[i].name; i++)
            if (!strcmp(map[k].spec->fields[i].name, map[k].field))
                forms_max = map[k].spec->fields[i].max_len;
        size_t reg_max = DOMAIN_PASSWORD_MAX;
        if (map[k].type) {
            const events_type *t = events_find(map[k].type);
            ck_assert_ptr_nonnull(t);
            reg_max = 0;
            for (const events_field *f = t->fields; f->name; f++)
                if (!strcmp(f->name, map[k].event_field))
                    reg_max = f->max_len;
        }
        size_t html_max = S_template_maxlength(map[k].tpl, map[k].field);
        ck_assert_msg(forms_max == reg_max && reg_max == html_max,
                      "%s %s: forms %zu, registry %zu, maxlength %zu",
                      map[k].tpl, map[k].field, forms_max, reg_max, html_max);
    }
    /* page is a hidden field: no maxlength, but the same limit */
    const events_type *t = events_find("ContactRequestSubmitted");
    for (const events_field *f = t->fields; f->name; f++)
        if (!strcmp(f->name, "page"))
            ck_assert_uint_eq(f->max_len, forms_contact.fields[4].max_len);
}
END_TEST

/* Characters, not bytes: 100 Chinese characters are 300 bytes and pass;
 * 101 are refused with the message the form shows. */
START_TEST(limits_in_characters)
{
    domain_result res;
    buf name = BUF_INIT, msg = BUF_INIT;
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(buf_puts(&name, "\xe5\xbc\xa0"), 0);   /* 张 */
    for (int i = 0; i < 2600; i++)
        ck_assert_int_eq(buf_puts(&msg, "\xd0\x96"), 0);        /* Ж */
    domain_contact_req r = {.name = name.ptr, .email = "li@example.org",
                            .message = msg.ptr};
    ck_assert_int_eq(domain_check_contact(&r, &res), DOMAIN_OK);
    ck_assert_int_eq(buf_puts(&name, "\xe5\xbc\xa0"), 0);
    r.name = name.ptr;
    ck_assert_int_eq(domain_check_contact(&r, &res), DOMAIN_INVALID);
    ck_assert_str_eq(res.errors[0].field, "name");
    ck_assert_str_eq(res.errors[0].message, "must be at most 100 characters");
    buf pw = BUF_INIT;
    for (int i = 0; i < DOMAIN_PASSWORD_MAX; i++)
        ck_assert_int_eq(buf_puts(&pw, "\xc3\xa9"), 0);          /* é */
    domain_register_req rr = {.email = "li@example.org", .display_name = "Li",
                              .password = pw.ptr};
    ck_assert_int_eq(domain_check_register(&rr, &res), DOMAIN_OK);
    ck_assert_int_eq(buf_puts(&pw, "\xc3\xa9"), 0);
    rr.password = pw.ptr;
    ck_assert_int_eq(domain_check_register(&rr, &res), DOMAIN_INVALID);
    ck_assert_str_eq(res.errors[0].message, "must be at most 1024 characters long");
    buf_free(&name);
    buf_free(&msg);
    buf_free(&pw);
}
END_TEST

START_TEST(honeypot)
{
    forms_values v;
    ok_body(&forms_contact, FORMS_URLENCODED, "name=a&website=http%3A%2F%2Fspam", &v);
    ck_assert_int_eq(forms_honeypot_filled(&v), 1);
    forms_values_free(&v);
    ok_body(&forms_contact, FORMS_URLENCODED, "name=a", &v);
    ck_assert_int_eq(forms_honeypot_filled(&v), 0);
    forms_values_free(&v);
    ok_body(&forms_register, FORMS_URLENCODED, "email=a", &v);
    ck_assert_int_eq(forms_honeypot_filled(&v), 0);
    forms_values_free(&v);
    ck_assert_str_eq(forms_contact.honeypot, "website");
    ck_assert_ptr_null(forms_register.honeypot);
}
END_TEST

/* ---- JSON ---------------------------------------------------------- */

START_TEST(json_basic)
{
    forms_values v;
    ok_body(&forms_register, FORMS_JSON,
            " {\"email\":\"ada@example.org\", \"display_name\":\"Ada \\u00e9\\ud83d\\ude00\","
            "\"password\":\"p\\\"w\\\\d\"}\n",
            &v);
    ck_assert_str_eq(forms_get(&v, "email"), "ada@example.org");
    ck_assert_str_eq(forms_get(&v, "display_name"), "Ada \xc3\xa9\xf0\x9f\x98\x80");
    ck_assert_str_eq(forms_get(&v, "password"), "p\"w\\d");
    forms_values_free(&v);

    ok_body(&forms_contact, FORMS_JSON, "{}", &v);
    ck_assert_ptr_null(forms_get(&v, "name"));
    forms_values_free(&v);

    ok_body(&forms_contact, FORMS_JSON, "{\"message\":\"a\\r\\nb\\rc\\td\"}", &v);
    ck_assert_str_eq(forms_get(&v, "message"), "a\nb\nc\td");
    forms_values_free(&v);

    /* "\\u0000" is a backslash and "u0000", not a NUL */
    ok_body(&forms_contact, FORMS_JSON, "{\"name\":\"\\\\u0000\"}", &v);
    ck_assert_str_eq(forms_get(&v, "name"), "\\u0000");
    forms_values_free(&v);

    /* only len bytes are read: the body need not be NUL-terminated */
    const char *body = "{\"name\":\"a\"}GARBAGE";
    folio_err err;
    ck_assert_int_eq(decode_n(&forms_contact, FORMS_JSON, body, 12, &v, &err), 0);
    ck_assert_str_eq(forms_get(&v, "name"), "a");
    forms_values_free(&v);
}
END_TEST

START_TEST(json_bad)
{
    BAD_JSON(forms_contact, "", "empty JSON body");
    BAD_JSON(forms_contact, "  \n", "empty JSON body");
    BAD_JSON(forms_contact, "{", "malformed JSON body");
    BAD_JSON(forms_contact, "{'name':'a'}", "malformed JSON body");
    BAD_JSON(forms_contact, "{\"name\":\"a\",}", "malformed JSON body");
    BAD_JSON(forms_contact, "{} x", "malformed JSON body: text after the object");
    BAD_JSON(forms_contact, "{}{}", "malformed JSON body: text after the object");
    BAD_JSON(forms_contact, "[]", "must be an object");
    BAD_JSON(forms_contact, "\"name\"", "must be an object");
    BAD_JSON(forms_contact, "42", "must be an object");
    BAD_JSON(forms_contact, "null", "must be an object");
    BAD_JSON(forms_contact, "{\"name\":42}", "field 'name' must be a string");
    BAD_JSON(forms_contact, "{\"name\":null}", "field 'name' must be a string");
    BAD_JSON(forms_contact, "{\"name\":true}", "field 'name' must be a string");
    BAD_JSON(forms_contact, "{\"name\":[\"a\"]}", "field 'name' must be a string");
    BAD_JSON(forms_contact, "{\"name\":{\"a\":\"b\"}}", "field 'name' must be a string");
    BAD_JSON(forms_contact, "{\"name\":\"a\",\"name\":\"b\"}", "field 'name' given twice");
    BAD_JSON(forms_contact, "{\"name\":\"a\",\"n\\u0061me\":\"b\"}", "field 'name' given twice");
    BAD_JSON(forms_contact, "{\"nick\":\"a\"}", "unknown field 'nick' in the contact form");
    BAD_JSON(forms_contact, "{\"name\":\"a\\u0000b\"}", "field 'name' contains a NUL byte");
    BAD_JSON(forms_contact, "{\"name\":\"a\",\"email\":\"\\u0000\"}",
             "field 'email' contains a NUL byte");
    /* a key holding \u0000 would read as "email" to a careless decoder */
    BAD_JSON(forms_contact, "{\"email\\u0000x\":\"a\"}", "unknown field in the contact form");
    BAD_JSON(forms_contact, "{\"name\":\"a\\u0001\"}", "field 'name' contains a control character");
    BAD_JSON(forms_contact, "{\"name\":\"a\\u0085\"}", "field 'name' contains a control character");
    BAD_JSON(forms_contact, "{\"name\":\"a\\u007f\"}", "field 'name' contains a control character");
    BAD_JSON(forms_contact, "{\"name\":\"a\\nb\"}", "field 'name' must be a single line");
    BAD_JSON(forms_contact, "{\"name\":\"a\\ud800\"}", "malformed JSON body");
    BAD_JSON(forms_contact, "{\"name\":\"a\xc3\x28\"}", "field 'name' is not valid UTF-8");
    BAD_JSON(forms_contact, "{\"name\":\"\xc0\xaf\"}", "field 'name' is not valid UTF-8");
    BAD_JSON(forms_contact, "{\"name\":\"a\nb\"}", "control character in a string");
    BAD_JSON(forms_contact, "{\"name\":\"a\x01\"}", "control character in a string");
    BAD_JSON(forms_contact, "{\x01\"name\":\"a\"}", "malformed JSON body: control character");
    /* raw NUL bytes: cJSON would take them for whitespace */
    bad_body(&forms_contact, FORMS_JSON, "{\"name\":\"a\"}\0", 13,
             "malformed JSON body: control character");
    bad_body(&forms_contact, FORMS_JSON, "{\"name\":\"a\0b\"}", 14,
             "control character in a string");
    char *big = repeat("{\"display_name\":\"", "x", 81);
    char *closed = NULL;
    buf b = BUF_INIT;
    ck_assert_int_eq(buf_puts(&b, big), 0);
    ck_assert_int_eq(buf_puts(&b, "\"}"), 0);
    closed = buf_detach(&b, NULL);
    forms_values lv;
    ok_body(&forms_register, FORMS_JSON, closed, &lv);   /* 422 later, not 400 */
    forms_values_free(&lv);
    free(big);
    free(closed);
    /* deep nesting is refused, not a stack overflow */
    char *deep = repeat("{\"name\":", "[", 100000);
    BAD_JSON(forms_contact, deep, "malformed JSON body");
    free(deep);
}
END_TEST

/* ---- request checks ----------------------------------------------- */

START_TEST(body_type)
{
    enum forms_body t = FORMS_JSON;
    ck_assert_int_eq(forms_body_type("application/x-www-form-urlencoded", &t), 0);
    ck_assert_int_eq(t, FORMS_URLENCODED);
    ck_assert_int_eq(forms_body_type("application/json", &t), 0);
    ck_assert_int_eq(t, FORMS_JSON);
    ck_assert_int_eq(forms_body_type("Application/JSON; charset=UTF-8", &t), 0);
    ck_assert_int_eq(t, FORMS_JSON);
    ck_assert_int_eq(forms_body_type("application/x-www-form-urlencoded;charset=utf-8", &t), 0);
    ck_assert_int_eq(t, FORMS_URLENCODED);
    ck_assert_int_eq(forms_body_type("application/json;charset=\"utf-8\"", &t), 0);
    ck_assert_int_eq(forms_body_type(" application/json ; foo=bar ", &t), 0);
    ck_assert_int_eq(forms_body_type("application/json; charset=iso-8859-1", &t), -1);
    ck_assert_int_eq(forms_body_type("application/json; charset", &t), -1);
    ck_assert_int_eq(forms_body_type("application/json garbage", &t), -1);
    ck_assert_int_eq(forms_body_type("application/jsonx", &t), -1);
    ck_assert_int_eq(forms_body_type("text/plain", &t), -1);
    ck_assert_int_eq(forms_body_type("multipart/form-data; boundary=x", &t), -1);
    ck_assert_int_eq(forms_body_type("", &t), -1);
    ck_assert_int_eq(forms_body_type(NULL, &t), -1);
}
END_TEST

START_TEST(wants_json)
{
    ck_assert_int_eq(forms_wants_json(NULL), 0);
    ck_assert_int_eq(forms_wants_json(""), 0);
    ck_assert_int_eq(forms_wants_json("application/json"), 1);
    ck_assert_int_eq(forms_wants_json("APPLICATION/JSON"), 1);
    ck_assert_int_eq(forms_wants_json("application/json; charset=utf-8"), 1);
    ck_assert_int_eq(forms_wants_json(
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), 0);
    ck_assert_int_eq(forms_wants_json(
        "text/html,application/xhtml+xml,application/xml;q=0.9,"
        "image/avif,image/webp,*/*;q=0.8"), 0);
    ck_assert_int_eq(forms_wants_json("application/json, text/html"), 1);
    ck_assert_int_eq(forms_wants_json("text/html, application/json"), 0);
    ck_assert_int_eq(forms_wants_json("application/json, text/plain, */*"), 1);
    ck_assert_int_eq(forms_wants_json("*/*"), 0);
    ck_assert_int_eq(forms_wants_json("*/*, application/json"), 1);
    ck_assert_int_eq(forms_wants_json("application/*"), 1);
    ck_assert_int_eq(forms_wants_json("application/json;q=0.5, text/html"), 0);
    ck_assert_int_eq(forms_wants_json("text/html;q=0.5, application/json"), 1);
    ck_assert_int_eq(forms_wants_json("text/html;q=0.5,application/json;q=0.9"), 1);
    ck_assert_int_eq(forms_wants_json("application/json;q=0"), 0);
    ck_assert_int_eq(forms_wants_json("application/json;q=0.000"), 0);
    ck_assert_int_eq(forms_wants_json("application/json;q=abc"), 0);
    ck_assert_int_eq(forms_wants_json("application/json;q=1.5"), 0);
    ck_assert_int_eq(forms_wants_json("application/json;q=1.000"), 1);
    ck_assert_int_eq(forms_wants_json("text/plain"), 0);
    ck_assert_int_eq(forms_wants_json(",,;;= , application/json"), 1);
}
END_TEST

START_TEST(same_origin)
{
    const char *base = "https://example.com/";
    ck_assert_int_eq(forms_same_origin("https://example.com", NULL, base), 1);
    ck_assert_int_eq(forms_same_origin("https://example.com:443", NULL, base), 1);
    ck_assert_int_eq(forms_same_origin("https://example.com:", NULL, base), 1);
    ck_assert_int_eq(forms_same_origin("HTTPS://EXAMPLE.COM", NULL, base), 1);
    ck_assert_int_eq(forms_same_origin("http://example.com", NULL, base), 0);
    ck_assert_int_eq(forms_same_origin("https://example.com:8443", NULL, base), 0);
    ck_assert_int_eq(forms_same_origin("https://evil.com", NULL, base), 0);
    ck_assert_int_eq(forms_same_origin("https://example.com.evil.com", NULL, base), 0);
    ck_assert_int_eq(forms_same_origin("https://evilexample.com", NULL, base), 0);
    ck_assert_int_eq(forms_same_origin("https://example.com/contact", NULL, base), 0);
    ck_assert_int_eq(forms_same_origin("https://example.com:99999", NULL, base), 0);
    ck_assert_int_eq(forms_same_origin("https://example.com:0", NULL, base), 0);
    ck_assert_int_eq(forms_same_origin("https://example.com:44a", NULL, base), 0);
    ck_assert_int_eq(forms_same_origin("ftp://example.com", NULL, base), 0);
    ck_assert_int_eq(forms_same_origin("example.com", NULL, base), 0);
    ck_assert_int_eq(forms_same_origin("null", NULL, base), 0);
    ck_assert_int_eq(forms_same_origin("null", "https://example.com/", base), 0);
    ck_assert_int_eq(forms_same_origin(NULL, NULL, base), 0);
    ck_assert_int_eq(forms_same_origin("", "", base), 0);
    /* Referer only when Origin is absent */
    ck_assert_int_eq(forms_same_origin(NULL, "https://example.com/contact/", base), 1);
    ck_assert_int_eq(forms_same_origin("", "https://example.com", base), 1);
    ck_assert_int_eq(forms_same_origin(NULL, "https://example.com?x=1", base), 1);
    ck_assert_int_eq(forms_same_origin(NULL, "https://example.com:443/a#b", base), 1);
    ck_assert_int_eq(forms_same_origin(NULL, "https://example.com@evil.com/", base), 0);
    ck_assert_int_eq(forms_same_origin(NULL, "https://evil.com/https://example.com/", base), 0);
    ck_assert_int_eq(forms_same_origin(NULL, "http://example.com/", base), 0);
    ck_assert_int_eq(forms_same_origin("https://evil.com", "https://example.com/", base), 0);
    /* explicit ports, default ports, IPv6 */
    ck_assert_int_eq(forms_same_origin("http://localhost:8080", NULL,
                                       "http://localhost:8080/"), 1);
    ck_assert_int_eq(forms_same_origin("http://localhost", NULL,
                                       "http://localhost:8080/"), 0);
    ck_assert_int_eq(forms_same_origin("http://example.com:80", NULL,
                                       "http://example.com"), 1);
    ck_assert_int_eq(forms_same_origin("http://example.com", NULL,
                                       "http://example.com:80/site/"), 1);
    ck_assert_int_eq(forms_same_origin("http://[::1]:8080", NULL,
                                       "http://[::1]:8080/"), 1);
    ck_assert_int_eq(forms_same_origin("http://[::1]", NULL,
                                       "http://[::1]:8080/"), 0);
    ck_assert_int_eq(forms_same_origin("https://example.com", NULL, NULL), 0);
    ck_assert_int_eq(forms_same_origin("https://example.com", NULL, "/relative"), 0);
}
END_TEST

START_TEST(content_length)
{
    ck_assert_int_eq(forms_content_length(NULL), -1);
    ck_assert_int_eq(forms_content_length(""), -1);
    ck_assert_int_eq(forms_content_length("-1"), -1);
    ck_assert_int_eq(forms_content_length("+5"), -1);
    ck_assert_int_eq(forms_content_length(" 5"), -1);
    ck_assert_int_eq(forms_content_length("5 "), -1);
    ck_assert_int_eq(forms_content_length("12a"), -1);
    ck_assert_int_eq(forms_content_length("0x10"), -1);
    ck_assert_int_eq(forms_content_length("99999999999999999999"), -1);
    ck_assert_int_eq(forms_content_length("9223372036854775808"), -1);
    ck_assert(forms_content_length("9223372036854775807") == 9223372036854775807LL);
    ck_assert_int_eq(forms_content_length("0"), 0);
    ck_assert_int_eq(forms_content_length("12"), 12);
    ck_assert_int_eq(forms_content_length("000012"), 12);
}
END_TEST

/* ---- random bodies ------------------------------------------------- */

static uint64_t S_rng = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    S_rng ^= S_rng << 13;
    S_rng ^= S_rng >> 7;
    S_rng ^= S_rng << 17;
    return S_rng;
}

static void put(char *out, size_t cap, size_t *n, const char *s)
{
    size_t l = strlen(s);
    if (*n + l <= cap) {
        memcpy(out + *n, s, l);
        *n += l;
    }
}

/* A random value made of pieces that matter to the decoders. */
static void random_value(char *out, size_t cap, size_t *n, int json)
{
    static const char *const url[] = {
        "%", "%2", "%41", "%C3", "%A9", "%00", "%0D%0A", "%0d", "%09", "%C2%85",
        "%FF", "%ED%A0%80", "%F0%9F%98%80", "+", "a", "bc", "=", "&", "\xc3"};
    static const char *const js[] = {
        "a", "bc", " ", "\\\\u0000", "\\u0000", "\\u00e9", "\\ud83d\\ude00",
        "\\ud83d", "\\\\", "\\\"", "\\n", "\\r\\n", "\\t", "\\u0085",
        "\\u0001", "\xc3\xa9", "\xed\xa0\x80", "\xc0\xaf", "\\x", "\""};
    int k = (int)(rnd() % 12);
    for (int i = 0; i < k; i++) {
        if (json)
            put(out, cap, n, js[rnd() % (sizeof js / sizeof js[0])]);
        else
            put(out, cap, n, url[rnd() % (sizeof url / sizeof url[0])]);
    }
}

/* Mostly well-formed bodies over the real field names, then a few random
 * byte flips, so that decoding goes deep as well as failing early. */
static size_t random_body(const forms_spec *spec, int json, char *out,
                          size_t cap)
{
    static const char *const extra[] = {"nick", "", "e%6Dail", "n\\u0061me",
                                        "email\\u0000x"};
    size_t n = 0, nf = 0;
    while (spec->fields[nf].name)
        nf++;
    int pairs = (int)(rnd() % 5);
    if (json)
        put(out, cap, &n, "{");
    for (int i = 0; i < pairs; i++) {
        const char *name = rnd() % 8 ? spec->fields[rnd() % nf].name
                                     : extra[rnd() % 5];
        if (json) {
            put(out, cap, &n, i ? ",\"" : "\"");
            put(out, cap, &n, name);
            put(out, cap, &n, "\":");
            if (rnd() % 10 == 0) {
                put(out, cap, &n, rnd() % 2 ? "42" : "null");
                continue;
            }
            put(out, cap, &n, "\"");
            random_value(out, cap, &n, 1);
            put(out, cap, &n, "\"");
        } else {
            put(out, cap, &n, i ? "&" : "");
            put(out, cap, &n, name);
            if (rnd() % 8)
                put(out, cap, &n, "=");
            random_value(out, cap, &n, 0);
        }
    }
    if (json)
        put(out, cap, &n, "}");
    int flips = rnd() % 4 == 0 ? (int)(rnd() % 4) : 0;
    for (int i = 0; i < flips && n > 0; i++)
        out[rnd() % n] = (char)(rnd() & 0xFF);
    if (rnd() % 50 == 0) { /* now and then, bytes and nothing else */
        n = rnd() % cap;
        for (size_t i = 0; i < n; i++)
            out[i] = (char)(rnd() & 0xFF);
    }
    return n;
}

START_TEST(random_bodies)
{
    enum { ROUNDS = 20000, CAP = 400 };
    const forms_spec *specs[] = {&forms_contact, &forms_register};
    char *body = malloc(CAP);
    ck_assert_ptr_nonnull(body);
    long accepted = 0;
    for (int r = 0; r < ROUNDS; r++) {
        const forms_spec *spec = specs[r & 1];
        int json = (r & 2) != 0;
        enum forms_body t = json ? FORMS_JSON : FORMS_URLENCODED;
        size_t len = random_body(spec, json, body, CAP);
        /* an exact-size copy so ASan sees any read past the body */
        char *exact = malloc(len ? len : 1);
        ck_assert_ptr_nonnull(exact);
        memcpy(exact, body, len);
        forms_values v;
        folio_err err;
        err.msg[0] = '\0';
        int rc = forms_decode(spec, t, exact, len, &v, &err);
        ck_assert(rc == 0 || rc == -1);
        if (rc < 0) {
            ck_assert_msg(err.msg[0] != '\0', "refusal without a message");
        } else {
            accepted++;
            for (int i = 0; spec->fields[i].name; i++) {
                if (!v.value[i])
                    continue;
                ck_assert_uint_eq(strlen(v.value[i]), v.len[i]);
                ck_assert(v.len[i] <= spec->fields[i].max_len);
                ck_assert(util_utf8_valid(v.value[i], v.len[i]));
            }
        }
        forms_values_free(&v);
        free(exact);
    }
    free(body);
    /* a generator that only makes refusals would test little */
    ck_assert_msg(accepted > ROUNDS / 10, "only %ld accepted", accepted);
}
END_TEST

/* Header parsers on random text: no crash, answers in range. */
START_TEST(random_headers)
{
    static const char *const pieces[] = {
        "application/json", "text/html", "application/*", "*/*", "*", "/",
        ";", ",", " ", "\t", "q=", "q=0.5", "q=1", "q=0", "=", "\"", "\\",
        "charset=utf-8", "charset=", "http://", "https://", "example.com",
        "[", "]", ":", "@", "8080", "443", "/path", "?", "#", "null", "0",
        "9", "-", "+", "\xff", "\xc3\xa9", "application/x-www-form-urlencoded"};
    char h[300], base[64];
    snprintf(base, sizeof base, "https://example.com/");
    for (int r = 0; r < 20000; r++) {
        size_t n = 0;
        int k = (int)(rnd() % 10);
        for (int i = 0; i < k; i++) {
            const char *p = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
            size_t l = strlen(p);
            if (n + l >= sizeof h)
                break;
            memcpy(h + n, p, l);
            n += l;
        }
        h[n] = '\0';
        int wj = forms_wants_json(h);
        ck_assert(wj == 0 || wj == 1);
        enum forms_body t;
        int bt = forms_body_type(h, &t);
        ck_assert(bt == 0 || bt == -1);
        int so = forms_same_origin(h, r % 2 ? h : NULL, base);
        ck_assert(so == 0 || so == 1);
        so = forms_same_origin(NULL, h, h);
        ck_assert(so == 0 || so == 1);
        ck_assert(forms_content_length(h) >= -1);
    }
}
END_TEST

/* Workers decode at the same time; run under TSan this shows the JSON
 * path shares nothing unguarded. */
static void *decode_loop(void *arg)
{
    (void)arg;
    static const char *const bodies[] = {
        "{\"email\":\"a@b.c\",\"display_name\":\"A\"}", "{\"email\":", "[1]",
        "email=a%40b.c&display_name=A", "email=%zz"};
    for (int i = 0; i < 2000; i++) {
        const char *b = bodies[i % 5];
        forms_values v;
        folio_err err;
        int rc = forms_decode(&forms_register, i % 5 < 3 ? FORMS_JSON : FORMS_URLENCODED,
                              b, strlen(b), &v, &err);
        forms_values_free(&v);
        if (rc != ((i % 5 == 0 || i % 5 == 3) ? 0 : -1))
            return (void *)1;
    }
    return NULL;
}

START_TEST(decode_threads)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, decode_loop, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *res;
        ck_assert_int_eq(pthread_join(th[i], &res), 0);
        ck_assert_ptr_null(res);
    }
}
END_TEST

/* ---- metrics ------------------------------------------------------- */

/* Every line is a comment or `name{labels} value`; every sample follows a
 * TYPE line for its family. */
static void assert_prometheus(const char *text)
{
    regex_t comment, sample;
    ck_assert_int_eq(regcomp(&comment,
        "^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* [^\n]+$", REG_EXTENDED), 0);
    ck_assert_int_eq(regcomp(&sample,
        "^[a-zA-Z_:][a-zA-Z0-9_:]*"
        "(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"\\\\\n]*\""
        "(,[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"\\\\\n]*\")*\\})?"
        " ([0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|\\+Inf|NaN)$", REG_EXTENDED), 0);
    const char *p = text;
    int lines = 0;
    ck_assert(text[strlen(text) - 1] == '\n');
    while (*p) {
        const char *nl = strchr(p, '\n');
        ck_assert_ptr_nonnull(nl);
        char line[512];
        size_t n = (size_t)(nl - p);
        ck_assert(n < sizeof line);
        memcpy(line, p, n);
        line[n] = '\0';
        int ok = regexec(&comment, line, 0, NULL, 0) == 0 ||
                 regexec(&sample, line, 0, NULL, 0) == 0;
        ck_assert_msg(ok, "not Prometheus text: [%s]", line);
        lines++;
        p = nl + 1;
    }
    ck_assert(lines > 10);
    regfree(&comment);
    regfree(&sample);
}

static void assert_has(const char *text, const char *line)
{
    char want[256];
    snprintf(want, sizeof want, "\n%s\n", line);
    ck_assert_msg(strstr(text, want) != NULL, "missing line [%s] in:\n%s", line,
                  text);
}

START_TEST(metrics_text)
{
    metrics_reset();
    metrics_request("/contact", 303, 0.0005);
    metrics_request("/contact", 303, 0.003);
    metrics_request("/register", 422, 3.0);
    metrics_request("/nowhere", 418, 0.01);
    metrics_request(NULL, 200, -1);
    metrics_event("UserRegistered");
    metrics_event("ContactRequestSubmitted");
    metrics_event("ContactRequestSubmitted");
    metrics_event("SomethingNew");
    metrics_render(5, 0.02);
    metrics_render(0, 0.5);
    metrics_rate_limited();
    metrics_honeypot();
    metrics_honeypot();
    metrics_group_commit(3);
    metrics_group_commit(1);
    metrics_group_commit(1000);

    buf b = BUF_INIT;
    ck_assert_int_eq(buf_puts(&b, "\n"), 0); /* so every line starts after \n */
    ck_assert_int_eq(metrics_write(&b), 0);
    const char *t = b.ptr;
    assert_prometheus(t + 1);

    assert_has(t, "# TYPE folio_up gauge");
    assert_has(t, "folio_up 1");
    assert_has(t, "# TYPE folio_requests_total counter");
    assert_has(t, "folio_requests_total{route=\"/contact\",status=\"303\"} 2");
    assert_has(t, "folio_requests_total{route=\"/register\",status=\"422\"} 1");
    assert_has(t, "folio_requests_total{route=\"other\",status=\"other\"} 1");
    assert_has(t, "folio_requests_total{route=\"other\",status=\"200\"} 1");
    ck_assert_ptr_null(strstr(t, "/nowhere"));
    assert_has(t, "# TYPE folio_request_duration_seconds histogram");
    assert_has(t, "folio_request_duration_seconds_bucket{le=\"0.001\"} 2");
    assert_has(t, "folio_request_duration_seconds_bucket{le=\"0.0025\"} 2");
    assert_has(t, "folio_request_duration_seconds_bucket{le=\"0.005\"} 3");
    assert_has(t, "folio_request_duration_seconds_bucket{le=\"0.01\"} 4");
    assert_has(t, "folio_request_duration_seconds_bucket{le=\"2.5\"} 4");
    assert_has(t, "folio_request_duration_seconds_bucket{le=\"+Inf\"} 5");
    assert_has(t, "folio_request_duration_seconds_sum 3.013500000");
    assert_has(t, "folio_request_duration_seconds_count 5");
    assert_has(t, "folio_events_appended_total{type=\"UserRegistered\"} 1");
    assert_has(t, "folio_events_appended_total{type=\"ContactRequestSubmitted\"} 2");
    assert_has(t, "folio_events_appended_total{type=\"other\"} 1");
    assert_has(t, "folio_pages_rendered_total 5");
    assert_has(t, "# TYPE folio_render_duration_seconds histogram");
    assert_has(t, "folio_render_duration_seconds_bucket{le=\"0.025\"} 1");
    assert_has(t, "folio_render_duration_seconds_count 2");
    assert_has(t, "folio_rate_limited_total 1");
    assert_has(t, "folio_honeypot_total 2");
    assert_has(t, "# TYPE folio_group_commit_events histogram");
    assert_has(t, "folio_group_commit_events_bucket{le=\"1\"} 1");
    assert_has(t, "folio_group_commit_events_bucket{le=\"4\"} 2");
    assert_has(t, "folio_group_commit_events_bucket{le=\"+Inf\"} 3");
    assert_has(t, "folio_group_commit_events_sum 1004");
    assert_has(t, "folio_group_commit_events_count 3");
    buf_free(&b);

    metrics_reset();
    ck_assert_int_eq(buf_puts(&b, "\n"), 0);
    ck_assert_int_eq(metrics_write(&b), 0);
    assert_prometheus(b.ptr + 1);
    assert_has(b.ptr, "folio_request_duration_seconds_count 0");
    assert_has(b.ptr, "folio_honeypot_total 0");
    ck_assert_ptr_null(strstr(b.ptr, "folio_requests_total{"));
    buf_free(&b);
}
END_TEST

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10000; i++) {
        metrics_request("/contact", 201, 0.001);
        metrics_event("UserRegistered");
        metrics_group_commit(2);
    }
    return NULL;
}

START_TEST(metrics_threads)
{
    metrics_reset();
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, NULL), 0);
    /* scrapes while the counters move must stay well-formed */
    for (int i = 0; i < 20; i++) {
        buf b = BUF_INIT;
        ck_assert_int_eq(metrics_write(&b), 0);
        assert_prometheus(b.ptr);
        buf_free(&b);
    }
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    buf b = BUF_INIT;
    ck_assert_int_eq(buf_puts(&b, "\n"), 0);
    ck_assert_int_eq(metrics_write(&b), 0);
    assert_has(b.ptr, "folio_requests_total{route=\"/contact\",status=\"201\"} 40000");
    assert_has(b.ptr, "folio_events_appended_total{type=\"UserRegistered\"} 40000");
    assert_has(b.ptr, "folio_request_duration_seconds_count 40000");
    assert_has(b.ptr, "folio_request_duration_seconds_sum 40.000000000");
    assert_has(b.ptr, "folio_group_commit_events_sum 80000");
    buf_free(&b);
}
END_TEST

static Suite *forms_suite(void)
{
    Suite *s = suite_create("forms");
    TCase *url = tcase_create("urlencoded");
    tcase_add_test(url, url_basic);
    tcase_add_test(url, url_empty_and_pairs);
    tcase_add_test(url, url_percent);
    tcase_add_test(url, url_utf8);
    tcase_add_test(url, url_controls);
    tcase_add_test(url, url_multiline);
    tcase_add_test(url, url_duplicates_unknown);
    tcase_add_test(url, url_limits);
    tcase_add_test(url, body_limit_admits_largest_form);
    tcase_add_test(url, limits_agree);
    tcase_add_test(url, limits_in_characters);
    tcase_add_test(url, honeypot);
    suite_add_tcase(s, url);
    TCase *json = tcase_create("json");
    tcase_add_test(json, json_basic);
    tcase_add_test(json, json_bad);
    suite_add_tcase(s, json);
    TCase *req = tcase_create("request");
    tcase_add_test(req, body_type);
    tcase_add_test(req, wants_json);
    tcase_add_test(req, same_origin);
    tcase_add_test(req, content_length);
    suite_add_tcase(s, req);
    TCase *fuzz = tcase_create("random");
    tcase_set_timeout(fuzz, 120);
    tcase_add_test(fuzz, random_bodies);
    tcase_add_test(fuzz, decode_threads);
    tcase_add_test(fuzz, random_headers);
    suite_add_tcase(s, fuzz);
    TCase *m = tcase_create("metrics");
    tcase_add_test(m, metrics_text);
    tcase_add_test(m, metrics_threads);
    suite_add_tcase(s, m);
    return s;
}

int main(void)
{
    return unit_run(forms_suite());
}
