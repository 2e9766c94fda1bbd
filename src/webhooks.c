/* webhooks — signed deliveries of the log's events. See webhooks.h. */
#include "webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "curlpool.h"
#include "domain.h"
#include "events.h"
#include "store.h"

#define S_URL_MAX 2048
#define S_CONNECT_MS 5000L
#define S_TOTAL_MS 15000L
#define S_CONNS 4           /* connections to a receiver at once */
#define S_BATCH_MAX 64      /* events a batch: 16 a connection */

/* What one transfer of a slot holds until it ends. */
typedef struct S_slot {
    char *body;
    struct curl_slist *hdrs;
} S_slot;

typedef struct S_hook {
    char *url;
    char *host;
    char *path;
    char *name;
    char **types;              /* NULL-terminated, or NULL: all */
    int personal;
    unsigned char key[WEBHOOKS_KEY_MAX];
    size_t keylen;
    curlpool *pool;
    S_slot slots[S_CONNS];
    const consumer_event *evs; /* the batch under way */
    long last_status;
} S_hook;

struct webhooks {
    S_hook *hooks;
    size_t n;
    int curl_ok;
};

/* ---- signing ------------------------------------------------------------ */

int webhooks_secret_key(const char *secret, unsigned char key[WEBHOOKS_KEY_MAX],
                        size_t *keylen, folio_err *err)
{
    static const char prefix[] = "whsec_";
    size_t n = strlen(secret);
    *keylen = 0;
    if (strncmp(secret, prefix, sizeof prefix - 1) != 0) {
        if (n == 0 || n > WEBHOOKS_KEY_MAX)
            return err_set(err, "the secret must be 1 to %d bytes",
                           WEBHOOKS_KEY_MAX);
        memcpy(key, secret, n);
        *keylen = n;
        return 0;
    }
    const char *b64 = secret + sizeof prefix - 1;
    size_t len = strlen(b64);
    /* Padding is optional, as the reference libraries accept either. */
    while (len > 0 && b64[len - 1] == '=')
        len--;
    const char *end = NULL;
    if (sodium_base642bin(key, WEBHOOKS_KEY_MAX, b64, len, NULL, keylen, &end,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
        end != b64 + len)
        return err_set(err, "a whsec_ secret must be whsec_ and base64 (of at"
                       " most %d bytes)", WEBHOOKS_KEY_MAX);
    if (*keylen == 0)
        return err_set(err, "the secret is empty");
    return 0;
}

void webhooks_sign(const unsigned char *key, size_t keylen, const char *id,
                   long long timestamp, const char *body, size_t blen,
                   char out[WEBHOOKS_SIG_MAX])
{
    char ts[24];
    int tl = snprintf(ts, sizeof ts, ".%lld.", timestamp);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)id, strlen(id));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (size_t)tl);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, blen);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "v1,", 3);
    sodium_bin2base64(out + 3, WEBHOOKS_SIG_MAX - 3, mac, sizeof mac,
                      sodium_base64_VARIANT_ORIGINAL);
}

int webhooks_classify(int curl_code, long status)
{
    if (curl_code != CURLE_OK)
        return CONSUMER_RETRY;   /* no answer: connection, timeout, TLS */
    if (status >= 200 && status <= 299)
        return CONSUMER_DONE;
    if (status == 408 || status == 429 || (status >= 500 && status <= 599))
        return CONSUMER_RETRY;
    return CONSUMER_PERMANENT;
}

/* ---- the configuration -------------------------------------------------- */

static void S_hook_free(S_hook *h)
{
    free(h->url);
    free(h->host);
    free(h->path);
    free(h->name);
    for (size_t i = 0; h->types && h->types[i]; i++)
        free(h->types[i]);
    free(h->types);
    sodium_memzero(h->key, sizeof h->key);
    curlpool_close(h->pool);
}

