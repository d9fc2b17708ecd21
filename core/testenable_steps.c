/* testenable_steps.c - the conversations behind Test & Enable's steps:
 * Autodiscover, read the Inbox, send to self, ACT access and org identity. */
#include "testenable_steps.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "exsync/autodiscover.h"
#include "exsync/clock.h"

/* The marker that finds our test message again (ours, docs/test-enable.md step 7). */
static const struct exs_ews_extprop marker_prop = {"PublicStrings", "exsync.TestMarker", NULL,
                                                   "String"};

/* Turn a failed per-folder / per-item answer into err. */
static void folder_error(const struct exs_ews_folder *f, const char *what, const char *url,
                         struct exs_error *err)
{
  snprintf(err->ews_code, sizeof(err->ews_code), "%s", f->response_code);
  exs_error_set(err, exs_category_from_ews_code(f->response_code), "cannot open %s: %s", what,
                f->message[0] ? f->message : f->response_code);
  err->http_status = 200;
  snprintf(err->url, sizeof(err->url), "%s", url);
}

int te_read_inbox(struct exs_ews *ews, const char *delegate_mailbox,
                  const struct exs_ews_folder *folder, const char *url, long *items,
                  struct exs_error *err)
{
  struct exs_ews_folder_ref inbox = {"inbox", NULL, delegate_mailbox};
  struct exs_ews_find_item_req req;
  struct exs_ews_item_page page;
  static const char *const fields[] = {"item:Subject", "item:DateTimeReceived"};

  if(!folder->ok) {
    folder_error(folder, "the Inbox", url, err);
    return -1;
  }
  memset(&req, 0, sizeof(req));
  req.parent = inbox;
  req.fields = fields;
  req.n_fields = 2;
  req.max_entries = 1;
  req.sort_field = "item:DateTimeReceived";
  req.sort_descending = true;
  memset(&page, 0, sizeof(page));
  if(exs_ews_find_item(ews, &req, &page, err))
    return -1;
  *items = page.total >= 0 ? page.total : folder->total_count;
  exs_ews_item_page_free(&page);
  return 0;
}

/* Look for the marked message in the inbox; returns 1 found (id copied),
 * 0 not found, -1 error. */
static int find_marked(struct exs_ews *ews, const char *folder, const char *delegate_mailbox,
                       const char *marker, char *id, size_t idlen, struct exs_error *err)
{
  struct exs_ews_restriction r = {EXS_EWS_IS_EQUAL_TO, NULL, &marker_prop, marker};
  struct exs_ews_find_item_req req;
  struct exs_ews_item_page page;
  int found = 0;

  memset(&req, 0, sizeof(req));
  req.parent.distinguished = folder;
  req.parent.mailbox = delegate_mailbox;
  req.max_entries = 5;
  req.restrictions = &r;
  req.n_restrictions = 1;
  memset(&page, 0, sizeof(page));
  if(exs_ews_find_item(ews, &req, &page, err))
    return -1;
  if(page.n > 0) {
    snprintf(id, idlen, "%s", page.items[0].id);
    found = 1;
  }
  exs_ews_item_page_free(&page);
  return found;
}

int te_send_to_self(struct exs_ews *ews, const char *address, const char *delegate_mailbox,
                    const char *url, long timeout_ms, struct exs_error *err)
{
  unsigned char rnd[12];
  char marker[32];
  char subject[128];
  char id[EXS_EWS_ID_MAX] = "";
  const char *to[1] = {address};
  struct exs_ews_extprop_set mark = {marker_prop, marker};
  struct exs_ews_new_item msg;
  struct exs_ews_create_item_req req;
  struct exs_ews_item_result res;
  struct exs_error send_err;
  int64_t deadline;
  bool fate_unknown = false;
  const char *del[1];
  struct exs_ews_folder_ref sent_items = {"sentitems", NULL, delegate_mailbox};
  int found = 0;
  size_t i;

  if(RAND_bytes(rnd, sizeof(rnd)) != 1) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "no randomness for the test message marker");
    return -1;
  }
  for(i = 0; i < sizeof(rnd); i++)
    snprintf(marker + 2 * i, 3, "%02x", rnd[i]);
  snprintf(subject, sizeof(subject), "exsync Test & Enable %s", marker);
  memset(&msg, 0, sizeof(msg));
  msg.kind = EXS_EWS_ITEM_MESSAGE;
  msg.subject = subject;
  msg.body = "This message was sent by exsync to test outgoing email. It is deleted "
             "automatically.";
  msg.to = to;
  msg.n_to = 1;
  msg.ext = &mark;
  msg.n_ext = 1;
  msg.from = delegate_mailbox; /* delegation: sent on behalf of the mailbox */
  memset(&req, 0, sizeof(req));
  req.disposition = "SendOnly";
  if(delegate_mailbox) {
    /* a delegate's send is staged in the principal's mailbox: keep the copy
     * in its Sent Items (removed below) rather than in the service account's */
    req.disposition = "SendAndSaveCopy";
    req.saved_folder = &sent_items;
  }
  req.items = &msg;
  req.n = 1;
  exs_error_clear(&send_err);
  if(exs_ews_create_item(ews, &req, &res, &send_err)) {
    /* connection lost mid-answer or timed out: the send may have happened,
     * so look for it instead of sending again (docs/test-enable.md) */
    if(send_err.category == EXS_CAT_TIMEOUT || send_err.category == EXS_CAT_CONNECT) {
      fate_unknown = true;
    }
    else {
      *err = send_err;
      return -1;
    }
  }
  else if(!res.ok) {
    *err = res.err;
    snprintf(err->url, sizeof(err->url), "%s", url);
    err->http_status = 200;
    return -1;
  }
  deadline = exs_monotonic_ms() + timeout_ms;
  for(;;) {
    found = find_marked(ews, "inbox", delegate_mailbox, marker, id, sizeof(id), err);
    if(found != 0 || exs_monotonic_ms() >= deadline)
      break;
    exs_sleep_ms(100); /* polling the server: the delivery has no event to wait on */
  }
  if(found < 0)
    return -1;
  if(!found) {
    if(fate_unknown) {
      *err = send_err;
      return -1;
    }
    snprintf(err->url, sizeof(err->url), "%s", url);
    exs_error_set(err, EXS_CAT_TIMEOUT,
                  "the test message sent to %s did not arrive in its Inbox within %ld ms", address,
                  timeout_ms);
    return -1;
  }
  del[0] = id;
  if(exs_ews_delete_item(ews, "HardDelete", del, 1, &res, err))
    return -1;
  if(!res.ok) {
    *err = res.err;
    snprintf(err->url, sizeof(err->url), "%s", url);
    return -1;
  }
  /* nothing is left behind: the delegate's Sent Items copy goes too */
  if(delegate_mailbox &&
     find_marked(ews, "sentitems", delegate_mailbox, marker, id, sizeof(id), err) == 1) {
    if(exs_ews_delete_item(ews, "HardDelete", del, 1, &res, err))
      return -1;
  }
  return 0;
}

