/* exsync/store.h - persistence of the org, profiles, mailboxes, alerts,
 * jobs, email activities and sync states.
 *
 * One opaque handle, struct exs_store, behind a narrow interface: callers
 * never see SQL. Every call goes through the handle's operations table
 * (core/store_backend.h, private); the operations are written once over a
 * small SQL driver seam (core/db.h) and run on either database:
 * - SQLite, the embedded default (any path): WAL journal, foreign keys on,
 *   a busy timeout of 10 s;
 * - PostgreSQL, when the path is a libpq connection string:
 *   postgresql://USER@HOST:PORT/DB (or postgres://, or key=value starting
 *   with host=, hostaddr=, dbname=, user=, port= or service=). A password
 *   in it is refused: libpq finds it in PGPASSFILE, ~/.pgpass or
 *   PGPASSWORD. TLS as the string asks (sslmode=require, verify-full...).
 *   The database's owner must be the user (the first open creates the
 *   citext extension and the tables).
 * Both have a versioned schema (schema_migrations; SQLite's PRAGMA
 * user_version too) migrated in one transaction when the store is opened,
 * by one process at a time; a database newer than this build is refused.
 *
 * Invariants:
 * - every multi-row change runs in one transaction (each call that writes
 *   several rows opens its own, or joins the caller's exs_store_begin as a
 *   savepoint): after a crash either all of it or none of it is there;
 * - passwords go to the database only sealed by secret.h (AES-256-GCM under
 *   the key file), each bound to its place ("table:column:key", addresses
 *   lower-cased; schema 6 re-sealed older values), so a value copied to
 *   another row or column does not open; the store never writes a
 *   plaintext password;
 * - mailbox addresses are compared case-insensitively.
 *
 * Results: 0 on success; EXS_STORE_NOT_FOUND (1) from the _get/_delete
 * calls when there is no such row (err then says which); -1 on error with
 * err filled (category CONFIG: the message names the database file or URI
 * and the operation, or the violated constraint, never a secret). After an
 * error inside an explicit transaction (exs_store_begin), roll it back:
 * PostgreSQL refuses every further statement of a failed transaction.
 *
 * Concurrency contract (issue 12; for PostgreSQL what follows holds with
 * the server's locks for SQLite's: one writing transaction at a time per
 * database through an advisory lock, core/db_pg.c; readers never block;
 * any number of processes on any number of hosts):
 * - Who opens it: only this module, and only through SQLite. Nothing else
 *   (in this process or another exsync process) may open() and close() the
 *   database file or its -wal / -shm files: on POSIX, closing any descriptor
 *   of a file drops all the process's record locks on it, those of SQLite's
 *   other connections included, and another process may then checkpoint or
 *   reset the WAL under them (rows vanish from indexes, then "database disk
 *   image is malformed"). Creation and permission checks use a temporary
 *   file linked into place and O_PATH descriptors, which hold no locks.
 * - How many: any number of processes on one host (the sync service, its
 *   --once runs, admin commands) and any number of handles per process, on a
 *   local filesystem (SQLite's WAL needs shared memory: not NFS).
 * - One handle per thread: a handle is not thread-safe and is never shared;
 *   each sync worker opens its own.
 * - What is locked: SQLite's WAL locks. Readers never block and see the last
 *   commit; one writer at a time across all processes. Every call that
 *   writes takes the write lock up front (BEGIN IMMEDIATE, or a single
 *   autocommit statement) and waits up to the busy timeout (10 s) for it, so
 *   concurrent processes wait rather than fail. No call keeps a read
 *   transaction open between calls (statements are reset), so a later
 *   write cannot fail with a stale snapshot; for the same reason do not
 *   write through the handle from an exs_store_mailbox_each callback.
 * - Mailboxes: one worker per mailbox across processes and hosts, by a
 *   lease in the store (exs_store_lease_claim, "many workers" below), not
 *   by a lock.
 * - The file: a regular file, mode 0600 (created so, tightened when looser),
 *   never a symbolic link (refused).
 */
