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

/* The CreateItem messages of one batch and the buffers they point into. */
struct send_msgs {
  struct exs_ews_new_item *items;
  struct exs_ews_extprop_set *marks;
  struct exs_ews_item_result *res;
  char (*markers)[128];
  char (*subjects)[600];
  char (*tokens)[64];
  char **rcpt;
  const char *(*to)[EXS_EWS_MAX_RECIPIENTS];
  size_t n;
};

static void send_msgs_free(struct send_msgs *m)
{
  if(m->rcpt)
    for(size_t i = 0; i < m->n; i++)
      free(m->rcpt[i]);
  free(m->rcpt);
  free(m->to);
  free(m->items);
  free(m->marks);
  free(m->res);
  free(m->markers);
  free(m->subjects);
  free(m->tokens);
}

/* Build the message of each activity: marker, subject with its tracking
 * token, recipients, sent on behalf of the mailbox. */
static int build_messages(struct sync_session *s, const struct exs_activity *a, size_t n,
                          struct send_msgs *m, struct exs_error *err)
{
  const char *prefix = s->org->tracking_prefix[0] ? s->org->tracking_prefix : "CRM:";
  size_t i;

  m->n = n;
  m->items = calloc(n, sizeof(*m->items));
  m->marks = calloc(n, sizeof(*m->marks));
  m->res = calloc(n, sizeof(*m->res));
  m->markers = calloc(n, sizeof(*m->markers));
  m->subjects = calloc(n, sizeof(*m->subjects));
  m->tokens = calloc(n, sizeof(*m->tokens));
  m->rcpt = calloc(n, sizeof(*m->rcpt));
  m->to = calloc(n, sizeof(*m->to));
  if(!m->items || !m->marks || !m->res || !m->markers || !m->subjects || !m->tokens || !m->rcpt ||
     !m->to) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
    return -1;
  }
  for(i = 0; i < n; i++) {
    const char *subject = a[i].subject ? a[i].subject : "";
    marker_of(s, a[i].id, m->markers[i], sizeof(m->markers[i]));
    m->marks[i].prop = exs_sync_marker_prop;
    m->marks[i].value = m->markers[i];
    /* the tracking token goes at the end of the subject, as the product does */
    if(exs_sync_find_token(subject, prefix, m->tokens[i], sizeof(m->tokens[i])))
      snprintf(m->subjects[i], sizeof(m->subjects[i]), "%s", subject);
    else {
      snprintf(m->tokens[i], sizeof(m->tokens[i]), "%s%07lld", prefix, (long long)a[i].id);
      snprintf(m->subjects[i], sizeof(m->subjects[i]), "%s%s%s", subject, *subject ? " " : "",
               m->tokens[i]);
    }
    m->rcpt[i] = strdup(a[i].recipients ? a[i].recipients : "");
    if(!m->rcpt[i]) {
      exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
      return -1;
    }
    m->items[i].kind = EXS_EWS_ITEM_MESSAGE;
    m->items[i].subject = m->subjects[i];
    m->items[i].body = a[i].body ? a[i].body : "";
    m->items[i].body_type = "Text";
    m->items[i].to = m->to[i];
    m->items[i].n_to = split_recipients(m->rcpt[i], m->to[i], EXS_EWS_MAX_RECIPIENTS);
    m->items[i].ext = &m->marks[i];
    m->items[i].n_ext = 1;
    m->items[i].from = s->out_delegate; /* delegation: sent on behalf of the mailbox */
  }
  return 0;
}

static void rollback_quietly(struct sync_session *s)
{
  struct exs_error ignored;
  exs_store_rollback(s->st, &ignored);
}

/* The attempt is on record before the request leaves, under the mailbox's
 * lease (a worker that lost it to another stops here), and only for emails
 * still pending (begin_send moves pending-send only). */
static int record_attempt(struct sync_session *s, const struct exs_activity *a,
                          const struct send_msgs *m, struct exs_error *err)
{
  int rc;
  size_t i;

  if(exs_store_begin(s->st, err))
    return -1;
  if(s->opt->worker &&
     (rc = exs_store_lease_held(s->st, s->m->address, s->opt->worker, err)) != 1) {
    if(rc == 0)
      exs_error_set(err, EXS_CAT_CONFIG,
                    "mailbox %s: this worker's lease ran out (another worker may have it): "
                    "nothing sent",
                    s->m->address);
    err->transient = true;
    goto fail;
  }
  for(i = 0; i < m->n; i++)
    if(exs_store_activity_begin_send(s->st, a[i].id, err) ||
       exs_store_activity_set_token(s->st, a[i].id, m->tokens[i], err))
      goto fail;
  if(exs_store_commit(s->st, err))
    goto fail;
  return 0;
fail:
  rollback_quietly(s);
  return -1;
}

