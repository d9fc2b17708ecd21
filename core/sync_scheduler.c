/* sync_scheduler.c - passes over the due mailboxes of a store and the
 * long-running service.
 *
 * A pass loads the org, the profiles (passwords decrypted) and the
 * mailboxes, keeps those that have a workload enabled and are due
 * (postponed_until reached), and hands them to threads. A thread takes the
 * next mailbox whose credential has a free slot here (max concurrent
 * connections per credential, docs/sync.md; each thread makes one EWS
 * request at a time, so slots bound requests in flight), claims the
 * mailbox's lease in the store (one worker per mailbox, across processes
 * and hosts), then one of the credential's slots in the store (the limit
 * holds across all workers together; when they are all taken the mailbox
 * goes back to the list and its credential rests a moment), re-reads the
 * mailbox (another worker may have synced it since the pass loaded it),
 * syncs it and gives lease and slot back. Each thread has its own store
 * handle (handles are not thread-safe). The worker's heartbeat thread
 * (sync_worker.c) keeps leases and slots alive meanwhile.
 */
#include "exsync/sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "exsync/clock.h"
#include "exsync/testenable.h"

#define KEY_MAX (EXS_ADDRESS_MAX + 16)

/* How long a credential rests when the store says all its slots are taken
 * by other workers. */
#define SLOT_RETRY_MS 100

struct slot {
  char key[KEY_MAX];
  int in_use;
  int limit;          /* the profile's maximum concurrent connections (all workers) */
  int share;          /* this worker's fair share of them: limit / live workers */
  int64_t rest_until; /* monotonic ms: all slots taken in the store */
};

struct pass {
  const char *db;
  const char *key_file;
  const struct exs_sync_options *opt; /* the caller's, with worker and transport set */
  struct exs_sync_options o;
  struct exs_transport transport; /* the caller's, with the worker's User-Agent */
  char user_agent[256];
  int64_t lease_ms;
  struct exs_org org;
  struct exs_profile *profiles;
  size_t np;
  struct exs_mailbox *mailboxes; /* all loaded */
  size_t nm;
  size_t *todo; /* indexes of due mailboxes */
  bool *taken;
  size_t n_todo;
  size_t left;
  struct slot *slots; /* one per todo entry at most */
  size_t n_slots;
  int live_workers; /* workers with a fresh heartbeat, this one included */
  pthread_mutex_t lock;
  pthread_cond_t freed;
  struct exs_sync_stats stats;
  bool failed;
  struct exs_error err;
};

static const struct exs_profile *find_profile(const struct pass *ps, const char *name)
{
  for(size_t i = 0; i < ps->np; i++)
    if(!strcmp(ps->profiles[i].name, name))
      return &ps->profiles[i];
  return NULL;
}

static struct slot *slot_for(struct pass *ps, const struct exs_mailbox *m)
{
  const struct exs_profile *p = find_profile(ps, m->profile);
  char key[KEY_MAX];
  size_t i;

  exs_testenable_credential_key(p, m, key, sizeof(key));
  for(i = 0; i < ps->n_slots; i++)
    if(!strcmp(ps->slots[i].key, key))
      return &ps->slots[i];
  snprintf(ps->slots[ps->n_slots].key, KEY_MAX, "%s", key);
  ps->slots[ps->n_slots].limit = p && p->max_connections > 0 ? p->max_connections : 1;
  /* a thread that gives a slot back takes the next one at once, before
   * other workers' threads, which retry every SLOT_RETRY_MS, see it free:
   * each worker keeps to its share so that none is starved */
  ps->slots[ps->n_slots].share =
      (ps->slots[ps->n_slots].limit + ps->live_workers - 1) / ps->live_workers;
  return &ps->slots[ps->n_slots++];
}

/* Under the lock: the next mailbox whose credential has room, or -1;
 * *rest: the earliest end of a credential's rest (0: none rests). */
