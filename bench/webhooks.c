/* webhooks-bench — signed webhook deliveries per second to one receiver.
 *
 *   make bench/webhooks-bench && ./bench/webhooks-bench URL [N]
 *   bench/webhooks [N]      (starts nginx answering 204 and runs this)
 *
 * Sends N (default 20000) ContactRequestSubmitted envelopes through
 * webhooks_handle, one after another as the consumers' thread does: body
 * built (personal fields masked), signed, POSTed on the kept-alive
 * connection, answer classified. Prints deliveries/s beside the target
 * (5,000/s), the median and p99 time per delivery, and the CPU this
 * process spent per delivery (what a loaded machine does not change).
 * Not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cjson/cJSON.h>

#include "consumers.h"
#include "util.h"
#include "webhooks.h"

static int S_cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: webhooks-bench URL [N]\n");
        return 2;
    }
    long n = argc == 3 ? strtol(argv[2], NULL, 10) : 20000;
    if (n < 1 || n > 10000000) {
        fprintf(stderr, "webhooks-bench: N must be 1 to 10000000\n");
        return 2;
    }
    webhooks *w = NULL;
    folio_err err = {{0}};
    if (webhooks_open_url(argv[1], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 0,
                          &w, &err) != 0) {
        fprintf(stderr, "webhooks-bench: %s\n", err.msg);
        return 1;
    }
    /* A contact as the log holds it: personal fields sealed. */
    cJSON *data = cJSON_Parse(
        "{\"contact_id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\",\"subject\":"
        "\"5f1e0c2a9b7d4e3f8a6b5c4d3e2f1a0b5f1e0c2a9b7d4e3f8a6b5c4d3e2f1a0b\","
        "\"name\":\"v1:bm9uY2Vub25jZW5vbmNlbm9uY2Vub25jZWNpcGhlcnRleHQ=\","
        "\"email\":\"v1:bm9uY2Vub25jZW5vbmNlbm9uY2Vub25jZWNpcGhlcnRleHQ=\","
        "\"message\":\"v1:bm9uY2Vub25jZW5vbmNlbm9uY2Vub25jZWNpcGhlcnRleHRjaXBo"
        "ZXJ0ZXh0Y2lwaGVydGV4dGNpcGhlcnRleHRjaXBoZXJ0ZXh0\",\"page\":\"/contact/\","
        "\"dedupe\":\"9b7d4e3f8a6b5c4d3e2f1a0b\"}");
    cJSON *meta = cJSON_Parse("{\"request_id\":\"6c9f0b841c226fa6ecdaa325\","
                              "\"client\":\"v1:Y2lwaGVydGV4dA==\"}");
    long long *t = malloc((size_t)n * sizeof *t);
    if (!data || !meta || !t) {
        fprintf(stderr, "webhooks-bench: out of memory\n");
        return 1;
    }
    char id[37];
    long failed = 0;
    long long t0 = util_mono_ns();
    for (long i = 0; i < n; i++) {
        snprintf(id, sizeof id, "0190a1b2-c3d4-7e5f-8a9b-%012ld", i);
        consumer_event ev = {.position = i + 1, .event_id = id,
                             .stream_id = "contact-9b7d4e3f8a6b5c4d",
                             .type = "ContactRequestSubmitted", .schema_version = 1,
                             .data = data, .metadata = meta,
                             .recorded_at = util_now_ms()};
        long long s = util_mono_ns();
        if (webhooks_handle(webhooks_ud(w, 0), &ev, &err) != CONSUMER_DONE &&
            failed++ == 0)
            fprintf(stderr, "webhooks-bench: %s\n", err.msg);
        t[i] = util_mono_ns() - s;
    }
    double secs = (double)(util_mono_ns() - t0) / 1e9;
    struct rusage ru;
    double cpu = getrusage(RUSAGE_SELF, &ru) == 0
                     ? (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec)
                     : 0;
    qsort(t, (size_t)n, sizeof *t, S_cmp);
    printf("webhooks: %ld deliveries in %.2f s: %.0f/s (target 5,000/s);"
           " median %.0f us, p99 %.0f us; CPU %.0f us a delivery; %ld not"
           " delivered\n", n, secs, (double)n / secs, (double)t[n / 2] / 1e3,
           (double)t[(size_t)((double)n * 0.99)] / 1e3, cpu / (double)n, failed);
    free(t);
    cJSON_Delete(data);
    cJSON_Delete(meta);
    webhooks_close(w);
    return failed ? 1 : 0;
}
