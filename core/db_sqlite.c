/* db_sqlite.c - db.h on SQLite: a thin layer over sqlite3 prepared
 * statements. The database file's creation and permissions are the
 * store's business (store_sqlite.c); this opens what it is given. */
#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "db_driver.h"
#include "exsync/faultpoint.h"

#define CONN(db) ((sqlite3 *)(db)->conn)

static void fail(struct db *db)
{
  enum db_err kind = DB_E_OTHER;

  switch(sqlite3_extended_errcode(CONN(db))) {
  case SQLITE_CONSTRAINT_FOREIGNKEY:
    kind = DB_E_FOREIGN_KEY;
    break;
  case SQLITE_CONSTRAINT_UNIQUE:
  case SQLITE_CONSTRAINT_PRIMARYKEY:
    kind = DB_E_UNIQUE;
    break;
  case SQLITE_CONSTRAINT_CHECK:
    kind = DB_E_CHECK;
    break;
  case SQLITE_CONSTRAINT_NOTNULL:
    kind = DB_E_NOT_NULL;
    break;
  }
  db_set_error(db, kind, sqlite3_errmsg(CONN(db)));
}

static void *sl_prepare(struct db *db, const char *sql)
{
  sqlite3_stmt *s = NULL;

  if(sqlite3_prepare_v3(CONN(db), sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
    fail(db);
    sqlite3_finalize(s);
    return NULL;
  }
  return s;
}

static void sl_finalize(struct db *db, void *impl)
{
  sqlite3_finalize(impl);
}

static void sl_reset(void *impl)
{
  sqlite3_reset(impl);
  sqlite3_clear_bindings(impl);
}

static void sl_bind_text(void *impl, int i, const char *v)
{
  sqlite3_bind_text(impl, i, v, -1, SQLITE_TRANSIENT);
}

static void sl_bind_int64(void *impl, int i, int64_t v)
{
  sqlite3_bind_int64(impl, i, (sqlite3_int64)v);
}

static void sl_bind_null(void *impl, int i)
{
  sqlite3_bind_null(impl, i);
}

static int sl_step(struct db *db, void *impl)
{
  int rc = sqlite3_step(impl);

  if(rc == SQLITE_ROW)
    return DB_ROW;
  if(rc == SQLITE_DONE) {
    db->changes = sqlite3_changes(CONN(db));
    return DB_DONE;
  }
  fail(db);
  return -1;
}

static const char *sl_col_text(void *impl, int i)
{
  return (const char *)sqlite3_column_text(impl, i);
}

static int64_t sl_col_int64(void *impl, int i)
{
  return (int64_t)sqlite3_column_int64(impl, i);
}

static bool sl_col_null(void *impl, int i)
{
  return sqlite3_column_type(impl, i) == SQLITE_NULL;
}

static int sl_exec(struct db *db, const char *sql)
{
  if(sqlite3_exec(CONN(db), sql, NULL, NULL, NULL) != SQLITE_OK) {
    fail(db);
    return -1;
  }
  return 0;
}

/* The write lock up front: concurrent writers wait (busy timeout) at the
 * start rather than fail later on a stale snapshot. */
static int sl_begin(struct db *db)
{
  return sl_exec(db, "BEGIN IMMEDIATE");
}

static bool sl_in_tx(struct db *db)
{
  return sqlite3_get_autocommit(CONN(db)) == 0;
}

static void sl_close(struct db *db)
{
  if(!CONN(db))
    return;
  if(!sqlite3_get_autocommit(CONN(db)))
    sqlite3_exec(CONN(db), "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close_v2(CONN(db));
}

#ifdef EXSYNC_FAULT_POINTS
/* Every commit, explicit or of a single statement, before it lands. */
static int commit_fault_point(void *unused)
{
  (void)unused;
  EXS_FAULT_POINT("store.commit");
  return 0;
}
#endif

static void sl_count_commits(struct db *db)
{
#ifdef EXSYNC_FAULT_POINTS
  sqlite3_commit_hook(CONN(db), commit_fault_point, NULL);
#endif
}

static const struct db_driver sqlite_driver = {
    .prepare = sl_prepare,
    .finalize = sl_finalize,
    .reset = sl_reset,
    .bind_text = sl_bind_text,
    .bind_int64 = sl_bind_int64,
    .bind_null = sl_bind_null,
    .step = sl_step,
    .col_text = sl_col_text,
    .col_int64 = sl_col_int64,
    .col_null = sl_col_null,
    .exec = sl_exec,
    .begin = sl_begin,
    .in_tx = sl_in_tx,
    .count_commits = sl_count_commits,
    .close = sl_close,
};

struct db *db_open_sqlite(const char *path, char *msg, size_t len)
{
  struct db *db = db_new(&sqlite_driver, DB_SQLITE);
  sqlite3 *conn = NULL;

  if(!db) {
    snprintf(msg, len, "out of memory");
    return NULL;
  }
  if(sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
    snprintf(msg, len, "%s", conn ? sqlite3_errmsg(conn) : "out of memory");
    sqlite3_close_v2(conn);
    db_free(db);
    return NULL;
  }
  db->conn = conn;
  sqlite3_extended_result_codes(conn, 1);
  sqlite3_busy_timeout(conn, 10000);
  return db;
}
