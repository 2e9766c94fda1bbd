/* forms — turning a visitor's request body into named field values, and
 * the request-level rules around it. All of it is hostile input.
 *
 * A form is a table of fields (name, limit in characters, multiline);
 * decoding refuses, naming the problem: malformed percent-encoding, invalid
 * UTF-8, NUL or other control characters (newline and tab only where the
 * field allows them), a field given twice, a field the form does not have,
 * a JSON body that is not an object of strings. None of those can come from
 * the form in a browser. A value over its limit can (a pasted text), so it
 * is not refused here: the field rules of the domain (limits, e-mail shape,
 * required, ...) come after, in domain_check_*, and answer 422 with the
 * form. The limits here are the ones the templates' maxlength attributes
 * and the event registry carry (a unit test holds the three together). */
#ifndef FOLIO_FORMS_H
#define FOLIO_FORMS_H

#include <stddef.h>
#include "util.h"

enum forms_body { FORMS_URLENCODED, FORMS_JSON };

typedef struct forms_field {
    const char *name;
    size_t max_len;      /* characters (code points) after decoding */
    int multiline;       /* newline and tab allowed */
} forms_field;

#define FORMS_MAX_FIELDS 8

typedef struct forms_spec {
    const char *name;               /* "contact" */
    const forms_field *fields;      /* ended by {NULL} */
    const char *honeypot;           /* a field that must stay empty, or NULL */
} forms_spec;

extern const forms_spec forms_contact;   /* name email subject message page website(honeypot) */
extern const forms_spec forms_register;  /* email display_name password */

typedef struct forms_values {
    const forms_spec *spec;
    char *value[FORMS_MAX_FIELDS];  /* by the spec's field order; NULL if absent */
    size_t len[FORMS_MAX_FIELDS];
} forms_values;

/* The largest body a legal submission of the form can take: every field at
 * its limit, each character 4 bytes of UTF-8 percent-encoded (x3) or a JSON
 * surrogate pair (\uXXXX\uXXXX, 12 bytes). forms_body_limit is the largest
 * over both forms: the default of folio.yml forms.body_limit. */
size_t forms_body_max(const forms_spec *spec);
size_t forms_body_limit(void);

/* Content-Type to body kind ("application/x-www-form-urlencoded" or
 * "application/json", parameters such as charset=utf-8 allowed). -1 for
 * anything else (answer 415). */
int forms_body_type(const char *content_type, enum forms_body *out);

/* Decodes body into v. -1 with err->msg naming the problem for the
 * visitor ("field 'email' given twice") — answer 400.
 * urlencoded: empty pairs ("a=1&&b=2") are skipped, a name without '='
 * is an empty value, an empty body is a form with no fields. JSON: an
 * empty body is refused. Multiline values have \r\n and \r turned into
 * \n. v is always initialised: free it with forms_values_free either way
 * (on failure it holds no values). */
int forms_decode(const forms_spec *spec, enum forms_body type,
                 const char *body, size_t len, forms_values *v,
                 folio_err *err);
/* The value of a field, or NULL when absent. */
const char *forms_get(const forms_values *v, const char *name);
/* 1 when the honeypot field is present and non-empty. */
int forms_honeypot_filled(const forms_values *v);
void forms_values_free(forms_values *v);

/* 1 when the client prefers JSON (Accept names application/json before,
 * or without, text/html). */
int forms_wants_json(const char *accept);

/* Cross-site check: Origin, or lacking it Referer, must be the origin of
 * base_url (scheme, host and port). Both absent: refused. 1 = same site. */
int forms_same_origin(const char *origin, const char *referer,
                      const char *base_url);

/* CONTENT_LENGTH as nginx passes it: digits only, no sign, no overflow.
 * -1 when missing or malformed. */
long long forms_content_length(const char *s);

#endif
