/* placeholder */
#ifndef FOLIO_FCGI_H
#define FOLIO_FCGI_H
#endif
