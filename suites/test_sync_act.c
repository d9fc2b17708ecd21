/* test_sync_act.c - two-way sync of appointments, contacts and tasks against
 * the in-process emulator: creates, updates and deletes both ways, change
 * keys (our own writes are not read back as changes), conflicts (the newer
 * change wins, the loser is recorded), the org identity and delegation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exsync-emulator/emulator.h"
#include "exsync/clock.h"
#include "exsync/ews.h"
#include "exsync/store.h"
#include "exsync/sync.h"
#include "testutil.h"
#include "world.h"

#define ORG_ID "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10"
#define ALICE "alice@contoso.com"

static struct emu *emu;
static int port;
static char url[256], connect_to[128];
static const char *ct[1];
static char dir[256], db[300], keyf[300];
static struct exs_store *st;
static struct exs_sync_options opt;
static struct exs_transport transport; /* the run's settings */
static struct exs_http *http;
static struct exs_ews *ews; /* the service account impersonating alice */

static void add_mailbox(const char *address, bool sync_org_only)
{
  struct exs_mailbox m;
  struct exs_error err;

  tw_mailbox(&m, address);
  m.incoming = EXS_IN_NONE;
  m.outgoing = EXS_OUT_NONE;
  m.sync_org_only = sync_org_only;
  m.enabled[EXS_WL_ACT] = true;
  m.status[EXS_WL_ACT] = EXS_STATUS_SUCCESS;
  ck_assert_msg(exs_store_mailbox_put(st, &m, &err) == 0, "%s", err.message);
}

static void set_impersonation(bool on)
{
  struct exs_profile p;
  struct exs_error err;

  ck_assert(exs_store_profile_get(st, "Exchange", &p, &err) == 0);
  p.impersonation = on;
  ck_assert(exs_store_profile_put(st, &p, &err) == 0);
  exs_profile_wipe(&p);
}

