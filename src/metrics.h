/* placeholder */
#ifndef FOLIO_METRICS_H
#define FOLIO_METRICS_H
#endif
