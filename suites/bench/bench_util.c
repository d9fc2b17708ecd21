/* bench_util.c - process, file and memory helpers for the benchmarks
 * (see bench_util.h). */
#include "bench_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Live children, for the signal handler (async-signal-safe reads only). */
#define MAX_CHILDREN 16
static volatile sig_atomic_t children[MAX_CHILDREN];

void bench_child_register(pid_t pid)
{
  for(int i = 0; i < MAX_CHILDREN; i++)
    if(children[i] == 0) {
      children[i] = (sig_atomic_t)pid;
      return;
    }
}

void bench_child_forget(pid_t pid)
{
  for(int i = 0; i < MAX_CHILDREN; i++)
    if(children[i] == (sig_atomic_t)pid)
      children[i] = 0;
}

static void on_signal(int sig)
{
  for(int i = 0; i < MAX_CHILDREN; i++)
    if(children[i] > 0)
      kill((pid_t)children[i], SIGTERM);
  _exit(128 + sig);
}

void bench_signals_install(void)
{
  struct sigaction sa;

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}

void bench_signals_default(void)
{
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  for(int i = 0; i < MAX_CHILDREN; i++)
    children[i] = 0;
}

double bench_now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int bench_tmpdir(char *out, size_t len)
{
  const char *t = getenv("TMPDIR");

  snprintf(out, len, "%s/exsync-bench-XXXXXX", t && *t ? t : "/tmp");
  return mkdtemp(out) ? 0 : -1;
}

