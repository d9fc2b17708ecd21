/* sync_act.c - appointments, contacts and tasks (ACT), both ways.
 *
 * Per folder (calendar, contacts, tasks), in this order:
 *  1. pull: SyncFolderItems from the saved state; each page's changes and
 *     the new state are stored in ONE transaction. A change whose change key
 *     is the one we stored is our own write coming back and is skipped.
 *  2. conflicts: an item changed on both sides since the last sync keeps the
 *     newer change (Exchange's LastModifiedTime when the server gives it,
 *     else the time the change was seen; the CRM side's crm_modified); the
 *     losing side is recorded in the item's conflict field.
 *  3. push: CRM-side changes (dirty rows) go to Exchange: CreateItem with
 *     the marker exsync.ActItemId (a create whose answer was lost is found
 *     again by its marker before any second create), UpdateItem
 *     (AlwaysOverwrite: the conflict was settled in step 2), DeleteItem.
 * Before anything: no ACT by delegation (ACT_DELEGATION) and the org
 * identity on the mailbox root must be ours (ACT_OTHER_ORG, docs/test-enable.md);
 * after a successful cycle exsync.LastSync is refreshed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exsync/clock.h"
#include "exsync/faultpoint.h"
#include "sync_workloads.h"

static const struct exs_ews_extprop act_marker = {"PublicStrings", "exsync.ActItemId", NULL,
                                                  "String"};

struct act_folder {
  int kind; /* enum exs_act_kind */
  const char *distinguished;
  enum exs_ews_item_kind ews_kind;
  const char *state_key;
  const char *const *fields;
  size_t n_fields;
};

static const char *const cal_fields[] = {"item:Subject",   "item:Body",    "item:LastModifiedTime",
                                         "calendar:Start", "calendar:End", "calendar:Location"};
static const char *const con_fields[] = {
    "item:Subject",         "item:LastModifiedTime",   "contacts:GivenName",
    "contacts:CompanyName", "contacts:EmailAddresses", "contacts:Surname"};
static const char *const task_fields[] = {"item:Subject", "item:Body",      "item:LastModifiedTime",
                                          "task:DueDate", "task:StartDate", "task:Status"};

static const struct act_folder folders[] = {
    {EXS_ACT_KIND_APPOINTMENT, "calendar", EXS_EWS_ITEM_CALENDAR, "act:calendar", cal_fields, 6},
    {EXS_ACT_KIND_CONTACT, "contacts", EXS_EWS_ITEM_CONTACT, "act:contacts", con_fields, 6},
    {EXS_ACT_KIND_TASK, "tasks", EXS_EWS_ITEM_TASK, "act:tasks", task_fields, 6},
};

static void marker_of(const struct sync_session *s, int64_t id, char *buf, size_t len)
{
  snprintf(buf, len, "%s:%lld", s->org->id[0] ? s->org->id : "exsync", (long long)id);
}

#define CPY(dst, src) snprintf((dst), sizeof(dst), "%s", (src))

/* Copy Exchange's fields of it into a. */
static void from_exchange(struct exs_act_item *a, const struct exs_ews_item *it)
{
  CPY(a->change_key, it->change_key);
  CPY(a->subject, it->subject);
  CPY(a->body, it->body ? it->body : "");
  CPY(a->start, it->start);
  CPY(a->end, it->end);
  CPY(a->location, it->location);
  CPY(a->status, it->status);
  CPY(a->given_name, it->given_name);
  CPY(a->surname, it->surname);
  CPY(a->company, it->company);
  CPY(a->email, it->email1);
}

static time_t exchange_time(const struct exs_ews_item *it, time_t seen)
{
  time_t t;

  if(it->last_modified[0] && exs_time_parse(it->last_modified, &t) == 0)
    return t;
  return seen;
}

