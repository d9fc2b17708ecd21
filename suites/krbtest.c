/* krbtest.c - a throwaway MIT KDC for the Kerberos suites (krbtest.h). */
#include "krbtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exsync/clock.h"

extern char **environ;

struct krbtest {
  char dir[256];
  char realm[64];
  int port;
  pid_t kdc;
  char paths[4][512]; /* keytabs handed out */
  int npaths;
};

/* A port free for both UDP and TCP on 127.0.0.1 right now. */
static int free_port(void)
{
  for(int tries = 0; tries < 50; tries++) {
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0), port = -1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if(t >= 0 && u >= 0 && bind(t, (struct sockaddr *)&a, sizeof(a)) == 0 &&
       getsockname(t, (struct sockaddr *)&a, &len) == 0 &&
       bind(u, (struct sockaddr *)&a, sizeof(a)) == 0)
      port = ntohs(a.sin_port);
    if(t >= 0)
      close(t);
    if(u >= 0)
      close(u);
    if(port > 0)
      return port;
  }
  return -1;
}

/* Run argv to completion with stdout+stderr into out. Returns exit status. */
static int run(struct krbtest *k, char *const argv[], char *out, size_t outlen)
{
  char log[600];
  posix_spawn_file_actions_t fa;
  pid_t pid;
  int status = -1, fd;
  ssize_t n;

  snprintf(log, sizeof(log), "%s/cmd.out", k->dir);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if(posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
    snprintf(out, outlen, "cannot run %s: %s", argv[0], strerror(errno));
    posix_spawn_file_actions_destroy(&fa);
    return -1;
  }
  posix_spawn_file_actions_destroy(&fa);
  while(waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if(out && outlen) {
    out[0] = '\0';
    fd = open(log, O_RDONLY);
    if(fd >= 0) {
      n = read(fd, out, outlen - 1);
      out[n > 0 ? n : 0] = '\0';
      close(fd);
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");

  if(!f)
    return -1;
  fputs(text, f);
  return fclose(f);
}

int krbtest_log_count(struct krbtest *k, const char *what)
{
  char path[600], line[2048];
  FILE *f;
  int n = 0;

  snprintf(path, sizeof(path), "%s/kdc.log", k->dir);
  f = fopen(path, "r");
  if(!f)
    return 0;
  while(fgets(line, sizeof(line), f))
    if(strstr(line, what))
      n++;
  fclose(f);
  return n;
}

int krbtest_kdc_up(struct krbtest *k)
{
  char *const argv[] = {"krb5kdc", "-n", NULL};
  posix_spawn_file_actions_t fa;
  int64_t deadline = exs_monotonic_ms() + 90000;
  int before = krbtest_log_count(k, "commencing operation");

  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  if(posix_spawnp(&k->kdc, argv[0], &fa, NULL, argv, environ) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    k->kdc = 0;
    return -1;
  }
  posix_spawn_file_actions_destroy(&fa);
  /* ready when it says so in its log, or failed when it exits */
  while(exs_monotonic_ms() < deadline) {
    int status;
    if(krbtest_log_count(k, "commencing operation") > before)
      return 0;
    if(waitpid(k->kdc, &status, WNOHANG) == k->kdc) {
      k->kdc = 0;
      return -1;
    }
    poll(NULL, 0, 10);
  }
  krbtest_kdc_down(k);
  return -1;
}

void krbtest_kdc_down(struct krbtest *k)
{
  if(k->kdc > 0) {
    kill(k->kdc, SIGTERM);
    while(waitpid(k->kdc, NULL, 0) < 0 && errno == EINTR)
      ;
  }
  k->kdc = 0;
}

struct krbtest *krbtest_start(const char *realm, const char *domain, char *err, size_t errlen)
{
  struct krbtest *k = calloc(1, sizeof(*k));
  char path[600], text[4096], out[2048];
  char *create[] = {"kdb5_util", "create", "-s", "-r", (char *)realm, "-P", "master-pw", NULL};

  if(!k) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  snprintf(k->dir, sizeof(k->dir), "%s/exsync-kdc-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if(!mkdtemp(k->dir)) {
    snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
    free(k);
    return NULL;
  }
  snprintf(k->realm, sizeof(k->realm), "%s", realm);
  k->port = free_port();
  snprintf(path, sizeof(path), "%s/krb5.conf", k->dir);
  snprintf(text, sizeof(text),
           "[libdefaults]\n default_realm = %s\n dns_lookup_kdc = false\n"
           " dns_lookup_realm = false\n rdns = false\n dns_canonicalize_hostname = false\n"
           " kdc_timesync = 0\n udp_preference_limit = 1\n"
           "[realms]\n %s = {\n  kdc = 127.0.0.1:%d\n }\n"
           "[domain_realm]\n .%s = %s\n %s = %s\n",
           realm, realm, k->port, domain, realm, domain, realm);
  write_file(path, text);
  setenv("KRB5_CONFIG", path, 1);
  snprintf(path, sizeof(path), "%s/kdc.conf", k->dir);
  snprintf(text, sizeof(text),
           "[kdcdefaults]\n kdc_ports = %d\n kdc_tcp_ports = %d\n"
           "[realms]\n %s = {\n  database_name = %s/principal\n  key_stash_file = %s/stash\n"
           "  acl_file = %s/kadm5.acl\n  default_principal_flags = +preauth\n"
           "  supported_enctypes = aes256-cts-hmac-sha1-96:normal "
           "aes128-cts-hmac-sha1-96:normal\n }\n"
           "[logging]\n kdc = FILE:%s/kdc.log\n",
           k->port, k->port, realm, k->dir, k->dir, k->dir, k->dir);
  write_file(path, text);
  setenv("KRB5_KDC_PROFILE", path, 1);
  setenv("KRB5RCACHEDIR", k->dir, 1);
  if(run(k, create, out, sizeof(out)) != 0) {
    snprintf(err, errlen, "kdb5_util create failed: %s", out);
    goto fail;
  }
  if(krbtest_kdc_up(k) != 0) {
    snprintf(err, errlen, "krb5kdc did not start on port %d (see %s/kdc.log)", k->port, k->dir);
    goto fail;
  }
  return k;
fail:
  krbtest_stop(k);
  return NULL;
}

int krbtest_kadmin(struct krbtest *k, const char *query, char *err, size_t errlen)
{
  char *argv[] = {"kadmin.local", "-q", (char *)query, NULL};
  char out[2048];
  int rc = run(k, argv, out, sizeof(out));

  if(err && errlen)
    snprintf(err, errlen, "%s", out);
  /* kadmin.local exits 0 even when the query failed: look at its words */
  if(rc != 0 || strstr(out, "while ") || strstr(out, "No such") || strstr(out, "error"))
    return -1;
  return 0;
}

int krbtest_add_user(struct krbtest *k, const char *name, const char *password)
{
  char q[512];

  snprintf(q, sizeof(q), "addprinc -pw %s %s", password, name);
  return krbtest_kadmin(k, q, NULL, 0);
}

static const char *keep_path(struct krbtest *k, const char *file)
{
  char buf[sizeof(((struct krbtest *)0)->paths[0])];

  if(k->npaths >= 4)
    return NULL;
  snprintf(buf, sizeof(buf), "%s/%s", k->dir, file);
  memcpy(k->paths[k->npaths], buf, sizeof(buf));
  return k->paths[k->npaths++];
}

const char *krbtest_add_service(struct krbtest *k, const char *principal)
{
  char q[1200], file[128];
  const char *path;

  snprintf(q, sizeof(q), "addprinc -randkey %s", principal);
  if(krbtest_kadmin(k, q, NULL, 0))
    return NULL;
  snprintf(file, sizeof(file), "service%d.keytab", k->npaths);
  path = keep_path(k, file);
  if(!path)
    return NULL;
  snprintf(q, sizeof(q), "ktadd -k %s %s", path, principal);
  return krbtest_kadmin(k, q, NULL, 0) ? NULL : path;
}

const char *krbtest_keytab(struct krbtest *k, const char *principal, const char *file)
{
  char q[1200];
  const char *path = keep_path(k, file);

  if(!path)
    return NULL;
  snprintf(q, sizeof(q), "ktadd -norandkey -k %s %s", path, principal);
  return krbtest_kadmin(k, q, NULL, 0) ? NULL : path;
}

const char *krbtest_dir(const struct krbtest *k)
{
  return k->dir;
}

void krbtest_stop(struct krbtest *k)
{
  char *argv[] = {"rm", "-rf", k ? k->dir : NULL, NULL};

  if(!k)
    return;
  krbtest_kdc_down(k);
  if(k->dir[0])
    run(k, argv, NULL, 0);
  free(k);
}
