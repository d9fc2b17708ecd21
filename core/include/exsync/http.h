/* exsync/http.h - the HTTP transport of libexsync, on libcurl.
 *
 * One struct exs_http is one credential's connection cache: requests made
 * through it reuse its connections (NTLM authenticates a connection, so this
 * matters). It is not thread-safe: use one handle per worker.
 *
 * Safety rules enforced here, before any byte is sent:
 *  - TLS peer and host verification are always on.
 *  - An http:// URL is refused unless allow_non_ssl; credentials over http://
 *    are refused unless allow_credentials_non_secure; Basic over http:// is
 *    refused unless allow_basic_non_secure (deployment properties, docs/org-file.md).
 *  - Traces never see Authorization, NTLM/Negotiate blobs, cookies or the
 *    password: they are replaced by "<redacted>" before the trace hook runs.
 */
#ifndef EXSYNC_HTTP_H
#define EXSYNC_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "exsync/buf.h"
#include "exsync/error.h"

/* Profile authentication protocol, with the product's codes. */
enum exs_auth_protocol {
  EXS_AUTH_AUTODETECT = 0,
  EXS_AUTH_NEGOTIATE = 1,
  EXS_AUTH_NTLM = 2,
  EXS_AUTH_BASIC = 3
};

enum exs_trace_kind {
  EXS_TRACE_INFO,
  EXS_TRACE_REQ_HEADERS,
  EXS_TRACE_REQ_BODY,
  EXS_TRACE_RESP_HEADERS,
  EXS_TRACE_RESP_BODY
};

/* Receives redacted bytes; data is borrowed for the call only. */
typedef void (*exs_http_trace_fn)(void *ctx, enum exs_trace_kind kind, const char *data,
                                  size_t len);

/* The exchange hook (record and replay): when a transport's settings name
 * one, every exs_http_perform on it calls it once when it completes (answered or failed), from the
 * calling thread, with the whole exchange: the request headers and body of the last leg sent (after
 * any 401 authentication legs), the final status, response headers and body, and the elapsed time.
 * THE HOOK SEES SECRETS (Authorization values, the password given in password): it must pass
 * everything through the normaliser (exsync/normalize.h) before storing or printing it. Every
 * pointer is borrowed for the call only. fn must be thread-safe when
 * several workers perform requests. */
struct exs_http_exchange {
  const char *method;
  const char *url;
  const char *req_headers; /* raw block of the last leg, CRLF lines */
  size_t req_headers_len;
  const char *req_body;
  size_t req_body_len;
  long status;              /* 0 when no answer arrived */
  const char *resp_headers; /* raw block of the final answer, status line first */
  size_t resp_headers_len;
  const char *resp_body;
  size_t resp_body_len;
  long elapsed_ms;
  int legs;                      /* HTTP requests sent (authentication legs included) */
  const char *password;          /* the handle's password, NULL if none: scrub it */
  const struct exs_error *error; /* transport failure, NULL when answered */
};
typedef void (*exs_http_exchange_fn)(void *ctx, const struct exs_http_exchange *x);

/* The run's transport settings: how this run reaches servers whatever the
 * credential (--cacert, --resolve, --connect-to, --proxy, --noproxy, the
 * trace, the recorder's exchange hook, the User-Agent). The program fills
 * one for the run and passes it down by const pointer to everything that
 * opens a transport; exs_http_new copies what it needs. */
struct exs_transport {
  const char *cacert;         /* CA bundle file; NULL: system store */
  const char *const *resolve; /* "HOST:PORT:ADDR" entries, as curl --resolve */
  size_t n_resolve;
  const char *const *connect_to; /* "HOST:PORT:HOST2:PORT2", as curl --connect-to */
  size_t n_connect_to;
  const char *proxy;       /* --proxy URL; "" none; NULL: the environment's
                              (https_proxy, http_proxy, all_proxy), as curl */
  const char *noproxy;     /* hosts reached directly, as curl --noproxy */
  exs_http_trace_fn trace; /* redacted trace of every exchange; NULL: none */
  void *trace_ctx;
  exs_http_exchange_fn exchange; /* the whole exchange (record, replay); NULL: none */
  void *exchange_ctx;
  const char *user_agent; /* NULL: "exsync/VERSION" */
};

#define EXS_HTTP_USER_MAX 256
#define EXS_HTTP_PASSWORD_MAX 256

/* One transport's settings: the run's (by pointer) and what a workload's
 * credential decides. Every other member has a fixed size, so two settings
 * are the same exactly when their bytes are (exs_http_options_same): a new
 * member is compared without anyone having to remember it. Start with
 * exs_http_options_init (it zeroes the padding too); wipe with
 * exs_http_options_wipe (the password is held here). */
