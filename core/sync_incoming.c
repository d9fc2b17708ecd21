/* sync_incoming.c - incoming email: new mail of the Inbox becomes email
 * activities exactly once.
 *
 * Per page: SyncFolderItems (from the saved state) lists the changes with
 * the few properties the track rule needs; the tracked new messages are read
 * in one GetItem; messages that cannot become activities are moved to the
 * Undeliverable folder (when the profile says so) BEFORE the page commits;
 * then ONE transaction stores the page's activities and the new sync state.
 * A kill before the commit replays the page; after it, nothing is redone.
 * Servers without SyncFolderItems are read with FindItem, sorted by
 * DateTimeReceived, from a received-time watermark kept as the state
 * ("fi:EPOCH"); the same transaction rule holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exsync/buf.h"
#include "exsync/clock.h"
#include "exsync/faultpoint.h"
#include "sync_workloads.h"

#include <pthread.h>

#define INBOX_KEY "inbox"
#define UNDELIVERABLE_KEY "@undeliverable"
#define UNDELIVERABLE_NAME "Undeliverable"

static const char *const list_fields[] = {"item:ItemClass", "item:Subject", "item:DateTimeReceived",
                                          "message:InternetMessageId", "message:From"};
static const char *const get_fields[] = {"item:Subject",          "item:Body",
                                         "item:DateTimeReceived", "message:From",
                                         "message:ToRecipients",  "message:InternetMessageId"};

/* A new message of the page that the track rule takes. */
struct candidate {
  const struct exs_ews_item *listed; /* borrowed from the page */
  struct exs_ews_item *full;         /* GetItem answer (in the page's array) */
  char token[64];
  bool failed; /* cannot become an activity */
  char reason[256];
};

static time_t cutoff_of(const struct sync_session *s)
{
  time_t a = s->p->process_from, b = s->m->process_from;
  return a > b ? a : b;
}

static bool is_message(const struct exs_ews_item *it)
{
  if(!strcmp(it->kind, "Message"))
    return true;
  return it->item_class[0] && !strncasecmp(it->item_class, "IPM.Note", 8);
}

/* The subject without reply and forward prefixes ("RE: FW: Quote" ->
 * "Quote"), as smart matching compares them. */
static const char *topic(const char *subject)
{
  static const char *const prefixes[] = {"re:", "fw:", "fwd:", "aw:", "wg:", "sv:", "antw:"};
  const char *p = subject;
  bool again = true;

  while(again) {
    again = false;
    while(*p == ' ' || *p == '\t')
      p++;
    for(size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
      size_t n = strlen(prefixes[i]);
      if(!strncasecmp(p, prefixes[i], n)) {
        p += n;
        again = true;
        break;
      }
    }
  }
  return p;
}

/* The track rule of the mailbox (docs/org-file.md): all, or responses, found by
 * the tracking token in the subject, else by the conversation: the same
 * topic as an email the org sent to the sender. -1 on a store error. */
static int tracked(const struct sync_session *s, const struct exs_ews_item *it, char *token,
                   size_t len, struct exs_error *err)
{
  const char *prefix = s->org->tracking_prefix[0] ? s->org->tracking_prefix : "CRM:";
  bool has_token = exs_sync_find_token(it->subject, prefix, token, len);

  if(!has_token)
    token[0] = '\0';
  if(s->m->track == EXS_TRACK_ALL || has_token)
    return 1;
  return exs_store_activity_correlate(s->st, topic(it->subject), it->from.email, NULL, err);
}

/* The Undeliverable folder's id: remembered, found, or created. */
static int undeliverable_folder(struct sync_session *s, char *id, size_t len, struct exs_error *err)
{
  struct exs_ews_find_folder_req fr;
  struct exs_ews_folder_page page;
  struct exs_ews_folder created;
  struct exs_ews_folder_ref inbox = {"inbox", NULL, s->delegate};
  int tries;

  if(sync_meta_get(s, UNDELIVERABLE_KEY, id, len) == 0 && id[0])
    return 0;
  for(tries = 0; tries < 2; tries++) {
    memset(&fr, 0, sizeof(fr));
    fr.parent = inbox;
    fr.display_name = UNDELIVERABLE_NAME;
    memset(&page, 0, sizeof(page));
    s->stats->requests++;
    if(exs_ews_find_folder(s->ews, &fr, &page, err))
      return -1;
    if(page.n > 0) {
      snprintf(id, len, "%s", page.folders[0].id);
      exs_ews_folder_page_free(&page);
      return sync_meta_put(s, UNDELIVERABLE_KEY, id, err);
    }
    exs_ews_folder_page_free(&page);
    s->stats->requests++;
    if(exs_ews_create_folder(s->ews, &inbox, UNDELIVERABLE_NAME, NULL, &created, err) == 0) {
      snprintf(id, len, "%s", created.id);
      sync_log(s, "%s: created the %s folder", s->m->address, UNDELIVERABLE_NAME);
      return sync_meta_put(s, UNDELIVERABLE_KEY, id, err);
    }
    if(strcmp(err->ews_code, "ErrorFolderExists"))
      return -1;
    /* made meanwhile by someone else: find it again */
  }
  return -1;
}