static void world_up(void)
{
  struct exs_org org;
  struct exs_profile p;
  struct exs_error e;
  struct exs_http_options ho;
  struct exs_ews_options eo;

  port = tw_start(&emu, url, connect_to);
  ct[0] = connect_to;
  snprintf(dir, sizeof(dir), "/tmp/exsync-act-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(db, sizeof(db), "%s/a.db", dir);
  snprintf(keyf, sizeof(keyf), "%s/a.key", dir);
  st = exs_store_open(db, keyf, &e);
  ck_assert_msg(st != NULL, "%s", e.message);
  tw_org(&org, ORG_ID);
  ck_assert(exs_store_org_put(st, &org, &e) == 0);
  tw_profile(&p, url);
  ck_assert_msg(exs_store_profile_put(st, &p, &e) == 0, "%s", e.message);
  add_mailbox(ALICE, false);

  memset(&opt, 0, sizeof(opt));
  memset(&transport, 0, sizeof(transport));
  transport.connect_to = ct;
  transport.n_connect_to = 1;
  opt.transport = &transport;
  opt.ignore_schedule = true;
  opt.retry_interval_s = 1;

  exs_http_options_init(&ho, &transport);
  ho.auth = EXS_AUTH_BASIC;
  exs_http_options_set_credentials(&ho, "CONTOSO\\svc-crm", "svc-pw");
  ho.allow_non_ssl = ho.allow_basic_non_secure = ho.allow_credentials_non_secure = true;
  http = exs_http_new(&ho);
  memset(&eo, 0, sizeof(eo));
  eo.url = url;
  eo.ctx.impersonate = ALICE;
  ews = exs_ews_new(http, &eo);
}

static void world_down(void)
{
  char cmd[400];

  exs_ews_free(ews);
  exs_http_free(http);
  exs_store_close(st);
  emu_stop(emu);
  emu_free(emu);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if(system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", dir);
}

static struct exs_sync_stats pass(void)
{
  struct exs_sync_stats stats;
  struct exs_error err;

  memset(&stats, 0, sizeof(stats));
  ck_assert_msg(exs_sync_pass(db, keyf, &opt, &stats, NULL, &err) == 0, "%s", err.message);
  return stats;
}

/* Create an item in Exchange (as the mailbox's own client would); id out. */
static void exchange_create(const struct exs_ews_new_item *it, const char *folder, char *id,
                            size_t len)
{
  struct exs_ews_folder_ref f = {folder, NULL, NULL};
  struct exs_ews_create_item_req req;
  struct exs_ews_item_result res;
  struct exs_error err;

  memset(&req, 0, sizeof(req));
  req.saved_folder = &f;
  req.items = it;
  req.n = 1;
  ck_assert_msg(exs_ews_create_item(ews, &req, &res, &err) == 0, "%s", err.message);
  ck_assert_msg(res.ok, "%s", res.err.message);
  snprintf(id, len, "%s", res.id);
}

static void exchange_get(const char *id, struct exs_ews_item *out)
{
  static const char *const fields[] = {"item:Subject", "calendar:Location", "calendar:Start"};
  const char *ids[1] = {id};
  struct exs_ews_get_item_req req;
  struct exs_error err;

  memset(&req, 0, sizeof(req));
  req.ids = ids;
  req.n_ids = 1;
  req.fields = fields;
  req.n_fields = 3;
  ck_assert_msg(exs_ews_get_item(ews, &req, out, &err) == 0, "%s", err.message);
}

static void exchange_set_subject(const char *id, enum exs_ews_item_kind kind, const char *subject)
{
  struct exs_ews_field_set set = {"item:Subject", NULL, subject};
  struct exs_ews_item_change ch = {id, NULL, kind, &set, 1};
  struct exs_ews_item_result res;
  struct exs_error err;

  ck_assert_msg(exs_ews_update_item(ews, "AlwaysOverwrite", &ch, 1, &res, &err) == 0, "%s",
                err.message);
  ck_assert_msg(res.ok, "%s", res.err.message);
}

static size_t act_rows(struct exs_act_item **rows)
{
  struct exs_error err;
  size_t n = 0;

  ck_assert(exs_store_act_list(st, ALICE, false, rows, &n, &err) == 0);
  return n;
}

static int64_t crm_add(int kind, const char *subject)
{
  struct exs_act_item a;
  struct exs_error err;

  memset(&a, 0, sizeof(a));
  snprintf(a.mailbox, sizeof(a.mailbox), ALICE);
  a.kind = kind;
  snprintf(a.subject, sizeof(a.subject), "%s", subject);
  if(kind == EXS_ACT_KIND_APPOINTMENT) {
    snprintf(a.start, sizeof(a.start), "2026-12-01T10:00:00Z");
    snprintf(a.end, sizeof(a.end), "2026-12-01T11:00:00Z");
    snprintf(a.location, sizeof(a.location), "Room 1");
  }
  if(kind == EXS_ACT_KIND_TASK)
    snprintf(a.status, sizeof(a.status), "NotStarted");
  if(kind == EXS_ACT_KIND_CONTACT) {
    snprintf(a.given_name, sizeof(a.given_name), "Mara");
    snprintf(a.surname, sizeof(a.surname), "%s", subject);
    snprintf(a.company, sizeof(a.company), "Fabrikam");
  }
  a.dirty = true;
  a.crm_modified = exs_now();
  ck_assert(exs_store_act_put(st, &a, &err) == 0);
  return a.id;
}

START_TEST(exchange_to_store)
{
  struct exs_ews_new_item it;
  struct exs_act_item *rows = NULL;
  struct exs_sync_stats s;
  char id[512];
  size_t n, i;
  bool cal = false, con = false, task = false;

  memset(&it, 0, sizeof(it));
  it.kind = EXS_EWS_ITEM_CALENDAR;
  it.subject = "Planning";
  it.start = "2026-12-02T09:00:00Z";
  it.end = "2026-12-02T10:00:00Z";
  it.location = "Room 7";
  exchange_create(&it, "calendar", id, sizeof(id));
  memset(&it, 0, sizeof(it));
  it.kind = EXS_EWS_ITEM_CONTACT;
  it.given_name = "Nina";
  it.surname = "North";
  it.company = "Fabrikam";
  exchange_create(&it, "contacts", id, sizeof(id));
  memset(&it, 0, sizeof(it));
  it.kind = EXS_EWS_ITEM_TASK;
  it.subject = "Call back";
  it.status = "InProgress";
  exchange_create(&it, "tasks", id, sizeof(id));

  s = pass();
  ck_assert_uint_eq(s.errors, 0);
  ck_assert_uint_eq(s.act_changes, 3);
  n = act_rows(&rows);
  ck_assert_uint_eq(n, 3);
  for(i = 0; i < n; i++) {
    ck_assert(rows[i].exchange_id[0] && !rows[i].dirty);
    if(rows[i].kind == EXS_ACT_KIND_APPOINTMENT) {
      cal = true;
      ck_assert_str_eq(rows[i].subject, "Planning");
      ck_assert_str_eq(rows[i].location, "Room 7");
      ck_assert_ptr_nonnull(strstr(rows[i].start, "2026-12-02T09:00:00"));
    }
    if(rows[i].kind == EXS_ACT_KIND_CONTACT) {
      con = true;
      ck_assert_str_eq(rows[i].surname, "North");
      ck_assert_str_eq(rows[i].company, "Fabrikam");
    }
    if(rows[i].kind == EXS_ACT_KIND_TASK) {
      task = true;
      ck_assert_str_eq(rows[i].status, "InProgress");
    }
  }
  ck_assert(cal && con && task);
  free(rows);
  /* nothing new the second time */
  s = pass();
  ck_assert_uint_eq(s.act_changes, 0);
  ck_assert_uint_eq(act_rows(&rows), 3);
  free(rows);
}
END_TEST

START_TEST(store_to_exchange_once)
{
  struct exs_act_item a;
  struct exs_error err;
  struct exs_sync_stats s;
  struct exs_ews_item got;
  int64_t id;
  char value[128];

  id = crm_add(EXS_ACT_KIND_APPOINTMENT, "Demo for Fabrikam");
  crm_add(EXS_ACT_KIND_CONTACT, "Miller");
  crm_add(EXS_ACT_KIND_TASK, "Send the quote");
  s = pass();
  ck_assert_uint_eq(s.errors, 0);
  ck_assert_int_eq(emu_folder_count(emu, ALICE, "calendar"), 1);
  ck_assert_int_eq(emu_folder_count(emu, ALICE, "contacts"), 1);
  ck_assert_int_eq(emu_folder_count(emu, ALICE, "tasks"), 1);
  ck_assert(exs_store_act_get(st, id, &a, &err) == 0);
  ck_assert(!a.dirty && a.exchange_id[0] && a.change_key[0]);
  memset(&got, 0, sizeof(got));
  exchange_get(a.exchange_id, &got);
  ck_assert(got.ok);
  ck_assert_str_eq(got.subject, "Demo for Fabrikam");
  ck_assert_str_eq(got.location, "Room 1");
  exs_ews_item_clear(&got);
  /* our own creates are not read back as changes, nor sent twice */
  s = pass();
  ck_assert_uint_eq(s.act_changes, 0);
  ck_assert_int_eq(emu_folder_count(emu, ALICE, "calendar"), 1);
  /* the org identity is ours and LastSync was written */
  ck_assert_int_eq(
      emu_get_folder_property(emu, ALICE, "msgfolderroot", "exsync.OrgId", value, sizeof(value)),
      0);
  ck_assert_str_eq(value, ORG_ID);
}
END_TEST

START_TEST(updates_and_deletes_both_ways)
{
  struct exs_act_item a;
  struct exs_error err;
  struct exs_ews_item got;
  int64_t id;

  id = crm_add(EXS_ACT_KIND_APPOINTMENT, "Kick-off");
  pass();
  ck_assert(exs_store_act_get(st, id, &a, &err) == 0);
  /* Exchange -> store */
  exchange_set_subject(a.exchange_id, EXS_EWS_ITEM_CALENDAR, "Kick-off (moved)");
  pass();
  ck_assert(exs_store_act_get(st, id, &a, &err) == 0);
  ck_assert_str_eq(a.subject, "Kick-off (moved)");
  ck_assert(!a.conflict[0]);
  /* store -> Exchange */
  snprintf(a.location, sizeof(a.location), "Room 9");
  a.dirty = true;
  a.crm_modified = exs_now();
  ck_assert(exs_store_act_put(st, &a, &err) == 0);
  pass();
  memset(&got, 0, sizeof(got));
  exchange_get(a.exchange_id, &got);
  ck_assert_str_eq(got.location, "Room 9");
  ck_assert_str_eq(got.subject, "Kick-off (moved)");
  exs_ews_item_clear(&got);
  /* delete in the CRM -> gone from Exchange */
  ck_assert(exs_store_act_get(st, id, &a, &err) == 0);
  a.deleted = true;
  a.dirty = true;
  ck_assert(exs_store_act_put(st, &a, &err) == 0);
  pass();
  ck_assert_int_eq(emu_folder_count(emu, ALICE, "calendar"), 0);
  ck_assert_int_eq(exs_store_act_get(st, id, &a, &err), EXS_STORE_NOT_FOUND);
  /* delete in Exchange -> gone from the store */
  id = crm_add(EXS_ACT_KIND_TASK, "Temporary");
  pass();
  ck_assert(exs_store_act_get(st, id, &a, &err) == 0);
  {
    const char *ids[1] = {a.exchange_id};
    struct exs_ews_item_result res;
    ck_assert(exs_ews_delete_item(ews, "HardDelete", ids, 1, &res, &err) == 0 && res.ok);
  }
  pass();
  ck_assert_int_eq(exs_store_act_get(st, id, &a, &err), EXS_STORE_NOT_FOUND);
}
END_TEST

START_TEST(conflict_newer_wins)
{
  struct exs_act_item a;
  struct exs_error err;
  struct exs_ews_item got;
  struct exs_sync_stats s;
  int64_t id;

  id = crm_add(EXS_ACT_KIND_APPOINTMENT, "Review");
  pass();
  /* both sides change; the CRM change is the newer one */
  ck_assert(exs_store_act_get(st, id, &a, &err) == 0);
  exchange_set_subject(a.exchange_id, EXS_EWS_ITEM_CALENDAR, "Review (Exchange)");
  snprintf(a.subject, sizeof(a.subject), "Review (CRM)");
  a.dirty = true;
  a.crm_modified = exs_now() + 60;
  ck_assert(exs_store_act_put(st, &a, &err) == 0);
  s = pass();
  ck_assert_uint_eq(s.act_conflicts, 1);
  ck_assert(exs_store_act_get(st, id, &a, &err) == 0);
  ck_assert_str_eq(a.subject, "Review (CRM)");
  ck_assert_ptr_nonnull(strstr(a.conflict, "Exchange change"));
  memset(&got, 0, sizeof(got));
  exchange_get(a.exchange_id, &got);
  ck_assert_str_eq(got.subject, "Review (CRM)");
  exs_ews_item_clear(&got);
  /* both change again; this time the Exchange change is the newer one */
  exchange_set_subject(a.exchange_id, EXS_EWS_ITEM_CALENDAR, "Review (Exchange 2)");
  snprintf(a.subject, sizeof(a.subject), "Review (CRM 2)");
  a.dirty = true;
  a.crm_modified = exs_now() - 3600;
  ck_assert(exs_store_act_put(st, &a, &err) == 0);
  s = pass();
  ck_assert_uint_eq(s.act_conflicts, 1);
  ck_assert(exs_store_act_get(st, id, &a, &err) == 0);
  ck_assert_str_eq(a.subject, "Review (Exchange 2)");
  ck_assert(!a.dirty);
  ck_assert_ptr_nonnull(strstr(a.conflict, "Review (CRM 2)"));
  memset(&got, 0, sizeof(got));
  exchange_get(a.exchange_id, &got);
  ck_assert_str_eq(got.subject, "Review (Exchange 2)");
  exs_ews_item_clear(&got);
}
END_TEST

START_TEST(lost_create_answer_is_not_created_twice)
{
  struct exs_act_item a;
  struct exs_error err;
  struct exs_sync_stats s;
  char e[256];
  int64_t id;

  id = crm_add(EXS_ACT_KIND_TASK, "Exactly one task");
  ck_assert(emu_add_fault(emu, "operation=CreateItem reset times=1", e, sizeof(e)) > 0);
  s = pass();
  ck_assert_uint_eq(s.errors, 1);
  ck_assert_int_eq(emu_folder_count(emu, ALICE, "tasks"), 1); /* it did happen */
  emu_clear_faults(emu);
  s = pass();
  ck_assert_uint_eq(s.errors, 0);
  ck_assert_int_eq(emu_folder_count(emu, ALICE, "tasks"), 1);
  ck_assert(exs_store_act_get(st, id, &a, &err) == 0);
  ck_assert(a.exchange_id[0] && !a.dirty);
}
END_TEST

START_TEST(other_org_is_not_synced)
{
  struct exs_mailbox m;
  struct exs_error err;
  struct exs_sync_stats s;
  char value[128];

  add_mailbox("grace@contoso.com", false);
  opt.only_mailbox = "grace@contoso.com";
  s = pass();
  ck_assert_uint_eq(s.errors, 1);
  ck_assert(exs_store_mailbox_get(st, "grace@contoso.com", &m, &err) == 0);
  ck_assert(!m.enabled[EXS_WL_ACT]);
  ck_assert_str_eq(m.last_error_code, "ACT_OTHER_ORG");
  /* with "sync with this org only" the identity is taken over */
  add_mailbox("grace@contoso.com", true);
  s = pass();
  ck_assert_uint_eq(s.errors, 0);
  ck_assert_int_eq(emu_get_folder_property(emu, "grace@contoso.com", "msgfolderroot",
                                           "exsync.OrgId", value, sizeof(value)),
                   0);
  ck_assert_str_eq(value, ORG_ID);
}
END_TEST

START_TEST(delegation_is_refused)
{
  struct exs_mailbox m;
  struct exs_error err;
  struct exs_sync_stats s;

  set_impersonation(false);
  s = pass();
  ck_assert_uint_eq(s.errors, 1);
  ck_assert_uint_eq(s.requests, 0); /* decided before any ACT request */
  ck_assert(exs_store_mailbox_get(st, ALICE, &m, &err) == 0);
  ck_assert(!m.enabled[EXS_WL_ACT]);
  ck_assert_str_eq(m.last_error_code, "ACT_DELEGATION");
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("sync_act");
  TCase *tc = tcase_create("act");

  tcase_add_checked_fixture(tc, world_up, world_down);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, exchange_to_store);
  tcase_add_test(tc, store_to_exchange_once);
  tcase_add_test(tc, updates_and_deletes_both_ways);
  tcase_add_test(tc, conflict_newer_wins);
  tcase_add_test(tc, lost_create_answer_is_not_created_twice);
  tcase_add_test(tc, other_org_is_not_synced);
  tcase_add_test(tc, delegation_is_refused);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  return tu_run(suite());
}
