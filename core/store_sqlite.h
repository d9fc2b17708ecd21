/* store_sqlite.h - private to the store's backends (core/store*.c).
 *
 * The store's operations are written once, over the SQL driver seam db.h,
 * and run on SQLite or PostgreSQL; only opening differs (store_sqlite.c:
 * the database file; store_pg.c: the connection string). They are split by
 * concern: store.c (open, migrations, the statement path, transactions,
 * secrets; org, profiles, mailboxes, import), store_results.c (alerts,
 * Test & Enable results, jobs), store_sync.c (activities, sync states, the
 * sync engine's calls), store_act.c (ACT items), store_sqlite.c (the
 * operations table, the SQLite file), store_pg.c (PostgreSQL). They share
 * the handle, the field tables and the helpers declared here (the org,
 * profiles and mailboxes: their field descriptors, fields.h); nothing
 * outside core/store*.c includes this file. (The sq_ prefix is historical:
 * these functions serve both databases.)
 */
#ifndef EXSYNC_STORE_SQLITE_H
#define EXSYNC_STORE_SQLITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "db.h"
#include "exsync/fields.h"
#include "exsync/store.h"
#include "store_backend.h"

/* ---- field tables ---- *
 *
 * The org, profiles and mailboxes are bound through their descriptors
 * (exsync/fields.h). The store's own tables (activities, ACT items) list
 * their columns here in the same type, one line a field: FTEXT(struct,
 * column, member, flags)... FTEXT: a char buffer ("" is NULL); FSTR: an
 * owned char * (NULL / "" is NULL; read with strdup); FTIME: a time_t (0 is
 * NULL); FSECS: a time_t stored as it is (0 too); FENUM: an int stored as
 * its name in names[]. */
#define SQ_FIELD(S, t, c, m, fl)                                                                   \
  {                                                                                                \
    .member = #m, .type = t, .off = offsetof(struct S, m), .size = sizeof(((struct S *)0)->m),     \
    .col = c, .flags = fl                                                                          \
  }
#define FTEXT(S, c, m, fl) SQ_FIELD(S, EXS_FT_TEXT, c, m, fl)
#define FINT(S, c, m, fl) SQ_FIELD(S, EXS_FT_INT, c, m, fl)
#define FBOOL(S, c, m, fl) SQ_FIELD(S, EXS_FT_BOOL, c, m, fl)
#define FTIME(S, c, m, fl) SQ_FIELD(S, EXS_FT_TIME, c, m, fl)
#define FSTR(S, c, m, fl) SQ_FIELD(S, EXS_FT_STR, c, m, fl)
#define FSECS(S, c, m, fl) SQ_FIELD(S, EXS_FT_SECS, c, m, fl)
#define FENUM(S, c, m, nm, fl)                                                                     \
  {                                                                                                \
    .member = #m, .type = EXS_FT_NAMED, .off = offsetof(struct S, m),                              \
    .size = sizeof(((struct S *)0)->m), .col = c, .flags = fl, .names = nm,                        \
    .n_names = sizeof(nm) / sizeof((nm)[0])                                                        \
  }
#define NF(a) (sizeof(a) / sizeof((a)[0]))

/* The activity columns but id (store_sync.c), the ACT item columns but id
 * (store_act.c). */
extern const struct exs_field sq_activity_fields[];
extern const size_t sq_n_activity_fields;
extern const struct exs_field sq_act_fields[];
extern const size_t sq_n_act_fields;

/* ---- the handle ---- */

