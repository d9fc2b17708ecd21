/* autodiscover.c - POX (autodiscover.xml) and SOAP (autodiscover.svc,
 * GetUserSettings) Autodiscover answers, per virtual host.
 *
 * What a host answers is its ad_action: the settings of the mailbox (EwsUrl
 * from the host's ews_url, else derived from the request's own scheme and
 * Host header), a redirectAddr / redirectUrl to ad_target, or the error "The
 * e-mail address cannot be found." (also the answer for unknown addresses).
 * Runs under the world lock (shared); reads only what a scenario sets (users,
 * mailbox addresses, hosts). Writes into out with the streaming buffer.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "emu_internal.h"
#include "exsync/xml.h"

#define NS_POX_REQ "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
#define NS_POX_RESP "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
#define NS_POX_RESPA                                                                               \
  "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
#define NS_AD "http://schemas.microsoft.com/exchange/2010/Autodiscover"
#define NS_WSA "http://www.w3.org/2005/08/addressing"
#define NOT_FOUND "The e-mail address cannot be found."

static void ews_url_for(struct emu_host *host, bool tls, const char *hosthdr, char *out, size_t len)
{
  const char *colon = hosthdr ? strrchr(hosthdr, ':') : NULL;

  if(colon && strchr(colon, ']'))
    colon = NULL; /* an IPv6 literal without port */
  if(host->ews_url)
    snprintf(out, len, "%s", host->ews_url);
  else if(host->ews_host)
    snprintf(out, len, "%s://%s%s/EWS/Exchange.asmx", tls ? "https" : "http", host->ews_host,
             colon ? colon : "");
  else
    snprintf(out, len, "%s://%s/EWS/Exchange.asmx", tls ? "https" : "http",
             hosthdr && *hosthdr ? hosthdr : "localhost");
}

static void pox_error(struct exs_buf *out, const char *code, const char *msg)
{
  exs_buf_adds(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"" NS_POX_RESP
                    "\"><Response xmlns=\"" NS_POX_RESP "\"><Error Time=\"00:00:00.0000000\" "
                    "Id=\"2477272013\"><ErrorCode>");
  exs_buf_adds(out, code);
  exs_buf_adds(out, "</ErrorCode><Message>");
  exs_buf_add_xml(out, msg);
  exs_buf_adds(out, "</Message><DebugData /></Error></Response></Autodiscover>");
}

static int pox(struct emu *emu, struct emu_host *host, bool tls, const char *hosthdr, xmlDocPtr doc,
               struct exs_buf *out, char *mailbox, size_t mblen, char *code, size_t codelen)
{
  xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
  xmlNodePtr addr = root ? exs_xml_path(root, NS_POX_REQ, "Request/EMailAddress") : NULL;
  struct emu_mailbox *m;
  char url[512];