/* Apply one change of the pull inside the page's transaction. */
static int apply_change(struct sync_session *s, const struct act_folder *f,
                        const struct exs_ews_item_sync_change *c, struct exs_error *err)
{
  struct exs_act_item a;
  time_t now = exs_now();
  char t1[32], t2[32];
  int rc;

  rc = exs_store_act_find(s->st, s->m->address, c->item.id, &a, err);
  if(rc < 0)
    return -1;
  if(c->kind == EXS_EWS_CHANGE_DELETE) {
    if(rc == EXS_STORE_NOT_FOUND)
      return 0;
    s->items++;
    s->stats->act_changes++;
    if(a.dirty && !a.deleted) {
      /* deleted in Exchange after (as far as we can tell) the CRM edit */
      snprintf(a.conflict, sizeof(a.conflict),
               "the CRM change of %s was lost: the item was deleted in Exchange (seen %s)",
               exs_time_iso(a.crm_modified, t1, sizeof(t1)), exs_time_iso(now, t2, sizeof(t2)));
      s->stats->act_conflicts++;
      a.deleted = true;
      a.dirty = false;
      a.exchange_id[0] = '\0';
      a.synced_at = now;
      return exs_store_act_put(s->st, &a, err);
    }
    return exs_store_act_delete(s->st, a.id, err);
  }
  if(c->kind != EXS_EWS_CHANGE_CREATE && c->kind != EXS_EWS_CHANGE_UPDATE)
    return 0;
  if(rc == EXS_STORE_NOT_FOUND) {
    /* one of ours whose create answer was lost: adopt it by its marker */
    const struct exs_ews_extvalue *v =
        exs_ews_extvalue_find(c->item.ext, c->item.n_ext, &act_marker);
    char prefix[96];
    marker_of(s, 0, prefix, sizeof(prefix));
    prefix[strlen(prefix) - 1] = '\0'; /* "ORG:" */
    if(v && !strncmp(v->value, prefix, strlen(prefix))) {
      int64_t mine = strtoll(v->value + strlen(prefix), NULL, 10);
      rc = exs_store_act_get(s->st, mine, &a, err);
      if(rc < 0)
        return -1;
      if(rc == 0 && !a.exchange_id[0]) {
        CPY(a.exchange_id, c->item.id);
        CPY(a.change_key, c->item.change_key);
        a.dirty = false;
        a.synced_at = now;
        return exs_store_act_put(s->st, &a, err);
      }
    }
    memset(&a, 0, sizeof(a));
    CPY(a.mailbox, s->m->address);
    a.kind = f->kind;
    CPY(a.exchange_id, c->item.id);
    from_exchange(&a, &c->item);
    a.exchange_modified = exchange_time(&c->item, now);
    a.synced_at = now;
    s->items++;
    s->stats->act_changes++;
    return exs_store_act_put(s->st, &a, err);
  }
  if(!strcmp(a.change_key, c->item.change_key))
    return 0; /* our own write coming back */
  s->items++;
  s->stats->act_changes++;
  if(a.dirty) {
    time_t ex = exchange_time(&c->item, now);
    s->stats->act_conflicts++;
    if(a.crm_modified > ex) {
      snprintf(a.conflict, sizeof(a.conflict),
               "the Exchange change of %s lost to the newer CRM change of %s",
               exs_time_iso(ex, t1, sizeof(t1)), exs_time_iso(a.crm_modified, t2, sizeof(t2)));
      CPY(a.change_key, c->item.change_key);
      a.exchange_modified = ex;
      return exs_store_act_put(s->st, &a, err); /* stays dirty: pushed below */
    }
    snprintf(a.conflict, sizeof(a.conflict),
             "the CRM change of %s (subject '%.200s') lost to the newer Exchange change of %s",
             exs_time_iso(a.crm_modified, t1, sizeof(t1)), a.subject,
             exs_time_iso(ex, t2, sizeof(t2)));
    a.dirty = false;
  }
  from_exchange(&a, &c->item);
  a.exchange_modified = exchange_time(&c->item, now);
  a.synced_at = now;
  return exs_store_act_put(s->st, &a, err);
}

