/* conn.c - the emulator's connections under abuse: a cap, an idle and a
 * request (slowloris) timeout, and accepts paused at the fd limit.
 *
 * evhttp (libevent 2.1) tells nothing about the connections it accepts, so
 * each one is adopted through the bevcb: the bufferevent made for it is
 * held (incref) until a one-shot event, run right after evhttp attached it
 * to its evhttp_connection, reads that connection back from the
 * bufferevent's callback argument and installs a close callback (a
 * connection freed meanwhile has its callbacks cleared: it is dropped).
 * From then on the close callback is the only place the record goes away.
 * A connection lives on the worker (event loop thread) that accepted it,
 * in that worker's list: only the worker changes its record, under the
 * worker's conn_lock, which other workers take to pick the oldest idle
 * connection of all for the connection cap (and then ask its worker to close
 * it). The counters are global, under emu->lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "emu_internal.h"
#include "exsync/clock.h"

#define DEF_IDLE_MS 120000
#define DEF_REQUEST_MS 30000
#define DEF_HEADER_BYTES (64 * 1024)
#define DEF_MAX_CONNECTIONS 1024
#define DEF_PAUSE_MS 100
#define FD_RESERVE 32 /* fds kept for listeners, files, the journal */
#define LOG_INTERVAL_MS 60000
#define EVICT_AT_FD_LIMIT 16 /* idle connections closed per accept() failure */

struct emu_conn {
  struct emu *emu;
  struct emu_worker *worker;
  struct bufferevent *bev;
  struct evhttp_connection *evcon; /* NULL until adopted */
  struct event *hook;              /* the one-shot adoption event */
  struct event *deadline;
  struct evbuffer_cb_entry *incb; /* first bytes of a request */
  uint64_t id;
  bool busy;      /* a request is in the handler */
  bool receiving; /* bytes of the next request arrived */
  bool evicting;  /* another worker asked this one's worker to close it */
  struct emu_conn *older, *newer;
};

/* accept() error callbacks get evhttp's pointer, not ours: listeners are
 * found here by their evconnlistener */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reg {
  struct evconnlistener *lev;
  struct emu *emu;
  struct emu_worker *worker;
  struct event *resume; /* accepts paused at the fd limit */
} * reg;
static size_t nreg, reg_cap;

static void arm(struct emu_conn *c, long ms)
{
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

  if(c->deadline)
    evtimer_add(c->deadline, &tv);
}

static long max_connections(struct emu *emu)
{
  struct rlimit rl;
  long max = emu->conns.limits.max_connections;

  if(!emu->conns.explicit_max && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
     rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur - FD_RESERVE < max)
    max = (long)rl.rlim_cur - FD_RESERVE > 1 ? (long)rl.rlim_cur - FD_RESERVE : 1;
  return max;
}

void emu_conn_http_limits(struct emu *emu, struct evhttp *http)
{
  const struct emu_conns *d = &emu->conns;
  long idle = d->limits.idle_timeout_ms, request = d->limits.request_timeout_ms;
  /* evhttp's own read/write timeout is the backstop (a client that stops
   * reading an answer); the deadlines here come first */
  long ms = idle + request;
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

  evhttp_set_max_body_size(http, EMU_MAX_BODY);
  evhttp_set_max_headers_size(http, d->limits.max_header_bytes);
  evhttp_set_timeout_tv(http, &tv);
}

void emu_set_limits(struct emu *emu, const struct emu_limits *l)
{
  struct emu_conns *d = &emu->conns;

  pthread_mutex_lock(&emu->lock);
  d->limits.idle_timeout_ms = l->idle_timeout_ms > 0 ? l->idle_timeout_ms : DEF_IDLE_MS;
  d->limits.request_timeout_ms = l->request_timeout_ms > 0 ? l->request_timeout_ms : DEF_REQUEST_MS;
  d->limits.max_header_bytes = l->max_header_bytes > 0 ? l->max_header_bytes : DEF_HEADER_BYTES;
  d->limits.max_connections = l->max_connections > 0 ? l->max_connections : DEF_MAX_CONNECTIONS;
  d->limits.accept_pause_ms = l->accept_pause_ms > 0 ? l->accept_pause_ms : DEF_PAUSE_MS;
  emu->conns.explicit_max = l->max_connections > 0;
  /* the workers' evhttps belong to their threads: each applies the new
   * limits at its next accept (emu_conn_adopt) */
  atomic_fetch_add(&d->limits_gen, 1);
  pthread_mutex_unlock(&emu->lock);
}

void emu_conn_stats(struct emu *emu, struct emu_conn_stats *out)
{
  pthread_mutex_lock(&emu->lock);
  *out = emu->conns.stats;
  pthread_mutex_unlock(&emu->lock);
}

