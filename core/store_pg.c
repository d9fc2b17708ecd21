/* store_pg.c - the PostgreSQL backend's entry, exs_store_pg_open
 * (store_backend.h): the connection string checked, then the same store as
 * SQLite's (store.c over db_pg.c).
 *
 * Passwords reach libpq only by its own means (PGPASSFILE, ~/.pgpass,
 * PGPASSWORD): one written in the connection string would end up in
 * command lines, process listings and shell histories, so it is refused,
 * and the refusal does not repeat it. TLS is libpq's: sslmode=require or
 * verify-full (with sslrootcert=...) in the string pass through as they
 * are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store_sqlite.h"

static bool starts(const char *s, const char *prefix)
{
  return !strncmp(s, prefix, strlen(prefix));
}

bool exs_store_path_is_server(const char *where)
{
  static const char *const prefixes[] = {"postgresql://", "postgres://", "host=", "hostaddr=",
                                         "dbname=",       "user=",       "port=", "service="};

  for(size_t i = 0; where && i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
    if(starts(where, prefixes[i]))
      return true;
  return false;
}

/* Whether the connection string carries a password: "user:secret@" in a
 * URI's authority, or a password= / sslpassword= parameter. */
static bool has_password(const char *conninfo)
{
  const char *p = strstr(conninfo, "://");

  if(strstr(conninfo, "password="))
    return true;
  if(p) {
    size_t auth = strcspn(p + 3, "/?");
    const char *at = NULL;
    for(const char *q = p + 3; q < p + 3 + auth; q++)
      if(*q == '@')
        at = q;
    if(at && memchr(p + 3, ':', (size_t)(at - (p + 3))))
      return true;
  }
  return false;
}

struct exs_store *exs_store_pg_open(const char *conninfo, const char *key_file, int version,
                                    struct exs_error *err)
{
  PQconninfoOption *opts;
  struct db *db;
  char msg[512];

  if(has_password(conninfo)) {
    exs_error_set(err, EXS_CAT_CONFIG,
                  "store: the PostgreSQL connection string holds a password: refused (give it "
                  "through PGPASSFILE, ~/.pgpass or PGPASSWORD, never in --db or EXSYNC_DB)");
    return NULL;
  }
  opts = PQconninfoParse(conninfo, NULL);
  if(!opts) {
    exs_error_set(err, EXS_CAT_CONFIG,
                  "store %s: not a PostgreSQL connection string (postgresql://USER@HOST:PORT/DB "
                  "or key=value parameters)",
                  conninfo);
    return NULL;
  }
  PQconninfoFree(opts);
  db = db_open_pg(conninfo, msg, sizeof(msg));
  if(!db) {
    exs_error_set(err, EXS_CAT_CONFIG, "store %s: cannot connect: %s", conninfo, msg);
    return NULL;
  }
  return sq_with_ops(sq_open(db, conninfo, key_file, version, err));
}
