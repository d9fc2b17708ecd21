/* test_workers.c - the store's side of many workers (store.h, "many
 * workers"): the registry and heartbeats, mailbox leases (one holder, expiry,
 * a dead process of the same host taken over at once) and the
 * per-credential connection slots, each on SQLite and on PostgreSQL (a
 * throwaway cluster, pgtest.c). The last tests race processes for one lease
 * and for a credential's slots: the database, not timing, picks the
 * winners. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exsync/clock.h"
#include "exsync/store.h"
#include "pgtest.h"
#include "testutil.h"

#define N_RACERS 6

static struct pgtest *pg;
static char dir[256], db[300], keyf[300];
static struct exs_store *st;

static void cluster_up(void)
{
  char err[512];

  pg = pgtest_start(NULL, err, sizeof(err));
  ck_assert_msg(pg != NULL, "%s", err);
}

static void cluster_down(void)
{
  pgtest_stop(pg);
  pg = NULL;
}

/* A fresh store: _i 0 SQLite, 1 PostgreSQL. */
static void store_up(int backend)
{
  struct exs_error err;
  char e[512];

  snprintf(dir, sizeof(dir), "/tmp/exsync-workers-XXXXXX");
  ck_assert(mkdtemp(dir) != NULL);
  snprintf(keyf, sizeof(keyf), "%s/store.key", dir);
  if(backend == 0)
    snprintf(db, sizeof(db), "%s/store.db", dir);
  else
    ck_assert_msg(pgtest_createdb(pg, db, sizeof(db), e, sizeof(e)) == 0, "%s", e);
  st = exs_store_open(db, keyf, &err);
  ck_assert_msg(st != NULL, "%s", err.message);
}

