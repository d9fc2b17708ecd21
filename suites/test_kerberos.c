/* test_kerberos.c - Windows integrated and Negotiate against a real MIT KDC:
 * the emulator accepts Kerberos with its keytab, exsync gets tickets with
 * the profile's credentials (or the running identity from a client keytab)
 * into a private cache, and each Kerberos failure is named by its cause.
 * The lockout rule is checked where the directory counts it: the KDC's
 * log of failed pre-authentications. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "exsync-emulator/emulator.h"
#include "exsync/clock.h"
#include "exsync/kerberos.h"
#include "exsync/testenable.h"
#include "krbtest.h"
#include "testutil.h"

#define ORG_ID "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10"

static struct krbtest *kdc;     /* one realm for the suite (made in the parent) */
static const char *http_keytab; /* HTTP/mail.contoso.com and HTTP/stale.contoso.com */
static const char *svc_keytab;  /* the service account's client keytab */

static struct emu *emu;
static int port;
static char connect_to[2][128];
static const char *ct[2];
static struct exs_org org;
static struct exs_profile profile;
static struct exs_te_options opt;
static struct exs_transport transport; /* the run's settings */
static char trace_text[65536];
static size_t trace_len;

static void trace(void *ctx, enum exs_trace_kind kind, const char *data, size_t len)
{
  (void)ctx;
  (void)kind;
  if(trace_len + len + 1 < sizeof(trace_text)) {
    memcpy(trace_text + trace_len, data, len);
    trace_len += len;
    trace_text[trace_len++] = '\n';
    trace_text[trace_len] = '\0';
  }
}

static void realm_up(void)
{
  char err[1024];

  kdc = krbtest_start("CONTOSO.COM", "contoso.com", err, sizeof(err));
  if(!kdc) {
    fprintf(stderr, "test KDC: %s\n", err);
    exit(1);
  }
  if(krbtest_add_user(kdc, "svc-crm", "svc-pw") || krbtest_add_user(kdc, "alice", "alice-pw")) {
    fprintf(stderr, "test KDC: cannot add users\n");
    exit(1);
  }
  http_keytab = krbtest_add_service(kdc, "HTTP/mail.contoso.com");
  if(!http_keytab) {
    fprintf(stderr, "test KDC: cannot make the service keytab\n");
    exit(1);
  }
  {
    /* a second server in the same keytab, whose key the directory will change */
    char q[700];
    snprintf(q, sizeof(q), "ktadd -k %s HTTP/stale.contoso.com", http_keytab);
    if(krbtest_kadmin(kdc, "addprinc -randkey HTTP/stale.contoso.com", err, sizeof(err)) ||
       krbtest_kadmin(kdc, q, err, sizeof(err))) {
      fprintf(stderr, "test KDC: %s\n", err);
      exit(1);
    }
  }
  svc_keytab = krbtest_keytab(kdc, "svc-crm", "svc-crm.keytab");
  if(!svc_keytab) {
    fprintf(stderr, "test KDC: cannot make the client keytab\n");
    exit(1);
  }
}

static void realm_down(void)
{
  krbtest_stop(kdc);
  kdc = NULL;
}

/* The contoso world from scenario (the keytab given by the API when the
 * scenario does not name one). */
static void world_up_with(const char *scenario, bool scenario_has_keytab)
{
  char err[512], bound[64];

  exs_krb_reset();
  emu = emu_new();
  ck_assert_ptr_nonnull(emu);
  ck_assert_msg(emu_load_scenario(emu, scenario, err, sizeof(err)) == 0, "%s", err);
  if(!scenario_has_keytab)
    ck_assert_msg(emu_set_keytab(emu, http_keytab, err, sizeof(err)) == 0, "%s", err);
  port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  ck_assert_msg(emu_start(emu, err, sizeof(err)) == 0, "%s", err);
  snprintf(connect_to[0], sizeof(connect_to[0]), "mail.contoso.com:%d:127.0.0.1:%d", port, port);
  snprintf(connect_to[1], sizeof(connect_to[1]), "stale.contoso.com:%d:127.0.0.1:%d", port, port);
  ct[0] = connect_to[0];
  ct[1] = connect_to[1];

  exs_org_defaults(&org);
  snprintf(org.id, sizeof(org.id), "%s", ORG_ID);
  org.allow_non_ssl = true;
  org.allow_credentials_non_secure = true;

  exs_profile_defaults(&profile);
  snprintf(profile.name, sizeof(profile.name), "Exchange");
  snprintf(profile.incoming_url, sizeof(profile.incoming_url),
           "http://mail.contoso.com:%d/EWS/Exchange.asmx", port);
  profile.retrieval = EXS_RETRIEVAL_PROFILE;
  profile.impersonation = true;
  profile.protocol = EXS_AUTH_NEGOTIATE;
  snprintf(profile.user, sizeof(profile.user), "CONTOSO\\svc-crm");
  snprintf(profile.password, sizeof(profile.password), "svc-pw");
  profile.max_connections = 3;

  memset(&opt, 0, sizeof(opt));
  memset(&transport, 0, sizeof(transport));
  transport.connect_to = ct;
  transport.n_connect_to = 2;
  transport.trace = trace;
  opt.transport = &transport;
  opt.delivery_timeout_ms = 5000;
  opt.retry_interval_s = 1;
  trace_len = 0;
  trace_text[0] = '\0';
}

