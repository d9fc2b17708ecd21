/* bench_testenable.c - Test & Enable of a whole profile against the emulator
 * (issue 5), and python3-exchangelib making the same EWS calls as a peer.
 *
 *   bench_testenable [--mailboxes N] [--connections LIST] [--peer-mailboxes N]
 *                    [--peer-connections N] [--emulator PATH] [--python PATH]
 *                    [--peer-script PATH] [--skip-peer]
 *
 * The emulator runs as the exsync-emulator daemon in a child process (plain
 * HTTP on 127.0.0.1, port 0) with a generated scenario: N empty mailboxes
 * and one service user allowed to impersonate them all. A fresh daemon is
 * started for every run so each run's VmHWM is its own.
 *
 * For each max-connections value (default 10 and 50) a forked child of this
 * program runs exs_testenable_batch over the N mailboxes of one profile
 * (profile credentials, impersonation, Basic, the EWS URL fixed, incoming,
 * outgoing and ACT by server-side sync), so its peak RSS (wait4 rusage) is
 * the run's own. Figures: mailboxes per second, EWS requests per mailbox
 * (the emulator journal's sequence numbers before and after, read through
 * the admin API), the journal's largest in-flight count for the service
 * user, peak RSS of both processes, client CPU per mailbox and per EWS
 * request. The peer (te_exchangelib.py) runs the 9 EWS operations exsync
 * made before issue 15 (exsync: 6) for --peer-mailboxes mailboxes (spread
 * evenly over the world, so the emulator looks them up as it does for exsync) with the
 * Debian python3-exchangelib, once before and once after the exsync runs;
 * the faster of the two is the rate the ratio is taken against.
 * Targets from issue 5 are printed beside the figures, never asserted.
 * Exit 0 when every figure was measured, 1 otherwise.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_scenario.h"
#include "bench_util.h"
#include "exsync/model.h"
#include "exsync/testenable.h"

#ifndef BENCH_EMULATOR_PATH
#define BENCH_EMULATOR_PATH "exsync-emulator"
#endif
#ifndef BENCH_LEAN_SCRIPT
#define BENCH_LEAN_SCRIPT "te_lean.py"
#endif
#ifndef BENCH_PEER_SCRIPT
#define BENCH_PEER_SCRIPT "te_exchangelib.py"
#endif

#define LOGIN "svc"
#define PASSWORD "svc-bench-pw"
#define DOMAIN "bench.example"
#define PREFIX "mb"
#define MAX_RUNS 8
#define RUN_TIMEOUT_MS (300 * 1000)

struct opts {
  const char *emulator, *python, *peer_script, *lean_script;
  int lean_connections; /* threads of the standard-library peer */
  size_t mailboxes, peer_mailboxes;
  int connections[MAX_RUNS];
  int nconnections;
  int peer_connections;
  bool skip_peer;
};

/* What one run measured. */
struct figures {
  bool ok;
  size_t mailboxes;
  size_t succeeded; /* all three workloads Success */
  double seconds;
  long client_maxrss_kb; /* the Test & Enable process (or the Python peer) */
  double client_cpu_s;   /* its user + system CPU seconds */
  long emu_hwm_kb;       /* the emulator daemon's VmHWM */
  long requests;         /* journal sequence delta */
  int max_in_flight;     /* largest in_flight among the journal's last entries */
  char mix[512];         /* operation counts in the journal's last entries */
};

/* ---- the daemon and its admin API ---- */

struct emud {
  struct bench_child child;
  char http[64];
};

static int emud_start(struct emud *d, const struct opts *o, const char *scenario, char *err,
                      size_t errlen)
{
  char *argv[] = {(char *)o->emulator, "--listen",       "127.0.0.1:0",
                  "--scenario",        (char *)scenario, NULL};
  char line[256];

  memset(d, 0, sizeof(*d));
  if(bench_spawn(&d->child, argv, false, err, errlen) != 0)
    return -1;
  while(bench_child_line(&d->child, line, sizeof(line), 120000) == 0)
    if(sscanf(line, "listening http %63s", d->http) == 1)
      return 0;
  snprintf(err, errlen, "the emulator printed no 'listening http' line");
  bench_child_stop(&d->child, 2000);
  return -1;
}

struct grow {
  char *data;
  size_t len, cap;
};

