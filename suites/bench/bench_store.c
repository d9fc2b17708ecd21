/* bench_store.c - the emulator's store cost without the loader's garbage:
 * load a scenario in-process in a forked child, give freed memory back with
 * malloc_trim, and report VmRSS (bench_store.h). */
#define _GNU_SOURCE /* malloc_trim */
#include "bench_store.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "exsync-emulator/emulator.h"

struct store_report {
  int ok;
  double load_ms;
  long rss_kb;
};

static void child(const char *scenario, int fd)
{
  struct store_report rep;
  struct emu *emu = emu_new();
  char err[1024];
  long hwm = 0;
  double t0;

  memset(&rep, 0, sizeof(rep));
  if(emu) {
    t0 = bench_now_ms();
    if(emu_load_scenario(emu, scenario, err, sizeof(err)) == 0) {
      rep.load_ms = bench_now_ms() - t0;
      malloc_trim(0);
      rep.ok = bench_proc_mem(0, &hwm, &rep.rss_kb) == 0;
    }
    else {
      fprintf(stderr, "bench_store: %s\n", err);
    }
  }
  if(write(fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
    _exit(4);
  _exit(0); /* no emu_free: the figure is taken, the process goes */
}

int bench_store_measure(const char *scenario, int timeout_ms, double *load_ms, long *rss_kb)
{
  struct store_report rep;
  int fds[2], status = -1, result = -1;
  double deadline = bench_now_ms() + timeout_ms;
  pid_t pid;

  if(pipe(fds) != 0)
    return -1;
  fflush(NULL);
  pid = fork();
  if(pid == 0) {
    bench_signals_default();
    close(fds[0]);
    child(scenario, fds[1]);
  }
  close(fds[1]);
  if(pid < 0) {
    close(fds[0]);
    return -1;
  }
  bench_child_register(pid);
  for(;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if(r == pid)
      break;
    if(r < 0 || bench_now_ms() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      status = -1;
      break;
    }
    usleep(20000); /* polling a child's exit */
  }
  bench_child_forget(pid);
  if(status == 0 && read(fds[0], &rep, sizeof(rep)) == (ssize_t)sizeof(rep) && rep.ok) {
    *load_ms = rep.load_ms;
    *rss_kb = rep.rss_kb;
    result = 0;
  }
  close(fds[0]);
  return result;
}
