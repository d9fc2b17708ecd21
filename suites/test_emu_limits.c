/* test_emu_limits.c - the emulator under abuse: idle and slowloris
 * connections held while GetFolder still answers, the idle and request
 * timeouts, the header size limit, the connection cap, the fd limit (in a
 * child process with a low RLIMIT_NOFILE) survived with one log line, and
 * /_emulator/load confined to --scenario-dir. No timing is asserted: the
 * tests poll for the outcome with a deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu_client.h"
#include "exsync/clock.h"

static const char getfolder[] =
    "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    "<m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds></m:GetFolder>";
static const char slow_head[] = "POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: mail\r\nX-Slow: ";

static struct emu *start(const struct emu_limits *l, int *port)
{
  char err[512], bound[64];
  struct emu *e = emu_new();

  ck_assert_ptr_nonnull(e);
  ck_assert_msg(emu_load_scenario(e, tu_path("fixtures/scenarios/thin.xml"), err, sizeof(err)) == 0,
                "%s", err);
  if(l)
    emu_set_limits(e, l);
  *port = emu_listen(e, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(*port > 0, "%s", err);
  ck_assert_int_eq(emu_start(e, err, sizeof(err)), 0);
  return e;
}

/* A connected socket to 127.0.0.1:port (blocking connect: the kernel's
 * backlog takes it whether or not the server accepted yet). */
