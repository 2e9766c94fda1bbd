/* placeholder */
#ifndef FOLIO_PROJECTIONS_H
#define FOLIO_PROJECTIONS_H
#endif
