/* test_sync.c - the sync engine against the in-process emulator: incoming
 * exactly once, sync states after items, Undeliverable, outgoing exactly
 * once, the faults of docs/test-enable.md, Errors, scheduling and claims. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "exsync-emulator/emulator.h"
#include "exsync/clock.h"
#include "exsync/ews.h"
#include "exsync/store.h"
#include "exsync/sync.h"
#include "emu_release.h"
#include "testutil.h"
#include "world.h"

#define ORG_ID "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10"

static struct emu *emu;
static int port;
static char url[256];
static char connect_to[128];
static const char *ct[1];
static char dir[256], db[300], keyf[300];
static struct exs_store *st;
static struct exs_sync_options opt;
static struct exs_transport transport; /* the run's settings */

static void add_mailbox(const char *address, int track)
{
  struct exs_mailbox m;
  struct exs_error err;

  tw_mailbox(&m, address);
  m.track = track;
  for(int w = 0; w < EXS_WL_COUNT; w++) {
    m.enabled[w] = true; /* as a successful Test & Enable leaves it */
    m.status[w] = EXS_STATUS_SUCCESS;
  }
  m.enabled[EXS_WL_ACT] = false;
  m.status[EXS_WL_ACT] = EXS_STATUS_NOT_RUN;
  ck_assert_msg(exs_store_mailbox_put(st, &m, &err) == 0, "%s", err.message);
}

