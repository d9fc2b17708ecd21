/* cli.h - the exsync command line: global options and command dispatch. */
#ifndef EXSYNC_DIAG_CLI_H
#define EXSYNC_DIAG_CLI_H

/* Run the exsync command line; returns the process exit code
 * (0 success, 1 some tested workload failed, 2 usage or configuration error). */
int diag_main(int argc, char **argv);

#endif
