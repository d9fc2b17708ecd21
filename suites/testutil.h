/* testutil.h - helpers shared by the Check suites. */
#ifndef EXSYNC_TESTUTIL_H
#define EXSYNC_TESTUTIL_H

#include <check.h>
#include <stddef.h>

/* Absolute path of a file under the source tree ("fixtures/schema/org.xsd"),
 * from EXSYNC_SOURCE_DIR (set by ctest) or the configured source dir. The
 * result lives in a static ring of buffers: copy it if you keep it. */
const char *tu_path(const char *relative);
/* Read a whole file into a malloc'd NUL-terminated buffer (caller frees);
 * fails the test when it cannot. */
char *tu_read_file(const char *path, size_t *len);
/* Run one suite and return the process exit code (0 when all passed). */
int tu_run(Suite *s);

#endif
