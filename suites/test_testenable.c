/* test_testenable.c - Test & Enable against the in-process emulator: one
 * test per error category of docs/test-enable.md, Errors that a plain-HTTP world can
 * produce, the precise rules of section 3, retries, concurrency limits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exsync-emulator/emulator.h"
#include "exsync/testenable.h"
#include "emu_release.h"
#include "testutil.h"
#include "world.h"

#define ORG_ID "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10"
#define OTHER_ORG "0b5c8a3e-7d21-4f6a-9c3b-5e8f1a2d4c60"

static struct emu *emu;
static int port;
static char url[256];
static char connect_to[128];
static const char *ct[1];
static struct exs_org org;
static struct exs_profile profile;
static struct exs_te_options opt;
static struct exs_transport transport; /* the run's settings */

static void world_up(void)
{
  port = tw_start(&emu, url, connect_to);
  ct[0] = connect_to;
  tw_org(&org, ORG_ID);
  tw_profile(&profile, url);
  profile.max_connections = 3;

  memset(&opt, 0, sizeof(opt));
  memset(&transport, 0, sizeof(transport));
  transport.connect_to = ct;
  transport.n_connect_to = 1;
  opt.transport = &transport;
  opt.delivery_timeout_ms = 5000;
  opt.retry_interval_s = 1;
}

static void world_down(void)
{
  emu_stop(emu);
  emu_free(emu);
  emu = NULL;
}

static void mailbox(struct exs_mailbox *m, const char *address)
{
  tw_mailbox(m, address);
}

/* Requests the emulator journal holds for a mailbox (any role). */
static size_t requests_for(const char *address)
{
  struct emu_journal_entry *e;
  size_t n = emu_journal_count(emu), i, hits = 0;

  e = calloc(n ? n : 1, sizeof(*e));
  n = emu_journal_get(emu, 0, e, n);
  for(i = 0; i < n; i++)
    if(!strcasecmp(e[i].mailbox, address) || !strcasecmp(e[i].impersonated, address))
      hits++;
  free(e);
  return hits;
}

static size_t requests_total(void)
{
  return emu_journal_count(emu);
}

static void assert_statuses(const struct exs_te_result *r, int in, int out, int act)
{
  int w;

  for(w = 0; w < EXS_WL_COUNT; w++)
    if(r->status[w] == EXS_STATUS_FAILURE)
      fprintf(stderr, "%s %s: %s %s\n", r->address, exs_workload_name((enum exs_workload)w),
              exs_category_name(r->error[w].category), r->error[w].message);
  ck_assert_int_eq(r->status[EXS_WL_INCOMING], in);
  ck_assert_int_eq(r->status[EXS_WL_OUTGOING], out);
  ck_assert_int_eq(r->status[EXS_WL_ACT], act);
}

static const struct exs_te_alert *first_alert(const struct exs_te_result *r)
{
  ck_assert_uint_ge(r->n_alerts, 1);
  return &r->alerts[0];
}

START_TEST(healthy_mailbox_enables_everything)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  char value[128];

  mailbox(&m, "alice@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  assert_statuses(&r, EXS_STATUS_SUCCESS, EXS_STATUS_SUCCESS, EXS_STATUS_SUCCESS);
  ck_assert(m.enabled[0] && m.enabled[1] && m.enabled[2]);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_TEST_OK);
  ck_assert_int_eq(first_alert(&r)->severity, EXS_SEV_INFORMATION);
  ck_assert_int_eq(m.retry_count, 1);
  ck_assert(m.test_completed_on > 0);
  /* the org identity is written, and the test message is gone */
  ck_assert_int_eq(emu_get_folder_property(emu, "alice@contoso.com", "msgfolderroot",
                                           "exsync.OrgId", value, sizeof(value)),
                   0);
  ck_assert_str_eq(value, ORG_ID);
  ck_assert_int_eq(emu_folder_count(emu, "alice@contoso.com", "inbox"), 2);
  ck_assert_int_eq(emu_journal_max_in_flight(emu, "svc-crm"), 1);
}
END_TEST

