/* eventview — see eventview.h. */
#include "eventview.h"

#include <stdlib.h>

#include "events.h"

/* Opens one sealed string of obj in place: plaintext, or "[redacted]". */
static int S_unseal(vault *v, const char *subject, cJSON *obj,
                    const char *key, folio_err *err)
{
    cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(it))
        return 0;
    char *plain = NULL;
    int r = 1;
    if (v && subject)
        r = vault_open_sealed(v, subject, it->valuestring, &plain, err);
    if (r < 0)
        return err_prefix(err, "field %s", key);
    cJSON *s = cJSON_CreateString(r == 0 ? plain : "[redacted]");
    free(plain);
    if (!s || !cJSON_ReplaceItemInObjectCaseSensitive(obj, key, s)) {
        cJSON_Delete(s);
        return err_set(err, "out of memory");
    }
    return 0;
}

static int S_has_personal(const events_type *t)
{
    for (const events_field *f = t->fields; f && f->name; f++)
        if (f->personal)
            return 1;
    return 0;
}

static const char *S_subject(const cJSON *data)
{
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(data, "subject");
    return cJSON_IsString(sub) ? sub->valuestring : NULL;
}

static int S_open_personal(vault *v, const events_type *t, eventview *out,
                           folio_err *err)
{
    if (!S_has_personal(t))
        return 0;
    out->personal = cJSON_Duplicate(out->data, 1);
    if (!out->personal)
        return err_set(err, "out of memory");
    const char *subject = S_subject(out->data);
    for (const events_field *f = t->fields; f->name; f++)
        if (f->personal &&
            S_unseal(v, subject, out->personal, f->name, err) < 0)
            return -1;
    return 0;
}

int eventview_open(vault *v, const store_event *ev, int open_meta,
                   eventview *out, folio_err *err)
{
    out->data = cJSON_Parse(ev->data);
    out->metadata = cJSON_Parse(ev->metadata ? ev->metadata : "{}");
    out->personal = NULL;
    if (!out->data || !out->metadata) {
        eventview_free(out);
        return err_set(err, "event %lld: data is not JSON", ev->position);
    }
    const events_type *t = events_find(ev->type);
    if (!t)
        return 0;
    if ((ev->schema_version != t->version &&
         events_upcast(t, ev->schema_version, out->data, err) < 0) ||
        S_open_personal(v, t, out, err) < 0 ||
        (open_meta &&
         S_unseal(v, S_subject(out->data), out->metadata, "client", err) < 0)) {
        eventview_free(out);
        return err_prefix(err, "event %lld", ev->position);
    }
    return 0;
}

void eventview_free(eventview *view)
{
    cJSON_Delete(view->data);
    cJSON_Delete(view->personal);
    cJSON_Delete(view->metadata);
    view->data = view->personal = view->metadata = NULL;
}
