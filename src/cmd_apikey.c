/* folio apikey: the keys of /api/events — made (shown once), listed,
 * revoked. Only a hash of each key is kept (apikeys.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "apikeys.h"
#include "cmd.h"
#include "config.h"
#include "store.h"
#include "util.h"

static const char S_help[] =
    "usage: folio apikey create --name NAME --scope events:read"
    " [--scope personal:read] [-s SITE]\n"
    "       folio apikey list [-s SITE]\n"
    "       folio apikey revoke NAME [-s SITE]\n"
    "\n"
    "Keys for GET /api/events (send them as \"Authorization: Bearer KEY\").\n"
    "create prints the new key once, on the last line: folio keeps only a\n"
    "hash of it. Scopes: events:read reads the log with personal fields as\n"
    "\"[personal]\"; personal:read adds them decrypted (it goes with\n"
    "events:read: alone it opens nothing yet). list shows each key's\n"
    "name, scopes, when it was made, last used and revoked (never the key).\n"
    "revoke stops a key at once; its name stays taken.\n"
    "\n"
    "  -n, --name NAME    1 to 64 letters, digits, '.', '_' or '-'\n"
    "      --scope S      events:read or personal:read (repeat for both)\n"
    "  -s, --site SITE    the site directory (default .)\n";

static int S_usage(void)
{
    fputs("usage: folio apikey create --name NAME --scope SCOPE... |"
          " list | revoke NAME  [-s SITE]\n", stderr);
    return 2;
}

static int S_fail(const folio_err *err)
{
    fprintf(stderr, "folio apikey: %s\n", err->msg);
    return 1;
}

static void S_when(long long ms, char out[32])
{
    if (ms <= 0)
        snprintf(out, 32, "-");
    else
        util_format_iso_ms(ms, out);
}

static int S_print_key(void *ud, const apikeys_info *k)
{
    (void)ud;
    char scopes[64], created[32], used[32], revoked[32];
    apikeys_scopes_text(k->scopes, scopes, sizeof scopes);
    S_when(k->created_at, created);
    S_when(k->last_used_at, used);
    S_when(k->revoked_at, revoked);
    printf("%-20s %-26s %-24s %-24s %s\n", k->name, scopes, created, used,
           revoked);
    return 0;
}

static int S_run(store *st, const char *verb, const char *name, unsigned scopes)
{
    folio_err err = {{0}};
    sqlite3 *db = store_db(st);
    if (!strcmp(verb, "create")) {
        char key[APIKEYS_KEY_LEN + 1];
        int rc = apikeys_create(db, name, scopes, key, &err);
        if (rc < 0)
            return S_fail(&err);
        if (rc == 1) {
            fprintf(stderr, "folio apikey: a key named '%s' exists (revoked"
                    " keys keep their names): pick another name\n", name);
            return 1;
        }
        char text[64];
        apikeys_scopes_text(scopes, text, sizeof text);
        printf("created API key '%s' (%s); it is shown only now, keep it"
               " secret:\n%s\n", name, text, key);
        sodium_memzero(key, sizeof key);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (!strcmp(verb, "revoke")) {
        int rc = apikeys_revoke(db, name, &err);
        if (rc < 0)
            return S_fail(&err);
        if (rc == 1) {
            fprintf(stderr, "folio apikey: no key named '%s'\n", name);
            return 1;
        }
        printf("revoked API key '%s'\n", name);
        return 0;
    }
    printf("%-20s %-26s %-24s %-24s %s\n", "NAME", "SCOPES", "CREATED",
           "LAST USED", "REVOKED");
    if (apikeys_list(db, S_print_key, NULL, &err) != 0)
        return S_fail(&err);
    return fflush(stdout) == 0 ? 0 : 1;
}

int cmd_apikey(int argc, char **argv)
{
    static const struct option longs[] = {
        {"name", required_argument, NULL, 'n'},
        {"scope", required_argument, NULL, 'S'},
        {"site", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *site_dir = ".", *name = NULL;
    unsigned scopes = 0;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":n:s:h", longs, NULL)) != -1) {
        switch (ch) {
        case 'n': name = optarg; break;
        case 's': site_dir = optarg; break;
        case 'h': return fputs(S_help, stdout), 0;
        case 'S':
            if (!apikeys_scope_bit(optarg)) {
                fprintf(stderr, "folio apikey: --scope: unknown scope '%s'"
                        " (there are events:read and personal:read)\n", optarg);
                return 2;
            }
            scopes |= apikeys_scope_bit(optarg);
            break;
        default: return S_usage();
        }
    }
    const char *verb = optind < argc ? argv[optind] : "";
    if (!strcmp(verb, "create")) {
        if (optind + 1 != argc || !name || !scopes)
            return S_usage();
    } else if (!strcmp(verb, "revoke")) {
        if (optind + 2 != argc || name || scopes)
            return S_usage();
        name = argv[optind + 1];
    } else if (strcmp(verb, "list") != 0 || optind + 1 != argc || name || scopes) {
        return S_usage();
    }
    folio_config cfg;
    folio_err err = {{0}};
    if (config_load(site_dir, &cfg, &err) != 0)
        return S_fail(&err);
    if (sodium_init() < 0) {
        config_free(&cfg);
        return S_fail(&(folio_err){"libsodium cannot start"});
    }
    store_opts so = {cfg.sync_full, 0};
    store *st = NULL;
    int rc;
    if (util_mkdirs(cfg.var_dir, 0750, &err) != 0 ||
        store_open(cfg.db_path, &so, &st, &err) != 0)
        rc = S_fail(&err);
    else
        rc = S_run(st, verb, name, scopes);
    store_close(st);
    config_free(&cfg);
    return rc;
}
