/* tlscert.c - throwaway CA and server certificates; see tlscert.h. */
#include "exsync-emulator/tlscert.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define DAY (24L * 3600L)

struct emu_tls_ca {
  X509 *cert;
  EVP_PKEY *key;
};

struct emu_tls_leaf {
  X509 *cert;
  EVP_PKEY *key;
  X509 *issuer; /* reference to the signing CA's certificate */
};

const char *emu_tls_strerror(int result)
{
  switch(result) {
  case EMU_TLS_OK:
    return "ok";
  case EMU_TLS_ERR_NOMEM:
    return "out of memory";
  case EMU_TLS_ERR_ARG:
    return "invalid argument";
  case EMU_TLS_ERR_CRYPTO:
    return "OpenSSL operation failed";
  case EMU_TLS_ERR_IO:
    return "file could not be read or written";
  }
  return "unknown TLS error";
}

static void set_result(int *result, int r)
{
  if(result)
    *result = r;
}

/* A name for a certificate: letters, digits, '-', '.', '*', '_' and the
 * characters of IP literals. Keeps SAN and CN free of surprises. */
static bool name_ok(const char *s)
{
  size_t n = s ? strlen(s) : 0;

  if(n == 0 || n > 253)
    return false;
  for(size_t i = 0; i < n; i++) {
    char c = s[i];

    if(!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '*' || c == '_' || c == ':'))
      return false;
  }
  return true;
}

static EVP_PKEY *new_key(void)
{
  return EVP_EC_gen("P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
  X509V3_CTX ctx;
  X509_EXTENSION *ext;
  int ok;

  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
  if(!ext)
    return EMU_TLS_ERR_CRYPTO;
  ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok ? EMU_TLS_OK : EMU_TLS_ERR_CRYPTO;
}

static int add_san(X509 *cert, const char *const *names, size_t n, bool with_loopback)
{
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  bool have_loopback = false;
  int result = EMU_TLS_ERR_NOMEM;

  if(!gens)
    goto out;
  for(size_t i = 0; i <= n; i++) {
    const char *name = i < n ? names[i] : "127.0.0.1";
    ASN1_OCTET_STRING *ip;
    GENERAL_NAME *gen;

    if(i == n && (!with_loopback || have_loopback))
      break;
    gen = GENERAL_NAME_new();
    if(!gen)
      goto out;
    ip = a2i_IPADDRESS(name);
    if(ip) {
      GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
      if(!strcmp(name, "127.0.0.1"))
        have_loopback = true;
    }
    else {
      ASN1_IA5STRING *dns = ASN1_IA5STRING_new();

      if(!dns || !ASN1_STRING_set(dns, name, (int)strlen(name))) {
        ASN1_IA5STRING_free(dns);
        GENERAL_NAME_free(gen);
        goto out;
      }
      GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
    }
    if(!sk_GENERAL_NAME_push(gens, gen)) {
      GENERAL_NAME_free(gen);
      goto out;
    }
  }
  result = X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1
               ? EMU_TLS_OK
               : EMU_TLS_ERR_CRYPTO;
out:
  GENERAL_NAMES_free(gens);
  return result;
}

static int set_serial(X509 *cert)
{
  BIGNUM *bn = BN_new();
  int result = EMU_TLS_ERR_CRYPTO;

  if(bn && BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
    result = EMU_TLS_OK;
  BN_free(bn);
  return result;
}

/* A certificate for key with subject CN=cn and the given validity (seconds
 * relative to now), issued by issuer (NULL: self-issued). Not yet signed. */
static X509 *new_cert(EVP_PKEY *key, const char *cn, X509 *issuer, long from, long to)
{
  X509 *cert = X509_new();
  X509_NAME *name;

  if(!cert || !X509_set_version(cert, X509_VERSION_3) || set_serial(cert))
    goto fail;
  name = X509_get_subject_name(cert);
  if(!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"exsync", -1, -1,
                                 0) ||
     !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0))
    goto fail;
  if(!X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) ||
     !X509_gmtime_adj(X509_getm_notBefore(cert), from) ||
     !X509_gmtime_adj(X509_getm_notAfter(cert), to) || !X509_set_pubkey(cert, key))
    goto fail;
  return cert;
fail:
  X509_free(cert);
  return NULL;
}

static struct emu_tls_ca *ca_create(const char *cn, int *result)
{
  struct emu_tls_ca *ca = calloc(1, sizeof(*ca));
  int r = EMU_TLS_ERR_NOMEM;

