/* libFuzzer harness: visitor request bodies and headers (forms_decode on
 * both forms and both body types, Content-Type, Accept, Origin/Referer,
 * CONTENT_LENGTH). The first byte picks the form and the body type. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const forms_spec *spec = data[0] & 1 ? &forms_register : &forms_contact;
    enum forms_body type = data[0] & 2 ? FORMS_JSON : FORMS_URLENCODED;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    forms_values v;
    folio_err err;
    if (forms_decode(spec, type, body, len, &v, &err) == 0) {
        for (size_t i = 0; spec->fields[i].name; i++)
            (void)forms_get(&v, spec->fields[i].name);
        (void)forms_honeypot_filled(&v);
    }
    forms_values_free(&v);
    /* The same bytes as header values (NUL-terminated, as libfcgi gives). */
    char *s = malloc(len + 1);
    if (!s)
        return 0;
    memcpy(s, body, len);
    s[len] = '\0';
    enum forms_body kind;
    (void)forms_body_type(s, &kind);
    (void)forms_wants_json(s);
    (void)forms_content_length(s);
    (void)forms_same_origin(s, NULL, "https://example.org/");
    (void)forms_same_origin(NULL, s, "http://127.0.0.1:8080/");
    free(s);
    return 0;
}
