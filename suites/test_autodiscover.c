/* test_autodiscover.c - POX/SOAP builders and parsers on canned answers, and
 * the candidate search over a fake transport and a fake SRV resolver: each
 * path (root domain, autodiscover. prefix, HTTP redirect, SRV, redirectAddr,
 * redirectUrl, loops, too many hops, not found, cache). No sockets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "exsync/autodiscover.h"
#include "exsync/xml.h"
#include "testutil.h"

static char *fx(const char *name)
{
  char rel[256];

  snprintf(rel, sizeof(rel), "fixtures/autodiscover/%s", name);
  return tu_read_file(tu_path(rel), NULL);
}

/* ---- builders ---- */

START_TEST(build_pox_and_soap)
{
  struct exs_buf b;
  char err[256];
  xmlDocPtr doc;
  xmlNodePtr root;
  char text[128];

  exs_buf_init(&b, 65536);
  ck_assert_int_eq(exs_autodiscover_build_pox(&b, "o'brien&co@contoso.com"), 0);
  doc = exs_xml_parse(b.data, b.len, "pox", err, sizeof(err));
  ck_assert_ptr_nonnull(doc);
  root = xmlDocGetRootElement(doc);
  ck_assert(exs_xml_is(root, EXS_NS_AD_POX_REQ, "Autodiscover"));
  ck_assert_str_eq(exs_xml_text(exs_xml_path(root, EXS_NS_AD_POX_REQ, "Request/EMailAddress"), text,
                                sizeof(text)),
                   "o'brien&co@contoso.com");
  ck_assert_str_eq(
      exs_xml_text(exs_xml_path(root, EXS_NS_AD_POX_REQ, "Request/AcceptableResponseSchema"), text,
                   sizeof(text)),
      EXS_NS_AD_POX_RESP);
  xmlFreeDoc(doc);

  exs_buf_reset(&b);
  ck_assert_int_eq(exs_autodiscover_build_soap(&b, "queue@contoso.com",
                                               "https://contoso.com/autodiscover/autodiscover.svc"),
                   0);
  doc = exs_xml_parse(b.data, b.len, "soap", err, sizeof(err));
  ck_assert_ptr_nonnull(doc);
  root = xmlDocGetRootElement(doc);
  ck_assert_str_eq(
      exs_xml_text(exs_xml_path(root, EXS_NS_AD_SOAP,
                                "Body/GetUserSettingsRequestMessage/Request/Users/User/Mailbox"),
                   text, sizeof(text)),
      "");
  /* Body is in the SOAP namespace: walk by hand */
  {
    xmlNodePtr body = exs_xml_child(root, "http://schemas.xmlsoap.org/soap/envelope/", "Body");
    xmlNodePtr mbx =
        exs_xml_path(exs_xml_first_element(body), EXS_NS_AD_SOAP, "Request/Users/User/Mailbox");
    xmlNodePtr hdr = exs_xml_child(root, "http://schemas.xmlsoap.org/soap/envelope/", "Header");
    ck_assert_str_eq(exs_xml_text(mbx, text, sizeof(text)), "queue@contoso.com");
    ck_assert_str_eq(exs_xml_text(exs_xml_child(hdr, EXS_NS_WSA, "To"), text, sizeof(text)),
                     "https://contoso.com/autodiscover/autodiscover.svc");
    ck_assert_ptr_nonnull(strstr(b.data, "<a:Setting>ExternalEwsUrl</a:Setting>"));
    ck_assert_ptr_nonnull(strstr(b.data, "<a:Setting>InternalEwsUrl</a:Setting>"));
  }
  xmlFreeDoc(doc);
  exs_buf_free(&b);
}
END_TEST

/* ---- parsers ---- */

