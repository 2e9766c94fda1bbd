/* Webhooks: Standard Webhooks signatures, secrets, how an answer counts,
 * the webhooks: list of folio.yml, batches over kept-alive connections
 * (a result per event, at most four connections). */
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "consumers.h"
#include "util.h"
#include "webhooks.h"
#include "unit.h"

/* The test vector of the specification's reference libraries
 * (libraries/go/webhook_test.go, TestWebhookSign, and the others). */
START_TEST(test_sign_vector)
{
    ck_assert_int_ge(sodium_init(), 0);
    unsigned char key[WEBHOOKS_KEY_MAX];
    size_t klen = 0;
    folio_err err;
    ck_assert_int_eq(webhooks_secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                         key, &klen, &err), 0);
    ck_assert_uint_eq(klen, 24);
    const char *body = "{\"test\": 2432232314}";
    char sig[WEBHOOKS_SIG_MAX];
    webhooks_sign(key, klen, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                  strlen(body), sig);
    ck_assert_str_eq(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* Another timestamp, another signature. */
    webhooks_sign(key, klen, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body,
                  strlen(body), sig);
    ck_assert_str_ne(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}
END_TEST

START_TEST(test_secret_decoding)
{
    unsigned char key[WEBHOOKS_KEY_MAX];
    size_t klen = 0;
    folio_err err = {{0}};
    /* Padding is optional. */
    ck_assert_int_eq(webhooks_secret_key("whsec_aGVsbG8=", key, &klen, &err), 0);
    ck_assert_uint_eq(klen, 5);
    ck_assert_int_eq(memcmp(key, "hello", 5), 0);
    ck_assert_int_eq(webhooks_secret_key("whsec_aGVsbG8", key, &klen, &err), 0);
    ck_assert_uint_eq(klen, 5);
    /* Without the prefix the bytes are the key. */
    ck_assert_int_eq(webhooks_secret_key("plain secret", key, &klen, &err), 0);
    ck_assert_uint_eq(klen, 12);
    ck_assert_int_eq(memcmp(key, "plain secret", 12), 0);
    ck_assert_int_eq(webhooks_secret_key("whsec_not base64!", key, &klen, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "base64"));
    ck_assert_int_eq(webhooks_secret_key("whsec_", key, &klen, &err), -1);
    ck_assert_int_eq(webhooks_secret_key("", key, &klen, &err), -1);
}
END_TEST

START_TEST(test_classify)
{
    ck_assert_int_eq(webhooks_classify(0, 200), CONSUMER_DONE);
    ck_assert_int_eq(webhooks_classify(0, 204), CONSUMER_DONE);
    ck_assert_int_eq(webhooks_classify(0, 299), CONSUMER_DONE);
    ck_assert_int_eq(webhooks_classify(0, 408), CONSUMER_RETRY);
    ck_assert_int_eq(webhooks_classify(0, 429), CONSUMER_RETRY);
    ck_assert_int_eq(webhooks_classify(0, 500), CONSUMER_RETRY);
    ck_assert_int_eq(webhooks_classify(0, 503), CONSUMER_RETRY);
    ck_assert_int_eq(webhooks_classify(0, 400), CONSUMER_PERMANENT);
    ck_assert_int_eq(webhooks_classify(0, 401), CONSUMER_PERMANENT);
    ck_assert_int_eq(webhooks_classify(0, 404), CONSUMER_PERMANENT);
    ck_assert_int_eq(webhooks_classify(0, 410), CONSUMER_PERMANENT);
    ck_assert_int_eq(webhooks_classify(0, 301), CONSUMER_PERMANENT);
    ck_assert_int_eq(webhooks_classify(0, 100), CONSUMER_PERMANENT);
    ck_assert_int_eq(webhooks_classify(7 /* couldn't connect */, 0), CONSUMER_RETRY);
    ck_assert_int_eq(webhooks_classify(28 /* timeout */, 0), CONSUMER_RETRY);
}
END_TEST

static int S_open_yaml(const char *json, webhooks **w, folio_err *err)
{
    folio_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.raw = cJSON_Parse(json);
    ck_assert_ptr_nonnull(cfg.raw);
    int rc = webhooks_open(&cfg, w, err);
    cJSON_Delete(cfg.raw);
    return rc;
}

START_TEST(test_config)
{
    webhooks *w = NULL;
    folio_err err = {{0}};
    ck_assert_int_eq(S_open_yaml("{}", &w, &err), 0);
    ck_assert_uint_eq(webhooks_count(w), 0);
    webhooks_close(w);

    setenv("FOLIO_TEST_HOOK_SECRET", "whsec_aGVsbG8=", 1);
    ck_assert_int_eq(S_open_yaml(
        "{\"webhooks\":["
        "{\"url\":\"https://hooks.example.org/folio\",\"secret\":\"s1\"},"
        "{\"url\":\"https://hooks.example.org/other\",\"secret\":\"s2\","
        " \"events\":[\"UserRegistered\",\"ContactRequestSubmitted\"]},"
        "{\"url\":\"https://hooks.example.org/other\",\"secret\":\"s3\"},"
        "{\"url\":\"http://127.0.0.1:9/x\",\"secret_env\":\"FOLIO_TEST_HOOK_SECRET\","
        " \"personal_data\":true}]}", &w, &err), 0);
    ck_assert_uint_eq(webhooks_count(w), 4);
    ck_assert_str_eq(webhooks_name(w, 0), "webhook:hooks.example.org/folio");
    ck_assert_str_eq(webhooks_name(w, 1), "webhook:hooks.example.org/other");
    ck_assert_str_eq(webhooks_name(w, 2), "webhook:hooks.example.org/other-2");
    ck_assert_str_eq(webhooks_name(w, 3), "webhook:127.0.0.1");
    ck_assert_ptr_null(webhooks_types(w, 0));
    const char *const *t = webhooks_types(w, 1);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t[0], "UserRegistered");
    ck_assert_str_eq(t[1], "ContactRequestSubmitted");
    ck_assert_ptr_null(t[2]);
    ck_assert_int_eq(webhooks_personal(w, 0), 0);
    ck_assert_int_eq(webhooks_personal(w, 3), 1);
    ck_assert_ptr_nonnull(webhooks_ud(w, 3));
    webhooks_close(w);
}
END_TEST

