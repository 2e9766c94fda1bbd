/* cmd — the folio subcommands. Each takes argc/argv starting at its own
 * name, prints its own messages and returns the process exit status. */
#ifndef FOLIO_CMD_H
#define FOLIO_CMD_H

/* src/cmd_site.c; cmd_render is in src/cmd_render.c */
int cmd_init(int argc, char **argv);
int cmd_new(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_render(int argc, char **argv);

/* src/cmd_store.c */
int cmd_register(int argc, char **argv);
int cmd_contact(int argc, char **argv);
int cmd_forget(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_backup(int argc, char **argv);

/* src/cmd_serve.c */
int cmd_serve(int argc, char **argv);

/* src/cmd_consumers.c */
int cmd_deliver(int argc, char **argv);
int cmd_consumers(int argc, char **argv);
int cmd_deadletters(int argc, char **argv);

/* src/cmd_owner.c: the inbox and the members */
int cmd_inbox(int argc, char **argv);
int cmd_members(int argc, char **argv);
/* src/cmd_store.c: renders again the pages that read names, when the site
 * has been built; 0, or 1 after a message naming the command. */
#include <stddef.h>
#include "config.h"
#include "domain.h"
int cmd_rerender(const folio_config *cfg, domain *d, const char *name,
                 const char *const *names, size_t n);

/* src/cmd_mail.c */
int cmd_mail(int argc, char **argv);
/* src/cmd_restore.c */
int cmd_restore(int argc, char **argv);
/* src/cmd_webhooks.c */
int cmd_webhooks(int argc, char **argv);
/* src/cmd_follow.c: folio events --follow, after the options are read. */
#include "domain.h"
int cmd_events_follow(domain *d, domain_events_query *q, folio_err *err);
/* src/cmd_apikey.c */
int cmd_apikey(int argc, char **argv);

#endif
