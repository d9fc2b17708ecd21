/* exsync/autodiscover.h - find a mailbox's EWS URL the way Exchange clients
 * do (docs/test-enable.md, Autodiscover).
 *
 * Search order for ADDRESS at DOMAIN (ours where Microsoft leaves it open):
 *   0. the per-domain cache of this handle (an endpoint that answered before);
 *   1. https://DOMAIN/autodiscover/autodiscover.xml (POX), then .svc (SOAP
 *      GetUserSettings);
 *   2. https://autodiscover.DOMAIN/autodiscover/autodiscover.xml, then .svc;
 *   3. unauthenticated GET http://autodiscover.DOMAIN/autodiscover/autodiscover.xml:
 *      only a 301/302/307 whose Location is https:// is followed (POX there,
 *      or SOAP when it ends in .svc);
 *   4. DNS SRV _autodiscover._tcp.DOMAIN: port-443 records by priority (lowest
 *      first) then weight (highest first), each tried as POX then SOAP.
 * Answers: settings -> done; redirectAddr / RedirectAddress -> restart the
 * whole search for the new address (its domain's candidates); redirectUrl /
 * RedirectUrl and HTTP 301/302/307 on a POST -> re-send to that https URL.
 * At most max_hops (10) redirects in all; an address seen before is a loop
 * (the search fails); a URL seen before for the same address is refused and
 * the search moves to the next candidate. Any other answer (401, 404, 5xx,
 * an Autodiscover error such as POX ErrorCode 500 or SOAP InvalidUser, a
 * transport or TLS failure) ends that candidate and the next one is tried.
 *
 * Every candidate goes through an exs_http transport built from the given
 * options (so --resolve, --connect-to and --cacert apply) with a short
 * connect timeout of its own. Authenticated requests go to https:// only;
 * the anonymous GET probe is the one plain-HTTP request.
 *
 * Errors: category AUTODISCOVER, http_status = the status of the last answer
 * (200 when the error was inside the XML, 0 when nothing answered), ews_code
 * = the Autodiscover error code of that answer ("InvalidUser", "500", ...;
 * "" when none), url = the URL that gave it. "The last answer" is the last
 * one that carried an Autodiscover error code when there was one (a later
 * 404 / 401 / 5xx from another candidate, which is not an Autodiscover
 * answer, does not hide "The e-mail address cannot be found."), else the
 * last HTTP answer of any kind (ours: docs/test-enable.md says "last answer"). The
 * anonymous GET probe's answer never counts (it is expected to be 401). For
 * a redirect loop or too many hops the answer that caused it is reported.
 *
 * A handle is not thread-safe: use one per worker.
 */
#ifndef EXSYNC_AUTODISCOVER_H
#define EXSYNC_AUTODISCOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "exsync/buf.h"
#include "exsync/error.h"
#include "exsync/http.h"
#include "exsync/scp.h"

#define EXS_AD_URL_MAX 1024
#define EXS_AD_ADDR_MAX 320

#define EXS_NS_AD_POX_REQ                                                                          \
  "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
#define EXS_NS_AD_POX_RESP                                                                         \
  "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
#define EXS_NS_AD_RESP "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
#define EXS_NS_AD_SOAP "http://schemas.microsoft.com/exchange/2010/Autodiscover"
#define EXS_NS_WSA "http://www.w3.org/2005/08/addressing"

enum exs_ad_method {
  EXS_AD_POX = 0,  /* POST .../autodiscover.xml */
  EXS_AD_SOAP,     /* POST .../autodiscover.svc GetUserSettings */
  EXS_AD_REDIRECT, /* unauthenticated GET http://autodiscover.DOMAIN/... */
  EXS_AD_SRV,      /* DNS SRV lookup */
  EXS_AD_SCP,      /* Active Directory service connection points (LDAP) */
  EXS_AD_CACHE     /* cache lookup */
};

enum exs_ad_outcome { EXS_AD_SUCCESS = 0, EXS_AD_WARNING, EXS_AD_ERROR, EXS_AD_SKIPPED };

/* "POX", "SOAP", "redirect", "SRV", "cache" / "success", "warning", "error", "skipped". */
const char *exs_ad_method_name(enum exs_ad_method m);
const char *exs_ad_outcome_name(enum exs_ad_outcome o);

/* One step of the search, for the troubleshooting tree: steps with the same
 * hop belong to the same address; a redirect increments hop. */
struct exs_autodiscover_step {
  int hop;
  char address[EXS_AD_ADDR_MAX + 1]; /* the address being searched */
  char url[EXS_AD_URL_MAX];          /* candidate URL (SRV: the record name) */
  enum exs_ad_method method;
  enum exs_ad_outcome outcome;
  long http_status; /* 0: no HTTP answer */
  char got[320];    /* what came back */
  char why[320];    /* what we concluded / why we moved on */
  long elapsed_ms;
};

/* The result of a search. steps is owned: free with exs_autodiscover_result_free
 * (which also resets the struct; NULL is a no-op). The steps are filled
 * whether the search succeeded or not. */
struct exs_autodiscover_result {
  char ews_url[EXS_AD_URL_MAX];          /* the EWS URL to use */
  char internal_ews_url[EXS_AD_URL_MAX]; /* as answered ("" when absent) */
  char external_ews_url[EXS_AD_URL_MAX];
  char address[EXS_AD_ADDR_MAX + 1]; /* the address finally answered for (after redirectAddr) */
  char endpoint[EXS_AD_URL_MAX];     /* the Autodiscover URL that answered */
  enum exs_ad_method method;         /* POX or SOAP */
  bool from_cache;
  int hops; /* redirects followed */
  struct exs_autodiscover_step *steps;
  size_t n_steps;
};
void exs_autodiscover_result_free(struct exs_autodiscover_result *r);

