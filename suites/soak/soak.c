/* soak.c - the `exsync sync` service under faults and SIGKILL, with exact
 * checks at the end (issue 12, "faults survived, measured").
 *
 * An in-process emulator holds MAILBOXES mailboxes behind random faults
 * (503 at random, answers cut after N bytes, dripped, stalled: all seeded).
 * Each round delivers email from outside, queues email between the
 * mailboxes (`exsync email send`), adds and changes appointments, contacts
 * and tasks on the CRM side (`exsync act`) and on the Exchange side (EWS
 * CreateItem), then runs the service (`exsync sync`) with a fault point
 * that SIGKILLs it at a random Nth EWS request (or at its first idle
 * moment if the pass ends sooner): kills land at chosen requests, never
 * at a chosen time. A memory phase then keeps one service alive over many
 * passes, stopped (SIGSTOP fault point) at each idle moment to read its
 * RSS. After the faults are cleared and a last pass, it checks:
 *   - the store: PRAGMA integrity_check and foreign_key_check;
 *   - every message delivered from outside tracked exactly once, in its
 *     mailbox; every inbox of the emulator exactly as delivered;
 *   - every email queued sent exactly once: Sent in the store, once in the
 *     sender's Sent Items and once in the recipient's inbox;
 *   - appointments, contacts and tasks equal on both sides (per mailbox
 *     and kind; nothing left dirty);
 *   - the service's RSS flat over the memory phase (growth from its second
 *     pass to its last at most --memory-limit-kb, default 8192; the short
 *     ctest, which may run under sanitizers, only reports it).
 * Figures go to stdout; exit 0 when every check holds.
 *
 *   soak --exsync PATH [--mailboxes N] [--rounds R | --seconds S] [--seed S]
 *        [--memory-passes P] [--memory-limit-kb K (0: report only)] [--keep]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sqlite3.h>

#include "exsync-emulator/emulator.h"
#include "exsync/buf.h"
#include "exsync/clock.h"

#define DOMAIN "soak.example"
#define PW "soak-svc-pw"

static const char *exsync_bin;
static char dir[256], db[512], url[256], bodyfile[512];
static size_t n_mb = 200;
static uint64_t rng = 42;
static int fails;
static long mem_limit_kb = 8192;

static uint64_t next_rand(void)
{
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545f4914f6cdd1dull;
}

static size_t pick(size_t n)
{
  return (size_t)(next_rand() % n);
}

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  printf("%s ", ok ? "ok  " : "FAIL");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  if(!ok)
    fails++;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  fputs("soak: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

/* ---- child processes ---- */

struct run {
  int status;     /* waitpid status */
  char out[4096]; /* first bytes of stdout */
};

/* Run `exsync --db DB ARGS...` (NULL-terminated) with extra environment
 * words env ("NAME=VALUE", may be NULL), stdout captured, stderr to the
 * soak log. */
