/* datadir.c - find the shipped data relative to the running program, so an
 * installed exsync works from any directory and carries no build path. */
#include "exsync/datadir.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef EXSYNC_BIN_TO_DATA
#define EXSYNC_BIN_TO_DATA "../share/exsync" /* relative to the program's directory */
#endif
#define BUILD_MARKER "exsync-data-dir"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char found[PATH_MAX];

static int is_dir(const char *path)
{
  struct stat st;

  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The first line of dir/BUILD_MARKER into out when it names a directory. */
static int read_marker(const char *dir, char *out, size_t len)
{
  char path[PATH_MAX + 32];
  FILE *f;
  int result = -1;

  snprintf(path, sizeof(path), "%s/%s", dir, BUILD_MARKER);
  f = fopen(path, "r");
  if(!f)
    return -1;
  if(fgets(out, (int)len, f)) {
    out[strcspn(out, "\r\n")] = '\0';
    if(*out && is_dir(out))
      result = 0;
  }
  fclose(f);
  return result;
}

static void decide(void)
{
  char exe[PATH_MAX], dir[PATH_MAX], *slash;
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

  snprintf(found, sizeof(found), "/usr/share/exsync"); /* no /proc: the usual place */
  if(n <= 0)
    return;
  exe[n] = '\0';
  slash = strrchr(exe, '/');
  if(!slash)
    return;
  *slash = '\0';
  snprintf(found, sizeof(found), "%s/%s", exe, EXSYNC_BIN_TO_DATA);
  if(is_dir(found))
    return;
  snprintf(dir, sizeof(dir), "%s", exe);
  for(int up = 0; up <= 3 && *dir; up++) {
    char src[PATH_MAX];
    if(read_marker(dir, src, sizeof(src)) == 0) {
      snprintf(found, sizeof(found), "%s", src);
      return;
    }
    slash = strrchr(dir, '/');
    if(!slash)
      break;
    *slash = '\0';
  }
}

const char *exs_data_dir(void)
{
  const char *env = getenv("EXSYNC_DATA_DIR");

  if(env && *env)
    return env;
  pthread_once(&once, decide);
  return found;
}

const char *exs_data_path(const char *relative, char *buf, size_t len)
{
  snprintf(buf, len, "%s/%s", exs_data_dir(), relative);
  return buf;
}