START_TEST(wrong_profile_password_is_credentials_permanent)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  snprintf(profile.password, sizeof(profile.password), "wrong");
  mailbox(&m, "alice@contoso.com");
  m.enabled[EXS_WL_INCOMING] = true; /* enabled before: a permanent failure clears it */
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  assert_statuses(&r, EXS_STATUS_FAILURE, EXS_STATUS_FAILURE, EXS_STATUS_FAILURE);
  ck_assert(!m.enabled[0] && !m.enabled[1] && !m.enabled[2]);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_CREDENTIALS);
  ck_assert(!first_alert(&r)->error.transient);
  ck_assert_int_eq(first_alert(&r)->severity, EXS_SEV_ERROR);
  ck_assert_int_eq(first_alert(&r)->error.http_status, 401);
  ck_assert_ptr_nonnull(strstr(first_alert(&r)->error.hint, "password"));
  ck_assert_ptr_null(strstr(first_alert(&r)->error.message, "wrong"));
}
END_TEST

START_TEST(mailbox_credentials_wrong_password_is_mbx_credentials)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  profile.retrieval = EXS_RETRIEVAL_USER;
  profile.user[0] = profile.password[0] = '\0';
  mailbox(&m, "bob@contoso.com");
  m.allow_credentials = true;
  snprintf(m.user, sizeof(m.user), "CONTOSO\\bob");
  snprintf(m.password, sizeof(m.password), "not-bob-pw");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_MBX_CREDENTIALS);
  snprintf(m.password, sizeof(m.password), "bob-pw");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  assert_statuses(&r, EXS_STATUS_SUCCESS, EXS_STATUS_SUCCESS, EXS_STATUS_SUCCESS);
}
END_TEST

START_TEST(mailbox_credentials_not_allowed_sends_nothing)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  profile.retrieval = EXS_RETRIEVAL_USER;
  mailbox(&m, "bob@contoso.com");
  snprintf(m.user, sizeof(m.user), "CONTOSO\\bob");
  snprintf(m.password, sizeof(m.password), "bob-pw");
  m.allow_credentials = false;
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_MBX_CREDENTIALS);
  ck_assert(!first_alert(&r)->error.transient);
  ck_assert_uint_eq(requests_total(), 0);
}
END_TEST

START_TEST(not_approved_fails_email_sends_nothing_for_it)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  mailbox(&m, "carol@contoso.com");
  m.approval = EXS_APPROVAL_PENDING;
  m.act = EXS_ACT_NONE;
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  assert_statuses(&r, EXS_STATUS_FAILURE, EXS_STATUS_FAILURE, EXS_STATUS_NOT_RUN);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_NOT_APPROVED);
  ck_assert(!first_alert(&r)->error.transient);
  ck_assert_uint_eq(requests_total(), 0);
  /* approval gates email only: ACT is still tested */
  m.act = EXS_ACT_SSYNC;
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  assert_statuses(&r, EXS_STATUS_FAILURE, EXS_STATUS_FAILURE, EXS_STATUS_SUCCESS);
}
END_TEST

START_TEST(insecure_channel_sends_nothing)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  org.allow_non_ssl = false;
  org.allow_credentials_non_secure = false;
  org.allow_basic_non_secure = false;
  mailbox(&m, "alice@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  assert_statuses(&r, EXS_STATUS_FAILURE, EXS_STATUS_FAILURE, EXS_STATUS_FAILURE);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_INSECURE_CHANNEL);
  ck_assert(!first_alert(&r)->error.transient);
  ck_assert_uint_eq(requests_total(), 0);
  /* credentials allowed but not Basic: still refused, still silent */
  org.allow_non_ssl = true;
  org.allow_credentials_non_secure = true;
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_INSECURE_CHANNEL);
  ck_assert_ptr_nonnull(strstr(first_alert(&r)->error.message, "Basic"));
  ck_assert_uint_eq(requests_total(), 0);
}
END_TEST

