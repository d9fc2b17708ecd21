#define _GNU_SOURCE
/* cliworld.c - the world of the command-line suites (see cliworld.h). */
#include "cliworld.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exsync-diag/emu.h"
#include "exsync-emulator/emulator.h"
#include "exsync/buf.h"

struct emu *cw_emu;
char cw_last_stdout[1 << 16], cw_last_stderr[1 << 16];
int cw_port;
char cw_dir[64];
char cw_org_path[128], cw_db_path[128];
char cw_connect_to[128];

int cw_run(char **out, ...)
{
  char *argv[64];
  char outfile[160], errfile[160];
  char *o, *e;
  size_t lo, le;
  va_list ap;
  int argc = 0, status = 0, fd;
  pid_t pid;

  argv[argc++] = "exsync";
  va_start(ap, out);
  while(argc < 63 && (argv[argc] = va_arg(ap, char *)) != NULL)
    argc++;
  va_end(ap);
  argv[argc] = NULL;
  snprintf(outfile, sizeof(outfile), "%s/out.txt", cw_dir);
  snprintf(errfile, sizeof(errfile), "%s/err.txt", cw_dir);
  fflush(NULL);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if(pid == 0) {
    fd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if(fd < 0)
      _exit(99);
    dup2(fd, 1);
    close(fd);
    fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if(fd < 0)
      _exit(99);
    dup2(fd, 2);
    close(fd);
    close(0); /* no terminal: no prompts */
    status = diag_emu_main(argc, argv);
    fflush(NULL); /* _exit skips stdio's buffers */
    _exit(status & 0xff);
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status), "exsync %s died", argv[1]);
  /* *out is stdout then stderr; each is also kept apart */
  o = tu_read_file(outfile, &lo);
  e = tu_read_file(errfile, &le);
  snprintf(cw_last_stdout, sizeof(cw_last_stdout), "%s", o);
  snprintf(cw_last_stderr, sizeof(cw_last_stderr), "%s", e);
  *out = malloc(lo + le + 1);
  ck_assert_ptr_nonnull(*out);
  memcpy(*out, o, lo);
  memcpy(*out + lo, e, le + 1);
  free(o);
  free(e);
  return WEXITSTATUS(status);
}

/* Write the contoso org with plain HTTP allowed and the emulator's cw_port. */
void cw_write_org(const char *protocol)
{
  size_t len;
  char *src = tu_read_file(tu_path("fixtures/orgs/contoso.xml"), &len);
  struct exs_buf b;
  char url[128];
  const char *p = src;
  FILE *f;

  exs_buf_init(&b, 1 << 20);
  snprintf(url, sizeof(url), "http://mail.contoso.com:%d/EWS", cw_port);
  while(*p) {
    if(!strncmp(p, "https://mail.contoso.com/EWS", 28)) {
      exs_buf_adds(&b, url);
      p += 28;
    }
    else if(!strncmp(p, "=\"no\" allow-basic-non-secure=\"no\" allow-non-ssl=\"no\"", 52)) {
      exs_buf_adds(&b, "=\"yes\" allow-basic-non-secure=\"yes\" allow-non-ssl=\"yes\"");
      p += 52;
    }
    else if(!strncmp(p, "protocol=\"autodetect\"", 21)) {
      exs_buf_addf(&b, "protocol=\"%s\"", protocol);
      p += 21;
    }
    else {
      exs_buf_add(&b, p++, 1);
    }
  }
  f = fopen(cw_org_path, "w");
  ck_assert_ptr_nonnull(f);
  fwrite(b.data, 1, b.len, f);
  fclose(f);
  chmod(cw_org_path, 0600);
  exs_buf_free(&b);
  free(src);
}

void cw_setup(void)
{
  char err[512], bound[64];

  snprintf(cw_dir, sizeof(cw_dir), "/tmp/exsync-cli-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(cw_dir));
  snprintf(cw_org_path, sizeof(cw_org_path), "%s/org.xml", cw_dir);
  snprintf(cw_db_path, sizeof(cw_db_path), "%s/exsync.db", cw_dir);
  cw_emu = emu_new();
  ck_assert_msg(
      emu_load_scenario(cw_emu, tu_path("fixtures/scenarios/contoso.xml"), err, sizeof(err)) == 0,
      "%s", err);
  cw_port = emu_listen(cw_emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(cw_port > 0, "%s", err);
  ck_assert_msg(emu_start(cw_emu, err, sizeof(err)) == 0, "%s", err);
  snprintf(cw_connect_to, sizeof(cw_connect_to), "mail.contoso.com:%d:127.0.0.1:%d", cw_port,
           cw_port);
  setenv("EXSYNC_PROFILE_PASSWORD", "svc-pw", 1);
  cw_write_org("basic");
}

void cw_teardown(void)
{
  char cmd[128];

  emu_stop(cw_emu);
  emu_free(cw_emu);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", cw_dir);
  ck_assert_int_eq(system(cmd), 0);
}
