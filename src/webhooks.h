/* webhooks — the log's events POSTed to the owner's receivers, signed as
 * the Standard Webhooks specification says (standardwebhooks.com).
 *
 *   webhooks:
 *     - url: "https://hooks.example.org/folio"
 *       events: [ContactRequestSubmitted, UserRegistered]  # absent: all
 *       secret: "whsec_..."      # or secret_env: NAME (read at open)
 *       personal_data: false     # true: personal fields decrypted
 *
 * Each webhook is one reader of the log (a consumer, see consumers.h):
 * webhooks_handle is its consumer_handler_fn and webhooks_ud its ud. The
 * body is the event's envelope as `folio events --json` prints it
 * (domain_envelope_json), personal fields "[personal]" unless
 * personal_data is set ("[redacted]" once the person is forgotten); the
 * metadata's client address is always "[personal]".
 *
 * Headers: webhook-id (the event id, the same on every retry),
 * webhook-timestamp (unix seconds of this attempt), webhook-signature
 * "v1,<base64 HMAC-SHA256 of id.timestamp.body>". A secret "whsec_<base64>"
 * is base64-decoded into the HMAC key, as the specification's reference
 * libraries do; any other secret's bytes are the key as they are.
 *
 * Results: 2xx delivered; 408, 429, 5xx, connection errors and timeouts
 * (connect 5 s, whole request 15 s) are retried; any other status
 * (redirects are not followed) is refused for good. Messages name the
 * status and the URL's host, never anything from the event.
 *
 * A webhooks handle is used from one thread at a time: each webhook keeps
 * up to 4 connections to its receiver open (a curlpool), so a batch's
 * requests overlap. */
#ifndef FOLIO_WEBHOOKS_H
#define FOLIO_WEBHOOKS_H

#include <stddef.h>
#include "config.h"
#include "consumers.h"
#include "util.h"

typedef struct webhooks webhooks;

/* The `webhooks:` list of folio.yml (cfg->raw); an absent list gives none.
 * Errors name the entry ("webhooks[2] (https://...): ..."). */
int webhooks_open(const folio_config *cfg, webhooks **out, folio_err *err);
void webhooks_close(webhooks *w);
size_t webhooks_count(const webhooks *w);
/* The consumer name: "webhook:HOST", "webhook:HOST/PATH" when two share a
 * host, "-2", "-3"... after it when they share that too. */
const char *webhooks_name(const webhooks *w, size_t i);
/* The event types it wants, NULL-terminated; NULL: every type. */
const char *const *webhooks_types(const webhooks *w, size_t i);
void *webhooks_ud(webhooks *w, size_t i);
/* consumer_handler_fn: one delivery attempt. */
int webhooks_handle(void *ud, const consumer_event *ev, folio_err *err);
/* consumer_batch_fn: the attempts of a batch (up to webhooks_batch_max()),
 * over up to 4 kept-alive connections at once, each with its own result. */
void webhooks_handle_batch(void *ud, const consumer_event *evs, size_t n,
                           int *results, folio_err *errs);
size_t webhooks_batch_max(void);

/* ---- for `folio webhooks` and the tests ---- */

/* One webhook from a URL and a secret, outside folio.yml. */
int webhooks_open_url(const char *url, const char *secret, int personal_data,
                      webhooks **out, folio_err *err);
const char *webhooks_url(const webhooks *w, size_t i);
int webhooks_personal(const webhooks *w, size_t i);
/* The HTTP status of webhook i's last attempt (0: no answer). */
long webhooks_last_status(const webhooks *w, size_t i);

#define WEBHOOKS_KEY_MAX 256
/* The HMAC key of a secret (see above). -1 and a reason when a whsec_
 * secret is not base64 or the key is empty or too long. */
int webhooks_secret_key(const char *secret, unsigned char key[WEBHOOKS_KEY_MAX],
                        size_t *keylen, folio_err *err);
/* "v1,<base64>" of HMAC-SHA256(key, id "." timestamp "." body); out must
 * hold WEBHOOKS_SIG_MAX bytes. */
#define WEBHOOKS_SIG_MAX 64
void webhooks_sign(const unsigned char *key, size_t keylen, const char *id,
                   long long timestamp, const char *body, size_t blen,
                   char out[WEBHOOKS_SIG_MAX]);
/* The consumer_result of an attempt: curl_code is libcurl's CURLcode (0:
 * an answer came, status is its HTTP status). */
int webhooks_classify(int curl_code, long status);

#endif
