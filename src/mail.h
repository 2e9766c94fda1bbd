/* mail — the owner's and members' mail, rendered from templates/mail/ and
 * handed to a transport; the reader of the log registered as consumer
 * "mail".
 *
 *   mail:
 *     from: "Noor Vellacott <site@example.org>"  # default: AUTHOR <folio@HOST>
 *     owner: "noor@example.org"   # gets contact requests; default: from's address
 *     transport: "outbox"         # the default: files var/mail/ID.eml
 *                                 # smtp://host:25, smtps://user:pass@host:465,
 *                                 # smtp+starttls://user:pass@host[:587] (STARTTLS
 *                                 # required), sendmail (/usr/sbin/sendmail -t -i),
 *                                 # sendmail:/path/to/sendmail
 *     connections: 4              # SMTP connections at once (1 to 32)
 *
 * FOLIO_SMTP_URL in the environment replaces mail.transport, so SMTP
 * credentials need not sit in folio.yml. A password never reaches an
 * error message or a log line.
 *
 * A kind of mail is one entry of a table in mail.c (the event type it
 * answers, who gets it, who a reply goes to) and its templates in
 * templates/mail/: KIND.txt.mustache (required; not HTML-escaped — every
 * {{value}} is inserted as it is), KIND.html.mustache (optional: the mail
 * becomes multipart/alternative) and KIND.subject.mustache (optional: a
 * default from the table). Kinds: contact (ContactRequestSubmitted, to
 * the owner, Reply-To the visitor), welcome (UserRegistered, to the
 * member, Reply-To the owner), test (`folio mail test`). A site without templates/mail/ uses
 * the default theme's.
 *
 * Everything a visitor typed goes into headers only through the encoders
 * below: no value can add, end or alter a header line. */
#ifndef FOLIO_MAIL_H
#define FOLIO_MAIL_H

#include <stddef.h>

#include "config.h"
#include "consumers.h"
#include "util.h"

typedef struct mailer mailer;

/* Reads the `mail:` block of folio.yml (cfg->raw), FOLIO_SMTP_URL from the
 * environment (it overrides mail.transport), the templates in
 * cfg->templates_dir/mail/, and var/mail/ for the outbox. */
int mail_open(const folio_config *cfg, mailer **out, folio_err *err);
void mail_close(mailer *m);

/* The event types the mail consumer reads, NULL-terminated:
 * ContactRequestSubmitted, UserRegistered. */
const char *const *mail_types(void);

/* A consumer_handler_fn: ud is the mailer. Renders the event's mail and
 * delivers it: CONSUMER_DONE (also for an event of a person since
 * forgotten: nothing is sent), CONSUMER_RETRY (SMTP 4xx, no connection,
 * timeout, TLS, sendmail exit 75 or missing, the outbox not writable),
 * CONSUMER_PERMANENT (SMTP 5xx, other sendmail exits,
 * an unusable address, a template that fails). One thread at a time. */
int mail_handle(void *ud, const consumer_event *ev, folio_err *err);

/* A consumer_batch_fn over the same: SMTP mails go out over up to
 * mail.connections kept-alive connections at once (default 4, 1 to 32),
 * each with its own result; the other transports one after the other. */
void mail_handle_batch(void *ud, const consumer_event *evs, size_t n,
                       int *results, folio_err *errs);
/* The batch size for consumers_add_batch: 16 per connection over SMTP,
 * else 1. */
size_t mail_batch_max(const mailer *m);

/* mail_handle that also says what it was: id receives the mail's ID
 * (TIME-POSITION-KIND, its outbox name), "" when there was nothing to
 * send (`folio mail send`). */
int mail_send(mailer *m, const consumer_event *ev, char id[96], folio_err *err);

/* Sends the sample message of kind "test" to `to` through the configured
 * transport (`folio mail test`). A consumer_result; *where (may be NULL)
 * names where it went: the outbox file's ID, or the transport without
 * its password. */
