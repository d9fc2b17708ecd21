/* sync_outgoing.c - outgoing email: Pending Send activities are sent with
 * CreateItem SendAndSaveCopy and marked Sent, exactly once.
 *
 * The protocol (see sync.h): commit "sending" (attempts + 1) for a batch,
 * send the batch in one CreateItem whose messages carry exsync.ActivityId,
 * commit the outcome. An activity still "sending" when a cycle starts (a
 * kill, or an answer lost to a reset or a timeout) is looked up in the
 * sender's Sent Items by its marker before anything is sent again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exsync/clock.h"
#include "exsync/faultpoint.h"
#include "sync_workloads.h"

static void marker_of(const struct sync_session *s, int64_t id, char *buf, size_t len)
{
  snprintf(buf, len, "%s:%lld", s->org->id[0] ? s->org->id : "exsync", (long long)id);
}

/* Is the email with this marker in the sender's Sent Items? 1, 0, -1. */
static int find_sent(struct sync_session *s, int64_t id, struct exs_error *err)
{
  char marker[128];
  struct exs_ews_restriction r = {EXS_EWS_IS_EQUAL_TO, NULL, &exs_sync_marker_prop, marker};
  struct exs_ews_find_item_req req;
  struct exs_ews_item_page page;
  int found;

  marker_of(s, id, marker, sizeof(marker));
  memset(&req, 0, sizeof(req));
  req.parent.distinguished = "sentitems";
  req.parent.mailbox = s->out_delegate;
  req.max_entries = 2;
  req.restrictions = &r;
  req.n_restrictions = 1;
  memset(&page, 0, sizeof(page));
  s->stats->requests++;
  if(exs_ews_find_item(s->ews_out, &req, &page, err))
    return -1;
  found = page.n > 0;
  exs_ews_item_page_free(&page);
  return found;
}

/* Errors that say Exchange did not act on the request at all. */
static bool request_not_processed(const struct exs_error *e)
{
  switch(e->category) {
  case EXS_CAT_CONNECT:
  case EXS_CAT_TIMEOUT:
  case EXS_CAT_SERVER:
  case EXS_CAT_PROTOCOL:
    return false; /* lost mid-way: the fate is unknown */
  default:
    return true; /* refused before doing anything: throttling, 401, TLS, ... */
  }
}

/* Errors of one message that are the mailbox's problem, not the email's. */
static bool mailbox_level(const struct exs_error *e)
{
  switch(e->category) {
  case EXS_CAT_CREDENTIALS:
  case EXS_CAT_MBX_CREDENTIALS:
  case EXS_CAT_IMPERSONATION:
  case EXS_CAT_MAILBOX_NOT_FOUND:
  case EXS_CAT_ACCESS_DENIED:
  case EXS_CAT_THROTTLED:
  case EXS_CAT_SERVER:
  case EXS_CAT_TIMEOUT:
  case EXS_CAT_CONNECT:
    return true;
  default:
    return false;
  }
}

static void free_list(struct exs_activity *a, size_t n)
{
  for(size_t i = 0; i < n; i++)
    exs_activity_clear(&a[i]);
  free(a);
}

/* Reconcile the emails whose last attempt has no known outcome. */
static int reconcile(struct sync_session *s, struct exs_error *err)
{
  struct exs_activity *list = NULL;
  size_t n = 0, i;
  int result = -1, found;

  if(exs_store_activity_list(s->st, s->m->address, EXS_ACTIVITY_SENDING, &list, &n, err))
    return -1;
  for(i = 0; i < n; i++) {
    if(sync_stopping(s))
      break;
    found = find_sent(s, list[i].id, err);
    if(found < 0)
      goto out;
    if(found) {
      if(exs_store_activity_set_state(s->st, list[i].id, EXS_ACTIVITY_SENT, NULL, err))
        goto out;
      s->stats->reconciled++;
      s->stats->sent++;
      s->items++;
      sync_log(s, "%s: email %lld was already sent (found in Sent Items)", s->m->address,
               (long long)list[i].id);
    }
    else if(exs_store_activity_set_pending(s->st, list[i].id, NULL, err))
      goto out;
  }
  result = 0;
out:
  free_list(list, n);
  return result;
}

