/* store_workers.c - many workers on one store (store.h, "many workers"):
 * the workers registry with heartbeats, mailbox leases and the
 * per-credential connection slots.
 *
 * A lease or a slot is a row with an owner and an expiry; a row whose expiry
 * has passed is free. Every claim is one conditional write ("set the owner
 * where the row is free or mine"), so two workers can never both succeed:
 * the database decides, not timing. On PostgreSQL the row to claim is
 * selected FOR UPDATE SKIP LOCKED, so a worker never waits behind another
 * one claiming the same row: it moves on as if the row were taken.
 * Rows of workers that died are taken over when they expire, or at once
 * when the owner is a process of this host that is gone (kill(pid, 0)).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exsync/clock.h"
#include "store_sqlite.h"

/* Workers silent this long are dropped from the registry at a register. */
#define FORGET_AFTER_MS (7LL * 24 * 3600 * 1000)

/* ---- statements (db.h) ---- */

static bool is_pg(struct exs_store *st)
{
  return db_dialect(SQ(st)->db) == DB_PG;
}

/* 1 row, 0 done, -1 error */
static int step(struct db_stmt *s)
{
  int rc = db_step(s);
  return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

static long changes(struct exs_store *st)
{
  return db_changes(SQ(st)->db);
}

/* ---- helpers ---- */

/* Run one write statement: sql with text parameters t[0..nt-1] then integer
 * parameters v[0..nv-1]. Returns the rows changed or -1. */
static long write_sql(struct exs_store *st, const char *sql, const char *const *t, int nt,
                      const int64_t *v, int nv, const char *what, struct exs_error *err)
{
  struct db_stmt *s = sq_stmt(st, sql, err);
  long n = -1;

  if(!s)
    return -1;
  for(int i = 0; i < nt; i++)
    sq_bind_text(s, i + 1, t[i]);
  for(int i = 0; i < nv; i++)
    db_bind_int64(s, nt + i + 1, v[i]);
  if(step(s) != 0)
    sq_fail(st, err, what);
  else
    n = changes(st);
  sq_done(st, s);
  return n;
}

/* Whether worker id ("HOST:PID") is a process of my host ("HOST:PID")
 * that is gone. */
static bool owner_dead(const char *owner, const char *me)
{
  const char *oc = strrchr(owner, ':'), *mc = strrchr(me, ':');
  char *end;
  long pid;

  if(!oc || !mc || oc - owner != mc - me || strncmp(owner, me, (size_t)(oc - owner)))
    return false;
  pid = strtol(oc + 1, &end, 10);
  if(*end || pid <= 0)
    return false;
  return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* ---- workers ---- */

int sq_worker_register(struct exs_store *st, const struct exs_worker *w, struct exs_error *err)
{
  int64_t now = exs_now_ms();
  const char *t[] = {w->id, w->host};
  int64_t v[] = {w->pid, now};
  int64_t old[] = {now - FORGET_AFTER_MS};
  bool own = false;
  int result = -1;

  if(sq_tx_begin(st, &own, err))
    return -1;
  if(write_sql(st, "DELETE FROM workers WHERE heartbeat < ?", NULL, 0, old, 1,
               "cannot clean the workers", err) < 0)
    goto out;
  if(write_sql(st,
               "INSERT INTO workers(id, host, pid, started, heartbeat) VALUES(?1, ?2, ?3, ?4, ?4) "
               "ON CONFLICT(id) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
               "started = excluded.started, heartbeat = excluded.heartbeat",
               t, 2, v, 2, "cannot register the worker", err) < 0)
    goto out;
  result = 0;
out:
  if(sq_tx_end(st, own, result, err))
    return -1;
  return result;
}

int sq_worker_heartbeat(struct exs_store *st, const char *id, int64_t lease_ms, long *renewed,
                        struct exs_error *err)
{
  int64_t now = exs_now_ms();
  const char *t[] = {id};
  int64_t v[] = {now, now + lease_ms};
  bool own = false;
  long n = 0;
  int result = -1;

  if(sq_tx_begin(st, &own, err))
    return -1;
  if(write_sql(st, "UPDATE workers SET heartbeat = ?2 WHERE id = ?1", t, 1, v, 1,
               "cannot write the heartbeat", err) < 0)
    goto out;
  /* only what is still ours: an expired lease may have a new owner already */
  n = write_sql(st, "UPDATE leases SET expires = ?3 WHERE worker = ?1 AND expires > ?2", t, 1, v, 2,
                "cannot renew the leases", err);
  if(n < 0)
    goto out;
  if(write_sql(st, "UPDATE slots SET expires = ?3 WHERE worker = ?1 AND expires > ?2", t, 1, v, 2,
               "cannot renew the connection slots", err) < 0)
    goto out;
  result = 0;
out:
  if(sq_tx_end(st, own, result, err))
    return -1;
  if(renewed)
    *renewed = n;
  return result;
}

int sq_worker_unregister(struct exs_store *st, const char *id, struct exs_error *err)
{
  const char *t[] = {id};
  bool own = false;
  int result = -1;

  if(sq_tx_begin(st, &own, err))
    return -1;
  if(write_sql(st, "DELETE FROM leases WHERE worker = ?", t, 1, NULL, 0,
               "cannot release the leases", err) < 0 ||
     write_sql(st, "DELETE FROM slots WHERE worker = ?", t, 1, NULL, 0,
               "cannot release the connection slots", err) < 0 ||
     write_sql(st, "DELETE FROM workers WHERE id = ?", t, 1, NULL, 0,
               "cannot unregister the worker", err) < 0)
    goto out;
  result = 0;
out:
  if(sq_tx_end(st, own, result, err))
    return -1;
  return result;
}

int sq_worker_list(struct exs_store *st, struct exs_worker **out, size_t *n, struct exs_error *err)
{
  struct db_stmt *s = sq_stmt(
      st, "SELECT id, host, pid, started, heartbeat FROM workers ORDER BY host, pid, id", err);
  struct exs_worker *arr = NULL;
  size_t cnt = 0, cap = 0;
  int rc, result = -1;

  *out = NULL;
  *n = 0;
  if(!s)
    return -1;
  while((rc = step(s)) == 1) {
    if(sq_grow((void **)&arr, &cap, cnt, sizeof(*arr))) {
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
      goto out;
    }
    memset(&arr[cnt], 0, sizeof(arr[cnt]));
    sq_col_text(s, 0, arr[cnt].id, sizeof(arr[cnt].id));
    sq_col_text(s, 1, arr[cnt].host, sizeof(arr[cnt].host));
    arr[cnt].pid = (long)db_col_int64(s, 2);
    arr[cnt].started_ms = db_col_int64(s, 3);
    arr[cnt].heartbeat_ms = db_col_int64(s, 4);
    cnt++;
  }
  if(rc < 0) {
    sq_fail(st, err, "cannot list the workers");
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

/* ---- mailbox leases ---- */

/* The owner of the lease of mailbox into owner ("" when none). */
static int lease_owner(struct exs_store *st, const char *mailbox, char *owner, size_t len,
                       struct exs_error *err)
{
  struct db_stmt *s = sq_stmt(st, "SELECT worker FROM leases WHERE mailbox = ?", err);
  int rc;

  owner[0] = '\0';
  if(!s)
    return -1;
  sq_bind_text(s, 1, mailbox);
  rc = step(s);
  if(rc == 1)
    sq_col_text(s, 0, owner, len);
  else if(rc < 0)
    sq_fail(st, err, "cannot read the lease");
  sq_done(st, s);
  return rc < 0 ? -1 : 0;
}

int sq_lease_claim(struct exs_store *st, const char *mailbox, const char *worker, int64_t lease_ms,
                   int *claimed, struct exs_error *err)
{
  int64_t now = exs_now_ms();
  const char *t[] = {mailbox, worker};
  int64_t v[] = {now + lease_ms, now};
  char owner[192];
  long n;

  *claimed = 0;
  /* the row first, free, so that the claim below is always an update */
  if(write_sql(st,
               "INSERT INTO leases(mailbox, worker, expires) VALUES(?, '', 0) "
               "ON CONFLICT(mailbox) DO NOTHING",
               t, 1, NULL, 0, "cannot claim the mailbox", err) < 0)
    return -1;
  n = write_sql(st,
                is_pg(st) ? "UPDATE leases SET worker = ?2, expires = ?3 WHERE mailbox = "
                            "(SELECT mailbox FROM leases WHERE mailbox = ?1 AND "
                            "(expires <= ?4 OR worker = ?2) FOR UPDATE SKIP LOCKED)"
                          : "UPDATE leases SET worker = ?2, expires = ?3 "
                            "WHERE mailbox = ?1 AND (expires <= ?4 OR worker = ?2)",
                t, 2, v, 2, "cannot claim the mailbox", err);
  if(n < 0)
    return -1;
  if(n == 0) {
    /* held: by a dead process of this host, it is ours at once */
    if(lease_owner(st, mailbox, owner, sizeof(owner), err))
      return -1;
    if(owner[0] && owner_dead(owner, worker)) {
      const char *t2[] = {mailbox, worker, owner};
      n = write_sql(
          st, "UPDATE leases SET worker = ?2, expires = ?4 WHERE mailbox = ?1 AND worker = ?3", t2,
          3, v, 1, "cannot claim the mailbox", err);
      if(n < 0)
        return -1;
    }
  }
  *claimed = n > 0;
  return 0;
}

int sq_lease_release(struct exs_store *st, const char *mailbox, const char *worker,
                     struct exs_error *err)
{
  const char *t[] = {mailbox, worker};

  return write_sql(st, "DELETE FROM leases WHERE mailbox = ? AND worker = ?", t, 2, NULL, 0,
                   "cannot release the mailbox", err) < 0
             ? -1
             : 0;
}

int sq_lease_held(struct exs_store *st, const char *mailbox, const char *worker,
                  struct exs_error *err)
{
  struct db_stmt *s =
      sq_stmt(st, "SELECT 1 FROM leases WHERE mailbox = ? AND worker = ? AND expires > ?", err);
  int rc;

  if(!s)
    return -1;
  sq_bind_text(s, 1, mailbox);
  sq_bind_text(s, 2, worker);
  db_bind_int64(s, 3, exs_now_ms());
  rc = step(s);
  if(rc < 0)
    sq_fail(st, err, "cannot read the lease");
  sq_done(st, s);
  return rc;
}

int sq_lease_list(struct exs_store *st, struct exs_lease **out, size_t *n, struct exs_error *err)
{
  struct db_stmt *s = sq_stmt(
      st, "SELECT mailbox, worker, expires FROM leases WHERE expires > ? ORDER BY mailbox", err);
  struct exs_lease *arr = NULL;
  size_t cnt = 0, cap = 0;
  int rc, result = -1;

  *out = NULL;
  *n = 0;
  if(!s)
    return -1;
  db_bind_int64(s, 1, exs_now_ms());
  while((rc = step(s)) == 1) {
    if(sq_grow((void **)&arr, &cap, cnt, sizeof(*arr))) {
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
      goto out;
    }
    memset(&arr[cnt], 0, sizeof(arr[cnt]));
    sq_col_text(s, 0, arr[cnt].mailbox, sizeof(arr[cnt].mailbox));
    sq_col_text(s, 1, arr[cnt].worker, sizeof(arr[cnt].worker));
    arr[cnt].expires_ms = db_col_int64(s, 2);
    cnt++;
  }
  if(rc < 0) {
    sq_fail(st, err, "cannot list the leases");
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

/* ---- connection slots ---- */

/* Try to take slot k of credential; 1 taken, 0 not, -1 error. state: 0 no
 * row, 1 expired, 2 held by owner (a dead process of this host). */
static int slot_take(struct exs_store *st, const char *credential, int k, int state,
                     const char *owner, const char *worker, int64_t now, int64_t until,
                     struct exs_error *err)
{
  const char *t[] = {credential, worker, owner};
  int64_t v[] = {k, until, now};
  long n;

  if(state == 0)
    n = write_sql(st,
                  "INSERT INTO slots(credential, worker, slot, expires) VALUES(?1, ?2, ?3, ?4) "
                  "ON CONFLICT(credential, slot) DO NOTHING",
                  t, 2, v, 2, "cannot claim a connection slot", err);
  else if(state == 1)
    n = write_sql(st,
                  is_pg(st) ? "UPDATE slots SET worker = ?2, expires = ?4 WHERE (credential, slot) "
                              "= (SELECT credential, slot FROM slots WHERE credential = ?1 AND "
                              "slot = ?3 AND expires <= ?5 FOR UPDATE SKIP LOCKED)"
                            : "UPDATE slots SET worker = ?2, expires = ?4 "
                              "WHERE credential = ?1 AND slot = ?3 AND expires <= ?5",
                  t, 2, v, 3, "cannot claim a connection slot", err);
  else
    n = write_sql(st,
                  "UPDATE slots SET worker = ?2, expires = ?5 "
                  "WHERE credential = ?1 AND worker = ?3 AND slot = ?4",
                  t, 3, v, 2, "cannot claim a connection slot", err);
  return n < 0 ? -1 : n > 0;
}

int sq_slot_claim(struct exs_store *st, const char *credential, int limit, const char *worker,
                  int64_t lease_ms, int *slot, struct exs_error *err)
{
  int64_t now = exs_now_ms();
  struct db_stmt *s;
  /* per slot: 0 no row, 1 expired, 2 dead owner, 3 held */
  char *state = NULL, (*owner)[192] = NULL;
  int rc, result = -1;

  *slot = -1;
  if(limit < 1)
    limit = 1;
  state = calloc((size_t)limit, 1);
  owner = calloc((size_t)limit, sizeof(*owner));
  if(!state || !owner) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    goto out;
  }
  s = sq_stmt(st,
              "SELECT slot, worker, expires FROM slots WHERE credential = ? AND slot < ? "
              "ORDER BY slot",
              err);
  if(!s)
    goto out;
  sq_bind_text(s, 1, credential);
  db_bind_int64(s, 2, limit);
  while((rc = step(s)) == 1) {
    int k = (int)db_col_int64(s, 0);
    if(k < 0 || k >= limit)
      continue;
    sq_col_text(s, 1, owner[k], sizeof(owner[k]));
    state[k] = db_col_int64(s, 2) <= now ? 1 : owner_dead(owner[k], worker) ? 2 : 3;
  }
  if(rc < 0) {
    sq_fail(st, err, "cannot read the connection slots");
    sq_done(st, s);
    goto out;
  }
  sq_done(st, s);
  /* another worker may take a free slot between the read and the write:
   * then the write changes nothing and the next one is tried */
  for(int k = 0; k < limit && *slot < 0; k++) {
    if(state[k] == 3)
      continue;
    rc = slot_take(st, credential, k, state[k], owner[k], worker, now, now + lease_ms, err);
    if(rc < 0)
      goto out;
    if(rc)
      *slot = k;
  }
  result = 0;
out:
  free(state);
  free(owner);
  return result;
}

int sq_slot_release(struct exs_store *st, const char *credential, int slot, const char *worker,
                    struct exs_error *err)
{
  const char *t[] = {credential, worker};
  int64_t v[] = {slot};

  return write_sql(st, "DELETE FROM slots WHERE credential = ?1 AND worker = ?2 AND slot = ?3", t,
                   2, v, 1, "cannot release the connection slot", err) < 0
             ? -1
             : 0;
}
