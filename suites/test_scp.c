/* test_scp.c - Autodiscover through Active Directory service connection
 * points: a throwaway slapd with AD's SCP names (ldaptest.c) and the
 * in-process emulator. The SCP URLs come before the DNS-based candidates,
 * this site's entries first; a missing SCP, a dead SCP URL or a directory
 * that does not answer leave the DNS-based search as it was. Every
 * DNS-based candidate is pointed at a closed loopback port, so nothing
 * leaves the machine. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exsync-emulator/emulator.h"
#include "exsync/autodiscover.h"
#include "exsync/testenable.h"
#include "ldaptest.h"
#include "testutil.h"

#define BASE "DC=contoso,DC=com"
#define SCP_KW "keywords: 77378F46-2C66-4aa9-A6A6-3E7A48B19596\n"

static struct emu *emu;
static int port;
static char mapping[6][128];
static const char *ct[6];
static struct ldaptest *dir;
static char ca_file[64];

static int no_srv(void *ctx, const char *name, struct exs_srv_record *out, size_t max, size_t *n)
{
  (void)ctx;
  (void)name;
  (void)out;
  (void)max;
  *n = 0;
  return 0;
}

static void world_up(void)
{
  char err[512], bound[64];
  static const char *const dead[] = {"contoso.com:443", "autodiscover.contoso.com:443",
                                     "autodiscover.contoso.com:80"};

  emu = emu_new();
  ck_assert_ptr_nonnull(emu);
  ck_assert_msg(
      emu_load_scenario(emu, tu_path("fixtures/scenarios/contoso.xml"), err, sizeof(err)) == 0,
      "%s", err);
  /* SCP URLs are https, as Autodiscover requires: a TLS listener and the
   * emulator's generated CA */
  port = emu_listen(emu, "127.0.0.1", 0, true, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  ck_assert_msg(emu_start(emu, err, sizeof(err)) == 0, "%s", err);
  snprintf(ca_file, sizeof(ca_file), "/tmp/exsync-scp-ca-XXXXXX");
  {
    int fd = mkstemp(ca_file);
    ck_assert_int_ge(fd, 0);
    close(fd);
  }
  ck_assert_msg(emu_write_ca(emu, ca_file, err, sizeof(err)) == 0, "%s", err);
  snprintf(mapping[0], sizeof(mapping[0]), "mail.contoso.com:%d:127.0.0.1:%d", port, port);
  snprintf(mapping[1], sizeof(mapping[1]), "dead.contoso.com:%d:127.0.0.1:9", port);
  for(int i = 0; i < 3; i++)
    snprintf(mapping[2 + i], sizeof(mapping[0]), "%s:127.0.0.1:9", dead[i]);
  for(int i = 0; i < 5; i++)
    ct[i] = mapping[i];
  dir = NULL;
}

static void world_down(void)
{
  ldaptest_stop(dir);
  unlink(ca_file);
  emu_stop(emu);
  emu_free(emu);
}

static void directory(const char *entries)
{
  char err[512];

  dir = ldaptest_start(BASE, entries, err, sizeof(err));
  ck_assert_msg(dir != NULL, "%s", err);
}

/* An SCP entry pointing at host (mail or dead) on the emulator's port. */
static void scp_entry(char *buf, size_t len, const char *cn, const char *site, const char *host)
{
  size_t used = strlen(buf);

  snprintf(buf + used, len - used,
           "dn: CN=%s,CN=Configuration," BASE
           "\nobjectClass: serviceConnectionPoint\ncn: %s\n" SCP_KW "%s%s%s"
           "serviceBindingInformation: https://%s.contoso.com:%d/autodiscover/autodiscover.xml\n\n",
           cn, cn, site ? "keywords: Site=" : "", site ? site : "", site ? "\n" : "", host, port);
}