/* Split "a,b, c" into to[] (pointers into buf). */
static size_t split_recipients(char *buf, const char **to, size_t max)
{
  size_t n = 0;
  char *save = NULL, *t;

  for(t = strtok_r(buf, ",; ", &save); t && n < max; t = strtok_r(NULL, ",; ", &save))
    to[n++] = t;
  return n;
}

/* Send one batch a[0..n-1] (all pending-send). */
static int send_batch(struct sync_session *s, struct exs_activity *a, size_t n,
                      struct exs_error *err)
{
  const char *prefix = s->org->tracking_prefix[0] ? s->org->tracking_prefix : "CRM:";
  struct exs_ews_new_item *items = calloc(n, sizeof(*items));
  struct exs_ews_extprop_set *marks = calloc(n, sizeof(*marks));
  struct exs_ews_item_result *res = calloc(n, sizeof(*res));
  char(*markers)[128] = calloc(n, sizeof(*markers));
  char(*subjects)[600] = calloc(n, sizeof(*subjects));
  char(*tokens)[64] = calloc(n, sizeof(*tokens));
  char **rcpt = calloc(n, sizeof(*rcpt));
  const char *(*to)[EXS_EWS_MAX_RECIPIENTS] = calloc(n, sizeof(*to));
  struct exs_ews_folder_ref sent = {"sentitems", NULL, s->out_delegate};
  struct exs_ews_create_item_req req;
  struct exs_error mbx_err, call_err;
  bool mbx_failed = false, in_tx = false;
  int result = -1, rc;
  size_t i;

