/* consumers_site — which consumers a site has: the wiring between the
 * consumers mechanism and the readers (mail, webhooks), kept apart so that
 * consumers.c knows only the handler contract. See consumers.h. */
#include "consumers.h"

int consumers_open_site(const folio_config *cfg, consumers **out,
                        folio_err *err)
{
    consumers_policy p;
    if (consumers_policy_load(cfg, &p, err) < 0 ||
        consumers_open(cfg, &p, out, err) < 0)
        return -1;
    return 0;
}
