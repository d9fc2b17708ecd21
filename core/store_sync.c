/* store_sync.c - the SQLite backend of store.h: email activities, sync
 * states, and the sync engine's calls (send attempts, correlation, runtime
 * fields; the mailbox leases are in store_workers.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exsync/buf.h"
#include "exsync/clock.h"
#include "store_sqlite.h"

/* ---- activities ---------------------------------------------------------- */

void exs_activity_clear(struct exs_activity *a)
{
  if(!a)
    return;
  free(a->subject);
  free(a->sender);
  free(a->recipients);
  free(a->body);
  memset(a, 0, sizeof(*a));
}

static const char *const directions[] = {"incoming", "outgoing"}; /* enum exs_direction */

const struct exs_field sq_activity_fields[] = {
    FTEXT(exs_activity, "mailbox", mailbox, 0),
    FENUM(exs_activity, "direction", direction, directions, 0),
    FTEXT(exs_activity, "state", state, 0),
    FTEXT(exs_activity, "exchange_item_id", exchange_item_id, 0),
    FTEXT(exs_activity, "internet_message_id", internet_message_id, 0),
    FSTR(exs_activity, "subject", subject, 0),
    FSTR(exs_activity, "sender", sender, 0),
    FSTR(exs_activity, "recipients", recipients, 0),
    FSTR(exs_activity, "body", body, 0),
    FTIME(exs_activity, "created", created, 0),
    FTIME(exs_activity, "received", received, 0),
    FTIME(exs_activity, "sent", sent, 0),
    FTIME(exs_activity, "modified", modified, 0),
};
const size_t sq_n_activity_fields = NF(sq_activity_fields);

static char *activity_sql(enum stmt_id id)
{
  const struct exs_field *f = sq_activity_fields;
  size_t n = sq_n_activity_fields;

  switch(id) {
  case S_ACTIVITY_ADD:
    return sq_insert_sql("activities", f, n, "ON CONFLICT DO NOTHING RETURNING id");
  case S_ACTIVITY_GET:
    return sq_select_sql("activities", f, n, "WHERE id = ?");
  case S_ACTIVITY_LIST_MAILBOX:
    return sq_select_sql("activities", f, n, "WHERE mailbox = ?1 ORDER BY id");
  case S_ACTIVITY_LIST_STATE:
    return sq_select_sql("activities", f, n, "WHERE state = ?1 ORDER BY id");
  case S_ACTIVITY_LIST_BOTH:
    return sq_select_sql("activities", f, n, "WHERE mailbox = ?1 AND state = ?2 ORDER BY id");
  default:
    return sq_select_sql("activities", f, n, "ORDER BY id");
  }
}

int sq_activity_add(struct exs_store *st, struct exs_activity *a, struct exs_error *err)
{
  struct db_stmt *s = sq_prep_lazy(st, S_ACTIVITY_ADD, activity_sql, err);
  struct exs_activity row = *a; /* the caller's strings, borrowed */
  time_t now = exs_now();
  int rc, result = -1;

  if(!s)
    return -1;
  row.direction = a->direction == EXS_DIR_OUTGOING ? EXS_DIR_OUTGOING : EXS_DIR_INCOMING;
  row.created = a->created ? a->created : now;
  row.modified = a->modified ? a->modified : now;
  sq_bind_fields(s, sq_activity_fields, sq_n_activity_fields, &row, 0, 1);
  rc = db_step(s);
  if(rc == DB_ROW) {
    a->id = db_col_int64(s, 0);
    result = 0;
    goto out;
  }
  if(rc < 0 && db_errkind(SQ(st)->db) == DB_E_FOREIGN_KEY) {
    exs_error_set(err, EXS_CAT_CONFIG, "activity: no mailbox %s", a->mailbox);
    goto out;
  }
  if(rc != DB_DONE) {
    sq_fail(st, err, "cannot write the activity");
    goto out;
  }
  /* DO NOTHING: a duplicate. Report the existing row. */
  sq_done(st, s);
  s = sq_prep(st, S_ACTIVITY_FIND, err);
  if(!s)
    return -1;
  sq_bind_text(s, 1, a->mailbox);
  sq_bind_text(s, 2, a->exchange_item_id);
  sq_bind_text(s, 3, a->internet_message_id);
  if(db_step(s) == DB_ROW)
    a->id = db_col_int64(s, 0);
  result = EXS_STORE_DUPLICATE;
out:
  sq_done(st, s);
  return result;
}