static long pick(struct pass *ps, struct slot **out, int64_t *rest)
{
  int64_t now = exs_monotonic_ms();

  *rest = 0;
  for(size_t i = 0; i < ps->n_todo; i++) {
    struct slot *sl;
    if(ps->taken[i])
      continue;
    sl = slot_for(ps, &ps->mailboxes[ps->todo[i]]);
    if(sl->rest_until > now) {
      if(!*rest || sl->rest_until < *rest)
        *rest = sl->rest_until;
      continue;
    }
    if(sl->in_use >= sl->share)
      continue;
    ps->taken[i] = true;
    ps->left--;
    sl->in_use++;
    *out = sl;
    return (long)i;
  }
  return -1;
}

static void log_error(struct pass *ps, const struct exs_error *err)
{
  if(ps->opt->log)
    ps->opt->log(ps->opt->log_ctx, err->message);
}

/* Wait on freed until rest (monotonic ms; 0: until signalled). */
static void wait_freed(struct pass *ps, int64_t rest)
{
  struct timespec at;
  int64_t ns;

  if(!rest) {
    pthread_cond_wait(&ps->freed, &ps->lock);
    return;
  }
  clock_gettime(CLOCK_MONOTONIC, &at);
  ns = (int64_t)at.tv_nsec + (rest - exs_monotonic_ms()) * 1000000;
  if(ns < 0)
    ns = 0;
  at.tv_sec += (time_t)(ns / 1000000000);
  at.tv_nsec = (long)(ns % 1000000000);
  pthread_cond_timedwait(&ps->freed, &ps->lock, &at);
}

/* Sync mailbox m under its lease: re-read it first (another worker may
 * have synced it since the pass loaded it; its fields are the store's). */
static void sync_leased(struct pass *ps, struct exs_store *st, struct exs_mailbox *m,
                        struct exs_sync_stats *local)
{
  struct exs_mailbox fresh;
  struct exs_error err;

  exs_error_clear(&err);
  if(exs_store_mailbox_get(st, m->address, &fresh, &err)) {
    log_error(ps, &err);
    local->errors++;
    return;
  }
  if(!ps->opt->ignore_schedule && fresh.postponed_until > exs_now()) {
    m->postponed_until = fresh.postponed_until; /* for the next due time */
    exs_mailbox_wipe(&fresh);
    local->busy++; /* done by another worker meanwhile */
    return;
  }
  exs_mailbox_wipe(m);
  *m = fresh;
  if(exs_sync_mailbox(st, &ps->org, find_profile(ps, m->profile), m, ps->opt, local, &err) < 0) {
    log_error(ps, &err);
    local->errors++;
  }
}

static void *worker(void *arg)
{
  struct pass *ps = arg;
  struct exs_error err;
  struct exs_store *st;

  exs_error_clear(&err);
  st = exs_store_open(ps->db, ps->key_file, &err);
  if(!st) {
    pthread_mutex_lock(&ps->lock);
    if(!ps->failed) {
      ps->failed = true;
      ps->err = err;
    }
    pthread_mutex_unlock(&ps->lock);
    return NULL;
  }
  for(;;) {
    struct exs_sync_stats local;
    struct slot *sl = NULL;
    struct exs_mailbox *m;
    long i;
    int64_t rest;
    int claimed = 0, gslot = -1;
    bool put_back = false;

    pthread_mutex_lock(&ps->lock);
    for(;;) {
      if(ps->left == 0 || ps->failed || (ps->opt->stop && *ps->opt->stop)) {
        pthread_mutex_unlock(&ps->lock);
        exs_store_close(st);
        return NULL;
      }
      i = pick(ps, &sl, &rest);
      if(i >= 0)
        break;
      wait_freed(ps, rest);
    }
    pthread_mutex_unlock(&ps->lock);

    m = &ps->mailboxes[ps->todo[i]];
    memset(&local, 0, sizeof(local));
    exs_error_clear(&err);
    if(exs_store_lease_claim(st, m->address, ps->opt->worker, ps->lease_ms, &claimed, &err) < 0) {
      log_error(ps, &err);
      local.errors++;
    }
    else if(!claimed) {
      local.busy++;
    }
    else if(exs_store_slot_claim(st, sl->key, sl->limit, ps->opt->worker, ps->lease_ms, &gslot,
                                 &err) < 0) {
      log_error(ps, &err);
      local.errors++;
    }
    else if(gslot < 0) {
      put_back = true; /* every slot is another worker's: try again in a moment */
    }
    else {
      sync_leased(ps, st, m, &local);
      if(exs_store_slot_release(st, sl->key, gslot, ps->opt->worker, &err))
        log_error(ps, &err);
    }
    if(claimed && exs_store_lease_release(st, m->address, ps->opt->worker, &err))
      log_error(ps, &err);

    pthread_mutex_lock(&ps->lock);
    sl->in_use--;
    if(put_back) {
      ps->taken[i] = false;
      ps->left++;
      sl->rest_until = exs_monotonic_ms() + SLOT_RETRY_MS;
    }
    exs_sync_stats_add(&ps->stats, &local);
    pthread_cond_broadcast(&ps->freed);
    pthread_mutex_unlock(&ps->lock);
  }
}

