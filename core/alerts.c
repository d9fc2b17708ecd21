/* alerts.c - alert values: severity names, conversion from errors, filters. */
#include "exsync/alerts.h"

#include <stdio.h>
#include <string.h>

static const char *const severity_names[] = {"error", "warning", "information"};

const char *exs_severity_name(enum exs_severity s)
{
  if((int)s < 0 || (int)s > EXS_SEV_INFORMATION)
    return "unknown";
  return severity_names[s];
}

int exs_severity_parse(const char *s)
{
  int i;

  for(i = 0; s && i <= EXS_SEV_INFORMATION; i++)
    if(!strcmp(severity_names[i], s))
      return i;
  return -1;
}

void exs_alert_from_error(struct exs_alert *a, const struct exs_error *err, time_t t,
                          const char *mailbox, const char *profile)
{
  memset(a, 0, sizeof(*a));
  a->time = t;
  if(mailbox)
    snprintf(a->mailbox, sizeof(a->mailbox), "%s", mailbox);
  if(profile)
    snprintf(a->profile, sizeof(a->profile), "%s", profile);
  a->category = err->category;
  a->transient = err->transient;
  if(err->category == EXS_CAT_TEST_OK || err->category == EXS_CAT_NONE)
    a->severity = EXS_SEV_INFORMATION;
  else
    a->severity = err->transient ? EXS_SEV_WARNING : EXS_SEV_ERROR;
  snprintf(a->message, sizeof(a->message), "%s", err->message);
  snprintf(a->hint, sizeof(a->hint), "%s", err->hint);
  snprintf(a->ews_code, sizeof(a->ews_code), "%s", err->ews_code);
  a->http_status = err->http_status;
  snprintf(a->url, sizeof(a->url), "%s", err->url);
}

bool exs_alert_wanted(const struct exs_org *org, enum exs_severity s)
{
  switch(s) {
  case EXS_SEV_ERROR:
    return org->alerts_errors;
  case EXS_SEV_WARNING:
    return org->alerts_warnings;
  case EXS_SEV_INFORMATION:
    return org->alerts_information;
  default:
    return false;
  }
}