START_TEST(config_problems_send_nothing)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  mailbox(&m, "alice@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, NULL, &m, &opt, &r), 1);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_CONFIG);
  m.active = false;
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_CONFIG);
  m.active = true;
  profile.max_connections = 0;
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_CONFIG);
  ck_assert_ptr_nonnull(strstr(first_alert(&r)->error.message, "max-connections"));
  ck_assert_uint_eq(requests_total(), 0);
}
END_TEST

START_TEST(not_run_only_when_not_server_side_sync)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  mailbox(&m, "alice@contoso.com");
  m.outgoing = EXS_OUT_OUTLOOK;
  m.act = EXS_ACT_OUTLOOK;
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  assert_statuses(&r, EXS_STATUS_SUCCESS, EXS_STATUS_NOT_RUN, EXS_STATUS_NOT_RUN);
  ck_assert(m.enabled[EXS_WL_INCOMING] && !m.enabled[EXS_WL_OUTGOING]);
}
END_TEST

START_TEST(impersonation_denied)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  mailbox(&m, "dave@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  assert_statuses(&r, EXS_STATUS_FAILURE, EXS_STATUS_FAILURE, EXS_STATUS_FAILURE);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_IMPERSONATION);
  ck_assert_str_eq(first_alert(&r)->error.ews_code, "ErrorImpersonateUserDenied");
  ck_assert_int_eq(first_alert(&r)->error.http_status, 500);
  ck_assert(!first_alert(&r)->error.transient);
}
END_TEST

START_TEST(mailbox_not_found)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  mailbox(&m, "ghost@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_MAILBOX_NOT_FOUND);
  ck_assert_str_eq(first_alert(&r)->error.ews_code, "ErrorNonExistentMailbox");
}
END_TEST

START_TEST(access_denied_on_inbox)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  mailbox(&m, "erin@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  assert_statuses(&r, EXS_STATUS_FAILURE, EXS_STATUS_FAILURE, EXS_STATUS_SUCCESS);
  ck_assert_int_eq(r.error[EXS_WL_INCOMING].category, EXS_CAT_ACCESS_DENIED);
  ck_assert_str_eq(r.error[EXS_WL_INCOMING].ews_code, "ErrorAccessDenied");
  ck_assert(!m.enabled[EXS_WL_INCOMING] && m.enabled[EXS_WL_ACT]);
  /* the Inbox was read in the connect step's one GetFolder with the root
   * and the ACT folders; its error is the incoming step's, not connect's */
  ck_assert_str_eq(r.steps[3].name, "connect");
  ck_assert_int_eq(r.steps[3].status, EXS_STEP_OK);
  ck_assert_str_eq(r.steps[4].name, "incoming");
  ck_assert_int_eq(r.steps[4].status, EXS_STEP_FAILED);
  ck_assert_str_eq(r.error[EXS_WL_INCOMING].step, "incoming");
  ck_assert_ptr_nonnull(strstr(r.error[EXS_WL_INCOMING].message, "the Inbox"));
}
END_TEST

/* Every workload tested in six EWS requests: ONE GetFolder (root with the
 * organization identity, Inbox, calendar, contacts, tasks) before the first
 * FindItem, then the send to self, its lookup and removal, and the identity
 * written; each step still has its own entry. */