static void world_up(void)
{
  world_up_with(tu_path("fixtures/scenarios/contoso.xml"), false);
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
  m->incoming = EXS_IN_SSYNC;
  m->outgoing = EXS_OUT_SSYNC;
  m->act = EXS_ACT_SSYNC;
  m->approval = EXS_APPROVAL_APPROVED;
}

/* Journal entries authenticated with scheme, and all authenticated ones. */
static size_t journal_schemes(const char *scheme, size_t *authenticated)
{
  size_t n = emu_journal_count(emu), hits = 0, auth = 0;
  struct emu_journal_entry *e = calloc(n ? n : 1, sizeof(*e));

  n = emu_journal_get(emu, 0, e, n);
  for(size_t i = 0; i < n; i++) {
    if(e[i].auth_user[0])
      auth++;
    if(!strcmp(e[i].auth_scheme, scheme))
      hits++;
  }
  free(e);
  if(authenticated)
    *authenticated = auth;
  return hits;
}

static void assert_all(const struct exs_te_result *r, int status)
{
  for(int w = 0; w < EXS_WL_COUNT; w++) {
    if(r->status[w] != status)
      fprintf(stderr, "%s %s: %s %s\n", r->address, exs_workload_name((enum exs_workload)w),
              exs_category_name(r->error[w].category), r->error[w].message);
    ck_assert_int_eq(r->status[w], status);
  }
}

START_TEST(profile_credentials_over_kerberos)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  size_t auth = 0;

  mailbox(&m, "alice@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  assert_all(&r, EXS_STATUS_SUCCESS);
  /* every authenticated request went through Kerberos, none through NTLM */
  ck_assert_uint_gt(journal_schemes("negotiate-kerberos", &auth), 0);
  ck_assert_uint_eq(journal_schemes("negotiate-kerberos", NULL), auth);
  /* the step says which scheme, the trace shows the exchange without secrets */
  ck_assert_ptr_nonnull(strstr(trace_text, "ticket-granting ticket for svc-crm@CONTOSO.COM"));
  ck_assert_ptr_nonnull(strstr(trace_text, "service ticket for HTTP/mail.contoso.com"));
  ck_assert_ptr_null(strstr(trace_text, "svc-pw"));
  {
    bool said = false;
    for(size_t i = 0; i < r.n_steps; i++)
      if(strstr(r.steps[i].detail, "Kerberos"))
        said = true;
    ck_assert_msg(said, "no step names Kerberos");
  }
}
END_TEST

START_TEST(autodetect_prefers_kerberos)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  profile.protocol = EXS_AUTH_AUTODETECT;
  mailbox(&m, "bob@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  assert_all(&r, EXS_STATUS_SUCCESS);
  ck_assert_uint_gt(journal_schemes("negotiate-kerberos", NULL), 0);
  ck_assert_uint_eq(journal_schemes("ntlm", NULL), 0);
}
END_TEST

START_TEST(windows_integrated_with_client_keytab)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  setenv("KRB5_CLIENT_KTNAME", svc_keytab, 1);
  setenv("KRB5CCNAME", "MEMORY:exsync-test-none", 1); /* never the caller's cache */
  profile.retrieval = EXS_RETRIEVAL_WINDOWS;
  profile.user[0] = profile.password[0] = '\0';
  mailbox(&m, "carol@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  assert_all(&r, EXS_STATUS_SUCCESS);
  ck_assert_ptr_nonnull(strstr(trace_text, "running identity svc-crm@CONTOSO.COM"));
  ck_assert_uint_gt(journal_schemes("negotiate-kerberos", NULL), 0);
}
END_TEST

START_TEST(windows_integrated_without_identity)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  setenv("KRB5_CLIENT_KTNAME", "FILE:/nonexistent/exsync.keytab", 1);
  setenv("KRB5CCNAME", "MEMORY:exsync-test-empty", 1);
  profile.retrieval = EXS_RETRIEVAL_WINDOWS;
  profile.user[0] = profile.password[0] = '\0';
  mailbox(&m, "carol@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(r.status[EXS_WL_INCOMING], EXS_STATUS_FAILURE);
  ck_assert_int_eq(r.error[EXS_WL_INCOMING].category, EXS_CAT_CREDENTIALS);
  ck_assert_ptr_nonnull(strstr(r.error[EXS_WL_INCOMING].message, "running identity"));
  ck_assert_uint_eq(emu_journal_count(emu), 0); /* nothing sent */
}
END_TEST

