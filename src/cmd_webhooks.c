/* folio webhooks: the configured webhooks, and a signed sample event sent
 * to a receiver so that the owner can check it before real events flow. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "config.h"
#include "consumers.h"
#include "store.h"
#include "util.h"
#include "webhooks.h"

static const char S_help[] =
    "usage: folio webhooks [-s SITE]\n"
    "       folio webhooks test URL [--secret S] [--personal] [-s SITE]\n"
    "\n"
    "Without a verb, lists the webhooks of folio.yml: the consumer name, the\n"
    "URL, the event types it gets and whether personal fields are sent\n"
    "(the secret is never shown).\n"
    "\n"
    "test POSTs one signed sample ContactRequestSubmitted event (metadata\n"
    "{\"test\":true}) to URL, the way deliveries are sent, and prints the\n"
    "answer and whether folio counts it as delivered. The secret is --secret\n"
    "or that of the configured webhook with this URL.\n"
    "\n"
    "      --secret S     sign with S (\"whsec_<base64>\" or any text)\n"
    "      --personal     send the sample's personal fields (as\n"
    "                     personal_data: true does)\n"
    "  -s, --site SITE    the site directory (default .)\n"
    "\n"
    "Exit status: 0 delivered (2xx), 1 not delivered, 2 usage.\n";

static int S_usage(void)
{
    fputs("usage: folio webhooks [test URL [--secret S] [--personal]]"
          " [-s SITE]\n", stderr);
    return 2;
}

static int S_list(const webhooks *w)
{
    if (webhooks_count(w) == 0) {
        printf("no webhooks in folio.yml\n");
        return 0;
    }
    for (size_t i = 0; i < webhooks_count(w); i++) {
        printf("%s\n  url: %s\n  events: ", webhooks_name(w, i),
               webhooks_url(w, i));
        const char *const *t = webhooks_types(w, i);
        if (!t)
            printf("all");
        for (size_t k = 0; t && t[k]; k++)
            printf("%s%s", k ? ", " : "", t[k]);
        printf("\n  personal_data: %s\n",
               webhooks_personal(w, i) ? "true" : "false");
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

/* Sends the sample through webhook 0 of w and reports it. */
static int S_send_sample(webhooks *w)
{
    static const char data_json[] =
        "{\"contact_id\":\"00000000-0000-4000-8000-000000000000\","
        "\"subject\":\"test\",\"name\":\"[personal]\",\"email\":\"[personal]\","
        "\"title\":\"[personal]\",\"message\":\"[personal]\",\"page\":"
        "\"/contact/\",\"dedupe\":\"test\"}";
    static const char personal_json[] =
        "{\"contact_id\":\"00000000-0000-4000-8000-000000000000\","
        "\"subject\":\"test\",\"name\":\"Ada Example\",\"email\":"
        "\"ada@example.org\",\"title\":\"A test from folio\",\"message\":"
        "\"This is a sample event sent by folio webhooks test.\",\"page\":"
        "\"/contact/\",\"dedupe\":\"test\"}";
    cJSON *data = cJSON_Parse(data_json), *personal = cJSON_Parse(personal_json);
    cJSON *meta = cJSON_Parse("{\"test\":true}");
    char id[37];
    store_uuid_v7(id);
    consumer_event ev = {.position = 0, .event_id = id, .stream_id = "contact-test",
                         .stream_version = 0, .type = "ContactRequestSubmitted",
                         .schema_version = 1, .data = data, .personal = personal,
                         .metadata = meta, .recorded_at = util_now_ms()};
    folio_err err = {{0}};
    int rc = data && personal && meta
                 ? webhooks_handle(webhooks_ud(w, 0), &ev, &err)
                 : (err_set(&err, "out of memory"), CONSUMER_RETRY);
    cJSON_Delete(data);
    cJSON_Delete(personal);
    cJSON_Delete(meta);
    long status = webhooks_last_status(w, 0);
    if (status)
        printf("POST %s: HTTP %ld\n", webhooks_url(w, 0), status);
    else
        printf("POST %s: no answer (%s)\n", webhooks_url(w, 0), err.msg);
    printf("webhook-id: %s\n", id);
    if (rc == CONSUMER_DONE)
        printf("delivered\n");
    else if (rc == CONSUMER_RETRY)
        printf("not delivered: folio would retry it later\n");
    else
        printf("not delivered: refused for good (a dead letter)\n");
    return rc == CONSUMER_DONE ? 0 : 1;
}

