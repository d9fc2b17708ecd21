/* privfile.c - private output files (exsync/privfile.h). */
#include "exsync/privfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void fail(char *err, size_t errlen, const char *path, const char *what)
{
  if(err && errlen)
    snprintf(err, errlen, "%s: %s", path,
             errno == ELOOP ? "is a symbolic link: refused (name the file itself)" : what);
}

/* Make an open regular file 0600 (umask or an older, looser file). */
static int make_private(int fd)
{
  struct stat sb;

  if(fstat(fd, &sb))
    return -1;
  if(S_ISREG(sb.st_mode) && (sb.st_mode & 0777) != 0600)
    return fchmod(fd, 0600);
  return 0;
}

FILE *exs_privfile_open(const char *path, char *err, size_t errlen)
{
  FILE *f;
  int fd;

  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if(fd < 0) {
    fail(err, errlen, path, strerror(errno));
    return NULL;
  }
  if(make_private(fd)) {
    fail(err, errlen, path, strerror(errno));
    close(fd);
    return NULL;
  }
  f = fdopen(fd, "w");
  if(!f) {
    fail(err, errlen, path, strerror(errno));
    close(fd);
  }
  return f;
}

static int write_all(int fd, const char *p, size_t n)
{
  while(n) {
    ssize_t w = write(fd, p, n);
    if(w < 0) {
      if(errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int exs_privfile_write(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
  static atomic_uint seq;
  struct stat sb;
  char tmp[4200];
  int fd, result = -1;

  if(lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
    errno = ELOOP;
    fail(err, errlen, path, "");
    return -1;
  }
  if(snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&seq, 1)) >=
     (int)sizeof(tmp)) {
    errno = ENAMETOOLONG;
    fail(err, errlen, path, "path too long");
    return -1;
  }
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if(fd < 0) {
    fail(err, errlen, tmp, strerror(errno));
    return -1;
  }
  if(make_private(fd) || write_all(fd, data, len) || fsync(fd)) {
    fail(err, errlen, tmp, strerror(errno));
    close(fd);
    goto out;
  }
  if(close(fd)) {
    fail(err, errlen, tmp, strerror(errno));
    goto out;
  }
  /* rename replaces a link planted since the check, never follows it */
  if(rename(tmp, path)) {
    fail(err, errlen, path, strerror(errno));
    goto out;
  }
  result = 0;
out:
  if(result)
    (void)unlink(tmp);
  return result;
}
