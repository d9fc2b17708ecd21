/* model.c - the CRM-side model: defaults, validation and code names.
 *
 * Invariants: every rejection names the org-file attribute (struct
 * exs_invalid.field) and the rule, in the words of docs/org-file.md. The
 * code tables below are the only place the product's integer codes meet
 * their org-file spellings.
 */
#include "exsync/model.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "exsync/error.h"

/* ---- code <-> name tables ---------------------------------------------- */

struct code_name {
  int code;
  const char *name;
};

static const struct code_name retrieval_names[] = {{EXS_RETRIEVAL_USER, "user"},
                                                   {EXS_RETRIEVAL_PROFILE, "profile"},
                                                   {EXS_RETRIEVAL_WINDOWS, "windows"},
                                                   {EXS_RETRIEVAL_ANONYMOUS, "anonymous"},
                                                   {0, NULL}};
static const struct code_name protocol_names[] = {{EXS_AUTH_AUTODETECT, "autodetect"},
                                                  {EXS_AUTH_NEGOTIATE, "negotiate"},
                                                  {EXS_AUTH_NTLM, "ntlm"},
                                                  {EXS_AUTH_BASIC, "basic"},
                                                  {0, NULL}};
static const struct code_name incoming_names[] = {{EXS_IN_NONE, "none"},
                                                  {EXS_IN_OUTLOOK, "outlook"},
                                                  {EXS_IN_SSYNC, "ssync"},
                                                  {EXS_IN_FORWARD, "forward"},
                                                  {0, NULL}};
static const struct code_name outgoing_names[] = {
    {EXS_OUT_NONE, "none"}, {EXS_OUT_OUTLOOK, "outlook"}, {EXS_OUT_SSYNC, "ssync"}, {0, NULL}};
static const struct code_name act_names[] = {
    {EXS_ACT_OUTLOOK, "outlook"}, {EXS_ACT_SSYNC, "ssync"}, {EXS_ACT_NONE, "none"}, {0, NULL}};
static const struct code_name approval_names[] = {{EXS_APPROVAL_EMPTY, "empty"},
                                                  {EXS_APPROVAL_APPROVED, "approved"},
                                                  {EXS_APPROVAL_PENDING, "pending"},
                                                  {EXS_APPROVAL_REJECTED, "rejected"},
                                                  {0, NULL}};
static const struct code_name status_names[] = {{EXS_STATUS_NOT_RUN, "Not Run"},
                                                {EXS_STATUS_SUCCESS, "Success"},
                                                {EXS_STATUS_FAILURE, "Failure"},
                                                {0, NULL}};
static const struct code_name track_names[] = {
    {EXS_TRACK_RESPONSES, "responses"}, {EXS_TRACK_ALL, "all"}, {0, NULL}};

static const char *table_name(const struct code_name *t, int code)
{
  for(; t->name; t++)
    if(t->code == code)
      return t->name;
  return "unknown";
}

static int table_parse(const struct code_name *t, const char *s)
{
  if(!s)
    return -1;
  for(; t->name; t++)
    if(!strcmp(t->name, s))
      return t->code;
  return -1;
}

static bool table_has(const struct code_name *t, int code)
{
  for(; t->name; t++)
    if(t->code == code)
      return true;
  return false;
}

/* exs_KIND_name and exs_KIND_parse (model.h) for each table KIND_names */
#define NAME_AND_PARSE(kind)                                                                       \
  const char *exs_##kind##_name(int code)                                                          \
  {                                                                                                \
    return table_name(kind##_names, code);                                                         \
  }                                                                                                \
  int exs_##kind##_parse(const char *s)                                                            \
  {                                                                                                \
    return table_parse(kind##_names, s);                                                           \
  }
NAME_AND_PARSE(retrieval)
NAME_AND_PARSE(protocol)
NAME_AND_PARSE(incoming)
NAME_AND_PARSE(outgoing)
NAME_AND_PARSE(act)
NAME_AND_PARSE(approval)
NAME_AND_PARSE(status)
NAME_AND_PARSE(track)
#undef NAME_AND_PARSE

const char *exs_workload_name(enum exs_workload w)
{
  switch(w) {
  case EXS_WL_INCOMING:
    return "incoming";
  case EXS_WL_OUTGOING:
    return "outgoing";
  case EXS_WL_ACT:
    return "act";
  default:
    return "unknown";
  }
}

int exs_bool_parse(const char *s)
{
  if(!s)
    return -1;
  if(!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "1"))
    return 1;
  if(!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "0"))
    return 0;
  return -1;
}

