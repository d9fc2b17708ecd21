/* emu_client.h - test-side helpers for the emulator suites (test_emu_*.c):
 * a raw libcurl client (deliberately not core's ews/http modules: the
 * emulator is checked independently of the client), SOAP request building,
 * and validation of every answer against fixtures/schema/ews.
 *
 * Header-only (static functions) so each suite stays one file; include it
 * once per suite. Answers are owned by struct ec_resp; free with ec_free.
 */
#ifndef EMU_CLIENT_H
#define EMU_CLIENT_H

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exsync-emulator/emulator.h"
#include "exsync/buf.h"
#include "exsync/xml.h"
#include "testutil.h"

#define EC_NS_SOAP "http://schemas.xmlsoap.org/soap/envelope/"
#define EC_NS_M "http://schemas.microsoft.com/exchange/services/2006/messages"
#define EC_NS_T "http://schemas.microsoft.com/exchange/services/2006/types"

struct ec_resp {
  long status;
  struct exs_buf body;
  struct exs_buf headers;
  xmlDocPtr doc; /* parsed body when it is XML, else NULL */
  int validated; /* number of elements validated against the EWS schema */
};

static struct exs_schema *ec_ews_schema;

static inline void ec_load_schema(void)
{
  char err[512];

  if(ec_ews_schema)
    return;
  ec_ews_schema =
      exs_schema_load(tu_path("fixtures/schema/ews/ews-validate.xsd"), err, sizeof(err));
  if(!ec_ews_schema) {
    fprintf(stderr, "cannot load EWS schema: %s\n", err);
    exit(1);
  }
  {
    /* compile the emulator's request schema once, before the suites fork */
    struct emu *e = emu_new();
    if(!e || emu_set_ews_schema(e, tu_path("fixtures/schema/ews/ews-validate.xsd"), err,
                                sizeof(err)) != 0) {
      fprintf(stderr, "cannot load the emulator's EWS schema: %s\n", err);
      exit(1);
    }
    emu_free(e);
  }
}

/* Make emulator e validate every request against the EWS schema. */
static inline void ec_strict(struct emu *e)
{
  char err[512];

  ck_assert_msg(
      emu_set_ews_schema(e, tu_path("fixtures/schema/ews/ews-validate.xsd"), err, sizeof(err)) == 0,
      "%s", err);
}

static inline size_t ec_write(char *p, size_t size, size_t n, void *arg)
{
  return exs_buf_add(arg, p, size * n) == 0 ? size * n : 0;
}

static inline void ec_free(struct ec_resp *r)
{
  exs_buf_free(&r->body);
  exs_buf_free(&r->headers);
  if(r->doc)
    xmlFreeDoc(r->doc);
  memset(r, 0, sizeof(*r));
}

/* Validate the ServerVersionInfo header element and the element inside
 * soap:Body (unless it is a soap:Fault, which is not in the EWS schema). */
static inline void ec_validate(struct ec_resp *r)
{
  char err[1024];
  xmlNodePtr env, hdr, svi, body, op;

  ck_assert_msg(r->doc != NULL, "answer is not XML: %.300s", r->body.data ? r->body.data : "");
  env = xmlDocGetRootElement(r->doc);
  ck_assert(exs_xml_is(env, EC_NS_SOAP, "Envelope"));
  hdr = exs_xml_child(env, EC_NS_SOAP, "Header");
  svi = hdr ? exs_xml_child(hdr, EC_NS_T, "ServerVersionInfo") : NULL;
  ck_assert_msg(svi != NULL, "no ServerVersionInfo header");
  ck_assert_msg(
      exs_schema_validate(ec_ews_schema, r->doc, svi, "ServerVersionInfo", err, sizeof(err)) == 0,
      "%s", err);
  r->validated++;
  body = exs_xml_child(env, EC_NS_SOAP, "Body");
  op = body ? exs_xml_first_element(body) : NULL;
  ck_assert(op != NULL);
  if(exs_xml_is(op, EC_NS_SOAP, "Fault"))
    return;
  ck_assert_msg(exs_schema_validate(ec_ews_schema, r->doc, op, "answer", err, sizeof(err)) == 0,
                "%s\n%.4000s", err, r->body.data);
  r->validated++;
}