int mail_send_test(mailer *m, const char *to, char *where, size_t wherecap,
                   folio_err *err);

/* "outbox", "sendmail[:PATH]" or the SMTP URL without credentials. */
const char *mail_transport_name(const mailer *m);

/* Renders the event's mail without sending it: the whole message in out
 * and its outbox ID (TIME-POSITION-KIND) in id ("" and nothing in out
 * when there is nothing to send). CONSUMER_DONE, or CONSUMER_PERMANENT with
 * err set. For tests and benchmarks. */
int mail_render(mailer *m, const consumer_event *ev, buf *out,
                char id[96], folio_err *err);

/* ---- messages (the header encoders are fuzzed) ------------------------ */

typedef struct mail_message {
    const char *from_name, *from_addr;   /* from_addr required */
    const char *to_name, *to_addr;       /* to_addr required */
    const char *reply_name, *reply_addr; /* reply_addr NULL: no Reply-To */
    const char *subject;                 /* NUL-terminated, may be NULL */
    const char *text; size_t text_len;   /* required (may be empty) */
    const char *html; size_t html_len;   /* NULL: text/plain alone */
    long long date_ms;                   /* the Date header */
    const char *id;                      /* Message-ID left of the '@'
                                          * ([A-Za-z0-9.-]); NULL: random */
} mail_message;

/* Appends a whole RFC 5322 message: Date, From, To, Reply-To, Subject,
 * Message-ID (@ the From domain), MIME-Version, then a text/plain part or
 * a multipart/alternative of text and HTML, UTF-8 in quoted-printable.
 * Refuses (-1, err says which header) an address mail_addr_valid refuses. */
int mail_build(const mail_message *m, buf *out, folio_err *err);

/* Appends "NAME: VALUE\r\n" for an unstructured header (Subject): plain
 * folded ASCII when it is safe to be, else RFC 2047 encoded words (UTF-8,
 * base64). Control characters become spaces, invalid UTF-8 becomes U+FFFD,
 * values are cut at 400 bytes. Fails only for memory, or a name that is
 * not letters, digits and '-' (at most 60). */
int mail_encode_header(buf *out, const char *name, const char *value,
                       size_t len, folio_err *err);

/* Appends "NAME: DISPLAY <ADDR>\r\n" (just "NAME: ADDR" when display is
 * NULL or empty): the display name as atoms when it is only letters,
 * digits and spaces, else as encoded words, so quotes, brackets, commas,
 * semicolons or "=?" in a name stay part of the name. -1 when addr is
 * not valid. */
int mail_encode_address(buf *out, const char *name, const char *display,
                        const char *addr, folio_err *err);

/* 1 when s is an address the transports will take: ASCII local@domain, one
 * '@', local part dot-atom of atext (<= 64), domain of letters, digits,
 * '-' and dots (<= 253), no whitespace or controls, <= 254 in all. */
int mail_addr_valid(const char *s);

/* Parses "Display Name <addr>" or "addr" (folio.yml's from/owner).
 * *display and *addr are malloc'd (display "" when none). -1 with err. */
int mail_parse_mailbox(const char *s, char **display, char **addr,
                       folio_err *err);

/* ---- the outbox (var/mail/) ------------------------------------------ */

typedef struct mail_outbox_entry {
    char id[96];        /* the file name without .eml */
    char date[40];      /* the Date header */
    char to[320];       /* the To address */
    char subject[512];  /* decoded, controls shown as spaces */
} mail_outbox_entry;

/* The site's outbox messages, oldest first. *out is malloc'd (free it). */
int mail_outbox_list(const folio_config *cfg, mail_outbox_entry **out,
                     size_t *n, folio_err *err);
/* The path of outbox message ID in path; -1 when ID is not the name of a
 * message there (a '/', "..", anything but [A-Za-z0-9.-] refused). */
int mail_outbox_path(const folio_config *cfg, const char *id, char *path,
                     size_t cap, folio_err *err);

#endif
