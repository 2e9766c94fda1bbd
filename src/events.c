/* events — the registry of event types. See events.h.
 *
 * Adding a version: bump the type's version, change its fields to the new
 * shape, and add an upcaster from the old version to S_upcasters (the
 * tests insist on a complete chain and a sample of each old shape). */
#include "events.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- the types -------------------------------------------------------- */
#define S_END {NULL, 0, 0, 0, 0, EV_RULE_NONE, 0}

static const events_field S_user_registered[] = {
    {"user_id", cJSON_String, 1, 1, 64, EV_RULE_ID, 0},
    {"subject", cJSON_String, 1, 1, 128, EV_RULE_ID, 0},
    {"email", cJSON_String, 1, 1, 254, EV_RULE_EMAIL, 1},
    {"display_name", cJSON_String, 1, 1, 80, EV_RULE_TEXT, 1},
    {"locale", cJSON_String, 1, 1, 16, EV_RULE_TEXT, 0}, /* since v2 */
    {"has_password", cJSON_True, 0, 0, 0, EV_RULE_NONE, 0},
    /* optional, for members imported by the owner: ms since the epoch */
    {"joined_at", cJSON_Number, 0, 0, 0, EV_RULE_NONE, 0},
    /* A sign-up waiting for its address to be verified (MemberVerified);
     * absent in the events of owners' registrations and of old logs. */
    {"pending", cJSON_True, 0, 0, 0, EV_RULE_NONE, 0},
    S_END,
};

/* ---- members' accounts ----
 * A mailed link's token (verification, reset, new address) is never in
 * the log: since v2 the event carries a random nonce, and the token is a
 * keyed hash of it under a key derived from the site's master key (see
 * accounts_token_of_nonce), made by the domain, which keeps only the
 * token's hash, and again by the mail consumer. v1 carried the raw token
 * itself, a personal field shredded with the person; an old event keeps
 * it (the upcaster leaves it), and its link stays what was mailed. */
#define S_LINK_FIELDS \
    {"nonce", cJSON_String, 0, 1, 64, EV_RULE_ID, 0}, \
    {"token", cJSON_String, 0, 1, 64, EV_RULE_ID, 1},

/* The verification link expires (expires_at, ms) after 24 h. */
static const events_field S_verification_requested[] = {
    {"user_id", cJSON_String, 1, 1, 64, EV_RULE_ID, 0},
    {"subject", cJSON_String, 1, 1, 128, EV_RULE_ID, 0},
    {"email", cJSON_String, 1, 1, 254, EV_RULE_EMAIL, 1},
    {"display_name", cJSON_String, 1, 1, 80, EV_RULE_TEXT, 1},
    S_LINK_FIELDS
    {"expires_at", cJSON_Number, 1, 0, 0, EV_RULE_NONE, 0},
    S_END,
};

/* The address is verified: the member joins the public list. */
static const events_field S_member_verified[] = {
    {"user_id", cJSON_String, 1, 1, 64, EV_RULE_ID, 0},
    {"subject", cJSON_String, 1, 1, 128, EV_RULE_ID, 0},
    {"email", cJSON_String, 1, 1, 254, EV_RULE_EMAIL, 1},
    {"display_name", cJSON_String, 1, 1, 80, EV_RULE_TEXT, 1},
    {"locale", cJSON_String, 1, 1, 16, EV_RULE_TEXT, 0},
    {"has_password", cJSON_True, 0, 0, 0, EV_RULE_NONE, 0},
    S_END,
};

/* Someone signed up with a member's address: the member is told, and
 * the visitor's answer stays the same as for a new address. */
static const events_field S_signup_repeated[] = {
    {"user_id", cJSON_String, 1, 1, 64, EV_RULE_ID, 0},
    {"subject", cJSON_String, 1, 1, 128, EV_RULE_ID, 0},
    {"email", cJSON_String, 1, 1, 254, EV_RULE_EMAIL, 1},
    S_END,
};

