/* libFuzzer harness: a content file — YAML front matter (libyaml, then
 * folio's reading of title, date, weight, tags, aliases...) and its
 * Markdown body (cmark into folio's arena). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "content.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    content_page p;
    folio_err err;
    if (content_parse("fuzz/page.md", src, size, &p, &err) == 0) {
        size_t off = p.body_offset <= size ? p.body_offset : size;
        size_t outlen = 0;
        int words = 0;
        char *summary = NULL;
        char *html = content_render(src + off, size - off, &outlen, &words, &summary);
        free(html);
        free(summary);
        (void)content_reading_minutes(words);
        content_page_free(&p);
    }
    return 0;
}
