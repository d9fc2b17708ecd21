/* bench_util.h - helpers shared by the benchmark programs in suites/bench:
 * clocks, a temporary directory, child processes (spawned with posix_spawn,
 * stdout read line by line with a deadline, stopped with SIGTERM then
 * SIGKILL), /proc/PID/status memory figures, running a command and
 * capturing its output, and a throwaway self-signed certificate.
 *
 * Everything is bounded: every wait has a deadline in milliseconds, every
 * captured output a size cap. Nothing here asserts; functions return 0 or -1
 * and write a message into err. Only 127.0.0.1 is ever used.
 */
#ifndef EXSYNC_BENCH_UTIL_H
#define EXSYNC_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* Monotonic time in milliseconds (fractional). */
double bench_now_ms(void);

/* Create a fresh directory under $TMPDIR (or /tmp) named exsync-bench-XXXXXX;
 * the path goes into out. 0 or -1. */
int bench_tmpdir(char *out, size_t len);
/* Remove the directory and everything in it. */
void bench_rmdir(const char *dir);

/* Write len bytes of data to path. 0 or -1. */
int bench_write_file(const char *path, const void *data, size_t len);

/* A child process whose stdout is a pipe we read. */
struct bench_child {
  pid_t pid;
  int out_fd;     /* read end of its stdout, -1 when closed */
  char buf[4096]; /* pending bytes not yet returned as lines */
  size_t nbuf;
};

/* Start argv[0] (a path) with argv; stdout piped to us, stderr inherited
 * unless quiet_stderr (then /dev/null). 0 or -1 with err. */
int bench_spawn(struct bench_child *c, char *const argv[], bool quiet_stderr, char *err,
                size_t errlen);
/* Remember pid as ours (bench_spawn does it for its children; a forked
 * child is registered by its parent), or forget it once reaped. */
void bench_child_register(pid_t pid);
void bench_child_forget(pid_t pid);
/* On SIGINT, SIGTERM or SIGHUP (e.g. from `timeout`), send SIGTERM to every
 * registered child (nginx, the emulator, a forked run) and exit 128+signal,
 * so an interrupted benchmark leaves no server behind. In a forked child,
 * call bench_signals_default() to drop the handlers. */
void bench_signals_install(void);
void bench_signals_default(void);
/* Read one line (without the newline) of the child's stdout into line,
 * waiting at most timeout_ms. 0, or -1 on timeout / EOF. */
int bench_child_line(struct bench_child *c, char *line, size_t len, int timeout_ms);
/* SIGTERM, wait up to timeout_ms, then SIGKILL; reaps the child. Returns its
 * exit status as from waitpid, or -1. */
int bench_child_stop(struct bench_child *c, int timeout_ms);

/* Memory of a process from /proc/PID/status, in KiB: VmHWM (peak resident)
 * and VmRSS (resident now). pid 0: this process. 0 or -1. */
int bench_proc_mem(pid_t pid, long *hwm_kb, long *rss_kb);

/* Run argv to completion (at most timeout_ms, then killed), capturing
 * stdout+stderr (at most cap bytes) into a malloc'd NUL-terminated string
 * *out that the caller frees. Returns the exit status (0..255), or -1. */
int bench_run_capture(char *const argv[], int timeout_ms, size_t cap, char **out);

/* Is an executable named name on $PATH (or an absolute path)? The full path
 * goes into out. */
bool bench_which(const char *name, char *out, size_t len);

/* Write a self-signed certificate for 127.0.0.1 (EC P-256, 1 day) to
 * dir/cert.pem and dir/key.pem with the openssl command. 0 or -1. */
int bench_make_cert(const char *dir, char *err, size_t errlen);

/* Base64 of "user:password" for a Basic Authorization header. */
void bench_basic_auth(const char *user, const char *password, char *out, size_t len);

/* "12.3 MiB" style text of a KiB figure, into out. */
const char *bench_kib(long kb, char *out, size_t len);

#endif
