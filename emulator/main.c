/* main.c - the exsync-emulator daemon: a fake Exchange in one command.
 *
 *   exsync-emulator [--listen ADDR:PORT]... [--tls-listen ADDR:PORT]...
 *                   [--scenario FILE] [--user LOGIN:PASSWORD@DOMAIN]...
 *                   [--impersonator LOGIN]... [--cert FILE --key FILE]
 *                   [--ca-out FILE] [--scenario-dir DIR] [--max-connections N]
 *                   [--idle-timeout MS] [--request-timeout MS]
 *                   [--max-header-bytes N] [--threads N] [--help] [--version]
 *
 * Prints "listening http|https ADDR:PORT" per listener (stdout, flushed),
 * runs until SIGINT/SIGTERM. Exit 0 on a clean stop, 2 on usage or
 * configuration errors, 1 on runtime failure.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exsync-emulator/emulator.h"
#include "exsync/datadir.h"

#ifndef EXSYNC_VERSION
#define EXSYNC_VERSION "0"
#endif

static void usage(FILE *f)
{
  fputs("usage: exsync-emulator [--listen ADDR:PORT]... [--tls-listen ADDR:PORT]...\n"
        "                       [--scenario FILE] [--user LOGIN:PASSWORD@DOMAIN]...\n"
        "                       [--impersonator LOGIN]... [--cert FILE --key FILE]\n"
        "                       [--ca-out FILE] [--scenario-dir DIR] [--keytab FILE]\n"
        "                       [--max-connections N] [--idle-timeout MS]\n"
        "                       [--request-timeout MS] [--max-header-bytes N]\n"
        "                       [--threads N] [--help] [--version]\n\n"
        "A fake Exchange server: EWS SOAP at /EWS/Exchange.asmx, Autodiscover POX and\n"
        "SOAP, Basic, NTLM(v2) and Negotiate authentication, impersonation, virtual hosts\n"
        "(chosen by the Host header), stateful mailboxes, fault injection, a request\n"
        "journal and an admin API. Prints one 'listening http|https ADDR:PORT' line per\n"
        "listener; stops cleanly on SIGINT or SIGTERM (exit 0; 2 on a usage or\n"
        "configuration error). Every EWS request is validated against the EWS schema, as\n"
        "Exchange does (ErrorSchemaValidation).\n\n"
        "Options (each takes a value; the repeatable ones without limit):\n"
        "  --listen ADDR:PORT      plain HTTP listener ([V6]:PORT for IPv6; port 0: an\n"
        "                          ephemeral one). Without --listen/--tls-listen:\n"
        "                          127.0.0.1:0. Repeatable\n"
        "  --tls-listen ADDR:PORT  HTTPS listener (a certificate for the scenario's hosts\n"
        "                          from a CA made at start, or --cert/--key). Repeatable\n"
        "  --scenario FILE         the world: org domains, users, mailboxes, items,\n"
        "                          faults (urn:exsync:scenario:1, fixtures/schema/\n"
        "                          scenario.xsd; described in docs/scenario-file.md)\n"
        "  --user LOGIN:PASSWORD@DOMAIN  a user and its mailbox LOGIN@DOMAIN, without a\n"
        "                          scenario file (as GreenMail's users option). Repeatable\n"
        "  --impersonator LOGIN    grant LOGIN impersonation of every mailbox. Repeatable\n"
        "  --cert FILE --key FILE  serve this certificate and key (PEM) on --tls-listen\n"
        "  --ca-out FILE           write the CA certificate (PEM) clients must trust\n"
        "  --scenario-dir DIR      POST /_emulator/load reads scenario files from DIR\n"
        "                          only (by file name); without it load is off\n"
        "  --keytab FILE           accept Kerberos under Negotiate with the HTTP/<host>\n"
        "                          keys of FILE (principal user@REALM = scenario user)\n"
        "  --max-connections N     beyond N open connections the oldest idle one is\n"
        "                          closed (default 1024, within the fd limit)\n"
        "  --idle-timeout MS       close a connection idle this long (default 120000)\n"
        "  --request-timeout MS    a request must arrive whole this long after its\n"
        "                          first byte (default 30000; slowloris)\n"
        "  --max-header-bytes N    refuse larger request headers (default 65536)\n"
        "  --threads N             event loop threads, 1 to 256 (default: the number of\n"
        "                          cores, or $EXSYNC_EMU_THREADS); each accepts on every\n"
        "                          listener and keeps its connections; mailboxes, journal,\n"
        "                          faults and limits are shared (1: one loop, as before)\n"
        "  -h, --help              this help\n"
        "  --version               the version\n\n"
        "Fault specs (POST /_emulator/faults, or <fault spec=\"...\"/> in a scenario):\n"
        "space-separated key=value words, e.g.\n"
        "  mailbox=nina@tailspin.com operation=GetFolder ews-code=ErrorServerBusy times=1\n"
        "  scope (absent: any)  host=H  mailbox=SMTP  operation=OP  user=LOGIN\n"
        "  effect               ews-code=CODE [backoff-ms=N] | http-status=N | reset |\n"
        "                       truncated | malformed; delay-ms=N or delay-ms=MIN-MAX\n"
        "                       (alone or with an effect)\n"
        "  when                 times=N (the first N matches) | every=N (every Nth) |\n"
        "                       probability=P (0 to 1) [seed=N]\n\n"
        "Admin API (no authentication: bind the emulator to loopback; JSON answers):\n"
        "  GET    /_emulator/health          {\"status\":\"ok\",...}\n"
        "  POST   /_emulator/reset           reload the scenario, clear journal and faults\n"
        "  POST   /_emulator/load            body: a file name in --scenario-dir\n"
        "  GET    /_emulator/journal         every request seen (the request journal)\n"
        "  POST   /_emulator/faults          body: a fault spec -> {\"id\":N}\n"
        "  DELETE /_emulator/faults          clear every fault (or POST .../faults/clear)\n"
        "  POST   /_emulator/deliver?from=A&to=B&subject=S   body: the message text\n\n"
        "Files: the EWS and scenario schemas are read from the data directory:\n"
        "$EXSYNC_DATA_DIR, else PREFIX/share/exsync beside PREFIX/bin. The scenario file\n"
        "format and the fault specs are described in docs/scenario-file.md of the source\n"
        "tree, and in exsync-emulator(1).\n",
        f);
}

/* "ADDR:PORT" or "[V6]:PORT" -> addr, port. */
static int split_addr(const char *s, char *addr, size_t len, int *port)
{
  const char *colon = strrchr(s, ':');
  char *end;
  long p;

  if(!colon)
    return -1;
  p = strtol(colon + 1, &end, 10);
  if(*end || p < 0 || p > 65535 || colon == s)
    return -1;
  if(s[0] == '[' && colon[-1] == ']')
    snprintf(addr, len, "%.*s", (int)(colon - s - 2), s + 1);
  else
    snprintf(addr, len, "%.*s", (int)(colon - s), s);
  *port = (int)p;
  return 0;
}

