/* bench_sync.c - the sync engine at scale (issue 6): incoming ingest of
 * MAILBOXES x ITEMS messages from the emulator daemon (messages per second,
 * EWS requests per message, store transactions per page, peak RSS), then an
 * outgoing send of EMAILS emails; and, when python3-exchangelib is
 * installed, the same messages fetched by exchangelib (sync_exchangelib.py),
 * printed as a ratio. Targets are printed, not asserted.
 *
 *   bench_sync [--mailboxes N] [--items M] [--emails E] [--connections C] [--skip-peer]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_scenario.h"
#include "bench_util.h"
#include "exsync/store.h"
#include "exsync/sync.h"

#ifndef BENCH_EMULATOR_PATH
#define BENCH_EMULATOR_PATH "exsync-emulator"
#endif
#ifndef BENCH_SYNC_PEER_SCRIPT
#define BENCH_SYNC_PEER_SCRIPT "sync_exchangelib.py"
#endif

#define DOMAIN "bench.example"
#define PREFIX "mb"
#define LOGIN "svc"
#define PASSWORD "svc-bench-pw"

static int setup_store(const char *db, const char *key, const char *url, size_t n, int connections)
{
  struct bench_world w = {n, 0, DOMAIN, PREFIX, LOGIN, PASSWORD};
  struct exs_store *st;
  struct exs_error err;
  struct exs_org org;
  struct exs_profile p;
  int result = -1;

  st = exs_store_open(db, key, &err);
  if(!st) {
    fprintf(stderr, "bench_sync: %s\n", err.message);
    return -1;
  }
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
  if(exs_store_org_put(st, &org, &err) || exs_store_profile_put(st, &p, &err))
    goto out;
  if(exs_store_begin(st, &err))
    goto out;
  for(size_t i = 0; i < n; i++) {
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
  if(exs_store_commit(st, &err))
    goto out;
  result = 0;
out:
  if(result)
    fprintf(stderr, "bench_sync: %s\n", err.message);
  exs_store_close(st);
  return result;
}

static int queue_emails(const char *db, const char *key, size_t n, size_t emails)
{
  struct bench_world w = {n, 0, DOMAIN, PREFIX, LOGIN, PASSWORD};
  struct exs_store *st = exs_store_open(db, key, NULL);
  struct exs_error err;
  char from[320], to[320], subject[64];
  int result = -1;

  if(!st || exs_store_begin(st, &err))
    goto out;
  /* measure sending alone: incoming is switched off for this pass */
  for(size_t i = 0; i < n; i++) {
    struct exs_mailbox m;
    bench_scenario_address(&w, i, from, sizeof(from));
    if(exs_store_mailbox_get(st, from, &m, &err))
      goto out;
    m.enabled[EXS_WL_INCOMING] = false;
    if(exs_store_mailbox_put(st, &m, &err))
      goto out;
  }
  for(size_t k = 0; k < emails; k++) {
    struct exs_activity a;
    memset(&a, 0, sizeof(a));
    bench_scenario_address(&w, k % n, from, sizeof(from));
    bench_scenario_address(&w, (k + 1) % n, to, sizeof(to));
    snprintf(a.mailbox, sizeof(a.mailbox), "%s", from);
    a.direction = EXS_DIR_OUTGOING;
    snprintf(a.state, sizeof(a.state), "%s", EXS_ACTIVITY_PENDING_SEND);
    snprintf(subject, sizeof(subject), "Bench mail %zu", k);
    a.subject = subject;
    a.recipients = to;
    a.body = (char *)"Sent by bench_sync.";
    if(exs_store_activity_add(st, &a, &err))
      goto out;
  }
  result = exs_store_commit(st, &err);
out:
  exs_store_close(st);
  return result;
}

