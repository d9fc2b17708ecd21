/* globals.c - the global options (--db, --format, --cacert, ...), taken
 * anywhere on a command line into a diag_ctx: by diag_main for the whole
 * line, and by record and replay for the command they run in-process. */
#include <string.h>

#include "cli.h"
#include "opt.h"

/* Taken anywhere on the line, before or after the command (ids: letters). */
static const struct diag_opt global_opts[] = {
    {"--db", true, 'd'},           {"--key-file", true, 'k'},
    {"--format", true, 'f'},       {"--trace", true, 't'},
    {"--cacert", true, 'c'},       {"--resolve", true, 'r'},
    {"--connect-to", true, 'C'},   {"--proxy", true, 'p'},
    {"--noproxy", true, 'n'},      {"-o", true, 'o'},
    {"--output", true, 'o'},       {"--failures-only", false, 'F'},
    {"--no-progress", false, 'P'}, {NULL, false, 0},
};

/* Apply global option o with value v. 0 or -1 (printed). */
static int set_global(struct diag_ctx *ctx, int id, const char *name, const char *v)
{
  int f;

  switch(id) {
  case 'd':
    ctx->db = v;
    break;
  case 'k':
    ctx->key_file = v;
    break;
  case 'f':
    f = diag_format_parse(v);
    if(f < 0) {
      diag_fail("unknown format '%s' (text, json, junit or html)", v);
      return -1;
    }
    ctx->format = (enum diag_format)f;
    break;
  case 't':
    ctx->trace_path = v;
    break;
  case 'c':
    ctx->transport.cacert = v;
    break;
  case 'r':
    if(ctx->transport.n_resolve >= DIAG_MAX_OVERRIDES || !strchr(v, ':')) {
      diag_fail("--resolve wants HOST:PORT:ADDR (at most %d)", DIAG_MAX_OVERRIDES);
      return -1;
    }
    ctx->resolve[ctx->transport.n_resolve++] = v;
    break;
  case 'C':
    if(ctx->transport.n_connect_to >= DIAG_MAX_OVERRIDES || !strchr(v, ':')) {
      diag_fail("--connect-to wants HOST:PORT:HOST2:PORT2 (at most %d)", DIAG_MAX_OVERRIDES);
      return -1;
    }
    ctx->connect_to[ctx->transport.n_connect_to++] = v;
    break;
  case 'p':
    ctx->transport.proxy = v;
    break;
  case 'n':
    ctx->transport.noproxy = v;
    break;
  case 'o':
    if(!*v) {
      diag_fail("option %s needs a file name", name);
      return -1;
    }
    ctx->output = v;
    break;
  case 'F':
    ctx->failures_only = true;
    break;
  case 'P':
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
