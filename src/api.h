/* api — GET /api/events: the event log for programs.
 *
 *   GET /api/events?after=POS&limit=N&types=A,B&wait=S
 *   Authorization: Bearer folio_...
 *
 * answers {"events":[envelopes...],"next":POS,"head":HEAD}: the events
 * after POS (oldest first, at most limit, of the given types), each the
 * envelope `folio events --json` prints; next is the `after` to ask with
 * next time (every event up to it has been looked at), head the log's last
 * position. Parameters:
 *   after  position, default 0; past the head: no events and next = after
 *   limit  0 or absent: 100; more than 1000: 1000
 *   types  comma-separated registered event types; absent: all of them
 *   wait   0..60 seconds: with no event to give, answer as soon as one is
 *          committed, or after wait seconds with an empty list
 * A malformed value, a wait over 60, an unknown type or parameter is a 400
 * naming it. Keys (apikeys.h): none or not Bearer 401, unknown or revoked
 * 401 error="invalid_token", without events:read 403; personal fields are
 * decrypted only for personal:read. Each key has a token bucket
 * (folio.yml api: {rate: per minute, burst}, 600 and 60 by default);
 * beyond it 429 with Retry-After.
 *
 * fcgi owns the waiting (requests parked off the worker threads); this
 * module decides each answer. An api handle holds its own store connection:
 * use it from one thread. */
#ifndef FOLIO_API_H
#define FOLIO_API_H

#include <stddef.h>
#include "apikeys.h"
#include "config.h"
#include "util.h"

#define API_LIMIT_DEFAULT 100
#define API_LIMIT_MAX 1000
#define API_WAIT_MAX 60

typedef struct api api;

typedef struct api_query {
    long long after;
    size_t limit;
    int wait;          /* seconds */
    unsigned types;    /* bit i: events_all()[i]; 0: every type */
} api_query;

/* 0, or 400 with "FIELD: reason" in err and the field's name in *field. */
int api_parse_query(const char *qs, api_query *q, const char **field,
                    folio_err *err);

typedef struct api_req {
    api_query q;
    unsigned scopes;
    char key_name[APIKEYS_NAME_MAX + 1];
    /* the answer */
    int status;
    char headers[192];  /* extra header lines, each ending in \r\n */
    char *body;         /* JSON, malloc'd; api_req_done frees it */
    size_t blen;
} api_req;

int api_open(const folio_config *cfg, api **out, folio_err *err);
void api_close(api *a);
/* Checks the method, the key, its scope and rate, and the parameters.
 * 0: accepted, ask api_poll; else the answer is in r (4xx, 5xx). */
int api_start(api *a, const char *method, const char *query,
              const char *authorization, const char *request_id, api_req *r);
/* 1: the answer is in r (events, or none when final); 0: nothing yet. */
int api_poll(api *a, api_req *r, int final);
/* The log's last position (0: empty or unreadable). */
long long api_head(api *a);
void api_req_done(api_req *r);

#endif
