/* globals.c - the global options (--db, --format, --cacert, ...), taken
 * anywhere on a command line into a diag_ctx: by diag_main for the whole
 * line, and by record and replay for the command they run in-process. */
#include <string.h>

#include "cli.h"
#include "opt.h"

enum {
  G_DB = 1,
  G_KEY_FILE,
  G_FORMAT,
  G_TRACE,
  G_CACERT,
  G_RESOLVE,
  G_CONNECT_TO,
  G_PROXY,
  G_NOPROXY,
  G_OUTPUT,
  G_FAILURES_ONLY,
  G_NO_PROGRESS
};

/* Taken anywhere on the line, before or after the command. */
static const struct diag_opt global_opts[] = {
    {"--db", true, G_DB},
    {"--key-file", true, G_KEY_FILE},
    {"--format", true, G_FORMAT},
    {"--trace", true, G_TRACE},
    {"--cacert", true, G_CACERT},
    {"--resolve", true, G_RESOLVE},
    {"--connect-to", true, G_CONNECT_TO},
    {"--proxy", true, G_PROXY},
    {"--noproxy", true, G_NOPROXY},
    {"-o", true, G_OUTPUT},
    {"--output", true, G_OUTPUT},
    {"--failures-only", false, G_FAILURES_ONLY},
    {"--no-progress", false, G_NO_PROGRESS},
    {NULL, false, 0},
};

/* Apply global option o with value v. 0 or -1 (printed). */
static int set_global(struct diag_ctx *ctx, int id, const char *name, const char *v)
{
  int f;

  switch(id) {
  case G_DB:
    ctx->db = v;
    break;
  case G_KEY_FILE:
    ctx->key_file = v;
    break;
  case G_FORMAT:
    f = diag_format_parse(v);
    if(f < 0) {
      diag_fail("unknown format '%s' (text, json, junit or html)", v);
      return -1;
    }
    ctx->format = (enum diag_format)f;
    break;
  case G_TRACE:
    ctx->trace_path = v;
    break;
  case G_CACERT:
    ctx->transport.cacert = v;
    break;
  case G_RESOLVE:
    if(ctx->transport.n_resolve >= DIAG_MAX_OVERRIDES || !strchr(v, ':')) {
      diag_fail("--resolve wants HOST:PORT:ADDR (at most %d)", DIAG_MAX_OVERRIDES);
      return -1;
    }
    ctx->resolve[ctx->transport.n_resolve++] = v;
    break;
  case G_CONNECT_TO:
    if(ctx->transport.n_connect_to >= DIAG_MAX_OVERRIDES || !strchr(v, ':')) {
      diag_fail("--connect-to wants HOST:PORT:HOST2:PORT2 (at most %d)", DIAG_MAX_OVERRIDES);
      return -1;
    }
    ctx->connect_to[ctx->transport.n_connect_to++] = v;
    break;
  case G_PROXY:
    ctx->transport.proxy = v;
    break;
  case G_NOPROXY:
    ctx->transport.noproxy = v;
    break;
  case G_OUTPUT:
    if(!*v) {
      diag_fail("option %s needs a file name", name);
      return -1;
    }
    ctx->output = v;
    break;
  case G_FAILURES_ONLY:
    ctx->failures_only = true;
    break;
  case G_NO_PROGRESS:
    ctx->no_progress = true;
    break;
  default:
    break;
  }
  return 0;
}

int diag_take_global(struct diag_ctx *ctx, int argc, char **argv, int *i)
{
  const struct diag_opt *o = diag_opt_match(global_opts, argv[*i]);
  const char *eq = strchr(argv[*i], '=');
  const char *v = NULL;

  if(!o)
    return 0;
  if(o->value) {
    if(eq) {
      v = eq + 1;
    }
    else {
      if(*i + 1 >= argc || !strncmp(argv[*i + 1], "--", 2)) {
        diag_fail("option %s needs a value", o->name);
        return -1;
      }
      v = argv[++*i];
    }
  }
  else if(eq) {
    diag_fail("option %s takes no value", o->name);
    return -1;
  }
  return set_global(ctx, o->id, o->name, v) ? -1 : 1;
}

const struct exs_transport *diag_transport(struct diag_ctx *ctx)
{
  ctx->transport.resolve = ctx->resolve;
  ctx->transport.connect_to = ctx->connect_to;
  ctx->transport.trace = ctx->trace ? diag_trace_cb : NULL;
  ctx->transport.trace_ctx = ctx->trace ? ctx : NULL;
  return &ctx->transport;
}
