/* dl — binding a shared library's functions at run time (dlopen), for the
 * big libraries only some commands need (see images.c, curl_dl.c). */
#ifndef FOLIO_DL_H
#define FOLIO_DL_H

#include <stddef.h>

typedef struct dl_sym {
    const char *name;
    void *slot;   /* the address of a function pointer of the right type */
} dl_sym;

/* Opens so (kept open for the life of the process) and stores each
 * symbol's address in its slot. Returns 0, or -1 with a message in msg
 * (the library or a symbol missing). */
int dl_bind(const char *so, const dl_sym *syms, size_t n, char *msg, size_t cap);

#endif
