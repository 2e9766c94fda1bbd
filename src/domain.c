/* domain — the commands visitors and the owner run (see domain.h). */
#include "domain.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "accounts.h"
#include "events.h"
#include "eventview.h"
#include "log.h"
#include "projections.h"
#include "store.h"
#include "vault.h"

#define S_EMAIL_MAX 1024
#define S_NOTE_PATH 4096
#define S_EMAIL_CHARS 254 /* the registry's limit; more cannot be normalised */

struct domain {
    const folio_config *cfg;
    store *st;
    vault *v;
    projections *p;
    int as_of;         /* a read-only copy of an earlier state */
    /* derives the mailed links' tokens from their events' nonces */
    unsigned char link_key[VAULT_LINK_KEY_LEN];
    int group;         /* inside domain_begin .. domain_commit */
    int scrub_pending; /* a forget committed with the group: scrub after */
    unsigned cmd_changed;
    long long (*now_ms)(void); /* the duplicate window's clock */
    cJSON *community, *stats;
    /* SAVEPOINT domain_cmd, RELEASE, ROLLBACK TO: prepared once */
    sqlite3_stmt *sp[3];
};

enum { S_SP_BEGIN, S_SP_RELEASE, S_SP_UNDO };
static const char *const S_sp_sql[3] = {
    "SAVEPOINT domain_cmd", "RELEASE domain_cmd", "ROLLBACK TO domain_cmd"};

static const char *const S_data_names[] = {"community", "stats", "community.members",
                                          NULL};

const char *const *domain_data_names(void) { return S_data_names; }

/* ---- results and field rules ------------------------------------------ */

static void S_res_init(domain_result *res)
{
    memset(res, 0, sizeof *res);
    res->rc = DOMAIN_OK;
}

/* Copies src into dst, cut at a character boundary when it does not fit. */
static void S_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void S_res_error(domain_result *res, const char *field,
                        const char *message)
{
    res->rc = DOMAIN_INVALID;
    if (res->nerrors >= DOMAIN_MAX_ERRORS)
        return;
    domain_field_error *e = &res->errors[res->nerrors++];
    S_copy(e->field, sizeof e->field, field);
    S_copy(e->message, sizeof e->message, message);
}

static void S_res_changed(domain_result *res, unsigned bits)
{
    res->nchanged = 0;
    if (bits & PROJ_MEMBERS) {
        res->changed[res->nchanged++] = "community";
        res->changed[res->nchanged++] = "community.members";
    }
    if (bits & PROJ_STATS)
        res->changed[res->nchanged++] = "stats";
}

