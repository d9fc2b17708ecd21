/* db.h - the store's SQL driver seam (private to core/store*.c and core/db*.c).
 *
 * The store's operations are written once against this small interface and
 * run on SQLite (db_sqlite.c) or PostgreSQL (db_pg.c). SQL text uses `?`
 * placeholders (`?N` to name parameter N again); the PostgreSQL driver
 * turns them into $n once, when it prepares. Statements are prepared once
 * per connection and cached by their SQL text (db_stmt / db_done); a
 * statement still in use further up the stack (a callback that calls the
 * store) is not handed out twice: the nested caller gets a fresh one.
 * Results come back as text or int64; a NULL column reads as NULL / 0.
 *
 * Errors: the failing call returns -1 (NULL) and the connection keeps the
 * database's message (db_errmsg: never a row's values, so no sealed value
 * gets into an error) and its kind (db_errkind).
 */
#ifndef EXSYNC_DB_H
#define EXSYNC_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct db_stmt;

enum db_dialect { DB_SQLITE, DB_PG };
/* What a failed statement violated, when it was a constraint. */
enum db_err { DB_E_OTHER = 0, DB_E_FOREIGN_KEY, DB_E_UNIQUE, DB_E_CHECK, DB_E_NOT_NULL };

#define DB_DONE 0
#define DB_ROW 1

/* Open an SQLite file (created when missing) or connect to PostgreSQL with
 * a libpq connection string (URI or key=value). NULL with msg filled on
 * failure. */
struct db *db_open_sqlite(const char *path, char *msg, size_t len);
struct db *db_open_pg(const char *conninfo, char *msg, size_t len);
/* Close (an open transaction is rolled back); NULL is a no-op. */
void db_close(struct db *db);
enum db_dialect db_dialect(const struct db *db);

/* A statement for sql, reset, no bindings; give it back with db_done
 * (NULL is a no-op). NULL on error. */
struct db_stmt *db_stmt(struct db *db, const char *sql);
void db_done(struct db_stmt *s);
/* Parameters count from 1. Text is copied; NULL binds NULL. */
void db_bind_text(struct db_stmt *s, int i, const char *v);
void db_bind_int64(struct db_stmt *s, int i, int64_t v);
void db_bind_null(struct db_stmt *s, int i);
/* DB_ROW, DB_DONE or -1. */
int db_step(struct db_stmt *s);
/* Columns count from 0; valid until the next step or db_done. */
const char *db_col_text(struct db_stmt *s, int i);
int64_t db_col_int64(struct db_stmt *s, int i);
bool db_col_null(struct db_stmt *s, int i);
/* Rows changed by the last INSERT / UPDATE / DELETE stepped to its end. */
long db_changes(struct db *db);

/* Run SQL without parameters or results (several statements allowed). */
int db_exec(struct db *db, const char *sql);
/* Open a writing transaction: one writer at a time across all processes
 * (SQLite: BEGIN IMMEDIATE; PostgreSQL: see db_pg.c). COMMIT, ROLLBACK and
 * savepoints are the same SQL on both: db_exec them. */
int db_begin(struct db *db);
bool db_in_tx(struct db *db);
/* Test builds: from now on every commit (explicit or of a single writing
 * statement) first passes the fault point "store.commit". */
void db_count_commits(struct db *db);

const char *db_errmsg(const struct db *db);
enum db_err db_errkind(const struct db *db);

#endif