struct listen_spec {
  const char *spec;
  bool tls;
};

/* what the command line asks for; the strings point into argv */
struct options {
  struct listen_spec *listens;
  const char **users;
  const char **imps;
  size_t nlistens, nusers, nimps;
  const char *scenario, *ca_out, *cert, *key, *keytab, *scenario_dir;
  struct emu_limits limits;
  long threads;
};

/* One of the four limits options: a positive number into its field. */
static int parse_limit(struct options *o, const char *a, const char *v)
{
  char *end;
  long n = strtol(v, &end, 10);

  if(*end || n <= 0 || n > 100000000) {
    fprintf(stderr, "exsync-emulator: %s: '%s' is not a positive number\n", a, v);
    return -1;
  }
  if(!strcmp(a, "--max-connections"))
    o->limits.max_connections = n;
  else if(!strcmp(a, "--idle-timeout"))
    o->limits.idle_timeout_ms = n;
  else if(!strcmp(a, "--request-timeout"))
    o->limits.request_timeout_ms = n;
  else
    o->limits.max_header_bytes = n;
  return 0;
}

/* Fills o from argv. -1: go on and run; else the exit code (0 after --help or
 * --version, 2 on a usage error, already reported). */
static int parse_options(int argc, char **argv, struct options *o)
{
  for(int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if(!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if(!strcmp(a, "--version")) {
      printf("exsync-emulator %s\n", EXSYNC_VERSION);
      return 0;
    }
    if(!v) {
      fprintf(stderr, "exsync-emulator: %s: unknown option or missing value\n", a);
      usage(stderr);
      return 2;
    }
    if(!strcmp(a, "--listen") || !strcmp(a, "--tls-listen")) {
      o->listens[o->nlistens].spec = v;
      o->listens[o->nlistens++].tls = !strcmp(a, "--tls-listen");
    }
    else if(!strcmp(a, "--scenario")) {
      o->scenario = v;
    }
    else if(!strcmp(a, "--user")) {
      o->users[o->nusers++] = v;
    }
    else if(!strcmp(a, "--impersonator")) {
      o->imps[o->nimps++] = v;
    }
    else if(!strcmp(a, "--ca-out")) {
      o->ca_out = v;
    }
    else if(!strcmp(a, "--keytab")) {
      o->keytab = v;
    }
    else if(!strcmp(a, "--cert")) {
      o->cert = v;
    }
    else if(!strcmp(a, "--key")) {
      o->key = v;
    }
    else if(!strcmp(a, "--scenario-dir")) {
      o->scenario_dir = v;
    }
    else if(!strcmp(a, "--threads")) {
      char *end;
      o->threads = strtol(v, &end, 10);
      if(*end || end == v || o->threads < 1 || o->threads > 256) {
        fprintf(stderr, "exsync-emulator: --threads: '%s' is not a number from 1 to 256\n", v);
        return 2;
      }
    }
    else if(!strcmp(a, "--max-connections") || !strcmp(a, "--idle-timeout") ||
            !strcmp(a, "--request-timeout") || !strcmp(a, "--max-header-bytes")) {
      if(parse_limit(o, a, v) != 0)
        return 2;
    }
    else {
      fprintf(stderr, "exsync-emulator: %s: unknown option\n", a);
      usage(stderr);
      return 2;
    }
    i++;
  }
  return -1;
}

/* The --user accounts: LOGIN:PASSWORD@DOMAIN; the password may contain ':'
 * but not '@' after it. */
static int add_users(struct emu *emu, const struct options *o)
{
  char err[1024];

  for(size_t i = 0; i < o->nusers; i++) {
    char buf[1024], *colon, *at;
    snprintf(buf, sizeof(buf), "%s", o->users[i]);
    colon = strchr(buf, ':');
    at = strrchr(buf, '@');
    if(!colon || !at || at < colon) {
      fprintf(stderr, "exsync-emulator: --user %s: expected LOGIN:PASSWORD@DOMAIN\n", o->users[i]);
      return -1;
    }
    *colon = '\0';
    *at = '\0';
    if(emu_add_user(emu, buf, colon + 1, at + 1, err, sizeof(err)) != 0) {
      fprintf(stderr, "exsync-emulator: --user: %s\n", err);
      return -1;
    }
  }
  return 0;
}

/* Everything before the listeners: schema, limits, the world, credentials.
 * 0, or -1 after reporting the error. */
static int configure(struct emu *emu, const struct options *o)
{
  char err[1024], xsd[4096];

  /* requests are checked against the EWS schema, as Exchange does */
  exs_data_path("schema/ews/ews-validate.xsd", xsd, sizeof(xsd));
  if(emu_set_ews_schema(emu, xsd, err, sizeof(err)) != 0) {
    fprintf(stderr,
            "exsync-emulator: cannot load the EWS schema %s: %s (set EXSYNC_DATA_DIR to the "
            "directory holding schema/ews)\n",
            xsd, err);
    return -1;
  }
  emu_set_limits(emu, &o->limits);
  if(o->threads && emu_set_threads(emu, (unsigned)o->threads, err, sizeof(err)) != 0) {
    fprintf(stderr, "exsync-emulator: --threads: %s\n", err);
    return -1;
  }
  if(o->scenario_dir && emu_set_scenario_dir(emu, o->scenario_dir, err, sizeof(err)) != 0) {
    fprintf(stderr, "exsync-emulator: --scenario-dir: %s\n", err);
    return -1;
  }
  if(o->scenario && emu_load_scenario(emu, o->scenario, err, sizeof(err)) != 0) {
    fprintf(stderr, "exsync-emulator: %s\n", err);
    return -1;
  }
  if(add_users(emu, o) != 0)
    return -1;
  for(size_t i = 0; i < o->nimps; i++) {
    if(emu_add_impersonator(emu, o->imps[i], err, sizeof(err)) != 0) {
      fprintf(stderr, "exsync-emulator: --impersonator: %s\n", err);
      return -1;
    }
  }
  if(o->keytab && emu_set_keytab(emu, o->keytab, err, sizeof(err)) != 0) {
    fprintf(stderr, "exsync-emulator: --keytab: %s\n", err);
    return -1;
  }
  if((o->cert != NULL) != (o->key != NULL)) {
    fprintf(stderr, "exsync-emulator: --cert and --key go together\n");
    return -1;
  }
  if(o->cert && emu_set_certificate(emu, o->cert, o->key, err, sizeof(err)) != 0) {
    fprintf(stderr, "exsync-emulator: %s\n", err);
    return -1;
  }
  return 0;
}

/* Opens every listener (127.0.0.1:0 without any) and prints its "listening"
 * line. 0, 2 on a bad ADDR:PORT, 1 when binding fails. */
static int listen_all(struct emu *emu, struct options *o)
{
  char err[1024];

  if(o->nlistens == 0) {
    o->listens[0].spec = "127.0.0.1:0";
    o->listens[0].tls = false;
    o->nlistens = 1;
  }
  for(size_t i = 0; i < o->nlistens; i++) {
    char addr[256], bound[128];
    int port;
    if(split_addr(o->listens[i].spec, addr, sizeof(addr), &port) != 0) {
      fprintf(stderr, "exsync-emulator: %s: expected ADDR:PORT\n", o->listens[i].spec);
      return 2;
    }
    if(emu_listen(emu, addr, port, o->listens[i].tls, bound, sizeof(bound), err, sizeof(err)) < 0) {
      fprintf(stderr, "exsync-emulator: %s\n", err);
      return 1;
    }
    printf("listening %s %s\n", o->listens[i].tls ? "https" : "http", bound);
    fflush(stdout);
  }
  return 0;
}

int main(int argc, char **argv)
{
  struct emu *emu = NULL;
  struct options o;
  char err[1024];
  sigset_t stop;
  int result = 2;

  memset(&o, 0, sizeof(o));
  /* every option takes a value, so argc bounds each list: no cap to enforce */
  o.listens = calloc((size_t)argc + 1, sizeof(*o.listens));
  o.users = calloc((size_t)argc, sizeof(*o.users));
  o.imps = calloc((size_t)argc, sizeof(*o.imps));
  if(!o.listens || !o.users || !o.imps) {
    fprintf(stderr, "exsync-emulator: out of memory\n");
    result = 1;
    goto out;
  }
  result = parse_options(argc, argv, &o);
  if(result >= 0)
    goto out;
  result = 2;
  /* SIGINT/SIGTERM wait (blocked) until emu_run handles them: a stop sent
   * right after a "listening" line is a clean stop, not a kill */
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  emu = emu_new();
  if(!emu) {
    fprintf(stderr, "exsync-emulator: out of memory\n");
    result = 1;
    goto out;
  }
  if(configure(emu, &o) != 0)
    goto out;
  result = listen_all(emu, &o);
  if(result != 0)
    goto out;
  result = 2;
  if(o.ca_out && emu_write_ca(emu, o.ca_out, err, sizeof(err)) != 0) {
    fprintf(stderr, "exsync-emulator: --ca-out: %s\n", err);
    goto out;
  }
  result = emu_run(emu, true) == 0 ? 0 : 1;
out:
  emu_free(emu);
  free(o.listens);
  free(o.users);
  free(o.imps);
  return result;
}
