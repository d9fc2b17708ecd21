/* exsync/privfile.h - files exsync writes that may hold private data
 * (traces, recordings): created 0600 whatever the umask, an existing one
 * made 0600 too, and never written through a symbolic link (O_NOFOLLOW: a
 * link planted where the file should go is refused, not followed).
 *
 * Errors go to err (errlen bytes, may be NULL) as "PATH: what went wrong". */
#ifndef EXSYNC_PRIVFILE_H
#define EXSYNC_PRIVFILE_H

#include <stddef.h>
#include <stdio.h>

/* Open path for writing from the start ("w"): created 0600, or an existing
 * regular file truncated and made 0600 (devices such as /dev/null are
 * written as they are). NULL on error (a symbolic link, no permission). */
FILE *exs_privfile_open(const char *path, char *err, size_t errlen);

/* Replace path with len bytes of data atomically: a new 0600 temporary
 * file beside it (O_EXCL | O_NOFOLLOW), written and synced, renamed over
 * path. A symbolic link at path is refused. 0, or -1 on error. */
int exs_privfile_write(const char *path, const void *data, size_t len, char *err, size_t errlen);

#endif
