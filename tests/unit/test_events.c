/* The event registry: field rules, messages, upcasting. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events.h"
#include "store.h"
#include "util.h"
#include "unit.h"

static cJSON *S_user(void)
{
    cJSON *d = cJSON_Parse("{\"user_id\":\"u-1\",\"subject\":\"ab12\","
                           "\"email\":\"ada@example.org\","
                           "\"display_name\":\"Ada Lovelace\","
                           "\"locale\":\"en\",\"has_password\":true}");
    ck_assert_ptr_nonnull(d);
    return d;
}

static cJSON *S_contact(void)
{
    cJSON *d = cJSON_Parse("{\"contact_id\":\"c-1\",\"subject\":\"ab12\","
                           "\"name\":\"Grace\",\"email\":\"g@example.org\","
                           "\"title\":\"Hello\",\"message\":\"Hi,\\n\\tthere\","
                           "\"page\":\"/about/\",\"dedupe\":\"0f0f\"}");
    ck_assert_ptr_nonnull(d);
    return d;
}

/* Validates t with one field set to a string (or removed when value is
 * NULL) and returns the message, "" when valid. */
static const char *S_try(const char *type, const char *name, const char *value)
{
    static folio_err err;
    const events_type *t = events_find(type);
    ck_assert_ptr_nonnull(t);
    cJSON *d = strcmp(type, "UserRegistered") == 0 ? S_user() : S_contact();
    cJSON_DeleteItemFromObjectCaseSensitive(d, name);
    if (value)
        ck_assert_ptr_nonnull(cJSON_AddStringToObject(d, name, value));
    const char *field = NULL;
    int rc = events_validate(t, d, &field, &err);
    if (rc == 0) {
        ck_assert_ptr_null(field);
        cJSON_Delete(d);
        return "";
    }
    ck_assert_int_eq(rc, -1);
    /* field points into the table or, for an unknown one, into d. */
    ck_assert_ptr_nonnull(field);
    ck_assert_int_eq(strncmp(err.msg, field, strlen(field)), 0);
    cJSON_Delete(d);
    return err.msg;
}

START_TEST(registry)
{
    const events_type *const *all = events_all();
    size_t n = 0;
    for (; all[n]; n++) {
        const events_type *t = all[n];
        ck_assert_ptr_eq(events_find(t->name), t);
        ck_assert_int_ge(t->version, 1);
        for (const events_field *f = t->fields; f->name; f++) {
            for (const events_field *g = f + 1; g->name; g++)
                ck_assert_str_ne(f->name, g->name);
            if (f->json_type == cJSON_String)
                ck_assert_msg(f->max_len > 0, "%s.%s has no limit", t->name,
                              f->name);
        }
    }
    ck_assert_uint_ge(n, 4);
    ck_assert_ptr_null(events_find("NoSuchThing"));
    ck_assert_ptr_null(events_find(NULL));
    ck_assert_int_eq(events_find("UserRegistered")->version, 2);
    /* Personal fields are the ones the vault seals. */
    const events_type *c = events_find("ContactRequestSubmitted");
    for (const events_field *f = c->fields; f->name; f++) {
        int personal = !strcmp(f->name, "name") || !strcmp(f->name, "email") ||
                       !strcmp(f->name, "title") || !strcmp(f->name, "message");
        ck_assert_msg(f->personal == personal, "%s", f->name);
    }
    const events_type *p = events_find("PersonForgotten");
    for (const events_field *f = p->fields; f->name; f++)
        ck_assert(!f->personal);
}
END_TEST

START_TEST(valid_events)
{
    ck_assert_str_eq(S_try("UserRegistered", "has_password", NULL), "");
    ck_assert_str_eq(S_try("ContactRequestSubmitted", "title", NULL), "");
    ck_assert_str_eq(S_try("ContactRequestSubmitted", "page", NULL), "");
    ck_assert_str_eq(S_try("UserRegistered", "display_name",
                           "Zoë Ångström-李"), "");
    folio_err err;
    cJSON *d = cJSON_Parse("{\"contact_id\":\"c-9\"}");
    ck_assert_int_eq(events_validate(events_find("ContactRequestHandled"), d,
                                     NULL, &err), 0);
    cJSON_Delete(d);
}
END_TEST

