/* db_pg.c - db.h on PostgreSQL (libpq). Statements are prepared on the
 * server once per connection (PQprepare, named "exsN", shared by nested
 * uses of the same SQL) and run with PQexecPrepared in text format; a
 * result is fetched whole and stepped through in memory. The `?` / `?N`
 * placeholders of the store's SQL become $n once, at prepare.
 *
 * Errors keep only the server's primary message and its SQLSTATE: the
 * DETAIL of a constraint violation quotes the row, and a row may hold a
 * sealed password.
 */
#include <ctype.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db_driver.h"
#include "exsync/faultpoint.h"

struct pg_prepared {
  char *sql;  /* the store's text, the cache key */
  char *text; /* with $n placeholders */
  char name[16];
  int nparams;
  bool write;     /* not a SELECT: its autocommit is a commit */
  bool on_server; /* prepared on the current session */
};

struct pg_conn {
  PGconn *conn;
  /* every statement prepared on this connection (pointers: the statements
   * of db.c's cache keep theirs while the list grows) */
  struct pg_prepared **prep;
  size_t n_prep, cap_prep;
  bool count_commits;
  bool tx_open; /* BEGIN sent, COMMIT / ROLLBACK not yet */
};

struct pg_stmt {
  struct pg_prepared *p;
  char **vals; /* p->nparams bound values (NULL: SQL NULL) */
  PGresult *res;
  int row, nrows;
};

#define PC(db) ((struct pg_conn *)(db)->conn)

/* The error of a failed result (or of the connection when res is NULL). */
static void fail(struct db *db, const PGresult *res)
{
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  enum db_err kind = DB_E_OTHER;

  if(state && !strcmp(state, "23503"))
    kind = DB_E_FOREIGN_KEY;
  else if(state && !strcmp(state, "23505"))
    kind = DB_E_UNIQUE;
  else if(state && !strcmp(state, "23514"))
    kind = DB_E_CHECK;
  else if(state && !strcmp(state, "23502"))
    kind = DB_E_NOT_NULL;
  db_set_error(db, kind, msg ? msg : PQerrorMessage(PC(db)->conn));
}

/* sql with ? -> $k (one more than the highest so far, as SQLite numbers
 * them) and ?N -> $N, outside quotes; *nparams gets the highest number. */
static char *translate(const char *sql, int *nparams)
{
  size_t len = strlen(sql);
  char *out = malloc(len * 7 + 1), *o = out, quote = 0; /* "?" -> "$999999" at most */
  int high = 0;

  if(!out)
    return NULL;
  for(const char *p = sql; *p; p++) {
    if(quote) {
      if(*p == quote)
        quote = 0;
      *o++ = *p;
      continue;
    }
    if(*p == '\'' || *p == '"') {
      quote = *p;
      *o++ = *p;
      continue;
    }
    if(*p != '?') {
      *o++ = *p;
      continue;
    }
    if(isdigit((unsigned char)p[1])) {
      int n = (int)strtol(p + 1, NULL, 10);
      if(n > high)
        high = n;
      *o++ = '$';
      continue; /* the digits follow as they are */
    }
    o += sprintf(o, "$%d", ++high);
  }
  *o = 0;
  *nparams = high;
  return out;
}

static bool is_select(const char *sql)
{
  while(isspace((unsigned char)*sql))
    sql++;
  return !strncasecmp(sql, "SELECT", 6) || !strncasecmp(sql, "WITH", 4);
}

/* Prepare p on the server (again after a reconnection). */
static int prepare_on_server(struct db *db, struct pg_prepared *p)
{
  PGresult *res = PQprepare(PC(db)->conn, p->name, p->text, 0, NULL);
  int rc = 0;

  if(PQresultStatus(res) != PGRES_COMMAND_OK) {
    fail(db, res);
    rc = -1;
  }
  PQclear(res);
  p->on_server = rc == 0;
  return rc;
}

static void prepared_free(struct pg_prepared *p)
{
  if(p) {
    free(p->sql);
    free(p->text);
    free(p);
  }
}

/* The statement of sql, prepared on the server the first time. */
static struct pg_prepared *prepared(struct db *db, const char *sql)
{
  struct pg_conn *pc = PC(db);
  struct pg_prepared *p;
  size_t i;

  for(i = 0; i < pc->n_prep; i++)
    if(!strcmp(pc->prep[i]->sql, sql))
      return pc->prep[i];
  if(pc->n_prep == pc->cap_prep) {
    size_t cap = pc->cap_prep ? 2 * pc->cap_prep : 64;
    struct pg_prepared **more = realloc(pc->prep, cap * sizeof(*more));
    if(!more) {
      db_set_error(db, DB_E_OTHER, "out of memory");
      return NULL;
    }
    pc->prep = more;
    pc->cap_prep = cap;
  }
  p = calloc(1, sizeof(*p));
  if(!p || !(p->sql = strdup(sql)) || !(p->text = translate(sql, &p->nparams))) {
    prepared_free(p);
    db_set_error(db, DB_E_OTHER, "out of memory");
    return NULL;
  }
  snprintf(p->name, sizeof(p->name), "exs%zu", pc->n_prep);
  p->write = !is_select(sql);
  if(prepare_on_server(db, p)) {
    prepared_free(p);
    return NULL;
  }
  pc->prep[pc->n_prep++] = p;
  return p;
}

