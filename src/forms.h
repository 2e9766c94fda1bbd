/* placeholder */
#ifndef FOLIO_FORMS_H
#define FOLIO_FORMS_H
#endif