START_TEST(six_requests_per_mailbox)
{
  static const char *const want[] = {"GetFolder", "FindItem",   "CreateItem",
                                     "FindItem",  "DeleteItem", "UpdateFolder"};
  struct exs_mailbox m;
  struct exs_te_result r;
  struct emu_journal_entry *e;
  size_t n, i, k = 0;
  char err[512];

  /* the requests and the multi-folder answers are schema-valid */
  ck_assert_msg(emu_set_ews_schema(emu, tu_path("fixtures/schema/ews/ews-validate.xsd"), err,
                                   sizeof(err)) == 0,
                "%s", err);
  emu_check_answers(emu, true);
  mailbox(&m, "carol@contoso.com");
  emu_journal_clear(emu);
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  ck_assert_msg(emu_invalid_answers(emu, err, sizeof(err)) == 0, "%s", err);
  /* one folder of the answer failing is schema-valid too (erin's Inbox) */
  mailbox(&m, "erin@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_msg(emu_invalid_answers(emu, err, sizeof(err)) == 0, "%s", err);
  mailbox(&m, "carol@contoso.com");
  emu_journal_clear(emu);
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  n = emu_journal_count(emu);
  e = calloc(n ? n : 1, sizeof(*e));
  n = emu_journal_get(emu, 0, e, n);
  for(i = 0; i < n; i++) {
    if(!e[i].operation[0])
      continue; /* an authentication leg */
    ck_assert_uint_lt(k, sizeof(want) / sizeof(want[0]));
    ck_assert_str_eq(e[i].operation, want[k]);
    k++;
  }
  free(e);
  ck_assert_uint_eq(k, sizeof(want) / sizeof(want[0]));
  ck_assert_uint_eq(r.n_steps, 7);
  ck_assert_str_eq(r.steps[3].name, "connect");
  ck_assert_str_eq(r.steps[4].name, "incoming");
  ck_assert_str_eq(r.steps[5].name, "outgoing");
  ck_assert_str_eq(r.steps[6].name, "act");
  for(i = 0; i < r.n_steps; i++)
    ck_assert_int_eq(r.steps[i].status, EXS_STEP_OK);
}
END_TEST

START_TEST(throttled_is_transient_and_retried_then_permanent)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  int i;

  mailbox(&m, "frank@contoso.com");
  m.enabled[EXS_WL_INCOMING] = true;
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_THROTTLED);
  ck_assert(first_alert(&r)->error.transient);
  ck_assert_int_eq(first_alert(&r)->severity, EXS_SEV_WARNING);
  ck_assert_int_eq(first_alert(&r)->error.backoff_ms, 20);
  ck_assert(r.retry_scheduled);
  ck_assert(m.enabled[EXS_WL_INCOMING]); /* transient: flags as they were */
  /* the same request was retried: 1 + 3 retries for the one failing call */
  ck_assert_uint_eq(requests_for("frank@contoso.com"), 4);
  for(i = 0; i < 9; i++) {
    exs_testenable_mailbox(&org, &profile, &m, &opt, &r);
    ck_assert(r.retry_scheduled);
  }
  /* the 11th consecutive failure: the retry budget is spent */
  exs_testenable_mailbox(&org, &profile, &m, &opt, &r);
  ck_assert(!r.retry_scheduled);
  ck_assert(!first_alert(&r)->error.transient);
  ck_assert_int_eq(first_alert(&r)->severity, EXS_SEV_ERROR);
  ck_assert(!m.enabled[EXS_WL_INCOMING]);
}
END_TEST

START_TEST(transient_success_resets_the_count)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  char err[256];

  mailbox(&m, "bob@contoso.com");
  ck_assert_int_gt(
      emu_add_fault(emu, "mailbox=bob@contoso.com http-status=503 times=4", err, sizeof(err)), 0);
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_THROTTLED);
  ck_assert_int_eq(first_alert(&r)->error.http_status, 503);
  ck_assert_int_eq(m.transient_failures, 1);
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  ck_assert_int_eq(m.transient_failures, 0);
}
END_TEST

START_TEST(throttling_within_budget_is_invisible)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  char err[256];

  mailbox(&m, "carol@contoso.com");
  ck_assert_int_gt(emu_add_fault(emu,
                                 "mailbox=carol@contoso.com operation=GetFolder "
                                 "ews-code=ErrorServerBusy backoff-ms=30 times=2",
                                 err, sizeof(err)),
                   0);
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  assert_statuses(&r, EXS_STATUS_SUCCESS, EXS_STATUS_SUCCESS, EXS_STATUS_SUCCESS);
}
END_TEST

