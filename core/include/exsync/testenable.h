/* exsync/testenable.h - Test & Enable for one mailbox (docs/test-enable.md).
 *
 * exs_testenable_mailbox runs the steps of docs/test-enable.md for one mailbox
 * against Exchange and applies the outcome to the mailbox record in memory:
 * statuses, enabled flags, completed-on, retry count, the transient-failure
 * counter of the 10 x 5 minutes rule, the last error. Persisting the record
 * and writing alerts to the wall is the caller's job (one store transaction).
 * It never touches the network for a mailbox that fails its preconditions,
 * and never sends a byte to an http:// URL the deployment properties forbid.
 */
#ifndef EXSYNC_TESTENABLE_H
#define EXSYNC_TESTENABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "exsync/alerts.h"
#include "exsync/autodiscover.h"
#include "exsync/error.h"
#include "exsync/http.h"
#include "exsync/model.h"

enum exs_step_status { EXS_STEP_OK = 0, EXS_STEP_FAILED = 1, EXS_STEP_SKIPPED = 2 };

#define EXS_TE_MAX_STEPS 16
#define EXS_TE_MAX_ALERTS 4

struct exs_te_step {
  char name[32]; /* preconditions, credentials, location, connect, incoming, outgoing, act */
  int status;    /* enum exs_step_status */
  long ms;
  char detail[512];
};

/* An alert as the report shows it (every alert, whatever the org's filters). */
struct exs_te_alert {
  int severity;           /* enum exs_severity */
  int workload;           /* enum exs_workload, -1 for a shared step (or none) */
  struct exs_error error; /* category, transient, message, hint, codes, url */
};

struct exs_te_result {
  char address[EXS_ADDRESS_MAX + 1];
  int status[EXS_WL_COUNT]; /* enum exs_status, as written to the mailbox */
  bool enabled[EXS_WL_COUNT];
  struct exs_error error[EXS_WL_COUNT]; /* the failure of each failed workload */
  struct exs_te_step steps[EXS_TE_MAX_STEPS];
  size_t n_steps;
  struct exs_te_alert alerts[EXS_TE_MAX_ALERTS];
  size_t n_alerts;
  bool retry_scheduled; /* a transient failure scheduled a retry */
  long elapsed_ms;
};

/* A transport (and an Autodiscover handle) kept from one test to the next
 * of the same credential, so Test & Enable of many mailboxes reuses
 * connections (and their NTLM or TLS handshakes) instead of opening one per
 * mailbox. Not thread-safe: one test uses it at a time. Kept for one run:
 * the run's settings are the same for every test it serves. */
struct exs_te_connection;
struct exs_te_connection *exs_te_connection_new(void);
/* Close the connection. NULL is a no-op. */
void exs_te_connection_free(struct exs_te_connection *c);

struct exs_te_options {
  const struct exs_transport *transport; /* the run's settings (CA, routes, proxy, trace);
                                            NULL: none */
  bool this_org_only;                    /* --this-org-only: overwrite another org's ACT identity */
  long delivery_timeout_ms;              /* outgoing test: wait for the inbox copy; 0: 30 s */
  long retry_interval_s;                 /* 10 x N retry schedule; 0: 300 s */
  int max_transient_retries;             /* 0: 10 */
  long throttle_max_wait_ms;             /* 0: 30 s (docs/test-enable.md) */
  exs_autodiscover_srv_fn srv; /* Autodiscover's DNS SRV lookup; NULL: the system resolver */
  void *srv_ctx;
  struct exs_autodiscover_cache *ad_cache; /* the run's Autodiscover answers, shared by its
                                              tests (a batch makes one); NULL: the test's own */
  struct exs_te_connection *reuse; /* borrowed: reused when its credential and settings match
                                      this test's, else replaced; NULL: a new one per test */
  /* The profile check's verdict on this mailbox's incoming [0] and outgoing
   * [1] (location, credential), borrowed; non-NULL: that direction fails
   * with this error and no request is made for it. */
  const struct exs_error *shared_failure[2];
};

