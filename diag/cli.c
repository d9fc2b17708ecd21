/* cli.c - global options and command dispatch. */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "exsync/clock.h"
#include "exsync/datadir.h"
#include "exsync/privfile.h"

static const struct {
  const char *name;
  int (*run)(struct diag_ctx *, int, char **);
  const char *summary;
} commands[] = {
  {"demo", NULL, "start the built-in emulator and Test & Enable its mailboxes"},
  {"test-enable", diag_cmd_test_enable, "store-less Test & Enable of an org file (--config)"},
  {"import", diag_cmd_admin, "import org settings, profiles and mailboxes from an org file"},
  {"org", diag_cmd_admin, "show or set the org's email settings"},
  {"profile", diag_cmd_admin, "create, set, show, list, delete, test-enable email server profiles"},
  {"mailbox", diag_cmd_admin, "add, import, list, show, set, approve, reject, test-enable mailboxes"},
  {"autodiscover", diag_cmd_autodiscover, "step-by-step Autodiscover troubleshooting"},
  {"alerts", diag_cmd_admin, "the alert wall (all, or one mailbox's)"},
  {"job", diag_cmd_admin, "list, show or wait for background jobs"},
  {"sync", diag_cmd_sync, "synchronize mailboxes (a service; --once for one pass)"},
  {"status", diag_cmd_sync, "one-screen health summary of server-side synchronization"},
  {"activity", diag_cmd_sync, "list tracked and outgoing email activities"},
  {"email", diag_cmd_sync, "queue an outgoing email (email send)"},
  {"act", diag_cmd_sync, "appointments, contacts and tasks on the CRM side (list, add, set, delete)"},
  {"record", diag_cmd_record, "run a command and record its HTTP conversation, secrets scrubbed"},
  {"replay", NULL, "rerun a recording offline and compare the report"},
};