  if(!addr) {
    pox_error(out, "600", "Invalid Request");
    snprintf(code, codelen, "600");
    return 200;
  }
  exs_xml_text(addr, mailbox, mblen);
  m = emu_mailbox_find(emu, mailbox);
  if(host->ad_action == EMU_AD_REDIRECT_ADDR || host->ad_action == EMU_AD_REDIRECT_URL) {
    bool is_addr = host->ad_action == EMU_AD_REDIRECT_ADDR;
    exs_buf_adds(out,
                 "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"" NS_POX_RESP
                 "\"><Response xmlns=\"" NS_POX_RESPA "\"><Account><Action>");
    exs_buf_adds(out, is_addr ? "redirectAddr</Action><RedirectAddr>"
                              : "redirectUrl</Action><RedirectUrl>");
    exs_buf_add_xml(out, host->ad_target ? host->ad_target : "");
    exs_buf_adds(out, is_addr ? "</RedirectAddr>" : "</RedirectUrl>");
    exs_buf_adds(out, "</Account></Response></Autodiscover>");
    snprintf(code, codelen, "%s", is_addr ? "redirectAddr" : "redirectUrl");
    return 200;
  }
  if(host->ad_action == EMU_AD_ERROR || !m) {
    pox_error(out, "500", NOT_FOUND);
    snprintf(code, codelen, "500");
    return 200;
  }
  ews_url_for(host, tls, hosthdr, url, sizeof(url));
  exs_buf_adds(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"" NS_POX_RESP
                    "\"><Response xmlns=\"" NS_POX_RESPA "\"><User><DisplayName>");
  exs_buf_add_xml(out, m->display);
  exs_buf_adds(out, "</DisplayName><LegacyDN>/o=Emulated Organization/ou=Exchange Administrative "
                    "Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=");
  exs_buf_add_xml(out, m->smtp);
  exs_buf_adds(out, "</LegacyDN><AutoDiscoverSMTPAddress>");
  exs_buf_add_xml(out, m->smtp);
  exs_buf_adds(out, "</AutoDiscoverSMTPAddress><DeploymentId>50817eff-b925-4578-a0db-"
                    "13bfc635e7a5</DeploymentId></User><Account><AccountType>email</AccountType>"
                    "<Action>settings</Action><MicrosoftOnline>False</MicrosoftOnline>"
                    "<Protocol><Type>EXCH</Type><Server>mbx01.exsync.invalid</Server>"
                    "<ServerVersion>73C18809</ServerVersion><ASUrl>");
  exs_buf_add_xml(out, url);
  exs_buf_adds(out, "</ASUrl><EwsUrl>");
  exs_buf_add_xml(out, url);
  exs_buf_adds(out, "</EwsUrl></Protocol><Protocol><Type>EXPR</Type><Server>");
  exs_buf_add_xml(out, hosthdr);
  exs_buf_adds(out, "</Server><SSL>On</SSL><AuthPackage>Ntlm</AuthPackage><ASUrl>");
  exs_buf_add_xml(out, url);
  exs_buf_adds(out, "</ASUrl><EwsUrl>");
  exs_buf_add_xml(out, url);
  exs_buf_adds(out, "</EwsUrl></Protocol></Account></Response></Autodiscover>");
  snprintf(code, codelen, "settings");
  return 200;
}

static void soap_begin(struct exs_buf *out)
{
  exs_buf_adds(
      out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<s:Envelope xmlns:s=\"" EMU_NS_SOAP
           "\" xmlns:a=\"" NS_WSA "\"><s:Header><a:Action s:mustUnderstand=\"1\">" NS_AD
           "/Autodiscover/GetUserSettingsResponse</a:Action><h:ServerVersionInfo xmlns:h=\"" NS_AD
           "\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><h:MajorVersion>15"
           "</h:MajorVersion><h:MinorVersion>1</h:MinorVersion><h:MajorBuildNumber>2507"
           "</h:MajorBuildNumber><h:MinorBuildNumber>6</h:MinorBuildNumber><h:Version>"
           "Exchange2015</h:Version></h:ServerVersionInfo></s:Header><s:Body>"
           "<GetUserSettingsResponseMessage xmlns=\"" NS_AD "\"><Response xmlns:i=\""
           "http://www.w3.org/2001/XMLSchema-instance\">");
}

static void setting(struct exs_buf *out, const char *name, const char *value)
{
  exs_buf_adds(out, "<UserSetting i:type=\"StringSetting\"><Name>");
  exs_buf_add_xml(out, name);
  exs_buf_adds(out, "</Name><Value>");
  exs_buf_add_xml(out, value);
  exs_buf_adds(out, "</Value></UserSetting>");
}

/* A UserSettingError for each requested setting we do not serve. */
static void setting_errors(struct exs_buf *out, xmlNodePtr settings)
{
  for(xmlNodePtr s = settings ? settings->children : NULL; s; s = s->next) {
    char name[128];
    if(!exs_xml_is(s, NS_AD, "Setting"))
      continue;
    exs_xml_text(s, name, sizeof(name));
    if(strcmp(name, "UserDisplayName") && strcmp(name, "UserDN") &&
       strcmp(name, "UserDeploymentId") && strcmp(name, "InternalEwsUrl") &&
       strcmp(name, "ExternalEwsUrl") && strcmp(name, "CasVersion") &&
       strcmp(name, "EwsSupportedSchemas") && strcmp(name, "InternalMailboxServer")) {
      exs_buf_adds(out, "<UserSettingError><ErrorCode>SettingIsNotAvailable</ErrorCode>"
                        "<ErrorMessage>User setting '");
      exs_buf_add_xml(out, name);
      exs_buf_adds(out, "' is not available. </ErrorMessage><SettingName>");
      exs_buf_add_xml(out, name);
      exs_buf_adds(out, "</SettingName></UserSettingError>");
    }
  }
}

