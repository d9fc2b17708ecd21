/* testutil.c - helpers shared by the Check suites. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

const char *tu_path(const char *relative)
{
  static char ring[8][4096];
  static int next;
  const char *root = getenv("EXSYNC_SOURCE_DIR");
  char *buf = ring[next++ % 8];

  if(!root || !*root)
    root = EXSYNC_DEFAULT_DATA_DIR "/..";
  snprintf(buf, sizeof(ring[0]), "%s/%s", root, relative);
  return buf;
}

char *tu_read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *data;
  long n;

  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  data = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(data);
  ck_assert_uint_eq(fread(data, 1, (size_t)n, f), (size_t)n);
  data[n] = '\0';
  fclose(f);
  if(len)
    *len = (size_t)n;
  return data;
}

int tu_run(Suite *s)
{
  SRunner *sr = srunner_create(s);
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
