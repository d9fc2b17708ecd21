/* test_verdicts.c - verdicts that can be trusted (issue 11), against the
 * in-process emulator: outgoing is tested where it goes and with its own
 * settings, the profile check protects the service account from lockout,
 * a success closes the last error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exsync-emulator/emulator.h"
#include "exsync/testenable.h"
#include "testutil.h"
#include "world.h"

#define ORG_ID "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10"

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
  profile.max_connections = 4;

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
  exs_mailbox_defaults(m);
  snprintf(m->address, sizeof(m->address), "%s", address);
  snprintf(m->name, sizeof(m->name), "%s", address);
  snprintf(m->profile, sizeof(m->profile), "Exchange");
  m->approval = EXS_APPROVAL_APPROVED;
}

static void validate(struct exs_profile *p)
{
  struct exs_invalid inv;

  ck_assert_msg(exs_profile_validate(p, &inv) == 0, "%s %s", inv.field, inv.rule);
}

/* Journal entries (copied; caller frees). */
static struct emu_journal_entry *journal(size_t *n)
{
  struct emu_journal_entry *e;

  *n = emu_journal_count(emu);
  e = calloc(*n ? *n : 1, sizeof(*e));
  *n = emu_journal_get(emu, 0, e, *n);
  return e;
}

/* Failed logons in the journal: what Active Directory counts toward lockout. */
static size_t failed_logons(void)
{
  size_t n, i, k = 0;
  struct emu_journal_entry *e = journal(&n);

  for(i = 0; i < n; i++)
    k += e[i].auth_failed ? 1 : 0;
  free(e);
  return k;
}

