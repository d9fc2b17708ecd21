/* test_testenable_tls.c - Test & Enable over HTTPS against the emulator's
 * generated CA: the TLS categories (TLS_TRUST, TLS_NAME, TLS_EXPIRED), a
 * CA the client does not trust, NTLM under auto-detect, and a successful
 * Autodiscover that stores the EWS URL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exsync-emulator/emulator.h"
#include "exsync/testenable.h"
#include "testutil.h"

static struct emu *emu;
static int port;
static char ca_path[64];
static char map[6][128];
static const char *maps[6];
static struct exs_org org;
static struct exs_profile profile;
static struct exs_te_options opt;
static struct exs_transport transport; /* the run's settings */

static int no_srv(void *ctx, const char *name, struct exs_srv_record *out, size_t max, size_t *n)
{
  (void)ctx;
  (void)name;
  (void)out;
  (void)max;
  *n = 0;
  return 0;
}

static void setup(void)
{
  static const char *const hosts[] = {"mail",      "autodiscover", "expired",
                                      "wrongname", "untrusted",    ""};
  char err[512], bound[64];
  int fd, i;

  emu = emu_new();
  ck_assert_msg(emu_load_scenario(emu, tu_path("fixtures/scenarios/tls.xml"), err, sizeof(err)) ==
                    0,
                "%s", err);
  port = emu_listen(emu, "127.0.0.1", 0, true, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  snprintf(ca_path, sizeof(ca_path), "/tmp/exsync-ca-XXXXXX");
  fd = mkstemp(ca_path);
  close(fd);
  ck_assert_msg(emu_write_ca(emu, ca_path, err, sizeof(err)) == 0, "%s", err);
  ck_assert_msg(emu_start(emu, err, sizeof(err)) == 0, "%s", err);
  /* every tailspin.com name on port 443 goes to the emulator */
  for(i = 0; i < 6; i++) {
    snprintf(map[i], sizeof(map[i]), "%s%stailspin.com:443:127.0.0.1:%d", hosts[i],
             hosts[i][0] ? "." : "", port);
    maps[i] = map[i];
  }
  exs_org_defaults(&org);
  snprintf(org.id, sizeof(org.id), "0c3e1f7a-2b4d-4e6f-8a9b-1c2d3e4f5a6b");
  exs_profile_defaults(&profile);
  snprintf(profile.name, sizeof(profile.name), "Tailspin");
  snprintf(profile.incoming_url, sizeof(profile.incoming_url),
           "https://mail.tailspin.com/EWS/Exchange.asmx");
  profile.retrieval = EXS_RETRIEVAL_PROFILE;
  profile.impersonation = true;
  profile.protocol = EXS_AUTH_AUTODETECT; /* NTLM: the strongest the server offers here */
  snprintf(profile.user, sizeof(profile.user), "TAILSPIN\\svc");
  snprintf(profile.password, sizeof(profile.password), "svc-pw");
  memset(&opt, 0, sizeof(opt));
  memset(&transport, 0, sizeof(transport));
  transport.cacert = ca_path;
  transport.connect_to = maps;
  transport.n_connect_to = 6;
  opt.transport = &transport;
  opt.srv = no_srv;
  opt.delivery_timeout_ms = 5000;
}

static void teardown(void)
{
  emu_stop(emu);
  emu_free(emu);
  unlink(ca_path);
}

static void nina(struct exs_mailbox *m)
{
  exs_mailbox_defaults(m);
  snprintf(m->address, sizeof(m->address), "nina@tailspin.com");
  snprintf(m->name, sizeof(m->name), "Nina");
  snprintf(m->profile, sizeof(m->profile), "Tailspin");
  m->incoming = EXS_IN_SSYNC;
  m->outgoing = EXS_OUT_SSYNC;
  m->act = EXS_ACT_SSYNC;
  m->approval = EXS_APPROVAL_APPROVED;
}

START_TEST(https_with_ntlm_enables_everything)
{
  struct exs_mailbox m;
  struct exs_te_result r;
  struct emu_journal_entry e;

  nina(&m);
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  ck_assert(m.enabled[0] && m.enabled[1] && m.enabled[2]);
  ck_assert_uint_ge(emu_journal_count(emu), 1);
  emu_journal_get(emu, emu_journal_count(emu) - 1, &e, 1);
  ck_assert_str_eq(e.auth_user, "svc"); /* authenticated by NTLM */
  ck_assert_str_eq(e.impersonated, "nina@tailspin.com");
}
END_TEST

static const struct {
  const char *host;
  enum exs_category cat;
} broken[] = {
    {"expired.tailspin.com", EXS_CAT_TLS_EXPIRED},
    {"wrongname.tailspin.com", EXS_CAT_TLS_NAME},
    {"untrusted.tailspin.com", EXS_CAT_TLS_TRUST},
};

START_TEST(broken_certificates_are_permanent_tls_failures)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  snprintf(profile.incoming_url, sizeof(profile.incoming_url), "https://%s/EWS/Exchange.asmx",
           broken[_i].host);
  nina(&m);
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(r.status[EXS_WL_INCOMING], EXS_STATUS_FAILURE);
  ck_assert_int_eq(r.status[EXS_WL_ACT], EXS_STATUS_FAILURE);
  ck_assert_msg(r.alerts[0].error.category == broken[_i].cat, "%s: got %s (%s)", broken[_i].host,
                exs_category_name(r.alerts[0].error.category), r.alerts[0].error.message);
  ck_assert(!r.alerts[0].error.transient);
  ck_assert_int_eq(r.alerts[0].severity, EXS_SEV_ERROR);
  ck_assert_uint_eq(emu_journal_count(emu), 0); /* no request got through */
  /* the failure names what the certificate says and the CA bundle used */
  ck_assert_ptr_nonnull(strstr(r.alerts[0].error.message, "subject "));
  ck_assert_ptr_nonnull(strstr(r.alerts[0].error.message, "issuer "));
  ck_assert_ptr_nonnull(strstr(r.alerts[0].error.message, "SAN "));
  ck_assert_ptr_nonnull(strstr(r.alerts[0].error.message, " valid "));
  ck_assert_ptr_nonnull(broken[_i].cat == EXS_CAT_TLS_EXPIRED
                            ? strstr(r.alerts[0].error.message, " ago)")
                            : strstr(r.alerts[0].error.message, " left)"));
  ck_assert_ptr_nonnull(strstr(r.alerts[0].error.message, "CA bundle "));
}
END_TEST

