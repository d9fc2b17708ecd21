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

/* The columns but id ("end" is a reserved word in PostgreSQL: quoted). */
const struct exs_field sq_act_fields[] = {
    FTEXT(exs_act_item, "mailbox", mailbox, 0),
    FENUM(exs_act_item, "kind", kind, act_kinds, 0),
    FTEXT(exs_act_item, "exchange_id", exchange_id, 0),
    FTEXT(exs_act_item, "change_key", change_key, 0),
    FTEXT(exs_act_item, "subject", subject, 0),
    FTEXT(exs_act_item, "body", body, 0),
    FTEXT(exs_act_item, "start", start, 0),
    FTEXT(exs_act_item, "\"end\"", end, 0),
    FTEXT(exs_act_item, "location", location, 0),
    FTEXT(exs_act_item, "status", status, 0),
    FTEXT(exs_act_item, "given_name", given_name, 0),
    FTEXT(exs_act_item, "surname", surname, 0),
    FTEXT(exs_act_item, "company", company, 0),
    FTEXT(exs_act_item, "email", email, 0),
    FSECS(exs_act_item, "crm_modified", crm_modified, 0),
    FSECS(exs_act_item, "exchange_modified", exchange_modified, 0),
    FSECS(exs_act_item, "synced_at", synced_at, 0),
    FBOOL(exs_act_item, "dirty", dirty, 0),
    FBOOL(exs_act_item, "deleted", deleted, 0),
    FTEXT(exs_act_item, "conflict", conflict, 0),
};
const size_t sq_n_act_fields = NF(sq_act_fields);

static char *act_sql(enum stmt_id id)
{
  const struct exs_field *f = sq_act_fields;
  size_t n = sq_n_act_fields;

  switch(id) {
  case S_ACT_INSERT:
    return sq_insert_sql("act_items", f, n, "RETURNING id");
  case S_ACT_UPDATE:
    return sq_update_sql("act_items", f, n, "WHERE id = ?");
  case S_ACT_GET:
    return sq_select_sql("act_items", f, n, "WHERE id = ?");
  case S_ACT_FIND:
    return sq_select_sql("act_items", f, n, "WHERE mailbox = ? AND exchange_id = ?");
  default:
    return sq_select_sql("act_items", f, n,
                         "WHERE (mailbox = ?1 OR ?1 IS NULL) AND (?2 = 0 OR dirty = 1) "
                         "ORDER BY id");
  }
}

static void act_read(struct db_stmt *s, struct exs_act_item *a)
{
  memset(a, 0, sizeof(*a));
  a->id = db_col_int64(s, 0);
  sq_read_fields(s, sq_act_fields, sq_n_act_fields, a, 1); /* no FSTR: never -1 */
}

int sq_act_put(struct exs_store *st, struct exs_act_item *a, struct exs_error *err)
{
  struct db_stmt *s = sq_prep_lazy(st, a->id ? S_ACT_UPDATE : S_ACT_INSERT, act_sql, err);
  int i, rc, result = -1;

  if(!s)
    return -1;
  i = sq_bind_fields(s, sq_act_fields, sq_n_act_fields, a, 0, 1);
  if(a->id)
    db_bind_int64(s, i, a->id);
  rc = db_step(s);
  if(rc != (a->id ? DB_DONE : DB_ROW)) {
    sq_fail(st, err, "cannot write the ACT item");
    goto out;
  }
  if(!a->id)
    a->id = db_col_int64(s, 0);
  result = 0;
out:
  sq_done(st, s);
  return result;
}

static int act_get_one(struct exs_store *st, struct db_stmt *s, struct exs_act_item *a,
                       struct exs_error *err)
{
  int rc = db_step(s), result = -1;

  if(rc == DB_ROW) {
    act_read(s, a);
    result = 0;
  }
  else if(rc == DB_DONE) {
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
  struct db_stmt *s = sq_prep_lazy(st, S_ACT_FIND, act_sql, err);

  if(!s)
    return -1;
  sq_bind_text(s, 1, mailbox);
  sq_bind_text(s, 2, exchange_id);
  return act_get_one(st, s, a, err);
}

int sq_act_get(struct exs_store *st, int64_t id, struct exs_act_item *a, struct exs_error *err)
{
  struct db_stmt *s = sq_prep_lazy(st, S_ACT_GET, act_sql, err);

  if(!s)
    return -1;
  db_bind_int64(s, 1, id);
  return act_get_one(st, s, a, err);
}

int sq_act_list(struct exs_store *st, const char *mailbox, bool dirty_only,
                struct exs_act_item **out, size_t *n, struct exs_error *err)
{
  struct db_stmt *s = sq_prep_lazy(st, S_ACT_LIST, act_sql, err);
  struct exs_act_item *arr = NULL;
  size_t cnt = 0, cap = 0;
  int rc, result = -1;

  *out = NULL;
  *n = 0;
  if(!s)
    return -1;
  sq_bind_text(s, 1, mailbox);
  db_bind_int64(s, 2, dirty_only ? 1 : 0);
  while((rc = db_step(s)) == DB_ROW) {
    if(sq_grow((void **)&arr, &cap, cnt, sizeof(*arr))) {
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
      goto out;
    }
    act_read(s, &arr[cnt++]);
  }
  if(rc != DB_DONE) {
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
  struct db_stmt *s = sq_stmt(st, "DELETE FROM act_items WHERE id = ?", err);

  if(!s)
    return -1;
  db_bind_int64(s, 1, id);
  return sq_write_one(st, s, id, "cannot delete the ACT item", err);
}
