/* store_results.c - the SQLite backend of store.h: alerts, Test & Enable
 * results, jobs. */
#include <stdint.h>
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
  struct db_stmt *s = sq_prep(st, S_ALERT_ADD, err);
  int result = -1;

  if(!s)
    return -1;
  db_bind_int64(s, 1, (int64_t)(a->time ? a->time : exs_now()));
  sq_bind_text(s, 2, a->mailbox);
  sq_bind_text(s, 3, a->profile);
  if(exs_severity_parse(exs_severity_name(a->severity)) >= 0)
    db_bind_text(s, 4, exs_severity_name(a->severity));
  else
    db_bind_null(s, 4); /* refused by the NOT NULL constraint */
  db_bind_text(s, 5, exs_category_name(a->category));
  db_bind_int64(s, 6, a->transient ? 1 : 0);
  db_bind_text(s, 7, a->message);
  sq_bind_text(s, 8, a->hint);
  sq_bind_text(s, 9, a->ews_code);
  if(a->http_status)
    db_bind_int64(s, 10, a->http_status);
  sq_bind_text(s, 11, a->url);
  if(db_step(s) != DB_ROW) {
    sq_fail(st, err, "cannot write an alert");
    goto out;
  }
  a->id = db_col_int64(s, 0);
  result = 0;
out:
  sq_done(st, s);
  return result;
}

int sq_alert_add(struct exs_store *st, struct exs_alert *a, struct exs_error *err)
{
  return alert_insert(st, a, err);
}

/* Alerts matching where ("WHERE ..." naming its one parameter ?1, typed by
 * a comparison with a column before any "?1 IS NULL": PostgreSQL infers a
 * parameter's type where it first meets it) with ?1 = key, the newest
 * limit of them in the order written. (The mailbox columns compare
 * case-insensitively: COLLATE NOCASE in SQLite, citext in PostgreSQL.) */
static int alert_query(struct exs_store *st, const char *where, const char *key, size_t limit,
                       struct exs_alert **out, size_t *n, struct exs_error *err)
{
  struct db_stmt *s = NULL;
  struct exs_alert *arr = NULL;
  size_t cnt = 0, cap = 0;
  char sql[1024];
  int rc, result = -1;