START_TEST(wrong_password_is_presented_once)
{
  struct exs_mailbox m[10];
  struct exs_te_result *r = calloc(10, sizeof(*r));
  struct exs_te_batch_options bo;
  static const char *const names[] = {"alice", "bob",   "carol", "erin", "frank",
                                      "grace", "henry", "ivan",  "judy", "alice"};
  int before = krbtest_log_count(kdc, "PREAUTH_FAILED");

  snprintf(profile.password, sizeof(profile.password), "not-the-password");
  for(int i = 0; i < 10; i++) {
    char a[64];
    snprintf(a, sizeof(a), "%s%s@contoso.com", names[i], i == 9 ? "2" : "");
    mailbox(&m[i], a);
  }
  memset(&bo, 0, sizeof(bo));
  bo.te = opt;
  exs_testenable_batch(&org, &profile, 1, m, 10, &bo, r);
  for(int i = 0; i < 10; i++) {
    ck_assert_int_eq(r[i].status[EXS_WL_INCOMING], EXS_STATUS_FAILURE);
    ck_assert_int_eq(r[i].error[EXS_WL_INCOMING].category, EXS_CAT_CREDENTIALS);
    ck_assert_ptr_nonnull(strstr(r[i].error[EXS_WL_INCOMING].message, "pre-authentication"));
  }
  /* what Active Directory would count toward the lockout threshold */
  ck_assert_int_le(krbtest_log_count(kdc, "PREAUTH_FAILED") - before, 2);
  ck_assert_int_ge(krbtest_log_count(kdc, "PREAUTH_FAILED") - before, 1);
  free(r);
}
END_TEST

START_TEST(unknown_spn_is_named)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  static char ct3[128];
  static const char *cts[1];

  snprintf(profile.incoming_url, sizeof(profile.incoming_url),
           "http://ews.contoso.com:%d/EWS/Exchange.asmx", port);
  snprintf(ct3, sizeof(ct3), "ews.contoso.com:%d:127.0.0.1:%d", port, port);
  cts[0] = ct3;
  transport.connect_to = cts;
  transport.n_connect_to = 1;
  mailbox(&m, "alice@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(r.error[EXS_WL_INCOMING].category, EXS_CAT_KERBEROS);
  ck_assert_ptr_nonnull(strstr(r.error[EXS_WL_INCOMING].message, "HTTP/ews.contoso.com"));
  ck_assert_ptr_nonnull(strstr(r.error[EXS_WL_INCOMING].hint, "setspn -S HTTP/ews.contoso.com"));
  ck_assert_uint_eq(emu_journal_count(emu), 0);
}
END_TEST

START_TEST(clock_skew_is_named)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  exs_clock_freeze(time(NULL) + 3600); /* this machine an hour ahead */
  mailbox(&m, "alice@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  exs_clock_freeze(0);
  ck_assert_int_eq(r.error[EXS_WL_INCOMING].category, EXS_CAT_KERBEROS);
  ck_assert_ptr_nonnull(strstr(r.error[EXS_WL_INCOMING].message, "clock skew"));
  ck_assert_ptr_nonnull(strstr(r.error[EXS_WL_INCOMING].message, "ahead of"));
}
END_TEST

START_TEST(kdc_down_is_named)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  char path[600], text[600];
  FILE *f;

  /* a realm whose KDC port has nobody behind it */
  snprintf(path, sizeof(path), "%s/down.conf", krbtest_dir(kdc));
  f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  snprintf(text, sizeof(text),
           "[libdefaults]\n default_realm = CONTOSO.COM\n dns_lookup_kdc = false\n"
           " rdns = false\n dns_canonicalize_hostname = false\n udp_preference_limit = 1\n"
           "[realms]\n CONTOSO.COM = {\n  kdc = 127.0.0.1:9\n }\n"
           "[domain_realm]\n .contoso.com = CONTOSO.COM\n");
  fputs(text, f);
  fclose(f);
  setenv("KRB5_CONFIG", path, 1);
  mailbox(&m, "alice@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(r.error[EXS_WL_INCOMING].category, EXS_CAT_KERBEROS);
  ck_assert(r.error[EXS_WL_INCOMING].transient);
  ck_assert_ptr_nonnull(strstr(r.error[EXS_WL_INCOMING].message, "cannot reach the KDC"));
  ck_assert_ptr_nonnull(strstr(r.error[EXS_WL_INCOMING].message, "127.0.0.1:9"));
}
END_TEST