/* CreateItem failed. Refused before Exchange acted: the batch is pending
 * again. Lost mid-way: it stays "sending" and the next cycle looks in Sent
 * Items first. Either way err ends up as the call's error (or the store's). */
static void settle_failed_call(struct sync_session *s, const struct exs_activity *a, size_t n,
                               const struct exs_error *call_err, struct exs_error *err)
{
  size_t i;

  if(!request_not_processed(call_err)) {
    *err = *call_err;
    if(!err->transient) {
      err->transient = true; /* an unknown fate is settled by the lookup, not by disabling */
    }
    return;
  }
  if(exs_store_begin(s->st, err))
    return;
  for(i = 0; i < n; i++)
    if(exs_store_activity_set_pending(s->st, a[i].id, call_err->message, err))
      goto fail;
  if(exs_store_commit(s->st, err))
    goto fail;
  *err = *call_err;
  return;
fail:
  rollback_quietly(s);
}

/* Commit each message's outcome: sent, failed (the email's own problem),
 * or pending again when the error is the mailbox's (reported in err after
 * the commit). */
static int record_outcome(struct sync_session *s, const struct exs_activity *a,
                          const struct send_msgs *m, struct exs_error *err)
{
  struct exs_error mbx_err;
  bool mbx_failed = false;
  size_t i;

  exs_error_clear(&mbx_err);
  if(exs_store_begin(s->st, err))
    return -1;
  for(i = 0; i < m->n; i++) {
    const struct exs_ews_item_result *r = &m->res[i];
    if(r->ok) {
      if(exs_store_activity_set_state(s->st, a[i].id, EXS_ACTIVITY_SENT, NULL, err))
        goto fail;
      s->stats->sent++;
      s->items++;
      continue;
    }
    if(exs_store_activity_set_pending(s->st, a[i].id, r->err.message, err))
      goto fail;
    if(mailbox_level(&r->err)) {
      if(!mbx_failed)
        sync_item_error(&mbx_err, &r->err, exs_ews_url(s->ews_out));
      mbx_failed = true;
      continue;
    }
    /* the email's own problem: it fails, the mailbox carries on */
    if(exs_store_activity_set_state(s->st, a[i].id, EXS_ACTIVITY_FAILED, NULL, err))
      goto fail;
    s->failed++;
    s->stats->failed++;
    sync_log(s, "%s: email %lld refused: %s", s->m->address, (long long)a[i].id, r->err.message);
  }
  if(exs_store_commit(s->st, err))
    goto fail;
  if(mbx_failed) {
    *err = mbx_err;
    return -1;
  }
  return 0;
fail:
  rollback_quietly(s);
  return -1;
}

/* Send one batch a[0..n-1] (all pending-send). */
static int send_batch(struct sync_session *s, struct exs_activity *a, size_t n,
                      struct exs_error *err)
{
  struct exs_ews_folder_ref sent = {"sentitems", NULL, s->out_delegate};
  struct exs_ews_create_item_req req;
  struct send_msgs m;
  struct exs_error call_err;
  int result = -1, rc;

  memset(&m, 0, sizeof(m));
  exs_error_clear(&call_err);
  if(build_messages(s, a, n, &m, err))
    goto out;
  if(record_attempt(s, a, &m, err))
    goto out;

  memset(&req, 0, sizeof(req));
  req.disposition = "SendAndSaveCopy";
  req.saved_folder = s->out_delegate ? &sent : NULL;
  req.items = m.items;
  req.n = n;
  s->stats->requests++;
  /* CreateItem is never resent by the transport (exs_ews_call, no_resend) */
  rc = exs_ews_create_item(s->ews_out, &req, m.res, &call_err);
  EXS_FAULT_POINT("send.created"); /* sent, not yet marked Sent */
  if(rc) {
    settle_failed_call(s, a, n, &call_err, err);
    goto out;
  }
  if(record_outcome(s, a, &m, err))
    goto out;
  result = 0;
out:
  send_msgs_free(&m);
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
