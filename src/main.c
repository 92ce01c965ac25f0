/* main.c: the netc program. Everything else is in cli.c, so tests can run
   the command line in-process. */
#include <stdio.h>

#include "cli.h"

int main(int argc, char **argv) { return cli_main(argc, argv, stdout, stderr); }
