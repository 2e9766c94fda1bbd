/* config — folio.yml and the YAML-to-JSON conversion front matter shares. */
#include "config.h"
#include "forms.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

/* Deep YAML is either a mistake or an attack on the stack. */
#define S_MAX_DEPTH 64

typedef struct S_yaml {
    const char *file;
    int first_line;
    size_t len;
    yaml_parser_t parser;
    folio_err *err;
    cJSON *lines; /* top-level key -> line, or NULL */
} S_yaml;

static int S_line(const S_yaml *y, const yaml_mark_t *m)
{
    return y->first_line + (int)m->line;
}

static int S_parser_error(S_yaml *y)
{
    const yaml_parser_t *p = &y->parser;
    yaml_mark_t m = p->problem ? p->problem_mark : p->context_mark;
    /* Something left open is found only at the end of the input; the line
     * where it was opened is the one the owner has to fix. */
    if (p->context && m.index >= y->len)
        m = p->context_mark;
    return err_set(y->err, "%s:%d: %s%s%s", y->file, S_line(y, &m),
                   p->problem ? p->problem : "bad YAML",
                   p->context ? " " : "", p->context ? p->context : "");
}

static int S_is_number(const char *s, size_t len, double *out)
{
    if (len == 0 || len > 64)
        return 0;
    /* YAML-looking numbers only: no hex, inf or nan from strtod. */
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' ||
              c == 'e' || c == 'E'))
            return 0;
    }
    char tmp[65];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end != tmp + len || errno != 0)
        return 0;
    *out = v;
    return 1;
}

static cJSON *S_scalar(const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        static const char *const S_true[] = {"true", "True", "TRUE", NULL};
        static const char *const S_false[] = {"false", "False", "FALSE", NULL};
        static const char *const S_null[] = {"null", "Null", "NULL", "~", NULL};
        for (int i = 0; S_true[i]; i++)
            if (!strcmp(s, S_true[i]))
                return cJSON_CreateTrue();
        for (int i = 0; S_false[i]; i++)
            if (!strcmp(s, S_false[i]))
                return cJSON_CreateFalse();
        for (int i = 0; S_null[i]; i++)
            if (!strcmp(s, S_null[i]))
                return cJSON_CreateNull();
        if (len == 0)
            return cJSON_CreateNull();
        double d;
        if (S_is_number(s, len, &d)) {
            /* The text as written rides along in valuestring (cJSON frees
             * it with the node): "1e100" stays "1e100" where shown. */
            cJSON *n = cJSON_CreateNumber(d);
            if (n && !(n->valuestring = util_strndup(s, len))) {
                cJSON_Delete(n);
                return NULL;
            }
            return n;
        }
    }
    if (strlen(s) != len)
        return NULL; /* an embedded NUL: refuse rather than truncate */
    return cJSON_CreateString(s);
}

static cJSON *S_node(S_yaml *y, yaml_event_t *ev, int depth);

static int S_next(S_yaml *y, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&y->parser, ev))
        return S_parser_error(y);
    return 0;
}

static cJSON *S_mapping(S_yaml *y, int depth)
{
    cJSON *obj = cJSON_CreateObject();
    if (!obj) {
        err_set(y->err, "%s: out of memory", y->file);
        return NULL;
    }
    for (;;) {
        yaml_event_t kev;
        if (S_next(y, &kev) != 0)
            goto fail;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return obj;
        }
        if (kev.type != YAML_SCALAR_EVENT) {
            err_set(y->err, "%s:%d: keys must be plain strings", y->file,
                    S_line(y, &kev.start_mark));
            yaml_event_delete(&kev);
            goto fail;
        }
        char *key = util_strndup((const char *)kev.data.scalar.value,
                                 kev.data.scalar.length);
        int line = S_line(y, &kev.start_mark);
        yaml_event_delete(&kev);
        if (!key) {
            err_set(y->err, "%s: out of memory", y->file);
            goto fail;
        }
        if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
            err_set(y->err, "%s:%d: duplicate key '%s'", y->file, line, key);
            free(key);
            goto fail;
        }
        yaml_event_t vev;
        if (S_next(y, &vev) != 0) {
            free(key);
            goto fail;
        }
        cJSON *val = S_node(y, &vev, depth + 1);
        yaml_event_delete(&vev);
        if (!val) {
            free(key);
            goto fail;
        }
        if (depth == 0 && y->lines && !cJSON_AddNumberToObject(y->lines, key, line)) {
            cJSON_Delete(val);
            free(key);
            err_set(y->err, "%s: out of memory", y->file);
            goto fail;
        }
        if (!cJSON_AddItemToObject(obj, key, val)) {
            cJSON_Delete(val);
            free(key);
            err_set(y->err, "%s: out of memory", y->file);
            goto fail;
        }
        free(key);
    }
