/* emu_release.h - concurrency without clocks, for the suites that run the
 * emulator in-process: beside a call that blocks (a batch, a sync pass), a
 * thread that, once n answers are held together by a long delay fault
 * ("delay-ms=600000 times=n"), releases them (emu_release_delayed) and
 * whatever is held after them, until joined. After 60 s without n held
 * together it releases everything anyway, so that the call ends and the
 * test fails instead of hanging.
 *
 * Header-only (static functions), like emu_client.h.
 */
#ifndef EMU_RELEASE_H
#define EMU_RELEASE_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "exsync-emulator/emulator.h"
#include "exsync/clock.h"
#include "testutil.h"

struct tu_releaser {
  struct emu *emu;
  size_t n;
  _Atomic int held; /* the n answers were held together */
  _Atomic int stop;
  pthread_t thread;
};

static inline void *tu_releaser_main(void *arg)
{
  struct tu_releaser *r = arg;
  int64_t deadline = exs_monotonic_ms() + 60000;

  while(!r->stop) {
    if(!r->held && emu_delayed(r->emu) >= r->n)
      r->held = 1;
    if(r->held || exs_monotonic_ms() >= deadline)
      emu_release_delayed(r->emu);
    poll(NULL, 0, 5); /* polling the emulator, with a deadline */
  }
  return NULL;
}

/* Start the thread; free it with tu_releaser_join. */
static inline struct tu_releaser *tu_release_when_delayed(struct emu *emu, size_t n)
{
  struct tu_releaser *r = calloc(1, sizeof(*r));

  ck_assert_ptr_nonnull(r);
  r->emu = emu;
  r->n = n;
  ck_assert_int_eq(pthread_create(&r->thread, NULL, tu_releaser_main, r), 0);
  return r;
}

/* Wait for the thread and free it: 1 when the n answers were held
 * together, else 0. */
static inline int tu_releaser_join(struct tu_releaser *r)
{
  int held;

  r->stop = 1;
  pthread_join(r->thread, NULL);
  held = r->held;
  free(r);
  return held;
}

#endif
