/* tlscert.h - a throwaway PKI for the emulator's HTTPS listeners.
 *
 * Everything lives in memory: a CA (EC P-256, self-signed, CA:TRUE,
 * keyCertSign) and leaf server certificates it signs, in the variants the
 * suites need to exercise a client's certificate checks:
 *
 *   VALID       signed by the CA, valid now, SAN = the DNS names + 127.0.0.1
 *   EXPIRED     like VALID but notAfter is in the past
 *   WRONG_NAME  signed by the CA, valid now, SAN = "wrong-name.invalid" only
 *               (neither the requested names nor 127.0.0.1)
 *   UNTRUSTED   like VALID but signed by a second CA that is private to the
 *               leaf and never written out
 *
 * The CA certificate can be written as PEM (the emulator's --ca-out). Server
 * contexts are plain OpenSSL SSL_CTXs (TLS 1.2 minimum); an emu_tls_sni
 * picks one per SNI host name during the handshake.
 *
 * Key generation takes a few milliseconds; generate once and reuse.
 * Validity uses the real clock (not exs_now): peers verify with theirs.
 * Threading: a CA or leaf may be shared read-only between threads once
 * built; emu_tls_sni has its own lock.
 */
#ifndef EXSYNC_EMU_TLSCERT_H
#define EXSYNC_EMU_TLSCERT_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "exsync/buf.h"

enum emu_tls_result {
  EMU_TLS_OK = 0,
  EMU_TLS_ERR_NOMEM,
  EMU_TLS_ERR_ARG,    /* NULL, empty name list, invalid host name */
  EMU_TLS_ERR_CRYPTO, /* an OpenSSL call failed */
  EMU_TLS_ERR_IO,     /* a file could not be written or read */
};

/* Static English text for a result; never NULL. */
const char *emu_tls_strerror(int result);

enum emu_tls_leaf_kind {
  EMU_TLS_LEAF_VALID = 0,
  EMU_TLS_LEAF_EXPIRED,
  EMU_TLS_LEAF_WRONG_NAME,
  EMU_TLS_LEAF_UNTRUSTED,
};

/* The name the WRONG_NAME variant carries. */
#define EMU_TLS_WRONG_NAME "wrong-name.invalid"

/* ---- CA ---- */
struct emu_tls_ca;

/* Generate a CA named common_name (NULL: "exsync emulator test CA"),
 * valid from one hour ago for ten years. NULL on failure, with *result set
 * when result is not NULL. Caller frees with emu_tls_ca_free. */
struct emu_tls_ca *emu_tls_ca_new(const char *common_name, int *result);
/* NULL is a no-op. */
void emu_tls_ca_free(struct emu_tls_ca *ca);
/* The CA certificate, borrowed until emu_tls_ca_free. */
X509 *emu_tls_ca_cert(const struct emu_tls_ca *ca);
/* Append the CA certificate as PEM to out. */
int emu_tls_ca_pem(const struct emu_tls_ca *ca, struct exs_buf *out);
/* Write the CA certificate as PEM to path (created 0644, replaced
 * atomically through path.tmp). The private key is never written. */
int emu_tls_ca_write_pem(const struct emu_tls_ca *ca, const char *path);

/* ---- leaf certificates ---- */
struct emu_tls_leaf;

/* Issue a server certificate of the given kind for names[0..n-1] (DNS
 * names, or IP literals which go in as iPAddress entries; n >= 1; the
 * first is the subject CN). 127.0.0.1 is always added except for
 * WRONG_NAME. ca signs it (except UNTRUSTED, where a private CA does; ca
 * may then be NULL). NULL on failure with *result. Caller frees with
 * emu_tls_leaf_free; the leaf holds its own references, ca may be freed
 * first. */
struct emu_tls_leaf *emu_tls_leaf_new(const struct emu_tls_ca *ca, enum emu_tls_leaf_kind kind,
                                      const char *const *names, size_t n, int *result);
/* NULL is a no-op. */
void emu_tls_leaf_free(struct emu_tls_leaf *leaf);
/* Certificate, key and issuer certificate; borrowed until emu_tls_leaf_free. */
X509 *emu_tls_leaf_cert(const struct emu_tls_leaf *leaf);
EVP_PKEY *emu_tls_leaf_key(const struct emu_tls_leaf *leaf);
X509 *emu_tls_leaf_issuer(const struct emu_tls_leaf *leaf);
/* Append the leaf certificate, then its private key, as PEM to out (for
 * a server that wants files). out holds a private key: wipe it after use. */
int emu_tls_leaf_pem(const struct emu_tls_leaf *leaf, struct exs_buf *out);

/* ---- server contexts ---- */

/* A server SSL_CTX presenting leaf (certificate, key, and the issuer as
 * chain), TLS 1.2 minimum, no client certificates. NULL on failure with
 * *result. Caller frees with SSL_CTX_free; it does not depend on leaf
 * after return. */
SSL_CTX *emu_tls_server_ctx(const struct emu_tls_leaf *leaf, int *result);

/* The same from PEM files (the emulator's --cert/--key); the certificate
 * file may carry the chain after the leaf. Checks that key and
 * certificate match. */
SSL_CTX *emu_tls_server_ctx_from_files(const char *cert_file, const char *key_file, int *result);

/* ---- SNI: one certificate per host name ---- */
struct emu_tls_sni;

/* A host name -> SSL_CTX map. Caller frees with emu_tls_sni_free. */
struct emu_tls_sni *emu_tls_sni_new(void);
/* Drops the map's context references. NULL is a no-op. Free it only after
 * every SSL_CTX it was installed on is freed (or no longer handshaking). */
void emu_tls_sni_free(struct emu_tls_sni *sni);
/* Serve ctx to clients asking for host (case-insensitive, exact match; a
 * trailing dot is ignored). Replaces an earlier entry for host. Takes its
 * own reference to ctx. */
int emu_tls_sni_add(struct emu_tls_sni *sni, const char *host, SSL_CTX *ctx);
/* The context for host, or NULL when there is none. Borrowed: valid while
 * the entry is in the map. */
SSL_CTX *emu_tls_sni_lookup(struct emu_tls_sni *sni, const char *host);
/* Install the servername callback on listener_ctx (the context the
 * listener's SSL objects are created from; it serves clients without SNI
 * or with an unknown name). The callback switches the SSL to the mapped
 * context. sni is borrowed and must outlive listener_ctx's handshakes. */
int emu_tls_sni_install(struct emu_tls_sni *sni, SSL_CTX *listener_ctx);

#endif
