/* cliworld.h - the world of the command-line suites (test_cli,
 * test_verdicts_cli): the contoso scenario on the in-process emulator (port
 * 0), a private directory with an org file and a store, and exsync run in a
 * forked child with its output captured. */
#ifndef EXSYNC_CLIWORLD_H
#define EXSYNC_CLIWORLD_H

#include "testutil.h"

struct emu;

extern struct emu *cw_emu; /* the emulator (cw_setup .. cw_teardown) */
extern char cw_last_stdout[1 << 16], cw_last_stderr[1 << 16]; /* of the last cw_run */
extern int cw_port;                                           /* its HTTP port */
extern char cw_dir[64];                                       /* the private directory */
extern char cw_org_path[128], cw_db_path[128];                /* org file and store in it */
extern char cw_connect_to[128]; /* --connect-to mail.contoso.com:PORT to the emulator */

/* Run exsync with the given arguments (NULL-terminated); stdout and stderr
 * go to *out (malloc'd, caller frees). Returns the exit code. */
int cw_run(char **out, ...);
/* Write the contoso org with plain HTTP allowed, the emulator's port and
 * the given protocol to cw_org_path. */
void cw_write_org(const char *protocol);
/* Check fixtures: start the world (org written with Basic), and remove it. */
void cw_setup(void);
void cw_teardown(void);

#endif