static const struct {
  const char *file;
  bool soap;
  int rc;
  enum exs_ad_action action;
  const char *ews_url;
  const char *redirect;
  const char *code;
} answers[] = {
    {"pox_settings.xml", false, 0, EXS_AD_ACTION_SETTINGS,
     "https://mail.contoso.com/EWS/Exchange.asmx", "", ""},
    {"pox_settings_split.xml", false, 0, EXS_AD_ACTION_SETTINGS,
     "https://mail.contoso.com/EWS/Exchange.asmx", "", ""},
    {"pox_redirect_addr.xml", false, 0, EXS_AD_ACTION_REDIRECT_ADDR, "", "elvin@mail.contoso.com",
     ""},
    {"pox_redirect_url.xml", false, 0, EXS_AD_ACTION_REDIRECT_URL, "",
     "https://autodiscover.mail.contoso.com/autodiscover/autodiscover.xml", ""},
    {"pox_error_600.xml", false, 0, EXS_AD_ACTION_ERROR, "", "", "600"},
    {"pox_error_500.xml", false, 0, EXS_AD_ACTION_ERROR, "", "", "500"},
    {"soap_settings.xml", true, 0, EXS_AD_ACTION_SETTINGS,
     "https://mail.contoso.com/EWS/Exchange.asmx", "", ""},
    {"soap_redirect_address.xml", true, 0, EXS_AD_ACTION_REDIRECT_ADDR, "",
     "User1@mail.contoso.com", ""},
    {"soap_redirect_url.xml", true, 0, EXS_AD_ACTION_REDIRECT_URL, "",
     "https://autodiscover.mail.contoso.com/autodiscover/autodiscover.svc", ""},
    {"soap_invalid_user.xml", true, 0, EXS_AD_ACTION_ERROR, "", "", "InvalidUser"},
    {"soap_server_busy.xml", true, 0, EXS_AD_ACTION_ERROR, "", "", "ServerBusy"},
    /* the wrong parser for the document */
    {"soap_settings.xml", false, -1, 0, "", "", ""},
    {"pox_settings.xml", true, -1, 0, "", "", ""},
};

START_TEST(parse_answers)
{
  char *body = fx(answers[_i].file);
  struct exs_autodiscover_answer a;
  struct exs_error err;
  int rc;

  exs_error_clear(&err);
  rc = answers[_i].soap ? exs_autodiscover_parse_soap(body, strlen(body), &a, &err)
                        : exs_autodiscover_parse_pox(body, strlen(body), &a, &err);
  ck_assert_msg(rc == answers[_i].rc, "case %d: %s", _i, err.message);
  if(rc == 0) {
    ck_assert_int_eq(a.action, answers[_i].action);
    ck_assert_str_eq(a.ews_url, answers[_i].ews_url);
    ck_assert_str_eq(a.redirect, answers[_i].redirect);
    ck_assert_str_eq(a.error_code, answers[_i].code);
  }
  else {
    ck_assert_int_eq(err.category, EXS_CAT_PROTOCOL);
  }
  free(body);
}
END_TEST

START_TEST(parse_details)
{
  char *body = fx("pox_settings_split.xml");
  struct exs_autodiscover_answer a;
  struct exs_error err;

  exs_error_clear(&err);
  ck_assert_int_eq(exs_autodiscover_parse_pox(body, strlen(body), &a, &err), 0);
  ck_assert_str_eq(a.internal_ews_url, "https://cas01.corp.contoso.com/EWS/Exchange.asmx");
  ck_assert_str_eq(a.external_ews_url, "https://mail.contoso.com/EWS/Exchange.asmx");
  ck_assert_str_eq(a.display_name, "Mara Whitley");
  free(body);
  body = fx("pox_error_500.xml");
  ck_assert_int_eq(exs_autodiscover_parse_pox(body, strlen(body), &a, &err), 0);
  ck_assert_str_eq(a.error_message, "The e-mail address cannot be found.");
  free(body);
  body = fx("soap_settings.xml");
  ck_assert_int_eq(exs_autodiscover_parse_soap(body, strlen(body), &a, &err), 0);
  ck_assert_str_eq(a.internal_ews_url, "https://mail.contoso.com/EWS/Exchange.asmx");
  ck_assert_str_eq(a.external_ews_url, "");
  ck_assert_str_eq(a.display_name, "Sales queue");
  free(body);
}
END_TEST