/* Move the failed candidates out of the Inbox. Failures to move are logged
 * and counted, never fatal: the message stays where it is. */
static void move_failed(struct sync_session *s, struct candidate *c, size_t n)
{
  char folder[EXS_EWS_ID_MAX];
  const char **ids = calloc(n ? n : 1, sizeof(*ids));
  struct exs_ews_item_result *res = calloc(n ? n : 1, sizeof(*res));
  struct exs_ews_folder_ref to = {NULL, folder, NULL};
  struct exs_error err;
  size_t k = 0, i;
  int attempt;

  exs_error_clear(&err);
  if(!ids || !res)
    goto out;
  for(i = 0; i < n; i++)
    if(c[i].failed)
      ids[k++] = c[i].listed->id;
  if(!k)
    goto out;
  for(attempt = 0; attempt < 2; attempt++) {
    if(undeliverable_folder(s, folder, sizeof(folder), &err)) {
      sync_log(s, "%s: no %s folder: %s", s->m->address, UNDELIVERABLE_NAME, err.message);
      goto out;
    }
    s->stats->requests++;
    if(exs_ews_move_item(s->ews, &to, ids, k, res, &err)) {
      sync_log(s, "%s: cannot move to %s: %s", s->m->address, UNDELIVERABLE_NAME, err.message);
      goto out;
    }
    /* a remembered folder that is gone: forget it and make it again */
    if(!res[0].ok && !strcmp(res[0].err.ews_code, "ErrorFolderNotFound") && attempt == 0) {
      if(sync_meta_put(s, UNDELIVERABLE_KEY, "", &err))
        goto out;
      continue;
    }
    break;
  }
  for(i = 0; i < k; i++) {
    if(res[i].ok)
      s->stats->moved++;
    else
      sync_log(s, "%s: cannot move a message to %s: %s", s->m->address, UNDELIVERABLE_NAME,
               res[i].err.message);
  }
out:
  free(ids);
  free(res);
}

static char *join_recipients(const struct exs_ews_item *it)
{
  struct exs_buf b;
  size_t i;

  exs_buf_init(&b, 64 * 1024);
  for(i = 0; i < it->n_to; i++) {
    if(i)
      exs_buf_adds(&b, ",");
    exs_buf_adds(&b, it->to[i].email);
  }
  return exs_buf_steal(&b);
}

/* The GetItem answers of a page, kept from page to page: an item is about
 * 23 KB, and a fresh calloc per page cost more in page faults than the
 * parsing (bench_sync, perf). */
struct got_buf {
  struct exs_ews_item *items;
  size_t cap;
};

/* A worker thread's page buffers, kept from mailbox to mailbox (a mailbox
 * is often one page) and freed when the thread ends; buffers over
 * SCRATCH_KEEP are freed after use instead, so an idle daemon does not hold
 * a big first sync's pages. */
#define SCRATCH_KEEP (4u << 20)
struct scratch {
  struct got_buf gb;
  struct exs_ews_item_sync sync;
};
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static bool scratch_ok;

static void scratch_free(void *p)
{
  struct scratch *sc = p;

  if(!sc)
    return;
  free(sc->gb.items);
  exs_ews_item_sync_free(&sc->sync);
  free(sc);
}

static void scratch_init(void)
{
  scratch_ok = pthread_key_create(&scratch_key, scratch_free) == 0;
}

/* This thread's buffers, or local (zeroed by the caller) when there are none. */
static struct scratch *scratch_get(struct scratch *local)
{
  struct scratch *sc;

  pthread_once(&scratch_once, scratch_init);
  if(!scratch_ok)
    return local;
  sc = pthread_getspecific(scratch_key);
  if(!sc && (sc = calloc(1, sizeof(*sc))) && pthread_setspecific(scratch_key, sc)) {
    free(sc);
    sc = NULL;
  }
  return sc ? sc : local;
}

