/* theme — see theme.h. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "theme.h"

#define S_NAME_MAX 64
#define S_VALUE_MAX 512

const char *theme_datadir(const char *rel)
{
    static char found[PATH_MAX];
    const char *cand[] = {getenv("FOLIO_THEME_DIR"), FOLIO_DATADIR, FOLIO_SRCDIR};
    for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++) {
        char t[PATH_MAX];
        if (!cand[i] || !*cand[i] ||
            snprintf(t, sizeof t, "%s/%s", cand[i], rel) >= (int)sizeof t)
            continue;
        if (util_is_dir(t) || util_is_file(t)) {
            snprintf(found, sizeof found, "%s", cand[i]);
            return found;
        }
    }
    return NULL;
}

/* A folder name, never a path: the name comes from folio.yml, and
 * "../../etc" must not pick a folder outside the places looked in. */
static int S_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > S_NAME_MAX || s[0] == '.')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

/* SITE/themes/NAME, then DIR/themes/NAME for the data directories. */
static int S_find(const folio_config *cfg, const char *name, char *dir, size_t n,
                  folio_err *err)
{
    char rel[PATH_MAX];
    if (util_path(dir, n, err, "%s/themes/%s", cfg->site_dir, name) != 0)
        return -1;
    if (util_is_dir(dir))
        return 1;
    if (util_path(rel, sizeof rel, err, "themes/%s", name) != 0)
        return -1;
    const char *data = theme_datadir(rel);
    if (!data)
        return 0;
    return util_path(dir, n, err, "%s/%s", data, rel) == 0 ? 1 : -1;
}

/* theme.yml's params, else its folio.yml's: the theme's defaults. */
static cJSON *S_theme_params(const char *dir, folio_err *err)
{
    static const char *const files[] = {"theme.yml", "folio.yml"};
    for (size_t i = 0; i < 2; i++) {
        char path[PATH_MAX], *src;
        size_t len;
        if (util_path(path, sizeof path, err, "%s/%s", dir, files[i]) != 0)
            return NULL;
        if (!util_is_file(path))
            continue;
        if (util_read_file(path, &src, &len, err) != 0)
            return NULL;
        cJSON *raw = config_yaml_to_json(path, 1, src, len, err);
        free(src);
        if (!raw)
            return NULL;
        cJSON *p = cJSON_DetachItemFromObjectCaseSensitive(raw, "params");
        cJSON_Delete(raw);
        if (p && !cJSON_IsObject(p)) {
            cJSON_Delete(p);
            err_set(err, "%s: params: expected a mapping", path);
            return NULL;
        }
        return p ? p : cJSON_CreateObject();
    }
    return cJSON_CreateObject();
}

/* over's keys onto base, mappings merged key by key. */
static int S_merge(cJSON *base, const cJSON *over)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, over) {
        cJSON *old = cJSON_GetObjectItemCaseSensitive(base, it->string);
        if (cJSON_IsObject(old) && cJSON_IsObject(it)) {
            if (S_merge(old, it) != 0)
                return -1;
            continue;
        }
        cJSON *copy = cJSON_Duplicate(it, 1);
        if (!copy)
            return -1;
        if (old ? !cJSON_ReplaceItemInObjectCaseSensitive(base, it->string, copy)
                : !cJSON_AddItemToObject(base, it->string, copy)) {
            cJSON_Delete(copy);
            return -1;
        }
    }
    return 0;
}

/* ---- checked params --------------------------------------------------- */

static int S_hex_colour(const char *v)
{
    size_t n = strlen(v + 1);
    if (v[0] != '#' || (n != 3 && n != 4 && n != 6 && n != 8))
        return 0;
    for (const char *c = v + 1; *c; c++)
        if (!isxdigit((unsigned char)*c))
            return 0;
    return 1;
}

/* A CSS colour that cannot leave its declaration: #hex, a keyword, or a
 * colour function over numbers, units, commas, spaces and slashes. */
