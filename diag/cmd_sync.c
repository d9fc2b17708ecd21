/* cmd_sync.c - the sync engine from the command line: exsync sync [--once],
 * exsync status, exsync activity list, exsync email send. */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "opt.h"
#include "exsync/clock.h"
#include "exsync/faultpoint.h"
#include "exsync/store.h"
#include "exsync/sync.h"
#include "run.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
  (void)sig;
  stop_requested = 1;
}

static void json_time(FILE *f, time_t t)
{
  char buf[32];

  if(t)
    diag_json_str(f, exs_time_iso(t, buf, sizeof(buf)));
  else
    fputs("null", f);
}

static const char *iso_or_dash(time_t t, char *buf, size_t len)
{
  return t ? exs_time_iso(t, buf, len) : "-";
}

/* Arguments of a command without options: count, -1 error, -2 help. */
static int plain_args(const char *cmd, int argc, char **argv, char **args)
{
  struct diag_optp p;
  int id, n = 0;

  diag_opt_init(&p, cmd, NULL, NULL, argc, argv, 1);
  while((id = diag_opt_next(&p)) != DIAG_OPT_END) {
    if(id == DIAG_OPT_HELP)
      return -2;
    if(id == DIAG_OPT_ERR)
      return -1;
    args[n++] = (char *)p.value;
  }
  return n;
}

static void key_file_of(struct diag_ctx *ctx, char *buf, size_t len)
{
  if(ctx->key_file)
    snprintf(buf, len, "%s", ctx->key_file);
  else
    snprintf(buf, len, "%s.key", ctx->db);
}

/* ---- exsync sync ---- */

static const char sync_help[] =
    "usage: exsync sync [--once] [--all] [--mailbox ADDRESS] [options]\n"
    "Synchronize every due mailbox: incoming email, outgoing email, and appointments,\n"
    "contacts and tasks. Without --once it runs until SIGINT/SIGTERM, finishing the page\n"
    "in hand before it stops.\n"
    "  --once               one pass over the due mailboxes, then exit (1 when one failed)\n"
    "  --all                every enabled mailbox, due or not\n"
    "  --mailbox ADDRESS    only this mailbox\n"
    "  --interval S         wait after a cycle, seconds (default 300; $EXSYNC_SYNC_INTERVAL)\n"
    "  --backoff S          extra wait per empty cycle (default 60; $EXSYNC_SYNC_BACKOFF)\n"
    "  --max-backoff S      cap of that wait (default 900; $EXSYNC_SYNC_MAX_BACKOFF)\n"
    "  --retry-interval S   retry after a transient failure (default 300;\n"
    "                       $EXSYNC_SYNC_RETRY_INTERVAL)\n"
    "  --max-retries N      transient failures before disabling (default 10)\n"
    "  --page-size N        changes per SyncFolderItems page (default 512)\n"
    "  --send-batch N       emails per CreateItem (default 16)\n"
    "  --workers N          worker threads (default 16)\n"
    "  --lease S            how long this worker's mailbox leases and connection slots\n"
    "                       outlive its last heartbeat (renewed every S/4; default 60):\n"
    "                       another worker takes over a dead one's mailboxes after it\n"
    "  --host NAME          the host name this worker goes by in the store (default:\n"
    "                       the machine's; workers are NAME:PID)\n"
    "  --idle S             longest sleep between passes (default 60)\n"
    "  --quiet              no per-pass lines\n";

static void log_line(void *ctx, const char *line)
{
  (void)ctx;
  fprintf(stderr, "exsync: %s\n", line);
}

static long env_seconds(const char *name)
{
  const char *v = getenv(name);
  return v && *v ? strtol(v, NULL, 10) : 0;
}

static void print_stats(struct diag_ctx *ctx, const struct exs_sync_stats *s, long ms)
{
  if(ctx->format == DIAG_FORMAT_JSON) {
    printf("{\"mailboxes\": %zu, \"busy\": %zu, \"received\": %zu, \"duplicates\": %zu, "
           "\"untracked\": %zu, \"failed\": %zu, \"moved\": %zu, \"sent\": %zu, "
           "\"reconciled\": %zu, \"act_changes\": %zu, \"act_conflicts\": %zu, "
           "\"errors\": %zu, \"requests\": %zu, \"pages\": %zu, \"elapsed_ms\": %ld}\n",
           s->mailboxes, s->busy, s->received, s->duplicates, s->untracked, s->failed, s->moved,
           s->sent, s->reconciled, s->act_changes, s->act_conflicts, s->errors, s->requests,
           s->pages, ms);
    return;
  }
  printf("sync: %zu mailboxes, %zu received, %zu sent (%zu found already sent), %zu ACT "
         "changes, %zu failed items, %zu moved to Undeliverable, %zu mailbox errors, %zu "
         "requests, %ld ms\n",
         s->mailboxes, s->received, s->sent, s->reconciled, s->act_changes, s->failed, s->moved,
         s->errors, s->requests, ms);
}

/* ids: letters, as getopt's */
static const struct diag_opt sync_opts[] = {
    {"--once", false, 'o'},       {"--all", false, 'a'},
    {"--quiet", false, 'q'},      {"--mailbox", true, 'm'},
    {"--interval", true, 'i'},    {"--backoff", true, 'b'},
    {"--max-backoff", true, 'B'}, {"--retry-interval", true, 'r'},
    {"--max-retries", true, 'R'}, {"--page-size", true, 'p'},
    {"--send-batch", true, 's'},  {"--workers", true, 'w'},
    {"--idle", true, 'I'},        {"--lease", true, 'L'},
    {"--host", true, 'H'},        {NULL, false, 0},
};