enum stmt_id {
  S_ORG_GET,
  S_ORG_PUT,
  S_PROFILE_PUT,
  S_PROFILE_GET,
  S_PROFILE_DELETE,
  S_MAILBOX_PUT,
  S_MAILBOX_GET,
  S_MAILBOX_DELETE,
  S_MAILBOX_RESULT,
  S_MAILBOX_RUNTIME,
  S_ALERT_ADD,
  S_JOB_CREATE,
  S_JOB_PROGRESS,
  S_JOB_FINISH,
  S_JOB_GET,
  S_ACTIVITY_FIND,
  S_ACTIVITY_STATE,
  S_SYNC_GET,
  S_SYNC_PUT,
  S_LAZY, /* from here on: built at first use by the file that owns them */
  S_ACTIVITY_ADD = S_LAZY,
  S_ACTIVITY_GET,
  S_ACTIVITY_LIST,
  S_ACTIVITY_LIST_MAILBOX,
  S_ACTIVITY_LIST_STATE,
  S_ACTIVITY_LIST_BOTH,
  S_ACT_INSERT,
  S_ACT_UPDATE,
  S_ACT_GET,
  S_ACT_FIND,
  S_ACT_LIST,
  S_COUNT
};

struct sq_store {
  struct exs_store base; /* first: the operations table */
  struct db *db;         /* SQLite or PostgreSQL (db.h) */
  struct exs_secret *secret;
  char path[1024];    /* the database named in errors (a URI: without password) */
  char *sql[S_COUNT]; /* generated SQL (NULL: static) */
  bool in_explicit;   /* exs_store_begin was called */
  bool bound;         /* sealed values bound to their row (BOUND_SECRETS_VERSION) */
};

/* The state behind a handle (st is always an sq_store). */
#define SQ(st) ((struct sq_store *)(st))

/* The operations (store.h's calls, same meaning), and their table. */
void sq_close(struct exs_store *st);
int sq_schema_version(struct exs_store *st);
int sq_check(struct exs_store *st, struct exs_error *err);
int sq_begin(struct exs_store *st, struct exs_error *err);
int sq_commit(struct exs_store *st, struct exs_error *err);
int sq_rollback(struct exs_store *st, struct exs_error *err);
int sq_org_get(struct exs_store *st, struct exs_org *org, struct exs_error *err);
int sq_org_put(struct exs_store *st, const struct exs_org *org, struct exs_error *err);
int sq_profile_put(struct exs_store *st, struct exs_profile *p, struct exs_error *err);
int sq_profile_get(struct exs_store *st, const char *name, struct exs_profile *p,
                   struct exs_error *err);
int sq_profile_list(struct exs_store *st, struct exs_profile **out, size_t *n,
                    struct exs_error *err);
int sq_profile_delete(struct exs_store *st, const char *name, struct exs_error *err);
int sq_mailbox_put(struct exs_store *st, struct exs_mailbox *m, struct exs_error *err);
int sq_mailbox_get(struct exs_store *st, const char *address, struct exs_mailbox *m,
                   struct exs_error *err);
int sq_mailbox_list(struct exs_store *st, const char *profile, unsigned flags,
                    struct exs_mailbox **out, size_t *n, struct exs_error *err);
int sq_mailbox_each(struct exs_store *st, const char *profile, unsigned flags,
                    exs_store_mailbox_cb cb, void *ctx, struct exs_error *err);
int sq_mailbox_delete(struct exs_store *st, const char *address, struct exs_error *err);
int sq_save_test_result(struct exs_store *st, const struct exs_mailbox *m,
                        const struct exs_alert *alerts, size_t n, struct exs_error *err);
int sq_import(struct exs_store *st, const struct exs_org *org, const struct exs_profile *profiles,
              size_t n_profiles, const struct exs_mailbox *mailboxes, size_t n_mailboxes,
              struct exs_error *err);
int sq_alert_add(struct exs_store *st, struct exs_alert *a, struct exs_error *err);
int sq_alert_list(struct exs_store *st, const char *mailbox, size_t limit, struct exs_alert **out,
                  size_t *n, struct exs_error *err);
int sq_alert_wall(struct exs_store *st, const char *who, size_t limit, struct exs_alert **out,
                  size_t *n, struct exs_error *err);
int sq_alert_profile_wall(struct exs_store *st, const char *profile, size_t limit,
                          struct exs_alert **out, size_t *n, struct exs_error *err);
