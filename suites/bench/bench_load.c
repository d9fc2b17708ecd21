/* bench_load.c - wrk runner and parser, nginx baseline (bench_load.h). */
#include "bench_load.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pwd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- wrk ---- */

int bench_wrk_script(const char *path, const char *body, const char *auth_b64)
{
  FILE *f = fopen(path, "w");
  int result = -1;

  if(!f)
    return -1;
  /* the body goes in a long bracket: SOAP never contains "]==]" */
  fprintf(f, "wrk.method = \"POST\"\n"
             "wrk.headers[\"Content-Type\"] = \"text/xml; charset=utf-8\"\n");
  if(auth_b64)
    fprintf(f, "wrk.headers[\"Authorization\"] = \"Basic %s\"\n", auth_b64);
  fprintf(f, "wrk.body = [==[%s]==]\n", body);
  result = ferror(f) ? -1 : 0;
  if(fclose(f) != 0)
    result = -1;
  return result;
}

/* "123.45us" / "1.20ms" / "2.00s" -> ms */
static double latency_ms(const char *s)
{
  char *end;
  double v = strtod(s, &end);

  if(!strncmp(end, "us", 2))
    return v / 1000.0;
  if(!strncmp(end, "ms", 2))
    return v;
  if(!strncmp(end, "s", 1))
    return v * 1000.0;
  if(!strncmp(end, "m", 1))
    return v * 60000.0;
  return v;
}

static void parse_wrk(const char *out, struct bench_wrk_result *r)
{
  const char *p;

  if((p = strstr(out, "Requests/sec:")))
    r->rps = strtod(p + 13, NULL);
  if((p = strstr(out, "Latency Distribution"))) {
    const char *q50 = strstr(p, "50%"), *q99 = strstr(p, "99%");
    if(q50)
      r->p50_ms = latency_ms(q50 + 3 + strspn(q50 + 3, " \t"));
    if(q99)
      r->p99_ms = latency_ms(q99 + 3 + strspn(q99 + 3, " \t"));
  }
  if((p = strstr(out, " requests in ")))
    for(const char *b = p; b > out; b--)
      if(b[-1] == '\n') {
        r->requests = strtol(b, NULL, 10);
        break;
      }
  if((p = strstr(out, "Non-2xx or 3xx responses:")))
    r->non2xx = strtol(p + 26, NULL, 10);
  if((p = strstr(out, "Socket errors:"))) {
    long c = 0, rd = 0, w = 0, t = 0;
    if(sscanf(p, "Socket errors: connect %ld, read %ld, write %ld, timeout %ld", &c, &rd, &w, &t) ==
       4)
      r->socket_errors = c + rd + w + t;
  }
}

int bench_wrk_run(const char *wrk, const char *url, const char *script, int threads, int conns,
                  int secs, struct bench_wrk_result *r, char *err, size_t errlen)
{
  char t[16], c[16], d[16], *out = NULL;
  char *argv[] = {(char *)wrk, "-t",        t,    "-c",           c,           "-d",
                  d,           "--latency", "-s", (char *)script, (char *)url, NULL};
  int rc, result = -1;

  memset(r, 0, sizeof(*r));
  snprintf(t, sizeof(t), "%d", threads);
  snprintf(c, sizeof(c), "%d", conns);
  snprintf(d, sizeof(d), "%ds", secs);
  rc = bench_run_capture(argv, (secs + 30) * 1000, 1 << 16, &out);
  if(rc != 0 || !out || !strstr(out, "Requests/sec:")) {
    snprintf(err, errlen, "wrk failed (%d): %.400s", rc, out ? out : "");
    goto out;
  }
  parse_wrk(out, r);
  if(getenv("BENCH_VERBOSE"))
    fprintf(stderr, "--- wrk %s\n%s", url, out);
  result = 0;
out:
  free(out);
  return result;
}

/* ---- nginx ---- */

