/* bench_workers.c - many workers on one database (issue 16): ingest and send
 * rates of 1, 2 and 4 `exsync sync --once` worker processes on PostgreSQL
 * (a throwaway cluster, suites/pgtest.c, fsync on) next to one worker on
 * SQLite, in one run against one emulator daemon. Per configuration: a
 * fresh store with MAILBOXES mailboxes, all workers started together, the
 * wall time until the last one exits; first incoming (MAILBOXES x ITEMS
 * messages), then outgoing alone (EMAILS queued, incoming switched off).
 * Printed: messages/s and emails/s, EWS round trips per message and per
 * email, store transactions per incoming page and per message (counted by
 * the workers' "store.commit" fault point: builds with fault points only,
 * e.g. RelWithDebInfo; else n/a). Figures are printed, never asserted.
 *
 *   bench_workers [--mailboxes N] [--items M] [--emails E] [--threads T]
 *                 [--connections C]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_scenario.h"
#include "bench_util.h"
#include "exsync/store.h"
#include "pgtest.h"

#ifndef BENCH_EMULATOR_PATH
#define BENCH_EMULATOR_PATH "exsync-emulator"
#endif
#ifndef BENCH_EXSYNC_PATH
#define BENCH_EXSYNC_PATH "exsync"
#endif

#define DOMAIN "bench.example"
#define PREFIX "mb"
#define LOGIN "svc"
#define PASSWORD "svc-bench-pw"
#define RECIPIENT LOGIN "@" DOMAIN /* in the emulator, not in the store */
#define MAX_WORKERS 4

struct totals {
  size_t received, sent, requests, pages, errors;
  long commits; /* -1: not counted (no fault points) */
  double seconds;
};

static size_t n_mailboxes = 200, n_items = 100, n_emails = 2000;
static int threads = 4, connections = 16;
static char dir[512], key[600], url[128];

