/* folio inbox, folio members: the owner's tools for contact requests and
 * members. Every change is an event through the domain (the admin pages
 * use the same calls), so replay, check, --as-of and forget cover it.
 * Personal data is printed for the owner only: on the terminal, in JSON or
 * CSV (RFC 4180), never in a log line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "cmd.h"
#include "config.h"
#include "domain.h"
#include "util.h"

enum { S_PLAIN, S_JSON, S_CSV };

typedef struct S_owner {
    const char *name;     /* "inbox", "members" */
    const char *site_dir;
    int format;
    const char *status;   /* inbox filter; NULL: all */
    folio_config cfg;
    int cfg_loaded;
    domain *d;
} S_owner;

static int S_fail(const S_owner *o, const char *msg)
{
    fprintf(stderr, "folio %s: %s\n", o->name, msg);
    return 1;
}

static int S_open(S_owner *o)
{
    folio_err err = {{0}};
    if (config_load(o->site_dir, &o->cfg, &err) < 0)
        return S_fail(o, err.msg);
    o->cfg_loaded = 1;
    if (domain_open(&o->cfg, &o->d, &err) < 0)
        return S_fail(o, err.msg);
    return 0;
}

static void S_close(S_owner *o)
{
    domain_close(o->d);
    if (o->cfg_loaded)
        config_free(&o->cfg);
}

/* Options common to both commands; the remaining words stay in argv from
 * optind. Returns 0, or 2 after a usage message. */
