/* testenable_batch.c - Test & Enable of many mailboxes on worker threads,
 * with at most max-connections tests in flight per credential. */
#include "exsync/testenable.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exsync/clock.h"

#define KEY_MAX (EXS_ADDRESS_MAX + 16)

struct slot {
  char key[KEY_MAX];
  int in_use;
  int limit;
  /* idle transports of this credential, reused by the next test: never
   * more than limit exist, since each is held by a test in flight */
  struct exs_te_connection **idle;
  int n_idle;
  bool keep; /* profile credentials: worth keeping between tests */
};

/* One distinct (location, credential) of the run: the profile check. */
struct check {
  char key[EXS_URL_MAX + EXS_USER_MAX + 128];
  size_t profile;      /* index in profiles[] */
  size_t first;        /* the first mailbox using it (the check acts on it) */
  enum exs_workload w; /* incoming (also ACT) or outgoing settings */
  size_t dependents;
  bool failed; /* set once, under the batch lock, after err is written */
  bool alerted;
  struct exs_error err;
};

struct batch {
  const struct exs_org *org;
  const struct exs_profile *profiles;
  size_t np;
  struct exs_mailbox *mailboxes;
  struct exs_te_result *results;
  const struct exs_te_batch_options *opt;
  size_t *todo; /* indexes to run in this pass */
  size_t n_todo;
  size_t next; /* next todo position to hand out */
  size_t done;
  size_t total_done;
  size_t total;
  struct slot *slots; /* one per distinct credential key */
  size_t n_slots;
  struct check *checks;
  size_t n_checks;
  size_t (*uses)[2]; /* per mailbox: check index + 1 of its incoming and outgoing, 0: none */
  pthread_mutex_t lock;
  pthread_cond_t freed;
  struct exs_autodiscover_cache *ad_cache; /* the run's: a domain is searched once */
  struct exs_autodiscover_cache *own_ad_cache;
};

static const struct exs_profile *find_profile(const struct batch *b, const char *name)
{
  size_t i;

  for(i = 0; i < b->np; i++)
    if(!strcmp(b->profiles[i].name, name))
      return &b->profiles[i];
  return NULL;
}

static struct slot *slot_for(struct batch *b, const char *key, int limit)
{
  size_t i;

  for(i = 0; i < b->n_slots; i++)
    if(!strcmp(b->slots[i].key, key))
      return &b->slots[i];
  /* slots[] was sized for one per mailbox, so this never overflows */
  snprintf(b->slots[b->n_slots].key, KEY_MAX, "%s", key);
  b->slots[b->n_slots].limit = limit > 0 ? limit : 1;
  return &b->slots[b->n_slots++];
}

/* Under the batch lock: an idle transport of slot s, or a new one. */
static struct exs_te_connection *conn_take(struct slot *s)
{
  if(s->n_idle > 0)
    return s->idle[--s->n_idle];
  return exs_te_connection_new();
}

/* Under the batch lock: give a transport back (or close it). */
static void conn_give(struct slot *s, struct exs_te_connection *c)
{
  if(!c)
    return;
  if(s->keep && !s->idle)
    s->idle = calloc((size_t)s->limit, sizeof(*s->idle));
  if(s->keep && s->idle && s->n_idle < s->limit) {
    s->idle[s->n_idle++] = c;
    return;
  }
  exs_te_connection_free(c);
}

/* Whether the connection step of direction d (0 incoming, 1 outgoing) failed. */
static bool connect_failed(const struct exs_te_result *r, int d)
{
  bool own_out = false;
  size_t i;

  for(i = 0; i < r->n_steps; i++)
    if(!strcmp(r->steps[i].name, "connect-outgoing"))
      own_out = true;
  for(i = 0; i < r->n_steps; i++) {
    const char *want = d && own_out ? "connect-outgoing" : "connect";
    if(!strcmp(r->steps[i].name, want))
      return r->steps[i].status == EXS_STEP_FAILED;
  }
  return false;
}

/* Under the batch lock: a location or credential that failed in mailbox
 * idx's own test (after a passing check) fails every later test using it,
 * so a credential refused mid-run is not presented again. */
static void note_refusal(struct batch *b, size_t idx)
{
  const struct exs_te_result *r = &b->results[idx];
  int d;

  for(d = 0; d < 2; d++) {
    size_t c = b->uses[idx][d];
    enum exs_workload w = d ? EXS_WL_OUTGOING : EXS_WL_INCOMING;
    const struct exs_error *e;
    if(!c || b->checks[c - 1].failed)
      continue;
    if(!d && r->status[w] != EXS_STATUS_FAILURE)
      w = EXS_WL_ACT;
    if(r->status[w] != EXS_STATUS_FAILURE)
      continue;
    e = &r->error[w];
    if(!connect_failed(r, d) || !exs_testenable_shared_category(e->category))
      continue;
    b->checks[c - 1].err = *e;
    b->checks[c - 1].failed = true;
  }
}

