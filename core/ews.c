/* ews.c - the SOAP envelope and folder references every request uses, the
 * answer and fault parsing every parser uses, and GetFolder's parser. No
 * I/O: the client (ews_client.c) sends what the builders of ews*.c write
 * and hands the answers to their parsers. */
#include "exsync/ews.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/tree.h>

#include "exsync/xml.h"
#include "ews_internal.h"

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

size_t exs_ews__count_elements(xmlNodePtr parent)
{
  size_t n = 0;
  xmlNodePtr c;

  for(c = parent ? parent->children : NULL; c; c = c->next)
    if(c->type == XML_ELEMENT_NODE)
      n++;
  return n;
}

int exs_ews__parse_page(const char *body, size_t len, long http_status, const char *op,
                        const char *list_name, size_t size, void (*parse)(xmlNodePtr, void *),
                        struct exs_ews__page *page, void **entries, size_t *n,
                        struct exs_error *err)
{
  xmlDocPtr doc = NULL;
  xmlNodePtr msg, root, list, c;
  size_t count;
  char t[8];
  int result = -1;

  page->next_offset = page->total = -1;
  page->includes_last = false;
  *entries = NULL;
  *n = 0;
  if(exs_ews__first_message(body, len, http_status, op, true, &doc, &msg, err))
    goto out;
  root = exs_xml_child(msg, EXS_NS_MSG, "RootFolder");
  if(!root) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "%s answer has no RootFolder", op);
    goto out;
  }
  page->next_offset = exs_ews__long_attr(root, "IndexedPagingOffset");
  page->total = exs_ews__long_attr(root, "TotalItemsInView");
  exs_xml_attr(root, "IncludesLastItemInRange", t, sizeof(t));
  page->includes_last = !strcmp(t, "true") || !strcmp(t, "1");
  list = exs_xml_child(root, EXS_NS_TYPES, list_name);
  count = exs_ews__count_elements(list);
  if(count && !(*entries = calloc(count, size))) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
    goto out;
  }
  for(c = list ? list->children : NULL; c; c = c->next)
    if(c->type == XML_ELEMENT_NODE)
      parse(c, (char *)*entries + size * (*n)++);
  result = 0;
out:
  xmlFreeDoc(doc);
  return result;
}