/* A member asked for a password reset: the link (as the verification's)
 * expires after an hour. */
static const events_field S_reset_requested[] = {
    {"user_id", cJSON_String, 1, 1, 64, EV_RULE_ID, 0},
    {"subject", cJSON_String, 1, 1, 128, EV_RULE_ID, 0},
    {"email", cJSON_String, 1, 1, 254, EV_RULE_EMAIL, 1},
    S_LINK_FIELDS
    {"expires_at", cJSON_Number, 1, 0, 0, EV_RULE_NONE, 0},
    S_END,
};

/* The password changed (the hash lives in credentials, never in the
 * log); every session of the member ended with it. */
static const events_field S_password_changed[] = {
    {"user_id", cJSON_String, 1, 1, 64, EV_RULE_ID, 0},
    {"subject", cJSON_String, 1, 1, 128, EV_RULE_ID, 0},
    /* "reset" (a mailed link), "change" (the account page) */
    {"how", cJSON_String, 1, 1, 16, EV_RULE_ID, 0},
    S_END,
};

static const events_field S_contact_submitted[] = {
    {"contact_id", cJSON_String, 1, 1, 64, EV_RULE_ID, 0},
    {"subject", cJSON_String, 1, 1, 128, EV_RULE_ID, 0},
    {"name", cJSON_String, 1, 1, 100, EV_RULE_TEXT, 1},
    {"email", cJSON_String, 1, 1, 254, EV_RULE_EMAIL, 1},
    /* The visitor's subject line; "subject" is the vault's. */
    {"title", cJSON_String, 0, 1, 150, EV_RULE_TEXT, 1},
    {"message", cJSON_String, 1, 1, 5000, EV_RULE_MULTILINE, 1},
    {"page", cJSON_String, 0, 1, 200, EV_RULE_PATH, 0},
    /* A keyed hash of address + message: recognises a resubmission. */
    {"dedupe", cJSON_String, 1, 1, 128, EV_RULE_ID, 0},
    S_END,
};

static const events_field S_contact_handled[] = {
    {"contact_id", cJSON_String, 1, 1, 64, EV_RULE_ID, 0},
    S_END,
};

static const events_field S_person_forgotten[] = {
    {"subject", cJSON_String, 1, 1, 128, EV_RULE_ID, 0},
    S_END,
};

/* The owner's decisions: an inbox request's status, a member hidden from
 * the public pages (the account stays), a member's role. The domain
 * checks the values against their lists. */
static const events_field S_contact_status[] = {
    {"contact_id", cJSON_String, 1, 1, 64, EV_RULE_ID, 0},
    {"status", cJSON_String, 1, 1, 16, EV_RULE_ID, 0},
    S_END,
};

static const events_field S_member_hidden[] = {
    {"user_id", cJSON_String, 1, 1, 64, EV_RULE_ID, 0},
    {"hidden", cJSON_True, 1, 0, 0, EV_RULE_NONE, 0},
    S_END,
};

static const events_field S_member_role[] = {
    {"user_id", cJSON_String, 1, 1, 64, EV_RULE_ID, 0},
    {"role", cJSON_String, 1, 1, 16, EV_RULE_ID, 0},
    S_END,
};

/* ---- members' self-service (/account/) ----
 * A member chose another public name: the community page that shows them
 * follows. The name is personal, like the sign-up's. */
static const events_field S_member_renamed[] = {
    {"user_id", cJSON_String, 1, 1, 64, EV_RULE_ID, 0},
    {"subject", cJSON_String, 1, 1, 128, EV_RULE_ID, 0},
    {"display_name", cJSON_String, 1, 1, 80, EV_RULE_TEXT, 1},
    S_END,
};

/* A member asked to use another address: the link mailed to it (as the
 * sign-up's, 24 h) makes the change (MemberEmailChanged),
 * and the old address is told. */
