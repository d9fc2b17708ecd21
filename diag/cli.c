/* cli.c - global options and command dispatch. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/xmlversion.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "exsync/clock.h"
#include "exsync/datadir.h"
#include "exsync/privfile.h"
#include "opt.h"
#include "progress.h"

static const struct {
  const char *name;
  int (*run)(struct diag_ctx *, int, char **);
  const char *summary;
} commands[] = {
    {"demo", NULL, "start the built-in emulator and Test & Enable its mailboxes"},
    {"test-enable", diag_cmd_test_enable, "store-less Test & Enable of an org file (--config)"},
    {"import", diag_cmd_admin, "import org settings, profiles and mailboxes from an org file"},
    {"org", diag_cmd_admin, "show or set the org's email settings"},
    {"profile", diag_cmd_admin,
     "create, set, show, list, delete, test-enable email server profiles"},
    {"mailbox", diag_cmd_admin,
     "add, import, list, show, set, approve, reject, test-enable mailboxes"},
    {"autodiscover", diag_cmd_autodiscover, "step-by-step Autodiscover troubleshooting"},
    {"alerts", diag_cmd_admin, "the alert wall (all, or one mailbox's)"},
    {"job", diag_cmd_admin, "list, show or wait for background jobs"},
    {"sync", diag_cmd_sync, "synchronize mailboxes (a service; --once for one pass)"},
    {"status", diag_cmd_sync, "one-screen health summary of server-side synchronization"},
    {"activity", diag_cmd_sync, "list tracked and outgoing email activities"},
    {"email", diag_cmd_sync, "queue an outgoing email (email send)"},
    {"act", diag_cmd_sync,
     "appointments, contacts and tasks on the CRM side (list, add, set, delete)"},
    {"record", diag_cmd_record, "run a command and record its HTTP conversation, secrets scrubbed"},
    {"replay", NULL, "rerun a recording offline and compare the report"},
};

static int usage(FILE *f)
{
  size_t i;

  fputs("usage: exsync [--db PATH] [--key-file PATH] [--format text|json|junit|html]\n"
        "              [--trace FILE|-] [-o FILE] [--cacert FILE] [--resolve HOST:PORT:ADDR]...\n"
        "              [--connect-to H:P:H2:P2]... [--proxy URL] [--noproxy LIST]\n"
        "              COMMAND [ARGS...]\n\n"
        "Test and enable Exchange mailboxes for CRM server-side synchronization.\n\n"
        "Commands:\n",
        f);
  for(i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
  fputs("\nGlobal options (before or after the command; --opt=VALUE or --opt VALUE):\n"
        "  --db PATH            the store (default ./exsync.db, or $EXSYNC_DB); only import,\n"
        "                       profile create, mailbox add|import and the demo create one;\n"
        "                       or a PostgreSQL database: postgresql://USER@HOST:PORT/DB\n"
        "                       (password from ~/.pgpass, PGPASSFILE or PGPASSWORD, never\n"
        "                       in the URI; ?sslmode=verify-full for TLS; needs --key-file)\n"
        "  --key-file PATH      credential key (default: the store path + .key, made 0600)\n"
        "  --format FORMAT      text (default), json; junit for test-enable and replay; html\n"
        "                       for test-enable, demo, replay, autodiscover and status\n"
        "  -o, --output FILE    write the report to FILE (atomically: a temporary file, renamed)\n"
        "  --failures-only      reports list only the mailboxes with a failure\n"
        "  --trace FILE|-       write the HTTP/SOAP conversation, secrets redacted, time-stamped\n"
        "                       and separated per mailbox ('-': standard error)\n"
        "  --cacert FILE        trust this CA bundle for TLS\n"
        "  --resolve H:P:ADDR   connect to ADDR for H:P (as curl --resolve)\n"
        "  --connect-to H:P:H2:P2  send connections for H:P to H2:P2 (as curl --connect-to)\n"
        "  --proxy URL          HTTP(S) proxy for every request ('' for none; default: the\n"
        "                       https_proxy / http_proxy environment, as curl)\n"
        "  --noproxy LIST       hosts reached directly (comma-separated, as curl --noproxy)\n"
        "  --no-progress        no progress line on the terminal\n"
        "  -h, --help           this help; 'exsync help COMMAND' or 'exsync COMMAND --help'\n"
        "  -V, --version        version, library versions and authentication features\n\n"
        "Colour: Failure is shown in red on a terminal, never when NO_COLOR is set or\n"
        "TERM=dumb.\n"
        "Exit codes: 0 all tested workloads succeeded, 1 some failed, 2 usage or configuration\n"
        "error or internal failure (nothing tested). 'exsync COMMAND --help' describes a\n"
        "command; man exsync and man 5 exsync-org document more. Schemas and the demo's\n"
        "files are read from $EXSYNC_DATA_DIR, else PREFIX/share/exsync beside PREFIX/bin.\n",
        f);
  return f == stdout ? 0 : 2;
}

static const char *extra_versions;

void diag_set_extra_versions(const char *lines)
{
  extra_versions = lines;
}

static int version(void)
{
  const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

  printf("exsync %s\n", EXSYNC_VERSION);
  printf("libcurl %s (%s)\n", cv->version, cv->ssl_version ? cv->ssl_version : "no TLS");
  printf("OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION));
  printf("libxml2 %s\n", LIBXML_DOTTED_VERSION);
  printf("SQLite %s\n", sqlite3_libversion());
  if(extra_versions)
    fputs(extra_versions, stdout);
  printf("Authentication: Basic%s%s%s%s\n", cv->features & CURL_VERSION_NTLM ? " NTLM" : "",
         cv->features & CURL_VERSION_SPNEGO ? " Negotiate" : "",
         cv->features & CURL_VERSION_GSSAPI ? " GSS-API" : "",
         cv->features & CURL_VERSION_KERBEROS5 ? " Kerberos" : "");
  printf("Proxy: %s\n", cv->features & CURL_VERSION_HTTPS_PROXY ? "HTTP, HTTPS" : "HTTP");
  return 0;
}

static bool is_report_command(char **rest, int nrest)
{
  static const char *const top[] = {"test-enable", "demo", "replay", "autodiscover"};
  size_t k;

  for(k = 0; k < sizeof(top) / sizeof(top[0]); k++)
    if(!strcmp(rest[0], top[k]))
      return true;
  return nrest > 1 && (!strcmp(rest[0], "mailbox") || !strcmp(rest[0], "profile")) &&
         (!strcmp(rest[1], "test-enable") || !strcmp(rest[1], "apply-defaults"));
}

static bool use_color(void)
{
  const char *term = getenv("TERM");
  const char *nc = getenv("NO_COLOR");

  return isatty(STDOUT_FILENO) && !(nc && *nc) && term && *term && strcmp(term, "dumb");
}

/* The command rest[0] names (built in, or among extra): its function, or
 * NULL with the exit code in *result (unknown, or not built into this
 * program). */
