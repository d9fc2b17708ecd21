/* ews.c - SOAP envelope, generic call with throttling retries, answer and
 * fault parsing, GetFolder. Other operations live in ews_*.c beside it. */
#include "exsync/ews.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/tree.h>

#include "exsync/clock.h"
#include "exsync/faultpoint.h"
#include "exsync/xml.h"
#include "ews_internal.h"

struct exs_ews {
  struct exs_http *http;
  char *url;
  char *server_version;
  char *impersonate;
  char *anchor;
  bool mailbox_credentials;
  int max_retries;
  long max_wait_ms;
};

int exs_ews_envelope_begin(struct exs_buf *b, const struct exs_ews_context *ctx)
{
  int r = 0;

  r |= exs_buf_adds(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                       "<soap:Envelope xmlns:soap=\"" EXS_NS_SOAP "\" xmlns:m=\"" EXS_NS_MSG
                       "\" xmlns:t=\"" EXS_NS_TYPES "\"><soap:Header>");
  r |= exs_buf_adds(b, "<t:RequestServerVersion Version=\"");
  r |= exs_buf_add_xml(b,
                       ctx && ctx->server_version ? ctx->server_version : EXS_EWS_DEFAULT_VERSION);
  r |= exs_buf_adds(b, "\"/>");
  if(ctx && ctx->impersonate) {
    r |= exs_buf_adds(b, "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>");
    r |= exs_buf_add_xml(b, ctx->impersonate);
    r |= exs_buf_adds(b, "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>");
  }
  r |= exs_buf_adds(b, "</soap:Header><soap:Body>");
  return r ? -1 : 0;
}

int exs_ews_envelope_end(struct exs_buf *b)
{
  return exs_buf_adds(b, "</soap:Body></soap:Envelope>\n");
}

int exs_ews_write_folder_ref(struct exs_buf *b, const struct exs_ews_folder_ref *ref)
{
  int r = 0;

  if(ref->id) {
    r |= exs_buf_adds(b, "<t:FolderId Id=\"");
    r |= exs_buf_add_xml(b, ref->id);
    return (r | exs_buf_adds(b, "\"/>")) ? -1 : 0;
  }
  r |= exs_buf_adds(b, "<t:DistinguishedFolderId Id=\"");
  r |= exs_buf_add_xml(b, ref->distinguished ? ref->distinguished : "inbox");
  if(ref->mailbox) {
    r |= exs_buf_adds(b, "\"><t:Mailbox><t:EmailAddress>");
    r |= exs_buf_add_xml(b, ref->mailbox);
    r |= exs_buf_adds(b, "</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>");
  }
  else {
    r |= exs_buf_adds(b, "\"/>");
  }
  return r ? -1 : 0;
}

int exs_ews_build_get_folder(struct exs_buf *b, const struct exs_ews_context *ctx,
                             const struct exs_ews_folder_ref *refs, size_t n)
{
  size_t i;
  int r = 0;

  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"
                       "<t:AdditionalProperties>"
                       "<t:FieldURI FieldURI=\"folder:DisplayName\"/>"
                       "<t:FieldURI FieldURI=\"folder:FolderClass\"/>"
                       "<t:FieldURI FieldURI=\"folder:TotalCount\"/>"
                       "<t:FieldURI FieldURI=\"folder:UnreadCount\"/>"
                       "</t:AdditionalProperties></m:FolderShape><m:FolderIds>");
  for(i = 0; i < n; i++)
    r |= exs_ews_write_folder_ref(b, &refs[i]);
  r |= exs_buf_adds(b, "</m:FolderIds></m:GetFolder>");
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

/* BackOffMilliseconds inside a MessageXml element, 0 if none. */
static long backoff_of(xmlNodePtr message_xml)
{
  xmlNodePtr v;
  char name[64];
  char text[32];

  for(v = exs_xml_child(message_xml, EXS_NS_TYPES, "Value"); v;
      v = exs_xml_next(v, EXS_NS_TYPES, "Value")) {
    if(exs_xml_attr(v, "Name", name, sizeof(name)) && !strcmp(name, "BackOffMilliseconds"))
      return strtol(exs_xml_text(v, text, sizeof(text)), NULL, 10);
  }
  return 0;
}