/* The requested settings we serve, for mailbox m. */
static void user_settings(struct exs_buf *out, xmlNodePtr settings, const struct emu_mailbox *m,
                          const char *url)
{
  for(xmlNodePtr s = settings ? settings->children : NULL; s; s = s->next) {
    char name[128], dn[512];
    if(!exs_xml_is(s, NS_AD, "Setting"))
      continue;
    exs_xml_text(s, name, sizeof(name));
    snprintf(dn, sizeof(dn),
             "/o=Emulated Organization/ou=Exchange Administrative Group "
             "(FYDIBOHF23SPDLT)/cn=Recipients/cn=%s",
             m->smtp);
    if(!strcmp(name, "UserDisplayName"))
      setting(out, name, m->display);
    else if(!strcmp(name, "UserDN"))
      setting(out, name, dn);
    else if(!strcmp(name, "UserDeploymentId"))
      setting(out, name, "50817eff-b925-4578-a0db-13bfc635e7a5");
    else if(!strcmp(name, "InternalEwsUrl") || !strcmp(name, "ExternalEwsUrl"))
      setting(out, name, url);
    else if(!strcmp(name, "CasVersion"))
      setting(out, name, "15.01.2507.006");
    else if(!strcmp(name, "EwsSupportedSchemas"))
      setting(out, name,
              "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, "
              "Exchange2010_SP2, Exchange2013, Exchange2013_SP1, Exchange2015, "
              "Exchange2016");
    else if(!strcmp(name, "InternalMailboxServer"))
      setting(out, name, "mbx01.exsync.invalid");
  }
}

/* One UserResponse's content: a redirect, InvalidUser, or the settings of
 * mailbox m. The first user's outcome becomes the journal's code. */
static void user_response(struct emu_host *host, const struct emu_mailbox *m, xmlNodePtr settings,
                          const char *url, struct exs_buf *out, char *code, size_t codelen)
{
  if(host->ad_action == EMU_AD_REDIRECT_ADDR || host->ad_action == EMU_AD_REDIRECT_URL) {
    bool is_addr = host->ad_action == EMU_AD_REDIRECT_ADDR;
    exs_buf_adds(out, is_addr ? "<ErrorCode>RedirectAddress</ErrorCode><ErrorMessage>"
                                "Redirection address.</ErrorMessage><RedirectTarget>"
                              : "<ErrorCode>RedirectUrl</ErrorCode><ErrorMessage>"
                                "Redirection URL.</ErrorMessage><RedirectTarget>");
    exs_buf_add_xml(out, host->ad_target ? host->ad_target : "");
    exs_buf_adds(out, "</RedirectTarget><UserSettingErrors /><UserSettings />");
    if(!code[0])
      snprintf(code, codelen, "%s", is_addr ? "RedirectAddress" : "RedirectUrl");
  }
  else if(host->ad_action == EMU_AD_ERROR || !m) {
    exs_buf_adds(out, "<ErrorCode>InvalidUser</ErrorCode><ErrorMessage>" NOT_FOUND
                      "</ErrorMessage><RedirectTarget i:nil=\"true\"/><UserSettingErrors />"
                      "<UserSettings />");
    if(!code[0])
      snprintf(code, codelen, "InvalidUser");
  }
  else {
    exs_buf_adds(out, "<ErrorCode>NoError</ErrorCode><ErrorMessage>No error.</ErrorMessage>"
                      "<RedirectTarget i:nil=\"true\"/><UserSettingErrors>");
    setting_errors(out, settings);
    exs_buf_adds(out, "</UserSettingErrors><UserSettings>");
    user_settings(out, settings, m, url);
    exs_buf_adds(out, "</UserSettings>");
    if(!code[0])
      snprintf(code, codelen, "NoError");
  }
}