static pid_t spawn(const char *const *args, const char *const *env, int *out_fd)
{
  const char *argv[64];
  int pfd[2], n = 0;
  pid_t pid;

  argv[n++] = exsync_bin;
  argv[n++] = "--db";
  argv[n++] = db;
  for(size_t i = 0; args[i] && n < 62; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  if(out_fd && pipe(pfd))
    die("pipe: %s", strerror(errno));
  pid = fork();
  if(pid < 0)
    die("fork: %s", strerror(errno));
  if(pid == 0) {
    char log[600];
    int lfd;
    snprintf(log, sizeof(log), "%s/service.log", dir);
    lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if(lfd >= 0)
      dup2(lfd, STDERR_FILENO);
    if(out_fd) {
      dup2(pfd[1], STDOUT_FILENO);
      close(pfd[0]);
      close(pfd[1]);
    }
    else if(lfd >= 0) {
      dup2(lfd, STDOUT_FILENO);
    }
    for(size_t i = 0; env && env[i]; i++)
      putenv((char *)env[i]);
    execv(exsync_bin, (char *const *)argv);
    _exit(127);
  }
  if(out_fd) {
    close(pfd[1]);
    *out_fd = pfd[0];
  }
  return pid;
}

static void run(const char *const *args, const char *const *env, struct run *r)
{
  int fd;
  size_t len = 0;
  ssize_t got;
  pid_t pid = spawn(args, env, &fd);

  while((got = read(fd, r->out + len, sizeof(r->out) - 1 - len)) > 0)
    len += (size_t)got;
  r->out[len] = '\0';
  close(fd);
  waitpid(pid, &r->status, 0);
}

static void must(const char *const *args, const char *what)
{
  struct run r;

  run(args, NULL, &r);
  if(!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
    die("%s failed (status %d): %s (see %s/service.log)", what, r.status, r.out, dir);
}

/* ---- the world ---- */

struct mb {
  char addr[64];
  long inbox;      /* messages expected in its inbox */
  long sent;       /* emails expected in its Sent Items */
  long in_subject; /* "In" messages delivered to it */
};
static struct mb *mbs;
static long queued, delivered, act_crm_added, act_crm_changed, act_crm_deleted, act_ex_added;

static void write_org(const char *path)
{
  FILE *f = fopen(path, "w");

  if(!f)
    die("%s: %s", path, strerror(errno));
  fprintf(f,
          "<?xml version=\"1.0\"?>\n<org xmlns=\"urn:exsync:org:1\" "
          "id=\"5a0c7e1e-6a43-4d2b-9b8e-3f1f0c2d4e5a\">\n"
          "  <settings approve-users=\"no\" approve-queues=\"no\" default-profile=\"Soak\" "
          "allow-credentials-non-secure=\"yes\" allow-basic-non-secure=\"yes\" "
          "allow-non-ssl=\"yes\"/>\n"
          "  <profile name=\"Soak\" autodiscover=\"no\" incoming-url=\"%s\" "
          "authenticate-using=\"profile\" impersonation=\"yes\" protocol=\"basic\" "
          "user=\"svc\" password-env=\"SOAK_PW\" max-connections=\"8\" "
          "process-from=\"2000-01-01T00:00:00Z\"/>\n",
          url);
  for(size_t i = 0; i < n_mb; i++)
    fprintf(f,
            "  <mailbox address=\"%s\" name=\"Box %zu\" kind=\"user\" profile=\"Soak\" "
            "incoming=\"ssync\" outgoing=\"ssync\" act=\"ssync\" approval=\"approved\" "
            "track=\"all\"/>\n",
            mbs[i].addr, i);
  fputs("</org>\n", f);
  fclose(f);
}

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
  (void)p;
  (void)ud;
  return s * n;
}

/* An Exchange-side task made by EWS CreateItem (as a user would in Outlook). */
static bool exchange_task(const char *mailbox, const char *subject)
{
  char body[2048];
  CURL *c = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/xml; charset=utf-8");
  long status = 0;
  CURLcode rc;

  snprintf(body, sizeof(body),
           "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope "
           "xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
           "xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\" "
           "xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\"><s:Header>"
           "<t:RequestServerVersion Version=\"Exchange2013_SP1\"/><t:ExchangeImpersonation>"
           "<t:ConnectingSID><t:SmtpAddress>%s</t:SmtpAddress></t:ConnectingSID>"
           "</t:ExchangeImpersonation></s:Header><s:Body><m:CreateItem>"
           "<m:SavedItemFolderId><t:DistinguishedFolderId Id=\"tasks\"/></m:SavedItemFolderId>"
           "<m:Items><t:Task><t:Subject>%s</t:Subject></t:Task></m:Items></m:CreateItem>"
           "</s:Body></s:Envelope>",
           mailbox, subject);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_USERPWD, "desk:" PW); /* not svc: the faults are svc's */
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return rc == CURLE_OK && status == 200;
}

