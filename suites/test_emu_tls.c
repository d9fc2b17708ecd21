/* test_emu_tls.c - HTTPS listeners with a given certificate (PEM files):
 * EWS over TLS verified by the client against that certificate, plain and
 * TLS listeners side by side, a name mismatch refused by the client,
 * emu_write_ca, and clear errors for missing files. The certificate is made
 * here with OpenSSL (no external tools, no network).
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu_client.h"

static char dir[64], cert_path[128], key_path[128];

/* Self-signed P-256 certificate for names (a SAN list), valid from
 * now+from_s to now+to_s seconds. */
static void make_cert_for(const char *cert_file, const char *key_file, const char *cn,
                          const char *names, long from_s, long to_s)
{
  EVP_PKEY *pk = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  X509_NAME *n;
  X509V3_CTX v3;
  X509_EXTENSION *ext;
  FILE *f;

  ck_assert_ptr_nonnull(pk);
  ck_assert_ptr_nonnull(x);
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
  X509_gmtime_adj(X509_getm_notBefore(x), from_s);
  X509_gmtime_adj(X509_getm_notAfter(x), to_s);
  X509_set_pubkey(x, pk);
  n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, n);
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
  ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, names);
  ck_assert_ptr_nonnull(ext);
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  ck_assert_int_gt(X509_sign(x, pk, EVP_sha256()), 0);
  f = fopen(cert_file, "w");
  ck_assert_ptr_nonnull(f);
  PEM_write_X509(f, x);
  fclose(f);
  f = fopen(key_file, "w");
  ck_assert_ptr_nonnull(f);
  PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
  fclose(f);
  X509_free(x);
  EVP_PKEY_free(pk);
}

static void make_cert(void)
{
  make_cert_for(cert_path, key_path, "mail.contoso.com",
                "DNS:mail.contoso.com,DNS:autodiscover.contoso.com", -3600, 86400);
}

static struct emu *emu;
static int tls_port, plain_port;

static void setup(void)
{
  char err[512], bound[64];

  snprintf(dir, sizeof(dir), "/tmp/exsync-tls-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
  snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
  make_cert();
  emu = emu_new();
  ck_assert_msg(
      emu_load_scenario(emu, tu_path("fixtures/scenarios/contoso.xml"), err, sizeof(err)) == 0,
      "%s", err);
  ck_assert_msg(emu_set_certificate(emu, cert_path, key_path, err, sizeof(err)) == 0, "%s", err);
  ec_strict(emu);
  ck_assert_int_eq(emu_start(emu, err, sizeof(err)), 0);
  /* listeners added while the loop runs */
  tls_port = emu_listen(emu, "127.0.0.1", 0, true, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(tls_port > 0, "%s", err);
  plain_port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(plain_port > 0, "%s", err);
}

static void teardown(void)
{
  char p[160];

  emu_free(emu);
  emu = NULL;
  unlink(cert_path);
  unlink(key_path);
  snprintf(p, sizeof(p), "%s/ca.pem", dir);
  unlink(p);
  rmdir(dir);
}

static char curl_error[CURL_ERROR_SIZE];

static CURLcode https_getfolder(const char *name, const char *cafile, struct ec_resp *r)
{
  CURL *c = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/xml; charset=utf-8");
  struct curl_slist *res = NULL;
  char u[256], map[256], err[256];
  CURLcode rc;

  memset(r, 0, sizeof(*r));
  exs_buf_init(&r->body, 1 << 20);
  exs_buf_init(&r->headers, 1 << 20);
  snprintf(map, sizeof(map), "%s:%d:127.0.0.1", name, tls_port);
  res = curl_slist_append(res, map);
  snprintf(u, sizeof(u), "https://%s:%d/EWS/Exchange.asmx", name, tls_port);
  curl_easy_setopt(c, CURLOPT_URL, u);
  curl_easy_setopt(c, CURLOPT_RESOLVE, res);
  curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
  curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_USERPWD, "CONTOSO\\svc-crm:svc-pw");
  curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                   ec_soap("Exchange2016", "alice@contoso.com",
                           "<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape>"
                           "</m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
                           "</m:FolderIds></m:GetFolder>"));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ec_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_error[0] = '\0';
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_error);
  rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  curl_slist_free_all(h);
  curl_slist_free_all(res);
  curl_easy_cleanup(c);
  if(rc == CURLE_OK && r->body.len)
    r->doc = exs_xml_parse(r->body.data, r->body.len, "answer", err, sizeof(err));
  return rc;
}