void bench_rmdir(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  struct stat st;
  char p[4096];

  if(!d)
    return;
  while((e = readdir(d)) != NULL) {
    if(!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    if(lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      bench_rmdir(p); /* nginx's temp directories: two levels at most */
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

int bench_write_file(const char *path, const void *data, size_t len)
{
  FILE *f = fopen(path, "wb");
  int result = -1;

  if(!f)
    return -1;
  if(fwrite(data, 1, len, f) == len)
    result = 0;
  if(fclose(f) != 0)
    result = -1;
  return result;
}

int bench_spawn(struct bench_child *c, char *const argv[], bool quiet_stderr, char *err,
                size_t errlen)
{
  posix_spawn_file_actions_t fa;
  int fds[2] = {-1, -1};
  int result = -1, rc;

  memset(c, 0, sizeof(*c));
  c->pid = -1;
  c->out_fd = -1;
  if(pipe(fds) != 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    return -1;
  }
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  if(quiet_stderr)
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  rc = posix_spawn(&c->pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if(rc != 0) {
    snprintf(err, errlen, "cannot start %s: %s", argv[0], strerror(rc));
    close(fds[0]);
    c->pid = -1;
    goto out;
  }
  c->out_fd = fds[0];
  bench_child_register(c->pid);
  result = 0;
out:
  return result;
}

int bench_child_line(struct bench_child *c, char *line, size_t len, int timeout_ms)
{
  double deadline = bench_now_ms() + timeout_ms;

  for(;;) {
    char *nl = memchr(c->buf, '\n', c->nbuf);
    struct pollfd p;
    ssize_t n;
    int left;

    if(nl) {
      size_t l = (size_t)(nl - c->buf);
      snprintf(line, len, "%.*s", (int)l, c->buf);
      memmove(c->buf, nl + 1, c->nbuf - l - 1);
      c->nbuf -= l + 1;
      return 0;
    }
    if(c->out_fd < 0 || c->nbuf == sizeof(c->buf))
      return -1;
    left = (int)(deadline - bench_now_ms());
    if(left <= 0)
      return -1;
    p.fd = c->out_fd;
    p.events = POLLIN;
    if(poll(&p, 1, left) <= 0)
      continue;
    n = read(c->out_fd, c->buf + c->nbuf, sizeof(c->buf) - c->nbuf);
    if(n <= 0) {
      close(c->out_fd);
      c->out_fd = -1;
      return -1;
    }
    c->nbuf += (size_t)n;
  }
}

int bench_child_stop(struct bench_child *c, int timeout_ms)
{
  double deadline = bench_now_ms() + timeout_ms;
  int status = -1;

  if(c->pid <= 0)
    return -1;
  kill(c->pid, SIGTERM);
  for(;;) {
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    if(r == c->pid)
      break;
    if(r < 0) {
      status = -1;
      break;
    }
    if(bench_now_ms() > deadline) {
      kill(c->pid, SIGKILL);
      waitpid(c->pid, &status, 0);
      break;
    }
    usleep(5000); /* polling a child's exit, not synchronising a test */
  }
  if(c->out_fd >= 0)
    close(c->out_fd);
  bench_child_forget(c->pid);
  c->out_fd = -1;
  c->pid = -1;
  return status;
}

int bench_proc_mem(pid_t pid, long *hwm_kb, long *rss_kb)
{
  char path[64], line[256];
  FILE *f;
  int found = 0;

  if(pid)
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
  else
    snprintf(path, sizeof(path), "/proc/self/status");
  f = fopen(path, "r");
  if(!f)
    return -1;
  *hwm_kb = *rss_kb = 0;
  while(fgets(line, sizeof(line), f)) {
    if(!strncmp(line, "VmHWM:", 6)) {
      *hwm_kb = strtol(line + 6, NULL, 10);
      found++;
    }
    else if(!strncmp(line, "VmRSS:", 6)) {
      *rss_kb = strtol(line + 6, NULL, 10);
      found++;
    }
  }
  fclose(f);
  return found == 2 ? 0 : -1;
}

int bench_run_capture(char *const argv[], int timeout_ms, size_t cap, char **out)
{
  struct bench_child c;
  char *buf = NULL;
  size_t n = 0;
  double deadline = bench_now_ms() + timeout_ms;
  int status = -1, result = -1;
  pid_t r;

  *out = NULL;
  buf = malloc(cap + 1);
  if(!buf)
    return -1;
  /* stderr goes to the same pipe: spawn with a shell-free dup of 1 to 2 */
  {
    posix_spawn_file_actions_t fa;
    int fds[2];
    if(pipe(fds) != 0)
      goto out;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    if(posix_spawnp(&c.pid, argv[0], &fa, NULL, argv, environ) != 0) {
      posix_spawn_file_actions_destroy(&fa);
      close(fds[0]);
      close(fds[1]);
      goto out;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    c.out_fd = fds[0];
    bench_child_register(c.pid);
  }
  for(;;) {
    struct pollfd p = {.fd = c.out_fd, .events = POLLIN};
    int left = (int)(deadline - bench_now_ms());
    ssize_t k;
    if(left <= 0) {
      kill(c.pid, SIGKILL);
      break;
    }
    if(poll(&p, 1, left) <= 0)
      continue;
    if(n < cap) {
      k = read(c.out_fd, buf + n, cap - n);
    }
    else {
      char sink[4096];
      k = read(c.out_fd, sink, sizeof(sink));
    }
    if(k <= 0)
      break;
    if(n < cap)
      n += (size_t)k;
  }
  close(c.out_fd);
  r = waitpid(c.pid, &status, 0);
  bench_child_forget(c.pid);
  buf[n] = '\0';
  *out = buf;
  buf = NULL;
  if(r == c.pid && WIFEXITED(status))
    result = WEXITSTATUS(status);
out:
  free(buf);
  return result;
}

bool bench_which(const char *name, char *out, size_t len)
{
  const char *path = getenv("PATH");
  char dirs[4096], *save = NULL;

  if(strchr(name, '/')) {
    snprintf(out, len, "%s", name);
    return access(out, X_OK) == 0;
  }
  snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
  for(char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    snprintf(out, len, "%s/%s", d, name);
    if(access(out, X_OK) == 0)
      return true;
  }
  return false;
}

int bench_make_cert(const char *dir, char *err, size_t errlen)
{
  char cert[4096], key[4096], openssl[4096], *o = NULL;
  int rc;

  if(!bench_which("openssl", openssl, sizeof(openssl))) {
    snprintf(err, errlen, "no openssl command");
    return -1;
  }
  snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
  snprintf(key, sizeof(key), "%s/key.pem", dir);
  {
    char *argv[] = {openssl,
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                    "-days",
                    "1",
                    "-keyout",
                    key,
                    "-out",
                    cert,
                    NULL};
    rc = bench_run_capture(argv, 30000, 8192, &o);
  }
  if(rc != 0)
    snprintf(err, errlen, "openssl req failed (%d): %.300s", rc, o ? o : "");
  free(o);
  return rc == 0 ? 0 : -1;
}

void bench_basic_auth(const char *user, const char *password, char *out, size_t len)
{
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char in[512];
  size_t n = (size_t)snprintf(in, sizeof(in), "%s:%s", user, password), o = 0;

  if(n >= sizeof(in))
    n = sizeof(in) - 1;
  for(size_t i = 0; i < n && o + 5 < len; i += 3) {
    unsigned v = (unsigned char)in[i] << 16;
    if(i + 1 < n)
      v |= (unsigned char)in[i + 1] << 8;
    if(i + 2 < n)
      v |= (unsigned char)in[i + 2];
    out[o++] = tbl[(v >> 18) & 63];
    out[o++] = tbl[(v >> 12) & 63];
    out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? tbl[v & 63] : '=';
  }
  out[o] = '\0';
}

const char *bench_kib(long kb, char *out, size_t len)
{
  if(kb >= 1024 * 1024)
    snprintf(out, len, "%.2f GiB", (double)kb / (1024.0 * 1024.0));
  else if(kb >= 1024)
    snprintf(out, len, "%.1f MiB", (double)kb / 1024.0);
  else
    snprintf(out, len, "%ld KiB", kb);
  return out;
}