START_TEST(parse_hostile)
{
  static const char *const bad[] = {
      "",
      "not xml",
      "<Autodiscover/>",
      "<?xml version='1.0'?><!DOCTYPE a [<!ENTITY x 'y'>]><Autodiscover xmlns='" EXS_NS_AD_RESP
      "'><Response/></Autodiscover>",
      "<Autodiscover xmlns='" EXS_NS_AD_RESP "'><Response xmlns='" EXS_NS_AD_POX_RESP
      "'><Account><Action>bogus</Action></Account></Response></Autodiscover>",
      "<Autodiscover xmlns='" EXS_NS_AD_RESP "'><Response xmlns='" EXS_NS_AD_POX_RESP
      "'><Account><Action>settin",
  };
  struct exs_autodiscover_answer a;
  struct exs_error err;
  size_t i;

  for(i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    exs_error_clear(&err);
    ck_assert_int_eq(exs_autodiscover_parse_pox(bad[i], strlen(bad[i]), &a, &err), -1);
    ck_assert_int_eq(err.category, EXS_CAT_PROTOCOL);
    ck_assert_int_eq(exs_autodiscover_parse_soap(bad[i], strlen(bad[i]), &a, &err), -1);
  }
}
END_TEST

/* ---- the search over a fake world ---- */

struct route {
  const char *method; /* "POST" or "GET" */
  const char *url;
  long status;         /* 0: transport failure */
  const char *fixture; /* body file, or NULL */
  const char *body;    /* inline body */
  const char *location;
};

#define MAX_CALLS 64

struct world {
  const struct route *routes;
  size_t n_routes;
  int chain_to; /* >0: https://hN.contoso.com redirects to hN+1 up to this N */
  char calls[MAX_CALLS][256];
  bool anonymous[MAX_CALLS];
  size_t n_calls;
  const struct exs_srv_record *srv;
  size_t n_srv;
};

static char *redirect_url_body(const char *url)
{
  static const char fmt[] =
      "<Autodiscover xmlns='" EXS_NS_AD_RESP "'><Response xmlns='" EXS_NS_AD_POX_RESP "'>"
      "<Account><Action>redirectUrl</Action><RedirectUrl>%s</RedirectUrl></Account></Response>"
      "</Autodiscover>";
  char *b = malloc(strlen(fmt) + strlen(url) + 1);
  sprintf(b, fmt, url);
  return b;
}

static int fake_transport(void *ctx, const struct exs_http_request *req,
                          struct exs_http_response *resp, struct exs_error *err)
{
  struct world *w = ctx;
  size_t i;
  int n;

  if(w->n_calls < MAX_CALLS) {
    snprintf(w->calls[w->n_calls], sizeof(w->calls[0]), "%s %s", req->method, req->url);
    w->anonymous[w->n_calls++] = req->anonymous;
  }
  if(w->chain_to && sscanf(req->url, "https://h%d.contoso.com/", &n) == 1) {
    char next[128];
    char *b;
    snprintf(next, sizeof(next), "https://h%d.contoso.com/autodiscover/autodiscover.xml", n + 1);
    b = redirect_url_body(next);
    resp->status = 200;
    exs_buf_adds(&resp->body, b);
    free(b);
    return 0;
  }
  for(i = 0; i < w->n_routes; i++) {
    const struct route *r = &w->routes[i];
    if(strcmp(r->method, req->method) || strcasecmp(r->url, req->url))
      continue;
    if(!r->status) {
      snprintf(err->url, sizeof(err->url), "%s", req->url);
      exs_error_set(err, EXS_CAT_TLS_TRUST, "the certificate of %s is not trusted", req->url);
      return -1;
    }
    resp->status = r->status;
    if(r->location)
      snprintf(resp->location, sizeof(resp->location), "%s", r->location);
    if(r->status == 401)
      snprintf(resp->www_authenticate, sizeof(resp->www_authenticate), "Negotiate,NTLM,Basic");
    if(r->fixture) {
      char *b = fx(r->fixture);
      exs_buf_adds(&resp->body, b);
      free(b);
    }
    else if(r->body) {
      exs_buf_adds(&resp->body, r->body);
    }
    return 0;
  }
  snprintf(err->url, sizeof(err->url), "%s", req->url);
  exs_error_set(err, EXS_CAT_DNS, "cannot resolve the host of %s", req->url);
  return -1;
}

static int fake_srv(void *ctx, const char *name, struct exs_srv_record *out, size_t max, size_t *n)
{
  struct world *w = ctx;
  size_t i;

  *n = 0;
  if(strcmp(name, "_autodiscover._tcp.contoso.com"))
    return 0;
  for(i = 0; i < w->n_srv && i < max; i++)
    out[(*n)++] = w->srv[i];
  return 0;
}

static struct exs_autodiscover *make_ad(struct world *w, int max_hops)
{
  struct exs_autodiscover_options o;

