/* test_sync_kill.c - durability (docs/sync.md): "a crash or kill at any point
 * loses nothing and duplicates nothing".
 *
 * `exsync sync --once` runs as a child process against the in-process
 * emulator and dies by SIGKILL at a chosen fault point (exsync/faultpoint.h):
 * the Nth store commit, the Nth EWS request before it leaves, the Nth EWS
 * answer before it is read, between CreateItem and marking the emails Sent,
 * inside a SyncFolderItems page (stored, state not yet saved), inside an ACT
 * page, between an ACT write to Exchange and its row. Where, never when: the
 * outcome does not depend on the machine's speed.
 *
 * Each point is swept: a run without kill counts its hits (the point must be
 * reached), then one case per chosen N (every hit of store.commit and of
 * the rarer points, 10 spread over the EWS requests and answers;
 * EXSYNC_KILL_EVERY_HIT=1 takes every hit of every point): a fresh world,
 * a run killed at the Nth hit, a run killed at the first hit of the recovery,
 * then runs until one completes. After each case: every message tracked
 * exactly once, every email delivered exactly once and marked Sent, every
 * ACT item once on each side, the store intact.
 *
 * Without fault points in the build (Release) the suite is skipped (77).
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
#include <unistd.h>

#include "exsync-emulator/emulator.h"
#include "exsync/clock.h"
#include "exsync/ews.h"
#include "exsync/store.h"
#include "testutil.h"

extern char **environ;

#define ORG_ID "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10"
#define ALICE "alice@contoso.com"
#define BOB "bob@contoso.com"

/* The world of one case: sizes make every point hit several times. */
#define N_IN 40 /* messages delivered to alice (the scenario adds 2) */
#define N_IN_SCENARIO 2
#define N_OUT 20  /* emails alice sends to bob */
#define N_XCHG 7  /* appointments made in alice's Exchange calendar */
#define N_CRM 6   /* ACT items made on the CRM side (2 of each kind) */
#define PAGE "6"  /* --page-size: 7 incoming pages, 2 calendar pages */
#define BATCH "4" /* --send-batch: 5 CreateItem batches */

/* The fault points swept (names of EXS_FAULT_POINT calls) and how many
 * kill cases each gets: 0 for every hit (a store commit is where any lost
 * or duplicated work would show), else that many spread over the hits. */
static const struct {
  const char *name;
  long cases;
} points[] = {
    {"store.commit", 0},  /* before the Nth commit lands (any transaction) */
    {"ews.request", 10},  /* before the Nth EWS request leaves */
    {"ews.response", 10}, /* the Nth EWS answer arrived, not yet read */
    {"send.created", 0},  /* CreateItem answered, the emails not yet marked Sent */
    {"incoming.page", 0}, /* a page's activities stored, its sync state not yet */
    {"act.page", 0},      /* an ACT page applied, its sync state not yet */
    {"act.push", 0},      /* an ACT item changed in Exchange, its row not yet */
};
#define N_POINTS (int)(sizeof(points) / sizeof(points[0]))

static struct emu *emu;
static int port;
static char url[256], connect_to[128];
static const char *ct[1];
static char dir[256], db[300], keyf[300], counts_file[300], exsync_bin[4096];
static struct exs_store *st;
static int case_no;

/* ---- the world ------------------------------------------------------------ */

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
  m.act = EXS_ACT_SSYNC;
  m.approval = EXS_APPROVAL_APPROVED;
  m.track = EXS_TRACK_ALL;
  m.enabled[EXS_WL_INCOMING] = m.enabled[EXS_WL_OUTGOING] = m.enabled[EXS_WL_ACT] = true;
  m.status[EXS_WL_INCOMING] = m.status[EXS_WL_OUTGOING] = m.status[EXS_WL_ACT] = EXS_STATUS_SUCCESS;
  ck_assert_msg(exs_store_mailbox_put(st, &m, &err) == 0, "%s", err.message);
}

/* An EWS client of the service account impersonating mailbox. */
static struct exs_ews *client(const char *mailbox, struct exs_http **h)
{
  struct exs_http_options ho;
  struct exs_ews_options eo;
  struct exs_transport t = {0};

  t.connect_to = ct;
  t.n_connect_to = 1;
  exs_http_options_init(&ho, &t);
  ho.auth = EXS_AUTH_BASIC;
  exs_http_options_set_credentials(&ho, "CONTOSO\\svc-crm", "svc-pw");
  ho.allow_non_ssl = ho.allow_basic_non_secure = ho.allow_credentials_non_secure = true;
  *h = exs_http_new(&ho);
  ck_assert_ptr_nonnull(*h);
  memset(&eo, 0, sizeof(eo));
  eo.url = url;
  eo.ctx.impersonate = mailbox;
  return exs_ews_new(*h, &eo);
}

