/* exsync/sync.h - the sync engine: incoming email, outgoing email,
 * appointments/contacts/tasks, and the scheduler (docs/sync.md).
 *
 * Invariants (what makes a kill at any point safe):
 *  - incoming: one store transaction per page of changes holds the page's new
 *    activities AND the sync state that covers them, so a state is never
 *    saved before its items; activities are unique per mailbox by Exchange
 *    item id and by Internet message id, so a replayed page adds nothing;
 *  - outgoing: the attempt is committed (state "sending") before the request;
 *    each message carries the extended property exsync.ActivityId
 *    ("ORGID:ID"), and an email found in "sending" is first looked up in the
 *    sender's Sent Items: found means sent, never sent twice;
 *  - a mailbox is processed by one worker at a time, across processes and
 *    hosts on one store (a lease in the store renewed by the worker's
 *    heartbeat; an expired one is taken over, and one of a dead process of
 *    the same host at once);
 *  - never more EWS requests in flight per credential than the profile's
 *    maximum concurrent connections, across all workers (each worker thread
 *    makes one request at a time and holds one of the credential's slots in
 *    the store while it works).
 *
 * Errors follow docs/test-enable.md, Errors: a permanent mailbox-level failure disables
 * the workload (enabled[w] = false, status Failure, Error alert); a transient
 * one is retried retry_interval_s later, at most max_transient_retries times
 * before it counts as permanent; a success resets the count. An email that
 * Exchange refuses for itself (e.g. ErrorInvalidRecipients) is "failed" with
 * the reason, without touching the mailbox.
 */
#ifndef EXSYNC_SYNC_H
#define EXSYNC_SYNC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "exsync/error.h"
#include "exsync/ews.h"
#include "exsync/http.h"
#include "exsync/model.h"
#include "exsync/store.h"

/* Log lines for people (never secrets); line is borrowed for the call. */
typedef void (*exs_sync_log_fn)(void *ctx, const char *line);

struct exs_sync_options {
  const struct exs_transport *transport; /* the run's settings (CA, routes, proxy, trace);
                                            NULL: none */
  /* scheduling in seconds; 0 means the product's value (in brackets) */
  long min_interval_s;       /* postponement after a cycle [300] */
  long empty_backoff_s;      /* extra wait per consecutive empty cycle [60] */
  long max_backoff_s;        /* cap of that extra wait [900] */
  long retry_interval_s;     /* transient failure retry interval [300] */
  int max_transient_retries; /* [10] */
  long lease_s;              /* a worker's leases run this long past its last heartbeat, renewed
                                every quarter of it; an expired one is taken over [60] */
  long throttle_max_wait_ms; /* per request throttling budget [30000] */
  /* work sizes */
  int page_size;      /* SyncFolderItems MaxChangesReturned [512] */
  int send_batch;     /* emails per CreateItem [16] */
  size_t max_workers; /* worker threads of a pass [16] */
  size_t max_body;    /* larger bodies cannot become activities [4 MiB] */
  int max_sends;      /* stop a mailbox's outgoing after this many sends [0: no limit] */
  /* behaviour */
  bool ignore_schedule;        /* process every enabled mailbox, due or not */
  const char *only_mailbox;    /* process just this address (NULL: all) */
  const char *host;            /* worker id "NAME:PID"; NULL: HOSTNAME:PID of this process */
  const char *worker;          /* the id of a started exs_sync_worker; NULL: a pass
                                  registers one of its own for its duration */
  volatile sig_atomic_t *stop; /* set (by a signal handler) to stop after the current page */
  exs_sync_log_fn log;
  void *log_ctx;
};

struct exs_sync_stats {
  size_t mailboxes;     /* mailboxes processed */
  size_t busy;          /* claimed by another worker: skipped */
  size_t received;      /* incoming activities created */
  size_t duplicates;    /* already tracked (replayed pages) */
  size_t untracked;     /* new mail the track rule did not take */
  size_t failed;        /* items that could not become activities / emails refused */
  size_t moved;         /* moved to the Undeliverable folder */
  size_t sent;          /* emails sent */
  size_t reconciled;    /* emails of unknown fate found in Sent Items */
  size_t act_changes;   /* ACT items written either way */
  size_t act_conflicts; /* conflicts resolved (newer change won) */
  size_t errors;        /* mailbox-level failures */
  size_t pages;         /* incoming pages committed */
  size_t requests;      /* EWS requests made */
};

/* Add b into a. */
void exs_sync_stats_add(struct exs_sync_stats *a, const struct exs_sync_stats *b);

/* Synchronize one mailbox m (of profile p, under org) now: incoming,
 * outgoing and ACT for each workload that is enabled and uses server-side
 * sync. m is updated in place (runtime fields, error fields, enabled flags)
 * and saved with its alerts; the caller has claimed it. Returns 0 when every
 * workload succeeded (or had nothing to do), 1 when some failed (m says
 * why), -1 on a store error (err). */
int exs_sync_mailbox(struct exs_store *st, const struct exs_org *org, const struct exs_profile *p,
                     struct exs_mailbox *m, const struct exs_sync_options *opt,
                     struct exs_sync_stats *stats, struct exs_error *err);

/* One pass over every due mailbox of the store at db_path (key_file as for
 * exs_store_open): worker threads, one store handle each, the per-credential
 * connection limit and the per-mailbox claim. *next_due (may be NULL)
 * receives the earliest postponed_until of the mailboxes left (0: none).
 * Returns 0 when the pass ran (mailbox failures are in the store and
 * stats->errors), -1 with err when it could not (store, configuration). */
int exs_sync_pass(const char *db_path, const char *key_file, const struct exs_sync_options *opt,
                  struct exs_sync_stats *stats, time_t *next_due, struct exs_error *err);

/* A worker: this process registered in the store (exs_store_worker_register)
 * with a thread of its own that renews its heartbeat, leases and slots
 * every quarter of opt->lease_s until exs_sync_worker_stop, which releases
 * them all and unregisters. Give its id to exs_sync_pass as opt->worker. */
struct exs_sync_worker;
struct exs_sync_worker *exs_sync_worker_start(const char *db_path, const char *key_file,
                                              const struct exs_sync_options *opt,
                                              struct exs_error *err);
const char *exs_sync_worker_id(const struct exs_sync_worker *w);
/* NULL: no-op. */
void exs_sync_worker_stop(struct exs_sync_worker *w);

/* The postponement after a cycle: max(min interval, the profile's polling
 * interval, the empty-cycle back-off for no_email_count), in seconds. */
long exs_sync_postponement(const struct exs_profile *p, int no_email_count,
                           const struct exs_sync_options *opt);

/* The tracking token of subject for the org's prefix (prefix then at least
 * one digit), copied into token; returns true when there is one. */
bool exs_sync_find_token(const char *subject, const char *prefix, char *token, size_t len);

/* The extended property that marks a sent email with its activity. */
extern const struct exs_ews_extprop exs_sync_marker_prop;

#endif