int bench_free_port(void)
{
  struct sockaddr_in a;
  socklen_t al = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

  if(fd < 0)
    return -1;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
     getsockname(fd, (struct sockaddr *)&a, &al) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

bool bench_port_ready(int port, int timeout_ms)
{
  double deadline = bench_now_ms() + timeout_ms;

  while(bench_now_ms() < deadline) {
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
    if(fd < 0)
      return false;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    if(ok)
      return true;
    usleep(10000); /* waiting for an external server to bind */
  }
  return false;
}

int bench_nginx_start(struct bench_nginx *n, const char *nginx, const char *dir, int workers,
                      const char *cert, const char *key, char *err, size_t errlen)
{
  const char *reuse = workers > 1 ? " reuseport" : "";
  /* workers of a master started by root would run as nobody, who cannot
   * read the temp dir: they run as whoever runs the benchmark */
  struct passwd *pw = workers > 1 && geteuid() == 0 ? getpwuid(geteuid()) : NULL;

  char conf[4096], tmp[4096];
  FILE *f;
  int result = -1;

  memset(n, 0, sizeof(*n));
  n->child.pid = -1;
  n->child.out_fd = -1;
  snprintf(n->root, sizeof(n->root), "%s/www", dir);
  snprintf(tmp, sizeof(tmp), "%s/nginx-tmp", dir);
  if((mkdir(n->root, 0755) != 0 && errno != EEXIST) || (mkdir(tmp, 0755) != 0 && errno != EEXIST)) {
    snprintf(err, errlen, "mkdir %s: %s", n->root, strerror(errno));
    goto out;
  }
  n->http_port = bench_free_port();
  n->https_port = cert && key ? bench_free_port() : 0;
  if(n->http_port <= 0 || n->https_port < 0 || n->https_port == n->http_port) {
    snprintf(err, errlen, "no free port");
    goto out;
  }
  snprintf(conf, sizeof(conf), "%s/nginx.conf", dir);
  f = fopen(conf, "w");
  if(!f) {
    snprintf(err, errlen, "%s: %s", conf, strerror(errno));
    goto out;
  }
  fprintf(f,
          "daemon off;\n%s%s%smaster_process %s;\nworker_processes %d;\n"
          "pid %s/nginx.pid;\nerror_log %s/nginx-error.log warn;\n"
          "events { worker_connections 4096; }\n"
          "http {\n  access_log off;\n  sendfile on;\n  tcp_nodelay on;\n"
          "  keepalive_requests 100000000;\n  keepalive_timeout 120s;\n"
          "  client_body_temp_path %s/body;\n  proxy_temp_path %s/proxy;\n"
          "  fastcgi_temp_path %s/fastcgi;\n  uwsgi_temp_path %s/uwsgi;\n"
          "  scgi_temp_path %s/scgi;\n"
          "  server {\n    listen 127.0.0.1:%d%s;\n",
          pw ? "user " : "", pw ? pw->pw_name : "", pw ? ";\n" : "", workers > 1 ? "on" : "off",
          workers > 1 ? workers : 1, dir, dir, tmp, tmp, tmp, tmp, tmp, n->http_port, reuse);
  if(n->https_port)
    fprintf(f,
            "    listen 127.0.0.1:%d ssl%s;\n    ssl_certificate %s;\n"
            "    ssl_certificate_key %s;\n",
            n->https_port, reuse, cert, key);
  fprintf(f,
          "    root %s;\n    default_type \"text/xml; charset=utf-8\";\n"
          "    location / { error_page 405 =200 $uri; }\n  }\n}\n",
          n->root);
  if(fclose(f) != 0) {
    snprintf(err, errlen, "%s: write failed", conf);
    goto out;
  }
  {
    char *argv[] = {(char *)nginx, "-p", (char *)dir, "-c", conf, NULL};
    if(bench_spawn(&n->child, argv, false, err, errlen) != 0)
      goto out;
  }
  if(!bench_port_ready(n->http_port, 10000)) {
    snprintf(err, errlen, "nginx did not start (see %s/nginx-error.log)", dir);
    bench_child_stop(&n->child, 2000);
    goto out;
  }
  result = 0;
out:
  return result;
}

void bench_nginx_stop(struct bench_nginx *n)
{
  if(n->child.pid > 0)
    bench_child_stop(&n->child, 5000);
}