START_TEST(messages_name_field_and_rule)
{
    const char *U = "UserRegistered", *C = "ContactRequestSubmitted";
    ck_assert_str_eq(S_try(U, "email", "ada.example.org"),
                     "email: must be a valid e-mail address");
    ck_assert_str_eq(S_try(U, "display_name", "Ada\x01"),
                     "display_name: must not contain control characters");
    ck_assert_str_eq(S_try(U, "display_name", "Ada\nBob"),
                     "display_name: must not contain control characters");
    ck_assert_str_eq(S_try(U, "display_name", "Ada\xc2\x85"),
                     "display_name: must not contain control characters");
    ck_assert_str_eq(S_try(U, "display_name", "Ada \xe2\x80\xae" "evil"),
                     "display_name: must not contain control characters");
    ck_assert_str_eq(S_try(U, "display_name", " Ada"),
                     "display_name: must not begin or end with white space");
    ck_assert_str_eq(S_try(U, "display_name", ""),
                     "display_name: must not be empty");
    ck_assert_str_eq(S_try(U, "display_name", "Ad\xff"),
                     "display_name: must be valid UTF-8");
    ck_assert_str_eq(S_try(U, "display_name", NULL),
                     "display_name: is required");
    ck_assert_str_eq(S_try(U, "user_id", "u 1"),
                     "user_id: must contain only letters, digits, '-' and '_'");
    ck_assert_str_eq(S_try(U, "locale", "en-GB-oxendict-x-long"),
                     "locale: must be at most 16 characters");
    ck_assert_str_eq(S_try(U, "admin", "yes"),
                     "admin: is not a field of UserRegistered");
    ck_assert_str_eq(S_try(U, "has_password", "yes"),
                     "has_password: must be true or false");
    char big[5002];
    memset(big, 'x', 5001);
    big[5001] = '\0';
    ck_assert_str_eq(S_try(C, "message", big),
                     "message: must be at most 5000 characters");
    big[5000] = '\0';
    ck_assert_str_eq(S_try(C, "message", big), "");
    ck_assert_str_eq(S_try(C, "message", "line one\r\nline two\ttab"), "");
    ck_assert_str_eq(S_try(C, "message", "bell\a"),
                     "message: must not contain control characters");
    ck_assert_str_eq(S_try(C, "message", "   "),
                     "message: must not begin or end with white space");
    char name[102];
    memset(name, 'n', 101);
    name[101] = '\0';
    ck_assert_str_eq(S_try(C, "name", name), "name: must be at most 100 characters");
    ck_assert_str_eq(S_try(C, "title", ""), "title: must not be empty");
    ck_assert_str_eq(S_try(C, "page", "//evil.example/"),
                     "page: must be a path on this site, starting with /");
    ck_assert_str_eq(S_try(C, "page", "https://evil.example/"),
                     "page: must be a path on this site, starting with /");
    ck_assert_str_eq(S_try(C, "page", "/a b"),
                     "page: must be a path on this site, starting with /");
    ck_assert_str_eq(S_try(C, "dedupe", NULL), "dedupe: is required");

    folio_err err;
    const char *field = "x";
    cJSON *arr = cJSON_CreateArray();
    ck_assert_int_eq(events_validate(events_find(U), arr, &field, &err), -1);
    ck_assert_str_eq(err.msg, "data: must be a JSON object");
    cJSON_Delete(arr);
    cJSON *d = S_user();
    cJSON_ReplaceItemInObjectCaseSensitive(d, "email", cJSON_CreateNumber(4));
    ck_assert_int_eq(events_validate(events_find(U), d, &field, &err), -1);
    ck_assert_str_eq(err.msg, "email: must be a string");
    ck_assert_str_eq(field, "email");
    cJSON_Delete(d);
    d = cJSON_Parse("{\"contact_id\":\"a\",\"contact_id\":\"b\"}");
    ck_assert_int_eq(events_validate(events_find("ContactRequestHandled"), d,
                                     &field, &err), -1);
    ck_assert_str_eq(err.msg, "contact_id: is given twice");
    cJSON_Delete(d);
}
END_TEST