  memset(&o, 0, sizeof(o));
  o.transport = fake_transport;
  o.transport_ctx = w;
  o.srv = fake_srv;
  o.srv_ctx = w;
  o.max_hops = max_hops;
  return exs_autodiscover_new(&o);
}

#define D_XML "https://contoso.com/autodiscover/autodiscover.xml"
#define D_SVC "https://contoso.com/autodiscover/autodiscover.svc"
#define A_XML "https://autodiscover.contoso.com/autodiscover/autodiscover.xml"
#define A_SVC "https://autodiscover.contoso.com/autodiscover/autodiscover.svc"
#define HTTP_PROBE "http://autodiscover.contoso.com/autodiscover/autodiscover.xml"
#define EWS "https://mail.contoso.com/EWS/Exchange.asmx"

static int run_world(struct world *w, const char *address, int max_hops,
                     struct exs_autodiscover_result *res, struct exs_error *err)
{
  struct exs_autodiscover *ad = make_ad(w, max_hops);
  int rc;

  ck_assert_ptr_nonnull(ad);
  exs_error_clear(err);
  rc = exs_autodiscover_run(ad, address, res, err);
  exs_autodiscover_free(ad);
  return rc;
}

START_TEST(root_domain_pox)
{
  static const struct route routes[] = {{"POST", D_XML, 200, "pox_settings_split.xml", NULL, NULL}};
  struct world w = {routes, 1, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "mara@contoso.com", 0, &res, &err), 0);
  ck_assert_str_eq(res.ews_url, EWS); /* external preferred */
  ck_assert_str_eq(res.internal_ews_url, "https://cas01.corp.contoso.com/EWS/Exchange.asmx");
  ck_assert_str_eq(res.address, "mara@contoso.com");
  ck_assert_str_eq(res.endpoint, D_XML);
  ck_assert_int_eq(res.method, EXS_AD_POX);
  ck_assert_int_eq(res.hops, 0);
  ck_assert_uint_eq(res.n_steps, 1);
  ck_assert_int_eq(res.steps[0].outcome, EXS_AD_SUCCESS);
  ck_assert_int_eq(res.steps[0].http_status, 200);
  ck_assert_uint_eq(w.n_calls, 1);
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(autodiscover_prefix_soap)
{
  static const struct route routes[] = {
      {"POST", D_XML, 0, NULL, NULL, NULL}, /* TLS failure */
      {"POST", D_SVC, 404, NULL, "<html/>", NULL},
      {"POST", A_XML, 401, NULL, NULL, NULL},
      {"POST", A_SVC, 200, "soap_settings.xml", NULL, NULL},
  };
  struct world w = {routes, 4, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "queue@contoso.com", 0, &res, &err), 0);
  ck_assert_str_eq(res.ews_url, EWS);
  ck_assert_int_eq(res.method, EXS_AD_SOAP);
  ck_assert_uint_eq(res.n_steps, 4);
  ck_assert_int_eq(res.steps[0].outcome, EXS_AD_ERROR);
  ck_assert_ptr_nonnull(strstr(res.steps[0].got, "TLS_TRUST"));
  ck_assert_int_eq(res.steps[1].http_status, 404);
  ck_assert_int_eq(res.steps[2].http_status, 401);
  ck_assert_ptr_nonnull(strstr(res.steps[2].got, "NTLM"));
  ck_assert_int_eq(res.steps[3].method, EXS_AD_SOAP);
  ck_assert_int_eq(res.steps[3].outcome, EXS_AD_SUCCESS);
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(http_redirect_probe)
{
  static const struct route routes[] = {
      {"GET", HTTP_PROBE, 302, NULL, NULL,
       "https://mail.contoso.com/autodiscover/autodiscover.xml"},
      {"POST", "https://mail.contoso.com/autodiscover/autodiscover.xml", 200, "pox_settings.xml",
       NULL, NULL},
  };
  struct world w = {routes, 2, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "mara@contoso.com", 0, &res, &err), 0);
  ck_assert_str_eq(res.ews_url, EWS);
  ck_assert_int_eq(res.hops, 1);
  ck_assert_uint_eq(w.n_calls, 6);
  ck_assert_str_eq(w.calls[4], "GET " HTTP_PROBE);
  ck_assert(w.anonymous[4]); /* the probe carries no credentials */
  ck_assert(!w.anonymous[5]);
  ck_assert_int_eq(res.steps[4].method, EXS_AD_REDIRECT);
  ck_assert_int_eq(res.steps[4].outcome, EXS_AD_WARNING);
  exs_autodiscover_result_free(&res);
}
END_TEST

