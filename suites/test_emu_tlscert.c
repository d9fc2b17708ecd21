/* test_emu_tlscert.c - the emulator's throwaway PKI: chain verification of
 * each leaf variant, host name checks, CA PEM round trip, in-memory TLS
 * handshakes with SNI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "exsync-emulator/tlscert.h"
#include "testutil.h"

static const char *const names[] = {"mail.contoso.com", "autodiscover.contoso.com"};

static struct emu_tls_ca *ca;

static void setup(void)
{
  int r = -1;

  ca = emu_tls_ca_new(NULL, &r);
  ck_assert_ptr_nonnull(ca);
  ck_assert_int_eq(r, EMU_TLS_OK);
}

static void teardown(void)
{
  emu_tls_ca_free(ca);
  ca = NULL;
}

/* X509_verify_cert of cert against a store trusting only trusted; host set
 * when not NULL. Returns the verification error (X509_V_OK on success). */
static int verify(X509 *trusted, X509 *cert, const char *host)
{
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  int ok, err;

  ck_assert_ptr_nonnull(store);
  ck_assert_ptr_nonnull(ctx);
  ck_assert_int_eq(X509_STORE_add_cert(store, trusted), 1);
  ck_assert_int_eq(X509_STORE_CTX_init(ctx, store, cert, NULL), 1);
  if(host)
    ck_assert_int_eq(X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), host, 0), 1);
  ok = X509_verify_cert(ctx);
  err = X509_STORE_CTX_get_error(ctx);
  ck_assert_int_eq(ok == 1, err == X509_V_OK);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return err;
}

/* The CA is self-signed, CA:TRUE, keyCertSign, and verifies against itself. */
START_TEST(ca_is_a_ca)
{
  X509 *c = emu_tls_ca_cert(ca);

  ck_assert_int_eq(X509_check_ca(c), 1);
  ck_assert(X509_get_key_usage(c) & KU_KEY_CERT_SIGN);
  ck_assert_int_eq(X509_check_issued(c, c), X509_V_OK);
  ck_assert_int_eq(verify(c, c, NULL), X509_V_OK);
}
END_TEST

static const struct {
  enum emu_tls_leaf_kind kind;
  int chain_error; /* X509_verify_cert against the CA, no host */
  int host_ok;     /* X509_check_host(mail.contoso.com) and 127.0.0.1 */
} leaf_cases[] = {
    {EMU_TLS_LEAF_VALID, X509_V_OK, 1},
    {EMU_TLS_LEAF_EXPIRED, X509_V_ERR_CERT_HAS_EXPIRED, 1},
    {EMU_TLS_LEAF_WRONG_NAME, X509_V_OK, 0},
    {EMU_TLS_LEAF_UNTRUSTED, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 1},
};

/* Each variant fails (or passes) exactly the check it is made for. */
START_TEST(leaf_variants_verify_as_designed)
{
  int r = -1;
  struct emu_tls_leaf *leaf = emu_tls_leaf_new(ca, leaf_cases[_i].kind, names, 2, &r);
  X509 *cert;

  ck_assert_ptr_nonnull(leaf);
  ck_assert_int_eq(r, EMU_TLS_OK);
  cert = emu_tls_leaf_cert(leaf);
  ck_assert_int_eq(verify(emu_tls_ca_cert(ca), cert, NULL), leaf_cases[_i].chain_error);
  ck_assert_int_eq(X509_check_host(cert, "mail.contoso.com", 0, 0, NULL) == 1,
                   leaf_cases[_i].host_ok);
  ck_assert_int_eq(X509_check_host(cert, "autodiscover.contoso.com", 0, 0, NULL) == 1,
                   leaf_cases[_i].host_ok);
  ck_assert_int_eq(X509_check_ip_asc(cert, "127.0.0.1", 0) == 1, leaf_cases[_i].host_ok);
  ck_assert_int_ne(X509_check_host(cert, "evil.example", 0, 0, NULL), 1);
  ck_assert_int_eq(X509_check_ca(cert), 0);
  if(leaf_cases[_i].kind == EMU_TLS_LEAF_VALID) {
    ck_assert_int_eq(verify(emu_tls_ca_cert(ca), cert, "mail.contoso.com"), X509_V_OK);
    ck_assert_int_eq(X509_check_private_key(cert, emu_tls_leaf_key(leaf)), 1);
    ck_assert_int_eq(X509_cmp(emu_tls_leaf_issuer(leaf), emu_tls_ca_cert(ca)), 0);
  }
  if(leaf_cases[_i].kind == EMU_TLS_LEAF_WRONG_NAME) {
    ck_assert_int_eq(verify(emu_tls_ca_cert(ca), cert, "mail.contoso.com"),
                     X509_V_ERR_HOSTNAME_MISMATCH);
    ck_assert_int_eq(X509_check_host(cert, EMU_TLS_WRONG_NAME, 0, 0, NULL), 1);
  }
  if(leaf_cases[_i].kind == EMU_TLS_LEAF_UNTRUSTED) {
    /* its private CA does vouch for it: only the trust is missing */
    ck_assert_int_eq(verify(emu_tls_leaf_issuer(leaf), cert, NULL), X509_V_OK);
    ck_assert_int_ne(X509_cmp(emu_tls_leaf_issuer(leaf), emu_tls_ca_cert(ca)), 0);
  }
  emu_tls_leaf_free(leaf);
}
END_TEST

