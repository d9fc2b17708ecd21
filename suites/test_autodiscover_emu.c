/* test_autodiscover_emu.c - Autodiscover against the in-process emulator:
 * HTTPS with a throwaway CA, --connect-to style host mapping (so the port
 * 443/80 candidates reach the emulator), Basic credentials, virtual hosts
 * chosen by Host header. One scenario per case, written to a temp dir.
 * DNS SRV is overridden (no external network). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exsync/autodiscover.h"
#include "exsync/testenable.h"
#include "exsync-emulator/emulator.h"
#include "testutil.h"
#include "exsync-emulator/tlscert.h"

/* The emulator frees its evhttp listeners and then the event base without
 * letting the loop run once more, so a TLS connection the client closed just
 * before emu_free keeps its deferred bufferevent_openssl (evbuffers, SSL)
 * unfreed: an emulator shutdown leak, timing-dependent. Suppress exactly
 * those allocation sites here until emulator/server.c runs
 * event_base_loop(base, EVLOOP_NONBLOCK) between evhttp_free and
 * event_base_free. */
#if defined(__SANITIZE_ADDRESS__)
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
  return "leak:libssl.so\nleak:libcrypto.so\nleak:libevent\n";
}
#endif

static char dir[64];
static char ca_file[128], cert_file[128];

static void pki_setup(void)
{
  static const char *const names[] = {"contoso.com", "autodiscover.contoso.com", "mail.contoso.com",
                                      "fabrikam.com", "autodiscover.fabrikam.com"};
  struct emu_tls_ca *ca;
  struct emu_tls_leaf *leaf;
  struct exs_buf pem;
  FILE *f;
  int rc;

  snprintf(dir, sizeof(dir), "/tmp/exsync-ad-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", dir);
  snprintf(cert_file, sizeof(cert_file), "%s/server.pem", dir);
  ca = emu_tls_ca_new(NULL, &rc);
  ck_assert_ptr_nonnull(ca);
  leaf = emu_tls_leaf_new(ca, EMU_TLS_LEAF_VALID, names, 5, &rc);
  ck_assert_ptr_nonnull(leaf);
  ck_assert_int_eq(emu_tls_ca_write_pem(ca, ca_file), 0);
  exs_buf_init(&pem, 1 << 16);
  ck_assert_int_eq(emu_tls_leaf_pem(leaf, &pem), 0);
  f = fopen(cert_file, "w");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(pem.data, 1, pem.len, f), pem.len);
  fclose(f);
  exs_buf_free(&pem);
  emu_tls_leaf_free(leaf);
  emu_tls_ca_free(ca);
}

static void pki_teardown(void)
{
  char p[160];

  unlink(ca_file);
  unlink(cert_file);
  snprintf(p, sizeof(p), "%s/scenario.xml", dir);
  unlink(p);
  rmdir(dir);
}

static int no_srv(void *ctx, const char *name, struct exs_srv_record *out, size_t max, size_t *n)
{
  (void)ctx;
  (void)name;
  (void)out;
  (void)max;
  *n = 0;
  return 0;
}

struct world {
  struct emu *emu;
  int tls_port, http_port;
  char connect_to[8][128];
  const char *connect_ptrs[8];
  size_t n_connect;
  struct exs_transport transport; /* the run's settings: CA, every name to the emulator */
  struct exs_autodiscover *ad;
};

#define USERS                                                                                      \
  "<user login='alice' password='alice-pw' domain='CONTOSO' mailbox='alice@contoso.com'/>"         \
  "<mailbox address='alice@contoso.com' display-name='Alice' owner='alice'/>"                      \
  "<user login='bob' password='bob-pw' domain='FABRIKAM' mailbox='bob@fabrikam.com'/>"             \
  "<mailbox address='bob@fabrikam.com' display-name='Bob' owner='bob'/>"

