/* autodiscover.c - POX and SOAP Autodiscover, the candidate search, SRV,
 * redirects, the per-domain cache and the step log. See autodiscover.h for
 * the order and the rules. */
#include "exsync/autodiscover.h"

#include <arpa/nameser.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/tree.h>
#include <openssl/crypto.h>

#include "autodiscover_cache.h"
#include "exsync/clock.h"
#include "exsync/xml.h"

#define NS_SOAP_ENV "http://schemas.xmlsoap.org/soap/envelope/"
#define MAX_SEEN 32
#define MAX_SRV 16

const char *exs_ad_method_name(enum exs_ad_method m)
{
  switch(m) {
  case EXS_AD_POX:
    return "POX";
  case EXS_AD_SOAP:
    return "SOAP";
  case EXS_AD_REDIRECT:
    return "redirect";
  case EXS_AD_SRV:
    return "SRV";
  case EXS_AD_SCP:
    return "SCP";
  case EXS_AD_CACHE:
    return "cache";
  }
  return "?";
}

const char *exs_ad_outcome_name(enum exs_ad_outcome o)
{
  switch(o) {
  case EXS_AD_SUCCESS:
    return "success";
  case EXS_AD_WARNING:
    return "warning";
  case EXS_AD_ERROR:
    return "error";
  case EXS_AD_SKIPPED:
    return "skipped";
  }
  return "?";
}

void exs_autodiscover_result_free(struct exs_autodiscover_result *r)
{
  if(!r)
    return;
  free(r->steps);
  memset(r, 0, sizeof(*r));
}

/* ---- builders ---- */

int exs_autodiscover_build_pox(struct exs_buf *b, const char *address)
{
  int r = 0;

  r |= exs_buf_adds(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                       "<Autodiscover xmlns=\"" EXS_NS_AD_POX_REQ "\"><Request><EMailAddress>");
  r |= exs_buf_add_xml(b, address);
  r |= exs_buf_adds(b, "</EMailAddress><AcceptableResponseSchema>" EXS_NS_AD_POX_RESP
                       "</AcceptableResponseSchema></Request></Autodiscover>\n");
  return r ? -1 : 0;
}

int exs_autodiscover_build_soap(struct exs_buf *b, const char *address, const char *url)
{
  static const char *const settings[] = {"UserDisplayName", "UserDN",     "InternalEwsUrl",
                                         "ExternalEwsUrl",  "CasVersion", "EwsSupportedSchemas"};
  size_t i;
  int r = 0;

  r |= exs_buf_adds(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                       "<soap:Envelope xmlns:soap=\"" NS_SOAP_ENV "\" xmlns:a=\"" EXS_NS_AD_SOAP
                       "\" xmlns:wsa=\"" EXS_NS_WSA "\" "
                       "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soap:Header>"
                       "<a:RequestedServerVersion>Exchange2013</a:RequestedServerVersion>"
                       "<wsa:Action>" EXS_NS_AD_SOAP "/Autodiscover/GetUserSettings</wsa:Action>"
                       "<wsa:To>");
  r |= exs_buf_add_xml(b, url);
  r |= exs_buf_adds(b, "</wsa:To></soap:Header><soap:Body><a:GetUserSettingsRequestMessage>"
                       "<a:Request><a:Users><a:User><a:Mailbox>");
  r |= exs_buf_add_xml(b, address);
  r |= exs_buf_adds(b, "</a:Mailbox></a:User></a:Users><a:RequestedSettings>");
  for(i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
    r |= exs_buf_addf(b, "<a:Setting>%s</a:Setting>", settings[i]);
  r |= exs_buf_adds(b, "</a:RequestedSettings></a:Request></a:GetUserSettingsRequestMessage>"
                       "</soap:Body></soap:Envelope>\n");
  return r ? -1 : 0;
}

/* ---- parsers ---- */

static void pick_ews_url(struct exs_autodiscover_answer *a)
{
  snprintf(a->ews_url, sizeof(a->ews_url), "%s",
           a->external_ews_url[0] ? a->external_ews_url : a->internal_ews_url);
}

static void pox_error(xmlNodePtr error, struct exs_autodiscover_answer *a)
{
  a->action = EXS_AD_ACTION_ERROR;
  exs_xml_text(exs_xml_child(error, NULL, "ErrorCode"), a->error_code, sizeof(a->error_code));
  exs_xml_text(exs_xml_child(error, NULL, "Message"), a->error_message, sizeof(a->error_message));
  if(!a->error_code[0])
    snprintf(a->error_code, sizeof(a->error_code), "Error");
}

int exs_autodiscover_parse_pox(const char *body, size_t len, struct exs_autodiscover_answer *a,
                               struct exs_error *err)
{
  char errbuf[256];
  char action[32];
  xmlDocPtr doc;
  xmlNodePtr root, resp, account, proto, e;
  int result = -1;

  memset(a, 0, sizeof(*a));
  doc = exs_xml_parse(body, len, "Autodiscover answer", errbuf, sizeof(errbuf));
  if(!doc) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "the POX Autodiscover answer is not XML: %s", errbuf);
    return -1;
  }
  root = xmlDocGetRootElement(doc);
  if(!exs_xml_is(root, EXS_NS_AD_RESP, "Autodiscover") ||
     !(resp = exs_xml_child(root, NULL, "Response"))) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "the answer is not a POX Autodiscover response");
    goto out;
  }
  if((e = exs_xml_child(resp, NULL, "Error")) != NULL) {
    pox_error(e, a);
    result = 0;
    goto out;
  }
  account = exs_xml_child(resp, NULL, "Account");
  if(!account) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "the POX Autodiscover response has no Account");
    goto out;
  }
  exs_xml_text(exs_xml_path(resp, NULL, "User/DisplayName"), a->display_name,
               sizeof(a->display_name));
  if((e = exs_xml_child(account, NULL, "Error")) != NULL) {
    pox_error(e, a);
    result = 0;
    goto out;
  }
  exs_xml_text(exs_xml_child(account, NULL, "Action"), action, sizeof(action));
  if(!strcmp(action, "redirectAddr")) {
    a->action = EXS_AD_ACTION_REDIRECT_ADDR;
    exs_xml_text(exs_xml_child(account, NULL, "RedirectAddr"), a->redirect, sizeof(a->redirect));
  }
  else if(!strcmp(action, "redirectUrl")) {
    a->action = EXS_AD_ACTION_REDIRECT_URL;
    exs_xml_text(exs_xml_child(account, NULL, "RedirectUrl"), a->redirect, sizeof(a->redirect));
  }
  else if(!strcmp(action, "settings")) {
    a->action = EXS_AD_ACTION_SETTINGS;
    for(proto = exs_xml_child(account, NULL, "Protocol"); proto;
        proto = exs_xml_next(proto, NULL, "Protocol")) {
      char type[16];
      exs_xml_text(exs_xml_child(proto, NULL, "Type"), type, sizeof(type));
      if(!strcmp(type, "EXCH") && !a->internal_ews_url[0])
        exs_xml_text(exs_xml_child(proto, NULL, "EwsUrl"), a->internal_ews_url,
                     sizeof(a->internal_ews_url));
      else if(!strcmp(type, "EXPR") && !a->external_ews_url[0])
        exs_xml_text(exs_xml_child(proto, NULL, "EwsUrl"), a->external_ews_url,
                     sizeof(a->external_ews_url));
    }
    pick_ews_url(a);
  }
  else {
    exs_error_set(err, EXS_CAT_PROTOCOL, "unknown POX Autodiscover Action '%s'", action);
    goto out;
  }
  result = 0;