fail:
    cJSON_Delete(obj);
    return NULL;
}

static cJSON *S_sequence(S_yaml *y, int depth)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr) {
        err_set(y->err, "%s: out of memory", y->file);
        return NULL;
    }
    for (;;) {
        yaml_event_t ev;
        if (S_next(y, &ev) != 0)
            break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return arr;
        }
        cJSON *val = S_node(y, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!val)
            break;
        if (!cJSON_AddItemToArray(arr, val)) {
            cJSON_Delete(val);
            err_set(y->err, "%s: out of memory", y->file);
            break;
        }
    }
    cJSON_Delete(arr);
    return NULL;
}

static cJSON *S_node(S_yaml *y, yaml_event_t *ev, int depth)
{
    if (depth > S_MAX_DEPTH) {
        err_set(y->err, "%s:%d: nested too deeply", y->file, S_line(y, &ev->start_mark));
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        cJSON *v = S_scalar(ev);
        if (!v)
            err_set(y->err, "%s:%d: unreadable value", y->file,
                    S_line(y, &ev->start_mark));
        return v;
    }
    case YAML_MAPPING_START_EVENT:
        return S_mapping(y, depth);
    case YAML_SEQUENCE_START_EVENT:
        return S_sequence(y, depth);
    case YAML_ALIAS_EVENT:
        err_set(y->err, "%s:%d: YAML aliases are not supported", y->file,
                S_line(y, &ev->start_mark));
        return NULL;
    default:
        err_set(y->err, "%s:%d: unexpected YAML", y->file, S_line(y, &ev->start_mark));
        return NULL;
    }
}

cJSON *config_yaml_to_json_lines(const char *file, int first_line, const char *src,
                                 size_t len, cJSON **lines, folio_err *err)
{
    S_yaml y = {.file = file, .first_line = first_line, .len = len, .err = err};
    cJSON *root = NULL;
    if (lines) {
        *lines = NULL;
        if (!(y.lines = cJSON_CreateObject())) {
            err_set(err, "%s: out of memory", file);
            return NULL;
        }
    }
    if (!util_utf8_valid(src, len)) {
        err_set(err, "%s:%d: not valid UTF-8", file, first_line);
        cJSON_Delete(y.lines);
        return NULL;
    }
    if (!yaml_parser_initialize(&y.parser)) {
        err_set(err, "%s: out of memory", file);
        cJSON_Delete(y.lines);
        return NULL;
    }
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)src, len);
    yaml_event_t ev;
    int done = 0;
    while (!done) {
        if (S_next(&y, &ev) != 0)
            goto fail;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default:
            if (root) {
                err_set(err, "%s:%d: only one YAML document is allowed", file,
                        S_line(&y, &ev.start_mark));
                yaml_event_delete(&ev);
                goto fail;
            }
            if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length == 0 &&
                ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
                root = cJSON_CreateObject(); /* an empty document */
            } else if (ev.type != YAML_MAPPING_START_EVENT) {
                err_set(err, "%s:%d: expected a mapping of keys to values", file,
                        S_line(&y, &ev.start_mark));
                yaml_event_delete(&ev);
                goto fail;
            } else {
                root = S_node(&y, &ev, 0);
            }
            if (!root) {
                yaml_event_delete(&ev);
                goto fail;
            }
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&y.parser);
    if (!root && !(root = cJSON_CreateObject())) {
        err_set(err, "%s: out of memory", file);
        cJSON_Delete(y.lines);
        return NULL;
    }
    if (lines)
        *lines = y.lines;
    return root;