static int pull(struct sync_session *s, const struct act_folder *f, struct exs_error *err)
{
  struct exs_ews_sync_items_req req;
  struct exs_ews_item_sync sync;
  char *state = NULL;
  bool reset = false, in_tx = false;
  int result = -1;
  size_t i;

  if(exs_store_syncstate_get(s->st, s->m->address, f->state_key, &state, err) < 0)
    return -1;
  for(;;) {
    if(sync_stopping(s))
      break;
    memset(&req, 0, sizeof(req));
    req.folder.distinguished = f->distinguished;
    req.sync_state = state && state[0] ? state : NULL;
    req.max_changes = s->opt->page_size > 0 ? s->opt->page_size : 512;
    req.fields = f->fields;
    req.n_fields = f->n_fields;
    req.ext = &act_marker;
    req.n_ext = 1;
    memset(&sync, 0, sizeof(sync));
    s->stats->requests++;
    if(exs_ews_sync_folder_items(s->ews, &req, &sync, err)) {
      if(!strcmp(err->ews_code, "ErrorInvalidSyncStateData") && !reset) {
        reset = true;
        free(state);
        state = NULL;
        exs_error_clear(err);
        continue; /* rows are matched by Exchange id: a full replay adds nothing */
      }
      goto out;
    }
    if(exs_store_begin(s->st, err)) {
      exs_ews_item_sync_free(&sync);
      goto out;
    }
    in_tx = true;
    for(i = 0; i < sync.n; i++)
      if(apply_change(s, f, &sync.changes[i], err)) {
        exs_ews_item_sync_free(&sync);
        goto out;
      }
    EXS_FAULT_POINT("act.page"); /* the page applied, its state not yet */
    if(exs_store_syncstate_put(s->st, s->m->address, f->state_key,
                               sync.sync_state ? sync.sync_state : "", err) ||
       exs_store_commit(s->st, err)) {
      exs_ews_item_sync_free(&sync);
      goto out;
    }
    in_tx = false;
    free(state);
    state = strdup(sync.sync_state ? sync.sync_state : "");
    if(!state || sync.includes_last) {
      exs_ews_item_sync_free(&sync);
      break;
    }
    exs_ews_item_sync_free(&sync);
  }
  result = 0;
out:
  if(in_tx) {
    struct exs_error ignored;
    exs_store_rollback(s->st, &ignored);
  }
  free(state);
  return result;
}

/* Find an item of the folder by its marker: 1 found (id/ck copied), 0, -1. */
static int find_marked(struct sync_session *s, const struct act_folder *f, int64_t id,
                       struct exs_act_item *a, struct exs_error *err)
{
  char marker[128];
  struct exs_ews_restriction r = {EXS_EWS_IS_EQUAL_TO, NULL, &act_marker, marker};
  struct exs_ews_find_item_req req;
  struct exs_ews_item_page page;
  int found = 0;

  marker_of(s, id, marker, sizeof(marker));
  memset(&req, 0, sizeof(req));
  req.parent.distinguished = f->distinguished;
  req.max_entries = 2;
  req.restrictions = &r;
  req.n_restrictions = 1;
  memset(&page, 0, sizeof(page));
  s->stats->requests++;
  if(exs_ews_find_item(s->ews, &req, &page, err))
    return -1;
  if(page.n > 0) {
    CPY(a->exchange_id, page.items[0].id);
    CPY(a->change_key, page.items[0].change_key);
    found = 1;
  }
  exs_ews_item_page_free(&page);
  return found;
}

static const char *nz(const char *v)
{
  return v && *v ? v : NULL;
}

static int push_create(struct sync_session *s, const struct act_folder *f, struct exs_act_item *a,
                       struct exs_error *err)
{
  struct exs_ews_new_item it;
  struct exs_ews_create_item_req req;
  struct exs_ews_item_result res;
  struct exs_ews_extprop_set mark;
  char marker[128];
  int found, rc;