/* Before a statement: a session that died outside a transaction (server
 * restart, failover, an idle timeout) is opened again, its statements
 * prepared anew as they are used; one that died inside a transaction is
 * not, until the caller ends it (ROLLBACK), so the rest of a unit never
 * runs in autocommit. The statement that met the dead session failed: its
 * outcome is unknown, so nothing is retried here. */
static int connected(struct db *db)
{
  struct pg_conn *pc = PC(db);

  if(PQstatus(pc->conn) == CONNECTION_OK)
    return 0;
  if(pc->tx_open) {
    db_set_error(db, DB_E_OTHER, "the connection to the database was lost inside a transaction");
    return -1;
  }
  PQreset(pc->conn);
  if(PQstatus(pc->conn) != CONNECTION_OK) {
    fail(db, NULL);
    return -1;
  }
  for(size_t i = 0; i < pc->n_prep; i++)
    pc->prep[i]->on_server = false;
  return 0;
}

static void *pg_prepare(struct db *db, const char *sql)
{
  struct pg_prepared *p;

  if(connected(db))
    return NULL;
  p = prepared(db, sql);
  struct pg_stmt *s;

  if(!p)
    return NULL;
  s = calloc(1, sizeof(*s));
  if(s && p->nparams && !(s->vals = calloc((size_t)p->nparams, sizeof(char *)))) {
    free(s);
    s = NULL;
  }
  if(!s) {
    db_set_error(db, DB_E_OTHER, "out of memory");
    return NULL;
  }
  s->p = p;
  return s;
}

static void pg_reset(void *impl)
{
  struct pg_stmt *s = impl;

  PQclear(s->res);
  s->res = NULL;
  s->row = s->nrows = 0;
  for(int i = 0; i < s->p->nparams; i++) {
    free(s->vals[i]);
    s->vals[i] = NULL;
  }
}

static void pg_finalize(struct db *db, void *impl)
{
  struct pg_stmt *s = impl;

  (void)db;
  pg_reset(s);
  free(s->vals);
  free(s);
}

static void set_val(struct pg_stmt *s, int i, char *v)
{
  if(i < 1 || i > s->p->nparams) {
    free(v);
    return;
  }
  free(s->vals[i - 1]);
  s->vals[i - 1] = v;
}

static void pg_bind_text(void *impl, int i, const char *v)
{
  set_val(impl, i, strdup(v));
}

static void pg_bind_int64(void *impl, int i, int64_t v)
{
  char buf[24];

  snprintf(buf, sizeof(buf), "%lld", (long long)v);
  set_val(impl, i, strdup(buf));
}

static void pg_bind_null(void *impl, int i)
{
  set_val(impl, i, NULL);
}

static int pg_step(struct db *db, void *impl)
{
  struct pg_stmt *s = impl;
  ExecStatusType status;

  if(s->res)
    return ++s->row < s->nrows ? DB_ROW : DB_DONE;
  if(connected(db) || (!s->p->on_server && prepare_on_server(db, s->p)))
    return -1;
#ifdef EXSYNC_FAULT_POINTS
  if(PC(db)->count_commits && s->p->write && PQtransactionStatus(PC(db)->conn) == PQTRANS_IDLE)
    EXS_FAULT_POINT("store.commit");
#endif
  s->res = PQexecPrepared(PC(db)->conn, s->p->name, s->p->nparams, (const char *const *)s->vals,
                          NULL, NULL, 0);
  status = PQresultStatus(s->res);
  if(status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    fail(db, s->res);
    PQclear(s->res);
    s->res = NULL;
    return -1;
  }
  if(*PQcmdTuples(s->res))
    db->changes = strtol(PQcmdTuples(s->res), NULL, 10);
  s->nrows = status == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
  s->row = 0;
  return s->nrows > 0 ? DB_ROW : DB_DONE;
}

static const char *pg_col_text(void *impl, int i)
{
  struct pg_stmt *s = impl;

  if(!s->res || s->row >= s->nrows || i >= PQnfields(s->res) || PQgetisnull(s->res, s->row, i))
    return NULL;
  return PQgetvalue(s->res, s->row, i);
}

static int64_t pg_col_int64(void *impl, int i)
{
  const char *v = pg_col_text(impl, i);

  return v ? (int64_t)strtoll(v, NULL, 10) : 0;
}