#ifndef EXSYNC_STORE_H
#define EXSYNC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "exsync/alerts.h"
#include "exsync/error.h"
#include "exsync/model.h"

#define EXS_STORE_NOT_FOUND 1
/* Schema version this build writes. */
#define EXS_STORE_SCHEMA_VERSION 8

struct exs_store;

/* Whether path names a PostgreSQL database (a connection string, above)
 * rather than an SQLite file. */
bool exs_store_path_is_server(const char *path);
/* Open (creating when missing) the store at path and the key file at
 * key_file (created 0600 when missing, secret.h, but never for a store that
 * already holds sealed passwords: then the error names the missing key
 * file). Applies pending schema migrations. Returns a handle (close with
 * exs_store_close) or NULL with err. */
struct exs_store *exs_store_open(const char *path, const char *key_file, struct exs_error *err);
/* For tests and tools: like exs_store_open but migrates only up to version
 * (1..EXS_STORE_SCHEMA_VERSION). The entity calls expect the latest schema. */
struct exs_store *exs_store_open_version(const char *path, const char *key_file, int version,
                                         struct exs_error *err);
/* Close; rolls back an open transaction. NULL is a no-op. */
void exs_store_close(struct exs_store *st);
/* The schema version of the open database. */
int exs_store_schema_version(struct exs_store *st);
/* SQLite: PRAGMA integrity_check and foreign_key_check: 0 when both are
 * clean, else -1 with the first problem in err. PostgreSQL checks its
 * constraints on every write: 0. */
int exs_store_check(struct exs_store *st, struct exs_error *err);

/* Explicit transactions for callers that batch (a writing transaction:
 * SQLite's BEGIN IMMEDIATE, PostgreSQL's writer lock). Calls made in between
 * join it. Nested begin is an error. */
int exs_store_begin(struct exs_store *st, struct exs_error *err);
int exs_store_commit(struct exs_store *st, struct exs_error *err);
int exs_store_rollback(struct exs_store *st, struct exs_error *err);

/* --- organization settings (one row) --- */
/* Fills org; the product's defaults (exs_org_defaults) when never stored. */
int exs_store_org_get(struct exs_store *st, struct exs_org *org, struct exs_error *err);
int exs_store_org_put(struct exs_store *st, const struct exs_org *org, struct exs_error *err);

/* --- email server profiles, keyed by name --- */
/* Insert or update by name (the whole struct, password included: "" stores
 * no password). Sets p->id. */
int exs_store_profile_put(struct exs_store *st, struct exs_profile *p, struct exs_error *err);
/* Fill p (password decrypted: wipe p when done). */
int exs_store_profile_get(struct exs_store *st, const char *name, struct exs_profile *p,
                          struct exs_error *err);
/* All profiles ordered by name, passwords not decrypted: "" with a mark
 * when one is stored (exs_password_is_sealed; such an entry cannot be put
 * back). *out is a malloc'd array of *n entries; caller frees with free(). */
int exs_store_profile_list(struct exs_store *st, struct exs_profile **out, size_t *n,
                           struct exs_error *err);
/* Delete; mailboxes of the profile are left without a profile. */
int exs_store_profile_delete(struct exs_store *st, const char *name, struct exs_error *err);

/* --- mailboxes, keyed by address --- */
#define EXS_STORE_WITH_SECRETS 1u /* list: decrypt passwords too */
/* Insert or update by address (every field, Test & Enable results and sync
 * runtime fields included; "" password stores none; m->profile must name a
 * stored profile or be ""). Sets m->id. */
int exs_store_mailbox_put(struct exs_store *st, struct exs_mailbox *m, struct exs_error *err);
/* Fill m (password decrypted: wipe m when done). */
int exs_store_mailbox_get(struct exs_store *st, const char *address, struct exs_mailbox *m,
                          struct exs_error *err);
/* Mailboxes ordered by address: all (profile NULL) or those of one profile,
 * read with one prepared statement. Passwords only with
 * EXS_STORE_WITH_SECRETS (then wipe each entry before freeing); without
 * it, as exs_store_profile_list. *out is a
 * malloc'd array of *n entries (NULL when 0); caller frees with free(). */