/* Whether mailbox m tests a workload of direction d (0 incoming/ACT, 1 outgoing). */
static bool wants_dir(const struct exs_mailbox *m, int d)
{
  if(d)
    return exs_mailbox_uses_ssync(m, EXS_WL_OUTGOING);
  return exs_mailbox_uses_ssync(m, EXS_WL_INCOMING) || exs_mailbox_uses_ssync(m, EXS_WL_ACT);
}

/* The profile check (docs/test-enable.md): find the distinct (location, profile
 * credential) pairs of the run and try each once, before any mailbox. */
static int profile_check(struct batch *b)
{
  size_t i, k;
  int d;

  b->uses = calloc(b->total ? b->total : 1, sizeof(*b->uses));
  b->checks = calloc(2 * (b->total ? b->total : 1), sizeof(*b->checks));
  if(!b->uses || !b->checks)
    return -1;
  /* a run of one mailbox checks nothing apart: its own test is the check */
  for(i = 0; b->total > 1 && i < b->total; i++) {
    const struct exs_mailbox *m = &b->mailboxes[i];
    const struct exs_profile *p = find_profile(b, m->profile);
    for(d = 0; p && !p->autodiscover && d < 2; d++) {
      enum exs_workload w = d ? EXS_WL_OUTGOING : EXS_WL_INCOMING;
      struct exs_access a;
      struct exs_error e;
      char key[sizeof(b->checks[0].key)];
      exs_error_clear(&e);
      if(!wants_dir(m, d) || exs_access_for(p, m, w, &a, &e) || a.mailbox_credentials)
        continue;
      exs_access_key(&a, NULL, key, sizeof(key));
      for(k = 0; k < b->n_checks; k++)
        if(!strcmp(b->checks[k].key, key))
          break;
      if(k == b->n_checks) {
        struct check *c = &b->checks[b->n_checks++];
        snprintf(c->key, sizeof(c->key), "%s", key);
        c->profile = (size_t)(p - b->profiles);
        c->first = i;
        c->w = w;
      }
      if(!(d && b->uses[i][0] == k + 1))
        b->checks[k].dependents++; /* mailboxes, not directions */
      b->uses[i][d] = k + 1;
    }
  }
  for(k = 0; k < b->n_checks; k++) {
    struct check *c = &b->checks[k];
    const struct exs_profile *p = &b->profiles[c->profile];
    const struct exs_mailbox *m = &b->mailboxes[c->first];
    struct exs_te_options te = b->opt->te;
    char skey[KEY_MAX];
    struct slot *s;
    exs_testenable_credential_key(p, m, skey, sizeof(skey));
    s = slot_for(b, skey, p->max_connections);
    s->keep = true; /* the checked connection serves the mailboxes that follow */
    te.reuse = conn_take(s);
    c->failed = exs_testenable_check_access(b->org, p, m, c->w, &te, &c->err) == 1;
    conn_give(s, te.reuse);
  }
  return 0;
}

/* One profile-level alert per failed check, on its profile's result. */
static void profile_alerts(struct batch *b)
{
  struct exs_te_profile_result *pr = b->opt->profile_results;
  size_t i, k;

  if(!pr)
    return;
  for(i = 0; i < b->np; i++) {
    memset(&pr[i], 0, sizeof(pr[i]));
    snprintf(pr[i].name, sizeof(pr[i].name), "%s", b->profiles[i].name);
  }
  for(i = 0; i < b->total; i++) {
    const struct exs_profile *p = find_profile(b, b->mailboxes[i].profile);
    if(p)
      pr[p - b->profiles].mailboxes++;
  }
  for(k = 0; k < b->n_checks; k++) {
    struct check *c = &b->checks[k];
    struct exs_te_profile_result *r = &pr[c->profile];
    struct exs_te_alert *a;
    if(!c->failed || r->n_alerts >= EXS_TE_MAX_ALERTS)
      continue;
    a = &r->alerts[r->n_alerts++];
    a->severity = c->err.transient ? EXS_SEV_WARNING : EXS_SEV_ERROR;
    a->workload = -1;
    a->error = c->err;
    {
      /* the profile's words first: a long transport message must not hide them */
      char msg[sizeof(a->error.message)];
      snprintf(msg, sizeof(msg),
               "profile check of '%s'%s (%zu mailbox%s of the run use%s this "
               "location and credential): %s",
               b->profiles[c->profile].name, c->w == EXS_WL_OUTGOING ? ", outgoing settings" : "",
               c->dependents, c->dependents == 1 ? "" : "es", c->dependents == 1 ? "s" : "",
               c->err.message);
      memcpy(a->error.message, msg, sizeof(msg));
    }
  }
}