void emu_conns_init(struct emu *emu)
{
  struct emu_limits zero;

  memset(&zero, 0, sizeof(zero));
  emu_set_limits(emu, &zero);
}

static void count_eviction(struct emu *emu)
{
  pthread_mutex_lock(&emu->lock);
  emu->conns.stats.evicted++;
  pthread_mutex_unlock(&emu->lock);
}

struct remote_evict {
  struct emu_worker *w;
  uint64_t id;
};

static struct emu_conn *find_id(struct emu_worker *w, uint64_t id);

static void count_remote(struct emu *emu, int d)
{
  pthread_mutex_lock(&emu->lock);
  emu->conns.remote_evictions += (size_t)d;
  pthread_mutex_unlock(&emu->lock);
}

/* On the victim's worker: close it unless a request came in meanwhile. */
static void remote_evict_cb(evutil_socket_t fd, short what, void *arg)
{
  struct remote_evict *re = arg;
  struct emu_worker *w = re->w;
  struct emu_conn *c = find_id(w, re->id);

  (void)fd;
  (void)what;
  free(re);
  if(!c)
    return; /* closed meanwhile: closed_cb settled the count */
  if(!c->busy && c->evcon) {
    count_eviction(w->emu);
    evhttp_connection_free(c->evcon); /* closed_cb frees c and settles the count */
    return;
  }
  pthread_mutex_lock(&w->conn_lock);
  c->evicting = false;
  count_remote(w->emu, -1);
  pthread_mutex_unlock(&w->conn_lock);
}

/* Close the oldest connection of all workers (own_only: of self) that is
 * not inside a request (not keep); false when there is none. One of self's
 * own is closed now, another worker's is closed by that worker (asked
 * through its base). */
static bool evict_oldest(struct emu_worker *self, struct emu_conn *keep, bool own_only)
{
  struct emu *emu = self->emu;
  struct emu_conn *victim = NULL;
  struct emu_worker *vw = NULL;
  uint64_t vid = 0;

  for(size_t i = 0; i < emu->nworkers; i++) {
    struct emu_worker *w = emu->workers[i];
    struct emu_conn *c;
    if(own_only && w != self)
      continue;
    pthread_mutex_lock(&w->conn_lock);
    for(c = w->oldest; c; c = c->newer)
      if(c != keep && !c->busy && !c->evicting && c->evcon)
        break;
    if(c && (!victim || c->id < vid)) {
      if(vw)
        pthread_mutex_unlock(&vw->conn_lock);
      victim = c;
      vid = c->id;
      vw = w;
      continue; /* keep its worker locked until the choice is made */
    }
    pthread_mutex_unlock(&w->conn_lock);
  }
  if(!victim)
    return false;
  if(vw == self) {
    pthread_mutex_unlock(&vw->conn_lock);
    count_eviction(emu);
    evhttp_connection_free(victim->evcon); /* closed_cb frees it */
    return true;
  }
  {
    struct remote_evict *re = malloc(sizeof(*re));
    struct timeval zero = {0, 0};
    /* counted as gone from now on, until closed (closed_cb) or spared */
    if(re) {
      victim->evicting = true;
      count_remote(emu, 1);
    }
    pthread_mutex_unlock(&vw->conn_lock);
    if(!re)
      return false;
    re->w = vw;
    re->id = vid;
    if(event_base_once(vw->base, -1, EV_TIMEOUT, remote_evict_cb, re, &zero) != 0) {
      pthread_mutex_lock(&vw->conn_lock);
      for(struct emu_conn *c = vw->newest; c; c = c->older) {
        if(c->id == vid && c->evicting) {
          c->evicting = false; /* still open: only its worker closes it */
          count_remote(emu, -1);
        }
      }
      pthread_mutex_unlock(&vw->conn_lock);
      free(re);
      return false;
    }
    return true;
  }
}

static void closed_cb(struct evhttp_connection *evcon, void *arg)
{
  struct emu_conn *c = arg;
  struct emu *emu = c->emu;

  if(c->incb)
    evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->incb);
  if(c->deadline)
    event_free(c->deadline);
  pthread_mutex_lock(&c->worker->conn_lock);
  if(c->older)
    c->older->newer = c->newer;
  else
    c->worker->oldest = c->newer;
  if(c->newer)
    c->newer->older = c->older;
  else
    c->worker->newest = c->older;
  /* under conn_lock: evicting cannot change meanwhile (lock order: a
   * worker's conn_lock, then emu->lock) */
  pthread_mutex_lock(&emu->lock);
  emu->conns.stats.open--;
  if(c->evicting)
    emu->conns.remote_evictions--;
  pthread_mutex_unlock(&emu->lock);
  pthread_mutex_unlock(&c->worker->conn_lock);
  if(emu->conns.on_close)
    emu->conns.on_close(emu, evcon);
  free(c);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
  struct emu_conn *c = arg;

  (void)fd;
  (void)what;
  if(c->busy)
    return;
  pthread_mutex_lock(&c->emu->lock);
  c->emu->conns.stats.timed_out++;
  pthread_mutex_unlock(&c->emu->lock);
  evhttp_connection_free(c->evcon); /* closed_cb frees c */
}

