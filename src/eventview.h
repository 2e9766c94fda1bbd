/* eventview — an event as its readers see it: data upcast to the current
 * schema, and the personal fields opened for the owner ("[redacted]" once
 * the person is forgotten). One decoding for `folio events` and for the
 * consumers (mail, webhooks), so the two can never disagree. */
#ifndef FOLIO_EVENTVIEW_H
#define FOLIO_EVENTVIEW_H

#include <cjson/cJSON.h>
#include "store.h"
#include "util.h"
#include "vault.h"

typedef struct eventview {
    cJSON *data;      /* upcast; personal fields sealed as stored */
    cJSON *personal;  /* a copy of data with the personal fields opened;
                       * NULL when the type declares none */
    cJSON *metadata;  /* as stored, or with "client" opened (open_meta) */
} eventview;

/* Decodes ev. v may be NULL (personal fields then read "[redacted]").
 * open_meta also opens metadata's sealed client address. On error the
 * message names the position and *out holds nothing. */
int eventview_open(vault *v, const store_event *ev, int open_meta,
                   eventview *out, folio_err *err);
void eventview_free(eventview *view);

#endif