out:
  xmlFreeDoc(doc);
  return result;
}

int exs_autodiscover_parse_soap(const char *body, size_t len, struct exs_autodiscover_answer *a,
                                struct exs_error *err)
{
  char errbuf[256];
  char code[64];
  xmlDocPtr doc;
  xmlNodePtr root, sbody, fault, msg, resp, ur, s;
  int result = -1;

  memset(a, 0, sizeof(*a));
  doc = exs_xml_parse(body, len, "Autodiscover answer", errbuf, sizeof(errbuf));
  if(!doc) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "the SOAP Autodiscover answer is not XML: %s", errbuf);
    return -1;
  }
  root = xmlDocGetRootElement(doc);
  sbody =
      exs_xml_is(root, NS_SOAP_ENV, "Envelope") ? exs_xml_child(root, NS_SOAP_ENV, "Body") : NULL;
  if(!sbody) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "the answer is not a SOAP envelope");
    goto out;
  }
  if((fault = exs_xml_child(sbody, NS_SOAP_ENV, "Fault")) != NULL) {
    char *p;
    a->action = EXS_AD_ACTION_ERROR;
    exs_xml_text(exs_xml_child(fault, NULL, "faultcode"), a->error_code, sizeof(a->error_code));
    if((p = strchr(a->error_code, ':')) != NULL)
      memmove(a->error_code, p + 1, strlen(p));
    exs_xml_text(exs_xml_child(fault, NULL, "faultstring"), a->error_message,
                 sizeof(a->error_message));
    result = 0;
    goto out;
  }
  msg = exs_xml_child(sbody, EXS_NS_AD_SOAP, "GetUserSettingsResponseMessage");
  resp = exs_xml_child(msg, EXS_NS_AD_SOAP, "Response");
  if(!resp) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "the answer is not a GetUserSettings response");
    goto out;
  }
  exs_xml_text(exs_xml_child(resp, EXS_NS_AD_SOAP, "ErrorCode"), code, sizeof(code));
  if(code[0] && strcmp(code, "NoError")) {
    a->action = EXS_AD_ACTION_ERROR;
    snprintf(a->error_code, sizeof(a->error_code), "%s", code);
    exs_xml_text(exs_xml_child(resp, EXS_NS_AD_SOAP, "ErrorMessage"), a->error_message,
                 sizeof(a->error_message));
    result = 0;
    goto out;
  }
  ur = exs_xml_path(resp, EXS_NS_AD_SOAP, "UserResponses/UserResponse");
  if(!ur) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "the GetUserSettings response has no UserResponse");
    goto out;
  }
  exs_xml_text(exs_xml_child(ur, EXS_NS_AD_SOAP, "ErrorCode"), code, sizeof(code));
  exs_xml_text(exs_xml_child(ur, EXS_NS_AD_SOAP, "ErrorMessage"), a->error_message,
               sizeof(a->error_message));
  if(!strcmp(code, "RedirectAddress") || !strcmp(code, "RedirectUrl")) {
    a->action = code[8] == 'A' ? EXS_AD_ACTION_REDIRECT_ADDR : EXS_AD_ACTION_REDIRECT_URL;
    exs_xml_text(exs_xml_child(ur, EXS_NS_AD_SOAP, "RedirectTarget"), a->redirect,
                 sizeof(a->redirect));
  }
  else if(code[0] && strcmp(code, "NoError")) {
    a->action = EXS_AD_ACTION_ERROR;
    snprintf(a->error_code, sizeof(a->error_code), "%s", code);
  }
  else {
    a->action = EXS_AD_ACTION_SETTINGS;
    a->error_message[0] = '\0';
    for(s = exs_xml_path(ur, EXS_NS_AD_SOAP, "UserSettings/UserSetting"); s;
        s = exs_xml_next(s, EXS_NS_AD_SOAP, "UserSetting")) {
      char name[64];
      char *dst = NULL;
      size_t dl = 0;
      exs_xml_text(exs_xml_child(s, EXS_NS_AD_SOAP, "Name"), name, sizeof(name));
      if(!strcmp(name, "InternalEwsUrl")) {
        dst = a->internal_ews_url;
        dl = sizeof(a->internal_ews_url);
      }
      else if(!strcmp(name, "ExternalEwsUrl")) {
        dst = a->external_ews_url;
        dl = sizeof(a->external_ews_url);
      }
      else if(!strcmp(name, "UserDisplayName")) {
        dst = a->display_name;
        dl = sizeof(a->display_name);
      }
      if(dst)
        exs_xml_text(exs_xml_child(s, EXS_NS_AD_SOAP, "Value"), dst, dl);
    }
    pick_ews_url(a);
  }
  result = 0;
