/* consumers_site — which consumers a site has: the wiring between the
 * consumers mechanism and the readers (mail, webhooks), kept apart so that
 * consumers.c knows only the handler contract. See consumers.h. */
#include "consumers.h"

#include "mail.h"
#include "webhooks.h"

static void S_mail_close(void *ud) { mail_close(ud); }
static void S_webhooks_close(void *ud) { webhooks_close(ud); }

/* "mail", always: its default transport is the outbox (var/mail/). */
static int S_add_mail(consumers *c, const folio_config *cfg, folio_err *err)
{
    mailer *m = NULL;
    if (mail_open(cfg, &m, err) < 0)
        return -1;
    if (consumers_on_close(c, S_mail_close, m, err) < 0) {
        mail_close(m);
        return -1;
    }
    return consumers_add_batch(c, "mail", mail_types(), mail_handle_batch,
                               mail_batch_max(m), m, err);
}

/* One consumer per webhook of folio.yml, named after its URL. */
static int S_add_webhooks(consumers *c, const folio_config *cfg,
                          folio_err *err)
{
    webhooks *w = NULL;
    if (webhooks_open(cfg, &w, err) < 0)
        return -1;
    if (consumers_on_close(c, S_webhooks_close, w, err) < 0) {
        webhooks_close(w);
        return -1;
    }
    for (size_t i = 0; i < webhooks_count(w); i++)
        if (consumers_add_batch(c, webhooks_name(w, i), webhooks_types(w, i),
                                webhooks_handle_batch, webhooks_batch_max(),
                                webhooks_ud(w, i), err) < 0)
            return -1;
    return 0;
}

int consumers_open_site(const folio_config *cfg, consumers **out,
                        folio_err *err)
{
    consumers_policy p;
    if (consumers_policy_load(cfg, &p, err) < 0 ||
        consumers_open(cfg, &p, out, err) < 0)
        return -1;
    if (S_add_mail(*out, cfg, err) < 0 || S_add_webhooks(*out, cfg, err) < 0) {
        consumers_close(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}