/* One request: method "GET"/"POST"/..., Basic credentials (userpwd NULL:
 * none), a Host header override (host NULL: from the URL), a body (NULL:
 * none). Returns the curl result; r is filled as far as it got. */
static inline CURLcode ec_request(const char *method, const char *url, const char *userpwd,
                                  const char *host, const char *body, struct ec_resp *r)
{
  CURL *c = curl_easy_init();
  struct curl_slist *h = NULL;
  char err[256], hh[300];
  CURLcode rc;

  memset(r, 0, sizeof(*r));
  exs_buf_init(&r->body, 64u << 20);
  exs_buf_init(&r->headers, 1u << 20);
  ck_assert_ptr_nonnull(c);
  h = curl_slist_append(h, "Content-Type: text/xml; charset=utf-8");
  if(host) {
    snprintf(hh, sizeof(hh), "Host: %s", host);
    h = curl_slist_append(h, hh);
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if(body)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  if(userpwd) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ec_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ec_write);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if(rc == CURLE_OK && r->body.len && r->body.data[0] == '<')
    r->doc = exs_xml_parse(r->body.data, r->body.len, "answer", err, sizeof(err));
  return rc;
}

/* POST body to url with Basic credentials (userpwd NULL: none). */
static inline void ec_post(const char *url, const char *userpwd, const char *body,
                           struct ec_resp *r)
{
  CURLcode rc = ec_request("POST", url, userpwd, NULL, body, r);

  ck_assert_msg(rc == CURLE_OK, "curl: %s", curl_easy_strerror(rc));
}

/* A SOAP request around op (the m: operation element text), with optional
 * impersonation. The result is static: use it before the next call. */
static inline const char *ec_soap(const char *version, const char *impersonate, const char *op)
{
  static struct exs_buf b;

  exs_buf_free(&b);
  exs_buf_init(&b, 1u << 20);
  exs_buf_addf(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                   "<soap:Envelope xmlns:soap=\"" EC_NS_SOAP "\" xmlns:m=\"" EC_NS_M
                   "\" xmlns:t=\"" EC_NS_T "\"><soap:Header>");
  if(version)
    exs_buf_addf(&b, "<t:RequestServerVersion Version=\"%s\"/>", version);
  if(impersonate)
    exs_buf_addf(&b,
                 "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>%s"
                 "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>",
                 impersonate);
  exs_buf_addf(&b, "</soap:Header><soap:Body>%s</soap:Body></soap:Envelope>", op);
  return b.data;
}

/* The ResponseMessage elements of the answer, in order. */
static inline size_t ec_messages(struct ec_resp *r, xmlNodePtr *out, size_t max)
{
  xmlNodePtr env = xmlDocGetRootElement(r->doc);
  xmlNodePtr op = exs_xml_first_element(exs_xml_child(env, EC_NS_SOAP, "Body"));
  xmlNodePtr msgs = exs_xml_child(op, EC_NS_M, "ResponseMessages");
  size_t n = 0;

  for(xmlNodePtr c = msgs ? msgs->children : NULL; c && n < max; c = c->next)
    if(c->type == XML_ELEMENT_NODE)
      out[n++] = c;
  return n;
}

static inline const char *ec_code(xmlNodePtr msg, char *buf, size_t len)
{
  return exs_xml_text(exs_xml_child(msg, EC_NS_M, "ResponseCode"), buf, len);
}

/* faultcode text of a SOAP fault answer ("" when not a fault) */
static inline const char *ec_fault(struct ec_resp *r, char *buf, size_t len)
{
  xmlNodePtr env = r->doc ? xmlDocGetRootElement(r->doc) : NULL;
  xmlNodePtr f = env ? exs_xml_path(env, EC_NS_SOAP, "Body/Fault") : NULL;
  xmlNodePtr d = f ? exs_xml_child(f, NULL, "detail") : NULL;

  buf[0] = '\0';
  if(d)
    exs_xml_text(exs_xml_child(d, "http://schemas.microsoft.com/exchange/services/2006/errors",
                               "ResponseCode"),
                 buf, len);
  return buf;
}

#endif