START_TEST(server_error_is_transient)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  mailbox(&m, "henry@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_SERVER);
  ck_assert(first_alert(&r)->error.transient);
  ck_assert_int_eq(first_alert(&r)->error.http_status, 500);
}
END_TEST

START_TEST(timeout_is_transient)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  char err[256];

  profile.timeout_ms = 300;
  mailbox(&m, "alice@contoso.com");
  /* held (never answered in time): the 300 ms timeout fires first on any machine */
  ck_assert_int_gt(
      emu_add_fault(emu, "mailbox=alice@contoso.com delay-ms=600000", err, sizeof(err)), 0);
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_TIMEOUT);
  ck_assert(first_alert(&r)->error.transient);
}
END_TEST

START_TEST(connect_and_dns_failures)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  struct exs_te_options o = opt;
  struct exs_transport t = transport;

  mailbox(&m, "alice@contoso.com");
  o.transport = &t;
  t.n_connect_to = 0; /* mail.contoso.com really does not resolve here... */
  snprintf(profile.incoming_url, sizeof(profile.incoming_url),
           "http://mail.contoso.invalid/EWS/Exchange.asmx");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &o, &r), 1);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_DNS);
  ck_assert(first_alert(&r)->error.transient);
  /* ...and the emulator's port on another address refuses connections */
  snprintf(profile.incoming_url, sizeof(profile.incoming_url),
           "http://127.0.0.1:1/EWS/Exchange.asmx");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &o, &r), 1);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_CONNECT);
  ck_assert(first_alert(&r)->error.transient);
}
END_TEST

START_TEST(protocol_error_on_garbage)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  char err[256];

  mailbox(&m, "alice@contoso.com");
  ck_assert_int_gt(emu_add_fault(emu, "mailbox=alice@contoso.com malformed", err, sizeof(err)), 0);
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_PROTOCOL);
}
END_TEST

/* The test message's answer is lost after Exchange took it: the send is not
 * repeated (neither by us nor by libcurl behind our back); the message is
 * found by its marker and removed, so nothing is left behind. */
START_TEST(lost_send_answer_is_looked_up_not_resent)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  struct emu_journal_entry *e;
  size_t n, i, creates = 0;
  char err[256];

  mailbox(&m, "bob@contoso.com");
  m.act = EXS_ACT_NONE;
  ck_assert_int_gt(emu_add_fault(emu, "mailbox=bob@contoso.com operation=CreateItem reset times=1",
                                 err, sizeof(err)),
                   0);
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  ck_assert_int_eq(r.status[EXS_WL_OUTGOING], EXS_STATUS_SUCCESS);
  ck_assert_int_eq(emu_folder_count(emu, "bob@contoso.com", "inbox"), 0);
  n = emu_journal_count(emu);
  e = calloc(n, sizeof(*e));
  n = emu_journal_get(emu, 0, e, n);
  for(i = 0; i < n; i++)
    if(!strcmp(e[i].operation, "CreateItem"))
      creates++;
  free(e);
  ck_assert_uint_eq(creates, 1);
}
END_TEST

START_TEST(act_other_org_and_take_over)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  char value[128];

  mailbox(&m, "grace@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  assert_statuses(&r, EXS_STATUS_SUCCESS, EXS_STATUS_SUCCESS, EXS_STATUS_FAILURE);
  ck_assert_int_eq(r.error[EXS_WL_ACT].category, EXS_CAT_ACT_OTHER_ORG);
  ck_assert_int_eq(emu_get_folder_property(emu, "grace@contoso.com", "msgfolderroot",
                                           "exsync.OrgId", value, sizeof(value)),
                   0);
  ck_assert_str_eq(value, OTHER_ORG); /* nothing overwritten */
  opt.this_org_only = true;
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  emu_get_folder_property(emu, "grace@contoso.com", "msgfolderroot", "exsync.OrgId", value,
                          sizeof(value));
  ck_assert_str_eq(value, ORG_ID);
  ck_assert_int_eq(emu_get_folder_property(emu, "grace@contoso.com", "msgfolderroot",
                                           "exsync.LastSync", value, sizeof(value)),
                   0);
  ck_assert_str_ne(value, "2026-01-01T00:00:00Z");
}
END_TEST