START_TEST(emails)
{
    static const char *const good[] = {
        "a@b.co", "first.last+tag@sub.example.org", "x_y-z@exa-mple.io",
        "ünï@exämple.de", "A@EXAMPLE.ORG",
    };
    static const char *const bad[] = {
        "plain", "@example.org", "a@", "a@b", "a@@b.org", "a@b@c.org",
        "a b@example.org", "a@exa mple.org", "a@.example.org",
        "a@example.org.", "a@example..org", "a@-example.org",
        "a.@example.org", ".a@example.org", "<a>@example.org",
        "a@exa_mple.org", "a\n@example.org", "a@example.org\r\nBcc: x@y.z",
        "a\xc2\x85@example.org", "a\xe2\x80\xae@example.org",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(!*S_try("UserRegistered", "email", good[i]), "%s",
                      good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!strcmp(S_try("UserRegistered", "email", bad[i]),
                              "email: must be a valid e-mail address"),
                      "%s", bad[i]);
    char local[80];
    memset(local, 'l', 65);
    snprintf(local + 65, sizeof local - 65, "@example.org");
    ck_assert_str_eq(S_try("UserRegistered", "email", local),
                     "email: must be a valid e-mail address");
}
END_TEST

/* ---- upcasting -------------------------------------------------------- */

/* One sample of every old shape; a new version without a sample here
 * fails the test below. */
static const struct {
    const char *type;
    int version;
    const char *json;
} S_old[] = {
    {"UserRegistered", 1,
     "{\"user_id\":\"u-1\",\"subject\":\"s1\",\"email\":\"a@example.org\","
     "\"display_name\":\"Ada\",\"has_password\":false}"},
    /* v1 of the link events: the raw token itself, no nonce */
    {"MemberVerificationRequested", 1,
     "{\"user_id\":\"u-1\",\"subject\":\"s1\",\"email\":\"a@example.org\","
     "\"display_name\":\"Ada\",\"token\":\"tok-1\",\"expires_at\":1}"},
    {"PasswordResetRequested", 1,
     "{\"user_id\":\"u-1\",\"subject\":\"s1\",\"email\":\"a@example.org\","
     "\"token\":\"tok-1\",\"expires_at\":1}"},
    {"MemberEmailChangeRequested", 1,
     "{\"user_id\":\"u-1\",\"subject\":\"s1\",\"email\":\"a@example.org\","
     "\"display_name\":\"Ada\",\"token\":\"tok-1\",\"expires_at\":1}"},
};

static cJSON *S_sample_current(const events_type *t)
{
    cJSON *d = cJSON_CreateObject();
    for (const events_field *f = t->fields; f->name; f++) {
        cJSON *v = NULL;
        if (f->json_type == cJSON_Number) {
            v = cJSON_CreateNumber(1);
        } else if (f->json_type == cJSON_True) {
            v = cJSON_CreateTrue();
        } else {
            const char *s = "sample";
            switch (f->rule) {
            case EV_RULE_MULTILINE: s = "two\nlines"; break;
            case EV_RULE_EMAIL: s = "a@example.org"; break;
            case EV_RULE_ID: s = "id-1"; break;
            case EV_RULE_PATH: s = "/x/"; break;
            default: break;
            }
            v = cJSON_CreateString(s);
        }
        ck_assert(cJSON_AddItemToObject(d, f->name, v));
    }
    return d;
}

static cJSON *S_sample(const events_type *t, int version)
{
    if (version == t->version)
        return S_sample_current(t);
    for (size_t i = 0; i < sizeof S_old / sizeof S_old[0]; i++)
        if (!strcmp(S_old[i].type, t->name) && S_old[i].version == version)
            return cJSON_Parse(S_old[i].json);
    ck_abort_msg("no sample of %s v%d in S_old", t->name, version);
    return NULL;
}

START_TEST(every_version_upcasts_to_latest)
{
    folio_err err = {{0}};
    size_t lifted = 0;
    for (const events_type *const *t = events_all(); *t; t++) {
        for (int v = 1; v <= (*t)->version; v++) {
            cJSON *d = S_sample(*t, v);
            ck_assert_ptr_nonnull(d);
            ck_assert_msg(events_upcast(*t, v, d, &err) == 0, "%s", err.msg);
            const char *field;
            ck_assert_msg(events_validate(*t, d, &field, &err) == 0,
                          "%s v%d upcast: %s", (*t)->name, v, err.msg);
            cJSON_Delete(d);
            lifted += v < (*t)->version;
        }
    }
    ck_assert_uint_ge(lifted, 1);
    /* Every step in the table belongs to a type and an old version. */
    for (const events_upcaster *u = events_upcasters(); u->type; u++) {
        const events_type *t = events_find(u->type);
        ck_assert_ptr_nonnull(t);
        ck_assert(u->from_version >= 1 && u->from_version < t->version);
        ck_assert_ptr_nonnull(u->fn);
    }
    const events_type *t = events_find("UserRegistered");
    cJSON *d = S_user();
    ck_assert_int_eq(events_upcast(t, 3, d, &err), -1);
    ck_assert_msg(strstr(err.msg, "newer"), "%s", err.msg);
    ck_assert_int_eq(events_upcast(t, 0, d, &err), -1);
    cJSON_Delete(d);
}
END_TEST

typedef struct {
    const events_type *t;
    int upcast;
    char locale[16];
    int version;
} S_read;

static int S_on_event(void *ud, const store_event *ev)
{
    S_read *r = ud;
    folio_err err;
    cJSON *d = cJSON_Parse(ev->data);
    ck_assert_ptr_nonnull(d);
    r->version = ev->schema_version;
    ck_assert_int_eq(events_upcast(r->t, ev->schema_version, d, &err), 0);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(d, "locale");
    ck_assert(cJSON_IsString(l));
    snprintf(r->locale, sizeof r->locale, "%s", l->valuestring);
    ck_assert_int_eq(events_validate(r->t, d, NULL, &err), 0);
    cJSON_Delete(d);
    return 0;
}

/* A v1 row stored before locale existed reads back in the v2 shape. */
START_TEST(v1_row_reads_as_v2)
{
    char dir[] = "/tmp/folio-test-events-XXXXXX", db[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/folio.db", dir);
    store *s = NULL;
    folio_err err = {{0}};
    ck_assert_msg(store_open(db, NULL, &s, &err) == 0, "%s", err.msg);
    store_new_event ev = {NULL, "UserRegistered", 1, S_old[0].json, NULL};
    ck_assert_int_eq(store_append(s, "user-u-1", STORE_NO_STREAM, &ev, 1, NULL,
                                  &err), STORE_OK);
    S_read r = {events_find("UserRegistered"), 0, "", 0};
    ck_assert_int_eq(store_read_stream(s, "user-u-1", S_on_event, &r, &err), 0);
    ck_assert_int_eq(r.version, 1);
    ck_assert_str_eq(r.locale, "en");
    store_close(s);
    ck_assert_int_eq(util_rmtree(dir, &err), 0);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("events");
    TCase *tc = tcase_create("events");
    tcase_add_test(tc, registry);
    tcase_add_test(tc, valid_events);
    tcase_add_test(tc, messages_name_field_and_rule);
    tcase_add_test(tc, emails);
    tcase_add_test(tc, every_version_upcasts_to_latest);
    tcase_add_test(tc, v1_row_reads_as_v2);
    suite_add_tcase(su, tc);
    return unit_run(su);
}