/* What the sync command was asked: its options into opt, and what is
 * not an exs_sync_options member. */
struct sync_args {
  bool once, quiet;
  long idle;
  char host[192];
};

/* The options of the sync command (argv) into opt and a. -1 to go on, else
 * the exit code (help, a bad option). */
static int sync_parse(int argc, char **argv, struct exs_sync_options *opt, struct sync_args *a)
{
  struct diag_optp p;
  long v;
  int id;

  diag_opt_init(&p, "sync", sync_opts, NULL, argc, argv, 1);
  while((id = diag_opt_next(&p)) != DIAG_OPT_END) {
    switch(id) {
    case DIAG_OPT_HELP:
      fputs(sync_help, stdout);
      return 0;
    case DIAG_OPT_ERR:
      return 2;
    case DIAG_OPT_ARG:
      return diag_opt_unexpected(&p);
    case 'o':
      a->once = true;
      break;
    case 'a':
      opt->ignore_schedule = true;
      break;
    case 'q':
      a->quiet = true;
      break;
    case 'm':
      opt->only_mailbox = p.value;
      break;
    case 'H':
      if(!*p.value || strchr(p.value, ':'))
        return diag_fail("sync: --host '%s': a host name without ':' is expected", p.value);
      snprintf(a->host, sizeof(a->host), "%s:%ld", p.value, (long)getpid());
      opt->host = a->host;
      break;
    default:
      if(diag_opt_long(&p, id == 'p' ? 1 : 0, id == 'p' ? 512 : 100000000L, &v))
        return 2;
      switch(id) {
      case 'i':
        opt->min_interval_s = v;
        break;
      case 'b':
        opt->empty_backoff_s = v;
        break;
      case 'B':
        opt->max_backoff_s = v;
        break;
      case 'r':
        opt->retry_interval_s = v;
        break;
      case 'R':
        opt->max_transient_retries = (int)v;
        break;
      case 'p':
        opt->page_size = (int)v;
        break;
      case 's':
        opt->send_batch = (int)v;
        break;
      case 'w':
        opt->max_workers = (size_t)v;
        break;
      case 'L':
        opt->lease_s = v;
        break;
      default:
        a->idle = v;
        break;
      }
    }
  }
  return -1;
}

/* sync --once: the retry cycle, then one pass. */
static int sync_once(struct diag_ctx *ctx, const char *key, const struct exs_sync_options *opt,
                     bool quiet)
{
  struct exs_sync_stats stats;
  struct exs_error err;
  int64_t start = exs_monotonic_ms();
  time_t next_retry;
  size_t retry_failed;

  exs_error_clear(&err);
  memset(&stats, 0, sizeof(stats));
  /* the retry cycle first: a mailbox enabled by its retry syncs in this pass */
  if(diag_retry_due(ctx, opt->only_mailbox, quiet, &next_retry, &retry_failed))
    return 2;
  if(exs_sync_pass(ctx->db, key, opt, &stats, NULL, &err))
    return diag_fail("%s", err.message);
  if(!quiet)
    print_stats(ctx, &stats, (long)(exs_monotonic_ms() - start));
  return stats.errors || retry_failed ? 1 : 0;
}

/* The service: passes until SIGINT or SIGTERM, waiting at most idle
 * seconds (less when a mailbox or a retry is due sooner) between them. */
static int sync_service(struct diag_ctx *ctx, const char *key, struct exs_sync_options *opt,
                        bool quiet, long idle)
{
  struct exs_sync_worker *worker;
  struct exs_error err;
  int result = 0;

  exs_error_clear(&err);
  /* this process as a worker of the store: its heartbeat keeps its leases
   * alive between and during passes; stopped, they are given back */
  worker = exs_sync_worker_start(ctx->db, key, opt, &err);
  if(!worker)
    return diag_fail("%s", err.message);
  opt->worker = exs_sync_worker_id(worker);
  if(!quiet)
    fprintf(stderr, "exsync: synchronizing as worker %s (SIGINT or SIGTERM stops)\n", opt->worker);
  while(!stop_requested) {
    struct exs_sync_options one = *opt;
    struct exs_sync_stats pass_stats;
    time_t due = 0, until, next_retry;
    size_t retry_failed;
    int64_t start = exs_monotonic_ms();
    memset(&pass_stats, 0, sizeof(pass_stats));
    if(diag_retry_due(ctx, opt->only_mailbox, quiet, &next_retry, &retry_failed)) {
      result = 2;
      break;
    }
    if(exs_sync_pass(ctx->db, key, &one, &pass_stats, &due, &err)) {
      result = diag_fail("%s", err.message);
      break;
    }
    if(next_retry && (!due || next_retry < due))
      due = next_retry;
    if(!quiet && (pass_stats.mailboxes || pass_stats.errors))
      print_stats(ctx, &pass_stats, (long)(exs_monotonic_ms() - start));
    fflush(stdout);
    opt->ignore_schedule = false; /* --all is for the first pass */
    EXS_FAULT_POINT("sync.idle"); /* a pass done, the wait not begun */
    until = exs_now() + idle;
    if(due && due < until)
      until = due;
    if(until < exs_now() + 1)
      until = exs_now() + 1;
    while(!stop_requested && exs_now() < until)
      exs_sleep_ms(100);
  }
  exs_sync_worker_stop(worker);
  if(!quiet && result == 0)
    fprintf(stderr, "exsync: stopped cleanly\n");
  return result;
}