int exs_store_mailbox_list(struct exs_store *st, const char *profile, unsigned flags,
                           struct exs_mailbox **out, size_t *n, struct exs_error *err);
/* Callback form for large lists: cb is called once per mailbox (m borrowed
 * for the call); a non-zero return from cb stops and is returned. */
typedef int (*exs_store_mailbox_cb)(void *ctx, const struct exs_mailbox *m);
int exs_store_mailbox_each(struct exs_store *st, const char *profile, unsigned flags,
                           exs_store_mailbox_cb cb, void *ctx, struct exs_error *err);
/* Delete a mailbox with its activities and sync states (its alerts stay). */
int exs_store_mailbox_delete(struct exs_store *st, const char *address, struct exs_error *err);

/* Write the result of one Test & Enable in ONE transaction: the mailbox's
 * status[], enabled[], ews_url, autodiscovered_on, test_completed_on,
 * retry_count, transient_failures, retry_at, last_error_* fields (looked up
 * by m->address; its other fields are left alone), and the n alerts (all of
 * them: filter with exs_alert_wanted first if the wall should obey the org
 * flags). NOT_FOUND when the mailbox is not stored (nothing written). */
int exs_store_save_test_result(struct exs_store *st, const struct exs_mailbox *m,
                               const struct exs_alert *alerts, size_t n, struct exs_error *err);

/* Import configuration in ONE transaction (exsync import, mailbox import):
 * org (NULL: left alone), then profiles and mailboxes inserted or updated by
 * name / address. For rows that exist, only configuration is replaced: a
 * mailbox keeps its Test & Enable results and sync runtime fields (but a
 * change re-opens the verdicts it affects, exs_mailbox_reopen and
 * exs_profile_reopens: those workloads become Not Run, disabled), and a
 * profile or mailbox given without a password keeps its stored password.
 * On any error nothing is written. */
int exs_store_import(struct exs_store *st, const struct exs_org *org,
                     const struct exs_profile *profiles, size_t n_profiles,
                     const struct exs_mailbox *mailboxes, size_t n_mailboxes,
                     struct exs_error *err);

/* --- alerts --- */
/* Add one alert; sets a->id. */
int exs_store_alert_add(struct exs_store *st, struct exs_alert *a, struct exs_error *err);
/* Alerts in the order they were written: all (mailbox NULL) or one
 * mailbox's; at most limit of the newest (0: all). *out malloc'd, caller
 * frees with free(). */
int exs_store_alert_list(struct exs_store *st, const char *mailbox, size_t limit,
                         struct exs_alert **out, size_t *n, struct exs_error *err);

/* The alert wall of WHO (docs/test-enable.md, Alerts, retry and disable), oldest first, at most
 * limit of the newest (0: all): the alerts of mailbox WHO; every alert of a profile WHO owns (its
 * mailboxes' errors and warnings and its profile-level alerts; the success information is for the
 * mailbox owner only); and, when the org's notify-owners is on, the profile-level alerts of the
 * profile of mailbox WHO. Walls are computed when read, from the alerts as written (one row per
 * alert). *out malloc'd, caller frees with free(). */
int exs_store_alert_wall(struct exs_store *st, const char *who, size_t limit,
                         struct exs_alert **out, size_t *n, struct exs_error *err);
/* A profile's own wall: its profile-level alerts (no mailbox). */
int exs_store_alert_profile_wall(struct exs_store *st, const char *profile, size_t limit,
                                 struct exs_alert **out, size_t *n, struct exs_error *err);

/* --- jobs (profile Test & Enable runs in the background) --- */
enum exs_job_state { EXS_JOB_QUEUED = 0, EXS_JOB_RUNNING, EXS_JOB_DONE, EXS_JOB_FAILED };
struct exs_job {
  int64_t id;
  char kind[32];                  /* e.g. "test-enable" */
  char profile[EXS_NAME_MAX + 1]; /* "" for none */
  enum exs_job_state state;
  int total;
  int done;
  time_t created, started, finished; /* 0: not yet */
  char summary[1024];
};
/* "queued", "running", "done", "failed"; parse gives -1 when unknown. */
const char *exs_job_state_name(enum exs_job_state s);
int exs_job_state_parse(const char *s);
/* Create a queued job; *id receives its id. */
int exs_store_job_create(struct exs_store *st, const char *kind, const char *profile, int total,
                         int64_t *id, struct exs_error *err);