/* ---- protocol layer (no I/O) ---- */

enum exs_ad_action {
  EXS_AD_ACTION_SETTINGS = 0,
  EXS_AD_ACTION_REDIRECT_ADDR,
  EXS_AD_ACTION_REDIRECT_URL,
  EXS_AD_ACTION_ERROR
};

/* One parsed Autodiscover answer (POX or SOAP). */
struct exs_autodiscover_answer {
  enum exs_ad_action action;
  char ews_url[EXS_AD_URL_MAX];          /* preferred: external, else internal */
  char internal_ews_url[EXS_AD_URL_MAX]; /* POX EXCH EwsUrl / SOAP InternalEwsUrl */
  char external_ews_url[EXS_AD_URL_MAX]; /* POX EXPR EwsUrl / SOAP ExternalEwsUrl */
  char redirect[EXS_AD_URL_MAX];         /* address or URL of a redirect */
  char error_code[64];                   /* POX ErrorCode ("500") or SOAP code ("InvalidUser") */
  char error_message[256];
  char display_name[256];
};

/* POX request for address. Returns 0 or -1 (buffer cap). */
int exs_autodiscover_build_pox(struct exs_buf *b, const char *address);
/* SOAP GetUserSettings for address (InternalEwsUrl, ExternalEwsUrl, ...),
 * wsa:To = url. */
int exs_autodiscover_build_soap(struct exs_buf *b, const char *address, const char *url);

/* Parse an answer. Return 0 when it is an Autodiscover answer (check
 * a->action; an Error answer is 0 with action ERROR), -1 with a PROTOCOL
 * error when it is not XML or not an Autodiscover document. */
int exs_autodiscover_parse_pox(const char *body, size_t len, struct exs_autodiscover_answer *a,
                               struct exs_error *err);
int exs_autodiscover_parse_soap(const char *body, size_t len, struct exs_autodiscover_answer *a,
                                struct exs_error *err);

/* ---- DNS SRV ---- */

struct exs_srv_record {
  int priority;
  int weight;
  int port;
  char target[256];
};

/* Look up SRV records of name. Fill out[0..max-1], set *n. Return 0 (also
 * when there are none: *n = 0) or -1 when the lookup itself failed. */
typedef int (*exs_autodiscover_srv_fn)(void *ctx, const char *name, struct exs_srv_record *out,
                                       size_t max, size_t *n);
/* The system resolver (res_query). */
int exs_srv_lookup(void *ctx, const char *name, struct exs_srv_record *out, size_t max, size_t *n);

/* A transport with exs_http_perform's contract (for tests: a fake). */
typedef int (*exs_autodiscover_transport_fn)(void *ctx, const struct exs_http_request *req,
                                             struct exs_http_response *resp, struct exs_error *err);

/* ---- the search ---- */

/* What a run's searches found, per domain, shared by its handles (the
 * tests of a Test & Enable batch, on several threads): a domain is
 * searched by one handle at a time, the others wait and then ask the
 * endpoint that answered directly. Free it after every handle using it. */
struct exs_autodiscover_cache;
struct exs_autodiscover_cache *exs_autodiscover_cache_new(void);
/* NULL is a no-op. */
void exs_autodiscover_cache_free(struct exs_autodiscover_cache *c);

struct exs_autodiscover_options {
  struct exs_http_options http;      /* the run's settings, credentials, deployment
                                        properties; copied by exs_http_new */
  long candidate_connect_timeout_ms; /* 0: 3000 */
  long candidate_timeout_ms;         /* 0: 20000 */
  int max_hops;                      /* 0: 10 */
  exs_autodiscover_srv_fn srv;       /* NULL: exs_srv_lookup */
  void *srv_ctx;
  const struct exs_scp_options *scp;       /* domain-joined: SCP URLs from the directory are tried
                                              before the DNS-based candidates; NULL: none. Copied. */
  exs_autodiscover_transport_fn transport; /* NULL: exs_http built from http */
  void *transport_ctx;
  struct exs_autodiscover_cache *cache; /* the run's, borrowed (thread-safe); NULL: the
                                           handle's own */
};

struct exs_autodiscover;

/* Create a search handle (options copied). NULL on no memory. */
struct exs_autodiscover *exs_autodiscover_new(const struct exs_autodiscover_options *opt);
/* NULL is a no-op. */
void exs_autodiscover_free(struct exs_autodiscover *ad);

/* Search for address. On success returns 0 with res filled; on failure -1
 * with err (see the top of this file) and res->steps still filled. The caller
 * frees res with exs_autodiscover_result_free in both cases. A success is
 * remembered in the per-domain cache (the run's, or the handle's own). One
 * handle is used by one thread at a time. */
int exs_autodiscover_run(struct exs_autodiscover *ad, const char *address,
                         struct exs_autodiscover_result *res, struct exs_error *err);

/* Forget every cached endpoint (of the run's cache when the handle shares one). */
void exs_autodiscover_cache_clear(struct exs_autodiscover *ad);

/* Whether ad was made with exactly the transport settings http
 * (exs_http_options_same): a kept handle serves a new search only then (its
 * other options are the run's). */
bool exs_autodiscover_made_for(const struct exs_autodiscover *ad,
                               const struct exs_http_options *http);

#endif
