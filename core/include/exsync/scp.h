/* exsync/scp.h - Autodiscover service connection points in Active Directory.
 *
 * Domain-joined Outlook finds Autodiscover first through the SCP objects
 * Exchange writes into the configuration partition: serviceConnectionPoint
 * objects whose keywords hold 77378F46-2C66-4aa9-A6A6-3E7A48B19596 and
 * whose serviceBindingInformation is an Autodiscover URL. exs_scp_lookup
 * reads the configuration naming context from the directory's RootDSE,
 * searches it, and orders the URLs as Outlook does: entries scoped to the
 * client's site ("Site=NAME" keyword) first, then entries with no site,
 * then those of other sites. LDAP through libldap; a simple bind (DN or
 * user@domain with a password), or anonymous without a user.
 */
#ifndef EXSYNC_SCP_H
#define EXSYNC_SCP_H

#include <stddef.h>

#include "exsync/error.h"

#define EXS_SCP_KEYWORD "77378F46-2C66-4aa9-A6A6-3E7A48B19596"
#define EXS_SCP_URL_MAX 1024

struct exs_scp_options {
  const char *uri;      /* "ldap://dc.contoso.com" (ldaps:// for TLS) */
  const char *user;     /* bind DN or user@domain; NULL or "": anonymous */
  const char *password; /* never logged */
  const char *site;     /* the client's AD site; NULL: none */
  long timeout_ms;      /* per operation; 0: 5000 */
};

struct exs_scp_entry {
  char url[EXS_SCP_URL_MAX];
  char dn[512];
  char site[128]; /* "" when the entry names no site */
};

/* Search the directory. Fills up to max entries in order of preference and
 * *n. detail receives one line on what was searched (base DN, count).
 * Returns 0 (also with *n == 0: no SCP) or -1 with err (AUTODISCOVER:
 * directory unreachable, bind refused, no configuration partition). */
int exs_scp_lookup(const struct exs_scp_options *opt, struct exs_scp_entry *out, size_t max,
                   size_t *n, char *detail, size_t dlen, struct exs_error *err);

#endif