int sq_job_create(struct exs_store *st, const char *kind, const char *profile, int total,
                  int64_t *id, struct exs_error *err);
int sq_job_progress(struct exs_store *st, int64_t id, int done, struct exs_error *err);
int sq_job_finish(struct exs_store *st, int64_t id, bool ok, const char *summary,
                  struct exs_error *err);
int sq_job_get(struct exs_store *st, int64_t id, struct exs_job *job, struct exs_error *err);
int sq_job_list(struct exs_store *st, struct exs_job **out, size_t *n, struct exs_error *err);
int sq_activity_add(struct exs_store *st, struct exs_activity *a, struct exs_error *err);
int sq_activity_get(struct exs_store *st, int64_t id, struct exs_activity *a,
                    struct exs_error *err);
int sq_activity_set_state(struct exs_store *st, int64_t id, const char *state,
                          const char *exchange_item_id, struct exs_error *err);
int sq_activity_list(struct exs_store *st, const char *mailbox, const char *state,
                     struct exs_activity **out, size_t *n, struct exs_error *err);
int sq_syncstate_get(struct exs_store *st, const char *mailbox, const char *folder, char **state,
                     struct exs_error *err);
int sq_syncstate_put(struct exs_store *st, const char *mailbox, const char *folder,
                     const char *state, struct exs_error *err);
int sq_activity_extra_get(struct exs_store *st, int64_t id, struct exs_activity_extra *x,
                          struct exs_error *err);
int sq_activity_set_token(struct exs_store *st, int64_t id, const char *token,
                          struct exs_error *err);
int sq_activity_begin_send(struct exs_store *st, int64_t id, struct exs_error *err);
int sq_activity_set_pending(struct exs_store *st, int64_t id, const char *reason,
                            struct exs_error *err);
int sq_activity_known(struct exs_store *st, const char *mailbox, const char *item_id,
                      const char *message_id, int64_t *id, struct exs_error *err);
int sq_activity_correlate(struct exs_store *st, const char *subject, const char *address,
                          int64_t *id, struct exs_error *err);
long sq_activity_count(struct exs_store *st, const char *mailbox, const char *state,
                       struct exs_error *err);
int sq_mailbox_save_runtime(struct exs_store *st, const struct exs_mailbox *m,
                            struct exs_error *err);
/* store_workers.c */
int sq_worker_register(struct exs_store *st, const struct exs_worker *w, struct exs_error *err);
int sq_worker_heartbeat(struct exs_store *st, const char *id, int64_t lease_ms, long *renewed,
                        struct exs_error *err);
int sq_worker_unregister(struct exs_store *st, const char *id, struct exs_error *err);
int sq_worker_list(struct exs_store *st, struct exs_worker **out, size_t *n, struct exs_error *err);
int sq_lease_claim(struct exs_store *st, const char *mailbox, const char *worker, int64_t lease_ms,
                   int *claimed, struct exs_error *err);
int sq_lease_release(struct exs_store *st, const char *mailbox, const char *worker,
                     struct exs_error *err);
int sq_lease_held(struct exs_store *st, const char *mailbox, const char *worker,
                  struct exs_error *err);
int sq_lease_list(struct exs_store *st, struct exs_lease **out, size_t *n, struct exs_error *err);
int sq_slot_claim(struct exs_store *st, const char *credential, int limit, const char *worker,
                  int64_t lease_ms, int *slot, struct exs_error *err);
int sq_slot_release(struct exs_store *st, const char *credential, int slot, const char *worker,
                    struct exs_error *err);
int sq_act_put(struct exs_store *st, struct exs_act_item *a, struct exs_error *err);
int sq_act_find(struct exs_store *st, const char *mailbox, const char *exchange_id,
                struct exs_act_item *a, struct exs_error *err);
int sq_act_get(struct exs_store *st, int64_t id, struct exs_act_item *a, struct exs_error *err);
int sq_act_list(struct exs_store *st, const char *mailbox, bool dirty_only,
                struct exs_act_item **out, size_t *n, struct exs_error *err);