  exs_error_clear(&mbx_err);
  exs_error_clear(&call_err);
  if(!items || !marks || !res || !markers || !subjects || !tokens || !rcpt || !to) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
    goto out;
  }
  for(i = 0; i < n; i++) {
    const char *subject = a[i].subject ? a[i].subject : "";
    marker_of(s, a[i].id, markers[i], sizeof(markers[i]));
    marks[i].prop = exs_sync_marker_prop;
    marks[i].value = markers[i];
    /* the tracking token goes at the end of the subject, as the product does */
    if(exs_sync_find_token(subject, prefix, tokens[i], sizeof(tokens[i])))
      snprintf(subjects[i], sizeof(subjects[i]), "%s", subject);
    else {
      snprintf(tokens[i], sizeof(tokens[i]), "%s%07lld", prefix, (long long)a[i].id);
      snprintf(subjects[i], sizeof(subjects[i]), "%s%s%s", subject, *subject ? " " : "", tokens[i]);
    }
    rcpt[i] = strdup(a[i].recipients ? a[i].recipients : "");
    if(!rcpt[i]) {
      exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
      goto out;
    }
    items[i].kind = EXS_EWS_ITEM_MESSAGE;
    items[i].subject = subjects[i];
    items[i].body = a[i].body ? a[i].body : "";
    items[i].body_type = "Text";
    items[i].to = to[i];
    items[i].n_to = split_recipients(rcpt[i], to[i], EXS_EWS_MAX_RECIPIENTS);
    items[i].ext = &marks[i];
    items[i].n_ext = 1;
    items[i].from = s->out_delegate; /* delegation: sent on behalf of the mailbox */
  }

  /* the attempt is on record before the request leaves, under the
   * mailbox's lease (a worker that lost it to another stops here), and
   * only for emails still pending (begin_send moves pending-send only) */
  if(exs_store_begin(s->st, err))
    goto out;
  in_tx = true;
  if(s->opt->worker &&
     (rc = exs_store_lease_held(s->st, s->m->address, s->opt->worker, err)) != 1) {
    if(rc == 0)
      exs_error_set(err, EXS_CAT_CONFIG,
                    "mailbox %s: this worker's lease ran out (another worker may have it): "
                    "nothing sent",
                    s->m->address);
    err->transient = true;
    goto out;
  }
  for(i = 0; i < n; i++)
    if(exs_store_activity_begin_send(s->st, a[i].id, err) ||
       exs_store_activity_set_token(s->st, a[i].id, tokens[i], err))
      goto out;
  if(exs_store_commit(s->st, err))
    goto out;
  in_tx = false;

  memset(&req, 0, sizeof(req));
  req.disposition = "SendAndSaveCopy";
  req.saved_folder = s->out_delegate ? &sent : NULL;
  req.items = items;
  req.n = n;
  s->stats->requests++;
  /* CreateItem is never resent by the transport (exs_ews_call, no_resend) */
  rc = exs_ews_create_item(s->ews_out, &req, res, &call_err);
  EXS_FAULT_POINT("send.created"); /* sent, not yet marked Sent */
  if(rc) {
    if(!request_not_processed(&call_err)) {
      /* stays "sending": the next cycle looks in Sent Items first */
      *err = call_err;
      if(!err->transient) {
        err->transient = true; /* an unknown fate is settled by the lookup, not by disabling */
      }
      goto out;
    }
    if(exs_store_begin(s->st, err))
      goto out;
    in_tx = true;
    for(i = 0; i < n; i++)
      if(exs_store_activity_set_pending(s->st, a[i].id, call_err.message, err))
        goto out;
    if(exs_store_commit(s->st, err))
      goto out;
    in_tx = false;
    *err = call_err;
    goto out;
  }

  if(exs_store_begin(s->st, err))
    goto out;
  in_tx = true;
  for(i = 0; i < n; i++) {
    if(res[i].ok) {
      if(exs_store_activity_set_state(s->st, a[i].id, EXS_ACTIVITY_SENT, NULL, err))
        goto out;
      s->stats->sent++;
      s->items++;
      continue;
    }
    if(exs_store_activity_set_pending(s->st, a[i].id, res[i].err.message, err))
      goto out;
    if(mailbox_level(&res[i].err)) {
      if(!mbx_failed)
        sync_item_error(&mbx_err, &res[i].err, exs_ews_url(s->ews_out));
      mbx_failed = true;
      continue;
    }
    /* the email's own problem: it fails, the mailbox carries on */
    if(exs_store_activity_set_state(s->st, a[i].id, EXS_ACTIVITY_FAILED, NULL, err))
      goto out;
    s->failed++;
    s->stats->failed++;
    sync_log(s, "%s: email %lld refused: %s", s->m->address, (long long)a[i].id,
             res[i].err.message);
  }
  if(exs_store_commit(s->st, err))
    goto out;
  in_tx = false;
  if(mbx_failed) {
    *err = mbx_err;
    goto out;
  }
  result = 0;
out:
  if(in_tx) {
    struct exs_error ignored;
    exs_store_rollback(s->st, &ignored);
  }
  if(rcpt)
    for(i = 0; i < n; i++)
      free(rcpt[i]);
  free(rcpt);
  free(to);
  free(items);
  free(marks);
  free(res);
  free(markers);
  free(subjects);
  free(tokens);
  return result;
}

int sync_outgoing(struct sync_session *s, struct exs_error *err)
{
  struct exs_activity *list = NULL;
  size_t n = 0, i, batch = s->opt->send_batch > 0 ? (size_t)s->opt->send_batch : 16;
  size_t sent = 0;
  int result = -1;

  if(reconcile(s, err))
    return -1;
  if(exs_store_activity_list(s->st, s->m->address, EXS_ACTIVITY_PENDING_SEND, &list, &n, err))
    return -1;
  for(i = 0; i < n; i += batch) {
    size_t k = n - i < batch ? n - i : batch;
    if(sync_stopping(s))
      break;
    if(s->opt->max_sends > 0 && sent >= (size_t)s->opt->max_sends)
      break;
    if(send_batch(s, &list[i], k, err))
      goto out;
    sent += k;
  }
  result = 0;
out:
  free_list(list, n);
  return result;
}
