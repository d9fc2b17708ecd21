/* error.c - categories, their transience and their hints. */
#include "exsync/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  bool transient;
  const char *hint;
} categories[EXS_CAT_COUNT] = {
    [EXS_CAT_NONE] = {"NONE", false, ""},
    [EXS_CAT_NOT_APPROVED] =
        {"NOT_APPROVED", false,
         "Approve the mailbox's email address (exsync mailbox approve ADDRESS), or turn off "
         "approval in the org settings."},
    [EXS_CAT_CONFIG] = {"CONFIG", false,
                        "Fix the mailbox or profile configuration named in the message, then run "
                        "Test & Enable again."},
    [EXS_CAT_INSECURE_CHANNEL] =
        {"INSECURE_CHANNEL", false,
         "Use an https:// EWS URL, or set allow-non-ssl (and allow-credentials-non-secure / "
         "allow-basic-non-secure) in the org settings if plain HTTP is really intended."},
    [EXS_CAT_AUTODISCOVER] =
        {"AUTODISCOVER", false,
         "Check the Autodiscover DNS records and virtual directory (exsync autodiscover ADDRESS "
         "shows each step), or turn Autodiscover off and set the EWS URL in the profile."},
    [EXS_CAT_DNS] =
        {"DNS", true,
         "Check that the Exchange host name resolves from this machine (DNS or hosts file)."},
    [EXS_CAT_CONNECT] = {"CONNECT", true,
                         "Check that the Exchange server is up and that firewalls allow HTTPS "
                         "(port 443) from this machine."},
    [EXS_CAT_TLS_TRUST] =
        {"TLS_TRUST", false,
         "The server certificate is not trusted: install the issuing CA (--cacert FILE) or use a "
         "certificate from a trusted CA."},
    [EXS_CAT_TLS_NAME] =
        {"TLS_NAME", false,
         "The server certificate does not name this host: use the host name on the certificate in "
         "the EWS URL, or reissue the certificate with this name."},
    [EXS_CAT_TLS_EXPIRED] = {"TLS_EXPIRED", false,
                             "The server certificate has expired (or is not yet valid): renew it "
                             "on the Exchange server."},
    [EXS_CAT_CREDENTIALS] =
        {"CREDENTIALS", false,
         "Exchange refused the profile's credentials: check the user name, password and "
         "authentication protocol of the email server profile."},
    [EXS_CAT_MBX_CREDENTIALS] =
        {"MBX_CREDENTIALS", false,
         "The mailbox's own credentials are missing, not allowed or refused: set user and password "
         "on "
         "the mailbox and allow credential use, or use profile credentials."},
    [EXS_CAT_IMPERSONATION] =
        {"IMPERSONATION", false,
         "Grant the service account the ApplicationImpersonation role for this mailbox "
         "(New-ManagementRoleAssignment -Role ApplicationImpersonation)."},
    [EXS_CAT_MAILBOX_NOT_FOUND] = {"MAILBOX_NOT_FOUND", false,
                                   "Exchange has no mailbox for this address: check the email "
                                   "address of the mailbox record."},
    [EXS_CAT_ACCESS_DENIED] = {"ACCESS_DENIED", false,
                               "The account lacks rights on the mailbox folder: grant full access "
                               "or folder permissions."},
    [EXS_CAT_THROTTLED] = {"THROTTLED", true,
                           "Exchange is throttling this account: lower the profile's maximum "
                           "concurrent connections or "
                           "raise the EWS throttling policy; the test is retried automatically."},
    [EXS_CAT_SERVER] = {"SERVER", true,
                        "Exchange answered with a server error: check the Exchange server's event "
                        "log; the test is "
                        "retried automatically."},
    [EXS_CAT_TIMEOUT] =
        {"TIMEOUT", true,
         "Exchange did not answer in time: check server load and network, or raise the profile's "
         "connection timeout; the test is retried automatically."},
    [EXS_CAT_PROTOCOL] =
        {"PROTOCOL", false,
         "Exchange sent an answer exsync did not expect: check that the URL is an EWS endpoint "
         "(/EWS/Exchange.asmx) and not a proxy or login page; record it with exsync record."},
    [EXS_CAT_ACT_OTHER_ORG] = {"ACT_OTHER_ORG", false,
                               "This mailbox syncs appointments, contacts and tasks with another "
                               "organization: run Test & "
                               "Enable with --this-org-only (sync-org-only) to take it over."},
    [EXS_CAT_ACT_DELEGATION] =
        {"ACT_DELEGATION", false,
         "Appointments, contacts and tasks need impersonation: set use impersonation = yes on the "
         "profile, or use the mailbox's own credentials."},
    [EXS_CAT_KERBEROS] =
        {"KERBEROS", false,
         "Kerberos failed for a reason named in the message (SPN, clock skew, KDC, service "
         "ticket): fix it in the domain, or use the NTLM protocol."},
    [EXS_CAT_TEST_OK] = {"TEST_OK", false, ""},
};