static int S_colour_ok(const char *v)
{
    static const char *const fns[] = {"rgb(", "rgba(", "hsl(", "hsla(", "hwb(", "lab(",
                                      "lch(", "oklab(", "oklch("};
    size_t n = strlen(v);
    if (n == 0 || n > 64)
        return 0;
    if (v[0] == '#')
        return S_hex_colour(v);
    size_t k = 0;
    while (v[k] >= 'a' && v[k] <= 'z')
        k++;
    if (k == n)
        return n >= 3;
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
        size_t fl = strlen(fns[i]);
        if (strncmp(v, fns[i], fl) != 0 || v[n - 1] != ')')
            continue;
        for (size_t j = fl; j + 1 < n; j++)
            if (!isalnum((unsigned char)v[j]) && !strchr(".%, /+-", v[j]))
                return 0;
        return 1;
    }
    return 0;
}

static int S_check_colour(const cJSON *params, const char *key, folio_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, key);
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring))
        return 0;
    if (!cJSON_IsString(v) || !S_colour_ok(v->valuestring))
        return err_set(err, "folio.yml: params.%s: expected a CSS colour such as \"#0a5c58\", "
                       "\"rebeccapurple\" or \"oklch(55%% 0.1 180)\"", key);
    return 0;
}

/* Text a link may carry: printable, no spaces, quotes or angle brackets. */
static int S_url_chars(const char *v)
{
    for (const unsigned char *c = (const unsigned char *)v; *c; c++)
        if (*c <= 0x20 || *c == 0x7f || strchr("\"'<>`\\", *c))
            return 0;
    return 1;
}

static int S_handle_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 100)
        return 0;
    for (; *v; v++)
        if (!isalnum((unsigned char)*v) && !strchr("._-", *v))
            return 0;
    return 1;
}

static int S_is_http(const char *v)
{
    return !strncmp(v, "https://", 8) || !strncmp(v, "http://", 7);
}

typedef struct S_network {
    const char *key, *label, *prefix; /* prefix: a handle's URL, NULL: URL only */
    int me;                           /* rel="me", for profile verification */
} S_network;

static const S_network S_networks[] = {
    {"github", "GitHub", "https://github.com/", 0},
    {"gitlab", "GitLab", "https://gitlab.com/", 0},
    {"codeberg", "Codeberg", "https://codeberg.org/", 0},
    {"mastodon", "Mastodon", NULL, 1},
    {"linkedin", "LinkedIn", "https://www.linkedin.com/in/", 0},
    {"bluesky", "Bluesky", "https://bsky.app/profile/", 0},
    {"email", "E-mail", NULL, 0},
    {"website", "Website", NULL, 1},
};

/* @user@host, Mastodon's way of writing an account, as its URL. */
static int S_mastodon(const char *v, buf *url)
{
    const char *at = v[0] == '@' ? strchr(v + 1, '@') : NULL;
    if (!at)
        return -1;
    char user[128];
    size_t ul = (size_t)(at - v - 1);
    if (ul == 0 || ul >= sizeof user)
        return -1;
    memcpy(user, v + 1, ul);
    user[ul] = '\0';
    const char *host = at + 1;
    if (!S_handle_ok(user) || !S_handle_ok(host) || !strchr(host, '.'))
        return -1;
    return buf_printf(url, "https://%s/@%s", host, user);
}

static int S_email_ok(const char *v)
{
    const char *at = strchr(v, '@');
    return at && at != v && !strchr(at + 1, '@') && strchr(at + 1, '.') && S_url_chars(v) &&
           strlen(v) <= 254;
}

