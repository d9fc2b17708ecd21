/* run.h - running Test & Enable from the command line: options shared by
 * every test-enable command, the batch with progress and trace, and saving
 * results to the store. */
#ifndef EXSYNC_DIAG_RUN_H
#define EXSYNC_DIAG_RUN_H

#include <stdbool.h>

#include "cli.h"
#include "opt.h"
#include "exsync/store.h"
#include "exsync/testenable.h"

struct diag_te_flags {
  bool this_org_only;
  long delivery_timeout_ms;
  long retry_interval_s;
  int max_retries;
  bool wait_retries;
  struct exs_store *job_store; /* a profile job: progress is written here */
  int64_t job_id;
};

/* The options every test-enable command takes (ids DIAG_TE_OPT_FIRST..). */
#define DIAG_TE_OPT_FIRST 100
extern const struct diag_opt diag_te_opts[];
/* Apply option id (from diag_te_opts) parsed by p. 1 taken, 0 not one of
 * them, -1 error (printed). */
int diag_te_apply(struct diag_te_flags *f, const struct diag_optp *p, int id);
/* Help text of those options. */
extern const char diag_te_flags_help[];

/* Test & Enable mailboxes[0..n-1] (updated in place). *results is malloc'd
 * (caller frees). Returns 0, or -1 when the batch could not run (out of
 * memory; *results is then NULL): the caller fails with a message and a
 * non-zero exit. */
int diag_run_batch(struct diag_ctx *ctx, const struct exs_org *org,
                   const struct exs_profile *profiles, size_t np, struct exs_mailbox *mailboxes,
                   size_t n, const struct diag_te_flags *flags, struct exs_te_result **results,
                   long *elapsed_ms);

/* Save each mailbox's result and its alerts (filtered by the org's alert
 * flags) to the store, one transaction per mailbox. */
int diag_save_results(struct exs_store *st, const struct exs_org *org,
                      const struct exs_mailbox *mailboxes, const struct exs_te_result *results,
                      size_t n, struct exs_error *err);

/* Open the store of ctx (--db, --key-file). Only commands that write
 * create it (create true); the others get "no store at ./exsync.db (use
 * --db or EXSYNC_DB, or create one with exsync import)". NULL with the
 * message printed. */
struct exs_store *diag_open_store(struct diag_ctx *ctx, bool create);
/* 0 when the store of ctx exists, else 2 with that message printed. */
int diag_store_exists(const struct diag_ctx *ctx);

struct exs_orgfile;
/* Write an org file's settings, profiles and mailboxes into the store in one
 * transaction (insert or update by name / address). */
int diag_import_org(struct exs_store *st, struct exs_orgfile *f, struct exs_error *err);

/* Load an org file with the shipped schema; prints warnings to stderr.
 * NULL with the error printed. */
struct exs_orgfile *diag_load_orgfile(const char *path, unsigned flags);

/* Every stored profile with its password decrypted (for Test & Enable).
 * *out malloc'd: wipe each entry, then free(). */
int diag_load_profiles(struct exs_store *st, struct exs_profile **out, size_t *n,
                       struct exs_error *err);

/* The retry cycle of the sync service (docs/test-enable.md, Alerts, retry
 * and disable): re-run Test & Enable of every stored mailbox (only: just
 * that address) whose retry is due, on the schedule of the test that
 * scheduled it, enabling it on success, and save the results. *next
 * receives the earliest retry still ahead (0: none), *failed how many
 * retried mailboxes still failed. 0, or -1 with the error printed. */
int diag_retry_due(struct diag_ctx *ctx, const char *only, bool quiet, time_t *next,
                   size_t *failed);

#endif
