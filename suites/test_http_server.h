/* test_http_server.h - a tiny canned-answer HTTP/1.1 server for the suites
 * (header-only, not a suite). It listens on 127.0.0.1 port 0, answers the
 * i-th connection with answers[i] (one request per connection: answers
 * should carry "Connection: close"), records each request, and stops after
 * the last answer. */
#ifndef EXSYNC_TEST_HTTP_SERVER_H
#define EXSYNC_TEST_HTTP_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TS_MAX_ANSWERS 16

struct ts_server {
  int fd;
  int port;
  pthread_t thread;
  const char *answers[TS_MAX_ANSWERS];
  size_t n;
  size_t served;
  char requests[TS_MAX_ANSWERS][16384];
};

/* Read one request (headers + Content-Length body) into buf. */
static void ts_read_request(int c, char *buf, size_t cap)
{
  size_t len = 0;
  long want = -1;

  buf[0] = '\0';
  while(len + 1 < cap) {
    struct pollfd p = {c, POLLIN, 0};
    ssize_t r;
    char *hdr_end;
    if(poll(&p, 1, 5000) <= 0)
      break;
    r = read(c, buf + len, cap - 1 - len);
    if(r <= 0)
      break;
    len += (size_t)r;
    buf[len] = '\0';
    hdr_end = strstr(buf, "\r\n\r\n");
    if(hdr_end && want < 0) {
      const char *cl = strstr(buf, "\r\nContent-Length:");
      want = (long)(hdr_end + 4 - buf) + (cl && cl < hdr_end ? atol(cl + 17) : 0);
    }
    if(want >= 0 && (long)len >= want)
      break;
  }
}

static void *ts_run(void *arg)
{
  struct ts_server *s = arg;

  while(s->served < s->n) {
    struct pollfd p = {s->fd, POLLIN, 0};
    int c;
    const char *a;
    if(poll(&p, 1, 10000) <= 0)
      break;
    c = accept(s->fd, NULL, NULL);
    if(c < 0)
      break;
    ts_read_request(c, s->requests[s->served], sizeof(s->requests[0]));
    a = s->answers[s->served++];
    if(write(c, a, strlen(a)) < 0) {
      /* the client went away; nothing to do */
    }
    shutdown(c, SHUT_WR);
    {
      char sink[256];
      struct pollfd q = {c, POLLIN, 0};
      while(poll(&q, 1, 200) > 0 && read(c, sink, sizeof(sink)) > 0) {
      }
    }
    close(c);
  }
  return NULL;
}

/* A listening socket on 127.0.0.1:0; returns the fd and sets *port. */
static int ts_listen(int *port)
{
  struct sockaddr_in sa;
  socklen_t sl = sizeof(sa);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;

  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8) ||
     getsockname(fd, (struct sockaddr *)&sa, &sl)) {
    close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

/* Start serving answers[0..n-1]. Returns 0 or -1. */
static int ts_start(struct ts_server *s, const char *const *answers, size_t n)
{
  size_t i;

  memset(s, 0, sizeof(*s));
  s->fd = ts_listen(&s->port);
  if(s->fd < 0 || n > TS_MAX_ANSWERS)
    return -1;
  for(i = 0; i < n; i++)
    s->answers[i] = answers[i];
  s->n = n;
  return pthread_create(&s->thread, NULL, ts_run, s) ? -1 : 0;
}

/* Wait for the thread (it ends after the last answer or 10 s idle). */
static void ts_stop(struct ts_server *s)
{
  shutdown(s->fd, SHUT_RDWR);
  pthread_join(s->thread, NULL);
  close(s->fd);
}

#endif