START_TEST(leaf_bad_arguments)
{
  int r = 0;
  static const char *const bad[] = {"mail.contoso.com,DNS:evil.example"};
  static const char *const empty[] = {""};

  ck_assert_ptr_null(emu_tls_leaf_new(ca, EMU_TLS_LEAF_VALID, names, 0, &r));
  ck_assert_int_eq(r, EMU_TLS_ERR_ARG);
  ck_assert_ptr_null(emu_tls_leaf_new(NULL, EMU_TLS_LEAF_VALID, names, 1, &r));
  ck_assert_ptr_null(emu_tls_leaf_new(ca, EMU_TLS_LEAF_VALID, bad, 1, &r));
  ck_assert_ptr_null(emu_tls_leaf_new(ca, EMU_TLS_LEAF_VALID, empty, 1, &r));
  ck_assert_ptr_null(emu_tls_leaf_new(ca, (enum emu_tls_leaf_kind)42, names, 1, &r));
  ck_assert_int_eq(r, EMU_TLS_ERR_ARG);
  emu_tls_ca_free(NULL);
  emu_tls_leaf_free(NULL);
  emu_tls_sni_free(NULL);
  ck_assert_str_eq(emu_tls_strerror(EMU_TLS_ERR_IO), "file could not be read or written");
}
END_TEST

/* The CA written as PEM reads back as the same certificate and makes a
 * valid leaf verify; the private key is not in the file. */
START_TEST(ca_pem_round_trip)
{
  char path[] = "/tmp/exsync-ca-XXXXXX";
  int fd = mkstemp(path);
  FILE *f;
  X509 *back;
  char *text;
  struct emu_tls_leaf *leaf = emu_tls_leaf_new(ca, EMU_TLS_LEAF_VALID, names, 1, NULL);

  ck_assert_int_ge(fd, 0);
  close(fd);
  ck_assert_int_eq(emu_tls_ca_write_pem(ca, path), EMU_TLS_OK);
  text = tu_read_file(path, NULL);
  ck_assert_ptr_nonnull(strstr(text, "-----BEGIN CERTIFICATE-----"));
  ck_assert_ptr_null(strstr(text, "PRIVATE KEY"));
  free(text);
  f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  back = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  ck_assert_ptr_nonnull(back);
  ck_assert_int_eq(X509_cmp(back, emu_tls_ca_cert(ca)), 0);
  ck_assert_int_eq(verify(back, emu_tls_leaf_cert(leaf), "mail.contoso.com"), X509_V_OK);
  X509_free(back);
  ck_assert_int_eq(unlink(path), 0);
  ck_assert_int_eq(emu_tls_ca_write_pem(ca, "/nonexistent-dir/ca.pem"), EMU_TLS_ERR_IO);
  emu_tls_leaf_free(leaf);
}
END_TEST

