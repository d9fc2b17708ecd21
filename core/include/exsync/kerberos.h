/* exsync/kerberos.h - Kerberos tickets for HTTP Negotiate (MIT Kerberos).
 *
 * A struct exs_krb is one client identity with its tickets in a private
 * in-memory credential cache ("MEMORY:..."), never the caller's own cache:
 *  - exs_krb_login_password: the profile's user name and password
 *    ("user@REALM", "DOMAIN\user" with DOMAIN mapped to a realm, or "user"
 *    in the default realm);
 *  - exs_krb_login_default: the running identity (Windows integrated): a
 *    client keytab (KRB5_CLIENT_KTNAME or the default client keytab) when it
 *    holds a key, else the default credential cache as it is.
 *
 * The lockout rule (a refused password is presented to the KDC once per
 * process): a failed pre-authentication is remembered process-wide for
 * that principal and password, and later logins with them fail at once with
 * the same error and no request to the KDC. Successful logins are shared
 * the same way, so many workers of one credential ask the KDC once.
 *
 * Failures are named: CREDENTIALS for a wrong password ("pre-authentication
 * failed"), an unknown, locked or expired account; KERBEROS for an SPN the
 * KDC does not know (with the setspn fix), clock skew (with the offset), an
 * unreachable KDC (naming it; transient) and a service ticket the server
 * rejected. Messages and traces name principals, realm, KDC and enctype,
 * never a key, ticket or password.
 *
 * Threading: a handle is used by one thread at a time; handles of one
 * credential may live in several threads.
 */
#ifndef EXSYNC_KERBEROS_H
#define EXSYNC_KERBEROS_H

#include <stdbool.h>
#include <stddef.h>

#include "exsync/error.h"

struct exs_krb;

/* Receives one line describing a Kerberos exchange (no secrets). */
typedef void (*exs_krb_trace_fn)(void *ctx, const char *line);

/* Get a ticket-granting ticket for user with password. Returns 0 and *out
 * (caller frees with exs_krb_free), or -1 with err. trace may be NULL. */
int exs_krb_login_password(const char *user, const char *password, exs_krb_trace_fn trace,
                           void *trace_ctx, struct exs_krb **out, struct exs_error *err);

/* The running identity. Returns 0 and *out, or -1 with err (CREDENTIALS
 * when this process has no Kerberos identity at all). */
int exs_krb_login_default(exs_krb_trace_fn trace, void *trace_ctx, struct exs_krb **out,
                          struct exs_error *err);

/* Make sure the cache holds a service ticket for HTTP/host. Returns 0, or
 * -1 with err. url goes into err->url. */
int exs_krb_service_ticket(struct exs_krb *k, const char *host, const char *url,
                           struct exs_error *err);

/* Fill err for a 401 answered to a Kerberos token for HTTP/host: the server
 * could not decrypt the ticket (stale key version or duplicated SPN). */
void exs_krb_rejected(const struct exs_krb *k, const char *host, const char *url,
                      struct exs_error *err);

/* The credential cache name to hand to GSS-API (gss_krb5_ccache_name), and
 * the client principal ("alice@CONTOSO.COM"). Borrowed from k. */
const char *exs_krb_ccache(const struct exs_krb *k);
const char *exs_krb_principal(const struct exs_krb *k);

/* Whether auto-detect may try Kerberos for user at host without guessing
 * (and without asking some KDC the machine's default configuration names):
 * krb5.conf maps host to a realm in [domain_realm], lists KDCs for that
 * realm, and user ("user@REALM", "DOMAIN\\user" or "user") belongs to it.
 * NULL user asks for the running identity: a ticket cache or a client
 * keytab must exist. No network is touched. */
bool exs_krb_configured(const char *user, const char *host);

/* Free k (NULL: no-op). The shared cache stays for other handles. */
void exs_krb_free(struct exs_krb *k);

/* Forget every remembered login of this process (tests). */
void exs_krb_reset(void);

#endif
