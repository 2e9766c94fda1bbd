/* placeholder: being written */
#include <stdio.h>
#include "cmd.h"
int cmd_init(int argc, char **argv) { (void)argc; (void)argv; fputs("not yet\n", stderr); return 1; }
int cmd_new(int argc, char **argv) { (void)argc; (void)argv; fputs("not yet\n", stderr); return 1; }
int cmd_build(int argc, char **argv) { (void)argc; (void)argv; fputs("not yet\n", stderr); return 1; }