/* Scheme http(s), a host, no credentials, nothing that is not printable
 * ASCII: the URL goes into a request line and into messages. */
static int S_parse_url(S_hook *h, const char *url, folio_err *err)
{
    size_t n = strlen(url);
    if (n == 0 || n > S_URL_MAX)
        return err_set(err, "url must be 1 to %d bytes", S_URL_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f)
            return err_set(err, "url must be printable ASCII without spaces");
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *path = NULL, *user = NULL;
    int rc = -1;
    if (!u)
        return err_set(err, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        err_set(err, "url is not a URL");
    } else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        err_set(err, "url must be http:// or https://");
    } else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        err_set(err, "url must not carry a user name or password");
    } else if (!(h->url = util_strdup(url)) || !(h->host = util_strdup(host)) ||
               !(h->path = util_strdup(path))) {
        err_set(err, "out of memory");
    } else {
        rc = 0;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(path);
    curl_free(user);
    curl_url_cleanup(u);
    return rc;
}

static int S_parse_types(S_hook *h, const cJSON *list, folio_err *err)
{
    if (!list || cJSON_IsNull(list))
        return 0;
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
        return err_set(err, "events must be a list of event types");
    size_t n = (size_t)cJSON_GetArraySize(list);
    if (!(h->types = calloc(n + 1, sizeof *h->types)))
        return err_set(err, "out of memory");
    size_t i = 0;
    for (const cJSON *it = list->child; it; it = it->next) {
        if (!cJSON_IsString(it) || !events_find(it->valuestring))
            return err_set(err, "events: unknown event type '%s' (there are"
                           " UserRegistered, ContactRequestSubmitted,"
                           " ContactRequestHandled, PersonForgotten)",
                           cJSON_IsString(it) ? it->valuestring : "?");
        if (!(h->types[i++] = util_strdup(it->valuestring)))
            return err_set(err, "out of memory");
    }
    return 0;
}

static int S_parse_secret(S_hook *h, const cJSON *secret, const cJSON *env,
                          folio_err *err)
{
    if ((secret != NULL) == (env != NULL))
        return err_set(err, "give secret or secret_env (one of them)");
    const char *text;
    if (secret) {
        if (!cJSON_IsString(secret))
            return err_set(err, "secret must be a string");
        text = secret->valuestring;
    } else {
        if (!cJSON_IsString(env))
            return err_set(err, "secret_env must be a variable name");
        text = getenv(env->valuestring);
        if (!text || !text[0])
            return err_set(err, "secret_env: $%s is not set", env->valuestring);
    }
    return webhooks_secret_key(text, h->key, &h->keylen, err);
}

static int S_parse_entry(S_hook *h, const cJSON *e, folio_err *err)
{
    static const char *const known[] = {"url", "events", "secret",
                                        "secret_env", "personal_data", NULL};
    if (!cJSON_IsObject(e))
        return err_set(err, "must be a mapping with url and secret");
    for (const cJSON *it = e->child; it; it = it->next) {
        size_t k = 0;
        while (known[k] && strcmp(known[k], it->string) != 0)
            k++;
        if (!known[k])
            return err_set(err, "unknown setting '%s' (there are url, events,"
                           " secret, secret_env, personal_data)", it->string);
    }
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(e, "url");
    if (!cJSON_IsString(url))
        return err_set(err, "url is required");
    const cJSON *pd = cJSON_GetObjectItemCaseSensitive(e, "personal_data");
    if (pd && !cJSON_IsBool(pd))
        return err_set(err, "personal_data must be true or false");
    h->personal = cJSON_IsTrue(pd);
    if (S_parse_url(h, url->valuestring, err) != 0 ||
        S_parse_types(h, cJSON_GetObjectItemCaseSensitive(e, "events"), err) != 0)
        return -1;
    return S_parse_secret(h, cJSON_GetObjectItemCaseSensitive(e, "secret"),
                          cJSON_GetObjectItemCaseSensitive(e, "secret_env"), err);
}

