/* placeholder: being written */
#include <stdio.h>
int main(void) { fputs("folio-fcgi: not built yet\n", stderr); return 1; }
