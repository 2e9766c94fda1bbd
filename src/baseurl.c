/* baseurl — var/build.json: the base URL of the last build. */
#include "baseurl.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define S_FILE "build.json"

/* base_url as folio.yml writes it (NULL when absent), compared without
 * trailing slashes: config_load always adds exactly one. */
static const char *S_yml_base_url(const folio_config *cfg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg->raw, "base_url");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int S_same_url(const char *a, const char *b)
{
    if (!a || !b)
        return !a && !b;
    size_t na = strlen(a), nb = strlen(b);
    while (na && a[na - 1] == '/')
        na--;
    while (nb && b[nb - 1] == '/')
        nb--;
    return na == nb && !memcmp(a, b, na);
}

static int S_path(const folio_config *cfg, char *out, size_t n, folio_err *err)
{
    return util_path(out, n, err, "%s/%s", cfg->var_dir, S_FILE);
}

int baseurl_record(const folio_config *cfg, folio_err *err)
{
    char path[4096];
    if (S_path(cfg, path, sizeof path, err) != 0 ||
        util_mkdirs(cfg->var_dir, 0700, err) != 0) /* private, as the store makes it */
        return -1;
    cJSON *o = cJSON_CreateObject();
    const char *yml = S_yml_base_url(cfg);
    if (!o || !cJSON_AddStringToObject(o, "base_url", cfg->base_url) ||
        !(yml ? cJSON_AddStringToObject(o, "config_base_url", yml)
              : cJSON_AddNullToObject(o, "config_base_url"))) {
        cJSON_Delete(o);
        return err_set(err, "out of memory");
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text)
        return err_set(err, "out of memory");
    int rc = util_write_atomic(path, text, strlen(text), 0, err);
    free(text);
    return rc;
}

int baseurl_apply(folio_config *cfg, folio_err *err)
{
    const char *env = getenv("FOLIO_BASE_URL");
    if (env && *env)
        return 0; /* told otherwise */
    char path[4096];
    if (S_path(cfg, path, sizeof path, err) != 0)
        return -1;
    if (!util_is_file(path))
        return 0; /* never built */
    char *src = NULL;
    size_t len = 0;
    if (util_read_file(path, &src, &len, err) != 0)
        return -1;
    cJSON *o = cJSON_ParseWithLength(src, len);
    free(src);
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(o, "base_url");
    const cJSON *yml = cJSON_GetObjectItemCaseSensitive(o, "config_base_url");
    int rc = 0;
    if (!cJSON_IsString(url) || (strncmp(url->valuestring, "http://", 7) &&
                                 strncmp(url->valuestring, "https://", 8))) {
        rc = err_set(err, "%s: expected {\"base_url\": \"http(s)://...\"}; "
                     "run folio build to write it again", path);
    } else if (S_same_url(cJSON_IsString(yml) ? yml->valuestring : NULL,
                          S_yml_base_url(cfg))) {
        char *copy = util_strdup(url->valuestring);
        if (!copy) {
            rc = err_set(err, "out of memory");
        } else {
            free(cfg->base_url);
            cfg->base_url = copy;
        }
    }
    cJSON_Delete(o);
    return rc;
}