/* The ids of the CRM's live ACT items (deleted = 0), from the store. */
static size_t crm_act_ids(long long *ids, size_t max)
{
  sqlite3 *s;
  sqlite3_stmt *q;
  size_t n = 0;

  if(sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    die("%s: %s", db, sqlite3_errmsg(s));
  sqlite3_busy_timeout(s, 10000);
  if(sqlite3_prepare_v2(s,
                        "SELECT id FROM act_items WHERE deleted = 0 AND kind = 'task' "
                        "AND subject LIKE 'CRM %' ORDER BY id",
                        -1, &q, NULL) == SQLITE_OK) {
    while(n < max && sqlite3_step(q) == SQLITE_ROW)
      ids[n++] = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
  }
  sqlite3_close(s);
  return n;
}

static void traffic(struct emu *emu, int round)
{
  char subject[128], err[256], id[32];
  size_t n_in = n_mb / 4 + 1, n_out = n_mb / 40 + 2, i;

  for(i = 0; i < n_in; i++) {
    struct mb *m = &mbs[pick(n_mb)];
    snprintf(subject, sizeof(subject), "In %d.%zu", round, i);
    if(emu_deliver_message(emu, "partner@outside.example", m->addr, subject, "soak", err,
                           sizeof(err)))
      die("deliver: %s", err);
    m->inbox++;
    m->in_subject++;
    delivered++;
  }
  for(i = 0; i < n_out; i++) {
    struct mb *a = &mbs[pick(n_mb)], *b = &mbs[pick(n_mb)];
    const char *args[] = {"email",     "send",  "--from",      a->addr,  "--to", b->addr,
                          "--subject", subject, "--body-file", bodyfile, NULL};
    snprintf(subject, sizeof(subject), "Out %d.%zu", round, i);
    must(args, "email send");
    a->sent++;
    b->inbox++;
    queued++;
  }
  /* appointments, contacts, tasks: the CRM adds, changes, deletes... */
  for(i = 0; i < 2; i++) {
    const char *box = mbs[pick(n_mb)].addr;
    char subj[160];
    const char *args[] = {"act", "add", "--mailbox", box, "--kind", "task", subj, NULL};
    snprintf(subj, sizeof(subj), "subject=CRM task %d.%zu", round, i);
    must(args, "act add");
    act_crm_added++;
  }
  if(round % 2 == 0) {
    long long ids[4096];
    size_t n = crm_act_ids(ids, 4096);
    if(n > 4) {
      char subj[160];
      const char *set[] = {"act", "set", id, subj, NULL};
      const char *del[] = {"act", "delete", id, NULL};
      snprintf(id, sizeof(id), "%lld", ids[pick(n)]);
      snprintf(subj, sizeof(subj), "subject=CRM task changed in %d", round);
      must(set, "act set");
      act_crm_changed++;
      snprintf(id, sizeof(id), "%lld", ids[pick(n)]);
      /* the one just changed may go: a delete wins */
      must(del, "act delete");
      act_crm_deleted++;
    }
  }
  /* ...and users add tasks in Exchange */
  for(i = 0; i < 2; i++) {
    snprintf(subject, sizeof(subject), "Exchange task %d.%zu", round, i);
    if(!exchange_task(mbs[pick(n_mb)].addr, subject))
      die("CreateItem of an Exchange task failed");
    act_ex_added++;
  }
}

/* Killed (SIGKILL by a fault point) or ended: 1 when killed. */
static int service_round(long kill_at, long *requests)
{
  char kill_env[128], counts_env[600], counts[540];
  const char *env[] = {kill_env, counts_env, NULL};
  const char *args[] = {"sync",          "--all",   "--interval",       "1",
                        "--idle",        "1",       "--retry-interval", "1",
                        "--max-retries", "1000000", "--quiet",          NULL};
  int status;
  pid_t pid;
  FILE *f;

  snprintf(counts, sizeof(counts), "%s/counts", dir);
  snprintf(kill_env, sizeof(kill_env), "EXSYNC_FAULT_KILL=ews.request:%ld,sync.idle:1", kill_at);
  snprintf(counts_env, sizeof(counts_env), "EXSYNC_FAULT_COUNTS=%s", counts);
  unlink(counts);
  pid = spawn(args, env, NULL);
  waitpid(pid, &status, 0);
  *requests = 0;
  f = fopen(counts, "r");
  if(f) {
    char name[64];
    long n;
    while(fscanf(f, "%63s %ld", name, &n) == 2)
      if(!strcmp(name, "ews.request"))
        *requests = n;
    fclose(f);
  }
  if(!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
    die("the service ended without its fault point (status %d; see %s/service.log)", status, dir);
  return 1;
}

static long rss_kb(pid_t pid)
{
  char path[64], line[256];
  long kb = -1;
  FILE *f;

  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  f = fopen(path, "r");
  if(!f)
    return -1;
  while(fgets(line, sizeof(line), f))
    if(!strncmp(line, "VmRSS:", 6))
      kb = atol(line + 6);
  fclose(f);
  return kb;
}

/* One service over `passes` passes with traffic between them, stopped at
 * each idle moment to read its RSS. Returns the growth in KiB from the
 * second sample (the first pass warms the caches) to the last. */
static long memory_phase(struct emu *emu, int passes, int *round)
{
  char stop_env[2048], kill_env[64];
  const char *env[] = {stop_env, kill_env, NULL};
  const char *args[] = {"sync",          "--all",   "--interval",       "1",
                        "--idle",        "1",       "--retry-interval", "1",
                        "--max-retries", "1000000", "--quiet",          NULL};
  long first = -1, last = -1, peak = 0;
  size_t o;
  int status, i;
  pid_t pid;

  o = (size_t)snprintf(stop_env, sizeof(stop_env), "EXSYNC_FAULT_STOP=");
  for(i = 1; i < passes && o < sizeof(stop_env) - 32; i++)
    o +=
        (size_t)snprintf(stop_env + o, sizeof(stop_env) - o, "%ssync.idle:%d", i > 1 ? "," : "", i);
  snprintf(kill_env, sizeof(kill_env), "EXSYNC_FAULT_KILL=sync.idle:%d", passes);
  pid = spawn(args, env, NULL);
  for(i = 1; i < passes; i++) {
    long kb;
    if(waitpid(pid, &status, WUNTRACED) != pid || !WIFSTOPPED(status))
      die("the memory-phase service ended early (status %d)", status);
    kb = rss_kb(pid);
    if(i == 2)
      first = kb;
    last = kb;
    if(kb > peak)
      peak = kb;
    printf("memory: pass %d: RSS %ld KiB\n", i, kb);
    fflush(stdout);
    traffic(emu, ++*round);
    kill(pid, SIGCONT);
  }
  waitpid(pid, &status, 0);
  printf("memory: %d passes, RSS %ld KiB after pass 2, %ld KiB after pass %d, peak %ld KiB\n",
         passes, first, last, passes - 1, peak);
  return first >= 0 ? last - first : 0;
}

static long count_sql(sqlite3 *s, const char *sql, const char *arg)
{
  sqlite3_stmt *q;
  long n = -1;

  if(sqlite3_prepare_v2(s, sql, -1, &q, NULL) != SQLITE_OK)
    die("%s: %s", sql, sqlite3_errmsg(s));
  if(arg)
    sqlite3_bind_text(q, 1, arg, -1, SQLITE_STATIC);
  if(sqlite3_step(q) == SQLITE_ROW)
    n = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  return n;
}

static void final_checks(struct emu *emu, long mem_growth_kb)
{
  sqlite3 *s;
  long bad_in = 0, bad_inbox = 0, bad_sent = 0, bad_act = 0, n;
  char text[256] = "";
  sqlite3_stmt *q;

  if(sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    die("%s: %s", db, sqlite3_errmsg(s));
  sqlite3_busy_timeout(s, 10000);
  if(sqlite3_prepare_v2(s, "PRAGMA integrity_check", -1, &q, NULL) == SQLITE_OK &&
     sqlite3_step(q) == SQLITE_ROW)
    snprintf(text, sizeof(text), "%s", (const char *)sqlite3_column_text(q, 0));
  sqlite3_finalize(q);
  check(!strcmp(text, "ok"), "store: integrity_check says %s", text);
  n = count_sql(s, "SELECT COUNT(*) FROM pragma_foreign_key_check", NULL);
  check(n == 0, "store: %ld foreign key violations", n);
  /* incoming: each message from outside tracked once, in its mailbox */
  n = count_sql(s,
                "SELECT COUNT(*) FROM activities WHERE direction = 'incoming' "
                "AND subject LIKE 'In %'",
                NULL);
  check(n == delivered, "incoming: %ld of %ld messages from outside tracked", n, delivered);
  n = count_sql(s,
                "SELECT COUNT(*) FROM (SELECT mailbox, subject FROM activities "
                "WHERE direction = 'incoming' GROUP BY mailbox, subject HAVING COUNT(*) > 1)",
                NULL);
  check(n == 0, "incoming: %ld messages tracked more than once", n);
  /* outgoing: each email sent once */
  n = count_sql(s,
                "SELECT COUNT(*) FROM activities WHERE direction = 'outgoing' "
                "AND subject LIKE 'Out %' AND lower(state) = 'sent'",
                NULL);
  check(n == queued, "outgoing: %ld of %ld emails Sent in the store", n, queued);
  n = count_sql(s,
                "SELECT COUNT(*) FROM activities WHERE direction = 'outgoing' "
                "AND lower(state) <> 'sent'",
                NULL);
  check(n == 0, "outgoing: %ld emails not Sent", n);
  for(size_t i = 0; i < n_mb; i++) {
    struct mb *m = &mbs[i];
    long inbox = emu_folder_count(emu, m->addr, "inbox");
    long sent = emu_folder_count(emu, m->addr, "sentitems");
    long tracked_in = count_sql(s,
                                "SELECT COUNT(*) FROM activities WHERE mailbox = ?1 AND "
                                "direction = 'incoming' AND subject LIKE 'In %'",
                                m->addr);
    if(tracked_in != m->in_subject)
      bad_in++;
    if(inbox != m->inbox)
      bad_inbox++;
    if(sent != m->sent)
      bad_sent++;
    /* ACT: the CRM's live items of each kind are the mailbox's items */
    {
      static const char *const kinds[][2] = {
          {"task", "tasks"}, {"appointment", "calendar"}, {"contact", "contacts"}};
      for(size_t k = 0; k < 3; k++) {
        char sql[256];
        long crm, ex = emu_folder_count(emu, m->addr, kinds[k][1]);
        snprintf(sql, sizeof(sql),
                 "SELECT COUNT(*) FROM act_items WHERE mailbox = ?1 AND kind = '%s' "
                 "AND deleted = 0",
                 kinds[k][0]);
        crm = count_sql(s, sql, m->addr);
        if(crm != ex) {
          if(bad_act < 5)
            printf("     %s %s: CRM %ld, Exchange %ld\n", m->addr, kinds[k][1], crm, ex);
          bad_act++;
        }
      }
    }
  }
  check(bad_in == 0, "incoming: %ld mailboxes whose tracked messages differ from those delivered",
        bad_in);
  check(bad_inbox == 0, "emulator: %ld inboxes not exactly as delivered (each email once)",
        bad_inbox);
  check(bad_sent == 0, "emulator: %ld Sent Items not exactly as queued (each email once)",
        bad_sent);
  check(bad_act == 0, "act: %ld mailbox folders differ between the CRM and Exchange", bad_act);
  n = count_sql(s, "SELECT COUNT(*) FROM act_items WHERE dirty <> 0 AND deleted = 0", NULL);
  check(n == 0, "act: %ld items still to push", n);
  n = count_sql(s,
                "SELECT COUNT(*) FROM mailboxes WHERE enabled_incoming = 0 OR "
                "enabled_outgoing = 0 OR enabled_act = 0",
                NULL);
  if(n >= 0)
    check(n == 0, "mailboxes: %ld with a workload disabled", n);
  sqlite3_close(s);
  if(mem_limit_kb)
    check(mem_growth_kb <= mem_limit_kb,
          "memory: RSS grew %ld KiB over the memory phase "
          "(limit %ld)",
          mem_growth_kb, mem_limit_kb);
  else
    printf("     memory: RSS grew %ld KiB over the memory phase (not checked: "
           "--memory-limit-kb 0)\n",
           mem_growth_kb);
}

int main(int argc, char **argv)
{
  struct emu *emu;
  char err[512], bound[64], org[600], log[600];
  long rounds = 6, seconds = 0, kills = 0, requests_total = 0;
  int memory_passes = 6, round = 0, port;
  bool keep = false;
  int64_t t0 = exs_monotonic_ms();
  unsigned long seed = 42;

  for(int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if(!strcmp(a, "--keep")) {
      keep = true;
      continue;
    }
    if(!v)
      die("%s: unknown option or missing value", a);
    if(!strcmp(a, "--exsync"))
      exsync_bin = v;
    else if(!strcmp(a, "--mailboxes"))
      n_mb = (size_t)strtoul(v, NULL, 10);
    else if(!strcmp(a, "--rounds"))
      rounds = strtol(v, NULL, 10);
    else if(!strcmp(a, "--seconds"))
      seconds = strtol(v, NULL, 10);
    else if(!strcmp(a, "--seed"))
      seed = strtoul(v, NULL, 10);
    else if(!strcmp(a, "--memory-limit-kb"))
      mem_limit_kb = strtol(v, NULL, 10);
    else if(!strcmp(a, "--memory-passes"))
      memory_passes = (int)strtol(v, NULL, 10);
    else
      die("%s: unknown option", a);
    i++;
  }
  if(!exsync_bin || n_mb < 2 || memory_passes < 3)
    die("usage: soak --exsync PATH [--mailboxes N>=2] [--rounds R | --seconds S] [--seed S] "
        "[--memory-passes P>=3] [--keep]");
  rng = seed * 0x9e3779b97f4a7c15ull + 1;
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  snprintf(dir, sizeof(dir), "/tmp/exsync-soak-XXXXXX");
  if(!mkdtemp(dir))
    die("mkdtemp: %s", strerror(errno));
  snprintf(db, sizeof(db), "%s/soak.db", dir);
  snprintf(bodyfile, sizeof(bodyfile), "%s/body.txt", dir);
  snprintf(log, sizeof(log), "%s/service.log", dir);
  {
    FILE *f = fopen(bodyfile, "w");
    fputs("A soak email.\n", f);
    fclose(f);
  }
  setenv("SOAK_PW", PW, 1);
  mbs = calloc(n_mb, sizeof(*mbs));
  emu = emu_new();
  if(!mbs || !emu)
    die("out of memory");
  if(emu_add_user(emu, "svc", PW, DOMAIN, err, sizeof(err)) ||
     emu_add_impersonator(emu, "svc", err, sizeof(err)) ||
     emu_add_user(emu, "desk", PW, DOMAIN, err, sizeof(err)) ||
     emu_add_impersonator(emu, "desk", err, sizeof(err)))
    die("%s", err);
  for(size_t i = 0; i < n_mb; i++) {
    char login[32];
    snprintf(login, sizeof(login), "mb%04zu", i);
    snprintf(mbs[i].addr, sizeof(mbs[i].addr), "%s@%s", login, DOMAIN);
    if(emu_add_user(emu, login, "unused-pw", DOMAIN, err, sizeof(err)))
      die("%s", err);
  }
  port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  if(port <= 0 || emu_start(emu, err, sizeof(err)))
    die("%s", err);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/EWS/Exchange.asmx", port);
  snprintf(org, sizeof(org), "%s/org.xml", dir);
  write_org(org);
  {
    const char *imp[] = {"import", org, NULL};
    const char *te[] = {"mailbox", "test-enable", "--all", NULL};
    struct run r;
    must(imp, "import");
    run(te, NULL, &r);
    if(!WIFEXITED(r.status) || WEXITSTATUS(r.status) > 1)
      die("mailbox test-enable failed (status %d)", r.status);
  }
  printf("soak: %zu mailboxes, seed %lu, work directory %s\n", n_mb, seed, dir);
  /* faults from here on, each with its own seed: which requests they hit
   * is fixed by the seed, not by timing */
  {
    static const char *const faults[] = {
        "http-status=503 probability=0.03 seed=%lu",
        "operation=GetItem cut-after=200 probability=0.02 seed=%lu",
        "operation=SyncFolderItems cut-after=0 probability=0.02 seed=%lu",
        "operation=CreateItem cut-after=120 probability=0.03 seed=%lu",
        "drip-bytes=700 drip-ms=0 probability=0.05 seed=%lu",
        "operation=UpdateItem reset probability=0.03 seed=%lu",
        "stall-ms=50 probability=0.02 seed=%lu",
        "ews-code=ErrorServerBusy backoff-ms=10 probability=0.02 seed=%lu",
    };
    for(size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
      char spec[256];
      size_t o = (size_t)snprintf(spec, sizeof(spec), "user=svc ");
      snprintf(spec + o, sizeof(spec) - o, faults[i], seed * 31 + i);
      if(emu_add_fault(emu, spec, err, sizeof(err)) < 0)
        die("fault %s: %s", spec, err);
    }
  }
  for(;;) {
    long kill_at, reqs = 0;
    if(seconds ? exs_monotonic_ms() - t0 >= seconds * 1000 : round >= rounds)
      break;
    traffic(emu, ++round);
    /* a kill somewhere in the round's requests (or at its end) */
    kill_at = 1 + (long)pick((size_t)(n_mb * 3));
    kills += service_round(kill_at, &reqs);
    requests_total += reqs;
    printf("round %d: killed at EWS request %ld of the service (asked %ld)\n", round, reqs,
           kill_at);
    fflush(stdout);
  }
  {
    long growth = memory_phase(emu, memory_passes, &round);
    /* the end: no more faults, one pass per workload until nothing is left */
    emu_clear_faults(emu);
    for(int i = 0; i < 3; i++) {
      const char *once[] = {"sync", "--once", "--all", "--quiet", NULL};
      struct run r;
      run(once, NULL, &r);
    }
    printf("soak: %d rounds, %ld SIGKILLs of the service (%ld EWS requests before them), "
           "%ld emails from outside, %ld queued between mailboxes, %ld CRM tasks added, "
           "%ld changed, %ld deleted, %ld Exchange tasks added, %.1f minutes\n",
           round, kills, requests_total, delivered, queued, act_crm_added, act_crm_changed,
           act_crm_deleted, act_ex_added, (double)(exs_monotonic_ms() - t0) / 60000.0);
    {
      struct emu_conn_stats cs;
      emu_conn_stats(emu, &cs);
      printf("soak: emulator: %zu EWS requests journalled (ring), %zu connections accepted\n",
             emu_journal_count(emu), cs.accepted);
    }
    final_checks(emu, growth);
  }
  emu_free(emu);
  free(mbs);
  if(!keep && !fails) {
    /* everything in the work directory (the store may leave temporary
     * files of a process killed while it opened the store) */
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[600];
    while(d && (e = readdir(d)) != NULL) {
      if(!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
        continue;
      snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
      unlink(p);
    }
    if(d)
      closedir(d);
    rmdir(dir);
  }
  printf("soak: %s\n", fails ? "FAILED" : "every check holds");
  return fails ? 1 : 0;
}