static void set_code_error(struct exs_error *err, const char *code, const char *text)
{
  enum exs_category cat = exs_category_from_ews_code(code);

  snprintf(err->ews_code, sizeof(err->ews_code), "%s", code);
  exs_error_set(err, cat, "Exchange answered %s: %s", code, text && *text ? text : "(no text)");
}

static int parse_fault(xmlNodePtr fault, struct exs_error *err)
{
  char code[128];
  char text[400];
  xmlNodePtr detail;
  xmlNodePtr rc;
  char *p;

  exs_xml_text(exs_xml_child(fault, NULL, "faultcode"), code, sizeof(code));
  exs_xml_text(exs_xml_child(fault, NULL, "faultstring"), text, sizeof(text));
  detail = exs_xml_child(fault, NULL, "detail");
  rc = exs_xml_child(detail, EXS_NS_ERRORS, "ResponseCode");
  if(rc) {
    exs_xml_text(rc, code, sizeof(code));
  }
  else if((p = strchr(code, ':')) != NULL) {
    memmove(code, p + 1, strlen(p));
  }
  set_code_error(err, code[0] ? code : "SoapFault", text);
  err->backoff_ms = backoff_of(exs_xml_child(detail, EXS_NS_TYPES, "MessageXml"));
  return -1;
}

int exs_ews_parse_envelope(const char *body, size_t len, long http_status, const char *op,
                           struct _xmlDoc **docp, struct _xmlNode **messages, struct exs_error *err)
{
  char errbuf[256];
  char name[96];
  xmlDocPtr doc;
  xmlNodePtr root, soap_body, resp;

  *docp = NULL;
  *messages = NULL;
  err->http_status = http_status;
  doc = exs_xml_parse(body, len, "EWS answer", errbuf, sizeof(errbuf));
  if(!doc) {
    if(http_status >= 500)
      exs_error_set(err, EXS_CAT_SERVER, "Exchange answered HTTP %ld without a SOAP body",
                    http_status);
    else
      exs_error_set(err, EXS_CAT_PROTOCOL, "%s answer is not XML (HTTP %ld): %s", op, http_status,
                    errbuf);
    return -1;
  }
  *docp = doc;
  root = xmlDocGetRootElement(doc);
  soap_body =
      exs_xml_is(root, EXS_NS_SOAP, "Envelope") ? exs_xml_child(root, EXS_NS_SOAP, "Body") : NULL;
  if(!soap_body) {
    if(http_status >= 500)
      exs_error_set(err, EXS_CAT_SERVER, "Exchange answered HTTP %ld without a SOAP body",
                    http_status);
    else
      exs_error_set(err, EXS_CAT_PROTOCOL, "%s answer is not a SOAP envelope (HTTP %ld)", op,
                    http_status);
    return -1;
  }
  if(exs_xml_child(soap_body, EXS_NS_SOAP, "Fault"))
    return parse_fault(exs_xml_child(soap_body, EXS_NS_SOAP, "Fault"), err);
  if(http_status != 200) {
    /* a SOAP body without a fault on an HTTP error: the status decides */
    exs_error_set(err, http_status >= 500 ? EXS_CAT_SERVER : EXS_CAT_PROTOCOL,
                  "%s answered HTTP %ld", op, http_status);
    return -1;
  }
  snprintf(name, sizeof(name), "%sResponse", op);
  resp = exs_xml_child(soap_body, EXS_NS_MSG, name);
  *messages = exs_xml_child(resp, EXS_NS_MSG, "ResponseMessages");
  if(!*messages) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "%s answer has no %s/ResponseMessages (HTTP %ld)", op,
                  name, http_status);
    return -1;
  }
  return 0;
}

int exs_ews_message_status(struct _xmlNode *msg, struct exs_error *err)
{
  char cls[32];
  char code[96];
  char text[400];

  exs_xml_attr(msg, "ResponseClass", cls, sizeof(cls));
  if(strcmp(cls, "Error"))
    return 0;
  exs_xml_text(exs_xml_child(msg, EXS_NS_MSG, "ResponseCode"), code, sizeof(code));
  exs_xml_text(exs_xml_child(msg, EXS_NS_MSG, "MessageText"), text, sizeof(text));
  set_code_error(err, code[0] ? code : "ErrorUnknown", text);
  err->backoff_ms = backoff_of(exs_xml_child(msg, EXS_NS_MSG, "MessageXml"));
  return -1;
}