START_TEST(rejected_service_ticket_is_named)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  char err[512];

  /* the directory has a newer key than the server's keytab (a reset
   * account, or the SPN moved to another account) */
  ck_assert_int_eq(krbtest_kadmin(kdc, "cpw -randkey HTTP/stale.contoso.com", err, sizeof(err)), 0);
  snprintf(profile.incoming_url, sizeof(profile.incoming_url),
           "http://stale.contoso.com:%d/EWS/Exchange.asmx", port);
  mailbox(&m, "alice@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(r.error[EXS_WL_INCOMING].category, EXS_CAT_KERBEROS);
  ck_assert_ptr_nonnull(strstr(r.error[EXS_WL_INCOMING].message, "rejected"));
  ck_assert_ptr_nonnull(strstr(r.error[EXS_WL_INCOMING].message, "HTTP/stale.contoso.com"));
  ck_assert_int_eq(r.error[EXS_WL_INCOMING].http_status, 401);
}
END_TEST

START_TEST(scenario_keytab_attribute)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  char err[512], path[600], *text, *at, *out;
  size_t len;
  FILE *f;

  /* the same world, its keytab named by the scenario file instead */
  text = tu_read_file(tu_path("fixtures/scenarios/contoso.xml"), &len);
  at = strstr(text, "<scenario ");
  ck_assert_ptr_nonnull(at);
  out = malloc(len + 1200);
  snprintf(out, len + 1200, "%.*s<scenario keytab=\"%s\" %s", (int)(at - text), text, http_keytab,
           at + strlen("<scenario "));
  snprintf(path, sizeof(path), "%s/world.xml", krbtest_dir(kdc));
  f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(out, f);
  fclose(f);
  free(out);
  free(text);
  emu_stop(emu);
  emu_free(emu);
  world_up_with(path, true);
  mailbox(&m, "alice@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  ck_assert_uint_gt(journal_schemes("negotiate-kerberos", NULL), 0);
  (void)err;
}
END_TEST

START_TEST(autodetect_never_guesses_a_kdc)
{
  char path[600];
  FILE *f;

  /* the test realm maps contoso.com: Kerberos for its own users only */
  ck_assert(exs_krb_configured("CONTOSO\\svc-crm", "mail.contoso.com"));
  ck_assert(exs_krb_configured("svc-crm@CONTOSO.COM", "mail.contoso.com"));
  ck_assert(!exs_krb_configured("svc-crm@FABRIKAM.COM", "mail.contoso.com"));
  ck_assert(!exs_krb_configured("CONTOSO\\svc-crm", "mail.fabrikam.com"));
  /* a stock krb5.conf (a default realm with KDCs, no mapping for the
   * Exchange host) must not send auto-detect to that realm's KDCs */
  snprintf(path, sizeof(path), "%s/stock.conf", krbtest_dir(kdc));
  f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs("[libdefaults]\n default_realm = ATHENA.MIT.EDU\n"
        "[realms]\n ATHENA.MIT.EDU = {\n  kdc = kerberos.mit.edu\n }\n"
        "[domain_realm]\n .mit.edu = ATHENA.MIT.EDU\n",
        f);
  fclose(f);
  setenv("KRB5_CONFIG", path, 1);
  ck_assert(!exs_krb_configured("alice", "mail.contoso.com"));
  ck_assert(!exs_krb_configured("CONTOSO\\alice", "mail.contoso.com"));
}
END_TEST

START_TEST(ntlm_inside_negotiate_still_accepted)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  /* NTLM asked for explicitly: the Negotiate host still takes it */
  profile.protocol = EXS_AUTH_NTLM;
  mailbox(&m, "alice@contoso.com");
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  ck_assert_uint_gt(journal_schemes("ntlm", NULL), 0);
  ck_assert_uint_eq(journal_schemes("negotiate-kerberos", NULL), 0);
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("kerberos");
  TCase *tc = tcase_create("kdc");

  tcase_add_checked_fixture(tc, world_up, world_down);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, profile_credentials_over_kerberos);
  tcase_add_test(tc, autodetect_prefers_kerberos);
  tcase_add_test(tc, windows_integrated_with_client_keytab);
  tcase_add_test(tc, windows_integrated_without_identity);
  tcase_add_test(tc, wrong_password_is_presented_once);
  tcase_add_test(tc, unknown_spn_is_named);
  tcase_add_test(tc, clock_skew_is_named);
  tcase_add_test(tc, kdc_down_is_named);
  tcase_add_test(tc, ntlm_inside_negotiate_still_accepted);
  tcase_add_test(tc, scenario_keytab_attribute);
  tcase_add_test(tc, autodetect_never_guesses_a_kdc);
  tcase_add_test(tc, rejected_service_ticket_is_named);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  int rc;

  realm_up();
  rc = tu_run(suite());
  realm_down();
  return rc;
}