/* Leaf PEM (cert + key) loads through emu_tls_server_ctx_from_files. */
START_TEST(server_ctx_from_files)
{
  char path[] = "/tmp/exsync-leaf-XXXXXX";
  int fd = mkstemp(path), r = -1;
  struct emu_tls_leaf *leaf = emu_tls_leaf_new(ca, EMU_TLS_LEAF_VALID, names, 2, NULL);
  struct exs_buf pem;
  SSL_CTX *ctx;

  exs_buf_init(&pem, 64 * 1024);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(emu_tls_leaf_pem(leaf, &pem), EMU_TLS_OK);
  ck_assert_int_eq(write(fd, pem.data, pem.len), (ssize_t)pem.len);
  close(fd);
  ctx = emu_tls_server_ctx_from_files(path, path, &r);
  ck_assert_ptr_nonnull(ctx);
  ck_assert_int_eq(r, EMU_TLS_OK);
  ck_assert_int_eq(X509_cmp(SSL_CTX_get0_certificate(ctx), emu_tls_leaf_cert(leaf)), 0);
  SSL_CTX_free(ctx);
  ck_assert_ptr_null(emu_tls_server_ctx_from_files("/nonexistent", path, &r));
  ck_assert_int_eq(r, EMU_TLS_ERR_IO);
  unlink(path);
  exs_buf_free(&pem);
  emu_tls_leaf_free(leaf);
}
END_TEST

/* ---- in-memory handshakes ---- */

/* Handshake a client (trusting trusted, checking host, sending SNI sni)
 * against a server SSL made from server_ctx, over a BIO pair. Returns 1 on
 * success; the server certificate the client got is returned in *peer
 * (caller frees), and the client's verify result in *vr. */