long exs_ews__long_child(xmlNodePtr node, const char *name)
{
  char text[32];
  xmlNodePtr c = exs_xml_child(node, EXS_NS_TYPES, name);

  if(!c)
    return -1;
  return strtol(exs_xml_text(c, text, sizeof(text)), NULL, 10);
}

long exs_ews__long_attr(xmlNodePtr node, const char *name)
{
  char text[32];

  if(!exs_xml_attr(node, name, text, sizeof(text)))
    return -1;
  return strtol(text, NULL, 10);
}

bool exs_ews__bool_text(xmlNodePtr node)
{
  char text[16];

  exs_xml_text(node, text, sizeof(text));
  return !strcmp(text, "true") || !strcmp(text, "1");
}

char *exs_ews__text(xmlNodePtr node, const char *name, char *buf, size_t len)
{
  return exs_xml_text(exs_xml_child(node, EXS_NS_TYPES, name), buf, len);
}

void exs_ews__parse_extvalue(xmlNodePtr ext, struct exs_ews_extvalue *v)
{
  xmlNodePtr uri = exs_xml_child(ext, EXS_NS_TYPES, "ExtendedFieldURI");
  xmlNodePtr values;

  memset(v, 0, sizeof(*v));
  exs_xml_attr(uri, "DistinguishedPropertySetId", v->set_id, sizeof(v->set_id));
  if(!v->set_id[0])
    exs_xml_attr(uri, "PropertySetId", v->set_id, sizeof(v->set_id));
  exs_xml_attr(uri, "PropertyName", v->name, sizeof(v->name));
  if(!v->name[0])
    exs_xml_attr(uri, "PropertyId", v->name, sizeof(v->name));
  exs_xml_attr(uri, "PropertyTag", v->tag, sizeof(v->tag));
  exs_xml_attr(uri, "PropertyType", v->type, sizeof(v->type));
  if((values = exs_xml_child(ext, EXS_NS_TYPES, "Values")) != NULL) {
    /* multi-valued: keep the first value */
    exs_xml_text(exs_xml_child(values, EXS_NS_TYPES, "Value"), v->value, sizeof(v->value));
  }
  else {
    exs_xml_text(exs_xml_child(ext, EXS_NS_TYPES, "Value"), v->value, sizeof(v->value));
  }
}

const struct exs_ews_extvalue *exs_ews_extvalue_find(const struct exs_ews_extvalue *v, size_t n,
                                                     const struct exs_ews_extprop *p)
{
  size_t i;

  for(i = 0; i < n; i++) {
    if(p->tag) {
      if(!strcasecmp(v[i].tag, p->tag))
        return &v[i];
    }
    else if(p->name && !strcmp(v[i].name, p->name) &&
            (!p->set_id || !strcmp(v[i].set_id, p->set_id))) {
      return &v[i];
    }
  }
  return NULL;
}

void exs_ews__parse_folder_node(xmlNodePtr node, struct exs_ews_folder *f)
{
  xmlNodePtr id, c;

  f->total_count = f->unread_count = f->child_folder_count = -1;
  if(!node)
    return;
  snprintf(f->kind, sizeof(f->kind), "%s", (const char *)node->name);
  id = exs_xml_child(node, EXS_NS_TYPES, "FolderId");
  exs_xml_attr(id, "Id", f->id, sizeof(f->id));
  exs_xml_attr(id, "ChangeKey", f->change_key, sizeof(f->change_key));
  exs_xml_attr(exs_xml_child(node, EXS_NS_TYPES, "ParentFolderId"), "Id", f->parent_id,
               sizeof(f->parent_id));
  exs_ews__text(node, "DisplayName", f->display_name, sizeof(f->display_name));
  exs_ews__text(node, "FolderClass", f->folder_class, sizeof(f->folder_class));
  f->total_count = exs_ews__long_child(node, "TotalCount");
  f->unread_count = exs_ews__long_child(node, "UnreadCount");
  f->child_folder_count = exs_ews__long_child(node, "ChildFolderCount");
  for(c = exs_xml_child(node, EXS_NS_TYPES, "ExtendedProperty"); c && f->n_ext < EXS_EWS_MAX_EXT;
      c = exs_xml_next(c, EXS_NS_TYPES, "ExtendedProperty"))
    exs_ews__parse_extvalue(c, &f->ext[f->n_ext++]);
}

