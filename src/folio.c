/* folio — the site owner's command line. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command S_commands[] = {
    {"init", cmd_init, "create a new site in a directory"},
    {"new", cmd_new, "create content/SECTION/NAME.md with front matter"},
    {"build", cmd_build, "render the site into public/"},
    {"render", cmd_render, "render one Mustache template to stdout"},
    {"register", cmd_register, "register a member (as the form does)"},
    {"contact", cmd_contact, "submit a contact request (as the form does)"},
    {"forget", cmd_forget, "erase a person's personal data"},
    {"events", cmd_events, "list events from the log"},
    {"replay", cmd_replay, "rebuild projections from the log"},
    {"check", cmd_check, "verify the store, projections and pages"},
    {"backup", cmd_backup, "copy the event store while the site runs"},
    {"serve", cmd_serve, "preview the site with live reload (authoring)"},
    {"deliver", cmd_deliver, "run mail and webhooks once up to the log's end"},
    {"consumers", cmd_consumers, "show the log's readers: lag, errors, retries"},
    {"deadletters", cmd_deadletters, "list, retry or drop failed deliveries"},
    {"mail", cmd_mail, "list the mail outbox, show a message, send a test"},
    {"restore", cmd_restore, "put a backup back as the event store"},
    {"inbox", cmd_inbox, "list, show and mark contact requests"},
    {"members", cmd_members, "list, import, hide members; give the owner role"},
    {"webhooks", cmd_webhooks, "list the webhooks; send a signed test event"},
    {"apikey", cmd_apikey, "create, list and revoke keys for /api/events"},
    {NULL, NULL, NULL},
};

static void S_usage(FILE *f)
{
    fprintf(f, "usage: folio COMMAND [OPTIONS]\n\ncommands:\n");
    for (const struct command *c = S_commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(f, "\n'folio COMMAND --help' describes a command; see folio(1).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        S_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        S_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("folio %s\n", PACKAGE_VERSION);
        return 0;
    }
    for (const struct command *c = S_commands; c->name; c++)
        if (!strcmp(argv[1], c->name))
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "folio: unknown command '%s'\n", argv[1]);
    S_usage(stderr);
    return 2;
}
