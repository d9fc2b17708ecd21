/* bench_load.h - the load generator (wrk, driven with a Lua script for the
 * POST body and the Authorization header) and the static baseline (nginx
 * from Debian serving answer bytes from files, one process, one worker).
 *
 * Both are external programs started here on 127.0.0.1 and stopped by the
 * caller. wrk's text output is parsed for requests/s, the latency
 * distribution and the error counters.
 */
#ifndef EXSYNC_BENCH_LOAD_H
#define EXSYNC_BENCH_LOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "bench_util.h"

/* ---- wrk ---- */

struct bench_wrk_result {
  double rps;    /* Requests/sec */
  double p50_ms; /* latency distribution */
  double p99_ms;
  long requests;      /* completed in the run */
  long non2xx;        /* "Non-2xx or 3xx responses" */
  long socket_errors; /* connect + read + write + timeout */
};

/* Write a wrk Lua script to path sending POST body with Content-Type
 * text/xml and "Authorization: Basic auth_b64" (auth_b64 NULL: none). */
int bench_wrk_script(const char *path, const char *body, const char *auth_b64);

/* Run wrk -t threads -c conns -d secs --latency -s script url (bounded by
 * secs + 30 s). 0, or -1 with err (wrk failed or printed no Requests/sec). */
int bench_wrk_run(const char *wrk, const char *url, const char *script, int threads, int conns,
                  int secs, struct bench_wrk_result *r, char *err, size_t errlen);

/* ---- nginx ---- */

struct bench_nginx {
  struct bench_child child;
  int http_port;
  int https_port;  /* 0 when started without TLS */
  char root[4096]; /* document root: put the answer files here */
};

/* A free TCP port on 127.0.0.1 (bound then released), or -1. */
int bench_free_port(void);

/* Write a config into dir and start nginx (binary nginx) with workers
 * worker processes (more than one: a master process and reuseport listeners,
 * as the emulator's threads have), access log off, keep-alive unlimited,
 * serving dir/www for GET and POST (POST gets the file through error_page
 * 405 =200). cert/key NULL: no HTTPS listener. Waits until the HTTP port
 * accepts (10 s). 0 or -1. */
int bench_nginx_start(struct bench_nginx *n, const char *nginx, const char *dir, int workers,
                      const char *cert, const char *key, char *err, size_t errlen);
void bench_nginx_stop(struct bench_nginx *n);

/* Can a TCP connection to 127.0.0.1:port be made within timeout_ms? */
bool bench_port_ready(int port, int timeout_ms);

#endif