/* Every refusal names the entry and says what is wrong. */
START_TEST(test_config_errors)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"webhooks\":\"x\"}", "webhooks must be a list"},
        {"{\"webhooks\":[{\"url\":\"https://a.example/\"}]}",
         "webhooks[1] (https://a.example/): give secret or secret_env"},
        {"{\"webhooks\":[{\"url\":\"https://a.example/\",\"secret\":\"s\"},"
         "{\"url\":\"https://b.example/\",\"secret\":\"s\","
         "\"events\":[\"MemberRegistered\"]}]}",
         "webhooks[2] (https://b.example/): events: unknown event type"
         " 'MemberRegistered'"},
        {"{\"webhooks\":[{\"url\":\"ftp://a.example/\",\"secret\":\"s\"}]}",
         "must be http:// or https://"},
        {"{\"webhooks\":[{\"url\":\"https://u:p@a.example/\",\"secret\":\"s\"}]}",
         "user name or password"},
        {"{\"webhooks\":[{\"secret\":\"s\"}]}", "webhooks[1]: url is required"},
        {"{\"webhooks\":[{\"url\":\"https://a.example/\",\"secret\":\"s\","
         "\"secret_env\":\"X\"}]}", "one of them"},
        {"{\"webhooks\":[{\"url\":\"https://a.example/\","
         "\"secret_env\":\"FOLIO_TEST_UNSET_VARIABLE\"}]}",
         "$FOLIO_TEST_UNSET_VARIABLE is not set"},
        {"{\"webhooks\":[{\"url\":\"https://a.example/\",\"secret\":\"whsec_!!\"}]}",
         "base64"},
        {"{\"webhooks\":[{\"url\":\"https://a.example/\",\"secret\":\"s\","
         "\"personal_data\":\"yes\"}]}", "personal_data must be true or false"},
        {"{\"webhooks\":[{\"url\":\"https://a.example/\",\"secret\":\"s\","
         "\"evnts\":[]}]}", "unknown setting 'evnts'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        webhooks *w = NULL;
        folio_err err = {{0}};
        ck_assert_int_eq(S_open_yaml(cases[i].json, &w, &err), -1);
        ck_assert_ptr_null(w);
        if (!strstr(err.msg, cases[i].want))
            ck_abort_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
    }
}
END_TEST

/* A port nobody listens on: retried, and the message names the host only. */
START_TEST(test_unreachable_is_retried)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd); /* bound once, so free now and refused */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", ntohs(sa.sin_port));
    webhooks *w = NULL;
    folio_err err = {{0}};
    ck_assert_int_eq(webhooks_open_url(url, "secret", 0, &w, &err), 0);
    cJSON *data = cJSON_Parse("{\"contact_id\":\"c1\",\"name\":\"v1:sealed\"}");
    cJSON *meta = cJSON_Parse("{\"client\":\"v1:sealed\"}");
    consumer_event ev = {.position = 1,
                         .event_id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
                         .stream_id = "contact-x", .type = "ContactRequestSubmitted",
                         .schema_version = 1, .data = data, .metadata = meta,
                         .recorded_at = 1};
    ck_assert_int_eq(webhooks_handle(webhooks_ud(w, 0), &ev, &err), CONSUMER_RETRY);
    ck_assert_ptr_nonnull(strstr(err.msg, "webhook 127.0.0.1: "));
    ck_assert_int_eq(webhooks_last_status(w, 0), 0);
    cJSON_Delete(data);
    cJSON_Delete(meta);
    webhooks_close(w);
}
END_TEST

