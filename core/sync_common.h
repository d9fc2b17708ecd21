/* sync_common.h - what the sync workloads share (sync_common.c): one
 * mailbox's session and the helpers that act on it. sync.c opens the
 * session and runs the workloads (sync_workloads.h); the workloads call
 * only these helpers, never back into sync.c. */
#ifndef EXSYNC_SYNC_COMMON_H
#define EXSYNC_SYNC_COMMON_H

#include "exsync/ews.h"
#include "exsync/sync.h"

/* One mailbox being synchronized. Everything is borrowed except http/ews
 * (owned, freed when sync.c closes the session). */
struct sync_session {
  struct exs_store *st;
  const struct exs_org *org;
  const struct exs_profile *p;
  struct exs_mailbox *m;
  const struct exs_sync_options *opt;
  struct exs_sync_stats *stats;
  const char *impersonate;  /* profile credentials + impersonation */
  const char *delegate;     /* profile credentials + delegation: folders name the mailbox */
  const char *out_delegate; /* the same for the outgoing settings (delegation: sent on
                               behalf of the mailbox) */
  struct exs_http *http;
  struct exs_http *http_out; /* outgoing settings (== http when the same) */
  struct exs_ews *ews;       /* incoming URL and settings */
  struct exs_ews *ews_out;   /* outgoing URL and settings (== ews when the same) */
  char url[EXS_URL_MAX + 1];
  char out_url[EXS_URL_MAX + 1];
  int items;  /* items handled in this cycle (activities, emails, ACT) */
  int failed; /* items that failed in this cycle */
};

/* Whether stop was asked for. */
bool sync_stopping(const struct sync_session *s);
/* Log a line through opt->log (printf-style). */
void sync_log(const struct sync_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A per-item error (batch result) into a mailbox-level one, with url. */
void sync_item_error(struct exs_error *err, const struct exs_error *item, const char *url);

/* Small per-mailbox values kept in the sync_states table under '@' keys. */
int sync_meta_get(struct sync_session *s, const char *key, char *out, size_t len);
int sync_meta_put(struct sync_session *s, const char *key, const char *value,
                  struct exs_error *err);

#endif