/* Frees a copy of something a visitor typed, wiped first. */
static void S_wipe_free(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

/* A copy of s without leading and trailing white space; NULL stays NULL. */
static char *S_trim(const char *s)
{
    if (!s)
        return NULL;
    const char *e = s + strlen(s);
    while (*s && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    return util_strndup(s, (size_t)(e - s));
}

static const events_field *S_event_field(const events_type *t,
                                         const char *name)
{
    for (const events_field *f = t->fields; f && f->name; f++)
        if (!strcmp(f->name, name))
            return f;
    return NULL;
}

/* Checks one value against the rule the event type declares for `field`,
 * reporting under the form's name for it. The registry's own validator
 * does the work (on a one-field type), so forms, CLI and the append agree
 * on every limit and message. value NULL or "": absent. */
static void S_check_field(domain_result *res, const events_type *t,
                          const char *form_name, const char *field,
                          const char *value)
{
    const events_field *f = S_event_field(t, field);
    if (!f)
        return;
    events_field one[2] = {*f, {0}};
    events_type single = {t->name, t->version, one};
    cJSON *obj = cJSON_CreateObject();
    if (!obj) {
        S_res_error(res, form_name, "could not be checked");
        return;
    }
    if (value && *value)
        cJSON_AddStringToObject(obj, field, value);
    folio_err err = {{0}};
    if (events_validate(&single, obj, NULL, &err) < 0) {
        const char *msg = err.msg;
        size_t n = strlen(field);
        if (!strncmp(msg, field, n) && !strncmp(msg + n, ": ", 2))
            msg += n + 2;
        S_res_error(res, form_name, msg);
    }
    cJSON_Delete(obj);
}

static void S_check_password(domain_result *res, const char *pw)
{
    if (!pw)
        return;
    size_t n = util_utf8_chars(pw, strlen(pw));
    if (n < DOMAIN_PASSWORD_MIN)
        S_res_error(res, "password", "must be at least 10 characters long");
    else if (n > DOMAIN_PASSWORD_MAX)
        S_res_error(res, "password", "must be at most 1024 characters long");
}

/* The request with its text trimmed and its address normalised. */
typedef struct S_reg {
    char email[S_EMAIL_MAX];
    char *name;
} S_reg;

static void S_norm_email(domain_result *res, const events_type *t,
                         const char *in, char out[S_EMAIL_MAX])
{
    out[0] = '\0';
    if (in && vault_normalise_email(in, out, S_EMAIL_MAX) < 0) {
        /* Too long for the buffer is too long for the field: say so. */
        if (util_utf8_chars(in, strlen(in)) > S_EMAIL_CHARS)
            S_check_field(res, t, "email", "email", in);
        else
            S_res_error(res, "email", "must be a valid e-mail address");
        return;
    }
    S_check_field(res, t, "email", "email", out);
}

static int S_reg_prepare(const domain_register_req *req, domain_result *res,
                         S_reg *r)
{
    const events_type *t = events_find("UserRegistered");
    r->name = S_trim(req->display_name);
    if (!t || (req->display_name && !r->name)) {
        S_res_error(res, "email", "could not be checked");
        return res->rc;
    }
    S_norm_email(res, t, req->email, r->email);
    S_check_field(res, t, "display_name", "display_name", r->name);
    if (!req->password_hash)
        S_check_password(res, req->password);
    return res->rc;
}

int domain_check_register(const domain_register_req *req, domain_result *res)
{
    S_res_init(res);
    S_reg r = {{0}, NULL};
    int rc = S_reg_prepare(req, res, &r);
    sodium_memzero(r.email, sizeof r.email);
    S_wipe_free(r.name);
    return rc;
}

typedef struct S_con {
    char email[S_EMAIL_MAX];
    char *name, *title, *message, *page;
} S_con;

static void S_con_free(S_con *c)
{
    S_wipe_free(c->name);
    S_wipe_free(c->title);
    S_wipe_free(c->message);
    S_wipe_free(c->page);
}

static int S_con_prepare(const domain_contact_req *req, domain_result *res,
                         S_con *c)
{
    const events_type *t = events_find("ContactRequestSubmitted");
    c->name = S_trim(req->name);
    c->title = S_trim(req->subject);
    c->message = S_trim(req->message);
    c->page = S_trim(req->page);
    if (!t || (req->name && !c->name) || (req->subject && !c->title) ||
        (req->message && !c->message) || (req->page && !c->page)) {
        S_res_error(res, "message", "could not be checked");
        return res->rc;
    }
    S_check_field(res, t, "name", "name", c->name);
    S_norm_email(res, t, req->email, c->email);
    S_check_field(res, t, "subject", "title", c->title);
    S_check_field(res, t, "message", "message", c->message);
    S_check_field(res, t, "page", "page", c->page);
    return res->rc;
}

int domain_check_contact(const domain_contact_req *req, domain_result *res)
{
    S_res_init(res);
    S_con c = {{0}, NULL, NULL, NULL, NULL};
    int rc = S_con_prepare(req, res, &c);
    S_con_free(&c);
    return rc;
}

int domain_hash_password(const char *password, char out[128], folio_err *err)
{
    if (sodium_init() < 0)
        return err_set(err, "libsodium could not be initialised");
    if (!password)
        return err_set(err, "no password to hash");
    if (crypto_pwhash_str(out, password, strlen(password),
                          crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return err_set(err, "hashing the password failed (out of memory)");
    return 0;
}

/* The same address sending the same message within this time is a
 * duplicate (not stored again). */
#define S_DEDUPE_WINDOW_MS (10LL * 60 * 1000)

/* ---- open, close, transactions ---------------------------------------- */

static domain *S_new(const folio_config *cfg)
{
    domain *d = calloc(1, sizeof *d);
    if (d) {
        d->cfg = cfg;
        d->now_ms = util_now_ms;
    }
    return d;
}

void domain_set_clock(domain *d, long long (*now_ms)(void))
{
    d->now_ms = now_ms ? now_ms : util_now_ms;
}

int domain_open(const folio_config *cfg, domain **out, folio_err *err)
{
    *out = NULL;
    domain *d = S_new(cfg);
    if (!d)
        return err_set(err, "out of memory");
    store_opts o = {cfg->sync_full, 0};
    if (util_mkdirs(cfg->var_dir, 0700, err) < 0 ||
        store_open(cfg->db_path, &o, &d->st, err) < 0 ||
        vault_open(cfg->master_key_path, store_db(d->st), &d->v, err) < 0 ||
        vault_link_key(cfg->master_key_path, d->link_key, err) != 0 ||
        projections_open(d->st, d->v, &d->p, err) < 0) {
        domain_close(d);
        return -1;
    }
    *out = d;
    return 0;
}

int domain_open_as_of(const folio_config *cfg, long long as_of_ms,
                      domain **out, folio_err *err)
{
    *out = NULL;
    domain *d = S_new(cfg);
    if (!d)
        return err_set(err, "out of memory");
    d->as_of = 1;
    int rc;
    if (util_is_file(cfg->db_path)) {
        /* read-only: the live database and key file stay as they are */
        store_opts o = {cfg->sync_full, 1};
        rc = store_open(cfg->db_path, &o, &d->st, err);
        if (rc == 0 && util_is_file(cfg->master_key_path))
            rc = vault_open(cfg->master_key_path, store_db(d->st), &d->v,
                            err);
    } else {
        /* no store yet: the site had no visitors' data at any time */
        store_opts o = {0, 0};
        rc = store_open(":memory:", &o, &d->st, err);
    }
    if (rc < 0 ||
        projections_open_as_of(d->st, d->v, as_of_ms, &d->p, err) < 0) {
        domain_close(d);
        return -1;
    }
    *out = d;
    return 0;
}

void domain_close(domain *d)
{
    if (!d)
        return;
    if (d->group && d->st)
        store_rollback(d->st);
    cJSON_Delete(d->community);
    cJSON_Delete(d->stats);
    for (size_t i = 0; i < 3; i++)
        sqlite3_finalize(d->sp[i]);
    projections_close(d->p);
    vault_close(d->v);
    store_close(d->st);
    sodium_memzero(d->link_key, sizeof d->link_key);
    free(d);
}

static int S_scrub(domain *d)
{
    folio_err e;
    d->scrub_pending = 0;
    if (vault_scrub(d->v, &e) < 0) {
        /* the erasure is committed; the WAL empties at the next chance */
        log_msg("warn", "%s", e.msg);
        return -1;
    }
    return 0;
}

int domain_begin(domain *d, folio_err *err)
{
    if (d->as_of)
        return err_set(err, "an as-of view is read-only");
    if (d->group)
        return err_set(err, "a group of commands is already open");
    vault_end_tx(d->v);
    if (store_begin(d->st, err) < 0)
        return -1;
    d->group = 1;
    return 0;
}

int domain_commit(domain *d, folio_err *err)
{
    if (!d->group)
        return err_set(err, "no group of commands is open");
    d->group = 0;
    if (projections_flush(d->p, err) < 0 || store_commit(d->st, err) < 0) {
        store_rollback(d->st);
        projections_discard(d->p);
        vault_end_tx(d->v);
        d->scrub_pending = 0;
        return -1;
    }
    vault_end_tx(d->v);
    if (d->scrub_pending)
        S_scrub(d);
    return 0;
}

void domain_rollback(domain *d)
{
    if (!d->group)
        return;
    d->group = 0;
    d->scrub_pending = 0;
    store_rollback(d->st);
    projections_discard(d->p);
    vault_end_tx(d->v);
}

/* Runs one of the command savepoint statements. */
static int S_sp(domain *d, int which, folio_err *err)
{
    sqlite3 *db = store_db(d->st);
    if (!d->sp[which] &&
        sqlite3_prepare_v3(db, S_sp_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                           &d->sp[which], NULL) != SQLITE_OK) {
        d->sp[which] = NULL;
        return err_set(err, "%s: %s", S_sp_sql[which], sqlite3_errmsg(db));
    }
    int rc = sqlite3_step(d->sp[which]);
    sqlite3_reset(d->sp[which]);
    if (rc != SQLITE_DONE)
        return err_set(err, "%s: %s", S_sp_sql[which], sqlite3_errmsg(db));
    return 0;
}

/* Ends a transaction of a single command: nothing of it kept. */
static void S_tx_abort(domain *d)
{
    store_rollback(d->st);
    projections_discard(d->p);
    vault_end_tx(d->v);
}

/* Every command runs in a savepoint of its own, inside the group's
 * transaction or a transaction of its own (BEGIN IMMEDIATE: the write lock
 * is held from the first read, so check-then-append cannot race). The
 * projections catch up with the log once per transaction, before the
 * first command's savepoint. */
static int S_cmd_begin(domain *d, folio_err *err)
{
    if (d->as_of)
        return err_set(err, "an as-of view is read-only");
    if (!d->group) {
        vault_end_tx(d->v);
        if (store_begin(d->st, err) < 0)
            return -1;
    }
    unsigned changed = 0;
    if (projections_tx_begin(d->p, &changed, err) < 0 ||
        S_sp(d, S_SP_BEGIN, err) < 0) {
        if (!d->group)
            S_tx_abort(d);
        return -1;
    }
    d->cmd_changed = changed;
    return 0;
}

/* Ends the command: keeps its writes when ok, undoes them otherwise. */
static int S_cmd_end(domain *d, int ok, folio_err *err)
{
    if (!ok) {
        projections_cmd_end(d->p, 0);
        S_sp(d, S_SP_UNDO, NULL);
        S_sp(d, S_SP_RELEASE, NULL);
        if (!d->group)
            S_tx_abort(d);
        return 0;
    }
    if (S_sp(d, S_SP_RELEASE, err) < 0) {
        S_cmd_end(d, 0, NULL);
        return -1;
    }
    projections_cmd_end(d->p, 1);
    if (d->group)
        return 0;
    if (projections_flush(d->p, err) < 0 || store_commit(d->st, err) < 0) {
        S_tx_abort(d);
        return -1;
    }
    vault_end_tx(d->v);
    return 0;
}

/* ---- building and appending events ------------------------------------ */

/* Replaces each personal field of data with its sealed form. */
static int S_seal_fields(domain *d, const events_type *t, const char *subject,
                         cJSON *data, folio_err *err)
{
    for (const events_field *f = t->fields; f && f->name; f++) {
        if (!f->personal)
            continue;
        cJSON *it = cJSON_GetObjectItemCaseSensitive(data, f->name);
        if (!cJSON_IsString(it))
            continue;
        char *sealed = NULL;
        if (vault_seal(d->v, subject, it->valuestring, &sealed, err) < 0)
            return -1;
        sodium_memzero(it->valuestring, strlen(it->valuestring));
        cJSON *s = cJSON_CreateString(sealed);
        free(sealed);
        if (!s || !cJSON_ReplaceItemInObjectCaseSensitive(data, f->name, s)) {
            cJSON_Delete(s);
            return err_set(err, "out of memory");
        }
    }
    return 0;
}

/* Request metadata. The client address says who someone is, so it is
 * sealed under the subject like the personal fields. */
static char *S_metadata(domain *d, const char *subject, const char *request_id,
                        const char *client, folio_err *err)
{
    cJSON *m = cJSON_CreateObject();
    char *sealed = NULL, *text = NULL;
    if (!m)
        goto oom;
    if (request_id && *request_id) {
        char id[129];
        S_copy(id, sizeof id, request_id);
        if (!cJSON_AddStringToObject(m, "request_id", id))
            goto oom;
    }
    if (client && *client) {
        if (vault_seal(d->v, subject, client, &sealed, err) < 0)
            goto fail;
        if (!cJSON_AddStringToObject(m, "client", sealed))
            goto oom;
    }
    if (!(text = cJSON_PrintUnformatted(m)))
        goto oom;
    goto done;
oom:
    err_set(err, "out of memory");
fail:
    text = NULL;
done:
    free(sealed);
    cJSON_Delete(m);
    return text;
}

/* Validates data (plaintext, current shape), seals it, appends it as the
 * first event of stream (or to it, with STORE_ANY) and brings the
 * projections along. Returns a domain rc; field errors go to res. */
static int S_append(domain *d, const events_type *t, const char *stream,
                    long long expected, const char *subject, cJSON *data,
                    const char *request_id, const char *client,
                    domain_result *res, folio_err *err)
{
    const char *field = NULL;
    folio_err verr = {{0}};
    if (events_validate(t, data, &field, &verr) < 0) {
        const char *msg = verr.msg;
        size_t n = field ? strlen(field) : 0;
        if (n && !strncmp(msg, field, n) && !strncmp(msg + n, ": ", 2))
            msg += n + 2;
        S_res_error(res, field ? field : "data", msg);
        return DOMAIN_INVALID;
    }
    if (S_seal_fields(d, t, subject, data, err) < 0)
        return DOMAIN_ERROR;
    char *meta = S_metadata(d, subject, request_id, client, err);
    char *json = meta ? cJSON_PrintUnformatted(data) : NULL;
    int rc = DOMAIN_ERROR;
    if (meta && !json)
        err_set(err, "out of memory");
    if (json) {
        store_new_event ev = {NULL, t->name, t->version, json, meta};
        int s = store_append(d->st, stream, expected, &ev, 1, &res->position,
                             err);
        if (s == STORE_CONFLICT) {
            err_set(err, "%s: stream already exists", stream);
        } else if (s == STORE_OK) {
            /* the projections take the event as it is, not read back */
            store_event e = {.position = res->position, .stream_id = stream,
                             .stream_version = 0, .type = t->name,
                             .schema_version = t->version, .data = json,
                             .metadata = meta,
                             .recorded_at = store_last_recorded_at(d->st)};
            if (projections_apply(d->p, &e, data, &d->cmd_changed, err) == 0)
                rc = DOMAIN_OK;
        }
    }
    free(json);
    free(meta);
    if (rc == DOMAIN_OK) {
        S_copy(res->id, sizeof res->id, stream);
        S_res_changed(res, d->cmd_changed);
    }
    return rc;
}

/* 1 when subject's newest key was destroyed (the person was erased and
 * has not come back since), 0 when not, -1 on error. Someone erased may
 * register or write again: the vault then seals under a new key
 * generation, and what they sent before stays redacted. */
static int S_forgotten(domain *d, const char *subject, folio_err *err)
{
    int st = vault_subject_state(d->v, subject, err);
    return st < 0 ? -1 : st == 2;
}

static int S_add_str(cJSON *o, const char *k, const char *v)
{
    return v && *v && !cJSON_AddStringToObject(o, k, v) ? -1 : 0;
}

/* ---- commands --------------------------------------------------------- */

/* Runs one statement with text parameters (NULL ends the list). */
static int S_sql(domain *d, const char *sql, folio_err *err, ...)
{
    sqlite3 *db = store_db(d->st);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return err_set(err, "%s", sqlite3_errmsg(db));
    va_list ap;
    va_start(ap, err);
    const char *v;
    for (int i = 1; (v = va_arg(ap, const char *)) != NULL; i++)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    va_end(ap);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return err_set(err, "%s", sqlite3_errmsg(db));
    return 0;
}

static int S_store_password(domain *d, const char *user_id, const char *hash,
                            folio_err *err)
{
    char now[32];
    snprintf(now, sizeof now, "%lld", util_now_ms());
    if (S_sql(d,
              "INSERT INTO credentials (user_id, password_hash, updated_at)"
              " VALUES (?1, ?2, CAST(?3 AS INTEGER))",
              err, user_id, hash, now, (const char *)NULL) < 0)
        return err_prefix(err, "storing the password");
    return 0;
}

static int S_account_of(domain *d, const char *addr, char user_id[80],
                        char *subject, folio_err *err);
static int S_account_put(domain *d, const char *user_id, const char *subject,
                         const char *state, folio_err *err);
static int S_signup_in(domain *d, const domain_register_req *req,
                       const S_reg *r, const char *hash, const char *subject,
                       domain_result *res, folio_err *err);

static const char *S_field_str(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static int S_register_in(domain *d, const domain_register_req *req,
                         const S_reg *r, const char *hash,
                         const char *subject, domain_result *res,
                         folio_err *err)
{
    const events_type *t = events_find("UserRegistered");
    char user_id[80];
    int m = S_account_of(d, subject, user_id, NULL, err);
    if (m < 0)
        return DOMAIN_ERROR;
    if (m) {
        S_res_error(res, "email", "this address is already registered");
        return res->rc = DOMAIN_ALREADY_REGISTERED;
    }
    char uuid[37], stream[80];
    store_uuid_v7(uuid); /* time-ordered: indexes on ids grow at one end */
    snprintf(user_id, sizeof user_id, "%s", uuid);
    snprintf(stream, sizeof stream, "user-%s", uuid);
    const char *locale = d->cfg && d->cfg->language && *d->cfg->language
                             ? d->cfg->language : "en";
    cJSON *data = cJSON_CreateObject();
    if (!data || S_add_str(data, "user_id", user_id) < 0 ||
        S_add_str(data, "subject", subject) < 0 ||
        S_add_str(data, "email", r->email) < 0 ||
        S_add_str(data, "display_name", r->name) < 0 ||
        S_add_str(data, "locale", locale) < 0 ||
        !cJSON_AddBoolToObject(data, "has_password", hash != NULL) ||
        (req->verify && !cJSON_AddTrueToObject(data, "pending")) ||
        (req->joined_ms > 0 &&
         !cJSON_AddNumberToObject(data, "joined_at", (double)req->joined_ms))) {
        cJSON_Delete(data);
        return err_set(err, "out of memory"), DOMAIN_ERROR;
    }
    /* credentials first: the catch-up inside S_append sees the member */
    if ((hash && S_store_password(d, user_id, hash, err) < 0) ||
        S_account_put(d, user_id, subject, req->verify ? "pending" : "verified",
                      err) < 0) {
        cJSON_Delete(data);
        return DOMAIN_ERROR;
    }
    int rc = S_append(d, t, stream, STORE_NO_STREAM, subject, data,
                      req->request_id, req->client, res, err);
    cJSON_Delete(data);
    return rc;
}

/* The Argon2id hash to store: the caller's (hashed outside the writer), or
 * made here. 0: none, 1: in hash, -1: error. */
static int S_password(const domain_register_req *req, char hash[128],
                      domain_result *res, folio_err *err)
{
    if (req->password_hash) {
        size_t n = strlen(req->password_hash);
        if (n >= 128 || strncmp(req->password_hash, "$argon2id$", 10)) {
            err_set(err, "password_hash is not an Argon2id hash");
            return -1;
        }
        memcpy(hash, req->password_hash, n + 1);
        return 1;
    }
    if (!req->password)
        return 0;
    if (domain_hash_password(req->password, hash, err) < 0) {
        res->rc = DOMAIN_ERROR;
        return -1;
    }
    return 1;
}

/* Only the pages of rank's member change, not the whole list
 * (site_range_fn). */
static void S_res_rank(domain_result *res, long long rank)
{
    snprintf(res->ranked, sizeof res->ranked, "community.members@%lld", rank);
    for (size_t k = 0; k < res->nchanged; k++)
        if (!strcmp(res->changed[k], "community.members"))
            res->changed[k] = res->ranked;
}

/* A new member is the newest: their rank is the number of members.
 * Without it, the whole list is rendered again. */
static void S_res_ranked(domain *d, domain_result *res)
{
    cJSON *items = NULL;
    long long top;
    folio_err e2 = {{0}};
    int rc = projections_members_range(d->p, 1, 0, &items, &top, &e2);
    cJSON_Delete(items);
    if (rc == 0 && top > 0)
        S_res_rank(res, top);
}

int domain_register(domain *d, const domain_register_req *req,
                    domain_result *res, folio_err *err)
{
    S_res_init(res);
    S_reg r = {{0}, NULL};
    char hash[128] = {0}, subject[VAULT_SUBJECT_LEN + 1];
    int rc = S_reg_prepare(req, res, &r);
    if (rc != DOMAIN_OK)
        goto out;
    /* slow by design: before the write lock, never under it */
    int h = S_password(req, hash, res, err);
    if (h < 0) {
        rc = DOMAIN_ERROR;
        goto out;
    }
    vault_subject(d->v, r.email, subject);
    if (S_cmd_begin(d, err) < 0) {
        rc = DOMAIN_ERROR;
        goto out;
    }
    rc = req->verify ? S_signup_in(d, req, &r, h ? hash : NULL, subject, res, err)
                     : S_register_in(d, req, &r, h ? hash : NULL, subject, res, err);
    if (rc == DOMAIN_OK && !req->verify)
        S_res_ranked(d, res);
    if (S_cmd_end(d, rc == DOMAIN_OK, err) < 0)
        rc = DOMAIN_ERROR;
out:
    sodium_memzero(hash, sizeof hash);
    sodium_memzero(r.email, sizeof r.email);
    S_wipe_free(r.name);
    if (rc != DOMAIN_OK) {
        res->position = 0;
        res->id[0] = '\0';
        res->nchanged = 0;
    }
    return res->rc = rc;
}

/* Keyed hash of (address, message): recognises a repeat without keeping
 * either in the clear. */
static int S_dedupe(domain *d, const S_con *c, char out[VAULT_SUBJECT_LEN + 1],
                    folio_err *err)
{
    buf b = BUF_INIT;
    if (buf_printf(&b, "contact-dedupe\n%s\n%s", c->email, c->message) < 0) {
        buf_free(&b);
        return err_set(err, "out of memory");
    }
    vault_subject(d->v, b.ptr, out);
    sodium_memzero(b.ptr, b.len);
    buf_free(&b);
    return 0;
}

/* The visitor's reference of the request a duplicate repeats: the
 * contact_id of the event at pos (not personal: stored in clear). */
static int S_contact_id_at(void *ud, const store_event *ev)
{
    char *id = ud;
    cJSON *data = cJSON_Parse(ev->data);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(data, "contact_id");
    if (cJSON_IsString(c) && c->valuestring)
        snprintf(id, 80, "contact-%s", c->valuestring);
    cJSON_Delete(data);
    return 1;
}

static int S_duplicate_of(domain *d, long long pos, domain_result *res,
                          folio_err *err)
{
    long long seen;
    if (store_read_all(d->st, pos - 1, 1, S_contact_id_at, res->id, &seen,
                       err) < 0)
        return DOMAIN_ERROR;
    if (!res->id[0])
        return err_set(err, "the contact request at position %lld has no id",
                       pos), DOMAIN_ERROR;
    return DOMAIN_DUPLICATE;
}

static int S_contact_in(domain *d, const domain_contact_req *req,
                        const S_con *c, const char *subject,
                        domain_result *res, folio_err *err)
{
    const events_type *t = events_find("ContactRequestSubmitted");
    char dedupe[VAULT_SUBJECT_LEN + 1], stream[80];
    if (S_dedupe(d, c, dedupe, err) < 0)
        return DOMAIN_ERROR;
    /* One stream per address and message: a duplicate is a second event
     * on it within the window, found through the log's stream index (no
     * read model has to keep the hashes). The check and the append share
     * the write transaction, so nothing comes between them. */
    snprintf(stream, sizeof stream, "contact-%s", dedupe);
    store_last last;
    int found = store_stream_last(d->st, stream, &last, err);
    if (found < 0)
        return DOMAIN_ERROR;
    if (found && last.recorded_at >= d->now_ms() - S_DEDUPE_WINDOW_MS) {
        /* unless the person was erased since: what they sent before is
         * gone, and the answer must not tell that it was ever sent */
        char person[80];
        store_last forgot;
        snprintf(person, sizeof person, "person-%s", subject);
        int erased = store_stream_last(d->st, person, &forgot, err);
        if (erased < 0)
            return DOMAIN_ERROR;
        if (!erased || forgot.position < last.position)
            return S_duplicate_of(d, last.position, res, err);
    }
    char uuid[37];
    store_uuid_v7(uuid); /* time-ordered: indexes on ids grow at one end */
    cJSON *data = cJSON_CreateObject();
    if (!data || S_add_str(data, "contact_id", uuid) < 0 ||
        S_add_str(data, "subject", subject) < 0 ||
        S_add_str(data, "name", c->name) < 0 ||
        S_add_str(data, "email", c->email) < 0 ||
        S_add_str(data, "title", c->title) < 0 ||
        S_add_str(data, "message", c->message) < 0 ||
        S_add_str(data, "page", c->page) < 0 ||
        S_add_str(data, "dedupe", dedupe) < 0) {
        cJSON_Delete(data);
        return err_set(err, "out of memory"), DOMAIN_ERROR;
    }
    int rc = S_append(d, t, stream, found ? last.version : STORE_NO_STREAM,
                      subject, data, req->request_id, req->client, res, err);
    cJSON_Delete(data);
    if (rc == DOMAIN_OK) /* the visitor's reference: the request's id */
        snprintf(res->id, sizeof res->id, "contact-%s", uuid);
    return rc;
}

int domain_contact(domain *d, const domain_contact_req *req,
                   domain_result *res, folio_err *err)
{
    S_res_init(res);
    S_con c = {{0}, NULL, NULL, NULL, NULL};
    char subject[VAULT_SUBJECT_LEN + 1];
    int rc = S_con_prepare(req, res, &c);
    if (rc != DOMAIN_OK)
        goto out;
    vault_subject(d->v, c.email, subject);
    if (S_cmd_begin(d, err) < 0) {
        rc = DOMAIN_ERROR;
        goto out;
    }
    rc = S_contact_in(d, req, &c, subject, res, err);
    if (S_cmd_end(d, rc == DOMAIN_OK, err) < 0)
        rc = DOMAIN_ERROR;
out:
    sodium_memzero(c.email, sizeof c.email);
    S_con_free(&c);
    if (rc != DOMAIN_OK) {
        res->position = 0;
        if (rc != DOMAIN_DUPLICATE) /* a duplicate keeps the original's id */
            res->id[0] = '\0';
        res->nchanged = 0;
    }
    return res->rc = rc;
}

static int S_forget_in(domain *d, const char *subject, domain_result *res,
                       folio_err *err)
{
    const events_type *t = events_find("PersonForgotten");
    char user_id[80], stream[80];
    int f = S_forgotten(d, subject, err);
    if (f != 0)
        return f < 0 ? DOMAIN_ERROR : DOMAIN_NOT_FOUND; /* erased already */
    int m = projections_member_of(d->p, subject, user_id, err);
    if (m < 0)
        return DOMAIN_ERROR;
    int v = vault_forget(d->v, subject, err);
    if (v != 0)
        return v < 0 ? DOMAIN_ERROR : DOMAIN_NOT_FOUND;
    if (m && S_sql(d, "DELETE FROM credentials WHERE user_id = ?1", err,
                   user_id, (const char *)NULL) < 0)
        return DOMAIN_ERROR;
    /* an account, pending or not, with its password, links and sessions */
    if (S_sql(d, "DELETE FROM credentials WHERE user_id IN (SELECT user_id"
              " FROM accounts WHERE subject = ?1)", err, subject,
              (const char *)NULL) < 0 ||
        S_sql(d, "DELETE FROM account_tokens WHERE user_id IN (SELECT user_id"
              " FROM accounts WHERE subject = ?1)", err, subject,
              (const char *)NULL) < 0 ||
        S_sql(d, "DELETE FROM sessions WHERE user_id IN (SELECT user_id"
              " FROM accounts WHERE subject = ?1)", err, subject,
              (const char *)NULL) < 0 ||
        S_sql(d, "DELETE FROM account_addresses WHERE user_id IN (SELECT"
              " user_id FROM accounts WHERE subject = ?1)", err, subject,
              (const char *)NULL) < 0 ||
        S_sql(d, "DELETE FROM accounts WHERE subject = ?1", err, subject,
              (const char *)NULL) < 0)
        return DOMAIN_ERROR;
    snprintf(stream, sizeof stream, "person-%s", subject);
    cJSON *data = cJSON_CreateObject();
    if (!data || S_add_str(data, "subject", subject) < 0) {
        cJSON_Delete(data);
        return err_set(err, "out of memory"), DOMAIN_ERROR;
    }
    int rc = S_append(d, t, stream, STORE_ANY, subject, data, NULL, NULL, res,
                      err);
    cJSON_Delete(data);
    return rc;
}

/* Erases subject, and other (may be NULL or the same) too: a member's
 * changed address, whose own key seals what was sent from it before it
 * became theirs. DOMAIN_OK when either was erased. */
static int S_forget_both(domain *d, const char *subject, const char *other,
                         domain_result *res, folio_err *err)
{
    int rc = S_forget_in(d, subject, res, err);
    if (rc == DOMAIN_ERROR || !other || !*other || !strcmp(other, subject))
        return rc;
    domain_result more;
    S_res_init(&more);
    int r2 = S_forget_in(d, other, &more, err);
    if (r2 == DOMAIN_ERROR)
        return DOMAIN_ERROR;
    if (r2 == DOMAIN_OK && rc != DOMAIN_OK) {
        *res = more;
        rc = DOMAIN_OK;
    }
    return rc;
}

static int S_account_of(domain *d, const char *addr, char user_id[80],
                        char *subject, folio_err *err);

int domain_forget(domain *d, const char *email, domain_result *res,
                  folio_err *err)
{
    S_res_init(res);
    char norm[S_EMAIL_MAX], addr[VAULT_SUBJECT_LEN + 1];
    char subject[VAULT_SUBJECT_LEN + 1], user_id[80];
    if (!email || vault_normalise_email(email, norm, sizeof norm) < 0 ||
        !*norm) {
        S_res_error(res, "email", "must be a valid e-mail address");
        return DOMAIN_INVALID;
    }
    vault_subject(d->v, norm, addr);
    sodium_memzero(norm, sizeof norm);
    if (S_cmd_begin(d, err) < 0)
        return res->rc = DOMAIN_ERROR;
    /* the member whose address it is now, under their key's name */
    int rc = S_account_of(d, addr, user_id, subject, err) < 0
                 ? DOMAIN_ERROR : S_forget_both(d, subject, addr, res, err);
    if (S_cmd_end(d, rc == DOMAIN_OK, err) < 0)
        rc = DOMAIN_ERROR;
    if (rc == DOMAIN_OK) {
        if (d->group)
            d->scrub_pending = 1;
        else
            S_scrub(d);
    } else {
        res->position = 0;
        res->id[0] = '\0';
        res->nchanged = 0;
    }
    return res->rc = rc;
}

/* ---- members' accounts: verified sign-up -------------------------------
 * A sign-up from the web is pending until the link mailed to the address
 * is followed: UserRegistered {pending} (no member yet), then
 * MemberVerificationRequested (the mail, its token personal), then, from
 * the link, MemberVerified (the member goes public). The accounts table
 * keeps each account's state; members from before it are found in the
 * members projection. */

/* The account an address belongs to (addr: the address's keyed hash, the
 * subject of an account made with it): 2 verified, 1 pending, 3 an
 * address its member moved away from (it stays theirs, as their vault
 * key's name, but no one signs in, resets or signs up with it), 0 none,
 * -1 error. user_id (80 bytes) and subject (the account's; may be NULL)
 * are filled when there is one; subject is addr when there is none. */
static int S_account_of(domain *d, const char *addr, char user_id[80],
                        char *subject, folio_err *err)
{
    sqlite3 *db = store_db(d->st);
    sqlite3_stmt *st = NULL;
    if (subject)
        S_copy(subject, VAULT_SUBJECT_LEN + 1, addr);
    if (sqlite3_prepare_v2(db, "SELECT a.user_id, a.state = 'verified', a.subject,"
                           " 0, 1 FROM account_addresses AS x JOIN accounts AS a"
                           " USING (user_id) WHERE x.address = ?1 UNION ALL"
                           " SELECT a.user_id, a.state = 'verified', a.subject,"
                           " x.address IS NOT NULL, 0 FROM accounts AS a LEFT"
                           " JOIN account_addresses AS x USING (user_id) WHERE"
                           " a.subject = ?1 ORDER BY 5 DESC LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK)
        return err_set(err, "accounts: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), state = 0;
    if (rc == SQLITE_ROW) {
        S_copy(user_id, 80, (const char *)sqlite3_column_text(st, 0));
        state = sqlite3_column_int(st, 3) ? 3 : sqlite3_column_int(st, 1) ? 2 : 1;
        if (subject)
            S_copy(subject, VAULT_SUBJECT_LEN + 1,
                   (const char *)sqlite3_column_text(st, 2));
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return err_set(err, "accounts: %s", sqlite3_errmsg(db));
    if (state)
        return state;
    int m = projections_member_of(d->p, addr, user_id, err);
    return m < 0 ? -1 : m ? 2 : 0;
}

static int S_account_put(domain *d, const char *user_id, const char *subject,
                         const char *state, folio_err *err)
{
    char now[32];
    snprintf(now, sizeof now, "%lld", d->now_ms());
    return S_sql(d, "INSERT INTO accounts (user_id, subject, state, created_at)"
                 " VALUES (?1, ?2, ?3, CAST(?4 AS INTEGER))", err, user_id,
                 subject, state, now, (const char *)NULL);
}

/* Adds a new link's nonce to an event's data, hash the raw token's (to
 * keep): the raw token is never in the event, the mail consumer derives
 * it again from the nonce. */
static int S_add_nonce(domain *d, cJSON *data,
                       unsigned char hash[ACCOUNTS_HASH_LEN])
{
    char nonce[ACCOUNTS_TOKEN_LEN + 1], raw[ACCOUNTS_TOKEN_LEN + 1];
    accounts_token_nonce(d->link_key, nonce, raw, hash);
    sodium_memzero(raw, sizeof raw);
    return S_add_str(data, "nonce", nonce);
}

/* Appends MemberVerificationRequested with a new token and keeps the
 * token's hash. */
static int S_verification(domain *d, const char *user_id, const char *subject,
                          const S_reg *r, const domain_register_req *req,
                          domain_result *res, folio_err *err)
{
    char stream[96];
    unsigned char hash[ACCOUNTS_HASH_LEN];
    long long expires = d->now_ms() + ACCOUNTS_VERIFY_TTL_MS;
    cJSON *data = cJSON_CreateObject();
    if (!data || S_add_str(data, "user_id", user_id) < 0 ||
        S_add_str(data, "subject", subject) < 0 ||
        S_add_str(data, "email", r->email) < 0 ||
        S_add_str(data, "display_name", r->name) < 0 ||
        S_add_nonce(d, data, hash) < 0 ||
        !cJSON_AddNumberToObject(data, "expires_at", (double)expires)) {
        cJSON_Delete(data);
        return err_set(err, "out of memory"), DOMAIN_ERROR;
    }
    snprintf(stream, sizeof stream, "user-%s", user_id);
    int rc = S_append(d, events_find("MemberVerificationRequested"), stream,
                      STORE_ANY, subject, data, req->request_id, req->client,
                      res, err);
    cJSON_Delete(data);
    if (rc == DOMAIN_OK &&
        accounts_token_put(store_db(d->st), "verify", user_id, hash,
                           res->position, expires, err) < 0)
        rc = DOMAIN_ERROR;
    return rc;
}

/* Tells a member that someone signed up with their address. */
static int S_signup_repeated(domain *d, const char *user_id,
                             const char *subject, const S_reg *r,
                             const domain_register_req *req,
                             domain_result *res, folio_err *err)
{
    char stream[96];
    snprintf(stream, sizeof stream, "user-%s", user_id);
    cJSON *data = cJSON_CreateObject();
    if (!data || S_add_str(data, "user_id", user_id) < 0 ||
        S_add_str(data, "subject", subject) < 0 ||
        S_add_str(data, "email", r->email) < 0) {
        cJSON_Delete(data);
        return err_set(err, "out of memory"), DOMAIN_ERROR;
    }
    int rc = S_append(d, events_find("MemberSignupRepeated"), stream,
                      STORE_ANY, subject, data, req->request_id, req->client,
                      res, err);
    cJSON_Delete(data);
    return rc;
}

/* A web sign-up: always DOMAIN_OK for a valid request, whatever is known
 * about the address, so the answer tells a stranger nothing. A new address
 * gets a pending account; a pending one its password replaced (the last
 * sign-up is the one the link confirms); then, within the per-recipient
 * limit, a verification mail, or for a member a "you already have an
 * account" mail. */
static int S_signup_in(domain *d, const domain_register_req *req,
                       const S_reg *r, const char *hash, const char *subject,
                       domain_result *res, folio_err *err)
{
    char user_id[80] = "", acct[VAULT_SUBJECT_LEN + 1];
    int a = S_account_of(d, subject, user_id, acct, err);
    if (a < 0)
        return DOMAIN_ERROR;
    if (a == 3) /* a member's former address: nothing to send, nothing to tell */
        return DOMAIN_OK;
    if (a == 0) {
        int rc = S_register_in(d, req, r, hash, subject, res, err);
        if (rc != DOMAIN_OK)
            return rc;
        /* res->id is "user-<id>" */
        S_copy(user_id, sizeof user_id, res->id + 5);
    } else if (a == 1 && hash &&
               S_sql(d, "INSERT OR REPLACE INTO credentials (user_id,"
                     " password_hash, updated_at) VALUES (?1, ?2,"
                     " CAST(strftime('%s') AS INTEGER) * 1000)", err, user_id,
                     hash, (const char *)NULL) < 0) {
        return DOMAIN_ERROR;
    }
    int ok = accounts_mail_allowed(store_db(d->st), subject,
                                   a == 2 ? "already" : "verify", d->now_ms(),
                                   err);
    if (ok <= 0)
        return ok < 0 ? DOMAIN_ERROR : DOMAIN_OK;
    if (a == 2)
        return S_signup_repeated(d, user_id, acct, r, req, res, err);
    return S_verification(d, user_id, subject, r, req, res, err);
}

typedef struct S_one {
    vault *v;
    eventview view;
    int found;
    folio_err *err;
} S_one;

static int S_one_event(void *ud, const store_event *ev)
{
    S_one *o = ud;
    if (eventview_open(o->v, ev, 0, &o->view, o->err) < 0)
        return -1;
    o->found = 1;
    return 1;
}

/* The member verified: MemberVerified from the verification event at
 * position (the address and name as they were signed up). */
static int S_verified(domain *d, const char *user_id, const char *subject,
                      long long position, domain_result *res, folio_err *err)
{
    S_one one = {.v = d->v, .err = err};
    if (store_read_all(d->st, position - 1, 1, S_one_event, &one, NULL,
                       err) < 0 && !one.found)
        return DOMAIN_ERROR;
    if (!one.found || !one.view.personal)
        return eventview_free(&one.view), DOMAIN_NOT_FOUND;
    const char *email = S_field_str(one.view.personal, "email");
    const char *name = S_field_str(one.view.personal, "display_name");
    const char *locale = d->cfg && d->cfg->language && *d->cfg->language
                             ? d->cfg->language : "en";
    char stream[96];
    snprintf(stream, sizeof stream, "user-%s", user_id);
    cJSON *data = cJSON_CreateObject();
    int rc = DOMAIN_ERROR;
    if (!email || !name || !strcmp(email, "[redacted]"))
        rc = DOMAIN_NOT_FOUND;
    else if (!data || S_add_str(data, "user_id", user_id) < 0 ||
             S_add_str(data, "subject", subject) < 0 ||
             S_add_str(data, "email", email) < 0 ||
             S_add_str(data, "display_name", name) < 0 ||
             S_add_str(data, "locale", locale) < 0 ||
             !cJSON_AddBoolToObject(data, "has_password", 1))
        err_set(err, "out of memory");
    else
        rc = S_append(d, events_find("MemberVerified"), stream, STORE_ANY,
                      subject, data, NULL, NULL, res, err);
    cJSON_Delete(data);
    eventview_free(&one.view);
    return rc;
}

static int S_verify_in(domain *d, const char *token, domain_result *res,
                       folio_err *err)
{
    char user_id[80], subject[VAULT_SUBJECT_LEN + 1];
    long long position = 0;
    sqlite3 *db = store_db(d->st);
    int t = accounts_token_take(db, "verify", token, d->now_ms(), user_id,
                                &position, err);
    if (t != 0)
        return t < 0 ? DOMAIN_ERROR : DOMAIN_NOT_FOUND;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT subject FROM accounts WHERE user_id = ?1"
                           " AND state = 'pending'", -1, &st, NULL) != SQLITE_OK)
        return err_set(err, "accounts: %s", sqlite3_errmsg(db)), DOMAIN_ERROR;
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        S_copy(subject, sizeof subject, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (!found)
        return DOMAIN_NOT_FOUND;
    int rc = S_verified(d, user_id, subject, position, res, err);
    if (rc == DOMAIN_OK &&
        (S_sql(d, "UPDATE accounts SET state = 'verified' WHERE user_id = ?1",
               err, user_id, (const char *)NULL) < 0 ||
         S_sql(d, "DELETE FROM account_tokens WHERE user_id = ?1 AND"
               " kind = 'verify'", err, user_id, (const char *)NULL) < 0))
        rc = DOMAIN_ERROR;
    return rc;
}

int domain_verify(domain *d, const char *token, domain_result *res,
                  folio_err *err)
{
    S_res_init(res);
    if (S_cmd_begin(d, err) < 0)
        return res->rc = DOMAIN_ERROR;
    int rc = S_verify_in(d, token, res, err);
    if (S_cmd_end(d, rc == DOMAIN_OK, err) < 0)
        rc = DOMAIN_ERROR;
    if (rc == DOMAIN_OK) /* the newest member: only their page changes */
        S_res_ranked(d, res);
    if (rc != DOMAIN_OK) {
        res->position = 0;
        res->id[0] = '\0';
        res->nchanged = 0;
    }
    return res->rc = rc;
}

/* The pending sign-ups older than ACCOUNTS_PENDING_TTL_MS (at most cap),
 * their subjects into subs; the count or -1. */
static int S_stale_pending(domain *d, char (*subs)[VAULT_SUBJECT_LEN + 1],
                           int cap, folio_err *err)
{
    sqlite3 *db = store_db(d->st);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT subject FROM accounts WHERE state ="
                           " 'pending' AND created_at < ?1 LIMIT ?2", -1, &st,
                           NULL) != SQLITE_OK)
        return err_set(err, "accounts: %s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, d->now_ms() - ACCOUNTS_PENDING_TTL_MS);
    sqlite3_bind_int(st, 2, cap);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < cap)
        S_copy(subs[n++], VAULT_SUBJECT_LEN + 1,
               (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return err_set(err, "accounts: %s", sqlite3_errmsg(db));
    return n;
}

int domain_expire_pending(domain *d, int *erased, folio_err *err)
{
    enum { S_BATCH = 64 };
    *erased = 0;
    char (*list)[VAULT_SUBJECT_LEN + 1] = calloc(S_BATCH, sizeof *list);
    if (!list)
        return err_set(err, "out of memory");
    int n, rc = 0;
    while (rc == 0 && (n = S_stale_pending(d, list, S_BATCH, err)) > 0) {
        for (int i = 0; i < n && rc == 0; i++) {
            domain_result res;
            S_res_init(&res);
            if (S_cmd_begin(d, err) < 0) {
                rc = -1;
                break;
            }
            int f = S_forget_in(d, list[i], &res, err);
            /* erased already by other means: only the account row is left */
            if (f == DOMAIN_NOT_FOUND)
                f = S_sql(d, "DELETE FROM accounts WHERE subject = ?1", err,
                          list[i], (const char *)NULL) < 0 ? DOMAIN_ERROR
                                                           : DOMAIN_OK;
            if (S_cmd_end(d, f == DOMAIN_OK, err) < 0 || f != DOMAIN_OK)
                rc = -1;
            else
                ++*erased;
        }
    }
    if (rc == 0 && n < 0)
        rc = -1;
    free(list);
    if (*erased)
        S_scrub(d);
    return rc;
}

/* ---- members' accounts: signing in --------------------------------------
 * Sessions are no event: they say nothing about the site's state, only
 * who holds which cookie, and are kept as hashes in the sessions table. */

int domain_login_lookup(domain *d, const char *email, char user_id[80],
                        char hash[128], folio_err *err)
{
    char norm[S_EMAIL_MAX], subject[VAULT_SUBJECT_LEN + 1];
    if (!email || vault_normalise_email(email, norm, sizeof norm) < 0 || !*norm)
        return 0;
    vault_subject(d->v, norm, subject);
    sodium_memzero(norm, sizeof norm);
    int a = S_account_of(d, subject, user_id, NULL, err);
    if (a != 2) /* unknown, not verified yet, or an address given up */
        return a < 0 ? -1 : 0;
    sqlite3 *db = store_db(d->st);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT password_hash FROM credentials WHERE"
                           " user_id = ?1", -1, &st, NULL) != SQLITE_OK)
        return err_set(err, "accounts: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        S_copy(hash, 128, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return found;
}

/* Runs fn inside a command of its own (or the group's), kept when it
 * returns >= 0. */
static int S_in_cmd(domain *d, int (*fn)(domain *, void *, folio_err *),
                    void *ud, folio_err *err)
{
    if (S_cmd_begin(d, err) < 0)
        return -1;
    int rc = fn(d, ud, err);
    if (S_cmd_end(d, rc >= 0, err) < 0)
        return -1;
    return rc;
}

typedef struct S_sess {
    const char *user_id, *raw;
    char *out;        /* new token / user id */
    char *name;       /* display name, namecap bytes */
    size_t namecap;
    int all;
} S_sess;

static int S_sess_start(domain *d, void *ud, folio_err *err)
{
    S_sess *s = ud;
    return accounts_session_new(store_db(d->st), s->user_id, d->now_ms(),
                                s->out, err);
}

int domain_session_start(domain *d, const char *user_id,
                         char raw[ACCOUNTS_TOKEN_LEN + 1], folio_err *err)
{
    S_sess s = {.user_id = user_id, .out = raw};
    return S_in_cmd(d, S_sess_start, &s, err) < 0 ? -1 : 0;
}

static int S_sess_get(domain *d, void *ud, folio_err *err)
{
    S_sess *s = ud;
    sqlite3 *db = store_db(d->st);
    int f = accounts_session_find(db, s->raw, d->now_ms(), s->out, err);
    if (f <= 0 || !s->name)
        return f;
    s->name[0] = '\0';
    return projections_member_name(d->p, s->out, s->name, s->namecap, err) < 0
               ? -1 : 1;
}

int domain_session_get(domain *d, const char *raw, char user_id[80],
                       char *name, size_t namecap, folio_err *err)
{
    S_sess s = {.raw = raw, .out = user_id, .name = name, .namecap = namecap};
    return S_in_cmd(d, S_sess_get, &s, err);
}

static int S_sess_end(domain *d, void *ud, folio_err *err)
{
    S_sess *s = ud;
    sqlite3 *db = store_db(d->st);
    char user_id[80];
    if (!s->all)
        return accounts_session_end(db, s->raw, err);
    int f = accounts_session_find(db, s->raw, d->now_ms(), user_id, err);
    return f <= 0 ? f : accounts_session_end_all(db, user_id, NULL, err);
}

int domain_session_end(domain *d, const char *raw, int everywhere,
                       folio_err *err)
{
    S_sess s = {.raw = raw, .all = everywhere};
    return S_in_cmd(d, S_sess_end, &s, err) < 0 ? -1 : 0;
}

/* ---- members' accounts: resetting a password ---------------------------- */

int domain_reset_request(domain *d, const char *email, const char *request_id,
                         const char *client, domain_result *res,
                         folio_err *err)
{
    S_res_init(res);
    char norm[S_EMAIL_MAX], addr[VAULT_SUBJECT_LEN + 1], user_id[80];
    char subject[VAULT_SUBJECT_LEN + 1];
    if (!email || vault_normalise_email(email, norm, sizeof norm) < 0 ||
        !*norm || !strchr(norm, '@')) {
        S_res_error(res, "email", "must be a valid e-mail address");
        return res->rc = DOMAIN_INVALID;
    }
    vault_subject(d->v, norm, addr);
    if (S_cmd_begin(d, err) < 0) {
        sodium_memzero(norm, sizeof norm);
        return res->rc = DOMAIN_ERROR;
    }
    int rc = DOMAIN_OK;
    /* sealed for the member, whichever of their addresses this is */
    int a = S_account_of(d, addr, user_id, subject, err);
    int ok = a == 2 ? accounts_mail_allowed(store_db(d->st), subject, "reset",
                                            d->now_ms(), err)
                    : 0;
    if (a < 0 || ok < 0)
        rc = DOMAIN_ERROR;
    else if (ok) {
        char stream[96];
        unsigned char hash[ACCOUNTS_HASH_LEN];
            long long expires = d->now_ms() + ACCOUNTS_RESET_TTL_MS;
        snprintf(stream, sizeof stream, "user-%s", user_id);
        cJSON *data = cJSON_CreateObject();
        if (!data || S_add_str(data, "user_id", user_id) < 0 ||
            S_add_str(data, "subject", subject) < 0 ||
            S_add_str(data, "email", norm) < 0 ||
            S_add_nonce(d, data, hash) < 0 ||
            !cJSON_AddNumberToObject(data, "expires_at", (double)expires))
            rc = (err_set(err, "out of memory"), DOMAIN_ERROR);
        else
            rc = S_append(d, events_find("PasswordResetRequested"), stream,
                          STORE_ANY, subject, data, request_id, client, res,
                          err);
        cJSON_Delete(data);
        if (rc == DOMAIN_OK &&
            accounts_token_put(store_db(d->st), "reset", user_id, hash,
                               res->position, expires, err) < 0)
            rc = DOMAIN_ERROR;
    }
    sodium_memzero(norm, sizeof norm);
    if (S_cmd_end(d, rc == DOMAIN_OK, err) < 0)
        rc = DOMAIN_ERROR;
    /* unknown and known addresses alike: nothing to tell */
    res->id[0] = '\0';
    return res->rc = rc;
}

static int S_reset_in(domain *d, const char *token, const char *hash,
                      domain_result *res, folio_err *err)
{
    char user_id[80], subject[VAULT_SUBJECT_LEN + 1] = "";
    sqlite3 *db = store_db(d->st);
    int t = accounts_token_take(db, "reset", token, d->now_ms(), user_id, NULL,
                                err);
    if (t != 0)
        return t < 0 ? DOMAIN_ERROR : DOMAIN_NOT_FOUND;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT subject FROM accounts WHERE user_id = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            S_copy(subject, sizeof subject,
                   (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    if (!*subject)
        return DOMAIN_NOT_FOUND;
    char stream[96];
    snprintf(stream, sizeof stream, "user-%s", user_id);
    if (S_sql(d, "INSERT OR REPLACE INTO credentials (user_id, password_hash,"
              " updated_at) VALUES (?1, ?2, CAST(strftime('%s') AS INTEGER)"
              " * 1000)", err, user_id, hash, (const char *)NULL) < 0 ||
        accounts_session_end_all(db, user_id, NULL, err) < 0 ||
        S_sql(d, "DELETE FROM account_tokens WHERE user_id = ?1 AND kind ="
              " 'reset'", err, user_id, (const char *)NULL) < 0)
        return DOMAIN_ERROR;
    cJSON *data = cJSON_CreateObject();
    int rc;
    if (!data || S_add_str(data, "user_id", user_id) < 0 ||
        S_add_str(data, "subject", subject) < 0 ||
        S_add_str(data, "how", "reset") < 0)
        rc = (err_set(err, "out of memory"), DOMAIN_ERROR);
    else
        rc = S_append(d, events_find("MemberPasswordChanged"), stream,
                      STORE_ANY, subject, data, NULL, NULL, res, err);
    cJSON_Delete(data);
    return rc;
}

int domain_reset_password(domain *d, const char *token,
                          const char *password_hash, domain_result *res,
                          folio_err *err)
{
    S_res_init(res);
    if (!password_hash || strncmp(password_hash, "$argon2id$", 10))
        return res->rc = (err_set(err, "not an Argon2id hash"), DOMAIN_ERROR);
    if (S_cmd_begin(d, err) < 0)
        return res->rc = DOMAIN_ERROR;
    int rc = S_reset_in(d, token, password_hash, res, err);
    if (S_cmd_end(d, rc == DOMAIN_OK, err) < 0)
        rc = DOMAIN_ERROR;
    return res->rc = rc;
}

/* ---- data for pages --------------------------------------------------- */

int domain_site_range(void *ud, const char *list, long long lo, long long hi,
                      cJSON **items, long long *top, folio_err *err)
{
    domain *d = ud;
    *items = NULL;
    *top = 0;
    if (!d || !list || strcmp(list, "community.members"))
        return 1;
    return projections_members_range(d->p, lo, hi, items, top, err);
}

const cJSON *domain_site_data(void *ud, const char *name)
{
    domain *d = ud;
    folio_err err = {{0}};
    cJSON **slot, *(*build)(projections *, folio_err *);
    if (!d || !name)
        return NULL;
    if (!strcmp(name, "community")) {
        slot = &d->community;
        build = projections_community;
    } else if (!strcmp(name, "stats")) {
        slot = &d->stats;
        build = projections_stats;
    } else {
        return NULL;
    }
    cJSON_Delete(*slot);
    if (!(*slot = build(d->p, &err)))
        log_msg("error", "reading %s for the pages: %s", name, err.msg);
    return *slot;
}

/* ---- owner tools ------------------------------------------------------ */

typedef struct S_print {
    domain *d;
    const domain_events_query *q;
    FILE *out;
    folio_err err;
    int failed;
} S_print;

/* The event's data upcast to the current shape with personal fields
 * opened for the owner, and its metadata likewise (eventview). */
static int S_owner_view(domain *d, const store_event *ev, cJSON **data,
                        cJSON **meta, folio_err *err)
{
    eventview view;
    *data = *meta = NULL;
    if (eventview_open(d->v, ev, 1, &view, err) < 0)
        return -1;
    if (view.personal) {
        *data = view.personal;
        cJSON_Delete(view.data);
    } else {
        *data = view.data;
    }
    *meta = view.metadata;
    return 0;
}

cJSON *domain_envelope_json(const store_event *ev, cJSON *data, cJSON *meta)
{
    char iso[32];
    util_format_iso_ms(ev->recorded_at, iso);
    const events_type *t = events_find(ev->type);
    cJSON *o = cJSON_CreateObject();
    if (o && cJSON_AddNumberToObject(o, "position", (double)ev->position) &&
        cJSON_AddStringToObject(o, "event_id", ev->event_id) &&
        cJSON_AddStringToObject(o, "stream_id", ev->stream_id) &&
        cJSON_AddNumberToObject(o, "stream_version",
                                (double)ev->stream_version) &&
        cJSON_AddStringToObject(o, "type", ev->type) &&
        cJSON_AddNumberToObject(o, "schema_version",
                                t ? t->version : ev->schema_version) &&
        cJSON_AddItemToObject(o, "data", data)) {
        data = NULL;
        if (cJSON_AddItemToObject(o, "metadata", meta)) {
            meta = NULL;
            if (cJSON_AddStringToObject(o, "recorded_at", iso))
                return o;
        }
    }
    cJSON_Delete(o);
    cJSON_Delete(data);
    cJSON_Delete(meta);
    return NULL;
}

/* Replaces one string member by "[personal]" unless it reads "[redacted]". */
static int S_mask(cJSON *obj, const char *key)
{
    cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(it) || !strcmp(it->valuestring, "[redacted]"))
        return 0;
    cJSON *s = cJSON_CreateString("[personal]");
    if (!s || !cJSON_ReplaceItemInObjectCaseSensitive(obj, key, s)) {
        cJSON_Delete(s);
        return -1;
    }
    return 0;
}

int domain_mask_personal(const char *type, cJSON *data, cJSON *meta)
{
    const events_type *t = events_find(type);
    for (const events_field *f = t ? t->fields : NULL; f && f->name; f++)
        if (f->personal && data && S_mask(data, f->name) < 0)
            return -1;
    return meta ? S_mask(meta, "client") : 0;
}

int domain_event_json(domain *d, const store_event *ev, int personal,
                      cJSON **out, folio_err *err)
{
    cJSON *data = NULL, *meta = NULL;
    *out = NULL;
    if (S_owner_view(d, ev, &data, &meta, err) < 0)
        goto fail;
    if (!personal && domain_mask_personal(ev->type, data, meta) < 0) {
        err_set(err, "out of memory");
        goto fail;
    }
    if (!(*out = domain_envelope_json(ev, data, meta)))
        return err_set(err, "out of memory");
    return 0;
fail:
    cJSON_Delete(data);
    cJSON_Delete(meta);
    return -1;
}

store *domain_store(domain *d) { return d->st; }

static int S_print_json(S_print *pr, const store_event *ev, cJSON *data,
                        cJSON *meta)
{
    cJSON *o = domain_envelope_json(ev, data, meta);
    char *line = o ? cJSON_PrintUnformatted(o) : NULL;
    int rc = line && fprintf(pr->out, "%s\n", line) >= 0 ? 0 : -1;
    free(line);
    cJSON_Delete(o);
    return rc;
}

static int S_print_event(void *ud, const store_event *ev)
{
    S_print *pr = ud;
    const domain_events_query *q = pr->q;
    if (ev->position <= q->after || (q->upto > 0 && ev->position > q->upto) ||
        (q->type && strcmp(q->type, ev->type)) ||
        (q->as_of_ms > 0 && ev->recorded_at > q->as_of_ms))
        return 0;
    cJSON *data = NULL, *meta = NULL;
    if (S_owner_view(pr->d, ev, &data, &meta, &pr->err) < 0)
        goto fail;
    if (q->json) {
        if (S_print_json(pr, ev, data, meta) < 0) {
            err_set(&pr->err, "writing the events failed");
            pr->failed = 1;
            return -1;
        }
        return 0;
    }
    char iso[32];
    util_format_iso_ms(ev->recorded_at, iso);
    char *text = cJSON_PrintUnformatted(data);
    int w = text ? fprintf(pr->out, "%lld %s %s %s %s\n", ev->position, iso,
                           ev->type, ev->stream_id, text)
                 : -1;
    free(text);
    cJSON_Delete(data);
    cJSON_Delete(meta);
    if (w < 0) {
        err_set(&pr->err, "writing the events failed");
        pr->failed = 1;
        return -1;
    }
    return 0;
fail:
    cJSON_Delete(data);
    cJSON_Delete(meta);
    pr->failed = 1;
    return -1;
}

int domain_print_events(domain *d, const domain_events_query *q, FILE *out,
                        folio_err *err)
{
    S_print pr = {.d = d, .q = q, .out = out};
    long long last = 0;
    int rc;
    if (q->stream)
        rc = store_read_stream(d->st, q->stream, S_print_event, &pr, err);
    else
        rc = store_read_all(d->st, q->after > 0 ? q->after : 0, 0,
                            S_print_event, &pr, &last, err);
    if (pr.failed) {
        *err = pr.err;
        return -1;
    }
    if (rc != 0)
        return -1;
    if (fflush(out) != 0)
        return err_set(err, "writing the events failed");
    return 0;
}

int domain_replay(domain *d, const char *const *names, size_t n,
                  folio_err *err)
{
    if (d->as_of)
        return err_set(err, "an as-of view is read-only");
    unsigned mask = n ? 0 : PROJ_ALL;
    for (size_t i = 0; i < n; i++) {
        unsigned bit = projections_bit(names[i]);
        if (!bit)
            return err_set(err, "unknown projection '%s' (there are"
                           " members, inbox and stats)", names[i]);
        mask |= bit;
    }
    return projections_replay(d->p, mask, err);
}

/* ---- folio check: the store's checks beside the projections' ------------
 * SQLite's integrity check of a million-event store takes as long as the
 * projections' replay and comparison together and needs only a reading
 * connection: it runs on a thread of its own meanwhile (one after the
 * other when no second connection or thread can be had). */
typedef struct S_store_check {
    store *rd;
    buf report;
    folio_err err;
    int rc;
} S_store_check;

static void *S_store_check_main(void *ud)
{
    S_store_check *c = ud;
    c->rc = store_check(c->rd, &c->report, &c->err);
    return NULL;
}

int domain_check(domain *d, buf *report, folio_err *err)
{
    if (d->as_of)
        return err_set(err, "an as-of view cannot be checked");
    S_store_check c = {.report = BUF_INIT};
    pthread_t t;
    int threaded = store_open_reader(d->st, &c.rd, &c.err) == 0;
    if (threaded && pthread_create(&t, NULL, S_store_check_main, &c) != 0) {
        store_close(c.rd);
        threaded = 0;
    }
    if (!threaded) {
        c.rd = d->st;
        S_store_check_main(&c);
    }
    buf mine = BUF_INIT;
    int b = !threaded && c.rc < 0 ? -1 : projections_check(d->p, &mine, err);
    if (threaded) {
        pthread_join(t, NULL);
        store_close(c.rd);
    }
    int rc = c.rc < 0 || b < 0 ? -1 : c.rc || b ? 1 : 0;
    if (c.rc < 0)
        *err = c.err;
    /* the store's lines first, as when they ran one after the other */
    else if (rc >= 0 && ((c.report.len &&
                          buf_add(report, c.report.ptr, c.report.len) < 0) ||
                         (mine.len && buf_add(report, mine.ptr, mine.len) < 0)))
        rc = err_set(err, "out of memory");
    buf_free(&c.report);
    buf_free(&mine);
    return rc;
}

static int S_backup_note(domain *d, const char *path);

int domain_backup(domain *d, const char *path, folio_err *err)
{
    if (store_backup(d->st, path, err) != 0)
        return -1;
    S_backup_note(d, path);
    return 0;
}

int domain_writable(domain *d)
{
    if (!d || d->as_of)
        return 0;
    if (d->group)
        return 1;
    folio_err err;
    if (store_begin(d->st, &err) < 0)
        return 0;
    store_rollback(d->st);
    return 1;
}

int domain_disk_full(domain *d)
{
    return d && !d->as_of && store_disk_full(d->st);
}

int domain_set_autocheckpoint(domain *d, int on, folio_err *err)
{
    return store_set_autocheckpoint(d->st, on, err);
}

int domain_wal_frames(domain *d) { return store_wal_frames(d->st); }

int domain_checkpoint(domain *d, int truncate, folio_err *err)
{
    if (d->group)
        return err_set(err, "checkpoint: a group of commands is open");
    return store_checkpoint(d->st, truncate, NULL, err);
}

/* ---- the owner's decisions ---------------------------------------------- */

static const char *const S_statuses[] = {"new", "handled", "archived", "spam", NULL};
static const char *const S_roles[] = {"owner", "member", NULL};

static int S_one_of(const char *v, const char *const *list)
{
    for (; v && *list; list++)
        if (!strcmp(v, *list))
            return 1;
    return 0;
}

/* Appends an owner's event (no personal fields) to stream, in a command of
 * its own. Takes data. */
static int S_owner_event(domain *d, const char *type, const char *stream, cJSON *data,
                         domain_result *res, folio_err *err)
{
    int rc = DOMAIN_ERROR;
    if (!data)
        err_set(err, "out of memory");
    else if (S_cmd_begin(d, err) == 0) {
        rc = S_append(d, events_find(type), stream, STORE_ANY, NULL, data, NULL, NULL,
                      res, err);
        if (S_cmd_end(d, rc == DOMAIN_OK, err) < 0)
            rc = DOMAIN_ERROR;
    }
    cJSON_Delete(data);
    if (rc != DOMAIN_OK) {
        res->position = 0;
        res->nchanged = 0;
    }
    return res->rc = rc;
}

static int S_count_inbox(void *ud, const projections_inbox_row *r, folio_err *err)
{
    (void)r;
    (void)err;
    ++*(int *)ud;
    return 0;
}

int domain_contact_mark(domain *d, const char *contact_id, const char *status,
                        domain_result *res, folio_err *err)
{
    S_res_init(res);
    if (!S_one_of(status, S_statuses)) {
        S_res_error(res, "status", "must be new, handled, archived or spam");
        return res->rc;
    }
    if (contact_id && !strncmp(contact_id, "contact-", 8))
        contact_id += 8;
    int n = 0;
    if (!contact_id || !*contact_id)
        return res->rc = DOMAIN_NOT_FOUND;
    if (projections_inbox_rows(d->p, NULL, contact_id, S_count_inbox, &n, err) < 0)
        return res->rc = DOMAIN_ERROR;
    if (!n)
        return res->rc = DOMAIN_NOT_FOUND;
    char stream[96];
    snprintf(stream, sizeof stream, "inbox-%s", contact_id);
    cJSON *data = cJSON_CreateObject();
    if (data && (S_add_str(data, "contact_id", contact_id) < 0 ||
                 S_add_str(data, "status", status) < 0)) {
        cJSON_Delete(data);
        data = NULL;
    }
    return S_owner_event(d, "ContactRequestStatusChanged", stream, data, res, err);
}

static int S_take_member(void *ud, const projections_member_row *r, folio_err *err)
{
    (void)err;
    *(long long *)ud = r->rank;
    return 0;
}

/* The member with that address: DOMAIN_OK with their id and rank, or
 * DOMAIN_NOT_FOUND. */
static int S_member_by_email(domain *d, const char *email, char user_id[80], long long *rank,
                             folio_err *err)
{
    char norm[S_EMAIL_MAX], addr[VAULT_SUBJECT_LEN + 1], subject[VAULT_SUBJECT_LEN + 1];
    if (!email || vault_normalise_email(email, norm, sizeof norm) < 0 || !*norm)
        return DOMAIN_NOT_FOUND;
    vault_subject(d->v, norm, addr);
    sodium_memzero(norm, sizeof norm);
    /* a member who changed their address is found by the new one */
    int m = S_account_of(d, addr, user_id, subject, err) < 0
                ? -1 : projections_member_of(d->p, subject, user_id, err);
    if (m <= 0)
        return m < 0 ? DOMAIN_ERROR : DOMAIN_NOT_FOUND;
    *rank = 0;
    if (projections_member_rows(d->p, user_id, S_take_member, rank, err) < 0)
        return DOMAIN_ERROR;
    return DOMAIN_OK;
}

/* A member's own change: their stream, the page of their rank. */
static int S_member_event(domain *d, const char *email, const char *type, const char *field,
                          cJSON *value, domain_result *res, folio_err *err)
{
    char user_id[80], stream[96];
    long long rank = 0;
    S_res_init(res);
    int rc = S_member_by_email(d, email, user_id, &rank, err);
    if (rc != DOMAIN_OK) {
        cJSON_Delete(value);
        return res->rc = rc;
    }
    snprintf(stream, sizeof stream, "user-%s", user_id);
    cJSON *data = cJSON_CreateObject();
    if (!value || !data || S_add_str(data, "user_id", user_id) < 0 ||
        !cJSON_AddItemToObject(data, field, value)) {
        if (!data || !cJSON_GetObjectItemCaseSensitive(data, field))
            cJSON_Delete(value);
        cJSON_Delete(data);
        data = NULL;
    }
    rc = S_owner_event(d, type, stream, data, res, err);
    if (rc == DOMAIN_OK) {
        res->nchanged = 0;
        res->changed[res->nchanged++] = "community";
        S_res_rank(res, rank);
        res->changed[res->nchanged++] = res->ranked;
    }
    return rc;
}

int domain_member_hide(domain *d, const char *email, int hidden, domain_result *res,
                       folio_err *err)
{
    return S_member_event(d, email, "MemberHiddenChanged", "hidden", cJSON_CreateBool(hidden),
                          res, err);
}

int domain_member_role(domain *d, const char *email, const char *role, domain_result *res,
                       folio_err *err)
{
    if (!S_one_of(role, S_roles)) {
        S_res_init(res);
        S_res_error(res, "role", "must be owner or member");
        return res->rc;
    }
    int rc = S_member_event(d, email, "MemberRoleChanged", "role", cJSON_CreateString(role),
                            res, err);
    if (rc == DOMAIN_OK)
        res->nchanged = 0; /* no page shows a role */
    return rc;
}

/* ---- the owner's views ---------------------------------------------------- */

typedef struct S_at {
    domain *d;
    cJSON *personal;
    folio_err *err;
    int failed;
} S_at;

static int S_at_event(void *ud, const store_event *ev)
{
    S_at *a = ud;
    eventview view;
    if (eventview_open(a->d->v, ev, 0, &view, a->err) < 0) {
        a->failed = 1;
        return 1;
    }
    a->personal = view.personal ? view.personal : view.data;
    if (view.personal)
        cJSON_Delete(view.data);
    cJSON_Delete(view.metadata);
    return 1;
}

/* The data of the event at position, personal fields opened for the owner
 * ("[redacted]" once forgotten). */
static cJSON *S_data_at(domain *d, long long position, folio_err *err)
{
    S_at a = {d, NULL, err, 0};
    long long last;
    if (store_read_all(d->st, position - 1, 1, S_at_event, &a, &last, err) < 0 || a.failed) {
        cJSON_Delete(a.personal);
        return NULL;
    }
    if (!a.personal)
        err_set(err, "no event at position %lld", position);
    return a.personal;
}

static int S_copy_field(cJSON *to, const char *name, const cJSON *from, const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, field);
    return cJSON_AddStringToObject(to, name, cJSON_IsString(v) ? v->valuestring : "") ? 0 : -1;
}

/* Adds o to arr, or frees it: 0 or -1. */
static int S_add_row(cJSON *arr, cJSON *o, int ok, folio_err *err)
{
    if (ok && cJSON_AddItemToArray(arr, o))
        return 0;
    cJSON_Delete(o);
    return err_set(err, "out of memory");
}

static int S_view_row(void *ud, const projections_inbox_row *r, folio_err *err)
{
    S_at *a = ud;
    cJSON *ev = S_data_at(a->d, r->position, err);
    if (!ev)
        return -1;
    cJSON *o = cJSON_CreateObject();
    char at[32], id[96];
    util_format_iso_ms(r->received_at, at);
    snprintf(id, sizeof id, "contact-%s", r->contact_id);
    int ok = o && cJSON_AddStringToObject(o, "id", id) && !S_copy_field(o, "name", ev, "name") &&
             !S_copy_field(o, "email", ev, "email") &&
             !S_copy_field(o, "subject", ev, "title") &&
             cJSON_AddStringToObject(o, "received", at) &&
             cJSON_AddStringToObject(o, "status", r->status ? r->status : "") &&
             cJSON_AddStringToObject(o, "page", r->page ? r->page : "") &&
             !S_copy_field(o, "message", ev, "message");
    cJSON_Delete(ev);
    return S_add_row(a->personal, o, ok, err);
}

cJSON *domain_inbox(domain *d, const char *status, const char *contact_id, folio_err *err)
{
    if (status && !S_one_of(status, S_statuses)) {
        err_set(err, "status: must be new, handled, archived or spam");
        return NULL;
    }
    if (contact_id && !strncmp(contact_id, "contact-", 8))
        contact_id += 8;
    S_at a = {d, cJSON_CreateArray(), err, 0};
    if (!a.personal) {
        err_set(err, "out of memory");
        return NULL;
    }
    if (projections_inbox_rows(d->p, status, contact_id, S_view_row, &a, err) < 0) {
        cJSON_Delete(a.personal);
        return NULL;
    }
    return a.personal;
}

static int S_member_view(void *ud, const projections_member_row *r, folio_err *err)
{
    S_at *a = ud;
    cJSON *ev = S_data_at(a->d, r->position, err);
    if (!ev)
        return -1;
    cJSON *o = cJSON_CreateObject();
    char at[32];
    util_format_iso_ms(r->joined_at, at);
    int ok = o && cJSON_AddStringToObject(o, "user_id", r->user_id) &&
             !S_copy_field(o, "email", ev, "email") &&
             cJSON_AddStringToObject(o, "name", r->display_name ? r->display_name : "") &&
             cJSON_AddStringToObject(o, "joined", at) &&
             cJSON_AddBoolToObject(o, "hidden", r->hidden) &&
             cJSON_AddStringToObject(o, "role", r->role ? r->role : "") &&
             cJSON_AddNumberToObject(o, "rank", (double)r->rank);
    cJSON_Delete(ev);
    return S_add_row(a->personal, o, ok, err);
}

cJSON *domain_members(domain *d, folio_err *err)
{
    S_at a = {d, cJSON_CreateArray(), err, 0};
    if (!a.personal) {
        err_set(err, "out of memory");
        return NULL;
    }
    if (projections_member_rows(d->p, NULL, S_member_view, &a, err) < 0) {
        cJSON_Delete(a.personal);
        return NULL;
    }
    return a.personal;
}

/* ---- members' self-service (/account/) -----------------------------------
 * Each command names its member by the session's raw token, checked in
 * the same transaction as the change, so a session ended meanwhile
 * changes nothing. The member's subject (their vault key's) is read from
 * the first event of their stream, where every kind of member has it. */

static int S_first_subject(void *ud, const store_event *ev)
{
    char *subject = ud;
    cJSON *data = cJSON_Parse(ev->data);
    const char *s = S_field_str(data, "subject");
    if (s)
        S_copy(subject, VAULT_SUBJECT_LEN + 1, s);
    cJSON_Delete(data);
    return 1;
}

/* The member of a live session: DOMAIN_OK with user_id and subject, or
 * DOMAIN_NOT_FOUND (signed out, expired, erased). touch: restart the
 * session's idle clock (a writer) or only look (a reader). */
static int S_session_member(domain *d, const char *raw, int touch,
                            char user_id[80], char subject[VAULT_SUBJECT_LEN + 1],
                            folio_err *err)
{
    sqlite3 *db = store_db(d->st);
    int f = touch ? accounts_session_find(db, raw, d->now_ms(), user_id, err)
                  : accounts_session_peek(db, raw, d->now_ms(), user_id, err);
    if (f <= 0)
        return f < 0 ? DOMAIN_ERROR : DOMAIN_NOT_FOUND;
    char stream[96];
    subject[0] = '\0';
    snprintf(stream, sizeof stream, "user-%s", user_id);
    if (store_read_stream(d->st, stream, S_first_subject, subject, err) < 0 &&
        !subject[0])
        return DOMAIN_ERROR;
    return subject[0] ? DOMAIN_OK : DOMAIN_NOT_FOUND;
}

/* The keyed hash of the address a member changed to ("" when they kept
 * the one their subject was made from). */
static int S_account_address(domain *d, const char *user_id,
                             char addr[VAULT_SUBJECT_LEN + 1], folio_err *err)
{
    sqlite3 *db = store_db(d->st);
    sqlite3_stmt *st = NULL;
    addr[0] = '\0';
    if (sqlite3_prepare_v2(db, "SELECT address FROM account_addresses WHERE"
                           " user_id = ?1", -1, &st, NULL) != SQLITE_OK)
        return err_set(err, "accounts: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        S_copy(addr, VAULT_SUBJECT_LEN + 1, (const char *)sqlite3_column_text(st, 0));
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : err_set(err, "accounts: %s", sqlite3_errmsg(db));
}

int domain_account_peek(domain *d, const char *raw, char user_id[80],
                        char hash[128], char *name, size_t namecap,
                        folio_err *err)
{
    char subject[VAULT_SUBJECT_LEN + 1];
    int rc = S_session_member(d, raw, 0, user_id, subject, err);
    if (rc != DOMAIN_OK)
        return rc == DOMAIN_ERROR ? -1 : 0;
    if (name && namecap) {
        name[0] = '\0';
        if (projections_member_name(d->p, user_id, name, namecap, err) < 0)
            return -1;
    }
    if (!hash)
        return 1;
    hash[0] = '\0';
    sqlite3 *db = store_db(d->st);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT password_hash FROM credentials WHERE"
                           " user_id = ?1", -1, &st, NULL) != SQLITE_OK)
        return err_set(err, "accounts: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        S_copy(hash, 128, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return 1;
}

typedef struct S_acct {
    const char *raw, *value, *request_id, *client;
    domain_result *res;
} S_acct;

/* Appends type with user_id, subject and one more string field (may be
 * NULL) to the member's stream. */
static int S_member_own(domain *d, const char *type, const char *user_id,
                        const char *subject, const char *field,
                        const char *value, const S_acct *a, folio_err *err)
{
    char stream[96];
    snprintf(stream, sizeof stream, "user-%s", user_id);
    cJSON *data = cJSON_CreateObject();
    int rc;
    if (!data || S_add_str(data, "user_id", user_id) < 0 ||
        S_add_str(data, "subject", subject) < 0 ||
        (field && S_add_str(data, field, value) < 0))
        rc = (err_set(err, "out of memory"), DOMAIN_ERROR);
    else
        rc = S_append(d, events_find(type), stream, STORE_ANY, subject, data,
                      a->request_id, a->client, a->res, err);
    cJSON_Delete(data);
    return rc;
}

static int S_rename_in(domain *d, const S_acct *a, folio_err *err)
{
    char user_id[80], subject[VAULT_SUBJECT_LEN + 1];
    int rc = S_session_member(d, a->raw, 1, user_id, subject, err);
    if (rc != DOMAIN_OK)
        return rc;
    long long rank = 0;
    if (projections_member_rows(d->p, user_id, S_take_member, &rank, err) < 0)
        return DOMAIN_ERROR;
    rc = S_member_own(d, "MemberRenamed", user_id, subject, "display_name",
                      a->value, a, err);
    if (rc == DOMAIN_OK) { /* the name shows on the newest list and one page */
        domain_result *res = a->res;
        res->nchanged = 0;
        res->changed[res->nchanged++] = "community";
        if (rank > 0) {
            S_res_rank(res, rank);
            res->changed[res->nchanged++] = res->ranked;
        }
    }
    return rc;
}

int domain_account_rename(domain *d, const char *raw, const char *display_name,
                          const char *request_id, const char *client,
                          domain_result *res, folio_err *err)
{
    S_res_init(res);
    char *name = S_trim(display_name);
    if (display_name && !name)
        return res->rc = (err_set(err, "out of memory"), DOMAIN_ERROR);
    S_check_field(res, events_find("MemberRenamed"), "display_name",
                  "display_name", name);
    int rc = res->rc;
    if (rc == DOMAIN_OK) {
        S_acct a = {raw, name, request_id, client, res};
        if (S_cmd_begin(d, err) < 0)
            rc = DOMAIN_ERROR;
        else {
            rc = S_rename_in(d, &a, err);
            if (S_cmd_end(d, rc == DOMAIN_OK, err) < 0)
                rc = DOMAIN_ERROR;
        }
    }
    S_wipe_free(name);
    if (rc != DOMAIN_OK && rc != DOMAIN_INVALID)
        res->nchanged = 0;
    return res->rc = rc;
}

static int S_password_in(domain *d, const S_acct *a, folio_err *err)
{
    char user_id[80], subject[VAULT_SUBJECT_LEN + 1];
    int rc = S_session_member(d, a->raw, 1, user_id, subject, err);
    if (rc != DOMAIN_OK)
        return rc;
    if (S_sql(d, "INSERT OR REPLACE INTO credentials (user_id, password_hash,"
              " updated_at) VALUES (?1, ?2, CAST(strftime('%s') AS INTEGER)"
              " * 1000)", err, user_id, a->value, (const char *)NULL) < 0 ||
        accounts_session_end_all(store_db(d->st), user_id, a->raw, err) < 0)
        return DOMAIN_ERROR;
    rc = S_member_own(d, "MemberPasswordChanged", user_id, subject, "how",
                      "change", a, err);
    a->res->nchanged = 0; /* no page shows it */
    return rc;
}

int domain_account_password(domain *d, const char *raw,
                            const char *password_hash, const char *request_id,
                            const char *client, domain_result *res,
                            folio_err *err)
{
    S_res_init(res);
    if (!password_hash || strncmp(password_hash, "$argon2id$", 10))
        return res->rc = (err_set(err, "not an Argon2id hash"), DOMAIN_ERROR);
    S_acct a = {raw, password_hash, request_id, client, res};
    if (S_cmd_begin(d, err) < 0)
        return res->rc = DOMAIN_ERROR;
    int rc = S_password_in(d, &a, err);
    if (S_cmd_end(d, rc == DOMAIN_OK, err) < 0)
        rc = DOMAIN_ERROR;
    return res->rc = rc;
}

int domain_account_delete(domain *d, const char *raw, domain_result *res,
                          folio_err *err)
{
    S_res_init(res);
    char user_id[80], subject[VAULT_SUBJECT_LEN + 1], addr[VAULT_SUBJECT_LEN + 1];
    if (S_cmd_begin(d, err) < 0)
        return res->rc = DOMAIN_ERROR;
    int rc = S_session_member(d, raw, 1, user_id, subject, err);
    if (rc == DOMAIN_OK && S_account_address(d, user_id, addr, err) < 0)
        rc = DOMAIN_ERROR;
    if (rc == DOMAIN_OK) /* the same erasure as folio forget */
        rc = S_forget_both(d, subject, addr, res, err);
    if (S_cmd_end(d, rc == DOMAIN_OK, err) < 0)
        rc = DOMAIN_ERROR;
    if (rc == DOMAIN_OK) {
        if (d->group)
            d->scrub_pending = 1;
        else
            S_scrub(d);
    } else {
        res->position = 0;
        res->nchanged = 0;
    }
    res->id[0] = '\0';
    return res->rc = rc;
}

typedef struct S_export {
    domain *d;
    const char *stream, *subject, *addr; /* addr: "" or a changed address's */
    cJSON *list;
    folio_err *err;
    int failed;
} S_export;

/* Every event of the member's stream, and every other one sealed for
 * their subject (their contact requests, an earlier erasure). */
static int S_export_event(void *ud, const store_event *ev)
{
    S_export *x = ud;
    if (strcmp(ev->stream_id, x->stream) != 0) {
        if (!ev->data || (!strstr(ev->data, x->subject) &&
                          (!*x->addr || !strstr(ev->data, x->addr))))
            return 0;
        cJSON *data = cJSON_Parse(ev->data);
        const char *s = S_field_str(data, "subject");
        int mine = s && (!strcmp(s, x->subject) || (*x->addr && !strcmp(s, x->addr)));
        cJSON_Delete(data);
        if (!mine)
            return 0;
    }
    cJSON *o = NULL;
    if (domain_event_json(x->d, ev, 1, &o, x->err) < 0 ||
        !cJSON_AddItemToArray(x->list, o)) {
        cJSON_Delete(o);
        x->failed = 1;
        return 1;
    }
    return 0;
}

int domain_account_export(domain *d, const char *raw, cJSON **out,
                          folio_err *err)
{
    *out = NULL;
    char user_id[80], subject[VAULT_SUBJECT_LEN + 1], stream[96];
    char addr[VAULT_SUBJECT_LEN + 1];
    int rc = S_session_member(d, raw, 0, user_id, subject, err);
    if (rc != DOMAIN_OK)
        return rc == DOMAIN_ERROR ? -1 : 0;
    if (S_account_address(d, user_id, addr, err) < 0)
        return -1;
    snprintf(stream, sizeof stream, "user-%s", user_id);
    S_export x = {d, stream, subject, addr, cJSON_CreateArray(), err, 0};
    cJSON *doc = cJSON_CreateObject();
    if (!x.list || !doc) {
        cJSON_Delete(x.list);
        cJSON_Delete(doc);
        return err_set(err, "out of memory");
    }
    if (store_read_mentioning(d->st, stream, subject, addr, S_export_event, &x,
                              err) != 0 || x.failed) {
        cJSON_Delete(x.list);
        cJSON_Delete(doc);
        return -1;
    }
    if (!cJSON_AddStringToObject(doc, "user_id", user_id) ||
        !cJSON_AddStringToObject(doc, "site",
                                 d->cfg && d->cfg->base_url ? d->cfg->base_url
                                                            : "") ||
        !cJSON_AddItemToObject(doc, "events", x.list)) {
        cJSON_Delete(doc);
        return err_set(err, "out of memory");
    }
    *out = doc;
    return 1;
}

/* ---- a member's new address ------------------------------------------------
 * The member's subject (their vault key's name) stays what it was: what
 * they sent before stays theirs and is erased with them. The accounts
 * row keeps the new address's keyed hash, by which S_account_of finds
 * them; the address they left stays tied to them (S_account_of's 3). */

static int S_email_request_in(domain *d, const S_acct *a, const char *norm,
                              const char *addr, folio_err *err)
{
    char user_id[80], subject[VAULT_SUBJECT_LEN + 1], other[80] = "";
    int rc = S_session_member(d, a->raw, 1, user_id, subject, err);
    if (rc != DOMAIN_OK)
        return rc;
    int taken = S_account_of(d, addr, other, NULL, err);
    if (taken < 0)
        return DOMAIN_ERROR;
    if (taken == 2 && !strcmp(other, user_id)) {
        S_res_error(a->res, "email", "is your address already");
        return DOMAIN_INVALID;
    }
    /* another's address, or too many mails to it: nothing is sent, and the
     * answer is the same (it would tell who is a member) */
    int ok = taken && strcmp(other, user_id) ? 0
             : accounts_mail_allowed(store_db(d->st), addr, "email", d->now_ms(), err);
    if (ok <= 0)
        return ok < 0 ? DOMAIN_ERROR : DOMAIN_OK;
    char name[96] = "", stream[96];
    unsigned char hash[ACCOUNTS_HASH_LEN];
    if (projections_member_name(d->p, user_id, name, sizeof name, err) < 0)
        return DOMAIN_ERROR;
    long long expires = d->now_ms() + ACCOUNTS_VERIFY_TTL_MS;
    snprintf(stream, sizeof stream, "user-%s", user_id);
    cJSON *data = cJSON_CreateObject();
    if (!data || S_add_str(data, "user_id", user_id) < 0 ||
        S_add_str(data, "subject", subject) < 0 || S_add_str(data, "email", norm) < 0 ||
        S_add_str(data, "display_name", name) < 0 || S_add_nonce(d, data, hash) < 0 ||
        !cJSON_AddNumberToObject(data, "expires_at", (double)expires))
        rc = (err_set(err, "out of memory"), DOMAIN_ERROR);
    else
        rc = S_append(d, events_find("MemberEmailChangeRequested"), stream, STORE_ANY,
                      subject, data, a->request_id, a->client, a->res, err);
    cJSON_Delete(data);
    if (rc == DOMAIN_OK &&
        accounts_token_put(store_db(d->st), "email", user_id, hash, a->res->position,
                           expires, err) < 0)
        rc = DOMAIN_ERROR;
    a->res->nchanged = 0;
    return rc;
}

int domain_account_email_request(domain *d, const char *raw, const char *email,
                                 const char *request_id, const char *client,
                                 domain_result *res, folio_err *err)
{
    S_res_init(res);
    char norm[S_EMAIL_MAX], addr[VAULT_SUBJECT_LEN + 1];
    S_norm_email(res, events_find("MemberEmailChangeRequested"), email, norm);
    int rc = res->rc;
    if (rc == DOMAIN_OK) {
        vault_subject(d->v, norm, addr);
        S_acct a = {raw, NULL, request_id, client, res};
        if (S_cmd_begin(d, err) < 0)
            rc = DOMAIN_ERROR;
        else {
            rc = S_email_request_in(d, &a, norm, addr, err);
            if (S_cmd_end(d, rc == DOMAIN_OK, err) < 0)
                rc = DOMAIN_ERROR;
        }
    }
    sodium_memzero(norm, sizeof norm);
    if (rc != DOMAIN_OK && rc != DOMAIN_INVALID)
        res->nerrors = 0;
    res->id[0] = '\0';
    return res->rc = rc;
}

typedef struct S_addr_at {
    vault *v;
    char *email;     /* S_EMAIL_MAX */
    folio_err *err;
    int failed;
} S_addr_at;

/* The member's address as the latest of their stream's events that set
 * it says (the sign-up, its verification, a change). */
static int S_addr_event(void *ud, const store_event *ev)
{
    S_addr_at *x = ud;
    if (strcmp(ev->type, "UserRegistered") && strcmp(ev->type, "MemberVerified") &&
        strcmp(ev->type, "MemberEmailChanged"))
        return 0;
    eventview view;
    if (eventview_open(x->v, ev, 0, &view, x->err) < 0) {
        x->failed = 1;
        return 1;
    }
    const char *e = S_field_str(view.personal, "email");
    if (e && strcmp(e, "[redacted]"))
        S_copy(x->email, S_EMAIL_MAX, e);
    eventview_free(&view);
    return 0;
}

/* Keeps addr as user_id's address (NULL: the one of their subject). */
static int S_account_readdress(domain *d, const char *user_id, const char *subject,
                               const char *addr, folio_err *err)
{
    sqlite3 *db = store_db(d->st);
    sqlite3_stmt *st = NULL;
    /* a member from before the accounts table gets their row now */
    if (sqlite3_prepare_v2(db, "INSERT INTO accounts (user_id, subject, state,"
                           " created_at) VALUES (?1, ?2, 'verified', ?3)"
                           " ON CONFLICT DO NOTHING", -1, &st, NULL) != SQLITE_OK)
        return err_set(err, "accounts: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, d->now_ms());
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return err_set(err, "accounts: %s", sqlite3_errmsg(db));
    if ((strcmp(addr, subject)
             ? S_sql(d, "INSERT OR REPLACE INTO account_addresses (user_id, address)"
                     " VALUES (?1, ?2)", err, user_id, addr, (const char *)NULL)
             : S_sql(d, "DELETE FROM account_addresses WHERE user_id = ?1", err,
                     user_id, (const char *)NULL)) < 0)
        return -1;
    return S_sql(d, "DELETE FROM account_tokens WHERE user_id = ?1 AND kind = 'email'",
                 err, user_id, (const char *)NULL);
}

/* MemberEmailChanged: the mail consumer tells the old address. */
static int S_email_changed(domain *d, const char *user_id, const char *subject,
                           const char *email, const char *old, domain_result *res,
                           folio_err *err)
{
    char stream[96];
    snprintf(stream, sizeof stream, "user-%s", user_id);
    cJSON *data = cJSON_CreateObject();
    int rc;
    if (!data || S_add_str(data, "user_id", user_id) < 0 ||
        S_add_str(data, "subject", subject) < 0 || S_add_str(data, "email", email) < 0 ||
        S_add_str(data, "old_email", old) < 0)
        rc = (err_set(err, "out of memory"), DOMAIN_ERROR);
    else
        rc = S_append(d, events_find("MemberEmailChanged"), stream, STORE_ANY, subject,
                      data, NULL, NULL, res, err);
    cJSON_Delete(data);
    return rc;
}

static int S_email_confirm_in(domain *d, const char *token, domain_result *res,
                              folio_err *err)
{
    char user_id[80], subject[VAULT_SUBJECT_LEN + 1] = "", other[80] = "", stream[96];
    char addr[VAULT_SUBJECT_LEN + 1], now_email[S_EMAIL_MAX] = "";
    long long position = 0;
    int t = accounts_token_take(store_db(d->st), "email", token, d->now_ms(), user_id,
                                &position, err);
    if (t != 0)
        return t < 0 ? DOMAIN_ERROR : DOMAIN_NOT_FOUND;
    snprintf(stream, sizeof stream, "user-%s", user_id);
    S_one one = {.v = d->v, .err = err};
    S_addr_at cur = {d->v, now_email, err, 0};
    if ((store_read_all(d->st, position - 1, 1, S_one_event, &one, NULL, err) < 0 &&
         !one.found) ||
        store_read_stream(d->st, stream, S_first_subject, subject, err) < 0 ||
        store_read_stream(d->st, stream, S_addr_event, &cur, err) != 0 || cur.failed) {
        eventview_free(&one.view);
        return DOMAIN_ERROR;
    }
    const char *email = one.found ? S_field_str(one.view.personal, "email") : NULL;
    int rc = DOMAIN_NOT_FOUND;
    if (email && strcmp(email, "[redacted]") && *subject && *now_email) {
        vault_subject(d->v, email, addr);
        int taken = S_account_of(d, addr, other, NULL, err);
        if (taken < 0)
            rc = DOMAIN_ERROR;
        else if (!taken || !strcmp(other, user_id)) /* still free, or theirs */
            rc = S_account_readdress(d, user_id, subject, addr, err) < 0
                     ? DOMAIN_ERROR
                     : S_email_changed(d, user_id, subject, email, now_email, res, err);
    }
    eventview_free(&one.view);
    sodium_memzero(now_email, sizeof now_email);
    return rc;
}

int domain_account_email_confirm(domain *d, const char *token, domain_result *res,
                                 folio_err *err)
{
    S_res_init(res);
    if (S_cmd_begin(d, err) < 0)
        return res->rc = DOMAIN_ERROR;
    int rc = S_email_confirm_in(d, token, res, err);
    if (S_cmd_end(d, rc == DOMAIN_OK, err) < 0)
        rc = DOMAIN_ERROR;
    res->nchanged = 0; /* no public page shows an address */
    res->id[0] = '\0';
    return res->rc = rc;
}

/* ---- the owner's pages (web_admin) -------------------------------------- */

projections *domain_projections(domain *d) { return d->p; }
vault *domain_vault(domain *d) { return d->v; }

int domain_member_get(domain *d, const char *user_id, cJSON **out, folio_err *err)
{
    *out = NULL;
    if (!user_id || !*user_id)
        return DOMAIN_NOT_FOUND;
    S_at a = {d, cJSON_CreateArray(), err, 0};
    if (!a.personal)
        return err_set(err, "out of memory"), DOMAIN_ERROR;
    if (projections_member_rows(d->p, user_id, S_member_view, &a, err) < 0) {
        cJSON_Delete(a.personal);
        return DOMAIN_ERROR;
    }
    *out = cJSON_DetachItemFromArray(a.personal, 0);
    cJSON_Delete(a.personal);
    return *out ? DOMAIN_OK : DOMAIN_NOT_FOUND;
}

/* By id, through the member's own address: one erasure, whoever asks. */
int domain_member_forget(domain *d, const char *user_id, domain_result *res,
                         folio_err *err)
{
    cJSON *m = NULL;
    S_res_init(res);
    int rc = domain_member_get(d, user_id, &m, err);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(m, "email");
    if (rc == DOMAIN_OK && (!cJSON_IsString(e) || !strcmp(e->valuestring, "[redacted]")))
        rc = DOMAIN_NOT_FOUND;
    if (rc == DOMAIN_OK)
        rc = domain_forget(d, e->valuestring, res, err);
    if (m && cJSON_IsString(e))
        sodium_memzero(e->valuestring, strlen(e->valuestring));
    cJSON_Delete(m);
    if (rc == DOMAIN_OK) {
        /* the erased member's page and the counts */
        res->nchanged = 0;
        res->changed[res->nchanged++] = "community";
        res->changed[res->nchanged++] = "stats";
        res->changed[res->nchanged++] = "community.members";
    }
    return res->rc = rc;
}

/* var/last-backup: when and where the last `folio backup` went, for the
 * health page. A note only: a backup that cannot be noted is still made. */
static int S_backup_note(domain *d, const char *path)
{
    char note[S_NOTE_PATH], at[32];
    folio_err err = {{0}};
    struct stat st;
    long long bytes = stat(path, &st) == 0 ? (long long)st.st_size : -1;
    util_format_iso_ms(util_now_ms(), at);
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    if (o && cJSON_AddStringToObject(o, "at", at) && cJSON_AddStringToObject(o, "file", path) &&
        cJSON_AddNumberToObject(o, "bytes", (double)bytes))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    int rc = -1;
    if (text && util_path(note, sizeof note, &err, "%s/last-backup", d->cfg->var_dir) == 0)
        rc = util_write_atomic_mode(note, text, strlen(text), 0600, 0, &err);
    free(text);
    return rc;
}

cJSON *domain_last_backup(const folio_config *cfg)
{
    char note[S_NOTE_PATH], *text = NULL;
    size_t len = 0;
    folio_err err = {{0}};
    if (util_path(note, sizeof note, &err, "%s/last-backup", cfg->var_dir) != 0 ||
        util_read_file(note, &text, &len, &err) != 0)
        return NULL;
    cJSON *o = cJSON_ParseWithLength(text, len);
    free(text);
    if (o && !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

int domain_member_by_email(domain *d, const char *email, char user_id[80], folio_err *err)
{
    long long rank = 0;
    return S_member_by_email(d, email, user_id, &rank, err);
}

/* A pending sign-up's row: its first event (UserRegistered) opened. */
static int S_pending_row(domain *d, const char *user_id, long long key, long long created,
                         cJSON *arr, folio_err *err)
{
    char stream[96], at[32];
    snprintf(stream, sizeof stream, "user-%s", user_id);
    S_at a = {d, NULL, err, 0};
    if (store_read_stream(d->st, stream, S_at_event, &a, err) < 0 || a.failed) {
        cJSON_Delete(a.personal);
        return -1;
    }
    util_format_iso_ms(created, at);
    cJSON *o = cJSON_CreateObject();
    int ok = o && a.personal && cJSON_AddStringToObject(o, "user_id", user_id) &&
             !S_copy_field(o, "email", a.personal, "email") &&
             !S_copy_field(o, "name", a.personal, "display_name") &&
             cJSON_AddStringToObject(o, "joined", at) &&
             cJSON_AddBoolToObject(o, "verified", 0) &&
             cJSON_AddNumberToObject(o, "key", (double)key);
    cJSON_Delete(a.personal);
    return S_add_row(arr, o, ok, err);
}

cJSON *domain_pending_page(domain *d, long long before, int limit, folio_err *err)
{
    sqlite3 *db = store_db(d->st);
    sqlite3_stmt *st = NULL;
    cJSON *arr = cJSON_CreateArray();
    if (!arr || sqlite3_prepare_v2(db, "SELECT rowid, user_id, created_at FROM accounts"
                                   " WHERE state = 'pending' AND rowid < ?1"
                                   " ORDER BY rowid DESC LIMIT ?2", -1, &st, NULL) != SQLITE_OK) {
        cJSON_Delete(arr);
        err_set(err, "accounts: %s", arr ? sqlite3_errmsg(db) : "out of memory");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, before > 0 ? before : (long long)(~0ULL >> 1));
    sqlite3_bind_int(st, 2, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 1);
        if (S_pending_row(d, id ? id : "", sqlite3_column_int64(st, 0),
                          sqlite3_column_int64(st, 2), arr, err) < 0) {
            rc = SQLITE_ABORT;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        if (rc != SQLITE_ABORT)
            err_set(err, "accounts: %s", sqlite3_errmsg(db));
        cJSON_Delete(arr);
        return NULL;
    }
    return arr;
}

int domain_pending_count(domain *d, long long *n, folio_err *err)
{
    sqlite3 *db = store_db(d->st);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM accounts WHERE state = 'pending'", -1,
                           &st, NULL) != SQLITE_OK)
        return err_set(err, "accounts: %s", sqlite3_errmsg(db));
    int rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : err_set(err, "accounts: %s", sqlite3_errmsg(db));
}

cJSON *domain_data_at(domain *d, long long position, folio_err *err)
{
    return S_data_at(d, position, err);
}
