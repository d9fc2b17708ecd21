/* db_driver.h - what db.c needs from a database driver (db_sqlite.c,
 * db_pg.c); private to core/db*.c. db.c keeps the statement cache and the
 * error state; a driver prepares, binds, steps and reads. */
#ifndef EXSYNC_DB_DRIVER_H
#define EXSYNC_DB_DRIVER_H

#include "db.h"

struct db_driver {
  /* A driver statement for sql, or NULL with the error set (db_set_error). */
  void *(*prepare)(struct db *db, const char *sql);
  void (*finalize)(struct db *db, void *impl);
  /* Drop results and bindings. */
  void (*reset)(void *impl);
  void (*bind_text)(void *impl, int i, const char *v);
  void (*bind_int64)(void *impl, int i, int64_t v);
  void (*bind_null)(void *impl, int i);
  /* DB_ROW, DB_DONE or -1 (error set); sets db->changes at the end of a write. */
  int (*step)(struct db *db, void *impl);
  const char *(*col_text)(void *impl, int i);
  int64_t (*col_int64)(void *impl, int i);
  bool (*col_null)(void *impl, int i);
  int (*exec)(struct db *db, const char *sql);
  int (*begin)(struct db *db);
  bool (*in_tx)(struct db *db);
  void (*count_commits)(struct db *db);
  void (*close)(struct db *db);
};

struct db_stmt {
  struct db *db;
  char *sql;   /* the cache key; NULL for a nested, uncached statement */
  bool in_use; /* handed out by db_stmt(), not yet given back */
  void *impl;
};

struct db {
  const struct db_driver *drv;
  enum db_dialect dialect;
  void *conn; /* the driver's connection */
  char errmsg[512];
  enum db_err errkind;
  long changes;
  struct db_stmt **cache;
  size_t n_cache, cap_cache;
};

/* A new handle for a driver (NULL when out of memory). */
struct db *db_new(const struct db_driver *drv, enum db_dialect dialect);
/* Free the handle and its cache (the driver has closed conn). */
void db_free(struct db *db);
void db_set_error(struct db *db, enum db_err kind, const char *msg);

#endif
