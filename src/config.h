/* config — folio.yml: the site's settings, with defaults for everything.
 *
 *   title: "Ada Example"          base_url: "http://127.0.0.1:8080/"
 *   author: "Ada"                 language: "en"
 *   description: "..."            params: { any: values }
 *   paginate: 10                  # list pages
 *   store:  { synchronous: full }  # or normal
 *   forms:  { body_limit: (forms_body_limit()), rate: 5, burst: 10 }   # per client, per minute
 *   fcgi:   { socket: var/folio.sock, socket_mode: "0660", tcp: "127.0.0.1:9000",
 *             threads: 4, staleness_ms: 100 }
 *
 *   menu:   [{name: Projects, url: /projects/}]
 *   paths:  { content, templates, static, public, var, db, master_key }
 *
 * Relative paths are relative to the site directory (db and master_key to
 * var). base_url always ends with exactly one '/'. */
#ifndef FOLIO_CONFIG_H
#define FOLIO_CONFIG_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include "util.h"

typedef struct folio_config {
    char *site_dir;       /* absolute */
    char *file;           /* path of folio.yml, or NULL when absent */
    char *title, *base_url, *author, *language, *description;
    cJSON *params;        /* never NULL */
    cJSON *raw;           /* the whole file as JSON; never NULL */
    int paginate;         /* items per list page, default 10 */
    /* directories, absolute */
    char *content_dir, *templates_dir, *static_dir, *public_dir, *var_dir;
    char *db_path;        /* var/folio.db */
    char *master_key_path;/* var/master.key */
    /* store */
    int sync_full;        /* 1: synchronous=FULL (default), 0: NORMAL */
    /* forms and folio-fcgi */
    size_t body_limit;    /* default forms_body_limit(): the largest legal form */
    double rate_per_min;  /* default 5 */
    double rate_burst;    /* default 10 */
    char *socket_path;    /* default var/folio.sock */
    unsigned socket_mode; /* default 0660 */
    char *tcp;            /* "HOST:PORT" or NULL */
    int threads;          /* default 4 */
    int staleness_ms;     /* default 100 */
} folio_config;

/* Loads SITE/folio.yml (a missing file gives the defaults). Errors name
 * the file and line. */
int config_load(const char *site_dir, folio_config *cfg, folio_err *err);
void config_free(folio_config *cfg);

/* YAML text to JSON (scalars become strings, except that plain true/false,
 * null, and numbers become JSON values; a number keeps the text the author
 * wrote in its valuestring). Used for folio.yml and front
 * matter. first_line is the file line where src starts, for messages
 * "FILE:LINE: reason". */
cJSON *config_yaml_to_json(const char *file, int first_line, const char *src,
                           size_t len, folio_err *err);
/* The same, and *lines (when non-NULL) receives {KEY: LINE} for the
 * top-level keys, so that callers checking types can name the line. */
cJSON *config_yaml_to_json_lines(const char *file, int first_line, const char *src,
                                 size_t len, cJSON **lines, folio_err *err);

#endif