/* A row of S_ACTIVITY_GET / _LIST into a; -1 when out of memory. */
static int read_activity(struct db_stmt *s, struct exs_activity *a)
{
  memset(a, 0, sizeof(*a));
  a->id = db_col_int64(s, 0);
  if(sq_read_fields(s, sq_activity_fields, sq_n_activity_fields, a, 1) < 0) {
    exs_activity_clear(a);
    return -1;
  }
  if((int)a->direction < 0)
    a->direction = EXS_DIR_INCOMING;
  return 0;
}

int sq_activity_get(struct exs_store *st, int64_t id, struct exs_activity *a, struct exs_error *err)
{
  struct db_stmt *s = sq_prep_lazy(st, S_ACTIVITY_GET, activity_sql, err);
  int rc, result = -1;

  memset(a, 0, sizeof(*a));
  if(!s)
    return -1;
  db_bind_int64(s, 1, id);
  rc = db_step(s);
  if(rc == DB_ROW) {
    if(read_activity(s, a))
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    else
      result = 0;
  }
  else if(rc == DB_DONE) {
    exs_error_set(err, EXS_CAT_CONFIG, "no activity %lld", (long long)id);
    result = EXS_STORE_NOT_FOUND;
  }
  else
    sq_fail(st, err, "cannot read the activity");
  sq_done(st, s);
  return result;
}

int sq_activity_set_state(struct exs_store *st, int64_t id, const char *state,
                          const char *exchange_item_id, struct exs_error *err)
{
  struct db_stmt *s = sq_prep(st, S_ACTIVITY_STATE, err);
  int result = -1;

  if(!s)
    return -1;
  db_bind_text(s, 1, state);
  sq_bind_text(s, 2, exchange_item_id);
  db_bind_int64(s, 3, (int64_t)exs_now());
  db_bind_int64(s, 4, id);
  if(db_step(s) != DB_DONE) {
    sq_fail(st, err, "cannot update the activity");
    goto out;
  }
  if(db_changes(SQ(st)->db) == 0) {
    exs_error_set(err, EXS_CAT_CONFIG, "no activity %lld", (long long)id);
    result = EXS_STORE_NOT_FOUND;
    goto out;
  }
  result = 0;
out:
  sq_done(st, s);
  return result;
}

/* One statement per filter given: "(?1 IS NULL OR mailbox = ?1)" made
 * SQLite scan every activity (bodies included) for each mailbox, so a sync
 * pass grew with the square of the mailboxes; these use the (mailbox,
 * state, id) and (state, mailbox, id) indexes. */
static const enum stmt_id list_ids[4] = {S_ACTIVITY_LIST, S_ACTIVITY_LIST_MAILBOX,
                                         S_ACTIVITY_LIST_STATE, S_ACTIVITY_LIST_BOTH};
static const char *const count_sql[4] = {
    "SELECT count(*) FROM activities",
    "SELECT count(*) FROM activities WHERE mailbox = ?1",
    "SELECT count(*) FROM activities WHERE state = ?1",
    "SELECT count(*) FROM activities WHERE mailbox = ?1 AND state = ?2",
};

int sq_activity_list(struct exs_store *st, const char *mailbox, const char *state,
                     struct exs_activity **out, size_t *n, struct exs_error *err)
{
  bool has_mailbox = mailbox && *mailbox, has_state = state && *state;
  int arg = 1;
  struct db_stmt *s = NULL;
  struct exs_activity *arr = NULL;
  size_t cnt = 0, cap = 0, k;
  int rc, result = -1;

  *out = NULL;
  *n = 0;
  if(!(s = sq_prep_lazy(st, list_ids[(has_mailbox ? 1 : 0) + (has_state ? 2 : 0)], activity_sql,
                        err))) {
    sq_fail(st, err, "cannot list activities");
    goto out;
  }
  if(has_mailbox)
    sq_bind_text(s, arg++, mailbox);
  if(has_state)
    sq_bind_text(s, arg++, state);
  while((rc = db_step(s)) == DB_ROW) {
    if(sq_grow((void **)&arr, &cap, cnt, sizeof(*arr)) || read_activity(s, &arr[cnt])) {
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
      goto out;
    }
    cnt++;
  }
  if(rc != DB_DONE) {
    sq_fail(st, err, "cannot list activities");
    goto out;
  }
  *out = arr;
  *n = cnt;
  arr = NULL;
  result = 0;
out:
  if(arr) {
    for(k = 0; k < cnt; k++)
      exs_activity_clear(&arr[k]);
    free(arr);
  }
  sq_done(st, s);
  return result;
}