static void crm_act_add(int kind, const char *subject)
{
  struct exs_act_item a;
  struct exs_error err;

  memset(&a, 0, sizeof(a));
  snprintf(a.mailbox, sizeof(a.mailbox), ALICE);
  a.kind = kind;
  snprintf(a.subject, sizeof(a.subject), "%s", subject);
  if(kind == EXS_ACT_KIND_APPOINTMENT) {
    snprintf(a.start, sizeof(a.start), "2026-12-01T10:00:00Z");
    snprintf(a.end, sizeof(a.end), "2026-12-01T11:00:00Z");
  }
  if(kind == EXS_ACT_KIND_TASK)
    snprintf(a.status, sizeof(a.status), "NotStarted");
  if(kind == EXS_ACT_KIND_CONTACT) {
    snprintf(a.given_name, sizeof(a.given_name), "Mara");
    snprintf(a.surname, sizeof(a.surname), "%s", subject);
  }
  a.dirty = true;
  a.crm_modified = 1764583200; /* fixed: nothing here compares clocks */
  ck_assert(exs_store_act_put(st, &a, &err) == 0);
}

/* A fresh world: the scenario reloaded, a new store, and the work of one
 * pass: N_IN messages, N_OUT emails, N_XCHG + N_CRM ACT items. */
static void case_up(void)
{
  struct exs_org org;
  struct exs_profile p;
  struct exs_error e;
  struct exs_activity a;
  struct exs_ews_new_item it;
  struct exs_ews_create_item_req req;
  struct exs_ews_folder_ref cal = {"calendar", NULL, NULL};
  struct exs_ews_item_result res;
  struct exs_http *h;
  struct exs_ews *ews;
  char err[512], subject[64], start[40], end[40];
  int i;

  ck_assert_msg(emu_reset(emu, err, sizeof(err)) == 0, "%s", err);
  case_no++;
  snprintf(db, sizeof(db), "%s/k%d.db", dir, case_no);
  snprintf(keyf, sizeof(keyf), "%s/k%d.key", dir, case_no);
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
  add_mailbox(ALICE);

  for(i = 0; i < N_IN; i++) {
    snprintf(subject, sizeof(subject), "Kill test %02d", i);
    ck_assert(emu_deliver_message(emu, "c@fabrikam.com", ALICE, subject, "x", err, sizeof(err)) ==
              0);
  }
  for(i = 0; i < N_OUT; i++) {
    memset(&a, 0, sizeof(a));
    snprintf(a.mailbox, sizeof(a.mailbox), ALICE);
    a.direction = EXS_DIR_OUTGOING;
    snprintf(a.state, sizeof(a.state), "%s", EXS_ACTIVITY_PENDING_SEND);
    snprintf(subject, sizeof(subject), "Kill mail %02d", i);
    a.subject = subject;
    a.recipients = (char *)BOB;
    a.body = (char *)"exactly once, please";
    ck_assert(exs_store_activity_add(st, &a, &e) == 0);
  }
  ews = client(ALICE, &h);
  for(i = 0; i < N_XCHG; i++) {
    memset(&it, 0, sizeof(it));
    it.kind = EXS_EWS_ITEM_CALENDAR;
    snprintf(subject, sizeof(subject), "Xchg %02d", i);
    snprintf(start, sizeof(start), "2026-12-%02dT09:00:00Z", i + 1);
    snprintf(end, sizeof(end), "2026-12-%02dT10:00:00Z", i + 1);
    it.subject = subject;
    it.start = start;
    it.end = end;
    memset(&req, 0, sizeof(req));
    req.saved_folder = &cal;
    req.items = &it;
    req.n = 1;
    ck_assert_msg(exs_ews_create_item(ews, &req, &res, &e) == 0, "%s", e.message);
    ck_assert_msg(res.ok, "%s", res.err.message);
  }
  exs_ews_free(ews);
  exs_http_free(h);
  for(i = 0; i < N_CRM; i++) {
    snprintf(subject, sizeof(subject), "Crm %02d", i);
    crm_act_add(i % 3, subject);
  }
}

static void case_down(void)
{
  exs_store_close(st);
  st = NULL;
  unlink(db);
  unlink(keyf);
}

