/* model_fields.c - the field descriptors of fields.h: the org settings, the
 * profile and the mailbox, each member once.
 *
 * The order of a table is the order of the org-file listing and of the JSON
 * output (docs/org-file.md, docs/json/); the store does not care about it.
 */
#include "exsync/fields.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "exsync/clock.h"

/* ---- code names ---------------------------------------------------------- */

static const char *kind_name(int code)
{
  return code ? "queue" : "user";
}

static int kind_parse(const char *s)
{
  return !strcmp(s, "user") ? 0 : !strcmp(s, "queue") ? 1 : -1;
}

static const struct exs_codes kind_codes = {kind_name, kind_parse, "user or queue"};
static const struct exs_codes incoming_codes = {exs_incoming_name, exs_incoming_parse,
                                                "none, outlook, ssync or forward"};
static const struct exs_codes outgoing_codes = {exs_outgoing_name, exs_outgoing_parse,
                                                "none, outlook or ssync"};
static const struct exs_codes act_codes = {exs_act_name, exs_act_parse, "none, outlook or ssync"};
static const struct exs_codes approval_codes = {exs_approval_name, exs_approval_parse,
                                                "approved, pending, rejected or empty"};
static const struct exs_codes track_codes = {exs_track_name, exs_track_parse, "all or responses"};
static const struct exs_codes retrieval_codes = {exs_retrieval_name, exs_retrieval_parse,
                                                 "user, profile or windows"};
static const struct exs_codes protocol_codes = {exs_protocol_name, exs_protocol_parse,
                                                "autodetect, negotiate, ntlm or basic"};
static const struct exs_codes status_codes = {exs_status_name, exs_status_parse,
                                              "Not Run, Success or Failure"};

/* ---- the tables ---------------------------------------------------------- */

#define MSIZE(S, m) sizeof(((struct S *)0)->m)
/* F: any field. A: an org-file attribute, printed in JSON under its name. */
#define NAME(m) #m
#define F(S, t, m, c, a, j, mx, cd, fl)                                                            \
  {                                                                                                \
    .member = NAME(m), .type = EXS_FT_##t, .off = offsetof(struct S, m), .size = MSIZE(S, m),      \
    .col = c, .attr = a, .json = j, .max = mx, .codes = cd, .flags = fl                            \
  }
#define A(S, t, m, col, attr, max, codes, fl) F(S, t, m, col, attr, attr, max, codes, fl)
#define TMAX(S, m) (MSIZE(S, m) - 1)

#define ORG(t, m, col, attr, max, codes) A(exs_org, t, m, col, attr, max, codes, 0)

static const struct exs_field org_fields[] = {
    A(exs_org, TEXT, id, "org_id", "id", TMAX(exs_org, id), NULL, EXS_FIELD_ROOT),
    ORG(BOOL, approve_users, "approve_users", "approve-users", 0, NULL),
    ORG(BOOL, approve_queues, "approve_queues", "approve-queues", 0, NULL),
    ORG(TEXT, default_profile, "default_profile", "default-profile", EXS_NAME_MAX, NULL),
    ORG(BOOL, alerts_errors, "alerts_errors", "alerts-errors", 0, NULL),
    ORG(BOOL, alerts_warnings, "alerts_warnings", "alerts-warnings", 0, NULL),
    ORG(BOOL, alerts_information, "alerts_information", "alerts-information", 0, NULL),
    ORG(BOOL, allow_credentials_non_secure, "allow_credentials_non_secure",
        "allow-credentials-non-secure", 0, NULL),
    ORG(BOOL, allow_basic_non_secure, "allow_basic_non_secure", "allow-basic-non-secure", 0, NULL),
    ORG(BOOL, allow_non_ssl, "allow_non_ssl", "allow-non-ssl", 0, NULL),
    ORG(BOOL, notify_owners, "notify_owners", "notify-owners", 0, NULL),
    ORG(BOOL, ignore_internal, "ignore_internal", "ignore-internal", 0, NULL),
    ORG(TEXT, tracking_prefix, "tracking_prefix", "tracking-prefix", EXS_TRACKING_PREFIX_MAX, NULL),
    ORG(ENUM, default_incoming, "default_incoming", "default-incoming", 0, &incoming_codes),
    ORG(ENUM, default_outgoing, "default_outgoing", "default-outgoing", 0, &outgoing_codes),
    ORG(ENUM, default_act, "default_act", "default-act", 0, &act_codes),
    ORG(TEXT, ldap, "ldap", "ldap", EXS_URL_MAX, NULL),
    ORG(TEXT, ldap_site, "ldap_site", "ldap-site", EXS_NAME_MAX, NULL),
};

