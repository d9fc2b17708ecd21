/* test_workers_kill.c - many workers on one database (issue 16, "Done
 * when"): three `exsync sync` services (hosts w1, w2, w3 as far as the store
 * knows, --lease 2) share one store against the in-process emulator: 50
 * mailboxes of 40 messages and 100 queued emails. w2 dies by SIGKILL at a
 * chosen fault point (where, never when: EXSYNC_FAULT_KILL), holding a
 * mailbox's lease and a connection slot. The test waits, polling the store
 * with a deadline, until everything is done, stops w1 and w3 with SIGTERM,
 * then checks:
 *  - every message tracked once and every email delivered once (the
 *    emulator's recipient inbox);
 *  - the mailbox w2 died on was finished by another worker, after its
 *    lease expired (no worker shares w2's host: no shortcut);
 *  - never two workers on one mailbox at the same time: in the emulator's
 *    journal, which records each request's worker (the User-Agent exsync
 *    sends) in order, the requests of two workers on one mailbox never
 *    interleave;
 *  - `exsync status --format json` listed the three workers while they ran.
 * Cases: PostgreSQL (a throwaway cluster, pgtest.c) killed after a CreateItem
 * left but before its emails were marked Sent, and in the middle of an
 * incoming page; SQLite at the same send point.
 *
 * Without fault points in the build (Release) the suite is skipped (77).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exsync-emulator/emulator.h"
#include "exsync/clock.h"
#include "exsync/store.h"
#include "pgtest.h"
#include "testutil.h"

extern char **environ;

#define ORG_ID "0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define N_MAILBOXES 50
#define N_ITEMS 40
#define N_EMAILS 100 /* two per mailbox */
#define N_WORKERS 3
#define KILLED 1 /* w2 */
#define LOGIN "svc"
#define DOMAIN "workers.example"
#define RECIPIENT "svc@" DOMAIN /* in the emulator, not in the store */
#define DEADLINE_MS 300000

#define PASSWORD "svc-pw"

/* Mailbox i of the world. */
static const char *address(size_t i, char *out, size_t len)
{
  snprintf(out, len, "mb%02zu@%s", i, DOMAIN);
  return out;
}

/* The world as a scenario file: the service user (who may impersonate
 * every mailbox; its own mailbox receives the emails) and N_MAILBOXES of
 * N_ITEMS messages. */
static void write_world(const char *path)
{
  FILE *f = fopen(path, "w");
  char addr[320];

  ck_assert_ptr_nonnull(f);
  fprintf(f,
          "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
          "<scenario xmlns=\"urn:exsync:scenario:1\" name=\"workers\" seed=\"1\">\n"
          "<user login=\"%s\" password=\"%s\" domain=\"WORKERS\" mailbox=\"%s\" "
          "impersonate-all=\"yes\"/>\n",
          LOGIN, PASSWORD, RECIPIENT);
  for(size_t i = 0; i <= N_MAILBOXES; i++) {
    fprintf(f, "<mailbox address=\"%s\" display-name=\"Mailbox %zu\"%s>\n",
            i < N_MAILBOXES ? address(i, addr, sizeof(addr)) : RECIPIENT, i,
            i < N_MAILBOXES ? "" : " owner=\"" LOGIN "\"");
    for(size_t k = 0; k < N_ITEMS; k++)
      fprintf(f, "<message subject=\"Item %zu\">Body of item %zu.</message>\n", k, k);
    fprintf(f, "</mailbox>\n");
  }
  fprintf(f, "</scenario>\n");
  ck_assert_int_eq(fclose(f), 0);
}

