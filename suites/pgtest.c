/* pgtest.c - a throwaway PostgreSQL cluster for the suites (pgtest.h). */
#define _GNU_SOURCE /* pipe2, posix_spawn_file_actions_addchdir_np */
#include "pgtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define PG_SUPERUSER "exsync"

struct pgtest {
  char dir[128];
  char data[160];
  char log[160];
  char bindir[256];
  int port;
  int ndb;
  int as_postgres; /* we are root: the cluster runs as the postgres user */
  pid_t guard;     /* stops and removes the cluster when we are gone */
  int guard_fd;    /* its pipe: closing it (or dying) starts the cleanup */
};

static int free_port(void)
{
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int s = socket(AF_INET, SOCK_STREAM, 0), port = -1;

  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
     getsockname(s, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if(s >= 0)
    close(s);
  return port;
}

/* The newest installed server's bin directory (Debian keeps each major
 * version under /usr/lib/postgresql/N/bin). */
static int find_bindir(char *out, size_t outlen)
{
  const char *env = getenv("EXSYNC_PG_BINDIR");
  glob_t g;
  int best = -1;

  if(env && *env) {
    snprintf(out, outlen, "%s", env);
    return 0;
  }
  if(glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0)
    return -1;
  for(size_t i = 0; i < g.gl_pathc; i++) {
    int v = atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"));
    if(v > best) {
      best = v;
      snprintf(out, outlen, "%.*s", (int)(strlen(g.gl_pathv[i]) - strlen("/initdb")),
               g.gl_pathv[i]);
    }
  }
  globfree(&g);
  return best >= 0 ? 0 : -1;
}

/* Run PROG (from the server's bin directory) with args as the cluster's
 * owner, output appended to the cluster's log; wait for it. Returns its exit
 * status or -1. Uses only what is safe in the guard after fork. */
static int run_pg(const struct pgtest *p, char *const args[])
{
  char *argv[24];
  char prog[320];
  int n = 0, status = -1;
  posix_spawn_file_actions_t fa;
  pid_t pid;

  snprintf(prog, sizeof(prog), "%s/%s", p->bindir, args[0]);
  if(p->as_postgres) {
    argv[n++] = "setpriv";
    argv[n++] = "--reuid=postgres";
    argv[n++] = "--regid=postgres";
    argv[n++] = "--clear-groups";
    argv[n++] = "--";
  }
  argv[n++] = prog;
  for(int i = 1; args[i] && n < 23; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, p->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  /* the test's working directory may be closed to the postgres user */
  posix_spawn_file_actions_addchdir_np(&fa, p->dir);
  if(posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return -1;
  }
  posix_spawn_file_actions_destroy(&fa);
  while(waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void remove_dir(const char *dir)
{
  char *argv[] = {"rm", "-rf", (char *)dir, NULL};
  pid_t pid;

  if(posix_spawnp(&pid, "rm", NULL, NULL, argv, environ) == 0)
    while(waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
}

/* The guard: blocks until every holder of the pipe's write end is gone
 * (pgtest_stop closed it, or the test process died), then stops the server
 * and removes the directory. Its own session, so that a signal to the test's
 * process group does not take it along. */
static void guard_main(const struct pgtest *p, int rfd)
{
  char pid_file[200], c;
  int nul = open("/dev/null", O_RDWR);
  struct stat st;

  setsid();
  if(nul >= 0) {
    dup2(nul, 0);
    dup2(nul, 1);
    dup2(nul, 2);
  }
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  while(read(rfd, &c, 1) != 0 && errno == EINTR)
    ;
  snprintf(pid_file, sizeof(pid_file), "%s/postmaster.pid", p->data);
  if(stat(pid_file, &st) == 0) {
    char *stop[] = {"pg_ctl", "-D", (char *)p->data, "-m", "immediate", "-w", "stop", NULL};
    run_pg(p, stop);
  }
  remove_dir(p->dir);
  _exit(0);
}

static int write_file(const char *path, const char *text, mode_t mode)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  size_t len = strlen(text);

  if(fd < 0)
    return -1;
  if(write(fd, text, len) != (ssize_t)len) {
    close(fd);
    return -1;
  }
  return close(fd);
}

static int append_file(const char *path, const char *text)
{
  int fd = open(path, O_WRONLY | O_APPEND);
  size_t len = strlen(text);
  int rc = 0;

  if(fd < 0)
    return -1;
  if(write(fd, text, len) != (ssize_t)len)
    rc = -1;
  return close(fd) == 0 ? rc : -1;
}

/* 32 hex digits from the kernel's generator. */
static int random_password(char *out, size_t outlen)
{
  unsigned char b[16];
  int fd = open("/dev/urandom", O_RDONLY);

  if(fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b) || outlen < 33) {
    if(fd >= 0)
      close(fd);
    return -1;
  }
  close(fd);
  for(size_t i = 0; i < sizeof(b); i++)
    snprintf(out + 2 * i, 3, "%02x", b[i]);
  return 0;
}

static int start_guard(struct pgtest *p)
{
  int fds[2];

  if(pipe2(fds, O_CLOEXEC) != 0)
    return -1;
  p->guard = fork();
  if(p->guard < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if(p->guard == 0) {
    close(fds[1]);
    guard_main(p, fds[0]);
  }
  close(fds[0]);
  p->guard_fd = fds[1];
  return 0;
}

/* initdb with the superuser's password from a file the owner can read. */
static int make_cluster(struct pgtest *p, const char *password, char *err, size_t errlen)
{
  char pwfile[200], pwopt[220], dataopt[200];
  struct passwd *pw = NULL;

  if(p->as_postgres) {
    pw = getpwnam("postgres");
    if(!pw) {
      snprintf(err, errlen,
               "running as root and there is no postgres user to run the server "
               "(Debian's postgresql package creates it)");
      return -1;
    }
    if(chown(p->dir, pw->pw_uid, pw->pw_gid) != 0) {
      snprintf(err, errlen, "chown %s: %s", p->dir, strerror(errno));
      return -1;
    }
  }
  snprintf(pwfile, sizeof(pwfile), "%s/pw", p->dir);
  if(write_file(pwfile, password, 0600) != 0 ||
     (pw && chown(pwfile, pw->pw_uid, pw->pw_gid) != 0)) {
    snprintf(err, errlen, "cannot write %s: %s", pwfile, strerror(errno));
    return -1;
  }
  snprintf(pwopt, sizeof(pwopt), "--pwfile=%s", pwfile);
  snprintf(dataopt, sizeof(dataopt), "--pgdata=%s", p->data);
  {
    char *argv[] = {"initdb",
                    dataopt,
                    "--username=" PG_SUPERUSER,
                    pwopt,
                    "--no-locale",
                    "--encoding=UTF8",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--no-sync",
                    NULL};
    if(run_pg(p, argv) != 0) {
      snprintf(err, errlen, "initdb failed (see %s)", p->log);
      unlink(pwfile);
      return -1;
    }
  }
  unlink(pwfile);
  return 0;
}

/* The settings for this test cluster, appended to its postgresql.conf. */
static int configure(struct pgtest *p, const struct pgtest_options *o, char *err, size_t errlen)
{
  char conf[200], text[1024];

  snprintf(conf, sizeof(conf), "%s/postgresql.conf", p->data);
  snprintf(text, sizeof(text),
           "\n# pgtest (suites/pgtest.c)\n"
           "listen_addresses = '127.0.0.1'\n"
           "port = %d\n"
           "unix_socket_directories = '%s'\n"
           "max_connections = %d\n"
           "shared_buffers = 32MB\n"
           "%s",
           p->port, p->dir, o && o->max_connections > 0 ? o->max_connections : 100,
           o && o->durable ? ""
                           : "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
  if(append_file(conf, text) != 0) {
    snprintf(err, errlen, "cannot write %s: %s", conf, strerror(errno));
    return -1;
  }
  return 0;
}

static int pg_start(struct pgtest *p)
{
  char logopt[200];
  char *argv[] = {"pg_ctl", "-D", p->data, logopt, "-w", "-t", "120", "start", NULL};

  snprintf(logopt, sizeof(logopt), "--log=%s/postgres.log", p->dir);
  return run_pg(p, argv);
}

/* A password file (libpq's PGPASSFILE) for TCP connections to this cluster. */
static int write_pgpass(struct pgtest *p, const char *password, char *err, size_t errlen)
{
  char path[200], line[200];

  snprintf(path, sizeof(path), "%s/pgpass", p->dir);
  snprintf(line, sizeof(line), "127.0.0.1:%d:*:%s:%s\n", p->port, PG_SUPERUSER, password);
  if(write_file(path, line, 0600) != 0) {
    snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return -1;
  }
  setenv("PGPASSFILE", path, 1);
  return 0;
}

struct pgtest *pgtest_start(const struct pgtest_options *opts, char *err, size_t errlen)
{
  struct pgtest *p = calloc(1, sizeof(*p));
  char password[40];

  if(!p) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  p->guard_fd = -1;
  if(find_bindir(p->bindir, sizeof(p->bindir)) != 0) {
    snprintf(err, errlen,
             "no PostgreSQL server in /usr/lib/postgresql/*/bin "
             "(install Debian's postgresql, or set EXSYNC_PG_BINDIR)");
    free(p);
    return NULL;
  }
  snprintf(p->dir, sizeof(p->dir), "/tmp/exsync-pg-XXXXXX");
  if(!mkdtemp(p->dir)) {
    snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
    free(p);
    return NULL;
  }
  snprintf(p->data, sizeof(p->data), "%s/data", p->dir);
  snprintf(p->log, sizeof(p->log), "%s/pgtest.log", p->dir);
  p->as_postgres = geteuid() == 0;
  if(start_guard(p) != 0) {
    snprintf(err, errlen, "cannot start the cleanup guard: %s", strerror(errno));
    remove_dir(p->dir);
    free(p);
    return NULL;
  }
  if(random_password(password, sizeof(password)) != 0) {
    snprintf(err, errlen, "cannot read /dev/urandom");
    goto fail;
  }
  if(make_cluster(p, password, err, errlen) != 0)
    goto fail;
  /* a port another process takes between our probe and the server's bind:
   * try again with another (the configuration is appended each time; the
   * last setting wins) */
  for(int tries = 0;; tries++) {
    p->port = free_port();
    if(p->port < 0 || configure(p, opts, err, errlen) != 0)
      goto fail;
    if(pg_start(p) == 0)
      break;
    if(tries == 2) {
      snprintf(err, errlen, "pg_ctl start failed (see %s and %s/postgres.log)", p->log, p->dir);
      goto fail;
    }
  }
  if(write_pgpass(p, password, err, errlen) != 0)
    goto fail;
  return p;
fail:
  pgtest_stop(p);
  return NULL;
}

void pgtest_stop(struct pgtest *p)
{
  if(!p)
    return;
  if(p->guard_fd >= 0)
    close(p->guard_fd);
  if(p->guard > 0)
    while(waitpid(p->guard, NULL, 0) < 0 && errno == EINTR)
      ;
  free(p);
}

int pgtest_createdb(struct pgtest *p, char *uri, size_t urilen, char *err, size_t errlen)
{
  char conninfo[300], sql[64], name[40];
  PGconn *c;
  PGresult *r;
  int rc = -1;

  snprintf(conninfo, sizeof(conninfo), "host=%s port=%d user=%s dbname=postgres", p->dir, p->port,
           PG_SUPERUSER);
  c = PQconnectdb(conninfo);
  if(PQstatus(c) != CONNECTION_OK) {
    snprintf(err, errlen, "connect to the test cluster: %s", PQerrorMessage(c));
    PQfinish(c);
    return -1;
  }
  /* unique also across processes forked from the one that started the
   * cluster (Check runs each test in a child) */
  p->ndb++;
  snprintf(name, sizeof(name), "t%ld_%d", (long)getpid(), p->ndb);
  snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
  r = PQexec(c, sql);
  if(PQresultStatus(r) != PGRES_COMMAND_OK)
    snprintf(err, errlen, "%s: %s", sql, PQerrorMessage(c));
  else {
    snprintf(uri, urilen, "postgresql://%s@127.0.0.1:%d/%s", PG_SUPERUSER, p->port, name);
    rc = 0;
  }
  PQclear(r);
  PQfinish(c);
  return rc;
}

int pgtest_socket_uri(const struct pgtest *p, const char *tcp_uri, char *uri, size_t urilen)
{
  const char *db = strrchr(tcp_uri, '/');

  if(!db)
    return -1;
  snprintf(uri, urilen, "postgresql://%s@%s?host=%s&port=%d", PG_SUPERUSER, db, p->dir, p->port);
  return 0;
}

const char *pgtest_dir(const struct pgtest *p)
{
  return p->dir;
}

int pgtest_port(const struct pgtest *p)
{
  return p->port;
}

const char *pgtest_log(const struct pgtest *p)
{
  return p->log;
}
