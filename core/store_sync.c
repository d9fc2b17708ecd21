/* store_sync.c - the SQLite backend of store.h: email activities, sync
 * states, and the sync engine's calls (send attempts, correlation, the
 * mailbox claim, runtime fields). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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

static const char *direction_name(enum exs_direction d)
{
  return d == EXS_DIR_OUTGOING ? "outgoing" : "incoming";
}

int sq_activity_add(struct exs_store *st, struct exs_activity *a, struct exs_error *err)
{
  sqlite3_stmt *s = sq_prep(st, S_ACTIVITY_ADD, err);
  time_t now = exs_now();
  int rc, result = -1;

  if(!s)
    return -1;
  sq_bind_text(s, 1, a->mailbox);
  sqlite3_bind_text(s, 2, direction_name(a->direction), -1, SQLITE_STATIC);
  sq_bind_text(s, 3, a->state);
  sq_bind_text(s, 4, a->exchange_item_id);
  sq_bind_text(s, 5, a->internet_message_id);
  sq_bind_text(s, 6, a->subject);
  sq_bind_text(s, 7, a->sender);
  sq_bind_text(s, 8, a->recipients);
  sq_bind_text(s, 9, a->body);
  sqlite3_bind_int64(s, 10, (sqlite3_int64)(a->created ? a->created : now));
  sq_bind_time(s, 11, a->received);
  sq_bind_time(s, 12, a->sent);
  sq_bind_time(s, 13, a->modified ? a->modified : now);
  rc = sqlite3_step(s);
  if(rc == SQLITE_ROW) {
    a->id = sqlite3_column_int64(s, 0);
    result = 0;
    goto out;
  }
  if(rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
    exs_error_set(err, EXS_CAT_CONFIG, "activity: no mailbox %s", a->mailbox);
    goto out;
  }
  if(rc != SQLITE_DONE) {
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
  if(sqlite3_step(s) == SQLITE_ROW)
    a->id = sqlite3_column_int64(s, 0);
  result = EXS_STORE_DUPLICATE;
out:
  sq_done(st, s);
  return result;
}

static int read_activity(sqlite3_stmt *s, struct exs_activity *a)
{
  memset(a, 0, sizeof(*a));
  a->id = sqlite3_column_int64(s, 0);
  sq_col_text(s, 1, a->mailbox, sizeof(a->mailbox));
  a->direction = !strcmp((const char *)sqlite3_column_text(s, 2), "outgoing") ? EXS_DIR_OUTGOING
                                                                              : EXS_DIR_INCOMING;
  sq_col_text(s, 3, a->state, sizeof(a->state));
  sq_col_text(s, 4, a->exchange_item_id, sizeof(a->exchange_item_id));
  sq_col_text(s, 5, a->internet_message_id, sizeof(a->internet_message_id));
  a->subject = sq_col_dup(s, 6);
  a->sender = sq_col_dup(s, 7);
  a->recipients = sq_col_dup(s, 8);
  a->body = sq_col_dup(s, 9);
  a->created = (time_t)sqlite3_column_int64(s, 10);
  a->received = (time_t)sqlite3_column_int64(s, 11);
  a->sent = (time_t)sqlite3_column_int64(s, 12);
  a->modified = (time_t)sqlite3_column_int64(s, 13);
  if((sqlite3_column_type(s, 6) != SQLITE_NULL && !a->subject) ||
     (sqlite3_column_type(s, 7) != SQLITE_NULL && !a->sender) ||
     (sqlite3_column_type(s, 8) != SQLITE_NULL && !a->recipients) ||
     (sqlite3_column_type(s, 9) != SQLITE_NULL && !a->body)) {
    exs_activity_clear(a);
    return -1;
  }
  return 0;
}

int sq_activity_get(struct exs_store *st, int64_t id, struct exs_activity *a, struct exs_error *err)
{
  sqlite3_stmt *s = sq_prep(st, S_ACTIVITY_GET, err);
  int rc, result = -1;

  memset(a, 0, sizeof(*a));
  if(!s)
    return -1;
  sqlite3_bind_int64(s, 1, id);
  rc = sqlite3_step(s);
  if(rc == SQLITE_ROW) {
    if(read_activity(s, a))
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    else
      result = 0;
  }
  else if(rc == SQLITE_DONE) {
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
  sqlite3_stmt *s = sq_prep(st, S_ACTIVITY_STATE, err);
  int result = -1;

  if(!s)
    return -1;
  sqlite3_bind_text(s, 1, state, -1, SQLITE_TRANSIENT);
  sq_bind_text(s, 2, exchange_item_id);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)exs_now());
  sqlite3_bind_int64(s, 4, id);
  if(sqlite3_step(s) != SQLITE_DONE) {
    sq_fail(st, err, "cannot update the activity");
    goto out;
  }
  if(sqlite3_changes(SQ(st)->db) == 0) {
    exs_error_set(err, EXS_CAT_CONFIG, "no activity %lld", (long long)id);
    result = EXS_STORE_NOT_FOUND;
    goto out;
  }
  result = 0;
out:
  sq_done(st, s);
  return result;
}

/* One statement per filter present: "?1 IS NULL OR mailbox = ?1" would
 * make SQLite scan every activity (bodies included) for each mailbox, so
 * a sync pass cost grew with the square of the mailboxes; these use the
 * (mailbox, state, id) and (state, mailbox, id) indexes. */