START_TEST(ews_over_tls_verifies_against_the_certificate)
{
  struct ec_resp r;

  ck_assert_int_eq(https_getfolder("mail.contoso.com", cert_path, &r), CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  ec_validate(&r);
  ec_free(&r);
  /* several requests on fresh connections */
  for(int i = 0; i < 3; i++) {
    ck_assert_int_eq(https_getfolder("autodiscover.contoso.com", cert_path, &r), CURLE_OK);
    ck_assert_int_eq(r.status, 404); /* that host serves no EWS, but TLS worked */
    ec_free(&r);
  }
}
END_TEST

START_TEST(wrong_name_is_refused_by_the_client)
{
  struct ec_resp r;
  CURLcode rc = https_getfolder("mail.fabrikam.com", cert_path, &r);

  ck_assert_int_eq(rc, CURLE_PEER_FAILED_VERIFICATION);
  ec_free(&r);
}
END_TEST

START_TEST(plain_listener_still_serves)
{
  struct ec_resp r;
  char u[128];

  snprintf(u, sizeof(u), "http://127.0.0.1:%d/EWS/Exchange.asmx", plain_port);
  ec_post(u, "alice:alice-pw",
          ec_soap("Exchange2016", NULL,
                  "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
                  "<m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds>"
                  "</m:GetFolder>"),
          &r);
  ck_assert_int_eq(r.status, 200);
  ec_validate(&r);
  ec_free(&r);
}
END_TEST

START_TEST(write_ca_gives_a_trust_anchor)
{
  char p[160], err[256];
  struct ec_resp r;

  snprintf(p, sizeof(p), "%s/ca.pem", dir);
  ck_assert_int_eq(emu_write_ca(emu, p, err, sizeof(err)), 0);
  ck_assert_int_eq(https_getfolder("mail.contoso.com", p, &r), CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  ec_free(&r);
}
END_TEST

/* Per-host certificates by SNI: an expired one and one for another name. */
START_TEST(host_certificates_by_sni)
{
  char c1[160], k1[160], c2[160], k2[160], err[256];
  struct ec_resp r;

  snprintf(c1, sizeof(c1), "%s/expired.pem", dir);
  snprintf(k1, sizeof(k1), "%s/expired.key", dir);
  snprintf(c2, sizeof(c2), "%s/other.pem", dir);
  snprintf(k2, sizeof(k2), "%s/other.key", dir);
  make_cert_for(c1, k1, "expired.contoso.com", "DNS:expired.contoso.com", -86400 * 10, -86400);
  make_cert_for(c2, k2, "elsewhere.example", "DNS:elsewhere.example", -3600, 86400);
  ck_assert_int_eq(emu_set_host_certificate(emu, "expired.contoso.com", c1, k1, err, sizeof(err)),
                   0);
  ck_assert_int_eq(emu_set_host_certificate(emu, "wrongname.contoso.com", c2, k2, err, sizeof(err)),
                   0);
  ck_assert_int_eq(
      emu_set_host_certificate(emu, "x.contoso.com", c2, "/nonexistent", err, sizeof(err)), -1);

  ck_assert_int_eq(https_getfolder("expired.contoso.com", c1, &r), CURLE_PEER_FAILED_VERIFICATION);
  ck_assert_msg(strstr(curl_error, "expired") != NULL, "%s", curl_error);
  ec_free(&r);
  ck_assert_int_eq(https_getfolder("wrongname.contoso.com", c2, &r),
                   CURLE_PEER_FAILED_VERIFICATION);
  ck_assert_msg(strstr(curl_error, "wrongname.contoso.com") != NULL ||
                    strstr(curl_error, "name") != NULL,
                "%s", curl_error);
  ec_free(&r);
  /* the default certificate still serves the other names */
  ck_assert_int_eq(https_getfolder("mail.contoso.com", cert_path, &r), CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  ec_free(&r);
  unlink(c1);
  unlink(k1);
  unlink(c2);
  unlink(k2);
}
END_TEST

START_TEST(missing_certificate_files_are_errors)
{
  struct emu *e2 = emu_new();
  char err[256] = "", bound[64];

  ck_assert_int_eq(emu_set_certificate(e2, "/nonexistent/cert.pem", key_path, err, sizeof(err)),
                   -1);
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/cert.pem"));
  /* a key that does not match: refused at listen */
  ck_assert_int_eq(emu_set_certificate(e2, cert_path, cert_path, err, sizeof(err)), 0);
  ck_assert_int_eq(emu_listen(e2, "127.0.0.1", 0, true, bound, sizeof(bound), err, sizeof(err)),
                   -1);
  ck_assert_ptr_nonnull(strstr(err, "cannot load certificate"));
  emu_free(e2);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("emu_tls");
  TCase *tc = tcase_create("tls");

  /* No fork per test unless asked (CK_FORK=yes): forking a sanitizer build
   * with the EWS schema loaded costs seconds per test. Every test starts its
   * own emulator in a checked fixture, so tests stay independent. */
  setenv("CK_FORK", "no", 0);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ec_load_schema();
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, ews_over_tls_verifies_against_the_certificate);
  tcase_add_test(tc, wrong_name_is_refused_by_the_client);
  tcase_add_test(tc, plain_listener_still_serves);
  tcase_add_test(tc, write_ca_gives_a_trust_anchor);
  tcase_add_test(tc, host_certificates_by_sni);
  tcase_add_test(tc, missing_certificate_files_are_errors);
  suite_add_tcase(s, tc);
  {
    int rc = tu_run(s);
    exs_schema_free(ec_ews_schema);
    curl_global_cleanup();
    return rc;
  }
}