static void world_start(struct world *w, const char *hosts)
{
  char path[160], err[512], bound[64];
  static const char *const names[] = {"contoso.com", "autodiscover.contoso.com", "mail.contoso.com",
                                      "fabrikam.com", "autodiscover.fabrikam.com"};
  struct exs_autodiscover_options o;
  FILE *f;
  size_t i, n = 0;

  memset(w, 0, sizeof(*w));
  snprintf(path, sizeof(path), "%s/scenario.xml", dir);
  f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f, "<scenario xmlns='urn:exsync:scenario:1' name='ad'>%s" USERS "</scenario>\n", hosts);
  fclose(f);
  w->emu = emu_new();
  ck_assert_ptr_nonnull(w->emu);
  /* certificate first: emu_set_certificate frees the remembered scenario path
   * without clearing it (emulator/server.c), a double free at emu_free when a
   * scenario was loaded before */
  ck_assert_msg(emu_set_certificate(w->emu, cert_file, cert_file, err, sizeof(err)) == 0, "%s",
                err);
  ck_assert_msg(emu_load_scenario(w->emu, path, err, sizeof(err)) == 0, "%s", err);
  w->tls_port = emu_listen(w->emu, "127.0.0.1", 0, true, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(w->tls_port > 0, "%s", err);
  w->http_port = emu_listen(w->emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(w->http_port > 0, "%s", err);
  ck_assert_int_eq(emu_start(w->emu, err, sizeof(err)), 0);
  for(i = 0; i < 5; i++) {
    snprintf(w->connect_to[n], sizeof(w->connect_to[0]), "%s:443:127.0.0.1:%d", names[i],
             w->tls_port);
    w->connect_ptrs[n] = w->connect_to[n];
    n++;
  }
  /* the plain-HTTP probes: never a real DNS lookup */
  for(i = 0; i < 2; i++) {
    snprintf(w->connect_to[n], sizeof(w->connect_to[0]), "autodiscover.%s:80:127.0.0.1:%d",
             i ? "fabrikam.com" : "contoso.com", w->http_port);
    w->connect_ptrs[n] = w->connect_to[n];
    n++;
  }
  w->n_connect = n;
  w->transport.cacert = ca_file;
  w->transport.connect_to = w->connect_ptrs;
  w->transport.n_connect_to = n;
  memset(&o, 0, sizeof(o));
  exs_http_options_init(&o.http, &w->transport);
  exs_http_options_set_credentials(&o.http, "alice", "alice-pw");
  o.http.auth = EXS_AUTH_BASIC;
  o.candidate_connect_timeout_ms = 2000;
  o.candidate_timeout_ms = 10000;
  o.srv = no_srv;
  w->ad = exs_autodiscover_new(&o);
  ck_assert_ptr_nonnull(w->ad);
}

static void world_stop(struct world *w)
{
  exs_autodiscover_free(w->ad);
  emu_free(w->emu);
}

/* Requests the emulator journal holds for host. */
static size_t requests_to(struct world *w, const char *host)
{
  struct emu_journal_entry je[64];
  size_t n = emu_journal_get(w->emu, 0, je, 64), i, k = 0;

  ck_assert_uint_lt(n, 64);
  for(i = 0; i < n; i++)
    if(!strcmp(je[i].host, host))
      k++;
  return k;
}

#define MORE_USERS                                                                                 \
  "<user login='carol' password='carol-pw' domain='CONTOSO' mailbox='carol@contoso.com'/>"         \
  "<mailbox address='carol@contoso.com' display-name='Carol' owner='carol'/>"                      \
  "<user login='dave' password='dave-pw' domain='CONTOSO' mailbox='dave@contoso.com'/>"            \
  "<mailbox address='dave@contoso.com' display-name='Dave' owner='dave'/>"                         \
  "<user login='erin' password='erin-pw' domain='CONTOSO' mailbox='erin@contoso.com'/>"            \
  "<mailbox address='erin@contoso.com' display-name='Erin' owner='erin'/>"

/* Test & Enable of N mailboxes of one domain, on parallel workers: the
 * domain is searched once (the root domain candidate, which has no
 * Autodiscover, is asked once, not N times); every mailbox then asks the
 * endpoint that answered. The answers of each mailbox are its own. */
START_TEST(batch_discovers_a_domain_once)
{
  static const char *const addresses[] = {"alice@contoso.com", "carol@contoso.com",
                                          "dave@contoso.com", "erin@contoso.com"};
  enum { N = sizeof(addresses) / sizeof(addresses[0]) };
  struct world w;
  struct exs_org org;
  struct exs_profile profile;
  struct exs_mailbox m[N];
  struct exs_te_result r[N];
  struct exs_te_batch_options bo;
  size_t i, lone;

  /* one search alone, to know what a search asks the root domain */
  world_start(&w, "<host name='contoso.com' pox='no' soap='no'/>"
                  "<host name='autodiscover.contoso.com' "
                  "ews-url='https://mail.contoso.com/EWS/Exchange.asmx'/>"
                  "<host name='mail.contoso.com'/>" MORE_USERS);
  {
    struct exs_autodiscover_result res;
    struct exs_error err;
    exs_error_clear(&err);
    ck_assert_msg(exs_autodiscover_run(w.ad, "alice@contoso.com", &res, &err) == 0, "%s",
                  err.message);
    exs_autodiscover_result_free(&res);
  }
  lone = requests_to(&w, "contoso.com");
  ck_assert_uint_ge(lone, 1);
  emu_journal_clear(w.emu);

  exs_org_defaults(&org);
  snprintf(org.id, sizeof(org.id), "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10");
  exs_profile_defaults(&profile);
  snprintf(profile.name, sizeof(profile.name), "Exchange");
  profile.autodiscover = true;
  profile.retrieval = EXS_RETRIEVAL_PROFILE;
  profile.impersonation = true;
  profile.protocol = EXS_AUTH_BASIC;
  profile.max_connections = 3;
  snprintf(profile.user, sizeof(profile.user), "alice");
  snprintf(profile.password, sizeof(profile.password), "alice-pw");
  for(i = 0; i < N; i++) {
    exs_mailbox_defaults(&m[i]);
    snprintf(m[i].address, sizeof(m[i].address), "%s", addresses[i]);
    snprintf(m[i].profile, sizeof(m[i].profile), "Exchange");
    m[i].incoming = EXS_IN_SSYNC;
    m[i].outgoing = EXS_OUT_NONE;
    m[i].act = EXS_ACT_NONE;
    m[i].approval = EXS_APPROVAL_APPROVED;
  }
  memset(&bo, 0, sizeof(bo));
  bo.te.transport = &w.transport;
  bo.te.srv = no_srv;
  ck_assert_int_ge(exs_testenable_batch(&org, &profile, 1, m, N, &bo, r), 0);
  for(i = 0; i < N; i++) {
    ck_assert_str_eq(m[i].ews_url, "https://mail.contoso.com/EWS/Exchange.asmx");
    ck_assert_int_eq(r[i].steps[2].status, EXS_STEP_OK); /* location */
  }
  ck_assert_uint_eq(requests_to(&w, "contoso.com"), lone);
  ck_assert_uint_eq(requests_to(&w, "autodiscover.contoso.com"), N);
  world_stop(&w);
}
END_TEST

START_TEST(emu_root_domain_pox)
{
  struct world w;
  struct exs_autodiscover_result res;
  struct exs_error err;
  struct emu_journal_entry je[8];
  size_t n;

  world_start(&w,
              "<host name='contoso.com' ews-url='https://mail.contoso.com/EWS/Exchange.asmx'/>");
  exs_error_clear(&err);
  ck_assert_msg(exs_autodiscover_run(w.ad, "alice@contoso.com", &res, &err) == 0, "%s",
                err.message);
  ck_assert_str_eq(res.ews_url, "https://mail.contoso.com/EWS/Exchange.asmx");
  ck_assert_str_eq(res.endpoint, "https://contoso.com/autodiscover/autodiscover.xml");
  ck_assert_int_eq(res.method, EXS_AD_POX);
  n = emu_journal_get(w.emu, 0, je, 8);
  ck_assert_uint_eq(n, 1);
  ck_assert_str_eq(je[0].host, "contoso.com");
  ck_assert_str_eq(je[0].auth_user, "alice");
  ck_assert_str_eq(je[0].mailbox, "alice@contoso.com");
  exs_autodiscover_result_free(&res);
  world_stop(&w);
}
END_TEST

START_TEST(emu_autodiscover_prefix_soap)
{
  struct world w;
  struct exs_autodiscover_result res;
  struct exs_error err;

  world_start(&w, "<host name='contoso.com' pox='no' soap='no'/>"
                  "<host name='autodiscover.contoso.com' pox='no' "
                  "ews-url='https://mail.contoso.com/EWS/Exchange.asmx'/>");
  exs_error_clear(&err);
  ck_assert_msg(exs_autodiscover_run(w.ad, "alice@contoso.com", &res, &err) == 0, "%s",
                err.message);
  ck_assert_str_eq(res.endpoint, "https://autodiscover.contoso.com/autodiscover/autodiscover.svc");
  ck_assert_int_eq(res.method, EXS_AD_SOAP);
  ck_assert_str_eq(res.ews_url, "https://mail.contoso.com/EWS/Exchange.asmx");
  ck_assert_uint_eq(res.n_steps, 4);
  ck_assert_int_eq(res.steps[0].http_status, 404);
  exs_autodiscover_result_free(&res);
  world_stop(&w);
}
END_TEST

START_TEST(emu_http_redirect_probe)
{
  struct world w;
  struct exs_autodiscover_result res;
  struct exs_error err;

  world_start(&w, "<host name='contoso.com' pox='no' soap='no'/>"
                  "<host name='autodiscover.contoso.com' pox='no' soap='no' redirect-status='302' "
                  "redirect-location='https://mail.contoso.com/autodiscover/autodiscover.xml'/>"
                  "<host name='mail.contoso.com'/>");
  exs_error_clear(&err);
  ck_assert_msg(exs_autodiscover_run(w.ad, "alice@contoso.com", &res, &err) == 0, "%s",
                err.message);
  ck_assert_str_eq(res.endpoint, "https://mail.contoso.com/autodiscover/autodiscover.xml");
  ck_assert_str_eq(res.ews_url, "https://mail.contoso.com/EWS/Exchange.asmx");
  ck_assert_int_eq(res.hops, 1);
  ck_assert_int_eq(res.steps[4].method, EXS_AD_REDIRECT);
  ck_assert_int_eq(res.steps[4].http_status, 302);
  exs_autodiscover_result_free(&res);
  world_stop(&w);
}
END_TEST

START_TEST(emu_redirect_addr)
{
  struct world w;
  struct exs_autodiscover_result res;
  struct exs_error err;

  world_start(&w,
              "<host name='contoso.com' autodiscover='redirect-addr' target='bob@fabrikam.com'/>"
              "<host name='fabrikam.com' ews-url='https://mail.contoso.com/EWS/Exchange.asmx'/>");
  exs_error_clear(&err);
  ck_assert_msg(exs_autodiscover_run(w.ad, "alice@contoso.com", &res, &err) == 0, "%s",
                err.message);
  ck_assert_str_eq(res.address, "bob@fabrikam.com");
  ck_assert_str_eq(res.endpoint, "https://fabrikam.com/autodiscover/autodiscover.xml");
  ck_assert_int_eq(res.hops, 1);
  exs_autodiscover_result_free(&res);
  world_stop(&w);
}
END_TEST

START_TEST(emu_redirect_url)
{
  struct world w;
  struct exs_autodiscover_result res;
  struct exs_error err;

  world_start(&w, "<host name='contoso.com' autodiscover='redirect-url' "
                  "target='https://mail.contoso.com/autodiscover/autodiscover.xml'/>"
                  "<host name='mail.contoso.com'/>");
  exs_error_clear(&err);
  ck_assert_msg(exs_autodiscover_run(w.ad, "alice@contoso.com", &res, &err) == 0, "%s",
                err.message);
  ck_assert_str_eq(res.endpoint, "https://mail.contoso.com/autodiscover/autodiscover.xml");
  ck_assert_str_eq(res.address, "alice@contoso.com");
  exs_autodiscover_result_free(&res);
  world_stop(&w);
}
END_TEST

START_TEST(emu_address_loop)
{
  struct world w;
  struct exs_autodiscover_result res;
  struct exs_error err;

  world_start(
      &w, "<host name='contoso.com' autodiscover='redirect-addr' target='bob@fabrikam.com'/>"
          "<host name='fabrikam.com' autodiscover='redirect-addr' target='alice@contoso.com'/>");
  exs_error_clear(&err);
  ck_assert_int_eq(exs_autodiscover_run(w.ad, "alice@contoso.com", &res, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_AUTODISCOVER);
  ck_assert_ptr_nonnull(strstr(err.message, "loop"));
  exs_autodiscover_result_free(&res);
  world_stop(&w);
}
END_TEST

START_TEST(emu_not_found)
{
  struct world w;
  struct exs_autodiscover_result res;
  struct exs_error err;

  world_start(&w, "<host name='contoso.com'/><host name='autodiscover.contoso.com' soap='no'/>");
  exs_error_clear(&err);
  ck_assert_int_eq(exs_autodiscover_run(w.ad, "ghost@contoso.com", &res, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_AUTODISCOVER);
  /* the last Autodiscover answer was autodiscover.contoso.com's POX error 500 ("The e-mail
   * address cannot be found."); its .svc 404 comes later but is not an Autodiscover answer */
  ck_assert_int_eq(err.http_status, 200);
  ck_assert_str_eq(err.ews_code, "500");
  ck_assert_str_eq(err.url, "https://autodiscover.contoso.com/autodiscover/autodiscover.xml");
  ck_assert_ptr_nonnull(strstr(err.message, "cannot be found"));
  if(getenv("EXSYNC_TEST_VERBOSE")) {
    size_t i;
    for(i = 0; i < res.n_steps; i++)
      fprintf(stderr, "%d %-8s %-7s %3ld %s | %s | %s\n", res.steps[i].hop,
              exs_ad_method_name(res.steps[i].method), exs_ad_outcome_name(res.steps[i].outcome),
              res.steps[i].http_status, res.steps[i].url, res.steps[i].got, res.steps[i].why);
    fprintf(stderr, "error: %s http=%ld code=%s url=%s\n", err.message, err.http_status,
            err.ews_code, err.url);
  }
  ck_assert_uint_eq(res.n_steps, 6);
  ck_assert_ptr_nonnull(strstr(res.steps[0].got, "500"));
  exs_autodiscover_result_free(&res);
  world_stop(&w);
}
END_TEST

START_TEST(emu_not_found_error_code)
{
  struct world w;
  struct exs_autodiscover_result res;
  struct exs_error err;

  /* only the root domain answers, with POX then SOAP errors */
  world_start(&w, "<host name='contoso.com' autodiscover='error'/>"
                  "<host name='autodiscover.contoso.com' pox='no' soap='no'/>");
  exs_error_clear(&err);
  ck_assert_int_eq(exs_autodiscover_run(w.ad, "alice@contoso.com", &res, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_AUTODISCOVER);
  ck_assert_ptr_nonnull(strstr(res.steps[0].got, "500"));
  ck_assert_int_eq(res.steps[1].method, EXS_AD_SOAP);
  ck_assert_int_eq(res.steps[1].outcome, EXS_AD_ERROR);
  ck_assert_int_eq(err.http_status, 200);
  ck_assert_str_eq(err.ews_code, "InvalidUser"); /* the SOAP answer came after the POX one */
  exs_autodiscover_result_free(&res);
  world_stop(&w);
}
END_TEST

START_TEST(emu_wrong_password)
{
  struct world w;
  struct exs_autodiscover_result res;
  struct exs_error err;
  struct exs_autodiscover_options o;
  struct exs_autodiscover *ad;

  world_start(&w, "<host name='contoso.com'/><host name='autodiscover.contoso.com'/>");
  memset(&o, 0, sizeof(o));
  exs_http_options_init(&o.http, &w.transport);
  exs_http_options_set_credentials(&o.http, "alice", "wrong");
  o.http.auth = EXS_AUTH_BASIC;
  o.srv = no_srv;
  ad = exs_autodiscover_new(&o);
  exs_error_clear(&err);
  ck_assert_int_eq(exs_autodiscover_run(ad, "alice@contoso.com", &res, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_AUTODISCOVER);
  ck_assert_int_eq(err.http_status, 401); /* the probe's 401 is not an answer: the POSTs' are */
  ck_assert_ptr_null(strstr(err.message, "wrong"));
  exs_autodiscover_result_free(&res);
  exs_autodiscover_free(ad);
  world_stop(&w);
}
END_TEST

/* No credentials at all: the 401s say credentials are missing, not refused. */
START_TEST(emu_no_credentials)
{
  struct world w;
  struct exs_autodiscover_result res;
  struct exs_error err;
  struct exs_autodiscover_options o;
  struct exs_autodiscover *ad;

  world_start(&w, "<host name='contoso.com'/><host name='autodiscover.contoso.com'/>");
  memset(&o, 0, sizeof(o));
  exs_http_options_init(&o.http, &w.transport);
  o.srv = no_srv;
  ad = exs_autodiscover_new(&o);
  exs_error_clear(&err);
  ck_assert_int_eq(exs_autodiscover_run(ad, "alice@contoso.com", &res, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_AUTODISCOVER);
  ck_assert_int_eq(err.http_status, 401);
  ck_assert_msg(strstr(err.message, "none were given") != NULL, "%s", err.message);
  ck_assert_ptr_nonnull(strstr(err.hint, "--user"));
  exs_autodiscover_result_free(&res);
  exs_autodiscover_free(ad);
  world_stop(&w);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("autodiscover_emu");
  TCase *tc = tcase_create("emulator");

  tcase_set_timeout(tc, 120);
  tcase_add_unchecked_fixture(tc, pki_setup, pki_teardown);
  tcase_add_test(tc, emu_root_domain_pox);
  tcase_add_test(tc, batch_discovers_a_domain_once);
  tcase_add_test(tc, emu_autodiscover_prefix_soap);
  tcase_add_test(tc, emu_http_redirect_probe);
  tcase_add_test(tc, emu_redirect_addr);
  tcase_add_test(tc, emu_redirect_url);
  tcase_add_test(tc, emu_address_loop);
  tcase_add_test(tc, emu_not_found);
  tcase_add_test(tc, emu_not_found_error_code);
  tcase_add_test(tc, emu_wrong_password);
  tcase_add_test(tc, emu_no_credentials);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
