/* folio restore — puts a backup back as the site's event store, refusing
 * anything that is not a sound folio store before touching the current
 * one, and keeping the current one as a copy. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "domain.h"
#include "store.h"
#include "util.h"

static const char S_help[] =
    "usage: folio restore FILE [-s SITE] [--force]\n"
    "\n"
    "Replaces the site's event store (var/folio.db) with the backup FILE\n"
    "(made by 'folio backup'). FILE is checked first: an SQLite database\n"
    "with folio's event log, a schema this folio knows, and clean integrity\n"
    "checks; anything else is refused and nothing is touched. The current\n"
    "database is kept as var/folio.db.before-restore-TIME, then the copy of\n"
    "FILE is renamed into place. An older schema is brought up to date, and\n"
    "the projections rebuilt, when the store is next opened.\n"
    "\n"
    "Stop folio-fcgi first (systemctl stop folio-fcgi): while another\n"
    "process has the database open, restore refuses. --force restores\n"
    "anyway; the running process keeps writing to the old file until it\n"
    "is restarted. Afterwards run 'folio build' and start folio-fcgi.\n"
    "\n"
    "The backup's personal data opens only with the var/master.key of the\n"
    "site it came from: restore that file too when it is not this one.\n"
    "\n"
    "  -s, --site SITE    the site directory (default .)\n"
    "      --force        restore while another process has the store open\n";

static int S_usage(void)
{
    fputs("usage: folio restore FILE [-s SITE] [--force]\n", stderr);
    return 2;
}

/* Opens the restored store as every command does, so that migrations and
 * projection rebuilds happen now rather than on the first visitor. */
static int S_open_once(const folio_config *cfg, folio_err *err)
{
    if (!util_is_file(cfg->master_key_path)) {
        printf("note: %s is missing: copy the master key that belongs to this "
               "backup there before folio-fcgi starts (without it a new key is "
               "made and the backup's personal data stays unreadable)\n",
               cfg->master_key_path);
        return 0;
    }
    domain *d = NULL;
    int rc = domain_open(cfg, &d, err);
    domain_close(d);
    return rc < 0 ? -1 : 0;
}

int cmd_restore(int argc, char **argv)
{
    static const struct option longs[] = {
        {"site", required_argument, NULL, 's'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *site_dir = ".";
    int force = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "s:h", longs, NULL)) != -1) {
        switch (ch) {
        case 's': site_dir = optarg; break;
        case 'f': force = 1; break;
        case 'h': fputs(S_help, stdout); return 0;
        default: return S_usage();
        }
    }
    if (optind + 1 != argc)
        return S_usage();
    const char *from = argv[optind];
    folio_config cfg;
    folio_err err = {{0}};
    if (config_load(site_dir, &cfg, &err) != 0) {
        fprintf(stderr, "folio restore: %s\n", err.msg);
        return 1;
    }
    int status = 1;
    char kept[4096];
    store_file_info info = {0};
    if (util_mkdirs(cfg.var_dir, 0700, &err) != 0 ||
        store_restore(cfg.db_path, from, force, kept, sizeof kept, &info, &err) != 0) {
        fprintf(stderr, "folio restore: %s\n", err.msg);
        goto done;
    }
    printf("restored %s (%lld events, schema version %d) as %s\n", from,
           info.events, info.schema_version, cfg.db_path);
    if (kept[0])
        printf("the database it replaced is kept as %s\n", kept);
    if (S_open_once(&cfg, &err) != 0) {
        fprintf(stderr, "folio restore: the restored store does not open: %s\n%s",
                err.msg, kept[0] ? "put the kept copy back to undo the restore\n" : "");
        goto done;
    }
    printf("next: folio build, then start folio-fcgi\n");
    status = 0;
done:
    config_free(&cfg);
    return status;
}