/* Names stay the same from one start to the next (they key the
 * consumers' checkpoints): host, then host + path, then a counter. */
static int S_name_all(webhooks *w, folio_err *err)
{
    for (size_t i = 0; i < w->n; i++) {
        int shared = 0;
        for (size_t j = 0; j < w->n; j++)
            shared |= j != i && !strcmp(w->hooks[i].host, w->hooks[j].host);
        buf b = BUF_INIT;
        if (buf_printf(&b, "webhook:%s%s", w->hooks[i].host,
                       shared ? w->hooks[i].path : "") != 0)
            return err_set(err, "out of memory");
        w->hooks[i].name = buf_detach(&b, NULL);
    }
    for (size_t i = 0; i < w->n; i++) {
        int same = 1;
        for (size_t j = 0; j < i; j++)
            same += !strcmp(w->hooks[i].host, w->hooks[j].host) &&
                    !strcmp(w->hooks[i].path, w->hooks[j].path);
        if (same == 1)
            continue;
        buf b = BUF_INIT;
        if (buf_printf(&b, "%s-%d", w->hooks[i].name, same) != 0)
            return err_set(err, "out of memory");
        free(w->hooks[i].name);
        w->hooks[i].name = buf_detach(&b, NULL);
    }
    return 0;
}

static size_t S_discard(char *ptr, size_t size, size_t n, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * n;
}

static int S_easy(S_hook *h, CURL *c)
{
    return curl_easy_setopt(c, CURLOPT_URL, h->url) != CURLE_OK ||
           curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, S_CONNECT_MS) != CURLE_OK ||
           curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, S_TOTAL_MS) != CURLE_OK ||
           curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
           curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, S_discard) != CURLE_OK ||
           curl_easy_setopt(c, CURLOPT_USERAGENT, "folio/" PACKAGE_VERSION) != CURLE_OK ||
#if LIBCURL_VERSION_NUM >= 0x075500
           curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
#endif
           curl_easy_setopt(c, CURLOPT_POST, 1L) != CURLE_OK ? -1 : 0;
}

/* S_CONNS kept-alive connections to the receiver. */
static int S_curl_setup(S_hook *h, folio_err *err)
{
    if (curlpool_open(S_CONNS, &h->pool, err) < 0)
        return -1;
    for (int i = 0; i < S_CONNS; i++)
        if (S_easy(h, curlpool_easy(h->pool, i)) < 0)
            return err_set(err, "libcurl refuses the request options");
    return 0;
}

static webhooks *S_new(size_t n, folio_err *err)
{
    webhooks *w = calloc(1, sizeof *w);
    if (!w || (n && !(w->hooks = calloc(n, sizeof *w->hooks)))) {
        free(w);
        err_set(err, "out of memory");
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(w->hooks);
        free(w);
        err_set(err, "libcurl cannot start");
        return NULL;
    }
    w->curl_ok = 1;
    return w;
}

int webhooks_open(const folio_config *cfg, webhooks **out, folio_err *err)
{
    *out = NULL;
    if (sodium_init() < 0)
        return err_set(err, "libsodium cannot start");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(cfg->raw, "webhooks");
    if (list && !cJSON_IsNull(list) && !cJSON_IsArray(list))
        return err_set(err, "webhooks must be a list of {url, secret, ...}");
    size_t n = cJSON_IsArray(list) ? (size_t)cJSON_GetArraySize(list) : 0;
    webhooks *w = S_new(n, err);
    if (!w)
        return -1;
    for (const cJSON *e = n ? list->child : NULL; e; e = e->next) {
        S_hook *h = &w->hooks[w->n++];
        if (S_parse_entry(h, e, err) != 0 || S_curl_setup(h, err) != 0) {
            size_t at = w->n;   /* folio.yml counts from 1 */
            webhooks_close(w);
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(e, "url");
            if (cJSON_IsString(u) && strlen(u->valuestring) <= 200)
                return err_prefix(err, "folio.yml: webhooks[%zu] (%s)", at,
                                  u->valuestring);
            return err_prefix(err, "folio.yml: webhooks[%zu]", at);
        }
    }
    if (S_name_all(w, err) != 0) {
        webhooks_close(w);
        return -1;
    }
    *out = w;
    return 0;
}