static int setup_store(const char *db)
{
  struct bench_world w = {n_mailboxes, 0, DOMAIN, PREFIX, LOGIN, PASSWORD};
  struct exs_store *st = exs_store_open(db, key, NULL);
  struct exs_error err;
  struct exs_org org;
  struct exs_profile p;
  int result = -1;

  exs_error_clear(&err);
  if(!st)
    goto out;
  exs_org_defaults(&org);
  snprintf(org.id, sizeof(org.id), "0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
  org.allow_non_ssl = org.allow_credentials_non_secure = org.allow_basic_non_secure = true;
  exs_profile_defaults(&p);
  snprintf(p.name, sizeof(p.name), "bench");
  snprintf(p.incoming_url, sizeof(p.incoming_url), "%s", url);
  p.retrieval = EXS_RETRIEVAL_PROFILE;
  p.impersonation = true;
  snprintf(p.user, sizeof(p.user), "%s", LOGIN);
  snprintf(p.password, sizeof(p.password), "%s", PASSWORD);
  p.protocol = EXS_AUTH_BASIC;
  p.max_connections = connections;
  if(exs_store_org_put(st, &org, &err) || exs_store_profile_put(st, &p, &err) ||
     exs_store_begin(st, &err))
    goto out;
  for(size_t i = 0; i < n_mailboxes; i++) {
    struct exs_mailbox m;
    exs_mailbox_defaults(&m);
    bench_scenario_address(&w, i, m.address, sizeof(m.address));
    snprintf(m.name, sizeof(m.name), "Mailbox %zu", i);
    snprintf(m.profile, sizeof(m.profile), "bench");
    m.incoming = EXS_IN_SSYNC;
    m.outgoing = EXS_OUT_SSYNC;
    m.act = EXS_ACT_NONE;
    m.approval = EXS_APPROVAL_APPROVED;
    m.track = EXS_TRACK_ALL;
    m.enabled[EXS_WL_INCOMING] = m.enabled[EXS_WL_OUTGOING] = true;
    if(exs_store_mailbox_put(st, &m, &err))
      goto out;
  }
  result = exs_store_commit(st, &err);
out:
  if(result)
    fprintf(stderr, "bench_workers: %s: %s\n", db, err.message[0] ? err.message : "cannot open");
  exs_store_close(st);
  return result;
}

/* Incoming off, every mailbox due again, EMAILS queued to the service user. */
static int queue_emails(const char *db)
{
  struct bench_world w = {n_mailboxes, 0, DOMAIN, PREFIX, LOGIN, PASSWORD};
  struct exs_store *st = exs_store_open(db, key, NULL);
  struct exs_error err;
  char from[320], subject[64];
  int result = -1;

  exs_error_clear(&err);
  if(!st || exs_store_begin(st, &err))
    goto out;
  for(size_t i = 0; i < n_mailboxes; i++) {
    struct exs_mailbox m;
    bench_scenario_address(&w, i, from, sizeof(from));
    if(exs_store_mailbox_get(st, from, &m, &err))
      goto out;
    m.enabled[EXS_WL_INCOMING] = false;
    m.postponed_until = 0;
    if(exs_store_mailbox_put(st, &m, &err))
      goto out;
  }
  for(size_t k = 0; k < n_emails; k++) {
    struct exs_activity a;
    memset(&a, 0, sizeof(a));
    bench_scenario_address(&w, k % n_mailboxes, from, sizeof(from));
    snprintf(a.mailbox, sizeof(a.mailbox), "%s", from);
    a.direction = EXS_DIR_OUTGOING;
    snprintf(a.state, sizeof(a.state), "%s", EXS_ACTIVITY_PENDING_SEND);
    snprintf(subject, sizeof(subject), "Bench mail %zu", k);
    a.subject = subject;
    a.recipients = (char *)RECIPIENT;
    a.body = (char *)"Sent by bench_workers.";
    if(exs_store_activity_add(st, &a, &err))
      goto out;
  }
  result = exs_store_commit(st, &err);
out:
  if(result)
    fprintf(stderr, "bench_workers: %s\n", err.message);
  exs_store_close(st);
  return result;
}

static size_t json_num(const char *line, const char *name)
{
  char pat[64];
  const char *p;

  snprintf(pat, sizeof(pat), "\"%s\": ", name);
  p = strstr(line, pat);
  return p ? strtoul(p + strlen(pat), NULL, 10) : 0;
}

/* "store.commit N" from a fault counts file; -1 when there is none. */
static long commits_in(const char *path)
{
  FILE *f = fopen(path, "r");
  char name[64];
  long n, total = -1;

  if(!f)
    return -1;
  while(fscanf(f, "%63s %ld", name, &n) == 2)
    if(!strcmp(name, "store.commit"))
      total = n;
  fclose(f);
  return total;
}

/* Run n workers `exsync sync --once` together on db; their stats summed. */
static int run_workers(const char *db, int n, struct totals *t)
{
  struct bench_child c[MAX_WORKERS];
  char counts[MAX_WORKERS][640], host[MAX_WORKERS][16], tbuf[16], line[1024], err[256];
  double t0;
  int result = 0;

  memset(t, 0, sizeof(*t));
  snprintf(tbuf, sizeof(tbuf), "%d", threads);
  t0 = bench_now_ms();
  for(int k = 0; k < n; k++) {
    char *argv[] = {BENCH_EXSYNC_PATH,
                    "--db",
                    (char *)db,
                    "--key-file",
                    key,
                    "--format",
                    "json",
                    "sync",
                    "--once",
                    "--workers",
                    tbuf,
                    "--host",
                    host[k],
                    "--lease",
                    "30",
                    NULL};
    snprintf(host[k], sizeof(host[k]), "bench%d", k + 1);
    snprintf(counts[k], sizeof(counts[k]), "%s/counts.%d", dir, k);
    unlink(counts[k]);
    setenv("EXSYNC_FAULT_COUNTS", counts[k], 1);
    if(bench_spawn(&c[k], argv, false, err, sizeof(err)) != 0) {
      fprintf(stderr, "bench_workers: %s\n", err);
      return -1;
    }
  }
  unsetenv("EXSYNC_FAULT_COUNTS");
  for(int k = 0; k < n; k++) {
    while(bench_child_line(&c[k], line, sizeof(line), 3600 * 1000) == 0) {
      if(!strstr(line, "\"received\""))
        continue;
      t->received += json_num(line, "received");
      t->sent += json_num(line, "sent");
      t->requests += json_num(line, "requests");
      t->pages += json_num(line, "pages");
      t->errors += json_num(line, "errors");
    }
    if(bench_child_stop(&c[k], 600 * 1000) != 0)
      result = -1;
  }
  t->seconds = (bench_now_ms() - t0) / 1000.0;
  t->commits = 0;
  for(int k = 0; k < n; k++) {
    long v = commits_in(counts[k]);
    if(v < 0) {
      t->commits = -1;
      break;
    }
    t->commits += v;
  }
  return result;
}

static void print_row(const char *what, const struct totals *in, const struct totals *out)
{
  char tx_page[32] = "n/a", tx_msg[32] = "n/a";

  if(in->commits >= 0 && in->pages)
    snprintf(tx_page, sizeof(tx_page), "%.2f", (double)in->commits / (double)in->pages);
  if(in->commits >= 0 && in->received)
    snprintf(tx_msg, sizeof(tx_msg), "%.3f", (double)in->commits / (double)in->received);
  printf("| %-16s | %7.0f | %6.2f | %5.3f | %6s | %5s | %7.0f | %6.2f | %5.3f | %zu |\n", what,
         in->received / (in->seconds > 0 ? in->seconds : 1), in->seconds,
         in->received ? (double)in->requests / (double)in->received : 0.0, tx_page, tx_msg,
         out->sent / (out->seconds > 0 ? out->seconds : 1), out->seconds,
         out->sent ? (double)out->requests / (double)out->sent : 0.0, in->errors + out->errors);
  fflush(stdout);
}

int main(int argc, char **argv)
{
  static const struct {
    bool pg;
    int workers;
  } configs[] = {{false, 1}, {true, 1}, {true, 2}, {true, 4}};
  char scenario[600], line[256], hostport[64] = "", err[512], db[600];
  struct bench_child emu;
  struct bench_world w;
  struct pgtest *pg = NULL;
  struct pgtest_options po = {1, 0};
  int status = 0;
  char *emu_argv[] = {BENCH_EMULATOR_PATH, "--listen", "127.0.0.1:0", "--scenario", scenario, NULL};

  for(int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : "0";
    if(!strcmp(argv[i], "--mailboxes"))
      n_mailboxes = strtoul(v, NULL, 10), i++;
    else if(!strcmp(argv[i], "--items"))
      n_items = strtoul(v, NULL, 10), i++;
    else if(!strcmp(argv[i], "--emails"))
      n_emails = strtoul(v, NULL, 10), i++;
    else if(!strcmp(argv[i], "--threads"))
      threads = atoi(v), i++;
    else if(!strcmp(argv[i], "--connections"))
      connections = atoi(v), i++;
    else {
      fprintf(stderr, "usage: bench_workers [--mailboxes N] [--items M] [--emails E] "
                      "[--threads T] [--connections C]\n");
      return 2;
    }
  }
  if(!n_mailboxes || threads < 1 || connections < 1)
    return 2;
  bench_signals_install();
  if(bench_tmpdir(dir, sizeof(dir)))
    return 1;
  snprintf(scenario, sizeof(scenario), "%s/world.xml", dir);
  snprintf(key, sizeof(key), "%s/bench.key", dir);
  w = (struct bench_world){n_mailboxes, n_items, DOMAIN, PREFIX, LOGIN, PASSWORD};
  if(bench_scenario_write(scenario, &w) < 0 ||
     bench_spawn(&emu, emu_argv, false, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench_workers: cannot start the emulator\n");
    return 1;
  }
  while(bench_child_line(&emu, line, sizeof(line), 600000) == 0)
    if(sscanf(line, "listening http %63s", hostport) == 1)
      break;
  if(!hostport[0]) {
    fprintf(stderr, "bench_workers: the emulator did not start\n");
    return 1;
  }
  snprintf(url, sizeof(url), "http://%s/EWS/Exchange.asmx", hostport);
  pg = pgtest_start(&po, err, sizeof(err));
  if(!pg)
    fprintf(stderr, "bench_workers: no PostgreSQL (%s): SQLite only\n", err);

  printf("# bench_workers: %zu mailboxes x %zu messages, %zu emails; %d threads per worker, "
         "%d connections per credential across the workers\n",
         n_mailboxes, n_items, n_emails, threads, connections);
  printf("| store, workers   | msgs/s  | in s   | EWS/msg | tx/page | tx/msg | emails/s | out s "
         "| EWS/email | errors |\n");
  printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for(size_t c = 0; c < sizeof(configs) / sizeof(configs[0]); c++) {
    struct totals in, out;
    char what[32];
    if(configs[c].pg && !pg)
      continue;
    if(configs[c].pg) {
      if(pgtest_createdb(pg, db, sizeof(db), err, sizeof(err))) {
        fprintf(stderr, "bench_workers: %s\n", err);
        status = 1;
        continue;
      }
    }
    else
      snprintf(db, sizeof(db), "%s/bench-%zu.db", dir, c);
    snprintf(what, sizeof(what), "%s, %d", configs[c].pg ? "PostgreSQL" : "SQLite",
             configs[c].workers);
    if(setup_store(db) || run_workers(db, configs[c].workers, &in) || queue_emails(db) ||
       run_workers(db, configs[c].workers, &out)) {
      status = 1;
      continue;
    }
    print_row(what, &in, &out);
    if(in.received != n_mailboxes * n_items || out.sent != n_emails)
      fprintf(stderr, "bench_workers: %s: %zu received, %zu sent (expected %zu, %zu)\n", what,
              in.received, out.sent, n_mailboxes * n_items, n_emails);
  }
  pgtest_stop(pg);
  bench_child_stop(&emu, 5000);
  bench_rmdir(dir);
  return status;
}
