/* test_emu_autodiscover.c - virtual hosts chosen by the Host header, POX and
 * SOAP Autodiscover answers (settings, redirectAddr, redirectUrl, error), the
 * unauthenticated HTTP redirect, the 401 advertising SOAP, and the schemes
 * each host accepts. One listener serves every host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_client.h"

#define NS_POX_REQ "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
#define NS_POX_RESP "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
#define NS_POX_RESPA                                                                               \
  "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
#define NS_AD "http://schemas.microsoft.com/exchange/2010/Autodiscover"

static struct emu *emu;
static char base[256];
static int port;

static void setup_with(const char *scenario)
{
  char err[512], bound[64];

  emu = emu_new();
  ck_assert_ptr_nonnull(emu);
  ck_assert_msg(emu_load_scenario(emu, tu_path(scenario), err, sizeof(err)) == 0, "%s", err);
  port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  ec_strict(emu);
  ck_assert_int_eq(emu_start(emu, err, sizeof(err)), 0);
  snprintf(base, sizeof(base), "http://%s", bound);
}

static void setup_hosts(void)
{
  setup_with("fixtures/scenarios/hosts.xml");
}

static void setup_contoso(void)
{
  setup_with("fixtures/scenarios/contoso.xml");
}

static void teardown(void)
{
  emu_free(emu);
  emu = NULL;
}

static const char *pox_body(const char *addr)
{
  static char b[1024];

  snprintf(b, sizeof(b),
           "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"" NS_POX_REQ
           "\"><Request><EMailAddress>%s</EMailAddress><AcceptableResponseSchema>" NS_POX_RESPA
           "</AcceptableResponseSchema></Request></Autodiscover>",
           addr);
  return b;
}

static const char *soap_body(const char *addr)
{
  static char b[2048];

  snprintf(b, sizeof(b),
           "<soap:Envelope xmlns:soap=\"" EC_NS_SOAP "\" xmlns:a=\"" NS_AD "\"><soap:Header>"
           "<a:RequestedServerVersion>Exchange2013</a:RequestedServerVersion></soap:Header>"
           "<soap:Body><a:GetUserSettingsRequestMessage><a:Request><a:Users><a:User>"
           "<a:Mailbox>%s</a:Mailbox></a:User></a:Users><a:RequestedSettings>"
           "<a:Setting>UserDisplayName</a:Setting><a:Setting>InternalEwsUrl</a:Setting>"
           "<a:Setting>ExternalEwsUrl</a:Setting><a:Setting>NoSuchSetting</a:Setting>"
           "</a:RequestedSettings></a:Request></a:GetUserSettingsRequestMessage></soap:Body>"
           "</soap:Envelope>",
           addr);
  return b;
}

static void text_at(struct ec_resp *r, const char *ns, const char *path, char *buf, size_t len)
{
  xmlNodePtr root;

  ck_assert_msg(r->doc != NULL, "not XML: %.500s", r->body.data);
  root = xmlDocGetRootElement(r->doc);
  exs_xml_text(exs_xml_path(root, ns, path), buf, len);
}

START_TEST(pox_settings_point_at_the_ews_host)
{
  struct ec_resp r;
  char u[300], got[512], want[512];

  char hh[128];

  /* the port of the Host header carries over to the EwsUrl */
  snprintf(hh, sizeof(hh), "autodiscover.contoso.com:%d", port);
  snprintf(u, sizeof(u), "%s/Autodiscover/Autodiscover.xml", base);
  ck_assert_int_eq(
      ec_request("POST", u, "CONTOSO\\alice:alice-pw", hh, pox_body("alice@contoso.com"), &r),
      CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  ck_assert(exs_xml_is(xmlDocGetRootElement(r.doc), NS_POX_RESP, "Autodiscover"));
  text_at(&r, NS_POX_RESPA, "Response/Account/Action", got, sizeof(got));
  ck_assert_str_eq(got, "settings");
  text_at(&r, NS_POX_RESPA, "Response/Account/Protocol/EwsUrl", got, sizeof(got));
  snprintf(want, sizeof(want), "http://mail.contoso.com:%d/EWS/Exchange.asmx", port);
  ck_assert_str_eq(got, want);
  text_at(&r, NS_POX_RESPA, "Response/User/AutoDiscoverSMTPAddress", got, sizeof(got));
  ck_assert_str_eq(got, "alice@contoso.com");
  ec_free(&r);
  /* without a port (as for https on 443) the EwsUrl has none either */
  ck_assert_int_eq(ec_request("POST", u, "alice:alice-pw", "autodiscover.contoso.com",
                              pox_body("alice@contoso.com"), &r),
                   CURLE_OK);
  text_at(&r, NS_POX_RESPA, "Response/Account/Protocol/EwsUrl", got, sizeof(got));
  ck_assert_str_eq(got, "http://mail.contoso.com/EWS/Exchange.asmx");
  ec_free(&r);
}
END_TEST