/* Record progress: done items; the job becomes running (started = now the
 * first time). */
int exs_store_job_progress(struct exs_store *st, int64_t id, int done, struct exs_error *err);
/* Finish: state done (ok) or failed, finished = now, summary copied. */
int exs_store_job_finish(struct exs_store *st, int64_t id, bool ok, const char *summary,
                         struct exs_error *err);
int exs_store_job_get(struct exs_store *st, int64_t id, struct exs_job *job, struct exs_error *err);
/* All jobs, oldest first. *out malloc'd, caller frees with free(). */
int exs_store_job_list(struct exs_store *st, struct exs_job **out, size_t *n,
                       struct exs_error *err);

/* --- email activities (sync engine) --- */
enum exs_direction { EXS_DIR_INCOMING = 0, EXS_DIR_OUTGOING = 1 };
/* Activity states (text in the store). */
#define EXS_ACTIVITY_RECEIVED "received"
#define EXS_ACTIVITY_PENDING_SEND "pending-send"
#define EXS_ACTIVITY_SENT "sent"
#define EXS_ACTIVITY_FAILED "failed"
struct exs_activity {
  int64_t id;
  char mailbox[EXS_ADDRESS_MAX + 1];
  enum exs_direction direction;
  char state[32];
  char exchange_item_id[512];    /* "" until known */
  char internet_message_id[512]; /* "" until known */
  char *subject;                 /* owned; NULL for none */
  char *sender;
  char *recipients; /* comma-separated */
  char *body;
  time_t created, received, sent, modified;
};
/* Free the owned strings and zero a (NULL is a no-op). */
void exs_activity_clear(struct exs_activity *a);
/* Add an activity once: EXS_STORE_DUPLICATE (2) when the mailbox already has
 * one with the same Exchange item id or Internet message id (nothing written;
 * *id then receives the existing row's id). Sets a->id on insert. */
#define EXS_STORE_DUPLICATE 2
int exs_store_activity_add(struct exs_store *st, struct exs_activity *a, struct exs_error *err);
/* Fill a (free with exs_activity_clear). */
int exs_store_activity_get(struct exs_store *st, int64_t id, struct exs_activity *a,
                           struct exs_error *err);
/* Set state (and exchange_item_id when not NULL, sent = now for "sent"). */
int exs_store_activity_set_state(struct exs_store *st, int64_t id, const char *state,
                                 const char *exchange_item_id, struct exs_error *err);
/* Activities of a mailbox (NULL: all) in a state (NULL: any), oldest first.
 * *out malloc'd; free each with exs_activity_clear, then free(*out). */
int exs_store_activity_list(struct exs_store *st, const char *mailbox, const char *state,
                            struct exs_activity **out, size_t *n, struct exs_error *err);

/* --- sync states (per mailbox and folder) --- */
/* *state receives a malloc'd copy (caller frees with free()); NOT_FOUND when
 * none is stored (*state NULL). */
int exs_store_syncstate_get(struct exs_store *st, const char *mailbox, const char *folder,
                            char **state, struct exs_error *err);
int exs_store_syncstate_put(struct exs_store *st, const char *mailbox, const char *folder,
                            const char *state, struct exs_error *err);

/* ======================================================================
 * The sync engine's tables (schema migration 3).
 * ====================================================================== */

/* An outgoing email whose send request may have reached Exchange: the
 * attempt was recorded before the request, the outcome is not yet known. */
#define EXS_ACTIVITY_SENDING "sending"

/* Activity columns of migration 3, read and written apart from struct
 * exs_activity so that struct stays as it is. */