struct exs_http_options {
  const struct exs_transport *transport; /* the run's settings; NULL: none */
  enum exs_auth_protocol auth;
  bool credentials;                 /* authenticate as user with password; false: send none */
  char user[EXS_HTTP_USER_MAX + 1]; /* "" with credentials: the running identity */
  char password[EXS_HTTP_PASSWORD_MAX + 1];
  bool allow_credentials_non_secure; /* deployment properties */
  bool allow_basic_non_secure;
  bool allow_non_ssl;
  long connect_timeout_ms; /* 0: 10 s */
  long timeout_ms;         /* whole request; 0: 100 s */
  size_t max_body;         /* answer size cap; 0: 32 MiB */
};

/* Zero o and point it at the run's settings t (may be NULL). */
void exs_http_options_init(struct exs_http_options *o, const struct exs_transport *t);
/* Authenticate as user with password (copied into o). -1 when one of them
 * is too long (nothing set). */
int exs_http_options_set_credentials(struct exs_http_options *o, const char *user,
                                     const char *password);
/* Whether a and b are the same settings: every member, compared whole. */
bool exs_http_options_same(const struct exs_http_options *a, const struct exs_http_options *b);
/* Wipe o's password. */
void exs_http_options_wipe(struct exs_http_options *o);

struct exs_http_request {
  const char *method; /* "GET" or "POST" */
  const char *url;
  const char *content_type; /* POST only */
  const char *body;
  size_t body_len;
  const char *const *headers; /* extra "Name: value" lines */
  size_t n_headers;
  bool anonymous; /* send no credentials (Autodiscover redirect probe);
                     plain http is then allowed */
  bool no_resend; /* never sent twice by the transport: libcurl silently resends a
                     request whose reused connection died before any answer byte,
                     which must never happen to one that changes state. Such a loss
                     fails with CONNECT instead (the fate is unknown); the body is
                     sent again only for an authentication round, after an answer. */
};

struct exs_http_response {
  long status;
  struct exs_buf body;
  char content_type[128];
  char location[1024];        /* Location header of a redirect */
  char www_authenticate[512]; /* scheme names offered on a 401, e.g. "Negotiate,NTLM,Basic" */
  bool soap_enabled;          /* X-SOAP-Enabled: True on a 401 (SOAP Autodiscover) */
  long elapsed_ms;
};

struct exs_http;

/* Create a transport. Options are copied (the run's settings too: opt->transport
 * need not outlive the handle). Returns NULL on no memory. */
struct exs_http *exs_http_new(const struct exs_http_options *opt);
/* Whether h was made with exactly the settings o (exs_http_options_same):
 * a kept transport serves a new request only then. */
bool exs_http_made_for(const struct exs_http *h, const struct exs_http_options *o);
/* Free it; wipes the copied password. NULL is a no-op. */
void exs_http_free(struct exs_http *h);

/* Initialise / free a response (the body buffer). */
void exs_http_response_init(struct exs_http_response *r);
void exs_http_response_free(struct exs_http_response *r);

/* Perform one request. Returns 0 when an HTTP answer was received (any
 * status, including 401 and 500), or -1 with err filled: INSECURE_CHANNEL /
 * CONFIG (refused before sending), DNS, CONNECT, TIMEOUT, TLS_TRUST,
 * TLS_NAME, TLS_EXPIRED, PROTOCOL (answer too large), KERBEROS or
 * CREDENTIALS (Negotiate: no ticket could be had, see exsync/kerberos.h, or
 * the server answered 401 to a valid Kerberos ticket). */
int exs_http_perform(struct exs_http *h, const struct exs_http_request *req,
                     struct exs_http_response *resp, struct exs_error *err);

/* The authentication scheme the last answered request of h used:
 * "Kerberos (Negotiate)", "NTLM", "Basic", or NULL when none was needed.
 * Static string. */
const char *exs_http_auth_scheme(const struct exs_http *h);

/* Check the plain-HTTP rules for url without sending anything. Returns 0 or
 * -1 with an INSECURE_CHANNEL error. */
int exs_http_check_channel(const struct exs_http_options *opt, const char *url,
                           struct exs_error *err);

/* Redact secrets in one HTTP header block (CRLF separated) into out.
 * Exposed for tests and for the recorder. */
int exs_http_redact_headers(const char *in, size_t len, const char *password, struct exs_buf *out);

#endif
