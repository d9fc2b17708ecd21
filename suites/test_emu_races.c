/* test_emu_races.c - the emulator's public API called while its event loop
 * threads run (emu_set_threads 4): a stop right after the start is never
 * lost, ... Every case repeats the racy step; a lost race shows as a hang
 * (the suite's timeout) or, under -fsanitize=thread, as a report.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_client.h"

#define THREADS 4

static struct emu *new_emu(char *bound, size_t blen, bool tls)
{
  char err[256];
  struct emu *e = emu_new();

  ck_assert_ptr_nonnull(e);
  ck_assert_msg(emu_set_threads(e, THREADS, err, sizeof(err)) == 0, "%s", err);
  ck_assert_msg(emu_listen(e, "127.0.0.1", 0, tls, bound, blen, err, sizeof(err)) > 0, "%s", err);
  return e;
}

static void *run_main(void *arg)
{
  return (void *)(intptr_t)emu_run(arg, false);
}

/* emu_stop while emu_run is still setting up its loops (or before it got
 * there): emu_run must return, every time. */
START_TEST(stop_right_after_run_always_returns)
{
  char bound[64];

  for(int i = 0; i < 200; i++) {
    struct emu *e = new_emu(bound, sizeof(bound), false);
    pthread_t th;
    void *rc;

    ck_assert_int_eq(pthread_create(&th, NULL, run_main, e), 0);
    emu_stop(e);
    pthread_join(th, &rc);
    ck_assert_int_eq((int)(intptr_t)rc, 0);
    emu_free(e);
  }
}
END_TEST

/* The same with emu_start's threads: a stop right after the start joins them. */
START_TEST(stop_right_after_start_always_returns)
{
  char bound[64], err[256];

  for(int i = 0; i < 200; i++) {
    struct emu *e = new_emu(bound, sizeof(bound), false);

    ck_assert_msg(emu_start(e, err, sizeof(err)) == 0, "%s", err);
    emu_stop(e);
    emu_free(e);
  }
}
END_TEST

int main(void)
{
  Suite *s = suite_create("emu_races");
  TCase *tc = tcase_create("races");

  curl_global_init(CURL_GLOBAL_ALL);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, stop_right_after_run_always_returns);
  tcase_add_test(tc, stop_right_after_start_always_returns);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
