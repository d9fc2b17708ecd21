/* store_results.c - the SQLite backend of store.h: alerts, Test & Enable
 * results, jobs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "exsync/buf.h"
#include "exsync/clock.h"
#include "store_sqlite.h"

/* ---- alerts -------------------------------------------------------------- */

static int alert_insert(struct exs_store *st, struct exs_alert *a, struct exs_error *err)
{
  sqlite3_stmt *s = sq_prep(st, S_ALERT_ADD, err);
  int result = -1;

  if(!s)
    return -1;
  sqlite3_bind_int64(s, 1, (sqlite3_int64)(a->time ? a->time : exs_now()));
  sq_bind_text(s, 2, a->mailbox);
  sq_bind_text(s, 3, a->profile);
  if(exs_severity_parse(exs_severity_name(a->severity)) >= 0)
    sqlite3_bind_text(s, 4, exs_severity_name(a->severity), -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(s, 4); /* refused by the NOT NULL constraint */
  sqlite3_bind_text(s, 5, exs_category_name(a->category), -1, SQLITE_STATIC);
  sqlite3_bind_int(s, 6, a->transient ? 1 : 0);
  sqlite3_bind_text(s, 7, a->message, -1, SQLITE_TRANSIENT);
  sq_bind_text(s, 8, a->hint);
  sq_bind_text(s, 9, a->ews_code);
  if(a->http_status)
    sqlite3_bind_int64(s, 10, a->http_status);
  sq_bind_text(s, 11, a->url);
  if(sqlite3_step(s) != SQLITE_DONE) {
    sq_fail(st, err, "cannot write an alert");
    goto out;
  }
  a->id = sqlite3_last_insert_rowid(SQ(st)->db);
  result = 0;
out:
  sq_done(st, s);
  return result;
}

int sq_alert_add(struct exs_store *st, struct exs_alert *a, struct exs_error *err)
{
  return alert_insert(st, a, err);
}

/* Alerts matching where ("" or "WHERE ..." naming its one parameter ?1)
 * with ?1 = key, the newest limit of them in the order written. */
static int alert_query(struct exs_store *st, const char *where, const char *key, size_t limit,
                       struct exs_alert **out, size_t *n, struct exs_error *err)
{
  sqlite3_stmt *s = NULL;
  struct exs_alert *arr = NULL;
  size_t cnt = 0, cap = 0;
  char sql[1024];
  int rc, result = -1;

  *out = NULL;
  *n = 0;
  snprintf(sql, sizeof(sql),
           "SELECT * FROM (SELECT id, time, mailbox, profile, severity, category, transient, "
           "message, hint, ews_code, http_status, url FROM alerts a %s ORDER BY id DESC "
           "LIMIT ?2) ORDER BY id",
           where);
  if(!(s = sq_stmt(st, sql, err))) {
    sq_fail(st, err, "cannot list alerts");
    goto out;
  }
  if(key)
    sq_bind_text(s, 1, key);
  sqlite3_bind_int64(s, 2, limit ? (sqlite3_int64)limit : -1);
  while((rc = sqlite3_step(s)) == SQLITE_ROW) {
    struct exs_alert *a;
    int sev;
    if(sq_grow((void **)&arr, &cap, cnt, sizeof(*arr))) {
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
      goto out;
    }
    a = &arr[cnt++];
    memset(a, 0, sizeof(*a));
    a->id = sqlite3_column_int64(s, 0);
    a->time = (time_t)sqlite3_column_int64(s, 1);
    sq_col_text(s, 2, a->mailbox, sizeof(a->mailbox));
    sq_col_text(s, 3, a->profile, sizeof(a->profile));
    sev = exs_severity_parse((const char *)sqlite3_column_text(s, 4));
    a->severity = sev < 0 ? EXS_SEV_ERROR : (enum exs_severity)sev;
    a->category = exs_category_from_name((const char *)sqlite3_column_text(s, 5));
    a->transient = sqlite3_column_int(s, 6) != 0;
    sq_col_text(s, 7, a->message, sizeof(a->message));
    sq_col_text(s, 8, a->hint, sizeof(a->hint));
    sq_col_text(s, 9, a->ews_code, sizeof(a->ews_code));
    a->http_status = (long)sqlite3_column_int64(s, 10);
    sq_col_text(s, 11, a->url, sizeof(a->url));
  }
  if(rc != SQLITE_DONE) {
    sq_fail(st, err, "cannot list alerts");
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

int sq_alert_list(struct exs_store *st, const char *mailbox, size_t limit, struct exs_alert **out,
                  size_t *n, struct exs_error *err)
{
  return alert_query(st, mailbox ? "WHERE mailbox = ?1" : "", mailbox, limit, out, n, err);
}

int sq_alert_wall(struct exs_store *st, const char *who, size_t limit, struct exs_alert **out,
                  size_t *n, struct exs_error *err)
{
  /* the mailbox's own; every alert of a profile who owns but the success
   * notes (they are for the mailbox owner); the profile-level alerts of the
   * profiles of mailbox who when the org notifies mailbox owners */
  return alert_query(st,
                     "WHERE a.mailbox = ?1 COLLATE NOCASE"
                     " OR (a.category != 'TEST_OK' AND a.profile IN"
                     "  (SELECT name FROM profiles WHERE owner = ?1 COLLATE NOCASE))"
                     " OR (a.mailbox IS NULL AND (SELECT notify_owners FROM org) = 1"
                     "  AND a.profile IN (SELECT profile FROM mailboxes"
                     "   WHERE address = ?1 COLLATE NOCASE))",
                     who, limit, out, n, err);
}

int sq_alert_profile_wall(struct exs_store *st, const char *profile, size_t limit,
                          struct exs_alert **out, size_t *n, struct exs_error *err)
{
  return alert_query(st, "WHERE a.mailbox IS NULL AND a.profile = ?1", profile, limit, out, n, err);
}

/* ---- Test & Enable results ---------------------------------------------- */

int sq_save_test_result(struct exs_store *st, const struct exs_mailbox *m,
                        const struct exs_alert *alerts, size_t n, struct exs_error *err)
{
  sqlite3_stmt *s;
  struct exs_alert a;
  bool own;
  size_t k;
  int i, result = -1;

  if(sq_tx_begin(st, &own, err))
    return -1;
  s = sq_prep(st, S_MAILBOX_RESULT, err);
  if(!s)
    goto out;
  i = sq_bind_fields(s, exs_mailbox_desc.fields, exs_mailbox_desc.n, m, EXS_FIELD_RESULT, 1);
  sq_bind_text(s, i, m->address);
  if(sqlite3_step(s) != SQLITE_DONE) {
    sq_fail(st, err, "cannot write the test result");
    sq_done(st, s);
    goto out;
  }
  sq_done(st, s);
  if(sqlite3_changes(SQ(st)->db) == 0) {
    exs_error_set(err, EXS_CAT_CONFIG, "no mailbox %s", m->address);
    result = EXS_STORE_NOT_FOUND;
    goto out;
  }
  for(k = 0; k < n; k++) {
    a = alerts[k];
    if(alert_insert(st, &a, err))
      goto out;
  }
  result = 0;
out:
  if(sq_tx_end(st, own, result == 0 ? 0 : -1, err) && result == 0)
    result = -1;
  return result;
}

/* ---- jobs ---------------------------------------------------------------- */

static const char *const job_states[] = {"queued", "running", "done", "failed"};

const char *exs_job_state_name(enum exs_job_state s)
{
  if((int)s < 0 || (int)s > EXS_JOB_FAILED)
    return "unknown";
  return job_states[s];
}

int exs_job_state_parse(const char *s)
{
  int i;

  for(i = 0; s && i <= EXS_JOB_FAILED; i++)
    if(!strcmp(s, job_states[i]))
      return i;
  return -1;
}

int sq_job_create(struct exs_store *st, const char *kind, const char *profile, int total,
                  int64_t *id, struct exs_error *err)
{
  sqlite3_stmt *s = sq_prep(st, S_JOB_CREATE, err);
  int result = -1;

  if(!s)
    return -1;
  sqlite3_bind_text(s, 1, kind, -1, SQLITE_TRANSIENT);
  sq_bind_text(s, 2, profile);
  sqlite3_bind_int(s, 3, total);
  sqlite3_bind_int64(s, 4, (sqlite3_int64)exs_now());
  if(sqlite3_step(s) != SQLITE_DONE) {
    sq_fail(st, err, "cannot create a job");
    goto out;
  }
  *id = sqlite3_last_insert_rowid(SQ(st)->db);
  result = 0;
out:
  sq_done(st, s);
  return result;
}

static int job_changed(struct exs_store *st, int64_t id, struct exs_error *err)
{
  if(sqlite3_changes(SQ(st)->db) == 0) {
    exs_error_set(err, EXS_CAT_CONFIG, "no job %lld", (long long)id);
    return EXS_STORE_NOT_FOUND;
  }
  return 0;
}

int sq_job_progress(struct exs_store *st, int64_t id, int done_items, struct exs_error *err)
{
  sqlite3_stmt *s = sq_prep(st, S_JOB_PROGRESS, err);
  int result = -1;

  if(!s)
    return -1;
  sqlite3_bind_int(s, 1, done_items);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)exs_now());
  sqlite3_bind_int64(s, 3, id);
  if(sqlite3_step(s) != SQLITE_DONE) {
    sq_fail(st, err, "cannot update the job");
    goto out;
  }
  result = job_changed(st, id, err);
out:
  sq_done(st, s);
  return result;
}

int sq_job_finish(struct exs_store *st, int64_t id, bool ok, const char *summary,
                  struct exs_error *err)
{
  sqlite3_stmt *s = sq_prep(st, S_JOB_FINISH, err);
  time_t now = exs_now();
  int result = -1;

  if(!s)
    return -1;
  sqlite3_bind_text(s, 1, ok ? "done" : "failed", -1, SQLITE_STATIC);
  sq_bind_text(s, 2, summary);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)now);
  sqlite3_bind_int64(s, 4, (sqlite3_int64)now);
  sqlite3_bind_int64(s, 5, id);
  if(sqlite3_step(s) != SQLITE_DONE) {
    sq_fail(st, err, "cannot finish the job");
    goto out;
  }
  result = job_changed(st, id, err);