fail:
    yaml_parser_delete(&y.parser);
    cJSON_Delete(root);
    cJSON_Delete(y.lines);
    return NULL;
}

cJSON *config_yaml_to_json(const char *file, int first_line, const char *src,
                           size_t len, folio_err *err)
{
    return config_yaml_to_json_lines(file, first_line, src, len, NULL, err);
}

/* ---- folio.yml ------------------------------------------------------- */

typedef struct S_ctx {
    const char *file;
    const cJSON *lines;
    folio_err *err;
} S_ctx;

static int S_key_line(const S_ctx *c, const char *key)
{
    const cJSON *l = c->lines ? cJSON_GetObjectItemCaseSensitive(c->lines, key) : NULL;
    return cJSON_IsNumber(l) ? l->valueint : 1;
}

static int S_get_str(const S_ctx *c, const cJSON *obj, const char *key,
                     const char *def, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char num[64];
    const char *s = def;
    if (v && !cJSON_IsNull(v)) {
        if (cJSON_IsString(v)) {
            s = v->valuestring;
        } else if (cJSON_IsNumber(v)) {
            snprintf(num, sizeof num, "%.17g", v->valuedouble);
            s = num;
        } else {
            return err_set(c->err, "%s:%d: %s: expected a string", c->file,
                           S_key_line(c, key), key);
        }
    }
    free(*out);
    *out = s ? util_strdup(s) : NULL;
    if (s && !*out)
        return err_set(c->err, "%s: out of memory", c->file);
    return 0;
}

static int S_get_num(const S_ctx *c, const cJSON *obj, const char *key,
                     double min, double max, double *inout)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < min || v->valuedouble > max)
        return err_set(c->err, "%s:%d: %s: expected a number from %g to %g", c->file,
                       S_key_line(c, key), key, min, max);
    *inout = v->valuedouble;
    return 0;
}

static int S_sub(const S_ctx *c, const cJSON *root, const char *key, const cJSON **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsObject(v))
        return err_set(c->err, "%s:%d: %s: expected a mapping", c->file,
                       S_key_line(c, key), key);
    *out = v;
    return 0;
}

/* Joins a relative path onto the site directory. */
static int S_abs(const folio_config *cfg, const char *p, char **out, folio_err *err)
{
    buf b = BUF_INIT;
    int rc = p[0] == '/' ? buf_puts(&b, p) : buf_printf(&b, "%s/%s", cfg->site_dir, p);
    if (rc != 0) {
        buf_free(&b);
        return err_set(err, "out of memory");
    }
    while (b.len > 1 && b.ptr[b.len - 1] == '/')
        b.ptr[--b.len] = '\0';
    free(*out);
    *out = buf_detach(&b, NULL);
    return 0;
}

static int S_paths(const S_ctx *c, folio_config *cfg, const cJSON *root)
{
    const cJSON *paths;
    if (S_sub(c, root, "paths", &paths) != 0)
        return -1;
    static const struct { const char *key, *def; size_t off; } S_dirs[] = {
        {"content", "content", offsetof(folio_config, content_dir)},
        {"templates", "templates", offsetof(folio_config, templates_dir)},
        {"static", "static", offsetof(folio_config, static_dir)},
        {"public", "public", offsetof(folio_config, public_dir)},
        {"var", "var", offsetof(folio_config, var_dir)},
    };
    for (size_t i = 0; i < sizeof S_dirs / sizeof S_dirs[0]; i++) {
        char *rel = NULL;
        char **slot = (char **)((char *)cfg + S_dirs[i].off);
        if (S_get_str(c, paths, S_dirs[i].key, S_dirs[i].def, &rel) != 0)
            return -1;
        int rc = S_abs(cfg, rel, slot, c->err);
        free(rel);
        if (rc != 0)
            return -1;
    }
    char *rel = NULL;
    if (S_get_str(c, paths, "db", "folio.db", &rel) != 0)
        return -1;
    buf b = BUF_INIT;
    int rc = rel[0] == '/' ? buf_puts(&b, rel) : buf_printf(&b, "%s/%s", cfg->var_dir, rel);
    free(rel);
    if (rc != 0 || !(cfg->db_path = buf_detach(&b, NULL)))
        return err_set(c->err, "out of memory");
    rel = NULL;
    if (S_get_str(c, paths, "master_key", "master.key", &rel) != 0)
        return -1;
    rc = rel[0] == '/' ? buf_puts(&b, rel) : buf_printf(&b, "%s/%s", cfg->var_dir, rel);
    free(rel);
    if (rc != 0 || !(cfg->master_key_path = buf_detach(&b, NULL)))
        return err_set(c->err, "out of memory");
    return 0;
}