out:
  xmlFreeDoc(doc);
  return result;
}

/* ---- SRV through the system resolver ---- */

int exs_srv_lookup(void *ctx, const char *name, struct exs_srv_record *out, size_t max, size_t *n)
{
  unsigned char ans[NS_PACKETSZ * 4];
  ns_msg msg;
  int len, i, count;

  (void)ctx;
  *n = 0;
  len = res_query(name, ns_c_in, ns_t_srv, ans, sizeof(ans));
  if(len < 0)
    return h_errno == HOST_NOT_FOUND || h_errno == NO_DATA ? 0 : -1;
  if(ns_initparse(ans, len, &msg) < 0)
    return -1;
  count = ns_msg_count(msg, ns_s_an);
  for(i = 0; i < count && *n < max; i++) {
    ns_rr rr;
    const unsigned char *rd;
    struct exs_srv_record *r = &out[*n];
    if(ns_parserr(&msg, ns_s_an, i, &rr) < 0 || ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7)
      continue;
    rd = ns_rr_rdata(rr);
    r->priority = ns_get16(rd);
    r->weight = ns_get16(rd + 2);
    r->port = ns_get16(rd + 4);
    if(dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + 6, r->target, sizeof(r->target)) < 0)
      continue;
    (*n)++;
  }
  return 0;
}

/* ---- the search ---- */

struct exs_autodiscover {
  struct exs_http *http; /* NULL with an injected transport */
  exs_autodiscover_transport_fn transport;
  void *transport_ctx;
  exs_autodiscover_srv_fn srv;
  void *srv_ctx;
  bool use_scp;
  struct exs_scp_options scp; /* strings below are owned copies */
  char *scp_uri, *scp_user, *scp_password, *scp_site;
  int max_hops;
  bool no_credentials;                  /* no user given: a 401 means credentials are missing */
  struct exs_http_options given;        /* opt->http as given: exs_autodiscover_made_for */
  struct exs_autodiscover_cache *cache; /* the run's (opt->cache) or own_cache */
  struct exs_autodiscover_cache *own_cache;
};

struct exs_autodiscover *exs_autodiscover_new(const struct exs_autodiscover_options *opt)
{
  struct exs_autodiscover *ad = calloc(1, sizeof(*ad));

  if(!ad)
    return NULL;
  ad->max_hops = opt->max_hops > 0 ? opt->max_hops : 10;
  ad->no_credentials = !opt->http.credentials;
  ad->srv = opt->srv ? opt->srv : exs_srv_lookup;
  ad->srv_ctx = opt->srv_ctx;
  ad->transport = opt->transport;
  ad->transport_ctx = opt->transport_ctx;
  ad->given = opt->http;
  ad->cache = opt->cache ? opt->cache : (ad->own_cache = exs_autodiscover_cache_new());
  if(!ad->cache) {
    exs_autodiscover_free(ad);
    return NULL;
  }
  if(opt->scp && opt->scp->uri && *opt->scp->uri) {
    ad->use_scp = true;
    ad->scp = *opt->scp;
    ad->scp.uri = ad->scp_uri = strdup(opt->scp->uri);
    ad->scp.user = ad->scp_user = opt->scp->user ? strdup(opt->scp->user) : NULL;
    ad->scp.password = ad->scp_password = opt->scp->password ? strdup(opt->scp->password) : NULL;
    ad->scp.site = ad->scp_site = opt->scp->site ? strdup(opt->scp->site) : NULL;
    if(!ad->scp_uri || (opt->scp->user && !ad->scp_user) ||
       (opt->scp->password && !ad->scp_password) || (opt->scp->site && !ad->scp_site)) {
      exs_autodiscover_free(ad);
      return NULL;
    }
  }
  if(!ad->transport) {
    struct exs_http_options ho = opt->http;
    ho.connect_timeout_ms =
        opt->candidate_connect_timeout_ms > 0 ? opt->candidate_connect_timeout_ms : 3000;
    ho.timeout_ms = opt->candidate_timeout_ms > 0 ? opt->candidate_timeout_ms : 20000;
    ad->http = exs_http_new(&ho);
    exs_http_options_wipe(&ho);
    if(!ad->http) {
      exs_autodiscover_free(ad);
      return NULL;
    }
  }
  return ad;
}

void exs_autodiscover_free(struct exs_autodiscover *ad)
{
  if(!ad)
    return;
  exs_http_free(ad->http);
  exs_http_options_wipe(&ad->given);
  exs_autodiscover_cache_free(ad->own_cache);
  free(ad->scp_uri);
  free(ad->scp_user);
  if(ad->scp_password) {
    OPENSSL_cleanse(ad->scp_password, strlen(ad->scp_password));
    free(ad->scp_password);
  }
  free(ad->scp_site);
  free(ad);
}

void exs_autodiscover_cache_clear(struct exs_autodiscover *ad)
{
  ad_cache_clear(ad->cache);
}

bool exs_autodiscover_made_for(const struct exs_autodiscover *ad,
                               const struct exs_http_options *http)
{
  return exs_http_options_same(&ad->given, http);
}

/* State of one run. */
struct run {
  struct exs_autodiscover *ad;
  struct exs_autodiscover_result *res;
  char address[EXS_AD_ADDR_MAX + 1];
  char seen_addr[MAX_SEEN][EXS_AD_ADDR_MAX + 1];
  size_t n_seen_addr;
  char seen_url[MAX_SEEN][EXS_AD_URL_MAX];
  size_t n_seen_url;
  int hops;
  /* the last HTTP answer, for the final error */
  long last_status;
  char last_code[64];
  char last_url[EXS_AD_URL_MAX];
  char last_what[320];
  /* the last answer that carried an Autodiscover error code: it wins over
   * later plain HTTP failures (404, 401, 5xx) of other candidates */
  bool have_code;
  long code_status;
  char code[64];
  char code_url[EXS_AD_URL_MAX];
  char code_what[320];
  bool fatal; /* loop or too many hops */
  char fatal_msg[400];
  size_t n_401;
  bool scp_done; /* the directory is asked once per run */
};