static void parse_folder(xmlNodePtr folders, struct exs_ews_folder *f)
{
  exs_ews__parse_folder_node(exs_xml_first_element(folders), f);
}

int exs_ews_parse_get_folder(const char *body, size_t len, long http_status,
                             struct exs_ews_folder *out, size_t n, struct exs_error *err)
{
  xmlDocPtr doc = NULL;
  xmlNodePtr messages, msg;
  size_t i = 0;
  int result = -1;

  memset(out, 0, n * sizeof(*out));
  if(exs_ews_parse_envelope(body, len, http_status, "GetFolder", &doc, &messages, err))
    goto out;
  for(msg = exs_xml_child(messages, EXS_NS_MSG, "GetFolderResponseMessage"); msg && i < n;
      msg = exs_xml_next(msg, EXS_NS_MSG, "GetFolderResponseMessage"), i++) {
    struct exs_error merr;
    exs_error_clear(&merr);
    out[i].total_count = out[i].unread_count = out[i].child_folder_count = -1;
    exs_xml_text(exs_xml_child(msg, EXS_NS_MSG, "ResponseCode"), out[i].response_code,
                 sizeof(out[i].response_code));
    if(exs_ews_message_status(msg, &merr)) {
      snprintf(out[i].message, sizeof(out[i].message), "%s", merr.message);
      continue;
    }
    out[i].ok = true;
    parse_folder(exs_xml_child(msg, EXS_NS_MSG, "Folders"), &out[i]);
  }
  if(i < n) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "GetFolder answered %zu folders for %zu requested", i, n);
    goto out;
  }
  result = 0;
out:
  xmlFreeDoc(doc);
  return result;
}

static char *dup_or_null(const char *s)
{
  return s ? strdup(s) : NULL;
}

struct exs_ews *exs_ews_new(struct exs_http *http, const struct exs_ews_options *opt)
{
  struct exs_ews *ews = calloc(1, sizeof(*ews));

  if(!ews)
    return NULL;
  ews->http = http;
  ews->url = dup_or_null(opt->url);
  ews->server_version =
      dup_or_null(opt->ctx.server_version ? opt->ctx.server_version : EXS_EWS_DEFAULT_VERSION);
  ews->impersonate = dup_or_null(opt->ctx.impersonate);
  ews->anchor = dup_or_null(opt->anchor_mailbox ? opt->anchor_mailbox : opt->ctx.impersonate);
  ews->mailbox_credentials = opt->mailbox_credentials;
  ews->max_retries = opt->max_throttle_retries > 0 ? opt->max_throttle_retries : 3;
  ews->max_wait_ms = opt->max_throttle_wait_ms > 0 ? opt->max_throttle_wait_ms : 30000;
  if(!ews->url || !ews->server_version) {
    exs_ews_free(ews);
    return NULL;
  }
  return ews;
}

void exs_ews_free(struct exs_ews *ews)
{
  if(!ews)
    return;
  free(ews->url);
  free(ews->server_version);
  free(ews->impersonate);
  free(ews->anchor);
  free(ews);
}

/* The context a request of this client is built with. */
static struct exs_ews_context client_ctx(const struct exs_ews *ews)
{
  struct exs_ews_context ctx = {ews->server_version, ews->impersonate};
  return ctx;
}

struct exs_ews_context exs_ews__ctx(const struct exs_ews *ews)
{
  return client_ctx(ews);
}

const char *exs_ews_url(const struct exs_ews *ews)
{
  return ews ? ews->url : NULL;
}

/* True when a 200 answer's every ResponseMessage is an ErrorServerBusy
 * error: the server processed none of it, so the request may be repeated
 * (real servers also throttle this way). Fills err and
 * *wait_ms (the largest BackOffMilliseconds, 0 if none). */
static bool all_messages_busy(const char *op, struct exs_http_response *resp, long *wait_ms,
                              struct exs_error *err)
{
  xmlDocPtr doc = NULL;
  xmlNodePtr messages, msg;
  struct exs_error merr, first;
  size_t n = 0;
  bool busy = true;

