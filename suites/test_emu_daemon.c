/* test_emu_daemon.c - the exsync-emulator command line: the one-line
 * Exchange (--user, --impersonator), the "listening ..." lines, SIGTERM and
 * SIGINT stopping it cleanly, and usage / configuration errors (exit 2).
 * The binary is found beside this suite's own: ../emulator/exsync-emulator.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu_client.h"
#include "exsync/clock.h"

static char exe[PATH_MAX];

static void find_binary(void)
{
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  char *slash;

  ck_assert_int_gt(n, 0);
  self[n] = '\0';
  slash = strrchr(self, '/');
  ck_assert_ptr_nonnull(slash);
  *slash = '\0';
  snprintf(exe, sizeof(exe), "%s/../emulator/exsync-emulator", self);
  ck_assert_msg(access(exe, X_OK) == 0, "no %s", exe);
}

struct proc {
  pid_t pid;
  int out; /* child's stdout+stderr */
  char text[8192];
  size_t len;
};

static void spawn(struct proc *p, char *const argv[])
{
  int fds[2];

  find_binary();
  ck_assert_int_eq(pipe(fds), 0);
  p->pid = fork();
  ck_assert_int_ge(p->pid, 0);
  if(p->pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    execv(exe, argv);
    _exit(127);
  }
  close(fds[1]);
  p->out = fds[0];
  p->len = 0;
  p->text[0] = '\0';
}

/* Read output until needle shows up or the child closes it (deadline 90 s:
 * a bound for a hang, not a speed requirement). */
static bool read_until(struct proc *p, const char *needle)
{
  int64_t deadline = exs_monotonic_ms() + 90000;

  while(!strstr(p->text, needle) && exs_monotonic_ms() < deadline) {
    struct pollfd pfd = {p->out, POLLIN, 0};
    ssize_t n;
    if(poll(&pfd, 1, 100) <= 0)
      continue;
    n = read(p->out, p->text + p->len, sizeof(p->text) - 1 - p->len);
    if(n <= 0)
      break;
    p->len += (size_t)n;
    p->text[p->len] = '\0';
  }
  return strstr(p->text, needle) != NULL;
}

static size_t count_of(const char *text, const char *needle)
{
  size_t n = 0;

  for(const char *at = text; (at = strstr(at, needle)) != NULL; at++)
    n++;
  return n;
}

/* Read output until needle shows up count times or the child closes it
 * (deadline 90 s: a bound for a hang, not a speed requirement). */
static bool read_count(struct proc *p, const char *needle, size_t count)
{
  int64_t deadline = exs_monotonic_ms() + 90000;

  while(count_of(p->text, needle) < count && exs_monotonic_ms() < deadline) {
    struct pollfd pfd = {p->out, POLLIN, 0};
    ssize_t n;
    if(poll(&pfd, 1, 100) <= 0)
      continue;
    n = read(p->out, p->text + p->len, sizeof(p->text) - 1 - p->len);
    if(n <= 0)
      break;
    p->len += (size_t)n;
    p->text[p->len] = '\0';
  }
  return count_of(p->text, needle) >= count;
}