static int S_options(S_owner *o, int argc, char **argv, const char *usage)
{
    static const struct option longs[] = {
        {"site", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, 'c'},        {"status", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    int ch;
    optind = 1;
    o->site_dir = ".";
    while ((ch = getopt_long(argc, argv, "s:h", longs, NULL)) != -1) {
        if (ch == 's')
            o->site_dir = optarg;
        else if (ch == 'j')
            o->format = S_JSON;
        else if (ch == 'c')
            o->format = S_CSV;
        else if (ch == 't' && !strcmp(o->name, "inbox"))
            o->status = strcmp(optarg, "all") ? optarg : NULL;
        else if (ch == 'h')
            return fputs(usage, stdout), 1;
        else
            return fprintf(stderr, "%s", usage), 2;
    }
    return 0;
}

/* ---- output --------------------------------------------------------------- */

/* One CSV field (RFC 4180): quoted when it holds a comma, a quote or a
 * line break, quotes doubled. */
static void S_csv_field(FILE *f, const char *s, int last)
{
    if (strpbrk(s, ",\"\r\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputs(last ? "\r\n" : ",", f);
}

static const char *S_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "yes" : "no";
    return "";
}

/* Prints rows (an array of objects) with the given columns: JSON Lines,
 * CSV with a header line, or plain tab-separated lines. */
static void S_print(const S_owner *o, const cJSON *rows, const char *const *cols)
{
    const cJSON *r;
    if (o->format == S_CSV)
        for (size_t i = 0; cols[i]; i++)
            S_csv_field(stdout, cols[i], !cols[i + 1]);
    cJSON_ArrayForEach(r, rows) {
        if (o->format == S_JSON) {
            char *line = cJSON_PrintUnformatted(r);
            if (line)
                puts(line);
            free(line);
            continue;
        }
        for (size_t i = 0; cols[i]; i++) {
            if (o->format == S_CSV)
                S_csv_field(stdout, S_str(r, cols[i]), !cols[i + 1]);
            else
                printf("%s%s", S_str(r, cols[i]), cols[i + 1] ? "\t" : "\n");
        }
    }
}

/* The outcome of a change: pages rendered again, or the refusal. */
static int S_outcome(S_owner *o, const domain_result *res, const folio_err *err,
                     const char *what)
{
    switch (res->rc) {
    case DOMAIN_OK:
        return cmd_rerender(&o->cfg, o->d, o->name, res->changed, res->nchanged);
    case DOMAIN_INVALID:
        for (size_t i = 0; i < res->nerrors; i++)
            fprintf(stderr, "%s: %s\n", res->errors[i].field, res->errors[i].message);
        return 1;
    case DOMAIN_NOT_FOUND:
        return S_fail(o, what);
    default:
        return S_fail(o, err->msg);
    }
}

/* ---- folio inbox ---------------------------------------------------------- */

static const char S_inbox_help[] =
    "usage: folio inbox [--status new|handled|archived|spam|all] [--json|--csv] [-s SITE]\n"
    "       folio inbox show ID [-s SITE]\n"
    "       folio inbox mark ID new|handled|archived|spam [-s SITE]\n"
    "\n"
    "Lists contact requests newest first, decrypted for the owner: id, received,\n"
    "status, name, e-mail, subject, page (all statuses unless --status). 'show'\n"
    "prints one request with its message; 'mark' records its new status (an\n"
    "event: ContactRequestStatusChanged).\n";

static const char *const S_inbox_cols[] = {"id", "received", "status", "name", "email",
                                           "subject", "page", NULL};

static int S_inbox_show(S_owner *o, const char *id)
{
    folio_err err = {{0}};
    cJSON *rows = domain_inbox(o->d, NULL, id, &err);
    if (!rows)
        return S_fail(o, err.msg);
    int rc = 0;
    const cJSON *r = cJSON_GetArrayItem(rows, 0);
    if (!r) {
        rc = S_fail(o, "no such contact request");
    } else if (o->format == S_JSON) {
        S_print(o, rows, S_inbox_cols);
    } else {
        for (size_t i = 0; S_inbox_cols[i]; i++)
            printf("%-9s %s\n", S_inbox_cols[i], S_str(r, S_inbox_cols[i]));
        printf("\n%s\n", S_str(r, "message"));
    }
    cJSON_Delete(rows);
    return rc;
}

int cmd_inbox(int argc, char **argv)
{
    S_owner o = {.name = "inbox"};
    int st = S_options(&o, argc, argv, S_inbox_help);
    if (st)
        return st == 1 ? 0 : st;
    const char *verb = optind < argc ? argv[optind] : NULL;
    int want = !verb ? 0 : !strcmp(verb, "show") ? 1 : !strcmp(verb, "mark") ? 2 : -1;
    if (want < 0 || argc - optind != want + (want ? 1 : 0))
        return fprintf(stderr, "%s", S_inbox_help), 2;
    if ((st = S_open(&o)) != 0) {
        S_close(&o);
        return st;
    }
    folio_err err = {{0}};
    if (want == 1) {
        st = S_inbox_show(&o, argv[optind + 1]);
    } else if (want == 2) {
        domain_result res;
        domain_contact_mark(o.d, argv[optind + 1], argv[optind + 2], &res, &err);
        st = S_outcome(&o, &res, &err, "no such contact request");
    } else {
        cJSON *rows = domain_inbox(o.d, o.status, NULL, &err);
        st = rows ? (S_print(&o, rows, S_inbox_cols), 0) : S_fail(&o, err.msg);
        cJSON_Delete(rows);
    }
    S_close(&o);
    return st;
}

/* ---- folio members import: CSV ---------------------------------------------- */

/* The next record of an RFC 4180 text at *p: up to 3 fields (more: *nf
 * counts them), each a NUL-terminated copy in fields (caller frees).
 * Returns 1 with a record, 0 at the end, -1 on a malformed quote. */
static int S_csv_record(const char **p, char *fields[3], int *nf)
{
    const char *s = *p;
    *nf = 0;
    if (!*s)
        return 0;
    buf f = BUF_INIT;
    for (;;) {
        buf_reset(&f);
        int err = buf_puts(&f, "");
        if (*s == '"') {
            for (s++;; s++) {
                if (!*s) {
                    buf_free(&f);
                    return -1;
                }
                if (*s == '"' && s[1] != '"')
                    break;
                if (*s == '"')
                    s++;
                err |= buf_add(&f, s, 1);
            }
            s++;
            if (*s && *s != ',' && *s != '\n' && *s != '\r') {
                buf_free(&f);
                return -1;
            }
        } else {
            size_t n = strcspn(s, ",\r\n");
            err |= buf_add(&f, s, n);
            s += n;
        }
        if (err) {
            buf_free(&f);
            return -1;
        }
        if (*nf < 3)
            fields[*nf] = util_strdup(f.ptr ? f.ptr : "");
        (*nf)++;
        if (*s == ',') {
            s++;
            continue;
        }
        break;
    }
    if (*s == '\r')
        s++;
    if (*s == '\n')
        s++;
    *p = s;
    buf_free(&f);
    return 1;
}

typedef struct S_line {
    int line;
    char *f[3];
    int nf;
    long long joined;
} S_line;

static void S_lines_free(S_line *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3 && k < v[i].nf; k++) {
            if (v[i].f[k])
                sodium_memzero(v[i].f[k], strlen(v[i].f[k]));
            free(v[i].f[k]);
        }
    free(v);
}

/* Reads and checks every line first: a bad line refuses the whole import
 * (each reported with its number), so a list is never half imported. */
static int S_import_read(const char *text, S_line **out, size_t *nout)
{
    S_line *v = NULL;
    size_t n = 0, cap = 0;
    int line = 1, bad = 0, rc;
    const char *p = text;
    for (;; line++) {
        S_line l = {.line = line};
        const char *before = p;
        if ((rc = S_csv_record(&p, l.f, &l.nf)) == 0)
            break;
        for (const char *c = before; c < p; c++) /* quoted line breaks */
            line += *c == '\n' && c + 1 < p;
        if (rc < 0) {
            fprintf(stderr, "line %d: a quote is not closed\n", l.line);
            bad = 1;
            break;
        }
        if (l.nf == 1 && !*l.f[0]) { /* an empty line */
            free(l.f[0]);
            continue;
        }
        if (n == cap) {
            S_line *nv = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof *v);
            if (!nv) {
                bad = 1;
                break;
            }
            v = nv;
        }
        v[n++] = l;
    }
    *out = v;
    *nout = n;
    return bad;
}

static int S_import_check(S_line *v, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        S_line *l = &v[i];
        if (i == 0 && l->nf >= 1 && !strcasecmp(l->f[0], "email")) {
            l->line = -1; /* the header */
            continue;
        }
        if (l->nf < 2 || l->nf > 3) {
            fprintf(stderr, "line %d: expected email,name[,joined]\n", l->line);
            bad = 1;
            continue;
        }
        if (l->nf == 3 && *l->f[2] && util_parse_time(l->f[2], &l->joined) != 0) {
            fprintf(stderr, "line %d: joined: expected a date (YYYY-MM-DD)\n", l->line);
            bad = 1;
        }
        domain_register_req req = {l->f[0], l->f[1], NULL, NULL, NULL, NULL, l->joined, 0};
        domain_result res;
        if (domain_check_register(&req, &res) != DOMAIN_OK) {
            for (size_t k = 0; k < res.nerrors; k++)
                fprintf(stderr, "line %d: %s: %s\n", l->line,
                        !strcmp(res.errors[k].field, "display_name") ? "name"
                                                                     : res.errors[k].field,
                        res.errors[k].message);
            bad = 1;
        }
    }
    return bad;
}