/* ---- defaults ------------------------------------------------------------ */

void exs_org_defaults(struct exs_org *org)
{
  memset(org, 0, sizeof(*org));
  org->default_incoming = EXS_IN_SSYNC;
  org->default_outgoing = EXS_OUT_SSYNC;
  org->default_act = EXS_ACT_SSYNC;
  org->approve_users = true;
  org->approve_queues = true;
  org->alerts_errors = true;
  org->alerts_warnings = false;
  org->alerts_information = true;
  org->notify_owners = false;
  org->ignore_internal = false;
  snprintf(org->tracking_prefix, sizeof(org->tracking_prefix), "%s", "CRM:");
}

void exs_profile_defaults(struct exs_profile *p)
{
  memset(p, 0, sizeof(*p));
  p->autodiscover = false;
  p->same_outgoing = true;
  p->retrieval = EXS_RETRIEVAL_PROFILE;
  p->impersonation = false;
  p->protocol = EXS_AUTH_AUTODETECT;
  p->poll_minutes = 0;
  p->max_connections = 10;
  p->move_undeliverable = false;
  p->timeout_enabled = true;
  p->timeout_ms = 100000;
  p->out_retrieval = EXS_RETRIEVAL_PROFILE;
  p->out_impersonation = false;
  p->out_protocol = EXS_AUTH_AUTODETECT;
}

void exs_mailbox_defaults(struct exs_mailbox *m)
{
  memset(m, 0, sizeof(*m));
  m->active = true;
  m->incoming = EXS_IN_SSYNC;
  m->outgoing = EXS_OUT_SSYNC;
  m->act = EXS_ACT_SSYNC;
  m->approval = EXS_APPROVAL_EMPTY;
  m->allow_credentials = false;
  m->track = EXS_TRACK_RESPONSES;
  /* Test & Enable results: Not Run, not enabled (docs/test-enable.md). */
}

/* ---- syntax checks ------------------------------------------------------- */

