/* folio render — renders one Mustache template to stdout, for trying out
 * a theme's templates without building the whole site. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "template.h"
#include "util.h"

static void S_usage(FILE *f)
{
    fputs("usage: folio render TEMPLATE [--data FILE.json] [--partials DIR]\n"
          "\n"
          "Renders the Mustache template TEMPLATE to standard output.\n"
          "\n"
          "  --data FILE.json  the context to render with (default: {});\n"
          "                    '-' reads it from standard input\n"
          "  --partials DIR    where {{>NAME}} and {{<NAME}} are read from:\n"
          "                    DIR/NAME.mustache (default: TEMPLATE's directory)\n"
          "  -h, --help        show this help\n"
          "\n"
          "A partial that does not exist is an error, as it is in 'folio build'.\n",
          f);
}

/* Partials read from a directory on first use and kept for the render. */
typedef struct S_partial {
    char *name;
    tpl *t;
    struct S_partial *next;
} S_partial;

typedef struct S_dir_loader {
    const char *dir;
    S_partial *loaded;
} S_dir_loader;

/* Names are paths under the directory; nothing may climb out of it. */
static int S_name_ok(const char *name)
{
    if (!name[0] || name[0] == '/')
        return 0;
    for (const char *p = name; *p;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += n + (slash ? 1 : 0);
    }
    return 1;
}

static const tpl *S_load(void *ud, const char *name, folio_err *err)
{
    S_dir_loader *l = ud;
    for (S_partial *p = l->loaded; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p->t;
    if (!S_name_ok(name)) {
        err_set(err, "bad partial name '%s'", name);
        return NULL;
    }
    char path[4096];
    char *text;
    size_t len;
    if (util_path(path, sizeof path, err, "%s/%s.mustache", l->dir, name) != 0)
        return NULL;
    if (util_read_file(path, &text, &len, err) != 0) {
        err_prefix(err, "partial '%s'", name);
        return NULL;
    }
    S_partial *p = calloc(1, sizeof *p);
    tpl *t = tpl_compile(path, text, len, err);
    free(text);
    if (!p || !t || !(p->name = util_strdup(name))) {
        if (t)
            err_set(err, "out of memory");
        tpl_free(t);
        free(p);
        return NULL;
    }
    p->t = t;
    p->next = l->loaded;
    l->loaded = p;
    return t;
}

static void S_loader_free(S_dir_loader *l)
{
    while (l->loaded) {
        S_partial *p = l->loaded;
        l->loaded = p->next;
        tpl_free(p->t);
        free(p->name);
        free(p);
    }
}

static int S_read_stdin(char **out, size_t *len, folio_err *err)
{
    buf b = BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        if (buf_add(&b, chunk, n) != 0) {
            buf_free(&b);
            return err_set(err, "out of memory");
        }
    if (ferror(stdin)) {
        buf_free(&b);
        return err_set(err, "reading standard input failed");
    }
    *out = buf_detach(&b, len);
    return 0;
}

static cJSON *S_load_data(const char *path, folio_err *err)
{
    char *text;
    size_t len;
    int rc = strcmp(path, "-") == 0 ? S_read_stdin(&text, &len, err)
                                    : util_read_file(path, &text, &len, err);
    if (rc != 0)
        return NULL;
    const char *end = NULL;
    cJSON *data = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!data) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        size_t line = 1;
        for (size_t i = 0; i < off && i < len; i++)
            line += text[i] == '\n';
        err_set(err, "%s:%zu: not valid JSON", strcmp(path, "-") ? path : "<stdin>", line);
    }
    free(text);
    return data;
}

/* TEMPLATE's directory, for partials by default. */
static char *S_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return util_strdup(".");
    if (slash == path)
        return util_strdup("/");
    return util_strndup(path, (size_t)(slash - path));
}

typedef struct S_args {
    const char *tpl_path, *data_path, *partials;
} S_args;

/* Returns 0 to go on, 1 when --help was shown, -1 on a usage error. */
static int S_parse_args(int argc, char **argv, S_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char **slot = NULL;
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            S_usage(stdout);
            return 1;
        } else if (!strcmp(arg, "--data")) {
            slot = &a->data_path;
        } else if (!strcmp(arg, "--partials")) {
            slot = &a->partials;
        } else if (!strncmp(arg, "--data=", 7)) {
            a->data_path = arg + 7;
        } else if (!strncmp(arg, "--partials=", 11)) {
            a->partials = arg + 11;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "folio render: unknown option '%s'\n", arg);
            return -1;
        } else if (!a->tpl_path) {
            a->tpl_path = arg;
        } else {
            fprintf(stderr, "folio render: one template at a time ('%s')\n", arg);
            return -1;
        }
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "folio render: %s needs a value\n", arg);
                return -1;
            }
            *slot = argv[++i];
        }
    }
    if (!a->tpl_path) {
        fputs("folio render: no template given\n", stderr);
        return -1;
    }
    return 0;
}

static int S_render(const S_args *a, buf *out, folio_err *err)
{
    char *text = NULL, *dir = NULL;
    size_t len;
    tpl *t = NULL;
    cJSON *data = NULL;
    S_dir_loader loader = {NULL, NULL};
    int rc = -1;

    if (util_read_file(a->tpl_path, &text, &len, err) != 0)
        goto done;
    if (!(t = tpl_compile(a->tpl_path, text, len, err)))
        goto done;
    data = a->data_path ? S_load_data(a->data_path, err) : cJSON_CreateObject();
    if (!data) {
        if (!a->data_path)
            err_set(err, "out of memory");
        goto done;
    }
    if (!a->partials && !(dir = S_dirname(a->tpl_path))) {
        err_set(err, "out of memory");
        goto done;
    }
    loader.dir = a->partials ? a->partials : dir;
    tpl_render_opts opts = {.loader = S_load, .loader_ud = &loader};
    rc = tpl_render(t, data, &opts, out, err);
done:
    S_loader_free(&loader);
    cJSON_Delete(data);
    tpl_free(t);
    free(text);
    free(dir);
    return rc;
}

int cmd_render(int argc, char **argv)
{
    S_args a = {NULL, NULL, NULL};
    int prc = S_parse_args(argc, argv, &a);
    if (prc != 0) {
        if (prc < 0)
            fputs("usage: folio render TEMPLATE [--data FILE.json] [--partials DIR]\n", stderr);
        return prc > 0 ? 0 : 1;
    }
    folio_err err = {{0}};
    buf out = BUF_INIT;
    if (S_render(&a, &out, &err) != 0) {
        fprintf(stderr, "folio render: %s\n", err.msg);
        buf_free(&out);
        return 1;
    }
    int rc = 0;
    if ((out.len && fwrite(out.ptr, 1, out.len, stdout) != out.len) ||
        fflush(stdout) != 0) {
        perror("folio render: writing the output");
        rc = 1;
    }
    buf_free(&out);
    return rc;
}