/* After a mailbox: what the items own goes; the arrays stay when small. */
static void scratch_done(struct scratch *sc, struct scratch *local)
{
  exs_ews_item_sync_reset(&sc->sync);
  if(sc == local || sc->sync.cap * sizeof(*sc->sync.changes) > SCRATCH_KEEP)
    exs_ews_item_sync_free(&sc->sync);
  if(sc == local || sc->gb.cap * sizeof(*sc->gb.items) > SCRATCH_KEEP) {
    free(sc->gb.items);
    sc->gb.items = NULL;
    sc->gb.cap = 0;
  }
}

/* Room for n answers in b; NULL when out of memory. */
static struct exs_ews_item *got_room(struct got_buf *b, size_t n)
{
  if(n > b->cap) {
    free(b->items);
    b->cap = 0;
    b->items = calloc(n, sizeof(*b->items));
    if(b->items)
      b->cap = n;
  }
  return b->items;
}

/* The page's new tracked messages not stored yet: c[0..*nc-1] and their ids. */
static int select_candidates(struct sync_session *s, const struct exs_ews_item *const *items,
                             size_t n, struct candidate *c, const char **ids, size_t *nc,
                             struct exs_error *err)
{
  time_t cutoff = cutoff_of(s);
  size_t i;

  for(i = 0; i < n; i++) {
    const struct exs_ews_item *it = items[i];
    int known;
    if(!is_message(it) || (cutoff && it->received && it->received <= cutoff))
      continue;
    known = tracked(s, it, c[*nc].token, sizeof(c[*nc].token), err);
    if(known < 0)
      return -1;
    if(!known) {
      s->stats->untracked++;
      continue;
    }
    known =
        exs_store_activity_known(s->st, s->m->address, it->id, it->internet_message_id, NULL, err);
    if(known < 0)
      return -1;
    if(known) {
      s->stats->duplicates++;
      continue;
    }
    c[*nc].listed = it;
    ids[*nc] = it->id;
    (*nc)++;
  }
  return 0;
}

/* Read the candidates whole in one GetItem into *got (set before the call,
 * so the caller clears what it holds); mark the gone and the unusable. */
static int fetch_candidates(struct sync_session *s, struct candidate *c, const char **ids,
                            size_t nc, struct got_buf *gb, struct exs_ews_item **got,
                            struct exs_error *err)
{
  struct exs_ews_get_item_req gr;
  size_t i, max_body = s->opt->max_body ? s->opt->max_body : 4u << 20;

  memset(&gr, 0, sizeof(gr));
  gr.ids = ids;
  gr.n_ids = nc;
  gr.body_type = "Text";
  gr.fields = get_fields;
  gr.n_fields = sizeof(get_fields) / sizeof(get_fields[0]);
  *got = got_room(gb, nc); /* the parser zeroes what it fills */
  if(!*got) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
    return -1;
  }
  s->stats->requests++;
  if(exs_ews_get_item(s->ews, &gr, *got, err))
    return -1;
  for(i = 0; i < nc; i++) {
    c[i].full = &(*got)[i];
    if(!c[i].full->ok) {
      if(!strcmp(c[i].full->err.ews_code, "ErrorItemNotFound")) {
        c[i].listed = NULL; /* gone since it was listed */
        continue;
      }
      c[i].failed = true;
      snprintf(c[i].reason, sizeof(c[i].reason), "%s", c[i].full->err.message);
    }
    else if(c[i].full->body && strlen(c[i].full->body) > max_body) {
      c[i].failed = true;
      snprintf(c[i].reason, sizeof(c[i].reason), "the body is larger than %zu bytes", max_body);
    }
  }
  return 0;
}

/* Messages that cannot be tracked are counted, logged and (when the
 * profile says so) moved out of the Inbox before the state moves. */
static void set_aside_failed(struct sync_session *s, struct candidate *c, size_t nc)
{
  for(size_t i = 0; i < nc; i++) {
    if(!c[i].failed)
      continue;
    s->failed++;
    s->stats->failed++;
    sync_log(s, "%s: message '%s' cannot be tracked: %s", s->m->address, c[i].listed->subject,
             c[i].reason);
  }
  if(s->p->move_undeliverable)
    move_failed(s, c, nc);
}

/* Store one candidate as a received email activity (inside the page's
 * transaction); a duplicate is counted, not an error. */
