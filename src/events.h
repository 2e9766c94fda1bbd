/* events — the registry of event types: each type is declared once with
 * its fields (JSON type, required, length limits, format rule, personal or
 * not) and its schema versions with the upcasters between them.
 *
 * Types: UserRegistered (v2: v1 lacked "locale", upcast with "en"),
 * ContactRequestSubmitted, ContactRequestHandled, PersonForgotten;
 * the owner's: ContactRequestStatusChanged (new, handled, archived, spam),
 * MemberHiddenChanged, MemberRoleChanged (owner, member); the members'
 * own: MemberRenamed, MemberEmailChangeRequested, MemberEmailChanged.
 * The mailed links' events (MemberVerificationRequested,
 * PasswordResetRequested, MemberEmailChangeRequested) are at v2: a
 * "nonce" the link's token is derived from, where v1 held the token
 * itself (kept by the upcaster, so an old link still works). */
#ifndef FOLIO_EVENTS_H
#define FOLIO_EVENTS_H

#include <cjson/cJSON.h>
#include "util.h"

enum events_rule {
    EV_RULE_NONE = 0,
    EV_RULE_TEXT,      /* trimmed, non-empty, no control characters */
    EV_RULE_MULTILINE, /* as TEXT but newlines and tabs allowed */
    EV_RULE_EMAIL,     /* local@domain, one @, no spaces, dot in domain */
    EV_RULE_ID,        /* [A-Za-z0-9_-]+ */
    EV_RULE_PATH       /* a path on this site: "/" then printable ASCII
                        * without spaces, never "//" (another host) */
};

typedef struct events_field {
    const char *name;
    int json_type;     /* cJSON_String, cJSON_Number, cJSON_True (bool) */
    int required;
    size_t min_len, max_len;   /* characters (code points), strings only */
    enum events_rule rule;
    int personal;      /* encrypted at rest with the subject's key */
} events_field;

typedef struct events_type {
    const char *name;
    int version;                 /* current schema version */
    const events_field *fields;  /* current shape, ended by {NULL} */
} events_type;

const events_type *events_find(const char *type);
/* Every registered type, ended by NULL. */
const events_type *const *events_all(void);

/* Checks data (an object in the current shape) against the type. On a
 * violation returns -1 and names the field and rule in err->msg as
 * "FIELD: reason", and *field (may be NULL) points at the field name (in
 * the registry, or in data for a field the type does not declare). */
int events_validate(const events_type *t, const cJSON *data,
                    const char **field, folio_err *err);

/* Lifts data written at schema version `from` to the current version, in
 * place (a chain of upcasters). */
int events_upcast(const events_type *t, int from, cJSON *data, folio_err *err);

/* One step of a type's upcaster chain: lifts data from from_version to
 * from_version + 1 in place. */
typedef int (*events_upcast_fn)(cJSON *data, folio_err *err);
typedef struct events_upcaster {
    const char *type;
    int from_version;
    events_upcast_fn fn;
} events_upcaster;
/* The upcaster table, ended by {NULL}: every type at version N > 1 has one
 * step for each of 1 .. N-1. */
const events_upcaster *events_upcasters(void);

#endif