enum try_result { TRY_NEXT = 0, TRY_DONE, TRY_RESTART, TRY_FATAL };

static struct exs_autodiscover_step *add_step(struct run *r, const char *url, enum exs_ad_method m)
{
  struct exs_autodiscover_result *res = r->res;
  struct exs_autodiscover_step *s, *grown;

  grown = realloc(res->steps, (res->n_steps + 1) * sizeof(*res->steps));
  if(!grown)
    return NULL;
  res->steps = grown;
  s = &res->steps[res->n_steps++];
  memset(s, 0, sizeof(*s));
  s->hop = r->hops;
  snprintf(s->address, sizeof(s->address), "%s", r->address);
  snprintf(s->url, sizeof(s->url), "%s", url);
  s->method = m;
  return s;
}

#define STEP_SET(s, field, ...)                                                                    \
  do {                                                                                             \
    if(s)                                                                                          \
      snprintf((s)->field, sizeof((s)->field), __VA_ARGS__);                                       \
  } while(0)

static bool seen_url(struct run *r, const char *url)
{
  size_t i;

  for(i = 0; i < r->n_seen_url; i++)
    if(!strcasecmp(r->seen_url[i], url))
      return true;
  return false;
}

static void mark_url(struct run *r, const char *url)
{
  if(r->n_seen_url < MAX_SEEN)
    snprintf(r->seen_url[r->n_seen_url++], EXS_AD_URL_MAX, "%s", url);
}

static bool seen_addr(struct run *r, const char *a)
{
  size_t i;

  for(i = 0; i < r->n_seen_addr; i++)
    if(!strcasecmp(r->seen_addr[i], a))
      return true;
  return false;
}

static void set_address(struct run *r, const char *a)
{
  snprintf(r->address, sizeof(r->address), "%s", a);
  if(r->n_seen_addr < MAX_SEEN)
    snprintf(r->seen_addr[r->n_seen_addr++], EXS_AD_ADDR_MAX + 1, "%s", a);
  r->n_seen_url = 0; /* URL loops are per address */
}

static int do_request(struct run *r, const struct exs_http_request *req,
                      struct exs_http_response *resp, struct exs_error *terr)
{
  if(r->ad->transport)
    return r->ad->transport(r->ad->transport_ctx, req, resp, terr);
  return exs_http_perform(r->ad->http, req, resp, terr);
}

static bool is_https(const char *url)
{
  return !strncasecmp(url, "https://", 8);
}

static enum exs_ad_method method_of_url(const char *url)
{
  size_t l = strlen(url);
  const char *q = strchr(url, '?');

  if(q)
    l = (size_t)(q - url);
  return l >= 4 && !strncasecmp(url + l - 4, ".svc", 4) ? EXS_AD_SOAP : EXS_AD_POX;
}

static void note_answer(struct run *r, long status, const char *code, const char *url,
                        const char *what)
{
  r->last_status = status;
  snprintf(r->last_code, sizeof(r->last_code), "%s", code ? code : "");
  snprintf(r->last_url, sizeof(r->last_url), "%s", url);
  snprintf(r->last_what, sizeof(r->last_what), "%s", what);
  if(code && *code) {
    r->have_code = true;
    r->code_status = status;
    snprintf(r->code, sizeof(r->code), "%s", code);
    snprintf(r->code_url, sizeof(r->code_url), "%s", url);
    snprintf(r->code_what, sizeof(r->code_what), "%s", what);
  }
}

/* Count a redirect; false (and fatal) when over the limit. */
static bool count_hop(struct run *r, struct exs_autodiscover_step *s)
{
  if(r->hops >= r->ad->max_hops) {
    r->fatal = true;
    snprintf(r->fatal_msg, sizeof(r->fatal_msg), "more than %d Autodiscover redirects for %s",
             r->ad->max_hops, r->address);
    STEP_SET(s, why, "too many redirects (limit %d): search stopped", r->ad->max_hops);
    return false;
  }
  r->hops++;
  r->res->hops = r->hops;
  return true;
}

static void succeed(struct run *r, const char *endpoint, enum exs_ad_method m,
                    const struct exs_autodiscover_answer *a)
{
  struct exs_autodiscover_result *res = r->res;

  snprintf(res->ews_url, sizeof(res->ews_url), "%s", a->ews_url);
  snprintf(res->internal_ews_url, sizeof(res->internal_ews_url), "%s", a->internal_ews_url);
  snprintf(res->external_ews_url, sizeof(res->external_ews_url), "%s", a->external_ews_url);
  snprintf(res->address, sizeof(res->address), "%s", r->address);
  snprintf(res->endpoint, sizeof(res->endpoint), "%s", endpoint);
  res->method = m;
}

/* POST the request of method for r->address to url, timing it in step s.
 * 0 with *resp filled (the caller frees it), or -1 when there is no answer
 * (recorded in s; nothing to free). */
static int post_candidate(struct run *r, struct exs_autodiscover_step *s, const char *url,
                          enum exs_ad_method method, struct exs_http_response *resp)
{
  struct exs_http_request req = {0};
  struct exs_error terr;
  struct exs_buf body;
  const char *headers[1];
  char action_hdr[160];
  int64_t t0 = exs_monotonic_ms();
  int rc;