static int S_store_forms(const S_ctx *c, folio_config *cfg, const cJSON *root)
{
    const cJSON *store, *forms, *fcgi;
    if (S_sub(c, root, "store", &store) != 0 || S_sub(c, root, "forms", &forms) != 0 ||
        S_sub(c, root, "fcgi", &fcgi) != 0)
        return -1;
    char *sync = NULL;
    if (S_get_str(c, store, "synchronous", "full", &sync) != 0)
        return -1;
    if (!strcmp(sync, "full") || !strcmp(sync, "FULL"))
        cfg->sync_full = 1;
    else if (!strcmp(sync, "normal") || !strcmp(sync, "NORMAL"))
        cfg->sync_full = 0;
    else {
        free(sync);
        return err_set(c->err, "%s:%d: store.synchronous: expected full or normal",
                       c->file, S_key_line(c, "store"));
    }
    free(sync);
    double v = (double)cfg->body_limit;
    if (S_get_num(c, forms, "body_limit", 256, 16 * 1024 * 1024, &v) != 0)
        return -1;
    cfg->body_limit = (size_t)v;
    if (S_get_num(c, forms, "rate", 0, 1e6, &cfg->rate_per_min) != 0 ||
        S_get_num(c, forms, "burst", 0, 1e6, &cfg->rate_burst) != 0)
        return -1;
    char *sock = NULL;
    if (S_get_str(c, fcgi, "socket", "var/folio.sock", &sock) != 0)
        return -1;
    int rc = S_abs(cfg, sock, &cfg->socket_path, c->err);
    free(sock);
    if (rc != 0)
        return -1;
    char *mode = NULL;
    if (S_get_str(c, fcgi, "socket_mode", "0660", &mode) != 0)
        return -1;
    char *end;
    unsigned long m = strtoul(mode, &end, 8);
    if (*mode == '\0' || *end != '\0' || m > 0777) {
        free(mode);
        return err_set(c->err, "%s:%d: fcgi.socket_mode: expected an octal mode such as \"0660\"",
                       c->file, S_key_line(c, "fcgi"));
    }
    free(mode);
    cfg->socket_mode = (unsigned)m;
    if (S_get_str(c, fcgi, "tcp", NULL, &cfg->tcp) != 0)
        return -1;
    v = cfg->threads;
    if (S_get_num(c, fcgi, "threads", 1, 256, &v) != 0)
        return -1;
    cfg->threads = (int)v;
    v = cfg->staleness_ms;
    if (S_get_num(c, fcgi, "staleness_ms", 0, 60000, &v) != 0)
        return -1;
    cfg->staleness_ms = (int)v;
    return 0;
}

