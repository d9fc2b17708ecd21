/* sync_worker.c - this process as a worker of the store (sync.h,
 * exs_sync_worker_start): registered under "HOST:PID", with a heartbeat
 * thread that renews the worker's leases and slots every quarter of the
 * lease, so that they never run out while the process lives, and do run out
 * a lease after it dies. The thread has its own store handle (handles are
 * not thread-safe). */
#include "exsync/sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exsync/clock.h"

struct exs_sync_worker {
  struct exs_store *st;
  struct exs_worker w;
  int64_t lease_ms;
  exs_sync_log_fn log;
  void *log_ctx;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool stop;
};

static int64_t lease_ms_of(const struct exs_sync_options *opt)
{
  return (opt && opt->lease_s > 0 ? opt->lease_s : 60) * 1000;
}

static void *heartbeat_main(void *arg)
{
  struct exs_sync_worker *w = arg;
  struct exs_error err;
  struct timespec at;

  pthread_mutex_lock(&w->lock);
  while(!w->stop) {
    int64_t ns;
    clock_gettime(CLOCK_MONOTONIC, &at);
    ns = (int64_t)at.tv_nsec + (w->lease_ms / 4) * 1000000;
    at.tv_sec += (time_t)(ns / 1000000000);
    at.tv_nsec = (long)(ns % 1000000000);
    while(!w->stop && pthread_cond_timedwait(&w->cond, &w->lock, &at) != ETIMEDOUT)
      ;
    if(w->stop)
      break;
    pthread_mutex_unlock(&w->lock);
    exs_error_clear(&err);
    if(exs_store_worker_heartbeat(w->st, w->w.id, w->lease_ms, NULL, &err) && w->log)
      w->log(w->log_ctx, err.message);
    pthread_mutex_lock(&w->lock);
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

struct exs_sync_worker *exs_sync_worker_start(const char *db_path, const char *key_file,
                                              const struct exs_sync_options *opt,
                                              struct exs_error *err)
{
  struct exs_sync_worker *w = calloc(1, sizeof(*w));
  pthread_condattr_t ca;
  char hn[128] = "localhost";

  if(!w) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    return NULL;
  }
  w->lease_ms = lease_ms_of(opt);
  w->log = opt ? opt->log : NULL;
  w->log_ctx = opt ? opt->log_ctx : NULL;
  w->w.pid = (long)getpid();
  if(opt && opt->host && *opt->host) {
    const char *colon = strrchr(opt->host, ':');
    snprintf(w->w.id, sizeof(w->w.id), "%s", opt->host);
    snprintf(w->w.host, sizeof(w->w.host), "%.*s",
             (int)(colon ? (size_t)(colon - opt->host) : strlen(opt->host)), opt->host);
  }
  else {
    gethostname(hn, sizeof(hn) - 1);
    hn[sizeof(hn) - 1] = '\0';
    snprintf(w->w.host, sizeof(w->w.host), "%s", hn);
    snprintf(w->w.id, sizeof(w->w.id), "%s:%ld", hn, w->w.pid);
  }
  w->st = exs_store_open(db_path, key_file, err);
  if(!w->st || exs_store_worker_register(w->st, &w->w, err)) {
    exs_store_close(w->st);
    free(w);
    return NULL;
  }
  pthread_mutex_init(&w->lock, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cond, &ca);
  pthread_condattr_destroy(&ca);
  if(pthread_create(&w->thread, NULL, heartbeat_main, w)) {
    exs_error_set(err, EXS_CAT_CONFIG, "cannot start the heartbeat thread");
    exs_store_worker_unregister(w->st, w->w.id, err);
    exs_store_close(w->st);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return NULL;
  }
  return w;
}

const char *exs_sync_worker_id(const struct exs_sync_worker *w)
{
  return w->w.id;
}

void exs_sync_worker_stop(struct exs_sync_worker *w)
{
  struct exs_error err;

  if(!w)
    return;
  pthread_mutex_lock(&w->lock);
  w->stop = true;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
  exs_error_clear(&err);
  if(exs_store_worker_unregister(w->st, w->w.id, &err) && w->log)
    w->log(w->log_ctx, err.message);
  exs_store_close(w->st);
  pthread_cond_destroy(&w->cond);
  pthread_mutex_destroy(&w->lock);
  free(w);
}
