/* test_privfile.c - traces and recordings (exsync/privfile.h): 0600
 * whatever the umask, an existing looser file tightened, a symbolic link
 * refused with its target left alone. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exsync/privfile.h"
#include "testutil.h"

static char dir[64], path[96], target[96], link_path[96];

static void setup(void)
{
  snprintf(dir, sizeof(dir), "/tmp/exsync-priv-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/trace.txt", dir);
  snprintf(target, sizeof(target), "%s/victim", dir);
  snprintf(link_path, sizeof(link_path), "%s/link", dir);
}

static void teardown(void)
{
  char cmd[128];

  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static mode_t mode_of(const char *p)
{
  struct stat sb;

  ck_assert_int_eq(lstat(p, &sb), 0);
  return sb.st_mode & 0777;
}

START_TEST(created_and_kept_0600)
{
  char err[256];
  mode_t old = umask(0);
  FILE *f;

  f = exs_privfile_open(path, err, sizeof(err));
  ck_assert_msg(f != NULL, "%s", err);
  fputs("x", f);
  fclose(f);
  ck_assert_int_eq(mode_of(path), 0600);
  ck_assert_int_eq(chmod(path, 0644), 0);
  f = exs_privfile_open(path, err, sizeof(err));
  ck_assert_ptr_nonnull(f);
  fclose(f);
  ck_assert_int_eq(mode_of(path), 0600);
  ck_assert_int_eq(exs_privfile_write(path, "abc", 3, err, sizeof(err)), 0);
  ck_assert_int_eq(mode_of(path), 0600);
  ck_assert_int_eq(chmod(path, 0666), 0);
  ck_assert_int_eq(exs_privfile_write(path, "abcd", 4, err, sizeof(err)), 0);
  ck_assert_int_eq(mode_of(path), 0600);
  umask(old);
  {
    char *text = tu_read_file(path, NULL);
    ck_assert_str_eq(text, "abcd");
    free(text);
  }
  /* a device is written as it is */
  f = exs_privfile_open("/dev/null", err, sizeof(err));
  ck_assert_msg(f != NULL, "%s", err);
  fclose(f);
}
END_TEST

START_TEST(symbolic_links_refused)
{
  char err[256], *keep;
  FILE *f = fopen(target, "w");

  ck_assert_ptr_nonnull(f);
  fputs("keep", f);
  fclose(f);
  ck_assert_int_eq(symlink(target, link_path), 0);
  ck_assert_ptr_null(exs_privfile_open(link_path, err, sizeof(err)));
  ck_assert_ptr_nonnull(strstr(err, "symbolic link"));
  ck_assert_ptr_nonnull(strstr(err, link_path));
  ck_assert_int_eq(exs_privfile_write(link_path, "x", 1, err, sizeof(err)), -1);
  ck_assert_ptr_nonnull(strstr(err, "symbolic link"));
  keep = tu_read_file(target, NULL);
  ck_assert_str_eq(keep, "keep");
  free(keep);
  ck_assert_int_eq(mode_of(link_path) & 0, 0); /* the link itself is still there */
  /* a dangling link does not create its target either */
  ck_assert_int_eq(unlink(target), 0);
  ck_assert_ptr_null(exs_privfile_open(link_path, err, sizeof(err)));
  ck_assert_int_ne(access(target, F_OK), 0);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("privfile");
  TCase *tc = tcase_create("privfile");

  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, created_and_kept_0600);
  tcase_add_test(tc, symbolic_links_refused);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