static int dial(int port)
{
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  ck_assert_int_ge(fd, 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s",
                strerror(errno));
  return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
  while(n) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if(w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

static void getfolder_answers(int port)
{
  char url[128];
  struct ec_resp r;
  int64_t t0 = exs_monotonic_ms();

  snprintf(url, sizeof(url), "http://127.0.0.1:%d/EWS/Exchange.asmx", port);
  ec_post(url, "alice:alice-pw", ec_soap("Exchange2013_SP1", NULL, getfolder), &r);
  /* a figure for the record, never asserted */
  fprintf(stderr, "GetFolder answered in %lld ms\n", (long long)(exs_monotonic_ms() - t0));
  ck_assert_int_eq(r.status, 200);
  ck_assert_ptr_nonnull(strstr(r.body.data, "NoError"));
  ec_free(&r);
}

/* Poll the emulator's counters until cond holds; fails after 60 s. */
#define WAIT_STATS(e, st, cond)                                                                    \
  do {                                                                                             \
    int64_t until_ = exs_monotonic_ms() + 60000;                                                   \
    for(;;) {                                                                                      \
      emu_conn_stats((e), &(st));                                                                  \
      if(cond)                                                                                     \
        break;                                                                                     \
      ck_assert_msg(exs_monotonic_ms() < until_, "waited in vain for %s (open %zu)", #cond,        \
                    (st).open);                                                                    \
      poll(NULL, 0, 5);                                                                            \
    }                                                                                              \
  } while(0)

/* As many sockets as this process may open, within want (both ends are in
 * this process: two fds per connection). */
static size_t budget(size_t want)
{
  struct rlimit rl;
  size_t room;

  getrlimit(RLIMIT_NOFILE, &rl);
  if(rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 4096) {
    rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  room = rl.rlim_cur > 200 ? (size_t)(rl.rlim_cur - 200) / 2 : 10;
  return want < room ? want : room;
}

START_TEST(idle_and_slowloris_held_getfolder_answers)
{
  struct emu_conn_stats st;
  size_t n = budget(1000), i;
  int *fds = calloc(n, sizeof(int)), port;
  struct emu *e = start(NULL, &port);

  for(i = 0; i < n; i++) {
    fds[i] = dial(port);
    if(i % 2) /* every other one starts a request and never ends its headers */
      send_all(fds[i], slow_head, sizeof(slow_head) - 1);
  }
  WAIT_STATS(e, st, st.open >= n);
  fprintf(stderr, "%zu idle and slowloris connections open:\n", st.open);
  getfolder_answers(port);
  /* and again while the slow ones trickle on */
  for(i = 1; i < n; i += 2)
    send_all(fds[i], "x", 1);
  getfolder_answers(port);
  emu_conn_stats(e, &st);
  ck_assert_uint_eq(st.evicted, 0);
  for(i = 0; i < n; i++)
    close(fds[i]);
  WAIT_STATS(e, st, st.open == 0);
  emu_free(e);
  free(fds);
}
END_TEST

/* Idle connections go after the idle timeout; slowloris ones after the
 * request timeout although they keep sending. */
START_TEST(idle_and_request_timeouts_close)
{
  struct emu_limits l = {.idle_timeout_ms = 300, .request_timeout_ms = 300};
  struct emu_conn_stats st;
  int fds[40], port, closed = 0, i;
  bool done[40] = {false};
  int64_t until = exs_monotonic_ms() + 60000;
  struct emu *e = start(&l, &port);

  for(i = 0; i < 40; i++) {
    fds[i] = dial(port);
    if(i >= 20)
      send_all(fds[i], slow_head, sizeof(slow_head) - 1);
  }
  /* the slow ones send a byte per round: each round waits for a close */
  while(closed < 40) {
    struct pollfd p[40];
    ck_assert_msg(exs_monotonic_ms() < until, "only %d of 40 connections closed", closed);
    for(i = 0; i < 40; i++) {
      p[i].fd = done[i] ? -1 : fds[i];
      p[i].events = POLLIN;
      p[i].revents = 0;
      if(!done[i] && i >= 20)
        send_all(fds[i], "x", 1);
    }
    poll(p, 40, 50);
    for(i = 0; i < 40; i++) {
      char c;
      if(!done[i] && (p[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
         recv(fds[i], &c, 1, MSG_DONTWAIT) <= 0) {
        done[i] = true;
        closed++;
      }
    }
  }
  WAIT_STATS(e, st, st.open == 0);
  ck_assert_uint_ge(st.timed_out, 40);
  getfolder_answers(port);
  for(i = 0; i < 40; i++)
    close(fds[i]);
  emu_free(e);
}
END_TEST

/* A header line larger than the limit is refused: the server answers 400
 * or closes, it does not buffer it. */
START_TEST(header_too_large_rejected)
{
  struct emu_limits l = {.max_header_bytes = 16 * 1024};
  struct emu_conn_stats st;
  char *big = malloc(1 << 20), answer[256] = "";
  int port, fd;
  size_t sent = 0;
  ssize_t got;
  struct emu *e = start(&l, &port);

  memset(big, 'a', 1 << 20);
  fd = dial(port);
  send_all(fd, slow_head, sizeof(slow_head) - 1);
  /* up to 8 MB of one header line; the server stops reading long before */
  while(sent < (8u << 20)) {
    ssize_t w = send(fd, big, 1 << 20, MSG_NOSIGNAL | MSG_DONTWAIT);
    if(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd p = {fd, POLLOUT | POLLIN, 0};
      poll(&p, 1, 1000);
      if(p.revents & (POLLIN | POLLHUP | POLLERR))
        break;
      continue;
    }
    if(w <= 0)
      break;
    sent += (size_t)w;
  }
  {
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, 30000);
  }
  got = recv(fd, answer, sizeof(answer) - 1, 0);
  if(got > 0) {
    answer[got] = '\0';
    ck_assert_msg(!strncmp(answer, "HTTP/1.1 400", 12) || !strncmp(answer, "HTTP/1.1 413", 12) ||
                      !strncmp(answer, "HTTP/1.1 431", 12),
                  "answer: %s", answer);
  }
  close(fd);
  WAIT_STATS(e, st, st.open == 0);
  getfolder_answers(port);
  emu_free(e);
  free(big);
}
END_TEST

/* Beyond the cap the oldest idle connection makes room. */
START_TEST(cap_closes_oldest_idle)
{
  struct emu_limits l = {.max_connections = 30};
  struct emu_conn_stats st;
  int fds[60], port, i;
  struct emu *e = start(&l, &port);

  /* one at a time: with several event loop threads, "oldest" is the order
   * the emulator accepted them in, which only then is the order dialled */
  for(i = 0; i < 60; i++) {
    fds[i] = dial(port);
    WAIT_STATS(e, st, st.accepted >= (size_t)i + 1);
  }
  /* a connection of another event loop thread is closed by that thread, a
   * moment later */
  WAIT_STATS(e, st, st.accepted >= 60 && st.open <= 30 && st.evicted >= 30);
  getfolder_answers(port);
  /* the first ones were closed, the last ones are open */
  {
    char c;
    struct pollfd p = {fds[0], POLLIN, 0};
    poll(&p, 1, 30000);
    ck_assert_int_eq(recv(fds[0], &c, 1, MSG_DONTWAIT), 0);
    ck_assert_int_eq(recv(fds[59], &c, 1, MSG_DONTWAIT), -1);
  }
  for(i = 0; i < 60; i++)
    close(fds[i]);
  emu_free(e);
}
END_TEST

/* The fd limit: a child emulator with RLIMIT_NOFILE 64 and no cap of its
 * own is flooded with connections; GetFolder is answered and the child's
 * stderr has one line about it, not one per accept() failure. */
START_TEST(fd_limit_survived_with_one_log_line)
{
  char logpath[] = "/tmp/exsync-test-fdlimit-XXXXXX";
  int logfd = mkstemp(logpath), pfd[2], port = 0, status, i, lines = 0;
  int fds[200];
  pid_t pid;
  char *text;
  size_t len;

  ck_assert_int_ge(logfd, 0);
  ck_assert_int_eq(pipe(pfd), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if(pid == 0) {
    struct rlimit rl = {64, 64};
    struct emu_limits l = {.max_connections = 100000, .accept_pause_ms = 20};
    char err[256], bound[64];
    struct emu *e;
    close(pfd[0]);
    dup2(logfd, STDERR_FILENO);
    setrlimit(RLIMIT_NOFILE, &rl);
    e = emu_new();
    if(!e || emu_load_scenario(e, tu_path("fixtures/scenarios/thin.xml"), err, sizeof(err)))
      _exit(3);
    emu_set_limits(e, &l);
    port = emu_listen(e, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
    if(port <= 0 || write(pfd[1], &port, sizeof(port)) != sizeof(port))
      _exit(4);
    close(pfd[1]);
    _exit(emu_run(e, true) == 0 ? 0 : 5);
  }
  close(pfd[1]);
  ck_assert_int_eq(read(pfd[0], &port, sizeof(port)), (ssize_t)sizeof(port));
  close(pfd[0]);
  for(i = 0; i < 200; i++)
    fds[i] = dial(port);
  getfolder_answers(port);
  getfolder_answers(port);
  kill(pid, SIGTERM);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
  for(i = 0; i < 200; i++)
    close(fds[i]);
  text = tu_read_file(logpath, &len);
  for(char *p = text; (p = strstr(p, "accept:")) != NULL; p++)
    lines++;
  ck_assert_msg(lines == 1, "%d accept lines in the log:\n%.2000s", lines, text);
  ck_assert_msg(len < 4096, "the log grew to %zu bytes", len);
  free(text);
  close(logfd);
  unlink(logpath);
}
END_TEST

/* /_emulator/load reads only from the scenario directory, and its errors
 * neither quote a file nor tell whether one exists elsewhere. */
START_TEST(load_only_from_scenario_dir)
{
  char dir[] = "/tmp/exsync-test-scen-XXXXXX", path[600], url[128], err[256];
  struct ec_resp r;
  int port;
  struct emu *e = start(NULL, &port);
  FILE *f;

  snprintf(url, sizeof(url), "http://127.0.0.1:%d/_emulator/load", port);
  /* off without a directory */
  ck_assert_int_eq(ec_request("POST", url, NULL, NULL, "thin.xml", &r), CURLE_OK);
  ck_assert_int_eq(r.status, 403);
  ec_free(&r);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  ck_assert_int_eq(emu_set_scenario_dir(e, dir, err, sizeof(err)), 0);
  snprintf(path, sizeof(path), "%s/bad.xml", dir);
  f = fopen(path, "w");
  fputs("<scenario>SECRET-CONTENT</oops>", f);
  fclose(f);
  snprintf(path, sizeof(path), "%s/passwd-link.xml", dir);
  ck_assert_int_eq(symlink("/etc/passwd", path), 0);
  {
    static const char *const names[] = {"/etc/passwd", "../../etc/passwd", "passwd-link.xml",
                                        "absent.xml",  "bad.xml",          ".hidden"};
    for(size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
      ck_assert_int_eq(ec_request("POST", url, NULL, NULL, names[i], &r), CURLE_OK);
      ck_assert_msg(r.status >= 400, "%s loaded", names[i]);
      ck_assert_msg(!strstr(r.body.data, "SECRET") && !strstr(r.body.data, "root:") &&
                        !strstr(r.body.data, "oops") && !strstr(r.body.data, "/etc/") &&
                        !strstr(r.body.data, "No such file"),
                    "%s: %s", names[i], r.body.data);
      ec_free(&r);
    }
  }
  /* a link leading out and an absent file answer alike */
  {
    char a[512], b[512];
    ck_assert_int_eq(ec_request("POST", url, NULL, NULL, "passwd-link.xml", &r), CURLE_OK);
    snprintf(a, sizeof(a), "%ld %s", r.status, strstr(r.body.data, "' in") ? "" : r.body.data);
    ec_free(&r);
    ck_assert_int_eq(ec_request("POST", url, NULL, NULL, "absent.xml", &r), CURLE_OK);
    snprintf(b, sizeof(b), "%ld %s", r.status, strstr(r.body.data, "' in") ? "" : r.body.data);
    ec_free(&r);
    ck_assert_str_eq(a, b);
  }
  snprintf(path, sizeof(path), "%s/thin.xml", dir);
  {
    size_t len;
    char *t = tu_read_file(tu_path("fixtures/scenarios/thin.xml"), &len);
    f = fopen(path, "w");
    fwrite(t, 1, len, f);
    fclose(f);
    free(t);
  }
  ck_assert_int_eq(ec_request("POST", url, NULL, NULL, "thin.xml", &r), CURLE_OK);
  ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body.data);
  ec_free(&r);
  emu_free(e);
  unlink(path);
  snprintf(path, sizeof(path), "%s/bad.xml", dir);
  unlink(path);
  snprintf(path, sizeof(path), "%s/passwd-link.xml", dir);
  unlink(path);
  rmdir(dir);
}
END_TEST

/* A request of one element with 50,000 attributes: the emulator refuses
 * it (a SOAP fault, not seconds of parsing under its lock) and answers
 * the next GetFolder. */
START_TEST(request_with_50000_attributes_refused)
{
  struct exs_buf body;
  struct ec_resp r;
  char url[128];
  int port;
  int64_t t0;
  struct emu *e = start(NULL, &port);

  exs_buf_init(&body, 8u << 20);
  exs_buf_adds(&body, "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"" EC_NS_SOAP "\"><s:Body>"
                      "<m:GetFolder xmlns:m=\"" EC_NS_M "\"");
  for(int i = 0; i < 50000; i++)
    exs_buf_addf(&body, " a%d=\"v\"", i);
  exs_buf_adds(&body, "/></s:Body></s:Envelope>");
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/EWS/Exchange.asmx", port);
  t0 = exs_monotonic_ms();
  ec_post(url, "alice:alice-pw", body.data, &r);
  fprintf(stderr, "emulator: a 50,000-attribute request (%zu bytes) answered %ld in %lld ms\n",
          body.len, r.status, (long long)(exs_monotonic_ms() - t0));
  ck_assert_int_eq(r.status, 500);
  ck_assert_msg(strstr(r.body.data, "more than 256 attributes") != NULL, "%s", r.body.data);
  ec_free(&r);
  exs_buf_free(&body);
  getfolder_answers(port);
  emu_free(e);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("emu_limits");
  TCase *tc = tcase_create("limits");

  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  tcase_set_timeout(tc, 180);
  tcase_add_test(tc, idle_and_slowloris_held_getfolder_answers);
  tcase_add_test(tc, idle_and_request_timeouts_close);
  tcase_add_test(tc, header_too_large_rejected);
  tcase_add_test(tc, cap_closes_oldest_idle);
  tcase_add_test(tc, fd_limit_survived_with_one_log_line);
  tcase_add_test(tc, load_only_from_scenario_dir);
  tcase_add_test(tc, request_with_50000_attributes_refused);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