/* The cases: backend and where w2 dies. */
static const struct {
  bool pg;
  const char *kill;
} cases[] = {
    {true, "send.created:2"},  /* a CreateItem sent, its emails not yet marked Sent */
    {true, "incoming.page:6"}, /* a page stored, its sync state not yet */
    {false, "send.created:2"},
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static struct pgtest *cluster;
static char cluster_err[512];
static struct emu *emu;
static char dir[256], db[400], keyf[300], exsync_bin[4096], url[256];

static void cluster_start(void)
{
  cluster = pgtest_start(NULL, cluster_err, sizeof(cluster_err));
}

static void cluster_stop(void)
{
  pgtest_stop(cluster);
  cluster = NULL;
}

static void add_mailbox(struct exs_store *st, const char *address)
{
  struct exs_mailbox m;
  struct exs_error err;

  exs_mailbox_defaults(&m);
  snprintf(m.address, sizeof(m.address), "%s", address);
  snprintf(m.name, sizeof(m.name), "%s", address);
  snprintf(m.profile, sizeof(m.profile), "bench");
  m.incoming = EXS_IN_SSYNC;
  m.outgoing = EXS_OUT_SSYNC;
  m.act = EXS_ACT_NONE;
  m.approval = EXS_APPROVAL_APPROVED;
  m.track = EXS_TRACK_ALL;
  m.enabled[EXS_WL_INCOMING] = m.enabled[EXS_WL_OUTGOING] = true;
  m.status[EXS_WL_INCOMING] = m.status[EXS_WL_OUTGOING] = EXS_STATUS_SUCCESS;
  ck_assert_msg(exs_store_mailbox_put(st, &m, &err) == 0, "%s", err.message);
}

/* The emulator with the world, the store with the org, the profile (4
 * connections: fewer than the workers' 12 threads, so the slots in the
 * store are what holds them back), the mailboxes and the queued emails. */
static void world_up(bool pg)
{
  char err[512], bound[64], self[4096], scenario[300], subject[64], addr[320];
  struct exs_store *st;
  struct exs_org org;
  struct exs_profile p;
  struct exs_error e;
  ssize_t n;
  int port;

  n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ck_assert(n > 0);
  self[n] = '\0';
  snprintf(exsync_bin, sizeof(exsync_bin), "%s/../diag/exsync", dirname(self));
  ck_assert_msg(access(exsync_bin, X_OK) == 0, "no %s", exsync_bin);
  snprintf(dir, sizeof(dir), "/tmp/exsync-wkill-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));

  snprintf(scenario, sizeof(scenario), "%s/world.xml", dir);
  write_world(scenario);
  emu = emu_new();
  ck_assert_msg(emu_load_scenario(emu, scenario, err, sizeof(err)) == 0, "%s", err);
  port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  ck_assert_msg(emu_start(emu, err, sizeof(err)) == 0, "%s", err);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/EWS/Exchange.asmx", port);

  if(pg) {
    ck_assert_msg(cluster != NULL,
                  "no PostgreSQL test cluster (install postgresql: scripts/deps.sh --test): %s",
                  cluster_err);
    ck_assert_msg(pgtest_createdb(cluster, db, sizeof(db), err, sizeof(err)) == 0, "%s", err);
  }
  else
    snprintf(db, sizeof(db), "%s/store.db", dir);
  snprintf(keyf, sizeof(keyf), "%s/store.key", dir);
  st = exs_store_open(db, keyf, &e);
  ck_assert_msg(st != NULL, "%s", e.message);
  exs_org_defaults(&org);
  snprintf(org.id, sizeof(org.id), "%s", ORG_ID);
  org.allow_non_ssl = org.allow_credentials_non_secure = org.allow_basic_non_secure = true;
  ck_assert(exs_store_org_put(st, &org, &e) == 0);
  exs_profile_defaults(&p);
  snprintf(p.name, sizeof(p.name), "bench");
  snprintf(p.incoming_url, sizeof(p.incoming_url), "%s", url);
  p.retrieval = EXS_RETRIEVAL_PROFILE;
  p.impersonation = true;
  p.protocol = EXS_AUTH_BASIC;
  p.max_connections = 4;
  snprintf(p.user, sizeof(p.user), "%s", LOGIN);
  snprintf(p.password, sizeof(p.password), "%s", PASSWORD);
  ck_assert_msg(exs_store_profile_put(st, &p, &e) == 0, "%s", e.message);
  for(size_t i = 0; i < N_MAILBOXES; i++)
    add_mailbox(st, address(i, addr, sizeof(addr)));
  for(int k = 0; k < N_EMAILS; k++) {
    struct exs_activity a;
    memset(&a, 0, sizeof(a));
    address((size_t)k % N_MAILBOXES, a.mailbox, sizeof(a.mailbox));
    a.direction = EXS_DIR_OUTGOING;
    snprintf(a.state, sizeof(a.state), "%s", EXS_ACTIVITY_PENDING_SEND);
    snprintf(subject, sizeof(subject), "Worker mail %03d", k);
    a.subject = subject;
    a.recipients = (char *)RECIPIENT;
    a.body = (char *)"once";
    ck_assert_msg(exs_store_activity_add(st, &a, &e) == 0, "%s", e.message);
  }
  exs_store_close(st);
}

static void world_down(void)
{
  char cmd[400];

  emu_stop(emu);
  emu_free(emu);
  emu = NULL;
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if(system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", dir);
}

/* Start worker k (host wK+1), with EXSYNC_FAULT_KILL=kill when not NULL;
 * its stderr goes to DIR/wK.log. It dies with the test process (a failed
 * assertion ends that at once: no worker is left running). */
static pid_t spawn_worker(int k, const char *kill_spec)
{
  char host[16], log[320];
  char *argv[] = {exsync_bin,    "--db",      db,           "--key-file", keyf,
                  "sync",        "--quiet",   "--host",     host,         "--lease",
                  "2",           "--workers", "4",          "--idle",     "1",
                  "--page-size", "10",        "--interval", "3600",       NULL};
  pid_t parent = getpid(), pid;

  snprintf(host, sizeof(host), "w%d", k + 1);
  snprintf(log, sizeof(log), "%s/w%d.log", dir, k + 1);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if(pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600), nul = open("/dev/null", O_RDWR);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if(getppid() != parent)
      _exit(1);
    if(fd < 0 || nul < 0 || dup2(nul, STDIN_FILENO) < 0 || dup2(nul, STDOUT_FILENO) < 0 ||
       dup2(fd, STDERR_FILENO) < 0)
      _exit(1);
    unsetenv("EXSYNC_FAULT_KILL");
    unsetenv("EXSYNC_FAULT_STOP");
    unsetenv("EXSYNC_FAULT_COUNTS");
    if(kill_spec)
      setenv("EXSYNC_FAULT_KILL", kill_spec, 1);
    execv(exsync_bin, argv);
    _exit(127);
  }
  return pid;
}

/* Run `exsync status --format json` into a malloc'd string. */
static char *status_json(void)
{
  char out[320],
      *argv[] = {exsync_bin, "--db", db, "--key-file", keyf, "--format", "json", "status", NULL};
  posix_spawn_file_actions_t fa;
  int status = -1;
  pid_t pid;

  snprintf(out, sizeof(out), "%s/status.json", dir);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ck_assert_int_eq(posix_spawn(&pid, exsync_bin, &fa, NULL, argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exsync status: %d", status);
  return tu_read_file(out, NULL);
}

static long count(struct exs_store *st, const char *mailbox, const char *state)
{
  struct exs_error err;
  long n = exs_store_activity_count(st, mailbox, state, &err);
  ck_assert_msg(n >= 0, "%s", err.message);
  return n;
}

/* Poll the store until every message is tracked and every email is out of
 * the queue (sent); false at the deadline. */
static bool wait_done(void)
{
  int64_t deadline = exs_monotonic_ms() + DEADLINE_MS;

  while(exs_monotonic_ms() < deadline) {
    struct exs_error err;
    struct exs_store *st = exs_store_open(db, keyf, &err);
    bool done;
    ck_assert_msg(st != NULL, "%s", err.message);
    done = count(st, NULL, EXS_ACTIVITY_RECEIVED) >= N_MAILBOXES * N_ITEMS &&
           count(st, NULL, EXS_ACTIVITY_SENT) >= N_EMAILS;
    exs_store_close(st);
    if(done)
      return true;
    poll(NULL, 0, 200);
  }
  return false;
}

/* Poll the store until a worker whose id starts with prefix holds a lease;
 * false at the deadline. */
static bool wait_lease_of(const char *prefix)
{
  int64_t deadline = exs_monotonic_ms() + DEADLINE_MS;

  while(exs_monotonic_ms() < deadline) {
    struct exs_error err;
    struct exs_store *st = exs_store_open(db, keyf, &err);
    struct exs_lease *l = NULL;
    size_t n = 0;
    bool held = false;
    ck_assert_msg(st != NULL, "%s", err.message);
    ck_assert_msg(exs_store_lease_list(st, &l, &n, &err) == 0, "%s", err.message);
    for(size_t i = 0; i < n; i++)
      held = held || !strncmp(l[i].worker, prefix, strlen(prefix));
    free(l);
    exs_store_close(st);
    if(held)
      return true;
    poll(NULL, 0, 20);
  }
  return false;
}

/* Poll until the three workers are registered; false at the deadline. */
static bool wait_registered(void)
{
  int64_t deadline = exs_monotonic_ms() + DEADLINE_MS;

  while(exs_monotonic_ms() < deadline) {
    struct exs_error err;
    struct exs_store *st = exs_store_open(db, keyf, &err);
    struct exs_worker *w = NULL;
    size_t n = 0;
    ck_assert_msg(st != NULL, "%s", err.message);
    ck_assert_msg(exs_store_worker_list(st, &w, &n, &err) == 0, "%s", err.message);
    free(w);
    exs_store_close(st);
    if(n == N_WORKERS)
      return true;
    poll(NULL, 0, 20);
  }
  return false;
}

/* The worker of a journal entry: 1..3 from "exsync/V (worker wK:PID)", 0 other. */
static int worker_of(const struct emu_journal_entry *e)
{
  const char *w = strstr(e->client, "(worker w");
  return w ? atoi(w + strlen("(worker w")) : 0;
}

static const char *mailbox_of(const struct emu_journal_entry *e)
{
  return e->impersonated[0] ? e->impersonated : e->mailbox;
}

/* Per mailbox, the requests of two workers never interleave: walking the
 * journal in order, a mailbox passes from one worker to another and never
 * back while the first is still on it (its first..last requests are one
 * span, and spans do not overlap). The mailbox w2 made its last request
 * on (its death) got one from another worker after it. */
static void check_journal(const char *backend_kill)
{
  size_t n = emu_journal_count(emu), i, k;
  struct emu_journal_entry *e = calloc(n ? n : 1, sizeof(*e));
  char addr[320];
  size_t last_of_killed = 0;
  bool killed_seen = false;

  ck_assert_ptr_nonnull(e);
  n = emu_journal_get(emu, 0, e, n);
  ck_assert_msg(n < 4096, "the journal is full: requests were dropped (%zu)", n);
  for(i = 0; i < n; i++) {
    if(!strcmp(e[i].operation, "admin"))
      continue;
    ck_assert_msg(worker_of(&e[i]) >= 1 && worker_of(&e[i]) <= N_WORKERS,
                  "request %zu (%s) by an unknown client '%s'", i, e[i].operation, e[i].client);
    if(worker_of(&e[i]) == KILLED + 1) {
      last_of_killed = i;
      killed_seen = true;
    }
  }
  ck_assert_msg(killed_seen, "%s: w2 made no request", backend_kill);
  {
    size_t by[N_WORKERS + 1] = {0};
    for(i = 0; i < n; i++)
      by[worker_of(&e[i])]++;
    fprintf(stderr, "workers_kill %s: requests by w1 %zu, w2 %zu, w3 %zu\n", backend_kill, by[1],
            by[2], by[3]);
  }
  for(k = 0; k < N_MAILBOXES; k++) {
    int64_t first[N_WORKERS + 1], last[N_WORKERS + 1];
    address(k, addr, sizeof(addr));
    for(int w = 0; w <= N_WORKERS; w++)
      first[w] = last[w] = -1;
    for(i = 0; i < n; i++) {
      int w = worker_of(&e[i]);
      if(!w || strcasecmp(mailbox_of(&e[i]), addr))
        continue;
      if(first[w] < 0)
        first[w] = (int64_t)i;
      last[w] = (int64_t)i;
    }
    for(int a = 1; a <= N_WORKERS; a++)
      for(int b = a + 1; b <= N_WORKERS; b++) {
        if(first[a] < 0 || first[b] < 0)
          continue;
        ck_assert_msg(last[a] < first[b] || last[b] < first[a],
                      "%s: %s: workers w%d (requests %lld..%lld) and w%d (%lld..%lld) on it "
                      "at the same time",
                      backend_kill, addr, a, (long long)first[a], (long long)last[a], b,
                      (long long)first[b], (long long)last[b]);
      }
  }
  /* the mailbox w2 died on: another worker came after it */
  {
    const char *dead_box = mailbox_of(&e[last_of_killed]);
    bool taken_over = false;
    for(i = last_of_killed + 1; i < n && !taken_over; i++)
      taken_over = worker_of(&e[i]) && worker_of(&e[i]) != KILLED + 1 &&
                   !strcasecmp(mailbox_of(&e[i]), dead_box);
    ck_assert_msg(taken_over, "%s: nobody finished %s after w2 died on it", backend_kill, dead_box);
    fprintf(stderr, "workers_kill %s: w2 died on %s (request %zu of %zu); taken over\n",
            backend_kill, dead_box, last_of_killed, n);
  }
  free(e);
}

START_TEST(three_workers_one_killed)
{
  pid_t pids[N_WORKERS];
  char what[128], addr[320], *status;
  struct exs_store *st;
  struct exs_error err;
  int64_t deadline;
  int wstatus = 0;
  pid_t rc;
  long inbox0;

  snprintf(what, sizeof(what), "%s, w2 killed at %s", cases[_i].pg ? "PostgreSQL" : "SQLite",
           cases[_i].kill);
  world_up(cases[_i].pg);
  inbox0 = emu_folder_count(emu, RECIPIENT, "inbox");
  ck_assert_int_eq(inbox0, N_ITEMS);
  /* w2 first, the others once it holds a mailbox: then it has work under
   * its leases that nobody can take, and reaches its point for sure */
  pids[KILLED] = spawn_worker(KILLED, cases[_i].kill);
  ck_assert_msg(wait_lease_of("w2:"), "%s: w2 never claimed a mailbox (see %s/w2.log)", what, dir);
  for(int k = 0; k < N_WORKERS; k++)
    if(k != KILLED)
      pids[k] = spawn_worker(k, NULL);

  /* w2 dies where the case says (a point it reaches whatever the speed) */
  deadline = exs_monotonic_ms() + DEADLINE_MS;
  while((rc = waitpid(pids[KILLED], &wstatus, WNOHANG)) == 0 && exs_monotonic_ms() < deadline)
    poll(NULL, 0, 50);
  ck_assert_msg(rc == pids[KILLED] && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL,
                "%s: w2 did not die at its fault point (waitpid %d: %s, status %d; see %s/w2.log)",
                what, (int)rc, rc < 0 ? strerror(errno) : "-", wstatus, dir);
  /* the survivors (once registered) and w2, which never unregistered, are
   * listed by exsync status */
  ck_assert_msg(wait_registered(), "%s: w1 and w3 never registered", what);
  status = status_json();
  ck_assert_msg(strstr(status, "\"id\": \"w1:") && strstr(status, "\"id\": \"w2:") &&
                    strstr(status, "\"id\": \"w3:"),
                "%s: status does not list the three workers:\n%.600s", what,
                strstr(status, "\"workers\"") ? strstr(status, "\"workers\"") : status);
  free(status);

  ck_assert_msg(wait_done(), "%s: not done after %d s (see %s/w*.log)", what, DEADLINE_MS / 1000,
                dir);
  for(int k = 0; k < N_WORKERS; k++) {
    if(k == KILLED)
      continue;
    kill(pids[k], SIGTERM);
    ck_assert_int_eq(waitpid(pids[k], &wstatus, 0), pids[k]);
    ck_assert_msg(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "%s: w%d exited %d", what, k + 1,
                  wstatus);
  }

  /* every message tracked once, every email delivered once */
  st = exs_store_open(db, keyf, &err);
  ck_assert_msg(st != NULL, "%s", err.message);
  ck_assert_msg(exs_store_check(st, &err) == 0, "%s", err.message);
  for(size_t k = 0; k < N_MAILBOXES; k++) {
    address(k, addr, sizeof(addr));
    ck_assert_msg(count(st, addr, EXS_ACTIVITY_RECEIVED) == N_ITEMS, "%s: %s has %ld received",
                  what, addr, count(st, addr, EXS_ACTIVITY_RECEIVED));
    ck_assert_msg(count(st, addr, EXS_ACTIVITY_SENT) == N_EMAILS / N_MAILBOXES,
                  "%s: %s has %ld sent", what, addr, count(st, addr, EXS_ACTIVITY_SENT));
  }
  ck_assert_int_eq(count(st, NULL, NULL), N_MAILBOXES * N_ITEMS + N_EMAILS);
  ck_assert_msg(emu_folder_count(emu, RECIPIENT, "inbox") == inbox0 + N_EMAILS,
                "%s: %ld emails delivered, %d queued", what,
                emu_folder_count(emu, RECIPIENT, "inbox") - inbox0, N_EMAILS);
  /* the survivors stopped cleanly: only the dead one is left registered */
  {
    struct exs_worker *w = NULL;
    size_t nw = 0;
    ck_assert_int_eq(exs_store_worker_list(st, &w, &nw, &err), 0);
    ck_assert_uint_eq(nw, 1);
    ck_assert_str_eq(w[0].host, "w2");
    free(w);
  }
  exs_store_close(st);
  check_journal(what);
  world_down();
}
END_TEST

int main(void)
{
  Suite *s = suite_create("workers_kill");
  TCase *tc = tcase_create("workers");

#ifndef EXSYNC_FAULT_POINTS
  fprintf(stderr, "workers_kill: built without fault points (-DEXSYNC_FAULT_POINTS=ON): skipped\n");
  return 77;
#endif
  tcase_add_unchecked_fixture(tc, cluster_start, cluster_stop);
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, three_workers_one_killed, 0, (int)N_CASES);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
