/* testenable_steps.h - the conversations behind Test & Enable's steps:
 * Autodiscover, read the Inbox, send to self, ACT access and org identity
 * (private to core). Each returns 0 or -1 with err filled (category, codes,
 * url); url is the EWS URL, used to fill err->url. */
#ifndef EXSYNC_TESTENABLE_STEPS_H
#define EXSYNC_TESTENABLE_STEPS_H

#include <stdbool.h>
#include <stddef.h>

#include "exsync/autodiscover.h"
#include "exsync/ews.h"
#include "exsync/http.h"

/* What Autodiscover runs with besides the transport settings: the run's
 * SRV lookup, directory (SCP), cache, and the handle kept for the test's
 * credential. */
struct te_ad_run {
  exs_autodiscover_srv_fn srv; /* NULL: the system resolver */
  void *srv_ctx;
  const struct exs_scp_options *scp;    /* the SCP entries of this directory first; NULL: none */
  struct exs_autodiscover_cache *cache; /* the run's; NULL: the handle's own */
  struct exs_autodiscover **kept;       /* reused when made for ho, else replaced; NULL: a
                                           handle for this search only */
};

/* Find the EWS URL of address by Autodiscover with the transport settings
 * ho; final_address gets the address Autodiscover finally answered for
 * (after redirectAddr), detail a one-line summary. */
int te_autodiscover(const char *address, const struct exs_http_options *ho,
                    const struct te_ad_run *run, char *url, size_t urllen, char *final_address,
                    size_t addrlen, char *detail, size_t detaillen, struct exs_error *err);

/* The Inbox as the connect step's GetFolder answered it (folder: its
 * error when not ok), then FindItem(first page) as, or on behalf of, the
 * mailbox. */
int te_read_inbox(struct exs_ews *ews, const char *delegate_mailbox,
                  const struct exs_ews_folder *folder, const char *url, long *items,
                  struct exs_error *err);

/* SendOnly a marked message to address, poll the inbox for it for at most
 * timeout_ms, then hard-delete it. */
int te_send_to_self(struct exs_ews *ews, const char *address, const char *delegate_mailbox,
                    const char *url, long timeout_ms, struct exs_error *err);

/* Calendar, contacts and tasks access (folders[0..2] as the connect
 * step's GetFolder answered them) plus the organization identity check
 * (exsync.OrgId / exsync.LastSync of rootf, read in that same GetFolder)
 * and its update with UpdateFolder on msgfolderroot. */
int te_check_act(struct exs_ews *ews, const struct exs_ews_folder *rootf,
                 const struct exs_ews_folder folders[3], const char *org_id, bool take_over,
                 const char *url, char *detail, size_t detaillen, struct exs_error *err);

#endif
