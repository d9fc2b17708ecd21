/* exsync/faultpoint.h - test-only fault points: durability tests choose
 * WHERE a process dies (the Nth store commit, the Nth EWS request...), never
 * when, so their outcome does not depend on the machine's speed.
 *
 * Built only with the CMake option EXSYNC_FAULT_POINTS (on in test builds,
 * off in Release builds, which are the ones to install). Without it
 * EXS_FAULT_POINT() compiles to nothing and the environment below is never
 * read.
 *
 * A fault point is a named place in the code; each pass is a hit, counted
 * per name from the start of the process. The environment, read at the first
 * hit, says what happens:
 *   EXSYNC_FAULT_KILL=NAME:N[,NAME:N...]  SIGKILL at the Nth hit of NAME
 *   EXSYNC_FAULT_STOP=NAME:N[,NAME:N...]  SIGSTOP at the Nth hit of NAME (the
 *                                         process goes on after SIGCONT)
 *   EXSYNC_FAULT_COUNTS=FILE              at exit, and just before a kill, FILE
 *                                         gets one "NAME COUNT" line per point
 *                                         hit, then "killed NAME N" for a kill
 * A malformed value ends the process with a message and exit status 2.
 * Points: see the calls of EXS_FAULT_POINT (README, "Fault points").
 */
#ifndef EXSYNC_FAULTPOINT_H
#define EXSYNC_FAULTPOINT_H

#ifdef EXSYNC_FAULT_POINTS
/* Count a hit of name (a string literal) and act on it. Thread-safe. */
void exs_faultpoint_hit(const char *name);
#define EXS_FAULT_POINT(name) exs_faultpoint_hit(name)
#else
#define EXS_FAULT_POINT(name) ((void)0)
#endif

#endif
