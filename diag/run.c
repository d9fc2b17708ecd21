/* run.c - Test & Enable from the command line. */
#include "run.h"

#include <stdlib.h>
#include <string.h>

#include "exsync/clock.h"
#include "exsync/orgfile.h"
#include "progress.h"

const char diag_te_flags_help[] =
  "  --this-org-only        take over a mailbox's ACT identity held by another org\n"
  "  --delivery-timeout S   outgoing test: wait at most S seconds for the test message (30)\n"
  "  --retry-interval S     seconds between retries of transient failures (300)\n"
  "  --max-retries N        transient failures before they count as permanent (10)\n"
  "  --wait-retries         keep retrying transient failures on schedule before reporting\n";

static int long_value(int argc, char **argv, int *i, long min, long max, long *out)
{
  char *end;
  long v;

  if(*i + 1 >= argc)
    return diag_fail("option %s needs a value", argv[*i]) ? -1 : -1;
  v = strtol(argv[*i + 1], &end, 10);
  if(*end || end == argv[*i + 1] || v < min || v > max) {
    diag_fail("option %s: '%s' is not a number between %ld and %ld", argv[*i], argv[*i + 1],
              min, max);
    return -1;
  }
  ++*i;
  *out = v;
  return 1;
}

int diag_te_flag(struct diag_te_flags *f, int argc, char **argv, int *i)
{
  const char *a = argv[*i];
  long v;
  int r;

  if(!strcmp(a, "--this-org-only")) {
    f->this_org_only = true;
    return 1;
  }
  if(!strcmp(a, "--wait-retries")) {
    f->wait_retries = true;
    return 1;
  }
  if(!strcmp(a, "--delivery-timeout")) {
    if((r = long_value(argc, argv, i, 1, 3600, &v)) > 0)
      f->delivery_timeout_ms = v * 1000;
    return r;
  }
  if(!strcmp(a, "--retry-interval")) {
    if((r = long_value(argc, argv, i, 1, 86400, &v)) > 0)
      f->retry_interval_s = v;
    return r;
  }
  if(!strcmp(a, "--max-retries")) {
    if((r = long_value(argc, argv, i, 1, 1000, &v)) > 0)
      f->max_retries = (int)v;
    return r;
  }
  return 0;
}

struct progress_ctx {
  struct diag_progress bar;
  const struct diag_te_flags *flags;
};

/* Called by the batch with its lock held, so the store handle is used by
 * one thread at a time. */
static void on_progress(void *ud, size_t done, size_t total, const struct exs_te_result *last)
{
  struct progress_ctx *p = ud;
  size_t step = total / 100 ? total / 100 : 1;

  (void)last;
  diag_progress_update(&p->bar, done, total);
  if(p->flags->job_store && (done % step == 0 || done == total)) {
    struct exs_error err;
    exs_error_clear(&err);
    exs_store_job_progress(p->flags->job_store, p->flags->job_id, (int)done, &err);
  }
}

int diag_run_batch(struct diag_ctx *ctx, const struct exs_org *org,
                   const struct exs_profile *profiles, size_t np, struct exs_mailbox *mailboxes,
                   size_t n, const struct diag_te_flags *flags, struct exs_te_result **results,
                   long *elapsed_ms)
{
  struct exs_te_batch_options bo;
  struct progress_ctx pc;
  const char *connect_to[DIAG_MAX_OVERRIDES + 8];
  size_t nct = 0, i;
  int64_t start = exs_monotonic_ms();

  *results = calloc(n ? n : 1, sizeof(**results));
  if(!*results)
    return -1;
  for(i = 0; i < ctx->n_connect_to; i++)
    connect_to[nct++] = ctx->connect_to[i];
  for(i = 0; i < flags->n_extra_connect_to; i++)
    connect_to[nct++] = flags->extra_connect_to[i];
  memset(&bo, 0, sizeof(bo));
  bo.te.cacert = flags->cacert ? flags->cacert : ctx->cacert;
  bo.te.resolve = ctx->resolve;
  bo.te.n_resolve = ctx->n_resolve;
  bo.te.connect_to = connect_to;
  bo.te.n_connect_to = nct;
  if(ctx->trace) {
    bo.te.trace = diag_trace_cb;
    bo.te.trace_ctx = ctx;
    bo.max_workers = 1; /* one conversation at a time keeps the trace readable */
  }
  bo.te.this_org_only = flags->this_org_only;
  bo.te.delivery_timeout_ms = flags->delivery_timeout_ms;
  bo.te.retry_interval_s = flags->retry_interval_s;
  bo.te.max_transient_retries = flags->max_retries;
  bo.wait_retries = flags->wait_retries;
  diag_progress_init(&pc.bar, "test-enable");
  pc.flags = flags;
  bo.progress = on_progress;
  bo.progress_ctx = &pc;
  if(exs_testenable_batch(org, profiles, np, mailboxes, n, &bo, *results) < 0) {
    /* an internal failure is never a run whose workloads were "Not Run" */
    diag_progress_done(&pc.bar);
    free(*results);
    *results = NULL;
    return -1;
  }
  diag_progress_done(&pc.bar);
  *elapsed_ms = (long)(exs_monotonic_ms() - start);
  return 0;
}

