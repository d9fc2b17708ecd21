/* test_sync_kill.c - durability (SPEC.md 5): `exsync sync --once` is run as a
 * child process against the in-process emulator and killed with SIGKILL at
 * random (seeded) moments, then run again, until a run finishes. Then every
 * message must be tracked exactly once (incoming, 2,000 messages) and every
 * email delivered exactly once (outgoing, 500 emails), whatever the kills
 * interrupted: a page's transaction, a send whose answer never arrived, the
 * commit of a sent state.
 *
 * EXSYNC_KILL_SEED overrides the seed to replay a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exsync-emulator/emulator.h"
#include "exsync/clock.h"
#include "exsync/ews.h"
#include "exsync/store.h"
#include "testutil.h"

extern char **environ;

#define ORG_ID "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10"

static struct emu *emu;
static int port;
static char url[256], connect_to[128];
static const char *ct[1];
static char dir[256], db[300], keyf[300], exsync_bin[4096];
static struct exs_store *st;
static unsigned seed, seed0;

static void add_mailbox(const char *address)
{
  struct exs_mailbox m;
  struct exs_error err;

  exs_mailbox_defaults(&m);
  snprintf(m.address, sizeof(m.address), "%s", address);
  snprintf(m.name, sizeof(m.name), "%s", address);
  snprintf(m.profile, sizeof(m.profile), "Exchange");
  m.incoming = EXS_IN_SSYNC;
  m.outgoing = EXS_OUT_SSYNC;
  m.act = EXS_ACT_NONE;
  m.approval = EXS_APPROVAL_APPROVED;
  m.track = EXS_TRACK_ALL;
  m.enabled[EXS_WL_INCOMING] = m.enabled[EXS_WL_OUTGOING] = true;
  m.status[EXS_WL_INCOMING] = m.status[EXS_WL_OUTGOING] = EXS_STATUS_SUCCESS;
  ck_assert_msg(exs_store_mailbox_put(st, &m, &err) == 0, "%s", err.message);
}

static void world_up(void)
{
  char err[512], bound[64], self[4096];
  struct exs_org org;
  struct exs_profile p;
  struct exs_error e;
  ssize_t n;
  const char *env_seed = getenv("EXSYNC_KILL_SEED");

  seed = env_seed && *env_seed ? (unsigned)strtoul(env_seed, NULL, 10) : 20261129u;
  seed0 = seed;
  n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ck_assert(n > 0);
  self[n] = '\0';
  snprintf(exsync_bin, sizeof(exsync_bin), "%s/../diag/exsync", dirname(self));
  ck_assert_msg(access(exsync_bin, X_OK) == 0, "no %s", exsync_bin);

  emu = emu_new();
  ck_assert_msg(emu_load_scenario(emu, tu_path("fixtures/scenarios/contoso.xml"), err,
                                  sizeof(err)) == 0, "%s", err);
  port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  ck_assert_msg(emu_start(emu, err, sizeof(err)) == 0, "%s", err);
  snprintf(url, sizeof(url), "http://mail.contoso.com:%d/EWS/Exchange.asmx", port);
  snprintf(connect_to, sizeof(connect_to), "mail.contoso.com:%d:127.0.0.1:%d", port, port);
  ct[0] = connect_to;

  snprintf(dir, sizeof(dir), "/tmp/exsync-kill-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(db, sizeof(db), "%s/k.db", dir);
  snprintf(keyf, sizeof(keyf), "%s/k.key", dir);
  st = exs_store_open(db, keyf, &e);
  ck_assert_msg(st != NULL, "%s", e.message);
  exs_org_defaults(&org);
  snprintf(org.id, sizeof(org.id), "%s", ORG_ID);
  org.allow_non_ssl = org.allow_credentials_non_secure = org.allow_basic_non_secure = true;
  ck_assert(exs_store_org_put(st, &org, &e) == 0);
  exs_profile_defaults(&p);
  snprintf(p.name, sizeof(p.name), "Exchange");
  snprintf(p.incoming_url, sizeof(p.incoming_url), "%s", url);
  p.retrieval = EXS_RETRIEVAL_PROFILE;
  p.impersonation = true;
  p.protocol = EXS_AUTH_BASIC;
  snprintf(p.user, sizeof(p.user), "CONTOSO\\svc-crm");
  snprintf(p.password, sizeof(p.password), "svc-pw");
  ck_assert_msg(exs_store_profile_put(st, &p, &e) == 0, "%s", e.message);
  add_mailbox("alice@contoso.com");
  add_mailbox("bob@contoso.com");
}

static void world_down(void)
{
  char cmd[400];

  exs_store_close(st);
  emu_stop(emu);
  emu_free(emu);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if(system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", dir);
}

/* Run `exsync sync --once` for mailbox; kill it after delay_ms (when > 0
 * and it is still running). Returns the exit status, or -SIGKILL. */
