/* sync_scheduler.c - passes over the due mailboxes of a store and the
 * long-running service.
 *
 * A pass loads the org, the profiles (passwords decrypted) and the
 * mailboxes, keeps those that have a workload enabled and are due
 * (postponed_until reached), and hands them to worker threads. A worker
 * takes the next mailbox whose credential has a free slot (max concurrent
 * connections per credential, docs/sync.md; each worker makes one EWS request
 * at a time, so slots bound requests in flight), claims it in the store
 * (one worker per mailbox, across processes), syncs it and releases it.
 * Each worker has its own store handle (handles are not thread-safe).
 */
#include "exsync/sync.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "exsync/clock.h"
#include "exsync/testenable.h"

#define KEY_MAX (EXS_ADDRESS_MAX + 16)

struct slot {
  char key[KEY_MAX];
  int in_use;
  int limit;
};

struct pass {
  const char *db;
  const char *key_file;
  const struct exs_sync_options *opt;
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
  pthread_mutex_t lock;
  pthread_cond_t freed;
  struct exs_sync_stats stats;
  char host[192];
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
  return &ps->slots[ps->n_slots++];
}

/* Under the lock: the next mailbox whose credential has room, or -1. */
static long pick(struct pass *ps, struct slot **out)
{
  for(size_t i = 0; i < ps->n_todo; i++) {
    struct slot *sl;
    if(ps->taken[i])
      continue;
    sl = slot_for(ps, &ps->mailboxes[ps->todo[i]]);
    if(sl->in_use >= sl->limit)
      continue;
    ps->taken[i] = true;
    ps->left--;
    sl->in_use++;
    *out = sl;
    return (long)ps->todo[i];
  }
  return -1;
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
    long idx;
    int claimed = 0;

    pthread_mutex_lock(&ps->lock);
    for(;;) {
      if(ps->left == 0 || ps->failed || (ps->opt->stop && *ps->opt->stop)) {
        pthread_mutex_unlock(&ps->lock);
        exs_store_close(st);
        return NULL;
      }
      idx = pick(ps, &sl);
      if(idx >= 0)
        break;
      pthread_cond_wait(&ps->freed, &ps->lock);
    }
    pthread_mutex_unlock(&ps->lock);

    m = &ps->mailboxes[idx];
    memset(&local, 0, sizeof(local));
    exs_error_clear(&err);
    if(exs_store_mailbox_claim(st, m->address, ps->host,
                               ps->opt->lease_s > 0 ? ps->opt->lease_s : 3600, &claimed,
                               &err) < 0) {
      if(ps->opt->log)
        ps->opt->log(ps->opt->log_ctx, err.message);
    }
    else if(!claimed) {
      local.busy++;
    }
    else if(exs_sync_mailbox(st, &ps->org, find_profile(ps, m->profile), m, ps->opt, &local, &err) <
            0) {
      if(ps->opt->log)
        ps->opt->log(ps->opt->log_ctx, err.message);
      local.errors++;
    }

    pthread_mutex_lock(&ps->lock);
    sl->in_use--;
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

int exs_sync_pass(const char *db_path, const char *key_file, const struct exs_sync_options *opt,
                  struct exs_sync_stats *stats, time_t *next_due, struct exs_error *err)
{
  static const struct exs_sync_options no_options;
  struct pass ps;
  size_t i, nthreads, started = 0;
  size_t max_workers;
  pthread_t *threads = NULL;
  time_t now = exs_now(), due = 0;
  int result = -1;

  memset(&ps, 0, sizeof(ps));
  ps.db = db_path;
  ps.key_file = key_file;
  ps.opt = opt ? opt : &no_options;
  max_workers = ps.opt->max_workers ? ps.opt->max_workers : 16;
  if(ps.opt->host)
    snprintf(ps.host, sizeof(ps.host), "%s", ps.opt->host);
  else {
    char hn[128] = "localhost";
    gethostname(hn, sizeof(hn) - 1);
    hn[sizeof(hn) - 1] = '\0';
    snprintf(ps.host, sizeof(ps.host), "%s:%ld", hn, (long)getpid());
  }
  if(next_due)
    *next_due = 0;
  if(load(&ps, err))
    goto out;
  ps.todo = calloc(ps.nm ? ps.nm : 1, sizeof(*ps.todo));
  ps.taken = calloc(ps.nm ? ps.nm : 1, sizeof(*ps.taken));
  ps.slots = calloc(ps.nm ? ps.nm : 1, sizeof(*ps.slots));
  if(!ps.todo || !ps.taken || !ps.slots) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    goto out;
  }
  for(i = 0; i < ps.nm; i++) {
    const struct exs_mailbox *m = &ps.mailboxes[i];
    if(!any_enabled(m))
      continue;
    if(ps.opt->only_mailbox && strcasecmp(ps.opt->only_mailbox, m->address))
      continue;
    if(!ps.opt->ignore_schedule && m->postponed_until > now)
      continue;
    ps.todo[ps.n_todo++] = i;
  }
  ps.left = ps.n_todo;
  pthread_mutex_init(&ps.lock, NULL);
  pthread_cond_init(&ps.freed, NULL);
  nthreads = ps.n_todo < max_workers ? ps.n_todo : max_workers;
  if(nthreads) {
    threads = calloc(nthreads, sizeof(*threads));
    for(i = 0; threads && i < nthreads; i++) {
      if(pthread_create(&threads[i], NULL, worker, &ps))
        break;
      started++;
    }
    if(started == 0)
      worker(&ps);
    for(i = 0; i < started; i++)
      pthread_join(threads[i], NULL);
    free(threads);
  }
  pthread_cond_destroy(&ps.freed);
  pthread_mutex_destroy(&ps.lock);
  if(ps.failed) {
    *err = ps.err;
    goto out;
  }
  for(i = 0; i < ps.nm; i++) {
    const struct exs_mailbox *m = &ps.mailboxes[i];
    if(!any_enabled(m) || (ps.opt->only_mailbox && strcasecmp(ps.opt->only_mailbox, m->address)))
      continue;
    if(!due || m->postponed_until < due)
      due = m->postponed_until ? m->postponed_until : now;
  }
  if(next_due)
    *next_due = due;
  result = 0;
out:
  if(stats)
    exs_sync_stats_add(stats, &ps.stats);
  unload(&ps);
  return result;
}