  exs_buf_init(&body, 64 * 1024);
  if(method == EXS_AD_SOAP)
    rc = exs_autodiscover_build_soap(&body, r->address, url);
  else
    rc = exs_autodiscover_build_pox(&body, r->address);
  if(rc) {
    exs_buf_free(&body);
    return -1;
  }
  req.method = "POST";
  req.url = url;
  req.content_type = "text/xml; charset=utf-8";
  req.body = body.data;
  req.body_len = body.len;
  if(method == EXS_AD_SOAP) {
    snprintf(action_hdr, sizeof(action_hdr), "SOAPAction: \"%s/Autodiscover/GetUserSettings\"",
             EXS_NS_AD_SOAP);
    headers[0] = action_hdr;
    req.headers = headers;
    req.n_headers = 1;
  }
  exs_http_response_init(resp);
  exs_error_clear(&terr);
  rc = do_request(r, &req, resp, &terr);
  exs_buf_free(&body);
  if(s)
    s->elapsed_ms = (long)(exs_monotonic_ms() - t0);
  if(rc) {
    if(s) {
      s->outcome = EXS_AD_ERROR;
      STEP_SET(s, got, "%s: %s", exs_category_name(terr.category), terr.message);
      STEP_SET(s, why, "no answer from this candidate: trying the next one");
    }
    exs_http_response_free(resp);
    return -1;
  }
  if(s)
    s->http_status = resp->status;
  return 0;
}

/* An HTTP redirect (resp): true when it is followed (url and *method
 * moved on), else false with *result TRY_NEXT or TRY_FATAL. */
static bool follow_http_redirect(struct run *r, struct exs_autodiscover_step *s,
                                 const struct exs_http_response *resp, char *url, size_t urllen,
                                 enum exs_ad_method *method, enum try_result *result)
{
  bool follow = false;

  *result = TRY_NEXT;
  note_answer(r, resp->status, "", url, "HTTP redirect");
  if(s) {
    s->outcome = EXS_AD_WARNING;
    STEP_SET(s, got, "HTTP %ld to %s", resp->status, resp->location[0] ? resp->location : "(none)");
  }
  if(!resp->location[0] || !is_https(resp->location)) {
    STEP_SET(s, why, "redirect target is not https: refused");
    if(s)
      s->outcome = EXS_AD_ERROR;
  }
  else if(count_hop(r, s)) {
    STEP_SET(s, why, "following the redirect");
    snprintf(url, urllen, "%s", resp->location);
    *method = method_of_url(url);
    follow = true;
  }
  else {
    if(s)
      s->outcome = EXS_AD_ERROR;
    *result = TRY_FATAL;
  }
  return follow;
}

/* An answer other than 200 or a redirect: the next candidate. */
static enum try_result refuse_status(struct run *r, struct exs_autodiscover_step *s,
                                     const struct exs_http_response *resp, const char *url)
{
  note_answer(r, resp->status, "", url, "HTTP error");
  if(resp->status == 401)
    r->n_401++;
  if(s) {
    s->outcome = EXS_AD_ERROR;
    if(resp->status == 401)
      STEP_SET(s, got, "HTTP 401 (offered: %s)",
               resp->www_authenticate[0] ? resp->www_authenticate : "no scheme");
    else
      STEP_SET(s, got, "HTTP %ld", resp->status);
    STEP_SET(s, why,
             resp->status == 401 ? "credentials refused here: trying the next candidate"
                                 : "not an Autodiscover answer: trying the next candidate");
  }
  return TRY_NEXT;
}

/* An answer with settings: found, unless it names no EWS URL. */
static enum try_result take_settings(struct run *r, struct exs_autodiscover_step *s,
                                     const struct exs_autodiscover_answer *a, const char *url,
                                     enum exs_ad_method method)
{
  if(!a->ews_url[0]) {
    note_answer(r, 200, "", url, "settings without an EWS URL");
    if(s) {
      s->outcome = EXS_AD_ERROR;
      STEP_SET(s, got, "settings without an EWS URL");
      STEP_SET(s, why, "trying the next candidate");
    }
    return TRY_NEXT;
  }
  succeed(r, url, method, a);
  if(s) {
    s->outcome = is_https(a->ews_url) ? EXS_AD_SUCCESS : EXS_AD_WARNING;
    STEP_SET(s, got, "EWS URL %s", a->ews_url);
    if(!is_https(a->ews_url))
      STEP_SET(s, why, "the EWS URL is plain HTTP: it is refused unless the deployment allows it");
    else if(r->hops)
      STEP_SET(s, why, "EWS calls will use %s, the address Autodiscover finally answered for",
               r->address);
    else
      STEP_SET(s, why, "found");
  }
  return TRY_DONE;
}

/* redirectAddr: the search restarts for the new address, unless it is no
 * address, was searched already (a loop) or the hops are spent. */
static enum try_result take_redirect_addr(struct run *r, struct exs_autodiscover_step *s,
                                          const struct exs_autodiscover_answer *a, const char *url)
{
  if(s) {
    s->outcome = EXS_AD_WARNING;
    STEP_SET(s, got, "redirectAddr to %s", a->redirect);
  }
  if(!strchr(a->redirect, '@')) {
    note_answer(r, 200, "", url, "redirectAddr without an address");
    if(s)
      s->outcome = EXS_AD_ERROR;
    STEP_SET(s, why, "not an email address: trying the next candidate");
    return TRY_NEXT;
  }
  if(seen_addr(r, a->redirect)) {
    r->fatal = true;
    snprintf(r->fatal_msg, sizeof(r->fatal_msg),
             "Autodiscover redirect loop: %s was already searched", a->redirect);
    if(s)
      s->outcome = EXS_AD_ERROR;
    STEP_SET(s, why, "address already searched: redirect loop, search stopped");
    note_answer(r, 200, "", url, "redirect loop");
    return TRY_FATAL;
  }
  if(!count_hop(r, s)) {
    if(s)
      s->outcome = EXS_AD_ERROR;
    note_answer(r, 200, "", url, "too many redirects");
    return TRY_FATAL;
  }
  STEP_SET(s, why, "restarting the search for %s", a->redirect);
  set_address(r, a->redirect);
  return TRY_RESTART;
}

/* redirectUrl: true when followed (url and *method moved on), else false
 * with *result (not https, or the hops are spent). */