/* ---- batches ---------------------------------------------------------------- */

/* tests/unit/hook_counter.py on a free port: its pid; url set. */
static pid_t S_counter(const char *stats, char *url, size_t cap)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        const char *py = access("/usr/bin/python3", X_OK) == 0
                             ? "/usr/bin/python3" : "python3";
        execlp(py, py, FOLIO_SRCDIR "/tests/unit/hook_counter.py", stats,
               (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    ck_assert_ptr_nonnull(f);
    char line[256] = "";
    int port = 0;
    while (!port && fgets(line, sizeof line, f))
        if (sscanf(line, "READY %d", &port) != 1)
            port = 0;
    fclose(f); /* the server prints nothing more */
    ck_assert_msg(port > 0, "hook_counter.py did not start");
    snprintf(url, cap, "http://127.0.0.1:%d/hook", port);
    return pid;
}

static long long S_stat(const char *stats, const char *key)
{
    char *text = NULL;
    size_t len;
    folio_err err;
    ck_assert_int_eq(util_read_file(stats, &text, &len, &err), 0);
    cJSON *j = cJSON_Parse(text);
    free(text);
    const cJSON *v = cJSON_GetObjectItem(j, key);
    long long n = cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
    cJSON_Delete(j);
    return n;
}

START_TEST(test_batch_results_and_connections)
{
    char dir[256], stats[300], url[64];
    unit_tmpdir(dir, sizeof dir, "hooks");
    snprintf(stats, sizeof stats, "%s/stats.json", dir);
    pid_t pid = S_counter(stats, url, sizeof url);
    webhooks *w = NULL;
    folio_err err = {{0}};
    ck_assert_int_eq(webhooks_open_url(url, "secret", 0, &w, &err), 0);
    cJSON *data = cJSON_Parse("{\"contact_id\":\"c1\",\"name\":\"v1:sealed\"}");
    /* the receiver answers with the status the id begins with */
    const char *ids[] = {"00000000-0000-4000-8000-000000000001",
                         "50300000-0000-4000-8000-000000000002",
                         "00000000-0000-4000-8000-000000000003",
                         "40400000-0000-4000-8000-000000000004",
                         "42900000-0000-4000-8000-000000000005",
                         "00000000-0000-4000-8000-000000000006",
                         "not a usable id",
                         "00000000-0000-4000-8000-000000000008"};
    const int want[] = {CONSUMER_DONE, CONSUMER_RETRY, CONSUMER_DONE,
                        CONSUMER_PERMANENT, CONSUMER_RETRY, CONSUMER_DONE,
                        CONSUMER_PERMANENT, CONSUMER_DONE};
    enum { N = sizeof ids / sizeof ids[0] };
    consumer_event ev[N];
    for (int i = 0; i < N; i++)
        ev[i] = (consumer_event){.position = i + 1, .event_id = ids[i],
                                 .stream_id = "contact-x",
                                 .type = "ContactRequestSubmitted",
                                 .schema_version = 1, .data = data,
                                 .recorded_at = 1};
    int res[N];
    folio_err errs[N];
    long long conns = 0;
    for (int round = 1; round <= 2; round++) {
        memset(errs, 0, sizeof errs);
        webhooks_handle_batch(webhooks_ud(w, 0), ev, N, res, errs);
        for (int i = 0; i < N; i++)
            ck_assert_msg(res[i] == want[i], "%s: %d, not %d (%s)", ids[i],
                          res[i], want[i], errs[i].msg);
        ck_assert_ptr_nonnull(strstr(errs[1].msg, "HTTP 503"));
        ck_assert_ptr_nonnull(strstr(errs[3].msg, "HTTP 404"));
        ck_assert_int_eq(S_stat(stats, "requests"), round * (N - 1));
        /* at most four at once, kept open from one batch to the next */
        ck_assert_int_le(S_stat(stats, "max_open"), 4);
        if (round == 1)
            conns = S_stat(stats, "connections");
        ck_assert_int_le(conns, 4);
        ck_assert_int_eq(S_stat(stats, "connections"), conns);
    }
    cJSON_Delete(data);
    webhooks_close(w);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    unit_rmdir(dir);
}
END_TEST

static Suite *S_suite(void)
{
    Suite *s = suite_create("webhooks");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_sign_vector);
    tcase_add_test(tc, test_secret_decoding);
    tcase_add_test(tc, test_classify);
    tcase_add_test(tc, test_config);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_unreachable_is_retried);
    tcase_add_test(tc, test_batch_results_and_connections);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return unit_run(S_suite()); }
