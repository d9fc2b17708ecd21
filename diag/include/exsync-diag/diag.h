/* diag.h - the exsync command line as a library call (exsync_diag): every
 * command except those that start the emulator (see exsync-diag/emu.h). */
#ifndef EXSYNC_DIAG_DIAG_H
#define EXSYNC_DIAG_DIAG_H

/* Run the exsync command line; returns the process exit code
 * (0 success, 1 some tested workload failed, 2 usage or configuration error).
 * demo and replay answer "not built into this program" here. */
int diag_main(int argc, char **argv);

#endif