static int run_child(const char *mailbox, long delay_ms)
{
  char *argv[] = {exsync_bin, "--db", db, "--key-file", keyf, "--connect-to", connect_to,
                  "sync", "--once", "--all", "--quiet", "--mailbox", (char *)mailbox,
                  "--page-size", "100", "--send-batch", "8", "--retry-interval", "1", NULL};
  posix_spawn_file_actions_t fa;
  pid_t pid;
  int status = 0;
  int64_t deadline = exs_monotonic_ms() + delay_ms;

  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  ck_assert_int_eq(posix_spawn(&pid, exsync_bin, &fa, NULL, argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  if(delay_ms > 0) {
    /* the kill point: a seeded random moment of the child's run */
    while(exs_monotonic_ms() < deadline) {
      pid_t w = waitpid(pid, &status, WNOHANG);
      if(w == pid)
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      exs_sleep_ms(1);
    }
    kill(pid, SIGKILL);
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

/* Run with kills until a run completes; returns the number of kills. */
static int run_until_done(const char *mailbox, long max_delay_ms, int max_runs)
{
  int kills = 0, runs = 0, rc;

  for(;;) {
    /* the window grows slowly so that a run can finish however long a
     * complete one takes on this machine */
    long window = max_delay_ms + (long)runs * max_delay_ms / 10;
    long delay = 5 + (long)(rand_r(&seed) % (unsigned)window);
    ck_assert_msg(++runs <= max_runs, "no run completed in %d runs (EXSYNC_KILL_SEED=%u)", max_runs, seed0);
    rc = run_child(mailbox, delay);
    if(rc == -SIGKILL) {
      kills++;
      continue;
    }
    if(rc == 0)
      return kills;
    /* a run that failed on its own (a mailbox error): run again */
  }
}

static long count(const char *mailbox, const char *state)
{
  struct exs_error err;
  long n = exs_store_activity_count(st, mailbox, state, &err);
  ck_assert_msg(n >= 0, "%s", err.message);
  return n;
}

START_TEST(incoming_2000_killed_at_random)
{
  struct exs_activity *a = NULL;
  size_t n = 0, i;
  struct exs_error err;
  char subject[64], e[256];
  char *seen;
  int kills, k;

  for(i = 0; i < 2000; i++) {
    snprintf(subject, sizeof(subject), "Kill test %04zu", i);
    ck_assert(emu_deliver_message(emu, "c@fabrikam.com", "alice@contoso.com", subject, "x", e,
                                  sizeof(e)) == 0);
  }
  kills = run_until_done("alice@contoso.com", 250, 400);
  fprintf(stderr, "incoming: %d kills (EXSYNC_KILL_SEED=%u)\n", kills, seed0);
  ck_assert_int_ge(kills, 3);
  /* one more complete run finds nothing new */
  ck_assert_int_eq(run_child("alice@contoso.com", 0), 0);
  ck_assert_int_eq(count("alice@contoso.com", NULL), 2002);
  ck_assert(exs_store_activity_list(st, "alice@contoso.com", NULL, &a, &n, &err) == 0);
  seen = calloc(2000, 1);
  for(i = 0; i < n; i++) {
    if(a[i].subject && sscanf(a[i].subject, "Kill test %d", &k) == 1) {
      ck_assert_msg(k >= 0 && k < 2000 && !seen[k], "message %d tracked twice", k);
      seen[k] = 1;
    }
    exs_activity_clear(&a[i]);
  }
  free(a);
  for(k = 0; k < 2000; k++)
    ck_assert_msg(seen[k], "message %d lost", k);
  free(seen);
}
END_TEST

/* Subjects in bob's inbox starting with "Kill mail ": per index counts. */
static void delivered(int *per, int n)
{
  struct exs_http_options ho;
  struct exs_ews_options eo;
  struct exs_http *h;
  struct exs_ews *ews;
  struct exs_ews_find_item_req req;
  struct exs_ews_item_page page;
  static const char *const fields[] = {"item:Subject"};
  struct exs_error err;
  int offset = 0, k;

  memset(&ho, 0, sizeof(ho));
  ho.connect_to = ct;
  ho.n_connect_to = 1;
  ho.auth = EXS_AUTH_BASIC;
  ho.user = "CONTOSO\\svc-crm";
  ho.password = "svc-pw";
  ho.allow_non_ssl = ho.allow_basic_non_secure = ho.allow_credentials_non_secure = true;
  h = exs_http_new(&ho);
  memset(&eo, 0, sizeof(eo));
  eo.url = url;
  eo.ctx.impersonate = "bob@contoso.com";
  ews = exs_ews_new(h, &eo);
  for(;;) {
    memset(&req, 0, sizeof(req));
    req.parent.distinguished = "inbox";
    req.fields = fields;
    req.n_fields = 1;
    req.max_entries = 1000;
    req.offset = offset;
    memset(&page, 0, sizeof(page));
    ck_assert_msg(exs_ews_find_item(ews, &req, &page, &err) == 0, "%s", err.message);
    for(size_t i = 0; i < page.n; i++)
      if(sscanf(page.items[i].subject, "Kill mail %d", &k) == 1 && k >= 0 && k < n)
        per[k]++;
    offset += (int)page.n;
    if(page.includes_last || page.n == 0) {
      exs_ews_item_page_free(&page);
      break;
    }
    exs_ews_item_page_free(&page);
  }
  exs_ews_free(ews);
  exs_http_free(h);
}

START_TEST(outgoing_500_killed_at_random)
{
  struct exs_error err;
  struct exs_activity a;
  char subject[64];
  int per[500], kills, k;

  /* bob only sends here; alice receives nothing new */
  for(k = 0; k < 500; k++) {
    memset(&a, 0, sizeof(a));
    snprintf(a.mailbox, sizeof(a.mailbox), "alice@contoso.com");
    a.direction = EXS_DIR_OUTGOING;
    snprintf(a.state, sizeof(a.state), "%s", EXS_ACTIVITY_PENDING_SEND);
    snprintf(subject, sizeof(subject), "Kill mail %03d", k);
    a.subject = subject;
    a.recipients = (char *)"bob@contoso.com";
    a.body = (char *)"exactly once, please";
    ck_assert(exs_store_activity_add(st, &a, &err) == 0);
  }
  /* each send takes a little while, so that kills land inside the pass */
  ck_assert(emu_add_fault(emu, "operation=CreateItem delay-ms=4", subject, sizeof(subject)) > 0);
  kills = run_until_done("alice@contoso.com", 200, 400);
  emu_clear_faults(emu);
  fprintf(stderr, "outgoing: %d kills (EXSYNC_KILL_SEED=%u)\n", kills, seed0);
  ck_assert_int_ge(kills, 3);
  ck_assert_int_eq(count("alice@contoso.com", EXS_ACTIVITY_SENT), 500);
  memset(per, 0, sizeof(per));
  delivered(per, 500);
  for(k = 0; k < 500; k++)
    ck_assert_msg(per[k] == 1, "email %d delivered %d times (EXSYNC_KILL_SEED=%u)", k, per[k], seed0);
  ck_assert_int_eq(emu_folder_count(emu, "alice@contoso.com", "sentitems"), 500);
}
END_TEST


/* The service stops cleanly on SIGTERM and SIGINT: exit 0, the mailbox
 * released, nothing half-done (every stored page complete). */
START_TEST(service_stops_cleanly_on_signals)
{
  static const int sigs[] = {SIGTERM, SIGINT};
  char subject[64], e[256];
  struct exs_mailbox m;
  struct exs_error err;
  int i, k;

  for(i = 0; i < 600; i++) {
    snprintf(subject, sizeof(subject), "Service %04d", i);
    ck_assert(emu_deliver_message(emu, "c@fabrikam.com", "alice@contoso.com", subject, "x", e,
                                  sizeof(e)) == 0);
  }
  for(k = 0; k < 2; k++) {
    char *argv[] = {exsync_bin, "--db", db, "--key-file", keyf, "--connect-to", connect_to,
                    "sync", "--all", "--mailbox", "alice@contoso.com",
                    "--page-size", "50", "--interval", "1", NULL};
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status = 0, pfd[2];
    int64_t deadline;
    char buf[256];
    size_t got = 0;

    ck_assert_int_eq(pipe(pfd), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclose(&fa, pfd[0]);
    ck_assert_int_eq(posix_spawn(&pid, exsync_bin, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    /* the service says when its signal handlers are in place */
    while(got < sizeof(buf) - 1) {
      ssize_t r = read(pfd[0], buf + got, 1);
      if(r <= 0)
        break;
      got++;
      buf[got] = '\0';
      if(strstr(buf, "synchronizing"))
        break;
    }
    ck_assert_msg(strstr(buf, "synchronizing") != NULL, "no start line: %s", buf);
    exs_sleep_ms(20 + 200 * k); /* mid-pass the first time, idle the second */
    kill(pid, sigs[k]);
    deadline = exs_monotonic_ms() + 20000;
    while(waitpid(pid, &status, WNOHANG) == 0) {
      ck_assert_msg(exs_monotonic_ms() < deadline, "exsync sync did not stop");
      exs_sleep_ms(10);
    }
    close(pfd[0]);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    ck_assert(exs_store_mailbox_get(st, "alice@contoso.com", &m, &err) == 0);
    exs_mailbox_wipe(&m);
    ck_assert_str_eq(m.processing_host, "");
    /* never more than what was delivered */
    ck_assert_int_le(count("alice@contoso.com", NULL), 602);
  }
  /* a final pass completes without duplicates */
  ck_assert_int_eq(run_child("alice@contoso.com", 0), 0);
  ck_assert_int_eq(count("alice@contoso.com", NULL), 602);
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("sync_kill");
  TCase *tc = tcase_create("durability");

  tcase_add_checked_fixture(tc, world_up, world_down);
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, incoming_2000_killed_at_random);
  tcase_add_test(tc, outgoing_500_killed_at_random);
  tcase_add_test(tc, service_stops_cleanly_on_signals);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  return tu_run(suite());
}