static bool any_enabled(const struct exs_mailbox *m)
{
  return m->active && (m->enabled[0] || m->enabled[1] || m->enabled[2]);
}

static int load(struct pass *ps, struct exs_error *err)
{
  struct exs_store *st = exs_store_open(ps->db, ps->key_file, err);
  int result = -1;
  size_t i;

  if(!st)
    return -1;
  if(exs_store_org_get(st, &ps->org, err))
    goto out;
  if(exs_store_profile_list(st, &ps->profiles, &ps->np, err))
    goto out;
  for(i = 0; i < ps->np; i++) {
    char name[sizeof(ps->profiles[i].name)];
    snprintf(name, sizeof(name), "%s", ps->profiles[i].name);
    if(exs_store_profile_get(st, name, &ps->profiles[i], err))
      goto out;
  }
  if(exs_store_mailbox_list(st, NULL, EXS_STORE_WITH_SECRETS, &ps->mailboxes, &ps->nm, err))
    goto out;
  {
    struct exs_worker *w = NULL;
    size_t nw = 0;
    int64_t fresh = exs_now_ms() - ps->lease_ms;
    if(exs_store_worker_list(st, &w, &nw, err))
      goto out;
    ps->live_workers = 0;
    for(i = 0; i < nw; i++)
      ps->live_workers += w[i].heartbeat_ms > fresh;
    if(ps->live_workers < 1)
      ps->live_workers = 1;
    free(w);
  }
  result = 0;
out:
  exs_store_close(st);
  return result;
}

static void unload(struct pass *ps)
{
  size_t i;

  for(i = 0; i < ps->np; i++)
    exs_profile_wipe(&ps->profiles[i]);
  for(i = 0; i < ps->nm; i++)
    exs_mailbox_wipe(&ps->mailboxes[i]);
  free(ps->profiles);
  free(ps->mailboxes);
  free(ps->todo);
  free(ps->taken);
  free(ps->slots);
}

/* Service workers (opt->worker given) that load the same list start at
 * different places in it (by their id), so that they do not all queue for
 * the same first mailbox. A pass of its own keeps the store's order. */
static void rotate(struct pass *ps)
{
  size_t k, n = ps->n_todo, *copy;
  uint32_t h = 2166136261u;

  if(n < 2)
    return;
  for(const char *c = ps->o.worker; *c; c++)
    h = (h ^ (unsigned char)*c) * 16777619u;
  copy = malloc(n * sizeof(*copy));
  if(!copy)
    return; /* the order is an optimisation */
  memcpy(copy, ps->todo, n * sizeof(*copy));
  for(k = 0; k < n; k++)
    ps->todo[k] = copy[(k + h) % n];
  free(copy);
}

/* The server's logs (and the emulator's journal) tell the workers apart:
 * without a User-Agent of the caller's, the pass names its worker. */
static void name_worker_agent(struct pass *ps)
{
  if(ps->o.transport && ps->o.transport->user_agent)
    return;
  if(ps->o.transport)
    ps->transport = *ps->o.transport;
  snprintf(ps->user_agent, sizeof(ps->user_agent), "exsync/%s (worker %s)", EXSYNC_VERSION,
           ps->o.worker);
  ps->transport.user_agent = ps->user_agent;
  ps->o.transport = &ps->transport;
}

