/* The events API: query parameters, and API keys (shape, hashing, scopes,
 * revocation) on a real store. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "apikeys.h"
#include "events.h"
#include "store.h"
#include "unit.h"

static int S_parse(const char *qs, api_query *q, const char **field,
                   folio_err *err)
{
    memset(err, 0, sizeof *err);
    return api_parse_query(qs, q, field, err);
}

START_TEST(test_query_defaults_and_clamps)
{
    api_query q;
    const char *field;
    folio_err err;
    ck_assert_int_eq(S_parse("", &q, &field, &err), 0);
    ck_assert_int_eq(q.after, 0);
    ck_assert_uint_eq(q.limit, API_LIMIT_DEFAULT);
    ck_assert_int_eq(q.wait, 0);
    ck_assert_uint_eq(q.types, 0);
    ck_assert_int_eq(S_parse(NULL, &q, &field, &err), 0);
    ck_assert_int_eq(S_parse("after=42&limit=0&wait=60", &q, &field, &err), 0);
    ck_assert_int_eq(q.after, 42);
    ck_assert_uint_eq(q.limit, API_LIMIT_DEFAULT);
    ck_assert_int_eq(q.wait, 60);
    ck_assert_int_eq(S_parse("limit=7", &q, &field, &err), 0);
    ck_assert_uint_eq(q.limit, 7);
    ck_assert_int_eq(S_parse("limit=1001", &q, &field, &err), 0);
    ck_assert_uint_eq(q.limit, API_LIMIT_MAX);
    ck_assert_int_eq(S_parse("limit=999999999999999999", &q, &field, &err), 0);
    ck_assert_uint_eq(q.limit, API_LIMIT_MAX);
    ck_assert_int_eq(S_parse("after=999999999999999999", &q, &field, &err), 0);
    ck_assert_int_eq(q.after, 999999999999999999LL);
}
END_TEST

START_TEST(test_query_types)
{
    api_query q;
    const char *field;
    folio_err err;
    ck_assert_int_eq(S_parse("types=UserRegistered", &q, &field, &err), 0);
    const events_type *const *all = events_all();
    unsigned want = 0;
    for (size_t i = 0; all[i]; i++)
        if (!strcmp(all[i]->name, "UserRegistered") ||
            !strcmp(all[i]->name, "ContactRequestSubmitted"))
            want |= 1u << i;
    ck_assert_int_eq(S_parse("types=UserRegistered%2CContactRequestSubmitted", &q,
                             &field, &err), 0);
    ck_assert_uint_eq(q.types, want);
    ck_assert_int_eq(S_parse("types=UserRegistered,Nope", &q, &field, &err), 400);
    ck_assert_str_eq(field, "types");
    ck_assert_str_eq(err.msg, "types: unknown event type 'Nope'");
    ck_assert_int_eq(S_parse("types=", &q, &field, &err), 400);
    ck_assert_int_eq(S_parse("types=UserRegistered,", &q, &field, &err), 400);
    ck_assert_int_eq(S_parse("types=userregistered", &q, &field, &err), 400);
}
END_TEST

/* Every refusal is a 400 naming the parameter. */
START_TEST(test_query_refusals)
{
    static const struct {
        const char *qs, *field, *msg;
    } cases[] = {
        {"after=abc", "after", "after: "},
        {"after=-1", "after", "after: "},
        {"after=1.5", "after", "after: "},
        {"after=", "after", "after: "},
        {"after=9999999999999999999", "after", "after: "},
        {"limit=ten", "limit", "limit: "},
        {"limit=-5", "limit", "limit: "},
        {"wait=61", "wait", "wait: must be 0 to 60 seconds"},
        {"wait=x", "wait", "wait: "},
        {"after=1&after=2", NULL, "'after' given twice"},
        {"aftr=1", NULL, "aftr"},
        {"after=%zz", NULL, "percent-encoding"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        api_query q;
        const char *field = NULL;
        folio_err err;
        ck_assert_int_eq(S_parse(cases[i].qs, &q, &field, &err), 400);
        if (cases[i].field)
            ck_assert_str_eq(field ? field : "(none)", cases[i].field);
        if (!strstr(err.msg, cases[i].msg))
            ck_abort_msg("%s: '%s' lacks '%s'", cases[i].qs, err.msg, cases[i].msg);
    }
}
END_TEST

START_TEST(test_key_shape_hash_scopes)
{
    ck_assert_int_eq(apikeys_key_shape("folio_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 1);
    ck_assert_int_eq(apikeys_key_shape("folio_AAAA"), 0);
    ck_assert_int_eq(apikeys_key_shape("xolio_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 0);
    ck_assert_int_eq(apikeys_key_shape("folio_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), 0);
    ck_assert_int_eq(apikeys_key_shape(NULL), 0);
    unsigned char a[32], b[32], c[32];
    apikeys_hash("folio_x", 7, a);
    apikeys_hash("folio_x", 7, b);
    apikeys_hash("folio_y", 7, c);
    ck_assert_int_eq(memcmp(a, b, 32), 0);
    ck_assert_int_ne(memcmp(a, c, 32), 0);
    ck_assert_uint_eq(apikeys_scope_bit("events:read"), APIKEYS_EVENTS_READ);
    ck_assert_uint_eq(apikeys_scope_bit("personal:read"), APIKEYS_PERSONAL_READ);
    ck_assert_uint_eq(apikeys_scope_bit("admin"), 0);
    char text[64];
    apikeys_scopes_text(APIKEYS_EVENTS_READ | APIKEYS_PERSONAL_READ, text, sizeof text);
    ck_assert_str_eq(text, "events:read personal:read");
    ck_assert_int_eq(apikeys_name_ok("ci-bot_2.prod"), 1);
    ck_assert_int_eq(apikeys_name_ok("has space"), 0);
    ck_assert_int_eq(apikeys_name_ok(""), 0);
}
END_TEST

typedef struct S_seen {
    int n;
    char names[4][APIKEYS_NAME_MAX + 1];
    long long revoked[4];
} S_seen;

static int S_collect(void *ud, const apikeys_info *k)
{
    S_seen *s = ud;
    if (s->n < 4) {
        snprintf(s->names[s->n], sizeof s->names[0], "%s", k->name);
        s->revoked[s->n] = k->revoked_at;
    }
    s->n++;
    return 0;
}

START_TEST(test_keys_in_the_store)
{
    ck_assert_int_ge(sodium_init(), 0);
    char dir[256], path[300];
    unit_tmpdir(dir, sizeof dir, "apikeys");
    snprintf(path, sizeof path, "%s/folio.db", dir);
    store *st = NULL;
    folio_err err = {{0}};
    ck_assert_int_eq(store_open(path, NULL, &st, &err), 0);
    sqlite3 *db = store_db(st);

    char k1[APIKEYS_KEY_LEN + 1], k2[APIKEYS_KEY_LEN + 1], name[APIKEYS_NAME_MAX + 1];
    ck_assert_int_eq(apikeys_create(db, "reader", APIKEYS_EVENTS_READ, k1, &err), 0);
    ck_assert_int_eq(apikeys_key_shape(k1), 1);
    ck_assert_int_eq(apikeys_create(db, "owner", APIKEYS_EVENTS_READ |
                                    APIKEYS_PERSONAL_READ, k2, &err), 0);
    ck_assert_str_ne(k1, k2);
    ck_assert_int_eq(apikeys_create(db, "reader", APIKEYS_EVENTS_READ, k2, &err), 1);
    ck_assert_int_eq(apikeys_create(db, "bad name", APIKEYS_EVENTS_READ, k2, &err), -1);
    ck_assert_int_eq(apikeys_create(db, "none", 0, k2, &err), -1);

    /* Only a hash is stored: the key's text is nowhere in the table. */
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM api_keys WHERE"
                                        " instr(CAST(key_hash AS TEXT), ?1) > 0"
                                        " OR instr(name, ?1) > 0", -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(q, 1, k1 + 6, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(q, 0), 0);
    sqlite3_finalize(q);

    unsigned scopes = 0;
    ck_assert_int_eq(apikeys_check(db, k1, name, &scopes, &err), 0);
    ck_assert_str_eq(name, "reader");
    ck_assert_uint_eq(scopes, APIKEYS_EVENTS_READ);
    ck_assert_int_eq(apikeys_check(db, "folio_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                   name, &scopes, &err), 1);
    ck_assert_int_eq(apikeys_check(db, "nonsense", name, &scopes, &err), 1);
    ck_assert_int_eq(apikeys_touch(db, "reader", 12345, &err), 0);

    ck_assert_int_eq(apikeys_revoke(db, "reader", &err), 0);
    ck_assert_int_eq(apikeys_revoke(db, "reader", &err), 0);
    ck_assert_int_eq(apikeys_revoke(db, "nobody", &err), 1);
    ck_assert_int_eq(apikeys_check(db, k1, name, &scopes, &err), 1);

    S_seen seen = {0};
    ck_assert_int_eq(apikeys_list(db, S_collect, &seen, &err), 0);
    ck_assert_int_eq(seen.n, 2);
    ck_assert_str_eq(seen.names[0], "reader");
    ck_assert_int_gt(seen.revoked[0], 0);
    ck_assert_str_eq(seen.names[1], "owner");
    ck_assert_int_eq(seen.revoked[1], 0);
    store_close(st);
    unit_rmdir(dir);
}
END_TEST

/* Settings are refused before anything is opened, naming the key. */
START_TEST(test_settings_refused)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"api\":{\"rate\":\"fast\"}}", "api.rate must be a number"},
        {"{\"api\":{\"burst\":true}}", "api.burst must be a number"},
        {"{\"api\":{\"rate\":0}}", "rate must be above 0"},
        {"{\"api\":{\"burst\":0.5}}", "burst at least 1"},
        {"{\"api\":[1]}", "api must be a mapping"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        folio_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.raw = cJSON_Parse(cases[i].json);
        ck_assert_ptr_nonnull(cfg.raw);
        api *a = NULL;
        folio_err err = {{0}};
        ck_assert_int_eq(api_open(&cfg, &a, &err), -1);
        ck_assert_ptr_null(a);
        if (!strstr(err.msg, cases[i].want))
            ck_abort_msg("%s: '%s' lacks '%s'", cases[i].json, err.msg, cases[i].want);
        cJSON_Delete(cfg.raw);
    }
}
END_TEST

static Suite *S_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_query_defaults_and_clamps);
    tcase_add_test(tc, test_query_types);
    tcase_add_test(tc, test_query_refusals);
    tcase_add_test(tc, test_key_shape_hash_scopes);
    tcase_add_test(tc, test_keys_in_the_store);
    tcase_add_test(tc, test_settings_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return unit_run(S_suite()); }