/* ---- sync states --------------------------------------------------------- */

int sq_syncstate_get(struct exs_store *st, const char *mailbox, const char *folder, char **state,
                     struct exs_error *err)
{
  struct db_stmt *s = sq_prep(st, S_SYNC_GET, err);
  int rc, result = -1;

  *state = NULL;
  if(!s)
    return -1;
  sq_bind_text(s, 1, mailbox);
  sq_bind_text(s, 2, folder);
  rc = db_step(s);
  if(rc == DB_ROW) {
    *state = sq_col_dup(s, 0);
    if(*state)
      result = 0;
    else
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
  }
  else if(rc == DB_DONE) {
    exs_error_set(err, EXS_CAT_CONFIG, "no sync state for %s folder %s", mailbox, folder);
    result = EXS_STORE_NOT_FOUND;
  }
  else
    sq_fail(st, err, "cannot read the sync state");
  sq_done(st, s);
  return result;
}

int sq_syncstate_put(struct exs_store *st, const char *mailbox, const char *folder,
                     const char *state, struct exs_error *err)
{
  struct db_stmt *s = sq_prep(st, S_SYNC_PUT, err);
  int rc, result = -1;

  if(!s)
    return -1;
  sq_bind_text(s, 1, mailbox);
  sq_bind_text(s, 2, folder);
  db_bind_text(s, 3, state ? state : "");
  db_bind_int64(s, 4, (int64_t)exs_now());
  rc = db_step(s);
  if(rc < 0 && db_errkind(SQ(st)->db) == DB_E_FOREIGN_KEY) {
    exs_error_set(err, EXS_CAT_CONFIG, "sync state: no mailbox %s", mailbox);
    goto out;
  }
  if(rc != DB_DONE) {
    sq_fail(st, err, "cannot write the sync state");
    goto out;
  }
  result = 0;
out:
  sq_done(st, s);
  return result;
}

/* ---- the sync engine's calls --------------------------------------------- */

/* Step a query whose first column is an id (store_sqlite.h). */
int sq_find_id(struct exs_store *st, struct db_stmt *s, int64_t *id, const char *what,
               struct exs_error *err)
{
  int rc = db_step(s), result = -1;

  if(rc == DB_ROW) {
    if(id)
      *id = db_col_int64(s, 0);
    result = 1;
  }
  else if(rc == DB_DONE)
    result = 0;
  else
    sq_fail(st, err, what);
  sq_done(st, s);
  return result;
}

/* Step a write statement that must change one row (NOT_FOUND otherwise). */
int sq_write_one(struct exs_store *st, struct db_stmt *s, int64_t id, const char *what,
                 struct exs_error *err)
{
  int result = -1;

  if(db_step(s) != DB_DONE) {
    sq_fail(st, err, what);
    goto out;
  }
  if(db_changes(SQ(st)->db) == 0) {
    exs_error_set(err, EXS_CAT_CONFIG, "%s: no row %lld", what, (long long)id);
    result = EXS_STORE_NOT_FOUND;
    goto out;
  }
  result = 0;
out:
  sq_done(st, s);
  return result;
}

int sq_activity_extra_get(struct exs_store *st, int64_t id, struct exs_activity_extra *x,
                          struct exs_error *err)
{
  struct db_stmt *s = sq_stmt(st,
                              "SELECT tracking_token, reason, attempts FROM activities "
                              "WHERE id = ?",
                              err);
  int rc, result = -1;

  memset(x, 0, sizeof(*x));
  if(!s)
    return -1;
  db_bind_int64(s, 1, id);
  rc = db_step(s);
  if(rc == DB_ROW) {
    sq_col_text(s, 0, x->tracking_token, sizeof(x->tracking_token));
    sq_col_text(s, 1, x->reason, sizeof(x->reason));
    x->attempts = (int)db_col_int64(s, 2);
    result = 0;
  }
  else if(rc == DB_DONE) {
    exs_error_set(err, EXS_CAT_CONFIG, "no activity %lld", (long long)id);
    result = EXS_STORE_NOT_FOUND;
  }
  else
    sq_fail(st, err, "cannot read the activity");
  sq_done(st, s);
  return result;
}

int sq_activity_set_token(struct exs_store *st, int64_t id, const char *token,
                          struct exs_error *err)
{
  struct db_stmt *s = sq_stmt(st, "UPDATE activities SET tracking_token = ? WHERE id = ?", err);