/* All of the list in one transaction: imported, or nothing. */
static int S_import_write(S_owner *o, S_line *v, size_t n)
{
    folio_err err = {{0}};
    long imported = 0, skipped = 0;
    if (domain_begin(o->d, &err) < 0)
        return S_fail(o, err.msg);
    for (size_t i = 0; i < n; i++) {
        if (v[i].line < 0)
            continue;
        domain_register_req req = {v[i].f[0], v[i].f[1], NULL, NULL, "import", NULL,
                                   v[i].joined, 0};
        domain_result res;
        int rc = domain_register(o->d, &req, &res, &err);
        if (rc == DOMAIN_ALREADY_REGISTERED) {
            skipped++;
        } else if (rc == DOMAIN_OK) {
            imported++;
        } else {
            domain_rollback(o->d);
            fprintf(stderr, "line %d: %s\n", v[i].line,
                    rc == DOMAIN_ERROR ? err.msg : "refused");
            return S_fail(o, "nothing was imported");
        }
    }
    if (domain_commit(o->d, &err) < 0)
        return S_fail(o, err.msg);
    printf("imported %ld, skipped %ld already members\n", imported, skipped);
    static const char *const all[] = {"community", "stats", "community.members"};
    return imported ? cmd_rerender(&o->cfg, o->d, o->name, all, 3) : 0;
}