static int store_candidate(struct sync_session *s, const struct candidate *cand,
                           struct exs_error *err)
{
  struct exs_activity a;
  const struct exs_ews_item *f = cand->full;
  int rc;

  memset(&a, 0, sizeof(a));
  snprintf(a.mailbox, sizeof(a.mailbox), "%s", s->m->address);
  a.direction = EXS_DIR_INCOMING;
  snprintf(a.state, sizeof(a.state), "%s", EXS_ACTIVITY_RECEIVED);
  snprintf(a.exchange_item_id, sizeof(a.exchange_item_id), "%s", cand->listed->id);
  snprintf(a.internet_message_id, sizeof(a.internet_message_id), "%s",
           f->internet_message_id[0] ? f->internet_message_id : cand->listed->internet_message_id);
  a.subject = (char *)(f->subject[0] ? f->subject : cand->listed->subject);
  a.sender = (char *)f->from.email;
  a.recipients = join_recipients(f);
  a.body = f->body;
  a.received = f->received ? f->received : cand->listed->received;
  rc = exs_store_activity_add(s->st, &a, err);
  free(a.recipients);
  if(rc < 0)
    return -1;
  if(rc == EXS_STORE_DUPLICATE) {
    s->stats->duplicates++;
    return 0;
  }
  if(cand->token[0] && exs_store_activity_set_token(s->st, a.id, cand->token, err))
    return -1;
  s->items++;
  s->stats->received++;
  return 0;
}

/* ONE transaction: the page's activities and the new sync state. */
static int store_page(struct sync_session *s, const struct candidate *c, size_t nc,
                      const char *new_state, struct exs_error *err)
{
  struct exs_error ignored;
  size_t i;

  if(exs_store_begin(s->st, err))
    return -1;
  for(i = 0; i < nc; i++) {
    if(!c[i].listed || c[i].failed)
      continue;
    if(store_candidate(s, &c[i], err))
      goto fail;
  }
  EXS_FAULT_POINT("incoming.page"); /* the page stored, its state not yet */
  if(exs_store_syncstate_put(s->st, s->m->address, INBOX_KEY, new_state, err))
    goto fail;
  if(exs_store_commit(s->st, err))
    goto fail;
  s->stats->pages++;
  return 0;
fail:
  exs_store_rollback(s->st, &ignored);
  return -1;
}

/* Process one page of listed items and commit it with new_state. */
static int process_page(struct sync_session *s, const struct exs_ews_item *const *items, size_t n,
                        const char *new_state, struct got_buf *gb, struct exs_error *err)
{
  struct candidate *c = calloc(n ? n : 1, sizeof(*c));
  const char **ids = calloc(n ? n : 1, sizeof(*ids));
  struct exs_ews_item *got = NULL;
  size_t nc = 0, i;
  int result = -1;

  if(!c || !ids) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
    goto out;
  }
  if(select_candidates(s, items, n, c, ids, &nc, err))
    goto out;
  if(nc && fetch_candidates(s, c, ids, nc, gb, &got, err))
    goto out;
  set_aside_failed(s, c, nc);
  if(store_page(s, c, nc, new_state, err))
    goto out;
  result = 0;
out:
  for(i = 0; got && i < nc; i++)
    exs_ews_item_clear(&got[i]); /* bodies; the array stays for the next page */
  free(c);
  free(ids);
  return result;
}