struct exs_activity_extra {
  char tracking_token[64]; /* "" for none */
  char reason[512];        /* why an email is still pending, "" for none */
  int attempts;            /* send attempts recorded before each request */
};
int exs_store_activity_extra_get(struct exs_store *st, int64_t id, struct exs_activity_extra *x,
                                 struct exs_error *err);
/* Set the tracking token (NULL or "": none). */
int exs_store_activity_set_token(struct exs_store *st, int64_t id, const char *token,
                                 struct exs_error *err);
/* Record a send attempt BEFORE the request: state "sending", attempts + 1,
 * reason cleared; only from pending-send (EXS_STORE_NOT_FOUND otherwise:
 * another worker moved it), so that one email is never sent twice. */
int exs_store_activity_begin_send(struct exs_store *st, int64_t id, struct exs_error *err);
/* Back to pending-send with a reason (a send known not to have happened). */
int exs_store_activity_set_pending(struct exs_store *st, int64_t id, const char *reason,
                                   struct exs_error *err);
/* Whether the mailbox already has an activity with this Exchange item id or
 * Internet message id ("" / NULL ignored): 1 yes (*id set when id not NULL),
 * 0 no, -1 error. */
int exs_store_activity_known(struct exs_store *st, const char *mailbox, const char *item_id,
                             const char *message_id, int64_t *id, struct exs_error *err);
/* Correlation of an answer with an email the org sent (any mailbox): an
 * outgoing activity, sent or being sent, whose subject equals subject
 * (case-insensitive) and whose recipients include address. 1 found (*id set
 * when id not NULL), 0 none, -1 error. */
int exs_store_activity_correlate(struct exs_store *st, const char *subject, const char *address,
                                 int64_t *id, struct exs_error *err);
/* Count activities of a mailbox (NULL: all) in a state (NULL: any); -1 on error. */
long exs_store_activity_count(struct exs_store *st, const char *mailbox, const char *state,
                              struct exs_error *err);

/* Write the sync runtime fields of m (postponed_until, last_sync_start,
 * last_sync_success, items_processed, items_failed, processing_host ("":
 * released)), the error fields (transient_failures, retry_at, last_error_*)
 * and status[] / enabled[] in one statement; other fields are left alone. */
int exs_store_mailbox_save_runtime(struct exs_store *st, const struct exs_mailbox *m,
                                   struct exs_error *err);

/* ---- many workers on one store (core/store_workers.c; docs/sync.md, Workers) ----
 * A worker is one `exsync sync` process, known by its id "HOST:PID". It
 * registers, then renews its heartbeat and everything it holds every
 * quarter of its lease. It holds
 *  - the lease of each mailbox it processes: one worker per mailbox; a lease
 *    that was not renewed in time (the holder died or stalled) is taken
 *    over, and so is one held by a dead process of the same host at once;
 *  - a slot of the credential it connects with: the profile's maximum
 *    concurrent connections hold across all workers together.
 * Times are milliseconds since the epoch (exs_now_ms): the hosts' clocks
 * must agree to well within a lease (NTP). On PostgreSQL a claim skips a
 * row another worker is claiming (FOR UPDATE SKIP LOCKED) instead of
 * waiting for it. */
struct exs_worker {
  char id[192]; /* "HOST:PID" */
  char host[128];
  long pid;
  int64_t started_ms;
  int64_t heartbeat_ms;
};
struct exs_lease {
  char mailbox[EXS_ADDRESS_MAX + 1];
  char worker[192];
  int64_t expires_ms;
};
/* Register (or re-register) worker w now (started and heartbeat now);
 * workers silent for a week are forgotten. */
int exs_store_worker_register(struct exs_store *st, const struct exs_worker *w,
                              struct exs_error *err);
/* The heartbeat of worker id, in one transaction: heartbeat = now, and its
 * leases and slots that have not expired run until now + lease_ms.
 * *renewed (may be NULL): the leases renewed. */
int exs_store_worker_heartbeat(struct exs_store *st, const char *id, int64_t lease_ms,
                               long *renewed, struct exs_error *err);
