/* test_pgtest.c - the throwaway PostgreSQL cluster (pgtest.c) itself: it
 * starts, serves fresh databases over TCP (password from PGPASSFILE) and the
 * unix socket, and is gone afterwards, also when its test process dies. */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pgtest.h"
#include "testutil.h"

#include "exsync/clock.h"

/* SELECT 1 over uri; returns the value or -1. */
static int select_one(const char *uri)
{
  PGconn *c = PQconnectdb(uri);
  PGresult *r;
  int v = -1;

  if(PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "connect %s: %s", uri, PQerrorMessage(c));
    PQfinish(c);
    return -1;
  }
  r = PQexec(c, "SELECT 1");
  if(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
    v = atoi(PQgetvalue(r, 0, 0));
  PQclear(r);
  PQfinish(c);
  return v;
}

static int dir_exists(const char *dir)
{
  struct stat st;

  return stat(dir, &st) == 0;
}

START_TEST(start_connect_stop)
{
  char err[512], uri1[200], uri2[200], sock[300], dir[200];
  struct pgtest *p = pgtest_start(NULL, err, sizeof(err));

  ck_assert_msg(p != NULL, "%s", err);
  snprintf(dir, sizeof(dir), "%s", pgtest_dir(p));
  ck_assert_int_gt(pgtest_port(p), 0);
  ck_assert_msg(pgtest_createdb(p, uri1, sizeof(uri1), err, sizeof(err)) == 0, "%s", err);
  ck_assert_msg(pgtest_createdb(p, uri2, sizeof(uri2), err, sizeof(err)) == 0, "%s", err);
  ck_assert_str_ne(uri1, uri2);
  ck_assert_msg(strncmp(uri1, "postgresql://exsync@127.0.0.1:", 30) == 0, "%s", uri1);
  /* TCP needs the password: libpq reads it from PGPASSFILE, not the URI */
  {
    const char *user = uri1 + strlen("postgresql://"), *at = strchr(user, '@');
    ck_assert_ptr_nonnull(at);
    ck_assert_ptr_null(memchr(user, ':', (size_t)(at - user)));
  }
  ck_assert_int_eq(select_one(uri1), 1);
  ck_assert_int_eq(select_one(uri2), 1);
  ck_assert_int_eq(pgtest_socket_uri(p, uri1, sock, sizeof(sock)), 0);
  ck_assert_int_eq(select_one(sock), 1);
  pgtest_stop(p);
  ck_assert_msg(!dir_exists(dir), "%s left behind", dir);
  /* the server is gone too */
  ck_assert_int_eq(select_one(uri1), -1);
}
END_TEST

/* A test process that dies without pgtest_stop (SIGKILL: no handler runs)
 * still leaves no server and no directory behind. */
START_TEST(cleanup_when_killed)
{
  int fds[2];
  char dir[200] = "", uri[200] = "";
  pid_t child;
  int64_t deadline;

  ck_assert_int_eq(pipe(fds), 0);
  child = fork();
  ck_assert_int_ge(child, 0);
  if(child == 0) {
    char err[512], line[420];
    struct pgtest *p = pgtest_start(NULL, err, sizeof(err));

    close(fds[0]);
    if(!p || pgtest_createdb(p, uri, sizeof(uri), err, sizeof(err)) != 0)
      _exit(1);
    snprintf(line, sizeof(line), "%s %s", pgtest_dir(p), uri);
    if(write(fds[1], line, strlen(line)) < 0)
      _exit(1);
    raise(SIGKILL);
  }
  close(fds[1]);
  {
    char line[420] = "";
    ssize_t n, got = 0;
    while((n = read(fds[0], line + got, sizeof(line) - 1 - (size_t)got)) > 0)
      got += n;
    close(fds[0]);
    ck_assert_int_eq(sscanf(line, "%199s %199s", dir, uri), 2);
  }
  waitpid(child, NULL, 0);
  /* the child's server answered before it died */
  deadline = exs_monotonic_ms() + 60000;
  while(dir_exists(dir) && exs_monotonic_ms() < deadline)
    poll(NULL, 0, 20);
  ck_assert_msg(!dir_exists(dir), "%s left behind after the test process died", dir);
  ck_assert_int_eq(select_one(uri), -1);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("pgtest");
  TCase *tc = tcase_create("cluster");

  tcase_set_timeout(tc, 180);
  tcase_add_test(tc, start_connect_stop);
  tcase_add_test(tc, cleanup_when_killed);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
