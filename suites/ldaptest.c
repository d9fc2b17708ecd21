/* ldaptest.c - a throwaway slapd for the SCP tests (ldaptest.h). */
#include "ldaptest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exsync/clock.h"

extern char **environ;

struct ldaptest {
  char dir[256];
  char uri[64];
  int port;
  pid_t pid;
};

/* The Active Directory names Autodiscover's SCP lookup uses (public
 * schema facts), as an OpenLDAP schema. */
static const char schema[] =
    "attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'configurationNamingContext'\n"
    "  EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 SINGLE-VALUE )\n"
    "attributetype ( 1.2.840.113556.1.4.48 NAME 'keywords'\n"
    "  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch\n"
    "  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )\n"
    "attributetype ( 1.2.840.113556.1.4.510 NAME 'serviceBindingInformation'\n"
    "  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )\n"
    "objectclass ( 1.2.840.113556.1.3.23 NAME 'container' SUP top STRUCTURAL MUST cn )\n"
    "objectclass ( 1.2.840.113556.1.5.126 NAME 'serviceConnectionPoint' SUP top STRUCTURAL\n"
    "  MUST cn MAY ( keywords $ serviceBindingInformation ) )\n";

static int write_file(const char *dir, const char *name, const char *text)
{
  char path[600];
  FILE *f;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "w");
  if(!f)
    return -1;
  fputs(text, f);
  return fclose(f);
}

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

static int spawn(struct ldaptest *l, char *const argv[], pid_t *pid)
{
  char log[600];
  posix_spawn_file_actions_t fa;
  int rc;

  snprintf(log, sizeof(log), "%s/%s.log", l->dir, argv[0]);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  rc = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc;
}

static bool port_open(int port)
{
  struct sockaddr_in a;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  bool ok;

  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
  if(s >= 0)
    close(s);
  return ok;
}

struct ldaptest *ldaptest_start(const char *base, const char *entries_ldif, char *err,
                                size_t errlen)
{
  struct ldaptest *l = calloc(1, sizeof(*l));
  char text[8192], conf[600], ldif[600], listen[80], db[600];
  const char *dc;
  pid_t pid;
  int status = -1;
  int64_t deadline;

  if(!l) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  snprintf(l->dir, sizeof(l->dir), "/tmp/exsync-ldap-XXXXXX");
  if(!mkdtemp(l->dir)) {
    snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
    free(l);
    return NULL;
  }
  snprintf(db, sizeof(db), "%s/db", l->dir);
  mkdir(db, 0700);
  write_file(l->dir, "scp.schema", schema);
  snprintf(text, sizeof(text), "dn:\nconfigurationNamingContext: CN=Configuration,%s\n", base);
  write_file(l->dir, "rootdse.ldif", text);
  snprintf(text, sizeof(text),
           "include /etc/ldap/schema/core.schema\ninclude %s/scp.schema\n"
           "modulepath /usr/lib/ldap\nmoduleload back_mdb\npidfile %s/slapd.pid\n"
           "rootDSE %s/rootdse.ldif\ndatabase mdb\nsuffix \"%s\"\n"
           "rootdn \"CN=admin,%s\"\nrootpw admin-pw\ndirectory %s\n"
           "access to * by * read\n",
           l->dir, l->dir, l->dir, base, base, db);
  write_file(l->dir, "slapd.conf", text);
  dc = strchr(base, '=');
  snprintf(text, sizeof(text),
           "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: %.*s\no: test\n\n"
           "dn: CN=Configuration,%s\nobjectClass: container\ncn: Configuration\n\n%s",
           base, (int)strcspn(dc ? dc + 1 : "x", ","), dc ? dc + 1 : "x", base,
           entries_ldif ? entries_ldif : "");
  write_file(l->dir, "data.ldif", text);
  snprintf(conf, sizeof(conf), "%s/slapd.conf", l->dir);
  snprintf(ldif, sizeof(ldif), "%s/data.ldif", l->dir);
  {
    char *argv[] = {"slapadd", "-f", conf, "-l", ldif, NULL};
    if(spawn(l, argv, &pid) != 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
       WEXITSTATUS(status) != 0) {
      snprintf(err, errlen, "slapadd failed (see %s/slapadd.log)", l->dir);
      goto fail;
    }
  }
  l->port = free_port();
  snprintf(listen, sizeof(listen), "ldap://127.0.0.1:%d/", l->port);
  snprintf(l->uri, sizeof(l->uri), "ldap://127.0.0.1:%d", l->port);
  {
    /* -d keeps it in the foreground, so that it is our child to stop */
    char *argv[] = {"slapd", "-f", conf, "-h", listen, "-d", "0", NULL};
    if(spawn(l, argv, &l->pid) != 0) {
      snprintf(err, errlen, "cannot run slapd: %s", strerror(errno));
      l->pid = 0;
      goto fail;
    }
  }
  deadline = exs_monotonic_ms() + 90000;
  while(!port_open(l->port)) {
    if(waitpid(l->pid, &status, WNOHANG) == l->pid || exs_monotonic_ms() > deadline) {
      snprintf(err, errlen, "slapd did not start on port %d (see %s/slapd.log)", l->port, l->dir);
      goto fail;
    }
    poll(NULL, 0, 10);
  }
  return l;
fail:
  ldaptest_stop(l);
  return NULL;
}

const char *ldaptest_uri(const struct ldaptest *l)
{
  return l->uri;
}

void ldaptest_stop(struct ldaptest *l)
{
  pid_t pid;

  if(!l)
    return;
  if(l->pid > 0) {
    kill(l->pid, SIGTERM);
    while(waitpid(l->pid, NULL, 0) < 0 && errno == EINTR)
      ;
  }
  {
    char *argv[] = {"rm", "-rf", l->dir, NULL};
    if(spawn(l, argv, &pid) == 0)
      waitpid(pid, NULL, 0);
  }
  free(l);
}