static int cmd_sync(struct diag_ctx *ctx, int argc, char **argv)
{
  struct exs_sync_options opt;
  struct sync_args a;
  struct sigaction sa;
  char key[4096];
  int result;

  memset(&opt, 0, sizeof(opt));
  memset(&a, 0, sizeof(a));
  a.idle = 60;
  opt.min_interval_s = env_seconds("EXSYNC_SYNC_INTERVAL");
  opt.empty_backoff_s = env_seconds("EXSYNC_SYNC_BACKOFF");
  opt.max_backoff_s = env_seconds("EXSYNC_SYNC_MAX_BACKOFF");
  opt.retry_interval_s = env_seconds("EXSYNC_SYNC_RETRY_INTERVAL");
  if((result = sync_parse(argc, argv, &opt, &a)) >= 0)
    return result;
  if(diag_formats(ctx, "sync", DIAG_F_TEXT | DIAG_F_JSON) || diag_store_exists(ctx))
    return 2;
  opt.transport = diag_transport(ctx);
  opt.stop = &stop_requested;
  opt.log = log_line;
  key_file_of(ctx, key, sizeof(key));

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  return a.once ? sync_once(ctx, key, &opt, a.quiet)
                : sync_service(ctx, key, &opt, a.quiet, a.idle);
}

/* ---- exsync status ---- */

struct counts {
  long received, pending, sending, sent, failed;
};

static void count_mailbox(struct exs_store *st, const char *address, struct counts *c)
{
  struct exs_error err;

  c->received = exs_store_activity_count(st, address, EXS_ACTIVITY_RECEIVED, &err);
  c->pending = exs_store_activity_count(st, address, EXS_ACTIVITY_PENDING_SEND, &err);
  c->sending = exs_store_activity_count(st, address, EXS_ACTIVITY_SENDING, &err);
  c->sent = exs_store_activity_count(st, address, EXS_ACTIVITY_SENT, &err);
  c->failed = exs_store_activity_count(st, address, EXS_ACTIVITY_FAILED, &err);
}

static const char *workload_cell(const struct exs_mailbox *m, int w)
{
  if(!exs_mailbox_uses_ssync(m, (enum exs_workload)w))
    return "-";
  if(m->enabled[w])
    return "on";
  return m->status[w] == EXS_STATUS_FAILURE ? "FAIL" : "off";
}

/* The worker holding mailbox's lease, or NULL. */
static const char *holder_of(const struct exs_lease *l, size_t n, const char *mailbox)
{
  for(size_t i = 0; i < n; i++)
    if(!strcasecmp(l[i].mailbox, mailbox))
      return l[i].worker;
  return NULL;
}

static void print_ms_iso(FILE *f, int64_t ms)
{
  char buf[32];
  time_t t = (time_t)(ms / 1000);

  if(!ms) {
    fputs("null", f);
    return;
  }
  exs_time_iso(t, buf, sizeof(buf));
  /* "...:SSZ" -> "...:SS.mmmZ" */
  buf[strlen(buf) - 1] = '\0';
  fprintf(f, "\"%s.%03dZ\"", buf, (int)(ms % 1000));
}

/* The workers registered in the store (docs/json/status.md, "workers"). */
static void print_workers(struct diag_ctx *ctx, const struct exs_worker *w, size_t nw,
                          const struct exs_lease *l, size_t nl)
{
  int64_t now = exs_now_ms();

  if(ctx->format == DIAG_FORMAT_JSON) {
    printf(", \"workers\": [");
    for(size_t i = 0; i < nw; i++) {
      size_t k, held = 0;
      printf("%s\n  {\"id\": ", i ? "," : "");
      diag_json_str(stdout, w[i].id);
      printf(", \"host\": ");
      diag_json_str(stdout, w[i].host);
      printf(", \"pid\": %ld, \"started\": ", w[i].pid);
      print_ms_iso(stdout, w[i].started_ms);
      printf(", \"last_heartbeat\": ");
      print_ms_iso(stdout, w[i].heartbeat_ms);
      printf(", \"heartbeat_age_ms\": %lld, \"mailboxes\": [",
             (long long)(now - w[i].heartbeat_ms));
      for(k = 0; k < nl; k++) {
        if(strcmp(l[k].worker, w[i].id))
          continue;
        printf("%s", held++ ? ", " : "");
        diag_json_str(stdout, l[k].mailbox);
      }
      printf("]}");
    }
    printf("%s]", nw ? "\n" : "");
    return;
  }
  printf("\n%-32s %-20s %8s %-20s %12s %s\n", "WORKER", "HOST", "PID", "STARTED", "HEARTBEAT",
         "MAILBOXES HELD");
  for(size_t i = 0; i < nw; i++) {
    char t[32], age[32];
    size_t k, held = 0;
    snprintf(age, sizeof(age), "%.1fs ago", (double)(now - w[i].heartbeat_ms) / 1000.0);
    printf("%-32.32s %-20.20s %8ld %-20s %12s ", w[i].id, w[i].host, w[i].pid,
           exs_time_iso((time_t)(w[i].started_ms / 1000), t, sizeof(t)), age);
    for(k = 0; k < nl; k++) {
      if(strcmp(l[k].worker, w[i].id))
        continue;
      printf("%s%s", held++ ? ", " : "", l[k].mailbox);
    }
    printf("%s\n", held ? "" : "-");
  }
  if(!nw)
    printf("(no worker is registered: no `exsync sync` service runs on this store)\n");
}

