/* store_act.c - the SQLite backend of store.h: ACT items (appointments,
 * contacts, tasks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "exsync/buf.h"
#include "exsync/clock.h"
#include "store_sqlite.h"

/* ---- ACT items ---- */

static const char *const act_kinds[] = {"appointment", "contact", "task"};

const char *exs_act_kind_name(int kind)
{
  return kind >= 0 && kind < 3 ? act_kinds[kind] : "unknown";
}

int exs_act_kind_parse(const char *s)
{
  for(int i = 0; i < 3; i++)
    if(s && !strcmp(s, act_kinds[i]))
      return i;
  return -1;
}

#define ACT_COLS                                                                                   \
  "id, mailbox, kind, exchange_id, change_key, subject, body, start, end, location, status, "      \
  "given_name, surname, company, email, crm_modified, exchange_modified, synced_at, dirty, "       \
  "deleted, conflict"

static void act_read(sqlite3_stmt *s, struct exs_act_item *a)
{
  char kind[16];

  memset(a, 0, sizeof(*a));
  a->id = sqlite3_column_int64(s, 0);
  sq_col_text(s, 1, a->mailbox, sizeof(a->mailbox));
  sq_col_text(s, 2, kind, sizeof(kind));
  a->kind = exs_act_kind_parse(kind);
  sq_col_text(s, 3, a->exchange_id, sizeof(a->exchange_id));
  sq_col_text(s, 4, a->change_key, sizeof(a->change_key));
  sq_col_text(s, 5, a->subject, sizeof(a->subject));
  sq_col_text(s, 6, a->body, sizeof(a->body));
  sq_col_text(s, 7, a->start, sizeof(a->start));
  sq_col_text(s, 8, a->end, sizeof(a->end));
  sq_col_text(s, 9, a->location, sizeof(a->location));
  sq_col_text(s, 10, a->status, sizeof(a->status));
  sq_col_text(s, 11, a->given_name, sizeof(a->given_name));
  sq_col_text(s, 12, a->surname, sizeof(a->surname));
  sq_col_text(s, 13, a->company, sizeof(a->company));
  sq_col_text(s, 14, a->email, sizeof(a->email));
  a->crm_modified = (time_t)sqlite3_column_int64(s, 15);
  a->exchange_modified = (time_t)sqlite3_column_int64(s, 16);
  a->synced_at = (time_t)sqlite3_column_int64(s, 17);
  a->dirty = sqlite3_column_int(s, 18) != 0;
  a->deleted = sqlite3_column_int(s, 19) != 0;
  sq_col_text(s, 20, a->conflict, sizeof(a->conflict));
}

int sq_act_put(struct exs_store *st, struct exs_act_item *a, struct exs_error *err)
{
  sqlite3_stmt *s;
  int rc, result = -1;

  if(a->id)
    s = sq_stmt(st,
                "UPDATE act_items SET mailbox=?1, kind=?2, exchange_id=?3, change_key=?4,"
                " subject=?5, body=?6, start=?7, end=?8, location=?9, status=?10,"
                " given_name=?11, surname=?12, company=?13, email=?14, crm_modified=?15,"
                " exchange_modified=?16, synced_at=?17, dirty=?18, deleted=?19,"
                " conflict=?20 WHERE id=?21",
                err);
  else
    s = sq_stmt(st,
                "INSERT INTO act_items(mailbox, kind, exchange_id, change_key, subject,"
                " body, start, end, location, status, given_name, surname, company, email,"
                " crm_modified, exchange_modified, synced_at, dirty, deleted, conflict)"
                " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,"
                "?19,?20)",
                err);
  if(!s)
    return -1;
  sq_bind_text(s, 1, a->mailbox);
  sqlite3_bind_text(s, 2, exs_act_kind_name(a->kind), -1, SQLITE_STATIC);
  sq_bind_text(s, 3, a->exchange_id);
  sq_bind_text(s, 4, a->change_key);
  sq_bind_text(s, 5, a->subject);
  sq_bind_text(s, 6, a->body);
  sq_bind_text(s, 7, a->start);
  sq_bind_text(s, 8, a->end);
  sq_bind_text(s, 9, a->location);
  sq_bind_text(s, 10, a->status);
  sq_bind_text(s, 11, a->given_name);
  sq_bind_text(s, 12, a->surname);
  sq_bind_text(s, 13, a->company);
  sq_bind_text(s, 14, a->email);
  sqlite3_bind_int64(s, 15, (sqlite3_int64)a->crm_modified);
  sqlite3_bind_int64(s, 16, (sqlite3_int64)a->exchange_modified);
  sqlite3_bind_int64(s, 17, (sqlite3_int64)a->synced_at);
  sqlite3_bind_int(s, 18, a->dirty ? 1 : 0);
  sqlite3_bind_int(s, 19, a->deleted ? 1 : 0);
  sq_bind_text(s, 20, a->conflict);
  if(a->id)
    sqlite3_bind_int64(s, 21, a->id);
  rc = sqlite3_step(s);
  if(rc != SQLITE_DONE) {
    sq_fail(st, err, "cannot write the ACT item");
    goto out;
  }
  if(!a->id)
    a->id = sqlite3_last_insert_rowid(SQ(st)->db);
  result = 0;
out:
  sq_done(st, s);
  return result;
}

