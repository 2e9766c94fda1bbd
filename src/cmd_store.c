/* placeholder: being written */
#include <stdio.h>
#include "cmd.h"
#define NY(n) int n(int argc, char **argv) { (void)argc; (void)argv; fputs("not yet\n", stderr); return 1; }
NY(cmd_register) NY(cmd_contact) NY(cmd_forget) NY(cmd_events) NY(cmd_replay) NY(cmd_check) NY(cmd_backup)