/* One mailbox of exsync status --format json. */
static void status_row_json(const struct exs_mailbox *m, const struct counts *c, bool first)
{
  printf("%s\n  {\"address\": ", first ? "" : ",");
  diag_json_str(stdout, m->address);
  printf(", \"enabled\": {\"incoming\": %s, \"outgoing\": %s, \"act\": %s}",
         m->enabled[0] ? "true" : "false", m->enabled[1] ? "true" : "false",
         m->enabled[2] ? "true" : "false");
  printf(", \"status\": {\"incoming\": \"%s\", \"outgoing\": \"%s\", \"act\": \"%s\"}",
         exs_status_name(m->status[0]), exs_status_name(m->status[1]),
         exs_status_name(m->status[2]));
  printf(", \"last_sync_start\": ");
  json_time(stdout, m->last_sync_start);
  printf(", \"last_sync_success\": ");
  json_time(stdout, m->last_sync_success);
  printf(", \"postponed_until\": ");
  json_time(stdout, m->postponed_until);
  diag_json_member(stdout, "processing_host", m->processing_host);
  printf(", \"items_processed\": %d, \"items_failed\": %d", m->items_processed, m->items_failed);
  printf(", \"activities\": {\"received\": %ld, \"pending_send\": %ld, \"sending\": %ld, "
         "\"sent\": %ld, \"failed\": %ld}",
         c->received, c->pending, c->sending, c->sent, c->failed);
  printf(", \"transient_failures\": %d, \"last_error\": ", m->transient_failures);
  if(m->last_error_code[0]) {
    printf("{\"code\": ");
    diag_json_str(stdout, m->last_error_code);
    printf(", \"message\": ");
    diag_json_str(stdout, m->last_error);
    printf(", \"count\": %d, \"time\": ", m->last_error_count);
    json_time(stdout, m->last_error_time);
    printf("}");
  }
  else
    printf("null");
  printf("}");
}

/* One mailbox of exsync status (text). */
static void status_row_text(const struct exs_mailbox *m, const struct counts *c)
{
  char err_cell[64], t1[32], t2[32];

  snprintf(err_cell, sizeof(err_cell), "%s%s%.40s", m->last_error_code,
           m->last_error_code[0] ? ": " : "", m->last_error);
  printf("%-28.28s %-4s %-4s %-4s %-20s %-20s %7d %7d %6ld %s\n", m->address, workload_cell(m, 0),
         workload_cell(m, 1), workload_cell(m, 2),
         iso_or_dash(m->last_sync_success, t1, sizeof(t1)),
         m->processing_host[0] ? "(syncing now)" : iso_or_dash(m->postponed_until, t2, sizeof(t2)),
         m->items_processed, m->items_failed, c->pending + c->sending,
         m->last_error_code[0] ? err_cell : "-");
}

/* exsync status's arguments: -1 to go on, else the exit code (help
 * printed or error reported). */
static int status_options(struct diag_ctx *ctx, int argc, char **argv)
{
  char *args[2];
  int na = argc <= 3 ? plain_args("status", argc, argv, args) : 1;

  if(na == -2) {
    puts("usage: exsync status [--format text|json|html]\n"
         "One screen on the health of server-side synchronization: per mailbox the\n"
         "workloads (on, off, FAIL, - not server-side sync), last successful sync, next\n"
         "sync, items of the last sync, activities, and the last error; then the sync\n"
         "workers on this store (host, pid, last heartbeat, mailboxes held). html is one\n"
         "self-contained page (docs/json/status.md describes the JSON).");
    return 0;
  }
  if(na == -1)
    return 2;
  if(na > 0)
    return diag_fail("status: unexpected argument '%s' (see exsync help status)", argv[1]);
  if(diag_formats(ctx, "status", DIAG_F_TEXT | DIAG_F_JSON | DIAG_F_HTML))
    return 2;
  return -1;
}

/* Who syncs a mailbox now: its lease's holder. */
static void mark_processing(struct exs_mailbox *m, size_t n, const struct exs_lease *leases,
                            size_t nl)
{
  size_t i;

  for(i = 0; i < n; i++) {
    const char *h = holder_of(leases, nl, m[i].address);
    if(h)
      snprintf(m[i].processing_host, sizeof(m[i].processing_host), "%s", h);
  }
}

/* The totals of exsync status's last line / summary object. */
struct status_totals {
  long enabled, failing, processing, postponed;
  struct counts act;
};

/* Add one mailbox (and its activity counts c) to the totals. */
static void status_tally(struct status_totals *t, const struct exs_mailbox *m,
                         const struct counts *c, time_t now)
{
  bool any = m->enabled[0] || m->enabled[1] || m->enabled[2];
  bool fail = m->status[0] == EXS_STATUS_FAILURE || m->status[1] == EXS_STATUS_FAILURE ||
              m->status[2] == EXS_STATUS_FAILURE || m->last_error_count > 0;

  t->enabled += any;
  t->failing += fail;
  t->processing += m->processing_host[0] != '\0';
  t->postponed += m->postponed_until > now;
  t->act.received += c->received;
  t->act.pending += c->pending;
  t->act.sending += c->sending;
  t->act.sent += c->sent;
  t->act.failed += c->failed;
}

/* The table's head (text) or the object's opening (JSON). */
static void status_head(struct diag_ctx *ctx, time_t now)
{
  if(ctx->format == DIAG_FORMAT_JSON) {
    printf("{\"time\": ");
    json_time(stdout, now);
    printf(", \"mailboxes\": [");
  }
  else {
    printf("%-28s %-4s %-4s %-4s %-20s %-20s %7s %7s %6s %s\n", "MAILBOX", "IN", "OUT", "ACT",
           "LAST SUCCESS", "NEXT SYNC", "ITEMS", "FAILED", "QUEUED", "LAST ERROR");
  }
}