#define PRO(t, m, col, attr, max, codes, fl) A(exs_profile, t, m, col, attr, max, codes, fl)

static const struct exs_field profile_fields[] = {
    F(exs_profile, ROWID, id, "id", NULL, NULL, 0, NULL, 0),
    PRO(TEXT, name, "name", "name", EXS_NAME_MAX, NULL, EXS_FIELD_KEY),
    PRO(TEXT, description, "description", "description", EXS_DESCRIPTION_MAX, NULL, 0),
    PRO(BOOL, autodiscover, "autodiscover", "autodiscover", 0, NULL, 0),
    PRO(TEXT, incoming_url, "incoming_url", "incoming-url", EXS_URL_MAX, NULL, 0),
    PRO(TEXT, outgoing_url, "outgoing_url", "outgoing-url", EXS_URL_MAX, NULL, 0),
    PRO(BOOL, same_outgoing, "same_outgoing", "same-outgoing", 0, NULL, 0),
    PRO(ENUM, retrieval, "retrieval", "authenticate-using", 0, &retrieval_codes, 0),
    PRO(BOOL, impersonation, "impersonation", "impersonation", 0, NULL, 0),
    PRO(ENUM, protocol, "protocol", "protocol", 0, &protocol_codes, 0),
    PRO(TEXT, user, "user_name", "user", EXS_USER_MAX, NULL, 0),
    PRO(TEXT, password, "password_enc", "password", EXS_PASSWORD_MAX, NULL, EXS_FIELD_SECRET),
    PRO(TIME, process_from, "process_from", "process-from", 0, NULL, 0),
    PRO(INT, poll_minutes, "poll_minutes", "poll-minutes", 0, NULL, 0),
    PRO(INT, max_connections, "max_connections", "max-connections", 0, NULL, 0),
    PRO(BOOL, move_undeliverable, "move_undeliverable", "move-undeliverable", 0, NULL, 0),
    PRO(BOOL, timeout_enabled, "timeout_enabled", "timeout-enabled", 0, NULL, 0),
    PRO(INT, timeout_ms, "timeout_ms", "timeout-ms", 0, NULL, 0),
    PRO(TEXT, owner, "owner", "owner", EXS_ADDRESS_MAX, NULL, 0),
    PRO(ENUM, out_retrieval, "out_retrieval", "outgoing-authenticate-using", 0, &retrieval_codes,
        EXS_FIELD_OUTGOING),
    PRO(BOOL, out_impersonation, "out_impersonation", "outgoing-impersonation", 0, NULL,
        EXS_FIELD_OUTGOING),
    PRO(ENUM, out_protocol, "out_protocol", "outgoing-protocol", 0, &protocol_codes,
        EXS_FIELD_OUTGOING),
    PRO(TEXT, out_user, "out_user_name", "outgoing-user", EXS_USER_MAX, NULL, EXS_FIELD_OUTGOING),
    PRO(TEXT, out_password, "out_password_enc", "outgoing-password", EXS_PASSWORD_MAX, NULL,
        EXS_FIELD_SECRET | EXS_FIELD_OUTGOING),
};

#define MBX(t, m, col, attr, max, codes, fl) A(exs_mailbox, t, m, col, attr, max, codes, fl)
/* Test & Enable results and sync state: no attribute, a JSON member or none;
 * their texts take their buffer's limit. */
#define RES(t, m, col, json, fl) F(exs_mailbox, t, m, col, NULL, json, 0, NULL, fl)
#define RES_TEXT(m, col, json, fl)                                                                 \
  F(exs_mailbox, TEXT, m, col, NULL, json, TMAX(exs_mailbox, m), NULL, fl)
