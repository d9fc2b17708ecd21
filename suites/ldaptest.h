/* ldaptest.h - a throwaway OpenLDAP slapd that looks like Active Directory
 * as far as Autodiscover cares: a RootDSE with configurationNamingContext
 * and a minimal schema for serviceConnectionPoint (keywords,
 * serviceBindingInformation), loaded with slapadd from an LDIF, listening
 * on a free loopback port. Started and stopped by the test; never the
 * system's slapd. */
#ifndef EXSYNC_LDAPTEST_H
#define EXSYNC_LDAPTEST_H

#include <stddef.h>

struct ldaptest;

/* base "DC=contoso,DC=com"; entries_ldif: extra entries (SCPs) below
 * CN=Configuration,<base>, or NULL. NULL with err on failure. */
struct ldaptest *ldaptest_start(const char *base, const char *entries_ldif, char *err,
                                size_t errlen);
/* "ldap://127.0.0.1:PORT" */
const char *ldaptest_uri(const struct ldaptest *l);
void ldaptest_stop(struct ldaptest *l);

#endif