out:
  sq_done(st, s);
  return result;
}

static void read_job(sqlite3_stmt *s, struct exs_job *j)
{
  int state;

  memset(j, 0, sizeof(*j));
  j->id = sqlite3_column_int64(s, 0);
  sq_col_text(s, 1, j->kind, sizeof(j->kind));
  sq_col_text(s, 2, j->profile, sizeof(j->profile));
  state = exs_job_state_parse((const char *)sqlite3_column_text(s, 3));
  j->state = state < 0 ? EXS_JOB_FAILED : (enum exs_job_state)state;
  j->total = sqlite3_column_int(s, 4);
  j->done = sqlite3_column_int(s, 5);
  j->created = (time_t)sqlite3_column_int64(s, 6);
  j->started = (time_t)sqlite3_column_int64(s, 7);
  j->finished = (time_t)sqlite3_column_int64(s, 8);
  sq_col_text(s, 9, j->summary, sizeof(j->summary));
}

int sq_job_get(struct exs_store *st, int64_t id, struct exs_job *job, struct exs_error *err)
{
  sqlite3_stmt *s = sq_prep(st, S_JOB_GET, err);
  int rc, result = -1;

  if(!s)
    return -1;
  sqlite3_bind_int64(s, 1, id);
  rc = sqlite3_step(s);
  if(rc == SQLITE_ROW) {
    read_job(s, job);
    result = 0;
  }
  else if(rc == SQLITE_DONE) {
    exs_error_set(err, EXS_CAT_CONFIG, "no job %lld", (long long)id);
    result = EXS_STORE_NOT_FOUND;
  }
  else
    sq_fail(st, err, "cannot read the job");
  sq_done(st, s);
  return result;
}

int sq_job_list(struct exs_store *st, struct exs_job **out, size_t *n, struct exs_error *err)
{
  sqlite3_stmt *s = NULL;
  struct exs_job *arr = NULL;
  size_t cnt = 0, cap = 0;
  int rc, result = -1;

  *out = NULL;
  *n = 0;
  if(!(s = sq_stmt(st,
                   "SELECT id, kind, profile, state, total, done, created, started, "
                   "finished, summary FROM jobs ORDER BY id",
                   err))) {
    sq_fail(st, err, "cannot list jobs");
    goto out;
  }
  while((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if(sq_grow((void **)&arr, &cap, cnt, sizeof(*arr))) {
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
      goto out;
    }
    read_job(s, &arr[cnt++]);
  }
  if(rc != SQLITE_DONE) {
    sq_fail(st, err, "cannot list jobs");
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