/* Run Test & Enable for mailbox m (updated in place) of profile p under org.
 * p may be NULL (no profile: a CONFIG failure). Always fills out; returns 0
 * when every tested workload succeeded, 1 when some failed. */
int exs_testenable_mailbox(const struct exs_org *org, const struct exs_profile *p,
                           struct exs_mailbox *m, const struct exs_te_options *opt,
                           struct exs_te_result *out);

/* The key that max concurrent connections applies to for this mailbox
 * (docs/test-enable.md: per mailbox with the mailbox's credentials, per profile
 * otherwise), written into buf. */
char *exs_testenable_credential_key(const struct exs_profile *p, const struct exs_mailbox *m,
                                    char *buf, size_t len);

/* Whether an error of category c is about the location or the credential
 * (DNS, TCP, TLS, a refused credential) and so holds for every mailbox that
 * reaches Exchange the same way (docs/test-enable.md, the profile check). */
bool exs_testenable_shared_category(enum exs_category c);

/* The profile check of one (location, credential): the settings workload w
 * of mailbox m uses under p, tried with ONE authenticated request (GetFolder
 * of m's root folder). Returns 1 when the location or the credential failed
 * (err: the error every mailbox using them gets), 0 otherwise (also when
 * there is nothing shared to check: Autodiscover, the mailbox's own
 * credentials, settings refused without the network). */
int exs_testenable_check_access(const struct exs_org *org, const struct exs_profile *p,
                                const struct exs_mailbox *m, enum exs_workload w,
                                const struct exs_te_options *opt, struct exs_error *err);

/* ---- many mailboxes at once (a profile job, --all, a list) ---- */

/* Called after each mailbox finishes (from a worker thread, serialised by
 * the batch): done of total. */
typedef void (*exs_te_progress_fn)(void *ctx, size_t done, size_t total,
                                   const struct exs_te_result *last);

/* Profile-level outcome of a batch: the alerts of the profile check. */
struct exs_te_profile_result {
  char name[EXS_NAME_MAX + 1];
  size_t mailboxes; /* mailboxes of the run using the profile */
  struct exs_te_alert alerts[EXS_TE_MAX_ALERTS];
  size_t n_alerts;
};

struct exs_te_batch_options {
  struct exs_te_options te;                      /* per-mailbox options */
  struct exs_te_profile_result *profile_results; /* NULL, or np entries filled by the batch
                                      (profiles[i] -> profile_results[i]) */
  exs_te_progress_fn progress;
  void *progress_ctx; /* also given to started */
  /* Called as a mailbox's test begins (serialised like progress): a trace
   * marks where each mailbox's conversation starts. NULL: none. */
  void (*started)(void *ctx, const struct exs_mailbox *m);
  bool wait_retries;  /* rerun transient failures on their schedule until
                         they succeed or become permanent */
  size_t max_workers; /* 0: 64 */
};

/* Test & Enable n mailboxes in parallel. Each mailbox's profile is looked up
 * by name in profiles[0..np-1]. First the profile check (docs/test-enable.md): each
 * distinct (location, profile credential) of the run is tried once; when
 * it fails, every mailbox using it fails with that error and no further
 * request is made with it (a refused password is presented once, and a
 * credential refused later in the run is not presented again), and the
 * profile gets one profile-level alert. Never more tests (hence EWS requests, each
 * test making one at a time) in flight per credential than the profile's
 * max_connections (docs/test-enable.md). mailboxes[] are updated in place, results[i]
 * belongs to mailboxes[i]. Returns 0 when every tested workload succeeded,
 * 1 otherwise, -1 when the batch could not run (out of memory): the results
 * are then incomplete and must not be reported as a run. */
int exs_testenable_batch(const struct exs_org *org, const struct exs_profile *profiles, size_t np,
                         struct exs_mailbox *mailboxes, size_t n,
                         const struct exs_te_batch_options *opt, struct exs_te_result *results);
#endif
