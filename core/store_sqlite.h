/* store_sqlite.h - private to the SQLite backend of store.h (core/store*.c).
 *
 * The backend is split by concern: store.c (open, migrations, the database
 * file, the statement path, transactions, secrets; org, profiles, mailboxes,
 * import), store_results.c (alerts, Test & Enable results, jobs),
 * store_sync.c (activities, sync states, the sync engine's calls),
 * store_act.c (ACT items). They share the handle, the field tables and the
 * helpers declared here; nothing outside core/store*.c includes this file.
 */
#ifndef EXSYNC_STORE_SQLITE_H
#define EXSYNC_STORE_SQLITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <sqlite3.h>

#include "exsync/store.h"

/* ---- field tables: a field is one line (column, C type, offset) ---- */

enum ftype { F_TEXT, F_INT, F_BOOL, F_TIME };
#define F_RESULT 1u /* written by exs_store_save_test_result */

struct field {
  const char *col;
  enum ftype type;
  size_t off;
  size_t size; /* F_TEXT: buffer size */
  unsigned flags;
};


/* The mailbox columns (the key column first). */
extern const struct field sq_mailbox_fields[];
extern const size_t sq_n_mailbox_fields;

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
  S_ALERT_ADD,
  S_JOB_CREATE,
  S_JOB_PROGRESS,
  S_JOB_FINISH,
  S_JOB_GET,
  S_ACTIVITY_ADD,
  S_ACTIVITY_FIND,
  S_ACTIVITY_GET,
  S_ACTIVITY_STATE,
  S_SYNC_GET,
  S_SYNC_PUT,
  S_COUNT
};

struct cached {
  char *sql;
  sqlite3_stmt *s;
  bool in_use; /* handed out by sq_stmt(), not yet given back */
};

struct exs_store {
  sqlite3 *db;
  struct exs_secret *secret;
  char path[1024];
  struct cached *cache; /* sq_stmt(): prepared statements by SQL text */
  size_t n_cache, cap_cache;
  char *sql[S_COUNT]; /* generated SQL (NULL: static) */
  bool in_explicit;   /* exs_store_begin was called */
  bool bound;         /* sealed values bound to their row (BOUND_SECRETS_VERSION) */
};

/* ---- helpers (store.c) ---- */

/* err = "store PATH: what: SQLite's message"; returns -1. */
int sq_fail(struct exs_store *st, struct exs_error *err, const char *what);
/* Run SQL without results. */
int sq_exec(struct exs_store *st, const char *sql, struct exs_error *err);
/* The one prepared-statement path: a statement for sql (cached per handle,
 * reset, no bindings); give it back with sq_done. */
sqlite3_stmt *sq_stmt(struct exs_store *st, const char *sql, struct exs_error *err);
void sq_done(struct exs_store *st, sqlite3_stmt *s);
/* sq_stmt of a generated or static statement by id. */
sqlite3_stmt *sq_prep(struct exs_store *st, enum stmt_id id, struct exs_error *err);
/* Text and times, NULL when empty / 0. */
void sq_bind_text(sqlite3_stmt *s, int i, const char *v);
void sq_bind_time(sqlite3_stmt *s, int i, time_t t);
void sq_col_text(sqlite3_stmt *s, int i, char *buf, size_t len);
char *sq_col_dup(sqlite3_stmt *s, int i);
/* Bind / read the fields of obj (bind: only those in mask, 0 all) from
 * parameter / column first on; return the next index. */
int sq_bind_fields(sqlite3_stmt *s, const struct field *f, size_t n, const void *obj,
                   unsigned mask, int first);
int sq_read_fields(sqlite3_stmt *s, const struct field *f, size_t n, void *obj, int first);
/* A unit of work: BEGIN IMMEDIATE, or a savepoint inside the caller's
 * transaction (*own false); sq_tx_end commits (ok 0) or rolls back. */
int sq_tx_begin(struct exs_store *st, bool *own, struct exs_error *err);
int sq_tx_end(struct exs_store *st, bool own, int ok, struct exs_error *err);
/* Step a write statement that must change one row, give it back;
 * EXS_STORE_NOT_FOUND when it changed none (store_sync.c). */
int sq_write_one(struct exs_store *st, sqlite3_stmt *s, int64_t id, const char *what,
                 struct exs_error *err);
/* Grow *arr (elem bytes each) to hold n + 1 entries. */
int sq_grow(void **arr, size_t *cap, size_t n, size_t elem);

#endif