int webhooks_open_url(const char *url, const char *secret, int personal_data,
                      webhooks **out, folio_err *err)
{
    *out = NULL;
    if (sodium_init() < 0)
        return err_set(err, "libsodium cannot start");
    webhooks *w = S_new(1, err);
    if (!w)
        return -1;
    S_hook *h = &w->hooks[0];
    w->n = 1;
    h->personal = personal_data;
    if (S_parse_url(h, url, err) != 0 ||
        webhooks_secret_key(secret, h->key, &h->keylen, err) != 0 ||
        S_curl_setup(h, err) != 0 || S_name_all(w, err) != 0) {
        webhooks_close(w);
        return -1;
    }
    *out = w;
    return 0;
}

void webhooks_close(webhooks *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        S_hook_free(&w->hooks[i]);
    free(w->hooks);
    if (w->curl_ok)
        curl_global_cleanup();
    free(w);
}

size_t webhooks_count(const webhooks *w) { return w ? w->n : 0; }
const char *webhooks_name(const webhooks *w, size_t i) { return w->hooks[i].name; }
const char *webhooks_url(const webhooks *w, size_t i) { return w->hooks[i].url; }
int webhooks_personal(const webhooks *w, size_t i) { return w->hooks[i].personal; }
long webhooks_last_status(const webhooks *w, size_t i)
{
    return w->hooks[i].last_status;
}

const char *const *webhooks_types(const webhooks *w, size_t i)
{
    return (const char *const *)w->hooks[i].types;
}

void *webhooks_ud(webhooks *w, size_t i) { return &w->hooks[i]; }

/* ---- one delivery ------------------------------------------------------- */

static int S_wants(const S_hook *h, const char *type)
{
    if (!h->types)
        return 1;
    for (size_t i = 0; h->types[i]; i++)
        if (!strcmp(h->types[i], type))
            return 1;
    return 0;
}

/* The envelope, personal fields as this webhook may show them. */
static char *S_body(const S_hook *h, const consumer_event *ev)
{
    const cJSON *src = h->personal && ev->personal ? ev->personal : ev->data;
    cJSON *data = src ? cJSON_Duplicate(src, 1) : cJSON_CreateObject();
    cJSON *meta = ev->metadata ? cJSON_Duplicate(ev->metadata, 1)
                               : cJSON_CreateObject();
    if (!data || !meta ||
        domain_mask_personal(ev->type, h->personal && ev->personal ? NULL : data,
                             meta) != 0) {
        cJSON_Delete(data);
        cJSON_Delete(meta);
        return NULL;
    }
    store_event se = {.position = ev->position, .stream_id = ev->stream_id,
                      .stream_version = ev->stream_version, .type = ev->type,
                      .schema_version = ev->schema_version,
                      .recorded_at = ev->recorded_at};
    snprintf(se.event_id, sizeof se.event_id, "%s", ev->event_id);
    cJSON *env = domain_envelope_json(&se, data, meta);
    char *text = env ? cJSON_PrintUnformatted(env) : NULL;
    cJSON_Delete(env);
    return text;
}

/* The headers of one attempt. webhook-id must not hold a '.' or a line
 * break (it is part of the signed text and a header): event ids are UUIDs. */