  if(!ca)
    goto out;
  r = EMU_TLS_ERR_CRYPTO;
  ca->key = new_key();
  if(!ca->key)
    goto out;
  ca->cert = new_cert(ca->key, cn, NULL, -3600, 3650 * DAY);
  if(!ca->cert)
    goto out;
  r = add_ext(ca->cert, ca->cert, NID_basic_constraints, "critical,CA:TRUE");
  if(!r)
    r = add_ext(ca->cert, ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  if(!r)
    r = add_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash");
  if(!r)
    r = add_ext(ca->cert, ca->cert, NID_authority_key_identifier, "keyid:always");
  if(r)
    goto out;
  if(!X509_sign(ca->cert, ca->key, EVP_sha256())) {
    r = EMU_TLS_ERR_CRYPTO;
    goto out;
  }
  r = EMU_TLS_OK;
out:
  set_result(result, r);
  if(r) {
    emu_tls_ca_free(ca);
    return NULL;
  }
  return ca;
}

struct emu_tls_ca *emu_tls_ca_new(const char *common_name, int *result)
{
  if(!common_name)
    common_name = "exsync emulator test CA";
  if(strlen(common_name) > 64) {
    set_result(result, EMU_TLS_ERR_ARG);
    return NULL;
  }
  return ca_create(common_name, result);
}

void emu_tls_ca_free(struct emu_tls_ca *ca)
{
  if(!ca)
    return;
  X509_free(ca->cert);
  EVP_PKEY_free(ca->key);
  free(ca);
}

X509 *emu_tls_ca_cert(const struct emu_tls_ca *ca)
{
  return ca ? ca->cert : NULL;
}

/* Append what write() puts into a memory BIO to out. */
static int bio_to_buf(BIO *bio, struct exs_buf *out)
{
  char *p;
  long n = BIO_get_mem_data(bio, &p);

  if(n < 0)
    return EMU_TLS_ERR_CRYPTO;
  return exs_buf_add(out, p, (size_t)n) ? EMU_TLS_ERR_NOMEM : EMU_TLS_OK;
}

int emu_tls_ca_pem(const struct emu_tls_ca *ca, struct exs_buf *out)
{
  BIO *bio;
  int result = EMU_TLS_ERR_CRYPTO;

  if(!ca || !out)
    return EMU_TLS_ERR_ARG;
  bio = BIO_new(BIO_s_mem());
  if(bio && PEM_write_bio_X509(bio, ca->cert))
    result = bio_to_buf(bio, out);
  BIO_free(bio);
  return result;
}

int emu_tls_ca_write_pem(const struct emu_tls_ca *ca, const char *path)
{
  struct exs_buf pem, tmp;
  FILE *f = NULL;
  int result;

  exs_buf_init(&pem, 64 * 1024);
  exs_buf_init(&tmp, 4096 + 8);
  if(!ca || !path || !*path) {
    result = EMU_TLS_ERR_ARG;
    goto out;
  }
  result = emu_tls_ca_pem(ca, &pem);
  if(result)
    goto out;
  if(exs_buf_addf(&tmp, "%s.tmp", path)) {
    result = EMU_TLS_ERR_ARG;
    goto out;
  }
  result = EMU_TLS_ERR_IO;
  f = fopen(tmp.data, "w");
  if(!f)
    goto out;
  if(fwrite(pem.data, 1, pem.len, f) != pem.len) {
    fclose(f);
    remove(tmp.data);
    goto out;
  }
  if(fclose(f) || rename(tmp.data, path)) {
    remove(tmp.data);
    goto out;
  }
  result = EMU_TLS_OK;
out:
  exs_buf_free(&pem);
  exs_buf_free(&tmp);
  return result;
}

/* ---- leaves ---- */

struct emu_tls_leaf *emu_tls_leaf_new(const struct emu_tls_ca *ca, enum emu_tls_leaf_kind kind,
                                      const char *const *names, size_t n, int *result)
{
  struct emu_tls_leaf *leaf = NULL;
  struct emu_tls_ca *rogue = NULL;
  const struct emu_tls_ca *signer = ca;
  static const char *const wrong[1] = {EMU_TLS_WRONG_NAME};
  long from = -3600, to = 397 * DAY;
  int r = EMU_TLS_ERR_ARG;

  if(!names || n == 0 || n > 100 || (kind != EMU_TLS_LEAF_UNTRUSTED && !ca) ||
     kind < EMU_TLS_LEAF_VALID || kind > EMU_TLS_LEAF_UNTRUSTED)
    goto out;
  for(size_t i = 0; i < n; i++) {
    if(!name_ok(names[i]))
      goto out;
  }
  if(kind == EMU_TLS_LEAF_UNTRUSTED) {
    rogue = ca_create("exsync emulator untrusted CA", &r);
    if(!rogue)
      goto out;
    signer = rogue;
  }
  else if(kind == EMU_TLS_LEAF_EXPIRED) {
    from = -30 * DAY;
    to = -DAY;
  }
  else if(kind == EMU_TLS_LEAF_WRONG_NAME) {
    names = wrong;
    n = 1;
  }

  r = EMU_TLS_ERR_NOMEM;
  leaf = calloc(1, sizeof(*leaf));
  if(!leaf)
    goto out;
  r = EMU_TLS_ERR_CRYPTO;
  leaf->key = new_key();
  if(!leaf->key)
    goto out;
  leaf->cert = new_cert(leaf->key, names[0], signer->cert, from, to);
  if(!leaf->cert)
    goto out;
  r = add_ext(leaf->cert, signer->cert, NID_basic_constraints, "critical,CA:FALSE");
  if(!r)
    r = add_ext(leaf->cert, signer->cert, NID_key_usage, "critical,digitalSignature");
  if(!r)
    r = add_ext(leaf->cert, signer->cert, NID_ext_key_usage, "serverAuth");
  if(!r)
    r = add_ext(leaf->cert, signer->cert, NID_subject_key_identifier, "hash");
  if(!r)
    r = add_ext(leaf->cert, signer->cert, NID_authority_key_identifier, "keyid:always");
  if(!r)
    r = add_san(leaf->cert, names, n, kind != EMU_TLS_LEAF_WRONG_NAME);
  if(r)
    goto out;
  if(!X509_sign(leaf->cert, signer->key, EVP_sha256())) {
    r = EMU_TLS_ERR_CRYPTO;
    goto out;
  }
  if(!X509_up_ref(signer->cert)) {
    r = EMU_TLS_ERR_CRYPTO;
    goto out;
  }
  leaf->issuer = signer->cert;
  r = EMU_TLS_OK;
out:
  emu_tls_ca_free(rogue); /* its key is gone; the leaf keeps the cert */
  set_result(result, r);
  if(r) {
    emu_tls_leaf_free(leaf);
    return NULL;
  }
  return leaf;
}

void emu_tls_leaf_free(struct emu_tls_leaf *leaf)
{
  if(!leaf)
    return;
  X509_free(leaf->cert);
  EVP_PKEY_free(leaf->key);
  X509_free(leaf->issuer);
  free(leaf);
}

X509 *emu_tls_leaf_cert(const struct emu_tls_leaf *leaf)
{
  return leaf ? leaf->cert : NULL;
}

EVP_PKEY *emu_tls_leaf_key(const struct emu_tls_leaf *leaf)
{
  return leaf ? leaf->key : NULL;
}

X509 *emu_tls_leaf_issuer(const struct emu_tls_leaf *leaf)
{
  return leaf ? leaf->issuer : NULL;
}

int emu_tls_leaf_pem(const struct emu_tls_leaf *leaf, struct exs_buf *out)
{
  BIO *bio;
  int result = EMU_TLS_ERR_CRYPTO;

  if(!leaf || !out)
    return EMU_TLS_ERR_ARG;
  bio = BIO_new(BIO_s_mem());
  if(bio && PEM_write_bio_X509(bio, leaf->cert) &&
     PEM_write_bio_PrivateKey(bio, leaf->key, NULL, NULL, 0, NULL, NULL))
    result = bio_to_buf(bio, out);
  if(bio) {
    char *p;
    long n = BIO_get_mem_data(bio, &p);

    if(n > 0)
      OPENSSL_cleanse(p, (size_t)n);
  }
  BIO_free(bio);
  return result;
}

/* ---- server contexts ---- */

static SSL_CTX *base_ctx(void)
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