/* The first bytes of a request: from now on the request timeout. */
static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
  struct emu_conn *c = arg;

  (void)buf;
  if(info->n_added && !c->busy && !c->receiving) {
    c->receiving = true;
    arm(c, c->emu->conns.limits.request_timeout_ms);
  }
}

static void adopt_cb(evutil_socket_t fd, short what, void *arg)
{
  struct emu_conn *c = arg;
  struct emu *emu = c->emu;
  void *cbarg = NULL;
  bool over;

  (void)fd;
  (void)what;
  event_free(c->hook);
  c->hook = NULL;
  bufferevent_getcb(c->bev, NULL, NULL, NULL, &cbarg);
  if(!cbarg || evhttp_connection_get_bufferevent(cbarg) != c->bev) {
    bufferevent_decref(c->bev); /* evhttp dropped it already */
    free(c);
    return;
  }
  c->evcon = cbarg;
  c->deadline = evtimer_new(c->worker->base, deadline_cb, c);
  c->incb = evbuffer_add_cb(bufferevent_get_input(c->bev), input_cb, c);
  evhttp_connection_set_closecb(c->evcon, closed_cb, c);
  pthread_mutex_lock(&emu->lock);
  c->id = ++emu->conns.next_id;
  pthread_mutex_unlock(&emu->lock);
  pthread_mutex_lock(&c->worker->conn_lock);
  c->older = c->worker->newest;
  if(c->older)
    c->older->newer = c;
  else
    c->worker->oldest = c;
  c->worker->newest = c;
  pthread_mutex_unlock(&c->worker->conn_lock);
  pthread_mutex_lock(&emu->lock);
  emu->conns.stats.open++;
  emu->conns.stats.accepted++;
  /* connections another worker was asked to close are gone already */
  over = (long)(emu->conns.stats.open - emu->conns.remote_evictions) > max_connections(emu);
  pthread_mutex_unlock(&emu->lock);
  bufferevent_decref(c->bev);
  arm(c, emu->conns.limits.idle_timeout_ms);
  if(over && !evict_oldest(c->worker, c, false)) {
    /* every other connection is inside a request: this one goes */
    count_eviction(emu);
    evhttp_connection_free(c->evcon);
  }
}

struct bufferevent *emu_conn_adopt(struct emu_worker *w, struct bufferevent *bev)
{
  struct emu_conn *c;

  if(!bev)
    return NULL;
  if(w->limits_gen != atomic_load(&w->emu->conns.limits_gen)) {
    /* emu_set_limits changed them: evhttp reads them after this callback */
    w->limits_gen = atomic_load(&w->emu->conns.limits_gen);
    if(w->http)
      emu_conn_http_limits(w->emu, w->http);
    if(w->https)
      emu_conn_http_limits(w->emu, w->https);
  }
  c = calloc(1, sizeof(*c));
  if(!c)
    return bev; /* untracked: it works, without NTLM state */
  c->emu = w->emu;
  c->worker = w;
  c->bev = bev;
  c->hook = event_new(bufferevent_get_base(bev), -1, 0, adopt_cb, c);
  if(!c->hook) {
    free(c);
    return bev;
  }
  bufferevent_incref(bev);
  event_active(c->hook, EV_TIMEOUT, 1);
  return bev;
}

static struct emu_conn *find_id(struct emu_worker *w, uint64_t id)
{
  struct emu_conn *c;

  for(c = w->newest; c; c = c->older)
    if(c->id == id)
      return c;
  return NULL;
}

struct emu_worker *emu_worker_of(struct emu *emu, struct event_base *base)
{
  for(size_t i = 0; i < emu->nworkers; i++)
    if(emu->workers[i]->base == base)
      return emu->workers[i];
  return NULL;
}

static void set_busy(struct emu_conn *c, bool busy)
{
  pthread_mutex_lock(&c->worker->conn_lock);
  c->busy = busy;
  pthread_mutex_unlock(&c->worker->conn_lock);
}

uint64_t emu_conn_request_start(struct emu_worker *w, struct evhttp_connection *evcon)
{
  struct emu_conn *c;

  for(c = w->newest; c; c = c->older)
    if(c->evcon == evcon)
      break;
  if(!c)
    return 0;
  set_busy(c, true);
  c->receiving = false;
  if(c->deadline)
    evtimer_del(c->deadline);
  return c->id;
}

void emu_conn_request_done(struct emu_worker *w, uint64_t id)
{
  struct emu_conn *c = id ? find_id(w, id) : NULL;

  if(!c)
    return;
  set_busy(c, false);
  c->receiving = false;
  arm(c, w->emu->conns.limits.idle_timeout_ms);
}