static int soap(struct emu *emu, struct emu_host *host, bool tls, const char *hosthdr,
                xmlDocPtr doc, struct exs_buf *out, char *mailbox, size_t mblen, char *code,
                size_t codelen)
{
  xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
  xmlNodePtr body = root ? exs_xml_child(root, EMU_NS_SOAP, "Body") : NULL;
  xmlNodePtr req = body ? exs_xml_path(body, NS_AD, "GetUserSettingsRequestMessage/Request") : NULL;
  xmlNodePtr users = req ? exs_xml_child(req, NS_AD, "Users") : NULL;
  xmlNodePtr settings = req ? exs_xml_child(req, NS_AD, "RequestedSettings") : NULL;
  char url[512];

  soap_begin(out);
  if(!users) {
    exs_buf_adds(out, "<ErrorCode>InvalidRequest</ErrorCode><ErrorMessage>Invalid request."
                      "</ErrorMessage><UserResponses/></Response></GetUserSettingsResponseMessage>"
                      "</s:Body></s:Envelope>");
    snprintf(code, codelen, "InvalidRequest");
    return 200;
  }
  ews_url_for(host, tls, hosthdr, url, sizeof(url));
  exs_buf_adds(out, "<ErrorCode>NoError</ErrorCode><ErrorMessage/><UserResponses>");
  for(xmlNodePtr u = users->children; u; u = u->next) {
    char addr[256];
    struct emu_mailbox *m;
    if(!exs_xml_is(u, NS_AD, "User"))
      continue;
    exs_xml_text(exs_xml_child(u, NS_AD, "Mailbox"), addr, sizeof(addr));
    if(!mailbox[0])
      snprintf(mailbox, mblen, "%s", addr);
    m = emu_mailbox_find(emu, addr);
    exs_buf_adds(out, "<UserResponse>");
    user_response(host, m, settings, url, out, code, codelen);
    exs_buf_adds(out, "</UserResponse>");
  }
  exs_buf_adds(out, "</UserResponses></Response></GetUserSettingsResponseMessage></s:Body>"
                    "</s:Envelope>");
  return 200;
}

int emu_autodiscover_handle(struct emu *emu, struct emu_host *host, bool is_pox, bool tls,
                            const char *hosthdr, const char *body, size_t len, struct exs_buf *out,
                            char *mailbox, size_t mblen, char *code, size_t codelen)
{
  char err[256];
  xmlDocPtr doc = exs_xml_parse(body, len, "autodiscover request", err, sizeof(err));
  int status;

  mailbox[0] = '\0';
  code[0] = '\0';
  if(is_pox)
    status = pox(emu, host, tls, hosthdr, doc, out, mailbox, mblen, code, codelen);
  else
    status = soap(emu, host, tls, hosthdr, doc, out, mailbox, mblen, code, codelen);
  if(doc)
    xmlFreeDoc(doc);
  return status;
}

/* An EWS error code injected on Autodiscover, as the protocol says it: a
 * POX <Error> (500 for every server-side failure, as Exchange answers) or
 * the SOAP response's top-level ErrorCode. */
void emu_autodiscover_fault(bool is_pox, const char *ews_code, struct exs_buf *out, char *code,
                            size_t codelen)
{
  static const struct {
    const char *ews, *soap, *text;
  } map[] = {
      {"ErrorServerBusy", "ServerBusy", "The server is too busy to process the request."},
      {"ErrorNonExistentMailbox", "InvalidUser", NOT_FOUND},
      {"ErrorAccessDenied", "InvalidUser", "Access is denied."},
      {"ErrorInvalidRequest", "InvalidRequest", "Invalid request."},
  };
  const char *soap_code = "InternalServerError", *text = "An internal server error occurred.";

  for(size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if(strcmp(map[i].ews, ews_code) == 0) {
      soap_code = map[i].soap;
      text = map[i].text;
    }
  exs_buf_reset(out);
  if(is_pox) {
    pox_error(out, "500", text);
    snprintf(code, codelen, "500");
    return;
  }
  soap_begin(out);
  exs_buf_addf(out, "<ErrorCode>%s</ErrorCode><ErrorMessage>", soap_code);
  exs_buf_add_xml(out, text);
  exs_buf_adds(out, "</ErrorMessage><UserResponses/></Response></GetUserSettingsResponseMessage>"
                    "</s:Body></s:Envelope>");
  snprintf(code, codelen, "%s", soap_code);
}