/* After the mailboxes: the workers and the totals (JSON: the summary
 * object, then the object's end). */
static void status_tail(struct diag_ctx *ctx, size_t n, const struct status_totals *t,
                        const struct exs_worker *workers, size_t nw, const struct exs_lease *leases,
                        size_t nl)
{
  const struct counts *a = &t->act;

  if(ctx->format == DIAG_FORMAT_JSON) {
    printf("%s]", n ? "\n" : "");
    print_workers(ctx, workers, nw, leases, nl);
    printf(", \"summary\": {\"mailboxes\": %zu, \"enabled\": %ld, \"failing\": %ld, "
           "\"processing\": %ld, \"postponed\": %ld, \"received\": %ld, \"pending_send\": %ld, "
           "\"sending\": %ld, \"sent\": %ld, \"failed\": %ld, \"workers\": %zu}}\n",
           n, t->enabled, t->failing, t->processing, t->postponed, a->received, a->pending,
           a->sending, a->sent, a->failed, nw);
  }
  else {
    printf("\n%zu mailboxes: %ld enabled, %ld with failures, %ld syncing now, %ld waiting; "
           "activities: %ld received, %ld sent, %ld queued to send (%ld in flight), %ld "
           "failed\n",
           n, t->enabled, t->failing, t->processing, t->postponed, a->received, a->sent,
           a->pending + a->sending, a->sending, a->failed);
    print_workers(ctx, workers, nw, leases, nl);
  }
}

static int cmd_status(struct diag_ctx *ctx, int argc, char **argv)
{
  struct exs_store *st;
  struct exs_mailbox *m = NULL;
  struct exs_worker *workers = NULL;
  struct exs_lease *leases = NULL;
  size_t nw = 0, nl = 0;
  struct exs_error err;
  size_t n = 0, i;
  struct status_totals totals = {0, 0, 0, 0, {0, 0, 0, 0, 0}};
  time_t now = exs_now();
  int result = status_options(ctx, argc, argv);

  if(result >= 0)
    return result;
  result = 2;
  st = diag_open_store(ctx, false);
  if(!st)
    return 2;
  exs_error_clear(&err);
  if(exs_store_mailbox_list(st, NULL, 0, &m, &n, &err) ||
     exs_store_worker_list(st, &workers, &nw, &err) ||
     exs_store_lease_list(st, &leases, &nl, &err)) {
    diag_fail("%s", err.message);
    goto out;
  }
  mark_processing(m, n, leases, nl);
  if(ctx->format == DIAG_FORMAT_HTML) {
    diag_status_write_html(stdout, m, n);
    result = 0;
    goto out;
  }
  status_head(ctx, now);
  for(i = 0; i < n; i++) {
    struct counts c;
    count_mailbox(st, m[i].address, &c);
    status_tally(&totals, &m[i], &c, now);
    if(ctx->format == DIAG_FORMAT_JSON)
      status_row_json(&m[i], &c, i == 0);
    else
      status_row_text(&m[i], &c);
  }
  status_tail(ctx, n, &totals, workers, nw, leases, nl);
  result = 0;
out:
  free(workers);
  free(leases);
  free(m);
  exs_store_close(st);
  return result;
}

/* ---- exsync activity list ---- */

/* One activity of exsync activity list --format json. */
static void activity_json(const struct exs_activity *a, const struct exs_activity_extra *x,
                          bool first)
{
  printf("%s\n  {\"id\": %lld, \"mailbox\": ", first ? "" : ",", (long long)a->id);
  diag_json_str(stdout, a->mailbox);
  printf(", \"direction\": \"%s\", \"state\": ",
         a->direction == EXS_DIR_OUTGOING ? "outgoing" : "incoming");
  diag_json_str(stdout, a->state);
  diag_json_member(stdout, "subject", a->subject);
  diag_json_member(stdout, "from", a->sender);
  diag_json_member(stdout, "to", a->recipients);
  printf(", \"received\": ");
  json_time(stdout, a->received);
  printf(", \"sent\": ");
  json_time(stdout, a->sent);
  diag_json_member(stdout, "exchange_item_id", a->exchange_item_id);
  diag_json_member(stdout, "internet_message_id", a->internet_message_id);
  diag_json_member(stdout, "tracking_token", x->tracking_token);
  printf(", \"attempts\": %d, \"reason\": ", x->attempts);
  diag_json_str_or_null(stdout, x->reason);
  printf("}");
}