static bool follow_redirect_url(struct run *r, struct exs_autodiscover_step *s,
                                const struct exs_autodiscover_answer *a, char *url, size_t urllen,
                                enum exs_ad_method *method, enum try_result *result)
{
  if(s) {
    s->outcome = EXS_AD_WARNING;
    STEP_SET(s, got, "redirectUrl to %s", a->redirect);
  }
  if(!is_https(a->redirect)) {
    note_answer(r, 200, "", url, "redirectUrl not https");
    if(s)
      s->outcome = EXS_AD_ERROR;
    STEP_SET(s, why, "redirect target is not https: refused");
    *result = TRY_NEXT;
    return false;
  }
  if(!count_hop(r, s)) {
    if(s)
      s->outcome = EXS_AD_ERROR;
    note_answer(r, 200, "", url, "too many redirects");
    *result = TRY_FATAL;
    return false;
  }
  STEP_SET(s, why, "re-sending the request there");
  snprintf(url, urllen, "%s", a->redirect);
  *method = method_of_url(url);
  return true;
}

/* A parsed Autodiscover answer a from url: true when its redirectUrl is
 * followed (url and *method moved on), else false with *result. */
static bool take_answer(struct run *r, struct exs_autodiscover_step *s,
                        const struct exs_autodiscover_answer *a, char *url, size_t urllen,
                        enum exs_ad_method *method, enum try_result *result)
{
  switch(a->action) {
  case EXS_AD_ACTION_SETTINGS:
    *result = take_settings(r, s, a, url, *method);
    return false;
  case EXS_AD_ACTION_REDIRECT_ADDR:
    *result = take_redirect_addr(r, s, a, url);
    return false;
  case EXS_AD_ACTION_REDIRECT_URL:
    return follow_redirect_url(r, s, a, url, urllen, method, result);
  case EXS_AD_ACTION_ERROR:
  default:
    note_answer(r, 200, a->error_code, url, a->error_message);
    if(s) {
      s->outcome = EXS_AD_ERROR;
      STEP_SET(s, got, "Autodiscover error %s: %s", a->error_code,
               a->error_message[0] ? a->error_message : "(no message)");
      STEP_SET(s, why, "this endpoint cannot answer for %s: trying the next candidate", r->address);
    }
    *result = TRY_NEXT;
    return false;
  }
}

/* POST to one endpoint, following redirectUrl / HTTP redirects. */
static enum try_result try_endpoint(struct run *r, const char *start_url, enum exs_ad_method method)
{
  char url[EXS_AD_URL_MAX];
  enum try_result result = TRY_NEXT;

  snprintf(url, sizeof(url), "%s", start_url);
  for(;;) {
    struct exs_autodiscover_step *s = add_step(r, url, method);
    struct exs_http_response resp;
    struct exs_autodiscover_answer a;
    struct exs_error terr;
    bool follow;
    int rc;

    if(!is_https(url)) {
      if(s) {
        s->outcome = EXS_AD_SKIPPED;
        STEP_SET(s, why, "not https: credentials are sent to https endpoints only");
      }
      return TRY_NEXT;
    }
    if(seen_url(r, url)) {
      if(s) {
        s->outcome = EXS_AD_ERROR;
        STEP_SET(s, why, "already tried for %s: redirect loop refused", r->address);
      }
      return TRY_NEXT;
    }
    mark_url(r, url);
    if(post_candidate(r, s, url, method, &resp))
      return TRY_NEXT;
    if(resp.status == 301 || resp.status == 302 || resp.status == 307 || resp.status == 308) {
      follow = follow_http_redirect(r, s, &resp, url, sizeof(url), &method, &result);
      exs_http_response_free(&resp);
      if(follow)
        continue;
      return result;
    }
    if(resp.status != 200) {
      result = refuse_status(r, s, &resp, url);
      exs_http_response_free(&resp);
      return result;
    }
    exs_error_clear(&terr);
    if(method == EXS_AD_SOAP)
      rc = exs_autodiscover_parse_soap(resp.body.data, resp.body.len, &a, &terr);
    else
      rc = exs_autodiscover_parse_pox(resp.body.data, resp.body.len, &a, &terr);
    exs_http_response_free(&resp);
    if(rc) {
      note_answer(r, 200, "", url, terr.message);
      if(s) {
        s->outcome = EXS_AD_ERROR;
        STEP_SET(s, got, "%s", terr.message);
        STEP_SET(s, why, "unusable answer: trying the next candidate");
      }
      return TRY_NEXT;
    }
    if(!take_answer(r, s, &a, url, sizeof(url), &method, &result))
      return result;
  }
}

/* The unauthenticated HTTP GET redirect probe. */
static enum try_result try_http_redirect(struct run *r, const char *domain)
{
  char url[EXS_AD_URL_MAX];
  struct exs_autodiscover_step *s;
  struct exs_http_request req = {0};
  struct exs_http_response resp;
  struct exs_error terr;
  int64_t t0 = exs_monotonic_ms();
  enum try_result result = TRY_NEXT;

  snprintf(url, sizeof(url), "http://autodiscover.%s/autodiscover/autodiscover.xml", domain);
  s = add_step(r, url, EXS_AD_REDIRECT);
  req.method = "GET";
  req.url = url;
  req.anonymous = true;
  exs_http_response_init(&resp);
  exs_error_clear(&terr);
  if(do_request(r, &req, &resp, &terr)) {
    if(s) {
      s->outcome = EXS_AD_ERROR;
      s->elapsed_ms = (long)(exs_monotonic_ms() - t0);
      STEP_SET(s, got, "%s: %s", exs_category_name(terr.category), terr.message);
      STEP_SET(s, why, "no redirect available: trying DNS SRV");
    }
    goto out;
  }
  if(s) {
    s->elapsed_ms = (long)(exs_monotonic_ms() - t0);
    s->http_status = resp.status;
  }
  if(resp.status != 301 && resp.status != 302 && resp.status != 307) {
    if(s) {
      s->outcome = EXS_AD_ERROR;
      STEP_SET(s, got, "HTTP %ld", resp.status);
      STEP_SET(s, why, "only 301, 302 or 307 are accepted here: trying DNS SRV");
    }
    goto out;
  }
  if(s) {
    s->outcome = EXS_AD_WARNING;
    STEP_SET(s, got, "HTTP %ld to %s", resp.status, resp.location[0] ? resp.location : "(none)");
  }
  if(!is_https(resp.location)) {
    if(s)
      s->outcome = EXS_AD_ERROR;
    STEP_SET(s, why, "redirect target is not https: refused");
    goto out;
  }
  if(!count_hop(r, s)) {
    result = TRY_FATAL;
    goto out;
  }
  STEP_SET(s, why, "sending the Autodiscover request there");
  {
    char target[EXS_AD_URL_MAX];
    snprintf(target, sizeof(target), "%s", resp.location);
    exs_http_response_free(&resp);
    return try_endpoint(r, target, method_of_url(target));
  }
out:
  exs_http_response_free(&resp);
  return result;
}