  if(a->synced_at < 0) {
    /* a create was attempted and its outcome never stored: look first */
    found = find_marked(s, f, a->id, a, err);
    if(found < 0)
      return -1;
    if(found)
      goto created;
  }
  a->synced_at = -1;
  if(exs_store_act_put(s->st, a, err))
    return -1;
  marker_of(s, a->id, marker, sizeof(marker));
  mark.prop = act_marker;
  mark.value = marker;
  memset(&it, 0, sizeof(it));
  it.kind = f->ews_kind;
  it.ext = &mark;
  it.n_ext = 1;
  if(f->kind != EXS_ACT_KIND_CONTACT) {
    it.subject = a->subject;
    it.body = nz(a->body);
    it.body_type = "Text";
    it.start = nz(a->start);
    it.end = nz(a->end);
  }
  if(f->kind == EXS_ACT_KIND_APPOINTMENT)
    it.location = nz(a->location);
  if(f->kind == EXS_ACT_KIND_TASK)
    it.status = nz(a->status);
  if(f->kind == EXS_ACT_KIND_CONTACT) {
    it.given_name = nz(a->given_name);
    it.surname = nz(a->surname);
    it.company = nz(a->company);
    it.email = nz(a->email);
  }
  memset(&req, 0, sizeof(req));
  req.items = &it;
  req.n = 1;
  {
    struct exs_ews_folder_ref folder = {f->distinguished, NULL, NULL};
    req.saved_folder = &folder;
    s->stats->requests++;
    rc = exs_ews_create_item(s->ews, &req, &res, err);
  }
  EXS_FAULT_POINT("act.push"); /* Exchange changed, the row not yet */
  if(rc)
    return -1; /* synced_at stays -1: the marker decides next time */
  if(!res.ok) {
    sync_item_error(err, &res.err, exs_ews_url(s->ews));
    return -1;
  }
  CPY(a->exchange_id, res.id);
  CPY(a->change_key, res.change_key);
created:
  a->dirty = false;
  a->synced_at = exs_now();
  s->items++;
  s->stats->act_changes++;
  return exs_store_act_put(s->st, a, err);
}

static int push_update(struct sync_session *s, const struct act_folder *f, struct exs_act_item *a,
                       struct exs_error *err)
{
  struct exs_ews_field_set sets[8];
  struct exs_ews_item_change ch;
  struct exs_ews_item_result res;
  size_t n = 0;

#define SET(uri, v)                                                                                \
  do {                                                                                             \
    if((v)[0]) {                                                                                   \
      sets[n].field_uri = (uri);                                                                   \
      sets[n].ext = NULL;                                                                          \
      sets[n].value = (v);                                                                         \
      n++;                                                                                         \
    }                                                                                              \
  } while(0)
  if(f->kind == EXS_ACT_KIND_APPOINTMENT) {
    SET("item:Subject", a->subject);
    SET("item:Body", a->body);
    SET("calendar:Start", a->start);
    SET("calendar:End", a->end);
    SET("calendar:Location", a->location);
  }
  else if(f->kind == EXS_ACT_KIND_TASK) {
    SET("item:Subject", a->subject);
    SET("item:Body", a->body);
    SET("task:StartDate", a->start);
    SET("task:DueDate", a->end);
    SET("task:Status", a->status);
  }
  else {
    SET("contacts:GivenName", a->given_name);
    SET("contacts:Surname", a->surname);
    SET("contacts:CompanyName", a->company);
  }
#undef SET
  memset(&ch, 0, sizeof(ch));
  ch.id = a->exchange_id;
  ch.kind = f->ews_kind;
  ch.sets = sets;
  ch.n_sets = n;
  s->stats->requests++;
  if(exs_ews_update_item(s->ews, "AlwaysOverwrite", &ch, 1, &res, err))
    return -1;
  EXS_FAULT_POINT("act.push");
  if(!res.ok) {
    if(!strcmp(res.err.ews_code, "ErrorItemNotFound")) {
      a->exchange_id[0] = '\0'; /* gone meanwhile: create it again */
      a->change_key[0] = '\0';
      return push_create(s, f, a, err);
    }
    sync_item_error(err, &res.err, exs_ews_url(s->ews));
    return -1;
  }
  CPY(a->change_key, res.change_key);
  a->dirty = false;
  a->synced_at = exs_now();
  s->items++;
  s->stats->act_changes++;
  return exs_store_act_put(s->st, a, err);
}