static bool atext(int c)
{
  return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

bool exs_address_valid(const char *a)
{
  const char *at, *p, *label;
  size_t n;

  if(!a || !*a || strlen(a) > EXS_ADDRESS_MAX)
    return false;
  at = strchr(a, '@');
  if(!at || strchr(at + 1, '@'))
    return false;
  n = (size_t)(at - a);
  if(n < 1 || n > 64 || a[0] == '.' || at[-1] == '.')
    return false;
  for(p = a; p < at; p++) {
    if(*p == '.') {
      if(p[1] == '.')
        return false;
    }
    else if(!atext((unsigned char)*p))
      return false;
  }
  p = at + 1;
  if(!*p || strlen(p) > 255)
    return false;
  label = p;
  for(;; p++) {
    if(*p == '.' || !*p) {
      n = (size_t)(p - label);
      if(n < 1 || n > 63 || label[0] == '-' || p[-1] == '-')
        return false;
      if(!*p)
        break;
      label = p + 1;
    }
    else if(!isalnum((unsigned char)*p) && *p != '-')
      return false;
  }
  return true;
}

bool exs_url_valid(const char *url)
{
  const char *p;

  if(!url || strlen(url) > EXS_URL_MAX)
    return false;
  if(!strncasecmp(url, "https://", 8))
    p = url + 8;
  else if(!strncasecmp(url, "http://", 7))
    p = url + 7;
  else
    return false;
  if(!*p || *p == '/' || *p == ':' || *p == '?' || *p == '#')
    return false;
  for(; *p; p++)
    if((unsigned char)*p <= ' ' || *p == 0x7f)
      return false;
  return true;
}

/* ---- validation ---------------------------------------------------------- */

static int invalid(struct exs_invalid *inv, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int invalid(struct exs_invalid *inv, const char *field, const char *fmt, ...)
{
  va_list ap;

  if(inv) {
    snprintf(inv->field, sizeof(inv->field), "%s", field);
    va_start(ap, fmt);
    vsnprintf(inv->rule, sizeof(inv->rule), fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* Length of a fixed field, bounded by its buffer (unterminated counts as too long). */
#define FIELD_LEN(f) strnlen((f), sizeof(f))

static int check_len(struct exs_invalid *inv, const char *field, size_t len, size_t max)
{
  if(len > max)
    return invalid(inv, field, "must be at most %zu characters", max);
  return 0;
}

static int check_range(struct exs_invalid *inv, const char *field, long v, long lo, long hi)
{
  if(v < lo || v > hi)
    return invalid(inv, field, "must be between %ld and %ld", lo, hi);
  return 0;
}

static int check_url(struct exs_invalid *inv, const char *field, const char *url, size_t len)
{
  if(check_len(inv, field, len, EXS_URL_MAX))
    return -1;
  if(*url && !exs_url_valid(url))
    return invalid(inv, field, "must be an http:// or https:// URL");
  return 0;
}

int exs_org_validate(const struct exs_org *org, struct exs_invalid *inv)
{
  if(check_len(inv, "id", FIELD_LEN(org->id), sizeof(org->id) - 1))
    return -1;
  if(check_len(inv, "default-profile", FIELD_LEN(org->default_profile), EXS_NAME_MAX))
    return -1;
  if(!table_has(incoming_names, org->default_incoming))
    return invalid(inv, "default-incoming", "must be none, outlook, ssync or forward");
  if(!table_has(outgoing_names, org->default_outgoing))
    return invalid(inv, "default-outgoing", "must be none, outlook or ssync");
  if(!table_has(act_names, org->default_act))
    return invalid(inv, "default-act", "must be outlook, ssync or none");
  if(check_len(inv, "tracking-prefix", FIELD_LEN(org->tracking_prefix), EXS_TRACKING_PREFIX_MAX))
    return -1;
  if(check_len(inv, "ldap", FIELD_LEN(org->ldap), EXS_URL_MAX) ||
     check_len(inv, "ldap-site", FIELD_LEN(org->ldap_site), EXS_NAME_MAX))
    return -1;
  if(org->ldap[0] && strncasecmp(org->ldap, "ldap://", 7) && strncasecmp(org->ldap, "ldaps://", 8))
    return invalid(inv, "ldap", "must be an ldap:// or ldaps:// URI");
  return 0;
}

int exs_profile_validate(struct exs_profile *p, struct exs_invalid *inv)
{
  size_t in_len, out_len;

  if(!p->name[0])
    return invalid(inv, "name", "is required");
  if(check_len(inv, "name", FIELD_LEN(p->name), EXS_NAME_MAX) ||
     check_len(inv, "description", FIELD_LEN(p->description), EXS_DESCRIPTION_MAX))
    return -1;
  in_len = FIELD_LEN(p->incoming_url);
  if(check_url(inv, "incoming-url", p->incoming_url, in_len))
    return -1;
  /* the outgoing location defaults to the incoming one; it is its own
   * setting whatever same-outgoing says (docs/org-file.md) */
  if(!p->outgoing_url[0] && in_len <= EXS_URL_MAX)
    memcpy(p->outgoing_url, p->incoming_url, in_len + 1);
  out_len = FIELD_LEN(p->outgoing_url);
  if(check_url(inv, "outgoing-url", p->outgoing_url, out_len))
    return -1;
  if(!p->autodiscover) {
    if(!p->incoming_url[0])
      return invalid(inv, "incoming-url", "is required when autodiscover is no");
    if(!p->outgoing_url[0])
      return invalid(inv, "outgoing-url", "is required when autodiscover is no");
  }
  if(p->retrieval == EXS_RETRIEVAL_ANONYMOUS)
    return invalid(inv, "authenticate-using",
                   "anonymous (4) is not a valid setting for an Exchange profile");
  if(p->retrieval != EXS_RETRIEVAL_USER && p->retrieval != EXS_RETRIEVAL_PROFILE &&
     p->retrieval != EXS_RETRIEVAL_WINDOWS)
    return invalid(inv, "authenticate-using", "must be user, profile or windows");
  if(check_len(inv, "user", FIELD_LEN(p->user), EXS_USER_MAX) ||
     check_len(inv, "password", FIELD_LEN(p->password), EXS_PASSWORD_MAX))
    return -1;
  if(!table_has(protocol_names, p->protocol))
    return invalid(inv, "protocol", "must be autodetect, negotiate, ntlm or basic");
  if(p->same_outgoing) {
    p->out_retrieval = p->retrieval;
    p->out_impersonation = p->impersonation;
    p->out_protocol = p->protocol;
    memcpy(p->out_user, p->user, sizeof(p->out_user));
    memcpy(p->out_password, p->password, sizeof(p->out_password));
  }
  else {
    if(p->out_retrieval == EXS_RETRIEVAL_ANONYMOUS)
      return invalid(inv, "outgoing-authenticate-using",
                     "anonymous (4) is not a valid setting for an Exchange profile");
    if(p->out_retrieval != EXS_RETRIEVAL_USER && p->out_retrieval != EXS_RETRIEVAL_PROFILE &&
       p->out_retrieval != EXS_RETRIEVAL_WINDOWS)
      return invalid(inv, "outgoing-authenticate-using", "must be user, profile or windows");
    if(check_len(inv, "outgoing-user", FIELD_LEN(p->out_user), EXS_USER_MAX) ||
       check_len(inv, "outgoing-password", FIELD_LEN(p->out_password), EXS_PASSWORD_MAX))
      return -1;
    if(!table_has(protocol_names, p->out_protocol))
      return invalid(inv, "outgoing-protocol", "must be autodetect, negotiate, ntlm or basic");
  }
  if(check_range(inv, "poll-minutes", p->poll_minutes, 0, 1440) ||
     check_range(inv, "max-connections", p->max_connections, 1, 300) ||
     check_range(inv, "timeout-ms", p->timeout_ms, 0, 100000))
    return -1;
  if(FIELD_LEN(p->owner) > EXS_ADDRESS_MAX || (p->owner[0] && !exs_address_valid(p->owner)))
    return invalid(inv, "owner", "must be an email address (local@domain)");
  return 0;
}

int exs_mailbox_validate(const struct exs_mailbox *m, struct exs_invalid *inv)
{
  if(!m->address[0])
    return invalid(inv, "address", "is required");
  if(FIELD_LEN(m->address) > EXS_ADDRESS_MAX || !exs_address_valid(m->address))
    return invalid(inv, "address", "must be an email address (local@domain)");
  if(check_len(inv, "name", FIELD_LEN(m->name), EXS_MAILBOX_NAME_MAX) ||
     check_len(inv, "profile", FIELD_LEN(m->profile), EXS_NAME_MAX))
    return -1;
  if(!table_has(incoming_names, m->incoming))
    return invalid(inv, "incoming", "must be none, outlook, ssync or forward");
  if(!table_has(outgoing_names, m->outgoing))
    return invalid(inv, "outgoing", "must be none, outlook or ssync");
  if(!table_has(act_names, m->act))
    return invalid(inv, "act", "must be outlook, ssync or none");
  if(!table_has(approval_names, m->approval))
    return invalid(inv, "approval", "must be approved, pending, rejected or empty");
  if(!table_has(track_names, m->track))
    return invalid(inv, "track", "must be all or responses");
  if(check_len(inv, "user", FIELD_LEN(m->user), EXS_USER_MAX) ||
     check_len(inv, "password", FIELD_LEN(m->password), EXS_PASSWORD_MAX))
    return -1;
  return 0;
}

bool exs_mailbox_uses_ssync(const struct exs_mailbox *m, enum exs_workload w)
{
  switch(w) {
  case EXS_WL_INCOMING:
    return m->incoming == EXS_IN_SSYNC;
  case EXS_WL_OUTGOING:
    return m->outgoing == EXS_OUT_SSYNC;
  case EXS_WL_ACT:
    return m->act == EXS_ACT_SSYNC;
  default:
    return false;
  }
}

/* ---- the access decision ------------------------------------------------- */

int exs_access_for(const struct exs_profile *p, const struct exs_mailbox *m, enum exs_workload w,
                   struct exs_access *a, struct exs_error *err)
{
  /* same settings for outgoing: the incoming ones, whatever out_* hold */
  bool out = w == EXS_WL_OUTGOING && !p->same_outgoing;
  int retrieval = out ? p->out_retrieval : p->retrieval;
  const char *user = out ? p->out_user : p->user;
  const char *password = out ? p->out_password : p->password;
  const char *which = out ? "outgoing " : "";

  memset(a, 0, sizeof(*a));
  a->retrieval = retrieval;
  a->auth = (enum exs_auth_protocol)(out ? p->out_protocol : p->protocol);
  a->impersonation = out ? p->out_impersonation : p->impersonation;
  a->url = p->autodiscover                              ? ""
           : w == EXS_WL_OUTGOING && p->outgoing_url[0] ? p->outgoing_url
                                                        : p->incoming_url;
  exs_error_step(err, "credentials");
  switch(retrieval) {
  case EXS_RETRIEVAL_USER:
    a->mailbox_credentials = true;
    a->impersonation = false;
    if(!m->allow_credentials) {
      exs_error_set(err, EXS_CAT_MBX_CREDENTIALS,
                    "the profile uses the mailbox's credentials but mailbox %s does not allow "
                    "their use",
                    m->address);
      return -1;
    }
    if(!m->user[0] || !m->password[0]) {
      exs_error_set(err, EXS_CAT_MBX_CREDENTIALS, "mailbox %s has no user name and password",
                    m->address);
      return -1;
    }
    a->user = m->user;
    a->password = m->password;
    return 0;
  case EXS_RETRIEVAL_PROFILE:
    if(!user[0] || !password[0]) {
      exs_error_set(err, EXS_CAT_CREDENTIALS,
                    "email server profile '%s' has no %suser name and password", p->name, which);
      return -1;
    }
    a->user = user;
    a->password = password;
    return 0;
  case EXS_RETRIEVAL_WINDOWS:
    a->user = ""; /* the running identity: Negotiate/NTLM with default credentials */
    a->password = "";
    a->auth = EXS_AUTH_NEGOTIATE;
    return 0;
  default:
    exs_error_set(err, EXS_CAT_CONFIG, "%sauthenticate-using '%s' is not a valid setting", which,
                  exs_retrieval_name(retrieval));
    return -1;
  }
}

void exs_access_key(const struct exs_access *a, const char *url, char *buf, size_t len)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0, i;
  char hex[2 * 16 + 1] = "";

  /* a digest, not the password: keys may end up in logs while debugging */
  if(a->password && a->password[0] &&
     EVP_Digest(a->password, strlen(a->password), md, &mdlen, EVP_sha256(), NULL) == 1)
    for(i = 0; i < 16 && i < mdlen; i++)
      snprintf(hex + 2 * i, 3, "%02x", md[i]);
  snprintf(buf, len, "%s|%d|%d|%s|%s", url ? url : a->url, a->retrieval, (int)a->auth,
           a->user ? a->user : "", hex);
}

/* ---- what a change re-opens (docs/test-enable.md, Alerts, retry and disable)
 * ---------------------------------- */

void exs_mailbox_reset(struct exs_mailbox *m, unsigned mask)
{
  int w;

  for(w = 0; w < EXS_WL_COUNT; w++) {
    if(!(mask & EXS_WL_BIT(w)))
      continue;
    m->status[w] = EXS_STATUS_NOT_RUN;
    m->enabled[w] = false;
  }
}

unsigned exs_mailbox_reopen(const struct exs_mailbox *old, struct exs_mailbox *m)
{
  unsigned mask = 0;

  if(strcasecmp(old->address, m->address)) {
    mask = EXS_WL_ALL;
    m->approval = EXS_APPROVAL_EMPTY; /* a new address is approved again */
  }
  if(strcmp(old->profile, m->profile) || old->allow_credentials != m->allow_credentials ||
     strcmp(old->user, m->user) || strcmp(old->password, m->password))
    mask = EXS_WL_ALL;
  if(old->incoming != m->incoming)
    mask |= EXS_WL_BIT(EXS_WL_INCOMING);
  if(old->outgoing != m->outgoing)
    mask |= EXS_WL_BIT(EXS_WL_OUTGOING);
  if(old->act != m->act)
    mask |= EXS_WL_BIT(EXS_WL_ACT);
  exs_mailbox_reset(m, mask);
  if(old->approval == EXS_APPROVAL_APPROVED && m->approval != EXS_APPROVAL_APPROVED) {
    m->enabled[EXS_WL_INCOMING] = false;
    m->enabled[EXS_WL_OUTGOING] = false;
  }
  return mask;
}

unsigned exs_profile_reopens(const struct exs_profile *old, const struct exs_profile *p)
{
  unsigned mask = 0;
  bool ad = old->autodiscover != p->autodiscover;

  if(ad || strcmp(old->incoming_url, p->incoming_url) || old->retrieval != p->retrieval ||
     strcmp(old->user, p->user) || strcmp(old->password, p->password) ||
     old->impersonation != p->impersonation || old->protocol != p->protocol)
    mask |= EXS_WL_BIT(EXS_WL_INCOMING) | EXS_WL_BIT(EXS_WL_ACT);
  if(ad || strcmp(old->outgoing_url, p->outgoing_url) || old->out_retrieval != p->out_retrieval ||
     strcmp(old->out_user, p->out_user) || strcmp(old->out_password, p->out_password) ||
     old->out_impersonation != p->out_impersonation || old->out_protocol != p->out_protocol)
    mask |= EXS_WL_BIT(EXS_WL_OUTGOING);
  return mask;
}

/* ---- wiping -------------------------------------------------------------- */

void exs_profile_wipe(struct exs_profile *p)
{
  if(p) {
    OPENSSL_cleanse(p->password, sizeof(p->password));
    OPENSSL_cleanse(p->out_password, sizeof(p->out_password));
  }
}

void exs_mailbox_wipe(struct exs_mailbox *m)
{
  if(m)
    OPENSSL_cleanse(m->password, sizeof(m->password));
}

/* After the NUL: no text value ever puts it there, and a wipe clears it. */
static const char sealed_mark[] = "\x7f(sealed)";

void exs_password_mark_sealed(char *pw, size_t size)
{
  if(size < sizeof(sealed_mark) + 1)
    return;
  memset(pw, 0, size);
  memcpy(pw + 1, sealed_mark, sizeof(sealed_mark));
}

bool exs_password_is_sealed(const char *pw, size_t size)
{
  return size >= sizeof(sealed_mark) + 1 && !pw[0] &&
         !memcmp(pw + 1, sealed_mark, sizeof(sealed_mark));
}

void exs_access_http_options(const struct exs_access *a, const struct exs_org *org,
                             const struct exs_profile *p, struct exs_http_options *ho)
{
  /* the model's limits fit the transport's: nothing is cut here */
  _Static_assert(EXS_USER_MAX <= EXS_HTTP_USER_MAX && EXS_PASSWORD_MAX <= EXS_HTTP_PASSWORD_MAX,
                 "credential sizes");
  ho->auth = a->auth;
  exs_http_options_set_credentials(ho, a->user, a->password);
  ho->allow_credentials_non_secure = org->allow_credentials_non_secure;
  ho->allow_basic_non_secure = org->allow_basic_non_secure;
  ho->allow_non_ssl = org->allow_non_ssl;
  if(p->timeout_enabled && p->timeout_ms > 0) {
    ho->timeout_ms = p->timeout_ms;
    ho->connect_timeout_ms = p->timeout_ms < 10000 ? p->timeout_ms : 10000;
  }
}
