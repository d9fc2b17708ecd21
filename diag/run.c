/* run.c - Test & Enable from the command line. */
#include "run.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "exsync/clock.h"
#include "exsync/orgfile.h"
#include "exsync/buf.h"
#include "progress.h"

const char diag_te_flags_help[] =
    "  --this-org-only        take over a mailbox's ACT identity held by another org\n"
    "  --delivery-timeout S   outgoing test: wait at most S seconds for the test message (30)\n"
    "  --retry-interval S     seconds between retries of transient failures (300)\n"
    "  --max-retries N        transient failures before they count as permanent (10)\n"
    "  --wait-retries         keep retrying transient failures on schedule before reporting\n";

enum { TE_THIS_ORG = DIAG_TE_OPT_FIRST, TE_WAIT, TE_DELIVERY, TE_RETRY_INTERVAL, TE_MAX_RETRIES };

const struct diag_opt diag_te_opts[] = {
    {"--this-org-only", false, TE_THIS_ORG},   {"--wait-retries", false, TE_WAIT},
    {"--delivery-timeout", true, TE_DELIVERY}, {"--retry-interval", true, TE_RETRY_INTERVAL},
    {"--max-retries", true, TE_MAX_RETRIES},   {NULL, false, 0},
};

int diag_te_apply(struct diag_te_flags *f, const struct diag_optp *p, int id)
{
  long v;

  switch(id) {
  case TE_THIS_ORG:
    f->this_org_only = true;
    return 1;
  case TE_WAIT:
    f->wait_retries = true;
    return 1;
  case TE_DELIVERY:
    if(diag_opt_long(p, 1, 3600, &v))
      return -1;
    f->delivery_timeout_ms = v * 1000;
    return 1;
  case TE_RETRY_INTERVAL:
    if(diag_opt_long(p, 1, 86400, &v))
      return -1;
    f->retry_interval_s = v;
    return 1;
  case TE_MAX_RETRIES:
    if(diag_opt_long(p, 1, 1000, &v))
      return -1;
    f->max_retries = (int)v;
    return 1;
  default:
    return 0;
  }
}

struct progress_ctx {
  struct diag_progress bar;
  const struct diag_te_flags *flags;
  struct diag_ctx *ctx;
  struct exs_buf trace; /* this mailbox's trace so far (one worker when tracing) */
};

/* The trace goes to the file and, per mailbox, to the HTML report. */
static void batch_trace(void *ud, enum exs_trace_kind kind, const char *data, size_t len)
{
  struct progress_ctx *p = ud;
  static const char *const marks[] = {"* ", "> ", "> ", "< ", "< "};

  diag_trace_cb(p->ctx, kind, data, len);
  if(kind == EXS_TRACE_REQ_BODY || kind == EXS_TRACE_RESP_BODY) {
    exs_buf_add(&p->trace, data, len);
    if(len && data[len - 1] != '\n')
      exs_buf_adds(&p->trace, "\n");
  }
  else {
    size_t i = 0;
    while(i < len) {
      size_t j = i;
      while(j < len && data[j] != '\n')
        j++;
      exs_buf_adds(&p->trace, marks[kind]);
      exs_buf_add(&p->trace, data + i, j - i);
      exs_buf_adds(&p->trace, "\n");
      i = j + 1;
    }
  }
}

/* A mailbox's test begins: its separator in the trace. */
static void on_start(void *ud, const struct exs_mailbox *m)
{
  struct progress_ctx *p = ud;

  diag_trace_mark(p->ctx, "mailbox %s (profile '%s')", m->address, m->profile);
}

/* Called by the batch with its lock held, so the store handle is used by
 * one thread at a time. */