static int cmd_activity(struct diag_ctx *ctx, int argc, char **argv)
{
  struct exs_store *st;
  struct exs_activity *a = NULL;
  struct exs_error err;
  const char *mailbox = NULL, *state = NULL;
  size_t n = 0, i;
  int result = 2, k;

  static const char usage_text[] =
      "usage: exsync activity list [--mailbox ADDRESS] [--state STATE] [--format json]\n"
      "Tracked (received) and outgoing email activities; STATE is received,\n"
      "pending-send, sending, sent or failed.\n";
  static const struct diag_opt opts[] = {
      {"--mailbox", true, 1}, {"--state", true, 2}, {NULL, false, 0}};
  struct diag_optp p;

  if(argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
    fputs(usage_text, stdout);
    return 0;
  }
  if(argc < 2 || strcmp(argv[1], "list")) {
    fputs(usage_text, stderr);
    return 2;
  }
  diag_opt_init(&p, "activity list", opts, NULL, argc, argv, 2);
  while((k = diag_opt_next(&p)) != DIAG_OPT_END) {
    if(k == DIAG_OPT_HELP) {
      fputs(usage_text, stdout);
      return 0;
    }
    if(k == DIAG_OPT_ERR)
      return 2;
    if(k == DIAG_OPT_ARG)
      return diag_opt_unexpected(&p);
    if(k == 1)
      mailbox = p.value;
    else
      state = p.value;
  }
  if(diag_formats(ctx, "activity list", DIAG_F_TEXT | DIAG_F_JSON))
    return 2;
  st = diag_open_store(ctx, false);
  if(!st)
    return 2;
  exs_error_clear(&err);
  if(exs_store_activity_list(st, mailbox, state, &a, &n, &err)) {
    diag_fail("%s", err.message);
    goto out;
  }
  if(ctx->format == DIAG_FORMAT_JSON)
    printf("[");
  else
    printf("%-6s %-26s %-8s %-12s %-20s %-14s %s\n", "ID", "MAILBOX", "DIR", "STATE", "TIME",
           "TOKEN", "SUBJECT");
  for(i = 0; i < n; i++) {
    struct exs_activity_extra x;
    char t[32];
    time_t when = a[i].direction == EXS_DIR_OUTGOING ? a[i].sent : a[i].received;
    if(exs_store_activity_extra_get(st, a[i].id, &x, &err))
      memset(&x, 0, sizeof(x));
    if(ctx->format == DIAG_FORMAT_JSON)
      activity_json(&a[i], &x, i == 0);
    else
      printf("%-6lld %-26.26s %-8s %-12s %-20s %-14s %s%s%s\n", (long long)a[i].id, a[i].mailbox,
             a[i].direction == EXS_DIR_OUTGOING ? "out" : "in", a[i].state,
             iso_or_dash(when, t, sizeof(t)), x.tracking_token[0] ? x.tracking_token : "-",
             a[i].subject ? a[i].subject : "", x.reason[0] ? "  -- " : "", x.reason);
  }
  if(ctx->format == DIAG_FORMAT_JSON)
    printf("%s]\n", n ? "\n" : "");
  else
    printf("\n%zu activities\n", n);
  result = 0;
out:
  for(i = 0; i < n; i++)
    exs_activity_clear(&a[i]);
  free(a);
  exs_store_close(st);
  return result;
}

/* ---- exsync email send ---- */

static char *read_body(const char *path)
{
  FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  char *data = NULL;
  size_t len = 0, cap = 0, got;

  if(!f)
    return NULL;
  for(;;) {
    if(len + 4096 + 1 > cap) {
      char *p;
      cap = cap ? cap * 2 : 8192;
      if(cap > (32u << 20) || !(p = realloc(data, cap))) {
        free(data);
        data = NULL;
        break;
      }
      data = p;
    }
    got = fread(data + len, 1, 4096, f);
    len += got;
    if(got < 4096)
      break;
  }
  if(data)
    data[len] = '\0';
  if(f != stdin)
    fclose(f);
  return data;
}

static int cmd_email(struct diag_ctx *ctx, int argc, char **argv)
{
  const char *from = NULL, *subject = NULL, *body_file = NULL;
  char to[4096] = "";
  struct exs_store *st = NULL;
  struct exs_mailbox m;
  struct exs_activity a;
  struct exs_error err;
  char *body = NULL;
  int k, rc, result = 2;

  static const char usage_text[] =
      "usage: exsync email send --from ADDRESS --to ADDRESS[,ADDRESS...] --subject S\n"
      "                         --body-file FILE|-\n"
      "Queue an outgoing email activity (Pending Send) of mailbox ADDRESS; exsync sync\n"
      "sends it when the mailbox is enabled for outgoing email. --to may be repeated.\n";
  static const struct diag_opt opts[] = {{"--from", true, 1},
                                         {"--to", true, 2},
                                         {"--subject", true, 3},
                                         {"--body-file", true, 4},
                                         {NULL, false, 0}};
  struct diag_optp p;

  if(argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
    fputs(usage_text, stdout);
    return 0;
  }
  if(argc < 2 || strcmp(argv[1], "send")) {
    fputs(usage_text, stderr);
    return 2;
  }
  diag_opt_init(&p, "email send", opts, NULL, argc, argv, 2);
  while((k = diag_opt_next(&p)) != DIAG_OPT_END) {
    size_t l;
    switch(k) {
    case DIAG_OPT_HELP:
      fputs(usage_text, stdout);
      return 0;
    case DIAG_OPT_ERR:
      return 2;
    case DIAG_OPT_ARG:
      return diag_opt_unexpected(&p);
    case 1:
      from = p.value;
      break;
    case 2:
      l = strlen(to);
      snprintf(to + l, sizeof(to) - l, "%s%s", l ? "," : "", p.value);
      break;
    case 3:
      subject = p.value;
      break;
    default:
      body_file = p.value;
      break;
    }
  }
  if(diag_formats(ctx, "email send", DIAG_F_TEXT | DIAG_F_JSON))
    return 2;
  if(!from || !to[0] || !subject || !body_file)
    return diag_fail("email send needs --from, --to, --subject and --body-file");
  body = read_body(body_file);
  if(!body)
    return diag_fail("cannot read the body file %s", body_file);
  st = diag_open_store(ctx, false);
  if(!st)
    goto out;
  exs_error_clear(&err);
  rc = exs_store_mailbox_get(st, from, &m, &err);
  exs_mailbox_wipe(&m);
  if(rc) {
    diag_fail("no mailbox %s in the store", from);
    goto out;
  }
  memset(&a, 0, sizeof(a));
  snprintf(a.mailbox, sizeof(a.mailbox), "%s", m.address);
  a.direction = EXS_DIR_OUTGOING;
  snprintf(a.state, sizeof(a.state), "%s", EXS_ACTIVITY_PENDING_SEND);
  a.subject = (char *)subject;
  a.sender = m.address;
  a.recipients = to;
  a.body = body;
  if(exs_store_activity_add(st, &a, &err)) {
    diag_fail("%s", err.message);
    goto out;
  }
  if(ctx->format == DIAG_FORMAT_JSON)
    printf("{\"id\": %lld, \"state\": \"%s\"}\n", (long long)a.id, EXS_ACTIVITY_PENDING_SEND);
  else
    printf("email %lld queued (Pending Send) from %s to %s\n", (long long)a.id, m.address, to);
  result = 0;
out:
  free(body);
  exs_store_close(st);
  return result;
}

