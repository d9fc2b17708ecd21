/* exsync/ews.h - the EWS client: SOAP envelopes, one function per operation,
 * response-code mapping.
 *
 * Two layers. Builders (exs_ews_build_*) write a request into a buffer and
 * parsers (exs_ews_parse_*) read an answer from bytes: neither does I/O, so
 * both are tested without sockets. The client (struct exs_ews) joins them to
 * an exs_http transport, adds X-AnchorMailbox, retries throttled requests per
 * SPEC.md section 3 and maps every failure to an exs_error.
 */
#ifndef EXSYNC_EWS_H
#define EXSYNC_EWS_H

#include <stdbool.h>
#include <stddef.h>

#include "exsync/buf.h"
#include "exsync/error.h"
#include "exsync/http.h"

#define EXS_NS_SOAP "http://schemas.xmlsoap.org/soap/envelope/"
#define EXS_NS_MSG "http://schemas.microsoft.com/exchange/services/2006/messages"
#define EXS_NS_TYPES "http://schemas.microsoft.com/exchange/services/2006/types"
#define EXS_NS_ERRORS "http://schemas.microsoft.com/exchange/services/2006/errors"

#define EXS_EWS_DEFAULT_VERSION "Exchange2013_SP1"

/* What goes into the SOAP header of every request. Strings are borrowed. */
struct exs_ews_context {
  const char *server_version; /* RequestServerVersion; NULL: EXS_EWS_DEFAULT_VERSION */
  const char *impersonate;    /* ExchangeImpersonation PrimarySmtpAddress; NULL: none */
};

/* A folder to address: a distinguished name ("inbox") or an id; mailbox
 * names another mailbox for delegate access (distinguished ids only). */
struct exs_ews_folder_ref {
  const char *distinguished;
  const char *id;
  const char *mailbox;
};

/* One GetFolder answer. */
struct exs_ews_folder {
  bool ok;                 /* ResponseClass Success */
  char response_code[64];  /* NoError or the error code */
  char message[256];
  char kind[32];           /* Folder, CalendarFolder, ContactsFolder, TasksFolder, SearchFolder */
  char id[512];
  char change_key[128];
  char display_name[256];
  char folder_class[64];
  long total_count;        /* -1 when absent */
  long unread_count;       /* -1 when absent */
};

/* ---- builders (no I/O). Return 0 or -1 (buffer cap / no memory). ---- */

/* Write the envelope start, header included, up to and including <soap:Body>. */
int exs_ews_envelope_begin(struct exs_buf *b, const struct exs_ews_context *ctx);
/* Close </soap:Body></soap:Envelope>. */
int exs_ews_envelope_end(struct exs_buf *b);
/* Write one folder reference element (t:DistinguishedFolderId or t:FolderId). */
int exs_ews_write_folder_ref(struct exs_buf *b, const struct exs_ews_folder_ref *ref);

/* GetFolder for n folders with IdOnly + DisplayName, FolderClass, TotalCount,
 * UnreadCount. */
int exs_ews_build_get_folder(struct exs_buf *b, const struct exs_ews_context *ctx,
                             const struct exs_ews_folder_ref *refs, size_t n);

/* ---- parsers (no I/O) ---- */

/* Parse an EWS answer, check it is a SOAP envelope, map a SOAP fault or an
 * HTTP error status to err, and return the <m:ResponseMessages> element of
 * the operation op ("GetFolder"). The document is returned in *doc (caller
 * frees with xmlFreeDoc) even on a fault, NULL on a parse failure.
 * Returns 0 or -1. */
struct _xmlDoc;
struct _xmlNode;
int exs_ews_parse_envelope(const char *body, size_t len, long http_status, const char *op,
                           struct _xmlDoc **doc, struct _xmlNode **messages,
                           struct exs_error *err);

/* Fill the error of one ResponseMessage whose ResponseClass is Error: code,
 * message, category, BackOffMilliseconds. Returns 0 when the message is a
 * Success or Warning, -1 when it is an Error. */
int exs_ews_message_status(struct _xmlNode *msg, struct exs_error *err);

/* Parse a GetFolder answer into out[0..n-1] (one per requested folder, in
 * order). Returns 0 when the envelope was usable (check each out[i].ok), or
 * -1 with err for request-level failures (fault, HTTP error, bad XML, fewer
 * answers than folders). */
int exs_ews_parse_get_folder(const char *body, size_t len, long http_status,
                             struct exs_ews_folder *out, size_t n, struct exs_error *err);

/* ---- the client (I/O through exs_http) ---- */

struct exs_ews;

struct exs_ews_options {
  const char *url;              /* EWS endpoint */
  struct exs_ews_context ctx;   /* copied */
  const char *anchor_mailbox;   /* X-AnchorMailbox; NULL: impersonated address if any */
  bool mailbox_credentials;     /* 401 means MBX_CREDENTIALS rather than CREDENTIALS */
  int max_throttle_retries;     /* 0: 3 (SPEC.md 3) */
  long max_throttle_wait_ms;    /* 0: 30000 */
};

/* Create a client over a borrowed transport (which must outlive it). */
struct exs_ews *exs_ews_new(struct exs_http *http, const struct exs_ews_options *opt);
void exs_ews_free(struct exs_ews *ews);

/* Send a built request for operation op and return the raw answer in resp
 * (caller initialises and frees it). Handles throttling retries. Returns 0 when
 * an HTTP answer that is not an HTTP-level failure came back, or -1 with err
 * (transport errors, 401, 503, 5xx without SOAP, redirects). SOAP faults are
 * left to the parser. */
int exs_ews_call(struct exs_ews *ews, const char *op, const struct exs_buf *request,
                 struct exs_http_response *resp, struct exs_error *err);

/* GetFolder, as exs_ews_build_get_folder + call + exs_ews_parse_get_folder. */
int exs_ews_get_folder(struct exs_ews *ews, const struct exs_ews_folder_ref *refs, size_t n,
                       struct exs_ews_folder *out, struct exs_error *err);

#endif