static void on_progress(void *ud, size_t done, size_t total, const struct exs_te_result *last)
{
  struct progress_ctx *p = ud;
  size_t step = total / 100 ? total / 100 : 1;
  int w;

  if(last) {
    for(w = 0; w < EXS_WL_COUNT; w++)
      if(last->status[w] == EXS_STATUS_FAILURE) {
        p->bar.failures++;
        break;
      }
    if(p->ctx->trace) {
      diag_trace_mark(p->ctx, "end of %s: incoming %s, outgoing %s, act %s (%ld ms)", last->address,
                      exs_status_name(last->status[0]), exs_status_name(last->status[1]),
                      exs_status_name(last->status[2]), last->elapsed_ms);
      diag_report_add_trace(last->address, p->trace.data ? p->trace.data : "", p->trace.len);
      exs_buf_reset(&p->trace);
    }
  }
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
  /* the run's settings, the trace going through the batch's own hook */
  struct exs_transport transport = *diag_transport(ctx);
  int64_t start = exs_monotonic_ms();

  *results = calloc(n ? n : 1, sizeof(**results));
  if(!*results)
    return -1;
  memset(&bo, 0, sizeof(bo));
  bo.te.transport = &transport;
  memset(&pc, 0, sizeof(pc));
  exs_buf_init(&pc.trace, 1 << 20);
  pc.ctx = ctx;
  if(ctx->trace) {
    transport.trace = batch_trace;
    transport.trace_ctx = &pc;
    bo.max_workers = 1; /* one conversation at a time keeps the trace readable */
    bo.started = on_start;
    diag_trace_mark(ctx, "exsync %s: Test & Enable of %zu mailbox%s", EXSYNC_VERSION, n,
                    n == 1 ? "" : "es");
  }
  diag_report_begin(org->id);
  bo.te.this_org_only = flags->this_org_only;
  bo.te.delivery_timeout_ms = flags->delivery_timeout_ms;
  bo.te.retry_interval_s = flags->retry_interval_s;
  bo.te.max_transient_retries = flags->max_retries;
  bo.wait_retries = flags->wait_retries;
  diag_progress_init(&pc.bar, "test-enable");
  pc.flags = flags;
  bo.progress = on_progress;
  bo.progress_ctx = &pc;
  bo.profile_results = calloc(np ? np : 1, sizeof(*bo.profile_results));
  if(!bo.profile_results ||
     exs_testenable_batch(org, profiles, np, mailboxes, n, &bo, *results) < 0) {
    /* an internal failure is never a run whose workloads were "Not Run" */
    diag_progress_done(&pc.bar);
    free(bo.profile_results);
    free(*results);
    *results = NULL;
    return -1;
  }
  diag_report_set_profiles(bo.profile_results, np);
  free(bo.profile_results);
  diag_progress_done(&pc.bar);
  exs_buf_free(&pc.trace);
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
  /* the profile-level alerts of the run (the profile check): the profile's
   * wall, hence its owner's, and mailbox owners' with notify-owners */
  {
    size_t np;
    const struct exs_te_profile_result *pr = diag_report_profiles(&np);
    for(i = 0; pr && i < np; i++)
      for(j = 0; j < pr[i].n_alerts; j++) {
        struct exs_alert a;
        if(!exs_alert_wanted(org, (enum exs_severity)pr[i].alerts[j].severity))
          continue;
        exs_alert_from_error(&a, &pr[i].alerts[j].error, exs_now(), NULL, pr[i].name);
        a.severity = (enum exs_severity)pr[i].alerts[j].severity;
        if(exs_store_alert_add(st, &a, err))
          return -1;
      }
  }
  return 0;
}

/* A PostgreSQL store has no file next to which "<db>.key" could live, and
 * every worker on it must open the same key: it is named. */
static int server_key_named(const struct diag_ctx *ctx)
{
  if(!exs_store_path_is_server(ctx->db) || ctx->key_file)
    return 0;
  return diag_fail("--db names a PostgreSQL database: name its key file with --key-file (the "
                   "same file on every host that uses the database)");
}

int diag_store_exists(const struct diag_ctx *ctx)
{
  if(exs_store_path_is_server(ctx->db))
    return server_key_named(ctx); /* the server says whether it exists */
  if(access(ctx->db, F_OK) == 0)
    return 0;
  return diag_fail("no store at %s%s (use --db or EXSYNC_DB, or create one with exsync import)",
                   strchr(ctx->db, '/') ? "" : "./", ctx->db);
}