  if(!ctx)
    return NULL;
  if(!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  return ctx;
}

SSL_CTX *emu_tls_server_ctx(const struct emu_tls_leaf *leaf, int *result)
{
  SSL_CTX *ctx = NULL;
  int r = EMU_TLS_ERR_ARG;

  if(!leaf)
    goto out;
  r = EMU_TLS_ERR_CRYPTO;
  ctx = base_ctx();
  if(!ctx || SSL_CTX_use_certificate(ctx, leaf->cert) != 1 ||
     SSL_CTX_use_PrivateKey(ctx, leaf->key) != 1 || SSL_CTX_check_private_key(ctx) != 1 ||
     SSL_CTX_add1_chain_cert(ctx, leaf->issuer) != 1)
    goto out;
  r = EMU_TLS_OK;
out:
  set_result(result, r);
  if(r) {
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
  }
  return ctx;
}

SSL_CTX *emu_tls_server_ctx_from_files(const char *cert_file, const char *key_file, int *result)
{
  SSL_CTX *ctx = NULL;
  int r = EMU_TLS_ERR_ARG;

  if(!cert_file || !key_file)
    goto out;
  r = EMU_TLS_ERR_CRYPTO;
  ctx = base_ctx();
  if(!ctx)
    goto out;
  r = EMU_TLS_ERR_IO;
  if(SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
     SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
    goto out;
  r = EMU_TLS_ERR_CRYPTO;
  if(SSL_CTX_check_private_key(ctx) != 1)
    goto out;
  r = EMU_TLS_OK;
out:
  set_result(result, r);
  if(r) {
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
  }
  return ctx;
}

/* ---- SNI ---- */

struct sni_entry {
  char host[256];
  SSL_CTX *ctx;
};

struct emu_tls_sni {
  pthread_mutex_t lock;
  struct sni_entry *v;
  size_t n, cap;
};

struct emu_tls_sni *emu_tls_sni_new(void)
{
  struct emu_tls_sni *sni = calloc(1, sizeof(*sni));

  if(!sni)
    return NULL;
  if(pthread_mutex_init(&sni->lock, NULL)) {
    free(sni);
    return NULL;
  }
  return sni;
}

void emu_tls_sni_free(struct emu_tls_sni *sni)
{
  if(!sni)
    return;
  for(size_t i = 0; i < sni->n; i++)
    SSL_CTX_free(sni->v[i].ctx);
  free(sni->v);
  pthread_mutex_destroy(&sni->lock);
  free(sni);
}

/* Copy host without a trailing dot into out[256]; false if unusable. */
static bool norm_host(const char *host, char out[256])
{
  size_t n = host ? strlen(host) : 0;

  if(n && host[n - 1] == '.')
    n--;
  if(n == 0 || n > 253)
    return false;
  memcpy(out, host, n);
  out[n] = '\0';
  return true;
}

static struct sni_entry *find(struct emu_tls_sni *sni, const char *host)
{
  for(size_t i = 0; i < sni->n; i++) {
    if(!strcasecmp(sni->v[i].host, host))
      return &sni->v[i];
  }
  return NULL;
}

int emu_tls_sni_add(struct emu_tls_sni *sni, const char *host, SSL_CTX *ctx)
{
  char h[256];
  struct sni_entry *e;
  int result = EMU_TLS_OK;

  if(!sni || !ctx || !norm_host(host, h))
    return EMU_TLS_ERR_ARG;
  if(!SSL_CTX_up_ref(ctx))
    return EMU_TLS_ERR_CRYPTO;
  pthread_mutex_lock(&sni->lock);
  e = find(sni, h);
  if(e) {
    SSL_CTX_free(e->ctx);
    e->ctx = ctx;
    goto out;
  }
  if(sni->n == sni->cap) {
    size_t cap = sni->cap ? 2 * sni->cap : 8;
    struct sni_entry *v = realloc(sni->v, cap * sizeof(*v));

    if(!v) {
      SSL_CTX_free(ctx);
      result = EMU_TLS_ERR_NOMEM;
      goto out;
    }
    sni->v = v;
    sni->cap = cap;
  }
  e = &sni->v[sni->n++];
  strcpy(e->host, h);
  e->ctx = ctx;
out:
  pthread_mutex_unlock(&sni->lock);
  return result;
}

SSL_CTX *emu_tls_sni_lookup(struct emu_tls_sni *sni, const char *host)
{
  char h[256];
  struct sni_entry *e;
  SSL_CTX *ctx = NULL;

  if(!sni || !norm_host(host, h))
    return NULL;
  pthread_mutex_lock(&sni->lock);
  e = find(sni, h);
  if(e)
    ctx = e->ctx;
  pthread_mutex_unlock(&sni->lock);
  return ctx;
}

static int servername_cb(SSL *ssl, int *alert, void *arg)
{
  struct emu_tls_sni *sni = arg;
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  char h[256];
  struct sni_entry *e;
  int rc = SSL_TLSEXT_ERR_NOACK;

  if(!name || !norm_host(name, h))
    return SSL_TLSEXT_ERR_NOACK; /* no SNI: the listener's own certificate */
  pthread_mutex_lock(&sni->lock);
  e = find(sni, h);
  if(e && SSL_set_SSL_CTX(ssl, e->ctx))
    rc = SSL_TLSEXT_ERR_OK;
  pthread_mutex_unlock(&sni->lock);
  return rc;
}

int emu_tls_sni_install(struct emu_tls_sni *sni, SSL_CTX *listener_ctx)
{
  if(!sni || !listener_ctx)
    return EMU_TLS_ERR_ARG;
  if(!SSL_CTX_set_tlsext_servername_callback(listener_ctx, servername_cb) ||
     !SSL_CTX_set_tlsext_servername_arg(listener_ctx, sni))
    return EMU_TLS_ERR_CRYPTO;
  return EMU_TLS_OK;
}