static size_t grow_write(char *p, size_t size, size_t n, void *arg)
{
  struct grow *g = arg;
  size_t add = size * n;

  if(g->len + add + 1 > g->cap) {
    size_t nc = (g->len + add + 1) * 2;
    char *nd = realloc(g->data, nc);
    if(!nd)
      return 0;
    g->data = nd;
    g->cap = nc;
  }
  memcpy(g->data + g->len, p, add);
  g->len += add;
  g->data[g->len] = '\0';
  return add;
}

/* GET the admin journal (JSON array of the newest entries). Caller frees. */
static char *journal(const struct emud *d)
{
  CURL *c = curl_easy_init();
  struct grow g;
  char url[256];
  long status = 0;

  memset(&g, 0, sizeof(g));
  if(!c)
    return NULL;
  snprintf(url, sizeof(url), "http://%s/_emulator/journal", d->http);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &g);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  if(curl_easy_perform(c) != CURLE_OK ||
     (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status), status != 200)) {
    free(g.data);
    g.data = NULL;
  }
  curl_easy_cleanup(c);
  return g.data;
}

/* The last "seq" of a journal answer (0 when empty). */
static long last_seq(const char *j)
{
  long seq = 0;

  for(const char *p = j; (p = strstr(p, "\"seq\":")) != NULL; p += 6)
    seq = strtol(p + 6, NULL, 10);
  return seq;
}

/* Operation counts and the largest in_flight among non-admin entries. */
static void journal_mix(const char *j, char *mix, size_t len, int *max_in_flight)
{
  struct {
    char op[64];
    long n;
  } ops[24];
  size_t nops = 0, o = 0;

  memset(ops, 0, sizeof(ops));
  *max_in_flight = 0;
  for(const char *p = j; (p = strstr(p, "\"operation\":\"")) != NULL;) {
    char op[64];
    const char *q;
    size_t k;
    p += 13;
    q = strchr(p, '"');
    if(!q)
      break;
    snprintf(op, sizeof(op), "%.*s", (int)(q - p), p);
    if(strcmp(op, "admin") != 0) {
      const char *f = strstr(q, "\"in_flight\":");
      int v = f ? atoi(f + 12) : 0;
      if(v > *max_in_flight)
        *max_in_flight = v;
      for(k = 0; k < nops && strcmp(ops[k].op, op); k++)
        ;
      if(k == nops && nops < 24)
        snprintf(ops[nops++].op, sizeof(ops[0].op), "%s", op);
      if(k < nops)
        ops[k].n++;
    }
    p = q;
  }
  mix[0] = '\0';
  for(size_t k = 0; k < nops && o < len; k++)
    o += (size_t)snprintf(mix + o, len - o, "%s%s %ld", k ? ", " : "", ops[k].op, ops[k].n);
}

/* ---- the Test & Enable run, in a forked child ---- */

struct child_report {
  size_t succeeded;
  double seconds;
};