int sq_act_delete(struct exs_store *st, int64_t id, struct exs_error *err);
extern const struct exs_store_ops sq_ops;
/* st with its ops set to sq_ops (store_sqlite.c); NULL stays NULL. */
struct exs_store *sq_with_ops(struct exs_store *st);
/* The store over an open connection (store.c): takes db (closed on
 * failure), opens the key file, migrates to version. name is the database
 * as errors name it. The caller sets the handle's ops (sq_ops). */
struct exs_store *sq_open(struct db *db, const char *name, const char *key_file, int version,
                          struct exs_error *err);

/* ---- helpers (store.c) ---- */

/* err = "store PATH: what: the database's message"; returns -1. */
int sq_fail(struct exs_store *st, struct exs_error *err, const char *what);
/* Run SQL without results. */
int sq_exec(struct exs_store *st, const char *sql, struct exs_error *err);
/* The one prepared-statement path: a statement for sql (cached per handle,
 * reset, no bindings); give it back with sq_done. */
struct db_stmt *sq_stmt(struct exs_store *st, const char *sql, struct exs_error *err);
void sq_done(struct exs_store *st, struct db_stmt *s);
/* sq_stmt of a generated or static statement by id. */
struct db_stmt *sq_prep(struct exs_store *st, enum stmt_id id, struct exs_error *err);
/* sq_prep of a statement from S_LAZY on, its SQL made by make(id) the
 * first time (malloc'd, kept by the handle). */
struct db_stmt *sq_prep_lazy(struct exs_store *st, enum stmt_id id, char *(*make)(enum stmt_id id),
                             struct exs_error *err);
/* Text and times, NULL when empty / 0. */
void sq_bind_text(struct db_stmt *s, int i, const char *v);
void sq_bind_time(struct db_stmt *s, int i, time_t t);
void sq_col_text(struct db_stmt *s, int i, char *buf, size_t len);
char *sq_col_dup(struct db_stmt *s, int i);
/* Bind / read the plain columns of obj (bind: only those with a flag of
 * mask, 0 all; the row id and sealed columns are left out) from parameter /
 * column first on; return the next index (read: -1 when out of memory, the
 * FSTR fields read so far left for the caller to free). */
int sq_bind_fields(struct db_stmt *s, const struct exs_field *f, size_t n, const void *obj,
                   unsigned mask, int first);
int sq_read_fields(struct db_stmt *s, const struct exs_field *f, size_t n, void *obj, int first);
/* "INSERT INTO table(cols) VALUES(?, ...) tail", "SELECT id, cols FROM
 * table tail", "UPDATE table SET col = ?, ... tail" (malloc'd). */
char *sq_insert_sql(const char *table, const struct exs_field *f, size_t n, const char *tail);
char *sq_select_sql(const char *table, const struct exs_field *f, size_t n, const char *tail);
char *sq_update_sql(const char *table, const struct exs_field *f, size_t n, const char *tail);
/* A unit of work: a writing transaction (db_begin), or a savepoint inside
 * the caller's transaction (*own false); sq_tx_end commits (ok 0) or rolls
 * back. */
int sq_tx_begin(struct exs_store *st, bool *own, struct exs_error *err);
int sq_tx_end(struct exs_store *st, bool own, int ok, struct exs_error *err);
/* Step a write statement that must change one row, give it back;
 * EXS_STORE_NOT_FOUND when it changed none (store_sync.c). */
int sq_write_one(struct exs_store *st, struct db_stmt *s, int64_t id, const char *what,
                 struct exs_error *err);
/* Step a query whose first column is an id, give it back: 1 and *id (when
 * id is not NULL) on a row, 0 on none, -1 with err naming what (store_sync.c). */
int sq_find_id(struct exs_store *st, struct db_stmt *s, int64_t *id, const char *what,
               struct exs_error *err);
/* Grow *arr (elem bytes each) to hold n + 1 entries. */
int sq_grow(void **arr, size_t *cap, size_t n, size_t elem);

#endif