static int wait_exit(struct proc *p)
{
  int status = 0;
  int64_t deadline = exs_monotonic_ms() + 90000;
  pid_t r;

  while((r = waitpid(p->pid, &status, WNOHANG)) == 0 && exs_monotonic_ms() < deadline) {
    struct pollfd pfd = {p->out, POLLIN, 0};
    poll(&pfd, 1, 50); /* waits for output or 50 ms, whichever first */
    if(pfd.revents & POLLIN) {
      ssize_t n = read(p->out, p->text + p->len, sizeof(p->text) - 1 - p->len);
      if(n > 0) {
        p->len += (size_t)n;
        p->text[p->len] = '\0';
      }
    }
  }
  if(r == 0) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    ck_abort_msg("exsync-emulator did not exit: %s", p->text);
  }
  close(p->out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static const int stop_signals[] = {SIGTERM, SIGINT};

START_TEST(one_line_exchange_then_clean_stop)
{
  char *argv[] = {exe,
                  "--listen",
                  "127.0.0.1:0",
                  "--listen",
                  "127.0.0.1:0",
                  "--user",
                  "zoe:pw@example.com",
                  "--user",
                  "svc:svc-pw@example.com",
                  "--impersonator",
                  "svc",
                  "--threads", /* a stop signal reaches the loops of every thread */
                  "3",
                  NULL};
  struct proc p;
  char u[128], code[64];
  unsigned port = 0;
  const char *line;
  struct ec_resp r;
  xmlNodePtr msgs[2];

  spawn(&p, argv);
  ck_assert_msg(read_until(&p, "listening http 127.0.0.1:"), "%s", p.text);
  ck_assert_msg(read_until(&p, "\n"), "%s", p.text);
  line = strstr(p.text, "listening http 127.0.0.1:");
  ck_assert_int_eq(sscanf(line, "listening http 127.0.0.1:%u", &port), 1);
  ck_assert_uint_gt(port, 0);
  /* both listeners are announced */
  ck_assert_msg(read_until(&p, "\nlistening http 127.0.0.1:"), "%s", p.text);
  snprintf(u, sizeof(u), "http://127.0.0.1:%u/EWS/Exchange.asmx", port);
  ec_post(u, "svc:svc-pw",
          ec_soap("Exchange2016", "zoe@example.com",
                  "<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape>"
                  "</m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
                  "</m:FolderIds></m:GetFolder>"),
          &r);
  ck_assert_int_eq(r.status, 200);
  ec_validate(&r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "NoError");
  ec_free(&r);
  kill(p.pid, stop_signals[_i]);
  ck_assert_int_eq(wait_exit(&p), 0);
}
END_TEST

static const struct {
  const char *args[4];
  int exit;
  const char *needle;
} cli_cases[] = {
    {{"--help"}, 0, "usage: exsync-emulator"},
    {{"--version"}, 0, "exsync-emulator "},
    {{"--bogus"}, 2, "--bogus"},
    {{"--user", "nocolon"}, 2, "LOGIN:PASSWORD@DOMAIN"},
    {{"--impersonator", "nobody"}, 2, "unknown user nobody"},
    {{"--listen", "127.0.0.1"}, 2, "ADDR:PORT"},
    {{"--scenario", "/nonexistent/scenario.xml"}, 2, "/nonexistent/scenario.xml"},
    {{"--threads", "0"}, 2, "--threads: '0' is not a number from 1 to 256"},
    {{"--threads", "2x"}, 2, "--threads: '2x'"},
    {{"--threads", "257"}, 2, "--threads: '257'"},
    {{"--tls-listen", "127.0.0.1:0", "--ca-out", "/nonexistent/dir/ca.pem"},
     2,
     "/nonexistent/dir/ca.pem"},
};

START_TEST(command_line_errors)
{
  char *argv[6] = {exe};
  struct proc p;
  int n = 1;

  for(int i = 0; i < 4 && cli_cases[_i].args[i]; i++)
    argv[n++] = (char *)cli_cases[_i].args[i];
  argv[n] = NULL;
  spawn(&p, argv);
  ck_assert_int_eq(wait_exit(&p), cli_cases[_i].exit);
  ck_assert_msg(strstr(p.text, cli_cases[_i].needle) != NULL, "output: %s", p.text);
}
END_TEST

/* --help names every option main() takes, the fault spec words, each admin
 * endpoint, and where the scenario format is described. */
START_TEST(help_documents_everything)
{
  static const char *const needles[] = {"--listen",
                                        "--tls-listen",
                                        "--scenario ",
                                        "--user",
                                        "--impersonator",
                                        "--cert",
                                        "--key",
                                        "--ca-out",
                                        "--scenario-dir",
                                        "--keytab",
                                        "--max-connections",
                                        "--idle-timeout",
                                        "--request-timeout",
                                        "--max-header-bytes",
                                        "--threads",
                                        "--help",
                                        "--version",
                                        "ews-code=",
                                        "http-status=",
                                        "delay-ms=",
                                        "times=",
                                        "every=",
                                        "probability=",
                                        "mailbox=",
                                        "operation=",
                                        "/_emulator/health",
                                        "/_emulator/reset",
                                        "/_emulator/load",
                                        "/_emulator/journal",
                                        "/_emulator/faults",
                                        "/_emulator/deliver",
                                        "docs/scenario-file.md",
                                        "scenario.xsd"};
  char *argv[] = {exe, "--help", NULL};
  struct proc p;
  size_t i;

  spawn(&p, argv);
  ck_assert_int_eq(wait_exit(&p), 0);
  for(i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
    ck_assert_msg(strstr(p.text, needles[i]) != NULL, "--help does not mention %s", needles[i]);
}
END_TEST

START_TEST(scenario_file_from_the_command_line)
{
  char *argv[] = {exe, "--scenario", NULL, "--listen", "127.0.0.1:0", NULL};
  char path[PATH_MAX], u[128];
  struct proc p;
  unsigned port = 0;
  struct ec_resp r;

  snprintf(path, sizeof(path), "%s", tu_path("fixtures/scenarios/contoso.xml"));
  argv[2] = path;
  spawn(&p, argv);
  ck_assert_msg(read_until(&p, "listening http 127.0.0.1:") && read_until(&p, "\n"), "%s", p.text);
  ck_assert_int_eq(sscanf(strstr(p.text, "listening"), "listening http 127.0.0.1:%u", &port), 1);
  snprintf(u, sizeof(u), "http://127.0.0.1:%u/_emulator/health", port);
  ck_assert_int_eq(ec_request("GET", u, NULL, NULL, NULL, &r), CURLE_OK);
  ck_assert_ptr_nonnull(strstr(r.body.data, "\"mailboxes\":10"));
  ec_free(&r);
  kill(p.pid, SIGTERM);
  ck_assert_int_eq(wait_exit(&p), 0);
}
END_TEST

/* The daemon validates requests with no option and no EXSYNC_DATA_DIR: the
 * schema is found from the program's own place (here: its build tree). */
START_TEST(requests_are_schema_validated_out_of_the_box)
{
  char *argv[] = {exe, "--user", "zoe:pw@example.com", NULL};
  struct proc p;
  char u[128], code[64];
  unsigned port = 0;
  struct ec_resp r;
  char *saved = getenv("EXSYNC_DATA_DIR") ? strdup(getenv("EXSYNC_DATA_DIR")) : NULL;

  unsetenv("EXSYNC_DATA_DIR");
  spawn(&p, argv);
  if(saved)
    setenv("EXSYNC_DATA_DIR", saved, 1);
  free(saved);
  ck_assert_msg(read_until(&p, "listening http 127.0.0.1:") && read_until(&p, "\n"), "%s", p.text);
  ck_assert_int_eq(sscanf(strstr(p.text, "listening"), "listening http 127.0.0.1:%u", &port), 1);
  snprintf(u, sizeof(u), "http://127.0.0.1:%u/EWS/Exchange.asmx", port);
  /* FolderIds before FolderShape: the schema forbids that order */
  ec_post(u, "zoe:pw",
          ec_soap("Exchange2016", NULL,
                  "<m:GetFolder><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
                  "</m:FolderIds><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"
                  "</m:FolderShape></m:GetFolder>"),
          &r);
  ck_assert_int_eq(r.status, 500);
  ck_assert_str_eq(ec_fault(&r, code, sizeof(code)), "ErrorSchemaValidation");
  ec_free(&r);
  kill(p.pid, SIGTERM);
  ck_assert_int_eq(wait_exit(&p), 0);
}
END_TEST

/* Without its schema the daemon refuses to start and names what is missing. */
START_TEST(missing_schema_is_named)
{
  char *argv[] = {exe, NULL};
  struct proc p;

  setenv("EXSYNC_DATA_DIR", "/nonexistent/exsync-data", 1);
  spawn(&p, argv);
  unsetenv("EXSYNC_DATA_DIR");
  ck_assert_int_eq(wait_exit(&p), 2);
  ck_assert_msg(strstr(p.text, "EWS schema /nonexistent/exsync-data/schema/ews/ews-validate.xsd") &&
                    strstr(p.text, "EXSYNC_DATA_DIR"),
                "output: %s", p.text);
}
END_TEST

/* --user, --impersonator and --listen take any number of values (there used
 * to be caps of 64 and 32, and past them "unknown option"). */
START_TEST(no_cap_on_repeated_options)
{
  enum { USERS = 100, LISTENS = 40 };
  char *argv[1 + 4 * USERS + 2 * LISTENS + 1];
  char users[USERS][48], logins[USERS][16];
  struct proc p;
  int n = 0;

  argv[n++] = exe;
  for(int i = 0; i < USERS; i++) {
    snprintf(logins[i], sizeof(logins[i]), "u%d", i);
    snprintf(users[i], sizeof(users[i]), "u%d:pw%d@example.com", i, i);
    argv[n++] = "--user";
    argv[n++] = users[i];
  }
  for(int i = 0; i < USERS; i++) {
    argv[n++] = "--impersonator";
    argv[n++] = logins[i];
  }
  for(int i = 0; i < LISTENS; i++) {
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
  }
  argv[n] = NULL;
  spawn(&p, argv);
  /* every listener is announced, the last one too */
  ck_assert_msg(read_count(&p, "listening http 127.0.0.1:", LISTENS), "%s", p.text);
  kill(p.pid, SIGTERM);
  ck_assert_int_eq(wait_exit(&p), 0);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("emu_daemon");
  TCase *tc = tcase_create("cli");

  signal(SIGPIPE, SIG_IGN);
  /* No fork per test unless asked (CK_FORK=yes): forking a sanitizer build
   * with the EWS schema loaded costs seconds per test. Every test starts its
   * own emulator in a checked fixture, so tests stay independent. */
  setenv("CK_FORK", "no", 0);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ec_load_schema();
  tcase_add_loop_test(tc, one_line_exchange_then_clean_stop, 0, 2);
  tcase_add_loop_test(tc, command_line_errors, 0, sizeof(cli_cases) / sizeof(cli_cases[0]));
  tcase_add_test(tc, scenario_file_from_the_command_line);
  tcase_add_test(tc, help_documents_everything);
  tcase_add_test(tc, requests_are_schema_validated_out_of_the_box);
  tcase_add_test(tc, missing_schema_is_named);
  tcase_add_test(tc, no_cap_on_repeated_options);
  suite_add_tcase(s, tc);
  {
    int rc = tu_run(s);
    exs_schema_free(ec_ews_schema);
    curl_global_cleanup();
    return rc;
  }
}