int te_check_act(struct exs_ews *ews, const struct exs_ews_folder *rootf,
                 const struct exs_ews_folder folders[3], const char *org_id, bool take_over,
                 const char *url, char *detail, size_t detaillen, struct exs_error *err)
{
  static const char *const names[] = {"calendar", "contacts", "tasks"};
  struct exs_ews_folder_ref root = {"msgfolderroot", NULL, NULL};
  struct exs_ews_folder updated;
  struct exs_ews_extprop_set sets[2];
  const struct exs_ews_extvalue *held;
  char now[32];
  bool overwrote = false;
  int i;

  for(i = 0; i < 3; i++) {
    if(!folders[i].ok) {
      char what[32];
      snprintf(what, sizeof(what), "the %s folder", names[i]);
      folder_error(&folders[i], what, url, err);
      return -1;
    }
  }
  held = exs_ews_extvalue_find(rootf->ext, rootf->n_ext, &exs_ews_prop_org_id);
  if(held && held->value[0] && strcmp(held->value, org_id)) {
    if(!take_over) {
      snprintf(err->url, sizeof(err->url), "%s", url);
      err->http_status = 200;
      exs_error_set(err, EXS_CAT_ACT_OTHER_ORG,
                    "appointments, contacts and tasks of this mailbox are synchronized with "
                    "another organization (%s)",
                    held->value);
      return -1;
    }
    overwrote = true;
  }
  exs_time_iso(exs_now(), now, sizeof(now));
  sets[0].prop = exs_ews_prop_org_id;
  sets[0].value = org_id;
  sets[1].prop = exs_ews_prop_last_sync;
  sets[1].value = now;
  if(exs_ews_update_folder(ews, &root, NULL, sets, 2, &updated, err))
    return -1;
  snprintf(detail, detaillen, "calendar, contacts and tasks readable; organization identity %s",
           overwrote ? "taken over from another organization (this org only)"
                     : "is this organization's");
  return 0;
}

/* The Autodiscover handle for ho: the kept one when it was made for ho,
 * else a new one (kept when run->kept is given). NULL on no memory. */
static struct exs_autodiscover *ad_take(const struct exs_http_options *ho,
                                        const struct te_ad_run *run)
{
  struct exs_autodiscover_options ao;
  struct exs_autodiscover *ad;

  if(run->kept && *run->kept && exs_autodiscover_made_for(*run->kept, ho))
    return *run->kept;
  memset(&ao, 0, sizeof(ao));
  ao.http = *ho;
  ao.srv = run->srv;
  ao.srv_ctx = run->srv_ctx;
  ao.scp = run->scp;
  ao.cache = run->cache;
  ad = exs_autodiscover_new(&ao);
  exs_http_options_wipe(&ao.http);
  if(run->kept) {
    exs_autodiscover_free(*run->kept);
    *run->kept = ad;
  }
  return ad;
}

int te_autodiscover(const char *address, const struct exs_http_options *ho,
                    const struct te_ad_run *run, char *url, size_t urllen, char *final_address,
                    size_t addrlen, char *detail, size_t detaillen, struct exs_error *err)
{
  struct exs_autodiscover_result res;
  struct exs_autodiscover *ad = ad_take(ho, run);
  int result = -1;

  memset(&res, 0, sizeof(res));
  if(!ad) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
    goto out;
  }
  if(exs_autodiscover_run(ad, address, &res, err))
    goto out;
  snprintf(url, urllen, "%s", res.ews_url);
  snprintf(final_address, addrlen, "%s", res.address[0] ? res.address : address);
  if(strcasecmp(res.address, address))
    snprintf(detail, detaillen,
             "redirected to %s: EWS calls use the address Autodiscover answered for (%s, %d "
             "hop%s)",
             res.address, exs_ad_method_name(res.method), res.hops, res.hops == 1 ? "" : "s");
  else
    snprintf(detail, detaillen, "answered by %s (%s)", res.endpoint,
             exs_ad_method_name(res.method));
  result = 0;
out:
  exs_autodiscover_result_free(&res);
  if(!run->kept)
    exs_autodiscover_free(ad);
  return result;
}
