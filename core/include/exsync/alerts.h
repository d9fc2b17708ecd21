/* exsync/alerts.h - alerts of the mailbox and profile walls.
 *
 * An alert is a plain value struct (no pointers; copy with '='). The store
 * (store.h) writes and lists them; Test & Enable and sync make them from a
 * struct exs_error. A field that does not apply is "" (text) or 0 (numbers)
 * here and NULL in the store and in JSON reports.
 */
#ifndef EXSYNC_ALERTS_H
#define EXSYNC_ALERTS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "exsync/error.h"
#include "exsync/model.h"

enum exs_severity { EXS_SEV_ERROR = 0, EXS_SEV_WARNING = 1, EXS_SEV_INFORMATION = 2 };

struct exs_alert {
  int64_t id; /* store row id, 0 when not stored */
  time_t time;
  char mailbox[EXS_ADDRESS_MAX + 1]; /* mailbox address, "" for none */
  char profile[EXS_NAME_MAX + 1];    /* profile name, "" for none */
  enum exs_severity severity;
  enum exs_category category;
  bool transient;
  char message[512];
  char hint[384];
  char ews_code[64]; /* "" for none */
  long http_status;  /* 0 for none */
  char url[512];     /* "" for none */
};

/* "error", "warning", "information" ("unknown" for other values). */
const char *exs_severity_name(enum exs_severity s);
/* The reverse; -1 when unknown. */
int exs_severity_parse(const char *s);

/* Fill a from err: category, transient, message, hint, ews_code, http_status,
 * url; severity Warning for a transient error, Error otherwise
 * (docs/test-enable.md, Errors); time = t; mailbox and profile copied when not NULL. */
void exs_alert_from_error(struct exs_alert *a, const struct exs_error *err, time_t t,
                          const char *mailbox, const char *profile);

/* Whether the org's generate-alerts flags let an alert of this severity be
 * written to the alert wall (reports list every alert regardless). */
bool exs_alert_wanted(const struct exs_org *org, enum exs_severity s);

#endif