static int S_test(const folio_config *cfg, const webhooks *conf, const char *url,
                  const char *secret, int personal)
{
    for (size_t i = 0; !secret && i < webhooks_count(conf); i++)
        if (!strcmp(webhooks_url(conf, i), url)) {
            /* Sign with the configured key: open it alone again. */
            cJSON *one = cJSON_CreateObject(), *list = cJSON_CreateArray();
            cJSON *entries = cJSON_GetObjectItemCaseSensitive(cfg->raw, "webhooks");
            cJSON *e = cJSON_Duplicate(cJSON_GetArrayItem(entries, (int)i), 1);
            if (!one || !list || !e) {
                cJSON_Delete(one);
                cJSON_Delete(list);
                cJSON_Delete(e);
                fprintf(stderr, "folio webhooks: out of memory\n");
                return 1;
            }
            if (personal)
                cJSON_ReplaceItemInObjectCaseSensitive(e, "personal_data",
                                                       cJSON_CreateTrue());
            cJSON_AddItemToArray(list, e);
            cJSON_AddItemToObject(one, "webhooks", list);
            folio_config c1 = *cfg;
            c1.raw = one;
            webhooks *w = NULL;
            folio_err err = {{0}};
            int rc = webhooks_open(&c1, &w, &err);
            cJSON_Delete(one);
            if (rc != 0) {
                fprintf(stderr, "folio webhooks: %s\n", err.msg);
                return 1;
            }
            rc = S_send_sample(w);
            webhooks_close(w);
            return rc;
        }
    if (!secret) {
        fprintf(stderr, "folio webhooks test: no webhook in folio.yml has this"
                " URL: give --secret\n");
        return 2;
    }
    webhooks *w = NULL;
    folio_err err = {{0}};
    if (webhooks_open_url(url, secret, personal, &w, &err) != 0) {
        fprintf(stderr, "folio webhooks test: %s\n", err.msg);
        return 2;
    }
    int rc = S_send_sample(w);
    webhooks_close(w);
    return rc;
}

int cmd_webhooks(int argc, char **argv)
{
    static const struct option longs[] = {
        {"site", required_argument, NULL, 's'},
        {"secret", required_argument, NULL, 'k'},
        {"personal", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *site_dir = ".", *secret = NULL;
    int personal = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":s:h", longs, NULL)) != -1) {
        switch (ch) {
        case 's': site_dir = optarg; break;
        case 'k': secret = optarg; break;
        case 'p': personal = 1; break;
        case 'h': return fputs(S_help, stdout), 0;
        default: return S_usage();
        }
    }
    int test = optind < argc && !strcmp(argv[optind], "test");
    if (test ? optind + 2 != argc : optind != argc)
        return S_usage();
    if (!test && (secret || personal))
        return S_usage();
    folio_config cfg;
    folio_err err = {{0}};
    if (config_load(site_dir, &cfg, &err) != 0) {
        fprintf(stderr, "folio webhooks: %s\n", err.msg);
        return 1;
    }
    webhooks *w = NULL;
    int rc;
    if (webhooks_open(&cfg, &w, &err) != 0) {
        fprintf(stderr, "folio webhooks: %s\n", err.msg);
        rc = 1;
    } else if (test) {
        rc = S_test(&cfg, w, argv[optind + 1], secret, personal);
    } else {
        rc = S_list(w);
    }
    webhooks_close(w);
    config_free(&cfg);
    return rc;
}