static const events_field S_email_change_requested[] = {
    {"user_id", cJSON_String, 1, 1, 64, EV_RULE_ID, 0},
    {"subject", cJSON_String, 1, 1, 128, EV_RULE_ID, 0},
    {"email", cJSON_String, 1, 1, 254, EV_RULE_EMAIL, 1},
    {"display_name", cJSON_String, 0, 1, 80, EV_RULE_TEXT, 1},
    S_LINK_FIELDS
    {"expires_at", cJSON_Number, 1, 0, 0, EV_RULE_NONE, 0},
    S_END,
};

static const events_field S_email_changed[] = {
    {"user_id", cJSON_String, 1, 1, 64, EV_RULE_ID, 0},
    {"subject", cJSON_String, 1, 1, 128, EV_RULE_ID, 0},
    {"email", cJSON_String, 1, 1, 254, EV_RULE_EMAIL, 1},
    {"old_email", cJSON_String, 1, 1, 254, EV_RULE_EMAIL, 1},
    S_END,
};

static const events_type S_types[] = {
    {"UserRegistered", 2, S_user_registered},
    {"ContactRequestSubmitted", 1, S_contact_submitted},
    {"ContactRequestHandled", 1, S_contact_handled},
    {"PersonForgotten", 1, S_person_forgotten},
    {"MemberVerificationRequested", 2, S_verification_requested},
    {"MemberVerified", 1, S_member_verified},
    {"MemberSignupRepeated", 1, S_signup_repeated},
    {"PasswordResetRequested", 2, S_reset_requested},
    {"MemberPasswordChanged", 1, S_password_changed},
    {"ContactRequestStatusChanged", 1, S_contact_status},
    {"MemberHiddenChanged", 1, S_member_hidden},
    {"MemberRoleChanged", 1, S_member_role},
    {"MemberRenamed", 1, S_member_renamed},
    {"MemberEmailChangeRequested", 2, S_email_change_requested},
    {"MemberEmailChanged", 1, S_email_changed},
};
#define S_NTYPES (sizeof S_types / sizeof S_types[0])

static const events_type *const S_all[] = {
    &S_types[0], &S_types[1], &S_types[2], &S_types[3],
    &S_types[4], &S_types[5], &S_types[6], &S_types[7], &S_types[8],
    &S_types[9], &S_types[10], &S_types[11],
    &S_types[12], &S_types[13], &S_types[14], NULL,
};
_Static_assert(sizeof S_all / sizeof S_all[0] == S_NTYPES + 1,
               "S_all lists every type");

const events_type *events_find(const char *type)
{
    if (!type)
        return NULL;
    for (size_t i = 0; i < S_NTYPES; i++)
        if (strcmp(S_types[i].name, type) == 0)
            return &S_types[i];
    return NULL;
}

const events_type *const *events_all(void) { return S_all; }

/* ---- upcasters -------------------------------------------------------- */

/* UserRegistered v1 had no locale: every v1 member signed up in English. */
static int S_user_registered_1(cJSON *data, folio_err *err)
{
    if (cJSON_GetObjectItemCaseSensitive(data, "locale"))
        return 0;
    if (!cJSON_AddStringToObject(data, "locale", "en"))
        return err_set(err, "UserRegistered v1: out of memory");
    return 0;
}

/* The link events' v1 carried the raw token where v2 has a nonce: the
 * token stays (optional since v2), so an old link still works and is
 * shredded with its person as before. */
static int S_link_token_1(cJSON *data, folio_err *err)
{
    (void)data;
    (void)err;
    return 0;
}

static const events_upcaster S_upcasters[] = {
    {"UserRegistered", 1, S_user_registered_1},
    {"MemberVerificationRequested", 1, S_link_token_1},
    {"PasswordResetRequested", 1, S_link_token_1},
    {"MemberEmailChangeRequested", 1, S_link_token_1},
    {NULL, 0, NULL},
};