static const struct {
  long status;
  const char *location;
} bad_probes[] = {
    {301, "http://mail.contoso.com/autodiscover/autodiscover.xml"},  /* not https */
    {200, NULL},                                                     /* not a redirect */
    {308, "https://mail.contoso.com/autodiscover/autodiscover.xml"}, /* only 301/302/307 */
    {302, NULL},                                                     /* no Location */
};

START_TEST(http_redirect_probe_refused)
{
  struct route routes[] = {
      {"GET", HTTP_PROBE, bad_probes[_i].status, NULL, NULL, bad_probes[_i].location},
      {"POST", "https://mail.contoso.com/autodiscover/autodiscover.xml", 200, "pox_settings.xml",
       NULL, NULL},
  };
  struct world w = {routes, 2, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "mara@contoso.com", 0, &res, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_AUTODISCOVER);
  ck_assert_int_eq(res.steps[4].outcome, EXS_AD_ERROR);
  ck_assert_uint_eq(w.n_calls, 5); /* nothing posted to the refused target */
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(dns_srv)
{
  static const struct exs_srv_record recs[] = {
      {10, 0, 443, "late.contoso.com."},
      {0, 100, 8443, "odd-port.contoso.com."},
      {5, 10, 443, "ad.contoso.com."},
      {5, 50, 443, "heavy.contoso.com."},
  };
  static const struct route routes[] = {
      {"POST", "https://heavy.contoso.com/autodiscover/autodiscover.xml", 500, NULL, "x", NULL},
      {"POST", "https://ad.contoso.com/autodiscover/autodiscover.svc", 200, "soap_settings.xml",
       NULL, NULL},
  };
  struct world w = {routes, 2, 0, {{0}}, {0}, 0, recs, 4};
  struct exs_autodiscover_result res;
  struct exs_error err;
  size_t i;
  bool skipped = false;

  ck_assert_int_eq(run_world(&w, "queue@contoso.com", 0, &res, &err), 0);
  ck_assert_str_eq(res.endpoint, "https://ad.contoso.com/autodiscover/autodiscover.svc");
  /* order: heavy (prio 5, weight 50) before ad (prio 5, weight 10); late never tried */
  ck_assert_str_eq(w.calls[5], "POST https://heavy.contoso.com/autodiscover/autodiscover.xml");
  ck_assert_str_eq(w.calls[w.n_calls - 1],
                   "POST https://ad.contoso.com/autodiscover/autodiscover.svc");
  for(i = 0; i < w.n_calls; i++)
    ck_assert_ptr_null(strstr(w.calls[i], "late.contoso.com"));
  for(i = 0; i < res.n_steps; i++)
    if(res.steps[i].method == EXS_AD_SRV && res.steps[i].outcome == EXS_AD_SKIPPED)
      skipped = strstr(res.steps[i].got, "8443") != NULL;
  ck_assert(skipped);
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(redirect_addr_restarts)
{
  static const struct route routes[] = {
      {"POST", D_XML, 200, "pox_redirect_addr.xml", NULL, NULL},
      {"POST", "https://mail.contoso.com/autodiscover/autodiscover.xml", 200, "pox_settings.xml",
       NULL, NULL},
  };
  struct world w = {routes, 2, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "mara@contoso.com", 0, &res, &err), 0);
  ck_assert_str_eq(res.address, "elvin@mail.contoso.com");
  ck_assert_int_eq(res.hops, 1);
  ck_assert_str_eq(res.ews_url, EWS);
  ck_assert_uint_eq(res.n_steps, 2);
  ck_assert_int_eq(res.steps[1].hop, 1);
  ck_assert_str_eq(res.steps[1].address, "elvin@mail.contoso.com");
  ck_assert_ptr_nonnull(strstr(res.steps[1].why, "elvin@mail.contoso.com"));
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(redirect_url_followed)
{
  static const struct route routes[] = {
      {"POST", D_XML, 200, "pox_redirect_url.xml", NULL, NULL},
      {"POST", "https://autodiscover.mail.contoso.com/autodiscover/autodiscover.xml", 200,
       "pox_settings.xml", NULL, NULL},
  };
  struct world w = {routes, 2, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "mara@contoso.com", 0, &res, &err), 0);
  ck_assert_str_eq(res.endpoint,
                   "https://autodiscover.mail.contoso.com/autodiscover/autodiscover.xml");
  ck_assert_str_eq(res.address, "mara@contoso.com");
  ck_assert_int_eq(res.hops, 1);
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(soap_redirect_url_and_post_redirect)
{
  static const struct route routes[] = {
      {"POST", D_XML, 302, NULL, NULL, "https://contoso.com/autodiscover/autodiscover.svc?x=1"},
      {"POST", "https://contoso.com/autodiscover/autodiscover.svc?x=1", 200,
       "soap_redirect_url.xml", NULL, NULL},
      {"POST", "https://autodiscover.mail.contoso.com/autodiscover/autodiscover.svc", 200,
       "soap_settings.xml", NULL, NULL},
  };
  struct world w = {routes, 3, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "mara@contoso.com", 0, &res, &err), 0);
  ck_assert_int_eq(res.hops, 2);
  ck_assert_int_eq(res.method, EXS_AD_SOAP);
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(address_loop_fails)
{
  static const struct route routes[] = {
      {"POST", D_XML, 200, NULL,
       "<Autodiscover xmlns='" EXS_NS_AD_RESP "'><Response xmlns='" EXS_NS_AD_POX_RESP "'><Account>"
       "<Action>redirectAddr</Action><RedirectAddr>bob@fabrikam.com</RedirectAddr></Account>"
       "</Response></Autodiscover>",
       NULL},
      {"POST", "https://fabrikam.com/autodiscover/autodiscover.xml", 200, NULL,
       "<Autodiscover xmlns='" EXS_NS_AD_RESP "'><Response xmlns='" EXS_NS_AD_POX_RESP "'><Account>"
       "<Action>redirectAddr</Action><RedirectAddr>MARA@contoso.com</RedirectAddr></Account>"
       "</Response></Autodiscover>",
       NULL},
  };
  struct world w = {routes, 2, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "mara@contoso.com", 0, &res, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_AUTODISCOVER);
  ck_assert(!err.transient);
  ck_assert_ptr_nonnull(strstr(err.message, "loop"));
  ck_assert_int_eq(err.http_status, 200);
  ck_assert_uint_eq(w.n_calls, 2);
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(url_loop_refused_then_next)
{
  static const struct route routes[] = {
      {"POST", D_XML, 200, NULL,
       "<Autodiscover xmlns='" EXS_NS_AD_RESP "'><Response xmlns='" EXS_NS_AD_POX_RESP "'><Account>"
       "<Action>redirectUrl</Action><RedirectUrl>" D_XML "</RedirectUrl></Account>"
       "</Response></Autodiscover>",
       NULL},
      {"POST", D_SVC, 200, "soap_settings.xml", NULL, NULL},
  };
  struct world w = {routes, 2, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "mara@contoso.com", 0, &res, &err), 0);
  ck_assert_uint_eq(res.n_steps, 3);
  ck_assert_int_eq(res.steps[1].outcome, EXS_AD_ERROR);
  ck_assert_ptr_nonnull(strstr(res.steps[1].why, "loop"));
  ck_assert_uint_eq(w.n_calls, 2);
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(too_many_hops)
{
  static const struct route routes[] = {
      {"POST", D_XML, 200, NULL,
       "<Autodiscover xmlns='" EXS_NS_AD_RESP "'><Response xmlns='" EXS_NS_AD_POX_RESP "'><Account>"
       "<Action>redirectUrl</Action><RedirectUrl>https://h1.contoso.com/autodiscover/"
       "autodiscover.xml</RedirectUrl></Account></Response></Autodiscover>",
       NULL},
  };
  struct world w = {routes, 1, 100, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "mara@contoso.com", 0, &res, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_AUTODISCOVER);
  ck_assert_ptr_nonnull(strstr(err.message, "more than 10"));
  ck_assert_int_eq(res.hops, 10);
  ck_assert_uint_eq(w.n_calls, 11); /* the first answer + 10 followed hops */
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(not_found_invalid_user)
{
  static const struct route routes[] = {
      {"POST", D_XML, 200, "pox_error_500.xml", NULL, NULL},
      {"POST", D_SVC, 200, "soap_invalid_user.xml", NULL, NULL},
  };
  struct world w = {routes, 2, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "ghost@contoso.com", 0, &res, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_AUTODISCOVER);
  ck_assert_int_eq(err.http_status, 200);
  ck_assert_str_eq(err.ews_code, "InvalidUser");
  ck_assert_str_eq(err.url, D_SVC);
  ck_assert_ptr_nonnull(strstr(err.message, "InvalidUser"));
  ck_assert_str_ne(err.hint, "");
  ck_assert_int_eq(res.steps[0].outcome, EXS_AD_ERROR);
  ck_assert_ptr_nonnull(strstr(res.steps[0].got, "500: The e-mail address cannot be found."));
  /* every candidate was tried and logged: 4 POSTs, the probe, SRV */
  ck_assert_uint_eq(res.n_steps, 6);
  ck_assert_int_eq(res.steps[5].method, EXS_AD_SRV);
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(not_found_pox_500)
{
  static const struct route routes[] = {
      {"POST", D_XML, 200, "pox_error_500.xml", NULL, NULL},
      {"POST", D_SVC, 0, NULL, NULL, NULL},
  };
  struct world w = {routes, 2, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "ghost@contoso.com", 0, &res, &err), -1);
  ck_assert_int_eq(err.http_status, 200);
  ck_assert_str_eq(err.ews_code, "500");
  exs_autodiscover_result_free(&res);
}
END_TEST

/* An Autodiscover error code is not hidden by a later plain HTTP failure. */
START_TEST(not_found_then_404)
{
  static const struct route routes[] = {
      {"POST", D_XML, 200, "pox_error_500.xml", NULL, NULL},
      {"POST", A_XML, 404, NULL, "<html/>", NULL},
      {"POST", A_SVC, 503, NULL, NULL, NULL},
  };
  struct world w = {routes, 3, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "ghost@contoso.com", 0, &res, &err), -1);
  ck_assert_int_eq(err.http_status, 200);
  ck_assert_str_eq(err.ews_code, "500");
  ck_assert_str_eq(err.url, D_XML);
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(only_http_failures)
{
  static const struct route routes[] = {
      {"POST", A_XML, 404, NULL, "<html/>", NULL},
      {"POST", A_SVC, 503, NULL, NULL, NULL},
  };
  struct world w = {routes, 2, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "ghost@contoso.com", 0, &res, &err), -1);
  ck_assert_int_eq(err.http_status, 503);
  ck_assert_str_eq(err.ews_code, "");
  ck_assert_str_eq(err.url, A_SVC);
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(nothing_answers)
{
  struct world w = {NULL, 0, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "mara@contoso.com", 0, &res, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_AUTODISCOVER);
  ck_assert_int_eq(err.http_status, 0);
  ck_assert_str_eq(err.ews_code, "");
  ck_assert_uint_eq(res.n_steps, 6);
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(credentials_refused_everywhere)
{
  static const struct route routes[] = {
      {"POST", D_XML, 401, NULL, NULL, NULL},
      {"POST", D_SVC, 401, NULL, NULL, NULL},
      {"POST", A_XML, 401, NULL, NULL, NULL},
      {"POST", A_SVC, 401, NULL, NULL, NULL},
  };
  struct world w = {routes, 4, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "mara@contoso.com", 0, &res, &err), -1);
  ck_assert_int_eq(err.http_status, 401);
  ck_assert_ptr_nonnull(strstr(err.message, "credentials"));
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(cache_per_domain)
{
  struct route routes[] = {
      {"POST", D_XML, 0, NULL, NULL, NULL},
      {"POST", D_SVC, 200, "soap_settings.xml", NULL, NULL},
  };
  struct world w = {routes, 2, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover *ad = make_ad(&w, 0);
  struct exs_autodiscover_result res;
  struct exs_error err;

  exs_error_clear(&err);
  ck_assert_int_eq(exs_autodiscover_run(ad, "a@contoso.com", &res, &err), 0);
  ck_assert(!res.from_cache);
  exs_autodiscover_result_free(&res);
  w.n_calls = 0;
  ck_assert_int_eq(exs_autodiscover_run(ad, "b@Contoso.com", &res, &err), 0);
  ck_assert(res.from_cache);
  ck_assert_uint_eq(w.n_calls, 1);
  ck_assert_str_eq(w.calls[0], "POST " D_SVC);
  ck_assert_int_eq(res.steps[0].method, EXS_AD_CACHE);
  exs_autodiscover_result_free(&res);
  /* the cached endpoint breaks: forgotten, full search finds the new one */
  routes[1].status = 503;
  routes[0].status = 200;
  routes[0].fixture = "pox_settings.xml";
  w.n_calls = 0;
  ck_assert_int_eq(exs_autodiscover_run(ad, "c@contoso.com", &res, &err), 0);
  ck_assert(!res.from_cache);
  ck_assert_str_eq(res.endpoint, D_XML);
  ck_assert_uint_eq(w.n_calls, 2);
  exs_autodiscover_result_free(&res);
  exs_autodiscover_cache_clear(ad);
  w.n_calls = 0;
  ck_assert_int_eq(exs_autodiscover_run(ad, "d@contoso.com", &res, &err), 0);
  ck_assert(!res.from_cache);
  exs_autodiscover_result_free(&res);
  exs_autodiscover_free(ad);
}
END_TEST

START_TEST(plain_http_ews_url_is_a_warning)
{
  static const struct route routes[] = {
      {"POST", D_XML, 200, NULL,
       "<Autodiscover xmlns='" EXS_NS_AD_RESP "'><Response xmlns='" EXS_NS_AD_POX_RESP "'><Account>"
       "<Action>settings</Action><Protocol><Type>EXCH</Type><EwsUrl>http://mail.contoso.com/EWS/"
       "Exchange.asmx</EwsUrl></Protocol></Account></Response></Autodiscover>",
       NULL},
  };
  struct world w = {routes, 1, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "mara@contoso.com", 0, &res, &err), 0);
  ck_assert_str_eq(res.ews_url, "http://mail.contoso.com/EWS/Exchange.asmx");
  ck_assert_int_eq(res.steps[0].outcome, EXS_AD_WARNING);
  exs_autodiscover_result_free(&res);
}
END_TEST

START_TEST(not_an_address)
{
  struct world w = {NULL, 0, 0, {{0}}, {0}, 0, NULL, 0};
  struct exs_autodiscover_result res;
  struct exs_error err;

  ck_assert_int_eq(run_world(&w, "no-at-sign", 0, &res, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_CONFIG);
  ck_assert_uint_eq(w.n_calls, 0);
  exs_autodiscover_result_free(&res);
  ck_assert_int_eq(run_world(&w, "x@bad/domain", 0, &res, &err), -1);
  exs_autodiscover_result_free(&res);
  exs_autodiscover_result_free(NULL);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("autodiscover");
  TCase *tp = tcase_create("protocol");
  TCase *ts = tcase_create("search");

  tcase_add_test(tp, build_pox_and_soap);
  tcase_add_loop_test(tp, parse_answers, 0, sizeof(answers) / sizeof(answers[0]));
  tcase_add_test(tp, parse_details);
  tcase_add_test(tp, parse_hostile);
  suite_add_tcase(s, tp);

  tcase_add_test(ts, root_domain_pox);
  tcase_add_test(ts, autodiscover_prefix_soap);
  tcase_add_test(ts, http_redirect_probe);
  tcase_add_loop_test(ts, http_redirect_probe_refused, 0,
                      sizeof(bad_probes) / sizeof(bad_probes[0]));
  tcase_add_test(ts, dns_srv);
  tcase_add_test(ts, redirect_addr_restarts);
  tcase_add_test(ts, redirect_url_followed);
  tcase_add_test(ts, soap_redirect_url_and_post_redirect);
  tcase_add_test(ts, address_loop_fails);
  tcase_add_test(ts, url_loop_refused_then_next);
  tcase_add_test(ts, too_many_hops);
  tcase_add_test(ts, not_found_invalid_user);
  tcase_add_test(ts, not_found_pox_500);
  tcase_add_test(ts, not_found_then_404);
  tcase_add_test(ts, only_http_failures);
  tcase_add_test(ts, nothing_answers);
  tcase_add_test(ts, credentials_refused_everywhere);
  tcase_add_test(ts, cache_per_domain);
  tcase_add_test(ts, plain_http_ews_url_is_a_warning);
  tcase_add_test(ts, not_an_address);
  suite_add_tcase(s, ts);
  return tu_run(s);
}