/* The login that made the first request of SOAP operation op ("" if none). */
static void login_of(const char *op, char *out, size_t len)
{
  size_t n, i;
  struct emu_journal_entry *e = journal(&n);

  out[0] = '\0';
  for(i = 0; i < n; i++)
    if(!strcmp(e[i].operation, op) && e[i].auth_user[0]) {
      snprintf(out, len, "%s", e[i].auth_user);
      break;
    }
  free(e);
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

/* A broken outgoing location fails outgoing only: the outgoing test goes
 * where outgoing mail will go. */
START_TEST(broken_outgoing_location_fails_outgoing_only)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  size_t i;
  bool outgoing_alert = false;

  snprintf(profile.outgoing_url, sizeof(profile.outgoing_url),
           "http://127.0.0.1:1/EWS/Exchange.asmx"); /* nothing listens there */
  validate(&profile);
  mailbox(&m, "alice@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  assert_statuses(&r, EXS_STATUS_SUCCESS, EXS_STATUS_FAILURE, EXS_STATUS_SUCCESS);
  ck_assert(m.enabled[EXS_WL_INCOMING] && m.enabled[EXS_WL_ACT]);
  ck_assert_int_eq(r.error[EXS_WL_OUTGOING].category, EXS_CAT_CONNECT);
  ck_assert_ptr_nonnull(strstr(r.error[EXS_WL_OUTGOING].url, "127.0.0.1:1"));
  for(i = 0; i < r.n_alerts; i++)
    if(r.alerts[i].error.category == EXS_CAT_CONNECT) {
      ck_assert_int_eq(r.alerts[i].workload, EXS_WL_OUTGOING);
      outgoing_alert = true;
    }
  ck_assert(outgoing_alert);
  /* and with the same location for both, everything passes */
  profile.outgoing_url[0] = '\0';
  validate(&profile);
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  assert_statuses(&r, EXS_STATUS_SUCCESS, EXS_STATUS_SUCCESS, EXS_STATUS_SUCCESS);
}
END_TEST

/* Separate outgoing settings: each workload authenticates as its own account. */
START_TEST(separate_outgoing_credentials)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  char who[128];

  profile.same_outgoing = false;
  profile.out_retrieval = EXS_RETRIEVAL_PROFILE;
  snprintf(profile.out_user, sizeof(profile.out_user), "CONTOSO\\alice");
  snprintf(profile.out_password, sizeof(profile.out_password), "alice-pw");
  profile.out_impersonation = false; /* alice sends as herself: her own mailbox */
  profile.out_protocol = EXS_AUTH_NTLM;
  validate(&profile);
  mailbox(&m, "alice@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  assert_statuses(&r, EXS_STATUS_SUCCESS, EXS_STATUS_SUCCESS, EXS_STATUS_SUCCESS);
  login_of("CreateItem", who, sizeof(who));
  ck_assert_str_eq(who, "alice");
  login_of("FindItem", who, sizeof(who));
  ck_assert_str_eq(who, "svc-crm");

  /* a wrong outgoing password fails outgoing only, as CREDENTIALS */
  emu_journal_clear(emu);
  snprintf(profile.out_password, sizeof(profile.out_password), "not-alice-pw");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  assert_statuses(&r, EXS_STATUS_SUCCESS, EXS_STATUS_FAILURE, EXS_STATUS_SUCCESS);
  ck_assert_int_eq(r.error[EXS_WL_OUTGOING].category, EXS_CAT_CREDENTIALS);
  login_of("CreateItem", who, sizeof(who));
  ck_assert_str_eq(who, ""); /* nothing was sent */
}
END_TEST

/* The lockout rule: a wrong profile password over N mailboxes is presented
 * at most twice in the run (here once, by the profile check), every
 * mailbox is CREDENTIALS, and the profile gets one profile-level alert. */
static void wrong_password_run(int protocol)
{
  enum { N = 30 };
  struct exs_mailbox *m = calloc(N, sizeof(*m));
  struct exs_te_result *r = calloc(N, sizeof(*r));
  struct exs_te_profile_result pr;
  struct exs_te_batch_options bo;
  char address[64];
  int i;

  profile.protocol = protocol;
  snprintf(profile.password, sizeof(profile.password), "wrong");
  validate(&profile);
  for(i = 0; i < N; i++) {
    snprintf(address, sizeof(address), "user%02d@contoso.com", i);
    mailbox(&m[i], address);
  }
  memset(&bo, 0, sizeof(bo));
  bo.te = opt;
  bo.profile_results = &pr;
  ck_assert_int_eq(exs_testenable_batch(&org, &profile, 1, m, N, &bo, r), 1);
  ck_assert_uint_le(failed_logons(), 2);
  ck_assert_uint_ge(failed_logons(), 1);
  for(i = 0; i < N; i++) {
    assert_statuses(&r[i], EXS_STATUS_FAILURE, EXS_STATUS_FAILURE, EXS_STATUS_FAILURE);
    ck_assert_int_eq(r[i].error[EXS_WL_INCOMING].category, EXS_CAT_CREDENTIALS);
    ck_assert(!m[i].enabled[EXS_WL_INCOMING]);
  }
  ck_assert_str_eq(pr.name, "Exchange");
  ck_assert_uint_eq(pr.mailboxes, N);
  ck_assert_uint_eq(pr.n_alerts, 1);
  ck_assert_int_eq(pr.alerts[0].error.category, EXS_CAT_CREDENTIALS);
  ck_assert_int_eq(pr.alerts[0].severity, EXS_SEV_ERROR);
  ck_assert_ptr_nonnull(strstr(pr.alerts[0].error.message, "30 mailboxes of the run"));
  ck_assert_ptr_null(strstr(pr.alerts[0].error.message, "wrong"));

  /* the right password: the check passes, every mailbox is tried, no failed logon */
  emu_journal_clear(emu);
  snprintf(profile.password, sizeof(profile.password), "svc-pw");
  validate(&profile);
  for(i = 0; i < N; i++) {
    mailbox(&m[i], i % 2 ? "alice@contoso.com" : "bob@contoso.com");
    m[i].outgoing = EXS_OUT_NONE;
    m[i].act = EXS_ACT_NONE;
  }
  ck_assert_int_eq(exs_testenable_batch(&org, &profile, 1, m, N, &bo, r), 0);
  ck_assert_uint_eq(failed_logons(), 0);
  ck_assert_uint_eq(pr.n_alerts, 0);
  free(m);
  free(r);
}

START_TEST(wrong_password_basic_presented_once)
{
  wrong_password_run(EXS_AUTH_BASIC);
}
END_TEST

START_TEST(wrong_password_ntlm_presented_once)
{
  wrong_password_run(EXS_AUTH_NTLM);
}
END_TEST

/* A location that fails (nothing listening) fails every mailbox of it with
 * one connection attempt, and one profile alert; the mailboxes are
 * scheduled for retry (transient). */
START_TEST(failed_location_fails_dependents_without_requests)
{
  enum { N = 12 };
  struct exs_mailbox m[N];
  struct exs_te_result r[N];
  struct exs_te_profile_result pr;
  struct exs_te_batch_options bo;
  int i;

  snprintf(profile.incoming_url, sizeof(profile.incoming_url),
           "http://127.0.0.1:1/EWS/Exchange.asmx");
  profile.outgoing_url[0] = '\0';
  validate(&profile);
  for(i = 0; i < N; i++)
    mailbox(&m[i], "alice@contoso.com");
  memset(&bo, 0, sizeof(bo));
  bo.te = opt;
  bo.profile_results = &pr;
  ck_assert_int_eq(exs_testenable_batch(&org, &profile, 1, m, N, &bo, r), 1);
  for(i = 0; i < N; i++) {
    ck_assert_int_eq(r[i].error[EXS_WL_INCOMING].category, EXS_CAT_CONNECT);
    ck_assert(r[i].error[EXS_WL_INCOMING].transient);
    ck_assert(r[i].retry_scheduled);
  }
  ck_assert_uint_eq(pr.n_alerts, 1);
  ck_assert_int_eq(pr.alerts[0].severity, EXS_SEV_WARNING);
  ck_assert_uint_eq(emu_journal_count(emu), 0);
}
END_TEST

/* A success closes the last error (docs/test-enable.md, Errors). */
START_TEST(success_clears_the_last_error)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  mailbox(&m, "alice@contoso.com");
  snprintf(profile.password, sizeof(profile.password), "wrong");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_str_eq(m.last_error_code, "CREDENTIALS");
  ck_assert(m.last_error[0] && m.last_error_time > 0);
  snprintf(profile.password, sizeof(profile.password), "svc-pw");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  ck_assert_str_eq(m.last_error_code, "");
  ck_assert_str_eq(m.last_error, "");
  ck_assert_int_eq(m.last_error_count, 0);
  ck_assert(m.last_error_time == 0);
}
END_TEST