/* One social link: a URL (http or https), or the network's handle. */
static int S_social_url(const S_network *nw, const char *v, buf *url)
{
    if (!strcmp(nw->key, "email"))
        return S_email_ok(v) ? buf_printf(url, "mailto:%s", v) : -1;
    if (S_is_http(v))
        return S_url_chars(v) ? buf_puts(url, v) : -1;
    if (!strcmp(nw->key, "mastodon"))
        return S_mastodon(v, url);
    if (!nw->prefix || !S_handle_ok(v[0] == '@' ? v + 1 : v))
        return -1;
    return buf_printf(url, "%s%s", nw->prefix, v[0] == '@' ? v + 1 : v);
}

static const S_network *S_network_of(const char *key)
{
    for (size_t i = 0; i < sizeof S_networks / sizeof *S_networks; i++)
        if (!strcmp(S_networks[i].key, key))
            return &S_networks[i];
    return NULL;
}

static int S_social_item(cJSON *out, const S_network *nw, const char *v, folio_err *err)
{
    buf url = BUF_INIT;
    if (strlen(v) > S_VALUE_MAX || S_social_url(nw, v, &url) != 0) {
        buf_free(&url);
        if (!strcmp(nw->key, "email"))
            return err_set(err, "folio.yml: params.social.email: expected an e-mail address");
        return err_set(err, "folio.yml: params.social.%s: expected %s", nw->key,
                       !strcmp(nw->key, "mastodon") ? "@user@server or an https:// URL"
                       : nw->prefix ? "a user name or an https:// URL"
                                    : "an https:// URL");
    }
    cJSON *o = cJSON_CreateObject();
    int rc = !o || !cJSON_AddStringToObject(o, "network", nw->key) ||
             !cJSON_AddStringToObject(o, "label", nw->label) ||
             !cJSON_AddStringToObject(o, "url", url.ptr) ||
             !cJSON_AddBoolToObject(o, "me", nw->me) || !cJSON_AddItemToArray(out, o);
    buf_free(&url);
    if (rc) {
        cJSON_Delete(o);
        return err_set(err, "out of memory");
    }
    return 0;
}

/* params.social {network: handle or URL}, in the order written. */
static int S_social(theme *t, folio_err *err)
{
    if (!(t->social = cJSON_CreateArray()))
        return err_set(err, "out of memory");
    const cJSON *soc = cJSON_GetObjectItemCaseSensitive(t->params, "social");
    if (!soc || cJSON_IsNull(soc))
        return 0;
    if (!cJSON_IsObject(soc))
        return err_set(err, "folio.yml: params.social: expected a mapping such as "
                            "{github: NAME, mastodon: \"@NAME@SERVER\"}");
    const cJSON *it;
    cJSON_ArrayForEach(it, soc) {
        const S_network *nw = S_network_of(it->string);
        if (!nw) {
            buf names = BUF_INIT;
            int rc = 0;
            for (size_t i = 0; rc == 0 && i < sizeof S_networks / sizeof *S_networks; i++)
                rc = buf_printf(&names, "%s%s", i ? ", " : "", S_networks[i].key);
            err_set(err, "folio.yml: params.social.%s: unknown network (known: %s)",
                    it->string, rc == 0 && names.ptr ? names.ptr : "see docs/templates.md");
            buf_free(&names);
            return -1;
        }
        if (cJSON_IsNull(it) || (cJSON_IsString(it) && !*it->valuestring))
            continue; /* switched off over the theme's default */
        if (!cJSON_IsString(it))
            return err_set(err, "folio.yml: params.social.%s: expected text", it->string);
        if (S_social_item(t->social, nw, it->valuestring, err) != 0)
            return -1;
    }
    return 0;
}

/* params.avatar: a file of static/ (the site's or the theme's), as /PATH. */
static int S_avatar(theme *t, const folio_config *cfg, folio_err *err)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(t->params, "avatar");
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring))
        return 0;
    const char *a = cJSON_IsString(v) ? v->valuestring : "";
    const char *rel = a + (a[0] == '/');
    char path[PATH_MAX];
    if (!*rel || rel[0] == '/' || strstr(rel, "..") || strchr(rel, ':') || !S_url_chars(rel))
        return err_set(err, "folio.yml: params.avatar: expected a path in static/ such as "
                            "\"img/me.jpg\" (images are served by the site itself)");
    if (theme_file(t, cfg, "static", rel, path, sizeof path) != 1)
        return err_set(err, "folio.yml: params.avatar: no file static/%s in the site or "
                            "its theme", rel);
    char url[PATH_MAX];
    snprintf(url, sizeof url, "/%s", rel);
    return cJSON_SetValuestring(v, url) ? 0 : err_set(err, "out of memory");
}