static int (*find_command(char **rest, const struct diag_command *extra, size_t n_extra,
                          int *result))(struct diag_ctx *, int, char **)
{
  int (*run)(struct diag_ctx *, int, char **);
  size_t c, e;

  for(c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
    if(!strcmp(rest[0], commands[c].name))
      break;
  if(c == sizeof(commands) / sizeof(commands[0])) {
    *result = diag_fail("unknown command '%s' (see exsync --help)", rest[0]);
    return NULL;
  }
  run = commands[c].run;
  for(e = 0; !run && e < n_extra; e++)
    if(!strcmp(rest[0], extra[e].name))
      run = extra[e].run;
  if(!run)
    *result = diag_fail("command '%s' is not built into this program", rest[0]);
  return run;
}

/* The command's name in reports: "mailbox test-enable", "replay". */
static void command_name(char **rest, int nrest, char *buf, size_t len)
{
  bool sub = nrest > 1 && rest[1][0] != '-' && strcmp(rest[0], "replay") &&
             strcmp(rest[0], "autodiscover") && strcmp(rest[0], "alerts");

  snprintf(buf, len, "%s%s%s", rest[0], sub ? " " : "", sub ? rest[1] : "");
}

/* -o FILE: the report goes to a temporary file next to FILE (stdout is
 * pointed at it), renamed by end_output: a reader never sees half a
 * report. 0, or 2 with the message printed. */
static int begin_output(const struct diag_ctx *ctx, char *tmp, size_t len, int *saved)
{
  int fd;

  snprintf(tmp, len, "%s.tmp.XXXXXX", ctx->output);
  fd = mkstemp(tmp);
  if(fd < 0) {
    tmp[0] = '\0';
    return diag_fail("cannot write %s: %s", ctx->output, strerror(errno));
  }
  fchmod(fd, 0644);
  fflush(stdout);
  *saved = dup(STDOUT_FILENO);
  dup2(fd, STDOUT_FILENO);
  close(fd);
  return 0;
}

/* Put stdout back and keep the report (renamed to FILE) unless the run
 * failed without writing one. Returns result, or 2 when the rename failed. */
static int end_output(const struct diag_ctx *ctx, const char *tmp, int saved, int result)
{
  struct stat sb;
  bool keep;

  fflush(stdout);
  keep = fstat(STDOUT_FILENO, &sb) == 0 && (sb.st_size > 0 || result != 2);
  fsync(STDOUT_FILENO);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  if(!keep) {
    unlink(tmp);
  }
  else if(rename(tmp, ctx->output)) {
    unlink(tmp);
    result = diag_fail("cannot write %s: %s", ctx->output, strerror(errno));
  }
  return result;
}

/* The global options wherever they stand into ctx, the other words into
 * rest (*nrest); "--" ends the globals (record). 0, or -1 (printed). */
static int take_globals(struct diag_ctx *ctx, int argc, char **argv, char **rest, int *nrest)
{
  bool passthrough = false;
  int i;

  for(i = 1; i < argc; i++) {
    int t = 0;
    if(!passthrough && !strcmp(argv[i], "--"))
      passthrough = true;
    if(!passthrough)
      t = diag_take_global(ctx, argc, argv, &i);
    if(t < 0)
      return -1;
    if(t == 0)
      rest[(*nrest)++] = argv[i];
  }
  return 0;
}

/* Version, help and "help CMD" (rewritten to CMD --help in rest): -1 to go
 * on to the command, else the exit code. */
static int early_words(char **rest, int nrest)
{
  if(nrest == 0)
    return usage(stderr);
  if(!strcmp(rest[0], "--version") || !strcmp(rest[0], "-V") || !strcmp(rest[0], "version"))
    return version();
  if(!strcmp(rest[0], "--help") || !strcmp(rest[0], "-h") ||
     (!strcmp(rest[0], "help") && nrest == 1))
    return usage(stdout);
  if(!strcmp(rest[0], "help")) {
    /* exsync help CMD [SUB] is exsync CMD [SUB] --help */
    memmove(rest, rest + 1, (size_t)(nrest - 1) * sizeof(char *));
    rest[nrest - 1] = "--help";
  }
  else if(rest[0][0] == '-') {
    return diag_fail("unknown option '%s' (see exsync --help)", rest[0]);
  }
  return -1;
}

int diag_main(int argc, char **argv)
{
  return diag_main_with(argc, argv, NULL, 0);
}

int diag_main_with(int argc, char **argv, const struct diag_command *extra, size_t n_extra)
{
  struct diag_ctx ctx;
  char **rest = calloc((size_t)argc + 2, sizeof(char *));
  char tmp_out[4200] = "", cmdname[64];
  int nrest = 0, saved_out = -1;
  int result = 2;
  int (*run)(struct diag_ctx *, int, char **);
  bool froze = false, report_cmd;
  const char *frozen = getenv("EXSYNC_FROZEN_TIME");
  time_t frozen_t;

  memset(&ctx, 0, sizeof(ctx));
  ctx.out = stdout;
  ctx.argv0 = argv[0];
  diag_clear_last_error();
  if(!rest)
    return diag_fail("out of memory");
  /* a fixed wall clock for tests, read here once (exs_now never reads the
   * environment: a getenv per call would race with setenv on a thread) */
  if(frozen && *frozen && exs_time_parse(frozen, &frozen_t) == 0) {
    exs_clock_freeze(frozen_t);
    froze = true;
  }
  if(take_globals(&ctx, argc, argv, rest, &nrest))
    goto out;
  if(!ctx.db)
    ctx.db = getenv("EXSYNC_DB") && *getenv("EXSYNC_DB") ? getenv("EXSYNC_DB") : "exsync.db";
  ctx.color = !ctx.output && use_color(); /* -o FILE: never escape codes in a file */
  diag_progress_configure(!ctx.no_progress);
  diag_report_configure(ctx.color, ctx.failures_only);
  if((result = early_words(rest, nrest)) >= 0)
    goto out;
  result = 2;
  if(!(run = find_command(rest, extra, n_extra, &result)))
    goto out;
  command_name(rest, nrest, cmdname, sizeof(cmdname));
  ctx.command = cmdname;
  if(ctx.trace_path) {
    char why[4200] = "";
    ctx.trace =
        strcmp(ctx.trace_path, "-") ? exs_privfile_open(ctx.trace_path, why, sizeof(why)) : stderr;
    if(!ctx.trace) {
      result = diag_fail("cannot write the trace file %s", why);
      goto out;
    }
  }
  if(ctx.output && (result = begin_output(&ctx, tmp_out, sizeof(tmp_out), &saved_out)))
    goto out;
  report_cmd = is_report_command(rest, nrest);
  diag_report_reset_emitted();
  result = run(&ctx, nrest, rest);
  if(report_cmd)
    diag_report_error_if_silent(stdout, ctx.format, ctx.command, result);
out:
  if(saved_out >= 0)
    result = end_output(&ctx, tmp_out, saved_out, result);
  if(ctx.trace && ctx.trace != stderr)
    fclose(ctx.trace);
  diag_report_clear_traces();
  if(froze)
    exs_clock_freeze(0);
  free(rest);
  return result;
}