START_TEST(delegation_fails_act_before_any_act_request)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  struct emu_journal_entry *e;
  size_t n, i;

  long sent_before;

  profile.impersonation = false;
  mailbox(&m, "alice@contoso.com");
  sent_before = emu_folder_count(emu, "alice@contoso.com", "sentitems");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  /* sent on alice's behalf, and nothing left behind in her mailbox */
  ck_assert_int_eq(emu_folder_count(emu, "alice@contoso.com", "sentitems"), sent_before);
  ck_assert_int_eq(emu_folder_count(emu, "alice@contoso.com", "inbox"), 2);
  assert_statuses(&r, EXS_STATUS_SUCCESS, EXS_STATUS_SUCCESS, EXS_STATUS_FAILURE);
  ck_assert_int_eq(r.error[EXS_WL_ACT].category, EXS_CAT_ACT_DELEGATION);
  n = emu_journal_count(emu);
  e = calloc(n, sizeof(*e));
  n = emu_journal_get(emu, 0, e, n);
  for(i = 0; i < n; i++) {
    ck_assert_str_ne(e[i].operation, "UpdateFolder");
    ck_assert_str_eq(e[i].impersonated, "");
  }
  free(e);
}
END_TEST

static int no_srv(void *ctx, const char *name, struct exs_srv_record *out, size_t max, size_t *n)
{
  (void)ctx;
  (void)name;
  (void)out;
  (void)max;
  *n = 0;
  return 0;
}

START_TEST(autodiscover_finds_nothing)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  struct exs_te_options o = opt;
  struct exs_transport t = transport;
  char redirect[128];
  const char *map[4];

  /* the https candidates go to a closed port, the port-80 probe to the
   * emulator (which answers 401, not a redirect), and SRV has no record */
  snprintf(redirect, sizeof(redirect), "autodiscover.contoso.com:80:127.0.0.1:%d", port);
  map[0] = "contoso.com:443:127.0.0.1:1";
  map[1] = "autodiscover.contoso.com:443:127.0.0.1:1";
  map[2] = redirect;
  t.connect_to = map;
  t.n_connect_to = 3;
  o.transport = &t;
  o.srv = no_srv;
  profile.autodiscover = true;
  profile.incoming_url[0] = profile.outgoing_url[0] = '\0';
  mailbox(&m, "alice@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &o, &r), 1);
  assert_statuses(&r, EXS_STATUS_FAILURE, EXS_STATUS_FAILURE, EXS_STATUS_FAILURE);
  ck_assert_int_eq(first_alert(&r)->error.category, EXS_CAT_AUTODISCOVER);
  ck_assert(!first_alert(&r)->error.transient);
  ck_assert_str_eq(r.steps[2].name, "location");
  ck_assert_int_eq(r.steps[2].status, EXS_STEP_FAILED);
  ck_assert_uint_eq(requests_for("alice@contoso.com"), 0); /* no EWS request */
  ck_assert_str_eq(m.ews_url, "");
}
END_TEST