  *out = NULL;
  *n = 0;
  snprintf(sql, sizeof(sql),
           "SELECT * FROM (SELECT id, time, mailbox, profile, severity, category, transient, "
           "message, hint, ews_code, http_status, url FROM alerts a %s ORDER BY id DESC "
           "LIMIT ?2) AS newest ORDER BY id",
           where);
  if(!(s = sq_stmt(st, sql, err))) {
    sq_fail(st, err, "cannot list alerts");
    goto out;
  }
  sq_bind_text(s, 1, key);
  db_bind_int64(s, 2, limit ? (int64_t)limit : INT64_MAX); /* both read a NULL LIMIT apart */
  while((rc = db_step(s)) == DB_ROW) {
    struct exs_alert *a;
    int sev;
    if(sq_grow((void **)&arr, &cap, cnt, sizeof(*arr))) {
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
      goto out;
    }
    a = &arr[cnt++];
    memset(a, 0, sizeof(*a));
    a->id = db_col_int64(s, 0);
    a->time = (time_t)db_col_int64(s, 1);
    sq_col_text(s, 2, a->mailbox, sizeof(a->mailbox));
    sq_col_text(s, 3, a->profile, sizeof(a->profile));
    sev = exs_severity_parse(db_col_text(s, 4));
    a->severity = sev < 0 ? EXS_SEV_ERROR : (enum exs_severity)sev;
    a->category = exs_category_from_name(db_col_text(s, 5));
    a->transient = (int)db_col_int64(s, 6) != 0;
    sq_col_text(s, 7, a->message, sizeof(a->message));
    sq_col_text(s, 8, a->hint, sizeof(a->hint));
    sq_col_text(s, 9, a->ews_code, sizeof(a->ews_code));
    a->http_status = (long)db_col_int64(s, 10);
    sq_col_text(s, 11, a->url, sizeof(a->url));
  }
  if(rc != DB_DONE) {
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
  return alert_query(st, "WHERE (a.mailbox = ?1 OR ?1 IS NULL)", mailbox, limit, out, n, err);
}

int sq_alert_wall(struct exs_store *st, const char *who, size_t limit, struct exs_alert **out,
                  size_t *n, struct exs_error *err)
{
  /* the mailbox's own; every alert of a profile who owns but the success
   * notes (they are for the mailbox owner); the profile-level alerts of the
   * profiles of mailbox who when the org notifies mailbox owners */
  return alert_query(st,
                     "WHERE a.mailbox = ?1"
                     " OR (a.category != 'TEST_OK' AND a.profile IN"
                     "  (SELECT name FROM profiles WHERE lower(owner) = lower(?1)))"
                     " OR (a.mailbox IS NULL AND (SELECT notify_owners FROM org) = 1"
                     "  AND a.profile IN (SELECT profile FROM mailboxes"
                     "   WHERE address = ?1))",
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
  struct db_stmt *s;
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
  if(db_step(s) != DB_DONE) {
    sq_fail(st, err, "cannot write the test result");
    sq_done(st, s);
    goto out;
  }
  sq_done(st, s);
  if(db_changes(SQ(st)->db) == 0) {
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
  struct db_stmt *s = sq_prep(st, S_JOB_CREATE, err);
  int result = -1;

  if(!s)
    return -1;
  db_bind_text(s, 1, kind);
  sq_bind_text(s, 2, profile);
  db_bind_int64(s, 3, total);
  db_bind_int64(s, 4, (int64_t)exs_now());
  if(db_step(s) != DB_ROW) {
    sq_fail(st, err, "cannot create a job");
    goto out;
  }
  *id = db_col_int64(s, 0);
  result = 0;
out:
  sq_done(st, s);
  return result;
}

static int job_changed(struct exs_store *st, int64_t id, struct exs_error *err)
{
  if(db_changes(SQ(st)->db) == 0) {
    exs_error_set(err, EXS_CAT_CONFIG, "no job %lld", (long long)id);
    return EXS_STORE_NOT_FOUND;
  }
  return 0;
}

int sq_job_progress(struct exs_store *st, int64_t id, int done_items, struct exs_error *err)
{
  struct db_stmt *s = sq_prep(st, S_JOB_PROGRESS, err);
  int result = -1;

  if(!s)
    return -1;
  db_bind_int64(s, 1, done_items);
  db_bind_int64(s, 2, (int64_t)exs_now());
  db_bind_int64(s, 3, id);
  if(db_step(s) != DB_DONE) {
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
  struct db_stmt *s = sq_prep(st, S_JOB_FINISH, err);
  time_t now = exs_now();
  int result = -1;

  if(!s)
    return -1;
  db_bind_text(s, 1, ok ? "done" : "failed");
  sq_bind_text(s, 2, summary);
  db_bind_int64(s, 3, (int64_t)now);
  db_bind_int64(s, 4, (int64_t)now);
  db_bind_int64(s, 5, id);
  if(db_step(s) != DB_DONE) {
    sq_fail(st, err, "cannot finish the job");
    goto out;
  }
  result = job_changed(st, id, err);
out:
  sq_done(st, s);
  return result;
}

static void read_job(struct db_stmt *s, struct exs_job *j)
{
  int state;

  memset(j, 0, sizeof(*j));
  j->id = db_col_int64(s, 0);
  sq_col_text(s, 1, j->kind, sizeof(j->kind));
  sq_col_text(s, 2, j->profile, sizeof(j->profile));
  state = exs_job_state_parse(db_col_text(s, 3));
  j->state = state < 0 ? EXS_JOB_FAILED : (enum exs_job_state)state;
  j->total = (int)db_col_int64(s, 4);
  j->done = (int)db_col_int64(s, 5);
  j->created = (time_t)db_col_int64(s, 6);
  j->started = (time_t)db_col_int64(s, 7);
  j->finished = (time_t)db_col_int64(s, 8);
  sq_col_text(s, 9, j->summary, sizeof(j->summary));
}

int sq_job_get(struct exs_store *st, int64_t id, struct exs_job *job, struct exs_error *err)
{
  struct db_stmt *s = sq_prep(st, S_JOB_GET, err);
  int rc, result = -1;

  if(!s)
    return -1;
  db_bind_int64(s, 1, id);
  rc = db_step(s);
  if(rc == DB_ROW) {
    read_job(s, job);
    result = 0;
  }
  else if(rc == DB_DONE) {
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
  struct db_stmt *s = NULL;
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
  while((rc = db_step(s)) == DB_ROW) {
    if(sq_grow((void **)&arr, &cap, cnt, sizeof(*arr))) {
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
      goto out;
    }
    read_job(s, &arr[cnt++]);
  }
  if(rc != DB_DONE) {
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