static bool pg_col_null(void *impl, int i)
{
  return pg_col_text(impl, i) == NULL;
}

static bool is_end(const char *sql)
{
  return !strcmp(sql, "COMMIT") || !strcmp(sql, "ROLLBACK");
}

static int pg_exec(struct db *db, const char *sql)
{
  struct pg_conn *pc = PC(db);
  PGresult *res;
  ExecStatusType status;

  if(PQstatus(pc->conn) != CONNECTION_OK && pc->tx_open && !strcmp(sql, "ROLLBACK")) {
    pc->tx_open = false; /* the server rolled back when the session died */
    return 0;
  }
  if(connected(db))
    return -1;
#ifdef EXSYNC_FAULT_POINTS
  if(pc->count_commits && !strcmp(sql, "COMMIT"))
    EXS_FAULT_POINT("store.commit");
#endif
  res = PQexec(pc->conn, sql);
  status = PQresultStatus(res);
  if(is_end(sql))
    pc->tx_open = false;
  if(status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    fail(db, res);
    PQclear(res);
    return -1;
  }
  PQclear(res);
  return 0;
}

/* One writer at a time, as SQLite's BEGIN IMMEDIATE gives: the store's
 * units of work read and then write (an import looks up what exists, a
 * claim reads the holder before taking the mailbox) and count on nobody
 * else writing in between. Under READ COMMITTED two units could interleave;
 * row locks would not cover rows about to be inserted, and SERIALIZABLE
 * would make every caller retry. So every unit first takes one
 * transaction-scoped advisory lock of this database: units run one after
 * the other, each statement of a unit sees every unit committed before it
 * (READ COMMITTED takes its snapshot per statement, after the lock), and
 * the lock goes with COMMIT, ROLLBACK or the session, so a killed worker
 * never keeps it. Single statements outside a unit are atomic on their own
 * and do not take it. The key is "exsync" in ASCII. */
#define WRITER_LOCK "SELECT pg_advisory_xact_lock(111568007818851)"

static int pg_begin(struct db *db)
{
  if(pg_exec(db, "BEGIN; " WRITER_LOCK)) {
    /* BEGIN may have run and the lock failed: leave no transaction behind */
    if(PQstatus(PC(db)->conn) == CONNECTION_OK && PQtransactionStatus(PC(db)->conn) != PQTRANS_IDLE)
      PQclear(PQexec(PC(db)->conn, "ROLLBACK"));
    return -1;
  }
  PC(db)->tx_open = true;
  return 0;
}

static bool pg_in_tx(struct db *db)
{
  if(PQstatus(PC(db)->conn) != CONNECTION_OK)
    return PC(db)->tx_open;
  return PQtransactionStatus(PC(db)->conn) != PQTRANS_IDLE;
}

static void pg_count_commits(struct db *db)
{
  PC(db)->count_commits = true;
}

static void pg_close(struct db *db)
{
  struct pg_conn *pc = PC(db);

  if(!pc)
    return;
  PQfinish(pc->conn); /* the server rolls back what is open */
  for(size_t i = 0; i < pc->n_prep; i++)
    prepared_free(pc->prep[i]);
  free(pc->prep);
  free(pc);
}

static const struct db_driver pg_driver = {
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .reset = pg_reset,
    .bind_text = pg_bind_text,
    .bind_int64 = pg_bind_int64,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .col_text = pg_col_text,
    .col_int64 = pg_col_int64,
    .col_null = pg_col_null,
    .exec = pg_exec,
    .begin = pg_begin,
    .in_tx = pg_in_tx,
    .count_commits = pg_count_commits,
    .close = pg_close,
};

/* The server's notices (e.g. "extension already exists") are not errors:
 * libpq would print them on stderr. */
static void quiet(void *arg, const char *message)
{
  (void)arg;
  (void)message;
}

struct db *db_open_pg(const char *conninfo, char *msg, size_t len)
{
  struct db *db = db_new(&pg_driver, DB_PG);
  struct pg_conn *pc = calloc(1, sizeof(*pc));

  if(!db || !pc) {
    snprintf(msg, len, "out of memory");
    goto fail;
  }
  pc->conn = PQconnectdb(conninfo);
  if(!pc->conn || PQstatus(pc->conn) != CONNECTION_OK) {
    snprintf(msg, len, "%s", pc->conn ? PQerrorMessage(pc->conn) : "out of memory");
    for(char *nl = msg; (nl = strchr(nl, '\n'));) /* libpq's lines, on one line */
      *nl = nl[1] ? ' ' : 0;
    goto fail;
  }
  PQsetNoticeProcessor(pc->conn, quiet, NULL);
  db->conn = pc;
  return db;
fail:
  if(pc)
    PQfinish(pc->conn);
  free(pc);
  if(db)
    db_free(db);
  return NULL;
}