START_TEST(batch_never_exceeds_max_connections)
{
  enum { N = 200 };
  struct exs_mailbox *m = calloc(N, sizeof(*m));
  struct exs_te_result *r = calloc(N, sizeof(*r));
  struct exs_te_batch_options bo;
  struct tu_releaser *rel;
  char err[256];
  int i;

  /* the first three FindItem answers (mailbox tests, not the profile check)
   * are held until three are in flight together: all three connections
   * used, on any machine */
  ck_assert_msg(emu_add_fault(emu, "operation=FindItem delay-ms=600000 times=3", err, sizeof(err)) >
                    0,
                "%s", err);
  rel = tu_release_when_delayed(emu, 3);
  for(i = 0; i < N; i++)
    mailbox(&m[i], i % 2 ? "alice@contoso.com" : "bob@contoso.com");
  for(i = 0; i < N; i++) {
    m[i].outgoing = EXS_OUT_NONE; /* keep it to reads: alice and bob are shared */
    m[i].act = EXS_ACT_NONE;
  }
  memset(&bo, 0, sizeof(bo));
  bo.te = opt;
  ck_assert_int_eq(exs_testenable_batch(&org, &profile, 1, m, N, &bo, r), 0);
  ck_assert_msg(tu_releaser_join(rel), "the batch never had three requests in flight");
  ck_assert_int_le(emu_journal_max_in_flight(emu, "svc-crm"), 3);
  ck_assert_int_eq(emu_journal_max_in_flight(emu, "svc-crm"), 3); /* and it was used */
  for(i = 0; i < N; i++)
    ck_assert_int_eq(r[i].status[EXS_WL_INCOMING], EXS_STATUS_SUCCESS);
  free(m);
  free(r);
}
END_TEST

/* A batch that cannot run (out of memory) returns -1, never a run whose
 * workloads all look "Not Run" (diag turns -1 into a message and exit 2). A
 * mailbox count no allocator can satisfy makes the failure without a hook. */
START_TEST(batch_that_cannot_run_says_so)
{
  struct exs_org o;
  struct exs_te_batch_options bo;
  struct exs_mailbox m[1];
  struct exs_te_result r[1];

  exs_org_defaults(&o);
  memset(&bo, 0, sizeof(bo));
  memset(m, 0, sizeof(m));
  memset(r, 0, sizeof(r));
  ck_assert_int_eq(exs_testenable_batch(&o, NULL, 0, m, SIZE_MAX / 4, &bo, r), -1);
}
END_TEST

/* The test above asks for an impossible allocation: under AddressSanitizer it
 * must get NULL back, as from the real allocator, not a report. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
  return "allocator_may_return_null=1";
}

int main(void)
{
  Suite *s = suite_create("testenable");
  TCase *tc = tcase_create("emulator");
  TCase *internal = tcase_create("internal");

  tcase_add_test(internal, batch_that_cannot_run_says_so);
  suite_add_tcase(s, internal);

  tcase_add_checked_fixture(tc, world_up, world_down);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, healthy_mailbox_enables_everything);
  tcase_add_test(tc, wrong_profile_password_is_credentials_permanent);
  tcase_add_test(tc, mailbox_credentials_wrong_password_is_mbx_credentials);
  tcase_add_test(tc, mailbox_credentials_not_allowed_sends_nothing);
  tcase_add_test(tc, not_approved_fails_email_sends_nothing_for_it);
  tcase_add_test(tc, insecure_channel_sends_nothing);
  tcase_add_test(tc, config_problems_send_nothing);
  tcase_add_test(tc, not_run_only_when_not_server_side_sync);
  tcase_add_test(tc, impersonation_denied);
  tcase_add_test(tc, mailbox_not_found);
  tcase_add_test(tc, access_denied_on_inbox);
  tcase_add_test(tc, six_requests_per_mailbox);
  tcase_add_test(tc, throttled_is_transient_and_retried_then_permanent);
  tcase_add_test(tc, transient_success_resets_the_count);
  tcase_add_test(tc, throttling_within_budget_is_invisible);
  tcase_add_test(tc, server_error_is_transient);
  tcase_add_test(tc, timeout_is_transient);
  tcase_add_test(tc, connect_and_dns_failures);
  tcase_add_test(tc, protocol_error_on_garbage);
  tcase_add_test(tc, lost_send_answer_is_looked_up_not_resent);
  tcase_add_test(tc, act_other_org_and_take_over);
  tcase_add_test(tc, delegation_fails_act_before_any_act_request);
  tcase_add_test(tc, autodiscover_finds_nothing);
  tcase_add_test(tc, batch_never_exceeds_max_connections);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
