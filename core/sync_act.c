/* sync_act.c - appointments, contacts and tasks (ACT). */
#include "sync_internal.h"

int sync_act(struct sync_session *s, struct exs_error *err)
{
  (void)s;
  (void)err;
  return 0;
}