static int run(const char *uri, const char *site, struct exs_autodiscover_result *res)
{
  struct exs_autodiscover_options ao;
  struct exs_scp_options scp;
  struct exs_transport t = {0};
  struct exs_autodiscover *ad;
  struct exs_error err;
  int rc;

  memset(&ao, 0, sizeof(ao));
  memset(&scp, 0, sizeof(scp));
  scp.uri = uri;
  scp.site = site;
  ao.scp = &scp;
  ao.srv = no_srv;
  t.cacert = ca_file;
  t.connect_to = ct;
  t.n_connect_to = 5;
  exs_http_options_init(&ao.http, &t);
  exs_http_options_set_credentials(&ao.http, "alice", "alice-pw");
  ao.http.auth = EXS_AUTH_BASIC;
  ad = exs_autodiscover_new(&ao);
  ck_assert_ptr_nonnull(ad);
  exs_error_clear(&err);
  rc = exs_autodiscover_run(ad, "alice@contoso.com", res, &err);
  exs_autodiscover_free(ad);
  return rc;
}

START_TEST(scp_found_first)
{
  struct exs_autodiscover_result res;
  char ldif[2048] = "", want[256];

  scp_entry(ldif, sizeof(ldif), "EX01", NULL, "mail");
  directory(ldif);
  ck_assert_int_eq(run(ldaptest_uri(dir), NULL, &res), 0);
  ck_assert_uint_ge(res.n_steps, 2);
  ck_assert_int_eq(res.steps[0].method, EXS_AD_SCP);
  ck_assert_int_eq(res.steps[0].outcome, EXS_AD_SUCCESS);
  ck_assert_ptr_nonnull(strstr(res.steps[0].got, "1 SCP entry under CN=Configuration"));
  snprintf(want, sizeof(want), "https://mail.contoso.com:%d/autodiscover/autodiscover.xml", port);
  ck_assert_str_eq(res.steps[1].url, want);
  ck_assert_str_eq(res.endpoint, want);
  ck_assert_ptr_nonnull(strstr(res.ews_url, "/EWS/Exchange.asmx"));
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(this_site_first)
{
  struct exs_autodiscover_result res;
  char ldif[4096] = "";

  /* the directory lists the branch office's server first */
  scp_entry(ldif, sizeof(ldif), "EX-BRANCH", "Branch", "dead");
  scp_entry(ldif, sizeof(ldif), "EX-HQ", "HQ", "mail");
  directory(ldif);
  ck_assert_int_eq(run(ldaptest_uri(dir), "HQ", &res), 0);
  ck_assert_ptr_nonnull(strstr(res.steps[1].url, "mail.contoso.com"));
  for(size_t i = 0; i < res.n_steps; i++)
    ck_assert_ptr_null(strstr(res.steps[i].url, "dead.contoso.com"));
  exs_autodiscover_result_free(&res);
  /* from the branch, its own (dead) server is tried first, then HQ's */
  ck_assert_int_eq(run(ldaptest_uri(dir), "Branch", &res), 0);
  ck_assert_ptr_nonnull(strstr(res.steps[1].url, "dead.contoso.com"));
  ck_assert_int_eq(res.steps[1].outcome, EXS_AD_ERROR);
  ck_assert_ptr_nonnull(strstr(res.steps[2].url, "mail.contoso.com"));
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(no_scp_falls_back_to_dns)
{
  struct exs_autodiscover_result res;

  directory(NULL);
  ck_assert_int_ne(run(ldaptest_uri(dir), NULL, &res), 0);
  ck_assert_int_eq(res.steps[0].method, EXS_AD_SCP);
  ck_assert_int_eq(res.steps[0].outcome, EXS_AD_ERROR);
  ck_assert_ptr_nonnull(strstr(res.steps[0].got, "0 SCP entries"));
  ck_assert_str_eq(res.steps[1].url, "https://contoso.com/autodiscover/autodiscover.xml");
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(dead_scp_url_then_dns)
{
  struct exs_autodiscover_result res;
  char ldif[2048] = "";

  scp_entry(ldif, sizeof(ldif), "EX-OLD", NULL, "dead");
  directory(ldif);
  ck_assert_int_ne(run(ldaptest_uri(dir), NULL, &res), 0);
  ck_assert_int_eq(res.steps[0].outcome, EXS_AD_SUCCESS);
  ck_assert_ptr_nonnull(strstr(res.steps[1].url, "dead.contoso.com"));
  ck_assert_int_eq(res.steps[1].outcome, EXS_AD_ERROR);
  ck_assert_str_eq(res.steps[2].url, "https://contoso.com/autodiscover/autodiscover.xml");
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(directory_down_is_a_warning)
{
  struct exs_autodiscover_result res;

  ck_assert_int_ne(run("ldap://127.0.0.1:9", NULL, &res), 0);
  ck_assert_int_eq(res.steps[0].method, EXS_AD_SCP);
  ck_assert_int_eq(res.steps[0].outcome, EXS_AD_WARNING);
  ck_assert_ptr_nonnull(strstr(res.steps[0].got, "ldap://127.0.0.1:9"));
  ck_assert_str_eq(res.steps[1].url, "https://contoso.com/autodiscover/autodiscover.xml");
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(test_enable_uses_the_orgs_directory)
{
  struct exs_org org;
  struct exs_profile profile;
  struct exs_mailbox m;
  struct exs_te_options opt;
  struct exs_transport t = {0};
  struct exs_te_result r;
  char ldif[2048] = "";
  bool said = false;

  scp_entry(ldif, sizeof(ldif), "EX01", "HQ", "mail");
  directory(ldif);
  exs_org_defaults(&org);
  snprintf(org.id, sizeof(org.id), "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10");
  snprintf(org.ldap, sizeof(org.ldap), "%s", ldaptest_uri(dir));
  snprintf(org.ldap_site, sizeof(org.ldap_site), "HQ");
  exs_profile_defaults(&profile);
  snprintf(profile.name, sizeof(profile.name), "Exchange");
  profile.autodiscover = true;
  profile.retrieval = EXS_RETRIEVAL_PROFILE;
  profile.impersonation = true;
  profile.protocol = EXS_AUTH_BASIC;
  snprintf(profile.user, sizeof(profile.user), "CONTOSO\\svc-crm");
  snprintf(profile.password, sizeof(profile.password), "svc-pw");
  {
    struct exs_invalid inv;
    ck_assert_int_eq(exs_profile_validate(&profile, &inv), 0);
  }
  exs_mailbox_defaults(&m);
  snprintf(m.address, sizeof(m.address), "alice@contoso.com");
  snprintf(m.profile, sizeof(m.profile), "Exchange");
  m.incoming = EXS_IN_SSYNC;
  m.outgoing = EXS_OUT_NONE;
  m.act = EXS_ACT_NONE;
  m.approval = EXS_APPROVAL_APPROVED;
  memset(&opt, 0, sizeof(opt));
  t.cacert = ca_file;
  t.connect_to = ct;
  t.n_connect_to = 5;
  opt.transport = &t;
  opt.srv = no_srv;
  ck_assert_int_eq(exs_testenable_mailbox(&org, &profile, &m, &opt, &r), 0);
  ck_assert_int_eq(r.status[EXS_WL_INCOMING], EXS_STATUS_SUCCESS);
  ck_assert_ptr_nonnull(strstr(m.ews_url, "https://mail.contoso.com"));
  for(size_t i = 0; i < r.n_steps; i++)
    if(!strcmp(r.steps[i].name, "location") && strstr(r.steps[i].detail, "mail.contoso.com"))
      said = true;
  ck_assert(said);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("scp");
  TCase *tc = tcase_create("slapd");

  tcase_add_checked_fixture(tc, world_up, world_down);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, scp_found_first);
  tcase_add_test(tc, this_site_first);
  tcase_add_test(tc, no_scp_falls_back_to_dns);
  tcase_add_test(tc, dead_scp_url_then_dns);
  tcase_add_test(tc, directory_down_is_a_warning);
  tcase_add_test(tc, test_enable_uses_the_orgs_directory);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