/* ---- exsync act ---- */

static const char act_help[] =
    "usage: exsync act list [--mailbox ADDRESS] [--format json]\n"
    "       exsync act add --mailbox ADDRESS --kind appointment|contact|task [FIELD=VALUE...]\n"
    "       exsync act set ID FIELD=VALUE...\n"
    "       exsync act delete ID\n"
    "Appointments, contacts and tasks on the CRM side; exsync sync writes changes to\n"
    "Exchange and reads Exchange's back (the newer change wins; the other is shown as\n"
    "the conflict). FIELD is subject, body, start, end (ISO 8601; a task's due date),\n"
    "location, status (task: NotStarted, InProgress, Completed, ...), given-name,\n"
    "surname, company, email.\n";

static int act_field(struct exs_act_item *a, const char *kv)
{
  static const struct {
    const char *name;
    size_t off, size;
  } f[] = {
#define F(n, m) {n, offsetof(struct exs_act_item, m), sizeof(((struct exs_act_item *)0)->m)}
      F("subject", subject),       F("body", body),
      F("start", start),           F("end", end),
      F("location", location),     F("status", status),
      F("given-name", given_name), F("surname", surname),
      F("company", company),       F("email", email),
#undef F
  };
  const char *eq = strchr(kv, '=');
  size_t i;

  if(!eq)
    return diag_fail("act: '%s' is not FIELD=VALUE", kv);
  for(i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
    if(strlen(f[i].name) == (size_t)(eq - kv) && !strncmp(kv, f[i].name, (size_t)(eq - kv))) {
      if(strlen(eq + 1) >= f[i].size)
        return diag_fail("act: %s is longer than %zu characters", f[i].name, f[i].size - 1);
      snprintf((char *)a + f[i].off, f[i].size, "%s", eq + 1);
      return 0;
    }
  }
  return diag_fail("act: unknown field '%.*s' (see exsync act --help)", (int)(eq - kv), kv);
}

static void act_print_json(const struct exs_act_item *a, bool first)
{
  char t[32];

  printf("%s\n  {\"id\": %lld, \"mailbox\": ", first ? "" : ",", (long long)a->id);
  diag_json_str(stdout, a->mailbox);
  printf(", \"kind\": \"%s\", \"exchange_id\": ", exs_act_kind_name(a->kind));
  diag_json_str_or_null(stdout, a->exchange_id);
  diag_json_member(stdout, "subject", a->subject);
  diag_json_member(stdout, "start", a->start);
  diag_json_member(stdout, "end", a->end);
  diag_json_member(stdout, "location", a->location);
  diag_json_member(stdout, "status", a->status);
  diag_json_member(stdout, "given_name", a->given_name);
  diag_json_member(stdout, "surname", a->surname);
  diag_json_member(stdout, "company", a->company);
  printf(", \"pending\": %s, \"deleted\": %s, \"synced_at\": ", a->dirty ? "true" : "false",
         a->deleted ? "true" : "false");
  if(a->synced_at > 0)
    diag_json_str(stdout, exs_time_iso(a->synced_at, t, sizeof(t)));
  else
    fputs("null", stdout);
  diag_json_member(stdout, "conflict", a->conflict);
  printf("}");
}

/* act list [--mailbox ADDRESS]: 0, or 2 (printed). */
static int act_list(struct diag_ctx *ctx, const char *mailbox, char **args, int na)
{
  struct exs_store *st;
  struct exs_act_item *rows = NULL;
  struct exs_error err;
  size_t n = 0, i;

  if(na)
    return diag_fail("act list: unexpected argument '%s'", args[0]);
  if(!(st = diag_open_store(ctx, false)))
    return 2;
  exs_error_clear(&err);
  if(exs_store_act_list(st, mailbox, false, &rows, &n, &err)) {
    exs_store_close(st);
    return diag_fail("%s", err.message);
  }
  if(ctx->format == DIAG_FORMAT_JSON)
    printf("[");
  else
    printf("%-5s %-24s %-12s %-8s %-40s %s\n", "ID", "MAILBOX", "KIND", "STATE", "SUBJECT",
           "CONFLICT");
  for(i = 0; i < n; i++) {
    const struct exs_act_item *r = &rows[i];
    char title[300];
    if(ctx->format == DIAG_FORMAT_JSON) {
      act_print_json(r, i == 0);
      continue;
    }
    if(r->kind == EXS_ACT_KIND_CONTACT)
      snprintf(title, sizeof(title), "%s %s (%s)", r->given_name, r->surname, r->company);
    else
      snprintf(title, sizeof(title), "%s%s%s", r->subject, r->start[0] ? " @ " : "", r->start);
    printf("%-5lld %-24.24s %-12s %-8s %-40.40s %s\n", (long long)r->id, r->mailbox,
           exs_act_kind_name(r->kind),
           r->deleted ? (r->dirty ? "deleting" : "deleted")
           : r->dirty ? "pending"
                      : "synced",
           title, r->conflict[0] ? r->conflict : "-");
  }
  if(ctx->format == DIAG_FORMAT_JSON)
    printf("%s]\n", n ? "\n" : "");
  free(rows);
  exs_store_close(st);
  return 0;
}

