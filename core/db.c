/* db.c - db.h over a driver: the statement cache (by SQL text, per
 * connection) and the error state; the rest forwards to db_sqlite.c or
 * db_pg.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_driver.h"

struct db *db_new(const struct db_driver *drv, enum db_dialect dialect)
{
  struct db *db = calloc(1, sizeof(*db));

  if(db) {
    db->drv = drv;
    db->dialect = dialect;
  }
  return db;
}

void db_free(struct db *db)
{
  free(db->cache);
  free(db);
}

void db_set_error(struct db *db, enum db_err kind, const char *msg)
{
  size_t n;

  db->errkind = kind;
  snprintf(db->errmsg, sizeof(db->errmsg), "%s", msg ? msg : "unknown error");
  n = strlen(db->errmsg); /* drivers' messages may end with a newline */
  while(n && (db->errmsg[n - 1] == '\n' || db->errmsg[n - 1] == ' '))
    db->errmsg[--n] = 0;
}

void db_close(struct db *db)
{
  size_t i;

  if(!db)
    return;
  for(i = 0; i < db->n_cache; i++) {
    db->drv->finalize(db, db->cache[i]->impl);
    free(db->cache[i]->sql);
    free(db->cache[i]);
  }
  db->drv->close(db);
  db_free(db);
}

enum db_dialect db_dialect(const struct db *db)
{
  return db->dialect;
}

struct db_stmt *db_stmt(struct db *db, const char *sql)
{
  struct db_stmt *c = NULL, *s;
  size_t i;

  for(i = 0; i < db->n_cache && !c; i++)
    if(db->cache[i]->sql == sql || !strcmp(db->cache[i]->sql, sql))
      c = db->cache[i];
  if(c && !c->in_use) {
    c->in_use = true;
    return c;
  }
  if(!c && db->n_cache == db->cap_cache) {
    size_t cap = db->cap_cache ? 2 * db->cap_cache : 64;
    struct db_stmt **more = realloc(db->cache, cap * sizeof(*more));
    if(!more) {
      db_set_error(db, DB_E_OTHER, "out of memory");
      return NULL;
    }
    db->cache = more;
    db->cap_cache = cap;
  }
  s = calloc(1, sizeof(*s));
  if(!s || (!c && !(s->sql = strdup(sql)))) {
    free(s);
    db_set_error(db, DB_E_OTHER, "out of memory");
    return NULL;
  }
  s->db = db;
  s->in_use = true;
  s->impl = db->drv->prepare(db, sql);
  if(!s->impl) {
    free(s->sql);
    free(s);
    return NULL;
  }
  if(!c) /* a nested use of a cached statement is not cached */
    db->cache[db->n_cache++] = s;
  return s;
}

void db_done(struct db_stmt *s)
{
  if(!s)
    return;
  if(s->sql) {
    s->db->drv->reset(s->impl);
    s->in_use = false;
    return;
  }
  s->db->drv->finalize(s->db, s->impl);
  free(s);
}

void db_bind_text(struct db_stmt *s, int i, const char *v)
{
  if(v)
    s->db->drv->bind_text(s->impl, i, v);
  else
    s->db->drv->bind_null(s->impl, i);
}

void db_bind_int64(struct db_stmt *s, int i, int64_t v)
{
  s->db->drv->bind_int64(s->impl, i, v);
}

void db_bind_null(struct db_stmt *s, int i)
{
  s->db->drv->bind_null(s->impl, i);
}

int db_step(struct db_stmt *s)
{
  return s->db->drv->step(s->db, s->impl);
}

const char *db_col_text(struct db_stmt *s, int i)
{
  return s->db->drv->col_text(s->impl, i);
}

int64_t db_col_int64(struct db_stmt *s, int i)
{
  return s->db->drv->col_int64(s->impl, i);
}

bool db_col_null(struct db_stmt *s, int i)
{
  return s->db->drv->col_null(s->impl, i);
}

long db_changes(struct db *db)
{
  return db->changes;
}

int db_exec(struct db *db, const char *sql)
{
  return db->drv->exec(db, sql);
}

int db_begin(struct db *db)
{
  return db->drv->begin(db);
}

bool db_in_tx(struct db *db)
{
  return db->drv->in_tx(db);
}

void db_count_commits(struct db *db)
{
  db->drv->count_commits(db);
}

const char *db_errmsg(const struct db *db)
{
  return db->errmsg;
}

enum db_err db_errkind(const struct db *db)
{
  return db->errkind;
}