static struct curl_slist *S_headers(const S_hook *h, const char *id,
                                    const char *body, size_t blen)
{
    long long ts = (long long)time(NULL);
    char sig[WEBHOOKS_SIG_MAX], line[WEBHOOKS_SIG_MAX + 64];
    webhooks_sign(h->key, h->keylen, id, ts, body, blen, sig);
    struct curl_slist *l = NULL, *t;
    const char *fixed[] = {"Content-Type: application/json", "Expect:", NULL};
    for (size_t i = 0; fixed[i]; i++) {
        if (!(t = curl_slist_append(l, fixed[i])))
            goto fail;
        l = t;
    }
    snprintf(line, sizeof line, "webhook-id: %s", id);
    if (!(t = curl_slist_append(l, line)))
        goto fail;
    l = t;
    snprintf(line, sizeof line, "webhook-timestamp: %lld", ts);
    if (!(t = curl_slist_append(l, line)))
        goto fail;
    l = t;
    snprintf(line, sizeof line, "webhook-signature: %s", sig);
    if (!(t = curl_slist_append(l, line)))
        goto fail;
    return t;
fail:
    curl_slist_free_all(l);
    return NULL;
}

static void S_slot_clear(S_slot *sl)
{
    curl_slist_free_all(sl->hdrs);
    free(sl->body);
    sl->hdrs = NULL;
    sl->body = NULL;
}

/* Event job of the batch onto slot's handle: signed now, posted when
 * curlpool runs it. */
static int S_start(void *ud, size_t job, int slot, CURL *c, folio_err *err)
{
    S_hook *h = ud;
    const consumer_event *ev = &h->evs[job];
    S_slot *sl = &h->slots[slot];
    if (!S_wants(h, ev->type))
        return CONSUMER_DONE;
    if (!ev->event_id || strspn(ev->event_id, "0123456789abcdefABCDEF-") !=
                             strlen(ev->event_id)) {
        err_set(err, "webhook %s: event %lld has no usable id", h->host,
                ev->position);
        return CONSUMER_PERMANENT;
    }
    size_t blen = 0;
    if ((sl->body = S_body(h, ev)))
        blen = strlen(sl->body);
    if (!sl->body || !(sl->hdrs = S_headers(h, ev->event_id, sl->body, blen)) ||
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl->hdrs) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, sl->body) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)blen) != CURLE_OK) {
        S_slot_clear(sl);
        err_set(err, "webhook %s: out of memory", h->host);
        return CONSUMER_RETRY;
    }
    return CURLPOOL_STARTED;
}

static int S_done(void *ud, size_t job, int slot, CURL *c, CURLcode rc,
                  folio_err *err)
{
    S_hook *h = ud;
    (void)job;
    long status = 0;
    if (rc == CURLE_OK)
        (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    /* The handle outlives these: it must not point at them. */
    (void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    (void)curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    S_slot_clear(&h->slots[slot]);
    h->last_status = status;
    int result = webhooks_classify((int)rc, status);
    if (result == CONSUMER_DONE)
        return result;
    if (rc != CURLE_OK)
        err_set(err, "webhook %s: %s", h->host, curl_easy_strerror(rc));
    else
        err_set(err, "webhook %s: HTTP %ld%s", h->host, status,
                result == CONSUMER_RETRY ? " (will retry)" : "");
    return result;
}

void webhooks_handle_batch(void *ud, const consumer_event *evs, size_t n,
                           int *results, folio_err *errs)
{
    S_hook *h = ud;
    h->evs = evs;
    curlpool_run(h->pool, n, S_start, S_done, h, results, errs);
    h->evs = NULL;
}

size_t webhooks_batch_max(void) { return S_BATCH_MAX; }

int webhooks_handle(void *ud, const consumer_event *ev, folio_err *err)
{
    S_hook *h = ud;
    int r;
    h->last_status = 0;
    webhooks_handle_batch(h, ev, 1, &r, err);
    if (r == CONSUMER_UNTRIED) {
        err_set(err, "webhook %s: folio is stopping", h->host);
        r = CONSUMER_RETRY;
    }
    return r;
}