START_TEST(pox_unknown_address_is_not_found)
{
  struct ec_resp r;
  char u[300], got[256];

  snprintf(u, sizeof(u), "%s/autodiscover/autodiscover.xml", base);
  ck_assert_int_eq(ec_request("POST", u, "alice:alice-pw", "autodiscover.contoso.com",
                              pox_body("ghost@contoso.com"), &r),
                   CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  text_at(&r, NS_POX_RESP, "Response/Error/Message", got, sizeof(got));
  ck_assert_str_eq(got, "The e-mail address cannot be found.");
  text_at(&r, NS_POX_RESP, "Response/Error/ErrorCode", got, sizeof(got));
  ck_assert_str_eq(got, "500");
  ec_free(&r);
}
END_TEST

START_TEST(soap_settings_and_invalid_user)
{
  struct ec_resp r;
  char u[300], got[512], want[512];
  xmlNodePtr resp, settings;
  size_t n = 0;

  char hh[128];

  snprintf(hh, sizeof(hh), "autodiscover.contoso.com:%d", port);
  snprintf(u, sizeof(u), "%s/autodiscover/autodiscover.svc", base);
  ck_assert_int_eq(ec_request("POST", u, "alice:alice-pw", hh, soap_body("alice@contoso.com"), &r),
                   CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  text_at(&r, EC_NS_SOAP, "Body", got, 1); /* asserts XML */
  resp = exs_xml_path(xmlDocGetRootElement(r.doc), EC_NS_SOAP, "Body");
  resp = exs_xml_path(resp, NS_AD,
                      "GetUserSettingsResponseMessage/Response/UserResponses/UserResponse");
  ck_assert_ptr_nonnull(resp);
  exs_xml_text(exs_xml_child(resp, NS_AD, "ErrorCode"), got, sizeof(got));
  ck_assert_str_eq(got, "NoError");
  settings = exs_xml_child(resp, NS_AD, "UserSettings");
  snprintf(want, sizeof(want), "http://mail.contoso.com:%d/EWS/Exchange.asmx", port);
  for(xmlNodePtr s = settings->children; s; s = s->next) {
    char name[64];
    if(!exs_xml_is(s, NS_AD, "UserSetting"))
      continue;
    n++;
    exs_xml_text(exs_xml_child(s, NS_AD, "Name"), name, sizeof(name));
    if(strcmp(name, "InternalEwsUrl") == 0) {
      exs_xml_text(exs_xml_child(s, NS_AD, "Value"), got, sizeof(got));
      ck_assert_str_eq(got, want);
    }
  }
  ck_assert_uint_eq(n, 3);
  exs_xml_text(exs_xml_path(resp, NS_AD, "UserSettingErrors/UserSettingError/SettingName"), got,
               sizeof(got));
  ck_assert_str_eq(got, "NoSuchSetting");
  ec_free(&r);

  ck_assert_int_eq(ec_request("POST", u, "alice:alice-pw", "autodiscover.contoso.com",
                              soap_body("ghost@contoso.com"), &r),
                   CURLE_OK);
  resp = exs_xml_path(xmlDocGetRootElement(r.doc), EC_NS_SOAP, "Body");
  resp = exs_xml_path(resp, NS_AD,
                      "GetUserSettingsResponseMessage/Response/UserResponses/UserResponse");
  exs_xml_text(exs_xml_child(resp, NS_AD, "ErrorCode"), got, sizeof(got));
  ck_assert_str_eq(got, "InvalidUser");
  exs_xml_text(exs_xml_child(resp, NS_AD, "ErrorMessage"), got, sizeof(got));
  ck_assert_str_eq(got, "The e-mail address cannot be found.");
  ec_free(&r);
}
END_TEST

/* Faults scoped to operation=autodiscover: an EWS error code is answered
 * as Autodiscover's own error (POX 500, SOAP ServerBusy), an HTTP status as
 * that status; times=N stops after N requests. */
START_TEST(faults_apply_to_autodiscover)
{
  struct ec_resp r;
  char u[300], got[256], err[256];
  xmlNodePtr resp;

  ck_assert_int_eq(emu_add_fault(emu, "operation=autodiscover ews-code=ErrorServerBusy times=2",
                                 err, sizeof(err)) > 0,
                   1);
  snprintf(u, sizeof(u), "%s/autodiscover/autodiscover.xml", base);
  ck_assert_int_eq(ec_request("POST", u, "alice:alice-pw", "autodiscover.contoso.com",
                              pox_body("alice@contoso.com"), &r),
                   CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  text_at(&r, NS_POX_RESP, "Response/Error/ErrorCode", got, sizeof(got));
  ck_assert_str_eq(got, "500");
  ec_free(&r);
  snprintf(u, sizeof(u), "%s/autodiscover/autodiscover.svc", base);
  ck_assert_int_eq(ec_request("POST", u, "alice:alice-pw", "autodiscover.contoso.com",
                              soap_body("alice@contoso.com"), &r),
                   CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  resp = exs_xml_path(xmlDocGetRootElement(r.doc), EC_NS_SOAP, "Body");
  resp = exs_xml_path(resp, NS_AD, "GetUserSettingsResponseMessage/Response");
  exs_xml_text(exs_xml_child(resp, NS_AD, "ErrorCode"), got, sizeof(got));
  ck_assert_str_eq(got, "ServerBusy");
  ec_free(&r);
  /* the third request is past times=2: settings again */
  ck_assert_int_eq(ec_request("POST", u, "alice:alice-pw", "autodiscover.contoso.com",
                              soap_body("alice@contoso.com"), &r),
                   CURLE_OK);
  resp = exs_xml_path(xmlDocGetRootElement(r.doc), EC_NS_SOAP, "Body");
  resp = exs_xml_path(resp, NS_AD, "GetUserSettingsResponseMessage/Response");
  exs_xml_text(exs_xml_child(resp, NS_AD, "ErrorCode"), got, sizeof(got));
  ck_assert_str_eq(got, "NoError");
  ec_free(&r);
  emu_clear_faults(emu);
  ck_assert_int_eq(
      emu_add_fault(emu, "operation=autodiscover http-status=503 times=1", err, sizeof(err)) > 0,
      1);
  ck_assert_int_eq(ec_request("POST", u, "alice:alice-pw", "autodiscover.contoso.com",
                              soap_body("alice@contoso.com"), &r),
                   CURLE_OK);
  ck_assert_int_eq(r.status, 503);
  ec_free(&r);
}
END_TEST

START_TEST(unauthenticated_autodiscover_advertises_soap)
{
  struct ec_resp r;
  char u[300];

  snprintf(u, sizeof(u), "%s/autodiscover/autodiscover.xml", base);
  ck_assert_int_eq(ec_request("GET", u, NULL, "autodiscover.contoso.com", NULL, &r), CURLE_OK);
  ck_assert_int_eq(r.status, 401);
  ck_assert_ptr_nonnull(strstr(r.headers.data, "X-SOAP-Enabled: True"));
  ck_assert_ptr_nonnull(
      strstr(r.headers.data, "WWW-Authenticate: Basic realm=\"autodiscover.contoso.com\""));
  ec_free(&r);
}
END_TEST

/* Per Host header: which paths exist. */
static const struct {
  const char *host, *path;
  long status; /* with valid credentials */
} routes[] = {
    {"mail.contoso.com", "/EWS/Exchange.asmx", 200},
    {"autodiscover.contoso.com", "/EWS/Exchange.asmx", 404},
    {"contoso.com", "/autodiscover/autodiscover.xml", 404},
    {"contoso.com", "/autodiscover/autodiscover.svc", 404},
    {"mail.contoso.com", "/owa/", 404},
    {"127.0.0.1", "/EWS/Exchange.asmx", 200},
};

START_TEST(hosts_route_by_host_header)
{
  struct ec_resp r;
  char u[300];

  snprintf(u, sizeof(u), "%s%s", base, routes[_i].path);
  ck_assert_int_eq(ec_request("POST", u, "alice:alice-pw", routes[_i].host,
                              ec_soap("Exchange2016", NULL,
                                      "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly"
                                      "</t:BaseShape></m:FolderShape><m:FolderIds>"
                                      "<t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds>"
                                      "</m:GetFolder>"),
                              &r),
                   CURLE_OK);
  ck_assert_int_eq(r.status, routes[_i].status);
  if(r.status == 200)
    ec_validate(&r);
  ec_free(&r);
}
END_TEST

/* hosts.xml: answers per host */
static const struct {
  const char *host;
  const char *action; /* POX Action, or "error" */
  const char *value;  /* RedirectAddr / RedirectUrl / EwsUrl / error message */
  const char *soap_code;
} answers[] = {
    {"autodiscover.fabrikam.com", "settings", "https://mail.fabrikam.com/EWS/Exchange.asmx",
     "NoError"},
    {"addr.fabrikam.com", "redirectAddr", "max@fabrikam.com", "RedirectAddress"},
    {"url.fabrikam.com", "redirectUrl",
     "https://autodiscover.fabrikam.com/autodiscover/autodiscover.xml", "RedirectUrl"},
    {"error.fabrikam.com", "error", "The e-mail address cannot be found.", "InvalidUser"},
};

START_TEST(autodiscover_answer_kinds)
{
  struct ec_resp r;
  char u[300], got[512];
  xmlNodePtr resp;

  snprintf(u, sizeof(u), "%s/autodiscover/autodiscover.xml", base);
  ck_assert_int_eq(
      ec_request("POST", u, "max:max-pw", answers[_i].host, pox_body("max@fabrikam.com"), &r),
      CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  if(strcmp(answers[_i].action, "error") == 0) {
    text_at(&r, NS_POX_RESP, "Response/Error/Message", got, sizeof(got));
  }
  else {
    text_at(&r, NS_POX_RESPA, "Response/Account/Action", got, sizeof(got));
    ck_assert_str_eq(got, answers[_i].action);
    text_at(&r, NS_POX_RESPA,
            strcmp(answers[_i].action, "settings") == 0       ? "Response/Account/Protocol/EwsUrl"
            : strcmp(answers[_i].action, "redirectAddr") == 0 ? "Response/Account/RedirectAddr"
                                                              : "Response/Account/RedirectUrl",
            got, sizeof(got));
  }
  ck_assert_str_eq(got, answers[_i].value);
  ec_free(&r);

  snprintf(u, sizeof(u), "%s/autodiscover/autodiscover.svc", base);
  ck_assert_int_eq(
      ec_request("POST", u, "max:max-pw", answers[_i].host, soap_body("max@fabrikam.com"), &r),
      CURLE_OK);
  resp = exs_xml_path(xmlDocGetRootElement(r.doc), EC_NS_SOAP, "Body");
  resp = exs_xml_path(resp, NS_AD,
                      "GetUserSettingsResponseMessage/Response/UserResponses/UserResponse");
  exs_xml_text(exs_xml_child(resp, NS_AD, "ErrorCode"), got, sizeof(got));
  ck_assert_str_eq(got, answers[_i].soap_code);
  ec_free(&r);
}
END_TEST

static const struct {
  const char *host;
  long status;
  const char *location;
} redirects[] = {
    {"autodiscover.fabrikam.com", 302,
     "https://autodiscover.fabrikam.com/autodiscover/autodiscover.xml"},
    {"redirect301.fabrikam.com", 301,
     "https://autodiscover.fabrikam.com/autodiscover/autodiscover.xml"},
    {"nowhere.fabrikam.com", 404, NULL},
};

START_TEST(http_redirect_on_get)
{
  struct ec_resp r;
  char u[300], want[300];

  snprintf(u, sizeof(u), "%s/autodiscover/autodiscover.xml", base);
  ck_assert_int_eq(ec_request("GET", u, NULL, redirects[_i].host, NULL, &r), CURLE_OK);
  ck_assert_int_eq(r.status, redirects[_i].status);
  if(redirects[_i].location) {
    snprintf(want, sizeof(want), "Location: %s\r\n", redirects[_i].location);
    ck_assert_ptr_nonnull(strstr(r.headers.data, want));
  }
  ec_free(&r);
}
END_TEST

START_TEST(schemes_per_host)
{
  struct ec_resp r;
  char u[300];
  const char *op = ec_soap("Exchange2016", NULL,
                           "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"
                           "</m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
                           "</m:FolderIds></m:GetFolder>");

  snprintf(u, sizeof(u), "%s/EWS/Exchange.asmx", base);
  ck_assert_int_eq(ec_request("POST", u, NULL, "mail.fabrikam.com", op, &r), CURLE_OK);
  ck_assert_int_eq(r.status, 401);
  ck_assert_ptr_nonnull(strstr(r.headers.data, "Basic realm=\"mail.fabrikam.com\""));
  ck_assert_ptr_null(strstr(r.headers.data, "NTLM"));
  ck_assert_ptr_null(strstr(r.headers.data, "Negotiate"));
  ec_free(&r);
  ck_assert_int_eq(ec_request("POST", u, "max:max-pw", "mail.fabrikam.com", op, &r), CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  ec_validate(&r);
  ec_free(&r);
  /* an NTLM-only host refuses good Basic credentials */
  ck_assert_int_eq(ec_request("POST", u, "max:max-pw", "ntlm.fabrikam.com", op, &r), CURLE_OK);
  ck_assert_int_eq(r.status, 401);
  ck_assert_ptr_null(strstr(r.headers.data, "Basic"));
  ck_assert_ptr_nonnull(strstr(r.headers.data, "WWW-Authenticate: NTLM"));
  ec_free(&r);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("emu_autodiscover");
  TCase *c = tcase_create("contoso");
  TCase *h = tcase_create("hosts");

  /* No fork per test unless asked (CK_FORK=yes): forking a sanitizer build
   * with the EWS schema loaded costs seconds per test. Every test starts its
   * own emulator in a checked fixture, so tests stay independent. */
  setenv("CK_FORK", "no", 0);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ec_load_schema();
  tcase_add_checked_fixture(c, setup_contoso, teardown);
  tcase_add_test(c, pox_settings_point_at_the_ews_host);
  tcase_add_test(c, pox_unknown_address_is_not_found);
  tcase_add_test(c, soap_settings_and_invalid_user);
  tcase_add_test(c, unauthenticated_autodiscover_advertises_soap);
  tcase_add_test(c, faults_apply_to_autodiscover);
  tcase_add_loop_test(c, hosts_route_by_host_header, 0, sizeof(routes) / sizeof(routes[0]));
  suite_add_tcase(s, c);
  tcase_add_checked_fixture(h, setup_hosts, teardown);
  tcase_add_loop_test(h, autodiscover_answer_kinds, 0, sizeof(answers) / sizeof(answers[0]));
  tcase_add_loop_test(h, http_redirect_on_get, 0, sizeof(redirects) / sizeof(redirects[0]));
  tcase_add_test(h, schemes_per_host);
  suite_add_tcase(s, h);
  {
    int rc = tu_run(s);
    exs_schema_free(ec_ews_schema);
    curl_global_cleanup();
    return rc;
  }
}
