/* placeholder: being written */
#include <stdio.h>
#include "cmd.h"
int cmd_render(int argc, char **argv) { (void)argc; (void)argv; fputs("not yet\n", stderr); return 1; }
