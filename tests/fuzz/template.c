/* libFuzzer harness: the Mustache compiler and renderer. The input is a
 * template; it is rendered against a fixed context, with itself as every
 * partial and parent (recursion must end in an error, not a crash). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char S_ctx[] =
    "{\"a\":\"<b>&\\\"'\",\"n\":1.5,\"z\":0,\"t\":true,\"f\":false,\"nil\":null,"
    "\"list\":[{\"a\":1},{\"a\":\"x\"},[],\"s\"],\"o\":{\"a\":{\"b\":{\"c\":\"deep\"}}},"
    "\"e\":[],\"s\":\"\",\"page\":{\"title\":\"T\",\"params\":{\"x\":[1,2,3]}}}";

static const tpl *S_self(void *ud, const char *name, folio_err *err)
{
    (void)name;
    (void)err;
    return ud;
}

static const cJSON *S_resolve(void *ud, const char *name)
{
    (void)name;
    return ud;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cJSON *ctx, *extra;
    if (!ctx) {
        ctx = cJSON_Parse(S_ctx);
        extra = cJSON_CreateString("resolved");
        if (!ctx || !extra)
            abort();
    }
    folio_err err;
    tpl *t = tpl_compile("fuzz", (const char *)data, size, &err);
    if (!t)
        return 0;
    /* a hundredth of a page's work limits: the code that enforces them
     * runs the same, and the fuzzer is not stuck for a second on each
     * input that hits them */
    tpl_render_opts o = {.loader = S_self, .loader_ud = t, .resolver = S_resolve,
                         .resolver_ud = extra, .text = (int)(size & 1),
                         .max_steps = 10000, .max_probes = 40000};
    buf out = BUF_INIT;
    (void)tpl_render(t, ctx, &o, &out, &err);
    buf_free(&out);
    tpl_free(t);
    return 0;
}