/* act add (a new item of mailbox with fields args) or act set|delete ID
 * (the stored item, changed): the item into *a and the open store into
 * *st. 0, or 2 (printed). */
static int act_item(struct diag_ctx *ctx, const char *sub, const char *mailbox, char **args, int na,
                    struct exs_store **st, struct exs_act_item *a)
{
  struct exs_error err;
  int k;

  exs_error_clear(&err);
  if(!strcmp(sub, "add")) {
    struct exs_mailbox m;
    if(mailbox)
      snprintf(a->mailbox, sizeof(a->mailbox), "%s", mailbox);
    for(k = 0; k < na; k++)
      if(act_field(a, args[k]))
        return 2;
    if(!a->mailbox[0])
      return diag_fail("act add needs --mailbox");
    if(!(*st = diag_open_store(ctx, false)))
      return 2;
    if(exs_store_mailbox_get(*st, a->mailbox, &m, &err))
      return diag_fail("no mailbox %s in the store", a->mailbox);
    exs_mailbox_wipe(&m);
    snprintf(a->mailbox, sizeof(a->mailbox), "%s", m.address);
    return 0;
  }
  {
    char *end = NULL;
    long long id = na > 0 ? strtoll(args[0], &end, 10) : 0;
    if(na < 1 || *end || id <= 0)
      return diag_fail("act %s needs an ID", sub);
    if(!strcmp(sub, "delete") && na > 1)
      return diag_fail("act delete: unexpected argument '%s'", args[1]);
    if(!(*st = diag_open_store(ctx, false)))
      return 2;
    if(exs_store_act_get(*st, id, a, &err))
      return diag_fail("no ACT item %lld", id);
  }
  if(!strcmp(sub, "delete"))
    a->deleted = true;
  else
    for(k = 1; k < na; k++)
      if(act_field(a, args[k]))
        return 2;
  return 0;
}

static int cmd_act(struct diag_ctx *ctx, int argc, char **argv)
{
  static const struct diag_opt opts[] = {
      {"--mailbox", true, 1}, {"--kind", true, 2}, {NULL, false, 0}};
  struct exs_store *st = NULL;
  struct exs_act_item a;
  struct exs_error err;
  const char *sub = argc > 1 ? argv[1] : "";
  struct diag_optp p;
  char **args = NULL, cmd[32];
  const char *mailbox = NULL;
  int k, na = 0, result = 2;

  if(argc < 2 || !strcmp(sub, "-h") || !strcmp(sub, "--help")) {
    fputs(act_help, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if(strcmp(sub, "list") && strcmp(sub, "add") && strcmp(sub, "set") && strcmp(sub, "delete"))
    return diag_fail("act: unknown subcommand '%s' (list, add, set, delete)", sub);
  exs_error_clear(&err);
  memset(&a, 0, sizeof(a));
  snprintf(cmd, sizeof(cmd), "act %s", sub);
  args = calloc((size_t)argc + 1, sizeof(char *));
  if(!args)
    return diag_fail("out of memory");
  diag_opt_init(&p, cmd, !strcmp(sub, "list") || !strcmp(sub, "add") ? opts : NULL, NULL, argc,
                argv, 2);
  while((k = diag_opt_next(&p)) != DIAG_OPT_END) {
    if(k == DIAG_OPT_HELP) {
      fputs(act_help, stdout);
      result = 0;
      goto out;
    }
    if(k == DIAG_OPT_ERR)
      goto out;
    if(k == DIAG_OPT_ARG) {
      args[na++] = (char *)p.value;
    }
    else if(k == 1) {
      mailbox = p.value;
    }
    else if(!strcmp(sub, "list")) {
      diag_fail("act list: unknown option '--kind'");
      goto out;
    }
    else if((a.kind = exs_act_kind_parse(p.value)) < 0) {
      diag_fail("act add: --kind is appointment, contact or task");
      goto out;
    }
  }
  if(diag_formats(ctx, cmd, !strcmp(sub, "list") ? DIAG_F_TEXT | DIAG_F_JSON : DIAG_F_TEXT))
    goto out;
  if(!strcmp(sub, "list")) {
    result = act_list(ctx, mailbox, args, na);
    goto out;
  }
  if(act_item(ctx, sub, mailbox, args, na, &st, &a))
    goto out;
  a.dirty = true;
  a.crm_modified = exs_now();
  if(exs_store_act_put(st, &a, &err)) {
    diag_fail("%s", err.message);
    goto out;
  }
  printf("%s %lld %s (sent to Exchange by the next exsync sync)\n", exs_act_kind_name(a.kind),
         (long long)a.id,
         !strcmp(sub, "add")   ? "added"
         : !strcmp(sub, "set") ? "changed"
                               : "deleted");
  result = 0;
out:
  free(args);
  exs_store_close(st);
  return result;
}

int diag_cmd_sync(struct diag_ctx *ctx, int argc, char **argv)
{
  if(!strcmp(argv[0], "status"))
    return cmd_status(ctx, argc, argv);
  if(!strcmp(argv[0], "activity"))
    return cmd_activity(ctx, argc, argv);
  if(!strcmp(argv[0], "email"))
    return cmd_email(ctx, argc, argv);
  if(!strcmp(argv[0], "act"))
    return cmd_act(ctx, argc, argv);
  return cmd_sync(ctx, argc, argv);
}
