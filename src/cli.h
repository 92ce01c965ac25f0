/* cli.h: the netc command line. */
#ifndef NETC_CLI_H
#define NETC_CLI_H

#include <stdio.h>

#define NETC_VERSION "0.1.0"

/* Runs netc with ARGV, printing results to OUT and diagnostics to ERR.
   Returns the exit status: 0 success, 1 bad input, 2 bad usage. */
int cli_main(int argc, char **argv, FILE *out, FILE *err);

#endif