  if(!s)
    return -1;
  sq_bind_text(s, 1, token);
  db_bind_int64(s, 2, id);
  return sq_write_one(st, s, id, "cannot set the tracking token", err);
}

int sq_activity_begin_send(struct exs_store *st, int64_t id, struct exs_error *err)
{
  struct db_stmt *s = sq_stmt(st,
                              "UPDATE activities SET state = '" EXS_ACTIVITY_SENDING "', "
                              "attempts = attempts + 1, reason = NULL, modified = ? "
                              "WHERE id = ? AND state = '" EXS_ACTIVITY_PENDING_SEND "'",
                              err);

  if(!s)
    return -1;
  db_bind_int64(s, 1, (int64_t)exs_now());
  db_bind_int64(s, 2, id);
  return sq_write_one(st, s, id, "cannot record the send attempt", err);
}

int sq_activity_set_pending(struct exs_store *st, int64_t id, const char *reason,
                            struct exs_error *err)
{
  struct db_stmt *s = sq_stmt(st,
                              "UPDATE activities SET state = '" EXS_ACTIVITY_PENDING_SEND
                              "', reason = ?, modified = ? WHERE id = ?",
                              err);

  if(!s)
    return -1;
  sq_bind_text(s, 1, reason);
  db_bind_int64(s, 2, (int64_t)exs_now());
  db_bind_int64(s, 3, id);
  return sq_write_one(st, s, id, "cannot update the activity", err);
}

int sq_activity_known(struct exs_store *st, const char *mailbox, const char *item_id,
                      const char *message_id, int64_t *id, struct exs_error *err)
{
  struct db_stmt *s = sq_stmt(st,
                              "SELECT id FROM activities WHERE mailbox = ?1 AND "
                              "((exchange_item_id = ?2 AND ?2 IS NOT NULL) OR "
                              "(internet_message_id = ?3 AND ?3 IS NOT NULL)) LIMIT 1",
                              err);

  if(!s)
    return -1;
  sq_bind_text(s, 1, mailbox);
  sq_bind_text(s, 2, item_id);
  sq_bind_text(s, 3, message_id);
  return sq_find_id(st, s, id, "cannot look up the activity", err);
}

int sq_activity_correlate(struct exs_store *st, const char *subject, const char *address,
                          int64_t *id, struct exs_error *err)
{
  struct db_stmt *s = sq_stmt(st,
                              "SELECT id FROM activities WHERE direction = 'outgoing' AND "
                              "state IN ('" EXS_ACTIVITY_SENT "', '" EXS_ACTIVITY_SENDING
                              "') AND lower(subject) = lower(?1) AND "
                              "',' || replace(lower(recipients), ' ', '') || ',' LIKE "
                              "'%,' || lower(?2) || ',%' ORDER BY id DESC LIMIT 1",
                              err);

  if(!s)
    return -1;
  if(!subject || !*subject || !address || !*address) {
    sq_done(st, s);
    return 0;
  }
  db_bind_text(s, 1, subject);
  db_bind_text(s, 2, address);
  return sq_find_id(st, s, id, "cannot correlate the email", err);
}

long sq_activity_count(struct exs_store *st, const char *mailbox, const char *state,
                       struct exs_error *err)
{
  bool has_mailbox = mailbox && *mailbox, has_state = state && *state;
  struct db_stmt *s = sq_stmt(st, count_sql[(has_mailbox ? 1 : 0) + (has_state ? 2 : 0)], err);
  long n = -1;
  int k = 1;

  if(!s)
    return -1;
  if(has_mailbox)
    sq_bind_text(s, k++, mailbox);
  if(has_state)
    sq_bind_text(s, k++, state);
  if(db_step(s) == DB_ROW)
    n = (long)db_col_int64(s, 0);
  else
    sq_fail(st, err, "cannot count activities");
  sq_done(st, s);
  return n;
}

int sq_mailbox_save_runtime(struct exs_store *st, const struct exs_mailbox *m,
                            struct exs_error *err)
{
  /* the columns the sync engine writes (EXS_FIELD_RUNTIME), by the key */
  struct db_stmt *s = sq_prep(st, S_MAILBOX_RUNTIME, err);
  int i;

  if(!s)
    return -1;
  i = sq_bind_fields(s, exs_mailbox_desc.fields, exs_mailbox_desc.n, m, EXS_FIELD_RUNTIME, 1);
  sq_bind_text(s, i, m->address);
  return sq_write_one(st, s, m->id, "cannot save the mailbox's sync fields", err);
}