#define WL(t, m, w, col, json, codes) F(exs_mailbox, t, m[w], col, NULL, json, 0, codes, BOTH)
#define RESULT EXS_FIELD_RESULT
#define RESULT_D (EXS_FIELD_RESULT | EXS_FIELD_DETAIL)
#define RUNTIME_D (EXS_FIELD_RUNTIME | EXS_FIELD_DETAIL)
#define BOTH (EXS_FIELD_RESULT | EXS_FIELD_RUNTIME) /* Test & Enable and the sync engine */
#define BOTH_D (BOTH | EXS_FIELD_DETAIL)

static const struct exs_field mailbox_fields[] = {
    F(exs_mailbox, ROWID, id, "id", NULL, NULL, 0, NULL, 0),
    MBX(TEXT, address, "address", "address", EXS_ADDRESS_MAX, NULL, EXS_FIELD_KEY),
    MBX(TEXT, name, "name", "name", EXS_MAILBOX_NAME_MAX, NULL, 0),
    MBX(BOOL, is_queue, "is_queue", "kind", 0, &kind_codes, 0),
    MBX(BOOL, active, "active", "active", 0, NULL, 0),
    MBX(TEXT, profile, "profile", "profile", EXS_NAME_MAX, NULL, 0),
    MBX(ENUM, incoming, "incoming", "incoming", 0, &incoming_codes, 0),
    MBX(ENUM, outgoing, "outgoing", "outgoing", 0, &outgoing_codes, 0),
    MBX(ENUM, act, "act", "act", 0, &act_codes, 0),
    MBX(ENUM, approval, "approval", "approval", 0, &approval_codes, 0),
    MBX(BOOL, allow_credentials, "allow_credentials", "allow-credentials", 0, NULL, 0),
    MBX(BOOL, sync_org_only, "sync_org_only", "sync-org-only", 0, NULL, 0),
    MBX(ENUM, track, "track", "track", 0, &track_codes, 0),
    MBX(TIME, process_from, "process_from", "process-from", 0, NULL, 0),
    MBX(TEXT, user, "user_name", "user", EXS_USER_MAX, NULL, 0),
    MBX(TEXT, password, "password_enc", "password", EXS_PASSWORD_MAX, NULL, EXS_FIELD_SECRET),
    WL(ENUM, status, EXS_WL_INCOMING, "status_incoming", "status.incoming", &status_codes),
    WL(ENUM, status, EXS_WL_OUTGOING, "status_outgoing", "status.outgoing", &status_codes),
    WL(ENUM, status, EXS_WL_ACT, "status_act", "status.act", &status_codes),
    WL(BOOL, enabled, EXS_WL_INCOMING, "enabled_incoming", "enabled.incoming", NULL),
    WL(BOOL, enabled, EXS_WL_OUTGOING, "enabled_outgoing", "enabled.outgoing", NULL),
    WL(BOOL, enabled, EXS_WL_ACT, "enabled_act", "enabled.act", NULL),
    RES_TEXT(ews_url, "ews_url", "ews_url", RESULT_D),
    RES(TIME, autodiscovered_on, "autodiscovered_on", NULL, RESULT),
    RES(TIME, test_completed_on, "test_completed_on", "test_completed_on", RESULT_D),
    RES(INT, retry_count, "retry_count", "test_retry_count", RESULT_D),
    RES(INT, transient_failures, "transient_failures", "transient_failures", BOTH_D),
    RES(TIME, retry_at, "retry_at", "retry_at", BOTH_D),
    RES(INT, retry_interval_s, "retry_interval_s", NULL, RESULT),
    RES(INT, retry_max, "retry_max", NULL, RESULT),
    RES_TEXT(last_error_code, "last_error_code", "last_error.code", BOTH_D),
    RES_TEXT(last_error, "last_error", "last_error.message", BOTH_D),
    RES(INT, last_error_count, "last_error_count", "last_error.count", BOTH_D),
    RES(TIME, last_error_time, "last_error_time", NULL, BOTH),
    RES(TIME, last_sync_start, "last_sync_start", "last_sync_start", RUNTIME_D),
    RES(TIME, last_sync_success, "last_sync_success", "last_sync_success", RUNTIME_D),
    RES(INT, items_processed, "items_processed", "items_processed", RUNTIME_D),
    RES(INT, items_failed, "items_failed", "items_failed", RUNTIME_D),
    RES(TIME, postponed_until, "postponed_until", "postponed_until", RUNTIME_D),
    RES_TEXT(processing_host, "processing_host", "processing_host", RUNTIME_D),
};

