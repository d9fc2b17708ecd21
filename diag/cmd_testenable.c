/* cmd_testenable.c - `exsync test-enable --config ORG.xml`: the store-less
 * one-shot check for CI and pre-deployment. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "exsync/orgfile.h"
#include "opt.h"
#include "run.h"

static int help(FILE *f)
{
  fprintf(f,
          "usage: exsync test-enable --config ORG.xml [--mailbox ADDRESS]... [options]\n\n"
          "Test & Enable the mailboxes of an org file without a store: nothing is saved.\n"
          "The report goes to stdout (or -o FILE) in the --format chosen: text, json, junit\n"
          "or html. With json, junit or html, a configuration error still writes a report\n"
          "that carries the error.\n\n"
          "Options:\n"
          "  --config ORG.xml       the org file (urn:exsync:org:1)\n"
          "  --mailbox ADDRESS      test only this mailbox (repeatable)\n%s\n"
          "Exit codes: 0 all tested workloads succeeded, 1 some failed, 2 usage or\n"
          "configuration error.\n",
          diag_te_flags_help);
  return 0;
}

enum { OPT_CONFIG = 1, OPT_MAILBOX };

static const struct diag_opt opts[] = {
    {"--config", true, OPT_CONFIG},
    {"--mailbox", true, OPT_MAILBOX},
    {NULL, false, 0},
};

int diag_cmd_test_enable(struct diag_ctx *ctx, int argc, char **argv)
{
  struct diag_optp p;
  struct diag_te_flags flags;
  const char *config = NULL;
  const char **only = NULL; /* every --mailbox takes a value: argc bounds them */
  size_t n_only = 0;
  struct exs_orgfile *f = NULL;
  struct exs_mailbox *chosen = NULL;
  struct exs_te_result *results = NULL;
  size_t n = 0, i, j;
  long elapsed = 0;
  int result = 2, id;

  memset(&flags, 0, sizeof(flags));
  only = calloc((size_t)argc + 1, sizeof(*only));
  if(!only)
    return diag_fail("out of memory");
  diag_opt_init(&p, "test-enable", opts, diag_te_opts, argc, argv, 1);
  while((id = diag_opt_next(&p)) != DIAG_OPT_END) {
    if(id == DIAG_OPT_HELP) {
      result = help(ctx->out);
      goto out;
    }
    if(id == DIAG_OPT_ERR)
      goto out;
    if(id == DIAG_OPT_ARG) {
      result = diag_opt_unexpected(&p);
      goto out;
    }
    if(id == OPT_CONFIG) {
      config = p.value;
    }
    else if(id == OPT_MAILBOX) {
      only[n_only++] = p.value;
    }
    else if(diag_te_apply(&flags, &p, id) < 0) {
      goto out;
    }
  }
  if(diag_formats(ctx, "test-enable", DIAG_F_REPORT))
    goto out;
  if(!config) {
    result = diag_fail("test-enable needs --config ORG.xml (or use 'exsync mailbox test-enable' "
                       "with a store)");
    goto out;
  }
  f = diag_load_orgfile(config, 0);
  if(!f)
    goto out;
  chosen = calloc(f->n_mailboxes ? f->n_mailboxes : 1, sizeof(*chosen));
  if(!chosen) {
    result = diag_fail("out of memory");
    goto out;
  }
  for(i = 0; i < f->n_mailboxes; i++) {
    bool take = n_only == 0;
    for(j = 0; j < n_only; j++)
      if(!strcasecmp(only[j], f->mailboxes[i].address))
        take = true;
    if(take)
      chosen[n++] = f->mailboxes[i];
  }
  for(j = 0; j < n_only; j++) {
    bool found = false;
    for(i = 0; i < n; i++)
      if(!strcasecmp(only[j], chosen[i].address))
        found = true;
    if(!found) {
      result = diag_fail("%s: no mailbox %s in this file", config, only[j]);
      goto out;
    }
  }
  if(diag_run_batch(ctx, &f->org, f->profiles, f->n_profiles, chosen, n, &flags, &results,
                    &elapsed)) {
    result = diag_fail("test-enable could not run: out of memory");
    goto out;
  }
  diag_report_write(ctx->out, ctx->format, results, n, elapsed);
  result = diag_report_exit_code(results, n);
out:
  for(i = 0; chosen && i < n; i++)
    exs_mailbox_wipe(&chosen[i]);
  free(chosen);
  free(results);
  free(only);
  exs_orgfile_free(f);
  return result;
}