  if(!resp->body.data || !strstr(resp->body.data, "ErrorServerBusy"))
    return false;
  exs_error_clear(&merr);
  exs_error_clear(&first);
  if(exs_ews_parse_envelope(resp->body.data, resp->body.len, resp->status, op, &doc, &messages,
                            &merr)) {
    xmlFreeDoc(doc);
    return false;
  }
  *wait_ms = 0;
  for(msg = exs_xml_first_element(messages); msg && busy; msg = msg->next) {
    if(msg->type != XML_ELEMENT_NODE)
      continue;
    exs_error_clear(&merr);
    busy = exs_ews_message_status(msg, &merr) != 0 && !strcmp(merr.ews_code, "ErrorServerBusy");
    if(busy && !n++)
      first = merr;
    if(busy && merr.backoff_ms > *wait_ms)
      *wait_ms = merr.backoff_ms;
  }
  xmlFreeDoc(doc);
  if(!busy || !n)
    return false;
  first.http_status = resp->status;
  snprintf(first.url, sizeof(first.url), "%s", err->url);
  first.backoff_ms = *wait_ms;
  *err = first;
  return true;
}

/* Classify an HTTP-level answer. Returns 1 when the caller should retry
 * after *wait_ms, 0 when the answer is for the parser, -1 on failure. */
static int classify(struct exs_ews *ews, const char *op, struct exs_http_response *resp,
                    long *wait_ms, struct exs_error *err)
{
  err->http_status = resp->status;
  snprintf(err->url, sizeof(err->url), "%s", ews->url);
  if(resp->status == 200)
    return all_messages_busy(op, resp, wait_ms, err) ? 1 : 0;
  if(resp->status == 401) {
    exs_error_set(err, ews->mailbox_credentials ? EXS_CAT_MBX_CREDENTIALS : EXS_CAT_CREDENTIALS,
                  "Exchange refused the %s credentials (HTTP 401, offered: %s)",
                  ews->mailbox_credentials ? "mailbox's" : "profile's",
                  resp->www_authenticate[0] ? resp->www_authenticate : "no scheme");
    return -1;
  }
  if(resp->status == 403) {
    exs_error_set(err, EXS_CAT_ACCESS_DENIED, "Exchange forbade %s (HTTP 403)", op);
    return -1;
  }
  if(resp->status == 503) {
    exs_error_set(err, EXS_CAT_THROTTLED, "Exchange is busy (HTTP 503) for %s", op);
    *wait_ms = 0;
    return 1;
  }
  if(resp->status == 500) {
    xmlDocPtr doc = NULL;
    xmlNodePtr messages;
    struct exs_error ferr;
    exs_error_clear(&ferr);
    /* a SOAP fault: throttling is retried here, the rest is the parser's */
    if(exs_ews_parse_envelope(resp->body.data, resp->body.len, resp->status, op, &doc, &messages,
                              &ferr) &&
       ferr.category == EXS_CAT_THROTTLED) {
      xmlFreeDoc(doc);
      *err = ferr;
      snprintf(err->url, sizeof(err->url), "%s", ews->url);
      *wait_ms = ferr.backoff_ms;
      return 1;
    }
    xmlFreeDoc(doc);
    return 0;
  }
  if(resp->status >= 300 && resp->status < 400) {
    exs_error_set(err, EXS_CAT_PROTOCOL,
                  "Exchange redirected the EWS request (HTTP %ld to %s): a proxy or login "
                  "page is in the way",
                  resp->status, resp->location[0] ? resp->location : "nowhere");
    return -1;
  }
  if(resp->status == 404) {
    exs_error_set(err, EXS_CAT_CONFIG, "no EWS endpoint at %s (HTTP 404)", ews->url);
    return -1;
  }
  if(resp->status >= 500) {
    exs_error_set(err, EXS_CAT_SERVER, "Exchange answered HTTP %ld to %s", resp->status, op);
    return -1;
  }
  exs_error_set(err, EXS_CAT_PROTOCOL, "unexpected HTTP %ld to %s", resp->status, op);
  return -1;
}

/* Operations whose repetition would change Exchange twice (a second send,
 * a second item): never let the transport repeat them behind our back. */