static int S_footer(const cJSON *params, folio_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, "footer");
    if (v && !cJSON_IsNull(v) && !cJSON_IsString(v))
        return err_set(err, "folio.yml: params.footer: expected text");
    return 0;
}

/* date_format: strftime's conversions, checked on a date so that a typo
 * fails the build rather than printing nothing. */
static int S_date_format(theme *t, const folio_config *cfg, folio_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg->raw, "date_format");
    const char *f = cJSON_IsString(v) && *v->valuestring ? v->valuestring : "%-d %B %Y";
    if (v && !cJSON_IsString(v))
        return err_set(err, "folio.yml: date_format: expected text such as \"%%-d %%B %%Y\"");
    if (strlen(f) > 64)
        return err_set(err, "folio.yml: date_format: longer than 64 characters");
    for (const char *c = f; *c; c++) {
        if (*c != '%')
            continue;
        c++;
        if (*c == '-')
            c++;
        if (!*c || !strchr("aAbBdeHIjmMpSyYZ%", *c))
            return err_set(err, "folio.yml: date_format: '%%%c' is not one of %%a %%A %%b "
                           "%%B %%d %%-d %%e %%H %%I %%j %%m %%M %%p %%S %%y %%Y %%Z %%%%",
                           *c ? *c : ' ');
    }
    if (!(t->date_format = util_strdup(f)))
        return err_set(err, "out of memory");
    return 0;
}

int theme_rtl(const char *language)
{
    static const char *const rtl[] = {"ar", "arc", "ckb", "dv", "fa", "ha", "he", "iw",
                                      "khw", "ks", "ku", "ps", "sd", "syr", "ug", "ur", "yi"};
    if (!language)
        return 0;
    size_t n = strcspn(language, "-_");
    for (size_t i = 0; i < sizeof rtl / sizeof *rtl; i++)
        if (strlen(rtl[i]) == n && !strncasecmp(language, rtl[i], n))
            return 1;
    return 0;
}

static int S_locate(theme *t, const folio_config *cfg, folio_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg->raw, "theme");
    if (cJSON_IsFalse(v))
        return 0; /* theme: false, a site that brings all its own files */
    int named = v != NULL && !cJSON_IsNull(v);
    if (named && !cJSON_IsString(v))
        return err_set(err, "folio.yml: theme: expected the name of a folder in themes/");
    const char *name = named ? v->valuestring : "default";
    if (!S_name_ok(name))
        return err_set(err, "folio.yml: theme: '%s' is not a theme name (letters, digits, "
                       "'-', '_' and '.')", name);
    char dir[PATH_MAX];
    int found = S_find(cfg, name, dir, sizeof dir, err);
    if (found < 0)
        return -1;
    if (!found && named)
        return err_set(err, "folio.yml: theme: no theme '%s' (looked in %s/themes/%s/ and "
                       "in the themes installed with folio: %s/themes/)", name,
                       cfg->site_dir, name, FOLIO_DATADIR);
    if (!found)
        return 0; /* a site that brings all its own templates */
    char sub[PATH_MAX];
    if (!(t->name = util_strdup(name)) || !(t->dir = util_strdup(dir)))
        return err_set(err, "out of memory");
    if (util_path(sub, sizeof sub, err, "%s/templates", dir) != 0)
        return -1;
    if (util_is_dir(sub) && !(t->templates_dir = util_strdup(sub)))
        return err_set(err, "out of memory");
    if (util_path(sub, sizeof sub, err, "%s/static", dir) != 0)
        return -1;
    if (util_is_dir(sub) && !(t->static_dir = util_strdup(sub)))
        return err_set(err, "out of memory");
    return 0;
}

