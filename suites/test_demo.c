/* test_demo.c - `exsync demo` prints exactly the golden report of
 * fixtures/golden/demo.txt and exits 0 (every mailbox of the contoso world
 * ends as fixtures/demo/expected.csv says). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exsync-diag/emu.h"
#include "testutil.h"

/* Run exsync with argv in a child; stdout to out_path, stderr to err_path. */
static int run_exsync(int argc, char **argv, const char *out_path, const char *err_path)
{
  int status = 0;
  pid_t pid;

  fflush(NULL);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if(pid == 0) {
    int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if(o < 0 || e < 0)
      _exit(99);
    dup2(o, 1);
    dup2(e, 2);
    status = diag_emu_main(argc, argv);
    fflush(NULL);
    _exit(status & 0xff);
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  return WEXITSTATUS(status);
}

START_TEST(demo_matches_golden_report)
{
  char out_path[] = "/tmp/exsync-demo-out-XXXXXX";
  char err_path[] = "/tmp/exsync-demo-err-XXXXXX";
  char *argv[] = {"exsync", "demo", NULL};
  char *got, *want, *err;
  int rc;

  close(mkstemp(out_path));
  close(mkstemp(err_path));
  rc = run_exsync(2, argv, out_path, err_path);
  got = tu_read_file(out_path, NULL);
  err = tu_read_file(err_path, NULL);
  want = tu_read_file(tu_path("fixtures/golden/demo.txt"), NULL);
  ck_assert_msg(rc == 0, "exsync demo exited %d:\n%s", rc, err);
  ck_assert_msg(!strcmp(got, want),
                "exsync demo differs from fixtures/golden/demo.txt; it printed:\n%s", got);
  ck_assert_ptr_nonnull(strstr(err, "every mailbox ended as the contoso world expects"));
  free(got);
  free(want);
  free(err);
  unlink(out_path);
  unlink(err_path);
}
END_TEST

START_TEST(demo_json_report)
{
  char out_path[] = "/tmp/exsync-demo-out-XXXXXX";
  char err_path[] = "/tmp/exsync-demo-err-XXXXXX";
  char *argv[] = {"exsync", "demo", "--format", "json", NULL};
  char *got;

  close(mkstemp(out_path));
  close(mkstemp(err_path));
  ck_assert_int_eq(run_exsync(4, argv, out_path, err_path), 0);
  got = tu_read_file(out_path, NULL);
  ck_assert_ptr_nonnull(strstr(got, "\"summary\": {\"mailboxes\": 11, \"success\": 4"));
  ck_assert_ptr_nonnull(strstr(got, "\"category\": \"ACT_OTHER_ORG\""));
  free(got);
  unlink(out_path);
  unlink(err_path);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("demo");
  TCase *tc = tcase_create("demo");

  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, demo_matches_golden_report);
  tcase_add_test(tc, demo_json_report);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