static void *worker(void *arg)
{
  struct batch *b = arg;

  for(;;) {
    const struct exs_profile *p;
    struct exs_mailbox *m;
    struct slot *s;
    struct exs_te_options te;
    struct exs_te_connection *conn;
    char key[KEY_MAX];
    size_t idx;

    pthread_mutex_lock(&b->lock);
    if(b->next >= b->n_todo) {
      pthread_mutex_unlock(&b->lock);
      return NULL;
    }
    idx = b->todo[b->next++];
    m = &b->mailboxes[idx];
    p = find_profile(b, m->profile);
    exs_testenable_credential_key(p, m, key, sizeof(key));
    s = slot_for(b, key, p ? p->max_connections : 1);
    /* a profile's credential serves the mailboxes that follow; a mailbox's own, none */
    s->keep = strncmp(key, "mailbox:", 8) != 0;
    while(s->in_use >= s->limit)
      pthread_cond_wait(&b->freed, &b->lock);
    s->in_use++;
    conn = conn_take(s);

    te = b->opt->te;
    te.reuse = conn;
    te.ad_cache = b->ad_cache;
    for(int d = 0; d < 2; d++) {
      size_t c = b->uses[idx][d];
      if(c && b->checks[c - 1].failed)
        te.shared_failure[d] = &b->checks[c - 1].err;
    }
    if(b->opt->started)
      b->opt->started(b->opt->progress_ctx, m);
    pthread_mutex_unlock(&b->lock);

    exs_testenable_mailbox(b->org, p, m, &te, &b->results[idx]);

    pthread_mutex_lock(&b->lock);
    note_refusal(b, idx);
    conn_give(s, conn);
    s->in_use--;
    b->total_done++;
    if(b->opt->progress)
      b->opt->progress(b->opt->progress_ctx, b->total_done, b->total, &b->results[idx]);
    pthread_cond_broadcast(&b->freed);
    pthread_mutex_unlock(&b->lock);
  }
}

static int run_pass(struct batch *b)
{
  size_t max_workers = b->opt->max_workers ? b->opt->max_workers : 64;
  size_t nthreads = b->n_todo < max_workers ? b->n_todo : max_workers;
  pthread_t *threads;
  size_t started = 0, i;

  b->next = 0;
  if(nthreads == 0)
    return 0;
  threads = calloc(nthreads, sizeof(*threads));
  if(!threads)
    return -1;
  for(i = 0; i < nthreads; i++) {
    if(pthread_create(&threads[i], NULL, worker, b))
      break;
    started++;
  }
  if(started == 0)
    worker(b); /* no threads to be had: do the work here */
  for(i = 0; i < started; i++)
    pthread_join(threads[i], NULL);
  free(threads);
  return 0;
}

int exs_testenable_batch(const struct exs_org *org, const struct exs_profile *profiles, size_t np,
                         struct exs_mailbox *mailboxes, size_t n,
                         const struct exs_te_batch_options *opt, struct exs_te_result *results)
{
  struct batch b;
  int result = 0;
  size_t i;

  memset(&b, 0, sizeof(b));
  b.org = org;
  b.profiles = profiles;
  b.np = np;
  b.mailboxes = mailboxes;
  b.results = results;
  b.opt = opt;
  b.total = n;
  b.todo = calloc(n ? n : 1, sizeof(*b.todo));
  b.slots = calloc(n ? n : 1, sizeof(*b.slots));
  b.ad_cache =
      opt->te.ad_cache ? opt->te.ad_cache : (b.own_ad_cache = exs_autodiscover_cache_new());
  if(!b.todo || !b.slots || !b.ad_cache) {
    free(b.todo);
    free(b.slots);
    exs_autodiscover_cache_free(b.own_ad_cache);
    return -1;
  }
  pthread_mutex_init(&b.lock, NULL);
  pthread_cond_init(&b.freed, NULL);
  for(i = 0; i < n; i++)
    b.todo[i] = i;
  b.n_todo = n;
  if(profile_check(&b)) {
    result = -1;
    goto out;
  }
  if(run_pass(&b) < 0)
    result = -1;

  /* transient failures: rerun on their schedule until settled */
  while(result == 0 && opt->wait_retries) {
    time_t earliest = 0;
    b.n_todo = 0;
    for(i = 0; i < n; i++) {
      if(!results[i].retry_scheduled)
        continue;
      b.todo[b.n_todo++] = i;
      if(!earliest || mailboxes[i].retry_at < earliest)
        earliest = mailboxes[i].retry_at;
    }
    if(!b.n_todo)
      break;
    if(earliest > exs_now())
      exs_sleep_ms((int64_t)(earliest - exs_now()) * 1000);
    b.total += b.n_todo;
    if(run_pass(&b) < 0)
      result = -1;
  }

  profile_alerts(&b);
  for(i = 0; result >= 0 && i < n; i++)
    for(int w = 0; w < EXS_WL_COUNT; w++)
      if(results[i].status[w] == EXS_STATUS_FAILURE)
        result = 1;
out:
  for(i = 0; i < b.n_slots; i++) {
    while(b.slots[i].n_idle > 0)
      exs_te_connection_free(b.slots[i].idle[--b.slots[i].n_idle]);
    free(b.slots[i].idle);
  }
  exs_autodiscover_cache_free(b.own_ad_cache); /* after the handles using it */
  pthread_cond_destroy(&b.freed);
  pthread_mutex_destroy(&b.lock);
  free(b.todo);
  free(b.slots);
  free(b.checks);
  free(b.uses);
  return result;
}