START_TEST(untrusted_ca_without_cacert)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  transport.cacert = NULL; /* the system store does not know the emulator's CA */
  nina(&m);
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 1);
  ck_assert_int_eq(r.alerts[0].error.category, EXS_CAT_TLS_TRUST);
}
END_TEST

START_TEST(autodiscover_finds_ews_and_stores_it)
{
  struct exs_mailbox m;
  struct exs_te_result r;

  profile.autodiscover = true;
  profile.incoming_url[0] = profile.outgoing_url[0] = '\0';
  nina(&m);
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  ck_assert_str_eq(m.ews_url, "https://mail.tailspin.com/EWS/Exchange.asmx");
  ck_assert(m.autodiscovered_on > 0);
  ck_assert_str_eq(r.steps[2].name, "location");
  ck_assert_ptr_nonnull(strstr(r.steps[2].detail, "Autodiscover: https://mail.tailspin.com"));
}
END_TEST

/* Many tests of one credential share its connections: with NTLM every new
 * connection costs 401 handshakes, so the journal counts them. */
START_TEST(batch_reuses_connections_per_credential)
{
  enum { N = 20 };
  struct exs_mailbox m[N];
  struct exs_te_result *r = calloc(N, sizeof(*r));
  struct exs_te_batch_options bo;
  struct emu_journal_entry *e;
  size_t n, i, challenges = 0;

  profile.max_connections = 2;
  for(i = 0; i < N; i++) {
    nina(&m[i]);
    m[i].outgoing = EXS_OUT_NONE;
    m[i].act = EXS_ACT_NONE;
  }
  memset(&bo, 0, sizeof(bo));
  bo.te = opt;
  ck_assert_int_eq(exs_testenable_batch(&org, &profile, 1, m, N, &bo, r), 0);
  n = emu_journal_count(emu);
  e = calloc(n, sizeof(*e));
  n = emu_journal_get(emu, 0, e, n);
  for(i = 0; i < n; i++)
    if(e[i].status == 401)
      challenges++;
  /* two connections at most, each authenticated once (a probe and an NTLM
   * challenge): not two handshakes per mailbox. Each mailbox makes two
   * requests (one GetFolder of its root and Inbox, one FindItem). */
  ck_assert_uint_ge(n, 2 * N);
  ck_assert_msg(challenges <= 4, "%zu NTLM handshakes answered for %d mailboxes", challenges, N);
  ck_assert_int_le(emu_journal_max_in_flight(emu, "svc"), 2);
  free(e);
  free(r);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("testenable_tls");
  TCase *tc = tcase_create("https");

  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, https_with_ntlm_enables_everything);
  tcase_add_loop_test(tc, broken_certificates_are_permanent_tls_failures, 0,
                      sizeof(broken) / sizeof(broken[0]));
  tcase_add_test(tc, untrusted_ca_without_cacert);
  tcase_add_test(tc, autodiscover_finds_ews_and_stores_it);
  tcase_add_test(tc, batch_reuses_connections_per_credential);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