static void world_up(void)
{
  char err[512], bound[64], self[4096];
  ssize_t n;

  n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ck_assert(n > 0);
  self[n] = '\0';
  snprintf(exsync_bin, sizeof(exsync_bin), "%s/../diag/exsync", dirname(self));
  ck_assert_msg(access(exsync_bin, X_OK) == 0, "no %s", exsync_bin);

  emu = emu_new();
  ck_assert_msg(
      emu_load_scenario(emu, tu_path("fixtures/scenarios/contoso.xml"), err, sizeof(err)) == 0,
      "%s", err);
  port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  ck_assert_msg(emu_start(emu, err, sizeof(err)) == 0, "%s", err);
  snprintf(url, sizeof(url), "http://mail.contoso.com:%d/EWS/Exchange.asmx", port);
  snprintf(connect_to, sizeof(connect_to), "mail.contoso.com:%d:127.0.0.1:%d", port, port);
  ct[0] = connect_to;
  snprintf(dir, sizeof(dir), "%s/exsync-kill-XXXXXX",
           access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(counts_file, sizeof(counts_file), "%s/counts", dir);
}

static void world_down(void)
{
  char cmd[400];

  if(st)
    exs_store_close(st);
  emu_stop(emu);
  emu_free(emu);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if(system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", dir);
}

/* ---- the child ------------------------------------------------------------ */

/* Start exsync with argv and the fault environment (kill and stop specs,
 * NULL: none; the counts always go to counts_file). Only the child sees it:
 * the suite's own store commits are fault points too. */
static pid_t spawn_exsync(char **argv, const char *kill_spec, const char *stop_spec)
{
  static char kill_env[128], stop_env[128], counts_env[400];
  posix_spawn_file_actions_t fa;
  size_t n = 0, i;
  char **envp;
  pid_t pid;

  for(i = 0; environ[i]; i++)
    n++;
  envp = calloc(n + 4, sizeof(*envp));
  ck_assert_ptr_nonnull(envp);
  for(i = 0, n = 0; environ[i]; i++)
    if(strncmp(environ[i], "EXSYNC_FAULT_", 13))
      envp[n++] = environ[i];
  snprintf(counts_env, sizeof(counts_env), "EXSYNC_FAULT_COUNTS=%s", counts_file);
  envp[n++] = counts_env;
  if(kill_spec) {
    snprintf(kill_env, sizeof(kill_env), "EXSYNC_FAULT_KILL=%s", kill_spec);
    envp[n++] = kill_env;
  }
  if(stop_spec) {
    snprintf(stop_env, sizeof(stop_env), "EXSYNC_FAULT_STOP=%s", stop_spec);
    envp[n++] = stop_env;
  }
  envp[n] = NULL;
  unlink(counts_file);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  ck_assert_int_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, envp), 0);
  posix_spawn_file_actions_destroy(&fa);
  free(envp);
  return pid;
}

/* Run `exsync sync --once` for alice, killed at kill_spec ("NAME:N") or
 * not (NULL). Returns the exit status, or -signal. No clock is involved: a
 * hang is caught by the suite's timeout. */