/* same-outgoing="yes": the outgoing settings are copies, not listed */
static bool profile_hidden(const struct exs_field *f, const void *obj)
{
  return (f->flags & EXS_FIELD_OUTGOING) && ((const struct exs_profile *)obj)->same_outgoing;
}

#define NF(a) (sizeof(a) / sizeof((a)[0]))

const struct exs_desc exs_org_desc = {
    "org", "org", sizeof(struct exs_org), org_fields, NF(org_fields), NULL,
};
const struct exs_desc exs_profile_desc = {
    "profile",      "profiles",         sizeof(struct exs_profile),
    profile_fields, NF(profile_fields), profile_hidden,
};
const struct exs_desc exs_mailbox_desc = {
    "mailbox", "mailboxes", sizeof(struct exs_mailbox), mailbox_fields, NF(mailbox_fields), NULL,
};

/* ---- access -------------------------------------------------------------- */

const struct exs_field *exs_desc_key(const struct exs_desc *d)
{
  size_t i;

  for(i = 0; i < d->n; i++)
    if(d->fields[i].flags & EXS_FIELD_KEY)
      return &d->fields[i];
  return NULL;
}

const struct exs_field *exs_desc_attr(const struct exs_desc *d, const char *attr)
{
  size_t i;

  for(i = 0; i < d->n; i++)
    if(d->fields[i].attr && !strcmp(d->fields[i].attr, attr))
      return &d->fields[i];
  return NULL;
}

bool exs_field_shown(const struct exs_desc *d, const struct exs_field *f, const void *obj)
{
  return !d->hidden || !d->hidden(f, obj);
}

const char *exs_field_text(const struct exs_field *f, const void *obj, char *buf, size_t len)
{
  const char *p = (const char *)obj + f->off;
  char when[32];

  if(!len)
    return buf;
  buf[0] = 0;
  if(f->flags & EXS_FIELD_SECRET) {
    snprintf(buf, len, "%s",
             *p || exs_password_is_sealed(p, f->size) ? "(set, encrypted)" : "(not set)");
    return buf;
  }
  switch(f->type) {
  case EXS_FT_TEXT:
    snprintf(buf, len, "%.*s", (int)strnlen(p, f->size), p);
    break;
  case EXS_FT_INT:
    snprintf(buf, len, "%d", *(const int *)p);
    break;
  case EXS_FT_BOOL:
    snprintf(buf, len, "%s",
             f->codes           ? f->codes->name(*(const bool *)p)
             : *(const bool *)p ? "yes"
                                : "no");
    break;
  case EXS_FT_TIME:
    if(*(const time_t *)p)
      snprintf(buf, len, "%s", exs_time_iso(*(const time_t *)p, when, sizeof(when)));
    break;
  case EXS_FT_ENUM:
    snprintf(buf, len, "%s", f->codes->name(*(const int *)p));
    break;
  case EXS_FT_ROWID:
    snprintf(buf, len, "%lld", (long long)*(const int64_t *)p);
    break;
  case EXS_FT_STR:
    snprintf(buf, len, "%s", *(char *const *)p ? *(char *const *)p : "");
    break;
  case EXS_FT_SECS:
    snprintf(buf, len, "%lld", (long long)*(const time_t *)p);
    break;
  case EXS_FT_NAMED: {
    int v = *(const int *)p;
    snprintf(buf, len, "%s", v >= 0 && (size_t)v < f->n_names ? f->names[v] : "unknown");
    break;
  }
  }
  return buf;
}

void exs_desc_copy(const struct exs_desc *d, void *dst, const void *src, unsigned mask)
{
  size_t i;

  for(i = 0; i < d->n; i++)
    if(d->fields[i].flags & mask)
      memcpy((char *)dst + d->fields[i].off, (const char *)src + d->fields[i].off,
             d->fields[i].size);
}