static int S_apply(const S_ctx *c, folio_config *cfg, const cJSON *root)
{
    if (S_get_str(c, root, "title", "My folio", &cfg->title) != 0 ||
        S_get_str(c, root, "base_url", "http://127.0.0.1:8080/", &cfg->base_url) != 0 ||
        S_get_str(c, root, "author", "", &cfg->author) != 0 ||
        S_get_str(c, root, "language", "en", &cfg->language) != 0 ||
        S_get_str(c, root, "description", "", &cfg->description) != 0)
        return -1;
    /* The environment wins over folio.yml, so one site can be served on
     * another address (./quickstart run with FOLIO_PORT, the tests) without
     * editing its settings; the forms' same-origin check depends on it. */
    const char *env = getenv("FOLIO_BASE_URL");
    if (env && *env) {
        if (strncmp(env, "http://", 7) != 0 && strncmp(env, "https://", 8) != 0)
            return err_set(c->err, "FOLIO_BASE_URL: expected an http:// or https:// URL");
        char *copy = util_strdup(env);
        if (!copy)
            return err_set(c->err, "out of memory");
        free(cfg->base_url);
        cfg->base_url = copy;
    }
    /* Always one trailing slash, so that every user of base_url can rely on it. */
    size_t n = strlen(cfg->base_url);
    while (n > 0 && cfg->base_url[n - 1] == '/')
        cfg->base_url[--n] = '\0';
    char *slashed = malloc(n + 2);
    if (!slashed)
        return err_set(c->err, "out of memory");
    memcpy(slashed, cfg->base_url, n);
    memcpy(slashed + n, "/", 2);
    free(cfg->base_url);
    cfg->base_url = slashed;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params");
    if (params && !cJSON_IsNull(params)) {
        if (!cJSON_IsObject(params))
            return err_set(c->err, "%s:%d: params: expected a mapping", c->file,
                           S_key_line(c, "params"));
        cJSON_Delete(cfg->params);
        if (!(cfg->params = cJSON_Duplicate(params, 1)))
            return err_set(c->err, "out of memory");
    }
    double pg = cfg->paginate;
    if (S_get_num(c, root, "paginate", 1, 100000, &pg) != 0)
        return -1;
    cfg->paginate = (int)pg;
    const cJSON *menu = cJSON_GetObjectItemCaseSensitive(root, "menu");
    if (menu && !cJSON_IsNull(menu)) {
        const cJSON *it;
        int ok = cJSON_IsArray(menu);
        cJSON_ArrayForEach(it, menu) {
            if (!ok)
                break;
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
            const cJSON *url = cJSON_GetObjectItemCaseSensitive(it, "url");
            ok = cJSON_IsString(nm) && cJSON_IsString(url);
        }
        if (!ok)
            return err_set(c->err, "%s:%d: menu: expected a list of {name, url}",
                           c->file, S_key_line(c, "menu"));
    }
    if (S_paths(c, cfg, root) != 0)
        return -1;
    return S_store_forms(c, cfg, root);
}

int config_load(const char *site_dir, folio_config *cfg, folio_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->paginate = 10;
    cfg->sync_full = 1;
    cfg->body_limit = forms_body_limit(); /* the largest legal form */
    cfg->rate_per_min = 5;
    cfg->rate_burst = 10;
    cfg->socket_mode = 0660;
    cfg->threads = 4;
    cfg->staleness_ms = 100;
    char *abs = realpath(site_dir, NULL);
    if (!abs)
        return err_set(err, "%s: %s", site_dir, strerror(errno));
    cfg->site_dir = abs;
    cfg->params = cJSON_CreateObject();
    if (!cfg->params)
        goto oom;
    char path[PATH_MAX];
    if (util_path(path, sizeof path, err, "%s/folio.yml", abs) != 0)
        goto fail;
    cJSON *lines = NULL;
    if (util_is_file(path)) {
        char *src;
        size_t len;
        if (util_read_file(path, &src, &len, err) != 0)
            goto fail;
        if (!(cfg->file = util_strdup(path))) {
            free(src);
            goto oom;
        }
        cfg->raw = config_yaml_to_json_lines(path, 1, src, len, &lines, err);
        free(src);
        if (!cfg->raw)
            goto fail;
    } else if (!(cfg->raw = cJSON_CreateObject())) {
        goto oom;
    }
    S_ctx c = {cfg->file ? cfg->file : path, lines, err};
    int rc = S_apply(&c, cfg, cfg->raw);
    cJSON_Delete(lines);
    if (rc != 0)
        goto fail;
    return 0;
oom:
    err_set(err, "out of memory");
fail:
    config_free(cfg);
    return -1;
}

void config_free(folio_config *cfg)
{
    if (!cfg)
        return;
    char **strs[] = {&cfg->site_dir, &cfg->file, &cfg->title, &cfg->base_url,
                     &cfg->author, &cfg->language, &cfg->description,
                     &cfg->content_dir, &cfg->templates_dir, &cfg->static_dir,
                     &cfg->public_dir, &cfg->var_dir, &cfg->db_path,
                     &cfg->master_key_path, &cfg->socket_path, &cfg->tcp};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    cJSON_Delete(cfg->params);
    cJSON_Delete(cfg->raw);
    cfg->params = cfg->raw = NULL;
}