static bool changes_state(const char *op)
{
  static const char *const ops[] = {"CreateItem", "SendItem", "UpdateItem", "DeleteItem",
                                    "MoveItem", "CopyItem", "CreateFolder", "UpdateFolder",
                                    "DeleteFolder", "MoveFolder"};
  size_t i;

  for(i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
    if(!strcmp(op, ops[i]))
      return true;
  return false;
}

int exs_ews_call(struct exs_ews *ews, const char *op, const struct exs_buf *request,
                 struct exs_http_response *resp, struct exs_error *err)
{
  char soapaction[160];
  char anchor[300];
  const char *headers[2];
  size_t nh = 0;
  struct exs_http_request req = {0};
  long waited = 0;
  long next_wait = 1000;
  int attempt;

  snprintf(soapaction, sizeof(soapaction), "SOAPAction: \"%s/%s\"", EXS_NS_MSG, op);
  headers[nh++] = soapaction;
  if(ews->anchor) {
    snprintf(anchor, sizeof(anchor), "X-AnchorMailbox: %s", ews->anchor);
    headers[nh++] = anchor;
  }
  req.method = "POST";
  req.url = ews->url;
  req.content_type = "text/xml; charset=utf-8";
  req.body = request->data;
  req.body_len = request->len;
  req.headers = headers;
  req.n_headers = nh;
  req.fresh_connection = changes_state(op);

  for(attempt = 0;; attempt++) {
    long wait_ms = 0;
    int c;
    EXS_FAULT_POINT("ews.request"); /* before it leaves */
    if(exs_http_perform(ews->http, &req, resp, err))
      return -1;
    EXS_FAULT_POINT("ews.response"); /* answered, not yet read */
    c = classify(ews, op, resp, &wait_ms, err);
    if(c <= 0)
      return c;
    /* throttled: the server did not process it, so repeating is safe */
    if(wait_ms <= 0) {
      wait_ms = next_wait;
      next_wait *= 2;
    }
    if(attempt >= ews->max_retries || waited + wait_ms > ews->max_wait_ms) {
      err->backoff_ms = wait_ms;
      return -1;
    }
    exs_sleep_ms(wait_ms);
    waited += wait_ms;
  }
}

int exs_ews_get_folder(struct exs_ews *ews, const struct exs_ews_folder_ref *refs, size_t n,
                       struct exs_ews_folder *out, struct exs_error *err)
{
  struct exs_ews_context ctx = client_ctx(ews);
  struct exs_buf req;
  struct exs_http_response resp;
  int result = -1;

  exs_buf_init(&req, 1024 * 1024);
  exs_http_response_init(&resp);
  if(exs_ews_build_get_folder(&req, &ctx, refs, n)) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "GetFolder request too large");
    goto out;
  }
  if(exs_ews_call(ews, "GetFolder", &req, &resp, err))
    goto out;
  result = exs_ews_parse_get_folder(resp.body.data, resp.body.len, resp.status, out, n, err);
  if(result)
    snprintf(err->url, sizeof(err->url), "%s", ews->url);
out:
  exs_buf_free(&req);
  exs_http_response_free(&resp);
  return result;
}

int exs_ews__send(struct exs_ews *ews, const char *op, int build_rc, const struct exs_buf *req,
                  struct exs_http_response *resp, struct exs_error *err)
{
  if(build_rc) {
    snprintf(err->url, sizeof(err->url), "%s", ews->url);
    exs_error_set(err, EXS_CAT_PROTOCOL, "%s request too large", op);
    return -1;
  }
  return exs_ews_call(ews, op, req, resp, err);
}

int exs_ews__first_message(const char *body, size_t len, long http_status, const char *op,
                           bool single, xmlDocPtr *doc, xmlNodePtr *msg, struct exs_error *err)
{
  xmlNodePtr messages;
  char name[96];

  *msg = NULL;
  if(exs_ews_parse_envelope(body, len, http_status, op, doc, &messages, err))
    return -1;
  snprintf(name, sizeof(name), "%sResponseMessage", op);
  *msg = exs_xml_child(messages, EXS_NS_MSG, name);
  if(!*msg) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "%s answer has no %s", op, name);
    return -1;
  }
  if(single && exs_ews_message_status(*msg, err))
    return -1;
  return 0;
}
