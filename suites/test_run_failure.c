/* test_run_failure.c - an internal failure of a Test & Enable run ends with a
 * message and a non-zero exit, never exit 0 with every workload "Not Run".
 *
 * This suite replaces exs_testenable_batch at link time (it is the only
 * symbol of its object file, so libexsync's copy is not linked) with one that
 * fails as an allocation failure does: -1, results untouched. Every command
 * that runs a batch is then driven through diag_main in a forked child.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exsync-diag/diag.h"
#include "exsync/testenable.h"
#include "testutil.h"

static int batch_calls;

int exs_testenable_batch(const struct exs_org *org, const struct exs_profile *profiles, size_t np,
                         struct exs_mailbox *mailboxes, size_t n,
                         const struct exs_te_batch_options *opt, struct exs_te_result *results)
{
  (void)org, (void)profiles, (void)np, (void)mailboxes, (void)n, (void)opt, (void)results;
  batch_calls++;
  return -1;
}

static char dir[64];

/* exsync ARGS... (NULL-terminated) in a child; output (stdout and stderr) to
 * *out (malloc'd). Returns the exit code; *called is whether the batch ran. */
static int run(char **out, bool *called, ...)
{
  char *argv[32], outfile[128];
  va_list ap;
  int argc = 0, status = 0, fds[2];
  pid_t pid;
  char flag = 0;

  argv[argc++] = "exsync";
  va_start(ap, called);
  while(argc < 31 && (argv[argc] = va_arg(ap, char *)) != NULL)
    argc++;
  va_end(ap);
  argv[argc] = NULL;
  snprintf(outfile, sizeof(outfile), "%s/out.txt", dir);
  ck_assert_int_eq(pipe(fds), 0);
  fflush(NULL);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if(pid == 0) {
    int fd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if(fd < 0)
      _exit(99);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    close(0);
    close(fds[0]);
    status = diag_main(argc, argv);
    fflush(NULL);
    flag = batch_calls ? 'y' : 'n';
    if(write(fds[1], &flag, 1) != 1)
      _exit(98);
    _exit(status & 0xff);
  }
  close(fds[1]);
  if(read(fds[0], &flag, 1) != 1)
    flag = 0;
  close(fds[0]);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status), "exsync %s died", argv[1]);
  *called = flag == 'y';
  *out = tu_read_file(outfile, NULL);
  return WEXITSTATUS(status);
}

static void setup(void)
{
  snprintf(dir, sizeof(dir), "/tmp/exsync-runfail-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  setenv("EXSYNC_PROFILE_PASSWORD", "not-used", 1);
}

static void teardown(void)
{
  char cmd[128];

  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

START_TEST(store_less_test_enable_fails_loudly)
{
  char *out;
  bool called;
  int rc =
      run(&out, &called, "test-enable", "--config", tu_path("fixtures/orgs/contoso.xml"), NULL);

  ck_assert_msg(called, "the batch was not reached: %s", out);
  ck_assert_int_eq(rc, 2);
  ck_assert_msg(strstr(out, "test-enable could not run: out of memory"), "%s", out);
  ck_assert_msg(!strstr(out, "Not Run"), "a report was printed: %s", out);
  free(out);
}
END_TEST

START_TEST(stored_mailbox_and_profile_test_enable_fail_loudly)
{
  char db[128], *out;
  bool called;

  snprintf(db, sizeof(db), "%s/exsync.db", dir);
  ck_assert_int_eq(
      run(&out, &called, "--db", db, "import", tu_path("fixtures/orgs/contoso.xml"), NULL), 0);
  free(out);
  ck_assert_int_eq(run(&out, &called, "--db", db, "mailbox", "test-enable", "--all", NULL), 2);
  ck_assert(called);
  ck_assert_msg(strstr(out, "test-enable could not run: out of memory"), "%s", out);
  free(out);
  ck_assert_int_eq(run(&out, &called, "--db", db, "profile", "test-enable", "Exchange", NULL), 2);
  ck_assert(called);
  ck_assert_msg(strstr(out, "test-enable could not run: out of memory"), "%s", out);
  free(out);
  /* the job is finished as failed, not left running */
  ck_assert_int_eq(run(&out, &called, "--db", db, "job", "list", NULL), 0);
  ck_assert_msg(strstr(out, "could not run") != NULL, "%s", out);
  free(out);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("run_failure");
  TCase *tc = tcase_create("batch");

  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, store_less_test_enable_fails_loudly);
  tcase_add_test(tc, stored_mailbox_and_profile_test_enable_fail_loudly);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