int theme_open(const folio_config *cfg, theme *t, folio_err *err)
{
    memset(t, 0, sizeof *t);
    if (S_locate(t, cfg, err) != 0)
        goto fail;
    t->params = t->dir ? S_theme_params(t->dir, err) : cJSON_CreateObject();
    if (!t->params) {
        if (!t->dir)
            err_set(err, "out of memory");
        goto fail;
    }
    if (S_merge(t->params, cfg->params) != 0) {
        err_set(err, "out of memory");
        goto fail;
    }
    if (S_check_colour(t->params, "accent", err) != 0 ||
        S_check_colour(t->params, "accent_dark", err) != 0 || S_footer(t->params, err) != 0 ||
        S_social(t, err) != 0 || S_avatar(t, cfg, err) != 0 || S_date_format(t, cfg, err) != 0)
        goto fail;
    t->rtl = theme_rtl(cfg->language);
    char *p = cJSON_PrintUnformatted(t->params);
    buf b = BUF_INIT;
    if (!p || buf_printf(&b, "%s|%s", t->dir ? t->dir : "", p) != 0) {
        free(p);
        buf_free(&b);
        err_set(err, "out of memory");
        goto fail;
    }
    free(p);
    t->stamp = buf_detach(&b, NULL);
    return 0;
fail:
    theme_close(t);
    return -1;
}

void theme_close(theme *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->dir);
    free(t->templates_dir);
    free(t->static_dir);
    free(t->stamp);
    free(t->date_format);
    cJSON_Delete(t->params);
    cJSON_Delete(t->social);
    memset(t, 0, sizeof *t);
}

size_t theme_dirs(const theme *t, const folio_config *cfg, const char *area,
                  const char *dirs[2])
{
    int tpl = !strcmp(area, "templates");
    const char *own = tpl ? cfg->templates_dir : cfg->static_dir;
    const char *its = t ? (tpl ? t->templates_dir : t->static_dir) : NULL;
    size_t n = 0;
    if (util_is_dir(own))
        dirs[n++] = own;
    if (its && (!n || strcmp(its, own) != 0))
        dirs[n++] = its;
    return n;
}

int theme_file(const theme *t, const folio_config *cfg, const char *area, const char *rel,
               char *path, size_t n)
{
    const char *dirs[2];
    size_t nd = theme_dirs(t, cfg, area, dirs);
    folio_err e;
    for (size_t i = 0; i < nd; i++)
        if (util_path(path, n, &e, "%s/%s", dirs[i], rel) == 0 && util_is_file(path))
            return 1;
    return 0;
}

int theme_format_date(const theme *t, long long ms, char *out, size_t n)
{
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    if (!gmtime_r(&s, &tm))
        return -1;
    const char *f = t && t->date_format ? t->date_format : "%-d %B %Y";
    /* strftime answers 0 both for "too long" and for an empty result */
    if (strftime(out, n, f, &tm) == 0)
        out[0] = '\0';
    return 0;
}

int theme_css(const theme *t, buf *out)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(t->params, "accent");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(t->params, "accent_dark");
    int rc = buf_puts(out, "/* folio: the colours of folio.yml's params */\n");
    if (rc == 0 && cJSON_IsString(a) && *a->valuestring)
        rc = buf_printf(out, ":root {\n  --accent: %s;\n  --link: %s;\n}\n", a->valuestring,
                        a->valuestring);
    if (rc == 0 && cJSON_IsString(d) && *d->valuestring)
        rc = buf_printf(out, "@media (prefers-color-scheme: dark) {\n  :root {\n"
                             "    --accent: %s;\n    --link: %s;\n  }\n}\n",
                        d->valuestring, d->valuestring);
    return rc;
}
