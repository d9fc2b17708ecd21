/* krb.h - the emulator's Kerberos acceptor (GSS-API, SPNEGO), private.
 *
 * One struct emu_krb holds the acceptor credential read from a keytab (the
 * keys of HTTP/<host> principals, as an Exchange server's computer account
 * has them). Tokens are accepted per connection, as IIS does with Kerberos
 * under Negotiate: one round for Kerberos, the context kept between rounds
 * when SPNEGO needs more. No key or ticket is ever logged.
 */
#ifndef EMU_KRB_H
#define EMU_KRB_H

#include <stddef.h>

struct emu_krb;
struct emu_krb_ctx;

enum emu_krb_result { EMU_KRB_OK, EMU_KRB_CONTINUE, EMU_KRB_BAD };

/* Read the acceptor credential from keytab. Returns NULL with err. */
struct emu_krb *emu_krb_new(const char *keytab, char *err, size_t errlen);
void emu_krb_free(struct emu_krb *k);

/* Accept one base64 token (the value after "Negotiate "). *ctx is the
 * connection's context (NULL at first; free with emu_krb_ctx_free). On OK
 * principal is the client ("alice@CONTOSO.COM"); out is the base64 token
 * to send back (mutual authentication, or the next round on CONTINUE),
 * possibly empty. On BAD, reason says why (for the journal). */
enum emu_krb_result emu_krb_accept(struct emu_krb *k, struct emu_krb_ctx **ctx, const char *b64,
                                   char *principal, size_t plen, char *out, size_t outlen,
                                   char *reason, size_t rlen);
void emu_krb_ctx_free(struct emu_krb_ctx *ctx);

#endif