static void store_down(void)
{
  char cmd[300];

  exs_store_close(st);
  st = NULL;
  exs_clock_freeze(0);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static void reg(const char *id)
{
  struct exs_worker w;
  struct exs_error err;

  memset(&w, 0, sizeof(w));
  snprintf(w.id, sizeof(w.id), "%s", id);
  snprintf(w.host, sizeof(w.host), "%.*s", (int)strcspn(id, ":"), id);
  w.pid = atol(strchr(id, ':') + 1);
  ck_assert_msg(exs_store_worker_register(st, &w, &err) == 0, "%s", err.message);
}

static int claim(const char *mailbox, const char *worker, int64_t lease_ms)
{
  struct exs_error err;
  int claimed = -1;

  ck_assert_msg(exs_store_lease_claim(st, mailbox, worker, lease_ms, &claimed, &err) == 0, "%s",
                err.message);
  return claimed;
}

static int slot(const char *cred, int limit, const char *worker, int64_t lease_ms)
{
  struct exs_error err;
  int k = -2;

  ck_assert_msg(exs_store_slot_claim(st, cred, limit, worker, lease_ms, &k, &err) == 0, "%s",
                err.message);
  return k;
}

START_TEST(registry_and_leases)
{
  struct exs_error err;
  struct exs_worker *w = NULL;
  struct exs_lease *l = NULL;
  size_t n = 0;
  long renewed = -1;
  int64_t t0 = exs_now_ms();

  store_up(_i);
  reg("hosta:101");
  reg("hostb:202");
  ck_assert_int_eq(exs_store_worker_list(st, &w, &n, &err), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_str_eq(w[0].id, "hosta:101");
  ck_assert_str_eq(w[0].host, "hosta");
  ck_assert_int_eq(w[0].pid, 101);
  ck_assert_int_ge(w[0].heartbeat_ms, t0 - 1000);
  free(w);

  ck_assert_int_eq(claim("alice@contoso.com", "hosta:101", 60000), 1);
  ck_assert_int_eq(claim("alice@contoso.com", "hostb:202", 60000), 0);
  /* case does not make it another mailbox */
  ck_assert_int_eq(claim("Alice@Contoso.com", "hostb:202", 60000), 0);
  ck_assert_int_eq(claim("alice@contoso.com", "hosta:101", 60000), 1); /* already mine */
  ck_assert_int_eq(claim("bob@contoso.com", "hostb:202", 60000), 1);
  ck_assert_int_eq(exs_store_lease_held(st, "alice@contoso.com", "hosta:101", &err), 1);
  ck_assert_int_eq(exs_store_lease_held(st, "alice@contoso.com", "hostb:202", &err), 0);
  ck_assert_int_eq(exs_store_lease_list(st, &l, &n, &err), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_str_eq(l[0].mailbox, "alice@contoso.com");
  ck_assert_str_eq(l[0].worker, "hosta:101");
  free(l);
  ck_assert_int_eq(exs_store_worker_heartbeat(st, "hosta:101", 60000, &renewed, &err), 0);
  ck_assert_int_eq(renewed, 1);

  /* given back: free for the next */
  ck_assert_int_eq(exs_store_lease_release(st, "bob@contoso.com", "hosta:101", &err), 0);
  ck_assert_int_eq(claim("bob@contoso.com", "hosta:101", 60000), 0); /* not hosta's to give */
  ck_assert_int_eq(exs_store_lease_release(st, "bob@contoso.com", "hostb:202", &err), 0);
  ck_assert_int_eq(claim("bob@contoso.com", "hosta:101", 60000), 1);

  /* a clean stop gives everything back */
  ck_assert_int_eq(exs_store_worker_unregister(st, "hosta:101", &err), 0);
  ck_assert_int_eq(exs_store_lease_list(st, &l, &n, &err), 0);
  ck_assert_uint_eq(n, 0);
  free(l);
  ck_assert_int_eq(claim("alice@contoso.com", "hostb:202", 60000), 1);
  ck_assert_int_eq(exs_store_worker_list(st, &w, &n, &err), 0);
  ck_assert_uint_eq(n, 1);
  free(w);
  store_down();
}
END_TEST

START_TEST(lease_expiry)
{
  struct exs_error err;
  time_t t0 = exs_now();
  long renewed = -1;

  store_up(_i);
  exs_clock_freeze(t0);
  reg("hosta:101");
  reg("hostb:202");
  ck_assert_int_eq(claim("alice@contoso.com", "hosta:101", 2000), 1);
  /* renewed by the heartbeat: still hosta's after the first expiry */
  exs_clock_freeze(t0 + 1);
  ck_assert_int_eq(exs_store_worker_heartbeat(st, "hosta:101", 2000, &renewed, &err), 0);
  ck_assert_int_eq(renewed, 1);
  exs_clock_freeze(t0 + 2);
  ck_assert_int_eq(claim("alice@contoso.com", "hostb:202", 2000), 0);
  /* no heartbeat for a lease: hostb takes it over */
  exs_clock_freeze(t0 + 3);
  ck_assert_int_eq(claim("alice@contoso.com", "hostb:202", 2000), 1);
  ck_assert_int_eq(exs_store_lease_held(st, "alice@contoso.com", "hosta:101", &err), 0);
  /* hosta's late heartbeat does not win it back */
  ck_assert_int_eq(exs_store_worker_heartbeat(st, "hosta:101", 2000, &renewed, &err), 0);
  ck_assert_int_eq(renewed, 0);
  ck_assert_int_eq(exs_store_lease_held(st, "alice@contoso.com", "hostb:202", &err), 1);
  store_down();
}
END_TEST

/* The pid of a process that has exited. */
static long dead_pid(void)
{
  pid_t p = fork();

  ck_assert_int_ge(p, 0);
  if(p == 0)
    _exit(0);
  ck_assert_int_eq(waitpid(p, NULL, 0), p);
  return (long)p;
}

START_TEST(dead_owner_on_this_host)
{
  char dead[64], me[64], other[64];
  struct exs_error err;

  store_up(_i);
  snprintf(dead, sizeof(dead), "thishost:%ld", dead_pid());
  snprintf(me, sizeof(me), "thishost:%ld", (long)getpid());
  snprintf(other, sizeof(other), "otherhost:%ld", (long)getpid());
  ck_assert_int_eq(claim("alice@contoso.com", dead, 3600000), 1);
  ck_assert_int_eq(slot("profile:Exchange", 1, dead, 3600000), 0);
  /* from another host, a pid says nothing: wait for the expiry */
  ck_assert_int_eq(claim("alice@contoso.com", other, 3600000), 0);
  ck_assert_int_eq(slot("profile:Exchange", 1, other, 3600000), -1);
  /* on the dead process's host: at once */
  ck_assert_int_eq(claim("alice@contoso.com", me, 3600000), 1);
  ck_assert_int_eq(slot("profile:Exchange", 1, me, 3600000), 0);
  ck_assert_int_eq(exs_store_lease_held(st, "alice@contoso.com", me, &err), 1);
  store_down();
}
END_TEST

START_TEST(connection_slots)
{
  struct exs_error err;
  time_t t0 = exs_now();

  store_up(_i);
  exs_clock_freeze(t0);
  ck_assert_int_eq(slot("profile:Exchange", 2, "a:1", 5000), 0);
  ck_assert_int_eq(slot("profile:Exchange", 2, "b:2", 5000), 1);
  ck_assert_int_eq(slot("profile:Exchange", 2, "c:3", 5000), -1);
  /* another credential has slots of its own */
  ck_assert_int_eq(slot("mailbox:alice@contoso.com", 1, "c:3", 5000), 0);
  /* a slot given back is taken again */
  ck_assert_int_eq(exs_store_slot_release(st, "profile:Exchange", 0, "a:1", &err), 0);
  ck_assert_int_eq(slot("profile:Exchange", 2, "c:3", 5000), 0);
  ck_assert_int_eq(slot("profile:Exchange", 2, "a:1", 5000), -1);
  /* not renewed: free again */
  exs_clock_freeze(t0 + 6);
  ck_assert_int_eq(slot("profile:Exchange", 2, "a:1", 5000), 0);
  ck_assert_int_eq(slot("profile:Exchange", 2, "d:4", 5000), 1);
  /* a lower limit (the profile changed) counts only the first slots */
  ck_assert_int_eq(slot("profile:Exchange", 1, "e:5", 5000), -1);
  store_down();
}
END_TEST

/* N_RACERS processes, each with its own handle, released together: each
 * claims the lease of one mailbox and a slot of a credential with 2. */
START_TEST(racing_processes)
{
  int go[2], res[2];
  pid_t kids[N_RACERS];
  int leases = 0, slots = 0, held[2] = {0, 0};

  store_up(_i);
  exs_store_close(st);
  ck_assert_int_eq(pipe(go), 0);
  ck_assert_int_eq(pipe(res), 0);
  for(int k = 0; k < N_RACERS; k++) {
    kids[k] = fork();
    ck_assert_int_ge(kids[k], 0);
    if(kids[k] == 0) {
      struct exs_error err;
      struct exs_store *s;
      char id[64], c, out[2];
      int claimed = 0, sl = -1;
      close(go[1]);
      close(res[0]);
      snprintf(id, sizeof(id), "racer%d:%ld", k, (long)getpid());
      s = exs_store_open(db, keyf, &err);
      if(!s || read(go[0], &c, 1) != 0) /* EOF: all go */
        _exit(2);
      if(exs_store_lease_claim(s, "alice@contoso.com", id, 60000, &claimed, &err) ||
         exs_store_slot_claim(s, "profile:Exchange", 2, id, 60000, &sl, &err))
        _exit(3);
      out[0] = (char)('0' + claimed);
      out[1] = (char)(sl < 0 ? '-' : '0' + sl);
      if(write(res[1], out, 2) != 2)
        _exit(4);
      exs_store_close(s);
      _exit(0);
    }
  }
  close(res[1]);
  close(go[0]);
  close(go[1]); /* go */
  for(int k = 0; k < N_RACERS; k++) {
    int status = -1;
    ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "racer %d: status %d", k, status);
  }
  for(;;) {
    char out[2];
    ssize_t n = read(res[0], out, 2);
    if(n <= 0)
      break;
    ck_assert_int_eq(n, 2);
    leases += out[0] == '1';
    if(out[1] != '-') {
      slots++;
      held[out[1] - '0']++;
    }
  }
  close(res[0]);
  ck_assert_int_eq(leases, 1);
  ck_assert_int_eq(slots, 2);
  ck_assert_int_eq(held[0], 1);
  ck_assert_int_eq(held[1], 1);
  st = NULL;
  store_down();
}
END_TEST

int main(void)
{
  Suite *s = suite_create("workers");
  TCase *tc = tcase_create("store");

  /* the cluster belongs to the suite's process (the tests run in children) */
  tcase_add_unchecked_fixture(tc, cluster_up, cluster_down);
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, registry_and_leases, 0, 2);
  tcase_add_loop_test(tc, lease_expiry, 0, 2);
  tcase_add_loop_test(tc, dead_owner_on_this_host, 0, 2);
  tcase_add_loop_test(tc, connection_slots, 0, 2);
  tcase_add_loop_test(tc, racing_processes, 0, 2);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