const events_upcaster *events_upcasters(void) { return S_upcasters; }

int events_upcast(const events_type *t, int from, cJSON *data, folio_err *err)
{
    if (from == t->version)
        return 0;
    if (from > t->version)
        return err_set(err, "%s v%d is newer than this folio knows (v%d): "
                       "upgrade folio", t->name, from, t->version);
    if (from < 1)
        return err_set(err, "%s: there is no schema version %d", t->name,
                       from);
    if (!cJSON_IsObject(data))
        return err_set(err, "%s v%d: data is not a JSON object", t->name,
                       from);
    for (int v = from; v < t->version; v++) {
        const events_upcaster *u = S_upcasters;
        while (u->type && (u->from_version != v || strcmp(u->type, t->name)))
            u++;
        if (!u->type)
            return err_set(err, "%s: no upcaster from v%d", t->name, v);
        if (u->fn(data, err) != 0)
            return -1;
    }
    return 0;
}

/* ---- validation ------------------------------------------------------- */

/* Decodes the code point at s (valid UTF-8 already checked); *n its
 * length in bytes. */
static unsigned S_cp(const unsigned char *s, size_t *n)
{
    if (s[0] < 0x80) {
        *n = 1;
        return s[0];
    }
    if (s[0] < 0xe0) {
        *n = 2;
        return ((s[0] & 0x1fu) << 6) | (s[1] & 0x3fu);
    }
    if (s[0] < 0xf0) {
        *n = 3;
        return ((s[0] & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
    }
    *n = 4;
    return ((s[0] & 0x07u) << 18) | ((s[1] & 0x3fu) << 12) |
           ((s[2] & 0x3fu) << 6) | (s[3] & 0x3fu);
}

/* Control characters, and the invisible ones that change how the text
 * around them reads: line/paragraph separators and bidi overrides. */
static int S_is_control(unsigned c, int multiline)
{
    if (multiline && (c == '\n' || c == '\r' || c == '\t'))
        return 0;
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 ||
           c == 0x2029 || (c >= 0x202a && c <= 0x202e) ||
           (c >= 0x2066 && c <= 0x2069);
}

static int S_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static const char *S_check_text(const char *s, size_t len, int multiline)
{
    if (len == 0)
        return "must not be empty";
    if (S_is_space((unsigned char)s[0]) || S_is_space((unsigned char)s[len - 1]))
        return "must not begin or end with white space";
    for (size_t i = 0; i < len;) {
        size_t n;
        unsigned c = S_cp((const unsigned char *)s + i, &n);
        if (S_is_control(c, multiline))
            return "must not contain control characters";
        i += n;
    }
    return NULL;
}

static const char *S_check_email(const char *s, size_t len)
{
    static const char bad[] = "must be a valid e-mail address";
    const char *at = memchr(s, '@', len);
    if (!at || memchr(at + 1, '@', len - (size_t)(at - s) - 1))
        return bad;
    size_t local = (size_t)(at - s), dlen = len - local - 1;
    const char *d = at + 1;
    if (local == 0 || local > 64 || dlen < 3)
        return bad;
    for (size_t i = 0; i < len;) {
        size_t n;
        unsigned c = S_cp((const unsigned char *)s + i, &n);
        if (c <= ' ' || S_is_control(c, 0) ||
            (c < 0x80 && strchr("<>()[],;:\"\\", (int)c)))
            return bad;
        i += n;
    }
    if (!memchr(d, '.', dlen) || d[0] == '.' || d[0] == '-' ||
        d[dlen - 1] == '.' || d[dlen - 1] == '-')
        return bad;
    for (size_t i = 0; i < dlen; i++) {
        unsigned char c = (unsigned char)d[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '-' || c == '.' || c >= 0x80;
        if (!ok || (c == '.' && (d[i + 1] == '.' || d[i + 1] == '-' ||
                                 d[i - 1] == '-')))
            return bad;
    }
    if (s[0] == '.' || s[local - 1] == '.')
        return bad;
    return NULL;
}

static const char *S_check_id(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return "must contain only letters, digits, '-' and '_'";
    }
    return NULL;
}

static const char *S_check_path(const char *s, size_t len)
{
    static const char bad[] = "must be a path on this site, starting with /";
    if (len == 0 || s[0] != '/' || (len > 1 && (s[1] == '/' || s[1] == '\\')))
        return bad;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '\\')
            return bad;
    }
    return NULL;
}