int diag_save_results(struct exs_store *st, const struct exs_org *org,
                      const struct exs_mailbox *mailboxes, const struct exs_te_result *results,
                      size_t n, struct exs_error *err)
{
  size_t i, j;

  for(i = 0; i < n; i++) {
    struct exs_alert alerts[EXS_TE_MAX_ALERTS];
    size_t na = 0;
    for(j = 0; j < results[i].n_alerts; j++) {
      const struct exs_te_alert *ta = &results[i].alerts[j];
      if(!exs_alert_wanted(org, (enum exs_severity)ta->severity))
        continue;
      exs_alert_from_error(&alerts[na], &ta->error, exs_now(), mailboxes[i].address,
                           mailboxes[i].profile);
      alerts[na].severity = (enum exs_severity)ta->severity;
      na++;
    }
    if(exs_store_save_test_result(st, &mailboxes[i], alerts, na, err) < 0)
      return -1;
  }
  return 0;
}

struct exs_store *diag_open_store(struct diag_ctx *ctx)
{
  struct exs_error err;
  struct exs_store *st;
  char key[4096];

  exs_error_clear(&err);
  if(ctx->key_file)
    snprintf(key, sizeof(key), "%s", ctx->key_file);
  else
    snprintf(key, sizeof(key), "%s.key", ctx->db);
  st = exs_store_open(ctx->db, key, &err);
  if(!st)
    diag_fail("%s", err.message);
  return st;
}

int diag_import_org(struct exs_store *st, struct exs_orgfile *f, struct exs_error *err)
{
  return exs_store_import(st, &f->org, f->profiles, f->n_profiles, f->mailboxes,
                          f->n_mailboxes, err);
}

struct exs_orgfile *diag_load_orgfile(const char *path, unsigned flags)
{
  struct exs_orgfile *f = NULL;
  struct exs_error err;
  size_t i;

  exs_error_clear(&err);
  if(exs_orgfile_load(path, diag_data_path("schema/org.xsd"), flags, &f, &err)) {
    diag_fail("%s", err.message);
    return NULL;
  }
  for(i = 0; i < f->n_warnings; i++)
    fprintf(stderr, "exsync: warning: %s\n", f->warnings[i]);
  return f;
}

int diag_load_profiles(struct exs_store *st, struct exs_profile **out, size_t *n,
                       struct exs_error *err)
{
  size_t i;

  if(exs_store_profile_list(st, out, n, err))
    return -1;
  /* the list leaves passwords sealed; fetch each one whole */
  for(i = 0; i < *n; i++) {
    char name[sizeof((*out)[i].name)];
    snprintf(name, sizeof(name), "%s", (*out)[i].name);
    if(exs_store_profile_get(st, name, &(*out)[i], err)) {
      size_t j;
      for(j = 0; j < *n; j++)
        exs_profile_wipe(&(*out)[j]);
      free(*out);
      *out = NULL;
      *n = 0;
      return -1;
    }
  }
  return 0;
}