struct exs_store *diag_open_store(struct diag_ctx *ctx, bool create)
{
  struct exs_error err;
  struct exs_store *st;
  char key[4096];

  /* checked here rather than in the store: opening one creates it */
  if((!create && diag_store_exists(ctx)) || server_key_named(ctx))
    return NULL;
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
  return exs_store_import(st, &f->org, f->profiles, f->n_profiles, f->mailboxes, f->n_mailboxes,
                          err);
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

int diag_retry_due(struct diag_ctx *ctx, const char *only, bool quiet, time_t *next, size_t *failed)
{
  struct exs_store *st;
  struct exs_org org;
  struct exs_profile *profiles = NULL;
  struct exs_mailbox *all = NULL, *due = NULL;
  struct exs_te_result *results = NULL;
  struct diag_te_flags flags;
  struct exs_error err;
  size_t np = 0, n = 0, nd = 0, i;
  time_t now = exs_now();
  long elapsed = 0;
  int result = -1;

  *next = 0;
  *failed = 0;
  exs_error_clear(&err);
  st = diag_open_store(ctx, false);
  if(!st)
    return -1;
  if(exs_store_org_get(st, &org, &err) < 0 ||
     exs_store_mailbox_list(st, NULL, EXS_STORE_WITH_SECRETS, &all, &n, &err))
    goto fail;
  due = calloc(n ? n : 1, sizeof(*due));
  if(!due) {
    exs_error_set(&err, EXS_CAT_CONFIG, "out of memory");
    goto fail;
  }
  for(i = 0; i < n; i++) {
    /* a Test & Enable retry: scheduled by a test (its schedule is kept) of
     * a mailbox it left failing; the sync engine's own retries are not */
    bool te_retry =
        all[i].retry_at && all[i].retry_interval_s > 0 &&
        (all[i].status[0] == EXS_STATUS_FAILURE || all[i].status[1] == EXS_STATUS_FAILURE ||
         all[i].status[2] == EXS_STATUS_FAILURE);
    if(!te_retry || (only && strcasecmp(only, all[i].address)))
      continue;
    if(all[i].retry_at <= now)
      due[nd++] = all[i];
    else if(!*next || all[i].retry_at < *next)
      *next = all[i].retry_at;
  }
  if(nd) {
    /* no schedule given: each mailbox keeps the one of the test that
     * scheduled its retry (stored with it) */
    memset(&flags, 0, sizeof(flags));
    if(diag_load_profiles(st, &profiles, &np, &err))
      goto fail;
    if(diag_run_batch(ctx, &org, profiles, np, due, nd, &flags, &results, &elapsed)) {
      exs_error_set(&err, EXS_CAT_CONFIG, "the retry of Test & Enable could not run");
      goto fail;
    }
    if(diag_save_results(st, &org, due, results, nd, &err))
      goto fail;
    for(i = 0; i < nd; i++) {
      bool bad = diag_report_exit_code(&results[i], 1) != 0;
      char when[32];
      if(bad)
        ++*failed;
      if(due[i].retry_at && (!*next || due[i].retry_at < *next))
        *next = due[i].retry_at;
      if(!quiet)
        fprintf(stderr, "exsync: Test & Enable of %s retried: %s%s%s\n", due[i].address,
                bad ? "still failing" : "enabled", due[i].retry_at ? ", next retry at " : "",
                due[i].retry_at ? exs_time_iso(due[i].retry_at, when, sizeof(when)) : "");
    }
  }
  result = 0;
  goto out;
fail:
  diag_fail("%s", err.message);
out:
  for(i = 0; profiles && i < np; i++)
    exs_profile_wipe(&profiles[i]);
  free(profiles);
  for(i = 0; all && i < n; i++)
    exs_mailbox_wipe(&all[i]);
  for(i = 0; due && i < nd; i++)
    exs_mailbox_wipe(&due[i]);
  free(all);
  free(due);
  free(results);
  exs_store_close(st);
  return result;
}