/* The mailboxes this pass syncs: enabled, selected, and due at now. */
static int select_todo(struct pass *ps, time_t now, struct exs_error *err)
{
  size_t i;

  ps->todo = calloc(ps->nm ? ps->nm : 1, sizeof(*ps->todo));
  ps->taken = calloc(ps->nm ? ps->nm : 1, sizeof(*ps->taken));
  ps->slots = calloc(ps->nm ? ps->nm : 1, sizeof(*ps->slots));
  if(!ps->todo || !ps->taken || !ps->slots) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    return -1;
  }
  for(i = 0; i < ps->nm; i++) {
    const struct exs_mailbox *m = &ps->mailboxes[i];
    if(!any_enabled(m))
      continue;
    if(ps->opt->only_mailbox && strcasecmp(ps->opt->only_mailbox, m->address))
      continue;
    if(!ps->opt->ignore_schedule && m->postponed_until > now)
      continue;
    ps->todo[ps->n_todo++] = i;
  }
  return 0;
}

/* Run the todo list on up to max_workers threads (on this thread when
 * none can be started) and wait for them. */
static void run_workers(struct pass *ps, size_t max_workers)
{
  pthread_condattr_t ca;
  pthread_t *threads;
  size_t i, nthreads, started = 0;

  ps->left = ps->n_todo;
  pthread_mutex_init(&ps->lock, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&ps->freed, &ca);
  pthread_condattr_destroy(&ca);
  nthreads = ps->n_todo < max_workers ? ps->n_todo : max_workers;
  if(nthreads) {
    threads = calloc(nthreads, sizeof(*threads));
    for(i = 0; threads && i < nthreads; i++) {
      if(pthread_create(&threads[i], NULL, worker, ps))
        break;
      started++;
    }
    if(started == 0)
      worker(ps);
    for(i = 0; i < started; i++)
      pthread_join(threads[i], NULL);
    free(threads);
  }
  pthread_cond_destroy(&ps->freed);
  pthread_mutex_destroy(&ps->lock);
}

/* When the earliest selected mailbox is due next (0: none). */
static time_t earliest_due(const struct pass *ps, time_t now)
{
  time_t due = 0;

  for(size_t i = 0; i < ps->nm; i++) {
    const struct exs_mailbox *m = &ps->mailboxes[i];
    if(!any_enabled(m) || (ps->opt->only_mailbox && strcasecmp(ps->opt->only_mailbox, m->address)))
      continue;
    if(!due || m->postponed_until < due)
      due = m->postponed_until ? m->postponed_until : now;
  }
  return due;
}

int exs_sync_pass(const char *db_path, const char *key_file, const struct exs_sync_options *opt,
                  struct exs_sync_stats *stats, time_t *next_due, struct exs_error *err)
{
  static const struct exs_sync_options no_options;
  struct pass ps;
  size_t max_workers;
  struct exs_sync_worker *own = NULL;
  time_t now = exs_now(), due;
  int result = -1;

  memset(&ps, 0, sizeof(ps));
  ps.db = db_path;
  ps.key_file = key_file;
  ps.o = opt ? *opt : no_options;
  ps.opt = &ps.o;
  ps.lease_ms = (ps.o.lease_s > 0 ? ps.o.lease_s : 60) * 1000;
  max_workers = ps.o.max_workers ? ps.o.max_workers : 16;
  if(!ps.o.worker) {
    /* a pass of its own (--once, library callers): a worker for the pass */
    own = exs_sync_worker_start(db_path, key_file, &ps.o, err);
    if(!own)
      return -1;
    ps.o.worker = exs_sync_worker_id(own);
  }
  name_worker_agent(&ps);
  if(next_due)
    *next_due = 0;
  if(load(&ps, err))
    goto out;
  if(select_todo(&ps, now, err))
    goto out;
  if(opt && opt->worker)
    rotate(&ps);
  run_workers(&ps, max_workers);
  if(ps.failed) {
    *err = ps.err;
    goto out;
  }
  due = earliest_due(&ps, now);
  if(next_due)
    *next_due = due;
  result = 0;
out:
  if(stats)
    exs_sync_stats_add(stats, &ps.stats);
  unload(&ps);
  exs_sync_worker_stop(own);
  return result;
}
