/* exsync/error.h - the one error type of libexsync.
 *
 * Every failure Test & Enable or sync can meet is described by a struct
 * exs_error: a category from docs/test-enable.md, Errors, whether it is transient, its
 * scope, the protocol facts (EWS response code, HTTP status, transport error,
 * URL, step) and a message plus a fix hint for the administrator. Functions
 * return 0 on success or a negative value and fill a caller-provided error.
 * Messages never contain secrets: callers pass only non-secret text.
 */
#ifndef EXSYNC_ERROR_H
#define EXSYNC_ERROR_H

#include <stdbool.h>

enum exs_category {
  EXS_CAT_NONE = 0,
  EXS_CAT_NOT_APPROVED,
  EXS_CAT_CONFIG,
  EXS_CAT_INSECURE_CHANNEL,
  EXS_CAT_AUTODISCOVER,
  EXS_CAT_DNS,
  EXS_CAT_CONNECT,
  EXS_CAT_TLS_TRUST,
  EXS_CAT_TLS_NAME,
  EXS_CAT_TLS_EXPIRED,
  EXS_CAT_CREDENTIALS,
  EXS_CAT_MBX_CREDENTIALS,
  EXS_CAT_IMPERSONATION,
  EXS_CAT_MAILBOX_NOT_FOUND,
  EXS_CAT_ACCESS_DENIED,
  EXS_CAT_THROTTLED,
  EXS_CAT_SERVER,
  EXS_CAT_TIMEOUT,
  EXS_CAT_PROTOCOL,
  EXS_CAT_ACT_OTHER_ORG,
  EXS_CAT_ACT_DELEGATION,
  EXS_CAT_KERBEROS,
  EXS_CAT_TEST_OK,
  EXS_CAT_COUNT
};

enum exs_scope { EXS_SCOPE_MAILBOX = 0, EXS_SCOPE_EMAIL, EXS_SCOPE_PROFILE };

struct exs_error {
  enum exs_category category;
  bool transient;
  enum exs_scope scope;
  char ews_code[64];   /* EWS ResponseCode / fault code, or Autodiscover code; "" if none */
  long http_status;    /* 0 when no HTTP answer was received */
  int transport_code;  /* libcurl CURLcode, 0 if none */
  char transport[160]; /* libcurl's error text, "" if none */
  char url[512];       /* the URL that failed, "" if none */
  char step[48];       /* the Test & Enable or sync step */
  char message[512];   /* what happened, for people */
  char hint[384];      /* how to fix it */
  long backoff_ms;     /* BackOffMilliseconds from the server, 0 if none */
};

/* Reset to "no error". */
void exs_error_clear(struct exs_error *err);
/* Set category, message, and the category's default transience and hint.
 * Protocol fields are left as they were so a caller can fill them first. */
void exs_error_set(struct exs_error *err, enum exs_category cat, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Copy a step name. */
void exs_error_step(struct exs_error *err, const char *step);

/* "CREDENTIALS" etc.; "NONE" for EXS_CAT_NONE. */
const char *exs_category_name(enum exs_category cat);
/* Parse a name; returns EXS_CAT_NONE when unknown. */
enum exs_category exs_category_from_name(const char *name);
/* Whether a category is transient by default (docs/test-enable.md, Errors). */
bool exs_category_transient(enum exs_category cat);
/* The default fix hint of a category (never NULL). */
const char *exs_category_hint(enum exs_category cat);

/* Map an EWS response code (ErrorServerBusy...) to a category. Unknown codes
 * map to PROTOCOL. */
enum exs_category exs_category_from_ews_code(const char *code);

#endif