static int act_get_one(struct exs_store *st, sqlite3_stmt *s, struct exs_act_item *a,
                       struct exs_error *err)
{
  int rc = sqlite3_step(s), result = -1;

  if(rc == SQLITE_ROW) {
    act_read(s, a);
    result = 0;
  }
  else if(rc == SQLITE_DONE) {
    exs_error_set(err, EXS_CAT_CONFIG, "no such ACT item");
    result = EXS_STORE_NOT_FOUND;
  }
  else
    sq_fail(st, err, "cannot read the ACT item");
  sq_done(st, s);
  return result;
}

int sq_act_find(struct exs_store *st, const char *mailbox, const char *exchange_id,
                struct exs_act_item *a, struct exs_error *err)
{
  sqlite3_stmt *s = sq_stmt(st,
                            "SELECT " ACT_COLS " FROM act_items WHERE mailbox = ? AND "
                            "exchange_id = ?",
                            err);

  if(!s)
    return -1;
  sq_bind_text(s, 1, mailbox);
  sq_bind_text(s, 2, exchange_id);
  return act_get_one(st, s, a, err);
}

int sq_act_get(struct exs_store *st, int64_t id, struct exs_act_item *a, struct exs_error *err)
{
  sqlite3_stmt *s = sq_stmt(st, "SELECT " ACT_COLS " FROM act_items WHERE id = ?", err);

  if(!s)
    return -1;
  sqlite3_bind_int64(s, 1, id);
  return act_get_one(st, s, a, err);
}

int sq_act_list(struct exs_store *st, const char *mailbox, bool dirty_only,
                struct exs_act_item **out, size_t *n, struct exs_error *err)
{
  sqlite3_stmt *s = sq_stmt(st,
                            "SELECT " ACT_COLS " FROM act_items WHERE "
                            "(?1 IS NULL OR mailbox = ?1) AND (?2 = 0 OR dirty = 1) "
                            "ORDER BY id",
                            err);
  struct exs_act_item *arr = NULL;
  size_t cnt = 0, cap = 0;
  int rc, result = -1;

  *out = NULL;
  *n = 0;
  if(!s)
    return -1;
  sq_bind_text(s, 1, mailbox);
  sqlite3_bind_int(s, 2, dirty_only ? 1 : 0);
  while((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if(sq_grow((void **)&arr, &cap, cnt, sizeof(*arr))) {
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
      goto out;
    }
    act_read(s, &arr[cnt++]);
  }
  if(rc != SQLITE_DONE) {
    sq_fail(st, err, "cannot list ACT items");
    goto out;
  }
  *out = arr;
  *n = cnt;
  arr = NULL;
  result = 0;
out:
  free(arr);
  sq_done(st, s);
  return result;
}

int sq_act_delete(struct exs_store *st, int64_t id, struct exs_error *err)
{
  sqlite3_stmt *s = sq_stmt(st, "DELETE FROM act_items WHERE id = ?", err);

  if(!s)
    return -1;
  sqlite3_bind_int64(s, 1, id);
  return sq_write_one(st, s, id, "cannot delete the ACT item", err);
}