static void te_child(const struct opts *o, const char *url, int max_conn, int fd)
{
  struct exs_org org;
  struct exs_profile p;
  struct exs_mailbox *m = calloc(o->mailboxes, sizeof(*m));
  struct exs_te_result *res = calloc(o->mailboxes, sizeof(*res));
  struct exs_te_batch_options bo;
  struct bench_world w = {o->mailboxes, 0, DOMAIN, PREFIX, LOGIN, PASSWORD};
  struct exs_invalid inv;
  struct child_report rep;
  double t0;

  memset(&rep, 0, sizeof(rep));
  if(!m || !res)
    _exit(3);
  exs_org_defaults(&org);
  snprintf(org.id, sizeof(org.id), "0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
  org.allow_non_ssl = org.allow_credentials_non_secure = org.allow_basic_non_secure = true;
  exs_profile_defaults(&p);
  snprintf(p.name, sizeof(p.name), "bench");
  p.autodiscover = false;
  snprintf(p.incoming_url, sizeof(p.incoming_url), "%s", url);
  p.same_outgoing = true;
  p.retrieval = EXS_RETRIEVAL_PROFILE;
  p.impersonation = true;
  snprintf(p.user, sizeof(p.user), "%s", LOGIN);
  snprintf(p.password, sizeof(p.password), "%s", PASSWORD);
  p.protocol = EXS_AUTH_BASIC;
  p.max_connections = max_conn;
  if(exs_profile_validate(&p, &inv) != 0) {
    fprintf(stderr, "bench_testenable: profile: %s: %s\n", inv.field, inv.rule);
    _exit(3);
  }
  for(size_t i = 0; i < o->mailboxes; i++) {
    exs_mailbox_defaults(&m[i]);
    bench_scenario_address(&w, i, m[i].address, sizeof(m[i].address));
    snprintf(m[i].name, sizeof(m[i].name), "Mailbox %zu", i);
    snprintf(m[i].profile, sizeof(m[i].profile), "bench");
    m[i].incoming = EXS_IN_SSYNC;
    m[i].outgoing = EXS_OUT_SSYNC;
    m[i].act = EXS_ACT_SSYNC;
    m[i].approval = EXS_APPROVAL_APPROVED;
  }
  memset(&bo, 0, sizeof(bo));
  bo.te.delivery_timeout_ms = 10000;
  bo.max_workers = (size_t)max_conn;
  t0 = bench_now_ms();
  exs_testenable_batch(&org, &p, 1, m, o->mailboxes, &bo, res);
  rep.seconds = (bench_now_ms() - t0) / 1000.0;
  for(size_t i = 0; i < o->mailboxes; i++) {
    bool all = true;
    for(int k = 0; k < EXS_WL_COUNT; k++)
      if(res[i].status[k] != EXS_STATUS_SUCCESS)
        all = false;
    if(all)
      rep.succeeded++;
    else if(i == 0 || rep.succeeded == 0)
      fprintf(stderr, "bench_testenable: %s: %s\n", m[i].address,
              res[i].n_alerts ? res[i].alerts[0].error.message : "failed");
  }
  if(write(fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
    _exit(4);
  _exit(0);
}

/* Wait for pid at most timeout_ms (then SIGKILL); rusage of the child. */
static int wait_child(pid_t pid, int timeout_ms, struct rusage *ru)
{
  double deadline = bench_now_ms() + timeout_ms;
  int status = -1;

  for(;;) {
    pid_t r = wait4(pid, &status, WNOHANG, ru);
    if(r == pid)
      return status;
    if(r < 0)
      return -1;
    if(bench_now_ms() > deadline) {
      kill(pid, SIGKILL);
      wait4(pid, &status, 0, ru);
      return -1;
    }
    usleep(20000); /* polling a child's exit */
  }
}

static double cpu_seconds(const struct rusage *ru)
{
  return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 + (double)ru->ru_stime.tv_sec +
         ru->ru_stime.tv_usec / 1e6;
}

static void measure_journal_before(const struct emud *d, long *seq)
{
  char *j = journal(d);

  /* this GET is journaled after it answers: it takes seq + 1 */
  *seq = (j ? last_seq(j) : 0) + 1;
  free(j);
}

static void measure_journal_after(const struct emud *d, long before, struct figures *f)
{
  char *j = journal(d);

  if(!j)
    return;
  f->requests = last_seq(j) - before;
  journal_mix(j, f->mix, sizeof(f->mix), &f->max_in_flight);
  free(j);
}

static void te_run(const struct opts *o, const char *scenario, int max_conn, struct figures *f)
{
  struct emud d;
  struct child_report rep;
  struct rusage ru;
  char err[1024], url[256];
  long before = 0, rss = 0;
  int fds[2], status;
  pid_t pid;

  memset(f, 0, sizeof(*f));
  if(emud_start(&d, o, scenario, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench_testenable: %s\n", err);
    return;
  }
  snprintf(url, sizeof(url), "http://%s/EWS/Exchange.asmx", d.http);
  measure_journal_before(&d, &before);
  if(pipe(fds) != 0)
    goto out;
  fflush(NULL);
  pid = fork();
  if(pid == 0) {
    bench_signals_default();
    close(fds[0]);
    te_child(o, url, max_conn, fds[1]);
  }
  close(fds[1]);
  if(pid < 0) {
    close(fds[0]);
    goto out;
  }
  bench_child_register(pid);
  memset(&ru, 0, sizeof(ru));
  status = wait_child(pid, RUN_TIMEOUT_MS, &ru);
  bench_child_forget(pid);
  if(status == 0 && read(fds[0], &rep, sizeof(rep)) == (ssize_t)sizeof(rep)) {
    f->ok = true;
    f->mailboxes = o->mailboxes;
    f->succeeded = rep.succeeded;
    f->seconds = rep.seconds;
    f->client_maxrss_kb = ru.ru_maxrss;
    f->client_cpu_s = cpu_seconds(&ru);
  }
  else {
    fprintf(stderr, "bench_testenable: the Test & Enable run failed or timed out\n");
  }
  close(fds[0]);
  bench_proc_mem(d.child.pid, &f->emu_hwm_kb, &rss);
  measure_journal_after(&d, before, f);
out:
  bench_child_stop(&d.child, 5000);
}

/* ---- the exchangelib peer ---- */

static void peer_run(const struct opts *o, const char *scenario, const char *script, int conns,
                     struct figures *f)
{
  struct emud d;
  struct rusage ru;
  char err[1024], url[256], n[32], c[32], stride[32], line[512];
  long before = 0, rss = 0;
  struct bench_child py;

  memset(f, 0, sizeof(*f));
  if(emud_start(&d, o, scenario, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench_testenable: %s\n", err);
    return;
  }
  snprintf(url, sizeof(url), "http://%s/EWS/Exchange.asmx", d.http);
  snprintf(n, sizeof(n), "%zu", o->peer_mailboxes);
  snprintf(c, sizeof(c), "%d", conns);
  snprintf(stride, sizeof(stride), "%zu", o->mailboxes / o->peer_mailboxes);
  measure_journal_before(&d, &before);
  {
    char *argv[] = {(char *)o->python,
                    (char *)script,
                    "--url",
                    url,
                    "--user",
                    LOGIN,
                    "--password-env",
                    "BENCH_PEER_PASSWORD",
                    "--domain",
                    DOMAIN,
                    "--prefix",
                    PREFIX,
                    "--mailboxes",
                    n,
                    "--connections",
                    c,
                    "--stride",
                    stride,
                    NULL};
    setenv("BENCH_PEER_PASSWORD", PASSWORD, 1);
    if(bench_spawn(&py, argv, false, err, sizeof(err)) != 0) {
      fprintf(stderr, "bench_testenable: %s\n", err);
      goto out;
    }
  }
  /* the script prints one line: "mailboxes N succeeded K seconds S" */
  while(bench_child_line(&py, line, sizeof(line), RUN_TIMEOUT_MS) == 0) {
    double s;
    size_t k, m;
    if(sscanf(line, "mailboxes %zu succeeded %zu seconds %lf", &m, &k, &s) == 3) {
      f->ok = true;
      f->mailboxes = m;
      f->succeeded = k;
      f->seconds = s;
    }
  }
  memset(&ru, 0, sizeof(ru));
  if(wait_child(py.pid, 30000, &ru) != 0)
    f->ok = false;
  bench_child_forget(py.pid);
  close(py.out_fd);
  f->client_maxrss_kb = ru.ru_maxrss;
  f->client_cpu_s = cpu_seconds(&ru);
  bench_proc_mem(d.child.pid, &f->emu_hwm_kb, &rss);
  measure_journal_after(&d, before, f);
out:
  bench_child_stop(&d.child, 5000);
}

/* ---- output ---- */

static double cpu_ms_per_mailbox(const struct figures *f)
{
  return f->mailboxes ? f->client_cpu_s * 1000.0 / (double)f->mailboxes : 0;
}

static double requests_per_mailbox(const struct figures *f)
{
  return f->mailboxes && f->requests > 0 ? (double)f->requests / (double)f->mailboxes : 1.0;
}

static void print_run(const char *who, int conns, const struct figures *f)
{
  char a[32], b[32];
  double rate = f->seconds > 0 ? (double)f->mailboxes / f->seconds : 0;

  printf("%s, %zu mailboxes, max connections %d: %.0f mailboxes/s (%.2f s), %zu of %zu "
         "all workloads Success\n",
         who, f->mailboxes, conns, rate, f->seconds, f->succeeded, f->mailboxes);
  printf("  EWS requests per mailbox (emulator journal): %.2f (%ld requests); largest "
         "in-flight per user in the last journal entries: %d\n",
         f->mailboxes ? (double)f->requests / (double)f->mailboxes : 0, f->requests,
         f->max_in_flight);
  printf("  operations (newest journal entries): %s\n", f->mix);
  printf("  peak RSS: client %s (wait4 rusage), emulator %s (VmHWM of exsync-emulator)\n",
         bench_kib(f->client_maxrss_kb, a, sizeof(a)), bench_kib(f->emu_hwm_kb, b, sizeof(b)));
  printf("  client CPU (user + sys, wait4 rusage): %.2f s = %.3f ms per mailbox\n", f->client_cpu_s,
         cpu_ms_per_mailbox(f));
}

static int parse_args(int argc, char **argv, struct opts *o)
{
  o->emulator = BENCH_EMULATOR_PATH;
  o->python = "/usr/bin/python3"; /* Debian's python3-exchangelib lives there */
  o->peer_script = BENCH_PEER_SCRIPT;
  o->lean_script = BENCH_LEAN_SCRIPT;
  o->lean_connections = 16;
  o->mailboxes = 10000;
  o->peer_mailboxes = 500;
  o->connections[0] = 10;
  o->connections[1] = 50;
  o->nconnections = 2;
  o->peer_connections = 10;
  for(int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if(!strcmp(a, "--skip-peer")) {
      o->skip_peer = true;
      continue;
    }
    if(!v)
      return -1;
    if(!strcmp(a, "--emulator"))
      o->emulator = v;
    else if(!strcmp(a, "--python"))
      o->python = v;
    else if(!strcmp(a, "--peer-script"))
      o->peer_script = v;
    else if(!strcmp(a, "--mailboxes"))
      o->mailboxes = (size_t)strtoul(v, NULL, 10);
    else if(!strcmp(a, "--peer-mailboxes"))
      o->peer_mailboxes = (size_t)strtoul(v, NULL, 10);
    else if(!strcmp(a, "--peer-connections"))
      o->peer_connections = atoi(v);
    else if(!strcmp(a, "--connections")) {
      char buf[256], *save = NULL;
      snprintf(buf, sizeof(buf), "%s", v);
      o->nconnections = 0;
      for(char *t = strtok_r(buf, ",", &save); t && o->nconnections < MAX_RUNS;
          t = strtok_r(NULL, ",", &save)) {
        int c = atoi(t);
        if(c < 1 || c > 300)
          return -1;
        o->connections[o->nconnections++] = c;
      }
      if(!o->nconnections)
        return -1;
    }
    else
      return -1;
    i++;
  }
  if(o->mailboxes < 1 || o->mailboxes > 100000 || o->peer_mailboxes < 1 ||
     o->peer_connections < 1 || o->peer_connections > 300)
    return -1;
  if(o->peer_mailboxes > o->mailboxes)
    o->peer_mailboxes = o->mailboxes;
  return 0;
}

int main(int argc, char **argv)
{
  struct opts o;
  struct figures runs[MAX_RUNS], peer, peer_before, lean;
  struct bench_world w;
  char dir[4096], scen[4096];
  bool all_ok = true;
  double best50 = 0;

  memset(&o, 0, sizeof(o));
  memset(&peer, 0, sizeof(peer));
  memset(&peer_before, 0, sizeof(peer_before));
  memset(&lean, 0, sizeof(lean));
  setvbuf(stdout, NULL, _IOLBF, 0);
  if(parse_args(argc, argv, &o) != 0) {
    fprintf(stderr, "usage: bench_testenable [--mailboxes N] [--connections 10,50] "
                    "[--peer-mailboxes N] [--peer-connections N] [--emulator PATH] "
                    "[--python PATH] [--peer-script PATH] [--skip-peer]\n");
    return 2;
  }
  if(bench_tmpdir(dir, sizeof(dir)) != 0) {
    perror("bench_testenable: mkdtemp");
    return 1;
  }
  bench_signals_install();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  w = (struct bench_world){o.mailboxes, 0, DOMAIN, PREFIX, LOGIN, PASSWORD};
  snprintf(scen, sizeof(scen), "%s/te-world.xml", dir);
  if(bench_scenario_write(scen, &w) < 0) {
    fprintf(stderr, "bench_testenable: cannot write %s\n", scen);
    return 1;
  }
  printf("# bench_testenable: %s (daemon, plain HTTP on 127.0.0.1, Basic, impersonation), "
         "%ld online CPUs\n",
         o.emulator, sysconf(_SC_NPROCESSORS_ONLN));
  /* the peer runs before and after exsync: background load moves a lot on
   * a shared machine, and the faster of its two runs is the one compared */
  if(!o.skip_peer)
    peer_run(&o, scen, o.peer_script, o.peer_connections, &peer_before);
  for(int i = 0; i < o.nconnections; i++) {
    te_run(&o, scen, o.connections[i], &runs[i]);
    if(!runs[i].ok) {
      printf("exsync Test & Enable, max connections %d: not measured\n", o.connections[i]);
      all_ok = false;
      continue;
    }
    print_run("exsync Test & Enable", o.connections[i], &runs[i]);
    if(runs[i].succeeded != runs[i].mailboxes)
      all_ok = false;
    if(o.connections[i] == 50) {
      best50 = (double)runs[i].mailboxes / runs[i].seconds;
      printf("  at 50 connections: %.0f mailboxes/s (target >= 1500) %s\n", best50,
             best50 >= 1500 ? "met" : "NOT met");
    }
  }
  if(!o.skip_peer) {
    peer_run(&o, scen, o.peer_script, o.peer_connections, &peer);
    if(peer_before.ok)
      print_run("python3-exchangelib peer (before exsync)", o.peer_connections, &peer_before);
    if(peer.ok)
      print_run("python3-exchangelib peer (after exsync)", o.peer_connections, &peer);
    if(peer_before.ok && (!peer.ok || (double)peer_before.mailboxes / peer_before.seconds >
                                          (double)peer.mailboxes / peer.seconds))
      peer = peer_before;
    if(!peer.ok) {
      printf("python3-exchangelib peer: not measured\n");
      all_ok = false;
    }
    else {
      double prate = (double)peer.mailboxes / peer.seconds;
      printf("exchangelib rate compared: %.1f mailboxes/s (the faster of its two runs)\n", prate);
      for(int i = 0; i < o.nconnections; i++) {
        double rate;
        if(!runs[i].ok)
          continue;
        rate = (double)runs[i].mailboxes / runs[i].seconds;
        printf("exsync at %d connections / exchangelib at %d: %.1fx (target >= 15x) %s\n",
               o.connections[i], o.peer_connections, rate / prate,
               rate / prate >= 15 ? "met" : "NOT met");
      }
    }
  }
  if(!o.skip_peer) {
    /* the lean peer: standard-library Python, the 9 calls of exsync's old sequence, 16 threads */
    peer_run(&o, scen, o.lean_script, o.lean_connections, &lean);
    if(!lean.ok) {
      printf("lean Python peer: not measured\n");
      all_ok = false;
    }
    else {
      double lrate = (double)lean.mailboxes / lean.seconds;
      print_run("lean Python peer (stdlib, http.client, 16 threads)", o.lean_connections, &lean);
      for(int i = 0; i < o.nconnections; i++) {
        if(!runs[i].ok)
          continue;
        printf("exsync at %d connections / lean Python at %d threads: %.1fx mailboxes/s\n",
               o.connections[i], o.lean_connections,
               (double)runs[i].mailboxes / runs[i].seconds / lrate);
      }
    }
    printf("\n== client CPU per mailbox (user + sys) ==\n");
    for(int i = 0; i < o.nconnections; i++) {
      double me;
      if(!runs[i].ok)
        continue;
      me = cpu_ms_per_mailbox(&runs[i]);
      printf("exsync at %d connections: %.3f ms per mailbox (%.2f requests)", o.connections[i], me,
             requests_per_mailbox(&runs[i]));
      if(lean.ok && me > 0)
        printf("; lean Python %.3f ms (%.2f requests) = %.1fx exsync's (target >= 10x) %s",
               cpu_ms_per_mailbox(&lean), requests_per_mailbox(&lean),
               cpu_ms_per_mailbox(&lean) / me,
               cpu_ms_per_mailbox(&lean) / me >= 10 ? "met" : "NOT met");
      if(peer.ok && me > 0)
        printf("; exchangelib %.3f ms (%.2f requests) = %.1fx exsync's (target >= 30x) %s",
               cpu_ms_per_mailbox(&peer), requests_per_mailbox(&peer),
               cpu_ms_per_mailbox(&peer) / me,
               cpu_ms_per_mailbox(&peer) / me >= 30 ? "met" : "NOT met");
      printf("\n");
      /* the peers make the 9 requests of the old sequence: per request too */
      printf("  per EWS request: exsync %.1f us", 1000 * me / requests_per_mailbox(&runs[i]));
      if(lean.ok)
        printf("; lean Python %.1f us = %.1fx",
               1000 * cpu_ms_per_mailbox(&lean) / requests_per_mailbox(&lean),
               (cpu_ms_per_mailbox(&lean) / requests_per_mailbox(&lean)) /
                   (me / requests_per_mailbox(&runs[i])));
      if(peer.ok)
        printf("; exchangelib %.1f us = %.1fx",
               1000 * cpu_ms_per_mailbox(&peer) / requests_per_mailbox(&peer),
               (cpu_ms_per_mailbox(&peer) / requests_per_mailbox(&peer)) /
                   (me / requests_per_mailbox(&runs[i])));
      printf("\n");
    }
  }
  curl_global_cleanup();
  bench_rmdir(dir);
  return all_ok ? 0 : 1;
}