/* Windows integrated authentication refused: the message speaks of the
 * identity exsync runs as, not of the profile's credentials. */
START_TEST(windows_integrated_failure_names_the_running_identity)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  const struct exs_error *e;

  profile.retrieval = EXS_RETRIEVAL_WINDOWS;
  profile.user[0] = profile.password[0] = '\0';
  validate(&profile);
  mailbox(&m, "alice@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  e = &r.error[EXS_WL_INCOMING];
  ck_assert_msg(strstr(e->message, "running identity") != NULL, "%s: %s",
                exs_category_name(e->category), e->message);
  ck_assert_ptr_null(strstr(e->message, "profile's credentials"));
  ck_assert_ptr_null(strstr(e->hint, "password of the email server profile"));
}
END_TEST

int main(void)
{
  Suite *s = suite_create("verdicts");
  TCase *tc = tcase_create("emulator");

  tcase_add_checked_fixture(tc, world_up, world_down);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, broken_outgoing_location_fails_outgoing_only);
  tcase_add_test(tc, separate_outgoing_credentials);
  tcase_add_test(tc, wrong_password_basic_presented_once);
  tcase_add_test(tc, wrong_password_ntlm_presented_once);
  tcase_add_test(tc, failed_location_fails_dependents_without_requests);
  tcase_add_test(tc, success_clears_the_last_error);
  tcase_add_test(tc, windows_integrated_failure_names_the_running_identity);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
