/* sync_workloads.h - the three workloads of a mailbox's sync cycle, run in
 * order by sync.c: sync_incoming.c, sync_outgoing.c, sync_act.c. */
#ifndef EXSYNC_SYNC_WORKLOADS_H
#define EXSYNC_SYNC_WORKLOADS_H

#include "sync_common.h"

/* The workloads. 0 or -1 with err (a mailbox-level failure). */
int sync_incoming(struct sync_session *s, struct exs_error *err);
int sync_outgoing(struct sync_session *s, struct exs_error *err);
int sync_act(struct sync_session *s, struct exs_error *err);

#endif