static double cpu_now(void)
{
  struct rusage ru;

  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

static double peer_seconds(const char *url, size_t n, int connections, long *fetched, double *cpu)
{
  char nbuf[32], cbuf[32], line[256];
  char *argv[] = {"/usr/bin/python3",
                  BENCH_SYNC_PEER_SCRIPT,
                  "--url",
                  (char *)url,
                  "--user",
                  LOGIN,
                  "--password-env",
                  "BENCH_PEER_PASSWORD",
                  "--domain",
                  DOMAIN,
                  "--prefix",
                  PREFIX,
                  "--mailboxes",
                  nbuf,
                  "--connections",
                  cbuf,
                  NULL};
  char *probe[] = {"/usr/bin/python3", "-c", "import exchangelib", NULL};
  char *out = NULL;
  struct bench_child py;
  double seconds = -1;
  char err[256];

  if(bench_run_capture(probe, 20000, 4096, &out) != 0) {
    free(out);
    return -1;
  }
  free(out);
  snprintf(nbuf, sizeof(nbuf), "%zu", n);
  snprintf(cbuf, sizeof(cbuf), "%d", connections);
  setenv("BENCH_PEER_PASSWORD", PASSWORD, 1);
  if(bench_spawn(&py, argv, false, err, sizeof(err)) != 0)
    return -1;
  while(bench_child_line(&py, line, sizeof(line), 3600 * 1000) == 0)
    if(sscanf(line, "fetched %ld seconds %lf cpu %lf", fetched, &seconds, cpu) >= 2)
      break;
  bench_child_stop(&py, 5000);
  return seconds;
}

int main(int argc, char **argv)
{
  size_t mailboxes = 1000, items = 100, emails = 10000;
  int connections = 10;
  bool skip_peer = false;
  char dir[512], scenario[600], db[600], key[600], url[128], line[256], hostport[64] = "";
  char err[256];
  struct bench_child emu;
  struct bench_world w;
  struct exs_sync_options opt;
  struct exs_sync_stats in, out;
  struct exs_error e;
  double t0, t_in, t_out, peer, cpu0, cpu_in, peer_cpu = -1;
  long hwm_in = 0, hwm_out = 0, rss = 0, fetched = 0;
  char *emu_argv[] = {BENCH_EMULATOR_PATH, "--listen", "127.0.0.1:0", "--scenario", scenario, NULL};

  for(int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : "0";
    if(!strcmp(argv[i], "--mailboxes"))
      mailboxes = strtoul(v, NULL, 10), i++;
    else if(!strcmp(argv[i], "--items"))
      items = strtoul(v, NULL, 10), i++;
    else if(!strcmp(argv[i], "--emails"))
      emails = strtoul(v, NULL, 10), i++;
    else if(!strcmp(argv[i], "--connections"))
      connections = atoi(v), i++;
    else if(!strcmp(argv[i], "--skip-peer"))
      skip_peer = true;
    else {
      fprintf(stderr, "usage: bench_sync [--mailboxes N] [--items M] [--emails E] "
                      "[--connections C] [--skip-peer]\n");
      return 2;
    }
  }
  if(bench_tmpdir(dir, sizeof(dir)))
    return 1;
  snprintf(scenario, sizeof(scenario), "%s/world.xml", dir);
  snprintf(db, sizeof(db), "%s/bench.db", dir);
  snprintf(key, sizeof(key), "%s/bench.key", dir);
  w = (struct bench_world){mailboxes, items, DOMAIN, PREFIX, LOGIN, PASSWORD};
  if(bench_scenario_write(scenario, &w) < 0 ||
     bench_spawn(&emu, emu_argv, false, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench_sync: cannot start the emulator\n");
    return 1;
  }
  while(bench_child_line(&emu, line, sizeof(line), 600000) == 0)
    if(sscanf(line, "listening http %63s", hostport) == 1)
      break;
  if(!hostport[0]) {
    fprintf(stderr, "bench_sync: the emulator did not start\n");
    return 1;
  }
  snprintf(url, sizeof(url), "http://%s/EWS/Exchange.asmx", hostport);
  if(setup_store(db, key, url, mailboxes, connections))
    return 1;

  memset(&opt, 0, sizeof(opt));
  opt.ignore_schedule = true;
  opt.max_workers = (size_t)connections;
  memset(&in, 0, sizeof(in));
  cpu0 = cpu_now();
  t0 = bench_now_ms();
  if(exs_sync_pass(db, key, &opt, &in, NULL, &e)) {
    fprintf(stderr, "bench_sync: %s\n", e.message);
    return 1;
  }
  t_in = (bench_now_ms() - t0) / 1000.0;
  cpu_in = cpu_now() - cpu0; /* this process only: the emulator is a child */
  bench_proc_mem(0, &hwm_in, &rss);

  /* the peer reads the same messages before any email is sent */
  peer = skip_peer ? -1 : peer_seconds(url, mailboxes, connections, &fetched, &peer_cpu);

  /* outgoing on its own: incoming has nothing left to do */
  if(queue_emails(db, key, mailboxes, emails))
    return 1;
  memset(&out, 0, sizeof(out));
  t0 = bench_now_ms();
  if(exs_sync_pass(db, key, &opt, &out, NULL, &e)) {
    fprintf(stderr, "bench_sync: %s\n", e.message);
    return 1;
  }
  t_out = (bench_now_ms() - t0) / 1000.0;
  bench_proc_mem(0, &hwm_out, &rss);

  printf("# bench_sync: %zu mailboxes x %zu messages, %zu emails, %d connections\n", mailboxes,
         items, emails, connections);
  printf("incoming: %zu messages in %.2f s = %.0f messages/s (target >= 20000) %s, %zu EWS "
         "requests = %.3f per message, %zu pages = %zu store transactions (%.1f messages "
         "each), %zu errors, peak RSS %ld KiB\n",
         in.received, t_in, in.received / (t_in > 0 ? t_in : 1),
         in.received / (t_in > 0 ? t_in : 1) >= 20000 ? "met" : "NOT met", in.requests,
         in.received ? (double)in.requests / (double)in.received : 0.0, in.pages, in.pages,
         in.pages ? (double)in.received / (double)in.pages : 0.0, in.errors, hwm_in);
  printf("outgoing: %zu emails in %.2f s = %.0f emails/s, %zu EWS requests, %zu errors, peak "
         "RSS %ld KiB\n",
         out.sent, t_out, out.sent / (t_out > 0 ? t_out : 1), out.requests, out.errors, hwm_out);
  printf("incoming CPU (user + sys of the syncing process): %.2f s = %.1f us per message\n", cpu_in,
         in.received ? cpu_in * 1e6 / (double)in.received : 0.0);
  if(peer > 0) {
    double rate = in.received / (t_in > 0 ? t_in : 1);
    printf("peer: python3-exchangelib fetched %ld messages in %.2f s = %.0f messages/s; "
           "exsync is %.1fx (target >= 6x) %s\n",
           fetched, peer, fetched / peer, rate / (fetched / peer),
           rate / (fetched / peer) >= 6 ? "met" : "NOT met");
    if(peer_cpu > 0 && fetched > 0 && in.received)
      printf("peer CPU: %.1f us per message = %.1fx exsync's\n", peer_cpu * 1e6 / (double)fetched,
             (peer_cpu / (double)fetched) / (cpu_in / (double)in.received));
  }
  else
    printf("peer: python3-exchangelib not run (%s)\n",
           skip_peer ? "--skip-peer" : "not installed: apt-get install python3-exchangelib");
  bench_child_stop(&emu, 5000);
  bench_rmdir(dir);
  return in.errors || out.errors ? 1 : 0;
}