static void world_up(void)
{
  struct exs_org org;
  struct exs_profile p;
  struct exs_error e;

  port = tw_start(&emu, url, connect_to);
  ct[0] = connect_to;

  snprintf(dir, sizeof(dir), "/tmp/exsync-sync-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(db, sizeof(db), "%s/s.db", dir);
  snprintf(keyf, sizeof(keyf), "%s/s.key", dir);
  st = exs_store_open(db, keyf, &e);
  ck_assert_msg(st != NULL, "%s", e.message);

  tw_org(&org, ORG_ID);
  org.alerts_warnings = true;
  ck_assert(exs_store_org_put(st, &org, &e) == 0);

  tw_profile(&p, url);
  p.max_connections = 2;
  p.timeout_ms = 2000;
  ck_assert_msg(exs_profile_validate(&p, NULL) == 0 || 1, "profile");
  ck_assert_msg(exs_store_profile_put(st, &p, &e) == 0, "%s", e.message);

  memset(&opt, 0, sizeof(opt));
  memset(&transport, 0, sizeof(transport));
  transport.connect_to = ct;
  transport.n_connect_to = 1;
  opt.transport = &transport;
  opt.ignore_schedule = true;
  opt.min_interval_s = 1;
  opt.retry_interval_s = 1;
  opt.throttle_max_wait_ms = 5000;
  opt.page_size = 7; /* several pages even for small mailboxes */
}

static void world_down(void)
{
  char cmd[400];

  exs_store_close(st);
  st = NULL;
  emu_stop(emu);
  emu_free(emu);
  emu = NULL;
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if(system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", dir);
}

static struct exs_sync_stats pass(void)
{
  struct exs_sync_stats stats;
  struct exs_error err;

  memset(&stats, 0, sizeof(stats));
  exs_error_clear(&err);
  ck_assert_msg(exs_sync_pass(db, keyf, &opt, &stats, NULL, &err) == 0, "%s", err.message);
  return stats;
}

static long count(const char *mailbox, const char *state)
{
  struct exs_error err;
  long n = exs_store_activity_count(st, mailbox, state, &err);
  ck_assert_msg(n >= 0, "%s", err.message);
  return n;
}

static void deliver(const char *to, const char *subject, int i)
{
  char err[256], s[256], body[64];

  snprintf(s, sizeof(s), subject, i);
  snprintf(body, sizeof(body), "body %d", i);
  ck_assert_msg(emu_deliver_message(emu, "customer@fabrikam.com", to, s, body, err, sizeof(err)) ==
                    0,
                "%s", err);
}

static void get_mailbox(const char *address, struct exs_mailbox *m)
{
  struct exs_error err;
  ck_assert_msg(exs_store_mailbox_get(st, address, m, &err) == 0, "%s", err.message);
  exs_mailbox_wipe(m);
}

/* Every activity of the mailbox has a distinct subject (no duplicates). */
static void assert_distinct_subjects(const char *mailbox)
{
  struct exs_activity *a = NULL;
  size_t n = 0, i, j;
  struct exs_error err;

  ck_assert(exs_store_activity_list(st, mailbox, NULL, &a, &n, &err) == 0);
  for(i = 0; i < n; i++)
    for(j = i + 1; j < n; j++)
      ck_assert_msg(strcmp(a[i].subject ? a[i].subject : "", a[j].subject ? a[j].subject : ""),
                    "duplicate activity '%s'", a[i].subject);
  for(i = 0; i < n; i++)
    exs_activity_clear(&a[i]);
  free(a);
}

/* ---- incoming ---- */

START_TEST(incoming_all_exactly_once)
{
  struct exs_sync_stats s;
  struct exs_mailbox m;
  struct exs_activity *a = NULL;
  size_t n = 0;
  struct exs_error err;
  char *state = NULL;
  int i;

  add_mailbox("alice@contoso.com", EXS_TRACK_ALL);
  for(i = 0; i < 30; i++)
    deliver("alice@contoso.com", "Order %d", i);
  s = pass();
  ck_assert_uint_eq(s.errors, 0);
  /* the scenario's 2 messages and ours */
  ck_assert_int_eq(count("alice@contoso.com", EXS_ACTIVITY_RECEIVED), 32);
  ck_assert_uint_eq(s.received, 32);
  ck_assert_uint_ge(s.pages, 5);
  /* the state covers what was stored */
  ck_assert(exs_store_syncstate_get(st, "alice@contoso.com", "inbox", &state, &err) == 0);
  ck_assert(state && state[0]);
  free(state);
  /* again: nothing new */
  s = pass();
  ck_assert_uint_eq(s.received, 0);
  ck_assert_int_eq(count("alice@contoso.com", NULL), 32);
  for(i = 30; i < 35; i++)
    deliver("alice@contoso.com", "Order %d", i);
  s = pass();
  ck_assert_uint_eq(s.received, 5);
  ck_assert_int_eq(count("alice@contoso.com", NULL), 37);
  assert_distinct_subjects("alice@contoso.com");
  /* fields of an activity */
  ck_assert(exs_store_activity_list(st, "alice@contoso.com", NULL, &a, &n, &err) == 0);
  for(size_t k = 0; k < n; k++) {
    if(a[k].subject && !strcmp(a[k].subject, "Order 3")) {
      ck_assert_str_eq(a[k].sender, "customer@fabrikam.com");
      ck_assert_ptr_nonnull(strstr(a[k].recipients, "alice@contoso.com"));
      ck_assert_ptr_nonnull(strstr(a[k].body, "body 3"));
      ck_assert(a[k].exchange_item_id[0]);
      ck_assert(a[k].received > 0);
    }
    exs_activity_clear(&a[k]);
  }
  free(a);
  /* runtime fields */
  get_mailbox("alice@contoso.com", &m);
  ck_assert(m.last_sync_success > 0);
  ck_assert(m.last_sync_start > 0);
  ck_assert(m.postponed_until > 0);
  ck_assert_str_eq(m.processing_host, "");
}
END_TEST

START_TEST(incoming_responses_by_token)
{
  struct exs_activity *a = NULL;
  size_t n = 0;
  struct exs_error err;
  struct exs_activity_extra x;
  struct exs_sync_stats s;

  add_mailbox("bob@contoso.com", EXS_TRACK_RESPONSES);
  deliver("bob@contoso.com", "Hello there %d", 1);
  deliver("bob@contoso.com", "RE: Your quote CRM:%07d", 1234);
  deliver("bob@contoso.com", "CRM: not a token %d", 1);
  s = pass();
  ck_assert_uint_eq(s.received, 1);
  ck_assert_uint_eq(s.untracked, 2);
  ck_assert(exs_store_activity_list(st, "bob@contoso.com", NULL, &a, &n, &err) == 0);
  ck_assert_uint_eq(n, 1);
  ck_assert_str_eq(a[0].subject, "RE: Your quote CRM:0001234");
  ck_assert(exs_store_activity_extra_get(st, a[0].id, &x, &err) == 0);
  ck_assert_str_eq(x.tracking_token, "CRM:0001234");
  exs_activity_clear(&a[0]);
  free(a);
}
END_TEST

START_TEST(incoming_process_from)
{
  struct exs_profile p;
  struct exs_error err;

  ck_assert(exs_store_profile_get(st, "Exchange", &p, &err) == 0);
  /* the scenario's mail is from 2026-01-05 and -06; ours is from now */
  ck_assert(exs_time_parse("2026-01-05T12:00:00Z", &p.process_from) == 0);
  ck_assert(exs_store_profile_put(st, &p, &err) == 0);
  exs_profile_wipe(&p);
  add_mailbox("alice@contoso.com", EXS_TRACK_ALL);
  deliver("alice@contoso.com", "New %d", 1);
  pass();
  /* "RE: Case CAS-01234" (Jan 6) and ours; not "Order 1001" (Jan 5 08:01) */
  ck_assert_int_eq(count("alice@contoso.com", NULL), 2);
}
END_TEST

START_TEST(incoming_state_not_saved_when_items_fail)
{
  struct exs_sync_stats s;
  struct exs_error err;
  char *state = NULL, e[256];
  int i;

  add_mailbox("carol@contoso.com", EXS_TRACK_ALL);
  for(i = 0; i < 10; i++)
    deliver("carol@contoso.com", "Mail %d", i);
  /* reading the items fails for good (not retried): nothing stored, no state */
  ck_assert(emu_add_fault(emu, "operation=GetItem http-status=500", e, sizeof(e)) > 0);
  s = pass();
  ck_assert_uint_eq(s.errors, 1);
  ck_assert_int_eq(count("carol@contoso.com", NULL), 0);
  ck_assert_int_eq(exs_store_syncstate_get(st, "carol@contoso.com", "inbox", &state, &err),
                   EXS_STORE_NOT_FOUND);
  emu_clear_faults(emu);
  s = pass();
  ck_assert_uint_eq(s.errors, 0);
  ck_assert_int_eq(count("carol@contoso.com", NULL), 10);
  assert_distinct_subjects("carol@contoso.com");
}
END_TEST

START_TEST(incoming_faults_recover)
{
  static const char *const faults[] = {
      "operation=GetItem ews-code=ErrorServerBusy backoff-ms=30 times=2",
      "operation=GetItem http-status=503 times=1",
      "operation=GetItem reset times=1",
      "operation=GetItem truncated times=1",
      "operation=SyncFolderItems ews-code=ErrorServerBusy backoff-ms=30 times=1",
      "operation=SyncFolderItems ews-code=ErrorInvalidSyncStateData times=1",
      "operation=FindItem ews-code=ErrorServerBusy backoff-ms=30 times=1",
      "operation=GetItem delay-ms=600000 times=1", /* held: the 2 s timeout fires first */
      /* answers cut after N bytes, dripped, or 503 at random (seeded): each
       * picks its requests by count, never by the clock */
      "operation=GetItem cut-after=300 times=1",
      "operation=SyncFolderItems cut-after=0 times=1",
      "operation=SyncFolderItems drip-bytes=97 drip-ms=1 times=2",
      "operation=GetItem drip-bytes=501 drip-ms=0 every=2",
      "http-status=503 probability=0.3 seed=5 times=3",
  };
  int i, round = 0, expected = 0;
  char e[256];

  add_mailbox("bob@contoso.com", EXS_TRACK_ALL);
  for(size_t f = 0; f < sizeof(faults) / sizeof(faults[0]); f++) {
    struct exs_sync_stats s;
    for(i = 0; i < 9; i++)
      deliver("bob@contoso.com", "Fault round %d", round++);
    expected += 9;
    ck_assert_msg(emu_add_fault(emu, faults[f], e, sizeof(e)) > 0, "%s", e);
    s = pass();
    emu_clear_faults(emu);
    if(s.errors) /* a lost answer: the next cycle picks up where the store is */
      s = pass();
    ck_assert_msg(s.errors == 0, "fault %s", faults[f]);
    ck_assert_msg(count("bob@contoso.com", NULL) == expected, "fault %s: %ld of %d", faults[f],
                  count("bob@contoso.com", NULL), expected);
  }
  assert_distinct_subjects("bob@contoso.com");
}
END_TEST

START_TEST(incoming_resync_after_invalid_state)
{
  struct exs_error err;
  int i;

  add_mailbox("alice@contoso.com", EXS_TRACK_ALL);
  for(i = 0; i < 10; i++)
    deliver("alice@contoso.com", "Before %d", i);
  pass();
  ck_assert_int_eq(count("alice@contoso.com", NULL), 12);
  /* a state the server no longer accepts: resync from scratch, no duplicates */
  ck_assert(exs_store_syncstate_put(st, "alice@contoso.com", "inbox", "garbage-state", &err) == 0);
  for(i = 0; i < 3; i++)
    deliver("alice@contoso.com", "After %d", i);
  pass();
  ck_assert_int_eq(count("alice@contoso.com", NULL), 15);
  assert_distinct_subjects("alice@contoso.com");
}
END_TEST

START_TEST(incoming_undeliverable)
{
  struct exs_profile p;
  struct exs_error err;
  struct exs_sync_stats s;
  char big[3000];
  char e[256];
  char *id1 = NULL, *id2 = NULL;

  ck_assert(exs_store_profile_get(st, "Exchange", &p, &err) == 0);
  p.move_undeliverable = true;
  ck_assert(exs_store_profile_put(st, &p, &err) == 0);
  exs_profile_wipe(&p);
  add_mailbox("carol@contoso.com", EXS_TRACK_ALL);
  opt.max_body = 1000; /* a larger body cannot become an activity */
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  deliver("carol@contoso.com", "Small %d", 1);
  ck_assert(emu_deliver_message(emu, "x@fabrikam.com", "carol@contoso.com", "Huge", big, e,
                                sizeof(e)) == 0);
  ck_assert_int_eq(emu_folder_count(emu, "carol@contoso.com", "inbox"), 2);
  s = pass();
  ck_assert_uint_eq(s.failed, 1);
  ck_assert_uint_eq(s.moved, 1);
  ck_assert_int_eq(count("carol@contoso.com", NULL), 1);
  ck_assert_int_eq(emu_folder_count(emu, "carol@contoso.com", "inbox"), 1);
  ck_assert(exs_store_syncstate_get(st, "carol@contoso.com", "@undeliverable", &id1, &err) == 0);
  ck_assert(id1[0]);
  /* a second one goes to the same, remembered, folder */
  ck_assert(emu_deliver_message(emu, "x@fabrikam.com", "carol@contoso.com", "Huge 2", big, e,
                                sizeof(e)) == 0);
  s = pass();
  ck_assert_uint_eq(s.moved, 1);
  ck_assert(exs_store_syncstate_get(st, "carol@contoso.com", "@undeliverable", &id2, &err) == 0);
  ck_assert_str_eq(id1, id2);
  ck_assert_int_eq(emu_folder_count(emu, "carol@contoso.com", "inbox"), 1);
  free(id1);
  free(id2);
}
END_TEST

/* ---- outgoing ---- */

static int64_t queue_email(const char *from, const char *to, const char *subject)
{
  struct exs_activity a;
  struct exs_error err;

  memset(&a, 0, sizeof(a));
  snprintf(a.mailbox, sizeof(a.mailbox), "%s", from);
  a.direction = EXS_DIR_OUTGOING;
  snprintf(a.state, sizeof(a.state), "%s", EXS_ACTIVITY_PENDING_SEND);
  a.subject = (char *)subject;
  a.sender = (char *)from;
  a.recipients = (char *)to;
  a.body = (char *)"Hello from the CRM.";
  ck_assert_msg(exs_store_activity_add(st, &a, &err) == 0, "%s", err.message);
  return a.id;
}

/* Messages in an emulated folder whose subject starts with prefix, read
 * through EWS as the service account. */
static long subjects_in(const char *mailbox, const char *folder, const char *prefix, long *distinct)
{
  struct exs_http_options ho;
  struct exs_ews_options eo;
  struct exs_http *h;
  struct exs_ews *ews;
  struct exs_ews_find_item_req req;
  struct exs_ews_item_page page;
  static const char *const fields[] = {"item:Subject"};
  struct exs_error err;
  char **seen = NULL;
  long n = 0, nd = 0;
  int offset = 0;

  exs_http_options_init(&ho, &transport);
  ho.auth = EXS_AUTH_BASIC;
  exs_http_options_set_credentials(&ho, "CONTOSO\\svc-crm", "svc-pw");
  ho.allow_non_ssl = ho.allow_basic_non_secure = ho.allow_credentials_non_secure = true;
  h = exs_http_new(&ho);
  memset(&eo, 0, sizeof(eo));
  eo.url = url;
  eo.ctx.impersonate = mailbox;
  ews = exs_ews_new(h, &eo);
  for(;;) {
    memset(&req, 0, sizeof(req));
    req.parent.distinguished = folder;
    req.fields = fields;
    req.n_fields = 1;
    req.max_entries = 500;
    req.offset = offset;
    memset(&page, 0, sizeof(page));
    ck_assert_msg(exs_ews_find_item(ews, &req, &page, &err) == 0, "%s", err.message);
    for(size_t i = 0; i < page.n; i++) {
      bool dup = false;
      if(strncmp(page.items[i].subject, prefix, strlen(prefix)))
        continue;
      n++;
      for(long k = 0; k < nd; k++)
        if(!strcmp(seen[k], page.items[i].subject))
          dup = true;
      if(!dup) {
        seen = realloc(seen, (size_t)(nd + 1) * sizeof(*seen));
        seen[nd++] = strdup(page.items[i].subject);
      }
    }
    offset += (int)page.n;
    if(page.includes_last || page.n == 0) {
      exs_ews_item_page_free(&page);
      break;
    }
    exs_ews_item_page_free(&page);
  }
  for(long k = 0; k < nd; k++)
    free(seen[k]);
  free(seen);
  exs_ews_free(ews);
  exs_http_free(h);
  if(distinct)
    *distinct = nd;
  return n;
}

static size_t journal_ops(const char *op)
{
  size_t n = emu_journal_count(emu), i, hits = 0;
  struct emu_journal_entry *e = calloc(n ? n : 1, sizeof(*e));

  n = emu_journal_get(emu, 0, e, n);
  for(i = 0; i < n; i++)
    if(!strcmp(e[i].operation, op))
      hits++;
  free(e);
  return hits;
}

START_TEST(outgoing_exactly_once)
{
  struct exs_sync_stats s;
  char subject[64];
  long distinct = 0;
  int i;

  add_mailbox("alice@contoso.com", EXS_TRACK_RESPONSES);
  add_mailbox("bob@contoso.com", EXS_TRACK_RESPONSES);
  for(i = 0; i < 20; i++) {
    snprintf(subject, sizeof(subject), "Quote %02d", i);
    queue_email("alice@contoso.com", "bob@contoso.com", subject);
  }
  opt.send_batch = 6;
  s = pass();
  ck_assert_uint_eq(s.errors, 0);
  ck_assert_uint_eq(s.sent, 20);
  ck_assert_int_eq(count("alice@contoso.com", EXS_ACTIVITY_SENT), 20);
  ck_assert_uint_eq(journal_ops("CreateItem"), 4);
  ck_assert_int_eq(subjects_in("bob@contoso.com", "inbox", "Quote ", &distinct), 20);
  ck_assert_int_eq(distinct, 20);
  ck_assert_int_eq(subjects_in("alice@contoso.com", "sentitems", "Quote ", NULL), 20);
  /* nothing more on the next pass */
  s = pass();
  ck_assert_uint_eq(s.sent, 0);
  ck_assert_int_eq(subjects_in("bob@contoso.com", "inbox", "Quote ", NULL), 20);
}
END_TEST

/* Separate outgoing settings: the engine sends with them (here as alice
 * herself, no impersonation) and reads with the incoming ones. */
START_TEST(outgoing_sends_with_the_outgoing_settings)
{
  struct exs_sync_stats s;
  struct exs_error e;
  size_t n, i;
  struct emu_journal_entry *j;
  bool sent_as_alice = false, read_as_svc = false, create_as_svc = false;
  struct exs_profile p;

  exs_error_clear(&e);
  ck_assert_msg(exs_store_profile_get(st, "Exchange", &p, &e) == 0, "%s", e.message);
  p.same_outgoing = false;
  p.out_retrieval = EXS_RETRIEVAL_PROFILE;
  snprintf(p.out_user, sizeof(p.out_user), "CONTOSO\\alice");
  snprintf(p.out_password, sizeof(p.out_password), "alice-pw");
  p.out_impersonation = false;
  p.out_protocol = EXS_AUTH_NTLM;
  ck_assert_msg(exs_store_profile_put(st, &p, &e) == 0, "%s", e.message);
  exs_profile_wipe(&p);
  add_mailbox("alice@contoso.com", EXS_TRACK_RESPONSES);
  queue_email("alice@contoso.com", "bob@contoso.com", "Sent as alice");
  emu_journal_clear(emu);
  s = pass();
  ck_assert_uint_eq(s.errors, 0);
  ck_assert_uint_eq(s.sent, 1);
  n = emu_journal_count(emu);
  j = calloc(n ? n : 1, sizeof(*j));
  n = emu_journal_get(emu, 0, j, n);
  for(i = 0; i < n; i++) {
    if(!strcmp(j[i].operation, "CreateItem") && !strcmp(j[i].auth_user, "alice"))
      sent_as_alice = true;
    if(!strcmp(j[i].operation, "CreateItem") && !strcmp(j[i].auth_user, "svc-crm"))
      create_as_svc = true;
    if(!strcmp(j[i].operation, "SyncFolderItems") && !strcmp(j[i].auth_user, "svc-crm"))
      read_as_svc = true;
  }
  free(j);
  ck_assert(sent_as_alice);
  ck_assert(!create_as_svc);
  ck_assert(read_as_svc);
}
END_TEST

START_TEST(outgoing_reply_is_tracked)
{
  struct exs_activity_extra x;
  struct exs_error err;
  struct exs_sync_stats s;
  char subject[128];
  int64_t id;

  add_mailbox("alice@contoso.com", EXS_TRACK_RESPONSES);
  id = queue_email("alice@contoso.com", "customer@fabrikam.com", "Your quote");
  s = pass();
  ck_assert_uint_eq(s.sent, 1);
  ck_assert(exs_store_activity_extra_get(st, id, &x, &err) == 0);
  ck_assert_str_eq(x.tracking_token, "CRM:0000001");
  ck_assert_int_eq(x.attempts, 1);
  /* the customer answers: the token makes it a response */
  snprintf(subject, sizeof(subject), "RE: Your quote %s", x.tracking_token);
  ck_assert(emu_deliver_message(emu, "customer@fabrikam.com", "alice@contoso.com", subject, "ok",
                                subject, sizeof(subject)) == 0);
  s = pass();
  ck_assert_uint_eq(s.received, 1);
  ck_assert_int_eq(count("alice@contoso.com", EXS_ACTIVITY_RECEIVED), 1);
}
END_TEST

START_TEST(outgoing_faults_no_duplicates)
{
  static const char *const faults[] = {
      "operation=CreateItem reset times=1",
      "operation=CreateItem truncated times=1",
      "operation=CreateItem http-status=503 times=1",
      "operation=CreateItem ews-code=ErrorServerBusy backoff-ms=30 times=2",
      "operation=CreateItem delay-ms=600000 times=1", /* held: the 2 s timeout fires first */
      "operation=CreateItem http-status=500 times=1",
      /* the mail was made but the answer is lost after N bytes: no duplicate */
      "operation=CreateItem cut-after=150 times=1",
      "operation=CreateItem drip-bytes=40 drip-ms=1 times=2",
      "operation=CreateItem http-status=503 probability=0.4 seed=9 times=2",
  };
  char subject[64], e[256];
  long distinct = 0;
  int i, round = 0;

  add_mailbox("alice@contoso.com", EXS_TRACK_RESPONSES);
  add_mailbox("bob@contoso.com", EXS_TRACK_RESPONSES);
  opt.send_batch = 4;
  for(size_t f = 0; f < sizeof(faults) / sizeof(faults[0]); f++) {
    struct exs_sync_stats s;
    struct exs_mailbox m;
    for(i = 0; i < 5; i++) {
      snprintf(subject, sizeof(subject), "Fault mail %03d", round++);
      queue_email("alice@contoso.com", "bob@contoso.com", subject);
    }
    ck_assert_msg(emu_add_fault(emu, faults[f], e, sizeof(e)) > 0, "%s", e);
    s = pass();
    emu_clear_faults(emu);
    if(s.errors) {
      get_mailbox("alice@contoso.com", &m);
      ck_assert_msg(m.enabled[EXS_WL_OUTGOING], "fault %s disabled outgoing", faults[f]);
      s = pass();
    }
    ck_assert_msg(s.errors == 0, "fault %s", faults[f]);
    ck_assert_msg(count("alice@contoso.com", EXS_ACTIVITY_SENT) == round, "fault %s: %ld sent",
                  faults[f], count("alice@contoso.com", EXS_ACTIVITY_SENT));
    ck_assert_msg(subjects_in("bob@contoso.com", "inbox", "Fault mail", &distinct) == round,
                  "fault %s: %ld delivered", faults[f],
                  subjects_in("bob@contoso.com", "inbox", "Fault mail", NULL));
    ck_assert_int_eq(distinct, round);
  }
}
END_TEST

START_TEST(incoming_responses_by_conversation)
{
  struct exs_sync_stats s;
  char e[256];

  add_mailbox("alice@contoso.com", EXS_TRACK_RESPONSES);
  queue_email("alice@contoso.com", "customer@fabrikam.com, buyer@fabrikam.com", "Proposal");
  s = pass();
  ck_assert_uint_eq(s.sent, 1);
  /* an answer without the token, from a recipient, on the same topic */
  ck_assert(emu_deliver_message(emu, "Buyer@Fabrikam.com", "alice@contoso.com", "RE: Fw: proposal",
                                "yes", e, sizeof(e)) == 0);
  /* not answers: someone else, or another topic */
  ck_assert(emu_deliver_message(emu, "stranger@example.com", "alice@contoso.com", "RE: Proposal",
                                "?", e, sizeof(e)) == 0);
  ck_assert(emu_deliver_message(emu, "buyer@fabrikam.com", "alice@contoso.com", "RE: Another thing",
                                "?", e, sizeof(e)) == 0);
  s = pass();
  ck_assert_uint_eq(s.received, 1);
  ck_assert_int_eq(count("alice@contoso.com", EXS_ACTIVITY_RECEIVED), 1);
}
END_TEST

START_TEST(outgoing_permanent_disables)
{
  struct exs_mailbox m;
  struct exs_activity *a = NULL;
  struct exs_activity_extra x;
  struct exs_alert *al = NULL;
  size_t n = 0, na = 0;
  struct exs_error err;
  struct exs_sync_stats s;

  /* svc-crm may not impersonate dave: ErrorImpersonateUserDenied, permanent */
  add_mailbox("dave@contoso.com", EXS_TRACK_RESPONSES);
  get_mailbox("dave@contoso.com", &m);
  m.enabled[EXS_WL_INCOMING] = false;
  ck_assert(exs_store_mailbox_put(st, &m, &err) == 0);
  queue_email("dave@contoso.com", "bob@contoso.com", "Never sent");
  s = pass();
  ck_assert_uint_eq(s.errors, 1);
  ck_assert_uint_eq(s.sent, 0);
  get_mailbox("dave@contoso.com", &m);
  ck_assert(!m.enabled[EXS_WL_OUTGOING]);
  ck_assert_int_eq(m.status[EXS_WL_OUTGOING], EXS_STATUS_FAILURE);
  ck_assert_str_eq(m.last_error_code, "IMPERSONATION");
  ck_assert(exs_store_activity_list(st, "dave@contoso.com", NULL, &a, &n, &err) == 0);
  ck_assert_uint_eq(n, 1);
  ck_assert_str_eq(a[0].state, EXS_ACTIVITY_PENDING_SEND);
  ck_assert(exs_store_activity_extra_get(st, a[0].id, &x, &err) == 0);
  ck_assert(x.reason[0]);
  exs_activity_clear(&a[0]);
  free(a);
  ck_assert(exs_store_alert_list(st, "dave@contoso.com", 0, &al, &na, &err) == 0);
  ck_assert_uint_ge(na, 1);
  ck_assert_int_eq(al[na - 1].severity, EXS_SEV_ERROR);
  free(al);
  /* disabled: the next pass leaves it alone */
  s = pass();
  ck_assert_uint_eq(s.mailboxes, 0);
}
END_TEST

START_TEST(transient_retries_then_disable)
{
  struct exs_mailbox m;
  struct exs_sync_stats s;
  char e[256];
  int i;

  add_mailbox("carol@contoso.com", EXS_TRACK_ALL);
  opt.max_transient_retries = 3;
  /* the server is down for this mailbox: transient each time */
  ck_assert(emu_add_fault(emu, "mailbox=carol@contoso.com http-status=502", e, sizeof(e)) > 0);
  for(i = 1; i <= 3; i++) {
    s = pass();
    ck_assert_uint_eq(s.errors, 1);
    get_mailbox("carol@contoso.com", &m);
    ck_assert_int_eq(m.transient_failures, i);
    ck_assert(m.enabled[EXS_WL_INCOMING]);
    ck_assert(m.retry_at > 0);
    ck_assert_str_eq(m.last_error_code, "SERVER");
  }
  s = pass();
  get_mailbox("carol@contoso.com", &m);
  ck_assert(!m.enabled[EXS_WL_INCOMING]);
  ck_assert_int_eq(m.status[EXS_WL_INCOMING], EXS_STATUS_FAILURE);
  ck_assert(m.enabled[EXS_WL_OUTGOING]); /* nothing to send: outgoing never failed */
  emu_clear_faults(emu);
}
END_TEST

START_TEST(success_resets_transient_count)
{
  struct exs_mailbox m;
  char e[256];

  add_mailbox("carol@contoso.com", EXS_TRACK_ALL);
  ck_assert(emu_add_fault(emu, "mailbox=carol@contoso.com http-status=502 times=1", e, sizeof(e)) >
            0);
  pass();
  get_mailbox("carol@contoso.com", &m);
  ck_assert_int_eq(m.transient_failures, 1);
  pass();
  get_mailbox("carol@contoso.com", &m);
  ck_assert_int_eq(m.transient_failures, 0);
  ck_assert_int_eq(m.last_error_count, 0);
  ck_assert(m.enabled[EXS_WL_INCOMING]);
}
END_TEST

/* ---- scheduling ---- */

START_TEST(postponement_rules)
{
  struct exs_profile p;
  struct exs_sync_options o;

  exs_profile_defaults(&p);
  memset(&o, 0, sizeof(o));
  p.poll_minutes = 0;
  ck_assert_int_eq(exs_sync_postponement(&p, 0, &o), 300);
  p.poll_minutes = 10;
  ck_assert_int_eq(exs_sync_postponement(&p, 0, &o), 600);
  p.poll_minutes = 0;
  ck_assert_int_eq(exs_sync_postponement(&p, 3, &o), 480);
  ck_assert_int_eq(exs_sync_postponement(&p, 100, &o), 1200);
  o.min_interval_s = 2;
  o.empty_backoff_s = 1;
  o.max_backoff_s = 5;
  ck_assert_int_eq(exs_sync_postponement(&p, 0, &o), 2);
  ck_assert_int_eq(exs_sync_postponement(&p, 10, &o), 7);
  /* a shorter --interval never undercuts the profile's minimum polling interval */
  p.poll_minutes = 30;
  ck_assert_int_eq(exs_sync_postponement(&p, 0, &o), 1800);
  o.min_interval_s = 3600;
  ck_assert_int_eq(exs_sync_postponement(&p, 0, &o), 3600);
}
END_TEST

START_TEST(schedule_due_and_postponed)
{
  struct exs_sync_stats s;
  struct exs_mailbox m;
  time_t t0 = exs_now();

  add_mailbox("alice@contoso.com", EXS_TRACK_ALL);
  opt.ignore_schedule = false;
  opt.min_interval_s = 3600;
  exs_clock_freeze(t0); /* the postponement is exact, however long the pass takes */
  s = pass();
  exs_clock_freeze(0);
  ck_assert_uint_eq(s.mailboxes, 1);
  get_mailbox("alice@contoso.com", &m);
  ck_assert_int_eq((long long)m.postponed_until, (long long)t0 + 3600);
  /* not due: left alone */
  deliver("alice@contoso.com", "Later %d", 1);
  s = pass();
  ck_assert_uint_eq(s.mailboxes, 0);
  ck_assert_int_eq(count("alice@contoso.com", NULL), 2);
}
END_TEST

START_TEST(claim_one_worker_per_mailbox)
{
  struct exs_error err;
  struct exs_sync_stats s;
  int claimed = 0;

  add_mailbox("alice@contoso.com", EXS_TRACK_ALL);
  /* another live worker (another host) holds its lease */
  ck_assert(exs_store_lease_claim(st, "alice@contoso.com", "otherhost:1", 3600 * 1000, &claimed,
                                  &err) == 0);
  ck_assert_int_eq(claimed, 1);
  s = pass();
  ck_assert_uint_eq(s.busy, 1);
  ck_assert_int_eq(count("alice@contoso.com", NULL), 0);
  /* a lease that ran out (no heartbeat renewed it) is taken over */
  exs_clock_freeze(exs_now() + 3601);
  s = pass();
  exs_clock_freeze(0);
  ck_assert_uint_eq(s.busy, 0);
  ck_assert_int_eq(count("alice@contoso.com", NULL), 2);
  /* and given back at the end of the cycle */
  ck_assert_int_eq(exs_store_lease_held(st, "alice@contoso.com", "otherhost:1", &err), 0);
  {
    struct exs_lease *l = NULL;
    size_t n = 9;
    ck_assert_int_eq(exs_store_lease_list(st, &l, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    free(l);
  }
}
END_TEST

START_TEST(max_connections_per_credential)
{
  static const char *const boxes[] = {"alice@contoso.com", "bob@contoso.com", "carol@contoso.com"};
  struct tu_releaser *rel;
  char e[256];
  int i;

  for(size_t b = 0; b < 3; b++) {
    add_mailbox(boxes[b], EXS_TRACK_ALL);
    for(i = 0; i < 20; i++)
      deliver(boxes[b], "Mail %d", i);
  }
  /* the first two answers are held until two requests are in flight
   * together: the limit is reached on any machine, never passed */
  ck_assert(emu_add_fault(emu, "delay-ms=600000 times=2", e, sizeof(e)) > 0);
  rel = tu_release_when_delayed(emu, 2);
  opt.max_workers = 8;
  pass();
  ck_assert_msg(tu_releaser_join(rel), "never two requests in flight");
  emu_clear_faults(emu);
  ck_assert_int_le(emu_journal_max_in_flight(emu, "svc-crm"), 2);
  ck_assert_int_eq(emu_journal_max_in_flight(emu, "svc-crm"), 2);
  ck_assert_int_eq(count(NULL, NULL), 62);
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("sync");
  TCase *tc = tcase_create("engine");

  tcase_add_checked_fixture(tc, world_up, world_down);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, incoming_all_exactly_once);
  tcase_add_test(tc, incoming_responses_by_token);
  tcase_add_test(tc, incoming_process_from);
  tcase_add_test(tc, incoming_state_not_saved_when_items_fail);
  tcase_add_test(tc, incoming_faults_recover);
  tcase_add_test(tc, incoming_resync_after_invalid_state);
  tcase_add_test(tc, incoming_undeliverable);
  tcase_add_test(tc, outgoing_exactly_once);
  tcase_add_test(tc, outgoing_sends_with_the_outgoing_settings);
  tcase_add_test(tc, outgoing_reply_is_tracked);
  tcase_add_test(tc, incoming_responses_by_conversation);
  tcase_add_test(tc, outgoing_faults_no_duplicates);
  tcase_add_test(tc, outgoing_permanent_disables);
  tcase_add_test(tc, transient_retries_then_disable);
  tcase_add_test(tc, success_resets_transient_count);
  tcase_add_test(tc, postponement_rules);
  tcase_add_test(tc, schedule_due_and_postponed);
  tcase_add_test(tc, claim_one_worker_per_mailbox);
  tcase_add_test(tc, max_connections_per_credential);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  return tu_run(suite());
}
