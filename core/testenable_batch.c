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
  bool keep;           /* profile credentials: worth keeping between tests */
};

struct batch {
  const struct exs_org *org;
  const struct exs_profile *profiles;
  size_t np;
  struct exs_mailbox *mailboxes;
  struct exs_te_result *results;
  const struct exs_te_batch_options *opt;
  size_t *todo;        /* indexes to run in this pass */
  size_t n_todo;
  size_t next;         /* next todo position to hand out */
  size_t done;
  size_t total_done;
  size_t total;
  struct slot *slots;  /* one per distinct credential key */
  size_t n_slots;
  pthread_mutex_t lock;
  pthread_cond_t freed;
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
    s->keep = p && p->retrieval != EXS_RETRIEVAL_USER;
    while(s->in_use >= s->limit)
      pthread_cond_wait(&b->freed, &b->lock);
    s->in_use++;
    conn = conn_take(s);
    pthread_mutex_unlock(&b->lock);

    te = b->opt->te;
    te.reuse = conn;
    exs_testenable_mailbox(b->org, p, m, &te, &b->results[idx]);

    pthread_mutex_lock(&b->lock);
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

int exs_testenable_batch(const struct exs_org *org, const struct exs_profile *profiles,
                         size_t np, struct exs_mailbox *mailboxes, size_t n,
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
  if(!b.todo || !b.slots) {
    free(b.todo);
    free(b.slots);
    return -1;
  }
  pthread_mutex_init(&b.lock, NULL);
  pthread_cond_init(&b.freed, NULL);
  for(i = 0; i < n; i++)
    b.todo[i] = i;
  b.n_todo = n;
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

  for(i = 0; result >= 0 && i < n; i++)
    for(int w = 0; w < EXS_WL_COUNT; w++)
      if(results[i].status[w] == EXS_STATUS_FAILURE)
        result = 1;
  for(i = 0; i < b.n_slots; i++) {
    while(b.slots[i].n_idle > 0)
      exs_te_connection_free(b.slots[i].idle[--b.slots[i].n_idle]);
    free(b.slots[i].idle);
  }
  pthread_cond_destroy(&b.freed);
  pthread_mutex_destroy(&b.lock);
  free(b.todo);
  free(b.slots);
  return result;
}