bool emu_conn_alive(struct emu_worker *w, uint64_t id)
{
  return id && find_id(w, id) != NULL;
}

bool emu_conn_tracked(struct emu *emu, struct evhttp_connection *evcon)
{
  struct emu_worker *w = emu_worker_of(emu, evhttp_connection_get_base(evcon));
  struct emu_conn *c;

  for(c = w ? w->newest : NULL; c; c = c->older)
    if(c->evcon == evcon)
      return true;
  return false;
}

/* ---- accepts at the fd limit ---- */

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
  (void)fd;
  (void)what;
  evconnlistener_enable(arg);
}

static void accept_error_cb(struct evconnlistener *lev, void *unused)
{
  int err = EVUTIL_SOCKET_ERROR();
  struct emu *emu = NULL;
  struct emu_worker *w = NULL;
  struct event *resume = NULL;
  size_t i, open, skipped = 0;
  int64_t now = exs_monotonic_ms();
  bool log = false;
  long pause;

  (void)unused;
  pthread_mutex_lock(&reg_lock);
  for(i = 0; i < nreg; i++)
    if(reg[i].lev == lev) {
      emu = reg[i].emu;
      w = reg[i].worker;
      resume = reg[i].resume;
    }
  pthread_mutex_unlock(&reg_lock);
  if(!emu)
    return;
  /* not accepting for a moment stops the spin (the listening socket stays
   * readable); closing idle connections gives the next clients fds, and
   * then the moment is only until the loop has closed them */
  evconnlistener_disable(lev);
  /* this thread's own idle connections first: their fds are free at once
   * (another thread's close takes a moment, and accepts would fail again
   * meanwhile); another thread's only when it has none, then a pause */
  for(i = 0; i < EVICT_AT_FD_LIMIT && evict_oldest(w, NULL, true); i++)
    ;
  if(i == 0)
    evict_oldest(w, NULL, false); /* closed within the pause below */
  pthread_mutex_lock(&emu->lock);
  pause = i ? 0 : emu->conns.limits.accept_pause_ms;
  emu->conns.stats.accept_pauses++;
  open = emu->conns.stats.open;
  if(!emu->conns.last_log_ms || now - emu->conns.last_log_ms >= LOG_INTERVAL_MS) {
    log = true;
    skipped = emu->conns.unlogged_pauses;
    emu->conns.unlogged_pauses = 0;
    emu->conns.last_log_ms = now;
  }
  else {
    emu->conns.unlogged_pauses++;
  }
  pthread_mutex_unlock(&emu->lock);
  if(log) {
    if(skipped)
      fprintf(stderr,
              "exsync-emulator: accept: %s (%zu connections open): %zu more accept "
              "pauses since the last message\n",
              strerror(err), open, skipped);
    else
      fprintf(stderr,
              "exsync-emulator: accept: %s (%zu connections open): the oldest idle "
              "connections are closed, accepts pause (up to %ld ms when none is idle); "
              "further pauses are counted, logged at most once a minute\n",
              strerror(err), open, emu->conns.limits.accept_pause_ms);
  }
  {
    struct timeval tv = {pause / 1000, (pause % 1000) * 1000};
    evtimer_add(resume, &tv);
  }
}

void emu_conn_listener_added(struct emu_worker *w, struct evhttp_bound_socket *h)
{
  struct evconnlistener *lev = evhttp_bound_socket_get_listener(h);
  struct event *resume = lev ? evtimer_new(w->base, resume_cb, lev) : NULL;

  if(!resume)
    return; /* no memory: libevent's own handling (a warning per failure) */
  pthread_mutex_lock(&reg_lock);
  if(nreg == reg_cap) {
    size_t cap = reg_cap ? 2 * reg_cap : 8;
    struct reg *n = realloc(reg, cap * sizeof(*n));
    if(!n) {
      pthread_mutex_unlock(&reg_lock);
      event_free(resume);
      return;
    }
    reg = n;
    reg_cap = cap;
  }
  reg[nreg].lev = lev;
  reg[nreg].emu = w->emu;
  reg[nreg].worker = w;
  reg[nreg].resume = resume;
  nreg++;
  evconnlistener_set_error_cb(lev, accept_error_cb);
  pthread_mutex_unlock(&reg_lock);
}

void emu_conns_destroy(struct emu *emu)
{
  size_t i = 0;

  pthread_mutex_lock(&reg_lock);
  while(i < nreg) {
    if(reg[i].emu == emu) {
      event_free(reg[i].resume);
      reg[i] = reg[--nreg];
    }
    else {
      i++;
    }
  }
  if(!nreg) {
    free(reg);
    reg = NULL;
    reg_cap = 0;
  }
  pthread_mutex_unlock(&reg_lock);
}