/* FindItem reading for servers without SyncFolderItems. */
static int incoming_find(struct sync_session *s, const char *state, struct exs_error *err)
{
  struct exs_ews_find_item_req req;
  struct exs_ews_restriction r;
  struct exs_ews_item_page page;
  const struct exs_ews_item **items = NULL;
  struct scratch local = {{NULL, 0}, {0}}, *sc = scratch_get(&local);
  time_t wm = 0, cutoff = cutoff_of(s), from;
  char iso[32], next_state[48];
  int offset = 0, result = -1;
  size_t i;

  if(state && !strncmp(state, "fi:", 3))
    wm = (time_t)strtoll(state + 3, NULL, 10);
  from = wm > cutoff ? wm : cutoff;
  exs_time_iso(from, iso, sizeof(iso));
  for(;;) {
    time_t page_wm = wm;
    if(sync_stopping(s))
      break;
    memset(&req, 0, sizeof(req));
    req.parent.distinguished = "inbox";
    req.parent.mailbox = s->delegate;
    req.fields = list_fields;
    req.n_fields = sizeof(list_fields) / sizeof(list_fields[0]);
    req.max_entries = s->opt->page_size > 0 ? s->opt->page_size : 512;
    req.offset = offset;
    req.sort_field = "item:DateTimeReceived";
    if(from) {
      r.op = EXS_EWS_IS_GREATER_THAN_OR_EQUAL_TO;
      r.field_uri = "item:DateTimeReceived";
      r.ext = NULL;
      r.value = iso;
      req.restrictions = &r;
      req.n_restrictions = 1;
    }
    memset(&page, 0, sizeof(page));
    s->stats->requests++;
    if(exs_ews_find_item(s->ews, &req, &page, err))
      goto out;
    free(items);
    items = calloc(page.n ? page.n : 1, sizeof(*items));
    if(!items) {
      exs_ews_item_page_free(&page);
      exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
      goto out;
    }
    for(i = 0; i < page.n; i++) {
      items[i] = &page.items[i];
      if(page.items[i].received > page_wm)
        page_wm = page.items[i].received;
    }
    snprintf(next_state, sizeof(next_state), "fi:%lld", (long long)page_wm);
    if(process_page(s, items, page.n, next_state, &sc->gb, err)) {
      exs_ews_item_page_free(&page);
      goto out;
    }
    wm = page_wm;
    offset = page.next_offset > offset ? (int)page.next_offset : offset + (int)page.n;
    if(page.includes_last || page.n == 0) {
      exs_ews_item_page_free(&page);
      break;
    }
    exs_ews_item_page_free(&page);
  }
  result = 0;
out:
  scratch_done(sc, &local);
  free(items);
  return result;
}

int sync_incoming(struct sync_session *s, struct exs_error *err)
{
  static const char *const fields[] = {"item:ItemClass", "item:Subject", "item:DateTimeReceived",
                                       "message:InternetMessageId", "message:From"};
  struct exs_ews_sync_items_req req;
  const struct exs_ews_item **items = NULL;
  struct scratch local = {{NULL, 0}, {0}}, *sc = scratch_get(&local);
  struct exs_ews_item_sync *sync = &sc->sync; /* its changes array serves every page */
  char *state = NULL;
  bool reset = false;
  int result = -1, rc;
  size_t i, n;

  rc = exs_store_syncstate_get(s->st, s->m->address, INBOX_KEY, &state, err);
  if(rc < 0)
    return -1;
  if(state && !strncmp(state, "fi:", 3)) {
    result = incoming_find(s, state, err);
    goto out;
  }
  for(;;) {
    if(sync_stopping(s))
      break;
    memset(&req, 0, sizeof(req));
    req.folder.distinguished = "inbox";
    req.folder.mailbox = s->delegate;
    req.sync_state = state && state[0] ? state : NULL;
    req.max_changes = s->opt->page_size > 0 ? s->opt->page_size : 512;
    req.fields = fields;
    req.n_fields = sizeof(fields) / sizeof(fields[0]);
    s->stats->requests++;
    if(exs_ews_sync_folder_items(s->ews, &req, sync, err)) {
      if(!strcmp(err->ews_code, "ErrorInvalidSyncStateData") && !reset) {
        /* start over: the unique keys make the replay add nothing */
        sync_log(s, "%s: the Inbox sync state was refused; synchronizing again from the start",
                 s->m->address);
        reset = true;
        free(state);
        state = NULL;
        if(exs_store_syncstate_put(s->st, s->m->address, INBOX_KEY, "", err))
          goto out;
        exs_error_clear(err);
        continue;
      }
      if(!strcmp(err->ews_code, "ErrorInvalidRequest") ||
         !strcmp(err->ews_code, "ErrorInvalidOperation")) {
        sync_log(s, "%s: no SyncFolderItems on this server: reading the Inbox with FindItem",
                 s->m->address);
        exs_error_clear(err);
        result = incoming_find(s, NULL, err);
        goto out;
      }
      goto out;
    }
    free(items);
    items = calloc(sync->n ? sync->n : 1, sizeof(*items));
    if(!items) {
      exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
      goto out;
    }
    for(i = 0, n = 0; i < sync->n; i++)
      if(sync->changes[i].kind == EXS_EWS_CHANGE_CREATE)
        items[n++] = &sync->changes[i].item;
    if(process_page(s, items, n, sync->sync_state ? sync->sync_state : "", &sc->gb, err))
      goto out;
    free(state);
    state = strdup(sync->sync_state ? sync->sync_state : "");
    if(!state || sync->includes_last)
      break;
  }
  result = 0;
out:
  scratch_done(sc, &local);
  free(items);
  free(state);
  return result;
}