static int handshake(SSL_CTX *server_ctx, X509 *trusted, const char *host, const char *sni,
                     int client_max_version, X509 **peer, long *vr)
{
  SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
  SSL *c, *s;
  BIO *cb, *sb;
  int cdone = 0, sdone = 0, rounds = 0, ok = 0;

  ck_assert_ptr_nonnull(cctx);
  if(trusted)
    ck_assert_int_eq(X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), trusted), 1);
  SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL); /* inspect the result instead */
  if(client_max_version)
    SSL_CTX_set_max_proto_version(cctx, client_max_version);
  c = SSL_new(cctx);
  s = SSL_new(server_ctx);
  ck_assert_ptr_nonnull(c);
  ck_assert_ptr_nonnull(s);
  if(host)
    ck_assert_int_eq(SSL_set1_host(c, host), 1);
  if(sni)
    ck_assert_int_eq(SSL_set_tlsext_host_name(c, sni), 1);
  ck_assert_int_eq(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
  SSL_set_bio(c, cb, cb);
  SSL_set_bio(s, sb, sb);
  SSL_set_connect_state(c);
  SSL_set_accept_state(s);
  while((!cdone || !sdone) && rounds++ < 100) {
    int rc;

    if(!cdone) {
      rc = SSL_do_handshake(c);
      if(rc == 1)
        cdone = 1;
      else if(SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
        break;
    }
    if(!sdone) {
      rc = SSL_do_handshake(s);
      if(rc == 1)
        sdone = 1;
      else if(SSL_get_error(s, rc) != SSL_ERROR_WANT_READ)
        break;
    }
  }
  ok = cdone && sdone;
  if(peer)
    *peer = ok ? SSL_get1_peer_certificate(c) : NULL;
  if(vr)
    *vr = SSL_get_verify_result(c);
  ERR_clear_error();
  SSL_free(c);
  SSL_free(s);
  SSL_CTX_free(cctx);
  return ok;
}

/* A server context per variant: the client sees verify results matching
 * the variant; TLS below 1.2 is refused. */
START_TEST(server_ctx_handshakes)
{
  struct emu_tls_leaf *leaf = emu_tls_leaf_new(ca, leaf_cases[_i].kind, names, 2, NULL);
  SSL_CTX *sctx = emu_tls_server_ctx(leaf, NULL);
  X509 *peer = NULL;
  long vr = -1, want = leaf_cases[_i].chain_error;

  ck_assert_ptr_nonnull(sctx);
  if(!leaf_cases[_i].host_ok)
    want = X509_V_ERR_HOSTNAME_MISMATCH;
  if(leaf_cases[_i].kind == EMU_TLS_LEAF_UNTRUSTED)
    want = X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN; /* the rogue CA is sent as chain */
  ck_assert_int_eq(
      handshake(sctx, emu_tls_ca_cert(ca), "mail.contoso.com", "mail.contoso.com", 0, &peer, &vr),
      1);
  ck_assert_ptr_nonnull(peer);
  ck_assert_int_eq(X509_cmp(peer, emu_tls_leaf_cert(leaf)), 0);
  ck_assert_msg(vr == want, "verify result %ld (%s), want %ld", vr,
                X509_verify_cert_error_string(vr), want);
  X509_free(peer);
  ck_assert_int_eq(handshake(sctx, emu_tls_ca_cert(ca), NULL, NULL, TLS1_1_VERSION, NULL, NULL), 0);
  SSL_CTX_free(sctx);
  emu_tls_leaf_free(leaf);
}
END_TEST

/* One listener, a certificate per host name chosen by SNI; unknown names
 * and clients without SNI get the listener's own certificate. */
START_TEST(sni_picks_certificate)
{
  static const char *const a_names[] = {"a.contoso.com"}, *const b_names[] = {"b.fabrikam.com"},
                           *const d_names[] = {"default.test"};
  struct emu_tls_leaf *la = emu_tls_leaf_new(ca, EMU_TLS_LEAF_VALID, a_names, 1, NULL);
  struct emu_tls_leaf *lb = emu_tls_leaf_new(ca, EMU_TLS_LEAF_EXPIRED, b_names, 1, NULL);
  struct emu_tls_leaf *ld = emu_tls_leaf_new(ca, EMU_TLS_LEAF_VALID, d_names, 1, NULL);
  SSL_CTX *ca_ = emu_tls_server_ctx(la, NULL), *cb = emu_tls_server_ctx(lb, NULL),
          *listener = emu_tls_server_ctx(ld, NULL);
  struct emu_tls_sni *sni = emu_tls_sni_new();
  static const struct {
    const char *sni;
    int which; /* 0 a, 1 b, 2 default */
  } cases[] = {{"a.contoso.com", 0},
               {"A.Contoso.COM.", 0},
               {"b.fabrikam.com", 1},
               {"unknown.test", 2},
               {NULL, 2}};
  X509 *want[3] = {emu_tls_leaf_cert(la), emu_tls_leaf_cert(lb), emu_tls_leaf_cert(ld)};

  ck_assert_ptr_nonnull(sni);
  ck_assert_int_eq(emu_tls_sni_add(sni, "a.contoso.com", ca_), EMU_TLS_OK);
  ck_assert_int_eq(emu_tls_sni_add(sni, "b.fabrikam.com", ca_), EMU_TLS_OK);
  ck_assert_int_eq(emu_tls_sni_add(sni, "B.FABRIKAM.COM", cb), EMU_TLS_OK); /* replaces */
  ck_assert_int_eq(emu_tls_sni_add(sni, "", cb), EMU_TLS_ERR_ARG);
  ck_assert_ptr_eq(emu_tls_sni_lookup(sni, "b.fabrikam.com."), cb);
  ck_assert_ptr_null(emu_tls_sni_lookup(sni, "c.test"));
  ck_assert_int_eq(emu_tls_sni_install(sni, listener), EMU_TLS_OK);
  /* the map holds its own references */
  SSL_CTX_free(ca_);
  SSL_CTX_free(cb);

  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    X509 *peer = NULL;

    ck_assert_int_eq(handshake(listener, emu_tls_ca_cert(ca), NULL, cases[i].sni, 0, &peer, NULL),
                     1);
    ck_assert_msg(X509_cmp(peer, want[cases[i].which]) == 0, "SNI %s", cases[i].sni);
    X509_free(peer);
  }
  SSL_CTX_free(listener);
  emu_tls_sni_free(sni);
  emu_tls_leaf_free(la);
  emu_tls_leaf_free(lb);
  emu_tls_leaf_free(ld);
}
END_TEST

Suite *emu_tlscert_suite(void)
{
  Suite *s = suite_create("emu_tlscert");
  TCase *tc = tcase_create("core");
  size_t nleaf = sizeof(leaf_cases) / sizeof(leaf_cases[0]);

  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, ca_is_a_ca);
  tcase_add_loop_test(tc, leaf_variants_verify_as_designed, 0, (int)nleaf);
  tcase_add_test(tc, leaf_bad_arguments);
  tcase_add_test(tc, ca_pem_round_trip);
  tcase_add_test(tc, server_ctx_from_files);
  tcase_add_loop_test(tc, server_ctx_handshakes, 0, (int)nleaf);
  tcase_add_test(tc, sni_picks_certificate);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  return tu_run(emu_tlscert_suite());
}
