/* dl — dlopen and dlsym for a table of functions. */
#include "dl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int dl_bind(const char *so, const dl_sym *syms, size_t n, char *msg, size_t cap)
{
    void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(msg, cap, "%s", dlerror());
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        void *p = dlsym(h, syms[i].name);
        if (!p) {
            snprintf(msg, cap, "%s lacks %s", so, syms[i].name);
            return -1;
        }
        /* an object pointer copied into a function pointer, as POSIX allows */
        memcpy(syms[i].slot, &p, sizeof p);
    }
    return 0; /* h stays open: a library in use cannot be unloaded */
}