static int srv_cmp(const void *a, const void *b)
{
  const struct exs_srv_record *x = a, *y = b;

  if(x->priority != y->priority)
    return x->priority - y->priority;
  return y->weight - x->weight;
}

static enum try_result try_srv(struct run *r, const char *domain)
{
  char name[300];
  struct exs_srv_record recs[MAX_SRV];
  size_t n = 0, i;
  struct exs_autodiscover_step *s;
  int64_t t0 = exs_monotonic_ms();
  int rc;

  snprintf(name, sizeof(name), "_autodiscover._tcp.%s", domain);
  s = add_step(r, name, EXS_AD_SRV);
  rc = r->ad->srv(r->ad->srv_ctx, name, recs, MAX_SRV, &n);
  if(s)
    s->elapsed_ms = (long)(exs_monotonic_ms() - t0);
  if(rc || n == 0) {
    if(s) {
      s->outcome = EXS_AD_ERROR;
      STEP_SET(s, got, rc ? "DNS lookup failed" : "no SRV record");
      STEP_SET(s, why, "no candidate left");
    }
    return TRY_NEXT;
  }
  qsort(recs, n, sizeof(recs[0]), srv_cmp);
  if(s) {
    s->outcome = EXS_AD_SUCCESS;
    STEP_SET(s, got, "%zu record(s), best %s:%d", n, recs[0].target, recs[0].port);
    STEP_SET(s, why, "trying the port-443 targets in priority order");
  }
  for(i = 0; i < n; i++) {
    char url[EXS_AD_URL_MAX];
    char target[256];
    size_t tl;
    enum try_result t;
    snprintf(target, sizeof(target), "%s", recs[i].target);
    tl = strlen(target);
    if(tl && target[tl - 1] == '.')
      target[tl - 1] = '\0';
    if(recs[i].port != 443 || !target[0]) {
      struct exs_autodiscover_step *sk = add_step(r, target, EXS_AD_SRV);
      if(sk) {
        sk->outcome = EXS_AD_SKIPPED;
        STEP_SET(sk, got, "%s port %d", target, recs[i].port);
        STEP_SET(sk, why, "only SRV records for port 443 (https) are used");
      }
      continue;
    }
    snprintf(url, sizeof(url), "https://%s/autodiscover/autodiscover.xml", target);
    if((t = try_endpoint(r, url, EXS_AD_POX)) != TRY_NEXT)
      return t;
    snprintf(url, sizeof(url), "https://%s/autodiscover/autodiscover.svc", target);
    if((t = try_endpoint(r, url, EXS_AD_SOAP)) != TRY_NEXT)
      return t;
  }
  return TRY_NEXT;
}

static int domain_of(const char *address, char *domain, size_t len)
{
  const char *at = strrchr(address, '@');
  size_t i;

  if(!at || at == address || !at[1] || strlen(at + 1) >= len)
    return -1;
  for(i = 0; at[1 + i]; i++) {
    unsigned char c = (unsigned char)at[1 + i];
    if(!isalnum(c) && c != '.' && c != '-')
      return -1;
    domain[i] = (char)tolower(c);
  }
  domain[i] = '\0';
  return 0;
}

/* Domain-joined clients ask the directory first: the SCP URLs, the
 * client's site first. A directory that cannot be asked is a warning: the
 * DNS-based candidates follow as for any client. */
static enum try_result try_scp(struct run *r)
{
  struct exs_scp_entry entries[MAX_SRV];
  struct exs_autodiscover_step *s;
  struct exs_error err;
  char detail[600];
  size_t n = 0;
  int64_t t0 = exs_monotonic_ms();
  enum try_result t;
  int rc;

  r->scp_done = true;
  exs_error_clear(&err);
  s = add_step(r, r->ad->scp.uri, EXS_AD_SCP);
  rc = exs_scp_lookup(&r->ad->scp, entries, MAX_SRV, &n, detail, sizeof(detail), &err);
  if(s)
    s->elapsed_ms = (long)(exs_monotonic_ms() - t0);
  if(rc || n == 0) {
    if(s) {
      s->outcome = rc ? EXS_AD_WARNING : EXS_AD_ERROR;
      STEP_SET(s, got, "%s", rc ? err.message : detail);
      STEP_SET(s, why, "no SCP candidate: trying the DNS-based candidates");
    }
    return TRY_NEXT;
  }
  if(s) {
    s->outcome = EXS_AD_SUCCESS;
    STEP_SET(s, got, "%s; first %s", detail, entries[0].url);
    STEP_SET(s, why, "trying the SCP URLs in order (this site's first)");
  }
  for(size_t i = 0; i < n; i++)
    if((t = try_endpoint(r, entries[i].url, method_of_url(entries[i].url))) != TRY_NEXT)
      return t;
  return TRY_NEXT;
}

/* The candidates of the address currently searched. */
static enum try_result search_address(struct run *r)
{
  char domain[256];
  char url[EXS_AD_URL_MAX];
  enum try_result t;
  static const char *const hosts[] = {"%s", "autodiscover.%s"};
  size_t h;