/* The reason a string breaks the field's rule, or NULL. reason holds a
 * formatted reason when one is needed. */
static const char *S_check_string(const events_field *f, const char *s,
                                  char *reason, size_t rlen)
{
    size_t len = strlen(s);
    if (!util_utf8_valid(s, len))
        return "must be valid UTF-8";
    /* Characters, as the form's maxlength counts them: a limit in bytes
     * would refuse a Chinese name the form let the visitor type. */
    size_t chars = util_utf8_chars(s, len);
    if (chars > f->max_len && f->max_len) {
        snprintf(reason, rlen, "must be at most %zu characters", f->max_len);
        return reason;
    }
    if (chars < f->min_len) {
        if (len == 0)
            return "must not be empty";
        snprintf(reason, rlen, "must be at least %zu characters", f->min_len);
        return reason;
    }
    switch (f->rule) {
    case EV_RULE_NONE: return NULL;
    case EV_RULE_TEXT: return S_check_text(s, len, 0);
    case EV_RULE_MULTILINE: return S_check_text(s, len, 1);
    case EV_RULE_EMAIL: return S_check_email(s, len);
    case EV_RULE_ID: return len ? S_check_id(s, len) : "must not be empty";
    case EV_RULE_PATH: return S_check_path(s, len);
    }
    return NULL;
}

static const char *S_check_value(const events_field *f, const cJSON *item,
                                 char *reason, size_t rlen)
{
    switch (f->json_type) {
    case cJSON_String:
        if (!cJSON_IsString(item) || !item->valuestring)
            return "must be a string";
        return S_check_string(f, item->valuestring, reason, rlen);
    case cJSON_Number:
        if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
            return "must be a number";
        return NULL;
    case cJSON_True:
        return cJSON_IsBool(item) ? NULL : "must be true or false";
    }
    return "has a type this folio does not know";
}

static int S_violation(const char *name, const char *reason,
                       const char **field, folio_err *err)
{
    if (field)
        *field = name;
    return err_set(err, "%s: %s", name, reason);
}

int events_validate(const events_type *t, const cJSON *data,
                    const char **field, folio_err *err)
{
    if (field)
        *field = NULL;
    if (!cJSON_IsObject(data))
        return S_violation("data", "must be a JSON object", field, err);
    char reason[96];
    for (const events_field *f = t->fields; f->name; f++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(data, f->name);
        if (!item || cJSON_IsNull(item)) {
            if (f->required)
                return S_violation(f->name, "is required", field, err);
            continue;
        }
        const char *why = S_check_value(f, item, reason, sizeof reason);
        if (why)
            return S_violation(f->name, why, field, err);
    }
    /* Anything not declared is refused: hostile input gets no free-form
     * corner of the log, and a typo in a field name does not slip by. */
    const cJSON *item;
    cJSON_ArrayForEach(item, data) {
        const events_field *f = t->fields;
        while (f->name && (!item->string || strcmp(f->name, item->string)))
            f++;
        if (!f->name) {
            snprintf(reason, sizeof reason, "is not a field of %s", t->name);
            return S_violation(item->string ? item->string : "?", reason,
                               field, err);
        }
        /* A duplicated key: cJSON keeps both, the lookup sees the first. */
        const cJSON *first = cJSON_GetObjectItemCaseSensitive(data, f->name);
        if (first != item)
            return S_violation(f->name, "is given twice", field, err);
    }
    return 0;
}
