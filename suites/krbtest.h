/* krbtest.h - a throwaway MIT KDC for the Kerberos suites.
 *
 * krbtest_start makes a realm in a fresh temporary directory (its own
 * krb5.conf and kdc.conf: no DNS, pre-authentication required for every
 * principal as Active Directory does), starts krb5kdc on a free loopback
 * port and waits, with a deadline, for its "commencing operation" log line.
 * KRB5_CONFIG is pointed at the realm's krb5.conf for this process. Needs
 * root or a user who may run kdb5_util/kadmin.local/krb5kdc (Debian's
 * krb5-kdc and krb5-admin-server). Never touches the system's KDC.
 */
#ifndef EXSYNC_KRBTEST_H
#define EXSYNC_KRBTEST_H

#include <stddef.h>

struct krbtest;

/* NULL with err when the KDC cannot be made or started. */
struct krbtest *krbtest_start(const char *realm, const char *domain, char *err, size_t errlen);
/* Stop the KDC and remove the directory. NULL: no-op. */
void krbtest_stop(struct krbtest *k);
/* Start the KDC again after krbtest_kdc_down. Returns 0 or -1. */
int krbtest_kdc_up(struct krbtest *k);
/* Stop the KDC process (the realm stays). */
void krbtest_kdc_down(struct krbtest *k);

/* kadmin.local -q QUERY. Returns 0 or -1 (its output is in err). */
int krbtest_kadmin(struct krbtest *k, const char *query, char *err, size_t errlen);
/* A user principal with a password. */
int krbtest_add_user(struct krbtest *k, const char *name, const char *password);
/* A service principal with a random key, exported to a keytab file in the
 * realm's directory whose path is returned (borrowed until stop). */
const char *krbtest_add_service(struct krbtest *k, const char *principal);
/* A keytab holding the key of principal (made with -norandkey), e.g. a
 * client keytab for a service account. Path borrowed until stop. */
const char *krbtest_keytab(struct krbtest *k, const char *principal, const char *file);
/* How many lines of the KDC's log contain what ("PREAUTH_FAILED"). */
int krbtest_log_count(struct krbtest *k, const char *what);
/* The realm's directory (for extra files). */
const char *krbtest_dir(const struct krbtest *k);

#endif
