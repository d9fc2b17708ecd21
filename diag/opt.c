/* opt.c - the option parser shared by every command. */
#include "opt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void diag_opt_init(struct diag_optp *p, const char *cmd, const struct diag_opt *opts,
                   const struct diag_opt *extra, int argc, char **argv, int first)
{
  memset(p, 0, sizeof(*p));
  p->argc = argc;
  p->argv = argv;
  p->i = first;
  p->cmd = cmd;
  p->tables[0] = opts;
  p->tables[1] = extra;
}

const struct diag_opt *diag_opt_match(const struct diag_opt *opts, const char *arg)
{
  size_t n = strcspn(arg, "=");

  for(; opts && opts->name; opts++)
    if(strlen(opts->name) == n && !strncmp(opts->name, arg, n))
      return opts;
  return NULL;
}

int diag_opt_next(struct diag_optp *p)
{
  const struct diag_opt *o = NULL;
  const char *a, *eq;
  size_t t;

  for(;;) {
    if(p->i >= p->argc)
      return DIAG_OPT_END;
    a = p->argv[p->i++];
    if(p->only_args || a[0] != '-' || !a[1]) {
      p->value = a;
      return DIAG_OPT_ARG;
    }
    if(strcmp(a, "--"))
      break;
    p->saw_dashdash = true;
    if(p->stop_at_dashdash)
      return DIAG_OPT_END;
    p->only_args = true;
  }
  if(!strcmp(a, "-h") || !strcmp(a, "--help"))
    return DIAG_OPT_HELP;
  for(t = 0; !o && t < sizeof(p->tables) / sizeof(p->tables[0]); t++)
    o = diag_opt_match(p->tables[t], a);
  if(!o) {
    diag_fail("%s: unknown option '%.*s' (see exsync help %s)", p->cmd, (int)strcspn(a, "="), a,
              p->cmd);
    return DIAG_OPT_ERR;
  }
  p->name = o->name;
  eq = strchr(a, '=');
  if(!o->value) {
    if(eq) {
      diag_fail("option %s takes no value", o->name);
      return DIAG_OPT_ERR;
    }
    p->value = NULL;
    return o->id;
  }
  if(eq) {
    p->value = eq + 1;
    return o->id;
  }
  /* "--config --mailbox x" is a missing value, not a file named --mailbox */
  if(p->i >= p->argc || !strncmp(p->argv[p->i], "--", 2)) {
    diag_fail("option %s needs a value", o->name);
    return DIAG_OPT_ERR;
  }
  p->value = p->argv[p->i++];
  return o->id;
}

int diag_opt_long(const struct diag_optp *p, long min, long max, long *out)
{
  char *end;
  long v;

  errno = 0;
  v = strtol(p->value, &end, 10);
  if(!*p->value || *end || errno || v < min || v > max) {
    diag_fail("option %s: '%s' is not a number from %ld to %ld", p->name, p->value, min, max);
    return -1;
  }
  *out = v;
  return 0;
}

int diag_opt_unexpected(const struct diag_optp *p)
{
  return diag_fail("%s: unexpected argument '%s' (see exsync help %s)", p->cmd, p->value, p->cmd);
}
