/* exsync/datadir.h - where the shipped data files are (schemas, scenarios,
 * the demo's org), for the installed programs and for a build tree. */
#ifndef EXSYNC_DATADIR_H
#define EXSYNC_DATADIR_H

#include <stddef.h>

/* The data directory:
 *  1. $EXSYNC_DATA_DIR when set and not empty (read on every call);
 *  2. relative to the running program: <dir of /proc/self/exe>/../share/exsync
 *     (PREFIX/bin -> PREFIX/share/exsync) when that directory exists;
 *  3. a program still in its build tree: the source tree's fixtures/, named by
 *     the file "exsync-data-dir" CMake writes at the top of the build tree
 *     (looked for in the program's directory and up to three above it);
 *  4. else the path of step 2 (/usr/share/exsync without /proc), so that
 *     errors name where data was expected.
 * No build path is compiled in. Steps 2-4 are decided once per process. */
const char *exs_data_dir(void);

/* exs_data_dir() + "/" + relative into buf (truncated to len); returns buf. */
const char *exs_data_path(const char *relative, char *buf, size_t len);

#endif