#define ACTIVITY_COLUMNS                                                                           \
  "SELECT id, mailbox, direction, state, exchange_item_id, internet_message_id, subject, "         \
  "sender, recipients, body, created, received, sent, modified FROM activities "
static const char *const list_sql[4] = {
    ACTIVITY_COLUMNS "ORDER BY id",
    ACTIVITY_COLUMNS "WHERE mailbox = ?1 ORDER BY id",
    ACTIVITY_COLUMNS "WHERE state = ?2 ORDER BY id",
    ACTIVITY_COLUMNS "WHERE mailbox = ?1 AND state = ?2 ORDER BY id",
};
static const char *const count_sql[4] = {
    "SELECT count(*) FROM activities",
    "SELECT count(*) FROM activities WHERE mailbox = ?1",
    "SELECT count(*) FROM activities WHERE state = ?2",
    "SELECT count(*) FROM activities WHERE mailbox = ?1 AND state = ?2",
};

int sq_activity_list(struct exs_store *st, const char *mailbox, const char *state,
                     struct exs_activity **out, size_t *n, struct exs_error *err)
{
  sqlite3_stmt *s = NULL;
  struct exs_activity *arr = NULL;
  size_t cnt = 0, cap = 0, k;
  int rc, result = -1;

  *out = NULL;
  *n = 0;
  if(!(s = sq_stmt(st, list_sql[(mailbox && *mailbox ? 1 : 0) + (state && *state ? 2 : 0)], err))) {
    sq_fail(st, err, "cannot list activities");
    goto out;
  }
  sq_bind_text(s, 1, mailbox);
  sq_bind_text(s, 2, state);
  while((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if(sq_grow((void **)&arr, &cap, cnt, sizeof(*arr)) || read_activity(s, &arr[cnt])) {
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
      goto out;
    }
    cnt++;
  }
  if(rc != SQLITE_DONE) {
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
  sqlite3_stmt *s = sq_prep(st, S_SYNC_GET, err);
  int rc, result = -1;

  *state = NULL;
  if(!s)
    return -1;
  sq_bind_text(s, 1, mailbox);
  sq_bind_text(s, 2, folder);
  rc = sqlite3_step(s);
  if(rc == SQLITE_ROW) {
    *state = sq_col_dup(s, 0);
    if(*state)
      result = 0;
    else
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
  }
  else if(rc == SQLITE_DONE) {
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
  sqlite3_stmt *s = sq_prep(st, S_SYNC_PUT, err);
  int rc, result = -1;

  if(!s)
    return -1;
  sq_bind_text(s, 1, mailbox);
  sq_bind_text(s, 2, folder);
  sqlite3_bind_text(s, 3, state ? state : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, 4, (sqlite3_int64)exs_now());
  rc = sqlite3_step(s);
  if(rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
    exs_error_set(err, EXS_CAT_CONFIG, "sync state: no mailbox %s", mailbox);
    goto out;
  }
  if(rc != SQLITE_DONE) {
    sq_fail(st, err, "cannot write the sync state");
    goto out;
  }
  result = 0;
out:
  sq_done(st, s);
  return result;
}

/* ==========================================================================
 * Additions for the sync engine (sync branch). Self-contained: statements
 * are prepared per call (sqlite3 caches the schema, the cost is small next
 * to the EWS round trips they accompany).
 * ========================================================================== */

#include <signal.h>

/* Prepare sql or fail with err. */

/* Step a write statement that must change one row (NOT_FOUND otherwise). */
int sq_write_one(struct exs_store *st, sqlite3_stmt *s, int64_t id, const char *what,
                 struct exs_error *err)
{
  int result = -1;

  if(sqlite3_step(s) != SQLITE_DONE) {
    sq_fail(st, err, what);
    goto out;
  }
  if(sqlite3_changes(SQ(st)->db) == 0) {
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
  sqlite3_stmt *s = sq_stmt(st,
                            "SELECT tracking_token, reason, attempts FROM activities "
                            "WHERE id = ?",
                            err);
  int rc, result = -1;

  memset(x, 0, sizeof(*x));
  if(!s)
    return -1;
  sqlite3_bind_int64(s, 1, id);
  rc = sqlite3_step(s);
  if(rc == SQLITE_ROW) {
    sq_col_text(s, 0, x->tracking_token, sizeof(x->tracking_token));
    sq_col_text(s, 1, x->reason, sizeof(x->reason));
    x->attempts = sqlite3_column_int(s, 2);
    result = 0;
  }
  else if(rc == SQLITE_DONE) {
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
  sqlite3_stmt *s = sq_stmt(st, "UPDATE activities SET tracking_token = ? WHERE id = ?", err);

  if(!s)
    return -1;
  sq_bind_text(s, 1, token);
  sqlite3_bind_int64(s, 2, id);
  return sq_write_one(st, s, id, "cannot set the tracking token", err);
}

int sq_activity_begin_send(struct exs_store *st, int64_t id, struct exs_error *err)
{
  sqlite3_stmt *s = sq_stmt(st,
                            "UPDATE activities SET state = '" EXS_ACTIVITY_SENDING "', "
                            "attempts = attempts + 1, reason = NULL, modified = ? "
                            "WHERE id = ?",
                            err);

  if(!s)
    return -1;
  sqlite3_bind_int64(s, 1, (sqlite3_int64)exs_now());
  sqlite3_bind_int64(s, 2, id);
  return sq_write_one(st, s, id, "cannot record the send attempt", err);
}

int sq_activity_set_pending(struct exs_store *st, int64_t id, const char *reason,
                            struct exs_error *err)
{
  sqlite3_stmt *s = sq_stmt(st,
                            "UPDATE activities SET state = '" EXS_ACTIVITY_PENDING_SEND
                            "', reason = ?, modified = ? WHERE id = ?",
                            err);

  if(!s)
    return -1;
  sq_bind_text(s, 1, reason);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)exs_now());
  sqlite3_bind_int64(s, 3, id);
  return sq_write_one(st, s, id, "cannot update the activity", err);
}

int sq_activity_known(struct exs_store *st, const char *mailbox, const char *item_id,
                      const char *message_id, int64_t *id, struct exs_error *err)
{
  sqlite3_stmt *s = sq_stmt(st,
                            "SELECT id FROM activities WHERE mailbox = ?1 AND "
                            "((?2 IS NOT NULL AND exchange_item_id = ?2) OR "
                            "(?3 IS NOT NULL AND internet_message_id = ?3)) LIMIT 1",
                            err);
  int rc, result = -1;

  if(!s)
    return -1;
  sq_bind_text(s, 1, mailbox);
  sq_bind_text(s, 2, item_id);
  sq_bind_text(s, 3, message_id);
  rc = sqlite3_step(s);
  if(rc == SQLITE_ROW) {
    if(id)
      *id = sqlite3_column_int64(s, 0);
    result = 1;
  }
  else if(rc == SQLITE_DONE)
    result = 0;
  else
    sq_fail(st, err, "cannot look up the activity");
  sq_done(st, s);
  return result;
}

int sq_activity_correlate(struct exs_store *st, const char *subject, const char *address,
                          int64_t *id, struct exs_error *err)
{
  sqlite3_stmt *s = sq_stmt(st,
                            "SELECT id FROM activities WHERE direction = 'outgoing' AND "
                            "state IN ('" EXS_ACTIVITY_SENT "', '" EXS_ACTIVITY_SENDING
                            "') AND subject = ?1 COLLATE NOCASE AND "
                            "',' || replace(lower(recipients), ' ', '') || ',' LIKE "
                            "'%,' || lower(?2) || ',%' ORDER BY id DESC LIMIT 1",
                            err);
  int rc, result = -1;

  if(!s)
    return -1;
  if(!subject || !*subject || !address || !*address) {
    sq_done(st, s);
    return 0;
  }
  sqlite3_bind_text(s, 1, subject, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 2, address, -1, SQLITE_TRANSIENT);
  rc = sqlite3_step(s);
  if(rc == SQLITE_ROW) {
    if(id)
      *id = sqlite3_column_int64(s, 0);
    result = 1;
  }
  else if(rc == SQLITE_DONE)
    result = 0;
  else
    sq_fail(st, err, "cannot correlate the email");
  sq_done(st, s);
  return result;
}

long sq_activity_count(struct exs_store *st, const char *mailbox, const char *state,
                       struct exs_error *err)
{
  sqlite3_stmt *s =
      sq_stmt(st, count_sql[(mailbox && *mailbox ? 1 : 0) + (state && *state ? 2 : 0)], err);
  long n = -1;

  if(!s)
    return -1;
  sq_bind_text(s, 1, mailbox);
  sq_bind_text(s, 2, state);
  if(sqlite3_step(s) == SQLITE_ROW)
    n = (long)sqlite3_column_int64(s, 0);
  else
    sq_fail(st, err, "cannot count activities");
  sq_done(st, s);
  return n;
}

/* Whether host ("HOSTNAME:PID") names a process of this host that is gone. */
static bool sx_holder_dead(const char *holder, const char *me)
{
  const char *hc = strrchr(holder, ':'), *mc = strrchr(me, ':');
  long pid;
  char *end;

  if(!hc || !mc || hc - holder != mc - me || strncmp(holder, me, (size_t)(hc - holder)))
    return false;
  pid = strtol(hc + 1, &end, 10);
  if(*end || pid <= 0)
    return false;
  return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int sq_mailbox_claim(struct exs_store *st, const char *address, const char *host, long lease_s,
                     int *claimed, struct exs_error *err)
{
  sqlite3_stmt *s = NULL;
  char holder[128] = "";
  time_t now = exs_now(), started = 0;
  bool own = false;
  int rc, result = -1;

  *claimed = 0;
  if(sq_tx_begin(st, &own, err))
    return -1;
  s = sq_stmt(st, "SELECT processing_host, last_sync_start FROM mailboxes WHERE address = ?", err);
  if(!s)
    goto out;
  sq_bind_text(s, 1, address);
  rc = sqlite3_step(s);
  if(rc == SQLITE_DONE) {
    exs_error_set(err, EXS_CAT_CONFIG, "no mailbox %s", address);
    result = EXS_STORE_NOT_FOUND;
    goto out;
  }
  if(rc != SQLITE_ROW) {
    sq_fail(st, err, "cannot read the mailbox");
    goto out;
  }
  sq_col_text(s, 0, holder, sizeof(holder));
  started = (time_t)sqlite3_column_int64(s, 1);
  sq_done(st, s);
  s = NULL;
  if(holder[0] && strcmp(holder, host) && started + lease_s > now &&
     !sx_holder_dead(holder, host)) {
    result = 0; /* someone else is on it */
    goto out;
  }
  s = sq_stmt(st,
              "UPDATE mailboxes SET processing_host = ?, last_sync_start = ? "
              "WHERE address = ?",
              err);
  if(!s)
    goto out;
  sq_bind_text(s, 1, host);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)now);
  sq_bind_text(s, 3, address);
  if(sqlite3_step(s) != SQLITE_DONE) {
    sq_fail(st, err, "cannot claim the mailbox");
    goto out;
  }
  *claimed = 1;
  result = 0;
out:
  sq_done(st, s);
  if(sq_tx_end(st, own, result < 0 ? -1 : 0, err))
    return -1;
  return result;
}

int sq_mailbox_save_runtime(struct exs_store *st, const struct exs_mailbox *m,
                            struct exs_error *err)
{
  sqlite3_stmt *s = sq_stmt(
      st,
      "UPDATE mailboxes SET postponed_until = ?1, last_sync_start = ?2, last_sync_success = ?3,"
      " items_processed = ?4, items_failed = ?5, processing_host = ?6,"
      " transient_failures = ?7, retry_at = ?8, last_error_code = ?9, last_error = ?10,"
      " last_error_count = ?11, last_error_time = ?12, status_incoming = ?13,"
      " status_outgoing = ?14, status_act = ?15, enabled_incoming = ?16,"
      " enabled_outgoing = ?17, enabled_act = ?18 WHERE address = ?19",
      err);

  if(!s)
    return -1;
  sq_bind_time(s, 1, m->postponed_until);
  sq_bind_time(s, 2, m->last_sync_start);
  sq_bind_time(s, 3, m->last_sync_success);
  sqlite3_bind_int(s, 4, m->items_processed);
  sqlite3_bind_int(s, 5, m->items_failed);
  sq_bind_text(s, 6, m->processing_host);
  sqlite3_bind_int(s, 7, m->transient_failures);
  sq_bind_time(s, 8, m->retry_at);
  sq_bind_text(s, 9, m->last_error_code);
  sq_bind_text(s, 10, m->last_error);
  sqlite3_bind_int(s, 11, m->last_error_count);
  sq_bind_time(s, 12, m->last_error_time);
  for(int w = 0; w < EXS_WL_COUNT; w++) {
    sqlite3_bind_int(s, 13 + w, m->status[w]);
    sqlite3_bind_int(s, 16 + w, m->enabled[w] ? 1 : 0);
  }
  sq_bind_text(s, 19, m->address);
  return sq_write_one(st, s, m->id, "cannot save the mailbox's sync fields", err);
}