  if(domain_of(r->address, domain, sizeof(domain))) {
    r->fatal = true;
    snprintf(r->fatal_msg, sizeof(r->fatal_msg), "'%s' is not an email address", r->address);
    return TRY_FATAL;
  }
  if(r->ad->use_scp && !r->scp_done && (t = try_scp(r)) != TRY_NEXT)
    return t;
  for(h = 0; h < 2; h++) {
    char host[300];
    snprintf(host, sizeof(host), hosts[h], domain);
    snprintf(url, sizeof(url), "https://%s/autodiscover/autodiscover.xml", host);
    if((t = try_endpoint(r, url, EXS_AD_POX)) != TRY_NEXT)
      return t;
    snprintf(url, sizeof(url), "https://%s/autodiscover/autodiscover.svc", host);
    if((t = try_endpoint(r, url, EXS_AD_SOAP)) != TRY_NEXT)
      return t;
  }
  if((t = try_http_redirect(r, domain)) != TRY_NEXT)
    return t;
  return try_srv(r, domain);
}

/* 0. the cache: the endpoint that answered for domain before (TRY_NEXT
 * when there is none or it failed: forgotten), or this handle searches the
 * domain (another handle searching it is waited for). */
static enum try_result try_cached(struct run *r, const char *domain)
{
  char endpoint[EXS_AD_URL_MAX];
  enum exs_ad_method m;
  struct exs_autodiscover_step *s;
  enum try_result t;

  if(!ad_cache_take(r->ad->cache, domain, endpoint, sizeof(endpoint), &m))
    return TRY_NEXT;
  s = add_step(r, endpoint, EXS_AD_CACHE);
  if(s) {
    s->outcome = EXS_AD_SUCCESS;
    STEP_SET(s, got, "%s answered for %s before", endpoint, domain);
    STEP_SET(s, why, "trying the cached endpoint first");
  }
  t = try_endpoint(r, endpoint, m);
  if(t == TRY_DONE) {
    r->res->from_cache = true;
  }
  else if(t == TRY_NEXT) {
    struct exs_autodiscover_step *d = add_step(r, endpoint, EXS_AD_CACHE);
    ad_cache_forget(r->ad->cache, domain);
    if(d) {
      d->outcome = EXS_AD_WARNING;
      STEP_SET(d, why, "the cached endpoint failed: forgotten, full search");
    }
    r->n_seen_url = 0;
  }
  return t;
}

/* The error of a search that found nothing: the last answer, a refused or
 * missing credential, or what stopped it. */
static void search_failed(struct run *r, struct exs_error *err)
{
  if(r->have_code && !r->fatal) {
    r->last_status = r->code_status;
    snprintf(r->last_code, sizeof(r->last_code), "%s", r->code);
    snprintf(r->last_url, sizeof(r->last_url), "%s", r->code_url);
    snprintf(r->last_what, sizeof(r->last_what), "%s", r->code_what);
  }
  err->http_status = r->last_status;
  snprintf(err->ews_code, sizeof(err->ews_code), "%s", r->last_code);
  snprintf(err->url, sizeof(err->url), "%s", r->last_url);
  if(r->fatal)
    exs_error_set(err, EXS_CAT_AUTODISCOVER, "%s", r->fatal_msg);
  else if(r->last_status == 0)
    exs_error_set(err, EXS_CAT_AUTODISCOVER,
                  "Autodiscover found no EWS URL for %s: no candidate answered (%zu steps)",
                  r->address, r->res->n_steps);
  else if(r->n_401 && r->last_status == 401 && r->ad->no_credentials) {
    exs_error_set(err, EXS_CAT_AUTODISCOVER,
                  "Autodiscover found no EWS URL for %s: %zu candidate(s) asked for credentials "
                  "(HTTP 401) and none were given",
                  r->address, r->n_401);
    snprintf(err->hint, sizeof(err->hint),
             "Autodiscover needs credentials: give exsync autodiscover --user USER with "
             "--password-env VAR, --password-file FILE or --password-prompt (Test & Enable uses "
             "the profile's or the mailbox's).");
  }
  else if(r->n_401 && r->last_status == 401)
    exs_error_set(err, EXS_CAT_AUTODISCOVER,
                  "Autodiscover found no EWS URL for %s: the credentials were refused (HTTP "
                  "401) by %zu candidate(s)",
                  r->address, r->n_401);
  else
    exs_error_set(err, EXS_CAT_AUTODISCOVER,
                  "Autodiscover found no EWS URL for %s; last answer: HTTP %ld from %s", r->address,
                  r->last_status, r->last_url);
  if(r->last_code[0] && !r->fatal) {
    size_t l = strlen(err->message);
    snprintf(err->message + l, sizeof(err->message) - l, ", Autodiscover error %s%s%s",
             r->last_code, r->last_what[0] ? ": " : "", r->last_what);
  }
}

int exs_autodiscover_run(struct exs_autodiscover *ad, const char *address,
                         struct exs_autodiscover_result *res, struct exs_error *err)
{
  struct run *r;
  char domain[256];
  enum try_result t = TRY_NEXT;
  int result = -1;

  memset(res, 0, sizeof(*res));
  r = calloc(1, sizeof(*r));
  if(!r) {
    exs_error_set(err, EXS_CAT_AUTODISCOVER, "out of memory");
    return -1;
  }
  r->ad = ad;
  r->res = res;
  set_address(r, address);
  if(domain_of(address, domain, sizeof(domain))) {
    exs_error_set(err, EXS_CAT_CONFIG, "'%s' is not an email address", address);
    goto out;
  }
  t = try_cached(r, domain);
  if(t == TRY_NEXT)
    t = search_address(r);
  while(t == TRY_RESTART)
    t = search_address(r);
  /* the waiting handles go on: with this endpoint, or to search themselves */
  ad_cache_done(ad->cache, domain, t == TRY_DONE ? res->endpoint : NULL, res->method);
  if(t == TRY_DONE) {
    result = 0;
    goto out;
  }
  search_failed(r, err);
  snprintf(res->address, sizeof(res->address), "%s", r->address);
out:
  free(r);
  return result;
}