static int push_delete(struct sync_session *s, struct exs_act_item *a, struct exs_error *err)
{
  struct exs_ews_item_result res;
  const char *ids[1] = {a->exchange_id};

  if(a->exchange_id[0]) {
    s->stats->requests++;
    if(exs_ews_delete_item(s->ews, "MoveToDeletedItems", ids, 1, &res, err))
      return -1;
    EXS_FAULT_POINT("act.push");
    if(!res.ok && strcmp(res.err.ews_code, "ErrorItemNotFound")) {
      sync_item_error(err, &res.err, exs_ews_url(s->ews));
      return -1;
    }
  }
  s->items++;
  s->stats->act_changes++;
  return exs_store_act_delete(s->st, a->id, err);
}

static int push(struct sync_session *s, const struct act_folder *f, struct exs_error *err)
{
  struct exs_act_item *rows = NULL;
  size_t n = 0, i;
  int result = -1;

  if(exs_store_act_list(s->st, s->m->address, true, &rows, &n, err))
    return -1;
  for(i = 0; i < n; i++) {
    struct exs_act_item *a = &rows[i];
    int rc;
    if(a->kind != f->kind)
      continue;
    if(sync_stopping(s))
      break;
    if(a->deleted)
      rc = push_delete(s, a, err);
    else if(!a->exchange_id[0])
      rc = push_create(s, f, a, err);
    else
      rc = push_update(s, f, a, err);
    if(rc)
      goto out;
  }
  result = 0;
out:
  free(rows);
  return result;
}

/* The org identity of docs/test-enable.md on the mailbox root: ours, or taken over
 * with sync-org-only; write_last refreshes exsync.LastSync. */
static int identity(struct sync_session *s, bool write_last, struct exs_error *err)
{
  struct exs_ews_folder_ref root = {"msgfolderroot", NULL, NULL};
  const struct exs_ews_extprop props[2] = {exs_ews_prop_org_id, exs_ews_prop_last_sync};
  struct exs_ews_folder folder, updated;
  const struct exs_ews_extvalue *v;
  struct exs_ews_extprop_set sets[2];
  char now[32];

  s->stats->requests++;
  if(exs_ews_get_folder_ext(s->ews, &root, 1, props, 2, &folder, err))
    return -1;
  if(!folder.ok) {
    CPY(err->ews_code, folder.response_code);
    exs_error_set(err, exs_category_from_ews_code(folder.response_code),
                  "cannot open the root folder of %s: %s %s", s->m->address, folder.response_code,
                  folder.message);
    return -1;
  }
  v = exs_ews_extvalue_find(folder.ext, folder.n_ext, &exs_ews_prop_org_id);
  if(v && v->value[0] && strcmp(v->value, s->org->id) && !s->m->sync_org_only) {
    exs_error_set(err, EXS_CAT_ACT_OTHER_ORG,
                  "mailbox %s synchronizes appointments, contacts and tasks with another "
                  "organization (%s)",
                  s->m->address, v->value);
    return -1;
  }
  if(!write_last && v && !strcmp(v->value, s->org->id))
    return 0;
  sets[0].prop = exs_ews_prop_org_id;
  sets[0].value = s->org->id;
  sets[1].prop = exs_ews_prop_last_sync;
  sets[1].value = exs_time_iso(exs_now(), now, sizeof(now));
  s->stats->requests++;
  return exs_ews_update_folder(s->ews, &root, NULL, sets, 2, &updated, err);
}

int sync_act(struct sync_session *s, struct exs_error *err)
{
  size_t i;

  if(s->delegate) {
    exs_error_set(err, EXS_CAT_ACT_DELEGATION,
                  "appointments, contacts and tasks cannot be synchronized by delegation "
                  "(profile '%s' has use impersonation = no)",
                  s->p->name);
    return -1;
  }
  if(identity(s, false, err))
    return -1;
  for(i = 0; i < sizeof(folders) / sizeof(folders[0]); i++) {
    if(sync_stopping(s))
      return 0;
    int before = s->items;
    if(pull(s, &folders[i], err) || push(s, &folders[i], err))
      return -1;
    /* our own writes enter the sync state now, so that a delete of them in
     * Exchange before the next cycle is seen as a delete */
    if(s->items != before && pull(s, &folders[i], err))
      return -1;
  }
  return identity(s, true, err);
}