void exs_error_clear(struct exs_error *err)
{
  if(err)
    memset(err, 0, sizeof(*err));
}

void exs_error_set(struct exs_error *err, enum exs_category cat, const char *fmt, ...)
{
  va_list ap;

  if(!err)
    return;
  if(cat < 0 || cat >= EXS_CAT_COUNT)
    cat = EXS_CAT_PROTOCOL;
  err->category = cat;
  err->transient = categories[cat].transient;
  snprintf(err->hint, sizeof(err->hint), "%s", categories[cat].hint);
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof(err->message), fmt, ap);
  va_end(ap);
}

void exs_error_step(struct exs_error *err, const char *step)
{
  if(err)
    snprintf(err->step, sizeof(err->step), "%s", step);
}

const char *exs_category_name(enum exs_category cat)
{
  if(cat < 0 || cat >= EXS_CAT_COUNT)
    return "UNKNOWN";
  return categories[cat].name;
}

enum exs_category exs_category_from_name(const char *name)
{
  int i;

  for(i = 1; name && i < EXS_CAT_COUNT; i++)
    if(!strcmp(categories[i].name, name))
      return (enum exs_category)i;
  return EXS_CAT_NONE;
}

bool exs_category_transient(enum exs_category cat)
{
  return cat > 0 && cat < EXS_CAT_COUNT && categories[cat].transient;
}

const char *exs_category_hint(enum exs_category cat)
{
  if(cat < 0 || cat >= EXS_CAT_COUNT)
    return "";
  return categories[cat].hint;
}

enum exs_category exs_category_from_ews_code(const char *code)
{
  /* each category with the EWS response codes that mean it */
  static const struct {
    enum exs_category cat;
    const char *codes[6];
  } map[] = {
      {EXS_CAT_THROTTLED,
       {"ErrorServerBusy", "ErrorExceededConnectionCount", "ErrorTooManyObjectsOpened"}},
      {EXS_CAT_TIMEOUT, {"ErrorTimeoutExpired"}},
      {EXS_CAT_SERVER,
       {"ErrorInternalServerTransientError", "ErrorInternalServerError", "ErrorConnectionFailed",
        "ErrorMailboxMoveInProgress", "ErrorMailboxStoreUnavailable"}},
      {EXS_CAT_ACCESS_DENIED, {"ErrorAccessDenied", "ErrorFolderNotFound", "ErrorSendAsDenied"}},
      {EXS_CAT_IMPERSONATION,
       {"ErrorImpersonateUserDenied", "ErrorImpersonationDenied", "ErrorImpersonationFailed"}},
      {EXS_CAT_MAILBOX_NOT_FOUND, {"ErrorNonExistentMailbox"}},
  };
  size_t i, k;

  for(i = 0; code && i < sizeof(map) / sizeof(map[0]); i++)
    for(k = 0; k < sizeof(map[i].codes) / sizeof(map[i].codes[0]) && map[i].codes[k]; k++)
      if(!strcmp(map[i].codes[k], code))
        return map[i].cat;
  return EXS_CAT_PROTOCOL;
}