static int usage(FILE *f)
{
  size_t i;

  fputs("usage: exsync [--db PATH] [--key-file PATH] [--format text|json|junit] [--trace FILE]\n"
        "              [--cacert FILE] [--resolve HOST:PORT:ADDR]... [--connect-to H:P:H2:P2]...\n"
        "              COMMAND [ARGS...]\n\n"
        "Test and enable Exchange mailboxes for CRM server-side synchronization.\n\n"
        "Commands:\n", f);
  for(i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
  fputs("\nGlobal options (before or after the command):\n"
        "  --db PATH            the store (default ./exsync.db, or $EXSYNC_DB)\n"
        "  --key-file PATH      credential key (default: the store path + .key, made 0600)\n"
        "  --format FORMAT      report format: text (default), json, junit\n"
        "  --trace FILE         write the HTTP/SOAP conversation, secrets redacted\n"
        "  --cacert FILE        trust this CA bundle for TLS\n"
        "  --resolve H:P:ADDR   connect to ADDR for H:P (as curl --resolve)\n"
        "  --connect-to H:P:H2:P2  send connections for H:P to H2:P2 (as curl --connect-to)\n"
        "  --help, --version\n\n"
        "Exit codes: 0 all tested workloads succeeded, 1 some failed, 2 usage or configuration\n"
        "error or internal failure (nothing tested). 'exsync COMMAND --help' describes a\n"
        "command; man exsync and man 5 exsync-org document more. Schemas and the demo's\n"
        "files are read from $EXSYNC_DATA_DIR, else PREFIX/share/exsync beside PREFIX/bin.\n",
        f);
  return f == stdout ? 0 : 2;
}

int diag_fail(const char *fmt, ...)
{
  va_list ap;

  fputs("exsync: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return 2;
}

const char *diag_data_path(const char *relative)
{
  static char ring[4][4096];
  static int next;

  return exs_data_path(relative, ring[next++ % 4], sizeof(ring[0]));
}

void diag_trace_cb(void *ud, enum exs_trace_kind kind, const char *data, size_t len)
{
  struct diag_ctx *ctx = ud;
  static const char *const marks[] = {"* ", "> ", "> ", "< ", "< "};

  if(!ctx->trace)
    return;
  if(kind == EXS_TRACE_REQ_BODY || kind == EXS_TRACE_RESP_BODY) {
    fwrite(data, 1, len, ctx->trace);
    if(len && data[len - 1] != '\n')
      fputc('\n', ctx->trace);
  }
  else {
    size_t i = 0;
    while(i < len) {
      size_t j = i;
      while(j < len && data[j] != '\n')
        j++;
      fputs(marks[kind], ctx->trace);
      fwrite(data + i, 1, j - i, ctx->trace);
      fputc('\n', ctx->trace);
      i = j + 1;
    }
  }
  fflush(ctx->trace);
}

/* Take one global option at argv[*i] if it is one. Returns 1 taken, 0 not a
 * global option, -1 error (message printed). */
static int take_global(struct diag_ctx *ctx, int argc, char **argv, int *i)
{
  const char *a = argv[*i];
  const char *v;

  static const char *const with_value[] = {"--db", "--key-file", "--format", "--trace",
                                           "--cacert", "--resolve", "--connect-to"};
  size_t k;
  for(k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) {
    size_t n = strlen(with_value[k]);
    if(strncmp(a, with_value[k], n) || (a[n] && a[n] != '='))
      continue;
    if(a[n] == '=') {
      v = a + n + 1;
    }
    else {
      if(*i + 1 >= argc) {
        diag_fail("option %s needs a value", with_value[k]);
        return -1;
      }
      v = argv[++*i];
    }
    switch(k) {
    case 0: ctx->db = v; break;
    case 1: ctx->key_file = v; break;
    case 2: {
      int f = diag_format_parse(v);
      if(f < 0) {
        diag_fail("unknown format '%s' (text, json or junit)", v);
        return -1;
      }
      ctx->format = (enum diag_format)f;
      break;
    }
    case 3: ctx->trace_path = v; break;
    case 4: ctx->cacert = v; break;
    case 5:
      if(ctx->n_resolve >= DIAG_MAX_OVERRIDES || !strchr(v, ':')) {
        diag_fail("--resolve wants HOST:PORT:ADDR (at most %d)", DIAG_MAX_OVERRIDES);
        return -1;
      }
      ctx->resolve[ctx->n_resolve++] = v;
      break;
    case 6:
      if(ctx->n_connect_to >= DIAG_MAX_OVERRIDES || !strchr(v, ':')) {
        diag_fail("--connect-to wants HOST:PORT:HOST2:PORT2 (at most %d)", DIAG_MAX_OVERRIDES);
        return -1;
      }
      ctx->connect_to[ctx->n_connect_to++] = v;
      break;
    default: break;
    }
    return 1;
  }
  return 0;
}

int diag_main(int argc, char **argv)
{
  return diag_main_with(argc, argv, NULL, 0);
}

int diag_main_with(int argc, char **argv, const struct diag_command *extra, size_t n_extra)
{
  struct diag_ctx ctx;
  char **rest = calloc((size_t)argc + 1, sizeof(char *));
  int nrest = 0;
  int result = 2;
  int i;
  size_t c;
  bool passthrough = false;

  memset(&ctx, 0, sizeof(ctx));
  ctx.argv0 = argv[0];
  if(!rest)
    return diag_fail("out of memory");
  /* globals may stand before or after the command; "--" ends them (record) */
  for(i = 1; i < argc; i++) {
    int t = 0;
    if(!passthrough && !strcmp(argv[i], "--"))
      passthrough = true;
    if(!passthrough)
      t = take_global(&ctx, argc, argv, &i);
    if(t < 0)
      goto out;
    if(t == 0)
      rest[nrest++] = argv[i];
  }
  if(!ctx.db)
    ctx.db = getenv("EXSYNC_DB") && *getenv("EXSYNC_DB") ? getenv("EXSYNC_DB") : "exsync.db";
  if(nrest == 0) {
    result = usage(stderr);
    goto out;
  }
  if(!strcmp(rest[0], "--version") || !strcmp(rest[0], "version")) {
    printf("exsync %s\n", EXSYNC_VERSION);
    result = 0;
    goto out;
  }
  if(!strcmp(rest[0], "--help") || !strcmp(rest[0], "-h") || !strcmp(rest[0], "help")) {
    result = usage(stdout);
    goto out;
  }
  if(ctx.trace_path) {
    char why[4200];
    ctx.trace = exs_privfile_open(ctx.trace_path, why, sizeof(why));
    if(!ctx.trace) {
      result = diag_fail("cannot write the trace file %s", why);
      goto out;
    }
  }
  for(c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
    if(!strcmp(rest[0], commands[c].name)) {
      int (*run)(struct diag_ctx *, int, char **) = commands[c].run;
      size_t e;
      for(e = 0; !run && e < n_extra; e++)
        if(!strcmp(rest[0], extra[e].name))
          run = extra[e].run;
      if(!run)
        result = diag_fail("command '%s' is not built into this program", rest[0]);
      else
        result = run(&ctx, nrest, rest);
      goto out;
    }
  }
  result = diag_fail("unknown command '%s' (see exsync --help)", rest[0]);
out:
  if(ctx.trace)
    fclose(ctx.trace);
  free(rest);
  return result;
}