static int S_import(S_owner *o, const char *file)
{
    char *text = NULL;
    size_t len = 0;
    folio_err err = {{0}};
    if (util_read_file(file, &text, &len, &err) < 0)
        return S_fail(o, err.msg);
    if (strlen(text) != len || !util_utf8_valid(text, len)) {
        free(text);
        return S_fail(o, "the file is not UTF-8 text");
    }
    S_line *v = NULL;
    size_t n = 0;
    int bad = S_import_read(text, &v, &n);
    sodium_memzero(text, len);
    free(text);
    bad |= S_import_check(v, n);
    int rc = bad ? S_fail(o, "nothing was imported") : S_import_write(o, v, n);
    S_lines_free(v, n);
    return rc;
}

/* ---- folio members ---------------------------------------------------------- */

static const char S_members_help[] =
    "usage: folio members [--json|--csv] [-s SITE]\n"
    "       folio members import FILE.csv [-s SITE]\n"
    "       folio members hide EMAIL | unhide EMAIL [-s SITE]\n"
    "       folio members role EMAIL owner|member [-s SITE]\n"
    "\n"
    "Lists every member in joining order, decrypted for the owner: e-mail,\n"
    "name, joined, hidden, role. 'import' adds the members of a CSV file\n"
    "(email,name[,joined]; a header line optional; no passwords): every line\n"
    "is checked first and one bad line refuses the whole file; an address that\n"
    "is a member already is skipped and counted. 'hide' takes a member's name\n"
    "off every public page (the account stays); 'role' makes a member an owner\n"
    "or takes it back: only here, never over the web.\n";

static const char *const S_member_cols[] = {"email", "name", "joined", "hidden", "role",
                                            "user_id", NULL};

int cmd_members(int argc, char **argv)
{
    S_owner o = {.name = "members"};
    int st = S_options(&o, argc, argv, S_members_help);
    if (st)
        return st == 1 ? 0 : st;
    const char *verb = optind < argc ? argv[optind] : NULL;
    int args = argc - optind - 1;
    int ok = !verb || ((!strcmp(verb, "import") || !strcmp(verb, "hide") ||
                        !strcmp(verb, "unhide")) && args == 1) ||
             (!strcmp(verb, "role") && args == 2);
    if (!ok)
        return fprintf(stderr, "%s", S_members_help), 2;
    if ((st = S_open(&o)) != 0) {
        S_close(&o);
        return st;
    }
    folio_err err = {{0}};
    domain_result res;
    if (!verb) {
        cJSON *rows = domain_members(o.d, &err);
        st = rows ? (S_print(&o, rows, S_member_cols), 0) : S_fail(&o, err.msg);
        cJSON_Delete(rows);
    } else if (!strcmp(verb, "import")) {
        st = S_import(&o, argv[optind + 1]);
    } else if (!strcmp(verb, "role")) {
        domain_member_role(o.d, argv[optind + 1], argv[optind + 2], &res, &err);
        st = S_outcome(&o, &res, &err, "no member has that address");
    } else {
        domain_member_hide(o.d, argv[optind + 1], !strcmp(verb, "hide"), &res, &err);
        st = S_outcome(&o, &res, &err, "no member has that address");
    }
    S_close(&o);
    return st;
}