/* Forget worker id with its leases and slots (a clean stop). */
int exs_store_worker_unregister(struct exs_store *st, const char *id, struct exs_error *err);
/* Registered workers by id (*out malloc'd, NULL when none). */
int exs_store_worker_list(struct exs_store *st, struct exs_worker **out, size_t *n,
                          struct exs_error *err);
/* Claim the lease of mailbox for worker until now + lease_ms: *claimed 1
 * when it was free, expired, already the worker's, or held by a dead
 * process of the worker's host; 0 when another worker holds it. */
int exs_store_lease_claim(struct exs_store *st, const char *mailbox, const char *worker,
                          int64_t lease_ms, int *claimed, struct exs_error *err);
/* Give the lease back (no-op when worker does not hold it). */
int exs_store_lease_release(struct exs_store *st, const char *mailbox, const char *worker,
                            struct exs_error *err);
/* 1 when worker holds an unexpired lease of mailbox, 0 not, -1 error. */
int exs_store_lease_held(struct exs_store *st, const char *mailbox, const char *worker,
                         struct exs_error *err);
/* The unexpired leases by mailbox (*out malloc'd, NULL when none). */
int exs_store_lease_list(struct exs_store *st, struct exs_lease **out, size_t *n,
                         struct exs_error *err);
/* One of the limit slots of credential (exs_testenable_credential_key) for
 * worker until now + lease_ms: *slot its number, or -1 when all limit are
 * held by others. */
int exs_store_slot_claim(struct exs_store *st, const char *credential, int limit,
                         const char *worker, int64_t lease_ms, int *slot, struct exs_error *err);
int exs_store_slot_release(struct exs_store *st, const char *credential, int slot,
                           const char *worker, struct exs_error *err);

/* ACT items (appointments, contacts, tasks) mirrored between the store and
 * Exchange. Strings are copied (truncated). */
enum exs_act_kind { EXS_ACT_KIND_APPOINTMENT = 0, EXS_ACT_KIND_CONTACT = 1, EXS_ACT_KIND_TASK = 2 };
struct exs_act_item {
  int64_t id;
  char mailbox[EXS_ADDRESS_MAX + 1];
  int kind;              /* enum exs_act_kind */
  char exchange_id[512]; /* "" until created in Exchange */
  char change_key[128];
  char subject[512];
  char body[2048];
  char start[40], end[40]; /* appointment start/end, task start/due */
  char location[256];
  char status[32]; /* task status */
  char given_name[128], surname[128], company[256], email[EXS_ADDRESS_MAX + 1];
  time_t crm_modified;      /* last change made on the CRM side */
  time_t exchange_modified; /* last change seen in Exchange */
  time_t synced_at;
  bool dirty;         /* CRM change not yet written to Exchange */
  bool deleted;       /* deleted on the CRM side (dirty) or in Exchange */
  char conflict[512]; /* the losing side of the last conflict, "" none */
};
const char *exs_act_kind_name(int kind); /* "appointment", "contact", "task" */
int exs_act_kind_parse(const char *s);   /* -1 when unknown */
/* Insert (a->id 0) or update by id. Sets a->id. */
int exs_store_act_put(struct exs_store *st, struct exs_act_item *a, struct exs_error *err);
/* Find by Exchange id: 0 found, EXS_STORE_NOT_FOUND, -1 error. */
int exs_store_act_find(struct exs_store *st, const char *mailbox, const char *exchange_id,
                       struct exs_act_item *a, struct exs_error *err);
int exs_store_act_get(struct exs_store *st, int64_t id, struct exs_act_item *a,
                      struct exs_error *err);
/* Items of a mailbox (NULL: all), only dirty ones when dirty_only. *out
 * malloc'd, caller frees with free(). */
int exs_store_act_list(struct exs_store *st, const char *mailbox, bool dirty_only,
                       struct exs_act_item **out, size_t *n, struct exs_error *err);
/* Remove the row (after a delete reached both sides). */
int exs_store_act_delete(struct exs_store *st, int64_t id, struct exs_error *err);

#endif