static int run_child(const char *kill_spec)
{
  char *argv[] = {
      exsync_bin, "--db",        db,       "--key-file",   keyf,      "--connect-to",
      connect_to, "sync",        "--once", "--all",        "--quiet", "--mailbox",
      ALICE,      "--page-size", PAGE,     "--send-batch", BATCH,     "--retry-interval",
      "1",        NULL};
  pid_t pid = spawn_exsync(argv, kill_spec, NULL);
  int status = 0;

  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

/* The hits of point in the last child's counts file (0 when absent); with
 * killed_at, the N of a "killed point N" line (0 when none). */
static long hits_of(const char *point, long *killed_at)
{
  char line[200], name[80], killed[80];
  long n, hits = 0;
  FILE *f = fopen(counts_file, "r");

  if(killed_at)
    *killed_at = 0;
  if(!f)
    return 0;
  while(fgets(line, sizeof(line), f)) {
    if(sscanf(line, "killed %79s %ld", killed, &n) == 2) {
      if(killed_at && !strcmp(killed, point))
        *killed_at = n;
    }
    else if(sscanf(line, "%79s %ld", name, &n) == 2 && !strcmp(name, point))
      hits = n;
  }
  fclose(f);
  return hits;
}

/* ---- what must hold ------------------------------------------------------- */

static long count(const char *state)
{
  struct exs_error err;
  long n = exs_store_activity_count(st, ALICE, state, &err);

  ck_assert_msg(n >= 0, "%s", err.message);
  return n;
}

/* Subjects "Kill mail NN" in bob's inbox: per index counts. */
static void delivered(int *per, int n)
{
  static const char *const fields[] = {"item:Subject"};
  struct exs_ews_find_item_req req;
  struct exs_ews_item_page page;
  struct exs_error err;
  struct exs_http *h;
  struct exs_ews *ews = client(BOB, &h);
  int offset = 0, k;

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

/* Everything of the case done exactly once; what names the case on failure. */
static void verify(const char *what)
{
  struct exs_activity *a = NULL;
  struct exs_act_item *rows = NULL;
  struct exs_error err;
  size_t n = 0, i;
  int seen_in[N_IN] = {0}, per[N_OUT] = {0}, xchg[N_XCHG] = {0}, crm[N_CRM] = {0}, k;

  ck_assert_msg(exs_store_check(st, &err) == 0, "%s: %s", what, err.message);

  /* incoming: every message tracked once */
  ck_assert(exs_store_activity_list(st, ALICE, NULL, &a, &n, &err) == 0);
  for(i = 0; i < n; i++) {
    if(a[i].direction == EXS_DIR_INCOMING && a[i].subject &&
       sscanf(a[i].subject, "Kill test %d", &k) == 1) {
      ck_assert_msg(k >= 0 && k < N_IN && !seen_in[k], "%s: message %d tracked twice", what, k);
      seen_in[k] = 1;
    }
    exs_activity_clear(&a[i]);
  }
  free(a);
  for(k = 0; k < N_IN; k++)
    ck_assert_msg(seen_in[k], "%s: message %d lost", what, k);
  ck_assert_int_eq(count(EXS_ACTIVITY_RECEIVED), N_IN + N_IN_SCENARIO);

  /* outgoing: every email delivered once, a copy in Sent Items, marked Sent */
  ck_assert_msg(count(EXS_ACTIVITY_SENT) == N_OUT, "%s: %ld of %d emails marked Sent", what,
                count(EXS_ACTIVITY_SENT), N_OUT);
  delivered(per, N_OUT);
  for(k = 0; k < N_OUT; k++)
    ck_assert_msg(per[k] == 1, "%s: email %d delivered %d times", what, k, per[k]);
  ck_assert_int_eq(emu_folder_count(emu, ALICE, "sentitems"), N_OUT);

  /* ACT: every item once in the store, once in Exchange, nothing left dirty */
  ck_assert(exs_store_act_list(st, ALICE, false, &rows, &n, &err) == 0);
  for(i = 0; i < n; i++) {
    ck_assert_msg(rows[i].exchange_id[0] && !rows[i].dirty, "%s: '%s' not synchronized", what,
                  rows[i].subject);
    if(sscanf(rows[i].subject, "Xchg %d", &k) == 1 && k >= 0 && k < N_XCHG)
      xchg[k]++;
    else if(sscanf(rows[i].subject, "Crm %d", &k) == 1 && k >= 0 && k < N_CRM)
      crm[k]++;
    else if(sscanf(rows[i].surname, "Crm %d", &k) == 1 && k >= 0 && k < N_CRM)
      crm[k]++; /* contacts carry the name, not a subject */
  }
  free(rows);
  ck_assert_msg(n == N_XCHG + N_CRM, "%s: %zu ACT rows for %d items", what, n, N_XCHG + N_CRM);
  for(k = 0; k < N_XCHG; k++)
    ck_assert_msg(xchg[k] == 1, "%s: Exchange appointment %d stored %d times", what, k, xchg[k]);
  for(k = 0; k < N_CRM; k++)
    ck_assert_msg(crm[k] == 1, "%s: CRM item %d stored %d times", what, k, crm[k]);
  ck_assert_msg(emu_folder_count(emu, ALICE, "calendar") == N_XCHG + N_CRM / 3,
                "%s: %ld appointments in Exchange", what, emu_folder_count(emu, ALICE, "calendar"));
  ck_assert_msg(emu_folder_count(emu, ALICE, "contacts") == N_CRM / 3,
                "%s: %ld contacts in Exchange", what, emu_folder_count(emu, ALICE, "contacts"));
  ck_assert_msg(emu_folder_count(emu, ALICE, "tasks") == N_CRM / 3, "%s: %ld tasks in Exchange",
                what, emu_folder_count(emu, ALICE, "tasks"));
}

/* ---- the sweep ------------------------------------------------------------ */

/* Runs without kill until one completes (a run may end in a mailbox error
 * that the next one settles); at most a few. */
static void run_to_completion(const char *what)
{
  int runs, rc = -1;

  for(runs = 0; runs < 3 && rc != 0; runs++)
    rc = run_child(NULL);
  ck_assert_msg(rc == 0, "%s: no run completed after the kills (last exit %d)", what, rc);
}

/* One point: count its hits in a complete run, then kill at every hit or at
 * points[].cases hits spread from the first to the last
 * (EXSYNC_KILL_EVERY_HIT=1: every hit of every point, slower). */
START_TEST(kill_at_point)
{
  const char *point = points[_i].name;
  long total, n, at, again, cases, j;
  char spec[96], what[160];
  int rc;

  case_up();
  ck_assert_int_eq(run_child(NULL), 0);
  total = hits_of(point, NULL);
  ck_assert_msg(total > 0, "fault point %s was never reached by a complete run", point);
  verify("a run without kill");
  case_down();
  fprintf(stderr, "%s: %ld hits in a complete run\n", point, total);

  cases = points[_i].cases;
  if(cases < 2 || cases > total || getenv("EXSYNC_KILL_EVERY_HIT"))
    cases = total;
  for(j = 0; j < cases; j++) {
    n = cases == total ? j + 1 : 1 + j * (total - 1) / (cases - 1);
    snprintf(what, sizeof(what), "killed at %s:%ld of %ld", point, n, total);
    case_up();
    snprintf(spec, sizeof(spec), "%s:%ld", point, n);
    rc = run_child(spec);
    hits_of(point, &at);
    ck_assert_msg(rc == -SIGKILL && at == n, "%s: the child was not killed there (exit %d)", what,
                  rc);
    /* the recovery killed too, at its first hit of the point (if any) */
    snprintf(spec, sizeof(spec), "%s:1", point);
    rc = run_child(spec);
    again = hits_of(point, &at);
    ck_assert_msg(rc == -SIGKILL ? at == 1 : again == 0, "%s, then at %s: exit %d", what, spec, rc);
    fprintf(stderr, "  killed at %ld, then at 1 of the recovery (%s)\n", n,
            rc == -SIGKILL ? "killed" : "not reached");
    run_to_completion(what);
    verify(what);
    case_down();
  }
}
END_TEST

/* The service stops cleanly on SIGTERM and SIGINT: exit 0, the mailbox
 * released, nothing half-done. The signal lands mid-pass (the child is
 * stopped at its 5th store commit) and then idle (stopped after its first
 * pass): fault points again, never a clock. */
START_TEST(service_stops_cleanly_on_signals)
{
  static const int sigs[] = {SIGTERM, SIGINT};
  static const char *const where[] = {"store.commit:5", "sync.idle:1"};
  char *argv[] = {exsync_bin, "--db",       db,      "--key-file", keyf,  "--connect-to",
                  connect_to, "sync",       "--all", "--mailbox",  ALICE, "--page-size",
                  PAGE,       "--interval", "1",     NULL};
  struct exs_mailbox m;
  struct exs_error err;
  int k, status;
  pid_t pid;

  case_up();
  for(k = 0; k < 2; k++) {
    pid = spawn_exsync(argv, NULL, where[k]);
    ck_assert_int_eq(waitpid(pid, &status, WUNTRACED), pid);
    ck_assert_msg(WIFSTOPPED(status), "%s: the service did not stop there (status %d)", where[k],
                  status);
    kill(pid, sigs[k]);
    kill(pid, SIGCONT);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: status %d", where[k], status);
    ck_assert(exs_store_mailbox_get(st, ALICE, &m, &err) == 0);
    exs_mailbox_wipe(&m);
    ck_assert_str_eq(m.processing_host, "");
    if(k == 0) /* stopped mid-pass: part of the inbox, and only whole pages */
      ck_assert_int_lt(count(EXS_ACTIVITY_RECEIVED), N_IN + N_IN_SCENARIO);
    else
      ck_assert_int_eq(count(EXS_ACTIVITY_RECEIVED), N_IN + N_IN_SCENARIO);
  }
  /* a final pass finds nothing new and duplicates nothing */
  run_to_completion("after the service");
  verify("after the service");
  case_down();
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("sync_kill");
  TCase *tc = tcase_create("durability");

  tcase_add_checked_fixture(tc, world_up, world_down);
  tcase_set_timeout(tc, 240);
  tcase_add_loop_test(tc, kill_at_point, 0, N_POINTS);
  tcase_add_test(tc, service_stops_cleanly_on_signals);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
#ifndef EXSYNC_FAULT_POINTS
  fprintf(stderr, "sync_kill: built without fault points (-DEXSYNC_FAULT_POINTS=ON): skipped\n");
  return 77;
#endif
  return tu_run(suite());
}
